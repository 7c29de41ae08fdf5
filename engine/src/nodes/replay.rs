//! Bucket-replay source: replays the files of a bucket, or of a catalog table, as a
//! stream, at a given rate.
//!
//! Files are read in key order, record by record, with bounded memory: JSON lines, JSON
//! arrays, CSV (gzip or zstd too) and Parquet. The columns are declared in the config or
//! inferred from the first file, as the crawler would. Each record is converted to those
//! columns on its own: a record that is not valid JSON, lacks a `NOT NULL` field or has a
//! value of the wrong type goes to the `failed` output with the file, the line and the
//! reason, and the replay goes on.

use std::io::{BufRead as _, BufReader, Read};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::form::{Editor, Field as FormField, FieldProblem, Problems};
use super::operator::{Outputs, Source as StreamSource, Wiring, output_topic};
use super::ports::{CATALOG_OPTIONAL_IN, FAILED_OUT, RECORDS_OUT};
use super::{Category, Kind, NodeContext, NodeOutput, NodeStats, PortSpec, PortType};
use crate::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use crate::arrow::compute::cast;
use crate::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use crate::error::{Error, Result};
use crate::lake::bucket::{Bucket, ObjectInfo};
use crate::lake::crawler::classify_object;
use crate::lake::sniff::{
    Classified, Compression, FileFormat, JsonLayout, SniffOptions, default_null_markers,
    normalize_name,
};
use crate::stream::records::{RowBuilder, SourceColumn, parse_columns};

/// The bucket whose files are replayed.
pub const SOURCE: PortSpec = PortSpec::input("source", PortType::Objects);

/// Replay settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplayConfig {
    /// Only keys under this prefix of the bucket.
    pub prefix: String,
    /// Replay this catalog table (`db.table` or `table`) instead of a bucket; its files,
    /// columns and formats come from the catalog on the `catalog` input.
    pub table: String,
    /// Records per second; 0 is as fast as possible.
    pub rate_per_sec: f64,
    /// Records per batch.
    pub batch_size: usize,
    /// The columns as `name Type [NOT NULL]`; empty: inferred from the first file.
    pub columns: Vec<String>,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            table: String::new(),
            rate_per_sec: 1000.0,
            batch_size: 1000,
            columns: Vec::new(),
        }
    }
}

/// The replay node.
pub struct ReplayKind;

impl Kind for ReplayKind {
    type Config = ReplayConfig;
    const NAME: &'static str = "replay";
    const CATEGORY: Category = Category::Sources;
    const DESCRIPTION: &'static str = "Replays a bucket's (or catalog table's) JSON, CSV or Parquet files as a stream at a set rate; bad records go to 'failed'.";
    const ICON: &'static str = "⏪";
    const INPUTS: &'static [PortSpec] = &[SOURCE, CATALOG_OPTIONAL_IN];
    const OUTPUTS: &'static [PortSpec] = &[RECORDS_OUT, FAILED_OUT];
    const FIELDS: &'static [FormField] = &[
        FormField::new(
            "prefix",
            "Prefix",
            Editor::Text,
            "Only keys under this prefix of the bucket.",
        ),
        FormField::new(
            "table",
            "Catalog table",
            Editor::Text,
            "Replay this catalog table (db.table or table) instead of a bucket; its files, columns and formats come from the catalog input.",
        ),
        FormField::new(
            "rate_per_sec",
            "Rate (records/s)",
            Editor::Number,
            "Records per second; 0 is as fast as possible.",
        ),
        FormField::new(
            "batch_size",
            "Batch size",
            Editor::Number,
            "Records per batch.",
        ),
        FormField::new(
            "columns",
            "Columns",
            Editor::Lines,
            "The columns as 'name Type [NOT NULL]'; empty: inferred from the first file.",
        ),
    ];

