//! The S3 API of served bucket nodes and S3 event notifications: the AWS CLI and boto3
//! (nobody here wrote them) put, list, read, copy and delete objects; what they create
//! runs a crawler again (its table appears in the catalog) and invokes a Lambda handler
//! with S3's event, read by AWS Lambda Powertools' `S3Event`.

use std::time::{Duration, Instant};

use serde_json::json;
use tributary_engine::NodeStatus;

use crate::streaming::{edge, node};
use crate::support::{cli_in, records_under, scratch};
use crate::wire::{Served, aws, client};

const ORDERS: &str = "order_id,customer,amount\n1,ann,10.5\n2,bob,4.25\n3,cy,7\n";
const MORE_ORDERS: &str = "order_id,customer,amount\n4,dee,1.25\n5,eve,2\n";

#[test]
fn aws_s3_cp_of_a_csv_runs_the_crawler_again_and_the_table_appears_in_the_catalog() {
    let dir = scratch();
    let d = dir.path();
    std::fs::create_dir_all(d.join("landing")).unwrap();
    std::fs::write(d.join("orders.csv"), ORDERS).unwrap();
    std::fs::write(d.join("more.csv"), MORE_ORDERS).unwrap();
    std::fs::write(d.join("notes.txt"), "not data\n").unwrap();
    let project = json!({
        "format_version": 2,
        "nodes": [
            node("landing", "bucket", json!({"path": "landing", "notification_suffix": ".csv"})),
            node("crawl", "crawler", json!({})),
            node("catalog", "catalog", json!({"path": "catalog.json"}))
        ],
        "edges": [
            edge("landing", "objects", "crawl", "source"),
            edge("landing", "events", "crawl", "trigger"),
            edge("crawl", "tables", "catalog", "crawlers")
        ]
    });
    let mut served = Served::start(d, &project, &[]);
    served.wait_log("landing", "S3 event notifications of bucket 'landing'");
    let url = served.url();
    let buckets = aws(&url, &["s3api", "list-buckets"]).unwrap();
    assert_eq!(buckets["Buckets"][0]["Name"], "landing", "{buckets}");
    let path = |f: &str| d.join(f).to_string_lossy().into_owned();
    aws(
        &url,
        &[
            "s3",
            "cp",
            &path("orders.csv"),
            "s3://landing/orders/orders.csv",
        ],
    )
    .unwrap();
    served.wait_log("crawl", "an S3 event notification arrived");
    // The suffix filter leaves the text file out; the second CSV runs the crawler again.
    aws(
        &url,
        &["s3", "cp", &path("notes.txt"), "s3://landing/notes.txt"],
    )
    .unwrap();
    aws(
        &url,
        &[
            "s3",
            "cp",
            &path("more.csv"),
            "s3://landing/orders/more.csv",
        ],
    )
    .unwrap();
    served.wait_log("crawl", "an S3 event notification arrived");
    let listed = aws(&url, &["s3api", "list-objects-v2", "--bucket", "landing"]).unwrap();
    let keys: Vec<&str> = listed["Contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["Key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["notes.txt", "orders/more.csv", "orders/orders.csv"]);
    let back = d.join("back.csv");
    aws(
        &url,
        &[
            "s3",
            "cp",
            "s3://landing/orders/orders.csv",
            back.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(std::fs::read_to_string(&back).unwrap(), ORDERS);
    // The catalog node ran after the crawler: wait for the table with both files.
    let deadline = Instant::now() + Duration::from_secs(30);
    let answer = loop {
        let catalog = d.join("catalog.json");
        let sql = "SELECT COUNT(*) AS n, SUM(amount) AS total FROM orders";
        let out = cli_in(d, &["query", "--catalog", catalog.to_str().unwrap(), sql]);
        if (out.code == 0 && out.stdout.contains("| 5 ")) || Instant::now() > deadline {
            break format!("{out:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // The bucket's S3 requests count in its metrics (sampled about once a second).
    let deadline = Instant::now() + Duration::from_secs(10);
    while served.api_requests.get("landing").copied().unwrap_or(0) < 6 && Instant::now() < deadline
    {
        served.next_log();
    }
    let requests = served.api_requests.get("landing").copied().unwrap_or(0);
    let (status, summary, _) = served.stop();
    assert!(requests >= 6, "the Metrics tab saw {requests} S3 requests");
    assert!(answer.contains("| 5 ") && answer.contains("25"), "{answer}");
    assert_eq!(status, NodeStatus::Stopped, "{summary:#?}");
    let landing = summary.iter().find(|s| s.id == "landing").unwrap();
    // Three objects created, two notifications (the .csv ones).
    assert_eq!(landing.records_out, 2, "{summary:#?}");
    assert!(
        summary
            .iter()
            .all(|s| s.status != NodeStatus::Error && s.status != NodeStatus::Skipped),
        "{summary:#?}"
    );
}

/// A handler as S3 invokes one: Powertools reads the event, boto3 (pointed at the
/// endpoint by `AWS_ENDPOINT_URL`) reads the object it names.
const S3_HANDLER: &str = r#"
from urllib.parse import unquote_plus
import boto3
from aws_lambda_powertools.utilities.data_classes import S3Event

s3 = boto3.client("s3")

def handler(event, context):
    e = S3Event(event)
    out = []
    for r in e.records:
        o = r.s3.get_object
        key = unquote_plus(o.key)  # as AWS's blueprints decode it
        try:
            read = len(s3.get_object(Bucket=r.s3.bucket.name, Key=key)["Body"].read())
        except s3.exceptions.NoSuchKey:
            read = -1  # deleted since: the event comes after the request, as in AWS
        out.append({"event_name": r.event_name, "key": key, "size": o.size,
                    "etag": o.etag, "read": read, "version": r.event_version,
                    "source": r.event_source, "arn": r.s3.bucket.arn,
                    "raw_key": event["Records"][0]["s3"]["object"]["key"],
                    "records": len(event["Records"])})
    return out
"#;

const S3_CLIENT: &str = r#"
import hashlib, json, os
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"])
out = {"buckets": sorted(b["Name"] for b in s3.list_buckets()["Buckets"])}
s3.put_object(Bucket="inbox", Key="daily/report 1.csv", Body=b"a,b\n1,2\n")
big = bytes(range(256)) * (12 * 4096)
big_file = os.path.join(os.path.dirname(os.path.abspath(__file__)), "big.bin")
with open(big_file, "wb") as f:
    f.write(big)
s3.upload_file(big_file, "inbox", "blobs/big.bin",
               Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
head = s3.head_object(Bucket="inbox", Key="blobs/big.bin")
parts = [hashlib.md5(big[i:i + (5 << 20)]).digest() for i in range(0, len(big), 5 << 20)]
out["big"] = [head["ContentLength"], head["ETag"], '"%s-3"' % hashlib.md5(b"".join(parts)).hexdigest()]
out["range"] = s3.get_object(Bucket="inbox", Key="blobs/big.bin", Range="bytes=256-259")["Body"].read().hex()
s3.copy_object(Bucket="inbox", Key="daily/copy.csv", CopySource={"Bucket": "inbox", "Key": "daily/report 1.csv"})
page = s3.list_objects_v2(Bucket="inbox", Delimiter="/")
out["top"] = [[p["Prefix"] for p in page.get("CommonPrefixes", [])], [o["Key"] for o in page.get("Contents", [])]]
keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket="inbox", PaginationConfig={"PageSize": 1}) for o in p.get("Contents", [])]
out["all"] = keys
out["get"] = s3.get_object(Bucket="inbox", Key="daily/report 1.csv")["Body"].read().decode()
def error(call):
    try:
        call()
        return None
    except ClientError as e:
        return e.response["Error"]["Code"]
other = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], aws_access_key_id="AKIAOTHER", aws_secret_access_key="x")
out["errors"] = {
    "no_bucket": error(lambda: s3.get_object(Bucket="nope", Key="x")),
    "no_key": error(lambda: s3.get_object(Bucket="inbox", Key="missing")),
    "create": error(lambda: s3.create_bucket(Bucket="inbox")),
    "create_other": error(lambda: s3.create_bucket(Bucket="other")),
    "unknown_key_id": error(lambda: other.list_buckets()),
}
s3.delete_object(Bucket="inbox", Key="daily/copy.csv")
out["after_delete"] = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="inbox")["Contents"])
print(json.dumps(out))
"#;

