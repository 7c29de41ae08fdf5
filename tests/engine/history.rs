//! Recorded runs and run-to-run diffs: every run leaves its nodes' tables beside the
//! project; `tributary runs` lists them, newest last; `tributary diff` gives exactly the
//! rows a known edit added, removed and changed, and the columns it added; `runs_kept`
//! bounds how many stay.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{cli_in, copy_tree, repo_root, run_file, scratch};

/// The lake example (its weather data) in `dir`.
fn lake_example(dir: &Path) -> std::path::PathBuf {
    copy_tree(
        &repo_root().join("projects/lake/raw/weather"),
        &dir.join("lake/raw/weather"),
    );
    let path = dir.join("lake.json");
    std::fs::copy(repo_root().join("projects/lake.json"), &path).unwrap();
    path
}

/// Sets the SQL of node `id` in the project file at `path` (and `runs_kept` when given).
fn edit(path: &Path, id: &str, sql: &str, runs_kept: Option<usize>) {
    let mut p: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for n in p["nodes"].as_array_mut().unwrap() {
        if n["id"] == id {
            n["config"]["sql"] = json!(sql);
        }
    }
    if let Some(k) = runs_kept {
        p["runs_kept"] = json!(k);
    }
    std::fs::write(path, p.to_string()).unwrap();
}

fn json_of(dir: &Path, args: &[&str]) -> Value {
    let o = cli_in(dir, args);
    assert_eq!(o.code, 0, "{args:?}: {}{}", o.stdout, o.stderr);
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", o.stdout))
}

