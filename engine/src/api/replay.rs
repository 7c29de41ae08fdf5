//! Replay from here: a run of everything downstream of a durable stream, reading what the
//! stream retained from a point on (`RunTarget::Replay`), while nothing upstream runs.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where a replay starts in a stream's retained records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayFrom {
    /// The oldest record the stream retains.
    TrimHorizon,
    /// Records that arrived at or after this time (ms since the epoch).
    AtTimestamp(i64),
    /// Records at or after these sequence numbers: one for every shard, or one per shard
    /// in shard order.
    AtSequenceNumber(Vec<u64>),
}

impl ReplayFrom {
    /// Reads a point as a person gives it: `TRIM_HORIZON`, an RFC 3339 time, or ms since
    /// the epoch.
    pub fn parse_time(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t.is_empty() || t.eq_ignore_ascii_case("TRIM_HORIZON") {
            return Ok(Self::TrimHorizon);
        }
        if let Ok(ms) = t.parse::<i64>() {
            return Ok(Self::AtTimestamp(ms));
        }
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|d| Self::AtTimestamp(d.timestamp_millis()))
            .map_err(|_| {
                format!(
                    "'{t}' is not a point in a stream: TRIM_HORIZON, an RFC 3339 time (2024-01-01T00:10:00Z) or ms since the epoch"
                )
            })
    }

    /// Reads sequence numbers: one for every shard, or one per shard, comma-separated.
    pub fn parse_sequence_numbers(text: &str) -> Result<Self, String> {
        let numbers: Result<Vec<u64>, String> = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<u64>()
                    .map_err(|_| format!("'{s}' is not a sequence number (a whole number ≥ 0)"))
            })
            .collect();
        match numbers? {
            n if n.is_empty() => Err("no sequence number given".to_owned()),
            n => Ok(Self::AtSequenceNumber(n)),
        }
    }

    /// The point in a few characters: `TRIM_HORIZON`, `2024-01-01T00:10:00Z`, `#42`.
    pub fn short(&self) -> String {
        match self {
            Self::TrimHorizon => "TRIM_HORIZON".to_owned(),
            Self::AtTimestamp(ms) => super::clock::format_ms(*ms),
            Self::AtSequenceNumber(n) => format!(
                "#{}",
                n.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
            ),
        }
    }

    /// The point for a person: `TRIM_HORIZON`, `2024-01-01T00:10:00Z`, `sequence number 42`.
    pub fn describe(&self) -> String {
        match self {
            Self::TrimHorizon => "TRIM_HORIZON (the oldest retained record)".to_owned(),
            Self::AtTimestamp(ms) => super::clock::format_ms(*ms),
            Self::AtSequenceNumber(n) => format!(
                "sequence number {}",
                n.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// A replay requested: the stream node it starts from and where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replay {
    /// The durable stream node whose retained records are read again.
    pub node: String,
    /// Where reading starts.
    pub from: ReplayFrom,
}

/// A replay as the nodes of its run see it.
#[derive(Clone, Debug)]
pub struct ReplayRun {
    /// What was asked.
    pub replay: Replay,
    /// The run's own folder (`.tributary/replays/<run>/`): what its sinks write goes
    /// there, never into the original run's buckets.
    pub scratch: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_parse_as_people_write_them() {
        assert_eq!(ReplayFrom::parse_time(""), Ok(ReplayFrom::TrimHorizon));
        assert_eq!(
            ReplayFrom::parse_time("trim_horizon"),
            Ok(ReplayFrom::TrimHorizon)
        );
        assert_eq!(
            ReplayFrom::parse_time("2024-01-01T00:00:10Z"),
            Ok(ReplayFrom::AtTimestamp(1_704_067_210_000))
        );
        assert_eq!(
            ReplayFrom::parse_time("1704067210000"),
            Ok(ReplayFrom::AtTimestamp(1_704_067_210_000))
        );
        assert!(ReplayFrom::parse_time("yesterday").is_err());
        assert_eq!(
            ReplayFrom::parse_sequence_numbers("3, 7"),
            Ok(ReplayFrom::AtSequenceNumber(vec![3, 7]))
        );
        assert!(ReplayFrom::parse_sequence_numbers("x").is_err());
        assert!(ReplayFrom::parse_sequence_numbers(" ").is_err());
    }
}
