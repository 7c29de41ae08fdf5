//! Schema-drift impact: what the newest versions of the catalog's tables (a crawl that
//! found a column gone or retyped) do to the project. Each node's SQL (query, ETL job,
//! EMR step) is planned against the tables as they were before their newest version and
//! as they are now, in the graph's order (an ETL job's planned output is the table
//! downstream nodes read): SQL that planned before and fails now **breaks**; SQL whose
//! output columns differ **changes**; a chart whose columns vanish from its input breaks.
//! Nothing runs and no file is read but the catalogs.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use crate::datafusion::catalog::MemorySchemaProvider;
use crate::error::Result;
use crate::lake::catalog::{CatalogStore, Column, DEFAULT_DATABASE};
use crate::nodes::NodeConfig;
use crate::project::Project;

/// What the newest table versions do to one node.
#[derive(Clone, Debug, PartialEq)]
pub struct Impact {
    /// The node.
    pub node: String,
    /// The setting at fault (`sql`, `steps[1].sql`, `y`).
    pub setting: String,
    /// Breaks or changes, and how.
    pub verdict: Verdict,
}

/// How a node is affected.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// It planned against the tables before and does not now: the error.
    Breaks(String),
    /// It plans, but its output columns differ: one line per column.
    Changes(Vec<String>),
}

/// A table's newest version, as the report lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct Drifted {
    /// The catalog file that has it.
    pub catalog: std::path::PathBuf,
    /// `db.table`.
    pub table: String,
    /// Its newest version number.
    pub version: u32,
    /// What that version changed.
    pub change: String,
    /// A version a crawl proposed (its `schema_change_policy` is `log`) and nobody has
    /// accepted yet: compared with the current one. Otherwise the newest version, applied,
    /// compared with the one before.
    pub proposed: bool,
}

/// The tables as planning sees them: `(db, table)` → columns.
type Tables = BTreeMap<(String, String), SchemaRef>;

/// One SQL statement of a node: its setting, the SQL, and the table it writes.
struct Sql {
    setting: String,
    sql: String,
    writes: Option<(String, String)>,
}

fn schema_of(columns: &[Column], partitions: &[Column]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .chain(partitions)
            .map(|c| {
                let t = c.data_type.parse::<DataType>().unwrap_or(DataType::Utf8);
                Field::new(&c.name, t, true)
            })
            .collect::<Vec<_>>(),
    ))
}

/// The columns `sql` gives over `tables`, or why it does not plan.
fn plan(tables: &Tables, sql: &str) -> std::result::Result<SchemaRef, String> {
    let env = crate::api::Environment::default();
    let ctx = crate::lake::sql::session(None, &crate::lake::provider::ScanHooks::default(), &env)
        .map_err(|e| e.to_string())?;
    let catalog = ctx
        .catalog(crate::lake::provider::CATALOG_NAME)
        .ok_or("no catalog")?;
    for ((db, name), schema) in tables {
        let provider = match catalog.schema(db) {
            Some(p) => p,
            None => {
                let p = Arc::new(MemorySchemaProvider::new());
                let _ = catalog.register_schema(db, p.clone());
                p
            }
        };
        let table = crate::datafusion::datasource::MemTable::try_new(schema.clone(), vec![vec![]])
            .map_err(|e| e.to_string())?;
        let _ = provider.register_table(name.clone(), Arc::new(table));
    }
    futures::executor::block_on(crate::lake::sql::logical_plan(&ctx.state(), sql))
        .map(|p| Arc::new(p.schema().as_arrow().clone()))
        .map_err(|e| crate::error::describe_datafusion_error(&e).replace('\n', " "))
}

/// Output columns that differ between `before` and `after`, one line each.
fn column_changes(before: &SchemaRef, after: &SchemaRef) -> Vec<String> {
    let mut out = Vec::new();
    for f in before.fields() {
        match after.field_with_name(f.name()) {
            Err(_) => out.push(format!("column {} is gone", f.name())),
            Ok(g) if g.data_type() != f.data_type() => out.push(format!(
                "column {}: {} → {}",
                f.name(),
                f.data_type(),
                g.data_type()
            )),
            Ok(_) => {}
        }
    }
    for g in after.fields() {
        if before.field_with_name(g.name()).is_err() {
            out.push(format!("column {} is new ({})", g.name(), g.data_type()));
        }
    }
    out
}

/// The impact of the newest table versions of the project's catalogs (the catalog
/// nodes' files under `base_dir`): the tables that have a newer version (a proposed one
/// first: what accepting it would do), and each node they break or change, in the
/// graph's order.
pub fn against_catalog(project: &Project, base_dir: &Path) -> Result<(Vec<Drifted>, Vec<Impact>)> {
    against_catalog_where(project, base_dir, |_| true)
}

