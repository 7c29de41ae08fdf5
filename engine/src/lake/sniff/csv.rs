//! CSV sniffing: the delimiter (by consistent field counts), the header row (text where
//! the rest of its column is typed), and column types from the sampled rows.

use std::collections::BTreeMap;

use super::types::{ColumnGuess, InferredType, infer_csv_text};
use super::{
    Classified, Compression, CsvDialect, FileFormat, InferredColumn, SniffOptions, Unclassifiable,
};

pub(super) fn classify_csv(
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
    let (delimiter, width) = sniff_delimiter(key, body)?;
    let (rows, warnings) = read_rows(body, delimiter, width, options.sample_rows)?;
    let (has_header, guesses, data_rows) = detect_header(&rows, width, delimiter, options);
    let first = &rows[0];
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

/// The delimiter whose field counts are the most consistent over the first lines (more
/// fields on a tie), and the usual field count.
fn sniff_delimiter(key: &str, body: &str) -> Result<(u8, usize), Unclassifiable> {
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
    match best {
        Some((d, f, c)) if c >= 0.5 => Ok((d, f)),
        _ => {
            // One column of text: only accept it for files that say they are CSV.
            if lower.contains(".csv") || lower.contains(".tsv") || lower.contains(".txt") {
                Ok((b',', 1))
            } else {
                Err(Unclassifiable(
                    "not CSV (no consistent delimiter), JSON or Parquet".to_owned(),
                ))
            }
        }
    }
}

/// Up to `sample_rows` + 1 records, with a warning (at most five) for each record whose
/// field count is not `width`.
fn read_rows(
    body: &str,
    delimiter: u8,
    width: usize,
    sample_rows: usize,
) -> Result<(Vec<csv::StringRecord>, Vec<String>), Unclassifiable> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(body.as_bytes());
    let mut rows: Vec<csv::StringRecord> = Vec::new();
    let mut warnings = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        if rows.len() > sample_rows {
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
    Ok((rows, warnings))
}

/// Whether the first row is a header: text where the rest of its column is typed, or
/// (all text) distinct non-empty non-numeric names. Returns it with the column guesses
/// and the data rows sampled.
fn detect_header(
    rows: &[csv::StringRecord],
    width: usize,
    delimiter: u8,
    options: &SniffOptions,
) -> (bool, Vec<ColumnGuess>, usize) {
    let is_null = |v: &str| options.null_markers.iter().any(|m| m == v);

    // Infer types with and without the first row; a header row is text where the rest
    // of its column is not, or (all text) distinct non-empty non-numeric names.
    let infer = |rows: &[csv::StringRecord]| -> Vec<ColumnGuess> {
        let mut guesses = vec![ColumnGuess::default(); width];
        for r in rows {
            for (i, g) in guesses.iter_mut().enumerate() {
                match r.get(i) {
                    Some(v) if !is_null(v) => g.observe_types(infer_csv_text(v, delimiter)),
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
                .map(|v| !is_null(v) && infer_csv_text(v, delimiter).contains(&InferredType::Utf8))
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
        (infer(rows), rows.len())
    };
    (has_header, guesses, data_rows)
}
