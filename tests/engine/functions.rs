//! Real handlers through the Lambda Runtime API: the official runtime interface client
//! (`awslambdaric`) runs an unchanged Python handler in a warm worker; results, errors,
//! timeouts, crashes and init errors come back as AWS reports them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use tributary_engine::functions::{FunctionSpec, InvokeError, Language, Worker};

/// The Python with `awslambdaric` that `scripts/test` sets up.
fn python() -> PathBuf {
    std::env::var_os("TRIBUTARY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::support::repo_root().join("target/tools/python/bin/python"))
}

fn spec(dir: &Path, handler: &str, timeout: Duration) -> FunctionSpec {
    FunctionSpec {
        name: "enrich".to_owned(),
        runtime: "python3.11".to_owned(),
        language: Language::Python,
        handler: handler.to_owned(),
        code_dir: dir.to_path_buf(),
        paths: Vec::new(),
        environment: [("GREETING".to_owned(), "hi".to_owned())].into(),
        timeout,
        memory_mb: 128,
        interpreter: python(),
        ric: None,
    }
}

const APP: &str = r#"
import os, sys, time
calls = 0

def handler(event, context):
    global calls
    calls += 1
    print(f"got {len(event['Records'])} records")
    return {
        "n": len(event["Records"]),
        "calls": calls,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "remaining_ok": 0 < context.get_remaining_time_in_millis() <= 3000,
        "greeting": os.environ["GREETING"],
    }

def fails(event, context):
    raise ValueError("bad record 7")

def slow(event, context):
    time.sleep(10)

def exits(event, context):
    sys.exit(1)
"#;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_python_handler_runs_warm_with_the_context_aws_gives() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.py"), APP).unwrap();
    runtime().block_on(async {
        let mut w = Worker::start(spec(dir.path(), "app.handler", Duration::from_secs(3)))
            .await
            .unwrap();
        let event =
            json!({"Records": [{"kinesis": {"data": "e30="}}, {"kinesis": {"data": "e30="}}]});
        let first = w.invoke("req-1", &event).await.unwrap().unwrap();
        assert_eq!(first["n"], 2);
        assert_eq!(first["request_id"], "req-1");
        assert_eq!(first["function_name"], "enrich");
        assert_eq!(first["memory"], "128");
        assert_eq!(first["remaining_ok"], true, "{first}");
        assert_eq!(first["greeting"], "hi");
        // Warm: the module's state survives between invocations.
        let second = w.invoke("req-2", &event).await.unwrap().unwrap();
        assert_eq!(second["calls"], 2);
        assert!(w.is_alive());
        // What the handler printed, linked to its request.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let log = w.take_log();
        assert!(
            log.iter()
                .any(|l| l.text.contains("got 2 records")
                    && l.request_id.as_deref() == Some("req-1")),
            "{log:?}"
        );
    });
}

#[test]
fn errors_timeouts_crashes_and_init_errors_are_reported_as_aws_does() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.py"), APP).unwrap();
    runtime().block_on(async {
        let event = json!({"Records": []});
        // An exception: its type, message and stack.
        let mut w = Worker::start(spec(dir.path(), "app.fails", Duration::from_secs(3)))
            .await
            .unwrap();
        let Err(InvokeError::Function {
            error_type,
            message,
            stack,
        }) = w.invoke("r1", &event).await.unwrap()
        else {
            panic!("expected the handler's error");
        };
        assert_eq!(
            (error_type.as_str(), message.as_str()),
            ("ValueError", "bad record 7")
        );
        assert!(stack.iter().any(|f| f.contains("app.py")), "{stack:?}");
        assert!(w.is_alive(), "an exception does not end the worker");
        // A timeout kills the worker, in AWS's words.
        let mut w = Worker::start(spec(dir.path(), "app.slow", Duration::from_secs(1)))
            .await
            .unwrap();
        let err = w.invoke("r2", &event).await.unwrap().unwrap_err();
        assert_eq!(err.to_string(), "Task timed out after 1.00 seconds");
        assert!(!w.is_alive());
        // sys.exit(1) ends the process.
        let mut w = Worker::start(spec(dir.path(), "app.exits", Duration::from_secs(3)))
            .await
            .unwrap();
        let err = w.invoke("r3", &event).await.unwrap().unwrap_err();
        assert_eq!(err.to_string(), "Runtime exited with error: exit status 1");
        // A handler that cannot be imported.
        let mut w = Worker::start(spec(dir.path(), "missing.handler", Duration::from_secs(3)))
            .await
            .unwrap();
        let err = w.invoke("r4", &event).await.unwrap().unwrap_err();
        assert_eq!(
            err,
            InvokeError::Init {
                error_type: "Runtime.ImportModuleError".to_owned(),
                message: "Unable to import module 'missing': No module named 'missing'".to_owned(),
            }
        );
    });
}

// ---------------------------------------------------------------------------------------
// Lambda nodes running real handlers in a pipeline: generator → stream (4 shards, keyed
// by user) → lambda → firehose, its failures → a second firehose. Everything is counted
// from the delivered files.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::streaming::{edge, node};
use crate::support::{records_under, scratch};

