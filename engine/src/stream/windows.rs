//! Event-time windows, independent of I/O: tumbling and hopping windows ([`Windows`])
//! and per-key sessions ([`Sessions`]), each with a watermark that follows the slowest
//! active input shard, and late-record detection.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use crate::arrow::array::{Array, ArrayRef, RecordBatch, TimestampMillisecondArray, UInt32Array};
use crate::arrow::compute::{cast, take_record_batch};
use crate::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use crate::error::{Error, Result};

/// How long a shard may deliver nothing before the watermark stops waiting for it.
const IDLE_SHARD: std::time::Duration = std::time::Duration::from_secs(2);

/// Event time per input shard. The watermark follows the slowest shard that is still
/// active (as Flink and Kinesis Data Analytics do), so records of one shard are not late
/// just because another shard is ahead.
#[derive(Debug)]
struct EventClock {
    /// Shards of the input; until each has delivered (or the wait for it ran out), there
    /// is no watermark.
    expected: usize,
    started: Instant,
    shards: BTreeMap<usize, (i64, Instant)>,
}

impl Default for EventClock {
    fn default() -> Self {
        Self {
            expected: 1,
            started: Instant::now(),
            shards: BTreeMap::new(),
        }
    }
}

impl EventClock {
    /// Each shard's event time, for a checkpoint.
    fn times(&self) -> Vec<(usize, i64)> {
        self.shards.iter().map(|(s, (t, _))| (*s, *t)).collect()
    }

    /// Restores the shards' event times, as if each had just delivered.
    fn restore(&mut self, times: &[(usize, i64)]) {
        for (shard, t) in times {
            self.shards.insert(*shard, (*t, Instant::now()));
        }
    }

    fn observe(&mut self, shard: usize, times: &[i64]) {
        if let Some(max) = times.iter().filter(|t| **t != i64::MIN).max() {
            let e = self.shards.entry(shard).or_insert((*max, Instant::now()));
            e.0 = e.0.max(*max);
            e.1 = Instant::now();
        }
    }

    /// The event time every active shard has reached.
    fn max_time(&self) -> Option<i64> {
        if self.shards.len() < self.expected && self.started.elapsed() < IDLE_SHARD {
            return None;
        }
        let active = self
            .shards
            .values()
            .filter(|(_, seen)| seen.elapsed() < IDLE_SHARD)
            .map(|(t, _)| *t)
            .min();
        active.or_else(|| self.shards.values().map(|(t, _)| *t).max())
    }
}

/// Window assignment and watermark, independent of I/O so it can be tested alone.
#[derive(Debug)]
pub struct Windows {
    size: i64,
    slide: i64,
    lateness: i64,
    clock: EventClock,
    /// Open windows by start, with their rows.
    open: BTreeMap<i64, Vec<RecordBatch>>,
    /// Windows already closed: a record for one of these is late.
    closed_before: Option<i64>,
}

impl Windows {
    /// Tumbling windows are hopping windows whose slide is their size.
    pub fn new(size_ms: u64, slide_ms: u64, max_out_of_orderness_ms: u64) -> Self {
        Self {
            size: size_ms as i64,
            slide: slide_ms.max(1) as i64,
            lateness: max_out_of_orderness_ms as i64,
            clock: EventClock::default(),
            open: BTreeMap::new(),
            closed_before: None,
        }
    }

    /// Waits for `shards` input shards before the watermark starts.
    pub fn with_shards(mut self, shards: usize) -> Self {
        self.clock.expected = shards.max(1);
        self
    }

    /// The current watermark.
    pub fn watermark(&self) -> Option<i64> {
        self.clock.max_time().map(|t| t - self.lateness)
    }

    /// Starts of the windows containing `t`.
    fn starts(&self, t: i64) -> impl Iterator<Item = i64> + use<> {
        let last = t.div_euclid(self.slide) * self.slide;
        let first = last - (self.size - 1).div_euclid(self.slide) * self.slide;
        let size = self.size;
        let slide = self.slide;
        (0..)
            .map(move |k| first + k * slide)
            .take_while(move |s| *s <= last)
            .filter(move |s| *s <= t && t < s + size)
    }

