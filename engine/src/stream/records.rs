//! Typed records from loose input: column declarations (`name Type [NOT NULL]`) and the
//! conversion of JSON values or CSV text into Arrow rows, one record at a time, so a bad
//! record gets its own error and the good ones go on.

use std::sync::Arc;

use crate::arrow::array::{
    Array, ArrayBuilder, ArrayRef, BooleanBuilder, Date32Builder, Float32Builder, Float64Builder,
    Int32Builder, Int64Builder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondBuilder, TimestampMillisecondBuilder,
};
use crate::arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;
use crate::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use crate::arrow::util::display::{ArrayFormatter, FormatOptions};
use crate::error::{Error, Result};

/// Parses `name Type [NOT NULL]` column declarations (`page Utf8`, `amount Float64 NOT
/// NULL`, `event_time Timestamp`). Columns are nullable unless marked `NOT NULL`.
pub fn parse_columns(columns: &[String]) -> std::result::Result<Vec<Field>, String> {
    columns
        .iter()
        .map(|c| {
            let words: Vec<&str> = c.split_whitespace().collect();
            let Some((name, rest)) = words.split_first() else {
                return Err(format!("'{c}' is not 'name Type'"));
            };
            let lower: Vec<String> = rest.iter().map(|w| w.to_ascii_lowercase()).collect();
            let (ty_words, nullable) = match lower.as_slice() {
                [ty @ .., n, nn] if n == "not" && nn == "null" => (ty, false),
                ty => (ty, true),
            };
            let ty = match ty_words.join(" ").as_str() {
                "" | "utf8" | "string" | "text" | "varchar" => DataType::Utf8,
                "int" | "int64" | "bigint" | "integer" => DataType::Int64,
                "int32" => DataType::Int32,
                "float" | "float64" | "double" => DataType::Float64,
                "float32" | "real" => DataType::Float32,
                "bool" | "boolean" => DataType::Boolean,
                "timestamp" => DataType::Timestamp(TimeUnit::Millisecond, None),
                "date" | "date32" => DataType::Date32,
                other => {
                    return Err(format!(
                        "'{c}': unknown type '{other}' (use Utf8, Int64, Int32, Float64, \
                         Float32, Boolean, Timestamp or Date, optionally NOT NULL)"
                    ));
                }
            };
            Ok(Field::new(*name, ty, nullable))
        })
        .collect()
}

/// One converted value, before it is appended.
enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
}

/// A column of a [`RowBuilder`]: where its value comes from and how text is parsed.
#[derive(Clone, Debug)]
pub struct SourceColumn {
    /// The field name in the input (JSON key or CSV header).
    pub source_name: String,
    /// The output field.
    pub field: Field,
    /// How text of a date or timestamp is written (a chrono format); `None`: ISO 8601.
    pub text_format: Option<String>,
}

/// Builds record batches row by row; a row with a bad value is refused whole.
pub struct RowBuilder {
    columns: Vec<SourceColumn>,
    schema: SchemaRef,
    builders: Vec<Box<dyn ArrayBuilder>>,
    null_markers: Vec<String>,
    rows: usize,
}

impl std::fmt::Debug for RowBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowBuilder")
            .field("schema", &self.schema)
            .field("rows", &self.rows)
            .finish()
    }
}

fn builder(ty: &DataType) -> Result<Box<dyn ArrayBuilder>> {
    Ok(match ty {
        DataType::Utf8 => Box::new(StringBuilder::new()),
        DataType::Int64 => Box::new(Int64Builder::new()),
        DataType::Int32 => Box::new(Int32Builder::new()),
        DataType::Float64 => Box::new(Float64Builder::new()),
        DataType::Float32 => Box::new(Float32Builder::new()),
        DataType::Boolean => Box::new(BooleanBuilder::new()),
        DataType::Date32 => Box::new(Date32Builder::new()),
        DataType::Timestamp(TimeUnit::Millisecond, None) => {
            Box::new(TimestampMillisecondBuilder::new())
        }
        DataType::Timestamp(TimeUnit::Microsecond, None) => {
            Box::new(TimestampMicrosecondBuilder::new())
        }
        other => {
            return Err(Error::Invalid(format!(
                "columns of type {other} cannot be read record by record; declare it as Utf8"
            )));
        }
    })
}

impl RowBuilder {
    /// A builder for `columns`; text equal to one of `null_markers` is null.
    pub fn new(columns: Vec<SourceColumn>, null_markers: Vec<String>) -> Result<Self> {
        let schema = Arc::new(Schema::new(
            columns.iter().map(|c| c.field.clone()).collect::<Vec<_>>(),
        ));
        let builders = columns
            .iter()
            .map(|c| builder(c.field.data_type()))
            .collect::<Result<_>>()?;
        Ok(Self {
            columns,
            schema,
            builders,
            null_markers,
            rows: 0,
        })
    }

