//! The canvas: nodes with typed pins, validated connections, node status and live
//! rates, charts on chart nodes, and the add-node and node menus.

use std::collections::BTreeMap;
use std::time::Duration;

use egui::{Color32, Ui};
use egui_snarl::ui::{PinInfo, PinShape, SnarlStyle, SnarlViewer, SnarlWidget};
use egui_snarl::{InPin, InPinId, NodeId, OutPin, OutPinId, Snarl};
use tributary_engine::nodes::{Category, NodeKind, PortType};
use tributary_engine::project::{Node, Position};
use tributary_engine::{NodeStatus, RunTarget};

use crate::app::{CANVAS_ID, TributaryApp};
use crate::commands::AppCommand;
use crate::state::document::fresh_id;
use crate::state::run_view::NodeRunState;
use crate::theme;
use crate::widgets::metrics_view::human_rate;

/// Draws the canvas (in the central panel) and applies what was done on it.
pub fn ui(app: &mut TributaryApp, ui: &mut Ui) {
    let ctx = ui.ctx().clone();
    let mut commands = Vec::new();
    let mut refusal = None;
    let mut clicked = None;
    let mut to_global = None;
    let mut viewer = Viewer {
        runs: &app.run.nodes,
        refusal: &mut refusal,
        commands: &mut commands,
        menu_search: &mut app.view.menu_search,
        selected: app.selected.as_deref(),
        clicked: &mut clicked,
        charts: &app.run.charts,
        all_selected: app.all_selected,
        to_global: &mut to_global,
    };
    let canvas = SnarlWidget::new()
        .id(egui::Id::new(CANVAS_ID))
        .style(SnarlStyle::new())
        .show(&mut app.doc.snarl, &mut viewer, ui);
    let dropped = canvas
        .dnd_release_payload::<NodeKind>()
        .zip(ctx.pointer_interact_pos());
    // A palette entry dropped on the canvas: a new node where it was dropped.
    if let Some((kind, screen)) = dropped {
        let at = to_global.map_or(screen, |t: egui::emath::TSTransform| t.inverse() * screen);
        app.add_node(*kind, at);
    }
    if let Some(r) = refusal {
        app.refuse(r);
    }
    refusal_ui(app, &ctx);
    for c in commands {
        match c {
            CanvasCommand::RunNode(id) => app.run(RunTarget::Node(id)),
            CanvasCommand::Duplicate(id) => {
                app.select(Some(&id));
                app.execute(AppCommand::Duplicate, &ctx);
            }
        }
    }
    // Selection: a click on a node's title or body, or the canvas's own selection
    // (shift-click, rectangle).
    if clicked.is_some() {
        app.selected = clicked;
        app.all_selected = false;
    } else {
        let selected = egui_snarl::ui::get_selected_nodes(egui::Id::new(CANVAS_ID), &ctx);
        if let Some(first) = selected.first()
            && let Some(n) = app.doc.snarl.get_node(*first)
        {
            app.selected = Some(n.id.clone());
        }
    }
    // One interaction, one undo step: checkpoint when the pointer is released.
    if ctx.input(|i| i.pointer.any_released()) {
        app.doc.checkpoint();
    }
}

/// A refused wire's reason, next to the pointer for a few seconds.
fn refusal_ui(app: &mut TributaryApp, ctx: &egui::Context) {
    let Some((text, at)) = &app.view.refusal else {
        return;
    };
    if at.elapsed() < Duration::from_secs(4) {
        egui::Tooltip::always_open(
            ctx.clone(),
            egui::LayerId::background(),
            egui::Id::new("refusal"),
            egui::PopupAnchor::Pointer,
        )
        .show(|ui| {
            ui.colored_label(theme::ERROR, text);
        });
        ctx.request_repaint_after(Duration::from_millis(250));
    } else {
        app.view.refusal = None;
    }
}