#[test]
fn boto3_uses_a_served_bucket_and_a_lambda_gets_s3_events_it_reads_with_powertools() {
    let dir = scratch();
    let d = dir.path();
    std::fs::create_dir_all(d.join("inbox")).unwrap();
    std::fs::create_dir_all(d.join("sink")).unwrap();
    let project = json!({
        "format_version": 2,
        "nodes": [
            node("inbox", "bucket", json!({"path": "inbox"})),
            node("on_object", "lambda", json!({"runtime": "python3.12", "handler": "app.handler",
                "code": S3_HANDLER, "requirements": ["aws-lambda-powertools==3.37.0"],
                "output_columns": ["event_name Utf8", "key Utf8", "size Int64", "etag Utf8",
                    "read Int64", "version Utf8", "source Utf8", "arn Utf8", "raw_key Utf8",
                    "records Int64"]})),
            node("sink", "bucket", json!({"path": "sink"})),
            node("deliver", "firehose", json!({"prefix": "out/", "format": "json",
                "buffer_interval_ms": 100}))
        ],
        "edges": [
            edge("inbox", "events", "on_object", "records"),
            edge("on_object", "records", "deliver", "records"),
            edge("sink", "objects", "deliver", "target")
        ]
    });
    let mut served = Served::start(d, &project, &[]);
    served.wait_log("inbox", "S3 event notifications of bucket 'inbox'");
    let out = client(d, &served.url(), S3_CLIENT);
    assert_eq!(out["buckets"], json!(["inbox", "sink"]));
    assert_eq!(out["big"][0], 12 << 20);
    assert_eq!(out["big"][1], out["big"][2], "the multipart ETag is AWS's");
    assert_eq!(out["range"], "00010203");
    assert_eq!(out["top"], json!([["blobs/", "daily/"], []]));
    assert_eq!(
        out["all"],
        json!(["blobs/big.bin", "daily/copy.csv", "daily/report 1.csv"])
    );
    assert_eq!(out["get"], "a,b\n1,2\n");
    assert_eq!(
        out["errors"],
        json!({"no_bucket": "NoSuchBucket", "no_key": "NoSuchKey",
            "create": "BucketAlreadyOwnedByYou", "create_other": "AccessDenied",
            "unknown_key_id": "InvalidAccessKeyId"})
    );
    assert_eq!(
        out["after_delete"],
        json!(["blobs/big.bin", "daily/report 1.csv"])
    );
    // Written whole, where the key says; nothing left in staging.
    let big: Vec<u8> = (0..=255u8).cycle().take(12 << 20).collect();
    assert!(std::fs::read(d.join("inbox/blobs/big.bin")).unwrap() == big);
    assert!(!d.join("inbox/daily/copy.csv").exists());
    let staging: Vec<_> = std::fs::read_dir(d.join("inbox/.tributary/s3"))
        .unwrap()
        .collect();
    assert!(staging.is_empty(), "{staging:?}");
    // The handler got one event per object created (the delete is not ObjectCreated:*).
    let deadline = Instant::now() + Duration::from_secs(120);
    while records_under(&d.join("sink/out")).len() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, summary, logs) = served.stop();
    assert_eq!(status, NodeStatus::Stopped, "{summary:#?}\n{logs:#?}");
    let mut rows = records_under(&d.join("sink/out"));
    rows.sort_by_key(|r| r["key"].as_str().unwrap_or_default().to_owned());
    let names: Vec<_> = rows.iter().map(|r| r["event_name"].clone()).collect();
    assert_eq!(
        names,
        [
            "ObjectCreated:CompleteMultipartUpload",
            "ObjectCreated:Copy",
            "ObjectCreated:Put"
        ],
        "{rows:#?}\n{logs:#?}"
    );
    let put = &rows[2];
    assert_eq!(put["key"], "daily/report 1.csv");
    assert_eq!(put["raw_key"], "daily/report+1.csv", "S3 encodes keys");
    assert_eq!(put["size"], 8);
    assert_eq!(put["read"], 8);
    assert_eq!(put["version"], "2.1");
    assert_eq!(put["source"], "aws:s3");
    assert_eq!(put["arn"], "arn:aws:s3:::inbox");
    assert_eq!(put["records"], 1);
    use md5::Digest as _;
    let md5: String = md5::Md5::digest(b"a,b\n1,2\n")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(put["etag"], md5);
    assert_eq!(rows[0]["read"], 12 << 20);
}

