//! UI tests: the real app driven through one harness helper, asserting what a user sees.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use tributary::{AppCommand, TributaryApp};
use tributary_engine::Project;

mod canvas;
mod files;
mod layout;
mod live;
mod transforms;

pub(crate) type H = Harness<'static, TributaryApp>;

/// The one harness helper: the whole app in a 1600×1000 window, optionally on a project,
/// with its state (recent projects, autosave) in a scratch folder of its own.
pub(crate) fn app(project: Option<&Path>) -> Harness<'static, TributaryApp> {
    app_with_state(project, &tempfile::tempdir().unwrap().keep())
}

/// The harness on `project` with state kept in `state` (to test what survives a restart).
pub(crate) fn app_with_state(
    project: Option<&Path>,
    state: &Path,
) -> Harness<'static, TributaryApp> {
    let ctx = egui::Context::default();
    // No system file picker, as on CI (and so nothing waits on one): the in-app path
    // field is what the tests drive.
    let app = TributaryApp::with_state_dir(
        &ctx,
        project.map(Path::to_path_buf),
        Some(state.to_path_buf()),
    )
    .without_native_dialogs();
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_ui_state(|ui, app: &mut TributaryApp| app.frame_ui(ui), app);
    harness.run_steps(3);
    harness
}

/// Carries out `command` as its menu entry or shortcut would.
pub(crate) fn command(h: &mut Harness<'static, TributaryApp>, command: AppCommand) {
    let ctx = h.ctx.clone();
    h.state_mut().execute(command, &ctx);
    h.run_steps(2);
}

/// Steps the UI until the engine's run has finished.
pub(crate) fn wait_for_run(harness: &mut Harness<'static, TributaryApp>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    harness.run_steps(2);
    while harness.state().is_running() {
        assert!(Instant::now() < deadline, "the run did not finish");
        std::thread::sleep(Duration::from_millis(20));
        harness.step();
    }
    harness.run_steps(3);
}

/// The bundled examples' folder.
pub(crate) fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../projects")
}

/// A copy of the lake example (project and data) in a scratch folder.
pub(crate) fn lake_example() -> (tempfile::TempDir, PathBuf) {
    example_over_the_lake("lake.json")
}

/// A copy of the bundled example `name` that reads the bundled lake, in a scratch folder.
pub(crate) fn example_over_the_lake(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../projects");
    copy_dir(&root.join("lake/raw"), &dir.path().join("lake/raw"));
    let path = dir.path().join(name);
    std::fs::copy(root.join(name), &path).unwrap();
    (dir, path)
}

/// Where node `id` is on screen (the harness's accessibility rectangles ignore the
/// canvas's zoom, so pointer tests aim with this).
pub(crate) fn node_rect(h: &H, id: &str) -> egui::Rect {
    h.state()
        .node_rect_on_screen(id)
        .unwrap_or_else(|| panic!("node {id} was not drawn"))
}

/// A click on node `id`'s title, as a user selects it.
pub(crate) fn click_node(h: &mut H, id: &str) {
    let r = node_rect(h, id);
    click_at(
        h,
        egui::pos2(r.center().x, r.top() + 10.0),
        egui::Modifiers::NONE,
    );
}

/// A primary click at `pos` with `modifiers` held, as the pointer would make it.
pub(crate) fn click_at(h: &mut H, pos: egui::Pos2, modifiers: egui::Modifiers) {
    h.event(egui::Event::ModifiersChanged(modifiers));
    h.event(egui::Event::PointerMoved(pos));
    for pressed in [true, false] {
        h.event(egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers,
        });
    }
    h.event(egui::Event::ModifiersChanged(egui::Modifiers::NONE));
    h.run_steps(2);
}

