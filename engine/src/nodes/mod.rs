//! Node kinds: one file per kind, and this registry.
//!
//! A kind is a type implementing [`Kind`] in its own file: its name, palette group,
//! description, icon, typed ports, settings form, validation and run. The registry below
//! lists each kind once; [`NodeKind`] and [`NodeConfig`] and their dispatch are generated
//! from it. Adding a kind is a new file and one line here.

use std::fmt;

use serde::Serialize;

pub mod context;
pub mod faults;
pub mod form;
pub mod kind;
pub mod operator;
pub mod ports;
pub mod read_files;
pub mod start;

pub mod analytics;
pub mod broker;
pub mod bucket;
pub mod catalog;
pub mod crawler;
pub mod emr_job;
pub mod etl;
pub mod filter;
pub mod firehose;
pub mod generator;
pub mod lambda;
pub mod query;
pub mod replay;
pub mod series_sink;
pub mod stream;
pub mod table_sink;
pub mod transform;

pub mod aggregate;
pub mod apply_mapping;
pub mod drop_duplicates;
pub mod fill_missing;
pub mod join;
pub mod union;

pub use crate::api::NodeStats;
pub use context::{NodeContext, NodeOutput, StreamTask, TableData, Value, head};
pub use form::{Editor, Field, FieldProblem, Template, When};
pub use kind::{Category, Kind, PortDirection, PortSpec, PortType};

use crate::error::Result;

macro_rules! registry {
    ($( $variant:ident => $kind:ty, )*) => {
        /// Every kind of node.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum NodeKind { $( #[allow(missing_docs)] $variant, )* }

        impl NodeKind {
            /// All kinds, in palette order.
            pub const ALL: &'static [NodeKind] = &[$(NodeKind::$variant),*];

            /// The name used in project files, e.g. `crawler`.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => <$kind as Kind>::NAME,)* }
            }

            /// One-line description for the palette.
            pub fn description(self) -> &'static str {
                match self { $(Self::$variant => <$kind as Kind>::DESCRIPTION,)* }
            }

            /// Palette group.
            pub fn category(self) -> Category {
                match self { $(Self::$variant => <$kind as Kind>::CATEGORY,)* }
            }

            /// The kind's icon.
            pub fn icon(self) -> &'static str {
                match self { $(Self::$variant => <$kind as Kind>::ICON,)* }
            }

            /// Input ports.
            pub fn inputs(self) -> &'static [PortSpec] {
                match self { $(Self::$variant => <$kind as Kind>::INPUTS,)* }
            }

            /// Output ports.
            pub fn outputs(self) -> &'static [PortSpec] {
                match self { $(Self::$variant => <$kind as Kind>::OUTPUTS,)* }
            }

            /// The settings form.
            pub fn fields(self) -> &'static [Field] {
                match self { $(Self::$variant => <$kind as Kind>::FIELDS,)* }
            }

            /// The default configuration for a new node of this kind.
            pub fn default_config(self) -> NodeConfig {
                match self {
                    $(Self::$variant => NodeConfig::$variant(Default::default()),)*
                }
            }
        }

        impl std::str::FromStr for NodeKind {
            type Err = String;
            fn from_str(s: &str) -> std::result::Result<Self, String> {
                NodeKind::ALL.iter().copied().find(|k| k.as_str() == s).ok_or_else(|| {
                    format!(
                        "unknown kind '{s}' (known kinds: {})",
                        NodeKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
                    )
                })
            }
        }

        /// A node's typed configuration; the variant is the node's kind.
        #[derive(Clone, Debug, PartialEq)]
        pub enum NodeConfig {
            $( #[allow(missing_docs)] $variant(<$kind as Kind>::Config), )*
        }

        impl NodeConfig {
            /// The kind this config belongs to.
            pub fn kind(&self) -> NodeKind {
                match self { $(Self::$variant(_) => NodeKind::$variant,)* }
            }

            /// Parses the `config` object of a node of `kind`; a value that does not fit
            /// comes back as a problem at the path of the setting.
            pub fn from_value(kind: NodeKind, value: serde_json::Value)
                -> std::result::Result<Self, FieldProblem> {
                match kind { $(NodeKind::$variant => parse_config(value).map(Self::$variant),)* }
            }

            /// Migrates a `config` object written by project format `from_version`.
            pub fn migrate(kind: NodeKind, from_version: u32, config: &mut serde_json::Value) {
                if let serde_json::Value::Object(map) = config {
                    match kind { $(NodeKind::$variant => <$kind as Kind>::migrate(from_version, map),)* }
                }
            }

            /// The `config` object as written to project files.
            pub fn to_value(&self) -> serde_json::Value {
                match self { $(Self::$variant(c) => serde_json::to_value(c).unwrap_or_default(),)* }
            }

            /// Rules beyond types, each problem at the path of its setting.
            pub fn validate(&self) -> Vec<FieldProblem> {
                match self { $(Self::$variant(c) => <$kind as Kind>::validate(c),)* }
            }

            /// What this run of the node would have cost in AWS ([`Kind::cost`]).
            pub fn cost(
                &self,
                stats: &crate::api::NodeStats,
                prices: &crate::api::cost::Prices,
            ) -> Option<crate::api::cost::Cost> {
                match self { $(Self::$variant(c) => <$kind as Kind>::cost(c, stats, prices),)* }
            }

            /// The SQL a visual transform runs over the columns `arriving` (see
            /// [`Kind::sql`]); `None` for kinds that are not SQL underneath.
            pub fn sql(&self, arriving: &[(String, Vec<String>)]) -> Option<String> {
                match self { $(Self::$variant(c) => <$kind as Kind>::sql(c, arriving),)* }
            }

            /// Runs the node: the registry's single dispatch.
            pub async fn run(&self, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
                match self { $(Self::$variant(c) => <$kind as Kind>::run(c, ctx).await,)* }
            }
        }
    };
}

