//! Live charts of series-sink nodes, drawn with egui_plot.
//!
//! The engine already downsampled the data (see the engine's `series_sink`): a line is
//! buckets of one fixed, round width, so a chart holds at most a few thousand points per
//! series however many records went by; it is turned into plot points once per preview,
//! not once per frame. Each chart says what it plots (a rate and its bucket width, an
//! aggregate over all records or over the latest window) above the plot, with a legend
//! outside the plot whose entries hide and show their series.

use std::collections::BTreeSet;

use egui::Ui;
use egui_plot::{Bar, BarChart, FilledArea, GridInput, GridMark, Line, Plot, Points, Text};
use tributary_engine::arrow::array::{Array, AsArray as _, Float64Array, RecordBatch};
use tributary_engine::arrow::compute::cast;
use tributary_engine::arrow::datatypes::{DataType, TimeUnit};
pub use tributary_engine::nodes::series_sink::ChartKind;
use tributary_engine::nodes::series_sink::{
    META_BUCKET_WIDTH, META_LATEST, META_OTHER_SERIES, META_RATE, SeriesSinkConfig,
};

use crate::widgets::metrics_view::human_rate;

/// One series, ready to draw.
#[derive(Clone, Debug, Default)]
pub struct ChartSeries {
    /// The series' name (empty for a single series).
    pub name: String,
    /// (x, y) points in x order.
    pub points: Vec<[f64; 2]>,
    /// Bucket minimum and maximum of y, per point.
    pub band: Vec<(f64, f64)>,
    /// Records in each point's bucket.
    pub counts: Vec<u64>,
    /// Whether each point's bucket is only partly covered (the last one while data
    /// still arrives): drawn apart, not joined to the line.
    pub partial: Vec<bool>,
}

impl ChartSeries {
    /// At most about `max` points: consecutive points are grouped and each group keeps
    /// its lowest and highest point (in x order), so peaks survive.
    pub fn decimated(&self, max: usize) -> ChartSeries {
        let n = self.points.len();
        if n <= max || max < 4 {
            return self.clone();
        }
        let group = n.div_ceil(max / 2);
        let mut out = ChartSeries {
            name: self.name.clone(),
            ..Default::default()
        };
        let chunks = self
            .points
            .chunks(group)
            .zip(self.band.chunks(group))
            .zip(self.counts.chunks(group).zip(self.partial.chunks(group)));
        for ((chunk, band), (counts, partial)) in chunks {
            let lo = (0..chunk.len())
                .min_by(|a, b| chunk[*a][1].total_cmp(&chunk[*b][1]))
                .unwrap_or(0);
            let hi = (0..chunk.len())
                .max_by(|a, b| chunk[*a][1].total_cmp(&chunk[*b][1]))
                .unwrap_or(0);
            let (first, second) = if lo <= hi { (lo, hi) } else { (hi, lo) };
            let band_lo = band.iter().map(|b| b.0).fold(f64::INFINITY, f64::min);
            let band_hi = band.iter().map(|b| b.1).fold(f64::NEG_INFINITY, f64::max);
            for i in [first, second] {
                out.points.push(chunk[i]);
                out.band.push((band_lo, band_hi));
                out.counts.push(counts[i]);
                out.partial.push(partial[i]);
                if first == second {
                    break;
                }
            }
        }
        out
    }

    /// Records over all buckets.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// How much of a chart to draw: a thumbnail in a node, a dashboard cell, or all of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// Inside a node on the canvas (about 120 points per series, no legend).
    Thumbnail,
    /// A cell of the dashboard (about 300 points per series).
    Medium,
    /// The selected chart (everything the sink keeps).
    Full,
}

