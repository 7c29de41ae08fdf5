//! Injected faults (a node's Faults section): each kind, the pipeline's reaction, and the
//! conservation report balancing at the end.

use serde_json::{Value, json};

use crate::streaming::{edge, node};
use crate::support::{records_under, run_ok, scratch, try_run};

/// generator → stream → Lambda (Rhai) → Firehose `out/` (its failed output → `errors/`),
/// and the stream → Firehose `raw/`; `faults` per node id.
fn faulty_pipeline(n: u64, rate: f64, faults: &[(&str, Value)]) -> Value {
    let mut project = json!({
        "format_version": 2,
        "nodes": [
            node("gen", "generator", json!({"event": "clickstream", "rate_per_sec": rate,
                "count": n, "keys": 10, "batch_size": 100, "seed": 3})),
            node("clicks", "stream", json!({"shards": 2, "partition_key": "user_id"})),
            node("enrich", "lambda", json!({"runtime": "rhai", "batch_size": 100,
                "maximum_retry_attempts": 0, "bisect_batch_on_function_error": true,
                "script": "record"})),
            node("lake", "bucket", json!({"path": "lake"})),
            node("raw", "firehose", json!({"prefix": "raw/", "error_prefix": "raw-errors/"})),
            node("out", "firehose", json!({"prefix": "out/", "error_prefix": "out-errors/",
                "buffer_interval_ms": 60000})),
            node("errors", "firehose", json!({"prefix": "errors/", "error_prefix": "e-errors/"}))
        ],
        "edges": [
            edge("gen", "events", "clicks", "records"),
            edge("clicks", "records", "enrich", "records"),
            edge("clicks", "records", "raw", "records"),
            edge("enrich", "records", "out", "records"),
            edge("enrich", "failed", "errors", "records"),
            edge("lake", "objects", "raw", "target"),
            edge("lake", "objects", "out", "target"),
            edge("lake", "objects", "errors", "target")
        ]
    });
    for (id, f) in faults {
        let nodes = project["nodes"].as_array_mut().unwrap();
        let node = nodes.iter_mut().find(|n| n["id"] == *id).unwrap();
        node["faults"] = f.clone();
    }
    project
}

fn node_of<'a>(run: &'a Value, id: &str) -> &'a Value {
    run["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
        .unwrap()
}

