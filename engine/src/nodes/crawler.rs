//! Crawler node: classifies a bucket's files and proposes tables for a catalog.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::form::{Editor, Field, FieldProblem, Problems};
use super::{Category, Kind, NodeContext, NodeOutput, NodeStats, PortSpec, PortType, Value};
use crate::error::Result;
use crate::lake::bucket::normalize_key;
use crate::lake::catalog::DEFAULT_DATABASE;
use crate::lake::crawler::{
    CrawlOptions, DeleteBehavior, RecrawlBehavior, SchemaChangePolicy, TableGrouping, crawl,
    exclusion_set,
};
use crate::lake::sniff::{SniffOptions, default_null_markers, normalize_name};

/// Crawler settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrawlerConfig {
    /// Database the tables go into.
    pub database: String,
    /// Prefix under the bucket to crawl.
    pub prefix: String,
    /// Folder depth that makes a table (1: each top-level folder is a table).
    pub table_level: usize,
    /// Records sampled per file for type inference.
    pub sample_rows: usize,
    /// Text values read as null.
    pub null_markers: Vec<String>,
    /// Update the catalog on schema changes, or only log them.
    pub schema_change_policy: SchemaChangePolicy,
    /// Glob patterns of keys below the prefix to leave out (Glue's `Exclusions`).
    pub exclusions: Vec<String>,
    /// What happens to a table this crawler made when its folder is gone.
    pub delete_behavior: DeleteBehavior,
    /// Crawl everything, or change the catalog only for folders not seen before.
    pub recrawl_behavior: RecrawlBehavior,
    /// Whether compatible sibling folders combine into one table (Glue's
    /// `TableGroupingPolicy`).
    pub table_grouping_policy: TableGrouping,
    /// When the deployed crawler runs (Glue's `Schedule`, a `cron(…)` expression); empty:
    /// on demand. Tributary itself crawls when the graph runs.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub schedule: String,
}

impl Default for CrawlerConfig {
    fn default() -> Self {
        Self {
            database: DEFAULT_DATABASE.to_owned(),
            prefix: String::new(),
            table_level: 1,
            sample_rows: 1000,
            null_markers: default_null_markers(),
            schema_change_policy: SchemaChangePolicy::Update,
            exclusions: Vec::new(),
            delete_behavior: DeleteBehavior::default(),
            recrawl_behavior: RecrawlBehavior::default(),
            table_grouping_policy: TableGrouping::default(),
            schedule: String::new(),
        }
    }
}

/// Checks a Glue schedule: `cron(Minutes Hours Day-of-month Month Day-of-week Year)`,
/// with `?` in one of the two day fields (AWS's rule for cron expressions).
pub fn check_schedule(schedule: &str) -> std::result::Result<(), String> {
    let Some(fields) = schedule
        .trim()
        .strip_prefix("cron(")
        .and_then(|s| s.strip_suffix(')'))
    else {
        return Err(format!(
            "'{schedule}' is not a cron expression: cron(Minutes Hours Day-of-month Month \
             Day-of-week Year), e.g. cron(0 2 * * ? *) for 02:00 UTC every day"
        ));
    };
    let fields: Vec<&str> = fields.split_whitespace().collect();
    if fields.len() != 6 {
        return Err(format!(
            "a cron expression has 6 fields (Minutes Hours Day-of-month Month Day-of-week \
             Year); '{schedule}' has {}",
            fields.len()
        ));
    }
    if (fields[2] == "?") == (fields[4] == "?") {
        return Err(
            "one of Day-of-month and Day-of-week must be '?' (AWS cron expressions take one \
             of the two), e.g. cron(0 2 * * ? *)"
                .to_owned(),
        );
    }
    Ok(())
}

/// The bucket to crawl.
pub const SOURCE: PortSpec = PortSpec::input("source", PortType::Objects).required();
/// The tables found, for a catalog.
pub const TABLES: PortSpec = PortSpec::output("tables", PortType::Crawl);

/// The crawler node.
pub struct CrawlerKind;

