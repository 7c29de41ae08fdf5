//! Stream node: a Kinesis-like sharded stream. Records from its inputs are spread over
//! shards by the MD5 of their partition key; every node reading it has its own position.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::form::{Editor, Field, FieldProblem, Problems, When};
use super::operator::{
    DEFAULT_CAPACITY, Handoff, Hold, Operator, Outputs, ReadOptions, Wiring, subscribe,
};
use super::ports::{FAILED_OUT, RECORDS_OUT};
use super::{Category, Kind, NodeContext, NodeOutput, NodeStats, PortSpec, PortType};
use crate::api::cost::{Cost, Prices, Sizes};
use crate::error::{Error, Result};
use crate::stream::limits::WriteLimit;
use crate::stream::topic::{Delivery, Retention, Topic};

pub mod replay;
mod scaling;

use scaling::LiveShards;

crate::choice_enum! {
    /// What a stream does with KPL-aggregated records put through the Kinesis API.
    pub enum KplAggregation {
        /// Kept as put: `GetRecords` and a Lambda's Kinesis event give the aggregated
        /// record, as AWS does (consumers de-aggregate with the KCL or AWS's libraries).
        PassThrough = "pass_through",
        /// Split into their user records before they become rows, as the KCL does:
        /// each is a row, and `GetRecords` and Lambda events give the user records.
        Deaggregate = "deaggregate",
    }
}

crate::choice_enum! {
    /// How a stream's capacity is set (`StreamModeDetails.StreamMode`).
    pub enum StreamMode {
        /// `shards` shards, each taking 1,000 records and 1 MiB a second.
        Provisioned = "PROVISIONED",
        /// Kinesis manages the shards: a new on-demand stream has 4 (4 MB/s of writes),
        /// billed per stream-hour and per GB written and read.
        OnDemand = "ON_DEMAND",
    }
}

/// The shards a new on-demand stream has: 4 MB/s of writes, 8 MB/s of reads (Amazon
/// Kinesis Data Streams quotas).
pub const ON_DEMAND_SHARDS: usize = 4;

/// The streams written into this one (none when outside producers feed it through the
/// Kinesis API).
pub const RECORDS_IN: PortSpec = PortSpec::input("records", PortType::Stream).multiple();

/// Stream settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// The name clients of the Kinesis API use (`StreamName`); empty: the node id.
    pub stream_name: String,
    /// With no input wired, the columns records put through the Kinesis API are parsed
    /// into (JSON objects), as `name Type [NOT NULL]`; empty: one binary `data` column
    /// holding the bytes.
    pub columns: Vec<String>,
    /// KPL-aggregated records put through the Kinesis API: kept as put, or split into
    /// their user records.
    pub kpl_aggregation: KplAggregation,
    /// `PROVISIONED` (`shards` shards) or `ON_DEMAND` (Kinesis's shards: 4 at first).
    pub stream_mode: StreamMode,
    /// Number of shards (`PROVISIONED`).
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
            stream_name: String::new(),
            columns: Vec::new(),
            kpl_aggregation: KplAggregation::PassThrough,
            stream_mode: StreamMode::Provisioned,
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

/// The stream node.
pub struct StreamKind;