/// Things the canvas asks the app to do after the frame.
#[derive(Clone, Debug, PartialEq)]
pub enum CanvasCommand {
    /// Run this node (and what it needs).
    RunNode(String),
    /// Duplicate this node, as Edit → Duplicate does.
    Duplicate(String),
}

/// The canvas viewer, borrowing what it shows for one frame.
pub struct Viewer<'a> {
    /// Run state by node id.
    pub runs: &'a BTreeMap<String, NodeRunState>,
    /// A refused connection's reason, shown as a tooltip.
    pub refusal: &'a mut Option<String>,
    /// Commands for the app.
    pub commands: &'a mut Vec<CanvasCommand>,
    /// Search text of the add-node menu.
    pub menu_search: &'a mut String,
    /// The selected node's id.
    pub selected: Option<&'a str>,
    /// Set to the id of a node whose title or body was clicked this frame.
    pub clicked: &'a mut Option<String>,
    /// The canvas's graph → screen transform, as drawn this frame.
    pub to_global: &'a mut Option<egui::emath::TSTransform>,
    /// Select All is in effect: every node is drawn selected.
    pub all_selected: bool,
    /// Live charts of series-sink nodes, drawn in their node's body.
    pub charts: &'a BTreeMap<String, crate::widgets::chart::ChartView>,
}

/// Table pins are squares, stream pins triangles; the rest circles.
pub fn pin_info(ty: PortType) -> PinInfo {
    let shape = match ty {
        PortType::Table => PinShape::Square,
        PortType::Stream => PinShape::Triangle,
        PortType::Crawl => PinShape::Star,
        PortType::Objects | PortType::Catalog => PinShape::Circle,
    };
    PinInfo::default()
        .with_shape(shape)
        .with_fill(theme::port(ty))
        .with_wire_color(theme::port(ty))
}

/// Whether connecting `from` to `to` is allowed; the reason when not.
pub fn check_connection(snarl: &Snarl<Node>, from: OutPinId, to: InPinId) -> Result<(), String> {
    let (Some(f), Some(t)) = (snarl.get_node(from.node), snarl.get_node(to.node)) else {
        return Err("the node no longer exists".to_owned());
    };
    let (Some(out), Some(inp)) = (
        f.kind().outputs().get(from.output),
        t.kind().inputs().get(to.input),
    ) else {
        return Err("no such port".to_owned());
    };
    if out.ty != inp.ty {
        return Err(format!(
            "Cannot connect: '{}' gives {} but '{}' takes {}",
            out.name, out.ty, inp.name, inp.ty
        ));
    }
    if from.node == to.node || reaches(snarl, to.node, from.node) {
        return Err("Cannot connect: the wire would make a cycle".to_owned());
    }
    Ok(())
}

/// Connects `from` to `to` when allowed, replacing the wire of a single-wire input.
/// Returns why not otherwise. The canvas and scripted edits both come through here.
pub fn try_connect(snarl: &mut Snarl<Node>, from: OutPinId, to: InPinId) -> Result<(), String> {
    check_connection(snarl, from, to)?;
    let port = snarl[to.node].kind().inputs()[to.input];
    if !port.multiple {
        snarl.drop_inputs(to);
    }
    snarl.connect(from, to);
    Ok(())
}

/// Whether `target` is downstream of `start`.
fn reaches(snarl: &Snarl<Node>, start: NodeId, target: NodeId) -> bool {
    let mut stack = vec![start];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(n) = stack.pop() {
        if n == target {
            return true;
        }
        if seen.insert(n) {
            stack.extend(
                snarl
                    .wires()
                    .filter(|(f, _)| f.node == n)
                    .map(|(_, t)| t.node),
            );
        }
    }
    false
}

/// Adds a node of `kind` at `pos` and returns it.
pub fn add_node(snarl: &mut Snarl<Node>, kind: NodeKind, pos: egui::Pos2) -> NodeId {
    let id = fresh_id(snarl, kind);
    let node = Node {
        name: id.clone(),
        id,
        position: Position { x: pos.x, y: pos.y },
        config: kind.default_config(),
    };
    snarl.insert_node(pos, node)
}