registry! {
    Bucket => bucket::BucketKind,
    Crawler => crawler::CrawlerKind,
    Catalog => catalog::CatalogKind,
    Etl => etl::EtlKind,
    Query => query::QueryKind,
    EmrJob => emr_job::EmrJobKind,
    Generator => generator::GeneratorKind,
    Replay => replay::ReplayKind,
    BrokerSource => broker::BrokerSourceKind,
    Stream => stream::StreamKind,
    Lambda => lambda::LambdaKind,
    Firehose => firehose::FirehoseKind,
    Analytics => analytics::AnalyticsKind,
    Filter => filter::FilterKind,
    ApplyMapping => apply_mapping::ApplyMappingKind,
    Join => join::JoinKind,
    Aggregate => aggregate::AggregateKind,
    Union => union::UnionKind,
    DropDuplicates => drop_duplicates::DropDuplicatesKind,
    FillMissing => fill_missing::FillMissingKind,
    TableSink => table_sink::TableSinkKind,
    BrokerSink => broker::BrokerSinkKind,
    SeriesSink => series_sink::SeriesSinkKind,
}

impl NodeKind {
    /// Whether the kind reads or writes streams (its results are never cached).
    pub fn is_streaming(self) -> bool {
        self.inputs()
            .iter()
            .chain(self.outputs())
            .any(|p| p.ty == PortType::Stream)
    }

    /// Finds a port by direction and name.
    pub fn port(self, direction: PortDirection, name: &str) -> Option<&'static PortSpec> {
        let ports = match direction {
            PortDirection::Input => self.inputs(),
            PortDirection::Output => self.outputs(),
        };
        ports.iter().find(|p| p.name == name)
    }
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for NodeKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

fn parse_config<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> std::result::Result<T, FieldProblem> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        FieldProblem::new(path, e.into_inner().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value as Json;

    /// Every key a config writes has a form field, and every field is a setting of the
    /// config (deserializing with the field set must work; configs deny unknown keys).
    fn check_form(kind: &str, fields: &[Field], value: &Json, parse: &dyn Fn(Json) -> bool) {
        let Json::Object(map) = value else {
            panic!("{kind}: the config is not an object: {value}");
        };
        for key in map.keys() {
            assert!(
                fields.iter().any(|f| f.key == key),
                "{kind}: setting '{key}' has no form field"
            );
        }
        let mut full = map.clone();
        for f in fields {
            full.entry(f.key).or_insert_with(|| f.empty_value());
            match f.editor {
                Editor::Records {
                    fields: inner,
                    templates,
                    ..
                } => {
                    assert!(!templates.is_empty(), "{kind}.{}: no templates", f.key);
                    for t in templates {
                        let item = (t.value)();
                        check_form(&format!("{kind}.{}", f.key), inner, &item, &|_| true);
                        let mut with = full.clone();
                        with.insert(f.key.to_owned(), Json::Array(vec![item]));
                        assert!(parse(Json::Object(with)), "{kind}.{}: template", f.key);
                    }
                }
                Editor::Optional {
                    fields: inner,
                    template,
                    ..
                } => check_form(&format!("{kind}.{}", f.key), inner, &template(), &|_| true),
                _ => {}
            }
        }
        assert!(
            parse(Json::Object(full.clone())),
            "{kind}: a config with every form field does not parse: {full:?}"
        );
    }

    #[test]
    fn every_form_matches_its_config() {
        for &kind in NodeKind::ALL {
            let value = kind.default_config().to_value();
            check_form(kind.as_str(), kind.fields(), &value, &|v| {
                NodeConfig::from_value(kind, v).is_ok()
            });
            let keys: std::collections::BTreeSet<&str> =
                kind.fields().iter().map(|f| f.key).collect();
            assert_eq!(keys.len(), kind.fields().len(), "{kind}: a field twice");
        }
    }

    #[test]
    fn default_configs_are_valid_and_names_round_trip() {
        for &kind in NodeKind::ALL {
            assert_eq!(kind.as_str().parse::<NodeKind>(), Ok(kind));
            let problems = kind.default_config().validate();
            // A bucket needs its folder, and a join, an aggregate and a fill their
            // columns (a new node says so on the canvas); everything else starts valid.
            let needs_settings = [
                NodeKind::Bucket,
                NodeKind::Join,
                NodeKind::Aggregate,
                NodeKind::FillMissing,
            ];
            assert_eq!(
                problems.is_empty(),
                !needs_settings.contains(&kind),
                "{kind}: {problems:?}"
            );
            for p in problems {
                assert!(
                    kind.fields().iter().any(|f| p.path.starts_with(f.key)),
                    "{kind}: problem at '{}' names no field",
                    p.path
                );
            }
        }
    }
}
