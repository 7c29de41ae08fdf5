//! What the window shows, as opposed to what is edited: the bottom panel's tab, which
//! panels and windows are open, search texts, the inspector's drafts, and the like.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::panels::inspector::InspectorState;
use crate::state::canvas::CanvasView;
use crate::state::document::Document;
use crate::widgets::catalog_view::CatalogView;
use crate::widgets::diff_view::DiffView;

/// Tabs of the bottom panel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BottomTab {
    /// The selected node's rows.
    Results,
    /// The selected chart, or every chart as a dashboard.
    Charts,
    /// The catalogs of the project's catalog nodes, as a tree.
    Catalog,
    /// Live metrics of the streaming nodes.
    Metrics,
    /// What the last run would have cost in AWS.
    Cost,
    /// The selected node's output in two recorded runs, compared.
    Diff,
    /// Errors and warnings.
    Log,
}

impl BottomTab {
    /// Every tab, in the order they show.
    pub const ALL: [BottomTab; 7] = [
        BottomTab::Results,
        BottomTab::Charts,
        BottomTab::Catalog,
        BottomTab::Metrics,
        BottomTab::Cost,
        BottomTab::Diff,
        BottomTab::Log,
    ];

    /// The tab's title.
    pub fn title(self) -> &'static str {
        match self {
            Self::Results => "Results",
            Self::Charts => "Charts",
            Self::Catalog => "Catalog",
            Self::Metrics => "Metrics",
            Self::Cost => "Cost",
            Self::Diff => "Diff",
            Self::Log => "Log",
        }
    }
}

/// Window chrome and panel state: what is shown, not what is edited.
pub(crate) struct ViewState {
    pub menu_search: String,
    pub palette_search: String,
    pub inspector: InspectorState,
    pub bottom_tab: BottomTab,
    pub show_palette: bool,
    pub show_inspector: bool,
    pub show_bottom: bool,
    pub show_shortcuts: bool,
    pub show_about: bool,
    pub show_credentials: bool,
    /// Typed S3 credentials (memory only; applied to this session, never saved).
    pub credentials_draft: (String, String, String),
    pub catalog_view: CatalogView,
    /// The Diff tab's runs and comparison.
    pub diff_view: DiffView,
    /// Schema drift: the banner above the canvas and the nodes it marks.
    pub drift: crate::widgets::drift_view::DriftView,
    /// The timeline under the canvas: the last recorded run at a moment of its clock.
    pub timeline: crate::widgets::timeline_view::TimelineView,
    /// Whether the Catalog tab was drawn last frame.
    pub catalog_was_visible: bool,
    /// A refused wire's reason, shown at the pointer for a while.
    pub refusal: Option<(String, Instant)>,
    pub title: String,
    /// The canvas between frames: node rectangles, transform, rubber band, fit.
    pub canvas: CanvasView,
    /// Deleting several nodes waits for this question's answer (how many).
    pub confirm_delete: Option<usize>,
    /// Replay from here: the stream node and the point typed (empty: TRIM_HORIZON), and
    /// why the last one typed cannot be used.
    pub replay: Option<ReplayDraft>,
    /// Validation problems by node, for the document's current revision.
    pub problems: NodeProblems,
}

/// The replay dialog's fields.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplayDraft {
    /// The stream node it starts from.
    pub node: String,
    /// Where: empty or TRIM_HORIZON, an RFC 3339 time, ms since the epoch, or `#` and
    /// sequence numbers.
    pub from: String,
    /// Why the point typed cannot be used.
    pub error: Option<String>,
    /// The field took the keyboard when the dialog opened.
    pub focused: bool,
}

/// The document's validation problems by node id (unconnected inputs, bad settings),
/// computed once per revision.
#[derive(Default)]
pub struct NodeProblems {
    revision: Option<u64>,
    by_node: BTreeMap<String, Vec<String>>,
}

impl NodeProblems {
    /// The problems of `doc` as it is now.
    pub fn by_node(&mut self, doc: &Document) -> &BTreeMap<String, Vec<String>> {
        if self.revision != Some(doc.revision) {
            self.revision = Some(doc.revision);
            self.by_node.clear();
            for p in doc.to_project().validate() {
                if let Some(id) = p.node_id() {
                    let text = match &p.field {
                        Some(f) => format!("{f}: {}", p.message),
                        None => p.message.clone(),
                    };
                    self.by_node.entry(id.to_owned()).or_default().push(text);
                }
            }
        }
        &self.by_node
    }
}

impl Default for ViewState {
    fn default() -> Self {
        Self {
            menu_search: String::new(),
            palette_search: String::new(),
            inspector: InspectorState::default(),
            bottom_tab: BottomTab::Results,
            show_palette: true,
            show_inspector: true,
            show_bottom: true,
            show_shortcuts: false,
            show_about: false,
            show_credentials: false,
            credentials_draft: Default::default(),
            catalog_view: CatalogView::default(),
            diff_view: DiffView::default(),
            drift: Default::default(),
            timeline: Default::default(),
            catalog_was_visible: false,
            refusal: None,
            title: String::new(),
            canvas: CanvasView::default(),
            confirm_delete: None,
            replay: None,
            problems: NodeProblems::default(),
        }
    }
}
