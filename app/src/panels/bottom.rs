//! The bottom panel: Results, Charts, Catalog, Metrics, Cost, Diff and Log tabs.

use egui::Ui;
use tributary_engine::engine::LogLevel;

use crate::BottomTab;
use crate::app::TributaryApp;
use crate::theme;
use crate::widgets::chart::{Detail, chart_ui};
use crate::widgets::results::results_ui;

/// Draws the bottom panel.
pub fn ui(app: &mut TributaryApp, ui: &mut Ui) {
    // Keep the panel's size when its content is small (egui panels shrink to fit).
    ui.set_min_height(ui.available_height());
    ui.horizontal(|ui| {
        for tab in BottomTab::ALL {
            let errors = app.run.errors();
            let title = if tab == BottomTab::Log && errors > 0 {
                format!("Log ({errors})")
            } else {
                tab.title().to_owned()
            };
            ui.selectable_value(&mut app.view.bottom_tab, tab, title);
        }
    });
    ui.separator();
    // The catalogs are read again whenever the tab comes into view, however it was
    // chosen (tab bar, View menu).
    let catalog_visible = app.view.bottom_tab == BottomTab::Catalog;
    if catalog_visible && !app.view.catalog_was_visible {
        app.reload_catalogs();
    }
    app.view.catalog_was_visible = catalog_visible;
    match app.view.bottom_tab {
        BottomTab::Results => {
            let selected = app.selected().map(str::to_owned);
            match selected.as_deref().and_then(|s| app.run.results.get(s)) {
                Some(table) => {
                    let id = selected.as_deref().unwrap_or_default();
                    let stale = app.run.stale_rows(id, app.doc.content_revision);
                    if let Some(run) = app.run.produced.get(id) {
                        let summary = app.run.nodes.get(id).and_then(|n| n.query_summary.clone());
                        ui.horizontal(|ui| {
                            ui.weak(format!("Rows from run {}", run.seq));
                            if let Some(summary) = summary {
                                ui.weak(format!("· {summary}"));
                            }
                            if let Some(why) = &stale {
                                ui.colored_label(theme::warning(ui.visuals()), format!("· {why}"));
                            }
                        });
                    }
                    if stale.is_some() {
                        ui.set_opacity(0.55);
                    }
                    results_ui(ui, table);
                }
                None if app.selection.len() > 1 => {
                    ui.weak("Several nodes are selected: select one to see its rows.");
                }
                None => {
                    ui.weak("Select a node and run the graph to see its rows.");
                }
            }
        }
        BottomTab::Charts => charts_ui(app, ui),
        BottomTab::Catalog => {
            if app.view.catalog_view.ui(ui) {
                app.reload_catalogs();
            }
        }
        BottomTab::Metrics => {
            let doc = &app.doc;
            let title = |id: &str| node_title(doc, id);
            if let Some(node) = app.run.metrics.ui(ui, &title) {
                app.select(Some(&node));
            }
        }
        BottomTab::Diff => {
            let base = app.base_dir();
            let finished = if app.run.current.is_none() {
                app.run.last
            } else {
                None
            };
            app.view.diff_view.refresh_after(base.clone(), finished);
            let selected = app.selected().map(str::to_owned);
            app.view.diff_view.ui(ui, selected.as_deref(), base);
        }
        BottomTab::Cost => {
            let doc = &app.doc;
            let title = |id: &str| node_title(doc, id);
            if let Some(node) = crate::widgets::cost_view::ui(ui, &app.run.nodes, &title) {
                app.select(Some(&node));
            }
        }
        BottomTab::Log => log_ui(app, ui),
    }
}

/// The title a node has on the canvas (its id when it has none).
pub fn node_title(doc: &crate::state::document::Document, id: &str) -> String {
    doc.node_id(id)
        .map(|n| doc.snarl[n].name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| id.to_owned())
}

fn log_ui(app: &mut TributaryApp, ui: &mut Ui) {
    let mut select = None;
    egui::ScrollArea::vertical()
        .stick_to_bottom(true)
        .show(ui, |ui| {
            for line in &app.run.log {
                let color = match line.level {
                    LogLevel::Error => theme::error(ui.visuals()),
                    LogLevel::Warning => theme::warning(ui.visuals()),
                    LogLevel::Info => ui.visuals().text_color(),
                };
                ui.horizontal(|ui| {
                    ui.weak(line.at.format("%H:%M:%S").to_string())
                        .on_hover_text(line.at.format("%Y-%m-%d %H:%M:%S%.3f").to_string());
                    if let Some(node) = &line.node
                        && ui
                            .link(node_title(&app.doc, node))
                            .on_hover_text(node)
                            .clicked()
                    {
                        select = Some(node.clone());
                    }
                    ui.colored_label(color, &line.text);
                });
            }
        });
    if let Some(node) = select {
        app.select(Some(&node));
    }
}

