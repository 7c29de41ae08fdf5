//! The Cost tab: what the last run would have cost in AWS, per node and item, for this
//! run and at this rate for a month, from the engine's cost meter.

use std::collections::BTreeMap;

use egui::Ui;
use tributary_engine::api::cost::quantity;

use crate::state::run_view::NodeRunState;

/// Draws the cost table of `nodes` (their last run), titles from `title`; returns the
/// node whose title was clicked.
pub fn ui(
    ui: &mut Ui,
    nodes: &BTreeMap<String, NodeRunState>,
    title: &dyn Fn(&str) -> String,
) -> Option<String> {
    let priced: Vec<_> = nodes
        .iter()
        .filter_map(|(id, s)| Some((id, s.cost.as_ref()?)))
        .collect();
    let Some((_, first)) = priced.first() else {
        ui.weak("Run the graph to see what it would cost in AWS: streams, Lambda functions, Firehoses, crawlers, ETL jobs, queries and EMR jobs are priced from what they did.");
        return None;
    };
    let run: f64 = priced.iter().map(|(_, c)| c.usd).sum();
    let month: f64 = priced.iter().filter_map(|(_, c)| c.usd_per_month).sum();
    ui.horizontal(|ui| {
        ui.strong(format!("This run: {}", usd(run)));
        if month > 0.0 {
            ui.strong(format!("· at this rate, per month: {}", usd(month)))
                .on_hover_text("What the streaming nodes (streams, functions, delivery streams, analytics) would cost running a month (730 hours) at this run's rate. Batch nodes (crawlers, jobs, queries) are billed per run.");
        }
        ui.weak(format!("· {}", first.basis))
            .on_hover_text("Edit the price file, or put an aws-prices.json beside the project, to price another region or date.");
    });
    ui.separator();
    let mut clicked = None;
    egui::ScrollArea::both()
        .id_salt("cost-table")
        .show(ui, |ui| {
            egui::Grid::new("cost").striped(true).show(ui, |ui| {
                for h in ["node", "item", "quantity", "this run", "per month"] {
                    ui.strong(h);
                }
                ui.end_row();
                for (id, cost) in &priced {
                    for (i, item) in cost.items.iter().enumerate() {
                        if i == 0 {
                            if ui.link(title(id)).on_hover_text(id.as_str()).clicked() {
                                clicked = Some((*id).clone());
                            }
                        } else {
                            ui.label("");
                        }
                        ui.label(&item.what);
                        ui.monospace(format!("{} {}", quantity(item.quantity), item.unit));
                        ui.monospace(usd(item.usd));
                        match cost.item_per_month(item) {
                            Some(m) => {
                                ui.monospace(usd(m));
                            }
                            None => {
                                ui.weak("per run");
                            }
                        }
                        ui.end_row();
                    }
                }
            });
        });
    clicked
}

/// Dollars, with cents for large sums and enough digits for small ones.
pub fn usd(v: f64) -> String {
    if v >= 1.0 {
        format!("${v:.2}")
    } else if v == 0.0 {
        "$0".to_owned()
    } else {
        format!("${v:.6}")
    }
}
