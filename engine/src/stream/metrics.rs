//! Live per-node metrics of streaming nodes, sampled about once a second.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;

use super::topic::LagProbe;

/// Counters a streaming node updates as it works.
#[derive(Debug, Default)]
pub struct NodeMetrics {
    /// Records read.
    pub records_in: AtomicU64,
    /// Records written.
    pub records_out: AtomicU64,
    /// Bytes read.
    pub bytes_in: AtomicU64,
    /// Bytes written.
    pub bytes_out: AtomicU64,
    /// Records that failed.
    pub errors: AtomicU64,
    /// Batches processed.
    pub batches: AtomicU64,
    /// Sum of batch latencies, microseconds.
    pub batch_latency_us: AtomicU64,
    /// Time spent waiting for room downstream, microseconds (back-pressure).
    pub blocked_us: AtomicU64,
    /// Consumers whose lag is reported.
    pub consumers: Mutex<Vec<LagProbe>>,
}

impl NodeMetrics {
    /// Adds to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// One sample of a node's metrics, with rates over the last interval.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MetricsSample {
    /// Records read per second.
    pub records_in_per_sec: f64,
    /// Records written per second.
    pub records_out_per_sec: f64,
    /// Bytes read per second.
    pub bytes_in_per_sec: f64,
    /// Bytes written per second.
    pub bytes_out_per_sec: f64,
    /// Records read so far.
    pub records_in: u64,
    /// Records written so far.
    pub records_out: u64,
    /// Failed records so far.
    pub errors: u64,
    /// Records behind the tip of the input stream.
    pub lag_records: u64,
    /// Milliseconds behind the tip of the input stream.
    pub lag_ms: u64,
    /// Mean batch latency over the interval, milliseconds.
    pub batch_latency_ms: f64,
    /// Share of the interval spent waiting for downstream room (0–1).
    pub backpressure: f64,
}

/// Turns counters into rates between samples.
#[derive(Debug)]
pub struct Sampler {
    last: Instant,
    prev: [u64; 7],
}

impl Default for Sampler {
    fn default() -> Self {
        Self {
            last: Instant::now(),
            prev: [0; 7],
        }
    }
}

impl Sampler {
    /// Samples `m` now.
    pub fn sample(&mut self, m: &NodeMetrics) -> MetricsSample {
        let now = Instant::now();
        let secs = now.duration_since(self.last).as_secs_f64().max(1e-3);
        let cur = [
            m.records_in.load(Ordering::Relaxed),
            m.records_out.load(Ordering::Relaxed),
            m.bytes_in.load(Ordering::Relaxed),
            m.bytes_out.load(Ordering::Relaxed),
            m.batches.load(Ordering::Relaxed),
            m.batch_latency_us.load(Ordering::Relaxed),
            m.blocked_us.load(Ordering::Relaxed),
        ];
        let d = |i: usize| cur[i].saturating_sub(self.prev[i]) as f64;
        let (mut lag_records, mut lag_ms) = (0, 0);
        if let Ok(cs) = m.consumers.lock() {
            for c in cs.iter() {
                let lag = c.lag();
                lag_records += lag.records;
                lag_ms = lag_ms.max(lag.millis);
            }
        }
        let sample = MetricsSample {
            records_in_per_sec: d(0) / secs,
            records_out_per_sec: d(1) / secs,
            bytes_in_per_sec: d(2) / secs,
            bytes_out_per_sec: d(3) / secs,
            records_in: cur[0],
            records_out: cur[1],
            errors: m.errors.load(Ordering::Relaxed),
            lag_records,
            lag_ms,
            batch_latency_ms: if d(4) > 0.0 {
                d(5) / d(4) / 1000.0
            } else {
                0.0
            },
            backpressure: (d(6) / 1e6 / secs).min(1.0),
        };
        self.prev = cur;
        self.last = now;
        sample
    }
}
