//! From bytes put through an AWS API to rows: the bytes themselves (a lone binary column)
//! or JSON objects into a node's columns, each record that does not fit with its reason;
//! and the columns of a served stream's `failed` output. Kinesis and Firehose share it.

use std::sync::Arc;

use serde_json::Value;

use super::AwsError;
use crate::arrow::array::{BinaryArray, RecordBatch};
use crate::arrow::datatypes::{DataType, SchemaRef};
use crate::error::Error;
use crate::stream::records::{RowBuilder, SourceColumn, failed_schema};

/// How the bytes put into a stream become its rows.
#[derive(Clone, Debug)]
pub enum StreamRows {
    /// The stream's only column is binary: the bytes themselves.
    Bytes,
    /// Each record is a JSON object with the stream's columns.
    Json(Vec<SourceColumn>),
    /// Records cannot be put (a column no JSON value converts to); why.
    Refused(String),
}

impl StreamRows {
    /// How records become rows of `schema`.
    pub fn for_schema(schema: &SchemaRef) -> Self {
        if schema.fields().len() == 1
            && matches!(
                schema.field(0).data_type(),
                DataType::Binary | DataType::LargeBinary
            )
        {
            return Self::Bytes;
        }
        let columns: Vec<SourceColumn> = schema
            .fields()
            .iter()
            .map(|f| SourceColumn {
                source_name: f.name().clone(),
                field: f.as_ref().clone(),
                text_format: None,
            })
            .collect();
        match RowBuilder::new(columns.clone(), Vec::new()) {
            Ok(_) => Self::Json(columns),
            Err(e) => Self::Refused(e.to_string()),
        }
    }

    /// The rows of the records that fit, and the index and reason of each that does not.
    pub(super) fn rows(
        &self,
        schema: &SchemaRef,
        data: &[Vec<u8>],
    ) -> std::result::Result<(RecordBatch, Vec<(usize, String)>), AwsError> {
        match self {
            Self::Bytes => {
                let array = BinaryArray::from_iter_values(data.iter());
                let column = crate::arrow::compute::cast(&array, schema.field(0).data_type())
                    .map_err(|e| AwsError::internal(e.to_string()))?;
                let batch = RecordBatch::try_new(schema.clone(), vec![column])
                    .map_err(|e| AwsError::internal(e.to_string()))?;
                Ok((batch, Vec::new()))
            }
            Self::Json(columns) => {
                let mut builder = RowBuilder::new(columns.clone(), Vec::new())
                    .map_err(|e| AwsError::internal(e.to_string()))?;
                let mut bad = Vec::new();
                for (i, d) in data.iter().enumerate() {
                    let pushed = match serde_json::from_slice::<Value>(d) {
                        Err(_) if d.starts_with(&super::kpl::MAGIC) => Err(
                            "a KPL-aggregated record: set the stream's kpl_aggregation to deaggregate to read its user records"
                                .to_owned(),
                        ),
                        Ok(Value::Object(o)) => builder.push_json(&o),
                        Ok(other) => Err(format!(
                            "the data is JSON but not an object (it is {})",
                            kind_of(&other)
                        )),
                        Err(e) => Err(format!("the data is not JSON: {e}")),
                    };
                    if let Err(reason) = pushed {
                        bad.push((i, reason));
                    }
                }
                let batch = builder
                    .finish()
                    .and_then(|b| {
                        RecordBatch::try_new(schema.clone(), b.columns().to_vec())
                            .map_err(|e| Error::Internal(e.to_string()))
                    })
                    .map_err(|e| AwsError::internal(e.to_string()))?;
                Ok((batch, bad))
            }
            Self::Refused(why) => Err(AwsError::client(
                "InvalidArgumentException",
                format!("records cannot be put into this stream: {why}"),
            )),
        }
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The columns of a served stream's `failed` output.
pub fn failed_columns() -> SchemaRef {
    use crate::arrow::datatypes::{Field, Schema};
    let base = Arc::new(Schema::new(vec![
        Field::new("partition_key", DataType::Utf8, false),
        Field::new("data", DataType::Utf8, false),
    ]));
    failed_schema(&base)
}
