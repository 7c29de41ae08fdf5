//! The headless command line: `crawl`, `query`, `run`, `validate` and `catalog`.
//!
//! Every command drives the engine through its API ([`crate::engine`]): `crawl` and
//! `query` build a small graph (bucket → crawler → catalog, or catalog → query) and run
//! it. Results go to stdout; errors go to stderr with a non-zero exit code.

use std::io::{IsTerminal as _, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::api::{Event, NodeStatus, NodeSummary, RunTarget};
use crate::arrow::array::{RecordBatch, StringArray, UInt32Array, UInt64Array};
use crate::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use crate::engine::run_project_blocking;
use crate::lake::catalog::{CatalogStore, DEFAULT_DATABASE};
use crate::lake::crawler::{SchemaChangePolicy, TableChange};
use crate::lake::sql::{OutputFormat, QueryStats, format_batches};
use crate::nodes::NodeConfig;
use crate::nodes::bucket::{BucketConfig, OBJECTS};
use crate::nodes::catalog::{CRAWLERS, CatalogConfig, CatalogReport};
use crate::nodes::crawler::{CrawlerConfig, SOURCE, TABLES};
use crate::nodes::emr_job::EmrJobReport;
use crate::nodes::ports::{CATALOG_IN, CATALOG_OUT};
use crate::nodes::query::QueryConfig;
use crate::project::{Edge, Node, PortRef, Position, Project};
use crate::stream::metrics::MetricsSummary;

/// Tributary: design and run data pipelines.
#[derive(Debug, Parser)]
#[command(
    name = "tributary",
    version,
    about = "Tributary: design and run batch and streaming data pipelines.\n\nWith no command, `tributary [project.json]` opens the desktop designer."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: CliCommand,
}

/// Headless commands.
#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Crawl a folder into a catalog and print the tables found.
    Crawl {
        /// The folder to crawl (a bucket).
        folder: PathBuf,
        /// The catalog file (created when missing).
        #[arg(long)]
        catalog: PathBuf,
        /// Database the tables go into.
        #[arg(long, default_value = DEFAULT_DATABASE)]
        database: String,
        /// Folder depth that makes a table.
        #[arg(long, default_value_t = 1)]
        table_level: usize,
        /// Records sampled per file.
        #[arg(long, default_value_t = 1000)]
        sample_rows: usize,
        /// What to do when a table's schema changed.
        #[arg(long, value_enum, default_value_t = SchemaChangePolicy::Update)]
        schema_change_policy: SchemaChangePolicy,
    },
    /// Run read-only SQL over a catalog.
    Query {
        /// The catalog file.
        #[arg(long)]
        catalog: PathBuf,
        /// How to print the result.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
        /// Run on this Apache Ballista scheduler (`df://host:port`) instead of in-process.
        #[arg(long)]
        scheduler: Option<String>,
        /// The SQL statement.
        sql: String,
    },
    /// Run a whole project headless.
    Run {
        /// The project file.
        project: PathBuf,
        /// Print a JSON summary per node.
        #[arg(long)]
        json: bool,
        /// Run only this node and what it needs.
        #[arg(long)]
        node: Option<String>,
        /// The environment to run on: `local` or one of the project's `environments`
        /// (default: the project's own choice).
        #[arg(long)]
        env: Option<String>,
    },
    /// Check a project file; exit 0 when valid, else print one line per problem.
    Validate {
        /// The project file.
        project: PathBuf,
    },
    /// Rewrite a valid project file in the canonical form the app saves (every setting
    /// spelled out, stable key order), atomically.
    Fmt {
        /// The project file.
        project: PathBuf,
    },
    /// List the node kinds with their ports and settings (what the editor's forms show).
    Kinds {
        /// Only this kind.
        kind: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Inspect a catalog.
    Catalog {
        /// The catalog file.
        #[arg(long)]
        catalog: PathBuf,
        /// What to show.
        #[command(subcommand)]
        what: CatalogCommand,
    },
}

/// Catalog inspection.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// List databases and tables.
    Tables,
    /// Show a table's columns, partition keys and partitions.
    Show {
        /// `db.table` or a table in the default database.
        table: String,
    },
    /// List a table's schema versions.
    History {
        /// `db.table` or a table in the default database.
        table: String,
    },
}

