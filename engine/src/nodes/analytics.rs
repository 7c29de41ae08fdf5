//! Streaming analytics node (Kinesis-Data-Analytics-like): event-time windows with a
//! watermark, and a SQL aggregate per window.
//!
//! Tumbling windows cut event time into fixed, adjacent intervals; hopping windows have a
//! size and a slide, so they overlap. Session windows group a key's events that are less
//! than a gap apart: a session runs from its first event to its last event plus the gap. The watermark is the largest event time seen minus
//! the allowed out-of-orderness; a window closes when the watermark passes its end, and
//! its rows go through the SQL (the window is the table `input`). The results carry
//! `window_start` and `window_end`. A record for a window that has already closed is late:
//! it goes to the `late` output, or is counted and dropped.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::form::{Editor, Field, FieldProblem, Problems, When};
use super::operator::{Hold, Operator, Outputs, ReadOptions, Wiring, output_topic};
use super::ports::RECORDS_IN;
use super::start::StartingPosition;
use super::{Category, Kind, NodeContext, NodeOutput, NodeStats, PortSpec, PortType};
use crate::arrow::compute::concat_batches;
use crate::arrow::datatypes::{DataType, Field as ArrowField, Schema, SchemaRef, TimeUnit};
use crate::datafusion::prelude::SessionContext;
use crate::error::{Error, Result};
use crate::lake::sql::describe_datafusion_error;
use crate::stream::topic::Delivery;
use crate::stream::windows::{Assigner, Sessions, Windows, event_times, with_window};

/// The aggregate of each closed window.
pub const RESULTS: PortSpec = PortSpec::output("results", PortType::Stream);
/// Records that came after their window closed.
pub const LATE: PortSpec = PortSpec::output("late", PortType::Stream);

crate::choice_enum! {
    /// How event time is cut into windows.
    pub enum WindowKind {
        /// Fixed, adjacent intervals.
        Tumbling = "tumbling",
        /// Fixed intervals starting every slide: they overlap.
        Hopping = "hopping",
        /// A key's events less than a gap apart.
        Session = "session",
    }
}

crate::choice_enum! {
    /// What happens to records for a window that has closed.
    pub enum LateRecords {
        /// They go to the `late` output.
        Output = "output",
        /// They are counted and dropped.
        Drop = "drop",
    }
}

/// Analytics settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyticsConfig {
    /// The event-time column (a timestamp or milliseconds since the epoch).
    pub time_column: String,
    /// `tumbling`, `hopping` or `session`.
    pub window: WindowKind,
    /// Window length, ms.
    pub size_ms: u64,
    /// Hopping windows: how far each window starts after the previous one, ms.
    pub slide_ms: u64,
    /// Session windows: a session ends after this much event time without events, ms.
    pub gap_ms: u64,
    /// Session windows: the column whose value each session belongs to (e.g. `user_id`);
    /// empty: one session stream for all records.
    pub session_key: String,
    /// How far out of order events may arrive before they count as late, ms.
    pub max_out_of_orderness_ms: u64,
    /// `output` sends late records to the `late` output; `drop` counts and drops them.
    pub late: LateRecords,
    /// The aggregate over each window's rows (the table `input`).
    pub sql: String,
    /// Where reading starts without a checkpoint (`StartingPosition`).
    pub starting_position: StartingPosition,
    /// For `AT_TIMESTAMP`: seconds since the Unix epoch.
    pub starting_position_timestamp: f64,
    /// For `AT_`/`AFTER_SEQUENCE_NUMBER`: one sequence number, or one per shard.
    pub starting_sequence_number: String,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        Self {
            time_column: "event_time".to_owned(),
            window: WindowKind::Tumbling,
            size_ms: 10_000,
            slide_ms: 5_000,
            gap_ms: 30_000,
            session_key: String::new(),
            max_out_of_orderness_ms: 5_000,
            late: LateRecords::Output,
            sql: "SELECT COUNT(*) AS events FROM input".to_owned(),
            starting_position: StartingPosition::TrimHorizon,
            starting_position_timestamp: 0.0,
            starting_sequence_number: String::new(),
        }
    }
}

/// The streaming analytics node.
pub struct AnalyticsKind;

