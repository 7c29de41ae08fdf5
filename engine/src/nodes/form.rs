//! The settings form a node kind declares: one [`Field`] per setting, with its label,
//! help, the kind of editor, and when it applies. The app's inspector draws the form
//! from it, `tributary kinds` prints it, and a test checks it against each config type,
//! so a form and its config cannot drift apart. Validation reports a [`FieldProblem`]
//! at the path of the setting it is about, so the editor shows it under that setting.

use serde_json::{Map, Value};

/// How a setting is edited.
#[derive(Clone, Copy, Debug)]
pub enum Editor {
    /// One line of text.
    Text,
    /// A SQL statement, in a code editor.
    Sql,
    /// A Rhai script, in a code editor.
    Script,
    /// A handler's source file (Python or JavaScript), in a code editor.
    Code,
    /// The name of one column of the node's input (offered from the last run's columns).
    Column,
    /// One value of a fixed list (the names of a settings enum).
    Choice(&'static [&'static str]),
    /// A number.
    Number,
    /// On or off.
    Toggle,
    /// A list of text values, one per line.
    Lines,
    /// Names and text values (environment variables), one `NAME=value` per line.
    Map,
    /// A group of settings that may be absent (`null`): a checkbox turns it on, starting
    /// from `template`.
    Optional {
        /// The checkbox's text.
        toggle: &'static str,
        /// The group's settings.
        fields: &'static [Field],
        /// The group's value when turned on.
        template: fn() -> Value,
    },
    /// A list of groups of settings (an EMR job's steps), added from templates, moved and
    /// removed.
    Records {
        /// Each item's settings.
        fields: &'static [Field],
        /// The setting whose value titles an item.
        title: &'static str,
        /// What "+ …" buttons add.
        templates: &'static [Template],
    },
}

/// A new item of a [`Editor::Records`] list.
#[derive(Clone, Copy, Debug)]
pub struct Template {
    /// The button's text (after "+ ").
    pub label: &'static str,
    /// The new item.
    pub value: fn() -> Value,
}

/// When a setting matters, given the others (the script of a Lambda only for the script
/// runtime, the gap of a window only for session windows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Always.
    Always,
    /// When the setting `.0` has one of the values `.1`.
    Is(&'static str, &'static [&'static str]),
    /// When the setting `.0` has none of the values `.1`.
    IsNot(&'static str, &'static [&'static str]),
}

impl When {
    /// Whether a setting with this rule applies to the settings `config`.
    pub fn holds(&self, config: &Map<String, Value>) -> bool {
        let value = |key: &str| config.get(key).and_then(Value::as_str).unwrap_or("");
        match self {
            Self::Always => true,
            Self::Is(key, values) => values.contains(&value(key)),
            Self::IsNot(key, values) => !values.contains(&value(key)),
        }
    }
}

/// One setting of a node kind.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// The key in the node's `config` (CloudFormation property names in snake_case where
    /// the setting means the same thing).
    pub key: &'static str,
    /// The label the editor shows.
    pub label: &'static str,
    /// What the setting does, shown on hover and by `tributary kinds`.
    pub help: &'static str,
    /// How it is edited.
    pub editor: Editor,
    /// When it applies.
    pub when: When,
}

impl Field {
    /// A setting edited with `editor`.
    pub const fn new(
        key: &'static str,
        label: &'static str,
        editor: Editor,
        help: &'static str,
    ) -> Self {
        Self {
            key,
            label,
            help,
            editor,
            when: When::Always,
        }
    }

    /// Applies only when `rule` holds.
    pub const fn when(mut self, rule: When) -> Self {
        self.when = rule;
        self
    }

    /// The value a missing setting is edited from (settings left out of a project file
    /// take their defaults).
    pub fn empty_value(&self) -> Value {
        match self.editor {
            Editor::Number => Value::from(0),
            Editor::Toggle => Value::Bool(false),
            Editor::Lines | Editor::Records { .. } => Value::Array(Vec::new()),
            Editor::Optional { .. } => Value::Null,
            Editor::Map => Value::Object(Map::new()),
            Editor::Choice(names) => Value::from(names.first().copied().unwrap_or("")),
            Editor::Text | Editor::Sql | Editor::Script | Editor::Code | Editor::Column => {
                Value::String(String::new())
            }
        }
    }

    /// A short name for the editor, for `tributary kinds`.
    pub fn editor_name(&self) -> String {
        match self.editor {
            Editor::Text => "text".to_owned(),
            Editor::Sql => "SQL".to_owned(),
            Editor::Script => "Rhai script".to_owned(),
            Editor::Code => "source code".to_owned(),
            Editor::Map => "NAME=value lines".to_owned(),
            Editor::Column => "column".to_owned(),
            Editor::Choice(names) => names.join(" | "),
            Editor::Number => "number".to_owned(),
            Editor::Toggle => "true | false".to_owned(),
            Editor::Lines => "list of text".to_owned(),
            Editor::Optional { .. } => "object or null".to_owned(),
            Editor::Records { .. } => "list of objects".to_owned(),
        }
    }
}

/// A setting whose value breaks a rule, at its path in the config (`shards`,
/// `steps[1].sql`: indices from 0, as in jq).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldProblem {
    /// Where in the config.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl FieldProblem {
    /// A problem with the setting at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The same problem inside `prefix` (`steps[1]` + `sql` → `steps[1].sql`).
    pub fn within(mut self, prefix: &str) -> Self {
        self.path = format!("{prefix}.{}", self.path);
        self
    }
}

impl std::fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Collects problems while a config is checked.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<FieldProblem>);

impl Problems {
    /// Records a problem at `path`.
    pub fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldProblem::new(path, message));
    }

    /// Records a problem at `path` unless `ok`.
    pub fn check(&mut self, ok: bool, path: &str, message: impl Into<String>) {
        if !ok {
            self.add(path, message);
        }
    }

    /// Records `result`'s error at `path`.
    pub fn check_result<T, E: std::fmt::Display>(
        &mut self,
        path: &str,
        result: std::result::Result<T, E>,
    ) {
        if let Err(e) = result {
            self.add(path, e.to_string());
        }
    }

    /// Records `problems` found inside `prefix`.
    pub fn extend_within(&mut self, prefix: &str, problems: Vec<FieldProblem>) {
        self.0
            .extend(problems.into_iter().map(|p| p.within(prefix)));
    }

    /// The problems found.
    pub fn into_vec(self) -> Vec<FieldProblem> {
        self.0
    }
}
