//! A full disk and a read-only one, on every path Tributary writes: the catalog, a project
//! file, a Firehose object, an ETL output and a durable stream's segments. Each fails with
//! an error naming the path and the cause, the previous good file stays as it was, nothing
//! half-written is left, and the same write works once the disk has room again.
//!
//! The disk is a real size-limited tmpfs (as root, which CI is; the tests run as root, so
//! file permissions would not stop a write: a read-only mount stands in for "permission
//! denied").

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::support::*;

/// A 16 MiB tmpfs mounted in a scratch folder, unmounted when dropped.
struct SmallDisk {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Filled to the last byte: ENOSPC.
    Full,
    /// Remounted read-only: EROFS.
    ReadOnly,
}

impl Fault {
    /// What the user reads about it.
    fn cause(self) -> &'static str {
        match self {
            Fault::Full => "No space left on device",
            Fault::ReadOnly => "Read-only file system",
        }
    }
}

impl SmallDisk {
    /// `None` (said on stderr) when not root: only root can mount.
    fn mount() -> Option<Self> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("disk faults need root to mount a tmpfs; not run");
            return None;
        }
        let dir = scratch();
        let path = dir.path().join("disk");
        std::fs::create_dir_all(&path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
            .arg(&path)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mounting a tmpfs as root failed");
        Some(Self { path, _dir: dir })
    }

    fn set(&self, fault: Fault, on: bool) {
        match fault {
            Fault::Full if on => {
                use std::io::Write as _;
                let mut f = std::fs::File::create(self.path.join(".filler")).unwrap();
                let chunk = vec![0u8; 64 * 1024];
                while f.write(&chunk).is_ok_and(|n| n > 0) {}
                while f.write(&chunk[..512]).is_ok_and(|n| n > 0) {}
            }
            Fault::Full => std::fs::remove_file(self.path.join(".filler")).unwrap(),
            Fault::ReadOnly => {
                let opts = if on { "remount,ro" } else { "remount,rw" };
                let ok = Command::new("mount")
                    .args(["-o", opts])
                    .arg(&self.path)
                    .status()
                    .unwrap()
                    .success();
                assert!(ok, "mount -o {opts}");
            }
        }
    }

    /// Every file on the disk with its bytes (the filler left out).
    fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        files_under(&self.path)
            .into_iter()
            .filter(|f| f != ".filler")
            .map(|f| {
                let bytes = std::fs::read(self.path.join(&f)).unwrap();
                (f, bytes)
            })
            .collect()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// generator → (a durable stream) → Firehose into `bucket`, with its table in `catalog`.
fn delivery(bucket: &Path, catalog: &Path, durable: bool) -> Value {
    let mut nodes = vec![
        json!({"id": "gen", "kind": "generator", "config": {"event": "clickstream", "rate_per_sec": 0.0,
            "count": 3000, "keys": 20, "batch_size": 500, "seed": 4}}),
        json!({"id": "lake", "kind": "bucket", "config": {"path": bucket.to_str().unwrap()}}),
        json!({"id": "catalog", "kind": "catalog", "config": {"path": catalog.to_str().unwrap()}}),
        json!({"id": "deliver", "kind": "firehose", "config": {"prefix": "clicks/", "format": "json",
            "table": "clicks"}}),
    ];
    let mut edges = vec![
        json!({"from": {"node": "lake", "port": "objects"}, "to": {"node": "deliver", "port": "target"}}),
        json!({"from": {"node": "catalog", "port": "catalog"}, "to": {"node": "deliver", "port": "catalog"}}),
    ];
    if durable {
        nodes.push(
            json!({"id": "clicks", "kind": "stream", "config": {"shards": 2, "durable": true}}),
        );
        edges.push(json!({"from": {"node": "gen", "port": "events"}, "to": {"node": "clicks", "port": "records"}}));
        edges.push(json!({"from": {"node": "clicks", "port": "records"}, "to": {"node": "deliver", "port": "records"}}));
    } else {
        edges.push(json!({"from": {"node": "gen", "port": "events"}, "to": {"node": "deliver", "port": "records"}}));
    }
    json!({"format_version": 2, "nodes": nodes, "edges": edges})
}

