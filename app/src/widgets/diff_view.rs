//! The Diff tab: the selected node's output in two recorded runs compared (rows added,
//! removed and changed by a key column or whole rows, schema changes, a sample of each).
//! Runs are listed and compared on a thread of their own; the UI thread only polls.

use std::path::PathBuf;

use crossbeam_channel::{Receiver, bounded};
use egui::Ui;
use tributary_engine::RunId;
use tributary_engine::engine::diff::Diff;
use tributary_engine::engine::runs::{self, RecordedRun};

use crate::theme;

/// A comparison's answer: the diff, or why there is none.
type Compared = Result<Diff, String>;

/// What a comparison was asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct Asked {
    /// The node.
    pub node: String,
    /// The runs before and after.
    pub a: String,
    pub b: String,
    /// The key column (empty: whole rows).
    pub key: String,
}

/// The tab's state.
#[derive(Default)]
pub struct DiffView {
    /// The recorded runs, oldest first.
    pub runs: Vec<RecordedRun>,
    /// The two runs chosen (ids); `None`: the two newest.
    pub a: Option<String>,
    pub b: Option<String>,
    /// The key column typed (empty: whole rows).
    pub key: String,
    /// What the result is for, and the result.
    pub result: Option<(Asked, Compared)>,
    /// The finished run the list was read after.
    listed_after: Option<Option<RunId>>,
    pending_list: Option<Receiver<Vec<RecordedRun>>>,
    pending_diff: Option<(Asked, Receiver<Compared>)>,
    /// A replay was started (this run): once the runs are listed after it finished,
    /// compare it with the run it replays.
    replay_pending: Option<RunId>,
}

impl DiffView {
    /// Lists the runs beside the project again (on a thread) when a run ended since the
    /// last listing.
    pub fn refresh_after(&mut self, base: PathBuf, last_finished: Option<RunId>) {
        if self.listed_after == Some(last_finished) || self.pending_list.is_some() {
            return;
        }
        self.listed_after = Some(last_finished);
        let (tx, rx) = bounded(1);
        let spawned = std::thread::Builder::new()
            .name("tributary-runs-list".to_owned())
            .spawn(move || {
                let _ = tx.send(runs::list(&base));
            });
        if spawned.is_ok() {
            self.pending_list = Some(rx);
        }
    }

    /// After a replay: the next listing picks the replay and the run it replays (the
    /// newest before it that was not a replay).
    pub fn compare_replay_when_recorded(&mut self, replay: RunId) {
        self.replay_pending = Some(replay);
    }

    /// Once the runs were listed after the replay finished: picks the newest replay and
    /// the newest run before it that was not a replay.
    fn pick_replay(&mut self) {
        let Some(replay) = self.replay_pending else {
            return;
        };
        if self.listed_after != Some(Some(replay)) {
            return;
        }
        self.replay_pending = None;
        let Some(i) = self.runs.iter().rposition(|r| r.replay.is_some()) else {
            return;
        };
        self.b = Some(self.runs[i].id.clone());
        self.a = self.runs[..i]
            .iter()
            .rev()
            .find(|r| r.replay.is_none())
            .map(|r| r.id.clone());
    }

