//! A stream node as a replay starts from it (`RunTarget::Replay`): nothing upstream runs;
//! the stream reads back what its durable folder retained from the replay's point and
//! appends it again, each batch at the time it first arrived, with the sequence numbers
//! it had, on a clock running as fast as possible. The folder is only read: the original
//! stream's segments and its readers' checkpoints stay as they were.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{RECORDS_OUT, StreamConfig, StreamReport};
use crate::api::ReplayFrom;
use crate::arrow::array::RecordBatch;
use crate::error::{Error, Result};
use crate::nodes::operator::{Outputs, Source, Wiring};
use crate::nodes::ports::FAILED_OUT;
use crate::nodes::{NodeContext, NodeOutput, NodeStats};
use crate::stream::durable;
use crate::stream::topic::Retention;

/// Where a durable stream keeps its records: `.tributary/streams/<node>/` beside the
/// project.
pub fn folder(base_dir: &Path, node: &str) -> PathBuf {
    base_dir
        .join(".tributary/streams")
        .join(crate::lake::sniff::normalize_name(node))
}

/// Where the replay of stream `node` from `from` starts on its clock: the arrival of the
/// first batch it replays. Refuses a stream that keeps nothing on disk, and a point past
/// everything it retained.
pub fn start_ms(
    config: &StreamConfig,
    base_dir: &Path,
    node: &str,
    from: &ReplayFrom,
) -> Result<i64> {
    if !config.durable {
        return Err(Error::Invalid(format!(
            "replay reads what stream '{node}' retained on disk: turn on its 'durable' setting and run the pipeline once"
        )));
    }
    let dir = folder(base_dir, node);
    let shards = durable::arrivals(&dir, config.shard_count())?;
    let first = shards
        .iter()
        .enumerate()
        .flat_map(|(s, batches)| {
            batches.iter().enumerate().filter_map(move |(i, (_, at))| {
                // A batch takes part when it (or, by sequence number, its end) is past
                // the point.
                let next = batches.get(i + 1).map_or(u64::MAX, |b| b.0);
                let wanted = match from {
                    ReplayFrom::TrimHorizon => true,
                    ReplayFrom::AtTimestamp(ms) => at >= ms,
                    ReplayFrom::AtSequenceNumber(n) => next > shard_point(n, s),
                };
                wanted.then_some(*at)
            })
        })
        .min();
    first.ok_or_else(|| {
        if shards.iter().all(Vec::is_empty) {
            Error::Invalid(format!(
                "stream '{node}' has retained nothing to replay under {}: run the pipeline once",
                dir.display()
            ))
        } else {
            Error::Invalid(format!(
                "stream '{node}' retained nothing from {} on",
                from.describe()
            ))
        }
    })
}

/// The point in shard `s` of sequence numbers given for every shard or per shard.
fn shard_point(numbers: &[u64], s: usize) -> u64 {
    match numbers {
        [one] => *one,
        many => many.get(s).copied().unwrap_or(0),
    }
}

