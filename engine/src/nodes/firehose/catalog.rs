//! A Firehose's table in the catalog: the delivered prefix registered as a table (its
//! keys `partition_0` … `partition_3` for hour folders, or the dynamic partitioning
//! fields), and the partitions its folders hold, synced at the start and end of a run.

use std::collections::BTreeMap;

use super::{FirehoseConfig, whole_file};
use crate::arrow::datatypes::{DataType, SchemaRef};
use crate::error::Result;
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
    let prefix = bucket.key_under_prefix(&config.prefix)?;
    let location = store.location_for(&bucket.location_of(&prefix, true));
    let format = config.format;
    let compression = whole_file(config);
    let text = format != FileFormat::Parquet;
    let columns: Vec<Column> = schema
        .fields()
        .iter()
        .filter(|f| !config.partition_fields.contains(f.name()))
        .map(|f| written_column(f, text))
        .collect();
    let keys: Vec<Column> = partition_key_names(config)
        .into_iter()
        .map(|name| Column {
            name,
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

/// The partition keys of the registered table: the dynamic partitioning fields (their
/// `field=value` folders), else `partition_0` … `partition_3` for the `YYYY/MM/dd/HH/`
/// folders, as a Glue crawl of the prefix names them.
fn partition_key_names(config: &FirehoseConfig) -> Vec<String> {
    if config.partition_fields.is_empty() {
        (0..4).map(|i| format!("partition_{i}")).collect()
    } else {
        config.partition_fields.clone()
    }
}

/// The partition values of a folder below the prefix (`2026/12/06/17`, `kind=a`), when
/// it has one folder per key.
pub(super) fn folder_values(config: &FirehoseConfig, folder: &str) -> Option<Vec<String>> {
    let segments: Vec<&str> = folder.split('/').filter(|s| !s.is_empty()).collect();
    let keys = partition_key_names(config);
    if segments.len() != keys.len() {
        return None;
    }
    if config.partition_fields.is_empty() {
        return Some(segments.iter().map(|s| (*s).to_owned()).collect());
    }
    segments
        .iter()
        .zip(&keys)
        .map(|(s, k)| {
            s.split_once('=')
                .filter(|(key, _)| key == k)
                .map(|(_, v)| v.to_owned())
        })
        .collect()
}

/// Registers the partitions a Firehose's prefix holds (and their files and bytes) in its
/// catalog table, keeping partitions registered otherwise; returns the folders known.
pub(super) async fn sync_partitions(
    store: &CatalogStore,
    bucket: &Bucket,
    config: &FirehoseConfig,
) -> Result<std::collections::BTreeSet<String>> {
    let prefix = bucket.key_under_prefix(&config.prefix)?;
    let skip = bucket
        .key_under_prefix(&config.error_prefix)
        .ok()
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
        if let Some(values) = folder_values(config, folder) {
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