/// A chart's data, ready to draw.
#[derive(Clone, Debug)]
pub struct ChartView {
    /// Line, bar, scatter or KPI.
    pub kind: ChartKind,
    /// Whether x is milliseconds since the epoch.
    pub x_is_time: bool,
    /// The series.
    pub series: Vec<ChartSeries>,
    /// Bar charts: the categories, in order of first appearance; their index places them.
    pub categories: Vec<String>,
    /// The x axis label.
    pub x_label: String,
    /// The y axis label (its unit).
    pub y_label: String,
    /// What the chart plots, in words: shown above it.
    pub title: String,
    /// Lines: the bucket width (x units), when buckets are in use.
    pub bucket_width: Option<f64>,
    /// Lines over time without a y column: y is records per second.
    pub rate: bool,
    /// Bar charts of the latest value of a column: that value.
    pub latest: Option<String>,
    /// The series decimated for a node's thumbnail and for a dashboard cell.
    thumbnail: Vec<ChartSeries>,
    medium: Vec<ChartSeries>,
}

fn floats(batch: &RecordBatch, name: &str) -> Option<Float64Array> {
    let col = batch.column_by_name(name)?;
    let col = match col.data_type() {
        DataType::Timestamp(_, _) => cast(
            &cast(col, &DataType::Timestamp(TimeUnit::Millisecond, None)).ok()?,
            &DataType::Int64,
        )
        .ok()?,
        DataType::Boolean => cast(col, &DataType::Int8).ok()?,
        _ => col.clone(),
    };
    cast(&col, &DataType::Float64).ok().map(|a| {
        a.as_primitive::<tributary_engine::arrow::datatypes::Float64Type>()
            .clone()
    })
}

/// `10_000` ms → `10 s`; `60_000` → `1 min`.
pub fn human_width_ms(ms: f64) -> String {
    let units = [
        (86_400_000.0, "day"),
        (3_600_000.0, "h"),
        (60_000.0, "min"),
        (1_000.0, "s"),
        (1.0, "ms"),
    ];
    for (size, unit) in units {
        if ms >= size {
            let n = ms / size;
            let n = if (n - n.round()).abs() < 1e-9 {
                format!("{}", n.round())
            } else {
                format!("{n:.1}")
            };
            let plural = if unit == "day" && n != "1" { "s" } else { "" };
            return format!("{n} {unit}{plural}");
        }
    }
    format!("{ms} ms")
}

impl ChartView {
    /// Builds the view from the sink's preview batches (columns series, x, y, y_min,
    /// y_max, count, partial; the bucket width, rate and latest value in the metadata).
    pub fn new(config: &SeriesSinkConfig, batches: &[RecordBatch]) -> Self {
        let kind = config.chart;
        let mut view = Self {
            kind,
            x_is_time: false,
            series: Vec::new(),
            categories: Vec::new(),
            thumbnail: Vec::new(),
            medium: Vec::new(),
            x_label: config.x.clone(),
            y_label: String::new(),
            title: String::new(),
            bucket_width: None,
            rate: false,
            latest: None,
        };
        let mut others = 0usize;
        for batch in batches {
            let schema = batch.schema();
            let meta = schema.metadata();
            view.bucket_width = meta
                .get(META_BUCKET_WIDTH)
                .and_then(|w| w.parse().ok())
                .or(view.bucket_width);
            view.rate |= meta.get(META_RATE).is_some_and(|r| r == "per_second");
            view.latest = meta.get(META_LATEST).cloned().or(view.latest.take());
            others = meta
                .get(META_OTHER_SERIES)
                .and_then(|n| n.parse().ok())
                .unwrap_or(others);
            let Some(series) = batch.column_by_name("series") else {
                continue;
            };
            let Ok(series) = cast(series, &DataType::Utf8) else {
                continue;
            };
            let series = series.as_string::<i32>();
            let (Some(y), Some(lo), Some(hi)) = (
                floats(batch, "y"),
                floats(batch, "y_min"),
                floats(batch, "y_max"),
            ) else {
                continue;
            };
            let count = floats(batch, "count");
            let partial = floats(batch, "partial");
            let Some(xcol) = batch.column_by_name("x") else {
                continue;
            };
            view.x_is_time |= matches!(xcol.data_type(), DataType::Timestamp(..));
            let xs: Vec<f64> = if kind == ChartKind::Bar {
                let Ok(text) = cast(xcol, &DataType::Utf8) else {
                    continue;
                };
                let text = text.as_string::<i32>();
                (0..text.len())
                    .map(|i| {
                        let label = text.value(i);
                        let at = match view.categories.iter().position(|c| c == label) {
                            Some(at) => at,
                            None => {
                                view.categories.push(label.to_owned());
                                view.categories.len() - 1
                            }
                        };
                        at as f64
                    })
                    .collect()
            } else {
                match floats(batch, "x") {
                    Some(x) => x.values().to_vec(),
                    None => continue,
                }
            };
            for (i, x) in xs.iter().enumerate() {
                let name = series.value(i);
                let s = match view.series.iter_mut().position(|s| s.name == name) {
                    Some(at) => &mut view.series[at],
                    None => {
                        view.series.push(ChartSeries {
                            name: name.to_owned(),
                            ..Default::default()
                        });
                        view.series.last_mut().expect("just pushed")
                    }
                };
                s.points.push([*x, y.value(i)]);
                s.band.push((lo.value(i), hi.value(i)));
                s.counts
                    .push(count.as_ref().map_or(1, |c| c.value(i).max(0.0) as u64));
                s.partial
                    .push(partial.as_ref().is_some_and(|p| p.value(i) != 0.0));
            }
        }
        view.describe(config, others);
        // Lines are decimated for small plots; bars and scatter are drawn as they are.
        if matches!(kind, ChartKind::Line | ChartKind::Kpi) {
            view.thumbnail = view.series.iter().map(|s| s.decimated(120)).collect();
            view.medium = view.series.iter().map(|s| s.decimated(300)).collect();
        } else {
            view.thumbnail = view.series.clone();
            view.medium = view.series.clone();
        }
        view
    }

