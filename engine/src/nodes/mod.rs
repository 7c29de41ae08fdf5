//! Node kinds: one file per kind, and this registry.
//!
//! [`NodeKind`] names every kind and its typed ports; [`NodeConfig`] holds a node's typed
//! configuration; [`run_node`] is the one `match` that dispatches a run to the kind's file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::arrow::array::RecordBatch;
use crate::arrow::datatypes::SchemaRef;
use crate::engine::EventSink;
use crate::error::{Error, Result};
use crate::lake::bucket::Bucket;
use crate::lake::catalog::CatalogStore;
use crate::lake::crawler::CrawlReport;
use crate::project::Node;

pub mod analytics;
pub mod broker;
pub mod bucket;
pub mod catalog;
pub mod crawler;
pub mod emr_job;
pub mod etl;
pub mod firehose;
pub mod generator;
pub mod lambda;
pub mod query;
pub mod replay;
pub mod series_sink;
pub mod stream;
pub mod table_sink;

/// What flows along an edge. Ports of different types cannot be wired together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PortType {
    /// A bucket: a place objects are listed from and written to.
    Objects,
    /// What a crawler found, on its way into a catalog.
    Crawl,
    /// A data catalog that SQL can query.
    Catalog,
    /// A table of rows (Arrow record batches).
    Table,
    /// An unbounded stream of records.
    Stream,
}

impl fmt::Display for PortType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Objects => "objects",
            Self::Crawl => "crawl",
            Self::Catalog => "catalog",
            Self::Table => "table",
            Self::Stream => "stream",
        })
    }
}

/// Whether a port takes data in or gives it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortDirection {
    /// An input port.
    Input,
    /// An output port.
    Output,
}

/// One typed port of a node kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortSpec {
    /// The port's name, used in edges.
    pub name: &'static str,
    /// What flows through it.
    pub ty: PortType,
    /// An input that must be connected for the node to run.
    pub required: bool,
    /// An input that takes several edges.
    pub multiple: bool,
}

const fn input(name: &'static str, ty: PortType, required: bool, multiple: bool) -> PortSpec {
    PortSpec {
        name,
        ty,
        required,
        multiple,
    }
}

const fn output(name: &'static str, ty: PortType) -> PortSpec {
    PortSpec {
        name,
        ty,
        required: false,
        multiple: true,
    }
}

/// Palette groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Category {
    /// Where data comes from.
    Sources,
    /// Crawler and catalog.
    Lake,
    /// ETL and queries.
    Batch,
    /// Streams and their operators.
    Streaming,
    /// Tables, charts and dashboards.
    Outputs,
}

macro_rules! node_kinds {
    ($( $variant:ident => $name:literal, $config:ty, $category:ident, $desc:literal,
        in [$($input:expr),*], out [$($output:expr),*]; )*) => {
        /// Every kind of node.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum NodeKind { $( #[doc = $desc] $variant, )* }

        impl NodeKind {
            /// All kinds, in palette order.
            pub const ALL: &'static [NodeKind] = &[$(NodeKind::$variant),*];

            /// The name used in project files, e.g. `crawler`.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name,)* }
            }

            /// One-line description for the palette.
            pub fn description(self) -> &'static str {
                match self { $(Self::$variant => $desc,)* }
            }

            /// Palette group.
            pub fn category(self) -> Category {
                match self { $(Self::$variant => Category::$category,)* }
            }

            /// Input ports.
            pub fn inputs(self) -> &'static [PortSpec] {
                match self { $(Self::$variant => { const P: &[PortSpec] = &[$($input),*]; P })* }
            }

            /// Output ports.
            pub fn outputs(self) -> &'static [PortSpec] {
                match self { $(Self::$variant => { const P: &[PortSpec] = &[$($output),*]; P })* }
            }

            /// The default configuration for a new node of this kind.
            pub fn default_config(self) -> NodeConfig {
                match self { $(Self::$variant => NodeConfig::$variant(<$config>::default()),)* }
            }
        }

        impl std::str::FromStr for NodeKind {
            type Err = String;
            fn from_str(s: &str) -> std::result::Result<Self, String> {
                match s {
                    $($name => Ok(Self::$variant),)*
                    other => Err(format!(
                        "unknown kind '{other}' (known kinds: {})",
                        [$($name),*].join(", ")
                    )),
                }
            }
        }

        /// A node's typed configuration; the variant is the node's kind.
        #[derive(Clone, Debug, PartialEq)]
        pub enum NodeConfig { $( #[doc = $desc] $variant($config), )* }

        impl NodeConfig {
            /// The kind this config belongs to.
            pub fn kind(&self) -> NodeKind {
                match self { $(Self::$variant(_) => NodeKind::$variant,)* }
            }

            /// Parses the `config` object of a node of `kind`.
            pub fn from_value(kind: NodeKind, value: serde_json::Value)
                -> std::result::Result<Self, Vec<String>> {
                match kind { $(NodeKind::$variant => parse_config(value).map(Self::$variant),)* }
            }

            /// The `config` object as written to project files.
            pub fn to_value(&self) -> serde_json::Value {
                match self { $(Self::$variant(c) => serde_json::to_value(c).unwrap_or_default(),)* }
            }

            /// Rules beyond types: each message names the field.
            pub fn validate(&self) -> Vec<String> {
                match self { $(Self::$variant(c) => c.validate(),)* }
            }
        }
    };
}

