//! Tributary's headless engine.
//!
//! Layers, each depending only on the ones above it:
//! - [`project`]: the project document (nodes, edges, typed configs) and its validation.
//! - [`lake`]: the batch data lake (bucket, crawler, catalog, SQL, writers).
//! - [`nodes`]: one file per node kind; each turns its inputs into outputs.
//! - [`engine`]: the engine thread, its commands and events.
//! - [`cli`]: the headless command line, driving the engine through its API.

pub mod cli;
pub mod engine;
pub mod error;
pub mod fsutil;
pub mod lake;
pub mod nodes;
pub mod project;
pub mod stream;

pub use datafusion;
pub use datafusion::arrow;

pub use engine::{Command, Engine, Event, NodeStatus, RunId, RunTarget};
pub use error::{Error, Result};
pub use project::{Problem, Project};