    fn validate(config: &ReplayConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        p.check(
            config.rate_per_sec >= 0.0 && config.rate_per_sec.is_finite(),
            "rate_per_sec",
            "must be 0 (as fast as possible) or more",
        );
        p.check(config.batch_size > 0, "batch_size", "must be at least 1");
        p.check_result("columns", parse_columns(&config.columns));
        p.check_result("prefix", crate::lake::bucket::normalize_key(&config.prefix));
        p.into_vec()
    }

    async fn run(config: &ReplayConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        run(config, ctx).await
    }
}

/// What a replay reports.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayReport {
    /// Records sent to `failed`.
    pub failed_records: u64,
    /// Files replayed.
    pub files: usize,
}

/// The schema of the `failed` output.
fn failed_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("source_key", DataType::Utf8, false),
        Field::new("line", DataType::Int64, false),
        Field::new("record", DataType::Utf8, false),
        Field::new("error_message", DataType::Utf8, false),
    ]))
}

/// Failed records waiting to be sent.
#[derive(Default)]
struct Failures {
    keys: Vec<String>,
    lines: Vec<i64>,
    records: Vec<String>,
    errors: Vec<String>,
}

impl Failures {
    fn push(&mut self, key: &str, line: u64, record: &str, error: String) {
        self.keys.push(key.to_owned());
        self.lines.push(line as i64);
        // Keep the raw text short enough to read in a table.
        let mut r: String = record.chars().take(1000).collect();
        if r.len() < record.len() {
            r.push('…');
        }
        self.records.push(r);
        self.errors.push(error);
    }

    fn take(&mut self) -> Result<Option<RecordBatch>> {
        if self.keys.is_empty() {
            return Ok(None);
        }
        let t = std::mem::take(self);
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(t.keys)),
            Arc::new(Int64Array::from(t.lines)),
            Arc::new(StringArray::from(t.records)),
            Arc::new(StringArray::from(t.errors)),
        ];
        RecordBatch::try_new(failed_schema(), cols)
            .map(Some)
            .map_err(|e| Error::Internal(e.to_string()))
    }
}

/// Where records come from, one file at a time.
enum Source {
    Lines {
        lines: std::io::Lines<BufReader<Box<dyn Read + Send>>>,
        line: u64,
    },
    Array {
        items: std::vec::IntoIter<serde_json::Value>,
        index: u64,
    },
    Csv {
        records: csv::StringRecordsIntoIter<Box<dyn Read + Send>>,
        /// For each output column, its position in the file's header.
        positions: Vec<Option<usize>>,
        width: usize,
    },
    Parquet(crate::datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReader),
}

/// A file to replay: a local path (streamed) or an object's bytes (S3).
enum FileData {
    Path(std::path::PathBuf),
    Bytes(bytes::Bytes),
}

impl FileData {
    /// Fetches `obj`: local files are opened as they are read; S3 objects are fetched.
    async fn fetch(bucket: &Bucket, obj: &ObjectInfo) -> Result<Self> {
        match bucket.local_path(&obj.key) {
            Ok(p) => Ok(Self::Path(p)),
            Err(_) => bucket.get(&obj.key).await.map(Self::Bytes),
        }
    }

    fn raw(&self) -> Result<Box<dyn Read + Send>> {
        Ok(match self {
            Self::Path(path) => Box::new(
                std::fs::File::open(path)
                    .map_err(|e| Error::Bucket(format!("opening '{}': {e}", path.display())))?,
            ),
            Self::Bytes(b) => Box::new(std::io::Cursor::new(b.clone())),
        })
    }
}

fn open_reader(data: &FileData, compression: Compression) -> Result<Box<dyn Read + Send>> {
    let file = data.raw()?;
    Ok(match compression {
        Compression::None => Box::new(file),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::new(file)
                .map_err(|e| Error::Bucket(format!("not valid zstd data: {e}")))?,
        ),
    })
}

