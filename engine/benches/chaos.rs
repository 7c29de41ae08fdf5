//! Chaos soak: `cargo bench -p tributary-engine --bench chaos -- [--minutes M] [--records N]
//! [--seed S]` (defaults 5 minutes, 600,000 records, seed 1). Linux, as root (it mounts a
//! small tmpfs to fill; without root the disk faults are left out and it says so).
//!
//! Two Tributary processes run a streaming pipeline over real servers on loopback:
//! - **A**: generator (`N` click events) → durable stream (3 shards, its segments on the
//!   small disk) → Lambda (a Python handler under AWS's runtime interface client) →
//!   Firehose → an S3 bucket served by `s3s-fs`, registered as catalog table `clicks`;
//!   and the Lambda's output → broker sink (a Redis stream on `redis-server`, append-only
//!   file fsynced every write). The handler sleeps 0.1 s per batch of 100, so records
//!   are in flight for the whole soak.
//! - **B**, on an environment whose `broker` is that Redis: broker source (that Redis
//!   stream, consumer group `loaders`) → a broker-backed stream (2 shards kept in Redis
//!   Streams) → Firehose → a local bucket on the small disk.
//!
//! While the soak lasts, at random times (1–4 s apart) one fault: A or B is killed
//! (SIGKILL) and started again, `redis-server` or `s3s-fs` is killed and started again
//! after up to 3 s, or the small disk is filled to the last byte for 1–4 s. A process
//! that stops on its own (a fault it reports) is started again; its last error line is
//! kept. Then the faults stop and the processes run to the end.
//!
//! Checked at the end, from what is on disk: every one of the `N` event ids is in the S3
//! bucket's objects and in the local bucket's objects (duplicates counted), every object
//! parses whole (no partial object is visible; staging files a killed writer left are
//! counted), and the catalog answers `SELECT COUNT(DISTINCT event_id) FROM clicks` with `N`.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};

const HANDLER: &str = r#"import base64
import json
import time


def handler(event, context):
    # Paced (about 1,000 records a second per shard), so the soak's faults land while
    # records are in flight.
    time.sleep(0.1)
    rows = []
    for record in event["Records"]:
        click = json.loads(base64.b64decode(record["kinesis"]["data"]))
        rows.append({
            "event_id": click["event_id"],
            "user_id": click["user_id"],
            "page": click["page"].upper(),
            "shard": record["eventID"].split(":")[0],
        })
    return rows
"#;

struct Args {
    minutes: f64,
    records: u64,
    seed: u64,
}

