//! Bucket node: an S3-like bucket (a local folder), narrowed by a prefix and a glob.
//!
//! While the engine serves the AWS APIs, a local bucket is an S3 bucket named
//! `bucket_name` (the node id by default), and its `events` output, when wired, carries
//! S3's event notifications: one record per object created or removed through the S3 API
//! that matches `notification_event` and the key filter, as long as the run goes on. A
//! Lambda wired to it gets S3's event; a crawler or ETL job wired to it by its `trigger`
//! runs again.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::form::{Editor, Field, FieldProblem, Problems};
use super::operator::{Outputs, Source, Wiring, output_topic};
use super::{Category, Kind, NodeContext, NodeOutput, NodeStats, PortSpec, PortType, Value};
use crate::arrow::array::{
    Int64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt64Array,
};
use crate::arrow::datatypes::{DataType, Field as ArrowField, Schema, SchemaRef, TimeUnit};
use crate::aws::{BucketListener, ObjectEvent, ServedBucket};
use crate::error::{Error, Result};
use crate::lake::bucket::{Bucket, normalize_key};

/// The bucket, for crawlers to list and ETL jobs and Firehoses to write.
pub const OBJECTS: PortSpec = PortSpec::output("objects", PortType::Objects);
/// S3 event notifications of objects created or removed through the S3 API.
pub const EVENTS: PortSpec = PortSpec::output("events", PortType::Stream);

/// The schema metadata key that marks a stream of S3 event notifications (its value is
/// `aws:s3`, the event source): a Lambda reading it gets S3's event, not Kinesis's.
pub const EVENT_SOURCE_KEY: &str = "tributary.event_source";

crate::choice_enum! {
    /// Which S3 events notify (`NotificationConfiguration`'s `Event`).
    pub enum NotificationEvent {
        /// Every object created: put, copy, multipart upload completed.
        ObjectCreated = "s3:ObjectCreated:*",
        /// Objects put in one request.
        ObjectCreatedPut = "s3:ObjectCreated:Put",
        /// Objects copied.
        ObjectCreatedCopy = "s3:ObjectCreated:Copy",
        /// Multipart uploads completed.
        ObjectCreatedMultipart = "s3:ObjectCreated:CompleteMultipartUpload",
        /// Every object removed.
        ObjectRemoved = "s3:ObjectRemoved:*",
        /// Objects deleted.
        ObjectRemovedDelete = "s3:ObjectRemoved:Delete",
    }
}

impl NotificationEvent {
    /// Whether an event named `event_name` (`ObjectCreated:Put`) is one of these.
    pub fn matches(self, event_name: &str) -> bool {
        let configured = self.as_str().trim_start_matches("s3:");
        match configured.strip_suffix('*') {
            Some(family) => event_name.starts_with(family),
            None => event_name == configured,
        }
    }
}

