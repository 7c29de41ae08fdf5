//! Project files: round trips, stable formatting, atomic writes, relative paths.

use tributary_engine::Project;

use crate::support::*;

#[test]
fn the_streaming_and_emr_examples_are_valid_and_canonical() {
    for name in [
        "clickstream.json",
        "emr.json",
        "lambda.json",
        "producers.json",
        "transforms.json",
    ] {
        let path = repo_root().join("projects").join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let project = Project::from_json(&text).unwrap();
        let dir = scratch();
        let copy = dir.path().join("copy.json");
        project.save(&copy).unwrap();
        assert_eq!(std::fs::read_to_string(&copy).unwrap(), text, "{name}");
        let out = cli_in(dir.path(), &["validate", path.to_str().unwrap()]);
        assert_eq!(out.code, 0, "{out:?}");
        // `fmt` leaves a canonical file as it is.
        std::fs::write(&copy, text.replace("\n  ", "\n    ")).unwrap();
        let out = cli_in(dir.path(), &["fmt", copy.to_str().unwrap()]);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(std::fs::read_to_string(&copy).unwrap(), text, "{name}");
    }
}

#[test]
fn example_project_round_trips_byte_for_byte() {
    let path = repo_root().join("projects/lake.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let project = Project::from_json(&text).unwrap();
    let dir = scratch();
    let copy = dir.path().join("copy.json");
    project.save(&copy).unwrap();
    let saved = std::fs::read_to_string(&copy).unwrap();
    // The bundled file is in the canonical form, so saving it changes nothing.
    assert_eq!(saved, text);
    let again = Project::from_json(&saved).unwrap();
    assert_eq!(again, project);
    // Saving again gives the same bytes: stable key order, no drift.
    again.save(&copy).unwrap();
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), saved);
    // Keys appear in a fixed order.
    let id = saved.find("\"id\"").unwrap();
    let kind = saved.find("\"kind\"").unwrap();
    let name = saved.find("\"name\": \"Raw bucket\"").unwrap();
    let config = saved.find("\"config\"").unwrap();
    assert!(id < kind && kind < name && name < config, "{saved}");
    // No temporary files are left next to it.
    assert_eq!(files_under(dir.path()), ["copy.json"]);
}