fn args() -> Args {
    let mut a = Args {
        minutes: 5.0,
        records: 600_000,
        seed: 1,
    };
    let argv: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        argv.iter()
            .position(|x| x == name)
            .and_then(|i| argv.get(i + 1))
            .and_then(|v| v.parse::<f64>().ok())
    };
    if let Some(m) = value("--minutes") {
        a.minutes = m;
    }
    if let Some(n) = value("--records") {
        a.records = n as u64;
    }
    if let Some(s) = value("--seed") {
        a.seed = s as u64;
    }
    a
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A tool installed by scripts/test under target/tools, else on the PATH.
fn tool(env: &str, installed: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let p = workspace().join("target/tools").join(installed);
    if p.exists() {
        return p;
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join(name))
                .find(|p| p.exists())
        })
        .unwrap_or_else(|| panic!("{name} not found: run scripts/test once (it installs it)"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A process the soak starts, kills and starts again.
struct Proc {
    name: &'static str,
    command: Box<dyn Fn() -> Command>,
    port: Option<u16>,
    log_dir: PathBuf,
    child: Option<Child>,
    starts: usize,
    kills: usize,
    /// Runs that ended on their own with a failure: (exit code, last error line).
    failures: Vec<(i32, String)>,
    finished: bool,
}

impl Proc {
    fn new(
        name: &'static str,
        port: Option<u16>,
        log_dir: &Path,
        command: impl Fn() -> Command + 'static,
    ) -> Self {
        Self {
            name,
            command: Box::new(command),
            port,
            log_dir: log_dir.to_path_buf(),
            child: None,
            starts: 0,
            kills: 0,
            failures: Vec::new(),
            finished: false,
        }
    }

    fn log(&self) -> PathBuf {
        self.log_dir
            .join(format!("{}-{}.log", self.name, self.starts))
    }

    fn start(&mut self) {
        self.starts += 1;
        let log = std::fs::File::create(self.log()).unwrap();
        let mut cmd = (self.command)();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        self.child = Some(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.name)),
        );
        self.finished = false;
        if let Some(port) = self.port {
            wait_for_port(port, self.name);
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            self.kills += 1;
        }
    }

    /// If the process ended on its own: `Some(success)`, its failure recorded.
    fn reap(&mut self) -> Option<bool> {
        let c = self.child.as_mut()?;
        let status = c.try_wait().ok()??;
        self.child = None;
        if status.success() {
            self.finished = true;
            return Some(true);
        }
        let text = std::fs::read_to_string(self.log()).unwrap_or_default();
        let line = text
            .lines()
            .rev()
            .find(|l| l.contains("error") || l.contains("Error"))
            .unwrap_or("(no error line)")
            .to_owned();
        self.failures.push((status.code().unwrap_or(-1), line));
        Some(false)
    }

    fn running(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A size-limited tmpfs, unmounted when dropped.
struct SmallDisk {
    path: PathBuf,
    mounted: bool,
}

impl SmallDisk {
    fn mount(path: &Path, mib: u64) -> Self {
        std::fs::create_dir_all(path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(path)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        Self {
            path: path.to_path_buf(),
            mounted,
        }
    }

    /// Fills the disk to the last byte; returns the bytes written.
    fn fill(&self) -> u64 {
        use std::io::Write as _;
        let mut f = std::fs::File::create(self.path.join("filler")).unwrap();
        let chunk = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            match f.write(&chunk) {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k as u64,
            }
        }
        // The last partial blocks.
        while let Ok(k) = f.write(&chunk[..4096]) {
            if k == 0 {
                break;
            }
            n += k as u64;
        }
        n
    }

    fn free(&self) {
        let _ = std::fs::remove_file(self.path.join("filler"));
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.path).status();
        }
    }
}

fn project_a(records: u64, s3_endpoint: &str, redis: &str) -> Value {
    let node =
        |id: &str, kind: &str, config: Value| json!({"id": id, "kind": kind, "config": config});
    let edge = |from: &str, fp: &str, to: &str, tp: &str| json!({"from": {"node": from, "port": fp}, "to": {"node": to, "port": tp}});
    json!({
        "format_version": 2,
        "nodes": [
            node("gen", "generator", json!({"event": "clickstream", "rate_per_sec": 0.0,
                "count": records, "keys": 500, "batch_size": 1000, "seed": 7})),
            node("clicks", "stream", json!({"shards": 3, "partition_key": "user_id", "durable": true})),
            node("enrich", "lambda", json!({"runtime": "python3.12", "handler": "app.handler",
                "code": HANDLER, "batch_size": 100, "timeout": 30,
                "output_columns": ["event_id Int64", "user_id Utf8", "page Utf8", "shard Utf8"]})),
            node("lake", "bucket", json!({"path": "s3://lake", "endpoint": s3_endpoint, "path_style": true})),
            node("catalog", "catalog", json!({"path": "catalog.json"})),
            node("to_s3", "firehose", json!({"prefix": "clicks/", "format": "json",
                "buffer_interval_ms": 500, "table": "clicks"})),
            node("to_redis", "broker_sink", json!({"url": redis, "stream": "soak"}))
        ],
        "edges": [
            edge("gen", "events", "clicks", "records"),
            edge("clicks", "records", "enrich", "records"),
            edge("enrich", "records", "to_s3", "records"),
            edge("lake", "objects", "to_s3", "target"),
            edge("catalog", "catalog", "to_s3", "catalog"),
            edge("enrich", "records", "to_redis", "records")
        ]
    })
}

