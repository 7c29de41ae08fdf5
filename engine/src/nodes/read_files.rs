//! Reading a bucket's files record by record, with bounded memory: JSON lines, JSON
//! arrays, CSV (gzip or zstd too), and Parquet, Avro and ORC (typed batches). Each record is converted to the columns
//! on its own: a record that is not valid JSON, lacks a `NOT NULL` field or has a value
//! of the wrong type becomes a failed record with the file, the line and the reason.

use std::io::{BufRead as _, BufReader, Read};
use std::sync::Arc;

use crate::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use crate::arrow::compute::cast;
use crate::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use crate::error::{Error, Result};
use crate::lake::bucket::{Bucket, ObjectInfo};
use crate::lake::sniff::{Classified, Compression, FileFormat, JsonLayout};
use crate::stream::records::{RowBuilder, SourceColumn};

/// The schema of the `failed` output.
pub fn failed_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("source_key", DataType::Utf8, false),
        Field::new("line", DataType::Int64, false),
        Field::new("record", DataType::Utf8, false),
        Field::new("error_message", DataType::Utf8, false),
    ]))
}

/// Failed records waiting to be sent.
#[derive(Default)]
pub struct Failures {
    keys: Vec<String>,
    lines: Vec<i64>,
    records: Vec<String>,
    errors: Vec<String>,
}

impl Failures {
    /// Adds a failed record: its file, line, text and why.
    pub fn push(&mut self, key: &str, line: u64, record: &str, error: String) {
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

    /// The failed records so far, as a batch (none when there are none).
    pub fn take(&mut self) -> Result<Option<RecordBatch>> {
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
pub enum FileReader {
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
    /// A self-describing format (Parquet, Avro, ORC) read as typed batches.
    Batches(Batches),
}

/// Typed batches of a Parquet, Avro or ORC file, as its reader gives them.
type Batches = Box<
    dyn Iterator<Item = std::result::Result<RecordBatch, crate::arrow::error::ArrowError>> + Send,
>;

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
pub fn by_extension(key: &str, reason: &str) -> Option<Classified> {
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

impl FileReader {
    /// Opens `obj` as `c` says, reading `columns`.
    pub async fn open(
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
                Self::Batches(Box::new(parquet.map_err(|e| {
                    Error::Bucket(format!("'{}' is not readable Parquet: {e}", obj.key))
                })?))
            }
            FileFormat::Avro => {
                let reader = crate::datafusion::arrow_avro::reader::ReaderBuilder::new()
                    .with_batch_size(4096)
                    .build(BufReader::new(data.raw()?))
                    .map_err(|e| {
                        Error::Bucket(format!("'{}' is not a readable Avro file: {e}", obj.key))
                    })?;
                Self::Batches(Box::new(reader))
            }
            FileFormat::Orc => {
                fn reader(
                    r: impl orc_rust::reader::ChunkReader + Send + 'static,
                ) -> std::result::Result<Batches, orc_rust::error::OrcError> {
                    Ok(Box::new(
                        orc_rust::ArrowReaderBuilder::try_new(r)?
                            .with_batch_size(4096)
                            .build(),
                    ))
                }
                let orc = match &data {
                    FileData::Path(p) => reader(
                        std::fs::File::open(p)
                            .map_err(|e| Error::Bucket(format!("opening '{}': {e}", obj.key)))?,
                    ),
                    FileData::Bytes(b) => reader(b.clone()),
                };
                Self::Batches(orc.map_err(|e| {
                    Error::Bucket(format!("'{}' is not a readable ORC file: {e}", obj.key))
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

    /// Reads up to `n` records into `rows` (good) and `failed` (bad); typed batches go
    /// to `whole`. Returns false at the end of the file.
    pub fn read(
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
                Self::Batches(reader) => {
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

/// A typed batch (Parquet, Avro, ORC) with the replay's columns, cast by name.
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
