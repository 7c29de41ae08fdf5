//! A Glue-like crawler: scans a bucket prefix, classifies files, infers schemas and
//! partitions, groups files into tables (`table.rs`), and applies the result to a
//! catalog (`apply.rs`).

mod apply;
mod table;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::bucket::{Bucket, ObjectInfo, join_key};
use super::catalog::{Column, FormatOptions, Partition, TableStats};
use super::sniff::{
    self, Classified, Compression, FileFormat, InferredType, SniffOptions, Unclassifiable,
    normalize_name,
};
use crate::error::Result;
pub use apply::{TableChange, apply_to_catalog};

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

crate::choice_enum! {
    /// What happens to a table this crawler made when a crawl no longer finds it (Glue's
    /// `SchemaChangePolicy.DeleteBehavior`).
    pub enum DeleteBehavior {
        /// Keep it, marked with the table property `DEPRECATED_BY_CRAWLER` (Glue's default).
        Deprecate = "deprecate_in_database",
        /// Keep it and only report it.
        Log = "log",
        /// Remove it from the catalog (its files stay).
        Delete = "delete_from_database",
    }
}

crate::choice_enum! {
    /// Which folders a crawl may change the catalog for (Glue's `RecrawlPolicy`).
    pub enum RecrawlBehavior {
        /// Every table and partition is brought up to date.
        Everything = "crawl_everything",
        /// Tables already in the catalog keep their schema; only folders not seen before
        /// are added (new tables, new partitions).
        NewFoldersOnly = "crawl_new_folders_only",
    }
}

crate::choice_enum! {
    /// How table folders group into tables (Glue's `TableGroupingPolicy`).
    pub enum TableGrouping {
        /// Each folder at the table level is a table.
        None = "none",
        /// Sibling table folders whose files have compatible schemas (same format, and
        /// the same type for every column they share) are one table one level up, each
        /// folder a partition, as Glue's `CombineCompatibleSchemas` does.
        CombineCompatibleSchemas = "combine_compatible_schemas",
    }
}

/// The table property Glue sets on a table a crawl no longer finds.
pub const DEPRECATED_PROPERTY: &str = "DEPRECATED_BY_CRAWLER";

/// Crawl settings.
#[derive(Clone, Debug)]
pub struct CrawlOptions {
    /// Prefix under the bucket's own prefix to crawl ("" for all).
    pub prefix: String,
    /// How many folder levels below the crawl root make a table (1: each top folder).
    pub table_level: usize,
    /// Sampling and null markers.
    pub sniff: SniffOptions,
    /// Glob patterns of keys below the crawled prefix to leave out (Glue's `Exclusions`:
    /// `*` stays within a folder, `**` crosses folders).
    pub exclusions: Vec<String>,
    /// Whether compatible sibling folders combine into one table.
    pub grouping: TableGrouping,
}

impl Default for CrawlOptions {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            table_level: 1,
            sniff: SniffOptions::default(),
            exclusions: Vec::new(),
            grouping: TableGrouping::default(),
        }
    }
}

/// Compiles exclusion patterns as Glue reads them: `*` matches within a folder name,
/// `**` across folders, `?` one character, `[a-z]` / `[!a-z]` a class, `{a,b}` either.
pub fn exclusion_set(patterns: &[String]) -> std::result::Result<regex::RegexSet, String> {
    let regexes: Vec<String> = patterns
        .iter()
        .map(|p| glue_glob(p).map_err(|e| format!("exclusion '{p}' is not a glob pattern: {e}")))
        .collect::<std::result::Result<_, _>>()?;
    regex::RegexSet::new(&regexes).map_err(|e| e.to_string())
}