node_kinds! {
    Bucket => "bucket", bucket::BucketConfig, Sources,
        "An S3-like bucket: a local folder (or s3:// URL), with a prefix and glob.",
        in [], out [output("objects", PortType::Objects)];
    Crawler => "crawler", crawler::CrawlerConfig, Lake,
        "Scans a bucket, infers formats, schemas and partitions, and proposes tables.",
        in [input("source", PortType::Objects, true, false)], out [output("tables", PortType::Crawl)];
    Catalog => "catalog", catalog::CatalogConfig, Lake,
        "A Glue-like data catalog of databases, tables, partitions and versions.",
        in [input("crawlers", PortType::Crawl, false, true)], out [output("catalog", PortType::Catalog)];
    Etl => "etl", etl::EtlConfig, Batch,
        "A Glue-like job: SQL over the catalog, written to a bucket as a new table.",
        in [input("catalog", PortType::Catalog, true, false), input("target", PortType::Objects, true, false)],
        out [output("catalog", PortType::Catalog), output("table", PortType::Table)];
    Query => "query", query::QueryConfig, Batch,
        "Athena-like read-only SQL over the catalog; the result is a table.",
        in [input("catalog", PortType::Catalog, true, false)], out [output("table", PortType::Table)];
    EmrJob => "emr_job", emr_job::EmrJobConfig, Batch,
        "An EMR-like job: SQL and ETL steps run in order on the selected environment, each continuing or cancelling on failure.",
        in [input("catalog", PortType::Catalog, true, false), input("target", PortType::Objects, false, false)],
        out [output("catalog", PortType::Catalog), output("steps", PortType::Table), output("table", PortType::Table)];
    Generator => "generator", generator::GeneratorConfig, Sources,
        "Synthetic clickstream, IoT or payment events at a set rate, deterministic per seed.",
        in [], out [output("events", PortType::Stream)];
    Replay => "replay", replay::ReplayConfig, Sources,
        "Replays a bucket's (or catalog table's) JSON, CSV or Parquet files as a stream at a set rate; bad records go to 'failed'.",
        in [input("source", PortType::Objects, false, false), input("catalog", PortType::Catalog, false, false)],
        out [output("records", PortType::Stream), output("failed", PortType::Stream)];
    BrokerSource => "broker_source", broker::BrokerSourceConfig, Sources,
        "Reads a Redis stream through a consumer group, at least once across restarts; bad entries go to 'failed'.",
        in [], out [output("records", PortType::Stream), output("failed", PortType::Stream)];
    Stream => "stream", stream::StreamConfig, Streaming,
        "A Kinesis-like sharded stream: MD5 partitioning, sequence numbers, retention, independent readers.",
        in [input("records", PortType::Stream, true, true)], out [output("records", PortType::Stream)];
    Lambda => "lambda", lambda::LambdaConfig, Streaming,
        "Transforms stream records in batches with SQL or a sandboxed Rhai script; retries, bisects and sends failures to 'failed'.",
        in [input("records", PortType::Stream, true, false)],
        out [output("records", PortType::Stream), output("failed", PortType::Stream)];
    Firehose => "firehose", firehose::FirehoseConfig, Streaming,
        "Buffers stream records and delivers them to a bucket as JSON, CSV or Parquet files.",
        in [input("records", PortType::Stream, true, false), input("target", PortType::Objects, true, false),
            input("catalog", PortType::Catalog, false, false)], out [];
    Analytics => "analytics", analytics::AnalyticsConfig, Streaming,
        "Event-time windows (tumbling, hopping, session) with a watermark and a SQL aggregate per window.",
        in [input("records", PortType::Stream, true, false)],
        out [output("results", PortType::Stream), output("late", PortType::Stream)];
    TableSink => "table_sink", table_sink::TableSinkConfig, Outputs,
        "A live table of a stream's latest rows, bounded in memory.",
        in [input("records", PortType::Stream, true, false)], out [];
    BrokerSink => "broker_sink", broker::BrokerSinkConfig, Outputs,
        "Appends a stream's records to a Redis stream, one entry per record.",
        in [input("records", PortType::Stream, true, false)], out [];
    SeriesSink => "series_sink", series_sink::SeriesSinkConfig, Outputs,
        "A live chart (line, bar or scatter) of a stream or table, downsampled and bounded in memory.",
        in [input("records", PortType::Stream, false, false), input("table", PortType::Table, false, false)], out [];
}

impl NodeKind {
    /// Whether the kind reads or writes streams (its results are never cached).
    pub fn is_streaming(self) -> bool {
        self.inputs()
            .iter()
            .chain(self.outputs())
            .any(|p| p.ty == PortType::Stream)
    }

