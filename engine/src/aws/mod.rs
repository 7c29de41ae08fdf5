//! The AWS wire protocols on one loopback HTTP endpoint, so real producers and consumers
//! (boto3, the AWS CLI, the AWS SDKs) reach a running pipeline by pointing their endpoint
//! URL at it (`AWS_ENDPOINT_URL=http://127.0.0.1:4566`, LocalStack's port).
//!
//! - [`Endpoint`]: the server, started and stopped by the engine thread
//!   (`Command::Serve`); it lives across runs.
//! - [`Registry`]: what the running project serves. A stream node registers itself under
//!   its `stream_name` for the run ([`Registry::serve_stream`]), a Firehose under its
//!   `delivery_stream_name` ([`Registry::serve_firehose`]); between runs the
//!   endpoint answers with AWS's not-found errors.
//! - `kinesis.rs`: the Kinesis Data Streams API (JSON 1.1, `Kinesis_20131202.*`);
//! - `firehose.rs`: the Firehose API (JSON 1.1, `Firehose_20150804.*`);
//! - `s3/`: the S3 API (REST, through `s3s`) for the local bucket nodes of the project
//!   loaded now ([`Registry::serve_buckets`], whether a run goes on or not), and the object
//!   events a running bucket node turns into S3 event notifications
//!   ([`Registry::listen`]).
//!
//! A request naming an operation in `X-Amz-Target` is Kinesis or Firehose; any other is S3.
//!
//! Requests are authenticated as LocalStack does by default: the access key id `test`
//! (any secret) is accepted; configured credentials replace it, and then every request's
//! SigV4 signature is verified with the key's secret (`sigv4.rs`). Every error is in AWS's
//! form (`__type`, `message`, HTTP status), so SDKs raise their usual exceptions.

mod firehose;
mod kinesis;
pub mod kpl;
mod rows;
mod s3;
pub mod sigv4;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

pub use firehose::{Rejects, ServedFirehose};
pub use kinesis::{ServedStream, shard_id};
pub use rows::{StreamRows, failed_columns};
pub use s3::{BucketListener, ObjectEvent, ServedBucket};

use crate::api::{Event, EventTx, LogLevel};
use crate::error::{Error, Result};

/// The address `tributary run --serve` listens on unless told otherwise: LocalStack's.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:4566";
/// The account id in ARNs and messages (LocalStack's).
pub const ACCOUNT: &str = "000000000000";
/// The region of what is served.
pub const REGION: &str = crate::functions::events::REGION;
/// The access key id accepted when none is configured (LocalStack's convention).
pub const DEFAULT_ACCESS_KEY: &str = "test";
/// Largest request body taken (a PutRecords of 5 MiB, base64-encoded, with room).
const MAX_BODY: usize = 16 << 20;

/// A pair of credentials the endpoint accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    /// The access key id.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: String,
}

/// How to serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeOptions {
    /// Where to listen.
    pub address: SocketAddr,
    /// Accepted credentials; empty: the access key id `test`, any secret.
    pub credentials: Vec<Credential>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            address: DEFAULT_ADDRESS.parse().expect("a valid address"),
            credentials: Vec::new(),
        }
    }
}

impl ServeOptions {
    /// Options for `address` (`host:port`, or just a port on loopback), with credentials
    /// from `TRIBUTARY_ACCESS_KEY_ID` / `TRIBUTARY_SECRET_ACCESS_KEY` when both are set.
    pub fn from_address(address: Option<&str>) -> std::result::Result<Self, String> {
        let mut options = Self::default();
        if let Some(a) = address {
            options.address = if let Ok(port) = a.parse::<u16>() {
                SocketAddr::from(([127, 0, 0, 1], port))
            } else {
                a.parse().map_err(|_| {
                    format!("'{a}' is not an address to serve on (e.g. 127.0.0.1:4566)")
                })?
            };
        }
        if let (Ok(id), Ok(secret)) = (
            std::env::var("TRIBUTARY_ACCESS_KEY_ID"),
            std::env::var("TRIBUTARY_SECRET_ACCESS_KEY"),
        ) && !id.is_empty()
        {
            options.credentials.push(Credential {
                access_key_id: id,
                secret_access_key: secret,
            });
        }
        options.check()?;
        Ok(options)
    }

