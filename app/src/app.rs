//! The main window: the project's nodes, Run/Stop, per-node status, preview and log.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tributary_engine::arrow::array::RecordBatch;
use tributary_engine::arrow::util::display::{ArrayFormatter, FormatOptions};
use tributary_engine::engine::LogLevel;
use tributary_engine::{Command, Engine, Event, NodeStatus, Project, RunId, RunTarget};

/// A node's latest preview.
struct Preview {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
    total_rows: u64,
}

/// The app state.
pub struct TributaryApp {
    path: Option<PathBuf>,
    project: Option<Project>,
    load_error: Option<String>,
    engine: Option<Engine>,
    revision: u64,
    run_seq: u64,
    current_run: Option<RunId>,
    status: BTreeMap<String, NodeStatus>,
    errors: BTreeMap<String, String>,
    previews: BTreeMap<String, Preview>,
    selected: Option<String>,
    log: Vec<(LogLevel, String)>,
    title: String,
}

impl TributaryApp {
    /// Builds the app and loads `path` into the engine.
    pub fn new(ctx: &egui::Context, path: Option<PathBuf>) -> Self {
        let mut app = Self {
            path: None,
            project: None,
            load_error: None,
            engine: None,
            revision: 0,
            run_seq: 0,
            current_run: None,
            status: BTreeMap::new(),
            errors: BTreeMap::new(),
            previews: BTreeMap::new(),
            selected: None,
            log: Vec::new(),
            title: String::new(),
        };
        match Engine::spawn() {
            Ok(engine) => app.engine = Some(engine),
            Err(e) => app.load_error = Some(e.to_string()),
        }
        if let Some(p) = path {
            app.open(p);
        }
        let _ = ctx;
        app
    }

    /// Opens a project file.
    pub fn open(&mut self, path: PathBuf) {
        match Project::load(&path) {
            Ok(p) => {
                self.revision += 1;
                let base_dir = std::path::absolute(&path)
                    .ok()
                    .and_then(|a| a.parent().map(|d| d.to_path_buf()))
                    .unwrap_or_else(|| PathBuf::from("."));
                if let Some(engine) = &self.engine {
                    let _ = engine.try_send(Command::Load {
                        project: Box::new(p.clone()),
                        base_dir,
                        revision: self.revision,
                    });
                }
                self.selected = p.nodes.first().map(|n| n.id.clone());
                self.project = Some(p);
                self.load_error = None;
                self.status.clear();
                self.previews.clear();
                self.errors.clear();
            }
            Err(e) => self.load_error = Some(e.to_string()),
        }
        self.path = Some(path);
    }

    fn run(&mut self, target: RunTarget) {
        let Some(engine) = &self.engine else { return };
        self.run_seq += 1;
        let run = RunId {
            seq: self.run_seq,
            revision: self.revision,
        };
        if engine.try_send(Command::Run { run, target }).is_ok() {
            self.current_run = Some(run);
        } else {
            self.log.push((
                LogLevel::Warning,
                "the engine is busy; try again".to_owned(),
            ));
        }
    }

    fn drain_events(&mut self) {
        let Some(engine) = &self.engine else { return };
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(4);
        let mut events = Vec::new();
        while std::time::Instant::now() < deadline {
            match engine.events().try_recv() {
                Ok(ev) => events.push(ev),
                Err(_) => break,
            }
        }
        for ev in events {
            self.apply(ev);
        }
    }

    fn apply(&mut self, ev: Event) {
        let current = self.current_run;
        let stale = |run: &RunId| Some(*run) != current;
        match ev {
            Event::Loaded { problems, .. } => {
                for p in problems {
                    self.log.push((LogLevel::Warning, p.to_string()));
                }
            }
            Event::RunStarted { run, nodes } if !stale(&run) => {
                for n in nodes {
                    self.status.insert(n, NodeStatus::Idle);
                }
            }
            Event::NodeStarted { run, node } if !stale(&run) => {
                self.status.insert(node, NodeStatus::Running);
            }
            Event::NodeFinished { run, node, .. } if !stale(&run) => {
                self.status.insert(node.clone(), NodeStatus::Ok);
                self.errors.remove(&node);
            }
            Event::NodeFailed { run, node, error } if !stale(&run) => {
                self.status.insert(node.clone(), NodeStatus::Error);
                self.log.push((LogLevel::Error, error.clone()));
                self.errors.insert(node, error);
            }
            Event::NodeSkipped { run, node, .. } if !stale(&run) => {
                self.status.insert(node, NodeStatus::Skipped);
            }
            Event::Preview {
                run,
                node,
                schema,
                batches,
                total_rows,
                ..
            } if !stale(&run) => {
                self.previews
                    .insert(node, to_preview(&schema, &batches, total_rows));
            }
            Event::Log {
                level,
                message,
                node,
                ..
            } => {
                let text = match node {
                    Some(n) => format!("{n}: {message}"),
                    None => message,
                };
                self.log.push((level, text));
            }
            Event::RunFinished { run, status, .. } if !stale(&run) => {
                self.log.push((
                    LogLevel::Info,
                    format!("run {} finished: {status:?}", run.seq),
                ));
                self.current_run = None;
            }
            _ => {}
        }
    }
}

