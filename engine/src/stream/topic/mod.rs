//! A Kinesis-like sharded stream, in process.
//!
//! Records are appended as Arrow record batches. A partition key column picks the shard
//! by the MD5 of the key, as Kinesis does, so per-key order is kept. Each shard numbers
//! its records with increasing sequence numbers. Any number of consumers read
//! independently, each from its own position (TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER,
//! AT_TIMESTAMP). Retention trims by age and size, but never data a registered consumer
//! has not read yet: instead, a producer waits while the slowest consumer is more than
//! the capacity behind, so memory stays bounded and a slow consumer slows its producers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use md5::{Digest as _, Md5};
use tokio::sync::Notify;

mod durable_io;
mod ends;
mod read;
mod reshard;

pub use ends::{Consumer, LagProbe, Offered, Producer};
pub use read::{ShardRead, StoredRecord};
pub use reshard::{Reshard, ShardInfo, is_closed_shard};

use super::durable::DurableLog;
use super::limits::{ShardBudgets, WriteLimit};
use crate::api::Clock;
use crate::arrow::array::{Array, RecordBatch, UInt32Array};
use crate::arrow::compute::take_record_batch;
use crate::arrow::datatypes::SchemaRef;
use crate::arrow::util::display::{ArrayFormatter, FormatOptions};
use crate::error::{Error, Result};

/// Where a new consumer starts reading.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE", tag = "type", content = "value")]
pub enum StartPosition {
    /// The oldest record still retained.
    TrimHorizon,
    /// Only records appended after the consumer registers.
    Latest,
    /// The given sequence number in every shard (records at or after it).
    AtSequenceNumber(u64),
    /// A sequence number per shard, in shard order (records at or after each); shards
    /// beyond the list start at TRIM_HORIZON.
    AtShardSequenceNumbers(Vec<u64>),
    /// The first record that arrived at or after this time (ms since the epoch).
    AtTimestamp(i64),
}

/// Retention limits; `None` means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Drop records older than this.
    pub max_age: Option<Duration>,
    /// Drop the oldest records beyond this many bytes per shard.
    pub max_bytes: Option<u64>,
    /// Keep records every reader has read, within the limits above (a stream's replay
    /// window). Without it, a record goes as soon as every reader has read it: the
    /// topics between nodes hold only what is in flight.
    pub keep_read: bool,
}

/// A batch to append: its shard, its rows, what was put (API records) and, when the
/// caller counted them, its records' bytes.
type Part = (usize, RecordBatch, Option<RecordBatch>, Option<u64>);

/// One appended batch in a shard.
#[derive(Clone, Debug)]
struct Entry {
    first_seq: u64,
    batch: RecordBatch,
    arrival_ms: i64,
    bytes: u64,
    /// For records put through the Kinesis API: what was put, row for row.
    meta: Option<RecordBatch>,
    /// The records' bytes as a reader gets them (data and partition key), counted when
    /// the topic keeps read limits (0 otherwise).
    data_bytes: u64,
}

#[derive(Debug)]
struct Shard {
    entries: VecDeque<Entry>,
    next_seq: u64,
    bytes: u64,
    /// The hash keys it takes: first and last.
    range: (u128, u128),
    /// The shards it was split or merged from: a reader reads them to their end first.
    parents: Vec<usize>,
    /// When it opened, and when resharding closed it (its shard-hours). A closed shard
    /// takes nothing more; `next_seq` is its end.
    opened: std::time::Instant,
    closed_at: Option<std::time::Instant>,
}

impl Shard {
    /// Closed by resharding.
    fn is_closed(&self) -> bool {
        self.closed_at.is_some()
    }

    fn new(range: (u128, u128), parents: Vec<usize>, opened: std::time::Instant) -> Self {
        Self {
            entries: VecDeque::new(),
            next_seq: 0,
            bytes: 0,
            range,
            parents,
            opened,
            closed_at: None,
        }
    }

    fn trim_horizon(&self) -> u64 {
        self.entries
            .front()
            .map(|e| e.first_seq)
            .unwrap_or(self.next_seq)
    }
}

