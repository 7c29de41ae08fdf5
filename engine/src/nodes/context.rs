//! What a node sees while it runs ([`NodeContext`]), what travels along edges
//! ([`Value`]) and what a run produces ([`NodeOutput`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::kind::PortSpec;
use crate::api::{Environment, EventSink, NodeStats, StopSignal};
use crate::arrow::array::RecordBatch;
use crate::arrow::datatypes::SchemaRef;
use crate::error::{Error, Result};
use crate::lake::bucket::Bucket;
use crate::lake::catalog::CatalogStore;
use crate::lake::crawler::CrawlReport;
use crate::stream::metrics::NodeMetrics;
use crate::stream::topic::Topic;

/// A value travelling along an edge during a run.
#[derive(Clone, Debug)]
pub enum Value {
    /// A bucket to list or write.
    Bucket(Arc<Bucket>),
    /// A crawler's findings.
    Crawl(Arc<CrawlReport>),
    /// A catalog.
    Catalog(Arc<CatalogStore>),
    /// A table of rows.
    Table(Arc<TableData>),
    /// A stream of record batches.
    Stream(Arc<Topic>),
}

impl Value {
    fn describe(&self) -> &'static str {
        match self {
            Self::Bucket(_) => "a bucket",
            Self::Crawl(_) => "crawler results",
            Self::Catalog(_) => "a catalog",
            Self::Table(_) => "a table",
            Self::Stream(_) => "a stream",
        }
    }

    /// The columns of a stream or table value.
    pub fn schema(&self) -> Option<SchemaRef> {
        match self {
            Self::Stream(t) => Some(t.schema().clone()),
            Self::Table(t) => Some(t.schema.clone()),
            _ => None,
        }
    }
}

/// Rows on a table port.
#[derive(Clone, Debug)]
pub struct TableData {
    /// The schema, also for zero rows.
    pub schema: SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
}

impl TableData {
    /// Total number of rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

/// The running part of a streaming node; it finishes when its input streams end (or
/// its source is stopped) and returns the node's final counters.
pub type StreamTask =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<NodeStats>> + Send + 'static>>;

/// What a node run produces.
#[derive(Default)]
pub struct NodeOutput {
    /// Values per output port.
    pub outputs: BTreeMap<&'static str, Value>,
    /// Counters.
    pub stats: NodeStats,
    /// For streaming nodes: the work that goes on after wiring.
    pub task: Option<StreamTask>,
    /// For streaming nodes: live counters.
    pub metrics: Option<Arc<NodeMetrics>>,
}

impl std::fmt::Debug for NodeOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeOutput")
            .field("outputs", &self.outputs.keys().collect::<Vec<_>>())
            .field("stats", &self.stats)
            .field("streaming", &self.task.is_some())
            .finish()
    }
}

impl NodeOutput {
    /// A finished (batch) node's output: its counters.
    pub fn finished(stats: NodeStats) -> Self {
        Self {
            stats,
            ..Default::default()
        }
    }

    /// The output of a streaming node: its task and live counters.
    pub fn streaming(task: StreamTask, metrics: Arc<NodeMetrics>) -> Self {
        Self {
            task: Some(task),
            metrics: Some(metrics),
            ..Default::default()
        }
    }

    /// Sets the value of output `port`.
    pub fn with(mut self, port: &PortSpec, value: Value) -> Self {
        self.outputs.insert(port.name, value);
        self
    }

    /// Sets the value of output `port`.
    pub fn set(&mut self, port: &PortSpec, value: Value) {
        self.outputs.insert(port.name, value);
    }
}

/// Everything a node sees while it runs.
pub struct NodeContext<'a> {
    /// The node's id.
    pub id: &'a str,
    /// The node's kind.
    pub kind: super::NodeKind,
    /// The project file's folder; relative paths resolve against it.
    pub base_dir: &'a Path,
    /// Values arriving on each input port, in edge order.
    pub inputs: BTreeMap<String, Vec<Value>>,
    /// Where progress, previews and log lines go.
    pub events: &'a EventSink,
    /// Set when the user stops the run; sources end, the rest drains.
    pub stop: StopSignal,
    /// Where the run executes: the embedded engine or a cluster, memory or a broker.
    pub environment: &'a Environment,
    /// The node's settings as the user changes them during the run (a Lambda's event
    /// source mapping applies them from its next batch).
    pub settings: tokio::sync::watch::Receiver<super::NodeConfig>,
    /// The AWS endpoint, when the engine serves one (`tributary run --serve`, Serve in
    /// the app): stream nodes register with it for the run.
    pub endpoint: Option<Arc<crate::aws::Registry>>,
    /// The node's output ports that have a wire.
    pub wired: std::collections::BTreeSet<String>,
    /// AWS realism (the project's `aws_realism`): streams keep Kinesis's write limits
    /// and retention deadline.
    pub aws_realism: bool,
    /// The faults injected into the node (its Faults section).
    pub faults: crate::api::faults::Faults,
    /// The run's clock (the project's `clock`): wall time or simulated time.
    pub clock: crate::api::Clock,
    /// In a replay (`RunTarget::Replay`): the stream it starts from, where, and the run's
    /// own folder, which its sinks write into instead of the original buckets.
    pub replay: Option<Arc<crate::api::ReplayRun>>,
}