#[test]
fn a_replay_replays_each_object_put_and_what_its_firehose_delivers_runs_a_crawler_again() {
    let dir = scratch();
    let d = dir.path();
    std::fs::create_dir_all(d.join("drop")).unwrap();
    std::fs::create_dir_all(d.join("lake")).unwrap();
    let lines = |from: i64, to: i64| -> String {
        (from..to)
            .map(|n| format!("{{\"user\": \"u{n}\", \"n\": {n}}}\n"))
            .collect()
    };
    std::fs::write(d.join("a.jsonl"), lines(1, 4)).unwrap();
    std::fs::write(d.join("b.jsonl"), lines(4, 6)).unwrap();
    let project = json!({
        "format_version": 2,
        "nodes": [
            node("drop", "bucket", json!({"path": "drop", "notification_suffix": ".jsonl"})),
            node("replay", "replay", json!({"columns": ["user Utf8", "n Int64"]})),
            node("lake", "bucket", json!({"path": "lake", "notification_prefix": "out/"})),
            node("deliver", "firehose", json!({"prefix": "out/", "format": "json",
                "buffer_interval_ms": 100})),
            node("crawl", "crawler", json!({})),
            node("catalog", "catalog", json!({"path": "catalog.json"}))
        ],
        "edges": [
            edge("drop", "objects", "replay", "source"),
            edge("drop", "events", "replay", "trigger"),
            edge("replay", "records", "deliver", "records"),
            edge("lake", "objects", "deliver", "target"),
            edge("lake", "objects", "crawl", "source"),
            edge("lake", "events", "crawl", "trigger"),
            edge("crawl", "tables", "catalog", "crawlers")
        ]
    });
    let mut served = Served::start(d, &project, &[]);
    served.wait_log("drop", "S3 event notifications of bucket 'drop'");
    let url = served.url();
    let path = |f: &str| d.join(f).to_string_lossy().into_owned();
    let catalog = d.join("catalog.json");
    let answer = |served: &mut Served, n: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let sql = "SELECT COUNT(*) AS n, SUM(n) AS total FROM out";
            let out = cli_in(d, &["query", "--catalog", catalog.to_str().unwrap(), sql]);
            if (out.code == 0 && out.stdout.contains(n)) || Instant::now() > deadline {
                break out.stdout;
            }
            served.next_log();
        }
    };
    aws(
        &url,
        &["s3", "cp", &path("a.jsonl"), "s3://drop/in/a.jsonl"],
    )
    .unwrap();
    let first = answer(&mut served, "| 3 ");
    aws(
        &url,
        &["s3", "cp", &path("b.jsonl"), "s3://drop/in/b.jsonl"],
    )
    .unwrap();
    let second = answer(&mut served, "| 5 ");
    let (status, summary, logs) = served.stop();
    assert!(
        first.contains("| 3 ") && first.contains("| 6 "),
        "{first}\n{logs:#?}\n{summary:#?}\n{:?}",
        crate::support::files_under(d)
    );
    assert!(
        second.contains("| 5 ") && second.contains("| 15 "),
        "{second}"
    );
    assert_eq!(status, NodeStatus::Stopped, "{summary:#?}");
    let replay = summary.iter().find(|s| s.id == "replay").unwrap();
    assert_eq!(replay.records_out, 5, "{summary:#?}");
    // The delivered rows are the replayed ones.
    let mut users: Vec<String> = records_under(&d.join("lake/out"))
        .iter()
        .map(|r| r["user"].as_str().unwrap().to_owned())
        .collect();
    users.sort();
    assert_eq!(users, ["u1", "u2", "u3", "u4", "u5"]);
}