#[test]
fn example_runs_from_any_working_directory() {
    // Relative paths in the project resolve against the project's folder, not the cwd.
    let dir = scratch();
    let projects = dir.path().join("projects");
    std::fs::create_dir_all(&projects).unwrap();
    std::fs::copy(
        repo_root().join("projects/lake.json"),
        projects.join("lake.json"),
    )
    .unwrap();
    for table in ["weather", "stocks", "electricity"] {
        let src = repo_root().join(format!("projects/lake/raw/{table}"));
        for f in std::fs::read_dir(&src).unwrap() {
            let f = f.unwrap();
            write(
                &projects
                    .join(format!("lake/raw/{table}"))
                    .join(f.file_name()),
                std::fs::read(f.path()).unwrap(),
            );
        }
    }
    write(
        &projects.join("lake/raw/cars/cars.json"),
        std::fs::read(repo_root().join("projects/lake/raw/cars/cars.json")).unwrap(),
    );
    let elsewhere = scratch();
    let run = run_file(elsewhere.path(), &projects.join("lake.json"), &[], &[]).ok();
    let statuses: Vec<(String, String)> = run.summary["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap().to_owned(),
                n["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("raw", "ok"),
            ("crawler", "ok"),
            ("catalog", "ok"),
            ("curated", "ok"),
            ("weather_monthly", "ok"),
            ("rainy_2015", "ok"),
            ("weather_chart", "ok"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let query = run.node("rainy_2015");
    // 2015 had drizzle, fog, rain and sun, but no snow.
    assert_eq!(query["records_out"], 4);
    // The chart of it has one bar per weather.
    let chart = run.node("weather_chart");
    assert_eq!(chart["records_out"], 4);
    assert!(projects.join("lake.catalog.json").exists());
    assert!(
        projects
            .join("lake/curated/weather_monthly/year=2015")
            .is_dir()
    );
    assert!(
        files_under(elsewhere.path()).is_empty(),
        "nothing is written to the cwd"
    );
}

#[test]
fn kinds_and_validate_speak_the_kinds_declarations() {
    let dir = scratch();
    // `kinds --json`: every kind with its ports and settings, as the editor's forms.
    let out = cli_in(dir.path(), &["kinds", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let kinds: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let names: Vec<&str> = kinds
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kind"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 23, "{names:?}");
    let filter = kinds
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "filter")
        .unwrap();
    assert_eq!(filter["inputs"][0]["name"], "records");
    assert_eq!(filter["inputs"][0]["required"], true);
    // A visual transform takes a table or a stream.
    assert_eq!(filter["inputs"][0]["type"], "rows");
    let union = kinds
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "union")
        .unwrap();
    assert_eq!(union["inputs"][0]["multiple"], true);
    let keys: Vec<&str> = filter["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["condition", "columns"]);
    let analytics = kinds
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "analytics")
        .unwrap();
    let window = analytics["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "window")
        .unwrap();
    assert_eq!(
        window["choices"],
        serde_json::json!(["tumbling", "hopping", "session"])
    );
    // An unknown kind is refused with the known ones.
    let out = cli_in(dir.path(), &["kinds", "qurey"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("unknown kind 'qurey'"), "{out:?}");

    // `validate` names each problem's node and setting path, inside nested settings too.
    let project = serde_json::json!({
        "format_version": 1,
        "nodes": [
            {"id": "catalog", "kind": "catalog", "config": {}},
            {"id": "job", "kind": "emr_job", "config": {"steps": [
                {"name": "ok", "sql": "SELECT 1"},
                {"name": "bad", "sql": "SELECT 2", "write": {"table": "x", "output_prefix": "out", "format": "json", "compression": "snappy"}}
            ]}},
            {"id": "win", "kind": "analytics", "config": {"window": "sliding"}}
        ],
        "edges": [
            {"from": {"node": "catalog", "port": "catalog"}, "to": {"node": "job", "port": "catalog"}}
        ]
    });
    write(&dir.path().join("p.json"), project.to_string());
    let out = cli_in(dir.path(), &["validate", "p.json"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        out.stderr.lines().collect::<Vec<_>>(),
        [
            "node 'win': config: window: unknown variant `sliding`, expected one of `tumbling`, `hopping`, `session`",
            "node 'job': config: steps[1].write.compression: snappy applies to Parquet only; use gzip, zstd or none",
        ],
        "{out:?}"
    );
    let mut project = project;
    project["nodes"][2]["config"]["window"] = serde_json::json!("hopping");
    project["nodes"][2]["config"]["slide_ms"] = serde_json::json!(0);
    write(&dir.path().join("p.json"), project.to_string());
    let out = cli_in(dir.path(), &["validate", "p.json"]);
    assert_eq!(
        out.stderr.lines().collect::<Vec<_>>(),
        [
            "node 'job': config: steps[1].write.compression: snappy applies to Parquet only; use gzip, zstd or none",
            "node 'win': config: slide_ms: must be between 1 and size_ms",
            "node 'win': input 'records' (stream) is not connected",
        ],
        "{out:?}"
    );
}

#[test]
fn format_1_lambda_settings_migrate_to_the_cloudformation_names() {
    // A Lambda node as format 1 wrote it: Tributary's own names and units.
    let old = serde_json::json!({
        "format_version": 1,
        "nodes": [{"id": "fn", "kind": "lambda", "config": {
            "runtime": "script", "script": "record", "batch_size": 500,
            "batch_window_ms": 250, "retry_attempts": 4, "bisect_on_error": false,
            "max_record_age_ms": 90000}},
            {"id": "plain", "kind": "lambda", "config": {"sql": "SELECT * FROM input"}},
            {"id": "gen", "kind": "generator", "config": {}},
            {"id": "s", "kind": "stream", "config": {}}],
        "edges": [
            {"from": {"node": "gen", "port": "events"}, "to": {"node": "s", "port": "records"}},
            {"from": {"node": "s", "port": "records"}, "to": {"node": "fn", "port": "records"}},
            {"from": {"node": "s", "port": "records"}, "to": {"node": "plain", "port": "records"}}]
    });
    let project = Project::from_json(&old.to_string()).unwrap();
    let config = |id: &str| {
        project
            .nodes
            .iter()
            .find(|n| n.id == id)
            .unwrap()
            .config
            .to_value()
    };
    let c = config("fn");
    assert_eq!(c["runtime"], "rhai");
    assert_eq!(c["batch_size"], 500);
    assert_eq!(c["maximum_batching_window_in_seconds"], 0.25);
    assert_eq!(c["maximum_retry_attempts"], 4);
    assert_eq!(c["bisect_batch_on_function_error"], false);
    assert_eq!(c["maximum_record_age_in_seconds"], 90);
    // Settings the file left out keep format 1's defaults, not AWS's.
    let p = config("plain");
    assert_eq!(p["batch_size"], 10_000);
    assert_eq!(p["maximum_batching_window_in_seconds"], 0.1);
    assert_eq!(p["maximum_retry_attempts"], 2);
    assert_eq!(p["bisect_batch_on_function_error"], true);
    assert_eq!(p["maximum_record_age_in_seconds"], -1);
    // `fmt` writes the current format, with the new names only.
    let dir = scratch();
    let path = dir.path().join("old.json");
    std::fs::write(&path, old.to_string()).unwrap();
    let out = cli_in(dir.path(), &["fmt", path.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out:?}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"format_version\": 2"), "{text}");
    for gone in [
        "batch_window_ms",
        "retry_attempts",
        "bisect_on_error",
        "max_record_age_ms",
    ] {
        assert!(!text.contains(&format!("\"{gone}\"")), "{gone} in {text}");
    }
    // A new Lambda node takes AWS's defaults.
    let fresh = serde_json::json!({"format_version": 2,
        "nodes": [{"id": "fn", "kind": "lambda", "config": {}}]});
    let (project, _) = Project::parse_for_editing(&fresh.to_string()).unwrap();
    let c = project.nodes[0].config.to_value();
    assert_eq!(c["batch_size"], 100);
    assert_eq!(c["maximum_retry_attempts"], -1);
    assert_eq!(c["maximum_record_age_in_seconds"], -1);
    assert_eq!(c["bisect_batch_on_function_error"], false);
    assert_eq!(c["timeout"], 3);
    assert_eq!(c["memory_size"], 128);
}
