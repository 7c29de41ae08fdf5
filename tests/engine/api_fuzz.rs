//! The AWS endpoint's request parsing, fuzzed: requests built from valid Kinesis and
//! Firehose requests with fields replaced, dropped or added, unknown targets, random
//! bytes, random iterators and tokens, KPL-looking records, and random S3 paths. Every
//! request gets an HTTP answer: 200, or a 4xx with AWS's JSON error (`__type`, `message`)
//! for Kinesis and Firehose; never a dropped connection (a panic) or a 5xx; and the server
//! still takes good records after all of them.

use std::io::{Read as _, Write as _};

use base64::Engine as _;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use crate::streaming::{edge, node};
use crate::support::scratch;
use crate::wire::Served;

const KPL_MAGIC: [u8; 4] = [0xf3, 0x89, 0x9a, 0xc2];

fn project() -> Value {
    json!({
        "format_version": 2,
        "nodes": [
            node("clicks", "stream", json!({"stream_name": "clicks-api", "shards": 2,
                "columns": ["user Utf8 NOT NULL", "amount Float64"]})),
            node("raw", "stream", json!({"stream_name": "raw-api", "shards": 3})),
            node("lake", "bucket", json!({"path": "lake"})),
            node("deliver", "firehose", json!({"prefix": "out/", "format": "json",
                "buffer_interval_ms": 200})),
            node("direct", "firehose", json!({"delivery_stream_name": "direct-api",
                "prefix": "direct/", "format": "json", "buffer_interval_ms": 200}))
        ],
        "edges": [
            edge("clicks", "records", "deliver", "records"),
            edge("lake", "objects", "deliver", "target"),
            edge("lake", "objects", "direct", "target")
        ]
    })
}

/// Record bytes: JSON rows, random bytes, or KPL-aggregated-looking bytes.
fn data() -> impl Strategy<Value = Value> {
    let b64 = |b: Vec<u8>| Value::from(base64::engine::general_purpose::STANDARD.encode(b));
    prop_oneof![
        ("[a-z]{0,8}", any::<f64>()).prop_map(move |(u, a)| {
            let a = if a.is_finite() { a } else { 0.0 };
            b64(json!({"user": u, "amount": a}).to_string().into_bytes())
        }),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(b64),
        proptest::collection::vec(any::<u8>(), 0..80).prop_map(move |tail| {
            let mut b = KPL_MAGIC.to_vec();
            b.extend(tail);
            b64(b)
        }),
        ".{0,12}".prop_map(Value::from),
    ]
}

fn stream_name() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::from("clicks-api")),
        Just(Value::from("raw-api")),
        "[a-zA-Z0-9_.-]{0,130}".prop_map(Value::from),
    ]
}

