//! Athena's partition projection: a table's partitions computed from its properties
//! instead of read from the catalog or listed from storage.
//!
//! The properties are Athena's (<https://docs.aws.amazon.com/athena/latest/ug/partition-projection-supported-types.html>):
//! `projection.enabled`, then per partition key `projection.<key>.type` — `integer`
//! (`range`, `interval`, `digits`), `date` (`range` with `NOW[±n UNIT]`, `format` in Java's
//! `DateTimeFormatter` letters, `interval`, `interval.unit`), `enum` (`values`) or
//! `injected` (the values the query's WHERE clause gives) — and
//! `storage.location.template` with `${key}` placeholders (by default the table location
//! followed by `key=value/` folders). Partitions are computed per query; no storage is
//! listed to find them, only the folders of those the filters keep are read.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Months, NaiveDateTime, Utc};

use super::partitioned::PartitionSpec;
use crate::datafusion::common::ScalarValue;
use crate::datafusion::logical_expr::{BinaryExpr, Expr, Operator};

/// The most partitions one query may project (Athena's limit is 1 million).
pub const MAX_PROJECTED: usize = 1_000_000;

/// How one partition key's values are computed.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyProjection {
    /// Whole numbers from `start` to `end` by `step`, zero-padded to `digits`.
    Integer {
        start: i64,
        end: i64,
        step: i64,
        digits: usize,
    },
    /// Dates from `start` to `end` (each may be `NOW±…`, resolved per query) by `step`
    /// units, written with `format` (a chrono format).
    Date {
        start: DateBound,
        end: DateBound,
        format: String,
        step: i64,
        unit: DateUnit,
    },
    /// A fixed list.
    Enum(Vec<String>),
    /// The values the query gives in equality conditions.
    Injected,
}

/// One end of a date range.
#[derive(Clone, Debug, PartialEq)]
pub enum DateBound {
    /// A fixed time.
    At(NaiveDateTime),
    /// The query's time plus an offset.
    Now { amount: i64, unit: DateUnit },
}

/// Units of date intervals and `NOW` offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateUnit {
    Years,
    Months,
    Weeks,
    Days,
    Hours,
    Minutes,
    Seconds,
}

impl DateUnit {
    fn parse(text: &str) -> Option<Self> {
        Some(
            match text.trim().to_ascii_uppercase().trim_end_matches('S') {
                "YEAR" => Self::Years,
                "MONTH" => Self::Months,
                "WEEK" => Self::Weeks,
                "DAY" => Self::Days,
                "HOUR" => Self::Hours,
                "MINUTE" => Self::Minutes,
                "SECOND" => Self::Seconds,
                _ => return None,
            },
        )
    }

    /// `t` plus `n` of this unit (calendar months and years).
    fn add(self, t: NaiveDateTime, n: i64) -> Option<NaiveDateTime> {
        match self {
            Self::Years | Self::Months => {
                let months = if self == Self::Years { n * 12 } else { n };
                let m = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
                if months >= 0 {
                    t.checked_add_months(m)
                } else {
                    t.checked_sub_months(m)
                }
            }
            Self::Weeks => t.checked_add_signed(Duration::weeks(n)),
            Self::Days => t.checked_add_signed(Duration::days(n)),
            Self::Hours => t.checked_add_signed(Duration::hours(n)),
            Self::Minutes => t.checked_add_signed(Duration::minutes(n)),
            Self::Seconds => t.checked_add_signed(Duration::seconds(n)),
        }
    }
}

/// A table's projection: one rule per partition key, and where partitions live.
#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    /// Partition keys (as the files name them) and their rules, in key order.
    pub keys: Vec<(String, KeyProjection)>,
    /// `storage.location.template`, if set.
    pub template: Option<String>,
}

