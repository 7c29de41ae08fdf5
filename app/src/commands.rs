//! Everything a user can ask for from a menu or the keyboard: one table of commands,
//! each with its text, its shortcuts and when it is enabled. Menus, the keyboard
//! handler and the Help list all read it.

use egui::{Key, KeyboardShortcut, Modifiers};
use tributary_engine::RunTarget;

use crate::BottomTab;
use crate::app::{Pending, TributaryApp};

const CMD: Modifiers = Modifiers::COMMAND;
const SHIFT_CMD: Modifiers = Modifiers::COMMAND.plus(Modifiers::SHIFT);
const fn keys(modifiers: Modifiers, key: Key) -> KeyboardShortcut {
    KeyboardShortcut::new(modifiers, key)
}

/// A command of the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppCommand {
    /// A new, empty project (asks about unsaved changes).
    New,
    /// Open a project file (asks about unsaved changes).
    Open,
    /// Save to the project's file (asks for one if it has none).
    Save,
    /// Save to a file chosen now.
    SaveAs,
    /// Export the project to AWS (a CloudFormation/SAM template and its code) into a
    /// folder chosen now.
    ExportToAws,
    /// Quit (asks about unsaved changes).
    Quit,
    /// Undo the last edit.
    Undo,
    /// Redo the last undone edit.
    Redo,
    /// Copy the selected nodes.
    Copy,
    /// Paste copied nodes.
    Paste,
    /// Duplicate the selected nodes (with the wires among them).
    Duplicate,
    /// Delete the selected nodes.
    Delete,
    /// Select every node.
    SelectAll,
    /// Select nothing.
    ClearSelection,
    /// Show the whole graph, as large as fits and can be read.
    ZoomToFit,
    /// Show the canvas at 100 %, around the same centre.
    ActualSize,
    /// Lay the graph out in columns, left to right, then fit it.
    Arrange,
    /// Run the whole graph.
    Run,
    /// Stop the run.
    Stop,
    /// Run the selected node and what it needs.
    RunSelected,
    /// Start or stop serving the AWS APIs (Kinesis, Firehose) at 127.0.0.1:4566.
    Serve,
    /// Type S3 credentials for this session.
    S3Credentials,
    /// Switch the project's AWS realism on or off (Kinesis write limits, retention
    /// deadline).
    ToggleAwsRealism,
    /// Show a tab of the bottom panel.
    ShowTab(BottomTab),
    /// Switch between the dark and light themes.
    ToggleTheme,
    /// List the keyboard shortcuts.
    Shortcuts,
    /// Say what this is.
    About,
}

/// The commands of the menus, in menu order (tabs are listed by the View menu).
pub const MENU: &[(&str, &[AppCommand])] = &[
    (
        "File",
        &[
            AppCommand::New,
            AppCommand::Open,
            AppCommand::Save,
            AppCommand::SaveAs,
            AppCommand::ExportToAws,
            AppCommand::Quit,
        ],
    ),
    (
        "Edit",
        &[
            AppCommand::Undo,
            AppCommand::Redo,
            AppCommand::Copy,
            AppCommand::Paste,
            AppCommand::Duplicate,
            AppCommand::Delete,
            AppCommand::SelectAll,
            AppCommand::ClearSelection,
        ],
    ),
    (
        "View",
        &[
            AppCommand::ZoomToFit,
            AppCommand::ActualSize,
            AppCommand::Arrange,
        ],
    ),
    (
        "Run",
        &[AppCommand::Run, AppCommand::Stop, AppCommand::RunSelected],
    ),
    (
        "Cloud",
        &[
            AppCommand::S3Credentials,
            AppCommand::Serve,
            AppCommand::ToggleAwsRealism,
        ],
    ),
    ("Help", &[AppCommand::Shortcuts, AppCommand::About]),
];

