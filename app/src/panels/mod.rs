//! The window's panels, each drawn by its own file from the app's state; edits go
//! through the app's commands and edit methods.

pub mod bottom;
pub mod canvas;
pub mod dialogs;
pub mod inspector;
pub mod menu_bar;
pub mod palette;
