//! The Lambda Runtime API (version 2018-06-01) for one worker, on loopback:
//! - `GET  /2018-06-01/runtime/invocation/next`: the next event, with the
//!   `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms`,
//!   `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id` headers;
//! - `POST /2018-06-01/runtime/invocation/{id}/response`: the handler's result;
//! - `POST /2018-06-01/runtime/invocation/{id}/error`: its error
//!   (`{"errorMessage", "errorType", "stackTrace"}`);
//! - `POST /2018-06-01/runtime/init/error`: the handler could not be loaded.
//!
//! As documented at
//! <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

/// One invocation waiting for the worker to ask for it.
#[derive(Debug)]
pub struct Invocation {
    /// The request id (`context.aws_request_id`).
    pub request_id: String,
    /// The event, as JSON bytes.
    pub event: Bytes,
    /// When the invocation times out, in milliseconds since the Unix epoch.
    pub deadline_ms: u64,
    /// The function's ARN, as `context.invoked_function_arn` reports it.
    pub function_arn: String,
}

/// How an invocation ended, as the worker reported it.
#[derive(Debug)]
pub enum Reported {
    /// The handler returned this (JSON bytes).
    Response(Bytes),
    /// The handler raised: the error document and its type header.
    Error {
        /// The `Lambda-Runtime-Function-Error-Type` header, if sent.
        error_type: Option<String>,
        /// The body (`{"errorMessage", "errorType", "stackTrace"}`).
        body: Bytes,
    },
}

/// The server's state.
struct ApiState {
    next: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Reported>>>,
    init_error: Mutex<Option<Bytes>>,
    /// When the worker first asked for an invocation: its init is done.
    first_poll: Mutex<Option<std::time::Instant>>,
}

/// The largest response a function may return (AWS: 6 MB for a synchronous invocation).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// A running Runtime API server for one worker.
pub struct RuntimeApi {
    addr: SocketAddr,
    queue: mpsc::Sender<Invocation>,
    state: Arc<ApiState>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Starts a server on a free loopback port.
    pub async fn start() -> Result<Self> {
        let (queue, next) = mpsc::channel(1);
        let state = Arc::new(ApiState {
            next: tokio::sync::Mutex::new(next),
            waiting: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
            first_poll: Mutex::new(None),
        });
        let app = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(invocation_response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(invocation_error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            // Larger responses are read, then refused as AWS refuses them (below).
            .layer(axum::extract::DefaultBodyLimit::max(8 * MAX_RESPONSE_BYTES))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::Internal(format!("the Lambda Runtime API cannot listen: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Internal(e.to_string()))?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            queue,
            state,
            server,
        })
    }

    /// `host:port`, for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Queues `invocation` for the worker's next `/next`; the receiver gets what the
    /// worker reports for it.
    pub async fn submit(&self, invocation: Invocation) -> Result<oneshot::Receiver<Reported>> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.state.waiting.lock() {
            w.insert(invocation.request_id.clone(), tx);
        }
        self.queue
            .send(invocation)
            .await
            .map_err(|_| Error::Internal("the Lambda Runtime API has stopped".to_owned()))?;
        Ok(rx)
    }

    /// When the worker first asked for an invocation (its init took until then).
    pub fn first_poll(&self) -> Option<std::time::Instant> {
        self.state.first_poll.lock().ok().and_then(|t| *t)
    }

    /// What the worker reported through `/init/error`, if anything.
    pub fn init_error(&self) -> Option<Bytes> {
        self.state.init_error.lock().ok().and_then(|e| e.clone())
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next_invocation(State(state): State<Arc<ApiState>>) -> Response {
    if let Ok(mut t) = state.first_poll.lock() {
        t.get_or_insert_with(std::time::Instant::now);
    }
    let Some(inv) = state.next.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set("Lambda-Runtime-Aws-Request-Id", &inv.request_id);
    set("Lambda-Runtime-Deadline-Ms", &inv.deadline_ms.to_string());
    set("Lambda-Runtime-Invoked-Function-Arn", &inv.function_arn);
    let trace: String = inv
        .request_id
        .chars()
        .filter(|c| *c != '-')
        .take(24)
        .collect();
    set(
        "Lambda-Runtime-Trace-Id",
        &format!("Root=1-{:08x}-{trace};Sampled=0", inv.deadline_ms / 1000),
    );
    set("Content-Type", "application/json");
    (StatusCode::OK, headers, inv.event).into_response()
}

fn deliver(state: &ApiState, id: &str, reported: Reported) -> Response {
    let waiting = state.waiting.lock().ok().and_then(|mut w| w.remove(id));
    match waiting {
        Some(tx) => {
            let _ = tx.send(reported);
            (StatusCode::ACCEPTED, r#"{"status":"OK"}"#).into_response()
        }
        None => (
            StatusCode::BAD_REQUEST,
            r#"{"errorMessage":"unknown request id","errorType":"InvalidRequestID"}"#,
        )
            .into_response(),
    }
}

async fn invocation_response(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if body.len() > MAX_RESPONSE_BYTES {
        // AWS's error for a response over the limit.
        let doc = serde_json::json!({
            "errorType": "Function.ResponseSizeTooLarge",
            "errorMessage": format!(
                "Response payload size ({} bytes) exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).",
                body.len()
            ),
        });
        let reported = Reported::Error {
            error_type: Some("Function.ResponseSizeTooLarge".to_owned()),
            body: Bytes::from(doc.to_string()),
        };
        return deliver(&state, &id, reported);
    }
    deliver(&state, &id, Reported::Response(body))
}

async fn invocation_error(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let error_type = headers
        .get("Lambda-Runtime-Function-Error-Type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    deliver(&state, &id, Reported::Error { error_type, body })
}

async fn init_error(State(state): State<Arc<ApiState>>, body: Bytes) -> Response {
    if let Ok(mut e) = state.init_error.lock() {
        *e = Some(body);
    }
    (StatusCode::ACCEPTED, r#"{"status":"OK"}"#).into_response()
}
