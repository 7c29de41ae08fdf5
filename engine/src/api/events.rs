//! Run ids and the events the engine sends about a run, and the sinks node kinds send
//! them through.

use std::collections::BTreeMap;
use std::sync::Arc;

use crossbeam_channel::Sender;
use serde::Serialize;

use super::problem::Problem;
use super::stats::{MetricsSample, NodeStats};
use crate::arrow::array::RecordBatch;
use crate::arrow::datatypes::SchemaRef;

/// Called after every event the engine sends, e.g. to wake a GUI up.
pub type Notify = Arc<dyn Fn() + Send + Sync>;

/// The sending side of the event channel, with the wake-up hook.
#[derive(Clone)]
pub struct EventTx {
    tx: Sender<Event>,
    notify: Option<Notify>,
}

impl EventTx {
    /// Sends over `tx`, calling `notify` after each event.
    pub fn new(tx: Sender<Event>, notify: Option<Notify>) -> Self {
        Self { tx, notify }
    }
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

impl EventTx {
    /// Sends an event if there is room, else drops it (for threads that must never
    /// wait on the receiver, such as the AWS endpoint's request handlers).
    pub fn try_send(&self, event: Event) {
        if self.tx.try_send(event).is_ok()
            && let Some(n) = &self.notify
        {
            n();
        }
    }
}

/// Identifies one run request: a sequence number chosen by the sender and the document
/// revision the run was started from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct RunId {
    /// Increasing per sender.
    pub seq: u64,
    /// The document revision the run used (see `Command::Load`).
    pub revision: u64,
}

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunTarget {
    /// Every node, in dependency order.
    All,
    /// One node and whatever it needs upstream (reusing unchanged upstream results).
    Node(String),
    /// Everything downstream of a durable stream, reading what it retained from a point
    /// on (the batch nodes they need run too; nothing upstream of the stream does).
    Replay(super::replay::Replay),
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
    /// A node was stopped by the user before it finished.
    NodeStopped {
        /// The run.
        run: RunId,
        /// Node id.
        node: String,
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
    /// A run on a simulated clock: its time now (ms since the epoch), about once a
    /// second while its streaming nodes run, and when they end.
    Clock {
        /// The run.
        run: RunId,
        /// Simulated time, ms since the epoch.
        now_ms: i64,
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
    /// The AWS endpoint started (`address`) or stopped (`None`), or could not start
    /// (`error`), after `Command::Serve`.
    Serving {
        /// Where it listens, as `host:port`.
        address: Option<String>,
        /// Why it could not start.
        error: Option<String>,
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

/// A preview: schema, rows and the rows it stands for.
pub type PreviewRows = (SchemaRef, Vec<RecordBatch>, u64);

/// The last preview of each `(node, port)`.
pub type LastPreviews = Arc<std::sync::Mutex<BTreeMap<(String, String), PreviewRows>>>;

/// Sends a run's events; cheap to clone.
#[derive(Clone, Debug)]
pub struct EventSink {
    tx: EventTx,
    run: RunId,
    /// Keeps each node's last preview (a live table's rows, a chart's points) for the
    /// run's recording.
    kept: Option<LastPreviews>,
    /// The run's timeline, when it keeps one (live views add their snapshots).
    timeline: Option<super::timeline::Timeline>,
}

impl EventSink {
    /// A sink for `run` over `tx`.
    pub fn new(tx: EventTx, run: RunId) -> Self {
        Self {
            tx,
            run,
            kept: None,
            timeline: None,
        }
    }

    /// A sink that also keeps each node's last preview, in `kept`.
    pub fn keeping_previews(tx: EventTx, run: RunId, kept: LastPreviews) -> Self {
        Self {
            tx,
            run,
            kept: Some(kept),
            timeline: None,
        }
    }

    /// This sink, also handing live views the run's `timeline`.
    pub fn with_timeline(mut self, timeline: Option<super::timeline::Timeline>) -> Self {
        self.timeline = timeline;
        self
    }

    /// The run's timeline, when it keeps one.
    pub fn timeline(&self) -> Option<&super::timeline::Timeline> {
        self.timeline.as_ref()
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
        if let Some(kept) = &self.kept
            && let Ok(mut kept) = kept.lock()
        {
            kept.insert(
                (node.to_owned(), port.to_owned()),
                (schema.clone(), batches.clone(), total_rows),
            );
        }
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
