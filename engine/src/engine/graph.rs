//! One run of the graph: every node in dependency order, skipping nodes whose upstream
//! failed, reusing cached results for a single-node run, and handing the wired streaming
//! nodes to `streaming.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::cache::{Cache, fingerprint};
use super::streaming::{Wired, run_streaming};
use crate::api::{
    Event, EventSink, EventTx, LogLevel, NodeStats, NodeStatus, NodeSummary, RunId, RunTarget,
    StopSignal,
};
use crate::error::{Error, Result};
use crate::nodes::{NodeContext, Value};
use crate::project::Project;

/// State shared between a run task and the engine thread (which may stop it).
#[derive(Default)]
pub struct RunShared {
    /// The run has reported its end.
    pub finished: AtomicBool,
    /// One line per node done so far.
    pub summary: Mutex<Vec<NodeSummary>>,
    /// The batch node running now.
    pub running: Mutex<Option<String>>,
    /// Streaming nodes are running: a stop drains them instead of aborting.
    pub streaming: AtomicBool,
    /// The user's stop.
    pub stop: StopSignal,
}

impl RunShared {
    fn push(&self, summary: NodeSummary) {
        if let Ok(mut s) = self.summary.lock() {
            s.push(summary);
        }
    }

    fn set_running(&self, node: Option<&str>) {
        if let Ok(mut r) = self.running.lock() {
            *r = node.map(str::to_owned);
        }
    }
}

/// Tells the receiver the columns of each stream or table output of `node`.
fn announce_columns(tx: &EventTx, run: RunId, node: &str, outputs: &BTreeMap<&'static str, Value>) {
    for (port, value) in outputs {
        if let Some(schema) = value.schema() {
            tx.send(Event::Columns {
                run,
                node: node.to_owned(),
                port: (*port).to_owned(),
                schema,
            });
        }
    }
}

/// Runs `target` of `project`, reporting every node and the run's end.
pub async fn run_graph(
    project: Arc<Project>,
    base_dir: PathBuf,
    run: RunId,
    target: RunTarget,
    tx: EventTx,
    cache: Arc<Mutex<Cache>>,
    shared: Arc<RunShared>,
) {
    let sink = EventSink::new(tx.clone(), run);
    let order = match &target {
        RunTarget::All => project.topological_order(),
        RunTarget::Node(id) if project.node(id).is_none() => {
            Err(Error::Invalid(format!("no node '{id}' in the project")))
        }
        RunTarget::Node(id) => project.ancestors_and_self(id),
    };
    // The order of the nodes and the environment: without them nothing can run.
    let planned = order.and_then(|o| Ok((o, project.selected_environment()?)));
    let (order, environment) = match planned {
        Ok(p) => p,
        Err(e) => {
            tx.send(Event::Log {
                run: Some(run),
                node: None,
                level: LogLevel::Error,
                message: e.to_string(),
            });
            finish(&shared, &tx, run, NodeStatus::Error);
            return;
        }
    };
    tx.send(Event::RunStarted {
        run,
        nodes: order.clone(),
    });
    // Invalid nodes cannot run; the problems name them.
    let problems = project.validate();
    let mut outputs: BTreeMap<String, BTreeMap<&'static str, Value>> = BTreeMap::new();
    let mut fingerprints: BTreeMap<String, u64> = BTreeMap::new();
    let mut failed: BTreeSet<String> = BTreeSet::new();
    let mut any_error = false;
    let mut streaming: Vec<Wired> = Vec::new();

    for id in &order {
        let Some(node) = project.node(id) else {
            continue;
        };
        let kind = node.kind().as_str().to_owned();
        let mut summary = NodeSummary {
            id: id.clone(),
            kind: kind.clone(),
            status: NodeStatus::Running,
            records_in: 0,
            records_out: 0,
            error: None,
            cached: false,
            stats: NodeStats::default(),
        };
        let upstream: Vec<&str> = project
            .valid_edges()
            .filter(|e| e.to.node == *id)
            .map(|e| e.from.node.as_str())
            .collect();
        let node_problems: Vec<String> = problems
            .iter()
            .filter(|p| p.node_id() == Some(id))
            .map(|p| match &p.field {
                Some(field) => format!("config: {field}: {}", p.message),
                None => p.message.clone(),
            })
            .collect();
        if let Some(bad) = upstream.iter().find(|u| failed.contains(**u)) {
            let reason = format!("upstream node '{bad}' did not finish");
            tx.send(Event::NodeSkipped {
                run,
                node: id.clone(),
                reason: reason.clone(),
            });
            summary.status = NodeStatus::Skipped;
            summary.error = Some(reason);
            failed.insert(id.clone());
            shared.push(summary);
            continue;
        }
        if !node_problems.is_empty() {
            let error = format!("node '{id}' ({kind}): {}", node_problems.join("; "));
            finished_err(&tx, run, &mut summary, error);
            failed.insert(id.clone());
            any_error = true;
            shared.push(summary);
            continue;
        }

        let fp = fingerprint(&project, id, &fingerprints);
        fingerprints.insert(id.clone(), fp);
        let reuse = matches!(&target, RunTarget::Node(t) if t != id);
        if reuse {
            let hit = cache.lock().ok().and_then(|c| c.get(id, fp));
            if let Some((outs, stats)) = hit {
                finished_ok(&tx, run, &mut summary, stats, true);
                outputs.insert(id.clone(), outs);
                shared.push(summary);
                continue;
            }
        }

        let mut inputs: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for e in project.valid_edges().filter(|e| e.to.node == *id) {
            if let Some(v) = outputs
                .get(&e.from.node)
                .and_then(|o| o.get(e.from.port.as_str()))
            {
                inputs.entry(e.to.port.clone()).or_default().push(v.clone());
            }
        }
        shared.set_running(Some(id));
        tx.send(Event::NodeStarted {
            run,
            node: id.clone(),
        });
        let ctx = NodeContext {
            id,
            base_dir: &base_dir,
            inputs,
            events: &sink,
            stop: shared.stop.clone(),
            environment: &environment,
        };
        let start = Instant::now();
        let result = node.config.run(&ctx).await;
        shared.set_running(None);
        match result {
            Ok(mut out) if out.task.is_some() => {
                // A streaming node: wired now, it runs with the others below.
                announce_columns(&tx, run, id, &out.outputs);
                if let Some(task) = out.task.take() {
                    streaming.push(Wired {
                        task,
                        metrics: out.metrics.take().unwrap_or_default(),
                        summary,
                    });
                }
                outputs.insert(id.clone(), out.outputs);
                continue;
            }
            Ok(mut out) => {
                out.stats.elapsed_ms = start.elapsed().as_millis() as u64;
                finished_ok(&tx, run, &mut summary, out.stats.clone(), false);
                if !node.kind().is_streaming()
                    && let Ok(mut c) = cache.lock()
                {
                    c.insert(id, fp, out.outputs.clone(), out.stats);
                }
                announce_columns(&tx, run, id, &out.outputs);
                outputs.insert(id.clone(), out.outputs);
            }
            Err(e) => {
                let error = e.in_node(id, &kind).to_string();
                finished_err(&tx, run, &mut summary, error);
                failed.insert(id.clone());
                any_error = true;
                if let Ok(mut c) = cache.lock() {
                    c.remove(id);
                }
            }
        }
        shared.push(summary);
    }
    if !streaming.is_empty() {
        shared.streaming.store(true, Ordering::SeqCst);
        run_streaming(streaming, run, &tx, |summary, result| {
            report(&tx, run, &shared, summary, result, &mut any_error);
        })
        .await;
    }
    let status = if shared.stop.is_set() {
        NodeStatus::Stopped
    } else if any_error {
        NodeStatus::Error
    } else {
        NodeStatus::Ok
    };
    finish(&shared, &tx, run, status);
}

