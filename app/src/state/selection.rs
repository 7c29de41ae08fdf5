//! The selection: which nodes the next edit applies to, as every diagram editor has it.
//! A click selects one node, Shift or Ctrl adds or removes one, a rubber band or Select
//! All selects many, Escape or a click on empty canvas clears. The inspector edits the
//! node when exactly one is selected.

/// Selected node ids, in the order they were selected (the last is the one clicked last).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    ids: Vec<String>,
}

impl Selection {
    /// Selects nothing.
    pub fn clear(&mut self) {
        self.ids.clear();
    }

    /// Selects `id` alone.
    pub fn only(&mut self, id: &str) {
        self.ids.clear();
        self.ids.push(id.to_owned());
    }

    /// Adds `id` (it becomes the last selected).
    pub fn add(&mut self, id: &str) {
        self.ids.retain(|s| s != id);
        self.ids.push(id.to_owned());
    }

    /// Adds `id` if it is not selected, else removes it (Ctrl-click).
    pub fn toggle(&mut self, id: &str) {
        if self.contains(id) {
            self.ids.retain(|s| s != id);
        } else {
            self.ids.push(id.to_owned());
        }
    }

    /// Selects exactly `ids`.
    pub fn set(&mut self, ids: impl IntoIterator<Item = String>) {
        self.ids.clear();
        for id in ids {
            if !self.ids.contains(&id) {
                self.ids.push(id);
            }
        }
    }

    /// Whether `id` is selected.
    pub fn contains(&self, id: &str) -> bool {
        self.ids.iter().any(|s| s == id)
    }

    /// The selected ids, in selection order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// How many nodes are selected.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether nothing is selected.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The selected node when exactly one is.
    pub fn single(&self) -> Option<&str> {
        match self.ids.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// Forgets ids for which `exists` is false (nodes deleted, or undone away).
    pub fn retain(&mut self, exists: impl Fn(&str) -> bool) {
        self.ids.retain(|id| exists(id));
    }
}
