//! A Glue-like data catalog: databases, then tables, then partitions.
//!
//! Each table records its location, format and options, schema, partition keys,
//! partitions and stats. Every schema change becomes a new numbered version, and the
//! history is kept. The catalog is one JSON file, written atomically; a damaged file is
//! reported and never overwritten.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sniff::{Compression, CsvDialect, FileFormat, JsonLayout};
use crate::error::{Error, Result};

/// The newest catalog format this build reads and the one it writes. Version 2 records
/// partition locations relative to their table's location; version 1 files are migrated
/// when opened.
pub const CATALOG_FORMAT_VERSION: u32 = 2;

/// The database bare table names resolve in.
pub const DEFAULT_DATABASE: &str = "default";

/// The whole catalog document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// Format version of the file.
    pub format_version: u32,
    /// Databases by name.
    #[serde(default)]
    pub databases: BTreeMap<String, Database>,
    /// ETL job bookmarks by job id.
    #[serde(default)]
    pub bookmarks: BTreeMap<String, Bookmark>,
    /// How to reach the S3 buckets its tables live in, by `s3://bucket` (endpoint,
    /// region, path style; never credentials), so any process can read them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stores: BTreeMap<String, crate::lake::bucket::S3Options>,
}

/// A database: a namespace of tables.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Database {
    /// Database name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Tables by name.
    #[serde(default)]
    pub tables: BTreeMap<String, Table>,
    /// Views by name (`CREATE VIEW`), as Glue keeps Athena's views next to the tables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub views: BTreeMap<String, View>,
}

/// A view: a saved query that reads like a table. Unqualified names in its SQL resolve
/// in the view's database, and the columns it had when created are kept so a query can
/// tell when the tables below it changed (Athena's stale view).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct View {
    /// View name.
    pub name: String,
    /// The query, as written.
    pub sql: String,
    /// Its columns when it was created or replaced.
    pub columns: Vec<Column>,
    /// Who made it (`query:<node>` or `cli`).
    pub created_by: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last replaced.
    pub updated_at: DateTime<Utc>,
}

/// One column of a table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Name as SQL sees it: lowercase, `_` for other characters.
    pub name: String,
    /// Arrow type, as Arrow writes it (e.g. `Int64`, `Date32`).
    #[serde(rename = "type")]
    pub data_type: String,
    /// Name as written in the files, when it differs from `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    /// The written form text values are parsed with (a chrono format or `iso8601`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_format: Option<String>,
}

impl Column {
    /// The name as written in the files.
    pub fn file_name(&self) -> &str {
        self.source_name.as_deref().unwrap_or(&self.name)
    }

    /// The Arrow type.
    pub fn arrow_type(&self) -> Result<crate::arrow::datatypes::DataType> {
        self.data_type.parse().map_err(|e| {
            Error::Catalog(format!(
                "column '{}' has an unreadable type '{}': {e}",
                self.name, self.data_type
            ))
        })
    }
}

/// Format-specific options needed to read a table's files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormatOptions {
    /// Whole-file compression of text files.
    #[serde(default)]
    pub compression: Compression,
    /// File name extension the table's files share, e.g. `.csv.gz`.
    #[serde(default)]
    pub file_extension: String,
    /// CSV delimiter and header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<CsvDialect>,
    /// JSON lines or array.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_layout: Option<JsonLayout>,
    /// Text values read as null.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub null_markers: Vec<String>,
    /// Files below the table folder that the crawler could not use; queries skip them.
    /// Paths are relative to the table folder.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_files: Vec<String>,
    /// SerDe parameters a user set (`ALTER TABLE … SET SERDEPROPERTIES`), as Glue keeps
    /// them in `SerdeInfo.Parameters`: they override what the crawler found and outlive
    /// recrawls. See [`SERDE_PROPERTIES`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub serde_properties: BTreeMap<String, String>,
}

/// The SerDe parameters Tributary reads, with what each means. The first five are the
/// names Athena's CSV SerDes take (LazySimpleSerDe, OpenCSVSerde); `decimal.separator`
/// is Tributary's own (Athena has none: it reads `3,49` as text).
pub const SERDE_PROPERTIES: &[(&str, &str)] = &[
    ("field.delim", "the field delimiter (LazySimpleSerDe)"),
    ("separatorChar", "the field delimiter (OpenCSVSerde)"),
    ("quoteChar", "the quote character (OpenCSVSerde)"),
    ("escapeChar", "the escape character (OpenCSVSerde)"),
    (
        "serialization.null.format",
        "the one text that means null (LazySimpleSerDe; Athena's default is \\N, so NA stays text)",
    ),
    (
        "decimal.separator",
        "',' reads 3,49 and 1.234,5 as numbers in the table's double and decimal columns",
    ),
];

