//! Editing the graph: the selection, copy and paste, duplicate, delete, wiring and
//! adding nodes. Menus, shortcuts and the canvas all come through here.

use std::time::Instant;

use egui_snarl::{InPinId, NodeId, OutPinId};
use tributary_engine::engine::LogLevel;
use tributary_engine::nodes::NodeKind;

use crate::app::{CANVAS_ID, TributaryApp};

/// How far pasted and duplicated nodes sit from their originals.
pub const PASTE_OFFSET: egui::Vec2 = egui::vec2(40.0, 40.0);

impl TributaryApp {
    /// The nodes an edit command applies to: everything after Select All, else the
    /// canvas's selection, else the node shown in the inspector.
    pub fn selection(&self, ctx: &egui::Context) -> Vec<NodeId> {
        if self.all_selected {
            return self.doc.snarl.node_ids().map(|(id, _)| id).collect();
        }
        let mut nodes = egui_snarl::ui::get_selected_nodes(egui::Id::new(CANVAS_ID), ctx);
        if let Some(nid) = self.selected.as_ref().and_then(|s| self.doc.node_id(s))
            && !nodes.contains(&nid)
        {
            nodes.push(nid);
        }
        nodes
    }

    /// What Copy copied last.
    pub fn clipboard_text(&self) -> Option<String> {
        self.clipboard.clone()
    }

    /// Deletes the selected nodes (and their wires).
    pub(crate) fn delete_selected(&mut self, ctx: &egui::Context) {
        let nodes = self.selection(ctx);
        for nid in &nodes {
            self.doc.snarl.remove_node(*nid);
        }
        self.selected = None;
        self.all_selected = false;
        if !nodes.is_empty() {
            self.doc.checkpoint();
        }
    }

    /// Copies the selected nodes and the wires among them.
    pub(crate) fn copy_selected(&mut self, ctx: &egui::Context) {
        let nodes = self.selection(ctx);
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
                self.selected = added
                    .first()
                    .and_then(|n| self.doc.snarl.get_node(*n))
                    .map(|n| n.id.clone());
                self.all_selected = false;
                self.doc.checkpoint();
            }
            Err(e) => self.run.log(LogLevel::Warning, None, e),
        }
    }

    /// Duplicates the selected nodes (with the wires among them), as copy and paste do.
    pub(crate) fn duplicate_selected(&mut self, ctx: &egui::Context) {
        let nodes = self.selection(ctx);
        if !nodes.is_empty() {
            let text = self.doc.copy_nodes(&nodes);
            self.paste(&text);
        }
    }

    /// Adds a node of `kind` at `pos` (canvas coordinates) and selects it.
    pub fn add_node(&mut self, kind: NodeKind, pos: egui::Pos2) {
        let nid = crate::panels::canvas::add_node(&mut self.doc.snarl, kind, pos);
        self.selected = self.doc.snarl.get_node(nid).map(|n| n.id.clone());
        self.all_selected = false;
        self.doc.checkpoint();
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

    /// Shows why an edit was refused, at the pointer and in the log.
    pub(crate) fn refuse(&mut self, reason: String) {
        self.run.log(LogLevel::Warning, None, reason.clone());
        self.view.refusal = Some((reason, Instant::now()));
    }
}
