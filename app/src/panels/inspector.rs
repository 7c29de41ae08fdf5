//! The inspector: the selected node's name and settings as a form drawn from its kind's
//! declared fields (label, help, editor, when it applies), with every validation problem
//! under the setting it is about.

use std::collections::{BTreeMap, BTreeSet};

use egui::Ui;
use serde_json::{Map, Value};
use tributary_engine::nodes::{Editor, Field, FieldProblem, NodeConfig};
use tributary_engine::project::Node;

use crate::AppCommand;
use crate::app::TributaryApp;
use crate::theme;

/// Text being edited for settings whose text is not always valid (lists), by node and
/// setting path, and parse errors not yet fixed.
#[derive(Default)]
pub struct InspectorState {
    drafts: BTreeMap<(String, String), String>,
    errors: BTreeMap<(String, String), String>,
    /// Settings as typed that do not make a valid config yet (a -5 where a count must be
    /// 0 or more), per node, with the config they were typed over: shown as typed, with
    /// the reason under the field, instead of silently changed or dropped.
    unapplied: BTreeMap<String, (Value, Value)>,
}

/// Draws the inspector panel for the selected node.
pub fn panel_ui(app: &mut TributaryApp, ui: &mut Ui) {
    ui.set_min_width(ui.available_width());
    egui::ScrollArea::vertical().show(ui, |ui| {
        if app.selection.len() > 1 {
            many_ui(app, ui);
            return;
        }
        let node = app.selected().and_then(|id| app.doc.node_id(id));
        let Some(nid) = node else {
            ui.heading("Inspector");
            ui.weak("Select a node to edit it: click it on the canvas.");
            ui.weak("Shift-click or drag a band on empty canvas to select several.");
            return;
        };
        let inputs = app.input_columns(nid);
        let id = app.doc.snarl[nid].id.clone();
        if inspector_ui(
            ui,
            &mut app.doc.snarl[nid],
            &mut app.view.inspector,
            &inputs,
        ) {
            app.doc.checkpoint();
        }
        // What a visual transform runs, so users learn the SQL (and an export keeps it).
        let arriving = app.input_columns_by_port(nid);
        if let Some(sql) = app.doc.snarl[nid].config.sql(&arriving) {
            ui.separator();
            egui::CollapsingHeader::new("SQL it runs")
                .default_open(true)
                .show(ui, |ui| {
                    let mut text = sql.as_str();
                    ui.add(
                        egui::TextEdit::multiline(&mut text)
                            .code_editor()
                            .desired_rows(2)
                            .desired_width(f32::INFINITY),
                    );
                    if arriving.iter().all(|(_, c)| c.is_empty()) {
                        ui.weak("Run once to see the input's columns listed.");
                    }
                    if ui.small_button("Copy SQL").clicked() {
                        ui.ctx().copy_text(sql.clone());
                    }
                });
        }
        // Problems of the node in the graph (an unconnected input), before any run.
        // (Settings' problems are shown under each setting by the form.)
        let unconnected: Vec<String> = app
            .view
            .problems
            .by_node(&app.doc)
            .get(&id)
            .map(|ps| {
                ps.iter()
                    .filter(|p| p.starts_with("input '"))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for p in &unconnected {
            ui.colored_label(theme::warning(ui.visuals()), format!("⚠ {p}"));
        }
        // The last run's error, and whether it still applies.
        let error = app.run.nodes.get(&id).and_then(|s| s.error.clone());
        if let Some(err) = error {
            ui.separator();
            match app.run.stale(&id, app.doc.content_revision) {
                Some(why) => {
                    ui.weak(format!("Last run's error ({why}):"));
                    ui.label(egui::RichText::new(err).color(theme::stale(ui.visuals())));
                }
                None => {
                    ui.colored_label(theme::error(ui.visuals()), err);
                }
            }
        }
    });
}

/// Several nodes selected: which, what can be done to all of them, and (when they are
/// all of one kind) their settings, edited together.
fn many_ui(app: &mut TributaryApp, ui: &mut Ui) {
    let nodes = app.selected_nodes();
    ui.heading(format!("{} nodes selected", nodes.len()));
    let mut pick = None;
    for nid in &nodes {
        let n = &app.doc.snarl[*nid];
        let text = format!("{} {} ({})", n.kind().icon(), n.name, n.kind());
        if ui
            .selectable_label(false, text)
            .on_hover_text("Select only this node")
            .clicked()
        {
            pick = Some(n.id.clone());
        }
    }
    ui.horizontal(|ui| {
        let ctx = ui.ctx().clone();
        for command in [AppCommand::Duplicate, AppCommand::Delete, AppCommand::Copy] {
            if ui.button(command.text()).clicked() {
                app.execute(command, &ctx);
            }
        }
    });
    if let Some(id) = pick {
        app.select(Some(&id));
        return;
    }
    ui.separator();
    let kinds: Vec<_> = nodes
        .iter()
        .map(|n| app.doc.snarl[*n].kind())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let ([kind], Some(first)) = (kinds.as_slice(), nodes.first()) else {
        ui.weak(format!(
            "Of {} kinds: select nodes of one kind to edit their settings together.",
            kinds.len()
        ));
        return;
    };
    ui.label(format!(
        "Settings of the {} {kind} nodes: a change applies to every one. Shown: {}'s.",
        nodes.len(),
        app.doc.snarl[*first].name
    ));
    let mut shown = app.doc.snarl[*first].clone();
    let before = shown.config.to_value();
    let inputs = app.input_columns(*first);
    if !settings_ui(ui, &mut shown, &mut app.view.inspector, &inputs) {
        return;
    }
    let after = shown.config.to_value();
    let (Value::Object(before), Value::Object(after)) = (before, after) else {
        return;
    };
    let edited: Vec<(&String, &Value)> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .collect();
    for nid in &nodes {
        let node = &mut app.doc.snarl[*nid];
        let Value::Object(mut values) = node.config.to_value() else {
            continue;
        };
        for (k, v) in &edited {
            values.insert((*k).clone(), (*v).clone());
        }
        if let Ok(config) = NodeConfig::from_value(node.kind(), Value::Object(values)) {
            node.config = config;
        }
    }
    app.doc.checkpoint();
}

impl TributaryApp {
    /// The columns arriving at `node`'s inputs, as the engine last reported them.
    /// The columns arriving on each wire into `node` as (input port, columns), known
    /// from the last run (empty before one).
    pub fn input_columns_by_port(&self, node: egui_snarl::NodeId) -> Vec<(String, Vec<String>)> {
        let kind = self.doc.snarl[node].kind();
        let mut wires: Vec<_> = self
            .doc
            .snarl
            .wires()
            .filter(|(_, to)| to.node == node)
            .collect();
        // By input, then in the order the wires were made (pin index order is stable).
        wires.sort_by_key(|(from, to)| (to.input, from.node, from.output));
        wires
            .into_iter()
            .filter_map(|(from, to)| {
                let input = kind.inputs().get(to.input)?;
                let up = &self.doc.snarl[from.node];
                let port = up.kind().outputs().get(from.output)?;
                let cols = self
                    .run
                    .columns
                    .get(&(up.id.clone(), port.name.to_owned()))
                    .cloned()
                    .unwrap_or_default();
                Some((input.name.to_owned(), cols))
            })
            .collect()
    }

    pub(crate) fn input_columns(&self, node: egui_snarl::NodeId) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (from, to) in self.doc.snarl.wires() {
            if to.node != node {
                continue;
            }
            let up = &self.doc.snarl[from.node];
            let Some(port) = up.kind().outputs().get(from.output) else {
                continue;
            };
            if let Some(cols) = self.run.columns.get(&(up.id.clone(), port.name.to_owned())) {
                for c in cols {
                    if !out.contains(c) {
                        out.push(c.clone());
                    }
                }
            }
        }
        out
    }
}

/// What drawing one form needs besides the values.
struct Form<'a> {
    node: &'a str,
    state: &'a mut InspectorState,
    input_columns: &'a [String],
    problems: &'a [FieldProblem],
    /// Paths of the settings shown, so problems elsewhere can be listed at the end.
    shown: BTreeSet<String>,
}

