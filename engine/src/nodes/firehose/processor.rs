//! A Firehose data-transformation function (a Lambda processor of
//! `ProcessingConfiguration`), run as AWS documents it
//! (<https://docs.aws.amazon.com/firehose/latest/dev/data-transformation.html>):
//! - the event is `{"invocationId", "deliveryStreamArn", "region", "records":
//!   [{"recordId", "approximateArrivalTimestamp" (ms), "data" (base64)}]}`, at most
//!   about 1 MB of record data per invocation (the processor's default buffer);
//! - the answer is `{"records": [{"recordId", "result", "data"}]}` with `result` `Ok`
//!   (the base64 `data` is delivered), `Dropped` (left out on purpose) or
//!   `ProcessingFailed`; a record the answer leaves out failed too;
//! - a failed invocation is retried `number_of_retries` times (default 3);
//! - failed records go to `<error prefix>processing-failed/` as AWS's error record:
//!   `attemptsMade`, `arrivalTimestamp`, `errorCode`, `errorMessage`,
//!   `attemptEndingTimestamp`, `rawData` (base64), `lambdaArn`.
//!
//! A record's data is its row as JSON (see `nodes/lambda/handler.rs`); what `Ok` returns
//! must be a JSON object, decoded into the output columns.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::EventSink;
use crate::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use crate::arrow::datatypes::{DataType, Field as ArrowField, Schema, SchemaRef};
use crate::error::{Error, Result};
use crate::functions::Function;
use crate::functions::events::{ACCOUNT, REGION, function_arn};
use crate::nodes::form::{Editor, Field, Problems};
use crate::nodes::lambda::{FunctionSettings, LambdaRuntime, rows_as_json, start_function};
use crate::stream::topic::now_ms;

/// The transformation function's settings (`ProcessingConfiguration.Processors[]` of
/// type Lambda, with the function itself).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessorConfig {
    /// A Python or Node.js runtime.
    pub runtime: LambdaRuntime,
    /// `file.function`.
    pub handler: String,
    /// The handler file's source, inline.
    pub code: String,
    /// Or a folder with it, relative to the project.
    pub code_path: String,
    /// Environment variables.
    pub environment: BTreeMap<String, String>,
    /// Seconds an invocation may run (AWS recommends 1 minute or more).
    pub timeout: u32,
    /// Memory in MB.
    pub memory_size: u32,
    /// Packages to install (pip or npm).
    pub requirements: Vec<String>,
    /// Folders put on the import path.
    pub layers: Vec<String>,
    /// Retries of a failed invocation (`NumberOfRetries`).
    pub number_of_retries: u32,
    /// The delivered columns as `name Type`; empty keeps the input's.
    pub output_columns: Vec<String>,
}

/// A starter transformation in Python.
const TEMPLATE: &str = r#"import base64, json

def handler(event, context):
    output = []
    for record in event["records"]:
        row = json.loads(base64.b64decode(record["data"]))
        # "Ok" delivers the (changed) row, "Dropped" leaves it out,
        # "ProcessingFailed" sends it to the processing-failed/ prefix.
        output.append({
            "recordId": record["recordId"],
            "result": "Ok",
            "data": base64.b64encode(json.dumps(row).encode()).decode(),
        })
    return {"records": output}
"#;

impl Default for ProcessorConfig {
    fn default() -> Self {
        Self {
            runtime: LambdaRuntime::Python312,
            handler: "app.handler".to_owned(),
            code: TEMPLATE.to_owned(),
            code_path: String::new(),
            environment: BTreeMap::new(),
            timeout: 60,
            memory_size: 128,
            requirements: Vec::new(),
            layers: Vec::new(),
            number_of_retries: 3,
            output_columns: Vec::new(),
        }
    }
}

impl ProcessorConfig {
    /// The function part.
    pub fn function(&self) -> FunctionSettings {
        FunctionSettings {
            runtime: self.runtime,
            handler: self.handler.clone(),
            code: self.code.clone(),
            code_path: self.code_path.clone(),
            environment: self.environment.clone(),
            timeout: self.timeout,
            memory_size: self.memory_size,
            requirements: self.requirements.clone(),
            layers: self.layers.clone(),
        }
    }

