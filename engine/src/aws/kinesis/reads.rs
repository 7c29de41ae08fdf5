//! Reading a served stream: `GetShardIterator` (opaque iterators that expire after 5
//! minutes and belong to one run) and `GetRecords` (up to 10,000 records or 10 MiB,
//! `MillisBehindLatest`, the read limits with AWS realism, `ChildShards` at a closed
//! shard's end).

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ITERATOR_TTL_MS, MAX_GET_BYTES, MAX_GET_RECORDS, StreamRef, THROTTLED, decode_token,
    encode_token, rate_exceeded, reshard, shard_id,
};
use crate::aws::{ACCOUNT, AwsError, Registry, count, parse};
use crate::stream::metrics::NodeMetrics;
use crate::stream::topic::now_ms;

/// Where a shard iterator points.
#[derive(Debug, PartialEq, Eq)]
struct Iterator {
    stream: String,
    created_ms: i64,
    shard: usize,
    seq: u64,
    issued_ms: i64,
}

impl Iterator {
    fn encode(&self) -> String {
        encode_token(&format!(
            "{}\n{}\n{}\n{}\n{}",
            self.stream, self.created_ms, self.shard, self.seq, self.issued_ms
        ))
    }

    fn decode(text: &str) -> Option<Self> {
        let plain = decode_token(text)?;
        let mut parts = plain.split('\n');
        let stream = parts.next()?.to_owned();
        let created_ms = parts.next()?.parse().ok()?;
        let shard = parts.next()?.parse().ok()?;
        let seq = parts.next()?.parse().ok()?;
        let issued_ms = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(Self {
            stream,
            created_ms,
            shard,
            seq,
            issued_ms,
        })
    }
}

/// A JSON 1.1 timestamp: epoch seconds as a number, or ISO 8601 text.
fn timestamp_ms(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_f64().map(|s| (s * 1000.0).round() as i64),
        Value::String(s) => s
            .parse::<f64>()
            .ok()
            .map(|secs| (secs * 1000.0).round() as i64)
            .or_else(|| {
                chrono::DateTime::parse_from_rfc3339(s)
                    .ok()
                    .map(|t| t.timestamp_millis())
            }),
        _ => None,
    }
}

pub(super) fn get_shard_iterator(
    registry: &Registry,
    body: &[u8],
) -> std::result::Result<Value, AwsError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Req {
        #[serde(flatten)]
        stream: StreamRef,
        shard_id: Option<String>,
        shard_iterator_type: Option<String>,
        starting_sequence_number: Option<String>,
        timestamp: Option<Value>,
    }
    let req: Req = parse(body)?;
    let s = req.stream.resolve(registry)?;
    let r = (|| {
        let Some(id) = &req.shard_id else {
            return Err(AwsError::validation("shardId", "Member must not be null"));
        };
        let shard = s.shard(id)?;
        let (horizon, tip) = s.topic.shard_bounds()[shard];
        let sequence = |what: &str| -> std::result::Result<u64, AwsError> {
            let text = req.starting_sequence_number.as_deref().ok_or_else(|| {
                AwsError::client(
                    "InvalidArgumentException",
                    format!("StartingSequenceNumber is required for the {what} iterator type."),
                )
            })?;
            text.parse::<u64>().map_err(|_| {
                AwsError::client(
                    "InvalidArgumentException",
                    format!(
                        "StartingSequenceNumber {text} used in GetShardIterator on shard {} in stream {} under account {ACCOUNT} is invalid.",
                        shard_id(shard),
                        s.name
                    ),
                )
            })
        };
        let kind = req.shard_iterator_type.as_deref().unwrap_or_default();
        let seq = match kind {
            "TRIM_HORIZON" => horizon,
            "LATEST" => tip,
            "AT_SEQUENCE_NUMBER" => sequence(kind)?,
            "AFTER_SEQUENCE_NUMBER" => sequence(kind)?.saturating_add(1),
            "AT_TIMESTAMP" => {
                let ts = req.timestamp.as_ref().and_then(timestamp_ms).ok_or_else(|| {
                    AwsError::client(
                        "InvalidArgumentException",
                        "Timestamp (epoch seconds) is required for the AT_TIMESTAMP iterator type.",
                    )
                })?;
                s.topic.seq_at_timestamp(shard, ts)
            }
            other => {
                return Err(AwsError::validation(
                    "shardIteratorType",
                    &format!(
                        "Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON] (got '{other}')"
                    ),
                ));
            }
        };
        if matches!(kind, "AT_SEQUENCE_NUMBER" | "AFTER_SEQUENCE_NUMBER") && seq > tip {
            return Err(AwsError::client(
                "InvalidArgumentException",
                format!(
                    "StartingSequenceNumber {} used in GetShardIterator on shard {} in stream {} under account {ACCOUNT} is invalid because it did not come from this stream.",
                    req.starting_sequence_number.as_deref().unwrap_or_default(),
                    shard_id(shard),
                    s.name
                ),
            ));
        }
        let it = Iterator {
            stream: s.name.clone(),
            created_ms: s.created_ms,
            shard,
            seq,
            issued_ms: now_ms(),
        };
        Ok(json!({ "ShardIterator": it.encode() }))
    })();
    count(&s.metrics, &r);
    r
}

