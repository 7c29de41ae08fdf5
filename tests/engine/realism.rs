//! AWS realism: Kinesis's per-shard write limits (throttling, retries, nothing lost) and
//! retention as a deadline (a slow reader loses exactly what expired, and says so).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde_json::{Value, json};

use crate::streaming::{edge, node};
use crate::support::{records_under, run_ok, scratch};

/// A generator putting `count` click events at `rate` per second into a stream of
/// `shards` shards, delivered by a Firehose to `lake/out/`.
fn producer_pipeline(rate: f64, count: u64, shards: u64) -> Value {
    json!({
        "format_version": 2,
        "aws_realism": true,
        "nodes": [
            node("gen", "generator", json!({"event": "clickstream", "rate_per_sec": rate,
                "count": count, "keys": 200, "batch_size": 100, "seed": 7})),
            node("clicks", "stream", json!({"shards": shards, "partition_key": "user_id"})),
            node("lake", "bucket", json!({"path": "lake"})),
            node("deliver", "firehose", json!({"prefix": "out/", "format": "json",
                "buffer_interval_ms": 500}))
        ],
        "edges": [
            edge("gen", "events", "clicks", "records"),
            edge("clicks", "records", "deliver", "records"),
            edge("lake", "objects", "deliver", "target")
        ]
    })
}

/// Event ids delivered under `lake/out/`, asserting none twice and each user's in order.
fn delivered_in_order(dir: &std::path::Path) -> BTreeSet<i64> {
    let records = records_under(&dir.join("lake/out"));
    let ids: BTreeSet<i64> = records
        .iter()
        .map(|r| r["event_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), records.len(), "no record delivered twice");
    // The generator numbers events in order; one user's arrive in that order, although
    // throttled puts were retried (files are read in name order, which is time order).
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    let mut files: Vec<String> = crate::support::files_under(&dir.join("lake/out"));
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(dir.join("lake/out").join(&f)).unwrap();
        for line in text.lines() {
            let r: Value = serde_json::from_str(line).unwrap();
            let (user, id) = (
                r["user_id"].as_str().unwrap().to_owned(),
                r["event_id"].as_i64().unwrap(),
            );
            if let Some(prev) = last.insert(user.clone(), id) {
                assert!(prev < id, "user {user}: event {id} after {prev}");
            }
        }
    }
    ids
}

#[test]
fn a_producer_at_three_times_a_shards_write_limit_is_throttled_retried_and_loses_nothing() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    // 9,000 records at 3,000 a second into one shard, which takes 1,000 a second (and a
    // second's worth at once).
    let n = 9_000;
    let started = Instant::now();
    let run = run_ok(dir.path(), "p.json", &producer_pipeline(3000.0, n, 1), &[]);
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(run.summary["aws_realism"], true);
    let stream = run.node("clicks");
    assert_eq!(stream["records_out"], n, "{stream}");
    // The shard takes 1,000 of each second's 3,000 records (and a second's worth at
    // first): two thirds of them wait, and the records offered while the budget is spent
    // are refused (each retry of a batch refuses what the budget has not refilled yet).
    let throttled = stream["throttled"].as_u64().unwrap();
    assert!(throttled >= 3_000, "throttled {throttled}");
    assert_eq!(
        run.node("gen")["throttled"],
        0,
        "the producer itself is not a shard"
    );
    assert_eq!(stream["expired"], 0);
    // Taking 1,000 a second after the first second's burst: at least 8 s for 9,000.
    assert!(
        secs >= 7.5,
        "9,000 records through a 1,000/s shard in {secs:.1} s"
    );
    assert_eq!(run.node("deliver")["records_in"], n);
    let c = &run.summary["conservation"];
    assert_eq!(
        (c["in"].as_u64(), c["delivered"].as_u64()),
        (Some(n), Some(n)),
        "{c}"
    );
    assert_eq!(c["balanced"], true, "{c}");
    let ids = delivered_in_order(dir.path());
    assert_eq!(
        ids,
        (0..n as i64).collect::<BTreeSet<_>>(),
        "every record, once"
    );
    // The hot shard is the only one.
    assert_eq!(stream["metrics"]["hot_shard"], 0, "{stream}");
    assert!(
        run.out.stderr.is_empty() || !run.out.stderr.contains("error"),
        "{}",
        run.out.stderr
    );

    // The same design without realism: nothing throttled, as fast as the generator.
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let started = Instant::now();
    let run = run_ok(
        dir.path(),
        "p.json",
        &producer_pipeline(3000.0, n, 1),
        &["--no-aws-realism"],
    );
    assert_eq!(run.summary["aws_realism"], false);
    assert_eq!(run.node("clicks")["throttled"], 0);
    assert!(started.elapsed().as_secs_f64() < secs);
    assert_eq!(delivered_in_order(dir.path()).len(), n as usize);
}

#[test]
fn enough_shards_for_the_rate_throttle_nothing() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    // 2,000 a second over 8 shards: about 250 a shard, well under 1,000.
    let n = 4_000;
    let run = run_ok(dir.path(), "p.json", &producer_pipeline(2000.0, n, 8), &[]);
    assert_eq!(run.node("clicks")["throttled"], 0);
    assert_eq!(run.node("clicks")["records_out"], n);
    assert_eq!(delivered_in_order(dir.path()).len(), n as usize);
}

