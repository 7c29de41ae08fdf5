//! The app: its state, [`TributaryApp::logic`] (engine events, dialogs, autosave) and
//! [`TributaryApp::ui`] (the panels), as eframe's own apps split them. The panels live
//! in `panels/`, the commands in `commands.rs`, the state in `state/`.
//!
//! The UI thread never blocks: commands go to the engine with `try_send`, events are
//! drained with `try_recv` under a time budget, and file dialogs run on their own thread.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tributary_engine::engine::LogLevel;
use tributary_engine::{Engine, Project, RunId};

pub(crate) use crate::files::{Files, Pending, native_dialogs};
use crate::state::document::Document;
use crate::state::run_view::{Applied, RunView};
use crate::state::selection::Selection;
use crate::state::session::Session;
pub use crate::state::view::BottomTab;
use crate::state::view::ViewState;

/// The canvas widget's id, also used to read its selection.
pub const CANVAS_ID: &str = "tributary-canvas";

/// How often unsaved changes are written to the recovery file.
pub const AUTOSAVE_INTERVAL: Duration = Duration::from_secs(30);

/// How often edits made during a run are sent to the engine at most.
const LIVE_EDIT_INTERVAL: Duration = Duration::from_millis(300);

/// The app state.
pub struct TributaryApp {
    /// The document being edited.
    pub(crate) doc: Document,
    pub(crate) engine: Option<Engine>,
    pub(crate) run_seq: u64,
    /// The current run as shown.
    pub(crate) run: RunView,
    /// The selected nodes; the inspector and Results show the node when there is one.
    pub(crate) selection: Selection,
    /// What Copy copied last (also put on the system clipboard).
    pub(crate) clipboard: Option<String>,
    pub(crate) view: ViewState,
    pub(crate) files: Files,
    /// The content revision the engine has (sent with a run, or during one).
    live_revision: u64,
    /// When an edit was last sent to the engine during a run.
    live_sent: Instant,
    /// Where Serve listens: `TRIBUTARY_SERVE_ADDRESS`, else 127.0.0.1:4566.
    serve_address: Option<String>,
}

impl TributaryApp {
    /// Builds the app, starts the engine and opens `path` when given; state (recent
    /// projects, autosave) lives in the platform's folder for it.
    pub fn new(ctx: &egui::Context, path: Option<PathBuf>) -> Self {
        Self::with_state_dir(ctx, path, Session::default_dir())
    }

    /// Like [`TributaryApp::new`], keeping state in `state_dir` (tests use a scratch one).
    pub fn with_state_dir(
        ctx: &egui::Context,
        path: Option<PathBuf>,
        state_dir: Option<PathBuf>,
    ) -> Self {
        // Ctrl+scroll zooms about 8 % per wheel notch (egui's default is about 22 %, and
        // wheels that send several lines per notch made it jump 1.5–2×).
        ctx.options_mut(|o| o.input_options.scroll_zoom_speed = 1.0 / 500.0);
        let repaint = ctx.clone();
        let engine = Engine::spawn_with_notify(Some(std::sync::Arc::new(move || {
            repaint.request_repaint();
        })));
        let session = Session::new(state_dir);
        let mut app = Self {
            doc: Document::new(),
            engine: None,
            run_seq: 0,
            run: RunView::default(),
            selection: Selection::default(),
            clipboard: None,
            view: ViewState::default(),
            files: Files {
                dialog: None,
                native_unavailable: native_dialogs().err(),
                pending: None,
                after_save: None,
                scratch: None,
                export: None,
                close_confirmed: false,
                recent: session.recent(),
                recovery_offer: session.recovery(),
                session,
                last_autosave: Instant::now(),
                autosaved_revision: 0,
            },
            live_revision: 0,
            live_sent: Instant::now(),
            serve_address: std::env::var("TRIBUTARY_SERVE_ADDRESS").ok(),
        };
        match engine {
            Ok(e) => app.engine = Some(e),
            Err(e) => app.run.log(
                LogLevel::Error,
                None,
                format!("the engine did not start: {e}"),
            ),
        }
        if let Some(p) = path {
            app.open_path(&p);
        }
        app
    }

