//! One warm worker process running a handler through the official runtime interface
//! client, and the outcomes AWS gives: the result, the handler's error, `Task timed out
//! after 3.00 seconds`, `Runtime exited with error: …`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use std::os::fd::{AsRawFd as _, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader, ReadBuf};
use tokio::process::{Child, Command};

use super::runtime_api::{Invocation, Reported, RuntimeApi};
use crate::error::{Error, Result};

/// The language a handler is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// Python, run by `python -m awslambdaric <handler>`.
    Python,
    /// Node.js, run by `aws-lambda-ric <handler>`.
    Node,
}

/// What a worker runs, and how.
#[derive(Clone, Debug)]
pub struct FunctionSpec {
    /// `AWS_LAMBDA_FUNCTION_NAME` (the node id).
    pub name: String,
    /// The AWS runtime identifier (`python3.12`, `nodejs20.x`), for `AWS_EXECUTION_ENV`.
    pub runtime: String,
    /// The language.
    pub language: Language,
    /// `module.function` (`app.handler`).
    pub handler: String,
    /// The folder with the handler's file and its modules (`LAMBDA_TASK_ROOT`).
    pub code_dir: PathBuf,
    /// Folders put on the import path after the code (layers, installed requirements).
    pub paths: Vec<PathBuf>,
    /// The function's environment variables.
    pub environment: BTreeMap<String, String>,
    /// The timeout.
    pub timeout: Duration,
    /// `memory_size` in MB (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`).
    pub memory_mb: u32,
    /// The interpreter (a Python with `awslambdaric`, or `node`).
    pub interpreter: PathBuf,
    /// For Node.js: the `aws-lambda-ric` package's folder (its `bin/index.mjs` is run).
    pub ric: Option<PathBuf>,
}

/// Why an invocation failed, in AWS's words.
#[derive(Clone, Debug, PartialEq)]
pub enum InvokeError {
    /// The handler raised or rejected: AWS's error document.
    Function {
        /// `errorType` (the exception's class, e.g. `ValueError`).
        error_type: String,
        /// `errorMessage`.
        message: String,
        /// `stackTrace`, one frame per line.
        stack: Vec<String>,
    },
    /// The handler ran past its timeout; the worker was killed.
    Timeout(Duration),
    /// The worker process ended during the invocation.
    Exited(String),
    /// The handler could not be loaded (`Runtime.ImportModuleError`, …).
    Init {
        /// `errorType`.
        error_type: String,
        /// `errorMessage`.
        message: String,
    },
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Function {
                error_type,
                message,
                ..
            } => write!(f, "{error_type}: {message}"),
            // AWS's wording, e.g. "Task timed out after 3.00 seconds".
            Self::Timeout(t) => write!(f, "Task timed out after {:.2} seconds", t.as_secs_f64()),
            Self::Exited(how) => write!(f, "Runtime exited with error: {how}"),
            Self::Init {
                error_type,
                message,
            } => write!(f, "{error_type}: {message}"),
        }
    }
}

/// A line a worker printed, with the request it was running then.
#[derive(Clone, Debug)]
pub struct LogLine {
    /// The request id, when an invocation was running.
    pub request_id: Option<String>,
    /// The text.
    pub text: String,
}

/// A warm worker: its process and its own Runtime API server.
pub struct Worker {
    spec: FunctionSpec,
    api: RuntimeApi,
    child: Child,
    current: Arc<Mutex<Option<String>>>,
    log: Arc<Mutex<Vec<LogLine>>>,
    /// The tasks reading the worker's stdout and stderr (they end at the pipes' end).
    readers: Vec<tokio::task::JoinHandle<()>>,
    /// The pipes, to know when everything printed so far has been read.
    pipes: Vec<Pipe>,
    started: Instant,
    invocations: u64,
}

