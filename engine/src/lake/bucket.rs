//! An S3-like bucket over `object_store`.
//!
//! A bucket is a local folder today; every read goes through `object_store`, so an
//! `s3://` bucket can be added behind the same type. Keys are `/`-separated and relative
//! to the bucket root. Keys that would leave the bucket (`..`, absolute paths, symlinks
//! pointing outside) are refused.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use globset::{Glob, GlobMatcher};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _};
use serde::Serialize;

use crate::error::{Error, Result};

/// One object in a bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObjectInfo {
    /// Key relative to the bucket root, `/`-separated.
    pub key: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Last modification time.
    pub modified: DateTime<Utc>,
}

/// An object that was listed but refused, with why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RefusedObject {
    /// The key as listed.
    pub key: String,
    /// Why it was refused.
    pub reason: String,
}

/// The result of listing a bucket.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Listing {
    /// Objects that may be read, sorted by key.
    pub objects: Vec<ObjectInfo>,
    /// Objects that were refused (e.g. symlinks out of the bucket), sorted by key.
    pub refused: Vec<RefusedObject>,
}

/// A bucket: a root location, an optional prefix and glob, and an object store.
#[derive(Debug)]
pub struct Bucket {
    root: PathBuf,
    prefix: String,
    glob: Option<GlobMatcher>,
    store: Arc<dyn ObjectStore>,
}

impl Bucket {
    /// Opens a local folder as a bucket. `prefix` and `glob` narrow what [`Bucket::list`]
    /// returns; an empty glob matches everything.
    pub fn open_local(folder: &Path, prefix: &str, glob: &str) -> Result<Self> {
        let root = folder.canonicalize().map_err(|e| {
            Error::Bucket(format!(
                "folder '{}' cannot be opened: {e}",
                folder.display()
            ))
        })?;
        if !root.is_dir() {
            return Err(Error::Bucket(format!(
                "'{}' is not a folder",
                folder.display()
            )));
        }
        let prefix = normalize_key(prefix)?;
        let glob = if glob.trim().is_empty() {
            None
        } else {
            Some(
                Glob::new(glob)
                    .map_err(|e| Error::Bucket(format!("invalid glob '{glob}': {e}")))?
                    .compile_matcher(),
            )
        };
        let store = LocalFileSystem::new_with_prefix(&root)
            .map_err(|e| Error::Bucket(format!("folder '{}': {e}", root.display())))?;
        Ok(Self {
            root,
            prefix,
            glob,
            store: Arc::new(store),
        })
    }

    /// The bucket's root folder (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The prefix this bucket node is narrowed to ("" for the whole bucket).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The object store keys are read through.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// A location string for `key` (a folder or a file) that DataFusion can read:
    /// an absolute local path, with a trailing `/` for folders.
    pub fn location_of(&self, key: &str, is_folder: bool) -> String {
        let mut path = self.root.clone();
        if !key.is_empty() {
            path.push(key);
        }
        let mut s = path.to_string_lossy().into_owned();
        if is_folder && !s.ends_with('/') {
            s.push('/');
        }
        s
    }

    /// The local path of `key`, after checking it stays inside the bucket.
    pub fn local_path(&self, key: &str) -> Result<PathBuf> {
        let key = normalize_key(key)?;
        Ok(if key.is_empty() {
            self.root.clone()
        } else {
            self.root.join(key)
        })
    }

    /// Joins the bucket prefix and `rel`, validating the result.
    pub fn key_under_prefix(&self, rel: &str) -> Result<String> {
        let rel = normalize_key(rel)?;
        Ok(join_key(&self.prefix, &rel))
    }

    /// Lists objects under `prefix` joined to the bucket's own prefix, filtered by the
    /// bucket's glob (matched against the key relative to the bucket prefix).
    /// Symlinks that lead outside the bucket are refused, not followed.
    pub async fn list(&self, prefix: &str) -> Result<Listing> {
        let full = self.key_under_prefix(prefix)?;
        let store_prefix = if full.is_empty() {
            None
        } else {
            Some(ObjectPath::from(full.as_str()))
        };
        if !full.is_empty() && !self.root.join(&full).exists() {
            // As in S3, a prefix with nothing under it lists nothing.
            return Ok(Listing::default());
        }
        let metas: Vec<_> = self
            .store
            .list(store_prefix.as_ref())
            .try_collect()
            .await
            .map_err(|e| Error::Bucket(format!("listing '{full}': {e}")))?;
        let mut listing = Listing::default();
        for meta in metas {
            let key = meta.location.to_string();
            let rel = key
                .strip_prefix(&self.prefix)
                .map(|r| r.trim_start_matches('/'))
                .unwrap_or(&key);
            if let Some(glob) = &self.glob
                && !glob.is_match(rel)
            {
                continue;
            }
            match self.root.join(&key).canonicalize() {
                Ok(real) if real.starts_with(&self.root) => listing.objects.push(ObjectInfo {
                    key,
                    size_bytes: meta.size,
                    modified: meta.last_modified,
                }),
                Ok(real) => listing.refused.push(RefusedObject {
                    key,
                    reason: format!("symlink leads outside the bucket (to '{}')", real.display()),
                }),
                Err(e) => listing.refused.push(RefusedObject {
                    key,
                    reason: format!("cannot be resolved: {e}"),
                }),
            }
        }
        listing.objects.sort_by(|a, b| a.key.cmp(&b.key));
        listing.refused.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(listing)
    }

    /// Reads up to `len` bytes from the start of `key`.
    pub async fn read_prefix(&self, key: &str, len: u64, size: u64) -> Result<bytes::Bytes> {
        self.read_range(key, 0..len.min(size)).await
    }

    /// Reads a byte range of `key`.
    pub async fn read_range(&self, key: &str, range: std::ops::Range<u64>) -> Result<bytes::Bytes> {
        let key = normalize_key(key)?;
        if range.is_empty() {
            return Ok(Default::default());
        }
        let path = ObjectPath::from(key.as_str());
        self.store
            .get_range(&path, range)
            .await
            .map_err(|e| Error::Bucket(format!("reading '{key}': {e}")))
    }
}

/// Validates and normalizes a key or prefix: `/`-separated, relative, no `..`.
/// Leading and trailing slashes are dropped.
pub fn normalize_key(key: &str) -> Result<String> {
    let trimmed = key.trim().trim_matches('/');
    if key.trim().starts_with('/') || Path::new(key.trim()).is_absolute() {
        return Err(Error::Bucket(format!(
            "key '{key}' is an absolute path; keys are relative to the bucket"
        )));
    }
    let mut parts = Vec::new();
    for comp in Path::new(trimmed).components() {
        match comp {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(Error::Bucket(format!(
                    "key '{key}' escapes the bucket ('..' is not allowed)"
                )));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(Error::Bucket(format!(
                    "key '{key}' is an absolute path; keys are relative to the bucket"
                )));
            }
        }
    }
    Ok(parts.join("/"))
}

/// Joins two normalized keys with `/`.
pub fn join_key(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}/{b}"),
    }
}
