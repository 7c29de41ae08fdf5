//! The AWS wire protocols: real clients nobody here wrote (boto3, the AWS CLI) put
//! records into a running pipeline through the Kinesis API, read them back through shard
//! iterators of every type, and get AWS's errors; what they put flows through the graph
//! into a Firehose's files and a Lambda handler's Kinesis event.

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tributary_engine::aws::ServeOptions;
use tributary_engine::{Command, Engine, Event, NodeStatus, Project, RunId, RunTarget};

use crate::streaming::{edge, node};
use crate::support::{records_under, scratch};

/// The Python with boto3 and the AWS CLI that `scripts/test` sets up (beside awslambdaric).
pub(crate) fn python() -> PathBuf {
    std::env::var_os("TRIBUTARY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::support::repo_root().join("target/tools/python/bin/python"))
}

/// The `aws` command of that environment.
fn aws_cli() -> PathBuf {
    python().with_file_name("aws")
}

/// Log lines: node and message.
pub(crate) type Logs = Vec<(Option<String>, String)>;

/// A served run: the engine, its endpoint's address and the run id.
pub(crate) struct Served {
    engine: Engine,
    address: String,
    run: RunId,
    logs: Logs,
    /// Each node's API requests so far, from its metrics.
    pub(crate) api_requests: std::collections::BTreeMap<String, u64>,
}

impl Served {
    /// Loads `project` in `dir`, serves on a free loopback port and starts the run; returns
    /// once every node in `streams` is served.
    pub(crate) fn start(dir: &Path, project: &Value, streams: &[&str]) -> Self {
        Self::start_with(dir, project, streams, Vec::new())
    }

    /// Like [`Served::start`], serving at `address` (a project that points clients at
    /// the endpoint must know it before it loads).
    pub(crate) fn start_at(dir: &Path, project: &Value, streams: &[&str], address: &str) -> Self {
        Self::serve(dir, project, streams, Vec::new(), address)
    }

    /// Like [`Served::start`], accepting only `credentials`.
    fn start_with(
        dir: &Path,
        project: &Value,
        streams: &[&str],
        credentials: Vec<tributary_engine::aws::Credential>,
    ) -> Self {
        Self::serve(dir, project, streams, credentials, "127.0.0.1:0")
    }

    fn serve(
        dir: &Path,
        project: &Value,
        streams: &[&str],
        credentials: Vec<tributary_engine::aws::Credential>,
        address: &str,
    ) -> Self {
        let project = Project::from_json(&project.to_string()).unwrap();
        let engine = Engine::spawn().unwrap();
        let options = ServeOptions {
            address: address.parse().unwrap(),
            credentials,
        };
        engine.send(Command::Serve(Some(options))).unwrap();
        let address = loop {
            match engine
                .events()
                .recv_timeout(Duration::from_secs(10))
                .unwrap()
            {
                Event::Serving {
                    address: Some(a), ..
                } => break a,
                Event::Serving { error, .. } => panic!("the endpoint did not start: {error:?}"),
                _ => {}
            }
        };
        engine
            .send(Command::Load {
                project: Box::new(project),
                base_dir: dir.to_path_buf(),
                revision: 1,
            })
            .unwrap();
        let run = RunId {
            seq: 1,
            revision: 1,
        };
        engine
            .send(Command::Run {
                run,
                target: RunTarget::All,
            })
            .unwrap();
        let mut served = Self {
            engine,
            address,
            run,
            logs: Vec::new(),
            api_requests: Default::default(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut waiting: Vec<&str> = streams.to_vec();
        while !waiting.is_empty() {
            assert!(
                Instant::now() < deadline,
                "streams {waiting:?} were not served"
            );
            if let Some((node, message)) = served.next_log()
                && message.starts_with("served as ")
            {
                waiting.retain(|s| Some(*s) != node.as_deref());
            }
        }
        served
    }

    /// Loads `project` while the run goes on, as the designer does when a setting is
    /// edited: nodes that apply settings while running take it up.
    pub(crate) fn load(&self, dir: &Path, project: &Value, revision: u64) {
        let project = Project::from_json(&project.to_string()).unwrap();
        self.engine
            .send(Command::Load {
                project: Box::new(project),
                base_dir: dir.to_path_buf(),
                revision,
            })
            .unwrap();
    }

    /// Waits for node `node` to log a line starting with `prefix`.
    pub(crate) fn wait_log(&mut self, node: &str, prefix: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(
                Instant::now() < deadline,
                "node '{node}' never logged '{prefix}…': {:#?}",
                self.logs
            );
            if let Some((Some(n), message)) = self.next_log()
                && n == node
                && message.starts_with(prefix)
            {
                return;
            }
        }
    }

    /// Takes the events that are waiting (logs kept), without waiting.
    pub(crate) fn drain(&mut self) {
        while let Ok(e) = self.engine.events().try_recv() {
            if let Event::Log { node, message, .. } = e {
                self.logs.push((node, message));
            }
        }
    }

    pub(crate) fn next_log(&mut self) -> Option<(Option<String>, String)> {
        match self
            .engine
            .events()
            .recv_timeout(Duration::from_millis(100))
        {
            Ok(Event::Log { node, message, .. }) => {
                self.logs.push((node.clone(), message.clone()));
                Some((node, message))
            }
            Ok(Event::RunFinished {
                status, summary, ..
            }) => {
                panic!("the run ended early: {status:?} {summary:#?}")
            }
            Ok(Event::Metrics { node, sample, .. }) => {
                self.api_requests.insert(node, sample.api_requests);
                None
            }
            _ => None,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops the run (it drains and flushes) and returns its status and summary.
    pub(crate) fn stop(self) -> (NodeStatus, Vec<tributary_engine::api::NodeSummary>, Logs) {
        let mut logs = self.logs;
        self.engine.send(Command::Stop).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match self
                .engine
                .events()
                .recv_timeout(Duration::from_millis(100))
            {
                Ok(Event::RunFinished {
                    run,
                    status,
                    summary,
                }) if run == self.run => return (status, summary, logs),
                Ok(Event::Log { node, message, .. }) => logs.push((node, message)),
                _ => {}
            }
        }
        panic!("the served run did not finish after Stop");
    }
}

/// Runs a Python client script with `ENDPOINT` set; returns what it printed last (JSON).
pub(crate) fn client(dir: &Path, url: &str, script: &str) -> Value {
    let path = dir.join("client.py");
    std::fs::write(&path, script).unwrap();
    let out = Process::new(python())
        .arg(&path)
        .env("ENDPOINT", url)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("the client printed no JSON ({e}):\n{stdout}"))
}

/// Runs the AWS CLI with `args` against `url`; returns its output parsed as JSON (or
/// `null` for none, text when it is not JSON), or the error text when it fails.
pub(crate) fn aws(url: &str, args: &[&str]) -> Result<Value, String> {
    let out = Process::new(aws_cli())
        .args(args)
        .args(["--endpoint-url", url, "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(if text.trim().is_empty() {
        Value::Null
    } else {
        // `aws s3` commands print text.
        serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.into_owned()))
    })
}