const SLOW_PY: &str = r#"
import base64, json, time

def handler(event, context):
    time.sleep(0.5)
    return [json.loads(base64.b64decode(r["kinesis"]["data"])) for r in event["Records"]]
"#;

#[test]
fn a_reader_slower_than_retention_loses_exactly_what_expired_and_reports_it() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let n: u64 = 3_000;
    // Everything arrives at once; the Lambda takes 100 records per half second, and the
    // stream keeps records 2 s: what it has not read by then is gone.
    let project = json!({
        "format_version": 2,
        "aws_realism": true,
        "nodes": [
            node("gen", "generator", json!({"event": "clickstream", "rate_per_sec": 0.0,
                "count": n, "keys": 20, "batch_size": 500, "seed": 3})),
            node("clicks", "stream", json!({"shards": 1, "partition_key": "user_id",
                "retention_hours": 2.0 / 3600.0})),
            node("slow", "lambda", json!({"runtime": "python3.11", "handler": "app.handler",
                "code": SLOW_PY, "batch_size": 100, "starting_position": "TRIM_HORIZON",
                "output_columns": ["event_id Int64", "user_id Utf8"]})),
            node("lake", "bucket", json!({"path": "lake"})),
            node("deliver", "firehose", json!({"prefix": "out/", "format": "json",
                "buffer_interval_ms": 500}))
        ],
        "edges": [
            edge("gen", "events", "clicks", "records"),
            edge("clicks", "records", "slow", "records"),
            edge("slow", "records", "deliver", "records"),
            edge("lake", "objects", "deliver", "target")
        ]
    });
    let run = run_ok(dir.path(), "p.json", &project, &[]);
    let slow = run.node("slow");
    let read = slow["records_in"].as_u64().unwrap();
    let expired = slow["expired"].as_u64().unwrap();
    assert!(expired > 0 && read > 0, "{slow}");
    // Every record was either read or expired, and the stream counts the same loss.
    assert_eq!(read + expired, n, "{slow}");
    assert_eq!(run.node("clicks")["expired"], expired);
    assert_eq!(slow["metrics"]["expired"], expired, "{slow}");
    // Conservation at the stream: what was put = what the reader read + what expired,
    // each side counted on its own.
    let c = &run.summary["conservation"];
    assert_eq!(c["in"], n, "{c}");
    assert_eq!(c["delivered"], read, "{c}");
    assert_eq!(c["expired"], expired, "{c}");
    assert_eq!(
        (c["failed"].as_u64(), c["in_flight"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(c["balanced"], true, "{c}");
    // What was delivered is exactly what was read, none twice: the records missing are
    // as many as the loss reported, and they went in the order they arrived (whole
    // batches of records past their 2 s, from where the reader was).
    let ids = delivered_in_order(dir.path());
    assert_eq!(ids.len() as u64, read);
    let missing: Vec<i64> = (0..n as i64).filter(|i| !ids.contains(i)).collect();
    assert_eq!(missing.len() as u64, expired);
    assert!(ids.contains(&0), "the reader started at TRIM_HORIZON");
    // The text summary says it too.
    let text = crate::support::cli_in(dir.path(), &["run", "p.json"]);
    let line = text
        .stdout
        .lines()
        .find(|l| l.starts_with("slow: "))
        .unwrap_or_else(|| panic!("{}", text.stdout));
    assert!(
        line.ends_with("record(s) expired before they were read"),
        "{line}"
    );
}

const THROTTLED_CLIENT: &str = r#"
import json, os, time
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

k = boto3.client("kinesis", endpoint_url=os.environ["ENDPOINT"])
once = boto3.client("kinesis", endpoint_url=os.environ["ENDPOINT"],
                    config=Config(retries={"max_attempts": 1, "mode": "standard"}))
out = {"calls": []}
pending = [{"Data": json.dumps({"n": i}).encode(), "PartitionKey": "k%d" % (i % 7)} for i in range(1500)]
first = None
attempts = 0
# What the KPL does: put, keep the records refused, back off, put them again.
while pending:
    attempts += 1
    r = k.put_records(StreamName="raw", Records=pending[:500])
    failed = [rec for rec, res in zip(pending[:500], r["Records"]) if "ErrorCode" in res]
    errors = {res["ErrorCode"] for res in r["Records"] if "ErrorCode" in res}
    out["calls"].append([r["FailedRecordCount"], sorted(errors)])
    if first is None and failed:
        first = [res for res in r["Records"] if "ErrorCode" in res][0]
    pending = failed + pending[500:]
    if failed:
        time.sleep(0.1)
out["first_error"] = first
out["attempts"] = attempts
# The bytes limit too: after a second of quiet (a full budget), four records of almost
# 1 MB in one request: the first goes in, the other three are refused at once.
time.sleep(1.2)
big = json.dumps({"pad": "x" * 999000}).encode()
r = k.put_records(StreamName="raw", Records=[{"Data": big, "PartitionKey": "big"}] * 4)
out["big"] = [r["FailedRecordCount"], ["ErrorCode" in x for x in r["Records"]]]
# A single PutRecord over the limit is an error response (botocore's retries off): the
# budget refills 1 MiB a second, so one of a few 1 MB puts in a row is refused.
out["put_record"] = None
for i in range(10):
    try:
        once.put_record(StreamName="raw", Data=big, PartitionKey="big")
    except ClientError as e:
        out["put_record"] = [e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]]
        break
it = k.get_shard_iterator(StreamName="raw", ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
# Reads: 5 GetRecords calls a shard a second. Twelve consumers reading the shard at
# once (after a second of quiet, a full budget): at most 5 (and what refills meanwhile)
# get records, the others are refused.
from concurrent.futures import ThreadPoolExecutor
time.sleep(1.2)
readers = [boto3.client("kinesis", endpoint_url=os.environ["ENDPOINT"],
                        config=Config(retries={"max_attempts": 1, "mode": "standard"}))
           for _ in range(12)]
def read(c):
    try:
        c.get_records(ShardIterator=it, Limit=1)
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]
with ThreadPoolExecutor(12) as pool:
    answers = list(pool.map(read, readers))
out["get_records"] = [answers.count("ok"), sorted(set(a for a in answers if a != "ok"))]
got = []
while True:
    try:
        r = once.get_records(ShardIterator=it, Limit=10000)
    except ClientError as e:
        # A consumer backs off from a throttled read, as the KCL does.
        assert e.response["Error"]["Code"] == "ProvisionedThroughputExceededException", e
        time.sleep(1)
        continue
    got += [json.loads(x["Data"]) for x in r["Records"]]
    if not r["Records"]:
        break
    it = r["NextShardIterator"]
out["numbered"] = [g["n"] for g in got if "n" in g]
print(json.dumps(out))
"#;

#[test]
fn boto3_gets_provisioned_throughput_exceeded_per_record_beyond_a_shards_limit() {
    let dir = scratch();
    let project = json!({
        "format_version": 2,
        "aws_realism": true,
        "nodes": [node("raw", "stream", json!({"shards": 1}))],
        "edges": []
    });
    let served = crate::wire::Served::start(dir.path(), &project, &["raw"]);
    let out = crate::wire::client(dir.path(), &served.url(), THROTTLED_CLIENT);
    let (status, summary, _) = served.stop();
    assert_eq!(
        status,
        tributary_engine::NodeStatus::Stopped,
        "{summary:#?}"
    );
    // 1,500 records at once: the shard takes a second's 1,000 and refuses the rest,
    // record by record, in the same response; the retried ones go in later.
    let calls = out["calls"].as_array().unwrap();
    assert_eq!(calls[0], json!([0, []]), "{out}");
    assert_eq!(calls[1], json!([0, []]), "{out}");
    let refused = calls[2][0].as_u64().unwrap();
    assert!(refused >= 400, "{out}");
    assert_eq!(
        calls[2][1],
        json!(["ProvisionedThroughputExceededException"])
    );
    assert_eq!(
        out["first_error"]["ErrorMessage"],
        "Rate exceeded for shard shardId-000000000000 in stream raw under account 000000000000."
    );
    assert!(out["first_error"].get("SequenceNumber").is_none());
    assert_eq!(out["big"], json!([3, [false, true, true, true]]), "{out}");
    let (taken, refusals) = (&out["get_records"][0], &out["get_records"][1]);
    assert!(
        taken.as_u64().unwrap() < 12,
        "some of 12 reads at once refused: {out}"
    );
    assert_eq!(
        refusals,
        &json!(["ProvisionedThroughputExceededException"]),
        "{out}"
    );
    assert_eq!(
        out["put_record"],
        json!(["ProvisionedThroughputExceededException", 400])
    );
    // Nothing lost: every record is in the shard once; the refused ones after the
    // ones that went first, as the producer put them again.
    let mut numbered: Vec<i64> = out["numbered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(numbered.len(), 1500, "{out}");
    numbered.sort();
    numbered.dedup();
    assert_eq!(numbered.len(), 1500);
    let stream = summary.iter().find(|s| s.id == "raw").unwrap();
    let throttled = stream.stats.streaming.unwrap().throttled;
    assert!(
        throttled > refused,
        "the PutRecord refused too: {throttled}"
    );
}

/// The UTC dates and hours a run between `from` and now may have written.
fn hours_since(from: chrono::DateTime<chrono::Utc>) -> Vec<(String, String)> {
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    let mut t = from;
    while t <= now + chrono::Duration::hours(1) {
        let hour = (t.format("%Y-%m-%d").to_string(), t.format("%H").to_string());
        if !out.contains(&hour) {
            out.push(hour);
        }
        t += chrono::Duration::minutes(30);
    }
    out
}

#[test]
fn firehose_prefix_expressions_and_jq_partition_keys_make_the_documented_keys() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let started = chrono::Utc::now();
    // Odd, so the even event ids (from 0) are one more than the odd ones.
    let n = 2_001u64;
    let project = json!({
        "format_version": 2,
        "nodes": [
            node("gen", "generator", json!({"event": "clickstream", "rate_per_sec": 0.0,
                "count": n, "keys": 20, "batch_size": 500, "seed": 9})),
            node("clicks", "stream", json!({"shards": 2, "partition_key": "user_id"})),
            node("lake", "bucket", json!({"path": "lake"})),
            node("catalog", "catalog", json!({"path": "c.json"})),
            // Hive-style date and hour folders from the arrival of each object's oldest
            // record, as AWS's own example writes them.
            node("dated", "firehose", json!({"format": "json",
                "prefix": "dated/dt=!{timestamp:yyyy'-'MM'-'dd}/hh=!{timestamp:HH}/",
                "error_prefix": "dated-errors/!{firehose:error-output-type}/"})),
            // Dynamic partitioning with a JQ query: the page without its slash, and
            // whether the user is an even one.
            node("by_page", "firehose", json!({"format": "json", "table": "by_page",
                "prefix": "by-page/page=!{partitionKeyFromQuery:page}/!{partitionKeyFromQuery:parity}/",
                "error_prefix": "by-page-errors/",
                "metadata_extraction_query":
                    "{page: .page | ltrimstr(\"/\"), parity: (if (.event_id % 2) == 0 then \"even\" else \"odd\" end)}"})),
            node("random", "firehose", json!({"format": "json",
                "prefix": "spread/!{firehose:random-string}/", "error_prefix": "spread-errors/"}))
        ],
        "edges": [
            edge("gen", "events", "clicks", "records"),
            edge("clicks", "records", "dated", "records"),
            edge("clicks", "records", "by_page", "records"),
            edge("clicks", "records", "random", "records"),
            edge("lake", "objects", "dated", "target"),
            edge("lake", "objects", "by_page", "target"),
            edge("lake", "objects", "random", "target"),
            edge("catalog", "catalog", "by_page", "catalog")
        ]
    });
    let run = run_ok(dir.path(), "p.json", &project, &[]);
    for id in ["dated", "by_page", "random"] {
        assert_eq!(run.node(id)["records_out"], n, "{id}");
    }
    let lake = dir.path().join("lake");

    // dt=YYYY-MM-DD/hh=HH/: the hour the records arrived in.
    let hours = hours_since(started);
    let dated = crate::support::files_under(&lake.join("dated"));
    assert!(!dated.is_empty());
    for f in &dated {
        let parts: Vec<&str> = f.split('/').collect();
        assert_eq!(parts.len(), 3, "{f}");
        let (dt, hh) = (
            parts[0].strip_prefix("dt=").unwrap(),
            parts[1].strip_prefix("hh=").unwrap(),
        );
        assert!(
            hours.contains(&(dt.to_owned(), hh.to_owned())),
            "{f} not in {hours:?}"
        );
    }
    assert!(!lake.join("dated-errors").exists(), "no errors");

    // page=<page>/<parity>/: every record in the folder of its own keys.
    let mut seen = BTreeSet::new();
    for f in crate::support::files_under(&lake.join("by-page")) {
        let parts: Vec<&str> = f.split('/').collect();
        assert_eq!(parts.len(), 3, "{f}");
        let page = parts[0].strip_prefix("page=").unwrap();
        let parity = parts[1];
        let text = std::fs::read_to_string(lake.join("by-page").join(&f)).unwrap();
        for line in text.lines() {
            let r: Value = serde_json::from_str(line).unwrap();
            assert_eq!(r["page"].as_str().unwrap().trim_start_matches('/'), page);
            let even = r["event_id"].as_i64().unwrap() % 2 == 0;
            assert_eq!(parity, if even { "even" } else { "odd" }, "{f}");
            seen.insert(r["event_id"].as_i64().unwrap());
        }
    }
    assert_eq!(seen.len() as u64, n);
    // The registered table: its keys are the folder levels (page, and partition_1 for
    // the bare parity level, as a Glue crawl names it), its partitions the folders.
    let c: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("c.json")).unwrap()).unwrap();
    let table = &c["databases"]["default"]["tables"]["by_page"];
    let keys: Vec<&str> = table["partition_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["page", "partition_1"], "{table}");
    let counts = crate::support::query(
        dir.path(),
        &dir.path().join("c.json"),
        "SELECT partition_1, COUNT(*) AS n FROM by_page GROUP BY partition_1 ORDER BY partition_1",
    );
    crate::support::assert_table(
        &counts,
        &[
            "+-------------+------+",
            "| partition_1 | n    |",
            "+-------------+------+",
            "| even        | 1001 |",
            "| odd         | 1000 |",
            "+-------------+------+",
        ],
    );

    // !{firehose:random-string}: 11 characters, a new one per object.
    let spread = crate::support::files_under(&lake.join("spread"));
    for f in &spread {
        let folder = f.split('/').next().unwrap();
        assert_eq!(folder.len(), 11, "{f}");
    }
}

