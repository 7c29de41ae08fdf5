//! Lambda node: a transform invoked on batches of stream records.
//!
//! The SQL runtime runs one DataFusion statement over each batch (the batch is the table
//! `input`). The script runtime runs sandboxed Rhai code once per record (see
//! [`crate::stream::script`]); a record the script fails on fails its batch, as a throwing
//! Lambda function does. Failures are handled like Lambda's Kinesis event source: the batch is retried,
//! then bisected to isolate the records that fail, and each failed record goes to the
//! `failed` output with its error message. Records older than the maximum record age are
//! not processed and go to `failed` too.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::form::{Editor, Field, FieldProblem, Problems, When};
use super::operator::{Hold, Operator, Outputs, ReadOptions, Wiring, output_topic};
use super::ports::{FAILED_OUT, RECORDS_IN, RECORDS_OUT};
use super::{Category, Kind, NodeContext, NodeOutput, NodeStats, PortSpec};
use crate::arrow::array::RecordBatch;
use crate::arrow::compute::concat_batches;
use crate::arrow::datatypes::SchemaRef;
use crate::datafusion::prelude::SessionContext;
use crate::error::{Error, Result};
use crate::lake::sql::describe_datafusion_error;
use crate::stream::records::{failed_schema, with_error};
use crate::stream::script::{self, ScriptRuntime};
use crate::stream::topic::{Delivery, now_ms};

crate::choice_enum! {
    /// What runs a Lambda's batches.
    pub enum LambdaRuntime {
        /// One SQL statement over the batch (the table `input`).
        Sql = "sql",
        /// A sandboxed Rhai script per record.
        Script = "script",
    }
}

/// Lambda settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LambdaConfig {
    /// `sql`: a statement over the table `input`; `script`: Rhai code run per record.
    pub runtime: LambdaRuntime,
    /// The SQL, for the sql runtime.
    pub sql: String,
    /// The Rhai code, for the script runtime: `record` is the record as a map; the value
    /// is the output record, an array of records, or `()` to drop it.
    pub script: String,
    /// Script runtime: the output columns as `name Type` (`page Utf8`, `n Int64`); empty
    /// keeps the input's columns.
    pub output_columns: Vec<String>,
    /// Script runtime: operations one record may take before it is stopped.
    pub max_operations: u64,
    /// Records per invocation at most.
    pub batch_size: usize,
    /// How long to wait to fill a batch, in ms.
    pub batch_window_ms: u64,
    /// Retries of a failing batch before it is bisected.
    pub retry_attempts: u32,
    /// Split a failing batch in halves to isolate the failing records.
    pub bisect_on_error: bool,
    /// Records older than this (ms since arrival) are sent to `failed`; 0: no limit.
    pub max_record_age_ms: u64,
}

impl Default for LambdaConfig {
    fn default() -> Self {
        Self {
            runtime: LambdaRuntime::Sql,
            sql: "SELECT * FROM input".to_owned(),
            script: "// `record` is the event as a map. Return it (changed), an array of\n\
                     // records, or () to drop it.\nrecord"
                .to_owned(),
            output_columns: Vec::new(),
            max_operations: 100_000,
            batch_size: 10_000,
            batch_window_ms: 100,
            retry_attempts: 2,
            bisect_on_error: true,
            max_record_age_ms: 0,
        }
    }
}

/// The Lambda node.
pub struct LambdaKind;

