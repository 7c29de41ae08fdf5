//! Trino's date and time functions. Timestamps are read as UTC wall-clock times (Athena's
//! session time zone), as Arrow microsecond timestamps.

use std::sync::Arc;

use chrono::{DateTime, Datelike as _, Months, NaiveDate, NaiveDateTime, Timelike as _};

use super::{TrinoFn, arity, exec_err, int, int64s, is_text, plan_err, strings, text};
use crate::arrow::array::{
    Array, ArrayRef, Date32Array, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use crate::arrow::datatypes::{DataType, TimeUnit};
use crate::datafusion::common::Result;

const TS: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);
const EPOCH_DAYS_CE: i32 = 719_163;

/// A date or time argument: dates stay dates, everything else (timestamps of any unit
/// or zone, text) is read as a microsecond timestamp.
fn moment(t: &DataType, what: &str) -> Result<DataType> {
    match t {
        DataType::Date32 | DataType::Date64 => Ok(DataType::Date32),
        DataType::Timestamp(..) | DataType::Null => Ok(TS),
        t if is_text(t) => Ok(TS),
        other => Err(plan_err(format!(
            "{what} must be a date or timestamp, not {}",
            crate::lake::glue_types::glue_type(other)
        ))),
    }
}

/// A timestamp argument (dates become midnight).
fn timestamp(t: &DataType, what: &str) -> Result<DataType> {
    moment(t, what).map(|_| TS)
}

/// The rows of a coerced date or timestamp argument.
fn moments(a: &ArrayRef) -> Result<Vec<Option<NaiveDateTime>>> {
    if let Some(d) = a.as_any().downcast_ref::<Date32Array>() {
        return Ok(d
            .iter()
            .map(|v| v.and_then(|d| NaiveDate::from_num_days_from_ce_opt(d + EPOCH_DAYS_CE)))
            .map(|d| d.map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default()))
            .collect());
    }
    let t = a
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .ok_or_else(|| exec_err(format!("expected a timestamp, got {}", a.data_type())))?;
    Ok(t.iter()
        .map(|v| {
            v.and_then(DateTime::from_timestamp_micros)
                .map(|d| d.naive_utc())
        })
        .collect())
}

fn to_timestamps(values: impl IntoIterator<Item = Option<NaiveDateTime>>) -> ArrayRef {
    Arc::new(
        values
            .into_iter()
            .map(|v| v.map(|t| t.and_utc().timestamp_micros()))
            .collect::<TimestampMicrosecondArray>(),
    )
}

fn to_dates(values: impl IntoIterator<Item = Option<NaiveDate>>) -> ArrayRef {
    Arc::new(
        values
            .into_iter()
            .map(|v| v.map(|d| d.num_days_from_ce() - EPOCH_DAYS_CE))
            .collect::<Date32Array>(),
    )
}

/// A result in the argument's kind: a date for a date, else a timestamp.
fn same_kind(kind: &DataType, values: Vec<Option<NaiveDateTime>>) -> ArrayRef {
    if *kind == DataType::Date32 {
        to_dates(values.into_iter().map(|v| v.map(|t| t.date())))
    } else {
        to_timestamps(values)
    }
}

/// Trino's `date_format` / `date_parse` specifiers (MySQL's) as chrono's. `parsing`
/// reads fractions of any length.
pub fn mysql_format(format: &str, parsing: bool) -> Result<String> {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            out.push_str("%%");
            break;
        };
        let mapped = match spec {
            'a' => "%a",
            'b' => "%b",
            'c' => "%-m",
            'd' => "%d",
            'e' => "%-d",
            'f' if parsing => {
                // `.%f` reads any number of digits after the dot.
                if out.ends_with('.') {
                    out.pop();
                    "%.f"
                } else {
                    "%6f"
                }
            }
            'f' => "%6f",
            'H' => "%H",
            'h' | 'I' => "%I",
            'i' => "%M",
            'j' => "%j",
            'k' => "%-H",
            'l' => "%-I",
            'M' => "%B",
            'm' => "%m",
            'p' => "%p",
            'r' => "%I:%M:%S %p",
            'S' | 's' => "%S",
            'T' => "%H:%M:%S",
            'v' => "%V",
            'W' => "%A",
            'w' => "%w",
            'x' => "%G",
            'Y' => "%Y",
            'y' => "%y",
            '%' => "%%",
            'D' => "\u{1}",
            other => {
                return Err(exec_err(format!(
                    "the date format specifier %{other} is not supported (Trino does not support %U, %u, %V, %X either)"
                )));
            }
        };
        out.push_str(mapped);
    }
    Ok(out)
}

