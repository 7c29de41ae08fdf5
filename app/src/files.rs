//! Opening and saving projects: the system's file picker on its own thread, or an in-app
//! path field with completion where the desktop has none; the unsaved-changes question;
//! recent projects; a scratch folder for untitled projects; autosave and recovery.

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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DialogPurpose {
    Open,
    SaveAs,
    /// A folder to export the project to AWS into.
    Export,
}

/// An export to AWS in progress on its own thread: where, and its answer.
pub(crate) struct ExportJob {
    pub folder: PathBuf,
    pub answer: Receiver<Result<tributary_engine::export::Bundle, String>>,
}

/// How long the system picker must stay open to count as shown: one that answers sooner
/// did not open (a desktop without xdg-desktop-portal or zenity).
const NATIVE_MIN_OPEN: std::time::Duration = std::time::Duration::from_millis(300);

/// A file dialog in progress.
pub(crate) enum FileDialog {
    /// The system's picker, on its own thread.
    Native {
        purpose: DialogPurpose,
        opened: Instant,
        answer: Receiver<Option<PathBuf>>,
    },
    /// The in-app path field.
    InApp(PathField),
}

/// The in-app file dialog: a path typed (with completion), and why it is shown.
pub(crate) struct PathField {
    pub purpose: DialogPurpose,
    pub text: String,
    /// Why the system picker is not used.
    pub why: Option<String>,
    /// What was wrong with the last path tried.
    pub error: Option<String>,
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
    pub dialog: Option<FileDialog>,
    /// Why the system file picker cannot be used, once that is known.
    pub native_unavailable: Option<String>,
    pub pending: Option<Pending>,
    /// What to do once a Save As (asked for by the unsaved-changes question) has saved.
    pub after_save: Option<Pending>,
    /// Where an untitled project's relative paths (its catalog, its buckets) resolve, so
    /// nothing is written into the folder the app was started from.
    pub scratch: Option<tempfile::TempDir>,
    pub close_confirmed: bool,
    pub session: Session,
    pub recent: Vec<PathBuf>,
    pub last_autosave: Instant,
    pub autosaved_revision: u64,
    /// Unsaved changes autosave kept from a session that did not close cleanly.
    pub recovery_offer: Option<Recovery>,
    /// An export to AWS being written.
    pub export: Option<ExportJob>,
}

impl TributaryApp {
    /// Opens a project file, replacing the document. A path with no file yet starts an
    /// empty project that saves there.
    pub fn open_path(&mut self, path: &Path) {
        if !path.exists() {
            self.doc = Document::new();
            self.doc.path = Some(path.to_path_buf());
            self.cleared();
            self.run.log(
                LogLevel::Info,
                None,
                format!(
                    "{} does not exist yet: a new project; Save writes it",
                    path.display()
                ),
            );
            return;
        }
        match Project::load_for_editing(path) {
            Ok((p, problems)) => {
                self.doc = Document::from_project(&p, Some(path.to_path_buf()));
                self.files.session.add_recent(path);
                self.files.recent = self.files.session.recent();
                self.cleared();
                for problem in problems {
                    let node = problem.node_id().map(str::to_owned);
                    self.run.log(LogLevel::Warning, node, problem.to_string());
                }
            }
            Err(e) => {
                self.run
                    .log(LogLevel::Error, None, format!("cannot open {e}"));
                self.view.bottom_tab = BottomTab::Log;
            }
        }
    }

    /// Saves to `path`; returns whether it worked (a failure is logged and shown).
    pub fn save_to(&mut self, path: &Path) -> bool {
        self.doc.checkpoint();
        let project = self.doc.to_project();
        match project.save(path) {
            Ok(()) => {
                self.doc.mark_saved(path.to_path_buf());
                self.files.session.add_recent(path);
                self.files.recent = self.files.session.recent();
                self.files.session.clear_recovery();
                self.files.scratch = None;
                if let Some(action) = self.files.after_save.take() {
                    self.perform(action);
                }
                true
            }
            Err(e) => {
                self.run
                    .log(LogLevel::Error, None, format!("cannot save: {e}"));
                self.view.bottom_tab = BottomTab::Log;
                false
            }
        }
    }