/// One Glue glob as an anchored regular expression.
fn glue_glob(pattern: &str) -> std::result::Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::from("^");
    let mut i = 0;
    let mut braces = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                out.push_str(".*");
                i += 1;
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            '[' => {
                let end = chars[i..]
                    .iter()
                    .position(|&d| d == ']')
                    .ok_or("a '[' is not closed")?
                    + i;
                let mut class: String = chars[i + 1..end].iter().collect();
                if let Some(rest) = class.strip_prefix('!') {
                    class = format!("^{rest}");
                }
                out.push('[');
                out.push_str(&class.replace('\\', "\\\\"));
                out.push(']');
                i = end;
            }
            '{' => {
                braces += 1;
                out.push_str("(?:");
            }
            '}' if braces > 0 => {
                braces -= 1;
                out.push(')');
            }
            ',' if braces > 0 => out.push('|'),
            other => out.push_str(&regex::escape(&other.to_string())),
        }
        i += 1;
    }
    if braces > 0 {
        return Err("a '{' is not closed".to_owned());
    }
    out.push('$');
    Ok(out)
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
    /// Files left out by the exclusion patterns.
    pub excluded: Vec<String>,
    /// Files listed in all.
    pub files_listed: u64,
    /// What the user should know about the crawl as a whole (e.g. why nothing was found).
    pub notes: Vec<String>,
    /// Database the tables belong in.
    pub database: String,
    /// What the catalog does with schema changes.
    pub policy: SchemaChangePolicy,
    /// The crawler (node id or `cli`) that made this report.
    pub crawler: String,
    /// The crawled folder (absolute location, ending in `/`): tables this crawler made
    /// below it and not found again follow `delete_behavior`.
    pub root_location: String,
    /// What happens to those tables.
    pub delete_behavior: DeleteBehavior,
    /// Whether tables already in the catalog are brought up to date or only get new
    /// folders.
    pub recrawl: RecrawlBehavior,
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
    report.root_location = bucket.location_of(&root_key, true);
    let exclusions = exclusion_set(&options.exclusions).map_err(crate::error::Error::Invalid)?;
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
        if exclusions.is_match(&rel) {
            report.excluded.push(rel);
            continue;
        }
        to_classify.push((rel, obj));
    }
    let classified = classify_all(bucket, to_classify, &options.sniff, progress).await;
    let (mut groups, mut excluded) = group_by_table(classified, options.table_level, &mut report);
    if options.grouping == TableGrouping::CombineCompatibleSchemas {
        combine_compatible(&mut groups, &mut excluded);
    }
    let root_name = root_key
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| bucket.root_name());
    make_tables(
        bucket,
        &root_key,
        &root_name,
        groups,
        excluded,
        options,
        &mut report,
    );
    report.tables.sort_by(|a, b| a.name.cmp(&b.name));
    report.unclassified.sort_by(|a, b| a.key.cmp(&b.key));
    report.skipped.sort();
    report.excluded.sort();
    note_excluded_inside_tables(&mut report);
    if report.tables.is_empty() {
        let place = if root_key.is_empty() {
            format!("bucket '{}'", bucket.root_name())
        } else {
            format!("'{root_key}'")
        };
        let visible = report.files_listed - report.skipped.len() as u64;
        report.notes.push(if report.files_listed == 0 {
            format!("no tables: {place} holds no files")
        } else if visible == 0 {
            format!(
                "no tables: {place} holds only hidden or marker files ({} such as '{}'), which crawlers skip",
                report.skipped.len(),
                report.skipped[0]
            )
        } else {
            format!(
                "no tables: none of the {visible} file(s) under {place} could be used (see why for each above)"
            )
        });
    }
    Ok(report)
}

/// Athena reads every file under a table's location, whatever the crawler excluded: says
/// so on each table whose folder holds excluded files.
fn note_excluded_inside_tables(report: &mut CrawlReport) {
    let root = report.root_location.clone();
    for t in &mut report.tables {
        let Some(folder) = t.location.strip_prefix(&root) else {
            continue;
        };
        let inside: Vec<&String> = report
            .excluded
            .iter()
            .filter(|k| k.starts_with(folder))
            .collect();
        if let Some(first) = inside.first() {
            t.warnings.push(format!(
                "{} excluded file(s) such as '{first}' lie in this table's folder: the exclusion shaped the schema, but queries (as Athena's) read every file under the table's location",
                inside.len()
            ));
        }
    }
}

