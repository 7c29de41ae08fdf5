//! Series sink: the data behind a live chart, bounded in memory whatever the input rate.
//!
//! - `line`: y over x (a time or a number) per series, downsampled into x buckets that
//!   widen as the data grows, so at most `max_points` buckets per series are kept; each
//!   bucket keeps the mean, min, max and count of y.
//! - `scatter`: a uniform reservoir sample of `max_points` (x, y) points per series.
//! - `bar`: one bar per x value (a category) and series, aggregating y by `aggregate`;
//!   at most `max_points` categories (later ones are counted and dropped).
//!
//! The chart data is sent as a preview of the port `series` about twice a second, with the
//! columns `series`, `x`, `y`, `y_min`, `y_max`, `count`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::form::{Editor, Field as FormField, FieldProblem, Problems, When};
use super::operator::{LiveState, LiveView, ReadOptions, Wiring};
use super::{Category, Kind, NodeContext, NodeOutput, NodeStats, PortSpec, PortType, Value};
use crate::arrow::array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use crate::arrow::compute::cast;
use crate::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use crate::error::{Error, Result};
use crate::stream::series::Reservoir;
pub use crate::stream::series::{Agg, Aggregate, Downsampled};

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
            "line (y over time or a number), bar (one bar per category) or scatter.",
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
            "A number; empty counts records.",
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
            "max_points",
            "Max points",
            Editor::Number,
            "Points (line buckets, scatter points, bars) kept per series.",
        ),
    ];

    fn validate(config: &SeriesSinkConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        p.check(!config.x.is_empty(), "x", "choose the x column");
        p.check(
            (2..=100_000).contains(&config.max_points),
            "max_points",
            "must be between 2 and 100000",
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

enum SeriesData {
    Line(Downsampled),
    Scatter(Reservoir),
    Bar(Vec<(String, Agg)>, HashMap<String, usize>),
}

/// All series of one chart.
pub struct ChartData {
    config: SeriesSinkConfig,
    series: BTreeMap<String, SeriesData>,
    rng: ChaCha8Rng,
    /// Records dropped because they had no x or y, or too many series or categories.
    pub dropped: u64,
    x_is_time: bool,
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
        })
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
            for i in 0..n {
                let (Some(x), Some(y), Some(s)) = (&xs[i], ys[i], &series[i]) else {
                    self.dropped += 1;
                    continue;
                };
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
                        SeriesData::Line(Downsampled::new(max))
                    }
                }) {
                    match data {
                        SeriesData::Line(d) => d.add(x, y),
                        SeriesData::Scatter(r) => r.add(x, y, &mut rng),
                        SeriesData::Bar(..) => {}
                    }
                }
            }
            self.rng = rng;
        }
        Ok(())
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

    /// The schema of [`ChartData::to_batch`].
    pub fn schema(&self) -> SchemaRef {
        let x = if self.config.chart == ChartKind::Bar {
            DataType::Utf8
        } else if self.x_is_time {
            DataType::Timestamp(TimeUnit::Millisecond, None)
        } else {
            DataType::Float64
        };
        Arc::new(Schema::new(vec![
            Field::new("series", DataType::Utf8, false),
            Field::new("x", x, false),
            Field::new("y", DataType::Float64, false),
            Field::new("y_min", DataType::Float64, false),
            Field::new("y_max", DataType::Float64, false),
            Field::new("count", DataType::Int64, false),
        ]))
    }

    /// Points held, over all series.
    pub fn points(&self) -> usize {
        self.series
            .values()
            .map(|s| match s {
                SeriesData::Line(d) => d.len(),
                SeriesData::Scatter(r) => r.points.len(),
                SeriesData::Bar(b, _) => b.len(),
            })
            .sum()
    }

    /// The chart data as one batch: series, x, y (line: the bucket mean, or the count of
    /// records when there is no y column; bar: the aggregate), y_min, y_max, count.
    pub fn to_batch(&self) -> Result<RecordBatch> {
        let mut series = Vec::new();
        let mut xf = Vec::new();
        let mut xs = Vec::new();
        let (mut y, mut lo, mut hi, mut count) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (name, data) in &self.series {
            match data {
                SeriesData::Line(d) => {
                    for (x, a) in d.points() {
                        series.push(name.clone());
                        xf.push(x);
                        // Without a y column the line counts records per bucket.
                        y.push(if self.config.y.is_empty() {
                            a.count as f64
                        } else {
                            a.sum / a.count as f64
                        });
                        lo.push(a.min);
                        hi.push(a.max);
                        count.push(a.count as i64);
                    }
                }
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
                    }
                }
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
    Ok(Wiring::new().operator(ctx.id, &input, view, ReadOptions::default()))
}