    /// The output columns.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The input columns.
    pub fn columns(&self) -> &[SourceColumn] {
        &self.columns
    }

    /// Rows waiting in the builders.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no rows wait.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends a JSON object as a row, or says what is wrong with it.
    pub fn push_json(
        &mut self,
        object: &serde_json::Map<String, serde_json::Value>,
    ) -> std::result::Result<(), String> {
        let cells = self
            .columns
            .iter()
            .map(|c| {
                let cell = match object.get(&c.source_name) {
                    None if !c.field.is_nullable() => {
                        return Err(format!("missing field '{}'", c.source_name));
                    }
                    None | Some(serde_json::Value::Null) => Cell::Null,
                    Some(v) => json_cell(v, c)?,
                };
                not_null(cell, c)
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        self.append(cells);
        Ok(())
    }

    /// Appends CSV fields (in the order of `columns`, `None` for a missing field) as a row.
    pub fn push_text(&mut self, fields: &[Option<&str>]) -> std::result::Result<(), String> {
        let cells = self
            .columns
            .iter()
            .zip(fields)
            .map(|(c, v)| {
                let cell = match v {
                    None if !c.field.is_nullable() => {
                        return Err(format!("missing field '{}'", c.source_name));
                    }
                    None => Cell::Null,
                    Some(s) if self.null_markers.iter().any(|m| m == s) => Cell::Null,
                    Some(s) => text_cell(s, c)?,
                };
                not_null(cell, c)
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        self.append(cells);
        Ok(())
    }

    fn append(&mut self, cells: Vec<Cell>) {
        for ((b, cell), c) in self.builders.iter_mut().zip(cells).zip(&self.columns) {
            append_cell(b.as_mut(), c.field.data_type(), cell);
        }
        self.rows += 1;
    }

    /// The rows so far as a batch; the builder starts empty again.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(|b| b.finish()).collect();
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| Error::Internal(e.to_string()))
    }
}

fn not_null(cell: Cell, c: &SourceColumn) -> std::result::Result<Cell, String> {
    if matches!(cell, Cell::Null) && !c.field.is_nullable() {
        Err(format!("field '{}' is null", c.source_name))
    } else {
        Ok(cell)
    }
}

fn expected(c: &SourceColumn, got: &dyn std::fmt::Display) -> String {
    format!(
        "field '{}': expected {}, got {got}",
        c.source_name,
        c.field.data_type()
    )
}

fn json_cell(v: &serde_json::Value, c: &SourceColumn) -> std::result::Result<Cell, String> {
    use serde_json::Value as J;
    let ty = c.field.data_type();
    Ok(match (ty, v) {
        (DataType::Utf8, J::String(s)) => Cell::Text(s.clone()),
        (DataType::Utf8, other) => Cell::Text(other.to_string()),
        (_, J::String(s)) => text_cell(s, c)?,
        (DataType::Int64 | DataType::Int32, J::Number(n)) => match n.as_i64() {
            Some(i) => int_cell(i, c)?,
            None => return Err(expected(c, n)),
        },
        (DataType::Float64 | DataType::Float32, J::Number(n)) => {
            Cell::Float(n.as_f64().ok_or_else(|| expected(c, n))?)
        }
        (DataType::Boolean, J::Bool(b)) => Cell::Bool(*b),
        // Numbers for a timestamp are milliseconds since the epoch.
        (DataType::Timestamp(unit, _), J::Number(n)) => match n.as_i64() {
            Some(ms) => Cell::Int(match unit {
                TimeUnit::Microsecond => ms.saturating_mul(1000),
                _ => ms,
            }),
            None => return Err(expected(c, n)),
        },
        (_, other) => return Err(expected(c, other)),
    })
}

fn int_cell(i: i64, c: &SourceColumn) -> std::result::Result<Cell, String> {
    if *c.field.data_type() == DataType::Int32 && i32::try_from(i).is_err() {
        return Err(format!(
            "field '{}': {i} does not fit in Int32",
            c.source_name
        ));
    }
    Ok(Cell::Int(i))
}

fn text_cell(s: &str, c: &SourceColumn) -> std::result::Result<Cell, String> {
    let quoted = || format!("{s:?}");
    let t = s.trim();
    Ok(match c.field.data_type() {
        DataType::Utf8 => Cell::Text(s.to_owned()),
        DataType::Int64 | DataType::Int32 => {
            int_cell(t.parse::<i64>().map_err(|_| expected(c, &quoted()))?, c)?
        }
        DataType::Float64 | DataType::Float32 => {
            Cell::Float(t.parse::<f64>().map_err(|_| expected(c, &quoted()))?)
        }
        DataType::Boolean => match t.to_ascii_lowercase().as_str() {
            "true" => Cell::Bool(true),
            "false" => Cell::Bool(false),
            _ => return Err(expected(c, &quoted())),
        },
        DataType::Date32 => {
            let format = c.text_format.as_deref().unwrap_or("%Y-%m-%d");
            let format = if format == "iso8601" {
                "%Y-%m-%d"
            } else {
                format
            };
            let d =
                chrono::NaiveDate::parse_from_str(t, format).map_err(|_| expected(c, &quoted()))?;
            let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
            Cell::Int((d - epoch).num_days())
        }
        DataType::Timestamp(unit, _) => {
            let nanos = match c.text_format.as_deref() {
                Some(f) if f != "iso8601" => chrono::NaiveDateTime::parse_from_str(t, f)
                    .ok()
                    .and_then(|d| d.and_utc().timestamp_nanos_opt()),
                _ => string_to_timestamp_nanos(t).ok(),
            }
            .ok_or_else(|| expected(c, &quoted()))?;
            Cell::Int(match unit {
                TimeUnit::Microsecond => nanos / 1000,
                _ => nanos / 1_000_000,
            })
        }
        _ => return Err(expected(c, &quoted())),
    })
}

fn append_cell(b: &mut dyn ArrayBuilder, ty: &DataType, cell: Cell) {
    macro_rules! put {
        ($builder:ty, $value:expr) => {
            if let Some(b) = b.as_any_mut().downcast_mut::<$builder>() {
                b.append_option($value)
            }
        };
    }
    let int = match &cell {
        Cell::Int(i) => Some(*i),
        _ => None,
    };
    match ty {
        DataType::Utf8 => put!(
            StringBuilder,
            match cell {
                Cell::Text(s) => Some(s),
                _ => None,
            }
        ),
        DataType::Int64 => put!(Int64Builder, int),
        DataType::Int32 => put!(Int32Builder, int.map(|i| i as i32)),
        DataType::Float64 => put!(
            Float64Builder,
            match cell {
                Cell::Float(f) => Some(f),
                _ => None,
            }
        ),
        DataType::Float32 => put!(
            Float32Builder,
            match cell {
                Cell::Float(f) => Some(f as f32),
                _ => None,
            }
        ),
        DataType::Boolean => put!(
            BooleanBuilder,
            match cell {
                Cell::Bool(b) => Some(b),
                _ => None,
            }
        ),
        DataType::Date32 => put!(Date32Builder, int.map(|i| i as i32)),
        DataType::Timestamp(TimeUnit::Microsecond, _) => put!(TimestampMicrosecondBuilder, int),
        _ => put!(TimestampMillisecondBuilder, int),
    }
}

/// The schema of failed records: the input's columns plus the error.
pub fn failed_schema(input: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = input
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    fields.push(Field::new("error_message", DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

/// `batch` with an `error_message` column holding `message`.
pub fn with_error(batch: &RecordBatch, schema: &SchemaRef, message: &str) -> Result<RecordBatch> {
    let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
    cols.push(Arc::new(StringArray::from(vec![message; batch.num_rows()])));
    RecordBatch::try_new(schema.clone(), cols).map_err(|e| Error::Internal(e.to_string()))
}

/// Each row's bytes, in one buffer.
#[derive(Debug, Default)]
pub struct RowBytes {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl RowBytes {
    pub fn with_capacity(rows: usize, bytes: usize) -> Self {
        Self {
            buf: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(rows),
        }
    }

    pub fn push(&mut self, row: &[u8]) {
        self.buf.extend_from_slice(row);
        self.ends.push(self.buf.len());
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Row `i`'s bytes.
    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }

    /// Each row's bytes.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// Each row of `batch` as JSON text (nulls kept), as the event's `data` carries it.
pub fn rows_as_json(batch: &RecordBatch) -> Result<RowBytes> {
    let mut buf = Vec::with_capacity(batch.num_rows() * 64);
    {
        let mut writer = crate::arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, crate::arrow::json::writer::LineDelimited>(&mut buf);
        writer
            .write(batch)
            .map_err(|e| Error::Internal(e.to_string()))?;
        writer
            .finish()
            .map_err(|e| Error::Internal(e.to_string()))?;
    }
    // JSON text has no raw newline: each line is a row. The newlines are left out.
    let mut rows = RowBytes::with_capacity(batch.num_rows(), buf.len());
    for line in buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        rows.push(line);
    }
    Ok(rows)
}

/// The partition key of each row: the key column's value as text (empty without one).
pub fn partition_keys(batch: &RecordBatch, key_column: Option<usize>) -> Result<Vec<String>> {
    let Some(col) = key_column.filter(|c| *c < batch.num_columns()) else {
        return Ok(vec![String::new(); batch.num_rows()]);
    };
    let keys = batch.column(col);
    let f = ArrayFormatter::try_new(keys.as_ref(), &FormatOptions::default())
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok((0..batch.num_rows())
        .map(|i| {
            if keys.is_valid(i) {
                f.value(i).to_string()
            } else {
                String::new()
            }
        })
        .collect())
}

/// Each row's bytes as a Kinesis record carries them: the bytes themselves when the
/// batch's only column is binary, else the JSON of the row (nulls kept).
pub fn record_bytes(batch: &RecordBatch) -> Result<RowBytes> {
    if batch.num_columns() == 1
        && matches!(
            batch.column(0).data_type(),
            DataType::Binary | DataType::LargeBinary
        )
    {
        // One loop for both binary widths.
        let col = crate::arrow::compute::cast(batch.column(0), &DataType::Binary)
            .map_err(|e| Error::Internal(e.to_string()))?;
        if let Some(a) = col
            .as_any()
            .downcast_ref::<crate::arrow::array::BinaryArray>()
        {
            let mut rows = RowBytes::with_capacity(a.len(), a.values().len());
            for v in a.iter() {
                rows.push(v.unwrap_or_default());
            }
            return Ok(rows);
        }
    }
    rows_as_json(batch)
}

/// An upper bound of every row's record size (its bytes as [`record_bytes`] gives them,
/// plus its partition key from `key_column`), from the columns' types and their longest
/// values, without writing any JSON; `None` for types it does not bound.
pub fn record_size_bound(batch: &RecordBatch, key_column: Option<usize>) -> Option<u64> {
    use crate::arrow::array::{AsArray as _, GenericByteArray};
    use crate::arrow::datatypes::{ArrowNativeType as _, ByteArrayType};
    fn longest<T: ByteArrayType>(a: &GenericByteArray<T>) -> u64 {
        a.offsets()
            .windows(2)
            .map(|w| (w[1].as_usize() - w[0].as_usize()) as u64)
            .max()
            .unwrap_or(0)
    }
    let longest_of = |a: &dyn Array| -> Option<u64> {
        Some(match a.data_type() {
            DataType::Utf8 => longest(a.as_string::<i32>()),
            DataType::LargeUtf8 => longest(a.as_string::<i64>()),
            DataType::Binary => longest(a.as_binary::<i32>()),
            DataType::LargeBinary => longest(a.as_binary::<i64>()),
            _ => return None,
        })
    };
    let key = match key_column.filter(|c| *c < batch.num_columns()) {
        // A key's text: a string's bytes, or a number or time formatted (at most 40).
        Some(c) => longest_of(batch.column(c).as_ref()).unwrap_or(40),
        None => 0,
    };
    let binary_only = batch.num_columns() == 1
        && matches!(
            batch.column(0).data_type(),
            DataType::Binary | DataType::LargeBinary
        );
    if binary_only {
        return Some(longest_of(batch.column(0).as_ref())? + key);
    }
    // `{"name":value,…}`: braces, and per column its quoted name, a colon and a comma.
    let mut bound = 2;
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let value = match field.data_type() {
            // Escaping writes at most 6 bytes (`\u00XX`) for one.
            DataType::Utf8 | DataType::LargeUtf8 => 2 + 6 * longest_of(column.as_ref())?,
            DataType::Boolean => 5,
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => 20,
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => 20,
            DataType::Float16 | DataType::Float32 | DataType::Float64 => 32,
            DataType::Date32 | DataType::Date64 => 40,
            DataType::Timestamp(_, _) => 40,
            _ => return None,
        };
        // `null` is shorter than any of these.
        bound += 6 * field.name().len() as u64 + 4 + value;
    }
    Some(bound + key)
}

/// Each row's record size for billing and write limits: the bound of
/// [`record_size_bound`] for every row when it is at most 1 KiB (then every record is
/// one KiB, exactly so in any billing unit of whole KiB, and 1,000 of them cannot pass
/// 1 MiB), else each record's exact size (the JSON written).
pub fn billing_sizes(batch: &RecordBatch, key_column: Option<usize>) -> Result<Vec<u64>> {
    if let Some(bound) = record_size_bound(batch, key_column).filter(|b| *b <= 1024) {
        return Ok(vec![bound; batch.num_rows()]);
    }
    let data = record_bytes(batch)?;
    let keys = partition_keys(batch, key_column)?;
    Ok(data
        .iter()
        .zip(&keys)
        .map(|(d, k)| (d.len() + k.len()) as u64)
        .collect())
}
