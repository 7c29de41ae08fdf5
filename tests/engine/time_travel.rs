//! Time travel: a run's timeline (each node's counts and each live view's rows over the
//! run's clock) equals a recomputation from the retained stream; replay from here runs
//! everything downstream of a durable stream on what it retained, with edited nodes,
//! upstream not run, compared with the original run; its sinks write into the replay's
//! own folder, the original bucket and the stream's folder stay as they were.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Value, json};

use crate::streaming::{edge, node};
use crate::support::{cli_in, records_under, run_file, scratch};

/// The handler as first deployed: it drops every tenth click (the bug).
const ENRICH_V1: &str = r#"
import base64, json

def handler(event, context):
    out = []
    for r in event["Records"]:
        k = r["kinesis"]
        row = json.loads(base64.b64decode(k["data"]))
        if row["event_id"] % 10 == 3:
            continue  # the bug: these were valid clicks
        out.append({"event_id": row["event_id"], "page": row["page"],
                    "shard": r["eventID"].split(":")[0], "seq": k["sequenceNumber"],
                    "arrival": k["approximateArrivalTimestamp"]})
    return out
"#;

/// A simulated minute's worth of clicks (20 s at 1,000/s) into a durable stream of two
/// shards, a Python Lambda whose rows a Firehose delivers and a live table keeps, and
/// page counts per 10-second window straight off the stream.
fn project(handler: &str) -> Value {
    json!({
        "format_version": 2,
        "name": "replay",
        "clock": "simulated",
        "nodes": [
            node("gen", "generator", json!({"event": "clickstream", "rate_per_sec": 1000.0,
                "count": 20000, "keys": 200, "seed": 7, "late_fraction": 0.0,
                "start_time": "2024-01-01T00:00:00Z"})),
            node("clicks", "stream", json!({"shards": 2, "partition_key": "user_id",
                "durable": true})),
            node("enrich", "lambda", json!({"runtime": "python3.11", "handler": "app.handler",
                "code": handler, "batch_size": 500,
                "output_columns": ["event_id Int64", "page Utf8", "shard Utf8", "seq Utf8",
                    "arrival Float64"]})),
            node("lake", "bucket", json!({"path": "lake"})),
            node("deliver", "firehose", json!({"prefix": "clicks/", "format": "json"})),
            node("out", "table_sink", json!({"rows": 100000})),
            node("views", "analytics", json!({"time_column": "event_time", "window": "tumbling",
                "size_ms": 10000, "max_out_of_orderness_ms": 0,
                "sql": "SELECT page, COUNT(*) AS views FROM input GROUP BY page"})),
            node("per_page", "table_sink", json!({"rows": 1000}))
        ],
        "edges": [
            edge("gen", "events", "clicks", "records"),
            edge("clicks", "records", "enrich", "records"),
            edge("enrich", "records", "deliver", "records"),
            edge("lake", "objects", "deliver", "target"),
            edge("enrich", "records", "out", "records"),
            edge("clicks", "records", "views", "records"),
            edge("views", "results", "per_page", "records")
        ]
    })
}

/// Every file under `dir` with its size (and a checkpoint's text), to show nothing
/// changed.
fn files(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let name = p.strip_prefix(dir).unwrap().display().to_string();
                let what = if name.ends_with(".json") {
                    std::fs::read_to_string(&p).unwrap()
                } else {
                    std::fs::metadata(&p).unwrap().len().to_string()
                };
                out.insert(name, what);
            }
        }
    }
    out
}