    /// Checks the settings, at `processor.<key>`.
    pub fn validate(&self, p: &mut Problems) {
        crate::nodes::lambda::validate_function(&self.function(), p, "processor.");
        p.check(
            self.number_of_retries <= 300,
            "processor.number_of_retries",
            "must be 0–300",
        );
        p.check_result(
            "processor.output_columns",
            crate::stream::script::parse_columns(&self.output_columns),
        );
    }
}

/// The group's template when the inspector turns it on.
pub fn template() -> Value {
    serde_json::to_value(ProcessorConfig::default()).unwrap_or_default()
}

/// The settings form of the group.
pub const FIELDS: &[Field] = &[
    Field::new(
        "runtime",
        "Runtime",
        Editor::Choice(LambdaRuntime::NAMES),
        "python3.x or nodejs*.x: the transformation function's runtime.",
    ),
    Field::new(
        "handler",
        "Handler",
        Editor::Text,
        "file.function, e.g. app.handler.",
    ),
    Field::new(
        "code",
        "Code",
        Editor::Code,
        "The handler file's source; it gets {\"records\": [{\"recordId\", \"data\", …}]} and returns {\"records\": [{\"recordId\", \"result\": \"Ok\" | \"Dropped\" | \"ProcessingFailed\", \"data\"}]}.",
    ),
    Field::new(
        "code_path",
        "Code folder",
        Editor::Text,
        "A folder with the handler file, relative to the project (instead of code).",
    ),
    Field::new(
        "environment",
        "Environment",
        Editor::Map,
        "NAME=value, one per line.",
    ),
    Field::new("timeout", "Timeout (s)", Editor::Number, "1–900 seconds."),
    Field::new(
        "memory_size",
        "Memory (MB)",
        Editor::Number,
        "128–10,240 MB.",
    ),
    Field::new(
        "requirements",
        "Requirements",
        Editor::Lines,
        "pip or npm packages.",
    ),
    Field::new(
        "layers",
        "Layers",
        Editor::Lines,
        "Folders put on the import path.",
    ),
    Field::new(
        "number_of_retries",
        "Retries",
        Editor::Number,
        "Retries of a failed invocation (NumberOfRetries, default 3).",
    ),
    Field::new(
        "output_columns",
        "Output columns",
        Editor::Lines,
        "The delivered columns as 'name Type'; empty keeps the input's.",
    ),
];

/// AWS's error record for a record a Firehose could not process or deliver: what it
/// writes under its error prefix (`lambdaArn` only for a transformation function's
/// failures; a null field is left out of the JSON).
pub fn error_schema() -> SchemaRef {
    let int = |n: &str| ArrowField::new(n, DataType::Int64, false);
    let text = |n: &str| ArrowField::new(n, DataType::Utf8, false);
    Arc::new(Schema::new(vec![
        int("attemptsMade"),
        int("arrivalTimestamp"),
        text("errorCode"),
        text("errorMessage"),
        int("attemptEndingTimestamp"),
        text("rawData"),
        ArrowField::new("lambdaArn", DataType::Utf8, true),
    ]))
}

/// `batch`'s records as AWS's error records: each record's bytes (as a reader gets them:
/// the bytes put, or its JSON) in `rawData`, with `code` and `message`, arrived at
/// `arrival_ms`, after one attempt.
pub fn error_records(
    batch: &RecordBatch,
    arrival_ms: i64,
    code: &str,
    message: &str,
) -> Result<RecordBatch> {
    let raw = crate::stream::records::record_bytes(batch)?;
    let failed: Vec<Failed> = raw
        .iter()
        .map(|r| Failed {
            attempts: 1,
            arrival_ms,
            code: code.to_owned(),
            message: message.to_owned(),
            raw: r.to_vec(),
        })
        .collect();
    error_rows(&failed, None)
}

/// One failed record.
struct Failed {
    attempts: u32,
    arrival_ms: i64,
    code: String,
    message: String,
    raw: Vec<u8>,
}

