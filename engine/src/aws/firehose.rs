//! The Amazon Data Firehose API (JSON 1.1, `X-Amz-Target: Firehose_20150804.<Operation>`)
//! over the Firehose nodes of the running project: `PutRecord`, `PutRecordBatch` (with
//! per-record results), `DescribeDeliveryStream`, `ListDeliveryStreams`
//! (<https://docs.aws.amazon.com/firehose/latest/APIReference/>).
//!
//! A Firehose with no input is a `DirectPut` delivery stream: what clients put is its
//! input. One reading a stream node is `KinesisStreamAsSource`, and refuses puts with the
//! error AWS gives. A record is at most 1,000 KiB, a batch 500 records or 4 MiB.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::rows::StreamRows;
use super::{ACCOUNT, AwsError, Misfits, Registry, count, parse};
use crate::api::EventSink;
use crate::lake::bucket::Bucket;
use crate::stream::topic::{Producer, now_ms};

/// Largest record data, before base64 (1,000 KiB).
pub const MAX_RECORD_BYTES: usize = 1_000 * 1024;
/// Most records in one `PutRecordBatch`.
pub const MAX_BATCH_RECORDS: usize = 500;
/// Largest `PutRecordBatch` payload (4 MiB).
pub const MAX_BATCH_BYTES: usize = 4 << 20;

/// The folder of records refused at a time, or why the error prefix has none.
pub type RejectFolder =
    Box<dyn Fn(chrono::DateTime<chrono::Utc>) -> std::result::Result<String, String> + Send + Sync>;

/// Where records that do not fit the columns are written, in AWS's error-record form.
pub struct Rejects {
    /// The bucket.
    pub bucket: Arc<Bucket>,
    /// The folder for records refused at a time: the error prefix evaluated with
    /// `format-conversion-failed` as the error output type (by default
    /// `<error prefix>format-conversion-failed/YYYY/MM/dd/HH/`).
    pub folder: RejectFolder,
}

/// A Firehose node as the endpoint serves it.
pub struct ServedFirehose {
    /// Its API name (`delivery_stream_name`).
    pub name: String,
    /// The node id.
    pub node: String,
    /// Appends what clients put (a `DirectPut` stream); `None` when the node reads a
    /// stream (`KinesisStreamAsSource`), which takes no puts.
    pub producer: Option<Producer>,
    /// How put bytes become rows.
    pub rows: StreamRows,
    /// Where records that do not fit go.
    pub rejects: Option<Rejects>,
    /// The destination, for `DescribeDeliveryStream`: bucket ARN, prefix, error prefix,
    /// buffer MB and seconds, compression.
    pub destination: Value,
    /// When the run started serving it (ms since the epoch).
    pub created_ms: i64,
    /// The node's counters (API requests are counted there).
    pub metrics: Arc<crate::stream::metrics::NodeMetrics>,
    /// Records that did not fit the columns, for the log.
    pub misfits: Misfits,
    /// Whether the run is streaming and the API takes puts (`ACTIVE`); `CREATING`
    /// while the graph is still being wired.
    pub active: std::sync::atomic::AtomicBool,
    /// What the node logs once it is `ACTIVE` ("served as …").
    pub served_as: String,
    /// The run's events.
    pub events: EventSink,
    /// Names of error objects written.
    pub seq: AtomicU64,
}

impl ServedFirehose {
    fn arn(&self, region: &str) -> String {
        format!(
            "arn:aws:firehose:{region}:{ACCOUNT}:deliverystream/{}",
            self.name
        )
    }

    fn status(&self) -> &'static str {
        if self.active.load(Ordering::SeqCst) {
            "ACTIVE"
        } else {
            "CREATING"
        }
    }

    fn kind(&self) -> &'static str {
        if self.producer.is_some() {
            "DirectPut"
        } else {
            "KinesisStreamAsSource"
        }
    }
}

