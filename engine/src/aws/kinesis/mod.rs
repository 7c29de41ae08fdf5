//! The Kinesis Data Streams API (JSON 1.1, `X-Amz-Target: Kinesis_20131202.<Operation>`)
//! over the stream nodes of the running project.
//!
//! Shapes, error codes and limits follow the API reference
//! (<https://docs.aws.amazon.com/kinesis/latest/APIReference/>): a record's data is at
//! most 1 MiB, a `PutRecords` call takes 1 to 500 records, a partition key is 1 to 256
//! characters, `ExplicitHashKey` is a decimal 128-bit number, shard iterators expire after
//! 5 minutes, `GetRecords` returns at most 10,000 records or 10 MiB. Shard ids are
//! `shardId-000000000000`, hash key ranges split 2^128 evenly as a new stream does.
//!
//! Sequence numbers are decimal, increasing per shard (each shard counts from 0), the
//! same numbers a Lambda handler sees in its Kinesis event.

use std::sync::Arc;

mod reads;
mod reshard;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::rows::StreamRows;
use super::{ACCOUNT, AwsError, Misfits, Registry, count, parse};
use crate::api::EventSink;
use crate::arrow::array::{ArrayRef, BinaryArray, RecordBatch, StringArray};
use crate::stream::metrics::NodeMetrics;
use crate::stream::topic::{Producer, PutRecords, ShardInfo, Topic, hash_key};

/// Largest record data, before base64 (1 MiB).
pub const MAX_RECORD_BYTES: usize = 1 << 20;
/// Most records in one `PutRecords` call.
pub const MAX_PUT_RECORDS: usize = 500;
/// Largest `PutRecords` payload, data and partition keys together (5 MiB).
pub const MAX_PUT_BYTES: usize = 5 << 20;
/// How long a shard iterator stays valid (5 minutes).
pub const ITERATOR_TTL_MS: i64 = 300_000;
/// Most records one `GetRecords` returns.
pub const MAX_GET_RECORDS: usize = 10_000;
/// Most data one `GetRecords` returns (10 MiB).
pub const MAX_GET_BYTES: usize = 10 << 20;

/// A stream node as the endpoint serves it.
pub struct ServedStream {
    /// Its API name (`stream_name`).
    pub name: String,
    /// The node id.
    pub node: String,
    /// The stream.
    pub topic: Arc<Topic>,
    /// Appends what clients put.
    pub producer: Producer,
    /// How put bytes become rows.
    pub rows: StreamRows,
    /// Where records that do not fit the columns go, with the reason (the `failed`
    /// output), if it is read.
    pub failed: Option<Producer>,
    /// The node's counters (records put count as records in and out).
    pub metrics: Arc<NodeMetrics>,
    /// `RetentionPeriodHours`.
    pub retention_hours: f64,
    /// When the stream was created (this run), ms since the epoch; shard iterators of an
    /// earlier run are refused.
    pub created_ms: i64,
    /// Records that did not fit the columns, for the log.
    pub misfits: Misfits,
    /// KPL-aggregated records are split into their user records before they become rows
    /// (as the KCL does); otherwise they are kept as put, as `GetRecords` and a Lambda's
    /// Kinesis event give them in AWS.
    pub deaggregate: bool,
    /// Whether it is an on-demand stream (`DescribeStream`'s `StreamModeDetails`).
    pub on_demand: bool,
    /// Whether the run is streaming and the API takes puts (`ACTIVE`); `CREATING`
    /// while the graph is still being wired.
    pub active: std::sync::atomic::AtomicBool,
    /// What the node logs once it is `ACTIVE` ("served as …").
    pub served_as: String,
    /// The run's events, to log refused records.
    pub events: EventSink,
}

impl ServedStream {
    fn arn(&self, region: &str) -> String {
        format!("arn:aws:kinesis:{region}:{ACCOUNT}:stream/{}", self.name)
    }

    fn shard_count(&self) -> usize {
        self.topic.shard_count()
    }

