//! Broker source and sink: read a Redis stream through a consumer group (acknowledging
//! entries once everything downstream has them), or append a stream's records to one.
//! With no `url`, both use the broker of the selected environment. The stream node uses
//! the same two halves ([`GroupSource`], [`XAdd`]) to keep its shards in a broker.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::form::{Editor, Field, FieldProblem, Problems};
use super::operator::{
    Handoff, Hold, Operator, Outputs, ReadOptions, Source, Wiring, output_topic,
};
use super::ports::{FAILED_OUT, RECORDS_IN, RECORDS_OUT};
use super::{Category, Kind, NodeContext, NodeOutput, NodeStats, PortSpec};
use crate::error::{Error, Result};
use crate::stream::broker::{
    BrokerConn, EntryDecoder, GroupReader, Worker, encode_batch, failed_batch, failed_schema,
};
use crate::stream::records::{RowBuilder, SourceColumn, parse_columns};
use crate::stream::topic::{Delivery, Topic};

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

fn check_url(p: &mut Problems, url: &str) {
    if url.trim().is_empty() {
        return;
    }
    p.check(
        url::Url::parse(url.trim()).is_ok_and(|u| matches!(u.scheme(), "redis" | "rediss")),
        "url",
        format!("'{url}' must look like redis://host:port"),
    );
}

const URL_FIELD: Field = Field::new(
    "url",
    "Broker URL",
    Editor::Text,
    "redis://host:port[/db]; empty: the environment's broker.",
);

const RECONNECT_FIELD: Field = Field::new(
    "reconnect_timeout_s",
    "Reconnect timeout (s)",
    Editor::Number,
    "How long to keep retrying while the broker is unreachable.",
);

crate::choice_enum! {
    /// Where a new consumer group starts reading.
    pub enum GroupStart {
        /// The whole stream.
        Earliest = "earliest",
        /// Only entries added after the group was created.
        Latest = "latest",
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
    pub start: GroupStart,
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
            start: GroupStart::Earliest,
            batch_size: 1000,
            idle_timeout_ms: 0,
            max_records: 0,
            reconnect_timeout_s: 60,
        }
    }
}

/// The broker source node.
pub struct BrokerSourceKind;

impl Kind for BrokerSourceKind {
    type Config = BrokerSourceConfig;
    const NAME: &'static str = "broker_source";
    const CATEGORY: Category = Category::Sources;
    const DESCRIPTION: &'static str = "Reads a Redis stream through a consumer group, at least once across restarts; bad entries go to 'failed'.";
    const ICON: &'static str = "📥";
    const INPUTS: &'static [PortSpec] = &[];
    const OUTPUTS: &'static [PortSpec] = &[RECORDS_OUT, FAILED_OUT];
    const FIELDS: &'static [Field] = &[
        URL_FIELD,
        Field::new(
            "stream",
            "Stream key",
            Editor::Text,
            "The Redis stream key.",
        ),
        Field::new(
            "group",
            "Consumer group",
            Editor::Text,
            "The consumer group; readers in one group share the entries.",
        ),
        Field::new(
            "consumer",
            "Consumer name",
            Editor::Text,
            "This reader's name in the group; empty: the node id.",
        ),
        Field::new(
            "columns",
            "Columns",
            Editor::Lines,
            "The record's columns, 'name Type [NOT NULL]' (from the data JSON or from fields).",
        ),
        Field::new(
            "start",
            "Start",
            Editor::Choice(GroupStart::NAMES),
            "Where a new group starts: earliest (the whole stream) or latest.",
        ),
        Field::new(
            "batch_size",
            "Batch size",
            Editor::Number,
            "Entries per read.",
        ),
        Field::new(
            "idle_timeout_ms",
            "Idle timeout (ms)",
            Editor::Number,
            "End the source after this long without new entries (0: run until stopped).",
        ),
        Field::new(
            "max_records",
            "Max records",
            Editor::Number,
            "End after this many records (0: no limit).",
        ),
        RECONNECT_FIELD,
    ];

    fn validate(config: &BrokerSourceConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        check_url(&mut p, &config.url);
        p.check(
            !config.stream.trim().is_empty(),
            "stream",
            "a stream key is required",
        );
        p.check(
            !config.group.trim().is_empty(),
            "group",
            "a consumer group is required",
        );
        p.check_result("columns", parse_columns(&config.columns));
        p.check(config.batch_size > 0, "batch_size", "must be at least 1");
        p.into_vec()
    }

    async fn run(config: &BrokerSourceConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        run_source(config, ctx)
    }
}

