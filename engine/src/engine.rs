//! The engine thread and its API.
//!
//! The engine runs on its own named thread (`tributary-engine`) with a Tokio runtime
//! whose workers are named `tributary-rt`. It takes [`Command`]s over a bounded
//! crossbeam channel and sends [`Event`]s back over another. The GUI and the CLI drive it
//! only through this API. Every run carries a [`RunId`] holding the document revision
//! it was started from, so results for an edited or deleted node can be told apart and
//! dropped by the receiver.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash as _, Hasher as _};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

/// Called after every event the engine sends, e.g. to wake a GUI up.
pub type Notify = Arc<dyn Fn() + Send + Sync>;

/// The sending side of the event channel, with the wake-up hook.
#[derive(Clone)]
pub struct EventTx {
    tx: Sender<Event>,
    notify: Option<Notify>,
}

impl std::fmt::Debug for EventTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventTx")
    }
}

impl EventTx {
    /// Sends an event, waiting for room, then calls the wake-up hook. A receiver that
    /// went away means nobody is listening; the event is dropped.
    pub fn send(&self, event: Event) {
        if self.tx.send(event).is_ok()
            && let Some(n) = &self.notify
        {
            n();
        }
    }
}

use serde::Serialize;

use crate::arrow::array::RecordBatch;
use crate::arrow::datatypes::SchemaRef;
use crate::error::{Error, Result};
use crate::nodes::{NodeContext, NodeStats, StreamTask, Value, run_node};
use crate::project::{Problem, Project};
use crate::stream::metrics::{MetricsSample, NodeMetrics, Sampler};

/// Commands queued at most; senders get `Full` beyond this.
pub const COMMAND_CAPACITY: usize = 64;
/// Events queued at most; the engine waits for the receiver beyond this.
pub const EVENT_CAPACITY: usize = 1024;
/// How long a stopped streaming run may take to drain before it is aborted.
pub const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(15);

/// Identifies one run request: a sequence number chosen by the sender and the document
/// revision the run was started from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct RunId {
    /// Increasing per sender.
    pub seq: u64,
    /// The document revision the run used (see [`Command::Load`]).
    pub revision: u64,
}

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunTarget {
    /// Every node, in dependency order.
    All,
    /// One node and whatever it needs upstream (reusing unchanged upstream results).
    Node(String),
}

/// Commands the engine takes.
#[derive(Debug)]
pub enum Command {
    /// Replaces the project. `base_dir` is the project file's folder; relative paths
    /// resolve against it. `revision` increases with every edit.
    Load {
        /// The project.
        project: Box<Project>,
        /// Folder relative paths resolve against.
        base_dir: PathBuf,
        /// Document revision.
        revision: u64,
    },
    /// Starts a run; a run in progress is stopped first.
    Run {
        /// Id echoed in every event of the run.
        run: RunId,
        /// What to run.
        target: RunTarget,
    },
    /// Stops the run in progress, if any.
    Stop,
    /// Ends the engine thread.
    Shutdown,
}

/// A node's state in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Not run.
    Idle,
    /// Running now.
    Running,
    /// Finished.
    Ok,
    /// Failed.
    Error,
    /// Not run because an upstream node failed.
    Skipped,
    /// Stopped by the user.
    Stopped,
}

/// Log levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Informational.
    Info,
    /// Something the user should look at; the run goes on.
    Warning,
    /// A failure.
    Error,
}

/// One node's line in a run summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeSummary {
    /// Node id.
    pub id: String,
    /// Node kind.
    pub kind: String,
    /// Final status.
    pub status: NodeStatus,
    /// Records read.
    pub records_in: u64,
    /// Records produced.
    pub records_out: u64,
    /// The error, for failed or skipped nodes.
    pub error: Option<String>,
    /// Whether the result came from the cache of an earlier run.
    pub cached: bool,
    /// Counters and the kind's report.
    pub stats: NodeStats,
}

