//! The run's clock ([`Clock`]): wall time, or simulated time.
//!
//! Everything in a streaming run that AWS times — when a record arrived in a stream, a
//! Firehose's buffer interval and hour folders, a Lambda mapping's batching window and
//! maximum record age, a stream's retention and write limits, a source's pace — asks the
//! run's clock rather than the operating system. A simulated clock starts at a chosen
//! moment and runs either at a multiple of wall time (`speed` 60: a minute a second) or
//! as fast as possible: then time is what the run's paced sources have reached (a
//! generator of 1,000 events/s that sent 60,000 events is a minute in), so an hour of
//! traffic takes as long as the machine needs to process it, and everything downstream
//! sees the hour pass. Processing takes no simulated time there: before a source moves
//! time on, what it sent is read through the run's streams (each stream's unread
//! records, [`Backlog`]), so a stream's write limits, a Firehose's buffer interval or a
//! Lambda's batching window see the records at the time they were sent, not in a burst
//! after the source ran ahead. What measures the machine rather than AWS stays on wall time: a
//! function's duration and timeout, previews, metrics, latency.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

crate::choice_enum! {
    /// Which clock a run follows (the project's `clock`).
    pub enum ClockMode {
        /// The machine's time.
        Wall = "wall",
        /// Simulated time from `clock_start`, at `clock_speed` × wall time, or as fast as
        /// the sources go (`clock_speed` 0).
        Simulated = "simulated",
    }
}

/// A run's clock. Cloning gives the same clock.
#[derive(Clone, Debug)]
pub struct Clock(Arc<Inner>);

#[derive(Debug)]
enum Inner {
    Wall,
    /// `start_ms` at `origin`, then `speed` × the wall time since.
    Scaled {
        start_ms: i64,
        origin: Instant,
        speed: f64,
    },
    /// `start_ms` at `origin`, then the slowest paced source's position (µs since
    /// `origin`); never goes back.
    Driven {
        start_ms: i64,
        origin: Instant,
        elapsed_us: watch::Sender<u64>,
        sources: Mutex<Sources>,
        /// The run's streams, read through before a source moves time on.
        watched: Mutex<Vec<Weak<dyn Backlog>>>,
        /// Told before a source moves time on (a timeline taking its counts).
        observers: Mutex<Vec<Weak<dyn Observer>>>,
    },
}

/// Something a clock running as fast as possible tells before a source moves it on, once
/// the run's streams were read through (a run's timeline counts what every node did by
/// then).
pub trait Observer: Send + Sync {
    /// The clock is about to move on to `to_ms` (ms since the epoch).
    fn moving_to(&self, to_ms: i64);
}

/// A stream of the run whose unread records a clock running as fast as possible waits
/// for before a source moves time on.
pub trait Backlog: Send + Sync {
    /// Records its slowest active reader has not read.
    fn unread(&self) -> u64;
}

/// How long (wall time) a source waits for the run's streams to be read before it moves
/// a clock running as fast as possible on anyway (a reader that waits for something
/// else).
const CATCH_UP: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct Sources {
    next: u64,
    /// Each paced source's position, µs since the origin.
    at: BTreeMap<u64, u64>,
    /// What the sleepers wait for (µs since the origin), and how many wait for it.
    sleepers: BTreeMap<u64, usize>,
    /// When (wall) the clock last moved.
    moved: Option<Instant>,
}

/// How long (wall time) a clock running as fast as possible, in a run without paced
/// sources (records put through the AWS endpoint only), may stand still while something
/// sleeps on it before it moves on to the earliest sleeper's time: when the whole run
/// waits, time passes, as in a discrete-event simulation. With paced sources only they
/// move it (a machine too busy to run them for a while does not make time jump).
const STALL: Duration = Duration::from_millis(50);

impl Default for Clock {
    fn default() -> Self {
        Self::wall()
    }
}

/// `ms` since the epoch as an RFC 3339 UTC time to the second (`2024-01-01T00:30:00Z`).
pub fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

