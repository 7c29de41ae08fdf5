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
//! table, so batch SQL sees it. Instead of SQL, a Python or Node.js transformation
//! function (`processor`) can reshape records with AWS's event and result contract
//! (`firehose/processor.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::form::{Editor, Field, FieldProblem, Problems, When};
use super::operator::{Hold, Operator, Outputs, ReadOptions, Wiring};
use super::ports::{CATALOG_OPTIONAL_IN, TARGET_IN};
use super::start::StartingPosition;
use super::{Category, Kind, NodeContext, NodeOutput, NodeStats, PortSpec, PortType};
use crate::api::cost::{Cost, GB, Prices, Sizes};
use crate::arrow::array::{Array, RecordBatch};
use crate::arrow::compute::concat_batches;
use crate::arrow::datatypes::{DataType, SchemaRef};
use crate::error::{Error, Result};
use crate::lake::bucket::{Bucket, normalize_key};
use crate::lake::catalog::CatalogStore;
use crate::lake::sniff::{FileFormat, normalize_name};
use crate::lake::writer::OutputCompression;
use crate::stream::topic::Delivery;

mod catalog;
mod jq;
mod prefix;
mod processor;
mod writer;

use catalog::{register, sync_partitions};
use prefix::{KeySource, Layout};
use processor::Processor;
pub use processor::ProcessorConfig;
use writer::{ObjectWriter, whole_file};

/// The stream delivered; none for a `DirectPut` Firehose fed through the Firehose API.
pub const RECORDS_IN: PortSpec = PortSpec::input("records", PortType::Stream);

/// Firehose settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FirehoseConfig {
    /// The name clients of the Firehose API use (`DeliveryStreamName`); empty: the node id.
    pub delivery_stream_name: String,
    /// With no input wired (`DirectPut`): the columns records put through the Firehose
    /// API are parsed into (JSON objects), as `name Type [NOT NULL]`; empty: the bytes are
    /// delivered as they were put.
    pub columns: Vec<String>,
    /// Key prefix in the bucket objects are delivered under.
    pub prefix: String,
    /// Key prefix for records that could not be delivered.
    pub error_prefix: String,
    /// Flush when the buffer holds this many MiB of record data (`SizeInMBs`).
    pub buffer_mb: f64,
    /// Flush at least this often, in ms (`IntervalInSeconds` × 1,000).
    pub buffer_interval_ms: u64,
    /// json (lines), csv or parquet.
    pub format: FileFormat,
    /// none, gzip or zstd for json and csv; snappy, zstd or none for parquet.
    pub compression: OutputCompression,
    /// Dynamic partitioning: fields whose values make `field=value/` folders (or, in a
    /// prefix with expressions, the keys `!{partitionKeyFromQuery:field}` reads).
    pub partition_fields: Vec<String>,
    /// Dynamic partitioning's metadata extraction (`MetadataExtractionQuery`): a JQ
    /// query over each record's JSON giving its partition keys, `{customer_id:
    /// .customer_id}`, read by `!{partitionKeyFromQuery:customer_id}` in the prefix.
    pub metadata_extraction_query: String,
    /// Register the delivered prefix as this catalog table ("" to not register).
    pub table: String,
    /// Database of the registered table.
    pub database: String,
    /// Optional transform: SQL over each buffer (the table `input`) before delivery.
    pub transform_sql: String,
    /// Optional transformation function (a Lambda processor), instead of SQL.
    pub processor: Option<ProcessorConfig>,
    /// Where reading starts without a checkpoint (`StartingPosition`).
    pub starting_position: StartingPosition,
    /// For `AT_TIMESTAMP`: seconds since the Unix epoch.
    pub starting_position_timestamp: f64,
    /// For `AT_`/`AFTER_SEQUENCE_NUMBER`: one sequence number, or one per shard.
    pub starting_sequence_number: String,
}

impl Default for FirehoseConfig {
    fn default() -> Self {
        Self {
            delivery_stream_name: String::new(),
            columns: Vec::new(),
            prefix: "firehose/".to_owned(),
            error_prefix: "firehose-errors/".to_owned(),
            buffer_mb: 5.0,
            // AWS's defaults: 5 MiB or 300 seconds, whichever comes first.
            buffer_interval_ms: 300_000,
            format: FileFormat::Json,
            compression: OutputCompression::None,
            partition_fields: Vec::new(),
            metadata_extraction_query: String::new(),
            table: String::new(),
            database: "default".to_owned(),
            transform_sql: String::new(),
            processor: None,
            starting_position: StartingPosition::TrimHorizon,
            starting_position_timestamp: 0.0,
            starting_sequence_number: String::new(),
        }
    }
}

