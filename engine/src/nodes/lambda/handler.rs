//! What runs one batch of a Lambda node: the user's handler (Python or Node.js, through
//! the official runtime interface clients, with the Kinesis event), a SQL statement, or a
//! Rhai script; and how its answer becomes rows.
//!
//! A record's `data` in the Kinesis event is the JSON of its row (nulls included), or the
//! bytes themselves when the stream's only column is binary. A handler that returns a
//! list of objects, or `{"records": [...]}`, emits those as rows (the output columns, or
//! the input's when none are declared); one that returns anything else passes its input
//! records on unchanged, except those a partial batch response reports as failed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::value::RawValue;

use super::{FunctionSettings, LambdaConfig};
use crate::api::EventSink;
use crate::arrow::array::{Array, ArrayRef, RecordBatch, new_null_array};
use crate::arrow::compute::{cast, take_record_batch};
use crate::arrow::datatypes::SchemaRef;
use crate::datafusion::prelude::SessionContext;
use crate::error::{Error, Result};
use crate::functions::events::{self, BatchResponse, Response, StreamRecord};
use crate::functions::{Function, FunctionSpec, InvokeError, Language};
use crate::lake::sql::describe_datafusion_error;
use crate::stream::records::{RowBytes, record_bytes};
pub use crate::stream::records::{partition_keys, rows_as_json};
use crate::stream::script::ScriptRuntime;

/// Checks a handler name: `file.function`, the file possibly in a subfolder.
pub fn check_handler(handler: &str) -> std::result::Result<(), String> {
    match handler.rsplit_once('.') {
        Some((file, function)) if !file.is_empty() && !function.is_empty() => Ok(()),
        _ => Err(format!(
            "'{handler}' is not file.function (e.g. app.handler for def handler(event, context) in app.py)"
        )),
    }
}

/// Whether `name` may name an environment variable.
pub fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Records of one shard, in sequence order, with their stream metadata.
#[derive(Clone, Debug)]
pub struct Records {
    /// The shard.
    pub shard: usize,
    /// The rows.
    pub batch: RecordBatch,
    /// Each row's sequence number.
    pub seqs: Vec<u64>,
    /// Each row's arrival time (ms since the epoch).
    pub arrivals: Vec<i64>,
    /// Each row's partition key.
    pub keys: Vec<String>,
    /// For records put through the Kinesis API: each row's bytes as put (`None` for
    /// rows the graph appended). `None` when no row was put.
    pub put: Option<Vec<Option<Vec<u8>>>>,
}

impl Records {
    /// Rows.
    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    /// These records followed by `more` (of the same shard).
    pub fn concat(&self, more: &Self) -> Result<Self> {
        let batch =
            crate::arrow::compute::concat_batches(&self.batch.schema(), [&self.batch, &more.batch])
                .map_err(|e| Error::Internal(e.to_string()))?;
        let join = |a: &[u64], b: &[u64]| [a, b].concat();
        Ok(Self {
            shard: self.shard,
            batch,
            seqs: join(&self.seqs, &more.seqs),
            arrivals: [self.arrivals.as_slice(), &more.arrivals].concat(),
            keys: [self.keys.as_slice(), &more.keys].concat(),
            put: match (&self.put, &more.put) {
                (None, None) => None,
                (a, b) => Some(
                    [
                        a.clone().unwrap_or_else(|| vec![None; self.len()]),
                        b.clone().unwrap_or_else(|| vec![None; more.len()]),
                    ]
                    .concat(),
                ),
            },
        })
    }

    /// Each record's data as the Kinesis event carries it: the bytes that were put, or
    /// for rows the graph appended, the JSON of the row (the bytes themselves when the
    /// only column is binary).
    pub fn data(&self) -> Result<RowBytes> {
        let rows = record_bytes(&self.batch)?;
        let Some(put) = &self.put else {
            return Ok(rows);
        };
        let mut out = RowBytes::default();
        for (i, p) in put.iter().enumerate() {
            out.push(p.as_deref().unwrap_or_else(|| rows.get(i)));
        }
        Ok(out)
    }

    /// `len` rows from `offset`.
    pub fn slice(&self, offset: usize, len: usize) -> Self {
        Self {
            shard: self.shard,
            batch: self.batch.slice(offset, len),
            seqs: self.seqs[offset..offset + len].to_vec(),
            arrivals: self.arrivals[offset..offset + len].to_vec(),
            keys: self.keys[offset..offset + len].to_vec(),
            put: self.put.as_ref().map(|p| p[offset..offset + len].to_vec()),
        }
    }

