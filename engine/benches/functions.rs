//! Lambda handler benchmark: `cargo bench -p tributary-engine --bench functions`.
//!
//! Needs a Python with `awslambdaric` (`TRIBUTARY_PYTHON`, as `scripts/test` sets up in
//! `target/tools/python`).
//!
//! 1. Invocation overhead: one warm worker, a handler that returns at once, 2,000
//!    invocations with a one-record event through the Runtime API: p50 / p99.
//! 2. Throughput: generator (as fast as possible) → stream (4 shards by user) → Lambda
//!    (`python3.11`, a handler that decodes each record and returns it) → table sink, with
//!    batch size 100 and 10,000: events per second over the whole run (cold starts
//!    included), median of 3 runs.
//! 3. The ceiling: the same handler called in a plain Python loop over the same number
//!    of events in batches of the same size, the Kinesis events built beforehand and
//!    not timed, one process. The ratio is throughput / ceiling.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tributary_engine::engine::run_project_blocking;
use tributary_engine::functions::{FunctionSpec, Language, Worker};
use tributary_engine::{Event, NodeStatus, Project, RunTarget};

const HANDLER: &str = r#"
import base64, json

def handler(event, context):
    out = []
    for r in event["Records"]:
        row = json.loads(base64.b64decode(r["kinesis"]["data"]))
        row["page"] = row["page"].upper()
        out.append(row)
    return out

def nothing(event, context):
    return None
"#;

/// The ceiling: the handler in a plain loop over prebuilt events like the clickstream's.
const CEILING: &str = r#"
import base64, json, sys, time, random
sys.path.insert(0, sys.argv[3])
from app import handler
n, size = int(sys.argv[1]), int(sys.argv[2])
random.seed(7)
pages = ["/", "/home", "/products", "/cart", "/checkout", "/search", "/account"]
def row(i):
    return {"event_id": i, "user_id": f"user-{random.randrange(10000)}",
            "page": random.choice(pages), "referrer": None,
            "event_time": "2024-01-01T00:00:00.001", "session_id": f"s-{i % 977}",
            "device": "mobile", "country": "DE", "duration_ms": 1234}
events = []
for start in range(0, n, size):
    recs = []
    for i in range(start, min(n, start + size)):
        recs.append({"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "user-1",
            "sequenceNumber": str(i), "approximateArrivalTimestamp": 1704067200.0,
            "data": base64.b64encode(json.dumps(row(i)).encode()).decode()},
            "eventSource": "aws:kinesis", "eventID": f"shardId-000000000000:{i}"})
    events.append({"Records": recs})
t = time.perf_counter()
for e in events:
    handler(e, None)
print(n / (time.perf_counter() - t))
"#;

fn python() -> PathBuf {
    std::env::var_os("TRIBUTARY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/python/bin/python")
        })
}

fn bench_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("code")).unwrap();
    std::fs::write(dir.join("code/app.py"), HANDLER).unwrap();
    dir
}

fn main() {
    // The Lambda node looks for `TRIBUTARY_PYTHON` first: the test venv.
    if std::env::var_os("TRIBUTARY_PYTHON").is_none() {
        // SAFETY: no other thread runs yet.
        unsafe { std::env::set_var("TRIBUTARY_PYTHON", python()) };
    }
    // `BENCH_CASES=overhead,100,10000` (the default) picks what to run.
    let cases = std::env::var("BENCH_CASES").unwrap_or_else(|_| "overhead,100,10000".to_owned());
    let cases: Vec<&str> = cases.split(',').collect();
    if cases.contains(&"overhead") {
        overhead();
    }
    for (size, events) in [(100usize, 1_000_000u64), (10_000, 2_000_000)] {
        if cases.contains(&size.to_string().as_str()) {
            throughput(size, events);
        }
    }
}

