//! Live per-node metrics of streaming nodes, sampled about once a second.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;

use std::sync::Arc;

use super::topic::{LagProbe, Topic};
pub use crate::api::stats::MetricsSample;

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
    /// Requests the AWS endpoint answered for the node.
    pub api_requests: AtomicU64,
    /// Of those, the ones answered with an error.
    pub api_errors: AtomicU64,
    /// Records a shard's write limit refused (counted at each refusal, as Kinesis's
    /// `WriteProvisionedThroughputExceeded`).
    pub throttled: AtomicU64,
    /// Consumers whose lag is reported.
    pub consumers: Mutex<Vec<LagProbe>>,
    /// The stream a stream node writes: its shards' traffic is reported.
    pub written: Mutex<Option<Arc<Topic>>>,
    /// The newest records sent on the node's first output, kept for the run's timeline
    /// once asked (`keep_recent`).
    pub recent: Mutex<Option<Recent>>,
}

/// The newest records a node sent, oldest first, at most `keep`.
#[derive(Debug, Default)]
pub struct Recent {
    keep: usize,
    rows: usize,
    batches: std::collections::VecDeque<crate::arrow::array::RecordBatch>,
}

impl NodeMetrics {
    /// Keeps the newest `rows` records the node sends on its first output from now on.
    pub fn keep_recent(&self, rows: usize) {
        if let Ok(mut r) = self.recent.lock() {
            *r = Some(Recent {
                keep: rows,
                ..Default::default()
            });
        }
    }

    /// Notes `batch`, sent on the node's first output (nothing unless asked to keep).
    pub fn sent(&self, batch: &crate::arrow::array::RecordBatch) {
        let Ok(mut r) = self.recent.lock() else {
            return;
        };
        let Some(r) = r.as_mut() else {
            return;
        };
        let n = batch.num_rows().min(r.keep);
        if n == 0 {
            return;
        }
        r.batches.push_back(batch.slice(batch.num_rows() - n, n));
        r.rows += n;
        while let Some(front) = r.batches.front() {
            if r.rows - front.num_rows() < r.keep {
                break;
            }
            r.rows -= front.num_rows();
            r.batches.pop_front();
        }
    }

    /// The newest records sent, oldest first (`None` when not kept or none yet).
    pub fn recent(&self) -> Option<Vec<crate::arrow::array::RecordBatch>> {
        let r = self.recent.lock().ok()?;
        let r = r.as_ref()?;
        (!r.batches.is_empty()).then(|| r.batches.iter().cloned().collect())
    }

    /// Adds to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// What limits refused this node: puts its shards refused (a stream) and reads its
    /// inputs' read limits held back (a reader, with AWS realism).
    pub fn throttled_total(&self) -> u64 {
        let read: u64 = self
            .consumers
            .lock()
            .map(|cs| cs.iter().map(|c| c.lag().read_throttled).sum())
            .unwrap_or(0);
        self.throttled.load(Ordering::Relaxed) + read
    }

    /// Records that retention dropped before this node's inputs read them; for a
    /// stream node, also those its stream dropped before some reader read them.
    pub fn expired(&self) -> u64 {
        let read = self
            .consumers
            .lock()
            .map(|cs| cs.iter().map(|c| c.lag().expired).sum())
            .unwrap_or(0);
        let written = self
            .written
            .lock()
            .ok()
            .and_then(|w| w.as_ref().map(|t| t.trimmed_unread()))
            .unwrap_or(0);
        read + written
    }

    /// Records of this node's input streams it has not read.
    pub fn unread(&self) -> u64 {
        self.consumers
            .lock()
            .map(|cs| cs.iter().map(|c| c.lag().records).sum())
            .unwrap_or(0)
    }

    /// The busiest shard of the stream this node writes: the one whose write limit
    /// refused the most records, or with none refused, the one written the most.
    pub fn hot_shard(&self) -> Option<u32> {
        let topic = self.written.lock().ok()?.clone()?;
        let throttled = topic.throttled_by_shard();
        let busiest = |v: &[u64]| {
            v.iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .max_by_key(|(i, n)| (**n, std::cmp::Reverse(*i)))
                .map(|(i, _)| i as u32)
        };
        busiest(&throttled).or_else(|| {
            let written: Vec<u64> = topic.shard_bounds().iter().map(|(_, next)| *next).collect();
            busiest(&written)
        })
    }
}