/// How to read a file that could not be sniffed, from its extension; `None` for files
/// that are not text of a known kind (empty, binary, another encoding).
fn by_extension(key: &str, reason: &str) -> Option<Classified> {
    if [
        "empty file",
        "binary content",
        "not UTF-8",
        "not valid gzip",
        "not valid zstd",
    ]
    .iter()
    .any(|p| reason.starts_with(p))
    {
        return None;
    }
    let compression = Compression::from_key(key);
    let lower = key.to_ascii_lowercase();
    let base = lower
        .trim_end_matches(compression.extension())
        .trim_end_matches(".gzip")
        .trim_end_matches(".zstd");
    let (format, csv, json_layout) = if [".json", ".jsonl", ".ndjson"]
        .iter()
        .any(|e| base.ends_with(e))
    {
        (FileFormat::Json, None, Some(JsonLayout::Lines))
    } else if base.ends_with(".csv") || base.ends_with(".tsv") {
        let delimiter = if base.ends_with(".tsv") { b'\t' } else { b',' };
        (
            FileFormat::Csv,
            Some(crate::lake::sniff::CsvDialect {
                delimiter,
                has_header: true,
            }),
            None,
        )
    } else {
        return None;
    };
    Some(Classified {
        format,
        compression,
        csv,
        json_layout,
        columns: Vec::new(),
        rows_sampled: 0,
        rows_exact: None,
        warnings: vec![reason.to_owned()],
    })
}

/// The columns to read, from the config or the first file's classification.
fn columns_for(config: &ReplayConfig, first: &Classified) -> Result<Vec<SourceColumn>> {
    if !config.columns.is_empty() {
        let fields =
            parse_columns(&config.columns).map_err(|e| Error::Invalid(format!("columns: {e}")))?;
        return Ok(fields
            .into_iter()
            .map(|f| SourceColumn {
                source_name: f.name().clone(),
                field: f,
                text_format: None,
            })
            .collect());
    }
    if first.columns.is_empty() {
        return Err(Error::Invalid(format!(
            "columns: the first file's columns could not be inferred ({}); declare them as \
             'name Type'",
            first.warnings.join("; ")
        )));
    }
    Ok(first
        .columns
        .iter()
        .map(|c| {
            let ty = match c.ty.data_type() {
                t @ (DataType::Utf8
                | DataType::Int64
                | DataType::Float64
                | DataType::Boolean
                | DataType::Date32
                | DataType::Timestamp(..)) => t,
                _ => DataType::Utf8,
            };
            SourceColumn {
                source_name: c.source_name.clone(),
                field: Field::new(normalize_name(&c.source_name), ty, true),
                text_format: c.ty.text_format(),
            }
        })
        .collect())
}