#[test]
fn prefix_mistakes_are_named_before_the_run() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    for (config, says) in [
        (
            json!({"prefix": "x/k=!{partitionKeyFromQuery:k}/"}),
            "set metadata_extraction_query (a JQ query giving 'k') or add 'k' to partition_fields",
        ),
        (
            json!({"prefix": "x/!{timestamp:yyyy-ww}/"}),
            "the pattern letter 'w' is not supported",
        ),
        (
            json!({"prefix": "x/!{firehose:error-output-type}/"}),
            "can only be used in the error prefix",
        ),
        (
            json!({"prefix": "x/!{partitionKeyFromQuery:k}/", "metadata_extraction_query": "{k: .page"}),
            "metadata_extraction_query: not a JQ query",
        ),
    ] {
        let project = json!({
            "format_version": 2,
            "nodes": [
                node("gen", "generator", json!({"event": "clickstream", "count": 10})),
                node("lake", "bucket", json!({"path": "lake"})),
                node("deliver", "firehose", config)
            ],
            "edges": [
                edge("gen", "events", "deliver", "records"),
                edge("lake", "objects", "deliver", "target")
            ]
        });
        let path = dir.path().join("p.json");
        crate::support::write(&path, serde_json::to_string(&project).unwrap());
        let out = crate::support::cli_in(dir.path(), &["validate", "p.json"]);
        assert_eq!(out.code, 1, "{out:?}");
        assert!(
            out.stderr.contains("node 'deliver'") && out.stderr.contains(says),
            "{says}: {}",
            out.stderr
        );
    }
}

