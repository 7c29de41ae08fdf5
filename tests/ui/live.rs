//! Live state that is honest: what a run showed says when an edit or a newer run put it
//! out of date, problems show before any run, rates drop to zero when a run ends, and
//! the Log tells when, how long and how many.

use egui::vec2;
use egui_kittest::kittest::{By, NodeT as _, Queryable as _};
use tributary::AppCommand;

use crate::{app, click_node, command, drag, lake_example, node_rect, wait_for_run};

#[test]
fn an_edit_marks_the_last_runs_results_out_of_date_but_moving_a_node_does_not() {
    let (_dir, path) = lake_example();
    let mut h = app(Some(&path));
    command(&mut h, AppCommand::Run);
    wait_for_run(&mut h);
    click_node(&mut h, "rainy_2015");
    assert!(h.query_by_label("Rows from run 1").is_some());
    assert!(h.query_by_label("4 rows").is_some());
    // A query's scan and Athena bill show beside its rows.
    assert!(
        h.query_by_label_contains("· 4 row(s) in ").is_some()
            && h.query_by_label_contains("Athena would bill 10 MB: $0.000048")
                .is_some(),
        "the Results tab shows the query's bill"
    );
    assert!(h.query_by_label_contains("out of date").is_none());
    // Moving nodes changes nothing a run computes.
    let r = node_rect(&h, "rainy_2015");
    drag(
        &mut h,
        r.center_bottom() - vec2(0.0, 6.0),
        r.center_bottom() + vec2(0.0, 60.0),
    );
    h.run_steps(2);
    assert!(h.query_by_label_contains("out of date").is_none());
    // Deleting the chart changes the graph: the query's badge and rows say so.
    click_node(&mut h, "weather_chart");
    h.key_press(egui::Key::Delete);
    h.run_steps(2);
    click_node(&mut h, "rainy_2015");
    assert!(
        h.query_by_label_contains("the graph changed after run 1")
            .is_some(),
        "the Results tab says why"
    );
    assert!(
        h.query_all_by_label("ok · 4 out · out of date").count() >= 1,
        "the node says so"
    );
    assert!(h.query_by_label("ok · 4 out").is_none());
    // A new run brings them up to date.
    command(&mut h, AppCommand::Run);
    wait_for_run(&mut h);
    assert!(h.query_by_label("Rows from run 2").is_some());
    assert!(h.query_by_label_contains("out of date").is_none());
}

#[test]
fn rows_a_newer_run_did_not_make_again_are_out_of_date_and_errors_are_one_line() {
    let (_dir, path) = lake_example();
    let mut h = app(Some(&path));
    command(&mut h, AppCommand::Run);
    wait_for_run(&mut h);
    // Run 2 runs only the crawler (and what it needs): the query's rows are run 1's.
    click_node(&mut h, "crawler");
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::F5);
    wait_for_run(&mut h);
    click_node(&mut h, "rainy_2015");
    assert!(h.query_by_label("Rows from run 1").is_some());
    assert!(
        h.query_by_label_contains("from run 1; run 2 did not produce it again")
            .is_some()
    );
    // An edit undone makes them current again (for the run that made them).
    h.state_mut()
        .set_setting("rainy_2015", "display_limit", 5)
        .unwrap();
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("the graph changed after run 1")
            .is_some()
    );
    command(&mut h, AppCommand::Undo);
    assert!(h.query_by_label_contains("the graph changed").is_none());
    // A failed node's error is one line on the canvas, all of it in the inspector.
    h.state_mut()
        .set_setting(
            "weather_monthly",
            "sql",
            "SELECT no_such_column FROM weather",
        )
        .unwrap();
    command(&mut h, AppCommand::Run);
    wait_for_run(&mut h);
    let error = h.state().node_error("weather_monthly").unwrap().to_owned();
    assert!(error.chars().count() > 40, "{error}");
    click_node(&mut h, "weather_monthly");
    assert_eq!(
        h.query_all_by_label(&error).count(),
        1,
        "in the inspector only"
    );
    let cut: String = error.chars().take(20).collect();
    assert!(
        h.query_all_by_label_contains(&cut)
            .any(|n| n.accesskit_node().value().is_some_and(|l| l.ends_with('…'))),
        "cut on the node"
    );
}

