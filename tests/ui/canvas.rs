//! The canvas as in every diagram editor: click selection, rubber band, Escape, moving the
//! selection together, confirmed multi-delete, palette placement, Zoom to fit and Arrange.

use std::collections::BTreeSet;

use egui::{Modifiers, Pos2, Rect, pos2, vec2};
use egui_kittest::kittest::Queryable as _;
use tributary::AppCommand;

use crate::{H, app, click_at, command, drag, lake_example, node_rect};

fn selected(h: &H) -> BTreeSet<String> {
    h.state().selected_ids().iter().cloned().collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// A point of the canvas with no node: its top-left corner, inside the fit margin.
fn empty_spot(h: &H) -> Pos2 {
    let p = h.state().canvas_rect().min + vec2(12.0, 12.0);
    for id in node_ids(h) {
        assert!(!node_rect(h, &id).expand(12.0).contains(p));
    }
    p
}

fn node_ids(h: &H) -> Vec<String> {
    h.state()
        .project()
        .nodes
        .iter()
        .map(|n| n.id.clone())
        .collect()
}

/// Below the node's title and its first text row: plain node body.
fn body_point(r: Rect) -> Pos2 {
    pos2(r.center().x, r.bottom() - 6.0)
}

/// A click on node `id`'s body.
fn click_body(h: &mut H, id: &str, modifiers: Modifiers) {
    let at = body_point(node_rect(h, id));
    click_at(h, at, modifiers);
}

#[test]
fn a_click_anywhere_on_a_node_selects_it_and_escape_or_empty_canvas_clears() {
    let (_dir, path) = lake_example();
    let mut h = app(Some(&path));
    assert!(h.state().selected().is_none());
    let r = node_rect(&h, "rainy_2015");
    click_at(&mut h, body_point(r), Modifiers::NONE);
    assert_eq!(
        h.state().selected(),
        Some("rainy_2015"),
        "a click on the body"
    );
    // The inspector shows it.
    assert!(h.query_by_label_contains("rainy_2015 (query)").is_some());
    h.key_press(egui::Key::Escape);
    h.run_steps(2);
    assert!(selected(&h).is_empty(), "Escape clears");
    // The header's empty part, right of the title, also selects.
    let r = node_rect(&h, "catalog");
    click_at(
        &mut h,
        pos2(r.right() - 8.0, r.top() + 8.0),
        Modifiers::NONE,
    );
    assert_eq!(h.state().selected(), Some("catalog"));
    let spot = empty_spot(&h);
    click_at(&mut h, spot, Modifiers::NONE);
    assert!(selected(&h).is_empty(), "a click on empty canvas clears");
    assert!(
        h.query_by_label("Select a node to edit it: click it on the canvas.")
            .is_some()
    );
}

#[test]
fn shift_adds_ctrl_toggles_and_a_drag_moves_the_selection_together() {
    let (_dir, path) = lake_example();
    let mut h = app(Some(&path));
    click_body(&mut h, "raw", Modifiers::NONE);
    click_body(&mut h, "crawler", Modifiers::SHIFT);
    click_body(&mut h, "catalog", Modifiers::SHIFT);
    assert_eq!(selected(&h), set(&["raw", "crawler", "catalog"]));
    assert!(h.query_by_label("3 nodes selected").is_some());
    click_body(&mut h, "crawler", Modifiers::COMMAND);
    assert_eq!(selected(&h), set(&["raw", "catalog"]), "Ctrl-click toggles");
    // Dragging one selected node moves both, by the same amount; the others stay.
    let pos = |h: &H, id: &str| {
        let p = h.state().project();
        let n = p.nodes.iter().find(|n| n.id == id).unwrap();
        vec2(n.position.x, n.position.y)
    };
    let (raw, catalog, crawler) = (pos(&h, "raw"), pos(&h, "catalog"), pos(&h, "crawler"));
    let from = body_point(node_rect(&h, "raw"));
    drag(&mut h, from, from + vec2(0.0, 120.0));
    let moved = pos(&h, "raw") - raw;
    assert!(moved.y > 100.0, "moved {moved:?}");
    assert_eq!(pos(&h, "catalog") - catalog, moved);
    assert_eq!(pos(&h, "crawler"), crawler);
    // One drag, one undo step.
    command(&mut h, AppCommand::Undo);
    assert_eq!(pos(&h, "raw"), raw);
    assert_eq!(pos(&h, "catalog"), catalog);
}

#[test]
fn select_all_then_a_click_on_one_node_then_delete_deletes_that_node() {
    let (_dir, path) = lake_example();
    let mut h = app(Some(&path));
    h.key_press_modifiers(Modifiers::COMMAND, egui::Key::A);
    h.run_steps(2);
    assert_eq!(selected(&h).len(), 7);
    click_body(&mut h, "curated", Modifiers::NONE);
    assert_eq!(selected(&h), set(&["curated"]));
    h.key_press(egui::Key::Delete);
    h.run_steps(2);
    let ids = node_ids(&h);
    assert_eq!(ids.len(), 6);
    assert!(!ids.contains(&"curated".to_owned()));
}

#[test]
fn a_rubber_band_selects_exactly_the_nodes_inside_and_deleting_them_asks_first() {
    let (_dir, path) = lake_example();
    let mut h = app(Some(&path));
    // A band around the raw bucket and the crawler, starting on empty canvas.
    let band = node_rect(&h, "raw")
        .union(node_rect(&h, "crawler"))
        .expand(14.0);
    for id in node_ids(&h) {
        let inside = band.contains_rect(node_rect(&h, &id));
        assert_eq!(inside, id == "raw" || id == "crawler", "{id}");
        assert!(!node_rect(&h, &id).contains(band.left_top()));
    }
    drag(&mut h, band.left_top(), band.right_bottom());
    assert_eq!(selected(&h), set(&["raw", "crawler"]));
    // The view did not pan while the band was drawn.
    let after = node_rect(&h, "raw");
    assert!(band.contains_rect(after));
    // Deleting two nodes asks; Cancel keeps them, Delete removes them, Undo restores.
    h.key_press(egui::Key::Delete);
    h.run_steps(2);
    assert!(h.query_by_label("Delete nodes").is_some());
    h.get_by_label("Cancel").click();
    h.run_steps(2);
    assert_eq!(node_ids(&h).len(), 7);
    h.key_press(egui::Key::Delete);
    h.run_steps(2);
    h.get_by_label("Delete 2 nodes").click();
    h.run_steps(2);
    assert_eq!(node_ids(&h).len(), 5);
    assert_eq!(h.state().project().edges.len(), 4);
    command(&mut h, AppCommand::Undo);
    assert_eq!(node_ids(&h).len(), 7);
    assert_eq!(h.state().project().edges.len(), 6);
}

#[test]
fn a_palette_click_adds_the_node_in_free_space_beside_the_selection_and_selects_it() {
    let (_dir, path) = lake_example();
    let mut h = app(Some(&path));
    click_body(&mut h, "catalog", Modifiers::NONE);
    let beside = node_rect(&h, "catalog");
    h.get_by_label("+ query").click();
    h.run_steps(3);
    assert_eq!(h.state().selected(), Some("query_1"));
    let added = node_rect(&h, "query_1");
    assert!(added.left() > beside.right(), "right of the selected node");
    for id in node_ids(&h).into_iter().filter(|id| id != "query_1") {
        assert!(!added.intersects(node_rect(&h, &id)), "it lands on {id}");
    }
}

/// Every node inside the canvas, none overlapping another, every wire left to right.
fn assert_laid_out_and_visible(h: &H, what: &str) {
    let canvas = h.state().canvas_rect();
    let p = h.state().project();
    let rects: Vec<(String, Rect)> = p
        .nodes
        .iter()
        .map(|n| (n.id.clone(), node_rect(h, &n.id)))
        .collect();
    for (i, (a, ra)) in rects.iter().enumerate() {
        assert!(
            canvas.contains_rect(*ra),
            "{what}: {a} {ra:?} is outside {canvas:?}"
        );
        for (b, rb) in &rects[i + 1..] {
            assert!(!ra.intersects(*rb), "{what}: {a} and {b} overlap");
        }
    }
    for e in &p.edges {
        let from = rects.iter().find(|(id, _)| *id == e.from.node).unwrap().1;
        let to = rects.iter().find(|(id, _)| *id == e.to.node).unwrap().1;
        assert!(
            from.right() < to.left(),
            "{what}: {} → {} goes left",
            e.from.node,
            e.to.node
        );
    }
}

#[test]
fn every_example_opens_fitted_and_arranges_left_to_right_at_a_readable_zoom() {
    for example in tributary::examples() {
        let what = example.display().to_string();
        let mut h = app(Some(&example));
        h.run_steps(3);
        // Opened fitted: every node on screen.
        let canvas = h.state().canvas_rect();
        for id in node_ids(&h) {
            assert!(
                canvas.contains_rect(node_rect(&h, &id)),
                "{what}: {id} is cut off"
            );
        }
        command(&mut h, AppCommand::Arrange);
        h.run_steps(4);
        assert_laid_out_and_visible(&h, &what);
        let scale = h.state().canvas_zoom();
        assert!(scale >= 0.7, "{what}: zoom {scale} is too small to read");
        // The examples ship arranged, and arranging is deterministic: nothing moved.
        assert!(!h.state().is_dirty(), "{what}: arranging moved nodes");
    }
}

#[test]
fn zoom_to_fit_brings_back_a_graph_panned_away() {
    let (_dir, path) = lake_example();
    let mut h = app(Some(&path));
    command(&mut h, AppCommand::ActualSize);
    assert_eq!(h.state().canvas_zoom(), 1.0);
    // Pan far away with the scroll wheel: nothing on screen.
    for _ in 0..10 {
        h.event(egui::Event::PointerMoved(h.state().canvas_rect().center()));
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: vec2(-400.0, 0.0),
            modifiers: Modifiers::NONE,
            phase: egui::TouchPhase::Move,
        });
    }
    h.run_steps(30);
    let canvas = h.state().canvas_rect();
    assert!(!canvas.intersects(node_rect(&h, "raw")));
    h.key_press(egui::Key::Home);
    h.run_steps(4);
    for id in node_ids(&h) {
        assert!(canvas.contains_rect(node_rect(&h, &id)), "{id} after Home");
    }
}

