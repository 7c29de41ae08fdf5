//! Bucket node: an S3-like bucket (a local folder), narrowed by a prefix and a glob.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{ConfigRules, NodeContext, NodeOutput, NodeStats, Value};
use crate::arrow::array::{RecordBatch, StringArray, TimestampMillisecondArray, UInt64Array};
use crate::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use crate::error::Result;
use crate::lake::bucket::{Bucket, normalize_key};

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

impl ConfigRules for BucketConfig {
    fn validate(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.path.trim().is_empty() {
            out.push("path: the bucket's folder is required".to_owned());
        }
        if let Some(rest) = self.path.strip_prefix("s3://")
            && rest.split('/').next().is_none_or(str::is_empty)
        {
            out.push("path: an s3:// URL needs a bucket name (s3://bucket/prefix)".to_owned());
        }
        let web = ["http://", "https://"];
        if !self.endpoint.is_empty() && !web.iter().any(|w| self.endpoint.starts_with(w)) {
            out.push("endpoint: must be an http:// or https:// URL".to_owned());
        }
        if let Err(e) = normalize_key(&self.prefix) {
            out.push(format!("prefix: {e}"));
        }
        if !self.glob.is_empty()
            && let Err(e) = globset::Glob::new(&self.glob)
        {
            out.push(format!("glob: {e}"));
        }
        out
    }
}

/// Opens the bucket, lists it, previews the listing and outputs the bucket.
pub async fn run(config: &BucketConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
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
        ctx.events
            .warn(&ctx.node.id, format!("refused '{}': {}", r.key, r.reason));
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("size_bytes", DataType::UInt64, false),
        Field::new(
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
    ctx.events.preview(
        &ctx.node.id,
        "objects",
        schema,
        vec![batch],
        listing.objects.len() as u64,
    );
    let mut out = NodeOutput {
        stats: NodeStats {
            records_out: listing.objects.len() as u64,
            bytes_in: bytes,
            detail: serde_json::json!({
                "objects": listing.objects.len(),
                "size_bytes": bytes,
                "refused": listing.refused,
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    out.outputs.insert("objects", Value::Bucket(bucket));
    Ok(out)
}
