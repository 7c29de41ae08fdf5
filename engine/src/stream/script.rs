//! The script runtime of the Lambda node: Rhai code run once per record, sandboxed.
//!
//! The script sees the record as the map `record`. Its value is the output: a map (one
//! record), an array of maps (several), or `()` (the record is dropped). Columns become
//! Rhai values as follows: integers → `INT`, floats → `FLOAT`, booleans → `bool`,
//! timestamps → `INT` milliseconds since the epoch, everything else (text, dates,
//! decimals) → string, and nulls → `()`.
//!
//! The sandbox: Rhai has no file, network or process access; `import` resolves nothing;
//! `eval` is disabled; each record gets at most `max_operations` operations, so an
//! endless loop ends with an error, and strings, arrays, maps and call depth are capped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rhai::{AST, Dynamic, Engine, EvalAltResult, Map, Scope};

use crate::arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, Float64Array, Float64Builder, Int64Array,
    Int64Builder, RecordBatch, StringArray, StringBuilder, new_null_array,
};
use crate::arrow::compute::{CastOptions, cast, cast_with_options};
use crate::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use crate::arrow::util::display::FormatOptions;
use crate::error::{Error, Result};

/// Script `print`/`debug` lines a run reports at most; the rest are counted.
const MAX_PRINTED_LINES: u64 = 100;

/// A compiled script with its sandboxed engine.
pub struct ScriptRuntime {
    engine: Engine,
    ast: AST,
    output: SchemaRef,
    max_operations: u64,
}

impl std::fmt::Debug for ScriptRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptRuntime")
            .field("output", &self.output)
            .finish()
    }
}

/// The sandboxed engine: no modules, no `eval`, bounded work and sizes.
fn sandbox(max_operations: u64) -> Engine {
    let mut engine = Engine::new();
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine.disable_symbol("eval");
    engine.set_max_operations(max_operations.max(1));
    engine.set_max_string_size(1 << 20);
    engine.set_max_array_size(100_000);
    engine.set_max_map_size(10_000);
    engine.set_max_call_levels(32);
    engine.set_max_expr_depths(64, 64);
    engine.on_print(|_| {});
    engine.on_debug(|_, _, _| {});
    engine
}

/// Checks that `script` compiles; the message names line and position.
pub fn check(script: &str) -> std::result::Result<(), String> {
    sandbox(1)
        .compile(script)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

pub use super::records::parse_columns;

/// A column as the script sees it.
enum Column {
    Int(Int64Array),
    Float(Float64Array),
    Bool(BooleanArray),
    Text(StringArray),
}

impl Column {
    fn from_array(array: &ArrayRef) -> std::result::Result<Self, String> {
        let ty = array.data_type();
        let to = |t: &DataType| cast(array, t).map_err(|e| e.to_string());
        Ok(if ty.is_integer() {
            Self::Int(downcast(&to(&DataType::Int64)?))
        } else if ty.is_floating() {
            Self::Float(downcast(&to(&DataType::Float64)?))
        } else if *ty == DataType::Boolean {
            Self::Bool(downcast(array))
        } else if let DataType::Timestamp(_, tz) = ty {
            let ms = to(&DataType::Timestamp(TimeUnit::Millisecond, tz.clone()))?;
            Self::Int(downcast(
                &cast(&ms, &DataType::Int64).map_err(|e| e.to_string())?,
            ))
        } else {
            Self::Text(downcast(&to(&DataType::Utf8)?))
        })
    }

    fn get(&self, row: usize) -> Dynamic {
        match self {
            Self::Int(a) if a.is_valid(row) => Dynamic::from_int(a.value(row)),
            Self::Float(a) if a.is_valid(row) => Dynamic::from_float(a.value(row)),
            Self::Bool(a) if a.is_valid(row) => Dynamic::from_bool(a.value(row)),
            Self::Text(a) if a.is_valid(row) => Dynamic::from(a.value(row).to_owned()),
            _ => Dynamic::UNIT,
        }
    }
}

fn downcast<T: Clone + 'static>(array: &ArrayRef) -> T {
    array
        .as_any()
        .downcast_ref::<T>()
        .cloned()
        .expect("cast returned the requested type")
}