/// Starts reading: a named thread talks to the broker, the source appends to `records`.
fn run_source(config: &BrokerSourceConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
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
    let records = output_topic(ctx, &RECORDS_OUT, rows.schema().clone())?;
    let failed = output_topic(ctx, &FAILED_OUT, failed_schema())?;
    let consumer = if config.consumer.trim().is_empty() {
        ctx.id.to_owned()
    } else {
        config.consumer.clone()
    };
    let conn = BrokerConn::new(&url, Duration::from_secs(config.reconnect_timeout_s))?
        .with_disconnects(ctx.faults.broker_disconnects());
    let start = match config.start {
        GroupStart::Latest => "$",
        GroupStart::Earliest => "0",
    };
    let (stream, group) = (config.stream.clone(), config.group.clone());
    let worker = Worker::spawn(format!("broker-src-{}", ctx.id), move || {
        GroupReader::new(conn, vec![stream], &group, &consumer, start)
    })?;
    ctx.info(format!(
        "reading {url} stream '{}' as group '{}'",
        config.stream, config.group
    ));
    let source = GroupSource::new(worker, Box::new(rows), records.clone(), vec![0])
        .with_failed()
        .batches(config.batch_size, Duration::from_millis(200))
        .ending(
            (config.idle_timeout_ms > 0).then(|| Duration::from_millis(config.idle_timeout_ms)),
            (config.max_records > 0).then_some(config.max_records),
        );
    Ok(Wiring::new()
        .output(&RECORDS_OUT, records)
        .output(&FAILED_OUT, failed)
        .source(source, 0.0, ctx.stop.clone()))
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

/// The broker sink node.
pub struct BrokerSinkKind;

impl Kind for BrokerSinkKind {
    type Config = BrokerSinkConfig;
    const NAME: &'static str = "broker_sink";
    const CATEGORY: Category = Category::Outputs;
    const DESCRIPTION: &'static str =
        "Appends a stream's records to a Redis stream, one entry per record.";
    const ICON: &'static str = "📤";
    const INPUTS: &'static [PortSpec] = &[RECORDS_IN];
    const OUTPUTS: &'static [PortSpec] = &[];
    const FIELDS: &'static [Field] = &[
        URL_FIELD,
        Field::new(
            "stream",
            "Stream key",
            Editor::Text,
            "The Redis stream key records are appended to (one entry per record).",
        ),
        Field::new(
            "max_len",
            "Max length",
            Editor::Number,
            "Trim the stream to about this many entries (0: never).",
        ),
        RECONNECT_FIELD,
    ];

    fn validate(config: &BrokerSinkConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        check_url(&mut p, &config.url);
        p.check(
            !config.stream.trim().is_empty(),
            "stream",
            "a stream key is required",
        );
        p.into_vec()
    }

    async fn run(config: &BrokerSinkConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        let url = broker_url(&config.url, ctx)?;
        let input = ctx.stream(&RECORDS_IN)?;
        let conn = BrokerConn::new(&url, Duration::from_secs(config.reconnect_timeout_s))?
            .with_disconnects(ctx.faults.broker_disconnects());
        let worker = Worker::spawn(format!("broker-sink-{}", ctx.id), move || Ok(conn))?;
        let op = XAdd {
            worker,
            keys: vec![config.stream.clone()],
            split: None,
            maxlen: config.max_len,
        };
        Ok(Wiring::new().operator(ctx.id, &input, op, XAdd::OPTIONS))
    }
}

