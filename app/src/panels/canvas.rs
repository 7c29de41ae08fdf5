//! The canvas: nodes with typed pins, validated connections, node status and live
//! rates, charts on chart nodes, and the add-node and node menus.

use std::collections::BTreeMap;
use std::time::Duration;

use egui::emath::TSTransform;
use egui::{Color32, Ui};
use egui_snarl::ui::{PinInfo, PinShape, SnarlStyle, SnarlViewer, SnarlWidget};
use egui_snarl::{InPin, InPinId, NodeId, OutPin, OutPinId, Snarl};
use tributary_engine::nodes::{Category, NodeKind, PortType};
use tributary_engine::project::{Node, Position};
use tributary_engine::{NodeStatus, RunTarget};

use crate::app::{CANVAS_ID, TributaryApp};
use crate::commands::AppCommand;
use crate::state::canvas::{Band, CanvasView};
use crate::state::document::fresh_id;
use crate::state::run_view::{NodeRunState, RunView};
use crate::state::selection::Selection;
use crate::theme;
use crate::widgets::metrics_view::human_rate;

/// Draws the canvas (in the central panel) and applies what was done on it: selection
/// by click, Shift/Ctrl-click and rubber band; moving the selected nodes together;
/// dropping palette entries; Zoom to fit.
pub fn ui(app: &mut TributaryApp, ui: &mut Ui) {
    let ctx = ui.ctx().clone();
    let screen = ui.available_rect_before_wrap();
    app.view.canvas.screen = screen;
    // Dragging a node's title moves the node; it does not select the title's text.
    ui.style_mut().interaction.selectable_labels = false;
    start_band(app, &ctx, screen);
    let forced = forced_transform(app);
    let before: Vec<(NodeId, egui::Pos2)> = app
        .doc
        .snarl
        .nodes_pos_ids()
        .map(|(id, pos, _)| (id, pos))
        .collect();
    let mut commands = Vec::new();
    let mut refusal = None;
    let mut rects = Vec::with_capacity(before.len());
    let mut to_global = None;
    let mut viewer = Viewer {
        run: &app.run,
        revision: app.doc.content_revision,
        problems: app.view.problems.by_node(&app.doc),
        drift: &app.view.drift.by_node,
        refusal: &mut refusal,
        commands: &mut commands,
        menu_search: &mut app.view.menu_search,
        selection: &app.selection,
        rects: &mut rects,
        forced,
        to_global: &mut to_global,
        first_output_x: Default::default(),
    };
    // Shift belongs to our selection (Shift-click adds, Shift-drag adds a band); the
    // canvas widget would start its own selection with it.
    let shift = ctx.input(|i| i.modifiers.shift);
    ctx.input_mut(|i| i.modifiers.shift = false);
    let canvas = SnarlWidget::new()
        .id(egui::Id::new(CANVAS_ID))
        .style(canvas_style())
        .show(&mut app.doc.snarl, &mut viewer, ui);
    ctx.input_mut(|i| i.modifiers.shift = shift);
    app.view.canvas.rects = rects;
    if let Some(t) = to_global {
        app.view.canvas.to_global = t;
    }
    move_selected_together(app, &before);
    finish_band(app, &ctx);
    click_select(app, &ctx);
    let dropped = canvas
        .dnd_release_payload::<NodeKind>()
        .zip(ctx.pointer_interact_pos());
    // A palette entry dropped on the canvas: a new node where it was dropped.
    if let Some((kind, screen)) = dropped {
        let at = app.view.canvas.to_global.inverse() * screen;
        app.add_node(*kind, at);
    }
    if let Some(r) = refusal {
        app.refuse(r);
    }
    refusal_ui(app, &ctx);
    band_ui(app, &ctx);
    zoom_ui(app, ui, screen);
    for c in commands {
        match c {
            CanvasCommand::RunNode(id) => app.run(RunTarget::Node(id)),
            CanvasCommand::Duplicate(id) => {
                app.select(Some(&id));
                app.execute(AppCommand::Duplicate, &ctx);
            }
            CanvasCommand::ReplayFrom(id) => app.ask_replay(&id),
        }
    }
    if app.view.canvas.arrange_pending && !app.view.canvas.rects.is_empty() {
        app.view.canvas.arrange_pending = false;
        app.arrange();
    }
    // One interaction, one undo step: checkpoint when the pointer is released.
    if ctx.input(|i| i.pointer.any_released()) {
        app.doc.checkpoint();
    }
}

