//! Tributary's headless engine.
//!
//! Layers, bottom to top; a module imports only from its own layer and those below:
//! 1. [`api`] (with [`error`] and [`fsutil`]): run ids, events, environments, stop
//!    signals, node statistics, problems, settings enums.
//! 2. [`lake`] (bucket, crawler, catalog, SQL, writers) and [`stream`] (topics, durable
//!    logs, the broker, records, scripts).
//! 3. [`aws`]: the AWS wire protocols (Kinesis, Firehose) on one loopback endpoint.
//! 4. [`nodes`]: one file per node kind, the registry, the settings forms and the
//!    streaming runner.
//! 5. [`project`]: the project document (nodes with typed configs, edges) and its
//!    validation.
//! 6. [`engine`]: the engine thread, its commands, a run of the graph, streaming
//!    supervision and the result cache; [`export`]: a project as a CloudFormation/SAM
//!    template and the code it deploys.
//! 7. [`cli`]: the headless command line, driving the engine through its API.
//!
//! `scripts/layers` checks the rule (ARCHITECTURE.md says how).

pub mod api;
pub mod aws;
pub mod cli;
pub mod engine;
pub mod error;
pub mod export;
pub mod fsutil;
pub mod functions;
pub mod lake;
pub mod nodes;
pub mod project;
pub mod stream;

pub use datafusion;
pub use datafusion::arrow;

pub use api::{Event, NodeStatus, Problem, RunId, RunTarget};
pub use engine::{Command, Engine};
pub use error::{Error, Result};
pub use project::Project;
