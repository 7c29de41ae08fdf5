//! A run's timeline: a bounded history of each streaming node over the run's clock, so a
//! person can scrub to a moment and see what every node had counted and what each live
//! view (a live table, a chart) held then.
//!
//! What is kept: on a grid of the run's clock (every second at first), each streaming
//! node's counts (records in and out, records behind its input) and each live view's
//! state at that moment, up to [`SNAPSHOT_ROWS`] rows each. A live view takes its
//! snapshot as its run-clock deadline passes, after exactly the records that arrived by
//! then (the runner splits a read at a deadline by arrival). When a series would hold
//! more than the project's `timeline_points`, the grid's step doubles and the points off
//! it go (the last point of each series stays), so the history always spans the whole run
//! with at most that many points per node, at a resolution that halves as the run grows.
//! The run's recording writes it beside the run (`timeline.json`, and a Parquet file per
//! live view with an `_at_ms` column).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::events::PreviewRows;

/// Rows kept per snapshot of a live view (its preview's first rows).
pub const SNAPSHOT_ROWS: usize = 2_000;

/// The newest records a node sent that each point keeps (the `emitted` view).
pub const EMITTED_ROWS: usize = 50;

/// The view of the newest records a node sent by a moment.
pub const EMITTED: &str = "emitted";

/// The first step of the grid, in ms of the run's clock.
pub const FIRST_STEP_MS: i64 = 1_000;

/// A node's counts at a moment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// The moment (ms since the epoch, on the run's clock).
    pub at_ms: i64,
    /// Records read so far.
    pub records_in: u64,
    /// Records written so far.
    pub records_out: u64,
    /// Records behind the tip of its input.
    pub lag_records: u64,
    /// A stream: each shard's tip (the next sequence number), what it held by then.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<u64>,
}

/// A live view's state at a moment.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The moment (ms since the epoch, on the run's clock).
    pub at_ms: i64,
    /// Its columns and rows (at most [`SNAPSHOT_ROWS`]), and the records it stood for.
    pub rows: PreviewRows,
}

/// What a timeline holds.
#[derive(Debug, Default)]
pub struct History {
    /// Points kept per node and per live view.
    pub keep: usize,
    /// Where the grid starts (the run's clock at its start).
    pub start_ms: i64,
    /// The grid's step now.
    pub step_ms: i64,
    /// Each streaming node's counts, oldest first.
    pub counts: BTreeMap<String, Vec<Counts>>,
    /// Each live view's snapshots by `(node, port)`, oldest first.
    pub views: BTreeMap<(String, String), Vec<Snapshot>>,
}

/// A point of a series: its moment.
trait At {
    fn at(&self) -> i64;
}

impl At for Counts {
    fn at(&self) -> i64 {
        self.at_ms
    }
}

impl At for Snapshot {
    fn at(&self) -> i64 {
        self.at_ms
    }
}

/// A run's timeline, shared by the nodes that add to it; cheap to clone.
#[derive(Clone, Debug)]
pub struct Timeline(Arc<Mutex<History>>);

