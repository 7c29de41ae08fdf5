//! Widgets the panels draw: the results table, charts, the catalog tree and metrics.

pub mod catalog_view;
pub mod chart;
pub mod cost_view;
pub mod diff_view;
pub mod drift_view;
pub mod metrics_view;
pub mod results;
pub mod timeline_view;

/// Symbols the app draws inside text (checked against the fonts by a test, so none shows
/// as an empty box).
pub const SYMBOLS: &[&str] = &[
    "·", "…", "▶", "◀", "⚠", "■", "⟳", "✖", "🗙", "⏷", "⏶", "↩", "×", "–", "—", "⚖", "📡", "⏱",
    "⏪", "⏭",
];