    /// Saves, then carries out `action` (the unsaved-changes question's Save): at once
    /// when the document has a file, after the Save As dialog when it has none.
    pub(crate) fn save_then(&mut self, action: Pending) {
        match self.doc.path.clone() {
            Some(p) => {
                if self.save_to(&p) {
                    self.perform(action);
                }
            }
            None => {
                self.files.after_save = Some(action);
                self.save_as();
            }
        }
    }

    /// Forgets what belonged to the previous document (results, log, catalogs shown, the
    /// selection, the scratch folder) and fits the new one to the view, arranging it
    /// first when its nodes have no positions.
    fn cleared(&mut self) {
        let positions: Vec<egui::Pos2> = self.doc.snarl.nodes_pos().map(|(p, _)| p).collect();
        let unplaced = positions.len() > 1 && positions.iter().all(|p| *p == positions[0]);
        self.run.clear();
        self.run.log.clear();
        self.selection.clear();
        self.view.canvas = Default::default();
        self.view.canvas.fit();
        self.view.canvas.arrange_pending = unplaced;
        self.files.scratch = None;
        self.view.catalog_view = Default::default();
        self.view.catalog_was_visible = false;
    }

    /// The folder the document's relative paths resolve against: the project file's, or
    /// for an untitled project a scratch folder of this session.
    pub fn base_dir(&mut self) -> PathBuf {
        if let Some(dir) = self
            .doc
            .path
            .as_ref()
            .and_then(|p| std::path::absolute(p).ok())
            .and_then(|p| p.parent().map(Path::to_path_buf))
        {
            return dir;
        }
        if self.files.scratch.is_none() {
            self.files.scratch = tempfile::Builder::new()
                .prefix("tributary-untitled-")
                .tempdir()
                .ok();
        }
        match &self.files.scratch {
            Some(d) => d.path().to_path_buf(),
            None => std::env::temp_dir(),
        }
    }

    /// Turns the system file picker off for this session (tests; desktops where it hangs).
    pub fn without_native_dialogs(mut self) -> Self {
        self.files.native_unavailable =
            Some("the system file picker is turned off for this session".to_owned());
        self
    }

    /// Saves to the document's file, or asks for one.
    pub(crate) fn save(&mut self) {
        match self.doc.path.clone() {
            Some(p) => {
                self.save_to(&p);
            }
            None => self.save_as(),
        }
    }

    /// Asks for a file and saves to it.
    pub(crate) fn save_as(&mut self) {
        self.open_dialog(DialogPurpose::SaveAs);
    }

    /// Opens a file dialog: the system's picker where the desktop has one, else the
    /// in-app path field saying why.
    pub(crate) fn open_dialog(&mut self, purpose: DialogPurpose) {
        if self.files.dialog.is_some() {
            return;
        }
        if let Some(why) = self.files.native_unavailable.clone() {
            self.in_app_dialog(purpose, Some(why));
            return;
        }
        let (tx, rx) = bounded(1);
        let start_dir = self
            .doc
            .path
            .as_ref()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let spawned = std::thread::Builder::new()
            .name("tributary-file-dialog".to_owned())
            .spawn(move || {
                let mut d = rfd::FileDialog::new();
                if purpose != DialogPurpose::Export {
                    d = d.add_filter("Tributary project", &["json"]);
                }
                if let Some(dir) = start_dir {
                    d = d.set_directory(dir);
                }
                let picked = match purpose {
                    DialogPurpose::SaveAs => d.save_file(),
                    DialogPurpose::Open => d.pick_file(),
                    DialogPurpose::Export => d.set_title("Export to AWS").pick_folder(),
                };
                let _ = tx.send(picked);
            });
        match spawned {
            Ok(_) => {
                self.files.dialog = Some(FileDialog::Native {
                    purpose,
                    opened: Instant::now(),
                    answer: rx,
                })
            }
            Err(e) => self.in_app_dialog(purpose, Some(format!("the system file picker: {e}"))),
        }
    }

    /// Shows the in-app path field, starting from the document's file or folder.
    fn in_app_dialog(&mut self, purpose: DialogPurpose, why: Option<String>) {
        let text = match (&self.doc.path, purpose) {
            (Some(p), DialogPurpose::SaveAs) => p.display().to_string(),
            (Some(p), DialogPurpose::Open) => p
                .parent()
                .map(|d| format!("{}/", d.display()))
                .unwrap_or_default(),
            (Some(p), DialogPurpose::Export) => {
                let stem = p.file_stem().unwrap_or_default().to_string_lossy();
                p.with_file_name(format!("{stem}-aws"))
                    .display()
                    .to_string()
            }
            (None, _) => String::new(),
        };
        self.files.dialog = Some(FileDialog::InApp(PathField {
            purpose,
            text,
            why,
            error: None,
        }));
    }

