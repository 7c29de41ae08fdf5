//! Project files: round trips, stable formatting, atomic writes, relative paths.

use tributary_engine::Project;

use crate::support::*;

#[test]
fn the_streaming_and_emr_examples_are_valid_and_canonical() {
    for name in ["clickstream.json", "emr.json"] {
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