/// Shows the form for `node`; returns true when the node changed. `input_columns` are
/// the columns arriving at its inputs (known after a run), offered for column settings.
pub fn inspector_ui(
    ui: &mut Ui,
    node: &mut Node,
    state: &mut InspectorState,
    input_columns: &[String],
) -> bool {
    let mut changed = false;
    let kind = node.kind();
    ui.heading(format!("{} {} ({})", kind.icon(), node.id, kind));
    ui.weak(kind.description());
    ui.separator();
    ui.horizontal(|ui| {
        ui.label("Name");
        changed |= ui.text_edit_singleline(&mut node.name).changed();
    });
    changed |= settings_ui(ui, node, state, input_columns);
    changed | faults_ui(ui, node)
}

/// The node's injected faults, for the kinds they apply to: saved with the node, used by
/// the next run. Returns true when they changed.
fn faults_ui(ui: &mut Ui, node: &mut Node) -> bool {
    use tributary_engine::api::faults::APPLIES;
    let kind = node.kind();
    let applies = |name: &str| {
        APPLIES
            .iter()
            .any(|(n, kinds)| *n == name && kinds.contains(&kind.as_str()))
    };
    if !APPLIES.iter().any(|(n, _)| applies(n)) {
        return false;
    }
    let mut changed = false;
    let f = &mut node.faults;
    // Short, so the panel keeps its width; what is set is said inside.
    let title = match f.set().len() {
        0 => "⚡ Faults".to_owned(),
        n => format!("⚡ Faults ({n} set)"),
    };
    ui.separator();
    egui::CollapsingHeader::new(title)
        .id_salt(("faults", node.id.as_str()))
        .default_open(!f.is_none())
        .show(ui, |ui| {
            if !f.is_none() {
                ui.colored_label(theme::warning(ui.visuals()), f.describe());
            }
            ui.weak("Inject faults to see how the pipeline copes: the Metrics tab, the log and the conservation report show its reaction. Saved with the node; used by the next run.");
            let mut fraction = |ui: &mut Ui, label: &str, hint: &str, v: &mut f64| {
                ui.horizontal(|ui| {
                    ui.label(label).on_hover_text(hint);
                    changed |= ui
                        .add(egui::DragValue::new(v).range(0.0..=1.0).speed(0.001).max_decimals(4))
                        .changed();
                });
            };
            if applies("poison_fraction") {
                fraction(ui, "Poison fraction", "The fraction of records (0 to 1) that are poison: a Lambda invocation with one fails, a Firehose cannot process one (processing-failed).", &mut f.poison_fraction);
            }
            if applies("s3_slow_down_fraction") {
                fraction(ui, "S3 503 SlowDown fraction", "The fraction of S3 puts answered 503 SlowDown; Firehose retries every 5 s for up to 24 h.", &mut f.s3_slow_down_fraction);
            }
            if applies("poison_where") {
                ui.label("Poison records where")
                    .on_hover_text("A SQL condition over the records' columns: the records matching it are poison.");
                changed |= ui
                    .add(
                        egui::TextEdit::singleline(&mut f.poison_where)
                            .code_editor()
                            .hint_text("event_id % 100 = 7")
                            .desired_width(f32::INFINITY),
                    )
                    .changed();
            }
            if applies("latency_ms") {
                ui.horizontal(|ui| {
                    ui.label("Added latency (ms)").on_hover_text("Added to each Lambda invocation (billed) or Firehose delivery.");
                    changed |= ui.add(egui::DragValue::new(&mut f.latency_ms).range(0..=60_000)).changed();
                });
            }
            if applies("throttle_every_s") {
                ui.horizontal(|ui| {
                    ui.label("Throttling burst of (s)").on_hover_text("How long each burst lasts: a stream's shards refuse every put, a Lambda's invocations are throttled.");
                    changed |= ui.add(egui::DragValue::new(&mut f.throttle_for_s).range(0.0..=3600.0).speed(0.1)).changed();
                });
                ui.horizontal(|ui| {
                    ui.label("… every (s)").on_hover_text("A burst starts every this many seconds (the first one period in).");
                    changed |= ui.add(egui::DragValue::new(&mut f.throttle_every_s).range(0.0..=3600.0).speed(0.1)).changed();
                });
            }
            if applies("broker_disconnect_every_s") {
                ui.horizontal(|ui| {
                    ui.label("Broker drops connections every (s)").on_hover_text("A stream whose shards are in a broker, a broker source or sink: the broker drops its connections this often; they reconnect and re-read what was not acknowledged. 0 never.");
                    changed |= ui.add(egui::DragValue::new(&mut f.broker_disconnect_every_s).range(0.0..=3600.0).speed(0.1)).changed();
                });
            }
            if applies("crash_after_records") {
                ui.horizontal(|ui| {
                    ui.label("Worker crash after (records)").on_hover_text("The worker crashes once, on the invocation that reaches this many records (Runtime.ExitError, retried); 0 never.");
                    changed |= ui.add(egui::DragValue::new(&mut f.crash_after_records)).changed();
                });
            }
            for (setting, message) in f.problems(kind.as_str()) {
                ui.colored_label(theme::error(ui.visuals()), format!("faults.{setting}: {message}"));
            }
            if !f.is_none() && ui.small_button("Clear faults").clicked() {
                *f = Default::default();
                changed = true;
            }
        });
    changed
}

