//! ETL node: a Glue-like job. SQL over the catalog, written to a bucket prefix as a
//! (optionally hive-partitioned) table, registered in the catalog.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::form::{Editor, Field, FieldProblem, Problems};
use super::ports::{CATALOG_IN, CATALOG_OUT, TABLE_OUT, TARGET_IN};
use super::{Category, Kind, NodeContext, NodeOutput, NodeStats, PortSpec, TableData, Value};
use crate::error::Result;
use crate::lake::bucket::normalize_key;
use crate::lake::catalog::DEFAULT_DATABASE;
use crate::lake::provider::ScanHooks;
use crate::lake::sniff::{FileFormat, normalize_name};
use crate::lake::sql;
use crate::lake::writer::{EtlSpec, OutputCompression, WriteMode, run_etl};

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
    pub format: FileFormat,
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
            format: FileFormat::Parquet,
            compression: OutputCompression::Snappy,
            partition_by: Vec::new(),
            mode: WriteMode::Overwrite,
            bookmark: false,
        }
    }
}

/// The ETL job node.
pub struct EtlKind;

/// The settings of a written table, shared by the ETL node and EMR-job ETL steps.
pub const WRITE_FIELDS: [Field; 7] = [
    Field::new("table", "Output table", Editor::Text, "Output table name."),
    Field::new(
        "database",
        "Output database",
        Editor::Text,
        "Output database.",
    ),
    Field::new(
        "output_prefix",
        "Output prefix",
        Editor::Text,
        "Key prefix in the target bucket the table is written under.",
    ),
    Field::new(
        "format",
        "Format",
        Editor::Choice(FileFormat::WRITTEN),
        "Parquet, CSV (with a header) or JSON lines.",
    ),
    Field::new(
        "compression",
        "Compression",
        Editor::Choice(OutputCompression::NAMES),
        "snappy, zstd or none for Parquet; gzip, zstd or none for CSV and JSON.",
    ),
    Field::new(
        "partition_by",
        "Partition by",
        Editor::Lines,
        "Hive partition columns (one folder level each).",
    ),
    Field::new(
        "mode",
        "Mode",
        Editor::Choice(WriteMode::NAMES),
        "overwrite replaces the table's data; append adds new files beside it.",
    ),
];

/// Checks where a table is written.
pub fn check_write(
    p: &mut Problems,
    table: &str,
    database: &str,
    output_prefix: &str,
    format: FileFormat,
    compression: OutputCompression,
) {
    p.check(
        normalize_name(table) == table,
        "table",
        format!("'{table}' must be lowercase letters, digits and '_'"),
    );
    p.check(
        normalize_name(database) == database,
        "database",
        format!("'{database}' must be lowercase letters, digits and '_'"),
    );
    match normalize_key(output_prefix) {
        Ok(k) if k.is_empty() => p.add("output_prefix", "a folder is required"),
        Ok(_) => {}
        Err(e) => p.add("output_prefix", e.to_string()),
    }
    if let Err(e) = format.written_or_error("format") {
        p.add("format", e);
    } else if !compression.applies_to(format) {
        p.add(
            "compression",
            if format == FileFormat::Parquet {
                "Parquet output takes snappy, zstd or none"
            } else {
                "snappy applies to Parquet only; use gzip, zstd or none"
            },
        );
    }
}

impl Kind for EtlKind {
    type Config = EtlConfig;
    const NAME: &'static str = "etl";
    const CATEGORY: Category = Category::Batch;
    const DESCRIPTION: &'static str =
        "A Glue-like job: SQL over the catalog, written to a bucket as a new table.";
    const ICON: &'static str = "⚙";
    const INPUTS: &'static [PortSpec] = &[CATALOG_IN, TARGET_IN, super::ports::TRIGGER_IN];
    const OUTPUTS: &'static [PortSpec] = &[CATALOG_OUT, TABLE_OUT];
    const FIELDS: &'static [Field] = &[
        Field::new(
            "sql",
            "SQL",
            Editor::Sql,
            "A single SELECT over catalog tables.",
        ),
        WRITE_FIELDS[0],
        WRITE_FIELDS[1],
        WRITE_FIELDS[2],
        WRITE_FIELDS[3],
        WRITE_FIELDS[4],
        WRITE_FIELDS[5],
        WRITE_FIELDS[6],
        Field::new(
            "bookmark",
            "Job bookmark",
            Editor::Toggle,
            "Process only source files that are new since the last successful run.",
        ),
    ];

    fn validate(config: &EtlConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        p.check_result("sql", sql::check_read_only(&config.sql));
        check_write(
            &mut p,
            &config.table,
            &config.database,
            &config.output_prefix,
            config.format,
            config.compression,
        );
        p.into_vec()
    }

    async fn run(config: &EtlConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        run(config, ctx).await
    }

    /// A Glue Spark job: DPU-hours (billed per second, one minute at least) and the S3
    /// requests of the files it wrote.
    fn cost(
        _config: &EtlConfig,
        stats: &NodeStats,
        prices: &crate::api::cost::Prices,
    ) -> Option<crate::api::cost::Cost> {
        let g = &prices.glue;
        let mut cost = crate::api::cost::Cost::of_time(
            "Glue ETL job",
            stats.elapsed_ms,
            g.etl_minimum_seconds,
            g.etl_dpus,
            "DPU-hour",
            g.dpu_hour,
        );
        if let Some(r) = stats.report::<crate::lake::writer::EtlReport>() {
            cost.add(
                "S3 PUT requests",
                r.files_written as f64,
                "request",
                prices.s3.put_requests_per_1000,
                1000.0,
            );
        }
        Some(cost)
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
            csv: crate::lake::writer::WRITTEN_CSV,
            registration: crate::lake::writer::Registration::Table,
        }
    }
}

/// Runs the job.
async fn run(config: &EtlConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let store = ctx.catalog(&CATALOG_IN)?;
    let bucket = ctx.bucket(&TARGET_IN)?;
    let spec = config.spec(ctx.id, format!("etl:{}", ctx.id));
    ctx.events.progress(
        ctx.id,
        0,
        None,
        "running SQL and writing to staging".to_owned(),
    );
    let report = run_etl(&store, &bucket, &spec, ctx.environment).await?;
    if report.stale_staging_removed > 0 {
        ctx.events.warn(
            ctx.id,
            format!(
                "removed {} staging object(s) an earlier run of this job left under {} (its process was killed before it finished)",
                report.stale_staging_removed,
                bucket.location_of(".tributary/staging", true)
            ),
        );
    }

    // Preview the first rows of what was written.
    let hooks = ScanHooks::default();
    let session = sql::session(Some(&store), &hooks, ctx.environment)?;
    let preview_sql = format!(
        "SELECT * FROM \"{}\".\"{}\" LIMIT 100",
        config.database, config.table
    );
    let preview = sql::run_query(&session, &preview_sql, &hooks).await?;
    ctx.preview(
        &TABLE_OUT,
        preview.schema.clone(),
        preview.batches.clone(),
        report.rows_written,
    );
    let stats = NodeStats {
        records_in: report.rows_read,
        records_out: report.rows_written,
        bytes_in: report.bytes_read,
        bytes_out: report.bytes_written,
        ..Default::default()
    }
    .with_report(report);
    let table = TableData {
        schema: preview.schema,
        batches: preview.batches,
    };
    Ok(NodeOutput::finished(stats)
        .with(&CATALOG_OUT, Value::Catalog(store))
        .with(&TABLE_OUT, Value::Table(Arc::new(table))))
}