/// A primary drag from `from` to `to` in a few moves.
pub(crate) fn drag(h: &mut H, from: egui::Pos2, to: egui::Pos2) {
    h.event(egui::Event::PointerMoved(from));
    h.event(egui::Event::PointerButton {
        pos: from,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: egui::Modifiers::NONE,
    });
    for k in 1..=4 {
        h.event(egui::Event::PointerMoved(
            from + (to - from) * (k as f32 / 4.0),
        ));
    }
    h.event(egui::Event::PointerButton {
        pos: to,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    h.run_steps(2);
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
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
        .project()
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
    assert_eq!(h.state().project().edges.len(), 1);

    let refused = h
        .state_mut()
        .connect("bucket_1", "objects", "query_1", "catalog");
    assert_eq!(
        refused,
        Err("Cannot connect: 'objects' gives objects but 'catalog' takes catalog".to_owned())
    );
    h.run_steps(2);
    assert_eq!(
        h.state().project().edges.len(),
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
    click_node(&mut h, "rainy_2015");
    h.run_steps(3);
    assert_eq!(h.state().selected(), Some("rainy_2015"));
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
    assert_eq!(h.state().project().nodes.len(), 2);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.run_steps(2);
    assert_eq!(h.state().project().nodes.len(), 1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.run_steps(2);
    assert_eq!(h.state().project().nodes.len(), 0);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Y);
    h.run_steps(2);
    assert_eq!(h.state().project().nodes.len(), 1);
    h.key_press_modifiers(
        egui::Modifiers::COMMAND | egui::Modifiers::SHIFT,
        egui::Key::Z,
    );
    h.run_steps(2);
    let kinds: Vec<&str> = h
        .state()
        .project()
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
    assert!(!h.state().is_dirty());
    // Saving unchanged gives the same bytes.
    let copy = dir.path().join("copy.json");
    h.state_mut().save_to(&copy);
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), original);
    // An edit marks the document dirty; saving and reopening keeps it exactly.
    h.get_by_label("+ query").click();
    h.run_steps(2);
    assert!(h.state().is_dirty());
    h.state_mut().save_to(&copy);
    assert!(!h.state().is_dirty());
    let (saved, problems) = Project::load_for_editing(&copy).unwrap();
    // A work in progress opens with its problems listed, not refused.
    assert_eq!(problems.len(), 1, "{problems:?}");
    let reopened = app(Some(&copy));
    assert_eq!(reopened.state().project(), saved);
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
            allow_writes: false,
        });
    let bad = dir.path().join("bad.json");
    project.save(&bad).unwrap();
    let mut h = app(Some(&bad));
    h.get_by_label("▶ Run").click();
    wait_for_run(&mut h);
    // The node says so, and the log has the engine's message naming the node.
    assert!(h.query_by_label("error").is_some());
    let error = h.state().node_error("rainy_2015").unwrap().to_owned();
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
             "config": {"event": "clickstream", "rate_per_sec": 0.0, "count": 20000, "keys": 100, "seed": 3,
                        "clock": "synthetic", "time_step_ms": 10.0}},
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
    // The line chart: one series per page, at most 50 buckets each, counting every record;
    // 200 s of event time at 100 records/s: 10 s buckets, a rate per second.
    let traffic = h.state().chart("traffic").unwrap();
    assert_eq!(traffic.series.len(), 8, "{traffic:?}");
    assert!(
        traffic
            .series
            .iter()
            .all(|s| s.points.len() <= 50 && s.points.len() > 10)
    );
    let total: u64 = traffic.series.iter().map(|s| s.total()).sum();
    assert_eq!(total, 20000);
    assert!(traffic.x_is_time && traffic.rate);
    assert_eq!(traffic.bucket_width, Some(10_000.0));
    assert_eq!(
        traffic.title,
        "records per second by event_time · 10 s buckets"
    );
    // The rates of the pages add up to 100 records/s in every complete bucket.
    let first = &traffic.series[0];
    for (i, p) in first
        .points
        .iter()
        .enumerate()
        .filter(|(i, _)| !first.partial[*i])
    {
        let sum: f64 = traffic
            .series
            .iter()
            .filter_map(|s| s.points.iter().find(|q| q[0] == p[0]).map(|q| q[1]))
            .sum();
        assert!((sum - 100.0).abs() < 1.0, "bucket {i}: {sum}/s");
    }
    // The bar chart: one bar per page, counts adding up to every record.
    let pages = h.state().chart("pages").unwrap();
    assert_eq!(pages.categories.len(), 8);
    assert_eq!(pages.title, "records per page · all records");
    let bars: f64 = pages.series[0].points.iter().map(|p| p[1]).sum();
    assert_eq!(bars, 20000.0);
    // The engine reported the stream's columns; the chart's x, y and series fields offer them.
    let cols = h.state().output_columns("s", "records").unwrap();
    assert_eq!(
        cols,
        &["event_id", "user_id", "page", "referrer", "event_time"]
    );
    click_node(&mut h, "traffic");
    h.run_steps(3);
    assert_eq!(h.state().selected(), Some("traffic"));
    assert_eq!(h.query_all_by_label("columns ⏷").count(), 3);
    // Picking a column from the list sets the field.
    h.query_all_by_label("columns ⏷").nth(1).unwrap().click();
    h.run_steps(2);
    h.get_by_label("user_id").click();
    h.run_steps(2);
    let p = h.state().project();
    let traffic = p.nodes.iter().find(|n| n.id == "traffic").unwrap();
    assert_eq!(traffic.config.to_value()["y"], "user_id");
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.run_steps(2);
    // The Charts tab shows the dashboard: each chart under its node's name.
    h.get_by_label("Charts").click();
    h.run_steps(3);
    // A chart node is selected: the tab shows it large; with none selected, all of them.
    assert_eq!(h.query_all_by_label("Traffic").count(), 2);
    h.state_mut().select(None);
    h.run_steps(3);
    // (once as the node's title on the canvas, once above its chart)
    assert_eq!(h.query_all_by_label("Traffic").count(), 2);
    assert_eq!(h.query_all_by_label("Pages").count(), 2);
}