    /// Refuses to listen beyond loopback without configured credentials.
    pub fn check(&self) -> std::result::Result<(), String> {
        if !self.address.ip().is_loopback() && self.credentials.is_empty() {
            return Err(format!(
                "serving on {} reaches other machines: set TRIBUTARY_ACCESS_KEY_ID and TRIBUTARY_SECRET_ACCESS_KEY first (only loopback is served with the default 'test' key)",
                self.address
            ));
        }
        Ok(())
    }
}

/// An error as AWS sends it: HTTP status, `__type` and `message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsError {
    /// HTTP status.
    pub status: u16,
    /// The error code (`ResourceNotFoundException`).
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
}

impl AwsError {
    /// A 400 error.
    pub fn client(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: 400,
            code,
            message: message.into(),
        }
    }

    /// AWS's `ValidationException` wording for a member that breaks a constraint.
    pub fn validation(what: &str, constraint: &str) -> Self {
        Self::client(
            "ValidationException",
            format!(
                "1 validation error detected: Value at '{what}' failed to satisfy constraint: {constraint}"
            ),
        )
    }

    /// A 500 error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: 500,
            code: "InternalFailure",
            message: message.into(),
        }
    }

    fn json_response(&self) -> Response {
        let body = serde_json::json!({ "__type": self.code, "message": self.message });
        let mut r = (
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST),
            body.to_string(),
        )
            .into_response();
        finish_json(&mut r, self.code);
        r
    }
}

fn finish_json(r: &mut Response, error: &str) {
    let h = r.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        h.insert("x-amzn-requestid", id);
    }
    if !error.is_empty()
        && let Ok(v) = HeaderValue::from_str(error)
    {
        h.insert("x-amzn-errortype", v);
    }
}

/// Counts records refused for not fitting the columns, and says when to log them again:
/// the first time, then at most every 10 s, so a misconfigured producer does not flood
/// the log.
#[derive(Debug, Default)]
pub struct Misfits {
    total: AtomicU64,
    logged_ms: std::sync::atomic::AtomicI64,
}

impl Misfits {
    /// Counts `n` more; returns the total so far when it is time to log.
    pub fn add(&self, n: u64) -> Option<u64> {
        let total = self.total.fetch_add(n, Ordering::Relaxed) + n;
        let now = crate::stream::topic::now_ms();
        let last = self.logged_ms.load(Ordering::Relaxed);
        let due = last == 0 || now - last >= 10_000;
        (due && self
            .logged_ms
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok())
        .then_some(total)
    }
}

/// What a served stream and a served Firehose share, for the registry's tables.
trait Served: Send + Sync {
    /// What AWS calls it in a not-found message (`Stream`, `Firehose`).
    const NOUN: &'static str;
    /// The operation that tells a client when it is `ACTIVE`.
    const DESCRIBE: &'static str;
    /// The setting its API name comes from.
    const SETTING: &'static str;
    /// The node it is.
    fn node(&self) -> &str;
    /// Whether it takes puts (`ACTIVE`) or the run is still starting (`CREATING`).
    fn active(&self) -> &AtomicBool;
    /// Logs that it is served.
    fn announce(&self);
}

impl Served for ServedStream {
    const NOUN: &'static str = "Stream";
    const DESCRIBE: &'static str = "DescribeStream";
    const SETTING: &'static str = "stream_name";
    fn node(&self) -> &str {
        &self.node
    }
    fn active(&self) -> &AtomicBool {
        &self.active
    }
    fn announce(&self) {
        self.events.info(&self.node, self.served_as.clone());
    }
}

