//! What the visual transforms share (Glue Studio's Filter, ApplyMapping, Join, Aggregate,
//! Union, Drop duplicates and Fill missing values; one file per kind).
//!
//! Each transform is SQL underneath: its kind builds the statement from its settings
//! and the columns arriving ([`Kind::sql`](super::Kind::sql)), the inspector shows it,
//! and the run executes exactly that text. On a table input the statement runs once
//! over the whole table; on a stream it runs over each read of the stream (so only
//! operations that need no other rows are offered there; the kinds say which).

use std::sync::Arc;

use super::context::{NodeContext, NodeOutput, TableData, Value};
use super::kind::{PortSpec, PortType};
use super::operator::{Hold, Operator, Outputs, ReadOptions, Wiring, output_topic};
use crate::api::NodeStats;
use crate::arrow::array::RecordBatch;
use crate::arrow::datatypes::SchemaRef;
use crate::datafusion::datasource::MemTable;
use crate::datafusion::prelude::SessionContext;
use crate::error::{Error, Result};
use crate::stream::topic::{Delivery, Topic};

/// A transform's input: a table or a stream, one edge.
pub const ROWS_IN: PortSpec = PortSpec::input("records", PortType::Rows).required();
/// A transform's output: a table when its input is a table, else a stream.
pub const ROWS_OUT: PortSpec = PortSpec::output("records", PortType::Rows);

/// Rows in the preview of a transform's table output.
const PREVIEW_ROWS: usize = 1000;

/// Rows arriving on one edge of a `rows` input.
#[derive(Clone)]
pub enum Rows {
    /// A whole table.
    Table(Arc<TableData>),
    /// A stream, read as it comes.
    Stream(Arc<Topic>),
}

impl Rows {
    /// The columns.
    pub fn schema(&self) -> SchemaRef {
        match self {
            Self::Table(t) => t.schema.clone(),
            Self::Stream(s) => s.schema().clone(),
        }
    }

    /// The column names.
    pub fn columns(&self) -> Vec<String> {
        self.schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// Whether this is a stream.
    pub fn is_stream(&self) -> bool {
        matches!(self, Self::Stream(_))
    }
}

/// Every table or stream on input `port`, in edge order.
pub fn rows_on(ctx: &NodeContext<'_>, port: &PortSpec) -> Result<Vec<Rows>> {
    let all = ctx.all(port);
    if all.is_empty() {
        return Err(Error::Invalid(format!(
            "input '{}' is not connected",
            port.name
        )));
    }
    all.iter()
        .map(|v| match v {
            Value::Table(t) => Ok(Rows::Table(t.clone())),
            Value::Stream(s) => Ok(Rows::Stream(s.clone())),
            _ => Err(Error::Invalid(format!(
                "input '{}' takes a table or a stream",
                port.name
            ))),
        })
        .collect()
}

/// The one table or stream on input `port`.
pub fn one_rows(ctx: &NodeContext<'_>, port: &PortSpec) -> Result<Rows> {
    Ok(rows_on(ctx, port)?.remove(0))
}

/// The positions of the columns `names` in `schema`; a missing one is an error naming
/// `setting` and the columns there are.
pub fn column_indices(setting: &str, names: &[String], schema: &SchemaRef) -> Result<Vec<usize>> {
    names
        .iter()
        .map(|c| {
            schema
                .index_of(c)
                .map_err(|_| Error::no_such_column(setting, c, schema))
        })
        .collect()
}

/// `name` quoted as a SQL identifier (`"page"`, `"say ""hi"""`), as Athena and
/// DataFusion both read it.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as a SQL string literal.
pub fn string_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The columns arriving at `port` in `arriving` ((port, columns) per edge, as the
/// inspector knows them): the first edge's, or empty when not known yet.
pub fn arriving_at<'a>(arriving: &'a [(String, Vec<String>)], port: &PortSpec) -> &'a [String] {
    arriving
        .iter()
        .find(|(p, _)| p == port.name)
        .map(|(_, c)| c.as_slice())
        .unwrap_or_default()
}

/// A session for a transform's SQL.
fn session() -> SessionContext {
    SessionContext::new()
}

