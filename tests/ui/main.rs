//! UI tests: the real app driven through one harness helper, asserting what a user sees.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use tributary::TributaryApp;
use tributary_engine::Project;

/// The one harness helper: the whole app in a 1600×1000 window, optionally on a project.
fn app(project: Option<&Path>) -> Harness<'static, TributaryApp> {
    let ctx = egui::Context::default();
    let app = TributaryApp::new(&ctx, project.map(Path::to_path_buf));
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_ui_state(|ui, app: &mut TributaryApp| app.frame_ui(ui), app);
    harness.run_steps(3);
    harness
}

/// Steps the UI until the engine's run has finished.
fn wait_for_run(harness: &mut Harness<'static, TributaryApp>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    harness.run_steps(2);
    while harness.state().is_running() {
        assert!(Instant::now() < deadline, "the run did not finish");
        std::thread::sleep(Duration::from_millis(20));
        harness.step();
    }
    harness.run_steps(3);
}

/// A copy of the lake example (project and data) in a scratch folder.
fn lake_example() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../projects");
    copy_dir(&root.join("lake/raw"), &dir.path().join("lake/raw"));
    let path = dir.path().join("lake.json");
    std::fs::copy(root.join("lake.json"), &path).unwrap();
    (dir, path)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn create_nodes_connect_them_and_see_a_bad_wire_refused() {
    let mut h = app(None);
    h.get_by_label("+ bucket").click();
    h.run_steps(2);
    h.get_by_label("+ crawler").click();
    h.run_steps(2);
    h.get_by_label("+ query").click();
    h.run_steps(2);
    let ids: Vec<String> = h
        .state()
        .doc
        .to_project()
        .nodes
        .iter()
        .map(|n| n.id.clone())
        .collect();
    assert_eq!(ids, ["bucket_1", "crawler_1", "query_1"]);
    // The new nodes are on the canvas, with their typed ports.
    assert!(h.query_by_label("objects").is_some());
    assert!(h.query_by_label("source").is_some());

    h.state_mut()
        .connect("bucket_1", "objects", "crawler_1", "source")
        .unwrap();
    h.run_steps(2);
    assert_eq!(h.state().doc.to_project().edges.len(), 1);

    let refused = h
        .state_mut()
        .connect("bucket_1", "objects", "query_1", "catalog");
    assert_eq!(
        refused,
        Err("Cannot connect: 'objects' gives objects but 'catalog' takes catalog".to_owned())
    );
    h.run_steps(2);
    assert_eq!(
        h.state().doc.to_project().edges.len(),
        1,
        "the bad wire was not added"
    );
    // The reason is shown to the user next to the pointer.
    assert!(
        h.query_by_label("Cannot connect: 'objects' gives objects but 'catalog' takes catalog")
            .is_some()
    );
}

#[test]
fn open_the_example_run_it_and_see_rows() {
    let (_dir, path) = lake_example();
    let mut h = app(Some(&path));
    assert!(h.query_by_label("Weather in 2015 (query)").is_some());
    h.get_by_label("▶ Run").click();
    wait_for_run(&mut h);
    // Clicking a node's title selects it.
    h.get_by_label("Weather in 2015 (query)").click_accesskit();
    h.run_steps(3);
    assert_eq!(h.state().selected.as_deref(), Some("rainy_2015"));
    assert!(
        h.state().results.contains_key("rainy_2015"),
        "{:?}",
        h.state().results.keys().collect::<Vec<_>>()
    );
    // The Results table shows the query's rows and column types.
    assert!(h.query_by_label("4 rows").is_some());
    for cell in [
        "weather",
        "days",
        "precipitation",
        "sun",
        "180",
        "fog",
        "173",
        "drizzle",
        "rain",
    ] {
        assert!(h.query_by_label(cell).is_some(), "no cell '{cell}'");
    }
    // Each node shows its status and output count.
    assert!(h.query_by_label("ok · 138 out").is_some());
}

#[test]
fn undo_and_redo() {
    let mut h = app(None);
    h.get_by_label("+ bucket").click();
    h.run_steps(2);
    h.get_by_label("+ query").click();
    h.run_steps(2);
    assert_eq!(h.state().doc.to_project().nodes.len(), 2);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.run_steps(2);
    assert_eq!(h.state().doc.to_project().nodes.len(), 1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.run_steps(2);
    assert_eq!(h.state().doc.to_project().nodes.len(), 0);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Y);
    h.run_steps(2);
    assert_eq!(h.state().doc.to_project().nodes.len(), 1);
    h.key_press_modifiers(
        egui::Modifiers::COMMAND | egui::Modifiers::SHIFT,
        egui::Key::Z,
    );
    h.run_steps(2);
    let kinds: Vec<&str> = h
        .state()
        .doc
        .to_project()
        .nodes
        .iter()
        .map(|n| n.kind().as_str())
        .collect();
    assert_eq!(kinds, ["bucket", "query"]);
}