/// Answers operation `op`.
pub(super) async fn call(
    registry: &Registry,
    op: &str,
    body: &[u8],
    region: &str,
) -> std::result::Result<Value, AwsError> {
    match op {
        "ListDeliveryStreams" => list(registry, body),
        "DescribeDeliveryStream" => describe(registry, body, region),
        "PutRecord" => put(registry, body, false).await,
        "PutRecordBatch" => put(registry, body, true).await,
        other => Err(AwsError::client(
            "UnknownOperationException",
            format!(
                "Tributary does not serve the Firehose operation {other} (it serves ListDeliveryStreams, DescribeDeliveryStream, PutRecord, PutRecordBatch)"
            ),
        )),
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Named {
    delivery_stream_name: Option<String>,
}

impl Named {
    fn resolve(&self, registry: &Registry) -> std::result::Result<Arc<ServedFirehose>, AwsError> {
        let Some(name) = &self.delivery_stream_name else {
            return Err(AwsError::validation(
                "deliveryStreamName",
                "Member must not be null",
            ));
        };
        registry.firehoses.get(name)
    }
}

fn list(registry: &Registry, body: &[u8]) -> std::result::Result<Value, AwsError> {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "PascalCase", default)]
    struct Req {
        limit: Option<usize>,
        delivery_stream_type: Option<String>,
        exclusive_start_delivery_stream_name: Option<String>,
    }
    let req: Req = if body.iter().all(u8::is_ascii_whitespace) {
        Req::default()
    } else {
        parse(body)?
    };
    let after = req.exclusive_start_delivery_stream_name.unwrap_or_default();
    let limit = req.limit.unwrap_or(10).clamp(1, 10_000);
    let names: Vec<String> = registry
        .firehoses
        .all()
        .into_iter()
        .filter(|f| f.name > after)
        .filter(|f| {
            req.delivery_stream_type
                .as_deref()
                .is_none_or(|t| t == f.kind())
        })
        .map(|f| f.name.clone())
        .collect();
    Ok(json!({
        "DeliveryStreamNames": names.iter().take(limit).collect::<Vec<_>>(),
        "HasMoreDeliveryStreams": names.len() > limit,
    }))
}

