//! The Catalog tab: the catalogs of the project's catalog nodes as a tree of databases,
//! tables, schemas, partitions and versions. Catalog files are read on their own thread.

use std::path::PathBuf;

use crossbeam_channel::{Receiver, bounded};
use egui::Ui;
use tributary_engine::lake::catalog::{Catalog, CatalogStore};
use tributary_engine::lake::glue_types::glue_type_of;

/// One catalog file as read.
pub struct LoadedCatalog {
    /// The catalog node.
    pub node: String,
    /// Its file.
    pub path: PathBuf,
    /// What it holds, or why it could not be read.
    pub catalog: Result<Catalog, String>,
}

/// The tab's state: the catalogs last read, and a read in progress.
#[derive(Default)]
pub struct CatalogView {
    /// Catalogs last read.
    pub loaded: Vec<LoadedCatalog>,
    pending: Option<Receiver<Vec<LoadedCatalog>>>,
}

impl CatalogView {
    /// Reads `files` (catalog node, path) on a background thread.
    pub fn reload(&mut self, files: Vec<(String, PathBuf)>) {
        let (tx, rx) = bounded(1);
        let spawned = std::thread::Builder::new()
            .name("tributary-catalog-read".to_owned())
            .spawn(move || {
                let loaded = files
                    .into_iter()
                    .map(|(node, path)| {
                        let catalog = if path.exists() {
                            CatalogStore::open(&path)
                                .map(|s| s.snapshot())
                                .map_err(|e| e.to_string())
                        } else {
                            Err("not created yet: run the graph".to_owned())
                        };
                        LoadedCatalog {
                            node,
                            path,
                            catalog,
                        }
                    })
                    .collect();
                let _ = tx.send(loaded);
            });
        if spawned.is_ok() {
            self.pending = Some(rx);
        }
    }

    /// Takes a finished read, if any; true when the view changed.
    pub fn poll(&mut self) -> bool {
        let Some(rx) = &self.pending else {
            return false;
        };
        match rx.try_recv() {
            Ok(loaded) => {
                self.loaded = loaded;
                self.pending = None;
                true
            }
            Err(crossbeam_channel::TryRecvError::Empty) => false,
            Err(crossbeam_channel::TryRecvError::Disconnected) => {
                self.pending = None;
                false
            }
        }
    }

    /// Whether a read is in progress.
    pub fn is_loading(&self) -> bool {
        self.pending.is_some()
    }

    /// Draws the tree; returns true when the user asked to read the files again.
    pub fn ui(&self, ui: &mut Ui) -> bool {
        let mut reload = false;
        ui.horizontal(|ui| {
            reload = ui.button("⟳ Reload").clicked();
            if self.is_loading() {
                ui.spinner();
            }
        });
        if self.loaded.is_empty() && !self.is_loading() {
            ui.weak("The project has no catalog node.");
        }
        egui::ScrollArea::vertical().show(ui, |ui| {
            for c in &self.loaded {
                let title = format!("{} — {}", c.node, c.path.display());
                egui::CollapsingHeader::new(title)
                    .id_salt(("catalog", &c.node))
                    .default_open(true)
                    .show(ui, |ui| match &c.catalog {
                        Err(e) => {
                            ui.colored_label(crate::theme::error(ui.visuals()), e);
                        }
                        Ok(catalog) if catalog.databases.is_empty() => {
                            ui.weak("No databases yet.");
                        }
                        Ok(catalog) => {
                            for (db_name, db) in &catalog.databases {
                                egui::CollapsingHeader::new(format!(
                                    "database {db_name} ({} tables)",
                                    db.tables.len()
                                ))
                                .id_salt(("db", &c.node, db_name))
                                .default_open(true)
                                .show(ui, |ui| {
                                    for (name, t) in &db.tables {
                                        table_ui(ui, &c.node, db_name, name, t);
                                    }
                                });
                            }
                        }
                    });
            }
        });
        reload
    }
}

fn table_ui(
    ui: &mut Ui,
    node: &str,
    db: &str,
    name: &str,
    t: &tributary_engine::lake::catalog::Table,
) {
    let rows = t
        .stats
        .rows
        .map(|r| format!("{r} rows, "))
        .unwrap_or_default();
    let header = format!(
        "{name}  ·  {}  ·  {rows}{}  ·  v{}",
        t.format,
        count(t.stats.files, "file"),
        t.version
    );
    egui::CollapsingHeader::new(header)
        .id_salt(("table", node, db, name))
        .show(ui, |ui| {
            ui.weak(format!("location: {}", t.location));
            egui::CollapsingHeader::new(format!("schema ({} columns)", t.columns.len()))
                .id_salt(("schema", node, db, name))
                .default_open(true)
                .show(ui, |ui| {
                    egui::Grid::new(("cols", node, db, name))
                        .striped(true)
                        .show(ui, |ui| {
                            // Glue's type name, as Athena users know it, then Arrow's.
                            for col in &t.columns {
                                ui.monospace(&col.name);
                                ui.label(glue_type_of(&col.data_type));
                                ui.weak(&col.data_type);
                                ui.end_row();
                            }
                            for key in &t.partition_keys {
                                ui.monospace(&key.name);
                                ui.label(glue_type_of(&key.data_type));
                                ui.weak(format!("{} (partition key)", key.data_type));
                                ui.end_row();
                            }
                        });
                });
            if !t.partitions.is_empty() {
                egui::CollapsingHeader::new(format!("partitions ({})", t.partitions.len()))
                    .id_salt(("parts", node, db, name))
                    .show(ui, |ui| {
                        for p in t.partitions.iter().take(200) {
                            let values: Vec<String> = t
                                .partition_keys
                                .iter()
                                .zip(&p.values)
                                .map(|(k, v)| format!("{}={v}", k.name))
                                .collect();
                            ui.label(format!(
                                "{}  ·  {}, {}",
                                values.join("/"),
                                count(p.files, "file"),
                                count(p.size_bytes, "byte")
                            ));
                        }
                        if t.partitions.len() > 200 {
                            ui.weak(format!("… and {} more", t.partitions.len() - 200));
                        }
                    });
            }
            egui::CollapsingHeader::new(format!("versions ({})", t.versions.len()))
                .id_salt(("versions", node, db, name))
                .show(ui, |ui| {
                    for v in t.versions.iter().rev() {
                        ui.label(format!(
                            "v{}  ·  {}  ·  {}  ·  {}",
                            v.version,
                            v.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
                            v.created_by,
                            v.change
                        ));
                    }
                });
        });
}

/// "1 file", "5 files".
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
