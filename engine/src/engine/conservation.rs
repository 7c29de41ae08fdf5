//! Conservation at the Kinesis boundary: for every stream and every node reading it, the
//! records put into the stream (counted by the stream) against what the reader did with
//! them (counted by the reader): delivered (read and handed on, or dropped on purpose),
//! failed (to a `failed` output or an error prefix), expired (retention dropped them
//! before it read them) and in flight (still unread when the run ended). The two sides
//! are measured apart, so a balance that does not hold is a lost or doubled record.

use serde::Serialize;

use crate::api::NodeSummary;
use crate::nodes::ports::RECORDS_OUT;
use crate::nodes::stream::StreamReport;
use crate::project::Project;

/// One reader of one stream.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Flow {
    /// The stream node.
    pub stream: String,
    /// The node reading it.
    pub reader: String,
    /// Records put into the stream during the run.
    pub r#in: u64,
    /// Records the reader read and handed on (or dropped on purpose: a filter, a
    /// transformation function's `Dropped`).
    pub delivered: u64,
    /// Records the reader sent to its `failed` output or error prefix.
    pub failed: u64,
    /// Records retention dropped before the reader read them.
    pub expired: u64,
    /// Records still unread when the run ended.
    pub in_flight: u64,
}

impl Flow {
    /// Whether `in = delivered + failed + expired + in_flight`.
    pub fn balances(&self) -> bool {
        self.r#in == self.delivered + self.failed + self.expired + self.in_flight
    }
}

/// The run's conservation: the sums over every (stream, reader) pair, and each pair.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Conservation {
    /// Records put into streams, once per reader of each.
    pub r#in: u64,
    /// Delivered by the readers.
    pub delivered: u64,
    /// Failed at the readers.
    pub failed: u64,
    /// Expired before the readers read them.
    pub expired: u64,
    /// Unread at the end.
    pub in_flight: u64,
    /// Whether every pair balances.
    pub balanced: bool,
    /// Each (stream, reader) pair.
    pub flows: Vec<Flow>,
}

/// The conservation of a finished run of `project` with `summary` (its streams that
/// ran, and their readers that ran).
pub fn conservation(project: &Project, summary: &[NodeSummary]) -> Conservation {
    let line = |id: &str| summary.iter().find(|s| s.id == id);
    let mut out = Conservation {
        balanced: true,
        ..Default::default()
    };
    // A reader of several streams counts them together: it cannot be split by stream.
    let streams_into = |id: &str| {
        project
            .valid_edges()
            .filter(|e| e.to.node == id && e.from.port == RECORDS_OUT.name)
            .count()
    };
    for edge in project.valid_edges() {
        if edge.from.port != RECORDS_OUT.name || streams_into(&edge.to.node) != 1 {
            continue;
        }
        let (Some(stream), Some(reader)) = (line(&edge.from.node), line(&edge.to.node)) else {
            continue;
        };
        let Some(put) = stream.stats.report::<StreamReport>() else {
            continue;
        };
        let Some(totals) = reader.stats.streaming else {
            continue;
        };
        let read = reader.stats.records_in;
        let flow = Flow {
            stream: stream.id.clone(),
            reader: reader.id.clone(),
            r#in: put.records_put,
            delivered: read.saturating_sub(totals.errors),
            failed: totals.errors.min(read),
            expired: totals.expired,
            in_flight: totals.unread,
        };
        out.balanced &= flow.balances();
        out.r#in += flow.r#in;
        out.delivered += flow.delivered;
        out.failed += flow.failed;
        out.expired += flow.expired;
        out.in_flight += flow.in_flight;
        out.flows.push(flow);
    }
    out
}