#[test]
fn a_problem_shows_on_the_node_before_any_run() {
    let mut h = app(None);
    h.get_by_label("+ query").click();
    h.run_steps(3);
    // The node's badge: its first problem, on one line.
    let badge = h
        .query_all_by_label_contains("⚠ input 'catalog' (catalog) is not")
        .filter_map(|n| n.accesskit_node().value())
        .collect::<Vec<_>>();
    assert_eq!(badge.len(), 2, "{badge:?}");
    // On the node, cut to one line.
    assert!(badge.contains(&"⚠ input 'catalog' (catalog) is not co…".to_owned()));
    // The inspector lists the unconnected input in full.
    assert!(badge.contains(&"⚠ input 'catalog' (catalog) is not connected".to_owned()));
}

#[test]
fn rates_drop_to_zero_when_a_run_ends_and_the_log_says_how_it_went() {
    let project = serde_json::json!({
        "format_version": 1,
        "nodes": [
            {"id": "gen", "kind": "generator", "name": "Clicks", "position": {"x": 0.0, "y": 0.0},
             "config": {"event": "clickstream", "rate_per_sec": 8000.0, "count": 16000,
                        "batch_size": 500, "seed": 1}},
            {"id": "s", "kind": "stream", "name": "Click stream", "position": {"x": 260.0, "y": 0.0},
             "config": {"shards": 2}},
            {"id": "t", "kind": "table_sink", "name": "Latest", "position": {"x": 520.0, "y": 0.0},
             "config": {}}
        ],
        "edges": [
            {"from": {"node": "gen", "port": "events"}, "to": {"node": "s", "port": "records"}},
            {"from": {"node": "s", "port": "records"}, "to": {"node": "t", "port": "records"}}
        ]
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stream.json");
    std::fs::write(&path, project.to_string()).unwrap();
    let mut h = app(Some(&path));
    command(&mut h, AppCommand::Run);
    wait_for_run(&mut h);
    // No node claims a live rate after the run, and every node's last sample is zero.
    assert!(h.query_by_label_contains("rec/s").is_none());
    let metrics = &h.state_mut().run_view_mut().metrics;
    assert!(!metrics.nodes.is_empty(), "the run sampled its nodes");
    for (node, samples) in &metrics.nodes {
        let (_, last) = samples.back().unwrap();
        assert_eq!(last.records_out_per_sec, 0.0, "{node}");
        assert_eq!(last.records_in_per_sec, 0.0, "{node}");
    }
    // Metrics lists nodes by their titles.
    command(&mut h, AppCommand::ShowTab(tributary::BottomTab::Metrics));
    assert!(
        h.query_all_by_label("Click stream").count() >= 2,
        "canvas and table"
    );
    // The Log: times, the run's duration and counts, a line per node with its records.
    command(&mut h, AppCommand::ShowTab(tributary::BottomTab::Log));
    let finished = h
        .query_all_by_label_contains("run 1 ok in ")
        .next()
        .expect("the run's line")
        .accesskit_node()
        .value()
        .unwrap_or_default();
    assert!(finished.ends_with(": 3 nodes, 3 ok"), "{finished}");
    assert!(
        h.query_by_label_contains("Clicks (generator): ok · 0 in · 16000 out")
            .is_some()
    );
    let is_time = |t: &str| {
        let b = t.as_bytes();
        t.len() == 8
            && b[2] == b':'
            && b[5] == b':'
            && t.replace(':', "").bytes().all(|c| c.is_ascii_digit())
    };
    let times = h
        .query_all(By::new().predicate(move |n| n.value().is_some_and(|l| is_time(&l))))
        .count();
    assert!(times >= 5, "each line has its time: {times}");
}

#[test]
fn a_number_out_of_range_is_kept_as_typed_and_explained_under_its_field() {
    let mut h = app(None);
    h.get_by_label("+ stream").click();
    h.run_steps(3);
    let before = h.state().project().nodes[0].config.clone();
    // The first number of the stream's form is its shard count.
    let shards = h
        .get_all_by_role(egui::accesskit::Role::SpinButton)
        .next()
        .unwrap();
    shards.focus();
    h.run_steps(2);
    h.get_all_by_role(egui::accesskit::Role::SpinButton)
        .next()
        .unwrap()
        .type_text("-5");
    h.key_press(egui::Key::Enter);
    h.run_steps(3);
    // Not clamped to 0 and not applied: the reason is under the field.
    assert!(
        h.query_by_label_contains("-5 is not allowed: must be a whole number, 0 or more")
            .is_some()
    );
    assert!(h.query_by_label_contains("Not applied").is_some());
    assert_eq!(h.state().project().nodes[0].config, before);
}

#[test]
fn the_dashboard_is_arranged_by_the_user_and_saved_with_the_project() {
    let project = serde_json::json!({
        "format_version": 1,
        "nodes": [
            {"id": "gen", "kind": "generator", "name": "Clicks", "position": {"x": 0.0, "y": 0.0},
             "config": {"event": "clickstream", "rate_per_sec": 0.0, "count": 3000, "seed": 1}},
            {"id": "s", "kind": "stream", "name": "Stream", "position": {"x": 260.0, "y": 0.0},
             "config": {"shards": 1}},
            {"id": "a_rate", "kind": "series_sink", "name": "Rate", "position": {"x": 520.0, "y": 0.0},
             "config": {"chart": "line", "x": "event_time"}},
            {"id": "b_total", "kind": "series_sink", "name": "Total", "position": {"x": 520.0, "y": 200.0},
             "config": {"chart": "kpi", "x": "event_time"}}
        ],
        "edges": [
            {"from": {"node": "gen", "port": "events"}, "to": {"node": "s", "port": "records"}},
            {"from": {"node": "s", "port": "records"}, "to": {"node": "a_rate", "port": "records"}},
            {"from": {"node": "s", "port": "records"}, "to": {"node": "b_total", "port": "records"}}
        ]
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dash.json");
    std::fs::write(&path, project.to_string()).unwrap();
    let mut h = app(Some(&path));
    command(&mut h, AppCommand::Run);
    wait_for_run(&mut h);
    command(&mut h, AppCommand::ShowTab(tributary::BottomTab::Charts));
    h.run_steps(2);
    let order = |h: &crate::H| -> Vec<String> {
        // The dashboard's titles, below the canvas.
        let below = h.state().canvas_rect().bottom();
        let mut titles: Vec<(f32, String)> = ["Rate", "Total"]
            .iter()
            .filter_map(|t| {
                let n = h.query_all_by_label(t).find(|n| n.rect().min.y > below)?;
                Some((n.rect().min.x, t.to_string()))
            })
            .collect();
        titles.sort_by(|a, b| a.0.total_cmp(&b.0));
        titles.into_iter().map(|(_, t)| t).collect()
    };
    // Two columns by default, by id: Rate then Total.
    assert_eq!(order(&h), ["Rate", "Total"]);
    // Move the first later: Total then Rate, saved in the project.
    h.get_all_by_label("▶").next().unwrap().click();
    h.run_steps(3);
    assert_eq!(order(&h), ["Total", "Rate"]);
    assert_eq!(h.state().project().dashboard.order, ["b_total", "a_rate"]);
    // Hide one; it is listed to bring back.
    h.get_all_by_label("🗙").next().unwrap().click();
    h.run_steps(3);
    assert_eq!(h.state().project().dashboard.hidden, ["b_total"]);
    assert!(h.query_by_label("Total ↩").is_some());
    command(&mut h, AppCommand::Save);
    h.run_steps(2);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        saved["dashboard"],
        serde_json::json!({"order": ["b_total", "a_rate"], "hidden": ["b_total"]})
    );
    // One undo step each.
    command(&mut h, AppCommand::Undo);
    h.run_steps(2);
    assert!(h.state().project().dashboard.hidden.is_empty());
}

/// A function logs four lines per invocation: the log keeps the newest lines and says
/// how many older ones it dropped, so a long run cannot grow it without end.
#[test]
fn the_log_keeps_the_newest_lines_and_counts_the_dropped_ones() {
    use tributary::state::run_view::{MAX_LOG_LINES, RunView};
    use tributary_engine::api::LogLevel;
    let mut view = RunView::default();
    let total = MAX_LOG_LINES * 2 + 123;
    for i in 0..total {
        view.log(LogLevel::Info, Some("fn".to_owned()), format!("line {i}"));
    }
    assert!(view.log.len() <= MAX_LOG_LINES);
    assert_eq!(view.log.last().unwrap().text, format!("line {}", total - 1));
    let note = &view.log[0].text;
    let dropped: usize = note
        .strip_prefix("… ")
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{note}"));
    // Every line is either kept or counted as dropped.
    assert_eq!(dropped + view.log.len() - 1, total, "{note}");
    assert_eq!(view.log[1].text, format!("line {dropped}"));
}

/// Steps the UI until `done` holds (or fails after `secs`).
fn step_until(h: &mut crate::H, secs: u64, what: &str, mut done: impl FnMut(&crate::H) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !done(h) {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
        h.step();
    }
}

#[test]
fn serve_lets_boto3_put_records_into_a_running_stream_and_the_designer_shows_them() {
    let dir = tempfile::tempdir().unwrap();
    let project = serde_json::json!({
        "format_version": 2,
        "nodes": [
            {"id": "clicks", "kind": "stream", "position": {"x": 0.0, "y": 0.0},
             "config": {"shards": 2, "columns": ["user Utf8 NOT NULL", "amount Float64"]}},
            {"id": "latest", "kind": "table_sink", "position": {"x": 300.0, "y": 0.0},
             "config": {"rows": 1000}}
        ],
        "edges": [{"from": {"node": "clicks", "port": "records"}, "to": {"node": "latest", "port": "records"}}]
    });
    let path = dir.path().join("served.json");
    std::fs::write(&path, project.to_string()).unwrap();
    let mut h = app(Some(&path));
    h.state_mut().set_serve_address("127.0.0.1:0");
    h.get_by_label("📡 Serve AWS APIs").click();
    step_until(&mut h, 10, "the endpoint started", |h| {
        h.state().serving_address().is_some()
    });
    let address = h.state().serving_address().unwrap().to_owned();
    // The toolbar shows where clients point.
    assert!(h.query_by_label(&format!("http://{address}")).is_some());
    h.get_by_label("▶ Run").click();
    h.run_steps(3);
    // boto3 puts 60 records (retrying until the run serves the stream).
    let python = std::env::var_os("TRIBUTARY_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/tools/python/bin/python")
        });
    let script = r#"
import json, os, sys, time, boto3
k = boto3.client("kinesis", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test")
for _ in range(400):
    try:
        s = k.describe_stream_summary(StreamName="clicks")["StreamDescriptionSummary"]
        if s["StreamStatus"] == "ACTIVE":
            break
    except k.exceptions.ResourceNotFoundException:
        pass
    time.sleep(0.05)
r = k.put_records(StreamName="clicks", Records=[
    {"Data": json.dumps({"user": "u%d" % i, "amount": i}).encode(), "PartitionKey": "u%d" % i}
    for i in range(60)])
print(r["FailedRecordCount"])
"#;
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .env("ENDPOINT", format!("http://{address}"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    step_until(&mut h, 30, "the client finished", |_| {
        child.try_wait().unwrap().is_some()
    });
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    // The run goes on while served; the live table shows every record as it arrives.
    step_until(&mut h, 10, "the live table shows the 60 records", |h| {
        h.state().result_rows("latest") == Some(60)
    });
    assert!(h.state().is_running(), "a served run runs until Stop");
    // The Metrics tab counts the API requests of the stream node.
    h.get_by_label("Metrics").click();
    step_until(&mut h, 5, "the metrics show the API column", |h| {
        h.query_by_label("API req/s").is_some()
    });
    command(&mut h, AppCommand::Stop);
    crate::wait_for_run(&mut h);
    assert_eq!(h.state().result_rows("latest"), Some(60));
    // Serving off: the address goes away.
    h.get_by_label("📡 Serve AWS APIs").click();
    step_until(&mut h, 10, "serving stopped", |h| {
        h.state().serving_address().is_none()
    });
    h.run_steps(2);
    assert!(h.query_by_label(&format!("http://{address}")).is_none());
}

#[test]
fn the_metrics_tab_shows_throttled_records_the_hot_shard_and_expired_records() {
    use tributary_engine::api::stats::MetricsSample;
    let mut h = app(None);
    {
        let metrics = &mut h.state_mut().run_view_mut().metrics;
        metrics.add(
            "clicks",
            MetricsSample {
                records_out_per_sec: 4000.0,
                throttled: 1234,
                throttled_per_sec: 500.0,
                hot_shard: Some(2),
                ..Default::default()
            },
        );
        metrics.add(
            "slow",
            MetricsSample {
                records_in_per_sec: 200.0,
                lag_ms: 2500,
                expired: 7,
                ..Default::default()
            },
        );
    }
    command(&mut h, AppCommand::ShowTab(tributary::BottomTab::Metrics));
    for label in [
        "throttled",
        "expired",
        "1234 (500/s, hot shard 2)",
        "7",
        "2500",
    ] {
        assert!(h.query_by_label(label).is_some(), "no '{label}'");
    }
    // A node nothing throttled shows a dash, not a zero.
    assert!(h.query_by_label("–").is_some());
}

#[test]
fn a_nodes_faults_show_in_its_inspector_and_on_the_canvas_and_clear_undoably() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faulty.json");
    let project = serde_json::json!({
        "format_version": 2,
        "nodes": [
            {"id": "s", "kind": "stream", "config": {"shards": 1}},
            {"id": "f", "kind": "lambda", "config": {"runtime": "rhai", "script": "record"},
             "faults": {"poison_fraction": 0.1, "crash_after_records": 50}}
        ],
        "edges": [{"from": {"node": "s", "port": "records"}, "to": {"node": "f", "port": "records"}}]
    });
    std::fs::write(&path, project.to_string()).unwrap();
    let mut h = crate::app(Some(&path));
    // The canvas marks the faulty node (⚡ after its title).
    let marks = |h: &crate::H| h.query_all_by_label("⚡").count();
    let marked = marks(&h);
    assert!(marked >= 1);
    h.state_mut().select(Some("f"));
    h.run_steps(3);
    assert!(h.query_by_label("⚡ Faults (2 set)").is_some());
    assert!(
        h.query_by_label("poison 10% of records, a worker crash after 50 records")
            .is_some()
    );
    assert!(h.query_by_label("Worker crash after (records)").is_some());
    // A stream has only the faults that apply to it.
    h.state_mut().select(Some("s"));
    h.run_steps(3);
    assert!(h.query_by_label("⚡ Faults").is_some());
    assert!(h.query_by_label("Worker crash after (records)").is_none());
    assert!(
        h.query_by_label("Throttling burst of (s)").is_none(),
        "closed while none is set"
    );
    // Cleared from the inspector, and back with Undo.
    h.state_mut().select(Some("f"));
    h.run_steps(3);
    h.get_by_label("Clear faults").scroll_to_me();
    h.run_steps(3);
    h.get_by_label("Clear faults").click();
    h.run_steps(3);
    let faults = |h: &crate::H| {
        h.state()
            .project()
            .nodes
            .iter()
            .find(|n| n.id == "f")
            .unwrap()
            .faults
            .clone()
    };
    assert!(faults(&h).is_none());
    assert!(h.state().is_dirty());
    assert_eq!(marks(&h), marked - 1, "the mark goes with the faults");
    command(&mut h, AppCommand::Undo);
    h.run_steps(3);
    assert_eq!(faults(&h).crash_after_records, 50);
}

#[test]
fn a_simulated_clock_is_chosen_in_the_toolbar_saved_and_the_time_a_run_reached_shown() {
    use tributary_engine::api::ClockMode;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("minute.json");
    // A minute of clicks at 1,000 a second: a minute of simulated time.
    let project = serde_json::json!({
        "format_version": 2,
        "name": "A simulated minute",
        "nodes": [
            {"id": "gen", "kind": "generator", "config": {
                "rate_per_sec": 1000.0, "count": 60000, "start_time": "2024-01-01T00:00:00Z"}},
            {"id": "clicks", "kind": "stream", "config": {"shards": 1}},
            {"id": "live", "kind": "table_sink", "config": {"rows": 10}}
        ],
        "edges": [
            {"from": {"node": "gen", "port": "events"}, "to": {"node": "clicks", "port": "records"}},
            {"from": {"node": "clicks", "port": "records"}, "to": {"node": "live", "port": "records"}}
        ]
    });
    std::fs::write(&path, project.to_string()).unwrap();
    let mut h = app(Some(&path));
    assert_eq!(h.state().project().clock, ClockMode::Wall);
    h.get_by_label("Clock").click();
    h.run_steps(2);
    h.get_by_label("simulated, as fast as possible").click();
    h.run_steps(2);
    assert_eq!(h.state().project().clock, ClockMode::Simulated);
    assert!(h.state().is_dirty());
    // At 1,000 events a second on the wall clock this would take a minute.
    let started = std::time::Instant::now();
    command(&mut h, AppCommand::Run);
    wait_for_run(&mut h);
    h.run_steps(3);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert!(
        h.query_by_label("⏱ 2024-01-01T00:01:00Z").is_some(),
        "the toolbar shows the simulated time the run reached"
    );
    let copy = dir.path().join("saved.json");
    h.state_mut().save_to(&copy);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&copy).unwrap()).unwrap();
    assert_eq!(saved["clock"], "simulated");
    assert!(
        saved.get("clock_speed").is_none(),
        "0 (as fast as possible) is the default"
    );
    // A choice at a speed; undo goes back.
    h.get_by_label("Clock").click();
    h.run_steps(2);
    h.get_by_label("simulated ×60").click();
    h.run_steps(2);
    assert_eq!(h.state().project().clock_speed, 60.0);
    command(&mut h, AppCommand::Undo);
    assert_eq!(h.state().project().clock_speed, 0.0);
    assert_eq!(h.state().project().clock, ClockMode::Simulated);
}

/// The text (label or value) of the first widget whose text contains `text`.
fn find_text(
    h: &egui_kittest::Harness<'static, tributary::TributaryApp>,
    text: &str,
) -> Option<String> {
    h.query_all_by(|n| {
        n.label().is_some_and(|l| l.contains(text)) || n.value().is_some_and(|v| v.contains(text))
    })
    .next()
    .map(|n| {
        let n = n.accesskit_node();
        n.value().or(n.label()).unwrap_or_default()
    })
}

/// Steps `h` until a widget's text (its label or value) contains `text`, or fails;
/// returns that text.
fn wait_for_text(
    h: &mut egui_kittest::Harness<'static, tributary::TributaryApp>,
    text: &str,
) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(found) = find_text(h, text) {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "'{text}' never showed"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
        h.step();
    }
}

