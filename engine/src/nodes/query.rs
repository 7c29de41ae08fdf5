//! Query node: Athena's SQL over the catalog; catalog statements (MSCK REPAIR TABLE,
//! ALTER TABLE … PARTITION) only with `allow_writes`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::form::{Editor, Field, FieldProblem, Problems};
use super::ports::{CATALOG_IN, TABLE_OUT};
use super::{Category, Kind, NodeContext, NodeOutput, NodeStats, PortSpec, TableData, Value};
use crate::error::Result;
use crate::lake::provider::ScanHooks;
use crate::lake::{sql, statements};

/// Query settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryConfig {
    /// One read-only statement.
    pub sql: String,
    /// Rows sent to the preview table.
    #[serde(default = "default_display_limit")]
    pub display_limit: usize,
    /// Run statements that change the catalog (MSCK REPAIR TABLE, ALTER TABLE … ADD
    /// PARTITION, SET TBLPROPERTIES); off, only reading statements run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_writes: bool,
}

fn default_display_limit() -> usize {
    1000
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            sql: "SELECT 1".to_owned(),
            display_limit: default_display_limit(),
            allow_writes: false,
        }
    }
}

/// The query node.
pub struct QueryKind;

/// Checks one read-only statement at `path`.
pub fn check_query(p: &mut Problems, path: &str, text: &str) {
    if text.trim().is_empty() {
        p.add(path, "a query is required");
    } else {
        p.check_result(path, sql::check_read_only(text));
    }
}

/// Checks a query node's statement: a query, or one of Athena's catalog statements
/// (those that change the catalog only with `allow_writes`).
pub fn check_statement(p: &mut Problems, path: &str, text: &str, allow_writes: bool) {
    if text.trim().is_empty() {
        p.add(path, "a query is required");
    } else {
        p.check_result(path, statements::check(text, allow_writes));
    }
}

impl Kind for QueryKind {
    type Config = QueryConfig;
    const NAME: &'static str = "query";
    const CATEGORY: Category = Category::Batch;
    const DESCRIPTION: &'static str =
        "Athena SQL over the catalog (Trino functions, partitions); the result is a table.";
    const ICON: &'static str = "🔎";
    const INPUTS: &'static [PortSpec] = &[CATALOG_IN];
    const OUTPUTS: &'static [PortSpec] = &[TABLE_OUT];
    const FIELDS: &'static [Field] = &[
        Field::new(
            "sql",
            "SQL",
            Editor::Sql,
            "One statement over the catalog's tables: a query, or with Allow writes a catalog statement (MSCK REPAIR TABLE, ALTER TABLE … ADD PARTITION).",
        ),
        Field::new(
            "display_limit",
            "Rows shown",
            Editor::Number,
            "Rows sent to the preview table.",
        ),
        Field::new(
            "allow_writes",
            "Allow writes",
            Editor::Toggle,
            "Run statements that change the catalog: MSCK REPAIR TABLE, ALTER TABLE … ADD/DROP PARTITION, ALTER TABLE … SET TBLPROPERTIES. Off: only statements that read.",
        ),
    ];

    fn validate(config: &QueryConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        check_statement(&mut p, "sql", &config.sql, config.allow_writes);
        p.check(
            config.display_limit > 0,
            "display_limit",
            "must be at least 1",
        );
        p.into_vec()
    }

    async fn run(config: &QueryConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        run(config, ctx).await
    }

    /// Athena: the bytes scanned, rounded up to whole MB with a 10 MB minimum per query
    /// (statements that only touch the catalog are free).
    fn cost(
        _config: &QueryConfig,
        stats: &NodeStats,
        prices: &crate::api::cost::Prices,
    ) -> Option<crate::api::cost::Cost> {
        let r = stats.report::<sql::QueryStats>()?;
        Some(athena_cost(r, prices))
    }
}

/// What Athena charges for a query's scan, from the price file.
pub fn athena_cost(
    stats: &sql::QueryStats,
    prices: &crate::api::cost::Prices,
) -> crate::api::cost::Cost {
    let a = &prices.athena;
    let billed = if stats.billed_bytes == 0 {
        0
    } else {
        (stats.bytes_scanned.div_ceil(1 << 20) << 20).max(a.minimum_bytes)
    };
    let mut cost = crate::api::cost::Cost::default();
    cost.add(
        "Athena data scanned",
        billed as f64 / (1u64 << 40) as f64,
        "TB",
        a.tb_scanned,
        1.0,
    );
    cost
}

/// Runs the query; the result goes to the `table` output and the preview.
async fn run(config: &QueryConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let store = ctx.catalog(&CATALOG_IN)?;
    let hooks = ScanHooks::default();
    let session = sql::session(Some(&store), &hooks, ctx.environment)?;
    let runner = statements::Runner {
        ctx: &session,
        store: Some(&store),
        hooks: &hooks,
        allow_writes: config.allow_writes,
        env: ctx.environment,
        by: format!("query:{}", ctx.id),
    };
    let result = statements::run(&runner, &config.sql).await?;
    for note in &result.stats.notes {
        ctx.warn(note.clone());
    }
    if result.stats.billed_bytes > 0 {
        ctx.info(result.stats.summary());
    }
    let preview = crate::nodes::head(&result.batches, config.display_limit);
    ctx.preview(
        &TABLE_OUT,
        result.schema.clone(),
        preview,
        result.stats.rows,
    );
    let stats = NodeStats {
        records_in: result.stats.rows_read,
        records_out: result.stats.rows,
        bytes_in: result.stats.bytes_scanned,
        ..Default::default()
    }
    .with_report(result.stats);
    let table = TableData {
        schema: result.schema,
        batches: result.batches,
    };
    Ok(NodeOutput::finished(stats).with(&TABLE_OUT, Value::Table(Arc::new(table))))
}
