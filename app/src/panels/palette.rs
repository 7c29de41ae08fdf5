//! The palette: node kinds by category, searchable; click to add one, or drag it onto
//! the canvas.

use crate::app::TributaryApp;
use tributary_engine::nodes::NodeKind;

use crate::panels::canvas::{kinds_matching, kinds_ranked};

/// Draws the palette.
pub fn ui(app: &mut TributaryApp, ui: &mut egui::Ui) {
    ui.heading("Palette");
    let search =
        ui.add(egui::TextEdit::singleline(&mut app.view.palette_search).hint_text("Search nodes"));
    // Enter in the search adds the best match beside the selection.
    if search.lost_focus()
        && ui.input(|i| i.key_pressed(egui::Key::Enter))
        && let Some(kind) = kinds_ranked(&app.view.palette_search).first().copied()
    {
        app.add_node_nearby(kind);
        app.view.palette_search.clear();
    }
    let groups: Vec<(String, Vec<NodeKind>)> = if app.view.palette_search.trim().is_empty() {
        kinds_matching("")
            .into_iter()
            .map(|(c, k)| (format!("{c:?}"), k))
            .collect()
    } else {
        vec![(
            "Best matches".to_owned(),
            kinds_ranked(&app.view.palette_search),
        )]
    };
    let compact = is_compact(ui.ctx());
    egui::ScrollArea::vertical().show(ui, |ui| {
        for (category, kinds) in groups {
            if compact {
                ui.label(egui::RichText::new(category).small().weak());
                ui.horizontal_wrapped(|ui| {
                    for kind in kinds {
                        let r = ui
                            .add(
                                egui::Button::new(kind.icon())
                                    .min_size(egui::vec2(26.0, 24.0))
                                    .sense(egui::Sense::click_and_drag()),
                            )
                            .on_hover_text(format!(
                                "{}: {}\n\nClick to add beside the selected node, or drag onto the canvas.",
                                kind.as_str(),
                                kind.description()
                            ));
                        entry(app, ui, kind, &r);
                    }
                });
                continue;
            }
            ui.label(egui::RichText::new(category).strong());
            for kind in kinds {
                // Click to add, or drag onto the canvas to add where it is dropped.
                let r = ui
                    .horizontal(|ui| {
                        ui.label(kind.icon());
                        ui.add(
                            egui::Button::new(format!("+ {}", kind.as_str()))
                                .sense(egui::Sense::click_and_drag()),
                        )
                    })
                    .inner
                    .on_hover_text(format!(
                        "{}\n\nClick to add beside the selected node, or drag onto the canvas.",
                        kind.description()
                    ));
                entry(app, ui, kind, &r);
            }
            ui.add_space(4.0);
        }
    });
}

/// Below this window width the palette shows icons only, so the canvas keeps its room.
pub const COMPACT_WIDTH: f32 = 1200.0;

/// Whether the window is narrow enough for the icon-only palette.
pub fn is_compact(ctx: &egui::Context) -> bool {
    ctx.content_rect().width() < COMPACT_WIDTH
}

/// A palette entry's click (add beside the selection) and drag (add where dropped).
fn entry(app: &mut TributaryApp, ui: &mut egui::Ui, kind: NodeKind, r: &egui::Response) {
    if r.drag_started() {
        egui::DragAndDrop::set_payload(ui.ctx(), kind);
    }
    if r.dragged()
        && let Some(pos) = ui.ctx().pointer_interact_pos()
    {
        // The node-to-be follows the pointer.
        egui::Area::new(egui::Id::new("palette-drag"))
            .order(egui::Order::Tooltip)
            .fixed_pos(pos + egui::vec2(8.0, 8.0))
            .show(ui.ctx(), |ui| {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.label(format!("+ {}", kind.as_str()));
                });
            });
        ui.ctx().set_cursor_icon(egui::CursorIcon::Grabbing);
    }
    if r.clicked() {
        app.add_node_nearby(kind);
    }
}