/// What a buffer became.
#[derive(Default)]
pub struct Processed {
    /// The `Ok` records, in the output columns.
    pub delivered: Vec<RecordBatch>,
    /// `Dropped` records.
    pub dropped: u64,
    /// Error records for `processing-failed/`.
    pub failed: Option<RecordBatch>,
}

/// A ready transformation function.
pub struct Processor {
    function: Function,
    config: ProcessorConfig,
    stream_arn: String,
    lambda_arn: String,
    /// The delivered columns.
    pub out_schema: SchemaRef,
    events: EventSink,
    node: String,
}

/// Record data per invocation at most (the processor's default `BufferSizeInMBs`, 1).
const MAX_INVOCATION_BYTES: usize = 1024 * 1024;

impl Processor {
    /// Starts the function of Firehose `node` (inline code under
    /// `.tributary/functions/<node>/`).
    pub async fn start(
        config: &ProcessorConfig,
        node: &str,
        base_dir: &std::path::Path,
        in_schema: &SchemaRef,
        events: &EventSink,
    ) -> Result<Self> {
        let (function, _) = start_function(&config.function(), node, base_dir, events).await?;
        let out_schema = if config.output_columns.is_empty() {
            in_schema.clone()
        } else {
            let fields = crate::stream::script::parse_columns(&config.output_columns)
                .map_err(|e| Error::Invalid(format!("processor.output_columns: {e}")))?;
            Arc::new(Schema::new(fields))
        };
        Ok(Self {
            function,
            config: config.clone(),
            stream_arn: format!("arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{node}"),
            lambda_arn: function_arn(node),
            out_schema,
            events: events.clone(),
            node: node.to_owned(),
        })
    }

    /// Runs the function over a buffer (`arrivals`: each row's arrival, ms).
    pub async fn process(&self, batch: &RecordBatch, arrivals: &[i64]) -> Result<Processed> {
        let data: Vec<Vec<u8>> = rows_as_json(batch)?.iter().map(<[u8]>::to_vec).collect();
        let mut out = Processed::default();
        let mut ok_rows: Vec<Value> = Vec::new();
        let mut failed: Vec<Failed> = Vec::new();
        let mut start = 0;
        while start < data.len() {
            // Records up to about 1 MB of data per invocation.
            let mut end = start;
            let mut bytes = 0;
            while end < data.len()
                && (end == start || bytes + data[end].len() <= MAX_INVOCATION_BYTES)
            {
                bytes += data[end].len();
                end += 1;
            }
            self.invoke(
                &data[start..end],
                &arrivals[start..end],
                start,
                &mut ok_rows,
                &mut out,
                &mut failed,
            )
            .await;
            start = end;
        }
        if !ok_rows.is_empty() {
            let mut decoder = crate::arrow::json::ReaderBuilder::new(self.out_schema.clone())
                .with_strict_mode(false)
                .build_decoder()
                .map_err(|e| Error::Internal(e.to_string()))?;
            decoder.serialize(&ok_rows).map_err(|e| {
                Error::Invalid(format!(
                    "a record the transformation returned does not fit the output columns: {e}"
                ))
            })?;
            if let Some(b) = decoder
                .flush()
                .map_err(|e| Error::Internal(e.to_string()))?
            {
                out.delivered.push(b);
            }
        }
        if !failed.is_empty() {
            out.failed = Some(error_rows(&failed, Some(&self.lambda_arn))?);
        }
        Ok(out)
    }