/// The pipeline around a Lambda node with `lambda` as its config.
fn lambda_pipeline(count: u64, lambda: Value) -> Value {
    json!({
        "format_version": 2,
        "nodes": [
            node("gen", "generator", json!({"event": "clickstream", "rate_per_sec": 0.0,
                "count": count, "keys": 50, "batch_size": 250, "seed": 11})),
            node("clicks", "stream", json!({"shards": 4, "partition_key": "user_id"})),
            node("enrich", "lambda", lambda),
            node("lake", "bucket", json!({"path": "lake"})),
            node("deliver", "firehose", json!({"prefix": "out/", "format": "json"})),
            node("errors", "firehose", json!({"prefix": "errors/", "format": "json"}))
        ],
        "edges": [
            edge("gen", "events", "clicks", "records"),
            edge("clicks", "records", "enrich", "records"),
            edge("enrich", "records", "deliver", "records"),
            edge("lake", "objects", "deliver", "target"),
            edge("enrich", "failed", "errors", "records"),
            edge("lake", "objects", "errors", "target")
        ]
    })
}

/// Runs `project` in-process in `dir`: the log lines of each node, and node errors.
fn run_logged(
    dir: &Path,
    project: &Value,
) -> (BTreeMap<String, Vec<String>>, BTreeMap<String, String>) {
    std::fs::create_dir_all(dir.join("lake")).unwrap();
    let project = tributary_engine::Project::from_json(&project.to_string()).unwrap();
    let mut logs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (_, summary) = tributary_engine::engine::run_project_blocking(
        project,
        dir.to_path_buf(),
        tributary_engine::RunTarget::All,
        |ev| {
            if let tributary_engine::Event::Log {
                node: Some(node),
                message,
                ..
            } = ev
            {
                logs.entry(node.clone()).or_default().push(message.clone());
            }
        },
    )
    .unwrap();
    let errors = summary
        .iter()
        .filter(|s| s.status == tributary_engine::NodeStatus::Error)
        .map(|s| (s.id.clone(), s.error.clone().unwrap_or_default()))
        .collect();
    (logs, errors)
}

fn ids(records: &[Value]) -> BTreeSet<i64> {
    records
        .iter()
        .map(|r| r["event_id"].as_i64().unwrap())
        .collect()
}

const TRANSFORM_PY: &str = r#"
import base64, json

def handler(event, context):
    out = []
    shards = {r["eventID"].split(":")[0] for r in event["Records"]}
    assert len(shards) == 1, f"one shard per batch, got {shards}"
    seqs = [int(r["kinesis"]["sequenceNumber"]) for r in event["Records"]]
    assert seqs == sorted(seqs), "records in sequence order"
    for r in event["Records"]:
        k = r["kinesis"]
        assert r["eventSource"] == "aws:kinesis" and r["eventName"] == "aws:kinesis:record"
        assert r["eventSourceARN"] == "arn:aws:kinesis:us-east-1:000000000000:stream/clicks"
        assert r["eventID"] == r["eventID"].split(":")[0] + ":" + k["sequenceNumber"]
        row = json.loads(base64.b64decode(k["data"]))
        assert k["partitionKey"] == row["user_id"], (k["partitionKey"], row)
        if row["event_id"] % 500 == 13:
            raise ValueError(f"bad record {row['event_id']}")
        if row["event_id"] % 10 == 3:
            continue  # filtered out
        out.append({"event_id": row["event_id"], "page": row["page"].upper(),
                    "user_id": row["user_id"], "shard": r["eventID"].split(":")[0],
                    "seq": k["sequenceNumber"],
                    "arrival": k["approximateArrivalTimestamp"],
                    "stage": context.function_name})
    print(f"kept {len(out)} of {len(event['Records'])}")
    return out
"#;

