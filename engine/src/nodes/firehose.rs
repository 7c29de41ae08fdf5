//! Firehose node: buffers stream records and delivers them to a bucket as files.
//!
//! Buffers flush by size or interval (and when the stream ends or is stopped). Each
//! object is written atomically (temporary name, then rename) under
//! `<prefix>YYYY/MM/dd/HH/` in UTC, or under `<prefix>field=value/…` with dynamic
//! partitioning. An optional transform (SQL over each buffer, the buffer being the table
//! `input`) reshapes records before delivery, as a Firehose data-transformation Lambda
//! does; if it fails, the buffer's records go to `<error prefix>processing-failed/` with
//! the error. Records that cannot be delivered (a null partition field) go to the error
//! prefix with their error. The delivered prefix can be registered as a catalog
//! table, so batch SQL sees it.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{ConfigRules, NodeContext, NodeOutput, NodeStats, Value};
use crate::arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use crate::arrow::compute::{concat_batches, take_record_batch};
use crate::arrow::datatypes::{DataType, SchemaRef};
use crate::arrow::util::display::{ArrayFormatter, FormatOptions};
use crate::datafusion::parquet::arrow::ArrowWriter;
use crate::datafusion::parquet::basic::{Compression as PqCompression, ZstdLevel};
use crate::datafusion::parquet::file::properties::WriterProperties;
use crate::error::{Error, Result};
use crate::lake::bucket::{Bucket, normalize_key};
use crate::lake::catalog::{CatalogStore, Column, Table};
use crate::lake::sniff::{Compression, FileFormat, normalize_name};
use crate::lake::writer::{written_column, written_format_options};
use crate::stream::metrics::NodeMetrics;

/// Firehose settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FirehoseConfig {
    /// Key prefix in the bucket objects are delivered under.
    pub prefix: String,
    /// Key prefix for records that could not be delivered.
    pub error_prefix: String,
    /// Flush when the buffer holds this many MB.
    pub buffer_mb: f64,
    /// Flush at least this often, in ms.
    pub buffer_interval_ms: u64,
    /// json (lines), csv or parquet.
    pub format: String,
    /// none, gzip or zstd for json and csv; snappy, zstd or none for parquet.
    pub compression: String,
    /// Dynamic partitioning: fields whose values make `field=value/` folders.
    pub partition_fields: Vec<String>,
    /// Register the delivered prefix as this catalog table ("" to not register).
    pub table: String,
    /// Database of the registered table.
    pub database: String,
    /// Optional transform: SQL over each buffer (the table `input`) before delivery.
    pub transform_sql: String,
}

impl Default for FirehoseConfig {
    fn default() -> Self {
        Self {
            prefix: "firehose/".to_owned(),
            error_prefix: "firehose-errors/".to_owned(),
            buffer_mb: 5.0,
            buffer_interval_ms: 60_000,
            format: "json".to_owned(),
            compression: "none".to_owned(),
            partition_fields: Vec::new(),
            table: String::new(),
            database: "default".to_owned(),
            transform_sql: String::new(),
        }
    }
}

impl ConfigRules for FirehoseConfig {
    fn validate(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, p) in [
            ("prefix", &self.prefix),
            ("error_prefix", &self.error_prefix),
        ] {
            match normalize_key(p) {
                Ok(k) if k.is_empty() => out.push(format!("{name}: a folder is required")),
                Ok(_) => {}
                Err(e) => out.push(format!("{name}: {e}")),
            }
        }
        if !["json", "csv", "parquet"].contains(&self.format.as_str()) {
            out.push(format!(
                "format: '{}' is not json, csv or parquet",
                self.format
            ));
        }
        let ok = match self.format.as_str() {
            "parquet" => ["snappy", "zstd", "none"].contains(&self.compression.as_str()),
            _ => ["gzip", "zstd", "none"].contains(&self.compression.as_str()),
        };
        if !ok {
            out.push(format!(
                "compression: '{}' does not apply to {}",
                self.compression, self.format
            ));
        }
        if !self.transform_sql.trim().is_empty()
            && let Err(e) = crate::lake::sql::check_read_only(&self.transform_sql)
        {
            out.push(format!("transform_sql: {e}"));
        }
        if self.buffer_mb <= 0.0 {
            out.push("buffer_mb: must be more than 0".to_owned());
        }
        if !self.table.is_empty() && normalize_name(&self.table) != self.table {
            out.push(format!(
                "table: '{}' must be lowercase letters, digits and '_'",
                self.table
            ));
        }
        out
    }
}

