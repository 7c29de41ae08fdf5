//! Faults a user injects into a node while designing, to see how the pipeline copes:
//! poison records, throttling bursts, added latency, a worker crash, S3 `503 SlowDown`.
//!
//! They are saved with the node (`"faults": {…}` beside its `config`), applied only where
//! they mean something (each setting names the kinds it applies to), and every injection
//! is counted and logged, so the Metrics tab, the log and the conservation report show the
//! pipeline's reaction. Which records are poison is decided by the record (its shard and
//! sequence number), so a retried batch meets the same poison, as a real poison record
//! would be.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A node's injected faults; the default injects nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// The fraction of records (0 to 1) that are poison: a Lambda's invocation with one
    /// fails, a Firehose cannot process one (it goes to the error prefix as
    /// `processing-failed`).
    pub poison_fraction: f64,
    /// A SQL condition over the records' columns: the records matching it are poison.
    pub poison_where: String,
    /// Milliseconds added to each Lambda invocation (billed) or each Firehose delivery.
    pub latency_ms: u64,
    /// Every this many seconds, a throttling burst starts: a stream's shards refuse every
    /// put (`ProvisionedThroughputExceededException`), a Lambda's invocations are
    /// throttled.
    pub throttle_every_s: f64,
    /// How long each throttling burst lasts, in seconds.
    pub throttle_for_s: f64,
    /// A Lambda's worker crashes once, on the invocation that reaches this many records
    /// (the invocation fails with `Runtime.ExitError` and is retried).
    pub crash_after_records: u64,
    /// The fraction of a Firehose's S3 puts answered `503 SlowDown` (spread evenly from
    /// the first: 0.5 fails the first put and every other one after it).
    pub s3_slow_down_fraction: f64,
    /// Every this many seconds, the broker drops the node's connections (a stream whose
    /// shards are in a broker, a broker source or sink): they reconnect, and re-read
    /// what they had not acknowledged.
    pub broker_disconnect_every_s: f64,
}

/// Which node kinds each fault applies to.
pub const APPLIES: &[(&str, &[&str])] = &[
    ("poison_fraction", &["lambda", "firehose"]),
    ("poison_where", &["lambda", "firehose"]),
    ("latency_ms", &["lambda", "firehose"]),
    ("throttle_every_s", &["stream", "lambda"]),
    ("throttle_for_s", &["stream", "lambda"]),
    ("crash_after_records", &["lambda"]),
    ("s3_slow_down_fraction", &["firehose"]),
    (
        "broker_disconnect_every_s",
        &["stream", "broker_source", "broker_sink"],
    ),
];

impl Faults {
    /// Whether nothing is injected.
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }

    /// The settings that are set, by name.
    pub fn set(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.poison_fraction != 0.0 {
            out.push("poison_fraction");
        }
        if !self.poison_where.trim().is_empty() {
            out.push("poison_where");
        }
        if self.latency_ms != 0 {
            out.push("latency_ms");
        }
        if self.throttle_every_s != 0.0 {
            out.push("throttle_every_s");
        }
        if self.throttle_for_s != 0.0 {
            out.push("throttle_for_s");
        }
        if self.crash_after_records != 0 {
            out.push("crash_after_records");
        }
        if self.s3_slow_down_fraction != 0.0 {
            out.push("s3_slow_down_fraction");
        }
        if self.broker_disconnect_every_s != 0.0 {
            out.push("broker_disconnect_every_s");
        }
        out
    }

    /// What is wrong with these faults on a node of kind `kind`: (setting, message).
    pub fn problems(&self, kind: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for name in self.set() {
            let kinds = APPLIES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, k)| *k)
                .unwrap_or_default();
            if !kinds.contains(&kind) {
                out.push((
                    name.to_owned(),
                    format!(
                        "{name} does not apply to a {kind} node (it applies to {})",
                        kinds.join(" and ")
                    ),
                ));
            }
        }
        for (name, v) in [
            ("poison_fraction", self.poison_fraction),
            ("s3_slow_down_fraction", self.s3_slow_down_fraction),
        ] {
            if !(0.0..=1.0).contains(&v) {
                out.push((
                    name.to_owned(),
                    format!("{v} is not a fraction from 0 to 1"),
                ));
            }
        }
        if self.broker_disconnect_every_s < 0.0 {
            out.push((
                "broker_disconnect_every_s".to_owned(),
                "must be seconds above 0 (or 0: never)".to_owned(),
            ));
        }
        let (every, length) = (self.throttle_every_s, self.throttle_for_s);
        if every < 0.0 || length < 0.0 || (every > 0.0) != (length > 0.0) {
            out.push((
                "throttle_every_s".to_owned(),
                "a throttling burst needs both throttle_every_s and throttle_for_s (seconds, above 0)".to_owned(),
            ));
        } else if every > 0.0 && length >= every {
            out.push((
                "throttle_for_s".to_owned(),
                format!("a burst of {length} s every {every} s never ends: make it shorter than throttle_every_s"),
            ));
        }
        out
    }

    /// Whether the record at `seq` of `shard` is poison by the fraction, for node `node`:
    /// the same record always is (a hash of the three, below the fraction).
    pub fn poisons(&self, node: &str, shard: usize, seq: u64) -> bool {
        if self.poison_fraction <= 0.0 {
            return false;
        }
        use std::hash::{Hash as _, Hasher as _};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (node, shard, seq).hash(&mut h);
        (h.finish() as f64 / u64::MAX as f64) < self.poison_fraction
    }

    /// How often the broker drops the node's connections, if it does.
    pub fn broker_disconnects(&self) -> Option<Duration> {
        (self.broker_disconnect_every_s > 0.0)
            .then(|| Duration::from_secs_f64(self.broker_disconnect_every_s))
    }

    /// The throttling bursts, if any, counted from now.
    pub fn bursts(&self) -> Option<Bursts> {
        (self.throttle_every_s > 0.0 && self.throttle_for_s > 0.0).then(|| Bursts {
            start: Instant::now(),
            every: Duration::from_secs_f64(self.throttle_every_s),
            length: Duration::from_secs_f64(self.throttle_for_s.min(self.throttle_every_s)),
        })
    }

    /// "poison 1% of records, 200 ms latency", for the log.
    pub fn describe(&self) -> String {
        let mut out = Vec::new();
        if self.poison_fraction > 0.0 {
            out.push(format!(
                "poison {}% of records",
                self.poison_fraction * 100.0
            ));
        }
        if !self.poison_where.trim().is_empty() {
            out.push(format!("poison records where {}", self.poison_where.trim()));
        }
        if self.latency_ms > 0 {
            out.push(format!("{} ms latency", self.latency_ms));
        }
        if self.throttle_every_s > 0.0 {
            out.push(format!(
                "throttling bursts of {} s every {} s",
                self.throttle_for_s, self.throttle_every_s
            ));
        }
        if self.crash_after_records > 0 {
            out.push(format!(
                "a worker crash after {} records",
                self.crash_after_records
            ));
        }
        if self.s3_slow_down_fraction > 0.0 {
            out.push(format!(
                "503 SlowDown on {}% of S3 puts",
                self.s3_slow_down_fraction * 100.0
            ));
        }
        if self.broker_disconnect_every_s > 0.0 {
            out.push(format!(
                "the broker drops the connections every {} s",
                self.broker_disconnect_every_s
            ));
        }
        out.join(", ")
    }
}

