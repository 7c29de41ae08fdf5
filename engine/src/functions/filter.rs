//! Event filtering of an event source mapping (`FilterCriteria`), as AWS documents it
//! (<https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html>): a
//! record is delivered when any pattern matches it. A pattern is a JSON object whose
//! keys are fields of the record (nested objects for nested fields) and whose leaves are
//! lists of rules, any of which may match: a value (`"Alice"`, `100`, `null`, `""`),
//! `{"prefix"}`, `{"suffix"}`, `{"equals-ignore-case"}`, `{"anything-but": …}`,
//! `{"numeric": [">", 10, "<=", 20]}`, `{"exists": bool}`; `"$or": [patterns]` too. Where
//! the record holds a list, a rule matches when any element does.
//!
//! For Kinesis the record is `{"kinesisSchemaVersion", "partitionKey", "sequenceNumber",
//! "approximateArrivalTimestamp", "data"}` with `data` decoded as JSON; a pattern about
//! `data` does not match a record whose data is not JSON.

use serde_json::Value;

/// Parsed filter patterns.
#[derive(Clone, Debug, Default)]
pub struct FilterCriteria {
    patterns: Vec<Value>,
}

impl FilterCriteria {
    /// Parses patterns (each a JSON object, as `Filters[].Pattern` holds it as text).
    pub fn parse(patterns: &[String]) -> Result<Self, String> {
        let patterns = patterns
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                let v: Value =
                    serde_json::from_str(p).map_err(|e| format!("pattern {p} is not JSON: {e}"))?;
                check(&v).map_err(|e| format!("pattern {p}: {e}"))?;
                Ok(v)
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { patterns })
    }

    /// Whether there are patterns at all (without, everything is delivered).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `record` is delivered: no patterns, or one of them matches.
    pub fn matches(&self, record: &Value) -> bool {
        self.patterns.is_empty() || self.patterns.iter().any(|p| object_matches(p, record))
    }
}

/// Checks a pattern's shape: objects of objects, leaves are lists of rules.
fn check(pattern: &Value) -> Result<(), String> {
    let Value::Object(fields) = pattern else {
        return Err("a pattern must be a JSON object".to_owned());
    };
    for (key, value) in fields {
        match (key.as_str(), value) {
            ("$or", Value::Array(alternatives)) => {
                for a in alternatives {
                    check(a)?;
                }
            }
            ("$or", _) => return Err("$or takes a list of patterns".to_owned()),
            (_, Value::Object(_)) => check(value)?,
            (_, Value::Array(rules)) => {
                for rule in rules {
                    if let Value::Object(r) = rule {
                        let known = [
                            "prefix",
                            "suffix",
                            "equals-ignore-case",
                            "anything-but",
                            "numeric",
                            "exists",
                        ];
                        if let Some(op) = r.keys().find(|k| !known.contains(&k.as_str())) {
                            return Err(format!(
                                "'{key}': unknown rule '{op}' (use {})",
                                known.join(", ")
                            ));
                        }
                    }
                }
            }
            _ => {
                return Err(format!(
                    "'{key}' must hold a list of values or rules (e.g. [\"a\"]), or a nested pattern"
                ));
            }
        }
    }
    Ok(())
}

fn object_matches(pattern: &Value, record: &Value) -> bool {
    let Value::Object(fields) = pattern else {
        return false;
    };
    fields.iter().all(|(key, rule)| {
        if key == "$or" {
            return rule
                .as_array()
                .is_some_and(|alts| alts.iter().any(|a| object_matches(a, record)));
        }
        let value = record.get(key);
        match rule {
            Value::Object(_) => value.is_some_and(|v| match v {
                Value::Array(items) => items.iter().any(|i| object_matches(rule, i)),
                _ => object_matches(rule, v),
            }),
            Value::Array(rules) => rules.iter().any(|r| rule_matches(r, value)),
            _ => false,
        }
    })
}

/// One rule against a field's value (`None`: the field is absent).
fn rule_matches(rule: &Value, value: Option<&Value>) -> bool {
    // `exists` is about the field itself, not its elements.
    if let Some(exists) = rule.get("exists").and_then(Value::as_bool) {
        return value.is_some() == exists;
    }
    let Some(value) = value else {
        return false;
    };
    match value {
        Value::Array(items) => items.iter().any(|i| scalar_matches(rule, i)),
        v => scalar_matches(rule, v),
    }
}

