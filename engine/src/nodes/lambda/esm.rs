//! The rules of a Kinesis event source mapping, as AWS documents them
//! (<https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html>):
//! - a batch holds records of one shard, at most `batch_size` and 6 MB; shards are
//!   processed concurrently, and within a shard up to `parallelization_factor` batches,
//!   records of one partition key always in the same one, so order per key holds;
//! - a failed invocation is bisected (`bisect_batch_on_function_error`; splitting does not
//!   count as a retry) and retried (`maximum_retry_attempts`, -1: until the records
//!   expire) with backoff, and the shard waits meanwhile;
//! - a partial batch response checkpoints before the lowest failed sequence number and
//!   retries from there; records reported as failed when retries run out go to `failed`,
//!   the others on;
//! - records older than `maximum_record_age_in_seconds` are not processed;
//! - records no `filter_criteria` pattern matches are skipped (counted, not delivered);
//! - what is discarded goes to `failed` in full, with the error and the invocation record
//!   AWS sends to an on-failure destination (condition, request id, shard, sequence
//!   numbers, batch size, invoke count).

use std::collections::{BTreeMap, VecDeque};
use std::hash::{Hash as _, Hasher as _};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;

use super::handler::{
    Failure, FunctionHandler, Handler, Outcome, Records, conform, partition_keys,
};
use super::{LambdaConfig, LambdaRuntime};
use crate::api::{EventSink, NodeStats, StopSignal};
use crate::arrow::array::{
    ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use crate::arrow::compute::concat_batches;
use crate::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use crate::datafusion::prelude::SessionContext;
use crate::error::{Error, Result};
use crate::functions::events::shard_id;
use crate::functions::filter::FilterCriteria;
use crate::nodes::operator::{Hold, Operator, Outputs, ReadOptions, Wiring, output_topic};
use crate::nodes::ports::{FAILED_OUT, RECORDS_IN, RECORDS_OUT};
use crate::nodes::{NodeConfig, NodeContext, NodeOutput};
use crate::stream::script::{self, ScriptRuntime};
use crate::stream::topic::Delivery;

/// The largest event a batch may make (AWS: 6 MB for an invocation payload).
const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// Batches per shard a read may take when the stream holds them (see [`read_options`]),
/// and records per shard (for small batches of an in-process function).
const READ_BATCHES: usize = 4;
const READ_RECORDS: usize = 10_000;

/// What a Lambda node reports.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LambdaReport {
    /// Records sent to `failed`.
    pub failed_records: u64,
    /// Invocations (retries included).
    pub invocations: u64,
    /// Invocations that failed or reported failed records.
    pub failed_invocations: u64,
    /// Workers started (cold starts), for handler runtimes.
    pub cold_starts: u64,
    /// Records no filter pattern matched: skipped, as AWS skips them.
    pub filtered_records: u64,
    /// The invocations' durations as Lambda bills them: each rounded up to a whole ms.
    pub billed_duration_ms: u64,
    /// Invocations throttled by the function's concurrency (Lambda's `Throttles`), and
    /// retried when an invocation ended.
    pub throttles: u64,
}

/// The columns `failed` adds to the input's: the error, and the invocation record of
/// an on-failure destination (`requestContext`, `KinesisBatchInfo`) per record.
pub fn failed_schema(input: &SchemaRef) -> SchemaRef {
    // The input's columns and `error_message`, as every `failed` output has them.
    let mut fields: Vec<Field> = crate::stream::records::failed_schema(input)
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    fields.extend([
        text("error_type", true),
        text("stack_trace", true),
        text("condition", false),
        text("request_id", true),
        Field::new("approximate_invoke_count", DataType::Int64, false),
        text("shard_id", false),
        text("sequence_number", false),
        text("partition_key", false),
        Field::new(
            "approximate_arrival_timestamp",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        text("start_sequence_number", false),
        text("end_sequence_number", false),
        Field::new("batch_size", DataType::Int64, false),
    ]);
    Arc::new(Schema::new(fields))
}

/// Why records were discarded (`requestContext.condition`).
#[derive(Clone, Copy, Debug)]
enum Condition {
    RetryAttemptsExhausted,
    RecordAgeExceeded,
}

impl Condition {
    fn as_str(self) -> &'static str {
        match self {
            Self::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            Self::RecordAgeExceeded => "RecordAgeExceeded",
        }
    }
}

/// The mapping's settings as they stand: changed during a run, they apply from the next
/// batch.
struct Live {
    config: LambdaConfig,
    filter: FilterCriteria,
}