fn project_b(redis: &str, bucket: &Path) -> Value {
    json!({
        "format_version": 2,
        "environments": {"redis": {"broker": redis}},
        "environment": "redis",
        "nodes": [
            {"id": "from_redis", "kind": "broker_source", "config": {"url": redis, "stream": "soak",
                "group": "loaders", "batch_size": 2000, "idle_timeout_ms": 3000,
                "columns": ["event_id Int64 NOT NULL", "user_id Utf8", "page Utf8", "shard Utf8"]}},
            {"id": "relay", "kind": "stream", "config": {"shards": 2, "partition_key": "user_id"}},
            {"id": "local", "kind": "bucket", "config": {"path": bucket.to_str().unwrap()}},
            {"id": "load", "kind": "firehose", "config": {"prefix": "loaded/", "format": "json",
                "buffer_interval_ms": 500}}
        ],
        "edges": [
            {"from": {"node": "from_redis", "port": "records"}, "to": {"node": "relay", "port": "records"}},
            {"from": {"node": "relay", "port": "records"}, "to": {"node": "load", "port": "records"}},
            {"from": {"node": "local", "port": "objects"}, "to": {"node": "load", "port": "target"}}
        ]
    })
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// What the objects under `dir` hold.
#[derive(Default)]
struct Delivered {
    objects: usize,
    records: u64,
    ids: BTreeSet<i64>,
    /// Objects that do not parse whole.
    partial: Vec<String>,
    /// Staging files a killed writer left (hidden from listings and queries).
    staging: usize,
}

fn delivered(dir: &Path) -> Delivered {
    let mut d = Delivered::default();
    for f in files_under(dir) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name.contains('#') || name.starts_with(".tributary-") || name.starts_with('.') {
            d.staging += 1;
            continue;
        }
        d.objects += 1;
        let mut text = String::new();
        let whole = std::fs::File::open(&f)
            .and_then(|mut h| h.read_to_string(&mut text))
            .is_ok()
            && text.ends_with('\n');
        let mut ok = whole;
        for line in text.lines() {
            match serde_json::from_str::<Value>(line)
                .ok()
                .and_then(|v| v["event_id"].as_i64())
            {
                Some(id) => {
                    d.records += 1;
                    d.ids.insert(id);
                }
                None => ok = false,
            }
        }
        if !ok {
            d.partial.push(f.display().to_string());
        }
    }
    d
}