/// Formats with a converted format, filling `%D` (day with an English suffix).
fn format_with(t: &NaiveDateTime, chrono_format: &str) -> String {
    let text = t.format(chrono_format).to_string();
    if !text.contains('\u{1}') {
        return text;
    }
    let d = t.day();
    let suffix = match (d % 10, d % 100) {
        (1, n) if n != 11 => "st",
        (2, n) if n != 12 => "nd",
        (3, n) if n != 13 => "rd",
        _ => "th",
    };
    text.replace('\u{1}', &format!("{d}{suffix}"))
}

/// Parses text with a chrono format that may leave out the time (midnight) or parts of
/// the date (the first month, the first day).
pub fn parse_partial(text: &str, chrono_format: &str) -> Option<NaiveDateTime> {
    let mut parsed = chrono::format::Parsed::new();
    chrono::format::parse(
        &mut parsed,
        text,
        chrono::format::StrftimeItems::new(chrono_format),
    )
    .ok()?;
    if let Ok(t) = parsed.to_naive_datetime_with_offset(0) {
        return Some(t);
    }
    let year = parsed
        .year()
        .or_else(|| parsed.isoyear())
        .or_else(|| parsed.year_mod_100().map(|y| 2000 + y))?;
    let date = match parsed.to_naive_date() {
        Ok(d) => d,
        Err(_) => {
            NaiveDate::from_ymd_opt(year, parsed.month().unwrap_or(1), parsed.day().unwrap_or(1))?
        }
    };
    let hour = parsed
        .hour_div_12()
        .zip(parsed.hour_mod_12())
        .map_or(0, |(d, m)| d * 12 + m);
    let time = chrono::NaiveTime::from_hms_nano_opt(
        hour,
        parsed.minute().unwrap_or(0),
        parsed.second().unwrap_or(0),
        parsed.nanosecond().unwrap_or(0),
    )?;
    Some(date.and_time(time))
}

/// One format per row (usually a constant).
fn per_row_format(a: &ArrayRef, parsing: bool, joda: bool) -> Result<Vec<Option<String>>> {
    strings(a)?
        .iter()
        .map(|f| {
            f.map(|f| {
                if joda {
                    crate::lake::projection::java_format(f).map_err(exec_err)
                } else {
                    mysql_format(f, parsing)
                }
            })
            .transpose()
        })
        .collect()
}

fn format_fn(name: &'static str, joda: bool) -> TrinoFn {
    TrinoFn::new(
        name,
        |a| {
            arity(a, &[2])?;
            Ok(vec![
                timestamp(&a[0], "the first argument")?,
                text(&a[1], "the format")?,
            ])
        },
        |_| Ok(DataType::Utf8),
        if joda {
            |a, _| format_rows(a, true)
        } else {
            |a, _| format_rows(a, false)
        },
    )
}

fn format_rows(a: &[ArrayRef], joda: bool) -> Result<ArrayRef> {
    let times = moments(&a[0])?;
    let formats = per_row_format(&a[1], false, joda)?;
    Ok(Arc::new(
        times
            .iter()
            .zip(&formats)
            .map(|(t, f)| Some(format_with(t.as_ref()?, f.as_ref()?)))
            .collect::<StringArray>(),
    ))
}