/// What the per-shard mappings of one node share.
struct Shared {
    handler: Handler,
    /// Shards whose mapping has finished; the last one stops the function's workers.
    finished: std::sync::atomic::AtomicUsize,
    shards: usize,
    report: Mutex<LambdaReport>,
    live: RwLock<Arc<Live>>,
    /// The node's settings as the user edits them during the run.
    settings: Mutex<watch::Receiver<NodeConfig>>,
    /// Invoked by S3 event notifications: one event per invocation, whatever the settings.
    s3: bool,
    /// The function's concurrency: one permit per invocation in flight.
    concurrency: Option<Arc<tokio::sync::Semaphore>>,
    /// The faults injected into the node.
    faults: Option<Arc<crate::nodes::faults::Injector>>,
    /// The run's clock: record ages and batching windows follow it.
    clock: crate::api::Clock,
}

/// The mapping of one shard: reads, batches, invokes, retries, and routes what fails.
/// Each shard has its own, as AWS polls each shard on its own: a shard whose batch is
/// retried waits, the others go on.
struct Mapping {
    shared: Arc<Shared>,
    in_schema: SchemaRef,
    out_schema: SchemaRef,
    failed_schema: SchemaRef,
    key_column: Option<usize>,
    stop: StopSignal,
    events: EventSink,
    node: String,
    /// A partial batch the batching window is still gathering, and since when.
    held: Option<(Records, Instant)>,
}

/// What processing a lane gave.
#[derive(Default)]
struct Done {
    outputs: Vec<RecordBatch>,
    failed: Vec<RecordBatch>,
    invocations: u64,
    failed_invocations: u64,
    billed_ms: u64,
    throttles: u64,
}

/// The settings of the event source mapping that may change while it runs, by name.
fn mapping_settings(c: &LambdaConfig) -> Vec<(&'static str, String)> {
    vec![
        ("batch_size", c.batch_size.to_string()),
        (
            "maximum_batching_window_in_seconds",
            c.maximum_batching_window_in_seconds.to_string(),
        ),
        (
            "parallelization_factor",
            c.parallelization_factor.to_string(),
        ),
        (
            "bisect_batch_on_function_error",
            c.bisect_batch_on_function_error.to_string(),
        ),
        (
            "maximum_retry_attempts",
            c.maximum_retry_attempts.to_string(),
        ),
        (
            "maximum_record_age_in_seconds",
            c.maximum_record_age_in_seconds.to_string(),
        ),
        (
            "function_response_types",
            format!("{:?}", c.function_response_types),
        ),
        ("filter_criteria", format!("{:?}", c.filter_criteria)),
    ]
}

/// How a shard's mapping reads: the batching window waits for one batch; a read takes
/// up to `READ_BATCHES` batches when the shard holds them already, so the mapping's own
/// work overlaps less with the function's waits. An in-process function (SQL, Rhai)
/// reads at least `READ_RECORDS` records; a Python or Node.js handler no more than its
/// batches, since what a read holds is what a crash makes it read again (AWS's mapping
/// checkpoints after every batch).
fn read_options(config: &LambdaConfig, options: &mut ReadOptions) {
    let batch = config.batch_size.clamp(1, 10_000);
    let window = config.maximum_batching_window_in_seconds.clamp(0.0, 300.0);
    let floor = match config.runtime.language() {
        Some(_) => 0,
        None => READ_RECORDS,
    };
    options.max_records = (batch * READ_BATCHES).max(floor);
    options.fill_to = Some(batch);
    options.fill_window = (window > 0.0).then(|| Duration::from_secs_f64(window));
}

