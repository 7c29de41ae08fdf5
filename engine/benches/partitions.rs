//! Partition benchmarks: `cargo bench -p tributary-engine --bench partitions`.
//!
//! 1. Pruning: a Firehose-style table of 24 × 30 hour folders (`YYYY/MM/dd/HH/`, two JSON
//!    files each), crawled into `partition_0` … `partition_3`. A one-hour query through
//!    the partition keys against the same query over the same files as an unpartitioned
//!    table (no pruning: every file is read and filtered on a data column).
//! 2. Projection: 10,000 hourly `dt=yyyy-MM-dd-HH` folders. Planning a one-hour query
//!    with partition projection (partitions computed, one folder listed) against
//!    DataFusion's `ListingTable`, which discovers partitions by listing the folder, and
//!    against the same 10,000 partitions registered in the catalog.
//!
//! Medians of 7 runs after a warm-up, interleaved.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tributary_engine::datafusion::datasource::file_format::json::JsonFormat;
use tributary_engine::datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use tributary_engine::datafusion::prelude::SessionContext;
use tributary_engine::lake::bucket::Bucket;
use tributary_engine::lake::catalog::{CatalogStore, Column, FormatOptions, Partition, Table};
use tributary_engine::lake::crawler::{CrawlOptions, apply_to_catalog, crawl};
use tributary_engine::lake::provider::ScanHooks;
use tributary_engine::lake::sniff::{FileFormat, JsonLayout};
use tributary_engine::lake::sql;

const RUNS: usize = 7;

fn bench_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-partitions")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// 24 hours × 30 days of Firehose folders, two files of 500 records each.
fn firehose_lake(root: &Path) {
    let marker = root.join(".done");
    if marker.exists() {
        return;
    }
    let _ = std::fs::remove_dir_all(root);
    for day in 1..=30 {
        for hour in 0..24 {
            let dir = root.join(format!("orders/2026/11/{day:02}/{hour:02}"));
            std::fs::create_dir_all(&dir).unwrap();
            for part in 0..2 {
                let mut text = String::new();
                for i in 0..500 {
                    text.push_str(&format!(
                        "{{\"order_id\": {}, \"hour\": \"2026-11-{day:02} {hour:02}\", \"amount\": {}.5, \"sku\": \"sku-{}\"}}\n",
                        ((day * 24 + hour) * 2 + part) * 500 + i,
                        i % 97,
                        i % 13
                    ));
                }
                std::fs::write(dir.join(format!("orders-{part}.json")), text).unwrap();
            }
        }
    }
    std::fs::write(marker, "").unwrap();
}

/// Runs `sql` RUNS times (after one warm-up); median time and files read.
fn time_query(
    rt: &tokio::runtime::Runtime,
    store: &CatalogStore,
    q: &str,
) -> (Duration, usize, u64) {
    let mut times = Vec::new();
    let mut files = 0;
    let mut rows = 0;
    for run in 0..=RUNS {
        let hooks = ScanHooks::default();
        let ctx = sql::session(Some(store), &hooks, &Default::default()).unwrap();
        let start = Instant::now();
        let result = rt.block_on(sql::run_query(&ctx, q, &hooks)).unwrap();
        let took = start.elapsed();
        files = hooks.scanned_files().len();
        rows = result.stats.rows_read;
        if run > 0 {
            times.push(took);
        }
    }
    (median(times), files, rows)
}

fn pruning(rt: &tokio::runtime::Runtime) {
    let root = bench_dir().join("firehose");
    firehose_lake(&root);
    let catalog = bench_dir().join("firehose-catalog.json");
    let _ = std::fs::remove_file(&catalog);
    let store = CatalogStore::open(&catalog).unwrap();
    let bucket = Arc::new(Bucket::open_local(&root, "", "").unwrap());
    let report = rt
        .block_on(crawl(&bucket, &CrawlOptions::default(), &|_, _| {}))
        .unwrap();
    apply_to_catalog(&store, &report).unwrap();
    // The same files as one unpartitioned table (read recursively, no pruning).
    store
        .update(|c| {
            let db = c.databases.get_mut("default").unwrap();
            let mut flat = db.tables["orders"].clone();
            flat.name = "orders_flat".to_owned();
            flat.partition_keys.clear();
            flat.partitions.clear();
            db.tables.insert(flat.name.clone(), flat);
            Ok(())
        })
        .unwrap();
    let partitions = store
        .snapshot()
        .tables()
        .find(|(_, t)| t.name == "orders")
        .unwrap()
        .1
        .partitions
        .len();
    println!("\n## Pruning: {partitions} hour partitions, 1,440 files, 720,000 records\n");
    println!("| query | files read | rows read | median |\n|---|---|---|---|");
    let pruned = "SELECT COUNT(*), SUM(amount) FROM orders WHERE partition_0 = '2026' AND partition_1 = '11' AND partition_2 = '15' AND partition_3 = '13'";
    let flat = "SELECT COUNT(*), SUM(amount) FROM orders_flat WHERE hour = '2026-11-15 13'";
    let mut results = Vec::new();
    for (name, q) in [
        ("partition keys (pruned)", pruned),
        ("unpartitioned (pruning off)", flat),
    ] {
        let (t, files, rows) = time_query(rt, &store, q);
        println!("| {name} | {files} | {rows} | {:.1} ms |", ms(t));
        results.push(t);
    }
    println!(
        "\npruned / unpruned time: {:.3} ({:.0}× faster)",
        results[0].as_secs_f64() / results[1].as_secs_f64(),
        results[1].as_secs_f64() / results[0].as_secs_f64()
    );
}

const HOURS: usize = 10_000;