/// The subcommand names, so a combined GUI binary can tell a CLI call from a file.
pub const SUBCOMMANDS: &[&str] = &[
    "crawl", "query", "run", "validate", "fmt", "kinds", "catalog", "help",
];

/// Runs the CLI with `args` (including the program name); returns the exit code.
pub fn main_with_args(args: impl IntoIterator<Item = String>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let mut stdout = std::io::stdout().lock();
    match execute(cli.command, &mut stdout) {
        Ok(code) => code,
        Err(message) => {
            let _ = stdout.flush();
            eprintln!("error: {message}");
            1
        }
    }
}

/// Runs one command, printing results to `out`. Returns the exit code, or the error
/// message for stderr.
pub fn execute(command: CliCommand, out: &mut dyn Write) -> Result<i32, String> {
    match command {
        CliCommand::Crawl {
            folder,
            catalog,
            database,
            table_level,
            sample_rows,
            schema_change_policy,
        } => crawl(
            &folder,
            &catalog,
            CrawlerConfig {
                database,
                table_level,
                sample_rows,
                schema_change_policy,
                ..Default::default()
            },
            out,
        ),
        CliCommand::Query {
            catalog,
            format,
            scheduler,
            sql,
        } => query(&catalog, &sql, format, scheduler, out),
        CliCommand::Run {
            project,
            json,
            node,
            env,
        } => run(&project, json, node, env, out),
        CliCommand::Validate { project } => validate(&project, out),
        CliCommand::Fmt { project } => {
            let p = crate::project::Project::load(&project).map_err(|e| e.to_string())?;
            p.save(&project).map_err(|e| e.to_string())?;
            writeln!(out, "{}: formatted", project.display()).map_err(|e| e.to_string())?;
            Ok(0)
        }
        CliCommand::Kinds { kind, json } => kinds(kind.as_deref(), json, out),
        CliCommand::Catalog { catalog, what } => catalog_cmd(&catalog, what, out),
    }
}

/// Prints the node kinds as they declare themselves.
fn kinds(only: Option<&str>, json: bool, out: &mut dyn Write) -> Result<i32, String> {
    use crate::nodes::{Editor, Field, NodeKind, PortSpec};
    let kinds: Vec<NodeKind> = match only {
        Some(name) => vec![name.parse::<NodeKind>()?],
        None => NodeKind::ALL.to_vec(),
    };
    fn port_json(p: &PortSpec) -> serde_json::Value {
        serde_json::json!({
            "name": p.name, "type": p.ty, "required": p.required, "multiple": p.multiple,
        })
    }
    fn fields_json(fields: &[Field]) -> Vec<serde_json::Value> {
        fields
            .iter()
            .map(|f| {
                let mut v = serde_json::json!({
                    "key": f.key, "label": f.label, "editor": f.editor_name(), "help": f.help,
                });
                match f.editor {
                    Editor::Choice(names) => v["choices"] = serde_json::json!(names),
                    Editor::Optional { fields, .. } | Editor::Records { fields, .. } => {
                        v["fields"] = serde_json::json!(fields_json(fields))
                    }
                    _ => {}
                }
                v
            })
            .collect()
    }
    fn fields_text(text: &mut String, fields: &[Field], indent: usize) {
        for f in fields {
            text.push_str(&format!(
                "{:indent$}{} ({}): {}\n",
                "",
                f.key,
                f.editor_name(),
                f.help
            ));
            if let Editor::Optional { fields, .. } | Editor::Records { fields, .. } = f.editor {
                fields_text(text, fields, indent + 2);
            }
        }
    }
    let mut text = String::new();
    if json {
        let doc: Vec<serde_json::Value> = kinds
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kind": k.as_str(),
                    "category": format!("{:?}", k.category()),
                    "description": k.description(),
                    "inputs": k.inputs().iter().map(port_json).collect::<Vec<_>>(),
                    "outputs": k.outputs().iter().map(port_json).collect::<Vec<_>>(),
                    "settings": fields_json(k.fields()),
                })
            })
            .collect();
        text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        text.push('\n');
    } else {
        for k in kinds {
            text.push_str(&format!(
                "{} ({:?}): {}\n",
                k.as_str(),
                k.category(),
                k.description()
            ));
            for (dir, ports) in [("in ", k.inputs()), ("out", k.outputs())] {
                for p in ports {
                    text.push_str(&format!(
                        "  {dir} {} ({}{}{})\n",
                        p.name,
                        p.ty,
                        if p.required { ", required" } else { "" },
                        if p.multiple && dir == "in " { ", several edges" } else { "" }
                    ));
                }
            }
            fields_text(&mut text, k.fields(), 2);
            text.push('\n');
        }
    }
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(0)
}