/// Events the engine sends.
#[derive(Clone, Debug)]
pub enum Event {
    /// A project was loaded; `problems` is empty when it is valid.
    Loaded {
        /// Revision from the command.
        revision: u64,
        /// Every problem found.
        problems: Vec<Problem>,
    },
    /// A run started; `nodes` will run in this order.
    RunStarted {
        /// The run.
        run: RunId,
        /// Node ids in run order.
        nodes: Vec<String>,
    },
    /// A node started.
    NodeStarted {
        /// The run.
        run: RunId,
        /// Node id.
        node: String,
    },
    /// A node made progress.
    NodeProgress {
        /// The run.
        run: RunId,
        /// Node id.
        node: String,
        /// Units done.
        done: u64,
        /// Units in all, when known.
        total: Option<u64>,
        /// What is happening.
        message: String,
    },
    /// A node finished.
    NodeFinished {
        /// The run.
        run: RunId,
        /// Node id.
        node: String,
        /// Its counters.
        stats: NodeStats,
        /// Whether the result came from the cache.
        cached: bool,
    },
    /// A node failed; `error` names the node and the cause.
    NodeFailed {
        /// The run.
        run: RunId,
        /// Node id.
        node: String,
        /// The error message.
        error: String,
    },
    /// A node did not run.
    NodeSkipped {
        /// The run.
        run: RunId,
        /// Node id.
        node: String,
        /// Why.
        reason: String,
    },
    /// The columns on a node's output port (streams and tables), once it is wired or run,
    /// so an editor can offer them.
    Columns {
        /// The run.
        run: RunId,
        /// Node id.
        node: String,
        /// Output port.
        port: String,
        /// The columns.
        schema: SchemaRef,
    },
    /// Rows for a node's preview table (already limited to what should be shown).
    Preview {
        /// The run.
        run: RunId,
        /// Node id.
        node: String,
        /// Output port the rows belong to.
        port: String,
        /// Schema, also for zero rows.
        schema: SchemaRef,
        /// Rows to show.
        batches: Vec<RecordBatch>,
        /// Rows in the whole result.
        total_rows: u64,
    },
    /// A log line, optionally about a node.
    Log {
        /// The run, if the line belongs to one.
        run: Option<RunId>,
        /// Node id.
        node: Option<String>,
        /// Level.
        level: LogLevel,
        /// Text.
        message: String,
    },
    /// Live metrics of a streaming node, about once a second.
    Metrics {
        /// The run.
        run: RunId,
        /// Node id.
        node: String,
        /// Rates, lag, errors, latency and back-pressure.
        sample: MetricsSample,
    },
    /// A run ended.
    RunFinished {
        /// The run.
        run: RunId,
        /// `Ok` when every node succeeded, `Error` when any failed, `Stopped` when stopped.
        status: NodeStatus,
        /// One line per node that was part of the run, in run order.
        summary: Vec<NodeSummary>,
    },
}

/// Tells the receiver the columns of each stream or table output of `node`.
fn announce_columns(
    tx: &EventTx,
    run: RunId,
    node: &str,
    outputs: &std::collections::BTreeMap<&'static str, Value>,
) {
    for (port, value) in outputs {
        let schema = match value {
            Value::Stream(t) => t.schema().clone(),
            Value::Table(t) => t.schema.clone(),
            _ => continue,
        };
        tx.send(Event::Columns {
            run,
            node: node.to_owned(),
            port: (*port).to_owned(),
            schema,
        });
    }
}

/// Sends a run's events; cheap to clone.
#[derive(Clone, Debug)]
pub struct EventSink {
    tx: EventTx,
    run: RunId,
}

impl EventSink {
    /// A sink for `run` over `tx`.
    pub fn new(tx: EventTx, run: RunId) -> Self {
        Self { tx, run }
    }

    fn send(&self, event: Event) {
        self.tx.send(event);
    }

    /// Reports progress of `node`.
    pub fn progress(&self, node: &str, done: u64, total: Option<u64>, message: String) {
        self.send(Event::NodeProgress {
            run: self.run,
            node: node.to_owned(),
            done,
            total,
            message,
        });
    }

