//! What the canvas knows between frames: where each node was drawn, the view's
//! transform, a rubber band being drawn, and a pending Zoom to fit.

use egui::emath::TSTransform;
use egui::{Pos2, Rect, Vec2, pos2, vec2};
use egui_snarl::NodeId;

/// Pins stick out of a node's frame by about this much (canvas units).
const PIN_MARGIN: f32 = 10.0;
/// Space kept around the graph by Zoom to fit (screen points).
pub const FIT_MARGIN: f32 = 24.0;
/// Zoom to fit never magnifies beyond this.
pub const FIT_MAX_SCALE: f32 = 1.0;
/// Zoom to fit never shrinks below this (text stays readable; the rest can be panned to).
pub const FIT_MIN_SCALE: f32 = 0.4;
/// The size assumed for a node not drawn yet.
pub const NODE_SIZE: Vec2 = vec2(200.0, 110.0);

/// A rubber band: dragged from empty canvas, it selects the nodes inside.
#[derive(Clone, Copy, Debug)]
pub struct Band {
    /// Where the drag started (screen).
    pub origin: Pos2,
    /// Where the pointer is (screen).
    pub current: Pos2,
    /// The view's transform when it started: the canvas does not pan while it is drawn.
    pub lock: TSTransform,
    /// Shift or Ctrl held: the band adds to the selection.
    pub additive: bool,
}

impl Band {
    /// The band in canvas coordinates.
    pub fn graph_rect(&self) -> Rect {
        let from_screen = self.lock.inverse();
        Rect::from_two_pos(from_screen * self.origin, from_screen * self.current)
    }
}

/// The canvas between frames.
pub struct CanvasView {
    /// Each node's frame as drawn last frame (canvas coordinates), topmost last.
    pub rects: Vec<(NodeId, Rect)>,
    /// Where the canvas was on screen last frame.
    pub screen: Rect,
    /// Canvas → screen, as drawn last frame.
    pub to_global: TSTransform,
    /// A rubber band being drawn.
    pub band: Option<Band>,
    /// Frames in which the view still fits the graph (node sizes settle over a few
    /// frames, as text appears when zoomed in).
    pub fit_frames: u8,
    /// A transform to take next frame (Reset zoom).
    pub set_transform: Option<TSTransform>,
    /// Arrange the graph once its nodes have been drawn (their sizes known).
    pub arrange_pending: bool,
}

impl Default for CanvasView {
    fn default() -> Self {
        Self {
            rects: Vec::new(),
            screen: Rect::from_min_size(Pos2::ZERO, vec2(800.0, 600.0)),
            to_global: TSTransform::IDENTITY,
            band: None,
            fit_frames: 0,
            set_transform: None,
            arrange_pending: false,
        }
    }
}

impl CanvasView {
    /// Asks for Zoom to fit over the next frames.
    pub fn fit(&mut self) {
        self.fit_frames = 3;
    }

    /// Asks for 100 % around the centre of the view.
    pub fn actual_size(&mut self) {
        let centre = self.to_global.inverse() * self.screen.center();
        self.set_transform = Some(TSTransform::new(
            self.screen.center().to_vec2() - centre.to_vec2(),
            1.0,
        ));
    }

    /// The topmost node under `screen_pos` (its pins included), by last frame's drawing.
    pub fn node_at(&self, screen_pos: Pos2) -> Option<NodeId> {
        let p = self.to_global.inverse() * screen_pos;
        self.rects
            .iter()
            .rev()
            .find(|(_, r)| r.expand2(vec2(PIN_MARGIN, 0.0)).contains(p))
            .map(|(id, _)| *id)
    }

    /// The drawn size of `node`, or a typical size when it has not been drawn.
    pub fn size_of(&self, node: NodeId) -> Vec2 {
        self.rects
            .iter()
            .find(|(id, _)| *id == node)
            .map_or(NODE_SIZE, |(_, r)| r.size())
    }

    /// The transform showing every node of `rects` in `screen`: as large as fits, but
    /// never magnified and never so small that text cannot be read; centred.
    pub fn fit_transform(rects: &[(NodeId, Rect)], screen: Rect) -> TSTransform {
        let bounds = rects
            .iter()
            .fold(Rect::NOTHING, |acc, (_, r)| acc.union(*r));
        if !bounds.is_positive() {
            return TSTransform::from_translation(
                screen.min.to_vec2() + vec2(FIT_MARGIN, FIT_MARGIN),
            );
        }
        let room = (screen.size() - Vec2::splat(2.0 * FIT_MARGIN)).max(Vec2::splat(1.0));
        let scale = (room.x / bounds.width())
            .min(room.y / bounds.height())
            .clamp(FIT_MIN_SCALE, FIT_MAX_SCALE);
        // Too big to fit at a readable size: show the top-left part (where sources are).
        let anchor = if bounds.width() * scale > room.x || bounds.height() * scale > room.y {
            let shown = room / scale;
            pos2(
                if bounds.width() * scale > room.x {
                    bounds.left() + shown.x / 2.0
                } else {
                    bounds.center().x
                },
                if bounds.height() * scale > room.y {
                    bounds.top() + shown.y / 2.0
                } else {
                    bounds.center().y
                },
            )
        } else {
            bounds.center()
        };
        TSTransform::new(screen.center().to_vec2() - anchor.to_vec2() * scale, scale)
    }

    /// A free spot for a new node of typical size: right of `near` (the selected node)
    /// when given, else in the middle of the view; moved down past any node in the way.
    pub fn free_spot(&self, near: Option<Rect>) -> Pos2 {
        let view = self.to_global.inverse() * self.screen;
        let mut at = match near {
            Some(r) => pos2(r.right() + 60.0, r.top()),
            None => view.center() - NODE_SIZE / 2.0,
        };
        for _ in 0..200 {
            let wanted = Rect::from_min_size(at, NODE_SIZE).expand(16.0);
            match self.rects.iter().find(|(_, r)| r.intersects(wanted)) {
                Some((_, r)) => at.y = r.bottom() + 24.0,
                None => break,
            }
        }
        at
    }
}
