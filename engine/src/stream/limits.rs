//! Kinesis's per-shard write limits, as token buckets.
//!
//! "Each shard can support writes up to 1,000 records per second, up to a maximum data
//! write total of 1 MiB per second" (PutRecords, Amazon Kinesis API Reference). A record
//! counts its data blob and its partition key. A put beyond either limit is refused for
//! that record with `ProvisionedThroughputExceededException`, while the others of the
//! same request can succeed. Each shard's budget refills continuously and holds at most
//! one second of it, so a shard takes a burst of one second's worth and then its rate.

use std::time::{Duration, Instant};

use crate::api::Clock;

/// A shard's write limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WriteLimit {
    /// Records per second.
    pub records_per_sec: f64,
    /// Bytes (data blob plus partition key) per second.
    pub bytes_per_sec: f64,
}

impl WriteLimit {
    /// A provisioned shard's: 1,000 records and 1 MiB per second.
    pub const KINESIS_SHARD: WriteLimit = WriteLimit {
        records_per_sec: 1000.0,
        bytes_per_sec: 1_048_576.0,
    };

    /// No limit (a stream that only keeps injected throttling bursts).
    pub const UNLIMITED: WriteLimit = WriteLimit {
        records_per_sec: f64::INFINITY,
        bytes_per_sec: f64::INFINITY,
    };
}

/// One shard's budget.
#[derive(Clone, Debug)]
struct Bucket {
    records: f64,
    bytes: f64,
    at: Instant,
}

/// The write budgets of a stream's shards, and what each refused.
#[derive(Clone, Debug)]
pub struct ShardBudgets {
    limit: WriteLimit,
    buckets: Vec<Bucket>,
    refused: Vec<u64>,
    /// Injected throttling bursts: every shard refuses every put while one lasts.
    bursts: Option<crate::api::faults::Bursts>,
    /// The run's clock: budgets refill with its time.
    clock: Clock,
}

impl ShardBudgets {
    /// Full budgets for `shards` shards, refilling on `clock`.
    pub fn new(limit: WriteLimit, shards: usize, clock: Clock) -> Self {
        let now = clock.instant();
        Self {
            clock,
            ..Self::at(limit, shards, now)
        }
    }

    fn at(limit: WriteLimit, shards: usize, now: Instant) -> Self {
        Self {
            clock: Clock::wall(),
            limit,
            buckets: vec![
                Bucket {
                    records: limit.records_per_sec,
                    bytes: limit.bytes_per_sec,
                    at: now,
                };
                shards
            ],
            refused: vec![0; shards],
            bursts: None,
        }
    }

    /// Keeps injected throttling bursts from now on.
    pub fn with_bursts(&mut self, bursts: crate::api::faults::Bursts) {
        self.bursts = Some(bursts);
    }

    /// Of records of `sizes` bytes offered to `shard` in this order, how many the shard
    /// takes now (a prefix, so order per shard holds); the rest count as refused.
    pub fn admit(&mut self, shard: usize, sizes: impl IntoIterator<Item = u64>) -> usize {
        let now = self.clock.instant();
        self.admit_at(shard, sizes, now)
    }

    fn admit_at(
        &mut self,
        shard: usize,
        sizes: impl IntoIterator<Item = u64>,
        now: Instant,
    ) -> usize {
        let limit = self.limit;
        let bursting = self.bursts.is_some_and(|b| b.remaining().is_some());
        let Some(b) = self.buckets.get_mut(shard) else {
            return 0;
        };
        let secs = now.saturating_duration_since(b.at).as_secs_f64();
        b.at = now;
        b.records = (b.records + secs * limit.records_per_sec).min(limit.records_per_sec);
        b.bytes = (b.bytes + secs * limit.bytes_per_sec).min(limit.bytes_per_sec);
        let mut taken = 0;
        let mut offered = 0;
        for size in sizes {
            offered += 1;
            let size = size as f64;
            // A record larger than a second's bytes goes when the budget is full, so it
            // is slow rather than refused for ever (the API refuses those beforehand).
            let fits = b.bytes >= size || b.bytes >= limit.bytes_per_sec;
            if offered - 1 == taken && b.records >= 1.0 && fits && !bursting {
                b.records -= 1.0;
                b.bytes -= size;
                taken += 1;
            }
        }
        self.refused[shard] += (offered - taken) as u64;
        taken
    }

    /// Full budgets for shards opened by resharding, up to `shards` in all.
    pub fn grow(&mut self, shards: usize) {
        let now = self.clock.instant();
        while self.buckets.len() < shards {
            self.buckets.push(Bucket {
                records: self.limit.records_per_sec,
                bytes: self.limit.bytes_per_sec,
                at: now,
            });
            self.refused.push(0);
        }
    }

    /// Records refused so far, per shard.
    pub fn refused(&self) -> &[u64] {
        &self.refused
    }
}

/// A shard's read budget for `GetRecords`: 5 calls a second and 2 MiB a second shared by
/// its standard consumers. A call may return more than the bytes left (up to 10 MiB),
/// and then the shard's reads are refused until the budget is back above zero, as
/// Kinesis throttles the calls after a large read.
#[derive(Clone, Debug)]
pub struct ReadBudgets {
    calls: Vec<(f64, Instant)>,
    bytes: Vec<(f64, Instant)>,
    clock: Clock,
}

