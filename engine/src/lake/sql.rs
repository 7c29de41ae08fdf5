//! SQL sessions over the catalog: read-only checks, execution with Athena-like stats,
//! and printing results as tables, CSV or JSON.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::catalog::{CatalogStore, DEFAULT_DATABASE};
use super::provider::{CATALOG_NAME, LakeCatalogProvider, ScanHooks};
use crate::api::Environment;
use crate::arrow::array::RecordBatch;
use crate::arrow::datatypes::SchemaRef;
use crate::datafusion::error::DataFusionError;
use crate::datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use crate::datafusion::execution::session_state::SessionStateBuilder;
use crate::datafusion::physical_plan::{ExecutionPlan, collect};
use crate::datafusion::sql::parser::{DFParser, Statement as DfStatement};
use crate::datafusion::sql::sqlparser::ast::Statement;
pub use crate::error::describe_datafusion_error;
use crate::error::{Error, Result};

/// Athena's name for the AWS Glue Data Catalog in qualified table names.
pub const ATHENA_CATALOG_NAME: &str = "awsdatacatalog";

/// The session's catalogs, where Athena's `awsdatacatalog` names the catalog too (so
/// `awsdatacatalog.db.table` resolves) without being listed twice in `SHOW TABLES` or
/// `information_schema`.
#[derive(Debug, Default)]
struct AthenaCatalogs(crate::datafusion::catalog::MemoryCatalogProviderList);

impl crate::datafusion::catalog::CatalogProviderList for AthenaCatalogs {
    fn register_catalog(
        &self,
        name: String,
        catalog: Arc<dyn crate::datafusion::catalog::CatalogProvider>,
    ) -> Option<Arc<dyn crate::datafusion::catalog::CatalogProvider>> {
        self.0.register_catalog(name, catalog)
    }

