//! Downsampling for live charts, bounded in memory whatever the number of points: line
//! buckets of one fixed width at a time that step up a ladder of round widths as the data
//! grows ([`Downsampled`]), a uniform reservoir sample ([`Reservoir`]), and running
//! aggregates ([`Agg`]).

use std::collections::BTreeMap;

use rand::Rng as _;
use rand_chacha::ChaCha8Rng;

crate::choice_enum! {
    /// How a bar chart aggregates y per category.
    pub enum Aggregate {
        /// The sum.
        Sum = "sum",
        /// The number of records.
        Count = "count",
        /// The mean.
        Avg = "avg",
        /// The smallest.
        Min = "min",
        /// The largest.
        Max = "max",
        /// The most recent.
        Last = "last",
    }
}

/// Running aggregate of y values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Agg {
    /// Values seen.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Most recent.
    pub last: f64,
}

impl Agg {
    /// One value.
    pub fn new(y: f64) -> Self {
        Self {
            count: 1,
            sum: y,
            min: y,
            max: y,
            last: y,
        }
    }

    /// Adds a value.
    pub fn add(&mut self, y: f64) {
        self.count += 1;
        self.sum += y;
        self.min = self.min.min(y);
        self.max = self.max.max(y);
        self.last = y;
    }

    /// Adds another aggregate.
    pub fn merge(&mut self, o: &Agg) {
        self.count += o.count;
        self.sum += o.sum;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.last = o.last;
    }

    /// The value a bar shows for `aggregate`.
    pub fn value(&self, aggregate: Aggregate) -> f64 {
        match aggregate {
            Aggregate::Count => self.count as f64,
            Aggregate::Avg => self.sum / self.count as f64,
            Aggregate::Min => self.min,
            Aggregate::Max => self.max,
            Aggregate::Last => self.last,
            Aggregate::Sum => self.sum,
        }
    }
}

/// Bucket widths for time x (milliseconds), each a whole multiple of the one before, so
/// widening merges whole buckets: 1 ms … 1 s, 2 s, 10 s, 20 s, 1 min, 2 min, 10 min,
/// 20 min, 1 h, 2 h, 6 h, 12 h, 1 day, then doubling.
const TIME_WIDTHS_MS: [f64; 19] = [
    1.0,
    2.0,
    10.0,
    20.0,
    100.0,
    200.0,
    1_000.0,
    2_000.0,
    10_000.0,
    20_000.0,
    60_000.0,
    120_000.0,
    600_000.0,
    1_200_000.0,
    3_600_000.0,
    7_200_000.0,
    21_600_000.0,
    43_200_000.0,
    86_400_000.0,
];

/// The first bucket width of a time line that counts records: one second, so the line is
/// records per second from the start.
pub const FIRST_RATE_WIDTH_MS: f64 = 1_000.0;

/// The smallest width of the ladder that is at least `needed` and a whole multiple of
/// `current` (0: none yet). Time widths follow [`TIME_WIDTHS_MS`]; numbers 1, 2, 10, 20,
/// 100 … times a power of ten.
fn ladder_width(current: f64, needed: f64, time: bool) -> f64 {
    let multiple =
        |w: f64| current == 0.0 || ((w / current).round() * current - w).abs() < 1e-9 * w;
    if time {
        if let Some(w) = TIME_WIDTHS_MS
            .iter()
            .copied()
            .find(|w| *w >= needed && *w > current && multiple(*w))
        {
            return w;
        }
        let mut w = current.max(TIME_WIDTHS_MS[TIME_WIDTHS_MS.len() - 1]);
        while w < needed || w <= current {
            w *= 2.0;
        }
        return w;
    }
    let mut exp = needed.max(f64::MIN_POSITIVE).log10().floor() as i32 - 1;
    loop {
        for m in [1.0, 2.0] {
            let w = m * 10f64.powi(exp);
            if w >= needed && w > current && multiple(w) {
                return w;
            }
        }
        exp += 1;
    }
}