    /// The rows at `indices`, in that order.
    pub fn take(&self, indices: &[usize]) -> Result<Self> {
        let idx =
            crate::arrow::array::UInt32Array::from_iter_values(indices.iter().map(|&i| i as u32));
        Ok(Self {
            shard: self.shard,
            batch: take_record_batch(&self.batch, &idx)
                .map_err(|e| Error::Internal(e.to_string()))?,
            seqs: indices.iter().map(|&i| self.seqs[i]).collect(),
            arrivals: indices.iter().map(|&i| self.arrivals[i]).collect(),
            keys: indices.iter().map(|&i| self.keys[i].clone()).collect(),
            put: self
                .put
                .as_ref()
                .map(|p| indices.iter().map(|&i| p[i].clone()).collect()),
        })
    }
}

/// Why a batch failed.
#[derive(Clone, Debug)]
pub struct Failure {
    /// `errorType` (`ValueError`, `Sandbox.Timedout`, `Runtime.ExitError`).
    pub error_type: String,
    /// The message (AWS's wording for timeouts and crashes).
    pub message: String,
    /// The stack trace, one frame per line.
    pub stack: String,
    /// The invocation's request id, for handler runtimes.
    pub request_id: Option<String>,
}

/// How one invocation over a batch ended.
#[derive(Debug)]
pub enum Outcome {
    /// It succeeded; these are its output rows.
    Rows(RecordBatch),
    /// It reported these sequence numbers as failed (the rest succeeded).
    Partial {
        /// The failed records' sequence numbers.
        failed: Vec<u64>,
        /// The request id.
        request_id: String,
    },
    /// The whole batch failed.
    Failed(Failure),
}

impl Outcome {
    /// The whole batch failed with `message` (no function error type or stack).
    fn error(message: String) -> Self {
        Self::Failed(Failure {
            error_type: "Error".to_owned(),
            message,
            stack: String::new(),
            request_id: None,
        })
    }
}

/// What runs a batch.
pub enum Handler {
    /// A DataFusion statement over the table `input`.
    Sql(SessionContext, String),
    /// A Rhai script per record.
    Rhai(Box<ScriptRuntime>),
    /// The user's handler in its warm workers.
    Function(Box<FunctionHandler>),
}

/// A Python or Node.js handler and what it needs to build events and read answers.
pub struct FunctionHandler {
    function: Function,
    stream_arn: String,
    /// The input is a bucket's S3 event notifications: S3's event, not Kinesis's.
    s3: bool,
    out_schema: SchemaRef,
    events: EventSink,
    node: String,
    warned: AtomicBool,
}

impl Handler {
    /// Crashes the worker of the next invocation (an injected fault); false for a
    /// handler without a worker process (SQL, Rhai), whose crash the caller simulates.
    pub fn crash_next(&self) -> bool {
        match self {
            Self::Function(f) => {
                f.function.crash_next();
                true
            }
            _ => false,
        }
    }

    /// Runs one invocation over `records`; rows come out in `out_schema`. A handler
    /// runtime's answer may be a partial batch response when `reports_failures`.
    pub async fn invoke(
        &self,
        records: &Records,
        out_schema: &SchemaRef,
        reports_failures: bool,
    ) -> Outcome {
        match self {
            Self::Sql(ctx, sql) => {
                let schema = records.batch.schema();
                match crate::lake::sql::sql_over_input(
                    ctx,
                    sql,
                    &schema,
                    vec![records.batch.clone()],
                )
                .await
                {
                    Ok(batches) => match concat(out_schema, &batches) {
                        Ok(b) => Outcome::Rows(b),
                        Err(e) => Outcome::error(e.to_string()),
                    },
                    Err(e) => Outcome::error(describe_datafusion_error(&e)),
                }
            }
            Self::Rhai(s) => match s.invoke(&records.batch) {
                Ok(b) => Outcome::Rows(b),
                Err(e) => Outcome::error(e),
            },
            Self::Function(f) => f.invoke(records, reports_failures).await,
        }
    }
}

