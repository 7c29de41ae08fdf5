//! Join node (Glue Studio's Join): joins two inputs on key columns. Two tables join
//! whole; a stream on the left joins each read against a table on the right (a lookup,
//! e.g. enriching clicks with a page table). The join types are Glue's.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::form::{Editor, Field, FieldProblem, Problems, Template};
use super::kind::PortType;
use super::transform::{ROWS_OUT, Rows, arriving_at, ident, one_rows};
use super::{Category, Kind, NodeContext, NodeOutput, PortSpec};
use crate::error::{Error, Result};

/// The left input: a table, or a stream to enrich.
pub const LEFT: PortSpec = PortSpec::input("left", PortType::Rows).required();
/// The right input: a table.
pub const RIGHT: PortSpec = PortSpec::input("right", PortType::Rows).required();

crate::choice_enum! {
    /// Which rows a join keeps (Glue's JoinType).
    pub enum JoinType {
        /// Rows with a match on both sides (an inner join).
        Equijoin = "equijoin",
        /// Every left row, with the right's columns where one matches.
        Left = "left",
        /// Every right row, with the left's columns where one matches.
        Right = "right",
        /// Every row of both sides.
        Outer = "outer",
        /// Left rows that have a match (left columns only).
        LeftSemi = "leftsemi",
        /// Left rows that have no match (left columns only).
        LeftAnti = "leftanti",
    }
}

/// A pair of key columns that must be equal.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JoinKey {
    /// The left input's column.
    pub left: String,
    /// The right input's column.
    pub right: String,
}

/// Join settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JoinConfig {
    /// Which rows are kept.
    pub join_type: JoinType,
    /// The key pairs, all equal for a match.
    pub keys: Vec<JoinKey>,
}

/// The join node.
pub struct JoinKind;

const KEY_FIELDS: &[Field] = &[
    Field::new(
        "left",
        "Left column",
        Editor::Column,
        "The left input's key column.",
    ),
    Field::new(
        "right",
        "Right column",
        Editor::Column,
        "The right input's key column.",
    ),
];

fn new_key() -> Value {
    json!({"left": "", "right": ""})
}

impl Kind for JoinKind {
    type Config = JoinConfig;
    const NAME: &'static str = "join";
    const CATEGORY: Category = Category::Transforms;
    const DESCRIPTION: &'static str = "Joins two inputs on key columns (Glue's Join): two tables, or a stream on the left looked up in a table on the right.";
    const ICON: &'static str = "🔗";
    const INPUTS: &'static [PortSpec] = &[LEFT, RIGHT];
    const OUTPUTS: &'static [PortSpec] = &[ROWS_OUT];
    const FIELDS: &'static [Field] = &[
        Field::new(
            "join_type",
            "Join type",
            Editor::Choice(JoinType::NAMES),
            "Which rows are kept (JoinType): equijoin (matches only), left, right, outer, leftsemi (left rows with a match), leftanti (left rows without one).",
        ),
        Field::new(
            "keys",
            "Keys",
            Editor::Records {
                fields: KEY_FIELDS,
                title: "left",
                templates: &[Template {
                    label: "key pair",
                    value: new_key,
                }],
            },
            "Pairs of columns that must be equal for rows to match.",
        ),
    ];

    fn validate(config: &JoinConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        p.check(
            !config.keys.is_empty(),
            "keys",
            "a join needs at least one key pair",
        );
        for (i, k) in config.keys.iter().enumerate() {
            if k.left.trim().is_empty() {
                p.add(format!("keys[{i}].left"), "a column is required");
            }
            if k.right.trim().is_empty() {
                p.add(format!("keys[{i}].right"), "a column is required");
            }
        }
        p.into_vec()
    }

    fn sql(config: &JoinConfig, arriving: &[(String, Vec<String>)]) -> Option<String> {
        Some(statement(
            config,
            arriving_at(arriving, &LEFT),
            arriving_at(arriving, &RIGHT),
        ))
    }

    async fn run(config: &JoinConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        let left = one_rows(ctx, &LEFT)?;
        let right = one_rows(ctx, &RIGHT)?;
        for (i, k) in config.keys.iter().enumerate() {
            for (side, rows, col) in [("left", &left, &k.left), ("right", &right, &k.right)] {
                if !rows.columns().contains(col) {
                    return Err(Error::no_such_column(
                        &format!("keys[{i}].{side}"),
                        col,
                        &rows.schema(),
                    ));
                }
            }
        }
        let sql = statement(config, &left.columns(), &right.columns());
        let Rows::Table(r) = &right else {
            return Err(Error::Invalid(
                "right: a join looks rows up in a table; joining two streams needs windows (an analytics node)".to_owned(),
            ));
        };
        match &left {
            Rows::Table(l) => {
                super::transform::run_on_tables(ctx, &sql, &[("l", l), ("r", r)]).await
            }
            Rows::Stream(s) => {
                if matches!(config.join_type, JoinType::Right | JoinType::Outer) {
                    return Err(super::transform::not_on_a_stream(
                        &format!("a {} join", config.join_type),
                        "with a stream on the left, use equijoin, left, leftsemi or leftanti",
                    ));
                }
                super::transform::run_on_stream(ctx, &sql, s, "l", &[("r", r)]).await
            }
        }
    }
}

