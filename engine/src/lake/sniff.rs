//! Format classification and type inference for the crawler.
//!
//! Works on a sample: the first bytes of a file (decompressed when the file is `.gz` or
//! `.zst`), or a Parquet footer. CSV gets its delimiter and header sniffed; JSON may be
//! JSON lines or one top-level array. Column types are inferred from the sampled values:
//! integers, floats, booleans, dates and timestamps in common written forms, and strings,
//! with the null markers real exports use.

use std::collections::BTreeMap;
use std::io::Read as _;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;
use crate::arrow::datatypes::{DataType, Field, Schema, TimeUnit};

crate::choice_enum! {
    /// A data file format: what the crawler recognizes, and what ETL jobs and Firehoses
    /// write.
    pub enum FileFormat {
        /// Apache Parquet.
        Parquet = "parquet",
        /// Delimited text (written with a header row).
        Csv = "csv",
        /// JSON lines (read also as a top-level JSON array of objects).
        Json = "json",
    }
}

/// Whole-file compression of a text file.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Not compressed.
    #[default]
    None,
    /// gzip (`.gz`).
    Gzip,
    /// Zstandard (`.zst`).
    Zstd,
}

impl Compression {
    /// Guesses the compression from a key's extension.
    pub fn from_key(key: &str) -> Self {
        let lower = key.to_ascii_lowercase();
        if lower.ends_with(".gz") || lower.ends_with(".gzip") {
            Self::Gzip
        } else if lower.ends_with(".zst") || lower.ends_with(".zstd") {
            Self::Zstd
        } else {
            Self::None
        }
    }

    /// The extension DataFusion expects for this compression, e.g. `.gz`.
    pub fn extension(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Gzip => ".gz",
            Self::Zstd => ".zst",
        }
    }
}

/// How a JSON file lays out its records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JsonLayout {
    /// One object per line (or whitespace-separated objects).
    #[default]
    Lines,
    /// One top-level array of objects.
    Array,
}

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
            Self::Float64 => DataType::Float64,
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
struct ColumnGuess {
    /// Candidate types still consistent with every value seen; empty means text.
    candidates: Option<Vec<InferredType>>,
    nulls: usize,
    values: usize,
}

impl ColumnGuess {
    fn observe_null(&mut self) {
        self.nulls += 1;
    }

