//! Lambda functions in the sandboxed script runtime: failing records bisected out,
//! endless scripts stopped, scripts that do not compile refused before the run.

use serde_json::{Value, json};

use crate::streaming::{pipeline, run};
use crate::support::*;

/// The pipeline with a script Lambda instead of SQL.
fn scripted(count: u64, script: &str, extra: Value) -> Value {
    let mut project = pipeline(count, "SELECT * FROM input");
    let mut config = json!({"runtime": "script", "script": script, "batch_size": 500,
        "batch_window_ms": 5, "retry_attempts": 2, "bisect_on_error": true});
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    project["nodes"][2]["config"] = config;
    project
}

#[test]
fn a_failing_script_record_goes_to_failed_after_retries_and_bisect_isolates_it() {
    let dir = scratch();
    let n = 5_000u64;
    let script = r#"
        if record.event_id % 1000 == 7 { throw "bad record " + record.event_id; }
        #{ event_id: record.event_id, page: record.page.to_upper(), user: record.user_id,
           at: record.event_time, shard_hint: record.event_id % 4 }
    "#;
    let extra = json!({"output_columns": ["event_id Int64", "page Utf8", "user Utf8",
        "at Timestamp", "shard_hint Int32"]});
    let summary = run(dir.path(), &scripted(n, script, extra));
    let delivered = records_under(&dir.path().join("lake/clicks"));
    let failed = records_under(&dir.path().join("lake/errors"));
    assert_eq!(delivered.len() as u64 + failed.len() as u64, n);
    assert_eq!(
        failed.len(),
        5,
        "bisect isolates exactly the failing records"
    );
    for f in &failed {
        let id = f["event_id"].as_i64().unwrap();
        assert_eq!(id % 1000, 7, "{f}");
        let msg = f["error_message"].as_str().unwrap();
        assert!(msg.contains(&format!("bad record {id}")), "{msg}");
    }
    // The declared output columns, with the script's values.
    let first = delivered.iter().find(|r| r["event_id"] == 0).unwrap();
    let keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(keys, ["event_id", "page", "user", "at", "shard_hint"]);
    assert!(delivered.iter().all(|r| {
        let p = r["page"].as_str().unwrap();
        p == p.to_uppercase() && p.starts_with('/')
    }));
    assert_eq!(first["at"], "2024-01-01T00:00:00");
    assert_eq!(summary.detail("enrich")["failed_records"], 5);
}

#[test]
fn an_endless_script_is_stopped_and_the_pipeline_goes_on() {
    let dir = scratch();
    let n = 300u64;
    // Endless for every 100th record only: the rest still flow.
    let script = "if record.event_id % 100 == 0 { loop { } } record";
    let extra = json!({"max_operations": 5000, "retry_attempts": 0});
    let summary = run(dir.path(), &scripted(n, script, extra));
    let delivered = records_under(&dir.path().join("lake/clicks"));
    let failed = records_under(&dir.path().join("lake/errors"));
    assert_eq!(delivered.len(), 297);
    assert_eq!(failed.len(), 3);
    let msg = failed[0]["error_message"].as_str().unwrap();
    assert!(
        msg.contains("stopped after 5000 operations") && msg.contains("endless loop"),
        "{msg}"
    );
    assert_eq!(summary.node("deliver")["records_out"], 297);
}

#[test]
fn a_script_that_does_not_compile_is_reported_before_the_run() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let path = dir.path().join("p.json");
    let project = scripted(10, "record.page = ;", json!({}));
    write(&path, serde_json::to_string_pretty(&project).unwrap());
    let out = cli_in(dir.path(), &["validate", path.to_str().unwrap()]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("enrich") && out.stderr.contains("script:"),
        "{out:?}"
    );
    // File access is not part of the sandbox: `import` resolves nothing.
    let project = scripted(10, r#"import "secrets" as s; record"#, json!({}));
    let run = try_run(dir.path(), "p.json", &project, &[]);
    let failed = records_under(&dir.path().join("lake/errors"));
    assert_eq!(failed.len(), 10, "{:?}", run.out);
    assert!(
        failed[0]["error_message"]
            .as_str()
            .unwrap()
            .contains("secrets"),
        "{}",
        failed[0]
    );
}
