//! Generator source: synthetic clickstream, IoT or payment events.

use serde::{Deserialize, Serialize};

use super::form::{Editor, Field, FieldProblem, Problems, When};
use super::operator::{Outputs, Source, Wiring, output_topic};
use super::{Category, Kind, NodeContext, NodeOutput, PortSpec, PortType};
use crate::error::{Error, Result};
use crate::stream::generator::{EventKind, Generator, GeneratorSpec};

/// The generated events.
pub const EVENTS: PortSpec = PortSpec::output("events", PortType::Stream);

crate::choice_enum! {
    /// How the rate varies over time.
    pub enum RatePattern {
        /// The same rate all the time.
        Flat = "flat",
        /// A day's pattern: the full rate at 16:00 UTC, a fifth of it at 04:00.
        Daily = "daily",
    }
}

crate::choice_enum! {
    /// Where event times come from.
    pub enum Clock {
        /// Event times advance from `start_time` by `time_step_ms` (deterministic).
        Synthetic = "synthetic",
        /// Events carry the time they were generated (for live latency).
        Wall = "wall",
    }
}

/// Generator settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeneratorConfig {
    /// clickstream, iot or payments.
    pub event: EventKind,
    /// Events per second; 0 is as fast as possible.
    pub rate_per_sec: f64,
    /// `flat`, or `daily`: the rate follows the (event) time of day, `rate_per_sec` at
    /// 16:00 UTC down to a fifth of it at 04:00.
    #[serde(skip_serializing_if = "is_flat")]
    pub rate_pattern: RatePattern,
    /// Events in all; 0 is endless (until stopped).
    pub count: u64,
    /// Distinct users, devices or accounts.
    pub keys: u64,
    /// Fraction of events that arrive late (event time moved back).
    pub late_fraction: f64,
    /// How late a late event is at most, in ms.
    pub max_lateness_ms: i64,
    /// Random seed: the same seed gives the same events.
    pub seed: u64,
    /// Events per batch.
    pub batch_size: usize,
    /// Event time of the first event (RFC 3339).
    pub start_time: String,
    /// `synthetic`: event times advance from start_time at the rate (deterministic);
    /// `wall`: events carry the time they were generated (for live latency).
    pub clock: Clock,
    /// Synthetic clock: event time between consecutive events, ms; 0 follows the rate
    /// (1000 / rate_per_sec). Larger steps compress a long stretch of event time into a
    /// short run (e.g. an hour of windows in a minute).
    pub time_step_ms: f64,
}

fn is_flat(p: &RatePattern) -> bool {
    *p == RatePattern::Flat
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            event: EventKind::Clickstream,
            rate_per_sec: 1000.0,
            rate_pattern: RatePattern::Flat,
            count: 10_000,
            keys: 1000,
            late_fraction: 0.0,
            max_lateness_ms: 5000,
            seed: 42,
            batch_size: 1000,
            start_time: "2024-01-01T00:00:00Z".to_owned(),
            clock: Clock::Synthetic,
            time_step_ms: 0.0,
        }
    }
}

/// The generator node.
pub struct GeneratorKind;

