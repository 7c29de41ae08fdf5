//! Functions as AWS Lambda runs them: the user's handler in Python or Node.js, unchanged,
//! driven through the **Lambda Runtime API** by the official runtime interface clients
//! (`awslambdaric` from PyPI, `aws-lambda-ric` from npm) as worker processes.
//!
//! Each worker is one process with its own Runtime API server on loopback
//! (`runtime_api.rs`), so an invocation is always tied to the process running it: a
//! timeout or a crash kills exactly that process, as Lambda does with its sandbox. A
//! worker stays warm between invocations (`worker.rs`).

pub mod runtime_api;
pub mod worker;

pub use worker::{FunctionSpec, InvokeError, Language, Worker};
