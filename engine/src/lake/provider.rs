//! The catalog as DataFusion sees it.
//!
//! [`LakeCatalogProvider`] exposes databases as schemas and tables as table providers, so
//! SQL sees `db.table` and bare names in the default database. An unpartitioned table is
//! a [`LakeTable`]: a DataFusion `ListingTable` over the table's folder (read with its
//! subfolders, as Athena reads a prefix); a partitioned one is a
//! [`PartitionedTable`](super::partitioned::PartitionedTable) over the partitions the
//! catalog registers (a filter on a key prunes whole partitions). Both skip hidden and
//! marker files, apply an optional file filter (ETL bookmarks) and log the files each
//! scan reads. Columns whose names or text forms need mapping (dates written
//! `2012/01/01`, mixed-case names) are exposed through a view over the raw table.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::catalog::{CatalogStore, Column, Table, View};
use super::sniff::{Compression, FileFormat, JsonLayout};
use super::views::ViewPlanner;
use crate::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use crate::datafusion::catalog::{CatalogProvider, SchemaProvider, Session, TableProvider};
use crate::datafusion::common::config::ConfigOptions;
use crate::datafusion::common::tree_node::{Transformed, TreeNode};
use crate::datafusion::common::{Column as DfColumn, DataFusionError, ScalarValue};
use crate::datafusion::datasource::ViewTable;
use crate::datafusion::datasource::file_format::FileFormat as DfFileFormat;
use crate::datafusion::datasource::file_format::csv::CsvFormat;
use crate::datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use crate::datafusion::datasource::file_format::json::JsonFormat;
use crate::datafusion::datasource::file_format::parquet::ParquetFormat;
use crate::datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use crate::datafusion::datasource::physical_plan::FileScanConfig;
use crate::datafusion::datasource::source::DataSourceExec;
use crate::datafusion::execution::runtime_env::RuntimeEnv;
use crate::datafusion::logical_expr::{
    Expr, LogicalPlanBuilder, TableProviderFilterPushDown, TableType, cast, lit,
};
use crate::datafusion::physical_plan::ExecutionPlan;
use crate::datafusion::physical_plan::empty::EmptyExec;
use crate::error::{Error, Result};

/// The name SQL uses for the catalog.
pub const CATALOG_NAME: &str = "tributary";

/// A file a scan read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannedFile {
    /// `db.table` it belongs to.
    pub table: String,
    /// Object location as DataFusion names it.
    pub location: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Modification time.
    pub modified: DateTime<Utc>,
}

/// Decides whether a scan reads a file: `(table, location, size, modified) -> keep`.
pub type FileFilter = Arc<dyn Fn(&str, &str, u64, DateTime<Utc>) -> bool + Send + Sync>;

/// Hooks shared by every table of one SQL session.
#[derive(Clone, Default)]
pub struct ScanHooks {
    /// Files read by scans, in order.
    pub scanned: Arc<Mutex<Vec<ScannedFile>>>,
    /// Optional filter (ETL bookmarks skip files already processed).
    pub filter: Option<FileFilter>,
    /// What the scans want the user to know (a partitioned table with no partitions,
    /// files that do not fit the table), each once.
    pub notes: Arc<Mutex<Vec<String>>>,
    /// Partitions whose folders scans listed (after pruning).
    pub partitions_read: Arc<std::sync::atomic::AtomicU64>,
}

impl fmt::Debug for ScanHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScanHooks")
            .field("has_filter", &self.filter.is_some())
            .finish()
    }
}

impl ScanHooks {
    /// The files scanned so far.
    pub fn scanned_files(&self) -> Vec<ScannedFile> {
        self.scanned.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// Adds a note for the user, unless it is there already.
    pub fn note(&self, text: String) {
        if let Ok(mut notes) = self.notes.lock()
            && !notes.contains(&text)
        {
            notes.push(text);
        }
    }

    /// Adds the files a scan of `table` reads to the scan log.
    pub fn log_scanned<'a>(
        &self,
        table: &str,
        files: impl IntoIterator<Item = &'a object_store::ObjectMeta>,
    ) {
        if let Ok(mut log) = self.scanned.lock() {
            log.extend(files.into_iter().map(|m| ScannedFile {
                table: table.to_owned(),
                location: m.location.to_string(),
                size_bytes: m.size,
                modified: m.last_modified,
            }));
        }
    }

