//! Bucket-replay source: replays the files of a bucket, or of a catalog table, as a
//! stream, at a given rate.
//!
//! Files are read in key order, record by record, with bounded memory: JSON lines, JSON
//! arrays, CSV (gzip or zstd too) and Parquet. The columns are declared in the config or
//! inferred from the first file, as the crawler would. Each record is converted to those
//! columns on its own: a record that is not valid JSON, lacks a `NOT NULL` field or has a
//! value of the wrong type goes to the `failed` output with the file, the line and the
//! reason, and the replay goes on.
//!
//! With a bucket's S3 event notifications on its `trigger` input, the replay goes on
//! after the files it listed: each object created under its prefix (through the S3 API,
//! while the run goes on) is replayed in turn, until the run stops.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::form::{Editor, Field as FormField, FieldProblem, Problems};
use super::operator::{Outputs, Source as StreamSource, Wiring, output_topic};
use super::ports::{CATALOG_OPTIONAL_IN, FAILED_OUT, RECORDS_OUT, TRIGGER_IN};
use super::read_files::{Failures, FileReader, by_extension, failed_schema};
use super::{Category, Kind, NodeContext, NodeOutput, NodeStats, PortSpec, PortType};
use crate::arrow::array::RecordBatch;
use crate::arrow::datatypes::{DataType, Field};
use crate::error::{Error, Result};
use crate::lake::bucket::{Bucket, ObjectInfo};
use crate::lake::crawler::classify_object;
use crate::lake::sniff::{Classified, SniffOptions, default_null_markers, normalize_name};
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
    const INPUTS: &'static [PortSpec] = &[SOURCE, CATALOG_OPTIONAL_IN, TRIGGER_IN];
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

/// The columns to read, from the config or the first file's classification.
fn columns_for(config: &ReplayConfig, first: Option<&Classified>) -> Result<Vec<SourceColumn>> {
    if !config.columns.is_empty() || first.is_none() {
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
    let Some(first) = first else {
        return Ok(Vec::new());
    };
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
    current: Option<(FileReader, String)>,
    rows: RowBuilder,
    failures: Failures,
    batch_size: usize,
    failed: u64,
    events: crate::api::EventSink,
    node: String,
    /// S3 event notifications that bring more files, when the trigger is wired.
    trigger: Option<Trigger>,
}

/// Files to replay as they are created.
struct Trigger {
    events: crate::stream::topic::Consumer,
    /// The replay's prefix (under the bucket's own).
    prefix: String,
    stop: crate::api::StopSignal,
}

impl Trigger {
    /// The keys of the objects created in the next notifications, or `None` when the
    /// notifications (or the run) end.
    async fn next_keys(&mut self) -> Option<Vec<String>> {
        use crate::arrow::array::AsArray as _;
        let read = tokio::select! {
            _ = self.stop.wait() => None,
            r = self.events.next(1000) => r,
        }?;
        let _ = self.events.ack();
        let mut keys = Vec::new();
        for d in read {
            let (Some(names), Some(k)) = (
                d.batch.column_by_name("event_name"),
                d.batch.column_by_name("key"),
            ) else {
                continue;
            };
            let (Some(names), Some(k)) = (names.as_string_opt::<i32>(), k.as_string_opt::<i32>())
            else {
                continue;
            };
            for i in 0..d.batch.num_rows() {
                if names.value(i).starts_with("ObjectCreated:") {
                    keys.push(k.value(i).to_owned());
                }
            }
        }
        Some(keys)
    }
}

impl Replay {
    /// Adds the objects an S3 notification names (under the replay's prefix, matching the
    /// bucket's glob) to the files to replay; `false` once the notifications end.
    async fn wait_for_files(&mut self) -> bool {
        let Some(trigger) = &mut self.trigger else {
            return false;
        };
        let Some(keys) = trigger.next_keys().await else {
            return false;
        };
        let bucket_prefix = self.bucket.prefix().to_owned();
        for key in keys {
            let Some(rel) = key
                .strip_prefix(&bucket_prefix)
                .map(|r| r.trim_start_matches('/'))
            else {
                continue;
            };
            if !rel.starts_with(&trigger.prefix) {
                continue;
            }
            // Listing is by folder (a prefix is a path in object_store).
            let folder = rel.rsplit_once('/').map_or("", |(f, _)| f);
            let Ok(listing) = self.bucket.list(folder).await else {
                continue;
            };
            let Some(obj) = listing.objects.into_iter().find(|o| o.key == key) else {
                continue;
            };
            match classify_object(&self.bucket, &obj, &SniffOptions::default()).await {
                Ok(c) => self.files.push((obj, c)),
                Err(e) => match by_extension(&obj.key, &e.0) {
                    Some(c) => self.files.push((obj, c)),
                    None => self
                        .events
                        .warn(&self.node, format!("skipped '{}': {}", obj.key, e.0)),
                },
            }
        }
        true
    }

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
                return Ok(self.wait_for_files().await);
            };
            self.next_file += 1;
            match FileReader::open(&self.bucket, &obj, &classified, self.rows.columns()).await {
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
        Ok(more || self.next_file < self.files.len() || self.trigger.is_some())
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
    let trigger = match ctx.optional(&TRIGGER_IN) {
        Some(super::Value::Stream(topic)) => Some(Trigger {
            events: topic.subscribe(
                &format!("{}.trigger", ctx.id),
                &crate::stream::topic::StartPosition::TrimHorizon,
            ),
            prefix: config.prefix.clone(),
            stop: ctx.stop.clone(),
        }),
        _ => None,
    };
    let columns = match (table_columns, files.first()) {
        (Some(c), _) if config.columns.is_empty() => c,
        (_, Some((_, first))) => columns_for(config, Some(first))?,
        (_, None) if trigger.is_some() && !config.columns.is_empty() => columns_for(config, None)?,
        (_, None) if trigger.is_some() => {
            return Err(Error::Invalid(format!(
                "columns: no files under '{}' yet to infer them from; declare the columns ('name Type') of the files the trigger will bring",
                config.prefix
            )));
        }
        (_, None) => {
            return Err(Error::Invalid(format!(
                "no readable files under '{}' in the bucket",
                config.prefix
            )));
        }
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
        trigger,
    };
    Ok(Wiring::new()
        .output(&RECORDS_OUT, records)
        .output(&FAILED_OUT, failed)
        .source(replay, config.rate_per_sec, ctx.stop.clone()))
}