const SLEEPY_PY: &str = r#"
import base64, json, time

def handler(event, context):
    time.sleep(0.3)
    return [json.loads(base64.b64decode(r["kinesis"]["data"])) for r in event["Records"]]
"#;

#[test]
fn a_function_beyond_its_reserved_concurrency_is_throttled_and_catches_up() {
    let lambda = |reserved: u32| {
        json!({"format_version": 2, "aws_realism": true,
            "nodes": [
                node("gen", "generator", json!({"event": "clickstream", "rate_per_sec": 0.0,
                    "count": 400, "keys": 40, "batch_size": 100, "seed": 4})),
                node("clicks", "stream", json!({"shards": 4, "partition_key": "user_id"})),
                node("slow", "lambda", json!({"runtime": "python3.11", "handler": "app.handler",
                    "code": SLEEPY_PY, "batch_size": 25,
                    "reserved_concurrent_executions": reserved,
                    "output_columns": ["event_id Int64", "user_id Utf8"]})),
                node("lake", "bucket", json!({"path": "lake"})),
                node("deliver", "firehose", json!({"prefix": "out/", "format": "json"}))
            ],
            "edges": [
                edge("gen", "events", "clicks", "records"),
                edge("clicks", "records", "slow", "records"),
                edge("slow", "records", "deliver", "records"),
                edge("lake", "objects", "deliver", "target")
            ]
        })
    };
    // Four shards' mappings invoke at once; one execution at a time is allowed.
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let run = run_ok(dir.path(), "p.json", &lambda(1), &[]);
    let slow = run.node("slow");
    let throttles = slow["stats"]["detail"]["throttles"].as_u64().unwrap();
    assert!(throttles > 0, "{slow}");
    assert_eq!(slow["throttled"], throttles, "the node's throttled count");
    assert_eq!(
        delivered_in_order(dir.path()).len(),
        400,
        "every record, once"
    );
    // Enough concurrency for every shard: nothing throttled.
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let run = run_ok(dir.path(), "p.json", &lambda(4), &[]);
    assert_eq!(run.node("slow")["stats"]["detail"]["throttles"], 0);
    assert_eq!(delivered_in_order(dir.path()).len(), 400);
}