    /// Notes that a table leaves out files of its folder the crawler could not use.
    pub fn note_excluded(&self, qualified: &str, excluded: &std::collections::BTreeSet<String>) {
        if let Some(first) = excluded.iter().next() {
            self.note(format!(
                "table '{qualified}' leaves out {} file(s) of its folder that the crawler could not use, such as '{first}' (`tributary catalog show {qualified}` lists them; the crawl says why)",
                excluded.len()
            ));
        }
    }

    /// The notes so far.
    pub fn notes(&self) -> Vec<String> {
        self.notes.lock().map(|g| g.clone()).unwrap_or_default()
    }
}

/// The catalog as a DataFusion catalog provider.
#[derive(Debug)]
pub struct LakeCatalogProvider {
    schemas: BTreeMap<String, Arc<dyn SchemaProvider>>,
}

impl LakeCatalogProvider {
    /// Builds providers for every table in `store`'s catalog (no files are read here), and
    /// for its views, planned by `views` when a query names one.
    pub fn new(store: &CatalogStore, hooks: &ScanHooks, views: &ViewPlanner) -> Result<Self> {
        let catalog = store.snapshot();
        let mut schemas = BTreeMap::new();
        for (name, db) in &catalog.databases {
            let mut tables = BTreeMap::new();
            for (tname, table) in &db.tables {
                let location = store.resolve_location(&table.location);
                let provider = table_provider(name, table, &location, hooks).map_err(|e| {
                    Error::Catalog(format!("table '{name}.{tname}' cannot be read: {e}"))
                })?;
                tables.insert(tname.clone(), provider);
            }
            schemas.insert(
                name.clone(),
                Arc::new(LakeSchemaProvider {
                    database: name.clone(),
                    tables,
                    views: db.views.clone(),
                    planner: views.clone(),
                }) as Arc<dyn SchemaProvider>,
            );
        }
        Ok(Self { schemas })
    }

    /// Providers whose plans a cluster can run: each table is a plain `ListingTable` (which
    /// DataFusion's plan serialization carries to a Ballista scheduler) over the files this
    /// process chose (skipping hidden, crawler-excluded and bookmarked files), listed when
    /// a query first names the table.
    pub fn portable(
        store: &CatalogStore,
        hooks: &ScanHooks,
        runtime: Arc<RuntimeEnv>,
        views: &ViewPlanner,
    ) -> Self {
        let catalog = store.snapshot();
        let mut schemas = BTreeMap::new();
        for (name, db) in &catalog.databases {
            let tables = db
                .tables
                .iter()
                .map(|(t, table)| {
                    let location = store.resolve_location(&table.location);
                    (t.clone(), (table.clone(), location))
                })
                .collect();
            schemas.insert(
                name.clone(),
                Arc::new(PortableSchemaProvider {
                    database: name.clone(),
                    tables,
                    views: db.views.clone(),
                    planner: views.clone(),
                    hooks: hooks.clone(),
                    runtime: runtime.clone(),
                }) as Arc<dyn SchemaProvider>,
            );
        }
        Self { schemas }
    }
}

impl CatalogProvider for LakeCatalogProvider {
    fn schema_names(&self) -> Vec<String> {
        self.schemas.keys().cloned().collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.schemas
            .get(name)
            .map(|s| s.clone() as Arc<dyn SchemaProvider>)
    }
}

/// One database as a DataFusion schema provider: its tables and views.
#[derive(Debug)]
pub struct LakeSchemaProvider {
    database: String,
    tables: BTreeMap<String, Arc<dyn TableProvider>>,
    views: BTreeMap<String, View>,
    planner: ViewPlanner,
}

#[async_trait]
impl SchemaProvider for LakeSchemaProvider {
    fn table_names(&self) -> Vec<String> {
        self.tables
            .keys()
            .chain(self.views.keys())
            .cloned()
            .collect()
    }

    async fn table(
        &self,
        name: &str,
    ) -> std::result::Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        if let Some(t) = self.tables.get(name) {
            return Ok(Some(t.clone()));
        }
        match self.views.get(name) {
            Some(v) => Ok(Some(self.planner.plan(&self.database, v).await?)),
            None => Ok(None),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.contains_key(name) || self.views.contains_key(name)
    }
}

