//! Live charts of series-sink nodes, drawn with egui_plot.
//!
//! The engine already downsampled the data (see the engine's `series_sink`), so a chart
//! holds at most a few thousand points per series however many records went by; it is
//! turned into plot points once per preview, not once per frame.

use egui::Ui;
use egui_plot::{Bar, BarChart, FilledArea, Legend, Line, Plot, Points};
use tributary_engine::arrow::array::{Array, AsArray as _, Float64Array, RecordBatch};
use tributary_engine::arrow::compute::cast;
use tributary_engine::arrow::datatypes::{DataType, TimeUnit};
pub use tributary_engine::nodes::series_sink::ChartKind;
use tributary_engine::nodes::series_sink::SeriesSinkConfig;

/// One series, ready to draw.
#[derive(Clone, Debug, Default)]
pub struct ChartSeries {
    /// The series' name (empty for a single series).
    pub name: String,
    /// (x, y) points in x order.
    pub points: Vec<[f64; 2]>,
    /// Bucket minimum and maximum of y, per point.
    pub band: Vec<(f64, f64)>,
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
        for (chunk, band) in self.points.chunks(group).zip(self.band.chunks(group)) {
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
                if first == second {
                    break;
                }
            }
        }
        out
    }
}

/// How much of a chart to draw: a thumbnail in a node, a dashboard cell, or all of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// Inside a node on the canvas (about 120 points per series).
    Thumbnail,
    /// A cell of the dashboard (about 300 points per series).
    Medium,
    /// The selected chart (everything the sink keeps).
    Full,
}

/// A chart's data, ready to draw.
#[derive(Clone, Debug)]
pub struct ChartView {
    /// Line, bar or scatter.
    pub kind: ChartKind,
    /// Whether x is milliseconds since the epoch.
    pub x_is_time: bool,
    /// The series.
    pub series: Vec<ChartSeries>,
    /// Bar charts: the categories, in order of first appearance; x is their index.
    pub categories: Vec<String>,
    /// The chart's axis labels.
    pub x_label: String,
    /// The y axis label.
    pub y_label: String,
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
        _ => col.clone(),
    };
    cast(&col, &DataType::Float64).ok().map(|a| {
        a.as_primitive::<tributary_engine::arrow::datatypes::Float64Type>()
            .clone()
    })
}

impl ChartView {
    /// Builds the view from the sink's preview batches (columns series, x, y, y_min,
    /// y_max, count).
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
            y_label: if config.y.is_empty() && kind == ChartKind::Line {
                "records per bucket".to_owned()
            } else if config.y.is_empty() {
                "records".to_owned()
            } else if kind == ChartKind::Bar {
                format!("{}({})", config.aggregate, config.y)
            } else {
                config.y.clone()
            },
        };
        for batch in batches {
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
            }
        }
        // Lines are decimated for small plots; bars and scatter are drawn as they are.
        if kind == ChartKind::Line {
            view.thumbnail = view.series.iter().map(|s| s.decimated(120)).collect();
            view.medium = view.series.iter().map(|s| s.decimated(300)).collect();
        } else {
            view.thumbnail = view.series.clone();
            view.medium = view.series.clone();
        }
        view
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
}

fn format_time(ms: f64, span_ms: f64) -> String {
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms as i64) else {
        return String::new();
    };
    if span_ms < 120_000.0 {
        t.format("%H:%M:%S").to_string()
    } else if span_ms < 2.0 * 86_400_000.0 {
        t.format("%H:%M").to_string()
    } else {
        t.format("%Y-%m-%d").to_string()
    }
}

/// Draws `view` filling the width, `height` points tall, at `detail`; thumbnails (charts
/// inside nodes) have no legend.
pub fn chart_ui(ui: &mut Ui, id: &str, view: &ChartView, height: f32, detail: Detail) {
    let legend = detail != Detail::Thumbnail;
    let x_is_time = view.x_is_time;
    let categories = view.categories.clone();
    let mut plot = Plot::new(("chart", id)).height(height);
    if legend {
        plot = plot.legend(Legend::default());
    }
    plot = plot
        .x_axis_label(view.x_label.clone())
        .y_axis_label(view.y_label.clone());
    if x_is_time {
        plot = plot
            .x_axis_formatter(|mark, range| format_time(mark.value, range.end() - range.start()));
    } else if view.kind == ChartKind::Bar {
        // A grid mark per category (every k-th when there are many), with a large step
        // size so egui_plot draws each label at full strength.
        let n = view.categories.len();
        let longest = view.categories.iter().map(|c| c.len()).max().unwrap_or(1) as f64;
        plot = plot.x_grid_spacer(move |input| {
            let (lo, hi) = input.bounds;
            // Room per label, in categories: about 7 points per character.
            // (base_step_size is the plot span of egui_plot's 8-point minimum grid step.)
            let points_per_unit = 8.0 / input.base_step_size.max(1e-9);
            let stride = ((longest * 7.0 + 8.0) / points_per_unit).ceil().max(1.0) as usize;
            (0..n)
                .step_by(stride)
                .map(|i| i as f64)
                .filter(|x| *x >= lo && *x <= hi)
                .map(|value| egui_plot::GridMark {
                    value,
                    step_size: 1e6,
                })
                .collect()
        });
        plot = plot.x_axis_formatter(move |mark, _| {
            let i = mark.value.round();
            if (mark.value - i).abs() < 1e-6 && i >= 0.0 {
                categories.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        });
    }
    let series_count = view.series.len().max(1) as f64;
    plot.show(ui, |plot_ui| {
        for (k, s) in view.series_at(detail).iter().enumerate() {
            let color = crate::theme::SERIES[k % crate::theme::SERIES.len()];
            let name = if s.name.is_empty() {
                view.y_label.clone()
            } else {
                s.name.clone()
            };
            match view.kind {
                ChartKind::Line => {
                    if s.band.iter().any(|(lo, hi)| hi > lo) && view.y_label != "records per bucket"
                    {
                        let xs: Vec<f64> = s.points.iter().map(|p| p[0]).collect();
                        let lo: Vec<f64> = s.band.iter().map(|b| b.0).collect();
                        let hi: Vec<f64> = s.band.iter().map(|b| b.1).collect();
                        plot_ui.add(
                            FilledArea::new(format!("{name} min–max"), &xs, &lo, &hi)
                                .fill_color(color.gamma_multiply(0.2)),
                        );
                    }
                    plot_ui.line(Line::new(name, s.points.clone()).color(color));
                }
                ChartKind::Scatter => {
                    plot_ui.points(Points::new(name, s.points.clone()).color(color).radius(2.0));
                }
                ChartKind::Bar => {
                    // Bars of several series sit side by side around their category.
                    let width = 0.8 / series_count;
                    let offset = (k as f64 - (series_count - 1.0) / 2.0) * width;
                    let bars = s
                        .points
                        .iter()
                        .map(|p| Bar::new(p[0] + offset, p[1]).width(width * 0.95))
                        .collect();
                    plot_ui.bar_chart(BarChart::new(name, bars).color(color));
                }
            }
        }
    });
}