#[test]
fn a_python_handler_transforms_filters_and_fails_records_with_the_kinesis_event() {
    let dir = scratch();
    let n = 2_000u64;
    let lambda = json!({
        "runtime": "python3.12", "handler": "app.handler", "code": TRANSFORM_PY,
        "batch_size": 100, "bisect_batch_on_function_error": true,
        "maximum_retry_attempts": 1,
        "output_columns": ["event_id Int64", "page Utf8", "user_id Utf8", "shard Utf8",
            "seq Utf8", "arrival Float64", "stage Utf8"]
    });
    let (logs, errors) = run_logged(dir.path(), &lambda_pipeline(n, lambda));
    assert!(errors.is_empty(), "{errors:?}");
    let delivered = records_under(&dir.path().join("lake/out"));
    let failed = records_under(&dir.path().join("lake/errors"));
    let bad: BTreeSet<i64> = (0..n as i64).filter(|i| i % 500 == 13).collect();
    let dropped = (0..n as i64)
        .filter(|i| i % 10 == 3 && !bad.contains(i))
        .count();
    // Conservation, from the files: in = delivered + failed + filtered.
    assert_eq!(ids(&failed), bad);
    assert_eq!(failed.len(), bad.len());
    assert_eq!(delivered.len() + failed.len() + dropped, n as usize);
    assert_eq!(ids(&delivered).len(), delivered.len(), "no duplicates");
    // The handler's rows, in the declared columns.
    for r in &delivered {
        let id = r["event_id"].as_i64().unwrap();
        assert!(id % 10 != 3 && !bad.contains(&id), "{r}");
        assert_eq!(r["stage"], "enrich");
        assert!(r["page"].as_str().unwrap().starts_with("/"));
        assert_eq!(r["page"], r["page"].as_str().unwrap().to_uppercase());
        assert!(
            r["shard"]
                .as_str()
                .unwrap()
                .starts_with("shardId-00000000000")
        );
        assert!(
            r["arrival"].as_f64().unwrap() > 1.7e9,
            "seconds since the epoch"
        );
    }
    // One user's records are all in one shard, with increasing sequence numbers.
    let mut by_user: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in &delivered {
        by_user
            .entry(r["user_id"].as_str().unwrap())
            .or_default()
            .insert(r["shard"].as_str().unwrap());
    }
    assert!(by_user.values().all(|s| s.len() == 1), "{by_user:?}");
    // The failure record: the error, its stack, and the invocation record.
    for f in &failed {
        let id = f["event_id"].as_i64().unwrap();
        assert_eq!(f["error_message"], format!("bad record {id}"));
        assert_eq!(f["error_type"], "ValueError");
        assert!(f["stack_trace"].as_str().unwrap().contains("app.py"), "{f}");
        assert_eq!(f["condition"], "RetryAttemptsExhausted");
        assert_eq!(
            f["approximate_invoke_count"], 2,
            "the first try and one retry"
        );
        assert_eq!(f["batch_size"], 1, "bisected down to the record");
        assert_eq!(f["start_sequence_number"], f["sequence_number"]);
        assert_eq!(f["partition_key"], f["user_id"]);
        assert!(f["request_id"].as_str().unwrap().len() == 36, "{f}");
    }
    // CloudWatch-style log lines: a cold start, START/END/REPORT, the handler's output.
    let log = &logs["enrich"];
    let text = log.join("\n");
    assert!(
        text.contains("INIT_START Runtime Version: python:3."),
        "{text}"
    );
    assert!(log.iter().any(|l| l.starts_with("START RequestId: ")));
    assert!(log.iter().any(|l| l.starts_with("END RequestId: ")));
    let report = log
        .iter()
        .find(|l| l.starts_with("REPORT RequestId: ") && l.contains("Init Duration"))
        .unwrap_or_else(|| panic!("no cold-start REPORT line: {text}"));
    for part in [
        "Duration: ",
        "Billed Duration: ",
        "Memory Size: 128 MB",
        "Max Memory Used: ",
    ] {
        assert!(report.contains(part), "{report}");
    }
    assert!(log.iter().any(|l| l.starts_with("kept ")), "{text}");
    assert!(text.contains("[ERROR] ValueError: bad record"), "{text}");
}

const PARTIAL_JS: &str = r#"
export const handler = async (event, context) => {
  const batchItemFailures = [];
  for (const r of event.Records) {
    const row = JSON.parse(Buffer.from(r.kinesis.data, "base64").toString("utf8"));
    console.log(`seen ${row.event_id}`);
    if (row.event_id % 250 === 7) {
      batchItemFailures.push({ itemIdentifier: r.kinesis.sequenceNumber });
    }
  }
  return { batchItemFailures };
};
"#;

/// How many times each event id was seen, from `seen <id>` log lines.
fn seen_counts(log: &[String]) -> BTreeMap<i64, usize> {
    let mut seen = BTreeMap::new();
    for l in log {
        if let Some(id) = l.split("seen ").nth(1).and_then(|s| s.trim().parse().ok()) {
            *seen.entry(id).or_default() += 1;
        }
    }
    seen
}

#[test]
fn a_node_partial_batch_response_checkpoints_before_the_lowest_failure_and_retries_from_there() {
    let dir = scratch();
    let n = 1_500u64;
    let lambda = json!({
        "runtime": "nodejs20.x", "handler": "app.handler", "code": PARTIAL_JS,
        "batch_size": 50, "maximum_retry_attempts": 2,
        "function_response_types": ["ReportBatchItemFailures"]
    });
    let (logs, errors) = run_logged(dir.path(), &lambda_pipeline(n, lambda));
    assert!(errors.is_empty(), "{errors:?}");
    let delivered = records_under(&dir.path().join("lake/out"));
    let failed = records_under(&dir.path().join("lake/errors"));
    let bad: BTreeSet<i64> = (0..n as i64).filter(|i| i % 250 == 7).collect();
    assert_eq!(
        ids(&failed),
        bad,
        "exactly the reported records end on failed"
    );
    assert_eq!(failed.len(), bad.len());
    // The others pass on unchanged (the input's columns), once each.
    assert_eq!(delivered.len() + failed.len(), n as usize);
    assert_eq!(ids(&delivered).len(), delivered.len(), "no duplicates");
    assert!(delivered[0].get("page").is_some() && delivered[0].get("event_time").is_some());
    for f in &failed {
        assert_eq!(f["condition"], "RetryAttemptsExhausted");
        assert_eq!(f["error_type"], "BatchItemFailure");
        assert_eq!(
            f["approximate_invoke_count"], 3,
            "the first try and two retries"
        );
    }
    // A failing record was handed to the function three times; records before the
    // lowest failure in their batch once (checkpointed).
    let seen = seen_counts(&logs["enrich"]);
    assert_eq!(seen.len(), n as usize, "every record reached the handler");
    for id in &bad {
        assert_eq!(seen[id], 3, "record {id}");
    }
    let once = seen.values().filter(|c| **c == 1).count();
    assert!(
        once > n as usize / 2,
        "most records are not retried: {once}"
    );
    let text = logs["enrich"].join("\n");
    assert!(
        text.contains("INIT_START Runtime Version: nodejs:"),
        "{text}"
    );
    // Each retry says which shard waits, and why.
    let retries = logs["enrich"]
        .iter()
        .filter(|l| l.starts_with("retry ") && l.contains("records reported as failed"))
        .count();
    assert_eq!(
        retries,
        2 * bad.len(),
        "two retries per failing batch: {text}"
    );
    assert!(
        text.contains("retry 2 of 2 of a failing batch of shardId-00000000000"),
        "{text}"
    );
}