/// What the pointer does, for the Help list beside the keyboard shortcuts.
pub const POINTER: &[(&str, &str)] = &[
    ("Click a node", "Select it (Shift adds, Ctrl toggles)"),
    ("Drag on empty canvas", "Select the nodes inside the band"),
    ("Drag a node", "Move it with the other selected nodes"),
    ("Right-click canvas", "Add a node (searchable)"),
    ("Scroll / middle-drag / Space+drag", "Pan the canvas"),
    ("Ctrl+scroll", "Zoom the canvas"),
];

impl AppCommand {
    /// The text of its menu entry.
    pub fn text(self) -> &'static str {
        match self {
            Self::New => "New",
            Self::Open => "Open…",
            Self::Save => "Save",
            Self::SaveAs => "Save As…",
            Self::ExportToAws => "Export to AWS…",
            Self::Quit => "Quit",
            Self::Undo => "Undo",
            Self::Redo => "Redo",
            Self::Copy => "Copy",
            Self::Paste => "Paste",
            Self::Duplicate => "Duplicate",
            Self::Delete => "Delete",
            Self::SelectAll => "Select All",
            Self::ClearSelection => "Select None",
            Self::ZoomToFit => "Zoom to fit",
            Self::ActualSize => "Actual size (100 %)",
            Self::Arrange => "Arrange (left to right)",
            Self::Run => "Run",
            Self::Stop => "Stop",
            Self::RunSelected => "Run selected node",
            Self::Serve => "Serve AWS APIs (Kinesis, Firehose)",
            Self::S3Credentials => "S3 credentials for this session…",
            Self::ToggleAwsRealism => "AWS realism (limits, retention deadline)",
            Self::ShowTab(tab) => tab.title(),
            Self::ToggleTheme => "Dark / light theme",
            Self::Shortcuts => "Keyboard shortcuts",
            Self::About => "About Tributary",
        }
    }

    /// Its keyboard shortcuts, the first one shown in menus.
    pub fn shortcuts(self) -> &'static [KeyboardShortcut] {
        match self {
            Self::New => const { &[keys(CMD, Key::N)] },
            Self::Open => const { &[keys(CMD, Key::O)] },
            Self::Save => const { &[keys(CMD, Key::S)] },
            Self::SaveAs => const { &[keys(SHIFT_CMD, Key::S)] },
            Self::Undo => const { &[keys(CMD, Key::Z)] },
            Self::Redo => const { &[keys(CMD, Key::Y), keys(SHIFT_CMD, Key::Z)] },
            Self::Copy => const { &[keys(CMD, Key::C)] },
            Self::Paste => const { &[keys(CMD, Key::V)] },
            Self::Duplicate => const { &[keys(CMD, Key::D)] },
            Self::Delete => const { &[keys(Modifiers::NONE, Key::Delete)] },
            Self::SelectAll => const { &[keys(CMD, Key::A)] },
            Self::ClearSelection => const { &[keys(Modifiers::NONE, Key::Escape)] },
            Self::ZoomToFit => const { &[keys(Modifiers::NONE, Key::Home)] },
            Self::ActualSize => const { &[keys(CMD, Key::Num1)] },
            Self::Arrange => const { &[keys(SHIFT_CMD, Key::L)] },
            Self::Stop => const { &[keys(Modifiers::SHIFT, Key::F5)] },
            Self::RunSelected => const { &[keys(CMD, Key::F5)] },
            Self::Quit => const { &[keys(CMD, Key::Q)] },
            Self::Run => const { &[keys(Modifiers::NONE, Key::F5)] },
            Self::ShowTab(BottomTab::Results) => const { &[keys(Modifiers::ALT, Key::Num1)] },
            Self::ShowTab(BottomTab::Charts) => const { &[keys(Modifiers::ALT, Key::Num2)] },
            Self::ShowTab(BottomTab::Catalog) => const { &[keys(Modifiers::ALT, Key::Num3)] },
            Self::ShowTab(BottomTab::Metrics) => const { &[keys(Modifiers::ALT, Key::Num4)] },
            Self::ShowTab(BottomTab::Log) => const { &[keys(Modifiers::ALT, Key::Num5)] },
            Self::ShowTab(BottomTab::Cost) => const { &[keys(Modifiers::ALT, Key::Num6)] },
            Self::ShowTab(BottomTab::Diff) => const { &[keys(Modifiers::ALT, Key::Num7)] },
            Self::ToggleTheme => const { &[keys(SHIFT_CMD, Key::T)] },
            _ => &[],
        }
    }

    /// Commands whose keys also edit text, so they apply only when no text field has
    /// the keyboard.
    fn edits_canvas(self) -> bool {
        matches!(
            self,
            Self::Delete
                | Self::Duplicate
                | Self::SelectAll
                | Self::ClearSelection
                | Self::ZoomToFit
                | Self::Copy
                | Self::Paste
        )
    }

    /// Commands whose keys arrive as the platform's clipboard events, not as keys.
    fn is_clipboard(self) -> bool {
        matches!(self, Self::Copy | Self::Paste)
    }

    /// Every command with a shortcut, for the keyboard handler and the Help list.
    pub const WITH_SHORTCUTS: &'static [AppCommand] = &[
        AppCommand::New,
        AppCommand::Open,
        AppCommand::Save,
        AppCommand::SaveAs,
        AppCommand::Undo,
        AppCommand::Redo,
        AppCommand::Copy,
        AppCommand::Paste,
        AppCommand::Duplicate,
        AppCommand::SelectAll,
        AppCommand::ClearSelection,
        AppCommand::Delete,
        AppCommand::ZoomToFit,
        AppCommand::ActualSize,
        AppCommand::Arrange,
        AppCommand::Run,
        AppCommand::Stop,
        AppCommand::RunSelected,
        AppCommand::ShowTab(BottomTab::Results),
        AppCommand::ShowTab(BottomTab::Charts),
        AppCommand::ShowTab(BottomTab::Catalog),
        AppCommand::ShowTab(BottomTab::Metrics),
        AppCommand::ShowTab(BottomTab::Log),
        AppCommand::ShowTab(BottomTab::Cost),
        AppCommand::ShowTab(BottomTab::Diff),
        AppCommand::ToggleTheme,
        AppCommand::Quit,
    ];

    /// Its shortcuts as text, e.g. `Ctrl+Y / Ctrl+Shift+Z`.
    pub fn shortcut_text(self, ctx: &egui::Context) -> String {
        self.shortcuts()
            .iter()
            .map(|s| ctx.format_shortcut(s))
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

impl TributaryApp {
    /// Whether `command` can run now.
    pub fn is_enabled(&self, command: AppCommand, _ctx: &egui::Context) -> bool {
        match command {
            AppCommand::Undo => self.doc.can_undo(),
            AppCommand::Redo => self.doc.can_redo(),
            AppCommand::Copy | AppCommand::Duplicate | AppCommand::Delete => {
                !self.selected_nodes().is_empty()
            }
            AppCommand::Paste => self.clipboard.is_some(),
            AppCommand::Run => !self.is_running(),
            AppCommand::Stop => self.is_running(),
            AppCommand::RunSelected => self.selected().is_some() && !self.is_running(),
            _ => true,
        }
    }

    /// Carries out `command` (when enabled).
    pub fn execute(&mut self, command: AppCommand, ctx: &egui::Context) {
        if !self.is_enabled(command, ctx) {
            return;
        }
        match command {
            AppCommand::New => self.request(Pending::New),
            AppCommand::Open => self.request(Pending::Open(None)),
            AppCommand::Save => self.save(),
            AppCommand::SaveAs => self.save_as(),
            AppCommand::ExportToAws => self.open_dialog(crate::files::DialogPurpose::Export),
            AppCommand::Quit => self.request(Pending::Quit),
            AppCommand::Undo => self.doc.undo(),
            AppCommand::Redo => self.doc.redo(),
            AppCommand::Copy => self.copy_selected(ctx),
            AppCommand::Paste => {
                if let Some(text) = self.clipboard.clone() {
                    self.paste(&text);
                }
            }
            AppCommand::Duplicate => self.duplicate_selected(),
            AppCommand::Delete => self.delete_selected(),
            AppCommand::SelectAll => self.select_all(),
            AppCommand::ClearSelection => self.selection.clear(),
            AppCommand::ZoomToFit => self.view.canvas.fit(),
            AppCommand::ActualSize => self.view.canvas.actual_size(),
            AppCommand::Arrange => self.arrange(),
            AppCommand::Run => self.run(RunTarget::All),
            AppCommand::Stop => self.stop(),
            AppCommand::RunSelected => {
                if let Some(id) = self.selected().map(str::to_owned) {
                    self.run(RunTarget::Node(id));
                }
            }
            AppCommand::Serve => self.toggle_serving(),
            AppCommand::S3Credentials => self.view.show_credentials = true,
            AppCommand::ToggleAwsRealism => {
                self.doc.aws_realism = !self.doc.aws_realism;
                self.doc.checkpoint();
            }
            AppCommand::ShowTab(tab) => {
                self.view.show_bottom = true;
                self.view.bottom_tab = tab;
            }
            AppCommand::ToggleTheme => {
                let dark = ctx.theme() == egui::Theme::Dark;
                ctx.set_theme(if dark {
                    egui::Theme::Light
                } else {
                    egui::Theme::Dark
                });
            }
            AppCommand::Shortcuts => self.view.show_shortcuts = true,
            AppCommand::About => self.view.show_about = true,
        }
    }

    /// Runs the commands whose shortcuts were pressed this frame. Copy and paste arrive
    /// as the platform's clipboard events.
    pub(crate) fn shortcuts(&mut self, ctx: &egui::Context) {
        let typing = ctx.egui_wants_keyboard_input();
        // Longer chords first: Ctrl+Shift+S is not also Ctrl+S.
        let mut bindings: Vec<(KeyboardShortcut, AppCommand)> = AppCommand::WITH_SHORTCUTS
            .iter()
            .filter(|c| !(c.is_clipboard() || typing && c.edits_canvas()))
            // Escape closes a menu or a popup first.
            .filter(|c| !(**c == AppCommand::ClearSelection && egui::Popup::is_any_open(ctx)))
            .flat_map(|c| c.shortcuts().iter().map(move |s| (*s, *c)))
            .collect();
        bindings.sort_by_key(|(s, _)| std::cmp::Reverse(modifier_count(s.modifiers)));
        for (shortcut, command) in bindings {
            if ctx.input_mut(|i| i.consume_shortcut(&shortcut)) {
                self.execute(command, ctx);
            }
        }
        if typing {
            return;
        }
        let (copy, paste) = ctx.input(|i| {
            let copy = i
                .events
                .iter()
                .any(|e| matches!(e, egui::Event::Copy | egui::Event::Cut));
            let paste = i.events.iter().find_map(|e| match e {
                egui::Event::Paste(text) => Some(text.clone()),
                _ => None,
            });
            (copy, paste)
        });
        if copy {
            self.execute(AppCommand::Copy, ctx);
        }
        if let Some(text) = paste {
            // Another application's text may not be nodes; then our own last copy is used.
            if text.contains("\"nodes\"") {
                self.paste(&text);
            } else {
                self.execute(AppCommand::Paste, ctx);
            }
        }
    }
}

fn modifier_count(m: Modifiers) -> u8 {
    [m.alt, m.ctrl, m.shift, m.mac_cmd, m.command]
        .iter()
        .filter(|b| **b)
        .count() as u8
}

/// A menu entry for `command`: its text and shortcut, greyed out when disabled.
pub fn menu_button(ui: &mut egui::Ui, app: &mut TributaryApp, command: AppCommand) {
    let ctx = ui.ctx().clone();
    let button = egui::Button::new(command.text()).shortcut_text(command.shortcut_text(&ctx));
    if ui
        .add_enabled(app.is_enabled(command, &ctx), button)
        .clicked()
    {
        app.execute(command, &ctx);
        ui.close();
    }
}
