//! Broker source and sink: read a Redis stream through a consumer group (acknowledging
//! entries once everything downstream has them), or append a stream's records to one.
//! With no `url`, both use the broker of the selected environment.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigRules, NodeContext, NodeOutput, NodeStats, Value};
use crate::error::{Error, Result};
use crate::stream::broker::{
    BrokerConn, GroupReader, ReadPump, WritePump, failed_schema, join, spawn_named,
};
use crate::stream::metrics::NodeMetrics;
use crate::stream::records::{RowBuilder, SourceColumn, parse_columns};

/// The broker URL a node uses: its own, else the environment's.
fn broker_url(own: &str, ctx: &NodeContext<'_>) -> Result<String> {
    if !own.trim().is_empty() {
        return Ok(own.trim().to_owned());
    }
    ctx.environment.broker.clone().ok_or_else(|| {
        Error::Invalid(
            "no broker: set 'url' (redis://host:port) or run on an environment with a broker"
                .to_owned(),
        )
    })
}

fn check_url(url: &str, out: &mut Vec<String>) {
    if url.trim().is_empty() {
        return;
    }
    match url::Url::parse(url.trim()) {
        Ok(u) if matches!(u.scheme(), "redis" | "rediss") => {}
        _ => out.push(format!("url: '{url}' must look like redis://host:port")),
    }
}

/// Broker source settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerSourceConfig {
    /// `redis://host:port[/db]`; empty: the environment's broker.
    pub url: String,
    /// The Redis stream key.
    pub stream: String,
    /// The consumer group; readers in one group share the entries.
    pub group: String,
    /// This reader's name in the group; empty: the node id.
    pub consumer: String,
    /// The record's columns, `name Type [NOT NULL]` (from the `data` JSON or from fields).
    pub columns: Vec<String>,
    /// Where a new group starts: `earliest` (the whole stream) or `latest`.
    pub start: String,
    /// Entries per read.
    pub batch_size: usize,
    /// End the source after this long without new entries (0: run until stopped).
    pub idle_timeout_ms: u64,
    /// End after this many records (0: no limit).
    pub max_records: u64,
    /// How long to keep retrying while the broker is unreachable.
    pub reconnect_timeout_s: u64,
}

impl Default for BrokerSourceConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            stream: "events".to_owned(),
            group: "tributary".to_owned(),
            consumer: String::new(),
            columns: vec!["event_id Int64".to_owned(), "payload Utf8".to_owned()],
            start: "earliest".to_owned(),
            batch_size: 1000,
            idle_timeout_ms: 0,
            max_records: 0,
            reconnect_timeout_s: 60,
        }
    }
}

impl ConfigRules for BrokerSourceConfig {
    fn validate(&self) -> Vec<String> {
        let mut out = Vec::new();
        check_url(&self.url, &mut out);
        if self.stream.trim().is_empty() {
            out.push("stream: a stream key is required".to_owned());
        }
        if self.group.trim().is_empty() {
            out.push("group: a consumer group is required".to_owned());
        }
        if let Err(e) = parse_columns(&self.columns) {
            out.push(format!("columns: {e}"));
        }
        if !matches!(self.start.as_str(), "earliest" | "latest") {
            out.push("start: 'earliest' or 'latest'".to_owned());
        }
        if self.batch_size == 0 {
            out.push("batch_size: must be at least 1".to_owned());
        }
        out
    }
}

