//! Windows over the canvas: the unsaved-changes question, recovery after a crash,
//! keyboard shortcuts, About, and S3 credentials for the session.

use crate::app::TributaryApp;
use crate::commands::{AppCommand, POINTER};
use crate::files::{DialogPurpose, FileDialog, common_prefix, completions};
use crate::theme;

/// Draws whichever dialogs are open.
pub fn ui(app: &mut TributaryApp, ctx: &egui::Context) {
    path_ui(app, ctx);
    unsaved_ui(app, ctx);
    delete_ui(app, ctx);
    replay_ui(app, ctx);
    recovery_ui(app, ctx);
    shortcuts_ui(app, ctx);
    credentials_ui(app, ctx);
    egui::Window::new("About Tributary")
        .open(&mut app.view.show_about)
        .resizable(false)
        .show(ctx, |ui| {
            ui.heading(format!("Tributary {}", env!("CARGO_PKG_VERSION")));
            ui.label("A desktop data-flow designer for batch and real-time pipelines.");
            ui.label("Built on DataFusion, egui, egui-snarl and egui_plot.");
        });
}

/// The in-app file dialog: a path field with completion (Tab completes, a click picks),
/// shown where the desktop has no system file picker, saying why.
fn path_ui(app: &mut TributaryApp, ctx: &egui::Context) {
    let base = app
        .doc
        .path
        .as_ref()
        .and_then(|p| p.parent().map(std::path::Path::to_path_buf))
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
    let Some(FileDialog::InApp(field)) = &mut app.files.dialog else {
        return;
    };
    let (title, action) = match field.purpose {
        DialogPurpose::SaveAs => ("Save project as", "Save"),
        DialogPurpose::Open => ("Open project", "Open"),
        DialogPurpose::Export => ("Export to AWS: the folder to write", "Export"),
    };
    let mut decision = None;
    egui::Window::new(title)
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
        .show(ctx, |ui| {
            if let Some(why) = &field.why {
                ui.colored_label(
                    theme::warning(ui.visuals()),
                    format!("{why}: type the path."),
                );
            }
            let tab = ui.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Tab));
            // Read before the field, which consumes it.
            let enter = ui.input(|i| i.key_pressed(egui::Key::Enter));
            let edit = egui::TextEdit::singleline(&mut field.text)
                .hint_text(if field.purpose == DialogPurpose::Export {
                    "folder/project-aws"
                } else {
                    "folder/project.json"
                })
                .desired_width(480.0)
                .lock_focus(true);
            let r = ui.add(edit).labelled_by(ui.label("Path").id);
            let options = completions(&field.text, &base);
            if tab
                && let Some(prefix) = common_prefix(&options)
                && prefix.len() > field.text.len()
            {
                field.text = prefix;
                cursor_to_end(ui.ctx(), r.id, &field.text);
            }
            if enter && (r.lost_focus() || r.has_focus()) {
                decision = Some(true);
            } else if ui.memory(|m| m.focused().is_none()) {
                // Typing goes to the field when nothing else holds the keyboard.
                r.request_focus();
            }
            // A fixed height, so the buttons stay put while the list changes.
            let row = ui.text_style_height(&egui::TextStyle::Button) + ui.spacing().item_spacing.y;
            egui::ScrollArea::vertical()
                .min_scrolled_height(row * 6.0)
                .max_height(row * 6.0)
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    for option in &options {
                        if ui.selectable_label(false, option.as_str()).clicked() {
                            field.text = option.clone();
                            cursor_to_end(ui.ctx(), r.id, &field.text);
                            r.request_focus();
                        }
                    }
                });
            match &field.error {
                Some(e) => ui.colored_label(theme::error(ui.visuals()), e),
                None => ui.label(""),
            };
            ui.horizontal(|ui| {
                if ui.button(action).clicked() {
                    decision = Some(true);
                }
                if ui.button("Cancel").clicked() {
                    decision = Some(false);
                }
            });
        });
    match decision {
        Some(true) => app.accept_typed_path(),
        Some(false) => app.cancel_dialog(),
        None => {}
    }
}

/// Puts the text cursor of the text field `id` after its last character.
fn cursor_to_end(ctx: &egui::Context, id: egui::Id, text: &str) {
    if let Some(mut state) = egui::TextEdit::load_state(ctx, id) {
        let end = egui::text::CCursor::new(text.chars().count());
        state
            .cursor
            .set_char_range(Some(egui::text::CCursorRange::one(end)));
        state.store(ctx, id);
    }
}

/// Deleting several nodes asks first (Undo brings them back either way).
fn delete_ui(app: &mut TributaryApp, ctx: &egui::Context) {
    let Some(count) = app.view.confirm_delete else {
        return;
    };
    let mut decision = None;
    egui::Window::new("Delete nodes")
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
        .show(ctx, |ui| {
            ui.label(format!(
                "Delete {count} nodes and their wires? (Undo in the Edit menu brings them back.)"
            ));
            ui.horizontal(|ui| {
                if ui.button(format!("Delete {count} nodes")).clicked()
                    || ui.input(|i| i.key_pressed(egui::Key::Enter))
                {
                    decision = Some(true);
                }
                if ui.button("Cancel").clicked() || ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                    decision = Some(false);
                }
            });
        });
    match decision {
        Some(true) => app.delete_now(),
        Some(false) => app.view.confirm_delete = None,
        None => {}
    }
}

