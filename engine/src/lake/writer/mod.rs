//! ETL writes: SQL over the catalog, written to a bucket prefix as a table.
//!
//! Output is written to a hidden staging folder in the bucket first. Only when every
//! file is written is it moved into place (overwrite swaps the whole folder; append
//! moves the new files in), and only then is the catalog updated, so a failed job
//! leaves no partial output visible. Job bookmarks record the source files a job has
//! processed, so an incremental run reads only files that are new since the last
//! successful run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

mod commit;

use super::bucket::Bucket;
use super::catalog::{
    Bookmark, BookmarkedFile, CatalogStore, Column, FormatOptions, Partition, Table, TableStats,
};
use super::provider::{FileFilter, ScanHooks};
use super::sniff::{Compression, CsvDialect, FileFormat, JsonLayout, normalize_name};
use crate::arrow::array::{Array, UInt64Array};
use crate::arrow::datatypes::{DataType, TimeUnit};
use crate::datafusion::common::config::{CsvOptions, JsonOptions, TableParquetOptions};
use crate::datafusion::common::parsers::CompressionTypeVariant;
use crate::datafusion::datasource::file_format::csv::CsvFormatFactory;
use crate::datafusion::datasource::file_format::json::JsonFormatFactory;
use crate::datafusion::datasource::file_format::parquet::ParquetFormatFactory;
use crate::datafusion::datasource::file_format::{FileFormatFactory, format_as_file_type};
use crate::datafusion::logical_expr::LogicalPlanBuilder;
use crate::datafusion::physical_plan::collect;
use crate::error::{Error, Result};
use commit::{commit_local, commit_s3, list_files};

crate::choice_enum! {
    /// Compression of written files: Parquet pages (snappy, zstd) or whole text files
    /// (gzip, zstd).
    pub enum OutputCompression {
        /// Parquet's default: snappy pages.
        Snappy = "snappy",
        /// Zstandard (pages in Parquet, whole files for CSV/JSON).
        Zstd = "zstd",
        /// gzip whole files (CSV/JSON).
        Gzip = "gzip",
        /// No compression.
        None = "none",
    }
}

impl OutputCompression {
    /// Whether this compression applies to files of `format`.
    pub fn applies_to(self, format: FileFormat) -> bool {
        match format {
            FileFormat::Parquet => self != Self::Gzip,
            FileFormat::Csv | FileFormat::Json => self != Self::Snappy,
            FileFormat::Avro | FileFormat::Orc => false,
        }
    }
}

crate::choice_enum! {
    /// Overwrite or append.
    pub enum WriteMode {
        /// Replace the table's data.
        Overwrite = "overwrite",
        /// Add new files next to the existing ones.
        Append = "append",
    }
}

/// What an ETL job does.
#[derive(Clone, Debug)]
pub struct EtlSpec {
    /// A single SELECT over catalog tables.
    pub sql: String,
    /// Database of the output table.
    pub database: String,
    /// Name of the output table.
    pub table: String,
    /// Key prefix in the bucket the table is written under.
    pub output_prefix: String,
    /// File format.
    pub format: FileFormat,
    /// Compression.
    pub compression: OutputCompression,
    /// Hive partition columns, outermost first.
    pub partition_by: Vec<String>,
    /// Overwrite or append.
    pub mode: WriteMode,
    /// Job id for bookmarks; `None` processes all files every run.
    pub bookmark: Option<String>,
    /// Who is writing, for table versions (`etl:<node>`).
    pub by: String,
    /// How CSV is written: comma with a header unless a statement asks otherwise
    /// (Athena's TEXTFILE has no header).
    pub csv: CsvDialect,
    /// How the output is registered in the catalog.
    pub registration: Registration,
}

/// How a write is registered in the catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registration {
    /// The output is the table: its schema, format and partitions (ETL, CTAS).
    Table,
    /// Files added to an existing table, which keeps its schema and read options; new
    /// partitions are added (INSERT INTO).
    Existing,
    /// Files only, no table (UNLOAD).
    None,
}

