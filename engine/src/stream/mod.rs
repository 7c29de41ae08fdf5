//! The real-time half: an in-process sharded stream and the pieces around it.

pub mod generator;
pub mod metrics;
pub mod topic;
