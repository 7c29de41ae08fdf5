//! Trino's string, regular expression, JSON and URL functions, and the array/map access
//! functions whose meaning differs from DataFusion's.

use std::sync::Arc;

use super::{TrinoFn, arity, exec_err, int, int64s, strings, text};
use crate::arrow::array::{
    Array, ArrayRef, AsArray as _, BooleanArray, Int64Array, ListBuilder, StringArray,
    StringBuilder, UInt32Array,
};
use crate::arrow::datatypes::DataType;
use crate::datafusion::common::{Result, ScalarValue};

/// Compiles a pattern once per distinct text (patterns are constants in practice).
fn regexes(a: &ArrayRef) -> Result<Vec<Option<regex::Regex>>> {
    let mut last: Option<(String, regex::Regex)> = None;
    strings(a)?
        .iter()
        .map(|p| {
            let Some(p) = p else { return Ok(None) };
            if let Some((text, re)) = &last
                && text == p
            {
                return Ok(Some(re.clone()));
            }
            let re = regex::Regex::new(p)
                .map_err(|e| exec_err(format!("invalid regular expression '{p}': {e}")))?;
            last = Some((p.to_owned(), re.clone()));
            Ok(Some(re))
        })
        .collect()
}

fn groups(a: &[ArrayRef], n: usize) -> Result<Vec<Option<i64>>> {
    Ok(match a.get(2) {
        Some(g) => int64s(g)?.iter().collect(),
        None => vec![Some(0); n],
    })
}

