//! Project files: round trips, stable formatting, atomic writes, relative paths.

use tributary_engine::Project;

use crate::support::*;

#[test]
fn the_streaming_and_emr_examples_are_valid_and_canonical() {
    for name in ["clickstream.json", "emr.json", "transforms.json"] {
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