#[derive(Debug)]
struct ConsumerState {
    name: String,
    /// Next sequence number to read, per shard.
    positions: Vec<u64>,
    /// Next sequence number not yet acknowledged (processed and handed on), per shard.
    acked: Vec<u64>,
    /// Next sequence number not yet handled (processed, perhaps not yet acknowledged
    /// downstream), per shard: a poller waits for this on a parent shard another reads.
    handled: Vec<u64>,
    /// When the acknowledged positions were last checkpointed (durable topics).
    saved_at: Option<std::time::Instant>,
    active: bool,
    /// Went away before reading to the end (its node failed, or was stopped): what it
    /// did not acknowledge holds back acknowledgements upstream ([`Topic::acked_through`]),
    /// so a restart reads it again; it no longer holds writers back.
    failed: bool,
    /// The shards this consumer reads (a per-shard reader, as a Lambda's event source
    /// mapping polls each shard on its own: its shard, and the children resharding
    /// gives it), or every shard.
    owned: Option<Vec<usize>>,
    /// Records retention dropped before this consumer read them.
    expired: u64,
    /// An enhanced fan-out consumer's own read budget (2 MiB/s per shard), instead of
    /// the shard's budget shared by standard readers.
    fan_out: Option<super::limits::ReadBudgets>,
    /// Reads the shards' read limits held back.
    read_throttled: u64,
}

impl ConsumerState {
    /// Whether the consumer reads shard `s`.
    fn reads(&self, s: usize) -> bool {
        self.owned.as_ref().is_none_or(|o| o.contains(&s))
    }
}

#[derive(Debug)]
struct Inner {
    shards: Vec<Shard>,
    consumers: Vec<ConsumerState>,
    producers: usize,
    closed: bool,
    records_in: u64,
    bytes_in: u64,
    trimmed_unread: u64,
    /// Segments and checkpoints on disk, for a durable topic.
    durable: Option<DurableLog>,
    /// Checkpoints found on disk when the topic opened, by consumer name.
    checkpoints: std::collections::BTreeMap<String, Vec<u64>>,
    /// Each shard's write budget, when the topic keeps Kinesis's write limits.
    budgets: Option<ShardBudgets>,
    /// Each shard's `GetRecords` budget, with the write limits.
    reads: Option<super::limits::ReadBudgets>,
    /// The sizes of the records producers put (data and partition key), for the cost
    /// meter; counted by [`Producer::offer`] and [`Producer::put`].
    put_sizes: crate::api::cost::Sizes,
    /// Bytes enhanced fan-out consumers read, and their names (the cost meter's data
    /// retrievals and consumer-shard-hours).
    fan_out_bytes: u64,
    fan_out_names: std::collections::BTreeSet<String>,
    /// When `UpdateShardCount` was applied (`Topic::count_scaling`), for its quota.
    scalings: Vec<std::time::Instant>,
    /// After resharding: the open shards by the first hash key they take, in order.
    /// `None` while the shards are the ones the topic was made with (even ranges).
    router: Option<Vec<(u128, usize)>>,
}

impl Inner {
    /// The open shard that takes hash key `hash`.
    fn route(&self, hash: u128) -> usize {
        match &self.router {
            None => shard_for_hash(hash, self.shards.len()),
            Some(r) => {
                r[r.partition_point(|(start, _)| *start <= hash)
                    .saturating_sub(1)]
                .1
            }
        }
    }
}

/// A sharded, retained stream of record batches.
#[derive(Debug)]
pub struct Topic {
    name: String,
    schema: SchemaRef,
    key_column: Option<usize>,
    retention: Retention,
    capacity_records: u64,
    /// The run's clock: arrival times, retention, limits and shard-hours follow it.
    clock: Clock,
    inner: Mutex<Inner>,
    data: Notify,
    room: Notify,
}