/// 10,000 hourly `dt=yyyy-MM-dd-HH` folders with one small file each.
fn hourly_lake(root: &Path) -> Vec<String> {
    let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let values: Vec<String> = (0..HOURS)
        .map(|h| {
            (start + chrono::Duration::hours(h as i64))
                .format("%Y-%m-%d-%H")
                .to_string()
        })
        .collect();
    let marker = root.join(".done");
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(root);
        for v in &values {
            let dir = root.join(format!("events/dt={v}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("part.json"), "{\"id\": 1, \"amount\": 2.5}\n").unwrap();
        }
        std::fs::write(marker, "").unwrap();
    }
    values
}

fn projection(rt: &tokio::runtime::Runtime) {
    let root = bench_dir().join("hourly");
    let values = hourly_lake(&root);
    let location = format!("{}/events/", root.canonicalize().unwrap().display());
    let catalog = bench_dir().join("hourly-catalog.json");
    let _ = std::fs::remove_file(&catalog);
    let store = CatalogStore::open(&catalog).unwrap();
    let column = |name: &str, ty: &str| Column {
        name: name.to_owned(),
        data_type: ty.to_owned(),
        source_name: None,
        text_format: None,
    };
    let options = FormatOptions {
        file_extension: ".json".to_owned(),
        json_layout: Some(JsonLayout::Lines),
        ..Default::default()
    };
    let table = |name: &str| {
        Table::new(
            name.to_owned(),
            location.clone(),
            FileFormat::Json,
            options.clone(),
            vec![column("id", "Int64"), column("amount", "Float64")],
            vec![column("dt", "Utf8")],
            "bench",
        )
    };
    store
        .update(|c| {
            let db = c.ensure_database("default");
            let mut projected = table("projected");
            for (k, v) in [
                ("projection.enabled", "true"),
                ("projection.dt.type", "date"),
                ("projection.dt.format", "yyyy-MM-dd-HH"),
                ("projection.dt.range", "2025-01-01-00,2026-02-21-15"),
                ("projection.dt.interval", "1"),
                ("projection.dt.interval.unit", "HOURS"),
            ] {
                projected.parameters.insert(k.to_owned(), v.to_owned());
            }
            db.tables.insert("projected".to_owned(), projected);
            let mut registered = table("registered");
            registered.partitions = values
                .iter()
                .map(|v| Partition {
                    values: vec![v.clone()],
                    location: format!("dt={v}/"),
                    files: 1,
                    size_bytes: 25,
                })
                .collect();
            db.tables.insert("registered".to_owned(), registered);
            Ok(())
        })
        .unwrap();
    let filter = "dt >= '2025-06-01-00' AND dt < '2025-06-01-01'";
    let plan_ours = |name: &str| {
        let hooks = ScanHooks::default();
        let ctx = sql::session(Some(&store), &hooks, &Default::default()).unwrap();
        let q = format!("SELECT SUM(amount) FROM {name} WHERE {filter}");
        let start = Instant::now();
        rt.block_on(async {
            ctx.sql(&q)
                .await
                .unwrap()
                .create_physical_plan()
                .await
                .unwrap()
        });
        (
            start.elapsed(),
            hooks
                .partitions_read
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    };
    let plan_listing = || {
        let ctx = SessionContext::new();
        let url = ListingTableUrl::parse(&location).unwrap();
        let schema = Arc::new(tributary_engine::arrow::datatypes::Schema::new(vec![
            tributary_engine::arrow::datatypes::Field::new(
                "id",
                tributary_engine::arrow::datatypes::DataType::Int64,
                true,
            ),
            tributary_engine::arrow::datatypes::Field::new(
                "amount",
                tributary_engine::arrow::datatypes::DataType::Float64,
                true,
            ),
        ]));
        let options = ListingOptions::new(Arc::new(JsonFormat::default()))
            .with_file_extension(".json")
            .with_table_partition_cols(vec![(
                "dt".to_owned(),
                tributary_engine::arrow::datatypes::DataType::Utf8,
            )]);
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(schema);
        ctx.register_table("listed", Arc::new(ListingTable::try_new(config).unwrap()))
            .unwrap();
        let q = format!("SELECT SUM(amount) FROM listed WHERE {filter}");
        let start = Instant::now();
        rt.block_on(async {
            ctx.sql(&q)
                .await
                .unwrap()
                .create_physical_plan()
                .await
                .unwrap()
        });
        start.elapsed()
    };
    let (mut projected, mut registered, mut listed) = (Vec::new(), Vec::new(), Vec::new());
    let mut read = (0, 0);
    for run in 0..=RUNS {
        let (p, pr) = plan_ours("projected");
        let (r, rr) = plan_ours("registered");
        let l = plan_listing();
        if run > 0 {
            projected.push(p);
            registered.push(r);
            listed.push(l);
        }
        read = (pr, rr);
    }
    let (p, r, l) = (median(projected), median(registered), median(listed));
    println!(
        "\n## Projection: {HOURS} hourly partitions, a one-hour range filter, planning time\n"
    );
    println!("| how partitions are found | partitions listed | median planning |\n|---|---|---|");
    println!("| partition projection | {} | {:.1} ms |", read.0, ms(p));
    println!(
        "| registered in the catalog | {} | {:.1} ms |",
        read.1,
        ms(r)
    );
    println!(
        "| listing the folder (DataFusion ListingTable) | {HOURS} | {:.1} ms |",
        ms(l)
    );
    println!(
        "\nlisting / projection: {:.1}× ; listing / registered: {:.1}×",
        l.as_secs_f64() / p.as_secs_f64(),
        l.as_secs_f64() / r.as_secs_f64()
    );
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    pruning(&rt);
    projection(&rt);
}
