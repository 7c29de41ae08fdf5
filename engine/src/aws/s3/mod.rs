//! The S3 API for the project's local bucket nodes, and S3 event notifications.
//!
//! `s3s` speaks the protocol (REST and XML, path-style addressing, SigV4 with aws-chunked
//! bodies when credentials are configured); [`S3Api`] answers the operations over each
//! bucket node's folder: ListBuckets, HeadBucket, GetBucketLocation, ListObjects(V2),
//! HeadObject, GetObject (ranges), PutObject (`Content-MD5` checked), CopyObject,
//! DeleteObject(s), and multipart uploads (create, upload part, complete, abort, list
//! parts). Writes go to a file under `.tributary/s3/` in the bucket's folder and are
//! renamed into place, so a reader never sees half an object and a failed upload leaves
//! nothing behind. ETags are the MD5 of the object (AWS's multipart form for multipart
//! uploads) for objects that came through the API; other files get one from their size
//! and modification time.
//!
//! Each object created or removed through the API is an [`ObjectEvent`] for the bucket's
//! listeners (a bucket node in a running run, which turns it into S3's event
//! notification). The event's fields are those of AWS's event message structure,
//! version 2.1
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html>).

mod files;
mod objects;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use bytes::Bytes;
use s3s::{S3Result, s3_error};

/// Where uploads are written before they are renamed into place, under a bucket's folder
/// (hidden from crawlers, listings and the S3 API).
const STAGING: &str = ".tributary/s3";
/// Multipart uploads take parts of at least 5 MiB except the last, as S3 does.
const MIN_PART: u64 = 5 << 20;

/// A bucket node served through the S3 API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedBucket {
    /// Its API name (`bucket_name`, by default the node id).
    pub name: String,
    /// The node.
    pub node: String,
    /// Its folder.
    pub root: PathBuf,
}

/// An object created or removed through the API, as S3 notifies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectEvent {
    /// `ObjectCreated:Put`, `ObjectCreated:Copy`, `ObjectCreated:CompleteMultipartUpload`
    /// or `ObjectRemoved:Delete` (S3's `eventName`, without the `s3:` of a configuration).
    pub event_name: &'static str,
    /// When S3 finished the request (ms since the epoch).
    pub time_ms: i64,
    /// The bucket's API name.
    pub bucket: String,
    /// The object's key (not encoded).
    pub key: String,
    /// Created objects: the size.
    pub size: Option<u64>,
    /// Created objects: the ETag, without quotes.
    pub etag: Option<String>,
    /// Orders the events of one key: a hexadecimal text, increasing.
    pub sequencer: String,
    /// The request's id (`x-amz-request-id`).
    pub request_id: String,
}

/// Event listeners of one bucket.
type Listeners = Vec<Listener>;

/// One listener: where its events go, and the metrics its node's requests count in.
struct Listener {
    id: u64,
    tx: tokio::sync::mpsc::Sender<ObjectEvent>,
    metrics: Option<Arc<crate::stream::metrics::NodeMetrics>>,
}

/// The buckets served and who listens to them.
#[derive(Default)]
pub(super) struct Buckets {
    served: RwLock<BTreeMap<String, Arc<ServedBucket>>>,
    listeners: Mutex<BTreeMap<String, Listeners>>,
    next_listener: AtomicU64,
    /// ETags of objects written through the API: path → (size, modified, ETag).
    etags: Mutex<HashMap<PathBuf, (u64, SystemTime, String)>>,
    sequencer: AtomicU64,
}

/// Object events of one bucket, for as long as this is held.
pub struct BucketListener {
    /// The events, in the order the API finished them.
    pub events: tokio::sync::mpsc::Receiver<ObjectEvent>,
    registry: Arc<super::Registry>,
    bucket: String,
    id: u64,
}

impl Drop for BucketListener {
    fn drop(&mut self) {
        if let Ok(mut l) = self.registry.buckets.listeners.lock()
            && let Some(list) = l.get_mut(&self.bucket)
        {
            list.retain(|l| l.id != self.id);
        }
    }
}