    /// Takes the system picker's answer, if it came. One that came at once means the
    /// picker could not open: the in-app path field takes over, saying so.
    pub(crate) fn poll_dialog(&mut self) {
        let Some(FileDialog::Native {
            purpose,
            opened,
            answer,
        }) = &self.files.dialog
        else {
            return;
        };
        let (purpose, opened) = (*purpose, *opened);
        let Ok(picked) = answer.try_recv() else {
            return;
        };
        self.files.dialog = None;
        match picked {
            Some(path) => self.picked(purpose, &path),
            None if opened.elapsed() < NATIVE_MIN_OPEN => {
                let why = "the system file picker did not open (this desktop may have no \
                           xdg-desktop-portal or zenity)"
                    .to_owned();
                self.files.native_unavailable = Some(why.clone());
                self.run.log(
                    LogLevel::Warning,
                    None,
                    format!("{why}; type the path instead"),
                );
                self.in_app_dialog(purpose, Some(why));
            }
            // Cancelled: a Save As asked for by the unsaved-changes question is dropped.
            None => self.files.after_save = None,
        }
    }

    /// Carries out a dialog's choice.
    fn picked(&mut self, purpose: DialogPurpose, path: &Path) {
        match purpose {
            DialogPurpose::Open => self.open_path(path),
            DialogPurpose::SaveAs => {
                self.save_to(path);
            }
            DialogPurpose::Export => self.export_to(path),
        }
    }

    /// Exports the project to AWS into `folder` on a thread of its own (it reads code
    /// folders and writes files); [`TributaryApp::poll_export`] reports the answer.
    pub fn export_to(&mut self, folder: &Path) {
        if self.files.export.is_some() {
            return;
        }
        self.doc.checkpoint();
        let project = self.doc.to_project();
        let base = self.base_dir();
        let (tx, rx) = bounded(1);
        let out = folder.to_path_buf();
        let spawned = std::thread::Builder::new()
            .name("tributary-export".to_owned())
            .spawn(move || {
                let answer = tributary_engine::export::export(&project, &base, &out)
                    .map_err(|e| e.to_string());
                let _ = tx.send(answer);
            });
        match spawned {
            Ok(_) => {
                self.files.export = Some(ExportJob {
                    folder: folder.to_path_buf(),
                    answer: rx,
                })
            }
            Err(e) => self
                .run
                .log(LogLevel::Error, None, format!("cannot export: {e}")),
        }
    }

    /// Logs the answer of an export, once it came: the folder and what is in it, each
    /// node left out and why, or why it failed.
    pub fn poll_export(&mut self) {
        let Some(job) = &self.files.export else {
            return;
        };
        let Ok(answer) = job.answer.try_recv() else {
            return;
        };
        let folder = job.folder.clone();
        self.files.export = None;
        match answer {
            Ok(bundle) => {
                self.run.log(
                    LogLevel::Info,
                    None,
                    format!(
                        "exported to AWS in {}: template.yaml, README.md (how to deploy) and {} \
                         code files",
                        folder.display(),
                        bundle.code_files()
                    ),
                );
                for (node, why) in bundle.left_out {
                    self.run
                        .log(LogLevel::Info, Some(node), format!("not exported: {why}"));
                }
                for note in bundle.notes {
                    self.run.log(LogLevel::Warning, None, note);
                }
            }
            Err(e) => self.run.log(
                LogLevel::Error,
                None,
                format!("export to {} failed: {e}", folder.display()),
            ),
        }
        self.view.bottom_tab = BottomTab::Log;
    }