/// A stream fed only through the API (typed columns), into a Firehose; what does not
/// fit goes to a second Firehose.
fn served_pipeline() -> Value {
    json!({
        "format_version": 2,
        "nodes": [
            node("clicks", "stream", json!({"stream_name": "clicks-api", "shards": 2,
                "columns": ["user Utf8 NOT NULL", "amount Float64", "page Utf8"]})),
            node("lake", "bucket", json!({"path": "lake"})),
            node("deliver", "firehose", json!({"prefix": "out/", "format": "json",
                "buffer_interval_ms": 200})),
            node("rejects", "firehose", json!({"prefix": "rejects/", "format": "json"}))
        ],
        "edges": [
            edge("clicks", "records", "deliver", "records"),
            edge("lake", "objects", "deliver", "target"),
            edge("clicks", "failed", "rejects", "records"),
            edge("lake", "objects", "rejects", "target")
        ]
    })
}

const BOTO3_CLIENT: &str = r#"
import base64, json, os, time
import boto3
from botocore.exceptions import ClientError

k = boto3.client("kinesis", endpoint_url=os.environ["ENDPOINT"])
out = {}
out["streams"] = k.list_streams()["StreamNames"]
desc = k.describe_stream(StreamName="clicks-api")["StreamDescription"]
out["status"] = desc["StreamStatus"]
out["shards"] = [(s["ShardId"], s["HashKeyRange"]["StartingHashKey"], s["HashKeyRange"]["EndingHashKey"]) for s in desc["Shards"]]
out["summary_shards"] = k.describe_stream_summary(StreamName="clicks-api")["StreamDescriptionSummary"]["OpenShardCount"]
k.get_waiter("stream_exists").wait(StreamName="clicks-api")

# 300 good records in batches of 100, with odd spacing: GetRecords must give back these
# exact bytes. One goes to the last shard by ExplicitHashKey.
sent = {}
for b in range(3):
    recs = []
    for i in range(b * 100, b * 100 + 100):
        data = ('{"user":  "u%d" ,"amount": %d, "page": "/p%d"}' % (i % 37, i, i)).encode()
        rec = {"Data": data, "PartitionKey": "u%d" % (i % 37)}
        if i == 5:
            rec["ExplicitHashKey"] = str(2**128 - 1)
        recs.append(rec)
    r = k.put_records(StreamName="clicks-api", Records=recs)
    assert r["FailedRecordCount"] == 0, r
    for rec, res in zip(recs, r["Records"]):
        sent[(res["ShardId"], res["SequenceNumber"])] = (rec["PartitionKey"], rec["Data"])
out["explicit_shard"] = [sid for (sid, seq), (pk, d) in sent.items() if b'"amount": 5,' in d]
# Three that do not fit the columns: the puts still succeed, as Kinesis does not look.
bad = [b"not json", b'{"amount": 1}', b"[1, 2]"]
r = k.put_records(StreamName="clicks-api", Records=[{"Data": d, "PartitionKey": "bad"} for d in bad])
out["bad_put_failed"] = r["FailedRecordCount"]
one = k.put_record(StreamName="clicks-api", Data=b'{"user":"solo","amount":1.5,"page":null}', PartitionKey="solo")
sent[(one["ShardId"], one["SequenceNumber"])] = ("solo", b'{"user":"solo","amount":1.5,"page":null}')