fn ids(records: &[Value]) -> Vec<i64> {
    let mut v: Vec<i64> = records
        .iter()
        .map(|r| r["event_id"].as_i64().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn every_fault_kind_at_once_the_pipeline_survives_and_conservation_balances() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let n = 3_000u64;
    let project = faulty_pipeline(
        n,
        2_000.0,
        &[
            // Throttling bursts on the stream: half a second of refusals every second.
            (
                "clicks",
                json!({"throttle_every_s": 1.0, "throttle_for_s": 0.5}),
            ),
            // Poison records, added latency, one worker crash and throttling bursts in the
            // function.
            (
                "enrich",
                json!({"poison_where": "event_id % 100 = 7", "latency_ms": 20,
                    "crash_after_records": 500, "throttle_every_s": 1.0, "throttle_for_s": 0.3}),
            ),
            // Poison records in the raw Firehose, and S3 SlowDown on every other put of
            // the out Firehose.
            ("raw", json!({"poison_fraction": 0.05})),
            ("out", json!({"s3_slow_down_fraction": 0.5})),
        ],
    );
    let started = std::time::Instant::now();
    let run = run_ok(dir.path(), "p.json", &project, &[]).summary;
    let elapsed = started.elapsed();
    let warnings = run["warnings"].to_string();

    // The stream: the bursts refused puts, the generator's puts were retried, nothing lost.
    let stream = node_of(&run, "clicks");
    assert!(stream["throttled"].as_u64().unwrap() > 0, "{stream}");
    assert_eq!(stream["records_out"], n);

    // The function: exactly the poison records went to 'failed' (bisected down to one
    // record, no retries), everything else came out once; the crash was retried.
    let failed = records_under(&dir.path().join("lake/errors"));
    let poison: Vec<i64> = (0..n as i64).filter(|i| i % 100 == 7).collect();
    assert_eq!(ids(&failed), poison);
    assert!(
        failed
            .iter()
            .all(|r| r["error_type"] == "InjectedPoisonRecord"),
        "{:?}",
        failed[0]
    );
    let out = records_under(&dir.path().join("lake/out"));
    assert_eq!(out.len() as u64, n - poison.len() as u64);
    let enrich = node_of(&run, "enrich");
    let report = &enrich["stats"]["detail"];
    assert!(
        report["billed_duration_ms"].as_u64().unwrap()
            >= 20 * report["invocations"].as_u64().unwrap(),
        "the latency is billed: {report}"
    );
    assert!(report["throttles"].as_u64().unwrap() > 0, "{report}");
    assert!(
        warnings.contains("fault injected: worker crash after"),
        "{warnings}"
    );
    assert!(
        warnings.contains("fault injected: poison record at sequence number"),
        "{warnings}"
    );

    // The raw Firehose: ~5% poison under its error prefix as processing-failed, the rest
    // delivered; together every record once.
    let raw = records_under(&dir.path().join("lake/raw"));
    let errors = records_under(&dir.path().join("lake/raw-errors/processing-failed"));
    assert!(
        errors
            .iter()
            .all(|e| e["errorCode"] == "InjectedPoisonRecord")
    );
    let raw_failed = crate::support::raw_data(&errors);
    assert!(
        (50..300).contains(&raw_failed.len()),
        "{}",
        raw_failed.len()
    );
    let mut all = ids(&raw);
    all.extend(ids(&raw_failed));
    all.sort();
    assert_eq!(all, (0..n as i64).collect::<Vec<_>>());
    assert!(
        errors[0]["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("poison record"),
        "{}",
        errors[0]
    );

    // The out Firehose: SlowDown answers were retried every 5 s, as Firehose retries S3.
    assert!(
        warnings.contains("fault injected: S3 answered 503 SlowDown to a put"),
        "{warnings}"
    );
    assert!(
        elapsed.as_secs_f64() >= 5.0,
        "a retry waits 5 s: {elapsed:?}"
    );

    // Conservation: every flow out of the stream balances.
    let c = &run["conservation"];
    assert_eq!(c["balanced"], true, "{c}");
    let flows = c["flows"].as_array().unwrap();
    let flow = |reader: &str| {
        flows
            .iter()
            .find(|f| f["reader"] == reader)
            .unwrap()
            .clone()
    };
    assert_eq!(flow("enrich")["failed"], poison.len());
    assert_eq!(flow("enrich")["delivered"], n - poison.len() as u64);
    assert_eq!(flow("raw")["failed"], raw_failed.len());
}

#[test]
fn a_fault_on_a_kind_it_does_not_apply_to_is_named_before_the_run() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    for (id, faults, says) in [
        (
            "clicks",
            json!({"crash_after_records": 5}),
            "node 'clicks': config: faults.crash_after_records: crash_after_records does not apply to a stream node (it applies to lambda)",
        ),
        (
            "raw",
            json!({"throttle_every_s": 1.0}),
            "a throttling burst needs both throttle_every_s and throttle_for_s",
        ),
        (
            "enrich",
            json!({"poison_fraction": 1.5}),
            "faults.poison_fraction: 1.5 is not a fraction from 0 to 1",
        ),
    ] {
        crate::support::write(
            &dir.path().join("p.json"),
            faulty_pipeline(10, 0.0, &[(id, faults)]).to_string(),
        );
        let out = crate::support::cli_in(dir.path(), &["validate", "p.json"]);
        assert!(out.stderr.contains(says), "{says}: {}", out.stderr);
    }
    // A condition that does not plan against the records' columns fails the node, named.
    let project = faulty_pipeline(10, 0.0, &[("enrich", json!({"poison_where": "nope > 1"}))]);
    let run = try_run(dir.path(), "p.json", &project, &[]);
    let enrich = node_of(&run.summary, "enrich");
    assert!(
        enrich["error"]
            .as_str()
            .unwrap_or_default()
            .contains("faults.poison_where"),
        "{enrich}"
    );
}

const ECHO_PY: &str = r#"
import base64, json

def handler(event, context):
    return [json.loads(base64.b64decode(r["kinesis"]["data"])) for r in event["Records"]]
"#;

#[test]
fn a_crashed_python_worker_is_killed_replaced_and_its_batch_retried() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let n = 600u64;
    let project = json!({
        "format_version": 2,
        "nodes": [
            node("gen", "generator", json!({"event": "clickstream", "rate_per_sec": 0.0,
                "count": n, "keys": 20, "batch_size": 100, "seed": 8})),
            node("clicks", "stream", json!({"shards": 1, "partition_key": "user_id"})),
            {"id": "echo", "kind": "lambda", "name": "echo",
             "config": {"runtime": "python3.11", "handler": "app.handler", "code": ECHO_PY,
                "batch_size": 100, "maximum_retry_attempts": 2,
                "output_columns": ["event_id Int64", "user_id Utf8"]},
             "faults": {"crash_after_records": 250}},
            node("lake", "bucket", json!({"path": "lake"})),
            node("deliver", "firehose", json!({"prefix": "out/", "format": "json"}))
        ],
        "edges": [
            edge("gen", "events", "clicks", "records"),
            edge("clicks", "records", "echo", "records"),
            edge("echo", "records", "deliver", "records"),
            edge("lake", "objects", "deliver", "target")
        ]
    });
    let run = run_ok(dir.path(), "p.json", &project, &[]).summary;
    let echo = node_of(&run, "echo");
    let report = &echo["stats"]["detail"];
    // The worker was killed on the third batch: that invocation failed as a crashed
    // runtime does, a new worker started (a second cold start) and the retry went
    // through.
    assert_eq!(report["failed_invocations"], 1, "{report}");
    assert_eq!(report["cold_starts"], 2, "{report}");
    assert_eq!(report["failed_records"], 0, "{report}");
    let warnings = run["warnings"].to_string();
    assert!(
        warnings.contains("Runtime exited with error: signal: killed"),
        "{warnings}"
    );
    // Every record delivered once.
    let out = records_under(&dir.path().join("lake/out"));
    assert_eq!(ids(&out), (0..n as i64).collect::<Vec<_>>());
    assert_eq!(run["conservation"]["balanced"], true);
}
