//! Catalog node: the Glue-like catalog file beside the project. Crawlers wired into it
//! apply their findings here; ETL and query nodes read it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::form::{Editor, Field, FieldProblem, Problems};
use super::ports::CATALOG_OUT;
use super::{Category, Kind, NodeContext, NodeOutput, NodeStats, PortSpec, PortType, Value};
use crate::arrow::array::{RecordBatch, StringArray, UInt32Array, UInt64Array};
use crate::arrow::datatypes::{DataType, Field as ArrowField, Schema};
use crate::error::{Error, Result};
use crate::lake::catalog::CatalogStore;
use crate::lake::crawler::{TableChange, apply_to_catalog};

/// Crawlers whose findings go into the catalog.
pub const CRAWLERS: PortSpec = PortSpec::input("crawlers", PortType::Crawl).multiple();

/// The catalog node.
pub struct CatalogKind;

/// What a catalog node reports.
#[derive(Clone, Debug, Serialize)]
pub struct CatalogReport {
    /// The catalog file.
    pub path: std::path::PathBuf,
    /// Databases in it.
    pub databases: usize,
    /// Tables in it.
    pub tables: usize,
    /// What the crawlers changed, table by table.
    pub changes: Vec<TableChange>,
}

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

impl Kind for CatalogKind {
    type Config = CatalogConfig;
    const NAME: &'static str = "catalog";
    const CATEGORY: Category = Category::Lake;
    const DESCRIPTION: &'static str =
        "A Glue-like data catalog of databases, tables, partitions and versions.";
    const ICON: &'static str = "📚";
    const INPUTS: &'static [PortSpec] = &[CRAWLERS];
    const OUTPUTS: &'static [PortSpec] = &[CATALOG_OUT];
    const FIELDS: &'static [Field] = &[Field::new(
        "path",
        "Catalog file",
        Editor::Text,
        "The catalog file, relative to the project file or absolute.",
    )];

    fn validate(config: &CatalogConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        p.check(
            !config.path.trim().is_empty(),
            "path",
            "the catalog file is required",
        );
        p.into_vec()
    }

    async fn run(config: &CatalogConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        run(config, ctx).await
    }
}

/// Opens the catalog, applies crawler results in edge order, and outputs the catalog.
async fn run(config: &CatalogConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
    let store = Arc::new(CatalogStore::open(&ctx.resolve(&config.path))?);
    let mut changes = Vec::new();
    for v in ctx.all(&CRAWLERS) {
        let Value::Crawl(report) = v else {
            return Err(Error::Internal(
                "catalog input 'crawlers' got a non-crawl value".into(),
            ));
        };
        for change in apply_to_catalog(&store, report)? {
            if let Some(c) = &change.change
                && change.status == "schema change logged"
            {
                ctx.warn(format!(
                    "{}.{}: schema change not applied (policy: log): {c}",
                    change.database, change.table
                ));
            }
            changes.push(change);
        }
    }
    let catalog = store.snapshot();
    let tables: Vec<_> = catalog.tables().collect();
    let schema = Arc::new(Schema::new(vec![
        ArrowField::new("database", DataType::Utf8, false),
        ArrowField::new("table", DataType::Utf8, false),
        ArrowField::new("format", DataType::Utf8, false),
        ArrowField::new("columns", DataType::UInt32, false),
        ArrowField::new("partitions", DataType::UInt32, false),
        ArrowField::new("files", DataType::UInt64, false),
        ArrowField::new("size_bytes", DataType::UInt64, false),
        ArrowField::new("version", DataType::UInt32, false),
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
    ctx.preview(&CATALOG_OUT, schema, vec![batch], tables.len() as u64);
    let stats = NodeStats {
        records_in: changes.len() as u64,
        records_out: tables.len() as u64,
        ..Default::default()
    }
    .with_report(CatalogReport {
        path: store.path().to_path_buf(),
        databases: catalog.databases.len(),
        tables: tables.len(),
        changes,
    });
    Ok(NodeOutput::finished(stats).with(&CATALOG_OUT, Value::Catalog(store)))
}
