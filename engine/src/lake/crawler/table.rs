//! One crawled table from the files of its folder: the files that agree on format,
//! compression, extension and partition layout; merged columns; partition keys.

use std::collections::{BTreeMap, BTreeSet};

use super::{CrawledTable, FileEntry, SkippedFile};
use crate::lake::catalog::{Column, FormatOptions, Partition, TableStats};
use crate::lake::sniff::{
    self, Classified, Compression, FileFormat, InferredType, SniffOptions, normalize_name,
};

fn file_extension(key: &str, format: FileFormat, compression: Compression) -> String {
    let name = key.rsplit('/').next().unwrap_or(key);
    let lower = name.to_ascii_lowercase();
    let base = match compression {
        Compression::None => lower.as_str(),
        c => lower.strip_suffix(c.extension()).unwrap_or(&lower),
    };
    let ext = match base.rfind('.') {
        Some(i) if i > 0 => base[i..].to_owned(),
        _ => String::new(),
    };
    let _ = format;
    // Preserve the file's own case for the extension match.
    let len = ext.len() + compression.extension().len();
    if len == 0 || len > name.len() {
        String::new()
    } else {
        name[name.len() - len..].to_owned()
    }
}

fn majority<T: Ord + Clone>(items: impl Iterator<Item = T>) -> Option<T> {
    let mut counts: BTreeMap<T, usize> = BTreeMap::new();
    for i in items {
        *counts.entry(i).or_default() += 1;
    }
    counts.into_iter().max_by_key(|(_, n)| *n).map(|(t, _)| t)
}

pub(super) fn build_table(
    name: String,
    location: String,
    files: Vec<FileEntry>,
    sniff: &SniffOptions,
) -> (Option<CrawledTable>, Vec<SkippedFile>) {
    let Some(agreed) = agree(&name, files) else {
        return (None, Vec::new());
    };
    let Agreed {
        format,
        compression,
        extension,
        layout,
        kept,
        mut rejected,
    } = agreed;
    let mut warnings = Vec::new();
    let kept = same_csv_header(&name, format, kept, &mut rejected, &mut warnings);
    if kept.is_empty() {
        return (None, rejected);
    }
    for f in &kept {
        for w in &f.classified.warnings {
            warnings.push(format!("{}: {w}", f.object.key));
        }
    }
    let (columns, mut used_names) = merge_columns(&kept, format);
    let partition_keys = partition_keys(&layout, &kept, &mut used_names, &mut warnings);
    let (partitions, stats) = partitions_and_stats(&kept, &layout);
    let first = &kept[0].classified;
    let options = FormatOptions {
        compression,
        file_extension: extension,
        csv: first.csv,
        json_layout: first.json_layout,
        null_markers: if format.is_self_describing() {
            Vec::new()
        } else {
            sniff.null_markers.clone()
        },
        excluded_files: Vec::new(),
        serde_properties: Default::default(),
    };
    let table = CrawledTable {
        name,
        location,
        format,
        options,
        columns,
        partition_keys,
        partitions,
        stats,
        warnings,
    };
    (Some(table), rejected)
}

/// The files of a table that agree on format, compression, extension and partition
/// layout (the majority of each), and those rejected with why.
struct Agreed {
    format: FileFormat,
    compression: Compression,
    extension: String,
    layout: Vec<String>,
    kept: Vec<FileEntry>,
    rejected: Vec<SkippedFile>,
}

fn reject(f: &FileEntry, reason: String) -> SkippedFile {
    SkippedFile {
        key: f.object.key.clone(),
        reason,
    }
}

