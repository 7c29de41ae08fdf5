//! The streaming nodes of a run, once wired: run together until they all end, with
//! their metrics sampled about once a second.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::api::clock::Observer as _;
use crate::api::timeline::{Counts, EMITTED, EMITTED_ROWS, Timeline};
use crate::api::{Clock, Event, EventTx, NodeStats, NodeSummary, RunId, StreamingTotals};
use crate::error::{Error, Result};
use crate::nodes::StreamTask;
use crate::stream::metrics::{NodeMetrics, Sampler};

/// A wired streaming node: its task, its live counters and its summary line so far.
pub struct Wired {
    /// What runs.
    pub task: StreamTask,
    /// Live counters.
    pub metrics: Arc<NodeMetrics>,
    /// The node's line in the run summary.
    pub summary: NodeSummary,
}

/// What a run's streaming nodes report to as they run.
pub struct Ticking<'a> {
    /// The run.
    pub run: RunId,
    /// Its clock.
    pub clock: &'a Clock,
    /// Where events go.
    pub tx: &'a EventTx,
    /// The run's timeline, which gets each node's counts on its grid.
    pub timeline: Option<&'a Timeline>,
}

/// Runs the wired streaming nodes together until they all end, sending metrics about
/// once a second (and adding each node's counts to the run's timeline on its grid).
/// `ended` gets each node's summary line and result as it ends.
pub async fn run_streaming(
    nodes: Vec<Wired>,
    ticking: Ticking<'_>,
    mut ended: impl FnMut(NodeSummary, Result<NodeStats>),
) {
    use futures::StreamExt as _;
    let Ticking {
        run,
        clock,
        tx,
        timeline,
    } = ticking;
    let probes: Vec<(String, Arc<NodeMetrics>)> = nodes
        .iter()
        .map(|w| (w.summary.id.clone(), w.metrics.clone()))
        .collect();
    // Each node's counts on the timeline's grid: told by a clock running as fast as
    // possible before it passes each point, else polled on wall time (the counter never
    // sleeps on the clock, so it never moves a simulated clock on).
    let counter = timeline.map(|t| {
        for (_, m) in &probes {
            m.keep_recent(EMITTED_ROWS);
        }
        Arc::new(Counter {
            timeline: t.clone(),
            probes: probes.clone(),
            next: std::sync::Mutex::new(t.next_after(clock.now_ms())),
        })
    });
    let polling = counter.as_ref().and_then(|c| {
        let observer: Arc<dyn crate::api::clock::Observer> = c.clone();
        if clock.observe(Arc::downgrade(&observer)) {
            return None;
        }
        let (c, clock) = (c.clone(), clock.clone());
        Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                c.moving_to(clock.now_ms());
            }
        }))
    });
    let simulated = clock.is_simulated().then(|| clock.clone());
    let reporter = {
        let probes = probes.clone();
        let tx = tx.clone();
        let simulated = simulated.clone();
        tokio::spawn(async move {
            let mut samplers: Vec<Sampler> = probes.iter().map(|_| Sampler::default()).collect();
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Some(clock) = &simulated {
                    tx.send(Event::Clock {
                        run,
                        now_ms: clock.now_ms(),
                    });
                }
                for ((node, m), s) in probes.iter().zip(samplers.iter_mut()) {
                    tx.send(Event::Metrics {
                        run,
                        node: node.clone(),
                        sample: s.sample(m),
                    });
                }
            }
        })
    };
    let started = Instant::now();
    // On a simulated clock a node's elapsed time is simulated time (what AWS would bill
    // shard-hours, KPU-hours and a month's extrapolation by); rates stay per wall second.
    let clock_started = clock.instant();
    let mut running = futures::stream::FuturesUnordered::new();
    for Wired {
        task,
        metrics,
        summary,
    } in nodes
    {
        let handle = tokio::spawn(task);
        running.push(async move { (summary, metrics, handle.await) });
    }
    while let Some((summary, metrics, joined)) = running.next().await {
        let result = joined
            .map_err(|e| Error::Internal(format!("the node's task ended abnormally: {e}")))
            .and_then(|r| r)
            .map(|mut stats| {
                let secs = started.elapsed().as_secs_f64().max(1e-3);
                stats.elapsed_ms = match &simulated {
                    Some(clock) => clock.since(clock_started).as_millis() as u64,
                    None => started.elapsed().as_millis() as u64,
                };
                stats.streaming = Some(totals(&stats, &metrics, secs));
                stats
            });
        ended(summary, result);
    }
    reporter.abort();
    if let Some(polling) = polling {
        polling.abort();
    }
    if let Some(c) = &counter {
        // Where each node ended.
        count(&c.timeline, &probes, clock.now_ms());
    }
    if let Some(clock) = &simulated {
        tx.send(Event::Clock {
            run,
            now_ms: clock.now_ms(),
        });
    }
}

/// Adds every node's counts to the timeline at each point of its grid the clock passes.
struct Counter {
    timeline: Timeline,
    probes: Vec<(String, Arc<NodeMetrics>)>,
    /// The next point of the grid.
    next: std::sync::Mutex<i64>,
}

impl crate::api::clock::Observer for Counter {
    fn moving_to(&self, to_ms: i64) {
        let Ok(mut next) = self.next.lock() else {
            return;
        };
        while to_ms >= *next {
            count(&self.timeline, &self.probes, *next);
            *next = self.timeline.next_after(*next);
        }
    }
}

/// Adds every node's counts at `at_ms` to the timeline.
fn count(timeline: &Timeline, probes: &[(String, Arc<NodeMetrics>)], at_ms: i64) {
    for (node, m) in probes {
        let records_out = m.records_out.load(Ordering::Relaxed);
        let shards = m
            .written
            .lock()
            .ok()
            .and_then(|t| t.as_ref().map(|t| t.tail()))
            .unwrap_or_default();
        timeline.count(
            node,
            Counts {
                at_ms,
                records_in: m.records_in.load(Ordering::Relaxed),
                records_out,
                lag_records: m.unread(),
                shards,
            },
        );
        if let Some(batches) = m.recent()
            && let Some(first) = batches.first()
        {
            let schema = first.schema();
            timeline.snapshot(node, EMITTED, at_ms, (schema, batches, records_out));
        }
    }
}

/// What the runner measured over the node's whole run.
fn totals(stats: &NodeStats, m: &NodeMetrics, secs: f64) -> StreamingTotals {
    let batches = m.batches.load(Ordering::Relaxed);
    StreamingTotals {
        errors: m.errors.load(Ordering::Relaxed),
        records_per_sec: (stats.records_out.max(stats.records_in) as f64 / secs).round(),
        mean_batch_latency_ms: if batches == 0 {
            0.0
        } else {
            m.batch_latency_us.load(Ordering::Relaxed) as f64 / batches as f64 / 1000.0
        },
        blocked_ms: m.blocked_us.load(Ordering::Relaxed) / 1000,
        throttled: m.throttled_total(),
        expired: m.expired(),
        unread: m.unread(),
    }
}
