//! Series sink: the data behind a live chart, bounded in memory whatever the input rate.
//!
//! - `line`: y over x (a time or a number) per series, in x buckets of one fixed width
//!   that steps up a ladder of round widths (1 s, 2 s, 10 s, 20 s, 1 min …) as data grows,
//!   so at most `max_points` buckets per series are kept; every series of the chart shares
//!   the width. Each bucket keeps the mean, min, max and count of y. Without a y column
//!   over time, y is the rate: records per second in the bucket.
//! - `kpi`: the same data, shown as one big number (the last complete bucket) with its
//!   trend.
//! - `scatter`: a uniform reservoir sample of `max_points` (x, y) points per series.
//! - `bar`: one bar per x value (a category) and series, aggregating y by `aggregate`,
//!   over all records or, with `latest_by`, over those with the latest value of that
//!   column (the latest window); at most `max_points` categories (later ones are counted
//!   and dropped).
//!
//! With `top_n`, the `top_n` series with the most records are kept apart and the others
//! are summed into one series, `other`.
//!
//! The chart data is sent as a preview of the port `series` about twice a second, with the
//! columns `series`, `x`, `y`, `y_min`, `y_max`, `count`, `partial` (a bucket the data
//! only partly covers: the last one while records still arrive), and in the schema's
//! metadata `bucket_width`, `rate` and `latest` (see [`META_BUCKET_WIDTH`] and the others).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::form::{Editor, Field as FormField, FieldProblem, Problems, When};
use super::operator::{LiveState, LiveView, ReadOptions, Wiring};
use super::start::StartingPosition;
use super::{Category, Kind, NodeContext, NodeOutput, NodeStats, PortSpec, PortType, Value};
use crate::arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use crate::arrow::compute::cast;
use crate::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use crate::error::{Error, Result};
pub use crate::stream::series::{Agg, Aggregate, Downsampled};
use crate::stream::series::{FIRST_RATE_WIDTH_MS, Reservoir};

/// Schema metadata: the line's bucket width (x units: milliseconds for time).
pub const META_BUCKET_WIDTH: &str = "bucket_width";
/// Schema metadata: `per_second` when y is a rate (records per second).
pub const META_RATE: &str = "rate";
/// Schema metadata: bar charts with `latest_by`: the latest value shown.
pub const META_LATEST: &str = "latest";
/// Schema metadata: series summed into `other` by `top_n`.
pub const META_OTHER_SERIES: &str = "other_series";
/// The series the others are summed into by `top_n`.
pub const OTHER: &str = "other";

/// Series kept at most; records of further series are counted and dropped.
pub const MAX_SERIES: usize = 32;

/// The name the chart data is previewed under.
pub const PREVIEW: &str = "series";

/// A stream to chart live.
pub const RECORDS: PortSpec = PortSpec::input("records", PortType::Stream);
/// A table to chart once.
pub const TABLE: PortSpec = PortSpec::input("table", PortType::Table);

crate::choice_enum! {
    /// The kind of chart.
    pub enum ChartKind {
        /// y over x (a time or a number), downsampled into buckets.
        Line = "line",
        /// One bar per x value (a category), aggregating y.
        Bar = "bar",
        /// A uniform sample of (x, y) points.
        Scatter = "scatter",
        /// One big number (the last complete bucket of the line) with its trend.
        Kpi = "kpi",
    }
}