/// One database for a cluster session; see [`LakeCatalogProvider::portable`].
#[derive(Debug)]
struct PortableSchemaProvider {
    database: String,
    tables: BTreeMap<String, (Table, String)>,
    views: BTreeMap<String, View>,
    planner: ViewPlanner,
    hooks: ScanHooks,
    runtime: Arc<RuntimeEnv>,
}

#[async_trait]
impl SchemaProvider for PortableSchemaProvider {
    fn table_names(&self) -> Vec<String> {
        self.tables
            .keys()
            .chain(self.views.keys())
            .cloned()
            .collect()
    }

    async fn table(
        &self,
        name: &str,
    ) -> std::result::Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        let Some((table, location)) = self.tables.get(name) else {
            return match self.views.get(name) {
                Some(v) => Ok(Some(self.planner.plan(&self.database, v).await?)),
                None => Ok(None),
            };
        };
        let qualified = format!("{}.{name}", self.database);
        portable_format(table)
            .map_err(|e| DataFusionError::Plan(format!("table '{qualified}' {e}")))?;
        let paths = portable_paths(&qualified, table, location, &self.hooks, &self.runtime)
            .await
            .map_err(|e| DataFusionError::Plan(format!("table '{qualified}': {e}")))?;
        let provider = build_table(&self.database, table, location, Scan::Paths(paths))
            .map_err(|e| DataFusionError::Plan(format!("table '{qualified}': {e}")))?;
        Ok(Some(provider))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.contains_key(name) || self.views.contains_key(name)
    }
}

/// Refuses file layouts that DataFusion 55's plan format does not carry to executors (they
/// would decode them as plain, newline-delimited text and misread them).
fn portable_format(table: &Table) -> Result<()> {
    let format = match table.format {
        FileFormat::Parquet => return Ok(()),
        FileFormat::Csv => "CSV",
        FileFormat::Json => "JSON",
        FileFormat::Avro | FileFormat::Orc => {
            return Err(Error::Invalid(format!(
                "is {}, which Ballista 55's plan format does not carry to executors; run it on the local environment, or rewrite it as Parquet with an ETL job first",
                table.format.as_str().to_uppercase()
            )));
        }
    };
    let why = if table.options.compression != Compression::None {
        let c = format!("{:?}", table.options.compression).to_lowercase();
        format!("is {c}-compressed {format}")
    } else if table.options.json_layout == Some(JsonLayout::Array) {
        "is a JSON array file".to_owned()
    } else {
        return Ok(());
    };
    Err(Error::Invalid(format!(
        "{why}, which a Ballista cluster would misread (DataFusion 55's plan format does not carry that to executors); run it on the local environment, or rewrite it as Parquet with an ETL job first"
    )))
}

/// The paths a cluster scans for a table: its folder when every file in it belongs to the
/// table, else the chosen files one by one (a partitioned table needs its folder, since
/// partition values come from the path below it).
async fn portable_paths(
    qualified: &str,
    table: &Table,
    location: &str,
    hooks: &ScanHooks,
    runtime: &RuntimeEnv,
) -> Result<Vec<ListingTableUrl>> {
    use futures::StreamExt;
    let mut location = location.to_owned();
    if !location.ends_with('/') {
        location.push('/');
    }
    hive_partitions_only(table)?;
    let root = ListingTableUrl::parse(&location)
        .map_err(|e| Error::Catalog(format!("location '{location}': {e}")))?;
    let store = runtime.object_store(root.object_store())?;
    let mut listing = store.list(Some(root.prefix()));
    let mut chosen = Vec::new();
    let mut dropped = 0usize;
    let excluded: std::collections::BTreeSet<&str> = table
        .options
        .excluded_files
        .iter()
        .map(String::as_str)
        .collect();
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(|e| Error::Catalog(format!("listing '{location}': {e}")))?;
        let loc = meta.location.to_string();
        if !loc.ends_with(&table.options.file_extension) {
            continue; // DataFusion skips these as well
        }
        let rel = loc
            .strip_prefix(root.prefix().as_ref())
            .unwrap_or(&loc)
            .trim_start_matches('/');
        let keep = !is_hidden(rel)
            && !excluded.contains(rel)
            && hooks
                .filter
                .as_ref()
                .is_none_or(|keep| keep(qualified, &loc, meta.size, meta.last_modified));
        if !keep {
            dropped += 1;
            continue;
        }
        chosen.push(meta);
    }
    hooks.log_scanned(qualified, &chosen);
    if dropped == 0 {
        return Ok(vec![root]);
    }
    if !table.partition_keys.is_empty() {
        return Err(Error::Invalid(format!(
            "{dropped} file(s) under {location} are not part of the table (hidden, excluded by the crawler, or already processed by a bookmark), and a partitioned table is scanned by folder on a cluster; move them out of the folder or run on the local environment"
        )));
    }
    if chosen.is_empty() {
        // Nothing to read (e.g. a bookmark saw every file): a folder that holds nothing.
        return Ok(vec![ListingTableUrl::parse(format!(
            "{location}_tributary_no_files_/"
        ))?]);
    }
    let base = root.object_store();
    chosen
        .iter()
        .map(|m| {
            ListingTableUrl::parse(format!("{}{}", base.as_str(), m.location))
                .map_err(|e| Error::Catalog(format!("file '{}': {e}", m.location)))
        })
        .collect()
}