#[test]
fn a_project_without_positions_is_arranged_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let mut p: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::examples_dir().join("lake.json")).unwrap(),
    )
    .unwrap();
    for n in p["nodes"].as_array_mut().unwrap() {
        n.as_object_mut().unwrap().remove("position");
    }
    let path = dir.path().join("flat.json");
    std::fs::write(&path, p.to_string()).unwrap();
    let mut h = app(Some(&path));
    h.run_steps(4);
    assert_laid_out_and_visible(&h, "positions missing");
}

#[test]
fn a_200_node_graph_arranges_without_overlaps() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for i in 0..50 {
        for (k, kind, config) in [
            ("g", "generator", serde_json::json!({"count": 10})),
            ("s", "stream", serde_json::json!({})),
            ("f", "filter", serde_json::json!({"condition": "true"})),
            ("t", "table_sink", serde_json::json!({})),
        ] {
            nodes.push(serde_json::json!({
                "id": format!("{k}{i}"), "kind": kind, "config": config,
                "position": {"x": 0.0, "y": 0.0}
            }));
        }
        for (a, pa, b, pb) in [
            ("g", "events", "s", "records"),
            ("s", "records", "f", "records"),
            ("f", "records", "t", "records"),
        ] {
            edges.push(serde_json::json!({
                "from": {"node": format!("{a}{i}"), "port": pa},
                "to": {"node": format!("{b}{i}"), "port": pb}
            }));
        }
    }
    let path = dir.path().join("200.json");
    std::fs::write(
        &path,
        serde_json::json!({"format_version": 1, "nodes": nodes, "edges": edges}).to_string(),
    )
    .unwrap();
    let mut h = app(Some(&path));
    h.run_steps(4);
    assert_eq!(node_ids(&h).len(), 200);
    let p = h.state().project();
    assert_eq!(p.edges.len(), 150, "{:?}", h.state().project().edges.len());
    let rects: Vec<Rect> = p.nodes.iter().map(|n| node_rect(&h, &n.id)).collect();
    for (i, a) in rects.iter().enumerate() {
        for b in &rects[i + 1..] {
            assert!(!a.intersects(*b));
        }
    }
    for e in &p.edges {
        assert!(node_rect(&h, &e.from.node).right() < node_rect(&h, &e.to.node).left());
    }
}

