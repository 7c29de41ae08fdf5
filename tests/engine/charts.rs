//! Charts people can read: a rate line over fixed, round time buckets whose level never
//! drifts and whose counts add up; top-N series with the rest summed into `other`; a bar
//! chart of the latest window only.

use serde_json::{Value, json};
use tributary_engine::arrow::array::{Array, AsArray as _, RecordBatch};
use tributary_engine::arrow::datatypes::{Float64Type, Int64Type, TimestampMillisecondType};
use tributary_engine::nodes::series_sink::{META_BUCKET_WIDTH, META_LATEST, META_RATE, OTHER};

use crate::streaming::{edge, node};

/// Runs `project` in-process; the last chart preview of each series sink.
fn last_previews(project: Value) -> std::collections::BTreeMap<String, RecordBatch> {
    let dir = tempfile::tempdir().unwrap();
    let (last, errors) = crate::support::previews_in(dir.path(), project);
    assert!(errors.is_empty(), "{errors:?}");
    last
}

/// A clickstream at a constant 250 events per second of event time (one every 4 ms).
fn clicks(count: u64) -> Value {
    node(
        "gen",
        "generator",
        json!({"event": "clickstream", "rate_per_sec": 0.0, "count": count, "keys": 50,
               "batch_size": 1000, "seed": 3, "clock": "synthetic", "time_step_ms": 4.0,
               "start_time": "2024-01-01T00:00:00.123Z"}),
    )
}

#[test]
fn a_constant_rate_is_a_flat_rate_line_over_round_buckets_that_add_up() {
    let n = 200_000; // 800 s of event time
    let project = json!({
        "format_version": 1,
        "nodes": [
            clicks(n),
            node("s", "stream", json!({"shards": 2})),
            node("rate", "series_sink", json!({"chart": "line", "x": "event_time", "y": "", "max_points": 100})),
        ],
        "edges": [edge("gen", "events", "s", "records"), edge("s", "records", "rate", "records")]
    });
    let charts = last_previews(project);
    let b = &charts["rate"];
    let meta = b.schema().metadata().clone();
    assert_eq!(meta.get(META_RATE).map(String::as_str), Some("per_second"));
    // 800 s in at most 100 buckets: 10 s buckets, a round width from the ladder.
    let width: f64 = meta[META_BUCKET_WIDTH].parse().unwrap();
    assert_eq!(width, 10_000.0);
    let x = b
        .column_by_name("x")
        .unwrap()
        .as_primitive::<TimestampMillisecondType>();
    let y = b.column_by_name("y").unwrap().as_primitive::<Float64Type>();
    let count = b
        .column_by_name("count")
        .unwrap()
        .as_primitive::<Int64Type>();
    let partial = b.column_by_name("partial").unwrap().as_boolean();
    // Every bucket starts on the grid; the counts add up to every record.
    for i in 0..x.len() {
        assert_eq!(x.value(i) as f64 % width, 0.0);
    }
    let total: i64 = (0..count.len()).map(|i| count.value(i)).sum();
    assert_eq!(total, n as i64);
    // Complete buckets: 250 per second, within 5 %; the first and last are partial.
    let complete: Vec<f64> = (0..y.len())
        .filter(|i| !partial.value(*i))
        .map(|i| y.value(i))
        .collect();
    assert!(complete.len() >= 75, "{}", complete.len());
    for v in &complete {
        assert!((v - 250.0).abs() / 250.0 < 0.05, "{v} records/s");
    }
    assert!(partial.value(0) && partial.value(partial.len() - 1));
}

