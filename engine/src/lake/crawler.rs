//! A Glue-like crawler: scans a bucket prefix, classifies files, infers schemas and
//! partitions, groups files into tables, and applies the result to a catalog.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::bucket::{Bucket, ObjectInfo, join_key};
use super::catalog::{CatalogStore, Column, FormatOptions, Partition, Table, TableStats};
use super::sniff::{
    self, Classified, Compression, FileFormat, InferredType, SniffOptions, Unclassifiable,
    normalize_name,
};
use crate::error::Result;

/// Bytes read from the start of a file to classify it.
const HEAD_BYTES: u64 = 64 * 1024;
/// Bytes read at most from a text file to sample its rows.
const SAMPLE_BYTES: u64 = 2 * 1024 * 1024;
/// Decompressed bytes at most sampled from a compressed file.
const SAMPLE_DECOMPRESSED: usize = 4 * 1024 * 1024;
/// Files classified concurrently.
const CONCURRENCY: usize = 8;

/// What to do when a crawl finds a table's schema changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum SchemaChangePolicy {
    /// Update the table in the catalog, as a new version.
    #[default]
    Update,
    /// Keep the catalog's schema and only report the change.
    Log,
}

impl SchemaChangePolicy {
    /// Every value's name, as project files hold them.
    pub const NAMES: &'static [&'static str] = &["update", "log"];
}

/// Crawl settings.
#[derive(Clone, Debug)]
pub struct CrawlOptions {
    /// Prefix under the bucket's own prefix to crawl ("" for all).
    pub prefix: String,
    /// How many folder levels below the crawl root make a table (1: each top folder).
    pub table_level: usize,
    /// Sampling and null markers.
    pub sniff: SniffOptions,
}

impl Default for CrawlOptions {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            table_level: 1,
            sniff: SniffOptions::default(),
        }
    }
}

/// A file that was not used, with why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedFile {
    /// Key in the bucket.
    pub key: String,
    /// Why it was not used.
    pub reason: String,
}

/// A table as the crawler found it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CrawledTable {
    /// Table name (normalized).
    pub name: String,
    /// Absolute location of the table folder, ending in `/`.
    pub location: String,
    /// File format.
    pub format: FileFormat,
    /// Read options.
    pub options: FormatOptions,
    /// Data columns.
    pub columns: Vec<Column>,
    /// Partition keys.
    pub partition_keys: Vec<Column>,
    /// Partitions found.
    pub partitions: Vec<Partition>,
    /// Files, bytes and rows (when known).
    pub stats: TableStats,
    /// Notes, e.g. ragged rows in the sample.
    pub warnings: Vec<String>,
}

/// Everything one crawl found.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CrawlReport {
    /// Tables, sorted by name.
    pub tables: Vec<CrawledTable>,
    /// Files that could not be classified or did not fit their table, with reasons.
    pub unclassified: Vec<SkippedFile>,
    /// Hidden and marker files skipped on purpose (`_SUCCESS`, `.crc`, …).
    pub skipped: Vec<String>,
    /// Files listed in all.
    pub files_listed: u64,
    /// Database the tables belong in.
    pub database: String,
    /// What the catalog does with schema changes.
    pub policy: SchemaChangePolicy,
    /// The crawler (node id or `cli`) that made this report.
    pub crawler: String,
    /// For an S3 bucket: `s3://bucket` and how to reach it.
    #[serde(skip)]
    pub store: Option<(String, crate::lake::bucket::S3Options)>,
}

