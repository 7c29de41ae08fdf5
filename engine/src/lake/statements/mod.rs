//! Athena's statements besides SELECT, run against the catalog file with its atomic
//! writes: partitions (`SHOW PARTITIONS`, `MSCK REPAIR TABLE`, `ALTER TABLE … ADD|DROP
//! PARTITION`, `SET TBLPROPERTIES`, `CHANGE COLUMN`: [`partitions`]) and tables and views
//! (`CREATE TABLE AS`, `INSERT INTO`, `UNLOAD`, `CREATE|DROP VIEW`, `DROP TABLE`, `SHOW
//! CREATE TABLE|VIEW`, `SHOW VIEWS`, `DESCRIBE`: [`tables`], which writes through the ETL
//! writer's staging and commit). Everything else goes to DataFusion
//! ([`super::sql::run_query`]). Statements that change the catalog or write files need
//! the query's `allow_writes`.
//!
//! Table names may be written as Athena writes them: `t`, `db.t`, or
//! `awsdatacatalog.db.t`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use futures::TryStreamExt as _;

use super::catalog::{CatalogStore, Partition, Table};
use super::provider::{ScanHooks, partition_location};
use super::sql::{QueryResult, QueryStats};
use crate::arrow::array::{RecordBatch, StringArray};
use crate::arrow::datatypes::{DataType, Field, Schema};
use crate::datafusion::datasource::listing::ListingTableUrl;
use crate::datafusion::execution::context::SessionContext;
use crate::datafusion::sql::sqlparser::dialect::GenericDialect;
use crate::datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use crate::error::{Error, Result};

/// The name Athena gives the Glue catalog in qualified names.
const ATHENA_CATALOG: &str = "awsdatacatalog";

mod parse;
mod partitions;
mod show;
mod tables;
mod views;

pub use parse::parse;

/// A partition as a statement names it: `(key = 'value', …)` and an optional location.
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionSpecText {
    /// Key and value pairs as written.
    pub pairs: Vec<(String, String)>,
    /// `LOCATION '…'`.
    pub location: Option<String>,
}

/// A value in a `WITH (name = value, …)` list.
#[derive(Clone, Debug, PartialEq)]
pub enum Property {
    /// A string, number or boolean, as text.
    Text(String),
    /// `ARRAY['a', 'b']`.
    List(Vec<String>),
}

/// A catalog statement.
#[derive(Clone, Debug, PartialEq)]
pub enum CatalogStatement {
    /// `CREATE TABLE [IF NOT EXISTS] t [WITH (…)] AS query [WITH [NO] DATA]`.
    CreateTableAs {
        table: String,
        if_not_exists: bool,
        properties: Vec<(String, Property)>,
        query: String,
        with_data: bool,
    },
    /// `INSERT INTO t [(columns)] query`.
    InsertInto {
        table: String,
        columns: Vec<String>,
        query: String,
    },
    /// `UNLOAD (query) TO 'location' WITH (…)`.
    Unload {
        query: String,
        location: String,
        properties: Vec<(String, Property)>,
    },
    /// `CREATE [OR REPLACE] VIEW v AS query`.
    CreateView {
        view: String,
        or_replace: bool,
        query: String,
    },
    /// `DROP VIEW [IF EXISTS] v`.
    DropView { view: String, if_exists: bool },
    /// `DROP TABLE [IF EXISTS] t`.
    DropTable { table: String, if_exists: bool },
    /// `SHOW CREATE TABLE t` or `SHOW CREATE VIEW v`.
    ShowCreate { name: String, view: bool },
    /// `SHOW VIEWS [IN db]`.
    ShowViews { database: Option<String> },
    /// `DESCRIBE t`.
    Describe { table: String },
    /// `SHOW PARTITIONS t`.
    ShowPartitions { table: String },
    /// `MSCK REPAIR TABLE t`.
    Repair { table: String },
    /// `ALTER TABLE t ADD [IF NOT EXISTS] PARTITION (…) [LOCATION '…'] …`.
    AddPartitions {
        table: String,
        if_not_exists: bool,
        partitions: Vec<PartitionSpecText>,
    },
    /// `ALTER TABLE t DROP [IF EXISTS] PARTITION (…), PARTITION (…)`.
    DropPartitions {
        table: String,
        if_exists: bool,
        partitions: Vec<PartitionSpecText>,
    },
    /// `ALTER TABLE t SET TBLPROPERTIES ('k' = 'v', …)`.
    SetProperties {
        table: String,
        properties: Vec<(String, String)>,
    },
    /// `ALTER TABLE t SET SERDEPROPERTIES ('k' = 'v', …)`.
    SetSerdeProperties {
        table: String,
        properties: Vec<(String, String)>,
    },
    /// `ALTER TABLE t CHANGE [COLUMN] name new_name type`.
    ChangeColumn {
        table: String,
        column: String,
        new_name: String,
        data_type: String,
    },
}