    /// Sends preview rows of `node`'s `port`.
    pub fn preview(
        &self,
        node: &str,
        port: &str,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        total_rows: u64,
    ) {
        self.send(Event::Preview {
            run: self.run,
            node: node.to_owned(),
            port: port.to_owned(),
            schema,
            batches,
            total_rows,
        });
    }

    /// Logs an informational line about `node`.
    pub fn info(&self, node: &str, message: String) {
        self.send(Event::Log {
            run: Some(self.run),
            node: Some(node.to_owned()),
            level: LogLevel::Info,
            message,
        });
    }

    /// Logs a warning about `node`.
    pub fn warn(&self, node: &str, message: String) {
        self.send(Event::Log {
            run: Some(self.run),
            node: Some(node.to_owned()),
            level: LogLevel::Warning,
            message,
        });
    }
}

/// A handle on the engine thread. Dropping it shuts the engine down.
pub struct Engine {
    commands: Sender<Command>,
    events: Receiver<Event>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Engine {
    /// Starts the engine thread.
    pub fn spawn() -> Result<Self> {
        Self::spawn_with_notify(None)
    }

    /// Starts the engine thread; `notify` is called after every event is sent (a GUI
    /// passes a closure that requests a repaint).
    pub fn spawn_with_notify(notify: Option<Notify>) -> Result<Self> {
        let (cmd_tx, cmd_rx) = bounded(COMMAND_CAPACITY);
        let (tx, ev_rx) = bounded(EVENT_CAPACITY);
        let ev_tx = EventTx { tx, notify };
        let thread = std::thread::Builder::new()
            .name("tributary-engine".to_owned())
            .spawn(move || engine_main(cmd_rx, ev_tx))
            .map_err(|e| Error::Internal(format!("cannot start the engine thread: {e}")))?;
        Ok(Self {
            commands: cmd_tx,
            events: ev_rx,
            thread: Some(thread),
        })
    }

    /// Queues a command without blocking; gives it back when the queue is full.
    pub fn try_send(&self, command: Command) -> std::result::Result<(), Command> {
        self.commands.try_send(command).map_err(|e| match e {
            TrySendError::Full(c) | TrySendError::Disconnected(c) => c,
        })
    }

    /// Queues a command, waiting for room. For headless callers only: a GUI uses
    /// [`Engine::try_send`].
    pub fn send(&self, command: Command) -> Result<()> {
        self.commands
            .send(command)
            .map_err(|_| Error::Internal("the engine thread has stopped".to_owned()))
    }

    /// The events the engine sends.
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.commands.try_send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            // Drain events so the engine is never stuck sending while we wait.
            while !t.is_finished() {
                while self.events.try_recv().is_ok() {}
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            let _ = t.join();
        }
    }
}

/// Results of earlier runs, reused by [`RunTarget::Node`] when nothing upstream changed.
#[derive(Default)]
struct Cache {
    entries: BTreeMap<String, CacheEntry>,
}

struct CacheEntry {
    fingerprint: u64,
    outputs: BTreeMap<&'static str, Value>,
    stats: NodeStats,
}

struct ActiveRun {
    run: RunId,
    handle: tokio::task::JoinHandle<()>,
    shared: Arc<RunShared>,
}

/// State shared between a run task and the engine thread (which may stop it).
struct RunShared {
    finished: AtomicBool,
    summary: Mutex<Vec<NodeSummary>>,
    running: Mutex<Option<String>>,
    /// Streaming nodes are running: a stop drains them instead of aborting.
    streaming: AtomicBool,
    stop: StopSignal,
}

/// A one-way "please stop" flag that tasks can check or wait for.
#[derive(Clone, Debug, Default)]
pub struct StopSignal {
    inner: Arc<(AtomicBool, tokio::sync::Notify)>,
}

impl StopSignal {
    /// Raises the flag and wakes every waiter.
    pub fn set(&self) {
        self.inner.0.store(true, Ordering::SeqCst);
        self.inner.1.notify_waiters();
    }

