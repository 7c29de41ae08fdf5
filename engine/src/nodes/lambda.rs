//! Lambda node: a function invoked on batches of stream records, under the rules of a
//! Kinesis event source mapping.
//!
//! What runs a batch (`handler.rs`): the user's own handler in Python or Node.js
//! (`python3.12`, `nodejs20.x`, …) run unchanged by the official runtime interface
//! clients with the Kinesis event AWS sends; one DataFusion statement over the batch
//! (`sql`, the table `input`); or sandboxed Rhai code per record (`rhai`).
//!
//! How batches are made, retried and checkpointed (`esm.rs`): a batch holds the records
//! of one shard, up to `batch_size` and 6 MB; shards run concurrently (and within a shard
//! up to `parallelization_factor` batches, keeping order per partition key); a failing
//! batch is bisected and retried and blocks its shard meanwhile; a partial batch response
//! (`ReportBatchItemFailures`) checkpoints before the lowest failed record and retries
//! from there; records past `maximum_record_age_in_seconds` or out of retries go to
//! `failed` with the invocation record AWS sends to an on-failure destination.
//!
//! Settings are named after the CloudFormation properties of `AWS::Lambda::Function` and
//! `AWS::Lambda::EventSourceMapping`; files of format 1 are migrated on load
//! ([`LambdaKind::migrate`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::form::{Editor, Field, FieldProblem, Problems, When};
use super::ports::{FAILED_OUT, RECORDS_IN, RECORDS_OUT};
use super::{Category, Kind, NodeContext, NodeOutput, PortSpec};
use crate::error::Result;
use crate::stream::script;

mod esm;
pub(crate) mod handler;

pub use esm::LambdaReport;
pub use handler::{check_handler, rows_as_json, start_function, valid_env_name};

crate::choice_enum! {
    /// What runs a Lambda's batches: an AWS runtime identifier, or Tributary's own.
    pub enum LambdaRuntime {
        /// One SQL statement over the batch (the table `input`).
        Sql = "sql",
        /// A sandboxed Rhai script per record.
        Rhai = "rhai",
        /// Python 3.13 (run on the machine's Python 3).
        Python313 = "python3.13",
        /// Python 3.12.
        Python312 = "python3.12",
        /// Python 3.11.
        Python311 = "python3.11",
        /// Python 3.10.
        Python310 = "python3.10",
        /// Python 3.9.
        Python39 = "python3.9",
        /// Node.js 22 (run on the machine's Node.js).
        Nodejs22 = "nodejs22.x",
        /// Node.js 20.
        Nodejs20 = "nodejs20.x",
        /// Node.js 18.
        Nodejs18 = "nodejs18.x",
    }
}

impl LambdaRuntime {
    /// The language of a handler runtime; `None` for `sql` and `rhai`.
    pub fn language(self) -> Option<crate::functions::Language> {
        use crate::functions::Language;
        match self {
            Self::Sql | Self::Rhai => None,
            Self::Python313
            | Self::Python312
            | Self::Python311
            | Self::Python310
            | Self::Python39 => Some(Language::Python),
            Self::Nodejs22 | Self::Nodejs20 | Self::Nodejs18 => Some(Language::Node),
        }
    }
}

/// Where a new event source mapping starts reading (`StartingPosition`): TRIM_HORIZON,
/// LATEST or AT_TIMESTAMP ([`super::start::MAPPING_POSITIONS`]).
pub use super::start::StartingPosition;

/// The response type that turns on partial batch responses.
pub const REPORT_BATCH_ITEM_FAILURES: &str = "ReportBatchItemFailures";