impl Kind for CrawlerKind {
    type Config = CrawlerConfig;
    const NAME: &'static str = "crawler";
    const CATEGORY: Category = Category::Lake;
    const DESCRIPTION: &'static str =
        "Scans a bucket, infers formats, schemas and partitions, and proposes tables.";
    const ICON: &'static str = "🔍";
    const INPUTS: &'static [PortSpec] = &[SOURCE, super::ports::TRIGGER_IN];
    const OUTPUTS: &'static [PortSpec] = &[TABLES];
    const FIELDS: &'static [Field] = &[
        Field::new(
            "database",
            "Database",
            Editor::Text,
            "Database the tables go into.",
        ),
        Field::new(
            "prefix",
            "Prefix",
            Editor::Text,
            "Prefix under the bucket to crawl.",
        ),
        Field::new(
            "table_level",
            "Table level",
            Editor::Number,
            "Folder depth that makes a table (1: each top-level folder is a table).",
        ),
        Field::new(
            "sample_rows",
            "Sample rows",
            Editor::Number,
            "Records sampled per file for type inference.",
        ),
        Field::new(
            "null_markers",
            "Null markers",
            Editor::Lines,
            "Text values read as null.",
        ),
        Field::new(
            "schema_change_policy",
            "Schema change policy",
            Editor::Choice(SchemaChangePolicy::NAMES),
            "update: a changed schema becomes a new table version; log: only report it.",
        ),
        Field::new(
            "exclusions",
            "Exclusions",
            Editor::Lines,
            "Glob patterns of keys below the prefix to leave out, one per line (Glue's Exclusions: `*` stays within a folder, `**` crosses folders, e.g. `**.tmp`, `archive/**`). Queries still read every file under a table's folder, as Athena does.",
        ),
        Field::new(
            "delete_behavior",
            "Delete behavior",
            Editor::Choice(DeleteBehavior::NAMES),
            "A table this crawler made whose folder is gone: deprecate_in_database marks it (property DEPRECATED_BY_CRAWLER), log only reports it, delete_from_database removes it (its files stay).",
        ),
        Field::new(
            "recrawl_behavior",
            "Recrawl behavior",
            Editor::Choice(RecrawlBehavior::NAMES),
            "crawl_everything brings every table up to date; crawl_new_folders_only keeps the schema of tables already in the catalog and only adds folders not seen before.",
        ),
        Field::new(
            "table_grouping_policy",
            "Table grouping",
            Editor::Choice(TableGrouping::NAMES),
            "none: each folder at the table level is a table; combine_compatible_schemas: sibling folders whose files share a compatible schema are one table one level up, each folder a partition (Glue's CombineCompatibleSchemas).",
        ),
        Field::new(
            "schedule",
            "Schedule",
            Editor::Text,
            "When the crawler runs once exported to AWS (Glue's Schedule): a cron expression, e.g. cron(0 2 * * ? *) for 02:00 UTC every day; empty: on demand. Tributary crawls when the graph runs.",
        ),
    ];

    fn validate(config: &CrawlerConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        p.check(
            normalize_name(&config.database) == config.database,
            "database",
            format!(
                "'{}' must be lowercase letters, digits and '_'",
                config.database
            ),
        );
        p.check(config.table_level > 0, "table_level", "must be at least 1");
        p.check(config.sample_rows > 0, "sample_rows", "must be at least 1");
        p.check_result("prefix", normalize_key(&config.prefix));
        if !config.schedule.trim().is_empty() {
            p.check_result("schedule", check_schedule(&config.schedule));
        }
        for (i, pattern) in config.exclusions.iter().enumerate() {
            if let Err(e) = exclusion_set(std::slice::from_ref(pattern)) {
                p.add(format!("exclusions[{i}]"), e);
            }
        }
        p.into_vec()
    }

    async fn run(config: &CrawlerConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        run(config, ctx).await
    }

    /// A Glue crawler run: DPU-hours, billed per second with a 10-minute minimum.
    fn cost(
        _config: &CrawlerConfig,
        stats: &NodeStats,
        prices: &crate::api::cost::Prices,
    ) -> Option<crate::api::cost::Cost> {
        let g = &prices.glue;
        Some(crate::api::cost::Cost::of_time(
            "Glue crawler run",
            stats.elapsed_ms,
            g.crawler_minimum_seconds,
            g.crawler_dpus,
            "DPU-hour",
            g.dpu_hour,
        ))
    }
}

