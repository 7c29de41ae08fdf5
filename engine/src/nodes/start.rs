//! Where a node reading a stream starts when it has no checkpoint: the settings AWS gives
//! a stream's readers (`StartingPosition` of a Lambda event source mapping, a Flink
//! application's `flink.stream.initpos`, `GetShardIterator`'s `ShardIteratorType`), shared
//! by every node kind that reads a stream. A reader that has a checkpoint (a durable
//! stream, a restarted run) resumes there instead.

use super::form::{Editor, Field, Problems, When};
use crate::stream::topic::StartPosition;

crate::choice_enum! {
    /// Where a reader without a checkpoint starts (`StartingPosition`).
    pub enum StartingPosition {
        /// The oldest record the stream retains.
        TrimHorizon = "TRIM_HORIZON",
        /// Only records put after the reader starts.
        Latest = "LATEST",
        /// Records that arrived at or after `starting_position_timestamp`.
        AtTimestamp = "AT_TIMESTAMP",
        /// Records at or after `starting_sequence_number` (per shard).
        AtSequenceNumber = "AT_SEQUENCE_NUMBER",
        /// Records after `starting_sequence_number` (per shard).
        AfterSequenceNumber = "AFTER_SEQUENCE_NUMBER",
    }
}

/// The positions a Lambda event source mapping (and a Flink source) takes: AWS offers the
/// sequence-number ones only to `GetShardIterator` readers.
pub const MAPPING_POSITIONS: &[&str] = &["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"];

/// The starting settings of a node kind's form.
pub const FIELDS: [Field; 3] = [
    Field::new(
        "starting_position",
        "Starting position",
        Editor::Choice(StartingPosition::NAMES),
        "Where reading starts without a checkpoint: the oldest retained record, only new ones, a time, or a sequence number (StartingPosition).",
    ),
    Field::new(
        "starting_position_timestamp",
        "Starting timestamp",
        Editor::Number,
        "For AT_TIMESTAMP: seconds since the Unix epoch (StartingPositionTimestamp).",
    )
    .when(When::Is("starting_position", &["AT_TIMESTAMP"])),
    Field::new(
        "starting_sequence_number",
        "Starting sequence number",
        Editor::Text,
        "For AT_/AFTER_SEQUENCE_NUMBER: one sequence number for every shard, or one per shard in shard order, comma-separated (StartingSequenceNumber).",
    )
    .when(When::Is(
        "starting_position",
        &["AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"],
    )),
];

/// The sequence numbers of `starting_sequence_number`.
fn sequence_numbers(text: &str) -> Result<Vec<u64>, String> {
    let parts: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if parts.is_empty() {
        return Err(
            "AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER need a sequence number (one, or one per shard, comma-separated)"
                .to_owned(),
        );
    }
    parts
        .iter()
        .map(|p| {
            p.parse::<u64>()
                .map_err(|_| format!("'{p}' is not a sequence number (a whole number ≥ 0)"))
        })
        .collect()
}

/// Checks the starting settings.
pub fn check(p: &mut Problems, position: StartingPosition, timestamp: f64, sequence_number: &str) {
    match position {
        StartingPosition::AtTimestamp => p.check(
            timestamp > 0.0,
            "starting_position_timestamp",
            "AT_TIMESTAMP needs a time (seconds since the Unix epoch)",
        ),
        StartingPosition::AtSequenceNumber | StartingPosition::AfterSequenceNumber => {
            if let Err(e) = sequence_numbers(sequence_number) {
                p.add("starting_sequence_number", e);
            }
        }
        StartingPosition::TrimHorizon | StartingPosition::Latest => {}
    }
}

/// Where the topic reader starts, for checked settings.
pub fn position(
    position: StartingPosition,
    timestamp: f64,
    sequence_number: &str,
) -> StartPosition {
    match position {
        StartingPosition::TrimHorizon => StartPosition::TrimHorizon,
        StartingPosition::Latest => StartPosition::Latest,
        StartingPosition::AtTimestamp => StartPosition::AtTimestamp((timestamp * 1000.0) as i64),
        StartingPosition::AtSequenceNumber | StartingPosition::AfterSequenceNumber => {
            let after = u64::from(position == StartingPosition::AfterSequenceNumber);
            let mut seqs = sequence_numbers(sequence_number).unwrap_or_default();
            for s in &mut seqs {
                *s = s.saturating_add(after);
            }
            match seqs.as_slice() {
                [one] => StartPosition::AtSequenceNumber(*one),
                _ => StartPosition::AtShardSequenceNumbers(seqs),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_are_one_for_all_shards_or_one_per_shard() {
        assert_eq!(
            position(StartingPosition::AtSequenceNumber, 0.0, " 42 "),
            StartPosition::AtSequenceNumber(42)
        );
        assert_eq!(
            position(StartingPosition::AfterSequenceNumber, 0.0, "1, 5,9"),
            StartPosition::AtShardSequenceNumbers(vec![2, 6, 10])
        );
        assert_eq!(
            position(StartingPosition::AtTimestamp, 1_700_000_000.5, ""),
            StartPosition::AtTimestamp(1_700_000_000_500)
        );
        let mut p = Problems::default();
        check(&mut p, StartingPosition::AtSequenceNumber, 0.0, "12,x");
        check(&mut p, StartingPosition::AfterSequenceNumber, 0.0, " ");
        check(&mut p, StartingPosition::AtTimestamp, 0.0, "");
        let problems: Vec<String> = p.into_vec().iter().map(|f| f.to_string()).collect();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].contains("'x' is not a sequence number"),
            "{problems:?}"
        );
    }
}
