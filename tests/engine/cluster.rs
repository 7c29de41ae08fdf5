//! Environments and the Ballista cluster: the same queries, ETL and EMR job on `local`
//! and on a real scheduler with two executors give the same answers, and the executors'
//! own logs show the work was spread over both.

use std::path::Path;

use serde_json::{Value, json};

use crate::services::Cluster;
use crate::support::*;

/// Queries over every kind of table the lake has: CSV with text dates, hive partitions,
/// gzip CSV joined with Parquet, JSON lines. Averages are rounded: the order of a
/// floating-point sum differs between plans.
const QUERIES: &[&str] = &[
    "SELECT weather, COUNT(*) AS days, ROUND(AVG(temp_max), 6) AS avg_max, MIN(date) AS first \
     FROM weather GROUP BY weather ORDER BY days DESC, weather",
    "SELECT year, COUNT(*) AS days, SUM(CASE WHEN weather = 'rain' THEN 1 ELSE 0 END) AS rainy \
     FROM weather_by_year GROUP BY year ORDER BY year",
    "SELECT symbol, COUNT(*) AS n, ROUND(SUM(price), 4) AS total, MIN(date) AS first \
     FROM stocks_parquet GROUP BY symbol ORDER BY symbol",
    "SELECT y.year, w.weather, COUNT(*) AS days FROM weather w \
     JOIN weather_by_year y ON w.date = y.date GROUP BY y.year, w.weather ORDER BY 1, 2",
    "SELECT origin, COUNT(*) AS cars, ROUND(AVG(horsepower), 6) AS hp FROM cars_lines GROUP BY 1 ORDER BY 1",
    // Trino's functions mean the same on the executors (DataFusion has its own
    // `date_format`, with other codes), and arrays decode there.
    "SELECT date_format(date, '%Y %M') AS month, count_if(weather = 'rain') AS rainy, \
     element_at(array_agg(weather ORDER BY date), 1) AS first \
     FROM weather GROUP BY 1 ORDER BY 1 LIMIT 4",
];

fn lake_and_catalog(dir: &Path) -> std::path::PathBuf {
    let lake = dir.join("lake");
    build_lake(&lake);
    let catalog = dir.join("catalog.json");
    crawl(dir, &lake, &catalog);
    catalog
}

fn emr_project(cluster: &str, suffix: &str, broken_action: &str) -> Value {
    let table = format!("weather_summary_{suffix}");
    json!({
        "format_version": 1,
        "environments": {"cluster": {"scheduler": cluster, "description": "two executors on loopback"}},
        "nodes": [
            {"id": "lake", "kind": "bucket", "config": {"path": "lake"}},
            {"id": "catalog", "kind": "catalog", "config": {"path": "catalog.json"}},
            {"id": "job", "kind": "emr_job", "config": {"steps": [
                {"name": "summarize", "sql": "SELECT weather, COUNT(*) AS days, ROUND(AVG(temp_max), 6) AS avg_max FROM weather GROUP BY weather",
                 "write": {"table": table, "output_prefix": format!("curated/{table}")}},
                {"name": "check", "sql": format!("SELECT SUM(days) AS days FROM {table}")},
                {"name": "broken", "sql": "SELECT no_such_column FROM weather", "on_failure": broken_action},
                {"name": "top", "sql": format!("SELECT weather, days FROM {table} ORDER BY days DESC, weather LIMIT 3")}
            ]}}
        ],
        "edges": [
            {"from": {"node": "catalog", "port": "catalog"}, "to": {"node": "job", "port": "catalog"}},
            {"from": {"node": "lake", "port": "objects"}, "to": {"node": "job", "port": "target"}}
        ]
    })
}