/// A cluster reads partition values from `key=value` folder names below the table
/// folder (DataFusion's plan format carries no partition list): refuses partitions kept
/// elsewhere or in folders named otherwise (Firehose's `YYYY/MM/dd/HH/`).
fn hive_partitions_only(table: &Table) -> Result<()> {
    for p in &table.partitions {
        let expected: Vec<String> = table
            .partition_keys
            .iter()
            .zip(&p.values)
            .map(|(k, v)| format!("{}={v}", k.file_name()))
            .collect();
        let folder = p.location.trim_start_matches("./").trim_end_matches('/');
        if folder != expected.join("/") {
            return Err(Error::Invalid(format!(
                "has partition {} in folder '{}', not named key=value; a Ballista cluster finds partitions only in key=value folders below the table. Rewrite it with an ETL job (partition_by) or run it on the local environment",
                p.values.join("/"),
                p.location
            )));
        }
    }
    Ok(())
}

/// How a table's files are scanned.
enum Scan<'a> {
    /// In this process, through [`LakeTable`] (which filters files and reports scans).
    Lake(&'a ScanHooks),
    /// Anywhere: a plain `ListingTable` over these folders or files.
    Paths(Vec<ListingTableUrl>),
}

/// Builds the table provider for one catalog table at `location`.
pub fn table_provider(
    database: &str,
    table: &Table,
    location: &str,
    hooks: &ScanHooks,
) -> Result<Arc<dyn TableProvider>> {
    build_table(database, table, location, Scan::Lake(hooks))
}

