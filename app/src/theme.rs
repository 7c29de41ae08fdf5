//! The app's colours, in one place.

use egui::Color32;
use tributary_engine::NodeStatus;
use tributary_engine::nodes::PortType;

/// Errors: messages, failed nodes, refused wires (darker on the light theme, so text
/// stays readable on both).
pub fn error(v: &egui::Visuals) -> Color32 {
    pick(
        v,
        Color32::from_rgb(235, 90, 90),
        Color32::from_rgb(185, 28, 28),
    )
}

/// Warnings and validation problems.
pub fn warning(v: &egui::Visuals) -> Color32 {
    pick(
        v,
        Color32::from_rgb(230, 190, 80),
        Color32::from_rgb(150, 95, 0),
    )
}

/// Finished nodes.
pub fn ok(v: &egui::Visuals) -> Color32 {
    pick(
        v,
        Color32::from_rgb(80, 200, 120),
        Color32::from_rgb(20, 125, 55),
    )
}

/// Running nodes.
pub fn running(v: &egui::Visuals) -> Color32 {
    pick(v, Color32::LIGHT_BLUE, Color32::from_rgb(20, 90, 170))
}

/// Text of something out of date: dimmer than weak text.
pub fn stale(v: &egui::Visuals) -> Color32 {
    v.weak_text_color().gamma_multiply(0.8)
}

fn pick(v: &egui::Visuals, dark: Color32, light: Color32) -> Color32 {
    if v.dark_mode { dark } else { light }
}

/// The outline of selected nodes.
pub const SELECTED: Color32 = Color32::from_rgb(90, 170, 230);

/// Chart series, distinct on dark and light backgrounds.
pub const SERIES: [Color32; 8] = [
    Color32::from_rgb(86, 156, 214),
    Color32::from_rgb(230, 145, 56),
    Color32::from_rgb(106, 190, 110),
    Color32::from_rgb(214, 86, 120),
    Color32::from_rgb(170, 120, 220),
    Color32::from_rgb(200, 190, 80),
    Color32::from_rgb(80, 200, 200),
    Color32::from_rgb(160, 160, 160),
];

/// The colour of a port type; wires take it too.
pub fn port(ty: PortType) -> Color32 {
    match ty {
        PortType::Objects => Color32::from_rgb(214, 160, 70),
        PortType::Crawl => Color32::from_rgb(170, 120, 220),
        PortType::Catalog => Color32::from_rgb(90, 170, 230),
        PortType::Table => Color32::from_rgb(110, 200, 120),
        PortType::Stream => Color32::from_rgb(235, 95, 120),
        // Not known yet (a transform with nothing connected): between the two.
        PortType::Rows => Color32::from_rgb(150, 170, 160),
    }
}

/// The colour a run status is shown in.
pub fn status(v: &egui::Visuals, status: Option<NodeStatus>) -> Color32 {
    match status {
        None | Some(NodeStatus::Idle) => Color32::GRAY,
        Some(NodeStatus::Running) => running(v),
        Some(NodeStatus::Ok) => ok(v),
        Some(NodeStatus::Error) => error(v),
        Some(NodeStatus::Skipped) | Some(NodeStatus::Stopped) => v.weak_text_color(),
    }
}
