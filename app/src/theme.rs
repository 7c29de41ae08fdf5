//! The app's colours, in one place.

use egui::Color32;
use tributary_engine::NodeStatus;
use tributary_engine::nodes::PortType;

/// Errors: messages, failed nodes, refused wires.
pub const ERROR: Color32 = Color32::from_rgb(230, 80, 80);
/// Warnings in the log.
pub const WARNING: Color32 = Color32::from_rgb(230, 190, 80);
/// Finished nodes.
pub const OK: Color32 = Color32::from_rgb(80, 200, 120);
/// Running nodes.
pub const RUNNING: Color32 = Color32::LIGHT_BLUE;
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
    }
}

/// The colour a run status is shown in.
pub fn status(status: Option<NodeStatus>) -> Color32 {
    match status {
        None | Some(NodeStatus::Idle) => Color32::GRAY,
        Some(NodeStatus::Running) => RUNNING,
        Some(NodeStatus::Ok) => OK,
        Some(NodeStatus::Error) => ERROR,
        Some(NodeStatus::Skipped) | Some(NodeStatus::Stopped) => Color32::DARK_GRAY,
    }
}