/// A line series downsampled into x buckets of one fixed width at a time. When there are
/// more than `max` buckets the width steps up the ladder (see [`TIME_WIDTHS_MS`]) and
/// whole buckets merge, so a bucket always covers exactly `width` of x and a rate (count
/// per width) never drifts as the chart grows. Memory is O(max) whatever the number of
/// points. Until the first overflow exact x values are kept (width 0), unless a first
/// width is given.
#[derive(Debug, Clone)]
pub struct Downsampled {
    max: usize,
    time: bool,
    /// Bucket width; 0 keeps exact x values.
    width: f64,
    buckets: BTreeMap<i64, (f64, Agg)>,
    /// The smallest and largest x seen.
    seen: Option<(f64, f64)>,
}

impl Downsampled {
    /// At most `max` buckets over a numeric x, exact x values first.
    pub fn new(max: usize) -> Self {
        Self::with_width(max, false, 0.0)
    }

    /// At most `max` buckets; `time` picks the time ladder (x in milliseconds); `width`
    /// is the first bucket width (0: exact x values until the first overflow).
    pub fn with_width(max: usize, time: bool, width: f64) -> Self {
        Self {
            max: max.max(2),
            time,
            width,
            buckets: BTreeMap::new(),
            seen: None,
        }
    }

    /// The bucket width (0 while exact x values are kept).
    pub fn width(&self) -> f64 {
        self.width
    }

    /// The smallest and largest x seen.
    pub fn seen(&self) -> Option<(f64, f64)> {
        self.seen
    }

    /// Adds a point.
    pub fn add(&mut self, x: f64, y: f64) {
        if !x.is_finite() || !y.is_finite() {
            return;
        }
        self.seen = Some(match self.seen {
            Some((lo, hi)) => (lo.min(x), hi.max(x)),
            None => (x, x),
        });
        let (k, start) = if self.width == 0.0 {
            // Exact points, keyed by x itself.
            (x.to_bits() as i64, x)
        } else {
            let k = (x / self.width).floor() as i64;
            (k, k as f64 * self.width)
        };
        match self.buckets.get_mut(&k) {
            Some((_, a)) => a.add(y),
            None => {
                self.buckets.insert(k, (start, Agg::new(y)));
            }
        }
        if self.buckets.len() > self.max {
            let (lo, hi) = self.seen.unwrap_or((x, x));
            let needed = ((hi - lo) / (self.max - 1) as f64).max(f64::MIN_POSITIVE);
            let w = ladder_width(self.width, needed.max(self.width), self.time);
            self.rebucket(w);
        }
    }

    /// Widens the buckets to `width` (a width of the ladder, larger than the current one),
    /// so series drawn together share one grid. Narrower requests are ignored.
    pub fn widen_to(&mut self, width: f64) {
        if width > self.width {
            let w = ladder_width(self.width, width, self.time);
            self.rebucket(w);
        }
    }

    fn rebucket(&mut self, width: f64) {
        self.width = width;
        let old = std::mem::take(&mut self.buckets);
        for (_, (x, a)) in old {
            let k = (x / width).floor() as i64;
            match self.buckets.get_mut(&k) {
                Some((_, b)) => b.merge(&a),
                None => {
                    self.buckets.insert(k, (k as f64 * width, a));
                }
            }
        }
        if self.buckets.len() > self.max {
            let w = ladder_width(width, width * 1.0001, self.time);
            self.rebucket(w);
        }
    }

    /// The buckets in x order: (bucket start, aggregate).
    pub fn points(&self) -> Vec<(f64, Agg)> {
        // Keys order buckets (exact keys are the bits of non-negative x; mixed signs are
        // sorted by x below).
        let mut v: Vec<(f64, Agg)> = self.buckets.values().copied().collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v
    }

    /// How much of the bucket starting at `start` the data covers (x units): the whole
    /// width but for the first and last bucket, which the data may enter late or leave
    /// early. Exact points cover nothing.
    pub fn covered(&self, start: f64) -> f64 {
        let Some((lo, hi)) = self.seen else {
            return 0.0;
        };
        if self.width == 0.0 {
            return 0.0;
        }
        let from = start.max(lo);
        let to = (start + self.width).min(hi);
        (to - from).max(0.0)
    }

