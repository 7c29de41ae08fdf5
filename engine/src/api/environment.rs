//! Where a project's nodes run: the built-in `local` environment or a named one with a
//! Ballista scheduler and/or a Redis broker.

use serde::{Deserialize, Serialize};

/// The name of the built-in environment: embedded DataFusion, in-process streams.
pub const LOCAL_ENV: &str = "local";

/// Where a project's nodes run. Empty fields mean the laptop defaults, so `local` is
/// `Environment::default()`. Never holds secrets: credentials come from the process
/// environment or the usual AWS profile files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// An Apache Ballista scheduler, `df://host:port`: query, ETL and EMR-job nodes run
    /// on its executors. Unset: the embedded DataFusion engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<String>,
    /// A stream broker, `redis://host:port[/db]`: stream nodes keep their shards in Redis
    /// Streams (consumer groups, acknowledgements). Unset: in-process streams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker: Option<String>,
    /// Free text shown in the environment picker.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

impl Environment {
    /// Rules beyond types, each message naming its field.
    pub fn validate(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(s) = &self.scheduler {
            match url::Url::parse(s) {
                Ok(u) if u.scheme() == "df" && u.host().is_some() => {}
                _ => out.push(format!(
                    "scheduler: '{s}' must look like df://host:port (a Ballista scheduler)"
                )),
            }
        }
        if let Some(b) = &self.broker {
            match url::Url::parse(b) {
                Ok(u) if matches!(u.scheme(), "redis" | "rediss") && u.host().is_some() => {}
                _ => out.push(format!(
                    "broker: '{b}' must look like redis://host:port (a Redis server)"
                )),
            }
        }
        out
    }

    /// One line saying what this environment runs on, for pickers and logs.
    pub fn describe(&self) -> String {
        let mut parts = vec![
            match &self.scheduler {
                Some(s) => format!("Ballista scheduler {s}"),
                None => "embedded DataFusion engine".to_owned(),
            },
            match &self.broker {
                Some(b) => format!("streams in {b}"),
                None => "in-process streams".to_owned(),
            },
        ];
        if !self.description.is_empty() {
            parts.push(self.description.clone());
        }
        parts.join(", ")
    }
}