#[test]
fn duplicate_copy_paste_select_all_and_delete() {
    let (_dir, path) = lake_example();
    let mut h = app(Some(&path));
    let count = |h: &Harness<'static, TributaryApp>| {
        let p = h.state().project();
        (p.nodes.len(), p.edges.len())
    };
    assert_eq!(count(&h), (7, 6));
    // Duplicate the selected query: a new node with a fresh id, beside the original.
    click_node(&mut h, "rainy_2015");
    h.run_steps(2);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::D);
    h.run_steps(2);
    assert_eq!(count(&h), (8, 6));
    let p = h.state().project();
    let copy = p.nodes.iter().find(|n| n.id == "query_1").unwrap();
    let original = p.nodes.iter().find(|n| n.id == "rainy_2015").unwrap();
    assert_eq!(copy.config, original.config);
    assert_eq!(copy.position.x, original.position.x + 40.0);
    // Select All, copy, paste: every node and wire again, with fresh ids.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.event(egui::Event::Copy);
    h.run_steps(2);
    let copied = h.state().clipboard_text().unwrap();
    h.event(egui::Event::Paste(copied));
    h.run_steps(2);
    assert_eq!(count(&h), (16, 12));
    let ids: std::collections::BTreeSet<String> = h
        .state()
        .project()
        .nodes
        .iter()
        .map(|n| n.id.clone())
        .collect();
    assert_eq!(ids.len(), 16, "ids stay unique");
    // Select All and Delete (confirmed) empties the canvas; one undo brings all back.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.key_press(egui::Key::Delete);
    h.run_steps(2);
    h.get_by_label("Delete 16 nodes").click();
    h.run_steps(2);
    assert_eq!(count(&h), (0, 0));
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.run_steps(2);
    assert_eq!(count(&h), (16, 12));
}

