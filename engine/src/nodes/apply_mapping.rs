//! Apply mapping node (Glue Studio's "Change Schema", `ApplyMapping`): selects, renames,
//! casts and drops columns, on a table or a stream.
//!
//! Each mapping reads a column (`from_path`), names it (`to_key`), casts it to a Glue/Hive
//! type (`to_type`, empty keeps the type) or drops it (`dropped`), as Glue's
//! `Mapping` entries do. Columns no mapping names are kept after the mapped ones, or
//! dropped with `unmapped: drop` (Glue's ApplyMapping keeps only what is mapped).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::form::{Editor, Field, FieldProblem, Problems, Template};
use super::transform::{ROWS_IN, ROWS_OUT, Rows, arriving_at, ident, one_rows};
use super::{Category, Kind, NodeContext, NodeOutput, PortSpec};
use crate::error::Result;

crate::choice_enum! {
    /// What happens to the columns no mapping names.
    pub enum Unmapped {
        /// They follow the mapped columns, unchanged.
        Keep = "keep",
        /// They are left out (Glue's ApplyMapping).
        Drop = "drop",
    }
}

/// One column's mapping (Glue's `Mapping`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mapping {
    /// The input column.
    pub from_path: String,
    /// Its name in the output (empty: the same name).
    pub to_key: String,
    /// The Glue/Hive type to cast to (`bigint`, `double`, `string`, `timestamp`,
    /// `decimal(10,2)`…; empty: unchanged).
    pub to_type: String,
    /// Leave the column out.
    pub dropped: bool,
}

/// Apply mapping settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApplyMappingConfig {
    /// The mappings, in output order.
    pub mapping: Vec<Mapping>,
    /// What happens to columns no mapping names.
    pub unmapped: Unmapped,
}

/// The apply mapping node.
pub struct ApplyMappingKind;

/// Types a mapping may cast to: Glue's (Hive's) names, which Athena and DataFusion read.
const TYPES: &[&str] = &[
    "string",
    "varchar",
    "boolean",
    "tinyint",
    "smallint",
    "int",
    "integer",
    "bigint",
    "float",
    "real",
    "double",
    "date",
    "timestamp",
];

/// Whether `ty` is a type a mapping may cast to (`decimal(p,s)` included).
fn known_type(ty: &str) -> bool {
    let ty = ty.trim().to_ascii_lowercase();
    if TYPES.contains(&ty.as_str()) {
        return true;
    }
    // decimal(p,s) / decimal(p)
    ty.strip_prefix("decimal(")
        .and_then(|r| r.strip_suffix(')'))
        .is_some_and(|args| {
            args.split(',')
                .all(|a| !a.trim().is_empty() && a.trim().chars().all(|c| c.is_ascii_digit()))
        })
}

/// SQL for `ty`: Glue's `string` is `VARCHAR` in SQL.
fn sql_type(ty: &str) -> String {
    match ty.trim().to_ascii_lowercase().as_str() {
        "string" => "VARCHAR".to_owned(),
        other => other.to_ascii_uppercase(),
    }
}

const MAPPING_FIELDS: &[Field] = &[
    Field::new(
        "from_path",
        "Column",
        Editor::Column,
        "The input column (FromPath).",
    ),
    Field::new(
        "to_key",
        "New name",
        Editor::Text,
        "Its name in the output (ToKey); empty keeps the name.",
    ),
    Field::new(
        "to_type",
        "Cast to",
        Editor::Text,
        "A Glue/Hive type (ToType): string, int, bigint, double, boolean, date, timestamp, decimal(10,2)…; empty keeps the type.",
    ),
    Field::new(
        "dropped",
        "Drop",
        Editor::Toggle,
        "Leave the column out (Dropped).",
    ),
];

fn new_mapping() -> Value {
    json!({"from_path": "", "to_key": "", "to_type": "", "dropped": false})
}