/// Wires the stream as the replay's start: its retained records from `from` on, appended
/// again at their arrival times.
pub fn run(config: &StreamConfig, ctx: &NodeContext<'_>, from: &ReplayFrom) -> Result<NodeOutput> {
    let dir = folder(ctx.base_dir, ctx.id);
    let (schema, shards) = durable::read_records(&dir, config.shard_count())?;
    let Some(schema) = schema else {
        return Err(Error::Invalid(format!(
            "stream '{}' has retained nothing to replay under {}",
            ctx.id,
            dir.display()
        )));
    };
    // Where each shard ended: a shard with nothing to replay goes on from there.
    let ends: Vec<u64> = shards
        .iter()
        .map(|b| {
            b.last()
                .map_or(0, |(seq, _, batch)| seq + batch.num_rows() as u64)
        })
        .collect();
    // Each shard from the point on, batches cut at a sequence number.
    let shards: Vec<VecDeque<(u64, i64, RecordBatch)>> = shards
        .into_iter()
        .enumerate()
        .map(|(s, batches)| {
            batches
                .into_iter()
                .filter_map(|(seq, at, batch)| match from {
                    ReplayFrom::TrimHorizon => Some((seq, at, batch)),
                    ReplayFrom::AtTimestamp(ms) => (at >= *ms).then_some((seq, at, batch)),
                    ReplayFrom::AtSequenceNumber(n) => {
                        let point = shard_point(n, s);
                        let end = seq + batch.num_rows() as u64;
                        (end > point).then(|| {
                            let skip = point.saturating_sub(seq);
                            let rows = batch.num_rows() - skip as usize;
                            (seq + skip, at, batch.slice(skip as usize, rows))
                        })
                    }
                })
                .collect()
        })
        .collect();
    let records: u64 = shards
        .iter()
        .flatten()
        .map(|(_, _, b)| b.num_rows() as u64)
        .sum();
    // What was retained is replayed whole.
    let retention = Retention {
        max_age: None,
        max_bytes: None,
        keep_read: true,
    };
    let topic = config.topic(ctx, schema, retention)?;
    // Readers start where the replay does; records keep their sequence numbers.
    let next: Vec<u64> = shards
        .iter()
        .zip(&ends)
        .map(|(s, end)| s.front().map_or(*end, |(seq, _, _)| *seq))
        .collect();
    topic.start_sequences_at(&next);
    let failed = config.failed_topic(ctx)?;
    failed.add_producer().close();
    ctx.info(format!(
        "replay: {records} records from {} on, read from {} and appended at the times they arrived (simulated, as fast as possible); nothing upstream runs",
        from.describe(),
        dir.display()
    ));
    let wiring = Wiring::new()
        .output(&RECORDS_OUT, topic.clone())
        .output(&FAILED_OUT, failed);
    let source = Replayed {
        start_ms: ctx.clock.now_ms(),
        shards,
    };
    let mut out = wiring.source(source, 0.0, ctx.stop.clone());
    if let Some(task) = out.task.take() {
        out.task = Some(Box::pin(async move {
            let mut stats = task.await?;
            topic.readers_gone().await;
            stats.records_in = stats.records_out;
            stats.bytes_in = stats.bytes_out;
            Ok(stats.with_report(StreamReport {
                records_put: topic.totals().0,
                readers: topic.reader_count(),
                throttled_by_shard: Vec::new(),
                sizes: topic.put_sizes(),
                shard_hours: 0.0,
                fan_out_consumers: 0,
                fan_out_bytes: 0,
            }))
        }));
    }
    Ok(out)
}

/// The retained batches, handed on in the order they arrived, each when the clock reaches
/// its arrival.
struct Replayed {
    /// The clock's time when the source started: the first batch's arrival.
    start_ms: i64,
    /// Per shard, the batches still to replay.
    shards: Vec<VecDeque<(u64, i64, RecordBatch)>>,
}

impl Replayed {
    /// The shard whose next batch arrived first.
    fn next_shard(&self) -> Option<usize> {
        (0..self.shards.len())
            .filter_map(|s| self.shards[s].front().map(|(_, at, _)| (*at, s)))
            .min()
            .map(|(_, s)| s)
    }
}

impl Source for Replayed {
    async fn produce(&mut self, out: &Outputs) -> Result<bool> {
        let Some(s) = self.next_shard() else {
            return Ok(false);
        };
        if let Some((_, _, batch)) = self.shards[s].pop_front() {
            out.send(&RECORDS_OUT, batch).await?;
        }
        Ok(self.next_shard().is_some())
    }

    fn due(&self) -> Option<Duration> {
        let s = self.next_shard()?;
        let at = self.shards[s].front()?.1;
        Some(Duration::from_millis((at - self.start_ms).max(0) as u64))
    }

    fn report(self, _stats: &mut NodeStats) {}
}
