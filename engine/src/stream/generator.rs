//! Synthetic event streams: clickstream, IoT sensor readings and payments.
//!
//! Deterministic for a seed: the same config gives the same events (event times are
//! synthetic, advancing from a fixed start at the configured rate), however fast the
//! machine. A fraction of events can be made late (event time moved back).

use std::sync::Arc;

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

use crate::arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use crate::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use crate::error::{Error, Result};

crate::choice_enum! {
    /// Which events to generate.
    pub enum EventKind {
        /// Page views: user, page, referrer, event time.
        Clickstream = "clickstream",
        /// Sensor readings: device, sensor, value, event time.
        Iot = "iot",
        /// Card payments: account, merchant, amount, currency, event time.
        Payments = "payments",
    }
}

const PAGES: &[&str] = &[
    "/",
    "/search",
    "/product",
    "/cart",
    "/checkout",
    "/account",
    "/help",
    "/blog",
];
const REFERRERS: &[&str] = &[
    "google.com",
    "bing.com",
    "news.ycombinator.com",
    "twitter.com",
    "newsletter",
];
const SENSORS: &[&str] = &["temperature", "humidity", "pressure"];
const MERCHANTS: &[&str] = &["grocer", "fuel", "books", "travel", "cafe", "electronics"];
const CURRENCIES: &[&str] = &["EUR", "USD", "GBP"];

impl EventKind {
    /// The schema of the events.
    pub fn schema(self) -> SchemaRef {
        let time = Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        );
        let id = Field::new("event_id", DataType::Int64, false);
        Arc::new(Schema::new(match self {
            Self::Clickstream => vec![
                id,
                Field::new("user_id", DataType::Utf8, false),
                Field::new("page", DataType::Utf8, false),
                Field::new("referrer", DataType::Utf8, true),
                time,
            ],
            Self::Iot => vec![
                id,
                Field::new("device_id", DataType::Utf8, false),
                Field::new("sensor", DataType::Utf8, false),
                Field::new("value", DataType::Float64, false),
                time,
            ],
            Self::Payments => vec![
                id,
                Field::new("account_id", DataType::Utf8, false),
                Field::new("merchant", DataType::Utf8, false),
                Field::new("amount", DataType::Float64, false),
                Field::new("currency", DataType::Utf8, false),
                time,
            ],
        }))
    }

    /// The natural partition key column.
    pub fn key_column(self) -> &'static str {
        match self {
            Self::Clickstream => "user_id",
            Self::Iot => "device_id",
            Self::Payments => "account_id",
        }
    }
}

/// Generator settings.
#[derive(Clone, Debug)]
pub struct GeneratorSpec {
    /// Event kind.
    pub kind: EventKind,
    /// Distinct keys (users, devices, accounts).
    pub keys: u64,
    /// Fraction of events whose event time is moved back.
    pub late_fraction: f64,
    /// How far back a late event's time goes at most.
    pub max_lateness_ms: i64,
    /// Event time of the first event (ms since the epoch).
    pub start_time_ms: i64,
    /// Event-time spacing between events (ms); with a rate, 1000 / rate.
    pub spacing_ms: f64,
    /// Random seed.
    pub seed: u64,
    /// Stamp events with this clock's time (the run's: wall or simulated) instead of
    /// synthetic times (not deterministic).
    pub wall_clock: Option<crate::api::Clock>,
    /// The rate follows a day ([`daily_factor`]) instead of staying flat.
    pub daily: bool,
    /// Pacing between events at the full rate (ms; 1000 / rate), for [`Generator::due_ms`];
    /// 0 when unpaced.
    pub pace_ms: f64,
    /// Unpaced on a simulated clock: the events are due at their (synthetic) times, so
    /// time moves as they go.
    pub paced_by_event_time: bool,
}

/// The daily pattern's share of the full rate at `ms` (UTC): a smooth day peaking at
/// 16:00 (1.0) with its trough at 04:00 (0.2), as web and payment traffic follows
/// waking hours.
pub fn daily_factor(ms: i64) -> f64 {
    let hour = ms.rem_euclid(86_400_000) as f64 / 3_600_000.0;
    0.6 + 0.4 * (std::f64::consts::TAU * (hour - 16.0) / 24.0).cos()
}

/// Produces batches of events, deterministically.
pub struct Generator {
    spec: GeneratorSpec,
    rng: ChaCha8Rng,
    next_id: i64,
    schema: SchemaRef,
    /// With the daily pattern: the next event's time from the start (ms), and when it is
    /// due from the source's start (ms of pacing).
    event_offset_ms: f64,
    pace_offset_ms: f64,
}

