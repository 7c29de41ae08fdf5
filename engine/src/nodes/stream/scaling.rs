//! A stream's shards changing while it runs: the inspector's shard count
//! (`UpdateShardCount`, uniform scaling) and, for an on-demand stream under AWS realism,
//! the scaling Kinesis does by itself.

use std::sync::Arc;

use super::{StreamConfig, StreamMode};
use crate::error::Result;
use crate::nodes::NodeConfig;
use crate::stream::topic::{Reshard, Topic};

/// A stream's shard count changed in the inspector while it runs: `UpdateShardCount`
/// with uniform scaling, within its limits (at most double, at least half the open
/// shards).
pub(super) struct LiveShards {
    pub(super) settings: tokio::sync::watch::Receiver<NodeConfig>,
    pub(super) topic: Arc<Topic>,
    pub(super) events: crate::api::EventSink,
    pub(super) node: String,
    pub(super) durable: bool,
    /// An on-demand stream under AWS realism scales itself.
    pub(super) on_demand: Option<OnDemand>,
}

/// How Kinesis scales an on-demand stream: "Data streams in on-demand mode accommodate
/// up to double their previous peak write throughput observed in the last 30 days. As
/// your data stream's write throughput hits a new peak, Kinesis Data Streams scales the
/// data stream's capacity automatically" (Kinesis Data Streams Developer Guide, on-demand
/// mode). A new stream takes 4 MB/s and 4,000 records/s (4 shards); the peak of records
/// and bytes written per second is measured every second, and the stream is resharded
/// to twice the peak's worth of shards (1 MiB/s and 1,000 records/s each), up to 200 MB/s
/// (200 shards), when that is more than it has. Until then a put beyond the capacity is
/// throttled, as AWS throttles traffic that more than doubles its peak quickly.
#[derive(Debug)]
pub(super) struct OnDemand {
    last: (u64, u64),
    at: std::time::Instant,
    peak_records: f64,
    peak_bytes: f64,
}

impl OnDemand {
    /// The most shards an on-demand stream scales to (200 MB/s by default).
    pub(super) const MAX_SHARDS: usize = 200;

    pub(super) fn new(topic: &Topic) -> Self {
        Self {
            last: topic.put_totals(),
            at: std::time::Instant::now(),
            peak_records: 0.0,
            peak_bytes: 0.0,
        }
    }

    /// The shards twice the peak so far needs, after measuring the last interval.
    fn target(&mut self, now: (u64, u64)) -> usize {
        let secs = self.at.elapsed().as_secs_f64().max(0.5);
        self.at = std::time::Instant::now();
        let records = now.0.saturating_sub(self.last.0) as f64 / secs;
        let bytes = now.1.saturating_sub(self.last.1) as f64 / secs;
        self.last = now;
        self.peak_records = self.peak_records.max(records);
        self.peak_bytes = self.peak_bytes.max(bytes);
        let by_records = (2.0 * self.peak_records / 1000.0).ceil() as usize;
        let by_bytes = (2.0 * self.peak_bytes / 1_048_576.0).ceil() as usize;
        by_records
            .max(by_bytes)
            .clamp(super::ON_DEMAND_SHARDS, Self::MAX_SHARDS)
    }
}

impl LiveShards {
    /// Runs `task`, resharding when the node's shard count changes.
    pub(super) async fn while_running(
        mut self,
        mut task: crate::nodes::context::StreamTask,
    ) -> Result<crate::api::NodeStats> {
        let mut watching = true;
        let second = std::time::Duration::from_secs(1);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + second, second);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                stats = &mut task => return stats,
                _ = tick.tick(), if self.on_demand.is_some() => self.scale_on_demand(),
                changed = self.settings.changed(), if watching => match changed {
                    Ok(()) => {
                        let config = self.settings.borrow_and_update().clone();
                        if let NodeConfig::Stream(c) = config {
                            self.shard_count_changed(&c);
                        }
                    }
                    Err(_) => watching = false,
                },
            }
        }
    }

    /// Scales an on-demand stream to twice its peak write throughput.
    fn scale_on_demand(&mut self) {
        let Some(od) = self.on_demand.as_mut() else {
            return;
        };
        let target = od.target(self.topic.put_totals());
        if target <= self.topic.open_shard_count() {
            return;
        }
        let by = format!(
            "on-demand scaling (a new peak of {:.0} records/s, {:.2} MB/s written: capacity for twice that)",
            od.peak_records,
            od.peak_bytes / 1e6
        );
        if let Err(e) = self.reshard_to(target, &by) {
            self.events
                .warn(&self.node, format!("on-demand scaling failed: {e}"));
            self.on_demand = None;
        }
    }

    /// Reshards to `target` open shards (uniform scaling) and logs what changed, `by`
    /// whom.
    fn reshard_to(&self, target: usize, by: &str) -> Result<()> {
        let open = self.topic.open_shard_count();
        let opened = self.topic.reshard(Reshard::UniformScaling(target))?;
        if !opened.is_empty() {
            self.events
                .info(&self.node, self.topic.reshard_summary(open, &opened, by));
        }
        Ok(())
    }

    fn shard_count_changed(&self, c: &StreamConfig) {
        let open = self.topic.open_shard_count();
        let target = c.shard_count();
        if target == open {
            return;
        }
        let keep = |why: String| {
            self.events.warn(
                &self.node,
                format!("shards {open} → {target} not applied while running: {why}; the stream keeps {open} open shards"),
            );
        };
        if c.stream_mode == StreamMode::OnDemand {
            return keep("stream_mode changes apply from the next run".to_owned());
        }
        if self.durable {
            return keep("a durable stream keeps its shards during a run (the new count applies from the next run)".to_owned());
        }
        if target > open * 2 || target * 2 < open {
            return keep(format!(
                "UpdateShardCount scales to at most double and at least half the open shards ({}..={})",
                open.div_ceil(2),
                open * 2
            ));
        }
        if let Err(why) = self.topic.count_scaling() {
            return keep(why);
        }
        if let Err(e) = self.reshard_to(target, "the inspector (UpdateShardCount, UNIFORM_SCALING)")
        {
            keep(e.to_string());
        }
    }
}