    /// A shard as `ListShards` and `DescribeStream` give it: a closed one has an
    /// `EndingSequenceNumber`, a child its `ParentShardId` (and for a merge, the
    /// `AdjacentParentShardId`).
    fn shard_json(info: &ShardInfo) -> Value {
        let (start, end) = info.range;
        let mut out = json!({
            "ShardId": shard_id(info.index),
            "HashKeyRange": {
                "StartingHashKey": start.to_string(),
                "EndingHashKey": end.to_string(),
            },
            "SequenceNumberRange": { "StartingSequenceNumber": "0" },
        });
        if info.closed {
            out["SequenceNumberRange"]["EndingSequenceNumber"] =
                json!(info.bounds.1.saturating_sub(1).to_string());
        }
        if let Some(p) = info.parents.first() {
            out["ParentShardId"] = json!(shard_id(*p));
        }
        if let Some(p) = info.parents.get(1) {
            out["AdjacentParentShardId"] = json!(shard_id(*p));
        }
        out
    }

    fn status(&self) -> &'static str {
        if self.active.load(std::sync::atomic::Ordering::SeqCst) {
            "ACTIVE"
        } else {
            "CREATING"
        }
    }

    fn mode(&self) -> Value {
        json!({ "StreamMode": if self.on_demand { "ON_DEMAND" } else { "PROVISIONED" } })
    }

    fn created_secs(&self) -> f64 {
        self.created_ms as f64 / 1000.0
    }

    fn retention(&self) -> u64 {
        if self.retention_hours > 0.0 {
            self.retention_hours.ceil() as u64
        } else {
            24
        }
    }

    /// The shard named `id` (`shardId-000000000003`, or just `3` as some tools send).
    fn shard(&self, id: &str) -> std::result::Result<usize, AwsError> {
        let digits = id.strip_prefix("shardId-").unwrap_or(id);
        digits
            .parse::<usize>()
            .ok()
            .filter(|s| *s < self.shard_count())
            .ok_or_else(|| {
                AwsError::client(
                    "ResourceNotFoundException",
                    format!(
                        "Shard {id} in stream {} under account {ACCOUNT} does not exist",
                        self.name
                    ),
                )
            })
    }
}

/// `shardId-000000000000`.
pub fn shard_id(shard: usize) -> String {
    format!("shardId-{shard:012}")
}

/// Answers operation `op`.
pub(super) async fn call(
    registry: &Registry,
    op: &str,
    body: &[u8],
    region: &str,
) -> std::result::Result<Value, AwsError> {
    match op {
        "ListStreams" => list_streams(registry, body, region),
        "DescribeStream" => describe_stream(registry, body, region, false),
        "DescribeStreamSummary" => describe_stream(registry, body, region, true),
        "ListShards" => list_shards(registry, body),
        "PutRecord" => put_record(registry, body).await,
        "PutRecords" => put_records(registry, body).await,
        "GetShardIterator" => reads::get_shard_iterator(registry, body),
        "GetRecords" => reads::get_records(registry, body),
        "CreateStream" => create_stream(registry, body),
        "UpdateShardCount" => reshard::update_shard_count(registry, body, region),
        "SplitShard" => reshard::split_shard(registry, body),
        "MergeShards" => reshard::merge_shards(registry, body),
        "DeleteStream" => delete_stream(registry, body),
        other => Err(AwsError::client(
            "UnknownOperationException",
            format!(
                "Tributary does not serve the Kinesis operation {other} (it serves ListStreams, DescribeStream, DescribeStreamSummary, ListShards, PutRecord, PutRecords, GetShardIterator, GetRecords, UpdateShardCount, SplitShard, MergeShards, CreateStream, DeleteStream)"
            ),
        )),
    }
}

/// A request naming a stream by `StreamName` or `StreamARN`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct StreamRef {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
}

impl StreamRef {
    fn name(&self) -> std::result::Result<String, AwsError> {
        if let Some(n) = &self.stream_name {
            return Ok(n.clone());
        }
        if let Some(arn) = &self.stream_arn {
            return arn
                .rsplit_once(":stream/")
                .map(|(_, n)| n.to_owned())
                .ok_or_else(|| {
                    AwsError::client(
                        "InvalidArgumentException",
                        format!("'{arn}' is not a Kinesis stream ARN"),
                    )
                });
        }
        Err(AwsError::client(
            "InvalidArgumentException",
            "Either StreamName or StreamARN should be provided.",
        ))
    }

