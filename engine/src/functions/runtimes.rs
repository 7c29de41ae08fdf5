//! Where a function's runtime comes from: the interpreter with its runtime interface
//! client, and the function's own requirements, installed like `sam build` into a cache
//! folder keyed by their hash.
//!
//! - Python: a virtual environment with `awslambdaric` (PyPI), made once with the
//!   machine's `python3`; `TRIBUTARY_PYTHON` names a Python that has it instead.
//! - Node.js: `aws-lambda-ric` (npm) installed once with `npm`, run by the machine's
//!   `node`; `TRIBUTARY_NODE_RIC` names an installed package folder instead.
//! - Requirements (`requirements`, a `requirements.txt` or `package.json` in the code
//!   folder) go to `<cache>/functions/<language>-<hash>/`, installed into a temporary
//!   folder and renamed into place, so a half-done install is never used.
//!
//! The cache is `TRIBUTARY_CACHE`, else `$XDG_CACHE_HOME/tributary`, else
//! `~/.cache/tributary`. Installs take a lock file, so two runs never install at once.

use std::path::{Path, PathBuf};
use std::process::Command;

use md5::{Digest as _, Md5};

use super::worker::Language;
use crate::error::{Error, Result};

/// The `awslambdaric` release installed for Python functions.
pub const AWSLAMBDARIC: &str = "awslambdaric==4.2.2";
/// The `aws-lambda-ric` release installed for Node.js functions (the newest that runs on
/// Node.js 20; 4.x needs Node.js 22).
pub const AWS_LAMBDA_RIC: &str = "aws-lambda-ric@3.3.0";

/// What runs a language's handlers.
#[derive(Clone, Debug)]
pub struct Toolchain {
    /// The interpreter (a Python with `awslambdaric`, or `node`).
    pub interpreter: PathBuf,
    /// For Node.js, the `aws-lambda-ric` package folder.
    pub ric: Option<PathBuf>,
    /// The interpreter's version (`Python 3.11.9`, `v20.20.2`).
    pub version: String,
}

/// The cache folder for runtimes and requirements.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TRIBUTARY_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("tributary");
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache/tributary"),
        None => std::env::temp_dir().join("tributary-cache"),
    }
}

/// Finds (or installs, the first time) what runs `language`'s handlers. Blocking: call it
/// off the async threads. `log` gets a line per install step.
pub fn toolchain(language: Language, log: &dyn Fn(String)) -> Result<Toolchain> {
    match language {
        Language::Python => python(log),
        Language::Node => node(log),
    }
}

fn python(log: &dyn Fn(String)) -> Result<Toolchain> {
    if let Some(p) = std::env::var_os("TRIBUTARY_PYTHON").filter(|p| !p.is_empty()) {
        let interpreter = PathBuf::from(p);
        let version = version_of(&interpreter, "--version").map_err(|e| {
            Error::Invalid(format!(
                "TRIBUTARY_PYTHON is '{}', which does not run: {e}",
                interpreter.display()
            ))
        })?;
        return Ok(Toolchain {
            interpreter,
            ric: None,
            version,
        });
    }
    let system = find_on_path("python3").ok_or_else(|| {
        Error::Invalid(
            "python3 is not installed (or not on PATH): Python functions need Python 3 \
             (e.g. `apt-get install python3 python3-venv`)"
                .to_owned(),
        )
    })?;
    let dir = cache_dir().join("runtimes/python-awslambdaric-4.2.2");
    let interpreter = dir.join("bin/python");
    installed_once(
        &dir,
        log,
        "awslambdaric (the Lambda runtime interface client)",
        |tmp| {
            run_tool(Command::new(&system).arg("-m").arg("venv").arg(tmp))?;
            // The venv's own python knows it lives in `tmp`; the folder is renamed after, so
            // run pip through it now and keep the venv relocatable-safe by using `python -m`.
            run_tool(
                Command::new(tmp.join("bin/python"))
                    .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
                    .arg("--cache-dir")
                    .arg(cache_dir().join("pip"))
                    .arg(AWSLAMBDARIC),
            )
        },
    )?;
    let version = version_of(&interpreter, "--version")?;
    Ok(Toolchain {
        interpreter,
        ric: None,
        version,
    })
}