/// Turns counters into rates between samples.
#[derive(Debug)]
pub struct Sampler {
    last: Instant,
    prev: [u64; 9],
}

impl Default for Sampler {
    fn default() -> Self {
        Self {
            last: Instant::now(),
            prev: [0; 9],
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
            m.api_requests.load(Ordering::Relaxed),
            m.throttled_total(),
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
        let expired = m.expired();
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
            api_requests_per_sec: d(7) / secs,
            api_requests: cur[7],
            api_errors: m.api_errors.load(Ordering::Relaxed),
            throttled: cur[8],
            throttled_per_sec: d(8) / secs,
            hot_shard: m.hot_shard(),
            expired,
        };
        self.prev = cur;
        self.last = now;
        sample
    }
}

/// What a run's metrics samples of one node add up to, for the CLI's summary.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MetricsSummary {
    /// Samples seen (about one a second).
    pub samples: u64,
    /// Highest records-in rate of any sample.
    pub peak_records_in_per_sec: f64,
    /// Highest records-out rate of any sample.
    pub peak_records_out_per_sec: f64,
    /// Mean records-in rate over the samples.
    pub mean_records_in_per_sec: f64,
    /// Mean records-out rate over the samples.
    pub mean_records_out_per_sec: f64,
    /// Largest iterator lag, records.
    pub max_lag_records: u64,
    /// Largest iterator lag, milliseconds behind the tip.
    pub max_lag_ms: u64,
    /// Mean batch latency over samples that had batches, milliseconds.
    pub mean_batch_latency_ms: f64,
    /// Largest share of a second spent waiting on downstream (0–1).
    pub max_backpressure: f64,
    /// Failed records at the last sample.
    pub errors: u64,
    /// Records refused by a shard's write limit, at the last sample.
    pub throttled: u64,
    /// Records lost to retention, at the last sample.
    pub expired: u64,
    /// The busiest shard at the last sample (a stream node's).
    pub hot_shard: Option<u32>,
    #[serde(skip)]
    latency_samples: u64,
}

impl MetricsSummary {
    /// Folds in one sample.
    pub fn add(&mut self, s: &MetricsSample) {
        self.samples += 1;
        self.peak_records_in_per_sec = self.peak_records_in_per_sec.max(s.records_in_per_sec);
        self.peak_records_out_per_sec = self.peak_records_out_per_sec.max(s.records_out_per_sec);
        self.mean_records_in_per_sec +=
            (s.records_in_per_sec - self.mean_records_in_per_sec) / self.samples as f64;
        self.mean_records_out_per_sec +=
            (s.records_out_per_sec - self.mean_records_out_per_sec) / self.samples as f64;
        self.max_lag_records = self.max_lag_records.max(s.lag_records);
        self.max_lag_ms = self.max_lag_ms.max(s.lag_ms);
        if s.batch_latency_ms > 0.0 {
            self.latency_samples += 1;
            self.mean_batch_latency_ms +=
                (s.batch_latency_ms - self.mean_batch_latency_ms) / self.latency_samples as f64;
        }
        self.max_backpressure = self.max_backpressure.max(s.backpressure);
        self.errors = s.errors;
        self.throttled = s.throttled;
        self.expired = s.expired;
        self.hot_shard = s.hot_shard;
    }
}

/// Event-to-sink latencies in 1 ms buckets up to 10 s (and one bucket beyond): fixed
/// memory however many records are measured.
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    buckets: Vec<u64>,
    count: u64,
    max: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            buckets: vec![0; 10_001],
            count: 0,
            max: 0,
        }
    }
}

impl LatencyHistogram {
    /// Records one latency.
    pub fn add(&mut self, ms: u64) {
        let i = (ms as usize).min(self.buckets.len() - 1);
        self.buckets[i] += 1;
        self.count += 1;
        self.max = self.max.max(ms);
    }

    /// Latencies recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The latency `q` (0–1) of the records are at or below, in ms.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let want = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (ms, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= want {
                return ms as u64;
            }
        }
        self.max
    }

    /// p50, p99 and max as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "records": self.count,
            "p50_ms": self.quantile(0.5),
            "p99_ms": self.quantile(0.99),
            "max_ms": self.max,
        })
    }
}
