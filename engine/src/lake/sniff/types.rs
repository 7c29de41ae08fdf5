//! Column types inferred from sampled text values.

use chrono::{NaiveDate, NaiveDateTime};

use crate::arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;
use crate::arrow::datatypes::{DataType, TimeUnit};

/// A column type as inferred from sampled values.
#[derive(Clone, Debug, PartialEq)]
pub enum InferredType {
    /// Only nulls seen so far.
    Null,
    /// `true` / `false`.
    Boolean,
    /// Whole numbers that fit in 64 bits.
    Int64,
    /// Decimal numbers.
    Float64,
    /// Decimal numbers written with a decimal comma (`3,49`, `1.234,5`), as European
    /// exports write them in files delimited by something other than a comma.
    DecimalComma,
    /// Dates in one written form (a chrono format).
    Date(&'static str),
    /// Timestamps: `None` for ISO-8601 / RFC 3339 text, or a chrono format.
    Timestamp(Option<&'static str>),
    /// Text.
    Utf8,
    /// A type taken as-is from the file (Parquet, nested JSON).
    Arrow(DataType),
}

impl InferredType {
    /// The Arrow type a query sees.
    pub fn data_type(&self) -> DataType {
        match self {
            Self::Null | Self::Utf8 => DataType::Utf8,
            Self::Boolean => DataType::Boolean,
            Self::Int64 => DataType::Int64,
            Self::Float64 | Self::DecimalComma => DataType::Float64,
            Self::Date(_) => DataType::Date32,
            Self::Timestamp(_) => DataType::Timestamp(TimeUnit::Microsecond, None),
            Self::Arrow(dt) => dt.clone(),
        }
    }

    /// The written form that text values of this type are parsed with, if any.
    pub fn text_format(&self) -> Option<String> {
        match self {
            Self::Date(f) => Some((*f).to_owned()),
            Self::Timestamp(Some(f)) => Some((*f).to_owned()),
            Self::Timestamp(None) => Some("iso8601".to_owned()),
            Self::DecimalComma => Some(DECIMAL_COMMA.to_owned()),
            _ => None,
        }
    }

    /// The widest type both `self` and `other` fit in.
    pub fn merge(&self, other: &Self) -> Self {
        use InferredType::*;
        match (self, other) {
            (a, b) if a == b => a.clone(),
            (Null, x) | (x, Null) => x.clone(),
            (Int64, Float64) | (Float64, Int64) => Float64,
            (Int64, DecimalComma) | (DecimalComma, Int64) => DecimalComma,
            (Date(_), Timestamp(t)) | (Timestamp(t), Date(_)) if t.is_none() => Timestamp(None),
            (Arrow(a), Arrow(b)) if a == b => Arrow(a.clone()),
            _ => Utf8,
        }
    }
}

/// Date forms recognized, tried in order. Ambiguous day/month forms are told apart by
/// the sample (a first field over 12 rules out month-first).
pub const DATE_FORMATS: &[&str] = &[
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%b %d %Y",
    "%d %b %Y",
    "%B %d %Y",
    "%d %B %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%d-%b-%Y",
];

/// Timestamp forms (beyond ISO 8601 / RFC 3339) recognized, tried in order.
pub const TIMESTAMP_FORMATS: &[&str] = &[
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%d/%b/%Y:%H:%M:%S %z",
];

/// The text form of numbers written with a decimal comma (and `.` between thousands).
pub const DECIMAL_COMMA: &str = "decimal_comma";

/// Infers the type of one CSV field: as [`infer_text`], and in files delimited by other
/// than a comma, `3,49` or `-1.234,5` is a number written with a decimal comma.
pub fn infer_csv_text(value: &str, delimiter: u8) -> Vec<InferredType> {
    let types = infer_text(value);
    if delimiter != b',' && types == [InferredType::Utf8] && looks_decimal_comma(value) {
        return vec![InferredType::DecimalComma];
    }
    types
}

/// `3,49`, `-0,5`, `1.234,56`: digits, optional `.` every three digits, a comma and
/// digits.
fn looks_decimal_comma(v: &str) -> bool {
    let body = v.strip_prefix('-').unwrap_or(v);
    let Some((whole, fraction)) = body.split_once(',') else {
        return false;
    };
    let groups: Vec<&str> = whole.split('.').collect();
    !fraction.is_empty()
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && groups
            .iter()
            .all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()))
        && groups[1..].iter().all(|g| g.len() == 3)
        && (groups.len() == 1 || groups[0].len() <= 3)
}

