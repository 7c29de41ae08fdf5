//! Tests of the topic: order per key, independent readers, retention, back-pressure.

use super::*;
use crate::arrow::array::{Int64Array, StringArray};
use crate::arrow::datatypes::{DataType, Field, Schema};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("user", DataType::Utf8, false),
        Field::new("n", DataType::Int64, false),
    ]))
}

fn batch(users: &[&str], start: i64) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from(users.to_vec())),
            Arc::new(Int64Array::from_iter_values(
                (0..users.len() as i64).map(|i| start + i),
            )),
        ],
    )
    .unwrap()
}

#[test]
fn md5_shard_mapping_matches_kinesis_ranges() {
    // MD5("a") = 0x0cc175b9..., in the first of 4 equal ranges; MD5("b") = 0x92eb5ffe...,
    // in the third.
    assert_eq!(shard_for_key(b"a", 4), 0);
    assert_eq!(shard_for_key(b"b", 4), 2);
    assert_eq!(shard_for_key(b"anything", 1), 0);
}

#[tokio::test]
async fn consumers_are_independent_and_keep_key_order() {
    let topic = Topic::new("t", schema(), 4, Some("user"), Retention::default(), 1000).unwrap();
    let mut a = topic.subscribe("a", &StartPosition::TrimHorizon);
    let p = topic.add_producer();
    p.send(batch(&["x", "y", "x", "z", "x"], 0)).await.unwrap();
    let mut late = topic.subscribe("late", &StartPosition::Latest);
    p.send(batch(&["y", "x"], 5)).await.unwrap();
    p.close();
    let mut seen_a = Vec::new();
    while let Some(d) = a.next(100).await {
        for del in d {
            let users = del
                .batch
                .column(0)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone();
            let ns = del
                .batch
                .column(1)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .clone();
            for i in 0..users.len() {
                seen_a.push((users.value(i).to_owned(), ns.value(i)));
            }
        }
    }
    assert_eq!(seen_a.len(), 7);
    let xs: Vec<i64> = seen_a
        .iter()
        .filter(|(u, _)| u == "x")
        .map(|(_, n)| *n)
        .collect();
    assert_eq!(xs, [0, 2, 4, 6], "per-key order is kept");
    let mut late_count = 0;
    while let Some(d) = late.next(100).await {
        late_count += d.iter().map(|d| d.batch.num_rows()).sum::<usize>();
    }
    assert_eq!(late_count, 2, "LATEST sees only what came after it");
}

#[tokio::test]
async fn slow_consumer_holds_producers_back() {
    let topic = Topic::new("t", schema(), 1, None, Retention::default(), 4).unwrap();
    let mut c = topic.subscribe("c", &StartPosition::TrimHorizon);
    let p = topic.add_producer();
    p.send(batch(&["a", "b", "c"], 0)).await.unwrap();
    // The next send must wait until the consumer reads.
    let blocked =
        tokio::time::timeout(Duration::from_millis(50), p.send(batch(&["d", "e"], 3))).await;
    assert!(
        blocked.is_err(),
        "the producer should wait for the consumer"
    );
    let got = c.next(10).await.unwrap();
    assert_eq!(got.iter().map(|d| d.batch.num_rows()).sum::<usize>(), 3);
    p.send(batch(&["d", "e"], 3)).await.unwrap();
    assert_eq!(c.lag().records, 2);
}

#[tokio::test]
async fn without_retention_records_go_once_every_reader_read_them() {
    let topic = Topic::new("t", schema(), 1, None, Retention::default(), 1000).unwrap();
    let p = topic.add_producer();
    let mut a = topic.subscribe("a", &StartPosition::TrimHorizon);
    let mut b = topic.subscribe("b", &StartPosition::TrimHorizon);
    for i in 0..10 {
        p.send(batch(&["x", "y"], i * 2)).await.unwrap();
    }
    assert_eq!(a.next(100).await.unwrap().len(), 10);
    // b has not read them yet: all 20 are kept.
    assert_eq!(topic.retained_records(), 20);
    assert_eq!(
        b.next(15)
            .await
            .unwrap()
            .iter()
            .map(|d| d.batch.num_rows())
            .sum::<usize>(),
        15
    );
    // Only the part of a batch b has not finished is left.
    assert_eq!(topic.retained_records(), 6);
    b.next(100).await.unwrap();
    assert_eq!(topic.retained_records(), 0);
}