const POWERTOOLS_PY: &str = r#"
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor, EventType, process_partial_response)
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import (
    KinesisStreamRecord)

processor = BatchProcessor(event_type=EventType.KinesisDataStreams)

def record_handler(record: KinesisStreamRecord):
    row = record.kinesis.data_as_json()
    print(f"seen {row['event_id']}")
    if row["event_id"] % 300 == 11:
        raise ValueError(f"cannot take {row['event_id']}")

def handler(event, context):
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context)
"#;

#[test]
fn aws_lambda_powertools_batch_processor_reports_exactly_the_failed_records() {
    let dir = scratch();
    let n = 1_200u64;
    let lambda = json!({
        "runtime": "python3.11", "handler": "app.handler", "code": POWERTOOLS_PY,
        "requirements": ["aws-lambda-powertools==3.37.0"],
        "batch_size": 100, "maximum_retry_attempts": 1,
        "function_response_types": ["ReportBatchItemFailures"]
    });
    let (logs, errors) = run_logged(dir.path(), &lambda_pipeline(n, lambda));
    assert!(errors.is_empty(), "{errors:?}");
    let delivered = records_under(&dir.path().join("lake/out"));
    let failed = records_under(&dir.path().join("lake/errors"));
    let bad: BTreeSet<i64> = (0..n as i64).filter(|i| i % 300 == 11).collect();
    assert_eq!(ids(&failed), bad);
    assert_eq!(failed.len(), bad.len());
    assert_eq!(delivered.len() + failed.len(), n as usize);
    assert_eq!(ids(&delivered).len(), delivered.len(), "no duplicates");
    let seen = seen_counts(&logs["enrich"]);
    for id in &bad {
        assert_eq!(seen[id], 2, "record {id}: the first try and one retry");
    }
}

const NODE_APP: &str = r#"
let calls = 0;
exports.handler = async (event, context) => {
  calls += 1;
  console.log(`got ${event.Records.length} records`);
  return { n: event.Records.length, calls, requestId: context.awsRequestId,
           name: context.functionName, memory: context.memoryLimitInMB,
           remainingOk: context.getRemainingTimeInMillis() > 0 };
};
exports.fails = async () => { throw new TypeError("bad record 9"); };
exports.slow = async () => new Promise((r) => setTimeout(r, 10000));
exports.exits = async () => { process.exit(1); };
exports.hog = async () => { const a = []; for (;;) { a.push(new Array(1e6).fill(7)); } };
"#;

/// The `aws-lambda-ric` package that `scripts/test` installs.
fn node_ric() -> PathBuf {
    std::env::var_os("TRIBUTARY_NODE_RIC")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            crate::support::repo_root().join("target/tools/node/node_modules/aws-lambda-ric")
        })
}

fn node_spec(dir: &Path, handler: &str, timeout: Duration) -> FunctionSpec {
    FunctionSpec {
        runtime: "nodejs20.x".to_owned(),
        language: Language::Node,
        interpreter: PathBuf::from("node"),
        ric: Some(node_ric()),
        ..spec(dir, handler, timeout)
    }
}

