//! Editing the graph: the selection, copy and paste, duplicate, delete, wiring and
//! adding nodes. Menus, shortcuts and the canvas all come through here.

use std::time::Instant;

use egui_snarl::{InPinId, NodeId, OutPinId};
use tributary_engine::engine::LogLevel;
use tributary_engine::nodes::NodeKind;

use crate::app::TributaryApp;

/// How far pasted and duplicated nodes sit from their originals.
pub const PASTE_OFFSET: egui::Vec2 = egui::vec2(40.0, 40.0);

impl TributaryApp {
    /// The nodes an edit command applies to: the selected ones that exist.
    pub(crate) fn selected_nodes(&self) -> Vec<NodeId> {
        self.selection
            .ids()
            .iter()
            .filter_map(|id| self.doc.node_id(id))
            .collect()
    }

    /// Selects every node.
    pub(crate) fn select_all(&mut self) {
        let ids = self
            .doc
            .snarl
            .nodes()
            .map(|n| n.id.clone())
            .collect::<Vec<_>>();
        self.selection.set(ids);
    }

    /// What Copy copied last.
    pub fn clipboard_text(&self) -> Option<String> {
        self.clipboard.clone()
    }

    /// Deletes the selected nodes (and their wires); more than one only after asking.
    pub(crate) fn delete_selected(&mut self) {
        let nodes = self.selected_nodes();
        if nodes.len() > 1 {
            self.view.confirm_delete = Some(nodes.len());
        } else {
            self.delete_now();
        }
    }

    /// Deletes the selected nodes now (Undo brings them back).
    pub(crate) fn delete_now(&mut self) {
        self.view.confirm_delete = None;
        let nodes = self.selected_nodes();
        for nid in &nodes {
            self.doc.snarl.remove_node(*nid);
        }
        self.selection.clear();
        if !nodes.is_empty() {
            self.doc.checkpoint();
        }
    }

    /// Copies the selected nodes and the wires among them.
    pub(crate) fn copy_selected(&mut self, ctx: &egui::Context) {
        let nodes = self.selected_nodes();
        if nodes.is_empty() {
            return;
        }
        let text = self.doc.copy_nodes(&nodes);
        ctx.copy_text(text.clone());
        self.clipboard = Some(text);
    }

    /// Pastes copied nodes beside where they were, with fresh ids; they become selected.
    pub fn paste(&mut self, text: &str) {
        match self.doc.paste_nodes(text, PASTE_OFFSET) {
            Ok(added) => {
                let ids: Vec<String> = added
                    .iter()
                    .filter_map(|n| self.doc.snarl.get_node(*n))
                    .map(|n| n.id.clone())
                    .collect();
                self.selection.set(ids);
                self.doc.checkpoint();
            }
            Err(e) => self.run.log(LogLevel::Warning, None, e),
        }
    }

    /// Duplicates the selected nodes (with the wires among them), as copy and paste do.
    pub(crate) fn duplicate_selected(&mut self) {
        let nodes = self.selected_nodes();
        if !nodes.is_empty() {
            let text = self.doc.copy_nodes(&nodes);
            self.paste(&text);
        }
    }

    /// Adds a node of `kind` at `pos` (canvas coordinates) and selects it.
    pub fn add_node(&mut self, kind: NodeKind, pos: egui::Pos2) {
        let nid = crate::panels::canvas::add_node(&mut self.doc.snarl, kind, pos);
        self.select(
            self.doc
                .snarl
                .get_node(nid)
                .map(|n| n.id.clone())
                .as_deref(),
        );
        self.doc.checkpoint();
    }

    /// Adds a node of `kind` in free space beside the selected node (or in the middle
    /// of the view) and selects it: the palette's click.
    pub fn add_node_nearby(&mut self, kind: NodeKind) {
        let near = self
            .selection
            .ids()
            .last()
            .and_then(|id| self.doc.node_id(id))
            .and_then(|nid| {
                self.view
                    .canvas
                    .rects
                    .iter()
                    .find(|(n, _)| *n == nid)
                    .map(|(_, r)| *r)
            });
        let at = self.view.canvas.free_spot(near);
        self.add_node(kind, at);
    }