/// Registers `batches` of `schema` as table `name` in `session`, replacing any.
fn register(
    session: &SessionContext,
    name: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<()> {
    let table = MemTable::try_new(schema, vec![batches])?;
    let _ = session.deregister_table(name);
    session.register_table(name, Arc::new(table))?;
    Ok(())
}

/// Runs `sql` once over whole tables registered under their names; the result is the
/// node's table output, previewed.
pub async fn run_on_tables(
    ctx: &NodeContext<'_>,
    sql: &str,
    tables: &[(&str, &TableData)],
) -> Result<NodeOutput> {
    let session = session();
    let mut rows_in = 0u64;
    for (name, t) in tables {
        rows_in += t.num_rows() as u64;
        register(&session, name, t.schema.clone(), t.batches.clone())?;
    }
    // The physical plan's columns are the batches' (the logical schema of a union may
    // still say `Null` where a branch selects NULL).
    let plan = session.sql(sql).await?.create_physical_plan().await?;
    let schema: SchemaRef = plan.schema();
    let batches = crate::datafusion::physical_plan::collect(plan, session.task_ctx()).await?;
    let rows_out: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    ctx.preview(
        &ROWS_OUT,
        schema.clone(),
        super::head(&batches, PREVIEW_ROWS),
        rows_out,
    );
    let stats = NodeStats {
        records_in: rows_in,
        records_out: rows_out,
        ..Default::default()
    };
    Ok(NodeOutput::finished(stats).with(
        &ROWS_OUT,
        Value::Table(Arc::new(TableData { schema, batches })),
    ))
}

/// The columns `sql` gives over tables with these schemas (planned over empty ones).
pub async fn planned_schema(sql: &str, inputs: &[(&str, SchemaRef)]) -> Result<SchemaRef> {
    let session = session();
    for (name, schema) in inputs {
        register(&session, name, schema.clone(), Vec::new())?;
    }
    Ok(session
        .sql(sql)
        .await?
        .create_physical_plan()
        .await?
        .schema())
}

/// Wires `sql` over each read of `input` (registered as `input_name`), with `fixed`
/// tables (a join's lookup side) registered once; the results go to the stream output.
pub async fn run_on_stream(
    ctx: &NodeContext<'_>,
    sql: &str,
    input: &Arc<Topic>,
    input_name: &'static str,
    fixed: &[(&str, &TableData)],
) -> Result<NodeOutput> {
    let mut schemas: Vec<(&str, SchemaRef)> = vec![(input_name, input.schema().clone())];
    schemas.extend(fixed.iter().map(|(n, t)| (*n, t.schema.clone())));
    let out_schema = planned_schema(sql, &schemas).await?;
    let session = session();
    for (name, t) in fixed {
        register(&session, name, t.schema.clone(), t.batches.clone())?;
    }
    let records = output_topic(ctx, &ROWS_OUT, out_schema)?;
    let op = SqlPerRead {
        session,
        sql: sql.to_owned(),
        input_name,
        schema: input.schema().clone(),
    };
    Ok(Wiring::new()
        .output(&ROWS_OUT, records)
        .operator(ctx.id, input, op, ReadOptions::default()))
}

/// Runs a statement over each read of a stream.
struct SqlPerRead {
    session: SessionContext,
    sql: String,
    input_name: &'static str,
    schema: SchemaRef,
}

impl Operator for SqlPerRead {
    async fn process(&mut self, read: Vec<Delivery>, out: &Outputs) -> Result<Hold> {
        let batches: Vec<RecordBatch> = read.into_iter().map(|d| d.batch).collect();
        if batches.is_empty() {
            return Ok(Hold::Released);
        }
        register(&self.session, self.input_name, self.schema.clone(), batches)?;
        let results = self.session.sql(&self.sql).await?.collect().await?;
        for batch in results {
            if batch.num_rows() > 0 {
                out.send(&ROWS_OUT, batch).await?;
            }
        }
        Ok(Hold::Released)
    }
}

/// The error for an operation a stream cannot do, saying what to use instead.
pub fn not_on_a_stream(what: &str, instead: &str) -> Error {
    Error::Invalid(format!(
        "{what} needs the whole input, so it works on tables only; {instead}"
    ))
}