#[test]
fn a_node_handler_runs_warm_and_fails_times_out_crashes_and_runs_out_of_memory_as_aws_says() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.js"), NODE_APP).unwrap();
    runtime().block_on(async {
        let event = json!({"Records": [{"kinesis": {"data": "e30="}}]});
        let mut w = Worker::start(node_spec(dir.path(), "app.handler", Duration::from_secs(3)))
            .await
            .unwrap();
        let first = w.invoke("n-1", &event).await.unwrap().unwrap();
        assert_eq!(first["requestId"], "n-1");
        assert_eq!(first["name"], "enrich");
        assert_eq!(first["remainingOk"], true, "{first}");
        let second = w.invoke("n-2", &event).await.unwrap().unwrap();
        assert_eq!(second["calls"], 2, "warm between invocations");
        let mut w = Worker::start(node_spec(dir.path(), "app.fails", Duration::from_secs(3)))
            .await
            .unwrap();
        let Err(InvokeError::Function {
            error_type,
            message,
            stack,
        }) = w.invoke("n-3", &event).await.unwrap()
        else {
            panic!("expected the handler's error");
        };
        assert_eq!(
            (error_type.as_str(), message.as_str()),
            ("TypeError", "bad record 9")
        );
        assert!(stack.iter().any(|f| f.contains("app.js")), "{stack:?}");
        let mut w = Worker::start(node_spec(dir.path(), "app.slow", Duration::from_secs(1)))
            .await
            .unwrap();
        let err = w.invoke("n-4", &event).await.unwrap().unwrap_err();
        assert_eq!(err.to_string(), "Task timed out after 1.00 seconds");
        let mut w = Worker::start(node_spec(dir.path(), "app.exits", Duration::from_secs(3)))
            .await
            .unwrap();
        let err = w.invoke("n-5", &event).await.unwrap().unwrap_err();
        assert_eq!(err.to_string(), "Runtime exited with error: exit status 1");
        // Past its memory size the worker is killed, as Lambda's sandbox is.
        let mut w = Worker::start(node_spec(dir.path(), "app.hog", Duration::from_secs(20)))
            .await
            .unwrap();
        let err = w.invoke("n-6", &event).await.unwrap().unwrap_err();
        assert_eq!(err.to_string(), "Runtime exited with error: signal: killed");
        assert!(!w.is_alive());
    });
}

#[test]
fn a_missing_interpreter_is_a_clear_error_in_the_node() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let lambda = json!({"runtime": "nodejs20.x", "handler": "app.handler",
        "code": "exports.handler = async () => null;"});
    let run = crate::support::try_run_env(
        dir.path(),
        "p.json",
        &lambda_pipeline(100, lambda),
        &[],
        &[("PATH", Some("/nonexistent")), ("TRIBUTARY_NODE_RIC", None)],
    );
    assert_eq!(run.status(), "error", "{:?}", run.out);
    let error = run.node("enrich")["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(error.contains("node is not installed"), "{error}");
    // The rest of the graph still ran.
    assert_eq!(run.node("gen")["status"], "ok", "{:?}", run.summary);
}

const ONLY_CHECKOUTS_PY: &str = r#"
import base64, json

def handler(event, context):
    rows = [json.loads(base64.b64decode(r["kinesis"]["data"])) for r in event["Records"]]
    wrong = [r["event_id"] for r in rows if r["page"] != "/checkout"]
    if wrong:
        raise ValueError(f"the filter let through {wrong}")
    return rows
"#;

#[test]
fn filter_criteria_deliver_only_the_matching_records_of_a_batch() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let n = 3_000u64;
    let lambda = json!({
        "runtime": "python3.11", "handler": "app.handler", "code": ONLY_CHECKOUTS_PY,
        "batch_size": 500, "maximum_retry_attempts": 0,
        "filter_criteria": [r#"{"data": {"page": ["/checkout"]}}"#]
    });
    let run = crate::support::run_ok(dir.path(), "p.json", &lambda_pipeline(n, lambda), &[]);
    let delivered = records_under(&dir.path().join("lake/out"));
    let failed = records_under(&dir.path().join("lake/errors"));
    assert!(
        failed.is_empty(),
        "the handler saw a record the filter should have skipped: {:?}",
        failed.first()
    );
    assert!(!delivered.is_empty());
    assert!(delivered.iter().all(|r| r["page"] == "/checkout"));
    let detail = run.detail("enrich");
    let filtered = detail["filtered_records"].as_u64().unwrap();
    assert_eq!(delivered.len() as u64 + filtered, n, "{detail}");
    assert!(
        filtered > delivered.len() as u64,
        "most pages are not /checkout"
    );
}

#[test]
fn a_bad_filter_pattern_or_setting_is_named_before_the_run() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let lambda = json!({
        "runtime": "python3.11", "handler": "app", "code": ONLY_CHECKOUTS_PY,
        "batch_size": 20000, "maximum_record_age_in_seconds": 30,
        "filter_criteria": [r#"{"data": {"page": "/checkout"}}"#]
    });
    let path = dir.path().join("p.json");
    crate::support::write(&path, lambda_pipeline(10, lambda).to_string());
    let out = crate::support::cli_in(dir.path(), &["validate", path.to_str().unwrap()]);
    assert_ne!(out.code, 0);
    let text = format!("{}{}", out.stdout, out.stderr);
    for expected in [
        "handler: 'app' is not file.function",
        "batch_size: 20000 is not allowed: must be 1–10,000",
        "maximum_record_age_in_seconds: must be -1 (no limit) or 60–604,800 seconds",
        "filter_criteria: pattern {\"data\": {\"page\": \"/checkout\"}}: 'page' must hold a list",
    ] {
        assert!(text.contains(expected), "{expected} not in {text}");
    }
}

const FIREHOSE_PY: &str = r#"
import base64, json