/// [`against_catalog`] for the drifted tables `include` keeps (the designer leaves out
/// versions the user dismissed); the others count as unchanged.
pub fn against_catalog_where(
    project: &Project,
    base_dir: &Path,
    include: impl Fn(&Drifted) -> bool,
) -> Result<(Vec<Drifted>, Vec<Impact>)> {
    let mut before = Tables::new();
    let mut now = Tables::new();
    let mut drifted = Vec::new();
    for node in &project.nodes {
        let NodeConfig::Catalog(c) = &node.config else {
            continue;
        };
        let path = crate::fsutil::resolve_path(base_dir, &c.path);
        if !path.exists() {
            continue;
        }
        let catalog = CatalogStore::open(&path)?.snapshot();
        for (db, database) in &catalog.databases {
            for (name, t) in &database.tables {
                let key = (db.clone(), name.clone());
                let current = schema_of(&t.columns, &t.partition_keys);
                let previous = t
                    .versions
                    .len()
                    .checked_sub(2)
                    .and_then(|i| t.versions.get(i));
                // (before, after, what): a proposal against the current version, else the
                // current version against the one before it.
                let compared = match (&t.proposed, previous) {
                    (Some(p), _) => Some((
                        current.clone(),
                        schema_of(&p.columns, &p.partition_keys),
                        Drifted {
                            catalog: path.clone(),
                            table: format!("{db}.{name}"),
                            version: p.version,
                            change: p.change.clone(),
                            proposed: true,
                        },
                    )),
                    (None, Some(p)) => Some((
                        schema_of(&p.columns, &p.partition_keys),
                        current.clone(),
                        Drifted {
                            catalog: path.clone(),
                            table: format!("{db}.{name}"),
                            version: t.version,
                            change: t
                                .versions
                                .last()
                                .map(|v| v.change.clone())
                                .unwrap_or_default(),
                            proposed: false,
                        },
                    )),
                    (None, None) => None,
                };
                match compared.filter(|(_, _, d)| include(d)) {
                    Some((b, a, d)) => {
                        before.insert(key.clone(), b);
                        now.insert(key, a);
                        drifted.push(d);
                    }
                    None => {
                        before.insert(key.clone(), current.clone());
                        now.insert(key, current);
                    }
                }
            }
        }
    }
    let mut impacts = Vec::new();
    // Each node's output columns before and now, for the charts after it.
    let mut outputs: BTreeMap<String, (Option<SchemaRef>, Option<SchemaRef>)> = BTreeMap::new();
    for id in project.topological_order()? {
        let Some(node) = project.node(&id) else {
            continue;
        };
        let mut statements: Vec<Sql> = Vec::new();
        match &node.config {
            NodeConfig::Query(q) => statements.push(Sql {
                setting: "sql".to_owned(),
                sql: q.sql.clone(),
                writes: None,
            }),
            NodeConfig::Etl(e) => statements.push(Sql {
                setting: "sql".to_owned(),
                sql: e.sql.clone(),
                writes: Some((e.database.clone(), e.table.clone())),
            }),
            NodeConfig::EmrJob(j) => {
                for (i, step) in j.steps.iter().enumerate() {
                    statements.push(Sql {
                        setting: format!("steps[{i}].sql"),
                        sql: step.sql.clone(),
                        writes: step
                            .write
                            .as_ref()
                            .map(|w| (w.database.clone(), w.table.clone())),
                    });
                }
            }
            NodeConfig::SeriesSink(s) => {
                let Some((_, (Some(b), Some(a)))) = project
                    .valid_edges()
                    .filter(|e| e.to.node == id)
                    .find_map(|e| outputs.get(&e.from.node).map(|o| (e, o.clone())))
                else {
                    continue;
                };
                for (setting, column) in [("x", &s.x), ("y", &s.y), ("series", &s.series)] {
                    if !column.is_empty()
                        && b.field_with_name(column).is_ok()
                        && a.field_with_name(column).is_err()
                    {
                        impacts.push(Impact {
                            node: id.clone(),
                            setting: setting.to_owned(),
                            verdict: Verdict::Breaks(format!(
                                "its input no longer has the column {column}"
                            )),
                        });
                    }
                }
                continue;
            }
            _ => continue,
        }
        let mut last = (None, None);
        for Sql {
            setting,
            sql,
            writes,
        } in statements
        {
            if sql.trim().is_empty() {
                continue;
            }
            let (b, a) = (plan(&before, &sql), plan(&now, &sql));
            match (&b, &a) {
                (Ok(_), Err(e)) => impacts.push(Impact {
                    node: id.clone(),
                    setting,
                    verdict: Verdict::Breaks(e.clone()),
                }),
                (Ok(b), Ok(a)) => {
                    let changes = column_changes(b, a);
                    if !changes.is_empty() {
                        impacts.push(Impact {
                            node: id.clone(),
                            setting,
                            verdict: Verdict::Changes(changes),
                        });
                    }
                }
                // It did not plan before either: validation and runs say why.
                (Err(_), _) => {}
            }
            // What this step writes is the table the nodes after it read.
            if let Some((db, table)) = writes {
                let db = if db.is_empty() {
                    DEFAULT_DATABASE.to_owned()
                } else {
                    db
                };
                if let Ok(s) = &b {
                    before.insert((db.clone(), table.clone()), s.clone());
                }
                if let Ok(s) = &a {
                    now.insert((db, table), s.clone());
                }
            }
            last = (b.ok(), a.ok());
        }
        outputs.insert(id, last);
    }
    Ok((drifted, impacts))
}
