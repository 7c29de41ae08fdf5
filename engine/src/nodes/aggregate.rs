//! Aggregate node (Glue Studio's Aggregate): groups a table's rows by columns and
//! computes aggregates per group. A stream has no end to aggregate over: windows over a
//! stream are the analytics node's.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::form::{Editor, Field, FieldProblem, Problems, Template};
use super::transform::{ROWS_IN, ROWS_OUT, Rows, ident, one_rows};
use super::{Category, Kind, NodeContext, NodeOutput, PortSpec};
use crate::error::{Error, Result};

crate::choice_enum! {
    /// An aggregate function (Glue's AggFunc names, in snake_case).
    pub enum AggFunc {
        /// The number of rows (`*`) or of non-null values.
        Count = "count",
        /// The number of distinct non-null values.
        CountDistinct = "count_distinct",
        /// The sum.
        Sum = "sum",
        /// The sum of distinct values.
        SumDistinct = "sum_distinct",
        /// The mean.
        Avg = "avg",
        /// The smallest value.
        Min = "min",
        /// The largest value.
        Max = "max",
        /// The sample standard deviation.
        StddevSamp = "stddev_samp",
        /// The population standard deviation.
        StddevPop = "stddev_pop",
        /// The sample variance.
        VarSamp = "var_samp",
        /// The population variance.
        VarPop = "var_pop",
    }
}

/// One aggregate (Glue's `Aggs` entry).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Agg {
    /// The column (`*` for count of rows).
    pub column: String,
    /// The function.
    pub agg_func: AggFunc,
    /// The output column's name (empty: `<function>_<column>`, `count` for `count(*)`).
    pub alias: String,
}

impl Agg {
    /// The output column's name.
    pub fn name(&self) -> String {
        if !self.alias.trim().is_empty() {
            return self.alias.clone();
        }
        if self.column == "*" {
            return self.agg_func.to_string();
        }
        format!("{}_{}", self.agg_func, self.column)
    }

    /// The SQL expression.
    fn expr(&self) -> String {
        let col = if self.column == "*" {
            "*".to_owned()
        } else {
            ident(&self.column)
        };
        match self.agg_func {
            AggFunc::Count => format!("COUNT({col})"),
            AggFunc::CountDistinct => format!("COUNT(DISTINCT {col})"),
            AggFunc::Sum => format!("SUM({col})"),
            AggFunc::SumDistinct => format!("SUM(DISTINCT {col})"),
            AggFunc::Avg => format!("AVG({col})"),
            AggFunc::Min => format!("MIN({col})"),
            AggFunc::Max => format!("MAX({col})"),
            AggFunc::StddevSamp => format!("STDDEV_SAMP({col})"),
            AggFunc::StddevPop => format!("STDDEV_POP({col})"),
            AggFunc::VarSamp => format!("VAR_SAMP({col})"),
            AggFunc::VarPop => format!("VAR_POP({col})"),
        }
    }
}

/// Aggregate settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AggregateConfig {
    /// The grouping columns (empty: one group, the whole table).
    pub groups: Vec<String>,
    /// The aggregates, in output order after the groups.
    pub aggs: Vec<Agg>,
}

/// The aggregate node.
pub struct AggregateKind;

const AGG_FIELDS: &[Field] = &[
    Field::new(
        "column",
        "Column",
        Editor::Column,
        "The column aggregated (* counts rows).",
    ),
    Field::new(
        "agg_func",
        "Function",
        Editor::Choice(AggFunc::NAMES),
        "The aggregate function (AggFunc).",
    ),
    Field::new(
        "alias",
        "Name",
        Editor::Text,
        "The output column's name; empty: function_column.",
    ),
];

fn new_agg() -> Value {
    json!({"column": "*", "agg_func": "count", "alias": ""})
}

