//! EMR-job node: a multi-step batch job over the catalog. Each step is a read-only SQL
//! query or an ETL write, run in order on the project's environment (the embedded engine
//! or a Ballista cluster), with an action when it fails: go on to the next step, or cancel
//! the rest of the job. Each step's status, duration and rows are reported as a table.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::etl::{EtlConfig, WRITE_FIELDS, check_write};
use super::form::{Editor, Field, FieldProblem, Problems, Template};
use super::ports::{CATALOG_IN, CATALOG_OUT, TABLE_OUT};
use super::query::check_query;
use super::{
    Category, Kind, NodeContext, NodeOutput, NodeStats, PortSpec, PortType, TableData, Value,
};
use crate::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use crate::arrow::datatypes::{DataType, Field as ArrowField, Schema};
use crate::error::{Error, Result};
use crate::lake::catalog::DEFAULT_DATABASE;
use crate::lake::provider::ScanHooks;
use crate::lake::sniff::FileFormat;
use crate::lake::sql;
use crate::lake::writer::{OutputCompression, WriteMode, run_etl};

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
    pub format: FileFormat,
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

crate::choice_enum! {
    /// EMR's ActionOnFailure, as far as a job of steps needs it.
    pub enum OnFailure {
        /// Cancel the remaining steps; the node fails.
        Cancel = "cancel",
        /// Record the failure and run the next step.
        Continue = "continue",
    }
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

/// The bucket ETL steps write to.
pub const TARGET: PortSpec = PortSpec::input("target", PortType::Objects);
/// The step report.
pub const STEPS: PortSpec = PortSpec::output("steps", PortType::Table);

/// The EMR-job node.
pub struct EmrJobKind;

fn sql_step() -> serde_json::Value {
    serde_json::json!({ "name": "step", "sql": "SELECT 1", "on_failure": "cancel" })
}

fn etl_step() -> serde_json::Value {
    serde_json::json!({
        "name": "step",
        "sql": "SELECT * FROM my_table",
        "on_failure": "cancel",
        "write": write_template(),
    })
}

fn write_template() -> serde_json::Value {
    serde_json::json!({ "table": "my_output", "output_prefix": "curated/my_output" })
}

/// One step's settings.
const STEP_FIELDS: &[Field] = &[
    Field::new(
        "name",
        "Name",
        Editor::Text,
        "Shown in the step report; unique in the job.",
    ),
    Field::new(
        "sql",
        "SQL",
        Editor::Sql,
        "A read-only SELECT over the catalog (tables written by earlier steps included).",
    ),
    Field::new(
        "on_failure",
        "On failure",
        Editor::Choice(OnFailure::NAMES),
        "ActionOnFailure: cancel the remaining steps, or continue with the next.",
    ),
    Field::new(
        "write",
        "Writes a table",
        Editor::Optional {
            toggle: "writes a table (ETL step)",
            fields: &WRITE_FIELDS,
            template: write_template,
        },
        "An ETL step writes the query's result as a table to the target bucket.",
    ),
];

impl Kind for EmrJobKind {
    type Config = EmrJobConfig;
    const NAME: &'static str = "emr_job";
    const CATEGORY: Category = Category::Batch;
    const DESCRIPTION: &'static str = "An EMR-like job: SQL and ETL steps run in order on the selected environment, each continuing or cancelling on failure.";
    const ICON: &'static str = "📋";
    const INPUTS: &'static [PortSpec] = &[CATALOG_IN, TARGET];
    const OUTPUTS: &'static [PortSpec] = &[CATALOG_OUT, STEPS, TABLE_OUT];
    const FIELDS: &'static [Field] = &[
        Field::new(
            "steps",
            "Steps",
            Editor::Records {
                fields: STEP_FIELDS,
                title: "name",
                templates: &[
                    Template {
                        label: "SQL step",
                        value: sql_step,
                    },
                    Template {
                        label: "ETL step",
                        value: etl_step,
                    },
                ],
            },
            "The steps, run in order.",
        ),
        Field::new(
            "display_limit",
            "Rows shown",
            Editor::Number,
            "Rows of the last query step sent to the preview.",
        ),
    ];

    fn validate(config: &EmrJobConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        p.check(
            !config.steps.is_empty(),
            "steps",
            "a job needs at least one step",
        );
        let mut names = std::collections::BTreeSet::new();
        for (i, step) in config.steps.iter().enumerate() {
            let at = format!("steps[{i}]");
            if step.name.trim().is_empty() {
                p.add(format!("{at}.name"), "a name is required");
            } else if !names.insert(step.name.as_str()) {
                p.add(
                    format!("{at}.name"),
                    format!("two steps are named '{}'", step.name),
                );
            }
            match &step.write {
                Some(w) => {
                    p.check_result(&format!("{at}.sql"), sql::check_read_only(&step.sql));
                    let mut write = Problems::default();
                    check_write(
                        &mut write,
                        &w.table,
                        &w.database,
                        &w.output_prefix,
                        w.format,
                        w.compression,
                    );
                    p.extend_within(&format!("{at}.write"), write.into_vec());
                }
                None => check_query(&mut p, &format!("{at}.sql"), &step.sql),
            }
        }
        p.check(
            config.display_limit > 0,
            "display_limit",
            "must be at least 1",
        );
        p.into_vec()
    }

    async fn run(config: &EmrJobConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        run(config, ctx).await
    }

    /// An EMR cluster for the job's run: EMR's and EC2's charges per instance-hour.
    fn cost(
        _config: &EmrJobConfig,
        stats: &NodeStats,
        prices: &crate::api::cost::Prices,
    ) -> Option<crate::api::cost::Cost> {
        let e = &prices.emr;
        let mut cost = crate::api::cost::Cost::default();
        let unit = format!("{} instance-hour", e.instance_type);
        cost.add_time(
            "EMR",
            stats.elapsed_ms,
            e.minimum_seconds,
            e.instances,
            &unit,
            e.instance_hour,
        );
        cost.add_time(
            "EC2 (EMR instances)",
            stats.elapsed_ms,
            e.minimum_seconds,
            e.instances,
            &unit,
            e.ec2_instance_hour,
        );
        Some(cost)
    }
}