/// Lambda settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LambdaConfig {
    /// `sql`, `rhai`, or an AWS runtime (`python3.12`, `nodejs20.x`, …).
    pub runtime: LambdaRuntime,
    /// The handler, `file.function` (`app.handler`), for Python and Node.js.
    pub handler: String,
    /// The handler file's source, inline (written to `.tributary/functions/<node>/`).
    pub code: String,
    /// A folder with the handler file and its modules, relative to the project (instead
    /// of `code`).
    pub code_path: String,
    /// The function's environment variables.
    pub environment: BTreeMap<String, String>,
    /// Seconds an invocation may run (1–900).
    pub timeout: u32,
    /// Memory in MB (128–10,240); a worker using more is killed.
    pub memory_size: u32,
    /// Packages to install for the function (`aws-lambda-powertools`, `lodash@4`).
    pub requirements: Vec<String>,
    /// Folders put on the import path, as Lambda layers (relative to the project).
    pub layers: Vec<String>,
    /// The SQL, for the sql runtime.
    pub sql: String,
    /// The Rhai code, for the rhai runtime: `record` is the record as a map; the value is
    /// the output record, an array of records, or `()` to drop it.
    pub script: String,
    /// The output columns as `name Type` (`page Utf8`, `n Int64`); empty keeps the
    /// input's columns (rhai and handler runtimes).
    pub output_columns: Vec<String>,
    /// Rhai runtime: operations one record may take before it is stopped.
    pub max_operations: u64,
    /// Records per batch at most (1–10,000).
    pub batch_size: usize,
    /// How long to gather records before invoking (0–300 s).
    pub maximum_batching_window_in_seconds: f64,
    /// Where reading starts.
    pub starting_position: StartingPosition,
    /// For `AT_TIMESTAMP`: seconds since the Unix epoch.
    pub starting_position_timestamp: f64,
    /// Batches in flight per shard (1–10), order kept per partition key.
    pub parallelization_factor: u32,
    /// Invocations the function may run at once (`ReservedConcurrentExecutions`, 0–1,000;
    /// 0: unreserved, which AWS realism holds to the account's default 1,000). An
    /// invocation beyond it is throttled, and the mapping retries it when one ends.
    pub reserved_concurrent_executions: u32,
    /// Read the stream through an enhanced fan-out consumer (an `AWS::Kinesis::StreamConsumer`
    /// as the mapping's event source): 2 MiB/s per shard of its own instead of a share of
    /// the 2 MiB/s standard readers share; priced per consumer-shard-hour and GB read.
    pub enhanced_fan_out: bool,
    /// Split a failing batch in two and retry each half.
    pub bisect_batch_on_function_error: bool,
    /// Retries of a failing batch; -1: until the records expire (0–10,000 otherwise).
    pub maximum_retry_attempts: i64,
    /// Records older than this many seconds are not processed and go to `failed`;
    /// -1: no limit (60–604,800 otherwise).
    pub maximum_record_age_in_seconds: i64,
    /// `["ReportBatchItemFailures"]`: the handler may report which records failed.
    pub function_response_types: Vec<String>,
    /// Event filtering patterns (`FilterCriteria.Filters[].Pattern`), one JSON object
    /// each: only records one of them matches reach the function; the rest are skipped.
    pub filter_criteria: Vec<String>,
}

impl Default for LambdaConfig {
    fn default() -> Self {
        Self {
            runtime: LambdaRuntime::Sql,
            handler: "app.handler".to_owned(),
            code: String::new(),
            code_path: String::new(),
            environment: BTreeMap::new(),
            timeout: 3,
            memory_size: 128,
            requirements: Vec::new(),
            layers: Vec::new(),
            sql: "SELECT * FROM input".to_owned(),
            script: "// `record` is the event as a map. Return it (changed), an array of\n\
                     // records, or () to drop it.\nrecord"
                .to_owned(),
            output_columns: Vec::new(),
            max_operations: 100_000,
            batch_size: 100,
            maximum_batching_window_in_seconds: 0.0,
            starting_position: StartingPosition::TrimHorizon,
            starting_position_timestamp: 0.0,
            parallelization_factor: 1,
            reserved_concurrent_executions: 0,
            enhanced_fan_out: false,
            bisect_batch_on_function_error: false,
            maximum_retry_attempts: -1,
            maximum_record_age_in_seconds: -1,
            function_response_types: Vec::new(),
            filter_criteria: Vec::new(),
        }
    }
}