#[tokio::test]
async fn at_sequence_number_and_retention() {
    let topic = Topic::new(
        "t",
        schema(),
        1,
        None,
        Retention {
            max_age: None,
            max_bytes: Some(1),
            keep_read: true,
        },
        1000,
    )
    .unwrap();
    let p = topic.add_producer();
    p.send(batch(&["a", "b", "c"], 0)).await.unwrap();
    p.send(batch(&["d"], 3)).await.unwrap();
    // With no consumers, the size limit trims all but the newest batch.
    assert_eq!(topic.retained_records(), 1);
    let mut c = topic.subscribe("c", &StartPosition::AtSequenceNumber(0));
    let got = c.next(10).await.unwrap();
    assert_eq!(
        got[0].first_seq, 3,
        "positions before the horizon start at the horizon"
    );
}

#[tokio::test]
async fn per_shard_consumers_read_their_shard_and_share_one_reader_s_backlog() {
    // "a" and "b" go to different shards of 4 (MD5 ranges 0 and 2).
    let topic = Topic::new("t", schema(), 4, Some("user"), Retention::default(), 6).unwrap();
    let mut zero = topic.subscribe_shard("fn", &StartPosition::TrimHorizon, Some(0));
    let mut two = topic.subscribe_shard("fn", &StartPosition::TrimHorizon, Some(2));
    let p = topic.add_producer();
    p.send(batch(&["a", "b", "a", "b"], 0)).await.unwrap();
    let read = zero.next(100).await.unwrap();
    assert!(read.iter().all(|d| d.shard == 0));
    assert_eq!(read.iter().map(|d| d.batch.num_rows()).sum::<usize>(), 2);
    // Shard 0's reader is done: its lag counts only its shard.
    assert_eq!(zero.lag().records, 0);
    assert_eq!(two.lag().records, 2);
    // Shard 2's records are kept until its reader reads them; shard 0's went.
    assert_eq!(topic.retained_records(), 2);
    // One reader's backlog is what both have not read: 2 + 3 < 6 lets the send through,
    // the next one waits.
    p.send(batch(&["a", "a", "a"], 4)).await.unwrap();
    let blocked =
        tokio::time::timeout(Duration::from_millis(50), p.send(batch(&["b", "b"], 7))).await;
    assert!(
        blocked.is_err(),
        "the reader's backlog is over its capacity"
    );
    let read = two.next(100).await.unwrap();
    assert!(read.iter().all(|d| d.shard == 2));
    assert_eq!(read.iter().map(|d| d.batch.num_rows()).sum::<usize>(), 2);
    // Acknowledging one shard leaves the other's acknowledged position alone.
    two.ack().unwrap();
    assert_eq!(topic.acked_through(), vec![0, 0, 2, 0]);
    zero.ack().unwrap();
    assert_eq!(topic.acked_through(), vec![2, 0, 2, 0]);
}

