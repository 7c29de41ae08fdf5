//! UI benchmark: `cargo bench -p tributary --bench ui`.
//!
//! CPU time per frame (egui layout and tessellation, no GPU) of the real app:
//! 1. a 200-node graph with 4 live charts on the canvas, each chart holding 1,000,000
//!    points per series downsampled by the engine's series sink;
//! 2. scrolling a 1,000,000-row result table, a wheel step every frame;
//! 3. opening a 200-node project: reading, parsing, building the canvas and its first
//!    frame.
//!
//! Reports medians and p95 over many frames: the machines are shared and noisy.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tributary::widgets::chart::ChartView;
use tributary::widgets::results::ResultTable;
use tributary::{AppCommand, TributaryApp};
use tributary_engine::arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use tributary_engine::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use tributary_engine::nodes::series_sink::{ChartData, SeriesSinkConfig};

const SIZE: egui::Vec2 = egui::vec2(1600.0, 1000.0);

/// 50 pipelines of 4 nodes: generator → stream → lambda → table sink (4 of them charts).
fn project_200() -> serde_json::Value {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    let edge = |a: &str, ap: &str, b: &str, bp: &str| serde_json::json!({"from": {"node": a, "port": ap}, "to": {"node": b, "port": bp}});
    for i in 0..50 {
        let y = (i * 140) as f32;
        let (g, s, l, k) = (
            format!("gen_{i}"),
            format!("s_{i}"),
            format!("l_{i}"),
            format!("sink_{i}"),
        );
        nodes.push(serde_json::json!({"id": g, "kind": "generator", "position": {"x": 0.0, "y": y}, "config": {}}));
        nodes.push(serde_json::json!({"id": s, "kind": "stream", "position": {"x": 260.0, "y": y}, "config": {}}));
        nodes.push(serde_json::json!({"id": l, "kind": "lambda", "position": {"x": 520.0, "y": y}, "config": {}}));
        let sink = if i < 4 {
            serde_json::json!({"id": k, "kind": "series_sink", "position": {"x": 780.0, "y": y},
                "config": {"chart": "line", "x": "event_time", "series": "page"}})
        } else {
            serde_json::json!({"id": k, "kind": "table_sink", "position": {"x": 780.0, "y": y}, "config": {}})
        };
        nodes.push(sink);
        edges.push(edge(&g, "events", &s, "records"));
        edges.push(edge(&s, "records", &l, "records"));
        edges.push(edge(&l, "records", &k, "records"));
    }
    serde_json::json!({"format_version": 1, "name": "200 nodes", "nodes": nodes, "edges": edges})
}

/// A chart of 1,000,000 clickstream-like points over 8 series, downsampled as the sink does.
fn million_point_chart(config: &SeriesSinkConfig) -> ChartView {
    let schema = Arc::new(Schema::new(vec![
        Field::new("page", DataType::Utf8, false),
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
    ]));
    let mut data = ChartData::new(config, &schema).unwrap();
    let pages = [
        "/",
        "/search",
        "/product",
        "/cart",
        "/checkout",
        "/account",
        "/help",
        "/blog",
    ];
    for chunk in 0..100 {
        let n = 10_000;
        let page: Vec<&str> = (0..n).map(|i| pages[(i * 7 + chunk) % 8]).collect();
        let t: Vec<i64> = (0..n)
            .map(|i| 1_704_067_200_000 + (chunk * n + i) as i64)
            .collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(page)) as ArrayRef,
                Arc::new(TimestampMillisecondArray::from(t)),
            ],
        )
        .unwrap();
        data.add(&batch).unwrap();
    }
    ChartView::new(config, &[data.to_batch().unwrap()])
}

fn input(t: f64, events: Vec<egui::Event>) -> egui::RawInput {
    egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, SIZE)),
        time: Some(t),
        events,
        ..Default::default()
    }
}

/// Runs `frames` frames, with `events` for each, and returns their CPU times.
fn frames(
    ctx: &egui::Context,
    app: &mut TributaryApp,
    frames: usize,
    mut events: impl FnMut(usize) -> Vec<egui::Event>,
) -> Vec<Duration> {
    let mut out = Vec::with_capacity(frames);
    for i in 0..frames {
        let raw = input(i as f64 / 60.0, events(i));
        let start = Instant::now();
        let output = ctx.run_ui(raw, |ui| app.frame_ui(ui));
        let prims = ctx.tessellate(output.shapes, output.pixels_per_point);
        std::hint::black_box(prims);
        out.push(start.elapsed());
    }
    out
}

fn report(what: &str, mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p50 = ms(times[times.len() / 2]);
    let p95 = ms(times[times.len() * 95 / 100]);
    println!(
        "{what}: {} frames, median {p50:.2} ms, p95 {p95:.2} ms, max {:.2} ms",
        times.len(),
        ms(times[times.len() - 1])
    );
    (p50, p95)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("200.json");
    std::fs::write(&path, serde_json::to_string_pretty(&project_200()).unwrap()).unwrap();
    open_and_charts(&path);
    table_scroll(&path);
}