/// What an EMR job reports: how each step ended.
#[derive(Clone, Debug, Serialize)]
pub struct EmrJobReport {
    /// Each step, in order.
    pub steps: Vec<StepReport>,
    /// Steps that failed.
    pub failed_steps: usize,
}

crate::choice_enum! {
    /// What a step does.
    pub enum StepKind {
        /// A read-only query.
        Sql = "sql",
        /// A query written as a table.
        Etl = "etl",
    }
}

crate::choice_enum! {
    /// How a step ended (EMR's step states, as far as a job of steps has them).
    pub enum StepStatus {
        /// It ran to the end.
        Completed = "completed",
        /// It failed.
        Failed = "failed",
        /// It did not run: an earlier step failed and cancelled the job, or the run
        /// was stopped.
        Cancelled = "cancelled",
    }
}

/// How one step ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepReport {
    /// The step's name.
    pub step: String,
    /// `sql` or `etl`.
    pub kind: StepKind,
    /// `completed`, `failed` or `cancelled`.
    pub status: StepStatus,
    /// Wall time of the step.
    pub duration_ms: u64,
    /// Rows returned (SQL) or written (ETL).
    pub rows: u64,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
}

/// Runs the steps in order.
async fn run(config: &EmrJobConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let store = ctx.catalog(&CATALOG_IN)?;
    let bucket = if config.steps.iter().any(|s| s.write.is_some()) {
        Some(ctx.bucket(&TARGET).map_err(|_| {
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
        let kind = if step.write.is_some() {
            StepKind::Etl
        } else {
            StepKind::Sql
        };
        let cancelled = match &cancelled_by {
            Some((by, _)) => Some(format!("cancelled: step '{by}' failed")),
            None if ctx.stop.is_set() => Some("cancelled: the run was stopped".to_owned()),
            None => None,
        };
        if let Some(why) = cancelled {
            reports.push(StepReport {
                step: step.name.clone(),
                kind,
                status: StepStatus::Cancelled,
                duration_ms: 0,
                rows: 0,
                error: Some(why),
            });
            continue;
        }
        ctx.events.progress(
            ctx.id,
            i as u64,
            Some(total),
            format!("step {}/{total}: {}", i + 1, step.name),
        );
        let start = Instant::now();
        let result = run_step(step, ctx, &store, bucket.as_deref(), config, &mut stats).await;
        if let Ok((_, Some(table))) = &result {
            last_table = Some(table.clone());
        }
        let result = result.map(|(rows, _)| rows);
        let duration_ms = start.elapsed().as_millis() as u64;
        match result {
            Ok(rows) => reports.push(StepReport {
                step: step.name.clone(),
                kind,
                status: StepStatus::Completed,
                duration_ms,
                rows,
                error: None,
            }),
            Err(e) => {
                let message = e.to_string();
                ctx.warn(format!("step '{}' failed: {message}", step.name));
                if step.on_failure == OnFailure::Cancel {
                    cancelled_by = Some((step.name.clone(), message.clone()));
                }
                reports.push(StepReport {
                    step: step.name.clone(),
                    kind,
                    status: StepStatus::Failed,
                    duration_ms,
                    rows: 0,
                    error: Some(message),
                });
            }
        }
    }

    let steps = steps_table(&reports)?;
    ctx.preview(
        &STEPS,
        steps.schema.clone(),
        steps.batches.clone(),
        reports.len() as u64,
    );
    if let Some((by, message)) = cancelled_by {
        let rest = reports
            .iter()
            .filter(|r| r.status == StepStatus::Cancelled)
            .count();
        return Err(Error::Invalid(format!(
            "step '{by}' failed, so the job was cancelled ({rest} step(s) not run): {message}"
        )));
    }
    let failed = reports
        .iter()
        .filter(|r| r.status == StepStatus::Failed)
        .count();
    let stats = stats.with_report(EmrJobReport {
        steps: reports,
        failed_steps: failed,
    });
    let mut out = NodeOutput::finished(stats)
        .with(&CATALOG_OUT, Value::Catalog(store))
        .with(&STEPS, Value::Table(Arc::new(steps)));
    if let Some(t) = last_table {
        out.set(&TABLE_OUT, Value::Table(t));
    }
    Ok(out)
}

/// Runs one step: an ETL write, or a query whose result is previewed. Returns its rows
/// and, for a query, its result table.
async fn run_step(
    step: &EmrStep,
    ctx: &NodeContext<'_>,
    store: &Arc<crate::lake::catalog::CatalogStore>,
    bucket: Option<&crate::lake::bucket::Bucket>,
    config: &EmrJobConfig,
    stats: &mut NodeStats,
) -> Result<(u64, Option<Arc<TableData>>)> {
    match (&step.write, bucket) {
        (Some(write), Some(bucket)) => {
            let by = format!("emr:{}:{}", ctx.id, step.name);
            let spec = step.etl_config(write).spec(ctx.id, by);
            let r = run_etl(store, bucket, &spec, ctx.environment).await?;
            stats.records_in += r.rows_read;
            stats.bytes_in += r.bytes_read;
            stats.bytes_out += r.bytes_written;
            stats.records_out += r.rows_written;
            Ok((r.rows_written, None))
        }
        (Some(_), None) => Err(Error::Internal("no target bucket".to_owned())),
        (None, _) => {
            let hooks = ScanHooks::default();
            let session = sql::session(Some(store), &hooks, ctx.environment)?;
            let r = sql::run_query(&session, &step.sql, &hooks).await?;
            stats.records_in += r.stats.rows_read;
            stats.bytes_in += r.stats.bytes_scanned;
            let rows = r.stats.rows;
            let preview = crate::nodes::head(&r.batches, config.display_limit);
            ctx.preview(&TABLE_OUT, r.schema.clone(), preview, rows);
            let table = TableData {
                schema: r.schema,
                batches: r.batches,
            };
            Ok((rows, Some(Arc::new(table))))
        }
    }
}

fn steps_table(reports: &[StepReport]) -> Result<TableData> {
    let schema = Arc::new(Schema::new(vec![
        ArrowField::new("step", DataType::Utf8, false),
        ArrowField::new("kind", DataType::Utf8, false),
        ArrowField::new("status", DataType::Utf8, false),
        ArrowField::new("duration_ms", DataType::UInt64, false),
        ArrowField::new("rows", DataType::UInt64, false),
        ArrowField::new("error", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            reports.iter().map(|r| r.step.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            reports.iter().map(|r| r.kind.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            reports.iter().map(|r| r.status.as_str()),
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
