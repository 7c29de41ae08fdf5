//! Stream node: a Kinesis-like sharded stream. Records from its inputs are spread over
//! shards by the MD5 of their partition key; every node reading it has its own position.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{ConfigRules, NodeContext, NodeOutput, NodeStats, Value};
use crate::arrow::datatypes::SchemaRef;
use crate::error::{Error, Result};
use crate::stream::metrics::NodeMetrics;
use crate::stream::topic::{Consumer, Retention, StartPosition, Topic};

/// Records a stream holds for its slowest reader before its writers wait.
pub const DEFAULT_CAPACITY: u64 = 262_144;

/// A one-shard output topic of a node, with no retention limit beyond its readers.
pub fn output_topic(name: &str, schema: SchemaRef) -> Result<Arc<Topic>> {
    Topic::new(
        name,
        schema,
        1,
        None,
        Retention::default(),
        DEFAULT_CAPACITY,
    )
}

/// Subscribes `node` to `input` from TRIM_HORIZON, with metrics that report its lag.
pub fn subscribe(input: &Arc<Topic>, node: &str) -> (Consumer, Arc<NodeMetrics>) {
    let metrics = Arc::new(NodeMetrics::default());
    (subscribe_reporting(input, node, &metrics), metrics)
}

/// Subscribes `node` to `input` from TRIM_HORIZON; `metrics` reports its lag.
fn subscribe_reporting(input: &Arc<Topic>, node: &str, metrics: &NodeMetrics) -> Consumer {
    let consumer = input.subscribe(node, &StartPosition::TrimHorizon);
    if let Ok(mut c) = metrics.consumers.lock() {
        c.push(consumer.lag_probe());
    }
    consumer
}

/// Stream settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// Number of shards.
    pub shards: usize,
    /// The column whose value picks the shard; empty puts everything in shard 0.
    pub partition_key: String,
    /// Keep records at most this many hours (0: no time limit).
    pub retention_hours: f64,
    /// Keep at most this many MB per shard in memory (0: no size limit). Records every
    /// reader has read are dropped beyond it; a durable stream still has them on disk.
    pub retention_mb: f64,
    /// Records the slowest reader may fall behind before writers wait.
    pub capacity_records: u64,
    /// Keep the records on disk under `.tributary/streams/<node>/` beside the project: a
    /// restarted pipeline resumes every reader from its checkpoint, and records taken
    /// from a (deterministic) source before are not appended again.
    pub durable: bool,
    /// On an environment with a broker, the shards are the Redis streams
    /// `<broker_key>:<shard>` (empty: `tributary:<node id>`).
    pub broker_key: String,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            shards: 4,
            partition_key: String::new(),
            retention_hours: 24.0,
            retention_mb: 64.0,
            capacity_records: DEFAULT_CAPACITY,
            durable: false,
            broker_key: String::new(),
        }
    }
}

impl ConfigRules for StreamConfig {
    fn validate(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.shards == 0 || self.shards > 1024 {
            out.push("shards: must be between 1 and 1024".to_owned());
        }
        if self.retention_hours < 0.0 || self.retention_mb < 0.0 {
            out.push("retention: must not be negative".to_owned());
        }
        if self.capacity_records == 0 {
            out.push("capacity_records: must be at least 1".to_owned());
        }
        out
    }
}

/// Wires the stream: subscribes to every input and appends what arrives.
pub async fn run(config: &StreamConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let inputs: Vec<Arc<Topic>> = ctx
        .inputs
        .get("records")
        .into_iter()
        .flatten()
        .map(|v| match v {
            Value::Stream(t) => Ok(t.clone()),
            _ => Err(Error::Internal("stream input is not a stream".to_owned())),
        })
        .collect::<Result<_>>()?;
    let Some(first) = inputs.first() else {
        return Err(Error::Invalid(
            "input 'records' is not connected".to_owned(),
        ));
    };
    let schema = first.schema().clone();
    for t in &inputs[1..] {
        if t.schema() != &schema {
            return Err(Error::Invalid(format!(
                "inputs have different columns: '{}' and '{}'",
                first.name(),
                t.name()
            )));
        }
    }
    let key = (!config.partition_key.is_empty()).then_some(config.partition_key.as_str());
    let retention = Retention {
        max_age: (config.retention_hours > 0.0)
            .then(|| Duration::from_secs_f64(config.retention_hours * 3600.0)),
        max_bytes: (config.retention_mb > 0.0).then_some((config.retention_mb * 1e6) as u64),
        keep_read: true,
    };
    let topic = Topic::new(
        &ctx.node.id,
        schema,
        config.shards,
        key,
        retention,
        config.capacity_records,
    )?;
    if let Some(url) = &ctx.environment.broker {
        return run_on_broker(config, ctx, url, inputs, topic);
    }
    let taken = if config.durable {
        let dir = ctx
            .base_dir
            .join(".tributary/streams")
            .join(crate::lake::sniff::normalize_name(&ctx.node.id));
        topic.attach_durable(&dir)?
    } else {
        Default::default()
    };
    let metrics = Arc::new(NodeMetrics::default());
    let mut tasks = Vec::new();
    for input in inputs {
        let consumer = subscribe_reporting(&input, &ctx.node.id, &metrics);
        // Records this input gave a durable stream before are already in it.
        let skip = taken.get(input.name()).copied().unwrap_or(0);
        if skip > 0 {
            ctx.events.info(
                &ctx.node.id,
                format!(
                    "resuming: {skip} records from '{}' are already in the stream",
                    input.name()
                ),
            );
        }
        tasks.push((consumer, topic.add_producer_for(input.name()), skip));
    }
    let m = metrics.clone();
    let task = async move {
        let copies = tasks.into_iter().map(|(mut consumer, producer, mut skip)| {
            let m = m.clone();
            async move {
                while let Some(deliveries) = consumer.next(65_536).await {
                    for mut d in deliveries {
                        if skip > 0 {
                            let n = (d.batch.num_rows() as u64).min(skip);
                            skip -= n;
                            d.batch = d.batch.slice(n as usize, d.batch.num_rows() - n as usize);
                            if d.batch.num_rows() == 0 {
                                continue;
                            }
                        }
                        let t = Instant::now();
                        let rows = d.batch.num_rows() as u64;
                        let bytes = d.batch.get_array_memory_size() as u64;
                        let blocked = producer.send(d.batch).await?;
                        NodeMetrics::add(&m.records_in, rows);
                        NodeMetrics::add(&m.records_out, rows);
                        NodeMetrics::add(&m.bytes_in, bytes);
                        NodeMetrics::add(&m.bytes_out, bytes);
                        NodeMetrics::add(&m.blocked_us, blocked.as_micros() as u64);
                        NodeMetrics::add(&m.batches, 1);
                        NodeMetrics::add(&m.batch_latency_us, t.elapsed().as_micros() as u64);
                    }
                    // Appended (and on disk, for a durable stream): handed on.
                    consumer.ack()?;
                }
                producer.close();
                Ok::<(), Error>(())
            }
        });
        futures::future::try_join_all(copies).await?;
        let n = m.records_out.load(std::sync::atomic::Ordering::Relaxed);
        Ok(NodeStats {
            records_in: n,
            records_out: n,
            ..Default::default()
        })
    };
    let mut out = NodeOutput::streaming(Box::pin(task), metrics);
    out.outputs.insert("records", Value::Stream(topic));
    Ok(out)
}