/// The Firehose node.
pub struct FirehoseKind;

impl Kind for FirehoseKind {
    type Config = FirehoseConfig;
    const NAME: &'static str = "firehose";
    const CATEGORY: Category = Category::Streaming;
    const DESCRIPTION: &'static str =
        "Buffers stream records and delivers them to a bucket as JSON, CSV or Parquet files.";
    const ICON: &'static str = "🔥";
    const INPUTS: &'static [PortSpec] = &[RECORDS_IN, TARGET_IN, CATALOG_OPTIONAL_IN];
    const OUTPUTS: &'static [PortSpec] = &[];
    const FIELDS: &'static [Field] = &[
        Field::new(
            "delivery_stream_name",
            "Delivery stream name",
            Editor::Text,
            "The DeliveryStreamName clients of the Firehose API use (tributary run --serve, or Serve in the toolbar); empty: the node id.",
        ),
        Field::new(
            "columns",
            "Columns",
            Editor::Lines,
            "With no input wired (DirectPut): the columns records put through the Firehose API are parsed into, one 'name Type [NOT NULL]' per line (JSON objects; a record that does not fit goes to the error prefix). Empty: the bytes are delivered as they were put.",
        ),
        Field::new(
            "prefix",
            "Prefix",
            Editor::Text,
            "Key prefix in the bucket objects are delivered under (Prefix), with AWS's expressions: !{timestamp:yyyy/MM/dd} (a Java date pattern; the arrival time of the oldest record in the object, UTC), !{firehose:random-string}, !{partitionKeyFromQuery:key}. Without an expression, hour folders YYYY/MM/dd/HH/ follow it (a prefix without a trailing / is not a folder, as in AWS).",
        ),
        Field::new(
            "error_prefix",
            "Error prefix",
            Editor::Text,
            "Key prefix for records that could not be delivered (ErrorOutputPrefix), with the same expressions and !{firehose:error-output-type}. Without an expression, <error type>/YYYY/MM/dd/HH/ follows it.",
        ),
        Field::new(
            "buffer_mb",
            "Buffer size (MB)",
            Editor::Number,
            "Flush when the buffer holds this many MiB of record data, as delivered (BufferingHints SizeInMBs; AWS's default 5).",
        ),
        Field::new(
            "buffer_interval_ms",
            "Buffer interval (ms)",
            Editor::Number,
            "Flush at least this often (BufferingHints IntervalInSeconds, in ms; AWS's default 300 s).",
        ),
        Field::new(
            "format",
            "Format",
            Editor::Choice(FileFormat::WRITTEN),
            "json (lines), csv or parquet.",
        ),
        Field::new(
            "compression",
            "Compression",
            Editor::Choice(OutputCompression::NAMES),
            "none, gzip or zstd for json and csv; snappy, zstd or none for parquet.",
        ),
        Field::new(
            "partition_fields",
            "Partition fields",
            Editor::Lines,
            "Dynamic partitioning: fields whose values make field=value/ folders (with a prefix that has expressions: the keys !{partitionKeyFromQuery:field} reads).",
        ),
        Field::new(
            "metadata_extraction_query",
            "Metadata extraction query (JQ)",
            Editor::Text,
            "Dynamic partitioning (MetadataExtractionQuery, JQ): run on each record's JSON, it gives the record's partition keys, e.g. {customer_id: .customer_id, year: .ts|strftime(\"%Y\")}; the prefix reads them with !{partitionKeyFromQuery:customer_id}.",
        ),
        Field::new(
            "table",
            "Catalog table",
            Editor::Text,
            "Register the delivered prefix as this catalog table (empty: not registered).",
        ),
        Field::new(
            "database",
            "Catalog database",
            Editor::Text,
            "Database of the registered table.",
        )
        .when(When::IsNot("table", &[""])),
        Field::new(
            "transform_sql",
            "Transform SQL",
            Editor::Sql,
            "Optional data transformation: SQL over each buffer (the table input) before delivery.",
        ),
        Field::new(
            "processor",
            "Transformation function",
            Editor::Optional {
                toggle: "Transform records with a Lambda function",
                fields: processor::FIELDS,
                template: processor::template,
            },
            "A Python or Node.js function invoked with the buffered records, as a Firehose data-transformation Lambda (ProcessingConfiguration): each record comes back Ok, Dropped or ProcessingFailed.",
        ),
        super::start::FIELDS[0],
        super::start::FIELDS[1],
        super::start::FIELDS[2],
    ];

    fn validate(config: &FirehoseConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        if let Err(e) = super::stream::valid_stream_name(&config.delivery_stream_name) {
            p.add(
                "delivery_stream_name",
                e.replace("Kinesis stream", "delivery stream"),
            );
        }
        if let Err(e) = crate::stream::records::parse_columns(&config.columns) {
            p.add("columns", e);
        }
        for (name, prefix) in [
            ("prefix", &config.prefix),
            ("error_prefix", &config.error_prefix),
        ] {
            match normalize_key(prefix) {
                Ok(k) if k.is_empty() => p.add(name, "a folder is required"),
                Ok(_) => {}
                Err(e) => p.add(name, e.to_string()),
            }
        }
        validate_layout(config, &mut p);
        if let Err(e) = config.format.written_or_error("format") {
            p.add("format", e);
        }
        p.check(
            !config.format.is_written() || config.compression.applies_to(config.format),
            "compression",
            format!(
                "'{}' does not apply to {}",
                config.compression, config.format
            ),
        );
        if !config.transform_sql.trim().is_empty() {
            p.check_result(
                "transform_sql",
                crate::lake::sql::check_read_only(&config.transform_sql),
            );
        }
        if let Some(pc) = &config.processor {
            pc.validate(&mut p);
            p.check(
                config.transform_sql.trim().is_empty(),
                "processor",
                "set either transform_sql or a transformation function, not both",
            );
        }
        p.check(config.buffer_mb > 0.0, "buffer_mb", "must be more than 0");
        p.check(
            config.table.is_empty() || normalize_name(&config.table) == config.table,
            "table",
            format!(
                "'{}' must be lowercase letters, digits and '_'",
                config.table
            ),
        );
        super::start::check(
            &mut p,
            config.starting_position,
            config.starting_position_timestamp,
            &config.starting_sequence_number,
        );
        p.into_vec()
    }

    async fn run(config: &FirehoseConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        run(config, ctx).await
    }

    fn cost(config: &FirehoseConfig, stats: &NodeStats, prices: &Prices) -> Option<Cost> {
        firehose_cost(config, stats, prices)
    }
}

