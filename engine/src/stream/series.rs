//! Downsampling for live charts, bounded in memory whatever the number of points: line
//! buckets that widen as the data grows ([`Downsampled`]), a uniform reservoir sample
//! ([`Reservoir`]), and running aggregates ([`Agg`]).

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

/// A line series downsampled into x buckets whose width doubles whenever there are more
/// than `max` of them; memory is O(max) whatever the number of points.
#[derive(Debug)]
pub struct Downsampled {
    max: usize,
    /// Bucket width; 0 keeps exact x values until the first overflow.
    width: f64,
    buckets: BTreeMap<i64, (f64, Agg)>,
}

impl Downsampled {
    /// At most `max` buckets.
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(2),
            width: 0.0,
            buckets: BTreeMap::new(),
        }
    }

    fn key(&self, x: f64) -> i64 {
        (x / self.width).floor() as i64
    }

    /// Adds a point.
    pub fn add(&mut self, x: f64, y: f64) {
        if !x.is_finite() || !y.is_finite() {
            return;
        }
        if self.width == 0.0 {
            // Exact points, keyed by x itself.
            let k = x.to_bits() as i64;
            match self.buckets.get_mut(&k) {
                Some((_, a)) => a.add(y),
                None => {
                    self.buckets.insert(k, (x, Agg::new(y)));
                }
            }
        } else {
            let k = self.key(x);
            match self.buckets.get_mut(&k) {
                Some((_, a)) => a.add(y),
                None => {
                    self.buckets.insert(k, (k as f64 * self.width, Agg::new(y)));
                }
            }
        }
        if self.buckets.len() > self.max {
            self.widen();
        }
    }

    fn widen(&mut self) {
        let xs: Vec<f64> = self.buckets.values().map(|(x, _)| *x).collect();
        let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        loop {
            self.width = if self.width == 0.0 {
                // A power of two at least the span per bucket.
                let span = ((hi - lo) / self.max as f64).max(f64::MIN_POSITIVE);
                2f64.powi(span.log2().ceil() as i32)
            } else {
                self.width * 2.0
            };
            let old = std::mem::take(&mut self.buckets);
            for (_, (x, a)) in old {
                let k = (x / self.width).floor() as i64;
                match self.buckets.get_mut(&k) {
                    Some((_, b)) => b.merge(&a),
                    None => {
                        self.buckets.insert(k, (k as f64 * self.width, a));
                    }
                }
            }
            if self.buckets.len() <= self.max {
                break;
            }
        }
    }

    /// The buckets in x order: (x, aggregate).
    pub fn points(&self) -> Vec<(f64, Agg)> {
        let mut v: Vec<(f64, Agg)> = self.buckets.values().copied().collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v
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
#[derive(Debug)]
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
        assert!(d.len() <= 500 && d.len() > 250, "{}", d.len());
        let pts = d.points();
        let count: u64 = pts.iter().map(|(_, a)| a.count).sum();
        assert_eq!(count, 1_000_000);
        let sum: f64 = pts.iter().map(|(_, a)| a.sum).sum();
        assert_eq!(sum, 4_500_000.0);
        assert!(pts.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(pts.iter().all(|(_, a)| a.min == 0.0 && a.max == 9.0));
    }
}