fn steps(run: &Run) -> Vec<(String, String, u64)> {
    let job = run.node("job");
    job["stats"]["detail"]["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps in {job}"))
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
                s["rows"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn queries_etl_and_an_emr_job_match_local_on_a_two_executor_ballista_cluster() {
    let cluster = Cluster::start(2);
    let dir = scratch();
    let catalog = lake_and_catalog(dir.path());
    let catalog = catalog.to_str().unwrap();

    // The same SQL, in-process and on the cluster.
    for sql in QUERIES {
        let local = query(dir.path(), Path::new(catalog), sql);
        let remote = cli_in(
            dir.path(),
            &[
                "query",
                "--catalog",
                catalog,
                "--scheduler",
                &cluster.url,
                sql,
            ],
        );
        assert_eq!(remote.code, 0, "on the cluster: {sql}\n{remote:?}");
        assert_eq!(remote.stdout, local, "answers differ for {sql}");
        assert!(local.lines().count() >= 4, "{local}");
    }

    // Layouts the plan format cannot carry to executors are refused, not misread.
    let gz = cli_in(
        dir.path(),
        &[
            "query",
            "--catalog",
            catalog,
            "--scheduler",
            &cluster.url,
            "SELECT COUNT(*) FROM stocks",
        ],
    );
    assert_ne!(gz.code, 0, "{gz:?}");
    assert!(
        gz.stderr.contains(
            "table 'default.stocks' is gzip-compressed CSV, which a Ballista cluster would misread"
        ),
        "{gz:?}"
    );

    // The same EMR job (an ETL step, SQL steps, a failing step that continues) on both.
    let local = run_ok(
        dir.path(),
        "job_local.json",
        &emr_project(&cluster.url, "local", "continue"),
        &[],
    );
    let remote = run_ok(
        dir.path(),
        "job_cluster.json",
        &emr_project(&cluster.url, "cluster", "continue"),
        &["--env", "cluster"],
    );
    let expected: Vec<(String, String, u64)> = [
        ("summarize", "completed", 5),
        ("check", "completed", 1),
        ("broken", "failed", 0),
        ("top", "completed", 3),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), *c))
    .collect();
    assert_eq!(steps(&local), expected);
    assert_eq!(steps(&remote), expected);
    let broken = &remote.detail("job")["steps"][2]["error"];
    assert!(
        broken.as_str().unwrap().contains("no_such_column"),
        "{broken}"
    );

    // The tables the two ETL steps wrote hold the same rows (1,461 days in all).
    let cat = Path::new(catalog);
    let a = query(
        dir.path(),
        cat,
        "SELECT weather, days, avg_max FROM weather_summary_local ORDER BY weather",
    );
    let b = query(
        dir.path(),
        cat,
        "SELECT weather, days, avg_max FROM weather_summary_cluster ORDER BY weather",
    );
    assert_eq!(a, b);
    let total = query(
        dir.path(),
        cat,
        "SELECT SUM(days) AS d FROM weather_summary_cluster",
    );
    assert!(total.contains("1461"), "{total}");
    let written = files_under(&dir.path().join("lake/curated/weather_summary_cluster"));
    assert!(
        !written.is_empty() && written.iter().all(|f| f.ends_with(".parquet")),
        "{written:?}"
    );

    // The executors' own logs: both ran tasks.
    let tasks = cluster.tasks_per_executor();
    eprintln!("tasks per executor, from their logs: {tasks:?}");
    assert!(
        tasks.iter().all(|&t| t > 0),
        "tasks per executor {tasks:?}; logs in {}",
        cluster.dir().display()
    );
}

#[test]
fn a_cancelling_step_stops_the_job_and_environments_are_checked() {
    let dir = scratch();
    let catalog = lake_and_catalog(dir.path());
    // Nothing listens on port 1: the cluster environment exists but is unreachable.
    let project = emr_project("df://127.0.0.1:1", "local", "cancel");
    let run = try_run(dir.path(), "job.json", &project, &[]);
    assert_eq!(run.status(), "error", "{:?}", run.out);
    let node = run.node("job");
    let error = node["error"].as_str().unwrap();
    assert!(
        error.contains("step 'broken' failed, so the job was cancelled (1 step(s) not run)")
            && error.contains("no_such_column"),
        "{error}"
    );
    // The steps before the failure did their work.
    let written = query(
        dir.path(),
        &catalog,
        "SELECT SUM(days) AS d FROM weather_summary_local",
    );
    assert!(written.contains("1461"), "{written}");

    // An environment the project does not define is refused, naming the ones it does.
    let path = dir.path().join("job.json");
    let out = cli_in(
        dir.path(),
        &["run", path.to_str().unwrap(), "--env", "prod"],
    );
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains("environment 'prod' is not defined (environments: local, cluster)"),
        "{out:?}"
    );

    // An unreachable scheduler fails the node with the address in the message.
    let run = try_run(dir.path(), "job.json", &project, &["--env", "cluster"]);
    assert_eq!(run.status(), "error", "{:?}", run.out);
    let node = run.node("job");
    let error = node["error"].as_str().unwrap();
    assert!(
        error.contains("step 'summarize' failed") && error.contains("127.0.0.1:1"),
        "{error}"
    );
}