    /// Compares `node` in runs `a` and `b` (on a thread).
    fn compare(&mut self, base: PathBuf, node: String, a: String, b: String, key: String) {
        let (tx, rx) = bounded(1);
        let what = Asked {
            node: node.clone(),
            a: a.clone(),
            b: b.clone(),
            key: key.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name("tributary-diff".to_owned())
            .spawn(move || {
                let answer = (|| {
                    let run_a = runs::find(&base, &a).map_err(|e| e.to_string())?;
                    let run_b = runs::find(&base, &b).map_err(|e| e.to_string())?;
                    let (_, sa, ra) =
                        runs::output(&base, &run_a, &node).map_err(|e| e.to_string())?;
                    let (_, sb, rb) =
                        runs::output(&base, &run_b, &node).map_err(|e| e.to_string())?;
                    let key = (!key.trim().is_empty()).then_some(key.trim());
                    tributary_engine::engine::diff::diff((&sa, &ra), (&sb, &rb), key)
                        .map_err(|e| e.to_string())
                })();
                let _ = tx.send(answer);
            });
        if spawned.is_ok() {
            self.pending_diff = Some((what, rx));
        }
    }

    /// Takes finished work; true when the view changed.
    pub fn poll(&mut self) -> bool {
        let mut changed = false;
        if let Some(rx) = &self.pending_list
            && let Ok(runs) = rx.try_recv()
        {
            self.runs = runs;
            self.pending_list = None;
            self.pick_replay();
            changed = true;
        }
        if let Some((what, rx)) = &self.pending_diff
            && let Ok(answer) = rx.try_recv()
        {
            self.result = Some((what.clone(), answer));
            self.pending_diff = None;
            changed = true;
        }
        changed
    }

    /// Whether work is in progress.
    pub fn is_busy(&self) -> bool {
        self.pending_list.is_some() || self.pending_diff.is_some()
    }

    /// Draws the tab for `node` (the selected one); the project's runs are beside `base`.
    pub fn ui(&mut self, ui: &mut Ui, node: Option<&str>, base: PathBuf) {
        let Some(node) = node else {
            ui.weak("Select a node to compare its output in two recorded runs.");
            return;
        };
        if self.runs.len() < 2 {
            ui.weak(if self.pending_list.is_some() {
                "Reading the recorded runs…"
            } else {
                "Run the graph twice (before and after an edit) to compare a node's output: \
                 each run is recorded beside the project."
            });
            return;
        }
        let n = self.runs.len();
        let a = self
            .a
            .clone()
            .unwrap_or_else(|| self.runs[n - 2].id.clone());
        let b = self
            .b
            .clone()
            .unwrap_or_else(|| self.runs[n - 1].id.clone());
        let pick = |ui: &mut Ui, label: &str, chosen: &str| -> Option<String> {
            let mut picked = None;
            ui.label(label);
            egui::ComboBox::from_id_salt(("diff-run", label))
                .selected_text(run_label(&self.runs, chosen))
                .show_ui(ui, |ui| {
                    for r in self.runs.iter().rev() {
                        if ui
                            .selectable_label(r.id == chosen, run_label(&self.runs, &r.id))
                            .clicked()
                        {
                            picked = Some(r.id.clone());
                        }
                    }
                });
            picked
        };
        let mut go = false;
        // Wrapped: a replay's long run label must not push Compare out of sight.
        ui.horizontal_wrapped(|ui| {
            ui.label(format!("'{node}'"));
            if let Some(p) = pick(ui, "before", &a) {
                self.a = Some(p);
            }
            if let Some(p) = pick(ui, "after", &b) {
                self.b = Some(p);
            }
            let label = ui.label("Key");
            ui.add(
                egui::TextEdit::singleline(&mut self.key)
                    .hint_text("a column (empty: whole rows)")
                    .desired_width(180.0),
            )
            .labelled_by(label.id);
            go = ui
                .add_enabled(self.pending_diff.is_none(), egui::Button::new("Compare"))
                .clicked();
        });
        if go {
            self.compare(
                base,
                node.to_owned(),
                a.clone(),
                b.clone(),
                self.key.clone(),
            );
        }
        let Some((asked, answer)) = &self.result else {
            return;
        };
        if asked.node != node {
            return;
        }
        let (ra, rb, key) = (&asked.a, &asked.b, &asked.key);
        ui.separator();
        match answer {
            Err(e) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
            Ok(d) => {
                ui.label(format!(
                    "{} added · {} removed · {} changed · {} unchanged  ({} to {}, {})",
                    d.added,
                    d.removed,
                    d.changed,
                    d.unchanged,
                    ra,
                    rb,
                    if key.trim().is_empty() {
                        "whole rows".to_owned()
                    } else {
                        format!("by {}", key.trim())
                    }
                ));
                for change in &d.schema_changes {
                    ui.label(
                        egui::RichText::new(format!("schema: {change}"))
                            .monospace()
                            .color(theme::warning(ui.visuals())),
                    );
                }
                egui::ScrollArea::vertical().show(ui, |ui| {
                    for row in &d.samples.added {
                        ui.monospace(format!("+ {row}"));
                    }
                    for row in &d.samples.removed {
                        ui.monospace(format!("- {row}"));
                    }
                    for change in &d.samples.changed {
                        ui.monospace(format!(
                            "~ {}",
                            tributary_engine::engine::diff::describe_change(change)
                        ));
                    }
                });
            }
        }
    }
}

/// A run as the pickers show it: its id, how it ended, and newest/previous.
fn run_label(runs: &[RecordedRun], id: &str) -> String {
    let n = runs.len();
    let Some(i) = runs.iter().position(|r| r.id == id) else {
        return id.to_owned();
    };
    let tag = if i + 1 == n {
        " (latest)"
    } else if i + 2 == n {
        " (previous)"
    } else {
        ""
    };
    let replay = runs[i]
        .replay
        .as_ref()
        .map(|r| format!(" · replay from {} at {}", r.node, r.from.short()))
        .unwrap_or_default();
    format!("{}{tag} · {}{replay}", runs[i].id, runs[i].status)
}