/// The columns of the `events` output: one row per S3 event record.
pub fn events_schema() -> SchemaRef {
    let text = |name: &str, nullable| ArrowField::new(name, DataType::Utf8, nullable);
    Arc::new(
        Schema::new(vec![
            text("event_name", false),
            ArrowField::new(
                "event_time",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
            text("bucket", false),
            text("key", false),
            ArrowField::new("size", DataType::Int64, true),
            text("etag", true),
            text("sequencer", false),
            text("request_id", false),
        ])
        .with_metadata([(EVENT_SOURCE_KEY.to_owned(), "aws:s3".to_owned())].into()),
    )
}

/// The bucket node.
pub struct BucketKind;

/// What a bucket node reports.
#[derive(Clone, Debug, Serialize)]
pub struct BucketReport {
    /// Objects listed.
    pub objects: usize,
    /// Their total size.
    pub size_bytes: u64,
    /// Keys refused, with the reason.
    pub refused: Vec<crate::lake::bucket::RefusedObject>,
}

/// Bucket settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketConfig {
    /// The bucket's folder, relative to the project file or absolute.
    pub path: String,
    /// Only keys under this prefix.
    #[serde(default)]
    pub prefix: String,
    /// Only keys (relative to the prefix) matching this glob, e.g. `**/*.csv`.
    #[serde(default)]
    pub glob: String,
    /// S3 buckets: the endpoint URL of an S3-compatible server (empty for AWS).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub endpoint: String,
    /// S3 buckets: the region (empty: `AWS_REGION`, else us-east-1).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub region: String,
    /// S3 buckets: path-style requests (`endpoint/bucket/key`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub path_style: bool,
    /// S3 buckets: the AWS profile whose credentials to use when the environment has
    /// none (never a key itself: projects hold no secrets).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub profile: String,
    /// The bucket's name in the S3 API Tributary serves (`BucketName`; empty: the node id).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bucket_name: String,
    /// Which events the `events` output carries.
    #[serde(default, skip_serializing_if = "is_default")]
    pub notification_event: NotificationEvent,
    /// Only events of keys starting with this (`Filter.S3Key.Rules` `prefix`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notification_prefix: String,
    /// Only events of keys ending with this (`Filter.S3Key.Rules` `suffix`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notification_suffix: String,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

impl BucketConfig {
    /// The bucket's API name: `bucket_name`, or the node id.
    pub fn api_name<'a>(&'a self, id: &'a str) -> &'a str {
        if self.bucket_name.is_empty() {
            id
        } else {
            &self.bucket_name
        }
    }

    /// What the S3 API serves for node `id`: a local bucket's folder (an s3:// bucket is
    /// an S3 bucket already).
    pub fn served(&self, id: &str, base_dir: &std::path::Path) -> Option<ServedBucket> {
        (!self.path.starts_with("s3://") && !self.path.trim().is_empty()).then(|| ServedBucket {
            name: self.api_name(id).to_owned(),
            node: id.to_owned(),
            root: crate::fsutil::resolve_path(base_dir, &self.path),
        })
    }
}

/// Whether `name` follows S3's general purpose bucket naming rules: 3–63 lowercase
/// letters, digits, dots and hyphens, starting and ending with a letter or digit, not an
/// IP address.
fn valid_bucket_name(name: &str) -> std::result::Result<(), String> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let edge = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !(3..=63).contains(&name.len()) {
        return Err(format!("'{name}' must be 3 to 63 characters long"));
    }
    if !ok_chars {
        return Err(format!(
            "'{name}' may hold only lowercase letters, digits, dots and hyphens"
        ));
    }
    if !edge(name.bytes().next()) || !edge(name.bytes().last()) {
        return Err(format!(
            "'{name}' must start and end with a letter or digit"
        ));
    }
    if name.contains("..") || name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(format!("'{name}' is not a valid bucket name"));
    }
    Ok(())
}

