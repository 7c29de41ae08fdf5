//! Query node: Athena-like read-only SQL over the catalog.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{ConfigRules, NodeContext, NodeOutput, NodeStats, TableData, Value};
use crate::error::Result;
use crate::lake::provider::ScanHooks;
use crate::lake::sql;

/// Query settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryConfig {
    /// One read-only statement.
    pub sql: String,
    /// Rows sent to the preview table.
    #[serde(default = "default_display_limit")]
    pub display_limit: usize,
}

fn default_display_limit() -> usize {
    1000
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            sql: "SELECT 1".to_owned(),
            display_limit: default_display_limit(),
        }
    }
}

impl ConfigRules for QueryConfig {
    fn validate(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.sql.trim().is_empty() {
            out.push("sql: a query is required".to_owned());
        } else if let Err(e) = sql::check_read_only(&self.sql) {
            out.push(format!("sql: {e}"));
        }
        if self.display_limit == 0 {
            out.push("display_limit: must be at least 1".to_owned());
        }
        out
    }
}

/// Runs the query; the result goes to the `table` output and the preview.
pub async fn run(config: &QueryConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let store = ctx.catalog_input("catalog")?;
    let hooks = ScanHooks::default();
    let session = sql::session(Some(&store), &hooks, ctx.environment)?;
    let result = sql::run_query(&session, &config.sql, &hooks).await?;
    let preview = crate::nodes::head(&result.batches, config.display_limit);
    ctx.events.preview(
        &ctx.node.id,
        "table",
        result.schema.clone(),
        preview,
        result.stats.rows,
    );
    let mut out = NodeOutput {
        stats: NodeStats {
            records_in: result.stats.rows_read,
            records_out: result.stats.rows,
            bytes_in: result.stats.bytes_scanned,
            detail: serde_json::to_value(&result.stats).unwrap_or_default(),
            ..Default::default()
        },
        ..Default::default()
    };
    out.outputs.insert(
        "table",
        Value::Table(Arc::new(TableData {
            schema: result.schema,
            batches: result.batches,
        })),
    );
    Ok(out)
}