impl Source {
    async fn open(
        bucket: &Bucket,
        obj: &ObjectInfo,
        c: &Classified,
        columns: &[SourceColumn],
    ) -> Result<Self> {
        let data = FileData::fetch(bucket, obj).await?;
        Ok(match c.format {
            FileFormat::Parquet => {
                use crate::datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
                use crate::datafusion::parquet::file::reader::ChunkReader;
                fn reader(
                    r: impl ChunkReader + 'static,
                ) -> crate::datafusion::parquet::errors::Result<
                    crate::datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReader,
                > {
                    ParquetRecordBatchReaderBuilder::try_new(r)?
                        .with_batch_size(4096)
                        .build()
                }
                let parquet = match &data {
                    FileData::Path(p) => reader(
                        std::fs::File::open(p)
                            .map_err(|e| Error::Bucket(format!("opening '{}': {e}", obj.key)))?,
                    ),
                    FileData::Bytes(b) => reader(b.clone()),
                };
                Self::Parquet(parquet.map_err(|e| {
                    Error::Bucket(format!("'{}' is not readable Parquet: {e}", obj.key))
                })?)
            }
            FileFormat::Json if c.json_layout == Some(JsonLayout::Array) => {
                let mut text = String::new();
                open_reader(&data, c.compression)?
                    .read_to_string(&mut text)
                    .map_err(|e| Error::Bucket(format!("reading '{}': {e}", obj.key)))?;
                let items = match serde_json::from_str::<Vec<serde_json::Value>>(&text) {
                    Ok(v) => v,
                    Err(e) => {
                        return Err(Error::Invalid(format!(
                            "'{}' is not a valid JSON array: {e}",
                            obj.key
                        )));
                    }
                };
                Self::Array {
                    items: items.into_iter(),
                    index: 0,
                }
            }
            FileFormat::Json => Self::Lines {
                lines: BufReader::new(open_reader(&data, c.compression)?).lines(),
                line: 0,
            },
            FileFormat::Csv => {
                let dialect = c.csv.unwrap_or(crate::lake::sniff::CsvDialect {
                    delimiter: b',',
                    has_header: true,
                });
                let mut reader = csv::ReaderBuilder::new()
                    .delimiter(dialect.delimiter)
                    .has_headers(dialect.has_header)
                    .flexible(true)
                    .from_reader(open_reader(&data, c.compression)?);
                let header: Vec<String> = if dialect.has_header {
                    reader
                        .headers()
                        .map_err(|e| Error::Bucket(format!("'{}': {e}", obj.key)))?
                        .iter()
                        .map(|h| h.trim().to_owned())
                        .collect()
                } else {
                    c.columns.iter().map(|c| c.source_name.clone()).collect()
                };
                let positions = columns
                    .iter()
                    .map(|col| header.iter().position(|h| *h == col.source_name))
                    .collect();
                Self::Csv {
                    width: header.len(),
                    records: reader.into_records(),
                    positions,
                }
            }
        })
    }

