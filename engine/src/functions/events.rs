//! The event documents AWS sends a function and the responses it understands, exactly as
//! documented:
//! - the Kinesis event source's event
//!   (<https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html>);
//! - the partial batch response (`{"batchItemFailures": [{"itemIdentifier": …}]}`) and
//!   the rules for a malformed one
//!   (<https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html>);
//! - the on-failure destination's invocation record for a Kinesis batch;
//! - S3's event notification, version 2.1
//!   (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html>),
//!   as S3 invokes a function: one record per event.

use std::io::Write as _;

use base64::Engine as _;
use serde_json::Value;
use serde_json::value::RawValue;

/// The region and account of the ARNs Tributary makes up.
pub const REGION: &str = "us-east-1";
/// The account id in made-up ARNs (LocalStack's).
pub const ACCOUNT: &str = "000000000000";

/// A Kinesis stream's ARN.
pub fn stream_arn(stream: &str) -> String {
    format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream}")
}

/// A function's ARN.
pub fn function_arn(function: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}")
}

/// The role a made-up event source mapping invokes with.
pub fn invoke_role_arn(function: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{function}-role")
}

/// A shard's id as Kinesis names it (`shardId-000000000000`).
pub fn shard_id(shard: usize) -> String {
    format!("shardId-{shard:012}")
}

/// One stream record as the event carries it.
#[derive(Clone, Copy, Debug)]
pub struct StreamRecord<'a> {
    /// The partition key.
    pub partition_key: &'a str,
    /// The sequence number in its shard.
    pub sequence_number: u64,
    /// The record's bytes (base64-encoded in the event).
    pub data: &'a [u8],
    /// When the record arrived in the stream (ms since the epoch).
    pub arrival_ms: i64,
}

/// Writes `value` as a JSON string (escaped as serde_json escapes).
fn json_str(out: &mut Vec<u8>, value: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// The event a Kinesis event source mapping invokes a function with: records of one
/// shard, in order, as JSON text. The text is written directly (no `Value` tree): for a
/// batch of 10,000 records that is most of the mapping's own work. Its fields and their
/// order are those of AWS's example event.
pub fn kinesis_event<'a>(
    stream_arn: &str,
    function: &str,
    shard: usize,
    records: impl ExactSizeIterator<Item = StreamRecord<'a>>,
) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let shard = shard_id(shard);
    // What every record repeats, escaped once.
    let mut tail = Vec::new();
    tail.extend_from_slice(b",\"invokeIdentityArn\":");
    json_str(&mut tail, &invoke_role_arn(function));
    tail.extend_from_slice(b",\"awsRegion\":");
    json_str(&mut tail, REGION);
    tail.extend_from_slice(b",\"eventSourceARN\":");
    json_str(&mut tail, stream_arn);
    tail.push(b'}');
    let mut out = Vec::with_capacity(records.len() * (tail.len() + 320) + 16);
    out.extend_from_slice(b"{\"Records\":[");
    for (i, r) in records.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"kinesis\":{\"kinesisSchemaVersion\":\"1.0\",\"partitionKey\":");
        json_str(&mut out, r.partition_key);
        out.extend_from_slice(b",\"sequenceNumber\":\"");
        let _ = write!(out, "{}", r.sequence_number);
        out.extend_from_slice(b"\",\"data\":\"");
        // Base64 needs no escaping.
        let at = out.len();
        out.resize(at + r.data.len().div_ceil(3) * 4, 0);
        let written = b64.encode_slice(r.data, &mut out[at..]).unwrap_or_default();
        out.truncate(at + written);
        out.extend_from_slice(b"\",\"approximateArrivalTimestamp\":");
        let _ = serde_json::to_writer(&mut out, &(r.arrival_ms as f64 / 1000.0));
        out.extend_from_slice(
            b"},\"eventSource\":\"aws:kinesis\",\"eventVersion\":\"1.0\",\"eventID\":\"",
        );
        // The shard id is plain ASCII.
        out.extend_from_slice(shard.as_bytes());
        out.push(b':');
        let _ = write!(out, "{}", r.sequence_number);
        out.extend_from_slice(b"\",\"eventName\":\"aws:kinesis:record\"");
        out.extend_from_slice(&tail);
    }
    out.extend_from_slice(b"]}");
    out
}

/// One S3 event record as a function gets it.
#[derive(Clone, Copy, Debug)]
pub struct S3Record<'a> {
    /// `ObjectCreated:Put`, `ObjectRemoved:Delete`, …
    pub event_name: &'a str,
    /// When S3 finished the request (ms since the epoch).
    pub time_ms: i64,
    /// The bucket's name.
    pub bucket: &'a str,
    /// The object's key, not encoded.
    pub key: &'a str,
    /// Created objects: the size.
    pub size: Option<i64>,
    /// Created objects: the ETag.
    pub etag: Option<&'a str>,
    /// The event's sequencer.
    pub sequencer: &'a str,
    /// The request's id.
    pub request_id: &'a str,
}