struct Delivery {
    bucket: Arc<Bucket>,
    node: String,
    config: FirehoseConfig,
    schema: SchemaRef,
    seq: u64,
    objects: u64,
    bytes: u64,
}

impl Delivery {
    /// A writer of failed records (JSON lines, with their error) under `prefix`.
    fn error_writer(&self, prefix: String, schema: SchemaRef, name: &str) -> Self {
        Self {
            config: FirehoseConfig {
                prefix,
                format: "json".to_owned(),
                compression: "none".to_owned(),
                partition_fields: Vec::new(),
                ..self.config.clone()
            },
            schema,
            bucket: self.bucket.clone(),
            node: format!("{}-{name}", self.node),
            seq: 0,
            objects: 0,
            bytes: 0,
        }
    }

    fn extension(&self) -> String {
        let base = match self.config.format.as_str() {
            "parquet" => ".parquet",
            "csv" => ".csv",
            _ => ".json",
        };
        let comp = match (
            self.config.format.as_str(),
            self.config.compression.as_str(),
        ) {
            ("parquet", _) => "",
            (_, "gzip") => ".gz",
            (_, "zstd") => ".zst",
            _ => "",
        };
        format!("{base}{comp}")
    }

    fn encode(&self, batch: &RecordBatch) -> Result<Vec<u8>> {
        let mut raw = Vec::new();
        match self.config.format.as_str() {
            "parquet" => {
                let compression = match self.config.compression.as_str() {
                    "zstd" => PqCompression::ZSTD(
                        ZstdLevel::try_new(3).map_err(|e| Error::Internal(e.to_string()))?,
                    ),
                    "none" => PqCompression::UNCOMPRESSED,
                    _ => PqCompression::SNAPPY,
                };
                let props = WriterProperties::builder()
                    .set_compression(compression)
                    .build();
                let mut w = ArrowWriter::try_new(&mut raw, batch.schema(), Some(props))
                    .map_err(|e| Error::Internal(e.to_string()))?;
                w.write(batch).map_err(|e| Error::Internal(e.to_string()))?;
                w.close().map_err(|e| Error::Internal(e.to_string()))?;
                return Ok(raw);
            }
            "csv" => {
                let mut w = crate::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut raw);
                w.write(batch).map_err(|e| Error::Internal(e.to_string()))?;
            }
            _ => {
                let mut w = crate::arrow::json::LineDelimitedWriter::new(&mut raw);
                w.write(batch).map_err(|e| Error::Internal(e.to_string()))?;
                w.finish().map_err(|e| Error::Internal(e.to_string()))?;
            }
        }
        compress(raw, &self.config.compression)
    }

    /// Writes one object atomically under `folder_key` (one put: a temporary file and a
    /// rename in a local folder, a single PUT in S3).
    async fn write_object(&mut self, folder_key: &str, batch: &RecordBatch) -> Result<()> {
        let bytes = self.encode(batch)?;
        self.seq += 1;
        let name = format!(
            "{}-{}-{:08}{}",
            normalize_name(&self.node),
            chrono::Utc::now().format("%Y%m%dT%H%M%S%3f"),
            self.seq,
            self.extension()
        );
        let key = format!("{}/{}", folder_key.trim_end_matches('/'), name);
        let size = bytes.len();
        self.bucket.put(&key, bytes::Bytes::from(bytes)).await?;
        self.objects += 1;
        self.bytes += size as u64;
        Ok(())
    }

    /// Delivers a buffer: split by dynamic partition, or into the UTC hour folder.
    async fn flush(
        &mut self,
        batches: &mut Vec<RecordBatch>,
        errors: &mut Vec<RecordBatch>,
    ) -> Result<u64> {
        if batches.is_empty() {
            return Ok(0);
        }
        let batch = concat_batches(&self.schema, batches.iter())
            .map_err(|e| Error::Internal(e.to_string()))?;
        batches.clear();
        let prefix = self.bucket.key_under_prefix(&self.config.prefix)?;
        let rows = batch.num_rows() as u64;
        if self.config.partition_fields.is_empty() {
            let hour = chrono::Utc::now().format("%Y/%m/%d/%H").to_string();
            self.write_object(&format!("{prefix}/{hour}"), &batch)
                .await?;
            return Ok(rows);
        }
        // Group rows by their partition values; rows with a null value cannot be placed.
        let cols: Vec<(String, ArrayRef)> = self
            .config
            .partition_fields
            .iter()
            .map(|f| {
                let i = self.schema.index_of(f).map_err(|_| {
                    Error::Invalid(format!("partition field '{f}' is not in the records"))
                })?;
                Ok((f.clone(), batch.column(i).clone()))
            })
            .collect::<Result<_>>()?;
        // Group rows by their partition values (formatters are not Send: grouped before
        // any write awaits); rows with a null value cannot be placed.
        let (groups, bad) = {
            let options = FormatOptions::default();
            let formatters: Vec<_> = cols
                .iter()
                .map(|(_, c)| {
                    ArrayFormatter::try_new(c.as_ref(), &options)
                        .map_err(|e| Error::Internal(e.to_string()))
                })
                .collect::<Result<_>>()?;
            let mut groups: BTreeMap<String, Vec<u32>> = BTreeMap::new();
            let mut bad: Vec<u32> = Vec::new();
            for r in 0..batch.num_rows() {
                if cols.iter().any(|(_, c)| c.is_null(r)) {
                    bad.push(r as u32);
                    continue;
                }
                let folder: Vec<String> = cols
                    .iter()
                    .zip(&formatters)
                    .map(|((name, _), f)| format!("{name}={}", sanitize(&f.value(r).to_string())))
                    .collect();
                groups.entry(folder.join("/")).or_default().push(r as u32);
            }
            (groups, bad)
        };
        let mut delivered = 0;
        for (folder, idx) in groups {
            delivered += idx.len() as u64;
            let part = take_record_batch(&batch, &UInt32Array::from(idx))
                .map_err(|e| Error::Internal(e.to_string()))?;
            self.write_object(&format!("{prefix}/{folder}"), &part)
                .await?;
        }
        if !bad.is_empty() {
            let part = take_record_batch(&batch, &UInt32Array::from(bad))
                .map_err(|e| Error::Internal(e.to_string()))?;
            let msg = format!(
                "a partition field ({}) is null",
                self.config.partition_fields.join(", ")
            );
            errors.push(super::lambda::with_error(
                &part,
                &super::lambda::failed_schema(&self.schema),
                &msg,
            )?);
        }
        Ok(delivered)
    }
}