    /// The y label and the title: what is plotted, over which buckets or records.
    fn describe(&mut self, config: &SeriesSinkConfig, others: usize) {
        let width = self.bucket_width.map(|w| {
            if self.x_is_time {
                human_width_ms(w)
            } else {
                format!("{w}")
            }
        });
        let per_bucket = width
            .as_ref()
            .map(|w| format!(" · {w} buckets"))
            .unwrap_or_default();
        let (y_label, title) = match self.kind {
            ChartKind::Bar => {
                let what = if config.y.is_empty() {
                    format!("records per {}", config.x)
                } else {
                    format!("{} of {} per {}", config.aggregate, config.y, config.x)
                };
                let over = match &self.latest {
                    Some(v) => format!("latest {} only: {v}", config.latest_by),
                    None => "all records".to_owned(),
                };
                (
                    if config.y.is_empty() {
                        "records".to_owned()
                    } else {
                        format!("{}({})", config.aggregate, config.y)
                    },
                    format!("{what} · {over}"),
                )
            }
            ChartKind::Scatter => (
                config.y.clone(),
                format!("{} against {} (a uniform sample)", config.y, config.x),
            ),
            ChartKind::Line | ChartKind::Kpi => {
                if self.rate {
                    (
                        "records/s".to_owned(),
                        format!("records per second by {}{per_bucket}", config.x),
                    )
                } else if config.y.is_empty() {
                    (
                        "records".to_owned(),
                        format!("records per bucket of {}{per_bucket}", config.x),
                    )
                } else {
                    (
                        config.y.clone(),
                        format!(
                            "mean {} by {}{per_bucket} (band: min–max)",
                            config.y, config.x
                        ),
                    )
                }
            }
        };
        self.y_label = y_label;
        self.title = title;
        if others > 0 {
            self.title
                .push_str(&format!(" · {others} smaller series summed into 'other'"));
        }
        if self.x_is_time {
            self.x_label = format!("{} (UTC)", config.x);
        }
    }

    /// The series to draw at `detail`.
    pub fn series_at(&self, detail: Detail) -> &[ChartSeries] {
        match detail {
            Detail::Thumbnail => &self.thumbnail,
            Detail::Medium => &self.medium,
            Detail::Full => &self.series,
        }
    }

    /// Points over all series.
    pub fn len(&self) -> usize {
        self.series.iter().map(|s| s.points.len()).sum()
    }