    fn resolve(&self, registry: &Registry) -> std::result::Result<Arc<ServedStream>, AwsError> {
        registry.streams.get(&self.name()?)
    }

    /// The stream also while it is `CREATING` (for Describe).
    fn resolve_any(&self, registry: &Registry) -> std::result::Result<Arc<ServedStream>, AwsError> {
        registry.streams.any(&self.name()?)
    }
}

fn list_streams(
    registry: &Registry,
    body: &[u8],
    region: &str,
) -> std::result::Result<Value, AwsError> {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "PascalCase", default)]
    struct Req {
        limit: Option<usize>,
        exclusive_start_stream_name: Option<String>,
        next_token: Option<String>,
    }
    let req: Req = parse_or_default(body)?;
    let after = req
        .exclusive_start_stream_name
        .or(req.next_token)
        .unwrap_or_default();
    let limit = req.limit.unwrap_or(100).clamp(1, 10_000);
    let streams: Vec<Arc<ServedStream>> = registry
        .streams
        .all()
        .into_iter()
        .filter(|s| s.name > after)
        .collect();
    let more = streams.len() > limit;
    let page = &streams[..streams.len().min(limit)];
    let mut out = json!({
        "StreamNames": page.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
        "HasMoreStreams": more,
        "StreamSummaries": page.iter().map(|s| json!({
            "StreamName": s.name,
            "StreamARN": s.arn(region),
            "StreamStatus": s.status(),
            "StreamModeDetails": s.mode(),
            "StreamCreationTimestamp": s.created_secs(),
        })).collect::<Vec<_>>(),
    });
    if more && let Some(last) = page.last() {
        out["NextToken"] = json!(last.name);
    }
    Ok(out)
}

fn describe_stream(
    registry: &Registry,
    body: &[u8],
    region: &str,
    summary: bool,
) -> std::result::Result<Value, AwsError> {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "PascalCase", default)]
    struct Req {
        #[serde(flatten)]
        stream: StreamRef,
        limit: Option<usize>,
        exclusive_start_shard_id: Option<String>,
    }
    let req: Req = parse(body)?;
    let s = req.stream.resolve_any(registry)?;
    let r: std::result::Result<Value, AwsError> = (|| {
        let shards = s.topic.shards();
        let n = shards.len();
        if summary {
            return Ok(json!({ "StreamDescriptionSummary": {
                "StreamName": s.name,
                "StreamARN": s.arn(region),
                "StreamStatus": s.status(),
                "StreamModeDetails": s.mode(),
                "RetentionPeriodHours": s.retention(),
                "StreamCreationTimestamp": s.created_secs(),
                "EnhancedMonitoring": [{ "ShardLevelMetrics": [] }],
                "EncryptionType": "NONE",
                "OpenShardCount": shards.iter().filter(|s| !s.closed).count(),
                "ConsumerCount": 0,
            }}));
        }
        let first = match &req.exclusive_start_shard_id {
            Some(id) => s.shard(id)? + 1,
            None => 0,
        };
        let limit = req.limit.unwrap_or(100).clamp(1, 10_000);
        let last = (first + limit).min(n);
        Ok(json!({ "StreamDescription": {
            "StreamName": s.name,
            "StreamARN": s.arn(region),
            "StreamStatus": s.status(),
            "StreamModeDetails": s.mode(),
            "Shards": shards[first.min(last)..last].iter().map(ServedStream::shard_json).collect::<Vec<_>>(),
            "HasMoreShards": last < n,
            "RetentionPeriodHours": s.retention(),
            "StreamCreationTimestamp": s.created_secs(),
            "EnhancedMonitoring": [{ "ShardLevelMetrics": [] }],
            "EncryptionType": "NONE",
        }}))
    })();
    count(&s.metrics, &r);
    r
}