def handler(event, context):
    assert event["deliveryStreamArn"] == "arn:aws:firehose:us-east-1:000000000000:deliverystream/deliver"
    output = []
    for record in event["records"]:
        assert isinstance(record["approximateArrivalTimestamp"], int)
        row = json.loads(base64.b64decode(record["data"]))
        if row["event_id"] % 10 == 3:
            output.append({"recordId": record["recordId"], "result": "Dropped"})
        elif row["event_id"] % 100 == 7:
            output.append({"recordId": record["recordId"], "result": "ProcessingFailed",
                           "data": record["data"]})
        else:
            out = {"event_id": row["event_id"], "page": row["page"].upper(), "via": "python"}
            output.append({"recordId": record["recordId"], "result": "Ok",
                           "data": base64.b64encode(json.dumps(out).encode()).decode()})
    return {"records": output}
"#;

#[test]
fn a_firehose_transformation_function_delivers_ok_leaves_out_dropped_and_fails_processing_failed() {
    let dir = scratch();
    let n = 2_000u64;
    let project = json!({
        "format_version": 2,
        "nodes": [
            node("gen", "generator", json!({"event": "clickstream", "rate_per_sec": 0.0,
                "count": n, "keys": 50, "batch_size": 250, "seed": 3})),
            node("clicks", "stream", json!({"shards": 2, "partition_key": "user_id"})),
            node("lake", "bucket", json!({"path": "lake"})),
            node("deliver", "firehose", json!({"prefix": "out/", "error_prefix": "errors/",
                "format": "json", "buffer_mb": 0.2,
                "processor": {"runtime": "python3.12", "handler": "app.handler",
                    "code": FIREHOSE_PY,
                    "output_columns": ["event_id Int64", "page Utf8", "via Utf8"]}}))
        ],
        "edges": [
            edge("gen", "events", "clicks", "records"),
            edge("clicks", "records", "deliver", "records"),
            edge("lake", "objects", "deliver", "target")
        ]
    });
    let (_, errors) = run_logged(dir.path(), &project);
    assert!(errors.is_empty(), "{errors:?}");
    let delivered = records_under(&dir.path().join("lake/out"));
    let failed = records_under(&dir.path().join("lake/errors/processing-failed"));
    let dropped = (0..n as i64).filter(|i| i % 10 == 3).count();
    let bad: BTreeSet<i64> = (0..n as i64).filter(|i| i % 100 == 7).collect();
    // Counted from the files: Ok + Dropped + ProcessingFailed = in.
    assert_eq!(delivered.len() + dropped + failed.len(), n as usize);
    assert_eq!(failed.len(), bad.len());
    assert!(delivered.iter().all(|r| r["via"] == "python"
        && r["page"].as_str().unwrap().starts_with('/')
        && r["page"] == r["page"].as_str().unwrap().to_uppercase()));
    assert_eq!(ids(&delivered).len(), delivered.len(), "no duplicates");
    // AWS's error record, with the original record in rawData.
    use base64::Engine as _;
    let mut failed_ids = BTreeSet::new();
    for f in &failed {
        assert_eq!(f["errorCode"], "Lambda.ProcessingFailed", "{f}");
        assert_eq!(f["attemptsMade"], 1);
        assert_eq!(
            f["lambdaArn"],
            "arn:aws:lambda:us-east-1:000000000000:function:deliver"
        );
        assert!(f["arrivalTimestamp"].as_i64().unwrap() > 1_700_000_000_000);
        assert!(
            f["attemptEndingTimestamp"].as_i64().unwrap()
                >= f["arrivalTimestamp"].as_i64().unwrap()
        );
        let raw = base64::engine::general_purpose::STANDARD
            .decode(f["rawData"].as_str().unwrap())
            .unwrap();
        let row: Value = serde_json::from_slice(&raw).unwrap();
        failed_ids.insert(row["event_id"].as_i64().unwrap());
    }
    assert_eq!(failed_ids, bad);
}

/// Runs the whole loaded project as run 1 of revision 1.
fn start_run(engine: &tributary_engine::Engine) {
    use tributary_engine::{Command, RunId, RunTarget};
    let run = RunId {
        seq: 1,
        revision: 1,
    };
    engine
        .send(Command::Run {
            run,
            target: RunTarget::All,
        })
        .unwrap();
}

const SIZES_PY: &str = r#"
def handler(event, context):
    print(f"batch of {len(event['Records'])}")
"#;

/// Sizes of the batches the handler saw, from its log lines.
fn batch_sizes(lines: &[String]) -> Vec<usize> {
    lines
        .iter()
        .filter_map(|l| l.trim().strip_prefix("batch of "))
        .map(|n| n.parse().unwrap())
        .collect()
}

