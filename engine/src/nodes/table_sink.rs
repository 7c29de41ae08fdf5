//! Table sink: keeps the latest N rows of a stream for a live table, bounded in memory
//! whatever the input rate, and sends them as a preview about twice a second.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::form::{Editor, Field, FieldProblem, Problems};
use super::operator::{LiveState, LiveView, ReadOptions, Wiring};
use super::ports::RECORDS_IN;
use super::start::StartingPosition;
use super::{Category, Kind, NodeContext, NodeOutput, NodeStats, PortSpec};
use crate::arrow::array::{ArrayRef, RecordBatch, TimestampMillisecondArray};
use crate::arrow::compute::cast;
use crate::arrow::datatypes::SchemaRef;
use crate::arrow::datatypes::{DataType, TimeUnit};
use crate::error::{Error, Result};
use crate::stream::metrics::LatencyHistogram;
use crate::stream::topic::now_ms;

/// The name the live table's rows are previewed under.
pub const PREVIEW: &str = "rows";

/// Table sink settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TableSinkConfig {
    /// Rows kept.
    pub rows: usize,
    /// A timestamp column (e.g. `event_time`) to measure end-to-end latency by: the time
    /// each row arrives here minus its value. Empty: not measured.
    pub latency_column: String,
    /// Where reading starts without a checkpoint (`StartingPosition`).
    pub starting_position: StartingPosition,
    /// For `AT_TIMESTAMP`: seconds since the Unix epoch.
    pub starting_position_timestamp: f64,
    /// For `AT_`/`AFTER_SEQUENCE_NUMBER`: one sequence number, or one per shard.
    pub starting_sequence_number: String,
}

impl Default for TableSinkConfig {
    fn default() -> Self {
        Self {
            rows: 100,
            latency_column: String::new(),
            starting_position: StartingPosition::TrimHorizon,
            starting_position_timestamp: 0.0,
            starting_sequence_number: String::new(),
        }
    }
}

/// The live table node.
pub struct TableSinkKind;

impl Kind for TableSinkKind {
    type Config = TableSinkConfig;
    const NAME: &'static str = "table_sink";
    const CATEGORY: Category = Category::Outputs;
    const DESCRIPTION: &'static str = "A live table of a stream's latest rows, bounded in memory.";
    const ICON: &'static str = "☰";
    const INPUTS: &'static [PortSpec] = &[RECORDS_IN];
    const OUTPUTS: &'static [PortSpec] = &[];
    const FIELDS: &'static [Field] = &[
        Field::new(
            "rows",
            "Rows kept",
            Editor::Number,
            "The newest rows kept and shown.",
        ),
        Field::new(
            "latency_column",
            "Latency column",
            Editor::Column,
            "A timestamp column (e.g. event_time) to measure end-to-end latency by: the time each row arrives here minus its value. Empty: not measured.",
        ),
        super::start::FIELDS[0],
        super::start::FIELDS[1],
        super::start::FIELDS[2],
    ];

    fn validate(config: &TableSinkConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        p.check(
            (1..=1_000_000).contains(&config.rows),
            "rows",
            "must be between 1 and 1000000",
        );
        super::start::check(
            &mut p,
            config.starting_position,
            config.starting_position_timestamp,
            &config.starting_sequence_number,
        );
        p.into_vec()
    }

    async fn run(config: &TableSinkConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        run(config, ctx)
    }
}

/// What a live table reports: the end-to-end latency, when measured.
#[derive(Clone, Debug, Serialize)]
pub struct TableSinkReport {
    /// Latency percentiles.
    pub latency: serde_json::Value,
}

/// Keeps the newest `limit` rows of the batches pushed into it.
#[derive(Debug)]
pub struct LatestRows {
    limit: usize,
    batches: VecDeque<RecordBatch>,
    rows: usize,
}

impl LatestRows {
    /// Keeps at most `limit` rows.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            batches: VecDeque::new(),
            rows: 0,
        }
    }

    /// Adds rows, dropping the oldest beyond the limit.
    pub fn push(&mut self, batch: RecordBatch) {
        let batch = if batch.num_rows() > self.limit {
            batch.slice(batch.num_rows() - self.limit, self.limit)
        } else {
            batch
        };
        self.rows += batch.num_rows();
        self.batches.push_back(batch);
        while self.rows > self.limit {
            let Some(front) = self.batches.pop_front() else {
                break;
            };
            let excess = self.rows - self.limit;
            if front.num_rows() > excess {
                let kept = front.slice(excess, front.num_rows() - excess);
                self.rows -= excess;
                self.batches.push_front(kept);
            } else {
                self.rows -= front.num_rows();
            }
        }
    }

    /// The rows, oldest first.
    pub fn batches(&self) -> Vec<RecordBatch> {
        self.batches.iter().cloned().collect()
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no rows are held.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
}

/// Adds now minus each row's time to `latency`.
fn record_latency(latency: &mut LatencyHistogram, column: &ArrayRef) {
    let Ok(ms) = cast(column, &DataType::Timestamp(TimeUnit::Millisecond, None)) else {
        return;
    };
    let Some(ms) = ms.as_any().downcast_ref::<TimestampMillisecondArray>() else {
        return;
    };
    let now = now_ms();
    for t in ms.iter().flatten() {
        latency.add(now.saturating_sub(t).max(0) as u64);
    }
}

/// The table sink's state: the newest rows and the latency histogram.
struct TableState {
    schema: SchemaRef,
    latest: LatestRows,
    latency: LatencyHistogram,
    latency_index: Option<usize>,
}

impl LiveState for TableState {
    fn add(&mut self, batch: RecordBatch) -> Result<()> {
        if let Some(i) = self.latency_index {
            record_latency(&mut self.latency, batch.column(i));
        }
        self.latest.push(batch);
        Ok(())
    }

    fn preview(&self, records_in: u64) -> Result<(SchemaRef, Vec<RecordBatch>, u64)> {
        Ok((self.schema.clone(), self.latest.batches(), records_in))
    }

    fn report(self, stats: &mut NodeStats) {
        stats.records_out = self.latest.len() as u64;
        if self.latency.count() > 0 {
            stats.report = Some(Arc::new(TableSinkReport {
                latency: self.latency.to_json(),
            }));
        }
    }
}

/// Wires the sink to its input stream.
fn run(config: &TableSinkConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let input = ctx.stream(&RECORDS_IN)?;
    let schema = input.schema().clone();
    let latency_index = if config.latency_column.is_empty() {
        None
    } else {
        Some(schema.index_of(&config.latency_column).map_err(|_| {
            Error::no_such_column("latency_column", &config.latency_column, &schema)
        })?)
    };
    let state = TableState {
        schema,
        latest: LatestRows::new(config.rows),
        latency: LatencyHistogram::default(),
        latency_index,
    };
    let view = LiveView::new(ctx, PREVIEW, state);
    let options = ReadOptions {
        start: super::start::position(
            config.starting_position,
            config.starting_position_timestamp,
            &config.starting_sequence_number,
        ),
        ..Default::default()
    };
    Ok(Wiring::new().operator(ctx.id, &input, view, options))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::arrow::array::Int64Array;
    use crate::arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn keeps_only_the_newest_rows() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let mut l = LatestRows::new(5);
        for start in [0i64, 3, 6] {
            let b = RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(Int64Array::from_iter_values(start..start + 3))],
            )
            .unwrap();
            l.push(b);
        }
        let all: Vec<i64> = l
            .batches()
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(all, [4, 5, 6, 7, 8]);
    }
}
