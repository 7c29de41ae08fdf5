//! The menu bar: the command table's menus, Open Recent and the examples, the View
//! menu, the environment and clock pickers and the Run / Stop buttons.

use crate::BottomTab;
use crate::app::{Pending, TributaryApp};
use crate::commands::{AppCommand, menu_button};

/// Draws the menu bar at the top of the window.
pub fn ui(app: &mut TributaryApp, ui: &mut egui::Ui) {
    egui::Panel::top("menu").show(ui, |ui| {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| file_menu(app, ui));
            ui.menu_button("Edit", |ui| {
                for command in [AppCommand::Undo, AppCommand::Redo] {
                    menu_button(ui, app, command);
                }
                ui.separator();
                for command in [
                    AppCommand::Copy,
                    AppCommand::Paste,
                    AppCommand::Duplicate,
                    AppCommand::Delete,
                    AppCommand::SelectAll,
                    AppCommand::ClearSelection,
                ] {
                    menu_button(ui, app, command);
                }
            });
            ui.menu_button("Run", |ui| {
                for command in [AppCommand::Run, AppCommand::Stop, AppCommand::RunSelected] {
                    menu_button(ui, app, command);
                }
            });
            ui.menu_button("Cloud", |ui| {
                menu_button(ui, app, AppCommand::S3Credentials);
                menu_button(ui, app, AppCommand::Serve);
                menu_button(ui, app, AppCommand::ToggleAwsRealism);
            });
            ui.menu_button("View", |ui| view_menu(app, ui));
            ui.menu_button("Help", |ui| {
                menu_button(ui, app, AppCommand::Shortcuts);
                menu_button(ui, app, AppCommand::About);
            });
            ui.separator();
            environment_ui(app, ui);
            clock_ui(app, ui);
            let ctx = ui.ctx().clone();
            for (command, text) in [(AppCommand::Run, "▶ Run"), (AppCommand::Stop, "■ Stop")] {
                let button = egui::Button::new(text);
                if ui
                    .add_enabled(app.is_enabled(command, &ctx), button)
                    .on_hover_text(command.shortcut_text(&ctx))
                    .clicked()
                {
                    app.execute(command, &ctx);
                }
            }
            serve_ui(app, ui);
            realism_ui(app, ui);
        });
    });
}

/// The AWS realism toggle: whether runs keep AWS's limits.
fn realism_ui(app: &mut TributaryApp, ui: &mut egui::Ui) {
    let on = app.doc.aws_realism;
    let tip = if on {
        "AWS realism is on: each stream shard takes at most 1,000 records and 1 MiB per second (puts beyond are throttled with ProvisionedThroughputExceededException and retried after a backoff), and retention is a deadline: a reader that falls behind loses what expires. Click to run without AWS's limits."
    } else {
        "AWS realism is off: streams take records as fast as they come and writers wait for slow readers. Click to keep AWS's limits (Kinesis write limits, retention deadline), as the design would meet them in AWS."
    };
    let ctx = ui.ctx().clone();
    if ui
        .selectable_label(on, "⚖ AWS realism")
        .on_hover_text(tip)
        .clicked()
    {
        app.execute(AppCommand::ToggleAwsRealism, &ctx);
    }
}

/// The clock runs follow: wall time, or simulated time at a speed or as fast as
/// possible; while a simulated run goes (and after), the simulated time it reached.
fn clock_ui(app: &mut TributaryApp, ui: &mut egui::Ui) {
    use tributary_engine::api::ClockMode;
    let current = app.doc.clock.clone();
    let choices: [(ClockMode, f64); 6] = [
        (ClockMode::Wall, 0.0),
        (ClockMode::Simulated, 0.0),
        (ClockMode::Simulated, 10.0),
        (ClockMode::Simulated, 60.0),
        (ClockMode::Simulated, 600.0),
        (ClockMode::Simulated, 3600.0),
    ];
    let mut chosen = None;
    let label = ui.label("Clock");
    egui::ComboBox::from_id_salt("run_clock")
        .selected_text(current.label())
        .show_ui(ui, |ui| {
            for (mode, speed) in choices {
                let choice = crate::state::document::RunClock {
                    mode,
                    speed,
                    start: current.start.clone(),
                };
                let selected = choice.mode == current.mode
                    && (mode == ClockMode::Wall || choice.speed == current.speed);
                if ui.selectable_label(selected, choice.label()).clicked() && !selected {
                    chosen = Some(choice);
                }
            }
        })
        .response
        .labelled_by(label.id)
        .on_hover_text(
            "The clock runs follow. Simulated: event and arrival times, Firehose buffer intervals and hour folders, window closing, retention, Kinesis limits and Lambda batching windows follow simulated time from the project's clock_start (else the generators' start time), so an hour of traffic runs in seconds. As fast as possible: time moves as the sources send (a generator at 1,000 events/s has sent a minute after 60,000 events); ×N: N times wall time.",
        );
    if let Some(choice) = chosen {
        app.doc.clock = choice;
        app.doc.checkpoint();
    }
    if let Some(ms) = app.run.simulated_ms {
        ui.label(
            egui::RichText::new(format!("⏱ {}", tributary_engine::api::clock::format_ms(ms)))
                .monospace(),
        )
        .on_hover_text("The simulated time the run has reached");
    }
}