fn main() {
    let a = args();
    let cli = PathBuf::from(env!("CARGO_BIN_EXE_tributary-cli"));
    let s3s = tool("TRIBUTARY_S3S_FS", "bin/s3s-fs", "s3s-fs");
    let redis_server = tool("TRIBUTARY_REDIS_SERVER", "none", "redis-server");
    let python = tool("TRIBUTARY_PYTHON", "python/bin/python", "python3");
    let ric = workspace().join("target/tools/node/node_modules/aws-lambda-ric");
    let cache = workspace().join("target/tools/cache");
    let root = tempfile::Builder::new()
        .prefix("tributary-chaos-")
        .tempdir()
        .unwrap();
    let logs = root.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let disk = SmallDisk::mount(&root.path().join("disk"), 512);
    if !disk.mounted {
        eprintln!("not root (or no tmpfs): the disk-full faults are left out");
    }
    // A's project folder (its durable stream's segments) and B's bucket on the small disk.
    let dir_a = disk.path.join("a");
    let bucket_b = disk.path.join("local");
    let dir_b = root.path().join("b");
    let s3_root = root.path().join("s3");
    let redis_dir = root.path().join("redis");
    for d in [&dir_a, &bucket_b, &dir_b, &s3_root.join("lake"), &redis_dir] {
        std::fs::create_dir_all(d).unwrap();
    }

    let s3_port = free_port();
    let s3_endpoint = format!("http://127.0.0.1:{s3_port}");
    let mut s3 = Proc::new("s3s-fs", Some(s3_port), &logs, {
        let (s3s, s3_root) = (s3s.clone(), s3_root.clone());
        move || {
            let mut c = Command::new(&s3s);
            c.args(["--host", "127.0.0.1", "--port", &s3_port.to_string()])
                .args(["--access-key", "AKCHAOS", "--secret-key", "SKCHAOS"])
                .arg(&s3_root);
            c
        }
    });
    let redis_port = free_port();
    let redis_url = format!("redis://127.0.0.1:{redis_port}");
    let mut redis = Proc::new("redis-server", Some(redis_port), &logs, {
        let redis_dir = redis_dir.clone();
        move || {
            let mut c = Command::new(&redis_server);
            c.args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                    "--save",
                    "",
                ])
                .arg("--dir")
                .arg(&redis_dir);
            c
        }
    });
    let tributary = |dir: &Path, project: Value| {
        let path = dir.join("p.json");
        std::fs::write(&path, serde_json::to_string_pretty(&project).unwrap()).unwrap();
        let (cli, dir) = (cli.clone(), dir.to_path_buf());
        let (python, ric, cache) = (python.clone(), ric.clone(), cache.clone());
        move || {
            let mut c = Command::new(&cli);
            c.args(["run", "p.json"])
                .current_dir(&dir)
                .env("AWS_ACCESS_KEY_ID", "AKCHAOS")
                .env("AWS_SECRET_ACCESS_KEY", "SKCHAOS")
                .env_remove("AWS_PROFILE")
                .env("TRIBUTARY_PYTHON", &python)
                .env("TRIBUTARY_NODE_RIC", &ric)
                .env("TRIBUTARY_CACHE", &cache);
            c
        }
    };
    let mut proc_a = Proc::new(
        "tributary-A",
        None,
        &logs,
        tributary(&dir_a, project_a(a.records, &s3_endpoint, &redis_url)),
    );
    let mut proc_b = Proc::new(
        "tributary-B",
        None,
        &logs,
        tributary(&dir_b, project_b(&redis_url, &bucket_b)),
    );
    s3.start();
    redis.start();
    proc_a.start();
    proc_b.start();

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);
    let started = Instant::now();
    let soak = Duration::from_secs_f64(a.minutes * 60.0);
    let (mut disk_fills, mut filled_bytes) = (0usize, 0u64);
    let mut restarts_after_failure = 0usize;
    eprintln!(
        "chaos soak: {} records, {:.1} min of faults, seed {}; logs in {}",
        a.records,
        a.minutes,
        a.seed,
        logs.display()
    );
    // Restarts what ended on its own; during the soak a finished process is started
    // again only if the other end still has work (B drains what A puts into Redis).
    let supervise = |procs: [&mut Proc; 2], restarts: &mut usize| {
        let [pa, pb] = procs;
        if pa.reap() == Some(false) {
            *restarts += 1;
            pa.start();
        }
        match pb.reap() {
            Some(false) => {
                *restarts += 1;
                pb.start();
            }
            Some(true) if !pa.finished => pb.start(),
            _ => {}
        }
    };
    while started.elapsed() < soak {
        let wait = Duration::from_millis(rng.random_range(1000..4000));
        let until = Instant::now() + wait;
        while Instant::now() < until {
            supervise([&mut proc_a, &mut proc_b], &mut restarts_after_failure);
            std::thread::sleep(Duration::from_millis(50));
        }
        let faults = if disk.mounted { 5 } else { 4 };
        match rng.random_range(0..faults) {
            0 if proc_a.running() => {
                proc_a.kill();
                proc_a.start();
            }
            1 if proc_b.running() => {
                proc_b.kill();
                proc_b.start();
            }
            2 => {
                redis.kill();
                std::thread::sleep(Duration::from_millis(rng.random_range(100..3000)));
                redis.start();
            }
            3 => {
                s3.kill();
                std::thread::sleep(Duration::from_millis(rng.random_range(100..3000)));
                s3.start();
            }
            4 => {
                disk_fills += 1;
                filled_bytes += disk.fill();
                let until = Instant::now() + Duration::from_millis(rng.random_range(1000..4000));
                while Instant::now() < until {
                    supervise([&mut proc_a, &mut proc_b], &mut restarts_after_failure);
                    std::thread::sleep(Duration::from_millis(50));
                }
                disk.free();
            }
            _ => {}
        }
    }
    let faults_over = started.elapsed();
    eprintln!(
        "faults over after {:.0} s; running to the end",
        faults_over.as_secs_f64()
    );
    // No more faults: A runs to its end, then B drains Redis once more.
    let deadline = Instant::now() + Duration::from_secs(900);
    while !proc_a.finished {
        assert!(
            Instant::now() < deadline,
            "A did not finish; logs in {}",
            logs.display()
        );
        if proc_a.reap() == Some(false) {
            restarts_after_failure += 1;
            proc_a.start();
        }
        if pb_idle(&mut proc_b, &mut restarts_after_failure) {
            proc_b.start();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    loop {
        assert!(
            Instant::now() < deadline,
            "B did not finish; logs in {}",
            logs.display()
        );
        match proc_b.reap() {
            Some(true) => break,
            Some(false) => {
                restarts_after_failure += 1;
                proc_b.start();
            }
            None if !proc_b.running() => proc_b.start(),
            None => {}
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // One last drain of B after A's end: what A put last is read.
    proc_b.start();
    while proc_b.reap().is_none() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let total = started.elapsed();

    let in_s3 = delivered(&s3_root.join("lake/clicks"));
    let in_local = delivered(&bucket_b.join("loaded"));
    let catalog = Command::new(&cli)
        .args([
            "query",
            "--catalog",
            "catalog.json",
            "--format",
            "json",
            "SELECT COUNT(DISTINCT event_id) AS n FROM clicks",
        ])
        .current_dir(&dir_a)
        .env("AWS_ACCESS_KEY_ID", "AKCHAOS")
        .env("AWS_SECRET_ACCESS_KEY", "SKCHAOS")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let catalog_text = String::from_utf8_lossy(&catalog.stdout).into_owned();

    println!("chaos soak, seed {}", a.seed);
    println!(
        "  {:.0} s of faults, {:.0} s in all",
        faults_over.as_secs_f64(),
        total.as_secs_f64()
    );
    for p in [&proc_a, &proc_b, &redis, &s3] {
        println!(
            "  {}: {} SIGKILLs, {} starts, {} runs ended by a fault they reported",
            p.name,
            p.kills,
            p.starts,
            p.failures.len()
        );
    }
    println!("  {restarts_after_failure} restarts after a run ended on a fault it reported");
    println!(
        "  small disk filled {disk_fills} times ({} MiB written to fill it)",
        filled_bytes >> 20
    );
    let mut reported: Vec<&str> = proc_a
        .failures
        .iter()
        .chain(&proc_b.failures)
        .map(|(_, l)| l.as_str())
        .collect();
    reported.sort();
    reported.dedup();
    for line in reported.iter().take(12) {
        println!("  reported: {line}");
    }
    let mut ok = true;
    for (what, d) in [("S3 bucket (A)", &in_s3), ("local bucket (B)", &in_local)] {
        let missing = a.records - d.ids.len() as u64;
        let extra = d
            .ids
            .iter()
            .filter(|&&i| i < 0 || i >= a.records as i64)
            .count();
        println!(
            "  {what}: {} objects, {} records, {} distinct ids of {}, {} duplicates, {} missing, {} partial objects, {} staging files left",
            d.objects,
            d.records,
            d.ids.len(),
            a.records,
            d.records - d.ids.len() as u64,
            missing,
            d.partial.len(),
            d.staging
        );
        ok &= missing == 0 && extra == 0 && d.partial.is_empty();
    }
    let counted = catalog_text.contains(&format!("{}", a.records));
    println!(
        "  catalog: {}",
        if counted {
            format!("COUNT(DISTINCT event_id) = {}", a.records)
        } else {
            format!(
                "unexpected answer {catalog_text:?} {}",
                String::from_utf8_lossy(&catalog.stderr)
            )
        }
    );
    ok &= counted;
    if !ok {
        eprintln!("FAILED; logs in {}", logs.display());
        // Keep the evidence.
        let kept = root.keep();
        eprintln!("kept {}", kept.display());
        drop(disk);
        std::process::exit(1);
    }
    println!("  every record delivered, every object whole");
}

/// B between runs while A still works: it ended (idle or failed) and must go on.
fn pb_idle(b: &mut Proc, restarts: &mut usize) -> bool {
    match b.reap() {
        Some(false) => {
            *restarts += 1;
            true
        }
        Some(true) => true,
        None => !b.running(),
    }
}