impl Kind for AnalyticsKind {
    type Config = AnalyticsConfig;
    const NAME: &'static str = "analytics";
    const CATEGORY: Category = Category::Streaming;
    const DESCRIPTION: &'static str = "Event-time windows (tumbling, hopping, session) with a watermark and a SQL aggregate per window.";
    const ICON: &'static str = "⏱";
    const INPUTS: &'static [PortSpec] = &[RECORDS_IN];
    const OUTPUTS: &'static [PortSpec] = &[RESULTS, LATE];
    const FIELDS: &'static [Field] = &[
        Field::new("time_column", "Event-time column", Editor::Column,
            "The event-time column (a timestamp or milliseconds since the epoch)."),
        Field::new("window", "Window", Editor::Choice(WindowKind::NAMES),
            "tumbling (adjacent), hopping (overlapping) or session (per key, ended by a gap)."),
        Field::new("size_ms", "Size (ms)", Editor::Number, "Window length.")
            .when(When::IsNot("window", &["session"])),
        Field::new("slide_ms", "Slide (ms)", Editor::Number,
            "Hopping windows: how far each window starts after the previous one.")
            .when(When::Is("window", &["hopping"])),
        Field::new("gap_ms", "Gap (ms)", Editor::Number,
            "Session windows: a session ends after this much event time without events.")
            .when(When::Is("window", &["session"])),
        Field::new("session_key", "Session key", Editor::Column,
            "Session windows: the column whose value each session belongs to (e.g. user_id); empty: one session stream for all records.")
            .when(When::Is("window", &["session"])),
        Field::new("max_out_of_orderness_ms", "Max out-of-orderness (ms)", Editor::Number,
            "How far out of order events may arrive before they count as late."),
        Field::new("late", "Late records", Editor::Choice(LateRecords::NAMES),
            "output sends late records to the late output; drop counts and drops them."),
        Field::new("sql", "SQL per window", Editor::Sql,
            "The aggregate over each window's rows (the table input)."),
        super::start::FIELDS[0],
        super::start::FIELDS[1],
        super::start::FIELDS[2],
    ];

    fn validate(config: &AnalyticsConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        let session = config.window == WindowKind::Session;
        p.check(
            !session || config.gap_ms > 0,
            "gap_ms",
            "must be at least 1",
        );
        p.check(
            session || config.size_ms > 0,
            "size_ms",
            "must be at least 1",
        );
        p.check(
            config.window != WindowKind::Hopping
                || (config.slide_ms > 0 && config.slide_ms <= config.size_ms),
            "slide_ms",
            "must be between 1 and size_ms",
        );
        p.check_result("sql", crate::lake::sql::check_read_only(&config.sql));
        super::start::check(
            &mut p,
            config.starting_position,
            config.starting_position_timestamp,
            &config.starting_sequence_number,
        );
        p.into_vec()
    }

    async fn run(config: &AnalyticsConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        run(config, ctx).await
    }

    /// A Managed Service for Apache Flink application: its KPUs and the orchestration
    /// KPU, for as long as it ran.
    fn cost(
        _config: &AnalyticsConfig,
        stats: &NodeStats,
        prices: &crate::api::cost::Prices,
    ) -> Option<crate::api::cost::Cost> {
        let f = &prices.flink;
        let mut cost = crate::api::cost::Cost::default();
        cost.add(
            "Managed Service for Apache Flink",
            (f.kpus + f.orchestration_kpus) * stats.elapsed_ms as f64 / 3.6e6,
            "KPU-hour",
            f.kpu_hour,
            1.0,
        );
        Some(cost.continuous(stats.elapsed_ms as f64 / 1000.0))
    }
}

/// What an analytics node reports.
#[derive(Clone, Debug, Serialize)]
pub struct AnalyticsReport {
    /// Records that came after their window closed.
    pub late_records: u64,
    /// Windows closed (and aggregated).
    pub windows: u64,
}

/// Assigns records to windows and aggregates each window as the watermark closes it.
struct Aggregate {
    windows: Assigner,
    time_index: usize,
    session: SessionContext,
    sql: String,
    late: LateRecords,
    in_schema: SchemaRef,
    out_schema: SchemaRef,
    late_count: u64,
    windows_closed: u64,
}

impl Aggregate {
    /// Aggregates the windows the watermark passed (all of them when `flush`).
    async fn close(&mut self, flush: bool, out: &Outputs) -> Result<()> {
        for (start, end, rows) in self.windows.close(flush) {
            let all = concat_batches(&self.in_schema, &rows)
                .map_err(|e| Error::Internal(e.to_string()))?;
            let results = crate::lake::sql::sql_over_input(
                &self.session,
                &self.sql,
                &self.in_schema,
                vec![all],
            )
            .await
            .map_err(|e| Error::Sql(describe_datafusion_error(&e)))?;
            for b in results {
                out.send(&RESULTS, with_window(&b, &self.out_schema, start, end)?)
                    .await?;
            }
            self.windows_closed += 1;
        }
        Ok(())
    }
}