    /// Adds a batch from `shard` whose event times are `times`; returns the late rows.
    pub fn add(
        &mut self,
        shard: usize,
        batch: &RecordBatch,
        times: &[i64],
    ) -> Result<Option<RecordBatch>> {
        let mut per_window: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        let mut late = Vec::new();
        for (i, &t) in times.iter().enumerate() {
            let mut placed = false;
            let mut any = false;
            for s in self.starts(t) {
                any = true;
                if self.closed_before.is_some_and(|c| s + self.size <= c) {
                    continue;
                }
                per_window.entry(s).or_default().push(i as u32);
                placed = true;
            }
            if any && !placed {
                late.push(i as u32);
            }
        }
        for (s, rows) in per_window {
            let part = take_record_batch(batch, &UInt32Array::from(rows))
                .map_err(|e| Error::Internal(e.to_string()))?;
            self.open.entry(s).or_default().push(part);
        }
        self.clock.observe(shard, times);
        late_rows(batch, late)
    }

    /// Windows whose end the watermark has passed (all of them when `flush`), in order.
    pub fn close(&mut self, flush: bool) -> Vec<(i64, i64, Vec<RecordBatch>)> {
        let wm = if flush {
            i64::MAX
        } else {
            self.watermark().unwrap_or(i64::MIN)
        };
        let ready: Vec<i64> = self
            .open
            .keys()
            .copied()
            .filter(|s| s + self.size <= wm)
            .collect();
        let mut out = Vec::new();
        for s in ready {
            if let Some(rows) = self.open.remove(&s) {
                out.push((s, s + self.size, rows));
            }
            let end = s + self.size;
            self.closed_before = Some(self.closed_before.map_or(end, |c| c.max(end)));
        }
        out
    }

    /// Rows held in open windows.
    pub fn buffered_rows(&self) -> usize {
        self.open.values().flatten().map(|b| b.num_rows()).sum()
    }
}

/// One open session of one key.
#[derive(Debug)]
struct Session {
    start: i64,
    /// Last event time plus the gap.
    end: i64,
    rows: Vec<RecordBatch>,
}

/// Session windows per key, with the same watermark rules as [`Windows`].
#[derive(Debug)]
pub struct Sessions {
    gap: i64,
    lateness: i64,
    clock: EventClock,
    next_id: u64,
    /// Open sessions by id, and each key's open session ids.
    open: BTreeMap<u64, Session>,
    by_key: std::collections::HashMap<String, Vec<u64>>,
    keys_of: BTreeMap<u64, String>,
}

impl Sessions {
    /// Sessions end after `gap_ms` without events.
    pub fn new(gap_ms: u64, max_out_of_orderness_ms: u64) -> Self {
        Self {
            gap: gap_ms.max(1) as i64,
            lateness: max_out_of_orderness_ms as i64,
            clock: EventClock::default(),
            next_id: 0,
            open: BTreeMap::new(),
            by_key: std::collections::HashMap::new(),
            keys_of: BTreeMap::new(),
        }
    }

    /// Waits for `shards` input shards before the watermark starts.
    pub fn with_shards(mut self, shards: usize) -> Self {
        self.clock.expected = shards.max(1);
        self
    }

    fn watermark(&self) -> Option<i64> {
        self.clock.max_time().map(|t| t - self.lateness)
    }

    /// Adds a batch whose event times are `times` and session keys `keys`; returns the
    /// rows that are late (their session would already have closed).
    pub fn add(
        &mut self,
        shard: usize,
        batch: &RecordBatch,
        times: &[i64],
        keys: &[String],
    ) -> Result<Option<RecordBatch>> {
        let wm = self.watermark().unwrap_or(i64::MIN);
        let mut rows_of: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
        let mut late = Vec::new();
        for (i, (&t, key)) in times.iter().zip(keys).enumerate() {
            if t == i64::MIN {
                late.push(i as u32);
                continue;
            }
            let (lo, hi) = (t, t + self.gap);
            let ids = self.by_key.entry(key.clone()).or_default();
            let overlapping: Vec<u64> = ids
                .iter()
                .copied()
                .filter(|id| {
                    self.open
                        .get(id)
                        .is_some_and(|s| lo < s.end && s.start < hi)
                })
                .collect();
            if overlapping.is_empty() && hi <= wm {
                late.push(i as u32);
                continue;
            }
            // Merge every overlapping session into the first (or start a new one).
            let target = match overlapping.first() {
                Some(&id) => id,
                None => {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.open.insert(
                        id,
                        Session {
                            start: lo,
                            end: hi,
                            rows: Vec::new(),
                        },
                    );
                    ids.push(id);
                    self.keys_of.insert(id, key.clone());
                    id
                }
            };
            for &other in overlapping.iter().skip(1) {
                if let Some(o) = self.open.remove(&other) {
                    self.keys_of.remove(&other);
                    ids.retain(|x| *x != other);
                    let s = self.open.get_mut(&target).expect("target session is open");
                    s.start = s.start.min(o.start);
                    s.end = s.end.max(o.end);
                    s.rows.extend(o.rows);
                }
                if let Some(pending) = rows_of.remove(&other) {
                    rows_of.entry(target).or_default().extend(pending);
                }
            }
            let s = self.open.get_mut(&target).expect("target session is open");
            s.start = s.start.min(lo);
            s.end = s.end.max(hi);
            rows_of.entry(target).or_default().push(i as u32);
        }
        for (id, mut rows) in rows_of {
            rows.sort_unstable();
            let part = take_record_batch(batch, &UInt32Array::from(rows))
                .map_err(|e| Error::Internal(e.to_string()))?;
            if let Some(s) = self.open.get_mut(&id) {
                s.rows.push(part);
            }
        }
        self.clock.observe(shard, times);
        late_rows(batch, late)
    }