/// Series sink settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeriesSinkConfig {
    /// `line`, `bar` or `scatter`.
    pub chart: ChartKind,
    /// The x column: a time or number (line, scatter) or a category (bar).
    pub x: String,
    /// The y column (a number); empty counts records.
    pub y: String,
    /// The column that splits the data into series; empty: one series.
    pub series: String,
    /// Bar charts: how y is aggregated per category: sum, count, avg, min, max or last.
    pub aggregate: Aggregate,
    /// Points (line buckets, scatter points, bars) kept per series.
    pub max_points: usize,
    /// Series shown apart at most (those with the most records); the rest are summed
    /// into `other`. 0 shows every series.
    pub top_n: usize,
    /// Bar charts: only the records with the latest value of this column count (e.g.
    /// `window_start`: the latest window). Empty: every record.
    pub latest_by: String,
    /// Where reading starts without a checkpoint (`StartingPosition`).
    pub starting_position: StartingPosition,
    /// For `AT_TIMESTAMP`: seconds since the Unix epoch.
    pub starting_position_timestamp: f64,
    /// For `AT_`/`AFTER_SEQUENCE_NUMBER`: one sequence number, or one per shard.
    pub starting_sequence_number: String,
}

impl Default for SeriesSinkConfig {
    fn default() -> Self {
        Self {
            chart: ChartKind::Line,
            x: "window_start".to_owned(),
            y: String::new(),
            series: String::new(),
            aggregate: Aggregate::Sum,
            max_points: 1000,
            top_n: 0,
            latest_by: String::new(),
            starting_position: StartingPosition::TrimHorizon,
            starting_position_timestamp: 0.0,
            starting_sequence_number: String::new(),
        }
    }
}

/// The live chart node.
pub struct SeriesSinkKind;

impl Kind for SeriesSinkKind {
    type Config = SeriesSinkConfig;
    const NAME: &'static str = "series_sink";
    const CATEGORY: Category = Category::Outputs;
    const DESCRIPTION: &'static str = "A live chart (line, bar or scatter) of a stream or table, downsampled and bounded in memory.";
    const ICON: &'static str = "📈";
    const INPUTS: &'static [PortSpec] = &[RECORDS, TABLE];
    const OUTPUTS: &'static [PortSpec] = &[];
    const FIELDS: &'static [FormField] = &[
        FormField::new(
            "chart",
            "Chart",
            Editor::Choice(ChartKind::NAMES),
            "line (y over time or a number), bar (one bar per category), scatter, or kpi (one big number with its trend).",
        ),
        FormField::new(
            "x",
            "x column",
            Editor::Column,
            "A time or number (line, scatter) or a category (bar).",
        ),
        FormField::new(
            "y",
            "y column",
            Editor::Column,
            "A number; empty counts records (over time: records per second).",
        ),
        FormField::new(
            "series",
            "Series column",
            Editor::Column,
            "The column that splits the data into series; empty: one series.",
        ),
        FormField::new(
            "aggregate",
            "Aggregate",
            Editor::Choice(Aggregate::NAMES),
            "Bar charts: how y is aggregated per category.",
        )
        .when(When::Is("chart", &["bar"])),
        FormField::new(
            "latest_by",
            "Latest by",
            Editor::Column,
            "Bar charts: only records with the latest value of this column count (window_start: the latest window). Empty: all records.",
        )
        .when(When::Is("chart", &["bar"])),
        FormField::new(
            "top_n",
            "Top series",
            Editor::Number,
            "Series shown apart at most, those with the most records; the others are summed into 'other'. 0: all.",
        ),
        FormField::new(
            "max_points",
            "Max points",
            Editor::Number,
            "Points (line buckets, scatter points, bars) kept per series.",
        ),
        super::start::FIELDS[0],
        super::start::FIELDS[1],
        super::start::FIELDS[2],
    ];

    fn validate(config: &SeriesSinkConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        p.check(!config.x.is_empty(), "x", "choose the x column");
        p.check(
            (2..=100_000).contains(&config.max_points),
            "max_points",
            "must be between 2 and 100000",
        );
        p.check(
            config.top_n <= MAX_SERIES,
            "top_n",
            format!("must be at most {MAX_SERIES} (0 shows every series)"),
        );
        p.check(
            config.latest_by.is_empty() || config.chart == ChartKind::Bar,
            "latest_by",
            "only bar charts show the latest value of a column",
        );
        super::start::check(
            &mut p,
            config.starting_position,
            config.starting_position_timestamp,
            &config.starting_sequence_number,
        );
        p.into_vec()
    }

    async fn run(config: &SeriesSinkConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        run(config, ctx)
    }
}