fn node(log: &dyn Fn(String)) -> Result<Toolchain> {
    let interpreter = find_on_path("node").ok_or_else(|| {
        Error::Invalid(
            "node is not installed (or not on PATH): Node.js functions need Node.js 18 or newer"
                .to_owned(),
        )
    })?;
    let version = version_of(&interpreter, "--version")?;
    if let Some(p) = std::env::var_os("TRIBUTARY_NODE_RIC").filter(|p| !p.is_empty()) {
        return Ok(Toolchain {
            interpreter,
            ric: Some(PathBuf::from(p)),
            version,
        });
    }
    let npm = find_on_path("npm").ok_or_else(|| {
        Error::Invalid("npm is not installed (or not on PATH): it installs aws-lambda-ric".into())
    })?;
    let dir = cache_dir().join("runtimes/node-aws-lambda-ric-3.3.0");
    installed_once(
        &dir,
        log,
        "aws-lambda-ric (the Lambda runtime interface client; it builds native code, which needs cmake, autoconf, automake, libtool and g++)",
        |tmp| {
            std::fs::write(tmp.join("package.json"), "{\"private\": true}\n")
                .map_err(|e| Error::Invalid(format!("cannot write in {}: {e}", tmp.display())))?;
            run_tool(
                Command::new(&npm)
                    .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
                    .arg("--prefix")
                    .arg(tmp)
                    .arg("--cache")
                    .arg(cache_dir().join("npm"))
                    .arg(AWS_LAMBDA_RIC),
            )?;
            let ric = tmp.join("node_modules/aws-lambda-ric");
            if !ric.join("dist/rapid-client.node").is_file() {
                // An npm that skips install scripts: build the native client as they would.
                run_tool(
                    Command::new("sh")
                        .arg("scripts/preinstall.sh")
                        .current_dir(&ric),
                )?;
                run_tool(
                    Command::new("sh")
                        .arg("scripts/postinstall.sh")
                        .current_dir(&ric),
                )?;
            }
            Ok(())
        },
    )?;
    Ok(Toolchain {
        interpreter,
        ric: Some(dir.join("node_modules/aws-lambda-ric")),
        version,
    })
}

