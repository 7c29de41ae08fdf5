//! Table sink: keeps the latest N rows of a stream for a live table, bounded in memory
//! whatever the input rate, and sends them as a preview about twice a second.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{ConfigRules, NodeContext, NodeOutput, NodeStats};
use crate::arrow::array::RecordBatch;
use crate::error::Result;
use crate::stream::metrics::NodeMetrics;

/// Table sink settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TableSinkConfig {
    /// Rows kept.
    pub rows: usize,
}

impl Default for TableSinkConfig {
    fn default() -> Self {
        Self { rows: 100 }
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

/// Wires the sink to its input stream.
pub async fn run(config: &TableSinkConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let input = ctx.stream_input("records")?;
    let schema = input.schema().clone();
    let (mut consumer, metrics) = super::stream::subscribe(&input, &ctx.node.id);
    let m = metrics.clone();
    let events = ctx.events.clone();
    let node = ctx.node.id.clone();
    let limit = config.rows;
    let task = async move {
        let mut latest = LatestRows::new(limit);
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
                latest.push(d.batch);
                dirty = true;
            }
            if dirty && (ended || last_preview.elapsed() >= Duration::from_millis(500)) {
                events.preview(&node, "rows", schema.clone(), latest.batches(), total);
                last_preview = Instant::now();
                dirty = false;
            }
            if ended {
                break;
            }
        }
        Ok(NodeStats {
            records_in: total,
            records_out: latest.len() as u64,
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
