//! Real services on loopback for the tests: an Apache Ballista cluster (a scheduler and
//! executors from the workspace's `tributary-cluster` binary) and a Redis server.
//! Each fixture takes free ports, logs to files in a scratch folder, and stops its
//! processes when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::scratch;

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port}; its log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn spawn_logged(mut cmd: Command, log: &Path) -> Child {
    let out = std::fs::File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    cmd.stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
}

/// The `tributary-cluster` binary: `TRIBUTARY_CLUSTER_BIN`, else beside the CLI binary
/// (the README's test command builds it first).
fn cluster_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("TRIBUTARY_CLUSTER_BIN").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let bin = Path::new(env!("CARGO_BIN_EXE_tributary-cli")).with_file_name("tributary-cluster");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p tributary-cluster` (scripts/test does)",
        bin.display()
    );
    bin
}

/// A Ballista scheduler and executors on loopback.
pub struct Cluster {
    /// `df://127.0.0.1:<port>`.
    pub url: String,
    children: Vec<Child>,
    /// Each executor's log file.
    pub executor_logs: Vec<PathBuf>,
    dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Cluster {
    /// Starts a scheduler and `executors` executors, each advertising one core (so the
    /// tasks of even a small query spread), and waits until every executor registered.
    pub fn start(executors: usize) -> Self {
        Self::start_with_cores(executors, 1)
    }

    /// As [`Cluster::start`], with `cores` per executor.
    pub fn start_with_cores(executors: usize, cores: usize) -> Self {
        let dir = scratch();
        let bin = cluster_bin();
        let port = free_port();
        let log = dir.path().join("scheduler.log");
        let mut cmd = Command::new(&bin);
        cmd.args([
            "scheduler",
            "--bind-host",
            "127.0.0.1",
            "--external-host",
            "127.0.0.1",
        ])
        .args(["--bind-port", &port.to_string()]);
        let mut children = vec![spawn_logged(cmd, &log)];
        wait_for_port(port, "the Ballista scheduler", &log);
        let mut executor_logs = Vec::new();
        for i in 1..=executors {
            let log = dir.path().join(format!("executor-{i}.log"));
            let work = dir.path().join(format!("executor-{i}"));
            std::fs::create_dir_all(&work).unwrap();
            let (flight, grpc, health) = (free_port(), free_port(), free_port());
            let mut cmd = Command::new(&bin);
            cmd.args(["executor", "--id", &format!("executor-{i}")])
                .args(["--bind-host", "127.0.0.1", "--external-host", "127.0.0.1"])
                .args(["--bind-port", &flight.to_string()])
                .args(["--bind-grpc-port", &grpc.to_string()])
                .args(["--bind-health-port", &health.to_string()])
                .args(["--scheduler-host", "127.0.0.1"])
                .args(["--scheduler-port", &port.to_string()])
                .args(["--scheduler-connect-timeout-seconds", "30"])
                .args(["--vcores", &cores.to_string()])
                .arg("--work-dir")
                .arg(&work);
            children.push(spawn_logged(cmd, &log));
            executor_logs.push(log);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        for log in &executor_logs {
            loop {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                if text.contains("registration succeed") || text.contains("Starting poll work loop")
                {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "executor did not register; its log:\n{text}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Self {
            url: format!("df://127.0.0.1:{port}"),
            children,
            executor_logs,
            dir,
        }
    }

    /// Tasks each executor's own log says it ran.
    pub fn tasks_per_executor(&self) -> Vec<usize> {
        self.executor_logs
            .iter()
            .map(|log| {
                std::fs::read_to_string(log)
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| l.contains("Received task") || l.contains("Execute task"))
                    .count()
            })
            .collect()
    }

    /// The scratch folder holding the logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A Redis server with its append-only file on (fsync every write), restartable on the
/// same port and data folder.
pub struct Redis {
    /// The port.
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    starts: usize,
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `redis-server` binary: `TRIBUTARY_REDIS_SERVER`, else on the PATH (Debian's
/// `redis-server` package; scripts/test installs it).
fn redis_server() -> PathBuf {
    if let Some(p) = std::env::var_os("TRIBUTARY_REDIS_SERVER").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("redis-server"))
            .find(|p| p.exists())
    });
    found.unwrap_or_else(|| {
        panic!("redis-server is not installed: `apt-get install redis-server` (scripts/test does)")
    })
}

impl Redis {
    /// Starts a server on a free port.
    pub fn start() -> Self {
        let mut r = Self {
            port: free_port(),
            child: None,
            dir: scratch(),
            starts: 0,
        };
        r.spawn();
        r
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let log = self.dir.path().join(format!("redis-{}.log", self.starts));
        let mut cmd = Command::new(redis_server());
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(self.dir.path());
        self.child = Some(spawn_logged(cmd, &log));
        wait_for_port(self.port, "redis-server", &log);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills the server (SIGKILL: no chance to flush anything more) and starts it again
    /// on the same port and data after `down`.
    pub fn restart(&mut self, down: Duration) {
        self.kill();
        std::thread::sleep(down);
        self.spawn();
    }

    /// A command's reply (see [`resp_command`]).
    pub fn cmd(&self, args: &[&str]) -> String {
        resp_command(self.port, args)
    }
}

/// Sends one command in RESP and returns the reply as text (integers and bulk strings as
/// themselves, arrays one element per line).
pub fn resp_command(port: u16, args: &[&str]) -> String {
    use std::io::{BufRead, BufReader, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    fn read_value(r: &mut impl BufRead, out: &mut Vec<String>) {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let line = line.trim_end();
        let (kind, rest) = line.split_at(1);
        match kind {
            "+" | ":" => out.push(rest.to_owned()),
            "-" => out.push(format!("ERR {rest}")),
            "$" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    out.push(String::new());
                } else {
                    let mut buf = vec![0u8; n as usize + 2];
                    r.read_exact(&mut buf).unwrap();
                    out.push(String::from_utf8_lossy(&buf[..n as usize]).into_owned());
                }
            }
            "*" => {
                let n: i64 = rest.parse().unwrap();
                for _ in 0..n.max(0) {
                    read_value(r, out);
                }
            }
            other => panic!("unexpected RESP reply {other}{rest}"),
        }
    }
    let mut out = Vec::new();
    read_value(&mut r, &mut out);
    out.join("\n")
}