/// A valid request of each operation (target, body).
fn valid() -> impl Strategy<Value = (String, Value)> {
    let k = |op: &str| format!("Kinesis_20131202.{op}");
    let f = |op: &str| format!("Firehose_20150804.{op}");
    let shard = prop_oneof![
        (0u32..4).prop_map(|i| format!("shardId-{i:012}")),
        ".{0,24}".prop_map(String::from),
    ];
    let iterator_type = prop_oneof![
        Just("TRIM_HORIZON"),
        Just("LATEST"),
        Just("AT_SEQUENCE_NUMBER"),
        Just("AFTER_SEQUENCE_NUMBER"),
        Just("AT_TIMESTAMP"),
        Just("SIDEWAYS"),
    ];
    prop_oneof![
        (stream_name(), data(), ".{0,300}").prop_map(move |(s, d, key)| {
            (
                k("PutRecord"),
                json!({"StreamName": s, "Data": d, "PartitionKey": key}),
            )
        }),
        (
            stream_name(),
            proptest::collection::vec((data(), "[a-z0-9]{0,10}"), 0..8)
        )
            .prop_map(move |(s, recs)| {
                let recs: Vec<Value> = recs
                    .into_iter()
                    .map(|(d, key)| json!({"Data": d, "PartitionKey": key}))
                    .collect();
                (k("PutRecords"), json!({"StreamName": s, "Records": recs}))
            }),
        (
            stream_name(),
            shard,
            iterator_type,
            "[0-9]{0,60}",
            any::<i64>()
        )
            .prop_map(move |(s, shard, t, seq, ts)| {
                (
                    k("GetShardIterator"),
                    json!({"StreamName": s, "ShardId": shard, "ShardIteratorType": t,
                        "StartingSequenceNumber": seq, "Timestamp": ts as f64 / 1000.0}),
                )
            }),
        (".{0,200}", any::<i64>()).prop_map(move |(it, limit)| {
            (
                k("GetRecords"),
                json!({"ShardIterator": it, "Limit": limit}),
            )
        }),
        (stream_name(), ".{0,40}", any::<i32>()).prop_map(move |(s, token, n)| {
            (
                k("ListShards"),
                json!({"StreamName": s, "NextToken": token, "MaxResults": n}),
            )
        }),
        stream_name().prop_map(move |s| (k("DescribeStream"), json!({"StreamName": s}))),
        stream_name().prop_map(move |s| (k("DescribeStreamSummary"), json!({"StreamName": s}))),
        any::<i32>().prop_map(move |n| (k("ListStreams"), json!({"Limit": n}))),
        (stream_name(), any::<i32>()).prop_map(move |(s, n)| {
            (k("CreateStream"), json!({"StreamName": s, "ShardCount": n}))
        }),
        stream_name().prop_map(move |s| (k("DeleteStream"), json!({"StreamName": s}))),
        (stream_name(), data()).prop_map(move |(s, d)| {
            (
                f("PutRecord"),
                json!({"DeliveryStreamName": s, "Record": {"Data": d}}),
            )
        }),
        (stream_name(), proptest::collection::vec(data(), 0..8)).prop_map(move |(s, ds)| {
            let recs: Vec<Value> = ds.into_iter().map(|d| json!({"Data": d})).collect();
            (
                f("PutRecordBatch"),
                json!({"DeliveryStreamName": s, "Records": recs}),
            )
        }),
        Just((f("ListDeliveryStreams"), json!({}))),
        stream_name().prop_map(move |s| {
            (
                f("DescribeDeliveryStream"),
                json!({"DeliveryStreamName": s}),
            )
        }),
    ]
}