impl Kind for AggregateKind {
    type Config = AggregateConfig;
    const NAME: &'static str = "aggregate";
    const CATEGORY: Category = Category::Transforms;
    const DESCRIPTION: &'static str = "Groups a table's rows by columns and computes counts, sums, averages… per group (Glue's Aggregate).";
    const ICON: &'static str = "🔢";
    const INPUTS: &'static [PortSpec] = &[ROWS_IN];
    const OUTPUTS: &'static [PortSpec] = &[ROWS_OUT];
    const FIELDS: &'static [Field] = &[
        Field::new(
            "groups",
            "Group by",
            Editor::Lines,
            "The grouping columns, one per line (Groups); empty aggregates the whole table.",
        ),
        Field::new(
            "aggs",
            "Aggregates",
            Editor::Records {
                fields: AGG_FIELDS,
                title: "column",
                templates: &[Template {
                    label: "aggregate",
                    value: new_agg,
                }],
            },
            "The aggregates computed per group (Aggs).",
        ),
    ];

    fn validate(config: &AggregateConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        p.check(
            !config.aggs.is_empty() || !config.groups.is_empty(),
            "aggs",
            "add an aggregate or a grouping column",
        );
        let mut names: std::collections::BTreeSet<String> = config.groups.iter().cloned().collect();
        for (i, a) in config.aggs.iter().enumerate() {
            if a.column.trim().is_empty() {
                p.add(
                    format!("aggs[{i}].column"),
                    "a column is required (* counts rows)",
                );
            } else if a.column == "*" && a.agg_func != AggFunc::Count {
                p.add(
                    format!("aggs[{i}].column"),
                    format!("* works with count only; {} needs a column", a.agg_func),
                );
            }
            if !names.insert(a.name()) {
                p.add(
                    format!("aggs[{i}].alias"),
                    format!("two columns would be named '{}'", a.name()),
                );
            }
        }
        p.into_vec()
    }

    fn sql(config: &AggregateConfig, _arriving: &[(String, Vec<String>)]) -> Option<String> {
        Some(statement(config))
    }

    async fn run(config: &AggregateConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        let input = one_rows(ctx, &ROWS_IN)?;
        let columns = input.columns();
        let used = config
            .groups
            .iter()
            .map(|g| ("groups", g))
            .chain(config.aggs.iter().map(|a| ("aggs", &a.column)));
        for (setting, col) in used {
            if col != "*" && !columns.contains(col) {
                return Err(Error::no_such_column(setting, col, &input.schema()));
            }
        }
        match &input {
            Rows::Table(t) => {
                super::transform::run_on_tables(ctx, &statement(config), &[("input", t)]).await
            }
            Rows::Stream(_) => Err(super::transform::not_on_a_stream(
                "aggregating",
                "to aggregate a stream over time windows, use an analytics node",
            )),
        }
    }
}

/// The statement: the groups, then each aggregate named.
fn statement(config: &AggregateConfig) -> String {
    let groups: Vec<String> = config.groups.iter().map(|g| ident(g)).collect();
    let items: Vec<String> = groups
        .iter()
        .cloned()
        .chain(
            config
                .aggs
                .iter()
                .map(|a| format!("{} AS {}", a.expr(), ident(&a.name()))),
        )
        .collect();
    let mut sql = format!("SELECT {}\nFROM input", items.join(",\n       "));
    if !groups.is_empty() {
        sql.push_str(&format!("\nGROUP BY {}", groups.join(", ")));
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_groups_and_names_each_aggregate() {
        let config = AggregateConfig {
            groups: vec!["page".into()],
            aggs: vec![
                Agg {
                    column: "*".into(),
                    agg_func: AggFunc::Count,
                    alias: String::new(),
                },
                Agg {
                    column: "amount".into(),
                    agg_func: AggFunc::Avg,
                    alias: String::new(),
                },
            ],
        };
        assert_eq!(
            statement(&config),
            "SELECT \"page\",\n       COUNT(*) AS \"count\",\n       AVG(\"amount\") AS \"avg_amount\"\nFROM input\nGROUP BY \"page\""
        );
    }
}
