//! The real-time half: an in-process sharded stream and the pieces around it.

pub mod broker;
pub mod durable;
pub mod generator;
pub mod limits;
pub mod metrics;
pub mod records;
pub mod script;
pub mod series;
pub mod topic;
pub mod windows;
