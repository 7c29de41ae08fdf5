//! The open document: the graph as the canvas edits it, its file, and undo history.
//!
//! The canvas (`Snarl<Node>`) is the single source of truth while editing; a
//! [`Project`] is derived from it to save or run. Undo keeps capped snapshots of the
//! derived project, taken when an interaction ends, so one drag is one undo step.

use std::collections::BTreeMap;
use std::path::PathBuf;

use egui_snarl::{InPinId, NodeId, OutPinId, Snarl};
use tributary_engine::nodes::NodeKind;
use tributary_engine::project::{Edge, Node, PortRef, Position, Project};

/// Undo steps kept.
const UNDO_LIMIT: usize = 200;

/// The document being edited.
pub struct Document {
    /// The project's display name.
    pub name: String,
    /// The graph on the canvas.
    pub snarl: Snarl<Node>,
    /// The project's named environments (kept as loaded; edited in the file).
    pub environments: BTreeMap<String, tributary_engine::project::Environment>,
    /// The environment runs use.
    pub environment: String,
    /// How the Charts tab lays out the charts.
    pub dashboard: tributary_engine::project::Dashboard,
    /// AWS realism for runs (the project's `aws_realism`).
    pub aws_realism: bool,
    /// Runs kept recorded (the project's `runs_kept`).
    pub runs_kept: usize,
    /// Timeline points per node (the project's `timeline_points`).
    pub timeline_points: usize,
    /// The clock runs follow (the project's `clock`, `clock_speed`, `clock_start`).
    pub clock: RunClock,
    /// Where it is saved, if anywhere.
    pub path: Option<PathBuf>,
    /// Increases with every edit.
    pub revision: u64,
    /// A fingerprint of what a run computes from the document (not where nodes sit or
    /// what they are called): runs carry it, so results an edit put out of date can say
    /// so, and an edit undone makes them current again.
    pub content_revision: u64,
    saved: Project,
    current: Project,
    /// `current != saved`, kept up to date so asking is free on every frame.
    dirty: bool,
    undo: Vec<Project>,
    redo: Vec<Project>,
}

/// A hash of what a run computes from `project`: all of it but where nodes sit and what
/// they are called.
fn content_fingerprint(project: &Project) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut p = project.clone();
    p.name.clear();
    p.dashboard = Default::default();
    for n in &mut p.nodes {
        n.position = Default::default();
        n.name.clear();
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    p.to_json().hash(&mut h);
    h.finish()
}

impl Document {
    /// An empty, unsaved document.
    pub fn new() -> Self {
        Self::from_project(&Project::default(), None)
    }

    /// A document showing `project`.
    pub fn from_project(project: &Project, path: Option<PathBuf>) -> Self {
        let snarl = snarl_from_project(project);
        let mut doc = Self {
            name: project.name.clone(),
            snarl,
            environments: project.environments.clone(),
            environment: project.environment.clone(),
            dashboard: project.dashboard.clone(),
            aws_realism: project.aws_realism,
            runs_kept: project.runs_kept,
            timeline_points: project.timeline_points,
            clock: RunClock::of(project),
            path,
            revision: 1,
            content_revision: 1,
            saved: Project::default(),
            current: Project::default(),
            dirty: false,
            undo: Vec::new(),
            redo: Vec::new(),
        };
        doc.current = doc.to_project();
        doc.content_revision = content_fingerprint(&doc.current);
        doc.saved = doc.current.clone();
        doc.refresh_dirty();
        doc
    }

    fn refresh_dirty(&mut self) {
        self.dirty = self.current != self.saved;
    }

    /// A document restored from autosave: it has unsaved changes until saved.
    pub fn recovered(project: &Project, path: Option<PathBuf>) -> Self {
        let mut doc = Self::from_project(project, path);
        doc.saved = Project::default();
        doc.refresh_dirty();
        doc
    }

    /// The project the canvas shows.
    pub fn to_project(&self) -> Project {
        let mut project = project_from_snarl(&self.name, &self.snarl);
        project.environments = self.environments.clone();
        project.environment = self.environment.clone();
        project.dashboard = self.dashboard.clone();
        project.aws_realism = self.aws_realism;
        project.runs_kept = self.runs_kept;
        project.timeline_points = self.timeline_points;
        self.clock.apply(&mut project);
        project
    }

    /// The last checkpointed project (cheap; no rebuild).
    pub fn project(&self) -> &Project {
        &self.current
    }

    /// Whether there are changes since the last save.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Records the document as saved.
    pub fn mark_saved(&mut self, path: PathBuf) {
        self.path = Some(path);
        self.saved = self.current.clone();
        self.refresh_dirty();
    }