    fn catalog_names(&self) -> Vec<String> {
        self.0.catalog_names()
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn crate::datafusion::catalog::CatalogProvider>> {
        if name.eq_ignore_ascii_case(ATHENA_CATALOG_NAME) {
            self.0.catalog(CATALOG_NAME)
        } else {
            self.0.catalog(name)
        }
    }
}

/// A SQL session that sees the catalog as `tributary.<db>.<table>`, with `default` as
/// the schema bare names resolve in. With a `scheduler` in `env`, plans run on that Apache
/// Ballista cluster: the session plans locally and the scheduler spreads the stages over
/// its executors.
pub fn session(
    store: Option<&CatalogStore>,
    hooks: &ScanHooks,
    env: &Environment,
) -> Result<SessionContext> {
    let config = SessionConfig::new()
        .with_default_catalog_and_schema(CATALOG_NAME, DEFAULT_DATABASE)
        .with_information_schema(true)
        .with_create_default_catalog_and_schema(false)
        // Tables read the files in all their folders (Firehose writes YYYY/MM/dd/HH/);
        // `key=value` folders are partitions either way.
        .set_bool(
            "datafusion.execution.listing_table_ignore_subdirectory",
            false,
        );
    let builder = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_catalog_list(Arc::new(AthenaCatalogs::default()));
    let ctx = match &env.scheduler {
        None => SessionContext::new_with_state(builder.build()),
        Some(url) => {
            use ballista_core::extension::SessionStateExt;
            let state = builder
                .build()
                .upgrade_for_ballista(scheduler_address(url)?)?;
            SessionContext::new_with_state(state)
        }
    };
    super::trino::register(&ctx);
    // S3 buckets opened by bucket nodes: their tables and ETL targets are readable here.
    let mut known = Vec::new();
    for (url, object_store) in crate::lake::bucket::known_stores() {
        known.push(url.as_str().trim_end_matches('/').to_owned());
        ctx.register_object_store(&url, object_store);
    }
    if let Some(store) = store {
        // Buckets the catalog's tables live in, opened in this process if need be.
        let wanted = store.lock().stores.clone();
        for (url, options) in wanted {
            if !known.contains(&url) {
                let bucket = crate::lake::bucket::Bucket::open_s3(&url, &options, "", "")?;
                if let Some((u, s)) = bucket.object_store_url() {
                    ctx.register_object_store(&u, s);
                }
            }
        }
        let views = super::views::ViewPlanner::new(&ctx);
        let provider = if env.scheduler.is_some() {
            LakeCatalogProvider::portable(store, hooks, ctx.runtime_env(), &views)
        } else {
            LakeCatalogProvider::new(store, hooks, &views)?
        };
        ctx.register_catalog(CATALOG_NAME, Arc::new(provider));
    } else {
        let empty = crate::datafusion::catalog::MemoryCatalogProvider::new();
        ctx.register_catalog(CATALOG_NAME, Arc::new(empty));
    }
    Ok(ctx)
}

/// The gRPC address of a Ballista scheduler given as `df://host[:port]` (port 50050 when
/// left out, as Ballista's own clients do).
pub fn scheduler_address(url: &str) -> Result<String> {
    let parsed =
        url::Url::parse(url).map_err(|e| Error::Invalid(format!("scheduler '{url}': {e}")))?;
    let host = parsed
        .host_str()
        .filter(|_| parsed.scheme() == "df")
        .ok_or_else(|| {
            Error::Invalid(format!("scheduler '{url}' must look like df://host:port"))
        })?;
    Ok(format!("http://{host}:{}", parsed.port().unwrap_or(50050)))
}

/// What a read-only statement may be.
pub fn check_read_only(sql: &str) -> Result<()> {
    let statements =
        DFParser::parse_sql(sql).map_err(|e| Error::Sql(describe_datafusion_error(&e)))?;
    if statements.is_empty() {
        return Err(Error::Sql("the SQL is empty".to_owned()));
    }
    if statements.len() > 1 {
        return Err(Error::Sql(format!(
            "one statement expected, found {}",
            statements.len()
        )));
    }
    let allowed = match &statements[0] {
        DfStatement::Statement(s) => {
            matches!(
                **s,
                Statement::Query(_)
                    | Statement::ShowTables { .. }
                    | Statement::ShowColumns { .. }
                    | Statement::ExplainTable { .. }
            ) || matches!(&**s, Statement::Explain { statement, .. } if matches!(**statement, Statement::Query(_)))
        }
        DfStatement::Explain(e) => matches!(
            &*e.statement,
            DfStatement::Statement(s) if matches!(**s, Statement::Query(_))
        ),
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(Error::Sql(format!(
            "only read-only SQL (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN) is allowed here; found {}. Write tables with an ETL node",
            statement_keyword(&statements[0].to_string())
        )))
    }
}

/// The leading keywords of a statement, e.g. `DROP TABLE`.
fn statement_keyword(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().take(3).collect();
    let n = match words.first().map(|w| w.to_ascii_uppercase()) {
        Some(w) if ["DROP", "CREATE", "ALTER", "TRUNCATE"].contains(&w.as_str()) => {
            if words
                .get(1)
                .is_some_and(|w| w.eq_ignore_ascii_case("EXTERNAL") || w.eq_ignore_ascii_case("OR"))
            {
                3
            } else {
                2
            }
        }
        Some(w) if w == "INSERT" => 2,
        _ => 1,
    };
    words[..n.min(words.len())]
        .iter()
        .map(|w| w.to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(" ")
}

/// SQL options that refuse DDL, DML and session statements.
pub fn read_only_options() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// A query's rows and Athena-like statistics.
#[derive(Clone, Debug)]
pub struct QueryResult {
    /// Result schema.
    pub schema: SchemaRef,
    /// Result rows.
    pub batches: Vec<RecordBatch>,
    /// Statistics.
    pub stats: QueryStats,
}

/// Rows, bytes scanned and elapsed time, as Athena reports them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct QueryStats {
    /// Rows read from the tables.
    pub rows_read: u64,
    /// Rows returned.
    pub rows: u64,
    /// Bytes read from storage.
    pub bytes_scanned: u64,
    /// Files read.
    pub files_scanned: u64,
    /// Partitions of partitioned tables read (after pruning by the filters).
    pub partitions_read: u64,
    /// Bytes Athena would bill for the query: the bytes scanned rounded up to a whole
    /// MB, at least 10 MB (0 for statements that only touch the catalog, which Athena
    /// does not bill).
    pub billed_bytes: u64,
    /// What Athena would charge: $5 per TB billed.
    pub cost_usd: f64,
    /// Wall time from planning to the last row.
    pub elapsed_ms: u64,
    /// What the user should know about the tables read (e.g. a partitioned table with
    /// no partitions registered).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl QueryStats {
    /// One line for people: rows, time, what was scanned and what Athena would bill.
    pub fn summary(&self) -> String {
        format!(
            "{} row(s) in {} ms; {} scanned from {} file(s){}{}",
            self.rows,
            self.elapsed_ms,
            human_bytes(self.bytes_scanned),
            self.files_scanned,
            if self.partitions_read > 0 {
                format!(" in {} partition(s)", self.partitions_read)
            } else {
                String::new()
            },
            if self.billed_bytes > 0 {
                format!(
                    "; Athena would bill {} MB: ${:.6}",
                    self.billed_bytes >> 20,
                    self.cost_usd
                )
            } else {
                String::new()
            }
        )
    }
}

/// `1234567` → `1.2 MB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: &[&str] = &["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Athena's price per TB scanned (us-east-1 and most regions).
pub const ATHENA_USD_PER_TB: f64 = 5.0;

/// The bytes Athena bills for a query that scanned `scanned` bytes: rounded up to a
/// whole MB, with a 10 MB minimum (https://aws.amazon.com/athena/pricing/).
pub fn athena_billed_bytes(scanned: u64) -> u64 {
    const MB: u64 = 1 << 20;
    scanned.div_ceil(MB).max(10) * MB
}

/// What Athena charges for `billed` bytes.
pub fn athena_cost_usd(billed: u64) -> f64 {
    billed as f64 / (1u64 << 40) as f64 * ATHENA_USD_PER_TB
}

/// Plans a read-only query.
pub async fn plan_read_only(ctx: &SessionContext, sql: &str) -> Result<Arc<dyn ExecutionPlan>> {
    check_read_only(sql)?;
    let df = read_only_frame(ctx, sql)
        .await
        .map_err(|e| Error::Sql(with_table_hint(ctx, &describe_datafusion_error(&e))))?;
    Ok(df.create_physical_plan().await?)
}

/// A "table … not found" message with the tables the session knows (the crawler's and
/// the ETL's names), the closest first: "did you mean 'weather'?".
pub fn with_table_hint(ctx: &SessionContext, message: &str) -> String {
    let Some(missing) = message
        .strip_prefix("table '")
        .and_then(|rest| rest.split_once("' not found"))
        .map(|(name, _)| name)
    else {
        return message.to_owned();
    };
    // DataFusion names the default catalog in the message; users never write it.
    let shown = missing
        .strip_prefix(&format!("{CATALOG_NAME}."))
        .unwrap_or(missing);
    let wanted = missing.rsplit('.').next().unwrap_or(missing).to_lowercase();
    let mut known: Vec<(usize, String)> = Vec::new();
    for catalog in ctx.catalog_names() {
        let Some(c) = ctx.catalog(&catalog) else {
            continue;
        };
        for schema in c.schema_names() {
            if schema == "information_schema" {
                continue;
            }
            let Some(sp) = c.schema(&schema) else {
                continue;
            };
            for table in sp.table_names() {
                let distance = edit_distance(&wanted, &table.to_lowercase());
                known.push((distance, format!("{schema}.{table}")));
            }
        }
    }
    if known.is_empty() {
        return format!(
            "table '{shown}' not found: the catalog has no tables (run a crawler first)"
        );
    }
    known.sort();
    known.dedup();
    let close = known
        .first()
        .filter(|(d, _)| *d <= (wanted.len() / 3).max(2))
        .map(|(_, name)| format!(" Did you mean '{name}'?"))
        .unwrap_or_default();
    let limit = 12;
    let mut names: Vec<&str> = known.iter().map(|(_, n)| n.as_str()).collect();
    names.sort();
    let more = names.len().saturating_sub(limit);
    names.truncate(limit);
    format!(
        "table '{shown}' not found.{close} Tables in the catalog: {}{}",
        names.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Runs a read-only query to completion.
pub async fn run_query(ctx: &SessionContext, sql: &str, hooks: &ScanHooks) -> Result<QueryResult> {
    let start = Instant::now();
    let plan = plan_read_only(ctx, sql).await?;
    let schema = plan.schema();
    let batches = collect(plan.clone(), ctx.task_ctx()).await?;
    let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
    let (bytes_scanned, files_scanned) = scan_totals(&plan, hooks);
    // Athena does not bill statements that only read metadata (SHOW, DESCRIBE, EXPLAIN).
    let metadata_only =
        ["SHOW", "DESCRIBE", "DESC", "EXPLAIN"].contains(&statement_keyword(sql).as_str());
    let billed = if metadata_only {
        0
    } else {
        athena_billed_bytes(bytes_scanned)
    };
    Ok(QueryResult {
        schema,
        batches,
        stats: QueryStats {
            rows_read: rows_read(&plan),
            rows,
            bytes_scanned,
            files_scanned,
            partitions_read: hooks
                .partitions_read
                .load(std::sync::atomic::Ordering::Relaxed),
            billed_bytes: billed,
            cost_usd: athena_cost_usd(billed),
            elapsed_ms: start.elapsed().as_millis() as u64,
            notes: hooks.notes(),
        },
    })
}

/// Bytes and files a finished plan read: Parquet's own `bytes_scanned` metric where the
/// reader reports it (it reads only the columns and row groups needed), else whole files.
pub fn scan_totals(plan: &Arc<dyn ExecutionPlan>, hooks: &ScanHooks) -> (u64, u64) {
    let files = hooks.scanned_files();
    let whole: u64 = files.iter().map(|f| f.size_bytes).sum();
    let mut parquet_bytes = 0u64;
    let mut saw_parquet = false;
    let mut stack = vec![plan.clone()];
    while let Some(p) = stack.pop() {
        if let Some(m) = p.metrics()
            && let Some(v) = m.sum_by_name("bytes_scanned")
        {
            saw_parquet = true;
            parquet_bytes += v.as_usize() as u64;
        }
        stack.extend(p.children().into_iter().cloned());
    }
    let text_bytes: u64 = files
        .iter()
        .filter(|f| !f.location.to_ascii_lowercase().ends_with(".parquet"))
        .map(|f| f.size_bytes)
        .sum();
    let bytes = if saw_parquet {
        parquet_bytes + text_bytes
    } else {
        whole
    };
    (bytes, files.len() as u64)
}

/// Runs `sql` with `batches` (of `schema`) as the table `input`, in `ctx`.
pub async fn sql_over_input(
    ctx: &SessionContext,
    sql: &str,
    schema: &SchemaRef,
    batches: Vec<RecordBatch>,
) -> std::result::Result<Vec<RecordBatch>, DataFusionError> {
    let table = crate::datafusion::datasource::MemTable::try_new(schema.clone(), vec![batches])?;
    let _ = ctx.deregister_table("input");
    ctx.register_table("input", Arc::new(table))?;
    let plan = logical_plan(&ctx.state(), sql).await?;
    ctx.execute_logical_plan(plan).await?.collect().await
}

/// The columns `sql` produces over a table `input` of `schema`; checks the SQL too.
pub async fn schema_over_input(
    ctx: &SessionContext,
    sql: &str,
    schema: &SchemaRef,
) -> Result<SchemaRef> {
    check_read_only(sql)?;
    let empty = crate::datafusion::datasource::MemTable::try_new(schema.clone(), vec![vec![]])?;
    let _ = ctx.deregister_table("input");
    ctx.register_table("input", Arc::new(empty))?;
    Ok(Arc::new(
        logical_plan(&ctx.state(), sql)
            .await?
            .schema()
            .as_arrow()
            .clone(),
    ))
}

/// Plans Athena SQL on `state`: rewritten as [`athena_sql`] says, and parsed with lambdas
/// (`x -> x + 1`) when it has them: DataFusion's default (generic) SQL dialect reads `->`
/// as the JSON operator, so such a statement is parsed with the DuckDB dialect, which
/// reads it as a lambda as Trino does.
pub async fn logical_plan(
    state: &crate::datafusion::execution::session_state::SessionState,
    sql: &str,
) -> std::result::Result<crate::datafusion::logical_expr::LogicalPlan, DataFusionError> {
    let sql = athena_sql(sql).map_err(|e| DataFusionError::Plan(e.to_string()))?;
    if sql.contains("->") {
        let mut state = state.clone();
        state.config_mut().options_mut().sql_parser.dialect =
            crate::datafusion::common::config::Dialect::DuckDB;
        state.create_logical_plan(&sql).await
    } else {
        state.create_logical_plan(&sql).await
    }
}

/// A read-only query as a DataFrame (what `ctx.sql_with_options` gives), planned by
/// [`logical_plan`].
pub async fn read_only_frame(
    ctx: &SessionContext,
    sql: &str,
) -> std::result::Result<crate::datafusion::dataframe::DataFrame, DataFusionError> {
    let plan = logical_plan(&ctx.state(), sql).await?;
    read_only_options().verify_plan(&plan)?;
    ctx.execute_logical_plan(plan).await
}

/// `sql` as DataFusion plans it: Trino's `try(…)` ([`super::trino::tries`]) and `UNNEST`
/// joins ([`super::trino::unnest`]) rewritten; anything else as written.
pub fn athena_sql(sql: &str) -> Result<std::borrow::Cow<'_, str>> {
    let tried = super::trino::tries::rewrite(sql);
    let sql_now = tried.as_deref().unwrap_or(sql);
    Ok(match super::trino::unnest::rewrite(sql_now)? {
        Some(rewritten) => std::borrow::Cow::Owned(rewritten),
        None => match tried {
            Some(t) => std::borrow::Cow::Owned(t),
            None => std::borrow::Cow::Borrowed(sql),
        },
    })
}

/// Rows the file scans of a finished plan produced.
pub fn rows_read(plan: &Arc<dyn ExecutionPlan>) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![plan.clone()];
    while let Some(p) = stack.pop() {
        if p.downcast_ref::<crate::datafusion::datasource::source::DataSourceExec>()
            .is_some()
            && let Some(m) = p.metrics()
        {
            total += m.output_rows().unwrap_or(0) as u64;
        }
        stack.extend(p.children().into_iter().cloned());
    }
    total
}

/// How results are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// A boxed text table.
    #[default]
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
}