/// The form of `node`'s settings; returns true when they changed.
fn settings_ui(
    ui: &mut Ui,
    node: &mut Node,
    state: &mut InspectorState,
    input_columns: &[String],
) -> bool {
    let mut changed = false;
    let kind = node.kind();
    let current = node.config.to_value();
    // What the user typed and could not be applied yet, while the config is still the one
    // it was typed over (an undo or another edit discards it).
    let typed = match state.unapplied.get(&node.id) {
        Some((base, typed)) if *base == current => typed.clone(),
        _ => {
            state.unapplied.remove(&node.id);
            current.clone()
        }
    };
    let Value::Object(mut values) = typed else {
        return changed;
    };
    let problems = node.config.validate();
    let mut form = Form {
        node: &node.id,
        state,
        input_columns,
        problems: &problems,
        shown: BTreeSet::new(),
    };
    let edited = form_ui(ui, &mut form, "", kind.fields(), &mut values);
    let shown = std::mem::take(&mut form.shown);
    if edited {
        state
            .errors
            .retain(|(n, k), _| !(n == &node.id && k.starts_with("config:")));
        match NodeConfig::from_value(kind, Value::Object(values.clone())) {
            Ok(config) => {
                node.config = config;
                state.unapplied.remove(&node.id);
                changed = true;
            }
            Err(p) => {
                // Shown under the setting it is about, in words.
                let at = if shown.contains(&p.path) {
                    p.path.clone()
                } else {
                    String::new()
                };
                state.errors.insert(
                    (node.id.clone(), format!("config:{at}")),
                    plain_parse_error(&p.message),
                );
                state
                    .unapplied
                    .insert(node.id.clone(), (current, Value::Object(values)));
            }
        }
    }
    if !state.unapplied.contains_key(&node.id) {
        state
            .errors
            .retain(|(n, k), _| !(n == &node.id && k.starts_with("config:")));
    }
    if let Some(e) = state.errors.get(&(node.id.clone(), "config:".to_owned())) {
        ui.colored_label(theme::error(ui.visuals()), e);
    }
    for p in problems.iter().filter(|p| !shown.contains(&p.path)) {
        ui.colored_label(theme::error(ui.visuals()), p.to_string());
    }
    if state.unapplied.contains_key(&node.id) {
        ui.colored_label(
            theme::warning(ui.visuals()),
            "Not applied: the node keeps its last valid settings until this is fixed.",
        );
    }
    changed
}

