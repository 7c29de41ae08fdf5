//! The simulated clock: an hour (or a day) of traffic in seconds, with windows, Firehose
//! folders and buffer intervals, batching windows, costs and the generator's daily
//! pattern following simulated time.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

fn edge(from: &str, port: &str, to: &str, into: &str) -> Value {
    json!({"from": {"node": from, "port": port}, "to": {"node": to, "port": into}})
}

/// The lines of every file below `dir`, by file (relative path).
fn lines_by_file(dir: &Path) -> Vec<(String, Vec<String>)> {
    files_under(dir)
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(dir.join(&f)).unwrap();
            (f, text.lines().map(str::to_owned).collect())
        })
        .collect()
}

/// The `HH` of a Firehose object path `…/YYYY/MM/DD/HH/name`.
fn hour_folder(path: &str) -> &str {
    let parts: Vec<&str> = path.split('/').collect();
    parts[parts.len() - 2]
}

#[test]
fn one_simulated_hour_at_1000_events_a_second_gives_360_windows_and_the_firehose_hour_folders() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    // From 00:30 to 01:30: the Firehose writes into two hour folders.
    let project = json!({
        "format_version": 2,
        "name": "A simulated hour",
        "aws_realism": true,
        "clock": "simulated",
        "nodes": [
            {"id": "gen", "kind": "generator", "config": {
                "event": "clickstream", "rate_per_sec": 1000.0, "count": 3_600_000,
                "batch_size": 1000, "start_time": "2024-01-01T00:30:00Z"}},
            {"id": "clicks", "kind": "stream", "config": {"shards": 2, "partition_key": "user_id"}},
            {"id": "per_10s", "kind": "analytics", "config": {
                "time_column": "event_time", "window": "tumbling", "size_ms": 10000,
                "max_out_of_orderness_ms": 1000,
                "sql": "SELECT COUNT(*) AS events FROM input"}},
            {"id": "lake", "kind": "bucket", "config": {"path": "lake"}},
            {"id": "deliver", "kind": "firehose", "config": {
                "prefix": "clicks/", "error_prefix": "errors/", "format": "json",
                "buffer_mb": 5.0, "buffer_interval_ms": 60000}},
            {"id": "windows", "kind": "firehose", "config": {
                "prefix": "windows/", "error_prefix": "window-errors/", "format": "json",
                "buffer_mb": 128.0, "buffer_interval_ms": 900000}}
        ],
        "edges": [
            edge("gen", "events", "clicks", "records"),
            edge("clicks", "records", "per_10s", "records"),
            edge("clicks", "records", "deliver", "records"),
            edge("lake", "objects", "deliver", "target"),
            edge("per_10s", "results", "windows", "records"),
            edge("lake", "objects", "windows", "target"),
        ]
    });
    let wall = Instant::now();
    let run = run_ok(dir.path(), "hour.json", &project, &[]);
    let took = wall.elapsed();
    assert!(
        took < Duration::from_secs(60),
        "an hour of traffic took {took:?} of wall time"
    );

    // 360 ten-second windows of 10,000 events each, 00:30:00 to 01:29:50.
    let windows = records_under(&dir.path().join("lake/windows"));
    assert_eq!(windows.len(), 360, "{:?}", run.out);
    let mut starts: Vec<&str> = windows
        .iter()
        .map(|w| w["window_start"].as_str().unwrap())
        .collect();
    starts.sort();
    starts.dedup();
    assert_eq!(starts.len(), 360);
    assert_eq!(starts[0], "2024-01-01T00:30:00");
    assert_eq!(starts[359], "2024-01-01T01:29:50");
    assert!(windows.iter().all(|w| w["events"] == 10_000), "{windows:?}");
    // Fifteen simulated minutes of buffer interval: the window results went out in
    // objects of at most 90 windows each, not one object at the end.
    let window_files = lines_by_file(&dir.path().join("lake/windows"));
    assert!(window_files.len() >= 4, "{window_files:?}");
    let per_file: Vec<(&str, usize)> = window_files
        .iter()
        .map(|(f, l)| (f.as_str(), l.len()))
        .collect();
    assert!(per_file.iter().all(|(_, n)| *n <= 90), "{per_file:?}");

    // The clicks went to the hour folders 00 and 01, each object to the hour its oldest
    // record arrived in, which is (on this clock) about its first record's event time
    // (the stream appends a batch as the generator sent it; a busy machine may append
    // it a few simulated seconds on).
    let clicks = lines_by_file(&dir.path().join("lake/clicks"));
    let folders: std::collections::BTreeSet<String> = clicks
        .iter()
        .map(|(f, _)| f.rsplit_once('/').unwrap().0.to_owned())
        .collect();
    assert_eq!(
        folders.into_iter().collect::<Vec<_>>(),
        ["2024/01/01/00", "2024/01/01/01"]
    );
    let mut total = 0;
    for (file, lines) in &clicks {
        total += lines.len();
        let first: Value = serde_json::from_str(&lines[0]).unwrap();
        let t = first["event_time"].as_str().unwrap();
        let (hour, minute): (u32, u32) = (t[11..13].parse().unwrap(), t[14..16].parse().unwrap());
        let folder: u32 = hour_folder(file).parse().unwrap();
        assert!(
            hour == folder || (hour + 1 == folder && minute >= 58),
            "{file}: first record at {t}"
        );
        // Objects are named with the simulated time they were written.
        let name = file.rsplit('/').next().unwrap();
        assert!(
            name.starts_with("deliver-20240101T00") || name.starts_with("deliver-20240101T01"),
            "{name}"
        );
    }
    assert_eq!(total, 3_600_000);

    // The run covered one simulated hour, and AWS would bill it as an hour: 2 shards are
    // 2 shard-hours. Nothing was throttled at 500 records/s a shard.
    let clock = &run.summary["clock"];
    assert_eq!(clock["from"], "2024-01-01T00:30:00Z", "{clock}");
    let simulated = clock["simulated_ms"].as_i64().unwrap();
    assert!(
        (3_599_000..3_610_000).contains(&simulated),
        "{simulated} ms simulated"
    );
    let shard_hours = run.node("clicks")["cost"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["unit"] == "shard-hour")
        .unwrap()["quantity"]
        .as_f64()
        .unwrap();
    assert!((shard_hours - 2.0).abs() < 0.01, "{shard_hours}");
    assert_eq!(run.node("clicks")["throttled"], 0);
}

