//! Catalog node: the Glue-like catalog file beside the project. Crawlers wired into it
//! apply their findings here; ETL and query nodes read it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{ConfigRules, NodeContext, NodeOutput, NodeStats, Value};
use crate::arrow::array::{RecordBatch, StringArray, UInt32Array, UInt64Array};
use crate::arrow::datatypes::{DataType, Field, Schema};
use crate::error::{Error, Result};
use crate::lake::catalog::CatalogStore;
use crate::lake::crawler::apply_to_catalog;

/// Catalog settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// The catalog file, relative to the project file or absolute.
    pub path: String,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            path: "catalog.json".to_owned(),
        }
    }
}

impl ConfigRules for CatalogConfig {
    fn validate(&self) -> Vec<String> {
        if self.path.trim().is_empty() {
            vec!["path: the catalog file is required".to_owned()]
        } else {
            Vec::new()
        }
    }
}

/// Opens the catalog, applies crawler results in edge order, and outputs the catalog.
pub async fn run(config: &CatalogConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let store = Arc::new(CatalogStore::open(&ctx.resolve(&config.path))?);
    let mut changes = Vec::new();
    for v in ctx.inputs.get("crawlers").into_iter().flatten() {
        let Value::Crawl(report) = v else {
            return Err(Error::Internal(
                "catalog input 'crawlers' got a non-crawl value".into(),
            ));
        };
        for change in apply_to_catalog(&store, report)? {
            if let Some(c) = &change.change
                && change.status == "schema change logged"
            {
                ctx.events.warn(
                    &ctx.node.id,
                    format!(
                        "{}.{}: schema change not applied (policy: log): {c}",
                        change.database, change.table
                    ),
                );
            }
            changes.push(change);
        }
    }
    let catalog = store.snapshot();
    let tables: Vec<_> = catalog.tables().collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("database", DataType::Utf8, false),
        Field::new("table", DataType::Utf8, false),
        Field::new("format", DataType::Utf8, false),
        Field::new("columns", DataType::UInt32, false),
        Field::new("partitions", DataType::UInt32, false),
        Field::new("files", DataType::UInt64, false),
        Field::new("size_bytes", DataType::UInt64, false),
        Field::new("version", DataType::UInt32, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(
                tables.iter().map(|(d, _)| *d),
            )),
            Arc::new(StringArray::from_iter_values(
                tables.iter().map(|(_, t)| t.name.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                tables.iter().map(|(_, t)| t.format.to_string()),
            )),
            Arc::new(UInt32Array::from_iter_values(
                tables.iter().map(|(_, t)| t.columns.len() as u32),
            )),
            Arc::new(UInt32Array::from_iter_values(
                tables.iter().map(|(_, t)| t.partitions.len() as u32),
            )),
            Arc::new(UInt64Array::from_iter_values(
                tables.iter().map(|(_, t)| t.stats.files),
            )),
            Arc::new(UInt64Array::from_iter_values(
                tables.iter().map(|(_, t)| t.stats.size_bytes),
            )),
            Arc::new(UInt32Array::from_iter_values(
                tables.iter().map(|(_, t)| t.version),
            )),
        ],
    )
    .map_err(|e| Error::Internal(e.to_string()))?;
    ctx.events.preview(
        &ctx.node.id,
        "catalog",
        schema,
        vec![batch],
        tables.len() as u64,
    );
    let mut out = NodeOutput {
        stats: NodeStats {
            records_in: changes.len() as u64,
            records_out: tables.len() as u64,
            detail: serde_json::json!({
                "path": store.path(),
                "databases": catalog.databases.len(),
                "tables": tables.len(),
                "changes": changes,
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    out.outputs.insert("catalog", Value::Catalog(store));
    Ok(out)
}
