//! Results of earlier runs, reused by `RunTarget::Node` when nothing upstream changed.

use std::collections::BTreeMap;
use std::hash::{Hash as _, Hasher as _};

use crate::api::NodeStats;
use crate::nodes::Value;
use crate::project::Project;

/// Results of earlier runs, by node id.
#[derive(Default)]
pub struct Cache {
    entries: BTreeMap<String, CacheEntry>,
}

struct CacheEntry {
    fingerprint: u64,
    outputs: BTreeMap<&'static str, Value>,
    stats: NodeStats,
}

impl Cache {
    /// The outputs and counters `id` produced with `fingerprint`, if kept.
    pub fn get(
        &self,
        id: &str,
        fingerprint: u64,
    ) -> Option<(BTreeMap<&'static str, Value>, NodeStats)> {
        self.entries
            .get(id)
            .filter(|e| e.fingerprint == fingerprint)
            .map(|e| (e.outputs.clone(), e.stats.clone()))
    }

    /// Keeps what `id` produced with `fingerprint`.
    pub fn insert(
        &mut self,
        id: &str,
        fingerprint: u64,
        outputs: BTreeMap<&'static str, Value>,
        stats: NodeStats,
    ) {
        self.entries.insert(
            id.to_owned(),
            CacheEntry {
                fingerprint,
                outputs,
                stats,
            },
        );
    }

    /// Forgets `id`'s result.
    pub fn remove(&mut self, id: &str) {
        self.entries.remove(id);
    }

    /// Forgets the results of nodes not in `project`.
    pub fn retain_nodes_of(&mut self, project: &Project) {
        self.entries.retain(|k, _| project.node(k).is_some());
    }
}

/// What a node's result depends on: the environment, its kind and config, and its
/// inputs' fingerprints.
pub fn fingerprint(project: &Project, id: &str, upstream: &BTreeMap<String, u64>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    if let Some(node) = project.node(id) {
        // A result computed on another environment is not reused.
        project.selected_environment().ok().hash(&mut h);
        node.kind().as_str().hash(&mut h);
        node.config.to_value().to_string().hash(&mut h);
    }
    let mut inputs: Vec<(String, String, u64)> = project
        .valid_edges()
        .filter(|e| e.to.node == id)
        .map(|e| {
            (
                e.to.port.clone(),
                e.from.to_string(),
                upstream.get(&e.from.node).copied().unwrap_or(0),
            )
        })
        .collect();
    inputs.sort();
    inputs.hash(&mut h);
    h.finish()
}