    /// The path typed into the in-app dialog, resolved against the document's folder:
    /// opened or saved to (with `.json` added when it has no extension). A path that cannot
    /// be used keeps the dialog open with the reason.
    pub(crate) fn accept_typed_path(&mut self) {
        let Some(FileDialog::InApp(field)) = &self.files.dialog else {
            return;
        };
        let purpose = field.purpose;
        let typed = field.text.trim().to_owned();
        let base = self
            .doc
            .path
            .as_ref()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
        let mut path = tributary_engine::fsutil::resolve_path(&base, &typed);
        if purpose == DialogPurpose::Export {
            if typed.is_empty() {
                if let Some(FileDialog::InApp(field)) = &mut self.files.dialog {
                    field.error = Some("type a folder".to_owned());
                }
                return;
            }
            self.files.dialog = None;
            self.picked(purpose, &path);
            return;
        }
        if purpose == DialogPurpose::SaveAs && path.extension().is_none() {
            path.set_extension("json");
        }
        let problem = if typed.is_empty() || typed.ends_with('/') {
            Some("type a file name".to_owned())
        } else if purpose == DialogPurpose::Open && !path.is_file() {
            Some(format!("{} does not exist", path.display()))
        } else if purpose == DialogPurpose::SaveAs
            && path
                .parent()
                .is_some_and(|d| !d.as_os_str().is_empty() && !d.is_dir())
        {
            Some(format!(
                "the folder {} does not exist",
                path.parent().unwrap_or(&path).display()
            ))
        } else {
            None
        };
        match problem {
            Some(p) => {
                if let Some(FileDialog::InApp(field)) = &mut self.files.dialog {
                    field.error = Some(p);
                }
            }
            None => {
                self.files.dialog = None;
                self.picked(purpose, &path);
            }
        }
    }

    /// Closes a dialog without choosing (a pending Save As action is dropped).
    pub(crate) fn cancel_dialog(&mut self) {
        self.files.dialog = None;
        self.files.after_save = None;
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
                self.cleared();
            }
            Pending::Open(Some(p)) => self.open_path(&p),
            Pending::Open(None) => self.open_dialog(DialogPurpose::Open),
            Pending::Quit => self.files.close_confirmed = true,
        }
    }

    /// Writes unsaved changes to the recovery file every [`AUTOSAVE_INTERVAL`].
    pub(crate) fn autosave(&mut self, ctx: &egui::Context) {
        if let Some(why) = self.files.session.take_autosave_failure() {
            self.run.log(
                LogLevel::Warning,
                None,
                format!("autosave failed: {why}; the unsaved changes are only in this window"),
            );
        }
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
                self.cleared();
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

/// Whether this desktop has a system file picker for `rfd`: on Linux, a D-Bus session
/// (for xdg-desktop-portal) or zenity. Otherwise, why not.
pub(crate) fn native_dialogs() -> Result<(), String> {
    if !cfg!(target_os = "linux") {
        return Ok(());
    }
    let dbus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|v| !v.is_empty());
    let zenity = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join("zenity").is_file()));
    if dbus || zenity {
        Ok(())
    } else {
        Err(
            "this desktop has no system file picker (no D-Bus session for \
             xdg-desktop-portal, and no zenity)"
                .to_owned(),
        )
    }
}

/// Completions of a typed path: the folders and `.json` files in its folder whose names
/// start with what was typed after the last `/`, folders first (with a trailing `/`).
pub(crate) fn completions(typed: &str, base: &Path) -> Vec<String> {
    let (dir_part, prefix) = match typed.rfind('/') {
        Some(i) => (&typed[..=i], &typed[i + 1..]),
        None => ("", typed),
    };
    let dir = tributary_engine::fsutil::resolve_path(
        base,
        if dir_part.is_empty() { "." } else { dir_part },
    );
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<(bool, String)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let is_dir = e.path().is_dir();
            let wanted = name.starts_with(prefix)
                && (prefix.starts_with('.') || !name.starts_with('.'))
                && (is_dir || name.ends_with(".json"));
            wanted.then(|| {
                (
                    !is_dir,
                    format!("{dir_part}{name}{}", if is_dir { "/" } else { "" }),
                )
            })
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, s)| s).take(12).collect()
}

/// The longest text every completion starts with.
pub(crate) fn common_prefix(items: &[String]) -> Option<String> {
    let first = items.first()?;
    let mut len = first.len();
    for item in &items[1..] {
        len = len.min(
            first
                .char_indices()
                .zip(item.chars())
                .take_while(|((_, a), b)| a == b)
                .last()
                .map(|((i, c), _)| i + c.len_utf8())
                .unwrap_or(0),
        );
    }
    Some(first[..len].to_owned())
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