    /// Whether the flag is raised.
    pub fn is_set(&self) -> bool {
        self.inner.0.load(Ordering::SeqCst)
    }

    /// Waits until the flag is raised.
    pub async fn wait(&self) {
        loop {
            let notified = self.inner.1.notified();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}

fn engine_main(commands: Receiver<Command>, events: EventTx) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        )
        .thread_name("tributary-rt")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            events.send(Event::Log {
                run: None,
                node: None,
                level: LogLevel::Error,
                message: format!("the engine cannot start its runtime: {e}"),
            });
            return;
        }
    };
    let mut project: Option<(Arc<Project>, PathBuf)> = None;
    let cache = Arc::new(Mutex::new(Cache::default()));
    let mut active: Option<ActiveRun> = None;

    while let Ok(command) = commands.recv() {
        match command {
            Command::Load {
                project: p,
                base_dir,
                revision,
            } => {
                let problems = p.validate();
                events.send(Event::Loaded { revision, problems });
                // Drop cached results of nodes that no longer exist.
                let ids: BTreeSet<String> = p.nodes.iter().map(|n| n.id.clone()).collect();
                if let Ok(mut c) = cache.lock() {
                    c.entries.retain(|k, _| ids.contains(k));
                }
                project = Some((Arc::new(*p), base_dir));
            }
            Command::Run { run, target } => {
                if let Some(a) = active.take() {
                    stop_run(a, &events);
                }
                let Some((p, base_dir)) = project.clone() else {
                    events.send(Event::Log {
                        run: Some(run),
                        node: None,
                        level: LogLevel::Error,
                        message: "no project is loaded".to_owned(),
                    });
                    events.send(Event::RunFinished {
                        run,
                        status: NodeStatus::Error,
                        summary: Vec::new(),
                    });
                    continue;
                };
                let shared = Arc::new(RunShared {
                    finished: AtomicBool::new(false),
                    summary: Mutex::new(Vec::new()),
                    running: Mutex::new(None),
                    streaming: AtomicBool::new(false),
                    stop: StopSignal::default(),
                });
                let task = run_graph(
                    p,
                    base_dir,
                    run,
                    target,
                    events.clone(),
                    cache.clone(),
                    shared.clone(),
                );
                let handle = runtime.spawn(task);
                active = Some(ActiveRun {
                    run,
                    handle,
                    shared,
                });
            }
            Command::Stop => {
                if let Some(a) = active.take() {
                    if a.shared.streaming.load(Ordering::SeqCst) && !a.handle.is_finished() {
                        // Sources end, the rest drains and Firehoses flush; a run that
                        // does not finish within the grace period is aborted.
                        a.shared.stop.set();
                        let events = events.clone();
                        runtime.spawn(async move {
                            let deadline = Instant::now() + STOP_GRACE;
                            while !a.handle.is_finished() && Instant::now() < deadline {
                                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                            }
                            if !a.handle.is_finished() {
                                stop_run(a, &events);
                            }
                        });
                    } else {
                        stop_run(a, &events);
                    }
                }
            }
            Command::Shutdown => break,
        }
        if active.as_ref().is_some_and(|a| a.handle.is_finished()) {
            active = None;
        }
    }
    if let Some(a) = active.take() {
        stop_run(a, &events);
    }
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
}

fn stop_run(active: ActiveRun, events: &EventTx) {
    active.handle.abort();
    if active
        .shared
        .finished
        .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        return; // It had already finished and reported.
    }
    let running = active.shared.running.lock().ok().and_then(|r| r.clone());
    let mut summary = active
        .shared
        .summary
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default();
    if let Some(node) = running {
        events.send(Event::NodeFailed {
            run: active.run,
            node: node.clone(),
            error: "stopped".to_owned(),
        });
        for s in summary.iter_mut().filter(|s| s.id == node) {
            s.status = NodeStatus::Stopped;
            s.error = Some("stopped".to_owned());
        }
    }
    events.send(Event::RunFinished {
        run: active.run,
        status: NodeStatus::Stopped,
        summary,
    });
}

