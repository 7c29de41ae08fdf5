//! What a node reports when it finishes: counters every node has, its kind's own typed
//! report, and for streaming nodes the totals the runner measured.

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

use serde::Serialize;
use serde::ser::SerializeMap as _;

/// A node kind's own report (a crawler's tables, a query's scan statistics, …). Any
/// serializable type is one; readers downcast with [`NodeStats::report`].
pub trait Report: Any + Debug + Send + Sync {
    /// The report as JSON (an object), as `run --json` prints it under `detail`.
    fn to_json(&self) -> serde_json::Value;
    /// For downcasting to the kind's report type.
    fn as_any(&self) -> &dyn Any;
}

impl<T: Serialize + Debug + Send + Sync + 'static> Report for T {
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// What the streaming runner measured over a whole run of a node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct StreamingTotals {
    /// Records that failed (sent to a `failed` or `late` output, or dropped).
    pub errors: u64,
    /// Records per second over the run (the busier of in and out).
    pub records_per_sec: f64,
    /// Mean time per processed batch, ms.
    pub mean_batch_latency_ms: f64,
    /// Time spent waiting for room downstream (back-pressure), ms.
    pub blocked_ms: u64,
    /// Records refused by a shard's write limit (AWS realism), counted at each refusal.
    pub throttled: u64,
    /// Records retention dropped before this node read them.
    pub expired: u64,
    /// Records of its input streams it had not read when it ended.
    pub unread: u64,
}

/// Counters every node reports when it finishes.
#[derive(Clone, Debug, Default)]
pub struct NodeStats {
    /// Records read.
    pub records_in: u64,
    /// Records produced or written.
    pub records_out: u64,
    /// Bytes read.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// Wall time.
    pub elapsed_ms: u64,
    /// The kind's own report.
    pub report: Option<Arc<dyn Report>>,
    /// For streaming nodes: what the runner measured.
    pub streaming: Option<StreamingTotals>,
    /// What the run of the node would have cost in AWS (nodes of billed services).
    pub cost: Option<super::cost::Cost>,
}

impl NodeStats {
    /// The kind's report, if it is a `T`.
    pub fn report<T: 'static>(&self) -> Option<&T> {
        self.report.as_ref()?.as_any().downcast_ref()
    }

    /// Sets the kind's report.
    pub fn with_report(mut self, report: impl Report) -> Self {
        self.report = Some(Arc::new(report));
        self
    }

    /// The report and the streaming totals as one JSON object (`null` when neither).
    pub fn detail(&self) -> serde_json::Value {
        let mut detail = self
            .report
            .as_ref()
            .map(|r| r.to_json())
            .unwrap_or(serde_json::Value::Null);
        if let Some(t) = &self.streaming {
            if !detail.is_object() {
                detail = serde_json::json!({});
            }
            if let (Some(obj), serde_json::Value::Object(totals)) = (
                detail.as_object_mut(),
                serde_json::to_value(t).unwrap_or_default(),
            ) {
                obj.extend(totals);
            }
        }
        detail
    }
}

impl PartialEq for NodeStats {
    fn eq(&self, other: &Self) -> bool {
        self.records_in == other.records_in
            && self.records_out == other.records_out
            && self.bytes_in == other.bytes_in
            && self.bytes_out == other.bytes_out
            && self.elapsed_ms == other.elapsed_ms
            && self.detail() == other.detail()
    }
}

impl Serialize for NodeStats {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let detail = self.detail();
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("records_in", &self.records_in)?;
        map.serialize_entry("records_out", &self.records_out)?;
        map.serialize_entry("bytes_in", &self.bytes_in)?;
        map.serialize_entry("bytes_out", &self.bytes_out)?;
        map.serialize_entry("elapsed_ms", &self.elapsed_ms)?;
        if !detail.is_null() {
            map.serialize_entry("detail", &detail)?;
        }
        map.end()
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
    /// Requests the AWS endpoint answered for this node per second (its Kinesis or
    /// Firehose API), when served.
    pub api_requests_per_sec: f64,
    /// Requests answered so far.
    pub api_requests: u64,
    /// Requests answered with an error so far.
    pub api_errors: u64,
    /// Records refused by a shard's write limit so far (AWS realism).
    pub throttled: u64,
    /// Records refused per second over the interval.
    pub throttled_per_sec: f64,
    /// The busiest shard of a stream node: the one refusing the most records, or with
    /// none refused, the one written the most.
    pub hot_shard: Option<u32>,
    /// Records retention dropped before this node read them, so far (its iterator age,
    /// `lag_ms`, passed the retention period).
    pub expired: u64,
}