    /// One invocation over `data` (records `first..`), retried as configured.
    async fn invoke(
        &self,
        data: &[Vec<u8>],
        arrivals: &[i64],
        first: usize,
        ok_rows: &mut Vec<Value>,
        out: &mut Processed,
        failed: &mut Vec<Failed>,
    ) {
        let b64 = base64::engine::general_purpose::STANDARD;
        let ids: Vec<String> = (0..data.len())
            .map(|i| format!("{:056}", first + i))
            .collect();
        let records: Vec<Value> = data
            .iter()
            .zip(arrivals)
            .zip(&ids)
            .map(|((d, a), id)| {
                json!({"recordId": id, "approximateArrivalTimestamp": a, "data": b64.encode(d)})
            })
            .collect();
        let event = json!({
            "invocationId": uuid::Uuid::new_v4().to_string(),
            "deliveryStreamArn": self.stream_arn,
            "region": REGION,
            "records": records,
        });
        let attempts = self.config.number_of_retries + 1;
        let mut last_error = String::new();
        for attempt in 1..=attempts {
            let invoked = match self.function.invoke(&event).await {
                Ok(i) => i,
                Err(e) => {
                    last_error = e.to_string();
                    continue;
                }
            };
            for line in &invoked.log {
                self.events.info(&self.node, line.clone());
            }
            match invoked.outcome {
                Ok(bytes) => {
                    let response: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    self.answer(
                        &response, data, arrivals, &ids, attempt, ok_rows, out, failed,
                    );
                    return;
                }
                Err(e) => last_error = e.to_string(),
            }
        }
        // Out of retries: every record of the invocation failed.
        for (d, a) in data.iter().zip(arrivals) {
            failed.push(Failed {
                attempts,
                arrival_ms: *a,
                code: "Lambda.FunctionError".to_owned(),
                message: format!("The Lambda function was successfully invoked but it returned an error result: {last_error}"),
                raw: d.clone(),
            });
        }
    }

    /// Applies a response: each record's result.
    #[allow(clippy::too_many_arguments)]
    fn answer(
        &self,
        response: &Value,
        data: &[Vec<u8>],
        arrivals: &[i64],
        ids: &[String],
        attempt: u32,
        ok_rows: &mut Vec<Value>,
        out: &mut Processed,
        failed: &mut Vec<Failed>,
    ) {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut results: HashMap<&str, &Value> = HashMap::new();
        if let Some(items) = response.get("records").and_then(Value::as_array) {
            for item in items {
                if let Some(id) = item.get("recordId").and_then(Value::as_str) {
                    results.insert(id, item);
                }
            }
        }
        for (i, id) in ids.iter().enumerate() {
            let fail = |code: &str, message: String| Failed {
                attempts: attempt,
                arrival_ms: arrivals[i],
                code: code.to_owned(),
                message,
                raw: data[i].clone(),
            };
            let Some(item) = results.get(id.as_str()) else {
                failed.push(fail(
                    "Lambda.MissingRecordId",
                    format!("The response has no record with recordId {id}"),
                ));
                continue;
            };
            match item.get("result").and_then(Value::as_str) {
                Some("Ok") => {
                    let decoded = item
                        .get("data")
                        .and_then(Value::as_str)
                        .and_then(|d| b64.decode(d).ok())
                        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
                        .filter(Value::is_object);
                    match decoded {
                        Some(row) => ok_rows.push(row),
                        None => failed.push(fail(
                            "Tributary.InvalidData",
                            "the returned data is not the base64 of a JSON object".to_owned(),
                        )),
                    }
                }
                Some("Dropped") => out.dropped += 1,
                Some("ProcessingFailed") => failed.push(fail(
                    "Lambda.ProcessingFailed",
                    "The record was marked ProcessingFailed by the Lambda function".to_owned(),
                )),
                other => failed.push(fail(
                    "Lambda.InvalidReturn",
                    format!(
                        "result must be Ok, Dropped or ProcessingFailed, got {}",
                        other.unwrap_or("nothing")
                    ),
                )),
            }
        }
    }
}

fn error_rows(failed: &[Failed], lambda_arn: Option<&str>) -> Result<RecordBatch> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let now = now_ms();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(
            failed.iter().map(|f| i64::from(f.attempts)),
        )),
        Arc::new(Int64Array::from_iter_values(
            failed.iter().map(|f| f.arrival_ms),
        )),
        Arc::new(StringArray::from_iter_values(
            failed.iter().map(|f| f.code.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            failed.iter().map(|f| f.message.as_str()),
        )),
        Arc::new(Int64Array::from(vec![now; failed.len()])),
        Arc::new(StringArray::from_iter_values(
            failed.iter().map(|f| b64.encode(&f.raw)),
        )),
        Arc::new(StringArray::from(vec![lambda_arn; failed.len()])),
    ];
    RecordBatch::try_new(error_schema(), cols).map_err(|e| Error::Internal(e.to_string()))
}