impl CatalogStatement {
    /// The statement's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ShowPartitions { .. } => "SHOW PARTITIONS",
            Self::Repair { .. } => "MSCK REPAIR TABLE",
            Self::AddPartitions { .. } => "ALTER TABLE ADD PARTITION",
            Self::DropPartitions { .. } => "ALTER TABLE DROP PARTITION",
            Self::SetProperties { .. } => "ALTER TABLE SET TBLPROPERTIES",
            Self::ChangeColumn { .. } => "ALTER TABLE CHANGE COLUMN",
            Self::SetSerdeProperties { .. } => "ALTER TABLE SET SERDEPROPERTIES",
            Self::CreateTableAs { .. } => "CREATE TABLE AS",
            Self::InsertInto { .. } => "INSERT INTO",
            Self::Unload { .. } => "UNLOAD",
            Self::CreateView { .. } => "CREATE VIEW",
            Self::DropView { .. } => "DROP VIEW",
            Self::DropTable { .. } => "DROP TABLE",
            Self::ShowCreate { view: false, .. } => "SHOW CREATE TABLE",
            Self::ShowCreate { view: true, .. } => "SHOW CREATE VIEW",
            Self::ShowViews { .. } => "SHOW VIEWS",
            Self::Describe { .. } => "DESCRIBE",
        }
    }

    /// Whether it changes the catalog or writes files.
    pub fn writes(&self) -> bool {
        !matches!(
            self,
            Self::ShowPartitions { .. }
                | Self::ShowCreate { .. }
                | Self::ShowViews { .. }
                | Self::Describe { .. }
        )
    }
}

/// Checks a statement before a run: a catalog statement must parse (and may write only
/// with `allow_writes`); anything else must be read-only SQL.
pub fn check(sql: &str, allow_writes: bool) -> Result<()> {
    match parse(sql) {
        None => super::sql::check_read_only(sql),
        Some(Err(e)) => Err(e),
        Some(Ok(s)) if s.writes() && !allow_writes => Err(refused(&s)),
        Some(Ok(_)) => Ok(()),
    }
}

fn refused(statement: &CatalogStatement) -> Error {
    Error::Sql(format!(
        "{} writes to the catalog or the lake; turn on the query's allow_writes setting (tributary query --allow-writes) to run it",
        statement.name()
    ))
}

/// Where a statement runs: the query's session, its catalog, and who is asking.
pub struct Runner<'a> {
    /// The query's session.
    pub ctx: &'a SessionContext,
    /// The catalog, when the query has one.
    pub store: Option<&'a CatalogStore>,
    /// The query's scan hooks (notes, scanned files).
    pub hooks: &'a ScanHooks,
    /// Whether statements that write may run.
    pub allow_writes: bool,
    /// Where the run's SQL executes (local or a cluster).
    pub env: &'a crate::api::Environment,
    /// Who writes, for table versions (`query:<node>`).
    pub by: String,
}

