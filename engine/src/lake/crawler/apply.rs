//! Applying a crawl to a catalog: new tables, new versions on schema changes (or only a
//! log line, by policy), partitions and statistics.

use serde::Serialize;

use super::{
    CrawlReport, DEPRECATED_PROPERTY, DeleteBehavior, RecrawlBehavior, SchemaChangePolicy,
};
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
    /// `created`, `updated`, `unchanged`, `schema change logged`, `new folders added`,
    /// or for a table the crawl no longer finds `deprecated`, `deleted` or `not found`.
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
                Some(existing) if report.recrawl == RecrawlBehavior::NewFoldersOnly => {
                    // The schema stays; folders not seen before are added.
                    existing.parameters.remove(DEPRECATED_PROPERTY);
                    let added = existing.merge_partitions(t.partitions.clone());
                    if added == 0 {
                        ("unchanged", None, existing.version)
                    } else {
                        existing.stats.files = existing.partitions.iter().map(|p| p.files).sum();
                        existing.stats.size_bytes =
                            existing.partitions.iter().map(|p| p.size_bytes).sum();
                        existing.stats.rows = None;
                        (
                            "new folders added",
                            Some(format!("{added} new partition(s)")),
                            existing.version,
                        )
                    }
                }
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
                    existing.parameters.remove(DEPRECATED_PROPERTY);
                    // What a user set with SET SERDEPROPERTIES outlives the recrawl.
                    let options = crate::lake::catalog::FormatOptions {
                        serde_properties: existing.options.serde_properties.clone(),
                        ..t.options.clone()
                    };
                    let format_changed = existing.format != t.format || existing.options != options;
                    existing.partitions = t.partitions.clone();
                    existing.stats = t.stats.clone();
                    existing.updated_at = chrono::Utc::now();
                    match (change, policy) {
                        (None, _) if !format_changed => {
                            existing.proposed = None;
                            ("unchanged", None, existing.version)
                        }
                        (change, SchemaChangePolicy::Update) => {
                            existing.location = location;
                            existing.format = t.format;
                            existing.options = options;
                            let c = existing
                                .set_schema(t.columns.clone(), t.partition_keys.clone(), by)
                                .or(change)
                                .unwrap_or_else(|| "format options changed".to_owned());
                            ("updated", Some(c), existing.version)
                        }
                        (change, SchemaChangePolicy::Log) => {
                            // Kept as the proposed next version: the designer shows what
                            // it would break before it is accepted.
                            existing.propose_schema(
                                t.columns.clone(),
                                t.partition_keys.clone(),
                                by,
                            );
                            (
                                "schema change logged",
                                Some(change.unwrap_or_else(|| "format options changed".to_owned())),
                                existing.version,
                            )
                        }
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
                // As the catalog now has it (a logged or new-folders-only crawl keeps
                // the schema).
                columns: db
                    .tables
                    .get(&t.name)
                    .map_or(t.columns.len(), |c| c.columns.len()),
                files: t.stats.files,
                size_bytes: t.stats.size_bytes,
                partitions: db
                    .tables
                    .get(&t.name)
                    .map_or(t.partitions.len(), |c| c.partitions.len()),
                warnings: t.warnings.clone(),
            });
        }
        gone_tables(store, report, by, db, &mut changes);
        Ok(changes)
    })
}

/// Tables this crawler made below the crawled folder that the crawl no longer finds:
/// deprecated, deleted or only reported, by the report's delete behavior.
fn gone_tables(
    store: &CatalogStore,
    report: &CrawlReport,
    by: &str,
    db: &mut crate::lake::catalog::Database,
    changes: &mut Vec<TableChange>,
) {
    let root = store.location_for(&report.root_location);
    let root = root.trim_start_matches("./");
    let gone: Vec<String> = db
        .tables
        .values()
        .filter(|t| {
            t.versions.first().is_some_and(|v| v.created_by == by)
                && !report.tables.iter().any(|f| f.name == t.name)
                && (root.is_empty() || t.location.trim_start_matches("./").starts_with(root))
        })
        .map(|t| t.name.clone())
        .collect();
    for name in gone {
        let status = match report.delete_behavior {
            DeleteBehavior::Log => "not found",
            DeleteBehavior::Deprecate => "deprecated",
            DeleteBehavior::Delete => "deleted",
        };
        let t = match report.delete_behavior {
            DeleteBehavior::Delete => match db.tables.remove(&name) {
                Some(t) => t,
                None => continue,
            },
            _ => {
                let Some(t) = db.tables.get_mut(&name) else {
                    continue;
                };
                if report.delete_behavior == DeleteBehavior::Deprecate {
                    t.parameters
                        .entry(DEPRECATED_PROPERTY.to_owned())
                        .or_insert_with(|| chrono::Utc::now().to_rfc3339());
                }
                t.clone()
            }
        };
        changes.push(TableChange {
            database: report.database.clone(),
            table: name,
            status: status.to_owned(),
            version: t.version,
            change: Some("its folder holds no data files any more".to_owned()),
            format: t.format,
            columns: t.columns.len(),
            files: 0,
            size_bytes: 0,
            partitions: t.partitions.len(),
            warnings: Vec::new(),
        });
    }
}
