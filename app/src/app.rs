//! The main window: menu bar, palette, canvas, inspector and the bottom panel.
//!
//! The UI thread never blocks: commands go to the engine with `try_send`, events are
//! drained with `try_recv` under a time budget, and file dialogs run on their own thread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, bounded};
use egui_snarl::ui::{SnarlStyle, SnarlWidget};
use tributary_engine::engine::LogLevel;
use tributary_engine::nodes::NodeConfig;
use tributary_engine::{Command, Engine, Event, NodeStatus, Project, RunId, RunTarget};

use crate::catalog_view::CatalogView;
use crate::chart::ChartView;
use crate::document::Document;
use crate::inspector::{InspectorState, inspector_ui};
use crate::metrics_view::MetricsView;
use crate::results::{ResultTable, results_ui};
use crate::session::{Recovery, Session};
use crate::viewer::{CanvasCommand, NodeRunState, Viewer, add_node, kinds_matching};

/// The canvas widget's id, also used to read its selection.
const CANVAS_ID: &str = "tributary-canvas";

/// Tabs of the bottom panel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BottomTab {
    /// The selected node's rows.
    Results,
    /// The selected chart, or every chart as a dashboard.
    Charts,
    /// The catalogs of the project's catalog nodes, as a tree.
    Catalog,
    /// Live metrics of the streaming nodes.
    Metrics,
    /// Errors and warnings.
    Log,
}

/// One log line.
#[derive(Clone, Debug)]
pub struct LogLine {
    /// Level.
    pub level: LogLevel,
    /// The node it is about.
    pub node: Option<String>,
    /// Text.
    pub text: String,
}

/// What a file dialog was opened for.
enum DialogPurpose {
    Open,
    SaveAs,
}

/// An action waiting for the unsaved-changes question.
#[derive(Clone, Debug)]
enum Pending {
    New,
    Open(Option<PathBuf>),
    Quit,
}

/// The app state.
pub struct TributaryApp {
    /// The document being edited.
    pub doc: Document,
    engine: Option<Engine>,
    run_seq: u64,
    current_run: Option<RunId>,
    /// Run state per node.
    pub runs: BTreeMap<String, NodeRunState>,
    /// Latest rows per node.
    pub results: BTreeMap<String, ResultTable>,
    /// Live charts per series-sink node.
    pub charts: BTreeMap<String, ChartView>,
    /// Columns of each (node, output port) the engine reported; kept across runs.
    pub columns: BTreeMap<(String, String), Vec<String>>,
    /// Log lines, oldest first.
    pub log: Vec<LogLine>,
    /// The node the inspector and results show.
    pub selected: Option<String>,
    /// Select All is in effect (until the next click on the canvas).
    all_selected: bool,
    /// What Copy copied last (also put on the system clipboard).
    clipboard: Option<String>,
    refusal: Option<(String, Instant)>,
    menu_search: String,
    palette_search: String,
    inspector: InspectorState,
    /// Bottom panel tab.
    pub bottom_tab: BottomTab,
    dialog: Option<(DialogPurpose, Receiver<Option<PathBuf>>)>,
    pending: Option<Pending>,
    title: String,
    close_confirmed: bool,
    session: Session,
    recent: Vec<PathBuf>,
    last_autosave: Instant,
    autosaved_revision: u64,
    /// Unsaved changes autosave kept from a session that did not close cleanly.
    recovery_offer: Option<Recovery>,
    /// View menu: which panels show.
    pub show_palette: bool,
    /// View menu: the inspector.
    pub show_inspector: bool,
    /// View menu: the bottom panel.
    pub show_bottom: bool,
    show_shortcuts: bool,
    show_about: bool,
    /// The S3 credentials window is open.
    show_credentials: bool,
    /// What is being typed into it (memory only; applied to this session, never saved).
    credentials_draft: (String, String, String),
    /// The Catalog tab.
    pub catalog_view: CatalogView,
    /// Whether the Catalog tab was drawn last frame.
    catalog_was_visible: bool,
    /// The Metrics tab.
    pub metrics_view: MetricsView,
}

/// How often unsaved changes are written to the recovery file.
pub const AUTOSAVE_INTERVAL: Duration = Duration::from_secs(30);

