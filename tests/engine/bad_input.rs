//! Bad input: each case gets its exact error, and nothing is half-written.

use serde_json::json;

use crate::support::*;

fn lake_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = scratch();
    for (path, bytes) in files {
        write(&dir.path().join("lake").join(path), bytes);
    }
    dir
}

#[test]
fn empty_and_binary_files_are_reported_and_the_crawl_goes_on() {
    let mut binary = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR".to_vec();
    binary.extend_from_slice(&[0u8; 64]);
    let weather = std::fs::read(data("iowa-electricity.csv")).unwrap();
    let dir = lake_with(&[
        ("good/iowa.csv", &weather),
        ("good/empty.csv", b""),
        ("good/picture.csv", &binary),
    ]);
    let out = cli_in(dir.path(), &["crawl", "lake", "--catalog", "catalog.json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let warnings: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        warnings,
        [
            "warning: skipped 'good/empty.csv': empty file (0 bytes)",
            "warning: skipped 'good/picture.csv': binary content (a NUL byte at offset 8), not CSV or JSON text",
        ],
        "{}",
        out.stderr
    );
    assert_table(
        &query(
            dir.path(),
            &dir.path().join("catalog.json"),
            "SELECT COUNT(*) AS rows, COUNT(DISTINCT source) AS sources FROM good",
        ),
        &[
            "+------+---------+",
            "| rows | sources |",
            "+------+---------+",
            "| 51   | 3       |",
            "+------+---------+",
        ],
    );
}

#[test]
fn malformed_csv_row_fails_the_job_and_writes_nothing() {
    let mut text = std::fs::read_to_string(data("iowa-electricity.csv")).unwrap();
    // A row with one field too many, past the crawler's sample.
    let bad_line = text.lines().count() + 1;
    text.push_str("2017-01-01,Wind,123,extra\n");
    let dir = lake_with(&[("raw/power/iowa.csv", text.as_bytes())]);
    let crawl = cli_in(
        dir.path(),
        &[
            "crawl",
            "lake/raw",
            "--catalog",
            "catalog.json",
            "--sample-rows",
            "10",
        ],
    );
    assert_eq!(crawl.code, 0, "{crawl:?}");
    let catalog_before = std::fs::read(dir.path().join("catalog.json")).unwrap();

    let project = json!({
        "format_version": 1,
        "nodes": [
            {"id": "catalog", "kind": "catalog", "config": {"path": "catalog.json"}},
            {"id": "out", "kind": "bucket", "config": {"path": "lake", "prefix": "curated"}},
            {"id": "job", "kind": "etl", "config": {
                "sql": "SELECT source, SUM(net_generation) AS total FROM power GROUP BY source",
                "table": "totals", "output_prefix": "totals"}}
        ],
        "edges": [
            {"from": {"node": "catalog", "port": "catalog"}, "to": {"node": "job", "port": "catalog"}},
            {"from": {"node": "out", "port": "objects"}, "to": {"node": "job", "port": "target"}}
        ]
    });
    let run = try_run(dir.path(), "p.json", &project, &[]);
    assert_eq!(run.out.code, 1, "{:?}", run.out);
    let job = run.node("job");
    assert_eq!(job["status"], "error");
    let error = job["error"].as_str().unwrap();
    assert!(error.starts_with("node 'job' (etl): "), "{error}");
    assert!(error.contains(&format!("line {bad_line}")), "{error}");
    assert!(
        error.contains("expected 3") && error.contains("got 4"),
        "{error}"
    );
    // Nothing visible: no output folder, no staging leftovers, the catalog unchanged.
    assert!(!dir.path().join("lake/curated/totals").exists());
    assert!(files_under(&dir.path().join("lake/.tributary")).is_empty());
    assert_eq!(
        std::fs::read(dir.path().join("catalog.json")).unwrap(),
        catalog_before
    );
}

#[test]
fn invalid_sql_is_refused_with_the_parser_message() {
    let dir = lake_with(&[("t/a.csv", b"x,y\n1,2\n")]);
    cli_in(dir.path(), &["crawl", "lake", "--catalog", "c.json"]);
    let out = cli_in(
        dir.path(),
        &["query", "--catalog", "c.json", "SELEC x FROM t"],
    );
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr.trim_end(),
        "error: SQL syntax error: Expected: an SQL statement, found: SELEC at Line: 1, Column: 1"
    );
    let out = cli_in(
        dir.path(),
        &["query", "--catalog", "c.json", "SELECT nope FROM t"],
    );
    assert_eq!(out.code, 1);
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    assert!(out.stderr.contains("nope"), "{}", out.stderr);
}

