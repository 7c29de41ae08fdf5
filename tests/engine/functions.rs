//! Real handlers through the Lambda Runtime API: the official runtime interface client
//! (`awslambdaric`) runs an unchanged Python handler in a warm worker; results, errors,
//! timeouts, crashes and init errors come back as AWS reports them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use tributary_engine::functions::{FunctionSpec, InvokeError, Language, Worker};

/// The Python with `awslambdaric` that `scripts/test` sets up.
fn python() -> PathBuf {
    std::env::var_os("TRIBUTARY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::support::repo_root().join("target/tools/python/bin/python"))
}

fn spec(dir: &Path, handler: &str, timeout: Duration) -> FunctionSpec {
    FunctionSpec {
        name: "enrich".to_owned(),
        language: Language::Python,
        handler: handler.to_owned(),
        code_dir: dir.to_path_buf(),
        paths: Vec::new(),
        environment: [("GREETING".to_owned(), "hi".to_owned())].into(),
        timeout,
        memory_mb: 128,
        interpreter: python(),
        ric: None,
    }
}

const APP: &str = r#"
import os, sys, time
calls = 0

def handler(event, context):
    global calls
    calls += 1
    print(f"got {len(event['Records'])} records")
    return {
        "n": len(event["Records"]),
        "calls": calls,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "remaining_ok": 0 < context.get_remaining_time_in_millis() <= 3000,
        "greeting": os.environ["GREETING"],
    }

def fails(event, context):
    raise ValueError("bad record 7")

def slow(event, context):
    time.sleep(10)

def exits(event, context):
    sys.exit(1)
"#;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_python_handler_runs_warm_with_the_context_aws_gives() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.py"), APP).unwrap();
    runtime().block_on(async {
        let mut w = Worker::start(spec(dir.path(), "app.handler", Duration::from_secs(3)))
            .await
            .unwrap();
        let event =
            json!({"Records": [{"kinesis": {"data": "e30="}}, {"kinesis": {"data": "e30="}}]});
        let first = w.invoke("req-1", &event).await.unwrap().unwrap();
        assert_eq!(first["n"], 2);
        assert_eq!(first["request_id"], "req-1");
        assert_eq!(first["function_name"], "enrich");
        assert_eq!(first["memory"], "128");
        assert_eq!(first["remaining_ok"], true, "{first}");
        assert_eq!(first["greeting"], "hi");
        // Warm: the module's state survives between invocations.
        let second = w.invoke("req-2", &event).await.unwrap().unwrap();
        assert_eq!(second["calls"], 2);
        assert!(w.is_alive());
        // What the handler printed, linked to its request.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let log = w.log();
        assert!(
            log.iter()
                .any(|l| l.text.contains("got 2 records")
                    && l.request_id.as_deref() == Some("req-1")),
            "{log:?}"
        );
    });
}

#[test]
fn errors_timeouts_crashes_and_init_errors_are_reported_as_aws_does() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.py"), APP).unwrap();
    runtime().block_on(async {
        let event = json!({"Records": []});
        // An exception: its type, message and stack.
        let mut w = Worker::start(spec(dir.path(), "app.fails", Duration::from_secs(3)))
            .await
            .unwrap();
        let Err(InvokeError::Function {
            error_type,
            message,
            stack,
        }) = w.invoke("r1", &event).await.unwrap()
        else {
            panic!("expected the handler's error");
        };
        assert_eq!(
            (error_type.as_str(), message.as_str()),
            ("ValueError", "bad record 7")
        );
        assert!(stack.iter().any(|f| f.contains("app.py")), "{stack:?}");
        assert!(w.is_alive(), "an exception does not end the worker");
        // A timeout kills the worker, in AWS's words.
        let mut w = Worker::start(spec(dir.path(), "app.slow", Duration::from_secs(1)))
            .await
            .unwrap();
        let err = w.invoke("r2", &event).await.unwrap().unwrap_err();
        assert_eq!(err.to_string(), "Task timed out after 1.00 seconds");
        assert!(!w.is_alive());
        // sys.exit(1) ends the process.
        let mut w = Worker::start(spec(dir.path(), "app.exits", Duration::from_secs(3)))
            .await
            .unwrap();
        let err = w.invoke("r3", &event).await.unwrap().unwrap_err();
        assert_eq!(err.to_string(), "Runtime exited with error: exit status 1");
        // A handler that cannot be imported.
        let mut w = Worker::start(spec(dir.path(), "missing.handler", Duration::from_secs(3)))
            .await
            .unwrap();
        let err = w.invoke("r4", &event).await.unwrap().unwrap_err();
        assert_eq!(
            err,
            InvokeError::Init {
                error_type: "Runtime.ImportModuleError".to_owned(),
                message: "Unable to import module 'missing': No module named 'missing'".to_owned(),
            }
        );
    });
}