#[test]
fn conservation_counts_what_a_function_failed_and_what_a_firehose_delivered() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let n = 1_000u64;
    let project = json!({
        "format_version": 2,
        "nodes": [
            node("gen", "generator", json!({"event": "clickstream", "rate_per_sec": 0.0,
                "count": n, "keys": 10, "batch_size": 250, "seed": 2})),
            node("clicks", "stream", json!({"shards": 2, "partition_key": "user_id"})),
            node("enrich", "lambda", json!({"runtime": "rhai", "batch_size": 100,
                "maximum_retry_attempts": 0, "bisect_batch_on_function_error": true,
                "script": "if record.event_id % 10 == 3 { throw \"bad\"; } record"})),
            node("lake", "bucket", json!({"path": "lake"})),
            node("raw", "firehose", json!({"prefix": "raw/", "error_prefix": "raw-errors/"})),
            node("out", "firehose", json!({"prefix": "out/", "error_prefix": "out-errors/"})),
            node("errors", "firehose", json!({"prefix": "errors/", "error_prefix": "e-errors/"}))
        ],
        "edges": [
            edge("gen", "events", "clicks", "records"),
            edge("clicks", "records", "enrich", "records"),
            edge("clicks", "records", "raw", "records"),
            edge("enrich", "records", "out", "records"),
            edge("enrich", "failed", "errors", "records"),
            edge("lake", "objects", "raw", "target"),
            edge("lake", "objects", "out", "target"),
            edge("lake", "objects", "errors", "target")
        ]
    });
    let run = run_ok(dir.path(), "p.json", &project, &[]);
    let c = &run.summary["conservation"];
    // Two readers of the stream: the function (a tenth failed) and the raw Firehose.
    let flows = c["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 2, "{c}");
    let flow = |reader: &str| flows.iter().find(|f| f["reader"] == reader).unwrap();
    assert_eq!(
        flow("enrich"),
        &json!({"stream": "clicks", "reader": "enrich", "in": n, "delivered": 900,
            "failed": 100, "expired": 0, "in_flight": 0})
    );
    assert_eq!(
        flow("raw"),
        &json!({"stream": "clicks", "reader": "raw", "in": n, "delivered": n,
            "failed": 0, "expired": 0, "in_flight": 0})
    );
    assert_eq!(c["in"], 2 * n);
    assert_eq!(c["failed"], 100);
    assert_eq!(c["balanced"], true);
    // And the files say the same.
    assert_eq!(records_under(&dir.path().join("lake/errors")).len(), 100);
    assert_eq!(records_under(&dir.path().join("lake/out")).len(), 900);
}