#[test]
fn a_misspelled_table_names_the_catalogs_tables() {
    let dir = lake_with(&[
        ("weather/a.csv", b"x,y\n1,2\n"),
        ("cars/a.csv", b"x,y\n1,2\n"),
    ]);
    cli_in(dir.path(), &["crawl", "lake", "--catalog", "c.json"]);
    let out = cli_in(
        dir.path(),
        &["query", "--catalog", "c.json", "SELECT * FROM wether"],
    );
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr.trim_end(),
        "error: table 'default.wether' not found. Did you mean 'default.weather'? \
         Tables in the catalog: default.cars, default.weather"
    );
    // Nothing close: the list alone.
    let out = cli_in(
        dir.path(),
        &["query", "--catalog", "c.json", "SELECT * FROM orders"],
    );
    assert_eq!(
        out.stderr.trim_end(),
        "error: table 'default.orders' not found. Tables in the catalog: default.cars, default.weather"
    );
}

#[test]
fn drop_table_is_refused_and_the_table_survives() {
    let dir = lake_with(&[("t/a.csv", b"x,y\n1,2\n")]);
    cli_in(dir.path(), &["crawl", "lake", "--catalog", "c.json"]);
    let before = std::fs::read(dir.path().join("c.json")).unwrap();
    let out = cli_in(
        dir.path(),
        &["query", "--catalog", "c.json", "DROP TABLE t"],
    );
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr.trim_end(),
        "error: DROP TABLE writes to the catalog or the lake; turn on the query's allow_writes setting (tributary query --allow-writes) to run it"
    );
    assert_eq!(std::fs::read(dir.path().join("c.json")).unwrap(), before);
    assert_table(
        &query(dir.path(), &dir.path().join("c.json"), "SELECT x, y FROM t"),
        &[
            "+---+---+",
            "| x | y |",
            "+---+---+",
            "| 1 | 2 |",
            "+---+---+",
        ],
    );
    // In a project, the query node's config is rejected before anything runs.
    let project = json!({
        "format_version": 1,
        "nodes": [
            {"id": "catalog", "kind": "catalog", "config": {"path": "c.json"}},
            {"id": "q", "kind": "query", "config": {"sql": "DROP TABLE t"}}
        ],
        "edges": [{"from": {"node": "catalog", "port": "catalog"}, "to": {"node": "q", "port": "catalog"}}]
    });
    write(&dir.path().join("p.json"), project.to_string());
    let out = cli_in(dir.path(), &["validate", "p.json"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr.trim_end(),
        "node 'q': config: sql: DROP TABLE writes to the catalog or the lake; turn on the query's allow_writes setting (tributary query --allow-writes) to run it"
    );
}

