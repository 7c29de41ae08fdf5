//! What the app remembers between runs, in its state folder: recently opened projects,
//! and the recovery file that periodic autosave writes while a document has unsaved
//! changes (offered back after a crash).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tributary_engine::Project;

/// Projects listed under File → Open Recent.
pub const RECENT_LIMIT: usize = 10;

/// The unsaved document autosave kept.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Recovery {
    /// The file the document belongs to, if it had been saved before.
    pub path: Option<PathBuf>,
    /// When autosave wrote it (RFC 3339).
    pub saved_at: String,
    /// The document.
    pub project: serde_json::Value,
}

/// The app's state folder.
#[derive(Clone, Debug)]
pub struct Session {
    dir: Option<PathBuf>,
    /// Bumped when the recovery file is cleared; an autosave started before does not
    /// write. Held while writing, so a clear never races a write.
    generation: std::sync::Arc<std::sync::Mutex<u64>>,
    /// Why the last autosave failed (the disk is full, the folder is read-only), until
    /// the app shows it: [`Session::take_autosave_failure`].
    failure: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl Session {
    /// State kept in `dir` (nothing is kept without one).
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            generation: Default::default(),
            failure: Default::default(),
        }
    }

    /// The platform's state folder for Tributary.
    pub fn default_dir() -> Option<PathBuf> {
        eframe::storage_dir("tributary")
    }

    fn file(&self, name: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(name))
    }

    /// Recently opened projects, newest first, that still exist.
    pub fn recent(&self) -> Vec<PathBuf> {
        let Some(path) = self.file("recent.json") else {
            return Vec::new();
        };
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<Vec<PathBuf>>(&t).ok())
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.exists())
            .collect()
    }

    /// Puts `project` at the top of the recent list.
    pub fn add_recent(&self, project: &Path) {
        let Some(file) = self.file("recent.json") else {
            return;
        };
        let project = std::path::absolute(project).unwrap_or_else(|_| project.to_path_buf());
        let mut list = self.recent();
        list.retain(|p| *p != project);
        list.insert(0, project);
        list.truncate(RECENT_LIMIT);
        if let Ok(text) = serde_json::to_string_pretty(&list) {
            let _ = std::fs::create_dir_all(file.parent().unwrap_or(Path::new(".")));
            if let Err(e) = tributary_engine::fsutil::write_atomic(&file, text.as_bytes()) {
                log::warn!("cannot remember recent projects: {e}");
            }
        }
    }

    /// The recovery file, if autosave left one (the app did not close cleanly).
    pub fn recovery(&self) -> Option<Recovery> {
        let text = std::fs::read_to_string(self.file("recovery.json")?).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes the recovery file on its own thread, so the UI never waits for the disk.
    pub fn autosave(&self, project: &Project, path: Option<PathBuf>) {
        let Some(file) = self.file("recovery.json") else {
            return;
        };
        let Ok(value) = serde_json::to_value(project) else {
            return;
        };
        let recovery = Recovery {
            path,
            saved_at: chrono::Utc::now().to_rfc3339(),
            project: value,
        };
        let generation = self.generation.clone();
        let failure = self.failure.clone();
        let started = *generation.lock().unwrap_or_else(|p| p.into_inner());
        let spawned = std::thread::Builder::new()
            .name("tributary-autosave".to_owned())
            .spawn(move || {
                let Ok(text) = serde_json::to_string_pretty(&recovery) else {
                    return;
                };
                let current = generation.lock().unwrap_or_else(|p| p.into_inner());
                if *current != started {
                    return;
                }
                // The previous recovery file stays whole if this write fails.
                let written = tributary_engine::fsutil::write_atomic(&file, text.as_bytes());
                *failure.lock().unwrap_or_else(|p| p.into_inner()) = match written {
                    Ok(()) => None,
                    Err(e) => {
                        log::warn!("autosave failed: {e}");
                        Some(e.to_string())
                    }
                };
            });
        if let Err(e) = spawned {
            log::warn!("autosave could not start: {e}");
        }
    }

    /// Why the last autosave failed, once: the app logs it where the user sees it.
    pub fn take_autosave_failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Removes the recovery file: the document was saved, or its changes discarded.
    pub fn clear_recovery(&self) {
        let mut generation = self.generation.lock().unwrap_or_else(|p| p.into_inner());
        *generation += 1;
        if let Some(f) = self.file("recovery.json") {
            let _ = std::fs::remove_file(f);
        }
    }
}