#[test]
fn autosave_offers_unsaved_changes_back_after_a_crash_and_recent_projects_are_listed() {
    let (_dir, path) = lake_example();
    let state = tempfile::tempdir().unwrap();
    let mut h = app_with_state(Some(&path), state.path());
    h.get_by_label("+ generator").click();
    h.run_steps(2);
    assert!(h.state().is_dirty());
    h.state_mut().autosave_now();
    // The recovery file is written on its own thread.
    let recovery = state.path().join("recovery.json");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !recovery.exists() {
        assert!(Instant::now() < deadline, "no recovery file");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The app "crashes": dropped without saving. The next start offers the changes.
    drop(h);
    let mut h = app_with_state(None, state.path());
    assert!(h.state().recovery_offered());
    assert!(h.query_by_label_contains("did not close cleanly").is_some());
    h.get_by_label("Recover").click();
    h.run_steps(2);
    assert!(!h.state().recovery_offered());
    let p = h.state().project();
    assert_eq!(p.nodes.len(), 8);
    assert!(p.nodes.iter().any(|n| n.id == "generator_1"));
    assert!(h.state().is_dirty(), "recovered changes are still unsaved");
    assert_eq!(h.state().path(), Some(path.as_path()));
    // Saving clears the recovery file; the project is first under Open Recent.
    let saved = path.with_file_name("recovered.json");
    h.state_mut().save_to(&saved);
    assert!(!recovery.exists());
    let h = app_with_state(None, state.path());
    assert!(!h.state().recovery_offered());
    let recent: Vec<std::path::PathBuf> =
        serde_json::from_str(&std::fs::read_to_string(state.path().join("recent.json")).unwrap())
            .unwrap();
    assert_eq!(recent[0], saved);
    assert_eq!(recent[1], path);
}

#[test]
fn an_autosave_that_fails_says_why_in_the_log_and_keeps_the_last_recovery_file() {
    // A full disk under the app's state folder: a real size-limited tmpfs, which only
    // root can mount (CI runs as root).
    if std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout != b"0\n")
    {
        eprintln!("needs root to mount a tmpfs; not run");
        return;
    }
    let (_dir, path) = lake_example();
    let scratch = tempfile::tempdir().unwrap();
    let state = scratch.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&state)
        .status()
        .unwrap()
        .success();
    assert!(mounted);
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(state.clone());
    let mut h = app_with_state(Some(&path), &state);
    h.get_by_label("+ generator").click();
    h.run_steps(2);
    h.state_mut().autosave_now();
    let recovery = state.join("recovery.json");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !recovery.exists() {
        assert!(Instant::now() < deadline, "no recovery file");
        std::thread::sleep(Duration::from_millis(10));
    }
    let good = std::fs::read(&recovery).unwrap();
    // Fill the disk to the last byte, then change the project and autosave again.
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(state.join("filler")).unwrap();
        while f.write(&[0u8; 4096]).is_ok_and(|n| n > 0) {}
    }
    h.get_by_label("+ query").click();
    h.run_steps(2);
    h.state_mut().autosave_now();
    command(&mut h, AppCommand::ShowTab(tributary::BottomTab::Log));
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.query_by_label_contains("autosave failed").is_none() {
        assert!(
            Instant::now() < deadline,
            "the failed autosave was not reported"
        );
        std::thread::sleep(Duration::from_millis(20));
        h.run_steps(2);
    }
    let shown = h
        .query_by_label_contains("autosave failed")
        .map(|n| {
            use egui_kittest::kittest::NodeT as _;
            let node = n.accesskit_node();
            node.label().or_else(|| node.value()).unwrap_or_default()
        })
        .unwrap_or_default();
    assert!(
        shown.contains("recovery.json") && shown.contains("No space left on device"),
        "{shown}"
    );
    // The last good recovery file is whole, and nothing half-written is beside it.
    assert_eq!(std::fs::read(&recovery).unwrap(), good);
    let mut names: Vec<String> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(
        names.contains(&"recovery.json".to_owned())
            && !names.iter().any(|n| n.starts_with(".tributary-")),
        "{names:?}"
    );
}

#[test]
fn the_catalog_and_metrics_tabs_show_what_the_run_made() {
    let (_dir, path) = lake_example();
    let mut h = app(Some(&path));
    h.get_by_label("▶ Run").click();
    wait_for_run(&mut h);
    // ("Catalog" is also a node's title; the tab is chosen as the View menu does.)
    command(&mut h, AppCommand::ShowTab(tributary::BottomTab::Catalog));
    h.state_mut().reload_catalogs();
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.state().catalogs_pending() {
        assert!(Instant::now() < deadline, "the catalog was not read");
        std::thread::sleep(Duration::from_millis(10));
        h.step();
    }
    h.run_steps(3);
    // The crawled tables and the ETL output, with their schema.
    // Four crawled tables and the ETL's output.
    assert!(h.query_by_label("database default (5 tables)").is_some());
    assert!(
        h.query_by_label_contains("weather_monthly  ·  parquet")
            .is_some()
    );
    h.get_by_label_contains("weather_monthly  ·  parquet")
        .click();
    h.run_steps(3);
    assert!(h.query_by_label("avg_temp_max").is_some());
    assert!(h.query_by_label("year (partition key)").is_none());
    assert!(h.query_by_label("Int64 (partition key)").is_some());
    // Metrics: a streaming run fills the table.
    h.get_by_label("Metrics").click();
    h.run_steps(2);
    assert!(
        h.query_by_label("Run a graph with streaming nodes to see their metrics.")
            .is_some()
    );
}

