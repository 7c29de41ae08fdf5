//! The app's state: the document being edited, the view of the current run built from
//! engine events, what is remembered between sessions, and what the window shows.

pub mod canvas;
pub mod document;
pub mod run_view;
pub mod selection;
pub mod session;
pub mod view;