fn concat(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<RecordBatch> {
    crate::arrow::compute::concat_batches(schema, batches)
        .map_err(|e| Error::Internal(e.to_string()))
}

impl FunctionHandler {
    /// Gets a handler runtime ready: the interpreter and client (installed the first
    /// time), the code folder (inline code written under `.tributary/functions/<node>/`),
    /// the requirements and layers. Blocking work runs off the async threads.
    ///
    /// While the engine serves the AWS APIs, the function's `AWS_ENDPOINT_URL` is the
    /// endpoint (unless its environment sets one), so an SDK client made in the handler
    /// (boto3's `s3.get_object` of the object an S3 event names) reaches Tributary.
    pub async fn new(
        config: &LambdaConfig,
        node: &str,
        base_dir: &Path,
        input: &crate::stream::topic::Topic,
        endpoint: Option<std::net::SocketAddr>,
        out_schema: SchemaRef,
        events: EventSink,
    ) -> Result<Self> {
        let mut settings = config.function();
        if let Some(address) = endpoint {
            settings
                .environment
                .entry("AWS_ENDPOINT_URL".to_owned())
                .or_insert_with(|| format!("http://{address}"));
        }
        let (function, _) = start_function(&settings, node, base_dir, &events).await?;
        Ok(Self {
            function,
            stream_arn: events::stream_arn(input.name()),
            s3: is_s3_notifications(input.schema()),
            out_schema,
            events,
            node: node.to_owned(),
            warned: AtomicBool::new(false),
        })
    }

    /// Workers started so far.
    pub fn cold_starts(&self) -> u64 {
        self.function.cold_starts()
    }

    /// Stops the workers; what they printed last goes to the node's log.
    pub async fn shutdown(&self) {
        for line in self.function.shutdown().await {
            self.events.info(&self.node, line);
        }
    }

    /// Invokes the handler with the Kinesis event of `records` (or S3's, when they are
    /// a bucket's event notifications).
    async fn invoke(&self, records: &Records, reports_failures: bool) -> Outcome {
        let event = if self.s3 {
            match s3_event(&self.node, &records.batch) {
                Ok(e) => e,
                Err(e) => return Outcome::error(e.to_string()),
            }
        } else {
            let data = match records.data() {
                Ok(d) => d,
                Err(e) => return Outcome::error(e.to_string()),
            };
            events::kinesis_event(
                &self.stream_arn,
                &self.function.spec().name,
                records.shard,
                (0..records.len()).map(|i| StreamRecord {
                    partition_key: &records.keys[i],
                    sequence_number: records.seqs[i],
                    data: data.get(i),
                    arrival_ms: records.arrivals[i],
                }),
            )
        };
        let invoked = match self.function.invoke_raw(event.into()).await {
            Ok(i) => i,
            Err(e) => return Outcome::error(e.to_string()),
        };
        for line in &invoked.log {
            self.events.info(&self.node, line.clone());
        }
        let text = match invoked.outcome {
            Ok(text) => text,
            Err(e) => {
                let (error_type, stack) = match &e {
                    InvokeError::Function {
                        error_type, stack, ..
                    } => (error_type.clone(), stack.join("\n")),
                    InvokeError::Timeout(_) => ("Sandbox.Timedout".to_owned(), String::new()),
                    InvokeError::Exited(_) => ("Runtime.ExitError".to_owned(), String::new()),
                    InvokeError::Init { error_type, .. } => (error_type.clone(), String::new()),
                };
                let message = match &e {
                    InvokeError::Function { message, .. } | InvokeError::Init { message, .. } => {
                        message.clone()
                    }
                    other => other.to_string(),
                };
                return Outcome::Failed(Failure {
                    error_type,
                    message,
                    stack,
                    request_id: Some(invoked.request_id),
                });
            }
        };
        let response = Response::parse(&text);
        if reports_failures {
            match response.failures(&records.seqs) {
                BatchResponse::Success => {}
                BatchResponse::Partial(failed) => {
                    return Outcome::Partial {
                        failed,
                        request_id: invoked.request_id,
                    };
                }
                BatchResponse::Invalid(why) => {
                    return Outcome::Failed(Failure {
                        error_type: "InvalidBatchItemFailures".to_owned(),
                        message: format!(
                            "the partial batch response is not valid, so the whole batch failed: {why}"
                        ),
                        stack: String::new(),
                        request_id: Some(invoked.request_id),
                    });
                }
            }
        }
        match &response.records {
            Some(items) => match self.decode(items) {
                Ok(b) => Outcome::Rows(b),
                Err(message) => Outcome::Failed(Failure {
                    error_type: "Tributary.OutputError".to_owned(),
                    message,
                    stack: String::new(),
                    request_id: Some(invoked.request_id),
                }),
            },
            None => match conform(&records.batch, &self.out_schema) {
                Ok(b) => Outcome::Rows(b),
                Err(e) => Outcome::error(e.to_string()),
            },
        }
    }

    /// Returned objects as rows of the output columns: each object's text goes
    /// straight to Arrow's JSON decoder.
    fn decode(&self, items: &[&RawValue]) -> std::result::Result<RecordBatch, String> {
        if let Some(bad) = items
            .iter()
            .find(|v| !v.get().trim_start().starts_with('{'))
        {
            return Err(format!(
                "the handler returned {} in its list of records: each must be an object",
                bad.get()
            ));
        }
        if !self.warned.load(Ordering::Relaxed) {
            // Keys that are not output columns, from the first records of each answer.
            let extra: std::collections::BTreeSet<String> = items
                .iter()
                .take(KEYS_CHECKED)
                .filter_map(|v| {
                    serde_json::from_str::<
                        std::collections::HashMap<String, serde::de::IgnoredAny>,
                    >(v.get())
                    .ok()
                })
                .flat_map(|o| o.into_keys())
                .filter(|k| self.out_schema.field_with_name(k).is_err())
                .collect();
            if !extra.is_empty() {
                self.warned.store(true, Ordering::Relaxed);
                self.events.warn(
                    &self.node,
                    format!(
                        "the handler returned keys that are not output columns, so they are left out: {} (declare them in output_columns, e.g. '{} Utf8')",
                        extra.iter().map(String::as_str).collect::<Vec<_>>().join(", "),
                        extra.iter().next().map(String::as_str).unwrap_or_default()
                    ),
                );
            }
        }
        let mut decoder = crate::arrow::json::ReaderBuilder::new(self.out_schema.clone())
            .with_strict_mode(false)
            .with_batch_size(items.len().max(1))
            .build_decoder()
            .map_err(|e| e.to_string())?;
        let unfit = |e: &dyn std::fmt::Display| {
            format!("a returned record does not fit the output columns: {e}")
        };
        for item in items {
            let text = item.get().as_bytes();
            let read = decoder.decode(text).map_err(|e| unfit(&e))?;
            if read != text.len() {
                return Err(unfit(&"it was not read whole"));
            }
        }
        Ok(decoder
            .flush()
            .map_err(|e| unfit(&e))?
            .unwrap_or_else(|| RecordBatch::new_empty(self.out_schema.clone())))
    }
}

/// Whether a stream carries a bucket's S3 event notifications (its schema says so).
pub fn is_s3_notifications(schema: &SchemaRef) -> bool {
    schema
        .metadata()
        .get(crate::nodes::bucket::EVENT_SOURCE_KEY)
        .is_some_and(|v| v == "aws:s3")
}

/// S3's event for rows of a bucket's `events` output.
fn s3_event(function: &str, batch: &RecordBatch) -> Result<Vec<u8>> {
    use crate::arrow::array::{Array as _, AsArray as _};
    use crate::arrow::datatypes::{Int64Type, TimestampMillisecondType};
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| Error::Internal(format!("an S3 event row has no '{name}'")))
    };
    let text = |name: &str| -> Result<_> {
        column(name)?
            .as_string_opt::<i32>()
            .cloned()
            .ok_or_else(|| Error::Internal(format!("an S3 event's '{name}' is not text")))
    };
    let (names, buckets, keys, etags, sequencers, ids) = (
        text("event_name")?,
        text("bucket")?,
        text("key")?,
        text("etag")?,
        text("sequencer")?,
        text("request_id")?,
    );
    let times = column("event_time")?
        .as_primitive_opt::<TimestampMillisecondType>()
        .cloned()
        .ok_or_else(|| Error::Internal("an S3 event's time is not a timestamp".to_owned()))?;
    let sizes = column("size")?
        .as_primitive_opt::<Int64Type>()
        .cloned()
        .ok_or_else(|| Error::Internal("an S3 event's size is not a number".to_owned()))?;
    let configuration = format!("{function}-s3-trigger");
    Ok(events::s3_event(
        &configuration,
        (0..batch.num_rows()).map(|i| events::S3Record {
            event_name: names.value(i),
            time_ms: times.value(i),
            bucket: buckets.value(i),
            key: keys.value(i),
            size: sizes.is_valid(i).then(|| sizes.value(i)),
            etag: etags.is_valid(i).then(|| etags.value(i)),
            sequencer: sequencers.value(i),
            request_id: ids.value(i),
        }),
    ))
}

