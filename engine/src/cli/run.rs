//! `run` and `validate`: a whole project headless, its summary as text or JSON.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::api::clock::format_ms;
use crate::api::{ClockMode, Event, NodeStatus, NodeSummary, RunTarget};
use crate::engine::run_project_served;
use crate::nodes::emr_job::EmrJobReport;
use crate::project::Project;
use crate::stream::metrics::MetricsSummary;

/// What `tributary run` changes for one run, whatever the project says.
#[derive(Default)]
pub(super) struct RunOverrides {
    /// `--env`.
    pub env: Option<String>,
    /// `--aws-realism` / `--no-aws-realism`.
    pub aws_realism: Option<bool>,
    /// `--clock`.
    pub clock: Option<ClockMode>,
    /// `--clock-speed`.
    pub clock_speed: Option<f64>,
    /// `--replay-from` with `--from` or `--sequence-number`.
    pub replay: Option<crate::api::Replay>,
    /// `--compare-with`.
    pub compare_with: Option<String>,
}

pub(super) fn run(
    path: &Path,
    json: bool,
    node: Option<String>,
    serve: Option<crate::aws::ServeOptions>,
    overrides: RunOverrides,
    out: &mut dyn Write,
) -> Result<i32, String> {
    let mut project = crate::project::Project::load(path).map_err(|e| e.to_string())?;
    if let Some(on) = overrides.aws_realism {
        project.aws_realism = on;
    }
    if let Some(env) = overrides.env {
        project.environment_named(&env).map_err(|e| e.to_string())?;
        project.environment = env;
    }
    if let Some(clock) = overrides.clock {
        project.clock = clock;
    }
    if let Some(speed) = overrides.clock_speed {
        project.clock_speed = speed;
    }
    let base_dir = super::project_dir(path)?;
    // A clock setting that cannot run is refused before anything starts; a replay runs
    // on a clock of its own, from its first record.
    let clock = match &overrides.replay {
        Some(r) => match project.node(&r.node).map(|n| &n.config) {
            // The replay's clock starts at its first record (when it cannot run, the
            // engine says why).
            Some(crate::nodes::NodeConfig::Stream(c)) => {
                crate::nodes::stream::replay::start_ms(c, &base_dir, &r.node, &r.from)
                    .ok()
                    .map(|start| crate::api::Clock::simulated(start, 0.0))
            }
            _ => None,
        },
        None => Some(project.run_clock().map_err(|e| e.to_string())?),
    };
    let mut simulated = clock
        .filter(|c| c.is_simulated())
        .map(|clock| SimulatedTime {
            describe: clock.describe(),
            from_ms: clock.now_ms(),
            to_ms: clock.now_ms(),
        });
    // The run a replay is compared with, as it stood before the replay.
    let original = match &overrides.replay {
        Some(_) => super::history::original_run(&base_dir, overrides.compare_with.as_deref())?,
        None => None,
    };
    let replaying = overrides.replay.is_some();
    let target = match (overrides.replay, node) {
        (Some(r), _) => RunTarget::Replay(r),
        (None, Some(n)) => RunTarget::Node(n),
        (None, None) => RunTarget::All,
    };
    let mut logs = Vec::new();
    let mut metrics: BTreeMap<String, MetricsSummary> = Default::default();
    let serving = serve.is_some();
    if serving {
        interrupt::install();
    }
    let aws_realism = project.aws_realism;
    let shape = project.clone();
    let (status, summary) = run_project_served(
        project,
        base_dir.clone(),
        target,
        serve,
        interrupt::requested,
        |ev| match ev {
        Event::Serving {
            address: Some(a), ..
        } => eprintln!(
            "serving the AWS APIs at http://{a} (Kinesis, Firehose, S3); point clients there with AWS_ENDPOINT_URL=http://{a} and the access key id 'test'. Ctrl+C stops the run."
        ),
        Event::Log { node, message, .. } => {
            let line = format!("{}: {message}", node.as_deref().unwrap_or("engine"));
            if serving {
                // A served run goes on until Ctrl+C: say what happens as it happens.
                eprintln!("{line}");
            }
            logs.push(line);
        }
        Event::Metrics { node, sample, .. } => {
            metrics.entry(node.clone()).or_default().add(sample);
        }
        Event::Clock { now_ms, .. } => {
            if let Some(s) = simulated.as_mut() {
                s.to_ms = s.to_ms.max(*now_ms);
            }
        }
        _ => {}
    })
    .map_err(|e| e.to_string())?;
    if serving {
        // Already printed as they came.
        logs.clear();
    }
    // A replay: each node compared with the original run.
    let comparison = match (replaying, &original) {
        (true, Some(o)) => Some(super::history::compare_replay(&base_dir, o)),
        _ => None,
    };
    if replaying && original.is_none() {
        logs.push("engine: no earlier run is recorded to compare the replay with".to_owned());
    }
    let run = Finished {
        comparison: comparison.as_ref(),
        status,
        summary: &summary,
        metrics: &metrics,
        logs: &logs,
        aws_realism,
        simulated,
        conservation: crate::engine::conservation::conservation(&shape, &summary),
    };
    if json {
        run.print_json(out)?;
    } else {
        for l in &logs {
            eprintln!("warning: {l}");
        }
        run.print_text(out)?;
    }
    for s in summary.iter().filter(|s| s.status == NodeStatus::Error) {
        if let Some(e) = &s.error {
            eprintln!("error: {e}");
        }
    }
    // A served run ends with Ctrl+C: stopped that way, it went as it should.
    let stopped_on_purpose = serving && status == NodeStatus::Stopped && interrupt::requested();
    Ok(if status == NodeStatus::Ok || stopped_on_purpose {
        0
    } else {
        1
    })
}