impl Worker {
    /// Starts a worker (a cold start) for `spec`.
    pub async fn start(spec: FunctionSpec) -> Result<Self> {
        let api = RuntimeApi::start().await?;
        let mut cmd = match spec.language {
            Language::Python => {
                let mut c = Command::new(&spec.interpreter);
                c.arg("-m").arg("awslambdaric").arg(&spec.handler);
                c
            }
            Language::Node => {
                let ric = spec
                    .ric
                    .clone()
                    .ok_or_else(|| Error::Invalid("aws-lambda-ric is not installed".to_owned()))?;
                let mut c = Command::new(&spec.interpreter);
                c.arg(ric.join("bin/index.mjs")).arg(&spec.handler);
                c
            }
        };
        let mut path = vec![spec.code_dir.clone()];
        path.extend(spec.paths.iter().cloned());
        let joined =
            std::env::join_paths(&path).map_err(|e| Error::Invalid(format!("code_path: {e}")))?;
        cmd.current_dir(&spec.code_dir)
            .env_clear()
            // Test credentials, so an SDK client made in the handler never looks for real
            // ones (the function's environment may set others).
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .envs(&spec.environment)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                spec.memory_mb.to_string(),
            )
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", spec.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "tributary")
            .env("AWS_REGION", super::events::REGION)
            .env("AWS_DEFAULT_REGION", super::events::REGION)
            .env("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", spec.runtime))
            .env("TZ", ":UTC")
            .env("LANG", "en_US.UTF-8")
            .env("_HANDLER", &spec.handler)
            .env("LAMBDA_TASK_ROOT", &spec.code_dir)
            .env("PYTHONPATH", &joined)
            .env("PYTHONUNBUFFERED", "1")
            .env("NODE_PATH", &joined)
            .env("HOME", std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // The worker dies with Tributary even when Tributary is killed (SIGKILL, a crash):
        // no handler processes are left behind. (The signal follows the thread that
        // started the worker: a runtime worker thread, which lives as long as the run.)
        #[cfg(target_os = "linux")]
        // SAFETY: the closure runs in the child between fork and exec; prctl is
        // async-signal-safe and nothing is allocated.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            Error::Invalid(format!(
                "cannot start '{}' for the handler: {e}",
                spec.interpreter.display()
            ))
        })?;
        let current = Arc::new(Mutex::new(None::<String>));
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let mut pipes = Vec::new();
        for stream in [
            child.stdout.take().map(|s| {
                (
                    s.as_raw_fd(),
                    Box::new(s) as Box<dyn AsyncRead + Send + Unpin>,
                )
            }),
            child.stderr.take().map(|s| {
                (
                    s.as_raw_fd(),
                    Box::new(s) as Box<dyn AsyncRead + Send + Unpin>,
                )
            }),
        ]
        .into_iter()
        .flatten()
        {
            let (fd, stream) = stream;
            let pipe = Pipe {
                // SAFETY: dup of an open fd; the copy is the Pipe's own, closed on drop,
                // so it stays valid when the reader task closes its end.
                fd: unsafe { libc::dup(fd) },
                read: Arc::new(AtomicU64::new(0)),
                taken: Arc::new(AtomicU64::new(0)),
            };
            let (current, log) = (current.clone(), log.clone());
            let (read, taken) = (pipe.read.clone(), pipe.taken.clone());
            pipes.push(pipe);
            readers.push(tokio::spawn(async move {
                let mut reader = BufReader::new(Counted {
                    inner: stream,
                    read,
                });
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match reader.read_until(b'\n', &mut line).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let text = String::from_utf8_lossy(&line)
                                .trim_end_matches(['\n', '\r'])
                                .to_owned();
                            let request_id = current.lock().ok().and_then(|c| c.clone());
                            if let Ok(mut l) = log.lock() {
                                l.push(LogLine { request_id, text });
                            }
                            taken.fetch_add(n as u64, Ordering::SeqCst);
                        }
                    }
                }
            }));
        }
        Ok(Self {
            spec,
            api,
            child,
            current,
            log,
            readers,
            pipes,
            started: Instant::now(),
            invocations: 0,
        })
    }

    /// Invokes the handler with `event`; the handler's result, as JSON.
    pub async fn invoke(
        &mut self,
        request_id: &str,
        event: &serde_json::Value,
    ) -> Result<std::result::Result<serde_json::Value, InvokeError>> {
        let body = serde_json::to_vec(event).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(self
            .invoke_raw(request_id, Bytes::from(body))
            .await?
            .map(|bytes| serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)))
    }

    /// Kills the worker's process (SIGKILL): the invocation in flight, or the next one,
    /// fails as a crashed runtime does.
    pub fn kill(&mut self) {
        let _ = self.child.start_kill();
    }

    /// Invokes the handler with the event document `body` (JSON text); the handler's
    /// result as the JSON text it answered.
    pub async fn invoke_raw(
        &mut self,
        request_id: &str,
        body: Bytes,
    ) -> Result<std::result::Result<Bytes, InvokeError>> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let deadline_ms = now_ms + self.spec.timeout.as_millis() as u64;
        if let Ok(mut c) = self.current.lock() {
            *c = Some(request_id.to_owned());
        }
        let reported = self
            .api
            .submit(Invocation {
                request_id: request_id.to_owned(),
                event: body,
                deadline_ms,
                function_arn: super::events::function_arn(&self.spec.name),
            })
            .await?;
        self.invocations += 1;
        let outcome = tokio::select! {
            r = reported => match r {
                Ok(Reported::Response(bytes)) => Ok(bytes),
                Ok(Reported::Error { error_type, body }) => Err(function_error(error_type, &body)),
                Err(_) => Err(InvokeError::Exited("the Runtime API stopped".to_owned())),
            },
            _ = tokio::time::sleep(self.spec.timeout) => {
                let _ = self.child.start_kill();
                let _ = self.child.wait().await;
                Err(InvokeError::Timeout(self.spec.timeout))
            }
            // Over its memory size, the sandbox is killed (as Lambda's cgroup does).
            _ = over_memory(self.child.id(), self.spec.memory_mb) => {
                let _ = self.child.start_kill();
                let _ = self.child.wait().await;
                Err(InvokeError::Exited("signal: killed".to_owned()))
            }
            status = self.child.wait() => Err(self.exited(status)),
        };
        // What the handler printed is in the pipes before it answered: read it all while
        // it is still this request's (a busy machine may not have run the readers yet).
        self.wait_for_output().await;
        if let Ok(mut c) = self.current.lock() {
            *c = None;
        }
        Ok(outcome)
    }

    /// How the process ended, as AWS reports it (`exit status 1`, `signal: killed`), or
    /// the handler's init error when it reported one.
    fn exited(&self, status: std::io::Result<std::process::ExitStatus>) -> InvokeError {
        if let Some(body) = self.api.init_error() {
            let InvokeError::Function {
                error_type,
                message,
                ..
            } = function_error(None, &body)
            else {
                unreachable!("function_error gives Function")
            };
            return InvokeError::Init {
                error_type,
                message,
            };
        }
        use std::os::unix::process::ExitStatusExt as _;
        match status {
            Ok(s) => match (s.code(), s.signal()) {
                (Some(code), _) => InvokeError::Exited(format!("exit status {code}")),
                (None, Some(9)) => InvokeError::Exited("signal: killed".to_owned()),
                (None, Some(sig)) => InvokeError::Exited(format!("signal: {sig}")),
                _ => InvokeError::Exited(s.to_string()),
            },
            Err(e) => InvokeError::Exited(e.to_string()),
        }
    }

    /// Whether the process is still running (a timeout or a crash ends it).
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits (at most a second) until every byte the worker wrote to its pipes so far has
    /// been read and logged. A line without its newline yet waits for the second.
    async fn wait_for_output(&self) {
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline && !self.pipes.iter().all(Pipe::drained) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Stops the worker and returns what it printed that was not taken yet: the pipes
    /// are read to their end, so the last invocation's output is not lost.
    pub async fn stop(mut self) -> Vec<LogLine> {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        for reader in std::mem::take(&mut self.readers) {
            let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
        }
        self.take_log()
    }

    /// The lines the worker printed since the last call.
    pub fn take_log(&self) -> Vec<LogLine> {
        self.log
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    /// How long the worker took to start (until it first asked for an invocation).
    pub fn init_duration(&self) -> Option<Duration> {
        self.api
            .first_poll()
            .map(|t| t.saturating_duration_since(self.started))
    }

    /// The most memory the process used so far, in MB (its peak resident set).
    pub fn max_memory_mb(&self) -> Option<u64> {
        self.child
            .id()
            .and_then(|pid| proc_status_kb(pid, "VmHWM:"))
            .map(|kb| kb.div_ceil(1024))
    }

    /// Invocations run by this worker.
    pub fn invocations(&self) -> u64 {
        self.invocations
    }

    /// How long ago the worker started.
    pub fn age(&self) -> Duration {
        self.started.elapsed()
    }
}

/// A field of `/proc/<pid>/status` in kB (`VmRSS:`, `VmHWM:`).
fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Resolves once process `pid` uses more than `memory_mb` (checked every 20 ms); never
/// where memory cannot be read.
async fn over_memory(pid: Option<u32>, memory_mb: u32) {
    let limit_kb = u64::from(memory_mb) * 1024;
    let Some(pid) = pid.filter(|p| proc_status_kb(*p, "VmRSS:").is_some()) else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if proc_status_kb(pid, "VmRSS:").is_some_and(|kb| kb > limit_kb) {
            return;
        }
    }
}