/// One format, compression, extension and partition layout per table: the majority
/// wins; files that differ are rejected.
fn agree(name: &str, files: Vec<FileEntry>) -> Option<Agreed> {
    let format = majority(files.iter().map(|f| f.classified.format))?;
    let compression = majority(
        files
            .iter()
            .filter(|f| f.classified.format == format)
            .map(|f| f.classified.compression),
    )
    .unwrap_or_default();
    let extension = majority(
        files
            .iter()
            .filter(|f| f.classified.format == format && f.classified.compression == compression)
            .map(|f| file_extension(&f.object.key, format, compression)),
    )
    .unwrap_or_default();
    let layout = majority(files.iter().map(|f| {
        f.partitions
            .iter()
            .map(|(k, _)| k.clone())
            .collect::<Vec<_>>()
    }))
    .unwrap_or_default();
    let mut kept: Vec<FileEntry> = Vec::new();
    let mut rejected = Vec::new();
    for f in files {
        let c = &f.classified;
        let ext = file_extension(&f.object.key, c.format, c.compression);
        let this_layout: Vec<String> = f.partitions.iter().map(|(k, _)| k.clone()).collect();
        if c.format != format {
            rejected.push(reject(
                &f,
                format!("format {} differs from table '{name}' ({format})", c.format),
            ));
        } else if c.compression != compression {
            rejected.push(reject(
                &f,
                format!(
                    "compression {:?} differs from table '{name}' ({compression:?})",
                    c.compression
                ),
            ));
        } else if ext != extension {
            rejected.push(reject(&f, format!(
                "extension '{ext}' differs from the other files of table '{name}' ('{extension}')"
            )));
        } else if this_layout != layout {
            rejected.push(reject(
                &f,
                format!("partition folders differ from the rest of table '{name}'"),
            ));
        } else {
            kept.push(f);
        }
    }
    Some(Agreed {
        format,
        compression,
        extension,
        layout,
        kept,
        rejected,
    })
}