impl FormatOptions {
    fn serde_char(&self, names: &[&str]) -> Option<u8> {
        names
            .iter()
            .find_map(|n| self.serde_properties.get(*n))
            .and_then(|v| unescape_char(v))
    }

    /// The CSV field delimiter: a SerDe override, else what the crawler found.
    pub fn delimiter(&self) -> u8 {
        self.serde_char(&["field.delim", "separatorChar"])
            .or(self.csv.map(|c| c.delimiter))
            .unwrap_or(b',')
    }

    /// The CSV quote character set by a user, if any (else `"`).
    pub fn quote(&self) -> Option<u8> {
        self.serde_char(&["quoteChar"])
    }

    /// The CSV escape character set by a user, if any.
    pub fn escape(&self) -> Option<u8> {
        self.serde_char(&["escapeChar"])
    }

    /// Text values read as null: `serialization.null.format` if set, else the
    /// crawler's markers.
    pub fn effective_null_markers(&self) -> Vec<String> {
        match self.serde_properties.get("serialization.null.format") {
            Some(m) => vec![m.clone()],
            None => self.null_markers.clone(),
        }
    }

    /// Whether numbers in text are written with a decimal comma table-wide.
    pub fn decimal_comma(&self) -> bool {
        self.serde_properties
            .get("decimal.separator")
            .is_some_and(|s| s == ",")
    }
}

/// One character as Hive users write it: `;`, `\t`, `\001`, `\u0001`.
pub fn unescape_char(v: &str) -> Option<u8> {
    match v {
        "\\t" => Some(b'\t'),
        "\\001" | "\\u0001" => Some(1),
        other => match other.as_bytes() {
            [b] => Some(*b),
            _ => None,
        },
    }
}

/// One partition: values for the partition keys, and where its files are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// One value per partition key, as written in the path.
    pub values: Vec<String>,
    /// Location of the partition folder: relative to the table's location (`2026/12/06/17/`,
    /// `year=2013/`), or absolute / a URL when it lies elsewhere.
    pub location: String,
    /// Number of data files.
    pub files: u64,
    /// Total bytes of the data files.
    pub size_bytes: u64,
}

/// The value a `key=value` folder names: Hive and DataFusion write special characters
/// percent-encoded (`city=New%20York`), so `%XX` is decoded (an invalid one is kept).
pub fn decode_partition_value(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

/// Table statistics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableStats {
    /// Number of data files.
    pub files: u64,
    /// Total bytes.
    pub size_bytes: u64,
    /// Exact row count when known (Parquet footers, ETL writes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

/// A numbered snapshot of a table's schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableVersion {
    /// Version number, from 1.
    pub version: u32,
    /// When this version was made.
    pub created_at: DateTime<Utc>,
    /// Who made it (`crawler:<node>`, `etl:<node>`, `cli`).
    pub created_by: String,
    /// Data columns.
    pub columns: Vec<Column>,
    /// Partition keys.
    pub partition_keys: Vec<Column>,
    /// What changed from the previous version.
    pub change: String,
}

/// A table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Table name.
    pub name: String,
    /// Location of the table's folder: an absolute path, a path relative to the catalog
    /// file's folder, or a URL.
    pub location: String,
    /// File format.
    pub format: FileFormat,
    /// Options for reading the files.
    pub options: FormatOptions,
    /// Data columns (not partition keys).
    pub columns: Vec<Column>,
    /// Partition keys, outermost first.
    #[serde(default)]
    pub partition_keys: Vec<Column>,
    /// Known partitions, sorted by values.
    #[serde(default)]
    pub partitions: Vec<Partition>,
    /// Statistics.
    #[serde(default)]
    pub stats: TableStats,
    /// Table properties, as Glue's `Parameters` and Athena's `TBLPROPERTIES` hold them
    /// (`projection.enabled`, `projection.<key>.type`, `storage.location.template`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// Current version number.
    pub version: u32,
    /// Every version, oldest first; the last is the current one.
    #[serde(default)]
    pub versions: Vec<TableVersion>,
    /// A schema a crawl found but did not apply (its `schema_change_policy` is `log`):
    /// the next version, once accepted ([`Table::accept_proposed`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposed: Option<TableVersion>,
    /// When the table was created.
    pub created_at: DateTime<Utc>,
    /// When the table was last changed in any way.
    pub updated_at: DateTime<Utc>,
}