/// What a consumer read: one batch slice from one shard.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// Shard index.
    pub shard: usize,
    /// Sequence number of the first row.
    pub first_seq: u64,
    /// When the rows arrived (ms since the epoch).
    pub arrival_ms: i64,
    /// The rows.
    pub batch: RecordBatch,
    /// For records put through the Kinesis API: the bytes and partition key that were
    /// put, row for row ([`PutRecords::meta_schema`]).
    pub meta: Option<RecordBatch>,
}

impl Delivery {
    /// For records put through the Kinesis API: the bytes put, row for row.
    pub fn put_data(&self) -> Option<&crate::arrow::array::BinaryArray> {
        self.meta.as_ref()?.column(1).as_any().downcast_ref()
    }
}

/// Records put as bytes (through the Kinesis API) into one shard: their rows, and the
/// bytes and partition keys that were put.
#[derive(Clone, Debug)]
pub struct PutRecords {
    /// The shard.
    pub shard: usize,
    /// The rows, in the topic's columns.
    pub batch: RecordBatch,
    /// `partition_key` (Utf8) and `data` (Binary), row for row.
    pub meta: RecordBatch,
}

impl PutRecords {
    /// The columns of [`PutRecords::meta`].
    pub fn meta_schema() -> SchemaRef {
        use crate::arrow::datatypes::{DataType, Field, Schema};
        static SCHEMA: std::sync::OnceLock<SchemaRef> = std::sync::OnceLock::new();
        SCHEMA
            .get_or_init(|| {
                Arc::new(Schema::new(vec![
                    Field::new("partition_key", DataType::Utf8, false),
                    Field::new("data", DataType::Binary, false),
                ]))
            })
            .clone()
    }
}

/// Lag of one consumer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Lag {
    /// Records behind the tip, over all shards.
    pub records: u64,
    /// Milliseconds between now and the arrival of the oldest unread record.
    pub millis: u64,
    /// Records retention dropped before the consumer read them, so far.
    pub expired: u64,
    /// Reads the shards' read limits held back (AWS realism), so far.
    pub read_throttled: u64,
}

/// Milliseconds since the epoch, on the wall clock (a topic's own times follow the
/// run's clock: [`Topic::now_ms`]).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The shard a partition key goes to: the MD5 of the key as a 128-bit number, mapped
/// onto `shards` equal hash-key ranges, as Kinesis does.
pub fn shard_for_key(key: &[u8], shards: usize) -> usize {
    shard_for_hash(hash_key(key), shards)
}

/// A partition key's hash key: its MD5 as a 128-bit number, as Kinesis maps keys.
pub fn hash_key(key: &[u8]) -> u128 {
    u128::from_be_bytes(Md5::digest(key).into())
}

/// The width of each of `shards` even hash key ranges: floor(2^128 / shards), as Kinesis
/// splits the key space when a stream is created (`None` for one shard: all of it).
fn range_width(shards: usize) -> Option<u128> {
    let n = shards.max(1) as u128;
    if n == 1 {
        return None;
    }
    // 2^128 = u128::MAX + 1.
    Some(u128::MAX / n + u128::from(u128::MAX % n == n - 1))
}

/// The shard whose hash key range holds `hash`: shard i starts at i × floor(2^128 /
/// shards), and the last one ends at 2^128 − 1, as `ListShards` reports a new stream's
/// `HashKeyRange`s.
pub fn shard_for_hash(hash: u128, shards: usize) -> usize {
    match range_width(shards) {
        None => 0,
        Some(width) => ((hash / width) as usize).min(shards - 1),
    }
}

/// Shard `shard`'s hash key range (first and last hash key), of `shards` shards.
pub fn hash_key_range(shard: usize, shards: usize) -> (u128, u128) {
    match range_width(shards) {
        None => (0, u128::MAX),
        Some(width) => {
            let start = width * shard as u128;
            let end = if shard + 1 >= shards {
                u128::MAX
            } else {
                start + width - 1
            };
            (start, end)
        }
    }
}

impl crate::api::clock::Backlog for Topic {
    fn unread(&self) -> u64 {
        Self::backlog(&self.lock())
    }
}