/// Replay from here: where in the stream's retained records to start.
fn replay_ui(app: &mut TributaryApp, ctx: &egui::Context) {
    let running = app.is_running();
    let Some(draft) = app.view.replay.as_mut() else {
        return;
    };
    let mut decision = None;
    egui::Window::new(format!("Replay from '{}'", draft.node))
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
        .show(ctx, |ui| {
            ui.label(
                "Everything downstream of this stream runs again, with the nodes as they are \
                 now, on the records the stream retained on disk; nothing upstream runs. \
                 Firehoses deliver into the replay's own folder (.tributary/replays/), and \
                 the Diff tab compares each node with the original run.",
            );
            let label = ui.label("From");
            let r = ui
                .add(
                    egui::TextEdit::singleline(&mut draft.from)
                        .hint_text("TRIM_HORIZON, 2024-01-01T00:10:00Z, or #sequence number")
                        .desired_width(360.0),
                )
                .labelled_by(label.id);
            if r.changed() {
                draft.error = None;
            }
            if !draft.focused {
                // Typing goes to the field as the dialog opens.
                r.request_focus();
                draft.focused = true;
            }
            if let Some(e) = &draft.error {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
            if running {
                ui.colored_label(
                    theme::warning(ui.visuals()),
                    "A run is going on: stop it first.",
                );
            }
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(!running, egui::Button::new("Replay"))
                    .clicked()
                    || (!running && ui.input(|i| i.key_pressed(egui::Key::Enter)))
                {
                    decision = Some(true);
                }
                if ui.button("Cancel").clicked() || ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                    decision = Some(false);
                }
            });
        });
    match decision {
        Some(true) => app.replay_now(),
        Some(false) => app.view.replay = None,
        None => {}
    }
}

fn unsaved_ui(app: &mut TributaryApp, ctx: &egui::Context) {
    let Some(action) = app.files.pending.clone() else {
        return;
    };
    let mut decision = None;
    egui::Window::new("Unsaved changes")
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
        .show(ctx, |ui| {
            ui.label("The project has changes that are not saved.");
            ui.horizontal(|ui| {
                for (i, text) in ["Save", "Discard", "Cancel"].into_iter().enumerate() {
                    if ui.button(text).clicked() {
                        decision = Some(i);
                    }
                }
            });
        });
    match decision {
        Some(0) => {
            app.files.pending = None;
            app.save_then(action);
        }
        Some(1) => {
            app.files.pending = None;
            app.perform(action);
        }
        Some(_) => app.files.pending = None,
        None => {}
    }
}

fn recovery_ui(app: &mut TributaryApp, ctx: &egui::Context) {
    let Some(offer) = &app.files.recovery_offer else {
        return;
    };
    let mut decision = None;
    egui::Window::new("Recover unsaved changes?")
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
        .show(ctx, |ui| {
            let what = offer
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "an untitled project".to_owned());
            ui.label(format!(
                "Tributary did not close cleanly. Autosave kept unsaved changes to {what} \
                 from {}.",
                offer.saved_at
            ));
            ui.horizontal(|ui| {
                if ui.button("Recover").clicked() {
                    decision = Some(true);
                }
                if ui.button("Discard").clicked() {
                    decision = Some(false);
                }
            });
        });
    if let Some(accept) = decision {
        app.recover(accept);
    }
}

/// The keyboard shortcuts, from the command table, and what the pointer does.
fn shortcuts_ui(app: &mut TributaryApp, ctx: &egui::Context) {
    egui::Window::new("Keyboard shortcuts")
        .open(&mut app.view.show_shortcuts)
        .resizable(false)
        .show(ctx, |ui| {
            egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
                for command in AppCommand::WITH_SHORTCUTS {
                    ui.monospace(command.shortcut_text(ctx));
                    ui.label(command.text().trim_end_matches('…'));
                    ui.end_row();
                }
                for (keys, what) in POINTER {
                    ui.monospace(*keys);
                    ui.label(*what);
                    ui.end_row();
                }
            });
        });
}

/// S3 credentials typed by the user: applied to this process only (the engine keeps
/// them in memory), never written to the project, the recovery file or the log.
fn credentials_ui(app: &mut TributaryApp, ctx: &egui::Context) {
    use tributary_engine::lake::bucket::{
        SessionCredentials, session_access_key, set_session_credentials,
    };
    let mut open = app.view.show_credentials;
    egui::Window::new("S3 credentials")
        .open(&mut open)
        .resizable(false)
        .show(ctx, |ui| {
            ui.label(
                "Used by s3:// buckets in this session instead of the environment and \
                 ~/.aws/credentials. Kept in memory only: never saved with the project.",
            );
            let (key, secret, token) = &mut app.view.credentials_draft;
            egui::Grid::new("credentials")
                .num_columns(2)
                .show(ui, |ui| {
                    ui.label("Access key id");
                    ui.text_edit_singleline(key);
                    ui.end_row();
                    ui.label("Secret access key");
                    ui.add(egui::TextEdit::singleline(secret).password(true));
                    ui.end_row();
                    ui.label("Session token (optional)");
                    ui.add(egui::TextEdit::singleline(token).password(true));
                    ui.end_row();
                });
            ui.horizontal(|ui| {
                let ready = !key.trim().is_empty() && !secret.is_empty();
                if ui
                    .add_enabled(ready, egui::Button::new("Use for this session"))
                    .clicked()
                {
                    set_session_credentials(Some(SessionCredentials {
                        access_key_id: key.trim().to_owned(),
                        secret_access_key: std::mem::take(secret),
                        session_token: Some(std::mem::take(token)).filter(|t| !t.is_empty()),
                    }));
                }
                if ui.button("Forget").clicked() {
                    set_session_credentials(None);
                    secret.clear();
                    token.clear();
                }
            });
            match session_access_key() {
                Some(k) => ui.label(format!("In use: access key {k} (this session only)")),
                None => ui.weak("In use: the environment or ~/.aws/credentials"),
            };
        });
    app.view.show_credentials = open;
}
