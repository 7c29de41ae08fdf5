//! The two ends of a topic: [`Producer`] (appends, waiting while the slowest reader is
//! too far behind) and [`Consumer`] (reads from its own position in every shard and
//! acknowledges what it handed on), and [`LagProbe`].

use std::sync::Arc;
use std::time::Duration;

use super::{Delivery, Inner, Lag, PutRecords, Topic};
use crate::arrow::array::RecordBatch;
use crate::arrow::datatypes::SchemaRef;
use crate::error::{Error, Result};

/// The writing side of a topic. Dropping it closes it.
#[derive(Debug)]
pub struct Producer {
    pub(super) topic: Arc<Topic>,
    pub(super) closed: bool,
    pub(super) input: String,
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
        self.check_schema(&batch)?;
        let start = std::time::Instant::now();
        let rows = batch.num_rows() as u64;
        loop {
            let room = self.topic.room.notified();
            {
                let mut inner = self.topic.lock();
                let backlog = Topic::backlog(&inner);
                if backlog == 0 || backlog + rows <= self.topic.capacity_records {
                    let parts = self.topic.route_parts(&inner, &batch)?;
                    let parts = parts.into_iter().map(|(s, b)| (s, b, None, None)).collect();
                    self.topic.append_locked(&mut inner, parts, &self.input)?;
                    break;
                }
            }
            room.await;
        }
        self.topic.data.notify_waiters();
        Ok(start.elapsed())
    }

    /// Appends what the shards' write limits take of `batch` now (waiting like
    /// [`Producer::send`] for room), and gives back the rows refused, in their order, as
    /// Kinesis refuses a put beyond a shard's limit: the caller retries those after a
    /// backoff ([`crate::stream::limits::backoff`]) before sending anything else, so
    /// order per shard holds. A topic without a write limit takes everything. Sizes are
    /// each record's bytes as a producer puts them (its JSON) plus its partition key
    /// ([`crate::stream::records::billing_sizes`]).
    pub async fn offer(&self, batch: RecordBatch) -> Result<Offered> {
        if batch.num_rows() == 0 {
            return Ok(Offered {
                taken: 0,
                refused: None,
                blocked: Duration::ZERO,
            });
        }
        self.check_schema(&batch)?;
        let sizes = crate::stream::records::billing_sizes(&batch, self.topic.key_column)?;
        if !self.topic.is_write_limited() {
            let rows = batch.num_rows() as u64;
            let blocked = self.send(batch).await?;
            let mut inner = self.topic.lock();
            for s in &sizes {
                inner.put_sizes.add(*s);
            }
            return Ok(Offered {
                taken: rows,
                refused: None,
                blocked,
            });
        }
        let start = std::time::Instant::now();
        loop {
            let room = self.topic.room.notified();
            {
                let mut inner = self.topic.lock();
                let backlog = Topic::backlog(&inner);
                let rows = batch.num_rows() as u64;
                if backlog == 0 || backlog + rows <= self.topic.capacity_records {
                    let mut parts = Vec::new();
                    let mut refused: Vec<u32> = Vec::new();
                    let routed = self.topic.routed_rows(&inner, &batch)?;
                    for (shard, idx) in routed.into_iter().enumerate() {
                        if idx.is_empty() {
                            continue;
                        }
                        let taken = match inner.budgets.as_mut() {
                            Some(b) => b.admit(shard, idx.iter().map(|i| sizes[*i as usize])),
                            None => idx.len(),
                        };
                        refused.extend_from_slice(&idx[taken..]);
                        let mut taken_bytes = 0;
                        for i in &idx[..taken] {
                            inner.put_sizes.add(sizes[*i as usize]);
                            taken_bytes += sizes[*i as usize];
                        }
                        if taken > 0 {
                            // Their sizes are known: the read limits need not count again.
                            let part = take(&batch, &idx[..taken])?;
                            parts.push((shard, part, None, Some(taken_bytes)));
                        }
                    }
                    let taken = rows - refused.len() as u64;
                    if !parts.is_empty() {
                        self.topic.append_locked(&mut inner, parts, &self.input)?;
                    }
                    drop(inner);
                    if taken > 0 {
                        self.topic.data.notify_waiters();
                    }
                    refused.sort_unstable();
                    let refused = if refused.is_empty() {
                        None
                    } else {
                        Some(take(&batch, &refused)?)
                    };
                    return Ok(Offered {
                        taken,
                        refused,
                        blocked: start.elapsed(),
                    });
                }
            }
            room.await;
        }
    }

    fn check_schema(&self, batch: &RecordBatch) -> Result<()> {
        if batch.schema() != self.topic.schema {
            return Err(Error::Invalid(format!(
                "stream '{}' takes columns ({}), got ({})",
                self.topic.name,
                field_list(&self.topic.schema),
                field_list(&batch.schema())
            )));
        }
        Ok(())
    }

    /// Appends records put through the Kinesis API, each part into its own shard,
    /// atomically (all parts or none), waiting like [`Producer::send`]. Returns each
    /// part's first sequence number.
    pub async fn put(&self, parts: Vec<PutRecords>) -> Result<Vec<u64>> {
        let rows: u64 = parts.iter().map(|p| p.batch.num_rows() as u64).sum();
        if let Some(bad) = parts.iter().find(|p| p.batch.schema() != self.topic.schema) {
            return Err(Error::Invalid(format!(
                "stream '{}' takes columns ({}), got ({})",
                self.topic.name,
                field_list(&self.topic.schema),
                field_list(&bad.batch.schema())
            )));
        }
        loop {
            let room = self.topic.room.notified();
            {
                let mut inner = self.topic.lock();
                if let Some(bad) = parts.iter().find(|p| p.shard >= inner.shards.len()) {
                    return Err(Error::Invalid(format!(
                        "stream '{}' has no shard {}",
                        self.topic.name, bad.shard
                    )));
                }
                if let Some(bad) = parts.iter().find(|p| inner.shards[p.shard].is_closed()) {
                    return Err(super::reshard::closed_shard(&self.topic.name, bad.shard));
                }
                let backlog = Topic::backlog(&inner);
                if backlog == 0 || backlog + rows <= self.topic.capacity_records {
                    let mut appended = Vec::with_capacity(parts.len());
                    for p in parts {
                        let sizes = meta_sizes(&p.meta);
                        for size in &sizes {
                            inner.put_sizes.add(*size);
                        }
                        let bytes = sizes.iter().sum();
                        appended.push((p.shard, p.batch, Some(p.meta), Some(bytes)));
                    }
                    let parts = appended;
                    let firsts = self.topic.append_locked(&mut inner, parts, &self.input)?;
                    drop(inner);
                    self.topic.data.notify_waiters();
                    return Ok(firsts);
                }
            }
            room.await;
        }
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

/// What [`Producer::offer`] did with a batch.
#[derive(Debug)]
pub struct Offered {
    /// Rows appended.
    pub taken: u64,
    /// Rows the shards' write limits refused, in their order.
    pub refused: Option<RecordBatch>,
    /// Time spent waiting for room (back-pressure).
    pub blocked: Duration,
}

/// Rows `idx` of `batch`.
fn take(batch: &RecordBatch, idx: &[u32]) -> Result<RecordBatch> {
    let indices = crate::arrow::array::UInt32Array::from(idx.to_vec());
    crate::arrow::compute::take_record_batch(batch, &indices)
        .map_err(|e| Error::Internal(e.to_string()))
}

/// Each record's size in `PutRecords::meta` rows: its partition key and its data.
fn meta_sizes(meta: &RecordBatch) -> Vec<u64> {
    use crate::arrow::array::{Array as _, BinaryArray, StringArray};
    let keys = meta.column(0).as_any().downcast_ref::<StringArray>();
    let data = meta.column(1).as_any().downcast_ref::<BinaryArray>();
    (0..meta.num_rows())
        .map(|i| {
            let k = keys.map_or(0, |a| a.value(i).len());
            let d = data.map_or(0, |a| if a.is_null(i) { 0 } else { a.value(i).len() });
            (k + d) as u64
        })
        .collect()
}

fn field_list(schema: &SchemaRef) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Raises each of `positions` to at least the one given for its shard.
fn raise(positions: &mut [u64], to: &[u64]) {
    for (p, t) in positions.iter_mut().zip(to) {
        *p = (*p).max(*t);
    }
}

/// How long a reader whose shards' read budget is spent waits before reading again.
const READ_BACKOFF: Duration = Duration::from_millis(100);

/// The reading side of a topic, with its own position in every shard.
#[derive(Debug)]
pub struct Consumer {
    pub(super) topic: Arc<Topic>,
    pub(super) index: usize,
    /// Read to the end (the topic closed and everything was read), and not failed since.
    pub(super) ended: bool,
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
            let held_back = {
                let mut inner = self.topic.lock();
                let (out, held_back) = self.take_locked(&mut inner, max_records.max(1));
                if !out.is_empty() {
                    self.topic
                        .trim_locked(&mut inner, self.topic.clock.now_ms());
                    drop(inner);
                    self.topic.room.notify_waiters();
                    return Some(out);
                }
                if held_back {
                    inner.consumers[self.index].read_throttled += 1;
                }
                // A child whose parent another poller still handles is read once that
                // poller acknowledges the parent's end.
                if !held_back
                    && inner.closed
                    && !super::reshard::waiting_for_parents(&inner, self.index)
                {
                    self.ended = true;
                    return None;
                }
                held_back
            };
            if held_back {
                // The shards' read budget is spent: read again once it refilled a
                // little, as a reader backs off a throttled GetRecords (time the run's
                // clock sees pass).
                self.topic.clock.back_off(READ_BACKOFF).await;
                continue;
            }
            data.await;
        }
    }

    /// Takes up to `max_records` records; also says whether the shards' read limits held
    /// some back.
    fn take_locked(&self, inner: &mut Inner, max_records: usize) -> (Vec<Delivery>, bool) {
        let mut out = Vec::new();
        let mut held_back = false;
        let mut left = max_records;
        let shards = inner.shards.len();
        let mut progress = true;
        while left > 0 && progress {
            progress = false;
            for s in 0..shards {
                if left == 0 {
                    break;
                }
                if !inner.consumers[self.index].reads(s)
                    || !super::reshard::parents_done(inner, self.index, s)
                {
                    continue;
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
                let mut n = (entry.batch.num_rows() - offset).min(left);
                // With read limits: as many as the shard's read budget (this consumer's
                // own, for enhanced fan-out) allows.
                if entry.data_bytes > 0 {
                    let rows = entry.batch.num_rows() as u64;
                    let per_row = entry.data_bytes.div_ceil(rows).max(1);
                    let Inner {
                        consumers,
                        reads,
                        fan_out_bytes,
                        ..
                    } = &mut *inner;
                    let me = &mut consumers[self.index];
                    let allowed = match (me.fan_out.as_mut(), reads.as_mut()) {
                        (Some(own), Some(_)) => {
                            let k = own.take(s, per_row, n);
                            *fan_out_bytes += k as u64 * per_row;
                            k
                        }
                        // Counted for the cost meter, not limited (no AWS realism).
                        (Some(_), None) => {
                            *fan_out_bytes += n as u64 * per_row;
                            n
                        }
                        (None, Some(shared)) => shared.take(s, per_row, n),
                        (None, None) => n,
                    };
                    if allowed == 0 {
                        held_back = true;
                        continue;
                    }
                    n = allowed;
                }
                let shard = &inner.shards[s];
                let Some(entry) = shard.entries.get(idx) else {
                    continue;
                };
                out.push(Delivery {
                    shard: s,
                    first_seq: entry.first_seq + offset as u64,
                    arrival_ms: entry.arrival_ms,
                    batch: entry.batch.slice(offset, n),
                    meta: entry.meta.as_ref().map(|m| m.slice(offset, n)),
                });
                inner.consumers[self.index].positions[s] = pos + n as u64;
                left -= n;
                progress = true;
            }
        }
        (out, held_back)
    }

    /// Reads through an enhanced fan-out consumer from now on: a read budget of its own
    /// (2 MiB/s per shard) instead of the one standard readers share.
    pub fn enhanced_fan_out(&self) {
        let mut inner = self.topic.lock();
        let shards = inner.shards.len();
        let name = inner.consumers[self.index].name.clone();
        inner.fan_out_names.insert(name);
        inner.consumers[self.index].fan_out = Some(super::super::limits::ReadBudgets::new(
            shards,
            self.topic.clock.clone(),
        ));
    }

    /// Its node failed: whatever this consumer did not acknowledge was not handed on,
    /// even if it read to the end (see [`Topic::acked_through`]).
    pub fn fail(&mut self) {
        self.ended = false;
    }

    /// Acknowledges everything read so far: it has been processed and handed on safely.
    /// A durable topic checkpoints acknowledged positions; a restart resumes there.
    pub fn ack(&self) -> Result<()> {
        let mut inner = self.topic.lock();
        let read = inner.consumers[self.index].positions.clone();
        inner.consumers[self.index].handled = read.clone();
        inner.consumers[self.index].acked = read;
        self.acked_locked(inner)
    }

    /// Checkpoints what was acknowledged; after resharding, wakes the pollers that may
    /// wait for this one to finish a parent shard.
    fn acked_locked(&self, mut inner: std::sync::MutexGuard<'_, Inner>) -> Result<()> {
        let r = self.topic.checkpoint_locked(&mut inner, self.index, false);
        let resharded = inner.router.is_some();
        drop(inner);
        if resharded {
            self.topic.data.notify_waiters();
        }
        r
    }

    /// Acknowledges up to `positions` (per shard, as returned by [`Consumer::positions`]).
    pub fn ack_to(&self, positions: &[u64]) -> Result<()> {
        let mut inner = self.topic.lock();
        let c = &mut inner.consumers[self.index];
        raise(&mut c.acked, positions);
        raise(&mut c.handled, positions);
        self.acked_locked(inner)
    }

    /// Records that everything before `positions` (per shard) was processed and handed
    /// on, though downstream may not have acknowledged it yet: after resharding, the
    /// poller of a parent's child may start.
    pub fn handled_to(&self, positions: &[u64]) {
        let mut inner = self.topic.lock();
        raise(&mut inner.consumers[self.index].handled, positions);
        let resharded = inner.router.is_some();
        drop(inner);
        if resharded {
            self.topic.data.notify_waiters();
        }
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

    /// Whether acknowledged positions (and held state) outlive the process.
    pub fn is_durable(&self) -> bool {
        self.topic.is_durable()
    }

    /// Saves what this consumer holds across reads (`meta` and `batches`, rows of the
    /// topic's columns) with the positions it covers, then acknowledges up to them: a
    /// restart takes the state up and skips what it covers. Durable topics only.
    pub fn ack_with_state(
        &self,
        positions: &[u64],
        meta: &serde_json::Value,
        batches: &[RecordBatch],
    ) -> Result<()> {
        {
            let inner = self.topic.lock();
            let name = &inner.consumers[self.index].name;
            if let Some(log) = inner.durable.as_ref() {
                log.save_state(name, positions, meta, batches)?;
            }
        }
        self.ack_to(positions)
    }

    /// The state this consumer saved before a restart, with the positions it covers.
    pub fn saved_state(&self) -> Result<Option<crate::stream::durable::SavedState>> {
        let inner = self.topic.lock();
        let name = &inner.consumers[self.index].name;
        match inner.durable.as_ref() {
            Some(log) => log.load_state(name),
            None => Ok(None),
        }
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
        let mut lag = Lag {
            expired: c.expired,
            read_throttled: c.read_throttled,
            ..Lag::default()
        };
        let now = self.topic.clock.now_ms();
        for (i, (s, pos)) in inner.shards.iter().zip(&c.positions).enumerate() {
            if !c.reads(i) {
                continue;
            }
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
            let _ = self.topic.checkpoint_locked(&mut inner, self.index, true);
            let c = &mut inner.consumers[self.index];
            c.active = false;
            // Gone before the end: its node failed or was stopped. What it did not
            // acknowledge was not handed on, so nothing upstream may count it delivered.
            c.failed = !self.ended;
        }
        drop(inner);
        self.topic.room.notify_waiters();
    }
}
