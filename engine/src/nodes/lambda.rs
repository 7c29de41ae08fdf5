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
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{ConfigRules, NodeContext, NodeOutput, NodeStats, Value};
use crate::arrow::array::{ArrayRef, RecordBatch, StringArray};
use crate::arrow::compute::concat_batches;
use crate::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use crate::datafusion::prelude::SessionContext;
use crate::error::{Error, Result};
use crate::lake::sql::describe_datafusion_error;
use crate::stream::metrics::NodeMetrics;
use crate::stream::script::{self, ScriptRuntime};
use crate::stream::topic::now_ms;

/// Lambda settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LambdaConfig {
    /// `sql`: a statement over the table `input`; `script`: Rhai code run per record.
    pub runtime: String,
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
            runtime: "sql".to_owned(),
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

impl ConfigRules for LambdaConfig {
    fn validate(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self.runtime.as_str() {
            "sql" => {
                if let Err(e) = crate::lake::sql::check_read_only(&self.sql) {
                    out.push(format!("sql: {e}"));
                }
            }
            "script" => {
                if let Err(e) = script::check(&self.script) {
                    out.push(format!("script: {e}"));
                }
                if let Err(e) = script::parse_columns(&self.output_columns) {
                    out.push(format!("output_columns: {e}"));
                }
                if self.max_operations == 0 {
                    out.push("max_operations: must be at least 1".to_owned());
                }
            }
            other => out.push(format!(
                "runtime: '{other}' is not available; use sql or script"
            )),
        }
        if self.batch_size == 0 {
            out.push("batch_size: must be at least 1".to_owned());
        }
        out
    }
}

