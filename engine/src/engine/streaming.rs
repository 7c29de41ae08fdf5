//! The streaming nodes of a run, once wired: run together until they all end, with
//! their metrics sampled about once a second.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

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

/// Runs the wired streaming nodes together until they all end, sending metrics about
/// once a second. `ended` gets each node's summary line and result as it ends.
pub async fn run_streaming(
    nodes: Vec<Wired>,
    run: RunId,
    clock: &Clock,
    tx: &EventTx,
    mut ended: impl FnMut(NodeSummary, Result<NodeStats>),
) {
    use futures::StreamExt as _;
    let probes: Vec<(String, Arc<NodeMetrics>)> = nodes
        .iter()
        .map(|w| (w.summary.id.clone(), w.metrics.clone()))
        .collect();
    let simulated = clock.is_simulated().then(|| clock.clone());
    let reporter = {
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
    if let Some(clock) = &simulated {
        tx.send(Event::Clock {
            run,
            now_ms: clock.now_ms(),
        });
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