impl Table {
    /// Sets a new schema, recording a new version when the schema differs.
    /// Returns the description of the change, or `None` when nothing changed.
    pub fn set_schema(
        &mut self,
        columns: Vec<Column>,
        partition_keys: Vec<Column>,
        by: &str,
    ) -> Option<String> {
        let change = describe_schema_change(
            &self.columns,
            &self.partition_keys,
            &columns,
            &partition_keys,
        )?;
        let now = Utc::now();
        self.proposed = None;
        self.columns = columns;
        self.partition_keys = partition_keys;
        self.version += 1;
        self.updated_at = now;
        self.versions.push(TableVersion {
            version: self.version,
            created_at: now,
            created_by: by.to_owned(),
            columns: self.columns.clone(),
            partition_keys: self.partition_keys.clone(),
            change: change.clone(),
        });
        Some(change)
    }

    /// Keeps `columns` and `partition_keys` (found by `by`) as the proposed next version,
    /// without applying them; `None` when they are the schema the table has (a proposal
    /// made before is dropped then).
    pub fn propose_schema(
        &mut self,
        columns: Vec<Column>,
        partition_keys: Vec<Column>,
        by: &str,
    ) -> Option<String> {
        let Some(change) = describe_schema_change(
            &self.columns,
            &self.partition_keys,
            &columns,
            &partition_keys,
        ) else {
            self.proposed = None;
            return None;
        };
        self.proposed = Some(TableVersion {
            version: self.version + 1,
            created_at: Utc::now(),
            created_by: by.to_owned(),
            columns,
            partition_keys,
            change: change.clone(),
        });
        Some(change)
    }

    /// Applies the proposed schema as the next version (`by` accepts it); the change, or
    /// `None` when nothing was proposed.
    pub fn accept_proposed(&mut self, by: &str) -> Option<String> {
        let p = self.proposed.take()?;
        self.set_schema(p.columns, p.partition_keys, by)
    }

    /// Adds partitions not registered yet and updates the files and bytes of those that
    /// are (matched by values), keeping the list sorted. Returns how many were added.
    pub fn merge_partitions(&mut self, found: impl IntoIterator<Item = Partition>) -> usize {
        let mut added = 0;
        for p in found {
            match self.partitions.iter_mut().find(|q| q.values == p.values) {
                Some(q) => {
                    if p.files > 0 || p.size_bytes > 0 {
                        q.files = p.files;
                        q.size_bytes = p.size_bytes;
                    }
                }
                None => {
                    self.partitions.push(p);
                    added += 1;
                }
            }
        }
        self.partitions.sort_by(|a, b| a.values.cmp(&b.values));
        self.updated_at = Utc::now();
        added
    }

    /// A new table at version 1.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: String,
        location: String,
        format: FileFormat,
        options: FormatOptions,
        columns: Vec<Column>,
        partition_keys: Vec<Column>,
        by: &str,
    ) -> Self {
        let now = Utc::now();
        Self {
            versions: vec![TableVersion {
                version: 1,
                created_at: now,
                created_by: by.to_owned(),
                columns: columns.clone(),
                partition_keys: partition_keys.clone(),
                change: "created".to_owned(),
            }],
            proposed: None,
            name,
            location,
            format,
            options,
            columns,
            partition_keys,
            partitions: Vec::new(),
            stats: TableStats::default(),
            parameters: BTreeMap::new(),
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Describes how a schema changed: added, removed and retyped columns, and partition
/// key changes. `None` when nothing changed.
pub fn describe_schema_change(
    old_cols: &[Column],
    old_keys: &[Column],
    new_cols: &[Column],
    new_keys: &[Column],
) -> Option<String> {
    let mut parts = Vec::new();
    for c in new_cols {
        match old_cols.iter().find(|o| o.name == c.name) {
            None => parts.push(format!("added column {} {}", c.name, c.data_type)),
            Some(o) if o.data_type != c.data_type => parts.push(format!(
                "column {} changed type {} -> {}",
                c.name, o.data_type, c.data_type
            )),
            Some(o) if o.text_format != c.text_format || o.source_name != c.source_name => {
                parts.push(format!("column {} changed how it is read", c.name))
            }
            Some(_) => {}
        }
    }
    for o in old_cols {
        if !new_cols.iter().any(|c| c.name == o.name) {
            parts.push(format!("removed column {}", o.name));
        }
    }
    if old_keys != new_keys {
        let names = |k: &[Column]| {
            k.iter()
                .map(|c| format!("{} {}", c.name, c.data_type))
                .collect::<Vec<_>>()
                .join(", ")
        };
        parts.push(format!(
            "partition keys changed ({}) -> ({})",
            names(old_keys),
            names(new_keys)
        ));
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("; "))
    }
}

/// Files an ETL job has already processed, per source table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bookmark {
    /// When the last successful run finished.
    pub updated_at: Option<DateTime<Utc>>,
    /// Per source table (`db.table`), the processed files: location → (size, modified).
    pub tables: BTreeMap<String, BTreeMap<String, BookmarkedFile>>,
}