/// What a Firehose reports.
#[derive(Clone, Debug, Serialize)]
pub struct FirehoseReport {
    /// Objects delivered.
    pub objects: u64,
    /// Records that went to the error prefix.
    pub failed_records: u64,
    /// Objects under the error prefix.
    pub error_objects: u64,
    /// Records the transformation function dropped.
    pub dropped_records: u64,
    /// Records that came in.
    pub records_ingested: u64,
    /// Their sizes, for ingestion billed in 5 KB increments.
    #[serde(skip)]
    pub ingested: Sizes,
}

/// Checks the prefixes' expressions and where their partition keys come from.
fn validate_layout(config: &FirehoseConfig, p: &mut Problems) {
    let query = if config.metadata_extraction_query.trim().is_empty() {
        None
    } else {
        match jq::Query::compile(&config.metadata_extraction_query) {
            Ok(q) => Some(q),
            Err(e) => {
                p.add("metadata_extraction_query", e);
                None
            }
        }
    };
    match Layout::delivered(&config.prefix, &config.partition_fields) {
        Err(e) => p.add("prefix", e),
        Ok(layout) => {
            let keys = layout.template.keys();
            for (source, key) in &keys {
                match source {
                    KeySource::Lambda => p.add(
                        "prefix",
                        format!("!{{partitionKeyFromLambda:{key}}}: keys from a transformation function's metadata are not supported yet; compute the key with metadata_extraction_query and read it with !{{partitionKeyFromQuery:{key}}}"),
                    ),
                    KeySource::Query
                        if query.is_none()
                            && config.metadata_extraction_query.trim().is_empty()
                            && !config.partition_fields.contains(key) =>
                    {
                        p.add(
                            "prefix",
                            format!("!{{partitionKeyFromQuery:{key}}}: set metadata_extraction_query (a JQ query giving '{key}') or add '{key}' to partition_fields"),
                        )
                    }
                    KeySource::Query => {}
                }
            }
            p.check(
                !keys.is_empty() || config.metadata_extraction_query.trim().is_empty(),
                "metadata_extraction_query",
                "the prefix reads no key it gives: add !{partitionKeyFromQuery:<key>} to the prefix",
            );
        }
    }
    if let Err(e) = Layout::errors(&config.error_prefix, true) {
        p.add("error_prefix", e);
    }
}

