//! The project document: format version, nodes and edges.
//!
//! A project is a JSON file. Nodes have a stable string id, a kind, a display name, a
//! canvas position and a typed config; edges go from a node's output port to a node's
//! input port. Files are pretty-printed with a stable key order and written atomically.
//! Loading reports every problem at once, one line each, naming the node or edge.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::{Clock, ClockMode};
pub use crate::api::{Environment, LOCAL_ENV, Problem, ProblemSubject};
use crate::error::{Error, Result};
pub use crate::fsutil::resolve_path;
use crate::nodes::{NodeConfig, NodeKind, PortDirection, PortSpec, PortType};

/// The newest project format this build reads and the one it writes.
pub const FORMAT_VERSION: u32 = 2;
// Format history (each kind's `Kind::migrate` brings older configs up to date):
// 1 → 2: Lambda settings take the CloudFormation names (`batch_window_ms` →
//        `maximum_batching_window_in_seconds`, `retry_attempts` →
//        `maximum_retry_attempts`, …) and the runtime `script` is `rhai`.

/// A whole project: what the canvas shows and what the engine runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// Format version of the file; newer than [`FORMAT_VERSION`] is refused.
    pub format_version: u32,
    /// Free-form display name.
    #[serde(default)]
    pub name: String,
    /// The nodes, in the order they were created.
    pub nodes: Vec<Node>,
    /// The edges, in the order they were created.
    #[serde(default)]
    pub edges: Vec<Edge>,
    /// Named execution environments besides the built-in `local` one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environments: BTreeMap<String, Environment>,
    /// The environment runs use: `local` (the default) or a key of `environments`.
    #[serde(default = "local_env", skip_serializing_if = "is_local_env")]
    pub environment: String,
    /// How the Charts tab lays out the chart nodes (the designer's; runs ignore it).
    #[serde(default, skip_serializing_if = "Dashboard::is_default")]
    pub dashboard: Dashboard,
    /// AWS realism: streams keep Kinesis's per-shard write limits (puts beyond them are
    /// throttled and retried), and retention is a deadline (a reader that falls behind
    /// loses what expires) instead of a wait. On for a new project; a file without the
    /// setting (written before it existed) loads with it off, as it ran then.
    #[serde(default)]
    pub aws_realism: bool,
    /// How many runs stay recorded beside the project (`.tributary/runs/`: each node's
    /// table output and status, for `tributary runs` and `tributary diff`); the oldest go
    /// first, and 0 records none.
    #[serde(
        default = "default_runs_kept",
        skip_serializing_if = "is_default_runs_kept"
    )]
    pub runs_kept: usize,
    /// Points a run's timeline keeps per streaming node (its counts and each live view's
    /// rows over the run's clock, recorded with the run for scrubbing back); as a run
    /// grows, the points thin out evenly over it. 0 keeps no timeline.
    #[serde(
        default = "default_timeline_points",
        skip_serializing_if = "is_default_timeline_points"
    )]
    pub timeline_points: usize,
    /// The clock runs follow: `wall`, or `simulated` (event and arrival times, Firehose
    /// buffer intervals and hour folders, window closing, retention, write limits and
    /// Lambda batching windows follow simulated time from `clock_start`).
    #[serde(default, skip_serializing_if = "is_wall_clock")]
    pub clock: ClockMode,
    /// A simulated clock's speed: a multiple of wall time (60: a minute a second), or 0
    /// for as fast as the sources go.
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub clock_speed: f64,
    /// When a simulated clock starts (RFC 3339); empty: the earliest start time of the
    /// project's synthetic generators, else the moment the run starts.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub clock_start: String,
}

fn is_wall_clock(c: &ClockMode) -> bool {
    *c == ClockMode::Wall
}

fn is_zero_f64(x: &f64) -> bool {
    *x == 0.0
}

/// Runs kept when a project does not say.
pub const DEFAULT_RUNS_KEPT: usize = 20;

fn default_runs_kept() -> usize {
    DEFAULT_RUNS_KEPT
}

fn is_default_runs_kept(n: &usize) -> bool {
    *n == DEFAULT_RUNS_KEPT
}

/// Timeline points per node when a project does not say.
pub const DEFAULT_TIMELINE_POINTS: usize = 120;

fn default_timeline_points() -> usize {
    DEFAULT_TIMELINE_POINTS
}