# Read everything back, shard by shard, from TRIM_HORIZON.
got = {}
for s in k.list_shards(StreamName="clicks-api")["Shards"]:
    it = k.get_shard_iterator(StreamName="clicks-api", ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    while True:
        r = k.get_records(ShardIterator=it, Limit=70)
        for rec in r["Records"]:
            got[(s["ShardId"], rec["SequenceNumber"])] = (rec["PartitionKey"], rec["Data"])
            assert rec["ApproximateArrivalTimestamp"].year >= 2024
        it = r["NextShardIterator"]
        if not r["Records"]:
            out["millis_behind"] = r["MillisBehindLatest"]
            break
out["read_back"] = len(got)
out["read_back_equal"] = got == sent

# The other iterator types, on the shard of the first record put.
sid, seq = next(iter(sent))
def first(kind, **kw):
    it = k.get_shard_iterator(StreamName="clicks-api", ShardId=sid, ShardIteratorType=kind, **kw)["ShardIterator"]
    recs = k.get_records(ShardIterator=it, Limit=1)["Records"]
    return recs[0]["SequenceNumber"] if recs else None
out["at"] = first("AT_SEQUENCE_NUMBER", StartingSequenceNumber=seq) == seq
out["after"] = first("AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=seq) == str(int(seq) + 1)
out["latest_empty"] = first("LATEST") is None
out["at_timestamp_old"] = first("AT_TIMESTAMP", Timestamp=time.time() - 3600) == "0"
out["at_timestamp_future"] = first("AT_TIMESTAMP", Timestamp=time.time() + 3600) is None
# LATEST then a put: the iterator sees the new record.
it = k.get_shard_iterator(StreamName="clicks-api", ShardId="shardId-000000000001", ShardIteratorType="LATEST")["ShardIterator"]
k.put_record(StreamName="clicks-api", Data=b'{"user":"late","amount":2}', PartitionKey="late", ExplicitHashKey=str(2**128 - 1))
recs = k.get_records(ShardIterator=it)["Records"]
out["latest_sees"] = [r["PartitionKey"] for r in recs]

def error(call):
    try:
        call()
    except ClientError as e:
        return [e.response["Error"]["Code"], e.response["Error"]["Message"], e.response["ResponseMetadata"]["HTTPStatusCode"]]
    return None
out["errors"] = {
    "unknown_stream": error(lambda: k.put_record(StreamName="nope", Data=b"x", PartitionKey="k")),
    "oversize": error(lambda: k.put_record(StreamName="clicks-api", Data=b"x" * (1024 * 1024 + 1), PartitionKey="k")),
    "too_many": error(lambda: k.put_records(StreamName="clicks-api", Records=[{"Data": b"{}", "PartitionKey": "k"}] * 501)),
    "bad_iterator": error(lambda: k.get_records(ShardIterator="AAAA" * 10)),
    "bad_shard": error(lambda: k.get_shard_iterator(StreamName="clicks-api", ShardId="shardId-000000000009", ShardIteratorType="LATEST")),
    "bad_sequence": error(lambda: k.get_shard_iterator(StreamName="clicks-api", ShardId=sid, ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber="99999999")),
    "create_existing": error(lambda: k.create_stream(StreamName="clicks-api", ShardCount=1)),
    "delete": error(lambda: k.delete_stream(StreamName="clicks-api")),
    "bad_hash_key": error(lambda: k.put_record(StreamName="clicks-api", Data=b"{}", PartitionKey="k", ExplicitHashKey="-5")),
}
stranger = boto3.client("kinesis", endpoint_url=os.environ["ENDPOINT"], aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="x")
out["errors"]["unknown_key"] = error(lambda: stranger.list_streams())
print(json.dumps(out))
"#;

#[test]
fn boto3_and_the_aws_cli_put_read_back_and_get_aws_errors_from_a_served_stream() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let served = Served::start(dir.path(), &served_pipeline(), &["clicks"]);
    let url = served.url();
    let out = client(dir.path(), &url, BOTO3_CLIENT);

    assert_eq!(out["streams"], json!(["clicks-api"]));
    assert_eq!(out["status"], "ACTIVE");
    assert_eq!(
        out["shards"],
        json!([
            [
                "shardId-000000000000",
                "0",
                "170141183460469231731687303715884105727"
            ],
            [
                "shardId-000000000001",
                "170141183460469231731687303715884105728",
                "340282366920938463463374607431768211455"
            ]
        ])
    );
    assert_eq!(out["summary_shards"], 2);
    assert_eq!(out["explicit_shard"], json!(["shardId-000000000001"]));
    assert_eq!(out["bad_put_failed"], 0);
    assert_eq!(out["read_back"], 301, "{out}");
    assert_eq!(
        out["read_back_equal"], true,
        "the bytes put come back unchanged"
    );
    assert_eq!(out["millis_behind"], 0);
    for k in [
        "at",
        "after",
        "latest_empty",
        "at_timestamp_old",
        "at_timestamp_future",
    ] {
        assert_eq!(out[k], true, "iterator type {k}: {out}");
    }
    assert_eq!(out["latest_sees"], json!(["late"]));
    let errors = &out["errors"];
    let code = |k: &str| errors[k][0].as_str().unwrap_or("no error").to_owned();
    assert_eq!(code("unknown_stream"), "ResourceNotFoundException");
    assert_eq!(
        errors["unknown_stream"][1],
        "Stream nope under account 000000000000 not found."
    );
    assert_eq!(code("oversize"), "ValidationException");
    assert_eq!(code("too_many"), "ValidationException");
    assert!(
        errors["too_many"][1]
            .as_str()
            .unwrap()
            .contains("less than or equal to 500")
    );
    assert_eq!(code("bad_iterator"), "InvalidArgumentException");
    assert_eq!(code("bad_shard"), "ResourceNotFoundException");
    assert_eq!(code("bad_sequence"), "InvalidArgumentException");
    assert_eq!(code("create_existing"), "ResourceInUseException");
    assert_eq!(code("delete"), "ResourceInUseException");
    assert_eq!(code("bad_hash_key"), "InvalidArgumentException");
    assert_eq!(code("unknown_key"), "UnrecognizedClientException");
    assert_eq!(errors["unknown_key"][2], 400);

    // The AWS CLI (v1 sends a blob argument's text as the bytes).
    let streams = aws(&url, &["kinesis", "list-streams"]).unwrap();
    assert_eq!(streams["StreamNames"], json!(["clicks-api"]));
    let put = aws(
        &url,
        &[
            "kinesis",
            "put-record",
            "--stream-name",
            "clicks-api",
            "--partition-key",
            "cli",
            "--data",
            r#"{"user":"cli","amount":7}"#,
        ],
    )
    .unwrap();
    let shard = put["ShardId"].as_str().unwrap();
    let it = aws(
        &url,
        &[
            "kinesis",
            "get-shard-iterator",
            "--stream-name",
            "clicks-api",
            "--shard-id",
            shard,
            "--shard-iterator-type",
            "AT_SEQUENCE_NUMBER",
            "--starting-sequence-number",
            put["SequenceNumber"].as_str().unwrap(),
        ],
    )
    .unwrap();
    let got = aws(
        &url,
        &[
            "kinesis",
            "get-records",
            "--shard-iterator",
            it["ShardIterator"].as_str().unwrap(),
        ],
    )
    .unwrap();
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD
        .decode(got["Records"][0]["Data"].as_str().unwrap())
        .unwrap();
    assert_eq!(data, br#"{"user":"cli","amount":7}"#);
    let missing = aws(
        &url,
        &["kinesis", "describe-stream", "--stream-name", "nope"],
    )
    .unwrap_err();
    assert!(missing.contains("ResourceNotFoundException"), "{missing}");

    // Stopped: everything that fit the columns is in the Firehose's files, the rest
    // with its reason in the rejects' files; the counts add up.
    let (status, summary, logs) = served.stop();
    assert_eq!(status, NodeStatus::Stopped, "{summary:#?}");
    let delivered = records_under(&dir.path().join("lake/out"));
    let rejects = records_under(&dir.path().join("lake/rejects"));
    assert_eq!(delivered.len(), 303, "300 + solo + late + cli");
    assert_eq!(rejects.len(), 3);
    let amounts: f64 = delivered
        .iter()
        .map(|r| r["amount"].as_f64().unwrap())
        .sum();
    assert_eq!(amounts, (0..300).sum::<i32>() as f64 + 1.5 + 2.0 + 7.0);
    assert!(
        delivered
            .iter()
            .any(|r| r["user"] == "solo" && r["page"].is_null())
    );
    let reasons: Vec<&str> = rejects
        .iter()
        .map(|r| r["error_message"].as_str().unwrap())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("not JSON")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("missing field 'user'")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("not an object")),
        "{reasons:?}"
    );
    assert!(rejects.iter().all(|r| r["partition_key"] == "bad"));
    let stream = summary.iter().find(|s| s.id == "clicks").unwrap();
    assert_eq!(stream.records_in, 306);
    assert_eq!(stream.records_out, 303);
    assert!(
        logs.iter().any(|(n, m)| n.as_deref() == Some("clicks")
            && m.contains("do not fit the stream's columns")),
        "{logs:?}"
    );
}