impl Mapping {
    /// The settings as they stand.
    fn live(&self) -> Arc<Live> {
        match self.shared.live.read() {
            Ok(l) => l.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Takes up settings the user changed during the run. The event source mapping's
    /// apply from the next batch, as AWS applies an `UpdateEventSourceMapping`; the
    /// function's own (code, runtime, memory, …) from the next run, and the log says so.
    fn refresh(&self) {
        let new = {
            let Ok(mut rx) = self.shared.settings.lock() else {
                return;
            };
            if !rx.has_changed().unwrap_or(false) {
                return;
            }
            match &*rx.borrow_and_update() {
                NodeConfig::Lambda(c) => c.clone(),
                _ => return,
            }
        };
        let old = self.live();
        let before = mapping_settings(&old.config);
        let after = mapping_settings(&new);
        let changed: Vec<String> = before
            .iter()
            .zip(&after)
            .filter(|(b, a)| b.1 != a.1)
            .map(|(b, a)| format!("{} {} → {}", b.0, b.1, a.1))
            .collect();
        let function_changed = old.config.function() != new.function()
            || old.config.sql != new.sql
            || old.config.script != new.script
            || old.config.output_columns != new.output_columns;
        if function_changed {
            self.events.warn(
                &self.node,
                "the function's code or configuration changed: the running mapping keeps the function it started with; run again to use the new one".to_owned(),
            );
        }
        if changed.is_empty() {
            return;
        }
        let problems = <super::LambdaKind as crate::nodes::Kind>::validate(&new);
        let filter = FilterCriteria::parse(&new.filter_criteria);
        let why = match (problems.first(), &filter) {
            (Some(p), _) => Some(format!("{}: {}", p.path, p.message)),
            (None, Err(e)) => Some(format!("filter_criteria: {e}")),
            _ => None,
        };
        if let Some(why) = why {
            self.events.warn(
                &self.node,
                format!(
                    "the changed settings are not valid, so the mapping keeps its current ones: {why}"
                ),
            );
            return;
        }
        let mut config = old.config.clone();
        if !self.shared.s3 {
            config.batch_size = new.batch_size;
            config.maximum_batching_window_in_seconds = new.maximum_batching_window_in_seconds;
        }
        config.parallelization_factor = new.parallelization_factor;
        config.bisect_batch_on_function_error = new.bisect_batch_on_function_error;
        config.maximum_retry_attempts = new.maximum_retry_attempts;
        config.maximum_record_age_in_seconds = new.maximum_record_age_in_seconds;
        config.function_response_types = new.function_response_types.clone();
        config.filter_criteria = new.filter_criteria.clone();
        let live = Arc::new(Live {
            config,
            filter: filter.unwrap_or_default(),
        });
        match self.shared.live.write() {
            Ok(mut l) => *l = live,
            Err(p) => *p.into_inner() = live,
        }
        self.events.info(
            &self.node,
            format!(
                "event source mapping updated during the run, from the next batch: {}",
                changed.join(", ")
            ),
        );
    }

    /// The records a filter pattern matches (all without patterns), as AWS filters
    /// the Kinesis record: its metadata, and `data` decoded as JSON.
    fn filtered(&mut self, records: Records) -> Result<Records> {
        let live = self.live();
        if live.filter.is_empty() || records.len() == 0 {
            return Ok(records);
        }
        let data = records.data()?;
        let keep: Vec<usize> = (0..records.len())
            .filter(|&i| {
                let data = serde_json::from_slice::<serde_json::Value>(data.get(i))
                    .unwrap_or_else(|_| String::from_utf8_lossy(data.get(i)).into_owned().into());
                let record = serde_json::json!({
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": records.keys[i],
                    "sequenceNumber": records.seqs[i].to_string(),
                    "approximateArrivalTimestamp": records.arrivals[i] as f64 / 1000.0,
                    "data": data,
                });
                live.filter.matches(&record)
            })
            .collect();
        if let Ok(mut r) = self.shared.report.lock() {
            r.filtered_records += (records.len() - keep.len()) as u64;
        }
        if keep.len() == records.len() {
            return Ok(records);
        }
        records.take(&keep)
    }

    /// The read, as records per shard in sequence order.
    fn by_shard(&self, read: Vec<Delivery>) -> Result<Vec<Records>> {
        let mut shards: BTreeMap<usize, Vec<Delivery>> = BTreeMap::new();
        for d in read {
            shards.entry(d.shard).or_default().push(d);
        }
        shards
            .into_iter()
            .map(|(shard, mut ds)| {
                ds.sort_by_key(|d| d.first_seq);
                let batches: Vec<RecordBatch> = ds.iter().map(|d| d.batch.clone()).collect();
                let batch = concat_batches(&self.in_schema, &batches)
                    .map_err(|e| Error::Internal(e.to_string()))?;
                let mut seqs = Vec::with_capacity(batch.num_rows());
                let mut arrivals = Vec::with_capacity(batch.num_rows());
                for d in &ds {
                    let n = d.batch.num_rows() as u64;
                    seqs.extend(d.first_seq..d.first_seq + n);
                    arrivals.extend(std::iter::repeat_n(d.arrival_ms, n as usize));
                }
                // Records put through the Kinesis API keep their key and bytes.
                let mut keys = Vec::with_capacity(batch.num_rows());
                let mut put = ds.iter().any(|d| d.meta.is_some()).then(Vec::new);
                for d in &ds {
                    match (&d.meta, put.as_mut()) {
                        (Some(meta), Some(put)) => {
                            let k = crate::arrow::array::AsArray::as_string::<i32>(meta.column(0));
                            let v = crate::arrow::array::AsArray::as_binary::<i32>(meta.column(1));
                            keys.extend(k.iter().map(|k| k.unwrap_or_default().to_owned()));
                            put.extend(v.iter().map(|v| Some(v.unwrap_or_default().to_vec())));
                        }
                        (_, put) => {
                            keys.extend(partition_keys(&d.batch, self.key_column)?);
                            if let Some(put) = put {
                                put.extend(std::iter::repeat_n(None, d.batch.num_rows()));
                            }
                        }
                    }
                }
                Ok(Records {
                    shard,
                    batch,
                    seqs,
                    arrivals,
                    keys,
                    put,
                })
            })
            .collect()
    }

    /// A shard's records split into `parallelization_factor` lanes by partition key.
    fn lanes(&self, records: Records) -> Result<Vec<Records>> {
        let factor = self.live().config.parallelization_factor.clamp(1, 10) as usize;
        if factor == 1 || records.len() <= 1 {
            return Ok(vec![records]);
        }
        let mut idx: Vec<Vec<usize>> = vec![Vec::new(); factor];
        for (i, key) in records.keys.iter().enumerate() {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            key.hash(&mut h);
            idx[(h.finish() % factor as u64) as usize].push(i);
        }
        idx.into_iter()
            .filter(|i| !i.is_empty())
            .map(|i| records.take(&i))
            .collect()
    }

    /// Records in the next batch: at most `batch_size`, and about 6 MB of event with
    /// `per_row` bytes of event per record.
    fn batch_len(config: &LambdaConfig, per_row: usize) -> usize {
        let size = config.batch_size.clamp(1, 10_000);
        size.min((MAX_PAYLOAD_BYTES / per_row.max(1)).max(1))
    }

    fn may_retry(config: &LambdaConfig, attempts: u32) -> bool {
        config.maximum_retry_attempts < 0 || i64::from(attempts) < config.maximum_retry_attempts
    }

    /// Waits before retry `attempt` (1, 2, …): 50 ms doubling, at most 2 s. An error when
    /// the run is stopped meanwhile: the batch stays unacknowledged in the stream.
    async fn backoff(
        &self,
        config: &LambdaConfig,
        attempt: u32,
        records: &Records,
        why: &str,
    ) -> Result<()> {
        let wait = Duration::from_millis(50 << attempt.saturating_sub(1).min(5))
            .min(Duration::from_secs(2));
        // A blocked shard says so: with retries until the records expire (-1, AWS's
        // default) it may wait for a long time.
        let of = match config.maximum_retry_attempts {
            n if n < 0 => "until the records expire".to_owned(),
            n => format!("of {n}"),
        };
        self.events.warn(
            &self.node,
            format!(
                "retry {attempt} {of} of a failing batch of {} (sequence numbers {}–{}, {} records); the shard waits meanwhile: {why}",
                shard_id(records.shard),
                records.seqs.first().copied().unwrap_or_default(),
                records.seqs.last().copied().unwrap_or_default(),
                records.len(),
            ),
        );
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = self.stop.wait() => {}
        }
        if self.stop.is_set() {
            return Err(Error::Invalid(format!(
                "stopped while retrying a failing batch of {} (sequence numbers {}–{}), which stays unacknowledged in the stream: {why}",
                shard_id(records.shard),
                records.seqs.first().copied().unwrap_or_default(),
                records.seqs.last().copied().unwrap_or_default(),
            )));
        }
        Ok(())
    }

    /// The failure an injected fault makes of invoking `records`: a poison record in the
    /// batch fails it (as a handler that cannot take the record raises), the worker
    /// crash fails the invocation that reaches its count (`Runtime.ExitError`).
    fn injected(&self, records: &Records) -> Result<Option<Failure>> {
        let Some(f) = &self.shared.faults else {
            return Ok(None);
        };
        let poison = f.poison(&records.batch, records.shard, &records.seqs)?;
        if let Some(i) = poison.iter().position(|p| *p) {
            let at = format!(
                "at sequence number {} of {}",
                records.seqs[i],
                shard_id(records.shard)
            );
            f.poisoned_call(|| at.clone());
            return Ok(Some(Failure {
                error_type: "InjectedPoisonRecord".to_owned(),
                message: format!(
                    "poison record {at} (a fault injected by the node's Faults section)"
                ),
                stack: String::new(),
                request_id: None,
            }));
        }
        // A handler's real worker is killed as it starts the invocation; a SQL or Rhai
        // handler has none, so its crash is the failure a crashed runtime gives.
        if f.crashes(records.len() as u64) && !self.shared.handler.crash_next() {
            return Ok(Some(Failure {
                error_type: "Runtime.ExitError".to_owned(),
                message: "Error: Runtime exited with error: signal: killed (a worker crash injected by the node's Faults section)".to_owned(),
                stack: String::new(),
                request_id: None,
            }));
        }
        Ok(None)
    }

    /// Records older than the maximum record age, split off.
    fn split_expired(
        config: &LambdaConfig,
        clock: &crate::api::Clock,
        records: Records,
    ) -> Result<(Records, Option<Records>)> {
        if config.maximum_record_age_in_seconds < 0 {
            return Ok((records, None));
        }
        let oldest = clock.now_ms() - config.maximum_record_age_in_seconds * 1000;
        let (old, fresh): (Vec<usize>, Vec<usize>) =
            (0..records.len()).partition(|&i| records.arrivals[i] < oldest);
        if old.is_empty() {
            return Ok((records, None));
        }
        Ok((records.take(&fresh)?, Some(records.take(&old)?)))
    }

    /// `records` as rows of `failed`: the error and the invocation record.
    fn failed_rows(
        &self,
        records: &Records,
        batch: &Records,
        failure: &Failure,
        condition: Condition,
        invoke_count: u32,
    ) -> Result<RecordBatch> {
        let n = records.len();
        let mut cols: Vec<ArrayRef> = records.batch.columns().to_vec();
        let repeat = |s: &str| -> ArrayRef { Arc::new(StringArray::from(vec![s; n])) };
        let optional = |s: &str| -> ArrayRef {
            Arc::new(StringArray::from(vec![
                if s.is_empty() {
                    None
                } else {
                    Some(s)
                };
                n
            ]))
        };
        cols.push(repeat(&failure.message));
        cols.push(optional(&failure.error_type));
        cols.push(optional(&failure.stack));
        cols.push(repeat(condition.as_str()));
        cols.push(optional(failure.request_id.as_deref().unwrap_or("")));
        cols.push(Arc::new(Int64Array::from(vec![i64::from(invoke_count); n])));
        cols.push(repeat(&shard_id(records.shard)));
        cols.push(Arc::new(StringArray::from_iter_values(
            records.seqs.iter().map(u64::to_string),
        )));
        cols.push(Arc::new(StringArray::from_iter_values(records.keys.iter())));
        cols.push(Arc::new(
            TimestampMillisecondArray::from(records.arrivals.clone()).with_timezone("UTC"),
        ));
        cols.push(repeat(
            &batch.seqs.first().copied().unwrap_or_default().to_string(),
        ));
        cols.push(repeat(
            &batch.seqs.last().copied().unwrap_or_default().to_string(),
        ));
        cols.push(Arc::new(Int64Array::from(vec![batch.len() as i64; n])));
        RecordBatch::try_new(self.failed_schema.clone(), cols)
            .map_err(|e| Error::Internal(e.to_string()))
    }

    /// Processes one lane's records in order, batch by batch, each to success or
    /// discard. Each batch is cut with the settings as they stand when it starts.
    async fn lane(&self, records: Records) -> Result<Done> {
        let mut done = Done::default();
        if records.len() == 0 {
            return Ok(done);
        }
        // The event: base64 of each record's bytes plus ~400 bytes of fields per record.
        let per_row = records.batch.get_array_memory_size() / records.len() * 4 / 3 + 400;
        let mut queue: VecDeque<(Records, u32)> = VecDeque::from([(records, 0)]);
        while let Some((mut records, attempts)) = queue.pop_front() {
            self.refresh();
            let live = self.live();
            let config = &live.config;
            let size = Self::batch_len(config, per_row);
            if records.len() > size {
                // Cut the whole chunk at once (slicing off one batch at a time would copy
                // the rest again for every batch).
                let n = records.len();
                let mut pieces: Vec<Records> = (0..n)
                    .step_by(size)
                    .map(|start| records.slice(start, size.min(n - start)))
                    .collect();
                for piece in pieces.drain(1..).rev() {
                    queue.push_front((piece, attempts));
                }
                records = pieces.pop().unwrap_or(records);
            }
            let (records, expired) = Self::split_expired(config, &self.shared.clock, records)?;
            if let Some(old) = expired {
                let failure = Failure {
                    error_type: String::new(),
                    message: format!(
                        "record is older than the maximum record age ({} s)",
                        config.maximum_record_age_in_seconds
                    ),
                    stack: String::new(),
                    request_id: None,
                };
                done.failed.push(self.failed_rows(
                    &old,
                    &old,
                    &failure,
                    Condition::RecordAgeExceeded,
                    attempts,
                )?);
            }
            if records.len() == 0 {
                continue;
            }
            done.invocations += 1;
            // An injected throttling burst: the invocation is throttled, and the mapping
            // retries it when the burst ends.
            if let Some(wait) = self.shared.faults.as_ref().and_then(|f| f.throttled_for()) {
                done.throttles += 1;
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = self.stop.wait() => {}
                }
            }
            // Beyond the function's concurrency Lambda throttles the invocation; the
            // mapping retries it, which here is waiting for an invocation to end.
            let permit = match &self.shared.concurrency {
                Some(limit) => Some(match limit.clone().try_acquire_owned() {
                    Ok(permit) => permit,
                    Err(_) => {
                        done.throttles += 1;
                        limit
                            .clone()
                            .acquire_owned()
                            .await
                            .map_err(|e| Error::Internal(e.to_string()))?
                    }
                }),
                None => None,
            };
            let started = Instant::now();
            let injected = self.injected(&records)?;
            if let Some(latency) = self.shared.faults.as_ref().and_then(|f| f.latency()) {
                tokio::time::sleep(latency).await;
            }
            let outcome = match injected {
                Some(failure) => Outcome::Failed(failure),
                None => {
                    self.shared
                        .handler
                        .invoke(&records, &self.out_schema, config.reports_item_failures())
                        .await
                }
            };
            done.billed_ms += (started.elapsed().as_micros() as u64).div_ceil(1000).max(1);
            // Its execution environment is free again (retries back off without it).
            drop(permit);
            match outcome {
                Outcome::Rows(rows) => done.outputs.push(rows),
                Outcome::Partial { failed, request_id } => {
                    done.failed_invocations += 1;
                    let lowest = failed.iter().copied().min().unwrap_or_default();
                    let at = records
                        .seqs
                        .iter()
                        .position(|s| *s == lowest)
                        .unwrap_or_default();
                    // Checkpointed: the records before the lowest failure succeeded.
                    if at > 0 {
                        let ok = records.slice(0, at);
                        done.outputs.push(conform(&ok.batch, &self.out_schema)?);
                    }
                    let rest = records.slice(at, records.len() - at);
                    if Self::may_retry(config, attempts) {
                        let why = format!("{} records reported as failed", failed.len());
                        self.backoff(config, attempts + 1, &rest, &why).await?;
                        queue.push_front((rest, attempts + 1));
                    } else {
                        let (bad, good): (Vec<usize>, Vec<usize>) =
                            (0..rest.len()).partition(|&i| failed.contains(&rest.seqs[i]));
                        let good = rest.take(&good)?;
                        if good.len() > 0 {
                            done.outputs.push(conform(&good.batch, &self.out_schema)?);
                        }
                        let failure = Failure {
                            error_type: "BatchItemFailure".to_owned(),
                            message: "the handler reported the record as failed (ReportBatchItemFailures)".to_owned(),
                            stack: String::new(),
                            request_id: Some(request_id),
                        };
                        done.failed.push(self.failed_rows(
                            &rest.take(&bad)?,
                            &rest,
                            &failure,
                            Condition::RetryAttemptsExhausted,
                            attempts + 1,
                        )?);
                    }
                }
                Outcome::Failed(failure) => {
                    done.failed_invocations += 1;
                    if config.bisect_batch_on_function_error && records.len() > 1 {
                        let half = records.len() / 2;
                        queue.push_front((records.slice(half, records.len() - half), attempts));
                        queue.push_front((records.slice(0, half), attempts));
                    } else if Self::may_retry(config, attempts) {
                        self.backoff(config, attempts + 1, &records, &failure.message)
                            .await?;
                        queue.push_front((records, attempts + 1));
                    } else {
                        // Said where the user sees it, whether or not `failed` is wired.
                        self.events.warn(
                            &self.node,
                            format!(
                                "{} records of {} (sequence numbers {}–{}) go to 'failed' after {} attempt(s): {}{}",
                                records.len(),
                                shard_id(records.shard),
                                records.seqs.first().copied().unwrap_or_default(),
                                records.seqs.last().copied().unwrap_or_default(),
                                attempts + 1,
                                if failure.error_type.is_empty() {
                                    String::new()
                                } else {
                                    format!("{}: ", failure.error_type)
                                },
                                failure.message
                            ),
                        );
                        done.failed.push(self.failed_rows(
                            &records,
                            &records,
                            &failure,
                            Condition::RetryAttemptsExhausted,
                            attempts + 1,
                        )?);
                    }
                }
            }
        }
        Ok(done)
    }
}