/// The CSV Tributary writes unless told otherwise.
pub const WRITTEN_CSV: CsvDialect = CsvDialect {
    delimiter: b',',
    has_header: true,
};

/// What an ETL run did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EtlReport {
    /// `db.table` written.
    pub table: String,
    /// Rows read from the sources.
    pub rows_read: u64,
    /// Rows written.
    pub rows_written: u64,
    /// Files written.
    pub files_written: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Source files read.
    pub files_read: u64,
    /// Source bytes read.
    pub bytes_read: u64,
    /// Source files skipped because a bookmark had them.
    pub files_skipped_by_bookmark: u64,
    /// Partitions of the output table.
    pub partitions: usize,
    /// Output table version after the run.
    pub version: u32,
    /// Schema change, if any.
    pub change: Option<String>,
    /// Staging objects an earlier run of the job left behind (a killed process), removed.
    pub stale_staging_removed: u64,
}

/// Removes the local staging folder: all of it after a failure, the folders the commit
/// emptied after a success.
struct Staging {
    path: PathBuf,
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Removes an S3 staging prefix unless the output was committed. A failed run removes it
/// before it reports the error; a stopped run (its future dropped) in a task.
struct S3Staging {
    bucket: Bucket,
    key: String,
    committed: bool,
}

impl Drop for S3Staging {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (bucket, key) = (self.bucket.clone(), self.key.clone());
            runtime.spawn(async move {
                let _ = remove_objects(&bucket, &key).await;
            });
        }
    }
}

/// Where every ETL run stages its output, in the bucket.
const STAGING_ROOT: &str = ".tributary/staging";

/// Staging older than this is removed by any run of the same job, whoever left it.
const STALE_STAGING: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// Deletes every object under `prefix`; how many there were.
async fn remove_objects(bucket: &Bucket, prefix: &str) -> Result<u64> {
    let objects = bucket.list_raw(prefix).await?;
    for (key, _) in &objects {
        bucket.delete(key).await?;
    }
    Ok(objects.len() as u64)
}

/// Whether process `pid` runs on this machine (`None`: cannot tell here).
fn process_alive(pid: u32) -> Option<bool> {
    cfg!(target_os = "linux").then(|| std::path::Path::new(&format!("/proc/{pid}")).exists())
}

