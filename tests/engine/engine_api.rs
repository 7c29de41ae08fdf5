//! The engine API: events, versioned runs, stopping, run-one-node with cached upstream.

use std::time::{Duration, Instant};

use serde_json::json;
use tributary_engine::{Command, Engine, Event, NodeStatus, Project, RunId, RunTarget};

use crate::support::*;

fn project(sql: &str) -> Project {
    Project::from_json(
        &json!({
            "format_version": 1,
            "nodes": [
                {"id": "raw", "kind": "bucket", "config": {"path": "lake"}},
                {"id": "crawl", "kind": "crawler", "config": {}},
                {"id": "cat", "kind": "catalog", "config": {"path": "c.json"}},
                {"id": "q", "kind": "query", "config": {"sql": sql, "display_limit": 3}}
            ],
            "edges": [
                {"from": {"node": "raw", "port": "objects"}, "to": {"node": "crawl", "port": "source"}},
                {"from": {"node": "crawl", "port": "tables"}, "to": {"node": "cat", "port": "crawlers"}},
                {"from": {"node": "cat", "port": "catalog"}, "to": {"node": "q", "port": "catalog"}}
            ]
        })
        .to_string(),
    )
    .unwrap()
}

fn lake() -> tempfile::TempDir {
    let dir = scratch();
    write(
        &dir.path().join("lake/weather/w.csv"),
        std::fs::read(data("seattle-weather.csv")).unwrap(),
    );
    dir
}

fn collect_until_finished(engine: &Engine, run: RunId, timeout: Duration) -> Vec<Event> {
    let deadline = Instant::now() + timeout;
    let mut events = Vec::new();
    while Instant::now() < deadline {
        if let Ok(ev) = engine.events().recv_timeout(Duration::from_millis(50)) {
            let done = matches!(&ev, Event::RunFinished { run: r, .. } if *r == run);
            events.push(ev);
            if done {
                return events;
            }
        }
    }
    panic!("run {run:?} did not finish in {timeout:?}; events: {events:#?}");
}