/// Echoes each record's partition key and exact data back as rows.
const ECHO_PY: &str = r#"
import base64

def handler(event, context):
    return [{"key": r["kinesis"]["partitionKey"],
             "data": base64.b64decode(r["kinesis"]["data"]).decode("utf-8", "replace"),
             "seq": r["kinesis"]["sequenceNumber"]} for r in event["Records"]]
"#;

#[test]
fn a_lambda_handler_gets_the_bytes_a_producer_put_in_its_kinesis_event() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let project = json!({
        "format_version": 2,
        "nodes": [
            node("raw", "stream", json!({"shards": 1})),
            node("echo", "lambda", json!({"runtime": "python3.12", "handler": "app.handler",
                "code": ECHO_PY, "batch_size": 10,
                "output_columns": ["key Utf8", "data Utf8", "seq Utf8"]})),
            node("lake", "bucket", json!({"path": "lake"})),
            node("deliver", "firehose", json!({"prefix": "out/", "format": "json",
                "buffer_interval_ms": 100}))
        ],
        "edges": [
            edge("raw", "records", "echo", "records"),
            edge("echo", "records", "deliver", "records"),
            edge("lake", "objects", "deliver", "target")
        ]
    });
    let served = Served::start(dir.path(), &project, &["raw"]);
    let out = client(
        dir.path(),
        &served.url(),
        r#"
import json, os, boto3
k = boto3.client("kinesis", endpoint_url=os.environ["ENDPOINT"])
r = k.put_records(StreamName="raw", Records=[{"Data": ("line %d\twith tab" % i).encode(), "PartitionKey": "p%d" % i} for i in range(25)])
print(json.dumps({"failed": r["FailedRecordCount"], "seqs": [x["SequenceNumber"] for x in r["Records"]]}))
"#,
    );
    assert_eq!(out["failed"], 0);
    assert_eq!(out["seqs"][24], "24");
    // The handler's worker may still be starting: wait for its rows to be delivered.
    let deadline = Instant::now() + Duration::from_secs(60);
    while records_under(&dir.path().join("lake/out")).len() < 25 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, summary, _) = served.stop();
    assert_eq!(status, NodeStatus::Stopped, "{summary:#?}");
    let rows = records_under(&dir.path().join("lake/out"));
    assert_eq!(rows.len(), 25, "{summary:#?}");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["key"], format!("p{i}"));
        assert_eq!(r["data"], format!("line {i}\twith tab"));
        assert_eq!(r["seq"], i.to_string());
    }
}

const FIREHOSE_CLIENT: &str = r#"
import base64, json, os
import boto3
from botocore.exceptions import ClientError

f = boto3.client("firehose", endpoint_url=os.environ["ENDPOINT"])
out = {"names": f.list_delivery_streams()["DeliveryStreamNames"]}
d = f.describe_delivery_stream(DeliveryStreamName="typed")["DeliveryStreamDescription"]
out["typed"] = [d["DeliveryStreamType"], d["DeliveryStreamStatus"], d["Destinations"][0]["ExtendedS3DestinationDescription"]["Prefix"]]
out["from_stream_type"] = f.describe_delivery_stream(DeliveryStreamName="from-stream")["DeliveryStreamDescription"]["DeliveryStreamType"]
good = [{"Data": json.dumps({"user": "u%d" % i, "n": i}).encode()} for i in range(100)]
bad = [{"Data": b"{broken"}, {"Data": b'{"n": 1}'}]
r = f.put_record_batch(DeliveryStreamName="typed", Records=good + bad)
out["batch"] = [r["FailedPutCount"], len(r["RequestResponses"]), all("RecordId" in x for x in r["RequestResponses"])]
for chunk in [b"alpha\n", b"beta\n", b"\x00\xffbinary"]:
    f.put_record(DeliveryStreamName="raw", Record={"Data": chunk})