/// What a Python or Node.js function is: its runtime, code and resources (shared by the
/// Lambda node and a Firehose's transformation function).
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionSettings {
    /// A handler runtime (`python3.12`, `nodejs20.x`).
    pub runtime: LambdaRuntime,
    /// `file.function`.
    pub handler: String,
    /// Inline source of the handler file.
    pub code: String,
    /// Or a folder, relative to the project.
    pub code_path: String,
    /// Environment variables.
    pub environment: BTreeMap<String, String>,
    /// Seconds an invocation may run.
    pub timeout: u32,
    /// Memory in MB.
    pub memory_size: u32,
    /// Packages to install.
    pub requirements: Vec<String>,
    /// Folders put on the import path.
    pub layers: Vec<String>,
}

impl LambdaConfig {
    /// The function part of the settings.
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

    /// Whether the handler may answer with a partial batch response.
    pub fn reports_item_failures(&self) -> bool {
        self.function_response_types
            .iter()
            .any(|t| t == REPORT_BATCH_ITEM_FAILURES)
    }
}

/// The Python and Node.js runtimes, for `When`.
const HANDLER_RUNTIMES: &[&str] = &[
    "python3.13",
    "python3.12",
    "python3.11",
    "python3.10",
    "python3.9",
    "nodejs22.x",
    "nodejs20.x",
    "nodejs18.x",
];

/// A starter handler for a new Python function (the inspector offers it).
pub const PYTHON_TEMPLATE: &str = r#"import base64, json

def handler(event, context):
    out = []
    for record in event["Records"]:
        row = json.loads(base64.b64decode(record["kinesis"]["data"]))
        out.append(row)
    return out
"#;

/// A starter handler for a new Node.js function (the inspector offers it).
pub const NODE_TEMPLATE: &str = r#"export const handler = async (event, context) => {
  return event.Records.map((record) =>
    JSON.parse(Buffer.from(record.kinesis.data, "base64").toString("utf8")));
};
"#;

/// The Lambda node.
pub struct LambdaKind;

