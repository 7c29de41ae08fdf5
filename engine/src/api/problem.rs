//! Problems found in a project: what they are about (the project, a node and one of its
//! settings, an edge) and what is wrong.

use std::fmt;

use serde::Serialize;

/// What a problem is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum ProblemSubject {
    /// The document as a whole.
    Project,
    /// A node, by id.
    Node(String),
    /// An edge, by its index in the file and a description.
    Edge(usize, String),
}

/// One problem found while loading or validating a project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What the problem is about.
    pub subject: ProblemSubject,
    /// For a node's setting: the path of the setting in its config, such as `shards` or
    /// `steps[1].sql` (indices from 0, as in jq).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong, phrased for the user.
    pub message: String,
}

impl Problem {
    /// A problem with the document as a whole.
    pub fn project(message: impl Into<String>) -> Self {
        Self {
            subject: ProblemSubject::Project,
            field: None,
            message: message.into(),
        }
    }

    /// A problem with node `id` as a whole.
    pub fn node(id: &str, message: impl Into<String>) -> Self {
        Self {
            subject: ProblemSubject::Node(id.to_owned()),
            field: None,
            message: message.into(),
        }
    }

    /// A problem with the setting at `field` of node `id`.
    pub fn setting(id: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            subject: ProblemSubject::Node(id.to_owned()),
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// A problem with edge number `index` (from 0), described as `edge`.
    pub fn edge(index: usize, edge: impl fmt::Display, message: impl Into<String>) -> Self {
        Self {
            subject: ProblemSubject::Edge(index, edge.to_string()),
            field: None,
            message: message.into(),
        }
    }

    /// The node this problem is about, if any.
    pub fn node_id(&self) -> Option<&str> {
        match &self.subject {
            ProblemSubject::Node(id) => Some(id),
            _ => None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.subject, &self.field) {
            (ProblemSubject::Project, _) => write!(f, "project: {}", self.message),
            (ProblemSubject::Node(id), Some(field)) => {
                write!(f, "node '{id}': config: {field}: {}", self.message)
            }
            (ProblemSubject::Node(id), None) => write!(f, "node '{id}': {}", self.message),
            (ProblemSubject::Edge(i, desc), _) => {
                write!(f, "edge {} ({desc}): {}", i + 1, self.message)
            }
        }
    }
}