#[test]
fn top_n_keeps_the_largest_series_apart_and_sums_the_rest_into_other() {
    let n = 40_000;
    let project = json!({
        "format_version": 1,
        "nodes": [
            clicks(n),
            node("s", "stream", json!({"shards": 1})),
            node("all", "series_sink", json!({"chart": "line", "x": "event_time", "series": "page", "max_points": 50})),
            node("top", "series_sink", json!({"chart": "line", "x": "event_time", "series": "page", "max_points": 50, "top_n": 3})),
        ],
        "edges": [
            edge("gen", "events", "s", "records"),
            edge("s", "records", "all", "records"),
            edge("s", "records", "top", "records")
        ]
    });
    let charts = last_previews(project);
    let per_series = |b: &RecordBatch| {
        let s = b.column_by_name("series").unwrap().as_string::<i32>();
        let c = b
            .column_by_name("count")
            .unwrap()
            .as_primitive::<Int64Type>();
        let mut m = std::collections::BTreeMap::<String, i64>::new();
        for i in 0..s.len() {
            *m.entry(s.value(i).to_owned()).or_default() += c.value(i);
        }
        m
    };
    let all = per_series(&charts["all"]);
    let top = per_series(&charts["top"]);
    assert!(all.len() > 4, "{all:?}");
    assert_eq!(top.len(), 4, "three series and other: {top:?}");
    let mut ranked: Vec<(&String, &i64)> = all.iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (name, c) in &ranked[..3] {
        assert_eq!(top.get(*name), Some(*c), "{name} is kept apart");
    }
    let rest: i64 = ranked[3..].iter().map(|(_, c)| **c).sum();
    assert_eq!(top[OTHER], rest);
    assert_eq!(top.values().sum::<i64>(), n as i64);
}

#[test]
fn a_bar_chart_of_window_results_can_show_the_latest_window() {
    let project = json!({
        "format_version": 1,
        "nodes": [
            clicks(30_000),
            node("s", "stream", json!({"shards": 1})),
            node("w", "analytics", json!({"time_column": "event_time", "window": "tumbling",
                "size_ms": 10000, "max_out_of_orderness_ms": 0,
                "sql": "SELECT page, COUNT(*) AS views FROM input GROUP BY page"})),
            node("latest", "series_sink", json!({"chart": "bar", "x": "page", "y": "views", "latest_by": "window_start"})),
            node("total", "series_sink", json!({"chart": "bar", "x": "page", "y": "views"})),
            node("t", "table_sink", json!({"rows": 10000})),
        ],
        "edges": [
            edge("gen", "events", "s", "records"),
            edge("s", "records", "w", "records"),
            edge("w", "results", "latest", "records"),
            edge("w", "results", "total", "records"),
            edge("w", "results", "t", "records")
        ]
    });
    let charts = last_previews(project);
    let bars = |b: &RecordBatch| {
        let x = b.column_by_name("x").unwrap().as_string::<i32>();
        let y = b.column_by_name("y").unwrap().as_primitive::<Float64Type>();
        (0..x.len())
            .map(|i| (x.value(i).to_owned(), y.value(i)))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let latest = bars(&charts["latest"]);
    let total = bars(&charts["total"]);
    // The windows' rows: the latest window's views per page are what the chart shows.
    let rows = &charts["t"];
    let start = rows
        .column_by_name("window_start")
        .unwrap()
        .as_primitive::<TimestampMillisecondType>();
    let last_start = (0..start.len()).map(|i| start.value(i)).max().unwrap();
    let page = rows.column_by_name("page").unwrap().as_string::<i32>();
    let views = rows
        .column_by_name("views")
        .unwrap()
        .as_primitive::<Int64Type>();
    let expected: std::collections::BTreeMap<String, f64> = (0..page.len())
        .filter(|i| start.value(*i) == last_start)
        .map(|i| (page.value(i).to_owned(), views.value(i) as f64))
        .collect();
    assert_eq!(latest, expected);
    assert!(total.values().sum::<f64>() > latest.values().sum::<f64>() * 2.0);
    let shown = charts["latest"].schema().metadata()[META_LATEST].clone();
    let t = chrono::DateTime::from_timestamp_millis(last_start).unwrap();
    assert!(shown.contains(&t.format("%H:%M:%S").to_string()), "{shown}");
}
