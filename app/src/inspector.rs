//! The inspector: the selected node's name and typed config as a form, with the
//! validation messages next to the fields they are about.

use std::collections::BTreeMap;

use egui::Ui;
use serde_json::Value;
use tributary_engine::nodes::NodeConfig;
use tributary_engine::project::Node;

/// Choices of enum-like config fields, by field name.
fn choices(field: &str) -> Option<&'static [&'static str]> {
    Some(match field {
        "format" => &["parquet", "csv", "json"],
        "compression" => &["snappy", "zstd", "gzip", "none"],
        "mode" => &["overwrite", "append"],
        "schema_change_policy" => &["update", "log"],
        "runtime" => &["sql", "script"],
        "window" => &["tumbling", "hopping", "session"],
        "late" => &["output", "drop"],
        "chart" => &["line", "bar", "scatter"],
        "aggregate" => &["sum", "count", "avg", "min", "max", "last"],
        "event" => &["clickstream", "iot", "payments"],
        "clock" => &["synthetic", "wall"],
        "start" => &["earliest", "latest"],
        "on_failure" => &["continue", "cancel"],
        _ => return None,
    })
}

/// Whether `key` matters given the other fields: the script fields only for the script
/// runtime, the session fields only for session windows, and so on.
fn applies(fields: &serde_json::Map<String, Value>, key: &str) -> bool {
    let is = |field: &str, value: &str| fields.get(field).and_then(Value::as_str) == Some(value);
    match key {
        "sql" if fields.contains_key("runtime") => !is("runtime", "script"),
        "script" | "output_columns" | "max_operations" => is("runtime", "script"),
        "gap_ms" | "session_key" => is("window", "session"),
        "size_ms" if fields.contains_key("window") => !is("window", "session"),
        "slide_ms" => is("window", "hopping"),
        "aggregate" if fields.contains_key("chart") => is("chart", "bar"),
        _ => true,
    }
}

/// Text being edited for fields whose text is not always valid (lists), by node and field.
#[derive(Default)]
pub struct InspectorState {
    drafts: BTreeMap<(String, String), String>,
    errors: BTreeMap<(String, String), String>,
}

/// Fields that name one column of the node's input.
const COLUMN_FIELDS: &[&str] = &[
    "x",
    "y",
    "series",
    "time_column",
    "session_key",
    "partition_key",
    "latency_column",
];

/// Shows the form for `node`; returns true when the node changed. `input_columns` are
/// the columns arriving at its inputs (known after a run), offered for column fields.
pub fn inspector_ui(
    ui: &mut Ui,
    node: &mut Node,
    state: &mut InspectorState,
    input_columns: &[String],
) -> bool {
    let mut changed = false;
    ui.heading(format!("{} ({})", node.id, node.kind()));
    ui.weak(node.kind().description());
    ui.separator();
    ui.horizontal(|ui| {
        ui.label("Name");
        changed |= ui.text_edit_singleline(&mut node.name).changed();
    });
    let Value::Object(mut fields) = node.config.to_value() else {
        return changed;
    };
    let problems = node.config.validate();
    let mut edited = false;
    let keys: Vec<String> = fields
        .keys()
        .filter(|k| applies(&fields, k))
        .cloned()
        .collect();
    for key in keys {
        let Some(value) = fields.get_mut(&key) else {
            continue;
        };
        ui.add_space(4.0);
        ui.label(egui::RichText::new(&key).strong());
        edited |= field_ui(ui, &node.id, &key, value, state, input_columns);
        for p in problems
            .iter()
            .filter(|p| p.starts_with(&format!("{key}:")))
        {
            ui.colored_label(egui::Color32::from_rgb(230, 80, 80), p);
        }
        if let Some(e) = state.errors.get(&(node.id.clone(), key.clone())) {
            ui.colored_label(egui::Color32::from_rgb(230, 80, 80), e);
        }
    }
    if edited {
        match NodeConfig::from_value(node.kind(), Value::Object(fields)) {
            Ok(config) => {
                node.config = config;
                changed = true;
            }
            Err(errors) => {
                state
                    .errors
                    .insert((node.id.clone(), "config".to_owned()), errors.join("; "));
            }
        }
    }
    for p in problems.iter().filter(|p| !p.contains(':')) {
        ui.colored_label(egui::Color32::from_rgb(230, 80, 80), p);
    }
    changed
}