fn overhead() {
    let dir = bench_dir("bench-functions");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let spec = FunctionSpec {
            name: "bench".to_owned(),
            runtime: "python3.11".to_owned(),
            language: Language::Python,
            handler: "app.nothing".to_owned(),
            code_dir: dir.join("code"),
            paths: Vec::new(),
            environment: Default::default(),
            timeout: Duration::from_secs(3),
            memory_mb: 512,
            interpreter: python(),
            ric: None,
        };
        let mut w = Worker::start(spec).await.unwrap();
        let event = serde_json::json!({"Records": [{"kinesis": {"data": "e30="}}]});
        let _ = w.invoke("warm-up", &event).await.unwrap();
        let mut times = Vec::new();
        for i in 0..2_000 {
            let t = Instant::now();
            w.invoke(&format!("r{i}"), &event).await.unwrap().unwrap();
            times.push(t.elapsed());
        }
        times.sort();
        let p = |q: f64| times[((times.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e3;
        println!(
            "Runtime API round trip, warm worker, empty handler, 2,000 invocations: p50 {:.3} ms, p99 {:.3} ms",
            p(0.5),
            p(0.99)
        );
    });
}

fn pipeline(size: usize, events: u64, code: &Path) -> Project {
    let project = serde_json::json!({
        "format_version": 2,
        "nodes": [
            {"id": "gen", "kind": "generator", "config": {"event": "clickstream", "rate_per_sec": 0.0,
                "count": events, "keys": 10000, "batch_size": 2000}},
            {"id": "clicks", "kind": "stream", "config": {"shards": 4, "partition_key": "user_id"}},
            {"id": "fn", "kind": "lambda", "config": {"runtime": "python3.11", "handler": "app.handler",
                "code_path": code.to_str().unwrap(), "batch_size": size, "memory_size": 1024,
                "timeout": 60, "maximum_batching_window_in_seconds": 0.0}},
            {"id": "live", "kind": "table_sink", "config": {"rows": 100}}
        ],
        "edges": [
            {"from": {"node": "gen", "port": "events"}, "to": {"node": "clicks", "port": "records"}},
            {"from": {"node": "clicks", "port": "records"}, "to": {"node": "fn", "port": "records"}},
            {"from": {"node": "fn", "port": "records"}, "to": {"node": "live", "port": "records"}}
        ]
    });
    Project::from_json(&project.to_string()).expect("valid benchmark project")
}

fn throughput(size: usize, events: u64) {
    let mut whole = Vec::new();
    let mut warm = Vec::new();
    for _ in 0..3 {
        let dir = bench_dir("bench-functions");
        let project = pipeline(size, events, &dir.join("code"));
        // The Lambda node's output count, about once a second, with when it came.
        let mut samples: Vec<(Instant, u64)> = Vec::new();
        let t = Instant::now();
        let (status, summary) = run_project_blocking(project, dir.clone(), RunTarget::All, |ev| {
            if let Event::Metrics { node, sample, .. } = ev
                && node == "fn"
                && sample.records_out > 0
            {
                samples.push((Instant::now(), sample.records_out));
            }
        })
        .unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(status, NodeStatus::Ok, "{summary:?}");
        let out = summary.iter().find(|s| s.id == "live").unwrap();
        assert_eq!(out.stats.records_in, events, "every event came through");
        whole.push(events as f64 / secs);
        // Warm: from the first sample with output (the workers started) to the last.
        let (first, last) = (samples.first().unwrap(), samples.last().unwrap());
        assert!(samples.len() >= 3, "too short a run to see warm throughput");
        warm.push((last.1 - first.1) as f64 / last.0.duration_since(first.0).as_secs_f64());
    }
    whole.sort_by(f64::total_cmp);
    warm.sort_by(f64::total_cmp);
    let dir = bench_dir("bench-functions");
    // The ceiling's events are built in memory: 400,000 of them are plenty.
    let out = std::process::Command::new(python())
        .arg("-c")
        .arg(CEILING)
        .arg(events.min(400_000).to_string())
        .arg(size.to_string())
        .arg(dir.join("code"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ceiling: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    println!(
        "batch {size}, {events} events: warm {:.0} events/s through the Lambda node (runs {:.0} / {:.0} / {:.0}), whole run with cold starts {:.0} events/s; plain Python loop {ceiling:.0} events/s; ratio warm {:.2}, whole run {:.2}",
        warm[1],
        warm[0],
        warm[1],
        warm[2],
        whole[1],
        warm[1] / ceiling,
        whole[1] / ceiling
    );
}