#[test]
fn a_run_reports_each_node_and_previews_rows() {
    let dir = lake();
    let engine = Engine::spawn().unwrap();
    engine
        .send(Command::Load {
            project: Box::new(project(
                "SELECT weather, COUNT(*) AS days FROM weather GROUP BY weather ORDER BY days DESC",
            )),
            base_dir: dir.path().to_path_buf(),
            revision: 7,
        })
        .unwrap();
    let run = RunId {
        seq: 1,
        revision: 7,
    };
    engine
        .send(Command::Run {
            run,
            target: RunTarget::All,
        })
        .unwrap();
    let events = collect_until_finished(&engine, run, Duration::from_secs(60));
    assert!(matches!(&events[0], Event::Loaded { revision: 7, problems } if problems.is_empty()));
    let started: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::NodeStarted { node, run: r } if *r == run => Some(node.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(started, ["raw", "crawl", "cat", "q"]);
    let preview = events
        .iter()
        .find_map(|e| match e {
            Event::Preview {
                node,
                batches,
                total_rows,
                ..
            } if node == "q" => Some((batches.clone(), *total_rows)),
            _ => None,
        })
        .unwrap();
    // The preview holds display_limit rows; the total is the whole result.
    assert_eq!(preview.1, 5);
    assert_eq!(preview.0.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    let Some(Event::RunFinished {
        status, summary, ..
    }) = events.last()
    else {
        unreachable!()
    };
    assert_eq!(*status, NodeStatus::Ok);
    assert_eq!(summary.iter().find(|s| s.id == "q").unwrap().records_out, 5);
}

#[test]
fn run_one_node_reuses_unchanged_upstream_results() {
    let dir = lake();
    let engine = Engine::spawn().unwrap();
    let load = |sql: &str, revision| {
        engine
            .send(Command::Load {
                project: Box::new(project(sql)),
                base_dir: dir.path().to_path_buf(),
                revision,
            })
            .unwrap();
    };
    load("SELECT COUNT(*) AS n FROM weather", 1);
    let first = RunId {
        seq: 1,
        revision: 1,
    };
    engine
        .send(Command::Run {
            run: first,
            target: RunTarget::All,
        })
        .unwrap();
    collect_until_finished(&engine, first, Duration::from_secs(60));

    // Edit only the query, then run just it: the crawl is not repeated.
    load(
        "SELECT COUNT(*) AS n FROM weather WHERE weather = 'snow'",
        2,
    );
    let second = RunId {
        seq: 2,
        revision: 2,
    };
    engine
        .send(Command::Run {
            run: second,
            target: RunTarget::Node("q".into()),
        })
        .unwrap();
    let events = collect_until_finished(&engine, second, Duration::from_secs(60));
    let Some(Event::RunFinished { summary, .. }) = events.last() else {
        unreachable!()
    };
    let cached: Vec<(&str, bool)> = summary.iter().map(|s| (s.id.as_str(), s.cached)).collect();
    assert_eq!(
        cached,
        [("raw", true), ("crawl", true), ("cat", true), ("q", false)]
    );
    let rows = events.iter().find_map(|e| match e {
        Event::Preview { node, batches, .. } if node == "q" => Some(batches.clone()),
        _ => None,
    });
    let text = tributary_engine::arrow::util::pretty::pretty_format_batches(&rows.unwrap())
        .unwrap()
        .to_string();
    assert!(text.contains("| 23 |"), "{text}");
    // Every event of the second run carries its id, with the revision it ran from.
    assert!(events.iter().all(|e| match e {
        Event::NodeStarted { run, .. }
        | Event::NodeFinished { run, .. }
        | Event::Preview { run, .. } => *run == second,
        _ => true,
    }));
}

#[test]
fn a_long_query_can_be_stopped() {
    let dir = lake();
    let engine = Engine::spawn().unwrap();
    // A three-way cross join of 1,461 rows: about 3 billion rows, far longer than the test.
    engine
        .send(Command::Load {
            project: Box::new(project("SELECT COUNT(*) FROM weather a, weather b, weather c WHERE a.temp_max + b.temp_max > c.temp_max")),
            base_dir: dir.path().to_path_buf(),
            revision: 1,
        })
        .unwrap();
    let run = RunId {
        seq: 1,
        revision: 1,
    };
    engine
        .send(Command::Run {
            run,
            target: RunTarget::All,
        })
        .unwrap();
    // Wait until the query node is running, then stop.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the query never started");
        if let Ok(Event::NodeStarted { node, .. }) =
            engine.events().recv_timeout(Duration::from_millis(50))
            && node == "q"
        {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let stopped_at = Instant::now();
    engine.send(Command::Stop).unwrap();
    let events = collect_until_finished(&engine, run, Duration::from_secs(10));
    assert!(stopped_at.elapsed() < Duration::from_secs(5));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::NodeStopped { node, .. } if node == "q"))
    );
    let Some(Event::RunFinished {
        status, summary, ..
    }) = events.last()
    else {
        unreachable!()
    };
    assert_eq!(*status, NodeStatus::Stopped);
    assert_eq!(
        summary.len(),
        3,
        "the stopped node never finished: {summary:?}"
    );

    // The engine takes new work after a stop.
    engine
        .send(Command::Load {
            project: Box::new(project("SELECT COUNT(*) AS n FROM weather")),
            base_dir: dir.path().to_path_buf(),
            revision: 2,
        })
        .unwrap();
    let next = RunId {
        seq: 2,
        revision: 2,
    };
    engine
        .send(Command::Run {
            run: next,
            target: RunTarget::Node("q".into()),
        })
        .unwrap();
    let events = collect_until_finished(&engine, next, Duration::from_secs(60));
    let Some(Event::RunFinished { status, .. }) = events.last() else {
        unreachable!()
    };
    assert_eq!(*status, NodeStatus::Ok);
}

#[test]
fn a_failing_branch_does_not_stop_the_rest() {
    let dir = lake();
    let project = Project::from_json(
        &json!({
            "format_version": 1,
            "nodes": [
                {"id": "raw", "kind": "bucket", "config": {"path": "lake"}},
                {"id": "crawl", "kind": "crawler", "config": {}},
                {"id": "cat", "kind": "catalog", "config": {"path": "c.json"}},
                {"id": "bad", "kind": "query", "config": {"sql": "SELECT missing_column FROM weather"}},
                {"id": "good", "kind": "query", "config": {"sql": "SELECT COUNT(*) AS n FROM weather"}}
            ],
            "edges": [
                {"from": {"node": "raw", "port": "objects"}, "to": {"node": "crawl", "port": "source"}},
                {"from": {"node": "crawl", "port": "tables"}, "to": {"node": "cat", "port": "crawlers"}},
                {"from": {"node": "cat", "port": "catalog"}, "to": {"node": "bad", "port": "catalog"}},
                {"from": {"node": "cat", "port": "catalog"}, "to": {"node": "good", "port": "catalog"}}
            ]
        })
        .to_string(),
    )
    .unwrap();
    let (status, summary) = tributary_engine::engine::run_project_blocking(
        project,
        dir.path().to_path_buf(),
        RunTarget::All,
        |_| {},
    )
    .unwrap();
    assert_eq!(status, NodeStatus::Error);
    let bad = summary.iter().find(|s| s.id == "bad").unwrap();
    assert_eq!(bad.status, NodeStatus::Error);
    let error = bad.error.as_deref().unwrap();
    assert!(error.starts_with("node 'bad' (query): "), "{error}");
    assert!(error.contains("missing_column"), "{error}");
    let good = summary.iter().find(|s| s.id == "good").unwrap();
    assert_eq!((good.status, good.records_out), (NodeStatus::Ok, 1));
}
