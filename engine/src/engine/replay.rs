//! Replay from here: which nodes a replay runs (the stream, what is downstream of it and
//! the batch nodes those need; nothing upstream) and the clock it runs on (driven, from the
//! first replayed record's arrival). `graph.rs` runs them; the replayed stream itself is
//! `nodes/stream/replay.rs`.

use std::collections::BTreeSet;

use crate::error::{Error, Result};
use crate::nodes::NodeConfig;
use crate::project::Project;

/// The nodes a replay from stream `from` runs, in order: the stream, everything
/// downstream of it, and the batch nodes those need (a Firehose's bucket and catalog, a
/// join's table); nothing upstream of the stream. A stream from elsewhere into one of
/// them is refused: its records would not be replayed.
pub(super) fn order(project: &Project, from: &str) -> Result<Vec<String>> {
    let Some(node) = project.node(from) else {
        return Err(Error::Invalid(format!("no node '{from}' in the project")));
    };
    if !matches!(node.config, NodeConfig::Stream(_)) {
        return Err(Error::Invalid(format!(
            "a replay starts from a stream node; '{from}' is a {}",
            node.kind().as_str()
        )));
    }
    let edges: Vec<&crate::project::Edge> = project.valid_edges().collect();
    let mut down = BTreeSet::from([from.to_owned()]);
    let mut stack = vec![from.to_owned()];
    while let Some(n) = stack.pop() {
        for e in edges.iter().filter(|e| e.from.node == n) {
            if down.insert(e.to.node.clone()) {
                stack.push(e.to.node.clone());
            }
        }
    }
    // What the downstream nodes need besides the stream, followed upstream.
    let mut needed = BTreeSet::new();
    let mut stack: Vec<String> = edges
        .iter()
        .filter(|e| down.contains(&e.to.node) && e.to.node != from && !down.contains(&e.from.node))
        .map(|e| e.from.node.clone())
        .collect();
    while let Some(n) = stack.pop() {
        if needed.insert(n.clone()) {
            stack.extend(
                edges
                    .iter()
                    .filter(|e| e.to.node == n)
                    .map(|e| e.from.node.clone()),
            );
        }
    }
    for e in edges.iter().filter(|e| needed.contains(&e.from.node)) {
        let streams = project
            .node(&e.from.node)
            .and_then(|n| {
                n.kind()
                    .port(crate::nodes::PortDirection::Output, &e.from.port)
            })
            .is_some_and(|p| {
                project.carried_type(&e.from.node, p) == crate::nodes::PortType::Stream
            });
        if streams && (down.contains(&e.to.node) || needed.contains(&e.to.node)) {
            return Err(Error::Invalid(format!(
                "replay from '{from}': '{}' also reads the stream of '{}', which is not downstream of '{from}' and would not be replayed",
                e.to.node, e.from.node
            )));
        }
    }
    Ok(project
        .topological_order()?
        .into_iter()
        .filter(|n| down.contains(n) || needed.contains(n))
        .collect())
}

/// A replay's clock: simulated, as fast as possible, from the first replayed record's
/// arrival, so what downstream times (windows, Firehose intervals, batching windows) sees
/// each record when it first arrived.
pub(super) fn clock(
    project: &Project,
    base_dir: &std::path::Path,
    replay: &crate::api::Replay,
) -> Result<crate::api::Clock> {
    let Some(NodeConfig::Stream(config)) = project.node(&replay.node).map(|n| &n.config) else {
        return Err(Error::Invalid(format!(
            "a replay starts from a stream node; '{}' is not one",
            replay.node
        )));
    };
    let start =
        crate::nodes::stream::replay::start_ms(config, base_dir, &replay.node, &replay.from)?;
    Ok(crate::api::Clock::simulated(start, 0.0))
}
