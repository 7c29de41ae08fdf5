//! The app's state: the document being edited, the view of the current run built from
//! engine events, and what is remembered between sessions.

pub mod document;
pub mod run_view;
pub mod session;