impl Kind for StreamKind {
    type Config = StreamConfig;
    const NAME: &'static str = "stream";
    const CATEGORY: Category = Category::Streaming;
    const DESCRIPTION: &'static str = "A Kinesis-like sharded stream: MD5 partitioning, sequence numbers, retention, independent readers.";
    const ICON: &'static str = "🌊";
    const INPUTS: &'static [PortSpec] = &[RECORDS_IN];
    const OUTPUTS: &'static [PortSpec] = &[RECORDS_OUT, FAILED_OUT];
    const FIELDS: &'static [Field] = &[
        Field::new(
            "stream_name",
            "Stream name",
            Editor::Text,
            "The StreamName producers and consumers use through the Kinesis API (tributary run --serve, or Serve in the toolbar); empty: the node id.",
        ),
        Field::new(
            "columns",
            "Columns",
            Editor::Lines,
            "With no input wired: the columns records put through the Kinesis API are parsed into, one 'name Type [NOT NULL]' per line (JSON objects; a record that does not fit goes to the failed output with the reason). Empty: one binary 'data' column with the bytes.",
        ),
        Field::new(
            "kpl_aggregation",
            "KPL aggregation",
            Editor::Choice(KplAggregation::NAMES),
            "Records the Kinesis Producer Library aggregated: pass_through keeps them as put (as GetRecords and Lambda give them in AWS); deaggregate splits them into their user records, as the KCL does, so each is a row.",
        ),
        Field::new(
            "stream_mode",
            "Capacity mode",
            Editor::Choice(StreamMode::NAMES),
            "PROVISIONED: the shards you set; ON_DEMAND: Kinesis manages them, 4 at first (4 MB/s of writes), billed per stream-hour and per GB written and read (StreamModeDetails).",
        ),
        Field::new(
            "shards",
            "Shards",
            Editor::Number,
            "Number of shards (ShardCount).",
        )
        .when(When::Is("stream_mode", &["PROVISIONED"])),
        Field::new(
            "partition_key",
            "Partition key",
            Editor::Column,
            "The column whose value picks the shard (by its MD5, as Kinesis does); empty puts everything in shard 0.",
        ),
        Field::new(
            "retention_hours",
            "Retention (hours)",
            Editor::Number,
            "Keep records at most this many hours (RetentionPeriodHours; 0: no time limit).",
        ),
        Field::new(
            "retention_mb",
            "Retention (MB per shard)",
            Editor::Number,
            "Keep at most this many MB per shard in memory (0: no size limit).",
        ),
        Field::new(
            "capacity_records",
            "Capacity (records)",
            Editor::Number,
            "Records the slowest reader may fall behind before writers wait.",
        ),
        Field::new(
            "durable",
            "Durable",
            Editor::Toggle,
            "Keep the records on disk under .tributary/streams/: a restarted pipeline resumes every reader from its checkpoint.",
        ),
        Field::new(
            "broker_key",
            "Broker key",
            Editor::Text,
            "On an environment with a broker, the shards are the Redis streams <key>:<shard> (empty: tributary:<node id>).",
        ),
    ];

    fn validate(config: &StreamConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        if let Err(e) = valid_stream_name(&config.stream_name) {
            p.check(false, "stream_name", &e);
        }
        if let Err(e) = crate::stream::records::parse_columns(&config.columns) {
            p.check(false, "columns", &e);
        }
        p.check(
            (1..=1024).contains(&config.shards),
            "shards",
            "must be between 1 and 1024",
        );
        p.check(
            config.retention_hours >= 0.0,
            "retention_hours",
            "must not be negative",
        );
        p.check(
            config.retention_mb >= 0.0,
            "retention_mb",
            "must not be negative",
        );
        p.check(
            config.capacity_records > 0,
            "capacity_records",
            "must be at least 1",
        );
        p.into_vec()
    }

    async fn run(config: &StreamConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        run(config, ctx)
    }

    /// Provisioned Kinesis: shard-hours for as long as the stream ran, PUT payload units
    /// (each record's data and key in 25 KB units), and extended retention beyond 24 h.
    /// On-demand: stream-hours, and the GB written (each record rounded up to 1 KB) and
    /// read (by each of its readers).
    fn cost(config: &StreamConfig, stats: &NodeStats, prices: &Prices) -> Option<Cost> {
        let k = &prices.kinesis;
        if config.stream_mode == StreamMode::OnDemand {
            let mut cost = Cost::default();
            cost.add(
                "Kinesis on-demand stream-hours",
                stats.elapsed_ms as f64 / 3.6e6,
                "stream-hour",
                k.on_demand_stream_hour,
                1.0,
            );
            if let Some(r) = stats.report::<StreamReport>() {
                let unit = k.on_demand_increment_bytes;
                let gb = (r.sizes.units(unit) * unit) as f64 / crate::api::cost::GB;
                cost.add(
                    "Kinesis on-demand data in (1 KB increments)",
                    gb,
                    "GB",
                    k.on_demand_data_in_gb,
                    1.0,
                );
                cost.add(
                    "Kinesis on-demand data out",
                    gb * r.readers as f64,
                    "GB",
                    k.on_demand_data_out_gb,
                    1.0,
                );
            }
            return Some(cost.continuous(stats.elapsed_ms as f64 / 1000.0));
        }
        let report = stats.report::<StreamReport>();
        // Counted by the stream across resharding; else its shards for as long as it ran.
        let shard_hours = report
            .map(|r| r.shard_hours)
            .filter(|h| *h > 0.0)
            .unwrap_or(config.shards as f64 * stats.elapsed_ms as f64 / 3.6e6);
        let mut cost = Cost::default();
        cost.add(
            "Kinesis shard-hours",
            shard_hours,
            "shard-hour",
            k.shard_hour,
            1.0,
        );
        if let Some(r) = stats.report::<StreamReport>() {
            cost.add(
                "Kinesis PUT payload units (25 KB)",
                r.sizes.units(k.put_payload_unit_bytes) as f64,
                "unit",
                k.put_payload_units_per_million,
                1e6,
            );
        }
        if let Some(r) = report.filter(|r| r.fan_out_consumers > 0) {
            cost.add(
                "Kinesis enhanced fan-out consumer-shard-hours",
                shard_hours * r.fan_out_consumers as f64,
                "consumer-shard-hour",
                k.enhanced_fan_out_consumer_shard_hour,
                1.0,
            );
            cost.add(
                "Kinesis enhanced fan-out data retrievals",
                r.fan_out_bytes as f64 / crate::api::cost::GB,
                "GB",
                k.enhanced_fan_out_data_gb,
                1.0,
            );
        }
        if config.retention_hours > 24.0 {
            cost.add(
                "Kinesis extended retention",
                shard_hours,
                "shard-hour",
                k.extended_retention_shard_hour,
                1.0,
            );
        }
        Some(cost.continuous(stats.elapsed_ms as f64 / 1000.0))
    }
}