/// Returned records whose keys are compared with the output columns, per answer.
const KEYS_CHECKED: usize = 10;

/// `batch` with the columns of `schema`: taken by name (cast when the type differs),
/// null where the input has no such column.
pub fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema() == *schema {
        return Ok(batch.clone());
    }
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) => cast(c, f.data_type()).map_err(|e| Error::Internal(e.to_string())),
            None => Ok(new_null_array(f.data_type(), batch.num_rows())),
        })
        .collect::<Result<_>>()?;
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| Error::Internal(e.to_string()))
}

/// Gets a Python or Node.js function ready (see [`FunctionHandler::new`]): the function,
/// and its language.
pub async fn start_function(
    settings: &FunctionSettings,
    node: &str,
    base_dir: &Path,
    events: &EventSink,
) -> Result<(Function, Language)> {
    let language = settings
        .runtime
        .language()
        .ok_or_else(|| Error::Internal("not a handler runtime".to_owned()))?;
    let (settings, node_id, base) = (settings.clone(), node.to_owned(), base_dir.to_path_buf());
    let log_events = events.clone();
    let (spec, version) = tokio::task::spawn_blocking(move || {
        let log = |line: String| log_events.info(&node_id, line);
        prepare(&settings, language, &node_id, &base, &log)
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))??;
    Ok((Function::new(spec, &version), language))
}

