//! Comparing a node's output in two runs: the schema changes (columns added, removed,
//! retyped), and the rows added, removed and changed, by a key column or by whole rows,
//! with a sample of each.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::arrow::array::RecordBatch;
use crate::arrow::datatypes::SchemaRef;
use crate::error::{Error, Result};

/// Rows shown of each kind of difference.
pub const SAMPLE: usize = 5;

/// The difference between a node's output in two runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Diff {
    /// Rows only in the second run.
    pub added: usize,
    /// Rows only in the first run.
    pub removed: usize,
    /// Rows of the same key whose values differ (0 without a key).
    pub changed: usize,
    /// Rows in both, the same.
    pub unchanged: usize,
    /// Columns added, removed or retyped, one line each.
    pub schema_changes: Vec<String>,
    /// Some rows of each kind.
    pub samples: Samples,
}

/// Some rows of each kind of difference (at most [`SAMPLE`] each).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Samples {
    /// Rows added.
    pub added: Vec<Value>,
    /// Rows removed.
    pub removed: Vec<Value>,
    /// Rows changed: the key, the row before and after.
    pub changed: Vec<Value>,
}

/// Rows as JSON objects (nulls written), in order.
pub fn rows(batches: &[RecordBatch]) -> Result<Vec<Map<String, Value>>> {
    let mut writer = crate::arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, crate::arrow::json::writer::JsonArray>(Vec::new());
    for b in batches {
        writer
            .write(b)
            .map_err(|e| Error::Invalid(format!("cannot read the rows: {e}")))?;
    }
    writer
        .finish()
        .map_err(|e| Error::Invalid(format!("cannot read the rows: {e}")))?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&bytes).map_err(|e| Error::Invalid(format!("cannot read the rows: {e}")))
}

/// Compares output `a` (the first run) with `b` (the second), by `key` when given. Rows
/// compare on the columns both have; the others are schema changes.
pub fn diff(
    a: (&SchemaRef, &[RecordBatch]),
    b: (&SchemaRef, &[RecordBatch]),
    key: Option<&str>,
) -> Result<Diff> {
    let mut out = Diff::default();
    for f in a.0.fields() {
        match b.0.field_with_name(f.name()) {
            Err(_) => {
                out.schema_changes
                    .push(format!("column {} removed ({})", f.name(), f.data_type()))
            }
            Ok(g) if g.data_type() != f.data_type() => out.schema_changes.push(format!(
                "column {}: {} → {}",
                f.name(),
                f.data_type(),
                g.data_type()
            )),
            Ok(_) => {}
        }
    }
    for g in b.0.fields() {
        if a.0.field_with_name(g.name()).is_err() {
            out.schema_changes
                .push(format!("column {} added ({})", g.name(), g.data_type()));
        }
    }
    let common: Vec<String> =
        a.0.fields()
            .iter()
            .filter(|f| b.0.field_with_name(f.name()).is_ok())
            .map(|f| f.name().clone())
            .collect();
    let keep = |row: Map<String, Value>| -> Map<String, Value> {
        row.into_iter()
            .filter(|(k, _)| common.contains(k))
            .collect()
    };
    let rows_a: Vec<Map<String, Value>> = rows(a.1)?.into_iter().map(keep).collect();
    let rows_b: Vec<Map<String, Value>> = rows(b.1)?.into_iter().map(keep).collect();
    match key {
        Some(key) => {
            if !common.iter().any(|c| c == key) {
                return Err(Error::Invalid(format!(
                    "no column '{key}' in both runs' output; columns in both: {}",
                    common.join(", ")
                )));
            }
            let by_key = |rows: Vec<Map<String, Value>>, which: &str| {
                let mut m: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
                for row in rows {
                    let k = row.get(key).map(Value::to_string).unwrap_or_default();
                    if m.insert(k.clone(), row).is_some() {
                        return Err(Error::Invalid(format!(
                            "'{key}' is not a key: {k} appears more than once in the {which} \
                             run's output; pick a unique column, or compare whole rows"
                        )));
                    }
                }
                Ok(m)
            };
            let ma = by_key(rows_a, "first")?;
            let mb = by_key(rows_b, "second")?;
            for (k, row) in &ma {
                match mb.get(k) {
                    None => {
                        out.removed += 1;
                        push(&mut out.samples.removed, Value::Object(row.clone()));
                    }
                    Some(after) if after != row => {
                        out.changed += 1;
                        push(
                            &mut out.samples.changed,
                            serde_json::json!({"key": row.get(key), "before": row, "after": after}),
                        );
                    }
                    Some(_) => out.unchanged += 1,
                }
            }
            for (k, row) in &mb {
                if !ma.contains_key(k) {
                    out.added += 1;
                    push(&mut out.samples.added, Value::Object(row.clone()));
                }
            }
        }
        None => {
            // Whole rows as a multiset.
            let mut counts: BTreeMap<String, (i64, Map<String, Value>)> = BTreeMap::new();
            for row in rows_a {
                let text = Value::Object(row.clone()).to_string();
                counts.entry(text).or_insert((0, row)).0 -= 1;
            }
            for row in rows_b {
                let text = Value::Object(row.clone()).to_string();
                counts.entry(text).or_insert((0, row)).0 += 1;
            }
            let total_a: usize = a.1.iter().map(RecordBatch::num_rows).sum();
            for (n, row) in counts.into_values() {
                for _ in 0..n.unsigned_abs() {
                    if n > 0 {
                        out.added += 1;
                        push(&mut out.samples.added, Value::Object(row.clone()));
                    } else {
                        out.removed += 1;
                        push(&mut out.samples.removed, Value::Object(row.clone()));
                    }
                }
            }
            out.unchanged = total_a - out.removed;
        }
    }
    Ok(out)
}

