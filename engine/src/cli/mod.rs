//! The headless command line: `crawl`, `query`, `run`, `validate`, `fmt`, `kinds` and
//! `catalog`.
//!
//! Every command drives the engine through its API ([`crate::engine`]): `crawl` and
//! `query` build a small graph (bucket → crawler → catalog, or catalog → query) and run
//! it. Results go to stdout; errors go to stderr with a non-zero exit code.
//! `lake.rs` has the lake commands, `run.rs` running projects, `kinds.rs` the kinds.

mod history;
mod kinds;
mod lake;
mod run;

pub use lake::human_bytes;

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::api::{NodeStatus, NodeSummary};
use crate::lake::catalog::DEFAULT_DATABASE;
use crate::lake::crawler::SchemaChangePolicy;
use crate::lake::sql::OutputFormat;
use crate::nodes::NodeConfig;
use crate::nodes::crawler::CrawlerConfig;
use crate::project::{Edge, Node, PortRef, Position};

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
        /// none, or combine_compatible_schemas: sibling folders with compatible schemas
        /// are one table one level up (Glue's TableGroupingPolicy).
        #[arg(long, default_value = "none")]
        table_grouping_policy: crate::lake::crawler::TableGrouping,
        /// A glob of keys to leave out (Glue's Exclusions; repeatable): `**.tmp`, `archive/**`.
        #[arg(long = "exclude")]
        exclusions: Vec<String>,
        /// A table this crawl made earlier whose folder is gone: deprecate_in_database,
        /// log or delete_from_database.
        #[arg(long, default_value = "deprecate_in_database")]
        delete_behavior: crate::lake::crawler::DeleteBehavior,
        /// crawl_everything, or crawl_new_folders_only (tables keep their schema; only new
        /// folders are added).
        #[arg(long, default_value = "crawl_everything")]
        recrawl_behavior: crate::lake::crawler::RecrawlBehavior,
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
        /// Allow statements that change the catalog (MSCK REPAIR TABLE, ALTER TABLE …
        /// ADD/DROP PARTITION, SET TBLPROPERTIES).
        #[arg(long)]
        allow_writes: bool,
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
        /// Serve the AWS APIs (Kinesis, Firehose, S3) for outside producers and consumers, and keep the
        /// pipeline running until Ctrl+C (then it drains and flushes, as Stop does).
        #[arg(long)]
        serve: bool,
        /// Where to serve: `host:port` or a port on 127.0.0.1 (default 127.0.0.1:4566,
        /// LocalStack's). Beyond loopback only with TRIBUTARY_ACCESS_KEY_ID and
        /// TRIBUTARY_SECRET_ACCESS_KEY set.
        #[arg(long, requires = "serve")]
        endpoint: Option<String>,
        /// AWS realism for this run (whatever the project's `aws_realism` says): streams
        /// keep Kinesis's per-shard write limits (throttled puts are retried) and retention
        /// is a deadline.
        #[arg(long, conflicts_with = "no_aws_realism")]
        aws_realism: bool,
        /// No AWS realism for this run: writers wait for slow readers, nothing is throttled.
        #[arg(long)]
        no_aws_realism: bool,
        /// The clock for this run (whatever the project's `clock` says): `wall`, or
        /// `simulated` (event and arrival times, Firehose buffer intervals and hour
        /// folders, windows, retention, write limits and batching windows follow
        /// simulated time from the project's `clock_start`).
        #[arg(long)]
        clock: Option<crate::api::ClockMode>,
        /// A simulated clock's speed: a multiple of wall time (60: a minute a second), or
        /// 0 for as fast as the sources go (the default).
        #[arg(long)]
        clock_speed: Option<f64>,
        /// Replay from here: run everything downstream of this durable stream again on
        /// the records it retained (nothing upstream runs; what its sinks write goes under
        /// .tributary/replays/), then compare each node's output with the original run.
        #[arg(long, conflicts_with_all = ["node", "serve"])]
        replay_from: Option<String>,
        /// Where the replay starts: TRIM_HORIZON (the default), an RFC 3339 time or ms
        /// since the epoch (records that arrived then or later).
        #[arg(long, requires = "replay_from", conflicts_with = "sequence_number")]
        from: Option<String>,
        /// Where the replay starts by sequence number: one for every shard, or one per
        /// shard, comma-separated.
        #[arg(long, requires = "replay_from")]
        sequence_number: Option<String>,
        /// The recorded run to compare the replay with (default: the newest run that was
        /// not a replay).
        #[arg(long, requires = "replay_from")]
        compare_with: Option<String>,
    },
    /// Check a project file; exit 0 when valid, else print one line per problem.
    Validate {
        /// The project file.
        project: PathBuf,
        /// Also plan every node's SQL against its catalog's tables as they were before
        /// their newest version and as they are (after a crawl found a column gone or
        /// retyped): list the nodes that break or whose output changes, and the charts
        /// whose columns vanish; exit 1 when something breaks.
        #[arg(long)]
        against_catalog: bool,
    },
    /// Rewrite a valid project file in the canonical form the app saves (every setting
    /// spelled out, stable key order), atomically.
    Fmt {
        /// The project file.
        project: PathBuf,
    },
    /// Export the project to AWS: a CloudFormation/SAM template with a resource per node
    /// (least-privilege IAM roles included), the code it deploys, and a README on how to
    /// deploy it. The same project always gives the same files.
    Export {
        /// The project file.
        project: PathBuf,
        /// The folder to write (missing, empty, or an earlier export, which is replaced).
        #[arg(long)]
        out: PathBuf,
    },
    /// List the runs recorded beside a project (`.tributary/runs/`), oldest first.
    Runs {
        /// The project file.
        project: PathBuf,
        /// Print a JSON array of {"id", "started", "status"}.
        #[arg(long)]
        json: bool,
    },
    /// Compare a node's output in two recorded runs: rows added, removed and changed (by
    /// a key column, or whole rows), schema changes, and a sample of each.
    Diff {
        /// The project file.
        project: PathBuf,
        /// The first run: its id (or a unique prefix), `previous` or `latest`.
        run_a: String,
        /// The second run.
        run_b: String,
        /// The node whose output to compare.
        #[arg(long)]
        node: String,
        /// The column that identifies a row (without it, whole rows are compared).
        #[arg(long)]
        key: Option<String>,
        /// Print JSON: {"added", "removed", "changed", "schema_changes", "samples", …}.
        #[arg(long)]
        json: bool,
    },
    /// A recorded run's timeline: what each streaming node had counted and what each
    /// live view (a live table, a chart) held at a moment of the run's clock (the newest
    /// point at or before it), and a durable stream's shard tips then. Without --at, the
    /// moments recorded.
    Timeline {
        /// The project file.
        project: PathBuf,
        /// The run: its id (or a unique prefix), `previous` or `latest` (the default).
        #[arg(long, default_value = "latest")]
        run: String,
        /// The moment: an RFC 3339 time or ms since the epoch.
        #[arg(long)]
        at: Option<String>,
        /// Only this node, with its live view's rows and (a durable stream) its shards.
        #[arg(long)]
        node: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
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
    /// Apply the schema a crawl proposed (its schema_change_policy is log) as the
    /// table's next version (`tributary validate --against-catalog` shows what it would
    /// break first).
    Accept {
        /// `db.table` or a table in the default database.
        table: String,
    },
}