/// Whether a table's properties turn projection on.
pub fn enabled(parameters: &BTreeMap<String, String>) -> bool {
    parameters
        .get("projection.enabled")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

impl Projection {
    /// Reads the projection of a table with these partition keys from its properties.
    /// Errors name the property and what is wrong, as Athena's do.
    pub fn from_parameters(
        keys: &[String],
        parameters: &BTreeMap<String, String>,
    ) -> Result<Self, String> {
        let get = |key: &str, what: &str| parameters.get(&format!("projection.{key}.{what}"));
        let need = |key: &str, what: &str| {
            get(key, what).ok_or_else(|| {
                format!("partition projection: property 'projection.{key}.{what}' is required")
            })
        };
        let mut out = Vec::new();
        for key in keys {
            let ty = need(key, "type")?.trim().to_ascii_lowercase();
            let rule = match ty.as_str() {
                "integer" => {
                    let range = need(key, "range")?;
                    let (a, b) = range.split_once(',').ok_or_else(|| {
                        format!("partition projection: 'projection.{key}.range' must be 'start,end', not '{range}'")
                    })?;
                    let int = |s: &str| {
                        s.trim().parse::<i64>().map_err(|_| {
                            format!("partition projection: 'projection.{key}.range' has '{s}', not a whole number")
                        })
                    };
                    let step = match get(key, "interval") {
                        Some(s) => int(s)?,
                        None => 1,
                    };
                    if step <= 0 {
                        return Err(format!(
                            "partition projection: 'projection.{key}.interval' must be positive"
                        ));
                    }
                    let digits = match get(key, "digits") {
                        Some(s) => s.trim().parse::<usize>().map_err(|_| {
                            format!("partition projection: 'projection.{key}.digits' must be a whole number, not '{s}'")
                        })?,
                        None => 0,
                    };
                    KeyProjection::Integer {
                        start: int(a)?,
                        end: int(b)?,
                        step,
                        digits,
                    }
                }
                "date" => {
                    let format = java_format(need(key, "format")?).map_err(|e| {
                        format!("partition projection: 'projection.{key}.format': {e}")
                    })?;
                    let range = need(key, "range")?;
                    let (a, b) = range.split_once(',').ok_or_else(|| {
                        format!("partition projection: 'projection.{key}.range' must be 'start,end', not '{range}'")
                    })?;
                    let bound = |s: &str| {
                        date_bound(s.trim(), &format).ok_or_else(|| {
                            format!(
                                "partition projection: 'projection.{key}.range' has '{}', which is neither NOW[+-<n><UNIT>] nor a date in the format '{}'",
                                s.trim(),
                                need(key, "format").map(String::as_str).unwrap_or("")
                            )
                        })
                    };
                    let step = match get(key, "interval") {
                        Some(s) => s.trim().parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                            format!("partition projection: 'projection.{key}.interval' must be a positive whole number, not '{s}'")
                        })?,
                        None => 1,
                    };
                    let unit = match get(key, "interval.unit") {
                        Some(u) => DateUnit::parse(u).ok_or_else(|| {
                            format!("partition projection: 'projection.{key}.interval.unit' must be YEARS, MONTHS, WEEKS, DAYS, HOURS, MINUTES or SECONDS, not '{u}'")
                        })?,
                        None if has_time_of_day(&format) => {
                            return Err(format!(
                                "partition projection: 'projection.{key}.interval.unit' is required when the format has hours, minutes or seconds"
                            ));
                        }
                        None => DateUnit::Days,
                    };
                    KeyProjection::Date {
                        start: bound(a)?,
                        end: bound(b)?,
                        format,
                        step,
                        unit,
                    }
                }
                "enum" => KeyProjection::Enum(
                    need(key, "values")?.split(',').map(str::to_owned).collect(),
                ),
                "injected" => KeyProjection::Injected,
                other => {
                    return Err(format!(
                        "partition projection: 'projection.{key}.type' is '{other}'; it must be integer, date, enum or injected"
                    ));
                }
            };
            out.push((key.clone(), rule));
        }
        Ok(Self {
            keys: out,
            template: parameters.get("storage.location.template").cloned(),
        })
    }

    /// The partitions a query sees at `now`, with the equality conditions of `filters`
    /// giving injected keys their values; `table_location` is the resolved table folder.
    pub fn partitions(
        &self,
        table_location: &str,
        filters: &[Expr],
        now: DateTime<Utc>,
    ) -> Result<Vec<PartitionSpec>, String> {
        let mut per_key: Vec<Vec<String>> = Vec::new();
        for (key, rule) in &self.keys {
            let values = match rule {
                KeyProjection::Integer {
                    start,
                    end,
                    step,
                    digits,
                } => {
                    let count = ((end - start) / step + 1).max(0) as usize;
                    check_count(count)?;
                    (0..count as i64)
                        .map(|i| {
                            let v = start + i * step;
                            if v < 0 {
                                format!("-{:0digits$}", -v, digits = *digits)
                            } else {
                                format!("{v:0digits$}", digits = *digits)
                            }
                        })
                        .collect()
                }
                KeyProjection::Date {
                    start,
                    end,
                    format,
                    step,
                    unit,
                } => {
                    let now = now.naive_utc();
                    let (a, b) = (resolve(start, now)?, resolve(end, now)?);
                    let mut out = Vec::new();
                    let mut i = 0i64;
                    while let Some(t) = unit.add(a, i * step) {
                        if t > b {
                            break;
                        }
                        out.push(t.format(format).to_string());
                        check_count(out.len())?;
                        i += 1;
                    }
                    out
                }
                KeyProjection::Enum(values) => values.clone(),
                KeyProjection::Injected => {
                    let values = injected_values(key, filters);
                    if values.is_empty() {
                        return Err(format!(
                            "CONSTRAINT_VIOLATION: for the injected projected partition column {key}, the WHERE clause must contain only static equality conditions, and at least one such condition must be present"
                        ));
                    }
                    values
                }
            };
            per_key.push(values);
        }
        let total = per_key
            .iter()
            .try_fold(1usize, |acc, v| acc.checked_mul(v.len()))
            .unwrap_or(usize::MAX);
        check_count(total)?;
        let mut rows: Vec<Vec<String>> = vec![Vec::new()];
        for values in &per_key {
            rows = rows
                .into_iter()
                .flat_map(|row| {
                    values.iter().map(move |v| {
                        let mut r = row.clone();
                        r.push(v.clone());
                        r
                    })
                })
                .collect();
        }
        Ok(rows
            .into_iter()
            .map(|values| PartitionSpec {
                location: self.location(table_location, &values),
                values,
            })
            .collect())
    }

    /// Where a projected partition's files are.
    fn location(&self, table_location: &str, values: &[String]) -> String {
        match &self.template {
            Some(t) => {
                let mut s = t.clone();
                for ((key, _), v) in self.keys.iter().zip(values) {
                    s = s.replace(&format!("${{{key}}}"), v);
                }
                super::provider::partition_location(table_location, &s)
            }
            None => {
                let folders: Vec<String> = self
                    .keys
                    .iter()
                    .zip(values)
                    .map(|((k, _), v)| format!("{k}={v}"))
                    .collect();
                super::provider::partition_location(table_location, &folders.join("/"))
            }
        }
    }
}

