//! An S3-like bucket over `object_store`.
//!
//! A bucket is a local folder or an S3-compatible bucket (`s3://bucket/prefix`, with an
//! endpoint, region and path-style option). Every read and write goes through
//! `object_store`. Keys are `/`-separated and relative to the bucket root. Keys that would
//! leave the bucket (`..`, absolute paths, symlinks pointing outside a local folder) are
//! refused. Credentials come from the environment (`AWS_ACCESS_KEY_ID`, …) or the AWS
//! profile files (`~/.aws/credentials`, profile `AWS_PROFILE` or `default`); a project
//! file never holds a secret.

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

/// Where a bucket's objects live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A local folder (canonical path).
    Local(PathBuf),
    /// An S3-compatible bucket, by name.
    S3 {
        /// The bucket name.
        bucket: String,
        /// How it was reached.
        options: S3Options,
    },
}

/// How to reach an S3-compatible bucket (no secrets: catalogs record these).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct S3Options {
    /// Endpoint URL, e.g. `http://127.0.0.1:9000`; empty for AWS.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub endpoint: String,
    /// Region; empty takes `AWS_REGION` or `us-east-1`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub region: String,
    /// Path-style requests (`endpoint/bucket/key`), as most S3-compatible servers want.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub path_style: bool,
    /// AWS profile for credentials when the environment has none; empty: `AWS_PROFILE`
    /// or `default`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub profile: String,
}

/// Credentials from an AWS credentials file (`~/.aws/credentials`), for `profile`.
fn profile_credentials(profile: &str) -> Option<SessionCredentials> {
    let path = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".aws/credentials")))?;
    let text = std::fs::read_to_string(path).ok()?;
    let mut in_profile = false;
    let (mut key, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') && line.ends_with(']') {
            in_profile = line[1..line.len() - 1].trim() == profile;
            continue;
        }
        if !in_profile {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().to_owned();
            match k.trim() {
                "aws_access_key_id" => key = Some(v),
                "aws_secret_access_key" => secret = Some(v),
                "aws_session_token" => token = Some(v),
                _ => {}
            }
        }
    }
    Some(SessionCredentials {
        access_key_id: key?,
        secret_access_key: secret?,
        session_token: token,
    })
}

/// The object path of a key as listings give them: taken as written (`x%20y.csv` is that
/// file's name), not percent-encoded a second time.
fn object_path(key: &str) -> ObjectPath {
    ObjectPath::parse(key).unwrap_or_else(|_| ObjectPath::from(key))
}