impl Kind for LambdaKind {
    type Config = LambdaConfig;
    const NAME: &'static str = "lambda";
    const CATEGORY: Category = Category::Streaming;
    const DESCRIPTION: &'static str = "Transforms stream records in batches with SQL or a sandboxed Rhai script; retries, bisects and sends failures to 'failed'.";
    const ICON: &'static str = "λ";
    const INPUTS: &'static [PortSpec] = &[RECORDS_IN];
    const OUTPUTS: &'static [PortSpec] = &[RECORDS_OUT, FAILED_OUT];
    const FIELDS: &'static [Field] = &[
        Field::new("runtime", "Runtime", Editor::Choice(LambdaRuntime::NAMES),
            "sql: one statement over each batch (the table input); script: Rhai code run per record."),
        Field::new("sql", "SQL", Editor::Sql, "The statement over each batch, the table input.")
            .when(When::Is("runtime", &["sql"])),
        Field::new("script", "Script", Editor::Script,
            "Rhai code run per record: record is the record as a map; return it (changed), an array of records, or () to drop it.")
            .when(When::Is("runtime", &["script"])),
        Field::new("output_columns", "Output columns", Editor::Lines,
            "Script runtime: the output columns as 'name Type'; empty keeps the input's columns.")
            .when(When::Is("runtime", &["script"])),
        Field::new("max_operations", "Max operations", Editor::Number,
            "Script runtime: operations one record may take before it is stopped.")
            .when(When::Is("runtime", &["script"])),
        Field::new("batch_size", "Batch size", Editor::Number,
            "Records per invocation at most (BatchSize)."),
        Field::new("batch_window_ms", "Batching window (ms)", Editor::Number,
            "How long to wait to fill a batch (MaximumBatchingWindowInSeconds, in ms)."),
        Field::new("retry_attempts", "Retry attempts", Editor::Number,
            "Retries of a failing batch before it is bisected (MaximumRetryAttempts)."),
        Field::new("bisect_on_error", "Bisect on error", Editor::Toggle,
            "Split a failing batch in halves to isolate the failing records (BisectBatchOnFunctionError)."),
        Field::new("max_record_age_ms", "Max record age (ms)", Editor::Number,
            "Records older than this are sent to failed (MaximumRecordAgeInSeconds, in ms); 0: no limit."),
    ];

    fn validate(config: &LambdaConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        match config.runtime {
            LambdaRuntime::Sql => {
                p.check_result("sql", crate::lake::sql::check_read_only(&config.sql));
            }
            LambdaRuntime::Script => {
                p.check_result("script", script::check(&config.script));
                p.check_result(
                    "output_columns",
                    script::parse_columns(&config.output_columns),
                );
                p.check(
                    config.max_operations > 0,
                    "max_operations",
                    "must be at least 1",
                );
            }
        }
        p.check(config.batch_size > 0, "batch_size", "must be at least 1");
        p.into_vec()
    }

    async fn run(config: &LambdaConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        run(config, ctx).await
    }
}

/// What a Lambda node reports.
#[derive(Clone, Debug, Serialize)]
pub struct LambdaReport {
    /// Records sent to `failed`.
    pub failed_records: u64,
}

/// What runs a batch.
enum Runtime {
    /// A DataFusion statement over the table `input`.
    Sql(SessionContext, String),
    /// A Rhai script per record.
    Script(Box<ScriptRuntime>),
}

impl Runtime {
    /// Runs one invocation over `batch`.
    async fn invoke(&self, batch: RecordBatch) -> std::result::Result<Vec<RecordBatch>, String> {
        match self {
            Self::Sql(ctx, sql) => {
                let schema = batch.schema();
                crate::lake::sql::sql_over_input(ctx, sql, &schema, vec![batch])
                    .await
                    .map_err(|e| describe_datafusion_error(&e))
            }
            Self::Script(s) => s.invoke(&batch).map(|b| vec![b]),
        }
    }
}