/// AWS's error document (`{"errorMessage", "errorType", "stackTrace"}`) as an error.
fn function_error(header: Option<String>, body: &[u8]) -> InvokeError {
    let doc: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |k: &str| doc.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    // Python's runtime sends `stackTrace`, Node.js's `trace`.
    let stack = match doc.get("stackTrace").or_else(|| doc.get("trace")) {
        Some(serde_json::Value::Array(frames)) => frames
            .iter()
            .map(|f| {
                f.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| f.to_string())
            })
            .collect(),
        Some(serde_json::Value::String(s)) => s.lines().map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    InvokeError::Function {
        error_type: text("errorType")
            .or(header)
            .unwrap_or_else(|| "Unhandled".to_owned()),
        message: text("errorMessage").unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
        stack,
    }
}

/// One of the worker's output pipes (its own copy of the read end): bytes read from
/// it, and bytes logged.
struct Pipe {
    fd: RawFd,
    read: Arc<AtomicU64>,
    taken: Arc<AtomicU64>,
}

impl Drop for Pipe {
    fn drop(&mut self) {
        if self.fd >= 0 {
            // SAFETY: the fd is this Pipe's own copy, closed once.
            unsafe { libc::close(self.fd) };
        }
    }
}

impl Pipe {
    /// Whether the pipe is empty and everything read from it is logged.
    fn drained(&self) -> bool {
        if self.fd < 0 {
            return true;
        }
        let mut waiting: libc::c_int = 0;
        // SAFETY: FIONREAD writes the number of bytes waiting in the pipe into an int;
        // the fd belongs to the child's pipe, which the reader task keeps open.
        let ok = unsafe { libc::ioctl(self.fd, libc::FIONREAD, &mut waiting) } == 0;
        ok && waiting == 0 && self.read.load(Ordering::SeqCst) == self.taken.load(Ordering::SeqCst)
    }
}

/// A reader that counts the bytes read through it.
struct Counted<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Counted<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.read.fetch_add(n as u64, Ordering::SeqCst);
        polled
    }
}