#[test]
fn dragging_a_palette_entry_onto_the_canvas_adds_the_node_where_it_is_dropped() {
    let mut h = app(None);
    let from = h.get_by_label("+ stream").rect().center();
    let to = egui::pos2(800.0, 400.0);
    let pointer =
        |h: &mut Harness<'static, TributaryApp>, pos: egui::Pos2, pressed: Option<bool>| {
            h.event(egui::Event::PointerMoved(pos));
            if let Some(pressed) = pressed {
                h.event(egui::Event::PointerButton {
                    pos,
                    button: egui::PointerButton::Primary,
                    pressed,
                    modifiers: egui::Modifiers::NONE,
                });
            }
            h.step();
        };
    pointer(&mut h, from, None);
    pointer(&mut h, from, Some(true));
    for i in 1..=10 {
        pointer(&mut h, from + (to - from) * (i as f32 / 10.0), None);
    }
    pointer(&mut h, to, Some(false));
    h.run_steps(2);
    let p = h.state().project();
    assert_eq!(p.nodes.len(), 1, "{p:?}");
    assert_eq!(p.nodes[0].id, "stream_1");
    assert_eq!(h.state().selected(), Some("stream_1"));
    // An empty canvas is not zoomed: the node sits where it was dropped.
    let title = h.get_by_label("stream_1").rect();
    // (the node's corner is at the drop point; its title follows the collapse button
    // and the kind's icon)
    assert!(
        (title.min.y - to.y).abs() < 30.0 && title.min.x > to.x && title.min.x - to.x < 100.0,
        "dropped at {to:?}, the node's title is at {title:?}"
    );
}

#[test]
fn the_environment_picker_switches_where_runs_execute_and_is_saved_and_undoable() {
    let (dir, path) = lake_example();
    let mut h = app(Some(&path));
    assert_eq!(h.state().project().environment, "local");
    // The picker lists `local` and the project's own environments.
    h.get_by_label("Environment").click();
    h.run_steps(2);
    h.get_by_label("cluster").click();
    h.run_steps(2);
    assert_eq!(h.state().project().environment, "cluster");
    assert!(h.state().is_dirty());
    let copy = dir.path().join("copy.json");
    h.state_mut().save_to(&copy);
    let saved = Project::load(&copy).unwrap();
    assert_eq!(saved.environment, "cluster");
    assert_eq!(
        saved.environments["cluster"].scheduler.as_deref(),
        Some("df://localhost:50050")
    );
    // A switch is an edit like any other: undo goes back to `local`.
    command(&mut h, AppCommand::Undo);
    assert_eq!(h.state().project().environment, "local");
    // An EMR job's steps are edited in the inspector: add an ETL step.
    h.get_by_label("+ emr_job").click();
    h.run_steps(3);
    h.state_mut().select(Some("emr_job_1"));
    h.run_steps(3);
    h.get_by_label("+ ETL step").click();
    h.run_steps(3);
    let project = h.state().project();
    let job = project.nodes.iter().find(|n| n.id == "emr_job_1").unwrap();
    let steps = job.config.to_value()["steps"].clone();
    assert_eq!(steps.as_array().unwrap().len(), 2, "{steps}");
    assert_eq!(steps[1]["write"]["table"], "my_output", "{steps}");
}

/// The top of the `n`-th widget labelled `label` (from 0, in the order they are drawn).
fn label_top(h: &Harness<'static, TributaryApp>, label: &str, n: usize) -> f32 {
    h.query_all_by_label(label)
        .nth(n)
        .unwrap_or_else(|| panic!("no label '{label}' number {n}"))
        .rect()
        .top()
}

