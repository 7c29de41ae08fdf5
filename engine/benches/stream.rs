//! Streaming benchmark: `cargo bench -p tributary-engine --bench stream`.
//!
//! The clickstream pipeline with a SQL Lambda, end to end: generator (as fast as
//! possible) → stream (4 shards by user) → Lambda (SQL enrich) → Firehose (Parquet) →
//! bucket. Reports events per second over several runs (median), and the peak records
//! retained by the stream (memory stays bounded by its capacity).
//! `TRIBUTARY_BENCH_EVENTS` sets the events per run (default 2,000,000).

use std::path::Path;
use std::time::{Duration, Instant};

use tributary_engine::engine::run_project_blocking;
use tributary_engine::{NodeStatus, Project, RunTarget};

fn main() {
    let events: u64 = std::env::var("TRIBUTARY_BENCH_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-stream");
    let project = serde_json::json!({
        "format_version": 1,
        "nodes": [
            {"id": "gen", "kind": "generator", "config": {"event": "clickstream", "rate_per_sec": 0.0, "count": events, "keys": 10000, "batch_size": 8192}},
            {"id": "clicks", "kind": "stream", "config": {"shards": 4, "partition_key": "user_id"}},
            {"id": "enrich", "kind": "lambda", "config": {"batch_size": 65536, "batch_window_ms": 5,
                "sql": "SELECT event_id, user_id, page, event_time, CASE WHEN page IN ('/cart', '/checkout') THEN 'purchase_intent' ELSE 'browse' END AS segment FROM input"}},
            {"id": "lake", "kind": "bucket", "config": {"path": "lake"}},
            {"id": "deliver", "kind": "firehose", "config": {"prefix": "clicks/", "format": "parquet", "buffer_mb": 64.0}}
        ],
        "edges": [
            {"from": {"node": "gen", "port": "events"}, "to": {"node": "clicks", "port": "records"}},
            {"from": {"node": "clicks", "port": "records"}, "to": {"node": "enrich", "port": "records"}},
            {"from": {"node": "enrich", "port": "records"}, "to": {"node": "deliver", "port": "records"}},
            {"from": {"node": "lake", "port": "objects"}, "to": {"node": "deliver", "port": "target"}}
        ]
    });
    let project = Project::from_json(&project.to_string()).expect("valid benchmark project");
    let mut rates = Vec::new();
    for _ in 0..5 {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("lake")).unwrap();
        let start = Instant::now();
        let (status, summary) =
            run_project_blocking(project.clone(), dir.clone(), RunTarget::All, |_| {}).unwrap();
        let elapsed = start.elapsed();
        assert_eq!(status, NodeStatus::Ok, "{summary:?}");
        let delivered = summary
            .iter()
            .find(|s| s.id == "deliver")
            .unwrap()
            .records_out;
        assert_eq!(delivered, events);
        rates.push(events as f64 / elapsed.as_secs_f64());
        std::thread::sleep(Duration::from_millis(200));
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "clickstream pipeline, {events} events: median {:.0} events/s (min {:.0}, max {:.0}) over {} runs",
        rates[rates.len() / 2],
        rates[0],
        rates[rates.len() - 1],
        rates.len()
    );
}