/// Maintenance, not a check: re-arranges the bundled examples in place after a layout
/// change (`cargo test -p tributary --test ui rearrange -- --ignored`).
#[test]
#[ignore]
fn rearrange_examples_in_place() {
    for example in tributary::examples() {
        let mut h = app(Some(&example));
        h.run_steps(3);
        command(&mut h, AppCommand::Arrange);
        h.run_steps(4);
        command(&mut h, AppCommand::Save);
        h.run_steps(4);
        assert!(!h.state().is_dirty());
    }
}

#[test]
fn node_search_ranks_names_first_and_enter_adds_the_best_match() {
    use tributary::panels::canvas::kinds_ranked;
    let names = |s: &str| {
        kinds_ranked(s)
            .into_iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
    };
    // A name that starts with the text comes before a description that mentions it.
    let cat = names("cat");
    assert_eq!(cat[0], "catalog", "{cat:?}");
    assert!(cat.contains(&"replay"), "descriptions still match: {cat:?}");
    assert_eq!(
        names("sink")[..3],
        ["table_sink", "broker_sink", "series_sink"]
    );
    assert_eq!(names("lambda")[0], "lambda");
    assert!(names("no such thing").is_empty());
    // In the palette, Enter adds the first match, selected.
    let mut h = app(None);
    // The palette's search is the first text field.
    let search = || egui::accesskit::Role::TextInput;
    h.get_all_by_role(search()).next().unwrap().focus();
    h.run_steps(1);
    h.get_all_by_role(search()).next().unwrap().type_text("cat");
    h.run_steps(1);
    h.key_press(egui::Key::Enter);
    h.run_steps(3);
    let project = h.state().project();
    assert_eq!(project.nodes.len(), 1);
    assert_eq!(project.nodes[0].kind().as_str(), "catalog");
    assert_eq!(h.state().selected(), Some(project.nodes[0].id.as_str()));
}