impl Kind for GeneratorKind {
    type Config = GeneratorConfig;
    const NAME: &'static str = "generator";
    const CATEGORY: Category = Category::Sources;
    const DESCRIPTION: &'static str =
        "Synthetic clickstream, IoT or payment events at a set rate, deterministic per seed.";
    const ICON: &'static str = "⚡";
    const INPUTS: &'static [PortSpec] = &[];
    const OUTPUTS: &'static [PortSpec] = &[EVENTS];
    const FIELDS: &'static [Field] = &[
        Field::new(
            "event",
            "Events",
            Editor::Choice(EventKind::NAMES),
            "clickstream (page views), iot (sensor readings) or payments.",
        ),
        Field::new(
            "rate_per_sec",
            "Rate (events/s)",
            Editor::Number,
            "Events per second; 0 is as fast as possible.",
        ),
        Field::new(
            "rate_pattern",
            "Rate pattern",
            Editor::Choice(RatePattern::NAMES),
            "flat: the rate all the time; daily: the rate follows the time of day (event time, UTC): the full rate at 16:00, a fifth of it at 04:00. With a simulated clock, a day of traffic in minutes.",
        ),
        Field::new(
            "count",
            "Count",
            Editor::Number,
            "Events in all; 0 is endless (until stopped).",
        ),
        Field::new(
            "keys",
            "Keys",
            Editor::Number,
            "Distinct users, devices or accounts.",
        ),
        Field::new(
            "late_fraction",
            "Late fraction",
            Editor::Number,
            "Fraction of events that arrive late (event time moved back).",
        ),
        Field::new(
            "max_lateness_ms",
            "Max lateness (ms)",
            Editor::Number,
            "How late a late event is at most.",
        ),
        Field::new(
            "seed",
            "Seed",
            Editor::Number,
            "The same seed gives the same events.",
        ),
        Field::new(
            "batch_size",
            "Batch size",
            Editor::Number,
            "Events per batch.",
        ),
        Field::new(
            "start_time",
            "Start time",
            Editor::Text,
            "Event time of the first event (RFC 3339).",
        ),
        Field::new(
            "clock",
            "Clock",
            Editor::Choice(Clock::NAMES),
            "synthetic: event times advance from the start time (deterministic); wall: the time each event is generated.",
        ),
        Field::new(
            "time_step_ms",
            "Time step (ms)",
            Editor::Number,
            "Synthetic clock: event time between consecutive events; 0 follows the rate.",
        )
        .when(When::Is("clock", &["synthetic"])),
    ];

    fn validate(config: &GeneratorConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        p.check(
            config.rate_per_sec >= 0.0 && config.rate_per_sec.is_finite(),
            "rate_per_sec",
            "must be 0 (as fast as possible) or more",
        );
        p.check(config.keys > 0, "keys", "must be at least 1");
        p.check(
            (0.0..=1.0).contains(&config.late_fraction),
            "late_fraction",
            "must be between 0 and 1",
        );
        p.check(
            config.time_step_ms >= 0.0 && config.time_step_ms.is_finite(),
            "time_step_ms",
            "must be 0 (follow the rate) or more",
        );
        p.check(config.batch_size > 0, "batch_size", "must be at least 1");
        p.check(
            chrono::DateTime::parse_from_rfc3339(&config.start_time).is_ok(),
            "start_time",
            format!("'{}' is not an RFC 3339 time", config.start_time),
        );
        p.into_vec()
    }

    async fn run(config: &GeneratorConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        let start_time_ms = chrono::DateTime::parse_from_rfc3339(&config.start_time)
            .map_err(|e| Error::Invalid(format!("start_time: {e}")))?
            .timestamp_millis();
        let generator = Generator::new(GeneratorSpec {
            kind: config.event,
            keys: config.keys,
            late_fraction: config.late_fraction,
            max_lateness_ms: config.max_lateness_ms,
            start_time_ms,
            spacing_ms: if config.time_step_ms > 0.0 {
                config.time_step_ms
            } else if config.rate_per_sec > 0.0 {
                1000.0 / config.rate_per_sec
            } else {
                1.0
            },
            seed: config.seed,
            wall_clock: (config.clock == Clock::Wall).then(|| ctx.clock.clone()),
            daily: config.rate_pattern == RatePattern::Daily,
            pace_ms: if config.rate_per_sec > 0.0 {
                1000.0 / config.rate_per_sec
            } else {
                0.0
            },
            paced_by_event_time: config.rate_per_sec == 0.0
                && config.clock == Clock::Synthetic
                && ctx.clock.is_simulated(),
        })?;
        let topic = output_topic(ctx, &EVENTS, generator.schema().clone())?;
        let source = Generate {
            generator,
            count: config.count,
            batch_size: config.batch_size as u64,
            sent: 0,
        };
        Ok(Wiring::new().output(&EVENTS, topic).source(
            source,
            config.rate_per_sec,
            ctx.stop.clone(),
        ))
    }
}

/// Generates `count` events (endless when 0) in batches.
struct Generate {
    generator: Generator,
    count: u64,
    batch_size: u64,
    sent: u64,
}

impl Source for Generate {
    async fn produce(&mut self, out: &Outputs) -> Result<bool> {
        let n = if self.count == 0 {
            self.batch_size
        } else {
            (self.count - self.sent).min(self.batch_size)
        };
        if n == 0 {
            return Ok(false);
        }
        let batch = self.generator.next_batch(n as usize)?;
        out.send(&EVENTS, batch).await?;
        self.sent += n;
        Ok(self.count == 0 || self.sent < self.count)
    }

    fn due(&self) -> Option<std::time::Duration> {
        let ms = self.generator.due_ms()?;
        Some(std::time::Duration::from_secs_f64(ms / 1000.0))
    }
}
