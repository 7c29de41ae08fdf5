//! A Firehose's object writer: a buffer's records grouped by their partition keys, each
//! group encoded (JSON lines, CSV, Parquet; gzip, zstd, snappy) and written atomically
//! under its evaluated prefix, and each new folder registered as a partition of the
//! table.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;

use super::FirehoseConfig;
use super::jq;
use super::prefix::{KeySource, Layout, Values};
use crate::arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use crate::arrow::compute::{concat_batches, take_record_batch};
use crate::arrow::datatypes::{DataType, SchemaRef};
use crate::arrow::util::display::{ArrayFormatter, FormatOptions};
use crate::datafusion::parquet::arrow::ArrowWriter;
use crate::datafusion::parquet::basic::{Compression as PqCompression, ZstdLevel};
use crate::datafusion::parquet::file::properties::WriterProperties;
use crate::error::{Error, Result};
use crate::lake::bucket::Bucket;
use crate::lake::catalog::CatalogStore;
use crate::lake::sniff::{Compression, FileFormat, normalize_name};
use crate::lake::writer::OutputCompression;

pub(super) struct ObjectWriter {
    pub(super) bucket: Arc<Bucket>,
    /// The catalog whose table gets each new partition folder as it is written (the
    /// delivery writer of a Firehose with a `table`), and the folders it has.
    pub(super) partitions: Option<(Arc<CatalogStore>, std::collections::BTreeSet<String>)>,
    /// While serving: the endpoint, whose bucket listeners hear of each object written.
    pub(super) notify: Option<Arc<crate::aws::Registry>>,
    pub(super) node: String,
    pub(super) config: FirehoseConfig,
    /// Where objects go: the prefix evaluated per object.
    pub(super) layout: Layout,
    /// For an error writer: the error output type its records have.
    pub(super) error_type: Option<&'static str>,
    /// Dynamic partitioning's metadata extraction query, for the delivery writer.
    pub(super) query: Option<Arc<jq::Query>>,
    pub(super) schema: SchemaRef,
    pub(super) seq: u64,
    pub(super) objects: u64,
    pub(super) bytes: u64,
    /// Injected faults (S3 `503 SlowDown`), and the run's stop, which ends retries.
    pub(super) faults: Option<Arc<crate::nodes::faults::Injector>>,
    pub(super) stop: crate::api::StopSignal,
    /// The run's clock: object names carry its time.
    pub(super) clock: crate::api::Clock,
}

/// How often a Firehose retries a failed S3 delivery, and for how long at most: "If data
/// delivery to your Amazon S3 bucket fails, Amazon Data Firehose retries to deliver data
/// every 5 seconds for up to a maximum period of 24 hours" (Amazon Data Firehose
/// Developer Guide, data delivery failure handling).
pub(super) const S3_RETRY_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// The longest a Firehose retries an S3 delivery (24 hours).
pub(super) const S3_RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

impl ObjectWriter {
    /// A writer of failed records (JSON lines, with their error) laid out by `layout`
    /// with `error_type`.
    pub(super) fn error_writer(
        &self,
        layout: Layout,
        error_type: Option<&'static str>,
        schema: SchemaRef,
        name: &str,
    ) -> Self {
        Self {
            config: FirehoseConfig {
                format: FileFormat::Json,
                compression: OutputCompression::None,
                partition_fields: Vec::new(),
                ..self.config.clone()
            },
            layout,
            error_type,
            query: None,
            schema,
            bucket: self.bucket.clone(),
            partitions: None,
            notify: self.notify.clone(),
            node: format!("{}-{name}", self.node),
            seq: 0,
            objects: 0,
            bytes: 0,
            faults: self.faults.clone(),
            stop: self.stop.clone(),
            clock: self.clock.clone(),
        }
    }

    fn extension(&self) -> String {
        let base = match self.config.format {
            FileFormat::Parquet => ".parquet",
            FileFormat::Csv => ".csv",
            FileFormat::Json => ".json",
            FileFormat::Avro => ".avro",
            FileFormat::Orc => ".orc",
        };
        format!("{base}{}", whole_file(&self.config).extension())
    }