/// raw CSVs → crawler → catalog → ETL (`sql`) → `curated` bucket.
fn etl(raw: &Path, curated: &Path, catalog: &Path, sql: &str) -> Value {
    json!({
        "format_version": 2,
        "nodes": [
            {"id": "raw", "kind": "bucket", "config": {"path": raw.to_str().unwrap()}},
            {"id": "crawler", "kind": "crawler", "config": {}},
            {"id": "catalog", "kind": "catalog", "config": {"path": catalog.to_str().unwrap()}},
            {"id": "curated", "kind": "bucket", "config": {"path": curated.to_str().unwrap()}},
            {"id": "job", "kind": "etl", "config": {"sql": sql, "table": "kinds",
                "output_prefix": "kinds", "format": "parquet"}}
        ],
        "edges": [
            {"from": {"node": "raw", "port": "objects"}, "to": {"node": "crawler", "port": "source"}},
            {"from": {"node": "crawler", "port": "tables"}, "to": {"node": "catalog", "port": "crawlers"}},
            {"from": {"node": "catalog", "port": "catalog"}, "to": {"node": "job", "port": "catalog"}},
            {"from": {"node": "curated", "port": "objects"}, "to": {"node": "job", "port": "target"}}
        ]
    })
}

/// The error a failed run reports for `node`.
fn node_error(run: &Run, node: &str) -> String {
    assert_eq!(run.status(), "error", "{:?}", run.out);
    run.node(node)["error"]
        .as_str()
        .unwrap_or_else(|| panic!("node '{node}' reports no error: {}", run.summary))
        .to_owned()
}

fn assert_names(error: &str, path: &str, fault: Fault) {
    eprintln!("{fault:?}: {}", error.trim());
    assert!(
        error.contains(path) && error.contains(fault.cause()),
        "the error should name '{path}' and say '{}': {error}",
        fault.cause()
    );
}