#[test]
fn an_on_demand_stream_scales_to_twice_its_peak_and_stops_throttling() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    // 36,000 records at 12,000 a second into a new on-demand stream, which takes 4,000
    // a second (4 shards) until it has seen its peak.
    let n = 36_000;
    let mut project = producer_pipeline(12_000.0, n, 1);
    project["nodes"][0]["config"]["keys"] = json!(5000);
    project["nodes"][1]["config"]["stream_mode"] = json!("ON_DEMAND");
    let run = run_ok(dir.path(), "p.json", &project, &[]);
    let stream = run.node("clicks");
    assert_eq!(stream["records_out"], n, "{stream}");
    // Throttled at first, then scaled to twice the peak it took.
    assert!(stream["throttled"].as_u64().unwrap() > 0, "{stream}");
    let said = run.summary["warnings"].to_string();
    assert!(
        said.contains("resharded by on-demand scaling (a new peak of "),
        "{said}"
    );
    assert!(said.contains("4 → "), "{said}");
    assert_eq!(run.summary["conservation"]["balanced"], true);
    assert_eq!(
        delivered_in_order(dir.path()),
        (0..n as i64).collect::<BTreeSet<_>>(),
        "every record once, in order per user across the resharding"
    );
}

#[test]
fn standard_readers_share_a_shards_read_limit_and_an_enhanced_fan_out_reader_has_its_own() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    // Records of ~1.7 KB into one shard (1 MiB/s of writes): three Firehoses read it
    // as standard readers, sharing 2 MiB/s, so they fall behind and are held back; a
    // function reads it through an enhanced fan-out consumer, at 2 MiB/s of its own.
    let n = 3_000u64;
    let mut nodes = vec![
        node(
            "gen",
            "generator",
            json!({"event": "clickstream", "rate_per_sec": 0.0,
            "count": n, "keys": 50, "batch_size": 100, "seed": 5}),
        ),
        node(
            "pad",
            "lambda",
            json!({"runtime": "sql", "batch_size": 500,
            "sql": "SELECT *, repeat('x', 1500) AS pad FROM input"}),
        ),
        node(
            "clicks",
            "stream",
            json!({"shards": 1, "partition_key": "user_id"}),
        ),
        node(
            "efo",
            "lambda",
            json!({"runtime": "sql", "batch_size": 500,
            "enhanced_fan_out": true, "sql": "SELECT event_id, user_id FROM input"}),
        ),
        node("lake", "bucket", json!({"path": "lake"})),
        node(
            "out",
            "firehose",
            json!({"prefix": "out/", "format": "json"}),
        ),
    ];
    let mut edges = vec![
        edge("gen", "events", "pad", "records"),
        edge("pad", "records", "clicks", "records"),
        edge("clicks", "records", "efo", "records"),
        edge("efo", "records", "out", "records"),
        edge("lake", "objects", "out", "target"),
    ];
    for i in 1..=3 {
        let id = format!("raw{i}");
        nodes.push(node(
            &id,
            "firehose",
            json!({"prefix": format!("{id}/"), "format": "json"}),
        ));
        edges.push(edge("clicks", "records", &id, "records"));
        edges.push(edge("lake", "objects", &id, "target"));
    }
    let project = json!({"format_version": 2, "aws_realism": true, "nodes": nodes, "edges": edges});
    let run = run_ok(dir.path(), "p.json", &project, &[]);
    for i in 1..=3 {
        let raw = run.node(&format!("raw{i}"));
        assert!(raw["throttled"].as_u64().unwrap() > 0, "{raw}");
        assert_eq!(raw["records_in"], n);
        assert_eq!(
            records_under(&dir.path().join(format!("lake/raw{i}"))).len() as u64,
            n
        );
    }
    let efo = run.node("efo");
    assert_eq!(efo["throttled"], 0, "{efo}");
    assert_eq!(records_under(&dir.path().join("lake/out")).len() as u64, n);
    assert_eq!(run.summary["conservation"]["balanced"], true);
    // Priced: the consumer's shard-hours and the GB it read.
    let items = run.node("clicks")["cost"]["items"]
        .as_array()
        .unwrap()
        .clone();
    let item = |what: &str| items.iter().find(|i| i["what"] == what).cloned();
    let hours =
        item("Kinesis enhanced fan-out consumer-shard-hours").expect("consumer-shard-hours");
    let shard_hours = item("Kinesis shard-hours").unwrap();
    assert_eq!(
        hours["quantity"], shard_hours["quantity"],
        "one consumer × one shard"
    );
    let gb = item("Kinesis enhanced fan-out data retrievals").unwrap()["quantity"]
        .as_f64()
        .unwrap();
    let read = gb * (1u64 << 30) as f64;
    assert!(
        (1500.0 * n as f64..2500.0 * n as f64).contains(&read),
        "{read} bytes read for {n} records of ~1.7 KB"
    );
}