    /// Applies what happened since the last frame: engine events, a file dialog's
    /// answer, catalogs read in the background, autosave. Draws nothing.
    pub fn logic(&mut self, ctx: &egui::Context) {
        self.drain_events();
        self.send_edits_while_running(ctx);
        self.poll_dialog();
        self.poll_export();
        self.view.catalog_view.poll();
        self.view.diff_view.poll();
        self.check_drift();
        if !self.is_running() && self.view.timeline.wants(self.run.last) {
            // The last run's timeline, once it is recorded.
            let base = self.base_dir();
            self.view.timeline.refresh_after(base, self.run.last);
        }
        self.view.timeline.poll();
        if self.view.catalog_view.is_loading()
            || self.view.diff_view.is_busy()
            || self.view.drift.is_busy()
            || self.view.timeline.is_busy()
        {
            ctx.request_repaint_after(Duration::from_millis(50));
        }
        if matches!(
            self.files.dialog,
            Some(crate::files::FileDialog::Native { .. })
        ) || self.files.export.is_some()
        {
            ctx.request_repaint_after(Duration::from_millis(100));
        }
        self.shortcuts(ctx);
    }

    /// Draws one frame into `ui` (the whole window): panels, then dialogs, then the
    /// window's title and close handling.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        crate::panels::menu_bar::ui(self, ui);
        // Side panels in proportion to the window, so a small window keeps its canvas.
        let window = ctx.content_rect().size();
        // Scrubbed back: the panels draw the last run as it was at that moment.
        let swapped = self.view.timeline.swap_in(&mut self.run, &self.doc);
        if self.view.show_palette {
            // A narrow window gets the icon-only palette (each keeps its own width).
            let panel = if crate::panels::palette::is_compact(&ctx) {
                egui::Panel::left("palette-compact")
                    .default_size(96.0)
                    .min_size(70.0)
                    .max_size(130.0)
            } else {
                egui::Panel::left("palette")
                    .default_size((window.x * 0.11).clamp(130.0, 180.0))
                    .min_size(120.0)
                    .max_size((window.x * 0.15).max(130.0))
            };
            panel.show(ui, |ui| crate::panels::palette::ui(self, ui));
        }
        if self.view.show_inspector {
            egui::Panel::right("inspector")
                .default_size((window.x * 0.2).clamp(230.0, 330.0))
                .min_size(220.0)
                // A window made smaller gives the canvas back its share.
                .max_size((window.x * 0.25).max(230.0))
                .show(ui, |ui| crate::panels::inspector::panel_ui(self, ui));
        }
        if self.view.show_bottom {
            egui::Panel::bottom("bottom")
                .default_size((window.y * 0.28).clamp(160.0, 280.0))
                .min_size(120.0)
                .resizable(true)
                .show(ui, |ui| crate::panels::bottom::ui(self, ui));
        } else {
            self.view.catalog_was_visible = false;
        }
        egui::CentralPanel::default().show(ui, |ui| {
            self.view.drift.banner(ui);
            let running = self.is_running();
            if self.view.timeline.loaded.is_some() && !running {
                egui::Panel::bottom("timeline")
                    .resizable(false)
                    .show(ui, |ui| self.view.timeline.strip(ui, running));
            } else {
                self.view.timeline.show_at(None);
            }
            crate::panels::canvas::ui(self, ui)
        });
        self.view.timeline.swap_out(&mut self.run, swapped);
        if let Some(at) = self.view.timeline.replay_asked.take() {
            self.ask_replay_at(at);
        }
        crate::panels::dialogs::ui(self, &ctx);
        self.autosave(&ctx);
        self.window(&ctx);
    }

    /// One frame: [`TributaryApp::logic`], then [`TributaryApp::ui`].
    pub fn frame_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.logic(&ctx);
        self.ui(ui);
    }

    /// The window's title, and closing it (asking about unsaved changes first).
    fn window(&mut self, ctx: &egui::Context) {
        let close_requested = ctx.input(|i| i.viewport().close_requested());
        if close_requested && self.doc.is_dirty() && !self.files.close_confirmed {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.files.pending = Some(Pending::Quit);
        }
        if self.files.close_confirmed {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        // Closing cleanly (saved, or changes discarded): nothing to recover next time.
        let closing_clean = self.files.close_confirmed || (close_requested && !self.doc.is_dirty());
        if closing_clean && self.files.recovery_offer.is_none() {
            self.files.session.clear_recovery();
        }
        let title = self.window_title();
        if title != self.view.title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.view.title = title;
        }
    }

    fn window_title(&self) -> String {
        let name = match &self.doc.path {
            Some(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            None => "untitled".to_owned(),
        };
        format!(
            "{}{name} — Tributary",
            if self.doc.is_dirty() { "● " } else { "" }
        )
    }

    /// Applies waiting engine events, spending at most a few milliseconds.
    pub fn drain_events(&mut self) {
        let deadline = Instant::now() + Duration::from_millis(4);
        let mut events = Vec::new();
        if let Some(engine) = &self.engine {
            while Instant::now() < deadline {
                match engine.events().try_recv() {
                    Ok(ev) => events.push(ev),
                    Err(_) => break,
                }
            }
        }
        for ev in events {
            if self.run.apply(ev, &self.doc) == Applied::RunEnded
                && self.view.bottom_tab == BottomTab::Catalog
            {
                // The run may have changed the catalogs; a hidden tab reads them when shown.
                self.reload_catalogs();
            }
        }
    }

    /// Shows the last recorded run at the moment `at` of its clock (`None`: as it
    /// ended), as dragging the timeline under the canvas does.
    pub fn show_moment(&mut self, at: Option<i64>) {
        self.view.timeline.show_at(at);
    }

    /// Opens the replay dialog at the moment `at` of the timeline: for the selected
    /// stream node, else the project's durable stream (the first, with several).
    pub fn ask_replay_at(&mut self, at: i64) {
        let project = self.doc.to_project();
        let is_stream = |id: &str| {
            matches!(
                project.node(id).map(|n| &n.config),
                Some(tributary_engine::nodes::NodeConfig::Stream(_))
            )
        };
        let durable = project.nodes.iter().find(
            |n| matches!(&n.config, tributary_engine::nodes::NodeConfig::Stream(c) if c.durable),
        );
        let node = match self.selected().filter(|id| is_stream(id)) {
            Some(id) => id.to_owned(),
            None => match durable {
                Some(n) => n.id.clone(),
                None => {
                    self.run.log(
                        LogLevel::Warning,
                        None,
                        "replay from here reads what a durable stream retained: the project has no stream with 'durable' on".to_owned(),
                    );
                    return;
                }
            },
        };
        self.ask_replay(&node);
        if let Some(draft) = self.view.replay.as_mut() {
            draft.from = chrono::DateTime::from_timestamp_millis(at)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .unwrap_or_else(|| at.to_string());
        }
    }

    /// Opens the replay dialog for stream node `node`.
    pub fn ask_replay(&mut self, node: &str) {
        self.view.replay = Some(crate::state::view::ReplayDraft {
            node: node.to_owned(),
            ..Default::default()
        });
    }

    /// Starts a replay from the dialog's stream and point; a point that cannot be read
    /// stays in the dialog with the reason.
    pub fn replay_now(&mut self) {
        let Some(draft) = self.view.replay.as_mut() else {
            return;
        };
        let text = draft.from.trim();
        let from = match text.strip_prefix('#') {
            Some(seq) => tributary_engine::api::ReplayFrom::parse_sequence_numbers(seq),
            None => tributary_engine::api::ReplayFrom::parse_time(text),
        };
        match from {
            Ok(from) => {
                let node = draft.node.clone();
                self.view.replay = None;
                self.run(tributary_engine::RunTarget::Replay(
                    tributary_engine::api::Replay { node, from },
                ));
                // The comparison with the original run is in the Diff tab.
                self.view.bottom_tab = crate::state::view::BottomTab::Diff;
                let replay = RunId {
                    seq: self.run_seq,
                    revision: self.doc.content_revision,
                };
                self.view.diff_view.compare_replay_when_recorded(replay);
            }
            Err(e) => draft.error = Some(e),
        }
    }

    /// Sends the current document and starts a run.
    pub fn run(&mut self, target: tributary_engine::RunTarget) {
        use tributary_engine::Command;
        self.doc.checkpoint();
        let base_dir = self.base_dir();
        let Some(engine) = &self.engine else { return };
        // Runs carry the content revision: moving a node does not date their results.
        let revision = self.doc.content_revision;
        let load = Command::Load {
            project: Box::new(self.doc.to_project()),
            base_dir,
            revision,
        };
        self.run_seq += 1;
        let run = RunId {
            seq: self.run_seq,
            revision,
        };
        if engine.try_send(load).is_err() || engine.try_send(Command::Run { run, target }).is_err()
        {
            self.run.log(
                LogLevel::Warning,
                None,
                "the engine is busy; try again".to_owned(),
            );
            return;
        }
        self.run.started(run);
        self.live_revision = revision;
        self.live_sent = Instant::now();
    }

    /// While a run goes on, edits reach the engine (at most about three times a second):
    /// a Lambda's event source mapping applies changed settings from its next batch.
    fn send_edits_while_running(&mut self, ctx: &egui::Context) {
        if !self.is_running() || self.doc.content_revision == self.live_revision {
            return;
        }
        let wait = LIVE_EDIT_INTERVAL.saturating_sub(self.live_sent.elapsed());
        if !wait.is_zero() {
            ctx.request_repaint_after(wait);
            return;
        }
        let base_dir = self.base_dir();
        let Some(engine) = &self.engine else { return };
        let load = tributary_engine::Command::Load {
            project: Box::new(self.doc.to_project()),
            base_dir,
            revision: self.doc.content_revision,
        };
        // A busy engine gets the edit on a later frame.
        if engine.try_send(load).is_ok() {
            self.live_revision = self.doc.content_revision;
            self.live_sent = Instant::now();
        } else {
            ctx.request_repaint_after(LIVE_EDIT_INTERVAL);
        }
    }

    /// Serve listens at `address` (`host:port`, or a port on loopback) from now on.
    pub fn set_serve_address(&mut self, address: &str) {
        self.serve_address = Some(address.to_owned());
    }

    /// Where the AWS endpoint listens, while it does.
    pub fn serving_address(&self) -> Option<&str> {
        match &self.run.serving {
            crate::state::run_view::Serving::On(a) => Some(a),
            _ => None,
        }
    }

    /// Starts serving the AWS APIs at `TRIBUTARY_SERVE_ADDRESS` (default 127.0.0.1:4566),
    /// or stops serving. The engine answers with `Event::Serving`.
    pub fn toggle_serving(&mut self) {
        use crate::state::run_view::Serving;
        use tributary_engine::Command;
        let Some(engine) = &self.engine else { return };
        let command = match &self.run.serving {
            Serving::On(_) | Serving::Starting => Command::Serve(None),
            Serving::Off | Serving::Failed(_) => {
                match tributary_engine::aws::ServeOptions::from_address(
                    self.serve_address.as_deref(),
                ) {
                    Ok(o) => Command::Serve(Some(o)),
                    Err(e) => {
                        self.run.serving = Serving::Failed(e);
                        return;
                    }
                }
            }
        };
        let starting = matches!(command, Command::Serve(Some(_)));
        if engine.try_send(command).is_ok() {
            self.run.serving = if starting {
                Serving::Starting
            } else {
                Serving::Off
            };
        }
    }

    /// Stops the current run.
    pub fn stop(&mut self) {
        if let Some(engine) = &self.engine {
            let _ = engine.try_send(tributary_engine::Command::Stop);
        }
    }

    /// Whether a run is in progress.
    pub fn is_running(&self) -> bool {
        self.run.current.is_some()
    }

    /// Works schema drift out again (off the UI thread) once a run ended or the document
    /// changed, and logs what an accept did.
    fn check_drift(&mut self) {
        let (content, finished) = (
            self.doc.content_revision,
            self.run.last.map_or(0, |r| r.seq),
        );
        if self.run.current.is_none() && self.view.drift.wants(content, finished) {
            let base = self.base_dir();
            let project = self.doc.project().clone();
            self.view.drift.refresh(project, base, content, finished);
        }
        self.view.drift.poll();
        if let Some(done) = self.view.drift.accepted.take() {
            self.run
                .log(tributary_engine::api::LogLevel::Info, None, done);
            // The catalog changed: the Catalog tab reads it again.
            self.reload_catalogs();
        }
        if let Some(e) = self.view.drift.error.take() {
            self.run
                .log(tributary_engine::api::LogLevel::Warning, None, e);
        }
    }

    /// Reads the catalog files of the project's catalog nodes again (off the UI thread).
    pub fn reload_catalogs(&mut self) {
        let base = self.base_dir();
        let files = self
            .doc
            .snarl
            .nodes()
            .filter_map(|n| match &n.config {
                tributary_engine::nodes::NodeConfig::Catalog(c) => Some((
                    n.id.clone(),
                    tributary_engine::fsutil::resolve_path(&base, &c.path),
                )),
                _ => None,
            })
            .collect();
        self.view.catalog_view.reload(files);
    }
}

