//! Trino's `try(expression)`: the expression's value, or null where evaluating it fails
//! (division by zero, an invalid cast, a function given a value it cannot take), rather
//! than failing the query.
//!
//! DataFusion evaluates a function's arguments before the function, so `try` cannot be
//! a function. It is rewritten before planning instead: inside `try(…)`, `CAST` becomes
//! `TRY_CAST`, `/` and `%` become `try_divide` / `try_modulo` (null where the divisor is
//! an integer zero; a double divided by zero stays Infinity, as in Trino), and each Trino
//! function Tributary adds becomes its `try_` variant, which reruns a failed batch row by
//! row and gives null for the rows that fail. DataFusion's own functions inside `try`
//! keep failing the query; the README says which functions are Tributary's.

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::sync::LazyLock;

use crate::arrow::array::{Array, ArrayRef, new_null_array};
use crate::arrow::compute::kernels::numeric;
use crate::arrow::datatypes::DataType;
use crate::datafusion::common::Result;
use crate::datafusion::logical_expr::Operator;
use crate::datafusion::logical_expr::type_coercion::binary::BinaryTypeCoercer;
use crate::datafusion::sql::parser::{DFParser, Statement as DfStatement};
use crate::datafusion::sql::sqlparser::ast::{
    BinaryOperator, CastKind, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, Ident, ObjectName, ObjectNamePart, VisitMut, VisitorMut,
};

use super::{Run, TrinoFn, arity, plan_err};

/// The prefix of a lenient function's name.
pub const PREFIX: &str = "try_";

/// `sql` with its `try(…)` calls rewritten, or `None` when it has none (or does not
/// parse: DataFusion then reports the error as it would).
pub fn rewrite(sql: &str) -> Option<String> {
    if !sql.to_ascii_lowercase().contains("try") {
        return None;
    }
    let mut statements = DFParser::parse_sql(sql).ok()?;
    if statements.len() != 1 {
        return None;
    }
    let Some(DfStatement::Statement(statement)) = statements.front_mut() else {
        return None;
    };
    let mut finder = Tries { changed: false };
    let _ = statement.visit(&mut finder);
    finder.changed.then(|| statement.to_string())
}

/// Finds `try(x)` calls (innermost first) and replaces each by its lenient `x`.
struct Tries {
    changed: bool,
}

impl VisitorMut for Tries {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Some(inner) = try_argument(expr) {
            let mut inner = inner.clone();
            let _ = inner.visit(&mut Lenient);
            *expr = Expr::Nested(Box::new(inner));
            self.changed = true;
        }
        ControlFlow::Continue(())
    }
}

/// The argument of a plain `try(x)` call.
fn try_argument(expr: &Expr) -> Option<&Expr> {
    let Expr::Function(f) = expr else {
        return None;
    };
    if f.filter.is_some() || f.over.is_some() || !is_named(&f.name, "try") {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))] if list.clauses.is_empty() => Some(e),
        _ => None,
    }
}

fn is_named(name: &ObjectName, want: &str) -> bool {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(id)] => id.value.eq_ignore_ascii_case(want),
        _ => false,
    }
}

/// Turns the failing forms of an expression into their lenient ones.
struct Lenient;

impl VisitorMut for Lenient {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::Cast { kind, .. } if matches!(kind, CastKind::Cast | CastKind::DoubleColon) => {
                *kind = CastKind::TryCast;
            }
            Expr::BinaryOp { left, op, right }
                if matches!(op, BinaryOperator::Divide | BinaryOperator::Modulo) =>
            {
                let name = if *op == BinaryOperator::Divide {
                    "try_divide"
                } else {
                    "try_modulo"
                };
                let args = vec![(**left).clone(), (**right).clone()];
                *expr = call(name, args);
            }
            Expr::Function(f) => {
                if let [ObjectNamePart::Identifier(id)] = f.name.0.as_mut_slice()
                    && LENIENT.contains(&id.value.to_ascii_lowercase())
                {
                    *id = Ident::new(format!("{PREFIX}{}", id.value.to_ascii_lowercase()));
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// A call of `name` with `args`.
fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

/// The Trino functions that have a `try_` variant.
static LENIENT: LazyLock<BTreeSet<String>> = LazyLock::new(|| {
    let (scalars, _) = super::udfs();
    scalars
        .iter()
        .filter_map(|f| f.name().strip_prefix(PREFIX).map(str::to_owned))
        .filter(|n| !["divide", "modulo"].contains(&n.as_str()))
        .collect()
});

/// Runs `run` on each row alone: the rows that fail are null.
pub(super) fn row_by_row(run: Run, arrays: &[ArrayRef], returns: &DataType) -> Result<ArrayRef> {
    let rows = arrays.first().map_or(0, |a| a.len());
    let mut parts: Vec<ArrayRef> = Vec::with_capacity(rows);
    for i in 0..rows {
        let row: Vec<ArrayRef> = arrays.iter().map(|a| a.slice(i, 1)).collect();
        parts.push(match run(&row, returns) {
            Ok(out) if out.len() == 1 && out.data_type() == returns => out,
            _ => new_null_array(returns, 1),
        });
    }
    let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
    if refs.is_empty() {
        return Ok(new_null_array(returns, 0));
    }
    Ok(crate::arrow::compute::concat(&refs)?)
}

/// `try_divide(a, b)` and `try_modulo(a, b)`: `a / b` and `a % b` with DataFusion's types,
/// null where they fail (an integer or decimal divided by zero).
pub(super) fn functions() -> Vec<TrinoFn> {
    fn coerce(op: Operator, a: &[DataType]) -> Result<Vec<DataType>> {
        arity(a, &[2])?;
        let (l, r) = BinaryTypeCoercer::new(&a[0], &op, &a[1])
            .get_input_types()
            .map_err(|e| plan_err(e.strip_backtrace()))?;
        Ok(vec![l, r])
    }
    fn returns(op: Operator, a: &[DataType]) -> Result<DataType> {
        BinaryTypeCoercer::new(&a[0], &op, &a[1])
            .get_result_type()
            .map_err(|e| plan_err(e.strip_backtrace()))
    }
    fn apply(
        kernel: fn(
            &dyn crate::arrow::array::Datum,
            &dyn crate::arrow::array::Datum,
        ) -> std::result::Result<ArrayRef, crate::arrow::error::ArrowError>,
        a: &[ArrayRef],
        returns: &DataType,
    ) -> Result<ArrayRef> {
        let out = kernel(&a[0], &a[1])?;
        if out.data_type() == returns {
            Ok(out)
        } else {
            Ok(crate::arrow::compute::cast(&out, returns)?)
        }
    }
    vec![
        TrinoFn::new(
            "try_divide",
            |a| coerce(Operator::Divide, a),
            |a| returns(Operator::Divide, a),
            |a, t| apply(numeric::div, a, t),
        ),
        TrinoFn::new(
            "try_modulo",
            |a| coerce(Operator::Modulo, a),
            |a| returns(Operator::Modulo, a),
            |a, t| apply(numeric::rem, a, t),
        ),
    ]
}
