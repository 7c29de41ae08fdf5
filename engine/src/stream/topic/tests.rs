//! Tests of the topic: order per key, independent readers, retention, back-pressure.

use super::*;
use crate::arrow::array::{Int64Array, StringArray};
use crate::arrow::datatypes::{DataType, Field, Schema};
use std::collections::BTreeMap;

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

/// `(user, n)` of what a read delivered, with the shard each came from.
fn rows_of(read: &[Delivery]) -> Vec<(usize, String, i64)> {
    let mut out = Vec::new();
    for d in read {
        let users = d
            .batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        let ns = d
            .batch
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        for i in 0..d.batch.num_rows() {
            out.push((d.shard, users.value(i).to_owned(), ns.value(i)));
        }
    }
    out
}

fn users(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user-{i}")).collect()
}

#[test]
fn uniform_scaling_2_4_3_closes_parents_and_opens_children_with_aws_ranges() {
    let topic = Topic::new("t", schema(), 2, Some("user"), Retention::default(), 1000).unwrap();
    assert_eq!(
        topic.reshard(Reshard::UniformScaling(2)).unwrap(),
        Vec::<usize>::new()
    );
    assert_eq!(
        topic.reshard(Reshard::UniformScaling(4)).unwrap(),
        vec![2, 3, 4, 5]
    );
    let shards = topic.shards();
    assert!(shards[0].closed && shards[1].closed && !shards[2].closed);
    for (k, s) in shards[2..].iter().enumerate() {
        assert_eq!(s.range, hash_key_range(k, 4));
        assert_eq!(
            s.parents,
            vec![k / 2],
            "shard {} splits shard {}",
            s.index,
            k / 2
        );
    }
    assert_eq!(
        topic.reshard(Reshard::UniformScaling(3)).unwrap(),
        vec![6, 7, 8]
    );
    let shards = topic.shards();
    assert_eq!(topic.open_shard_count(), 3);
    // Thirds over quarters: each third overlaps two quarters.
    assert_eq!(shards[6].parents, vec![2, 3]);
    assert_eq!(shards[7].parents, vec![3, 4]);
    assert_eq!(shards[8].parents, vec![4, 5]);
    for (k, s) in shards[6..].iter().enumerate() {
        assert_eq!(s.range, hash_key_range(k, 3));
    }
    // Every key goes to the open shard whose range holds its hash.
    for u in users(200) {
        let h = hash_key(u.as_bytes());
        let s = topic.route_hash(h);
        assert!(s >= 6 && shards[s].range.0 <= h && h <= shards[s].range.1);
        assert_eq!(s, 6 + shard_for_key(u.as_bytes(), 3));
    }
    // Split and merge: the children of shard 6, merged back.
    let at = shards[6].range.0 + 1000;
    assert_eq!(
        topic.reshard(Reshard::Split { shard: 6, at }).unwrap(),
        vec![9, 10]
    );
    let s = topic.shards();
    assert_eq!(
        (s[9].range, s[10].range),
        ((s[6].range.0, at - 1), (at, s[6].range.1))
    );
    assert_eq!(
        topic
            .reshard(Reshard::Merge {
                shard: 9,
                adjacent: 10
            })
            .unwrap(),
        vec![11]
    );
    assert_eq!(topic.shards()[11].range, s[6].range);
    assert_eq!(topic.shards()[11].parents, vec![9, 10]);
    // Mistakes are named.
    let e = topic
        .reshard(Reshard::Split { shard: 0, at: 5 })
        .unwrap_err();
    assert!(
        e.to_string().contains("shard 0 of stream 't' is closed"),
        "{e}"
    );
    let e = topic
        .reshard(Reshard::Merge {
            shard: 11,
            adjacent: 8,
        })
        .unwrap_err();
    assert!(e.to_string().contains("not adjacent"), "{e}");
    let e = topic
        .reshard(Reshard::Split {
            shard: 11,
            at: s[6].range.0,
        })
        .unwrap_err();
    assert!(e.to_string().contains("NewStartingHashKey"), "{e}");
}

#[tokio::test]
async fn readers_finish_parents_before_children_so_order_per_key_holds() {
    let topic = Topic::new(
        "t",
        schema(),
        2,
        Some("user"),
        Retention::default(),
        100_000,
    )
    .unwrap();
    let mut all = topic.subscribe("all", &StartPosition::TrimHorizon);
    let mut polls: Vec<Consumer> = (0..2)
        .map(|s| topic.subscribe_shard("fn", &StartPosition::TrimHorizon, Some(s)))
        .collect();
    let p = topic.add_producer();
    let names = users(50);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut n = 0;
    for target in [None, Some(4), Some(3)] {
        if let Some(t) = target {
            topic.reshard(Reshard::UniformScaling(t)).unwrap();
        }
        for _ in 0..4 {
            p.send(batch(&names, n)).await.unwrap();
            n += names.len() as i64;
        }
    }
    p.close();
    // Records per shard: nothing was appended to a closed shard.
    let shards = topic.shards();
    let per_shard: Vec<u64> = shards.iter().map(|s| s.bounds.1).collect();
    assert_eq!(per_shard.iter().sum::<u64>(), n as u64);
    assert!(per_shard[2..6].iter().all(|c| *c > 0) && per_shard[6..].iter().all(|c| *c > 0));
    // One reader of every shard: per user, n increases.
    let mut seen = Vec::new();
    while let Some(read) = all.next(37).await {
        seen.extend(rows_of(&read));
    }
    assert_eq!(seen.len(), n as usize);
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    for (_, u, v) in &seen {
        assert!(
            last.get(u).is_none_or(|l| l < v),
            "{u}: {v} after {:?}",
            last.get(u)
        );
        last.insert(u.clone(), *v);
    }
    // Per-shard pollers, as a Lambda's mapping: each takes its parents' children; read
    // together, each handling its reads, they keep order per key and read all once.
    let got = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = polls
        .drain(..)
        .map(|mut c| {
            let got = got.clone();
            tokio::spawn(async move {
                while let Some(read) = c.next(7).await {
                    got.lock().unwrap().extend(rows_of(&read));
                    tokio::task::yield_now().await;
                    c.ack().unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(10), t)
            .await
            .unwrap()
            .unwrap();
    }
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), n as usize, "every record read once");
    let mut last: BTreeMap<String, (usize, i64)> = BTreeMap::new();
    for (shard, u, v) in &got {
        if let Some((s, l)) = last.get(u) {
            assert!(l < v, "{u}: {v} (shard {shard}) after {l} (shard {s})");
        }
        last.insert(u.clone(), (*shard, *v));
    }
}

#[test]
fn update_shard_count_is_held_to_ten_a_day_with_realism_only() {
    let free = Topic::new("t", schema(), 1, Some("user"), Retention::default(), 10).unwrap();
    assert!((0..20).all(|_| free.count_scaling().is_ok()));
    let real = Topic::new("t", schema(), 1, Some("user"), Retention::default(), 10).unwrap();
    real.set_write_limit(crate::stream::limits::WriteLimit::KINESIS_SHARD);
    assert!((0..10).all(|_| real.count_scaling().is_ok()));
    let e = real.count_scaling().unwrap_err();
    assert_eq!(
        e,
        "UpdateShardCount cannot scale stream t more than 10 times in a rolling 24-hour period"
    );
}
