//! Streaming benchmark: `cargo bench -p tributary-engine --bench stream`.
//!
//! The clickstream pipeline with a SQL Lambda, end to end: generator (as fast as
//! possible) → stream (4 shards by user) → Lambda (SQL enrich) → Firehose (Parquet) →
//! bucket. Reports events per second over several runs (median), and the peak records
//! retained by the stream (memory stays bounded by its capacity).
//! `TRIBUTARY_BENCH_EVENTS` sets the events per run (default 2,000,000).
//!
//! Then latency: the same pipeline paced at 500,000 events/s (half the 1M/s target), with
//! wall-clock event times and a live table sink measuring event → sink latency per record
//! (p50 / p99 / max over 5 M events).
//!
//! `cargo bench -p tributary-engine --bench stream -- soak [seconds]` instead runs the
//! paced pipeline endlessly for the given time (default 600 s) and samples the process's
//! resident memory every 10 s: it must stay flat.
//!
//! `cargo bench -p tributary-engine --bench stream -- realism [runs]` runs the clickstream
//! pipeline at a rate under Kinesis's limits (3,000 events/s into 4 shards, 750 a shard,
//! 60,000 events) with AWS realism on and off, alternating (default 5 runs each): the wall
//! time to deliver every event and the CPU time the process spent, medians and ratios.
//!
//! `cargo bench -p tributary-engine --bench stream -- simulated [runs]` runs one
//! simulated hour at 1,000 events/s (3.6 M events, 2 shards, 10-second windows, two JSON
//! Firehoses) on a simulated clock as fast as possible, with AWS realism and without, and
//! the same records unpaced on the wall clock: median wall times and ratios.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tributary_engine::engine::run_project_blocking;
use tributary_engine::{NodeStatus, Project, RunTarget};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "soak") {
        let secs = args.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(600);
        soak(secs);
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "simulated") {
        let runs = args.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(5);
        simulated(runs);
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "realism") {
        let runs = args.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(5);
        realism(runs);
        return;
    }
    throughput();
    latency();
}

/// The paced pipeline: `count` events (0: endless) at 500,000/s with wall-clock times.
fn paced(count: u64) -> Project {
    let project = serde_json::json!({
        "format_version": 2,
        "nodes": [
            {"id": "gen", "kind": "generator", "config": {"event": "clickstream", "rate_per_sec": 500000.0,
                "count": count, "keys": 10000, "batch_size": 2000, "clock": "wall"}},
            {"id": "clicks", "kind": "stream", "config": {"shards": 4, "partition_key": "user_id"}},
            {"id": "enrich", "kind": "lambda", "config": {"batch_size": 10000, "maximum_batching_window_in_seconds": 0.002,
                "sql": "SELECT event_id, user_id, page, event_time, CASE WHEN page IN ('/cart', '/checkout') THEN 'purchase_intent' ELSE 'browse' END AS segment FROM input"}},
            {"id": "live", "kind": "table_sink", "config": {"rows": 1000, "latency_column": "event_time"}},
            {"id": "lake", "kind": "bucket", "config": {"path": "lake"}},
            {"id": "deliver", "kind": "firehose", "config": {"prefix": "clicks/", "format": "parquet", "buffer_mb": 64.0}}
        ],
        "edges": [
            {"from": {"node": "gen", "port": "events"}, "to": {"node": "clicks", "port": "records"}},
            {"from": {"node": "clicks", "port": "records"}, "to": {"node": "enrich", "port": "records"}},
            {"from": {"node": "enrich", "port": "records"}, "to": {"node": "live", "port": "records"}},
            {"from": {"node": "enrich", "port": "records"}, "to": {"node": "deliver", "port": "records"}},
            {"from": {"node": "lake", "port": "objects"}, "to": {"node": "deliver", "port": "target"}}
        ]
    });
    Project::from_json(&project.to_string()).expect("valid benchmark project")
}

fn bench_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("lake")).unwrap();
    dir
}