/// The subcommand names, so a combined GUI binary can tell a CLI call from a file.
pub const SUBCOMMANDS: &[&str] = &[
    "crawl", "query", "run", "validate", "fmt", "export", "runs", "diff", "timeline", "kinds",
    "catalog", "help",
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
            exclusions,
            delete_behavior,
            recrawl_behavior,
            table_grouping_policy,
        } => lake::crawl(
            &folder,
            &catalog,
            CrawlerConfig {
                database,
                table_level,
                sample_rows,
                schema_change_policy,
                exclusions,
                delete_behavior,
                recrawl_behavior,
                table_grouping_policy,
                ..Default::default()
            },
            out,
        ),
        CliCommand::Query {
            catalog,
            format,
            scheduler,
            allow_writes,
            sql,
        } => lake::query(&catalog, &sql, format, scheduler, allow_writes, out),
        CliCommand::Run {
            project,
            json,
            node,
            env,
            serve,
            endpoint,
            aws_realism,
            no_aws_realism,
            clock,
            clock_speed,
            replay_from,
            from,
            sequence_number,
            compare_with,
        } => {
            let replay = match replay_from {
                Some(node) => Some(crate::api::Replay {
                    node,
                    from: match (from, sequence_number) {
                        (_, Some(seq)) => crate::api::ReplayFrom::parse_sequence_numbers(&seq)?,
                        (Some(t), None) => crate::api::ReplayFrom::parse_time(&t)?,
                        (None, None) => crate::api::ReplayFrom::TrimHorizon,
                    },
                }),
                None => None,
            };
            let serve = if serve {
                Some(crate::aws::ServeOptions::from_address(endpoint.as_deref())?)
            } else {
                None
            };
            let overrides = run::RunOverrides {
                env,
                aws_realism: (aws_realism || no_aws_realism).then_some(aws_realism),
                clock,
                clock_speed,
                replay,
                compare_with,
            };
            run::run(&project, json, node, serve, overrides, out)
        }
        CliCommand::Validate {
            project,
            against_catalog,
        } => match run::validate(&project, out)? {
            0 if against_catalog => history::drift(&project, out),
            code => Ok(code),
        },
        CliCommand::Fmt { project } => {
            let p = crate::project::Project::load(&project).map_err(|e| e.to_string())?;
            p.save(&project).map_err(|e| e.to_string())?;
            writeln!(out, "{}: formatted", project.display()).map_err(|e| e.to_string())?;
            Ok(0)
        }
        CliCommand::Export {
            project,
            out: folder,
        } => export(&project, &folder, out),
        CliCommand::Runs { project, json } => history::list(&project, json, out),
        CliCommand::Timeline {
            project,
            run,
            at,
            node,
            json,
        } => history::timeline(
            &project,
            &history::Moment {
                run,
                at,
                node,
                json,
            },
            out,
        ),
        CliCommand::Diff {
            project,
            run_a,
            run_b,
            node,
            key,
            json,
        } => history::compare(&project, &run_a, &run_b, &node, key.as_deref(), json, out),
        CliCommand::Kinds { kind, json } => kinds::kinds(kind.as_deref(), json, out),
        CliCommand::Catalog { catalog, what } => lake::catalog_cmd(&catalog, what, out),
    }
}