impl Kind for LambdaKind {
    type Config = LambdaConfig;
    const NAME: &'static str = "lambda";
    const CATEGORY: Category = Category::Streaming;
    const DESCRIPTION: &'static str = "Runs a function on batches of stream records as a Kinesis event source mapping does: your Python or Node.js handler, SQL or Rhai; retries, bisects, partial batch responses, failures to 'failed'.";
    const ICON: &'static str = "λ";
    const INPUTS: &'static [PortSpec] = &[RECORDS_IN];
    const OUTPUTS: &'static [PortSpec] = &[RECORDS_OUT, FAILED_OUT];
    const FIELDS: &'static [Field] = &[
        Field::new("runtime", "Runtime", Editor::Choice(LambdaRuntime::NAMES),
            "python3.x / nodejs*.x: your handler, run by AWS's runtime interface client with the Kinesis event (Runtime); sql: one statement over each batch (the table input); rhai: a script per record."),
        Field::new("handler", "Handler", Editor::Text,
            "file.function, e.g. app.handler for def handler(event, context) in app.py (Handler).")
            .when(When::Is("runtime", HANDLER_RUNTIMES)),
        Field::new("code", "Code", Editor::Code,
            "The handler file's source (Code.ZipFile). Leave empty to use a folder (code_path).")
            .when(When::Is("runtime", HANDLER_RUNTIMES)),
        Field::new("code_path", "Code folder", Editor::Text,
            "A folder with the handler file and its modules, relative to the project (CodeUri).")
            .when(When::Is("runtime", HANDLER_RUNTIMES)),
        Field::new("environment", "Environment", Editor::Map,
            "Environment variables, one NAME=value per line (Environment.Variables).")
            .when(When::Is("runtime", HANDLER_RUNTIMES)),
        Field::new("timeout", "Timeout (s)", Editor::Number,
            "Seconds an invocation may run, 1–900 (Timeout).")
            .when(When::Is("runtime", HANDLER_RUNTIMES)),
        Field::new("memory_size", "Memory (MB)", Editor::Number,
            "128–10,240 MB; a worker using more is killed (MemorySize).")
            .when(When::Is("runtime", HANDLER_RUNTIMES)),
        Field::new("requirements", "Requirements", Editor::Lines,
            "Packages installed for the function with pip or npm, e.g. aws-lambda-powertools (a requirements.txt or package.json in the code folder works too).")
            .when(When::Is("runtime", HANDLER_RUNTIMES)),
        Field::new("layers", "Layers", Editor::Lines,
            "Folders put on the import path, like Lambda layers (python/ or nodejs/node_modules/ inside them when present).")
            .when(When::Is("runtime", HANDLER_RUNTIMES)),
        Field::new("sql", "SQL", Editor::Sql, "The statement over each batch, the table input.")
            .when(When::Is("runtime", &["sql"])),
        Field::new("script", "Script", Editor::Script,
            "Rhai code run per record: record is the record as a map; return it (changed), an array of records, or () to drop it.")
            .when(When::Is("runtime", &["rhai"])),
        Field::new("output_columns", "Output columns", Editor::Lines,
            "The output columns as 'name Type'; empty keeps the input's columns.")
            .when(When::IsNot("runtime", &["sql"])),
        Field::new("max_operations", "Max operations", Editor::Number,
            "Rhai runtime: operations one record may take before it is stopped.")
            .when(When::Is("runtime", &["rhai"])),
        Field::new("batch_size", "Batch size", Editor::Number,
            "Records per batch at most, 1–10,000 (BatchSize); a batch also stays under 6 MB."),
        Field::new("maximum_batching_window_in_seconds", "Batching window (s)", Editor::Number,
            "How long to gather records before invoking, 0–300 s (MaximumBatchingWindowInSeconds)."),
        Field::new("starting_position", "Starting position", Editor::Choice(super::start::MAPPING_POSITIONS),
            "Where reading starts (StartingPosition)."),
        Field::new("starting_position_timestamp", "Starting timestamp", Editor::Number,
            "For AT_TIMESTAMP: seconds since the Unix epoch (StartingPositionTimestamp).")
            .when(When::Is("starting_position", &["AT_TIMESTAMP"])),
        Field::new("parallelization_factor", "Parallelization factor", Editor::Number,
            "Batches in flight per shard, 1–10; order is kept per partition key (ParallelizationFactor)."),
        Field::new("reserved_concurrent_executions", "Reserved concurrency", Editor::Number,
            "Invocations the function may run at once, 0–1,000 (ReservedConcurrentExecutions); 0: unreserved (AWS realism keeps the account's default of 1,000). Shards × parallelization beyond it are throttled and wait."),
        Field::new("enhanced_fan_out", "Enhanced fan-out", Editor::Toggle,
            "Read through an enhanced fan-out consumer (AWS::Kinesis::StreamConsumer): 2 MiB/s per shard of its own, not shared with the stream's other readers (AWS realism keeps the shared 2 MiB/s per shard for standard readers); priced per consumer-shard-hour and GB read."),
        Field::new("bisect_batch_on_function_error", "Bisect on error", Editor::Toggle,
            "Split a failing batch in two and retry each half (BisectBatchOnFunctionError)."),
        Field::new("maximum_retry_attempts", "Retry attempts", Editor::Number,
            "Retries of a failing batch; -1 retries until the records expire, and the shard waits meanwhile (MaximumRetryAttempts)."),
        Field::new("maximum_record_age_in_seconds", "Max record age (s)", Editor::Number,
            "Older records are not processed and go to failed; -1: no limit, else 60–604,800 (MaximumRecordAgeInSeconds)."),
        Field::new("function_response_types", "Response types", Editor::Lines,
            "ReportBatchItemFailures: the handler may return {\"batchItemFailures\": [{\"itemIdentifier\": <sequence number>}]} (FunctionResponseTypes)."),
        Field::new("filter_criteria", "Filter patterns", Editor::Lines,
            "One JSON pattern per line, e.g. {\"data\": {\"page\": [\"/checkout\"]}}: only records a pattern matches reach the function, the rest are skipped (FilterCriteria)."),
    ];

    fn validate(config: &LambdaConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        match config.runtime {
            LambdaRuntime::Sql => {
                p.check_result("sql", crate::lake::sql::check_read_only(&config.sql));
            }
            LambdaRuntime::Rhai => {
                p.check_result("script", script::check(&config.script));
                p.check(
                    config.max_operations > 0,
                    "max_operations",
                    "must be at least 1",
                );
            }
            _ => validate_function(&config.function(), &mut p, ""),
        }
        if config.runtime != LambdaRuntime::Sql {
            p.check_result(
                "output_columns",
                script::parse_columns(&config.output_columns),
            );
        }
        p.check(
            (1..=10_000).contains(&config.batch_size),
            "batch_size",
            format!("{} is not allowed: must be 1–10,000", config.batch_size),
        );
        p.check(
            (0.0..=300.0).contains(&config.maximum_batching_window_in_seconds),
            "maximum_batching_window_in_seconds",
            "must be 0–300 seconds",
        );
        p.check(
            (1..=10).contains(&config.parallelization_factor),
            "parallelization_factor",
            "must be 1–10",
        );
        p.check(
            config.reserved_concurrent_executions <= 1000,
            "reserved_concurrent_executions",
            "must be 0–1,000 (the account's default concurrency)",
        );
        p.check(
            (-1..=10_000).contains(&config.maximum_retry_attempts),
            "maximum_retry_attempts",
            "must be -1 (until the records expire) or 0–10,000",
        );
        p.check(
            config.maximum_record_age_in_seconds == -1
                || (60..=604_800).contains(&config.maximum_record_age_in_seconds),
            "maximum_record_age_in_seconds",
            "must be -1 (no limit) or 60–604,800 seconds",
        );
        for t in &config.function_response_types {
            p.check(
                t == REPORT_BATCH_ITEM_FAILURES,
                "function_response_types",
                format!("'{t}' is not a response type (the one there is: ReportBatchItemFailures)"),
            );
        }
        p.check_result(
            "filter_criteria",
            crate::functions::filter::FilterCriteria::parse(&config.filter_criteria),
        );
        if super::start::MAPPING_POSITIONS.contains(&config.starting_position.as_str()) {
            super::start::check(
                &mut p,
                config.starting_position,
                config.starting_position_timestamp,
                "",
            );
        } else {
            p.add(
                "starting_position",
                format!(
                    "an event source mapping starts at {} ({} is for GetShardIterator readers)",
                    super::start::MAPPING_POSITIONS.join(", "),
                    config.starting_position
                ),
            );
        }
        p.into_vec()
    }

    fn migrate(from_version: u32, config: &mut Map<String, Value>) {
        if from_version < 2 {
            migrate_v1(config);
        }
    }

    async fn run(config: &LambdaConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        esm::run(config, ctx).await
    }

    /// Lambda: a request per invocation (retries included) and GB-seconds of billed
    /// duration at `memory_size`, from the durations measured here.
    fn cost(
        config: &LambdaConfig,
        stats: &crate::api::NodeStats,
        prices: &crate::api::cost::Prices,
    ) -> Option<crate::api::cost::Cost> {
        let r = stats.report::<LambdaReport>()?;
        Some(
            lambda_cost(r, config.memory_size, prices).continuous(stats.elapsed_ms as f64 / 1000.0),
        )
    }
}