#[test]
fn mapping_settings_changed_during_a_run_apply_from_the_next_batch() {
    use std::time::Instant;
    use tributary_engine::{Command, Engine, Event};
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let n = 2_400u64;
    let lambda = |batch_size: u64, window: f64| {
        json!({"runtime": "python3.12", "handler": "app.handler", "code": SIZES_PY,
            "batch_size": batch_size, "maximum_batching_window_in_seconds": window})
    };
    let project = |config: Value| {
        let batch_size = config["batch_size"].as_u64().unwrap();
        let mut config = config;
        config["batch_size"] = json!(batch_size.max(1));
        let mut p = lambda_pipeline(n, config);
        // 400 records a second: a run of six seconds.
        p["nodes"][0]["config"]["rate_per_sec"] = json!(400.0);
        p["nodes"][0]["config"]["batch_size"] = json!(20);
        let mut p = tributary_engine::Project::from_json(&p.to_string()).unwrap();
        // The designer sends what the user typed, valid or not.
        for node in &mut p.nodes {
            if let tributary_engine::nodes::NodeConfig::Lambda(c) = &mut node.config {
                c.batch_size = batch_size as usize;
            }
        }
        Box::new(p)
    };
    let engine = Engine::spawn().unwrap();
    let load = |config: Value, revision: u64| {
        engine
            .send(Command::Load {
                project: project(config),
                base_dir: dir.path().to_path_buf(),
                revision,
            })
            .unwrap();
    };
    load(lambda(100, 1.0), 1);
    start_run(&engine);
    let mut log: Vec<String> = Vec::new();
    let mut summary = None;
    let mut changes = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while summary.is_none() {
        assert!(Instant::now() < deadline, "the run did not end: {log:?}");
        let Ok(ev) = engine.events().recv_timeout(Duration::from_millis(50)) else {
            continue;
        };
        match ev {
            Event::Log {
                node: Some(node),
                message,
                ..
            } if node == "enrich" => log.push(message),
            Event::RunFinished { summary: s, .. } => summary = Some(s),
            _ => {}
        }
        let seen = batch_sizes(&log).len();
        // After a few batches, an invalid change (kept out), then a valid one.
        if changes == 0 && seen >= 6 {
            load(lambda(0, 1.0), 2);
            changes = 1;
        } else if changes == 1 && seen >= 10 {
            load(lambda(5, 0.0), 3);
            changes = 2;
        }
    }
    let summary = summary.unwrap();
    assert!(
        summary
            .iter()
            .all(|s| s.status == tributary_engine::NodeStatus::Ok),
        "{summary:?}"
    );
    let text = log.join("\n");
    assert!(
        text.contains(
            "the changed settings are not valid, so the mapping keeps its current ones: batch_size"
        ),
        "{text}"
    );
    let at = log
        .iter()
        .position(|l| {
            l.contains("event source mapping updated during the run, from the next batch: batch_size 100 → 5, maximum_batching_window_in_seconds 1 → 0")
        })
        .unwrap_or_else(|| panic!("no update line: {text}"));
    let before = batch_sizes(&log[..at]);
    let after = batch_sizes(&log[at..]);
    assert!(
        before.iter().any(|&s| s > 20),
        "a one-second window gathers big batches: {before:?}"
    );
    // At most one batch per shard (4) was in flight with the old settings; a line a
    // busy machine reads late shows with the next invocation: 8 are allowed.
    assert!(after.len() > 16, "{after:?}");
    assert!(after[8..].iter().all(|&s| s <= 5), "{after:?}");
    // Nothing lost or repeated while the settings changed.
    let delivered = records_under(&dir.path().join("lake/out"));
    assert_eq!(delivered.len() as u64, n);
    assert_eq!(before.iter().chain(&after).sum::<usize>() as u64, n);
}

const STUCK_PY: &str = r#"
import base64, json

def handler(event, context):
    for r in event["Records"]:
        row = json.loads(base64.b64decode(r["kinesis"]["data"]))
        if row["event_id"] == 40:
            raise ValueError("record 40 never succeeds")
"#;

#[test]
fn a_batch_retried_until_its_records_expire_blocks_its_shard_only_and_the_iterator_age_grows() {
    use std::time::Instant;
    use tributary_engine::{Command, Engine, Event};
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    // AWS's default: retry until the records expire.
    let mut p = lambda_pipeline(
        100_000,
        json!({"runtime": "python3.12", "handler": "app.handler", "code": STUCK_PY,
            "batch_size": 10, "maximum_retry_attempts": -1}),
    );
    p["nodes"][0]["config"]["rate_per_sec"] = json!(200.0);
    p["nodes"][0]["config"]["batch_size"] = json!(10);
    let engine = Engine::spawn().unwrap();
    engine
        .send(Command::Load {
            project: Box::new(tributary_engine::Project::from_json(&p.to_string()).unwrap()),
            base_dir: dir.path().to_path_buf(),
            revision: 1,
        })
        .unwrap();
    start_run(&engine);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut ages, mut retries) = (Vec::new(), Vec::new());
    let mut stopped = false;
    // The Lambda's output count when the first retry was logged, and the last one.
    let (mut out_at_retry, mut out) = (None, 0);
    loop {
        assert!(Instant::now() < deadline, "{ages:?} {retries:?}");
        let Ok(ev) = engine.events().recv_timeout(Duration::from_millis(50)) else {
            continue;
        };
        match ev {
            Event::Metrics { node, sample, .. } if node == "enrich" => {
                ages.push(sample.lag_ms);
                out = sample.records_out;
            }
            Event::Log {
                node: Some(node),
                message,
                ..
            } if node == "enrich" && message.starts_with("retry ") => {
                out_at_retry.get_or_insert(out);
                retries.push(message);
            }
            Event::RunFinished { .. } => break,
            _ => {}
        }
        if !stopped && ages.last().is_some_and(|&a| a >= 2_000) {
            engine.send(Command::Stop).unwrap();
            stopped = true;
        }
    }
    assert!(stopped, "the iterator age never reached 2 s: {ages:?}");
    // The age grows while the batch is retried: each sample older than the one before.
    let growing = ages.windows(2).rev().take(2).all(|w| w[1] > w[0]);
    assert!(growing, "{ages:?}");
    assert!(retries.len() >= 3, "{retries:?}");
    // Only the failing batch's shard waits: the other three go on (200 records a second
    // in all, for about two seconds).
    let before = out_at_retry.unwrap();
    assert!(
        out > before + 100,
        "the other shards stopped too: {before} then {out}"
    );
    assert!(
        retries[0].contains("until the records expire")
            && retries[0].contains("the shard waits meanwhile: record 40 never succeeds"),
        "{}",
        retries[0]
    );
}

