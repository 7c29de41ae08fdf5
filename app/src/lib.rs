//! The Tributary desktop app. `main.rs` only opens the window; everything else is here
//! so tests can build the app.

mod app;
pub mod catalog_view;
pub mod chart;
pub mod document;
pub mod inspector;
pub mod metrics_view;
pub mod results;
pub mod session;
pub mod viewer;

pub use app::{BottomTab, TributaryApp, examples};

use std::path::PathBuf;

/// The bundled example opened when no project is given.
pub fn bundled_example() -> Option<PathBuf> {
    let candidates = [
        PathBuf::from("projects/lake.json"),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../projects/lake.json"),
    ];
    candidates.into_iter().find(|p| p.exists())
}

/// Opens the native window on `project` (or the bundled example).
pub fn run_native(project: Option<PathBuf>) -> anyhow::Result<()> {
    // No project named: the last one opened, else the bundled example.
    let project = project
        .or_else(|| {
            session::Session::new(session::Session::default_dir())
                .recent()
                .into_iter()
                .next()
        })
        .or_else(bundled_example);
    let mut viewport = egui::ViewportBuilder::default()
        .with_inner_size([1500.0, 950.0])
        .with_title("Tributary");
    match eframe::icon_data::from_png_bytes(include_bytes!("../../assets/icon.png")) {
        Ok(icon) => viewport = viewport.with_icon(std::sync::Arc::new(icon)),
        Err(e) => log::warn!("the window icon could not be read: {e}"),
    }
    let options = eframe::NativeOptions {
        viewport,
        ..Default::default()
    };
    eframe::run_native(
        "Tributary",
        options,
        Box::new(move |cc| Ok(Box::new(TributaryApp::new(&cc.egui_ctx, project)))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