impl Mapping {
    /// The batching window, when there is one.
    fn window(&self) -> Option<Duration> {
        let w = self
            .live()
            .config
            .maximum_batching_window_in_seconds
            .clamp(0.0, 300.0);
        (w > 0.0).then(|| Duration::from_secs_f64(w))
    }

    /// Invokes the full batches of `records`. With a batching window, a last partial
    /// batch waits for more records until its window closes, as AWS gathers a batch
    /// until it is full or the window ends; `flush` sends it anyway (the window closed,
    /// or the stream ended).
    async fn invoke_ready(&mut self, records: Records, flush: bool, out: &Outputs) -> Result<Hold> {
        // The window runs from the arrival of the batch's first record.
        let clock = self.shared.clock.clone();
        let arrived = |r: &Records| {
            let first = *r.arrivals.first()?;
            let age = Duration::from_millis((clock.now_ms() - first).max(0) as u64);
            let now = clock.instant();
            Some(now.checked_sub(age).unwrap_or(now))
        };
        let since = self
            .held
            .take()
            .map(|(_, since)| since)
            .or_else(|| arrived(&records));
        let batch = self.live().config.batch_size.clamp(1, 10_000);
        let expired = match (self.window(), since) {
            (Some(w), Some(since)) => clock.since(since) >= w,
            _ => true,
        };
        let full = if flush || expired {
            records.len()
        } else {
            records.len() / batch * batch
        };
        if full < records.len() {
            let rest = records.slice(full, records.len() - full);
            // A new partial batch when full ones went: its own window.
            let since = if full > 0 { arrived(&rest) } else { since };
            self.held = Some((rest, since.unwrap_or_else(|| clock.instant())));
        }
        if full > 0 {
            self.invoke_lanes(records.slice(0, full), out).await?;
        }
        Ok(match &self.held {
            Some((h, _)) => Hold::HoldingFrom {
                shard: h.shard,
                seq: h.seqs.first().copied().unwrap_or_default(),
            },
            None => Hold::Released,
        })
    }