/// A file a bookmark has seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookmarkedFile {
    /// Size when processed.
    pub size_bytes: u64,
    /// Modification time when processed.
    pub modified: DateTime<Utc>,
}

impl Catalog {
    /// An empty catalog with the default database.
    pub fn new() -> Self {
        let mut c = Self {
            format_version: CATALOG_FORMAT_VERSION,
            ..Default::default()
        };
        c.ensure_database(DEFAULT_DATABASE);
        c
    }

    /// Gets or creates a database.
    pub fn ensure_database(&mut self, name: &str) -> &mut Database {
        self.databases
            .entry(name.to_owned())
            .or_insert_with(|| Database {
                name: name.to_owned(),
                ..Default::default()
            })
    }

    /// Finds a table by database and name.
    pub fn table(&self, database: &str, name: &str) -> Option<&Table> {
        self.databases.get(database)?.tables.get(name)
    }

    /// Resolves `db.table` or a bare name (in the default database).
    pub fn resolve(&self, qualified: &str) -> Result<(&str, &Table)> {
        let (db, name) = match qualified.split_once('.') {
            Some((d, t)) => (d, t),
            None => (DEFAULT_DATABASE, qualified),
        };
        let database = self
            .databases
            .get_key_value(db)
            .ok_or_else(|| Error::Catalog(format!("no database '{db}'")))?;
        let table = database
            .1
            .tables
            .get(name)
            .ok_or_else(|| Error::Catalog(format!("no table '{name}' in database '{db}'")))?;
        Ok((database.0.as_str(), table))
    }

    /// Applies the schema a crawl proposed for `db.table` (or a bare name in the default
    /// database) as its next version, accepted `by`: the change.
    pub fn accept_proposed(&mut self, qualified: &str, by: &str) -> Result<String> {
        let (db, name) = qualified
            .split_once('.')
            .unwrap_or((DEFAULT_DATABASE, qualified));
        let table = self
            .databases
            .get_mut(db)
            .ok_or_else(|| Error::Catalog(format!("no database '{db}'")))?
            .tables
            .get_mut(name)
            .ok_or_else(|| Error::Catalog(format!("no table '{name}' in database '{db}'")))?;
        if table.proposed.is_none() {
            return Err(Error::Catalog(format!(
                "{db}.{name} has no proposed schema: a crawl with schema_change_policy log proposes one when the files' schema changed"
            )));
        }
        Ok(table
            .accept_proposed(by)
            .unwrap_or_else(|| "no change (the proposal matched the current schema)".to_owned()))
    }

    /// Resolves `db.view` or a bare name (in the default database) to a view.
    pub fn view(&self, qualified: &str) -> Option<(&str, &View)> {
        let (db, name) = qualified
            .split_once('.')
            .unwrap_or((DEFAULT_DATABASE, qualified));
        let (db, database) = self.databases.get_key_value(db)?;
        Some((db.as_str(), database.views.get(name)?))
    }

    /// A table's version history, oldest first.
    pub fn history(&self, qualified: &str) -> Result<&[TableVersion]> {
        Ok(&self.resolve(qualified)?.1.versions)
    }

    /// Every table as `(database, table)`, sorted.
    pub fn tables(&self) -> impl Iterator<Item = (&str, &Table)> {
        self.databases
            .iter()
            .flat_map(|(d, db)| db.tables.values().map(move |t| (d.as_str(), t)))
    }
}

/// A catalog file on disk and its in-memory copy, shared by the nodes of a run.
#[derive(Debug)]
pub struct CatalogStore {
    path: PathBuf,
    inner: Mutex<Catalog>,
}

