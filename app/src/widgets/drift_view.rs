//! Schema drift on the canvas: when a crawl proposed a new table version (a crawler
//! whose `schema_change_policy` is `log`) or applied one, a banner above the canvas says
//! which table changed and how, the nodes whose SQL or chart breaks or changes with it
//! are marked on the canvas, and a proposed version can be accepted (or the notice
//! dismissed) from the banner. The report (`engine::drift`) is worked out on a thread of
//! its own whenever the project or its catalogs may have changed; the UI thread polls.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crossbeam_channel::{Receiver, bounded};
use egui::Ui;
use tributary_engine::Project;
use tributary_engine::engine::drift::{self, Drifted, Impact, Verdict};

use crate::theme;

/// A report: the drifted tables and what they do to the nodes.
type Report = Result<(Vec<Drifted>, Vec<Impact>), String>;

/// What a report was worked out for: the document's content, the runs ended so far, and
/// the accepts and dismissals since.
type Key = (u64, u64, u64);

/// The drift state of the designer.
#[derive(Default)]
pub struct DriftView {
    /// The tables with a proposed or newest version not dismissed.
    pub drifted: Vec<Drifted>,
    /// What they do to each node, by node id.
    pub by_node: BTreeMap<String, Vec<Impact>>,
    /// `(table, version)` the user dismissed (this session).
    dismissed: BTreeSet<(String, u32)>,
    /// Bumped by an accept or a dismissal: the report is worked out again.
    generation: u64,
    /// What the shown report is for.
    checked: Option<Key>,
    /// Why the last report or accept failed.
    pub error: Option<String>,
    pending: Option<(Key, Receiver<Report>)>,
    accepting: Option<Receiver<Result<String, String>>>,
    /// What the last accept did, for the log.
    pub accepted: Option<String>,
}

impl DriftView {
    /// Whether the report is out of date for the document's `content` revision and the
    /// runs ended so far, and none is being worked out (one at a time: the next frame
    /// asks again once this one is in).
    pub fn wants(&self, content: u64, runs_ended: u64) -> bool {
        self.checked != Some((content, runs_ended, self.generation)) && self.pending.is_none()
    }

    /// Works the report out again (on a thread) for `project` ([`DriftView::wants`]).
    pub fn refresh(&mut self, project: Project, base: PathBuf, content: u64, runs_ended: u64) {
        let key = (content, runs_ended, self.generation);
        let has_catalog = project
            .nodes
            .iter()
            .any(|n| matches!(n.config, tributary_engine::nodes::NodeConfig::Catalog(_)));
        if !has_catalog {
            self.checked = Some(key);
            self.drifted.clear();
            self.by_node.clear();
            return;
        }
        let dismissed = self.dismissed.clone();
        let (tx, rx) = bounded(1);
        let spawned = std::thread::Builder::new()
            .name("tributary-drift".to_owned())
            .spawn(move || {
                let report = drift::against_catalog_where(&project, &base, |d| {
                    !dismissed.contains(&(d.table.clone(), d.version))
                })
                .map_err(|e| e.to_string());
                let _ = tx.send(report);
            });
        if spawned.is_ok() {
            self.pending = Some((key, rx));
        }
    }

    /// Takes a finished report or accept.
    pub fn poll(&mut self) {
        if let Some((key, rx)) = &self.pending
            && let Ok(report) = rx.try_recv()
        {
            self.checked = Some(*key);
            self.pending = None;
            match report {
                Ok((drifted, impacts)) => {
                    self.error = None;
                    self.drifted = drifted;
                    self.by_node.clear();
                    for i in impacts {
                        self.by_node.entry(i.node.clone()).or_default().push(i);
                    }
                }
                Err(e) => self.error = Some(e),
            }
        }
        if let Some(rx) = &self.accepting
            && let Ok(answer) = rx.try_recv()
        {
            self.accepting = None;
            self.generation += 1;
            match answer {
                Ok(done) => self.accepted = Some(done),
                Err(e) => self.error = Some(e),
            }
        }
    }

    /// Whether a report or an accept is being worked out.
    pub fn is_busy(&self) -> bool {
        self.pending.is_some() || self.accepting.is_some()
    }