fn build_table(
    database: &str,
    table: &Table,
    location: &str,
    scan: Scan<'_>,
) -> Result<Arc<dyn TableProvider>> {
    let qualified = format!("{database}.{}", table.name);
    let mut location = location.to_owned();
    if !location.ends_with('/') {
        location.push('/');
    }
    let url = ListingTableUrl::parse(&location)
        .map_err(|e| Error::Catalog(format!("location '{location}': {e}")))?;

    // Text columns are read as strings and converted in a view: DataFusion's CSV reader
    // does not apply null markers, and dates come in many written forms.
    let text = !table.format.is_self_describing();
    let csv = table.format == FileFormat::Csv;
    let read_as_text = |c: &Column| csv || (text && c.text_format.is_some());
    let raw_field = |c: &Column| -> Result<Field> {
        let dt = match c.arrow_type()? {
            _ if read_as_text(c) => DataType::Utf8,
            // The ORC reader hands over its own types, without adapting them.
            other if table.format == FileFormat::Orc => other,
            // As DataFusion's own Parquet reading does (schema_force_view_types): view
            // types make string grouping and filtering much faster.
            DataType::Utf8 | DataType::LargeUtf8 => DataType::Utf8View,
            DataType::Binary | DataType::LargeBinary => DataType::BinaryView,
            other => other,
        };
        Ok(Field::new(c.file_name(), dt, true))
    };
    let file_fields = table
        .columns
        .iter()
        .map(raw_field)
        .collect::<Result<Vec<_>>>()?;
    let partition_cols = table
        .partition_keys
        .iter()
        .map(|c| Ok((c.file_name().to_owned(), c.arrow_type()?)))
        .collect::<Result<Vec<_>>>()?;

    let lenient = matches!(scan, Scan::Lake(_));
    let format = listing_format(table, lenient);
    let options = ListingOptions::new(format)
        .with_file_extension(table.options.file_extension.clone())
        .with_table_partition_cols(partition_cols);
    let paths = match &scan {
        Scan::Lake(_) => vec![url],
        Scan::Paths(p) => p.clone(),
    };
    let file_schema = Arc::new(Schema::new(file_fields));
    let lake: Arc<dyn TableProvider> = match scan {
        Scan::Lake(hooks) if !table.partition_keys.is_empty() => {
            Arc::new(super::partitioned::PartitionedTable {
                qualified: qualified.clone(),
                root: ListingTableUrl::parse(&location)
                    .map_err(|e| Error::Catalog(format!("location '{location}': {e}")))?,
                file_schema,
                partition_fields: table
                    .partition_keys
                    .iter()
                    .map(|c| {
                        Ok(super::partitioned::partition_field(
                            c.file_name(),
                            c.arrow_type()?,
                        ))
                    })
                    .collect::<Result<_>>()?,
                partitions: table
                    .partitions
                    .iter()
                    .map(|p| super::partitioned::PartitionSpec {
                        values: p.values.clone(),
                        location: partition_location(&location, &p.location),
                    })
                    .collect(),
                projection: super::projection::enabled(&table.parameters).then(|| {
                    let keys: Vec<String> = table
                        .partition_keys
                        .iter()
                        .map(|c| c.file_name().to_owned())
                        .collect();
                    super::projection::Projection::from_parameters(&keys, &table.parameters)
                }),
                format: listing_format(table, true),
                extension: table.options.file_extension.clone(),
                hooks: hooks.clone(),
                excluded: table.options.excluded_files.iter().cloned().collect(),
            })
        }
        scan => lake_or_listing(&qualified, table, file_schema, options, paths, scan)?,
    };
    let needs_view = table
        .columns
        .iter()
        .chain(&table.partition_keys)
        .any(|c| c.source_name.is_some() || read_as_text(c));
    if !needs_view {
        return Ok(lake);
    }
    typed_view(table, &qualified, lake, &read_as_text)
}

/// A partition's folder: its location as the catalog records it, relative to the
/// table's (resolved) folder unless absolute or a URL.
pub fn partition_location(table_location: &str, partition: &str) -> String {
    let mut s = if partition.contains("://") || partition.starts_with('/') {
        partition.to_owned()
    } else {
        format!(
            "{}/{}",
            table_location.trim_end_matches('/'),
            partition.trim_start_matches("./")
        )
    };
    if !s.ends_with('/') {
        s.push('/');
    }
    s
}

/// An unpartitioned table (or any table on a cluster): a `ListingTable` over its folder,
/// in this process wrapped to filter files and log the scan.
fn lake_or_listing(
    qualified: &str,
    table: &Table,
    file_schema: SchemaRef,
    options: ListingOptions,
    paths: Vec<ListingTableUrl>,
    scan: Scan<'_>,
) -> Result<Arc<dyn TableProvider>> {
    let config = ListingTableConfig::new_with_multi_paths(paths)
        .with_listing_options(options)
        .with_schema(file_schema);
    let listing = ListingTable::try_new(config)?;
    Ok(match scan {
        Scan::Lake(hooks) => Arc::new(LakeTable {
            qualified: qualified.to_owned(),
            inner: listing,
            hooks: hooks.clone(),
            excluded: table.options.excluded_files.iter().cloned().collect(),
        }),
        Scan::Paths(_) => Arc::new(listing),
    })
}

