//! ETL jobs: partitioned output on disk, catalog registration, modes, formats, bookmarks.

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

fn run_json(dir: &std::path::Path, project: &Value) -> (Output, Value) {
    let path = dir.join("project.json");
    write(&path, serde_json::to_string_pretty(project).unwrap());
    let out = cli_in(dir, &["run", path.to_str().unwrap(), "--json"]);
    let v: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"));
    (out, v)
}

fn node<'a>(summary: &'a Value, id: &str) -> &'a Value {
    summary["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("no node {id} in {summary}"))
}

const MONTHLY: &str = "SELECT CAST(date_part('year', date) AS BIGINT) AS year, weather, COUNT(*) AS days FROM weather GROUP BY 1, 2";

#[test]
fn partitioned_parquet_is_written_registered_and_queryable() {
    let dir = setup();
    let etl = json!({
        "sql": MONTHLY, "table": "weather_yearly", "output_prefix": "weather_yearly",
        "format": "parquet", "compression": "zstd", "partition_by": ["year"]
    });
    let (out, summary) = run_json(
        dir.path(),
        &project(
            etl,
            "SELECT year, SUM(days) AS days FROM weather_yearly GROUP BY year ORDER BY year",
        ),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(summary["status"], "ok");
    let job = node(&summary, "job");
    assert_eq!(job["status"], "ok");
    // 4 years x 5 weather kinds, less the kinds a year did not have.
    let rows = job["records_out"].as_u64().unwrap();
    assert_eq!(rows, 17, "{job}");
    assert_eq!(job["records_in"], 1461, "{job}");
    assert_eq!(job["stats"]["detail"]["partitions"], 4);
    assert_eq!(job["stats"]["detail"]["version"], 1);

    let files = files_under(&dir.path().join("lake/curated/weather_yearly"));
    let dirs: std::collections::BTreeSet<&str> =
        files.iter().map(|f| f.split('/').next().unwrap()).collect();
    assert_eq!(
        dirs.into_iter().collect::<Vec<_>>(),
        ["year=2012", "year=2013", "year=2014", "year=2015"]
    );
    assert!(files.iter().all(|f| f.ends_with(".parquet")), "{files:?}");
    // Nothing is left in staging.
    assert!(files_under(&dir.path().join("lake/curated/.tributary")).is_empty());
    assert!(files_under(&dir.path().join("lake/.tributary/staging")).is_empty());

    let answer = node(&summary, "answer");
    assert_eq!(answer["records_out"], 4);
    assert_eq!(
        answer["records_in"], 17,
        "the query reads the 17 written rows: {answer}"
    );
    let q = query(
        dir.path(),
        &dir.path().join("catalog.json"),
        "SELECT year, SUM(days) AS days FROM weather_yearly WHERE year >= 2014 GROUP BY year ORDER BY year",
    );
    assert_table(
        &q,
        &[
            "+------+------+",
            "| year | days |",
            "+------+------+",
            "| 2014 | 365  |",
            "| 2015 | 365  |",
            "+------+------+",
        ],
    );
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
        let (out, summary) = run_json(dir.path(), &project(base.clone(), sql));
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(node(&summary, "answer")["records_out"], 1);
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
    let (out, _) = run_json(dir.path(), &project(append, sql));
    assert_eq!(out.code, 0, "{out:?}");
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
fn csv_and_json_outputs_read_back_typed() {
    for (format, compression, ext) in [
        ("csv", "gzip", ".csv.gz"),
        ("json", "zstd", ".json.zst"),
        ("csv", "none", ".csv"),
    ] {
        let dir = setup();
        let etl = json!({
            "sql": "SELECT date, weather, temp_max FROM weather WHERE date < DATE '2012-01-04'",
            "table": "early", "output_prefix": "early", "format": format, "compression": compression
        });
        let (out, _) = run_json(dir.path(), &project(etl, "SELECT * FROM early"));
        assert_eq!(out.code, 0, "{format}: {out:?}");
        let files = files_under(&dir.path().join("lake/curated/early"));
        assert!(
            !files.is_empty() && files.iter().all(|f| f.ends_with(ext)),
            "{format}: {files:?}"
        );
        assert_table(
            &query(
                dir.path(),
                &dir.path().join("catalog.json"),
                "SELECT date, weather, temp_max, date + INTERVAL '1 day' AS next FROM early ORDER BY date",
            ),
            &[
                "+------------+---------+----------+------------+",
                "| date       | weather | temp_max | next       |",
                "+------------+---------+----------+------------+",
                "| 2012-01-01 | drizzle | 12.8     | 2012-01-02 |",
                "| 2012-01-02 | rain    | 10.6     | 2012-01-03 |",
                "| 2012-01-03 | rain    | 11.7     | 2012-01-04 |",
                "+------------+---------+----------+------------+",
            ],
        );
    }
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
    let (out, summary) = run_json(dir.path(), &project(etl.clone(), sql));
    assert_eq!(out.code, 0, "{out:?}");
    let job = node(&summary, "job");
    assert_eq!(job["records_out"], 731);
    assert_eq!(job["stats"]["detail"]["files_read"], 2);

    // Nothing new: nothing is processed, nothing is added.
    let (_, summary) = run_json(dir.path(), &project(etl.clone(), sql));
    let job = node(&summary, "job");
    assert_eq!(job["records_out"], 0, "{job}");
    assert_eq!(job["stats"]["detail"]["files_skipped_by_bookmark"], 2);

    write(&raw.join("weather/2014.csv"), year_file(2014));
    let (_, summary) = run_json(dir.path(), &project(etl, sql));
    let job = node(&summary, "job");
    assert_eq!(job["records_out"], 365, "{job}");
    assert_eq!(job["stats"]["detail"]["files_read"], 1);
    assert_table(
        &query(dir.path(), &dir.path().join("catalog.json"), sql),
        &["+------+", "| days |", "+------+", "| 1096 |", "+------+"],
    );
}