/// The stream with its shards in a broker: every input is copied into the shard streams
/// (`XADD`, split by the partition key), and one consumer group reads them back into the
/// node's output, acknowledging entries once every reader of the output has.
fn run_on_broker(
    config: &StreamConfig,
    ctx: &NodeContext<'_>,
    url: &str,
    inputs: Vec<Arc<Topic>>,
    topic: Arc<Topic>,
) -> Result<NodeOutput> {
    use crate::stream::broker::{
        ArrowJsonDecoder, BrokerConn, GroupReader, ReadPump, WritePump, join, spawn_named,
    };
    use std::sync::atomic::{AtomicBool, Ordering};
    let schema = topic.schema().clone();
    let prefix = if config.broker_key.trim().is_empty() {
        format!("tributary:{}", ctx.node.id)
    } else {
        config.broker_key.trim().to_owned()
    };
    let keys: Vec<String> = (0..config.shards)
        .map(|s| format!("{prefix}:{s}"))
        .collect();
    let reconnect = Duration::from_secs(60);
    let metrics = Arc::new(NodeMetrics::default());
    let handle = tokio::runtime::Handle::current();
    let mut writers = Vec::new();
    for input in inputs {
        let consumer = subscribe_reporting(&input, &ctx.node.id, &metrics);
        let pump = WritePump {
            conn: BrokerConn::new(url, reconnect)?,
            consumer,
            keys: keys.clone(),
            split: Some(topic.clone()),
            maxlen: 0,
            // Counted once, on the way back from the broker.
            metrics: Arc::new(NodeMetrics::default()),
        };
        writers.push((format!("broker-put-{}-{}", ctx.node.id, input.name()), pump));
    }
    let writers_done = Arc::new(AtomicBool::new(false));
    let reader = GroupReader::new(
        BrokerConn::new(url, reconnect)?,
        keys.clone(),
        "tributary",
        &ctx.node.id,
        "0",
    )?;
    let pump = ReadPump {
        reader,
        decoder: Box::new(ArrowJsonDecoder::new(schema)),
        producer: topic.add_producer(),
        shard_of: (0..config.shards).collect(),
        failed: None,
        count: 8192,
        block: Duration::from_millis(100),
        idle_end: None,
        max_records: None,
        writers_done: Some(writers_done.clone()),
        stop: ctx.stop.clone(),
        metrics: metrics.clone(),
    };
    let read_name = format!("broker-get-{}", ctx.node.id);
    ctx.events.info(
        &ctx.node.id,
        format!("shards in {url} as {prefix}:0..{}", config.shards - 1),
    );
    // The threads start with the run, once every reader of the output has subscribed:
    // entries are acknowledged only after those readers acknowledged them.
    let task = async move {
        let h = handle.clone();
        let read = spawn_named(read_name, move || pump.run(&h, Duration::from_secs(60)))?;
        let writers = writers
            .into_iter()
            .map(|(name, pump)| {
                let h = handle.clone();
                spawn_named(name, move || pump.run(&h))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut stored = 0;
        let mut first_err = None;
        for w in writers {
            match join(w).await {
                Ok(n) => stored += n,
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        writers_done.store(true, Ordering::Release);
        let delivered = join(read).await?;
        if let Some(e) = first_err {
            return Err(e);
        }
        Ok(NodeStats {
            records_in: stored,
            records_out: delivered,
            ..Default::default()
        })
    };
    let mut out = NodeOutput::streaming(Box::pin(task), metrics);
    out.outputs.insert("records", Value::Stream(topic));
    Ok(out)
}