    /// Reads up to `n` records into `rows` (good) and `failed` (bad); Parquet batches go
    /// to `whole`. Returns false at the end of the file.
    fn read(
        &mut self,
        key: &str,
        n: usize,
        rows: &mut RowBuilder,
        failed: &mut Failures,
        whole: &mut Vec<RecordBatch>,
    ) -> Result<bool> {
        let mut taken = 0;
        while taken < n {
            taken += 1;
            match self {
                Self::Lines { lines, line } => {
                    let Some(next) = lines.next() else {
                        return Ok(false);
                    };
                    *line += 1;
                    let text = next.map_err(|e| {
                        Error::Bucket(format!("reading '{key}' at line {line}: {e}"))
                    })?;
                    if text.trim().is_empty() {
                        continue;
                    }
                    let result = match serde_json::from_str::<serde_json::Value>(&text) {
                        Ok(serde_json::Value::Object(o)) => rows.push_json(&o),
                        Ok(other) => Err(format!("not a JSON object but {}", json_kind(&other))),
                        Err(e) => Err(format!("invalid JSON: {e}")),
                    };
                    if let Err(e) = result {
                        failed.push(key, *line, &text, format!("{key} line {line}: {e}"));
                    }
                }
                Self::Array { items, index } => {
                    let Some(item) = items.next() else {
                        return Ok(false);
                    };
                    *index += 1;
                    let result = match &item {
                        serde_json::Value::Object(o) => rows.push_json(o),
                        other => Err(format!("not a JSON object but {}", json_kind(other))),
                    };
                    if let Err(e) = result {
                        failed.push(
                            key,
                            *index,
                            &item.to_string(),
                            format!("{key} record {index}: {e}"),
                        );
                    }
                }
                Self::Csv {
                    records,
                    positions,
                    width,
                } => {
                    let Some(next) = records.next() else {
                        return Ok(false);
                    };
                    match next {
                        Ok(r) => {
                            let line = r.position().map(|p| p.line()).unwrap_or(0);
                            let raw = r.iter().collect::<Vec<_>>().join(",");
                            let result = if r.len() != *width {
                                Err(format!("expected {width} fields, got {}", r.len()))
                            } else {
                                let fields: Vec<Option<&str>> =
                                    positions.iter().map(|p| p.and_then(|i| r.get(i))).collect();
                                rows.push_text(&fields)
                            };
                            if let Err(e) = result {
                                failed.push(key, line, &raw, format!("{key} line {line}: {e}"));
                            }
                        }
                        Err(e) => {
                            let line = e.position().map(|p| p.line()).unwrap_or(0);
                            failed.push(key, line, "", format!("{key} line {line}: {e}"));
                        }
                    }
                }
                Self::Parquet(reader) => {
                    let Some(next) = reader.next() else {
                        return Ok(false);
                    };
                    let batch = next.map_err(|e| Error::Bucket(format!("reading '{key}': {e}")))?;
                    taken += batch.num_rows();
                    whole.push(conform(&batch, rows.schema(), rows.columns(), key)?);
                }
            }
        }
        Ok(true)
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A Parquet batch with the replay's columns, cast by name.
fn conform(
    batch: &RecordBatch,
    schema: &SchemaRef,
    columns: &[SourceColumn],
    key: &str,
) -> Result<RecordBatch> {
    let arrays = columns
        .iter()
        .map(|c| match batch.column_by_name(&c.source_name) {
            Some(a) => cast(a, c.field.data_type())
                .map_err(|e| Error::Invalid(format!("{key}: column '{}': {e}", c.source_name))),
            None => Ok(crate::arrow::array::new_null_array(
                c.field.data_type(),
                batch.num_rows(),
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| Error::Invalid(format!("{key}: {e}")))
}

/// A catalog table's folder as a bucket, its columns, and the files queries skip.
fn table_source(
    config: &ReplayConfig,
    ctx: &NodeContext<'_>,
) -> Result<(Arc<Bucket>, Vec<SourceColumn>, Vec<String>)> {
    let store = ctx.catalog(&CATALOG_OPTIONAL_IN).map_err(|_| {
        Error::Invalid(format!(
            "table: connect a catalog to '{}' to replay '{}'",
            CATALOG_OPTIONAL_IN.name, config.table
        ))
    })?;
    let catalog = store.snapshot();
    let (_, table) = catalog.resolve(&config.table)?;
    let location = store.resolve_location(&table.location);
    if location.contains("://") {
        return Err(Error::Invalid(format!(
            "table: '{}' lives at {location}; only local tables can be replayed yet",
            config.table
        )));
    }
    let bucket = Arc::new(Bucket::open_local(std::path::Path::new(&location), "", "")?);
    let columns = table
        .columns
        .iter()
        .map(|c| {
            Ok(SourceColumn {
                source_name: c.file_name().to_owned(),
                field: Field::new(&c.name, c.arrow_type()?, true),
                text_format: c.text_format.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((bucket, columns, table.options.excluded_files.clone()))
}

/// Reads the files in key order, a batch at a time.
struct Replay {
    bucket: Arc<Bucket>,
    files: Vec<(ObjectInfo, Classified)>,
    /// The next file to open.
    next_file: usize,
    /// The file being read, and its key.
    current: Option<(Source, String)>,
    rows: RowBuilder,
    failures: Failures,
    batch_size: usize,
    failed: u64,
    events: crate::api::EventSink,
    node: String,
}

impl Replay {
    /// Sends what was read: good records, then failed ones.
    async fn send(&mut self, whole: Vec<RecordBatch>, out: &Outputs) -> Result<()> {
        for batch in whole {
            out.send(&RECORDS_OUT, batch).await?;
        }
        if let Some(f) = self.failures.take()? {
            self.failed += f.num_rows() as u64;
            out.send_failed(&FAILED_OUT, f).await?;
        }
        Ok(())
    }
}

impl StreamSource for Replay {
    async fn produce(&mut self, out: &Outputs) -> Result<bool> {
        let Some((mut source, key)) = self.current.take() else {
            let Some((obj, classified)) = self.files.get(self.next_file).cloned() else {
                self.send(Vec::new(), out).await?;
                return Ok(false);
            };
            self.next_file += 1;
            match Source::open(&self.bucket, &obj, &classified, self.rows.columns()).await {
                Ok(s) => {
                    out.received(0, obj.size_bytes);
                    self.current = Some((s, obj.key.clone()));
                }
                Err(e) => {
                    self.events
                        .warn(&self.node, format!("skipped '{}': {e}", obj.key));
                    self.failures.push(&obj.key, 0, "", e.to_string());
                    self.send(Vec::new(), out).await?;
                }
            }
            return Ok(true);
        };
        let mut whole = Vec::new();
        let more = match source.read(
            &key,
            self.batch_size,
            &mut self.rows,
            &mut self.failures,
            &mut whole,
        ) {
            Ok(more) => more,
            Err(e) => {
                self.events
                    .warn(&self.node, format!("stopped reading '{key}': {e}"));
                self.failures.push(&key, 0, "", e.to_string());
                false
            }
        };
        if !self.rows.is_empty() {
            whole.push(self.rows.finish()?);
        }
        self.send(whole, out).await?;
        if more {
            self.current = Some((source, key));
        }
        Ok(more || self.next_file < self.files.len())
    }

    fn report(self, stats: &mut NodeStats) {
        stats.report = Some(Arc::new(ReplayReport {
            failed_records: self.failed,
            files: self.files.len(),
        }));
    }
}

/// Lists the files, settles the columns and starts replaying into `records`.
async fn run(config: &ReplayConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let (bucket, table_columns, excluded) = if config.table.is_empty() {
        (
            ctx.bucket(&SOURCE).map_err(|_| {
                Error::Invalid(format!(
                    "connect a bucket to '{}', or name a catalog table",
                    SOURCE.name
                ))
            })?,
            None,
            Vec::new(),
        )
    } else {
        let (b, c, e) = table_source(config, ctx)?;
        (b, Some(c), e)
    };
    let listing = bucket.list(&config.prefix).await?;
    let options = SniffOptions::default();
    let mut files = Vec::new();
    for obj in listing.objects {
        if excluded
            .iter()
            .any(|e| obj.key == *e || obj.key.ends_with(&format!("/{e}")))
        {
            continue;
        }
        match classify_object(&bucket, &obj, &options).await {
            Ok(c) => files.push((obj, c)),
            // Bad records can make sniffing fail; the extension still says how to read
            // the file, and each bad record is then reported on its own.
            Err(e) => match by_extension(&obj.key, &e.0) {
                Some(c) => {
                    ctx.warn(format!(
                        "'{}': {}; reading it as {} by its extension",
                        obj.key, e.0, c.format
                    ));
                    files.push((obj, c));
                }
                None => ctx.warn(format!("skipped '{}': {}", obj.key, e.0)),
            },
        }
    }
    let Some((_, first)) = files.first() else {
        return Err(Error::Invalid(format!(
            "no readable files under '{}' in the bucket",
            config.prefix
        )));
    };
    let columns = match table_columns {
        Some(c) if config.columns.is_empty() => c,
        _ => columns_for(config, first)?,
    };
    let rows = RowBuilder::new(columns, default_null_markers())?;
    let records = output_topic(ctx, &RECORDS_OUT, rows.schema().clone())?;
    let failed = output_topic(ctx, &FAILED_OUT, failed_schema())?;
    let replay = Replay {
        bucket,
        files,
        next_file: 0,
        current: None,
        rows,
        failures: Failures::default(),
        batch_size: config.batch_size,
        failed: 0,
        events: ctx.events.clone(),
        node: ctx.id.to_owned(),
    };
    Ok(Wiring::new()
        .output(&RECORDS_OUT, records)
        .output(&FAILED_OUT, failed)
        .source(replay, config.rate_per_sec, ctx.stop.clone()))
}
