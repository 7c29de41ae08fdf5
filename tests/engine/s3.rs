//! S3-compatible buckets, against a real S3 server (`s3s-fs`) on loopback.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

/// An `s3s-fs` server over a scratch folder; each top-level folder is a bucket.
struct S3Server {
    child: Child,
    endpoint: String,
    root: tempfile::TempDir,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `s3s-fs` server binary: `TRIBUTARY_S3S_FS`, one on the PATH or in ~/.cargo/bin,
/// or else installed once into `target/tools` (so `cargo test` sets itself up on a fresh
/// machine; the install builds it from crates.io, a few minutes).
fn s3s_fs() -> PathBuf {
    if let Some(p) = std::env::var_os("TRIBUTARY_S3S_FS").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("s3s-fs"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if let Some(found) = on_path
        .into_iter()
        .chain([home.join(".cargo/bin/s3s-fs")])
        .find(|p| p.exists())
    {
        return found;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let tools = target.join("tools");
    let bin = tools.join("bin/s3s-fs");
    if !bin.exists() {
        let status = Command::new(env!("CARGO"))
            .args([
                "install",
                "s3s-fs@0.14.1",
                "--features",
                "binary",
                "--locked",
                "--root",
            ])
            .arg(&tools)
            .status()
            .expect("cargo runs");
        assert!(
            status.success(),
            "installing s3s-fs into {} failed",
            tools.display()
        );
    }
    bin
}

fn start_s3() -> S3Server {
    let root = scratch();
    std::fs::create_dir_all(root.path().join("lake")).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(s3s_fs())
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", "AKTEST", "--secret-key", "SKTEST"])
        .arg(root.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("s3s-fs starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "s3s-fs did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    S3Server {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
        root,
    }
}

/// Runs the CLI with the server's credentials in the environment.
/// The CLI with the test server's credentials (and no profile).
const S3_ENV: &[(&str, Option<&str>)] = &[
    ("AWS_ACCESS_KEY_ID", Some("AKTEST")),
    ("AWS_SECRET_ACCESS_KEY", Some("SKTEST")),
    ("AWS_PROFILE", None),
];

fn cli_s3(cwd: &Path, args: &[&str]) -> Output {
    cli_env(cwd, args, S3_ENV)
}

fn s3_bucket(id: &str, path: &str, endpoint: &str) -> Value {
    json!({"id": id, "kind": "bucket", "position": {"x": 0.0, "y": 0.0},
        "config": {"path": path, "endpoint": endpoint, "path_style": true}})
}

#[test]
fn crawl_query_and_etl_over_an_s3_bucket_match_a_local_folder() {
    let s3 = start_s3();
    write(
        &s3.root.path().join("lake/raw/weather/seattle-weather.csv"),
        std::fs::read(data("seattle-weather.csv")).unwrap(),
    );
    let dir = scratch();
    let sql = "SELECT weather, COUNT(*) AS days FROM weather GROUP BY weather ORDER BY days DESC, weather";
    let project = json!({
        "format_version": 1,
        "nodes": [
            s3_bucket("raw", "s3://lake/raw", &s3.endpoint),
            {"id": "crawl", "kind": "crawler", "position": {"x": 0.0, "y": 0.0}, "config": {}},
            {"id": "catalog", "kind": "catalog", "position": {"x": 0.0, "y": 0.0}, "config": {"path": "c.json"}},
            {"id": "q", "kind": "query", "position": {"x": 0.0, "y": 0.0}, "config": {"sql": sql}},
            s3_bucket("curated", "s3://lake/curated", &s3.endpoint),
            {"id": "etl", "kind": "etl", "position": {"x": 0.0, "y": 0.0},
             "config": {"sql": "SELECT weather, COUNT(*) AS days FROM weather GROUP BY weather",
                        "output_prefix": "by_weather", "table": "by_weather"}}
        ],
        "edges": [
            {"from": {"node": "raw", "port": "objects"}, "to": {"node": "crawl", "port": "source"}},
            {"from": {"node": "crawl", "port": "tables"}, "to": {"node": "catalog", "port": "crawlers"}},
            {"from": {"node": "catalog", "port": "catalog"}, "to": {"node": "q", "port": "catalog"}},
            {"from": {"node": "catalog", "port": "catalog"}, "to": {"node": "etl", "port": "catalog"}},
            {"from": {"node": "curated", "port": "objects"}, "to": {"node": "etl", "port": "target"}}
        ]
    });
    let run = try_run_env(dir.path(), "p.json", &project, &[], S3_ENV).ok();
    let node = |id: &str| run.node(id).clone();
    assert_eq!(node("q")["records_in"], 1461);
    assert_eq!(node("q")["records_out"], 5);
    // The ETL output is in the S3 bucket (the server's folder), staging removed.
    let written = files_under(&s3.root.path().join("lake/curated/by_weather"));
    assert!(
        !written.is_empty() && written.iter().all(|f| f.ends_with(".parquet")),
        "{written:?}"
    );
    assert!(
        files_under(&s3.root.path().join("lake"))
            .iter()
            .all(|f| !f.contains(".tributary"))
    );
    // The catalog records the S3 locations.
    let catalog: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("c.json")).unwrap()).unwrap();
    assert_eq!(
        catalog["databases"]["default"]["tables"]["weather"]["location"],
        "s3://lake/raw/weather/"
    );
    assert_eq!(
        catalog["databases"]["default"]["tables"]["by_weather"]["location"],
        "s3://lake/curated/by_weather/"
    );
    // Another process reads the S3 tables through the catalog alone: it records how to
    // reach the bucket (never the keys).
    assert_eq!(
        catalog["stores"]["s3://lake"]["endpoint"],
        s3.endpoint.as_str()
    );
    assert!(!serde_json::to_string(&catalog).unwrap().contains("SKTEST"));
    let out = cli_s3(
        dir.path(),
        &[
            "query",
            "--catalog",
            "c.json",
            "--format",
            "csv",
            "SELECT weather, days FROM by_weather ORDER BY days DESC, weather",
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [
            "weather,days",
            "sun,714",
            "fog,411",
            "rain,259",
            "drizzle,54",
            "snow,23"
        ],
        "{out:?}"
    );
    // The same data in a local folder gives the same answer.
    let local = scratch();
    write(
        &local.path().join("raw/weather/seattle-weather.csv"),
        std::fs::read(data("seattle-weather.csv")).unwrap(),
    );
    crawl(
        local.path(),
        &local.path().join("raw"),
        &local.path().join("c.json"),
    );
    let expected = query(local.path(), &local.path().join("c.json"), sql);
    let q = run.node("q");
    assert!(q["stats"].is_object(), "{q}");
    assert!(expected.contains("rain"), "{expected}");
}

#[test]
fn credentials_typed_for_the_session_open_the_bucket_and_wrong_ones_are_refused() {
    use tributary_engine::lake::bucket::{
        Bucket, S3Options, SessionCredentials, session_access_key, set_session_credentials,
    };
    let s3 = start_s3();
    write(&s3.root.path().join("lake/raw/a.csv"), "x\n1\n");
    let options = S3Options {
        endpoint: s3.endpoint.clone(),
        path_style: true,
        ..Default::default()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let list = |creds: SessionCredentials| {
        set_session_credentials(Some(creds));
        let bucket = Bucket::open_s3("s3://lake/raw", &options, "", "").unwrap();
        runtime.block_on(bucket.list_raw(""))
    };
    let good = list(SessionCredentials {
        access_key_id: "AKTEST".to_owned(),
        secret_access_key: "SKTEST".to_owned(),
        session_token: None,
    })
    .unwrap();
    assert_eq!(good.len(), 1, "{good:?}");
    assert!(good[0].0.ends_with("a.csv"), "{good:?}");
    assert_eq!(session_access_key().as_deref(), Some("AKTEST"));
    let bad = list(SessionCredentials {
        access_key_id: "AKTEST".to_owned(),
        secret_access_key: "wrong".to_owned(),
        session_token: None,
    })
    .unwrap_err()
    .to_string();
    assert!(
        bad.to_lowercase().contains("signature") || bad.contains("403"),
        "{bad}"
    );
    // The debug form (what a log line would show) never carries the secret.
    let shown = format!(
        "{:?}",
        SessionCredentials {
            access_key_id: "AKTEST".to_owned(),
            secret_access_key: "SKTEST".to_owned(),
            session_token: None,
        }
    );
    assert!(!shown.contains("SKTEST"), "{shown}");
    set_session_credentials(None);
    assert_eq!(session_access_key(), None);
}

#[test]
fn a_firehose_delivers_into_an_s3_bucket_and_its_table_is_queryable() {
    let s3 = start_s3();
    let dir = scratch();
    let n = 20_000u64;
    let project = json!({
        "format_version": 1,
        "nodes": [
            {"id": "gen", "kind": "generator", "config": {"event": "clickstream", "rate_per_sec": 0.0,
                "count": n, "keys": 50, "batch_size": 1000, "seed": 9}},
            s3_bucket("lake", "s3://lake", &s3.endpoint),
            {"id": "catalog", "kind": "catalog", "config": {"path": "c.json"}},
            {"id": "deliver", "kind": "firehose", "config": {"prefix": "clicks/", "format": "parquet",
                "buffer_mb": 0.2, "table": "clicks"}}
        ],
        "edges": [
            {"from": {"node": "gen", "port": "events"}, "to": {"node": "deliver", "port": "records"}},
            {"from": {"node": "lake", "port": "objects"}, "to": {"node": "deliver", "port": "target"}},
            {"from": {"node": "catalog", "port": "catalog"}, "to": {"node": "deliver", "port": "catalog"}}
        ]
    });
    try_run_env(dir.path(), "p.json", &project, &[], S3_ENV).ok();
    // Objects landed in the server's folder under clicks/YYYY/MM/dd/HH/, whole.
    let objects = files_under(&s3.root.path().join("lake/clicks"));
    assert!(!objects.is_empty(), "{objects:?}");
    assert!(
        objects
            .iter()
            .all(|o| o.ends_with(".parquet") && o.split('/').count() == 5),
        "{objects:?}"
    );
    // The Firehose registered the prefix as a table: every record is there once.
    let out = cli_s3(
        dir.path(),
        &[
            "query",
            "--catalog",
            "c.json",
            "--format",
            "csv",
            "SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS ids FROM clicks",
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.trim(), format!("n,ids\n{n},{n}"), "{out:?}");
    // The catalog counts the objects delivered (the Catalog tab showed "0 files").
    let catalog: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("c.json")).unwrap()).unwrap();
    let stats = &catalog["databases"]["default"]["tables"]["clicks"]["stats"];
    let bytes: u64 = objects
        .iter()
        .map(|o| {
            std::fs::metadata(s3.root.path().join("lake/clicks").join(o))
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(stats["files"], objects.len() as u64, "{stats}");
    assert_eq!(stats["size_bytes"], bytes, "{stats}");
}

#[test]
fn etl_staging_a_killed_run_left_on_s3_is_swept_and_a_failed_run_leaves_none() {
    let s3 = start_s3();
    let lake = s3.root.path().join("lake");
    write(
        &lake.join("raw/weather/seattle-weather.csv"),
        std::fs::read(data("seattle-weather.csv")).unwrap(),
    );
    let staging = lake.join(".tributary/staging");
    // What a killed run of this job left (its process is gone), another job's staging,
    // and the staging of a run of this job still going in a live process (this one).
    let now = chrono::Utc::now().format("%Y%m%dT%H%M%S%3f").to_string();
    let killed = format!("etl_etl-{now}-4000000");
    let other_job = "etl_other-20200101T000000000-4000001".to_owned();
    let live = format!("etl_etl-{now}-{}", std::process::id());
    for folder in [&killed, &other_job, &live] {
        write(&staging.join(folder).join("part-0.parquet"), b"staged");
    }
    let dir = scratch();
    let project = |sql: &str| {
        json!({
            "format_version": 1,
            "nodes": [
                s3_bucket("raw", "s3://lake/raw", &s3.endpoint),
                {"id": "crawl", "kind": "crawler", "position": {"x": 0.0, "y": 0.0}, "config": {}},
                {"id": "catalog", "kind": "catalog", "position": {"x": 0.0, "y": 0.0}, "config": {"path": "c.json"}},
                s3_bucket("curated", "s3://lake/curated", &s3.endpoint),
                {"id": "etl", "kind": "etl", "position": {"x": 0.0, "y": 0.0},
                 "config": {"sql": sql, "output_prefix": "out", "table": "out"}}
            ],
            "edges": [
                {"from": {"node": "raw", "port": "objects"}, "to": {"node": "crawl", "port": "source"}},
                {"from": {"node": "crawl", "port": "tables"}, "to": {"node": "catalog", "port": "crawlers"}},
                {"from": {"node": "catalog", "port": "catalog"}, "to": {"node": "etl", "port": "catalog"}},
                {"from": {"node": "curated", "port": "objects"}, "to": {"node": "etl", "port": "target"}}
            ]
        })
    };
    // A job that fails while it writes: nothing of its own staging is left.
    let failed = try_run_env(
        dir.path(),
        "p.json",
        &project("SELECT date, CAST(weather AS INT) AS w FROM weather"),
        &[],
        S3_ENV,
    );
    assert_eq!(failed.status(), "error", "{:?}", failed.out);
    assert!(failed.out.stdout.contains("Cast") || failed.out.stdout.contains("cast"));
    let left = files_under(&staging);
    assert_eq!(
        left,
        [
            format!("{live}/part-0.parquet"),
            format!("{other_job}/part-0.parquet")
        ],
        "the failed run removed its staging and the killed run's (swept first)"
    );
    assert!(files_under(&lake.join("curated")).is_empty());
    // A job that succeeds: its output is in place, its staging gone.
    write(&staging.join(&killed).join("part-0.parquet"), b"staged");
    let ok = try_run_env(
        dir.path(),
        "p.json",
        &project("SELECT weather, COUNT(*) AS days FROM weather GROUP BY weather"),
        &[],
        S3_ENV,
    )
    .ok();
    assert_eq!(ok.detail("etl")["stale_staging_removed"], 1);
    assert_eq!(
        files_under(&staging),
        [
            format!("{live}/part-0.parquet"),
            format!("{other_job}/part-0.parquet")
        ]
    );
    assert!(!files_under(&lake.join("curated/out")).is_empty());
}