impl super::Registry {
    /// Serves exactly `buckets` (the local bucket nodes of the project loaded now).
    /// Uploads a killed process left half-written in a bucket's staging folder (a day
    /// old: no request takes that long) are removed.
    pub fn serve_buckets(&self, buckets: Vec<ServedBucket>) {
        for b in &buckets {
            files::sweep_staging(
                &b.root.join(STAGING),
                std::time::Duration::from_secs(86_400),
            );
        }
        let map = buckets
            .into_iter()
            .map(|b| (b.name.clone(), Arc::new(b)))
            .collect();
        match self.buckets.served.write() {
            Ok(mut s) => *s = map,
            Err(p) => *p.into_inner() = map,
        }
    }

    /// The names of the buckets served now.
    pub fn bucket_names(&self) -> Vec<String> {
        self.buckets
            .served
            .read()
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Object events of bucket `name` from now on, for as long as the listener is held.
    /// S3 requests to the bucket count in `metrics` (the node's, for the Metrics tab).
    pub fn listen(
        self: &Arc<Self>,
        name: &str,
        metrics: Option<Arc<crate::stream::metrics::NodeMetrics>>,
    ) -> BucketListener {
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let id = self.buckets.next_listener.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut l) = self.buckets.listeners.lock() {
            l.entry(name.to_owned())
                .or_default()
                .push(Listener { id, tx, metrics });
        }
        BucketListener {
            events: rx,
            registry: self.clone(),
            bucket: name.to_owned(),
            id,
        }
    }