/// The worker spec of a handler runtime, and the interpreter's version.
fn prepare(
    config: &FunctionSettings,
    language: Language,
    node: &str,
    base_dir: &Path,
    log: &dyn Fn(String),
) -> Result<(FunctionSpec, String)> {
    let toolchain = crate::functions::toolchain(language, log)?;
    let code_dir = if config.code_path.trim().is_empty() {
        write_inline_code(config, language, node, base_dir)?
    } else {
        let dir = crate::fsutil::resolve_path(base_dir, config.code_path.trim());
        if !dir.is_dir() {
            return Err(Error::Invalid(format!(
                "code_path: the folder {} does not exist",
                dir.display()
            )));
        }
        dir
    };
    let mut paths = Vec::new();
    if let Some(dir) = crate::functions::runtimes::requirements(
        language,
        &toolchain,
        &config.requirements,
        &code_dir,
        log,
    )? {
        if language == Language::Node && config.code_path.trim().is_empty() {
            // ES modules find packages only in a node_modules beside or above the file.
            let link = code_dir.join("node_modules");
            let _ = std::fs::remove_file(&link);
            #[cfg(unix)]
            let _ = std::os::unix::fs::symlink(&dir, &link);
        }
        paths.push(dir);
    }
    for layer in &config.layers {
        let dir = crate::fsutil::resolve_path(base_dir, layer.trim());
        if !dir.is_dir() {
            return Err(Error::Invalid(format!(
                "layers: the folder {} does not exist",
                dir.display()
            )));
        }
        // Inside a layer, Lambda puts python/ and nodejs/node_modules/ on the path.
        let inner = match language {
            Language::Python => dir.join("python"),
            Language::Node => dir.join("nodejs/node_modules"),
        };
        paths.push(if inner.is_dir() { inner } else { dir });
    }
    let spec = FunctionSpec {
        name: node.to_owned(),
        runtime: config.runtime.as_str().to_owned(),
        language,
        handler: config.handler.trim().to_owned(),
        code_dir,
        paths,
        environment: config.environment.clone(),
        timeout: Duration::from_secs(u64::from(config.timeout.max(1))),
        memory_mb: config.memory_size,
        interpreter: toolchain.interpreter,
        ric: toolchain.ric,
    };
    Ok((spec, toolchain.version))
}

/// The file inline code is written to: `app.handler` → `app.py`, `app.mjs` (an ES
/// module: a line starts with `export` or `import`) or `app.js` (CommonJS).
pub fn inline_file_name(handler: &str, language: Language, code: &str) -> String {
    let file = handler
        .trim()
        .rsplit_once('.')
        .map(|(f, _)| f)
        .unwrap_or("app");
    let ext = match language {
        Language::Python => "py",
        Language::Node
            if code.lines().any(|l| {
                let l = l.trim_start();
                l.starts_with("export ") || l.starts_with("import ")
            }) =>
        {
            "mjs"
        }
        Language::Node => "js",
    };
    format!("{file}.{ext}")
}

/// Writes inline `code` as the handler's file under `.tributary/functions/<node>/`.
fn write_inline_code(
    config: &FunctionSettings,
    language: Language,
    node: &str,
    base_dir: &Path,
) -> Result<PathBuf> {
    let dir = base_dir.join(".tributary/functions").join(node);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::Invalid(format!("cannot create {}: {e}", dir.display())))?;
    let name = inline_file_name(&config.handler, language, &config.code);
    let file = name.rsplit_once('.').map(|(f, _)| f).unwrap_or("app");
    // One handler file: a stale one with another extension would shadow it.
    for old in ["py", "mjs", "js", "cjs"] {
        let _ = std::fs::remove_file(dir.join(format!("{file}.{old}")));
    }
    let path = dir.join(&name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::Invalid(format!("cannot create {}: {e}", parent.display())))?;
    }
    crate::fsutil::write_atomic(&path, config.code.as_bytes())?;
    Ok(dir)
}