fn parse_fn(name: &'static str, joda: bool) -> TrinoFn {
    TrinoFn::new(
        name,
        |a| {
            arity(a, &[2])?;
            Ok(vec![text(&a[0], "the text")?, text(&a[1], "the format")?])
        },
        |_| Ok(TS),
        if joda {
            |a, _| parse_rows(a, true)
        } else {
            |a, _| parse_rows(a, false)
        },
    )
}

fn parse_rows(a: &[ArrayRef], joda: bool) -> Result<ArrayRef> {
    let texts = strings(&a[0])?;
    let formats = per_row_format(&a[1], true, joda)?;
    let mut out = Vec::with_capacity(texts.len());
    for (t, f) in texts.iter().zip(&formats) {
        out.push(match (t, f) {
            (Some(t), Some(f)) => Some(parse_partial(t, f).ok_or_else(|| {
                exec_err(format!(
                    "Invalid format: \"{t}\" does not match the date format"
                ))
            })?),
            _ => None,
        });
    }
    Ok(to_timestamps(out))
}

/// Units of `date_add`, `date_diff`: fixed lengths in microseconds, or calendar months.
enum Unit {
    Fixed(i64),
    Months(i64),
}

fn unit(name: &str) -> Result<Unit> {
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "millisecond" => Unit::Fixed(1_000),
        "second" => Unit::Fixed(1_000_000),
        "minute" => Unit::Fixed(60_000_000),
        "hour" => Unit::Fixed(3_600_000_000),
        "day" => Unit::Fixed(86_400_000_000),
        "week" => Unit::Fixed(7 * 86_400_000_000),
        "month" => Unit::Months(1),
        "quarter" => Unit::Months(3),
        "year" => Unit::Months(12),
        other => {
            return Err(exec_err(format!(
                "'{other}' is not a unit (millisecond, second, minute, hour, day, week, month, quarter, year)"
            )));
        }
    })
}

fn add_months(t: NaiveDateTime, n: i64) -> Option<NaiveDateTime> {
    let m = Months::new(u32::try_from(n.unsigned_abs()).ok()?);
    if n >= 0 {
        t.checked_add_months(m)
    } else {
        t.checked_sub_months(m)
    }
}

fn date_add(a: &[ArrayRef], ret: &DataType) -> Result<ArrayRef> {
    let units = strings(&a[0])?;
    let amounts = int64s(&a[1])?;
    let times = moments(&a[2])?;
    let mut out = Vec::with_capacity(times.len());
    for (i, time) in times.iter().enumerate() {
        let (Some(u), Some(n), Some(t)) = (
            units.is_valid(i).then(|| units.value(i)),
            amounts.is_valid(i).then(|| amounts.value(i)),
            *time,
        ) else {
            out.push(None);
            continue;
        };
        out.push(match unit(u)? {
            Unit::Fixed(us) => {
                if *ret == DataType::Date32 && us < 86_400_000_000 {
                    return Err(exec_err(format!("'{u}' is not a valid unit for a date")));
                }
                t.checked_add_signed(chrono::Duration::microseconds(n.saturating_mul(us)))
            }
            Unit::Months(m) => add_months(t, n.saturating_mul(m)),
        });
    }
    Ok(same_kind(ret, out))
}

fn date_diff(a: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let units = strings(&a[0])?;
    let from = moments(&a[1])?;
    let to = moments(&a[2])?;
    let mut out = Vec::with_capacity(from.len());
    for i in 0..from.len() {
        let (Some(u), Some(x), Some(y)) =
            (units.is_valid(i).then(|| units.value(i)), from[i], to[i])
        else {
            out.push(None);
            continue;
        };
        out.push(Some(match unit(u)? {
            Unit::Fixed(us) => {
                (y.and_utc().timestamp_micros() - x.and_utc().timestamp_micros()) / us
            }
            Unit::Months(m) => {
                // Whole months from x to y, truncated toward zero (Joda's monthsBetween).
                let raw =
                    (y.year() as i64 - x.year() as i64) * 12 + y.month() as i64 - x.month() as i64;
                let whole = if raw > 0 && add_months(x, raw).is_some_and(|t| t > y) {
                    raw - 1
                } else if raw < 0 && add_months(x, raw).is_some_and(|t| t < y) {
                    raw + 1
                } else {
                    raw
                };
                whole / m
            }
        }));
    }
    Ok(Arc::new(out.into_iter().collect::<Int64Array>()))
}

