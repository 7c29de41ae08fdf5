//! Trino's aggregates that DataFusion lacks: `count_if`, `max_by`, `min_by`.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::arrow::array::{Array, ArrayRef, AsArray as _};
use crate::arrow::datatypes::{DataType, Field, FieldRef};
use crate::datafusion::common::{Result, ScalarValue};
use crate::datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use crate::datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility, create_udaf,
};

/// Every aggregate.
pub(super) fn functions() -> Vec<AggregateUDF> {
    vec![
        create_udaf(
            "count_if",
            vec![DataType::Boolean],
            Arc::new(DataType::Int64),
            Volatility::Immutable,
            Arc::new(|_| Ok(Box::new(CountIf(0)))),
            Arc::new(vec![DataType::Int64]),
        ),
        AggregateUDF::from(By::new("max_by", Ordering::Greater)),
        AggregateUDF::from(By::new("min_by", Ordering::Less)),
    ]
}

/// Rows where the condition is true.
#[derive(Debug)]
struct CountIf(i64);

impl Accumulator for CountIf {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.0 += values[0].as_boolean().true_count() as i64;
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let counts = states[0].as_primitive::<crate::arrow::datatypes::Int64Type>();
        self.0 += counts.iter().flatten().sum::<i64>();
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Int64(Some(self.0))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(self.0)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// `max_by(x, y)` / `min_by(x, y)`: the `x` of the row with the greatest / least `y`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct By {
    name: &'static str,
    want: Ordering,
    signature: Signature,
}

impl By {
    fn new(name: &'static str, want: Ordering) -> Self {
        Self {
            name,
            want,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for By {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let types: Vec<DataType> = args
            .exprs
            .iter()
            .map(|e| e.data_type(args.schema))
            .collect::<Result<_>>()?;
        Ok(Box::new(ByAccumulator {
            want: self.want,
            x: ScalarValue::try_from(&types[0])?,
            y: ScalarValue::try_from(&types[1])?,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format!("{}_x", args.name),
                args.input_fields[0].data_type().clone(),
                true,
            )),
            Arc::new(Field::new(
                format!("{}_y", args.name),
                args.input_fields[1].data_type().clone(),
                true,
            )),
        ])
    }
}

#[derive(Debug)]
struct ByAccumulator {
    want: Ordering,
    x: ScalarValue,
    y: ScalarValue,
}

impl ByAccumulator {
    fn offer(&mut self, xs: &ArrayRef, ys: &ArrayRef) -> Result<()> {
        for i in 0..ys.len() {
            if ys.is_null(i) {
                continue;
            }
            let y = ScalarValue::try_from_array(ys, i)?;
            if self.y.is_null() || y.partial_cmp(&self.y) == Some(self.want) {
                self.x = ScalarValue::try_from_array(xs, i)?;
                self.y = y;
            }
        }
        Ok(())
    }
}

impl Accumulator for ByAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.offer(&values[0], &values[1])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.offer(&states[0], &states[1])
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.x.clone(), self.y.clone()])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.x.clone())
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.x.size() + self.y.size()
    }
}