/// Removes staging an earlier run of the same job left behind (a killed process leaves
/// it; a stopped or failed one removes its own): one whose process no longer runs on
/// this machine, or older than a day. Staging of other jobs, and of runs still going in
/// other processes, is left alone. Returns the objects removed.
async fn sweep_staging(bucket: &Bucket, by: &str) -> Result<u64> {
    let mine = format!("{}-", normalize_name(by));
    let objects = bucket.list_raw(STAGING_ROOT).await?;
    let folders: std::collections::BTreeSet<String> = objects
        .iter()
        .filter_map(|(key, _)| {
            let rest = key.strip_prefix(STAGING_ROOT)?.trim_start_matches('/');
            let folder = rest.split('/').next()?;
            folder.starts_with(&mine).then(|| folder.to_owned())
        })
        .collect();
    let mut removed = 0;
    for folder in folders {
        // `<job>-<YYYYmmddTHHMMSSmmm>-<pid>`.
        let mut parts = folder.rsplitn(3, '-');
        let pid = parts.next().and_then(|p| p.parse::<u32>().ok());
        let started = parts
            .next()
            .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y%m%dT%H%M%S%3f").ok());
        let old = started.is_some_and(|t| chrono::Utc::now().naive_utc() - t > STALE_STAGING);
        let gone = match pid {
            // One engine runs one run of a job at a time: its own leftovers are stale.
            Some(p) if p == std::process::id() => true,
            Some(p) => process_alive(p) == Some(false),
            None => false,
        };
        if old || gone {
            let key = format!("{STAGING_ROOT}/{folder}");
            removed += remove_objects(bucket, &key).await?;
            if let Ok(dir) = bucket.local_path(&key) {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
    Ok(removed)
}

/// Runs an ETL job end to end: plan the query, write it to a staging folder, commit the
/// files into place, register the table (and move the bookmark).
pub async fn run_etl(
    store: &CatalogStore,
    bucket: &Bucket,
    spec: &EtlSpec,
    env: &crate::api::Environment,
) -> Result<EtlReport> {
    store.remember_bucket(bucket)?;
    let (table_name, output_key) = check_target(spec, bucket)?;
    let (filter, skipped) = bookmark_filter(store, spec);
    let hooks = ScanHooks {
        filter,
        ..Default::default()
    };
    let ctx = super::sql::session(Some(store), &hooks, env)?;
    super::sql::check_read_only(&spec.sql)?;
    let df = super::sql::read_only_frame(&ctx, &spec.sql)
        .await
        .map_err(|e| {
            Error::Sql(super::sql::with_table_hint(
                &ctx,
                &crate::error::describe_datafusion_error(&e),
            ))
        })?;
    let out_schema = df.schema().as_arrow().clone();
    check_partitions(spec, &out_schema)?;

    let run_id = format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%3f"),
        std::process::id()
    );
    let stale_staging_removed = sweep_staging(bucket, &spec.by).await?;
    let staging_key = format!("{STAGING_ROOT}/{}-{run_id}", normalize_name(&spec.by));
    // A local folder stages in a folder and commits by renames; an S3 bucket stages under
    // a key prefix and commits by server-side copies.
    let (staging_url, staging_dir) = match bucket.local_path(&staging_key) {
        Ok(dir) => {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            (format!("{}/", dir.to_string_lossy()), Some(dir))
        }
        Err(_) => (bucket.location_of(&staging_key, true), None),
    };
    let staging = staging_dir
        .as_ref()
        .map(|dir| Staging { path: dir.clone() });
    let mut s3_staging = staging_dir.is_none().then(|| S3Staging {
        bucket: bucket.clone(),
        key: staging_key.clone(),
        committed: false,
    });
    let staged = async {
        let copy = LogicalPlanBuilder::copy_to(
            df.logical_plan().clone(),
            staging_url,
            format_as_file_type(format_factory(spec)?),
            [("single_file_output".to_owned(), "false".to_owned())].into(),
            spec.partition_by.clone(),
        )?
        .build()?;
        let plan = ctx.state().create_physical_plan(&copy).await?;
        let written = collect(plan.clone(), ctx.task_ctx()).await?;
        let rows_read = super::sql::rows_read(&plan);
        let rows_written: u64 = written
            .iter()
            .filter_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<UInt64Array>()
                    .map(|a| (0..a.len()).map(|i| a.value(i)).sum::<u64>())
            })
            .sum();

        // Commit: move the staged files into place.
        let (staged, files_now, target_location) = match &staging_dir {
            Some(staging_dir) => {
                let staged = list_files(staging_dir)?;
                commit_local(
                    bucket,
                    staging_dir,
                    &output_key,
                    spec.mode,
                    &run_id,
                    &staged,
                )?;
                let target_dir = bucket.local_path(&output_key)?;
                let now = list_files(&target_dir)?;
                (staged, now, target_dir.to_string_lossy().into_owned())
            }
            None => {
                let (staged, now) = commit_s3(bucket, &staging_key, &output_key, spec.mode).await?;
                (staged, now, bucket.location_of(&output_key, false))
            }
        };
        Ok((rows_read, rows_written, staged, files_now, target_location))
    }
    .await;
    let (rows_read, rows_written, staged, files_now, target_location) = match staged {
        Ok(done) => {
            if let Some(s) = s3_staging.as_mut() {
                s.committed = true;
            }
            done
        }
        Err(e) => {
            // What was staged goes before the error is reported.
            if let Some(mut s) = s3_staging.take() {
                s.committed = true;
                let _ = remove_objects(bucket, &staging_key).await;
            }
            // The error says where the job was writing (a full disk, a read-only
            // folder, an S3 error are only clear with it).
            let place = bucket.location_of(&output_key, false);
            return Err(match e {
                Error::Invalid(_) | Error::Cancelled => e,
                Error::Sql(why) => Error::Sql(format!("writing the output to '{place}': {why}")),
                other => Error::Bucket(format!("writing the output to '{place}': {other}")),
            });
        }
    };
    drop(staging);

    let scanned = hooks.scanned_files();
    let (partitions, stats) = layout(&files_now, &spec.partition_by);
    let written = Written {
        table_name: &table_name,
        out_schema: &out_schema,
        location: store.location_for(&format!("{target_location}/")),
        partitions: partitions
            .into_iter()
            .map(|mut p| {
                p.location = store.location_for(&p.location);
                p
            })
            .collect(),
        stats,
    };
    let partition_count = written.partitions.len();
    let (version, change) = match spec.registration {
        Registration::None => (0, None),
        _ => register(store, spec, written, &scanned)?,
    };
    Ok(EtlReport {
        table: format!("{}.{table_name}", spec.database),
        rows_read,
        rows_written,
        files_written: staged.len() as u64,
        bytes_written: staged.iter().map(|(_, s)| s).sum(),
        files_read: scanned.len() as u64,
        bytes_read: scanned.iter().map(|f| f.size_bytes).sum(),
        files_skipped_by_bookmark: skipped.load(std::sync::atomic::Ordering::Relaxed),
        partitions: partition_count,
        version,
        change,
        stale_staging_removed,
    })
}

