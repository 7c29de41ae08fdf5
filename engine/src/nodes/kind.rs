//! What a node kind declares about itself: its name, palette group, description, icon,
//! typed ports, settings form, validation and run. Each kind is one file implementing
//! [`Kind`]; the registry in `mod.rs` lists them, one line each.

use std::fmt;
use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::context::{NodeContext, NodeOutput};
use super::form::{Field, FieldProblem};
use crate::error::Result;

/// What flows along an edge. Ports of different types cannot be wired together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PortType {
    /// A bucket: a place objects are listed from and written to.
    Objects,
    /// What a crawler found, on its way into a catalog.
    Crawl,
    /// A data catalog that SQL can query.
    Catalog,
    /// A table of rows (Arrow record batches).
    Table,
    /// An unbounded stream of records.
    Stream,
    /// Rows of either: a table or a stream. A visual transform's ports are of this type;
    /// its output carries what arrives at its input (a table in, a table out).
    Rows,
}

impl PortType {
    /// Whether an output carrying `self` may feed an input declared `input`. `Rows` on
    /// either side matches tables and streams (an output whose input is not connected
    /// yet carries `Rows`: anything may follow it until it is).
    pub fn feeds(self, input: PortType) -> bool {
        self == input
            || (input == Self::Rows && matches!(self, Self::Table | Self::Stream))
            || (self == Self::Rows && matches!(input, Self::Table | Self::Stream))
    }

    /// What an output declared `declared` carries, given what arrives at the node's
    /// `rows` inputs (`arriving`, in edge order): the first table or stream, else
    /// `Rows` (not known yet).
    pub fn carried(declared: PortType, arriving: impl IntoIterator<Item = PortType>) -> PortType {
        if declared != Self::Rows {
            return declared;
        }
        arriving
            .into_iter()
            .find(|t| matches!(t, Self::Table | Self::Stream))
            .unwrap_or(Self::Rows)
    }
}

impl fmt::Display for PortType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Objects => "objects",
            Self::Crawl => "crawl",
            Self::Catalog => "catalog",
            Self::Table => "table",
            Self::Stream => "stream",
            Self::Rows => "rows",
        })
    }
}

/// Whether a port takes data in or gives it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortDirection {
    /// An input port.
    Input,
    /// An output port.
    Output,
}

/// One typed port of a node kind. Kinds declare theirs as constants and use the
/// constants (never the name as a literal) when they read inputs and set outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortSpec {
    /// The port's name, used in edges.
    pub name: &'static str,
    /// What flows through it.
    pub ty: PortType,
    /// An input that must be connected for the node to run.
    pub required: bool,
    /// An input that takes several edges.
    pub multiple: bool,
}

impl PortSpec {
    /// An input port.
    pub const fn input(name: &'static str, ty: PortType) -> Self {
        Self {
            name,
            ty,
            required: false,
            multiple: false,
        }
    }

    /// An output port (outputs feed any number of edges).
    pub const fn output(name: &'static str, ty: PortType) -> Self {
        Self {
            name,
            ty,
            required: false,
            multiple: true,
        }
    }

    /// This input must be connected.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// This input takes several edges.
    pub const fn multiple(mut self) -> Self {
        self.multiple = true;
        self
    }
}

/// Palette groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Category {
    /// Where data comes from.
    Sources,
    /// Crawler and catalog.
    Lake,
    /// ETL and queries.
    Batch,
    /// Streams and their operators.
    Streaming,
    /// Visual transforms (Glue Studio's): on tables and on streams.
    Transforms,
    /// Tables, charts and dashboards.
    Outputs,
}

/// A node kind: everything the engine, the editor and the CLI know about it.
pub trait Kind: 'static {
    /// The typed settings. Serialized, they are the node's `config` in project files.
    type Config: Clone
        + fmt::Debug
        + Default
        + PartialEq
        + Serialize
        + DeserializeOwned
        + Send
        + Sync
        + 'static;
    /// The name in project files, e.g. `crawler`.
    const NAME: &'static str;
    /// Palette group.
    const CATEGORY: Category;
    /// One line for the palette.
    const DESCRIPTION: &'static str;
    /// An icon (one glyph) for the palette and the canvas.
    const ICON: &'static str;
    /// Input ports, in the order the canvas shows them.
    const INPUTS: &'static [PortSpec];
    /// Output ports, in the order the canvas shows them.
    const OUTPUTS: &'static [PortSpec];
    /// The settings form: one entry per setting of [`Kind::Config`], in display order.
    const FIELDS: &'static [Field];

    /// Rules beyond types, each problem at the path of the setting it is about.
    fn validate(_config: &Self::Config) -> Vec<FieldProblem> {
        Vec::new()
    }

    /// Brings a `config` written by an older project format (`from_version`) up to date,
    /// before it is parsed: renamed settings, changed units, old defaults kept.
    fn migrate(_from_version: u32, _config: &mut serde_json::Map<String, serde_json::Value>) {}

    /// What this run of the node would have cost in AWS, from what it measured (`stats`,
    /// its report) and the price file; `None` for a kind no AWS service bills.
    fn cost(
        _config: &Self::Config,
        _stats: &crate::api::NodeStats,
        _prices: &crate::api::cost::Prices,
    ) -> Option<crate::api::cost::Cost> {
        None
    }

    /// The SQL the node runs, for kinds that are SQL underneath (the visual transforms):
    /// shown in the inspector so users learn it, and kept by an export. `arriving`: the
    /// columns at each connected input edge as (port, columns), empty when not known
    /// yet (before a run the statement may show `*` where it will list columns).
    fn sql(_config: &Self::Config, _arriving: &[(String, Vec<String>)]) -> Option<String> {
        None
    }

    /// Runs the node: turns its inputs into outputs. A streaming kind only wires itself
    /// here and returns the task the runner drives (see `operator.rs`).
    fn run(
        config: &Self::Config,
        ctx: &NodeContext<'_>,
    ) -> impl Future<Output = Result<NodeOutput>> + Send;
}
