//! Functions as AWS Lambda runs them: the user's handler in Python or Node.js, unchanged,
//! driven through the **Lambda Runtime API** by the official runtime interface clients
//! (`awslambdaric` from PyPI, `aws-lambda-ric` from npm) as worker processes.
//!
//! Each worker is one process with its own Runtime API server on loopback
//! (`runtime_api.rs`), so an invocation is always tied to the process running it: a
//! timeout, a crash or too much memory kills exactly that process, as Lambda does with
//! its sandbox (`worker.rs`). A [`Function`] keeps its workers warm between invocations,
//! one per concurrent invocation, and logs each as CloudWatch does (`pool.rs`).
//! `runtimes.rs` finds or installs the interpreters, the clients and each function's
//! requirements; `events.rs` has the event and response documents AWS defines;
//! `filter.rs` the event filtering patterns of an event source mapping.

pub mod events;
pub mod filter;
pub mod pool;
pub mod runtime_api;
pub mod runtimes;
pub mod worker;

pub use pool::{Function, Invoked};
pub use runtimes::{Toolchain, toolchain};
pub use worker::{FunctionSpec, InvokeError, Language, Worker};