/// What a chart reports.
#[derive(Clone, Debug, Serialize)]
pub struct SeriesSinkReport {
    /// Records dropped: no x or y, or too many series or categories.
    pub dropped_records: u64,
}

#[derive(Clone)]
enum SeriesData {
    Line(Downsampled),
    Scatter(Reservoir),
    Bar(Vec<(String, Agg)>, HashMap<String, usize>),
    /// Line buckets of several series summed (by `top_n`).
    Merged(Vec<(f64, Agg)>),
}

/// All series of one chart.
pub struct ChartData {
    config: SeriesSinkConfig,
    series: BTreeMap<String, SeriesData>,
    rng: ChaCha8Rng,
    /// Records dropped because they had no x or y, or too many series or categories.
    pub dropped: u64,
    x_is_time: bool,
    /// Bar charts with `latest_by`: the latest value seen (as a number when the column is
    /// a number or a time, else its text) and how to show it.
    latest: Option<(LatestKey, String)>,
    latest_is_time: bool,
}

/// A `latest_by` value, ordered.
#[derive(Clone, Debug, PartialEq, PartialOrd)]
enum LatestKey {
    Number(f64),
    Text(String),
}

impl std::fmt::Debug for ChartData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChartData")
            .field("series", &self.series.len())
            .finish()
    }
}

fn floats(column: &ArrayRef) -> Result<Vec<Option<f64>>> {
    let c = match column.data_type() {
        DataType::Timestamp(_, tz) => {
            let ms = cast(
                column,
                &DataType::Timestamp(TimeUnit::Millisecond, tz.clone()),
            )
            .and_then(|a| cast(&a, &DataType::Int64))
            .map_err(|e| Error::Internal(e.to_string()))?;
            cast(&ms, &DataType::Float64)
        }
        DataType::Date32 | DataType::Date64 => {
            let ms = cast(column, &DataType::Date64)
                .and_then(|a| cast(&a, &DataType::Int64))
                .map_err(|e| Error::Internal(e.to_string()))?;
            cast(&ms, &DataType::Float64)
        }
        _ => cast(column, &DataType::Float64),
    }
    .map_err(|e| Error::Invalid(format!("cannot read as numbers: {e}")))?;
    let f = c
        .as_any()
        .downcast_ref::<Float64Array>()
        .ok_or_else(|| Error::Internal("float cast".to_owned()))?;
    Ok((0..f.len())
        .map(|i| f.is_valid(i).then(|| f.value(i)))
        .collect())
}

fn texts(column: &ArrayRef) -> Result<Vec<Option<String>>> {
    let c = cast(column, &DataType::Utf8).map_err(|e| Error::Internal(e.to_string()))?;
    let s = c
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| Error::Internal("utf8 cast".to_owned()))?;
    Ok((0..s.len())
        .map(|i| s.is_valid(i).then(|| s.value(i).to_owned()))
        .collect())
}

