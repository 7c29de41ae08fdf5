//! Drop duplicates node (Glue Studio's Drop Duplicates): keeps one row per distinct
//! value of the chosen columns (or of the whole row). On a table, one row of each key
//! (which one is not defined, as with Spark's dropDuplicates); on a stream, the first
//! record of each key seen in this run (the
//! at-least-once duplicates a Kinesis producer's retries make), remembering at most
//! `max_keys` keys, the oldest forgotten first.

use std::collections::{HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::form::{Editor, Field, FieldProblem, Problems};
use super::operator::{Hold, Operator, Outputs, ReadOptions, Wiring, output_topic};
use super::transform::{
    ROWS_IN, ROWS_OUT, Rows, arriving_at, column_indices, ident, one_rows, run_on_tables,
};
use super::{Category, Kind, NodeContext, NodeOutput, PortSpec};
use crate::arrow::array::{BooleanArray, RecordBatch};
use crate::arrow::compute::filter_record_batch;
use crate::arrow::row::{RowConverter, SortField};
use crate::error::Result;
use crate::stream::topic::Delivery;

/// Drop duplicates settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DropDuplicatesConfig {
    /// The key columns (empty: the whole row).
    pub columns: Vec<String>,
    /// On a stream: keys remembered at most (the oldest are forgotten first).
    pub max_keys: usize,
}

impl Default for DropDuplicatesConfig {
    fn default() -> Self {
        Self {
            columns: Vec::new(),
            max_keys: 1_000_000,
        }
    }
}

/// The drop duplicates node.
pub struct DropDuplicatesKind;

/// The column numbering rows within a key (left out of the output).
const ROW_NUMBER: &str = "__row_in_key";

impl Kind for DropDuplicatesKind {
    type Config = DropDuplicatesConfig;
    const NAME: &'static str = "drop_duplicates";
    const CATEGORY: Category = Category::Transforms;
    const DESCRIPTION: &'static str = "Keeps one row per distinct value of the chosen columns or of the whole row (Glue's DropDuplicates); on a stream, drops records whose key was already seen.";
    const ICON: &'static str = "✂";
    const INPUTS: &'static [PortSpec] = &[ROWS_IN];
    const OUTPUTS: &'static [PortSpec] = &[ROWS_OUT];
    const FIELDS: &'static [Field] = &[
        Field::new(
            "columns",
            "Key columns",
            Editor::Lines,
            "Rows with equal values in these columns are duplicates, one per line (Columns); empty compares whole rows.",
        ),
        Field::new(
            "max_keys",
            "Keys remembered (streams)",
            Editor::Number,
            "On a stream: how many keys are remembered; past it the oldest are forgotten, so a duplicate arriving much later passes.",
        ),
    ];

    fn validate(config: &DropDuplicatesConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        p.check(config.max_keys > 0, "max_keys", "must be at least 1");
        p.into_vec()
    }

    fn sql(config: &DropDuplicatesConfig, arriving: &[(String, Vec<String>)]) -> Option<String> {
        Some(statement(config, arriving_at(arriving, &ROWS_IN)))
    }

    async fn run(config: &DropDuplicatesConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        let input = one_rows(ctx, &ROWS_IN)?;
        let schema = input.schema();
        let keys = column_indices("columns", &config.columns, &schema)?;
        match &input {
            Rows::Table(t) => {
                let sql = statement(config, &input.columns());
                run_on_tables(ctx, &sql, &[("input", t)]).await
            }
            Rows::Stream(s) => {
                let keys = if keys.is_empty() {
                    (0..schema.fields().len()).collect()
                } else {
                    keys
                };
                let fields = keys
                    .iter()
                    .map(|i| SortField::new(schema.field(*i).data_type().clone()))
                    .collect();
                let op = FirstSeen {
                    keys,
                    converter: RowConverter::new(fields)?,
                    seen: HashSet::new(),
                    order: VecDeque::new(),
                    max_keys: config.max_keys.max(1),
                };
                let records = output_topic(ctx, &ROWS_OUT, schema.clone())?;
                Ok(Wiring::new().output(&ROWS_OUT, records).operator(
                    ctx.id,
                    s,
                    op,
                    ReadOptions::default(),
                ))
            }
        }
    }
}

/// The statement: DISTINCT for whole rows; else one row of each key.
fn statement(config: &DropDuplicatesConfig, columns: &[String]) -> String {
    if config.columns.is_empty() {
        return "SELECT DISTINCT *\nFROM input".to_owned();
    }
    let keys: Vec<String> = config.columns.iter().map(|c| ident(c)).collect();
    let out = if columns.is_empty() {
        format!("* EXCLUDE ({})", ident(ROW_NUMBER))
    } else {
        columns
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "SELECT {out}\nFROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY {}) AS {} FROM input)\nWHERE {} = 1",
        keys.join(", "),
        ident(ROW_NUMBER),
        ident(ROW_NUMBER)
    )
}

/// Passes the first record of each key.
struct FirstSeen {
    keys: Vec<usize>,
    converter: RowConverter,
    seen: HashSet<Box<[u8]>>,
    order: VecDeque<Box<[u8]>>,
    max_keys: usize,
}

impl Operator for FirstSeen {
    async fn process(&mut self, read: Vec<Delivery>, out: &Outputs) -> Result<Hold> {
        for d in read {
            let batch: RecordBatch = d.batch;
            let columns: Vec<_> = self.keys.iter().map(|i| batch.column(*i).clone()).collect();
            let rows = self.converter.convert_columns(&columns)?;
            let mut keep = Vec::with_capacity(batch.num_rows());
            for row in rows.iter() {
                let key: Box<[u8]> = row.as_ref().into();
                if self.seen.contains(&key) {
                    keep.push(false);
                    continue;
                }
                if self.order.len() >= self.max_keys
                    && let Some(old) = self.order.pop_front()
                {
                    self.seen.remove(&old);
                }
                self.seen.insert(key.clone());
                self.order.push_back(key);
                keep.push(true);
            }
            let kept = filter_record_batch(&batch, &BooleanArray::from(keep))?;
            if kept.num_rows() > 0 {
                out.send(&ROWS_OUT, kept).await?;
            }
        }
        Ok(Hold::Released)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_rows_use_distinct_and_keys_keep_the_first_row() {
        assert_eq!(
            statement(&DropDuplicatesConfig::default(), &[]),
            "SELECT DISTINCT *\nFROM input"
        );
        let config = DropDuplicatesConfig {
            columns: vec!["event_id".into()],
            ..Default::default()
        };
        let cols = ["event_id", "page"].map(String::from);
        assert_eq!(
            statement(&config, &cols),
            "SELECT \"event_id\", \"page\"\nFROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY \"event_id\") AS \"__row_in_key\" FROM input)\nWHERE \"__row_in_key\" = 1"
        );
    }
}