/// The output table's name and the key its files go under, checked.
fn check_target(spec: &EtlSpec, bucket: &Bucket) -> Result<(String, String)> {
    let table_name = normalize_name(&spec.table);
    if table_name != spec.table {
        return Err(Error::Invalid(format!(
            "table name '{}' must be lowercase letters, digits and '_' (e.g. '{table_name}')",
            spec.table
        )));
    }
    let output_key = bucket.key_under_prefix(&spec.output_prefix)?;
    if output_key.is_empty() {
        return Err(Error::Invalid(
            "output_prefix must name a folder inside the bucket".to_owned(),
        ));
    }
    Ok((table_name, output_key))
}

/// With a bookmark: a filter that skips the source files the last successful run
/// already processed, and the count of files it skipped.
fn bookmark_filter(
    store: &CatalogStore,
    spec: &EtlSpec,
) -> (Option<FileFilter>, Arc<std::sync::atomic::AtomicU64>) {
    let skipped = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let Some(job) = &spec.bookmark else {
        return (None, skipped);
    };
    let seen = store
        .lock()
        .bookmarks
        .get(job)
        .cloned()
        .unwrap_or_default()
        .tables;
    let counter = skipped.clone();
    let filter = Arc::new(
        move |table: &str, loc: &str, size: u64, modified: chrono::DateTime<chrono::Utc>| {
            let done = seen
                .get(table)
                .and_then(|files| files.get(loc))
                .is_some_and(|f| f.size_bytes == size && f.modified == modified);
            if done {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            !done
        },
    ) as FileFilter;
    (Some(filter), skipped)
}

/// Every partition column is in the result, and some column is not one.
fn check_partitions(spec: &EtlSpec, out_schema: &crate::arrow::datatypes::Schema) -> Result<()> {
    for p in &spec.partition_by {
        if out_schema.field_with_name(p).is_err() {
            return Err(Error::Invalid(format!(
                "partition column '{p}' is not in the query's result (columns: {})",
                out_schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    if spec.partition_by.len() == out_schema.fields().len() {
        return Err(Error::Invalid(
            "every column is a partition column; at least one data column is needed".to_owned(),
        ));
    }
    Ok(())
}

/// How DataFusion writes the job's format and compression.
fn format_factory(spec: &EtlSpec) -> Result<Arc<dyn FileFormatFactory>> {
    Ok(match spec.format {
        FileFormat::Parquet => {
            let mut opts = TableParquetOptions::default();
            opts.global.compression = Some(
                match spec.compression {
                    OutputCompression::Snappy => "snappy",
                    OutputCompression::Zstd => "zstd(3)",
                    OutputCompression::Gzip => "gzip(6)",
                    OutputCompression::None => "uncompressed",
                }
                .to_owned(),
            );
            Arc::new(ParquetFormatFactory::new_with_options(opts))
        }
        FileFormat::Csv => Arc::new(CsvFormatFactory::new_with_options(
            CsvOptions::default()
                .with_has_header(spec.csv.has_header)
                .with_delimiter(spec.csv.delimiter)
                .with_compression(text_compression(spec.compression)?),
        )),
        FileFormat::Json => Arc::new(JsonFormatFactory::new_with_options(JsonOptions {
            compression: text_compression(spec.compression)?,
            ..Default::default()
        })),
        FileFormat::Avro | FileFormat::Orc => {
            return Err(Error::Invalid(
                spec.format.written_or_error("format").unwrap_err(),
            ));
        }
    })
}

/// The partitions (from `key=value` folders) and totals of the files now in the table.
fn layout(files: &[(String, u64)], partition_by: &[String]) -> (Vec<Partition>, TableStats) {
    let mut partitions: BTreeMap<Vec<String>, Partition> = BTreeMap::new();
    let mut stats = TableStats::default();
    for (rel, size) in files {
        if super::bucket::is_hidden_key(rel) {
            continue;
        }
        stats.files += 1;
        stats.size_bytes += size;
        if !partition_by.is_empty() {
            let dirs: Vec<&str> = rel.split('/').collect();
            let dirs = &dirs[..dirs.len() - 1];
            let values: Vec<String> = dirs
                .iter()
                .filter_map(|d| {
                    d.split_once('=')
                        .map(|(_, v)| super::catalog::decode_partition_value(v))
                })
                .collect();
            let p = partitions
                .entry(values.clone())
                .or_insert_with(|| Partition {
                    values,
                    // Relative to the table's folder, as the crawler records them.
                    location: format!("{}/", dirs.join("/")),
                    files: 0,
                    size_bytes: 0,
                });
            p.files += 1;
            p.size_bytes += size;
        }
    }
    (partitions.into_values().collect(), stats)
}

/// What a job wrote, for the catalog.
struct Written<'a> {
    table_name: &'a str,
    out_schema: &'a crate::arrow::datatypes::Schema,
    location: String,
    partitions: Vec<Partition>,
    stats: TableStats,
}

/// Registers the output table and moves the bookmark forward, in one catalog write.
/// Returns the table's version and what changed.
fn register(
    store: &CatalogStore,
    spec: &EtlSpec,
    w: Written<'_>,
    scanned: &[super::provider::ScannedFile],
) -> Result<(u32, Option<String>)> {
    let (format, options) = table_format(spec);
    let (columns, partition_keys) = output_columns(w.out_schema, &spec.partition_by, format);
    let table_name = w.table_name.to_owned();
    store.update(|catalog| {
        let db = catalog.ensure_database(&spec.database);
        let result = match db.tables.get_mut(&table_name) {
            Some(t) if spec.registration == Registration::Existing => {
                t.merge_partitions(w.partitions.clone());
                t.stats = w.stats.clone();
                (t.version, None)
            }
            Some(t) => {
                let change = t.set_schema(columns.clone(), partition_keys.clone(), &spec.by);
                t.location = w.location.clone();
                t.format = format;
                t.options = options.clone();
                t.partitions = w.partitions.clone();
                t.stats = w.stats.clone();
                t.updated_at = chrono::Utc::now();
                (t.version, change)
            }
            None => {
                let mut t = Table::new(
                    table_name.clone(),
                    w.location.clone(),
                    format,
                    options.clone(),
                    columns.clone(),
                    partition_keys.clone(),
                    &spec.by,
                );
                t.partitions = w.partitions.clone();
                t.stats = w.stats.clone();
                db.tables.insert(table_name.clone(), t);
                (1, Some("created".to_owned()))
            }
        };
        if let Some(job) = &spec.bookmark {
            let mark = catalog
                .bookmarks
                .entry(job.clone())
                .or_insert_with(Bookmark::default);
            mark.updated_at = Some(chrono::Utc::now());
            for f in scanned {
                mark.tables.entry(f.table.clone()).or_default().insert(
                    f.location.clone(),
                    BookmarkedFile {
                        size_bytes: f.size_bytes,
                        modified: f.modified,
                    },
                );
            }
        }
        Ok(result)
    })
}

fn text_compression(c: OutputCompression) -> Result<CompressionTypeVariant> {
    Ok(match c {
        OutputCompression::None => CompressionTypeVariant::UNCOMPRESSED,
        OutputCompression::Gzip => CompressionTypeVariant::GZIP,
        OutputCompression::Zstd => CompressionTypeVariant::ZSTD,
        OutputCompression::Snappy => {
            return Err(Error::Invalid(
                "snappy applies to Parquet only; use gzip, zstd or none for CSV and JSON"
                    .to_owned(),
            ));
        }
    })
}

fn table_format(spec: &EtlSpec) -> (FileFormat, FormatOptions) {
    let compression = match (spec.format, spec.compression) {
        (FileFormat::Parquet, _) | (_, OutputCompression::None | OutputCompression::Snappy) => {
            Compression::None
        }
        (_, OutputCompression::Gzip) => Compression::Gzip,
        (_, OutputCompression::Zstd) => Compression::Zstd,
    };
    let mut options = written_format_options(spec.format, compression);
    if options.csv.is_some() {
        options.csv = Some(spec.csv);
    }
    (spec.format, options)
}

/// Read options for files Tributary writes (ETL jobs, Firehose): CSV with a header,
/// JSON lines, or Parquet, with whole-file compression for text.
pub fn written_format_options(format: FileFormat, compression: Compression) -> FormatOptions {
    match format {
        FileFormat::Parquet => FormatOptions {
            file_extension: ".parquet".to_owned(),
            ..Default::default()
        },
        FileFormat::Csv => FormatOptions {
            compression,
            file_extension: format!(".csv{}", compression.extension()),
            csv: Some(WRITTEN_CSV),
            null_markers: vec![String::new()],
            ..Default::default()
        },
        FileFormat::Json => FormatOptions {
            compression,
            file_extension: format!(".json{}", compression.extension()),
            json_layout: Some(JsonLayout::Lines),
            ..Default::default()
        },
        // Read only: what the crawler records for such files.
        FileFormat::Avro | FileFormat::Orc => FormatOptions {
            file_extension: format!(".{format}"),
            ..Default::default()
        },
    }
}

/// The catalog column for a field Tributary writes. Text formats record how dates and
/// timestamps are written so they read back typed.
pub fn written_column(field: &crate::arrow::datatypes::Field, text: bool) -> Column {
    let (dt, text_format) = match field.data_type() {
        DataType::Date32 | DataType::Date64 if text => {
            (DataType::Date32, Some("%Y-%m-%d".to_owned()))
        }
        DataType::Timestamp(_, _) if text => (
            DataType::Timestamp(TimeUnit::Microsecond, None),
            Some("iso8601".to_owned()),
        ),
        DataType::Utf8View | DataType::LargeUtf8 if text => (DataType::Utf8, None),
        other => (other.clone(), None),
    };
    Column {
        name: field.name().clone(),
        data_type: dt.to_string(),
        source_name: None,
        text_format,
    }
}

/// Catalog columns and partition keys for a written table.
fn output_columns(
    schema: &crate::arrow::datatypes::Schema,
    partition_by: &[String],
    format: FileFormat,
) -> (Vec<Column>, Vec<Column>) {
    let text = !format.is_self_describing();
    let columns = schema
        .fields()
        .iter()
        .filter(|f| !partition_by.contains(f.name()))
        .map(|f| written_column(f, text))
        .collect();
    let keys = partition_by
        .iter()
        .filter_map(|p| schema.field_with_name(p).ok())
        .map(|f| {
            let dt = match f.data_type() {
                d @ (DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::UInt8
                | DataType::UInt16
                | DataType::UInt32
                | DataType::UInt64
                | DataType::Date32
                | DataType::Boolean) => d.clone(),
                _ => DataType::Utf8,
            };
            Column {
                name: f.name().clone(),
                data_type: dt.to_string(),
                source_name: None,
                text_format: None,
            }
        })
        .collect();
    (columns, keys)
}
