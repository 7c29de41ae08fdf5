//! Opening and saving: the in-app path field where there is no system file picker, new
//! paths, the unsaved-changes question, and untitled projects' scratch folder.

use std::path::Path;

use egui_kittest::kittest::Queryable as _;
use tributary::AppCommand;
use tributary_engine::Project;

use crate::{app, command, wait_for_run};

#[test]
fn without_a_system_file_picker_save_as_asks_for_a_path_in_the_app() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("existing.json"), "{}").unwrap();
    let mut h = app(None);
    h.get_by_label("+ bucket").click();
    h.run_steps(2);
    command(&mut h, AppCommand::Save);
    // The in-app dialog says why it is shown.
    assert!(h.query_by_label("Save project as").is_some());
    assert!(
        h.query_by_label_contains("type the path").is_some(),
        "no reason given"
    );
    // Completion: Tab completes a folder's file names; a click picks one.
    let folder = format!("{}/", dir.path().display());
    h.get_by_label("Path").type_text(&format!("{folder}exi"));
    h.run_steps(2);
    h.key_press(egui::Key::Tab);
    h.run_steps(2);
    assert!(
        h.query_by_label(&format!("{folder}existing.json"))
            .is_some(),
        "the completion is listed"
    );
    // A folder that does not exist is refused with the reason; the dialog stays.
    h.get_by_label("Path").type_text("/no/such/folder/p");
    h.run_steps(2);
    h.get_by_label("Save").click();
    h.run_steps(2);
    assert!(h.query_by_label_contains("does not exist").is_some());
    // A new name in the folder saves there (`.json` added), and the title says so.
    let target = dir.path().join("made.json");
    let typed = target.with_extension("");
    h.get_by_label("Path").focus();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("Path")
        .type_text(&typed.display().to_string());
    h.run_steps(2);
    h.key_press(egui::Key::Enter);
    h.run_steps(3);
    assert!(
        h.query_by_label("Save project as").is_none(),
        "the dialog closed"
    );
    let (saved, _) = Project::load_for_editing(&target).unwrap();
    assert_eq!(saved.nodes.len(), 1);
    assert_eq!(h.state().path(), Some(target.as_path()));
    assert!(!h.state().is_dirty());
}

#[test]
fn a_new_path_opens_an_empty_project_that_saves_there() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.json");
    let mut h = app(Some(&path));
    assert_eq!(h.state().project().nodes.len(), 0);
    assert_eq!(h.state().path(), Some(path.as_path()));
    h.get_by_label("+ generator").click();
    h.run_steps(2);
    command(&mut h, AppCommand::Save);
    // No dialog: the project already has its file.
    assert!(h.query_by_label("Save project as").is_none());
    let saved = Project::load(&path).unwrap();
    assert_eq!(saved.nodes[0].id, "generator_1");
}

#[test]
fn the_unsaved_changes_prompt_saves_an_untitled_project_then_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = app(None);
    h.get_by_label("+ query").click();
    h.run_steps(2);
    command(&mut h, AppCommand::New);
    assert!(h.query_by_label("Unsaved changes").is_some());
    h.get_by_label("Save").click();
    h.run_steps(2);
    // Untitled: Save asks where, then the New goes on.
    let target = dir.path().join("kept.json");
    h.get_by_label("Path")
        .type_text(&target.display().to_string());
    h.run_steps(2);
    h.key_press(egui::Key::Enter);
    h.run_steps(3);
    assert_eq!(Project::load_for_editing(&target).unwrap().0.nodes.len(), 1);
    assert_eq!(h.state().project().nodes.len(), 0, "then a new project");
    assert_eq!(h.state().path(), None);
}

#[test]
fn an_untitled_project_runs_in_a_scratch_folder() {
    // A stream delivered by Firehose into a bucket, with a catalog: both relative paths.
    let mut project: serde_json::Value =
        serde_json::from_str(include_str!("../pipelines/filter_stream/project.json")).unwrap();
    for node in project["nodes"].as_array_mut().unwrap() {
        match node["kind"].as_str() {
            Some("bucket") => node["config"]["path"] = "untitled-test-lake".into(),
            Some("catalog") => node["config"]["path"] = "untitled-test-catalog.json".into(),
            Some("generator") => node["config"]["count"] = 2000.into(),
            _ => {}
        }
    }
    let mut h = app(None);
    h.state_mut().paste(&project.to_string());
    h.run_steps(2);
    // The bucket's folder, as a user would make it beside the project.
    let scratch = h.state_mut().base_dir();
    std::fs::create_dir(scratch.join("untitled-test-lake")).unwrap();
    command(&mut h, AppCommand::Run);
    wait_for_run(&mut h);
    assert_eq!(h.state().node_error("bucket_1"), None);
    assert!(
        !Path::new("untitled-test-catalog.json").exists()
            && !Path::new("untitled-test-lake").exists(),
        "nothing is written where the app was started"
    );
    assert_eq!(
        h.state_mut().base_dir(),
        scratch,
        "one scratch folder per document"
    );
    assert!(scratch.starts_with(std::env::temp_dir()));
    assert!(scratch.join("untitled-test-catalog.json").is_file());
    assert!(scratch.join("untitled-test-lake/raw").is_dir());
    // Saved, the project's own folder takes over and the scratch folder goes.
    let dir = tempfile::tempdir().unwrap();
    h.state_mut().save_to(&dir.path().join("p.json"));
    assert_eq!(h.state_mut().base_dir(), dir.path());
    assert!(!scratch.exists(), "the scratch folder is removed");
}