    /// Whether there is nothing to draw.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The KPI: the value of the last complete bucket over all series (rates and counts
    /// add up; means are weighted by their records), the one before, and the line.
    pub fn kpi(&self) -> Option<Kpi> {
        let mut by_x: std::collections::BTreeMap<i64, (f64, f64, u64, bool)> = Default::default();
        for s in &self.series {
            for (((p, c), part), _) in s.points.iter().zip(&s.counts).zip(&s.partial).zip(0..) {
                let e = by_x.entry(p[0] as i64).or_insert((p[0], 0.0, 0, false));
                if self.rate || self.y_label == "records" {
                    e.1 += p[1];
                } else {
                    e.1 += p[1] * *c as f64;
                }
                e.2 += c;
                e.3 |= *part;
            }
        }
        let additive = self.rate || self.y_label == "records";
        let line: Vec<[f64; 2]> = by_x
            .values()
            .filter(|(_, _, _, partial)| !partial)
            .map(|(x, v, c, _)| [*x, if additive { *v } else { v / (*c).max(1) as f64 }])
            .collect();
        let value = line.last()?[1];
        let previous = line.len().checked_sub(2).map(|i| line[i][1]);
        Some(Kpi {
            value,
            previous,
            line,
        })
    }
}

/// A KPI's numbers.
#[derive(Clone, Debug)]
pub struct Kpi {
    /// The last complete bucket's value.
    pub value: f64,
    /// The bucket before it, when there is one.
    pub previous: Option<f64>,
    /// Every complete bucket, for the sparkline.
    pub line: Vec<[f64; 2]>,
}

/// Round steps for a time axis, in milliseconds.
const TIME_STEPS_MS: [f64; 25] = [
    1.0,
    2.0,
    5.0,
    10.0,
    20.0,
    50.0,
    100.0,
    200.0,
    500.0,
    1_000.0,
    2_000.0,
    5_000.0,
    10_000.0,
    15_000.0,
    30_000.0,
    60_000.0,
    120_000.0,
    300_000.0,
    600_000.0,
    900_000.0,
    1_800_000.0,
    3_600_000.0,
    7_200_000.0,
    21_600_000.0,
    86_400_000.0,
];

/// Grid marks at round times (every 10 s, every minute …), far enough apart to label.
fn time_grid(input: GridInput) -> Vec<GridMark> {
    let (lo, hi) = input.bounds;
    let wanted = input.base_step_size * 12.0;
    let step = TIME_STEPS_MS
        .iter()
        .copied()
        .find(|s| *s >= wanted)
        .unwrap_or_else(|| (wanted / 86_400_000.0).ceil() * 86_400_000.0);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    if last - first > 1000 {
        return Vec::new();
    }
    (first..=last)
        .map(|k| GridMark {
            value: k as f64 * step,
            step_size: step,
        })
        .collect()
}

/// A time tick's text, precise enough for its step.
fn format_time(ms: f64, step: f64) -> String {
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms.round() as i64) else {
        return String::new();
    };
    if step < 1_000.0 {
        t.format("%H:%M:%S%.3f").to_string()
    } else if step < 60_000.0 {
        t.format("%H:%M:%S").to_string()
    } else if step < 86_400_000.0 {
        t.format("%H:%M").to_string()
    } else {
        t.format("%Y-%m-%d").to_string()
    }
}

/// The series of `view` the user hid (by clicking their legend entry), per chart.
fn hidden(ui: &Ui, id: egui::Id) -> BTreeSet<String> {
    ui.data(|d| d.get_temp::<BTreeSet<String>>(id).unwrap_or_default())
}

/// The legend, outside the plot: one entry per series in its colour; a click hides or
/// shows the series.
fn legend_ui(ui: &mut Ui, id: egui::Id, view: &ChartView) {
    if view.series.len() < 2 {
        return;
    }
    let mut off = hidden(ui, id);
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 10.0;
        for (k, s) in view.series.iter().enumerate() {
            let color = crate::theme::SERIES[k % crate::theme::SERIES.len()];
            let shown = !off.contains(&s.name);
            let text = egui::RichText::new(format!("■ {}", s.name)).color(if shown {
                color
            } else {
                ui.visuals().weak_text_color()
            });
            // (The hover text is built only when hovered: legends are drawn every frame.)
            let r = ui
                .add(egui::Label::new(text).sense(egui::Sense::click()))
                .on_hover_ui(|ui| {
                    ui.label(format!(
                        "{} records. Click to {} it.",
                        s.total(),
                        if shown { "hide" } else { "show" }
                    ));
                });
            if r.clicked() && !off.remove(&s.name) {
                off.insert(s.name.clone());
            }
        }
    });
    ui.data_mut(|d| d.insert_temp(id, off));
}

