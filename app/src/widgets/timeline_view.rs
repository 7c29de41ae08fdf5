//! The timeline under the canvas: scrub the last recorded run back to a moment of its
//! clock, and every streaming node shows what it had counted then, each live table and
//! chart what it held (on the canvas, in the Results and Charts tabs). The run's timeline
//! is read on a thread of its own after each run; the UI thread only polls.
//!
//! While a moment is shown, [`TimelineView::swap_in`] puts each node's state, rows and
//! chart at that moment into the run view for the frame's drawing, and
//! [`TimelineView::swap_out`] takes them out again, so the panels draw the past with the
//! code that draws the present, and engine events keep applying to the present.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::{Receiver, bounded};
use egui::Ui;
use tributary_engine::RunId;
use tributary_engine::api::clock::format_ms;
use tributary_engine::api::timeline::EMITTED;
use tributary_engine::engine::runs;
use tributary_engine::engine::timeline::RecordedTimeline;
use tributary_engine::nodes::NodeConfig;

use crate::state::document::Document;
use crate::state::run_view::{NodeRunState, RunView};
use crate::widgets::chart::ChartView;
use crate::widgets::results::ResultTable;

/// A stream's shards at a moment as a table: each shard's tip (the records it held).
fn shards_table(tips: &[u64]) -> Option<ResultTable> {
    use tributary_engine::arrow::array::{RecordBatch, UInt32Array, UInt64Array};
    use tributary_engine::arrow::datatypes::{DataType, Field, Schema};
    let schema = Arc::new(Schema::new(vec![
        Field::new("shard", DataType::UInt32, false),
        Field::new("records_by_then", DataType::UInt64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(UInt32Array::from_iter_values(0..tips.len() as u32)),
            Arc::new(UInt64Array::from(tips.to_vec())),
        ],
    )
    .ok()?;
    Some(ResultTable::new(schema, vec![batch], tips.len() as u64))
}

/// A recorded run's timeline: the run's id, what it recorded and its moments in order
/// (worked out once, not per frame).
type Loaded = (String, Arc<RecordedTimeline>, Vec<i64>);

/// What the panels show of each node at one moment.
#[derive(Default)]
struct Overlay {
    states: BTreeMap<String, NodeRunState>,
    results: BTreeMap<String, ResultTable>,
    charts: BTreeMap<String, ChartView>,
}

/// The present, taken out of the run view while a moment is drawn.
#[derive(Default)]
pub struct Swapped {
    states: BTreeMap<String, Option<NodeRunState>>,
    results: BTreeMap<String, Option<ResultTable>>,
    charts: BTreeMap<String, Option<ChartView>>,
}

/// The timeline's state.
#[derive(Default)]
pub struct TimelineView {
    /// The last recorded run's timeline, when it kept one.
    pub loaded: Option<Loaded>,
    /// The moment shown (ms since the epoch on the run's clock); `None`: the present.
    pub at: Option<i64>,
    /// The finished run the timeline was read after.
    loaded_after: Option<Option<RunId>>,
    pending: Option<Receiver<Option<Loaded>>>,
    /// What is shown at `at`, built once per moment.
    overlay: Option<(i64, Overlay)>,
    /// Replay from here was asked at this moment.
    pub replay_asked: Option<i64>,
}

impl TimelineView {
    /// Reads the newest recorded run's timeline (on a thread) when a run ended since the
    /// last reading.
    pub fn refresh_after(&mut self, base: PathBuf, last_finished: Option<RunId>) {
        if self.loaded_after == Some(last_finished) || self.pending.is_some() {
            return;
        }
        self.loaded_after = Some(last_finished);
        let (tx, rx) = bounded(1);
        let spawned = std::thread::Builder::new()
            .name("tributary-timeline".to_owned())
            .spawn(move || {
                let loaded = runs::list(&base).pop().and_then(|run| {
                    let dir = runs::runs_dir(&base).join(&run.id);
                    let t = tributary_engine::engine::timeline::read(&dir).ok()??;
                    let moments = t.moments();
                    Some((run.id, Arc::new(t), moments))
                });
                let _ = tx.send(loaded);
            });
        if spawned.is_ok() {
            self.pending = Some(rx);
        }
    }

    /// Whether the timeline should be read again after the run `last_finished`.
    pub fn wants(&self, last_finished: Option<RunId>) -> bool {
        self.loaded_after != Some(last_finished) && self.pending.is_none()
    }

    /// Takes a finished reading; true when the view changed.
    pub fn poll(&mut self) -> bool {
        let Some(rx) = &self.pending else {
            return false;
        };
        let Ok(loaded) = rx.try_recv() else {
            return false;
        };
        self.pending = None;
        let same = self.loaded.as_ref().map(|l| &l.0) == loaded.as_ref().map(|l| &l.0);
        if !same {
            self.loaded = loaded;
            self.at = None;
            self.overlay = None;
        }
        true
    }

    /// Whether a reading is in progress.
    pub fn is_busy(&self) -> bool {
        self.pending.is_some()
    }

    /// Shows the moment `at` (`None`: the present).
    pub fn show_at(&mut self, at: Option<i64>) {
        self.at = at;
    }

    /// The moment shown, as text.
    pub fn moment_label(&self) -> Option<String> {
        self.at.map(format_ms)
    }

    /// Draws the strip under the canvas: a slider over the run's clock, a step to the
    /// moment before and after, and the way back to the present. Nothing while a run
    /// goes on or without a recorded timeline.
    pub fn strip(&mut self, ui: &mut Ui, running: bool) {
        if running {
            self.at = None;
            return;
        }
        let Some((id, t, moments)) = &self.loaded else {
            return;
        };
        let (Some(&from), Some(&to)) = (moments.first(), moments.last()) else {
            return;
        };
        let from = from.min(t.file.start_ms);
        ui.horizontal(|ui| {
            let label = ui.label("⏱ Timeline").on_hover_text(format!(
                "Run {id} as it went: drag to a moment of its clock and each streaming node shows what it had counted then, each live table and chart what it held (a point every {}, at most {} per node: the project's timeline_points)",
                tributary_engine::api::clock::format_duration_ms(t.file.step_ms),
                t.file.keep
            ));
            let mut value = self.at.unwrap_or(to);
            let width = (ui.available_width() - 420.0).max(120.0);
            ui.spacing_mut().slider_width = width;
            let slider = egui::Slider::new(&mut value, from..=to)
                .show_value(false)
                .step_by(1.0);
            if ui.add(slider).labelled_by(label.id).changed() {
                self.at = Some(value);
            }
            let back = moments.iter().rev().find(|m| **m < value).copied();
            let on = moments.iter().find(|m| **m > value).copied();
            if ui
                .add_enabled(back.is_some(), egui::Button::new("◀"))
                .on_hover_text("The moment before")
                .clicked()
            {
                self.at = back;
            }
            if ui
                .add_enabled(on.is_some(), egui::Button::new("▶"))
                .on_hover_text("The moment after")
                .clicked()
            {
                self.at = on;
            }
            match self.at {
                Some(at) => {
                    ui.label(egui::RichText::new(format!("⏪ {}", format_ms(at))).strong());
                    if ui
                        .button("⏭ End")
                        .on_hover_text("Back to the run as it ended")
                        .clicked()
                    {
                        self.at = None;
                    }
                    if ui
                        .button("Replay from here…")
                        .on_hover_text("Run everything downstream of a durable stream again from this moment, with the nodes as they are now")
                        .clicked()
                    {
                        self.replay_asked = Some(at);
                    }
                }
                None => {
                    ui.weak(format!("the run as it ended, {}", format_ms(to)));
                }
            }
        });
    }

    /// Builds what is shown at the moment (once per moment).
    fn overlay(&mut self, run: &RunView, doc: &Document) -> Option<&mut Overlay> {
        let at = self.at?;
        let (_, t, _) = self.loaded.as_ref()?;
        if self.overlay.as_ref().is_none_or(|(m, _)| *m != at) {
            let mut o = Overlay::default();
            for node in t.file.counts.keys() {
                let state = t.state_at(node, at);
                let mut shown = run.nodes.get(node).cloned().unwrap_or_default();
                shown.past = Some(match &state.counts {
                    // A source reads nothing: its records out say it all.
                    Some(c) if c.records_in == 0 => format!("⏪ {} out", c.records_out),
                    Some(c) if c.lag_records > 0 => {
                        format!("⏪ {} in · {} behind", c.records_in, c.lag_records)
                    }
                    // A sink keeps what it reads.
                    Some(c) if c.records_out == 0 => format!("⏪ {} in", c.records_in),
                    Some(c) => format!("⏪ {} in · {} out", c.records_in, c.records_out),
                    None => "⏪ not started".to_owned(),
                });
                o.states.insert(node.clone(), shown);
                // What the Results tab shows then: what a live view held, else a
                // stream's shards, else the newest records the node had sent.
                let held = state.views.iter().find(|(port, _)| *port != EMITTED);
                let shards = state
                    .counts
                    .as_ref()
                    .filter(|c| !c.shards.is_empty())
                    .map(|c| shards_table(&c.shards));
                if let Some((_, v)) = held {
                    if let Some(NodeConfig::SeriesSink(c)) =
                        doc.node_id(node).map(|n| &doc.snarl[n].config)
                    {
                        o.charts.insert(node.clone(), ChartView::new(c, &v.batches));
                    }
                    o.results.insert(
                        node.clone(),
                        ResultTable::new(v.schema.clone(), v.batches.clone(), v.total),
                    );
                } else if let Some(Some(table)) = shards {
                    o.results.insert(node.clone(), table);
                } else if let Some(v) = state.views.get(EMITTED) {
                    o.results.insert(
                        node.clone(),
                        ResultTable::new(v.schema.clone(), v.batches.clone(), v.total),
                    );
                }
            }
            self.overlay = Some((at, o));
        }
        self.overlay.as_mut().map(|(_, o)| o)
    }

    /// Puts each node's state, rows and chart at the moment shown into `run` for this
    /// frame's drawing; give what it returns to [`TimelineView::swap_out`] after.
    pub fn swap_in(&mut self, run: &mut RunView, doc: &Document) -> Option<Swapped> {
        let overlay = self.overlay(run, doc)?;
        let mut swapped = Swapped::default();
        for (id, s) in std::mem::take(&mut overlay.states) {
            swapped.states.insert(id.clone(), run.nodes.insert(id, s));
        }
        for (id, r) in std::mem::take(&mut overlay.results) {
            swapped
                .results
                .insert(id.clone(), run.results.insert(id, r));
        }
        for (id, c) in std::mem::take(&mut overlay.charts) {
            swapped.charts.insert(id.clone(), run.charts.insert(id, c));
        }
        Some(swapped)
    }

    /// Gives `run` its present back, keeping the moment's state for the next frame.
    pub fn swap_out(&mut self, run: &mut RunView, swapped: Option<Swapped>) {
        let Some(swapped) = swapped else {
            return;
        };
        let Some((_, overlay)) = self.overlay.as_mut() else {
            return;
        };
        fn back<T>(map: &mut BTreeMap<String, T>, id: String, old: Option<T>) -> Option<T> {
            match old {
                Some(old) => map.insert(id, old),
                None => map.remove(&id),
            }
        }
        for (id, old) in swapped.states {
            if let Some(s) = back(&mut run.nodes, id.clone(), old) {
                overlay.states.insert(id, s);
            }
        }
        for (id, old) in swapped.results {
            if let Some(r) = back(&mut run.results, id.clone(), old) {
                overlay.results.insert(id, r);
            }
        }
        for (id, old) in swapped.charts {
            if let Some(c) = back(&mut run.charts, id.clone(), old) {
                overlay.charts.insert(id, c);
            }
        }
    }
}
