//! JSON sniffing: JSON lines or one top-level array of objects, and column types from
//! the sampled records.

use std::collections::BTreeMap;

use super::types::{ColumnGuess, InferredType, infer_text};
use super::{
    Classified, Compression, FileFormat, InferredColumn, JsonLayout, SniffOptions, Unclassifiable,
};
use crate::arrow::datatypes::DataType;

pub(super) fn classify_json(
    text: &str,
    truncated: bool,
    options: &SniffOptions,
) -> Result<Classified, Unclassifiable> {
    let (layout, records) = if text.starts_with('[') {
        (
            JsonLayout::Array,
            sample_json_array(text, truncated, options.sample_rows)?,
        )
    } else {
        let mut records = Vec::new();
        let stream = serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>();
        for item in stream {
            match item {
                Ok(v) => records.push(v),
                Err(e) if truncated && e.is_eof() => break,
                Err(e) => {
                    return Err(Unclassifiable(format!(
                        "not valid JSON lines: record {}: {e}",
                        records.len() + 1
                    )));
                }
            }
            if records.len() >= options.sample_rows {
                break;
            }
        }
        (JsonLayout::Lines, records)
    };
    if records.is_empty() {
        return Err(Unclassifiable("JSON with no records".to_owned()));
    }
    if let Some(pos) = records.iter().position(|r| !r.is_object()) {
        return Err(Unclassifiable(format!(
            "JSON record {} is not an object; only objects become rows",
            pos + 1
        )));
    }
    // Nested values keep the type arrow-json infers; scalars get our inference.
    let nested = crate::arrow::json::reader::infer_json_schema_from_iterator(
        records.iter().map(|v| Ok(v.clone())),
    )
    .map_err(|e| Unclassifiable(format!("JSON schema could not be inferred: {e}")))?;
    let mut order: Vec<String> = Vec::new();
    let mut guesses: BTreeMap<String, ColumnGuess> = BTreeMap::new();
    for r in &records {
        let serde_json::Value::Object(map) = r else {
            continue;
        };
        for (k, v) in map {
            if !guesses.contains_key(k) {
                order.push(k.clone());
            }
            let g = guesses.entry(k.clone()).or_default();
            match v {
                serde_json::Value::Null => g.observe_null(),
                serde_json::Value::Bool(_) => g.observe_types(vec![InferredType::Boolean]),
                // Integers beyond i64 (u64 above i64::MAX) become floats, like decimals.
                serde_json::Value::Number(n) => g.observe_types(vec![if n.is_i64() {
                    InferredType::Int64
                } else {
                    InferredType::Float64
                }]),
                serde_json::Value::String(s) => {
                    if options.null_markers.iter().any(|m| m == s) && !s.is_empty() {
                        g.observe_null()
                    } else {
                        let t = infer_text(s);
                        // Numbers and booleans written as strings stay strings in JSON.
                        let t: Vec<_> = t
                            .into_iter()
                            .map(|t| match t {
                                InferredType::Int64
                                | InferredType::Float64
                                | InferredType::Boolean => InferredType::Utf8,
                                other => other,
                            })
                            .collect();
                        g.observe_types(t)
                    }
                }
                serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                    let dt = nested
                        .field_with_name(k)
                        .map(|f| f.data_type().clone())
                        .unwrap_or(DataType::Utf8);
                    g.observe_types(vec![InferredType::Arrow(dt)])
                }
            }
        }
    }
    let columns = order
        .iter()
        .map(|name| InferredColumn {
            source_name: name.clone(),
            ty: guesses[name].result(),
        })
        .collect();
    Ok(Classified {
        format: FileFormat::Json,
        compression: Compression::None,
        csv: None,
        json_layout: Some(layout),
        columns,
        rows_sampled: records.len(),
        rows_exact: None,
        warnings: Vec::new(),
    })
}

/// Reads up to `limit` elements of a top-level JSON array, tolerating a truncated sample.
fn sample_json_array(
    text: &str,
    truncated: bool,
    limit: usize,
) -> Result<Vec<serde_json::Value>, Unclassifiable> {
    let mut rest = &text[1..];
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
            continue;
        }
        if rest.starts_with(']') || rest.is_empty() || out.len() >= limit {
            break;
        }
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
        match stream.next() {
            Some(Ok(v)) => {
                out.push(v);
                rest = &rest[stream.byte_offset()..];
            }
            Some(Err(e)) if truncated && e.is_eof() => break,
            Some(Err(e)) => {
                return Err(Unclassifiable(format!(
                    "not a valid JSON array: element {}: {e}",
                    out.len() + 1
                )));
            }
            None => break,
        }
    }
    Ok(out)
}