fn every_write_path_fails_clearly_and_keeps_the_previous_file(fault: Fault) {
    let Some(disk) = SmallDisk::mount() else {
        return;
    };
    let work = scratch();
    let (w, d) = (work.path(), disk.path.as_path());
    let raw = w.join("raw");
    write(
        &raw.join("weather/seattle-weather.csv"),
        std::fs::read(data("seattle-weather.csv")).unwrap(),
    );

    // Good files first, on the disk: a catalog from a crawl, a project file, an ETL
    // output (its catalog off the disk, so the run gets as far as writing the output).
    let catalog = d.join("catalog.json");
    let crawl = |cwd: &Path| {
        cli_in(
            cwd,
            &[
                "crawl",
                raw.to_str().unwrap(),
                "--catalog",
                catalog.to_str().unwrap(),
            ],
        )
    };
    assert_eq!(crawl(w).code, 0);
    let project = d.join("p.json");
    let compact =
        serde_json::to_string(&delivery(&w.join("lake"), &w.join("c.json"), false)).unwrap();
    std::fs::write(&project, &compact).unwrap();
    let etl_catalog = w.join("etl-catalog.json");
    std::fs::create_dir_all(d.join("curated")).unwrap();
    std::fs::create_dir_all(w.join("lake")).unwrap();
    let sql_before = "SELECT weather, COUNT(*) AS days FROM weather GROUP BY weather";
    let sql_after = "SELECT weather, MAX(temp_max) AS hottest FROM weather GROUP BY weather";
    let run_etl = |sql: &str| {
        try_run(
            w,
            "etl.json",
            &etl(&raw, &d.join("curated"), &etl_catalog, sql),
            &[],
        )
    };
    run_etl(sql_before).ok();
    let kinds_before = query(w, &etl_catalog, "SELECT SUM(days) AS days FROM kinds");
    assert!(kinds_before.contains("1461"), "{kinds_before}");
    let durable = d.join("durable.json");
    let durable_project = delivery(&w.join("lake"), &w.join("c.json"), true);
    std::fs::write(&durable, durable_project.to_string()).unwrap();
    let before = disk.snapshot();
    assert!(before.iter().any(|(f, _)| f.starts_with("curated/kinds/")));

    disk.set(fault, true);
    // A second table in the raw lake: the crawl has something to write.
    write(
        &raw.join("again/seattle-weather.csv"),
        std::fs::read(data("seattle-weather.csv")).unwrap(),
    );
    let out = crawl(w);
    assert_ne!(out.code, 0, "{out:?}");
    assert_names(&out.stderr, catalog.to_str().unwrap(), fault);

    let out = cli_in(w, &["fmt", project.to_str().unwrap()]);
    assert_ne!(out.code, 0, "{out:?}");
    assert_names(&out.stderr, project.to_str().unwrap(), fault);

    // A Firehose delivering into a bucket on the disk.
    let run = try_run(
        w,
        "firehose.json",
        &delivery(d, &w.join("c.json"), false),
        &[],
    );
    let error = node_error(&run, "deliver");
    assert_names(&error, "clicks/", fault);
    // An ETL job overwriting its output on the disk.
    let run = run_etl(sql_after);
    let error = node_error(&run, "job");
    assert_names(&error, d.join("curated").to_str().unwrap(), fault);
    // A durable stream whose project folder is on the disk.
    let run = run_file(d, &durable, &[], &[]);
    let error = node_error(&run, "clicks");
    assert_names(&error, ".tributary/streams/clicks", fault);

    // Nothing on the disk changed, nothing half-written was left: a file that was not
    // there before is empty (a durable stream's log opened before its first write).
    disk.set(fault, false);
    let after = disk.snapshot();
    for (name, bytes) in &before {
        let now = after.iter().find(|(n, _)| n == name).map(|(_, b)| b);
        assert_eq!(now, Some(bytes), "{fault:?} changed {name}");
    }
    for (name, bytes) in &after {
        if !before.iter().any(|(n, _)| n == name) {
            assert!(
                bytes.is_empty(),
                "{fault:?} left {name} with {} bytes",
                bytes.len()
            );
        }
    }
    assert_eq!(
        query(w, &etl_catalog, "SELECT SUM(days) AS days FROM kinds"),
        kinds_before
    );

    // With room again, each write goes through.
    assert_eq!(crawl(w).code, 0);
    let tables = cli_in(
        w,
        &["catalog", "--catalog", catalog.to_str().unwrap(), "tables"],
    );
    assert!(tables.stdout.contains("again"), "{tables:?}");
    assert_eq!(cli_in(w, &["fmt", project.to_str().unwrap()]).code, 0);
    assert_ne!(std::fs::read_to_string(&project).unwrap(), compact);
    run_etl(sql_after).ok();
    let hottest = query(w, &etl_catalog, "SELECT MAX(hottest) AS t FROM kinds");
    assert!(hottest.contains("35.6"), "{hottest}");
    let run = run_file(d, &durable, &[], &[]).ok();
    assert_eq!(run.node("deliver")["records_in"], 3000);
}

#[test]
fn a_full_disk_fails_every_write_clearly_and_keeps_the_previous_files() {
    every_write_path_fails_clearly_and_keeps_the_previous_file(Fault::Full);
}

#[test]
fn a_read_only_disk_fails_every_write_clearly_and_keeps_the_previous_files() {
    every_write_path_fails_clearly_and_keeps_the_previous_file(Fault::ReadOnly);
}