/// Steps `h` until `label` shows (a report worked out on a thread), or fails.
fn wait_for_label(h: &mut egui_kittest::Harness<'static, tributary::TributaryApp>, label: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while h.query_by_label_contains(label).is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "'{label}' never showed"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
        h.step();
    }
    h.run_steps(2);
}

#[test]
fn schema_drift_a_crawl_proposes_is_shown_on_the_canvas_before_it_is_accepted() {
    let (dir, path) = lake_example();
    // The crawler only logs schema changes: a changed schema is proposed, not applied.
    let mut project: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for n in project["nodes"].as_array_mut().unwrap() {
        if n["id"] == "crawler" {
            n["config"]["schema_change_policy"] = "log".into();
        }
    }
    std::fs::write(&path, project.to_string()).unwrap();
    let mut h = app(Some(&path));
    command(&mut h, AppCommand::Run);
    wait_for_run(&mut h);
    h.run_steps(5);
    assert!(h.query_by_label_contains("Schema drift").is_none());
    // The next export of the weather data drops precipitation.
    let csv = dir.path().join("lake/raw/weather/seattle-weather.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut changed = String::from("date,temp_max,temp_min,wind,weather\n");
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        changed.push_str(&format!("{},{},{},{},{}\n", f[0], f[2], f[3], f[4], f[5]));
    }
    std::fs::write(&csv, changed).unwrap();
    command(&mut h, AppCommand::Run);
    wait_for_run(&mut h);
    wait_for_label(&mut h, "a crawl proposes version 2 of default.weather");
    assert!(
        h.query_by_label_contains("precipitation").is_some(),
        "the banner says what changed"
    );
    assert!(h.query_by_label_contains("Accepting it breaks").is_some());
    // The ETL job reads precipitation: marked on its node.
    assert!(
        h.query_by_label_contains("drift breaks it").is_some(),
        "the canvas marks the node that breaks"
    );
    // Accept: the catalog's table is at version 2 now, made by the designer.
    h.get_by_label("Accept version 2").click();
    wait_for_label(&mut h, "default.weather is at version 2");
    let catalog: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("lake.catalog.json")).unwrap(),
    )
    .unwrap();
    let weather = &catalog["databases"]["default"]["tables"]["weather"];
    assert_eq!(weather["version"], 2, "{weather}");
    assert_eq!(weather["versions"][1]["created_by"], "designer");
    assert!(weather.get("proposed").is_none());
    // Dismiss: the banner and the marks go.
    h.get_by_label("Dismiss").click();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while h.query_by_label_contains("Schema drift").is_some() {
        assert!(std::time::Instant::now() < deadline, "the banner stayed");
        std::thread::sleep(std::time::Duration::from_millis(10));
        h.step();
    }
    assert!(h.query_by_label_contains("drift breaks it").is_none());
}