impl ScriptRuntime {
    /// Compiles `script`. `output_columns` declares the output (`name Type`); empty keeps
    /// the input's columns. `print` lines go to `log`, at most 100 per run.
    pub fn new(
        script: &str,
        output_columns: &[String],
        max_operations: u64,
        input: &SchemaRef,
        log: impl Fn(String) + Send + Sync + 'static,
    ) -> Result<Self> {
        let mut engine = sandbox(max_operations);
        let printed = Arc::new(AtomicU64::new(0));
        let log = Arc::new(log);
        {
            let (printed, log) = (printed.clone(), log.clone());
            engine.on_print(move |s| {
                if printed.fetch_add(1, Ordering::Relaxed) < MAX_PRINTED_LINES {
                    log(format!("script: {s}"));
                }
            });
        }
        engine.on_debug(move |s, _, pos| {
            if printed.fetch_add(1, Ordering::Relaxed) < MAX_PRINTED_LINES {
                log(format!("script debug at {pos}: {s}"));
            }
        });
        let ast = engine
            .compile(script)
            .map_err(|e| Error::Invalid(format!("script: {e}")))?;
        let output = if output_columns.is_empty() {
            Arc::new(Schema::new(
                input
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone().with_nullable(true))
                    .collect::<Vec<_>>(),
            ))
        } else {
            Arc::new(Schema::new(
                parse_columns(output_columns)
                    .map_err(|e| Error::Invalid(format!("output_columns: {e}")))?,
            ))
        };
        Ok(Self {
            engine,
            ast,
            output,
            max_operations,
        })
    }

    /// The output columns.
    pub fn output_schema(&self) -> &SchemaRef {
        &self.output
    }

    /// Runs the script on every record of `batch`. Any failing record fails the whole
    /// invocation (as a Lambda function that throws), with a message naming the record.
    pub fn invoke(&self, batch: &RecordBatch) -> std::result::Result<RecordBatch, String> {
        let schema = batch.schema();
        let columns = batch
            .columns()
            .iter()
            .map(Column::from_array)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut outputs: Vec<Map> = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            let mut record = Map::new();
            for (field, col) in schema.fields().iter().zip(&columns) {
                record.insert(field.name().as_str().into(), col.get(row));
            }
            let mut scope = Scope::new();
            scope.push("record", record);
            let value = self
                .engine
                .eval_ast_with_scope::<Dynamic>(&mut scope, &self.ast)
                .map_err(|e| format!("record {row}: {}", self.describe(&e)))?;
            if value.is_unit() {
                continue;
            }
            if value.is_map() {
                outputs.push(value.cast::<Map>());
            } else if value.is_array() {
                for item in value.cast::<rhai::Array>() {
                    if !item.is_map() {
                        return Err(format!(
                            "record {row}: the script returned an array holding a {}; \
                             each item must be a map (a record)",
                            item.type_name()
                        ));
                    }
                    outputs.push(item.cast::<Map>());
                }
            } else {
                return Err(format!(
                    "record {row}: the script returned a {}; return the record (a map), an \
                     array of records, or () to drop it",
                    value.type_name()
                ));
            }
        }
        self.to_batch(&outputs)
    }

    fn describe(&self, e: &EvalAltResult) -> String {
        match e {
            EvalAltResult::ErrorTooManyOperations(pos) => format!(
                "stopped after {} operations at {pos} (max_operations); is there an endless loop?",
                self.max_operations
            ),
            other => other.to_string(),
        }
    }

    /// Builds the output batch, converting each value to its column's type.
    fn to_batch(&self, records: &[Map]) -> std::result::Result<RecordBatch, String> {
        let columns = self
            .output
            .fields()
            .iter()
            .map(|f| {
                let values: Vec<Option<&Dynamic>> = records
                    .iter()
                    .map(|r| r.get(f.name().as_str()).filter(|v| !v.is_unit()))
                    .collect();
                build_column(f, &values)
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        RecordBatch::try_new(self.output.clone(), columns).map_err(|e| e.to_string())
    }
}

/// One output column from the scripts' values; a value that does not fit the column's
/// type is an error naming the column and the value.
fn build_column(
    field: &Field,
    values: &[Option<&Dynamic>],
) -> std::result::Result<ArrayRef, String> {
    let target = field.data_type();
    let present = values.iter().flatten();
    let strict = CastOptions {
        safe: false,
        format_options: FormatOptions::default(),
    };
    let fail = |e: String| format!("column '{}' ({target}): {e}", field.name());
    if values.iter().all(Option::is_none) {
        return Ok(new_null_array(target, values.len()));
    }
    let staged: ArrayRef = if present.clone().all(|v| v.is_int()) {
        let mut b = Int64Builder::with_capacity(values.len());
        for v in values {
            b.append_option(v.and_then(|v| v.as_int().ok()));
        }
        let ints: ArrayRef = Arc::new(b.finish());
        if let DataType::Timestamp(_, tz) = target {
            // Integers for a timestamp are milliseconds since the epoch.
            cast(
                &ints,
                &DataType::Timestamp(TimeUnit::Millisecond, tz.clone()),
            )
            .map_err(|e| fail(e.to_string()))?
        } else {
            ints
        }
    } else if present.clone().all(|v| v.is_int() || v.is_float()) && target.is_numeric() {
        let mut b = Float64Builder::with_capacity(values.len());
        for v in values {
            b.append_option(
                v.and_then(|v| v.as_float().ok().or(v.as_int().ok().map(|i| i as f64))),
            );
        }
        Arc::new(b.finish())
    } else if present.clone().all(|v| v.is_bool()) {
        let mut b = BooleanBuilder::with_capacity(values.len());
        for v in values {
            b.append_option(v.and_then(|v| v.as_bool().ok()));
        }
        Arc::new(b.finish())
    } else {
        let mut b = StringBuilder::with_capacity(values.len(), values.len() * 16);
        for v in values {
            b.append_option(v.map(|v| v.to_string()));
        }
        Arc::new(b.finish())
    };
    if staged.data_type() == target {
        return Ok(staged);
    }
    cast_with_options(&staged, target, &strict).map_err(|e| fail(e.to_string()))
}