fn to_preview(
    schema: &tributary_engine::arrow::datatypes::SchemaRef,
    batches: &[RecordBatch],
    total_rows: u64,
) -> Preview {
    let columns = schema
        .fields()
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.data_type()))
        .collect();
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for b in batches {
        let formatters: Vec<_> = b
            .columns()
            .iter()
            .filter_map(|c| ArrayFormatter::try_new(c.as_ref(), &options).ok())
            .collect();
        for r in 0..b.num_rows() {
            rows.push(formatters.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    Preview {
        columns,
        rows,
        total_rows,
    }
}

impl eframe::App for TributaryApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.drain_events();
        if self.current_run.is_some() {
            ctx.request_repaint_after(std::time::Duration::from_millis(50));
        }
        let title = match &self.path {
            Some(p) => format!("Tributary — {}", p.display()),
            None => "Tributary".to_owned(),
        };
        if self.title != title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.title = title;
        }

        egui::Panel::top("toolbar").show(ui, |ui| {
            ui.horizontal(|ui| {
                let running = self.current_run.is_some();
                if ui
                    .add_enabled(
                        !running && self.project.is_some(),
                        egui::Button::new("▶ Run"),
                    )
                    .clicked()
                {
                    self.run(RunTarget::All);
                }
                if ui
                    .add_enabled(running, egui::Button::new("■ Stop"))
                    .clicked()
                    && let Some(engine) = &self.engine
                {
                    let _ = engine.try_send(Command::Stop);
                }
                if let Some(p) = &self.path {
                    ui.label(p.display().to_string());
                }
            });
        });
        egui::Panel::left("nodes")
            .default_size(260.0)
            .show(ui, |ui| {
                ui.heading("Nodes");
                if let Some(e) = &self.load_error {
                    ui.colored_label(egui::Color32::RED, e);
                }
                let nodes: Vec<(String, String, String)> = self
                    .project
                    .iter()
                    .flat_map(|p| p.nodes.iter())
                    .map(|n| (n.id.clone(), n.name.clone(), n.kind().to_string()))
                    .collect();
                for (id, name, kind) in nodes {
                    let status = self.status.get(&id).copied().unwrap_or(NodeStatus::Idle);
                    let color = match status {
                        NodeStatus::Idle => egui::Color32::GRAY,
                        NodeStatus::Running => egui::Color32::LIGHT_BLUE,
                        NodeStatus::Ok => egui::Color32::from_rgb(80, 200, 120),
                        NodeStatus::Error => egui::Color32::from_rgb(230, 80, 80),
                        NodeStatus::Skipped | NodeStatus::Stopped => egui::Color32::DARK_GRAY,
                    };
                    let label = egui::RichText::new(format!("■ {name} ({kind})")).color(color);
                    if ui
                        .selectable_label(self.selected.as_deref() == Some(id.as_str()), label)
                        .on_hover_text(format!("{status:?}"))
                        .clicked()
                    {
                        self.selected = Some(id.clone());
                    }
                    if let Some(err) = self.errors.get(&id) {
                        ui.colored_label(egui::Color32::RED, err);
                    }
                }
            });
        egui::Panel::bottom("log")
            .default_size(140.0)
            .show(ui, |ui| {
                ui.heading("Log");
                egui::ScrollArea::vertical()
                    .stick_to_bottom(true)
                    .show(ui, |ui| {
                        for (level, line) in &self.log {
                            let color = match level {
                                LogLevel::Error => egui::Color32::RED,
                                LogLevel::Warning => egui::Color32::YELLOW,
                                LogLevel::Info => ui.visuals().text_color(),
                            };
                            ui.colored_label(color, line);
                        }
                    });
            });
        egui::CentralPanel::default().show(ui, |ui| {
            let Some(sel) = self.selected.clone() else {
                ui.label("Open a project to start.");
                return;
            };
            ui.heading(format!("Results: {sel}"));
            let Some(preview) = self.previews.get(&sel) else {
                ui.label("No results yet. Press Run.");
                return;
            };
            ui.label(format!("{} row(s)", preview.total_rows));
            egui::ScrollArea::both().show(ui, |ui| {
                egui::Grid::new("preview").striped(true).show(ui, |ui| {
                    for c in &preview.columns {
                        ui.strong(c);
                    }
                    ui.end_row();
                    for row in preview.rows.iter().take(500) {
                        for v in row {
                            ui.label(v);
                        }
                        ui.end_row();
                    }
                });
            });
        });
    }
}
