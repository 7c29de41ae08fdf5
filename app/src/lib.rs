//! The Tributary desktop app. `main.rs` only opens the window; everything else is here
//! so tests can build the app.
//!
//! - `app.rs`: the app's state and its `logic` / `ui` split;
//! - `commands.rs`: the command table (menus, shortcuts, Help);
//! - `edit.rs`, `files.rs`: editing the graph; opening, saving, autosave;
//! - `layout.rs`: the layered left-to-right layout behind View → Arrange;
//! - `state/`: the document, the run view built from engine events, the session;
//! - `panels/`: menu bar, palette, canvas, inspector, bottom tabs, dialogs;
//! - `widgets/`: results table, charts, catalog tree, metrics;
//! - `theme.rs`: colours.

mod app;
pub mod commands;
mod edit;
mod files;
pub mod layout;
pub mod panels;
pub mod state;
pub mod theme;
pub mod widgets;

pub use app::{BottomTab, TributaryApp};
pub use commands::AppCommand;
pub use files::examples;

use std::path::PathBuf;

/// What `tributary <args>` does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Launch {
    /// A headless command: a subcommand, a flag (`--help`), or a word that is neither a
    /// subcommand nor a project file, which the command line refuses with a "did you
    /// mean" and exit code 2 (a typo must not open a window).
    Cli,
    /// The designer on a project file (an existing path or a new `*.json`), or on the last
    /// project when there is none.
    Window(Option<PathBuf>),
}

/// Decides from the arguments (program name first) whether to open the window.
pub fn launch(args: &[String]) -> Launch {
    match args.get(1).map(String::as_str) {
        None | Some("") => Launch::Window(None),
        Some(first)
            if first.starts_with('-') || tributary_engine::cli::SUBCOMMANDS.contains(&first) =>
        {
            Launch::Cli
        }
        Some(first) => {
            let path = std::path::Path::new(first);
            if path.exists() || first.ends_with(".json") {
                Launch::Window(Some(path.to_path_buf()))
            } else {
                Launch::Cli
            }
        }
    }
}

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
            state::session::Session::new(state::session::Session::default_dir())
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