/// Reports how a streaming node ended.
fn report(
    tx: &EventTx,
    run: RunId,
    shared: &RunShared,
    mut summary: NodeSummary,
    result: Result<NodeStats>,
    any_error: &mut bool,
) {
    match result {
        Ok(stats) => finished_ok(tx, run, &mut summary, stats, false),
        Err(Error::Cancelled) => {
            tx.send(Event::NodeStopped {
                run,
                node: summary.id.clone(),
            });
            summary.status = NodeStatus::Stopped;
        }
        Err(e) => {
            let error = e.in_node(&summary.id, &summary.kind).to_string();
            finished_err(tx, run, &mut summary, error);
            *any_error = true;
        }
    }
    shared.push(summary);
}

/// Reports a node as finished and records it in its summary line.
fn finished_ok(
    tx: &EventTx,
    run: RunId,
    summary: &mut NodeSummary,
    stats: NodeStats,
    cached: bool,
) {
    tx.send(Event::NodeFinished {
        run,
        node: summary.id.clone(),
        stats: stats.clone(),
        cached,
    });
    summary.status = NodeStatus::Ok;
    summary.cached = cached;
    summary.records_in = stats.records_in;
    summary.records_out = stats.records_out;
    summary.stats = stats;
}

/// Reports a failed node: the event, and its line in the run summary.
fn finished_err(tx: &EventTx, run: RunId, summary: &mut NodeSummary, error: String) {
    tx.send(Event::NodeFailed {
        run,
        node: summary.id.clone(),
        error: error.clone(),
    });
    summary.status = NodeStatus::Error;
    summary.error = Some(error);
}

/// Reports the run's end, once.
fn finish(shared: &RunShared, tx: &EventTx, run: RunId, status: NodeStatus) {
    if shared
        .finished
        .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        let summary = shared.summary.lock().map(|s| s.clone()).unwrap_or_default();
        tx.send(Event::RunFinished {
            run,
            status,
            summary,
        });
    }
}
