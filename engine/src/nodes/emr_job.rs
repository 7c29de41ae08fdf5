//! EMR-job node: a multi-step batch job over the catalog. Each step is a read-only SQL
//! query or an ETL write, run in order on the project's environment (the embedded engine
//! or a Ballista cluster), with an action when it fails: go on to the next step, or cancel
//! the rest of the job. Each step's status, duration and rows are reported as a table.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::etl::EtlConfig;
use super::{ConfigRules, NodeContext, NodeOutput, NodeStats, TableData, Value};
use crate::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use crate::arrow::datatypes::{DataType, Field, Schema};
use crate::error::{Error, Result};
use crate::lake::catalog::DEFAULT_DATABASE;
use crate::lake::provider::ScanHooks;
use crate::lake::sql;
use crate::lake::writer::{OutputCompression, OutputFormat, WriteMode, run_etl};

/// Job settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmrJobConfig {
    /// The steps, run in order.
    pub steps: Vec<EmrStep>,
    /// Rows of the last query step sent to the preview.
    #[serde(default = "default_display_limit")]
    pub display_limit: usize,
}

fn default_display_limit() -> usize {
    1000
}

/// One step of a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmrStep {
    /// Shown in the step report.
    pub name: String,
    /// A read-only SELECT over the catalog (tables written by earlier steps included).
    pub sql: String,
    /// When set, the step writes the query's result as a table (an ETL step); otherwise
    /// the result is the node's `table` output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<StepWrite>,
    /// What a failure of this step does to the rest of the job.
    #[serde(default)]
    pub on_failure: OnFailure,
}

/// Where an ETL step writes (the same settings as the ETL node).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepWrite {
    /// Output table name.
    pub table: String,
    /// Output database.
    #[serde(default = "default_database")]
    pub database: String,
    /// Key prefix in the target bucket.
    pub output_prefix: String,
    /// Parquet, CSV or JSON lines.
    #[serde(default)]
    pub format: OutputFormat,
    /// Output compression.
    #[serde(default)]
    pub compression: OutputCompression,
    /// Hive partition columns.
    #[serde(default)]
    pub partition_by: Vec<String>,
    /// Overwrite or append.
    #[serde(default)]
    pub mode: WriteMode,
}

fn default_database() -> String {
    DEFAULT_DATABASE.to_owned()
}

/// EMR's ActionOnFailure, as far as a job of steps needs it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Record the failure and run the next step.
    Continue,
    /// Cancel the remaining steps; the node fails.
    #[default]
    Cancel,
}

impl Default for EmrJobConfig {
    fn default() -> Self {
        Self {
            steps: vec![EmrStep {
                name: "count".to_owned(),
                sql: "SELECT 1 AS one".to_owned(),
                write: None,
                on_failure: OnFailure::Cancel,
            }],
            display_limit: default_display_limit(),
        }
    }
}

impl EmrStep {
    fn etl_config(&self, write: &StepWrite) -> EtlConfig {
        EtlConfig {
            sql: self.sql.clone(),
            table: write.table.clone(),
            database: write.database.clone(),
            output_prefix: write.output_prefix.clone(),
            format: write.format,
            compression: write.compression,
            partition_by: write.partition_by.clone(),
            mode: write.mode,
            bookmark: false,
        }
    }
}

impl ConfigRules for EmrJobConfig {
    fn validate(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.steps.is_empty() {
            out.push("steps: a job needs at least one step".to_owned());
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, step) in self.steps.iter().enumerate() {
            let label = format!("steps[{}] '{}'", i + 1, step.name);
            if step.name.trim().is_empty() {
                out.push(format!("steps[{}]: a name is required", i + 1));
            } else if !names.insert(step.name.as_str()) {
                out.push(format!("{label}: two steps have this name"));
            }
            let problems = match &step.write {
                Some(w) => step.etl_config(w).validate(),
                None if step.sql.trim().is_empty() => vec!["sql: a query is required".to_owned()],
                None => sql::check_read_only(&step.sql)
                    .err()
                    .map(|e| vec![format!("sql: {e}")])
                    .unwrap_or_default(),
            };
            out.extend(problems.into_iter().map(|p| format!("{label}: {p}")));
        }
        if self.display_limit == 0 {
            out.push("display_limit: must be at least 1".to_owned());
        }
        out
    }
}

/// How one step ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepReport {
    /// The step's name.
    pub step: String,
    /// `sql` or `etl`.
    pub kind: &'static str,
    /// `completed`, `failed` or `cancelled`.
    pub status: &'static str,
    /// Wall time of the step.
    pub duration_ms: u64,
    /// Rows returned (SQL) or written (ETL).
    pub rows: u64,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
}