fn list_shards(registry: &Registry, body: &[u8]) -> std::result::Result<Value, AwsError> {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "PascalCase", default)]
    struct Req {
        #[serde(flatten)]
        stream: StreamRef,
        next_token: Option<String>,
        max_results: Option<usize>,
        exclusive_start_shard_id: Option<String>,
        shard_filter: Option<ShardFilter>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct ShardFilter {
        r#type: String,
        shard_id: Option<String>,
    }
    let req: Req = parse(body)?;
    // A NextToken carries the stream and where the previous page ended.
    let (stream, after) = match &req.next_token {
        Some(token) => {
            if req.stream.stream_name.is_some() || req.stream.stream_arn.is_some() {
                return Err(AwsError::client(
                    "InvalidArgumentException",
                    "NextToken and StreamName cannot be provided together.",
                ));
            }
            let text = decode_token(token).ok_or_else(|| {
                AwsError::client("InvalidArgumentException", "NextToken is not valid.")
            })?;
            let (name, after) = text.split_once('\n').unwrap_or((&text, ""));
            (registry.streams.get(name)?, Some(after.to_owned()))
        }
        None => (
            req.stream.resolve(registry)?,
            req.exclusive_start_shard_id.clone(),
        ),
    };
    let s = stream;
    let r = (|| {
        let mut shards = s.topic.shards();
        // ShardFilter: AT_LATEST lists the open shards; AFTER_SHARD_ID those after one;
        // the others (AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_TIMESTAMP, FROM_TIMESTAMP)
        // every shard the stream still has, as all of them are within retention here.
        let mut after = after;
        if let Some(f) = &req.shard_filter {
            match f.r#type.as_str() {
                "AT_LATEST" => shards.retain(|s| !s.closed),
                "AFTER_SHARD_ID" => match &f.shard_id {
                    Some(id) => after = Some(id.clone()),
                    None => {
                        return Err(AwsError::client(
                            "InvalidArgumentException",
                            "ShardFilter of type AFTER_SHARD_ID needs a ShardId.",
                        ));
                    }
                },
                "AT_TRIM_HORIZON" | "FROM_TRIM_HORIZON" | "AT_TIMESTAMP" | "FROM_TIMESTAMP" => {}
                other => {
                    return Err(AwsError::validation(
                        "shardFilter.type",
                        &format!(
                            "Member must satisfy enum value set: [AFTER_SHARD_ID, AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, FROM_TIMESTAMP] (got '{other}')"
                        ),
                    ));
                }
            }
        }
        if let Some(id) = after.as_deref().filter(|id| !id.is_empty()) {
            let from = s.shard(id)?;
            shards.retain(|s| s.index > from);
        }
        let limit = req.max_results.unwrap_or(1000).clamp(1, 10_000);
        let more = shards.len() > limit;
        shards.truncate(limit);
        let mut out = json!({
            "Shards": shards.iter().map(ServedStream::shard_json).collect::<Vec<_>>(),
        });
        if more && let Some(last) = shards.last() {
            out["NextToken"] = json!(encode_token(&format!(
                "{}\n{}",
                s.name,
                shard_id(last.index)
            )));
        }
        Ok(out)
    })();
    count(&s.metrics, &r);
    r
}

/// One record of a put.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutEntry {
    data: Option<String>,
    partition_key: Option<String>,
    explicit_hash_key: Option<String>,
}

/// A checked record: its bytes, partition key, hash key and shard.
struct Checked {
    data: Vec<u8>,
    key: String,
    hash: u128,
    shard: usize,
}

fn check_entry(e: &PutEntry, at: &str, topic: &Topic) -> std::result::Result<Checked, AwsError> {
    let Some(data) = &e.data else {
        return Err(AwsError::validation(
            &format!("{at}data"),
            "Member must not be null",
        ));
    };
    let data = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|err| {
            AwsError::client(
                "SerializationException",
                format!(
                    "the Data of {} is not base64: {err}",
                    at.trim_end_matches('.')
                ),
            )
        })?;
    let Some(key) = &e.partition_key else {
        return Err(AwsError::validation(
            &format!("{at}partitionKey"),
            "Member must not be null",
        ));
    };
    let chars = key.chars().count();
    if !(1..=256).contains(&chars) {
        return Err(AwsError::validation(
            &format!("{at}partitionKey"),
            if chars == 0 {
                "Member must have length greater than or equal to 1"
            } else {
                "Member must have length less than or equal to 256"
            },
        ));
    }
    if data.len() + key.len() > MAX_RECORD_BYTES {
        return Err(AwsError::validation(
            &format!("{at}data"),
            "Member must have length less than or equal to 1048576",
        ));
    }
    let hash = match &e.explicit_hash_key {
        Some(h) => (!h.is_empty()
                && h.bytes().all(|b| b.is_ascii_digit())
                && (h == "0" || !h.starts_with('0')))
            .then(|| h.parse::<u128>().ok())
            .flatten()
            .ok_or_else(|| {
                AwsError::client(
                    "InvalidArgumentException",
                    format!(
                        "ExplicitHashKey {h} is invalid: it must be a decimal number from 0 to 2^128 - 1"
                    ),
                )
            })?,
        None => hash_key(key.as_bytes()),
    };
    Ok(Checked {
        data,
        key: key.clone(),
        hash,
        shard: topic.route_hash(hash),
    })
}

