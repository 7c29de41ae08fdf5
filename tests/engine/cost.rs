//! The cost shadow meter: a run with known counts costs what the price file says, item
//! by item, computed here step by step; designs compare; a project's own price file wins.

use serde_json::{Value, json};

use crate::streaming::{edge, node};
use crate::support::{build_lake, repo_root, run_ok, scratch};

/// The bundled price file, read as a user would.
fn prices() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("assets/aws-prices.json")).unwrap(),
    )
    .unwrap()
}

/// The item `what` of node `n`'s cost (panics, showing the cost, when there is none).
fn item<'a>(n: &'a Value, what: &str) -> &'a Value {
    n["cost"]["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["what"] == what))
        .unwrap_or_else(|| panic!("no '{what}' in {}", n["cost"]))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1e-12)
}

/// Asserts item `what` of node `n` has `quantity` and costs `usd`.
fn assert_item(n: &Value, what: &str, quantity: f64, usd: f64) {
    let i = item(n, what);
    let (q, u) = (i["quantity"].as_f64().unwrap(), i["usd"].as_f64().unwrap());
    assert!(
        close(q, quantity),
        "{what}: quantity {q}, expected {quantity}"
    );
    assert!(close(u, usd), "{what}: ${u}, expected ${usd}");
}

fn pipeline(shards: u64, batch_size: u64) -> Value {
    json!({
        "format_version": 2,
        "aws_realism": false,
        "nodes": [
            node("gen", "generator", json!({"event": "clickstream", "rate_per_sec": 0.0,
                "count": 3000, "keys": 50, "batch_size": 500, "seed": 5})),
            node("clicks", "stream", json!({"shards": shards, "partition_key": "user_id"})),
            node("enrich", "lambda", json!({"runtime": "sql", "batch_size": batch_size,
                "memory_size": 256, "sql": "SELECT event_id, user_id, page FROM input"})),
            node("lake", "bucket", json!({"path": "lake"})),
            node("deliver", "firehose", json!({"prefix": "out/", "format": "parquet",
                "buffer_interval_ms": 60000})),
            node("raw", "bucket", json!({"path": "lake", "prefix": "weather"})),
            node("crawl", "crawler", json!({})),
            node("catalog", "catalog", json!({"path": "catalog.json"})),
            node("weather", "query", json!({"sql": "SELECT COUNT(*) AS n FROM weather"}))
        ],
        "edges": [
            edge("gen", "events", "clicks", "records"),
            edge("clicks", "records", "enrich", "records"),
            edge("enrich", "records", "deliver", "records"),
            edge("lake", "objects", "deliver", "target"),
            edge("raw", "objects", "crawl", "source"),
            edge("crawl", "tables", "catalog", "crawlers"),
            edge("catalog", "catalog", "weather", "catalog")
        ]
    })
}