/// The keyboard shortcuts, as Help lists them.
pub const SHORTCUTS: &[(&str, &str)] = &[
    ("Ctrl+N", "New project"),
    ("Ctrl+O", "Open…"),
    ("Ctrl+S", "Save"),
    ("Ctrl+Shift+S", "Save As…"),
    ("Ctrl+Z", "Undo"),
    ("Ctrl+Y / Ctrl+Shift+Z", "Redo"),
    ("Ctrl+C / Ctrl+V", "Copy / paste nodes"),
    ("Ctrl+D", "Duplicate"),
    ("Ctrl+A", "Select all"),
    ("Del", "Delete"),
    ("F5", "Run"),
    ("Shift+drag", "Select several nodes"),
    ("Right-click canvas", "Add a node (searchable)"),
    ("Scroll / drag", "Zoom / pan the canvas"),
];

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
        let repaint = ctx.clone();
        let engine = Engine::spawn_with_notify(Some(std::sync::Arc::new(move || {
            repaint.request_repaint();
        })));
        let mut app = Self {
            doc: Document::new(),
            engine: None,
            run_seq: 0,
            current_run: None,
            runs: BTreeMap::new(),
            results: BTreeMap::new(),
            charts: BTreeMap::new(),
            columns: BTreeMap::new(),
            log: Vec::new(),
            selected: None,
            all_selected: false,
            clipboard: None,
            refusal: None,
            menu_search: String::new(),
            palette_search: String::new(),
            inspector: InspectorState::default(),
            bottom_tab: BottomTab::Results,
            dialog: None,
            pending: None,
            title: String::new(),
            close_confirmed: false,
            session: Session::new(state_dir),
            recent: Vec::new(),
            last_autosave: Instant::now(),
            autosaved_revision: 0,
            recovery_offer: None,
            show_palette: true,
            show_inspector: true,
            show_bottom: true,
            show_shortcuts: false,
            show_about: false,
            show_credentials: false,
            credentials_draft: Default::default(),
            catalog_view: CatalogView::default(),
            catalog_was_visible: false,
            metrics_view: MetricsView::default(),
        };
        app.recent = app.session.recent();
        app.recovery_offer = app.session.recovery();
        match engine {
            Ok(e) => app.engine = Some(e),
            Err(e) => app.push_log(
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

    fn push_log(&mut self, level: LogLevel, node: Option<String>, text: String) {
        self.log.push(LogLine { level, node, text });
    }

    /// Opens a project file, replacing the document.
    pub fn open_path(&mut self, path: &Path) {
        match Project::load_for_editing(path) {
            Ok((p, problems)) => {
                for problem in problems {
                    let node = problem.node_id().map(str::to_owned);
                    self.push_log(LogLevel::Warning, node, problem.to_string());
                }
                self.doc = Document::from_project(&p, Some(path.to_path_buf()));
                self.session.add_recent(path);
                self.recent = self.session.recent();
                self.runs.clear();
                self.results.clear();
                self.charts.clear();
                self.selected = None;
                self.current_run = None;
            }
            Err(e) => {
                self.push_log(
                    LogLevel::Error,
                    None,
                    format!("cannot open {}:\n{e}", path.display()),
                );
                self.bottom_tab = BottomTab::Log;
            }
        }
    }

    /// Saves to `path`.
    pub fn save_to(&mut self, path: &Path) {
        self.doc.checkpoint();
        let project = self.doc.to_project();
        match project.save(path) {
            Ok(()) => {
                self.doc.mark_saved(path.to_path_buf());
                self.session.add_recent(path);
                self.recent = self.session.recent();
                self.session.clear_recovery();
            }
            Err(e) => {
                self.push_log(LogLevel::Error, None, format!("cannot save: {e}"));
                self.bottom_tab = BottomTab::Log;
            }
        }
    }

    fn save(&mut self) {
        match self.doc.path.clone() {
            Some(p) => self.save_to(&p),
            None => self.open_dialog(DialogPurpose::SaveAs),
        }
    }

    fn open_dialog(&mut self, purpose: DialogPurpose) {
        if self.dialog.is_some() {
            return;
        }
        let (tx, rx) = bounded(1);
        let start_dir = self
            .doc
            .path
            .as_ref()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let save = matches!(purpose, DialogPurpose::SaveAs);
        let spawned = std::thread::Builder::new()
            .name("tributary-file-dialog".to_owned())
            .spawn(move || {
                let mut d = rfd::FileDialog::new().add_filter("Tributary project", &["json"]);
                if let Some(dir) = start_dir {
                    d = d.set_directory(dir);
                }
                let picked = if save { d.save_file() } else { d.pick_file() };
                let _ = tx.send(picked);
            });
        match spawned {
            Ok(_) => self.dialog = Some((purpose, rx)),
            Err(e) => self.push_log(
                LogLevel::Error,
                None,
                format!("cannot open a file dialog: {e}"),
            ),
        }
    }

    fn poll_dialog(&mut self) {
        let Some((_, rx)) = &self.dialog else { return };
        let Ok(picked) = rx.try_recv() else { return };
        let Some((purpose, _)) = self.dialog.take() else {
            return;
        };
        if let Some(path) = picked {
            match purpose {
                DialogPurpose::Open => self.open_path(&path),
                DialogPurpose::SaveAs => self.save_to(&path),
            }
        }
    }

    /// Asks about unsaved changes first when there are any.
    fn request(&mut self, action: Pending) {
        if self.doc.is_dirty() {
            self.pending = Some(action);
        } else {
            self.perform(action);
        }
    }

    fn perform(&mut self, action: Pending) {
        match action {
            Pending::New => {
                self.doc = Document::new();
                self.runs.clear();
                self.results.clear();
                self.charts.clear();
                self.selected = None;
            }
            Pending::Open(Some(p)) => self.open_path(&p),
            Pending::Open(None) => self.open_dialog(DialogPurpose::Open),
            Pending::Quit => self.close_confirmed = true,
        }
    }

    /// Sends the current document and starts a run.
    pub fn run(&mut self, target: RunTarget) {
        self.metrics_view.clear();
        self.doc.checkpoint();
        let Some(engine) = &self.engine else { return };
        let base_dir = self
            .doc
            .path
            .as_ref()
            .and_then(|p| std::path::absolute(p).ok())
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")));
        let revision = self.doc.revision;
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
            self.push_log(
                LogLevel::Warning,
                None,
                "the engine is busy; try again".to_owned(),
            );
            return;
        }
        self.current_run = Some(run);
    }

    /// Wires `from_node.from_port` to `to_node.to_port` as a drag on the canvas would;
    /// a refused wire shows its reason at the pointer and in the log.
    pub fn connect(
        &mut self,
        from_node: &str,
        from_port: &str,
        to_node: &str,
        to_port: &str,
    ) -> Result<(), String> {
        let pins = (|| {
            let f = self.doc.node_id(from_node)?;
            let t = self.doc.node_id(to_node)?;
            let output = self.doc.snarl[f]
                .kind()
                .outputs()
                .iter()
                .position(|p| p.name == from_port)?;
            let input = self.doc.snarl[t]
                .kind()
                .inputs()
                .iter()
                .position(|p| p.name == to_port)?;
            Some((
                egui_snarl::OutPinId { node: f, output },
                egui_snarl::InPinId { node: t, input },
            ))
        })();
        let result = match pins {
            Some((f, t)) => crate::viewer::try_connect(&mut self.doc.snarl, f, t),
            None => Err("no such node or port".to_owned()),
        };
        match &result {
            Ok(()) => {
                self.doc.checkpoint();
            }
            Err(reason) => {
                self.push_log(LogLevel::Warning, None, reason.clone());
                self.refusal = Some((reason.clone(), Instant::now()));
            }
        }
        result
    }

    /// Stops the current run.
    pub fn stop(&mut self) {
        if let Some(engine) = &self.engine {
            let _ = engine.try_send(Command::Stop);
        }
    }

    /// Whether a run is in progress.
    pub fn is_running(&self) -> bool {
        self.current_run.is_some()
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
            self.apply(ev);
        }
    }

    fn apply(&mut self, ev: Event) {
        let current = self.current_run;
        let ours = |run: &RunId| Some(*run) == current;
        match ev {
            Event::Loaded { .. } => {}
            Event::RunStarted { run, nodes } if ours(&run) => {
                for n in nodes {
                    self.runs.insert(
                        n,
                        NodeRunState {
                            status: Some(NodeStatus::Idle),
                            ..Default::default()
                        },
                    );
                }
            }
            Event::NodeStarted { run, node } if ours(&run) => {
                let s = self.runs.entry(node).or_default();
                s.status = Some(NodeStatus::Running);
                s.error = None;
            }
            Event::Metrics { run, node, sample } if ours(&run) => {
                let s = self.runs.entry(node.clone()).or_default();
                if s.status.is_none() || s.status == Some(NodeStatus::Idle) {
                    s.status = Some(NodeStatus::Running);
                }
                s.records_per_sec = Some(sample.records_out_per_sec.max(sample.records_in_per_sec));
                s.backpressure = Some(sample.backpressure);
                self.metrics_view.add(&node, sample);
            }
            Event::NodeProgress {
                run, node, message, ..
            } if ours(&run) => {
                self.runs.entry(node).or_default().progress = Some(message);
            }
            Event::NodeFinished {
                run, node, stats, ..
            } if ours(&run) => {
                let s = self.runs.entry(node).or_default();
                s.status = Some(NodeStatus::Ok);
                s.records_out = Some(stats.records_out);
                s.progress = None;
            }
            Event::NodeFailed { run, node, error } if ours(&run) => {
                let s = self.runs.entry(node.clone()).or_default();
                s.status = Some(if error == "stopped" {
                    NodeStatus::Stopped
                } else {
                    NodeStatus::Error
                });
                s.error = Some(error.clone());
                self.push_log(LogLevel::Error, Some(node), error);
            }
            Event::NodeSkipped { run, node, reason } if ours(&run) => {
                let s = self.runs.entry(node).or_default();
                s.status = Some(NodeStatus::Skipped);
                s.error = Some(reason);
            }
            Event::Columns {
                node, port, schema, ..
            } => {
                let names = schema.fields().iter().map(|f| f.name().clone()).collect();
                self.columns.insert((node, port), names);
            }
            Event::Preview {
                run,
                node,
                schema,
                batches,
                total_rows,
                ..
            } if ours(&run) => {
                let chart =
                    self.doc
                        .node_id(&node)
                        .and_then(|nid| match &self.doc.snarl[nid].config {
                            NodeConfig::SeriesSink(c) => Some(ChartView::new(c, &batches)),
                            _ => None,
                        });
                if let Some(chart) = chart {
                    self.charts.insert(node.clone(), chart);
                }
                self.results
                    .insert(node, ResultTable::new(schema, batches, total_rows));
            }
            Event::Log {
                run,
                node,
                level,
                message,
            } if run.is_none_or(|r| ours(&r)) => {
                self.push_log(level, node, message);
            }
            Event::RunFinished { run, status, .. } if ours(&run) => {
                self.push_log(
                    LogLevel::Info,
                    None,
                    format!("run {} finished: {status:?}", run.seq),
                );
                self.current_run = None;
                // The run may have changed the catalogs; a hidden tab reads them when shown.
                if self.bottom_tab == BottomTab::Catalog {
                    self.reload_catalogs();
                }
            }
            // Events of older runs: the document changed since; drop them.
            _ => {}
        }
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        use egui::{Key, KeyboardShortcut, Modifiers};
        let cmd = Modifiers::COMMAND;
        let shift_cmd = Modifiers::COMMAND | Modifiers::SHIFT;
        let pressed = |s: KeyboardShortcut| ctx.input_mut(|i| i.consume_shortcut(&s));
        if pressed(KeyboardShortcut::new(shift_cmd, Key::S)) {
            self.open_dialog(DialogPurpose::SaveAs);
        }
        if pressed(KeyboardShortcut::new(cmd, Key::S)) {
            self.save();
        }
        if pressed(KeyboardShortcut::new(cmd, Key::O)) {
            self.request(Pending::Open(None));
        }
        if pressed(KeyboardShortcut::new(cmd, Key::N)) {
            self.request(Pending::New);
        }
        if pressed(KeyboardShortcut::new(shift_cmd, Key::Z))
            || pressed(KeyboardShortcut::new(cmd, Key::Y))
        {
            self.doc.redo();
        }
        if pressed(KeyboardShortcut::new(cmd, Key::Z)) {
            self.doc.undo();
        }
        if pressed(KeyboardShortcut::new(Modifiers::NONE, Key::F5)) {
            self.run(RunTarget::All);
        }
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        if pressed(KeyboardShortcut::new(Modifiers::NONE, Key::Delete)) {
            self.delete_selected(ctx);
        }
        if pressed(KeyboardShortcut::new(cmd, Key::D)) {
            self.duplicate_selected(ctx);
        }
        if pressed(KeyboardShortcut::new(cmd, Key::A)) {
            self.all_selected = true;
        }
        // Copy and paste arrive as events (the platform's clipboard shortcuts).
        let (copy, paste) = ctx.input(|i| {
            let copy = i
                .events
                .iter()
                .any(|e| matches!(e, egui::Event::Copy | egui::Event::Cut));
            let paste = i.events.iter().find_map(|e| match e {
                egui::Event::Paste(text) => Some(text.clone()),
                _ => None,
            });
            (copy, paste)
        });
        if copy {
            self.copy_selected(ctx);
        }
        if let Some(text) = paste {
            // Another application's text may not be nodes; then our own last copy is used.
            if text.contains("\"nodes\"") {
                self.paste(&text);
            } else if let Some(own) = self.clipboard.clone() {
                self.paste(&own);
            }
        }
    }

    /// The nodes an edit command applies to: everything after Select All, else the
    /// canvas's selection, else the node shown in the inspector.
    pub fn selection(&self, ctx: &egui::Context) -> Vec<egui_snarl::NodeId> {
        if self.all_selected {
            return self.doc.snarl.node_ids().map(|(id, _)| id).collect();
        }
        let mut nodes = egui_snarl::ui::get_selected_nodes(egui::Id::new(CANVAS_ID), ctx);
        if let Some(nid) = self.selected.as_ref().and_then(|s| self.doc.node_id(s))
            && !nodes.contains(&nid)
        {
            nodes.push(nid);
        }
        nodes
    }

    /// The columns arriving at `node`'s inputs, as the engine last reported them.
    fn input_columns(&self, node: egui_snarl::NodeId) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (from, to) in self.doc.snarl.wires() {
            if to.node != node {
                continue;
            }
            let up = &self.doc.snarl[from.node];
            let Some(port) = up.kind().outputs().get(from.output) else {
                continue;
            };
            if let Some(cols) = self.columns.get(&(up.id.clone(), port.name.to_owned())) {
                for c in cols {
                    if !out.contains(c) {
                        out.push(c.clone());
                    }
                }
            }
        }
        out
    }

    /// What Copy copied last.
    pub fn clipboard_text(&self) -> Option<String> {
        self.clipboard.clone()
    }

    /// Deletes the selected nodes (and their wires).
    pub fn delete_selected(&mut self, ctx: &egui::Context) {
        let nodes = self.selection(ctx);
        for nid in &nodes {
            self.doc.snarl.remove_node(*nid);
        }
        self.selected = None;
        self.all_selected = false;
        if !nodes.is_empty() {
            self.doc.checkpoint();
        }
    }

    /// Copies the selected nodes and the wires among them.
    pub fn copy_selected(&mut self, ctx: &egui::Context) {
        let nodes = self.selection(ctx);
        if nodes.is_empty() {
            return;
        }
        let text = self.doc.copy_nodes(&nodes);
        ctx.copy_text(text.clone());
        self.clipboard = Some(text);
    }

    /// Pastes copied nodes beside where they were, with fresh ids; they become selected.
    pub fn paste(&mut self, text: &str) {
        match self.doc.paste_nodes(text, egui::vec2(40.0, 40.0)) {
            Ok(added) => {
                self.selected = added
                    .first()
                    .and_then(|n| self.doc.snarl.get_node(*n))
                    .map(|n| n.id.clone());
                self.all_selected = false;
                self.doc.checkpoint();
            }
            Err(e) => self.push_log(LogLevel::Warning, None, e),
        }
    }

    /// Duplicates the selected nodes (with the wires among them).
    pub fn duplicate_selected(&mut self, ctx: &egui::Context) {
        let nodes = self.selection(ctx);
        if !nodes.is_empty() {
            let text = self.doc.copy_nodes(&nodes);
            self.paste(&text);
        }
    }

    fn menu_bar(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("New").clicked() {
                    self.request(Pending::New);
                }
                if ui.button("Open…").clicked() {
                    self.request(Pending::Open(None));
                }
                ui.add_enabled_ui(!self.recent.is_empty(), |ui| {
                    ui.menu_button("Open Recent", |ui| {
                        for p in self.recent.clone() {
                            if ui.button(p.display().to_string()).clicked() {
                                self.request(Pending::Open(Some(p)));
                                ui.close();
                            }
                        }
                    });
                });
                ui.menu_button("Examples", |ui| {
                    for example in examples() {
                        let name = example
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        if ui.button(name).clicked() {
                            self.request(Pending::Open(Some(example)));
                        }
                    }
                });
                if ui.button("Save").clicked() {
                    self.save();
                }
                if ui.button("Save As…").clicked() {
                    self.open_dialog(DialogPurpose::SaveAs);
                }
                ui.separator();
                if ui.button("Quit").clicked() {
                    self.request(Pending::Quit);
                }
            });
            ui.menu_button("Edit", |ui| {
                if ui
                    .add_enabled(self.doc.can_undo(), egui::Button::new("Undo"))
                    .clicked()
                {
                    self.doc.undo();
                }
                if ui
                    .add_enabled(self.doc.can_redo(), egui::Button::new("Redo"))
                    .clicked()
                {
                    self.doc.redo();
                }
                ui.separator();
                let ctx = ui.ctx().clone();
                let any = !self.selection(&ctx).is_empty();
                if ui
                    .add_enabled(any, egui::Button::new("Copy").shortcut_text("Ctrl+C"))
                    .clicked()
                {
                    self.copy_selected(&ctx);
                    ui.close();
                }
                if ui
                    .add_enabled(
                        self.clipboard.is_some(),
                        egui::Button::new("Paste").shortcut_text("Ctrl+V"),
                    )
                    .clicked()
                    && let Some(text) = self.clipboard.clone()
                {
                    self.paste(&text);
                    ui.close();
                }
                if ui
                    .add_enabled(any, egui::Button::new("Duplicate").shortcut_text("Ctrl+D"))
                    .clicked()
                {
                    self.duplicate_selected(&ctx);
                    ui.close();
                }
                if ui
                    .add_enabled(any, egui::Button::new("Delete").shortcut_text("Del"))
                    .clicked()
                {
                    self.delete_selected(&ctx);
                    ui.close();
                }
                if ui
                    .add(egui::Button::new("Select All").shortcut_text("Ctrl+A"))
                    .clicked()
                {
                    self.all_selected = true;
                    ui.close();
                }
            });
            ui.menu_button("Run", |ui| {
                if ui
                    .add_enabled(!self.is_running(), egui::Button::new("Run"))
                    .clicked()
                {
                    self.run(RunTarget::All);
                }
                if ui
                    .add_enabled(self.is_running(), egui::Button::new("Stop"))
                    .clicked()
                {
                    self.stop();
                }
                let sel = self.selected.clone();
                if ui
                    .add_enabled(
                        sel.is_some() && !self.is_running(),
                        egui::Button::new("Run selected node"),
                    )
                    .clicked()
                    && let Some(id) = sel
                {
                    self.run(RunTarget::Node(id));
                }
            });
            ui.menu_button("Cloud", |ui| {
                if ui.button("S3 credentials for this session…").clicked() {
                    self.show_credentials = true;
                    ui.close();
                }
            });
            ui.menu_button("View", |ui| {
                ui.checkbox(&mut self.show_palette, "Palette");
                ui.checkbox(&mut self.show_inspector, "Inspector");
                ui.checkbox(&mut self.show_bottom, "Results, charts and log");
                ui.separator();
                for (tab, name) in [
                    (BottomTab::Results, "Results"),
                    (BottomTab::Charts, "Charts"),
                    (BottomTab::Catalog, "Catalog"),
                    (BottomTab::Metrics, "Metrics"),
                    (BottomTab::Log, "Log"),
                ] {
                    if ui.button(name).clicked() {
                        self.show_bottom = true;
                        self.bottom_tab = tab;
                        ui.close();
                    }
                }
                ui.separator();
                let dark = ui.visuals().dark_mode;
                if ui
                    .button(if dark { "Light theme" } else { "Dark theme" })
                    .clicked()
                {
                    ui.ctx().set_theme(if dark {
                        egui::Theme::Light
                    } else {
                        egui::Theme::Dark
                    });
                    ui.close();
                }
            });
            ui.menu_button("Help", |ui| {
                if ui.button("Keyboard shortcuts").clicked() {
                    self.show_shortcuts = true;
                    ui.close();
                }
                if ui.button("About Tributary").clicked() {
                    self.show_about = true;
                    ui.close();
                }
            });
            ui.separator();
            self.environment_ui(ui);
            if ui
                .add_enabled(!self.is_running(), egui::Button::new("▶ Run"))
                .clicked()
            {
                self.run(RunTarget::All);
            }
            if ui
                .add_enabled(self.is_running(), egui::Button::new("■ Stop"))
                .clicked()
            {
                self.stop();
            }
        });
    }

    /// The environment picker: where runs execute (embedded engine or a cluster, memory
    /// streams or a broker). Switching is an edit: it is saved and can be undone.
    fn environment_ui(&mut self, ui: &mut egui::Ui) {
        let doc = &mut self.doc;
        let mut names = vec![tributary_engine::project::LOCAL_ENV.to_owned()];
        names.extend(doc.environments.keys().cloned());
        let describe = |name: &str| -> String {
            let Some(env) = doc.environments.get(name) else {
                return "embedded DataFusion engine, in-process streams".to_owned();
            };
            let mut parts = Vec::new();
            parts.push(match &env.scheduler {
                Some(s) => format!("Ballista scheduler {s}"),
                None => "embedded engine".to_owned(),
            });
            parts.push(match &env.broker {
                Some(b) => format!("streams in {b}"),
                None => "in-process streams".to_owned(),
            });
            if !env.description.is_empty() {
                parts.push(env.description.clone());
            }
            parts.join(", ")
        };
        let current = doc.environment.clone();
        let mut chosen = None;
        let label = ui.label("Environment");
        egui::ComboBox::from_id_salt("environment")
            .selected_text(doc.environment.as_str())
            .show_ui(ui, |ui| {
                for name in &names {
                    if ui
                        .selectable_label(*name == doc.environment, name.as_str())
                        .on_hover_ui(|ui| {
                            ui.label(describe(name));
                        })
                        .clicked()
                    {
                        chosen = Some(name.clone());
                    }
                }
            })
            .response
            .labelled_by(label.id)
            .on_hover_ui(|ui| {
                ui.label(describe(&current));
            });
        if let Some(name) = chosen
            && name != doc.environment
        {
            doc.environment = name;
            doc.checkpoint();
        }
    }

    fn palette_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Palette");
        ui.add(egui::TextEdit::singleline(&mut self.palette_search).hint_text("Search nodes"));
        egui::ScrollArea::vertical().show(ui, |ui| {
            for (category, kinds) in kinds_matching(&self.palette_search) {
                ui.label(egui::RichText::new(format!("{category:?}")).strong());
                for kind in kinds {
                    // Click to add, or drag onto the canvas to add where it is dropped.
                    let r = ui
                        .horizontal(|ui| {
                            ui.label(crate::viewer::icon(kind));
                            ui.add(
                                egui::Button::new(format!("+ {}", kind.as_str()))
                                    .sense(egui::Sense::click_and_drag()),
                            )
                        })
                        .inner
                        .on_hover_text(format!(
                            "{} Click to add, or drag onto the canvas.",
                            kind.description()
                        ));
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
                    ui.weak(kind.description());
                    if r.clicked() {
                        let n = self.doc.snarl.nodes().count() as f32;
                        add_node(
                            &mut self.doc.snarl,
                            kind,
                            egui::pos2(80.0 + 24.0 * n, 80.0 + 16.0 * n),
                        );
                        self.doc.checkpoint();
                    }
                }
                ui.add_space(6.0);
            }
        });
    }

    fn bottom_ui(&mut self, ui: &mut egui::Ui) {
        // Keep the panel's size when its content is small (egui panels shrink to fit).
        ui.set_min_height(ui.available_height());
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.bottom_tab, BottomTab::Results, "Results");
            ui.selectable_value(&mut self.bottom_tab, BottomTab::Charts, "Charts");
            ui.selectable_value(&mut self.bottom_tab, BottomTab::Catalog, "Catalog");
            ui.selectable_value(&mut self.bottom_tab, BottomTab::Metrics, "Metrics");
            let errors = self
                .log
                .iter()
                .filter(|l| l.level == LogLevel::Error)
                .count();
            let log_label = if errors > 0 {
                format!("Log ({errors})")
            } else {
                "Log".to_owned()
            };
            ui.selectable_value(&mut self.bottom_tab, BottomTab::Log, log_label);
        });
        ui.separator();
        // The catalogs are read again whenever the tab comes into view, however it was
        // chosen (tab bar, View menu).
        let catalog_visible = self.bottom_tab == BottomTab::Catalog;
        if catalog_visible && !self.catalog_was_visible {
            self.reload_catalogs();
        }
        self.catalog_was_visible = catalog_visible;
        match self.bottom_tab {
            BottomTab::Results => match self.selected.as_ref().and_then(|s| self.results.get(s)) {
                Some(table) => results_ui(ui, table),
                None => {
                    ui.weak("Select a node and run the graph to see its rows.");
                }
            },
            BottomTab::Charts => self.charts_ui(ui),
            BottomTab::Catalog => {
                if self.catalog_view.ui(ui) {
                    self.reload_catalogs();
                }
            }
            BottomTab::Metrics => {
                if let Some(node) = self.metrics_view.ui(ui) {
                    self.selected = Some(node);
                }
            }
            BottomTab::Log => {
                let mut select = None;
                egui::ScrollArea::vertical()
                    .stick_to_bottom(true)
                    .show(ui, |ui| {
                        for line in &self.log {
                            let color = match line.level {
                                LogLevel::Error => egui::Color32::from_rgb(230, 80, 80),
                                LogLevel::Warning => egui::Color32::from_rgb(230, 190, 80),
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
                if select.is_some() {
                    self.selected = select;
                }
            }
        }
    }

    /// Reads the catalog files of the project's catalog nodes again (off the UI thread).
    pub fn reload_catalogs(&mut self) {
        let base = self
            .doc
            .path
            .as_ref()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."));
        let files = self
            .doc
            .snarl
            .nodes()
            .filter_map(|n| match &n.config {
                NodeConfig::Catalog(c) => Some((
                    n.id.clone(),
                    tributary_engine::project::resolve_path(&base, &c.path),
                )),
                _ => None,
            })
            .collect();
        self.catalog_view.reload(files);
    }

    /// The selected chart large, or all charts as a dashboard grid.
    fn charts_ui(&mut self, ui: &mut egui::Ui) {
        if self.charts.is_empty() {
            ui.weak("Add a series_sink node, wire a stream or table into it, and run.");
            return;
        }
        let height = ui.available_height() - 24.0;
        let title = |id: &str| {
            self.doc
                .node_id(id)
                .map(|n| self.doc.snarl[n].name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| id.to_owned())
        };
        if let Some(view) = self.selected.as_ref().and_then(|s| self.charts.get(s)) {
            let id = self.selected.clone().unwrap_or_default();
            ui.label(egui::RichText::new(title(&id)).strong());
            crate::chart::chart_ui(
                ui,
                &format!("tab-{id}"),
                view,
                height.max(80.0),
                crate::chart::Detail::Full,
            );
            return;
        }
        let columns = self.charts.len().clamp(1, 3);
        let mut select = None;
        ui.columns(columns, |cols| {
            for (i, (id, view)) in self.charts.iter().enumerate() {
                let ui = &mut cols[i % columns];
                if ui.link(egui::RichText::new(title(id)).strong()).clicked() {
                    select = Some(id.clone());
                }
                let rows = self.charts.len().div_ceil(columns) as f32;
                crate::chart::chart_ui(
                    ui,
                    &format!("dash-{id}"),
                    view,
                    (height / rows - 24.0).max(80.0),
                    crate::chart::Detail::Medium,
                );
            }
        });
        if select.is_some() {
            self.selected = select;
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

    /// Draws one frame into `ui` (the whole window).
    pub fn frame_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.drain_events();
        self.poll_dialog();
        self.catalog_view.poll();
        if self.catalog_view.is_loading() {
            ctx.request_repaint_after(Duration::from_millis(50));
        }
        if self.dialog.is_some() {
            ctx.request_repaint_after(Duration::from_millis(100));
        }
        self.shortcuts(&ctx);

        egui::Panel::top("menu").show(ui, |ui| self.menu_bar(ui));
        if self.show_palette {
            egui::Panel::left("palette")
                .default_size(200.0)
                .min_size(160.0)
                .show(ui, |ui| self.palette_ui(ui));
        }
        if self.show_inspector {
            egui::Panel::right("inspector")
                .default_size(360.0)
                .min_size(260.0)
                .show(ui, |ui| {
                    ui.set_min_width(ui.available_width());
                    egui::ScrollArea::vertical().show(ui, |ui| {
                        let node = self.selected.as_ref().and_then(|id| self.doc.node_id(id));
                        match node {
                            Some(nid) => {
                                let inputs = self.input_columns(nid);
                                if inspector_ui(
                                    ui,
                                    &mut self.doc.snarl[nid],
                                    &mut self.inspector,
                                    &inputs,
                                ) {
                                    self.doc.checkpoint();
                                }
                                if let Some(err) = self
                                    .selected
                                    .as_ref()
                                    .and_then(|id| self.runs.get(id))
                                    .and_then(|s| s.error.clone())
                                {
                                    ui.separator();
                                    ui.colored_label(egui::Color32::from_rgb(230, 80, 80), err);
                                }
                            }
                            None => {
                                ui.heading("Inspector");
                                ui.weak("Select a node to edit it.");
                            }
                        }
                    });
                });
        }
        if self.show_bottom {
            egui::Panel::bottom("bottom")
                .default_size(280.0)
                .min_size(120.0)
                .resizable(true)
                .show(ui, |ui| self.bottom_ui(ui));
        } else {
            self.catalog_was_visible = false;
        }

        let mut commands = Vec::new();
        let mut refusal = None;
        let mut clicked = None;
        let mut to_global = None;
        let mut dropped = None;
        egui::CentralPanel::default().show(ui, |ui| {
            let mut viewer = Viewer {
                runs: &self.runs,
                refusal: &mut refusal,
                commands: &mut commands,
                menu_search: &mut self.menu_search,
                selected: self.selected.as_deref(),
                clicked: &mut clicked,
                charts: &self.charts,
                all_selected: self.all_selected,
                to_global: &mut to_global,
            };
            let style = SnarlStyle::new();
            let canvas = SnarlWidget::new()
                .id(egui::Id::new(CANVAS_ID))
                .style(style)
                .show(&mut self.doc.snarl, &mut viewer, ui);
            dropped = canvas
                .dnd_release_payload::<tributary_engine::nodes::NodeKind>()
                .zip(ui.ctx().pointer_interact_pos());
        });
        // A palette entry dropped on the canvas: a new node where it was dropped.
        if let Some((kind, screen)) = dropped {
            let at = to_global.map_or(screen, |t| t.inverse() * screen);
            let nid = add_node(&mut self.doc.snarl, *kind, at);
            self.selected = self.doc.snarl.get_node(nid).map(|n| n.id.clone());
            self.doc.checkpoint();
        }
        if let Some(r) = refusal {
            self.push_log(LogLevel::Warning, None, r.clone());
            self.refusal = Some((r, Instant::now()));
        }
        if let Some((text, at)) = &self.refusal {
            if at.elapsed() < Duration::from_secs(4) {
                egui::Tooltip::always_open(
                    ctx.clone(),
                    egui::LayerId::background(),
                    egui::Id::new("refusal"),
                    egui::PopupAnchor::Pointer,
                )
                .show(|ui| {
                    ui.colored_label(egui::Color32::from_rgb(230, 80, 80), text);
                });
                ctx.request_repaint_after(Duration::from_millis(250));
            } else {
                self.refusal = None;
            }
        }
        for c in commands {
            match c {
                CanvasCommand::RunNode(id) => self.run(RunTarget::Node(id)),
            }
        }

        // Selection: a click on a node's title or body, or the canvas's own selection
        // (shift-click, rectangle).
        if clicked.is_some() {
            self.selected = clicked;
            self.all_selected = false;
        } else {
            let selected = egui_snarl::ui::get_selected_nodes(egui::Id::new(CANVAS_ID), &ctx);
            if let Some(first) = selected.first()
                && let Some(n) = self.doc.snarl.get_node(*first)
            {
                self.selected = Some(n.id.clone());
            }
        }
        // One interaction, one undo step: checkpoint when the pointer is released.
        if ctx.input(|i| i.pointer.any_released()) {
            self.doc.checkpoint();
        }

        self.unsaved_prompt(&ctx);
        self.recovery_prompt(&ctx);
        self.help_windows(&ctx);
        self.autosave(&ctx);
        if ctx.input(|i| i.viewport().close_requested())
            && self.doc.is_dirty()
            && !self.close_confirmed
        {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.pending = Some(Pending::Quit);
        }
        if self.close_confirmed {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        // Closing cleanly (saved, or changes discarded): nothing to recover next time.
        let closing_clean = self.close_confirmed
            || (ctx.input(|i| i.viewport().close_requested()) && !self.doc.is_dirty());
        if closing_clean && self.recovery_offer.is_none() {
            self.session.clear_recovery();
        }
        let title = self.window_title();
        if title != self.title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.title = title;
        }
    }

    /// Writes unsaved changes to the recovery file every [`AUTOSAVE_INTERVAL`].
    fn autosave(&mut self, ctx: &egui::Context) {
        if !self.doc.is_dirty() {
            return;
        }
        if self.doc.revision != self.autosaved_revision
            && self.last_autosave.elapsed() >= AUTOSAVE_INTERVAL
        {
            self.autosave_now();
        }
        ctx.request_repaint_after(AUTOSAVE_INTERVAL);
    }

    /// Writes the recovery file now.
    pub fn autosave_now(&mut self) {
        self.doc.checkpoint();
        self.session
            .autosave(&self.doc.to_project(), self.doc.path.clone());
        self.autosaved_revision = self.doc.revision;
        self.last_autosave = Instant::now();
    }

    /// Whether unsaved changes from a crashed session are being offered.
    pub fn recovery_offered(&self) -> bool {
        self.recovery_offer.is_some()
    }

    fn recovery_prompt(&mut self, ctx: &egui::Context) {
        let Some(offer) = self.recovery_offer.clone() else {
            return;
        };
        let mut decision = None;
        egui::Window::new("Recover unsaved changes?")
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
            .show(ctx, |ui| {
                let what = offer
                    .path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "an untitled project".to_owned());
                ui.label(format!(
                    "Tributary did not close cleanly. Autosave kept unsaved changes to {what} \
                     from {}.",
                    offer.saved_at
                ));
                ui.horizontal(|ui| {
                    if ui.button("Recover").clicked() {
                        decision = Some(true);
                    }
                    if ui.button("Discard").clicked() {
                        decision = Some(false);
                    }
                });
            });
        match decision {
            Some(true) => {
                self.recovery_offer = None;
                match Project::parse_for_editing(&offer.project.to_string()) {
                    Ok((project, _)) => {
                        self.doc = Document::recovered(&project, offer.path.clone());
                        self.runs.clear();
                        self.results.clear();
                        self.charts.clear();
                        self.selected = None;
                    }
                    Err(problems) => {
                        for p in problems {
                            self.push_log(LogLevel::Error, None, format!("recovery: {p}"));
                        }
                    }
                }
            }
            Some(false) => {
                self.recovery_offer = None;
                self.session.clear_recovery();
            }
            None => {}
        }
    }

    fn help_windows(&mut self, ctx: &egui::Context) {
        egui::Window::new("Keyboard shortcuts")
            .open(&mut self.show_shortcuts)
            .resizable(false)
            .show(ctx, |ui| {
                egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
                    for (keys, what) in SHORTCUTS {
                        ui.monospace(*keys);
                        ui.label(*what);
                        ui.end_row();
                    }
                });
            });
        self.credentials_window(ctx);
        egui::Window::new("About Tributary")
            .open(&mut self.show_about)
            .resizable(false)
            .show(ctx, |ui| {
                ui.heading(format!("Tributary {}", env!("CARGO_PKG_VERSION")));
                ui.label("A desktop data-flow designer for batch and real-time pipelines.");
                ui.label("Built on DataFusion, egui, egui-snarl and egui_plot.");
            });
    }

    /// S3 credentials typed by the user: applied to this process only (the engine keeps
    /// them in memory), never written to the project, the recovery file or the log.
    fn credentials_window(&mut self, ctx: &egui::Context) {
        use tributary_engine::lake::bucket::{
            SessionCredentials, session_access_key, set_session_credentials,
        };
        let mut open = self.show_credentials;
        egui::Window::new("S3 credentials")
            .open(&mut open)
            .resizable(false)
            .show(ctx, |ui| {
                ui.label(
                    "Used by s3:// buckets in this session instead of the environment and \
                     ~/.aws/credentials. Kept in memory only: never saved with the project.",
                );
                let (key, secret, token) = &mut self.credentials_draft;
                egui::Grid::new("credentials")
                    .num_columns(2)
                    .show(ui, |ui| {
                        ui.label("Access key id");
                        ui.text_edit_singleline(key);
                        ui.end_row();
                        ui.label("Secret access key");
                        ui.add(egui::TextEdit::singleline(secret).password(true));
                        ui.end_row();
                        ui.label("Session token (optional)");
                        ui.add(egui::TextEdit::singleline(token).password(true));
                        ui.end_row();
                    });
                ui.horizontal(|ui| {
                    let ready = !key.trim().is_empty() && !secret.is_empty();
                    if ui
                        .add_enabled(ready, egui::Button::new("Use for this session"))
                        .clicked()
                    {
                        set_session_credentials(Some(SessionCredentials {
                            access_key_id: key.trim().to_owned(),
                            secret_access_key: std::mem::take(secret),
                            session_token: Some(std::mem::take(token)).filter(|t| !t.is_empty()),
                        }));
                    }
                    if ui.button("Forget").clicked() {
                        set_session_credentials(None);
                        secret.clear();
                        token.clear();
                    }
                });
                match session_access_key() {
                    Some(k) => ui.label(format!("In use: access key {k} (this session only)")),
                    None => ui.weak("In use: the environment or ~/.aws/credentials"),
                };
            });
        self.show_credentials = open;
    }

    fn unsaved_prompt(&mut self, ctx: &egui::Context) {
        let Some(action) = self.pending.clone() else {
            return;
        };
        let mut decision = None;
        egui::Window::new("Unsaved changes")
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
            .show(ctx, |ui| {
                ui.label("The project has changes that are not saved.");
                ui.horizontal(|ui| {
                    if ui.button("Save").clicked() {
                        decision = Some(0);
                    }
                    if ui.button("Discard").clicked() {
                        decision = Some(1);
                    }
                    if ui.button("Cancel").clicked() {
                        decision = Some(2);
                    }
                });
            });
        match decision {
            Some(0) => {
                self.pending = None;
                self.save();
                if !self.doc.is_dirty() {
                    self.perform(action);
                }
            }
            Some(1) => {
                self.pending = None;
                self.perform(action);
            }
            Some(_) => self.pending = None,
            None => {}
        }
    }
}

/// The bundled example projects.
pub fn examples() -> Vec<PathBuf> {
    let dir = crate::bundled_example()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("projects"));
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension().is_some_and(|e| e == "json")
                        && !p.to_string_lossy().ends_with(".catalog.json")
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

impl eframe::App for TributaryApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
    }
}