fn is_default_timeline_points(n: &usize) -> bool {
    *n == DEFAULT_TIMELINE_POINTS
}

/// The arrangement of the dashboard: the chart (series sink) nodes in a grid.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dashboard {
    /// Grid columns (0: as many as fit, up to 3).
    #[serde(skip_serializing_if = "is_zero")]
    pub columns: u32,
    /// Chart node ids in the order shown; charts not listed follow, by id.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub order: Vec<String>,
    /// Chart node ids left off the dashboard.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hidden: Vec<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Dashboard {
    /// Whether nothing was arranged (and the file says nothing).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// `charts` (node ids) in dashboard order, hidden ones left out.
    pub fn arrange<'a>(&self, charts: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        let mut all: Vec<&str> = charts.into_iter().collect();
        all.sort_by_key(|id| {
            (
                self.order
                    .iter()
                    .position(|o| o == id)
                    .unwrap_or(usize::MAX),
                id.to_string(),
            )
        });
        all.retain(|id| !self.hidden.iter().any(|h| h == id));
        all
    }
}

fn local_env() -> String {
    LOCAL_ENV.to_owned()
}

fn is_local_env(name: &String) -> bool {
    name == LOCAL_ENV
}

impl Default for Project {
    fn default() -> Self {
        Self {
            format_version: FORMAT_VERSION,
            name: String::new(),
            nodes: Vec::new(),
            edges: Vec::new(),
            environments: BTreeMap::new(),
            environment: local_env(),
            dashboard: Dashboard::default(),
            aws_realism: true,
            runs_kept: DEFAULT_RUNS_KEPT,
            timeline_points: DEFAULT_TIMELINE_POINTS,
            clock: ClockMode::Wall,
            clock_speed: 0.0,
            clock_start: String::new(),
        }
    }
}

/// A position on the canvas, in canvas units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Horizontal position.
    #[serde(deserialize_with = "canvas_coordinate")]
    pub x: f32,
    /// Vertical position.
    #[serde(deserialize_with = "canvas_coordinate")]
    pub y: f32,
}

/// The farthest a node may sit from the origin, in canvas units.
const CANVAS_LIMIT: f64 = 1e9;

/// A coordinate as written in a file, brought within the canvas: a number too large for
/// the canvas (`-4.9e126`, which would be infinite as `f32` and saved as `null`) sits at
/// its edge, so the project still saves and loads back the same.
fn canvas_coordinate<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    let v = f64::deserialize(d)?;
    Ok(v.clamp(-CANVAS_LIMIT, CANVAS_LIMIT) as f32)
}

/// One node of the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawNode", into = "RawNode")]
pub struct Node {
    /// Stable id, unique in the project; edges and events refer to it.
    pub id: String,
    /// Display name shown on the canvas.
    pub name: String,
    /// Where the node sits on the canvas.
    pub position: Position,
    /// The typed configuration; its variant is the node's kind.
    pub config: NodeConfig,
    /// Faults injected into the node while designing (none by default).
    pub faults: crate::api::faults::Faults,
}

impl Node {
    /// The node's kind.
    pub fn kind(&self) -> NodeKind {
        self.config.kind()
    }
}

/// The on-disk shape of a node: `kind` and `config` are separate keys.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    id: String,
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    position: Position,
    #[serde(default = "empty_object")]
    config: Value,
    #[serde(default, skip_serializing_if = "crate::api::faults::Faults::is_none")]
    faults: crate::api::faults::Faults,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

impl From<Node> for RawNode {
    fn from(node: Node) -> Self {
        Self {
            id: node.id,
            kind: node.config.kind().as_str().to_owned(),
            name: node.name,
            position: node.position,
            config: node.config.to_value(),
            faults: node.faults,
        }
    }
}

impl TryFrom<RawNode> for Node {
    type Error = String;

    fn try_from(raw: RawNode) -> std::result::Result<Self, String> {
        let kind: NodeKind = raw.kind.parse()?;
        let config = NodeConfig::from_value(kind, raw.config).map_err(|e| e.to_string())?;
        Ok(Self {
            id: raw.id,
            name: raw.name,
            position: raw.position,
            config,
            faults: raw.faults,
        })
    }
}

/// One end of an edge: a node and one of its ports.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortRef {
    /// The node's id.
    pub node: String,
    /// The port's name, e.g. `objects`.
    pub port: String,
}

