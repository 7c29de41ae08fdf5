//! Crawler node: classifies a bucket's files and proposes tables for a catalog.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{ConfigRules, NodeContext, NodeOutput, NodeStats, Value};
use crate::error::Result;
use crate::lake::bucket::normalize_key;
use crate::lake::catalog::DEFAULT_DATABASE;
use crate::lake::crawler::{CrawlOptions, SchemaChangePolicy, crawl};
use crate::lake::sniff::{SniffOptions, default_null_markers, normalize_name};

/// Crawler settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrawlerConfig {
    /// Database the tables go into.
    pub database: String,
    /// Prefix under the bucket to crawl.
    pub prefix: String,
    /// Folder depth that makes a table (1: each top-level folder is a table).
    pub table_level: usize,
    /// Records sampled per file for type inference.
    pub sample_rows: usize,
    /// Text values read as null.
    pub null_markers: Vec<String>,
    /// Update the catalog on schema changes, or only log them.
    pub schema_change_policy: SchemaChangePolicy,
}

impl Default for CrawlerConfig {
    fn default() -> Self {
        Self {
            database: DEFAULT_DATABASE.to_owned(),
            prefix: String::new(),
            table_level: 1,
            sample_rows: 1000,
            null_markers: default_null_markers(),
            schema_change_policy: SchemaChangePolicy::Update,
        }
    }
}

impl ConfigRules for CrawlerConfig {
    fn validate(&self) -> Vec<String> {
        let mut out = Vec::new();
        if normalize_name(&self.database) != self.database {
            out.push(format!(
                "database: '{}' must be lowercase letters, digits and '_'",
                self.database
            ));
        }
        if self.table_level == 0 {
            out.push("table_level: must be at least 1".to_owned());
        }
        if self.sample_rows == 0 {
            out.push("sample_rows: must be at least 1".to_owned());
        }
        if let Err(e) = normalize_key(&self.prefix) {
            out.push(format!("prefix: {e}"));
        }
        out
    }
}

impl CrawlerConfig {
    /// The crawl options this config stands for.
    pub fn crawl_options(&self) -> CrawlOptions {
        CrawlOptions {
            prefix: self.prefix.clone(),
            table_level: self.table_level,
            sniff: SniffOptions {
                sample_rows: self.sample_rows,
                null_markers: self.null_markers.clone(),
            },
        }
    }
}

/// Crawls the bucket on the `source` input.
pub async fn run(config: &CrawlerConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let bucket = ctx.bucket_input("source")?;
    let node = ctx.node.id.clone();
    let events = ctx.events.clone();
    let last = std::sync::Mutex::new(Instant::now() - Duration::from_secs(1));
    let progress = move |done: u64, total: u64| {
        // At most ten progress events a second, plus the last one.
        let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
        if done == total || last.elapsed() >= Duration::from_millis(100) {
            *last = Instant::now();
            events.progress(&node, done, Some(total), format!("{done}/{total} files"));
        }
    };
    let mut report = crawl(&bucket, &config.crawl_options(), &progress).await?;
    report.database = config.database.clone();
    report.policy = config.schema_change_policy;
    report.crawler = ctx.node.id.clone();
    for f in &report.unclassified {
        ctx.events
            .warn(&ctx.node.id, format!("skipped '{}': {}", f.key, f.reason));
    }
    let bytes: u64 = report.tables.iter().map(|t| t.stats.size_bytes).sum();
    let files: u64 = report.tables.iter().map(|t| t.stats.files).sum();
    let mut out = NodeOutput {
        stats: NodeStats {
            records_in: report.files_listed,
            records_out: report.tables.len() as u64,
            bytes_in: bytes,
            detail: serde_json::json!({
                "tables": report.tables.iter().map(|t| serde_json::json!({
                    "name": t.name,
                    "format": t.format,
                    "columns": t.columns.len(),
                    "partition_keys": t.partition_keys.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
                    "partitions": t.partitions.len(),
                    "files": t.stats.files,
                    "size_bytes": t.stats.size_bytes,
                })).collect::<Vec<_>>(),
                "files_in_tables": files,
                "unclassified": report.unclassified,
                "skipped": report.skipped.len(),
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    out.outputs.insert("tables", Value::Crawl(Arc::new(report)));
    Ok(out)
}