#[test]
fn a_mistyped_subcommand_is_an_error_with_a_suggestion_and_never_opens_a_window() {
    use tributary::{Launch, launch};
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        // No display: a window could not open, so a wrong turn would fail differently.
        std::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(args)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = run(&["qeury", "--catalog", "c", "SELECT 1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("'qeury'") && err.contains("similar subcommand exists: 'query'"),
        "{err}"
    );
    let out = run(&["--no-such-flag"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--no-such-flag"), "{err}");
    // Only a project file (existing, or a new *.json) or nothing opens the window.
    let args = |a: &[&str]| -> Vec<String> {
        std::iter::once("tributary")
            .chain(a.iter().copied())
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(launch(&args(&[])), Launch::Window(None));
    assert_eq!(
        launch(&args(&["new.json"])),
        Launch::Window(Some("new.json".into()))
    );
    let existing = dir.path().to_str().unwrap();
    assert_eq!(
        launch(&args(&[existing])),
        Launch::Window(Some(existing.into()))
    );
    for cli in [&["query"][..], &["qeury"], &["runn", "x.json"], &["-V"]] {
        assert_eq!(launch(&args(cli)), Launch::Cli, "{cli:?}");
    }
}

#[test]
fn file_export_to_aws_writes_the_template_in_the_background_and_logs_what_was_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("lambda.json");
    std::fs::copy(crate::examples_dir().join("lambda.json"), &project).unwrap();
    let mut h = app(Some(&project));
    h.run_steps(2);
    command(&mut h, AppCommand::ExportToAws);
    // Without a system picker the in-app field asks for the folder.
    assert!(
        h.query_by_label("Export to AWS: the folder to write")
            .is_some(),
        "the export dialog"
    );
    let out = dir.path().join("to-aws");
    h.get_by_label("Path").focus();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("Path").type_text(&out.display().to_string());
    h.run_steps(2);
    h.get_by_label("Export").click();
    // The export runs on its own thread; the log says when it is done.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while h.query_by_label_contains("exported to AWS in").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the export never finished"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        h.run_steps(1);
    }
    let template = std::fs::read_to_string(out.join("template.yaml")).unwrap();
    assert!(template.contains("Type: AWS::Serverless::Function"));
    assert!(out.join("lambda/enrich/app.py").is_file());
    assert!(out.join("README.md").is_file());
    // Each node left out is named with the reason, in the log.
    assert!(
        h.query_by_label_contains("not exported: a synthetic source")
            .is_some(),
        "the generator is named"
    );
}

#[test]
fn the_diff_tab_compares_a_nodes_output_in_the_last_two_runs_by_a_key() {
    let (_dir, path) = crate::lake_example();
    let mut h = app(Some(&path));
    command(&mut h, AppCommand::Run);
    wait_for_run(&mut h);
    // Fog left out, sun one day more, hail added.
    h.state_mut()
        .set_setting(
            "rainy_2015",
            "sql",
            "SELECT weather, CASE WHEN weather = 'sun' THEN SUM(days) + 1 ELSE SUM(days) END AS days, \
             ROUND(SUM(precipitation), 1) AS precipitation FROM weather_monthly \
             WHERE year = 2015 AND weather <> 'fog' GROUP BY weather UNION ALL SELECT 'hail', 1, 0.0",
        )
        .unwrap();
    command(&mut h, AppCommand::Run);
    wait_for_run(&mut h);
    h.state_mut().select(Some("rainy_2015"));
    command(&mut h, AppCommand::ShowTab(tributary::BottomTab::Diff));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while h.query_by_label("Compare").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the runs were never listed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        h.run_steps(1);
    }
    h.get_by_label("Key").focus();
    h.run_steps(1);
    h.get_by_label("Key").type_text("weather");
    h.run_steps(2);
    h.get_by_label("Compare").click();
    while h
        .query_by_label_contains("1 added · 1 removed · 1 changed · 2 unchanged")
        .is_none()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no comparison shown: {:?}",
            h.state().diff_shown()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        h.run_steps(1);
    }
    assert!(
        h.query_by_label_contains("+ {\"weather\":\"hail\"")
            .is_some()
    );
    assert!(
        h.query_by_label_contains("- {\"weather\":\"fog\"")
            .is_some()
    );
    // A changed row names the columns that changed.
    assert!(h.query_by_label("~ \"sun\": days 180 → 181").is_some());
}