/// A served stream of 2 shards read by a SQL function per shard, delivered by a Firehose.
fn resharded_pipeline(shards: u64) -> Value {
    json!({
        "format_version": 2,
        "aws_realism": false,
        "nodes": [
            node("raw", "stream", json!({"shards": shards, "partition_key": "user_id",
                "columns": ["user_id string", "event_id bigint"]})),
            node("enrich", "lambda", json!({"runtime": "sql", "batch_size": 1000,
                "maximum_batching_window_in_seconds": 0.5,
                "sql": "SELECT user_id, event_id FROM input"})),
            node("lake", "bucket", json!({"path": "lake"})),
            node("deliver", "firehose", json!({"prefix": "out/", "format": "json",
                "buffer_interval_ms": 300}))
        ],
        "edges": [
            edge("raw", "records", "enrich", "records"),
            edge("enrich", "records", "deliver", "records"),
            edge("lake", "objects", "deliver", "target")
        ]
    })
}

#[test]
fn resharding_2_4_3_while_producers_put_keeps_order_per_key_and_delivers_everything_once() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let project = resharded_pipeline(2);
    let mut served = crate::wire::Served::start(dir.path(), &project, &["raw"]);
    let out = crate::wire::client(dir.path(), &served.url(), RESHARD_CLIENT);
    // Changed in the inspector while running: 3 open shards → 5.
    served.load(dir.path(), &resharded_pipeline(5), 2);
    served.wait_log("raw", "resharded by the inspector");
    let more = crate::wire::client(dir.path(), &served.url(), RESHARD_MORE);
    let (status, summary, logs) = served.stop();
    assert_eq!(
        status,
        tributary_engine::NodeStatus::Stopped,
        "{summary:#?}"
    );
    // UpdateShardCount answers as AWS does, and refuses beyond double.
    assert_eq!(
        out["update"],
        json!([
            {"StreamName": "raw", "CurrentShardCount": 2, "TargetShardCount": 4},
            {"StreamName": "raw", "CurrentShardCount": 4, "TargetShardCount": 3}
        ]),
        "{out}"
    );
    assert_eq!(out["too_many"], json!("LimitExceededException"), "{out}");
    // After 2 → 4: shards 0 and 1 closed with an ending sequence number; 2..5 open,
    // each a child of the shard whose half of the key space it splits.
    let after4 = &out["after4"];
    assert_eq!(after4.as_array().unwrap().len(), 6, "{out}");
    for (i, s) in after4.as_array().unwrap().iter().enumerate() {
        assert_eq!(s["ShardId"], json!(format!("shardId-{i:012}")));
        assert_eq!(s["closed"], json!(i < 2), "{s}");
        if i >= 2 {
            assert_eq!(
                s["ParentShardId"],
                json!(format!("shardId-{:012}", (i - 2) / 2))
            );
            let quarter = (u128::MAX / 4) + 1;
            assert_eq!(
                s["StartingHashKey"],
                json!((quarter * (i as u128 - 2)).to_string())
            );
        }
    }
    // After 4 → 3: three children, each merged from the two quarters it overlaps.
    assert_eq!(
        out["open_after3"],
        json!([
            [
                "shardId-000000000006",
                "shardId-000000000002",
                "shardId-000000000003"
            ],
            [
                "shardId-000000000007",
                "shardId-000000000003",
                "shardId-000000000004"
            ],
            [
                "shardId-000000000008",
                "shardId-000000000004",
                "shardId-000000000005"
            ]
        ]),
        "{out}"
    );
    assert_eq!(out["open_count"], json!(3));
    // Reading a closed shard to its end: no next iterator, and its children.
    assert_eq!(
        out["children_of_0"],
        json!(["shardId-000000000002", "shardId-000000000003"]),
        "{out}"
    );
    assert_eq!(out["split_merge"], json!([[9, 10], 11]), "{out}");
    // Every record delivered once through the function, each user's in put order
    // across parents and children.
    let total = out["put"].as_u64().unwrap() + more["put"].as_u64().unwrap();
    assert_eq!(total, 8_000);
    let ids = delivered_in_order(dir.path());
    assert_eq!(ids.len() as u64, total);
    assert_eq!(ids.iter().next_back().copied(), Some(total as i64 - 1));
    let f = summary.iter().find(|s| s.id == "enrich").unwrap();
    assert_eq!(f.stats.records_out, total, "{f:#?}");
    let said: Vec<&str> = logs
        .iter()
        .filter(|(n, _)| n.as_deref() == Some("raw"))
        .map(|(_, m)| m.as_str())
        .collect();
    assert!(
        said.iter().any(|m| m.starts_with(
            "resharded by the Kinesis API: 2 → 4 open shards; opened shardId-000000000002 (from shardId-000000000000)"
        )),
        "{said:#?}"
    );
    assert!(
        said.iter().any(|m| m.starts_with(
            "resharded by the inspector (UpdateShardCount, UNIFORM_SCALING): 3 → 5 open shards"
        )),
        "{said:#?}"
    );
}