fn sanitize(v: &str) -> String {
    v.chars()
        .map(|c| {
            if c == '/' || c == '\\' || c == '=' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

fn compress(raw: Vec<u8>, compression: &str) -> Result<Vec<u8>> {
    match compression {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&raw)
                .map_err(|e| Error::Internal(e.to_string()))?;
            e.finish().map_err(|e| Error::Internal(e.to_string()))
        }
        "zstd" => zstd::encode_all(raw.as_slice(), 3).map_err(|e| Error::Internal(e.to_string())),
        _ => Ok(raw),
    }
}

/// Registers the delivered prefix as a catalog table.
fn register(
    store: &CatalogStore,
    bucket: &Bucket,
    config: &FirehoseConfig,
    schema: &SchemaRef,
    node: &str,
) -> Result<()> {
    let prefix = bucket.key_under_prefix(&config.prefix)?;
    let location = store.location_for(&bucket.location_of(&prefix, true));
    let format = match config.format.as_str() {
        "parquet" => FileFormat::Parquet,
        "csv" => FileFormat::Csv,
        _ => FileFormat::Json,
    };
    let compression = match (format, config.compression.as_str()) {
        (FileFormat::Parquet, _) => Compression::None,
        (_, "gzip") => Compression::Gzip,
        (_, "zstd") => Compression::Zstd,
        _ => Compression::None,
    };
    let text = format != FileFormat::Parquet;
    let columns: Vec<Column> = schema
        .fields()
        .iter()
        .filter(|f| !config.partition_fields.contains(f.name()))
        .map(|f| written_column(f, text))
        .collect();
    let keys: Vec<Column> = config
        .partition_fields
        .iter()
        .map(|p| Column {
            name: p.clone(),
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

/// Wires delivery from the input stream to the target bucket.
pub async fn run(config: &FirehoseConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let input = ctx.stream_input("records")?;
    let bucket = ctx.bucket_input("target")?;
    let catalog = match ctx.inputs.get("catalog").and_then(|v| v.first()) {
        Some(Value::Catalog(c)) => Some(c.clone()),
        _ => None,
    };
    let in_schema = input.schema().clone();
    // The transform, planned once against the input's columns: its columns are delivered.
    let transform = if config.transform_sql.trim().is_empty() {
        None
    } else {
        let session = crate::datafusion::prelude::SessionContext::new();
        let out = crate::lake::sql::schema_over_input(&session, &config.transform_sql, &in_schema)
            .await?;
        Some((session, out))
    };
    let schema = transform
        .as_ref()
        .map(|(_, s)| s.clone())
        .unwrap_or_else(|| in_schema.clone());
    if !config.table.is_empty() {
        let Some(store) = &catalog else {
            return Err(Error::Invalid(
                "table: registering a table needs the 'catalog' input connected".to_owned(),
            ));
        };
        store.remember_bucket(&bucket)?;
        register(store, &bucket, config, &schema, &ctx.node.id)?;
    }
    let error_schema = super::lambda::failed_schema(&schema);
    let processing_error_schema = super::lambda::failed_schema(&in_schema);
    let (mut consumer, metrics) = super::stream::subscribe(&input, &ctx.node.id);
    let m = metrics.clone();
    let mut delivery = Delivery {
        bucket,
        node: ctx.node.id.clone(),
        config: config.clone(),
        schema: schema.clone(),
        seq: 0,
        objects: 0,
        bytes: 0,
    };
    let error_prefix = config.error_prefix.clone();
    let buffer_bytes = (config.buffer_mb * 1e6) as usize;
    let interval = Duration::from_millis(config.buffer_interval_ms.max(1));
    let task = async move {
        let mut buffer: Vec<RecordBatch> = Vec::new();
        let mut buffered = 0usize;
        let mut errors: Vec<RecordBatch> = Vec::new();
        let mut last_flush = Instant::now();
        let mut delivered = 0u64;
        let mut failed = 0u64;
        let mut error_writer = delivery.error_writer(error_prefix, error_schema.clone(), "errors");
        let mut processing_errors = delivery.error_writer(
            format!(
                "{}/processing-failed/",
                error_writer.config.prefix.trim_end_matches('/')
            ),
            processing_error_schema.clone(),
            "processing-errors",
        );
        loop {
            let wait = interval.saturating_sub(last_flush.elapsed());
            let next = consumer
                .next_timeout(65_536, wait.max(Duration::from_millis(1)))
                .await;
            let ended = next.is_none();
            for d in next.unwrap_or_default() {
                let size = d.batch.get_array_memory_size();
                NodeMetrics::add(&m.records_in, d.batch.num_rows() as u64);
                NodeMetrics::add(&m.bytes_in, size as u64);
                buffered += size;
                buffer.push(d.batch);
            }
            if ended || buffered >= buffer_bytes || last_flush.elapsed() >= interval {
                let t = Instant::now();
                if let Some((session, _)) = &transform
                    && !buffer.is_empty()
                {
                    let raw = std::mem::take(&mut buffer);
                    match crate::lake::sql::sql_over_input(
                        session,
                        &delivery.config.transform_sql,
                        &in_schema,
                        raw.clone(),
                    )
                    .await
                    {
                        Ok(out) => buffer = out,
                        Err(e) => {
                            let msg = format!(
                                "transform failed: {}",
                                crate::lake::sql::describe_datafusion_error(&e)
                            );
                            let mut failed_now = Vec::new();
                            for b in &raw {
                                failed_now.push(super::lambda::with_error(
                                    b,
                                    &processing_error_schema,
                                    &msg,
                                )?);
                            }
                            let rows: u64 = raw.iter().map(|b| b.num_rows() as u64).sum();
                            failed += rows;
                            NodeMetrics::add(&m.errors, rows);
                            processing_errors
                                .flush(&mut failed_now, &mut Vec::new())
                                .await?;
                        }
                    }
                }
                let n = delivery.flush(&mut buffer, &mut errors).await?;
                delivered += n;
                NodeMetrics::add(&m.records_out, n);
                if !errors.is_empty() {
                    let rows: u64 = errors.iter().map(|b| b.num_rows() as u64).sum();
                    failed += rows;
                    NodeMetrics::add(&m.errors, rows);
                    error_writer.flush(&mut errors, &mut Vec::new()).await?;
                }
                buffered = 0;
                last_flush = Instant::now();
                // Everything read so far is in delivered objects now.
                consumer.ack()?;
                NodeMetrics::add(&m.batches, 1);
                NodeMetrics::add(&m.batch_latency_us, t.elapsed().as_micros() as u64);
            }
            if ended {
                break;
            }
        }
        Ok(NodeStats {
            records_in: m.records_in.load(std::sync::atomic::Ordering::Relaxed),
            records_out: delivered,
            bytes_out: delivery.bytes,
            detail: serde_json::json!({
                "objects": delivery.objects,
                "failed_records": failed,
                "error_objects": error_writer.objects + processing_errors.objects,
            }),
            ..Default::default()
        })
    };
    Ok(NodeOutput::streaming(Box::pin(task), metrics))
}