fn field_ui(
    ui: &mut Ui,
    node: &str,
    key: &str,
    value: &mut Value,
    state: &mut InspectorState,
    input_columns: &[String],
) -> bool {
    match value {
        Value::String(s) if COLUMN_FIELDS.contains(&key) && !input_columns.is_empty() => {
            // A column of the input: typed, or picked from the columns the last run saw.
            let mut changed = false;
            ui.horizontal(|ui| {
                changed |= ui.text_edit_singleline(s).changed();
                ui.push_id((node, key), |ui| {
                    ui.menu_button("columns ▾", |ui| {
                        if ui.selectable_label(s.is_empty(), "(none)").clicked() {
                            s.clear();
                            changed = true;
                            ui.close();
                        }
                        for c in input_columns {
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
        Value::String(s) if choices(key).is_some() => {
            let mut changed = false;
            egui::ComboBox::from_id_salt((node, key))
                .selected_text(s.as_str())
                .show_ui(ui, |ui| {
                    for option in choices(key).unwrap_or_default() {
                        if ui.selectable_label(s == option, *option).clicked() {
                            *s = (*option).to_owned();
                            changed = true;
                        }
                    }
                });
            changed
        }
        Value::String(s) if key == "sql" => code_editor(ui, s, "sql"),
        // Rhai reads like Rust; Rust colouring fits it.
        Value::String(s) if key == "script" => code_editor(ui, s, "rs"),
        Value::String(s) => ui.text_edit_singleline(s).changed(),
        Value::Bool(b) => ui.checkbox(b, "").changed(),
        Value::Number(n) => {
            if let Some(mut v) = n.as_u64() {
                let r = ui.add(egui::DragValue::new(&mut v).range(0..=u64::MAX));
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
        Value::Array(items) if key == "steps" => steps_ui(ui, node, items, state, input_columns),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            // Lists of text (columns, partition keys): one item per line.
            let id = (node.to_owned(), key.to_owned());
            let lines = || {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            let draft = state.drafts.entry(id).or_insert_with(lines);
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
                *draft = lines();
            }
            false
        }
        other => {
            // Objects are edited as JSON text, applied when valid.
            let id = (node.to_owned(), key.to_owned());
            let draft = state
                .drafts
                .entry(id.clone())
                .or_insert_with(|| other.to_string());
            let r = ui.add(egui::TextEdit::singleline(draft).code_editor());
            if r.changed() {
                match serde_json::from_str::<Value>(draft) {
                    Ok(v) => {
                        *other = v;
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
                *draft = other.to_string();
            }
            false
        }
    }
}

/// The steps of an EMR job: each one folds open to its name, SQL, failure action and,
/// for an ETL step, where it writes; steps can be added, moved and removed.
fn steps_ui(
    ui: &mut Ui,
    node: &str,
    items: &mut Vec<Value>,
    state: &mut InspectorState,
    input_columns: &[String],
) -> bool {
    let mut changed = false;
    let mut action: Option<(usize, i32)> = None; // (index, -1 up, +1 down, 0 remove)
    let count = items.len();
    for (i, step) in items.iter_mut().enumerate() {
        let Value::Object(fields) = step else {
            continue;
        };
        let title = format!(
            "{}. {} ({})",
            i + 1,
            fields.get("name").and_then(Value::as_str).unwrap_or("?"),
            if fields.get("write").is_some_and(|w| !w.is_null()) {
                "ETL"
            } else {
                "SQL"
            }
        );
        let step_id = format!("{node}/steps/{i}");
        egui::CollapsingHeader::new(title)
            .id_salt(&step_id)
            .default_open(count <= 3)
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    if ui.small_button("up").on_hover_text("Move up").clicked() && i > 0 {
                        action = Some((i, -1));
                    }
                    if ui.small_button("down").on_hover_text("Move down").clicked() && i + 1 < count
                    {
                        action = Some((i, 1));
                    }
                    if ui
                        .small_button("✖")
                        .on_hover_text("Remove the step")
                        .clicked()
                    {
                        action = Some((i, 0));
                    }
                });
                let mut writes = fields.get("write").is_some_and(|w| !w.is_null());
                for key in ["name", "sql", "on_failure"] {
                    let value = fields.entry(key).or_insert(Value::String(String::new()));
                    ui.label(egui::RichText::new(key).strong());
                    changed |= field_ui(ui, &step_id, key, value, state, input_columns);
                }
                if ui
                    .checkbox(&mut writes, "writes a table (ETL step)")
                    .changed()
                {
                    let write = if writes {
                        serde_json::json!({
                            "table": "my_output",
                            "output_prefix": "curated/my_output",
                        })
                    } else {
                        Value::Null
                    };
                    fields.insert("write".to_owned(), write);
                    changed = true;
                }
                if let Some(Value::Object(write)) = fields.get_mut("write") {
                    let keys = [
                        "table",
                        "database",
                        "output_prefix",
                        "format",
                        "compression",
                        "mode",
                        "partition_by",
                    ];
                    for key in keys {
                        let default = match key {
                            "partition_by" => Value::Array(Vec::new()),
                            "database" => Value::String("default".to_owned()),
                            "format" => Value::String("parquet".to_owned()),
                            "compression" => Value::String("snappy".to_owned()),
                            "mode" => Value::String("overwrite".to_owned()),
                            _ => Value::String(String::new()),
                        };
                        let value = write.entry(key).or_insert(default);
                        ui.label(key);
                        changed |= field_ui(ui, &step_id, key, value, state, input_columns);
                    }
                }
            });
    }
    if let Some((i, dir)) = action {
        match dir {
            0 => {
                items.remove(i);
            }
            d => items.swap(i, (i as i32 + d) as usize),
        }
        // Drafts are per position; they would now show another step's text.
        state
            .drafts
            .retain(|(n, _), _| !n.starts_with(&format!("{node}/steps/")));
        changed = true;
    }
    ui.horizontal(|ui| {
        if ui.button("+ SQL step").clicked() {
            items.push(serde_json::json!({
                "name": format!("step_{}", items.len() + 1),
                "sql": "SELECT 1",
                "on_failure": "cancel",
            }));
            changed = true;
        }
        if ui.button("+ ETL step").clicked() {
            items.push(serde_json::json!({
                "name": format!("step_{}", items.len() + 1),
                "sql": "SELECT * FROM my_table",
                "on_failure": "cancel",
                "write": {"table": "my_output", "output_prefix": "curated/my_output"},
            }));
            changed = true;
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