impl Generator {
    /// A generator for `spec`.
    pub fn new(spec: GeneratorSpec) -> Result<Self> {
        if spec.keys == 0 {
            return Err(Error::Invalid("keys: must be at least 1".to_owned()));
        }
        Ok(Self {
            rng: ChaCha8Rng::seed_from_u64(spec.seed),
            schema: spec.kind.schema(),
            spec,
            next_id: 0,
            event_offset_ms: 0.0,
            pace_offset_ms: 0.0,
        })
    }

    /// When (after the source started, ms) the next event is due, with the daily pattern
    /// or when paced by event time; `None`: the rate is flat (or unpaced).
    pub fn due_ms(&self) -> Option<f64> {
        if self.spec.paced_by_event_time {
            return Some(if self.spec.daily {
                self.event_offset_ms
            } else {
                self.next_id as f64 * self.spec.spacing_ms
            });
        }
        (self.spec.daily && self.spec.pace_ms > 0.0).then_some(self.pace_offset_ms)
    }

    /// The events' schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The next `n` events.
    pub fn next_batch(&mut self, n: usize) -> Result<RecordBatch> {
        let ids: Vec<i64> = (self.next_id..self.next_id + n as i64).collect();
        self.next_id += n as i64;
        let mut times = Vec::with_capacity(n);
        let now = self.spec.wall_clock.as_ref().map(|c| c.now_ms());
        for id in &ids {
            let mut t = if let Some(now) = now {
                now
            } else if self.spec.daily {
                self.spec.start_time_ms + self.event_offset_ms as i64
            } else {
                self.spec.start_time_ms + (*id as f64 * self.spec.spacing_ms) as i64
            };
            if self.spec.daily {
                // Fewer events an hour off-peak: each is further from the next.
                let factor = daily_factor(t).max(0.01);
                self.event_offset_ms += self.spec.spacing_ms / factor;
                self.pace_offset_ms += self.spec.pace_ms / factor;
            }
            if self.spec.late_fraction > 0.0
                && self.rng.random_bool(self.spec.late_fraction.min(1.0))
            {
                t -= self.rng.random_range(1..=self.spec.max_lateness_ms.max(1));
            }
            times.push(t);
        }
        let key_prefix = match self.spec.kind {
            EventKind::Clickstream => "user",
            EventKind::Iot => "device",
            EventKind::Payments => "account",
        };
        let keys: Vec<String> = (0..n)
            .map(|_| {
                format!(
                    "{key_prefix}-{:05}",
                    self.rng.random_range(0..self.spec.keys)
                )
            })
            .collect();
        let mut pick = |list: &[&'static str]| -> Vec<&'static str> {
            (0..n)
                .map(|_| list[self.rng.random_range(0..list.len())])
                .collect()
        };
        let columns: Vec<ArrayRef> = match self.spec.kind {
            EventKind::Clickstream => {
                let pages = pick(PAGES);
                let refs: Vec<Option<&str>> = (0..n)
                    .map(|_| {
                        if self.rng.random_bool(0.4) {
                            None
                        } else {
                            Some(REFERRERS[self.rng.random_range(0..REFERRERS.len())])
                        }
                    })
                    .collect();
                vec![
                    Arc::new(Int64Array::from(ids)),
                    Arc::new(StringArray::from(keys)),
                    Arc::new(StringArray::from(pages)),
                    Arc::new(StringArray::from(refs)),
                    Arc::new(TimestampMillisecondArray::from(times)),
                ]
            }
            EventKind::Iot => {
                let sensors = pick(SENSORS);
                let values: Vec<f64> = sensors
                    .iter()
                    .map(|s| {
                        let base = match *s {
                            "temperature" => 21.0,
                            "humidity" => 45.0,
                            _ => 1013.0,
                        };
                        ((base + self.rng.random_range(-5.0..5.0)) * 100.0_f64).round() / 100.0
                    })
                    .collect();
                vec![
                    Arc::new(Int64Array::from(ids)),
                    Arc::new(StringArray::from(keys)),
                    Arc::new(StringArray::from(sensors)),
                    Arc::new(Float64Array::from(values)),
                    Arc::new(TimestampMillisecondArray::from(times)),
                ]
            }
            EventKind::Payments => {
                let merchants = pick(MERCHANTS);
                let currencies = pick(CURRENCIES);
                let amounts: Vec<f64> = (0..n)
                    .map(|_| (self.rng.random_range(1.0..500.0_f64) * 100.0).round() / 100.0)
                    .collect();
                vec![
                    Arc::new(Int64Array::from(ids)),
                    Arc::new(StringArray::from(keys)),
                    Arc::new(StringArray::from(merchants)),
                    Arc::new(Float64Array::from(amounts)),
                    Arc::new(StringArray::from(currencies)),
                    Arc::new(TimestampMillisecondArray::from(times)),
                ]
            }
        };
        RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| Error::Internal(e.to_string()))
    }
}