/// What `report`'s invocations cost at `memory_mb`.
pub fn lambda_cost(
    report: &LambdaReport,
    memory_mb: u32,
    prices: &crate::api::cost::Prices,
) -> crate::api::cost::Cost {
    let l = &prices.lambda;
    let mut cost = crate::api::cost::Cost::default();
    cost.add(
        "Lambda requests",
        report.invocations as f64,
        "request",
        l.requests_per_million,
        1e6,
    );
    cost.add(
        &format!("Lambda compute at {memory_mb} MB"),
        report.billed_duration_ms as f64 / 1000.0 * memory_mb as f64 / 1024.0,
        "GB-second",
        l.gb_second,
        1.0,
    );
    cost
}

/// Checks a function's settings; paths are prefixed with `prefix` (`processor.`).
pub fn validate_function(config: &FunctionSettings, p: &mut Problems, prefix: &str) {
    let at = |key: &str| format!("{prefix}{key}");
    if config.runtime.language().is_none() {
        p.add(
            at("runtime"),
            format!("'{}' is not a Python or Node.js runtime", config.runtime),
        );
    }
    p.check_result(&at("handler"), handler::check_handler(&config.handler));
    p.check(
        !(config.code.trim().is_empty() && config.code_path.trim().is_empty()),
        &at("code"),
        "write the handler's code here, or name its folder in code_path",
    );
    p.check(
        config.code.trim().is_empty() || config.code_path.trim().is_empty(),
        &at("code_path"),
        "set either code or code_path, not both",
    );
    p.check(
        (1..=900).contains(&config.timeout),
        &at("timeout"),
        format!("{} is not allowed: must be 1–900 seconds", config.timeout),
    );
    p.check(
        (128..=10_240).contains(&config.memory_size),
        &at("memory_size"),
        format!(
            "{} is not allowed: must be 128–10,240 MB",
            config.memory_size
        ),
    );
    for name in config.environment.keys() {
        p.check(
            handler::valid_env_name(name),
            &at("environment"),
            format!("'{name}' is not a valid variable name (letters, digits and _, not starting with a digit)"),
        );
    }
}