/// A key as S3's notifications carry it: URL-encoded as a form value (a space is `+`),
/// with its `/` kept.
pub fn s3_event_key(key: &str) -> String {
    key.split('/')
        .map(|segment| url::form_urlencoded::byte_serialize(segment.as_bytes()).collect::<String>())
        .collect::<Vec<_>>()
        .join("/")
}

/// The event S3 invokes a function with: `{"Records": [...]}`, its fields as AWS's event
/// message structure (version 2.1) has them. `configuration_id` names the notification
/// configuration.
pub fn s3_event<'a>(
    configuration_id: &str,
    records: impl IntoIterator<Item = S3Record<'a>>,
) -> Vec<u8> {
    let records: Vec<Value> = records
        .into_iter()
        .map(|r| {
            let time = chrono::DateTime::from_timestamp_millis(r.time_ms)
                .unwrap_or_default()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            let mut object = serde_json::Map::new();
            object.insert("key".into(), s3_event_key(r.key).into());
            if let Some(size) = r.size {
                object.insert("size".into(), size.into());
            }
            if let Some(etag) = r.etag {
                object.insert("eTag".into(), etag.into());
            }
            object.insert("sequencer".into(), r.sequencer.into());
            serde_json::json!({
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": time,
                "eventName": r.event_name,
                "userIdentity": {"principalId": format!("AWS:{ACCOUNT}")},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {
                    "x-amz-request-id": r.request_id,
                    "x-amz-id-2": format!("tributary/{}", r.request_id),
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": configuration_id,
                    "bucket": {
                        "name": r.bucket,
                        "ownerIdentity": {"principalId": ACCOUNT},
                        "arn": format!("arn:aws:s3:::{}", r.bucket),
                    },
                    "object": object,
                },
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
        .to_string()
        .into_bytes()
}

/// A function's answer, read without building a tree of its records.
#[derive(Debug, Default)]
pub struct Response<'a> {
    /// The records a transform-style function returned: a list of values, or the list
    /// under `records` (when there is no `batchItemFailures`). `None` when the answer
    /// is neither: the input passes on.
    pub records: Option<Vec<&'a RawValue>>,
    /// `batchItemFailures`, when the answer is an object that has it.
    pub batch_item_failures: Option<Value>,
}

impl<'a> Response<'a> {
    /// Reads the JSON text a function answered. Text that is not JSON reads as `null`,
    /// as the runtime clients answer for a handler that returns nothing.
    pub fn parse(text: &'a [u8]) -> Self {
        let first = text.iter().find(|b| !b.is_ascii_whitespace());
        match first {
            Some(b'[') => Self {
                records: serde_json::from_slice(text).ok(),
                batch_item_failures: None,
            },
            Some(b'{') => {
                let Ok(fields) = serde_json::from_slice::<
                    std::collections::HashMap<std::borrow::Cow<'a, str>, &'a RawValue>,
                >(text) else {
                    return Self::default();
                };
                let batch_item_failures = fields
                    .get("batchItemFailures")
                    .map(|raw| serde_json::from_str(raw.get()).unwrap_or(Value::Null));
                let records = match (&batch_item_failures, fields.get("records")) {
                    (None, Some(raw)) => serde_json::from_str(raw.get()).ok(),
                    _ => None,
                };
                Self {
                    records,
                    batch_item_failures,
                }
            }
            _ => Self::default(),
        }
    }

    /// What the answer means under `ReportBatchItemFailures` for `batch`.
    pub fn failures(&self, batch: &[u64]) -> BatchResponse {
        match &self.batch_item_failures {
            None => BatchResponse::Success,
            Some(items) => {
                batch_item_failures(&serde_json::json!({ "batchItemFailures": items }), batch)
            }
        }
    }
}

/// What a stream-triggered function's response means for its batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchResponse {
    /// Every record succeeded.
    Success,
    /// These sequence numbers failed (`itemIdentifier`s, in the order given).
    Partial(Vec<u64>),
    /// The response reports failures the mapping cannot use: the whole batch failed.
    Invalid(String),
}

/// Reads a response under `ReportBatchItemFailures`. As AWS documents: an empty or null
/// `batchItemFailures` (or no response) is success; an item whose `itemIdentifier` is
/// null, empty, missing, or not a sequence number of the batch fails the whole batch.
pub fn batch_item_failures(response: &Value, batch: &[u64]) -> BatchResponse {
    let Some(items) = response.get("batchItemFailures") else {
        return BatchResponse::Success;
    };
    let items = match items {
        Value::Null => return BatchResponse::Success,
        Value::Array(items) => items,
        other => {
            return BatchResponse::Invalid(format!(
                "batchItemFailures must be a list, got {other}"
            ));
        }
    };
    let mut failed = Vec::new();
    for item in items {
        let id = match item.get("itemIdentifier") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(_)) => {
                return BatchResponse::Invalid("an itemIdentifier is empty".to_owned());
            }
            Some(Value::Null) | None => {
                return BatchResponse::Invalid(format!(
                    "a batch item failure has no itemIdentifier: {item}"
                ));
            }
            Some(other) => {
                return BatchResponse::Invalid(format!("itemIdentifier {other} is not a string"));
            }
        };
        match id.parse::<u64>() {
            Ok(seq) if batch.contains(&seq) => failed.push(seq),
            _ => {
                return BatchResponse::Invalid(format!(
                    "itemIdentifier '{id}' is not a sequence number of the batch"
                ));
            }
        }
    }
    if failed.is_empty() {
        BatchResponse::Success
    } else {
        BatchResponse::Partial(failed)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The event as a `Value` tree, field by field as AWS documents it: the oracle for
    /// the text written directly.
    fn oracle(stream: &str, function: &str, shard: usize, records: &[StreamRecord]) -> Value {
        let b64 = base64::engine::general_purpose::STANDARD;
        let records: Vec<Value> = records
            .iter()
            .map(|r| {
                json!({
                    "kinesis": {
                        "kinesisSchemaVersion": "1.0",
                        "partitionKey": r.partition_key,
                        "sequenceNumber": r.sequence_number.to_string(),
                        "data": b64.encode(r.data),
                        "approximateArrivalTimestamp": r.arrival_ms as f64 / 1000.0,
                    },
                    "eventSource": "aws:kinesis",
                    "eventVersion": "1.0",
                    "eventID": format!("{}:{}", shard_id(shard), r.sequence_number),
                    "eventName": "aws:kinesis:record",
                    "invokeIdentityArn": invoke_role_arn(function),
                    "awsRegion": REGION,
                    "eventSourceARN": stream,
                })
            })
            .collect();
        json!({ "Records": records })
    }

    #[test]
    fn the_kinesis_event_text_is_the_documented_event() {
        let data: Vec<Vec<u8>> = vec![
            br#"{"a":1}"#.to_vec(),
            Vec::new(),
            vec![0, 255, 10, 13],
            "zä\u{1F600}".as_bytes().to_vec(),
            b"x".to_vec(),
        ];
        let keys = [
            "user-1",
            "",
            "quote\"back\\slash",
            "tab\tnew\nline\u{1}",
            "ü",
        ];
        let records: Vec<StreamRecord> = (0..data.len())
            .map(|i| StreamRecord {
                partition_key: keys[i],
                sequence_number: [0, 1, 49_590_338_271_490_256, u64::MAX, 7][i],
                data: &data[i],
                arrival_ms: [
                    1_704_067_200_000,
                    1_704_067_200_123,
                    0,
                    -5,
                    1_704_067_200_001,
                ][i],
            })
            .collect();
        let arn = stream_arn("clicks\"odd");
        let text = kinesis_event(&arn, "fn", 3, records.iter().copied());
        let expected = serde_json::to_vec(&oracle(&arn, "fn", 3, &records)).unwrap();
        assert_eq!(
            String::from_utf8(text.clone()).unwrap(),
            String::from_utf8(expected).unwrap()
        );
        let empty = kinesis_event(&arn, "fn", 0, std::iter::empty());
        assert_eq!(empty, br#"{"Records":[]}"#);
    }

    #[test]
    fn answers_are_read_as_records_failures_or_nothing() {
        let batch = [5, 6, 7];
        let list = Response::parse(br#" [{"a": 1}, {"b": "x"}, 3]"#);
        let items: Vec<&str> = list
            .records
            .as_ref()
            .unwrap()
            .iter()
            .map(|r| r.get())
            .collect();
        assert_eq!(items, [r#"{"a": 1}"#, r#"{"b": "x"}"#, "3"]);
        assert_eq!(list.failures(&batch), BatchResponse::Success);
        let wrapped = Response::parse(br#"{"records": [{"a": 2}], "other": true}"#);
        assert_eq!(wrapped.records.unwrap()[0].get(), r#"{"a": 2}"#);
        let partial = Response::parse(
            br#"{"batchItemFailures": [{"itemIdentifier": "6"}], "records": [{"a": 1}]}"#,
        );
        assert!(
            partial.records.is_none(),
            "a partial batch response passes its input on"
        );
        assert_eq!(partial.failures(&batch), BatchResponse::Partial(vec![6]));
        let bad = Response::parse(br#"{"batchItemFailures": [{"itemIdentifier": "9"}]}"#);
        assert!(matches!(bad.failures(&batch), BatchResponse::Invalid(_)));
        for nothing in [
            &b"null"[..],
            b"",
            b"not json",
            b"{\"ok\": true}",
            b"\"text\"",
        ] {
            let r = Response::parse(nothing);
            assert!(r.records.is_none());
            assert_eq!(r.failures(&batch), BatchResponse::Success);
        }
        let none = Response::parse(br#"{"batchItemFailures": null}"#);
        assert_eq!(none.failures(&batch), BatchResponse::Success);
    }
}