impl fmt::Display for PortRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.node, self.port)
    }
}

/// A wire from an output port to an input port.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    /// The output port the data leaves.
    pub from: PortRef,
    /// The input port the data enters.
    pub to: PortRef,
}

impl fmt::Display for Edge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.from, self.to)
    }
}

impl Project {
    /// Parses a project from JSON text, collecting every problem instead of stopping at
    /// the first. A project with problems is not returned.
    pub fn from_json(text: &str) -> std::result::Result<Self, Vec<Problem>> {
        match Self::parse_for_editing(text) {
            Ok((project, problems)) if problems.is_empty() => Ok(project),
            Ok((_, problems)) => Err(problems),
            Err(problems) => Err(problems),
        }
    }

    /// Parses a project to edit it: problems with the graph (wires, unconnected inputs,
    /// cycles, config rules) come back beside the project, since a work in progress has
    /// them. Only a document that cannot be read faithfully (not JSON, unknown kinds,
    /// unreadable configs, a newer format) is refused, with every problem.
    pub fn parse_for_editing(
        text: &str,
    ) -> std::result::Result<(Self, Vec<Problem>), Vec<Problem>> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| vec![Problem::project(format!("not valid JSON: {e}"))])?;
        let Value::Object(mut top) = value else {
            return Err(vec![Problem::project("the document must be a JSON object")]);
        };
        let mut problems = Vec::new();

        let format_version = match top.remove("format_version") {
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64().unwrap_or(0) as u32,
            Some(other) => {
                problems.push(Problem::project(format!(
                    "format_version must be a whole number, found {other}"
                )));
                FORMAT_VERSION
            }
            None => {
                problems.push(Problem::project("missing field `format_version`"));
                FORMAT_VERSION
            }
        };
        if format_version > FORMAT_VERSION {
            problems.push(Problem::project(format!(
                "written by a newer Tributary (format version {format_version}); this build reads format version {FORMAT_VERSION} and older"
            )));
            // A newer format may mean anything; checking its contents would only add noise.
            return Err(problems);
        }
        let name = match top.remove("name") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s,
            Some(other) => {
                problems.push(Problem::project(format!(
                    "name must be a string, found {other}"
                )));
                String::new()
            }
        };

        let mut nodes = Vec::new();
        match top.remove("nodes") {
            Some(Value::Array(items)) => {
                for (i, item) in items.into_iter().enumerate() {
                    match parse_node(item, format_version) {
                        Ok(node) => nodes.push(node),
                        Err(p) => problems.push(p.unwrap_or_else(|| {
                            Problem::project(format!("node {} is not a valid node object", i + 1))
                        })),
                    }
                }
            }
            Some(_) => problems.push(Problem::project("`nodes` must be an array")),
            None => problems.push(Problem::project("missing field `nodes`")),
        }

        let mut edges = Vec::new();
        match top.remove("edges") {
            Some(Value::Array(items)) => {
                for (i, item) in items.into_iter().enumerate() {
                    match serde_json::from_value::<Edge>(item) {
                        Ok(e) => edges.push(e),
                        Err(e) => {
                            problems.push(Problem::edge(i, "?", format!("not a valid edge: {e}")))
                        }
                    }
                }
            }
            None | Some(Value::Null) => {}
            Some(_) => problems.push(Problem::project("`edges` must be an array")),
        }
        let environments = match top.remove("environments") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(v) => {
                serde_json::from_value::<BTreeMap<String, Environment>>(v).unwrap_or_else(|e| {
                    problems.push(Problem::project(format!("environments: {e}")));
                    BTreeMap::new()
                })
            }
        };
        let environment = match top.remove("environment") {
            None | Some(Value::Null) => local_env(),
            Some(Value::String(s)) => s,
            Some(other) => {
                problems.push(Problem::project(format!(
                    "environment must be a string, found {other}"
                )));
                local_env()
            }
        };
        let dashboard = match top.remove("dashboard") {
            None | Some(Value::Null) => Dashboard::default(),
            Some(v) => serde_json::from_value::<Dashboard>(v).unwrap_or_else(|e| {
                problems.push(Problem::project(format!("dashboard: {e}")));
                Dashboard::default()
            }),
        };
        let aws_realism = match top.remove("aws_realism") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => b,
            Some(other) => {
                problems.push(Problem::project(format!(
                    "aws_realism must be true or false, found {other}"
                )));
                false
            }
        };
        let runs_kept = match top.remove("runs_kept") {
            None | Some(Value::Null) => DEFAULT_RUNS_KEPT,
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64().unwrap_or(0) as usize,
            Some(other) => {
                problems.push(Problem::project(format!(
                    "runs_kept must be a whole number of runs (0 records none), found {other}"
                )));
                DEFAULT_RUNS_KEPT
            }
        };
        let timeline_points = match top.remove("timeline_points") {
            None | Some(Value::Null) => DEFAULT_TIMELINE_POINTS,
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64().unwrap_or(0) as usize,
            Some(other) => {
                problems.push(Problem::project(format!(
                    "timeline_points must be a whole number of points (0 keeps no timeline), found {other}"
                )));
                DEFAULT_TIMELINE_POINTS
            }
        };
        let clock = match top.remove("clock") {
            None | Some(Value::Null) => ClockMode::Wall,
            Some(Value::String(s)) => s.parse().unwrap_or_else(|e| {
                problems.push(Problem::project(format!("clock: {e}")));
                ClockMode::Wall
            }),
            Some(other) => {
                problems.push(Problem::project(format!(
                    "clock must be \"wall\" or \"simulated\", found {other}"
                )));
                ClockMode::Wall
            }
        };
        let clock_speed = match top.remove("clock_speed") {
            None | Some(Value::Null) => 0.0,
            Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
            Some(other) => {
                problems.push(Problem::project(format!(
                    "clock_speed must be a number (0: as fast as possible), found {other}"
                )));
                0.0
            }
        };
        let clock_start = match top.remove("clock_start") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s,
            Some(other) => {
                problems.push(Problem::project(format!(
                    "clock_start must be an RFC 3339 time, found {other}"
                )));
                String::new()
            }
        };
        for key in top.keys() {
            problems.push(Problem::project(format!("unknown field `{key}`")));
        }

        let project = Self {
            format_version: FORMAT_VERSION,
            name,
            nodes,
            edges,
            environments,
            environment,
            dashboard,
            aws_realism,
            runs_kept,
            timeline_points,
            clock,
            clock_speed,
            clock_start,
        };
        let graph_problems = project.validate();
        if problems.is_empty() {
            Ok((project, graph_problems))
        } else {
            problems.extend(graph_problems);
            Err(problems)
        }
    }

    /// The clock a run of this project follows (`clock`, `clock_speed`, `clock_start`),
    /// starting now.
    pub fn run_clock(&self) -> Result<Clock> {
        if self.clock == ClockMode::Wall {
            return Ok(Clock::wall());
        }
        if !(self.clock_speed >= 0.0 && self.clock_speed.is_finite()) {
            return Err(Error::Invalid(format!(
                "clock_speed must be 0 (as fast as possible) or a positive multiple of wall time, found {}",
                self.clock_speed
            )));
        }
        let start = if self.clock_start.is_empty() {
            // The earliest synthetic generator's start: its event times and the clock agree.
            self.nodes
                .iter()
                .filter_map(|n| match &n.config {
                    NodeConfig::Generator(g)
                        if g.clock == crate::nodes::generator::Clock::Synthetic =>
                    {
                        chrono::DateTime::parse_from_rfc3339(&g.start_time).ok()
                    }
                    _ => None,
                })
                .map(|t| t.timestamp_millis())
                .min()
                .unwrap_or_else(crate::stream::topic::now_ms)
        } else {
            chrono::DateTime::parse_from_rfc3339(&self.clock_start)
                .map_err(|e| {
                    Error::Invalid(format!(
                        "clock_start '{}' is not an RFC 3339 time: {e}",
                        self.clock_start
                    ))
                })?
                .timestamp_millis()
        };
        Ok(Clock::simulated(start, self.clock_speed))
    }

    /// Reads and parses a project file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text).map_err(|problems| Error::Project { problems })
    }

    /// The pretty-printed JSON text of this project, with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_else(|e| {
            // Serializing plain structs to a string cannot fail; keep the message anyway.
            format!("{{\"error\": \"{e}\"}}")
        });
        text.push('\n');
        text
    }

    /// Reads a project file to edit it; see [`Project::parse_for_editing`].
    pub fn load_for_editing(path: &Path) -> Result<(Self, Vec<Problem>)> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse_for_editing(&text).map_err(|problems| Error::Project { problems })
    }

    /// Writes the project atomically to `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::fsutil::write_atomic(path, self.to_json().as_bytes())
    }

    /// The settings of the environment runs use (`local`: the laptop defaults).
    pub fn selected_environment(&self) -> Result<Environment> {
        self.environment_named(&self.environment)
    }

    /// The settings of environment `name`; an unknown name lists the known ones.
    pub fn environment_named(&self, name: &str) -> Result<Environment> {
        if name == LOCAL_ENV {
            return Ok(Environment::default());
        }
        self.environments.get(name).cloned().ok_or_else(|| {
            let mut known = vec![LOCAL_ENV.to_owned()];
            known.extend(self.environments.keys().cloned());
            Error::Invalid(format!(
                "environment '{name}' is not defined (environments: {})",
                known.join(", ")
            ))
        })
    }

    /// Every environment name, `local` first.
    pub fn environment_names(&self) -> Vec<String> {
        let mut names = vec![LOCAL_ENV.to_owned()];
        names.extend(
            self.environments
                .keys()
                .filter(|n| *n != LOCAL_ENV)
                .cloned(),
        );
        names
    }

    /// Finds a node by id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// What output `port` of node `id` carries: its declared type, or for a `rows`
    /// output (a visual transform's) the table or stream arriving at the node's `rows`
    /// inputs, followed upstream.
    pub fn carried_type(&self, id: &str, port: &PortSpec) -> PortType {
        self.carried_type_within(id, port, 0)
    }

    fn carried_type_within(&self, id: &str, port: &PortSpec, depth: usize) -> PortType {
        // Deeper than any real chain means a cycle (reported elsewhere).
        if port.ty != PortType::Rows || depth > 256 {
            return port.ty;
        }
        let Some(node) = self.node(id) else {
            return port.ty;
        };
        let kind = node.kind();
        let arriving = self
            .edges
            .iter()
            .filter(|e| {
                e.to.node == id
                    && kind
                        .port(PortDirection::Input, &e.to.port)
                        .is_some_and(|p| p.ty == PortType::Rows)
            })
            .filter_map(|e| {
                let from = self.node(&e.from.node)?;
                let out = from.kind().port(PortDirection::Output, &e.from.port)?;
                Some(self.carried_type_within(&from.id, out, depth + 1))
            });
        PortType::carried(port.ty, arriving)
    }

    /// Checks the graph: unique ids, config rules, edges, port types and cycles.
    /// Returns every problem, one per line.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.environments.contains_key(LOCAL_ENV) {
            problems.push(Problem::project(
                "environments: 'local' is built in (embedded engine, in-process streams); name yours differently",
            ));
        }
        for (name, env) in &self.environments {
            for message in env.validate() {
                problems.push(Problem::project(format!("environment '{name}': {message}")));
            }
        }
        if let Err(e) = self.selected_environment() {
            problems.push(Problem::project(e.to_string()));
        }
        if let Err(e) = self.run_clock() {
            problems.push(Problem::project(e.to_string()));
        }
        let mut ids = BTreeSet::new();
        for node in &self.nodes {
            if node.id.trim().is_empty() {
                problems.push(Problem::project("a node has an empty id"));
            } else if !ids.insert(node.id.as_str()) {
                problems.push(Problem::node(&node.id, "duplicate node id"));
            }
            for p in node.config.validate() {
                problems.push(Problem::setting(&node.id, p.path, p.message));
            }
            for (setting, message) in node.faults.problems(node.kind().as_str()) {
                problems.push(Problem::setting(
                    &node.id,
                    format!("faults.{setting}"),
                    message,
                ));
            }
        }
        // The AWS endpoint serves streams and Firehoses by name: names are unique.
        let mut api_names: BTreeMap<(&str, String), &str> = BTreeMap::new();
        for node in &self.nodes {
            let (kind, key, name) = match &node.config {
                NodeConfig::Stream(c) => ("stream", "stream_name", c.api_name(&node.id)),
                NodeConfig::Firehose(c) if c.delivery_stream_name.is_empty() => {
                    ("firehose", "delivery_stream_name", node.id.clone())
                }
                NodeConfig::Firehose(c) => (
                    "firehose",
                    "delivery_stream_name",
                    c.delivery_stream_name.clone(),
                ),
                _ => continue,
            };
            if let Some(other) = api_names.insert((kind, name.clone()), &node.id) {
                problems.push(Problem::setting(
                    &node.id,
                    key.to_owned(),
                    format!("'{name}' is also the API name of node '{other}': names must differ"),
                ));
            }
        }
        // Bucket nodes may share a bucket (another prefix of it), not a name for two.
        let mut buckets: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
        for node in &self.nodes {
            if let NodeConfig::Bucket(c) = &node.config
                && let Some((path, other)) =
                    buckets.insert(c.api_name(&node.id), (c.path.as_str(), &node.id))
                && path != c.path
            {
                problems.push(Problem::setting(
                    &node.id,
                    "bucket_name".to_owned(),
                    format!(
                        "'{}' is also the bucket name of node '{other}', whose folder is '{path}': one name, one folder",
                        c.api_name(&node.id)
                    ),
                ));
            }
        }

        let mut fan_in: BTreeMap<&PortRef, usize> = BTreeMap::new();
        for (i, edge) in self.edges.iter().enumerate() {
            let from = self.node(&edge.from.node);
            let to = self.node(&edge.to.node);
            if from.is_none() {
                problems.push(Problem::edge(
                    i,
                    edge,
                    format!("points at no node '{}'", edge.from.node),
                ));
            }
            if to.is_none() {
                problems.push(Problem::edge(
                    i,
                    edge,
                    format!("points at no node '{}'", edge.to.node),
                ));
            }
            let (Some(from), Some(to)) = (from, to) else {
                continue;
            };
            let out_port = from.kind().port(PortDirection::Output, &edge.from.port);
            let in_port = to.kind().port(PortDirection::Input, &edge.to.port);
            if out_port.is_none() {
                problems.push(Problem::edge(
                    i,
                    edge,
                    format!(
                        "node '{}' ({}) has no output port '{}'",
                        from.id,
                        from.kind(),
                        edge.from.port
                    ),
                ));
            }
            if in_port.is_none() {
                problems.push(Problem::edge(
                    i,
                    edge,
                    format!(
                        "node '{}' ({}) has no input port '{}'",
                        to.id,
                        to.kind(),
                        edge.to.port
                    ),
                ));
            }
            if let (Some(out_port), Some(in_port)) = (out_port, in_port) {
                let carried = self.carried_type(&from.id, out_port);
                if !carried.feeds(in_port.ty) {
                    let what = if carried == out_port.ty {
                        carried.to_string()
                    } else {
                        format!("{} (a {carried} here)", out_port.ty)
                    };
                    problems.push(Problem::edge(
                        i,
                        edge,
                        format!(
                            "port type mismatch: {what} output '{}' cannot feed {} input '{}'",
                            out_port.name, in_port.ty, in_port.name
                        ),
                    ));
                }
                let count = fan_in.entry(&edge.to).or_default();
                *count += 1;
                if *count == 2 && !in_port.multiple {
                    problems.push(Problem::edge(
                        i,
                        edge,
                        format!(
                            "input '{}' of node '{}' takes one edge only",
                            in_port.name, to.id
                        ),
                    ));
                }
            }
        }

        for node in &self.nodes {
            for port in node.kind().inputs() {
                let connected = self
                    .edges
                    .iter()
                    .any(|e| e.to.node == node.id && e.to.port == port.name);
                if port.required && !connected {
                    problems.push(Problem::node(
                        &node.id,
                        format!("input '{}' ({}) is not connected", port.name, port.ty),
                    ));
                }
            }
        }

        if let Some(cycle) = self.find_cycle() {
            problems.push(Problem::project(format!("cycle: {}", cycle.join(" -> "))));
        }
        problems
    }

    /// Node ids in an order where every node comes after its inputs. Edges that point
    /// at missing nodes are ignored; a cycle gives an error naming its nodes.
    pub fn topological_order(&self) -> Result<Vec<String>> {
        if let Some(cycle) = self.find_cycle() {
            return Err(Error::Project {
                problems: vec![Problem::project(format!("cycle: {}", cycle.join(" -> ")))],
            });
        }
        let mut indegree: BTreeMap<&str, usize> =
            self.nodes.iter().map(|n| (n.id.as_str(), 0)).collect();
        for e in self.valid_edges() {
            *indegree.entry(e.to.node.as_str()).or_default() += 1;
        }
        // Kahn's algorithm, taking ready nodes in document order so runs are repeatable.
        let mut order = Vec::with_capacity(self.nodes.len());
        let mut done = BTreeSet::new();
        while order.len() < self.nodes.len() {
            let Some(next) = self
                .nodes
                .iter()
                .find(|n| !done.contains(n.id.as_str()) && indegree[n.id.as_str()] == 0)
            else {
                break;
            };
            done.insert(next.id.as_str());
            order.push(next.id.clone());
            for e in self.valid_edges().filter(|e| e.from.node == next.id) {
                if let Some(d) = indegree.get_mut(e.to.node.as_str()) {
                    *d = d.saturating_sub(1);
                }
            }
        }
        Ok(order)
    }

    /// The ids of `id` and every node upstream of it, in topological order.
    pub fn ancestors_and_self(&self, id: &str) -> Result<Vec<String>> {
        let mut wanted = BTreeSet::new();
        let mut stack = vec![id.to_owned()];
        while let Some(n) = stack.pop() {
            if wanted.insert(n.clone()) {
                stack.extend(
                    self.valid_edges()
                        .filter(|e| e.to.node == n)
                        .map(|e| e.from.node.clone()),
                );
            }
        }
        Ok(self
            .topological_order()?
            .into_iter()
            .filter(|n| wanted.contains(n))
            .collect())
    }

    /// Edges whose both ends exist.
    pub fn valid_edges(&self) -> impl Iterator<Item = &Edge> {
        self.edges
            .iter()
            .filter(|e| self.node(&e.from.node).is_some() && self.node(&e.to.node).is_some())
    }

    fn find_cycle(&self) -> Option<Vec<String>> {
        // Depth-first search with colours; returns the first cycle found, closed.
        #[derive(Clone, Copy, PartialEq)]
        enum Colour {
            White,
            Grey,
            Black,
        }
        let mut colour: BTreeMap<&str, Colour> = self
            .nodes
            .iter()
            .map(|n| (n.id.as_str(), Colour::White))
            .collect();
        let mut stack_path: Vec<&str> = Vec::new();

        fn visit<'a>(
            project: &'a Project,
            id: &'a str,
            colour: &mut BTreeMap<&'a str, Colour>,
            path: &mut Vec<&'a str>,
        ) -> Option<Vec<String>> {
            colour.insert(id, Colour::Grey);
            path.push(id);
            for e in project.valid_edges().filter(|e| e.from.node == id) {
                let next = e.to.node.as_str();
                match colour.get(next).copied().unwrap_or(Colour::Black) {
                    Colour::Grey => {
                        let start = path.iter().position(|n| *n == next).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            path[start..].iter().map(|s| (*s).to_owned()).collect();
                        cycle.push(next.to_owned());
                        return Some(cycle);
                    }
                    Colour::White => {
                        if let Some(c) = visit(project, next, colour, path) {
                            return Some(c);
                        }
                    }
                    Colour::Black => {}
                }
            }
            path.pop();
            colour.insert(id, Colour::Black);
            None
        }

        for node in &self.nodes {
            if colour.get(node.id.as_str()) == Some(&Colour::White)
                && let Some(c) = visit(self, &node.id, &mut colour, &mut stack_path)
            {
                return Some(c);
            }
        }
        None
    }
}

fn parse_node(item: Value, format_version: u32) -> std::result::Result<Node, Option<Problem>> {
    let id = item
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Some(Problem::project("a node has no string `id`")))?;
    let mut raw: RawNode = serde_json::from_value(item)
        .map_err(|e| Some(Problem::node(&id, format!("not a valid node: {e}"))))?;
    let kind: NodeKind = raw
        .kind
        .parse()
        .map_err(|e: String| Some(Problem::node(&id, e)))?;
    if format_version < FORMAT_VERSION {
        NodeConfig::migrate(kind, format_version, &mut raw.config);
    }
    let config = NodeConfig::from_value(kind, raw.config).map_err(|p| {
        Some(if p.path.is_empty() {
            Problem::node(&id, format!("config ({kind}): {}", p.message))
        } else {
            Problem::setting(&id, p.path, p.message)
        })
    })?;
    Ok(Node {
        id: raw.id,
        name: raw.name,
        position: raw.position,
        config,
        faults: raw.faults,
    })
}