/// `tributary export`: writes the export and says what it holds and left out.
fn export(project: &Path, folder: &Path, out: &mut dyn Write) -> Result<i32, String> {
    let p = crate::project::Project::load(project).map_err(|e| e.to_string())?;
    let base = project_dir(project)?;
    let bundle = crate::export::export(&p, &base, folder).map_err(|e| e.to_string())?;
    let w = |out: &mut dyn Write, line: String| writeln!(out, "{line}").map_err(|e| e.to_string());
    w(
        out,
        format!(
            "exported '{}' to {}: template.yaml, README.md (how to deploy) and {} code files",
            p.name,
            folder.display(),
            bundle.code_files()
        ),
    )?;
    for (node, why) in &bundle.left_out {
        w(out, format!("  not exported: {node}: {why}"))?;
    }
    for note in &bundle.notes {
        w(out, format!("  note: {note}"))?;
    }
    Ok(0)
}

/// The folder a project file's relative paths (and its recorded runs) resolve in.
pub(crate) fn project_dir(path: &Path) -> Result<PathBuf, String> {
    Ok(absolute(path)?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".")))
}

pub(crate) fn absolute(path: &Path) -> Result<PathBuf, String> {
    std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))
}

pub(crate) fn node(id: &str, config: NodeConfig, x: f32) -> Node {
    Node {
        id: id.to_owned(),
        name: id.to_owned(),
        position: Position { x, y: 0.0 },
        config,
        faults: Default::default(),
    }
}

pub(crate) fn edge(from: &str, from_port: &str, to: &str, to_port: &str) -> Edge {
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
pub(crate) fn first_error(summary: &[NodeSummary]) -> Option<String> {
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

#[cfg(test)]
mod tests {
    #[test]
    fn every_subcommand_is_listed_for_the_combined_gui_binary() {
        use clap::CommandFactory as _;
        for sub in super::Cli::command().get_subcommands() {
            assert!(
                super::SUBCOMMANDS.contains(&sub.get_name()),
                "`tributary {}` would open a window: add it to SUBCOMMANDS",
                sub.get_name()
            );
        }
    }
}