/// The statement over `l` and `r`. Right columns whose names the left has are renamed
/// `right_<name>` (an output cannot have two columns of one name); semi and anti joins
/// are written with EXISTS, which Athena and DataFusion both run.
fn statement(config: &JoinConfig, left: &[String], right: &[String]) -> String {
    let on: Vec<String> = config
        .keys
        .iter()
        .map(|k| format!("l.{} = r.{}", ident(&k.left), ident(&k.right)))
        .collect();
    let on = if on.is_empty() {
        "true".to_owned()
    } else {
        on.join(" AND ")
    };
    let left_cols = if left.is_empty() {
        "l.*".to_owned()
    } else {
        left.iter()
            .map(|c| format!("l.{}", ident(c)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match config.join_type {
        JoinType::LeftSemi | JoinType::LeftAnti => {
            let not = if config.join_type == JoinType::LeftAnti {
                "NOT "
            } else {
                ""
            };
            format!("SELECT {left_cols}\nFROM l\nWHERE {not}EXISTS (SELECT 1 FROM r WHERE {on})")
        }
        kind => {
            let right_cols = if right.is_empty() {
                "r.*".to_owned()
            } else {
                right
                    .iter()
                    .map(|c| {
                        if left.contains(c) {
                            format!("r.{} AS {}", ident(c), ident(&format!("right_{c}")))
                        } else {
                            format!("r.{}", ident(c))
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let join = match kind {
                JoinType::Left => "LEFT JOIN",
                JoinType::Right => "RIGHT JOIN",
                JoinType::Outer => "FULL OUTER JOIN",
                _ => "JOIN",
            };
            format!("SELECT {left_cols}, {right_cols}\nFROM l\n{join} r ON {on}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clashing_right_columns_are_renamed_and_semi_joins_use_exists() {
        let mut config = JoinConfig {
            join_type: JoinType::Left,
            keys: vec![JoinKey {
                left: "page".into(),
                right: "page".into(),
            }],
        };
        let l = ["page", "user"].map(String::from);
        let r = ["page", "title"].map(String::from);
        assert_eq!(
            statement(&config, &l, &r),
            "SELECT l.\"page\", l.\"user\", r.\"page\" AS \"right_page\", r.\"title\"\nFROM l\nLEFT JOIN r ON l.\"page\" = r.\"page\""
        );
        config.join_type = JoinType::LeftAnti;
        assert_eq!(
            statement(&config, &l, &r),
            "SELECT l.\"page\", l.\"user\"\nFROM l\nWHERE NOT EXISTS (SELECT 1 FROM r WHERE l.\"page\" = r.\"page\")"
        );
    }
}