fn latency() {
    let mut p99s = Vec::new();
    for _ in 0..3 {
        let dir = bench_dir("bench-latency");
        let (status, summary) =
            run_project_blocking(paced(5_000_000), dir, RunTarget::All, |_| {}).unwrap();
        assert_eq!(status, NodeStatus::Ok, "{summary:?}");
        let live = summary.iter().find(|s| s.id == "live").unwrap();
        let l = &live
            .stats
            .report::<tributary_engine::nodes::table_sink::TableSinkReport>()
            .unwrap()
            .latency;
        println!(
            "paced at 500,000 events/s, event -> live sink latency over {} records: p50 {} ms, p99 {} ms, max {} ms",
            l["records"], l["p50_ms"], l["p99_ms"], l["max_ms"]
        );
        p99s.push(l["p99_ms"].as_u64().unwrap());
    }
    p99s.sort();
    println!(
        "latency p99, median of {} runs: {} ms",
        p99s.len(),
        p99s[p99s.len() / 2]
    );
}

/// The clickstream pipeline at 3,000 events/s into 4 shards (under their 4,000 a second),
/// with AWS realism `on` or off.
fn under_the_limits(on: bool) -> Project {
    let mut project = paced(60_000);
    project.aws_realism = on;
    for node in &mut project.nodes {
        if let tributary_engine::nodes::NodeConfig::Generator(g) = &mut node.config {
            g.rate_per_sec = 3_000.0;
            g.batch_size = 100;
        }
    }
    project
}

