//! Union node (Glue Studio's Union): the rows of several inputs as one, columns matched
//! by name (a column one input lacks is null in its rows). Tables give a table (ALL
//! keeps duplicates, DISTINCT drops them); streams merge into one stream.

use serde::{Deserialize, Serialize};

use super::form::{Editor, Field, FieldProblem};
use super::kind::PortType;
use super::operator::{Hold, Operator, Outputs, ReadOptions, Wiring, output_topic, subscribe};
use super::transform::{ROWS_OUT, Rows, ident, planned_schema, rows_on, run_on_tables};
use super::{Category, Kind, NodeContext, NodeOutput, PortSpec, TableData};
use crate::arrow::array::{RecordBatch, new_null_array};
use crate::arrow::compute::cast;
use crate::arrow::datatypes::SchemaRef;
use crate::error::{Error, Result};
use crate::stream::topic::Delivery;

/// The inputs: two or more tables, or two or more streams.
pub const INPUTS: PortSpec = PortSpec::input("records", PortType::Rows)
    .required()
    .multiple();

crate::choice_enum! {
    /// Whether duplicate rows are kept (Glue's UnionType).
    pub enum UnionType {
        /// Every row of every input.
        All = "ALL",
        /// Each distinct row once (tables only).
        Distinct = "DISTINCT",
    }
}

/// Union settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UnionConfig {
    /// Whether duplicates are kept.
    pub union_type: UnionType,
}

/// The union node.
pub struct UnionKind;

impl Kind for UnionKind {
    type Config = UnionConfig;
    const NAME: &'static str = "union";
    const CATEGORY: Category = Category::Transforms;
    const DESCRIPTION: &'static str =
        "The rows of several tables or streams as one, columns matched by name (Glue's Union).";
    const ICON: &'static str = "🔀";
    const INPUTS: &'static [PortSpec] = &[INPUTS];
    const OUTPUTS: &'static [PortSpec] = &[ROWS_OUT];
    const FIELDS: &'static [Field] = &[Field::new(
        "union_type",
        "Union type",
        Editor::Choice(UnionType::NAMES),
        "ALL keeps every row; DISTINCT keeps each distinct row once (tables only) (UnionType).",
    )];

    fn validate(_config: &UnionConfig) -> Vec<FieldProblem> {
        Vec::new()
    }

    fn sql(config: &UnionConfig, arriving: &[(String, Vec<String>)]) -> Option<String> {
        let inputs: Vec<&[String]> = arriving
            .iter()
            .filter(|(p, _)| p == INPUTS.name)
            .map(|(_, c)| c.as_slice())
            .collect();
        let inputs = if inputs.len() < 2 {
            vec![&[][..], &[][..]]
        } else {
            inputs
        };
        Some(statement(config, &inputs))
    }

    async fn run(config: &UnionConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        let inputs = rows_on(ctx, &INPUTS)?;
        if inputs.len() < 2 {
            return Err(Error::Invalid(format!(
                "input '{}': a union needs two or more inputs, {} connected",
                INPUTS.name,
                inputs.len()
            )));
        }
        let columns: Vec<Vec<String>> = inputs.iter().map(Rows::columns).collect();
        let column_refs: Vec<&[String]> = columns.iter().map(Vec::as_slice).collect();
        let sql = statement(config, &column_refs);
        let names: Vec<String> = (1..=inputs.len()).map(|i| format!("input{i}")).collect();
        let streams = inputs.iter().filter(|r| r.is_stream()).count();
        if streams == 0 {
            let tables: Vec<(&str, &TableData)> = names
                .iter()
                .zip(&inputs)
                .filter_map(|(n, r)| match r {
                    Rows::Table(t) => Some((n.as_str(), t.as_ref())),
                    Rows::Stream(_) => None,
                })
                .collect();
            return run_on_tables(ctx, &sql, &tables).await;
        }
        if streams < inputs.len() {
            return Err(Error::Invalid(format!(
                "input '{}': a union takes tables or streams, not both",
                INPUTS.name
            )));
        }
        if config.union_type == UnionType::Distinct {
            return Err(super::transform::not_on_a_stream(
                "UNION DISTINCT",
                "on streams use ALL (or drop_duplicates after it)",
            ));
        }
        // Streams: the columns and types the union would have; each input's records are
        // matched to them by name as they come.
        let schemas: Vec<(&str, SchemaRef)> = names
            .iter()
            .zip(&inputs)
            .map(|(n, r)| (n.as_str(), r.schema()))
            .collect();
        let out_schema = planned_schema(&sql, &schemas).await?;
        let records = output_topic(ctx, &ROWS_OUT, out_schema.clone())?;
        let wiring = Wiring::new().output(&ROWS_OUT, records);
        let ops = inputs
            .iter()
            .filter_map(|r| match r {
                Rows::Stream(s) => Some(s),
                Rows::Table(_) => None,
            })
            .map(|s| {
                (
                    subscribe(s, ctx.id, wiring.metrics()),
                    ByName {
                        schema: out_schema.clone(),
                    },
                    wiring.producers(),
                )
            })
            .collect();
        Ok(wiring.operators(ops, ReadOptions::default()))
    }
}

/// The statement: every column any input has, in first-seen order; each input selects
/// them by name, null where it lacks one.
fn statement(config: &UnionConfig, inputs: &[&[String]]) -> String {
    let mut all: Vec<&String> = Vec::new();
    for cols in inputs {
        for c in cols.iter() {
            if !all.contains(&c) {
                all.push(c);
            }
        }
    }
    let op = match config.union_type {
        UnionType::All => "UNION ALL",
        UnionType::Distinct => "UNION",
    };
    inputs
        .iter()
        .enumerate()
        .map(|(i, cols)| {
            let items = if all.is_empty() {
                "*".to_owned()
            } else {
                all.iter()
                    .map(|c| {
                        if cols.contains(c) {
                            ident(c)
                        } else {
                            format!("NULL AS {}", ident(c))
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!("SELECT {items} FROM input{}", i + 1)
        })
        .collect::<Vec<_>>()
        .join(&format!("\n{op}\n"))
}

/// Matches a stream's records to the union's columns by name.
struct ByName {
    schema: SchemaRef,
}

impl Operator for ByName {
    async fn process(&mut self, read: Vec<Delivery>, out: &Outputs) -> Result<Hold> {
        for d in read {
            let batch = d.batch;
            let n = batch.num_rows();
            let columns = self
                .schema
                .fields()
                .iter()
                .map(|f| match batch.column_by_name(f.name()) {
                    Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
                    Some(c) => Ok(cast(c, f.data_type())?),
                    None => Ok(new_null_array(f.data_type(), n)),
                })
                .collect::<Result<Vec<_>>>()?;
            let aligned = RecordBatch::try_new(self.schema.clone(), columns)?;
            if n > 0 {
                out.send(&ROWS_OUT, aligned).await?;
            }
        }
        Ok(Hold::Released)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_match_by_name_and_missing_ones_are_null() {
        let a = ["id", "page"].map(String::from);
        let b = ["page", "referrer"].map(String::from);
        assert_eq!(
            statement(&UnionConfig::default(), &[&a, &b]),
            "SELECT \"id\", \"page\", NULL AS \"referrer\" FROM input1\nUNION ALL\nSELECT NULL AS \"id\", \"page\", \"referrer\" FROM input2"
        );
    }
}