/// What tests, benchmarks and the window read of the app: the document as a project,
/// the selection, and what the last run showed.
impl TributaryApp {
    /// What the Diff tab shows: its node, runs and key, and the comparison or its error.
    pub fn diff_shown(&self) -> Option<String> {
        self.view
            .diff_view
            .result
            .as_ref()
            .map(|(what, answer)| format!("{what:?}: {answer:?}"))
    }

    /// The document as a project (as it would be saved).
    pub fn project(&self) -> Project {
        self.doc.to_project()
    }

    /// The project file, if the document has one.
    pub fn path(&self) -> Option<&Path> {
        self.doc.path.as_deref()
    }

    /// Whether there are unsaved changes.
    pub fn is_dirty(&self) -> bool {
        self.doc.is_dirty()
    }

    /// The node the inspector and the Results tab show: the selected one, when exactly
    /// one is.
    pub fn selected(&self) -> Option<&str> {
        self.selection.single()
    }

    /// Where node `id` was drawn last frame, on screen.
    pub fn node_rect_on_screen(&self, id: &str) -> Option<egui::Rect> {
        let nid = self.doc.node_id(id)?;
        let canvas = &self.view.canvas;
        let (_, rect) = canvas.rects.iter().find(|(n, _)| *n == nid)?;
        Some(canvas.to_global * *rect)
    }