fn scalar_matches(rule: &Value, value: &Value) -> bool {
    match rule {
        Value::Object(r) => {
            if let Some(p) = r.get("prefix").and_then(Value::as_str) {
                return value.as_str().is_some_and(|s| s.starts_with(p));
            }
            if let Some(p) = r.get("suffix").and_then(Value::as_str) {
                return value.as_str().is_some_and(|s| s.ends_with(p));
            }
            if let Some(p) = r.get("equals-ignore-case").and_then(Value::as_str) {
                return value.as_str().is_some_and(|s| s.eq_ignore_ascii_case(p));
            }
            if let Some(not) = r.get("anything-but") {
                return match not {
                    Value::Array(values) => !values.iter().any(|n| equal(n, value)),
                    Value::Object(inner) => !scalar_matches(&Value::Object(inner.clone()), value),
                    single => !equal(single, value),
                };
            }
            if let Some(Value::Array(ops)) = r.get("numeric") {
                let Some(x) = value.as_f64() else {
                    return false;
                };
                return ops.chunks(2).all(|pair| match pair {
                    [Value::String(op), n] => n.as_f64().is_some_and(|n| match op.as_str() {
                        "=" => x == n,
                        "<" => x < n,
                        "<=" => x <= n,
                        ">" => x > n,
                        ">=" => x >= n,
                        _ => false,
                    }),
                    _ => false,
                });
            }
            false
        }
        plain => equal(plain, value),
    }
}

/// Equality of a pattern value and a record value (numbers by value).
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(pattern: Value, record: Value) -> bool {
        FilterCriteria::parse(&[pattern.to_string()])
            .unwrap()
            .matches(&record)
    }

    #[test]
    fn the_rules_of_the_aws_documentation() {
        let r = json!({"partitionKey": "user-7", "data": {"page": "/checkout", "amount": 15,
            "region": "us-east-1", "file": "a.png", "tags": ["x", "y"], "name": "Alice",
            "gone": null}});
        assert!(m(json!({"data": {"page": ["/checkout"]}}), r.clone()));
        assert!(!m(json!({"data": {"page": ["/home"]}}), r.clone()));
        assert!(
            m(json!({"data": {"page": ["/home", "/checkout"]}}), r.clone()),
            "or"
        );
        assert!(m(
            json!({"data": {"amount": [{"numeric": [">", 10, "<=", 20]}]}}),
            r.clone()
        ));
        assert!(!m(
            json!({"data": {"amount": [{"numeric": [">", 15]}]}}),
            r.clone()
        ));
        assert!(
            m(json!({"data": {"amount": [15]}}), r.clone()),
            "numbers by value"
        );
        assert!(m(
            json!({"data": {"region": [{"prefix": "us-"}]}}),
            r.clone()
        ));
        assert!(m(
            json!({"data": {"file": [{"suffix": ".png"}]}}),
            r.clone()
        ));
        assert!(m(
            json!({"data": {"name": [{"equals-ignore-case": "alice"}]}}),
            r.clone()
        ));
        assert!(m(
            json!({"data": {"page": [{"anything-but": ["/home"]}]}}),
            r.clone()
        ));
        assert!(!m(
            json!({"data": {"page": [{"anything-but": ["/checkout"]}]}}),
            r.clone()
        ));
        assert!(m(json!({"data": {"name": [{"exists": true}]}}), r.clone()));
        assert!(!m(
            json!({"data": {"missing": [{"exists": true}]}}),
            r.clone()
        ));
        assert!(m(
            json!({"data": {"missing": [{"exists": false}]}}),
            r.clone()
        ));
        assert!(m(json!({"data": {"gone": [null]}}), r.clone()), "null");
        assert!(
            m(json!({"data": {"tags": ["y"]}}), r.clone()),
            "any element of a list"
        );
        assert!(
            m(json!({"partitionKey": [{"prefix": "user-"}]}), r.clone()),
            "metadata"
        );
        // All fields of a pattern must match; any pattern may.
        assert!(!m(
            json!({"data": {"page": ["/checkout"], "amount": [1]}}),
            r.clone()
        ));
        assert!(m(
            json!({"$or": [{"data": {"amount": [1]}}, {"data": {"page": ["/checkout"]}}]}),
            r.clone()
        ));
        let two = FilterCriteria::parse(&[
            json!({"data": {"amount": [1]}}).to_string(),
            json!({"data": {"page": ["/checkout"]}}).to_string(),
        ])
        .unwrap();
        assert!(two.matches(&r));
        // Data that is not JSON matches no pattern about data.
        assert!(!m(
            json!({"data": {"page": ["/checkout"]}}),
            json!({"data": "plain text"})
        ));
    }

    #[test]
    fn malformed_patterns_are_refused_with_the_reason() {
        let e = FilterCriteria::parse(&["{not json".to_owned()]).unwrap_err();
        assert!(e.contains("is not JSON"), "{e}");
        let e = FilterCriteria::parse(&[json!({"data": {"page": "/x"}}).to_string()]).unwrap_err();
        assert!(e.contains("must hold a list"), "{e}");
        let e = FilterCriteria::parse(&[json!({"data": {"n": [{"between": [1, 2]}]}}).to_string()])
            .unwrap_err();
        assert!(e.contains("unknown rule 'between'"), "{e}");
    }
}
