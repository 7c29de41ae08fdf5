//! Table sink: keeps the latest N rows of a stream for a live table, bounded in memory
//! whatever the input rate, and sends them as a preview about twice a second.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{ConfigRules, NodeContext, NodeOutput, NodeStats};
use crate::arrow::array::{ArrayRef, RecordBatch, TimestampMillisecondArray};
use crate::arrow::compute::cast;
use crate::arrow::datatypes::SchemaRef;
use crate::arrow::datatypes::{DataType, TimeUnit};
use crate::engine::EventSink;
use crate::error::{Error, Result};
use crate::stream::metrics::{LatencyHistogram, NodeMetrics};
use crate::stream::topic::Consumer;
use crate::stream::topic::now_ms;

/// Table sink settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TableSinkConfig {
    /// Rows kept.
    pub rows: usize,
    /// A timestamp column (e.g. `event_time`) to measure end-to-end latency by: the time
    /// each row arrives here minus its value. Empty: not measured.
    pub latency_column: String,
}

impl Default for TableSinkConfig {
    fn default() -> Self {
        Self {
            rows: 100,
            latency_column: String::new(),
        }
    }
}

impl ConfigRules for TableSinkConfig {
    fn validate(&self) -> Vec<String> {
        if self.rows == 0 || self.rows > 1_000_000 {
            vec!["rows: must be between 1 and 1000000".to_owned()]
        } else {
            Vec::new()
        }
    }
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

/// What a live sink does with its records.
pub trait LiveSink {
    /// Takes a batch of records.
    fn add(&mut self, batch: RecordBatch) -> Result<()>;
    /// What the preview shows: schema, rows, and the count the preview stands for.
    fn preview(&self, records_in: u64) -> Result<(SchemaRef, Vec<RecordBatch>, u64)>;
}

/// The loop of a live sink: reads the input until it ends, hands each batch to `sink`,
/// acknowledges what it read, and previews `port` about twice a second and at the end.
/// Returns the records read.
pub async fn live_sink_loop(
    consumer: &mut Consumer,
    m: &NodeMetrics,
    events: &EventSink,
    node: &str,
    port: &str,
    sink: &mut (dyn LiveSink + Send),
) -> Result<u64> {
    let mut total = 0u64;
    let mut last_preview = Instant::now();
    let mut dirty = false;
    loop {
        let next = consumer
            .next_timeout(65_536, Duration::from_millis(500))
            .await;
        let ended = next.is_none();
        for d in next.unwrap_or_default() {
            let n = d.batch.num_rows() as u64;
            total += n;
            NodeMetrics::add(&m.records_in, n);
            NodeMetrics::add(&m.bytes_in, d.batch.get_array_memory_size() as u64);
            sink.add(d.batch)?;
            dirty = true;
        }
        consumer.ack()?;
        if dirty && (ended || last_preview.elapsed() >= Duration::from_millis(500)) {
            let (schema, batches, rows) = sink.preview(total)?;
            events.preview(node, port, schema, batches, rows);
            last_preview = Instant::now();
            dirty = false;
        }
        if ended {
            return Ok(total);
        }
    }
}

/// The table sink's state: the newest rows and the latency histogram.
struct TableState {
    schema: SchemaRef,
    latest: LatestRows,
    latency: LatencyHistogram,
    latency_index: Option<usize>,
}

impl LiveSink for TableState {
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
}

/// Wires the sink to its input stream.
pub async fn run(config: &TableSinkConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let input = ctx.stream_input("records")?;
    let schema = input.schema().clone();
    let (mut consumer, metrics) = super::stream::subscribe(&input, &ctx.node.id);
    let m = metrics.clone();
    let events = ctx.events.clone();
    let node = ctx.node.id.clone();
    let limit = config.rows;
    let latency_index = if config.latency_column.is_empty() {
        None
    } else {
        Some(schema.index_of(&config.latency_column).map_err(|_| {
            Error::Invalid(format!(
                "latency_column: '{}' is not in the stream's columns",
                config.latency_column
            ))
        })?)
    };
    let task = async move {
        let mut sink = TableState {
            schema,
            latest: LatestRows::new(limit),
            latency: LatencyHistogram::default(),
            latency_index,
        };
        let total = live_sink_loop(&mut consumer, &m, &events, &node, "rows", &mut sink).await?;
        let TableState {
            latest, latency, ..
        } = sink;
        Ok(NodeStats {
            records_in: total,
            records_out: latest.len() as u64,
            detail: if latency.count() > 0 {
                serde_json::json!({ "latency": latency.to_json() })
            } else {
                serde_json::Value::Null
            },
            ..Default::default()
        })
    };
    Ok(NodeOutput::streaming(Box::pin(task), metrics))
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