/// A config parse error in words a user knows: serde says "invalid value: integer `-5`,
/// expected usize".
fn plain_parse_error(message: &str) -> String {
    let unsigned = [
        "expected usize",
        "expected u64",
        "expected u32",
        "expected u16",
        "expected u8",
    ];
    if message.starts_with("invalid value: integer") && unsigned.iter().any(|u| message.contains(u))
    {
        let got = message.split('`').nth(1).unwrap_or("this");
        return format!("{got} is not allowed: must be a whole number, 0 or more");
    }
    if message.starts_with("invalid type: floating point")
        && unsigned
            .iter()
            .chain(["expected i64", "expected i32"].iter())
            .any(|u| message.contains(u))
    {
        let got = message.split('`').nth(1).unwrap_or("this");
        return format!("{got} is not allowed: must be a whole number");
    }
    message.to_owned()
}

/// The settings `fields` of the object `values` at `prefix`; returns whether any changed.
fn form_ui(
    ui: &mut Ui,
    form: &mut Form<'_>,
    prefix: &str,
    fields: &[Field],
    values: &mut Map<String, Value>,
) -> bool {
    let mut edited = false;
    for field in fields {
        if !field.when.holds(values) {
            continue;
        }
        let path = if prefix.is_empty() {
            field.key.to_owned()
        } else {
            format!("{prefix}.{}", field.key)
        };
        let value = values
            .entry(field.key)
            .or_insert_with(|| field.empty_value());
        ui.add_space(4.0);
        let hover = format!("{}\n\nSetting: {}", field.help, field.key);
        if !matches!(field.editor, Editor::Optional { .. }) {
            // (An optional group's checkbox says what it is.)
            ui.label(egui::RichText::new(field.label).strong())
                .on_hover_text(&hover);
        }
        edited |= field_ui(ui, form, &path, field, value);
        problems_ui(ui, form, &path);
        let key = (form.node.to_owned(), path.clone());
        if let Some(e) = form.state.errors.get(&key) {
            ui.colored_label(theme::error(ui.visuals()), e);
        }
        if let Some(e) = form
            .state
            .errors
            .get(&(form.node.to_owned(), format!("config:{path}")))
        {
            ui.colored_label(theme::error(ui.visuals()), e);
        }
        form.shown.insert(path);
    }
    edited
}