/// generator → durable stream → Lambda (SQL) → two Firehoses into `lake/good/` and
/// `lake/bad/`.
fn fan_out(count: u64) -> Value {
    let node = crate::streaming::node;
    let edge = crate::streaming::edge;
    json!({
        "format_version": 2,
        "nodes": [
            node("gen", "generator", json!({"event": "clickstream", "rate_per_sec": 0.0, "count": count,
                "keys": 50, "batch_size": 500, "seed": 8})),
            node("clicks", "stream", json!({"shards": 2, "partition_key": "user_id", "durable": true})),
            node("enrich", "lambda", json!({"sql": "SELECT event_id, upper(page) AS page FROM input",
                "batch_size": 1000})),
            node("lake", "bucket", json!({"path": "lake"})),
            node("good", "firehose", json!({"prefix": "good/", "format": "json", "buffer_interval_ms": 50})),
            node("bad", "firehose", json!({"prefix": "bad/", "format": "json", "buffer_interval_ms": 50}))
        ],
        "edges": [
            edge("gen", "events", "clicks", "records"),
            edge("clicks", "records", "enrich", "records"),
            edge("enrich", "records", "good", "records"),
            edge("enrich", "records", "bad", "records"),
            edge("lake", "objects", "good", "target"),
            edge("lake", "objects", "bad", "target")
        ]
    })
}

#[test]
fn a_failed_firehose_does_not_let_the_lambda_before_it_acknowledge_what_it_never_wrote() {
    let dir = scratch();
    let n = 20_000u64;
    // `lake/bad` is a file, so the `bad` Firehose cannot write its first object (as with
    // a full disk or a refused S3 put), while `good` writes everything.
    write(&dir.path().join("lake/bad"), "in the way");
    let run = try_run(dir.path(), "p.json", &fan_out(n), &[]);
    let error = node_error(&run, "bad");
    assert!(error.contains("lake/bad/"), "{error}");
    let (good, _) = crate::streaming::ids_under(&dir.path().join("lake/good"));
    assert_eq!(good.len() as u64, n);
    // The Lambda's checkpoint on the durable stream did not move past what `bad` took.
    let checkpoint: Vec<u64> = serde_json::from_str(
        &std::fs::read_to_string(
            dir.path()
                .join(".tributary/streams/clicks/consumers/enrich.json"),
        )
        .unwrap_or_else(|_| "[0, 0]".to_owned()),
    )
    .unwrap();
    assert!(
        checkpoint.iter().sum::<u64>() < n,
        "the Lambda acknowledged {checkpoint:?} of {n}"
    );
    // With the way clear, a restart delivers everything to `bad` (and `good` again what
    // was not acknowledged: at least once).
    std::fs::remove_file(dir.path().join("lake/bad")).unwrap();
    run_ok(dir.path(), "p.json", &fan_out(n), &[]);
    let (bad, _) = crate::streaming::ids_under(&dir.path().join("lake/bad"));
    assert_eq!(bad.len() as u64, n, "lost {} records", n - bad.len() as u64);
}

#[test]
fn a_firehose_that_cannot_start_does_not_let_the_lambda_before_it_acknowledge_anything() {
    let dir = scratch();
    let n = 20_000u64;
    // `bad` cannot start (its bucket's folder is missing), while `good` runs.
    let mut project = fan_out(n);
    project["nodes"]
        .as_array_mut()
        .unwrap()
        .push(crate::streaming::node(
            "gone",
            "bucket",
            json!({"path": "missing"}),
        ));
    project["edges"][5]["from"]["node"] = json!("gone");
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let run = try_run(dir.path(), "p.json", &project, &[]);
    assert_eq!(run.node("bad")["status"], "skipped", "{}", run.summary);
    let (good, _) = crate::streaming::ids_under(&dir.path().join("lake/good"));
    assert_eq!(good.len() as u64, n);
    let checkpoint = dir
        .path()
        .join(".tributary/streams/clicks/consumers/enrich.json");
    let acked: Vec<u64> = std::fs::read_to_string(&checkpoint)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    assert_eq!(
        acked.iter().sum::<u64>(),
        0,
        "the Lambda acknowledged {acked:?}"
    );
    // Fixed, the next run delivers everything to `bad`.
    run_ok(dir.path(), "p.json", &fan_out(n), &[]);
    let (bad, _) = crate::streaming::ids_under(&dir.path().join("lake/bad"));
    assert_eq!(bad.len() as u64, n, "lost {} records", n - bad.len() as u64);
}