/// What a stream reports.
#[derive(Clone, Debug, Serialize)]
pub struct StreamReport {
    /// Records put into the stream (by its inputs and through the Kinesis API).
    pub records_put: u64,
    /// The nodes that read it.
    pub readers: usize,
    /// With AWS realism: records each shard's write limit refused (empty without).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub throttled_by_shard: Vec<u64>,
    /// Their sizes, for PUT payload units.
    #[serde(skip)]
    pub sizes: Sizes,
    /// After resharding: open shards × hours open (the shard-hours billed); 0 for a
    /// stream that kept its shards (its shards × its run time).
    pub shard_hours: f64,
    /// Enhanced fan-out consumers that read it, and the bytes they read.
    #[serde(skip_serializing_if = "is_zero")]
    pub fan_out_consumers: usize,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub fan_out_bytes: u64,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// Checks a Kinesis stream name: 1 to 128 of `a-zA-Z0-9_.-` (empty: the node id).
pub fn valid_stream_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Ok(());
    }
    if name.len() > 128
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(format!(
            "'{name}' is not a Kinesis stream name: 1 to 128 letters, digits, '_', '.' or '-'"
        ));
    }
    Ok(())
}

impl StreamConfig {
    /// The shards the stream has: `shards`, or an on-demand stream's 4.
    pub fn shard_count(&self) -> usize {
        match self.stream_mode {
            StreamMode::Provisioned => self.shards,
            StreamMode::OnDemand => ON_DEMAND_SHARDS,
        }
    }

    /// The stream's topic: its shards, partition key and capacity, on the run's clock.
    fn topic(
        &self,
        ctx: &NodeContext<'_>,
        schema: crate::arrow::datatypes::SchemaRef,
        retention: Retention,
    ) -> Result<Arc<Topic>> {
        let key = (!self.partition_key.is_empty()).then_some(self.partition_key.as_str());
        Topic::clocked(
            ctx.id,
            schema,
            self.shard_count(),
            key,
            retention,
            self.capacity_records,
            ctx.clock.clone(),
        )
    }

    /// The topic of records that could not be put (the `failed` output).
    fn failed_topic(&self, ctx: &NodeContext<'_>) -> Result<Arc<Topic>> {
        Topic::clocked(
            &format!("{}.failed", ctx.id),
            crate::aws::failed_columns(),
            1,
            None,
            Retention::default(),
            self.capacity_records,
            ctx.clock.clone(),
        )
    }

    /// The name the Kinesis API serves this stream under.
    pub fn api_name(&self, node: &str) -> String {
        if self.stream_name.is_empty() {
            node.to_owned()
        } else {
            self.stream_name.clone()
        }
    }
}

/// Appends one input's records to the stream, skipping those a durable stream already
/// took from it before a restart.
struct Append {
    skip: u64,
    /// With AWS realism: where to say, once, that writers waited for a slow reader
    /// (the stream's memory bound), which Kinesis never makes them do.
    realism: Option<(crate::api::EventSink, String)>,
}