pub(super) fn get_records(
    registry: &Registry,
    body: &[u8],
) -> std::result::Result<Value, AwsError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Req {
        shard_iterator: Option<String>,
        limit: Option<i64>,
    }
    let req: Req = parse(body)?;
    let Some(text) = &req.shard_iterator else {
        return Err(AwsError::validation(
            "shardIterator",
            "Member must not be null",
        ));
    };
    let it = Iterator::decode(text).ok_or_else(|| {
        AwsError::client(
            "InvalidArgumentException",
            format!("Invalid ShardIterator: '{text}' was not returned by GetShardIterator or GetRecords."),
        )
    })?;
    let s = registry.streams.get(&it.stream)?;
    let r = (|| {
        let now = now_ms();
        if it.created_ms != s.created_ms {
            return Err(AwsError::client(
                "ExpiredIteratorException",
                format!(
                    "Iterator expired: it was issued for an earlier run of stream {} (the run restarted at {}).",
                    s.name, s.created_ms
                ),
            ));
        }
        if now - it.issued_ms > ITERATOR_TTL_MS {
            return Err(AwsError::client(
                "ExpiredIteratorException",
                format!(
                    "Iterator expired. The iterator was created at time {} while right now it is {} which is further in the future than the tolerated delay of {ITERATOR_TTL_MS} milliseconds.",
                    it.issued_ms, now
                ),
            ));
        }
        let limit = match req.limit {
            None => MAX_GET_RECORDS,
            Some(l) if (1..=MAX_GET_RECORDS as i64).contains(&l) => l as usize,
            Some(_) => {
                return Err(AwsError::validation(
                    "limit",
                    "Member must have value between 1 and 10000",
                ));
            }
        };
        // Beyond a shard's 5 calls or 2 MiB a second, a read is refused (AWS realism).
        if !s.topic.admit_read(it.shard) {
            NodeMetrics::add(&s.metrics.throttled, 1);
            return Err(AwsError::client(THROTTLED, rate_exceeded(&s, it.shard)));
        }
        let read = s
            .topic
            .read_shard(it.shard, it.seq, limit, MAX_GET_BYTES)
            .map_err(|e| AwsError::internal(e.to_string()))?;
        s.topic.charge_read(
            it.shard,
            read.records.iter().map(|r| r.data.len() as u64).sum(),
        );
        let b64 = &base64::engine::general_purpose::STANDARD;
        let records: Vec<Value> = read
            .records
            .iter()
            .map(|r| {
                json!({
                    "SequenceNumber": r.seq.to_string(),
                    "ApproximateArrivalTimestamp": r.arrival_ms as f64 / 1000.0,
                    "Data": b64.encode(&r.data),
                    "PartitionKey": r.partition_key,
                })
            })
            .collect();
        let next = Iterator {
            stream: s.name.clone(),
            created_ms: s.created_ms,
            shard: it.shard,
            seq: read.next,
            issued_ms: now,
        };
        let mut out = json!({
            "Records": records,
            "NextShardIterator": next.encode(),
            "MillisBehindLatest": read.millis_behind,
        });
        // At the end of a shard resharding closed: no next iterator, and the children
        // to read next (GetRecords' ChildShards).
        if let Some(children) = reshard::children_at_end(&s.topic, it.shard, read.next) {
            out.as_object_mut().map(|o| o.remove("NextShardIterator"));
            out["ChildShards"] = children;
        }
        Ok(out)
    })();
    count(&s.metrics, &r);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterators_round_trip_and_reject_garbage() {
        let it = Iterator {
            stream: "clicks".to_owned(),
            created_ms: 17,
            shard: 3,
            seq: 42,
            issued_ms: 1_700_000_000_000,
        };
        assert_eq!(Iterator::decode(&it.encode()), Some(it));
        assert_eq!(Iterator::decode("not an iterator"), None);
        assert_eq!(Iterator::decode(&encode_token("a\nb")), None);
    }

    #[test]
    fn timestamps_are_epoch_seconds_or_iso() {
        assert_eq!(timestamp_ms(&json!(1.5)), Some(1500));
        assert_eq!(
            timestamp_ms(&json!("2024-01-01T00:00:00Z")),
            Some(1_704_067_200_000)
        );
        assert_eq!(timestamp_ms(&json!(null)), None);
    }
}
