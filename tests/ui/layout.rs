//! The canvas's pure parts: the layered layout (no overlaps, wires left to right, a
//! 200-node graph), Zoom to fit's transform, free spots for new nodes, the selection.

use egui::{Pos2, Rect, Vec2, pos2, vec2};
use egui_snarl::NodeId;
use tributary::layout::layered;
use tributary::state::canvas::{CanvasView, FIT_MARGIN, FIT_MIN_SCALE, NODE_SIZE};
use tributary::state::selection::Selection;

/// The checks every layout must pass: no overlap, every wire left to right.
fn check(sizes: &[Vec2], edges: &[(usize, usize)], pos: &[Pos2]) {
    let rects: Vec<Rect> = pos
        .iter()
        .zip(sizes)
        .map(|(p, s)| Rect::from_min_size(*p, *s))
        .collect();
    for (i, a) in rects.iter().enumerate() {
        for (j, b) in rects.iter().enumerate().skip(i + 1) {
            assert!(!a.intersects(*b), "nodes {i} {a:?} and {j} {b:?} overlap");
        }
    }
    for (a, b) in edges {
        assert!(
            rects[*a].right() < rects[*b].left(),
            "the wire {a} → {b} does not go left to right"
        );
    }
}

#[test]
fn a_chain_is_one_row_and_a_fan_is_one_column() {
    let sizes = vec![vec2(200.0, 100.0); 5];
    let edges = [(0, 1), (1, 2), (0, 3), (0, 4)];
    let pos = layered(&sizes, &edges);
    check(&sizes, &edges, &pos);
    assert_eq!(pos[1].x, pos[3].x, "0's outputs share a column");
    assert_eq!(pos[1].x, pos[4].x);
    assert!(pos[2].x > pos[1].x);
}

#[test]
fn a_long_wire_goes_to_the_last_column() {
    // 0 → 1 → 2 and 0 → 2: node 2 stands right of 1.
    let sizes = vec![vec2(150.0, 80.0); 3];
    let edges = [(0, 2), (0, 1), (1, 2)];
    let pos = layered(&sizes, &edges);
    check(&sizes, &edges, &pos);
    assert!(pos[2].x > pos[1].x);
}

#[test]
fn disconnected_nodes_and_a_refused_cycle_are_laid_out() {
    let sizes = vec![vec2(100.0, 50.0), vec2(120.0, 300.0), vec2(80.0, 40.0)];
    let pos = layered(&sizes, &[(0, 1), (1, 0)]);
    assert_eq!(pos.len(), 3);
    check(&sizes, &[], &pos);
    assert!(layered(&[], &[]).is_empty());
}

#[test]
fn a_generated_200_node_graph() {
    // A deterministic pseudo-random DAG: each node wired from up to 2 earlier ones.
    let mut seed = 7u64;
    let mut next = move |m: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % m
    };
    let n = 200;
    let sizes: Vec<Vec2> = (0..n)
        .map(|_| vec2(160.0 + next(120) as f32, 60.0 + next(160) as f32))
        .collect();
    let mut edges = Vec::new();
    for b in 1..n {
        for _ in 0..=next(2) {
            let a = next(b);
            if !edges.contains(&(a, b)) {
                edges.push((a, b));
            }
        }
    }
    let started = std::time::Instant::now();
    let pos = layered(&sizes, &edges);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    check(&sizes, &edges, &pos);
}

fn rect(x: f32, y: f32, w: f32, h: f32) -> Rect {
    Rect::from_min_size(pos2(x, y), vec2(w, h))
}

#[test]
fn fit_centres_the_graph_and_never_magnifies() {
    let screen = rect(100.0, 50.0, 1000.0, 600.0);
    let small = [(NodeId(0), rect(0.0, 0.0, 200.0, 100.0))];
    let t = CanvasView::fit_transform(&small, screen);
    assert_eq!(t.scaling, 1.0);
    assert_eq!(t * pos2(100.0, 50.0), screen.center());
    let wide = [
        (NodeId(0), rect(0.0, 0.0, 200.0, 100.0)),
        (NodeId(1), rect(1600.0, 300.0, 200.0, 100.0)),
    ];
    let t = CanvasView::fit_transform(&wide, screen);
    assert!((t.scaling - (1000.0 - 2.0 * FIT_MARGIN) / 1800.0).abs() < 1e-4);
    let shown = t * Rect::from_min_max(pos2(0.0, 0.0), pos2(1800.0, 400.0));
    assert!(screen.contains_rect(shown), "{shown:?} in {screen:?}");
}

#[test]
fn a_graph_too_big_to_read_shows_its_top_left() {
    let screen = rect(0.0, 0.0, 800.0, 600.0);
    let huge = [
        (NodeId(0), rect(0.0, 0.0, 200.0, 100.0)),
        (NodeId(1), rect(9000.0, 0.0, 200.0, 100.0)),
    ];
    let t = CanvasView::fit_transform(&huge, screen);
    assert_eq!(t.scaling, FIT_MIN_SCALE);
    let first = t * pos2(0.0, 0.0);
    assert!((first.x - FIT_MARGIN).abs() < 1e-3, "{first:?}");
}

#[test]
fn a_free_spot_avoids_the_nodes_there() {
    let view = CanvasView {
        rects: vec![
            (NodeId(0), rect(0.0, 0.0, 200.0, 100.0)),
            (NodeId(1), rect(260.0, 0.0, 200.0, 100.0)),
        ],
        ..CanvasView::default()
    };
    let at = view.free_spot(Some(view.rects[0].1));
    let placed = Rect::from_min_size(at, NODE_SIZE);
    assert!(view.rects.iter().all(|(_, r)| !r.intersects(placed)));
    assert!(at.x > 200.0, "right of the selected node");
}

#[test]
fn click_shift_click_ctrl_click() {
    let mut s = Selection::default();
    s.only("a");
    assert_eq!(s.single(), Some("a"));
    s.add("b");
    assert_eq!(s.ids(), ["a", "b"]);
    assert_eq!(s.single(), None);
    s.toggle("a");
    assert_eq!(s.ids(), ["b"]);
    s.toggle("c");
    s.add("b");
    assert_eq!(s.ids(), ["c", "b"], "re-adding moves it last");
    s.only("c");
    assert_eq!(s.ids(), ["c"]);
    s.set(["x".to_owned(), "y".to_owned(), "x".to_owned()]);
    assert_eq!(s.ids(), ["x", "y"]);
    s.retain(|id| id != "x");
    assert_eq!(s.ids(), ["y"]);
    s.clear();
    assert!(s.is_empty());
}