/// CSV files are read by position, so their dialect must agree with the first file's and
/// their headers must be the table's header or a beginning of it: a partition written
/// before a column was added reads that column as null (as Glue merges such schemas).
/// The table's header is the one most files agree with; the others are rejected.
fn same_csv_header(
    name: &str,
    format: FileFormat,
    kept: Vec<FileEntry>,
    rejected: &mut Vec<SkippedFile>,
    warnings: &mut Vec<String>,
) -> Vec<FileEntry> {
    if format != FileFormat::Csv || kept.is_empty() {
        return kept;
    }
    let dialect = kept[0].classified.csv;
    let header = |c: &Classified| {
        c.columns
            .iter()
            .map(|c| c.source_name.clone())
            .collect::<Vec<_>>()
    };
    let (same_dialect, other_dialect): (Vec<_>, Vec<_>) =
        kept.into_iter().partition(|f| f.classified.csv == dialect);
    for f in &other_dialect {
        rejected.push(reject(
            f,
            format!(
                "CSV delimiter or header row differs from the first file of table '{name}' ({})",
                kept_key(&same_dialect)
            ),
        ));
    }
    let headers: Vec<Vec<String>> = same_dialect.iter().map(|f| header(&f.classified)).collect();
    // The header the most files fit (theirs is a beginning of it), the longest on a tie.
    let table_header = headers
        .iter()
        .max_by_key(|h| {
            let fits = headers.iter().filter(|o| h.starts_with(o)).count();
            (fits, h.len())
        })
        .cloned()
        .unwrap_or_default();
    let mut short = Vec::new();
    let mut ok = Vec::new();
    for (f, h) in same_dialect.into_iter().zip(headers) {
        if !table_header.starts_with(&h) {
            rejected.push(reject(
                &f,
                format!(
                    "CSV header ({}) does not fit table '{name}' ({}): CSV columns are read by position, so a file's columns must be the table's or its first ones",
                    h.join(", "),
                    table_header.join(", ")
                ),
            ));
        } else {
            if h.len() < table_header.len() {
                short.push(f.object.key.clone());
            }
            ok.push(f);
        }
    }
    if let Some(first) = short.first() {
        warnings.push(format!(
            "{} file(s) such as {first} have only the first columns of the table's {}; the columns they lack ({}) are null in their rows",
            short.len(),
            table_header.len(),
            table_header
                .iter()
                .skip(
                    ok.iter()
                        .find(|f| f.object.key == *first)
                        .map_or(0, |f| f.classified.columns.len())
                )
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    ok
}

/// The table's columns: merged by name, widening types, with unique normalized names.
/// Also returns the names used.
fn merge_columns(kept: &[FileEntry], format: FileFormat) -> (Vec<Column>, BTreeSet<String>) {
    let mut order: Vec<String> = Vec::new();
    let mut types: BTreeMap<String, InferredType> = BTreeMap::new();
    for f in kept {
        for c in &f.classified.columns {
            match types.get_mut(&c.source_name) {
                Some(t) => *t = t.merge(&c.ty),
                None => {
                    order.push(c.source_name.clone());
                    types.insert(c.source_name.clone(), c.ty.clone());
                }
            }
        }
    }
    let mut used_names: BTreeSet<String> = BTreeSet::new();
    let mut unique = |base: String| {
        let mut n = base.clone();
        let mut i = 2;
        while !used_names.insert(n.clone()) {
            n = format!("{base}_{i}");
            i += 1;
        }
        n
    };
    let columns: Vec<Column> = order
        .iter()
        .map(|source| {
            let ty = &types[source];
            let name = unique(normalize_name(source));
            Column {
                source_name: (name != *source).then(|| source.clone()),
                name,
                data_type: ty.data_type().to_string(),
                text_format: if format.is_self_describing() {
                    None
                } else {
                    ty.text_format()
                },
            }
        })
        .collect();
    (columns, used_names)
}

/// Partition keys, named after their `key=value` folders (renamed when a column has the
/// name), typed from their values.
fn partition_keys(
    layout: &[String],
    kept: &[FileEntry],
    used_names: &mut BTreeSet<String>,
    warnings: &mut Vec<String>,
) -> Vec<Column> {
    let mut keys = Vec::new();
    for (i, raw) in layout.iter().enumerate() {
        let raw = raw.clone();
        let mut pname = normalize_name(&raw);
        if used_names.contains(&pname) {
            warnings.push(format!(
                "partition key '{raw}' clashes with a column; it is named '{pname}_partition'"
            ));
            pname = format!("{pname}_partition");
        }
        used_names.insert(pname.clone());
        // Glue types `key=value` folders from their values and keeps the others
        // (`partition_0`: years, months, hours of Firehose folders) as strings.
        let ty = if is_unnamed_level(&raw, i) {
            InferredType::Utf8
        } else {
            sniff::infer_partition_type(kept.iter().map(|f| f.partitions[i].1.as_str()))
        };
        keys.push(Column {
            source_name: (pname != raw).then_some(raw),
            name: pname,
            data_type: ty.data_type().to_string(),
            text_format: None,
        });
    }
    keys
}

/// The table's partitions (one per `key=value` folder path) and totals; rows are known
/// only when every file's count is exact.
fn partitions_and_stats(kept: &[FileEntry], layout: &[String]) -> (Vec<Partition>, TableStats) {
    let mut partitions: BTreeMap<Vec<String>, Partition> = BTreeMap::new();
    let mut stats = TableStats::default();
    let mut rows: Option<u64> = Some(0);
    for f in kept {
        stats.files += 1;
        stats.size_bytes += f.object.size_bytes;
        rows = match (rows, f.classified.rows_exact) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        if !layout.is_empty() {
            let values: Vec<String> = f.partitions.iter().map(|(_, v)| v.clone()).collect();
            let p = partitions
                .entry(values.clone())
                .or_insert_with(|| Partition {
                    values,
                    // Relative to the table's folder, so a moved lake keeps its partitions.
                    location: format!("{}/", f.folders.join("/")),
                    files: 0,
                    size_bytes: 0,
                });
            p.files += 1;
            p.size_bytes += f.object.size_bytes;
        }
    }
    stats.rows = rows;
    (partitions.into_values().collect(), stats)
}

/// Whether a partition level's key is the name Glue gives a folder that is not
/// `key=value`.
fn is_unnamed_level(key: &str, level: usize) -> bool {
    key == format!("partition_{level}")
}

fn kept_key(files: &[FileEntry]) -> String {
    files
        .first()
        .map(|f| f.object.key.clone())
        .unwrap_or_default()
}