/// This process's user and system CPU time so far, in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn realism(runs: usize) {
    let mut wall = [Vec::new(), Vec::new()];
    let mut cpu = [Vec::new(), Vec::new()];
    for round in 0..runs {
        // Alternate which goes first: the machine is noisy.
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for on in order {
            let dir = bench_dir("bench-realism");
            let (cpu0, t0) = (cpu_seconds(), Instant::now());
            let (status, summary) =
                run_project_blocking(under_the_limits(on), dir, RunTarget::All, |_| {}).unwrap();
            let (secs, used) = (t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
            assert_eq!(status, NodeStatus::Ok, "{summary:?}");
            let clicks = summary.iter().find(|s| s.id == "clicks").unwrap();
            let throttled = clicks.stats.streaming.map_or(0, |t| t.throttled);
            let deliver = summary.iter().find(|s| s.id == "deliver").unwrap();
            assert_eq!(deliver.records_in, 60_000, "every event delivered");
            println!(
                "realism {}: {secs:.2} s wall, {used:.2} s CPU, {throttled} throttled",
                if on { "on " } else { "off" }
            );
            wall[on as usize].push(secs);
            cpu[on as usize].push(used);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (wall_off, wall_on) = (median(&mut wall[0]), median(&mut wall[1]));
    let (cpu_off, cpu_on) = (median(&mut cpu[0]), median(&mut cpu[1]));
    println!(
        "medians of {runs}: wall off {wall_off:.2} s, on {wall_on:.2} s (speed on/off {:.3}); CPU off {cpu_off:.2} s, on {cpu_on:.2} s (on/off {:.3})",
        wall_off / wall_on,
        cpu_on / cpu_off
    );
}

/// One hour of clicks at 1,000 events/s (3.6 million) through a stream of 2 shards into
/// 10-second windows and a JSON Firehose: on a simulated clock as fast as possible (with
/// AWS realism, as `tests/engine/clock.rs` runs it, and without), and unpaced on the wall
/// clock without realism (the engine's own speed over the same records).
fn simulated_hour(clock: &str, realism: bool) -> Project {
    let rate = if clock == "simulated" { 1000.0 } else { 0.0 };
    let project = serde_json::json!({
        "format_version": 2,
        "aws_realism": realism,
        "clock": clock,
        "nodes": [
            {"id": "gen", "kind": "generator", "config": {"event": "clickstream", "rate_per_sec": rate,
                "time_step_ms": 1.0, "count": 3_600_000, "batch_size": 1000,
                "start_time": "2024-01-01T00:30:00Z"}},
            {"id": "clicks", "kind": "stream", "config": {"shards": 2, "partition_key": "user_id"}},
            {"id": "per_10s", "kind": "analytics", "config": {"time_column": "event_time",
                "window": "tumbling", "size_ms": 10000, "max_out_of_orderness_ms": 1000,
                "sql": "SELECT COUNT(*) AS events FROM input"}},
            {"id": "lake", "kind": "bucket", "config": {"path": "lake"}},
            {"id": "deliver", "kind": "firehose", "config": {"prefix": "clicks/", "format": "json",
                "buffer_mb": 5.0, "buffer_interval_ms": 60000}},
            {"id": "windows", "kind": "firehose", "config": {"prefix": "windows/", "format": "json",
                "buffer_mb": 128.0, "buffer_interval_ms": 900000}}
        ],
        "edges": [
            {"from": {"node": "gen", "port": "events"}, "to": {"node": "clicks", "port": "records"}},
            {"from": {"node": "clicks", "port": "records"}, "to": {"node": "per_10s", "port": "records"}},
            {"from": {"node": "clicks", "port": "records"}, "to": {"node": "deliver", "port": "records"}},
            {"from": {"node": "lake", "port": "objects"}, "to": {"node": "deliver", "port": "target"}},
            {"from": {"node": "per_10s", "port": "results"}, "to": {"node": "windows", "port": "records"}},
            {"from": {"node": "lake", "port": "objects"}, "to": {"node": "windows", "port": "target"}}
        ]
    });
    Project::from_json(&project.to_string()).unwrap()
}

fn simulated(runs: usize) {
    let cases = [
        ("simulated, realism on", "simulated", true),
        ("simulated, realism off", "simulated", false),
        ("wall, unpaced, realism off", "wall", false),
    ];
    let mut wall: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for round in 0..runs {
        for i in 0..cases.len() {
            // Rotate the order: the machine is noisy.
            let (name, clock, realism) = cases[(i + round) % cases.len()];
            let dir = bench_dir("bench-simulated");
            std::fs::create_dir_all(dir.join("lake")).unwrap();
            let t0 = Instant::now();
            let (status, summary) =
                run_project_blocking(simulated_hour(clock, realism), dir, RunTarget::All, |_| {})
                    .unwrap();
            let secs = t0.elapsed().as_secs_f64();
            assert_eq!(status, NodeStatus::Ok, "{summary:?}");
            let windows = summary.iter().find(|s| s.id == "windows").unwrap();
            assert_eq!(windows.records_in, 360, "{name}: 360 windows");
            println!("{name}: {secs:.2} s wall");
            wall[(i + round) % cases.len()].push(secs);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let m: Vec<f64> = wall.iter_mut().map(median).collect();
    println!(
        "medians of {runs}: simulated hour with realism {:.2} s ({:.0}× real time), without {:.2} s, unpaced wall clock {:.2} s (simulated/unpaced {:.2})",
        m[0],
        3600.0 / m[0],
        m[1],
        m[2],
        m[1] / m[2]
    );
}

/// Resident memory of this process, in MB.
fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn soak(secs: u64) {
    use tributary_engine::{Command, Engine, Event, RunId};
    let dir = bench_dir("bench-soak");
    let engine = Engine::spawn().unwrap();
    engine
        .send(Command::Load {
            project: Box::new(paced(0)),
            base_dir: dir,
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
    let start = Instant::now();
    let mut next_sample = Duration::from_secs(10);
    let mut samples = Vec::new();
    let mut delivered = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        if let Ok(Event::Metrics { node, sample, .. }) =
            engine.events().recv_timeout(Duration::from_millis(100))
            && node == "deliver"
        {
            delivered = sample.records_in;
        }
        if start.elapsed() >= next_sample {
            let mb = rss_mb();
            println!(
                "{:>4} s  rss {mb:>7.1} MB  delivered {delivered}",
                next_sample.as_secs()
            );
            samples.push(mb);
            next_sample += Duration::from_secs(10);
        }
    }
    engine.send(Command::Stop).unwrap();
    while let Ok(ev) = engine.events().recv_timeout(Duration::from_secs(30)) {
        if matches!(ev, Event::RunFinished { .. }) {
            break;
        }
    }
    let first_minute = samples.iter().take(6).copied().fold(0.0, f64::max);
    let last_minute = samples.iter().rev().take(6).copied().fold(0.0, f64::max);
    println!(
        "soak {secs} s at 500,000 events/s: {delivered} delivered; peak RSS first minute {first_minute:.1} MB, last minute {last_minute:.1} MB (ratio {:.2})",
        last_minute / first_minute.max(1.0)
    );
}

fn throughput() {
    let events: u64 = std::env::var("TRIBUTARY_BENCH_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-stream");
    let project = serde_json::json!({
        "format_version": 2,
        "nodes": [
            {"id": "gen", "kind": "generator", "config": {"event": "clickstream", "rate_per_sec": 0.0, "count": events, "keys": 10000, "batch_size": 8192}},
            {"id": "clicks", "kind": "stream", "config": {"shards": 4, "partition_key": "user_id"}},
            {"id": "enrich", "kind": "lambda", "config": {"batch_size": 10000, "maximum_batching_window_in_seconds": 0.005,
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