/// The selected chart large, or all charts as a dashboard grid.
fn charts_ui(app: &mut TributaryApp, ui: &mut Ui) {
    let charts = &app.run.charts;
    if charts.is_empty() {
        ui.weak("Add a series_sink node, wire a stream or table into it, and run.");
        return;
    }
    let height = ui.available_height() - 24.0;
    let doc = &app.doc;
    let run = &app.run;
    let stale = |id: &str| run.stale_rows(id, doc.content_revision);
    let title = |id: &str| match stale(id) {
        Some(_) => format!("{} (out of date)", node_title(doc, id)),
        None => node_title(doc, id),
    };
    if let Some((id, view)) = app.selected().and_then(|s| charts.get(s).map(|v| (s, v))) {
        let r = ui.label(egui::RichText::new(title(id)).strong());
        if let Some(why) = stale(id) {
            r.on_hover_text(why);
            ui.set_opacity(0.55);
        }
        chart_ui(
            ui,
            &format!("tab-{id}"),
            view,
            height.max(80.0),
            Detail::Full,
        );
        return;
    }
    // The dashboard: the charts in the project's order, hidden ones left out.
    let dashboard = doc.dashboard.clone();
    let shown: Vec<String> = dashboard
        .arrange(charts.keys().map(String::as_str))
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut change: Option<DashboardEdit> = None;
    ui.horizontal(|ui| {
        ui.weak("Columns:");
        for (n, label) in [(0, "auto"), (1, "1"), (2, "2"), (3, "3"), (4, "4")] {
            if ui
                .selectable_label(dashboard.columns == n, label)
                .on_hover_text("How many charts side by side (saved with the project).")
                .clicked()
            {
                change = Some(DashboardEdit::Columns(n));
            }
        }
        let hidden: Vec<&String> = dashboard
            .hidden
            .iter()
            .filter(|h| charts.contains_key(*h))
            .collect();
        if !hidden.is_empty() {
            ui.separator();
            ui.weak("Hidden:");
            for id in hidden {
                if ui
                    .small_button(format!("{} ↩", node_title(doc, id)))
                    .on_hover_text("Show it on the dashboard again")
                    .clicked()
                {
                    change = Some(DashboardEdit::Show(id.clone()));
                }
            }
        }
    });
    if shown.is_empty() {
        ui.weak("Every chart is hidden.");
    }
    let columns = match dashboard.columns {
        0 => shown.len().clamp(1, 3),
        n => n as usize,
    }
    .min(shown.len().max(1));
    let rows = shown.len().div_ceil(columns).max(1) as f32;
    let mut select = None;
    ui.columns(columns, |cols| {
        for (i, id) in shown.iter().enumerate() {
            let Some(view) = charts.get(id) else { continue };
            let ui = &mut cols[i % columns];
            let dim = stale(id).is_some();
            // The title gives way (cut with …) to the buttons in a narrow column.
            egui::Sides::new().shrink_left().truncate().show(
                ui,
                |ui| {
                    let r = ui.link(egui::RichText::new(title(id)).strong());
                    if r.clicked() {
                        select = Some(id.clone());
                    }
                    if let Some(why) = stale(id) {
                        r.on_hover_text(why);
                    }
                },
                |ui| {
                    if ui
                        .small_button("🗙")
                        .on_hover_text("Hide from the dashboard")
                        .clicked()
                    {
                        change = Some(DashboardEdit::Hide(id.clone()));
                    }
                    if ui
                        .add_enabled(i + 1 < shown.len(), egui::Button::new("▶").small())
                        .on_hover_text("Move later")
                        .clicked()
                    {
                        change = Some(DashboardEdit::Move(id.clone(), 1));
                    }
                    if ui
                        .add_enabled(i > 0, egui::Button::new("◀").small())
                        .on_hover_text("Move earlier")
                        .clicked()
                    {
                        change = Some(DashboardEdit::Move(id.clone(), -1));
                    }
                },
            );
            ui.scope(|ui| {
                if dim {
                    ui.set_opacity(0.55);
                }
                chart_ui(
                    ui,
                    &format!("dash-{id}"),
                    view,
                    (height / rows - 24.0).max(80.0),
                    Detail::Medium,
                );
            });
        }
    });
    if let Some(edit) = change {
        app.edit_dashboard(edit, &shown);
    }
    if let Some(node) = select {
        app.select(Some(&node));
    }
}

/// A change to the dashboard's arrangement.
#[derive(Clone, Debug)]
pub enum DashboardEdit {
    /// Charts side by side (0: auto).
    Columns(u32),
    /// Move a chart earlier (-1) or later (+1).
    Move(String, i32),
    /// Leave a chart off the dashboard.
    Hide(String),
    /// Show a hidden chart again.
    Show(String),
}

impl TributaryApp {
    /// Applies `edit` to the dashboard (`shown`: the charts as shown now), as one undo
    /// step saved with the project.
    pub fn edit_dashboard(&mut self, edit: DashboardEdit, shown: &[String]) {
        let d = &mut self.doc.dashboard;
        match edit {
            DashboardEdit::Columns(n) => d.columns = n,
            DashboardEdit::Move(id, by) => {
                let mut order: Vec<String> = shown.to_vec();
                if let Some(i) = order.iter().position(|o| *o == id) {
                    let j = (i as i64 + by as i64).clamp(0, order.len() as i64 - 1) as usize;
                    order.swap(i, j);
                }
                d.order = order;
            }
            DashboardEdit::Hide(id) => {
                if !d.hidden.contains(&id) {
                    d.hidden.push(id);
                }
            }
            DashboardEdit::Show(id) => d.hidden.retain(|h| *h != id),
        }
        self.doc.checkpoint();
    }
}
