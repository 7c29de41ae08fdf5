//! Views (`CREATE VIEW`) as a session sees them: each is planned from its SQL when a
//! query names it, in the view's database, and checked against the columns it had when
//! it was created. The planned view is a DataFusion `ViewTable`, which the planner
//! inlines, so a view runs wherever its tables run (a Ballista cluster included).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::RwLock;

use super::catalog::{Catalog, DEFAULT_DATABASE, View};
use crate::datafusion::catalog::TableProvider;
use crate::datafusion::common::DataFusionError;
use crate::datafusion::datasource::ViewTable;
use crate::datafusion::execution::context::SessionContext;
use crate::datafusion::execution::session_state::SessionState;
use crate::datafusion::sql::parser::DFParser;
use crate::error::{Error, Result};

/// Views nested deeper than this are refused (a cycle made by replacing a view).
const MAX_NESTING: usize = 32;

/// Plans a session's views with the session's own state (held weakly: the state owns
/// the catalog that owns this).
#[derive(Clone, Debug)]
pub struct ViewPlanner {
    state: Weak<RwLock<SessionState>>,
    depth: Arc<AtomicUsize>,
}

/// Decrements the nesting depth when a view is planned.
struct Nesting(Arc<AtomicUsize>);

impl Drop for Nesting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ViewPlanner {
    /// A planner for `ctx`'s views.
    pub fn new(ctx: &SessionContext) -> Self {
        Self {
            state: Arc::downgrade(&ctx.state_ref()),
            depth: Arc::default(),
        }
    }

    /// The view as a table: its SQL planned in `database`, checked against its recorded
    /// columns.
    pub async fn plan(
        &self,
        database: &str,
        view: &View,
    ) -> std::result::Result<Arc<dyn TableProvider>, DataFusionError> {
        let qualified = format!("{database}.{}", view.name);
        let nesting = Nesting(self.depth.clone());
        if nesting.0.fetch_add(1, Ordering::SeqCst) >= MAX_NESTING {
            return Err(DataFusionError::Plan(format!(
                "view '{qualified}' nests views more than {MAX_NESTING} deep; a view probably reads itself through another view (replace one of them)"
            )));
        }
        let Some(state) = self.state.upgrade() else {
            return Err(DataFusionError::Plan(format!(
                "view '{qualified}' was named after its session ended"
            )));
        };
        let mut state = state.read().clone();
        state.config_mut().options_mut().catalog.default_schema = database.to_owned();
        let plan = crate::lake::sql::logical_plan(&state, &view.sql).await.map_err(|e| {
            DataFusionError::Plan(format!(
                "view '{qualified}' is stale: its query no longer plans against the tables it reads ({}). Re-create it with CREATE OR REPLACE VIEW",
                crate::error::describe_datafusion_error(&e).trim_end()
            ))
        })?;
        drop(nesting);
        let now: Vec<(String, String)> = plan
            .schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().to_string()))
            .collect();
        let recorded: Vec<(String, String)> = view
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.data_type.clone()))
            .collect();
        if now != recorded {
            let show = |cols: &[(String, String)]| {
                cols.iter()
                    .map(|(n, t)| format!("{n} {t}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(DataFusionError::Plan(format!(
                "view '{qualified}' is stale: it was created with columns ({}) and its query now gives ({}), because a table it reads changed. Re-create it with CREATE OR REPLACE VIEW (Athena says VIEW_IS_STALE)",
                show(&recorded),
                show(&now)
            )));
        }
        Ok(Arc::new(ViewTable::new(plan, Some(view.sql.clone()))))
    }
}

/// The tables and views `sql` names, as `db.name` (unqualified names in `database`).
pub fn references(sql: &str, database: &str) -> Result<BTreeSet<String>> {
    let mut statements = DFParser::parse_sql(sql)
        .map_err(|e| Error::Sql(crate::error::describe_datafusion_error(&e)))?;
    let Some(statement) = statements.pop_front() else {
        return Err(Error::Sql("the view's query is empty".to_owned()));
    };
    let (tables, _ctes) =
        crate::datafusion::sql::resolve::resolve_table_references(&statement, true)
            .map_err(|e| Error::Sql(crate::error::describe_datafusion_error(&e)))?;
    Ok(tables
        .into_iter()
        .map(|t| {
            let db = t.schema().unwrap_or(database);
            format!("{db}.{}", t.table())
        })
        .collect())
}

/// Checks that defining view `qualified` as `sql` makes no view read itself, following
/// the catalog's other views.
pub fn check_no_cycle(catalog: &Catalog, qualified: &str, sql: &str) -> Result<()> {
    let (db, _) = qualified
        .split_once('.')
        .unwrap_or((DEFAULT_DATABASE, qualified));
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (d, database) in &catalog.databases {
        for (name, view) in &database.views {
            let key = format!("{d}.{name}");
            if key != qualified {
                graph.insert(key, references(&view.sql, d).unwrap_or_default());
            }
        }
    }
    graph.insert(qualified.to_owned(), references(sql, db)?);
    let mut stack = vec![(qualified.to_owned(), vec![qualified.to_owned()])];
    while let Some((at, path)) = stack.pop() {
        for next in graph.get(&at).into_iter().flatten() {
            if next == qualified {
                let mut cycle = path.clone();
                cycle.push(next.clone());
                return Err(Error::Sql(format!(
                    "view '{qualified}' would read itself: {}",
                    cycle.join(" → ")
                )));
            }
            if graph.contains_key(next) && !path.contains(next) {
                let mut p = path.clone();
                p.push(next.clone());
                stack.push((next.clone(), p));
            }
        }
    }
    Ok(())
}