/// A classified object: its key below the crawled prefix, the object, and what it is.
type ClassifiedObject = (
    String,
    ObjectInfo,
    std::result::Result<Classified, Unclassifiable>,
);

/// Classifies the objects, a few at a time, reporting progress.
async fn classify_all(
    bucket: &Arc<Bucket>,
    objects: Vec<(String, ObjectInfo)>,
    sniff_opts: &SniffOptions,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Vec<ClassifiedObject> {
    let total = objects.len() as u64;
    progress(0, total);
    let done = std::sync::atomic::AtomicU64::new(0);
    futures::stream::iter(objects.into_iter().map(|(rel, obj)| {
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
    .await
}

/// Files by table folder, and per table folder the files (relative to it) that could
/// not be classified.
type Grouped = (
    BTreeMap<Vec<String>, Vec<FileEntry>>,
    BTreeMap<Vec<String>, Vec<String>>,
);

/// Groups files by table folder (`table_level` folders deep, stopping at `key=value`
/// partition folders); unclassifiable files go to the report.
fn group_by_table(
    classified: Vec<ClassifiedObject>,
    table_level: usize,
    report: &mut CrawlReport,
) -> Grouped {
    let mut groups: BTreeMap<Vec<String>, Vec<FileEntry>> = BTreeMap::new();
    let mut excluded: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for (rel, obj, result) in classified {
        let segments: Vec<&str> = rel.split('/').collect();
        let dirs = &segments[..segments.len() - 1];
        let table_depth = dirs
            .iter()
            .take(table_level)
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
                // Every folder below the table folder is a partition level, as Glue makes
                // them: `key=value` folders give the key its name, others are
                // `partition_<level>` (Firehose's `YYYY/MM/dd/HH/` is partition_0 … 3).
                let folders: Vec<String> = dirs[table_depth..]
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect();
                let partitions = partition_pairs(&folders);
                groups.entry(table_path).or_default().push(FileEntry {
                    object: obj,
                    classified: c,
                    partitions,
                    folders,
                });
            }
        }
    }
    (groups, excluded)
}

/// The partition key and value each folder below a table folder stands for.
fn partition_pairs(folders: &[String]) -> Vec<(String, String)> {
    folders
        .iter()
        .enumerate()
        .map(|(level, s)| match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => (
                k.to_owned(),
                crate::lake::catalog::decode_partition_value(v),
            ),
            _ => (format!("partition_{level}"), s.clone()),
        })
        .collect()
}

/// A table folder's files as a schema to compare: format and column types by name.
fn group_schema(files: &[FileEntry]) -> (FileFormat, BTreeMap<String, InferredType>) {
    let format = files[0].classified.format;
    let mut columns: BTreeMap<String, InferredType> = BTreeMap::new();
    for f in files.iter().filter(|f| f.classified.format == format) {
        for c in &f.classified.columns {
            let name = normalize_name(&c.source_name);
            let merged = match columns.get(&name) {
                Some(t) => t.merge(&c.ty),
                None => c.ty.clone(),
            };
            columns.insert(name, merged);
        }
    }
    (format, columns)
}

/// Whether two schemas combine: same format, a column in common, and every shared
/// column of types that merge (a column only one has is null in the other's files).
fn compatible(
    a: &(FileFormat, BTreeMap<String, InferredType>),
    b: &(FileFormat, BTreeMap<String, InferredType>),
) -> bool {
    a.0 == b.0
        && a.1.iter().all(|(name, t)| {
            b.1.get(name)
                .is_none_or(|u| t == u || t.merge(u) != InferredType::Utf8)
        })
        && a.1.keys().any(|k| b.1.contains_key(k))
}

/// Glue's `CombineCompatibleSchemas`: among sibling table folders, the largest set whose
/// schemas are compatible becomes one table at their parent folder, each folder a
/// partition (`partition_0`, or its key for `key=value` folders) before the levels below
/// it. Folders that do not fit stay tables of their own.
fn combine_compatible(
    groups: &mut BTreeMap<Vec<String>, Vec<FileEntry>>,
    excluded: &mut BTreeMap<Vec<String>, Vec<String>>,
) {
    let mut by_parent: BTreeMap<Vec<String>, Vec<Vec<String>>> = BTreeMap::new();
    for path in groups.keys() {
        if let Some((_, parent)) = path.split_last() {
            by_parent
                .entry(parent.to_vec())
                .or_default()
                .push(path.clone());
        }
    }
    for (parent, mut siblings) in by_parent {
        // A parent that holds files of its own is already a table folder's content. At
        // the crawl root even one folder is lifted: Glue makes one table of the include
        // path when its files are compatible.
        if (siblings.len() < 2 && !parent.is_empty()) || groups.contains_key(&parent) {
            continue;
        }
        siblings.sort();
        // The largest set of mutually compatible folders (by files, then folders): each
        // folder seeds a set that the others join in order when they fit it.
        let schemas: Vec<_> = siblings.iter().map(|p| group_schema(&groups[p])).collect();
        let files_in =
            |set: &[usize]| -> usize { set.iter().map(|&i| groups[&siblings[i]].len()).sum() };
        let mut best: Vec<usize> = Vec::new();
        for seed in 0..siblings.len() {
            let mut set = vec![seed];
            for i in (0..siblings.len()).filter(|&i| i != seed) {
                if set.iter().all(|&j| compatible(&schemas[i], &schemas[j])) {
                    set.push(i);
                }
            }
            if (set.len(), files_in(&set)) > (best.len(), files_in(&best)) {
                best = set;
            }
        }
        let joined = best;
        if joined.len() < 2 && siblings.len() > 1 {
            continue;
        }
        let mut files = Vec::new();
        let mut skipped = Vec::new();
        for &i in &joined {
            let path = &siblings[i];
            let folder = path.last().cloned().unwrap_or_default();
            for mut f in groups.remove(path).unwrap_or_default() {
                f.folders.insert(0, folder.clone());
                f.partitions = partition_pairs(&f.folders);
                files.push(f);
            }
            for e in excluded.remove(path).unwrap_or_default() {
                skipped.push(format!("{folder}/{e}"));
            }
        }
        groups.insert(parent.clone(), files);
        if !skipped.is_empty() {
            excluded.entry(parent).or_default().extend(skipped);
        }
    }
}

/// Builds a table per folder, named after the folder (the full path when two folders
/// share a name); rejected files go to the report and the table's excluded files.
fn make_tables(
    bucket: &Bucket,
    root_key: &str,
    root_name: &str,
    groups: BTreeMap<Vec<String>, Vec<FileEntry>>,
    mut excluded: BTreeMap<Vec<String>, Vec<String>>,
    options: &CrawlOptions,
    report: &mut CrawlReport,
) {
    let root_name = root_name.to_owned();
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
        let folder_key = join_key(root_key, &path.join("/"));
        let location = bucket.location_of(&folder_key, true);
        let (table, rejected) = table::build_table(name, location, files, &options.sniff);
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
        if let Some(mut t) = table {
            skip.sort();
            t.options.excluded_files = skip;
            report.tables.push(t);
        }
    }
}