    fn encode(&self, batch: &RecordBatch) -> Result<Vec<u8>> {
        let mut raw = Vec::new();
        match self.config.format {
            FileFormat::Parquet => {
                let compression = match self.config.compression {
                    OutputCompression::Zstd => PqCompression::ZSTD(
                        ZstdLevel::try_new(3).map_err(|e| Error::Internal(e.to_string()))?,
                    ),
                    OutputCompression::None => PqCompression::UNCOMPRESSED,
                    OutputCompression::Snappy | OutputCompression::Gzip => PqCompression::SNAPPY,
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
            FileFormat::Csv => {
                let mut w = crate::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut raw);
                w.write(batch).map_err(|e| Error::Internal(e.to_string()))?;
            }
            // A lone binary column is what was put through the Firehose API: the bytes
            // are delivered as they came, concatenated, as Firehose does.
            FileFormat::Json
                if batch.num_columns() == 1
                    && matches!(batch.column(0).data_type(), DataType::Binary) =>
            {
                let data = crate::arrow::array::AsArray::as_binary::<i32>(batch.column(0));
                for v in data.iter().flatten() {
                    raw.extend_from_slice(v);
                }
            }
            FileFormat::Json => {
                let mut w = crate::arrow::json::LineDelimitedWriter::new(&mut raw);
                w.write(batch).map_err(|e| Error::Internal(e.to_string()))?;
                w.finish().map_err(|e| Error::Internal(e.to_string()))?;
            }
            // Refused when the node is validated; kept an error here too.
            FileFormat::Avro | FileFormat::Orc => {
                return Err(Error::Invalid(
                    self.config.format.written_or_error("format").unwrap_err(),
                ));
            }
        }
        compress(raw, whole_file(&self.config))
    }

    /// Writes one object atomically under `folder_key` (one put: a temporary file and a
    /// rename in a local folder, a single PUT in S3).
    async fn write_object(&mut self, folder_key: &str, batch: &RecordBatch) -> Result<()> {
        let bytes = self.encode(batch)?;
        self.seq += 1;
        let name = format!(
            "{}-{}-{:08}{}",
            normalize_name(&self.node),
            chrono::DateTime::from_timestamp_millis(self.clock.now_ms())
                .unwrap_or_default()
                .format("%Y%m%dT%H%M%S%3f"),
            self.seq,
            self.extension()
        );
        let key = format!("{}/{}", folder_key.trim_end_matches('/'), name);
        let size = bytes.len();
        let etag = self.notify.as_ref().map(|_| {
            use md5::Digest as _;
            md5::Md5::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        });
        self.put_retrying(&key, bytes::Bytes::from(bytes)).await?;
        if let (Some(registry), Some(etag), crate::lake::bucket::Location::Local(root)) =
            (&self.notify, etag, self.bucket.location())
        {
            // As S3 notifies of what Firehose delivers.
            registry
                .object_written(root, &key, size as u64, &etag)
                .await;
        }
        self.objects += 1;
        self.bytes += size as u64;
        self.register_folder(folder_key)
    }

    /// Puts one object, retrying an S3 `503 SlowDown` (or another 5xx answer) every 5 s
    /// for up to 24 hours, as Firehose does; the run's stop ends the retries with an
    /// error, the records staying unacknowledged in the stream.
    async fn put_retrying(&self, key: &str, bytes: bytes::Bytes) -> Result<()> {
        let started = std::time::Instant::now();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let result = if self.faults.as_ref().is_some_and(|f| f.slow_down()) {
                Err(Error::Bucket(
                    "503 SlowDown: Please reduce your request rate (a fault injected by the node's Faults section)".to_owned(),
                ))
            } else {
                self.bucket.put(key, bytes.clone()).await
            };
            let e = match result {
                Ok(()) => return Ok(()),
                Err(e) if is_retryable(&e) => e,
                Err(e) => return Err(e),
            };
            if started.elapsed() >= S3_RETRY_FOR || self.stop.is_set() {
                return Err(Error::Bucket(format!(
                    "delivery of {key} failed after {attempts} attempts over {} s: {e}",
                    started.elapsed().as_secs()
                )));
            }
            tokio::select! {
                _ = tokio::time::sleep(S3_RETRY_EVERY) => {}
                _ = self.stop.wait() => {}
            }
        }
    }