/// With `deaggregate`, KPL-aggregated records become their user records, each in the
/// aggregated record's shard (a record that does not read as one stays as it is); the
/// index of the request record each comes from is returned beside it.
fn expand(s: &ServedStream, checked: Vec<Checked>) -> (Vec<Checked>, Vec<usize>) {
    if !s.deaggregate {
        let origin = (0..checked.len()).collect();
        return (checked, origin);
    }
    let mut out = Vec::with_capacity(checked.len());
    let mut origin = Vec::with_capacity(checked.len());
    for (i, c) in checked.into_iter().enumerate() {
        match super::kpl::deaggregate(&c.data) {
            Some(Ok(users)) if !users.is_empty() => {
                for u in users {
                    out.push(Checked {
                        data: u.data,
                        key: u.partition_key,
                        hash: c.hash,
                        shard: c.shard,
                    });
                    origin.push(i);
                }
            }
            _ => {
                out.push(c);
                origin.push(i);
            }
        }
    }
    (out, origin)
}

/// The shard and sequence number of each request record: those of its first record.
fn per_request(placed: &[(usize, u64)], origin: &[usize], requests: usize) -> Vec<(usize, u64)> {
    let mut out: Vec<Option<(usize, u64)>> = vec![None; requests];
    for (p, o) in placed.iter().zip(origin) {
        out[*o].get_or_insert(*p);
    }
    out.into_iter().map(|p| p.unwrap_or((0, 0))).collect()
}

/// Appends checked records; returns each one's shard and sequence number, in order.
/// A record routed to a shard that closed in the meantime (resharding) is routed again.
async fn append(
    s: &ServedStream,
    mut records: Vec<Checked>,
) -> std::result::Result<Vec<(usize, u64)>, AwsError> {
    let mut tries = 0;
    loop {
        match append_once(s, &records).await {
            Err(PutError::Closed) if tries < 3 => {
                tries += 1;
                for r in &mut records {
                    r.shard = s.topic.route_hash(r.hash);
                }
            }
            Err(PutError::Closed) => {
                return Err(AwsError::internal(
                    "the stream was resharded while the records were put; put them again",
                ));
            }
            Err(PutError::Aws(e)) => return Err(e),
            Ok(r) => return Ok(r),
        }
    }
}

/// Why a put did not go in.
enum PutError {
    Aws(AwsError),
    /// A shard it went to was closed by resharding in the meantime.
    Closed,
}

impl From<AwsError> for PutError {
    fn from(e: AwsError) -> Self {
        Self::Aws(e)
    }
}

