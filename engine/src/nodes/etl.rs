//! ETL node: a Glue-like job. SQL over the catalog, written to a bucket prefix as a
//! (optionally hive-partitioned) table, registered in the catalog.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{ConfigRules, NodeContext, NodeOutput, NodeStats, TableData, Value};
use crate::error::Result;
use crate::lake::bucket::normalize_key;
use crate::lake::catalog::DEFAULT_DATABASE;
use crate::lake::provider::ScanHooks;
use crate::lake::sniff::normalize_name;
use crate::lake::sql;
use crate::lake::writer::{EtlSpec, OutputCompression, OutputFormat, WriteMode, run_etl};

/// ETL job settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtlConfig {
    /// A single SELECT over catalog tables.
    pub sql: String,
    /// Output table name.
    pub table: String,
    /// Output database.
    #[serde(default = "default_database")]
    pub database: String,
    /// Key prefix in the target bucket the table is written under.
    pub output_prefix: String,
    /// Parquet, CSV or JSON lines.
    #[serde(default)]
    pub format: OutputFormat,
    /// snappy or zstd for Parquet; gzip, zstd or none for CSV and JSON.
    #[serde(default)]
    pub compression: OutputCompression,
    /// Hive partition columns.
    #[serde(default)]
    pub partition_by: Vec<String>,
    /// Overwrite or append.
    #[serde(default)]
    pub mode: WriteMode,
    /// Process only source files that are new since the last successful run.
    #[serde(default)]
    pub bookmark: bool,
}

fn default_database() -> String {
    DEFAULT_DATABASE.to_owned()
}

impl Default for EtlConfig {
    fn default() -> Self {
        Self {
            sql: "SELECT * FROM my_table".to_owned(),
            table: "my_output".to_owned(),
            database: default_database(),
            output_prefix: "curated/my_output".to_owned(),
            format: OutputFormat::Parquet,
            compression: OutputCompression::Snappy,
            partition_by: Vec::new(),
            mode: WriteMode::Overwrite,
            bookmark: false,
        }
    }
}

impl ConfigRules for EtlConfig {
    fn validate(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Err(e) = sql::check_read_only(&self.sql) {
            out.push(format!("sql: {e}"));
        }
        if normalize_name(&self.table) != self.table {
            out.push(format!(
                "table: '{}' must be lowercase letters, digits and '_'",
                self.table
            ));
        }
        if normalize_name(&self.database) != self.database {
            out.push(format!(
                "database: '{}' must be lowercase letters, digits and '_'",
                self.database
            ));
        }
        match normalize_key(&self.output_prefix) {
            Ok(k) if k.is_empty() => out.push("output_prefix: a folder is required".to_owned()),
            Ok(_) => {}
            Err(e) => out.push(format!("output_prefix: {e}")),
        }
        if self.format == OutputFormat::Parquet && self.compression == OutputCompression::Gzip {
            out.push("compression: Parquet output takes snappy, zstd or none".to_owned());
        }
        if self.format != OutputFormat::Parquet && self.compression == OutputCompression::Snappy {
            out.push(
                "compression: snappy applies to Parquet only; use gzip, zstd or none".to_owned(),
            );
        }
        out
    }
}

impl EtlConfig {
    /// What the writer runs for this job; `job` keys its bookmark, `by` names the writer
    /// in the catalog's history.
    pub fn spec(&self, job: &str, by: String) -> EtlSpec {
        EtlSpec {
            sql: self.sql.clone(),
            database: self.database.clone(),
            table: self.table.clone(),
            output_prefix: self.output_prefix.clone(),
            format: self.format,
            compression: self.compression,
            partition_by: self.partition_by.clone(),
            mode: self.mode,
            bookmark: self.bookmark.then(|| job.to_owned()),
            by,
        }
    }
}

/// Runs the job.
pub async fn run(config: &EtlConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let store = ctx.catalog_input("catalog")?;
    let bucket = ctx.bucket_input("target")?;
    let spec = config.spec(&ctx.node.id, format!("etl:{}", ctx.node.id));
    ctx.events.progress(
        &ctx.node.id,
        0,
        None,
        "running SQL and writing to staging".to_owned(),
    );
    let report = run_etl(&store, &bucket, &spec, ctx.environment).await?;

    // Preview the first rows of what was written.
    let hooks = ScanHooks::default();
    let session = sql::session(Some(&store), &hooks, ctx.environment)?;
    let preview_sql = format!(
        "SELECT * FROM \"{}\".\"{}\" LIMIT 100",
        config.database, config.table
    );
    let preview = sql::run_query(&session, &preview_sql, &hooks).await?;
    ctx.events.preview(
        &ctx.node.id,
        "table",
        preview.schema.clone(),
        preview.batches.clone(),
        report.rows_written,
    );
    let mut out = NodeOutput {
        stats: NodeStats {
            records_in: report.rows_read,
            records_out: report.rows_written,
            bytes_in: report.bytes_read,
            bytes_out: report.bytes_written,
            detail: serde_json::to_value(&report).unwrap_or_default(),
            ..Default::default()
        },
        ..Default::default()
    };
    out.outputs.insert("catalog", Value::Catalog(store));
    out.outputs.insert(
        "table",
        Value::Table(Arc::new(TableData {
            schema: preview.schema,
            batches: preview.batches,
        })),
    );
    Ok(out)
}
