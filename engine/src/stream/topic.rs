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

use super::durable::DurableLog;
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

/// One appended batch in a shard.
#[derive(Clone, Debug)]
struct Entry {
    first_seq: u64,
    batch: RecordBatch,
    arrival_ms: i64,
    bytes: u64,
}

#[derive(Debug, Default)]
struct Shard {
    entries: VecDeque<Entry>,
    next_seq: u64,
    bytes: u64,
}

impl Shard {
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
    /// When the acknowledged positions were last checkpointed (durable topics).
    saved_at: Option<std::time::Instant>,
    active: bool,
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
}

/// A sharded, retained stream of record batches.
#[derive(Debug)]
pub struct Topic {
    name: String,
    schema: SchemaRef,
    key_column: Option<usize>,
    retention: Retention,
    capacity_records: u64,
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
}

/// Lag of one consumer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Lag {
    /// Records behind the tip, over all shards.
    pub records: u64,
    /// Milliseconds between now and the arrival of the oldest unread record.
    pub millis: u64,
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The shard a partition key goes to: the MD5 of the key as a 128-bit number, mapped
/// onto `shards` equal hash-key ranges, as Kinesis does.
pub fn shard_for_key(key: &[u8], shards: usize) -> usize {
    let digest = Md5::digest(key);
    let hash = u128::from_be_bytes(digest.into());
    // floor(hash × shards / 2^128), from the top 64 bits: exact except within 2^-64 of a
    // range boundary.
    (((hash >> 64) * shards as u128) >> 64) as usize
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
        if shards == 0 {
            return Err(Error::Invalid(
                "a stream needs at least one shard".to_owned(),
            ));
        }
        let key_column = match key_column {
            None => None,
            Some(k) => Some(schema.index_of(k).map_err(|_| {
                Error::Invalid(format!(
                    "partition key column '{k}' is not in the stream's columns ({})",
                    schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?),
        };
        Ok(Arc::new(Self {
            name: name.to_owned(),
            schema,
            key_column,
            retention,
            capacity_records: capacity_records.max(1),
            inner: Mutex::new(Inner {
                shards: (0..shards).map(|_| Shard::default()).collect(),
                consumers: Vec::new(),
                producers: 0,
                closed: false,
                records_in: 0,
                bytes_in: 0,
                trimmed_unread: 0,
                durable: None,
                checkpoints: Default::default(),
            }),
            data: Notify::new(),
            room: Notify::new(),
        }))
    }

    /// Keeps this (new) topic under `dir`: what was appended before (and not yet
    /// acknowledged by every consumer) is read back, consumers resume from their
    /// checkpoints, and every append is on disk before it is acknowledged to its writer.
    /// Call before anything subscribes or appends. Returns how many records the topic took
    /// from each input before.
    pub fn attach_durable(
        &self,
        dir: &std::path::Path,
    ) -> Result<std::collections::BTreeMap<String, u64>> {
        let shards = self.shard_count();
        let (log, rec) = DurableLog::open(dir, &self.schema, shards)?;
        {
            let mut inner = self.lock();
            let now = now_ms();
            // Only what some consumer still needs is loaded back into memory.
            let needed: Vec<u64> = (0..shards)
                .map(|s| rec.checkpoints.values().map(|c| c[s]).min().unwrap_or(0))
                .collect();
            for (s, batches) in rec.shards.into_iter().enumerate() {
                let shard = &mut inner.shards[s];
                for (first_seq, batch) in batches {
                    let rows = batch.num_rows() as u64;
                    if first_seq + rows <= needed[s] {
                        continue;
                    }
                    let bytes = batch.get_array_memory_size() as u64;
                    shard.bytes += bytes;
                    shard.entries.push_back(Entry {
                        first_seq,
                        batch,
                        arrival_ms: now,
                        bytes,
                    });
                }
                shard.next_seq = rec.next_seq[s];
            }
            inner.checkpoints = rec.checkpoints;
            inner.durable = Some(log);
        }
        Ok(rec.inputs)
    }

    /// Per shard, the first sequence number some active consumer has not acknowledged
    /// (the tip when nobody reads).
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
                    .filter(|c| c.active)
                    .map(|c| c.acked[i])
                    .min()
                    .unwrap_or(s.next_seq)
            })
            .collect()
    }

    /// Per shard, the next sequence number to be appended.
    pub fn tail(&self) -> Vec<u64> {
        self.lock().shards.iter().map(|s| s.next_seq).collect()
    }

    /// Whether the topic keeps its records on disk.
    pub fn is_durable(&self) -> bool {
        self.lock().durable.is_some()
    }

    /// Saves consumer `index`'s acknowledged positions (at most every 100 ms unless
    /// `force`), and drops segments every consumer is past.
    fn checkpoint_locked(inner: &mut Inner, index: usize, force: bool) -> Result<()> {
        if inner.durable.is_none() {
            return Ok(());
        }
        let c = &inner.consumers[index];
        if !force
            && c.saved_at
                .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return Ok(());
        }
        let (name, acked) = (c.name.clone(), c.acked.clone());
        inner.consumers[index].saved_at = Some(std::time::Instant::now());
        inner.checkpoints.insert(name.clone(), acked.clone());
        let horizon: Vec<u64> = (0..inner.shards.len())
            .map(|s| inner.checkpoints.values().map(|c| c[s]).min().unwrap_or(0))
            .collect();
        if let Some(log) = inner.durable.as_mut() {
            log.checkpoint(&name, &acked)?;
            log.drop_before(&horizon)?;
        }
        Ok(())
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

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.lock().shards.len()
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
            positions,
            saved_at: None,
            active: true,
        });
        let index = inner.consumers.len() - 1;
        Consumer {
            topic: self.clone(),
            index,
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
        // Records the slowest active consumer has not read, over all shards.
        inner
            .consumers
            .iter()
            .filter(|c| c.active)
            .map(|c| {
                inner
                    .shards
                    .iter()
                    .zip(&c.positions)
                    .map(|(s, p)| s.next_seq.saturating_sub(*p))
                    .sum::<u64>()
            })
            .max()
            .unwrap_or(0)
    }

    /// Splits a batch by partition key (its MD5) into per-shard batches.
    pub fn split(&self, batch: &RecordBatch, shards: usize) -> Result<Vec<(usize, RecordBatch)>> {
        let Some(col) = self.key_column else {
            return Ok(vec![(0, batch.clone())]);
        };
        if shards == 1 {
            return Ok(vec![(0, batch.clone())]);
        }
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
            rows[shard_for_key(buf.as_bytes(), shards)].push(i as u32);
        }
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

    fn append_locked(
        &self,
        inner: &mut Inner,
        parts: Vec<(usize, RecordBatch)>,
        input: &str,
    ) -> Result<()> {
        let now = now_ms();
        if let Some(log) = inner.durable.as_mut() {
            let mut total = 0;
            for (shard, batch) in &parts {
                log.append(*shard, inner.shards[*shard].next_seq, batch)?;
                total += batch.num_rows() as u64;
            }
            log.journal(input, total)?;
        }
        for (shard, batch) in parts {
            let bytes = batch.get_array_memory_size() as u64;
            let rows = batch.num_rows() as u64;
            let s = &mut inner.shards[shard];
            let first_seq = s.next_seq;
            s.next_seq += rows;
            s.bytes += bytes;
            s.entries.push_back(Entry {
                first_seq,
                batch,
                arrival_ms: now,
                bytes,
            });
            inner.records_in += rows;
            inner.bytes_in += bytes;
        }
        self.trim_locked(inner, now);
        Ok(())
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
                .filter(|c| c.active)
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
                    // the loss is counted. (The size limit never drops unread records:
                    // back-pressure bounds those.)
                    let lost = min_pos
                        .map(|p| end.saturating_sub(p.max(front.first_seq)))
                        .unwrap_or(0);
                    *trimmed_unread += lost;
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

/// The writing side of a topic. Dropping it closes it.
#[derive(Debug)]
pub struct Producer {
    topic: Arc<Topic>,
    closed: bool,
    input: String,
}

impl Producer {
    /// The topic written to.
    pub fn topic(&self) -> &Arc<Topic> {
        &self.topic
    }

    /// Appends a batch, waiting while the slowest consumer is too far behind. Returns
    /// how long it waited (back-pressure).
    pub async fn send(&self, batch: RecordBatch) -> Result<Duration> {
        if batch.num_rows() == 0 {
            return Ok(Duration::ZERO);
        }
        if batch.schema() != self.topic.schema {
            return Err(Error::Invalid(format!(
                "stream '{}' takes columns ({}), got ({})",
                self.topic.name,
                field_list(&self.topic.schema),
                field_list(&batch.schema())
            )));
        }
        let start = std::time::Instant::now();
        let rows = batch.num_rows() as u64;
        loop {
            let room = self.topic.room.notified();
            {
                let mut inner = self.topic.lock();
                let backlog = Topic::backlog(&inner);
                if backlog == 0 || backlog + rows <= self.topic.capacity_records {
                    let shards = inner.shards.len();
                    let parts = self.topic.split(&batch, shards)?;
                    self.topic.append_locked(&mut inner, parts, &self.input)?;
                    break;
                }
            }
            room.await;
        }
        self.topic.data.notify_waiters();
        Ok(start.elapsed())
    }

    /// Closes this producer; the topic ends when all have closed.
    pub fn close(mut self) {
        self.close_inner();
    }

    fn close_inner(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let mut inner = self.topic.lock();
        inner.producers = inner.producers.saturating_sub(1);
        if inner.producers == 0 {
            inner.closed = true;
        }
        drop(inner);
        self.topic.data.notify_waiters();
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.close_inner();
    }
}

fn field_list(schema: &SchemaRef) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The reading side of a topic, with its own position in every shard.
#[derive(Debug)]
pub struct Consumer {
    topic: Arc<Topic>,
    index: usize,
}

impl Consumer {
    /// The topic read from.
    pub fn topic(&self) -> &Arc<Topic> {
        &self.topic
    }

    /// Up to `max_records` records, waiting for at least one. `None` when the topic is
    /// closed and everything was read. Shards are read round-robin from their positions.
    pub async fn next(&mut self, max_records: usize) -> Option<Vec<Delivery>> {
        loop {
            let data = self.topic.data.notified();
            {
                let mut inner = self.topic.lock();
                let out = self.take_locked(&mut inner, max_records.max(1));
                if !out.is_empty() {
                    self.topic.trim_locked(&mut inner, now_ms());
                    drop(inner);
                    self.topic.room.notify_waiters();
                    return Some(out);
                }
                if inner.closed {
                    return None;
                }
            }
            data.await;
        }
    }

    /// Like [`Consumer::next`] but returns what is there after `wait` even if fewer.
    pub async fn next_timeout(
        &mut self,
        max_records: usize,
        wait: Duration,
    ) -> Option<Vec<Delivery>> {
        match tokio::time::timeout(wait, self.next(max_records)).await {
            Ok(v) => v,
            Err(_) => Some(Vec::new()),
        }
    }

    fn take_locked(&self, inner: &mut Inner, max_records: usize) -> Vec<Delivery> {
        let mut out = Vec::new();
        let mut left = max_records;
        let shards = inner.shards.len();
        let mut progress = true;
        while left > 0 && progress {
            progress = false;
            for s in 0..shards {
                if left == 0 {
                    break;
                }
                let pos = inner.consumers[self.index].positions[s];
                let shard = &inner.shards[s];
                // Entries are in sequence order; find the one holding `pos`.
                let idx = shard
                    .entries
                    .partition_point(|e| e.first_seq + e.batch.num_rows() as u64 <= pos);
                let Some(entry) = shard.entries.get(idx) else {
                    continue;
                };
                let offset = pos.saturating_sub(entry.first_seq) as usize;
                let n = (entry.batch.num_rows() - offset).min(left);
                out.push(Delivery {
                    shard: s,
                    first_seq: entry.first_seq + offset as u64,
                    arrival_ms: entry.arrival_ms,
                    batch: entry.batch.slice(offset, n),
                });
                inner.consumers[self.index].positions[s] = pos + n as u64;
                left -= n;
                progress = true;
            }
        }
        out
    }

    /// Acknowledges everything read so far: it has been processed and handed on safely.
    /// A durable topic checkpoints acknowledged positions; a restart resumes there.
    pub fn ack(&self) -> Result<()> {
        let mut inner = self.topic.lock();
        let read = inner.consumers[self.index].positions.clone();
        inner.consumers[self.index].acked = read;
        Topic::checkpoint_locked(&mut inner, self.index, false)
    }

    /// Acknowledges up to `positions` (per shard, as returned by [`Consumer::positions`]).
    pub fn ack_to(&self, positions: &[u64]) -> Result<()> {
        let mut inner = self.topic.lock();
        let c = &mut inner.consumers[self.index];
        for (a, p) in c.acked.iter_mut().zip(positions) {
            *a = (*a).max(*p);
        }
        Topic::checkpoint_locked(&mut inner, self.index, false)
    }

    /// This consumer's position (next sequence number) in every shard: its checkpoint.
    pub fn positions(&self) -> Vec<u64> {
        self.topic.lock().consumers[self.index].positions.clone()
    }

    /// A handle that reports this consumer's lag from another task.
    pub fn lag_probe(&self) -> LagProbe {
        LagProbe {
            topic: self.topic.clone(),
            index: self.index,
        }
    }

    /// How far behind the tip this consumer is.
    pub fn lag(&self) -> Lag {
        self.lag_probe().lag()
    }

    /// The consumer's name.
    pub fn name(&self) -> String {
        self.topic.lock().consumers[self.index].name.clone()
    }
}

/// Reads a consumer's lag without owning the consumer.
#[derive(Clone, Debug)]
pub struct LagProbe {
    topic: Arc<Topic>,
    index: usize,
}

impl LagProbe {
    /// How far behind the tip the consumer is.
    pub fn lag(&self) -> Lag {
        let inner = self.topic.lock();
        let c = &inner.consumers[self.index];
        let mut lag = Lag::default();
        let now = now_ms();
        for (s, pos) in inner.shards.iter().zip(&c.positions) {
            lag.records += s.next_seq.saturating_sub(*pos);
            let oldest = s
                .entries
                .iter()
                .find(|e| e.first_seq + e.batch.num_rows() as u64 > *pos)
                .map(|e| e.arrival_ms);
            if let Some(t) = oldest {
                lag.millis = lag.millis.max((now - t).max(0) as u64);
            }
        }
        lag
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        // A consumer that went away no longer holds data back.
        let mut inner = self.topic.lock();
        if inner.consumers.get(self.index).is_some() {
            // The last acknowledged positions are saved, whatever the throttle says.
            let _ = Topic::checkpoint_locked(&mut inner, self.index, true);
            inner.consumers[self.index].active = false;
        }
        drop(inner);
        self.topic.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrow::array::{Int64Array, StringArray};
    use crate::arrow::datatypes::{DataType, Field, Schema};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("user", DataType::Utf8, false),
            Field::new("n", DataType::Int64, false),
        ]))
    }

    fn batch(users: &[&str], start: i64) -> RecordBatch {
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from(users.to_vec())),
                Arc::new(Int64Array::from_iter_values(
                    (0..users.len() as i64).map(|i| start + i),
                )),
            ],
        )
        .unwrap()
    }

    #[test]
    fn md5_shard_mapping_matches_kinesis_ranges() {
        // MD5("a") = 0x0cc175b9..., in the first of 4 equal ranges; MD5("b") = 0x92eb5ffe...,
        // in the third.
        assert_eq!(shard_for_key(b"a", 4), 0);
        assert_eq!(shard_for_key(b"b", 4), 2);
        assert_eq!(shard_for_key(b"anything", 1), 0);
    }

    #[tokio::test]
    async fn consumers_are_independent_and_keep_key_order() {
        let topic = Topic::new("t", schema(), 4, Some("user"), Retention::default(), 1000).unwrap();
        let mut a = topic.subscribe("a", &StartPosition::TrimHorizon);
        let p = topic.add_producer();
        p.send(batch(&["x", "y", "x", "z", "x"], 0)).await.unwrap();
        let mut late = topic.subscribe("late", &StartPosition::Latest);
        p.send(batch(&["y", "x"], 5)).await.unwrap();
        p.close();
        let mut seen_a = Vec::new();
        while let Some(d) = a.next(100).await {
            for del in d {
                let users = del
                    .batch
                    .column(0)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .unwrap()
                    .clone();
                let ns = del
                    .batch
                    .column(1)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .clone();
                for i in 0..users.len() {
                    seen_a.push((users.value(i).to_owned(), ns.value(i)));
                }
            }
        }
        assert_eq!(seen_a.len(), 7);
        let xs: Vec<i64> = seen_a
            .iter()
            .filter(|(u, _)| u == "x")
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(xs, [0, 2, 4, 6], "per-key order is kept");
        let mut late_count = 0;
        while let Some(d) = late.next(100).await {
            late_count += d.iter().map(|d| d.batch.num_rows()).sum::<usize>();
        }
        assert_eq!(late_count, 2, "LATEST sees only what came after it");
    }

    #[tokio::test]
    async fn slow_consumer_holds_producers_back() {
        let topic = Topic::new("t", schema(), 1, None, Retention::default(), 4).unwrap();
        let mut c = topic.subscribe("c", &StartPosition::TrimHorizon);
        let p = topic.add_producer();
        p.send(batch(&["a", "b", "c"], 0)).await.unwrap();
        // The next send must wait until the consumer reads.
        let blocked =
            tokio::time::timeout(Duration::from_millis(50), p.send(batch(&["d", "e"], 3))).await;
        assert!(
            blocked.is_err(),
            "the producer should wait for the consumer"
        );
        let got = c.next(10).await.unwrap();
        assert_eq!(got.iter().map(|d| d.batch.num_rows()).sum::<usize>(), 3);
        p.send(batch(&["d", "e"], 3)).await.unwrap();
        assert_eq!(c.lag().records, 2);
    }

    #[tokio::test]
    async fn without_retention_records_go_once_every_reader_read_them() {
        let topic = Topic::new("t", schema(), 1, None, Retention::default(), 1000).unwrap();
        let p = topic.add_producer();
        let mut a = topic.subscribe("a", &StartPosition::TrimHorizon);
        let mut b = topic.subscribe("b", &StartPosition::TrimHorizon);
        for i in 0..10 {
            p.send(batch(&["x", "y"], i * 2)).await.unwrap();
        }
        assert_eq!(a.next(100).await.unwrap().len(), 10);
        // b has not read them yet: all 20 are kept.
        assert_eq!(topic.retained_records(), 20);
        assert_eq!(
            b.next(15)
                .await
                .unwrap()
                .iter()
                .map(|d| d.batch.num_rows())
                .sum::<usize>(),
            15
        );
        // Only the part of a batch b has not finished is left.
        assert_eq!(topic.retained_records(), 6);
        b.next(100).await.unwrap();
        assert_eq!(topic.retained_records(), 0);
    }

    #[tokio::test]
    async fn at_sequence_number_and_retention() {
        let topic = Topic::new(
            "t",
            schema(),
            1,
            None,
            Retention {
                max_age: None,
                max_bytes: Some(1),
                keep_read: true,
            },
            1000,
        )
        .unwrap();
        let p = topic.add_producer();
        p.send(batch(&["a", "b", "c"], 0)).await.unwrap();
        p.send(batch(&["d"], 3)).await.unwrap();
        // With no consumers, the size limit trims all but the newest batch.
        assert_eq!(topic.retained_records(), 1);
        let mut c = topic.subscribe("c", &StartPosition::AtSequenceNumber(0));
        let got = c.next(10).await.unwrap();
        assert_eq!(
            got[0].first_seq, 3,
            "positions before the horizon start at the horizon"
        );
    }
}