    /// Runs a shard's records through its lanes, at once; each lane in order.
    async fn invoke_lanes(&mut self, records: Records, out: &Outputs) -> Result<()> {
        let lanes = self.lanes(records)?;
        let this = &*self;
        let results = futures::future::join_all(lanes.into_iter().map(|l| this.lane(l))).await;
        let mut all = Vec::with_capacity(results.len());
        for r in results {
            all.push(r?);
        }
        for done in all {
            if let Ok(mut r) = self.shared.report.lock() {
                r.invocations += done.invocations;
                r.failed_invocations += done.failed_invocations;
                r.billed_duration_ms += done.billed_ms;
                r.throttles += done.throttles;
                r.failed_records += done.failed.iter().map(|f| f.num_rows() as u64).sum::<u64>();
            }
            out.throttled(done.throttles);
            for o in done.outputs {
                out.send(&RECORDS_OUT, o).await?;
            }
            for f in done.failed {
                out.send_failed(&FAILED_OUT, f).await?;
            }
        }
        Ok(())
    }
}

impl Operator for Mapping {
    async fn process(&mut self, read: Vec<Delivery>, out: &Outputs) -> Result<Hold> {
        self.refresh();
        let parts = self.by_shard(read)?;
        if parts.is_empty() {
            return match self.held.as_ref().map(|(h, _)| h.clone()) {
                Some(r) => self.invoke_ready(r, false, out).await,
                None => Ok(Hold::Released),
            };
        }
        // A mapping reads one shard, and after resharding its children (read after the
        // parent, in shard order): a batch holds one shard's records, so what is held of
        // a parent goes on its own before the child's first records.
        let mut hold = Hold::Released;
        for more in parts {
            let more = self.filtered(more)?;
            if let Some((h, _)) = self.held.as_ref()
                && h.shard != more.shard
            {
                let h = h.clone();
                self.invoke_ready(h, true, out).await?;
            }
            let records = match self.held.as_ref() {
                Some((h, _)) => h.concat(&more)?,
                None => more,
            };
            hold = self.invoke_ready(records, false, out).await?;
        }
        Ok(hold)
    }