impl Operator for Aggregate {
    async fn process(&mut self, read: Vec<Delivery>, out: &Outputs) -> Result<Hold> {
        // The watermark advances batch by batch: windows close as soon as it passes.
        for d in read {
            let times = event_times(&d.batch, self.time_index)?;
            if let Some(late) = self.windows.add(d.shard, &d.batch, &times)? {
                self.late_count += late.num_rows() as u64;
                match self.late {
                    LateRecords::Output => out.send_failed(&LATE, late).await?,
                    LateRecords::Drop => out.failed(late.num_rows() as u64),
                }
            }
            self.close(false, out).await?;
        }
        // Records of open windows are not done yet: on a durable input they are
        // checkpointed with the windows (`state`); otherwise the input is held until no
        // window is open, and a restart recomputes the windows that were.
        Ok(if self.windows.is_idle() {
            Hold::Released
        } else {
            Hold::Holding
        })
    }

    async fn finish(&mut self, out: &Outputs) -> Result<()> {
        self.close(true, out).await
    }

    fn state(&self) -> Option<(serde_json::Value, Vec<crate::arrow::array::RecordBatch>)> {
        let s = self.windows.state();
        Some((s.meta, s.batches))
    }

    fn restore(
        &mut self,
        meta: serde_json::Value,
        batches: Vec<crate::arrow::array::RecordBatch>,
    ) -> Result<()> {
        self.windows
            .restore(crate::stream::windows::WindowState { meta, batches })
    }

    fn report(self, stats: &mut NodeStats) {
        stats.report = Some(Arc::new(AnalyticsReport {
            late_records: self.late_count,
            windows: self.windows_closed,
        }));
    }
}

/// Wires the analytics node.
async fn run(config: &AnalyticsConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let input = ctx.stream(&RECORDS_IN)?;
    let in_schema = input.schema().clone();
    let time_index = in_schema
        .index_of(&config.time_column)
        .map_err(|_| Error::no_such_column("time_column", &config.time_column, &in_schema))?;
    let session_key =
        if config.window == WindowKind::Session && !config.session_key.is_empty() {
            Some(in_schema.index_of(&config.session_key).map_err(|_| {
                Error::no_such_column("session_key", &config.session_key, &in_schema)
            })?)
        } else {
            None
        };
    let session = SessionContext::new();
    let agg_schema = crate::lake::sql::schema_over_input(&session, &config.sql, &in_schema).await?;
    let window_field = |name: &str| {
        ArrowField::new(
            name,
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        )
    };
    let mut fields = vec![window_field("window_start"), window_field("window_end")];
    fields.extend(agg_schema.fields().iter().map(|f| f.as_ref().clone()));
    let out_schema: SchemaRef = Arc::new(Schema::new(fields));
    let results = output_topic(ctx, &RESULTS, out_schema.clone())?;
    let late = output_topic(ctx, &LATE, in_schema.clone())?;
    let shards = input.shard_count();
    let windows = match config.window {
        WindowKind::Session => Assigner::Sessions(
            Sessions::new(config.gap_ms, config.max_out_of_orderness_ms).with_shards(shards),
            session_key,
        ),
        WindowKind::Tumbling | WindowKind::Hopping => {
            let slide = if config.window == WindowKind::Hopping {
                config.slide_ms
            } else {
                config.size_ms
            };
            Assigner::Windows(
                Windows::new(config.size_ms, slide, config.max_out_of_orderness_ms)
                    .with_shards(shards),
            )
        }
    };
    let op = Aggregate {
        windows,
        time_index,
        session,
        sql: config.sql.clone(),
        late: config.late,
        in_schema,
        out_schema,
        late_count: 0,
        windows_closed: 0,
    };
    let options = ReadOptions {
        max_records: 8192,
        start: super::start::position(
            config.starting_position,
            config.starting_position_timestamp,
            &config.starting_sequence_number,
        ),
        ..Default::default()
    };
    Ok(Wiring::new()
        .output(&RESULTS, results)
        .output(&LATE, late)
        .operator(ctx.id, &input, op, options))
}