async fn append_once(
    s: &ServedStream,
    records: &[Checked],
) -> std::result::Result<Vec<(usize, u64)>, PutError> {
    let schema = s.topic.schema().clone();
    let data: Vec<Vec<u8>> = records.iter().map(|r| r.data.clone()).collect();
    let shards = s.shard_count();
    let (rows, bad) = s.rows.rows(&schema, &data)?;
    let bytes: u64 = data.iter().map(|d| d.len() as u64).sum();
    // Good records by shard, in order; row i of `rows` is the i-th good record.
    let bad_at: std::collections::BTreeMap<usize, &str> =
        bad.iter().map(|(i, r)| (*i, r.as_str())).collect();
    let mut by_shard: Vec<Vec<u32>> = vec![Vec::new(); shards];
    let mut good_index = Vec::with_capacity(records.len());
    let mut row = 0u32;
    for (i, r) in records.iter().enumerate() {
        if bad_at.contains_key(&i) {
            good_index.push(None);
            continue;
        }
        good_index.push(Some((r.shard, by_shard[r.shard].len())));
        by_shard[r.shard].push(row);
        row += 1;
    }
    let tails = s.topic.tail();
    let mut parts = Vec::new();
    let mut part_of_shard = vec![None; shards];
    for (shard, rows_idx) in by_shard.iter().enumerate() {
        if rows_idx.is_empty() {
            continue;
        }
        let indices = crate::arrow::array::UInt32Array::from(rows_idx.clone());
        let batch = crate::arrow::compute::take_record_batch(&rows, &indices)
            .map_err(|e| AwsError::internal(e.to_string()))?;
        let good: Vec<&Checked> = records
            .iter()
            .enumerate()
            .filter(|(i, r)| r.shard == shard && !bad_at.contains_key(i))
            .map(|(_, r)| r)
            .collect();
        let keys: ArrayRef = Arc::new(StringArray::from_iter_values(
            good.iter().map(|r| r.key.as_str()),
        ));
        let datas: ArrayRef = Arc::new(BinaryArray::from_iter_values(
            good.iter().map(|r| r.data.as_slice()),
        ));
        let meta = RecordBatch::try_new(PutRecords::meta_schema(), vec![keys, datas])
            .map_err(|e| AwsError::internal(e.to_string()))?;
        part_of_shard[shard] = Some(parts.len());
        parts.push(PutRecords { shard, batch, meta });
    }
    let firsts = if parts.is_empty() {
        Vec::new()
    } else {
        match s.producer.put(parts).await {
            Ok(f) => f,
            Err(e) if crate::stream::topic::is_closed_shard(&e) => {
                return Err(PutError::Closed);
            }
            Err(e) => {
                return Err(PutError::Aws(AwsError::internal(format!(
                    "the stream did not take the records: {e}"
                ))));
            }
        }
    };
    let good = records.len() - bad.len();
    NodeMetrics::add(&s.metrics.records_in, records.len() as u64);
    NodeMetrics::add(&s.metrics.bytes_in, bytes);
    NodeMetrics::add(&s.metrics.records_out, good as u64);
    NodeMetrics::add(&s.metrics.bytes_out, rows.get_array_memory_size() as u64);
    if !bad.is_empty() {
        NodeMetrics::add(&s.metrics.errors, bad.len() as u64);
        refuse(s, records, &bad).await;
    }
    // A record that did not fit gets the number the shard's next record takes.
    Ok(records
        .iter()
        .zip(&good_index)
        .map(|(r, g)| match g {
            Some((shard, k)) => {
                let first = part_of_shard[*shard].map(|p| firsts[p]).unwrap_or(0);
                (*shard, first + *k as u64)
            }
            None => {
                let next = part_of_shard[r.shard]
                    .map(|p| firsts[p] + by_shard[r.shard].len() as u64)
                    .unwrap_or(tails[r.shard]);
                (r.shard, next)
            }
        })
        .collect())
}

/// Sends records that did not fit the columns to the `failed` output, and logs the first.
async fn refuse(s: &ServedStream, records: &[Checked], bad: &[(usize, String)]) {
    if let (Some((i, reason)), Some(total)) = (bad.first(), s.misfits.add(bad.len() as u64)) {
        s.events.warn(
            &s.node,
            format!(
                "{total} record(s) put through the Kinesis API so far do not fit the stream's columns and went to its failed output; the latest (partition key '{}'): {reason}",
                records[*i].key
            ),
        );
    }
    let Some(failed) = &s.failed else {
        return;
    };
    let schema = failed.topic().schema().clone();
    let keys: ArrayRef = Arc::new(StringArray::from_iter_values(
        bad.iter().map(|(i, _)| records[*i].key.as_str()),
    ));
    let data: ArrayRef =
        Arc::new(StringArray::from_iter_values(bad.iter().map(|(i, _)| {
            String::from_utf8_lossy(&records[*i].data).into_owned()
        })));
    let errors: ArrayRef = Arc::new(StringArray::from_iter_values(
        bad.iter().map(|(_, r)| r.as_str()),
    ));
    if let Ok(batch) = RecordBatch::try_new(schema, vec![keys, data, errors])
        && let Err(e) = failed.send(batch).await
    {
        s.events.warn(
            &s.node,
            format!("records that did not fit could not be sent to the failed output: {e}"),
        );
    }
}