/// A span of `ms` for a person: `1 h 0 min 0 s`, `2 min 5 s`, `850 ms`.
pub fn format_duration_ms(ms: i64) -> String {
    let s = ms / 1000;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, 0) => format!("{ms} ms"),
        (0, 0, sec) => format!("{sec} s"),
        (0, min, sec) => format!("{min} min {sec} s"),
        (h, min, sec) => format!("{h} h {min} min {sec} s"),
    }
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Clock {
    /// The machine's clock.
    pub fn wall() -> Self {
        Self(Arc::new(Inner::Wall))
    }

    /// A simulated clock at `start_ms` (ms since the epoch) now. With `speed` above 0 it
    /// runs at that multiple of wall time; with 0 (or not finite) as fast as the run's
    /// paced sources go.
    pub fn simulated(start_ms: i64, speed: f64) -> Self {
        let origin = Instant::now();
        Self(Arc::new(if speed > 0.0 && speed.is_finite() {
            Inner::Scaled {
                start_ms,
                origin,
                speed,
            }
        } else {
            Inner::Driven {
                start_ms,
                origin,
                elapsed_us: watch::Sender::new(0),
                sources: Mutex::new(Sources::default()),
                watched: Mutex::new(Vec::new()),
                observers: Mutex::new(Vec::new()),
            }
        }))
    }

    /// Whether this is a simulated clock.
    pub fn is_simulated(&self) -> bool {
        !matches!(*self.0, Inner::Wall)
    }

    /// How this clock runs, for a person: `wall`, `simulated ×60`, `simulated, as fast
    /// as possible`.
    pub fn describe(&self) -> String {
        match &*self.0 {
            Inner::Wall => "wall".to_owned(),
            Inner::Scaled { speed, .. } => format!("simulated ×{speed}"),
            Inner::Driven { .. } => "simulated, as fast as possible".to_owned(),
        }
    }

    /// Simulated time since the clock started (zero for the wall clock).
    fn elapsed(&self) -> Duration {
        match &*self.0 {
            Inner::Wall => Duration::ZERO,
            Inner::Scaled { origin, speed, .. } => origin.elapsed().mul_f64(*speed),
            Inner::Driven { elapsed_us, .. } => Duration::from_micros(*elapsed_us.borrow()),
        }
    }

    /// The time now, in ms since the epoch.
    pub fn now_ms(&self) -> i64 {
        match &*self.0 {
            Inner::Wall => wall_ms(),
            Inner::Scaled { start_ms, .. } | Inner::Driven { start_ms, .. } => {
                start_ms + self.elapsed().as_millis() as i64
            }
        }
    }

    /// The time now as an [`Instant`] on this clock's scale: intervals between two of
    /// them are simulated time (deadlines, windows, rates are measured with it).
    pub fn instant(&self) -> Instant {
        match &*self.0 {
            Inner::Wall => Instant::now(),
            Inner::Scaled { origin, .. } | Inner::Driven { origin, .. } => *origin + self.elapsed(),
        }
    }

    /// The time (ms since the epoch) of `at`, an [`Clock::instant`] of this clock.
    pub fn ms_at(&self, at: Instant) -> i64 {
        let now = self.instant();
        match at.checked_duration_since(now) {
            Some(ahead) => self.now_ms() + ahead.as_millis() as i64,
            None => self.now_ms() - now.saturating_duration_since(at).as_millis() as i64,
        }
    }

    /// Simulated time since `earlier` (an [`Clock::instant`] of this clock).
    pub fn since(&self, earlier: Instant) -> Duration {
        self.instant().saturating_duration_since(earlier)
    }

    /// Waits until this clock reaches `at` (an [`Clock::instant`] of it). A clock that
    /// runs as fast as possible gets there when the sources do; cancel-safe.
    pub async fn sleep_until(&self, at: Instant) {
        match &*self.0 {
            Inner::Wall => tokio::time::sleep_until(at.into()).await,
            Inner::Scaled { speed, .. } => loop {
                let left = at.saturating_duration_since(self.instant());
                if left.is_zero() {
                    return;
                }
                tokio::time::sleep(left.div_f64(*speed).max(Duration::from_micros(100))).await;
            },
            Inner::Driven {
                origin,
                elapsed_us,
                sources,
                ..
            } => {
                let target = at.saturating_duration_since(*origin).as_micros() as u64;
                let mut rx = elapsed_us.subscribe();
                if *rx.borrow_and_update() >= target {
                    return;
                }
                let _sleeping = Sleeping::new(sources, target);
                loop {
                    tokio::select! {
                        changed = rx.changed() => {
                            if changed.is_err() {
                                return std::future::pending().await;
                            }
                        }
                        _ = tokio::time::sleep(STALL) => Self::unstall(elapsed_us, sources),
                    }
                    if *rx.borrow_and_update() >= target {
                        return;
                    }
                }
            }
        }
    }

    /// Waits `d` of this clock's time.
    pub async fn sleep(&self, d: Duration) {
        self.sleep_until(self.instant() + d).await
    }

    /// Waits out a backoff of `d` (a producer a shard's write limit refused). On a clock
    /// running as fast as possible the wait is time passing: the clock moves on by `d`,
    /// so the limit's budget refills.
    pub async fn back_off(&self, d: Duration) {
        match &*self.0 {
            Inner::Driven {
                elapsed_us,
                sources,
                ..
            } => {
                let to = *elapsed_us.borrow() + d.as_micros() as u64;
                if let Ok(mut s) = sources.lock() {
                    Self::advance(elapsed_us, &mut s, to);
                }
                tokio::task::yield_now().await;
            }
            _ => self.sleep(d).await,
        }
    }

    /// A pacer for one source: the source waits with it until a record is due, and on a
    /// clock running as fast as possible that is what moves time on.
    pub fn pacer(&self) -> Pacer {
        Pacer {
            clock: self.clone(),
            id: None,
        }
    }

    /// Has a clock running as fast as possible wait for `stream` to be read before a
    /// source moves time on (nothing for other clocks).
    pub fn watch(&self, stream: Weak<dyn Backlog>) {
        if let Inner::Driven { watched, .. } = &*self.0
            && let Ok(mut w) = watched.lock()
        {
            w.retain(|s| s.strong_count() > 0);
            w.push(stream);
        }
    }

    /// Has a clock running as fast as possible tell `observer` before a source moves it
    /// on; false for other clocks (which move on their own: poll them).
    pub fn observe(&self, observer: Weak<dyn Observer>) -> bool {
        match &*self.0 {
            Inner::Driven { observers, .. } => {
                if let Ok(mut o) = observers.lock() {
                    o.retain(|o| o.strong_count() > 0);
                    o.push(observer);
                }
                true
            }
            _ => false,
        }
    }

    /// Tells the observers the clock moves on to `to_us` (µs since the origin).
    fn tell_observers(&self, to_us: u64) {
        let Inner::Driven {
            start_ms,
            observers,
            ..
        } = &*self.0
        else {
            return;
        };
        let list: Vec<Arc<dyn Observer>> = match observers.lock() {
            Ok(o) => o.iter().filter_map(Weak::upgrade).collect(),
            Err(_) => return,
        };
        let to_ms = start_ms + (to_us / 1000) as i64;
        for o in list {
            o.moving_to(to_ms);
        }
    }

    /// Unread records over the watched streams.
    fn unread(&self) -> u64 {
        let Inner::Driven { watched, .. } = &*self.0 else {
            return 0;
        };
        let streams: Vec<Arc<dyn Backlog>> = match watched.lock() {
            Ok(w) => w.iter().filter_map(Weak::upgrade).collect(),
            Err(_) => return 0,
        };
        streams.iter().map(|s| s.unread()).sum()
    }

    /// Waits (up to [`CATCH_UP`]) until the watched streams have been read.
    async fn catch_up(&self) {
        let started = Instant::now();
        let mut spins = 0u32;
        while self.unread() > 0 && started.elapsed() < CATCH_UP {
            if spins < 64 {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            spins += 1;
        }
    }

    /// Moves a driven clock to the slowest registered source (never back).
    fn publish(elapsed_us: &watch::Sender<u64>, sources: &mut Sources) {
        if let Some(min) = sources.at.values().min().copied() {
            Self::advance(elapsed_us, sources, min);
        }
    }

    /// Moves a driven clock on to `to` (µs since the origin), if that is later.
    fn advance(elapsed_us: &watch::Sender<u64>, sources: &mut Sources, to: u64) {
        let moved = elapsed_us.send_if_modified(|now| {
            let moved = to > *now;
            if moved {
                *now = to;
            }
            moved
        });
        if moved || sources.moved.is_none() {
            sources.moved = Some(Instant::now());
        }
    }

    /// A driven clock that stood still for [`STALL`] while something sleeps on it moves
    /// on to the earliest sleeper's time.
    fn unstall(elapsed_us: &watch::Sender<u64>, sources: &Mutex<Sources>) {
        let Ok(mut s) = sources.lock() else { return };
        if s.next > 0 || s.moved.is_some_and(|m| m.elapsed() < STALL) {
            return;
        }
        if let Some(first) = s.sleepers.keys().next().copied() {
            Self::advance(elapsed_us, &mut s, first);
        }
    }
}

/// A sleeper on a driven clock, counted while it waits.
struct Sleeping<'a> {
    sources: &'a Mutex<Sources>,
    target: u64,
}