/// The problems at exactly `path`, in red.
fn problems_ui(ui: &mut Ui, form: &Form<'_>, path: &str) {
    for p in form.problems.iter().filter(|p| p.path == path) {
        ui.colored_label(theme::error(ui.visuals()), &p.message);
    }
}

fn field_ui(
    ui: &mut Ui,
    form: &mut Form<'_>,
    path: &str,
    field: &Field,
    value: &mut Value,
) -> bool {
    let id = (form.node.to_owned(), path.to_owned());
    match (field.editor, value) {
        (Editor::Column, Value::String(s)) if !form.input_columns.is_empty() => {
            column_ui(ui, &id, s, form.input_columns)
        }
        (Editor::Choice(names), Value::String(s)) => {
            let mut changed = false;
            egui::ComboBox::from_id_salt(&id)
                .selected_text(s.as_str())
                .show_ui(ui, |ui| {
                    for option in names {
                        if ui.selectable_label(s == option, *option).clicked() {
                            *s = (*option).to_owned();
                            changed = true;
                        }
                    }
                });
            changed
        }
        (Editor::Sql, Value::String(s)) => code_editor(ui, s, "sql"),
        // Rhai reads like Rust; Rust colouring fits it.
        (Editor::Script, Value::String(s)) => code_editor(ui, s, "rs"),
        // Python colouring; JavaScript reads well enough with C++'s.
        (Editor::Code, Value::String(s)) => {
            let mut changed = false;
            if s.trim().is_empty() {
                ui.horizontal(|ui| {
                    ui.label("Start from:");
                    if ui.button("Python handler").clicked() {
                        *s = tributary_engine::nodes::lambda::PYTHON_TEMPLATE.to_owned();
                        changed = true;
                    }
                    if ui.button("Node.js handler").clicked() {
                        *s = tributary_engine::nodes::lambda::NODE_TEMPLATE.to_owned();
                        changed = true;
                    }
                });
            }
            let js = s.contains("=>") || s.contains("exports.") || s.contains("export ");
            changed | code_editor(ui, s, if js { "cpp" } else { "py" })
        }
        (Editor::Map, Value::Object(map)) => map_ui(ui, form.state, id, map),
        (_, Value::String(s)) => ui.text_edit_singleline(s).changed(),
        (_, Value::Bool(b)) => ui.checkbox(b, "").changed(),
        (_, value @ Value::Number(_)) => number_ui(ui, value),
        (Editor::Lines, Value::Array(items)) => lines_ui(ui, form.state, id, items),
        (
            Editor::Records {
                fields,
                title,
                templates,
            },
            Value::Array(items),
        ) => records_ui(ui, form, path, fields, title, templates, items),
        (
            Editor::Optional {
                toggle,
                fields,
                template,
            },
            value,
        ) => {
            let mut on = !value.is_null();
            let mut changed = false;
            let r = ui
                .checkbox(&mut on, toggle)
                .on_hover_text(format!("{}\n\nSetting: {}", field.help, field.key));
            if r.changed() {
                *value = if on { template() } else { Value::Null };
                changed = true;
            }
            if let Value::Object(inner) = value {
                ui.indent((form.node, path), |ui| {
                    changed |= form_ui(ui, form, path, fields, inner);
                });
            }
            changed
        }
        (_, other) => json_ui(ui, form.state, id, other),
    }
}

