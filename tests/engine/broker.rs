//! External stream broker (Redis Streams, a real `redis-server` on loopback): the broker
//! source and sink, and the stream node backed by the broker, deliver at least once
//! across a restart of Tributary and of the broker.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::services::Redis;
use crate::streaming::{edge, ids_under, node};
use crate::support::*;

fn count(redis: &Redis, args: &[&str]) -> u64 {
    let reply = redis.cmd(args);
    reply
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{args:?} gave {reply}"))
}

const CLICK_COLUMNS: &[&str] = &[
    "event_id Int64 NOT NULL",
    "user_id Utf8",
    "page Utf8",
    "event_time Timestamp",
];

/// broker source (group `loaders`) → Firehose (JSON) into `lake/loaded/`.
fn loader(url: &str) -> Value {
    json!({
        "format_version": 1,
        "nodes": [
            node("redis", "broker_source", json!({"url": url, "stream": "clicks", "group": "loaders",
                "columns": CLICK_COLUMNS, "batch_size": 500, "idle_timeout_ms": 1500})),
            node("lake", "bucket", json!({"path": "lake"})),
            node("load", "firehose", json!({"prefix": "loaded/", "format": "json", "buffer_interval_ms": 100})),
            node("bad", "firehose", json!({"prefix": "bad/", "format": "json", "buffer_interval_ms": 100}))
        ],
        "edges": [
            edge("redis", "records", "load", "records"),
            edge("lake", "objects", "load", "target"),
            edge("redis", "failed", "bad", "records"),
            edge("lake", "objects", "bad", "target")
        ]
    })
}