fn column<'a>(batch: &'a RecordBatch, name: &str, field: &str) -> Result<&'a ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| {
        Error::Invalid(format!(
            "{field}: '{name}' is not in the input's columns ({})",
            batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

impl ChartData {
    /// Checks the configured columns against `schema`.
    pub fn new(config: &SeriesSinkConfig, schema: &SchemaRef) -> Result<Self> {
        let empty = RecordBatch::new_empty(schema.clone());
        let x = column(&empty, &config.x, "x")?;
        let x_is_time = matches!(
            x.data_type(),
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
        );
        if !config.y.is_empty() {
            let y = column(&empty, &config.y, "y")?;
            if !y.data_type().is_numeric() {
                return Err(Error::Invalid(format!(
                    "y: '{}' is {}, not a number",
                    config.y,
                    y.data_type()
                )));
            }
        }
        if !config.series.is_empty() {
            column(&empty, &config.series, "series")?;
        }
        let mut latest_is_time = false;
        if !config.latest_by.is_empty() {
            let l = column(&empty, &config.latest_by, "latest_by")?;
            latest_is_time = matches!(
                l.data_type(),
                DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
            );
        }
        if config.chart != ChartKind::Bar && !(x.data_type().is_numeric() || x_is_time) {
            return Err(Error::Invalid(format!(
                "x: '{}' is {}; a {} chart needs a time or a number (or use a bar chart)",
                config.x,
                x.data_type(),
                config.chart
            )));
        }
        Ok(Self {
            config: config.clone(),
            series: BTreeMap::new(),
            rng: ChaCha8Rng::seed_from_u64(0),
            dropped: 0,
            x_is_time,
            latest: None,
            latest_is_time,
        })
    }

    /// Whether the line's y is a rate: records per second over time.
    fn is_rate(&self) -> bool {
        self.x_is_time && self.config.y.is_empty()
    }

    /// The values of the `latest_by` column in `batch`, ordered.
    fn latest_keys(&self, batch: &RecordBatch) -> Result<Vec<Option<(LatestKey, String)>>> {
        let col = column(batch, &self.config.latest_by, "latest_by")?;
        let text = texts(col)?;
        if col.data_type().is_numeric() || self.latest_is_time {
            let nums = floats(col)?;
            Ok(nums
                .into_iter()
                .zip(text)
                .map(|(n, t)| Some((LatestKey::Number(n?), t?)))
                .collect())
        } else {
            Ok(text
                .into_iter()
                .map(|t| t.map(|t| (LatestKey::Text(t.clone()), t)))
                .collect())
        }
    }

    /// Adds a batch of records.
    pub fn add(&mut self, batch: &RecordBatch) -> Result<()> {
        let n = batch.num_rows();
        let ys: Vec<Option<f64>> = if self.config.y.is_empty() {
            vec![Some(1.0); n]
        } else {
            floats(column(batch, &self.config.y, "y")?)?
        };
        let series: Vec<Option<String>> = if self.config.series.is_empty() {
            vec![Some(String::new()); n]
        } else {
            texts(column(batch, &self.config.series, "series")?)?
        };
        let xcol = column(batch, &self.config.x, "x")?;
        let max = self.config.max_points;
        if self.config.chart == ChartKind::Bar {
            let xs = texts(xcol)?;
            let latest = if self.config.latest_by.is_empty() {
                None
            } else {
                Some(self.latest_keys(batch)?)
            };
            for i in 0..n {
                let (Some(x), Some(y), Some(s)) = (&xs[i], ys[i], &series[i]) else {
                    self.dropped += 1;
                    continue;
                };
                if let Some(keys) = &latest {
                    let Some((key, shown)) = &keys[i] else {
                        self.dropped += 1;
                        continue;
                    };
                    match &self.latest {
                        // An earlier window: superseded.
                        Some((l, _)) if key < l => continue,
                        Some((l, _)) if key == l => {}
                        // A later one: the bars start again.
                        _ => {
                            self.series.clear();
                            self.latest = Some((key.clone(), shown.clone()));
                        }
                    }
                }
                let Some(data) = self.series_mut(s, || SeriesData::Bar(Vec::new(), HashMap::new()))
                else {
                    continue;
                };
                let SeriesData::Bar(bars, index) = data else {
                    continue;
                };
                match index.get(x) {
                    Some(&j) => bars[j].1.add(y),
                    None if bars.len() < max => {
                        index.insert(x.clone(), bars.len());
                        bars.push((x.clone(), Agg::new(y)));
                    }
                    None => self.dropped += 1,
                }
            }
        } else {
            let xs = floats(xcol)?;
            let scatter = self.config.chart == ChartKind::Scatter;
            let (time, first_width) = (
                self.x_is_time,
                if self.is_rate() {
                    FIRST_RATE_WIDTH_MS
                } else {
                    0.0
                },
            );
            // The sampler's generator is taken out for the batch (series_mut borrows self).
            let mut rng = std::mem::replace(&mut self.rng, ChaCha8Rng::seed_from_u64(0));
            for i in 0..n {
                let (Some(x), Some(y), Some(s)) = (xs[i], ys[i], &series[i]) else {
                    self.dropped += 1;
                    continue;
                };
                if let Some(data) = self.series_mut(s, || {
                    if scatter {
                        SeriesData::Scatter(Reservoir {
                            max,
                            seen: 0,
                            points: Vec::new(),
                        })
                    } else {
                        SeriesData::Line(Downsampled::with_width(max, time, first_width))
                    }
                }) {
                    match data {
                        SeriesData::Line(d) => d.add(x, y),
                        SeriesData::Scatter(r) => r.add(x, y, &mut rng),
                        SeriesData::Bar(..) | SeriesData::Merged(_) => {}
                    }
                }
            }
            self.rng = rng;
            // Every series on one grid: the widest width.
            let width = self
                .series
                .values()
                .filter_map(|s| match s {
                    SeriesData::Line(d) => Some(d.width()),
                    _ => None,
                })
                .fold(0.0, f64::max);
            for s in self.series.values_mut() {
                if let SeriesData::Line(d) = s {
                    d.widen_to(width);
                }
            }
        }
        Ok(())
    }

    /// The line's bucket width (0 while exact values are kept, or for other charts).
    pub fn bucket_width(&self) -> f64 {
        self.series
            .values()
            .filter_map(|s| match s {
                SeriesData::Line(d) => Some(d.width()),
                _ => None,
            })
            .fold(0.0, f64::max)
    }

    /// The series to draw, with `top_n` applied: the largest apart, the rest summed into
    /// [`OTHER`]; and how many were summed.
    fn shown_series(&self) -> (Vec<(String, SeriesData)>, usize) {
        let total = |d: &SeriesData| -> u64 {
            match d {
                SeriesData::Line(d) => d.points().iter().map(|(_, a)| a.count).sum(),
                SeriesData::Scatter(r) => r.seen,
                SeriesData::Bar(b, _) => b.iter().map(|(_, a)| a.count).sum(),
                SeriesData::Merged(b) => b.iter().map(|(_, a)| a.count).sum(),
            }
        };
        let n = self.config.top_n;
        if n == 0 || self.series.len() <= n || self.config.chart == ChartKind::Scatter {
            let all = self
                .series
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            return (all, 0);
        }
        let mut ranked: Vec<(&String, &SeriesData)> = self.series.iter().collect();
        ranked.sort_by(|a, b| total(b.1).cmp(&total(a.1)).then(a.0.cmp(b.0)));
        let (top, rest) = ranked.split_at(n);
        let mut out: Vec<(String, SeriesData)> = top
            .iter()
            .map(|(k, v)| ((*k).clone(), (*v).clone()))
            .collect();
        let merged = match rest[0].1 {
            SeriesData::Line(first) => {
                let mut all = first.clone();
                all.widen_to(self.bucket_width());
                let mut buckets: BTreeMap<i64, (f64, Agg)> = BTreeMap::new();
                let width = all.width();
                for (_, d) in rest {
                    let SeriesData::Line(d) = d else { continue };
                    for (x, a) in d.points() {
                        let k = if width > 0.0 {
                            (x / width).floor() as i64
                        } else {
                            x.to_bits() as i64
                        };
                        buckets
                            .entry(k)
                            .and_modify(|(_, b)| b.merge(&a))
                            .or_insert((x, a));
                    }
                }
                SeriesData::Merged(buckets.into_values().collect())
            }
            _ => {
                let mut bars: Vec<(String, Agg)> = Vec::new();
                let mut index: HashMap<String, usize> = HashMap::new();
                for (_, d) in rest {
                    let SeriesData::Bar(b, _) = d else { continue };
                    for (x, a) in b {
                        match index.get(x) {
                            Some(&j) => bars[j].1.merge(a),
                            None => {
                                index.insert(x.clone(), bars.len());
                                bars.push((x.clone(), *a));
                            }
                        }
                    }
                }
                SeriesData::Bar(bars, index)
            }
        };
        out.push((OTHER.to_owned(), merged));
        (out, rest.len())
    }

    fn series_mut(
        &mut self,
        name: &str,
        make: impl FnOnce() -> SeriesData,
    ) -> Option<&mut SeriesData> {
        if !self.series.contains_key(name) {
            if self.series.len() >= MAX_SERIES {
                self.dropped += 1;
                return None;
            }
            self.series.insert(name.to_owned(), make());
        }
        self.series.get_mut(name)
    }

    /// The schema of [`ChartData::to_batch`], with what the chart's axes need to say in
    /// its metadata (bucket width, whether y is a rate, the latest value shown).
    pub fn schema(&self) -> SchemaRef {
        let x = if self.config.chart == ChartKind::Bar {
            DataType::Utf8
        } else if self.x_is_time {
            DataType::Timestamp(TimeUnit::Millisecond, None)
        } else {
            DataType::Float64
        };
        let mut meta = std::collections::HashMap::new();
        let width = self.bucket_width();
        if width > 0.0 {
            meta.insert(META_BUCKET_WIDTH.to_owned(), width.to_string());
        }
        if self.is_rate() {
            meta.insert(META_RATE.to_owned(), "per_second".to_owned());
        }
        if let Some((_, shown)) = &self.latest {
            meta.insert(META_LATEST.to_owned(), shown.clone());
        }
        let (_, others) = self.shown_series();
        if others > 0 {
            meta.insert(META_OTHER_SERIES.to_owned(), others.to_string());
        }
        Arc::new(Schema::new_with_metadata(
            vec![
                Field::new("series", DataType::Utf8, false),
                Field::new("x", x, false),
                Field::new("y", DataType::Float64, false),
                Field::new("y_min", DataType::Float64, false),
                Field::new("y_max", DataType::Float64, false),
                Field::new("count", DataType::Int64, false),
                Field::new("partial", DataType::Boolean, false),
            ],
            meta,
        ))
    }

    /// Points held, over all series.
    pub fn points(&self) -> usize {
        self.series
            .values()
            .map(|s| match s {
                SeriesData::Line(d) => d.len(),
                SeriesData::Scatter(r) => r.points.len(),
                SeriesData::Bar(b, _) => b.len(),
                SeriesData::Merged(b) => b.len(),
            })
            .sum()
    }

    /// The chart data as one batch: series, x, y (line: the bucket mean, or without a y
    /// column the records per second over time, the records per bucket over numbers;
    /// bar: the aggregate), y_min, y_max, count, partial.
    pub fn to_batch(&self) -> Result<RecordBatch> {
        let mut series = Vec::new();
        let mut xf = Vec::new();
        let mut xs = Vec::new();
        let (mut y, mut lo, mut hi, mut count) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut partial = Vec::new();
        let width = self.bucket_width();
        // The grid and the data's extent, for partial buckets and rates.
        let extent = self
            .series
            .values()
            .filter_map(|s| match s {
                SeriesData::Line(d) => d.seen(),
                _ => None,
            })
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
        let is_partial = |start: f64| match extent {
            Some((lo, hi)) => width > 0.0 && (start + width > hi || start < lo),
            None => false,
        };
        let covered = |start: f64| match extent {
            Some((lo, hi)) if width > 0.0 => ((start + width).min(hi) - start.max(lo)).max(0.0),
            _ => 0.0,
        };
        let (shown, _) = self.shown_series();
        for (name, data) in &shown {
            let line_points = match data {
                SeriesData::Line(d) => Some(d.points()),
                SeriesData::Merged(b) => Some(b.clone()),
                _ => None,
            };
            if let Some(points) = line_points {
                for (x, a) in points {
                    series.push(name.clone());
                    xf.push(x);
                    let part = is_partial(x);
                    y.push(if self.is_rate() {
                        // Records per second of the time the bucket covers.
                        let span = if part { covered(x) } else { width };
                        a.count as f64 / (span.max(width / 1000.0) / 1000.0)
                    } else if self.config.y.is_empty() {
                        a.count as f64
                    } else {
                        a.sum / a.count as f64
                    });
                    lo.push(a.min);
                    hi.push(a.max);
                    count.push(a.count as i64);
                    partial.push(part);
                }
                continue;
            }
            match data {
                SeriesData::Scatter(r) => {
                    let mut pts = r.points.clone();
                    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                    for (x, v) in pts {
                        series.push(name.clone());
                        xf.push(x);
                        y.push(v);
                        lo.push(v);
                        hi.push(v);
                        count.push(1);
                        partial.push(false);
                    }
                }
                SeriesData::Bar(bars, _) => {
                    for (x, a) in bars {
                        series.push(name.clone());
                        xs.push(x.clone());
                        y.push(a.value(self.config.aggregate));
                        lo.push(a.min);
                        hi.push(a.max);
                        count.push(a.count as i64);
                        partial.push(false);
                    }
                }
                SeriesData::Line(_) | SeriesData::Merged(_) => {}
            }
        }
        let x: ArrayRef = if self.config.chart == ChartKind::Bar {
            Arc::new(StringArray::from(xs))
        } else if self.x_is_time {
            Arc::new(TimestampMillisecondArray::from(
                xf.iter().map(|v| *v as i64).collect::<Vec<_>>(),
            ))
        } else {
            Arc::new(Float64Array::from(xf))
        };
        RecordBatch::try_new(
            self.schema(),
            vec![
                Arc::new(StringArray::from(series)),
                x,
                Arc::new(Float64Array::from(y)),
                Arc::new(Float64Array::from(lo)),
                Arc::new(Float64Array::from(hi)),
                Arc::new(Int64Array::from(count)),
                Arc::new(BooleanArray::from(partial)),
            ],
        )
        .map_err(|e| Error::Internal(e.to_string()))
    }
}

impl LiveState for ChartData {
    fn add(&mut self, batch: RecordBatch) -> Result<()> {
        ChartData::add(self, &batch)
    }

    fn preview(&self, _records_in: u64) -> Result<(SchemaRef, Vec<RecordBatch>, u64)> {
        let batch = self.to_batch()?;
        let rows = batch.num_rows() as u64;
        Ok((self.schema(), vec![batch], rows))
    }

    fn report(self, stats: &mut NodeStats) {
        stats.records_out = self.points() as u64;
        stats.report = Some(Arc::new(SeriesSinkReport {
            dropped_records: self.dropped,
        }));
    }
}

/// Wires the sink to its input: a stream (live) or a table (once).
fn run(config: &SeriesSinkConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    if let Some(Value::Table(t)) = ctx.optional(&TABLE) {
        let mut chart = ChartData::new(config, &t.schema)?;
        for b in &t.batches {
            chart.add(b)?;
        }
        let batch = chart.to_batch()?;
        let rows = batch.num_rows() as u64;
        ctx.events
            .preview(ctx.id, PREVIEW, chart.schema(), vec![batch], rows);
        let stats = NodeStats {
            records_in: t.num_rows() as u64,
            records_out: rows,
            ..Default::default()
        }
        .with_report(SeriesSinkReport {
            dropped_records: chart.dropped,
        });
        return Ok(NodeOutput::finished(stats));
    }
    let input = ctx.stream(&RECORDS).map_err(|_| {
        Error::Invalid(format!(
            "connect a stream to '{}' or a table to '{}'",
            RECORDS.name, TABLE.name
        ))
    })?;
    let chart = ChartData::new(config, input.schema())?;
    let view = LiveView::new(ctx, PREVIEW, chart);
    let options = ReadOptions {
        start: super::start::position(
            config.starting_position,
            config.starting_position_timestamp,
            &config.starting_sequence_number,
        ),
        ..Default::default()
    };
    Ok(Wiring::new().operator(ctx.id, &input, view, options))
}