impl Topic {
    /// A topic with `shards` shards. `key_column` names the partition key column; without
    /// one, batches go to shard 0. `capacity_records` bounds how far the slowest consumer
    /// may fall behind before producers wait.
    pub fn new(
        name: &str,
        schema: SchemaRef,
        shards: usize,
        key_column: Option<&str>,
        retention: Retention,
        capacity_records: u64,
    ) -> Result<Arc<Self>> {
        Self::clocked(
            name,
            schema,
            shards,
            key_column,
            retention,
            capacity_records,
            Clock::wall(),
        )
    }

    /// [`Topic::new`] on the run's `clock` (arrival times, retention, write and read
    /// limits and shard-hours follow it).
    pub fn clocked(
        name: &str,
        schema: SchemaRef,
        shards: usize,
        key_column: Option<&str>,
        retention: Retention,
        capacity_records: u64,
        clock: Clock,
    ) -> Result<Arc<Self>> {
        if shards == 0 {
            return Err(Error::Invalid(
                "a stream needs at least one shard".to_owned(),
            ));
        }
        let key_column = match key_column {
            None => None,
            Some(k) => Some(
                schema
                    .index_of(k)
                    .map_err(|_| Error::no_such_column("partition_key", k, &schema))?,
            ),
        };
        let opened = clock.instant();
        let topic = Arc::new(Self {
            name: name.to_owned(),
            schema,
            key_column,
            retention,
            capacity_records: capacity_records.max(1),
            clock,
            inner: Mutex::new(Inner {
                shards: (0..shards)
                    .map(|i| Shard::new(hash_key_range(i, shards), Vec::new(), opened))
                    .collect(),
                consumers: Vec::new(),
                producers: 0,
                closed: false,
                records_in: 0,
                bytes_in: 0,
                trimmed_unread: 0,
                durable: None,
                checkpoints: Default::default(),
                budgets: None,
                reads: None,
                put_sizes: Default::default(),
                fan_out_bytes: 0,
                fan_out_names: Default::default(),
                scalings: Vec::new(),
                router: None,
            }),
            data: Notify::new(),
            room: Notify::new(),
        });
        let weak = Arc::downgrade(&topic);
        topic.clock.watch(weak);
        Ok(topic)
    }

    /// Per shard, the first sequence number some active (or failed) consumer has not
    /// acknowledged (the tip when nobody reads).
    pub fn acked_through(&self) -> Vec<u64> {
        let inner = self.lock();
        inner
            .shards
            .iter()
            .enumerate()
            .map(|(i, s)| {
                inner
                    .consumers
                    .iter()
                    .filter(|c| (c.active || c.failed) && c.reads(i))
                    .map(|c| c.acked[i])
                    .min()
                    .unwrap_or(s.next_seq)
            })
            .collect()
    }

    /// Records that node `name`, wired to read this topic, failed before it subscribed:
    /// it holds acknowledgements upstream at what the topic holds now, as a reader that
    /// failed at once would (see [`Topic::acked_through`]).
    pub fn reader_failed_to_start(&self, name: &str) {
        let mut inner = self.lock();
        let horizon: Vec<u64> = inner.shards.iter().map(Shard::trim_horizon).collect();
        inner.consumers.push(ConsumerState {
            name: name.to_owned(),
            positions: horizon.clone(),
            handled: horizon.clone(),
            acked: horizon,
            saved_at: None,
            active: false,
            failed: true,
            owned: None,
            expired: 0,
            fan_out: None,
            read_throttled: 0,
        });
    }

    /// Waits until no reader is left: each has read to the end, failed or was stopped.
    /// (Readers subscribe when the graph is wired, before anything streams.)
    pub async fn readers_gone(&self) {
        loop {
            let room = self.room.notified();
            if self.lock().consumers.iter().all(|c| !c.active) {
                return;
            }
            room.await;
        }
    }

    /// How many readers (by name) the topic has had, failed ones included.
    pub fn reader_count(&self) -> usize {
        let inner = self.lock();
        let names: std::collections::BTreeSet<&str> =
            inner.consumers.iter().map(|c| c.name.as_str()).collect();
        names.len()
    }