/// A column of the input: typed, or picked from the columns the last run saw.
fn column_ui(ui: &mut Ui, id: &(String, String), s: &mut String, columns: &[String]) -> bool {
    let mut changed = false;
    ui.horizontal(|ui| {
        changed |= ui.text_edit_singleline(s).changed();
        ui.push_id(id, |ui| {
            ui.menu_button("columns ⏷", |ui| {
                if ui.selectable_label(s.is_empty(), "(none)").clicked() {
                    s.clear();
                    changed = true;
                    ui.close();
                }
                for c in columns {
                    if ui.selectable_label(s == c, c).clicked() {
                        *s = c.clone();
                        changed = true;
                        ui.close();
                    }
                }
            });
        });
    });
    changed
}

fn number_ui(ui: &mut Ui, value: &mut Value) -> bool {
    let Value::Number(n) = value else {
        return false;
    };
    // No range: a value out of bounds is kept as typed and explained under the field
    // (the settings' own validation says what is allowed), never silently clamped.
    if let Some(mut v) = n.as_i64() {
        let r = ui.add(egui::DragValue::new(&mut v));
        if r.changed() {
            *value = Value::from(v);
        }
        r.changed()
    } else {
        let mut v = n.as_f64().unwrap_or(0.0);
        let r = ui.add(egui::DragValue::new(&mut v));
        if r.changed() {
            *value = Value::from(v);
        }
        r.changed()
    }
}

/// Lists of text (columns, partition keys): one item per line.
fn lines_ui(
    ui: &mut Ui,
    state: &mut InspectorState,
    id: (String, String),
    items: &mut Vec<Value>,
) -> bool {
    let lines = |items: &[Value]| {
        items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let draft = state.drafts.entry(id).or_insert_with(|| lines(items));
    let r = ui.add(
        egui::TextEdit::multiline(draft)
            .code_editor()
            .desired_rows(2)
            .desired_width(f32::INFINITY)
            .hint_text("one per line"),
    );
    if r.changed() {
        *items = draft
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| Value::String(l.to_owned()))
            .collect();
        return true;
    }
    if !r.has_focus() {
        *draft = lines(items);
    }
    false
}