impl Served for ServedFirehose {
    const NOUN: &'static str = "Firehose";
    const DESCRIBE: &'static str = "DescribeDeliveryStream";
    const SETTING: &'static str = "delivery_stream_name";
    fn node(&self) -> &str {
        &self.node
    }
    fn active(&self) -> &AtomicBool {
        &self.active
    }
    fn announce(&self) {
        self.events.info(&self.node, self.served_as.clone());
    }
}

/// Served nodes of one kind, by API name.
struct Table<T>(RwLock<BTreeMap<String, Arc<T>>>);

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self(RwLock::new(BTreeMap::new()))
    }
}

impl<T: Served> Table<T> {
    fn insert(&self, name: &str, item: T) -> Result<()> {
        let mut map = self
            .0
            .write()
            .map_err(|_| Error::Internal("the endpoint's registry is poisoned".to_owned()))?;
        if let Some(other) = map.get(name) {
            return Err(Error::Invalid(format!(
                "{} '{name}' is already served by node '{}'",
                T::SETTING,
                other.node()
            )));
        }
        map.insert(name.to_owned(), Arc::new(item));
        Ok(())
    }

    fn remove(&self, name: &str) {
        if let Ok(mut map) = self.0.write() {
            map.remove(name);
        }
    }

    fn names(&self) -> Vec<String> {
        self.0
            .read()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn all(&self) -> Vec<Arc<T>> {
        self.0
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The one named `name`, also while it is `CREATING` (for Describe and List).
    fn any(&self, name: &str) -> std::result::Result<Arc<T>, AwsError> {
        self.0
            .read()
            .ok()
            .and_then(|m| m.get(name).cloned())
            .ok_or_else(|| {
                AwsError::client(
                    "ResourceNotFoundException",
                    format!("{} {name} under account {ACCOUNT} not found.", T::NOUN),
                )
            })
    }

    /// The one named `name` if it takes puts and reads (`ACTIVE`).
    fn get(&self, name: &str) -> std::result::Result<Arc<T>, AwsError> {
        let item = self.any(name)?;
        if !item.active().load(Ordering::SeqCst) {
            return Err(AwsError::client(
                "ResourceNotFoundException",
                format!(
                    "{} {name} under account {ACCOUNT} is CREATING: the run is still starting (wait until {} says ACTIVE).",
                    T::NOUN,
                    T::DESCRIBE
                ),
            ));
        }
        Ok(item)
    }

    fn activate(&self) {
        for item in self.all() {
            if !item.active().swap(true, Ordering::SeqCst) {
                item.announce();
            }
        }
    }
}

/// What the running project serves, by API name.
#[derive(Default)]
pub struct Registry {
    streams: Table<ServedStream>,
    firehoses: Table<ServedFirehose>,
    buckets: s3::Buckets,
    /// Where the endpoint listens.
    address: std::sync::OnceLock<SocketAddr>,
    /// Where to log refusals that concern no node (bad credentials, CBOR).
    events: Option<EventTx>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("streams", &self.stream_names())
            .field("firehoses", &self.firehoses.names())
            .field("buckets", &self.bucket_names())
            .finish()
    }
}

/// A node served for as long as this is held; dropping it takes the node off the
/// endpoint (and closes its API producer, so its stream can end).
pub struct Registration {
    registry: Arc<Registry>,
    name: String,
    firehose: bool,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if self.firehose {
            self.registry.firehoses.remove(&self.name);
        } else {
            self.registry.streams.remove(&self.name);
        }
    }
}

impl Registry {
    /// Serves `stream` under its API name until the registration is dropped.
    pub fn serve_stream(self: &Arc<Self>, stream: ServedStream) -> Result<Registration> {
        let name = stream.name.clone();
        self.streams.insert(&name, stream)?;
        Ok(Registration {
            registry: self.clone(),
            name,
            firehose: false,
        })
    }

    /// Serves `firehose` under its API name until the registration is dropped.
    pub fn serve_firehose(self: &Arc<Self>, firehose: ServedFirehose) -> Result<Registration> {
        let name = firehose.name.clone();
        self.firehoses.insert(&name, firehose)?;
        Ok(Registration {
            registry: self.clone(),
            name,
            firehose: true,
        })
    }