#[test]
fn every_icon_and_symbol_the_app_draws_is_in_its_fonts() {
    use skrifa::MetadataProvider as _;
    // egui's own fonts, as the app uses them: a character no font of the family has is
    // drawn as an empty box.
    let fonts = egui::FontDefinitions::default();
    let family = &fonts.families[&egui::FontFamily::Proportional];
    let has = |c: char| {
        family.iter().any(|name| {
            let data = &fonts.font_data[name];
            skrifa::FontRef::new(&data.font).is_ok_and(|f| f.charmap().map(c).is_some())
        })
    };
    let mut missing = Vec::new();
    for kind in tributary_engine::nodes::NodeKind::ALL {
        if !kind.icon().chars().all(has) {
            missing.push(format!("{kind}: {}", kind.icon()));
        }
    }
    // Symbols drawn in text: KPI trends, dashboard buttons, badges, separators.
    for symbol in tributary::widgets::SYMBOLS {
        if !symbol.chars().all(has) {
            missing.push(format!("symbol {symbol}"));
        }
    }
    assert!(missing.is_empty(), "drawn as empty boxes: {missing:?}");
}

#[test]
fn a_small_window_gets_an_icon_palette_and_the_canvas_keeps_the_example_fitted() {
    let (_dir, path) = lake_example();
    let mut h = app(Some(&path));
    h.set_size(vec2(1000.0, 700.0));
    h.run_steps(2);
    command(&mut h, AppCommand::ZoomToFit);
    h.run_steps(4);
    // Every node of the example on screen.
    let canvas = h.state().canvas_rect();
    assert!(canvas.width() > 600.0, "canvas {canvas:?}");
    for id in node_ids(&h) {
        assert!(canvas.contains_rect(node_rect(&h, &id)), "{id} is cut off");
    }
    // The palette is icons; one adds its kind.
    assert!(h.query_by_label("+ bucket").is_none());
    let before = h.state().project().nodes.len();
    h.get_by_label(tributary_engine::nodes::NodeKind::Stream.icon())
        .click();
    h.run_steps(3);
    let project = h.state().project();
    assert_eq!(project.nodes.len(), before + 1);
    assert_eq!(project.nodes.last().unwrap().kind().as_str(), "stream");
}

#[test]
fn output_labels_line_up_and_keep_their_distance_from_their_pins() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../projects/emr.json");
    let mut h = app(Some(&example));
    h.run_steps(4);
    // The EMR job's outputs: catalog, steps, table, one under the other.
    let right = |label: &str| {
        h.query_all_by_label(label)
            .map(|n| n.rect())
            .filter(|r| r.min.y > 100.0)
            .map(|r| r.max.x)
            .fold(f32::NEG_INFINITY, f32::max)
    };
    let (catalog, steps, table) = (right("catalog"), right("steps"), right("table"));
    assert!(
        (catalog - steps).abs() < 0.5 && (catalog - table).abs() < 0.5,
        "right edges {catalog} {steps} {table}"
    );
}