/// Prints batches in the given format.
pub fn format_batches(
    batches: &[RecordBatch],
    schema: &SchemaRef,
    format: OutputFormat,
) -> Result<String> {
    match format {
        OutputFormat::Table => {
            if batches.iter().all(|b| b.num_rows() == 0) {
                let empty = RecordBatch::new_empty(schema.clone());
                return Ok(crate::arrow::util::pretty::pretty_format_batches(&[empty])
                    .map_err(|e| Error::Internal(e.to_string()))?
                    .to_string());
            }
            Ok(crate::arrow::util::pretty::pretty_format_batches(batches)
                .map_err(|e| Error::Internal(e.to_string()))?
                .to_string())
        }
        OutputFormat::Csv => {
            let mut buf = Vec::new();
            {
                let mut w = crate::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut buf);
                if batches.is_empty() {
                    w.write(&nested_as_json_text(&RecordBatch::new_empty(
                        schema.clone(),
                    ))?)
                    .map_err(|e| Error::Internal(e.to_string()))?;
                }
                for b in batches {
                    w.write(&nested_as_json_text(b)?)
                        .map_err(|e| Error::Sql(format!("writing CSV: {e}")))?;
                }
            }
            Ok(String::from_utf8_lossy(&buf).into_owned())
        }
        OutputFormat::Json => {
            let mut buf = Vec::new();
            {
                // Keys with null values are kept, as Athena's JSON results keep them.
                let mut w = crate::arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, crate::arrow::json::writer::JsonArray>(&mut buf);
                for b in batches {
                    w.write(b)
                        .map_err(|e| Error::Sql(format!("writing JSON: {e}")))?;
                }
                w.finish()
                    .map_err(|e| Error::Sql(format!("writing JSON: {e}")))?;
            }
            let mut s = String::from_utf8_lossy(&buf).into_owned();
            if s.is_empty() {
                s.push_str("[]");
            }
            s.push('\n');
            Ok(s)
        }
    }
}