impl CatalogStore {
    /// Opens the catalog at `path`, or starts an empty one when the file does not exist.
    /// A file that exists but cannot be read is an error and is left untouched.
    pub fn open(path: &Path) -> Result<Self> {
        let catalog = match std::fs::read(path) {
            Ok(bytes) => parse_catalog(path, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Catalog::new(),
            Err(e) => return Err(Error::io(path, e)),
        };
        let store = Self {
            path: path.to_path_buf(),
            inner: Mutex::new(catalog),
        };
        store.migrate();
        Ok(store)
    }

    /// Brings an older catalog up to this build's format in memory (the file is rewritten
    /// on the next change): version 1 recorded partition locations in full.
    fn migrate(&self) {
        let mut catalog = self.lock();
        if catalog.format_version >= CATALOG_FORMAT_VERSION {
            return;
        }
        let resolved: Vec<(String, String, String)> = catalog
            .tables()
            .map(|(db, t)| {
                let mut root = self.resolve_location(&t.location);
                if !root.ends_with('/') {
                    root.push('/');
                }
                (db.to_owned(), t.name.clone(), root)
            })
            .collect();
        for (db, name, root) in resolved {
            let Some(table) = catalog
                .databases
                .get_mut(&db)
                .and_then(|d| d.tables.get_mut(&name))
            else {
                continue;
            };
            for p in &mut table.partitions {
                if let Some(rel) = p.location.strip_prefix(&root) {
                    p.location = rel.to_owned();
                }
            }
        }
        catalog.format_version = CATALOG_FORMAT_VERSION;
    }

    /// The catalog file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder relative table locations resolve against.
    pub fn base_dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// Locks the in-memory catalog.
    pub fn lock(&self) -> MutexGuard<'_, Catalog> {
        // A panic while holding the lock would only happen through a bug; the data is
        // still consistent because every change is applied whole under the lock.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the catalog.
    pub fn snapshot(&self) -> Catalog {
        self.lock().clone()
    }

    /// Records how to reach `bucket` if it is an S3 bucket the catalog does not know yet.
    pub fn remember_bucket(&self, bucket: &crate::lake::bucket::Bucket) -> Result<()> {
        let Some((url, options)) = bucket.s3_entry() else {
            return Ok(());
        };
        if self.lock().stores.get(&url) == Some(&options) {
            return Ok(());
        }
        self.update(|c| {
            c.stores.insert(url, options);
            Ok(())
        })
    }

    /// Applies `change` to a copy, writes the copy atomically, then makes it current.
    /// If the write fails, the in-memory catalog is unchanged.
    pub fn update<T>(&self, change: impl FnOnce(&mut Catalog) -> Result<T>) -> Result<T> {
        let mut guard = self.lock();
        let mut next = guard.clone();
        let out = change(&mut next)?;
        let text = serde_json::to_string_pretty(&next)
            .map_err(|e| Error::Internal(format!("catalog serialization: {e}")))?;
        crate::fsutil::write_atomic(&self.path, format!("{text}\n").as_bytes())?;
        *guard = next;
        Ok(out)
    }

    /// Resolves a table location to an absolute path or URL.
    pub fn resolve_location(&self, location: &str) -> String {
        if location.contains("://") || Path::new(location).is_absolute() {
            location.to_owned()
        } else {
            let mut s = self
                .base_dir()
                .join(location)
                .to_string_lossy()
                .into_owned();
            if location.ends_with('/') && !s.ends_with('/') {
                s.push('/');
            }
            s
        }
    }

    /// The location to record for an absolute folder: relative to the catalog's folder
    /// when it lies below it (so a project folder can be moved), else absolute.
    pub fn location_for(&self, absolute: &str) -> String {
        let base = self.base_dir();
        let base = base.canonicalize().unwrap_or(base);
        match Path::new(absolute).strip_prefix(&base) {
            Ok(rel) => {
                let mut s = rel.to_string_lossy().into_owned();
                if absolute.ends_with('/') && !s.ends_with('/') {
                    s.push('/');
                }
                if s.is_empty() { "./".to_owned() } else { s }
            }
            Err(_) => absolute.to_owned(),
        }
    }
}

fn parse_catalog(path: &Path, bytes: &[u8]) -> Result<Catalog> {
    let catalog: Catalog = serde_json::from_slice(bytes).map_err(|e| {
        let what = if e.is_eof() {
            "is truncated (it ends in the middle of the document)"
        } else {
            "is not a valid catalog"
        };
        Error::Catalog(format!(
            "file '{}' {what}: {e}. It was left untouched; restore it from a backup or remove it to start an empty catalog",
            path.display()
        ))
    })?;
    if catalog.format_version > CATALOG_FORMAT_VERSION {
        return Err(Error::Catalog(format!(
            "file '{}' was written by a newer Tributary (format version {}); this build reads version {CATALOG_FORMAT_VERSION} and older",
            path.display(),
            catalog.format_version
        )));
    }
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::decode_partition_value;

    #[test]
    fn hive_folder_values_are_percent_decoded() {
        assert_eq!(decode_partition_value("New%20York"), "New York");
        assert_eq!(decode_partition_value("a%2Fb%3Fc"), "a/b?c");
        assert_eq!(decode_partition_value("100%"), "100%");
        assert_eq!(decode_partition_value("2024-01-01"), "2024-01-01");
    }
}
