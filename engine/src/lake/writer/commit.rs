//! Committing an ETL job's staged files: renames within a local folder (the old output
//! kept aside until the new one is in place), server-side copies on S3.

use std::path::{Path, PathBuf};

use super::WriteMode;
use crate::error::{Error, Result};
use crate::lake::bucket::Bucket;

/// Moves staged files into the output folder (renames within one file system); the old
/// output is kept aside until the new one is in place.
pub(super) fn commit_local(
    bucket: &Bucket,
    staging_dir: &Path,
    output_key: &str,
    mode: WriteMode,
    run_id: &str,
    staged: &[(String, u64)],
) -> Result<()> {
    let target_dir = bucket.local_path(output_key)?;
    match mode {
        WriteMode::Overwrite => {
            if target_dir.exists() {
                let trash = bucket.local_path(&format!(".tributary/trash/{run_id}"))?;
                if let Some(parent) = trash.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                }
                std::fs::rename(&target_dir, &trash).map_err(|e| Error::io(&target_dir, e))?;
                if let Err(e) = std::fs::rename(staging_dir, &target_dir) {
                    // Put the old data back so nothing is lost.
                    let _ = std::fs::rename(&trash, &target_dir);
                    return Err(Error::io(&target_dir, e));
                }
                let _ = std::fs::remove_dir_all(&trash);
            } else {
                if let Some(parent) = target_dir.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                }
                std::fs::rename(staging_dir, &target_dir).map_err(|e| Error::io(&target_dir, e))?;
            }
        }
        WriteMode::Append => {
            for (rel, _) in staged {
                let from = staging_dir.join(rel);
                let mut to = target_dir.join(rel);
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                }
                let mut n = 1;
                while to.exists() {
                    to = unique_name(&target_dir.join(rel), n);
                    n += 1;
                }
                std::fs::rename(&from, &to).map_err(|e| Error::io(&to, e))?;
            }
        }
    }
    Ok(())
}

/// Copies staged objects into the output prefix (S3 has no rename); overwrite deletes the
/// old objects first. Returns the staged files and the output's files, relative to their
/// prefixes. Not atomic as a whole: a reader may see the output half replaced.
pub(super) async fn commit_s3(
    bucket: &Bucket,
    staging_key: &str,
    output_key: &str,
    mode: WriteMode,
) -> Result<(Vec<(String, u64)>, Vec<(String, u64)>)> {
    let rel = |prefix: &str, items: Vec<(String, u64)>| -> Vec<(String, u64)> {
        items
            .into_iter()
            .filter_map(|(k, n)| {
                k.strip_prefix(prefix)
                    .map(|r| (r.trim_start_matches('/').to_owned(), n))
            })
            .collect()
    };
    let staged = rel(staging_key, bucket.list_raw(staging_key).await?);
    let existing = rel(output_key, bucket.list_raw(output_key).await?);
    if mode == WriteMode::Overwrite {
        for (r, _) in &existing {
            bucket.delete(&format!("{output_key}/{r}")).await?;
        }
    }
    let taken: std::collections::HashSet<&str> = match mode {
        WriteMode::Append => existing.iter().map(|(e, _)| e.as_str()).collect(),
        WriteMode::Overwrite => Default::default(),
    };
    for (r, _) in &staged {
        let mut name = r.clone();
        let mut n = 1;
        while taken.contains(name.as_str()) {
            name = unique_key(r, n);
            n += 1;
        }
        let to = format!("{output_key}/{name}");
        bucket.copy(&format!("{staging_key}/{r}"), &to).await?;
        bucket.delete(&format!("{staging_key}/{r}")).await?;
    }
    let now = rel(output_key, bucket.list_raw(output_key).await?);
    Ok((staged, now))
}

/// `name.ext` → `name-1.ext` for the n-th clash.
fn unique_key(rel: &str, n: usize) -> String {
    match rel.rsplit_once('.') {
        Some((stem, ext)) if !ext.contains('/') => {
            format!("{stem}-{n}.{ext}")
        }
        _ => format!("{rel}-{n}"),
    }
}

/// Every file under `dir`, as (`/`-separated relative path, size), sorted.
pub(super) fn list_files(dir: &Path) -> Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))? {
            let entry = entry.map_err(|e| Error::io(&d, e))?;
            let path = entry.path();
            let ft = entry.file_type().map_err(|e| Error::io(&path, e))?;
            if ft.is_dir() {
                stack.push(path);
            } else {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                let rel = path
                    .strip_prefix(dir)
                    .map(|r| r.to_string_lossy().replace('\\', "/"))
                    .unwrap_or_default();
                out.push((rel, size));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn unique_name(path: &Path, n: usize) -> PathBuf {
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (stem, ext) = match name.find('.') {
        Some(i) => (&name[..i], &name[i..]),
        None => (name.as_str(), ""),
    };
    path.with_file_name(format!("{stem}-{n}{ext}"))
}