    /// Sessions whose end the watermark has passed (all of them when `flush`), ordered by
    /// end, then start.
    pub fn close(&mut self, flush: bool) -> Vec<(i64, i64, Vec<RecordBatch>)> {
        let wm = if flush {
            i64::MAX
        } else {
            self.watermark().unwrap_or(i64::MIN)
        };
        let ready: Vec<u64> = self
            .open
            .iter()
            .filter(|(_, s)| s.end <= wm)
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::new();
        for id in ready {
            if let Some(s) = self.open.remove(&id) {
                out.push((s.start, s.end, s.rows));
            }
            if let Some(key) = self.keys_of.remove(&id)
                && let Some(ids) = self.by_key.get_mut(&key)
            {
                ids.retain(|x| *x != id);
                if ids.is_empty() {
                    self.by_key.remove(&key);
                }
            }
        }
        out.sort_by_key(|(start, end, _)| (*end, *start));
        out
    }
}

/// The rows of `batch` at `late`, if any.
fn late_rows(batch: &RecordBatch, late: Vec<u32>) -> Result<Option<RecordBatch>> {
    if late.is_empty() {
        return Ok(None);
    }
    take_record_batch(batch, &UInt32Array::from(late))
        .map(Some)
        .map_err(|e| Error::Internal(e.to_string()))
}

/// Tumbling/hopping windows or sessions.
#[derive(Debug)]
pub enum Assigner {
    /// Tumbling or hopping windows.
    Windows(Windows),
    /// Sessions, keyed by the column at the index (or one stream of sessions).
    Sessions(Sessions, Option<usize>),
}

impl Assigner {
    /// Adds a batch from `shard` whose event times are `times`; returns the late rows.
    pub fn add(
        &mut self,
        shard: usize,
        batch: &RecordBatch,
        times: &[i64],
    ) -> Result<Option<RecordBatch>> {
        match self {
            Self::Windows(w) => w.add(shard, batch, times),
            Self::Sessions(s, key) => {
                let keys = match key {
                    Some(k) => session_keys(batch.column(*k))?,
                    None => vec![String::new(); batch.num_rows()],
                };
                s.add(shard, batch, times, &keys)
            }
        }
    }

    /// Windows (or sessions) whose end the watermark passed; all of them when `flush`.
    pub fn close(&mut self, flush: bool) -> Vec<(i64, i64, Vec<RecordBatch>)> {
        match self {
            Self::Windows(w) => w.close(flush),
            Self::Sessions(s, _) => s.close(flush),
        }
    }

    /// Whether no window holds records.
    pub fn is_idle(&self) -> bool {
        match self {
            Self::Windows(w) => w.open.is_empty(),
            Self::Sessions(s, _) => s.open.is_empty(),
        }
    }
}

/// The session key of each row, as text.
fn session_keys(column: &ArrayRef) -> Result<Vec<String>> {
    let text = cast(column, &DataType::Utf8).map_err(|e| Error::Internal(e.to_string()))?;
    let text = text
        .as_any()
        .downcast_ref::<crate::arrow::array::StringArray>()
        .ok_or_else(|| Error::Internal("utf8 cast".to_owned()))?;
    Ok((0..text.len())
        .map(|i| {
            if text.is_null(i) {
                String::new()
            } else {
                text.value(i).to_owned()
            }
        })
        .collect())
}

/// Event times of `batch` in ms since the epoch.
pub fn event_times(batch: &RecordBatch, column: usize) -> Result<Vec<i64>> {
    let col = batch.column(column);
    let ms = cast(col, &DataType::Timestamp(TimeUnit::Millisecond, None)).map_err(|e| {
        Error::Invalid(format!(
            "the time column cannot be read as a timestamp: {e}"
        ))
    })?;
    let ms = ms
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .ok_or_else(|| Error::Internal("timestamp cast".to_owned()))?;
    Ok((0..ms.len())
        .map(|i| if ms.is_null(i) { i64::MIN } else { ms.value(i) })
        .collect())
}

