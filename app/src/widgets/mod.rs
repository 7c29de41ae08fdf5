//! Widgets the panels draw: the results table, charts, the catalog tree and metrics.

pub mod catalog_view;
pub mod chart;
pub mod metrics_view;
pub mod results;