fn describe(
    registry: &Registry,
    body: &[u8],
    region: &str,
) -> std::result::Result<Value, AwsError> {
    let req: Named = parse(body)?;
    let Some(name) = &req.delivery_stream_name else {
        return Err(AwsError::validation(
            "deliveryStreamName",
            "Member must not be null",
        ));
    };
    let f = registry.firehoses.any(name)?;
    let r = Ok(json!({ "DeliveryStreamDescription": {
        "DeliveryStreamName": f.name,
        "DeliveryStreamARN": f.arn(region),
        "DeliveryStreamStatus": f.status(),
        "DeliveryStreamType": f.kind(),
        "VersionId": "1",
        "CreateTimestamp": f.created_ms as f64 / 1000.0,
        "Destinations": [{
            "DestinationId": "destinationId-000000000001",
            "ExtendedS3DestinationDescription": f.destination,
        }],
        "HasMoreDestinations": false,
    }}));
    count(&f.metrics, &r);
    r
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Record {
    data: Option<String>,
}

async fn put(
    registry: &Registry,
    body: &[u8],
    batch: bool,
) -> std::result::Result<Value, AwsError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Req {
        #[serde(flatten)]
        name: Named,
        record: Option<Record>,
        records: Option<Vec<Record>>,
    }
    let req: Req = parse(body)?;
    let f = req.name.resolve(registry)?;
    let r = async {
        let Some(producer) = &f.producer else {
            return Err(AwsError::client(
                "InvalidArgumentException",
                "This operation is not permitted on KinesisStreamAsSource delivery stream type.",
            ));
        };
        let records: Vec<&Record> = if batch {
            let Some(rs) = &req.records else {
                return Err(AwsError::validation("records", "Member must not be null"));
            };
            if rs.is_empty() || rs.len() > MAX_BATCH_RECORDS {
                return Err(AwsError::validation(
                    "records",
                    if rs.is_empty() {
                        "Member must have length greater than or equal to 1"
                    } else {
                        "Member must have length less than or equal to 500"
                    },
                ));
            }
            rs.iter().collect()
        } else {
            let Some(r) = &req.record else {
                return Err(AwsError::validation("record", "Member must not be null"));
            };
            vec![r]
        };
        let b64 = &base64::engine::general_purpose::STANDARD;
        let mut data = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            let at = if batch {
                format!("records.{}.member.data", i + 1)
            } else {
                "record.data".to_owned()
            };
            let Some(text) = &r.data else {
                return Err(AwsError::validation(&at, "Member must not be null"));
            };
            let bytes = b64.decode(text).map_err(|e| {
                AwsError::client(
                    "SerializationException",
                    format!("the Data at {at} is not base64: {e}"),
                )
            })?;
            if bytes.len() > MAX_RECORD_BYTES {
                return Err(AwsError::validation(
                    &at,
                    "Member must have length less than or equal to 1024000",
                ));
            }
            data.push(bytes);
        }
        let total: usize = data.iter().map(Vec::len).sum();
        if batch && total > MAX_BATCH_BYTES {
            return Err(AwsError::client(
                "InvalidArgumentException",
                format!("Records size exceeds 4 MiB limit: the batch holds {total} bytes"),
            ));
        }
        let schema = producer.topic().schema().clone();
        let (rows, bad) = f.rows.rows(&schema, &data)?;
        if rows.num_rows() > 0 {
            producer.send(rows).await.map_err(|e| {
                AwsError::internal(format!("the Firehose did not take the records: {e}"))
            })?;
        }
        if !bad.is_empty() {
            reject(&f, &data, &bad).await;
        }
        let ids: Vec<String> = (0..records.len())
            .map(|_| uuid::Uuid::new_v4().simple().to_string())
            .collect();
        Ok(if batch {
            json!({
                "FailedPutCount": 0,
                "Encrypted": false,
                "RequestResponses": ids.iter().map(|id| json!({ "RecordId": id })).collect::<Vec<_>>(),
            })
        } else {
            json!({ "RecordId": ids[0], "Encrypted": false })
        })
    }
    .await;
    count(&f.metrics, &r);
    r
}

/// Writes records that do not fit the columns under the error prefix, one JSON line
/// each in AWS's error-record form, and logs the first.
async fn reject(f: &ServedFirehose, data: &[Vec<u8>], bad: &[(usize, String)]) {
    let now = now_ms();
    if let (Some((_, reason)), Some(total)) = (bad.first(), f.misfits.add(bad.len() as u64)) {
        f.events.warn(
            &f.node,
            format!(
                "{total} record(s) put through the Firehose API so far do not fit the columns and went to the error prefix; the latest: {reason}"
            ),
        );
    }
    let Some(rejects) = &f.rejects else {
        return;
    };
    let b64 = &base64::engine::general_purpose::STANDARD;
    let mut text = String::new();
    for (i, reason) in bad {
        let line = json!({
            "attemptsMade": 1,
            "arrivalTimestamp": now,
            "lastErrorCode": "DataFormatConversion.MalformedData",
            "lastErrorMessage": reason,
            "attemptEndingTimestamp": now,
            "rawData": b64.encode(&data[*i]),
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    let seq = f.seq.fetch_add(1, Ordering::Relaxed) + 1;
    let name = format!(
        "{}-{}-{seq:08}.json",
        crate::lake::sniff::normalize_name(&f.node),
        chrono::Utc::now().format("%Y%m%dT%H%M%S%3f")
    );
    let folder = (rejects.folder)(chrono::Utc::now())
        .map_err(crate::error::Error::Invalid)
        .and_then(|folder| rejects.bucket.key_under_prefix(&folder));
    let written = match folder {
        Ok(folder) => {
            let key = format!("{}/{name}", folder.trim_end_matches('/'));
            rejects.bucket.put(&key, bytes::Bytes::from(text)).await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        f.events.warn(
            &f.node,
            format!("records that did not fit could not be written to the error prefix: {e}"),
        );
    }
}
