//! The bottom panel: Results, Charts, Catalog, Metrics and Log tabs.

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
        BottomTab::Results => match app.selected().and_then(|s| app.run.results.get(s)) {
            Some(table) => results_ui(ui, table),
            None => {
                ui.weak("Select a node and run the graph to see its rows.");
            }
        },
        BottomTab::Charts => charts_ui(app, ui),
        BottomTab::Catalog => {
            if app.view.catalog_view.ui(ui) {
                app.reload_catalogs();
            }
        }
        BottomTab::Metrics => {
            if let Some(node) = app.run.metrics.ui(ui) {
                app.select(Some(&node));
            }
        }
        BottomTab::Log => log_ui(app, ui),
    }
}

fn log_ui(app: &mut TributaryApp, ui: &mut Ui) {
    let mut select = None;
    egui::ScrollArea::vertical()
        .stick_to_bottom(true)
        .show(ui, |ui| {
            for line in &app.run.log {
                let color = match line.level {
                    LogLevel::Error => theme::ERROR,
                    LogLevel::Warning => theme::WARNING,
                    LogLevel::Info => ui.visuals().text_color(),
                };
                ui.horizontal(|ui| {
                    if let Some(node) = &line.node
                        && ui.link(node).clicked()
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
    let title = |id: &str| {
        doc.node_id(id)
            .map(|n| doc.snarl[n].name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| id.to_owned())
    };
    if let Some((id, view)) = app.selected().and_then(|s| charts.get(s).map(|v| (s, v))) {
        ui.label(egui::RichText::new(title(id)).strong());
        chart_ui(
            ui,
            &format!("tab-{id}"),
            view,
            height.max(80.0),
            Detail::Full,
        );
        return;
    }
    let columns = charts.len().clamp(1, 3);
    let mut select = None;
    ui.columns(columns, |cols| {
        for (i, (id, view)) in charts.iter().enumerate() {
            let ui = &mut cols[i % columns];
            if ui.link(egui::RichText::new(title(id)).strong()).clicked() {
                select = Some(id.clone());
            }
            let rows = charts.len().div_ceil(columns) as f32;
            chart_ui(
                ui,
                &format!("dash-{id}"),
                view,
                (height / rows - 24.0).max(80.0),
                Detail::Medium,
            );
        }
    });
    if let Some(node) = select {
        app.select(Some(&node));
    }
}