/// A finished run, for printing.
struct Finished<'a> {
    /// A replay compared with the original run (or why it could not be).
    comparison: Option<&'a Result<super::history::ReplayComparison, String>>,
    status: NodeStatus,
    summary: &'a [NodeSummary],
    metrics: &'a BTreeMap<String, MetricsSummary>,
    logs: &'a [String],
    aws_realism: bool,
    /// A run on a simulated clock: the time it covered.
    simulated: Option<SimulatedTime>,
    conservation: crate::engine::conservation::Conservation,
}

/// The simulated time a run covered.
struct SimulatedTime {
    describe: String,
    from_ms: i64,
    to_ms: i64,
}

impl SimulatedTime {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "clock": self.describe,
            "from": format_ms(self.from_ms),
            "to": format_ms(self.to_ms),
            "simulated_ms": self.to_ms - self.from_ms,
        })
    }
}

impl Finished<'_> {
    /// The summary as JSON: status, one object per node (with its metrics), warnings.
    fn print_json(&self, out: &mut dyn Write) -> Result<(), String> {
        let (status, summary, metrics, logs) = (self.status, self.summary, self.metrics, self.logs);
        let nodes: Vec<serde_json::Value> = summary
            .iter()
            .map(|s| {
                serde_json::json!({
                    "id": s.id,
                    "kind": s.kind,
                    "status": s.status,
                    "records_in": s.records_in,
                    "records_out": s.records_out,
                    "error": s.error,
                    "elapsed_ms": s.stats.elapsed_ms,
                    "cost": s.stats.cost,
                    "throttled": s.stats.streaming.map_or(0, |t| t.throttled),
                    "expired": s.stats.streaming.map_or(0, |t| t.expired),
                    "stats": s.stats,
                    "metrics": metrics.get(&s.id),
                })
            })
            .collect();
        let (cost_usd, per_month) = self.cost_usd();
        let doc = serde_json::json!({
            "status": status,
            "aws_realism": self.aws_realism,
            "clock": self.simulated.as_ref().map_or(serde_json::json!("wall"), SimulatedTime::json),
            "cost_usd": cost_usd,
            "cost_usd_per_month": per_month,
            "prices": self.summary.iter().find_map(|s| Some(s.stats.cost.as_ref()?.basis.clone())),
            "conservation": self.conservation,
            "replay": self.comparison.map(|c| match c {
                Ok(c) => c.json(),
                Err(e) => serde_json::json!({ "error": e }),
            }),
            "nodes": nodes,
            "warnings": logs,
        });
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        writeln!(out, "{text}").map_err(|e| e.to_string())?;
        Ok(())
    }

    /// The cost table: per node its items, this run and per month at this rate.
    fn print_cost(&self, out: &mut dyn Write) -> Result<(), String> {
        let priced: Vec<_> = self
            .summary
            .iter()
            .filter_map(|s| Some((s, s.stats.cost.as_ref()?)))
            .collect();
        if priced.is_empty() {
            return Ok(());
        }
        let w = |e: std::io::Error| e.to_string();
        writeln!(
            out,
            "\nWhat this would cost in AWS ({}):",
            priced[0].1.basis
        )
        .map_err(w)?;
        writeln!(
            out,
            "{:<20} {:<52} {:>18} {:>12} {:>12}",
            "cost (AWS)", "item", "quantity", "this run $", "per month $"
        )
        .map_err(w)?;
        for (s, cost) in &priced {
            for (i, item) in cost.items.iter().enumerate() {
                let month = cost
                    .item_per_month(item)
                    .map(|m| format!("{m:.2}"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{:<20} {:<52} {:>18} {:>12.6} {:>12}",
                    if i == 0 { s.id.as_str() } else { "" },
                    item.what,
                    format!(
                        "{} {}",
                        crate::api::cost::quantity(item.quantity),
                        item.unit
                    ),
                    item.usd,
                    month
                )
                .map_err(w)?;
            }
        }
        let (run, month) = self.cost_usd();
        writeln!(
            out,
            "{:<20} {:<52} {:>18} {:>12.6} {:>12.2}",
            "total", "", "", run, month
        )
        .map_err(w)?;
        Ok(())
    }

    /// What the run would have cost in AWS (the sum over nodes), and what the nodes that
    /// run continuously would cost in a month at this rate.
    fn cost_usd(&self) -> (f64, f64) {
        let costs = self.summary.iter().filter_map(|s| s.stats.cost.as_ref());
        costs.fold((0.0, 0.0), |(run, month), c| {
            (run + c.usd, month + c.usd_per_month.unwrap_or(0.0))
        })
    }

    /// The summary as text: a line per node, EMR steps, and streaming metrics.
    fn print_text(&self, out: &mut dyn Write) -> Result<(), String> {
        let (summary, metrics) = (self.summary, self.metrics);
        for s in summary {
            writeln!(
                out,
                "{:<20} {:<10} {:<8} in {:>10}  out {:>10}  {:>6} ms{}",
                s.id,
                s.kind,
                format!("{:?}", s.status).to_lowercase(),
                s.records_in,
                s.records_out,
                s.stats.elapsed_ms,
                s.error
                    .as_ref()
                    .map(|e| format!("  {e}"))
                    .unwrap_or_default()
            )
            .map_err(|e| e.to_string())?;
        }
        for s in summary {
            let Some(job) = s.stats.report::<EmrJobReport>() else {
                continue;
            };
            writeln!(out, "\n{} steps", s.id).map_err(|e| e.to_string())?;
            for st in &job.steps {
                writeln!(
                    out,
                    "  {:<24} {:<4} {:<10} {:>10} rows {:>8} ms  {}",
                    st.step,
                    st.kind,
                    st.status,
                    st.rows,
                    st.duration_ms,
                    st.error.as_deref().unwrap_or_default()
                )
                .map_err(|e| e.to_string())?;
            }
        }
        self.print_cost(out)?;
        match self.comparison {
            Some(Ok(c)) => write!(out, "{}", c.text()).map_err(|e| e.to_string())?,
            Some(Err(e)) => {
                writeln!(out, "\nthe replay was not compared: {e}").map_err(|e| e.to_string())?
            }
            None => {}
        }
        let c = &self.conservation;
        if !c.flows.is_empty() {
            writeln!(
                out,
                "\nconservation ({} stream reader(s)): in {} = delivered {} + failed {} + expired {} + in flight {}{}",
                c.flows.len(),
                c.r#in,
                c.delivered,
                c.failed,
                c.expired,
                c.in_flight,
                if c.balanced {
                    String::new()
                } else {
                    let off: Vec<String> = c
                        .flows
                        .iter()
                        .filter(|f| !f.balances())
                        .map(|f| format!("{} → {}", f.stream, f.reader))
                        .collect();
                    format!("  NOT BALANCED: {}", off.join(", "))
                }
            )
            .map_err(|e| e.to_string())?;
        }
        if self.aws_realism {
            writeln!(
                out,
                "\nAWS realism: on (Kinesis write limits, retention deadline)"
            )
            .map_err(|e| e.to_string())?;
        }
        if let Some(s) = &self.simulated {
            writeln!(
                out,
                "clock: {} from {} to {} ({} simulated; streaming nodes' times are simulated)",
                s.describe,
                format_ms(s.from_ms),
                format_ms(s.to_ms),
                crate::api::clock::format_duration_ms(s.to_ms - s.from_ms),
            )
            .map_err(|e| e.to_string())?;
        }
        for s in summary {
            let Some(t) = s
                .stats
                .streaming
                .filter(|t| t.throttled > 0 || t.expired > 0)
            else {
                continue;
            };
            let hot = metrics
                .get(&s.id)
                .and_then(|m| m.hot_shard)
                .map(|h| format!(" (hot shard: shardId-{h:012})"))
                .unwrap_or_default();
            writeln!(
                out,
                "{}: {} put(s) throttled by a shard's write limit{hot}, {} record(s) expired before they were read",
                s.id, t.throttled, t.expired
            )
            .map_err(|e| e.to_string())?;
        }
        if !metrics.is_empty() {
            writeln!(
                out,
                "\n{:<20} {:>12} {:>12} {:>10} {:>9} {:>10} {:>8}",
                "streaming node",
                "peak rec/s",
                "mean rec/s",
                "max lag",
                "lag ms",
                "batch ms",
                "waiting"
            )
            .map_err(|e| e.to_string())?;
            for (id, m) in metrics {
                writeln!(
                    out,
                    "{:<20} {:>12.0} {:>12.0} {:>10} {:>9} {:>10.2} {:>7.0}%",
                    id,
                    // Sources and sinks count one side only: the busier side stands.
                    m.peak_records_out_per_sec.max(m.peak_records_in_per_sec),
                    m.mean_records_out_per_sec.max(m.mean_records_in_per_sec),
                    m.max_lag_records,
                    m.max_lag_ms,
                    m.mean_batch_latency_ms,
                    m.max_backpressure * 100.0
                )
                .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }
}

pub(super) fn validate(path: &Path, out: &mut dyn Write) -> Result<i32, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    match Project::from_json(&text) {
        Ok(p) => {
            writeln!(
                out,
                "ok: {} node(s), {} edge(s)",
                p.nodes.len(),
                p.edges.len()
            )
            .map_err(|e| e.to_string())?;
            Ok(0)
        }
        Err(problems) => {
            for p in problems {
                eprintln!("{p}");
            }
            Ok(1)
        }
    }
}

/// Ctrl+C (SIGINT) and SIGTERM during a served run: the first asks the run to stop (it
/// drains and flushes); a second one ends the process as usual.
mod interrupt {
    use std::sync::atomic::{AtomicBool, Ordering};

    static REQUESTED: AtomicBool = AtomicBool::new(false);

    extern "C" fn on_signal(signal: libc::c_int) {
        REQUESTED.store(true, Ordering::SeqCst);
        // SAFETY: restoring the default disposition is async-signal-safe.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
        }
    }

    /// Installs the handler for SIGINT and SIGTERM.
    pub fn install() {
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: the handler only stores to an atomic and calls `signal`, both
        // async-signal-safe.
        unsafe {
            libc::signal(libc::SIGINT, handler);
            libc::signal(libc::SIGTERM, handler);
        }
    }

    /// Whether a stop was asked for.
    pub fn requested() -> bool {
        REQUESTED.load(Ordering::SeqCst)
    }
}