impl Operator for Append {
    async fn process(&mut self, read: Vec<Delivery>, out: &Outputs) -> Result<Hold> {
        for mut d in read {
            if self.skip > 0 {
                let n = (d.batch.num_rows() as u64).min(self.skip);
                self.skip -= n;
                d.batch = d.batch.slice(n as usize, d.batch.num_rows() - n as usize);
                if d.batch.num_rows() == 0 {
                    continue;
                }
            }
            // A producer's put: with AWS realism, what a shard's write limit refuses is
            // throttled and put again after a backoff.
            let waited = out.send_limited(&RECORDS_OUT, d.batch).await?;
            if waited >= Duration::from_millis(1)
                && let Some((events, node)) = self.realism.take()
            {
                events.warn(
                    &node,
                    format!(
                        "writers waited {} ms for the slowest reader: the stream holds at most capacity_records unread records in memory, and Kinesis would have gone on taking them (raise capacity_records, or speed up the reader)",
                        waited.as_millis()
                    ),
                );
            }
        }
        // Appended (and on disk, for a durable stream): handed on.
        Ok(Hold::Released)
    }

    fn report(self, stats: &mut NodeStats) {
        // Records skipped on a resume were read but are not new.
        stats.records_in = stats.records_out;
        stats.bytes_in = stats.bytes_out;
    }
}

