//! A small, deterministic YAML writer for CloudFormation templates: block maps and lists
//! in the order they were built, plain scalars where YAML reads them back as the same
//! string, literal blocks for multi-line text (SQL, scripts), JSON-quoted strings
//! otherwise. Intrinsic functions are written in their long form (`Fn::GetAtt: [A, Arn]`),
//! which needs no YAML tags.

use serde_json::Value;

/// Writes `value` as the body of a block at `indent` spaces (a map's entries or a list's
/// items, one per line), appending to `out`.
pub fn write_block(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, v) in map {
                out.push_str(&" ".repeat(indent));
                out.push_str(&scalar_text(key));
                out.push(':');
                write_after_key(out, v, indent);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&" ".repeat(indent));
                out.push('-');
                match item {
                    Value::Object(m) if !m.is_empty() => {
                        // The first entry on the dash's line, the rest aligned with it.
                        let mut first = true;
                        for (key, v) in m {
                            if first {
                                out.push(' ');
                                first = false;
                            } else {
                                out.push_str(&" ".repeat(indent + 2));
                            }
                            out.push_str(&scalar_text(key));
                            out.push(':');
                            write_after_key(out, v, indent + 2);
                        }
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push('\n');
                        write_block(out, item, indent + 2);
                    }
                    other => {
                        out.push(' ');
                        out.push_str(&inline(other, indent + 2));
                        out.push('\n');
                    }
                }
            }
        }
        other => {
            out.push_str(&" ".repeat(indent));
            out.push_str(&inline(other, indent));
            out.push('\n');
        }
    }
}

/// What follows `key:`: a nested block on the next lines, or a scalar on the same line.
fn write_after_key(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_block(out, v, indent + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_block(out, v, indent + 2);
        }
        other => {
            out.push(' ');
            out.push_str(&inline(other, indent + 2));
            out.push('\n');
        }
    }
}

/// A scalar (or an empty map or list) on one line; multi-line text as a literal block
/// whose lines are indented by `indent`.
fn inline(v: &Value, indent: usize) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if is_literal_block(s) => {
            let body = s.strip_suffix('\n').unwrap_or(s);
            let chomp = if s.ends_with('\n') { "" } else { "-" };
            let pad = " ".repeat(indent);
            let mut text = format!("|{chomp}");
            for line in body.split('\n') {
                text.push('\n');
                if !line.is_empty() {
                    text.push_str(&pad);
                    text.push_str(line);
                }
            }
            text
        }
        Value::String(s) => scalar_text(s),
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
    }
}

/// Text a literal block (`|`) keeps exactly: several lines, no carriage returns or other
/// control characters but tabs, no leading space on the first line (it would set the
/// indentation), at most one trailing newline and no trailing spaces.
fn is_literal_block(s: &str) -> bool {
    let body = s.strip_suffix('\n').unwrap_or(s);
    body.contains('\n')
        && !body.ends_with('\n')
        && !s.starts_with([' ', '\n'])
        && !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
        && body.split('\n').all(|l| !l.ends_with([' ', '\t']))
}

/// A string as a YAML scalar: plain when YAML reads it back as this same string, else
/// double-quoted (JSON's quoting is YAML's).
pub fn scalar_text(s: &str) -> String {
    if is_plain(s) {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

fn is_plain(s: &str) -> bool {
    const RESERVED: &[&str] = &[
        "true", "false", "yes", "no", "on", "off", "null", "y", "n", "~",
    ];
    let Some(first) = s.chars().next() else {
        return false;
    };
    if RESERVED.contains(&s.to_ascii_lowercase().as_str())
        || s.parse::<f64>().is_ok()
        || s.starts_with("0x")
        || s.starts_with("0o")
        || s.ends_with(' ')
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || looks_like_date(s)
    {
        return false;
    }
    let ok_first = first.is_ascii_alphanumeric() || "_./$(".contains(first);
    ok_first
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || " _./:${}()*+=,@-<>".contains(c))
}

/// `2012-10-17` and the like, which YAML 1.1 readers take for a date.
fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[5].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn block_maps_lists_and_scalars() {
        let mut out = String::new();
        write_block(
            &mut out,
            &json!({
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "BucketName": {"Ref": "LakeBucketName"},
                    "Tags": [{"Key": "node", "Value": "lake"}, {"Key": "n", "Value": "yes"}],
                    "Arns": [{"Fn::GetAtt": ["A", "Arn"]}],
                    "Empty": [],
                    "Count": 4,
                    "Sql": "SELECT 1\nFROM t\n",
                    "Odd": "a: b # c",
                },
            }),
            0,
        );
        assert_eq!(
            out,
            "Type: AWS::S3::Bucket\nProperties:\n  BucketName:\n    Ref: LakeBucketName\n  \
             Tags:\n    - Key: node\n      Value: lake\n    - Key: \"n\"\n      Value: \"yes\"\n  \
             Arns:\n    - Fn::GetAtt:\n        - A\n        - Arn\n  Empty: []\n  Count: 4\n  \
             Sql: |\n    SELECT 1\n    FROM t\n  Odd: \"a: b # c\"\n"
        );
    }

    #[test]
    fn scalars_that_yaml_would_misread_are_quoted() {
        for s in [
            "true", "No", "12", "1e3", "", " x", "x ", "a: b", "#x", "*", "-x", "[a]",
        ] {
            assert!(scalar_text(s).starts_with('"'), "{s}");
        }
        for s in [
            "app.handler",
            "s3://bucket/key/",
            "arn:aws:s3:::x/*",
            "${AWS::Region}",
        ] {
            assert_eq!(scalar_text(s), s);
        }
    }
}
