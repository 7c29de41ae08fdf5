//! Arrow types as Glue and Athena (Hive DDL) name them: `bigint`, `string`,
//! `timestamp`, `array<struct<…>>`. The catalog keeps Arrow's names; `catalog show`,
//! the Catalog tab and `DESCRIBE` show both.

use crate::arrow::datatypes::DataType;

/// The Glue/Hive name of an Arrow type, as a Glue table's column `Type` holds it.
pub fn glue_type(data_type: &DataType) -> String {
    match data_type {
        DataType::Boolean => "boolean".to_owned(),
        DataType::Int8 => "tinyint".to_owned(),
        DataType::Int16 | DataType::UInt8 => "smallint".to_owned(),
        DataType::Int32 | DataType::UInt16 => "int".to_owned(),
        DataType::Int64 | DataType::UInt32 => "bigint".to_owned(),
        // Hive has no unsigned types: bigint cannot hold every u64.
        DataType::UInt64 => "decimal(20,0)".to_owned(),
        DataType::Float16 | DataType::Float32 => "float".to_owned(),
        DataType::Float64 => "double".to_owned(),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Date32 | DataType::Date64 => "date".to_owned(),
        DataType::Timestamp(..) => "timestamp".to_owned(),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "binary".to_owned(),
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _) => format!("array<{}>", glue_type(f.data_type())),
        DataType::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| format!("{}:{}", f.name(), glue_type(f.data_type())))
                .collect::<Vec<_>>()
                .join(",")
        ),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => format!(
                "map<{},{}>",
                glue_type(kv[0].data_type()),
                glue_type(kv[1].data_type())
            ),
            _ => "map<string,string>".to_owned(),
        },
        DataType::Dictionary(_, v) => glue_type(v),
        DataType::RunEndEncoded(_, v) => glue_type(v.data_type()),
        // Text, times of day, intervals, durations and nulls: Glue keeps them as strings.
        _ => "string".to_owned(),
    }
}

/// The Glue name of a catalog column's type (its Arrow name when it cannot be parsed).
pub fn glue_type_of(arrow_name: &str) -> String {
    arrow_name
        .parse::<DataType>()
        .map(|t| glue_type(&t))
        .unwrap_or_else(|_| arrow_name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrow::datatypes::{Field, Fields, TimeUnit};
    use std::sync::Arc;

    #[test]
    fn nested_types_read_as_glue_writes_them() {
        let item = DataType::Struct(Fields::from(vec![
            Field::new("sku", DataType::Utf8, true),
            Field::new("qty", DataType::Int64, true),
            Field::new("price", DataType::Decimal128(10, 2), true),
        ]));
        let list = DataType::List(Arc::new(Field::new("item", item, true)));
        assert_eq!(
            glue_type(&list),
            "array<struct<sku:string,qty:bigint,price:decimal(10,2)>>"
        );
        assert_eq!(
            glue_type(&DataType::Timestamp(TimeUnit::Microsecond, None)),
            "timestamp"
        );
        assert_eq!(glue_type_of("Utf8View"), "string");
        assert_eq!(glue_type_of("Date32"), "date");
        assert_eq!(glue_type_of("Float64"), "double");
    }
}