/// Draws `view` filling the width, `height` points tall, at `detail`: what it plots above
/// it, the legend outside it (not in thumbnails, where a node has no room).
pub fn chart_ui(ui: &mut Ui, id: &str, view: &ChartView, height: f32, detail: Detail) {
    let legend_id = egui::Id::new(("chart-legend", id));
    let mut height = height;
    if detail != Detail::Thumbnail {
        let top = ui.cursor().top();
        ui.weak(&view.title);
        if view.kind != ChartKind::Kpi {
            legend_ui(ui, legend_id, view);
        }
        height = (height - (ui.cursor().top() - top)).max(60.0);
    }
    if view.kind == ChartKind::Kpi {
        kpi_ui(ui, id, view, height, detail);
        return;
    }
    let off = hidden(ui, legend_id);
    let x_is_time = view.x_is_time;
    // A bar chart outside the canvas labels every category: when the bars would be
    // closer than a label's height, it grows and scrolls instead of skipping labels.
    let needed = if view.kind == ChartKind::Bar && detail != Detail::Thumbnail {
        view.categories.len() as f32 * 17.0 + 56.0
    } else {
        0.0
    };
    let scroll = needed > height;
    let mut plot = Plot::new(("chart", id))
        .height(height.max(needed))
        .y_axis_formatter(|mark, _| human_rate(mark.value));
    if detail != Detail::Thumbnail {
        plot = plot
            .x_axis_label(view.x_label.clone())
            .y_axis_label(view.y_label.clone());
    }
    if view.kind == ChartKind::Bar {
        plot = bar_axes(plot, view);
    } else if x_is_time {
        plot = plot
            .x_grid_spacer(time_grid)
            .x_axis_formatter(|mark, _| format_time(mark.value, mark.step_size));
    }
    let series_count = view.series.len().max(1) as f64;
    let labels = detail != Detail::Thumbnail;
    let text_color = ui.visuals().text_color();
    let draw = |plot_ui: &mut egui_plot::PlotUi<'_>| {
        for (k, s) in view.series_at(detail).iter().enumerate() {
            if off.contains(&s.name) {
                continue;
            }
            let color = crate::theme::SERIES[k % crate::theme::SERIES.len()];
            let name = if s.name.is_empty() {
                view.y_label.clone()
            } else {
                s.name.clone()
            };
            match view.kind {
                ChartKind::Line | ChartKind::Kpi => {
                    let complete: Vec<usize> =
                        (0..s.points.len()).filter(|i| !s.partial[*i]).collect();
                    if !view.rate
                        && view.y_label != "records"
                        && complete.iter().any(|i| s.band[*i].1 > s.band[*i].0)
                    {
                        let xs: Vec<f64> = complete.iter().map(|i| s.points[*i][0]).collect();
                        let lo: Vec<f64> = complete.iter().map(|i| s.band[*i].0).collect();
                        let hi: Vec<f64> = complete.iter().map(|i| s.band[*i].1).collect();
                        plot_ui.add(
                            FilledArea::new(format!("{name} min–max"), &xs, &lo, &hi)
                                .fill_color(color.gamma_multiply(0.2)),
                        );
                    }
                    let line: Vec<[f64; 2]> = complete.iter().map(|i| s.points[*i]).collect();
                    plot_ui.line(Line::new(name.clone(), line).color(color));
                    // Buckets still filling (or entered late): a faint dot, not the line.
                    let partial: Vec<[f64; 2]> = (0..s.points.len())
                        .filter(|i| s.partial[*i])
                        .map(|i| s.points[i])
                        .collect();
                    if !partial.is_empty() && labels {
                        plot_ui.points(
                            Points::new(format!("{name} (partial bucket)"), partial)
                                .color(color.gamma_multiply(0.45))
                                .radius(2.5),
                        );
                    }
                }
                ChartKind::Scatter => {
                    plot_ui.points(Points::new(name, s.points.clone()).color(color).radius(2.0));
                }
                ChartKind::Bar => {
                    // Horizontal bars: every category's label fits on the y axis. Bars of
                    // several series sit side by side around their category.
                    let width = 0.8 / series_count;
                    let offset = (k as f64 - (series_count - 1.0) / 2.0) * width;
                    let bars: Vec<Bar> = s
                        .points
                        .iter()
                        .map(|p| Bar::new(-(p[0] + offset), p[1]).width(width * 0.95))
                        .collect();
                    if labels && s.points.len() <= 40 {
                        for p in &s.points {
                            plot_ui.text(
                                Text::new(
                                    format!("{name} value"),
                                    egui_plot::PlotPoint::new(p[1], -(p[0] + offset)),
                                    format!(" {}", human_rate(p[1])),
                                )
                                .anchor(egui::Align2::LEFT_CENTER)
                                .color(text_color),
                            );
                        }
                    }
                    plot_ui.bar_chart(BarChart::new(name, bars).color(color).horizontal());
                }
            }
        }
    };
    if scroll {
        egui::ScrollArea::vertical()
            .id_salt(("chart-scroll", id))
            .max_height(height)
            .show(ui, |ui| plot.show(ui, draw));
    } else {
        plot.show(ui, draw);
    }
}

