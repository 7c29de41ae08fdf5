//! What the app knows about runs: each node's state, result rows, charts, output
//! columns, log lines and metrics, built from the engine's events. Everything shown
//! belongs to the run that produced it, so what an edit or a newer run made out of date
//! can say so. Events of runs other than the current one are dropped.

use std::collections::BTreeMap;

use tributary_engine::engine::LogLevel;
use tributary_engine::engine::NodeSummary;
use tributary_engine::nodes::NodeConfig;
use tributary_engine::{Event, NodeStatus, RunId};

use super::document::Document;
use crate::widgets::chart::ChartView;
use crate::widgets::metrics_view::MetricsView;
use crate::widgets::results::ResultTable;

/// What the canvas knows about a node's last run.
#[derive(Clone, Debug, Default)]
pub struct NodeRunState {
    /// The run this state is from.
    pub run: Option<RunId>,
    /// Status in the current or last run.
    pub status: Option<NodeStatus>,
    /// Records produced.
    pub records_out: Option<u64>,
    /// Progress message while running.
    pub progress: Option<String>,
    /// The engine's error message.
    pub error: Option<String>,
    /// Live records per second of a streaming node.
    pub records_per_sec: Option<f64>,
    /// Share of time spent waiting for downstream room (0–1).
    pub backpressure: Option<f64>,
    /// A query's rows, scan and Athena bill, for the Results tab.
    pub query_summary: Option<String>,
    /// What the node's run would have cost in AWS, for the Cost tab.
    pub cost: Option<tributary_engine::api::cost::Cost>,
    /// What it had counted at the moment the timeline shows (set only while a past
    /// moment is drawn).
    pub past: Option<String>,
}

/// Log lines the app keeps (the newest).
pub const MAX_LOG_LINES: usize = 20_000;

/// One log line.
#[derive(Clone, Debug)]
pub struct LogLine {
    /// When it was logged (local time).
    pub at: chrono::DateTime<chrono::Local>,
    /// Level.
    pub level: LogLevel,
    /// The node it is about.
    pub node: Option<String>,
    /// Text.
    pub text: String,
}

/// The current run as the app shows it.
#[derive(Default)]
pub struct RunView {
    /// The run whose events are applied; `None` when nothing runs.
    pub current: Option<RunId>,
    /// The run started last (running or finished).
    pub last: Option<RunId>,
    /// When the current run started.
    started_at: Option<std::time::Instant>,
    /// The run whose rows and chart each node shows.
    pub produced: BTreeMap<String, RunId>,
    /// Run state per node.
    pub nodes: BTreeMap<String, NodeRunState>,
    /// Latest rows per node.
    pub results: BTreeMap<String, ResultTable>,
    /// Live charts per series-sink node.
    pub charts: BTreeMap<String, ChartView>,
    /// Columns of each (node, output port) the engine reported; kept across runs.
    pub columns: BTreeMap<(String, String), Vec<String>>,
    /// Log lines, oldest first.
    pub log: Vec<LogLine>,
    /// Live metrics of streaming nodes.
    pub metrics: MetricsView,
    /// The AWS endpoint, as the engine last reported it.
    pub serving: Serving,
    /// The simulated time (ms since the epoch) of the current or last run on a
    /// simulated clock, as the engine last reported it.
    pub simulated_ms: Option<i64>,
}

/// The AWS endpoint's state in the app.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Serving {
    /// Not serving.
    #[default]
    Off,
    /// Asked to start; the engine has not answered yet.
    Starting,
    /// Serving at this `host:port`.
    On(String),
    /// It could not start: why.
    Failed(String),
}

/// What an applied event means for the rest of the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Nothing further.
    Nothing,
    /// The current run ended (catalogs may have changed).
    RunEnded,
}

impl RunView {
    /// Forgets the results of a document that is no longer shown.
    pub fn clear(&mut self) {
        self.nodes.clear();
        self.results.clear();
        self.charts.clear();
        self.produced.clear();
        self.metrics.clear();
        self.current = None;
        self.last = None;
    }

    /// A run was started: its events are applied from now on.
    pub fn started(&mut self, run: RunId) {
        self.metrics.clear();
        self.current = Some(run);
        self.last = Some(run);
        self.started_at = Some(std::time::Instant::now());
        self.simulated_ms = None;
        self.log(LogLevel::Info, None, format!("run {} started", run.seq));
    }