    fn observe_types(&mut self, types: Vec<InferredType>) {
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

    fn observe_text(&mut self, value: &str) {
        self.observe_types(infer_text(value));
    }

    fn result(&self) -> InferredType {
        match &self.candidates {
            None => InferredType::Null,
            Some(c) => c.first().cloned().unwrap_or(InferredType::Utf8),
        }
    }
}

/// Options for classification and inference.
#[derive(Clone, Debug)]
pub struct SniffOptions {
    /// How many records to sample per file.
    pub sample_rows: usize,
    /// Text values that mean null.
    pub null_markers: Vec<String>,
}

impl Default for SniffOptions {
    fn default() -> Self {
        Self {
            sample_rows: 1000,
            null_markers: default_null_markers(),
        }
    }
}

/// The null markers real exports use: empty, `NULL`, `null`, `NA`, `\N`.
pub fn default_null_markers() -> Vec<String> {
    ["", "NULL", "null", "NA", "\\N"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

/// One column as inferred.
#[derive(Clone, Debug, PartialEq)]
pub struct InferredColumn {
    /// Name as written in the file.
    pub source_name: String,
    /// Inferred type.
    pub ty: InferredType,
}

/// CSV dialect found by sniffing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvDialect {
    /// Field delimiter.
    pub delimiter: u8,
    /// Whether the first row names the columns.
    pub has_header: bool,
}

/// What one file turned out to be.
#[derive(Clone, Debug, PartialEq)]
pub struct Classified {
    /// File format.
    pub format: FileFormat,
    /// Whole-file compression.
    pub compression: Compression,
    /// CSV dialect, for CSV.
    pub csv: Option<CsvDialect>,
    /// JSON layout, for JSON.
    pub json_layout: Option<JsonLayout>,
    /// Columns in file order.
    pub columns: Vec<InferredColumn>,
    /// Records looked at.
    pub rows_sampled: usize,
    /// Exact row count when the format records it (Parquet).
    pub rows_exact: Option<u64>,
    /// Notes on the sample (e.g. a ragged row), kept for the report.
    pub warnings: Vec<String>,
}

/// Why a file could not be classified.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unclassifiable(pub String);

/// Decompresses as much of a (possibly truncated) compressed prefix as possible.
pub fn decompress_prefix(
    bytes: &[u8],
    compression: Compression,
    max_out: usize,
) -> Result<Vec<u8>, Unclassifiable> {
    let mut out = Vec::new();
    let result = match compression {
        Compression::None => return Ok(bytes[..bytes.len().min(max_out)].to_vec()),
        Compression::Gzip => flate2::read::MultiGzDecoder::new(bytes)
            .take(max_out as u64)
            .read_to_end(&mut out),
        Compression::Zstd => match zstd::stream::read::Decoder::new(bytes) {
            Ok(d) => d.take(max_out as u64).read_to_end(&mut out),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(_) => Ok(out),
        // A truncated prefix ends in an unexpected EOF; what came before is good.
        Err(_) if !out.is_empty() => Ok(out),
        Err(e) => Err(Unclassifiable(format!(
            "not valid {} data: {e}",
            match compression {
                Compression::Gzip => "gzip",
                Compression::Zstd => "zstd",
                Compression::None => "uncompressed",
            }
        ))),
    }
}

/// Classifies a text sample (already decompressed). `truncated` says the sample stops
/// before the end of the file, so a partial last record is ignored.
pub fn classify_text(
    key: &str,
    sample: &[u8],
    truncated: bool,
    compression: Compression,
    options: &SniffOptions,
) -> Result<Classified, Unclassifiable> {
    if sample.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Unclassifiable(if sample.is_empty() {
            "empty file (0 bytes of data)".to_owned()
        } else {
            "empty file (only whitespace)".to_owned()
        }));
    }
    let probe = &sample[..sample.len().min(8192)];
    if let Some(pos) = probe.iter().position(|&b| b == 0) {
        return Err(Unclassifiable(format!(
            "binary content (a NUL byte at offset {pos}), not CSV or JSON text"
        )));
    }
    let text = match std::str::from_utf8(sample) {
        Ok(t) => t,
        Err(e) if e.error_len().is_none() && truncated => {
            // The sample cut a multi-byte character in half.
            std::str::from_utf8(&sample[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(e) => {
            return Err(Unclassifiable(format!(
                "not UTF-8 text (invalid byte at offset {}); convert the file to UTF-8",
                e.valid_up_to()
            )));
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let trimmed = text.trim_start();
    let lower = key.to_ascii_lowercase();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        match classify_json(trimmed, truncated, options) {
            Ok(mut c) => {
                c.compression = compression;
                return Ok(c);
            }
            Err(e)
                if lower.contains(".json")
                    || lower.contains(".jsonl")
                    || lower.contains(".ndjson") =>
            {
                return Err(e);
            }
            Err(_) => {}
        }
    }
    let mut c = classify_csv(key, text, truncated, options)?;
    c.compression = compression;
    Ok(c)
}

fn classify_csv(
    key: &str,
    text: &str,
    truncated: bool,
    options: &SniffOptions,
) -> Result<Classified, Unclassifiable> {
    // Drop a partial last line when the sample was cut.
    let body = if truncated {
        match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => text,
        }
    } else {
        text
    };
    let lower = key.to_ascii_lowercase();
    let mut candidates: Vec<u8> = vec![b',', b'\t', b';', b'|'];
    if lower.contains(".tsv") || lower.contains(".tab") {
        candidates = vec![b'\t', b',', b';', b'|'];
    }
    // Score each delimiter by how consistent the field counts are over the first lines.
    let mut best: Option<(u8, usize, f64)> = None;
    for &d in &candidates {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(d)
            .has_headers(false)
            .flexible(true)
            .from_reader(body.as_bytes());
        let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
        let mut total = 0usize;
        for rec in reader.records().take(100) {
            let Ok(rec) = rec else { break };
            *counts.entry(rec.len()).or_default() += 1;
            total += 1;
        }
        let Some((&fields, &n)) = counts.iter().max_by_key(|(f, n)| (**n, **f)) else {
            continue;
        };
        if fields < 2 {
            continue;
        }
        let consistency = n as f64 / total.max(1) as f64;
        let better = match best {
            None => true,
            Some((_, bf, bc)) => {
                consistency > bc + 1e-9 || (consistency >= bc - 1e-9 && fields > bf)
            }
        };
        if better {
            best = Some((d, fields, consistency));
        }
    }
    let (delimiter, width) = match best {
        Some((d, f, c)) if c >= 0.5 => (d, f),
        _ => {
            // One column of text: only accept it for files that say they are CSV.
            if lower.contains(".csv") || lower.contains(".tsv") || lower.contains(".txt") {
                (b',', 1)
            } else {
                return Err(Unclassifiable(
                    "not CSV (no consistent delimiter), JSON or Parquet".to_owned(),
                ));
            }
        }
    };

    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(body.as_bytes());
    let mut rows: Vec<csv::StringRecord> = Vec::new();
    let mut warnings = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        if rows.len() > options.sample_rows {
            break;
        }
        match rec {
            Ok(r) => {
                if r.len() != width && warnings.len() < 5 {
                    warnings.push(format!(
                        "line {}: {} fields, expected {width}",
                        r.position().map(|p| p.line()).unwrap_or(i as u64 + 1),
                        r.len()
                    ));
                }
                rows.push(r);
            }
            Err(e) => {
                return Err(Unclassifiable(format!("not readable as CSV: {e}")));
            }
        }
    }
    if rows.is_empty() {
        return Err(Unclassifiable("empty file (no rows)".to_owned()));
    }
    let is_null = |v: &str| options.null_markers.iter().any(|m| m == v);

    // Infer types with and without the first row; a header row is text where the rest
    // of its column is not, or (all text) distinct non-empty non-numeric names.
    let infer = |rows: &[csv::StringRecord]| -> Vec<ColumnGuess> {
        let mut guesses = vec![ColumnGuess::default(); width];
        for r in rows {
            for (i, g) in guesses.iter_mut().enumerate() {
                match r.get(i) {
                    Some(v) if !is_null(v) => g.observe_text(v),
                    _ => g.observe_null(),
                }
            }
        }
        guesses
    };
    let rest = infer(&rows[1..]);
    let first = &rows[0];
    let first_is_text: Vec<bool> = (0..width)
        .map(|i| {
            first
                .get(i)
                .map(|v| !is_null(v) && infer_text(v).contains(&InferredType::Utf8))
                .unwrap_or(false)
        })
        .collect();
    let typed_rest = rest.iter().enumerate().any(|(i, g)| {
        first_is_text[i] && !matches!(g.result(), InferredType::Utf8 | InferredType::Null)
    });
    let names_distinct = {
        let mut seen = std::collections::BTreeSet::new();
        first
            .iter()
            .all(|v| !v.trim().is_empty() && seen.insert(v.trim()))
    };
    let all_text_names = first_is_text.iter().all(|t| *t);
    let has_header = rows.len() > 1
        && names_distinct
        && all_text_names
        && (typed_rest
            || rest
                .iter()
                .all(|g| matches!(g.result(), InferredType::Utf8 | InferredType::Null)));
    let has_header = has_header || (rows.len() == 1 && names_distinct && all_text_names);

    let (guesses, data_rows) = if has_header {
        (rest, rows.len() - 1)
    } else {
        (infer(&rows), rows.len())
    };
    let columns = guesses
        .iter()
        .enumerate()
        .map(|(i, g)| InferredColumn {
            source_name: if has_header {
                first.get(i).unwrap_or_default().trim().to_owned()
            } else {
                format!("col{i}")
            },
            ty: g.result(),
        })
        .collect();
    Ok(Classified {
        format: FileFormat::Csv,
        compression: Compression::None,
        csv: Some(CsvDialect {
            delimiter,
            has_header,
        }),
        json_layout: None,
        columns,
        rows_sampled: data_rows,
        rows_exact: None,
        warnings,
    })
}

fn classify_json(
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

/// Turns a Parquet file's Arrow schema into inferred columns.
pub fn classify_parquet_schema(schema: &Schema, rows: u64) -> Classified {
    Classified {
        format: FileFormat::Parquet,
        compression: Compression::None,
        csv: None,
        json_layout: None,
        columns: schema
            .fields()
            .iter()
            .map(|f: &std::sync::Arc<Field>| InferredColumn {
                source_name: f.name().clone(),
                ty: InferredType::Arrow(f.data_type().clone()),
            })
            .collect(),
        rows_sampled: 0,
        rows_exact: Some(rows),
        warnings: Vec::new(),
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

/// Normalizes a column or table name the way the catalog stores it: lowercase, with
/// characters other than letters, digits and `_` turned into `_`.
pub fn normalize_name(name: &str) -> String {
    let mut out: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        out.push('_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_common_forms() {
        assert_eq!(infer_text("12"), vec![InferredType::Int64]);
        assert_eq!(infer_text("007"), vec![InferredType::Utf8]);
        assert_eq!(infer_text("-1.5e3"), vec![InferredType::Float64]);
        assert_eq!(infer_text("TRUE"), vec![InferredType::Boolean]);
        assert_eq!(
            infer_text("2012/01/01"),
            vec![InferredType::Date("%Y/%m/%d")]
        );
        assert_eq!(infer_text("Jan 1 2000")[0], InferredType::Date("%b %d %Y"));
        assert_eq!(
            infer_text("2024-03-01T10:00:00Z"),
            vec![InferredType::Timestamp(None)]
        );
        assert_eq!(infer_text("hello"), vec![InferredType::Utf8]);
    }

    #[test]
    fn ambiguous_day_month_resolved_by_sample() {
        let mut g = ColumnGuess::default();
        g.observe_text("01/02/2020");
        g.observe_text("25/02/2020");
        assert_eq!(g.result(), InferredType::Date("%d/%m/%Y"));
    }

    #[test]
    fn names_are_normalized() {
        assert_eq!(normalize_name("Miles_per_Gallon"), "miles_per_gallon");
        assert_eq!(
            normalize_name("net generation (MWh)"),
            "net_generation__mwh_"
        );
        assert_eq!(normalize_name("2020-Data"), "2020_data");
    }
}