/// How DataFusion reads the table's files: format, dialect, compression. `lenient`: in
/// this process (not on a cluster), with Tributary's own JSON source.
fn listing_format(table: &Table, lenient: bool) -> Arc<dyn DfFileFormat> {
    let compression = match table.options.compression {
        Compression::None => FileCompressionType::UNCOMPRESSED,
        Compression::Gzip => FileCompressionType::GZIP,
        Compression::Zstd => FileCompressionType::ZSTD,
    };
    match table.format {
        FileFormat::Csv => {
            // Athena's `skip.header.line.count` table property decides the header.
            let has_header = match table.parameters.get("skip.header.line.count") {
                Some(n) => n.trim() != "0",
                None => table.options.csv.is_none_or(|c| c.has_header),
            };
            let mut format = CsvFormat::default();
            if let Some(q) = table.options.quote() {
                format = format.with_quote(q);
            }
            if let Some(e) = table.options.escape() {
                format = format.with_escape(Some(e));
            }
            Arc::new(
                format
                    .with_has_header(has_header)
                    .with_delimiter(table.options.delimiter())
                    .with_newlines_in_values(true)
                    // Rows with fewer fields (files from before a column was added) read
                    // the missing ones as null, as Athena's CSV SerDes do.
                    .with_truncated_rows(true)
                    .with_file_compression_type(compression),
            )
        }
        // In this process, JSON is read as Athena reads it (numbers in a text column are
        // text); a cluster's executors only know DataFusion's own reader.
        FileFormat::Json if lenient => Arc::new(super::json_reader::LenientJsonFormat::new(
            compression,
            table.options.json_layout != Some(JsonLayout::Array),
        )),
        FileFormat::Json => Arc::new(
            JsonFormat::default()
                .with_file_compression_type(compression)
                .with_newline_delimited(table.options.json_layout != Some(JsonLayout::Array)),
        ),
        FileFormat::Parquet => Arc::new(ParquetFormat::default()),
        FileFormat::Avro => Arc::new(crate::datafusion::datasource::file_format::avro::AvroFormat),
        FileFormat::Orc => Arc::new(super::orc::OrcFormat),
    }
}

/// The table with its own column names and types over the files' columns: text read
/// as strings is converted (null markers, written date forms), renamed columns get
/// their names.
fn typed_view(
    table: &Table,
    qualified: &str,
    lake: Arc<dyn TableProvider>,
    read_as_text: &dyn Fn(&Column) -> bool,
) -> Result<Arc<dyn TableProvider>> {
    let config = ConfigOptions::default();
    let mut exprs = Vec::new();
    for c in &table.columns {
        let raw = Expr::Column(DfColumn::new_unqualified(c.file_name()));
        if !read_as_text(c) {
            // Unrenamed columns pass through unaliased: an alias to the same name makes
            // DataFusion's optimizer trip over struct fields read through the view.
            exprs.push(if c.file_name() == c.name {
                raw
            } else {
                raw.alias(&c.name)
            });
            continue;
        }
        let dt = c.arrow_type()?;
        // Empty text is null for every non-text type, as in Arrow's own CSV reader.
        let mut markers = table.options.effective_null_markers();
        if dt != DataType::Utf8 && !markers.iter().any(String::is_empty) {
            markers.push(String::new());
        }
        let value = null_marked(raw, &markers)?;
        let decimal_comma = c.text_format.as_deref() == Some(super::sniff::DECIMAL_COMMA)
            || (table.options.decimal_comma()
                && matches!(
                    dt,
                    DataType::Float64 | DataType::Float32 | DataType::Decimal128(..)
                ));
        let e = match (c.text_format.as_deref(), &dt) {
            // `1.234,5` → `1234.5`.
            _ if decimal_comma => {
                use crate::datafusion::functions::expr_fn::replace;
                let plain = replace(replace(value, lit("."), lit("")), lit(","), lit("."));
                cast(plain, dt.clone())
            }
            (Some(fmt), DataType::Date32) => {
                crate::datafusion::functions::expr_fn::to_date(vec![value, lit(fmt.to_owned())])
            }
            (Some("iso8601"), DataType::Timestamp(..)) => {
                cast(value, DataType::Timestamp(TimeUnit::Microsecond, None))
            }
            (Some(fmt), DataType::Timestamp(..)) => cast(
                crate::datafusion::functions::datetime::to_timestamp_micros(&config)
                    .call(vec![value, lit(fmt.to_owned())]),
                DataType::Timestamp(TimeUnit::Microsecond, None),
            ),
            (_, DataType::Utf8) => value,
            (_, other) => cast(value, other.clone()),
        };
        exprs.push(e.alias(&c.name));
    }
    for c in &table.partition_keys {
        let raw = Expr::Column(DfColumn::new_unqualified(c.file_name()));
        exprs.push(if c.file_name() == c.name {
            raw
        } else {
            raw.alias(&c.name)
        });
    }
    let plan = LogicalPlanBuilder::scan(
        format!("{qualified}__files"),
        crate::datafusion::datasource::provider_as_source(lake),
        None,
    )?
    .project(exprs)?
    .build()?;
    Ok(Arc::new(TypedTable(ViewTable::new(plan, None))))
}