/// Puts numbered events of 30 users through 2 → 4 → 3 shards, a split and a merge, and
/// looks at the shards as a KCL would.
const RESHARD_CLIENT: &str = r#"
import json, os
import boto3
from botocore.exceptions import ClientError

k = boto3.client("kinesis", endpoint_url=os.environ["ENDPOINT"])
out = {"update": []}
n = 0
def put(count):
    global n
    for start in range(0, count, 250):
        recs = []
        for i in range(start, min(count, start + 250)):
            user = "user-%d" % (n % 30)
            recs.append({"Data": json.dumps({"user_id": user, "event_id": n}).encode(), "PartitionKey": user})
            n += 1
        r = k.put_records(StreamName="raw", Records=recs)
        assert r["FailedRecordCount"] == 0, r

def shards(**kw):
    got = k.list_shards(StreamName="raw", **kw)["Shards"]
    return got

def update(target):
    r = k.update_shard_count(StreamName="raw", TargetShardCount=target, ScalingType="UNIFORM_SCALING")
    out["update"].append({x: r[x] for x in ("StreamName", "CurrentShardCount", "TargetShardCount")})

put(1500)
update(4)
out["after4"] = [{"ShardId": s["ShardId"], "ParentShardId": s.get("ParentShardId"),
                  "StartingHashKey": s["HashKeyRange"]["StartingHashKey"],
                  "closed": "EndingSequenceNumber" in s["SequenceNumberRange"]} for s in shards()]
put(1500)
try:
    k.update_shard_count(StreamName="raw", TargetShardCount=9, ScalingType="UNIFORM_SCALING")
    out["too_many"] = None
except ClientError as e:
    out["too_many"] = e.response["Error"]["Code"]
update(3)
put(1500)
out["open_after3"] = [[s["ShardId"], s.get("ParentShardId"), s.get("AdjacentParentShardId")]
                      for s in shards(ShardFilter={"Type": "AT_LATEST"})]
out["open_count"] = k.describe_stream_summary(StreamName="raw")["StreamDescriptionSummary"]["OpenShardCount"]
# A closed shard read to its end ends its iterator and names its children.
it = k.get_shard_iterator(StreamName="raw", ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
children = None
while it:
    r = k.get_records(ShardIterator=it, Limit=1000)
    it = r.get("NextShardIterator")
    if "ChildShards" in r:
        children = [c["ShardId"] for c in r["ChildShards"]]
out["children_of_0"] = children
# Split the middle third at its midpoint, put, merge the halves back, put.
mid = [s for s in shards(ShardFilter={"Type": "AT_LATEST"}) if s["ShardId"] == "shardId-000000000007"][0]
lo, hi = int(mid["HashKeyRange"]["StartingHashKey"]), int(mid["HashKeyRange"]["EndingHashKey"])
k.split_shard(StreamName="raw", ShardToSplit="shardId-000000000007", NewStartingHashKey=str((lo + hi) // 2))
open_ids = sorted(int(s["ShardId"][8:]) for s in shards(ShardFilter={"Type": "AT_LATEST"}))
put(1000)
k.merge_shards(StreamName="raw", ShardToMerge="shardId-000000000009", AdjacentShardToMerge="shardId-000000000010")
merged = [int(s["ShardId"][8:]) for s in shards(ShardFilter={"Type": "AT_LATEST"}) if s.get("AdjacentParentShardId") == "shardId-000000000010"]
out["split_merge"] = [[i for i in open_ids if i >= 9], merged[0] if merged else None]
put(1500)
out["put"] = n
print(json.dumps(out))
"#;

/// Puts 1,000 more events (numbered on from 7,000) after the inspector resharded.
const RESHARD_MORE: &str = r#"
import json, os
import boto3
k = boto3.client("kinesis", endpoint_url=os.environ["ENDPOINT"])
recs = [{"Data": json.dumps({"user_id": "user-%d" % (n % 30), "event_id": n}).encode(),
         "PartitionKey": "user-%d" % (n % 30)} for n in range(7000, 8000)]
for i in range(0, 1000, 250):
    r = k.put_records(StreamName="raw", Records=recs[i:i + 250])
    assert r["FailedRecordCount"] == 0, r
print(json.dumps({"put": 1000}))
"#;