/// Crawls `bucket` and returns what was found. `progress(done, total)` is called as
/// files are classified.
pub async fn crawl(
    bucket: &Arc<Bucket>,
    options: &CrawlOptions,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<CrawlReport> {
    let listing = bucket.list(&options.prefix).await?;
    let root_key = bucket.key_under_prefix(&options.prefix)?;
    let mut report = CrawlReport {
        files_listed: listing.objects.len() as u64 + listing.refused.len() as u64,
        database: super::catalog::DEFAULT_DATABASE.to_owned(),
        store: bucket.s3_entry(),
        ..Default::default()
    };
    for r in &listing.refused {
        report.unclassified.push(SkippedFile {
            key: r.key.clone(),
            reason: r.reason.clone(),
        });
    }

    let mut to_classify = Vec::new();
    for obj in listing.objects {
        let rel = obj
            .key
            .strip_prefix(&root_key)
            .map(|r| r.trim_start_matches('/').to_owned())
            .unwrap_or_else(|| obj.key.clone());
        if crate::lake::bucket::is_hidden_key(&rel) {
            report.skipped.push(obj.key.clone());
            continue;
        }
        to_classify.push((rel, obj));
    }

    let total = to_classify.len() as u64;
    progress(0, total);
    let done = std::sync::atomic::AtomicU64::new(0);
    let sniff_opts = &options.sniff;
    let classified: Vec<(
        String,
        ObjectInfo,
        std::result::Result<Classified, Unclassifiable>,
    )> = futures::stream::iter(to_classify.into_iter().map(|(rel, obj)| {
        let bucket = bucket.clone();
        let done = &done;
        async move {
            let result = classify_object(&bucket, &obj, sniff_opts).await;
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(n, total);
            (rel, obj, result)
        }
    }))
    .buffered(CONCURRENCY)
    .collect()
    .await;

    // Group by table folder.
    let root_name = root_key
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| bucket.root_name());
    let mut groups: BTreeMap<Vec<String>, Vec<FileEntry>> = BTreeMap::new();
    let mut excluded: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for (rel, obj, result) in classified {
        let segments: Vec<&str> = rel.split('/').collect();
        let dirs = &segments[..segments.len() - 1];
        let table_depth = dirs
            .iter()
            .take(options.table_level)
            .take_while(|s| !s.contains('='))
            .count();
        let table_path: Vec<String> = dirs[..table_depth]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let in_table = segments[table_depth..].join("/");
        match result {
            Err(e) => {
                report.unclassified.push(SkippedFile {
                    key: obj.key.clone(),
                    reason: e.0,
                });
                excluded.entry(table_path).or_default().push(in_table);
            }
            Ok(c) => {
                // Partitions are `key=value` folders right below the table; other folders
                // are read recursively, without partition columns.
                let below = &dirs[table_depth..];
                let partitions: Vec<(String, String)> = if below.iter().all(|s| s.contains('=')) {
                    below
                        .iter()
                        .filter_map(|s| {
                            s.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned()))
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                groups.entry(table_path).or_default().push(FileEntry {
                    object: obj,
                    classified: c,
                    partitions,
                });
            }
        }
    }

    // Name tables after their folder; disambiguate clashes with the full path.
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for path in groups.keys() {
        *names
            .entry(normalize_name(path.last().unwrap_or(&root_name)))
            .or_default() += 1;
    }
    for (path, files) in groups {
        let short = normalize_name(path.last().unwrap_or(&root_name));
        let name = if names[&short] > 1 {
            normalize_name(&path.join("_"))
        } else {
            short
        };
        let folder_key = join_key(&root_key, &path.join("/"));
        let location = bucket.location_of(&folder_key, true);
        let (table, rejected) = build_table(name, location, files, &options.sniff);
        let mut skip: Vec<String> = excluded.remove(&path).unwrap_or_default();
        for r in &rejected {
            skip.push(
                r.key
                    .strip_prefix(&format!("{folder_key}/"))
                    .unwrap_or(&r.key)
                    .to_owned(),
            );
        }
        report.unclassified.extend(rejected);
        let table = table.map(|mut t| {
            skip.sort();
            t.options.excluded_files = skip;
            t
        });
        if let Some(t) = table {
            report.tables.push(t);
        }
    }
    report.tables.sort_by(|a, b| a.name.cmp(&b.name));
    report.unclassified.sort_by(|a, b| a.key.cmp(&b.key));
    report.skipped.sort();
    Ok(report)
}

struct FileEntry {
    object: ObjectInfo,
    classified: Classified,
    /// `key=value` partition folders below the table folder.
    partitions: Vec<(String, String)>,
}

/// Classifies one object by its content (and extension where content is ambiguous).
pub async fn classify_object(
    bucket: &Bucket,
    obj: &ObjectInfo,
    options: &SniffOptions,
) -> std::result::Result<Classified, Unclassifiable> {
    if obj.size_bytes == 0 {
        return Err(Unclassifiable("empty file (0 bytes)".to_owned()));
    }
    let lower = obj.key.to_ascii_lowercase();
    let is_parquet_name =
        lower.ends_with(".parquet") || lower.ends_with(".parq") || lower.ends_with(".pq");
    let compression = Compression::from_key(&obj.key);
    let head = if is_parquet_name {
        None
    } else {
        let want = if compression == Compression::None {
            HEAD_BYTES
        } else {
            SAMPLE_BYTES / 2
        };
        Some(
            bucket
                .read_prefix(&obj.key, want, obj.size_bytes)
                .await
                .map_err(|e| Unclassifiable(e.to_string()))?,
        )
    };
    let magic_parquet = head.as_ref().is_some_and(|h| h.starts_with(b"PAR1"));
    if is_parquet_name || magic_parquet {
        return classify_parquet(bucket, obj).await;
    }
    let head = head.unwrap_or_default();
    match compression {
        Compression::None => {
            let (sample, truncated) = if (head.len() as u64) < obj.size_bytes {
                let more = bucket
                    .read_prefix(&obj.key, SAMPLE_BYTES, obj.size_bytes)
                    .await
                    .map_err(|e| Unclassifiable(e.to_string()))?;
                let truncated = (more.len() as u64) < obj.size_bytes;
                (more, truncated)
            } else {
                (head, false)
            };
            sniff::classify_text(&obj.key, &sample, truncated, compression, options)
        }
        c => {
            let whole = (head.len() as u64) >= obj.size_bytes;
            let data = sniff::decompress_prefix(&head, c, SAMPLE_DECOMPRESSED)?;
            let truncated = !whole || data.len() >= SAMPLE_DECOMPRESSED;
            sniff::classify_text(&obj.key, &data, truncated, c, options)
        }
    }
}

async fn classify_parquet(
    bucket: &Bucket,
    obj: &ObjectInfo,
) -> std::result::Result<Classified, Unclassifiable> {
    use crate::datafusion::parquet::arrow::parquet_to_arrow_schema;
    use crate::datafusion::parquet::errors::ParquetError;
    use crate::datafusion::parquet::file::metadata::ParquetMetaDataReader;
    // Footer only: the last 64 KiB, more if the footer says it is larger.
    let size = obj.size_bytes;
    let read = |range: std::ops::Range<u64>| async move {
        bucket
            .read_range(&obj.key, range)
            .await
            .map_err(|e| Unclassifiable(e.to_string()))
    };
    let mut tail = read(size.saturating_sub(64 * 1024)..size).await?;
    if !tail.ends_with(b"PAR1") {
        return Err(Unclassifiable(
            "not a Parquet file (no PAR1 footer); the file may be truncated".to_owned(),
        ));
    }
    let mut reader = ParquetMetaDataReader::new();
    loop {
        match reader.try_parse_sized(&tail, size) {
            Ok(()) => break,
            Err(ParquetError::NeedMoreData(n))
                if (n as u64) <= size && (n as u64) > tail.len() as u64 =>
            {
                tail = read(size - n as u64..size).await?;
            }
            Err(e) => return Err(Unclassifiable(format!("not a readable Parquet file: {e}"))),
        }
    }
    let metadata = reader
        .finish()
        .map_err(|e| Unclassifiable(format!("not a readable Parquet file: {e}")))?;
    let file = metadata.file_metadata();
    let schema = parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata())
        .map_err(|e| Unclassifiable(format!("Parquet schema not readable: {e}")))?;
    Ok(sniff::classify_parquet_schema(
        &schema,
        file.num_rows().max(0) as u64,
    ))
}