impl Kind for BucketKind {
    type Config = BucketConfig;
    const NAME: &'static str = "bucket";
    const CATEGORY: Category = Category::Sources;
    const DESCRIPTION: &'static str =
        "An S3-like bucket: a local folder (or s3:// URL), with a prefix and glob.";
    const ICON: &'static str = "🗄";
    const INPUTS: &'static [PortSpec] = &[];
    const OUTPUTS: &'static [PortSpec] = &[OBJECTS, EVENTS];
    const FIELDS: &'static [Field] = &[
        Field::new(
            "path",
            "Folder or s3:// URL",
            Editor::Text,
            "The bucket's folder, relative to the project file or absolute, or s3://bucket/prefix.",
        ),
        Field::new(
            "prefix",
            "Prefix",
            Editor::Text,
            "Only keys under this prefix.",
        ),
        Field::new(
            "glob",
            "Glob",
            Editor::Text,
            "Only keys (relative to the prefix) matching this glob, e.g. **/*.csv.",
        ),
        Field::new(
            "endpoint",
            "S3 endpoint",
            Editor::Text,
            "S3 buckets: the endpoint URL of an S3-compatible server (empty for AWS).",
        ),
        Field::new(
            "region",
            "S3 region",
            Editor::Text,
            "S3 buckets: the region (empty: AWS_REGION, else us-east-1).",
        ),
        Field::new(
            "path_style",
            "Path-style requests",
            Editor::Toggle,
            "S3 buckets: send requests as endpoint/bucket/key.",
        ),
        Field::new(
            "profile",
            "AWS profile",
            Editor::Text,
            "S3 buckets: the profile whose credentials to use when the environment has none.",
        ),
        Field::new(
            "bucket_name",
            "Bucket name (S3 API)",
            Editor::Text,
            "Its name in the S3 API Tributary serves (Serve AWS APIs); empty: the node id.",
        ),
        Field::new(
            "notification_event",
            "Notify on",
            Editor::Choice(NotificationEvent::NAMES),
            "Which S3 events the events output carries (objects created or removed through the S3 API while serving).",
        ),
        Field::new(
            "notification_prefix",
            "Key prefix",
            Editor::Text,
            "Only events of keys starting with this, e.g. incoming/.",
        ),
        Field::new(
            "notification_suffix",
            "Key suffix",
            Editor::Text,
            "Only events of keys ending with this, e.g. .csv.",
        ),
    ];

    fn validate(config: &BucketConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        p.check(
            !config.path.trim().is_empty(),
            "path",
            "the bucket's folder is required",
        );
        if let Some(rest) = config.path.strip_prefix("s3://")
            && rest.split('/').next().is_none_or(str::is_empty)
        {
            p.add(
                "path",
                "an s3:// URL needs a bucket name (s3://bucket/prefix)",
            );
        }
        let web = ["http://", "https://"];
        p.check(
            config.endpoint.is_empty() || web.iter().any(|w| config.endpoint.starts_with(w)),
            "endpoint",
            "must be an http:// or https:// URL",
        );
        p.check_result("prefix", normalize_key(&config.prefix));
        if !config.bucket_name.is_empty() {
            p.check_result("bucket_name", valid_bucket_name(&config.bucket_name));
        }
        if !config.glob.is_empty() {
            p.check_result("glob", globset::Glob::new(&config.glob));
        }
        p.into_vec()
    }

    async fn run(config: &BucketConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        run(config, ctx).await
    }
}

/// Opens the bucket, lists it, previews the listing and outputs the bucket.
async fn run(config: &BucketConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let bucket = Arc::new(if config.path.starts_with("s3://") {
        Bucket::open_s3(
            &config.path,
            &crate::lake::bucket::S3Options {
                endpoint: config.endpoint.clone(),
                region: config.region.clone(),
                path_style: config.path_style,
                profile: config.profile.clone(),
            },
            &config.prefix,
            &config.glob,
        )?
    } else {
        Bucket::open_local(&ctx.resolve(&config.path), &config.prefix, &config.glob)?
    });
    let listing = bucket.list("").await?;
    let bytes: u64 = listing.objects.iter().map(|o| o.size_bytes).sum();
    for r in &listing.refused {
        ctx.warn(format!("refused '{}': {}", r.key, r.reason));
    }
    let schema = Arc::new(Schema::new(vec![
        ArrowField::new("key", DataType::Utf8, false),
        ArrowField::new("size_bytes", DataType::UInt64, false),
        ArrowField::new(
            "modified",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
    ]));
    let report = BucketReport {
        objects: listing.objects.len(),
        size_bytes: bytes,
        refused: listing.refused.clone(),
    };
    let shown = &listing.objects[..listing.objects.len().min(10_000)];
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(
                shown.iter().map(|o| o.key.as_str()),
            )),
            Arc::new(UInt64Array::from_iter_values(
                shown.iter().map(|o| o.size_bytes),
            )),
            Arc::new(
                TimestampMillisecondArray::from_iter_values(
                    shown.iter().map(|o| o.modified.timestamp_millis()),
                )
                .with_timezone("UTC"),
            ),
        ],
    )
    .map_err(|e| crate::error::Error::Internal(e.to_string()))?;
    ctx.preview(&OBJECTS, schema, vec![batch], listing.objects.len() as u64);
    if ctx.is_wired(&EVENTS) {
        return notifications(config, ctx, bucket, report);
    }
    let stats = NodeStats {
        records_out: listing.objects.len() as u64,
        bytes_in: bytes,
        ..Default::default()
    }
    .with_report(report);
    Ok(NodeOutput::finished(stats).with(&OBJECTS, Value::Bucket(bucket)))
}