/// Names and values (environment variables), one `NAME=value` per line.
fn map_ui(
    ui: &mut Ui,
    state: &mut InspectorState,
    id: (String, String),
    map: &mut Map<String, Value>,
) -> bool {
    let lines = |map: &Map<String, Value>| {
        map.iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let draft = state.drafts.entry(id).or_insert_with(|| lines(map));
    let r = ui.add(
        egui::TextEdit::multiline(draft)
            .code_editor()
            .desired_rows(2)
            .desired_width(f32::INFINITY)
            .hint_text("NAME=value, one per line"),
    );
    if r.changed() {
        *map = draft
            .lines()
            .filter_map(|l| {
                let (k, v) = l.split_once('=')?;
                let k = k.trim();
                (!k.is_empty()).then(|| (k.to_owned(), Value::String(v.to_owned())))
            })
            .collect();
        return true;
    }
    if !r.has_focus() {
        *draft = lines(map);
    }
    false
}

/// Anything else is edited as JSON text, applied when valid.
fn json_ui(
    ui: &mut Ui,
    state: &mut InspectorState,
    id: (String, String),
    value: &mut Value,
) -> bool {
    let draft = state
        .drafts
        .entry(id.clone())
        .or_insert_with(|| value.to_string());
    let r = ui.add(egui::TextEdit::singleline(draft).code_editor());
    if r.changed() {
        match serde_json::from_str::<Value>(draft) {
            Ok(v) => {
                *value = v;
                state.errors.remove(&id);
                return true;
            }
            Err(e) => {
                state
                    .errors
                    .insert(id.clone(), format!("not valid JSON: {e}"));
            }
        }
    }
    if !r.has_focus() && !state.errors.contains_key(&id) {
        *draft = value.to_string();
    }
    false
}

/// A list of groups of settings (an EMR job's steps): each folds open to its settings;
/// items are added from templates, moved and removed.
fn records_ui(
    ui: &mut Ui,
    form: &mut Form<'_>,
    path: &str,
    fields: &[Field],
    title: &str,
    templates: &[tributary_engine::nodes::Template],
    items: &mut Vec<Value>,
) -> bool {
    let mut changed = false;
    let mut action: Option<(usize, i32)> = None; // (index, -1 up, +1 down, 0 remove)
    let count = items.len();
    for (i, item) in items.iter_mut().enumerate() {
        let Value::Object(values) = item else {
            continue;
        };
        let item_path = format!("{path}[{i}]");
        let name = values.get(title).and_then(Value::as_str).unwrap_or("?");
        let troubled = form
            .problems
            .iter()
            .any(|p| p.path.starts_with(&format!("{item_path}.")));
        let mut heading = egui::RichText::new(format!("{}. {name}", i + 1));
        if troubled {
            heading = heading.color(theme::error(ui.visuals()));
        }
        egui::CollapsingHeader::new(heading)
            .id_salt((form.node, &item_path))
            .default_open(count <= 3 || troubled)
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    if ui.small_button("up").on_hover_text("Move up").clicked() && i > 0 {
                        action = Some((i, -1));
                    }
                    if ui.small_button("down").on_hover_text("Move down").clicked() && i + 1 < count
                    {
                        action = Some((i, 1));
                    }
                    if ui.small_button("✖").on_hover_text("Remove").clicked() {
                        action = Some((i, 0));
                    }
                });
                changed |= form_ui(ui, form, &item_path, fields, values);
            });
    }
    if let Some((i, dir)) = action {
        match dir {
            0 => {
                items.remove(i);
            }
            d => items.swap(i, (i as i32 + d) as usize),
        }
        // Drafts are per position; they would now show another item's text.
        let prefix = format!("{path}[");
        form.state
            .drafts
            .retain(|(n, p), _| !(n == form.node && p.starts_with(&prefix)));
        changed = true;
    }
    ui.horizontal(|ui| {
        for t in templates {
            if ui.button(format!("+ {}", t.label)).clicked() {
                let mut item = (t.value)();
                // A fresh title: `step_3`.
                if let Some(Value::String(name)) = item.get_mut(title) {
                    *name = format!("{name}_{}", items.len() + 1);
                }
                items.push(item);
                changed = true;
            }
        }
    });
    changed
}

/// A multi-line code editor with syntax colouring.
pub fn code_editor(ui: &mut Ui, code: &mut String, language: &str) -> bool {
    let theme = egui_extras::syntax_highlighting::CodeTheme::from_memory(ui.ctx(), ui.style());
    let mut layouter = |ui: &Ui, buf: &dyn egui::TextBuffer, wrap_width: f32| {
        let mut job = egui_extras::syntax_highlighting::highlight(
            ui.ctx(),
            ui.style(),
            &theme,
            buf.as_str(),
            language,
        );
        job.wrap.max_width = wrap_width;
        ui.fonts_mut(|f| f.layout_job(job))
    };
    ui.add(
        egui::TextEdit::multiline(code)
            .code_editor()
            .desired_rows(6)
            .desired_width(f32::INFINITY)
            .layouter(&mut layouter),
    )
    .changed()
}