/// Wires the stream: subscribes to every input and appends what arrives.
fn run(config: &StreamConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    if let Some(r) = ctx.replaying().filter(|r| r.replay.node == ctx.id) {
        return replay::run(config, ctx, &r.replay.from);
    }
    let inputs = ctx.streams(&RECORDS_IN)?;
    let schema = match inputs.first() {
        Some(first) => {
            for t in &inputs[1..] {
                if t.schema() != first.schema() {
                    return Err(Error::Invalid(format!(
                        "inputs have different columns: '{}' and '{}'",
                        first.name(),
                        t.name()
                    )));
                }
            }
            if !config.columns.is_empty() {
                ctx.warn(
                    "columns is ignored: the stream has the columns of its input (records put through the Kinesis API are parsed into those)".to_owned(),
                );
            }
            first.schema().clone()
        }
        None if ctx.endpoint.is_none() => {
            return Err(Error::Invalid(format!(
                "nothing feeds this stream: wire an input into '{}', or serve the Kinesis API so producers can put records into '{}' (tributary run --serve, or Serve in the toolbar)",
                RECORDS_IN.name,
                config.api_name(ctx.id)
            )));
        }
        None if config.columns.is_empty() => {
            std::sync::Arc::new(crate::arrow::datatypes::Schema::new(vec![
                crate::arrow::datatypes::Field::new(
                    "data",
                    crate::arrow::datatypes::DataType::Binary,
                    false,
                ),
            ]))
        }
        None => std::sync::Arc::new(crate::arrow::datatypes::Schema::new(
            crate::stream::records::parse_columns(&config.columns).map_err(Error::Invalid)?,
        )),
    };
    let retention = Retention {
        max_age: (config.retention_hours > 0.0)
            .then(|| Duration::from_secs_f64(config.retention_hours * 3600.0)),
        max_bytes: (config.retention_mb > 0.0).then_some((config.retention_mb * 1e6) as u64),
        keep_read: true,
    };
    let topic = config.topic(ctx, schema, retention)?;
    let faults = super::faults::Injector::new(&ctx.faults, ctx.id, ctx.events, topic.schema())?;
    if let Some(url) = &ctx.environment.broker {
        if ctx.aws_realism {
            ctx.warn("AWS realism: a stream whose shards are in a broker does not keep Kinesis's write limits (its retention deadline still holds)".to_owned());
        }
        return run_on_broker(config, ctx, url, inputs, topic);
    }
    if ctx.aws_realism {
        topic.set_write_limit(WriteLimit::KINESIS_SHARD);
    }
    if ctx.faults.broker_disconnects().is_some() {
        ctx.warn("faults.broker_disconnect_every_s applies to a stream whose shards are in a broker (an environment with broker); this one runs in memory".to_owned());
    }
    if let Some(b) = faults.as_ref().and_then(|f| f.bursts()) {
        topic.set_bursts(b);
    }
    let taken = if config.durable && ctx.replaying().is_some() {
        ctx.info("replay: the stream keeps its records in memory, its folder as the original run left it".to_owned());
        Default::default()
    } else if config.durable {
        topic.attach_durable(&replay::folder(ctx.base_dir, ctx.id))?
    } else {
        Default::default()
    };
    let failed = config.failed_topic(ctx)?;
    let wiring = Wiring::new()
        .output(&RECORDS_OUT, topic.clone())
        .output(&FAILED_OUT, failed.clone());
    if let Ok(mut written) = wiring.metrics().written.lock() {
        *written = Some(topic.clone());
    }
    let served = serve(config, ctx, &topic, &failed, wiring.metrics())?;
    if served.is_none() {
        // Nothing can fail to parse: the failed output ends with the run.
        failed.add_producer().close();
    }
    let mut copies = Vec::new();
    for input in inputs {
        let consumer = subscribe(&input, ctx.id, wiring.metrics());
        // Records this input gave a durable stream before are already in it.
        let skip = taken.get(input.name()).copied().unwrap_or(0);
        if skip > 0 {
            ctx.info(format!(
                "resuming: {skip} records from '{}' are already in the stream",
                input.name()
            ));
        }
        let out = Outputs::new(wiring.metrics().clone())
            .with(&RECORDS_OUT, topic.add_producer_for(input.name()));
        let realism = ctx
            .aws_realism
            .then(|| (ctx.events.clone(), ctx.id.to_owned()));
        copies.push((consumer, Append { skip, realism }, out));
    }
    let options = ReadOptions {
        handoff: Handoff::Released,
        ..Default::default()
    };
    let metrics = wiring.metrics().clone();
    let mut out = wiring.operators(copies, options);
    if let Some(task) = out.task.take() {
        // The stream lasts while it is read: its last counts (records retention dropped
        // before a reader read them) are known once every reader is done.
        let topic = topic.clone();
        let live = LiveShards {
            settings: {
                let mut s = ctx.settings.clone();
                s.mark_unchanged();
                s
            },
            topic: topic.clone(),
            events: ctx.events.clone(),
            node: ctx.id.to_owned(),
            durable: config.durable,
            on_demand: (ctx.aws_realism
                && config.stream_mode == StreamMode::OnDemand
                && !config.durable)
                .then(|| scaling::OnDemand::new(&topic)),
        };
        out.task = Some(Box::pin(async move {
            // Resharding from the inspector while the stream is fed or read (a served
            // stream's inputs may be done at once; it lasts while it is read).
            let read = topic.clone();
            let stats = live
                .while_running(Box::pin(async move {
                    let stats = task.await?;
                    read.readers_gone().await;
                    Ok(stats)
                }))
                .await?;
            let sizes = topic.put_sizes();
            Ok(stats.with_report(StreamReport {
                records_put: sizes.records(),
                readers: topic.reader_count(),
                throttled_by_shard: topic.throttled_by_shard(),
                sizes,
                // Resharded: counted shard by shard; else its shards × how long it ran.
                shard_hours: if topic.is_resharded() {
                    topic.shard_hours()
                } else {
                    0.0
                },
                fan_out_consumers: topic.fan_out_reads().0,
                fan_out_bytes: topic.fan_out_reads().1,
            }))
        }));
    }
    if let Some(registration) = served
        && let Some(task) = out.task.take()
    {
        // Served: outside producers may put until the run is stopped; then the stream
        // leaves the endpoint, its API producer closes and the stream drains.
        let stop = ctx.stop.clone();
        out.task = Some(Box::pin(async move {
            let (copied, ()) = futures::join!(task, async move {
                stop.wait().await;
                drop(registration);
            });
            let mut stats = copied?;
            let now = super::operator::counted(&metrics);
            stats.records_in = now.records_in;
            stats.bytes_in = now.bytes_in;
            stats.records_out = now.records_out;
            stats.bytes_out = now.bytes_out;
            Ok(stats)
        }));
    }
    Ok(out)
}