    /// Where the endpoint listens (`AWS_ENDPOINT_URL` for functions run while serving).
    pub fn address(&self) -> Option<SocketAddr> {
        self.address.get().copied()
    }

    /// The names of the streams served now.
    pub fn stream_names(&self) -> Vec<String> {
        self.streams.names()
    }

    /// The run is streaming (every node wired, a Stop drains): what is registered
    /// becomes `ACTIVE` and takes puts, and each node logs that it is served.
    pub fn activate(&self) {
        self.streams.activate();
        self.firehoses.activate();
    }

    /// Logs a refusal that concerns no node; never waits for the receiver.
    fn warn(&self, message: String) {
        if let Some(events) = &self.events {
            events.try_send(Event::Log {
                run: None,
                node: None,
                level: LogLevel::Warning,
                message,
            });
        }
    }
}

/// The server state.
struct Server {
    registry: Arc<Registry>,
    credentials: Vec<Credential>,
    /// The S3 protocol over the served buckets.
    s3: s3s::service::S3Service,
}

/// A running endpoint. Dropping it stops the server.
pub struct Endpoint {
    address: SocketAddr,
    registry: Arc<Registry>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("address", &self.address)
            .finish()
    }
}

impl Endpoint {
    /// Binds `options.address` (now, so a taken port is an error here) and serves on
    /// `runtime`.
    pub fn start(
        options: &ServeOptions,
        runtime: &tokio::runtime::Handle,
        events: Option<EventTx>,
    ) -> Result<Self> {
        options.check().map_err(Error::Invalid)?;
        let listener = std::net::TcpListener::bind(options.address).map_err(|e| {
            Error::Invalid(format!(
                "cannot serve the AWS API at {}: {e}{}",
                options.address,
                if e.kind() == std::io::ErrorKind::AddrInUse {
                    " (is LocalStack or another Tributary running? choose another with --endpoint)"
                } else {
                    ""
                }
            ))
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let address = listener
            .local_addr()
            .map_err(|e| Error::Internal(e.to_string()))?;
        let registry = Arc::new(Registry {
            events,
            ..Default::default()
        });
        let _ = registry.address.set(address);
        let mut s3 = s3s::service::S3ServiceBuilder::new(s3::S3Api {
            registry: registry.clone(),
        });
        s3.set_validation(s3::AnyName);
        if !options.credentials.is_empty() {
            s3.set_auth(s3::Keys(options.credentials.clone()));
        }
        let state = Arc::new(Server {
            registry: registry.clone(),
            credentials: options.credentials.clone(),
            s3: s3.build(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(state);
        let task = runtime.spawn(async move {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => {
                    let _ = axum::serve(l, app).await;
                }
                Err(e) => log::error!("the AWS endpoint cannot listen: {e}"),
            }
        });
        Ok(Self {
            address,
            registry,
            task,
        })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// What it serves.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// The region of an accepted request: the access key is known and, when credentials
    /// are configured, the SigV4 signature holds with its secret.
    fn authenticate(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> std::result::Result<String, AwsError> {
        let Some(auth) = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(sigv4::parse)
        else {
            return Err(AwsError {
                status: 403,
                code: "MissingAuthenticationTokenException",
                message: "Missing Authentication Token".to_owned(),
            });
        };
        let key = &auth.access_key_id;
        let secret = if self.credentials.is_empty() {
            (key == DEFAULT_ACCESS_KEY).then_some(None)
        } else {
            self.credentials
                .iter()
                .find(|c| &c.access_key_id == key)
                .map(|c| Some(c.secret_access_key.as_str()))
        };
        let Some(secret) = secret else {
            self.registry.warn(format!(
                "AWS endpoint: refused a request signed with the unknown access key id '{key}' (UnrecognizedClientException); {}",
                if self.credentials.is_empty() {
                    "use the access key id 'test', as with LocalStack"
                } else {
                    "use the configured TRIBUTARY_ACCESS_KEY_ID"
                }
            ));
            return Err(AwsError {
                status: 400,
                code: "UnrecognizedClientException",
                message: "The security token included in the request is invalid.".to_owned(),
            });
        };
        if let Some(secret) = secret
            && let Err(refusal) = sigv4::verify(&auth, secret, method, uri, headers, body)
        {
            let message = match refusal {
                sigv4::Refusal::Mismatch => "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".to_owned(),
                sigv4::Refusal::Expired(m) => m,
            };
            self.registry.warn(format!(
                "AWS endpoint: refused a request from access key id '{key}': {message}"
            ));
            return Err(AwsError::client("InvalidSignatureException", message));
        }
        Ok(auth.region)
    }
}

/// Kinesis and Firehose name their operation in `X-Amz-Target`; anything else is S3.
async fn handle(State(server): State<Arc<Server>>, request: axum::extract::Request) -> Response {
    if !request.headers().contains_key("x-amz-target") {
        return s3::serve(
            &server.s3,
            &server.registry,
            !server.credentials.is_empty(),
            request,
        )
        .await;
    }
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return AwsError {
                status: 413,
                code: "SerializationException",
                message: format!("the request body is larger than Tributary takes ({MAX_BODY} bytes) or broken: {e}"),
            }
            .json_response();
        }
    };
    json_api(&server, &parts.method, &parts.uri, &parts.headers, body).await
}

/// A Kinesis or Firehose request (JSON 1.1).
async fn json_api(
    server: &Server,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.contains("cbor") {
        server.registry.warn(
            "AWS endpoint: a client sent CBOR, which Tributary does not speak; turn it off (AWS_CBOR_DISABLE=true, or -Dcom.amazonaws.sdk.disableCbor=true for the Java SDK and the KPL)".to_owned(),
        );
        return AwsError::client(
            "SerializationException",
            "Tributary speaks the JSON 1.1 protocol only: disable CBOR in the client (AWS_CBOR_DISABLE=true, or -Dcom.amazonaws.sdk.disableCbor=true for the Java SDK and the KPL)",
        )
        .json_response();
    }
    let region = match server.authenticate(method, uri, headers, &body) {
        Ok(r) => r,
        Err(e) => return e.json_response(),
    };
    let result = match target.split_once('.') {
        Some(("Kinesis_20131202", op)) => kinesis::call(&server.registry, op, &body, &region).await,
        Some(("Firehose_20150804", op)) => {
            firehose::call(&server.registry, op, &body, &region).await
        }
        Some((service, _)) => Err(AwsError::client(
            "UnknownOperationException",
            format!(
                "Tributary does not serve {service} (it serves Kinesis_20131202 and Firehose_20150804)"
            ),
        )),
        None => Err(AwsError::client(
            "UnknownOperationException",
            "the request has no X-Amz-Target naming an operation (Tributary serves Kinesis_20131202.* and Firehose_20150804.*)",
        )),
    };
    match result {
        Ok(value) => {
            let mut r = (StatusCode::OK, value.to_string()).into_response();
            finish_json(&mut r, "");
            r
        }
        Err(e) => e.json_response(),
    }
}

/// Parses a JSON request body, or AWS's `SerializationException`.
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> std::result::Result<T, AwsError> {
    serde_json::from_slice(body).map_err(|e| {
        AwsError::client(
            "SerializationException",
            format!("the request body is not the JSON this operation takes: {e}"),
        )
    })
}

/// Counts a served request (and whether it failed) in the node's metrics, for the
/// designer's request rates.
fn count<T>(metrics: &crate::stream::metrics::NodeMetrics, r: &std::result::Result<T, AwsError>) {
    metrics.api_requests.fetch_add(1, Ordering::Relaxed);
    if r.is_err() {
        metrics.api_errors.fetch_add(1, Ordering::Relaxed);
    }
}
