//! A function and its warm workers: an invocation takes an idle worker (or starts one, a
//! cold start) and gives it back when it survived, so there is one worker per concurrent
//! invocation, as Lambda keeps one execution environment per concurrent request. Each
//! invocation comes back with its CloudWatch-style log: `INIT_START` on a cold start,
//! `START`, what the handler printed, `END` and `REPORT` (duration, billed duration,
//! memory size, max memory used, init duration).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use serde_json::Value;

use super::worker::{FunctionSpec, InvokeError, Language, Worker};
use crate::error::Result;

/// One invocation's outcome and log.
#[derive(Debug)]
pub struct Invoked {
    /// The request id (`context.aws_request_id`).
    pub request_id: String,
    /// The handler's result as the JSON text it answered, or why it failed.
    pub outcome: std::result::Result<Bytes, InvokeError>,
    /// The log lines, as CloudWatch Logs shows them.
    pub log: Vec<String>,
    /// The handler's run time (init excluded).
    pub duration: Duration,
    /// The worker's start-up time, when this invocation started one.
    pub cold_start: Option<Duration>,
}

/// A function with a pool of warm workers.
pub struct Function {
    spec: FunctionSpec,
    idle: Mutex<Vec<Worker>>,
    cold_starts: AtomicU64,
    /// The runtime line of `INIT_START` (`python:3.11.9`).
    runtime_version: String,
    /// An injected fault: the worker of the next invocation is killed as it starts it.
    crash_next: std::sync::atomic::AtomicBool,
}

impl Function {
    /// A function run as `spec` says; `version` is the interpreter's version text.
    pub fn new(spec: FunctionSpec, version: &str) -> Self {
        // `Python 3.11.9` or `v20.20.2`.
        let v = version
            .trim_start_matches("Python ")
            .trim_start_matches('v');
        let runtime_version = match spec.language {
            Language::Python => format!("python:{v}"),
            Language::Node => format!("nodejs:{v}"),
        };
        Self {
            spec,
            idle: Mutex::new(Vec::new()),
            cold_starts: AtomicU64::new(0),
            runtime_version,
            crash_next: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Kills the worker of the next invocation as it starts it (an injected worker
    /// crash): the invocation fails as a crashed runtime does (`Runtime exited with
    /// error: signal: killed`), and the next one starts a new worker.
    pub fn crash_next(&self) {
        self.crash_next.store(true, Ordering::SeqCst);
    }

    /// What the function runs.
    pub fn spec(&self) -> &FunctionSpec {
        &self.spec
    }

    /// Workers started so far (cold starts).
    pub fn cold_starts(&self) -> u64 {
        self.cold_starts.load(Ordering::Relaxed)
    }

    /// Stops the warm workers and returns what they printed that no invocation's log
    /// took yet (the output of the last invocations, read to the pipes' end).
    pub async fn shutdown(&self) -> Vec<String> {
        let workers: Vec<Worker> = self
            .idle
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default();
        let mut lines = Vec::new();
        for worker in workers {
            lines.extend(worker.stop().await.into_iter().map(|l| l.text));
        }
        lines
    }

    /// Invokes the handler with `event` on an idle worker, or a new one.
    pub async fn invoke(&self, event: &Value) -> Result<Invoked> {
        let body =
            serde_json::to_vec(event).map_err(|e| crate::error::Error::Internal(e.to_string()))?;
        self.invoke_raw(Bytes::from(body)).await
    }

    /// Invokes the handler with the event document `event` (JSON text).
    pub async fn invoke_raw(&self, event: Bytes) -> Result<Invoked> {
        let idle = self.idle.lock().ok().and_then(|mut w| w.pop());
        let (mut worker, cold) = match idle {
            Some(w) => (w, false),
            None => {
                self.cold_starts.fetch_add(1, Ordering::Relaxed);
                (Worker::start(self.spec.clone()).await?, true)
            }
        };
        let request_id = uuid::Uuid::new_v4().to_string();
        let started = Instant::now();
        if self.crash_next.swap(false, Ordering::SeqCst) {
            worker.kill();
        }
        let outcome = worker.invoke_raw(&request_id, event).await?;
        let elapsed = started.elapsed();
        // Let the readers of the worker's output take what it printed before answering.
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        let init = if cold { worker.init_duration() } else { None };
        let duration = elapsed.saturating_sub(init.unwrap_or_default());
        let mut log = Vec::new();
        let printed = worker.take_log();
        if cold {
            log.push(format!(
                "INIT_START Runtime Version: {}\tRuntime Version ARN: tributary:local",
                self.runtime_version
            ));
            // What the worker printed while loading the handler.
            log.extend(
                printed
                    .iter()
                    .filter(|l| l.request_id.is_none())
                    .map(|l| l.text.clone()),
            );
        }
        log.push(format!("START RequestId: {request_id} Version: $LATEST"));
        log.extend(
            printed
                .iter()
                .filter(|l| !cold || l.request_id.is_some())
                .map(|l| l.text.clone()),
        );
        match &outcome {
            Err(e @ InvokeError::Timeout(_)) => {
                log.push(format!("{request_id} {e}"));
            }
            Err(e @ (InvokeError::Exited(_) | InvokeError::Init { .. })) => {
                log.push(format!("RequestId: {request_id} Error: {e}"));
            }
            _ => {}
        }
        log.push(format!("END RequestId: {request_id}"));
        let mut report = format!(
            "REPORT RequestId: {request_id}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB",
            duration.as_secs_f64() * 1000.0,
            duration.as_micros().div_ceil(1000).max(1),
            self.spec.memory_mb
        );
        if let Some(mb) = worker.max_memory_mb() {
            report.push_str(&format!("\tMax Memory Used: {mb} MB"));
        }
        if let Some(init) = init {
            report.push_str(&format!(
                "\tInit Duration: {:.2} ms",
                init.as_secs_f64() * 1000.0
            ));
        }
        match &outcome {
            Err(InvokeError::Timeout(_)) => report.push_str("\tStatus: timeout"),
            Err(InvokeError::Exited(_) | InvokeError::Init { .. }) => {
                report.push_str("\tStatus: error\tError Type: Runtime.ExitError")
            }
            _ => {}
        }
        log.push(report);
        if worker.is_alive()
            && let Ok(mut idle) = self.idle.lock()
        {
            idle.push(worker);
        }
        Ok(Invoked {
            request_id,
            outcome,
            log,
            duration,
            cold_start: if cold { init.or(Some(elapsed)) } else { None },
        })
    }
}