/// Registers the stream with the AWS endpoint, if the engine serves one: records put
/// through the Kinesis API are appended like the inputs' (those that do not fit the
/// columns go to `failed`), and `GetRecords` reads what the stream holds.
fn serve(
    config: &StreamConfig,
    ctx: &NodeContext<'_>,
    topic: &Arc<Topic>,
    failed: &Arc<Topic>,
    metrics: &Arc<crate::stream::metrics::NodeMetrics>,
) -> Result<Option<crate::aws::Registration>> {
    let Some(registry) = &ctx.endpoint else {
        return Ok(None);
    };
    let rows = crate::aws::StreamRows::for_schema(topic.schema());
    if let crate::aws::StreamRows::Refused(why) = &rows {
        ctx.warn(format!(
            "records cannot be put into this stream through the Kinesis API (GetRecords still reads it): {why}"
        ));
    }
    let name = config.api_name(ctx.id);
    let registration = registry.serve_stream(crate::aws::ServedStream {
        name: name.clone(),
        node: ctx.id.to_owned(),
        topic: topic.clone(),
        producer: topic.add_producer_for("kinesis-api"),
        rows,
        failed: Some(failed.add_producer()),
        metrics: metrics.clone(),
        retention_hours: config.retention_hours,
        created_ms: crate::stream::topic::now_ms(),
        misfits: Default::default(),
        deaggregate: config.kpl_aggregation == KplAggregation::Deaggregate,
        on_demand: config.stream_mode == StreamMode::OnDemand,
        active: Default::default(),
        served_as: format!(
            "served as Kinesis stream '{name}' ({} shards)",
            config.shard_count()
        ),
        events: ctx.events.clone(),
    })?;
    Ok(Some(registration))
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
    use super::broker::{GroupSource, XAdd};
    use super::operator::{counted, run_operator, run_source};
    use crate::stream::broker::{ArrowJsonDecoder, BrokerConn, GroupReader, Worker};
    use crate::stream::metrics::NodeMetrics;
    use std::sync::atomic::{AtomicBool, Ordering};

    let schema = topic.schema().clone();
    let prefix = if config.broker_key.trim().is_empty() {
        format!("tributary:{}", ctx.id)
    } else {
        config.broker_key.trim().to_owned()
    };
    let keys: Vec<String> = (0..config.shard_count())
        .map(|s| format!("{prefix}:{s}"))
        .collect();
    let reconnect = Duration::from_secs(60);
    let wiring = Wiring::new().output(&RECORDS_OUT, topic.clone());
    // The writers count into a counter of their own: records are counted once, on the
    // way back from the broker.
    let stored = Arc::new(NodeMetrics::default());
    let mut writers = Vec::new();
    for input in inputs {
        let consumer = subscribe(&input, ctx.id, wiring.metrics());
        let conn =
            BrokerConn::new(url, reconnect)?.with_disconnects(ctx.faults.broker_disconnects());
        let op = XAdd {
            worker: Worker::spawn(
                format!("broker-put-{}-{}", ctx.id, input.name()),
                move || Ok(conn),
            )?,
            keys: keys.clone(),
            split: Some(topic.clone()),
            maxlen: 0,
        };
        writers.push((consumer, op, Outputs::new(stored.clone())));
    }
    let writers_done = Arc::new(AtomicBool::new(false));
    let conn = BrokerConn::new(url, reconnect)?.with_disconnects(ctx.faults.broker_disconnects());
    let (group_keys, node) = (keys.clone(), ctx.id.to_owned());
    let reader = Worker::spawn(format!("broker-get-{}", ctx.id), move || {
        GroupReader::new(conn, group_keys, "tributary", &node, "0")
    })?;
    let source = GroupSource::new(
        reader,
        Box::new(ArrowJsonDecoder::new(schema)),
        topic.clone(),
        (0..config.shard_count()).collect(),
    )
    .batches(8192, Duration::from_millis(100))
    .until(writers_done.clone());
    ctx.info(format!(
        "shards in {url} as {prefix}:0..{}",
        config.shard_count() - 1
    ));
    let out = wiring.producers();
    let stop = ctx.stop.clone();
    let metrics = wiring.metrics().clone();
    let task = async move {
        let read = run_source(source, out, 0.0, stop);
        let write = async {
            let result = futures::future::try_join_all(
                writers
                    .into_iter()
                    .map(|(consumer, op, out)| run_operator(consumer, op, out, XAdd::OPTIONS)),
            )
            .await;
            writers_done.store(true, Ordering::Release);
            result
        };
        let (read, write) = futures::join!(read, write);
        write?;
        let finish = read?;
        let mut stats = counted(&metrics);
        finish(&mut stats);
        stats.records_in = counted(&stored).records_out;
        Ok(stats)
    };
    Ok(wiring.task(Box::pin(task)))
}