#[test]
fn replay_from_a_stream_node_runs_downstream_again_and_the_diff_tab_compares_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("replay.json");
    // A simulated minute of clicks into a durable stream, counted per page in 10-second
    // windows.
    let project = serde_json::json!({
        "format_version": 2,
        "name": "Replay",
        "clock": "simulated",
        "nodes": [
            {"id": "gen", "kind": "generator", "config": {
                "rate_per_sec": 1000.0, "count": 60000, "late_fraction": 0.0,
                "start_time": "2024-01-01T00:00:00Z"}},
            {"id": "clicks", "kind": "stream", "config": {"shards": 1, "durable": true}},
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
    std::fs::write(&path, project.to_string()).unwrap();
    let mut h = app(Some(&path));
    command(&mut h, AppCommand::Run);
    wait_for_run(&mut h);
    // Replay from here, asked as the stream node's menu does.
    h.state_mut().ask_replay("clicks");
    h.run_steps(2);
    assert!(h.query_by_label_contains("Replay from 'clicks'").is_some());
    h.get_by_label("From").focus();
    h.run_steps(1);
    h.get_by_label("From").type_text("yesterday");
    h.run_steps(1);
    h.get_by_label("Replay").click();
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("is not a point in a stream")
            .is_some(),
        "a point that cannot be read says so in the dialog"
    );
    h.get_by_label("Cancel").click();
    h.run_steps(2);
    // From a moment of the timeline under the canvas: the dialog opens at it.
    h.state_mut().show_moment(Some(1_704_067_230_000));
    h.run_steps(3);
    h.get_by_label("Replay from here…").click();
    h.run_steps(3);
    assert!(
        find_text(&h, "2024-01-01T00:00:30.000Z").is_some(),
        "the dialog's From is the moment"
    );
    h.state_mut().replay_now();
    wait_for_run(&mut h);
    let log: Vec<String> = h
        .state_mut()
        .run_view_mut()
        .log
        .iter()
        .map(|l| format!("{l:?}"))
        .collect();
    assert!(
        h.query_by_label_contains("Replay from 'clicks'").is_none(),
        "the dialog closed: {log:#?}"
    );
    // The Diff tab compares the replay with the run it replayed: the windows before
    // 00:00:30 were not replayed.
    h.state_mut().select(Some("live"));
    h.run_steps(2);
    let after = wait_for_text(&mut h, "replay from clicks at 2024-01-01T00:00:30Z");
    assert!(after.contains("(latest)"), "{after}");
    h.run_steps(2);
    h.get_by_label("Compare").click();
    h.run_steps(2);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while h.state().diff_shown().is_none() {
        assert!(std::time::Instant::now() < deadline, "no comparison shown");
        std::thread::sleep(std::time::Duration::from_millis(20));
        h.run_steps(1);
    }
    let shown = h.state().diff_shown().unwrap_or_default();
    assert!(shown.contains("Ok(Diff"), "{shown}");
    let line = wait_for_text(&mut h, "removed ·");
    // Three windows of pages (00:00, 00:10, 00:20) are not in the replay.
    assert!(line.starts_with("0 added · "), "{line}");
    let removed: usize = line
        .split(" · ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_default();
    assert!((3 * 3..=3 * 20).contains(&removed), "{line}");
}

#[test]
fn the_timeline_under_the_canvas_shows_every_node_as_it_was_at_a_moment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("timeline.json");
    // Forty simulated seconds of clicks at 1,000 a second into a live table of 20 rows.
    let project = serde_json::json!({
        "format_version": 2,
        "name": "Timeline",
        "clock": "simulated",
        "nodes": [
            {"id": "gen", "kind": "generator", "config": {
                "rate_per_sec": 1000.0, "count": 40000, "late_fraction": 0.0,
                "start_time": "2024-01-01T00:00:00Z"}},
            {"id": "clicks", "kind": "stream", "config": {"shards": 1}},
            {"id": "live", "kind": "table_sink", "config": {"rows": 20}}
        ],
        "edges": [
            {"from": {"node": "gen", "port": "events"}, "to": {"node": "clicks", "port": "records"}},
            {"from": {"node": "clicks", "port": "records"}, "to": {"node": "live", "port": "records"}}
        ]
    });
    std::fs::write(&path, project.to_string()).unwrap();
    let mut h = app(Some(&path));
    command(&mut h, AppCommand::Run);
    wait_for_run(&mut h);
    let end = wait_for_text(&mut h, "the run as it ended");
    assert!(end.contains("2024-01-01T00:00:40Z"), "{end}");
    h.state_mut().select(Some("live"));
    command(&mut h, AppCommand::ShowTab(tributary::BottomTab::Results));
    // 00:00:25: every node as it was then, the live table's 20 newest rows of 25,000.
    h.state_mut().show_moment(Some(1_704_067_225_000));
    h.run_steps(3);
    wait_for_text(&mut h, "⏪ 2024-01-01T00:00:25Z");
    wait_for_text(&mut h, "⏪ 25000 out");
    wait_for_text(&mut h, "⏪ 25000 in · 25000 out");
    wait_for_text(&mut h, "showing 20 of 25000 rows");
    // The first of its 20 rows then (the table shows the first rows of the bottom
    // panel's height).
    assert!(
        h.query_by_label("24980").is_some(),
        "the 20 newest rows then"
    );
    assert!(h.query_by_label("39980").is_none(), "nothing from later");
    // The stream: its shard's tip then; the generator: the newest records it had sent.
    h.state_mut().select(Some("clicks"));
    h.run_steps(3);
    wait_for_text(&mut h, "records_by_then");
    assert!(
        h.query_by_label("25000").is_some(),
        "shard 0 held 25,000 records"
    );
    h.state_mut().select(Some("gen"));
    h.run_steps(3);
    wait_for_text(&mut h, "showing 50 of 25000 rows");
    h.state_mut().select(Some("live"));
    // Back to the run as it ended.
    h.get_by_label("⏭ End").click();
    h.run_steps(3);
    wait_for_text(&mut h, "showing 20 of 40000 rows");
    assert!(h.query_by_label("39980").is_some());
    assert_eq!(find_text(&h, "⏪ 25000"), None, "no node shows the past");
}