/// Infers the type of one text value (already known not to be a null marker).
pub fn infer_text(value: &str) -> Vec<InferredType> {
    let v = value;
    if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") {
        return vec![InferredType::Boolean];
    }
    if looks_integer(v) {
        if v.parse::<i64>().is_ok() {
            return vec![InferredType::Int64];
        }
        return vec![InferredType::Utf8];
    }
    if looks_float(v) && v.parse::<f64>().is_ok() {
        return vec![InferredType::Float64];
    }
    let first = v.as_bytes().first().copied().unwrap_or(b' ');
    if !(first.is_ascii_digit() || first.is_ascii_alphabetic()) || v.len() < 6 || v.len() > 40 {
        return vec![InferredType::Utf8];
    }
    let dates: Vec<InferredType> = DATE_FORMATS
        .iter()
        .filter(|f| NaiveDate::parse_from_str(v, f).is_ok())
        .map(|f| InferredType::Date(f))
        .collect();
    if !dates.is_empty() {
        return dates;
    }
    if v.len() >= 16 && v.as_bytes()[4] == b'-' && string_to_timestamp_nanos(v).is_ok() {
        return vec![InferredType::Timestamp(None)];
    }
    let stamps: Vec<InferredType> = TIMESTAMP_FORMATS
        .iter()
        .filter(|f| {
            if f.ends_with("%z") {
                chrono::DateTime::parse_from_str(v, f).is_ok()
            } else {
                NaiveDateTime::parse_from_str(v, f).is_ok()
            }
        })
        .map(|f| InferredType::Timestamp(Some(f)))
        .collect();
    if !stamps.is_empty() {
        return stamps;
    }
    vec![InferredType::Utf8]
}

fn looks_integer(v: &str) -> bool {
    let digits = v.strip_prefix('-').unwrap_or(v);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        // Leading zeros mean an identifier (zip code, account number), not a number.
        && !(digits.len() > 1 && digits.starts_with('0'))
}

fn looks_float(v: &str) -> bool {
    let body = v.strip_prefix('-').unwrap_or(v);
    let mut seen_digit = false;
    for b in body.bytes() {
        match b {
            b'0'..=b'9' => seen_digit = true,
            b'.' | b'e' | b'E' | b'+' | b'-' => {}
            _ => return false,
        }
    }
    seen_digit && !(body.len() > 1 && body.starts_with('0') && !body[1..].starts_with('.'))
}

/// Per-column candidate tracking over a sample.
#[derive(Clone, Debug, Default)]
pub(super) struct ColumnGuess {
    /// Candidate types still consistent with every value seen; empty means text.
    candidates: Option<Vec<InferredType>>,
    nulls: usize,
    values: usize,
}

impl ColumnGuess {
    pub(super) fn observe_null(&mut self) {
        self.nulls += 1;
    }

    pub(super) fn observe_types(&mut self, types: Vec<InferredType>) {
        self.values += 1;
        self.candidates = Some(match self.candidates.take() {
            None => types,
            Some(prev) => {
                // Keep candidates both sides agree on; otherwise widen pairwise.
                let common: Vec<InferredType> =
                    prev.iter().filter(|t| types.contains(t)).cloned().collect();
                if !common.is_empty() {
                    common
                } else {
                    vec![prev[0].merge(&types[0])]
                }
            }
        });
    }

    pub(super) fn observe_text(&mut self, value: &str) {
        self.observe_types(infer_text(value));
    }

    pub(super) fn result(&self) -> InferredType {
        match &self.candidates {
            None => InferredType::Null,
            Some(c) => c.first().cloned().unwrap_or(InferredType::Utf8),
        }
    }
}

/// Infers the type of a partition column from its values (`year=2024` → Int64).
pub fn infer_partition_type<'a>(values: impl Iterator<Item = &'a str>) -> InferredType {
    let mut g = ColumnGuess::default();
    for v in values {
        if v.is_empty() || v == "__HIVE_DEFAULT_PARTITION__" {
            g.observe_null();
        } else {
            g.observe_text(v);
        }
    }
    match g.result() {
        // Partition values are parsed by DataFusion itself: keep to types it parses.
        t @ (InferredType::Int64 | InferredType::Float64 | InferredType::Boolean) => t,
        InferredType::Date("%Y-%m-%d") => InferredType::Date("%Y-%m-%d"),
        _ => InferredType::Utf8,
    }
}