    /// Registers the folder an object went to as a partition of the table, the first
    /// time, so queries see it while the stream runs (as a Glue partition index would
    /// after MSCK REPAIR TABLE).
    fn register_folder(&mut self, folder_key: &str) -> Result<()> {
        let Some((store, known)) = &mut self.partitions else {
            return Ok(());
        };
        let base = self.bucket.key_under_prefix(&self.layout.base)?;
        let folder = folder_key
            .strip_prefix(&base)
            .unwrap_or(folder_key)
            .trim_matches('/')
            .to_owned();
        if known.contains(&folder) {
            return Ok(());
        }
        let Some(values) = self.layout.folder_values(&folder) else {
            return Ok(());
        };
        let config = &self.config;
        store.update(|catalog| {
            if let Some(t) = catalog
                .databases
                .get_mut(&config.database)
                .and_then(|db| db.tables.get_mut(&config.table))
            {
                t.merge_partitions([crate::lake::catalog::Partition {
                    values,
                    location: format!("{folder}/"),
                    files: 0,
                    size_bytes: 0,
                }]);
            }
            Ok(())
        })?;
        known.insert(folder);
        Ok(())
    }

    /// Delivers a buffer of records that arrived from `oldest_ms` on: grouped by their
    /// partition keys, each group an object under the prefix evaluated for it (its
    /// timestamps the oldest arrival). Records whose keys cannot be found go to `errors`.
    pub(super) async fn flush(
        &mut self,
        batches: &mut Vec<RecordBatch>,
        errors: &mut Vec<RecordBatch>,
        oldest_ms: i64,
    ) -> Result<u64> {
        if batches.is_empty() {
            return Ok(0);
        }
        let batch = concat_batches(&self.schema, batches.iter())
            .map_err(|e| Error::Internal(e.to_string()))?;
        batches.clear();
        let arrival = chrono::DateTime::from_timestamp_millis(oldest_ms).unwrap_or_default();
        let names = self.layout.template.keys();
        let (groups, bad) = self.group(&batch, &names)?;
        let mut delivered = 0;
        for (values, idx) in groups {
            let keys = |_: KeySource, k: &str| {
                names
                    .iter()
                    .position(|(_, n)| n == k)
                    .map(|i| values[i].clone())
            };
            let evaluated = self
                .layout
                .template
                .evaluate(&Values {
                    arrival,
                    keys: &keys,
                    error_type: self.error_type,
                })
                .map_err(Error::Invalid)?;
            let folder = self.bucket.key_under_prefix(&evaluated)?;
            delivered += idx.len() as u64;
            let part = take_record_batch(&batch, &UInt32Array::from(idx))
                .map_err(|e| Error::Internal(e.to_string()))?;
            self.write_object(&folder, &part).await?;
        }
        for (msg, idx) in bad {
            let part = take_record_batch(&batch, &UInt32Array::from(idx))
                .map_err(|e| Error::Internal(e.to_string()))?;
            errors.push(super::processor::error_records(
                &part,
                oldest_ms,
                "DynamicPartitioning.MetadataExtractionFailed",
                &msg,
            )?);
        }
        Ok(delivered)
    }