#[test]
fn a_batching_window_gathers_full_batches_or_sends_what_it_has_when_it_closes() {
    let run = |batch_size: u64, window: f64| {
        let dir = scratch();
        let mut p = lambda_pipeline(
            800,
            json!({"runtime": "python3.12", "handler": "app.handler", "code": SIZES_PY,
                "batch_size": batch_size, "maximum_batching_window_in_seconds": window}),
        );
        // 400 records a second over 4 shards: about 100 a second per shard.
        p["nodes"][0]["config"]["rate_per_sec"] = json!(400.0);
        p["nodes"][0]["config"]["batch_size"] = json!(10);
        let (logs, errors) = run_logged(dir.path(), &p);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(records_under(&dir.path().join("lake/out")).len(), 800);
        batch_sizes(&logs["enrich"])
    };
    // A batch fills (20 records) well within its window: every batch is full but the
    // last of each shard, sent when the stream ends.
    let sizes = run(20, 2.0);
    assert_eq!(sizes.iter().sum::<usize>(), 800);
    let partial = sizes.iter().filter(|&&s| s != 20).count();
    assert!(partial <= 4, "{sizes:?}");
    // The window (0.5 s) closes first: about 50 records per batch, never 1,000.
    let sizes = run(1_000, 0.5);
    assert_eq!(sizes.iter().sum::<usize>(), 800);
    assert!(sizes.len() >= 8, "{sizes:?}");
    // (A stalled machine gathers more in one window: the bound is loose, the median not.)
    assert!(sizes.iter().all(|&s| s < 400), "{sizes:?}");
    let mut sorted = sizes.clone();
    sorted.sort();
    assert!(sorted[sorted.len() / 2] <= 100, "{sizes:?}");
}

#[test]
fn the_python_lambda_example_enriches_clicks_and_isolates_the_bad_ones() {
    let dir = scratch();
    let text =
        std::fs::read_to_string(crate::support::repo_root().join("projects/lambda.json")).unwrap();
    let mut p: Value = serde_json::from_str(&text).unwrap();
    // As fast as it goes, and fewer clicks than the demo's 20,000.
    let n = 5_000u64;
    p["nodes"][0]["config"]["rate_per_sec"] = json!(0.0);
    p["nodes"][0]["config"]["count"] = json!(n);
    std::fs::create_dir_all(dir.path().join("lambda-lake")).unwrap();
    let (logs, errors) = run_logged(dir.path(), &p);
    assert!(errors.is_empty(), "{errors:?}");
    let delivered = records_under(&dir.path().join("lambda-lake/clicks"));
    let failed = records_under(&dir.path().join("lambda-lake/lambda-failures"));
    let bad: BTreeSet<i64> = (0..n as i64).filter(|i| i % 1000 == 999).collect();
    assert_eq!(ids(&failed), bad);
    assert_eq!(delivered.len() + failed.len(), n as usize);
    assert_eq!(ids(&delivered).len(), delivered.len(), "no duplicates");
    for f in &failed {
        let id = f["event_id"].as_i64().unwrap();
        assert_eq!(
            f["error_message"],
            format!("cannot enrich click {id}: malformed session")
        );
        assert_eq!(f["approximate_invoke_count"], 3, "the try and two retries");
        assert_eq!(f["batch_size"], 1, "bisected down to the record");
    }
    for r in &delivered {
        let page = r["page"].as_str().unwrap();
        let segment = if page == "/cart" || page == "/checkout" {
            "purchase_intent"
        } else {
            "browsing"
        };
        assert_eq!(r["segment"], segment, "{r}");
        assert!(r["shard"] == "shardId-000000000000" || r["shard"] == "shardId-000000000001");
    }
    assert!(
        logs["enrich"]
            .iter()
            .any(|l| l.contains("enriched 100 clicks")),
        "{:?}",
        &logs["enrich"][..10]
    );
}