/// Runs `sql`: a catalog statement against the runner's store, anything else as a
/// read-only query. Writes are refused unless `allow_writes`.
pub async fn run(runner: &Runner<'_>, sql: &str) -> Result<QueryResult> {
    let (ctx, hooks) = (runner.ctx, runner.hooks);
    let Some(statement) = parse(sql) else {
        return super::sql::run_query(ctx, sql, hooks).await;
    };
    let statement = statement?;
    if statement.writes() && !runner.allow_writes {
        return Err(refused(&statement));
    }
    // DESCRIBE of something the catalog does not hold (a query's `input`) is DataFusion's.
    if let CatalogStatement::Describe { table } = &statement {
        let known = runner.store.is_some_and(|s| {
            let c = s.lock();
            c.resolve(table).is_ok() || c.view(table).is_some()
        });
        if !known {
            return super::sql::run_query(ctx, sql, hooks).await;
        }
    }
    let store = runner.store.ok_or_else(|| {
        Error::Sql(format!(
            "{} needs a catalog (connect the query's catalog input)",
            statement.name()
        ))
    })?;
    let start = Instant::now();
    let (header, rows, written) = match statement {
        CatalogStatement::ShowPartitions { .. }
        | CatalogStatement::Repair { .. }
        | CatalogStatement::AddPartitions { .. }
        | CatalogStatement::DropPartitions { .. }
        | CatalogStatement::SetProperties { .. }
        | CatalogStatement::SetSerdeProperties { .. }
        | CatalogStatement::ChangeColumn { .. } => {
            let (header, rows) = partitions::execute(ctx, store, &statement, hooks).await?;
            (header, rows, None)
        }
        _ => tables::execute(runner, store, &statement).await?,
    };
    let schema = Arc::new(Schema::new(
        header
            .iter()
            .map(|h| Field::new(*h, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    ));
    let columns = (0..header.len())
        .map(|i| {
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r[i].as_str()),
            )) as crate::arrow::array::ArrayRef
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let mut stats = written.map(written_stats).unwrap_or_default();
    stats.rows = rows.len() as u64;
    stats.elapsed_ms = start.elapsed().as_millis() as u64;
    stats.notes = hooks.notes();
    Ok(QueryResult {
        schema,
        stats,
        batches: vec![batch],
    })
}

/// Header and rows of a statement's result.
type Rows = (Vec<&'static str>, Vec<Vec<String>>);

/// What a writing statement read, as a query's stats (Athena bills CTAS, INSERT INTO and
/// UNLOAD by the data their query scans).
fn written_stats(report: super::writer::EtlReport) -> QueryStats {
    let billed = super::sql::athena_billed_bytes(report.bytes_read);
    QueryStats {
        rows_read: report.rows_read,
        files_scanned: report.files_read,
        bytes_scanned: report.bytes_read,
        billed_bytes: billed,
        cost_usd: super::sql::athena_cost_usd(billed),
        ..Default::default()
    }
}

fn resolve<'a>(catalog: &'a super::catalog::Catalog, table: &str) -> Result<(&'a str, &'a Table)> {
    catalog
        .resolve(table)
        .map_err(|e| Error::Sql(e.to_string()))
}

/// `db.table` for a name as written.
fn qualified(store: &CatalogStore, table: &str) -> Result<String> {
    let catalog = store.snapshot();
    let (db, t) = resolve(&catalog, table)?;
    Ok(format!("{db}.{}", t.name))
}

/// The table's folder, resolved, ending in `/`.
fn table_root(store: &CatalogStore, table: &str) -> Result<String> {
    let catalog = store.snapshot();
    let (_, t) = resolve(&catalog, table)?;
    let mut root = store.resolve_location(&t.location);
    if !root.ends_with('/') {
        root.push('/');
    }
    Ok(root)
}

fn table_mut<'a>(
    catalog: &'a mut super::catalog::Catalog,
    qualified: &str,
) -> Result<&'a mut Table> {
    let (db, name) = qualified.split_once('.').unwrap_or(("default", qualified));
    catalog
        .databases
        .get_mut(db)
        .and_then(|d| d.tables.get_mut(name))
        .ok_or_else(|| Error::Sql(format!("table '{qualified}' is gone from the catalog")))
}