/// Throttling bursts: from the start, `length` of refusals at the start of every `every`.
/// (The first burst starts one period in, so a run starts cleanly.)
#[derive(Clone, Copy, Debug)]
pub struct Bursts {
    start: Instant,
    every: Duration,
    length: Duration,
}

impl Bursts {
    /// How long the burst going on now lasts yet; `None` outside a burst.
    pub fn remaining(&self) -> Option<Duration> {
        self.remaining_at(Instant::now())
    }

    fn remaining_at(&self, now: Instant) -> Option<Duration> {
        let since = now.saturating_duration_since(self.start);
        if since < self.every {
            return None;
        }
        let into = Duration::from_secs_f64(since.as_secs_f64() % self.every.as_secs_f64());
        (into < self.length).then(|| self.length - into)
    }
}

/// Every `1/fraction`-th of a count, evenly, from the first: whether attempt `n` (0, 1,
/// …) is one of the `fraction` that fail.
pub fn spread(fraction: f64, n: u64) -> bool {
    fraction > 0.0 && ((n + 1) as f64 * fraction).ceil() > (n as f64 * fraction).ceil()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_name_the_kinds_they_apply_to() {
        let f = Faults {
            poison_fraction: 0.1,
            crash_after_records: 5,
            ..Default::default()
        };
        assert!(f.problems("lambda").is_empty());
        let p = f.problems("stream");
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(
            p[1].1,
            "crash_after_records does not apply to a stream node (it applies to lambda)"
        );
        let f = Faults {
            throttle_every_s: 2.0,
            throttle_for_s: 3.0,
            ..Default::default()
        };
        assert!(f.problems("stream")[0].1.contains("never ends"));
        assert!(Faults::default().is_none());
    }

    #[test]
    fn poison_is_a_property_of_the_record_near_its_fraction() {
        let f = Faults {
            poison_fraction: 0.1,
            ..Default::default()
        };
        let n = (0..10_000).filter(|s| f.poisons("fn", 0, *s)).count();
        assert!((800..1200).contains(&n), "{n}");
        assert_eq!(f.poisons("fn", 0, 7), f.poisons("fn", 0, 7));
    }

    #[test]
    fn bursts_come_every_period_after_the_first() {
        let f = Faults {
            throttle_every_s: 10.0,
            throttle_for_s: 2.0,
            ..Default::default()
        };
        let b = f.bursts().unwrap();
        let at = |s: f64| b.remaining_at(b.start + Duration::from_secs_f64(s));
        assert_eq!(at(1.0), None);
        assert_eq!(at(10.5), Some(Duration::from_secs_f64(1.5)));
        assert_eq!(at(13.0), None);
        assert!(at(20.1).is_some());
    }

    #[test]
    fn spread_fails_the_fraction_evenly() {
        let fails: Vec<bool> = (0..6).map(|n| spread(0.5, n)).collect();
        assert_eq!(fails, [true, false, true, false, true, false]);
        assert_eq!((0..100).filter(|n| spread(0.25, *n)).count(), 25);
        assert!(!(0..100).any(|n| spread(0.0, n)));
    }
}