impl ReadBudgets {
    /// GetRecords calls a shard takes a second.
    pub const CALLS_PER_SEC: f64 = 5.0;
    /// Bytes a shard gives its standard consumers a second.
    pub const BYTES_PER_SEC: f64 = 2.0 * 1_048_576.0;

    /// Full budgets for `shards` shards, refilling on `clock`.
    pub fn new(shards: usize, clock: Clock) -> Self {
        let now = clock.instant();
        Self {
            calls: vec![(Self::CALLS_PER_SEC, now); shards],
            bytes: vec![(Self::BYTES_PER_SEC, now); shards],
            clock,
        }
    }

    /// Full budgets for shards opened by resharding, up to `shards` in all.
    pub fn grow(&mut self, shards: usize) {
        let now = self.clock.instant();
        self.calls
            .resize(shards.max(self.calls.len()), (Self::CALLS_PER_SEC, now));
        self.bytes
            .resize(shards.max(self.bytes.len()), (Self::BYTES_PER_SEC, now));
    }

    fn refill(b: &mut (f64, Instant), rate: f64, now: Instant) {
        let secs = now.saturating_duration_since(b.1).as_secs_f64();
        b.0 = (b.0 + secs * rate).min(rate);
        b.1 = now;
    }

    /// Whether shard `shard` takes a `GetRecords` call now (and counts it).
    pub fn call(&mut self, shard: usize) -> bool {
        let now = self.clock.instant();
        let (Some(calls), Some(bytes)) = (self.calls.get_mut(shard), self.bytes.get_mut(shard))
        else {
            return true;
        };
        Self::refill(calls, Self::CALLS_PER_SEC, now);
        Self::refill(bytes, Self::BYTES_PER_SEC, now);
        if calls.0 < 1.0 || bytes.0 <= 0.0 {
            return false;
        }
        calls.0 -= 1.0;
        true
    }

    /// Of `rows` records of `per_row` bytes in shard `shard`, how many the shard's byte
    /// budget lets a reader take now (none while it is spent, at least one otherwise;
    /// what was taken is charged, so a large read leaves a debt).
    pub fn take(&mut self, shard: usize, per_row: u64, rows: usize) -> usize {
        let now = self.clock.instant();
        let Some(bytes) = self.bytes.get_mut(shard) else {
            return rows;
        };
        Self::refill(bytes, Self::BYTES_PER_SEC, now);
        if bytes.0 <= 0.0 {
            return 0;
        }
        let n = ((bytes.0 / per_row.max(1) as f64).ceil() as usize).clamp(1, rows.max(1));
        bytes.0 -= (n as u64 * per_row) as f64;
        n
    }

    /// Charges shard `shard` the `n` bytes a call returned.
    pub fn charge(&mut self, shard: usize, n: u64) {
        if let Some(b) = self.bytes.get_mut(shard) {
            b.0 -= n as f64;
        }
    }
}

/// The wait before retry `attempt` (1, 2, …) of a throttled put: exponential backoff from
/// 100 ms, capped at 1 s, with jitter of up to a quarter (`jitter` in 0..1), as the KPL
/// and the AWS SDKs back off from `ProvisionedThroughputExceededException`.
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let base = 100.0 * 2f64.powi(attempt.saturating_sub(1).min(10) as i32);
    let ms = base.min(1000.0) * (1.0 - 0.25 * jitter.clamp(0.0, 1.0));
    Duration::from_secs_f64(ms / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_takes_a_seconds_records_then_its_rate() {
        let t0 = Instant::now();
        let mut b = ShardBudgets::at(WriteLimit::KINESIS_SHARD, 2, t0);
        // 3,000 small records at once: the first 1,000 go, the rest are refused.
        assert_eq!(b.admit_at(0, vec![100; 3000], t0), 1000);
        assert_eq!(b.refused(), &[2000, 0]);
        // The other shard has its own budget.
        assert_eq!(b.admit_at(1, vec![100; 10], t0), 10);
        // 250 ms later, a quarter of a second's records.
        let t1 = t0 + Duration::from_millis(250);
        assert_eq!(b.admit_at(0, vec![100; 3000], t1), 250);
        // Never more than a second's worth, however long it waited.
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!(b.admit_at(0, vec![100; 3000], t2), 1000);
    }

    #[test]
    fn bytes_limit_a_shard_too_and_order_holds() {
        let t0 = Instant::now();
        let mut b = ShardBudgets::at(WriteLimit::KINESIS_SHARD, 1, t0);
        // 100 KiB records: ten fit in 1 MiB, the eleventh does not.
        assert_eq!(b.admit_at(0, vec![102_400; 20], t0), 10);
        // A small record after a refused big one waits its turn: only a prefix goes.
        let t1 = t0 + Duration::from_millis(50);
        assert_eq!(b.admit_at(0, [102_400, 10], t1), 0);
        assert_eq!(b.refused(), &[12]);
    }

    #[test]
    fn backoff_doubles_to_a_second() {
        assert_eq!(backoff(1, 0.0), Duration::from_millis(100));
        assert_eq!(backoff(2, 0.0), Duration::from_millis(200));
        assert_eq!(backoff(5, 0.0), Duration::from_millis(1000));
        assert_eq!(backoff(40, 0.0), Duration::from_millis(1000));
        assert_eq!(backoff(1, 1.0), Duration::from_millis(75));
    }
}
