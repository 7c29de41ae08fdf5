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

/// Parses a Glue/Hive type name (`bigint`, `varchar(10)`, `decimal(10,2)`,
/// `array<struct<a:int,b:string>>`, `map<string,double>`) into the Arrow type the catalog
/// records.
pub fn parse_glue_type(text: &str) -> Result<DataType, String> {
    let mut p = TypeParser {
        s: text.trim().as_bytes(),
        at: 0,
    };
    let t = p.ty()?;
    p.space();
    if p.at != p.s.len() {
        return Err(format!(
            "'{text}' is not a type: unexpected text after '{}'",
            &text[..p.at]
        ));
    }
    Ok(t)
}

struct TypeParser<'a> {
    s: &'a [u8],
    at: usize,
}

impl TypeParser<'_> {
    fn space(&mut self) {
        while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn word(&mut self) -> String {
        self.space();
        let start = self.at;
        while self.at < self.s.len()
            && (self.s[self.at].is_ascii_alphanumeric() || self.s[self.at] == b'_')
        {
            self.at += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.at]).to_lowercase()
    }

    fn eat(&mut self, c: u8) -> bool {
        self.space();
        if self.s.get(self.at) == Some(&c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{}' in a type", c as char))
        }
    }

    fn number(&mut self) -> Result<u32, String> {
        self.word()
            .parse()
            .map_err(|_| "expected a number in a type".to_owned())
    }

    fn ty(&mut self) -> Result<DataType, String> {
        use crate::arrow::datatypes::{Field, Fields, TimeUnit};
        use std::sync::Arc;
        let name = self.word();
        Ok(match name.as_str() {
            "string" => DataType::Utf8,
            "varchar" | "char" => {
                if self.eat(b'(') {
                    self.number()?;
                    self.expect(b')')?;
                }
                DataType::Utf8
            }
            "boolean" => DataType::Boolean,
            "tinyint" => DataType::Int8,
            "smallint" => DataType::Int16,
            "int" | "integer" => DataType::Int32,
            "bigint" => DataType::Int64,
            "float" | "real" => DataType::Float32,
            "double" => DataType::Float64,
            "date" => DataType::Date32,
            "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, None),
            "binary" | "varbinary" => DataType::Binary,
            "decimal" => {
                let (mut p, mut s) = (10, 0);
                if self.eat(b'(') {
                    p = self.number()?;
                    if self.eat(b',') {
                        s = self.number()?;
                    }
                    self.expect(b')')?;
                }
                if p == 0 || p > 38 || s > p {
                    return Err(format!(
                        "decimal({p},{s}) is not a decimal type Athena has (precision 1 to 38, scale at most the precision)"
                    ));
                }
                DataType::Decimal128(p as u8, s as i8)
            }
            "array" => {
                self.expect(b'<')?;
                let item = self.ty()?;
                self.expect(b'>')?;
                DataType::List(Arc::new(Field::new("item", item, true)))
            }
            "map" => {
                self.expect(b'<')?;
                let k = self.ty()?;
                self.expect(b',')?;
                let v = self.ty()?;
                self.expect(b'>')?;
                DataType::Map(
                    Arc::new(Field::new(
                        "entries",
                        DataType::Struct(Fields::from(vec![
                            Field::new("key", k, false),
                            Field::new("value", v, true),
                        ])),
                        false,
                    )),
                    false,
                )
            }
            "struct" => {
                self.expect(b'<')?;
                let mut fields = Vec::new();
                loop {
                    let n = self.word();
                    if n.is_empty() {
                        return Err("expected a field name in struct<…>".to_owned());
                    }
                    self.expect(b':')?;
                    fields.push(Field::new(n, self.ty()?, true));
                    if !self.eat(b',') {
                        break;
                    }
                }
                self.expect(b'>')?;
                DataType::Struct(Fields::from(fields))
            }
            "" => return Err("expected a type name".to_owned()),
            other => {
                return Err(format!(
                    "'{other}' is not a type Athena knows (string, bigint, int, double, boolean, date, timestamp, decimal(p,s), array<…>, map<…>, struct<…>, …)"
                ));
            }
        })
    }
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
        // Parsing is the inverse for the types Glue writes.
        for t in [
            "array<struct<sku:string,qty:bigint,price:decimal(10,2)>>",
            "map<string,double>",
            "timestamp",
            "int",
        ] {
            assert_eq!(glue_type(&parse_glue_type(t).unwrap()), t);
        }
        assert_eq!(parse_glue_type("VARCHAR(20)").unwrap(), DataType::Utf8);
        assert!(
            parse_glue_type("text")
                .unwrap_err()
                .contains("'text' is not a type")
        );
    }
}