/// Opening a 200-node project, then frames of it with four live charts.
fn open_and_charts(path: &Path) {
    let path = path.to_path_buf();
    // 3. Opening a 200-node project, median of 20.
    let mut opens = Vec::new();
    for _ in 0..20 {
        let ctx = egui::Context::default();
        let start = Instant::now();
        let mut app = TributaryApp::with_state_dir(&ctx, Some(path.clone()), None);
        let output = ctx.run_ui(input(0.0, Vec::new()), |ui| app.frame_ui(ui));
        std::hint::black_box(ctx.tessellate(output.shapes, output.pixels_per_point));
        opens.push(start.elapsed());
        assert_eq!(app.project().nodes.len(), 200);
    }
    report("open a 200-node project (load, canvas, first frame)", opens);

    // 1. 200 nodes and 4 live charts of 1M points each.
    let ctx = egui::Context::default();
    let mut app = TributaryApp::with_state_dir(&ctx, Some(path.clone()), None);
    frames(&ctx, &mut app, 30, |_| Vec::new());
    let times = frames(&ctx, &mut app, 300, |i| {
        vec![egui::Event::PointerMoved(egui::pos2(
            400.0 + (i % 200) as f32,
            300.0 + (i % 50) as f32,
        ))]
    });
    report("200-node graph without charts (for comparison)", times);
    let config = SeriesSinkConfig {
        chart: tributary_engine::nodes::series_sink::ChartKind::Line,
        x: "event_time".to_owned(),
        series: "page".to_owned(),
        ..Default::default()
    };
    let chart = million_point_chart(&config);
    println!(
        "a chart of 1,000,000 points over 8 series holds {} points after downsampling",
        chart.len()
    );
    for i in 0..4 {
        app.run_view_mut()
            .charts
            .insert(format!("sink_{i}"), chart.clone());
    }
    app.execute(AppCommand::ShowTab(tributary::BottomTab::Charts), &ctx);
    frames(&ctx, &mut app, 30, |_| Vec::new());
    // The pointer moves over the canvas, as a user's does, so every frame is laid out.
    let times = frames(&ctx, &mut app, 600, |i| {
        vec![egui::Event::PointerMoved(egui::pos2(
            400.0 + (i % 200) as f32,
            300.0 + (i % 50) as f32,
        ))]
    });
    report("200-node graph, 4 live charts (canvas + Charts tab)", times);
}

/// Scrolling a 1,000,000-row table.
fn table_scroll(path: &Path) {
    let path = path.to_path_buf();
    // 2. Scrolling a 1,000,000-row table.
    let ctx = egui::Context::default();
    let mut app = TributaryApp::with_state_dir(&ctx, Some(path.clone()), None);
    let n = 1_000_000;
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("user", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, false),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
    ]));
    let batches: Vec<RecordBatch> = (0..n / 8192 + 1)
        .map(|b| {
            let lo = b * 8192;
            let hi = ((b + 1) * 8192).min(n);
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from_iter_values(lo as i64..hi as i64)) as ArrayRef,
                    Arc::new(StringArray::from_iter_values(
                        (lo..hi).map(|i| format!("user-{:05}", i % 5000)),
                    )),
                    Arc::new(Float64Array::from_iter_values(
                        (lo..hi).map(|i| i as f64 * 0.01),
                    )),
                    Arc::new(TimestampMillisecondArray::from_iter_values(
                        (lo..hi).map(|i| 1_704_067_200_000 + i as i64),
                    )),
                ],
            )
            .unwrap()
        })
        .filter(|b| b.num_rows() > 0)
        .collect();
    app.run_view_mut().results.insert(
        "sink_0".to_owned(),
        ResultTable::new(schema, batches, n as u64),
    );
    app.select(Some("sink_0"));
    app.execute(AppCommand::ShowTab(tributary::BottomTab::Results), &ctx);
    let table_at = egui::pos2(600.0, 850.0);
    frames(&ctx, &mut app, 30, |_| {
        vec![egui::Event::PointerMoved(table_at)]
    });
    let times = frames(&ctx, &mut app, 600, |i| {
        // Down for 300 frames (a long fling), then back up.
        let dy = if i < 300 { -400.0 } else { 400.0 };
        vec![
            egui::Event::PointerMoved(table_at),
            egui::Event::MouseWheel {
                unit: egui::MouseWheelUnit::Point,
                delta: egui::vec2(0.0, dy),
                modifiers: egui::Modifiers::NONE,
                phase: egui::TouchPhase::Move,
            },
        ]
    });
    let (_, p95) = report("scrolling a 1,000,000-row table", times);
    println!(
        "table scroll p95 {p95:.2} ms = {:.0} fps at p95",
        1000.0 / p95.max(0.001)
    );
}