fn check_count(n: usize) -> Result<(), String> {
    if n > MAX_PROJECTED {
        Err(format!(
            "partition projection would make more than {MAX_PROJECTED} partitions; narrow a range or add a filter on an injected key"
        ))
    } else {
        Ok(())
    }
}

fn resolve(bound: &DateBound, now: NaiveDateTime) -> Result<NaiveDateTime, String> {
    match bound {
        DateBound::At(t) => Ok(*t),
        DateBound::Now { amount, unit } => unit
            .add(now, *amount)
            .ok_or_else(|| "partition projection: a NOW offset is out of range".to_owned()),
    }
}

/// `NOW`, `NOW-3DAYS`, `NOW+1HOURS`, or a date in the projection's format.
fn date_bound(text: &str, format: &str) -> Option<DateBound> {
    let upper = text.to_ascii_uppercase();
    if let Some(rest) = upper.strip_prefix("NOW") {
        if rest.is_empty() {
            return Some(DateBound::Now {
                amount: 0,
                unit: DateUnit::Days,
            });
        }
        let (sign, rest) = match rest.as_bytes()[0] {
            b'+' => (1, &rest[1..]),
            b'-' => (-1, &rest[1..]),
            _ => return None,
        };
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let amount: i64 = rest[..digits].parse().ok()?;
        let unit = DateUnit::parse(&rest[digits..])?;
        return Some(DateBound::Now {
            amount: sign * amount,
            unit,
        });
    }
    parse_formatted(text, format).map(DateBound::At)
}

