//! Opening and saving projects: file dialogs on their own thread, the unsaved-changes
//! question, recent projects, autosave and recovery.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crossbeam_channel::{Receiver, bounded};
use tributary_engine::Project;
use tributary_engine::engine::LogLevel;

use crate::BottomTab;
use crate::app::{AUTOSAVE_INTERVAL, TributaryApp};
use crate::state::document::Document;
use crate::state::session::{Recovery, Session};

/// What a file dialog was opened for.
pub(crate) enum DialogPurpose {
    Open,
    SaveAs,
}

/// An action waiting for the unsaved-changes question.
#[derive(Clone, Debug)]
pub(crate) enum Pending {
    New,
    Open(Option<PathBuf>),
    Quit,
}

/// Files: the dialog in progress, the unsaved-changes question, recent projects,
/// autosave and recovery.
pub(crate) struct Files {
    pub dialog: Option<(DialogPurpose, Receiver<Option<PathBuf>>)>,
    pub pending: Option<Pending>,
    pub close_confirmed: bool,
    pub session: Session,
    pub recent: Vec<PathBuf>,
    pub last_autosave: Instant,
    pub autosaved_revision: u64,
    /// Unsaved changes autosave kept from a session that did not close cleanly.
    pub recovery_offer: Option<Recovery>,
}

impl TributaryApp {
    /// Opens a project file, replacing the document.
    pub fn open_path(&mut self, path: &Path) {
        match Project::load_for_editing(path) {
            Ok((p, problems)) => {
                for problem in problems {
                    let node = problem.node_id().map(str::to_owned);
                    self.run.log(LogLevel::Warning, node, problem.to_string());
                }
                self.doc = Document::from_project(&p, Some(path.to_path_buf()));
                self.files.session.add_recent(path);
                self.files.recent = self.files.session.recent();
                self.run.clear();
                self.selected = None;
            }
            Err(e) => {
                self.run.log(
                    LogLevel::Error,
                    None,
                    format!("cannot open {}:\n{e}", path.display()),
                );
                self.view.bottom_tab = BottomTab::Log;
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
                self.files.session.add_recent(path);
                self.files.recent = self.files.session.recent();
                self.files.session.clear_recovery();
            }
            Err(e) => {
                self.run
                    .log(LogLevel::Error, None, format!("cannot save: {e}"));
                self.view.bottom_tab = BottomTab::Log;
            }
        }
    }

    /// Saves to the document's file, or asks for one.
    pub(crate) fn save(&mut self) {
        match self.doc.path.clone() {
            Some(p) => self.save_to(&p),
            None => self.save_as(),
        }
    }

    /// Asks for a file and saves to it.
    pub(crate) fn save_as(&mut self) {
        self.open_dialog(DialogPurpose::SaveAs);
    }

    fn open_dialog(&mut self, purpose: DialogPurpose) {
        if self.files.dialog.is_some() {
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
            Ok(_) => self.files.dialog = Some((purpose, rx)),
            Err(e) => self.run.log(
                LogLevel::Error,
                None,
                format!("cannot open a file dialog: {e}"),
            ),
        }
    }

    /// Takes a file dialog's answer, if it came.
    pub(crate) fn poll_dialog(&mut self) {
        let Some((_, rx)) = &self.files.dialog else {
            return;
        };
        let Ok(picked) = rx.try_recv() else { return };
        let Some((purpose, _)) = self.files.dialog.take() else {
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
    pub(crate) fn request(&mut self, action: Pending) {
        if self.doc.is_dirty() {
            self.files.pending = Some(action);
        } else {
            self.perform(action);
        }
    }

    /// Carries out an action the user confirmed.
    pub(crate) fn perform(&mut self, action: Pending) {
        match action {
            Pending::New => {
                self.doc = Document::new();
                self.run.clear();
                self.selected = None;
            }
            Pending::Open(Some(p)) => self.open_path(&p),
            Pending::Open(None) => self.open_dialog(DialogPurpose::Open),
            Pending::Quit => self.files.close_confirmed = true,
        }
    }

    /// Writes unsaved changes to the recovery file every [`AUTOSAVE_INTERVAL`].
    pub(crate) fn autosave(&mut self, ctx: &egui::Context) {
        if !self.doc.is_dirty() {
            return;
        }
        if self.doc.revision != self.files.autosaved_revision
            && self.files.last_autosave.elapsed() >= AUTOSAVE_INTERVAL
        {
            self.autosave_now();
        }
        ctx.request_repaint_after(AUTOSAVE_INTERVAL);
    }

    /// Writes the recovery file now.
    pub fn autosave_now(&mut self) {
        self.doc.checkpoint();
        self.files
            .session
            .autosave(&self.doc.to_project(), self.doc.path.clone());
        self.files.autosaved_revision = self.doc.revision;
        self.files.last_autosave = Instant::now();
    }

    /// Whether unsaved changes from a crashed session are being offered.
    pub fn recovery_offered(&self) -> bool {
        self.files.recovery_offer.is_some()
    }

    /// Takes the offered recovery (`true`) or discards it.
    pub(crate) fn recover(&mut self, accept: bool) {
        let Some(offer) = self.files.recovery_offer.take() else {
            return;
        };
        if !accept {
            self.files.session.clear_recovery();
            return;
        }
        match Project::parse_for_editing(&offer.project.to_string()) {
            Ok((project, _)) => {
                self.doc = Document::recovered(&project, offer.path.clone());
                self.run.clear();
                self.selected = None;
            }
            Err(problems) => {
                for p in problems {
                    self.run
                        .log(LogLevel::Error, None, format!("recovery: {p}"));
                }
            }
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