/// Buffers records and delivers them as objects when the buffer is full, its interval
/// has passed, or the input ends.
struct Deliver {
    writer: ObjectWriter,
    error_writer: ObjectWriter,
    processing_errors: ObjectWriter,
    /// The transform, planned against the input's columns.
    transform: Option<crate::datafusion::prelude::SessionContext>,
    processor: Option<Processor>,
    in_schema: SchemaRef,
    buffer: Vec<RecordBatch>,
    /// Each buffered batch's arrival time (ms), for the transformation function.
    arrivals: Vec<i64>,
    dropped: u64,
    buffered_bytes: usize,
    buffer_bytes: usize,
    interval: Duration,
    last_flush: Instant,
    failed: u64,
    /// The catalog table the prefix is registered as, whose file counts are brought up
    /// to date when delivery ends.
    registered: Option<Arc<CatalogStore>>,
    /// The sizes of the records that came in (the cost meter's ingestion).
    ingested: Sizes,
    /// Injected faults.
    faults: Option<Arc<crate::nodes::faults::Injector>>,
    /// Poison records (injected) waiting for the next delivery, to go under the error
    /// prefix as `processing-failed`, with their arrival.
    poisoned: Vec<(RecordBatch, i64)>,
}

impl Deliver {
    /// Brings the registered table's partitions, file count and size up to what its
    /// prefix now holds (error prefixes and hidden files left out), as a crawl would.
    async fn refresh_table_stats(&self) -> Result<()> {
        let Some(store) = &self.registered else {
            return Ok(());
        };
        sync_partitions(store, &self.writer.bucket, &self.writer.config).await?;
        Ok(())
    }

    /// Delivers the buffer (through the transform, if any); failed records go under the
    /// error prefix.
    async fn flush(&mut self, out: &Outputs) -> Result<()> {
        self.buffered_bytes = 0;
        self.last_flush = self.writer.clock.instant();
        let arrivals = std::mem::take(&mut self.arrivals);
        // Folder times are the approximate arrival of the oldest record in the object.
        let oldest = arrivals
            .iter()
            .copied()
            .min()
            .unwrap_or_else(|| self.writer.clock.now_ms());
        if !self.poisoned.is_empty() {
            let msg = "poison record: the record could not be processed (a fault injected by the node's Faults section)";
            let mut poisoned = std::mem::take(&mut self.poisoned)
                .iter()
                .map(|(b, arrival)| {
                    processor::error_records(b, *arrival, "InjectedPoisonRecord", msg)
                })
                .collect::<Result<Vec<_>>>()?;
            let rows: u64 = poisoned.iter().map(|b| b.num_rows() as u64).sum();
            self.failed += rows;
            out.failed(rows);
            self.processing_errors
                .flush(&mut poisoned, &mut Vec::new(), oldest)
                .await?;
        }
        if let Some(latency) = self.faults.as_ref().and_then(|f| f.latency()) {
            tokio::time::sleep(latency).await;
        }
        if let Some(processor) = &self.processor
            && !self.buffer.is_empty()
        {
            let raw = std::mem::take(&mut self.buffer);
            let batch = concat_batches(&self.in_schema, &raw)
                .map_err(|e| Error::Internal(e.to_string()))?;
            let per_row: Vec<i64> = raw
                .iter()
                .zip(&arrivals)
                .flat_map(|(b, a)| std::iter::repeat_n(*a, b.num_rows()))
                .collect();
            let processed = processor.process(&batch, &per_row).await?;
            self.dropped += processed.dropped;
            self.buffer = processed.delivered;
            if let Some(f) = processed.failed {
                let rows = f.num_rows() as u64;
                self.failed += rows;
                out.failed(rows);
                self.processing_errors
                    .flush(&mut vec![f], &mut Vec::new(), oldest)
                    .await?;
            }
        }
        if let Some(session) = &self.transform
            && !self.buffer.is_empty()
        {
            let raw = std::mem::take(&mut self.buffer);
            match crate::lake::sql::sql_over_input(
                session,
                &self.writer.config.transform_sql,
                &self.in_schema,
                raw.clone(),
            )
            .await
            {
                Ok(transformed) => self.buffer = transformed,
                Err(e) => {
                    let msg = format!(
                        "transform failed: {}",
                        crate::lake::sql::describe_datafusion_error(&e)
                    );
                    let mut failed_now = raw
                        .iter()
                        .map(|b| processor::error_records(b, oldest, "Transform.Failed", &msg))
                        .collect::<Result<Vec<_>>>()?;
                    let rows: u64 = raw.iter().map(|b| b.num_rows() as u64).sum();
                    self.failed += rows;
                    out.failed(rows);
                    self.processing_errors
                        .flush(&mut failed_now, &mut Vec::new(), oldest)
                        .await?;
                }
            }
        }
        let bytes_before = self.writer.bytes;
        let mut errors = Vec::new();
        let n = self
            .writer
            .flush(&mut self.buffer, &mut errors, oldest)
            .await?;
        out.delivered(n, self.writer.bytes - bytes_before);
        if !errors.is_empty() {
            let rows: u64 = errors.iter().map(|b| b.num_rows() as u64).sum();
            self.failed += rows;
            out.failed(rows);
            self.error_writer
                .flush(&mut errors, &mut Vec::new(), oldest)
                .await?;
        }
        Ok(())
    }
}