/// Format 1 → 2: Tributary's own setting names become the CloudFormation ones, keeping
/// what each meant (format 1 had no ages below a minute, and 0 meant no limit).
fn migrate_v1(config: &mut Map<String, Value>) {
    if config.get("runtime").and_then(Value::as_str) == Some("script") {
        config.insert("runtime".to_owned(), Value::from("rhai"));
    }
    if let Some(ms) = config.remove("batch_window_ms") {
        let seconds = ms.as_f64().unwrap_or(0.0) / 1000.0;
        config.insert(
            "maximum_batching_window_in_seconds".to_owned(),
            Value::from(seconds),
        );
    }
    if let Some(n) = config.remove("retry_attempts") {
        config.insert("maximum_retry_attempts".to_owned(), n);
    }
    if let Some(b) = config.remove("bisect_on_error") {
        config.insert("bisect_batch_on_function_error".to_owned(), b);
    }
    if let Some(ms) = config.remove("max_record_age_ms") {
        let ms = ms.as_f64().unwrap_or(0.0);
        let seconds = if ms <= 0.0 {
            -1
        } else {
            ((ms / 1000.0).ceil() as i64).max(60)
        };
        config.insert(
            "maximum_record_age_in_seconds".to_owned(),
            Value::from(seconds),
        );
    }
    // Format 1's defaults, where the file left them out (format 2 takes AWS's).
    let defaults = [
        ("batch_size", Value::from(10_000)),
        ("maximum_batching_window_in_seconds", Value::from(0.1)),
        ("maximum_retry_attempts", Value::from(2)),
        ("bisect_batch_on_function_error", Value::from(true)),
    ];
    for (key, value) in defaults {
        config.entry(key).or_insert(value);
    }
}