/// Wires the `events` output: the bucket's object events from the AWS endpoint, filtered
/// by the notification settings, until the run stops.
fn notifications(
    config: &BucketConfig,
    ctx: &NodeContext<'_>,
    bucket: Arc<Bucket>,
    report: BucketReport,
) -> Result<NodeOutput> {
    let name = config.api_name(ctx.id).to_owned();
    let topic = output_topic(ctx, &EVENTS, events_schema())?;
    let wiring = Wiring::new().output(&EVENTS, topic);
    let listener = match &ctx.endpoint {
        _ if config.path.starts_with("s3://") => {
            ctx.warn(format!(
                "the events output carries notifications of objects put through Tributary's S3 API, which serves local buckets; '{}' is an S3 bucket, so its events output ends at once",
                config.path
            ));
            None
        }
        Some(registry) => {
            ctx.info(format!(
                "S3 event notifications of bucket '{name}' ({}{}{}) go to the events output",
                config.notification_event,
                if config.notification_prefix.is_empty() {
                    String::new()
                } else {
                    format!(", prefix '{}'", config.notification_prefix)
                },
                if config.notification_suffix.is_empty() {
                    String::new()
                } else {
                    format!(", suffix '{}'", config.notification_suffix)
                },
            ));
            Some(registry.listen(&name, Some(wiring.metrics().clone())))
        }
        None => {
            ctx.warn(
                "S3 event notifications come from objects put through the S3 API, which Tributary serves while 'Serve AWS APIs' is on (tributary run --serve); without it the events output ends at once".to_owned(),
            );
            None
        }
    };
    let source = Notify {
        listener,
        event: config.notification_event,
        prefix: config.notification_prefix.clone(),
        suffix: config.notification_suffix.clone(),
        stop: ctx.stop.clone(),
        report: Some(report),
    };
    let mut out = wiring.source(source, 0.0, ctx.stop.clone());
    out.set(&OBJECTS, Value::Bucket(bucket));
    Ok(out)
}

/// The events output's source: object events that match, as rows.
struct Notify {
    listener: Option<BucketListener>,
    event: NotificationEvent,
    prefix: String,
    suffix: String,
    stop: crate::api::StopSignal,
    report: Option<BucketReport>,
}

impl Notify {
    fn wanted(&self, e: &ObjectEvent) -> bool {
        self.event.matches(e.event_name)
            && e.key.starts_with(&self.prefix)
            && e.key.ends_with(&self.suffix)
    }
}

impl Source for Notify {
    async fn produce(&mut self, out: &Outputs) -> Result<bool> {
        let Some(listener) = &mut self.listener else {
            return Ok(false);
        };
        let first = tokio::select! {
            _ = self.stop.wait() => return Ok(false),
            e = listener.events.recv() => e,
        };
        let Some(first) = first else {
            return Ok(false);
        };
        let mut events = vec![first];
        while events.len() < 1000
            && let Ok(e) = listener.events.try_recv()
        {
            events.push(e);
        }
        events.retain(|e| self.wanted(e));
        if !events.is_empty() {
            out.send(&EVENTS, event_rows(&events)?).await?;
        }
        Ok(true)
    }

    fn report(self, stats: &mut NodeStats) {
        if let Some(r) = self.report {
            stats.bytes_in = r.size_bytes;
            *stats = std::mem::take(stats).with_report(r);
        }
    }
}

/// Object events as rows of [`events_schema`].
pub fn event_rows(events: &[ObjectEvent]) -> Result<RecordBatch> {
    let text = |f: fn(&ObjectEvent) -> &str| {
        Arc::new(StringArray::from_iter_values(events.iter().map(f))) as _
    };
    RecordBatch::try_new(
        events_schema(),
        vec![
            text(|e| e.event_name),
            Arc::new(
                TimestampMillisecondArray::from_iter_values(events.iter().map(|e| e.time_ms))
                    .with_timezone("UTC"),
            ),
            text(|e| &e.bucket),
            text(|e| &e.key),
            Arc::new(Int64Array::from_iter(
                events.iter().map(|e| e.size.map(|s| s as i64)),
            )),
            Arc::new(StringArray::from_iter(
                events.iter().map(|e| e.etag.as_deref()),
            )),
            text(|e| &e.sequencer),
            text(|e| &e.request_id),
        ],
    )
    .map_err(|e| Error::Internal(e.to_string()))
}