/// A changed row of [`Samples::changed`] as one line: its key, then each column that
/// differs, `before → after` (`"sun": days 180 → 181`).
pub fn describe_change(change: &Value) -> String {
    let (before, after) = (&change["before"], &change["after"]);
    let fields: Vec<String> = after
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| before.get(k.as_str()) != Some(*v))
        .map(|(k, v)| format!("{k} {} → {v}", before[k.as_str()]))
        .collect();
    format!("{}: {}", change["key"], fields.join(", "))
}

fn push(samples: &mut Vec<Value>, row: Value) {
    if samples.len() < SAMPLE {
        samples.push(row);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::arrow::array::{Float64Array, Int64Array, StringArray};
    use crate::arrow::datatypes::{DataType, Field, Schema};

    fn table(ids: &[i64], names: &[&str], scores: &[f64]) -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("score", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids.to_vec())),
                Arc::new(StringArray::from(names.to_vec())),
                Arc::new(Float64Array::from(scores.to_vec())),
            ],
        )
        .unwrap();
        (schema, vec![batch])
    }

    #[test]
    fn by_key_rows_are_added_removed_changed_or_unchanged() {
        let a = table(&[1, 2, 3, 4], &["a", "b", "c", "d"], &[1.0, 2.0, 3.0, 4.0]);
        let b = table(&[1, 2, 4, 5], &["a", "B", "d", "e"], &[1.0, 2.0, 4.5, 5.0]);
        let d = diff((&a.0, &a.1), (&b.0, &b.1), Some("id")).unwrap();
        assert_eq!((d.added, d.removed, d.changed, d.unchanged), (1, 1, 2, 1));
        assert_eq!(
            d.samples.added,
            vec![serde_json::json!({"id": 5, "name": "e", "score": 5.0})]
        );
        assert_eq!(d.samples.removed[0]["id"], 3);
        assert_eq!(d.samples.changed[0]["before"]["name"], "b");
        assert_eq!(d.samples.changed[0]["after"]["name"], "B");
        assert_eq!(
            describe_change(&d.samples.changed[0]),
            "2: name \"b\" → \"B\""
        );
        assert!(d.schema_changes.is_empty());
        // Without a key: whole rows, so a changed row is one removed and one added.
        let d = diff((&a.0, &a.1), (&b.0, &b.1), None).unwrap();
        assert_eq!((d.added, d.removed, d.changed, d.unchanged), (3, 3, 0, 1));
        // A key that repeats is refused with the reason.
        let dup = table(&[1, 1], &["a", "b"], &[1.0, 2.0]);
        let e = diff((&dup.0, &dup.1), (&b.0, &b.1), Some("id")).unwrap_err();
        assert!(
            e.to_string()
                .contains("'id' is not a key: 1 appears more than once"),
            "{e}"
        );
        let e = diff((&a.0, &a.1), (&b.0, &b.1), Some("nope")).unwrap_err();
        assert!(e.to_string().contains("no column 'nope'"), "{e}");
    }

    #[test]
    fn schema_changes_are_named_and_rows_compare_on_the_common_columns() {
        let a = table(&[1, 2], &["a", "b"], &[1.0, 2.0]);
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("rank", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["1", "2"])),
                Arc::new(StringArray::from(vec!["a", "b"])),
                Arc::new(Int64Array::from(vec![1, 2])),
            ],
        )
        .unwrap();
        let d = diff((&a.0, &a.1), (&schema, &[batch]), Some("name")).unwrap();
        assert_eq!(
            d.schema_changes,
            [
                "column id: Int64 → Utf8",
                "column score removed (Float64)",
                "column rank added (Int64)"
            ]
        );
        // id is compared as written: 1 and "1" differ.
        assert_eq!((d.added, d.removed, d.changed), (0, 0, 2));
    }
}