/// The AWS endpoint toggle, with its address while serving.
fn serve_ui(app: &mut TributaryApp, ui: &mut egui::Ui) {
    use crate::state::run_view::Serving;
    let serving = app.run.serving.clone();
    let on = matches!(serving, Serving::On(_) | Serving::Starting);
    let tip = match &serving {
        Serving::On(a) => format!(
            "Serving the Kinesis and Firehose APIs at http://{a}. Point AWS clients there (AWS_ENDPOINT_URL=http://{a} or --endpoint-url, access key id 'test'): while a run goes on, each stream node is a Kinesis stream named by its stream_name, each Firehose a delivery stream, and the run keeps them served until Stop. Click to stop serving."
        ),
        Serving::Starting => "Starting…".to_owned(),
        Serving::Failed(e) => format!("Could not serve: {e}. Click to try again."),
        Serving::Off => "Serve the AWS APIs (Kinesis, Firehose) at 127.0.0.1:4566 so boto3, the AWS CLI and the AWS SDKs can put records into the running pipeline and read its streams.".to_owned(),
    };
    let ctx = ui.ctx().clone();
    if ui
        .selectable_label(on, "📡 Serve AWS APIs")
        .on_hover_text(tip)
        .clicked()
    {
        app.execute(AppCommand::Serve, &ctx);
    }
    match serving {
        Serving::On(a) => {
            ui.label(egui::RichText::new(format!("http://{a}")).monospace())
                .on_hover_text("AWS_ENDPOINT_URL for clients");
        }
        Serving::Failed(e) => {
            ui.colored_label(ui.visuals().error_fg_color, "not serving")
                .on_hover_text(e);
        }
        _ => {}
    }
}

fn file_menu(app: &mut TributaryApp, ui: &mut egui::Ui) {
    menu_button(ui, app, AppCommand::New);
    menu_button(ui, app, AppCommand::Open);
    ui.add_enabled_ui(!app.files.recent.is_empty(), |ui| {
        ui.menu_button("Open Recent", |ui| {
            for p in app.files.recent.clone() {
                if ui.button(p.display().to_string()).clicked() {
                    app.request(Pending::Open(Some(p)));
                    ui.close();
                }
            }
        });
    });
    ui.menu_button("Examples", |ui| {
        for example in crate::files::examples() {
            let name = example
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if ui.button(name).clicked() {
                app.request(Pending::Open(Some(example)));
                ui.close();
            }
        }
    });
    menu_button(ui, app, AppCommand::Save);
    menu_button(ui, app, AppCommand::SaveAs);
    ui.separator();
    menu_button(ui, app, AppCommand::ExportToAws);
    ui.separator();
    menu_button(ui, app, AppCommand::Quit);
}

fn view_menu(app: &mut TributaryApp, ui: &mut egui::Ui) {
    for command in [
        AppCommand::ZoomToFit,
        AppCommand::ActualSize,
        AppCommand::Arrange,
    ] {
        menu_button(ui, app, command);
    }
    ui.separator();
    ui.checkbox(&mut app.view.show_palette, "Palette");
    ui.checkbox(&mut app.view.show_inspector, "Inspector");
    ui.checkbox(&mut app.view.show_bottom, "Results, charts and log");
    ui.separator();
    for tab in BottomTab::ALL {
        menu_button(ui, app, AppCommand::ShowTab(tab));
    }
    ui.separator();
    let dark = ui.visuals().dark_mode;
    if ui
        .button(if dark { "Light theme" } else { "Dark theme" })
        .clicked()
    {
        let ctx = ui.ctx().clone();
        app.execute(AppCommand::ToggleTheme, &ctx);
        ui.close();
    }
}

/// The environment picker: where runs execute (embedded engine or a cluster, memory
/// streams or a broker). Switching is an edit: it is saved and can be undone.
fn environment_ui(app: &mut TributaryApp, ui: &mut egui::Ui) {
    let doc = &mut app.doc;
    let mut names = vec![tributary_engine::project::LOCAL_ENV.to_owned()];
    names.extend(doc.environments.keys().cloned());
    let describe = |name: &str| -> String {
        doc.environments
            .get(name)
            .cloned()
            .unwrap_or_default()
            .describe()
    };
    let current = doc.environment.clone();
    let mut chosen = None;
    let label = ui.label("Environment");
    egui::ComboBox::from_id_salt("environment")
        .selected_text(doc.environment.as_str())
        .show_ui(ui, |ui| {
            for name in &names {
                if ui
                    .selectable_label(*name == doc.environment, name.as_str())
                    .on_hover_ui(|ui| {
                        ui.label(describe(name));
                    })
                    .clicked()
                {
                    chosen = Some(name.clone());
                }
            }
        })
        .response
        .labelled_by(label.id)
        .on_hover_ui(|ui| {
            ui.label(describe(&current));
        });
    if let Some(name) = chosen
        && name != doc.environment
    {
        doc.environment = name;
        doc.checkpoint();
    }
}
