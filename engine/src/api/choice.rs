//! Settings with a fixed set of values are enums, declared with [`choice_enum!`]: the
//! names users write in project files, the list an editor offers, `Display` and
//! `FromStr`, from one declaration.

/// A setting's value from a fixed list. Implemented by [`choice_enum!`].
pub trait Choice: Sized + Copy + 'static {
    /// Every value's name, in the order an editor offers them.
    const NAMES: &'static [&'static str];
    /// This value's name.
    fn name(self) -> &'static str;
}

/// Declares a settings enum: `choice_enum! { /// doc  pub enum X { /// doc  A = "a", … } }`.
/// The first variant is the default. Names are what project files hold.
#[macro_export]
macro_rules! choice_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
                 serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $crate::api::choice::Choice for $name {
            const NAMES: &'static [&'static str] = &[$($text),+];
            fn name(self) -> &'static str {
                match self { $(Self::$variant => $text,)+ }
            }
        }

        impl $name {
            /// Every value's name, in the order an editor offers them.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// This value's name, as project files hold it.
            pub fn as_str(self) -> &'static str {
                $crate::api::choice::Choice::name(self)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $crate::choice_enum!(@first $($variant),+)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> std::result::Result<Self, String> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!(
                        "'{other}' is not one of {}",
                        Self::NAMES.join(", ")
                    )),
                }
            }
        }
    };
    (@first $first:ident $(, $rest:ident)*) => { Self::$first };
}