    /// Takes an undo snapshot if the graph changed since the last one. Call when an
    /// interaction has ended (pointer released, a key pressed, a field edited).
    pub fn checkpoint(&mut self) -> bool {
        let now = self.to_project();
        if now == self.current {
            return false;
        }
        let before = std::mem::replace(&mut self.current, now);
        self.content_revision = content_fingerprint(&self.current);
        self.undo.push(before);
        if self.undo.len() > UNDO_LIMIT {
            self.undo.remove(0);
        }
        self.redo.clear();
        self.revision += 1;
        self.refresh_dirty();
        true
    }

    /// Whether there is something to undo.
    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    /// Whether there is something to redo.
    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// Goes back one step.
    pub fn undo(&mut self) {
        self.checkpoint();
        if let Some(prev) = self.undo.pop() {
            let now = std::mem::replace(&mut self.current, prev);
            self.restore();
            self.redo.push(now);
        }
    }

    /// Goes forward one step.
    pub fn redo(&mut self) {
        if let Some(next) = self.redo.pop() {
            let now = std::mem::replace(&mut self.current, next);
            self.restore();
            self.undo.push(now);
        }
    }

    fn restore(&mut self) {
        self.content_revision = content_fingerprint(&self.current);
        self.snarl = snarl_from_project(&self.current);
        self.name = self.current.name.clone();
        self.environments = self.current.environments.clone();
        self.environment = self.current.environment.clone();
        self.dashboard = self.current.dashboard.clone();
        self.aws_realism = self.current.aws_realism;
        self.runs_kept = self.current.runs_kept;
        self.timeline_points = self.current.timeline_points;
        self.clock = RunClock::of(&self.current);
        self.revision += 1;
        self.refresh_dirty();
    }

    /// The canvas node holding the project node `id`.
    pub fn node_id(&self, id: &str) -> Option<NodeId> {
        self.snarl
            .nodes_ids_data()
            .find(|(_, n)| n.value.id == id)
            .map(|(nid, _)| nid)
    }

    /// A fresh node id for a node of `kind`, e.g. `query_3`.
    pub fn fresh_id(&self, kind: NodeKind) -> String {
        fresh_id(&self.snarl, kind)
    }
}

impl Document {
    /// The nodes `ids` and the edges among them, as project JSON: what Copy puts on the
    /// clipboard.
    pub fn copy_nodes(&self, ids: &[NodeId]) -> String {
        let project = self.to_project();
        let keep: std::collections::BTreeSet<&str> = ids
            .iter()
            .filter_map(|n| self.snarl.get_node(*n))
            .map(|n| n.id.as_str())
            .collect();
        let part = Project {
            name: String::new(),
            nodes: project
                .nodes
                .iter()
                .filter(|n| keep.contains(n.id.as_str()))
                .cloned()
                .collect(),
            edges: project
                .edges
                .iter()
                .filter(|e| {
                    keep.contains(e.from.node.as_str()) && keep.contains(e.to.node.as_str())
                })
                .cloned()
                .collect(),
            ..Default::default()
        };
        part.to_json()
    }

    /// Adds the nodes of copied project JSON, moved by `offset`, with fresh ids and their
    /// edges among them. Returns the new canvas nodes.
    pub fn paste_nodes(&mut self, text: &str, offset: egui::Vec2) -> Result<Vec<NodeId>, String> {
        let (part, _) = Project::parse_for_editing(text).map_err(|problems| {
            let why: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            format!("the clipboard holds no Tributary nodes: {}", why.join("; "))
        })?;
        if part.nodes.is_empty() {
            return Err("the clipboard holds no Tributary nodes".to_owned());
        }
        let mut renamed = BTreeMap::new();
        let mut added = Vec::new();
        for node in part.nodes {
            let mut node = node;
            let fresh = fresh_id(&self.snarl, node.kind());
            renamed.insert(node.id.clone(), fresh.clone());
            if node.name == node.id {
                node.name = fresh.clone();
            }
            node.id = fresh;
            let pos = egui::pos2(node.position.x, node.position.y) + offset;
            added.push(self.snarl.insert_node(pos, node));
        }
        for e in part.edges {
            let (Some(from), Some(to)) = (renamed.get(&e.from.node), renamed.get(&e.to.node))
            else {
                continue;
            };
            let (Some(f), Some(t)) = (self.node_id(from), self.node_id(to)) else {
                continue;
            };
            let out = self.snarl[f]
                .kind()
                .outputs()
                .iter()
                .position(|p| p.name == e.from.port);
            let inp = self.snarl[t]
                .kind()
                .inputs()
                .iter()
                .position(|p| p.name == e.to.port);
            if let (Some(output), Some(input)) = (out, inp) {
                self.snarl
                    .connect(OutPinId { node: f, output }, InPinId { node: t, input });
            }
        }
        Ok(added)
    }
}

