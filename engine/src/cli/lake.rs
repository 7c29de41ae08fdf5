//! The lake commands: `crawl`, `query` and `catalog`, each a small graph run through
//! the engine (or, for `catalog`, a read of the catalog file).

use std::io::{IsTerminal as _, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{CatalogCommand, absolute, edge, first_error, node};
use crate::api::{Event, RunTarget};
use crate::arrow::array::{RecordBatch, StringArray, UInt32Array, UInt64Array};
use crate::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use crate::engine::run_project_blocking;
use crate::lake::catalog::CatalogStore;
use crate::lake::crawler::TableChange;
use crate::lake::glue_types::glue_type_of;
use crate::lake::sql::{OutputFormat, QueryStats, format_batches};
use crate::nodes::NodeConfig;
use crate::nodes::bucket::{BucketConfig, OBJECTS};
use crate::nodes::catalog::{CRAWLERS, CatalogConfig, CatalogReport};
use crate::nodes::crawler::{CrawlerConfig, SOURCE, TABLES};
use crate::nodes::ports::{CATALOG_IN, CATALOG_OUT};
use crate::nodes::query::QueryConfig;
use crate::project::Project;

pub(super) fn crawl(
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
        // A one-off command leaves no recorded runs behind.
        runs_kept: 0,
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
    let (schema, batch) = changes_table(&changes)?;
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

/// What a crawl changed, table by table, as a printable table.
fn changes_table(changes: &[TableChange]) -> Result<(SchemaRef, RecordBatch), String> {
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
    Ok((schema, batch))
}

pub(super) fn query(
    catalog: &Path,
    sql: &str,
    format: OutputFormat,
    scheduler: Option<String>,
    allow_writes: bool,
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
                    allow_writes,
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
        runs_kept: 0,
        ..Default::default()
    };
    // The query node's own validation would only repeat the SQL error; check first.
    if let Err(e) = crate::lake::statements::check(sql, allow_writes) {
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
        eprintln!("{}", q.summary());
        for note in &q.notes {
            eprintln!("note: {note}");
        }
    }
    Ok(0)
}

pub use crate::lake::sql::human_bytes;

pub(super) fn catalog_cmd(
    path: &Path,
    what: CatalogCommand,
    out: &mut dyn Write,
) -> Result<i32, String> {
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
                    "  {} {} (Arrow {}{})\n",
                    c.name,
                    glue_type_of(&c.data_type),
                    c.data_type,
                    c.text_format
                        .as_ref()
                        .map(|f| format!(", text form {f}"))
                        .unwrap_or_default()
                ));
            }
            for c in &t.partition_keys {
                text.push_str(&format!(
                    "  {} {} (Arrow {}, partition key)\n",
                    c.name,
                    glue_type_of(&c.data_type),
                    c.data_type
                ));
            }
            for p in &t.partitions {
                text.push_str(&format!(
                    "  partition {}: {} file(s), {} bytes\n",
                    p.values.join("/"),
                    p.files,
                    p.size_bytes
                ));
            }
            for (k, v) in &t.parameters {
                text.push_str(&format!("  property {k} = {v}\n"));
            }
            for f in &t.options.excluded_files {
                text.push_str(&format!("  left out (the crawler could not use it): {f}\n"));
            }
        }
        CatalogCommand::Accept { table } => {
            let change = store
                .update(|c| c.accept_proposed(&table, "cli:accept"))
                .map_err(|e| e.to_string())?;
            let (db, t) = store
                .snapshot()
                .resolve(&table)
                .map(|(db, t)| (db.to_owned(), t.clone()))
                .map_err(|e| e.to_string())?;
            text.push_str(&format!(
                "{db}.{} is at version {}: {change}\n",
                t.name, t.version
            ));
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