impl Deliver {
    /// The records of `d` that are not poison; the poison ones wait for the next
    /// delivery, to go under the error prefix.
    fn set_poison_aside(
        &mut self,
        f: Arc<crate::nodes::faults::Injector>,
        d: &Delivery,
    ) -> Result<RecordBatch> {
        let n = d.batch.num_rows() as u64;
        let seqs: Vec<u64> = (d.first_seq..d.first_seq + n).collect();
        let poison = f.poison(&d.batch, d.shard, &seqs)?;
        let bad = poison.iter().filter(|p| **p).count();
        if bad == 0 {
            return Ok(d.batch.clone());
        }
        let mask = crate::arrow::array::BooleanArray::from(poison);
        let good_mask = crate::arrow::compute::not(&mask)?;
        self.poisoned.push((
            crate::arrow::compute::filter_record_batch(&d.batch, &mask)?,
            d.arrival_ms,
        ));
        let first = seqs[mask.values().iter().position(|p| p).unwrap_or_default()];
        f.poisoned(bad as u64, || {
            format!("at sequence number {first} of shard {}", d.shard)
        });
        Ok(crate::arrow::compute::filter_record_batch(
            &d.batch, &good_mask,
        )?)
    }
}

impl Operator for Deliver {
    async fn process(&mut self, read: Vec<Delivery>, out: &Outputs) -> Result<Hold> {
        for d in read {
            self.buffered_bytes += delivered_bytes(&d) as usize;
            count_ingested(&mut self.ingested, &d)?;
            self.arrivals.push(d.arrival_ms);
            let batch = match &self.faults {
                Some(f) => self.set_poison_aside(f.clone(), &d)?,
                None => d.batch,
            };
            self.buffer.push(batch);
        }
        if self.buffered_bytes < self.buffer_bytes {
            return Ok(Hold::Holding);
        }
        self.flush(out).await?;
        // Everything read so far is in delivered objects now.
        Ok(Hold::Released)
    }

    fn deadline(&self) -> Option<Instant> {
        Some(self.last_flush + self.interval)
    }

    async fn on_timer(&mut self, out: &Outputs) -> Result<Hold> {
        let due = self.last_flush + self.interval;
        self.flush(out).await?;
        // The next interval runs from when this one was due (a simulated clock may have
        // run on before the timer was seen), unless that is an interval ago already.
        let now = self.writer.clock.instant();
        if now.saturating_duration_since(due) < self.interval {
            self.last_flush = due;
        }
        Ok(Hold::Released)
    }

    async fn finish(&mut self, out: &Outputs) -> Result<()> {
        self.flush(out).await?;
        if let Some(f) = &self.faults {
            f.report();
        }
        self.refresh_table_stats().await
    }

    fn report(self, stats: &mut NodeStats) {
        stats.bytes_out = self.writer.bytes;
        stats.report = Some(Arc::new(FirehoseReport {
            objects: self.writer.objects,
            failed_records: self.failed,
            error_objects: self.error_writer.objects + self.processing_errors.objects,
            dropped_records: self.dropped,
            records_ingested: self.ingested.records(),
            ingested: self.ingested,
        }));
    }
}