    /// Lays the graph out in columns, left to right (View → Arrange), then fits it.
    pub fn arrange(&mut self) {
        let ids: Vec<NodeId> = self.doc.snarl.node_ids().map(|(id, _)| id).collect();
        let index = |n: NodeId| ids.iter().position(|x| *x == n);
        let sizes: Vec<egui::Vec2> = ids.iter().map(|n| self.view.canvas.size_of(*n)).collect();
        // Wires come out of a hash set: sort them (by pin order) so the layout is the
        // same every time.
        let mut wires: Vec<_> = self
            .doc
            .snarl
            .wires()
            .filter_map(|(from, to)| {
                Some((
                    (index(from.node)?, from.output),
                    (index(to.node)?, to.input),
                ))
            })
            .collect();
        wires.sort();
        wires.dedup();
        let edges: Vec<(usize, usize)> = wires.iter().map(|(f, t)| (f.0, t.0)).collect();
        let placed = crate::layout::layered(&sizes, &edges);
        for (nid, at) in ids.iter().zip(placed) {
            // Positions are of the node's content; drawn rectangles include its frame.
            let inset = self
                .view
                .canvas
                .rects
                .iter()
                .find(|(n, _)| n == nid)
                .and_then(|(_, r)| Some(self.doc.snarl.get_node_info(*nid)?.pos - r.min))
                .unwrap_or_default();
            if let Some(info) = self.doc.snarl.get_node_info_mut(*nid) {
                info.pos = at + inset;
            }
        }
        self.doc.checkpoint();
        self.view.canvas.fit();
    }

    /// Wires `from_node.from_port` to `to_node.to_port` as a drag on the canvas would;
    /// a refused wire shows its reason at the pointer and in the log.
    pub fn connect(
        &mut self,
        from_node: &str,
        from_port: &str,
        to_node: &str,
        to_port: &str,
    ) -> Result<(), String> {
        let pins = (|| {
            let f = self.doc.node_id(from_node)?;
            let t = self.doc.node_id(to_node)?;
            let output = self.doc.snarl[f]
                .kind()
                .outputs()
                .iter()
                .position(|p| p.name == from_port)?;
            let input = self.doc.snarl[t]
                .kind()
                .inputs()
                .iter()
                .position(|p| p.name == to_port)?;
            Some((OutPinId { node: f, output }, InPinId { node: t, input }))
        })();
        let result = match pins {
            Some((f, t)) => crate::panels::canvas::try_connect(&mut self.doc.snarl, f, t),
            None => Err("no such node or port".to_owned()),
        };
        match &result {
            Ok(()) => {
                self.doc.checkpoint();
            }
            Err(reason) => self.refuse(reason.clone()),
        }
        result
    }

    /// Sets node `id`'s top-level setting `key` to `value`, as its inspector field would
    /// (one undo step). A value the kind does not accept is refused with the reason.
    pub fn set_setting(
        &mut self,
        id: &str,
        key: &str,
        value: impl Into<serde_json::Value>,
    ) -> Result<(), String> {
        let nid = self
            .doc
            .node_id(id)
            .ok_or_else(|| format!("no node '{id}'"))?;
        let node = &mut self.doc.snarl[nid];
        let serde_json::Value::Object(mut values) = node.config.to_value() else {
            return Err(format!("node '{id}' has no settings"));
        };
        values.insert(key.to_owned(), value.into());
        node.config = tributary_engine::nodes::NodeConfig::from_value(
            node.kind(),
            serde_json::Value::Object(values),
        )
        .map_err(|e| e.to_string())?;
        self.doc.checkpoint();
        Ok(())
    }

    /// Shows why an edit was refused, at the pointer and in the log.
    pub(crate) fn refuse(&mut self, reason: String) {
        self.run.log(LogLevel::Warning, None, reason.clone());
        self.view.refusal = Some((reason, Instant::now()));
    }
}
