//! Lake benchmarks: `cargo bench -p tributary-engine --bench lake`.
//!
//! 1. A query over a 10M-row Parquet table through Tributary's catalog (the query node's
//!    code path) against the same SQL on DataFusion's own `register_parquet`. Reports the
//!    median of several runs of each, interleaved, and the ratio.
//! 2. Crawling 1,000 small CSV files.
//!
//! Set `TRIBUTARY_BENCH_ROWS` to change the table size.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tributary_engine::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use tributary_engine::arrow::datatypes::{DataType, Field, Schema};
use tributary_engine::datafusion::parquet::arrow::ArrowWriter;
use tributary_engine::datafusion::prelude::{ParquetReadOptions, SessionContext};
use tributary_engine::lake::bucket::Bucket;
use tributary_engine::lake::catalog::CatalogStore;
use tributary_engine::lake::crawler::{CrawlOptions, CrawlReport, apply_to_catalog, crawl};
use tributary_engine::lake::provider::ScanHooks;
use tributary_engine::lake::sql;

const FILES: usize = 8;
const RUNS: usize = 7;

fn bench_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data")
}

fn generate(dir: &Path, rows: usize) {
    let marker = dir.join(format!(".rows-{rows}"));
    if marker.exists() {
        return;
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("events")).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("user_key", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, false),
        Field::new("quantity", DataType::Int64, false),
    ]));
    let per_file = rows / FILES;
    let mut state = 0x2545F4914F6CDD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let keys: Vec<String> = (0..1000).map(|i| format!("user-{i:04}")).collect();
    for f in 0..FILES {
        let file = std::fs::File::create(dir.join(format!("events/part-{f}.parquet"))).unwrap();
        let mut w = ArrowWriter::try_new(file, schema.clone(), None).unwrap();
        let mut done = 0;
        while done < per_file {
            let n = (per_file - done).min(65_536);
            let base = (f * per_file + done) as i64;
            let ids = Int64Array::from_iter_values((0..n as i64).map(|i| base + i));
            let users = StringArray::from_iter_values(
                (0..n).map(|_| keys[(next() % 1000) as usize].as_str()),
            );
            let amounts =
                Float64Array::from_iter_values((0..n).map(|_| (next() % 100_000) as f64 / 100.0));
            let qty = Int64Array::from_iter_values((0..n).map(|_| (next() % 10) as i64));
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(ids),
                    Arc::new(users),
                    Arc::new(amounts),
                    Arc::new(qty),
                ],
            )
            .unwrap();
            w.write(&batch).unwrap();
            done += n;
        }
        w.close().unwrap();
    }
    std::fs::write(marker, b"").unwrap();
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rows: usize = std::env::var("TRIBUTARY_BENCH_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-rt")
        .enable_all()
        .build()
        .unwrap();
    let dir = bench_dir();
    let t = Instant::now();
    generate(&dir, rows);
    println!(
        "data: {rows} rows in {FILES} Parquet files ({:.1}s to prepare)",
        t.elapsed().as_secs_f64()
    );

    rt.block_on(async {
        // Tributary: crawl into a catalog, then query through it.
        let catalog_path = dir.join("catalog.json");
        let _ = std::fs::remove_file(&catalog_path);
        let store = CatalogStore::open(&catalog_path).unwrap();
        let bucket = Arc::new(Bucket::open_local(&dir, "", "").unwrap());
        let mut report: CrawlReport = crawl(&bucket, &CrawlOptions::default(), &|_, _| {}).await.unwrap();
        report.crawler = "bench".into();
        apply_to_catalog(&store, &report).unwrap();

        let queries = [
            ("group by key", "SELECT user_key, SUM(amount) AS total, COUNT(*) AS n FROM events GROUP BY user_key ORDER BY total DESC LIMIT 10"),
            ("filter + aggregate", "SELECT COUNT(*) AS n, AVG(amount) AS avg FROM events WHERE quantity = 3 AND amount > 500"),
            ("full scan sum", "SELECT SUM(id), SUM(quantity) FROM events"),
        ];
        let df_ctx = SessionContext::new();
        df_ctx
            .register_parquet("events", dir.join("events").to_str().unwrap(), ParquetReadOptions::default())
            .await
            .unwrap();
        println!("\n| query | DataFusion median | Tributary median | ratio |\n|---|---|---|---|");
        for (name, q) in queries {
            let mut ours = Vec::new();
            let mut theirs = Vec::new();
            for i in 0..RUNS + 1 {
                let t = Instant::now();
                let _ = df_ctx.sql(q).await.unwrap().collect().await.unwrap();
                let d_df = t.elapsed();
                let t = Instant::now();
                let hooks = ScanHooks::default();
                let session = sql::session(Some(&store), &hooks, &Default::default()).unwrap();
                let r = sql::run_query(&session, q, &hooks).await.unwrap();
                let d_us = t.elapsed();
                assert!(r.stats.rows > 0);
                if i > 0 {
                    // The first round warms the page cache for both.
                    theirs.push(d_df);
                    ours.push(d_us);
                }
            }
            let (a, b) = (median(theirs), median(ours));
            println!(
                "| {name} | {:.1} ms | {:.1} ms | {:.3} |",
                a.as_secs_f64() * 1e3,
                b.as_secs_f64() * 1e3,
                b.as_secs_f64() / a.as_secs_f64()
            );
        }

        // Crawl 1,000 small CSV files.
        let small = dir.join("small");
        if !small.join("t/f999.csv").exists() {
            std::fs::create_dir_all(small.join("t")).unwrap();
            for i in 0..1000 {
                let mut text = String::from("id,name,amount,day\n");
                for r in 0..50 {
                    text.push_str(&format!("{},name-{r},{}.5,2024/01/{:02}\n", i * 50 + r, r, r % 28 + 1));
                }
                std::fs::write(small.join(format!("t/f{i}.csv")), text).unwrap();
            }
        }
        let bucket = Arc::new(Bucket::open_local(&small, "", "").unwrap());
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let r = crawl(&bucket, &CrawlOptions::default(), &|_, _| {}).await.unwrap();
            times.push(t.elapsed());
            assert_eq!(r.tables[0].stats.files, 1000);
        }
        println!("\ncrawl 1,000 small CSV files: median {:.0} ms", median(times).as_secs_f64() * 1e3);
    });
}