/// A function's dependencies: package specs plus the code folder's own requirement file.
/// Returns the folder to put on the import path (Python: the `--target` folder; Node.js:
/// its `node_modules`), or `None` when there is nothing to install.
pub fn requirements(
    language: Language,
    toolchain: &Toolchain,
    specs: &[String],
    code_dir: &Path,
    log: &dyn Fn(String),
) -> Result<Option<PathBuf>> {
    let file = match language {
        Language::Python => code_dir.join("requirements.txt"),
        Language::Node => code_dir.join("package.json"),
    };
    let file_text = std::fs::read_to_string(&file).ok();
    // A package.json without dependencies needs nothing; node_modules beside it is used
    // as it is (Node.js finds it by itself).
    let file_text = match (language, file_text) {
        (Language::Node, Some(_)) if code_dir.join("node_modules").is_dir() => None,
        (Language::Node, Some(t)) => {
            let deps = serde_json::from_str::<serde_json::Value>(&t)
                .ok()
                .and_then(|v| v.get("dependencies").cloned())
                .filter(|d| d.as_object().is_some_and(|o| !o.is_empty()));
            deps.map(|d| d.to_string())
        }
        (Language::Node, None) => None,
        (Language::Python, t) => t.filter(|t| t.lines().any(|l| !l.trim().is_empty())),
    };
    if specs.is_empty() && file_text.is_none() {
        return Ok(None);
    }
    let mut hash = Md5::new();
    hash.update(format!("{language:?}\n{}\n", toolchain.version));
    for s in specs {
        hash.update(s.as_bytes());
        hash.update(b"\n");
    }
    if let Some(t) = &file_text {
        hash.update(t.as_bytes());
    }
    let digest: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let lang = match language {
        Language::Python => "python",
        Language::Node => "node",
    };
    let dir = cache_dir().join(format!("functions/{lang}-{}", &digest[..16]));
    let what = format!(
        "the requirements ({})",
        specs
            .iter()
            .cloned()
            .chain(file_text.as_ref().map(|_| file.display().to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    installed_once(&dir, log, &what, |tmp| match language {
        Language::Python => {
            let mut cmd = Command::new(&toolchain.interpreter);
            cmd.args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
                .arg("--target")
                .arg(tmp)
                .arg("--cache-dir")
                .arg(cache_dir().join("pip"))
                .args(specs);
            if file_text.is_some() {
                cmd.arg("-r").arg(&file);
            }
            run_tool(&mut cmd)
        }
        Language::Node => {
            let npm = find_on_path("npm")
                .ok_or_else(|| Error::Invalid("npm is not installed (or not on PATH)".into()))?;
            let mut deps = serde_json::Map::new();
            if let Some(t) = &file_text
                && let Ok(serde_json::Value::Object(o)) = serde_json::from_str(t)
            {
                deps.extend(o);
            }
            for s in specs {
                // `name@version` (a scope's `@` first is part of the name).
                let (name, version) = match s[1..].find('@') {
                    Some(i) => (&s[..i + 1], &s[i + 2..]),
                    None => (s.as_str(), "*"),
                };
                deps.insert(name.to_owned(), serde_json::Value::from(version));
            }
            let package = serde_json::json!({"private": true, "dependencies": deps});
            std::fs::write(tmp.join("package.json"), package.to_string())
                .map_err(|e| Error::Invalid(format!("cannot write in {}: {e}", tmp.display())))?;
            run_tool(
                Command::new(npm)
                    .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
                    .arg("--prefix")
                    .arg(tmp)
                    .arg("--cache")
                    .arg(cache_dir().join("npm")),
            )
        }
    })?;
    Ok(Some(match language {
        Language::Python => dir,
        Language::Node => dir.join("node_modules"),
    }))
}

/// Runs `install` into a fresh temporary folder and renames it to `dir`, unless `dir` is
/// there already; holds `<dir>.lock` meanwhile.
fn installed_once(
    dir: &Path,
    log: &dyn Fn(String),
    what: &str,
    install: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|e| Error::Invalid(format!("cannot create {}: {e}", parent.display())))?;
    let lock_path = dir.with_extension("lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(|e| Error::Invalid(format!("cannot create {}: {e}", lock_path.display())))?;
    lock.lock()
        .map_err(|e| Error::Invalid(format!("cannot lock {}: {e}", lock_path.display())))?;
    if dir.is_dir() {
        return Ok(());
    }
    log(format!("installing {what} into {}", dir.display()));
    let started = std::time::Instant::now();
    let tmp = dir.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)
        .map_err(|e| Error::Invalid(format!("cannot create {}: {e}", tmp.display())))?;
    let result = install(&tmp).and_then(|()| {
        std::fs::rename(&tmp, dir).map_err(|e| {
            Error::Invalid(format!(
                "cannot move the install into {}: {e}",
                dir.display()
            ))
        })
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    } else {
        log(format!(
            "installed {what} in {:.1} s",
            started.elapsed().as_secs_f64()
        ));
    }
    result
}

/// Runs an install tool; its error output is the error.
fn run_tool(cmd: &mut Command) -> Result<()> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::Invalid(format!("cannot run {program}: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = text.lines().rev().take(8).collect();
    Err(Error::Invalid(format!(
        "{program} failed ({}): {}",
        out.status,
        tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
    )))
}

fn version_of(program: &Path, flag: &str) -> Result<String> {
    let out = Command::new(program)
        .arg(flag)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::Invalid(format!("cannot run {}: {e}", program.display())))?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    Ok(String::from_utf8_lossy(&text).trim().to_owned())
}

/// `name` found on `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
