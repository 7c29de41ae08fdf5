//! Applying a crawl to a catalog: new tables, new versions on schema changes (or only a
//! log line, by policy), partitions and statistics.

use serde::Serialize;

use super::{CrawlReport, SchemaChangePolicy};
use crate::error::Result;
use crate::lake::catalog::{CatalogStore, Table};
use crate::lake::sniff::FileFormat;

/// How one crawled table changed the catalog.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TableChange {
    /// Database.
    pub database: String,
    /// Table.
    pub table: String,
    /// `created`, `updated`, `unchanged` or `schema change logged`.
    pub status: String,
    /// Version after the crawl.
    pub version: u32,
    /// What changed in the schema, if anything.
    pub change: Option<String>,
    /// Format.
    pub format: FileFormat,
    /// Number of columns.
    pub columns: usize,
    /// Files.
    pub files: u64,
    /// Bytes.
    pub size_bytes: u64,
    /// Partitions.
    pub partitions: usize,
    /// Sample notes.
    pub warnings: Vec<String>,
}

/// Applies a crawl to the catalog under `database`, following `policy`, and persists it.
pub fn apply_to_catalog(store: &CatalogStore, report: &CrawlReport) -> Result<Vec<TableChange>> {
    let database = report.database.as_str();
    let policy = report.policy;
    let by = format!("crawler:{}", report.crawler);
    let by = by.as_str();
    store.update(|catalog| {
        if let Some((url, options)) = &report.store {
            catalog.stores.insert(url.clone(), options.clone());
        }
        let db = catalog.ensure_database(database);
        let mut changes = Vec::new();
        for t in &report.tables {
            let location = store.location_for(&t.location);
            let (status, change, version) = match db.tables.get_mut(&t.name) {
                None => {
                    let mut table = Table::new(
                        t.name.clone(),
                        location,
                        t.format,
                        t.options.clone(),
                        t.columns.clone(),
                        t.partition_keys.clone(),
                        by,
                    );
                    table.partitions = t.partitions.clone();
                    table.stats = t.stats.clone();
                    db.tables.insert(t.name.clone(), table);
                    ("created", None, 1)
                }
                Some(existing) => {
                    let change = crate::lake::catalog::describe_schema_change(
                        &existing.columns,
                        &existing.partition_keys,
                        &t.columns,
                        &t.partition_keys,
                    );
                    let format_changed =
                        existing.format != t.format || existing.options != t.options;
                    existing.partitions = t.partitions.clone();
                    existing.stats = t.stats.clone();
                    existing.updated_at = chrono::Utc::now();
                    match (change, policy) {
                        (None, _) if !format_changed => ("unchanged", None, existing.version),
                        (change, SchemaChangePolicy::Update) => {
                            existing.location = location;
                            existing.format = t.format;
                            existing.options = t.options.clone();
                            let c = existing
                                .set_schema(t.columns.clone(), t.partition_keys.clone(), by)
                                .or(change)
                                .unwrap_or_else(|| "format options changed".to_owned());
                            ("updated", Some(c), existing.version)
                        }
                        (change, SchemaChangePolicy::Log) => (
                            "schema change logged",
                            Some(change.unwrap_or_else(|| "format options changed".to_owned())),
                            existing.version,
                        ),
                    }
                }
            };
            changes.push(TableChange {
                database: database.to_owned(),
                table: t.name.clone(),
                status: status.to_owned(),
                version,
                change,
                format: t.format,
                columns: t.columns.len(),
                files: t.stats.files,
                size_bytes: t.stats.size_bytes,
                partitions: t.partitions.len(),
                warnings: t.warnings.clone(),
            });
        }
        Ok(changes)
    })
}
