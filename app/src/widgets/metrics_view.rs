//! The Metrics tab: each streaming node's live metrics (the engine samples them about
//! once a second), the latest values as a table and records/s over time as a chart.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use egui::Ui;
use egui_plot::{Line, Plot};
use tributary_engine::stream::metrics::MetricsSample;

/// Samples kept per node (about five minutes).
pub const HISTORY: usize = 300;

/// Recent samples per node.
pub struct MetricsView {
    started: Instant,
    /// Samples per node: (seconds since the run started, sample), oldest first.
    pub nodes: BTreeMap<String, VecDeque<(f64, MetricsSample)>>,
}

impl Default for MetricsView {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            nodes: BTreeMap::new(),
        }
    }
}

impl MetricsView {
    /// Forgets everything: a new run starts.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// The run ended: every node's rates drop to zero (a last sample says so).
    pub fn ended(&mut self) {
        let t = self.started.elapsed().as_secs_f64();
        for h in self.nodes.values_mut() {
            if let Some((_, last)) = h.back() {
                let zero = MetricsSample {
                    records_in_per_sec: 0.0,
                    records_out_per_sec: 0.0,
                    backpressure: 0.0,
                    ..last.clone()
                };
                h.push_back((t, zero));
            }
        }
    }

    /// Adds a sample of `node`.
    pub fn add(&mut self, node: &str, sample: MetricsSample) {
        let t = self.started.elapsed().as_secs_f64();
        let h = self.nodes.entry(node.to_owned()).or_default();
        h.push_back((t, sample));
        while h.len() > HISTORY {
            h.pop_front();
        }
    }

    /// Draws the table and the chart, nodes under their `title`s; returns the node
    /// whose title was clicked.
    pub fn ui(&self, ui: &mut Ui, title: &dyn Fn(&str) -> String) -> Option<String> {
        if self.nodes.is_empty() {
            ui.weak("Run a graph with streaming nodes to see their metrics.");
            return None;
        }
        let mut clicked = None;
        // The AWS API column, when the endpoint serves some node.
        let served = self
            .nodes
            .values()
            .any(|h| h.back().is_some_and(|(_, s)| s.api_requests > 0));
        // AWS realism's columns, when some node was throttled or lost records.
        let last = |f: fn(&MetricsSample) -> bool| {
            self.nodes
                .values()
                .any(|h| h.back().is_some_and(|(_, s)| f(s)))
        };
        let throttled = last(|s| s.throttled > 0);
        let expired = last(|s| s.expired > 0);
        ui.columns(2, |cols| {
            // Both ways: the columns are wider than half a narrow window.
            egui::ScrollArea::both()
                .id_salt("metrics-table")
                .show(&mut cols[0], |ui| {
                    egui::Grid::new("metrics").striped(true).show(ui, |ui| {
                        for (h, tip) in [
                            ("node", "The streaming node."),
                            ("in/s", "Records read per second."),
                            ("out/s", "Records written per second."),
                            ("lag", "Records in the input stream the node has not read yet."),
                            (
                                "iterator age ms",
                                "How old the oldest record the node has not read yet is, in its most behind shard (Kinesis' IteratorAgeMilliseconds). It grows while a failing batch blocks its shard.",
                            ),
                        ] {
                            ui.strong(h).on_hover_text(tip);
                        }
                        if throttled {
                            ui.strong("throttled").on_hover_text(
                                "Records a shard's write limit (1,000 records or 1 MiB per second) refused so far, per second now, and the hot shard: the one refusing the most. Producers put them again after a backoff, as the KPL does (Kinesis' WriteProvisionedThroughputExceeded). For a Lambda: invocations its concurrency throttled.",
                            );
                        }
                        if expired {
                            ui.strong("expired").on_hover_text(
                                "Records retention dropped before the node read them: its iterator age passed the stream's retention period, and they are lost.",
                            );
                        }
                        for (h, tip) in [
                            ("errors", "Failed records so far."),
                            ("batch ms", "Mean time to process one read."),
                            ("waiting", "Share of the time spent waiting for room downstream."),
                        ] {
                            ui.strong(h).on_hover_text(tip);
                        }
                        if served {
                            ui.strong("API req/s").on_hover_text(
                                "Requests the AWS endpoint answered for the node per second (Kinesis or Firehose API), with the errors so far.",
                            );
                        }
                        ui.end_row();
                        for (k, (node, samples)) in self.nodes.iter().enumerate() {
                            let Some((_, s)) = samples.back() else {
                                continue;
                            };
                            // The colour swatch is the chart's legend (outside the plot).
                            let r = ui
                                .horizontal(|ui| {
                                    ui.colored_label(color(k), "■");
                                    ui.link(title(node))
                                })
                                .inner;
                            if r.on_hover_text(node).clicked() {
                                clicked = Some(node.clone());
                            }
                            ui.monospace(human_rate(s.records_in_per_sec));
                            ui.monospace(human_rate(s.records_out_per_sec));
                            ui.monospace(s.lag_records.to_string());
                            ui.monospace(s.lag_ms.to_string());
                            if throttled && s.throttled == 0 {
                                ui.weak("–");
                            } else if throttled {
                                let hot = s
                                    .hot_shard
                                    .filter(|_| s.throttled > 0)
                                    .map(|h| format!(", hot shard {h}"))
                                    .unwrap_or_default();
                                ui.monospace(format!(
                                    "{} ({}/s{hot})",
                                    s.throttled,
                                    human_rate(s.throttled_per_sec)
                                ));
                            }
                            if expired {
                                ui.monospace(s.expired.to_string());
                            }
                            ui.monospace(s.errors.to_string());
                            ui.monospace(format!("{:.2}", s.batch_latency_ms));
                            ui.monospace(format!("{:.0}%", s.backpressure * 100.0));
                            if served {
                                let errors = if s.api_errors > 0 {
                                    format!(" ({} errors)", s.api_errors)
                                } else {
                                    String::new()
                                };
                                ui.monospace(format!(
                                    "{}{errors}",
                                    human_rate(s.api_requests_per_sec)
                                ));
                            }
                            ui.end_row();
                        }
                    });
                });
            let ui = &mut cols[1];
            Plot::new("metrics-rate")
                .x_axis_label("seconds")
                .y_axis_label("records per second (in or out)")
                .y_axis_formatter(|mark, _| human_rate(mark.value))
                .show(ui, |plot_ui| {
                    for (k, (node, samples)) in self.nodes.iter().enumerate() {
                        let points: Vec<[f64; 2]> = samples
                            .iter()
                            .map(|(t, s)| [*t, s.records_out_per_sec.max(s.records_in_per_sec)])
                            .collect();
                        plot_ui.line(Line::new(title(node), points).color(color(k)));
                    }
                });
        });
        clicked
    }
}

/// The colour of the `k`-th node's line and swatch.
fn color(k: usize) -> egui::Color32 {
    crate::theme::SERIES[k % crate::theme::SERIES.len()]
}

/// `12345.0` → `12.3k`.
pub fn human_rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}
