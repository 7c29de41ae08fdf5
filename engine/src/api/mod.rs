//! The engine's public API: the bottom layer.
//!
//! Run ids, events, environments, stop signals, node statistics, problems and the
//! setting enums. `lake/` and `stream/` build on this, node kinds on those, the runner on
//! the node kinds and the CLI on the runner; nothing here imports a layer above it.

pub mod choice;
pub mod clock;
pub mod cost;
pub mod environment;
pub mod events;
pub mod faults;
pub mod problem;
pub mod replay;
pub mod stats;
pub mod stop;
pub mod timeline;

pub use clock::{Clock, ClockMode};
pub use environment::{Environment, LOCAL_ENV};
pub use events::{
    Event, EventSink, EventTx, LogLevel, NodeStatus, NodeSummary, Notify, RunId, RunTarget,
};
pub use problem::{Problem, ProblemSubject};
pub use replay::{Replay, ReplayFrom, ReplayRun};
pub use stats::{NodeStats, Report, StreamingTotals};
pub use stop::StopSignal;