/// Runs `batch`, retrying and bisecting; returns outputs and failed records.
async fn process(
    runtime: &Runtime,
    config: &LambdaConfig,
    batch: RecordBatch,
    failed_schema: &SchemaRef,
) -> (Vec<RecordBatch>, Vec<RecordBatch>) {
    let mut outputs = Vec::new();
    let mut failed = Vec::new();
    let mut stack = vec![batch];
    while let Some(b) = stack.pop() {
        let mut last_error = String::new();
        let mut ok = None;
        for _ in 0..=config.retry_attempts {
            match runtime.invoke(b.clone()).await {
                Ok(out) => {
                    ok = Some(out);
                    break;
                }
                Err(e) => last_error = e,
            }
        }
        match ok {
            Some(out) => outputs.extend(out),
            None if config.bisect_on_error && b.num_rows() > 1 => {
                let half = b.num_rows() / 2;
                // Second half first on the stack so the first half runs first: order kept.
                stack.push(b.slice(half, b.num_rows() - half));
                stack.push(b.slice(0, half));
            }
            None => {
                if let Ok(f) = with_error(&b, failed_schema, &last_error) {
                    failed.push(f);
                }
            }
        }
    }
    (outputs, failed)
}

/// Invokes the function on each batch read; failed records go to `failed`.
struct Invoke {
    runtime: Runtime,
    config: LambdaConfig,
    in_schema: SchemaRef,
    failed_schema: SchemaRef,
    failed: u64,
}

impl Operator for Invoke {
    async fn process(&mut self, read: Vec<Delivery>, out: &Outputs) -> Result<Hold> {
        let now = now_ms();
        let mut fresh = Vec::new();
        for d in read {
            if self.config.max_record_age_ms > 0
                && (now - d.arrival_ms) as u64 > self.config.max_record_age_ms
            {
                let msg = format!(
                    "record is older than the maximum record age ({} ms)",
                    self.config.max_record_age_ms
                );
                let f = with_error(&d.batch, &self.failed_schema, &msg)?;
                self.failed += f.num_rows() as u64;
                out.send_failed(&FAILED_OUT, f).await?;
            } else {
                fresh.push(d.batch);
            }
        }
        if fresh.is_empty() {
            return Ok(Hold::Released);
        }
        let batch =
            concat_batches(&self.in_schema, &fresh).map_err(|e| Error::Internal(e.to_string()))?;
        let (outputs, failed) =
            process(&self.runtime, &self.config, batch, &self.failed_schema).await;
        for o in outputs {
            out.send(&RECORDS_OUT, o).await?;
        }
        for f in failed {
            self.failed += f.num_rows() as u64;
            out.send_failed(&FAILED_OUT, f).await?;
        }
        Ok(Hold::Released)
    }

    fn report(self, stats: &mut NodeStats) {
        stats.report = Some(Arc::new(LambdaReport {
            failed_records: self.failed,
        }));
    }
}

/// Wires the transform between its input stream and its outputs.
async fn run(config: &LambdaConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let input = ctx.stream(&RECORDS_IN)?;
    let in_schema = input.schema().clone();
    let (runtime, out_schema) = match config.runtime {
        LambdaRuntime::Script => {
            let events = ctx.events.clone();
            let node = ctx.id.to_owned();
            let script = ScriptRuntime::new(
                &config.script,
                &config.output_columns,
                config.max_operations,
                &in_schema,
                move |line| events.info(&node, line),
            )?;
            let schema = script.output_schema().clone();
            (Runtime::Script(Box::new(script)), schema)
        }
        LambdaRuntime::Sql => {
            let session = SessionContext::new();
            // Plan once against an empty table to learn (and check) the output columns.
            let schema =
                crate::lake::sql::schema_over_input(&session, &config.sql, &in_schema).await?;
            (Runtime::Sql(session, config.sql.clone()), schema)
        }
    };
    let failed_schema = failed_schema(&in_schema);
    let records = output_topic(ctx, &RECORDS_OUT, out_schema)?;
    let failed = output_topic(ctx, &FAILED_OUT, failed_schema.clone())?;
    let op = Invoke {
        runtime,
        config: config.clone(),
        in_schema,
        failed_schema,
        failed: 0,
    };
    let options = ReadOptions {
        max_records: config.batch_size,
        fill_window: Some(Duration::from_millis(config.batch_window_ms)),
        ..Default::default()
    };
    Ok(Wiring::new()
        .output(&RECORDS_OUT, records)
        .output(&FAILED_OUT, failed)
        .operator(ctx.id, &input, op, options))
}