#[tokio::test]
async fn per_shard_consumers_checkpoint_their_own_shard_and_resume_there() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let topic = Topic::new("t", schema(), 4, Some("user"), Retention::default(), 100).unwrap();
        topic.attach_durable(dir.path()).unwrap();
        topic
    };
    let topic = open();
    let p = topic.add_producer();
    p.send(batch(&["a", "b", "a", "b", "a"], 0)).await.unwrap();
    let mut zero = topic.subscribe_shard("fn", &StartPosition::TrimHorizon, Some(0));
    let mut two = topic.subscribe_shard("fn", &StartPosition::TrimHorizon, Some(2));
    zero.next(2).await.unwrap();
    two.next(1).await.unwrap();
    // Shard 2 acknowledges after shard 0: shard 0's checkpoint stays.
    zero.ack().unwrap();
    two.ack().unwrap();
    p.close();
    drop((zero, two, topic));
    let topic = open();
    let mut zero = topic.subscribe_shard("fn", &StartPosition::TrimHorizon, Some(0));
    let mut two = topic.subscribe_shard("fn", &StartPosition::TrimHorizon, Some(2));
    let rows = |d: Vec<Delivery>| d.iter().map(|d| d.batch.num_rows()).sum::<usize>();
    // Shard 0 had 3 records ("a"), 2 acknowledged; shard 2 had 2 ("b"), 1 acknowledged.
    assert_eq!(zero.lag().records, 1);
    assert_eq!(two.lag().records, 1);
    assert_eq!(rows(zero.next(10).await.unwrap()), 1);
    assert_eq!(rows(two.next(10).await.unwrap()), 1);
}

#[tokio::test]
async fn records_put_keep_their_bytes_and_a_shard_reads_from_any_position() {
    let keep = Retention {
        keep_read: true,
        ..Default::default()
    };
    let topic = Topic::new("t", schema(), 2, Some("user"), keep, 1000).unwrap();
    let p = topic.add_producer();
    // Graph rows into shard 0 (by key), then put records with their own bytes and keys.
    let graph_rows = batch(&["a", "a"], 0);
    let parts = topic.split(&graph_rows, 2).unwrap();
    assert_eq!(parts.len(), 1);
    p.send(graph_rows).await.unwrap();
    let meta = RecordBatch::try_new(
        PutRecords::meta_schema(),
        vec![
            Arc::new(StringArray::from(vec!["k1", "k2", "k3"])),
            Arc::new(crate::arrow::array::BinaryArray::from_iter_values([
                b"{ \"user\": \"x\" }".as_slice(),
                b"raw two",
                b"three",
            ])),
        ],
    )
    .unwrap();
    let firsts = p
        .put(vec![PutRecords {
            shard: parts[0].0,
            batch: batch(&["x", "y", "z"], 10),
            meta,
        }])
        .await
        .unwrap();
    assert_eq!(firsts, vec![2]);
    let shard = parts[0].0;
    let read = topic.read_shard(shard, 0, 100, 1 << 20).unwrap();
    let got: Vec<(u64, &str, &[u8])> = read
        .records
        .iter()
        .map(|r| (r.seq, r.partition_key.as_str(), r.data.as_slice()))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, "a", br#"{"user":"a","n":0}"#.as_slice()),
            (1, "a", br#"{"user":"a","n":1}"#),
            (2, "k1", br#"{ "user": "x" }"#),
            (3, "k2", b"raw two"),
            (4, "k3", b"three"),
        ]
    );
    assert_eq!(read.next, 5);
    assert_eq!(read.millis_behind, 0, "at the tip");
    // From a position, with a limit: the rest, and how far behind that leaves the reader.
    let read = topic.read_shard(shard, 3, 1, 1 << 20).unwrap();
    assert_eq!(read.records.len(), 1);
    assert_eq!((read.start, read.next), (3, 4));
    // At most max_bytes of data, but always one record.
    let read = topic.read_shard(shard, 0, 100, 1).unwrap();
    assert_eq!(read.records.len(), 1);
    // Past the tip: nothing, at the tip.
    let read = topic.read_shard(shard, 99, 100, 1 << 20).unwrap();
    assert!(read.records.is_empty());
    assert_eq!(read.next, 5);
    assert!(topic.read_shard(7, 0, 1, 1).is_err());
    // A reader sees the bytes beside the rows.
    let mut c = topic.subscribe("c", &StartPosition::TrimHorizon);
    let d = c.next(100).await.unwrap();
    let with_meta: Vec<usize> = d
        .iter()
        .filter_map(|d| d.meta.as_ref().map(|m| m.num_rows()))
        .collect();
    assert_eq!(with_meta, vec![3]);
}