impl<'a> Sleeping<'a> {
    fn new(sources: &'a Mutex<Sources>, target: u64) -> Self {
        if let Ok(mut s) = sources.lock() {
            *s.sleepers.entry(target).or_default() += 1;
        }
        Self { sources, target }
    }
}

impl Drop for Sleeping<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.sources.lock()
            && let Some(n) = s.sleepers.get_mut(&self.target)
        {
            *n -= 1;
            if *n == 0 {
                s.sleepers.remove(&self.target);
            }
        }
    }
}

/// How one source keeps its pace on the run's clock ([`Clock::pacer`]).
#[derive(Debug)]
pub struct Pacer {
    clock: Clock,
    /// Registered on a driven clock once it first paced.
    id: Option<u64>,
}

impl Pacer {
    /// Waits until `at` on the clock (a record's due time). On a clock running as fast as
    /// possible this source has reached `at`: time moves on to the slowest source that
    /// paces, and the source goes on at once.
    pub async fn until(&mut self, at: Instant) {
        match &*self.clock.0 {
            Inner::Wall | Inner::Scaled { .. } => self.clock.sleep_until(at).await,
            Inner::Driven {
                origin,
                elapsed_us,
                sources,
                ..
            } => {
                // What was sent so far is read at the time it was sent.
                self.clock.catch_up().await;
                let us = at.saturating_duration_since(*origin).as_micros() as u64;
                // Where time would go with this source at `us`: the observers hear of
                // it first.
                let to = sources.lock().ok().map(|mut s| {
                    let id = *self.id.get_or_insert_with(|| {
                        s.next += 1;
                        s.next
                    });
                    s.at.insert(id, us);
                    s.at.values().min().copied().unwrap_or(us)
                });
                if let Some(to) = to.filter(|to| *to > *elapsed_us.borrow()) {
                    self.clock.tell_observers(to);
                }
                if let Ok(mut s) = sources.lock() {
                    Clock::publish(elapsed_us, &mut s);
                }
                // Let the rest of the run see the new time before producing more.
                tokio::task::yield_now().await;
            }
        }
    }