/// A bucket: a root location, an optional prefix and glob, and an object store.
#[derive(Clone, Debug)]
pub struct Bucket {
    location: Location,
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
        let store = LocalFileSystem::new_with_prefix(&root)
            .map_err(|e| Error::Bucket(format!("folder '{}': {e}", root.display())))?;
        Ok(Self {
            location: Location::Local(root),
            prefix,
            glob: compile_glob(glob)?,
            store: Arc::new(store),
        })
    }

    /// Opens `s3://bucket[/prefix]`; `prefix` narrows it further.
    pub fn open_s3(url: &str, options: &S3Options, prefix: &str, glob: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| Error::Bucket(format!("'{url}' is not an s3:// URL")))?;
        let (bucket, url_prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::Bucket(format!("'{url}' names no bucket")));
        }
        let prefix = join_key(&normalize_key(url_prefix)?, &normalize_key(prefix)?);
        let mut builder = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_virtual_hosted_style_request(!options.path_style);
        if !options.region.is_empty() {
            builder = builder.with_region(&options.region);
        } else if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            builder = builder.with_region("us-east-1");
        }
        if !options.endpoint.is_empty() {
            builder = builder
                .with_endpoint(&options.endpoint)
                .with_allow_http(options.endpoint.starts_with("http://"));
        }
        // Typed for this session, else the environment (read by `from_env`), else a
        // profile file.
        let session = SESSION_CREDENTIALS
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let credentials = session.or_else(|| {
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
                return None;
            }
            let profile = if options.profile.is_empty() {
                std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".to_owned())
            } else {
                options.profile.clone()
            };
            profile_credentials(&profile)
        });
        if let Some(c) = credentials {
            builder = builder
                .with_access_key_id(c.access_key_id)
                .with_secret_access_key(c.secret_access_key);
            if let Some(t) = c.session_token {
                builder = builder.with_token(t);
            }
        }
        let store: Arc<dyn ObjectStore> = Arc::new(
            builder
                .build()
                .map_err(|e| Error::Bucket(format!("bucket '{url}': {e}")))?,
        );
        if let Ok(u) = url::Url::parse(&format!("s3://{bucket}")) {
            remember_store(u, store.clone());
        }
        Ok(Self {
            location: Location::S3 {
                bucket: bucket.to_owned(),
                options: options.clone(),
            },
            prefix,
            glob: compile_glob(glob)?,
            store,
        })
    }

    /// For an S3 bucket: `s3://bucket` and how to reach it, for a catalog to record.
    pub fn s3_entry(&self) -> Option<(String, S3Options)> {
        match &self.location {
            Location::S3 { bucket, options } => Some((format!("s3://{bucket}"), options.clone())),
            Location::Local(_) => None,
        }
    }

    /// Where the bucket lives.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// A name for the bucket's root: the folder's name or the bucket's.
    pub fn root_name(&self) -> String {
        match &self.location {
            Location::Local(root) => root
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "root".to_owned()),
            Location::S3 { bucket, .. } => bucket.clone(),
        }
    }

    /// For an S3 bucket, the URL (`s3://bucket`) and store a DataFusion session must
    /// register to read and write it; `None` for a local folder.
    pub fn object_store_url(&self) -> Option<(url::Url, Arc<dyn ObjectStore>)> {
        match &self.location {
            Location::Local(_) => None,
            Location::S3 { bucket, .. } => url::Url::parse(&format!("s3://{bucket}"))
                .ok()
                .map(|u| (u, self.store.clone())),
        }
    }

    /// Writes `bytes` to `key` in one put: atomic on S3 and on a local folder (written
    /// to a temporary file, then renamed).
    pub async fn put(&self, key: &str, bytes: bytes::Bytes) -> Result<()> {
        let key = normalize_key(key)?;
        self.store
            .put(&object_path(key.as_str()), bytes.into())
            .await
            .map(|_| ())
            .map_err(|e| {
                Error::Bucket(format!(
                    "writing '{}': {e}",
                    self.location_of(key.as_str(), false)
                ))
            })
    }

    /// Every object under the full key `prefix` (not narrowed by the bucket's own prefix
    /// or glob), as (key, size), sorted by key.
    pub async fn list_raw(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        let prefix = normalize_key(prefix)?;
        let p = object_path(prefix.as_str());
        let metas: Vec<_> = self
            .store
            .list(Some(&p))
            .try_collect()
            .await
            .map_err(|e| Error::Bucket(format!("listing '{prefix}': {e}")))?;
        let mut out: Vec<(String, u64)> = metas
            .into_iter()
            .map(|m| (m.location.to_string(), m.size))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Copies object `from` to `to` (server-side on S3).
    pub async fn copy(&self, from: &str, to: &str) -> Result<()> {
        let (from, to) = (normalize_key(from)?, normalize_key(to)?);
        self.store
            .copy(&object_path(from.as_str()), &object_path(to.as_str()))
            .await
            .map_err(|e| Error::Bucket(format!("copying '{from}' to '{to}': {e}")))
    }

    /// Deletes object `key`.
    pub async fn delete(&self, key: &str) -> Result<()> {
        let key = normalize_key(key)?;
        self.store
            .delete(&object_path(key.as_str()))
            .await
            .map_err(|e| Error::Bucket(format!("deleting '{key}': {e}")))
    }

    /// Reads the whole object `key`.
    pub async fn get(&self, key: &str) -> Result<bytes::Bytes> {
        let key = normalize_key(key)?;
        let path = object_path(key.as_str());
        self.store
            .get(&path)
            .await
            .map_err(|e| Error::Bucket(format!("reading '{key}': {e}")))?
            .bytes()
            .await
            .map_err(|e| Error::Bucket(format!("reading '{key}': {e}")))
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
        let mut s = match &self.location {
            Location::Local(root) => {
                let mut path = root.clone();
                if !key.is_empty() {
                    path.push(key);
                }
                path.to_string_lossy().into_owned()
            }
            Location::S3 { bucket, .. } => format!("s3://{bucket}/{key}"),
        };
        if is_folder && !s.ends_with('/') {
            s.push('/');
        }
        s
    }

    /// The local path of `key`, after checking it stays inside the bucket.
    pub fn local_path(&self, key: &str) -> Result<PathBuf> {
        let key = normalize_key(key)?;
        let Location::Local(root) = &self.location else {
            return Err(Error::Bucket(format!(
                "'{key}' is in an S3 bucket; it has no local path"
            )));
        };
        Ok(if key.is_empty() {
            root.clone()
        } else {
            root.join(key)
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
            Some(object_path(full.as_str()))
        };
        if let Location::Local(root) = &self.location
            && !full.is_empty()
            && !root.join(&full).exists()
        {
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
            let Location::Local(root) = &self.location else {
                listing.objects.push(ObjectInfo {
                    key,
                    size_bytes: meta.size,
                    modified: meta.last_modified,
                });
                continue;
            };
            match root.join(&key).canonicalize() {
                Ok(real) if real.starts_with(root) => listing.objects.push(ObjectInfo {
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
        if let Location::Local(root) = &self.location {
            // object_store lists regular files only: name what it passes over in silence.
            let start = root.join(&full);
            let root = root.clone();
            let glob = self.glob.clone();
            let prefix = self.prefix.clone();
            let odd = tokio::task::spawn_blocking(move || unreadable_entries(&root, &start))
                .await
                .unwrap_or_default();
            for (key, reason) in odd {
                let rel = key
                    .strip_prefix(&prefix)
                    .map(|r| r.trim_start_matches('/'))
                    .unwrap_or(&key);
                if is_hidden_key(rel) || glob.as_ref().is_some_and(|g| !g.is_match(rel)) {
                    continue;
                }
                listing.refused.push(RefusedObject { key, reason });
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
        let path = object_path(key.as_str());
        self.store
            .get_range(&path, range)
            .await
            .map_err(|e| Error::Bucket(format!("reading '{key}': {e}")))
    }
}

/// S3 credentials typed into the app: kept in this process's memory for the session only,
/// never written to a project, catalog or log. They take precedence over the environment
/// and profile files.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionCredentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: String,
    /// `AWS_SESSION_TOKEN`, for temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for SessionCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

static SESSION_CREDENTIALS: std::sync::RwLock<Option<SessionCredentials>> =
    std::sync::RwLock::new(None);

/// Sets (or clears) the session's S3 credentials. Stores opened before are forgotten, so
/// the next run opens them with the new credentials.
pub fn set_session_credentials(credentials: Option<SessionCredentials>) {
    *SESSION_CREDENTIALS
        .write()
        .unwrap_or_else(|p| p.into_inner()) = credentials;
    STORES.lock().unwrap_or_else(|p| p.into_inner()).clear();
}

/// The session's S3 access key id, if credentials were set (the secret is never shown).
pub fn session_access_key() -> Option<String> {
    SESSION_CREDENTIALS
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .map(|c| c.access_key_id.clone())
}

/// S3 stores opened in this process, by `s3://bucket` URL, so SQL sessions can read and
/// write the tables that live in them.
static STORES: std::sync::Mutex<Vec<(url::Url, Arc<dyn ObjectStore>)>> =
    std::sync::Mutex::new(Vec::new());

/// Remembers an S3 bucket's store for SQL sessions (the newest wins).
fn remember_store(url: url::Url, store: Arc<dyn ObjectStore>) {
    let mut stores = STORES.lock().unwrap_or_else(|p| p.into_inner());
    stores.retain(|(u, _)| *u != url);
    stores.push((url, store));
}

/// The S3 stores opened so far.
pub fn known_stores() -> Vec<(url::Url, Arc<dyn ObjectStore>)> {
    STORES.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

fn compile_glob(glob: &str) -> Result<Option<GlobMatcher>> {
    if glob.trim().is_empty() {
        return Ok(None);
    }
    Glob::new(glob)
        .map(|g| Some(g.compile_matcher()))
        .map_err(|e| Error::Bucket(format!("invalid glob '{glob}': {e}")))
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

/// True for keys that are not data (relative to a table or crawl root): anything under a
/// `_`- or `.`-prefixed name (`_SUCCESS`, `.crc`, staging folders), and the `name#N`
/// staging files `object_store` writes before a rename, which a killed process leaves.
/// Entries below `start` (keys relative to `root`) that are neither folders nor files:
/// named pipes, sockets, devices and broken symlinks, with what each is.
fn unreadable_entries(root: &Path, start: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![start.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let ty = meta.file_type();
            let reason = if ty.is_dir() {
                stack.push(path.clone());
                None
            } else if ty.is_symlink() {
                match std::fs::metadata(&path) {
                    Err(_) => Some(format!(
                        "a broken symlink (its target '{}' does not exist)",
                        std::fs::read_link(&path)
                            .map(|t| t.display().to_string())
                            .unwrap_or_default()
                    )),
                    Ok(_) => None,
                }
            } else if ty.is_file() {
                None
            } else {
                use std::os::unix::fs::FileTypeExt as _;
                Some(
                    if ty.is_fifo() {
                        "a named pipe (FIFO), not a file"
                    } else if ty.is_socket() {
                        "a socket, not a file"
                    } else {
                        "a device, not a file"
                    }
                    .to_owned(),
                )
            };
            if let Some(reason) = reason
                && let Ok(rel) = path.strip_prefix(root)
            {
                out.push((rel.to_string_lossy().replace('\\', "/"), reason));
            }
        }
    }
    out
}

pub fn is_hidden_key(relative: &str) -> bool {
    let hidden_segment = relative
        .split('/')
        .any(|seg| seg.starts_with('_') || seg.starts_with('.'));
    let staging = relative
        .rsplit_once('#')
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    hidden_segment || staging
}