/// A classified file of a table folder.
struct FileEntry {
    object: ObjectInfo,
    classified: Classified,
    /// Partition keys and values of the folders below the table folder.
    partitions: Vec<(String, String)>,
    /// Those folders as named.
    folders: Vec<String>,
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
    // Avro object container files and ORC files open with their magic bytes (whatever
    // their names), and are not compressed as whole files.
    if head.starts_with(AVRO_MAGIC)
        || (lower.ends_with(".avro") && compression == Compression::None)
    {
        return classify_avro(bucket, obj).await;
    }
    if head.starts_with(b"ORC") || (lower.ends_with(".orc") && compression == Compression::None) {
        return classify_orc(bucket, obj).await;
    }
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

/// The first bytes of an Avro object container file.
const AVRO_MAGIC: &[u8] = b"Obj\x01";

/// An Avro file's schema, from its header (the first block of the file; more is read
/// when its metadata is larger). Avro does not record a row count.
async fn classify_avro(
    bucket: &Bucket,
    obj: &ObjectInfo,
) -> std::result::Result<Classified, Unclassifiable> {
    use crate::datafusion::arrow_avro::reader::ReaderBuilder;
    let mut want = HEAD_BYTES;
    loop {
        let head = bucket
            .read_range(&obj.key, 0..want.min(obj.size_bytes))
            .await
            .map_err(|e| Unclassifiable(e.to_string()))?;
        if !head.starts_with(AVRO_MAGIC) {
            return Err(Unclassifiable(
                "not an Avro object container file (no 'Obj' magic bytes)".to_owned(),
            ));
        }
        match ReaderBuilder::new().build(std::io::BufReader::new(&head[..])) {
            Ok(reader) => {
                return Ok(sniff::classify_typed_schema(
                    FileFormat::Avro,
                    &reader.schema(),
                    None,
                ));
            }
            // The header runs past what was read: read more, up to the whole file.
            Err(_) if want < obj.size_bytes => want = (want * 8).min(obj.size_bytes),
            Err(e) => return Err(Unclassifiable(format!("not a readable Avro file: {e}"))),
        }
    }
}

/// An ORC file's schema and row count, from its tail (postscript, footer).
async fn classify_orc(
    bucket: &Bucket,
    obj: &ObjectInfo,
) -> std::result::Result<Classified, Unclassifiable> {
    let size = obj.size_bytes;
    let mut start = size.saturating_sub(256 * 1024);
    loop {
        let tail = bucket
            .read_range(&obj.key, start..size)
            .await
            .map_err(|e| Unclassifiable(e.to_string()))?;
        let mut reader = TailReader { start, size, tail };
        match orc_rust::reader::metadata::read_metadata(&mut reader) {
            Ok(metadata) => {
                let schema = metadata
                    .root_data_type()
                    .create_arrow_schema(&Default::default());
                return Ok(sniff::classify_typed_schema(
                    FileFormat::Orc,
                    &schema,
                    Some(metadata.number_of_rows()),
                ));
            }
            // The footer is larger than the tail read: read the whole file.
            Err(_) if start > 0 => start = 0,
            Err(e) => return Err(Unclassifiable(format!("not a readable ORC file: {e}"))),
        }
    }
}

/// The last bytes of a file, for reading an ORC tail without fetching the rest.
struct TailReader {
    start: u64,
    size: u64,
    tail: bytes::Bytes,
}

impl orc_rust::reader::ChunkReader for TailReader {
    type T = bytes::buf::Reader<bytes::Bytes>;