#[derive(Debug, Clone)]
enum Request {
    /// A JSON 1.1 request: target and body bytes.
    Json(String, Vec<u8>),
    /// An S3 request: method and path.
    S3(&'static str, String),
    /// A good PutRecord with this `Authorization` header.
    Auth(String),
}

/// An `Authorization` header the endpoint takes without configured credentials (the
/// access key id `test`, as with LocalStack; the signature is not checked then).
const AUTH: &str = "AWS4-HMAC-SHA256 Credential=test/20261207/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000";

fn request() -> impl Strategy<Value = Request> {
    let mutated = (
        valid(),
        any::<prop::sample::Index>(),
        crate::properties::json(),
        0u8..4,
    )
        .prop_map(|((target, mut body), at, v, how)| {
            if let Some(map) = body.as_object_mut()
                && !map.is_empty()
            {
                let key = map.keys().nth(at.index(map.len())).unwrap().clone();
                match how {
                    0 => {
                        map.insert(key, v);
                    }
                    1 => {
                        map.remove(&key);
                    }
                    2 => {
                        map.insert(format!("{key}X"), v);
                    }
                    _ => {}
                }
            }
            Request::Json(target, body.to_string().into_bytes())
        });
    prop_oneof![
        6 => mutated,
        // (Printable: a header with control characters is refused by HTTP itself.)
        1 => ("[ -~]{0,40}", proptest::collection::vec(any::<u8>(), 0..200))
            .prop_map(|(t, b)| Request::Json(t, b)),
        1 => (valid(), proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|((t, _), b)| {
            Request::Json(t, b)
        }),
        1 => prop_oneof![
            "[ -~]{0,120}",
            "AWS4-HMAC-SHA256 Credential=[a-z/0-9_]{0,40}, SignedHeaders=[a-z;-]{0,20}, Signature=[0-9a-f]{0,64}",
        ]
        .prop_map(Request::Auth),
        1 => (
            prop_oneof![Just("GET"), Just("PUT"), Just("DELETE"), Just("HEAD"), Just("POST")],
            "/[a-zA-Z0-9/%?=&._-]{0,60}"
        )
            .prop_map(|(m, p)| Request::S3(m, p)),
    ]
}

/// Sends `request` over a new connection; returns the status and body.
fn send(address: &str, request: &Request) -> Result<(u16, Vec<u8>), String> {
    let good;
    let json = |target: &str, body: &[u8], auth: &str| {
        format!(
            "POST / HTTP/1.1\r\nHost: {address}\r\nX-Amz-Target: {target}\r\nContent-Type: application/x-amz-json-1.1\r\nAuthorization: {auth}\r\nX-Amz-Date: 20261207T000000Z\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
    };
    let (head, body) = match request {
        Request::Json(target, body) => (json(target, body, AUTH), body.as_slice()),
        Request::Auth(auth) => {
            good = json!({"StreamName": "clicks-api", "PartitionKey": "k", "Data": "e30="})
                .to_string()
                .into_bytes();
            (
                json("Kinesis_20131202.PutRecord", &good, auth),
                good.as_slice(),
            )
        }
        Request::S3(method, path) => (
            format!(
                "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
            &[][..],
        ),
    };
    let mut s = std::net::TcpStream::connect(address).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
    s.write_all(body).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no HTTP answer: {text:?}"))?;
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(out.len(), |i| i + 4);
    Ok((status, out[split..].to_vec()))
}

fn cases() -> u32 {
    crate::properties::cases(600)
}

#[test]
fn any_request_gets_an_answer_and_aws_errors_are_json() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let mut served = Served::start(dir.path(), &project(), &["clicks", "raw", "direct"]);
    let address = served.url().trim_start_matches("http://").to_owned();
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u64>::new());
    let result = runner.run(&request(), |req| {
        let (status, body) =
            send(&address, &req).map_err(|e| TestCaseError::fail(format!("{req:?}: {e}")))?;
        *seen.borrow_mut().entry(status).or_default() += 1;
        prop_assert!(
            status < 500,
            "{req:?} → {status} {}",
            String::from_utf8_lossy(&body)
        );
        if let Request::Json(..) | Request::Auth(_) = req {
            let v: Value = serde_json::from_slice(&body)
                .map_err(|e| TestCaseError::fail(format!("{req:?} → {status}, not JSON: {e}")))?;
            if status != 200 {
                prop_assert!(
                    v["__type"].is_string() && v["message"].is_string(),
                    "{req:?} → {v}"
                );
            }
        }
        Ok(())
    });
    served.drain();
    if let Err(e) = result {
        panic!("{e}");
    }
    let seen = seen.into_inner();
    eprintln!("{} requests: answers by status {seen:?}", cases());
    // Both kinds of answer were reached: the generator is not all noise.
    assert!(
        seen.get(&200).copied().unwrap_or(0) > u64::from(cases()) / 20,
        "{seen:?}"
    );
    assert!(
        seen.get(&400).copied().unwrap_or(0) > u64::from(cases()) / 5,
        "{seen:?}"
    );
    // The server still takes good records.
    let good = Request::Json(
        "Kinesis_20131202.PutRecord".to_owned(),
        json!({"StreamName": "clicks-api", "PartitionKey": "k",
            "Data": base64::engine::general_purpose::STANDARD.encode(br#"{"user":"after","amount":1}"#)})
            .to_string()
            .into_bytes(),
    );
    let (status, body) = send(&address, &good).unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    served.stop();
}