    /// Whether a reader went away before reading to the end (see [`Topic::acked_through`]).
    pub fn has_failed_reader(&self) -> bool {
        self.lock().consumers.iter().any(|c| c.failed)
    }

    /// Per shard, the next sequence number to be appended.
    pub fn tail(&self) -> Vec<u64> {
        self.lock().shards.iter().map(|s| s.next_seq).collect()
    }

    /// Starts each (empty) shard's sequence numbers at `next`: a replay appends records
    /// with the numbers they had. Call before anything subscribes or appends.
    pub fn start_sequences_at(&self, next: &[u64]) {
        let mut inner = self.lock();
        for (shard, n) in inner.shards.iter_mut().zip(next) {
            if shard.entries.is_empty() {
                shard.next_seq = *n;
            }
        }
    }

    /// Whether the topic keeps its records on disk.
    pub fn is_durable(&self) -> bool {
        self.lock().durable.is_some()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The schema of its records.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The partition key column, if records are spread by one.
    pub fn key_column(&self) -> Option<usize> {
        self.key_column
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.lock().shards.len()
    }

    /// The run's clock this topic follows.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Keeps Kinesis's write limit on every shard from now on: [`Producer::offer`] and
    /// [`Topic::admit`] take what the shards' budgets allow and refuse the rest.
    pub fn set_write_limit(&self, limit: WriteLimit) {
        let mut inner = self.lock();
        let shards = inner.shards.len();
        inner.budgets = Some(ShardBudgets::new(limit, shards, self.clock.clone()));
        inner.reads = Some(super::limits::ReadBudgets::new(shards, self.clock.clone()));
    }

    /// Keeps injected throttling bursts: while one lasts, every shard refuses every put
    /// (with or without Kinesis's write limit).
    pub fn set_bursts(&self, bursts: crate::api::faults::Bursts) {
        let mut inner = self.lock();
        let shards = inner.shards.len();
        inner
            .budgets
            .get_or_insert_with(|| {
                ShardBudgets::new(WriteLimit::UNLIMITED, shards, self.clock.clone())
            })
            .with_bursts(bursts);
    }

    /// Whether shard `shard` takes a `GetRecords` call now (always without limits).
    pub fn admit_read(&self, shard: usize) -> bool {
        self.lock().reads.as_mut().is_none_or(|r| r.call(shard))
    }

    /// Charges shard `shard`'s read budget the bytes a `GetRecords` call returned.
    pub fn charge_read(&self, shard: usize, bytes: u64) {
        if let Some(r) = self.lock().reads.as_mut() {
            r.charge(shard, bytes);
        }
    }

    /// Whether the topic keeps a write limit.
    pub fn is_write_limited(&self) -> bool {
        self.lock().budgets.is_some()
    }

    /// Of records of `sizes` bytes (data and partition key) put into `shard` in this
    /// order, how many its write budget takes now; the rest are refused, as a put beyond
    /// a shard's limit is. All of them without a limit.
    pub fn admit(&self, shard: usize, sizes: &[u64]) -> usize {
        match self.lock().budgets.as_mut() {
            Some(b) => b.admit(shard, sizes.iter().copied()),
            None => sizes.len(),
        }
    }

    /// The sizes of the records put so far through [`Producer::offer`] and
    /// [`Producer::put`] (what Kinesis would bill PUT payload units for).
    pub fn put_sizes(&self) -> crate::api::cost::Sizes {
        self.lock().put_sizes.clone()
    }

    /// Open shards × the time they were open so far, in hours (the shard-hours Kinesis
    /// bills, across resharding).
    pub fn shard_hours(&self) -> f64 {
        let now = self.clock.instant();
        self.lock()
            .shards
            .iter()
            .map(|s| {
                s.closed_at
                    .unwrap_or(now)
                    .saturating_duration_since(s.opened)
                    .as_secs_f64()
            })
            .sum::<f64>()
            / 3600.0
    }

    /// Enhanced fan-out consumers (by name) and the bytes they read.
    pub fn fan_out_reads(&self) -> (usize, u64) {
        let inner = self.lock();
        (inner.fan_out_names.len(), inner.fan_out_bytes)
    }

    /// Records and bytes (data and partition key) producers have put so far, as the
    /// cost meter and on-demand scaling count them.
    pub fn put_totals(&self) -> (u64, u64) {
        let inner = self.lock();
        (inner.put_sizes.records(), inner.put_sizes.bytes())
    }

    /// Records refused for the write limit so far, per shard (empty without a limit).
    pub fn throttled_by_shard(&self) -> Vec<u64> {
        self.lock()
            .budgets
            .as_ref()
            .map(|b| b.refused().to_vec())
            .unwrap_or_default()
    }

    /// Registers a producer; the topic closes when every registered producer has closed.
    pub fn add_producer(self: &Arc<Self>) -> Producer {
        self.add_producer_for("")
    }

    /// Registers a producer writing what it reads from `input` (a durable topic counts
    /// the records per input, so a restart does not append them twice).
    pub fn add_producer_for(self: &Arc<Self>, input: &str) -> Producer {
        self.lock().producers += 1;
        Producer {
            topic: self.clone(),
            closed: false,
            input: input.to_owned(),
        }
    }

    /// Registers a consumer reading from `start`.
    pub fn subscribe(self: &Arc<Self>, name: &str, start: &StartPosition) -> Consumer {
        self.subscribe_shard(name, start, None)
    }

    /// Registers a consumer of shard `shard` only (every shard when `None`), reading from
    /// `start`. Per-shard consumers of one name share its checkpoint, each its own shard:
    /// together they are one reader that never waits for one shard to read another.
    pub fn subscribe_shard(
        self: &Arc<Self>,
        name: &str,
        start: &StartPosition,
        shard: Option<usize>,
    ) -> Consumer {
        let mut inner = self.lock();
        let checkpoint = inner.checkpoints.get(name).cloned();
        let positions: Vec<u64> = inner
            .shards
            .iter()
            .enumerate()
            .map(|(i, s)| match &checkpoint {
                // A durable topic resumes a known consumer where it acknowledged.
                Some(c) => c[i].clamp(s.trim_horizon(), s.next_seq),
                None => match start {
                    StartPosition::TrimHorizon => s.trim_horizon(),
                    StartPosition::Latest => s.next_seq,
                    StartPosition::AtSequenceNumber(n) => (*n).clamp(s.trim_horizon(), s.next_seq),
                    StartPosition::AtShardSequenceNumbers(ns) => ns
                        .get(i)
                        .copied()
                        .unwrap_or(0)
                        .clamp(s.trim_horizon(), s.next_seq),
                    StartPosition::AtTimestamp(ts) => s
                        .entries
                        .iter()
                        .find(|e| e.arrival_ms >= *ts)
                        .map(|e| e.first_seq)
                        .unwrap_or(s.next_seq),
                },
            })
            .collect();
        inner.consumers.push(ConsumerState {
            name: name.to_owned(),
            acked: positions.clone(),
            handled: positions.clone(),
            positions,
            saved_at: None,
            active: true,
            failed: false,
            owned: shard.map(|s| vec![s]),
            expired: 0,
            fan_out: None,
            read_throttled: 0,
        });
        let index = inner.consumers.len() - 1;
        Consumer {
            topic: self.clone(),
            index,
            ended: false,
        }
    }

    /// Records appended so far, and their bytes.
    pub fn totals(&self) -> (u64, u64) {
        let inner = self.lock();
        (inner.records_in, inner.bytes_in)
    }

    /// Records trimmed by retention before every consumer read them.
    pub fn trimmed_unread(&self) -> u64 {
        self.lock().trimmed_unread
    }

    /// Records currently retained.
    pub fn retained_records(&self) -> u64 {
        self.lock()
            .shards
            .iter()
            .flat_map(|s| s.entries.iter())
            .map(|e| e.batch.num_rows() as u64)
            .sum()
    }

    fn backlog(inner: &Inner) -> u64 {
        // Records the slowest active reader has not read, over all shards (the
        // per-shard consumers of one name are one reader).
        let mut by_name: std::collections::BTreeMap<&str, u64> = Default::default();
        for c in inner.consumers.iter().filter(|c| c.active) {
            let unread: u64 = inner
                .shards
                .iter()
                .zip(&c.positions)
                .enumerate()
                .filter(|(i, _)| c.reads(*i))
                .map(|(_, (s, p))| s.next_seq.saturating_sub(*p))
                .sum();
            *by_name.entry(c.name.as_str()).or_default() += unread;
        }
        by_name.into_values().max().unwrap_or(0)
    }

    /// Splits a batch by partition key (its MD5) into batches for `shards` even shards.
    pub fn split(&self, batch: &RecordBatch, shards: usize) -> Result<Vec<(usize, RecordBatch)>> {
        if self.key_column.is_none() || shards == 1 {
            return Ok(vec![(0, batch.clone())]);
        }
        self.parts(
            batch,
            self.shard_rows(batch, shards, |h| shard_for_hash(h, shards))?,
        )
    }

    /// Splits a batch by partition key into batches for the open shards that take the
    /// keys now.
    fn route_parts(&self, inner: &Inner, batch: &RecordBatch) -> Result<Vec<(usize, RecordBatch)>> {
        if inner.router.is_none() && (self.key_column.is_none() || inner.shards.len() == 1) {
            return Ok(vec![(0, batch.clone())]);
        }
        self.parts(batch, self.routed_rows(inner, batch)?)
    }

    /// The rows of `batch` each shard takes now, in order, indexed by shard.
    fn routed_rows(&self, inner: &Inner, batch: &RecordBatch) -> Result<Vec<Vec<u32>>> {
        self.shard_rows(batch, inner.shards.len(), |h| inner.route(h))
    }

    fn parts(&self, batch: &RecordBatch, rows: Vec<Vec<u32>>) -> Result<Vec<(usize, RecordBatch)>> {
        let mut out = Vec::new();
        for (shard, idx) in rows.into_iter().enumerate() {
            if idx.is_empty() {
                continue;
            }
            let indices = UInt32Array::from(idx);
            let part =
                take_record_batch(batch, &indices).map_err(|e| Error::Internal(e.to_string()))?;
            out.push((shard, part));
        }
        Ok(out)
    }

    /// The rows of `batch` each of `shards` shards gets, in order, the shard of a key
    /// being `route` of its hash key (without a key column, every row has hash key 0).
    fn shard_rows(
        &self,
        batch: &RecordBatch,
        shards: usize,
        route: impl Fn(u128) -> usize,
    ) -> Result<Vec<Vec<u32>>> {
        let all = || (0..batch.num_rows() as u32).collect::<Vec<_>>();
        let Some(col) = self.key_column else {
            let mut rows = vec![Vec::new(); shards];
            rows[route(0)] = all();
            return Ok(rows);
        };
        let keys = batch.column(col);
        let formatter = ArrayFormatter::try_new(keys.as_ref(), &FormatOptions::default())
            .map_err(|e| Error::Internal(e.to_string()))?;
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); shards];
        let mut buf = String::new();
        for i in 0..batch.num_rows() {
            buf.clear();
            if keys.is_valid(i) {
                use std::fmt::Write as _;
                let _ = write!(buf, "{}", formatter.value(i));
            }
            rows[route(hash_key(buf.as_bytes()))].push(i as u32);
        }
        Ok(rows)
    }

    /// Appends per-shard parts (with what was put, for API records); returns each
    /// part's first sequence number.
    fn append_locked(&self, inner: &mut Inner, parts: Vec<Part>, input: &str) -> Result<Vec<u64>> {
        let now = self.clock.now_ms();
        if let Some(log) = inner.durable.as_mut() {
            let mut total = 0;
            for (shard, batch, _, _) in &parts {
                log.append(*shard, inner.shards[*shard].next_seq, now, batch)?;
                total += batch.num_rows() as u64;
            }
            log.journal(input, total)?;
        }
        let mut firsts = Vec::with_capacity(parts.len());
        // What a reader gets: for the shards' read limits, and the bytes enhanced fan-out
        // consumers read.
        let limited = inner.reads.is_some() || !inner.fan_out_names.is_empty();
        for (shard, batch, meta, known) in parts {
            let data_bytes = match (known, limited) {
                (_, false) => 0,
                (Some(bytes), true) => bytes,
                (None, true) => super::records::billing_sizes(&batch, self.key_column)?
                    .iter()
                    .sum(),
            };
            let bytes = batch.get_array_memory_size() as u64
                + meta
                    .as_ref()
                    .map_or(0, |m| m.get_array_memory_size() as u64);
            let rows = batch.num_rows() as u64;
            let s = &mut inner.shards[shard];
            let first_seq = s.next_seq;
            firsts.push(first_seq);
            s.next_seq += rows;
            s.bytes += bytes;
            s.entries.push_back(Entry {
                first_seq,
                batch,
                arrival_ms: now,
                bytes,
                meta,
                data_bytes,
            });
            inner.records_in += rows;
            inner.bytes_in += bytes;
        }
        self.trim_locked(inner, now);
        Ok(firsts)
    }

    fn trim_locked(&self, inner: &mut Inner, now: i64) {
        let Inner {
            shards,
            consumers,
            trimmed_unread,
            ..
        } = inner;
        for (i, shard) in shards.iter_mut().enumerate() {
            // Read by every active consumer: may go once retention allows or when nobody
            // could ever read it again.
            let min_pos = consumers
                .iter()
                .filter(|c| c.active && c.reads(i))
                .map(|c| c.positions[i])
                .min();
            while let Some(front) = shard.entries.front() {
                let end = front.first_seq + front.batch.num_rows() as u64;
                let read_by_all = min_pos.is_some_and(|p| p >= end);
                let too_old = self
                    .retention
                    .max_age
                    .is_some_and(|a| now - front.arrival_ms > a.as_millis() as i64);
                let too_big = shard.entries.len() > 1
                    && self.retention.max_bytes.is_some_and(|b| shard.bytes > b);
                // Read by all and no replay window kept, or past a limit and read by all
                // (or readable by nobody): it goes.
                let expired = too_old || too_big;
                if (read_by_all && !self.retention.keep_read)
                    || (expired && (read_by_all || min_pos.is_none()))
                {
                    shard.bytes -= front.bytes;
                    shard.entries.pop_front();
                } else if too_old {
                    // Age retention wins over a consumer that fell behind, as in Kinesis;
                    // the loss is counted, for the stream and for each reader that had
                    // not read them. (The size limit never drops unread records:
                    // back-pressure bounds those.)
                    let lost = min_pos
                        .map(|p| end.saturating_sub(p.max(front.first_seq)))
                        .unwrap_or(0);
                    *trimmed_unread += lost;
                    for c in consumers.iter_mut().filter(|c| c.active && c.reads(i)) {
                        c.expired += end.saturating_sub(c.positions[i].max(front.first_seq));
                    }
                    shard.bytes -= front.bytes;
                    shard.entries.pop_front();
                } else {
                    break;
                }
            }
            // Nobody reads this topic: keep only the newest records, so memory stays bounded.
            if min_pos.is_none() {
                let mut rows: u64 = shard
                    .entries
                    .iter()
                    .map(|e| e.batch.num_rows() as u64)
                    .sum();
                while rows > self.capacity_records {
                    let Some(front) = shard.entries.pop_front() else {
                        break;
                    };
                    rows -= front.batch.num_rows() as u64;
                    shard.bytes -= front.bytes;
                }
            }
            // Consumers behind the new horizon skip to it.
            let horizon = shard.trim_horizon();
            for c in consumers.iter_mut() {
                if c.positions[i] < horizon {
                    c.positions[i] = horizon;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