/// The zoom level in the canvas's corner: a click fits the graph, a double click is 100 %.
fn zoom_ui(app: &mut TributaryApp, ui: &mut Ui, screen: egui::Rect) {
    let text = format!("{:.0} %", app.view.canvas.to_global.scaling * 100.0);
    let size = egui::vec2(56.0, 20.0);
    let at = egui::Rect::from_min_size(screen.right_bottom() - size - egui::vec2(6.0, 6.0), size);
    let r = ui
        .put(
            at,
            egui::Button::new(egui::RichText::new(text).small()).frame(false),
        )
        .on_hover_text(
            "Zoom. Click: Zoom to fit (Home). Double-click: 100 % (Ctrl+1).\n\
             Ctrl+scroll or pinch zooms; scroll pans.",
        );
    if r.double_clicked() {
        app.view.canvas.actual_size();
    } else if r.clicked() {
        app.view.canvas.fit();
    }
}

/// The canvas's look: our selection draws its own outline, so the widget's is off.
fn canvas_style() -> SnarlStyle {
    let mut style = SnarlStyle::new();
    // Title, inputs, body, outputs, top to bottom: nodes stay narrow, so a pipeline
    // fits across the canvas at a readable size, and pin labels have room.
    style.node_layout = Some(egui_snarl::ui::NodeLayout::sandwich());
    style.select_style = Some(egui_snarl::ui::SelectionStyle {
        margin: egui::Margin::ZERO,
        rounding: egui::CornerRadius::ZERO,
        fill: Color32::TRANSPARENT,
        stroke: egui::Stroke::NONE,
    });
    // Double-click centring would fight Zoom to fit; Home does it instead.
    style.centering = Some(false);
    style
}

/// The transform this frame must take, if any: held while a rubber band is drawn, set by
/// Reset zoom, or computed by Zoom to fit from the nodes drawn last frame.
fn forced_transform(app: &mut TributaryApp) -> Option<TSTransform> {
    let canvas = &mut app.view.canvas;
    if let Some(band) = &canvas.band {
        return Some(band.lock);
    }
    if let Some(t) = canvas.set_transform.take() {
        return Some(t);
    }
    let drawn = canvas.rects.len() == app.doc.snarl.nodes().count();
    if canvas.fit_frames == 0 || !drawn {
        return None;
    }
    canvas.fit_frames -= 1;
    Some(CanvasView::fit_transform(&canvas.rects, canvas.screen))
}

/// A primary press on empty canvas starts a rubber band (with Shift or Ctrl, one that
/// adds to the selection). A press on a node, a pin, a menu or a window does not.
fn start_band(app: &mut TributaryApp, ctx: &egui::Context, screen: egui::Rect) {
    let press = ctx.input(|i| {
        let pressed = i.pointer.button_pressed(egui::PointerButton::Primary);
        (pressed, i.pointer.press_origin(), i.modifiers)
    });
    let (true, Some(origin), modifiers) = press else {
        return;
    };
    let on_canvas = screen.contains(origin)
        && ctx
            .layer_id_at(origin)
            .is_none_or(|l| l.order == egui::Order::Background)
        && !egui::Popup::is_any_open(ctx);
    if on_canvas
        && app.view.canvas.node_at(origin).is_none()
        && !ctx.input(|i| i.key_down(egui::Key::Space))
    {
        app.view.canvas.band = Some(Band {
            origin,
            current: origin,
            lock: app.view.canvas.to_global,
            additive: modifiers.shift || modifiers.command,
        });
    }
}