/// Bar charts: categories down the y axis, one label each (every k-th when they would
/// overlap), values along x.
fn bar_axes<'a>(plot: Plot<'a>, view: &ChartView) -> Plot<'a> {
    let n = view.categories.len();
    let categories = view.categories.clone();
    plot.y_grid_spacer(move |input| {
        let (lo, hi) = input.bounds;
        // A label needs about 16 points; base_step_size is the span of 8 points.
        let stride = (input.base_step_size * 2.0).ceil().max(1.0) as usize;
        (0..n)
            .step_by(stride)
            .map(|i| -(i as f64))
            .filter(|y| *y >= lo && *y <= hi)
            .map(|value| GridMark {
                value,
                step_size: 1e6,
            })
            .collect()
    })
    .y_axis_formatter(move |mark, _| {
        let i = (-mark.value).round();
        if (mark.value + i).abs() < 1e-6 && i >= 0.0 {
            categories.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    })
    .x_axis_formatter(|mark, _| human_rate(mark.value))
    .include_x(0.0)
    .x_axis_label(view.y_label.clone())
    .y_axis_label(view.x_label.clone())
}

/// A KPI tile: the last complete bucket's value, large, its change from the bucket
/// before, and a sparkline of the rest.
fn kpi_ui(ui: &mut Ui, id: &str, view: &ChartView, height: f32, detail: Detail) {
    let Some(kpi) = view.kpi() else {
        ui.weak("No complete bucket yet.");
        return;
    };
    let big = match detail {
        Detail::Thumbnail => 22.0,
        _ => 34.0,
    };
    ui.horizontal(|ui| {
        ui.label(
            egui::RichText::new(human_rate(kpi.value))
                .size(big)
                .strong(),
        );
        ui.label(&view.y_label);
    });
    if let Some(prev) = kpi.previous {
        let change = if prev != 0.0 {
            (kpi.value - prev) / prev.abs() * 100.0
        } else {
            0.0
        };
        let (arrow, color) = if change > 0.5 {
            ("⏶", crate::theme::ok(ui.visuals()))
        } else if change < -0.5 {
            ("⏷", crate::theme::error(ui.visuals()))
        } else {
            ("▶", ui.visuals().weak_text_color())
        };
        let width = view
            .bucket_width
            .map(|w| {
                if view.x_is_time {
                    human_width_ms(w)
                } else {
                    w.to_string()
                }
            })
            .unwrap_or_default();
        ui.colored_label(
            color,
            format!("{arrow} {change:+.1} % on the {width} before"),
        );
    }
    let spark = (height - big - 40.0).max(24.0);
    Plot::new(("kpi", id))
        .height(spark)
        .show_axes(false)
        .show_grid(false)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .show_x(false)
        .show_y(false)
        .show(ui, |plot_ui| {
            plot_ui.line(Line::new(view.y_label.clone(), kpi.line).color(crate::theme::SERIES[0]));
        });
}