/// `year(x)`, `month(x)`, `day_of_week(x)`, …: one field of a date or timestamp.
fn extractors() -> Vec<TrinoFn> {
    FIELD_NAMES
        .iter()
        .zip(EXTRACT_RUNS)
        .map(|(name, run)| {
            TrinoFn::new(
                name,
                |a| {
                    arity(a, &[1])?;
                    Ok(vec![moment(&a[0], "the argument")?])
                },
                |_| Ok(DataType::Int64),
                *run,
            )
        })
        .collect()
}

/// The field functions: their names and what each computes.
macro_rules! extract_runs {
    ($($name:literal => $get:expr),* $(,)?) => {
        const FIELD_NAMES: &[&'static str] = &[$($name),*];
        const EXTRACT_RUNS: &[super::Run] = &[$(
            |a, _| {
                let get: fn(&NaiveDateTime) -> i64 = $get;
                Ok(Arc::new(
                    moments(&a[0])?
                        .iter()
                        .map(|t| t.as_ref().map(get))
                        .collect::<Int64Array>(),
                ) as ArrayRef)
            }
        ),*];
    };
}

extract_runs! {
    "year" => |t| t.year() as i64,
    "quarter" => |t| (t.month0() / 3 + 1) as i64,
    "month" => |t| t.month() as i64,
    "week" => |t| t.iso_week().week() as i64,
    "week_of_year" => |t| t.iso_week().week() as i64,
    "year_of_week" => |t| t.iso_week().year() as i64,
    "yow" => |t| t.iso_week().year() as i64,
    "day" => |t| t.day() as i64,
    "day_of_month" => |t| t.day() as i64,
    "day_of_week" => |t| t.weekday().number_from_monday() as i64,
    "dow" => |t| t.weekday().number_from_monday() as i64,
    "day_of_year" => |t| t.ordinal() as i64,
    "doy" => |t| t.ordinal() as i64,
    "hour" => |t| t.hour() as i64,
    "minute" => |t| t.minute() as i64,
    "second" => |t| t.second() as i64,
    "millisecond" => |t| (t.nanosecond() / 1_000_000) as i64,
}

/// Every date and time function.
pub(super) fn functions() -> Vec<TrinoFn> {
    let mut out = vec![
        format_fn("date_format", false),
        format_fn("format_datetime", true),
        parse_fn("date_parse", false),
        parse_fn("parse_datetime", true),
        TrinoFn::new(
            "from_iso8601_timestamp",
            |a| {
                arity(a, &[1])?;
                Ok(vec![text(&a[0], "the text")?])
            },
            |_| Ok(TS),
            |a, _| {
                let mut out = Vec::new();
                for v in strings(&a[0])?.iter() {
                    out.push(match v {
                        None => None,
                        Some(s) => Some(iso8601(s).ok_or_else(|| {
                            exec_err(format!(
                                "Invalid format: \"{s}\" is not an ISO 8601 timestamp"
                            ))
                        })?),
                    });
                }
                Ok(to_timestamps(out))
            },
        ),
        TrinoFn::new(
            "from_iso8601_date",
            |a| {
                arity(a, &[1])?;
                Ok(vec![text(&a[0], "the text")?])
            },
            |_| Ok(DataType::Date32),
            |a, _| {
                let mut out = Vec::new();
                for v in strings(&a[0])?.iter() {
                    out.push(match v {
                        None => None,
                        Some(s) => Some(NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(
                            |_| {
                                exec_err(format!("Invalid format: \"{s}\" is not an ISO 8601 date"))
                            },
                        )?),
                    });
                }
                Ok(to_dates(out))
            },
        ),
        TrinoFn::new(
            "from_unixtime",
            |a| {
                arity(a, &[1])?;
                if a[0].is_numeric() || a[0] == DataType::Null {
                    Ok(vec![DataType::Float64])
                } else {
                    Err(plan_err("the argument must be a number of seconds"))
                }
            },
            |_| Ok(TS),
            |a, _| {
                let secs = a[0]
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .ok_or_else(|| exec_err("expected a double"))?;
                Ok(to_timestamps(secs.iter().map(|s| {
                    s.and_then(|s| DateTime::from_timestamp_micros((s * 1e6).round() as i64))
                        .map(|d| d.naive_utc())
                })))
            },
        ),
        TrinoFn::new(
            "to_unixtime",
            |a| {
                arity(a, &[1])?;
                Ok(vec![timestamp(&a[0], "the argument")?])
            },
            |_| Ok(DataType::Float64),
            |a, _| {
                Ok(Arc::new(
                    moments(&a[0])?
                        .iter()
                        .map(|t| t.map(|t| t.and_utc().timestamp_micros() as f64 / 1e6))
                        .collect::<Float64Array>(),
                ))
            },
        ),
        TrinoFn::new(
            "to_iso8601",
            |a| {
                arity(a, &[1])?;
                Ok(vec![moment(&a[0], "the argument")?])
            },
            |_| Ok(DataType::Utf8),
            |a, _| {
                let date = *a[0].data_type() == DataType::Date32;
                Ok(Arc::new(
                    moments(&a[0])?
                        .iter()
                        .map(|t| {
                            t.map(|t| {
                                if date {
                                    t.format("%Y-%m-%d").to_string()
                                } else {
                                    t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
                                }
                            })
                        })
                        .collect::<StringArray>(),
                ))
            },
        ),
        TrinoFn::new(
            "date_add",
            |a| {
                arity(a, &[3])?;
                Ok(vec![
                    text(&a[0], "the unit")?,
                    int(&a[1], "the amount")?,
                    moment(&a[2], "the third argument")?,
                ])
            },
            |a| {
                Ok(if a[2] == DataType::Date32 {
                    DataType::Date32
                } else {
                    TS
                })
            },
            date_add,
        ),
        TrinoFn::new(
            "date_diff",
            |a| {
                arity(a, &[3])?;
                // Both as timestamps unless both are dates.
                let both_dates = moment(&a[1], "the second argument")? == DataType::Date32
                    && moment(&a[2], "the third argument")? == DataType::Date32;
                let t = if both_dates { DataType::Date32 } else { TS };
                Ok(vec![text(&a[0], "the unit")?, t.clone(), t])
            },
            |_| Ok(DataType::Int64),
            date_diff,
        ),
        TrinoFn::new(
            "date",
            |a| {
                arity(a, &[1])?;
                Ok(vec![moment(&a[0], "the argument")?])
            },
            |_| Ok(DataType::Date32),
            |a, _| {
                Ok(to_dates(
                    moments(&a[0])?.into_iter().map(|t| t.map(|t| t.date())),
                ))
            },
        ),
        TrinoFn::new(
            "last_day_of_month",
            |a| {
                arity(a, &[1])?;
                Ok(vec![moment(&a[0], "the argument")?])
            },
            |_| Ok(DataType::Date32),
            |a, _| {
                Ok(to_dates(moments(&a[0])?.into_iter().map(|t| {
                    let t = t?;
                    let first = NaiveDate::from_ymd_opt(t.year(), t.month(), 1)?;
                    first.checked_add_months(Months::new(1))?.pred_opt()
                })))
            },
        ),
    ];
    out.extend(extractors());
    out
}

/// ISO 8601 text: a date, a date and time, with `Z` or an offset (converted to UTC).
fn iso8601(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.naive_utc());
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.naive_utc());
        }
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}