/// Follows the pointer while the band is drawn; on release selects the nodes wholly
/// inside it. A band that never grew is a click on empty canvas: it clears the selection.
fn finish_band(app: &mut TributaryApp, ctx: &egui::Context) {
    let Some(band) = &mut app.view.canvas.band else {
        return;
    };
    let (pos, down) = ctx.input(|i| (i.pointer.latest_pos(), i.pointer.primary_down()));
    if let Some(p) = pos {
        band.current = p;
    }
    if down {
        ctx.request_repaint();
        return;
    }
    let band = *band;
    app.view.canvas.band = None;
    let area = band.graph_rect();
    let grew = (band.current - band.origin).length() > 4.0;
    let inside: Vec<String> = if grew {
        app.view
            .canvas
            .rects
            .iter()
            .filter(|(_, r)| area.contains_rect(*r))
            .filter_map(|(id, _)| app.doc.snarl.get_node(*id).map(|n| n.id.clone()))
            .collect()
    } else {
        Vec::new()
    };
    if !band.additive {
        app.selection.clear();
    }
    for id in inside {
        app.selection.add(&id);
    }
}

/// The band, drawn over the canvas while it is dragged.
fn band_ui(app: &TributaryApp, ctx: &egui::Context) {
    let Some(band) = &app.view.canvas.band else {
        return;
    };
    if (band.current - band.origin).length() <= 4.0 {
        return;
    }
    let painter = ctx
        .layer_painter(egui::LayerId::new(
            egui::Order::Foreground,
            egui::Id::new("band"),
        ))
        .with_clip_rect(app.view.canvas.screen);
    let rect = egui::Rect::from_two_pos(band.origin, band.current);
    painter.rect(
        rect,
        2.0,
        theme::SELECTED.gamma_multiply(0.12),
        egui::Stroke::new(1.0, theme::SELECTED),
        egui::StrokeKind::Inside,
    );
}

/// A click anywhere on a node selects it; with Shift it is added, with Ctrl toggled.
fn click_select(app: &mut TributaryApp, ctx: &egui::Context) {
    let (clicked, pos, modifiers) = ctx.input(|i| {
        (
            i.pointer.button_clicked(egui::PointerButton::Primary),
            i.pointer.interact_pos(),
            i.modifiers,
        )
    });
    let (true, Some(pos)) = (clicked, pos) else {
        return;
    };
    if !app.view.canvas.screen.contains(pos)
        || ctx
            .layer_id_at(pos)
            .is_some_and(|l| l.order != egui::Order::Background)
    {
        return;
    }
    let Some(id) = app
        .view
        .canvas
        .node_at(pos)
        .and_then(|n| app.doc.snarl.get_node(n))
        .map(|n| n.id.clone())
    else {
        return;
    };
    if modifiers.command {
        app.selection.toggle(&id);
    } else if modifiers.shift {
        app.selection.add(&id);
    } else {
        app.selection.only(&id);
    }
}