/// Appends the records read to broker streams: one key per shard of `split`, or the one
/// key when `split` is `None`. The input is acknowledged once `XADD` returned.
pub struct XAdd {
    /// The connection's thread.
    pub worker: Worker<BrokerConn>,
    /// Target keys, one per shard.
    pub keys: Vec<String>,
    /// The topic whose partitioning splits records over `keys`.
    pub split: Option<Arc<Topic>>,
    /// Trim each key to about this many entries (0: never).
    pub maxlen: u64,
}

impl XAdd {
    /// How the runner reads an `XAdd`'s input.
    pub const OPTIONS: ReadOptions = ReadOptions {
        max_records: 16_384,
        fill_window: None,
        fill_to: None,
        handoff: Handoff::Released,
        start: crate::stream::topic::StartPosition::TrimHorizon,
        enhanced_fan_out: false,
    };
}

impl Operator for XAdd {
    async fn process(&mut self, read: Vec<Delivery>, out: &Outputs) -> Result<Hold> {
        for d in read {
            let rows = d.batch.num_rows() as u64;
            let parts = match &self.split {
                Some(t) => t.split(&d.batch, self.keys.len())?,
                None => vec![(0, d.batch)],
            };
            let mut bytes = 0;
            for (shard, part) in parts {
                let lines = encode_batch(&part)?;
                bytes += lines.iter().map(String::len).sum::<usize>() as u64;
                let (key, maxlen) = (self.keys[shard].clone(), self.maxlen);
                self.worker
                    .run(move |conn| conn.xadd_lines(&key, &lines, maxlen))
                    .await?;
            }
            out.delivered(rows, bytes);
        }
        // Stored in the broker: handed on.
        Ok(Hold::Released)
    }
}

/// Entries handed on and waiting for the readers downstream, per key: (the output's tail
/// after them, their ids).
type Inflight = Vec<VecDeque<(u64, Vec<String>)>>;

/// Reads broker streams through a consumer group into a topic, pending entries first,
/// and acknowledges (`XACK`) entries once every reader downstream acknowledged them.
pub struct GroupSource {
    worker: Worker<GroupReader>,
    decoder: Box<dyn EntryDecoder>,
    /// The topic good records go to.
    records: Arc<Topic>,
    /// Whether refused entries go to the `failed` output (else they are only counted).
    with_failed: bool,
    /// The shard of `records` each key's records land in.
    shard_of: Vec<usize>,
    count: usize,
    block: Duration,
    idle_end: Option<Duration>,
    max_records: Option<u64>,
    writers_done: Option<Arc<AtomicBool>>,
    inflight: Inflight,
    /// Entries handed on and not yet acknowledged, by key (ids are unique per key only):
    /// when pending entries are read again (after a reconnect), these are not delivered
    /// twice.
    held: HashSet<(usize, String)>,
    delivered: u64,
    last_data: Instant,
}

impl GroupSource {
    /// Reads through `worker`, decoding with `decoder` into `records`; key `i`'s records
    /// land in shard `shard_of[i]`.
    pub fn new(
        worker: Worker<GroupReader>,
        decoder: Box<dyn EntryDecoder>,
        records: Arc<Topic>,
        shard_of: Vec<usize>,
    ) -> Self {
        Self {
            worker,
            decoder,
            records,
            with_failed: false,
            inflight: vec![VecDeque::new(); shard_of.len()],
            shard_of,
            count: 1000,
            block: Duration::from_millis(200),
            idle_end: None,
            max_records: None,
            writers_done: None,
            held: HashSet::new(),
            delivered: 0,
            last_data: Instant::now(),
        }
    }

    /// Sends refused entries to the `failed` output.
    pub fn with_failed(mut self) -> Self {
        self.with_failed = true;
        self
    }