/// The bytes `d`'s records add to the buffer, as Firehose counts its buffer size: the
/// bytes put, or for rows the graph made, their JSON (measured on up to 64 rows and
/// scaled, so a fast stream is not written out twice).
fn delivered_bytes(d: &Delivery) -> u64 {
    if let Some(data) = d.put_data() {
        return data.values().len() as u64;
    }
    let rows = d.batch.num_rows();
    if rows == 0 {
        return 0;
    }
    let sample = rows.min(64);
    match crate::stream::records::record_bytes(&d.batch.slice(0, sample)) {
        Ok(json) => {
            let bytes: u64 = json.iter().map(|r| r.len() as u64 + 1).sum();
            bytes * rows as u64 / sample as u64
        }
        Err(_) => d.batch.get_array_memory_size() as u64,
    }
}

/// Counts the records of `d` as Firehose bills their ingestion: the bytes a producer
/// put, or for rows the graph made, their JSON (the record a Kinesis source holds).
fn count_ingested(sizes: &mut Sizes, d: &Delivery) -> Result<()> {
    if let Some(data) = d.put_data() {
        for i in 0..data.len() {
            sizes.add(if data.is_null(i) {
                0
            } else {
                data.value(i).len() as u64
            });
        }
        return Ok(());
    }
    for size in crate::stream::records::billing_sizes(&d.batch, None)? {
        sizes.add(size);
    }
    Ok(())
}

/// What a Firehose's run costs: ingestion in 5 KB increments, format conversion to
/// Parquet, dynamic partitioning (per GB and per 1,000 objects), and the S3 requests and
/// a month's storage of what it delivered.
fn firehose_cost(config: &FirehoseConfig, stats: &NodeStats, prices: &Prices) -> Option<Cost> {
    let r = stats.report::<FirehoseReport>()?;
    let f = &prices.firehose;
    let gb = (r.ingested.units(f.ingest_increment_bytes) * f.ingest_increment_bytes) as f64 / GB;
    let mut cost = Cost::default();
    cost.add(
        "Firehose ingestion (5 KB increments)",
        gb,
        "GB",
        f.ingested_gb,
        1.0,
    );
    if config.format == FileFormat::Parquet {
        cost.add(
            "Firehose format conversion",
            gb,
            "GB",
            f.format_conversion_gb,
            1.0,
        );
    }
    if !config.partition_fields.is_empty() || !config.metadata_extraction_query.trim().is_empty() {
        cost.add(
            "Firehose dynamic partitioning",
            gb,
            "GB",
            f.dynamic_partitioning_gb,
            1.0,
        );
        cost.add(
            "Firehose dynamic partitioning objects",
            r.objects as f64,
            "object",
            f.dynamic_partitioning_objects_per_1000,
            1000.0,
        );
    }
    let s3 = &prices.s3;
    cost.add(
        "S3 PUT requests",
        (r.objects + r.error_objects) as f64,
        "request",
        s3.put_requests_per_1000,
        1000.0,
    );
    cost.add(
        "S3 Standard storage (a month of what was delivered)",
        stats.bytes_out as f64 / GB,
        "GB-month",
        s3.standard_gb_month,
        1.0,
    );
    Some(cost.continuous(stats.elapsed_ms as f64 / 1000.0))
}