def error(call):
    try:
        call()
    except ClientError as e:
        return [e.response["Error"]["Code"], e.response["Error"]["Message"]]
out["errors"] = {
    "from_stream": error(lambda: f.put_record(DeliveryStreamName="from-stream", Record={"Data": b"{}"})),
    "unknown": error(lambda: f.put_record(DeliveryStreamName="nope", Record={"Data": b"{}"})),
    "too_many": error(lambda: f.put_record_batch(DeliveryStreamName="typed", Records=[{"Data": b"{}"}] * 501)),
}
print(json.dumps(out))
"#;

#[test]
fn boto3_puts_into_direct_put_firehoses_and_a_stream_fed_one_refuses_puts_as_aws_does() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let project = json!({
        "format_version": 2,
        "nodes": [
            node("typed", "firehose", json!({"prefix": "typed/",
                "error_prefix": "typed-errors/!{firehose:error-output-type}/!{timestamp:yyyy}/",
                "format": "json", "columns": ["user Utf8 NOT NULL", "n Int64"]})),
            node("raw", "firehose", json!({"prefix": "raw/", "format": "json"})),
            node("gen", "generator", json!({"event": "clickstream", "count": 50, "rate_per_sec": 0.0})),
            node("s", "stream", json!({"shards": 1})),
            node("fs", "firehose", json!({"delivery_stream_name": "from-stream",
                "prefix": "gen/", "format": "json"})),
            node("lake", "bucket", json!({"path": "lake"}))
        ],
        "edges": [
            edge("lake", "objects", "typed", "target"),
            edge("lake", "objects", "raw", "target"),
            edge("gen", "events", "s", "records"),
            edge("s", "records", "fs", "records"),
            edge("lake", "objects", "fs", "target")
        ]
    });
    let served = Served::start(dir.path(), &project, &["typed", "raw", "fs"]);
    let out = client(dir.path(), &served.url(), FIREHOSE_CLIENT);
    assert_eq!(out["names"], json!(["from-stream", "raw", "typed"]));
    assert_eq!(out["typed"], json!(["DirectPut", "ACTIVE", "typed/"]));
    assert_eq!(out["from_stream_type"], "KinesisStreamAsSource");
    assert_eq!(out["batch"], json!([0, 102, true]));
    assert_eq!(
        out["errors"]["from_stream"],
        json!([
            "InvalidArgumentException",
            "This operation is not permitted on KinesisStreamAsSource delivery stream type."
        ])
    );
    assert_eq!(out["errors"]["unknown"][0], "ResourceNotFoundException");
    assert_eq!(out["errors"]["too_many"][0], "ValidationException");
    let (status, summary, _) = served.stop();
    assert_eq!(status, NodeStatus::Stopped, "{summary:#?}");

    let typed = records_under(&dir.path().join("lake/typed"));
    assert_eq!(typed.len(), 100);
    let total: i64 = typed.iter().map(|r| r["n"].as_i64().unwrap()).sum();
    assert_eq!(total, (0..100).sum::<i64>());
    // Records that did not fit: AWS's error-record JSON, with the bytes put, under the
    // error prefix evaluated (the error output type, then the year).
    let folder = dir
        .path()
        .join("lake/typed-errors/format-conversion-failed");
    let files = crate::support::files_under(&folder);
    let year = chrono::Utc::now().format("%Y").to_string();
    assert!(
        !files.is_empty()
            && files
                .iter()
                .all(|f| f.starts_with(&format!("{year}/")) && f.matches('/').count() == 1),
        "{files:?}"
    );
    let errors = records_under(&folder);
    assert_eq!(errors.len(), 2);
    use base64::Engine as _;
    let raw: Vec<Vec<u8>> = errors
        .iter()
        .map(|e| {
            assert_eq!(e["lastErrorCode"], "DataFormatConversion.MalformedData");
            assert_eq!(e["attemptsMade"], 1);
            assert!(e["arrivalTimestamp"].as_i64().unwrap() > 1_700_000_000_000);
            base64::engine::general_purpose::STANDARD
                .decode(e["rawData"].as_str().unwrap())
                .unwrap()
        })
        .collect();
    assert_eq!(raw, vec![b"{broken".to_vec(), br#"{"n": 1}"#.to_vec()]);
    // No columns: the bytes as they were put, concatenated, as Firehose delivers them.
    let files = crate::support::files_under(&dir.path().join("lake/raw"));
    let bytes: Vec<u8> = files
        .iter()
        .flat_map(|f| std::fs::read(dir.path().join("lake/raw").join(f)).unwrap())
        .collect();
    assert_eq!(bytes, b"alpha\nbeta\n\x00\xffbinary");
    assert_eq!(records_under(&dir.path().join("lake/gen")).len(), 50);
}

/// The folder with `@aws-sdk/client-kinesis` that `scripts/test` sets up.
fn js_clients() -> PathBuf {
    std::env::var_os("TRIBUTARY_JS_CLIENTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::support::repo_root().join("target/tools/clients-js"))
}

const JS_CLIENT: &str = r#"
const { KinesisClient, PutRecordsCommand, PutRecordCommand, ListShardsCommand,
        GetShardIteratorCommand, GetRecordsCommand } = require("@aws-sdk/client-kinesis");
(async () => {
  const k = new KinesisClient({ endpoint: process.env.ENDPOINT, region: "eu-west-1",
    credentials: { accessKeyId: "test", secretAccessKey: "anything" } });
  const enc = new TextEncoder(), dec = new TextDecoder();
  const recs = [...Array(40).keys()].map(i => ({
    Data: enc.encode(JSON.stringify({ user: "js" + (i % 7), amount: i, page: "/js" })),
    PartitionKey: "js" + (i % 7) }));
  const put = await k.send(new PutRecordsCommand({ StreamName: "clicks-api", Records: recs }));
  const one = await k.send(new PutRecordCommand({ StreamName: "clicks-api",
    Data: enc.encode('{"user":"zero","amount":0.25}'), PartitionKey: "z", ExplicitHashKey: "0" }));
  const read = [];
  for (const s of (await k.send(new ListShardsCommand({ StreamName: "clicks-api" }))).Shards) {
    let it = (await k.send(new GetShardIteratorCommand({ StreamName: "clicks-api",
      ShardId: s.ShardId, ShardIteratorType: "TRIM_HORIZON" }))).ShardIterator;
    for (;;) {
      const r = await k.send(new GetRecordsCommand({ ShardIterator: it, Limit: 16 }));
      for (const x of r.Records) read.push([s.ShardId, x.PartitionKey, dec.decode(x.Data)]);
      if (r.Records.length === 0) break;
      it = r.NextShardIterator;
    }
  }
  let err = null;
  try {
    await new KinesisClient({ endpoint: process.env.ENDPOINT, region: "eu-west-1",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "x" } })
      .send(new ListShardsCommand({ StreamName: "clicks-api" }));
  } catch (e) { err = [e.name, e.$metadata.httpStatusCode]; }
  console.log(JSON.stringify({ failed: put.FailedRecordCount, n: put.Records.length,
    one: one.ShardId, read, err }));
})().catch(e => { console.error(e); process.exit(1); });
"#;

#[test]
fn the_aws_sdk_for_javascript_puts_and_reads_back_through_the_kinesis_api() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let served = Served::start(dir.path(), &served_pipeline(), &["clicks"]);
    let script = dir.path().join("client.cjs");
    std::fs::write(&script, JS_CLIENT).unwrap();
    let out = Process::new("node")
        .arg(&script)
        .env("ENDPOINT", served.url())
        .env("NODE_PATH", js_clients().join("node_modules"))
        .env("AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(out["failed"], 0);
    assert_eq!(out["n"], 40);
    assert_eq!(out["one"], "shardId-000000000000");
    let read = out["read"].as_array().unwrap();
    assert_eq!(read.len(), 41);
    // Per key, the records come back in the order they were put, on the key's shard.
    for key in 0..7 {
        let pk = format!("js{key}");
        let amounts: Vec<i64> = read
            .iter()
            .filter(|r| r[1] == pk.as_str())
            .map(|r| {
                serde_json::from_str::<Value>(r[2].as_str().unwrap()).unwrap()["amount"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        let expected: Vec<i64> = (0..40).filter(|i| i % 7 == key).collect();
        assert_eq!(amounts, expected, "key {pk}");
        let shards: std::collections::BTreeSet<&str> = read
            .iter()
            .filter(|r| r[1] == pk.as_str())
            .map(|r| r[0].as_str().unwrap())
            .collect();
        assert_eq!(shards.len(), 1);
    }
    assert_eq!(out["err"], json!(["UnrecognizedClientException", 400]));
    let (status, _, _) = served.stop();
    assert_eq!(status, NodeStatus::Stopped);
    assert_eq!(records_under(&dir.path().join("lake/out")).len(), 41);
}

#[test]
fn tributary_run_serve_takes_the_example_producer_until_ctrl_c_then_drains_and_flushes() {
    use std::io::BufRead as _;
    let dir = scratch();
    let root = crate::support::repo_root().join("projects");
    std::fs::copy(
        root.join("producers.json"),
        dir.path().join("producers.json"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("producers-lake")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut run = Process::new(env!("CARGO_BIN_EXE_tributary-cli"))
        .current_dir(dir.path())
        .args([
            "run",
            "producers.json",
            "--serve",
            "--endpoint",
            &port.to_string(),
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until both the stream and the DirectPut Firehose are served.
    let stderr = std::io::BufReader::new(run.stderr.take().unwrap());
    let (tx, rx) = crossbeam_channel::bounded(1024);
    std::thread::Builder::new()
        .name("served-run-stderr".to_owned())
        .spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        })
        .unwrap();
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while lines
        .iter()
        .filter(|l: &&String| l.contains(": served as "))
        .count()
        < 4
    {
        assert!(Instant::now() < deadline, "not served: {lines:#?}");
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            lines.push(l);
        }
    }
    assert!(
        lines[0].starts_with(&format!("serving the AWS APIs at http://127.0.0.1:{port}")),
        "{lines:#?}"
    );
    // The example's producer, unchanged: boto3 finds the endpoint in AWS_ENDPOINT_URL.
    let out = Process::new(python())
        .arg(root.join("producers/put_orders.py"))
        .arg("500")
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("put 500 orders into arn:aws:kinesis:us-east-1:000000000000:stream/orders (2 shards), 0 refused"),
        "{said}"
    );
    // Ctrl+C: the run drains, the Firehoses flush, exit code 0.
    let killed = Process::new("kill")
        .args(["-INT", &run.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = run.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["status"], "stopped");
    let lake = dir.path().join("producers-lake");
    let orders = records_under(&lake.join("orders"));
    let rejects = records_under(&lake.join("orders-rejects"));
    assert_eq!(
        orders.len(),
        495,
        "one order in each 100 lacks its customer"
    );
    assert_eq!(rejects.len(), 5);
    assert!(
        rejects
            .iter()
            .all(|r| r["error_message"] == "missing field 'customer'")
    );
    let ids: std::collections::BTreeSet<i64> = orders
        .iter()
        .map(|o| o["order_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 495);
    let clicks: String = crate::support::files_under(&lake.join("raw-clicks"))
        .iter()
        .map(|f| std::fs::read_to_string(lake.join("raw-clicks").join(f)).unwrap())
        .collect();
    assert_eq!(clicks.lines().count(), 10);
    assert!(clicks.lines().all(|l| l.contains(" GET /p")));
}

#[test]
fn configured_credentials_replace_test_and_every_request_is_sigv4_verified() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let served = Served::start_with(
        dir.path(),
        &served_pipeline(),
        &["clicks"],
        vec![tributary_engine::aws::Credential {
            access_key_id: "AKIATRIBUTARYTEST".to_owned(),
            secret_access_key: "s3cret/with+chars".to_owned(),
        }],
    );
    let out = client(
        dir.path(),
        &served.url(),
        r#"
import json, os, boto3
from botocore.exceptions import ClientError
def client(key, secret, region="eu-central-1"):
    return boto3.client("kinesis", endpoint_url=os.environ["ENDPOINT"], region_name=region,
                        aws_access_key_id=key, aws_secret_access_key=secret)
def call(k):
    try:
        r = k.put_record(StreamName="clicks-api", Data=b'{"user":"signed","amount":1}', PartitionKey="s")
        return "ok " + r["ShardId"]
    except ClientError as e:
        return e.response["Error"]["Code"] + ": " + e.response["Error"]["Message"]
def s3(key, secret):
    return boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="eu-central-1",
                        aws_access_key_id=key, aws_secret_access_key=secret)
def put(c):
    try:
        c.put_object(Bucket="lake", Key="signed/x.txt", Body=b"signed bytes")
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]
import urllib.request
right = s3("AKIATRIBUTARYTEST", "s3cret/with+chars")
out = {
    "right": call(client("AKIATRIBUTARYTEST", "s3cret/with+chars")),
    "wrong_secret": call(client("AKIATRIBUTARYTEST", "guess")),
    "test_key": call(client("test", "test")),
    "s3_right": put(right),
    "s3_wrong_secret": put(s3("AKIATRIBUTARYTEST", "guess")),
    "s3_test_key": put(s3("test", "test")),
}
url = right.generate_presigned_url("get_object", Params={"Bucket": "lake", "Key": "signed/x.txt"})
out["presigned"] = urllib.request.urlopen(url).read().decode()
try:
    last = url[-1]
    urllib.request.urlopen(url[:-1] + ("0" if last != "0" else "1"))
except urllib.error.HTTPError as e:
    out["tampered"] = e.code
print(json.dumps(out))
"#,
    );
    assert!(
        out["right"].as_str().unwrap().starts_with("ok shardId-"),
        "{out}"
    );
    assert_eq!(
        out["wrong_secret"],
        "InvalidSignatureException: The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    );
    assert!(
        out["test_key"]
            .as_str()
            .unwrap()
            .starts_with("UnrecognizedClientException"),
        "{out}"
    );
    // S3 too: s3s verifies SigV4 headers and presigned URLs with the configured secret.
    assert_eq!(out["s3_right"], "ok", "{out}");
    assert_eq!(out["s3_wrong_secret"], "SignatureDoesNotMatch", "{out}");
    assert_eq!(out["s3_test_key"], "InvalidAccessKeyId", "{out}");
    assert_eq!(out["presigned"], "signed bytes", "{out}");
    assert_eq!(out["tampered"], 403, "{out}");
    let (_, _, logs) = served.stop();
    assert!(
        logs.iter()
            .any(|(_, m)| m.contains("refused a request from access key id 'AKIATRIBUTARYTEST'")),
        "{logs:?}"
    );
    // Only the signed record was taken.
    assert_eq!(records_under(&dir.path().join("lake/out")).len(), 1);
}

#[test]
fn two_nodes_cannot_share_an_api_name_and_unfed_streams_say_how_to_feed_them() {
    let dir = scratch();
    let project = json!({
        "format_version": 2,
        "nodes": [
            node("a", "stream", json!({"stream_name": "orders"})),
            node("orders", "stream", json!({})),
            node("t", "table_sink", json!({}))
        ],
        "edges": [edge("a", "records", "t", "records")]
    });
    let path = dir.path().join("dup.json");
    std::fs::write(&path, project.to_string()).unwrap();
    let out = crate::support::cli_in(dir.path(), &["validate", path.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains(
            "node 'orders': config: stream_name: 'orders' is also the API name of node 'a': names must differ"
        ),
        "{out:?}"
    );
    // Without --serve, a stream nothing feeds says how to feed it.
    let single = json!({
        "format_version": 2,
        "nodes": [node("orders", "stream", json!({})), node("t", "table_sink", json!({}))],
        "edges": [edge("orders", "records", "t", "records")]
    });
    let path = dir.path().join("single.json");
    std::fs::write(&path, single.to_string()).unwrap();
    let out = crate::support::cli_in(dir.path(), &["run", path.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains(
            "nothing feeds this stream: wire an input into 'records', or serve the Kinesis API so producers can put records into 'orders' (tributary run --serve, or Serve in the toolbar)"
        ),
        "{out:?}"
    );
}

const KPL_CLIENT: &str = r#"
import json, os, boto3
from aws_kinesis_agg.aggregator import RecordAggregator
from aws_kinesis_agg.deaggregator import deaggregate_records

k = boto3.client("kinesis", endpoint_url=os.environ["ENDPOINT"])
def aggregated(first, n):
    agg = RecordAggregator()
    for i in range(first, first + n):
        agg.add_user_record("user-%d" % (i % 9), json.dumps({"user": "u%d" % i, "amount": i}).encode())
    return agg.clear_and_get().get_contents()
out = {}
records = []
for first in (0, 50):
    pk, ehk, data = aggregated(first, 50)
    records.append({"Data": data, "PartitionKey": pk})
r = k.put_records(StreamName="typed", Records=records)
out["typed_results"] = len(r["Records"])
pk, ehk, data = aggregated(100, 20)
for name in ("raw", "strict"):
    k.put_record(StreamName=name, Data=data, PartitionKey=pk)
# Pass-through: GetRecords gives the aggregated record as put; AWS's deaggregator reads it.
shard = k.list_shards(StreamName="raw")["Shards"][0]["ShardId"]
it = k.get_shard_iterator(StreamName="raw", ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
got = k.get_records(ShardIterator=it)["Records"]
out["raw_records"] = len(got)
out["raw_unchanged"] = got[0]["Data"] == data
users = deaggregate_records([{"kinesis": {"data": __import__("base64").b64encode(got[0]["Data"]).decode(),
    "partitionKey": got[0]["PartitionKey"], "sequenceNumber": got[0]["SequenceNumber"],
    "approximateArrivalTimestamp": 0, "kinesisSchemaVersion": "1.0"}}])
out["user_amounts"] = [json.loads(__import__("base64").b64decode(u["kinesis"]["data"]))["amount"] for u in users]
print(json.dumps(out))
"#;

#[test]
fn kpl_aggregated_records_are_deaggregated_into_rows_or_passed_through_as_aws_does() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let columns = json!(["user Utf8 NOT NULL", "amount Int64"]);
    let project = json!({
        "format_version": 2,
        "nodes": [
            node("typed", "stream", json!({"shards": 2, "columns": columns,
                "kpl_aggregation": "deaggregate"})),
            node("raw", "stream", json!({"shards": 1})),
            node("strict", "stream", json!({"shards": 1, "columns": columns})),
            node("lake", "bucket", json!({"path": "lake"})),
            node("deliver", "firehose", json!({"prefix": "typed/", "format": "json"})),
            node("rejects", "firehose", json!({"prefix": "rejects/", "format": "json"})),
            node("raw_sink", "table_sink", json!({})),
            node("strict_sink", "table_sink", json!({}))
        ],
        "edges": [
            edge("typed", "records", "deliver", "records"),
            edge("lake", "objects", "deliver", "target"),
            edge("raw", "records", "raw_sink", "records"),
            edge("strict", "records", "strict_sink", "records"),
            edge("strict", "failed", "rejects", "records"),
            edge("lake", "objects", "rejects", "target")
        ]
    });
    let served = Served::start(dir.path(), &project, &["typed", "raw", "strict"]);
    let out = client(dir.path(), &served.url(), KPL_CLIENT);
    assert_eq!(out["typed_results"], 2, "one result per record put");
    assert_eq!(out["raw_records"], 1);
    assert_eq!(out["raw_unchanged"], true);
    assert_eq!(out["user_amounts"], json!((100..120).collect::<Vec<_>>()));
    let (_, summary, _) = served.stop();
    // Deaggregated: the 100 user records are rows, in order per aggregated record.
    let rows = records_under(&dir.path().join("lake/typed"));
    let mut amounts: Vec<i64> = rows.iter().map(|r| r["amount"].as_i64().unwrap()).collect();
    amounts.sort();
    assert_eq!(amounts, (0..100).collect::<Vec<_>>());
    // Passed through into typed columns: it cannot fit, and the reason says what to set.
    let rejects = records_under(&dir.path().join("lake/rejects"));
    assert_eq!(rejects.len(), 1);
    assert!(
        rejects[0]["error_message"]
            .as_str()
            .unwrap()
            .contains("set the stream's kpl_aggregation to deaggregate"),
        "{rejects:?}"
    );
    let typed = summary.iter().find(|s| s.id == "typed").unwrap();
    assert_eq!(typed.records_out, 100);
}

#[test]
fn a_stream_is_creating_until_its_run_streams_and_takes_no_puts_before() {
    use std::sync::Arc;
    use tributary_engine::api::{EventSink, EventTx};
    use tributary_engine::arrow::datatypes::{DataType, Field, Schema};
    use tributary_engine::aws::{Endpoint, ServedStream, StreamRows};
    use tributary_engine::stream::topic::{Retention, Topic};

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (tx, events) = crossbeam_channel::bounded(64);
    let options = ServeOptions {
        address: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    let endpoint = Endpoint::start(&options, runtime.handle(), None).unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new(
        "data",
        DataType::Binary,
        false,
    )]));
    let topic = Topic::new("s", schema.clone(), 1, None, Retention::default(), 100).unwrap();
    let _registration = endpoint
        .registry()
        .serve_stream(ServedStream {
            name: "early".to_owned(),
            node: "s".to_owned(),
            producer: topic.add_producer(),
            rows: StreamRows::for_schema(&schema),
            topic: topic.clone(),
            failed: None,
            metrics: Default::default(),
            retention_hours: 24.0,
            created_ms: 1,
            misfits: Default::default(),
            deaggregate: false,
            on_demand: false,
            active: Default::default(),
            served_as: "served as Kinesis stream 'early'".to_owned(),
            events: EventSink::new(EventTx::new(tx, None), RunId::default()),
        })
        .unwrap();
    let dir = scratch();
    let url = format!("http://{}", endpoint.address());
    let script = r#"
import json, os, sys, boto3
from botocore.exceptions import ClientError
k = boto3.client("kinesis", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test")
status = k.describe_stream_summary(StreamName="early")["StreamDescriptionSummary"]["StreamStatus"]
try:
    k.put_record(StreamName="early", Data=b"x", PartitionKey="k")
    put = "accepted"
except ClientError as e:
    put = e.response["Error"]["Code"] + ": " + e.response["Error"]["Message"]
print(json.dumps({"status": status, "put": put}))
"#;
    let before = client(dir.path(), &url, script);
    assert_eq!(before["status"], "CREATING");
    assert_eq!(
        before["put"],
        "ResourceNotFoundException: Stream early under account 000000000000 is CREATING: the run is still starting (wait until DescribeStream says ACTIVE)."
    );
    assert_eq!(topic.totals().0, 0, "nothing was taken");
    endpoint.registry().activate();
    match events.recv_timeout(Duration::from_secs(5)).unwrap() {
        Event::Log { message, .. } => assert_eq!(message, "served as Kinesis stream 'early'"),
        other => panic!("{other:?}"),
    }
    let after = client(dir.path(), &url, script);
    assert_eq!(after, json!({"status": "ACTIVE", "put": "accepted"}));
    assert_eq!(topic.totals().0, 1);
}