    /// Where the canvas was on screen last frame.
    pub fn canvas_rect(&self) -> egui::Rect {
        self.view.canvas.screen
    }

    /// The canvas's zoom (1 = 100 %).
    pub fn canvas_zoom(&self) -> f32 {
        self.view.canvas.to_global.scaling
    }

    /// Every selected node's id, in the order they were selected.
    pub fn selected_ids(&self) -> &[String] {
        self.selection.ids()
    }

    /// Selects `node` alone (or nothing).
    pub fn select(&mut self, node: Option<&str>) {
        match node {
            Some(id) => self.selection.only(id),
            None => self.selection.clear(),
        }
    }

    /// The error the last run reported for `node`.
    pub fn node_error(&self, node: &str) -> Option<&str> {
        self.run.nodes.get(node)?.error.as_deref()
    }

    /// How many rows `node`'s latest preview stands for.
    pub fn result_rows(&self, node: &str) -> Option<u64> {
        self.run.results.get(node).map(|r| r.total_rows)
    }

    /// The chart the last run drew for `node`.
    pub fn chart(&self, node: &str) -> Option<&crate::widgets::chart::ChartView> {
        self.run.charts.get(node)
    }

    /// The columns the engine reported on `node`'s output `port`.
    pub fn output_columns(&self, node: &str, port: &str) -> Option<&[String]> {
        self.run
            .columns
            .get(&(node.to_owned(), port.to_owned()))
            .map(Vec::as_slice)
    }

    /// The current run as shown (for benchmarks that fill it without an engine run).
    pub fn run_view_mut(&mut self) -> &mut RunView {
        &mut self.run
    }

    /// Whether the Catalog tab is still reading catalog files, or has read none.
    pub fn catalogs_pending(&self) -> bool {
        self.view.catalog_view.is_loading() || self.view.catalog_view.loaded.is_empty()
    }
}

impl eframe::App for TributaryApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
    }
}