fn file_extension(key: &str, format: FileFormat, compression: Compression) -> String {
    let name = key.rsplit('/').next().unwrap_or(key);
    let lower = name.to_ascii_lowercase();
    let base = match compression {
        Compression::None => lower.as_str(),
        c => lower.strip_suffix(c.extension()).unwrap_or(&lower),
    };
    let ext = match base.rfind('.') {
        Some(i) if i > 0 => base[i..].to_owned(),
        _ => String::new(),
    };
    let _ = format;
    // Preserve the file's own case for the extension match.
    let len = ext.len() + compression.extension().len();
    if len == 0 || len > name.len() {
        String::new()
    } else {
        name[name.len() - len..].to_owned()
    }
}

fn majority<T: Ord + Clone>(items: impl Iterator<Item = T>) -> Option<T> {
    let mut counts: BTreeMap<T, usize> = BTreeMap::new();
    for i in items {
        *counts.entry(i).or_default() += 1;
    }
    counts.into_iter().max_by_key(|(_, n)| *n).map(|(t, _)| t)
}

fn build_table(
    name: String,
    location: String,
    files: Vec<FileEntry>,
    sniff: &SniffOptions,
) -> (Option<CrawledTable>, Vec<SkippedFile>) {
    let mut rejected = Vec::new();
    let reject = |f: &FileEntry, reason: String| SkippedFile {
        key: f.object.key.clone(),
        reason,
    };
    // One format, compression and extension per table: the majority wins.
    let Some(format) = majority(files.iter().map(|f| f.classified.format)) else {
        return (None, rejected);
    };
    let compression = majority(
        files
            .iter()
            .filter(|f| f.classified.format == format)
            .map(|f| f.classified.compression),
    )
    .unwrap_or_default();
    let extension = majority(
        files
            .iter()
            .filter(|f| f.classified.format == format && f.classified.compression == compression)
            .map(|f| file_extension(&f.object.key, format, compression)),
    )
    .unwrap_or_default();
    let layout = majority(files.iter().map(|f| {
        f.partitions
            .iter()
            .map(|(k, _)| k.clone())
            .collect::<Vec<_>>()
    }))
    .unwrap_or_default();
    let mut kept: Vec<FileEntry> = Vec::new();
    for f in files {
        let c = &f.classified;
        let ext = file_extension(&f.object.key, c.format, c.compression);
        let this_layout: Vec<String> = f.partitions.iter().map(|(k, _)| k.clone()).collect();
        if c.format != format {
            rejected.push(reject(
                &f,
                format!("format {} differs from table '{name}' ({format})", c.format),
            ));
        } else if c.compression != compression {
            rejected.push(reject(
                &f,
                format!(
                    "compression {:?} differs from table '{name}' ({compression:?})",
                    c.compression
                ),
            ));
        } else if ext != extension {
            rejected.push(reject(&f, format!(
                "extension '{ext}' differs from the other files of table '{name}' ('{extension}')"
            )));
        } else if this_layout != layout {
            rejected.push(reject(
                &f,
                format!("partition folders differ from the rest of table '{name}'"),
            ));
        } else {
            kept.push(f);
        }
    }
    if kept.is_empty() {
        return (None, rejected);
    }

    // CSV: files are read by position, so dialect and header must agree exactly.
    let mut warnings = Vec::new();
    if format == FileFormat::Csv {
        let reference = kept[0].classified.clone();
        let header = |c: &Classified| {
            c.columns
                .iter()
                .map(|c| c.source_name.clone())
                .collect::<Vec<_>>()
        };
        let (ok, bad): (Vec<_>, Vec<_>) = kept.into_iter().partition(|f| {
            f.classified.csv == reference.csv && header(&f.classified) == header(&reference)
        });
        for f in &bad {
            rejected.push(reject(
                f,
                format!(
                    "CSV header or delimiter differs from the first file of table '{name}' ({})",
                    kept_key(&ok)
                ),
            ));
        }
        kept = ok;
    }
    for f in &kept {
        for w in &f.classified.warnings {
            warnings.push(format!("{}: {w}", f.object.key));
        }
    }

    // Merge columns by name, widening types.
    let mut order: Vec<String> = Vec::new();
    let mut types: BTreeMap<String, InferredType> = BTreeMap::new();
    for f in &kept {
        for c in &f.classified.columns {
            match types.get_mut(&c.source_name) {
                Some(t) => *t = t.merge(&c.ty),
                None => {
                    order.push(c.source_name.clone());
                    types.insert(c.source_name.clone(), c.ty.clone());
                }
            }
        }
    }
    let mut used_names: BTreeSet<String> = BTreeSet::new();
    let mut unique = |base: String| {
        let mut n = base.clone();
        let mut i = 2;
        while !used_names.insert(n.clone()) {
            n = format!("{base}_{i}");
            i += 1;
        }
        n
    };
    let columns: Vec<Column> = order
        .iter()
        .map(|source| {
            let ty = &types[source];
            let name = unique(normalize_name(source));
            Column {
                source_name: (name != *source).then(|| source.clone()),
                name,
                data_type: ty.data_type().to_string(),
                text_format: if format == FileFormat::Parquet {
                    None
                } else {
                    ty.text_format()
                },
            }
        })
        .collect();

    // Partition keys: named after their `key=value` folders.
    let mut partition_keys = Vec::new();
    for (i, raw) in layout.iter().enumerate() {
        let raw = raw.clone();
        let mut pname = normalize_name(&raw);
        if used_names.contains(&pname) {
            warnings.push(format!(
                "partition key '{raw}' clashes with a column; it is named '{pname}_partition'"
            ));
            pname = format!("{pname}_partition");
        }
        used_names.insert(pname.clone());
        let ty = sniff::infer_partition_type(kept.iter().map(|f| f.partitions[i].1.as_str()));
        partition_keys.push(Column {
            source_name: (pname != raw).then_some(raw),
            name: pname,
            data_type: ty.data_type().to_string(),
            text_format: None,
        });
    }

    let mut partitions: BTreeMap<Vec<String>, Partition> = BTreeMap::new();
    let mut stats = TableStats::default();
    let mut rows: Option<u64> = Some(0);
    for f in &kept {
        stats.files += 1;
        stats.size_bytes += f.object.size_bytes;
        rows = match (rows, f.classified.rows_exact) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        if !layout.is_empty() {
            let values: Vec<String> = f.partitions.iter().map(|(_, v)| v.clone()).collect();
            let folder: Vec<String> = f
                .partitions
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let p = partitions
                .entry(values.clone())
                .or_insert_with(|| Partition {
                    values,
                    location: format!("{location}{}/", folder.join("/")),
                    files: 0,
                    size_bytes: 0,
                });
            p.files += 1;
            p.size_bytes += f.object.size_bytes;
        }
    }
    stats.rows = rows;
    let first = &kept[0].classified;
    let options = FormatOptions {
        compression,
        file_extension: extension,
        csv: first.csv,
        json_layout: first.json_layout,
        null_markers: if format == FileFormat::Parquet {
            Vec::new()
        } else {
            sniff.null_markers.clone()
        },
        excluded_files: Vec::new(),
    };
    (
        Some(CrawledTable {
            name,
            location,
            format,
            options,
            columns,
            partition_keys,
            partitions: partitions.into_values().collect(),
            stats,
            warnings,
        }),
        rejected,
    )
}

fn kept_key(files: &[FileEntry]) -> String {
    files
        .first()
        .map(|f| f.object.key.clone())
        .unwrap_or_default()
}

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
                    let change = super::catalog::describe_schema_change(
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