/// Kinds grouped by palette category, filtered by a search text.
pub fn kinds_matching(search: &str) -> Vec<(Category, Vec<NodeKind>)> {
    let needle = search.trim().to_lowercase();
    let mut groups: BTreeMap<Category, Vec<NodeKind>> = BTreeMap::new();
    for &k in NodeKind::ALL {
        if needle.is_empty()
            || k.as_str().contains(&needle)
            || k.description().to_lowercase().contains(&needle)
        {
            groups.entry(k.category()).or_default().push(k);
        }
    }
    groups.into_iter().collect()
}

/// Below this canvas scale, text is too small to read and nodes are drawn simplified.
pub const DETAIL_SCALE: f32 = 0.4;

impl Viewer<'_> {
    /// Whether the canvas is zoomed out too far to read text.
    fn zoomed_out(&self) -> bool {
        self.to_global.is_some_and(|t| t.scaling < DETAIL_SCALE)
    }
}

impl SnarlViewer<Node> for Viewer<'_> {
    fn title(&mut self, node: &Node) -> String {
        if node.name.is_empty() {
            node.id.clone()
        } else {
            node.name.clone()
        }
    }

    fn show_header(
        &mut self,
        node: NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        ui: &mut Ui,
        snarl: &mut Snarl<Node>,
    ) {
        let title = self.title(&snarl[node]);
        if !self.zoomed_out() {
            ui.label(snarl[node].kind().icon());
        }
        let r = ui
            .add(egui::Label::new(egui::RichText::new(title).strong()).sense(egui::Sense::click()));
        if r.clicked() {
            *self.clicked = Some(snarl[node].id.clone());
        }
    }

    fn node_frame(
        &mut self,
        default: egui::Frame,
        node: NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        snarl: &Snarl<Node>,
    ) -> egui::Frame {
        if self.all_selected || self.selected == Some(snarl[node].id.as_str()) {
            default.stroke(egui::Stroke::new(2.0, theme::SELECTED))
        } else {
            default
        }
    }

    fn inputs(&mut self, node: &Node) -> usize {
        node.kind().inputs().len()
    }

    fn outputs(&mut self, node: &Node) -> usize {
        node.kind().outputs().len()
    }

    fn show_input(
        &mut self,
        pin: &InPin,
        ui: &mut Ui,
        snarl: &mut Snarl<Node>,
    ) -> impl egui_snarl::ui::SnarlPin + 'static {
        let port = snarl[pin.id.node].kind().inputs()[pin.id.input];
        if !self.zoomed_out() {
            ui.label(port.name).on_hover_ui(|ui| {
                ui.label(format!(
                    "{} input{}{}",
                    port.ty,
                    if port.required { ", required" } else { "" },
                    if port.multiple {
                        ", takes several wires"
                    } else {
                        ""
                    }
                ));
            });
        }
        pin_info(port.ty)
    }

    fn show_output(
        &mut self,
        pin: &OutPin,
        ui: &mut Ui,
        snarl: &mut Snarl<Node>,
    ) -> impl egui_snarl::ui::SnarlPin + 'static {
        let port = snarl[pin.id.node].kind().outputs()[pin.id.output];
        if !self.zoomed_out() {
            ui.label(port.name).on_hover_ui(|ui| {
                ui.label(format!("{} output", port.ty));
            });
        }
        pin_info(port.ty)
    }

    fn has_body(&mut self, _node: &Node) -> bool {
        true
    }

    fn show_body(
        &mut self,
        node: NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        ui: &mut Ui,
        snarl: &mut Snarl<Node>,
    ) {
        let n = &snarl[node];
        let state = self.runs.get(&n.id).cloned().unwrap_or_default();
        if self.zoomed_out() {
            // Too small to read: a bar in the status colour stands for the body.
            let color = theme::status(state.status);
            let (rect, _) = ui.allocate_exact_size(egui::vec2(80.0, 8.0), egui::Sense::hover());
            ui.painter().rect_filled(rect, 2.0, color);
            return;
        }
        ui.vertical(|ui| {
            ui.weak(n.kind().as_str());
            let (text, color) = match state.status {
                None | Some(NodeStatus::Idle) => ("idle".to_owned(), Color32::GRAY),
                Some(NodeStatus::Running) => (
                    match state.records_per_sec {
                        Some(r) => format!(
                            "running · {} rec/s{}",
                            human_rate(r),
                            match state.backpressure {
                                Some(b) if b > 0.2 => format!(" · back-pressure {:.0}%", b * 100.0),
                                _ => String::new(),
                            }
                        ),
                        None => format!("running {}", state.progress.as_deref().unwrap_or("")),
                    },
                    theme::RUNNING,
                ),
                Some(NodeStatus::Ok) => (
                    format!("ok · {} out", state.records_out.unwrap_or(0)),
                    theme::OK,
                ),
                Some(NodeStatus::Error) => ("error".to_owned(), theme::ERROR),
                Some(NodeStatus::Skipped) => ("skipped".to_owned(), Color32::DARK_GRAY),
                Some(NodeStatus::Stopped) => ("stopped".to_owned(), Color32::DARK_GRAY),
            };
            let r = ui.add(
                egui::Label::new(egui::RichText::new(text).color(color))
                    .sense(egui::Sense::click()),
            );
            if r.clicked() {
                *self.clicked = Some(n.id.clone());
            }
            if let Some(e) = &state.error {
                r.on_hover_text(e);
                let short: String = e.chars().take(60).collect();
                ui.colored_label(theme::ERROR, short);
            }
            if let Some(view) = self.charts.get(&n.id) {
                ui.allocate_ui(egui::vec2(280.0, 160.0), |ui| {
                    ui.set_width(280.0);
                    crate::widgets::chart::chart_ui(
                        ui,
                        &format!("node-{}", n.id),
                        view,
                        150.0,
                        crate::widgets::chart::Detail::Thumbnail,
                    );
                });
            }
        });
    }

    fn current_transform(
        &mut self,
        to_global: &mut egui::emath::TSTransform,
        _snarl: &mut Snarl<Node>,
    ) {
        *self.to_global = Some(*to_global);
    }

    fn connect(&mut self, from: &OutPin, to: &InPin, snarl: &mut Snarl<Node>) {
        if let Err(reason) = try_connect(snarl, from.id, to.id) {
            *self.refusal = Some(reason);
        }
    }

    fn has_graph_menu(&mut self, _pos: egui::Pos2, _snarl: &mut Snarl<Node>) -> bool {
        true
    }

    fn show_graph_menu(&mut self, pos: egui::Pos2, ui: &mut Ui, snarl: &mut Snarl<Node>) {
        ui.label("Add node");
        ui.text_edit_singleline(self.menu_search).request_focus();
        for (category, kinds) in kinds_matching(self.menu_search) {
            ui.weak(format!("{category:?}"));
            for kind in kinds {
                if ui
                    .button(kind.as_str())
                    .on_hover_text(kind.description())
                    .clicked()
                {
                    add_node(snarl, kind, pos);
                    self.menu_search.clear();
                    ui.close();
                }
            }
        }
    }

    fn has_node_menu(&mut self, _node: &Node) -> bool {
        true
    }

    fn show_node_menu(
        &mut self,
        node: NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        ui: &mut Ui,
        snarl: &mut Snarl<Node>,
    ) {
        if ui.button("Run this node").clicked() {
            self.commands
                .push(CanvasCommand::RunNode(snarl[node].id.clone()));
            ui.close();
        }
        if ui.button("Duplicate").clicked() {
            self.commands
                .push(CanvasCommand::Duplicate(snarl[node].id.clone()));
            ui.close();
        }
        if ui.button("Delete").clicked() {
            snarl.remove_node(node);
            ui.close();
        }
    }
}