/// A table read through a typing view: a view to the planner (which inlines it), a base
/// table to `SHOW TABLES` and `information_schema`, since it is one to the user.
#[derive(Debug)]
struct TypedTable(ViewTable);

#[async_trait]
impl TableProvider for TypedTable {
    fn schema(&self) -> SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_logical_plan(
        &self,
    ) -> Option<std::borrow::Cow<'_, crate::datafusion::logical_expr::LogicalPlan>> {
        self.0.get_logical_plan()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> std::result::Result<Vec<TableProviderFilterPushDown>, DataFusionError> {
        self.0.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> std::result::Result<Arc<dyn ExecutionPlan>, DataFusionError> {
        self.0.scan(state, projection, filters, limit).await
    }
}

/// `raw`, with the null markers turned into nulls.
fn null_marked(raw: Expr, markers: &[String]) -> Result<Expr> {
    if markers.is_empty() {
        return Ok(raw);
    }
    let list = markers.iter().map(|m| lit(m.clone())).collect();
    Ok(crate::datafusion::logical_expr::when(
        raw.clone().in_list(list, false),
        lit(ScalarValue::Utf8(None)),
    )
    .otherwise(raw)?)
}

/// A catalog table's files as DataFusion scans them.
#[derive(Debug)]
pub struct LakeTable {
    qualified: String,
    inner: ListingTable,
    hooks: ScanHooks,
    /// Files (relative to the table folder) the crawler could not use.
    excluded: std::collections::BTreeSet<String>,
}

#[async_trait]
impl TableProvider for LakeTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> std::result::Result<Vec<TableProviderFilterPushDown>, DataFusionError> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> std::result::Result<Arc<dyn ExecutionPlan>, DataFusionError> {
        self.hooks.note_excluded(&self.qualified, &self.excluded);
        let plan = self.inner.scan(state, projection, filters, limit).await?;
        let plan = plan
            .transform_up(|node| {
                let Some(exec) = node.downcast_ref::<DataSourceExec>() else {
                    return Ok(Transformed::no(node));
                };
                let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else {
                    return Ok(Transformed::no(node));
                };
                let mut config = config.clone();
                for group in &mut config.file_groups {
                    let files: Vec<_> = group
                        .iter()
                        .filter(|f| {
                            let loc = f.object_meta.location.to_string();
                            let rel = relative_to_table(&loc, self.inner.table_paths());
                            !is_hidden(rel)
                                && !self.excluded.contains(rel)
                                && self.hooks.filter.as_ref().is_none_or(|keep| {
                                    keep(
                                        &self.qualified,
                                        &loc,
                                        f.object_meta.size,
                                        f.object_meta.last_modified,
                                    )
                                })
                        })
                        .cloned()
                        .collect();
                    self.hooks
                        .log_scanned(&self.qualified, files.iter().map(|f| &f.object_meta));
                    *group = crate::datafusion::datasource::physical_plan::FileGroup::new(files);
                }
                config.file_groups.retain(|g| !g.is_empty());
                if config.file_groups.is_empty() {
                    return Ok(Transformed::yes(
                        Arc::new(EmptyExec::new(node.schema())) as Arc<dyn ExecutionPlan>
                    ));
                }
                Ok(Transformed::yes(
                    DataSourceExec::from_data_source(config) as Arc<dyn ExecutionPlan>
                ))
            })?
            .data;
        Ok(plan)
    }
}

/// A file's location relative to the table folder.
fn relative_to_table<'a>(location: &'a str, table_paths: &[ListingTableUrl]) -> &'a str {
    table_paths
        .iter()
        .find_map(|t| location.strip_prefix(t.prefix().as_ref()))
        .map(|r| r.trim_start_matches('/'))
        .unwrap_or(location)
}

use super::bucket::is_hidden_key as is_hidden;