/// The batch with struct, list and map columns written as JSON text (CSV has no nested
/// values; Athena's CSV results hold them as JSON too).
fn nested_as_json_text(batch: &RecordBatch) -> Result<RecordBatch> {
    use crate::arrow::datatypes::{DataType, Field, Schema};
    let nested = |dt: &DataType| {
        matches!(
            dt,
            DataType::Struct(_)
                | DataType::List(_)
                | DataType::LargeList(_)
                | DataType::ListView(_)
                | DataType::LargeListView(_)
                | DataType::FixedSizeList(..)
                | DataType::Map(..)
        )
    };
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| nested(f.data_type())) {
        return Ok(batch.clone());
    }
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (f, col) in schema.fields().iter().zip(batch.columns()) {
        if !nested(f.data_type()) {
            fields.push(f.as_ref().clone());
            columns.push(col.clone());
            continue;
        }
        let one = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "v",
                f.data_type().clone(),
                true,
            )])),
            vec![col.clone()],
        )
        .map_err(|e| Error::Internal(e.to_string()))?;
        let mut buf = Vec::new();
        {
            let mut w = crate::arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, crate::arrow::json::writer::JsonArray>(&mut buf);
            w.write(&one)
                .map_err(|e| Error::Sql(format!("writing column {}: {e}", f.name())))?;
            w.finish()
                .map_err(|e| Error::Sql(format!("writing column {}: {e}", f.name())))?;
        }
        let rows: Vec<serde_json::Value> = if buf.is_empty() {
            Vec::new()
        } else {
            serde_json::from_slice(&buf).map_err(|e| Error::Internal(e.to_string()))?
        };
        let text: crate::arrow::array::StringArray = rows
            .iter()
            .map(|r| match &r["v"] {
                serde_json::Value::Null => None,
                v => Some(v.to_string()),
            })
            .collect();
        fields.push(Field::new(f.name(), DataType::Utf8, true));
        columns.push(Arc::new(text) as crate::arrow::array::ArrayRef);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| Error::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn athena_bills_whole_megabytes_with_a_ten_megabyte_minimum() {
        const MB: u64 = 1 << 20;
        assert_eq!(athena_billed_bytes(0), 10 * MB);
        assert_eq!(athena_billed_bytes(10 * MB), 10 * MB);
        assert_eq!(athena_billed_bytes(10 * MB + 1), 11 * MB);
        assert!((athena_cost_usd(1 << 40) - 5.0).abs() < 1e-12);
    }
}