/// The canvas moves the node being dragged; the other selected nodes follow it. Dragging
/// a node that is not selected selects it.
fn move_selected_together(app: &mut TributaryApp, before: &[(NodeId, egui::Pos2)]) {
    let moved = before.iter().find_map(|(id, old)| {
        let now = app.doc.snarl.get_node_info(*id)?.pos;
        (now != *old).then_some((*id, now - *old))
    });
    let Some((dragged, delta)) = moved else {
        return;
    };
    let Some(dragged_id) = app.doc.snarl.get_node(dragged).map(|n| n.id.clone()) else {
        return;
    };
    if !app.selection.contains(&dragged_id) {
        app.selection.only(&dragged_id);
        return;
    }
    for id in app.selection.ids().to_owned() {
        if id == dragged_id {
            continue;
        }
        if let Some(nid) = app.doc.node_id(&id)
            && let Some(info) = app.doc.snarl.get_node_info_mut(nid)
        {
            info.pos += delta;
        }
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
            ui.colored_label(theme::error(ui.visuals()), text);
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
    /// Ask where to replay from this stream node.
    ReplayFrom(String),
}

/// The canvas viewer, borrowing what it shows for one frame.
pub struct Viewer<'a> {
    /// Run state by node id.
    pub run: &'a RunView,
    /// The document's revision, to tell what a run made that an edit put out of date.
    pub revision: u64,
    /// Validation problems by node id (unconnected inputs, bad settings), before any run.
    pub problems: &'a BTreeMap<String, Vec<String>>,
    /// What schema drift (a proposed or new table version) does to each node.
    pub drift: &'a BTreeMap<String, Vec<tributary_engine::engine::drift::Impact>>,
    /// A refused connection's reason, shown as a tooltip.
    pub refusal: &'a mut Option<String>,
    /// Commands for the app.
    pub commands: &'a mut Vec<CanvasCommand>,
    /// Search text of the add-node menu.
    pub menu_search: &'a mut String,
    /// The selected nodes, drawn outlined.
    pub selection: &'a Selection,
    /// Each node's frame as drawn this frame (canvas coordinates).
    pub rects: &'a mut Vec<(NodeId, egui::Rect)>,
    /// A transform the view must take this frame.
    pub forced: Option<TSTransform>,
    /// The canvas's graph → screen transform, as drawn this frame.
    pub to_global: &'a mut Option<TSTransform>,
    /// Where each node's first output row started this frame (see `show_output`).
    pub first_output_x: std::collections::HashMap<NodeId, f32>,
}