impl CrawlerConfig {
    /// The crawl options this config stands for.
    pub fn crawl_options(&self) -> CrawlOptions {
        CrawlOptions {
            prefix: self.prefix.clone(),
            table_level: self.table_level,
            sniff: SniffOptions {
                sample_rows: self.sample_rows,
                null_markers: self.null_markers.clone(),
            },
            exclusions: self.exclusions.clone(),
            grouping: self.table_grouping_policy,
        }
    }
}

/// What a crawler reports: the tables it found.
#[derive(Clone, Debug, Serialize)]
pub struct CrawlerReport {
    /// Each table found.
    pub tables: Vec<FoundTable>,
    /// Files in those tables.
    pub files_in_tables: u64,
    /// Files that could not be classified, with why.
    pub unclassified: Vec<crate::lake::crawler::SkippedFile>,
    /// Files skipped (markers, hidden files).
    pub skipped: usize,
}

/// One table a crawler found.
#[derive(Clone, Debug, Serialize)]
pub struct FoundTable {
    /// Its name.
    pub name: String,
    /// Its file format.
    pub format: crate::lake::sniff::FileFormat,
    /// Its columns.
    pub columns: usize,
    /// Its partition keys.
    pub partition_keys: Vec<String>,
    /// Its partitions.
    pub partitions: usize,
    /// Its files.
    pub files: u64,
    /// Their size.
    pub size_bytes: u64,
}

/// Crawls the bucket on the `source` input.
async fn run(config: &CrawlerConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let bucket = ctx.bucket(&SOURCE)?;
    let node = ctx.id.to_owned();
    let events = ctx.events.clone();
    let last = std::sync::Mutex::new(Instant::now() - Duration::from_secs(1));
    let progress = move |done: u64, total: u64| {
        // At most ten progress events a second, plus the last one.
        let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
        if done == total || last.elapsed() >= Duration::from_millis(100) {
            *last = Instant::now();
            events.progress(&node, done, Some(total), format!("{done}/{total} files"));
        }
    };
    let mut report = crawl(&bucket, &config.crawl_options(), &progress).await?;
    report.database = config.database.clone();
    report.policy = config.schema_change_policy;
    report.crawler = ctx.id.to_owned();
    report.delete_behavior = config.delete_behavior;
    report.recrawl = config.recrawl_behavior;
    if !report.excluded.is_empty() {
        ctx.info(format!(
            "{} file(s) left out by the exclusion patterns, such as '{}'",
            report.excluded.len(),
            report.excluded[0]
        ));
    }
    for f in &report.unclassified {
        ctx.warn(format!("skipped '{}': {}", f.key, f.reason));
    }
    for note in &report.notes {
        ctx.warn(note.clone());
    }
    for t in &report.tables {
        for w in &t.warnings {
            ctx.warn(format!("table '{}': {w}", t.name));
        }
    }
    let bytes: u64 = report.tables.iter().map(|t| t.stats.size_bytes).sum();
    let files: u64 = report.tables.iter().map(|t| t.stats.files).sum();
    let found = CrawlerReport {
        tables: report
            .tables
            .iter()
            .map(|t| FoundTable {
                name: t.name.clone(),
                format: t.format,
                columns: t.columns.len(),
                partition_keys: t.partition_keys.iter().map(|c| c.name.clone()).collect(),
                partitions: t.partitions.len(),
                files: t.stats.files,
                size_bytes: t.stats.size_bytes,
            })
            .collect(),
        files_in_tables: files,
        unclassified: report.unclassified.clone(),
        skipped: report.skipped.len(),
    };
    let stats = NodeStats {
        records_in: report.files_listed,
        records_out: report.tables.len() as u64,
        bytes_in: bytes,
        ..Default::default()
    }
    .with_report(found);
    Ok(NodeOutput::finished(stats).with(&TABLES, Value::Crawl(Arc::new(report))))
}