impl Timeline {
    /// A timeline keeping at most `keep` points per series, its grid starting at
    /// `start_ms`.
    pub fn new(keep: usize, start_ms: i64) -> Self {
        Self(Arc::new(Mutex::new(History {
            keep: keep.max(2),
            start_ms,
            step_ms: FIRST_STEP_MS,
            ..Default::default()
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, History> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The first point of the grid after `at_ms`.
    pub fn next_after(&self, at_ms: i64) -> i64 {
        let h = self.lock();
        let k = (at_ms - h.start_ms).div_euclid(h.step_ms) + 1;
        h.start_ms + k * h.step_ms
    }

    /// Adds `node`'s counts.
    pub fn count(&self, node: &str, counts: Counts) {
        let mut h = self.lock();
        let series = h.counts.entry(node.to_owned()).or_default();
        match series.last() {
            Some(c) if c.at_ms > counts.at_ms => return,
            // A second count at one moment (where the node ended) replaces the first.
            Some(c) if c.at_ms == counts.at_ms => {
                series.pop();
            }
            _ => {}
        }
        series.push(counts);
        Self::drop_stale_last(&mut h, |h| h.counts.get_mut(node));
        Self::thin(&mut h);
    }

    /// Adds a snapshot of `node`'s live view `port` at `at_ms` (its first
    /// [`SNAPSHOT_ROWS`] rows). A final snapshot (the view as its input ended) is kept
    /// whether or not it falls on the grid.
    pub fn snapshot(&self, node: &str, port: &str, at_ms: i64, rows: PreviewRows) {
        let (schema, batches, total) = rows;
        let mut left = SNAPSHOT_ROWS;
        let mut kept = Vec::new();
        for b in batches {
            if left == 0 {
                break;
            }
            let take = b.num_rows().min(left);
            left -= take;
            kept.push(b.slice(0, take));
        }
        let mut h = self.lock();
        let series = h
            .views
            .entry((node.to_owned(), port.to_owned()))
            .or_default();
        // A second snapshot at one moment replaces the first (the later state).
        if series.last().is_some_and(|s| s.at_ms >= at_ms) {
            series.pop();
        }
        series.push(Snapshot {
            at_ms,
            rows: (schema, kept, total),
        });
        let key = (node.to_owned(), port.to_owned());
        Self::drop_stale_last(&mut h, |h| h.views.get_mut(&key));
        Self::thin(&mut h);
    }

    /// Drops the point before a series' newest when it is off the grid: it stayed only
    /// as the series' last when the step last doubled.
    fn drop_stale_last<T: At>(
        h: &mut History,
        series: impl FnOnce(&mut History) -> Option<&mut Vec<T>>,
    ) {
        let (start, step) = (h.start_ms, h.step_ms);
        if let Some(series) = series(h)
            && series.len() >= 2
        {
            let i = series.len() - 2;
            if (series[i].at() - start).rem_euclid(step) != 0 {
                series.remove(i);
            }
        }
    }

    /// Doubles the grid's step while a series holds more than `keep` points, dropping
    /// the points off the new grid (each series keeps its last).
    fn thin(h: &mut History) {
        loop {
            let longest = h
                .counts
                .values()
                .map(Vec::len)
                .chain(h.views.values().map(Vec::len))
                .max()
                .unwrap_or(0);
            if longest <= h.keep {
                return;
            }
            h.step_ms *= 2;
            let (start, step) = (h.start_ms, h.step_ms);
            let keep_point = |at: i64, last: bool| last || (at - start).rem_euclid(step) == 0;
            for series in h.counts.values_mut() {
                let n = series.len();
                let mut i = 0;
                series.retain(|c| {
                    i += 1;
                    keep_point(c.at_ms, i == n)
                });
            }
            for series in h.views.values_mut() {
                let n = series.len();
                let mut i = 0;
                series.retain(|s| {
                    i += 1;
                    keep_point(s.at_ms, i == n)
                });
            }
        }
    }

    /// The step of the grid now, in ms.
    pub fn step_ms(&self) -> i64 {
        self.lock().step_ms
    }

    /// What the timeline holds (for the run's recording); it starts afresh.
    pub fn take(&self) -> History {
        let mut h = self.lock();
        let fresh = History {
            keep: h.keep,
            start_ms: h.start_ms,
            step_ms: FIRST_STEP_MS,
            ..Default::default()
        };
        std::mem::replace(&mut *h, fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrow::array::{Int64Array, RecordBatch};
    use crate::arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn the_history_spans_the_run_with_at_most_keep_points_a_series() {
        let t = Timeline::new(10, 0);
        for s in 1..=100 {
            t.count(
                "n",
                Counts {
                    at_ms: s * 1000,
                    records_in: s as u64,
                    ..Default::default()
                },
            );
        }
        assert_eq!(t.next_after(17_000), 32_000);
        let h = t.take();
        let series = &h.counts["n"];
        assert!(series.len() <= 10, "{}", series.len());
        // Evenly spread over the whole run, the last point kept.
        assert_eq!(h.step_ms, 16_000);
        assert_eq!(series.last().map(|c| c.at_ms), Some(100_000));
        assert_eq!(series.first().map(|c| c.at_ms), Some(16_000));
        assert!(series.windows(2).all(|w| w[0].at_ms < w[1].at_ms));
        assert!(
            series[..series.len() - 1]
                .iter()
                .all(|c| c.at_ms % 16_000 == 0),
            "on the grid"
        );
    }

    #[test]
    fn a_snapshot_keeps_its_first_rows_and_the_records_it_stood_for() {
        let t = Timeline::new(4, 0);
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from_iter_values(0..5000))],
        )
        .unwrap();
        t.snapshot("live", "table", 1000, (schema, vec![batch], 9000));
        let h = t.take();
        let s = &h.views[&("live".to_owned(), "table".to_owned())][0];
        let rows: usize = s.rows.1.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows, SNAPSHOT_ROWS);
        assert_eq!(s.rows.2, 9000);
    }
}
