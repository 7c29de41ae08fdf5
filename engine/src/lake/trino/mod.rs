//! Athena's SQL functions (Trino's), with Trino's names, argument orders and
//! semantics, registered on every SQL session. DataFusion already has many under the
//! same names and meanings (`date_trunc`, `regexp_like`, `split_part`, `cardinality`,
//! `approx_distinct`, `strpos`, `to_hex`, …); this module adds the rest people use most
//! and replaces the few whose meaning differs (`to_unixtime` is a double in Trino,
//! `element_at` reads arrays too, `contains` tests arrays). The README lists what is
//! supported; `tests/data/trino_functions.txt` checks each against Trino's documented
//! examples.

mod aggregate;
mod datetime;
mod text;
pub mod tries;
pub mod unnest;

use std::fmt;
use std::sync::Arc;

use crate::arrow::array::{Array, ArrayRef};
use crate::arrow::datatypes::DataType;
use crate::datafusion::common::{DataFusionError, Result};
use crate::datafusion::execution::context::SessionContext;
use crate::datafusion::logical_expr::{
    AggregateUDF, ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

/// The Trino functions Tributary adds, as DataFusion scalar and aggregate functions. A
/// Ballista cluster's scheduler and executors register them too (`tributary-cluster`),
/// so plans that use them decode there with the same meaning.
/// Each scalar function also comes as `try_<name>`, which gives null for the rows where
/// the function fails: what `try(…)` calls (see `tries.rs`).
pub fn udfs() -> (Vec<Arc<ScalarUDF>>, Vec<Arc<AggregateUDF>>) {
    let functions: Vec<TrinoFn> = datetime::functions()
        .into_iter()
        .chain(text::functions())
        .chain(misc_functions())
        .chain(tries::functions())
        .collect();
    let lenient: Vec<TrinoFn> = functions.iter().filter_map(TrinoFn::lenient).collect();
    let scalars = functions
        .into_iter()
        .chain(lenient)
        .map(|f| Arc::new(ScalarUDF::from(f)))
        .collect();
    let aggregates = aggregate::functions().into_iter().map(Arc::new).collect();
    (scalars, aggregates)
}

/// Registers the Trino functions (and Trino's names for DataFusion's) on `ctx`.
pub fn register(ctx: &SessionContext) {
    let (scalars, aggregates) = udfs();
    for f in scalars {
        ctx.register_udf(f.as_ref().clone());
    }
    for f in aggregates {
        ctx.register_udaf(f.as_ref().clone());
    }
    // Trino's names for functions DataFusion has under another name.
    let state = ctx.state();
    for (theirs, ours) in [
        ("levenshtein", "levenshtein_distance"),
        ("trunc", "truncate"),
        ("generate_series", "sequence"),
        ("string_to_array", "split"),
        ("array_distinct", "array_distinct"),
    ] {
        if theirs != ours
            && let Some(f) = state.scalar_functions().get(theirs)
        {
            ctx.register_udf(f.as_ref().clone().with_aliases([ours]));
        }
    }
    // Trino's lambda functions: DataFusion's higher-order functions under Trino's names.
    for (theirs, ours) in [("array_transform", "transform"), ("array_filter", "filter")] {
        if let Some(f) = state.higher_order_functions().get(theirs) {
            ctx.register_higher_order_function(Arc::new(f.as_ref().clone().with_aliases([ours])));
        }
    }
    for (theirs, ours) in [
        ("any_value", "arbitrary"),
        ("approx_percentile_cont", "approx_percentile"),
    ] {
        if let Some(f) = state.aggregate_functions().get(theirs) {
            ctx.register_udaf(f.as_ref().clone().with_aliases([ours]));
        }
    }
}

/// How a function's arguments are coerced, its result typed and its rows computed.
type Coerce = fn(&[DataType]) -> Result<Vec<DataType>>;
type Returns = fn(&[DataType]) -> Result<DataType>;
type Run = fn(&[ArrayRef], &DataType) -> Result<ArrayRef>;

/// A Trino function: a name, how its arguments are coerced, its result type, and a
/// function over whole argument arrays. Names are unique, so they identify it. A
/// lenient one (`try_<name>`) gives null for each row where the function fails.
pub(crate) struct TrinoFn {
    name: &'static str,
    /// `try_<name>` for the lenient variant.
    lenient: Option<String>,
    signature: Signature,
    coerce: Coerce,
    returns: Returns,
    run: Run,
}

impl PartialEq for TrinoFn {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for TrinoFn {}

impl std::hash::Hash for TrinoFn {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

impl fmt::Debug for TrinoFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrinoFn({})", self.name())
    }
}

impl TrinoFn {
    fn new(name: &'static str, coerce: Coerce, returns: Returns, run: Run) -> Self {
        Self {
            name,
            lenient: None,
            signature: Signature::user_defined(Volatility::Immutable),
            coerce,
            returns,
            run,
        }
    }

    /// Whether failing rows give null: a `try_` variant, or a function that is one by
    /// name (`try_divide`).
    fn is_lenient(&self) -> bool {
        self.lenient.is_some() || self.name.starts_with(tries::PREFIX)
    }

    /// The `try_<name>` variant, or `None` when this one is lenient already.
    fn lenient(&self) -> Option<Self> {
        if self.is_lenient() {
            return None;
        }
        Some(Self {
            name: self.name,
            lenient: Some(format!("{}{}", tries::PREFIX, self.name)),
            signature: self.signature.clone(),
            coerce: self.coerce,
            returns: self.returns,
            run: self.run,
        })
    }

    /// Runs over whole arrays; a lenient function that fails reruns row by row, with
    /// null for the rows that fail.
    fn run(&self, arrays: &[ArrayRef], returns: &DataType) -> Result<ArrayRef> {
        match (self.run)(arrays, returns) {
            Ok(out) => Ok(out),
            Err(_) if self.is_lenient() => tries::row_by_row(self.run, arrays, returns),
            Err(e) => Err(e),
        }
    }
}

impl ScalarUDFImpl for TrinoFn {
    fn name(&self) -> &str {
        self.lenient.as_deref().unwrap_or(self.name)
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        (self.coerce)(arg_types).map_err(|e| {
            DataFusionError::Plan(format!(
                "{}({}): {}",
                self.name,
                arg_types
                    .iter()
                    .map(super::glue_types::glue_type)
                    .collect::<Vec<_>>()
                    .join(", "),
                e.strip_backtrace()
                    .trim_start_matches("Error during planning: ")
            ))
        })
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        (self.returns)(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = self.run(&arrays, args.return_type())?;
        if scalar && out.len() == 1 {
            Ok(ColumnarValue::Scalar(
                crate::datafusion::common::ScalarValue::try_from_array(&out, 0)?,
            ))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

fn plan_err(msg: impl Into<String>) -> DataFusionError {
    DataFusionError::Plan(msg.into())
}

fn exec_err(msg: impl Into<String>) -> DataFusionError {
    DataFusionError::Execution(msg.into())
}

/// Checks the argument count.
fn arity(args: &[DataType], counts: &[usize]) -> Result<()> {
    if counts.contains(&args.len()) {
        Ok(())
    } else {
        Err(plan_err(format!(
            "takes {} argument(s), not {}",
            counts
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(" or "),
            args.len()
        )))
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
}

fn is_integer(t: &DataType) -> bool {
    t.is_integer() || *t == DataType::Null
}

/// Text arguments as Utf8.
fn text(t: &DataType, what: &str) -> Result<DataType> {
    if is_text(t) {
        Ok(DataType::Utf8)
    } else {
        Err(plan_err(format!(
            "{what} must be a varchar, not {}",
            super::glue_types::glue_type(t)
        )))
    }
}

fn int(t: &DataType, what: &str) -> Result<DataType> {
    if is_integer(t) {
        Ok(DataType::Int64)
    } else {
        Err(plan_err(format!(
            "{what} must be a whole number, not {}",
            super::glue_types::glue_type(t)
        )))
    }
}

fn strings(a: &ArrayRef) -> Result<&crate::arrow::array::StringArray> {
    a.as_any()
        .downcast_ref()
        .ok_or_else(|| exec_err(format!("expected text, got {}", a.data_type())))
}

fn int64s(a: &ArrayRef) -> Result<&crate::arrow::array::Int64Array> {
    a.as_any()
        .downcast_ref()
        .ok_or_else(|| exec_err(format!("expected bigint, got {}", a.data_type())))
}

/// `if(condition, then[, else])`, `mod(n, m)`, `element_at(array | map, index | key)`,
/// `contains(array, value)`, `typeof(x)`.
fn misc_functions() -> Vec<TrinoFn> {
    vec![
        TrinoFn::new(
            "if",
            |a| {
                arity(a, &[2, 3])?;
                let t = match a.get(2) {
                    Some(e) => {
                        crate::datafusion::logical_expr::type_coercion::binary::comparison_coercion(
                            &a[1], e,
                        )
                        .ok_or_else(|| {
                            plan_err(format!(
                                "the two results are {} and {}, which have no common type",
                                super::glue_types::glue_type(&a[1]),
                                super::glue_types::glue_type(e)
                            ))
                        })?
                    }
                    None => a[1].clone(),
                };
                let mut out = vec![DataType::Boolean, t.clone()];
                if a.len() == 3 {
                    out.push(t);
                }
                Ok(out)
            },
            |a| Ok(a[1].clone()),
            |a, ret| {
                let cond = a[0]
                    .as_any()
                    .downcast_ref::<crate::arrow::array::BooleanArray>()
                    .ok_or_else(|| exec_err("if: the condition must be a boolean"))?;
                let otherwise = match a.get(2) {
                    Some(e) => e.clone(),
                    None => crate::arrow::array::new_null_array(ret, a[1].len()),
                };
                // A null condition takes the else branch, as in Trino.
                let cond: crate::arrow::array::BooleanArray =
                    cond.iter().map(|c| Some(c == Some(true))).collect();
                Ok(crate::arrow::compute::kernels::zip::zip(
                    &cond, &a[1], &otherwise,
                )?)
            },
        ),
        TrinoFn::new(
            "mod",
            |a| {
                arity(a, &[2])?;
                if a.iter().all(is_integer) {
                    Ok(vec![DataType::Int64, DataType::Int64])
                } else if a.iter().all(|t| t.is_numeric() || *t == DataType::Null) {
                    Ok(vec![DataType::Float64, DataType::Float64])
                } else {
                    Err(plan_err("both arguments must be numbers"))
                }
            },
            |a| Ok(a[0].clone()),
            |a, _| Ok(crate::arrow::compute::kernels::numeric::rem(&a[0], &a[1])?),
        ),
        TrinoFn::new(
            "element_at",
            |a| {
                arity(a, &[2])?;
                match &a[0] {
                    DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
                        Ok(vec![a[0].clone(), int(&a[1], "the index")?])
                    }
                    DataType::Map(entries, _) => match entries.data_type() {
                        DataType::Struct(kv) => Ok(vec![a[0].clone(), kv[0].data_type().clone()]),
                        _ => Err(plan_err("a map without keys")),
                    },
                    other => Err(plan_err(format!(
                        "the first argument must be an array or a map, not {}",
                        super::glue_types::glue_type(other)
                    ))),
                }
            },
            |a| match &a[0] {
                DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                    Ok(f.data_type().clone())
                }
                DataType::Map(entries, _) => match entries.data_type() {
                    DataType::Struct(kv) => Ok(kv[1].data_type().clone()),
                    _ => Err(plan_err("a map without values")),
                },
                _ => Err(plan_err("element_at takes an array or a map")),
            },
            text::element_at,
        ),
        TrinoFn::new(
            "contains",
            |a| {
                arity(a, &[2])?;
                match &a[0] {
                    DataType::List(f) | DataType::LargeList(f) => {
                        let t = crate::datafusion::logical_expr::type_coercion::binary::comparison_coercion(f.data_type(), &a[1])
                            .unwrap_or_else(|| f.data_type().clone());
                        Ok(vec![
                            DataType::List(Arc::new(crate::arrow::datatypes::Field::new(
                                "item",
                                t.clone(),
                                true,
                            ))),
                            t,
                        ])
                    }
                    t if is_text(t) => {
                        Ok(vec![DataType::Utf8, text(&a[1], "the text searched for")?])
                    }
                    other => Err(plan_err(format!(
                        "the first argument must be an array, not {}",
                        super::glue_types::glue_type(other)
                    ))),
                }
            },
            |_| Ok(DataType::Boolean),
            text::contains,
        ),
        TrinoFn::new(
            "typeof",
            |a| {
                arity(a, &[1])?;
                Ok(a.to_vec())
            },
            |_| Ok(DataType::Utf8),
            |a, _| {
                let name = text::trino_type_name(a[0].data_type());
                Ok(Arc::new(crate::arrow::array::StringArray::from(vec![
                    name;
                    a[0].len()
                ])))
            },
        ),
    ]
}
