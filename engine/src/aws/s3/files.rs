//! The served buckets' files: keys as paths, listings, and writes staged then renamed.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use futures::StreamExt as _;
use md5::Digest as _;
use s3s::dto::StreamingBlob;
use s3s::{S3Result, s3_error};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{STAGING, internal};

/// Percent-encodes a key for `encoding-type=url` answers (`/` kept, as S3 does).
pub(super) fn url_encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The file of `key` in `root`, or why a key cannot be one there.
pub(super) fn object_path(root: &Path, key: &str) -> S3Result<PathBuf> {
    if key.is_empty() || key.len() > 1024 {
        return Err(s3_error!(KeyTooLongError, "keys are 1 to 1,024 bytes"));
    }
    let trimmed = key.strip_suffix('/').unwrap_or(key);
    let segments: Vec<&str> = trimmed.split('/').collect();
    if segments
        .iter()
        .any(|s| s.is_empty() || *s == "." || *s == "..")
    {
        return Err(s3_error!(
            InvalidArgument,
            "the key '{key}' cannot be stored: a served bucket is a folder, and keys with empty, '.' or '..' segments (or a leading '/') have no file there"
        ));
    }
    if segments[0] == ".tributary" {
        return Err(s3_error!(
            AccessDenied,
            "keys under '.tributary/' are Tributary's own (staging and state)"
        ));
    }
    let mut path = root.to_path_buf();
    for s in segments {
        path.push(s);
    }
    if !path
        .components()
        .skip(root.components().count())
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(s3_error!(
            InvalidArgument,
            "the key '{key}' is not a file name"
        ));
    }
    Ok(path)
}

/// An object as listed.
pub(super) struct Entry {
    pub(super) key: String,
    pub(super) size: u64,
    pub(super) modified: SystemTime,
}

/// Every object under `root` whose key starts with `prefix`, sorted by key; the staging
/// folder is left out.
pub(super) async fn walk(root: &Path, prefix: &str) -> S3Result<Vec<Entry>> {
    let root = root.to_path_buf();
    let prefix = prefix.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let mut stack = vec![(root.clone(), String::new())];
        while let Some((dir, rel)) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                let key = format!("{rel}{name}");
                // Tributary's own folder, and the `name#N` files object_store writes
                // before a rename.
                let staging = name
                    .rsplit_once('#')
                    .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
                if key == ".tributary" || staging {
                    continue;
                }
                let Ok(meta) = entry.metadata() else {
                    continue;
                };
                if meta.is_dir() {
                    let folder = format!("{key}/");
                    // Only folders that can hold keys under the prefix.
                    if folder.starts_with(&prefix) || prefix.starts_with(&folder) {
                        let empty = std::fs::read_dir(entry.path())
                            .map(|mut d| d.next().is_none())
                            .unwrap_or(false);
                        if empty && folder.starts_with(&prefix) {
                            // An empty folder is the "folder object" a console creates.
                            out.push(Entry {
                                key: folder.clone(),
                                size: 0,
                                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                            });
                        }
                        stack.push((entry.path(), folder));
                    }
                } else if key.starts_with(&prefix) {
                    out.push(Entry {
                        key,
                        size: meta.len(),
                        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    });
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    })
    .await
    .map_err(internal)
}

/// One page of a listing: objects and common prefixes after `after`, at most `max`.
pub(super) struct Page {
    pub(super) objects: Vec<Entry>,
    pub(super) prefixes: Vec<String>,
    pub(super) truncated: bool,
    pub(super) last: Option<String>,
}

pub(super) fn page(
    entries: Vec<Entry>,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    max: usize,
) -> Page {
    // Objects and the common prefixes they roll up into, in key order.
    let mut items: Vec<(String, Option<Entry>)> = Vec::new();
    let mut seen = BTreeSet::new();
    for e in entries {
        let rolled = delimiter.filter(|d| !d.is_empty()).and_then(|d| {
            e.key[prefix.len()..]
                .find(d)
                .map(|i| e.key[..prefix.len() + i + d.len()].to_owned())
        });
        match rolled {
            Some(p) => {
                if seen.insert(p.clone()) {
                    items.push((p, None));
                }
            }
            None => items.push((e.key.clone(), Some(e))),
        }
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Page {
        objects: Vec::new(),
        prefixes: Vec::new(),
        truncated: false,
        last: None,
    };
    for (taken, (key, entry)) in items
        .into_iter()
        .filter(|(k, _)| after.is_none_or(|a| k.as_str() > a))
        .enumerate()
    {
        if taken == max {
            out.truncated = true;
            break;
        }
        out.last = Some(key.clone());
        match entry {
            Some(e) => out.objects.push(e),
            None => out.prefixes.push(key),
        }
    }
    out
}

/// A file being written: a staging file renamed into place by [`Staged::commit`], removed
/// when dropped uncommitted.
pub(super) struct Staged {
    pub(super) path: PathBuf,
    pub(super) file: Option<tokio::fs::File>,
    pub(super) committed: bool,
}

impl Staged {
    pub(super) async fn new(root: &Path) -> S3Result<Self> {
        let dir = root.join(STAGING);
        tokio::fs::create_dir_all(&dir).await.map_err(internal)?;
        let path = dir.join(format!("{}.part", uuid::Uuid::new_v4().simple()));
        let file = tokio::fs::File::create(&path).await.map_err(internal)?;
        Ok(Self {
            path,
            file: Some(file),
            committed: false,
        })
    }

    pub(super) async fn write(&mut self, bytes: &[u8]) -> S3Result<()> {
        match &mut self.file {
            Some(f) => f.write_all(bytes).await.map_err(internal),
            None => Err(internal("the staging file is closed")),
        }
    }

    /// Flushes to disk and renames onto `to` (folders made as needed).
    pub(super) async fn commit(mut self, to: &Path) -> S3Result<()> {
        if let Some(mut f) = self.file.take() {
            f.flush().await.map_err(internal)?;
            f.sync_all().await.map_err(internal)?;
        }
        if let Some(parent) = to.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(|e| {
                s3_error!(
                    InvalidArgument,
                    "cannot make the folder of '{}': {e} (is a part of the key an object already?)",
                    to.display()
                )
            })?;
        }
        if to.is_dir() {
            return Err(s3_error!(
                InvalidArgument,
                "'{}' is a folder of other keys in this bucket, so it cannot be an object too",
                to.display()
            ));
        }
        tokio::fs::rename(&self.path, to).await.map_err(internal)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Writes `body` to a staging file; returns it with the size and MD5.
pub(super) async fn stage(root: &Path, body: StreamingBlob) -> S3Result<(Staged, u64, [u8; 16])> {
    let mut staged = Staged::new(root).await?;
    let mut md5 = md5::Md5::new();
    let mut size = 0u64;
    let mut body = body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| s3_error!(IncompleteBody, "the body ended early: {e}"))?;
        md5.update(&chunk);
        size += chunk.len() as u64;
        staged.write(&chunk).await?;
    }
    Ok((staged, size, md5.finalize().into()))
}