impl Kind for ApplyMappingKind {
    type Config = ApplyMappingConfig;
    const NAME: &'static str = "apply_mapping";
    const CATEGORY: Category = Category::Transforms;
    const DESCRIPTION: &'static str =
        "Selects, renames, casts and drops columns (Glue's ApplyMapping), on a table or a stream.";
    const ICON: &'static str = "✏";
    const INPUTS: &'static [PortSpec] = &[ROWS_IN];
    const OUTPUTS: &'static [PortSpec] = &[ROWS_OUT];
    const FIELDS: &'static [Field] = &[
        Field::new(
            "mapping",
            "Mappings",
            Editor::Records {
                fields: MAPPING_FIELDS,
                title: "from_path",
                templates: &[Template {
                    label: "column",
                    value: new_mapping,
                }],
            },
            "One entry per column to rename, cast or drop, in output order (Mapping).",
        ),
        Field::new(
            "unmapped",
            "Other columns",
            Editor::Choice(Unmapped::NAMES),
            "Columns no mapping names: keep them after the mapped ones, or drop them (as Glue's ApplyMapping does).",
        ),
    ];

    fn validate(config: &ApplyMappingConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        let mut outputs = std::collections::BTreeSet::new();
        for (i, m) in config.mapping.iter().enumerate() {
            let at = |k: &str| format!("mapping[{i}].{k}");
            if m.from_path.trim().is_empty() {
                p.add(at("from_path"), "a column is required");
            }
            if !m.to_type.trim().is_empty() && !known_type(&m.to_type) {
                p.add(
                    at("to_type"),
                    format!(
                        "'{}' is not a type: use one of {}, decimal(p,s)",
                        m.to_type,
                        TYPES.join(", ")
                    ),
                );
            }
            let name = if m.to_key.trim().is_empty() {
                &m.from_path
            } else {
                &m.to_key
            };
            if !m.dropped && !name.is_empty() && !outputs.insert(name.clone()) {
                p.add(at("to_key"), format!("two columns would be named '{name}'"));
            }
        }
        p.into_vec()
    }

    fn sql(config: &ApplyMappingConfig, arriving: &[(String, Vec<String>)]) -> Option<String> {
        Some(statement(config, arriving_at(arriving, &ROWS_IN)))
    }

    async fn run(config: &ApplyMappingConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        let input = one_rows(ctx, &ROWS_IN)?;
        let columns = input.columns();
        for (i, m) in config.mapping.iter().enumerate() {
            if !columns.contains(&m.from_path) {
                return Err(crate::error::Error::no_such_column(
                    &format!("mapping[{i}].from_path"),
                    &m.from_path,
                    &input.schema(),
                ));
            }
        }
        let sql = statement(config, &columns);
        match &input {
            Rows::Table(t) => super::transform::run_on_tables(ctx, &sql, &[("input", t)]).await,
            Rows::Stream(s) => super::transform::run_on_stream(ctx, &sql, s, "input", &[]).await,
        }
    }
}

/// The statement: mapped columns in order, then the others unless dropped. With the
/// input's columns unknown (before a run), the others show as a comment.
fn statement(config: &ApplyMappingConfig, columns: &[String]) -> String {
    let mut items: Vec<String> = Vec::new();
    for m in config.mapping.iter().filter(|m| !m.dropped) {
        let from = ident(&m.from_path);
        let to = if m.to_key.trim().is_empty() {
            &m.from_path
        } else {
            &m.to_key
        };
        let value = if m.to_type.trim().is_empty() {
            from.clone()
        } else {
            format!("CAST({from} AS {})", sql_type(&m.to_type))
        };
        items.push(if value == ident(to) {
            value
        } else {
            format!("{value} AS {}", ident(to))
        });
    }
    if config.unmapped == Unmapped::Keep {
        if columns.is_empty() {
            items.push("/* the other input columns */ *".to_owned());
        } else {
            items.extend(
                columns
                    .iter()
                    .filter(|c| !config.mapping.iter().any(|m| &m.from_path == *c))
                    .map(|c| ident(c)),
            );
        }
    }
    if items.is_empty() {
        return "SELECT NULL AS \"nothing\" FROM input WHERE false".to_owned();
    }
    format!("SELECT {}\nFROM input", items.join(",\n       "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_renames_casts_drops_and_keeps_the_rest() {
        let config = ApplyMappingConfig {
            mapping: vec![
                Mapping {
                    from_path: "amount".into(),
                    to_key: "amount_usd".into(),
                    to_type: "decimal(10,2)".into(),
                    dropped: false,
                },
                Mapping {
                    from_path: "secret".into(),
                    dropped: true,
                    ..Default::default()
                },
            ],
            unmapped: Unmapped::Keep,
        };
        let cols = ["id", "amount", "secret", "page"].map(String::from);
        assert_eq!(
            statement(&config, &cols),
            "SELECT CAST(\"amount\" AS DECIMAL(10,2)) AS \"amount_usd\",\n       \"id\",\n       \"page\"\nFROM input"
        );
        assert!(known_type("decimal(10, 2)") && !known_type("decimal(x)") && !known_type("text"));
    }
}