async fn put_record(registry: &Registry, body: &[u8]) -> std::result::Result<Value, AwsError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Req {
        #[serde(flatten)]
        stream: StreamRef,
        #[serde(flatten)]
        entry: PutEntry,
    }
    let req: Req = parse(body)?;
    let s = req.stream.resolve(registry)?;
    let r = async {
        let checked = check_entry(&req.entry, "", &s.topic)?;
        if !throttle(&s, std::slice::from_ref(&checked))[0] {
            return Err(AwsError::client(
                THROTTLED,
                rate_exceeded(&s, checked.shard),
            ));
        }
        let (records, origin) = expand(&s, vec![checked]);
        let placed = append(&s, records).await?;
        let (shard, seq) = per_request(&placed, &origin, 1)[0];
        Ok(json!({
            "ShardId": shard_id(shard),
            "SequenceNumber": seq.to_string(),
            "EncryptionType": "NONE",
        }))
    }
    .await;
    count(&s.metrics, &r);
    r
}

async fn put_records(registry: &Registry, body: &[u8]) -> std::result::Result<Value, AwsError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Req {
        #[serde(flatten)]
        stream: StreamRef,
        records: Option<Vec<PutEntry>>,
    }
    let req: Req = parse(body)?;
    let s = req.stream.resolve(registry)?;
    let r = async {
        let Some(entries) = &req.records else {
            return Err(AwsError::validation("records", "Member must not be null"));
        };
        if entries.is_empty() {
            return Err(AwsError::validation(
                "records",
                "Member must have length greater than or equal to 1",
            ));
        }
        if entries.len() > MAX_PUT_RECORDS {
            return Err(AwsError::validation(
                "records",
                "Member must have length less than or equal to 500",
            ));
        }
        let checked = entries
            .iter()
            .enumerate()
            .map(|(i, e)| check_entry(e, &format!("records.{}.member.", i + 1), &s.topic))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let total: usize = checked.iter().map(|c| c.data.len() + c.key.len()).sum();
        if total > MAX_PUT_BYTES {
            return Err(AwsError::client(
                "InvalidArgumentException",
                format!(
                    "Records size exceeds 5 MB limit: the request holds {total} bytes of data and partition keys"
                ),
            ));
        }
        // Beyond a shard's write limit a record is refused on its own, and the rest of
        // the request goes in (a partial failure, as PutRecords reports it).
        let taken = throttle(&s, &checked);
        let refused_shards: Vec<Option<usize>> = checked
            .iter()
            .zip(&taken)
            .map(|(c, ok)| (!ok).then_some(c.shard))
            .collect();
        let kept: Vec<Checked> = checked
            .into_iter()
            .zip(&taken)
            .filter(|(_, ok)| **ok)
            .map(|(c, _)| c)
            .collect();
        let requests = kept.len();
        let (records, origin) = expand(&s, kept);
        let mut placed = per_request(&append(&s, records).await?, &origin, requests).into_iter();
        let failed = refused_shards.iter().filter(|r| r.is_some()).count();
        Ok(json!({
            "FailedRecordCount": failed,
            "Records": refused_shards.iter().map(|refused| match refused {
                Some(shard) => json!({
                    "ErrorCode": THROTTLED,
                    "ErrorMessage": rate_exceeded(&s, *shard),
                }),
                None => {
                    let (shard, seq) = placed.next().unwrap_or_default();
                    json!({
                        "SequenceNumber": seq.to_string(),
                        "ShardId": shard_id(shard),
                    })
                }
            }).collect::<Vec<_>>(),
            "EncryptionType": "NONE",
        }))
    }
    .await;
    count(&s.metrics, &r);
    r
}

/// The error code of a put beyond a shard's write limit.
const THROTTLED: &str = "ProvisionedThroughputExceededException";

/// AWS's message for a put beyond shard `shard`'s write limit.
fn rate_exceeded(s: &ServedStream, shard: usize) -> String {
    format!(
        "Rate exceeded for shard {} in stream {} under account {ACCOUNT}.",
        shard_id(shard),
        s.name
    )
}