/// Parses text written with a chrono format that may hold only some of the fields.
fn parse_formatted(text: &str, format: &str) -> Option<NaiveDateTime> {
    let mut parsed = chrono::format::Parsed::new();
    chrono::format::parse(
        &mut parsed,
        text,
        chrono::format::StrftimeItems::new(format),
    )
    .ok()?;
    let year = parsed
        .year()
        .or_else(|| parsed.year_mod_100().map(|y| 2000 + y))?;
    let month = parsed.month().unwrap_or(1);
    let day = parsed.day().unwrap_or(1);
    let date = chrono::NaiveDate::from_ymd_opt(year, month, day)?;
    let time = chrono::NaiveTime::from_hms_opt(
        parsed
            .hour_div_12()
            .zip(parsed.hour_mod_12())
            .map_or(0, |(d, m)| d * 12 + m),
        parsed.minute().unwrap_or(0),
        parsed.second().unwrap_or(0),
    )?;
    Some(date.and_time(time))
}

/// Athena's date formats are Java `DateTimeFormatter` patterns; converts the letters
/// people use (`yyyy MM dd HH mm ss`, quoted literals) to chrono's.
pub fn java_format(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // Quoted literal text; '' is a quote.
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                out.push(chars[i]);
                i += 1;
            }
            i += 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            if c == '%' {
                out.push_str("%%");
            } else {
                out.push(c);
            }
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&d| d == c).count();
        let spec = match (c, run) {
            ('y' | 'u', 4) => "%Y",
            ('y' | 'u', 2) => "%y",
            ('M', 2) => "%m",
            ('M', 1) => "%-m",
            ('M', 3) => "%b",
            ('d', 2) => "%d",
            ('d', 1) => "%-d",
            ('H', 2) => "%H",
            ('H', 1) => "%-H",
            ('m', 2) => "%M",
            ('s', 2) => "%S",
            _ => {
                return Err(format!(
                    "'{}' is not a pattern Tributary projects (use yyyy, MM, dd, HH, mm, ss and literal text)",
                    chars[i..i + run].iter().collect::<String>()
                ));
            }
        };
        out.push_str(spec);
        i += run;
    }
    Ok(out)
}

fn has_time_of_day(chrono_format: &str) -> bool {
    ["%H", "%-H", "%M", "%S"]
        .iter()
        .any(|s| chrono_format.contains(s))
}