    fn len(&self) -> u64 {
        self.size
    }

    fn get_read(&self, offset: u64) -> std::io::Result<Self::T> {
        use bytes::Buf as _;
        match offset.checked_sub(self.start) {
            Some(at) if at <= self.tail.len() as u64 => Ok(self.tail.slice(at as usize..).reader()),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "before the tail read",
            )),
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
    Ok(sniff::classify_typed_schema(
        FileFormat::Parquet,
        &schema,
        Some(file.num_rows().max(0) as u64),
    ))
}

#[cfg(test)]
mod tests {
    use super::exclusion_set;

    #[test]
    fn exclusions_read_globs_as_glue_does() {
        let set = |p: &str| exclusion_set(&[p.to_owned()]).unwrap();
        // `*` stays within a folder name, `**` crosses folders.
        assert!(set("*.csv").is_match("a.csv"));
        assert!(!set("*.csv").is_match("dir/a.csv"));
        assert!(set("**.csv").is_match("dir/sub/a.csv"));
        assert!(set("archive/**").is_match("archive/2024/x.json"));
        assert!(!set("archive/**").is_match("orders/archive.json"));
        assert!(set("{tmp,scratch}/*").is_match("scratch/a"));
        assert!(set("part-?.json").is_match("part-1.json"));
        assert!(set("[!a]*.csv").is_match("b.csv"));
        assert!(!set("[!a]*.csv").is_match("a.csv"));
        assert!(exclusion_set(&["a{b".to_owned()]).is_err());
    }
}