impl Default for Document {
    fn default() -> Self {
        Self::new()
    }
}

/// A node id not used in `snarl`, e.g. `query_3`.
pub fn fresh_id(snarl: &Snarl<Node>, kind: NodeKind) -> String {
    let used: std::collections::BTreeSet<&str> = snarl.nodes().map(|n| n.id.as_str()).collect();
    (1..)
        .map(|i| format!("{}_{i}", kind.as_str()))
        .find(|c| !used.contains(c.as_str()))
        .unwrap_or_else(|| kind.as_str().to_owned())
}

/// Builds the canvas graph of a project. Edges to unknown nodes or ports are left out
/// (validation reports them).
pub fn snarl_from_project(project: &Project) -> Snarl<Node> {
    let mut snarl = Snarl::new();
    let mut ids = BTreeMap::new();
    for node in &project.nodes {
        let pos = egui::pos2(node.position.x, node.position.y);
        let nid = snarl.insert_node(pos, node.clone());
        ids.insert(node.id.clone(), nid);
    }
    for e in &project.edges {
        let (Some(&from), Some(&to)) = (ids.get(&e.from.node), ids.get(&e.to.node)) else {
            continue;
        };
        let from_kind = snarl[from].kind();
        let to_kind = snarl[to].kind();
        let out = from_kind
            .outputs()
            .iter()
            .position(|p| p.name == e.from.port);
        let inp = to_kind.inputs().iter().position(|p| p.name == e.to.port);
        if let (Some(output), Some(input)) = (out, inp) {
            snarl.connect(OutPinId { node: from, output }, InPinId { node: to, input });
        }
    }
    snarl
}

/// Derives the project from the canvas: nodes in canvas order with their positions,
/// edges sorted by target node, target port, then source, so saves are stable.
pub fn project_from_snarl(name: &str, snarl: &Snarl<Node>) -> Project {
    let mut order: BTreeMap<NodeId, usize> = BTreeMap::new();
    let mut nodes = Vec::new();
    for (i, (nid, info)) in snarl.nodes_ids_data().enumerate() {
        let mut node = info.value.clone();
        node.position = Position {
            x: info.pos.x,
            y: info.pos.y,
        };
        order.insert(nid, i);
        nodes.push(node);
    }
    let mut wires: Vec<(OutPinId, InPinId)> = snarl.wires().collect();
    wires.sort_by_key(|(from, to)| {
        (
            order.get(&to.node).copied(),
            to.input,
            order.get(&from.node).copied(),
            from.output,
        )
    });
    let edges = wires
        .into_iter()
        .filter_map(|(from, to)| {
            let f = &snarl[from.node];
            let t = &snarl[to.node];
            Some(Edge {
                from: PortRef {
                    node: f.id.clone(),
                    port: f.kind().outputs().get(from.output)?.name.to_owned(),
                },
                to: PortRef {
                    node: t.id.clone(),
                    port: t.kind().inputs().get(to.input)?.name.to_owned(),
                },
            })
        })
        .collect();
    Project {
        name: name.to_owned(),
        nodes,
        edges,
        ..Default::default()
    }
}

/// The clock a document's runs follow: the project's `clock`, `clock_speed` and
/// `clock_start`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunClock {
    /// Wall or simulated.
    pub mode: tributary_engine::api::ClockMode,
    /// A simulated clock's speed (0: as fast as possible).
    pub speed: f64,
    /// A simulated clock's start (RFC 3339; empty: the generators' start).
    pub start: String,
}

impl RunClock {
    /// The clock `project` sets.
    pub fn of(project: &Project) -> Self {
        Self {
            mode: project.clock,
            speed: project.clock_speed,
            start: project.clock_start.clone(),
        }
    }

    /// Sets it on `project`.
    pub fn apply(&self, project: &mut Project) {
        project.clock = self.mode;
        project.clock_speed = self.speed;
        project.clock_start = self.start.clone();
    }

    /// For a person: `wall clock`, `simulated, as fast as possible`, `simulated ×60`.
    pub fn label(&self) -> String {
        match self.mode {
            tributary_engine::api::ClockMode::Wall => "wall clock".to_owned(),
            _ if self.speed > 0.0 => format!("simulated ×{}", self.speed),
            _ => "simulated, as fast as possible".to_owned(),
        }
    }
}
