//! Bucket node: an S3-like bucket (a local folder), narrowed by a prefix and a glob.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::form::{Editor, Field, FieldProblem, Problems};
use super::{Category, Kind, NodeContext, NodeOutput, NodeStats, PortSpec, PortType, Value};
use crate::arrow::array::{RecordBatch, StringArray, TimestampMillisecondArray, UInt64Array};
use crate::arrow::datatypes::{DataType, Field as ArrowField, Schema, TimeUnit};
use crate::error::Result;
use crate::lake::bucket::{Bucket, normalize_key};

/// The bucket, for crawlers to list and ETL jobs and Firehoses to write.
pub const OBJECTS: PortSpec = PortSpec::output("objects", PortType::Objects);

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
}

impl Kind for BucketKind {
    type Config = BucketConfig;
    const NAME: &'static str = "bucket";
    const CATEGORY: Category = Category::Sources;
    const DESCRIPTION: &'static str =
        "An S3-like bucket: a local folder (or s3:// URL), with a prefix and glob.";
    const ICON: &'static str = "🗄";
    const INPUTS: &'static [PortSpec] = &[];
    const OUTPUTS: &'static [PortSpec] = &[OBJECTS];
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
    let stats = NodeStats {
        records_out: listing.objects.len() as u64,
        bytes_in: bytes,
        ..Default::default()
    }
    .with_report(BucketReport {
        objects: listing.objects.len(),
        size_bytes: bytes,
        refused: listing.refused,
    });
    Ok(NodeOutput::finished(stats).with(&OBJECTS, Value::Bucket(bucket)))
}