/// `batch` with `window_start` and `window_end` columns first.
pub fn with_window(
    batch: &RecordBatch,
    out_schema: &SchemaRef,
    start: i64,
    end: i64,
) -> Result<RecordBatch> {
    let n = batch.num_rows();
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(TimestampMillisecondArray::from(vec![start; n])),
        Arc::new(TimestampMillisecondArray::from(vec![end; n])),
    ];
    cols.extend(batch.columns().iter().cloned());
    RecordBatch::try_new(out_schema.clone(), cols).map_err(|e| Error::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrow::array::Int64Array;
    use crate::arrow::datatypes::{Field as ArrowField, Schema};

    fn batch(n: usize) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![ArrowField::new(
            "i",
            DataType::Int64,
            false,
        )]));
        RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from_iter_values(0..n as i64))],
        )
        .unwrap()
    }

    /// Rows per window of what `close` gives.
    fn shape(closed: Vec<(i64, i64, Vec<RecordBatch>)>) -> Vec<(i64, i64, usize)> {
        closed
            .into_iter()
            .map(|(s, e, rows)| (s, e, rows.iter().map(|b| b.num_rows()).sum()))
            .collect()
    }

    #[test]
    fn a_restored_state_goes_on_as_the_windows_it_was_taken_from() {
        let hopping = || Assigner::Windows(Windows::new(10, 5, 0).with_shards(2));
        let sessions = || Assigner::Sessions(Sessions::new(4, 0).with_shards(2), Some(0));
        for make in [hopping as fn() -> Assigner, sessions] {
            let mut a = make();
            a.add(0, &batch(4), &[1, 3, 9, 12]).unwrap();
            a.add(1, &batch(3), &[2, 7, 20]).unwrap();
            // Watermark 12: some windows close before the state is taken.
            assert!(!a.close(false).is_empty());
            let state = a.state();
            let mut b = make();
            b.restore(state.clone()).unwrap();
            // The same records after the restart give the same windows, and late rows.
            for w in [&mut a, &mut b] {
                let late = w.add(0, &batch(2), &[0, 25]).unwrap();
                assert_eq!(late.map(|l| l.num_rows()), Some(1));
            }
            assert_eq!(shape(a.close(true)), shape(b.close(true)));
            // A state of the other kind is refused, not misread.
            let mut other = if matches!(b, Assigner::Windows(_)) {
                sessions()
            } else {
                hopping()
            };
            assert!(other.restore(state).is_err());
        }
    }

    #[test]
    fn tumbling_windows_close_behind_the_watermark_and_late_rows_are_found() {
        let mut w = Windows::new(10, 10, 2);
        assert!(w.add(0, &batch(3), &[1, 5, 12]).unwrap().is_none());
        // Watermark 10: window [0,10) closes.
        let closed = w.close(false);
        assert_eq!(closed.len(), 1);
        assert_eq!((closed[0].0, closed[0].1), (0, 10));
        assert_eq!(closed[0].2.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        // An event at 3 now belongs to a closed window: late.
        let late = w.add(0, &batch(2), &[3, 14]).unwrap().unwrap();
        assert_eq!(late.num_rows(), 1);
        let rest = w.close(true);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].2.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
    }

    #[test]
    fn sessions_merge_per_key_and_close_after_the_gap() {
        let mut s = Sessions::new(10, 0);
        let k = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        // a: 0, 5 (one session); b: 3; a: 30 (a new session).
        assert!(
            s.add(0, &batch(4), &[0, 5, 3, 30], &k(&["a", "a", "b", "a"]))
                .unwrap()
                .is_none()
        );
        // Watermark 30: a's [0,15) and b's [3,13) closed; a's [30,40) open.
        let closed = s.close(false);
        let spans: Vec<(i64, i64, usize)> = closed
            .iter()
            .map(|(a, b, r)| (*a, *b, r.iter().map(|x| x.num_rows()).sum()))
            .collect();
        assert_eq!(spans, [(3, 13, 1), (0, 15, 2)]);
        // An event at 2 for a would extend a closed session: late. One at 35 joins [30,40);
        // one at 22 bridges nothing closed and is not behind the watermark: new session.
        let late = s
            .add(0, &batch(3), &[2, 35, 22], &k(&["a", "a", "a"]))
            .unwrap()
            .unwrap();
        assert_eq!(late.num_rows(), 1);
        // 22 → [22,32) overlaps [30,45): both merge into one session [22,45).
        let rest = s.close(true);
        let spans: Vec<(i64, i64, usize)> = rest
            .iter()
            .map(|(a, b, r)| (*a, *b, r.iter().map(|x| x.num_rows()).sum()))
            .collect();
        assert_eq!(spans, [(22, 45, 3)]);
    }

    #[test]
    fn hopping_windows_overlap() {
        let w = Windows::new(10, 5, 0);
        assert_eq!(w.starts(12).collect::<Vec<_>>(), [5, 10]);
        assert_eq!(w.starts(-3).collect::<Vec<_>>(), [-10, -5]);
    }
}