    /// Finds a port by direction and name.
    pub fn port(self, direction: PortDirection, name: &str) -> Option<&'static PortSpec> {
        let ports = match direction {
            PortDirection::Input => self.inputs(),
            PortDirection::Output => self.outputs(),
        };
        ports.iter().find(|p| p.name == name)
    }
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every config type checks its own rules beyond what serde checks.
pub trait ConfigRules {
    /// Messages for invalid values, each naming its field. Empty when valid.
    fn validate(&self) -> Vec<String> {
        Vec::new()
    }
}

fn parse_config<T: DeserializeOwned>(
    value: serde_json::Value,
) -> std::result::Result<T, Vec<String>> {
    serde_json::from_value(value).map_err(|e| vec![e.to_string()])
}

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
    Stream(Arc<crate::stream::topic::Topic>),
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

/// Counters every node reports when it finishes.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
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
    /// Kind-specific report (crawler tables, query stats, …).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
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
    pub metrics: Option<Arc<crate::stream::metrics::NodeMetrics>>,
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
    /// The output of a streaming node: its task and live counters.
    pub fn streaming(task: StreamTask, metrics: Arc<crate::stream::metrics::NodeMetrics>) -> Self {
        Self {
            task: Some(task),
            metrics: Some(metrics),
            ..Default::default()
        }
    }
}

/// Everything a node sees while it runs.
pub struct NodeContext<'a> {
    /// The node itself.
    pub node: &'a Node,
    /// The project file's folder; relative paths resolve against it.
    pub base_dir: &'a Path,
    /// Values arriving on each input port, in edge order.
    pub inputs: BTreeMap<String, Vec<Value>>,
    /// Where progress, previews and log lines go.
    pub events: &'a EventSink,
    /// Set when the user stops the run; sources end, the rest drains.
    pub stop: crate::engine::StopSignal,
    /// Where the run executes: the embedded engine or a cluster, memory or a broker.
    pub environment: &'a crate::project::Environment,
}

impl NodeContext<'_> {
    /// Resolves a path from the node's config against the project folder.
    pub fn resolve(&self, path: &str) -> PathBuf {
        crate::project::resolve_path(self.base_dir, path)
    }

    /// The single value on a required input port.
    pub fn input(&self, port: &str) -> Result<&Value> {
        self.inputs
            .get(port)
            .and_then(|v| v.first())
            .ok_or_else(|| Error::Invalid(format!("input '{port}' is not connected")))
    }

    /// The bucket on an input port.
    pub fn bucket_input(&self, port: &str) -> Result<Arc<Bucket>> {
        match self.input(port)? {
            Value::Bucket(b) => Ok(b.clone()),
            other => Err(wrong_input(port, "a bucket", other)),
        }
    }

    /// The stream on an input port.
    pub fn stream_input(&self, port: &str) -> Result<Arc<crate::stream::topic::Topic>> {
        match self.input(port)? {
            Value::Stream(t) => Ok(t.clone()),
            other => Err(wrong_input(port, "a stream", other)),
        }
    }

    /// The catalog on an input port.
    pub fn catalog_input(&self, port: &str) -> Result<Arc<CatalogStore>> {
        match self.input(port)? {
            Value::Catalog(c) => Ok(c.clone()),
            other => Err(wrong_input(port, "a catalog", other)),
        }
    }
}

fn wrong_input(port: &str, expected: &str, got: &Value) -> Error {
    let got = match got {
        Value::Bucket(_) => "a bucket",
        Value::Crawl(_) => "crawler results",
        Value::Catalog(_) => "a catalog",
        Value::Table(_) => "a table",
        Value::Stream(_) => "a stream",
    };
    Error::Internal(format!("input '{port}' expected {expected}, got {got}"))
}

/// Runs one node: the registry's single dispatch.
pub async fn run_node(ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    match &ctx.node.config {
        NodeConfig::Bucket(c) => bucket::run(c, ctx).await,
        NodeConfig::Crawler(c) => crawler::run(c, ctx).await,
        NodeConfig::Catalog(c) => catalog::run(c, ctx).await,
        NodeConfig::Etl(c) => etl::run(c, ctx).await,
        NodeConfig::Query(c) => query::run(c, ctx).await,
        NodeConfig::EmrJob(c) => emr_job::run(c, ctx).await,
        NodeConfig::Generator(c) => generator::run(c, ctx).await,
        NodeConfig::Stream(c) => stream::run(c, ctx).await,
        NodeConfig::Replay(c) => replay::run(c, ctx).await,
        NodeConfig::Lambda(c) => lambda::run(c, ctx).await,
        NodeConfig::Firehose(c) => firehose::run(c, ctx).await,
        NodeConfig::TableSink(c) => table_sink::run(c, ctx).await,
        NodeConfig::Analytics(c) => analytics::run(c, ctx).await,
        NodeConfig::SeriesSink(c) => series_sink::run(c, ctx).await,
        NodeConfig::BrokerSource(c) => broker::run_source(c, ctx).await,
        NodeConfig::BrokerSink(c) => broker::run_sink(c, ctx).await,
    }
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