    /// Tells the listeners of the served buckets over folder `root` that the graph wrote
    /// `key` there (a Firehose's delivery), as S3 notifies of every object created.
    pub async fn object_written(&self, root: &std::path::Path, key: &str, size: u64, etag: &str) {
        let same = |b: &ServedBucket| {
            std::fs::canonicalize(&b.root).is_ok_and(|r| r == root) || b.root == root
        };
        let names: Vec<String> = self
            .buckets
            .served
            .read()
            .map(|s| {
                s.values()
                    .filter(|b| same(b))
                    .map(|b| b.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        for bucket in names {
            self.announce("ObjectCreated:Put", &bucket, key, Some((size, etag)))
                .await;
        }
    }

    /// Notifies the listeners of `bucket` that `key` was created (its size and ETag) or
    /// removed: the event's time, sequencer and request id are made here.
    async fn announce(
        &self,
        event_name: &'static str,
        bucket: &str,
        key: &str,
        created: Option<(u64, &str)>,
    ) {
        let n = self.buckets.sequencer.fetch_add(1, Ordering::Relaxed);
        let time_ms = now_ms();
        self.notify(ObjectEvent {
            event_name,
            time_ms,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size: created.map(|(size, _)| size),
            etag: created.map(|(_, etag)| etag.to_owned()),
            // The time and a counter, as hexadecimal text that increases.
            sequencer: format!("{:016X}", ((time_ms as u64) << 16) | (n & 0xffff)),
            request_id: request_id(),
        })
        .await;
    }

    /// Counts an S3 request to `bucket` in the metrics of the nodes listening to it.
    fn count_s3(&self, bucket: &str, failed: bool) {
        if let Ok(l) = self.buckets.listeners.lock()
            && let Some(list) = l.get(bucket)
        {
            for m in list.iter().filter_map(|l| l.metrics.as_ref()) {
                m.api_requests.fetch_add(1, Ordering::Relaxed);
                if failed {
                    m.api_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Hands `event` to the bucket's listeners, waiting for room (nothing is dropped).
    async fn notify(&self, event: ObjectEvent) {
        let senders: Vec<_> = self
            .buckets
            .listeners
            .lock()
            .map(|l| {
                l.get(&event.bucket)
                    .map(|v| v.iter().map(|l| l.tx.clone()).collect())
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        for tx in senders {
            let _ = tx.send(event.clone()).await;
        }
    }
}

pub(super) use objects::S3Api;

/// Bucket names as the project gives them: S3's rules are checked by the project's
/// validation, so a node id used as a name (`raw_events`) still works locally.
pub(super) struct AnyName;

impl s3s::validation::NameValidation for AnyName {
    fn validate_bucket_name(&self, name: &str) -> bool {
        !name.is_empty() && name.len() <= 255 && !name.contains('/')
    }
}

/// Checks access keys when credentials are configured (s3s then verifies SigV4,
/// presigned URLs and aws-chunked bodies with the key's secret).
pub(super) struct Keys(pub(super) Vec<super::Credential>);

#[async_trait::async_trait]
impl s3s::auth::S3Auth for Keys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<s3s::auth::SecretKey> {
        self.0
            .iter()
            .find(|c| c.access_key_id == access_key)
            .map(|c| s3s::auth::SecretKey::from(c.secret_access_key.as_str()))
            .ok_or_else(|| {
                s3_error!(
                    InvalidAccessKeyId,
                    "The AWS Access Key Id you provided does not exist in our records."
                )
            })
    }
}

fn internal(e: impl std::fmt::Display) -> s3s::S3Error {
    s3_error!(InternalError, "{e}")
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_uppercase()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Largest streaming (aws-chunked) body decoded here when no credentials are configured.
const MAX_CHUNKED: usize = 1 << 30;

/// Answers an S3 request. With credentials configured, s3s verifies it (SigV4 headers,
/// presigned URLs, signed aws-chunked bodies). Without, the access key id must be `test`
/// (any secret, as LocalStack): its signature cannot be checked without the secret, so it
/// is taken off and an aws-chunked body decoded here before s3s answers.
pub(super) async fn serve(
    service: &s3s::service::S3Service,
    registry: &super::Registry,
    configured: bool,
    request: axum::extract::Request,
) -> axum::response::Response {
    let request = if configured {
        request.map(s3s::Body::http_body_unsync)
    } else {
        match accept_test_key(registry, request).await {
            Ok(r) => r,
            Err(refusal) => return refusal,
        }
    };
    // Path-style: the bucket is the path's first segment.
    let bucket = request
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .map(urlencoding_decode)
        .unwrap_or_default();
    let response = match service.call(request).await {
        Ok(response) => response.map(axum::body::Body::new),
        Err(e) => xml_error(500, "InternalError", &format!("{e:?}")),
    };
    registry.count_s3(&bucket, !response.status().is_success());
    response
}

/// A percent-encoded path segment, decoded.
fn urlencoding_decode(segment: &str) -> String {
    url::form_urlencoded::parse(format!("b={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// An S3 error document.
fn xml_error(status: u16, code: &str, message: &str) -> axum::response::Response {
    let escape = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message><RequestId>{}</RequestId></Error>",
        escape(message),
        request_id()
    );
    axum::response::Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .body(axum::body::Body::from(body))
        .unwrap_or_default()
}

/// Query parameters of a presigned URL (SigV4 and SigV2).
const PRESIGN: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "AWSAccessKeyId",
    "Signature",
    "Expires",
];

/// The access key id a request is signed with: the `Authorization` header (SigV4 or V2)
/// or a presigned URL's query.
fn access_key(request: &axum::extract::Request) -> Option<String> {
    if let Some(auth) = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        if let Some(a) = super::sigv4::parse(auth) {
            return Some(a.access_key_id);
        }
        return auth
            .strip_prefix("AWS ")
            .and_then(|r| r.split_once(':'))
            .map(|(k, _)| k.trim().to_owned());
    }
    let query = request.uri().query()?;
    url::form_urlencoded::parse(query.as_bytes()).find_map(|(k, v)| match k.as_ref() {
        "X-Amz-Credential" => v.split('/').next().map(str::to_owned),
        "AWSAccessKeyId" => Some(v.into_owned()),
        _ => None,
    })
}

/// Checks the key is `test`, takes the signature off and decodes an aws-chunked body.
async fn accept_test_key(
    registry: &super::Registry,
    request: axum::extract::Request,
) -> Result<s3s::HttpRequest, axum::response::Response> {
    match access_key(&request) {
        Some(k) if k == super::DEFAULT_ACCESS_KEY => {}
        Some(k) => {
            registry.warn(format!(
                "AWS endpoint: refused an S3 request signed with the unknown access key id '{k}' (InvalidAccessKeyId); use the access key id 'test', as with LocalStack"
            ));
            return Err(xml_error(
                403,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
            ));
        }
        None => {
            return Err(xml_error(
                403,
                "AccessDenied",
                "Anonymous requests are refused: sign requests with the access key id 'test' (any secret), as with LocalStack",
            ));
        }
    }
    let (mut parts, body) = request.into_parts();
    parts.headers.remove("authorization");
    if let Some(query) = parts.uri.query() {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| !PRESIGN.contains(&pair.split('=').next().unwrap_or_default()))
            .collect();
        let path_and_query = if kept.is_empty() {
            parts.uri.path().to_owned()
        } else {
            format!("{}?{}", parts.uri.path(), kept.join("&"))
        };
        let mut uri = parts.uri.clone().into_parts();
        uri.path_and_query = path_and_query.parse().ok();
        if let Ok(u) = axum::http::Uri::from_parts(uri) {
            parts.uri = u;
        }
    }
    let streaming = parts
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("STREAMING-"));
    if !streaming {
        return Ok(s3s::HttpRequest::from_parts(
            parts,
            s3s::Body::http_body_unsync(body),
        ));
    }
    let raw = axum::body::to_bytes(body, MAX_CHUNKED).await.map_err(|e| {
        xml_error(
            400,
            "IncompleteBody",
            &format!("the aws-chunked body is broken or larger than 1 GiB: {e}"),
        )
    })?;
    let data = decode_aws_chunked(&raw).ok_or_else(|| {
        xml_error(
            400,
            "IncompleteBody",
            "the aws-chunked body is not in AWS's chunked format",
        )
    })?;
    let h = &mut parts.headers;
    h.remove("x-amz-decoded-content-length");
    h.remove("x-amz-trailer");
    h.insert(
        "x-amz-content-sha256",
        axum::http::HeaderValue::from_static("UNSIGNED-PAYLOAD"),
    );
    h.insert(axum::http::header::CONTENT_LENGTH, data.len().into());
    let encodings: Vec<String> = h
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty() && *e != "aws-chunked")
        .map(str::to_owned)
        .collect();
    h.remove("content-encoding");
    if let Ok(v) = encodings.join(",").parse()
        && !encodings.is_empty()
    {
        h.insert("content-encoding", v);
    }
    Ok(s3s::HttpRequest::from_parts(
        parts,
        s3s::Body::from(Bytes::from(data)),
    ))
}

/// The data of an aws-chunked body (`size[;chunk-signature=…]\r\n data \r\n` … `0…\r\n`,
/// then trailers), or `None` when it is not one.
fn decode_aws_chunked(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut at = 0;
    loop {
        let line_end = at + raw.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&raw[at..line_end]).ok()?;
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(raw.get(at..at + size)?);
        at += size;
        if raw.get(at..at + 2)? != b"\r\n" {
            return None;
        }
        at += 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_chunked_bodies_decode_with_or_without_signatures_and_trailers() {
        let signed = b"5;chunk-signature=abc\r\nhello\r\n3;chunk-signature=def\r\n!!!\r\n0;chunk-signature=0\r\n\r\n";
        assert_eq!(decode_aws_chunked(signed).unwrap(), b"hello!!!");
        let trailer = b"4\r\nabcd\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n";
        assert_eq!(decode_aws_chunked(trailer).unwrap(), b"abcd");
        assert!(decode_aws_chunked(b"5\r\nhi").is_none());
    }
}