impl NodeContext<'_> {
    /// Resolves a path from the node's config against the project folder.
    pub fn resolve(&self, path: &str) -> PathBuf {
        crate::fsutil::resolve_path(self.base_dir, path)
    }

    /// The replay this run is, if it is one.
    pub fn replaying(&self) -> Option<&crate::api::ReplayRun> {
        self.replay.as_deref()
    }

    /// Whether output `port` has a wire.
    pub fn is_wired(&self, port: &PortSpec) -> bool {
        self.wired.contains(port.name)
    }

    /// Every value on input `port`, in edge order.
    pub fn all(&self, port: &PortSpec) -> &[Value] {
        self.inputs
            .get(port.name)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The single value on input `port`, if connected.
    pub fn optional(&self, port: &PortSpec) -> Option<&Value> {
        self.all(port).first()
    }

    /// The single value on input `port`.
    pub fn input(&self, port: &PortSpec) -> Result<&Value> {
        self.optional(port)
            .ok_or_else(|| Error::Invalid(format!("input '{}' is not connected", port.name)))
    }

    /// The bucket on input `port`.
    pub fn bucket(&self, port: &PortSpec) -> Result<Arc<Bucket>> {
        match self.input(port)? {
            Value::Bucket(b) => Ok(b.clone()),
            other => Err(wrong_input(port, "a bucket", other)),
        }
    }

    /// The stream on input `port`.
    pub fn stream(&self, port: &PortSpec) -> Result<Arc<Topic>> {
        match self.input(port)? {
            Value::Stream(t) => Ok(t.clone()),
            other => Err(wrong_input(port, "a stream", other)),
        }
    }

    /// Every stream on input `port`.
    pub fn streams(&self, port: &PortSpec) -> Result<Vec<Arc<Topic>>> {
        self.all(port)
            .iter()
            .map(|v| match v {
                Value::Stream(t) => Ok(t.clone()),
                other => Err(wrong_input(port, "a stream", other)),
            })
            .collect()
    }

    /// The catalog on input `port`.
    pub fn catalog(&self, port: &PortSpec) -> Result<Arc<CatalogStore>> {
        match self.input(port)? {
            Value::Catalog(c) => Ok(c.clone()),
            other => Err(wrong_input(port, "a catalog", other)),
        }
    }

    /// The catalog on input `port`, if one is connected.
    pub fn optional_catalog(&self, port: &PortSpec) -> Option<Arc<CatalogStore>> {
        match self.optional(port) {
            Some(Value::Catalog(c)) => Some(c.clone()),
            _ => None,
        }
    }

    /// Logs an informational line about this node.
    pub fn info(&self, message: String) {
        self.events.info(self.id, message);
    }

    /// Logs a warning about this node.
    pub fn warn(&self, message: String) {
        self.events.warn(self.id, message);
    }

    /// Sends preview rows of this node's `port`.
    pub fn preview(
        &self,
        port: &PortSpec,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        total_rows: u64,
    ) {
        self.events
            .preview(self.id, port.name, schema, batches, total_rows);
    }
}

fn wrong_input(port: &PortSpec, expected: &str, got: &Value) -> Error {
    Error::Internal(format!(
        "input '{}' expected {expected}, got {}",
        port.name,
        got.describe()
    ))
}

/// The first `limit` rows of `batches`.
pub fn head(batches: &[RecordBatch], limit: usize) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    let mut left = limit;
    for b in batches {
        if left == 0 {
            break;
        }
        let n = b.num_rows().min(left);
        out.push(b.slice(0, n));
        left -= n;
    }
    out
}