/// Wires delivery from the input stream to the target bucket.
async fn run(config: &FirehoseConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let mut bucket = ctx.bucket(&TARGET_IN)?;
    let mut catalog = ctx.optional_catalog(&CATALOG_OPTIONAL_IN);
    if let Some(replay) = ctx.replaying() {
        // A replay leaves the original run's objects and table alone: it delivers into
        // its own folder.
        let folder = replay.scratch.join(normalize_name(ctx.id));
        ctx.info(format!(
            "replay: delivering into {} instead of '{}'{}",
            folder.display(),
            bucket.root_name(),
            if catalog.is_some() && !config.table.is_empty() {
                format!("; table '{}' is left as it is", config.table)
            } else {
                String::new()
            }
        ));
        std::fs::create_dir_all(&folder)
            .map_err(|e| Error::Bucket(format!("replay folder '{}': {e}", folder.display())))?;
        bucket = Arc::new(Bucket::open_local(&folder, "", "")?);
        catalog = None;
    }
    let wiring = Wiring::new();
    let (input, served) = served_input(config, ctx, &bucket, wiring.metrics())?;
    let in_schema = input.schema().clone();
    // The transform, planned once against the input's columns: its columns are delivered.
    let processor = match &config.processor {
        Some(pc) => Some(Processor::start(pc, ctx.id, ctx.base_dir, &in_schema, ctx.events).await?),
        None => None,
    };
    let (transform, schema) = if let Some(p) = &processor {
        (None, p.out_schema.clone())
    } else if config.transform_sql.trim().is_empty() {
        (None, in_schema.clone())
    } else {
        let session = crate::datafusion::prelude::SessionContext::new();
        let out = crate::lake::sql::schema_over_input(&session, &config.transform_sql, &in_schema)
            .await?;
        (Some(session), out)
    };
    if !config.table.is_empty() && ctx.replaying().is_none() {
        let Some(store) = &catalog else {
            return Err(Error::Invalid(format!(
                "table: registering a table needs the '{}' input connected",
                CATALOG_OPTIONAL_IN.name
            )));
        };
        store.remember_bucket(&bucket)?;
        register(store, &bucket, config, &schema, ctx.id)?;
    }
    let registered = catalog.filter(|_| !config.table.is_empty());
    // Folders earlier runs delivered are partitions of the table from the start.
    let partitions = match &registered {
        Some(store) => Some((
            store.clone(),
            sync_partitions(store, &bucket, config).await?,
        )),
        None => None,
    };
    let layout = Layout::delivered(&config.prefix, &config.partition_fields)
        .map_err(|e| Error::Invalid(format!("prefix: {e}")))?;
    let query = match config.metadata_extraction_query.trim() {
        "" => None,
        q => Some(Arc::new(jq::Query::compile(q).map_err(|e| {
            Error::Invalid(format!("metadata_extraction_query: {e}"))
        })?)),
    };
    let faults = crate::nodes::faults::Injector::new(&ctx.faults, ctx.id, ctx.events, &in_schema)?;
    let error_layout = |typed| {
        Layout::errors(&config.error_prefix, typed)
            .map_err(|e| Error::Invalid(format!("error_prefix: {e}")))
    };
    let writer = ObjectWriter {
        bucket,
        partitions,
        notify: ctx.endpoint.clone(),
        node: ctx.id.to_owned(),
        config: config.clone(),
        layout,
        error_type: None,
        query,
        schema: schema.clone(),
        seq: 0,
        objects: 0,
        bytes: 0,
        faults: faults.clone(),
        stop: ctx.stop.clone(),
        clock: ctx.clock.clone(),
    };
    // Both error writers write AWS's error records.
    let error_writer = writer.error_writer(
        error_layout(false)?,
        Some("partitioning-failed"),
        processor::error_schema(),
        "errors",
    );
    let processing_errors = writer.error_writer(
        error_layout(true)?,
        Some("processing-failed"),
        processor::error_schema(),
        "processing-errors",
    );
    let op = Deliver {
        writer,
        error_writer,
        processing_errors,
        transform,
        processor,
        in_schema,
        buffer: Vec::new(),
        arrivals: Vec::new(),
        dropped: 0,
        buffered_bytes: 0,
        // SizeInMBs is in MiB.
        buffer_bytes: (config.buffer_mb * 1_048_576.0) as usize,
        interval: Duration::from_millis(config.buffer_interval_ms.max(1)),
        last_flush: ctx.clock.instant(),
        failed: 0,
        registered,
        ingested: Sizes::default(),
        faults,
        poisoned: Vec::new(),
    };
    let options = ReadOptions {
        start: super::start::position(
            config.starting_position,
            config.starting_position_timestamp,
            &config.starting_sequence_number,
        ),
        ..Default::default()
    };
    let mut out = wiring.operator(ctx.id, &input, op, options);
    if let Some((registration, direct)) = served
        && let Some(task) = out.task.take()
    {
        let stop = ctx.stop.clone();
        out.task = Some(Box::pin(async move {
            if !direct {
                // Reading a stream: served (for Describe) while it delivers.
                let delivered = task.await;
                drop(registration);
                return delivered;
            }
            // DirectPut: clients may put until the run is stopped; then the Firehose
            // leaves the endpoint, its input closes, and the buffer is delivered.
            let (delivered, ()) = futures::join!(task, async move {
                stop.wait().await;
                drop(registration);
            });
            delivered
        }));
    }
    Ok(out)
}

