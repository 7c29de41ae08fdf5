//! AWS endpoint benchmark: `cargo bench -p tributary-engine --bench wire`.
//!
//! Needs a Python with boto3 (`TRIBUTARY_PYTHON`, as `scripts/test` sets up in
//! `target/tools/python`). For the peer, moto's server mode (`pip install "moto[server]"`)
//! at `BENCH_MOTO_SERVER` or `target/tools/moto/bin/moto_server`; without it the peer
//! is skipped.
//!
//! 1. Tributary: a served stream (2 shards, typed columns, a live table reading it)
//!    takes PutRecords of 500 records from `BENCH_PROCESSES` boto3 client processes
//!    (default 2), each sending `BENCH_REQUESTS` calls (default 40): records accepted per
//!    second and the p50/p99 request latency, median of 3 loads.
//! 2. The peer: the same clients against moto's server (a 2-shard stream).
//! 3. The ceiling: the in-process generator into the same stream and table, no HTTP.

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tributary_engine::aws::ServeOptions;
use tributary_engine::engine::run_project_blocking;
use tributary_engine::{Command, Engine, Event, NodeStatus, Project, RunId, RunTarget};

fn python() -> PathBuf {
    std::env::var_os("TRIBUTARY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/tools/python/bin/python"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const COLUMNS: [&str; 4] = [
    "event_id Int64 NOT NULL",
    "user_id Utf8",
    "page Utf8",
    "amount Float64",
];

fn node(id: &str, kind: &str, config: Value) -> Value {
    json!({"id": id, "kind": kind, "name": id, "position": {"x": 0.0, "y": 0.0}, "config": config})
}

fn edge(from: &str, fp: &str, to: &str, tp: &str) -> Value {
    json!({"from": {"node": from, "port": fp}, "to": {"node": to, "port": tp}})
}

/// The served pipeline: API → stream → live table.
fn served_project() -> Project {
    let p = json!({
        "format_version": 2,
        "nodes": [
            node("clicks", "stream", json!({"shards": 2, "columns": COLUMNS})),
            node("live", "table_sink", json!({"rows": 100}))
        ],
        "edges": [edge("clicks", "records", "live", "records")]
    });
    Project::from_json(&p.to_string()).unwrap()
}

/// One load from the client processes: (records/s, p50 ms, p99 ms).
fn load(endpoint: &str, processes: usize, requests: usize) -> (f64, f64, f64) {
    let out = Process::new(python())
        .arg(repo().join("engine/benches/wire_client.py"))
        .args([
            endpoint,
            "clicks",
            &processes.to_string(),
            &requests.to_string(),
            "500",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["failed"], 0, "{v}");
    (
        v["records_per_sec"].as_f64().unwrap(),
        v["p50_ms"].as_f64().unwrap(),
        v["p99_ms"].as_f64().unwrap(),
    )
}

fn median(mut v: Vec<(f64, f64, f64)>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v[v.len() / 2]
}

fn tributary(processes: usize, requests: usize) -> (f64, f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::spawn().unwrap();
    engine
        .send(Command::Serve(Some(ServeOptions {
            address: "127.0.0.1:0".parse().unwrap(),
            ..Default::default()
        })))
        .unwrap();
    let address = loop {
        if let Ok(Event::Serving { address, error }) =
            engine.events().recv_timeout(Duration::from_secs(10))
        {
            break address.unwrap_or_else(|| panic!("{error:?}"));
        }
    };
    engine
        .send(Command::Load {
            project: Box::new(served_project()),
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
    loop {
        if let Ok(Event::Log { message, .. }) =
            engine.events().recv_timeout(Duration::from_secs(10))
            && message.starts_with("served as")
        {
            break;
        }
    }
    // Drain events while the clients run, so the engine never waits on us.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let results = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = engine.events().recv_timeout(Duration::from_millis(50));
            }
        });
        let url = format!("http://{address}");
        let r: Vec<_> = (0..3).map(|_| load(&url, processes, requests)).collect();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        r
    });
    engine.send(Command::Stop).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Event::RunFinished { summary, .. }) =
            engine.events().recv_timeout(Duration::from_millis(100))
        {
            let stream = summary.iter().find(|s| s.id == "clicks").unwrap();
            assert_eq!(
                stream.records_out as usize,
                3 * processes * requests * 500,
                "every record accepted is in the stream"
            );
            break;
        }
    }
    median(results)
}

fn moto(processes: usize, requests: usize) -> Option<(f64, f64, f64)> {
    let server = std::env::var_os("BENCH_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/tools/moto/bin/moto_server"));
    if !server.exists() {
        eprintln!(
            "moto_server not found at {}: the peer is skipped",
            server.display()
        );
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Process::new(&server)
        .args(["-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let create = format!(
        "import boto3,time\nfor _ in range(100):\n  try:\n    boto3.client('kinesis',endpoint_url='{url}',region_name='us-east-1',aws_access_key_id='test',aws_secret_access_key='test').create_stream(StreamName='clicks',ShardCount=2); break\n  except Exception: time.sleep(0.1)\n"
    );
    let ok = Process::new(python())
        .args(["-c", &create])
        .status()
        .unwrap();
    assert!(ok.success());
    let r: Vec<_> = (0..3).map(|_| load(&url, processes, requests)).collect();
    let _ = child.kill();
    let _ = child.wait();
    Some(median(r))
}

/// The in-process ceiling: the generator into the same stream and table.
fn ceiling() -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let n = 1_000_000u64;
    let p = json!({
        "format_version": 2,
        "nodes": [
            node("gen", "generator", json!({"event": "clickstream", "count": n,
                "rate_per_sec": 0.0, "batch_size": 500})),
            node("clicks", "stream", json!({"shards": 2, "partition_key": "user_id"})),
            node("live", "table_sink", json!({"rows": 100}))
        ],
        "edges": [edge("gen", "events", "clicks", "records"),
                  edge("clicks", "records", "live", "records")]
    });
    let t = Instant::now();
    let (status, _) = run_project_blocking(
        Project::from_json(&p.to_string()).unwrap(),
        dir.path().to_path_buf(),
        RunTarget::All,
        |_| {},
    )
    .unwrap();
    assert_eq!(status, NodeStatus::Ok);
    n as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let processes = env_usize("BENCH_PROCESSES", 2);
    let requests = env_usize("BENCH_REQUESTS", 40);
    println!(
        "PutRecords of 500 records from {processes} boto3 processes x {requests} calls, median of 3 loads"
    );
    let (rate, p50, p99) = tributary(processes, requests);
    println!("tributary            {rate:>10.0} records/s   p50 {p50:>7.1} ms   p99 {p99:>7.1} ms");
    if let Some((m, m50, m99)) = moto(processes, requests.min(10)) {
        println!(
            "moto server          {m:>10.0} records/s   p50 {m50:>7.1} ms   p99 {m99:>7.1} ms"
        );
        println!("ratio tributary / moto: {:.1}x", rate / m);
    }
    let c = ceiling();
    println!("in-process generator {c:>10.0} records/s (the ceiling, no HTTP)");
}
