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
    Environment, Event, EventSink, EventTx, LogLevel, NodeStats, NodeStatus, NodeSummary, RunId,
    RunTarget, StopSignal,
};
use crate::error::{Error, Result};
use crate::nodes::{NodeConfig, NodeContext, Value};
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
    /// Each started node's settings as last loaded: a node that can change them while
    /// it runs (a Lambda's event source mapping) watches its own.
    pub settings: Mutex<BTreeMap<String, tokio::sync::watch::Sender<NodeConfig>>>,
    /// What the AWS endpoint serves, when the engine serves one.
    pub endpoint: Option<Arc<crate::aws::Registry>>,
}

impl RunShared {
    /// Hands the settings of `project` to the nodes of the run: a node whose settings
    /// changed (same id, same kind) sees them from its next batch, if it watches them.
    pub fn update_settings(&self, project: &Project) {
        let Ok(settings) = self.settings.lock() else {
            return;
        };
        for node in &project.nodes {
            if let Some(tx) = settings.get(&node.id) {
                tx.send_if_modified(|current| {
                    let changed = current.kind() == node.config.kind() && *current != node.config;
                    if changed {
                        *current = node.config.clone();
                    }
                    changed
                });
            }
        }
    }

    /// Records a node's line (a node run again replaces its line).
    fn push(&self, summary: NodeSummary) {
        if let Ok(mut s) = self.summary.lock() {
            match s.iter_mut().find(|l| l.id == summary.id) {
                Some(line) => *line = summary,
                None => s.push(summary),
            }
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
    let order = match &target {
        RunTarget::All => project.topological_order(),
        RunTarget::Node(id) if project.node(id).is_none() => {
            Err(Error::Invalid(format!("no node '{id}' in the project")))
        }
        RunTarget::Node(id) => project.ancestors_and_self(id),
        RunTarget::Replay(r) => super::replay::order(&project, &r.node),
    };
    let started = chrono::Utc::now();
    // The order of the nodes, the environment and the clock: without them nothing runs.
    let planned = order.and_then(|o| {
        let clock = match &target {
            RunTarget::Replay(r) => super::replay::clock(&project, &base_dir, r)?,
            _ => project.run_clock()?,
        };
        Ok((o, project.selected_environment()?, clock))
    });
    let (order, environment, clock) = match planned {
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
    if clock.is_simulated() {
        tx.send(Event::Log {
            run: Some(run),
            node: None,
            level: LogLevel::Info,
            message: format!(
                "clock: {} from {}",
                clock.describe(),
                crate::api::clock::format_ms(clock.now_ms())
            ),
        });
    }
    // The prices the cost meter uses: the project's own file, or the bundled one.
    let prices = crate::api::cost::Prices::for_project(&base_dir).unwrap_or_else(|e| {
        tx.send(Event::Log {
            run: Some(run),
            node: None,
            level: LogLevel::Warning,
            message: format!("{e}; costs use the bundled prices"),
        });
        crate::api::cost::Prices::bundled()
    });
    if let RunTarget::Replay(r) = &target {
        tx.send(Event::Log {
            run: Some(run),
            node: None,
            level: LogLevel::Info,
            message: format!(
                "replay from '{}' at {}: {} node(s) downstream run again on its retained records, from {}",
                r.node,
                r.from.describe(),
                order.len(),
                crate::api::clock::format_ms(clock.now_ms())
            ),
        });
    }
    let replay = match &target {
        RunTarget::Replay(r) => Some(Arc::new(crate::api::ReplayRun {
            replay: r.clone(),
            scratch: super::runs::replays_dir(&base_dir)
                .join(super::runs::run_id(started, run.seq)),
        })),
        _ => None,
    };
    // Each node's last preview: a streaming sink's live view is what its run records.
    let previews = crate::api::events::LastPreviews::default();
    // The run's timeline (what scrubbing back shows), on the run's clock.
    let timeline = (project.timeline_points > 0 && project.runs_kept > 0)
        .then(|| crate::api::timeline::Timeline::new(project.timeline_points, clock.now_ms()));
    let mut graph = GraphRun {
        prices: Arc::new(prices),
        // Invalid nodes cannot run; the problems name them.
        problems: project.validate(),
        sink: EventSink::keeping_previews(tx.clone(), run, previews.clone())
            .with_timeline(timeline.clone()),
        timeline,
        previews,
        project,
        base_dir,
        environment,
        clock,
        run,
        target,
        tx,
        cache,
        shared,
        outputs: BTreeMap::new(),
        fingerprints: BTreeMap::new(),
        failed: BTreeSet::new(),
        any_error: false,
        streaming: Vec::new(),
        rerunning: false,
        started,
        replay,
    };
    for id in &order {
        graph.step(id).await;
    }
    graph.finish().await;
}

/// One run of the graph in progress.
struct GraphRun {
    project: Arc<Project>,
    /// What the cost meter prices nodes at.
    prices: Arc<crate::api::cost::Prices>,
    base_dir: PathBuf,
    environment: crate::api::Environment,
    /// The run's clock (the project's `clock`).
    clock: crate::api::Clock,
    run: RunId,
    target: RunTarget,
    tx: EventTx,
    sink: EventSink,
    /// The last preview of each node and port (`sink` keeps them).
    previews: crate::api::events::LastPreviews,
    cache: Arc<Mutex<Cache>>,
    shared: Arc<RunShared>,
    problems: Vec<crate::api::Problem>,
    /// Each node's output values, by port.
    outputs: BTreeMap<String, BTreeMap<&'static str, Value>>,
    fingerprints: BTreeMap<String, u64>,
    /// Nodes that failed or were skipped: their downstream is skipped.
    failed: BTreeSet<String>,
    any_error: bool,
    /// Streaming nodes wired so far; they run together at the end.
    streaming: Vec<Wired>,
    /// Nodes run again on a trigger: no cached results.
    rerunning: bool,
    /// When the run started (its recorded id).
    started: chrono::DateTime<chrono::Utc>,
    /// The replay this run is, if it is one.
    replay: Option<Arc<crate::api::ReplayRun>>,
    /// The run's timeline, when the project keeps one.
    timeline: Option<crate::api::timeline::Timeline>,
}

impl GraphRun {
    /// Runs node `id` (or skips it, or reuses its cached result), or wires it when it
    /// streams.
    async fn step(&mut self, id: &str) {
        let project = self.project.clone();
        let Some(node) = project.node(id) else {
            return;
        };
        let kind = node.kind().as_str().to_owned();
        let mut summary = NodeSummary {
            id: id.to_owned(),
            kind: kind.clone(),
            status: NodeStatus::Running,
            records_in: 0,
            records_out: 0,
            error: None,
            cached: false,
            stats: NodeStats::default(),
        };
        if let Some(bad) = project
            .valid_edges()
            .filter(|e| e.to.node == id)
            .find(|e| self.failed.contains(&e.from.node))
        {
            let reason = format!("upstream node '{}' did not finish", bad.from.node);
            self.tx.send(Event::NodeSkipped {
                run: self.run,
                node: id.to_owned(),
                reason: reason.clone(),
            });
            summary.status = NodeStatus::Skipped;
            summary.error = Some(reason);
            self.hold_streams_into(id);
            self.failed.insert(id.to_owned());
            self.shared.push(summary);
            return;
        }
        let node_problems: Vec<String> = self
            .problems
            .iter()
            .filter(|p| p.node_id() == Some(id))
            .map(|p| match &p.field {
                Some(field) => format!("config: {field}: {}", p.message),
                None => p.message.clone(),
            })
            .collect();
        if !node_problems.is_empty() {
            let error = format!("node '{id}' ({kind}): {}", node_problems.join("; "));
            self.fail(&mut summary, error);
            return;
        }
        let fp = fingerprint(&project, id, &self.fingerprints);
        self.fingerprints.insert(id.to_owned(), fp);
        if !self.rerunning && matches!(&self.target, RunTarget::Node(t) if t != id) {
            let hit = self.cache.lock().ok().and_then(|c| c.get(id, fp));
            if let Some((outs, stats)) = hit {
                finished_ok(&self.tx, self.run, &mut summary, stats, true);
                self.outputs.insert(id.to_owned(), outs);
                self.shared.push(summary);
                return;
            }
        }
        let mut inputs: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for e in project.valid_edges().filter(|e| e.to.node == id) {
            if let Some(v) = self
                .outputs
                .get(&e.from.node)
                .and_then(|o| o.get(e.from.port.as_str()))
            {
                inputs.entry(e.to.port.clone()).or_default().push(v.clone());
            }
        }
        self.shared.set_running(Some(id));
        self.tx.send(Event::NodeStarted {
            run: self.run,
            node: id.to_owned(),
        });
        let (settings_tx, settings) = tokio::sync::watch::channel(node.config.clone());
        if let Ok(mut s) = self.shared.settings.lock() {
            s.insert(id.to_owned(), settings_tx);
        }
        let ctx = NodeContext {
            id,
            kind: node.kind(),
            base_dir: &self.base_dir,
            inputs,
            events: &self.sink,
            stop: self.shared.stop.clone(),
            environment: &self.environment,
            settings,
            endpoint: self.shared.endpoint.clone(),
            wired: project
                .valid_edges()
                .filter(|e| e.from.node == id)
                .map(|e| e.from.port.clone())
                .collect(),
            aws_realism: project.aws_realism,
            faults: node.faults.clone(),
            clock: self.clock.clone(),
            replay: self.replay.clone(),
        };
        let start = Instant::now();
        let result = node.config.run(&ctx).await;
        self.shared.set_running(None);
        match result {
            Ok(mut out) if out.task.is_some() => {
                // A streaming node: wired now, it runs with the others at the end.
                announce_columns(&self.tx, self.run, id, &out.outputs);
                if let Some(task) = out.task.take() {
                    self.streaming.push(Wired {
                        task,
                        metrics: out.metrics.take().unwrap_or_default(),
                        summary,
                    });
                }
                self.outputs.insert(id.to_owned(), out.outputs);
            }
            Ok(mut out) => {
                out.stats.elapsed_ms = start.elapsed().as_millis() as u64;
                out.stats.cost = priced(&node.config, &out.stats, &self.prices);
                finished_ok(&self.tx, self.run, &mut summary, out.stats.clone(), false);
                let streams = out.outputs.values().any(|v| matches!(v, Value::Stream(_)));
                if !streams && let Ok(mut c) = self.cache.lock() {
                    c.insert(id, fp, out.outputs.clone(), out.stats);
                }
                announce_columns(&self.tx, self.run, id, &out.outputs);
                self.outputs.insert(id.to_owned(), out.outputs);
                self.shared.push(summary);
            }
            Err(e) => {
                if let Ok(mut c) = self.cache.lock() {
                    c.remove(id);
                }
                let error = e.in_node(id, &kind).to_string();
                self.fail(&mut summary, error);
            }
        }
    }

    /// The streams wired into node `id`, which failed before reading them: nothing
    /// upstream may count their records delivered (a Lambda before a Firehose that could
    /// not start must not acknowledge its input).
    fn hold_streams_into(&self, id: &str) {
        for e in self.project.valid_edges().filter(|e| e.to.node == id) {
            if let Some(Value::Stream(topic)) = self
                .outputs
                .get(&e.from.node)
                .and_then(|o| o.get(e.from.port.as_str()))
            {
                topic.reader_failed_to_start(id);
            }
        }
    }

    /// Reports a node failed; its downstream will be skipped.
    fn fail(&mut self, summary: &mut NodeSummary, error: String) {
        self.hold_streams_into(&summary.id);
        finished_err(&self.tx, self.run, summary, error);
        self.failed.insert(summary.id.clone());
        self.any_error = true;
        self.shared.push(summary.clone());
    }

    /// Runs the wired streaming nodes (and batch nodes again when their trigger fires),
    /// then reports the run's end.
    async fn finish(mut self) {
        let (tx, run, shared) = (self.tx.clone(), self.run, self.shared.clone());
        let streaming = std::mem::take(&mut self.streaming);
        let streaming_ids: BTreeSet<String> =
            streaming.iter().map(|w| w.summary.id.clone()).collect();
        let mut any_error = self.any_error;
        if !streaming.is_empty() {
            shared.streaming.store(true, Ordering::SeqCst);
            let fired = self.triggers(&streaming_ids);
            // Every node is wired and a Stop now drains: served streams take puts.
            if let Some(endpoint) = &shared.endpoint {
                endpoint.activate();
            }
            let (project, prices) = (self.project.clone(), self.prices.clone());
            let clock = self.clock.clone();
            let timeline = self.timeline.clone();
            let ticking = super::streaming::Ticking {
                run,
                clock: &clock,
                tx: &tx,
                timeline: timeline.as_ref(),
            };
            let streams = run_streaming(streaming, ticking, |summary, result| {
                let result = result.map(|mut stats| {
                    if let Some(node) = project.node(&summary.id) {
                        stats.cost = priced(&node.config, &stats, &prices);
                    }
                    stats
                });
                report(&tx, run, &shared, summary, result, &mut any_error);
            });
            futures::join!(streams, self.rerun_on_triggers(fired, &streaming_ids));
            // A node run again stands by its last run.
            if self.rerunning
                && let Ok(lines) = shared.summary.lock()
            {
                any_error = lines.iter().any(|l| l.status == NodeStatus::Error);
            }
        }
        let status = if shared.stop.is_set() {
            NodeStatus::Stopped
        } else if any_error {
            NodeStatus::Error
        } else {
            NodeStatus::Ok
        };
        if let Some(recording) = self.recording(status) {
            record(recording, &tx, run).await;
        }
        finish(&shared, &tx, run, status);
    }

    /// What recording the run needs (`record`), taken before the run's end is awaited.
    fn recording(&self, status: NodeStatus) -> Option<Recording> {
        let keep = self.project.runs_kept;
        (keep > 0).then(|| Recording {
            keep,
            status,
            lines: self
                .shared
                .summary
                .lock()
                .map(|s| s.clone())
                .unwrap_or_default(),
            outputs: self.outputs.clone(),
            live: self.previews.lock().map(|p| p.clone()).unwrap_or_default(),
            base: self.base_dir.clone(),
            seq: self.run.seq,
            started: self.started,
            replay: self.replay.as_ref().map(|r| r.replay.clone()),
            timeline: self.timeline.as_ref().map(|t| t.take()),
            project: self.project.clone(),
            environment: Environment {
                scheduler: None,
                ..self.environment.clone()
            },
        })
    }
}

/// A finished run to record beside its project.
struct Recording {
    keep: usize,
    status: NodeStatus,
    lines: Vec<NodeSummary>,
    outputs: BTreeMap<String, BTreeMap<&'static str, Value>>,
    /// Each node's last preview, by node and port (schema, rows, records it stood for).
    live: super::runs::LiveViews,
    base: PathBuf,
    seq: u64,
    started: chrono::DateTime<chrono::Utc>,
    /// What the run replayed, for a replay.
    replay: Option<crate::api::Replay>,
    /// The run's timeline.
    timeline: Option<crate::api::timeline::History>,
    project: Arc<Project>,
    /// Where the tables ETL jobs wrote are read back (in this process).
    environment: Environment,
}

impl Recording {
    /// An ETL job's table output is a preview of what it wrote: the table itself, read
    /// back from its catalog (up to one row more than is recorded, so a cut shows), is
    /// recorded instead. A table that cannot be read keeps its preview.
    async fn read_written_tables(&mut self) {
        for (id, outputs) in self.outputs.iter_mut() {
            let Some(crate::nodes::NodeConfig::Etl(c)) = self.project.node(id).map(|n| &n.config)
            else {
                continue;
            };
            let Some(Value::Catalog(store)) = outputs.get(crate::nodes::ports::CATALOG_OUT.name)
            else {
                continue;
            };
            let hooks = crate::lake::provider::ScanHooks::default();
            let Ok(session) = crate::lake::sql::session(Some(store), &hooks, &self.environment)
            else {
                continue;
            };
            let sql = format!(
                "SELECT * FROM \"{}\".\"{}\" LIMIT {}",
                c.database,
                c.table,
                super::runs::MAX_ROWS + 1
            );
            if let Ok(table) = crate::lake::sql::run_query(&session, &sql, &hooks).await {
                outputs.insert(
                    crate::nodes::ports::TABLE_OUT.name,
                    Value::Table(Arc::new(crate::nodes::TableData {
                        schema: table.schema,
                        batches: table.batches,
                    })),
                );
            }
        }
    }
}

/// Records the run (`runs.rs`) off the runtime's workers; a run that cannot be recorded
/// says why and ends as it would have.
async fn record(mut r: Recording, tx: &EventTx, run: RunId) {
    r.read_written_tables().await;
    let recorded = tokio::task::spawn_blocking(move || {
        let outputs = super::runs::RunOutputs {
            values: &r.outputs,
            live: &r.live,
            timeline: r
                .timeline
                .as_ref()
                .filter(|h| !h.counts.is_empty() || !h.views.is_empty()),
        };
        let run = super::runs::Finished {
            seq: r.seq,
            started: r.started,
            status: r.status,
            lines: &r.lines,
            replay: r.replay.as_ref(),
        };
        super::runs::record(&r.base, run, outputs, r.keep)
    })
    .await;
    let error = match recorded {
        Ok(Ok(_)) => return,
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    };
    tx.send(Event::Log {
        run: Some(run),
        node: None,
        level: LogLevel::Warning,
        message: format!("the run was not recorded for `tributary diff`: {error}"),
    });
}

impl GraphRun {
    /// Reads the streams wired to the `trigger` inputs of batch nodes (a bucket's S3
    /// event notifications): each read names the node to run again. (A streaming node,
    /// a replay, reads its trigger itself.)
    fn triggers(&self, streaming: &BTreeSet<String>) -> tokio::sync::mpsc::Receiver<String> {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        for e in self.project.valid_edges().filter(|e| {
            e.to.port == crate::nodes::ports::TRIGGER_IN.name && !streaming.contains(&e.to.node)
        }) {
            let Some(Value::Stream(topic)) = self
                .outputs
                .get(&e.from.node)
                .and_then(|o| o.get(e.from.port.as_str()))
            else {
                continue;
            };
            let mut consumer = topic.subscribe(
                &format!("{}.trigger", e.to.node),
                &crate::stream::topic::StartPosition::TrimHorizon,
            );
            let (tx, node) = (tx.clone(), e.to.node.clone());
            tokio::spawn(async move {
                while let Some(read) = consumer.next(10_000).await {
                    let _ = consumer.ack();
                    if !read.is_empty() && tx.send(node.clone()).await.is_err() {
                        break;
                    }
                }
            });
        }
        rx
    }

    /// Runs each triggered node again, with the batch nodes downstream of it, in order;
    /// triggers that fire meanwhile make one more pass. Ends when the triggers' streams
    /// end.
    async fn rerun_on_triggers(
        &mut self,
        mut fired: tokio::sync::mpsc::Receiver<String>,
        streaming: &BTreeSet<String>,
    ) {
        let order = self.project.topological_order().unwrap_or_default();
        while let Some(first) = fired.recv().await {
            let mut rerun = BTreeSet::from([first]);
            while let Ok(more) = fired.try_recv() {
                rerun.insert(more);
            }
            for id in &rerun {
                self.sink.info(
                    id,
                    "an S3 event notification arrived: running again".to_owned(),
                );
            }
            for id in &order {
                if self
                    .project
                    .valid_edges()
                    .any(|e| e.to.node == *id && rerun.contains(&e.from.node))
                {
                    rerun.insert(id.clone());
                }
            }
            self.rerunning = true;
            for id in order
                .iter()
                .filter(|id| rerun.contains(*id) && !streaming.contains(*id))
            {
                self.failed.remove(id);
                self.step(id).await;
            }
        }
    }
}

/// What the node's run would have cost, with the prices it was priced at.
fn priced(
    config: &crate::nodes::NodeConfig,
    stats: &NodeStats,
    prices: &crate::api::cost::Prices,
) -> Option<crate::api::cost::Cost> {
    let mut cost = config.cost(stats, prices)?;
    cost.basis = prices.describe();
    Some(cost)
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