/// Runs the steps in order.
pub async fn run(config: &EmrJobConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let store = ctx.catalog_input("catalog")?;
    let bucket = if config.steps.iter().any(|s| s.write.is_some()) {
        Some(ctx.bucket_input("target").map_err(|_| {
            Error::Invalid("an ETL step needs the 'target' input connected to a bucket".to_owned())
        })?)
    } else {
        None
    };
    let total = config.steps.len() as u64;
    let mut reports: Vec<StepReport> = Vec::new();
    let mut cancelled_by: Option<(String, String)> = None;
    let mut last_table: Option<Arc<TableData>> = None;
    let mut stats = NodeStats::default();

    for (i, step) in config.steps.iter().enumerate() {
        let kind = if step.write.is_some() { "etl" } else { "sql" };
        let cancelled = match &cancelled_by {
            Some((by, _)) => Some(format!("cancelled: step '{by}' failed")),
            None if ctx.stop.is_set() => Some("cancelled: the run was stopped".to_owned()),
            None => None,
        };
        if let Some(why) = cancelled {
            reports.push(StepReport {
                step: step.name.clone(),
                kind,
                status: "cancelled",
                duration_ms: 0,
                rows: 0,
                error: Some(why),
            });
            continue;
        }
        ctx.events.progress(
            &ctx.node.id,
            i as u64,
            Some(total),
            format!("step {}/{total}: {}", i + 1, step.name),
        );
        let start = Instant::now();
        let result: Result<u64> = match (&step.write, &bucket) {
            (Some(write), Some(bucket)) => {
                let by = format!("emr:{}:{}", ctx.node.id, step.name);
                let spec = step.etl_config(write).spec(&ctx.node.id, by);
                run_etl(&store, bucket, &spec, ctx.environment)
                    .await
                    .map(|r| {
                        stats.records_in += r.rows_read;
                        stats.bytes_in += r.bytes_read;
                        stats.bytes_out += r.bytes_written;
                        stats.records_out += r.rows_written;
                        r.rows_written
                    })
            }
            (Some(_), None) => Err(Error::Internal("no target bucket".to_owned())),
            (None, _) => {
                let hooks = ScanHooks::default();
                match sql::session(Some(&store), &hooks, ctx.environment) {
                    Ok(session) => sql::run_query(&session, &step.sql, &hooks).await.map(|r| {
                        stats.records_in += r.stats.rows_read;
                        stats.bytes_in += r.stats.bytes_scanned;
                        let rows = r.stats.rows;
                        let preview = crate::nodes::head(&r.batches, config.display_limit);
                        ctx.events
                            .preview(&ctx.node.id, "table", r.schema.clone(), preview, rows);
                        last_table = Some(Arc::new(TableData {
                            schema: r.schema,
                            batches: r.batches,
                        }));
                        rows
                    }),
                    Err(e) => Err(e),
                }
            }
        };
        let duration_ms = start.elapsed().as_millis() as u64;
        match result {
            Ok(rows) => reports.push(StepReport {
                step: step.name.clone(),
                kind,
                status: "completed",
                duration_ms,
                rows,
                error: None,
            }),
            Err(e) => {
                let message = e.to_string();
                ctx.events.warn(
                    &ctx.node.id,
                    format!("step '{}' failed: {message}", step.name),
                );
                if step.on_failure == OnFailure::Cancel {
                    cancelled_by = Some((step.name.clone(), message.clone()));
                }
                reports.push(StepReport {
                    step: step.name.clone(),
                    kind,
                    status: "failed",
                    duration_ms,
                    rows: 0,
                    error: Some(message),
                });
            }
        }
    }

    let steps = steps_table(&reports)?;
    ctx.events.preview(
        &ctx.node.id,
        "steps",
        steps.schema.clone(),
        steps.batches.clone(),
        reports.len() as u64,
    );
    if let Some((by, message)) = cancelled_by {
        let rest = reports.iter().filter(|r| r.status == "cancelled").count();
        return Err(Error::Invalid(format!(
            "step '{by}' failed, so the job was cancelled ({rest} step(s) not run): {message}"
        )));
    }
    let failed = reports.iter().filter(|r| r.status == "failed").count();
    stats.detail = serde_json::json!({ "steps": reports, "failed_steps": failed });
    let mut out = NodeOutput {
        stats,
        ..Default::default()
    };
    out.outputs.insert("catalog", Value::Catalog(store));
    out.outputs.insert("steps", Value::Table(Arc::new(steps)));
    if let Some(t) = last_table {
        out.outputs.insert("table", Value::Table(t));
    }
    Ok(out)
}

fn steps_table(reports: &[StepReport]) -> Result<TableData> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("step", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("duration_ms", DataType::UInt64, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("error", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            reports.iter().map(|r| r.step.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            reports.iter().map(|r| r.kind),
        )),
        Arc::new(StringArray::from_iter_values(
            reports.iter().map(|r| r.status),
        )),
        Arc::new(UInt64Array::from_iter_values(
            reports.iter().map(|r| r.duration_ms),
        )),
        Arc::new(UInt64Array::from_iter_values(
            reports.iter().map(|r| r.rows),
        )),
        Arc::new(StringArray::from_iter(
            reports.iter().map(|r| r.error.as_deref()),
        )),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(TableData {
        schema,
        batches: vec![batch],
    })
}