    /// Reads up to `count` entries per key, each read waiting up to `block`.
    pub fn batches(mut self, count: usize, block: Duration) -> Self {
        self.count = count;
        self.block = block;
        self
    }

    /// Ends after `idle` without entries, or after `max` records.
    pub fn ending(mut self, idle: Option<Duration>, max: Option<u64>) -> Self {
        self.idle_end = idle;
        self.max_records = max;
        self
    }

    /// Ends when `done` is set and a read comes back empty (the writers are done).
    pub fn until(mut self, done: Arc<AtomicBool>) -> Self {
        self.writers_done = Some(done);
        self
    }

    /// Acknowledges to the broker the entries whose records every reader downstream has
    /// acknowledged, and forgets them.
    async fn ack_done(&mut self) -> Result<()> {
        let acked = self.records.acked_through();
        let mut done: Vec<(usize, Vec<String>)> = Vec::new();
        for (i, queue) in self.inflight.iter_mut().enumerate() {
            let mut ids = Vec::new();
            while let Some((end, _)) = queue.front() {
                if acked[self.shard_of[i]] < *end {
                    break;
                }
                if let Some((_, mut batch_ids)) = queue.pop_front() {
                    ids.append(&mut batch_ids);
                }
            }
            if !ids.is_empty() {
                done.push((i, ids));
            }
        }
        if done.is_empty() {
            return Ok(());
        }
        let acking = done.clone();
        self.worker
            .run(move |reader| {
                for (i, ids) in &acking {
                    reader.ack(*i, ids)?;
                }
                Ok(())
            })
            .await?;
        for (i, ids) in done {
            for id in ids {
                self.held.remove(&(i, id));
            }
        }
        Ok(())
    }
}

impl Source for GroupSource {
    async fn produce(&mut self, out: &Outputs) -> Result<bool> {
        self.ack_done().await?;
        if self.max_records.is_some_and(|m| self.delivered >= m) {
            return Ok(false);
        }
        let (count, block) = (self.count, self.block);
        let (mut read, reading_pending) = self
            .worker
            .run(move |r| Ok((r.read(count, block)?, r.is_reading_pending())))
            .await?;
        for (i, entries) in &mut read {
            entries.retain(|(id, _)| !self.held.contains(&(*i, id.clone())));
        }
        read.retain(|(_, entries)| !entries.is_empty());
        if read.is_empty() {
            if reading_pending {
                return Ok(true);
            }
            let writers_done = self
                .writers_done
                .as_ref()
                .is_some_and(|d| d.load(Ordering::Acquire));
            let idle = self.idle_end.is_some_and(|d| self.last_data.elapsed() >= d);
            return Ok(!(writers_done || idle));
        }
        self.last_data = Instant::now();
        for (i, entries) in read {
            let ids: Vec<String> = entries.iter().map(|(id, _)| id.clone()).collect();
            out.received(entries.len() as u64, 0);
            let (batch, bad) = self.decoder.decode(&entries)?;
            if let Some(batch) = batch {
                self.delivered += batch.num_rows() as u64;
                out.send(&RECORDS_OUT, batch).await?;
            }
            if !bad.is_empty() {
                if self.with_failed {
                    out.send_failed(&FAILED_OUT, failed_batch(&bad)?).await?;
                } else {
                    out.failed(bad.len() as u64);
                }
            }
            let end = self.records.tail()[self.shard_of[i]];
            self.held.extend(ids.iter().map(|id| (i, id.clone())));
            self.inflight[i].push_back((end, ids));
        }
        Ok(true)
    }

    /// Hands on the readers' acknowledgements for up to a minute after the outputs closed.
    async fn closed(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            self.ack_done().await?;
            if self.inflight.iter().all(|q| q.is_empty()) || Instant::now() > deadline {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn report(self, stats: &mut NodeStats) {
        stats.records_out = self.delivered;
    }
}