#[test]
fn every_problem_shows_under_its_setting_in_the_inspector_before_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let project = serde_json::json!({
        "format_version": 1,
        "nodes": [
            {"id": "catalog", "kind": "catalog", "config": {"path": "c.json"}},
            {"id": "job", "kind": "emr_job", "config": {"steps": [
                {"name": "count", "sql": "SELECT 1"},
                {"name": "drop", "sql": "DROP TABLE weather", "on_failure": "continue"},
                {"name": "last", "sql": "SELECT 2"}
            ]}},
            {"id": "gen", "kind": "generator", "config": {}},
            {"id": "s", "kind": "stream", "config": {"retention_hours": -1.0}}
        ],
        "edges": [
            {"from": {"node": "catalog", "port": "catalog"}, "to": {"node": "job", "port": "catalog"}},
            {"from": {"node": "gen", "port": "events"}, "to": {"node": "s", "port": "records"}}
        ]
    });
    let path = dir.path().join("problems.json");
    std::fs::write(&path, project.to_string()).unwrap();
    // A project with problems opens (a work in progress has them); nothing has run.
    let mut h = app(Some(&path));
    assert!(!h.state().is_running());

    // The second step's SQL problem shows under that step's SQL editor, above its
    // failure action, and its heading is marked.
    h.state_mut().select(Some("job"));
    h.run_steps(3);
    let message = "only read-only SQL (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN) is allowed here; found DROP TABLE. Write tables with an ETL node";
    let problem = label_top(&h, message, 0);
    assert!(
        label_top(&h, "SQL", 1) < problem && problem < label_top(&h, "On failure", 1),
        "the problem is not under the second step's SQL"
    );
    assert_eq!(h.query_all_by_label(message).count(), 1);

    // The stream's retention problem shows under "Retention (hours)" only.
    h.state_mut().select(Some("s"));
    h.run_steps(3);
    let problem = label_top(&h, "must not be negative", 0);
    assert!(
        label_top(&h, "Retention (hours)", 0) < problem
            && problem < label_top(&h, "Retention (MB per shard)", 0),
        "the problem is not under the retention setting"
    );
    assert_eq!(h.query_all_by_label("must not be negative").count(), 1);
}

#[test]
fn the_help_list_is_the_command_table() {
    let mut h = app(None);
    command(&mut h, AppCommand::Shortcuts);
    // Every command with a shortcut is listed with it, as the menus show it.
    let ctx = h.ctx.clone();
    for c in AppCommand::WITH_SHORTCUTS {
        let keys = c.shortcut_text(&ctx);
        assert!(
            h.query_all_by_label(&keys).next().is_some(),
            "no '{keys}' for {c:?}"
        );
    }
    assert!(h.query_by_label("Save As").is_some());
    assert!(h.query_by_label("Add a node (searchable)").is_some());
}

#[test]
fn the_aws_realism_toggle_is_on_for_a_new_project_undoable_and_saved() {
    // A new project keeps AWS's limits.
    let h = app(None);
    assert!(h.state().project().aws_realism);
    // The bundled examples are fast demos: off, until the toolbar turns it on.
    let (dir, path) = lake_example();
    let mut h = app(Some(&path));
    assert!(!h.state().project().aws_realism);
    h.get_by_label("⚖ AWS realism").click();
    h.run_steps(2);
    assert!(h.state().project().aws_realism);
    assert!(h.state().is_dirty());
    let copy = dir.path().join("realistic.json");
    h.state_mut().save_to(&copy);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&copy).unwrap()).unwrap();
    assert_eq!(saved["aws_realism"], true);
    // Undo turns it off again.
    command(&mut h, AppCommand::Undo);
    assert!(!h.state().project().aws_realism);
}

#[test]
fn the_cost_tab_prices_each_billed_node_of_the_last_run() {
    let (_dir, path) = lake_example();
    let mut h = app(Some(&path));
    command(&mut h, AppCommand::ShowTab(tributary::BottomTab::Cost));
    assert!(
        h.query_by_label_contains("Run the graph to see what it would cost")
            .is_some()
    );
    h.get_by_label("▶ Run").click();
    wait_for_run(&mut h);
    h.run_steps(3);
    // The crawler, the ETL job and the query, each with its items and the total.
    for label in ["Glue crawler run", "Glue ETL job", "Athena data scanned"] {
        assert!(h.query_by_label(label).is_some(), "no '{label}'");
    }
    // Batch nodes are billed per run, not extrapolated to a month.
    assert!(h.query_all_by_label("per run").count() >= 3);
    assert!(h.query_by_label_contains("This run: $0.").is_some());
    assert!(
        h.query_by_label_contains("us-east-1 prices of 20")
            .is_some()
    );
    // A node's title selects it.
    // (The first is the cost table's link; the canvas draws its title itself.)
    h.query_all_by_label("Weather in 2015 (query)")
        .next()
        .unwrap()
        .click();
    h.run_steps(2);
    assert_eq!(h.state().selected(), Some("rainy_2015"));
}