#[test]
fn save_and_reopen_gives_the_same_document() {
    let (dir, path) = lake_example();
    let original = std::fs::read_to_string(&path).unwrap();
    let mut h = app(Some(&path));
    assert!(!h.state().doc.is_dirty());
    // Saving unchanged gives the same bytes.
    let copy = dir.path().join("copy.json");
    h.state_mut().save_to(&copy);
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), original);
    // An edit marks the document dirty; saving and reopening keeps it exactly.
    h.get_by_label("+ query").click();
    h.run_steps(2);
    assert!(h.state().doc.is_dirty());
    h.state_mut().save_to(&copy);
    assert!(!h.state().doc.is_dirty());
    let (saved, problems) = Project::load_for_editing(&copy).unwrap();
    // A work in progress opens with its problems listed, not refused.
    assert_eq!(problems.len(), 1, "{problems:?}");
    let reopened = app(Some(&copy));
    assert_eq!(reopened.state().doc.to_project(), saved);
    assert_eq!(saved.nodes.len(), 8);
    assert_eq!(saved.nodes[7].id, "query_1");
}

#[test]
fn an_engine_error_shows_on_its_node() {
    let (dir, path) = lake_example();
    let mut project = Project::load(&path).unwrap();
    let q = project
        .nodes
        .iter_mut()
        .find(|n| n.id == "rainy_2015")
        .unwrap();
    q.config =
        tributary_engine::nodes::NodeConfig::Query(tributary_engine::nodes::query::QueryConfig {
            sql: "SELECT no_such_column FROM weather_monthly".to_owned(),
            display_limit: 100,
        });
    let bad = dir.path().join("bad.json");
    project.save(&bad).unwrap();
    let mut h = app(Some(&bad));
    h.get_by_label("▶ Run").click();
    wait_for_run(&mut h);
    // The node says so, and the log has the engine's message naming the node.
    assert!(h.query_by_label("error").is_some());
    let error = h.state().runs["rainy_2015"].error.clone().unwrap();
    assert!(error.starts_with("node 'rainy_2015' (query): "), "{error}");
    assert!(error.contains("no_such_column"), "{error}");
    h.get_by_label_contains("Log (1)").click();
    h.run_steps(2);
    assert!(h.query_by_label(&error).is_some());
}

#[test]
fn a_stream_feeds_live_charts_on_the_canvas_and_in_the_charts_tab() {
    let dir = tempfile::tempdir().unwrap();
    let project = serde_json::json!({
        "format_version": 1,
        "nodes": [
            {"id": "gen", "kind": "generator", "name": "Clicks", "position": {"x": 0.0, "y": 0.0},
             "config": {"event": "clickstream", "rate_per_sec": 0.0, "count": 20000, "keys": 100, "seed": 3}},
            {"id": "s", "kind": "stream", "position": {"x": 250.0, "y": 0.0}, "config": {"shards": 2, "partition_key": "user_id"}},
            {"id": "traffic", "kind": "series_sink", "name": "Traffic", "position": {"x": 500.0, "y": 0.0},
             "config": {"chart": "line", "x": "event_time", "series": "page", "max_points": 50}},
            {"id": "pages", "kind": "series_sink", "name": "Pages", "position": {"x": 500.0, "y": 300.0},
             "config": {"chart": "bar", "x": "page", "aggregate": "count"}}
        ],
        "edges": [
            {"from": {"node": "gen", "port": "events"}, "to": {"node": "s", "port": "records"}},
            {"from": {"node": "s", "port": "records"}, "to": {"node": "traffic", "port": "records"}},
            {"from": {"node": "s", "port": "records"}, "to": {"node": "pages", "port": "records"}}
        ]
    });
    let path = dir.path().join("charts.json");
    std::fs::write(&path, project.to_string()).unwrap();
    let mut h = app(Some(&path));
    h.get_by_label("▶ Run").click();
    wait_for_run(&mut h);
    let charts = &h.state().charts;
    // The line chart: one series per page, at most 50 buckets each, counting every record.
    let traffic = &charts["traffic"];
    assert_eq!(traffic.series.len(), 8, "{traffic:?}");
    assert!(
        traffic
            .series
            .iter()
            .all(|s| s.points.len() <= 50 && s.points.len() > 10)
    );
    let total: f64 = traffic
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p[1]))
        .sum();
    assert_eq!(total, 20000.0);
    assert!(traffic.x_is_time);
    // The bar chart: one bar per page, counts adding up to every record.
    let pages = &charts["pages"];
    assert_eq!(pages.categories.len(), 8);
    let bars: f64 = pages.series[0].points.iter().map(|p| p[1]).sum();
    assert_eq!(bars, 20000.0);
    // The Charts tab shows the dashboard: each chart under its node's name.
    h.get_by_label("Charts").click();
    h.run_steps(3);
    // (once as the node's title on the canvas, once above its chart)
    assert_eq!(h.query_all_by_label("Traffic").count(), 2);
    assert_eq!(h.query_all_by_label("Pages").count(), 2);
}