/// Which of `records` (in request order) their shards' write limits take now (all of
/// them on a stream without AWS realism); the refused ones count as throttled.
fn throttle(s: &ServedStream, records: &[Checked]) -> Vec<bool> {
    if !s.topic.is_write_limited() {
        return vec![true; records.len()];
    }
    let mut taken = vec![false; records.len()];
    let mut by_shard: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, r) in records.iter().enumerate() {
        by_shard.entry(r.shard).or_default().push(i);
    }
    for (shard, idx) in by_shard {
        let sizes: Vec<u64> = idx
            .iter()
            .map(|i| (records[*i].data.len() + records[*i].key.len()) as u64)
            .collect();
        let n = s.topic.admit(shard, &sizes);
        for i in &idx[..n] {
            taken[*i] = true;
        }
    }
    let refused = taken.iter().filter(|t| !**t).count() as u64;
    NodeMetrics::add(&s.metrics.throttled, refused);
    taken
}

fn encode_token(text: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode_token(token: &str) -> Option<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}

fn create_stream(registry: &Registry, body: &[u8]) -> std::result::Result<Value, AwsError> {
    let req: StreamRef = parse(body)?;
    let name = req.name()?;
    if registry.streams.get(&name).is_ok() {
        return Err(AwsError::client(
            "ResourceInUseException",
            format!("Stream {name} under account {ACCOUNT} already exists."),
        ));
    }
    let served = registry.stream_names();
    Err(AwsError::client(
        "InvalidArgumentException",
        format!(
            "Tributary serves the streams of the running project ({}); to create stream {name}, add a stream node with stream_name '{name}' in the designer",
            if served.is_empty() {
                "none now".to_owned()
            } else {
                served.join(", ")
            }
        ),
    ))
}

fn delete_stream(registry: &Registry, body: &[u8]) -> std::result::Result<Value, AwsError> {
    let req: StreamRef = parse(body)?;
    let s = req.resolve(registry)?;
    Err(AwsError::client(
        "ResourceInUseException",
        format!(
            "Stream {} is node '{}' of the running project; delete the node in the designer",
            s.name, s.node
        ),
    ))
}

/// Parses a body that may be empty (`{}` assumed).
fn parse_or_default<T: serde::de::DeserializeOwned + Default>(
    body: &[u8],
) -> std::result::Result<T, AwsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_checked_as_kinesis_checks_them() {
        let entry = |data: &str, key: &str, hash: Option<&str>| PutEntry {
            data: Some(data.to_owned()),
            partition_key: Some(key.to_owned()),
            explicit_hash_key: hash.map(str::to_owned),
        };
        let schema = std::sync::Arc::new(crate::arrow::datatypes::Schema::new(vec![
            crate::arrow::datatypes::Field::new(
                "data",
                crate::arrow::datatypes::DataType::Binary,
                false,
            ),
        ]));
        let topic = Topic::new("t", schema, 4, None, Default::default(), 10).unwrap();
        let ok = check_entry(&entry("aGk=", "k", None), "", &topic).unwrap();
        assert_eq!(ok.data, b"hi");
        assert_eq!(ok.shard, crate::stream::topic::shard_for_key(b"k", 4));
        let top = check_entry(
            &entry("aGk=", "k", Some(&u128::MAX.to_string())),
            "",
            &topic,
        )
        .unwrap();
        assert_eq!(top.shard, 3);
        let zero = check_entry(&entry("aGk=", "k", Some("0")), "", &topic).unwrap();
        assert_eq!(zero.shard, 0);
        let e = check_entry(&entry("%%%", "k", None), "", &topic)
            .err()
            .unwrap();
        assert_eq!(e.code, "SerializationException");
        let e = check_entry(&entry("aGk=", "", None), "records.1.member.", &topic)
            .err()
            .unwrap();
        assert_eq!(e.code, "ValidationException");
        assert!(
            e.message.contains("records.1.member.partitionKey"),
            "{}",
            e.message
        );
        let e = check_entry(&entry("aGk=", "k", Some("-1")), "", &topic)
            .err()
            .unwrap();
        assert_eq!(e.code, "InvalidArgumentException");
        let big = base64::engine::general_purpose::STANDARD.encode(vec![0u8; MAX_RECORD_BYTES]);
        let e = check_entry(&entry(&big, "k", None), "", &topic)
            .err()
            .unwrap();
        assert_eq!(e.code, "ValidationException");
    }
}
