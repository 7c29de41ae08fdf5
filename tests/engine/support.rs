//! Shared helpers: scratch folders, a lake built from the real files in `tests/data`,
//! and running the CLI binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;
use tributary_engine::arrow::array::{Date32Array, Float64Array, RecordBatch, StringArray};
use tributary_engine::arrow::datatypes::{DataType, Field, Schema};
use tributary_engine::datafusion::parquet::arrow::ArrowWriter;

/// The repository's `tests/data` folder.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(name)
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// A scratch folder, removed when dropped.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("tributary-test-")
        .tempdir()
        .unwrap()
}

/// What a CLI call printed and returned.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the headless CLI binary with `args` in `cwd`.
pub fn cli_in(cwd: &Path, args: &[&str]) -> Output {
    cli_env(cwd, args, &[])
}

/// Runs the headless CLI binary with `args` in `cwd`, with environment variables set
/// (`Some`) or removed (`None`).
pub fn cli_env(cwd: &Path, args: &[&str], env: &[(&str, Option<&str>)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tributary-cli"));
    cmd.args(args).current_dir(cwd);
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd.output().expect("the CLI binary runs");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A project run with `run --json`: what the CLI printed and the summary it printed.
#[derive(Debug)]
pub struct Run {
    /// The CLI's output.
    pub out: Output,
    /// The JSON summary (`status`, `nodes`, `warnings`).
    pub summary: Value,
}

impl Run {
    /// The run's status: `ok`, `error` or `stopped`.
    pub fn status(&self) -> &str {
        self.summary["status"].as_str().unwrap_or_default()
    }

    /// The summary of node `id` (panics, showing the summary, when there is none).
    pub fn node(&self, id: &str) -> &Value {
        self.summary["nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|n| n["id"] == id))
            .unwrap_or_else(|| panic!("no node '{id}' in the summary: {:?}", self.out))
    }

    /// This run, asserting that it succeeded.
    pub fn ok(self) -> Self {
        assert!(
            self.out.code == 0 && self.status() == "ok",
            "the run failed: {:?}",
            self.out
        );
        self
    }

    /// The `stats.detail` report of node `id`.
    pub fn detail(&self, id: &str) -> &Value {
        &self.node(id)["stats"]["detail"]
    }
}

/// Runs the project file `path` with `run --json` and `args` in `cwd`, with environment
/// changes `env` (see [`cli_env`]). Returns the run whatever its status; the CLI must
/// have printed a summary.
pub fn run_file(cwd: &Path, path: &Path, args: &[&str], env: &[(&str, Option<&str>)]) -> Run {
    let path = path.to_str().unwrap();
    let mut all = vec!["run", path, "--json"];
    all.extend(args);
    let out = cli_env(cwd, &all, env);
    let summary: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("the run printed no JSON summary ({e}): {out:?}"));
    Run { out, summary }
}

/// Writes `project` to `cwd/name` and runs it as [`run_file`] does.
pub fn try_run_env(
    cwd: &Path,
    name: &str,
    project: &Value,
    args: &[&str],
    env: &[(&str, Option<&str>)],
) -> Run {
    let path = cwd.join(name);
    write(&path, serde_json::to_string_pretty(project).unwrap());
    run_file(cwd, &path, args, env)
}

/// [`try_run_env`] without environment changes.
pub fn try_run(cwd: &Path, name: &str, project: &Value, args: &[&str]) -> Run {
    try_run_env(cwd, name, project, args, &[])
}

/// [`try_run`], asserting that the run succeeded.
pub fn run_ok(cwd: &Path, name: &str, project: &Value, args: &[&str]) -> Run {
    try_run(cwd, name, project, args).ok()
}

/// Writes `text` to `path`, creating folders.
pub fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Gzips `bytes`.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Builds a lake of real files with real quirks under `root`:
/// - `weather/` CSV with dates written `2012/01/01`;
/// - `planes/` CSV with `NA` nulls;
/// - `cars/` one top-level JSON array; `cars_lines/` the same as JSON lines;
/// - `stocks/` gzip CSV with dates written `Jan 1 2000`;
/// - `stocks_parquet/` the same as Parquet;
/// - `weather_by_year/year=YYYY/` hive partitions;
/// - marker and hidden files that must be skipped.
pub fn build_lake(root: &Path) {
    let weather = std::fs::read_to_string(data("seattle-weather.csv")).unwrap();
    write(&root.join("weather/seattle-weather.csv"), &weather);
    write(
        &root.join("weather/.seattle-weather.csv.crc"),
        b"\x00\x01crc",
    );
    write(&root.join("weather/_SUCCESS"), b"");
    std::fs::copy(data("planes.csv"), {
        std::fs::create_dir_all(root.join("planes")).unwrap();
        root.join("planes/planes.csv")
    })
    .unwrap();
    let cars = std::fs::read_to_string(data("cars.json")).unwrap();
    write(&root.join("cars/cars.json"), &cars);
    let values: Vec<serde_json::Value> = serde_json::from_str(&cars).unwrap();
    let lines: String = values.iter().map(|v| format!("{v}\n")).collect();
    write(&root.join("cars_lines/cars.jsonl"), &lines);
    let stocks = std::fs::read(data("stocks.csv")).unwrap();
    write(&root.join("stocks/stocks.csv.gz"), gzip(&stocks));
    write_stocks_parquet(&root.join("stocks_parquet/stocks.parquet"));

    let mut lines = weather.lines();
    let header = lines.next().unwrap();
    for year in 2012..=2015 {
        let rows: Vec<&str> = lines
            .clone()
            .filter(|l| l.starts_with(&format!("{year}/")))
            .collect();
        write(
            &root.join(format!("weather_by_year/year={year}/part-0.csv")),
            format!("{header}\n{}\n", rows.join("\n")),
        );
    }
}

/// Writes stocks.csv as Parquet with typed columns (symbol, date, price).
pub fn write_stocks_parquet(path: &Path) {
    let text = std::fs::read_to_string(data("stocks.csv")).unwrap();
    let mut symbols = Vec::new();
    let mut dates = Vec::new();
    let mut prices = Vec::new();
    for line in text.lines().skip(1) {
        let parts: Vec<&str> = line.split(',').collect();
        symbols.push(parts[0].to_owned());
        let d = chrono::NaiveDate::parse_from_str(parts[1], "%b %d %Y").unwrap();
        dates.push((d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32);
        prices.push(parts[2].parse::<f64>().unwrap());
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("symbol", DataType::Utf8, false),
        Field::new("date", DataType::Date32, false),
        Field::new("price", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(symbols)),
            Arc::new(Date32Array::from(dates)),
            Arc::new(Float64Array::from(prices)),
        ],
    )
    .unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// Crawls `lake` into `catalog` through the CLI and asserts it worked.
pub fn crawl(cwd: &Path, lake: &Path, catalog: &Path) -> Output {
    let out = cli_in(
        cwd,
        &[
            "crawl",
            lake.to_str().unwrap(),
            "--catalog",
            catalog.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "crawl failed: {out:?}");
    out
}

/// Runs read-only SQL through the CLI and returns stdout, asserting success.
pub fn query(cwd: &Path, catalog: &Path, sql: &str) -> String {
    let out = cli_in(cwd, &["query", "--catalog", catalog.to_str().unwrap(), sql]);
    assert_eq!(out.code, 0, "query failed: {out:?}");
    out.stdout
}

/// Every file below `dir`, relative, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if !dir.exists() {
        return out;
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(
                    e.path()
                        .strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

/// Asserts that `actual` equals the lines of `expected` (a whole printed table).
pub fn assert_table(actual: &str, expected: &[&str]) {
    let actual_lines: Vec<&str> = actual.trim_end().lines().collect();
    assert_eq!(
        actual_lines,
        expected,
        "\nexpected:\n{}\nactual:\n{}",
        expected.join("\n"),
        actual
    );
}

/// Every JSON record in the files under `dir`, files in name order.
/// The records AWS's error records (under a Firehose's error prefix) carry in `rawData`,
/// each parsed as JSON.
pub fn raw_data(errors: &[Value]) -> Vec<Value> {
    use base64::Engine as _;
    errors
        .iter()
        .map(|e| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(
                    e["rawData"]
                        .as_str()
                        .expect("an AWS error record has rawData"),
                )
                .unwrap();
            serde_json::from_slice(&bytes).unwrap()
        })
        .collect()
}

/// Copies the files below `from` into `to`, keeping the layout (following symlinks).
pub fn copy_tree(from: &Path, to: &Path) {
    for f in files_under(from) {
        let target = to.join(&f);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&f), target).unwrap();
    }
}

pub fn records_under(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    // `name#N` files are object_store's staging files a killed writer left behind.
    for f in files_under(dir).into_iter().filter(|f| !f.contains('#')) {
        let bytes = std::fs::read(dir.join(&f)).unwrap();
        let text = if f.ends_with(".gz") {
            use std::io::Read as _;
            let mut s = String::new();
            flate2::read::GzDecoder::new(bytes.as_slice())
                .read_to_string(&mut s)
                .unwrap();
            s
        } else {
            String::from_utf8(bytes).unwrap()
        };
        out.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    out
}

/// Each node's last preview, by node id.
pub type Previews = std::collections::BTreeMap<String, tributary_engine::arrow::array::RecordBatch>;

/// Runs `project` in-process in `dir`: each node's last preview (a table's rows, a chart's
/// points), and the error of each node that failed.
pub fn previews_in(
    dir: &std::path::Path,
    project: serde_json::Value,
) -> (Previews, std::collections::BTreeMap<String, String>) {
    let project = tributary_engine::Project::from_json(&project.to_string()).unwrap();
    let mut last = std::collections::BTreeMap::new();
    let (_, summary) = tributary_engine::engine::run_project_blocking(
        project,
        dir.to_path_buf(),
        tributary_engine::RunTarget::All,
        |ev| {
            if let tributary_engine::Event::Preview {
                node,
                schema,
                batches,
                ..
            } = ev
            {
                let all = tributary_engine::arrow::compute::concat_batches(schema, batches);
                last.insert(node.clone(), all.unwrap());
            }
        },
    )
    .unwrap();
    let errors = summary
        .iter()
        .filter(|s| s.status == tributary_engine::NodeStatus::Error)
        .map(|s| (s.id.clone(), s.error.clone().unwrap_or_default()))
        .collect();
    (last, errors)
}