#[test]
fn a_known_edit_to_a_query_gives_exactly_the_rows_added_removed_and_changed() {
    let dir = scratch();
    let root = dir.path();
    let project = lake_example(root);
    let first = run_file(root, &project, &[], &[]).ok();
    let rows_before = first.node("rainy_2015")["records_out"].as_u64().unwrap();
    assert!(rows_before >= 4, "{rows_before}");

    // The edit: fog is left out, sun gets one more day, a 'hail' row is added.
    edit(
        &project,
        "rainy_2015",
        "SELECT weather,\n       CASE WHEN weather = 'sun' THEN SUM(days) + 1 ELSE SUM(days) END AS days,\n       \
         ROUND(SUM(precipitation), 1) AS precipitation\nFROM weather_monthly\n\
         WHERE year = 2015 AND weather <> 'fog'\nGROUP BY weather\nUNION ALL SELECT 'hail', 1, 0.0",
        None,
    );
    run_file(root, &project, &[], &[]).ok();

    let runs = json_of(root, &["runs", "lake.json", "--json"]);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(
        runs[0]["started"].as_str() < runs[1]["started"].as_str(),
        "newest last"
    );
    assert!(runs.iter().all(|r| r["status"] == "ok"), "{runs:?}");
    let (a, b) = (
        runs[0]["id"].as_str().unwrap().to_owned(),
        runs[1]["id"].as_str().unwrap().to_owned(),
    );

    let d = json_of(
        root,
        &[
            "diff",
            "lake.json",
            &a,
            &b,
            "--node",
            "rainy_2015",
            "--key",
            "weather",
            "--json",
        ],
    );
    assert_eq!(d["added"], 1, "{d:#}");
    assert_eq!(d["removed"], 1, "{d:#}");
    assert_eq!(d["changed"], 1, "{d:#}");
    assert_eq!(d["unchanged"], rows_before - 2, "{d:#}");
    assert_eq!(d["schema_changes"], json!([]));
    assert_eq!(d["samples"]["added"][0]["weather"], "hail");
    assert_eq!(d["samples"]["removed"][0]["weather"], "fog");
    let changed = &d["samples"]["changed"][0];
    assert_eq!(changed["key"], "sun");
    assert_eq!(
        changed["after"]["days"].as_i64().unwrap(),
        changed["before"]["days"].as_i64().unwrap() + 1
    );
    assert_eq!(
        changed["after"]["precipitation"],
        changed["before"]["precipitation"]
    );
    // Without a key, whole rows: sun's old row removed and its new one added.
    let d = json_of(
        root,
        &[
            "diff",
            "lake.json",
            "previous",
            "latest",
            "--node",
            "rainy_2015",
            "--json",
        ],
    );
    assert_eq!(
        (
            d["added"].as_u64(),
            d["removed"].as_u64(),
            d["changed"].as_u64()
        ),
        (Some(2), Some(2), Some(0))
    );
    // The text form says the same.
    let o = cli_in(
        root,
        &[
            "diff",
            "lake.json",
            &a,
            &b,
            "--node",
            "rainy_2015",
            "--key",
            "weather",
        ],
    );
    assert!(
        o.stdout.contains("1 added, 1 removed, 1 changed"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("~ \"sun\": days "), "{}", o.stdout);
    // An unchanged node: nothing differs.
    let d = json_of(
        root,
        &[
            "diff",
            "lake.json",
            &a,
            &b,
            "--node",
            "weather_monthly",
            "--json",
        ],
    );
    assert_eq!(
        (d["added"].as_u64(), d["removed"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(d["unchanged"].as_u64().unwrap() > 100, "{d:#}");

    // A third run adds a column and keeps two runs: the first is pruned.
    edit(
        &project,
        "rainy_2015",
        "SELECT weather, SUM(days) AS days, ROUND(SUM(precipitation), 1) AS precipitation, \
         COUNT(*) AS months\nFROM weather_monthly\nWHERE year = 2015\nGROUP BY weather",
        Some(2),
    );
    run_file(root, &project, &[], &[]).ok();
    let listed = json_of(root, &["runs", "lake.json", "--json"]);
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], b);
    let d = json_of(
        root,
        &[
            "diff",
            "lake.json",
            "previous",
            "latest",
            "--node",
            "rainy_2015",
            "--key",
            "weather",
            "--json",
        ],
    );
    assert_eq!(d["schema_changes"], json!(["column months added (Int64)"]));
    assert_eq!(
        (
            d["added"].as_u64(),
            d["removed"].as_u64(),
            d["changed"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    // Errors name what is wrong.
    let o = cli_in(
        root,
        &["diff", "lake.json", &a, "latest", "--node", "rainy_2015"],
    );
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains(&format!("no recorded run '{a}'")),
        "{}",
        o.stderr
    );
    let o = cli_in(
        root,
        &["diff", "lake.json", "previous", "latest", "--node", "nope"],
    );
    assert!(o.stderr.contains("has no node 'nope'"), "{}", o.stderr);
    let o = cli_in(
        root,
        &["diff", "lake.json", "previous", "latest", "--node", "raw"],
    );
    assert!(
        o.stderr.contains("node 'raw' recorded no table"),
        "{}",
        o.stderr
    );
}

#[test]
fn a_streaming_sinks_live_view_is_recorded_and_a_known_edit_upstream_diffs_exactly() {
    let dir = scratch();
    let root = dir.path();
    // A simulated minute of clicks counted per page in 10-second windows: the same every
    // run, so two runs differ only by the edit.
    let project = json!({
        "format_version": 2,
        "name": "live diff",
        "clock": "simulated",
        "nodes": [
            {"id": "gen", "kind": "generator", "config": {
                "rate_per_sec": 1000.0, "count": 60000, "start_time": "2024-01-01T00:00:00Z"}},
            {"id": "clicks", "kind": "stream", "config": {"shards": 1}},
            {"id": "views", "kind": "analytics", "config": {
                "time_column": "event_time", "window": "tumbling", "size_ms": 10000,
                "max_out_of_orderness_ms": 0,
                "sql": "SELECT page, COUNT(*) AS views FROM input GROUP BY page"}},
            {"id": "live", "kind": "table_sink", "config": {"rows": 1000}}
        ],
        "edges": [
            {"from": {"node": "gen", "port": "events"}, "to": {"node": "clicks", "port": "records"}},
            {"from": {"node": "clicks", "port": "records"}, "to": {"node": "views", "port": "records"}},
            {"from": {"node": "views", "port": "results"}, "to": {"node": "live", "port": "records"}}
        ]
    });
    let path = root.join("live.json");
    std::fs::write(&path, project.to_string()).unwrap();
    run_file(root, &path, &[], &[]).ok();
    edit(
        &path,
        "views",
        "SELECT page, COUNT(*) AS views FROM input WHERE page <> '/cart' GROUP BY page",
        None,
    );
    run_file(root, &path, &[], &[]).ok();

    let runs = json_of(root, &["runs", "live.json", "--json"]);
    assert_eq!(runs.as_array().unwrap().len(), 2, "{runs}");
    let first = runs[0]["id"].as_str().unwrap();
    let recorded: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join(".tributary/runs").join(first).join("run.json"))
            .unwrap(),
    )
    .unwrap();
    let live = recorded["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "live")
        .unwrap();
    let output = live["outputs"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap();
    assert_eq!(output["live"], true, "{live}");
    let rows = output["rows"].as_u64().unwrap();
    // Six windows, a row per page seen in each.
    assert!(rows > 6 * 5, "{live}");
    // The edit took the /cart row out of each of the six windows, nothing else.
    let d = json_of(
        root,
        &[
            "diff",
            "live.json",
            "previous",
            "latest",
            "--node",
            "live",
            "--json",
        ],
    );
    assert_eq!(d["removed"], 6, "{d}");
    assert_eq!(d["added"], 0, "{d}");
    assert_eq!(d["unchanged"].as_u64().unwrap(), rows - 6, "{d}");
    assert_eq!(d["live"], true);
    assert!(
        d["samples"]["removed"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.to_string().contains("/cart")),
        "{d}"
    );
}

/// The weather lake crawled into a catalog by a crawler with `crawler` settings, with
/// queries and charts over it: the project `drift.json` in `root`, run once. Returns the
/// CSV file the next export changes.
fn weather_drift_project(root: &Path, crawler: Value) -> std::path::PathBuf {
    let csv = root.join("lake/raw/weather/seattle-weather.csv");
    copy_tree(
        &repo_root().join("projects/lake/raw/weather"),
        &root.join("lake/raw/weather"),
    );
    let node = |id: &str, kind: &str, config: Value| json!({"id": id, "kind": kind, "position": {"x": 0, "y": 0}, "config": config});
    let edge = |a: &str, ap: &str, b: &str, bp: &str| json!({"from": {"node": a, "port": ap}, "to": {"node": b, "port": bp}});
    let query = |id: &str, sql: &str| node(id, "query", json!({"sql": sql}));
    let nodes = vec![
        node("raw", "bucket", json!({"path": "lake", "prefix": "raw"})),
        node("crawl", "crawler", crawler),
        node("catalog", "catalog", json!({"path": "drift.catalog.json"})),
        query(
            "hottest",
            "SELECT weather, MAX(temp_max) AS hottest FROM weather GROUP BY weather",
        ),
        query(
            "wettest",
            "SELECT weather, SUM(precipitation) AS total FROM weather GROUP BY weather",
        ),
        query(
            "windiest",
            "SELECT weather, MAX(wind) AS wind FROM weather GROUP BY weather",
        ),
        query(
            "days",
            "SELECT weather, COUNT(*) AS days FROM weather GROUP BY weather",
        ),
        query("rainy", "SELECT * FROM weather WHERE weather = 'rain'"),
        node(
            "rain_chart",
            "series_sink",
            json!({"chart": "line", "x": "date", "y": "precipitation"}),
        ),
        node(
            "wind_chart",
            "series_sink",
            json!({"chart": "line", "x": "date", "y": "wind"}),
        ),
    ];
    let mut edges = vec![
        edge("raw", "objects", "crawl", "source"),
        edge("crawl", "tables", "catalog", "crawlers"),
        edge("rainy", "table", "rain_chart", "table"),
        edge("rainy", "table", "wind_chart", "table"),
    ];
    for q in ["hottest", "wettest", "windiest", "days", "rainy"] {
        edges.push(edge("catalog", "catalog", q, "catalog"));
    }
    let project = json!({"format_version": 2, "name": "drift", "nodes": nodes, "edges": edges});
    std::fs::write(root.join("drift.json"), project.to_string()).unwrap();
    run_file(root, &root.join("drift.json"), &[], &[]).ok();
    csv
}

/// The next export of the weather CSV: precipitation dropped, temperatures with their unit.
fn export_without_precipitation(csv: &Path) {
    let text = std::fs::read_to_string(csv).unwrap();
    let mut lines = text.lines();
    let mut changed = String::from("date,temp_max,temp_min,wind,weather\n");
    lines.next();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        changed.push_str(&format!("{},{}C,{},{},{}\n", f[0], f[2], f[3], f[4], f[5]));
    }
    std::fs::write(csv, changed).unwrap();
}

/// The nodes `validate --against-catalog` flagged, with `breaks` or `changes`.
fn flagged(stdout: &str) -> std::collections::BTreeMap<&str, &str> {
    stdout
        .lines()
        .filter_map(|l| {
            let (verdict, rest) = l.split_once(": node '")?;
            Some((rest.split('\'').next()?, verdict))
        })
        .collect()
}

/// What the weather change breaks and changes.
fn weather_impact() -> std::collections::BTreeMap<&'static str, &'static str> {
    std::collections::BTreeMap::from([
        ("hottest", "changes"),
        ("wettest", "breaks"),
        ("rainy", "changes"),
        ("rain_chart", "breaks"),
    ])
}

#[test]
fn a_retyped_and_a_dropped_column_flag_exactly_the_nodes_whose_sql_uses_them() {
    let dir = scratch();
    let root = dir.path();
    let csv = weather_drift_project(root, json!({}));
    let o = cli_in(root, &["validate", "drift.json", "--against-catalog"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("no table has a newer version"),
        "{}",
        o.stdout
    );

    export_without_precipitation(&csv);
    // The crawl takes the new schema as version 2; queries over the lost column fail.
    let second = run_file(root, &root.join("drift.json"), &[], &[]);
    assert_eq!(second.node("crawl")["status"], "ok");

    let o = cli_in(root, &["validate", "drift.json", "--against-catalog"]);
    assert_eq!(o.code, 1, "something breaks: {}{}", o.stdout, o.stderr);
    assert!(
        o.stdout
            .contains("catalog: default.weather is at version 2"),
        "{}",
        o.stdout
    );
    assert_eq!(flagged(&o.stdout), weather_impact(), "{}", o.stdout);
    assert!(
        o.stdout
            .contains("changes: node 'hottest': sql: column hottest: Float64 → Utf8"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("breaks: node 'wettest': sql: ") && o.stdout.contains("precipitation"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains(
            "breaks: node 'rain_chart': y: its input no longer has the column precipitation"
        ),
        "{}",
        o.stdout
    );
}

/// `tributary catalog --catalog drift.catalog.json <command> weather` in `root`.
fn catalog(root: &Path, command: &str) -> crate::support::Output {
    cli_in(
        root,
        &[
            "catalog",
            "--catalog",
            "drift.catalog.json",
            command,
            "weather",
        ],
    )
}

#[test]
fn a_crawl_that_only_logs_a_schema_change_proposes_it_shows_its_impact_and_it_can_be_accepted() {
    let dir = scratch();
    let root = dir.path();
    let csv = weather_drift_project(root, json!({"schema_change_policy": "log"}));
    export_without_precipitation(&csv);
    let second = run_file(root, &root.join("drift.json"), &[], &[]);
    assert_eq!(second.node("crawl")["status"], "ok");
    // The table keeps version 1; version 2 is proposed, and what it would do is shown.
    let history = catalog(root, "history");
    assert_eq!(history.stdout.lines().count(), 1, "{}", history.stdout);
    let o = cli_in(root, &["validate", "drift.json", "--against-catalog"]);
    assert_eq!(
        o.code, 1,
        "accepting it would break nodes: {}{}",
        o.stdout, o.stderr
    );
    assert!(
        o.stdout
            .contains("catalog: default.weather has a proposed version 2")
            && o.stdout.contains("precipitation"),
        "{}",
        o.stdout
    );
    assert_eq!(flagged(&o.stdout), weather_impact(), "{}", o.stdout);
    // Accepting it applies it as version 2, made by the command line.
    let accepted = catalog(root, "accept");
    assert_eq!(accepted.code, 0, "{accepted:?}");
    assert!(
        accepted.stdout.contains("default.weather is at version 2"),
        "{}",
        accepted.stdout
    );
    let history = catalog(root, "history");
    let v2 = history.stdout.lines().nth(1).unwrap_or_default().to_owned();
    assert!(
        v2.starts_with("v2\t") && v2.contains("cli:accept"),
        "{}",
        history.stdout
    );
    let o = cli_in(root, &["validate", "drift.json", "--against-catalog"]);
    assert!(
        o.stdout
            .contains("catalog: default.weather is at version 2"),
        "{}",
        o.stdout
    );
    assert_eq!(flagged(&o.stdout), weather_impact(), "{}", o.stdout);
    // Nothing left to accept.
    let again = catalog(root, "accept");
    assert_ne!(again.code, 0);
    assert!(again.stderr.contains("has no proposed schema"), "{again:?}");
}
