//! What the app knows about the current run: each node's state, result rows, charts,
//! output columns, log lines and metrics, built from the engine's events. Events of
//! other runs (the document changed since) are dropped.

use std::collections::BTreeMap;

use tributary_engine::engine::LogLevel;
use tributary_engine::nodes::NodeConfig;
use tributary_engine::{Event, NodeStatus, RunId};

use super::document::Document;
use crate::widgets::chart::ChartView;
use crate::widgets::metrics_view::MetricsView;
use crate::widgets::results::ResultTable;

/// What the canvas knows about a node's last run.
#[derive(Clone, Debug, Default)]
pub struct NodeRunState {
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
}

/// One log line.
#[derive(Clone, Debug)]
pub struct LogLine {
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
        self.current = None;
    }

    /// A run was started: its events are applied from now on.
    pub fn started(&mut self, run: RunId) {
        self.metrics.clear();
        self.current = Some(run);
    }

    /// Adds a log line.
    pub fn log(&mut self, level: LogLevel, node: Option<String>, text: String) {
        self.log.push(LogLine { level, node, text });
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
                            status: Some(NodeStatus::Idle),
                            ..Default::default()
                        },
                    );
                }
            }
            Event::NodeStarted { run, node } if ours(&run) => {
                let s = self.nodes.entry(node).or_default();
                s.status = Some(NodeStatus::Running);
                s.error = None;
            }
            Event::Metrics { run, node, sample } if ours(&run) => {
                let s = self.nodes.entry(node.clone()).or_default();
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
                s.status = Some(NodeStatus::Ok);
                s.records_out = Some(stats.records_out);
                s.progress = None;
            }
            Event::NodeFailed { run, node, error } if ours(&run) => {
                let s = self.nodes.entry(node.clone()).or_default();
                s.status = Some(NodeStatus::Error);
                s.error = Some(error.clone());
                self.log(LogLevel::Error, Some(node), error);
            }
            Event::NodeStopped { run, node } if ours(&run) => {
                let s = self.nodes.entry(node).or_default();
                s.status = Some(NodeStatus::Stopped);
                s.progress = None;
            }
            Event::NodeSkipped { run, node, reason } if ours(&run) => {
                let s = self.nodes.entry(node).or_default();
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
            Event::RunFinished { run, status, .. } if ours(&run) => {
                self.log(
                    LogLevel::Info,
                    None,
                    format!("run {} finished: {status:?}", run.seq),
                );
                self.current = None;
                return Applied::RunEnded;
            }
            // Events of older runs: the document changed since; drop them.
            _ => {}
        }
        Applied::Nothing
    }
}