/// The state of open windows, checkpointed with the input positions it covers: what is
/// needed to go on after a restart without reading those records again (the rows of
/// each open window or session, which windows closed, each shard's event time). Rows
/// in several hopping windows are kept once per window.
#[derive(Clone, Debug, Default)]
pub struct WindowState {
    /// Everything but the rows, as JSON.
    pub meta: serde_json::Value,
    /// The rows, in the order `meta` counts them.
    pub batches: Vec<RecordBatch>,
}

impl Assigner {
    /// The open windows' state (cheap: the rows are shared, not copied).
    pub fn state(&self) -> WindowState {
        let mut batches = Vec::new();
        let meta = match self {
            Self::Windows(w) => {
                let open: Vec<(i64, usize)> = w
                    .open
                    .iter()
                    .map(|(start, rows)| {
                        batches.extend(rows.iter().cloned());
                        (*start, rows.len())
                    })
                    .collect();
                serde_json::json!({
                    "kind": "windows",
                    "closed_before": w.closed_before,
                    "clock": w.clock.times(),
                    "open": open,
                })
            }
            Self::Sessions(s, _) => {
                let open: Vec<(u64, &str, i64, i64, usize)> = s
                    .open
                    .iter()
                    .map(|(id, session)| {
                        batches.extend(session.rows.iter().cloned());
                        let key = s.keys_of.get(id).map_or("", String::as_str);
                        (*id, key, session.start, session.end, session.rows.len())
                    })
                    .collect();
                serde_json::json!({
                    "kind": "sessions",
                    "next_id": s.next_id,
                    "clock": s.clock.times(),
                    "open": open,
                })
            }
        };
        WindowState { meta, batches }
    }

    /// Takes up `state` (from [`Assigner::state`] of the same settings).
    pub fn restore(&mut self, state: WindowState) -> Result<()> {
        let bad = |what: &str| {
            Error::Invalid(format!(
                "the analytics checkpoint does not match its settings ({what}); delete it to start the windows afresh"
            ))
        };
        let clock: Vec<(usize, i64)> =
            serde_json::from_value(state.meta["clock"].clone()).map_err(|_| bad("clock"))?;
        let mut batches = state.batches.into_iter();
        let mut take = |n: usize| -> Result<Vec<RecordBatch>> {
            let rows: Vec<RecordBatch> = batches.by_ref().take(n).collect();
            if rows.len() == n {
                Ok(rows)
            } else {
                Err(bad("rows"))
            }
        };
        match (self, state.meta["kind"].as_str()) {
            (Self::Windows(w), Some("windows")) => {
                let open: Vec<(i64, usize)> =
                    serde_json::from_value(state.meta["open"].clone()).map_err(|_| bad("open"))?;
                w.closed_before = state.meta["closed_before"].as_i64();
                w.clock.restore(&clock);
                w.open.clear();
                for (start, n) in open {
                    w.open.insert(start, take(n)?);
                }
            }
            (Self::Sessions(s, _), Some("sessions")) => {
                let open: Vec<(u64, String, i64, i64, usize)> =
                    serde_json::from_value(state.meta["open"].clone()).map_err(|_| bad("open"))?;
                s.next_id = state.meta["next_id"]
                    .as_u64()
                    .ok_or_else(|| bad("next_id"))?;
                s.clock.restore(&clock);
                s.open.clear();
                s.by_key.clear();
                s.keys_of.clear();
                for (id, key, start, end, n) in open {
                    s.open.insert(
                        id,
                        Session {
                            start,
                            end,
                            rows: take(n)?,
                        },
                    );
                    s.by_key.entry(key.clone()).or_default().push(id);
                    s.keys_of.insert(id, key);
                }
            }
            _ => return Err(bad("window kind")),
        }
        Ok(())
    }
}
