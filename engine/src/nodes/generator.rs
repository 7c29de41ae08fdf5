//! Generator source: synthetic clickstream, IoT or payment events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{ConfigRules, NodeContext, NodeOutput, NodeStats, Value};
use crate::error::{Error, Result};
use crate::stream::generator::{EventKind, Generator, GeneratorSpec};
use crate::stream::metrics::NodeMetrics;

/// Generator settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeneratorConfig {
    /// clickstream, iot or payments.
    pub event: EventKind,
    /// Events per second; 0 is as fast as possible.
    pub rate_per_sec: f64,
    /// Events in all; 0 is endless (until stopped).
    pub count: u64,
    /// Distinct users, devices or accounts.
    pub keys: u64,
    /// Fraction of events that arrive late (event time moved back).
    pub late_fraction: f64,
    /// How late a late event is at most, in ms.
    pub max_lateness_ms: i64,
    /// Random seed: the same seed gives the same events.
    pub seed: u64,
    /// Events per batch.
    pub batch_size: usize,
    /// Event time of the first event (RFC 3339).
    pub start_time: String,
    /// `synthetic`: event times advance from start_time at the rate (deterministic);
    /// `wall`: events carry the time they were generated (for live latency).
    pub clock: String,
    /// Synthetic clock: event time between consecutive events, ms; 0 follows the rate
    /// (1000 / rate_per_sec). Larger steps compress a long stretch of event time into a
    /// short run (e.g. an hour of windows in a minute).
    pub time_step_ms: f64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            event: EventKind::Clickstream,
            rate_per_sec: 1000.0,
            count: 10_000,
            keys: 1000,
            late_fraction: 0.0,
            max_lateness_ms: 5000,
            seed: 42,
            batch_size: 1000,
            start_time: "2024-01-01T00:00:00Z".to_owned(),
            clock: "synthetic".to_owned(),
            time_step_ms: 0.0,
        }
    }
}

impl ConfigRules for GeneratorConfig {
    fn validate(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.rate_per_sec < 0.0 || !self.rate_per_sec.is_finite() {
            out.push("rate_per_sec: must be 0 (as fast as possible) or more".to_owned());
        }
        if self.keys == 0 {
            out.push("keys: must be at least 1".to_owned());
        }
        if !(0.0..=1.0).contains(&self.late_fraction) {
            out.push("late_fraction: must be between 0 and 1".to_owned());
        }
        if self.time_step_ms < 0.0 || !self.time_step_ms.is_finite() {
            out.push("time_step_ms: must be 0 (follow the rate) or more".to_owned());
        }
        if self.batch_size == 0 {
            out.push("batch_size: must be at least 1".to_owned());
        }
        if !["synthetic", "wall"].contains(&self.clock.as_str()) {
            out.push(format!("clock: '{}' is not synthetic or wall", self.clock));
        }
        if chrono::DateTime::parse_from_rfc3339(&self.start_time).is_err() {
            out.push(format!(
                "start_time: '{}' is not an RFC 3339 time",
                self.start_time
            ));
        }
        out
    }
}

/// Starts generating into the `events` output.
pub async fn run(config: &GeneratorConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let start_time_ms = chrono::DateTime::parse_from_rfc3339(&config.start_time)
        .map_err(|e| Error::Invalid(format!("start_time: {e}")))?
        .timestamp_millis();
    let mut generator = Generator::new(GeneratorSpec {
        kind: config.event,
        keys: config.keys,
        late_fraction: config.late_fraction,
        max_lateness_ms: config.max_lateness_ms,
        start_time_ms,
        spacing_ms: if config.time_step_ms > 0.0 {
            config.time_step_ms
        } else if config.rate_per_sec > 0.0 {
            1000.0 / config.rate_per_sec
        } else {
            1.0
        },
        seed: config.seed,
        wall_clock: config.clock == "wall",
    })?;
    let topic = super::stream::output_topic(&ctx.node.id, generator.schema().clone())?;
    let producer = topic.add_producer();
    let metrics = Arc::new(NodeMetrics::default());
    let m = metrics.clone();
    let stop = ctx.stop.clone();
    let config = config.clone();
    let task = async move {
        let start = Instant::now();
        let mut sent: u64 = 0;
        while (config.count == 0 || sent < config.count) && !stop.is_set() {
            let n = if config.count == 0 {
                config.batch_size as u64
            } else {
                (config.count - sent).min(config.batch_size as u64)
            };
            let batch = generator.next_batch(n as usize)?;
            let bytes = batch.get_array_memory_size() as u64;
            let t = Instant::now();
            let blocked = producer.send(batch).await?;
            NodeMetrics::add(&m.blocked_us, blocked.as_micros() as u64);
            NodeMetrics::add(&m.batch_latency_us, t.elapsed().as_micros() as u64);
            NodeMetrics::add(&m.batches, 1);
            NodeMetrics::add(&m.records_out, n);
            NodeMetrics::add(&m.bytes_out, bytes);
            sent += n;
            if config.rate_per_sec > 0.0 {
                let due = Duration::from_secs_f64(sent as f64 / config.rate_per_sec);
                let elapsed = start.elapsed();
                if due > elapsed {
                    tokio::select! {
                        _ = tokio::time::sleep(due - elapsed) => {}
                        _ = stop.wait() => {}
                    }
                }
            }
        }
        producer.close();
        Ok(NodeStats {
            records_out: sent,
            bytes_out: m.bytes_out.load(std::sync::atomic::Ordering::Relaxed),
            ..Default::default()
        })
    };
    let mut out = NodeOutput::streaming(Box::pin(task), metrics);
    out.outputs.insert("events", Value::Stream(topic));
    Ok(out)
}
