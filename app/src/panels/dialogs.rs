//! Windows over the canvas: the unsaved-changes question, recovery after a crash,
//! keyboard shortcuts, About, and S3 credentials for the session.

use crate::app::TributaryApp;
use crate::commands::{AppCommand, POINTER};

/// Draws whichever dialogs are open.
pub fn ui(app: &mut TributaryApp, ctx: &egui::Context) {
    unsaved_ui(app, ctx);
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
            app.save();
            if !app.doc.is_dirty() {
                app.perform(action);
            }
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
