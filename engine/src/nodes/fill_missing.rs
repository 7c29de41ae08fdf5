//! Fill missing values node: replaces nulls in chosen columns with a value, or on a
//! table with the column's mean, minimum or maximum. (Glue Studio's FillMissingValues
//! imputes numbers with a model; here the rule is explicit, so the SQL shows it.)

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::form::{Editor, Field, FieldProblem, Problems, Template, When};
use super::transform::{
    ROWS_IN, ROWS_OUT, Rows, arriving_at, ident, one_rows, run_on_stream, run_on_tables,
    string_literal,
};
use super::{Category, Kind, NodeContext, NodeOutput, PortSpec};
use crate::error::{Error, Result};

crate::choice_enum! {
    /// What a null becomes.
    pub enum FillMethod {
        /// A fixed value.
        Value = "value",
        /// The column's mean over the table (numbers; the column becomes a double).
        Mean = "mean",
        /// The column's smallest value over the table.
        Min = "min",
        /// The column's largest value over the table.
        Max = "max",
    }
}

/// One column's rule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Fill {
    /// The column.
    pub column: String,
    /// What its nulls become.
    pub method: FillMethod,
    /// The value, for `value`: a number, true/false, or text.
    pub value: String,
}

impl Fill {
    /// The SQL that replaces the column's nulls.
    fn expr(&self) -> String {
        let col = ident(&self.column);
        let with = match self.method {
            FillMethod::Value => literal(&self.value),
            FillMethod::Mean => format!("AVG({col}) OVER ()"),
            FillMethod::Min => format!("MIN({col}) OVER ()"),
            FillMethod::Max => format!("MAX({col}) OVER ()"),
        };
        format!("COALESCE({col}, {with}) AS {col}")
    }
}

/// `value` as a SQL literal: numbers and true/false as they are, anything else as text.
fn literal(value: &str) -> String {
    let v = value.trim();
    if v.parse::<f64>().is_ok_and(f64::is_finite)
        || v.eq_ignore_ascii_case("true")
        || v.eq_ignore_ascii_case("false")
    {
        v.to_owned()
    } else {
        string_literal(value)
    }
}

/// Fill missing values settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FillMissingConfig {
    /// One rule per column.
    pub fills: Vec<Fill>,
}

/// The fill missing values node.
pub struct FillMissingKind;

const FILL_FIELDS: &[Field] = &[
    Field::new(
        "column",
        "Column",
        Editor::Column,
        "The column whose nulls are filled.",
    ),
    Field::new(
        "method",
        "Fill with",
        Editor::Choice(FillMethod::NAMES),
        "A fixed value, or (tables only) the column's mean, minimum or maximum.",
    ),
    Field::new(
        "value",
        "Value",
        Editor::Text,
        "The value: a number, true/false, or text.",
    )
    .when(When::Is("method", &["value"])),
];

fn new_fill() -> Value {
    json!({"column": "", "method": "value", "value": ""})
}

impl Kind for FillMissingKind {
    type Config = FillMissingConfig;
    const NAME: &'static str = "fill_missing";
    const CATEGORY: Category = Category::Transforms;
    const DESCRIPTION: &'static str = "Replaces nulls in chosen columns with a value, or (tables) the column's mean, minimum or maximum.";
    const ICON: &'static str = "💧";
    const INPUTS: &'static [PortSpec] = &[ROWS_IN];
    const OUTPUTS: &'static [PortSpec] = &[ROWS_OUT];
    const FIELDS: &'static [Field] = &[Field::new(
        "fills",
        "Columns to fill",
        Editor::Records {
            fields: FILL_FIELDS,
            title: "column",
            templates: &[Template {
                label: "column",
                value: new_fill,
            }],
        },
        "One rule per column.",
    )];

    fn validate(config: &FillMissingConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        p.check(!config.fills.is_empty(), "fills", "add a column to fill");
        let mut seen = std::collections::BTreeSet::new();
        for (i, f) in config.fills.iter().enumerate() {
            if f.column.trim().is_empty() {
                p.add(format!("fills[{i}].column"), "a column is required");
            } else if !seen.insert(&f.column) {
                p.add(
                    format!("fills[{i}].column"),
                    format!("'{}' has two rules", f.column),
                );
            }
        }
        p.into_vec()
    }

    fn sql(config: &FillMissingConfig, arriving: &[(String, Vec<String>)]) -> Option<String> {
        Some(statement(config, arriving_at(arriving, &ROWS_IN)))
    }

    async fn run(config: &FillMissingConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        let input = one_rows(ctx, &ROWS_IN)?;
        let schema = input.schema();
        for (i, f) in config.fills.iter().enumerate() {
            if schema.index_of(&f.column).is_err() {
                return Err(Error::no_such_column(
                    &format!("fills[{i}].column"),
                    &f.column,
                    &schema,
                ));
            }
        }
        let sql = statement(config, &input.columns());
        match &input {
            Rows::Table(t) => run_on_tables(ctx, &sql, &[("input", t)]).await,
            Rows::Stream(s) => {
                if let Some(f) = config.fills.iter().find(|f| f.method != FillMethod::Value) {
                    return Err(super::transform::not_on_a_stream(
                        &format!("filling '{}' with its {}", f.column, f.method),
                        "on a stream fill with a value",
                    ));
                }
                run_on_stream(ctx, &sql, s, "input", &[]).await
            }
        }
    }
}

/// The statement: every column in input order, the filled ones through COALESCE.
fn statement(config: &FillMissingConfig, columns: &[String]) -> String {
    let items: Vec<String> = if columns.is_empty() {
        let filled: Vec<String> = config.fills.iter().map(Fill::expr).collect();
        let mut items = vec![format!(
            "* EXCLUDE ({})",
            config
                .fills
                .iter()
                .map(|f| ident(&f.column))
                .collect::<Vec<_>>()
                .join(", ")
        )];
        if config.fills.is_empty() {
            items = vec!["*".to_owned()];
        }
        items.extend(filled);
        items
    } else {
        columns
            .iter()
            .map(|c| match config.fills.iter().find(|f| &f.column == c) {
                Some(f) => f.expr(),
                None => ident(c),
            })
            .collect()
    };
    format!("SELECT {}\nFROM input", items.join(",\n       "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_become_values_or_the_columns_mean() {
        let config = FillMissingConfig {
            fills: vec![
                Fill {
                    column: "referrer".into(),
                    method: FillMethod::Value,
                    value: "direct".into(),
                },
                Fill {
                    column: "amount".into(),
                    method: FillMethod::Mean,
                    value: String::new(),
                },
            ],
        };
        let cols = ["id", "referrer", "amount"].map(String::from);
        assert_eq!(
            statement(&config, &cols),
            "SELECT \"id\",\n       COALESCE(\"referrer\", 'direct') AS \"referrer\",\n       COALESCE(\"amount\", AVG(\"amount\") OVER ()) AS \"amount\"\nFROM input"
        );
        assert_eq!(literal("0"), "0");
        assert_eq!(literal("it's"), "'it''s'");
    }
}