/// What identifies a delivered record: its id, page, shard and sequence number.
fn keys(records: &[Value]) -> BTreeSet<(i64, String, String, String)> {
    let set: BTreeSet<_> = records
        .iter()
        .map(|r| {
            (
                r["event_id"].as_i64().unwrap(),
                r["page"].as_str().unwrap().to_owned(),
                r["shard"].as_str().unwrap().to_owned(),
                r["seq"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(set.len(), records.len(), "no record twice");
    set
}

/// The folder the newest replay delivered into.
fn replay_folder(root: &Path) -> std::path::PathBuf {
    let mut replays: Vec<_> = std::fs::read_dir(root.join(".tributary/replays"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    replays.sort();
    replays.pop().unwrap().join("deliver")
}

#[test]
fn a_replay_with_an_edited_lambda_equals_a_fresh_run_and_upstream_is_not_run() {
    let dir = scratch();
    let root = dir.path();
    std::fs::create_dir_all(root.join("lake")).unwrap();
    let path = root.join("replay.json");
    std::fs::write(&path, project(ENRICH_V1).to_string()).unwrap();
    let original = run_file(root, &path, &[], &[]).ok();
    assert_eq!(original.node("clicks")["records_out"], 20000);
    let delivered = records_under(&root.join("lake/clicks"));
    assert_eq!(delivered.len(), 18000, "the bug drops a tenth");
    let lake_before = files(&root.join("lake"));
    let stream_before = files(&root.join(".tributary/streams/clicks"));
    assert!(
        stream_before.keys().any(|f| f.starts_with("consumers/")),
        "{stream_before:?}"
    );

    // The fix, replayed from the start of what the stream retained.
    let fixed = ENRICH_V1.replace("if row[\"event_id\"] % 10 == 3:\n            continue  # the bug: these were valid clicks\n        ", "");
    assert_ne!(fixed, ENRICH_V1);
    std::fs::write(&path, project(&fixed).to_string()).unwrap();
    let replay = run_file(root, &path, &["--replay-from", "clicks"], &[]).ok();
    // Upstream was not run: no generator in the run, the stream's folder as it was.
    let ran: BTreeSet<&str> = replay.summary["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ran,
        BTreeSet::from([
            "clicks", "enrich", "lake", "deliver", "out", "views", "per_page"
        ]),
        "{}",
        replay.summary
    );
    assert_eq!(replay.node("clicks")["records_out"], 20000);
    assert_eq!(replay.node("enrich")["records_in"], 20000);
    assert_eq!(
        files(&root.join(".tributary/streams/clicks")),
        stream_before
    );
    // The original bucket is untouched; the replay delivered into its own folder.
    assert_eq!(files(&root.join("lake")), lake_before);
    let replayed = records_under(&replay_folder(root));
    assert_eq!(replayed.len(), 20000);
    // Compared with the original: exactly the dropped tenth came back; the windows
    // straight off the stream are the same.
    let compared = &replay.summary["replay"];
    assert_eq!(compared["nodes"]["out"]["added"], 2000, "{compared}");
    assert_eq!(compared["nodes"]["out"]["removed"], 0, "{compared}");
    assert_eq!(compared["nodes"]["out"]["unchanged"], 18000, "{compared}");
    assert_eq!(compared["nodes"]["per_page"]["added"], 0, "{compared}");
    assert_eq!(compared["nodes"]["per_page"]["removed"], 0, "{compared}");
    assert!(compared["nodes"]["per_page"]["unchanged"].as_u64().unwrap() >= 2 * 5);

    // A fresh run of the fixed pipeline from scratch gives the same records, with the
    // same shards and sequence numbers.
    let fresh_dir = scratch();
    let fresh_root = fresh_dir.path();
    std::fs::create_dir_all(fresh_root.join("lake")).unwrap();
    let fresh_path = fresh_root.join("replay.json");
    std::fs::write(&fresh_path, project(&fixed).to_string()).unwrap();
    run_file(fresh_root, &fresh_path, &[], &[]).ok();
    let fresh = records_under(&fresh_root.join("lake/clicks"));
    assert_eq!(keys(&replayed), keys(&fresh));

    // From a time: exactly the records that arrived then or later.
    let from = 1_704_067_210.0; // 2024-01-01T00:00:10Z
    let later = run_file(
        root,
        &path,
        &["--replay-from", "clicks", "--from", "2024-01-01T00:00:10Z"],
        &[],
    )
    .ok();
    let expected: BTreeSet<_> = keys(
        &replayed
            .iter()
            .filter(|r| r["arrival"].as_f64().unwrap() >= from)
            .cloned()
            .collect::<Vec<_>>(),
    );
    let got = keys(&records_under(&replay_folder(root)));
    assert!((8000..12000).contains(&got.len()), "{}", got.len());
    assert_eq!(got, expected);
    assert_eq!(
        later.node("clicks")["records_out"].as_u64().unwrap(),
        got.len() as u64
    );
    // Compared with the original run (not the first replay).
    assert_eq!(
        later.summary["replay"]["original"], compared["original"],
        "{}",
        later.summary["replay"]
    );
}

#[test]
fn a_replay_says_why_it_cannot_run() {
    let dir = scratch();
    let root = dir.path();
    std::fs::create_dir_all(root.join("lake")).unwrap();
    let mut p = project(ENRICH_V1);
    p["nodes"][1]["config"]["durable"] = json!(false);
    let path = root.join("replay.json");
    std::fs::write(&path, p.to_string()).unwrap();
    let r = run_file(root, &path, &["--replay-from", "clicks"], &[]);
    assert_eq!(r.out.code, 1, "{:?}", r.out);
    let warnings = r.summary["warnings"].to_string();
    assert!(
        warnings.contains("turn on its 'durable' setting"),
        "{warnings}"
    );
    let r = run_file(root, &path, &["--replay-from", "enrich"], &[]);
    assert!(
        r.summary["warnings"]
            .to_string()
            .contains("a replay starts from a stream node; 'enrich' is a lambda"),
        "{}",
        r.summary
    );
    // Durable, but never run: nothing retained.
    p["nodes"][1]["config"]["durable"] = json!(true);
    std::fs::write(&path, p.to_string()).unwrap();
    let r = run_file(root, &path, &["--replay-from", "clicks"], &[]);
    assert!(
        r.summary["warnings"]
            .to_string()
            .contains("has retained nothing to replay"),
        "{}",
        r.summary
    );
}

/// The retained stream, read straight from its durable folder (Arrow IPC segments and
/// their `.times` files): per record in sequence order, its arrival and its row as JSON.
fn retained(root: &Path, node: &str, shard: usize) -> Vec<(i64, Value)> {
    use tributary_engine::arrow::ipc::reader::StreamReader;
    let dir = root
        .join(".tributary/streams")
        .join(node)
        .join(format!("shard-{shard}"));
    let mut segments: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "arrow"))
        .collect();
    segments.sort();
    let mut out = Vec::new();
    for seg in segments {
        let times: BTreeMap<u64, i64> = std::fs::read_to_string(seg.with_extension("times"))
            .unwrap()
            .lines()
            .map(|l| {
                let (seq, at) = l.split_once('\t').unwrap();
                (seq.parse().unwrap(), at.parse().unwrap())
            })
            .collect();
        let mut seq: u64 = seg.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        let reader = StreamReader::try_new(std::fs::File::open(&seg).unwrap(), None).unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let at = times[&seq];
            let mut w = tributary_engine::arrow::json::ArrayWriter::new(Vec::new());
            w.write(&batch).unwrap();
            w.finish().unwrap();
            let rows: Vec<Value> = serde_json::from_slice(&w.into_inner()).unwrap();
            seq += rows.len() as u64;
            out.extend(rows.into_iter().map(|r| (at, r)));
        }
    }
    out
}

/// The event ids of the last `n` of `rows`.
fn expected_tail(rows: &[&Value], n: usize) -> Vec<i64> {
    rows[rows.len().saturating_sub(n)..]
        .iter()
        .map(|r| r["event_id"].as_i64().unwrap())
        .collect()
}

fn timeline_project() -> Value {
    json!({
        "format_version": 2,
        "name": "timeline",
        "clock": "simulated",
        "timeline_points": 12,
        "nodes": [
            node("gen", "generator", json!({"event": "clickstream", "rate_per_sec": 1000.0,
                "count": 45000, "batch_size": 250, "seed": 3, "late_fraction": 0.0,
                "start_time": "2024-01-01T00:00:00Z"})),
            node("clicks", "stream", json!({"shards": 1, "durable": true})),
            node("latest", "table_sink", json!({"rows": 30})),
            node("views", "analytics", json!({"time_column": "event_time", "window": "tumbling",
                "size_ms": 10000, "max_out_of_orderness_ms": 0,
                "sql": "SELECT page, COUNT(*) AS views FROM input GROUP BY page"})),
            node("windows", "table_sink", json!({"rows": 1000}))
        ],
        "edges": [
            edge("gen", "events", "clicks", "records"),
            edge("clicks", "records", "latest", "records"),
            edge("clicks", "records", "views", "records"),
            edge("views", "results", "windows", "records")
        ]
    })
}

fn timeline_at(root: &Path, node: &str, at_ms: i64) -> Value {
    let o = cli_in(
        root,
        &[
            "timeline",
            "t.json",
            "--node",
            node,
            "--at",
            &at_ms.to_string(),
            "--json",
        ],
    );
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    serde_json::from_str(&o.stdout).unwrap()
}

#[test]
fn the_timeline_at_any_moment_equals_a_recomputation_from_the_retained_stream() {
    let dir = scratch();
    let root = dir.path();
    std::fs::write(root.join("t.json"), timeline_project().to_string()).unwrap();
    run_file(root, &root.join("t.json"), &[], &[]).ok();
    let o = cli_in(root, &["timeline", "t.json", "--json"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let listing: Value = serde_json::from_str(&o.stdout).unwrap();
    // 45 simulated seconds at a point a second, kept to 12 a node: the grid's step
    // doubled to 4 s and the points spread over the whole run.
    assert_eq!(listing["step_ms"], 4000, "{listing}");
    assert_eq!(listing["from"], "2024-01-01T00:00:00Z");
    assert_eq!(listing["to"], "2024-01-01T00:00:45Z");
    let views = listing["views"].as_array().unwrap();
    let latest = views.iter().find(|v| v["node"] == "latest").unwrap();
    let moments: Vec<i64> = latest["moments_ms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_i64().unwrap())
        .collect();
    assert!((10..=12).contains(&moments.len()), "{moments:?}");
    let start = 1_704_067_200_000i64;
    assert_eq!(moments.last(), Some(&(start + 45_000)));

    let stream = retained(root, "clicks", 0);
    assert_eq!(stream.len(), 45000);
    // At each moment, and between moments (the newest snapshot before it shows).
    let mut asked: Vec<i64> = moments.clone();
    asked.extend([
        start + 5_500,
        start + 17_250,
        start + 30_001,
        start + 44_999,
    ]);
    for t in asked {
        let shown = timeline_at(root, "latest", t);
        let view = &shown["views"]["rows"];
        let at = view["at_ms"].as_i64().unwrap();
        assert!(at <= t && moments.contains(&at), "{t}: snapshot at {at}");
        // The live table held the newest 30 of exactly the records that arrived before
        // its snapshot.
        let before: Vec<&Value> = stream
            .iter()
            .filter(|(arrival, _)| *arrival < at)
            .map(|(_, r)| r)
            .collect();
        assert_eq!(view["total"].as_u64().unwrap(), before.len() as u64, "{t}");
        let got: Vec<i64> = view["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["event_id"].as_i64().unwrap())
            .collect();
        assert_eq!(got, expected_tail(&before, 30), "at {t}");
        // The stream's counts then agree (its shard's tip too), and its shard's tip at
        // the moment asked, from its folder.
        let s = timeline_at(root, "clicks", t);
        assert_eq!(
            s["counts"]["records_in"].as_u64().unwrap(),
            before.len() as u64
        );
        assert_eq!(s["counts"]["shards"], json!([before.len()]), "{s}");
        // What the generator had sent by then: the newest 50 of them.
        let g = timeline_at(root, "gen", t);
        let sent = g["views"]["emitted"]["rows"].as_array().unwrap();
        assert_eq!(sent.len(), 50, "{g}");
        assert_eq!(g["views"]["emitted"]["total"], before.len() as u64);
        assert_eq!(
            sent.iter()
                .map(|r| r["event_id"].as_i64().unwrap())
                .collect::<Vec<_>>(),
            expected_tail(&before, 50),
            "{t}"
        );
        let tip = stream.iter().filter(|(arrival, _)| *arrival < t).count() as u64;
        assert_eq!(s["shards"][0]["position"].as_u64().unwrap(), tip, "{s}");

        // The windows' table: every 10-second window the watermark (the newest event
        // time read, no out-of-orderness) had closed, counted per page, from the same
        // records.
        let w = timeline_at(root, "windows", t);
        let Some(wv) = w["views"].get("rows") else {
            // Nothing closed before the first snapshot that has rows.
            assert!(at < start + 10_000, "{w}");
            continue;
        };
        let wat = wv["at_ms"].as_i64().unwrap();
        let seen: Vec<&Value> = stream
            .iter()
            .filter(|(arrival, _)| *arrival < wat)
            .map(|(_, r)| r)
            .collect();
        let event_ms = |r: &Value| {
            chrono::DateTime::parse_from_rfc3339(&format!(
                "{}Z",
                r["event_time"].as_str().unwrap().trim_end_matches('Z')
            ))
            .unwrap()
            .timestamp_millis()
        };
        // As the input ended (the last snapshot), the open windows closed too.
        let ended = wat == start + 45_000;
        let watermark = if ended {
            i64::MAX
        } else {
            seen.iter().map(|r| event_ms(r)).max().unwrap()
        };
        let mut counts: BTreeMap<(i64, String), u64> = BTreeMap::new();
        for r in &seen {
            let window = event_ms(r).div_euclid(10_000) * 10_000;
            if window.saturating_add(10_000) <= watermark {
                *counts
                    .entry((window, r["page"].as_str().unwrap().to_owned()))
                    .or_default() += 1;
            }
        }
        let mut shown_counts: BTreeMap<(i64, String), u64> = BTreeMap::new();
        for r in wv["rows"].as_array().unwrap() {
            let window = chrono::DateTime::parse_from_rfc3339(&format!(
                "{}Z",
                r["window_start"].as_str().unwrap().trim_end_matches('Z')
            ))
            .unwrap()
            .timestamp_millis();
            shown_counts.insert(
                (window, r["page"].as_str().unwrap().to_owned()),
                r["views"].as_u64().unwrap(),
            );
        }
        assert_eq!(shown_counts, counts, "windows at {t} (snapshot {wat})");
    }
}
