//! ETL jobs: write modes and bookmarks, over several runs. (Single-run ETL cases, such as
//! partitioned output and formats, are folders under `tests/pipelines`.)

use serde_json::{Value, json};

use crate::support::*;

/// A project: raw bucket → crawler → catalog → ETL (→ curated bucket) → query.
fn project(etl: Value, query_sql: &str) -> Value {
    json!({
        "format_version": 1,
        "name": "etl test",
        "nodes": [
            {"id": "raw", "kind": "bucket", "name": "raw", "position": {"x": 0.0, "y": 0.0},
             "config": {"path": "lake", "prefix": "raw"}},
            {"id": "crawler", "kind": "crawler", "name": "crawler", "position": {"x": 1.0, "y": 0.0},
             "config": {}},
            {"id": "catalog", "kind": "catalog", "name": "catalog", "position": {"x": 2.0, "y": 0.0},
             "config": {"path": "catalog.json"}},
            {"id": "curated", "kind": "bucket", "name": "curated", "position": {"x": 2.0, "y": 1.0},
             "config": {"path": "lake", "prefix": "curated"}},
            {"id": "job", "kind": "etl", "name": "job", "position": {"x": 3.0, "y": 0.0}, "config": etl},
            {"id": "answer", "kind": "query", "name": "answer", "position": {"x": 4.0, "y": 0.0},
             "config": {"sql": query_sql}}
        ],
        "edges": [
            {"from": {"node": "raw", "port": "objects"}, "to": {"node": "crawler", "port": "source"}},
            {"from": {"node": "crawler", "port": "tables"}, "to": {"node": "catalog", "port": "crawlers"}},
            {"from": {"node": "catalog", "port": "catalog"}, "to": {"node": "job", "port": "catalog"}},
            {"from": {"node": "curated", "port": "objects"}, "to": {"node": "job", "port": "target"}},
            {"from": {"node": "job", "port": "catalog"}, "to": {"node": "answer", "port": "catalog"}}
        ]
    })
}

fn setup() -> tempfile::TempDir {
    let dir = scratch();
    let raw = dir.path().join("lake/raw");
    write(
        &raw.join("weather/seattle-weather.csv"),
        std::fs::read(data("seattle-weather.csv")).unwrap(),
    );
    dir
}

#[test]
fn overwrite_replaces_and_append_adds() {
    let dir = setup();
    let base = json!({
        "sql": "SELECT weather, COUNT(*) AS days FROM weather GROUP BY weather",
        "table": "kinds", "output_prefix": "kinds", "format": "parquet"
    });
    let sql = "SELECT COUNT(*) AS n, SUM(days) AS days FROM kinds";
    for _ in 0..2 {
        let run = run_ok(dir.path(), "project.json", &project(base.clone(), sql), &[]);
        assert_eq!(run.node("answer")["records_out"], 1);
    }
    let cat = dir.path().join("catalog.json");
    assert_table(
        &query(dir.path(), &cat, sql),
        &[
            "+---+------+",
            "| n | days |",
            "+---+------+",
            "| 5 | 1461 |",
            "+---+------+",
        ],
    );
    let mut append = base.clone();
    append["mode"] = json!("append");
    run_ok(dir.path(), "project.json", &project(append, sql), &[]);
    assert_table(
        &query(dir.path(), &cat, sql),
        &[
            "+----+------+",
            "| n  | days |",
            "+----+------+",
            "| 10 | 2922 |",
            "+----+------+",
        ],
    );
}

#[test]
fn bookmarks_process_only_new_files() {
    let dir = setup();
    let raw = dir.path().join("lake/raw");
    // Split the weather file by year: 2012 and 2013 now, 2014 later.
    let text = std::fs::read_to_string(raw.join("weather/seattle-weather.csv")).unwrap();
    std::fs::remove_file(raw.join("weather/seattle-weather.csv")).unwrap();
    let header = text.lines().next().unwrap();
    let year_file = |y: u32| {
        let rows: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with(&format!("{y}/")))
            .collect();
        format!("{header}\n{}\n", rows.join("\n"))
    };
    write(&raw.join("weather/2012.csv"), year_file(2012));
    write(&raw.join("weather/2013.csv"), year_file(2013));
    let etl = json!({
        "sql": "SELECT date, weather FROM weather",
        "table": "days", "output_prefix": "days", "mode": "append", "bookmark": true
    });
    let sql = "SELECT COUNT(*) AS days FROM days";
    let run = run_ok(dir.path(), "project.json", &project(etl.clone(), sql), &[]);
    let job = run.node("job");
    assert_eq!(job["records_out"], 731);
    assert_eq!(job["stats"]["detail"]["files_read"], 2);

    // Nothing new: nothing is processed, nothing is added.
    let run = run_ok(dir.path(), "project.json", &project(etl.clone(), sql), &[]);
    let job = run.node("job");
    assert_eq!(job["records_out"], 0, "{job}");
    assert_eq!(job["stats"]["detail"]["files_skipped_by_bookmark"], 2);

    write(&raw.join("weather/2014.csv"), year_file(2014));
    let run = run_ok(dir.path(), "project.json", &project(etl, sql), &[]);
    let job = run.node("job");
    assert_eq!(job["records_out"], 365, "{job}");
    assert_eq!(job["stats"]["detail"]["files_read"], 1);
    assert_table(
        &query(dir.path(), &dir.path().join("catalog.json"), sql),
        &["+------+", "| days |", "+------+", "| 1096 |", "+------+"],
    );
}
