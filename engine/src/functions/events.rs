//! The event documents AWS sends a function and the responses it understands, exactly as
//! documented:
//! - the Kinesis event source's event
//!   (<https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html>);
//! - the partial batch response (`{"batchItemFailures": [{"itemIdentifier": …}]}`) and
//!   the rules for a malformed one
//!   (<https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html>);
//! - the on-failure destination's invocation record for a Kinesis batch.

use base64::Engine as _;
use serde_json::{Value, json};

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
#[derive(Clone, Debug)]
pub struct StreamRecord {
    /// The partition key.
    pub partition_key: String,
    /// The sequence number in its shard.
    pub sequence_number: u64,
    /// The record's bytes (base64-encoded in the event).
    pub data: Vec<u8>,
    /// When the record arrived in the stream (ms since the epoch).
    pub arrival_ms: i64,
}

/// The event a Kinesis event source mapping invokes a function with: records of one
/// shard, in order.
pub fn kinesis_event(
    stream_arn: &str,
    function: &str,
    shard: usize,
    records: &[StreamRecord],
) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    let shard = shard_id(shard);
    let role = invoke_role_arn(function);
    let records: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r.partition_key,
                    "sequenceNumber": r.sequence_number.to_string(),
                    "data": b64.encode(&r.data),
                    "approximateArrivalTimestamp": r.arrival_ms as f64 / 1000.0,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("{shard}:{}", r.sequence_number),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": role,
                "awsRegion": REGION,
                "eventSourceARN": stream_arn,
            })
        })
        .collect();
    json!({ "Records": records })
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

/// The records a transform-style function returned: a list of objects, or
/// `{"records": [...]}`. `None` when the response is neither (the input passes on).
pub fn returned_records(response: &Value) -> Option<&[Value]> {
    match response {
        Value::Array(items) => Some(items),
        Value::Object(o) if !o.contains_key("batchItemFailures") => match o.get("records") {
            Some(Value::Array(items)) => Some(items),
            _ => None,
        },
        _ => None,
    }
}
