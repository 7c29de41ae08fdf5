//! `kinds`: the node kinds as they declare themselves (ports and settings).

use std::io::Write;

/// Prints the node kinds as they declare themselves.
pub(super) fn kinds(only: Option<&str>, json: bool, out: &mut dyn Write) -> Result<i32, String> {
    use crate::nodes::{Editor, Field, NodeKind, PortSpec};
    let kinds: Vec<NodeKind> = match only {
        Some(name) => vec![name.parse::<NodeKind>()?],
        None => NodeKind::ALL.to_vec(),
    };
    fn port_json(p: &PortSpec) -> serde_json::Value {
        serde_json::json!({
            "name": p.name, "type": p.ty, "required": p.required, "multiple": p.multiple,
        })
    }
    fn fields_json(fields: &[Field]) -> Vec<serde_json::Value> {
        fields
            .iter()
            .map(|f| {
                let mut v = serde_json::json!({
                    "key": f.key, "label": f.label, "editor": f.editor_name(), "help": f.help,
                });
                match f.editor {
                    Editor::Choice(names) => v["choices"] = serde_json::json!(names),
                    Editor::Optional { fields, .. } | Editor::Records { fields, .. } => {
                        v["fields"] = serde_json::json!(fields_json(fields))
                    }
                    _ => {}
                }
                v
            })
            .collect()
    }
    fn fields_text(text: &mut String, fields: &[Field], indent: usize) {
        for f in fields {
            text.push_str(&format!(
                "{:indent$}{} ({}): {}\n",
                "",
                f.key,
                f.editor_name(),
                f.help
            ));
            if let Editor::Optional { fields, .. } | Editor::Records { fields, .. } = f.editor {
                fields_text(text, fields, indent + 2);
            }
        }
    }
    let mut text = String::new();
    if json {
        let doc: Vec<serde_json::Value> = kinds
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kind": k.as_str(),
                    "category": format!("{:?}", k.category()),
                    "description": k.description(),
                    "inputs": k.inputs().iter().map(port_json).collect::<Vec<_>>(),
                    "outputs": k.outputs().iter().map(port_json).collect::<Vec<_>>(),
                    "settings": fields_json(k.fields()),
                })
            })
            .collect();
        text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        text.push('\n');
    } else {
        for k in kinds {
            text.push_str(&format!(
                "{} ({:?}): {}\n",
                k.as_str(),
                k.category(),
                k.description()
            ));
            for (dir, ports) in [("in ", k.inputs()), ("out", k.outputs())] {
                for p in ports {
                    text.push_str(&format!(
                        "  {dir} {} ({}{}{})\n",
                        p.name,
                        p.ty,
                        if p.required { ", required" } else { "" },
                        if p.multiple && dir == "in " {
                            ", several edges"
                        } else {
                            ""
                        }
                    ));
                }
            }
            fields_text(&mut text, k.fields(), 2);
            text.push('\n');
        }
    }
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(0)
}