    /// Adds a log line. The log keeps the newest [`MAX_LOG_LINES`] (a function logs
    /// four lines per invocation, a long run would grow it without end); a line says how
    /// many older ones were dropped.
    pub fn log(&mut self, level: LogLevel, node: Option<String>, text: String) {
        if self.log.len() >= MAX_LOG_LINES {
            let drop = MAX_LOG_LINES / 4;
            let dropped_before = self
                .log
                .first()
                .and_then(|l| l.text.strip_prefix("… "))
                .and_then(|t| t.split_whitespace().next())
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0);
            self.log.drain(..drop);
            self.log[0] = LogLine {
                at: self.log[0].at,
                level: LogLevel::Info,
                node: None,
                text: format!(
                    "… {} earlier lines dropped (the log keeps the newest {MAX_LOG_LINES})",
                    dropped_before + drop + usize::from(dropped_before == 0)
                ),
            };
        }
        self.log.push(LogLine {
            at: chrono::Local::now(),
            level,
            node,
            text,
        });
    }

    /// Why node `id`'s status (its badge, its error) is out of date, if it is: the
    /// document changed since the run that set it (`revision` is the document's content
    /// revision now).
    pub fn stale(&self, id: &str, revision: u64) -> Option<String> {
        let from = self.nodes.get(id).and_then(|s| s.run)?;
        self.stale_since(from, revision)
    }

    /// Why node `id`'s rows and chart are out of date, if they are: the document changed
    /// since the run that made them, or a later run did not make them again (the node
    /// failed, was skipped or was not part of it).
    pub fn stale_rows(&self, id: &str, revision: u64) -> Option<String> {
        let from = *self.produced.get(id)?;
        self.stale_since(from, revision)
    }

    fn stale_since(&self, from: RunId, revision: u64) -> Option<String> {
        if self.current == Some(from) {
            return None;
        }
        if from.revision != revision {
            return Some(format!(
                "out of date: the graph changed after run {}; run again to refresh",
                from.seq
            ));
        }
        match self.last {
            Some(last) if last != from => Some(format!(
                "out of date: from run {}; run {} did not produce it again",
                from.seq, last.seq
            )),
            _ => None,
        }
    }

    /// Whether anything from a run is shown.
    pub fn has_results(&self) -> bool {
        !self.nodes.is_empty() || !self.produced.is_empty()
    }

    /// Error lines in the log.
    pub fn errors(&self) -> usize {
        self.log
            .iter()
            .filter(|l| l.level == LogLevel::Error)
            .count()
    }

    /// Applies one engine event; `doc` tells which nodes draw charts.
    pub fn apply(&mut self, ev: Event, doc: &Document) -> Applied {
        let current = self.current;
        let ours = |run: &RunId| Some(*run) == current;
        match ev {
            Event::RunStarted { run, nodes } if ours(&run) => {
                for n in nodes {
                    self.nodes.insert(
                        n,
                        NodeRunState {
                            run: Some(run),
                            status: Some(NodeStatus::Idle),
                            ..Default::default()
                        },
                    );
                }
            }
            Event::NodeStarted { run, node } if ours(&run) => {
                let s = self.nodes.entry(node).or_default();
                s.run = Some(run);
                s.status = Some(NodeStatus::Running);
                s.error = None;
            }
            Event::Clock { run, now_ms } if ours(&run) => {
                self.simulated_ms = Some(now_ms);
            }
            Event::Metrics { run, node, sample } if ours(&run) => {
                let s = self.nodes.entry(node.clone()).or_default();
                s.run = Some(run);
                if s.status.is_none() || s.status == Some(NodeStatus::Idle) {
                    s.status = Some(NodeStatus::Running);
                }
                s.records_per_sec = Some(sample.records_out_per_sec.max(sample.records_in_per_sec));
                s.backpressure = Some(sample.backpressure);
                self.metrics.add(&node, sample);
            }
            Event::NodeProgress {
                run, node, message, ..
            } if ours(&run) => {
                self.nodes.entry(node).or_default().progress = Some(message);
            }
            Event::NodeFinished {
                run, node, stats, ..
            } if ours(&run) => {
                let s = self.nodes.entry(node).or_default();
                s.run = Some(run);
                s.status = Some(NodeStatus::Ok);
                s.records_out = Some(stats.records_out);
                s.progress = None;
                s.records_per_sec = None;
                s.query_summary = stats
                    .report::<tributary_engine::lake::sql::QueryStats>()
                    .map(|q| q.summary());
                s.cost = stats.cost.clone();
            }
            Event::NodeFailed { run, node, error } if ours(&run) => {
                let s = self.nodes.entry(node.clone()).or_default();
                s.run = Some(run);
                s.status = Some(NodeStatus::Error);
                s.error = Some(error.clone());
                s.records_per_sec = None;
                self.log(LogLevel::Error, Some(node), error);
            }
            Event::NodeStopped { run, node } if ours(&run) => {
                let s = self.nodes.entry(node).or_default();
                s.run = Some(run);
                s.status = Some(NodeStatus::Stopped);
                s.progress = None;
                s.records_per_sec = None;
            }
            Event::NodeSkipped { run, node, reason } if ours(&run) => {
                let s = self.nodes.entry(node).or_default();
                s.run = Some(run);
                s.status = Some(NodeStatus::Skipped);
                s.error = Some(reason);
            }
            Event::Columns {
                node, port, schema, ..
            } => {
                let names = schema.fields().iter().map(|f| f.name().clone()).collect();
                self.columns.insert((node, port), names);
            }
            Event::Preview {
                run,
                node,
                schema,
                batches,
                total_rows,
                ..
            } if ours(&run) => {
                let chart = doc
                    .node_id(&node)
                    .and_then(|nid| match &doc.snarl[nid].config {
                        NodeConfig::SeriesSink(c) => Some(ChartView::new(c, &batches)),
                        _ => None,
                    });
                if let Some(chart) = chart {
                    self.charts.insert(node.clone(), chart);
                }
                self.produced.insert(node.clone(), run);
                self.results
                    .insert(node, ResultTable::new(schema, batches, total_rows));
            }
            Event::Log {
                run,
                node,
                level,
                message,
            } if run.is_none_or(|r| ours(&r)) => {
                self.log(level, node, message);
            }
            Event::Serving { address, error } => {
                self.serving = match (address, error) {
                    (Some(a), _) => {
                        self.log(
                            LogLevel::Info,
                            None,
                            format!(
                                "serving the Kinesis and Firehose APIs at http://{a}: point clients there (AWS_ENDPOINT_URL=http://{a}, access key id 'test'); a run keeps its streams served until Stop"
                            ),
                        );
                        Serving::On(a)
                    }
                    (None, Some(e)) => {
                        self.log(LogLevel::Error, None, e.clone());
                        Serving::Failed(e)
                    }
                    (None, None) => Serving::Off,
                };
            }
            Event::RunFinished {
                run,
                status,
                summary,
            } if ours(&run) => {
                self.finished(run, status, &summary, doc);
                return Applied::RunEnded;
            }
            // Events of older runs: the document changed since; drop them.
            _ => {}
        }
        Applied::Nothing
    }

    /// The run ended: live rates drop to zero, and the log says how it went, how long
    /// it took and what each node did.
    fn finished(
        &mut self,
        run: RunId,
        status: NodeStatus,
        summary: &[NodeSummary],
        doc: &Document,
    ) {
        self.current = None;
        for s in self.nodes.values_mut() {
            s.records_per_sec = None;
            s.backpressure = None;
            if s.status == Some(NodeStatus::Running) {
                s.status = Some(status);
            }
        }
        self.metrics.ended();
        let took = self
            .started_at
            .take()
            .map(|t| human_duration(t.elapsed()))
            .unwrap_or_default();
        let count = |st: NodeStatus| summary.iter().filter(|n| n.status == st).count();
        let mut parts = vec![format!("{} ok", count(NodeStatus::Ok))];
        for (st, word) in [
            (NodeStatus::Error, "failed"),
            (NodeStatus::Skipped, "skipped"),
            (NodeStatus::Stopped, "stopped"),
        ] {
            if count(st) > 0 {
                parts.push(format!("{} {word}", count(st)));
            }
        }
        // (A failed node logged its error already; the tab counts errors once.)
        let level = match status {
            NodeStatus::Error | NodeStatus::Stopped => LogLevel::Warning,
            _ => LogLevel::Info,
        };
        let word = match status {
            NodeStatus::Ok => "ok",
            NodeStatus::Error => "failed",
            NodeStatus::Stopped => "stopped",
            _ => "ended",
        };
        self.log(
            level,
            None,
            format!(
                "run {} {word} in {took}: {} node{}, {}",
                run.seq,
                summary.len(),
                if summary.len() == 1 { "" } else { "s" },
                parts.join(", ")
            ),
        );
        for n in summary {
            let title = doc
                .node_id(&n.id)
                .map(|nid| doc.snarl[nid].name.clone())
                .filter(|t| !t.is_empty() && *t != n.id);
            let name = match title {
                Some(t) => format!("{t} ({})", n.kind),
                None => n.kind.clone(),
            };
            let what = match n.status {
                NodeStatus::Ok => format!(
                    "ok · {} in · {} out · {}{}",
                    n.records_in,
                    n.records_out,
                    human_duration(std::time::Duration::from_millis(n.stats.elapsed_ms)),
                    if n.cached { " · cached" } else { "" }
                ),
                other => format!(
                    "{} · {}",
                    format!("{other:?}").to_lowercase(),
                    n.error.as_deref().unwrap_or("")
                ),
            };
            self.log(
                LogLevel::Info,
                Some(n.id.clone()),
                format!("  {name}: {what}"),
            );
        }
    }
}

/// `1234 ms` → `1.23 s`; under a second in ms; over a minute in m s.
pub fn human_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{} m {} s", ms / 60_000, (ms % 60_000) / 1000)
    }
}