/// Starts reading: a named thread reads the group and appends to `records`.
pub async fn run_source(config: &BrokerSourceConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let url = broker_url(&config.url, ctx)?;
    let fields =
        parse_columns(&config.columns).map_err(|e| Error::Invalid(format!("columns: {e}")))?;
    let rows = RowBuilder::new(
        fields
            .into_iter()
            .map(|field| SourceColumn {
                source_name: field.name().clone(),
                field,
                text_format: None,
            })
            .collect(),
        vec![String::new()],
    )?;
    let records =
        super::stream::output_topic(&format!("{}.records", ctx.node.id), rows.schema().clone())?;
    let failed = super::stream::output_topic(&format!("{}.failed", ctx.node.id), failed_schema())?;
    let consumer = if config.consumer.trim().is_empty() {
        ctx.node.id.clone()
    } else {
        config.consumer.clone()
    };
    let conn = BrokerConn::new(&url, Duration::from_secs(config.reconnect_timeout_s))?;
    let start = if config.start == "latest" { "$" } else { "0" };
    let (stream, group) = (config.stream.clone(), config.group.clone());
    let metrics = Arc::new(NodeMetrics::default());
    let pump_metrics = metrics.clone();
    let (records_p, failed_p) = (records.add_producer(), failed.add_producer());
    let (batch, idle, max) = (
        config.batch_size,
        (config.idle_timeout_ms > 0).then(|| Duration::from_millis(config.idle_timeout_ms)),
        (config.max_records > 0).then_some(config.max_records),
    );
    let stop = ctx.stop.clone();
    let handle = tokio::runtime::Handle::current();
    let name = format!("broker-src-{}", ctx.node.id);
    let start_reading = move || {
        let reader = GroupReader::new(conn, vec![stream], &group, &consumer, start)?;
        ReadPump {
            reader,
            decoder: Box::new(rows),
            producer: records_p,
            shard_of: vec![0],
            failed: Some(failed_p),
            count: batch,
            block: Duration::from_millis(200),
            idle_end: idle,
            max_records: max,
            writers_done: None,
            stop,
            metrics: pump_metrics,
        }
        .run(&handle, Duration::from_secs(60))
    };
    ctx.events.info(
        &ctx.node.id,
        format!(
            "reading {url} stream '{}' as group '{}'",
            config.stream, config.group
        ),
    );
    let m = metrics.clone();
    // Reading starts with the run, once every reader of the outputs has subscribed.
    let task = async move {
        let delivered = join(spawn_named(name, start_reading)?).await?;
        Ok(NodeStats {
            records_in: m.records_in.load(std::sync::atomic::Ordering::Relaxed),
            records_out: delivered,
            ..Default::default()
        })
    };
    let mut out = NodeOutput::streaming(Box::pin(task), metrics);
    out.outputs.insert("records", Value::Stream(records));
    out.outputs.insert("failed", Value::Stream(failed));
    Ok(out)
}

/// Broker sink settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerSinkConfig {
    /// `redis://host:port[/db]`; empty: the environment's broker.
    pub url: String,
    /// The Redis stream key records are appended to (one entry per record).
    pub stream: String,
    /// Trim the stream to about this many entries (0: never).
    pub max_len: u64,
    /// How long to keep retrying while the broker is unreachable.
    pub reconnect_timeout_s: u64,
}

impl Default for BrokerSinkConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            stream: "events".to_owned(),
            max_len: 0,
            reconnect_timeout_s: 60,
        }
    }
}

impl ConfigRules for BrokerSinkConfig {
    fn validate(&self) -> Vec<String> {
        let mut out = Vec::new();
        check_url(&self.url, &mut out);
        if self.stream.trim().is_empty() {
            out.push("stream: a stream key is required".to_owned());
        }
        out
    }
}

/// Starts writing: a named thread appends every record of the input to the stream.
pub async fn run_sink(config: &BrokerSinkConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let url = broker_url(&config.url, ctx)?;
    let input = ctx.stream_input("records")?;
    let (consumer, metrics) = super::stream::subscribe(&input, &ctx.node.id);
    let pump = WritePump {
        conn: BrokerConn::new(&url, Duration::from_secs(config.reconnect_timeout_s))?,
        consumer,
        keys: vec![config.stream.clone()],
        split: None,
        maxlen: config.max_len,
        metrics: metrics.clone(),
    };
    let handle = tokio::runtime::Handle::current();
    let name = format!("broker-sink-{}", ctx.node.id);
    let task = async move {
        let written = join(spawn_named(name, move || pump.run(&handle))?).await?;
        Ok(NodeStats {
            records_in: written,
            records_out: written,
            ..Default::default()
        })
    };
    Ok(NodeOutput::streaming(Box::pin(task), metrics))
}
