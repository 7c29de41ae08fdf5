//! Filter node: keeps the rows that match a SQL condition, and the columns chosen, as a
//! `WHERE` and a column list would, on a table or a stream. On a stream the condition
//! is planned once against the input's columns and evaluated on each batch; nothing is
//! buffered.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::form::{Editor, Field, FieldProblem, Problems};
use super::operator::{Hold, Operator, Outputs, ReadOptions, Wiring, output_topic};
use super::transform::{
    ROWS_IN as RECORDS_IN, ROWS_OUT as RECORDS_OUT, Rows, arriving_at, column_indices, ident,
    one_rows,
};
use super::{Category, Kind, NodeContext, NodeOutput};
use crate::arrow::array::{AsArray as _, RecordBatch};
use crate::arrow::compute::filter_record_batch;
use crate::arrow::datatypes::DataType;
use crate::datafusion::common::DFSchema;
use crate::datafusion::physical_plan::PhysicalExpr;
use crate::datafusion::prelude::SessionContext;
use crate::error::{Error, Result};
use crate::stream::topic::Delivery;

/// Filter settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// A SQL condition over the record's columns (`page = '/checkout' AND amount > 10`);
    /// records for which it is false or null are dropped. Empty keeps every record.
    pub condition: String,
    /// The columns kept, in this order; empty keeps them all.
    pub columns: Vec<String>,
}

/// The filter node.
pub struct FilterKind;

impl Kind for FilterKind {
    type Config = FilterConfig;
    const NAME: &'static str = "filter";
    const CATEGORY: Category = Category::Transforms;
    const DESCRIPTION: &'static str = "Keeps the rows that match a SQL condition, and the columns chosen, on a table or a stream (Glue's Filter).";
    const ICON: &'static str = "🔽";
    const INPUTS: &'static [super::PortSpec] = &[RECORDS_IN];
    const OUTPUTS: &'static [super::PortSpec] = &[RECORDS_OUT];
    const FIELDS: &'static [Field] = &[
        Field::new(
            "condition",
            "Condition",
            Editor::Sql,
            "A SQL condition over the record's columns, as after WHERE; records for which it is false or null are dropped. Empty keeps every record.",
        ),
        Field::new(
            "columns",
            "Columns",
            Editor::Lines,
            "The columns kept, in this order; empty keeps them all.",
        ),
    ];

    fn validate(config: &FilterConfig) -> Vec<FieldProblem> {
        let mut p = Problems::default();
        if !config.condition.trim().is_empty() {
            // A condition, not statements: it must fit after WHERE in one SELECT.
            let select = format!("SELECT * FROM input WHERE {}", config.condition);
            p.check_result("condition", crate::lake::sql::check_read_only(&select));
        }
        p.into_vec()
    }

    fn sql(config: &FilterConfig, arriving: &[(String, Vec<String>)]) -> Option<String> {
        let _ = arriving_at(arriving, &RECORDS_IN);
        Some(statement(config))
    }

    async fn run(config: &FilterConfig, ctx: &NodeContext<'_>) -> Result<NodeOutput> {
        let input = match one_rows(ctx, &RECORDS_IN)? {
            Rows::Stream(s) => s,
            Rows::Table(t) => {
                column_indices("columns", &config.columns, &t.schema)?;
                return super::transform::run_on_tables(ctx, &statement(config), &[("input", &t)])
                    .await;
            }
        };
        let schema = input.schema().clone();
        let condition = if config.condition.trim().is_empty() {
            None
        } else {
            let session = SessionContext::new();
            let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
            let expr = session
                .parse_sql_expr(&config.condition, &df_schema)
                .map_err(|e| Error::Invalid(format!("condition: {}", Error::from(e))))?;
            let physical = session
                .create_physical_expr(expr, &df_schema)
                .map_err(|e| Error::Invalid(format!("condition: {}", Error::from(e))))?;
            let ty = physical.data_type(&schema)?;
            if ty != DataType::Boolean {
                return Err(Error::Invalid(format!(
                    "condition: '{}' is {ty}, not true or false",
                    config.condition
                )));
            }
            Some(physical)
        };
        let projection = column_indices("columns", &config.columns, &schema)?;
        let out_schema = if projection.is_empty() {
            schema.clone()
        } else {
            Arc::new(schema.project(&projection)?)
        };
        let records = output_topic(ctx, &RECORDS_OUT, out_schema)?;
        let op = Filter {
            condition,
            projection,
        };
        Ok(Wiring::new().output(&RECORDS_OUT, records).operator(
            ctx.id,
            &input,
            op,
            ReadOptions::default(),
        ))
    }
}

/// The statement a table is filtered with (a stream runs the same condition per batch).
fn statement(config: &FilterConfig) -> String {
    let columns = if config.columns.is_empty() {
        "*".to_owned()
    } else {
        config
            .columns
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut sql = format!("SELECT {columns}\nFROM input");
    if !config.condition.trim().is_empty() {
        sql.push_str(&format!("\nWHERE {}", config.condition.trim()));
    }
    sql
}

/// Filters and projects each batch read.
struct Filter {
    condition: Option<Arc<dyn PhysicalExpr>>,
    projection: Vec<usize>,
}

impl Filter {
    fn apply(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let kept = match &self.condition {
            Some(c) => {
                let mask = c.evaluate(&batch)?.into_array(batch.num_rows())?;
                filter_record_batch(&batch, mask.as_boolean())?
            }
            None => batch,
        };
        Ok(if self.projection.is_empty() {
            kept
        } else {
            kept.project(&self.projection)?
        })
    }
}

impl Operator for Filter {
    async fn process(&mut self, read: Vec<Delivery>, out: &Outputs) -> Result<Hold> {
        for d in read {
            let kept = self.apply(d.batch)?;
            if kept.num_rows() > 0 {
                out.send(&RECORDS_OUT, kept).await?;
            }
        }
        Ok(Hold::Released)
    }
}
