//! Real-time pipelines: conservation, order per key, failures, replay, stop.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tributary_engine::{Command, Engine, Event, NodeStatus, Project, RunId, RunTarget};

use crate::support::*;

fn node(id: &str, kind: &str, config: Value) -> Value {
    json!({"id": id, "kind": kind, "name": id, "position": {"x": 0.0, "y": 0.0}, "config": config})
}

fn edge(from: &str, fp: &str, to: &str, tp: &str) -> Value {
    json!({"from": {"node": from, "port": fp}, "to": {"node": to, "port": tp}})
}

/// generator → stream (4 shards) → lambda → firehose; lambda.failed → errors firehose.
fn pipeline(count: u64, lambda_sql: &str) -> Value {
    json!({
        "format_version": 1,
        "nodes": [
            node("gen", "generator", json!({"event": "clickstream", "rate_per_sec": 0.0, "count": count, "keys": 50, "batch_size": 700, "seed": 7})),
            node("clicks", "stream", json!({"shards": 4, "partition_key": "user_id"})),
            node("enrich", "lambda", json!({"sql": lambda_sql, "batch_size": 2000, "batch_window_ms": 5})),
            node("lake", "bucket", json!({"path": "lake"})),
            node("deliver", "firehose", json!({"prefix": "clicks/", "format": "json", "compression": "gzip", "buffer_mb": 0.05})),
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

/// Every JSON record in the files under `dir`, files in name order.
fn records_under(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for f in files_under(dir) {
        let bytes = std::fs::read(dir.join(&f)).unwrap();
        let text = if f.ends_with(".gz") {
            use std::io::Read as _;
            let mut s = String::new();
            flate2::read::GzDecoder::new(bytes.as_slice())
                .read_to_string(&mut s)
                .unwrap();
            s
        } else {
            String::from_utf8(bytes).unwrap()
        };
        out.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    out
}

fn run(dir: &Path, project: &Value) -> Value {
    std::fs::create_dir_all(dir.join("lake")).unwrap();
    let path = dir.join("p.json");
    write(&path, serde_json::to_string_pretty(project).unwrap());
    let out = cli_in(dir, &["run", path.to_str().unwrap(), "--json"]);
    let summary: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    assert_eq!(summary["status"], "ok", "{out:?}");
    summary
}

fn node_summary<'a>(summary: &'a Value, id: &str) -> &'a Value {
    summary["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
        .unwrap()
}

const FAILING_SQL: &str = "SELECT event_id, user_id, page, event_time, \
     CAST(CASE WHEN event_id % 1000 = 7 THEN 'not a number' ELSE '1' END AS INT) AS one FROM input";

#[test]
fn every_record_is_delivered_or_failed_and_bisect_isolates_the_bad_ones() {
    let dir = scratch();
    let n = 20_000u64;
    let summary = run(dir.path(), &pipeline(n, FAILING_SQL));
    let delivered = records_under(&dir.path().join("lake/clicks"));
    let failed = records_under(&dir.path().join("lake/errors"));
    // Counted from the files on disk: nothing lost, nothing duplicated.
    assert_eq!(delivered.len() as u64 + failed.len() as u64, n);
    assert_eq!(
        failed.len(),
        20,
        "bisect isolates exactly the failing records"
    );
    for f in &failed {
        assert_eq!(f["event_id"].as_i64().unwrap() % 1000, 7, "{f}");
        let msg = f["error_message"].as_str().unwrap();
        assert!(msg.contains("not a number"), "{msg}");
    }
    let mut ids: Vec<i64> = delivered
        .iter()
        .map(|r| r["event_id"].as_i64().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len() as u64, n - 20);
    // Hour folders, UTC: clicks/YYYY/MM/dd/HH/object.
    let files = files_under(&dir.path().join("lake/clicks"));
    assert!(
        files
            .iter()
            .all(|f| f.split('/').count() == 5 && f.ends_with(".json.gz")),
        "{files:?}"
    );
    assert!(
        files.len() > 1,
        "the small buffer flushes several objects: {files:?}"
    );
    // No temporary files are left.
    assert!(
        files_under(&dir.path().join("lake"))
            .iter()
            .all(|f| !f.contains(".tmp"))
    );
    // The summary counts agree.
    assert_eq!(node_summary(&summary, "gen")["records_out"], n);
    assert_eq!(node_summary(&summary, "clicks")["records_out"], n);
    assert_eq!(node_summary(&summary, "enrich")["records_in"], n);
    assert_eq!(
        node_summary(&summary, "enrich")["stats"]["detail"]["failed_records"],
        20
    );
    assert_eq!(node_summary(&summary, "deliver")["records_out"], n - 20);
}

#[test]
fn order_per_key_is_kept_end_to_end() {
    let dir = scratch();
    run(dir.path(), &pipeline(15_000, "SELECT * FROM input"));
    let delivered = records_under(&dir.path().join("lake/clicks"));
    assert_eq!(delivered.len(), 15_000);
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    for r in &delivered {
        let user = r["user_id"].as_str().unwrap().to_owned();
        let id = r["event_id"].as_i64().unwrap();
        if let Some(prev) = last.insert(user.clone(), id) {
            assert!(id > prev, "user {user}: event {id} after {prev}");
        }
    }
    assert_eq!(last.len(), 50);
}

#[test]
fn a_second_reader_from_trim_horizon_sees_the_same_data_and_runs_repeat() {
    let dir = scratch();
    let mut project = pipeline(8_000, "SELECT event_id, user_id, page FROM input");
    // A second Firehose reads the same stream independently, from the start.
    project["nodes"].as_array_mut().unwrap().push(node(
        "replay",
        "firehose",
        json!({"prefix": "replay/", "format": "parquet", "buffer_mb": 1.0}),
    ));
    project["nodes"].as_array_mut().unwrap().push(node(
        "tap",
        "lambda",
        json!({"sql": "SELECT event_id, user_id, page FROM input"}),
    ));
    let edges = project["edges"].as_array_mut().unwrap();
    edges.push(edge("clicks", "records", "tap", "records"));
    edges.push(edge("tap", "records", "replay", "records"));
    edges.push(edge("lake", "objects", "replay", "target"));
    run(dir.path(), &project);
    let mut a: Vec<String> = records_under(&dir.path().join("lake/clicks"))
        .iter()
        .map(|r| r.to_string())
        .collect();
    a.sort();
    assert_eq!(a.len(), 8_000);
    // Read the Parquet copy back through a crawl and a query.
    crawl(
        dir.path(),
        &dir.path().join("lake"),
        &dir.path().join("c.json"),
    );
    let csv = cli_in(
        dir.path(),
        &[
            "query",
            "--catalog",
            "c.json",
            "--format",
            "json",
            "SELECT event_id, user_id, page FROM replay ORDER BY event_id",
        ],
    );
    assert_eq!(csv.code, 0, "{csv:?}");
    let rows: Vec<Value> = serde_json::from_str(&csv.stdout).unwrap();
    let mut b: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    b.sort();
    assert_eq!(b.len(), a.len());
    assert!(a == b, "the replayed copy differs");

    // The same seed gives the same events in a second run.
    let again = scratch();
    run(again.path(), &project);
    let mut c: Vec<String> = records_under(&again.path().join("lake/clicks"))
        .iter()
        .map(|r| r.to_string())
        .collect();
    c.sort();
    assert!(a == c, "a second run with the same seed differs");
}

#[test]
fn stopping_an_endless_stream_flushes_everything_it_accepted() {
    let dir = scratch();
    let mut project = pipeline(0, "SELECT * FROM input");
    project["nodes"][0]["config"]["rate_per_sec"] = json!(20_000.0);
    // A long buffer interval: only the stop flushes.
    project["nodes"][4]["config"]["buffer_interval_ms"] = json!(600_000);
    project["nodes"][4]["config"]["buffer_mb"] = json!(500.0);
    let project = Project::from_json(&project.to_string()).unwrap();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let engine = Engine::spawn().unwrap();
    engine
        .send(Command::Load {
            project: Box::new(project),
            base_dir: dir.path().to_path_buf(),
            revision: 1,
        })
        .unwrap();
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
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut saw_metrics = false;
    // Run until metrics show the pipeline moving, then stop.
    while Instant::now() < deadline && !saw_metrics {
        if let Ok(Event::Metrics { node, sample, .. }) =
            engine.events().recv_timeout(Duration::from_millis(100))
        {
            saw_metrics = node == "deliver" && sample.records_in > 0;
        }
    }
    assert!(saw_metrics, "no metrics arrived");
    engine.send(Command::Stop).unwrap();
    let mut finished = None;
    while Instant::now() < deadline + Duration::from_secs(20) {
        if let Ok(Event::RunFinished {
            status, summary, ..
        }) = engine.events().recv_timeout(Duration::from_millis(100))
        {
            finished = Some((status, summary));
            break;
        }
    }
    let (status, summary) = finished.expect("the run finished after the stop");
    assert_eq!(status, NodeStatus::Stopped);
    let generated = summary.iter().find(|s| s.id == "gen").unwrap().records_out;
    assert!(generated > 0);
    let delivered = records_under(&dir.path().join("lake/clicks")).len() as u64;
    assert_eq!(
        delivered, generated,
        "every generated record was delivered on stop"
    );
}

/// generator → stream → analytics (tumbling 10 s views per page) → Firehose, with the raw
/// stream and the late records delivered too.
fn windowed(count: u64, late_fraction: f64, out_of_orderness_ms: u64) -> Value {
    json!({
        "format_version": 1,
        "nodes": [
            node("gen", "generator", json!({"event": "clickstream", "rate_per_sec": 0.0, "count": count, "keys": 200,
                "late_fraction": late_fraction, "max_lateness_ms": 3000, "batch_size": 1000, "seed": 11})),
            node("clicks", "stream", json!({"shards": 2, "partition_key": "user_id"})),
            node("views", "analytics", json!({"time_column": "event_time", "window": "tumbling", "size_ms": 10000,
                "max_out_of_orderness_ms": out_of_orderness_ms, "late": "output",
                "sql": "SELECT page, COUNT(*) AS views FROM input GROUP BY page"})),
            node("lake", "bucket", json!({"path": "lake"})),
            node("raw_out", "firehose", json!({"prefix": "raw/", "format": "json"})),
            node("views_out", "firehose", json!({"prefix": "views/", "format": "json"})),
            node("late_out", "firehose", json!({"prefix": "late/", "format": "json"}))
        ],
        "edges": [
            edge("gen", "events", "clicks", "records"),
            edge("clicks", "records", "views", "records"),
            edge("clicks", "records", "raw_out", "records"),
            edge("lake", "objects", "raw_out", "target"),
            edge("views", "results", "views_out", "records"),
            edge("lake", "objects", "views_out", "target"),
            edge("views", "late", "late_out", "records"),
            edge("lake", "objects", "late_out", "target")
        ]
    })
}

#[test]
fn window_results_equal_a_batch_recomputation_over_the_delivered_files() {
    let dir = scratch();
    // 1 ms of event time per event: 45,000 events span 45 s, five 10 s windows, plus the
    // window before the start that the first late events fall into.
    let summary = run(dir.path(), &windowed(45_000, 0.02, 5_000));
    assert_eq!(
        node_summary(&summary, "views")["stats"]["detail"]["late_records"],
        0
    );
    assert_eq!(
        node_summary(&summary, "views")["stats"]["detail"]["windows"],
        6
    );
    crawl(
        dir.path(),
        &dir.path().join("lake"),
        &dir.path().join("c.json"),
    );
    let q = |sql: &str| {
        let out = cli_in(
            dir.path(),
            &["query", "--catalog", "c.json", "--format", "csv", sql],
        );
        assert_eq!(out.code, 0, "{out:?}");
        out.stdout
    };
    let streamed =
        q("SELECT window_start, window_end, page, views FROM views ORDER BY window_start, page");
    let batch = q(
        "SELECT date_bin(INTERVAL '10 seconds', event_time, TIMESTAMP '1970-01-01') AS window_start, \
         date_bin(INTERVAL '10 seconds', event_time, TIMESTAMP '1970-01-01') + INTERVAL '10 seconds' AS window_end, \
         page, COUNT(*) AS views FROM raw GROUP BY 1, 2, 3 ORDER BY window_start, page",
    );
    assert!(streamed.lines().count() > 5 * 8, "{streamed}");
    assert_eq!(streamed, batch);
}

#[test]
fn late_records_go_to_the_late_output() {
    let dir = scratch();
    let n = 30_000u64;
    let summary = run(dir.path(), &windowed(n, 0.05, 200));
    let late = node_summary(&summary, "views")["stats"]["detail"]["late_records"]
        .as_u64()
        .unwrap();
    assert!(late > 0, "some events are later than the allowed 200 ms");
    let late_files = records_under(&dir.path().join("lake/late"));
    assert_eq!(late_files.len() as u64, late);
    // Every event is either counted in a window or late.
    let views: u64 = records_under(&dir.path().join("lake/views"))
        .iter()
        .map(|r| r["views"].as_u64().unwrap())
        .sum();
    assert_eq!(views + late, n);
}
