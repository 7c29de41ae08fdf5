//! Format classification and type inference for the crawler.
//!
//! Works on a sample: the first bytes of a file (decompressed when the file is `.gz` or
//! `.zst`), or a Parquet footer. CSV gets its delimiter and header sniffed; JSON may be
//! JSON lines or one top-level array. Column types are inferred from the sampled values:
//! integers, floats, booleans, dates and timestamps in common written forms, and strings,
//! with the null markers real exports use. `csv.rs` and `json.rs` sniff their formats;
//! `types.rs` infers column types.

mod csv;
mod json;
mod types;

use std::io::Read as _;

use serde::{Deserialize, Serialize};

use crate::arrow::datatypes::{Field, Schema};
pub use types::{
    DATE_FORMATS, DECIMAL_COMMA, InferredType, TIMESTAMP_FORMATS, infer_partition_type, infer_text,
};

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
        /// Apache Avro object container files (read only).
        Avro = "avro",
        /// Apache ORC (read only).
        Orc = "orc",
    }
}

impl FileFormat {
    /// The formats ETL jobs, Firehoses and Athena statements write, in an editor's order.
    pub const WRITTEN: &'static [&'static str] = &["parquet", "csv", "json"];

    /// Whether Tributary writes this format (Avro and ORC are read only).
    pub fn is_written(self) -> bool {
        Self::WRITTEN.contains(&self.as_str())
    }

    /// Whether the files carry their own typed schema (no text inference, no null markers).
    pub fn is_self_describing(self) -> bool {
        matches!(self, Self::Parquet | Self::Avro | Self::Orc)
    }

    /// The error for a writer set to a read-only format, naming the setting.
    pub fn written_or_error(self, what: &str) -> Result<Self, String> {
        if self.is_written() {
            Ok(self)
        } else {
            Err(format!(
                "{what} '{self}' is read only here: Tributary reads {self} files (crawler, queries) but writes {}",
                Self::WRITTEN.join(", ")
            ))
        }
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
        match json::classify_json(trimmed, truncated, options) {
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
    let mut c = csv::classify_csv(key, text, truncated, options)?;
    c.compression = compression;
    Ok(c)
}

/// Turns a self-describing file's Arrow schema (Parquet, Avro, ORC) into inferred
/// columns; `rows` when the file records its row count.
pub fn classify_typed_schema(format: FileFormat, schema: &Schema, rows: Option<u64>) -> Classified {
    Classified {
        format,
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
        rows_exact: rows,
        warnings: Vec::new(),
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
    use super::types::ColumnGuess;
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