/// Table pins are squares, stream pins triangles; the rest circles.
pub fn pin_info(ty: PortType) -> PinInfo {
    let shape = match ty {
        PortType::Table => PinShape::Square,
        PortType::Stream => PinShape::Triangle,
        PortType::Crawl => PinShape::Star,
        PortType::Objects | PortType::Catalog | PortType::Rows => PinShape::Circle,
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
    let carried = carried_type(snarl, from);
    if !carried.feeds(inp.ty) {
        return Err(format!(
            "Cannot connect: '{}' gives {} but '{}' takes {}",
            out.name, carried, inp.name, inp.ty
        ));
    }
    if from.node == to.node || reaches(snarl, to.node, from.node) {
        return Err("Cannot connect: the wire would make a cycle".to_owned());
    }
    Ok(())
}

/// What output `pin` carries: its declared type, or for a transform's `rows` output the
/// table or stream arriving at its `rows` inputs (see `PortType::carried`).
pub fn carried_type(snarl: &Snarl<Node>, pin: OutPinId) -> PortType {
    carried_within(snarl, pin, 0)
}

fn carried_within(snarl: &Snarl<Node>, pin: OutPinId, depth: usize) -> PortType {
    let Some(node) = snarl.get_node(pin.node) else {
        return PortType::Rows;
    };
    let kind = node.kind();
    let Some(port) = kind.outputs().get(pin.output) else {
        return PortType::Rows;
    };
    if port.ty != PortType::Rows || depth > 256 {
        return port.ty;
    }
    let arriving = kind
        .inputs()
        .iter()
        .enumerate()
        .filter(|(_, p)| p.ty == PortType::Rows)
        .flat_map(|(i, _)| {
            snarl
                .in_pin(InPinId {
                    node: pin.node,
                    input: i,
                })
                .remotes
        })
        .map(|remote| carried_within(snarl, remote, depth + 1))
        .collect::<Vec<_>>();
    PortType::carried(port.ty, arriving)
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
        faults: Default::default(),
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

/// Kinds matching a search text, best first: a name that is the text, then names that
/// start with it, then names with a word that starts with it, then names containing it,
/// then descriptions with a word that starts with it, then descriptions containing it.
/// "cat" finds `catalog` before `replay` (whose description mentions a catalog).
pub fn kinds_ranked(search: &str) -> Vec<NodeKind> {
    let needle = search.trim().to_lowercase();
    let word_starts = |text: &str| {
        text.split(|c: char| !c.is_alphanumeric())
            .any(|w| w.starts_with(needle.as_str()))
    };
    let mut ranked: Vec<(u8, NodeKind)> = NodeKind::ALL
        .iter()
        .filter_map(|&k| {
            let name = k.as_str();
            let description = k.description().to_lowercase();
            let rank = if needle.is_empty() || name == needle {
                0
            } else if name.starts_with(&needle) {
                1
            } else if word_starts(name) {
                2
            } else if name.contains(&needle) {
                3
            } else if word_starts(&description) {
                4
            } else if description.contains(&needle) {
                5
            } else {
                return None;
            };
            Some((rank, k))
        })
        .collect();
    // Stable: equal ranks keep the palette's order.
    ranked.sort_by_key(|(rank, _)| *rank);
    ranked.into_iter().map(|(_, k)| k).collect()
}

/// The room a chart takes inside a chart node: a KPI is one number and a sparkline.
fn chart_size(kind: tributary_engine::nodes::series_sink::ChartKind) -> egui::Vec2 {
    match kind {
        tributary_engine::nodes::series_sink::ChartKind::Kpi => egui::vec2(200.0, 84.0),
        _ => egui::vec2(210.0, 110.0),
    }
}

/// Characters of an error or a problem shown on a node's one line.
const NODE_TEXT_CHARS: usize = 36;

/// A node's status line and its colour.
fn status_text(v: &egui::Visuals, state: &NodeRunState) -> (String, Color32) {
    if let Some(past) = &state.past {
        return (past.clone(), theme::running(v));
    }
    match state.status {
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
            theme::running(v),
        ),
        Some(NodeStatus::Ok) => (
            format!("ok · {} out", state.records_out.unwrap_or(0)),
            theme::ok(v),
        ),
        Some(NodeStatus::Error) => ("error".to_owned(), theme::error(v)),
        Some(NodeStatus::Skipped) => ("skipped".to_owned(), v.weak_text_color()),
        Some(NodeStatus::Stopped) => ("stopped".to_owned(), v.weak_text_color()),
    }
}

/// The first line of `text`, cut to `max` characters with an ellipsis.
pub fn one_line(text: &str, max: usize) -> String {
    let first = text.lines().next().unwrap_or_default();
    if first.chars().count() <= max && !text.contains('\n') {
        return first.to_owned();
    }
    let cut: String = first.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", cut.trim_end())
}

/// Space kept after text in a node: the node's frame clips at the text's advance width,
/// which would shave the last letter.
const TEXT_PAD: f32 = 6.0;

/// At or below this canvas scale, text is too small to read and nodes are drawn
/// simplified (a graph too big to fit readably stops at Zoom to fit's minimum, this).
pub const DETAIL_SCALE: f32 = crate::state::canvas::FIT_MIN_SCALE;

impl Viewer<'_> {
    /// Whether the canvas is zoomed out too far to read text.
    fn zoomed_out(&self) -> bool {
        self.to_global
            .is_some_and(|t| t.scaling <= DETAIL_SCALE + 0.005)
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
        ui.add(egui::Label::new(egui::RichText::new(title).strong()).selectable(false));
        if !snarl[node].faults.is_none() {
            ui.label(egui::RichText::new("⚡").color(theme::warning(ui.visuals())))
                .on_hover_text(format!(
                    "faults injected: {}",
                    snarl[node].faults.describe()
                ));
        }
        // Room after the last letter: the node's frame clips at its text's advance width.
        ui.add_space(TEXT_PAD);
    }

    fn node_frame(
        &mut self,
        default: egui::Frame,
        node: NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        snarl: &Snarl<Node>,
    ) -> egui::Frame {
        if self.selection.contains(&snarl[node].id) {
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
            ui.add_space(TEXT_PAD);
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
        // A transform's input shows what is connected to it.
        let shown = if port.ty == PortType::Rows {
            PortType::carried(port.ty, pin.remotes.iter().map(|r| carried_type(snarl, *r)))
        } else {
            port.ty
        };
        pin_info(shown)
    }

    fn show_output(
        &mut self,
        pin: &OutPin,
        ui: &mut Ui,
        snarl: &mut Snarl<Node>,
    ) -> impl egui_snarl::ui::SnarlPin + 'static {
        let port = snarl[pin.id.node].kind().outputs()[pin.id.output];
        let carried = carried_type(snarl, pin.id);
        if !self.zoomed_out() {
            // (Right to left: the space is between the label and the pin.) The canvas
            // widget starts each output row a little further right than the one before
            // (it reserves the pin's room past the row's right edge, and the next row
            // aligns to that): rows after the first give that back, so every label
            // keeps its distance from its pin.
            let x = ui.next_widget_position().x;
            let first = *self.first_output_x.entry(pin.id.node).or_insert(x);
            ui.add_space(TEXT_PAD * 2.5 + (x - first).max(0.0));
            ui.label(port.name).on_hover_ui(|ui| {
                ui.label(if port.ty == PortType::Rows {
                    match carried {
                        PortType::Rows => {
                            "output: a table or a stream, as its input (none connected yet)"
                                .to_owned()
                        }
                        t => format!("{t} output (its input is a {t})"),
                    }
                } else {
                    format!("{} output", port.ty)
                });
            });
        }
        pin_info(carried)
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
        let state = self.run.nodes.get(&n.id).cloned().unwrap_or_default();
        let stale = self.run.stale(&n.id, self.revision);
        let problems = self
            .problems
            .get(&n.id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if self.zoomed_out() {
            // Too small to read: a bar in the status colour stands for the body.
            let drifted = self.drift.contains_key(&n.id);
            let color = match (&stale, problems.is_empty()) {
                _ if drifted => theme::error(ui.visuals()),
                (Some(_), _) => theme::stale(ui.visuals()),
                (None, false) if state.status.is_none() => theme::warning(ui.visuals()),
                _ => theme::status(ui.visuals(), state.status),
            };
            let (rect, _) = ui.allocate_exact_size(egui::vec2(80.0, 8.0), egui::Sense::hover());
            ui.painter().rect_filled(rect, 2.0, color);
            return;
        }
        ui.vertical(|ui| {
            ui.weak(n.kind().as_str());
            let (text, mut color) = status_text(ui.visuals(), &state);
            let mut text = text;
            if stale.is_some() {
                color = theme::stale(ui.visuals());
                text = format!("{text} · out of date");
            }
            let r = ui.label(egui::RichText::new(text).color(color));
            if let Some(why) = &stale {
                r.on_hover_text(why);
            }
            // The error on one line; all of it on hover and in the Log.
            if let Some(e) = &state.error {
                let line = one_line(e, NODE_TEXT_CHARS);
                let color = match stale {
                    Some(_) => theme::stale(ui.visuals()),
                    None => theme::error(ui.visuals()),
                };
                ui.label(egui::RichText::new(line).color(color))
                    .on_hover_text(e.as_str());
            }
            // Validation problems, before any run: a badge with the first, all on hover.
            if let Some(first) = problems.first() {
                let more = match problems.len() {
                    1 => String::new(),
                    n => format!(" (+{})", n - 1),
                };
                ui.label(
                    egui::RichText::new(format!("⚠ {}{more}", one_line(first, NODE_TEXT_CHARS)))
                        .color(theme::warning(ui.visuals())),
                )
                .on_hover_text(problems.join("\n"));
            }
            // Schema drift: what a proposed (or new) table version does to it.
            if let Some((breaks, line, all)) = self
                .drift
                .get(&n.id)
                .and_then(|i| crate::widgets::drift_view::node_line(i))
            {
                let color = if breaks {
                    theme::error(ui.visuals())
                } else {
                    theme::warning(ui.visuals())
                };
                ui.label(egui::RichText::new(one_line(&line, NODE_TEXT_CHARS)).color(color))
                    .on_hover_text(all);
            }
            // A chart node keeps its chart's room before it has data, so the layout
            // made for it still holds once the chart appears.
            if let tributary_engine::nodes::NodeConfig::SeriesSink(c) = &n.config {
                let size = chart_size(c.chart);
                ui.allocate_ui(size, |ui| {
                    ui.set_min_size(size);
                    ui.set_max_size(size);
                    match self.run.charts.get(&n.id) {
                        Some(view) => {
                            if self.run.stale_rows(&n.id, self.revision).is_some() {
                                ui.set_opacity(0.45);
                            }
                            crate::widgets::chart::chart_ui(
                                ui,
                                &format!("node-{}", n.id),
                                view,
                                size.y - 8.0,
                                crate::widgets::chart::Detail::Thumbnail,
                            );
                        }
                        None => {
                            ui.centered_and_justified(|ui| {
                                ui.weak("the chart shows here during a run");
                            });
                        }
                    }
                });
            }
            let width = ui.min_rect().width() + TEXT_PAD;
            ui.allocate_space(egui::vec2(width, 0.0));
        });
    }

    fn current_transform(&mut self, to_global: &mut TSTransform, _snarl: &mut Snarl<Node>) {
        if let Some(t) = self.forced {
            *to_global = t;
        }
        *self.to_global = Some(*to_global);
    }

    fn final_node_rect(
        &mut self,
        node: NodeId,
        rect: egui::Rect,
        _ui: &mut Ui,
        _snarl: &mut Snarl<Node>,
    ) {
        self.rects.push((node, rect));
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
        // Read Enter before the text field takes it: Enter adds the best match.
        let enter = ui.input(|i| i.key_pressed(egui::Key::Enter));
        ui.add(
            egui::TextEdit::singleline(self.menu_search).hint_text("Search, Enter adds the first"),
        )
        .request_focus();
        let mut chosen = None;
        if self.menu_search.trim().is_empty() {
            for (category, kinds) in kinds_matching("") {
                ui.weak(format!("{category:?}"));
                for kind in kinds {
                    if ui
                        .button(format!("{} {}", kind.icon(), kind.as_str()))
                        .on_hover_text(kind.description())
                        .clicked()
                    {
                        chosen = Some(kind);
                    }
                }
            }
        } else {
            let ranked = kinds_ranked(self.menu_search);
            if ranked.is_empty() {
                ui.weak("No node kind matches.");
            }
            for (i, kind) in ranked.iter().enumerate() {
                // The first is what Enter adds: shown selected.
                if ui
                    .add(egui::Button::selectable(
                        i == 0,
                        format!("{} {}", kind.icon(), kind.as_str()),
                    ))
                    .on_hover_text(kind.description())
                    .clicked()
                {
                    chosen = Some(*kind);
                }
            }
            if enter {
                chosen = chosen.or(ranked.first().copied());
            }
        }
        if let Some(kind) = chosen {
            add_node(snarl, kind, pos);
            self.menu_search.clear();
            ui.close();
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
        if snarl[node].kind() == tributary_engine::nodes::NodeKind::Stream
            && ui
                .button("Replay from here…")
                .on_hover_text("Run everything downstream again on what this durable stream retained (from a time or sequence number), nothing upstream; then compare with the original run in the Diff tab")
                .clicked()
        {
            self.commands
                .push(CanvasCommand::ReplayFrom(snarl[node].id.clone()));
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