#[test]
fn a_run_costs_what_the_price_file_says_item_by_item() {
    let dir = scratch();
    build_lake(&dir.path().join("lake"));
    let run = run_ok(dir.path(), "p.json", &pipeline(2, 100), &[]);
    let p = prices();
    let n = 3000.0;

    // Kinesis: 2 shards for as long as the stream ran; every record (a few hundred bytes
    // of JSON and its key) is one 25 KB PUT payload unit.
    let clicks = run.node("clicks");
    let hours = clicks["elapsed_ms"].as_f64().unwrap() / 3_600_000.0;
    let k = &p["kinesis"];
    assert_item(
        clicks,
        "Kinesis shard-hours",
        2.0 * hours,
        2.0 * hours * k["shard_hour"].as_f64().unwrap(),
    );
    assert_item(
        clicks,
        "Kinesis PUT payload units (25 KB)",
        n,
        n * k["put_payload_units_per_million"].as_f64().unwrap() / 1e6,
    );
    assert_eq!(clicks["stats"]["detail"]["records_put"], 3000);
    // At this rate for a month: 2 shards × 730 hours, whatever the run's length.
    let month = clicks["cost"]["usd_per_month"].as_f64().unwrap();
    let shard_month = 2.0 * 730.0 * k["shard_hour"].as_f64().unwrap();
    assert!(month > shard_month, "{month}");

    // Lambda: a request per invocation, GB-seconds of the billed (whole ms) durations at
    // 256 MB.
    let enrich = run.node("enrich");
    let detail = &enrich["stats"]["detail"];
    let invocations = detail["invocations"].as_f64().unwrap();
    assert!(
        invocations >= 30.0,
        "3,000 records in batches of at most 100"
    );
    let billed_ms = detail["billed_duration_ms"].as_f64().unwrap();
    assert!(billed_ms >= invocations, "at least 1 ms each");
    let l = &p["lambda"];
    assert_item(
        enrich,
        "Lambda requests",
        invocations,
        invocations * l["requests_per_million"].as_f64().unwrap() / 1e6,
    );
    let gb_s = billed_ms / 1000.0 * 256.0 / 1024.0;
    assert_item(
        enrich,
        "Lambda compute at 256 MB",
        gb_s,
        gb_s * l["gb_second"].as_f64().unwrap(),
    );

    // Firehose: each record rounds up to 5 KB of ingestion; Parquet is a format
    // conversion; each object is an S3 PUT.
    let deliver = run.node("deliver");
    let f = &p["firehose"];
    let gb = n * 5120.0 / (1u64 << 30) as f64;
    assert_item(
        deliver,
        "Firehose ingestion (5 KB increments)",
        gb,
        gb * f["ingested_gb"].as_f64().unwrap(),
    );
    assert_item(
        deliver,
        "Firehose format conversion",
        gb,
        gb * f["format_conversion_gb"].as_f64().unwrap(),
    );
    let objects = deliver["stats"]["detail"]["objects"].as_f64().unwrap();
    assert!(objects >= 1.0);
    assert_item(
        deliver,
        "S3 PUT requests",
        objects,
        objects * p["s3"]["put_requests_per_1000"].as_f64().unwrap() / 1000.0,
    );

    // Glue crawler: a run this fast is billed its 10-minute minimum at 2 DPUs.
    let g = &p["glue"];
    let dpu_hours = g["crawler_dpus"].as_f64().unwrap() * 600.0 / 3600.0;
    assert_item(
        run.node("crawl"),
        "Glue crawler run",
        dpu_hours,
        dpu_hours * g["dpu_hour"].as_f64().unwrap(),
    );
    assert!(
        run.node("crawl")["cost"]["usd_per_month"].is_null(),
        "per run"
    );

    // Athena: a query over a small table is billed its 10 MB minimum.
    let tb = 10.0 * 1024.0 * 1024.0 / (1u64 << 40) as f64;
    assert_item(
        run.node("weather"),
        "Athena data scanned",
        tb,
        tb * p["athena"]["tb_scanned"].as_f64().unwrap(),
    );

    // Nodes no AWS service bills have no cost; the total is the sum of the nodes'.
    assert!(run.node("gen")["cost"].is_null());
    assert!(run.node("lake")["cost"].is_null());
    assert!(run.node("catalog")["cost"].is_null());
    let sum: f64 = run.summary["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["cost"]["usd"].as_f64())
        .sum();
    assert!(close(run.summary["cost_usd"].as_f64().unwrap(), sum));
    assert!(
        run.summary["prices"]
            .as_str()
            .unwrap()
            .starts_with("us-east-1 prices of 20"),
        "{}",
        run.summary["prices"]
    );
}

#[test]
fn designs_compare_by_shards_and_batch_size_and_a_projects_price_file_wins() {
    let month_of_shards = |run: &crate::support::Run| {
        let c = &run.node("clicks")["cost"];
        let shard = item(run.node("clicks"), "Kinesis shard-hours");
        c["usd_per_month"].as_f64().unwrap() * shard["usd"].as_f64().unwrap()
            / c["usd"].as_f64().unwrap()
    };
    let requests = |run: &crate::support::Run| {
        item(run.node("enrich"), "Lambda requests")["quantity"]
            .as_f64()
            .unwrap()
    };
    let dir = scratch();
    build_lake(&dir.path().join("lake"));
    let two = run_ok(dir.path(), "two.json", &pipeline(2, 100), &[]);
    let eight = run_ok(dir.path(), "eight.json", &pipeline(8, 100), &[]);
    let big_batches = run_ok(dir.path(), "big.json", &pipeline(2, 10_000), &[]);
    // Shard-hours for a month: 2 × 730 × $0.015 = $21.90 against 8 × 730 × $0.015.
    let shard_hour = prices()["kinesis"]["shard_hour"].as_f64().unwrap();
    assert!(
        close(month_of_shards(&two), 2.0 * 730.0 * shard_hour),
        "{} {}",
        month_of_shards(&two),
        two.node("clicks")["cost"]
    );
    assert!(close(month_of_shards(&eight), 8.0 * 730.0 * shard_hour));
    // Batches of 10,000 need far fewer invocations than batches of 100.
    assert!(
        requests(&two) >= 5.0 * requests(&big_batches),
        "{} vs {}",
        requests(&two),
        requests(&big_batches)
    );

    // On-demand: stream-hours, and each record's bytes rounded up to 1 KB, written once
    // and read once (one reader).
    let mut on_demand = pipeline(2, 100);
    on_demand["nodes"][1]["config"]["stream_mode"] = json!("ON_DEMAND");
    let od = run_ok(dir.path(), "od.json", &on_demand, &[]);
    let clicks = od.node("clicks");
    let k = &prices()["kinesis"];
    let hours = clicks["elapsed_ms"].as_f64().unwrap() / 3_600_000.0;
    assert_item(
        clicks,
        "Kinesis on-demand stream-hours",
        hours,
        hours * k["on_demand_stream_hour"].as_f64().unwrap(),
    );
    let gb = 3000.0 * 1024.0 / (1u64 << 30) as f64;
    assert_item(
        clicks,
        "Kinesis on-demand data in (1 KB increments)",
        gb,
        gb * k["on_demand_data_in_gb"].as_f64().unwrap(),
    );
    assert_item(
        clicks,
        "Kinesis on-demand data out",
        gb,
        gb * k["on_demand_data_out_gb"].as_f64().unwrap(),
    );
    assert!(
        clicks["cost"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["what"] != "Kinesis shard-hours")
    );

    // A price file beside the project replaces the bundled one.
    let mut mine = prices();
    mine["region"] = json!("eu-west-1");
    mine["kinesis"]["shard_hour"] = json!(1.0);
    std::fs::write(
        dir.path().join("aws-prices.json"),
        serde_json::to_string(&mine).unwrap(),
    )
    .unwrap();
    let priced = run_ok(dir.path(), "two.json", &pipeline(2, 100), &[]);
    assert!(close(month_of_shards(&priced), 2.0 * 730.0));
    assert!(
        priced.summary["prices"]
            .as_str()
            .unwrap()
            .contains("eu-west-1"),
    );
    // One that does not read is named, and the bundled prices are used.
    std::fs::write(dir.path().join("aws-prices.json"), "{").unwrap();
    let broken = run_ok(dir.path(), "two.json", &pipeline(2, 100), &[]);
    assert!(close(month_of_shards(&broken), 2.0 * 730.0 * shard_hour));
    let warnings = broken.summary["warnings"].to_string();
    assert!(
        warnings.contains("aws-prices.json: not a price file"),
        "{warnings}"
    );
}