/// Reads the file at `from` in chunks, appending it to `to` when given; its size and MD5.
pub(super) async fn copy_file(
    from: &Path,
    mut to: Option<&mut Staged>,
) -> S3Result<(u64, [u8; 16])> {
    let mut source = tokio::fs::File::open(from).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            s3_error!(NoSuchKey, "The specified key does not exist.")
        } else {
            internal(e)
        }
    })?;
    let mut md5 = md5::Md5::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = source.read(&mut buf).await.map_err(internal)?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        size += n as u64;
        if let Some(to) = to.as_deref_mut() {
            to.write(&buf[..n]).await?;
        }
    }
    Ok((size, md5.finalize().into()))
}

/// Removes the `.part` files in `staging` older than `age` (uploads whose process died).
pub(super) fn sweep_staging(staging: &Path, age: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(staging) else {
        return;
    };
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|d| d > age);
        if old && e.file_name().to_string_lossy().ends_with(".part") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// A stream of `len` bytes of `file` from where it stands.
pub(super) fn file_stream(file: tokio::fs::File, len: u64) -> StreamingBlob {
    let stream = futures::stream::unfold((file, len), |(mut file, left)| async move {
        if left == 0 {
            return None;
        }
        let mut buf = vec![0u8; left.min(64 << 10) as usize];
        match file.read(&mut buf).await {
            Ok(0) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the object got shorter while it was read",
                )),
                (file, 0),
            )),
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), (file, left - n as u64)))
            }
            Err(e) => Some((Err(e), (file, 0))),
        }
    });
    StreamingBlob::wrap(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str) -> Entry {
        Entry {
            key: key.to_owned(),
            size: 1,
            modified: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn keys_that_are_no_file_name_are_refused() {
        let root = Path::new("/b");
        assert_eq!(
            object_path(root, "a/b.csv").unwrap(),
            Path::new("/b/a/b.csv")
        );
        assert_eq!(object_path(root, "a/").unwrap(), Path::new("/b/a"));
        for bad in ["", "/a", "a//b", "a/../b", "./a", ".tributary/s3/x"] {
            assert!(object_path(root, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stale_staging_files_are_swept_and_fresh_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.part");
        let fresh = dir.path().join("fresh.part");
        std::fs::write(&old, b"x").unwrap();
        std::fs::write(&fresh, b"y").unwrap();
        let day_ago = SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(day_ago)
            .unwrap();
        sweep_staging(dir.path(), std::time::Duration::from_secs(86_400));
        assert!(!old.exists());
        assert!(fresh.exists());
    }

    #[test]
    fn listing_pages_roll_keys_up_to_common_prefixes() {
        let all = || {
            [
                "a.csv",
                "logs/1.json",
                "logs/2.json",
                "raw/x/1.csv",
                "z.csv",
            ]
            .map(entry)
            .into_iter()
            .collect::<Vec<_>>()
        };
        let p = page(all(), "", Some("/"), None, 1000);
        let keys: Vec<_> = p.objects.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["a.csv", "z.csv"]);
        assert_eq!(p.prefixes, ["logs/", "raw/"]);
        let first = page(all(), "", None, None, 2);
        assert!(first.truncated);
        assert_eq!(first.last.as_deref(), Some("logs/1.json"));
        let rest = page(all(), "", None, first.last.as_deref(), 10);
        let keys: Vec<_> = rest.objects.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["logs/2.json", "raw/x/1.csv", "z.csv"]);
        assert!(!rest.truncated);
        assert_eq!(url_encode("a b/ü+c"), "a%20b/%C3%BC%2Bc");
    }
}