fn absolute(path: &Path) -> Result<PathBuf, String> {
    std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn node(id: &str, config: NodeConfig, x: f32) -> Node {
    Node {
        id: id.to_owned(),
        name: id.to_owned(),
        position: Position { x, y: 0.0 },
        config,
    }
}

fn edge(from: &str, from_port: &str, to: &str, to_port: &str) -> Edge {
    Edge {
        from: PortRef {
            node: from.to_owned(),
            port: from_port.to_owned(),
        },
        to: PortRef {
            node: to.to_owned(),
            port: to_port.to_owned(),
        },
    }
}

/// The error of the first failed node, without the node prefix the CLI graph adds.
fn first_error(summary: &[NodeSummary]) -> Option<String> {
    summary.iter().find_map(|s| {
        s.error
            .as_ref()
            .filter(|_| s.status == NodeStatus::Error)
            .map(|e| {
                let prefix = format!("node '{}' ({}): ", s.id, s.kind);
                e.strip_prefix(&prefix).unwrap_or(e).to_owned()
            })
    })
}

fn crawl(
    folder: &Path,
    catalog: &Path,
    config: CrawlerConfig,
    out: &mut dyn Write,
) -> Result<i32, String> {
    let folder = absolute(folder)?;
    let catalog = absolute(catalog)?;
    let database = config.database.clone();
    let project = Project {
        name: "crawl".to_owned(),
        nodes: vec![
            node(
                "bucket",
                NodeConfig::Bucket(BucketConfig {
                    path: folder.to_string_lossy().into_owned(),
                    ..Default::default()
                }),
                0.0,
            ),
            node("crawler", NodeConfig::Crawler(config), 200.0),
            node(
                "catalog",
                NodeConfig::Catalog(CatalogConfig {
                    path: catalog.to_string_lossy().into_owned(),
                }),
                400.0,
            ),
        ],
        edges: vec![
            edge("bucket", OBJECTS.name, "crawler", SOURCE.name),
            edge("crawler", TABLES.name, "catalog", CRAWLERS.name),
        ],
        ..Default::default()
    };
    let bar = indicatif::ProgressBar::with_draw_target(
        None,
        if std::io::stderr().is_terminal() {
            indicatif::ProgressDrawTarget::stderr()
        } else {
            indicatif::ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} crawling [{bar:30}] {pos}/{len} files {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut warnings = Vec::new();
    let (_, summary) =
        run_project_blocking(project, PathBuf::from("."), RunTarget::All, |ev| match ev {
            Event::NodeProgress { done, total, .. } => {
                if let Some(t) = total {
                    bar.set_length(*t);
                }
                bar.set_position(*done);
            }
            Event::Log { message, .. } => warnings.push(message.clone()),
            _ => {}
        })
        .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if let Some(e) = first_error(&summary) {
        return Err(e);
    }
    let changes: Vec<TableChange> = summary
        .iter()
        .find(|s| s.id == "catalog")
        .and_then(|s| s.stats.report::<CatalogReport>())
        .map(|r| r.changes.clone())
        .unwrap_or_default();
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("table", DataType::Utf8, false),
        Field::new("format", DataType::Utf8, false),
        Field::new("columns", DataType::UInt32, false),
        Field::new("partitions", DataType::UInt32, false),
        Field::new("files", DataType::UInt64, false),
        Field::new("size_bytes", DataType::UInt64, false),
        Field::new("version", DataType::UInt32, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("change", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(
                changes
                    .iter()
                    .map(|c| format!("{}.{}", c.database, c.table)),
            )),
            Arc::new(StringArray::from_iter_values(
                changes.iter().map(|c| c.format.to_string()),
            )),
            Arc::new(UInt32Array::from_iter_values(
                changes.iter().map(|c| c.columns as u32),
            )),
            Arc::new(UInt32Array::from_iter_values(
                changes.iter().map(|c| c.partitions as u32),
            )),
            Arc::new(UInt64Array::from_iter_values(
                changes.iter().map(|c| c.files),
            )),
            Arc::new(UInt64Array::from_iter_values(
                changes.iter().map(|c| c.size_bytes),
            )),
            Arc::new(UInt32Array::from_iter_values(
                changes.iter().map(|c| c.version),
            )),
            Arc::new(StringArray::from_iter_values(
                changes.iter().map(|c| c.status.to_string()),
            )),
            Arc::new(StringArray::from_iter(
                changes.iter().map(|c| c.change.as_deref()),
            )),
        ],
    )
    .map_err(|e| e.to_string())?;
    let w = |out: &mut dyn Write, s: String| out.write_all(s.as_bytes()).map_err(|e| e.to_string());
    w(
        out,
        format!(
            "{} table(s) in database '{database}' of catalog {}\n",
            changes.len(),
            catalog.display()
        ),
    )?;
    w(
        out,
        format_batches(&[batch], &schema, OutputFormat::Table).map_err(|e| e.to_string())?,
    )?;
    w(out, "\n".to_owned())?;
    Ok(0)
}

fn query(
    catalog: &Path,
    sql: &str,
    format: OutputFormat,
    scheduler: Option<String>,
    out: &mut dyn Write,
) -> Result<i32, String> {
    let catalog = absolute(catalog)?;
    if !catalog.exists() {
        return Err(format!(
            "catalog '{}' does not exist; create it with `tributary crawl`",
            catalog.display()
        ));
    }
    let project = Project {
        name: "query".to_owned(),
        nodes: vec![
            node(
                "catalog",
                NodeConfig::Catalog(CatalogConfig {
                    path: catalog.to_string_lossy().into_owned(),
                }),
                0.0,
            ),
            node(
                "query",
                NodeConfig::Query(QueryConfig {
                    sql: sql.to_owned(),
                    display_limit: usize::MAX,
                }),
                200.0,
            ),
        ],
        edges: vec![edge("catalog", CATALOG_OUT.name, "query", CATALOG_IN.name)],
        environments: scheduler
            .iter()
            .map(|s| {
                let env = crate::project::Environment {
                    scheduler: Some(s.clone()),
                    ..Default::default()
                };
                ("cluster".to_owned(), env)
            })
            .collect(),
        environment: if scheduler.is_some() {
            "cluster"
        } else {
            "local"
        }
        .to_owned(),
        ..Default::default()
    };
    // The query node's own validation would only repeat the SQL error; check first.
    if let Err(e) = crate::lake::sql::check_read_only(sql) {
        return Err(e.to_string());
    }
    let mut result: Option<(SchemaRef, Vec<RecordBatch>)> = None;
    let (_, summary) = run_project_blocking(project, PathBuf::from("."), RunTarget::All, |ev| {
        if let Event::Preview {
            node,
            schema,
            batches,
            ..
        } = ev
            && node == "query"
        {
            result = Some((schema.clone(), batches.clone()));
        }
    })
    .map_err(|e| e.to_string())?;
    if let Some(e) = first_error(&summary) {
        return Err(e);
    }
    let (schema, batches) = result.ok_or("the query produced no result")?;
    let text = format_batches(&batches, &schema, format).map_err(|e| e.to_string())?;
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    if format == OutputFormat::Table {
        out.write_all(b"\n").map_err(|e| e.to_string())?;
    }
    if let Some(q) = summary
        .iter()
        .find(|s| s.id == "query")
        .and_then(|s| s.stats.report::<QueryStats>())
    {
        eprintln!(
            "{} row(s) in {} ms; {} scanned from {} file(s)",
            q.rows,
            q.elapsed_ms,
            human_bytes(q.bytes_scanned),
            q.files_scanned
        );
    }
    Ok(0)
}

/// `1234567` → `1.2 MB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: &[&str] = &["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn run(
    path: &Path,
    json: bool,
    node: Option<String>,
    env: Option<String>,
    out: &mut dyn Write,
) -> Result<i32, String> {
    let mut project = crate::project::Project::load(path).map_err(|e| e.to_string())?;
    if let Some(env) = env {
        project.environment_named(&env).map_err(|e| e.to_string())?;
        project.environment = env;
    }
    let base_dir = absolute(path)?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let target = node.map(RunTarget::Node).unwrap_or(RunTarget::All);
    let mut logs = Vec::new();
    let mut metrics: std::collections::BTreeMap<String, MetricsSummary> = Default::default();
    let (status, summary) = run_project_blocking(project, base_dir, target, |ev| match ev {
        Event::Log { node, message, .. } => logs.push(format!(
            "{}: {message}",
            node.as_deref().unwrap_or("engine")
        )),
        Event::Metrics { node, sample, .. } => {
            metrics.entry(node.clone()).or_default().add(sample);
        }
        _ => {}
    })
    .map_err(|e| e.to_string())?;
    if json {
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
                    "stats": s.stats,
                    "metrics": metrics.get(&s.id),
                })
            })
            .collect();
        let doc = serde_json::json!({ "status": status, "nodes": nodes, "warnings": logs });
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        writeln!(out, "{text}").map_err(|e| e.to_string())?;
    } else {
        for l in &logs {
            eprintln!("warning: {l}");
        }
        for s in &summary {
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
        for s in &summary {
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
            for (id, m) in &metrics {
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
    }
    for s in summary.iter().filter(|s| s.status == NodeStatus::Error) {
        if let Some(e) = &s.error {
            eprintln!("error: {e}");
        }
    }
    Ok(if status == NodeStatus::Ok { 0 } else { 1 })
}

fn validate(path: &Path, out: &mut dyn Write) -> Result<i32, String> {
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

fn catalog_cmd(path: &Path, what: CatalogCommand, out: &mut dyn Write) -> Result<i32, String> {
    if !path.exists() {
        return Err(format!("catalog '{}' does not exist", path.display()));
    }
    let store = CatalogStore::open(path).map_err(|e| e.to_string())?;
    let catalog = store.snapshot();
    let mut text = String::new();
    match what {
        CatalogCommand::Tables => {
            for (db, t) in catalog.tables() {
                text.push_str(&format!(
                    "{db}.{}\t{}\tv{}\t{} column(s)\t{} partition(s)\t{} file(s)\t{}\n",
                    t.name,
                    t.format,
                    t.version,
                    t.columns.len(),
                    t.partitions.len(),
                    t.stats.files,
                    store.resolve_location(&t.location)
                ));
            }
        }
        CatalogCommand::Show { table } => {
            let (db, t) = catalog.resolve(&table).map_err(|e| e.to_string())?;
            text.push_str(&format!(
                "{db}.{} (version {}, {})\n",
                t.name, t.version, t.format
            ));
            text.push_str(&format!(
                "location: {}\n",
                store.resolve_location(&t.location)
            ));
            for c in &t.columns {
                text.push_str(&format!(
                    "  {} {}{}\n",
                    c.name,
                    c.data_type,
                    c.text_format
                        .as_ref()
                        .map(|f| format!(" (text form {f})"))
                        .unwrap_or_default()
                ));
            }
            for c in &t.partition_keys {
                text.push_str(&format!("  {} {} (partition key)\n", c.name, c.data_type));
            }
            for p in &t.partitions {
                text.push_str(&format!(
                    "  partition {}: {} file(s), {} bytes\n",
                    p.values.join("/"),
                    p.files,
                    p.size_bytes
                ));
            }
        }
        CatalogCommand::History { table } => {
            for v in catalog.history(&table).map_err(|e| e.to_string())? {
                text.push_str(&format!(
                    "v{}\t{}\t{}\t{}\n",
                    v.version,
                    v.created_at.format("%Y-%m-%d %H:%M:%S"),
                    v.created_by,
                    v.change
                ));
            }
        }
    }
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(0)
}