fn regexp_extract(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let texts = strings(&a[0])?;
    let res = regexes(&a[1])?;
    let groups = groups(a, texts.len())?;
    let mut out = StringBuilder::new();
    for i in 0..texts.len() {
        let (Some(t), Some(re), Some(g)) = (
            texts.is_valid(i).then(|| texts.value(i)),
            &res[i],
            groups[i],
        ) else {
            out.append_null();
            continue;
        };
        let g = group_index(re, g)?;
        match re.captures(t).and_then(|c| c.get(g)) {
            Some(m) => out.append_value(m.as_str()),
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn group_index(re: &regex::Regex, g: i64) -> Result<usize> {
    if g < 0 || g as usize >= re.captures_len() {
        return Err(exec_err(format!(
            "Pattern has {} groups. Cannot access group {g}",
            re.captures_len() - 1
        )));
    }
    Ok(g as usize)
}

fn regexp_extract_all(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let texts = strings(&a[0])?;
    let res = regexes(&a[1])?;
    let groups = groups(a, texts.len())?;
    let mut out = ListBuilder::new(StringBuilder::new());
    for i in 0..texts.len() {
        let (Some(t), Some(re), Some(g)) = (
            texts.is_valid(i).then(|| texts.value(i)),
            &res[i],
            groups[i],
        ) else {
            out.append_null();
            continue;
        };
        let g = group_index(re, g)?;
        for c in re.captures_iter(t) {
            match c.get(g) {
                Some(m) => out.values().append_value(m.as_str()),
                None => out.values().append_null(),
            }
        }
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

/// One step of a JSONPath: a member name or an array index.
enum Step {
    Member(String),
    Index(usize),
}

/// The JSONPath subset Trino's JSON functions take: `$`, `.name`, `["name"]`, `[n]`.
fn json_path(path: &str) -> Result<Vec<Step>> {
    let bad = || exec_err(format!("Invalid JSON path: '{path}'"));
    let rest = path.trim().strip_prefix('$').ok_or_else(bad)?;
    let b = rest.as_bytes();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => {
                let start = i + 1;
                i = start;
                while i < b.len() && b[i] != b'.' && b[i] != b'[' {
                    i += 1;
                }
                if i == start {
                    return Err(bad());
                }
                steps.push(Step::Member(rest[start..i].to_owned()));
            }
            b'[' => {
                let end = rest[i..].find(']').ok_or_else(bad)? + i;
                let inner = rest[i + 1..end].trim();
                if let Some(q) = inner
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
                {
                    steps.push(Step::Member(q.to_owned()));
                } else {
                    steps.push(Step::Index(inner.parse().map_err(|_| bad())?));
                }
                i = end + 1;
            }
            _ => return Err(bad()),
        }
    }
    Ok(steps)
}

fn json_at<'a>(v: &'a serde_json::Value, steps: &[Step]) -> Option<&'a serde_json::Value> {
    steps.iter().try_fold(v, |v, s| match s {
        Step::Member(k) => v.get(k),
        Step::Index(n) => v.get(*n),
    })
}

/// Applies `f` to each row's JSON value at the path (invalid JSON is null, as in Trino).
fn json_rows<T>(
    a: &[ArrayRef],
    f: impl Fn(&serde_json::Value) -> Option<T>,
) -> Result<Vec<Option<T>>> {
    let texts = strings(&a[0])?;
    let paths = match a.get(1) {
        Some(p) => strings(p)?
            .iter()
            .map(|p| p.map(json_path).transpose())
            .collect::<Result<Vec<_>>>()?,
        None => (0..texts.len()).map(|_| Some(Vec::new())).collect(),
    };
    Ok(texts
        .iter()
        .zip(&paths)
        .map(|(t, p)| {
            let v: serde_json::Value = serde_json::from_str(t?).ok()?;
            json_at(&v, p.as_ref()?).and_then(&f)
        })
        .collect())
}

fn json_text(a: &[ArrayRef], f: impl Fn(&serde_json::Value) -> Option<String>) -> Result<ArrayRef> {
    Ok(Arc::new(
        json_rows(a, f)?.into_iter().collect::<StringArray>(),
    ))
}

fn json_count(a: &[ArrayRef], f: impl Fn(&serde_json::Value) -> Option<usize>) -> Result<ArrayRef> {
    Ok(Arc::new(
        json_rows(a, f)?
            .into_iter()
            .map(|n| n.map(|n| n as i64))
            .collect::<Int64Array>(),
    ))
}

/// `(text, pattern[, group])`, as the `regexp_extract` functions take them.
fn regexp_group_args(a: &[DataType]) -> Result<Vec<DataType>> {
    arity(a, &[2, 3])?;
    let mut t = vec![text(&a[0], "the text")?, text(&a[1], "the pattern")?];
    if let Some(g) = a.get(2) {
        t.push(int(g, "the group")?);
    }
    Ok(t)
}

fn scalar_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn url_part(a: &[ArrayRef], part: fn(&url::Url) -> Option<String>) -> Result<ArrayRef> {
    Ok(Arc::new(
        strings(&a[0])?
            .iter()
            .map(|u| url::Url::parse(u?).ok().as_ref().and_then(part))
            .collect::<StringArray>(),
    ))
}

fn url_fn(name: &'static str, run: super::Run) -> TrinoFn {
    TrinoFn::new(
        name,
        |a| {
            arity(a, &[1])?;
            Ok(vec![text(&a[0], "the URL")?])
        },
        |_| Ok(DataType::Utf8),
        run,
    )
}

/// `regexp_replace(text, pattern[, replacement])`: every match replaced (or removed),
/// with `$1` / `${name}` for groups and `\$` for a dollar sign, as in Trino (DataFusion's
/// replaces only the first match).
fn regexp_replace(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let texts = strings(&a[0])?;
    let res = regexes(&a[1])?;
    let replacements: Vec<Option<String>> = match a.get(2) {
        Some(r) => strings(r)?
            .iter()
            .map(|r| r.map(|r| r.replace("\\$", "$$")))
            .collect(),
        None => vec![Some(String::new()); texts.len()],
    };
    Ok(Arc::new(
        (0..texts.len())
            .map(|i| {
                let t = texts.is_valid(i).then(|| texts.value(i))?;
                let re = res[i].as_ref()?;
                let r = replacements[i].as_deref()?;
                Some(re.replace_all(t, r).into_owned())
            })
            .collect::<StringArray>(),
    ))
}

/// Every text function.
pub(super) fn functions() -> Vec<TrinoFn> {
    vec![
        TrinoFn::new(
            "regexp_replace",
            |a| {
                arity(a, &[2, 3])?;
                let mut t = vec![text(&a[0], "the text")?, text(&a[1], "the pattern")?];
                if let Some(r) = a.get(2) {
                    t.push(text(r, "the replacement")?);
                }
                Ok(t)
            },
            |_| Ok(DataType::Utf8),
            regexp_replace,
        ),
        TrinoFn::new(
            "regexp_extract",
            regexp_group_args,
            |_| Ok(DataType::Utf8),
            regexp_extract,
        ),
        TrinoFn::new(
            "regexp_extract_all",
            regexp_group_args,
            |_| {
                Ok(DataType::List(Arc::new(
                    crate::arrow::datatypes::Field::new("item", DataType::Utf8, true),
                )))
            },
            regexp_extract_all,
        ),
        TrinoFn::new(
            "json_extract_scalar",
            |a| {
                arity(a, &[2])?;
                Ok(vec![
                    text(&a[0], "the JSON")?,
                    text(&a[1], "the JSON path")?,
                ])
            },
            |_| Ok(DataType::Utf8),
            |a, _| json_text(a, scalar_text),
        ),
        TrinoFn::new(
            "json_extract",
            |a| {
                arity(a, &[2])?;
                Ok(vec![
                    text(&a[0], "the JSON")?,
                    text(&a[1], "the JSON path")?,
                ])
            },
            |_| Ok(DataType::Utf8),
            |a, _| json_text(a, |v| Some(v.to_string())),
        ),
        TrinoFn::new(
            "json_array_length",
            |a| {
                arity(a, &[1])?;
                Ok(vec![text(&a[0], "the JSON")?])
            },
            |_| Ok(DataType::Int64),
            |a, _| json_count(a, |v| v.as_array().map(Vec::len)),
        ),
        TrinoFn::new(
            "json_size",
            |a| {
                arity(a, &[2])?;
                Ok(vec![
                    text(&a[0], "the JSON")?,
                    text(&a[1], "the JSON path")?,
                ])
            },
            |_| Ok(DataType::Int64),
            |a, _| {
                json_count(a, |v| {
                    Some(match v {
                        serde_json::Value::Array(a) => a.len(),
                        serde_json::Value::Object(o) => o.len(),
                        _ => 0,
                    })
                })
            },
        ),
        url_fn("url_extract_host", |a, _| {
            url_part(a, |u| u.host_str().map(str::to_owned))
        }),
        url_fn("url_extract_path", |a, _| {
            url_part(a, |u| Some(u.path().to_owned()))
        }),
        url_fn("url_extract_protocol", |a, _| {
            url_part(a, |u| Some(u.scheme().to_owned()))
        }),
        url_fn("url_extract_query", |a, _| {
            url_part(a, |u| u.query().map(str::to_owned))
        }),
        url_fn("url_extract_fragment", |a, _| {
            url_part(a, |u| u.fragment().map(str::to_owned))
        }),
        TrinoFn::new(
            "url_extract_parameter",
            |a| {
                arity(a, &[2])?;
                Ok(vec![
                    text(&a[0], "the URL")?,
                    text(&a[1], "the parameter name")?,
                ])
            },
            |_| Ok(DataType::Utf8),
            |a, _| {
                let names = strings(&a[1])?;
                Ok(Arc::new(
                    strings(&a[0])?
                        .iter()
                        .zip(names.iter())
                        .map(|(u, n)| {
                            let (u, n) = (url::Url::parse(u?).ok()?, n?);
                            u.query_pairs()
                                .find(|(k, _)| k == n)
                                .map(|(_, v)| v.into_owned())
                        })
                        .collect::<StringArray>(),
                ))
            },
        ),
    ]
}

/// `element_at(array, index)` (from 1; negative counts from the end; out of range is
/// null) and `element_at(map, key)` (a missing key is null).
pub(super) fn element_at(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    match a[0].data_type() {
        DataType::Map(..) => {
            let map = a[0].as_map();
            let keys = &a[1];
            let mut take: Vec<Option<u32>> = Vec::with_capacity(map.len());
            for row in 0..map.len() {
                if map.is_null(row) || keys.is_null(row) {
                    take.push(None);
                    continue;
                }
                let want = ScalarValue::try_from_array(keys, row)?;
                let (start, end) = (map.value_offsets()[row], map.value_offsets()[row + 1]);
                let mut found = None;
                for i in start..end {
                    if ScalarValue::try_from_array(map.keys(), i as usize)? == want {
                        found = Some(i as u32);
                    }
                }
                take.push(found);
            }
            Ok(crate::arrow::compute::take(
                map.values(),
                &UInt32Array::from(take),
                None,
            )?)
        }
        _ => {
            let list = a[0].as_list::<i32>();
            let index = int64s(&a[1])?;
            let mut take: Vec<Option<u32>> = Vec::with_capacity(list.len());
            for row in 0..list.len() {
                if list.is_null(row) || index.is_null(row) {
                    take.push(None);
                    continue;
                }
                let (start, end) = (
                    list.value_offsets()[row] as i64,
                    list.value_offsets()[row + 1] as i64,
                );
                let n = index.value(row);
                if n == 0 {
                    return Err(exec_err("SQL array indices start at 1"));
                }
                let at = if n > 0 { start + n - 1 } else { end + n };
                take.push((at >= start && at < end).then_some(at as u32));
            }
            Ok(crate::arrow::compute::take(
                list.values(),
                &UInt32Array::from(take),
                None,
            )?)
        }
    }
}

/// `contains(array, value)`: whether the array holds the value (null when it does not
/// but holds a null, as in Trino); `contains(text, text)` for text.
pub(super) fn contains(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    if let DataType::Utf8 = a[0].data_type() {
        let (h, n) = (strings(&a[0])?, strings(&a[1])?);
        return Ok(Arc::new(
            h.iter()
                .zip(n.iter())
                .map(|(h, n)| Some(h?.contains(n?)))
                .collect::<BooleanArray>(),
        ));
    }
    let list = a[0].as_list::<i32>();
    let mut out = Vec::with_capacity(list.len());
    for row in 0..list.len() {
        if list.is_null(row) || a[1].is_null(row) {
            out.push(None);
            continue;
        }
        let want = ScalarValue::try_from_array(&a[1], row)?;
        let values = list.value(row);
        let mut saw_null = false;
        let mut hit = false;
        for i in 0..values.len() {
            if values.is_null(i) {
                saw_null = true;
            } else if ScalarValue::try_from_array(&values, i)? == want {
                hit = true;
                break;
            }
        }
        out.push(if hit {
            Some(true)
        } else if saw_null {
            None
        } else {
            Some(false)
        });
    }
    Ok(Arc::new(out.into_iter().collect::<BooleanArray>()))
}

/// A type as Trino's `typeof` names it.
pub(super) fn trino_type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "varchar".to_owned(),
        DataType::Int32 => "integer".to_owned(),
        DataType::Float32 => "real".to_owned(),
        DataType::Timestamp(_, None) => "timestamp(3)".to_owned(),
        DataType::Timestamp(_, Some(_)) => "timestamp(3) with time zone".to_owned(),
        DataType::Null => "unknown".to_owned(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "varbinary".to_owned(),
        DataType::List(f) | DataType::LargeList(f) => {
            format!("array({})", trino_type_name(f.data_type()))
        }
        other => crate::lake::glue_types::glue_type(other),
    }
}