    /// Whether the bucket starting at `start` is only partly covered by the data: the last
    /// one while data still arrives, or the first one when data began inside it.
    pub fn is_partial(&self, start: f64) -> bool {
        let Some((lo, hi)) = self.seen else {
            return false;
        };
        self.width > 0.0 && (start + self.width > hi || start < lo)
    }

    /// Buckets held.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

/// A uniform sample of at most `max` points (reservoir sampling).
#[derive(Debug, Clone)]
pub struct Reservoir {
    /// Points kept at most.
    pub max: usize,
    /// Points offered so far.
    pub seen: u64,
    /// The sample.
    pub points: Vec<(f64, f64)>,
}

impl Reservoir {
    /// Offers a point.
    pub fn add(&mut self, x: f64, y: f64, rng: &mut ChaCha8Rng) {
        self.seen += 1;
        if self.points.len() < self.max {
            self.points.push((x, y));
        } else {
            let j = rng.random_range(0..self.seen);
            if (j as usize) < self.max {
                self.points[j as usize] = (x, y);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_million_points_stay_within_the_bucket_limit_and_keep_their_totals() {
        let mut d = Downsampled::new(500);
        for i in 0..1_000_000 {
            d.add(i as f64, (i % 10) as f64);
        }
        assert!(d.len() <= 500 && d.len() > 100, "{}", d.len());
        let pts = d.points();
        let count: u64 = pts.iter().map(|(_, a)| a.count).sum();
        assert_eq!(count, 1_000_000);
        let sum: f64 = pts.iter().map(|(_, a)| a.sum).sum();
        assert_eq!(sum, 4_500_000.0);
        assert!(pts.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(pts.iter().all(|(_, a)| a.min == 0.0 && a.max == 9.0));
        // One width for every bucket, from the ladder.
        let w = d.width();
        assert!(
            [1.0, 2.0].iter().any(|m| {
                let e = (w / m).log10();
                (e - e.round()).abs() < 1e-9
            }),
            "{w}"
        );
        assert!(
            pts.windows(2)
                .all(|p| ((p[1].0 - p[0].0) / w).fract().abs() < 1e-9)
        );
    }

    #[test]
    fn time_widths_step_by_whole_multiples_to_round_units() {
        let mut w = 0.0;
        let mut seen = Vec::new();
        for _ in 0..24 {
            let next = ladder_width(w, w * 1.0001, true);
            if w > 0.0 {
                let ratio = next / w;
                assert!((ratio - ratio.round()).abs() < 1e-9, "{w} → {next}");
            }
            seen.push(next);
            w = next;
        }
        for round in [
            1_000.0,
            10_000.0,
            60_000.0,
            600_000.0,
            3_600_000.0,
            86_400_000.0,
        ] {
            assert!(seen.contains(&round), "{round} is a width");
        }
        assert_eq!(ladder_width(1_000.0, 7_000.0, true), 10_000.0);
        assert_eq!(ladder_width(0.0, 0.3, false), 1.0);
        assert_eq!(ladder_width(0.0, 15.0, false), 20.0);
    }

    #[test]
    fn a_constant_rate_gives_a_flat_rate_at_every_width() {
        // 250 records per second for an hour of event time, one bucket width at a time.
        let mut d = Downsampled::with_width(100, true, FIRST_RATE_WIDTH_MS);
        let start = 1_704_067_200_000.0 + 123.0;
        let n = 900_000;
        for i in 0..n {
            d.add(start + i as f64 * 4.0, 1.0);
            if i % 50_000 == 0 && i > 0 {
                check_flat(&d, 250.0);
            }
        }
        check_flat(&d, 250.0);
        let total: u64 = d.points().iter().map(|(_, a)| a.count).sum();
        assert_eq!(total, n);
        assert_eq!(
            d.width(),
            60_000.0,
            "an hour in at most 100 buckets: 1 min each"
        );
    }

    fn check_flat(d: &Downsampled, rate: f64) {
        for (start, a) in d.points() {
            if d.is_partial(start) {
                continue;
            }
            let per_sec = a.count as f64 / (d.width() / 1000.0);
            assert!(
                (per_sec - rate).abs() / rate < 0.05,
                "{per_sec}/s at width {}",
                d.width()
            );
            assert!((d.covered(start) - d.width()).abs() < 1e-9);
        }
    }
}