    /// The rows of `batch` by the values of the partition keys `names` (in order), and
    /// the rows whose keys cannot be found, by the reason.
    fn group(
        &self,
        batch: &RecordBatch,
        names: &[(KeySource, String)],
    ) -> Result<(Groups, Unplaced)> {
        let all = || (0..batch.num_rows() as u32).collect::<Vec<_>>();
        if names.is_empty() {
            return Ok((BTreeMap::from([(Vec::new(), all())]), BTreeMap::new()));
        }
        let mut groups: Groups = BTreeMap::new();
        let mut bad: Unplaced = BTreeMap::new();
        if let Some(query) = &self.query {
            // Dynamic partitioning's JQ query over each record's JSON.
            let rows = crate::stream::records::rows_as_json(batch)?;
            for (r, row) in rows.iter().enumerate() {
                let found = serde_json::from_slice::<serde_json::Value>(row)
                    .map_err(|e| e.to_string())
                    .and_then(|v| query.keys(v))
                    .and_then(|keys| {
                        names
                            .iter()
                            .map(|(_, n)| {
                                keys.get(n).cloned().ok_or_else(|| {
                                    format!(
                                        "the metadata extraction query gave no partition key '{n}'"
                                    )
                                })
                            })
                            .collect::<std::result::Result<Vec<_>, _>>()
                    });
                match found {
                    Ok(values) => groups.entry(values).or_default().push(r as u32),
                    Err(why) => bad.entry(why).or_default().push(r as u32),
                }
            }
            return Ok((groups, bad));
        }
        // The records' fields as keys (`partition_fields`); a null cannot be placed.
        let cols: Vec<ArrayRef> = names
            .iter()
            .map(|(_, f)| {
                let i = self.schema.index_of(f).map_err(|_| {
                    Error::Invalid(format!("partition key '{f}' is not a field of the records (set metadata_extraction_query to compute it)"))
                })?;
                Ok(batch.column(i).clone())
            })
            .collect::<Result<_>>()?;
        // Formatters are not Send: grouped before any write awaits.
        let options = FormatOptions::default();
        let formatters: Vec<_> = cols
            .iter()
            .map(|c| {
                ArrayFormatter::try_new(c.as_ref(), &options)
                    .map_err(|e| Error::Internal(e.to_string()))
            })
            .collect::<Result<_>>()?;
        let null = format!(
            "a partition field ({}) is null",
            names
                .iter()
                .map(|(_, n)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        for r in 0..batch.num_rows() {
            if cols.iter().any(|c| c.is_null(r)) {
                bad.entry(null.clone()).or_default().push(r as u32);
                continue;
            }
            let values = formatters
                .iter()
                .map(|f| sanitize(&f.value(r).to_string()))
                .collect();
            groups.entry(values).or_default().push(r as u32);
        }
        Ok((groups, bad))
    }
}

/// Rows by the values of their partition keys.
type Groups = BTreeMap<Vec<String>, Vec<u32>>;

/// Rows whose partition keys cannot be found, by the reason.
type Unplaced = BTreeMap<String, Vec<u32>>;

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

/// The whole-file compression of a text delivery (none for Parquet, whose pages are
/// compressed inside).
pub(super) fn whole_file(config: &FirehoseConfig) -> Compression {
    match (config.format, config.compression) {
        (FileFormat::Parquet, _) => Compression::None,
        (_, OutputCompression::Gzip) => Compression::Gzip,
        (_, OutputCompression::Zstd) => Compression::Zstd,
        (_, OutputCompression::None | OutputCompression::Snappy) => Compression::None,
    }
}

fn compress(raw: Vec<u8>, compression: Compression) -> Result<Vec<u8>> {
    match compression {
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&raw)
                .map_err(|e| Error::Internal(e.to_string()))?;
            e.finish().map_err(|e| Error::Internal(e.to_string()))
        }
        Compression::Zstd => {
            zstd::encode_all(raw.as_slice(), 3).map_err(|e| Error::Internal(e.to_string()))
        }
        Compression::None => Ok(raw),
    }
}

/// Whether a failed put is worth retrying: S3 said it is busy or failed inside
/// (`503 SlowDown`, another 5xx), as opposed to a refusal that a retry does not change.
fn is_retryable(e: &Error) -> bool {
    let text = e.to_string();
    [
        "SlowDown",
        "503",
        "500 Internal",
        "InternalError",
        "ServiceUnavailable",
    ]
    .iter()
    .any(|t| text.contains(t))
}
