//! A Firehose's table in the catalog: the delivered prefix registered as a table (its
//! keys the folder levels after the prefix's fixed part: `partition_0` … `partition_3`
//! for hour folders, `name` for `name=…` levels), and the partitions its folders hold,
//! synced at the start and end of a run.

use std::collections::BTreeMap;

use super::prefix::Layout;
use super::{FirehoseConfig, whole_file};
use crate::arrow::datatypes::{DataType, SchemaRef};
use crate::error::{Error, Result};
use crate::lake::bucket::Bucket;
use crate::lake::catalog::{CatalogStore, Column, Table};
use crate::lake::sniff::FileFormat;
use crate::lake::writer::{written_column, written_format_options};

/// Registers the delivered prefix as a catalog table.
pub(super) fn register(
    store: &CatalogStore,
    bucket: &Bucket,
    config: &FirehoseConfig,
    schema: &SchemaRef,
    node: &str,
) -> Result<()> {
    let layout = layout(config)?;
    let base = bucket.key_under_prefix(&layout.base)?;
    let location = store.location_for(&bucket.location_of(&base, true));
    let format = config.format;
    let compression = whole_file(config);
    let text = format != FileFormat::Parquet;
    let columns: Vec<Column> = schema
        .fields()
        .iter()
        .filter(|f| !layout.levels.iter().any(|(name, _)| name == f.name()))
        .map(|f| written_column(f, text))
        .collect();
    let keys: Vec<Column> = layout
        .levels
        .iter()
        .map(|(name, _)| Column {
            name: name.clone(),
            data_type: DataType::Utf8.to_string(),
            source_name: None,
            text_format: None,
        })
        .collect();
    let options = written_format_options(format, compression);
    let by = format!("firehose:{node}");
    store.update(|catalog| {
        let db = catalog.ensure_database(&config.database);
        match db.tables.get_mut(&config.table) {
            Some(t) => {
                t.set_schema(columns.clone(), keys.clone(), &by);
                t.location = location.clone();
                t.format = format;
                t.options = options.clone();
            }
            None => {
                db.tables.insert(
                    config.table.clone(),
                    Table::new(
                        config.table.clone(),
                        location.clone(),
                        format,
                        options.clone(),
                        columns.clone(),
                        keys.clone(),
                        &by,
                    ),
                );
            }
        }
        Ok(())
    })
}

/// The delivered records' layout.
fn layout(config: &FirehoseConfig) -> Result<Layout> {
    Layout::delivered(&config.prefix, &config.partition_fields)
        .map_err(|e| Error::Invalid(format!("prefix: {e}")))
}

/// Registers the partitions a Firehose's prefix holds (and their files and bytes) in its
/// catalog table, keeping partitions registered otherwise; returns the folders known.
pub(super) async fn sync_partitions(
    store: &CatalogStore,
    bucket: &Bucket,
    config: &FirehoseConfig,
) -> Result<std::collections::BTreeSet<String>> {
    let layout = layout(config)?;
    let prefix = bucket.key_under_prefix(&layout.base)?;
    let skip = Layout::errors(&config.error_prefix, true)
        .ok()
        .and_then(|errors| bucket.key_under_prefix(&errors.base).ok())
        .filter(|p| !p.is_empty());
    let mut stats = crate::lake::catalog::TableStats::default();
    let mut found: BTreeMap<String, crate::lake::catalog::Partition> = BTreeMap::new();
    for (key, size) in bucket.list_raw(&prefix).await? {
        let rel = key
            .strip_prefix(&prefix)
            .unwrap_or(&key)
            .trim_start_matches('/');
        if skip
            .as_ref()
            .is_some_and(|s| key == *s || key.starts_with(&format!("{s}/")))
            || crate::lake::bucket::is_hidden_key(rel)
        {
            continue;
        }
        stats.files += 1;
        stats.size_bytes += size;
        let folder = rel.rsplit_once('/').map(|(f, _)| f).unwrap_or("");
        if let Some(values) = layout.folder_values(folder) {
            let p =
                found
                    .entry(folder.to_owned())
                    .or_insert_with(|| crate::lake::catalog::Partition {
                        values,
                        location: format!("{folder}/"),
                        files: 0,
                        size_bytes: 0,
                    });
            p.files += 1;
            p.size_bytes += size;
        }
    }
    let folders = found.keys().cloned().collect();
    store.update(|catalog| {
        if let Some(t) = catalog
            .databases
            .get_mut(&config.database)
            .and_then(|db| db.tables.get_mut(&config.table))
        {
            t.merge_partitions(found.into_values());
            t.stats = stats;
            t.updated_at = chrono::Utc::now();
        }
        Ok(())
    })?;
    Ok(folders)
}