/// A Firehose on the AWS endpoint: its registration, and whether it is `DirectPut`.
type Served = (crate::aws::Registration, bool);

/// The stream delivered, and the endpoint registration when the engine serves the AWS
/// APIs. A Firehose reading a stream node is `KinesisStreamAsSource` (it is served, but
/// refuses puts as AWS does); one with no input is `DirectPut`: what clients put is its
/// input, parsed into `columns` (or the bytes), records that do not fit going to
/// `<error prefix>format-conversion-failed/`.
fn served_input(
    config: &FirehoseConfig,
    ctx: &NodeContext<'_>,
    bucket: &Arc<Bucket>,
    metrics: &Arc<crate::stream::metrics::NodeMetrics>,
) -> Result<(Arc<crate::stream::topic::Topic>, Option<Served>)> {
    use crate::arrow::datatypes::{Field as ArrowField, Schema};
    use crate::stream::topic::{Retention, Topic};
    let name = if config.delivery_stream_name.is_empty() {
        ctx.id.to_owned()
    } else {
        config.delivery_stream_name.clone()
    };
    let wired = ctx.optional(&RECORDS_IN).is_some();
    let Some(registry) = &ctx.endpoint else {
        if !wired {
            return Err(Error::Invalid(format!(
                "nothing feeds this Firehose: wire a stream into '{}', or serve the Firehose API so producers can put records into '{name}' (tributary run --serve, or Serve in the toolbar)",
                RECORDS_IN.name
            )));
        }
        return Ok((ctx.stream(&RECORDS_IN)?, None));
    };
    let (input, producer, rows) = if wired {
        let input = ctx.stream(&RECORDS_IN)?;
        let rows = crate::aws::StreamRows::for_schema(input.schema());
        (input, None, rows)
    } else {
        let schema = if config.columns.is_empty() {
            Arc::new(Schema::new(vec![ArrowField::new(
                "data",
                DataType::Binary,
                false,
            )]))
        } else {
            Arc::new(Schema::new(
                crate::stream::records::parse_columns(&config.columns).map_err(Error::Invalid)?,
            ))
        };
        let topic = Topic::new(
            &format!("{}.direct-put", ctx.id),
            schema,
            1,
            None,
            Retention::default(),
            super::operator::DEFAULT_CAPACITY,
        )?;
        let rows = crate::aws::StreamRows::for_schema(topic.schema());
        let producer = topic.add_producer_for("firehose-api");
        (topic, Some(producer), rows)
    };
    let secs = config.buffer_interval_ms.div_ceil(1000);
    let destination = serde_json::json!({
        "RoleARN": format!("arn:aws:iam::{}:role/firehose-{name}", crate::aws::ACCOUNT),
        "BucketARN": format!("arn:aws:s3:::{}", bucket.root_name()),
        "Prefix": config.prefix,
        "ErrorOutputPrefix": config.error_prefix,
        "BufferingHints": { "SizeInMBs": config.buffer_mb, "IntervalInSeconds": secs },
        "CompressionFormat": match config.compression {
            OutputCompression::Gzip => "GZIP",
            OutputCompression::Snappy => "Snappy",
            OutputCompression::Zstd => "ZSTD",
            OutputCompression::None => "UNCOMPRESSED",
        },
    });
    let layout = Layout::errors(&config.error_prefix, true)
        .map_err(|e| Error::Invalid(format!("error_prefix: {e}")))?;
    let rejects = crate::aws::Rejects {
        bucket: bucket.clone(),
        folder: Box::new(move |arrival| {
            layout.template.evaluate(&prefix::Values {
                arrival,
                keys: &|_, _| None,
                error_type: Some("format-conversion-failed"),
            })
        }),
    };
    let direct = producer.is_some();
    let served_as = format!(
        "served as Firehose delivery stream '{name}' ({})",
        if direct {
            "DirectPut: clients put records"
        } else {
            "KinesisStreamAsSource: it reads its stream and takes no puts"
        }
    );
    let registration = registry.serve_firehose(crate::aws::ServedFirehose {
        name: name.clone(),
        node: ctx.id.to_owned(),
        producer,
        rows,
        rejects: Some(rejects),
        destination,
        metrics: metrics.clone(),
        created_ms: crate::stream::topic::now_ms(),
        misfits: Default::default(),
        active: Default::default(),
        served_as,
        events: ctx.events.clone(),
        seq: Default::default(),
    })?;
    Ok((input, Some((registration, direct))))
}
