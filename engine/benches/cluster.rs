//! Cluster and broker benchmark:
//! `cargo build --release --workspace --bin tributary-cluster && cargo bench --workspace --bench cluster`
//! (`--workspace` both times, so DataFusion is built once with one feature set; the
//! broker part needs `redis-server` on the PATH).
//!
//! 1. The same 10,000,000-row aggregation (8 Parquet files, a GROUP BY over 20 groups)
//!    through a query node on `local` (embedded DataFusion) and on a Ballista cluster of
//!    one scheduler and two executors (one core each) on this machine. Median of 5 runs
//!    each, after a warm-up run; answers are checked equal.
//! 2. Broker throughput: 1,000,000 events put into a Redis stream, then read by a broker
//!    source (consumer group, acknowledgements) into a stream node and a table sink.
//!    Events/s, median of 3 runs.

#[path = "../../tests/engine/services.rs"]
#[allow(dead_code)]
mod services;

mod support {
    pub fn scratch() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("tributary-bench-")
            .tempdir()
            .unwrap()
    }
}

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tributary_engine::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use tributary_engine::arrow::datatypes::{DataType, Field, Schema};
use tributary_engine::datafusion::parquet::arrow::ArrowWriter;
use tributary_engine::engine::run_project_blocking;
use tributary_engine::{Event, NodeStatus, Project, RunTarget};

const ROWS: usize = 10_000_000;
const FILES: usize = 8;
const SQL: &str = "SELECT category, COUNT(*) AS n, SUM(amount) AS total, MIN(amount) AS lo, \
                   MAX(amount) AS hi, COUNT(DISTINCT user_id) AS users FROM sales GROUP BY category ORDER BY category";

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-cluster");
    let lake = dir.join("lake/sales");
    if !lake.join(format!("part-{}.parquet", FILES - 1)).exists() {
        write_sales(&lake);
    }
    let catalog = dir.join("catalog.json");
    crawl(&dir, &catalog);

    // Two executors of one core each: the machine's two cores, one per executor.
    let cluster = services::Cluster::start_with_cores(2, 1);
    let mut answers = Vec::new();
    for (env, scheduler) in [("local", None), ("cluster", Some(cluster.url.clone()))] {
        let project = query_project(&catalog, scheduler.as_deref());
        let _ = run_query(&project, &dir); // warm-up (file cache, connections)
        let mut times = Vec::new();
        let mut answer = String::new();
        for _ in 0..5 {
            let t = Instant::now();
            answer = run_query(&project, &dir);
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{ROWS} rows, GROUP BY on {env}: median {:.3} s (min {:.3}, max {:.3}) over 5 runs",
            times[2], times[0], times[4]
        );
        answers.push((env, times[2], answer));
    }
    assert_eq!(
        answers[0].2, answers[1].2,
        "local and cluster answers differ"
    );
    println!("{}", answers[0].2);
    println!(
        "cluster / local: {:.2}x; tasks per executor (their logs): {:?}",
        answers[1].1 / answers[0].1,
        cluster.tasks_per_executor()
    );
    drop(cluster);
    broker();
}

fn write_sales(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("user_id", DataType::Int64, false),
        Field::new("category", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, false),
    ]));
    let per_file = ROWS / FILES;
    for f in 0..FILES {
        let path = dir.join(format!("part-{f}.parquet"));
        let tmp = path.with_extension("tmp");
        let file = std::fs::File::create(&tmp).unwrap();
        let mut w = ArrowWriter::try_new(file, schema.clone(), None).unwrap();
        for chunk in 0..(per_file / 250_000) {
            let start = (f * per_file + chunk * 250_000) as i64;
            let ids: Vec<i64> = (start..start + 250_000).collect();
            let users: Vec<i64> = ids.iter().map(|i| (i * 7_919) % 100_000).collect();
            let cats: Vec<String> = ids
                .iter()
                .map(|i| format!("cat-{:02}", (i * 31) % 20))
                .collect();
            // Integral cents, so sums are exact in any order.
            let amounts: Vec<f64> = ids
                .iter()
                .map(|i| ((i * 37) % 10_000) as f64 / 4.0)
                .collect();
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(ids)),
                    Arc::new(Int64Array::from(users)),
                    Arc::new(StringArray::from(cats)),
                    Arc::new(Float64Array::from(amounts)),
                ],
            )
            .unwrap();
            w.write(&batch).unwrap();
        }
        w.close().unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }
}

fn run(project: serde_json::Value, dir: &Path, mut on: impl FnMut(&Event)) {
    let project = Project::from_json(&project.to_string()).expect("valid project");
    let (status, summary) =
        run_project_blocking(project, dir.to_path_buf(), RunTarget::All, |e| on(e)).unwrap();
    assert_eq!(status, NodeStatus::Ok, "{summary:?}");
}