/// The literal values `key = 'v'` and `key IN ('a', 'b')` conditions give.
fn injected_values(key: &str, filters: &[Expr]) -> Vec<String> {
    let mut out = Vec::new();
    for f in filters {
        collect_equalities(key, f, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

fn collect_equalities(key: &str, expr: &Expr, out: &mut Vec<String>) {
    let is_key = |e: &Expr| matches!(strip_cast(e), Expr::Column(c) if c.name == key);
    let literal = |e: &Expr| match strip_cast(e) {
        Expr::Literal(v, _) => scalar_text(v),
        _ => None,
    };
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if *op == Operator::Eq => {
            if is_key(left) {
                out.extend(literal(right));
            } else if is_key(right) {
                out.extend(literal(left));
            }
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if *op == Operator::And => {
            collect_equalities(key, left, out);
            collect_equalities(key, right, out);
        }
        Expr::InList(list) if !list.negated && is_key(&list.expr) => {
            out.extend(list.list.iter().filter_map(literal));
        }
        _ => {}
    }
}

fn strip_cast(e: &Expr) -> &Expr {
    match e {
        Expr::Cast(c) => strip_cast(&c.expr),
        Expr::TryCast(c) => strip_cast(&c.expr),
        other => other,
    }
}

fn scalar_text(v: &ScalarValue) -> Option<String> {
    if v.is_null() {
        return None;
    }
    Some(match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => s.clone(),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_firehose_hour_projection_makes_athenas_locations() {
        // The Athena documentation's Firehose example: one `date` key over YYYY/MM/dd/HH.
        let p = Projection::from_parameters(
            &["datehour".to_owned()],
            &props(&[
                ("projection.enabled", "true"),
                ("projection.datehour.type", "date"),
                ("projection.datehour.range", "2021/01/01/00,NOW"),
                ("projection.datehour.format", "yyyy/MM/dd/HH"),
                ("projection.datehour.interval", "1"),
                ("projection.datehour.interval.unit", "HOURS"),
                ("storage.location.template", "s3://b/prefix/${datehour}/"),
            ]),
        )
        .unwrap();
        let now = Utc.with_ymd_and_hms(2021, 1, 2, 3, 30, 0).unwrap();
        let parts = p.partitions("s3://b/prefix/", &[], now).unwrap();
        assert_eq!(parts.len(), 24 + 4);
        assert_eq!(parts[0].values, ["2021/01/01/00"]);
        assert_eq!(parts[0].location, "s3://b/prefix/2021/01/01/00/");
        assert_eq!(parts[27].values, ["2021/01/02/03"]);
    }

    #[test]
    fn integers_enums_and_hive_locations() {
        let p = Projection::from_parameters(
            &["hour".to_owned(), "region".to_owned()],
            &props(&[
                ("projection.hour.type", "integer"),
                ("projection.hour.range", "0,23"),
                ("projection.hour.digits", "2"),
                ("projection.region.type", "enum"),
                ("projection.region.values", "eu,us"),
            ]),
        )
        .unwrap();
        let parts = p.partitions("/lake/t/", &[], Utc::now()).unwrap();
        assert_eq!(parts.len(), 48);
        assert_eq!(parts[1].values, ["00", "us"]);
        assert_eq!(parts[1].location, "/lake/t/hour=00/region=us/");
    }

    #[test]
    fn bad_properties_name_the_property() {
        let err = Projection::from_parameters(
            &["day".to_owned()],
            &props(&[
                ("projection.day.type", "date"),
                ("projection.day.format", "yyyy-MM-dd HH"),
                ("projection.day.range", "2021-01-01 00,NOW"),
            ]),
        )
        .unwrap_err();
        assert!(
            err.contains("'projection.day.interval.unit' is required"),
            "{err}"
        );
        let err = Projection::from_parameters(&["x".to_owned()], &props(&[])).unwrap_err();
        assert!(err.contains("'projection.x.type' is required"), "{err}");
        let p = Projection::from_parameters(
            &["id".to_owned()],
            &props(&[("projection.id.type", "injected")]),
        )
        .unwrap();
        let err = p.partitions("/t/", &[], Utc::now()).unwrap_err();
        assert!(err.starts_with("CONSTRAINT_VIOLATION"), "{err}");
    }

    #[test]
    fn now_offsets() {
        assert_eq!(
            date_bound("NOW-3DAYS", "%Y"),
            Some(DateBound::Now {
                amount: -3,
                unit: DateUnit::Days
            })
        );
        assert_eq!(java_format("yyyy/MM/dd/HH").unwrap(), "%Y/%m/%d/%H");
        assert_eq!(java_format("'day='yyyy-MM-dd").unwrap(), "day=%Y-%m-%d");
    }
}