/// The schema of failed records: the input's columns plus the error.
pub fn failed_schema(input: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = input
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    fields.push(Field::new("error_message", DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

/// `batch` with an `error_message` column holding `message`.
pub fn with_error(batch: &RecordBatch, schema: &SchemaRef, message: &str) -> Result<RecordBatch> {
    let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
    cols.push(Arc::new(StringArray::from(vec![message; batch.num_rows()])));
    RecordBatch::try_new(schema.clone(), cols).map_err(|e| Error::Internal(e.to_string()))
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

/// Wires the transform between its input stream and its outputs.
pub async fn run(config: &LambdaConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let input = ctx.stream_input("records")?;
    let in_schema = input.schema().clone();
    let (runtime, out_schema) = if config.runtime == "script" {
        let events = ctx.events.clone();
        let node = ctx.node.id.clone();
        let script = ScriptRuntime::new(
            &config.script,
            &config.output_columns,
            config.max_operations,
            &in_schema,
            move |line| events.info(&node, line),
        )?;
        let schema = script.output_schema().clone();
        (Runtime::Script(Box::new(script)), schema)
    } else {
        let session = SessionContext::new();
        // Plan once against an empty table to learn (and check) the output columns.
        let schema = crate::lake::sql::schema_over_input(&session, &config.sql, &in_schema).await?;
        (Runtime::Sql(session, config.sql.clone()), schema)
    };
    let out_topic = super::stream::output_topic(&ctx.node.id, out_schema)?;
    let failed_schema = failed_schema(&in_schema);
    let failed_topic =
        super::stream::output_topic(&format!("{}.failed", ctx.node.id), failed_schema.clone())?;
    let (mut consumer, metrics) = super::stream::subscribe(&input, &ctx.node.id);
    let out = out_topic.add_producer();
    let fail = failed_topic.add_producer();
    let m = metrics.clone();
    let config = config.clone();
    let (out_topic_c, failed_topic_c) = (out_topic.clone(), failed_topic.clone());
    let task = async move {
        let window = Duration::from_millis(config.batch_window_ms);
        // Input positions waiting for the outputs they produced to be acknowledged
        // downstream: (output tails after sending, input positions after reading).
        let mut pending: std::collections::VecDeque<(Vec<u64>, Vec<u64>, Vec<u64>)> =
            Default::default();
        let settle = |pending: &mut std::collections::VecDeque<(Vec<u64>, Vec<u64>, Vec<u64>)>,
                      consumer: &crate::stream::topic::Consumer|
         -> Result<()> {
            let (out_acked, failed_acked) =
                (out_topic_c.acked_through(), failed_topic_c.acked_through());
            let mut last = None;
            while let Some((o, f, _)) = pending.front() {
                let done = o.iter().zip(&out_acked).all(|(t, a)| a >= t)
                    && f.iter().zip(&failed_acked).all(|(t, a)| a >= t);
                if !done {
                    break;
                }
                last = pending.pop_front().map(|(_, _, p)| p);
            }
            if let Some(p) = last {
                consumer.ack_to(&p)?;
            }
            Ok(())
        };
        loop {
            settle(&mut pending, &consumer)?;
            let Some(first) = consumer.next(config.batch_size).await else {
                break;
            };
            let mut deliveries = first;
            // Fill the batch up to its size or until the window closes.
            let mut have: usize = deliveries.iter().map(|d| d.batch.num_rows()).sum();
            let deadline = Instant::now() + window;
            while have < config.batch_size {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match consumer.next_timeout(config.batch_size - have, left).await {
                    Some(more) if !more.is_empty() => {
                        have += more.iter().map(|d| d.batch.num_rows()).sum::<usize>();
                        deliveries.extend(more);
                    }
                    _ => break,
                }
            }
            let t = Instant::now();
            let now = now_ms();
            let mut fresh = Vec::new();
            for d in deliveries {
                NodeMetrics::add(&m.records_in, d.batch.num_rows() as u64);
                NodeMetrics::add(&m.bytes_in, d.batch.get_array_memory_size() as u64);
                if config.max_record_age_ms > 0
                    && (now - d.arrival_ms) as u64 > config.max_record_age_ms
                {
                    let msg = format!(
                        "record is older than the maximum record age ({} ms)",
                        config.max_record_age_ms
                    );
                    let f = with_error(&d.batch, &failed_schema, &msg)?;
                    NodeMetrics::add(&m.errors, f.num_rows() as u64);
                    fail.send(f).await?;
                } else {
                    fresh.push(d.batch);
                }
            }
            if fresh.is_empty() {
                pending.push_back((
                    out_topic_c.tail(),
                    failed_topic_c.tail(),
                    consumer.positions(),
                ));
                continue;
            }
            let batch =
                concat_batches(&in_schema, &fresh).map_err(|e| Error::Internal(e.to_string()))?;
            let (outputs, failed) = process(&runtime, &config, batch, &failed_schema).await;
            for o in outputs {
                NodeMetrics::add(&m.records_out, o.num_rows() as u64);
                NodeMetrics::add(&m.bytes_out, o.get_array_memory_size() as u64);
                let blocked = out.send(o).await?;
                NodeMetrics::add(&m.blocked_us, blocked.as_micros() as u64);
            }
            for f in failed {
                NodeMetrics::add(&m.errors, f.num_rows() as u64);
                fail.send(f).await?;
            }
            NodeMetrics::add(&m.batches, 1);
            NodeMetrics::add(&m.batch_latency_us, t.elapsed().as_micros() as u64);
            pending.push_back((
                out_topic_c.tail(),
                failed_topic_c.tail(),
                consumer.positions(),
            ));
        }
        out.close();
        fail.close();
        // Acknowledge the input as the outputs' readers finish with them.
        while !pending.is_empty() {
            settle(&mut pending, &consumer)?;
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        Ok(NodeStats {
            records_in: load(&m.records_in),
            records_out: load(&m.records_out),
            bytes_in: load(&m.bytes_in),
            bytes_out: load(&m.bytes_out),
            detail: serde_json::json!({ "failed_records": load(&m.errors) }),
            ..Default::default()
        })
    };
    let mut node_out = NodeOutput::streaming(Box::pin(task), metrics);
    node_out.outputs.insert("records", Value::Stream(out_topic));
    node_out
        .outputs
        .insert("failed", Value::Stream(failed_topic));
    Ok(node_out)
}