    /// Applies `d`'s proposed version to its catalog (on a thread).
    fn accept(&mut self, d: &Drifted) {
        let (path, table) = (d.catalog.clone(), d.table.clone());
        let (tx, rx) = bounded(1);
        let spawned = std::thread::Builder::new()
            .name("tributary-drift-accept".to_owned())
            .spawn(move || {
                let answer = tributary_engine::lake::catalog::CatalogStore::open(&path)
                    .and_then(|store| store.update(|c| c.accept_proposed(&table, "designer")))
                    .map(|change| format!("{table}: accepted the proposed version ({change})"))
                    .map_err(|e| format!("{table}: could not accept the proposed version: {e}"));
                let _ = tx.send(answer);
            });
        if spawned.is_ok() {
            self.accepting = Some(rx);
        }
    }

    /// Stops showing `d` (until a newer version).
    fn dismiss(&mut self, d: &Drifted) {
        self.dismissed.insert((d.table.clone(), d.version));
        self.generation += 1;
    }

    /// The banner above the canvas: one line per drifted table, with what it does to the
    /// nodes and its buttons. Draws nothing when there is no drift.
    pub fn banner(&mut self, ui: &mut Ui) {
        if self.drifted.is_empty() {
            return;
        }
        let (breaks, changes) = self.counts();
        let mut act: Option<(bool, Drifted)> = None;
        egui::Frame::group(ui.style())
            .fill(ui.visuals().faint_bg_color)
            .show(ui, |ui| {
                for d in &self.drifted {
                    ui.horizontal_wrapped(|ui| {
                        let color = if breaks > 0 {
                            theme::error(ui.visuals())
                        } else {
                            theme::warning(ui.visuals())
                        };
                        let what = if d.proposed {
                            format!(
                                "⚠ Schema drift: a crawl proposes version {} of {} (schema_change_policy log): {}.",
                                d.version, d.table, d.change
                            )
                        } else {
                            format!(
                                "⚠ Schema drift: {} is at version {}: {}.",
                                d.table, d.version, d.change
                            )
                        };
                        ui.label(egui::RichText::new(what).color(color));
                        ui.label(impact_summary(d.proposed, breaks, changes));
                        if d.proposed
                            && ui
                                .add_enabled(
                                    self.accepting.is_none(),
                                    egui::Button::new(format!("Accept version {}", d.version)),
                                )
                                .on_hover_text(
                                    "Apply the proposed schema as the table's next version (as a crawl with schema_change_policy update would)",
                                )
                                .clicked()
                        {
                            act = Some((true, d.clone()));
                        }
                        if ui
                            .button("Dismiss")
                            .on_hover_text("Stop showing this version's impact (this session)")
                            .clicked()
                        {
                            act = Some((false, d.clone()));
                        }
                    });
                }
            });
        match act {
            Some((true, d)) => self.accept(&d),
            Some((false, d)) => self.dismiss(&d),
            None => {}
        }
    }

    /// Nodes that break and nodes that change.
    fn counts(&self) -> (usize, usize) {
        let breaks = self
            .by_node
            .values()
            .filter(|i| i.iter().any(|i| matches!(i.verdict, Verdict::Breaks(_))))
            .count();
        (breaks, self.by_node.len() - breaks)
    }
}

/// "Accepting it breaks 2 nodes and changes 1 (marked on the canvas)."
fn impact_summary(proposed: bool, breaks: usize, changes: usize) -> String {
    let nodes = |n: usize| {
        if n == 1 {
            "1 node".to_owned()
        } else {
            format!("{n} nodes")
        }
    };
    let what = match (breaks, changes) {
        (0, 0) => return "No node is affected.".to_owned(),
        (b, 0) => format!("breaks {}", nodes(b)),
        (0, c) => format!("changes {}", nodes(c)),
        (b, c) => format!("breaks {} and changes {c}", nodes(b)),
    };
    let lead = if proposed { "Accepting it" } else { "It" };
    format!("{lead} {what} (marked on the canvas).")
}

/// A node's drift line: what breaks (or changes) and where, for the canvas.
pub fn node_line(impacts: &[Impact]) -> Option<(bool, String, String)> {
    let first = impacts
        .iter()
        .find(|i| matches!(i.verdict, Verdict::Breaks(_)))
        .or_else(|| impacts.first())?;
    let all = impacts
        .iter()
        .map(|i| match &i.verdict {
            Verdict::Breaks(why) => format!("{}: breaks: {why}", i.setting),
            Verdict::Changes(lines) => format!("{}: changes: {}", i.setting, lines.join("; ")),
        })
        .collect::<Vec<_>>()
        .join("\n");
    Some(match &first.verdict {
        Verdict::Breaks(why) => (true, format!("✖ drift breaks it: {why}"), all),
        Verdict::Changes(lines) => (
            false,
            format!("⚠ drift changes it: {}", lines.join("; ")),
            all,
        ),
    })
}