#[test]
fn keys_outside_the_bucket_are_refused() {
    let dir = lake_with(&[("inside/a.csv", b"x\n1\n")]);
    write(
        &dir.path().join("secret/passwords.csv"),
        b"user,password\nroot,hunter2\n",
    );
    let project = json!({
        "format_version": 1,
        "nodes": [{"id": "b", "kind": "bucket", "config": {"path": "lake", "prefix": "../secret"}}],
        "edges": []
    });
    write(&dir.path().join("p.json"), project.to_string());
    let out = cli_in(dir.path(), &["validate", "p.json"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr.trim_end(),
        "node 'b': config: prefix: bucket: key '../secret' escapes the bucket ('..' is not allowed)"
    );
    let mut abs = project.clone();
    abs["nodes"][0]["config"]["prefix"] = json!("/etc");
    write(&dir.path().join("p.json"), abs.to_string());
    let out = cli_in(dir.path(), &["validate", "p.json"]);
    assert_eq!(
        out.stderr.trim_end(),
        "node 'b': config: prefix: bucket: key '/etc' is an absolute path; keys are relative to the bucket"
    );

    // A symlink leading out of the bucket is listed as refused, never read.
    std::os::unix::fs::symlink(
        dir.path().join("secret"),
        dir.path().join("lake/inside/escape"),
    )
    .unwrap();
    let out = cli_in(dir.path(), &["crawl", "lake", "--catalog", "c.json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr
            .contains("skipped 'inside/escape/passwords.csv': symlink leads outside the bucket"),
        "{}",
        out.stderr
    );
    let catalog = std::fs::read_to_string(dir.path().join("c.json")).unwrap();
    assert!(!catalog.contains("password"), "{catalog}");
}

#[test]
fn truncated_catalog_is_reported_and_left_untouched() {
    let dir = lake_with(&[("t/a.csv", b"x,y\n1,2\n")]);
    cli_in(dir.path(), &["crawl", "lake", "--catalog", "c.json"]);
    let path = dir.path().join("c.json");
    let full = std::fs::read(&path).unwrap();
    let truncated = &full[..full.len() / 2];
    std::fs::write(&path, truncated).unwrap();

    let out = cli_in(
        dir.path(),
        &["query", "--catalog", "c.json", "SELECT * FROM t"],
    );
    assert_eq!(out.code, 1);
    let err = out.stderr.trim_end();
    assert!(err.starts_with("error: catalog: file '"), "{err}");
    assert!(
        err.contains("c.json' is truncated (it ends in the middle of the document)"),
        "{err}"
    );
    assert!(
        err.ends_with(
            "It was left untouched; restore it from a backup or remove it to start an empty catalog"
        ),
        "{err}"
    );

    // A crawl must not overwrite the damaged file either.
    let out = cli_in(dir.path(), &["crawl", "lake", "--catalog", "c.json"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(std::fs::read(&path).unwrap(), truncated);
}

#[test]
fn project_problems_are_reported_all_at_once() {
    let dir = scratch();
    let project = json!({
        "format_version": 1,
        "nodes": [
            {"id": "a", "kind": "bucket", "config": {"path": "lake"}},
            {"id": "b", "kind": "crawler", "config": {}},
            {"id": "c", "kind": "catalog", "config": {}},
            {"id": "d", "kind": "qurey", "config": {}},
            {"id": "e", "kind": "query", "config": {"display_limit": 10}},
            {"id": "x", "kind": "catalog", "config": {}},
            {"id": "y", "kind": "catalog", "config": {}}
        ],
        "edges": [
            {"from": {"node": "a", "port": "objects"}, "to": {"node": "b", "port": "source"}},
            {"from": {"node": "b", "port": "tables"}, "to": {"node": "ghost", "port": "crawlers"}},
            {"from": {"node": "c", "port": "catalog"}, "to": {"node": "b", "port": "source"}},
            {"from": {"node": "x", "port": "catalog"}, "to": {"node": "y", "port": "crawlers"}}
        ]
    });
    write(
        &dir.path().join("p.json"),
        serde_json::to_string_pretty(&project).unwrap(),
    );
    let out = cli_in(dir.path(), &["validate", "p.json"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr.lines().collect::<Vec<_>>(),
        [
            "node 'd': unknown kind 'qurey' (known kinds: bucket, crawler, catalog, etl, query, emr_job, generator, replay, broker_source, stream, lambda, firehose, analytics, filter, apply_mapping, join, aggregate, union, drop_duplicates, fill_missing, table_sink, broker_sink, series_sink)",
            "node 'e': config (query): missing field `sql`",
            "edge 2 (b.tables -> ghost.crawlers): points at no node 'ghost'",
            "edge 3 (c.catalog -> b.source): port type mismatch: catalog output 'catalog' cannot feed objects input 'source'",
            "edge 3 (c.catalog -> b.source): input 'source' of node 'b' takes one edge only",
            "edge 4 (x.catalog -> y.crawlers): port type mismatch: catalog output 'catalog' cannot feed crawl input 'crawlers'",
        ],
        "{}",
        out.stderr
    );

    let cyclic = json!({
        "format_version": 1,
        "nodes": [
            {"id": "cat", "kind": "catalog", "config": {}},
            {"id": "q", "kind": "query", "config": {"sql": "SELECT 1"}},
            {"id": "job", "kind": "etl", "config": {"sql": "SELECT 1 AS x", "table": "t", "output_prefix": "t"}},
            {"id": "out", "kind": "bucket", "config": {"path": "."}},
            {"id": "crawl", "kind": "crawler", "config": {}}
        ],
        "edges": [
            {"from": {"node": "out", "port": "objects"}, "to": {"node": "crawl", "port": "source"}},
            {"from": {"node": "crawl", "port": "tables"}, "to": {"node": "cat", "port": "crawlers"}},
            {"from": {"node": "job", "port": "catalog"}, "to": {"node": "q", "port": "catalog"}},
            {"from": {"node": "q", "port": "table"}, "to": {"node": "job", "port": "catalog"}},
            {"from": {"node": "out", "port": "objects"}, "to": {"node": "job", "port": "target"}}
        ]
    });
    write(&dir.path().join("cycle.json"), cyclic.to_string());
    let out = cli_in(dir.path(), &["validate", "cycle.json"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr.lines().collect::<Vec<_>>(),
        [
            "edge 4 (q.table -> job.catalog): port type mismatch: table output 'table' cannot feed catalog input 'catalog'",
            "project: cycle: q -> job -> q",
        ],
        "{}",
        out.stderr
    );

    let newer = json!({"format_version": 7, "nodes": [], "edges": []});
    write(&dir.path().join("newer.json"), newer.to_string());
    let out = cli_in(dir.path(), &["validate", "newer.json"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr.trim_end(),
        "project: written by a newer Tributary (format version 7); this build reads format version 2 and older"
    );
}

/// Runs `tributary <args>` in `cwd` and returns its output with the process's peak
/// resident memory in MiB (from `wait4`, so other tests' processes do not count).
fn cli_with_peak_rss(cwd: &std::path::Path, args: &[&str]) -> (Output, u64) {
    #[expect(
        clippy::zombie_processes,
        reason = "reaped by wait4 below, for its rusage"
    )]
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tributary-cli"))
        .args(args)
        .current_dir(cwd)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    // Each pipe read to its end on a thread of its own, so neither fills and blocks.
    fn read_all(
        name: &str,
        mut pipe: impl std::io::Read + Send + 'static,
    ) -> std::thread::JoinHandle<String> {
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let mut s = String::new();
                pipe.read_to_string(&mut s).unwrap();
                s
            })
            .unwrap()
    }
    let out = read_all("test-stdout", stdout);
    let err = read_all("test-stderr", stderr);
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills in; `child` is ours and not waited yet.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert!(pid > 0, "wait4 failed");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let output = Output {
        code,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    // ru_maxrss is in KiB on Linux.
    (output, usage.ru_maxrss as u64 / 1024)
}

#[test]
fn hostile_files_are_crawled_or_refused_with_a_reason_in_bounded_memory_and_time() {
    let dir = scratch();
    let lake = dir.path().join("lake");
    // 20,000 tiny files in one table.
    for i in 0..20_000 {
        write(
            &lake.join(format!("tiny/part-{i:05}.csv")),
            format!("id,v\n{i},{}\n", i % 7),
        );
    }
    // A gzip bomb: 256 MiB of JSON lines in well under 1 MiB.
    {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let line = b"{\"a\": 1, \"b\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n";
        let block: Vec<u8> = line
            .iter()
            .copied()
            .cycle()
            .take(line.len() * 16_384)
            .collect();
        for _ in 0..(256u64 << 20) / block.len() as u64 {
            gz.write_all(&block).unwrap();
        }
        write(&lake.join("bomb/events.json.gz"), gz.finish().unwrap());
    }
    // JSON nested 100,000 levels deep.
    write(
        &lake.join("deep/doc.json"),
        format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000)),
    );
    // One CSV field of 50 MB, and 60 MB of JSON on a single line.
    write(
        &lake.join("wide/long.csv"),
        format!("id,text\n1,{}\n2,short\n", "x".repeat(50 << 20)),
    );
    let one_line: String = std::iter::once("[".to_owned())
        .chain((0..600_000).map(|i| {
            format!(
                "{}{{\"id\":{i},\"pad\":\"{}\"}}",
                if i > 0 { "," } else { "" },
                "p".repeat(80)
            )
        }))
        .chain(std::iter::once("]".to_owned()))
        .collect();
    write(&lake.join("line/all.json"), one_line);
    // Latin-1 text.
    write(
        &lake.join("latin/names.csv"),
        b"id,name\n1,Jos\xe9\n2,Ren\xe9e\n",
    );
    let started = std::time::Instant::now();
    let (out, peak_mib) = cli_with_peak_rss(dir.path(), &["crawl", "lake", "--catalog", "c.json"]);
    let took = started.elapsed();
    eprintln!(
        "hostile crawl: {:.1} s, peak RSS {peak_mib} MiB\n{}\n{}",
        took.as_secs_f64(),
        out.stdout,
        out.stderr
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(peak_mib < 400, "peak RSS {peak_mib} MiB");
    assert!(took < std::time::Duration::from_secs(120), "{took:?}");
    for table in ["bomb", "line", "tiny", "wide"] {
        assert!(
            out.stdout.contains(&format!("| default.{table} ")),
            "{table}: {out:?}"
        );
    }
    assert!(out.stdout.contains("| 20000 |"), "{out:?}");
    assert_eq!(
        out.stderr.lines().collect::<Vec<_>>(),
        [
            "warning: skipped 'deep/doc.json': not valid JSON lines: record 1: recursion limit exceeded at line 1 column 636",
            "warning: skipped 'latin/names.csv': not UTF-8 text (invalid byte at offset 13); convert the file to UTF-8",
        ]
    );
    // Reading them whole answers, in bounded memory too: the bomb streams through its
    // 256 MiB, the long field and the single line are read.
    for (sql, want) in [
        (
            "SELECT COUNT(*) AS n, SUM(a) AS s FROM bomb",
            "n,s\n4194304,4194304\n",
        ),
        (
            "SELECT COUNT(*) AS n, MAX(length(text)) AS l FROM wide",
            "n,l\n2,52428800\n",
        ),
        (
            "SELECT COUNT(*) AS n, MAX(id) AS m FROM line",
            "n,m\n600000,599999\n",
        ),
        (
            "SELECT COUNT(*) AS n, SUM(v) AS s FROM tiny",
            "n,s\n20000,59997\n",
        ),
    ] {
        let (q, peak) = cli_with_peak_rss(
            dir.path(),
            &["query", "--catalog", "c.json", "--format", "csv", sql],
        );
        eprintln!("{sql}: peak RSS {peak} MiB");
        assert_eq!(q.stdout, want, "{sql}: {q:?}");
        assert!(peak < 1024, "{sql}: peak RSS {peak} MiB");
    }
}