    /// The clock this pacer keeps.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }
}

impl Drop for Pacer {
    fn drop(&mut self) {
        if let (
            Some(id),
            Inner::Driven {
                elapsed_us,
                sources,
                ..
            },
        ) = (self.id, &*self.clock.0)
            && let Ok(mut s) = sources.lock()
        {
            s.at.remove(&id);
            Clock::publish(elapsed_us, &mut s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_driven_clock_follows_the_slowest_source_and_wakes_its_sleepers() {
        let clock = Clock::simulated(1_000_000, 0.0);
        let t0 = clock.instant();
        assert_eq!(clock.now_ms(), 1_000_000);
        let (mut a, mut b) = (clock.pacer(), clock.pacer());
        a.until(t0 + Duration::from_secs(10)).await;
        assert_eq!(clock.now_ms(), 1_010_000, "one source: its position");
        b.until(t0 + Duration::from_secs(4)).await;
        assert_eq!(clock.now_ms(), 1_010_000, "never goes back");
        let sleeper = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.sleep_until(t0 + Duration::from_secs(20)).await })
        };
        a.until(t0 + Duration::from_secs(30)).await;
        assert_eq!(clock.now_ms(), 1_010_000, "b holds it back");
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        b.until(t0 + Duration::from_secs(25)).await;
        assert_eq!(clock.now_ms(), 1_025_000);
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("woken at 25 s")
            .unwrap();
        drop(b);
        assert_eq!(clock.now_ms(), 1_030_000, "b is done: a alone");
        assert_eq!(clock.since(t0), Duration::from_secs(30));
    }

    #[tokio::test]
    async fn a_scaled_clock_runs_at_its_speed() {
        let clock = Clock::simulated(0, 1000.0);
        let t0 = clock.instant();
        let wall = Instant::now();
        clock.sleep(Duration::from_secs(50)).await;
        let took = wall.elapsed();
        assert!(clock.since(t0) >= Duration::from_secs(50));
        assert!(
            took >= Duration::from_millis(45) && took < Duration::from_secs(2),
            "{took:?}"
        );
        assert!(clock.now_ms() >= 50_000);
        assert_eq!(Clock::wall().describe(), "wall");
        assert_eq!(clock.describe(), "simulated ×1000");
    }
}