#[test]
fn source_and_sink_deliver_everything_across_a_tributary_restart() {
    let redis = Redis::start();
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let n = 60_000u64;
    // Produce: generator → broker sink.
    let producer = json!({
        "format_version": 1,
        "nodes": [
            node("gen", "generator", json!({"event": "clickstream", "rate_per_sec": 0.0, "count": n,
                "keys": 100, "batch_size": 1000, "seed": 11})),
            node("out", "broker_sink", json!({"url": redis.url(), "stream": "clicks"}))
        ],
        "edges": [edge("gen", "events", "out", "records")]
    });
    let run = run_ok(dir.path(), "produce.json", &producer, &[]);
    assert_eq!(count(&redis, &["XLEN", "clicks"]), n, "{:?}", run.out);
    // Two entries another producer wrote: one with a field per column, one that is bad.
    redis.cmd(&[
        "XADD",
        "clicks",
        "*",
        "event_id",
        "1000000",
        "user_id",
        "u-x",
        "page",
        "/x",
        "event_time",
        "2026-11-26T10:00:00",
    ]);
    redis.cmd(&[
        "XADD",
        "clicks",
        "*",
        "data",
        "{\"event_id\": \"not a number\"}",
    ]);

    // Consume, and kill the consumer (SIGKILL) part way.
    let path = dir.path().join("load.json");
    write(
        &path,
        serde_json::to_string_pretty(&loader(&redis.url())).unwrap(),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_tributary-cli"))
        .args(["run", path.to_str().unwrap(), "--json"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while files_under(&dir.path().join("lake/loaded")).len() < 3 {
        assert!(Instant::now() < deadline, "nothing was delivered");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before the kill"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (before, _) = ids_under(&dir.path().join("lake/loaded"));
    assert!(
        (before.len() as u64) < n,
        "killed mid-run: {} delivered",
        before.len()
    );
    // What it had read but not acknowledged is pending in the group.
    let pending_after_kill = redis.cmd(&["XPENDING", "clicks", "loaders"]);

    // Restart: the group resumes, pending entries first.
    let run = run_ok(dir.path(), "load.json", &loader(&redis.url()), &[]);
    let (ids, dups) = ids_under(&dir.path().join("lake/loaded"));
    assert_eq!(ids.len() as u64, n + 1, "lost {}", n + 1 - ids.len() as u64);
    assert_eq!(*ids.first().unwrap(), 0);
    assert!(ids.contains(&1_000_000));
    eprintln!(
        "broker source: {n} records, {dups} duplicates after a kill; pending at the kill: {pending_after_kill:?}"
    );
    // Only entries read but not acknowledged at the kill can come twice.
    let pending_at_kill: usize = pending_after_kill.lines().next().unwrap().parse().unwrap();
    assert!(
        dups <= pending_at_kill,
        "{dups} duplicates, {pending_at_kill} pending"
    );
    // Everything is acknowledged now.
    let pending = redis.cmd(&["XPENDING", "clicks", "loaders"]);
    assert!(pending.starts_with('0'), "still pending: {pending}");
    // The bad entry went to `failed`, with its text and the reason.
    let bad = records_under(&dir.path().join("lake/bad"));
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0]["record"].as_str().unwrap().contains("not a number"));
    assert!(
        bad[0]["error"]
            .as_str()
            .unwrap()
            .contains("field 'event_id'"),
        "{}",
        bad[0]["error"]
    );
    let load = run.node("redis");
    assert!(load["records_out"].as_u64().unwrap() > 0, "{load}");
}

#[test]
fn a_broker_backed_stream_loses_nothing_when_the_broker_restarts_mid_run() {
    let mut redis = Redis::start();
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let n = 100_000u64;
    let project = json!({
        "format_version": 1,
        "environments": {"redis": {"broker": redis.url()}},
        "nodes": [
            node("gen", "generator", json!({"event": "clickstream", "rate_per_sec": 20000.0, "count": n,
                "keys": 300, "batch_size": 500, "seed": 3})),
            node("clicks", "stream", json!({"shards": 3, "partition_key": "user_id"})),
            node("lake", "bucket", json!({"path": "lake"})),
            node("deliver", "firehose", json!({"prefix": "clicks/", "format": "json", "buffer_interval_ms": 100}))
        ],
        "edges": [
            edge("gen", "events", "clicks", "records"),
            edge("clicks", "records", "deliver", "records"),
            edge("lake", "objects", "deliver", "target")
        ]
    });
    let path = dir.path().join("p.json");
    write(&path, serde_json::to_string_pretty(&project).unwrap());
    let child = Command::new(env!("CARGO_BIN_EXE_tributary-cli"))
        .args(["run", path.to_str().unwrap(), "--json", "--env", "redis"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once records flow through the broker, kill it and bring it back a second later.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stored: u64 = (0..3)
            .map(|s| count(&redis, &["XLEN", &format!("tributary:clicks:{s}")]))
            .sum();
        if stored > 20_000 {
            break;
        }
        assert!(Instant::now() < deadline, "nothing reached the broker");
        std::thread::sleep(Duration::from_millis(20));
    }
    let delivered_before = ids_under(&dir.path().join("lake/clicks")).0.len() as u64;
    redis.restart(Duration::from_secs(1));
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(summary["status"], "ok", "{summary}");
    assert!(delivered_before < n, "the restart came after the end");

    let (ids, dups) = ids_under(&dir.path().join("lake/clicks"));
    if ids.len() as u64 != n {
        // Say where the lost records are: in the broker (not read back) or not.
        let missing: Vec<i64> = (0..n as i64).filter(|i| !ids.contains(i)).collect();
        let mut in_broker = Vec::new();
        for s in 0..3 {
            let all = redis.cmd(&["XRANGE", &format!("tributary:clicks:{s}"), "-", "+"]);
            in_broker.extend(
                missing
                    .iter()
                    .filter(|m| all.contains(&format!("\"event_id\":{m},")))
                    .map(|m| (s, *m)),
            );
        }
        panic!(
            "lost {} records {missing:?}; (shard, id) of those in the broker: {in_broker:?}",
            missing.len()
        );
    }
    assert_eq!(ids.len() as u64, n, "lost {}", n - ids.len() as u64);
    assert_eq!(*ids.last().unwrap(), n as i64 - 1);
    eprintln!("broker-backed stream: {n} records, {dups} duplicates across a broker restart");
    assert!(dups < 20_000, "{dups} duplicates");
    // The shards are Redis streams that hold every record (plus any stored twice).
    let stored: u64 = (0..3)
        .map(|s| count(&redis, &["XLEN", &format!("tributary:clicks:{s}")]))
        .sum();
    assert!(stored >= n, "{stored} entries in the broker");
    let pending: u64 = (0..3)
        .map(|s| {
            redis
                .cmd(&["XPENDING", &format!("tributary:clicks:{s}"), "tributary"])
                .lines()
                .next()
                .unwrap_or("0")
                .parse::<u64>()
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(pending, 0, "entries left unacknowledged");
}

#[test]
fn an_injected_broker_disconnect_is_reconnected_and_nothing_is_lost() {
    let redis = Redis::start();
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let connections = |redis: &Redis| -> u64 {
        redis
            .cmd(&["INFO", "stats"])
            .lines()
            .find_map(|l| l.strip_prefix("total_connections_received:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let before = connections(&redis);
    let n = 20_000u64;
    let project = json!({
        "format_version": 2,
        "environments": {"redis": {"broker": redis.url()}},
        "nodes": [
            node("gen", "generator", json!({"event": "clickstream", "rate_per_sec": 8000.0, "count": n,
                "keys": 100, "batch_size": 200, "seed": 4})),
            {"id": "clicks", "kind": "stream", "name": "clicks",
             "config": {"shards": 2, "partition_key": "user_id"},
             "faults": {"broker_disconnect_every_s": 0.5}},
            node("lake", "bucket", json!({"path": "lake"})),
            node("deliver", "firehose", json!({"prefix": "clicks/", "format": "json", "buffer_interval_ms": 100}))
        ],
        "edges": [
            edge("gen", "events", "clicks", "records"),
            edge("clicks", "records", "deliver", "records"),
            edge("lake", "objects", "deliver", "target")
        ]
    });
    let run = run_ok(dir.path(), "p.json", &project, &["--env", "redis"]);
    assert_eq!(run.summary["status"], "ok");
    assert!(
        run.summary["warnings"]
            .to_string()
            .contains("the broker drops the connections every 0.5 s"),
        "{}",
        run.summary["warnings"]
    );
    // The writer and the reader reconnected after each drop (2.5 s of run, a drop every
    // half second for each of their connections): each drop is two connections (the
    // one that asks for it, and the reconnection), 3 connections without faults.
    let reconnected = connections(&redis) - before;
    assert!(reconnected >= 3 + 2 * 4, "{reconnected} connections");
    // At least once: every record delivered, a few perhaps twice (a reply lost with a
    // dropped connection), none left pending in the broker.
    let (ids, dups) = ids_under(&dir.path().join("lake/clicks"));
    assert_eq!(ids.len() as u64, n, "lost {}", n - ids.len() as u64);
    assert!((dups as u64) < n / 10, "{dups} duplicates");
    eprintln!("injected broker disconnects: {reconnected} connections, {dups} duplicates");
}
