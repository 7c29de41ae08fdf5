//! Applies a node's injected faults ([`crate::api::faults::Faults`]) where its kind runs
//! records: which are poison (by fraction, or a SQL condition planned against the node's
//! input columns), the throttling bursts, the one worker crash, the S3 puts answered
//! `503 SlowDown`. Each injection is counted; the node logs the first of each kind and
//! the totals when it ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::api::EventSink;
use crate::api::faults::{Bursts, Faults, spread};
use crate::arrow::array::{Array as _, AsArray as _, RecordBatch};
use crate::arrow::datatypes::{DataType, SchemaRef};
use crate::datafusion::common::DFSchema;
use crate::datafusion::physical_plan::PhysicalExpr;
use crate::datafusion::prelude::SessionContext;
use crate::error::{Error, Result};

/// What was injected so far.
#[derive(Debug, Default)]
struct Counts {
    poison: AtomicU64,
    poison_calls: AtomicU64,
    throttled: AtomicU64,
    crashes: AtomicU64,
    slow_downs: AtomicU64,
    delayed: AtomicU64,
}

/// A node's faults, ready to apply.
pub struct Injector {
    faults: Faults,
    node: String,
    events: EventSink,
    poison_where: Option<Arc<dyn PhysicalExpr>>,
    bursts: Option<Bursts>,
    seen: AtomicU64,
    crashed: AtomicBool,
    puts: AtomicU64,
    counts: Counts,
}

impl std::fmt::Debug for Injector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Injector")
            .field("faults", &self.faults)
            .finish()
    }
}

impl Injector {
    /// The faults of node `node`, whose records have columns `schema`; `None` when it has
    /// none. A `poison_where` that does not plan against the columns is an error naming it.
    pub fn new(
        faults: &Faults,
        node: &str,
        events: &EventSink,
        schema: &SchemaRef,
    ) -> Result<Option<Arc<Self>>> {
        if faults.is_none() {
            return Ok(None);
        }
        let poison_where = if faults.poison_where.trim().is_empty() {
            None
        } else {
            let session = SessionContext::new();
            let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
            let bad = |e: crate::datafusion::error::DataFusionError| {
                Error::Invalid(format!("faults.poison_where: {}", Error::from(e)))
            };
            let expr = session
                .parse_sql_expr(&faults.poison_where, &df_schema)
                .map_err(bad)?;
            let physical = session
                .create_physical_expr(expr, &df_schema)
                .map_err(bad)?;
            let ty = physical.data_type(schema)?;
            if ty != DataType::Boolean {
                return Err(Error::Invalid(format!(
                    "faults.poison_where: '{}' is {ty}, not true or false",
                    faults.poison_where
                )));
            }
            Some(physical)
        };
        events.warn(
            node,
            format!("faults injected into this node: {}", faults.describe()),
        );
        Ok(Some(Arc::new(Self {
            faults: faults.clone(),
            node: node.to_owned(),
            events: events.clone(),
            poison_where,
            bursts: faults.bursts(),
            seen: AtomicU64::new(0),
            crashed: AtomicBool::new(false),
            puts: AtomicU64::new(0),
            counts: Counts::default(),
        })))
    }

    fn first(&self, counter: &AtomicU64, n: u64, what: impl FnOnce() -> String) {
        if n > 0 && counter.fetch_add(n, Ordering::Relaxed) == 0 {
            self.events
                .warn(&self.node, format!("fault injected: {}", what()));
        }
    }

    /// Which rows of `batch` (records `first_seq`… of `shard`) are poison.
    pub fn poison(&self, batch: &RecordBatch, shard: usize, seqs: &[u64]) -> Result<Vec<bool>> {
        let mut out: Vec<bool> = seqs
            .iter()
            .map(|s| self.faults.poisons(&self.node, shard, *s))
            .collect();
        if let Some(expr) = &self.poison_where {
            let mask = expr.evaluate(batch)?.into_array(batch.num_rows())?;
            let mask = mask.as_boolean();
            for (i, p) in out.iter_mut().enumerate() {
                *p |= mask.is_valid(i) && mask.value(i);
            }
        }
        Ok(out)
    }

    /// Counts poison records set aside (the first is logged).
    pub fn poisoned(&self, n: u64, at: impl FnOnce() -> String) {
        self.first(&self.counts.poison, n, || format!("poison record {}", at()));
    }

    /// Counts a call that failed on a poison record (the first is logged).
    pub fn poisoned_call(&self, at: impl FnOnce() -> String) {
        self.first(&self.counts.poison_calls, 1, || {
            format!("poison record {}", at())
        });
    }

    /// How long the throttling burst going on lasts yet (counted as a throttle).
    pub fn throttled_for(&self) -> Option<Duration> {
        let wait = self.bursts.as_ref()?.remaining()?;
        self.first(&self.counts.throttled, 1, || {
            format!("throttling burst ({} s)", self.faults.throttle_for_s)
        });
        Some(wait)
    }

    /// The throttling bursts, for a stream's shards.
    pub fn bursts(&self) -> Option<Bursts> {
        self.bursts
    }

    /// Counts `n` records about to be invoked; true once, on the invocation that reaches
    /// `crash_after_records`: its worker crashes.
    pub fn crashes(&self, n: u64) -> bool {
        let limit = self.faults.crash_after_records;
        if limit == 0 {
            return false;
        }
        let before = self.seen.fetch_add(n, Ordering::Relaxed);
        if before + n >= limit && !self.crashed.swap(true, Ordering::Relaxed) {
            self.first(&self.counts.crashes, 1, || {
                format!("worker crash after {} records", before + n)
            });
            return true;
        }
        false
    }

    /// The added latency, if any.
    pub fn latency(&self) -> Option<Duration> {
        (self.faults.latency_ms > 0).then(|| {
            self.counts.delayed.fetch_add(1, Ordering::Relaxed);
            Duration::from_millis(self.faults.latency_ms)
        })
    }

    /// Whether this S3 put is answered `503 SlowDown`.
    pub fn slow_down(&self) -> bool {
        let n = self.puts.fetch_add(1, Ordering::Relaxed);
        let fail = spread(self.faults.s3_slow_down_fraction, n);
        if fail {
            self.first(&self.counts.slow_downs, 1, || {
                "S3 answered 503 SlowDown to a put".to_owned()
            });
        }
        fail
    }

    /// What was injected, for the log when the node ends ("" when nothing was).
    pub fn summary(&self) -> String {
        let c = &self.counts;
        let mut out = Vec::new();
        for (n, what) in [
            (c.poison.load(Ordering::Relaxed), "poison records"),
            (
                c.poison_calls.load(Ordering::Relaxed),
                "invocations failed on a poison record",
            ),
            (c.throttled.load(Ordering::Relaxed), "throttled calls"),
            (c.crashes.load(Ordering::Relaxed), "worker crashes"),
            (
                c.slow_downs.load(Ordering::Relaxed),
                "S3 503 SlowDown answers",
            ),
            (c.delayed.load(Ordering::Relaxed), "delayed calls"),
        ] {
            if n > 0 {
                out.push(format!("{n} {what}"));
            }
        }
        if out.is_empty() {
            String::new()
        } else {
            format!("faults injected during the run: {}", out.join(", "))
        }
    }

    /// Logs [`Injector::summary`], if anything was injected.
    pub fn report(&self) {
        let s = self.summary();
        if !s.is_empty() {
            self.events.info(&self.node, s);
        }
    }
}