fn crawl(dir: &Path, catalog: &Path) {
    run(
        serde_json::json!({"format_version": 1, "nodes": [
            {"id": "lake", "kind": "bucket", "config": {"path": "lake"}},
            {"id": "crawl", "kind": "crawler", "config": {}},
            {"id": "catalog", "kind": "catalog", "config": {"path": catalog.to_str().unwrap()}}],
         "edges": [
            {"from": {"node": "lake", "port": "objects"}, "to": {"node": "crawl", "port": "source"}},
            {"from": {"node": "crawl", "port": "tables"}, "to": {"node": "catalog", "port": "crawlers"}}]}),
        dir,
        |_| {},
    );
}

fn query_project(catalog: &Path, scheduler: Option<&str>) -> serde_json::Value {
    let mut p = serde_json::json!({"format_version": 1, "nodes": [
        {"id": "catalog", "kind": "catalog", "config": {"path": catalog.to_str().unwrap()}},
        {"id": "q", "kind": "query", "config": {"sql": SQL}}],
     "edges": [{"from": {"node": "catalog", "port": "catalog"}, "to": {"node": "q", "port": "catalog"}}]});
    if let Some(s) = scheduler {
        p["environments"] = serde_json::json!({"cluster": {"scheduler": s}});
        p["environment"] = "cluster".into();
    }
    p
}

fn run_query(project: &serde_json::Value, dir: &Path) -> String {
    let mut text = String::new();
    run(project.clone(), dir, |e| {
        if let Event::Preview { batches, .. } = e {
            text = tributary_engine::arrow::util::pretty::pretty_format_batches(batches)
                .unwrap()
                .to_string();
        }
    });
    text
}

fn broker() {
    let redis = services::Redis::start();
    let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-broker");
    std::fs::create_dir_all(&dir).unwrap();
    let n = 1_000_000u64;
    let mut rates = Vec::new();
    for i in 0..3 {
        let key = format!("bench-{i}");
        let t = Instant::now();
        run(
            serde_json::json!({"format_version": 1, "nodes": [
                {"id": "gen", "kind": "generator", "config": {"event": "clickstream", "rate_per_sec": 0.0,
                    "count": n, "keys": 1000, "batch_size": 5000}},
                {"id": "out", "kind": "broker_sink", "config": {"url": redis.url(), "stream": key}}],
             "edges": [{"from": {"node": "gen", "port": "events"}, "to": {"node": "out", "port": "records"}}]}),
            &dir,
            |_| {},
        );
        let put = t.elapsed().as_secs_f64();
        let t = Instant::now();
        run(
            serde_json::json!({"format_version": 1, "nodes": [
                {"id": "src", "kind": "broker_source", "config": {"url": redis.url(), "stream": key,
                    "columns": ["event_id Int64 NOT NULL", "user_id Utf8", "page Utf8", "event_time Timestamp"],
                    "batch_size": 5000, "max_records": n}},
                {"id": "clicks", "kind": "stream", "config": {"shards": 4, "partition_key": "user_id"}},
                {"id": "live", "kind": "table_sink", "config": {"rows": 100}}],
             "edges": [
                {"from": {"node": "src", "port": "records"}, "to": {"node": "clicks", "port": "records"}},
                {"from": {"node": "clicks", "port": "records"}, "to": {"node": "live", "port": "records"}}]}),
            &dir,
            |_| {},
        );
        let get = t.elapsed().as_secs_f64();
        println!(
            "broker: {n} events put by a broker sink at {:.0}/s; broker source -> stream -> sink at {:.0} events/s",
            n as f64 / put,
            n as f64 / get
        );
        rates.push(n as f64 / get);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "broker source -> stream node: median {:.0} events/s over 3 runs",
        rates[1]
    );

    // The stream node itself backed by the broker: every record goes through XADD and
    // back through XREADGROUP/XACK.
    let mut rates = Vec::new();
    for i in 0..3 {
        let t = Instant::now();
        run(
            serde_json::json!({"format_version": 1,
             "environments": {"redis": {"broker": redis.url()}}, "environment": "redis",
             "nodes": [
                {"id": "gen", "kind": "generator", "config": {"event": "clickstream", "rate_per_sec": 0.0,
                    "count": n, "keys": 1000, "batch_size": 5000}},
                {"id": "clicks", "kind": "stream", "config": {"shards": 4, "partition_key": "user_id",
                    "broker_key": format!("bench-stream-{i}")}},
                {"id": "live", "kind": "table_sink", "config": {"rows": 100}}],
             "edges": [
                {"from": {"node": "gen", "port": "events"}, "to": {"node": "clicks", "port": "records"}},
                {"from": {"node": "clicks", "port": "records"}, "to": {"node": "live", "port": "records"}}]}),
            &dir,
            |_| {},
        );
        let rate = n as f64 / t.elapsed().as_secs_f64();
        println!(
            "generator -> stream node backed by the broker (4 shards) -> sink: {rate:.0} events/s"
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "broker-backed stream node: median {:.0} events/s over 3 runs",
        rates[1]
    );
}
