//! Data-driven end-to-end cases: each folder under `tests/pipelines` is one pipeline.
//!
//! A case folder holds `project.json`, its input files under `data/` (copied into a
//! scratch folder as they are laid out there; symlinks to `tests/data` are followed),
//! and `expected.json`:
//! - `status`: the run's status (`ok`, `error`);
//! - `nodes`: per node id, values the node's line of `run --json` must have (objects are
//!   compared key by key, so a case names only what it checks);
//! - `errors`: per node id, text its error must contain;
//! - `queries`: `{catalog, sql, table}`: `tributary query` prints exactly `table`;
//! - `records`: per folder, the JSON records in the files below it;
//! - `folders`: per folder, its sub-folders; `suffix`: per folder, how every file below
//!   it ends; `empty`: folders with no files below them;
//! - `refused`: for a project refused before it runs, the lines the CLI prints.
//!
//! A case named `error_*` is one whose run is expected to fail. With
//! `TRIBUTARY_BLESS=1`, the values a case names are rewritten from what the run gave
//! (`errors` excepted); review the diff before committing it.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::*;

#[test]
fn every_pipeline_case_gives_its_expected_outputs() {
    let root = repo_root().join("tests/pipelines");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("project.json").exists())
        .collect();
    cases.sort();
    assert!(cases.len() >= 5, "cases: {cases:?}");
    let bless = std::env::var_os("TRIBUTARY_BLESS").is_some();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let name = case.file_name().unwrap().to_string_lossy().into_owned();
            let problems = run_case(case, bless);
            (!problems.is_empty()).then(|| format!("case {name}:\n  {}", problems.join("\n  ")))
        })
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// Runs one case; returns what differed from its expectations.
fn run_case(case: &Path, bless: bool) -> Vec<String> {
    let dir = scratch();
    if case.join("data").exists() {
        copy_tree(&case.join("data"), dir.path());
    }
    let project = dir.path().join("project.json");
    std::fs::copy(case.join("project.json"), &project).unwrap();
    let expected_path = case.join("expected.json");
    let mut expected: Value =
        serde_json::from_str(&std::fs::read_to_string(&expected_path).unwrap()).unwrap();
    let mut c = Checker {
        bless,
        problems: Vec::new(),
    };
    if let Some(want) = expected.get_mut("refused") {
        // A project refused before it runs: the CLI prints every problem on stderr.
        let out = cli_in(dir.path(), &["run", "project.json", "--json"]);
        let lines = out.stderr.lines().map(|l| json!(l)).collect();
        c.check("refused".to_owned(), want, Value::Array(lines));
        if out.code != 1 || !out.stdout.is_empty() {
            c.problems
                .push(format!("the project was not refused: {out:?}"));
        }
        return c.finish(&expected_path, &expected);
    }
    let run = run_file(dir.path(), &project, &[], &[]);
    let is_error_case = case
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("error_"));
    if is_error_case == (run.status() == "ok") {
        c.problems.push(format!(
            "an error_ case must fail and others succeed; the run was {}: {:?}",
            run.status(),
            run.out
        ));
    }
    let exp = expected.as_object_mut().unwrap();
    if let Some(want) = exp.get_mut("status") {
        c.check("status".to_owned(), want, json!(run.status()));
    }
    if let Some(Value::Object(nodes)) = exp.get_mut("nodes") {
        for (id, want) in nodes.iter_mut() {
            c.compare(&format!("node {id}"), want, run.node(id));
        }
    }
    if let Some(Value::Object(errors)) = exp.get("errors") {
        for (id, text) in errors {
            let error = run.node(id)["error"].as_str().unwrap_or_default();
            let text = text.as_str().unwrap_or_default();
            if !error.contains(text) {
                c.problems
                    .push(format!("node {id}: the error '{error}' lacks '{text}'"));
            }
        }
    }
    if let Some(Value::Array(queries)) = exp.get_mut("queries") {
        for q in queries {
            let (catalog, sql) = (q["catalog"].as_str().unwrap(), q["sql"].as_str().unwrap());
            let out = cli_in(dir.path(), &["query", "--catalog", catalog, sql]);
            let lines: Vec<Value> = if out.code == 0 {
                out.stdout.trim_end().lines().map(|l| json!(l)).collect()
            } else {
                vec![json!(format!("failed: {}", out.stderr.trim()))]
            };
            c.check(format!("query {sql}"), &mut q["table"], Value::Array(lines));
        }
    }
    for (key, measure) in [
        ("records", records as fn(&Path) -> Value),
        ("folders", folders),
        ("suffix", suffix),
    ] {
        if let Some(Value::Object(by_folder)) = exp.get_mut(key) {
            for (folder, want) in by_folder.iter_mut() {
                let got = measure(&dir.path().join(folder));
                c.check(format!("{key} of {folder}"), want, got);
            }
        }
    }
    if let Some(Value::Array(empty)) = exp.get("empty") {
        for folder in empty {
            let files = files_under(&dir.path().join(folder.as_str().unwrap()));
            if !files.is_empty() {
                c.problems.push(format!("{folder} holds {files:?}"));
            }
        }
    }
    c.finish(&expected_path, &expected)
}

/// Compares expected values with what a run gave: records each difference, or takes
/// the new value when blessing.
struct Checker {
    bless: bool,
    problems: Vec<String>,
}

impl Checker {
    /// The differences found; when blessing, `expected` is written back first.
    fn finish(self, path: &Path, expected: &Value) -> Vec<String> {
        if self.bless {
            let text = serde_json::to_string_pretty(expected).unwrap() + "\n";
            std::fs::write(path, text).unwrap();
        }
        self.problems
    }

    fn check(&mut self, what: String, want: &mut Value, got: Value) {
        if *want == got {
            return;
        }
        if self.bless {
            *want = got;
        } else {
            self.problems
                .push(format!("{what}: expected {want}, got {got}"));
        }
    }

    /// Compares the values `want` names with `got`, key by key for objects.
    fn compare(&mut self, what: &str, want: &mut Value, got: &Value) {
        match want {
            Value::Object(fields) => {
                for (k, w) in fields.iter_mut() {
                    self.compare(&format!("{what}.{k}"), w, &got[k.as_str()]);
                }
            }
            _ => self.check(what.to_owned(), want, got.clone()),
        }
    }
}

/// JSON records in the files below `dir`.
fn records(dir: &Path) -> Value {
    json!(records_under(dir).len())
}

/// The folders directly below `dir`, sorted.
fn folders(dir: &Path) -> Value {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    json!(names)
}

/// How every file below `dir` ends (their longest common ending after the first dot),
/// or `null` when there are none.
fn suffix(dir: &Path) -> Value {
    let files = files_under(dir);
    let endings: std::collections::BTreeSet<String> = files
        .iter()
        .map(|f| {
            let name = f.rsplit('/').next().unwrap_or(f);
            name.find('.')
                .map(|i| name[i..].to_owned())
                .unwrap_or_default()
        })
        .collect();
    match endings.len() {
        1 => json!(endings.into_iter().next()),
        0 => Value::Null,
        _ => json!(endings.into_iter().collect::<Vec<_>>()),
    }
}