    fn deadline(&self) -> Option<Instant> {
        let (_, since) = self.held.as_ref()?;
        Some(*since + self.window().unwrap_or_default())
    }

    async fn on_timer(&mut self, out: &Outputs) -> Result<Hold> {
        match self.held.as_ref().map(|(h, _)| h.clone()) {
            Some(r) => self.invoke_ready(r, true, out).await,
            None => Ok(Hold::Released),
        }
    }

    async fn finish(&mut self, out: &Outputs) -> Result<()> {
        if let Some(r) = self.held.as_ref().map(|(h, _)| h.clone()) {
            self.invoke_ready(r, true, out).await?;
        }
        let done = self
            .shared
            .finished
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        if done == self.shared.shards {
            if let Some(f) = &self.shared.faults {
                f.report();
            }
            if let Handler::Function(f) = &self.shared.handler {
                f.shutdown().await;
            }
        }
        Ok(())
    }

    fn read_options(&mut self, options: &mut ReadOptions) {
        self.refresh();
        read_options(&self.live().config, options);
        // A partial batch waiting: gather what it lacks, until its window closes.
        if let Some((held, since)) = &self.held {
            let batch = self.live().config.batch_size.clamp(1, 10_000);
            options.fill_to = Some(batch.saturating_sub(held.len()).max(1));
            let left = self
                .window()
                .unwrap_or_default()
                .saturating_sub(self.shared.clock.since(*since));
            options.fill_window = Some(left.max(Duration::from_millis(1)));
        }
    }