fn fingerprint(project: &Project, id: &str, upstream: &BTreeMap<String, u64>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    if let Some(node) = project.node(id) {
        // A result computed on another environment is not reused.
        project.selected_environment().ok().hash(&mut h);
        node.kind().as_str().hash(&mut h);
        node.config.to_value().to_string().hash(&mut h);
    }
    let mut inputs: Vec<(String, String, u64)> = project
        .valid_edges()
        .filter(|e| e.to.node == id)
        .map(|e| {
            (
                e.to.port.clone(),
                e.from.to_string(),
                upstream.get(&e.from.node).copied().unwrap_or(0),
            )
        })
        .collect();
    inputs.sort();
    inputs.hash(&mut h);
    h.finish()
}

async fn run_graph(
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
    let mut streaming: Vec<(String, StreamTask, Arc<NodeMetrics>, NodeSummary)> = Vec::new();

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
            .map(|p| p.message.clone())
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
            push_summary(&shared, summary);
            continue;
        }
        if !node_problems.is_empty() {
            let error = format!("node '{id}' ({kind}): {}", node_problems.join("; "));
            finished_err(&tx, run, &mut summary, error);
            failed.insert(id.clone());
            any_error = true;
            push_summary(&shared, summary);
            continue;
        }

        let fp = fingerprint(&project, id, &fingerprints);
        fingerprints.insert(id.clone(), fp);
        let reuse = matches!(&target, RunTarget::Node(t) if t != id);
        if reuse {
            let hit = cache.lock().ok().and_then(|c| {
                c.entries
                    .get(id)
                    .filter(|e| e.fingerprint == fp)
                    .map(|e| (e.outputs.clone(), e.stats.clone()))
            });
            if let Some((outs, stats)) = hit {
                finished_ok(&tx, run, &mut summary, stats, true);
                outputs.insert(id.clone(), outs);
                push_summary(&shared, summary);
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
        if let Ok(mut r) = shared.running.lock() {
            *r = Some(id.clone());
        }
        tx.send(Event::NodeStarted {
            run,
            node: id.clone(),
        });
        let ctx = NodeContext {
            node,
            base_dir: &base_dir,
            inputs,
            events: &sink,
            stop: shared.stop.clone(),
            environment: &environment,
        };
        let start = Instant::now();
        let result = run_node(&ctx).await;
        if let Ok(mut r) = shared.running.lock() {
            *r = None;
        }
        match result {
            Ok(mut out) if out.task.is_some() => {
                // A streaming node: wired now, it runs with the others below.
                let task = out.task.take();
                let metrics = out.metrics.take().unwrap_or_default();
                announce_columns(&tx, run, id, &out.outputs);
                outputs.insert(id.clone(), out.outputs);
                if let Some(task) = task {
                    streaming.push((id.clone(), task, metrics, summary));
                }
                continue;
            }
            Ok(mut out) => {
                out.stats.elapsed_ms = start.elapsed().as_millis() as u64;
                finished_ok(&tx, run, &mut summary, out.stats.clone(), false);
                if let Ok(mut c) = cache.lock()
                    && !node.kind().is_streaming()
                {
                    c.entries.insert(
                        id.clone(),
                        CacheEntry {
                            fingerprint: fp,
                            outputs: out.outputs.clone(),
                            stats: out.stats,
                        },
                    );
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
                    c.entries.remove(id);
                }
            }
        }
        push_summary(&shared, summary);
    }
    if !streaming.is_empty() {
        any_error |= run_streaming(streaming, run, &tx, &shared).await;
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

fn mean_latency_ms(m: &NodeMetrics) -> f64 {
    let batches = m.batches.load(Ordering::Relaxed);
    if batches == 0 {
        0.0
    } else {
        m.batch_latency_us.load(Ordering::Relaxed) as f64 / batches as f64 / 1000.0
    }
}

/// Runs the wired streaming nodes together until they all end, reporting metrics about
/// once a second. Returns whether any failed.
async fn run_streaming(
    nodes: Vec<(String, StreamTask, Arc<NodeMetrics>, NodeSummary)>,
    run: RunId,
    tx: &EventTx,
    shared: &Arc<RunShared>,
) -> bool {
    use futures::StreamExt as _;
    shared.streaming.store(true, Ordering::SeqCst);
    let probes: Vec<(String, Arc<NodeMetrics>)> = nodes
        .iter()
        .map(|(id, _, m, _)| (id.clone(), m.clone()))
        .collect();
    let reporter = {
        let tx = tx.clone();
        let probes = probes.clone();
        tokio::spawn(async move {
            let mut samplers: Vec<Sampler> = probes.iter().map(|_| Sampler::default()).collect();
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
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
    let mut summaries: BTreeMap<String, NodeSummary> = BTreeMap::new();
    let mut running = futures::stream::FuturesUnordered::new();
    for (id, task, metrics, summary) in nodes {
        summaries.insert(id.clone(), summary);
        let handle = tokio::spawn(task);
        running.push(async move { (id, metrics, handle.await) });
    }
    let mut any_error = false;
    while let Some((id, metrics, joined)) = running.next().await {
        let Some(mut summary) = summaries.remove(&id) else {
            continue;
        };
        let kind = summary.kind.clone();
        let result = match joined {
            Ok(r) => r,
            Err(e) => Err(Error::Internal(format!(
                "the node's task ended abnormally: {e}"
            ))),
        };
        match result {
            Ok(mut stats) => {
                stats.elapsed_ms = started.elapsed().as_millis() as u64;
                let mut sampler = Sampler::default();
                let total = sampler.sample(&metrics);
                if stats.detail.is_null() {
                    stats.detail = serde_json::json!({});
                }
                if let Some(obj) = stats.detail.as_object_mut() {
                    obj.insert("errors".to_owned(), serde_json::json!(total.errors));
                    obj.insert(
                        "records_per_sec".to_owned(),
                        serde_json::json!(
                            (stats.records_out.max(stats.records_in) as f64
                                / started.elapsed().as_secs_f64().max(1e-3))
                            .round()
                        ),
                    );
                    obj.insert(
                        "mean_batch_latency_ms".to_owned(),
                        serde_json::json!(mean_latency_ms(&metrics)),
                    );
                    obj.insert(
                        "blocked_ms".to_owned(),
                        serde_json::json!(metrics.blocked_us.load(Ordering::Relaxed) / 1000),
                    );
                }
                finished_ok(tx, run, &mut summary, stats, false);
            }
            Err(e) => {
                let error = e.in_node(&id, &kind).to_string();
                finished_err(tx, run, &mut summary, error);
                any_error = true;
            }
        }
        push_summary(shared, summary);
    }
    reporter.abort();
    any_error
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

fn push_summary(shared: &RunShared, summary: NodeSummary) {
    if let Ok(mut s) = shared.summary.lock() {
        s.push(summary);
    }
}

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

/// Runs a whole project headless and returns the summary: what `tributary run` does.
/// Events other than the final one are passed to `on_event` as they arrive.
pub fn run_project_blocking(
    project: Project,
    base_dir: PathBuf,
    target: RunTarget,
    mut on_event: impl FnMut(&Event),
) -> Result<(NodeStatus, Vec<NodeSummary>)> {
    let engine = Engine::spawn()?;
    engine.send(Command::Load {
        project: Box::new(project),
        base_dir,
        revision: 1,
    })?;
    let run = RunId {
        seq: 1,
        revision: 1,
    };
    engine.send(Command::Run { run, target })?;
    loop {
        match engine.events().recv() {
            Ok(Event::RunFinished {
                run: r,
                status,
                summary,
            }) if r == run => return Ok((status, summary)),
            Ok(ev) => on_event(&ev),
            Err(_) => {
                return Err(Error::Internal(
                    "the engine stopped unexpectedly".to_owned(),
                ));
            }
        }
    }
}