#[test]
fn a_simulated_clock_at_a_speed_runs_firehose_intervals_and_batching_windows_in_simulated_time() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    // Five simulated minutes at 600× wall time: half a second.
    let project = json!({
        "format_version": 2,
        "name": "Five minutes at 600x",
        "clock": "simulated",
        "clock_speed": 600.0,
        "clock_start": "2024-03-01T12:00:00Z",
        "nodes": [
            {"id": "gen", "kind": "generator", "config": {
                "event": "iot", "rate_per_sec": 100.0, "count": 30000, "batch_size": 100,
                "start_time": "2024-03-01T12:00:00Z"}},
            {"id": "readings", "kind": "stream", "config": {"shards": 1}},
            {"id": "enrich", "kind": "lambda", "config": {
                "runtime": "sql", "sql": "SELECT * FROM input",
                "batch_size": 10000, "maximum_batching_window_in_seconds": 10.0}},
            {"id": "lake", "kind": "bucket", "config": {"path": "lake"}},
            {"id": "deliver", "kind": "firehose", "config": {
                "prefix": "readings/", "error_prefix": "errors/", "format": "json",
                "buffer_mb": 128.0, "buffer_interval_ms": 60000}}
        ],
        "edges": [
            edge("gen", "events", "readings", "records"),
            edge("readings", "records", "enrich", "records"),
            edge("enrich", "records", "deliver", "records"),
            edge("lake", "objects", "deliver", "target"),
        ]
    });
    let wall = Instant::now();
    let run = run_ok(dir.path(), "speed.json", &project, &[]);
    let took = wall.elapsed();
    assert!(
        took > Duration::from_millis(400) && took < Duration::from_secs(60),
        "five simulated minutes at 600x took {took:?}"
    );
    // A 10-second batching window of 100 records/s: about 30 invocations of ~1,000.
    let invocations = run.detail("enrich")["invocations"].as_u64().unwrap();
    assert!(
        (20..=45).contains(&invocations),
        "{invocations} invocations"
    );
    // A minute's buffer interval: about five objects (one per simulated minute), each
    // named with the simulated time it was written, in the 12:00 hour folder.
    let files = lines_by_file(&dir.path().join("lake/readings"));
    assert!((3..=8).contains(&files.len()), "{files:?}");
    assert!(
        files
            .iter()
            .all(|(f, _)| f.starts_with("2024/03/01/12/deliver-20240301T12"))
    );
    assert_eq!(files.iter().map(|(_, l)| l.len()).sum::<usize>(), 30000);
    assert_eq!(run.summary["clock"]["clock"], "simulated ×600");
}

#[test]
fn a_daily_pattern_runs_a_simulated_day_with_its_peak_at_16_and_trough_at_4() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    // 10 events/s at the peak: a day is about 518,400 events.
    let project = json!({
        "format_version": 2,
        "name": "A simulated day",
        "clock": "simulated",
        "nodes": [
            {"id": "gen", "kind": "generator", "config": {
                "event": "payments", "rate_per_sec": 10.0, "rate_pattern": "daily",
                "count": 518_400, "batch_size": 500, "start_time": "2024-01-01T00:00:00Z"}},
            {"id": "payments", "kind": "stream", "config": {"shards": 1}},
            {"id": "hourly", "kind": "analytics", "config": {
                "time_column": "event_time", "window": "tumbling", "size_ms": 3_600_000,
                "max_out_of_orderness_ms": 1000, "sql": "SELECT COUNT(*) AS events FROM input"}},
            {"id": "lake", "kind": "bucket", "config": {"path": "lake"}},
            {"id": "hours", "kind": "firehose", "config": {
                "prefix": "hours/", "error_prefix": "errors/", "format": "json",
                "buffer_mb": 128.0, "buffer_interval_ms": 900000}}
        ],
        "edges": [
            edge("gen", "events", "payments", "records"),
            edge("payments", "records", "hourly", "records"),
            edge("hourly", "results", "hours", "records"),
            edge("lake", "objects", "hours", "target"),
        ]
    });
    let wall = Instant::now();
    run_ok(dir.path(), "day.json", &project, &[]);
    assert!(
        wall.elapsed() < Duration::from_secs(60),
        "{:?}",
        wall.elapsed()
    );
    let hours = records_under(&dir.path().join("lake/hours"));
    let count = |hour: &str| {
        hours
            .iter()
            .find(|h| h["window_start"] == format!("2024-01-01T{hour}:00:00"))
            .unwrap_or_else(|| panic!("no window at {hour}:00: {hours:?}"))["events"]
            .as_f64()
            .unwrap()
    };
    // 10 events/s at 16:00 is 36,000 an hour; at 04:00 a fifth of it. The pattern is
    // smooth over each hour, so an hour's count is within a few per cent of its middle.
    let (peak, trough) = (count("16"), count("04"));
    assert!((34_000.0..=36_100.0).contains(&peak), "{peak}");
    assert!((7_000.0..=8_000.0).contains(&trough), "{trough}");
    assert!(count("10") > trough && count("10") < peak);
    assert!(hours.len() >= 23, "{}", hours.len());
}