    fn report(self, stats: &mut NodeStats) {
        // Every shard's mapping reports the node's totals.
        let mut report = self
            .shared
            .report
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default();
        if let Handler::Function(f) = &self.shared.handler {
            report.cold_starts = f.cold_starts();
        }
        stats.report = Some(Arc::new(report));
    }
}

/// Wires the mapping between its input stream and its outputs.
pub async fn run(config: &LambdaConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let input = ctx.stream(&RECORDS_IN)?;
    let in_schema = input.schema().clone();
    let declared = || -> Result<SchemaRef> {
        if config.output_columns.is_empty() {
            return Ok(in_schema.clone());
        }
        let fields = script::parse_columns(&config.output_columns)
            .map_err(|e| Error::Invalid(format!("output_columns: {e}")))?;
        Ok(Arc::new(Schema::new(fields)))
    };
    let (handler, out_schema) = match config.runtime {
        LambdaRuntime::Rhai => {
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
            (Handler::Rhai(Box::new(script)), schema)
        }
        LambdaRuntime::Sql => {
            let session = SessionContext::new();
            // Plan once against an empty table to learn (and check) the output columns.
            let schema =
                crate::lake::sql::schema_over_input(&session, &config.sql, &in_schema).await?;
            (Handler::Sql(session, config.sql.clone()), schema)
        }
        _ => {
            let schema = declared()?;
            let f = FunctionHandler::new(
                config,
                ctx.id,
                ctx.base_dir,
                &input,
                ctx.endpoint.as_ref().and_then(|e| e.address()),
                schema.clone(),
                ctx.events.clone(),
            )
            .await?;
            (Handler::Function(Box::new(f)), schema)
        }
    };
    let mut config = config.clone();
    let s3 = super::handler::is_s3_notifications(&in_schema);
    if s3 {
        // S3 invokes a function once per event, asynchronously: no batches, no window,
        // and an event that fails is retried twice (asynchronous invocation's default
        // MaximumRetryAttempts) before it goes to the failed output.
        config.batch_size = 1;
        config.maximum_batching_window_in_seconds = 0.0;
        if config.maximum_retry_attempts < 0 {
            config.maximum_retry_attempts = 2;
        }
        ctx.info(format!(
            "invoked by S3 event notifications: one event per invocation, as S3 invokes a function (batch_size and the batching window do not apply); a failed event is retried {} times, then goes to the failed output",
            config.maximum_retry_attempts
        ));
    }
    let config = &config;
    let failed_schema = failed_schema(&in_schema);
    let records = output_topic(ctx, &RECORDS_OUT, out_schema.clone())?;
    let failed = output_topic(ctx, &FAILED_OUT, failed_schema.clone())?;
    let mut settings = ctx.settings.clone();
    // The settings the run started with are the ones in use.
    settings.mark_unchanged();
    let shared = Arc::new(Shared {
        handler,
        finished: std::sync::atomic::AtomicUsize::new(0),
        shards: input.shard_count().max(1),
        report: Mutex::new(LambdaReport::default()),
        live: RwLock::new(Arc::new(Live {
            config: config.clone(),
            filter: FilterCriteria::parse(&config.filter_criteria)
                .map_err(|e| Error::Invalid(format!("filter_criteria: {e}")))?,
        })),
        settings: Mutex::new(settings),
        s3,
        concurrency: match (config.reserved_concurrent_executions, ctx.aws_realism) {
            (0, false) => None,
            (0, true) => Some(Arc::new(tokio::sync::Semaphore::new(1000))),
            (n, _) => Some(Arc::new(tokio::sync::Semaphore::new(n as usize))),
        },
        faults: crate::nodes::faults::Injector::new(&ctx.faults, ctx.id, ctx.events, &in_schema)?,
        clock: ctx.clock.clone(),
    });
    let key_column = input.key_column();
    let op = |_shard: usize| Mapping {
        shared: shared.clone(),
        in_schema: in_schema.clone(),
        out_schema: out_schema.clone(),
        failed_schema: failed_schema.clone(),
        key_column,
        stop: ctx.stop.clone(),
        events: ctx.events.clone(),
        node: ctx.id.to_owned(),
        held: None,
    };
    let start = crate::nodes::start::position(
        config.starting_position,
        config.starting_position_timestamp,
        "",
    );
    let mut options = ReadOptions {
        start,
        enhanced_fan_out: config.enhanced_fan_out,
        ..Default::default()
    };
    read_options(config, &mut options);
    Ok(Wiring::new()
        .output(&RECORDS_OUT, records)
        .output(&FAILED_OUT, failed)
        .operator_per_shard(ctx.id, &input, op, options))
}
