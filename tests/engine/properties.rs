//! Property tests (`proptest`): inputs nobody wrote by hand.
//! - The shard mapping puts every hash key in the range Kinesis gives its shard.
//! - The project loader takes any JSON (and any mutation of the bundled examples) to a
//!   project or to problems, never a panic; a project it accepts saves and loads back
//!   the same.

use proptest::prelude::*;
use serde_json::Value;
use tributary_engine::Project;
use tributary_engine::stream::topic::{hash_key_range, shard_for_hash, shard_for_key};

/// The case count: `PROPTEST_CASES` when set (a long run, as TESTING.md records), else
/// `default` (what CI runs).
pub(crate) fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// floor(2^128 / n), computed another way than the engine does: 2^128 = 2 × 2^127.
fn width(n: u128) -> u128 {
    let half = 1u128 << 127;
    2 * (half / n) + (2 * (half % n)) / n
}

/// The shard of `hash` by walking the ranges: the last shard whose start is ≤ hash.
fn reference_shard(hash: u128, shards: usize) -> usize {
    if shards == 1 {
        return 0;
    }
    let w = width(shards as u128);
    (0..shards)
        .rev()
        .find(|&i| w * i as u128 <= hash)
        .unwrap_or(0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(2_000)))]

    #[test]
    fn every_hash_key_is_in_the_range_kinesis_gives_its_shard(
        hash in any::<u128>(),
        shards in 1usize..=200,
    ) {
        let s = shard_for_hash(hash, shards);
        prop_assert_eq!(s, reference_shard(hash, shards));
        let (start, end) = hash_key_range(s, shards);
        prop_assert!(start <= hash && hash <= end);
    }

    #[test]
    fn range_boundaries_belong_to_the_shard_that_starts_there(
        (shards, i) in (2usize..=500).prop_flat_map(|n| (Just(n), 1..n))
    ) {
        let (start, _) = hash_key_range(i, shards);
        let (_, prev_end) = hash_key_range(i - 1, shards);
        prop_assert_eq!(prev_end + 1, start, "ranges are contiguous");
        prop_assert_eq!(shard_for_hash(start, shards), i);
        prop_assert_eq!(shard_for_hash(start - 1, shards), i - 1);
    }

    #[test]
    fn a_key_s_shard_is_its_md5_s_range(key in proptest::collection::vec(any::<u8>(), 0..64), shards in 1usize..=64) {
        use md5::Digest as _;
        let hash = u128::from_be_bytes(md5::Md5::digest(&key).into());
        prop_assert_eq!(shard_for_key(&key, shards), reference_shard(hash, shards));
    }
}

#[test]
fn the_hash_key_ranges_are_those_aws_lists_for_a_new_stream() {
    // `aws kinesis list-shards` for a new 3-shard stream.
    assert_eq!(
        hash_key_range(0, 3),
        (0, 113427455640312821154458202477256070484)
    );
    assert_eq!(
        hash_key_range(1, 3),
        (
            113427455640312821154458202477256070485,
            226854911280625642308916404954512140969
        )
    );
    assert_eq!(
        hash_key_range(2, 3),
        (226854911280625642308916404954512140970, u128::MAX)
    );
    assert_eq!(hash_key_range(0, 1), (0, u128::MAX));
    assert_eq!(hash_key_range(1, 2).0, 1u128 << 127);
}

/// Any JSON value, nested a few levels.
pub(crate) fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-z_]{0,12}".prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,20}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Keys the loader knows, so that mutations reach past the first check.
fn known_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("format_version"),
        Just("nodes"),
        Just("edges"),
        Just("config"),
        Just("kind"),
        Just("id"),
        Just("from"),
        Just("to"),
        Just("node"),
        Just("port"),
        Just("batch_size"),
        Just("runtime"),
        Just("sql"),
        Just("shards"),
        Just("environments"),
        Just("processor"),
    ]
    .prop_map(str::to_owned)
}

fn examples() -> Vec<Value> {
    [
        "clickstream.json",
        "emr.json",
        "lake.json",
        "lambda.json",
        "transforms.json",
    ]
    .iter()
    .map(|name| {
        let text = std::fs::read_to_string(crate::support::repo_root().join("projects").join(name))
            .unwrap();
        serde_json::from_str(&text).unwrap()
    })
    .collect()
}

/// One change somewhere in `doc`: a value replaced, a key removed, or a known key set.
#[derive(Clone, Debug)]
enum Mutation {
    Replace(Vec<usize>, Value),
    Remove(Vec<usize>),
    Set(Vec<usize>, String, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let path = proptest::collection::vec(any::<usize>(), 0..6);
    prop_oneof![
        (path.clone(), json()).prop_map(|(p, v)| Mutation::Replace(p, v)),
        path.clone().prop_map(Mutation::Remove),
        (path, known_key(), json()).prop_map(|(p, k, v)| Mutation::Set(p, k, v)),
    ]
}

/// The value `path` leads to (each step picks a child by index, modulo their number).
fn walk<'a>(mut at: &'a mut Value, path: &[usize]) -> &'a mut Value {
    for step in path {
        let n = match at {
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            _ => 0,
        };
        if n == 0 {
            break;
        }
        at = match at {
            Value::Array(a) => &mut a[step % n],
            Value::Object(o) => o.values_mut().nth(step % n).unwrap(),
            _ => unreachable!(),
        };
    }
    at
}

fn apply(doc: &mut Value, m: &Mutation) {
    match m {
        Mutation::Replace(path, v) => *walk(doc, path) = v.clone(),
        Mutation::Remove(path) => {
            let (last, parent) = path.split_last().map_or((0, &[][..]), |(l, p)| (*l, p));
            match walk(doc, parent) {
                Value::Object(o) if !o.is_empty() => {
                    let key = o.keys().nth(last % o.len()).unwrap().clone();
                    o.remove(&key);
                }
                Value::Array(a) if !a.is_empty() => {
                    let n = a.len();
                    a.remove(last % n);
                }
                _ => {}
            }
        }
        Mutation::Set(path, key, v) => {
            if let Value::Object(o) = walk(doc, path) {
                o.insert(key.clone(), v.clone());
            }
        }
    }
}

/// The loader's answer, which must come without a panic; an accepted project saves and
/// loads back the same.
fn load_checked(text: &str) -> Result<(), TestCaseError> {
    match Project::from_json(text) {
        Ok(project) => {
            prop_assert!(project.validate().is_empty());
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("p.json");
            project.save(&path).unwrap();
            let again = Project::from_json(&std::fs::read_to_string(&path).unwrap());
            prop_assert_eq!(again.as_ref().ok(), Some(&project));
        }
        Err(problems) => prop_assert!(!problems.is_empty()),
    }
    // The editor's reading of it must not panic either.
    let _ = Project::parse_for_editing(text);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(400)))]

    #[test]
    fn any_json_loads_or_gives_problems(doc in json()) {
        load_checked(&doc.to_string())?;
    }

    #[test]
    fn any_json_under_the_project_keys_loads_or_gives_problems(
        nodes in json(), edges in json(), version in json(),
    ) {
        let doc = serde_json::json!({"format_version": version, "nodes": nodes, "edges": edges});
        load_checked(&doc.to_string())?;
    }

}

#[test]
fn mutated_examples_load_or_give_problems() {
    use proptest::test_runner::{Config, TestRunner};
    let examples = examples();
    let (accepted, refused) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    let mut runner = TestRunner::new(Config {
        cases: cases(600),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        0usize..examples.len(),
        proptest::collection::vec(mutation(), 1..4),
    );
    runner
        .run(&strategy, |(which, mutations)| {
            let mut doc = examples[which].clone();
            for m in &mutations {
                apply(&mut doc, m);
            }
            let text = doc.to_string();
            match Project::from_json(&text) {
                Ok(_) => accepted.set(accepted.get() + 1),
                Err(_) => refused.set(refused.get() + 1),
            }
            load_checked(&text)
        })
        .unwrap();
    // Both answers are reached: the mutations are neither all harmless nor all fatal.
    let (accepted, refused) = (accepted.get(), refused.get());
    eprintln!("mutated examples: {accepted} accepted, {refused} refused");
    assert!(
        accepted > 30 && refused > 30,
        "{accepted} accepted, {refused} refused"
    );
}

/// Found by a 100,000-case run: a coordinate beyond `f32` became infinite, was saved as
/// `null`, and the saved project no longer loaded.
#[test]
fn a_position_beyond_the_canvas_loads_and_saves_back_the_same() {
    let doc = serde_json::json!({"format_version": 2, "nodes": [
        {"id": "g", "kind": "generator", "position": {"x": -4.925607447757144e126, "y": 7.0}}
    ]});
    load_checked(&doc.to_string()).unwrap();
    let project = Project::from_json(&doc.to_string()).unwrap();
    assert_eq!(project.nodes[0].position.x, -1e9);
}

#[test]
fn text_that_is_not_json_gives_a_problem() {
    for text in ["", "{", "nul", "[1,", "\u{0}", "{\"format_version\": 2,}"] {
        let problems = Project::from_json(text).unwrap_err();
        assert!(
            problems[0].to_string().contains("not valid JSON"),
            "{problems:?}"
        );
    }
}

mod windows {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;

    use proptest::prelude::*;
    use tributary_engine::arrow::array::{Array, Int64Array, RecordBatch};
    use tributary_engine::arrow::datatypes::{DataType, Field, Schema};
    use tributary_engine::stream::windows::Windows;

    fn batch(ids: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(ids.to_vec()))]).unwrap()
    }

    fn ids(batches: &[RecordBatch]) -> BTreeSet<i64> {
        batches
            .iter()
            .flat_map(|b| {
                let a = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                (0..a.len()).map(|i| a.value(i)).collect::<Vec<_>>()
            })
            .collect()
    }

    /// The windows that hold `t`, by brute force: starts on the slide grid, t in
    /// [start, start + size).
    fn holding(t: i64, size: i64, slide: i64) -> BTreeSet<i64> {
        let mut out = BTreeSet::new();
        let mut s = t.div_euclid(slide) * slide;
        while s + size > t {
            out.insert(s);
            s -= slide;
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(super::cases(300)))]

        #[test]
        fn every_event_is_in_exactly_the_windows_that_hold_it(
            size in 1i64..5_000,
            slide in 1i64..5_000,
            times in proptest::collection::vec(-100_000i64..100_000, 1..200),
            late_times in proptest::collection::vec(-200_000i64..200_000, 0..50),
        ) {
            let mut w = Windows::new(size as u64, slide as u64, 0);
            let n = times.len() as i64;
            let late = w.add(0, &batch(&(0..n).collect::<Vec<_>>()), &times).unwrap();
            prop_assert!(late.is_none(), "nothing is late before a window closed");
            let mut expected: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
            for (id, &t) in times.iter().enumerate() {
                for s in holding(t, size, slide) {
                    expected.entry(s).or_default().insert(id as i64);
                }
            }
            let closed = w.close(true);
            let got: BTreeMap<i64, BTreeSet<i64>> = closed
                .iter()
                .map(|(start, end, rows)| {
                    assert_eq!(end - start, size);
                    (*start, ids(rows))
                })
                .collect();
            prop_assert_eq!(&got, &expected);
            // After every window closed, an event is late exactly when all the windows
            // that hold it have closed.
            let last_end = closed.iter().map(|(_, end, _)| *end).max().unwrap_or(i64::MIN);
            let ids_late: Vec<i64> = (0..late_times.len() as i64).map(|i| 1_000 + i).collect();
            let late = w.add(0, &batch(&ids_late), &late_times).unwrap();
            let got_late = late.map(|b| ids(&[b])).unwrap_or_default();
            let expected_late: BTreeSet<i64> = late_times
                .iter()
                .enumerate()
                .filter(|(_, t)| {
                    let h = holding(**t, size, slide);
                    !h.is_empty() && h.iter().all(|s| s + size <= last_end)
                })
                .map(|(i, _)| 1_000 + i as i64)
                .collect();
            prop_assert_eq!(got_late, expected_late);
        }
    }
}

mod rows {
    use proptest::prelude::*;
    use serde_json::Value;
    use tributary_engine::arrow::array::{Array, Int64Array, StringArray};
    use tributary_engine::arrow::datatypes::Field;
    use tributary_engine::stream::records::{RowBuilder, SourceColumn, parse_columns};

    const COLUMNS: [&str; 8] = [
        "id Int64 NOT NULL",
        "n Int32",
        "x Float64",
        "f Float32",
        "ok Boolean",
        "name Utf8",
        "day Date",
        "at Timestamp",
    ];

    fn builder() -> RowBuilder {
        let fields = parse_columns(&COLUMNS.map(str::to_owned)).unwrap();
        let columns = fields
            .into_iter()
            .map(|field: Field| SourceColumn {
                source_name: field.name().clone(),
                field,
                text_format: None,
            })
            .collect();
        RowBuilder::new(columns, vec!["NULL".to_owned()]).unwrap()
    }

    fn cell() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            Just(Value::from("2024-02-29")),
            Just(Value::from("2024-02-29T12:34:56.789")),
            Just(Value::from("2024-13-01")),
            Just(Value::from("NULL")),
            ".{0,12}".prop_map(Value::from),
            Just(serde_json::json!({"nested": [1, 2]})),
            Just(serde_json::json!([1, "two"])),
        ]
    }

    fn record() -> impl Strategy<Value = serde_json::Map<String, Value>> {
        let names = ["id", "n", "x", "f", "ok", "name", "day", "at", "extra"];
        proptest::collection::vec(proptest::option::of(cell()), names.len()).prop_map(
            move |cells| {
                names
                    .iter()
                    .zip(cells)
                    .filter_map(|(n, c)| c.map(|c| ((*n).to_owned(), c)))
                    .collect()
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(super::cases(300)))]

        /// Any record is a row or a reason; the batch holds exactly the rows taken, with
        /// their ids and names as given.
        #[test]
        fn json_records_are_rows_or_reasons(records in proptest::collection::vec(record(), 0..40)) {
            let mut rows = builder();
            let mut taken = Vec::new();
            for r in &records {
                match rows.push_json(r) {
                    Ok(()) => taken.push(r),
                    Err(why) => prop_assert!(!why.is_empty()),
                }
            }
            let batch = rows.finish().unwrap();
            prop_assert_eq!(batch.num_rows(), taken.len());
            let ids = batch.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            let names = batch.column(5).as_any().downcast_ref::<StringArray>().unwrap();
            for (i, r) in taken.iter().enumerate() {
                if let Some(id) = r["id"].as_i64() {
                    prop_assert_eq!(ids.value(i), id);
                }
                if let Some(name) = r.get("name").and_then(Value::as_str) {
                    prop_assert_eq!(names.value(i), name);
                }
            }
            prop_assert_eq!(rows.finish().unwrap().num_rows(), 0, "the builder starts again");
        }

        /// Any CSV fields are a row or a reason, never a panic.
        #[test]
        fn text_fields_are_rows_or_reasons(
            lines in proptest::collection::vec(
                proptest::collection::vec(proptest::option::of(".{0,12}|-?[0-9]{1,20}|2024-0[1-9]-[0-3][0-9]|NULL|true"), 8),
                0..40,
            ),
        ) {
            let mut rows = builder();
            let mut taken = 0;
            for fields in &lines {
                let fields: Vec<Option<&str>> = fields.iter().map(|f| f.as_deref()).collect();
                if rows.push_text(&fields).is_ok() {
                    taken += 1;
                }
            }
            prop_assert_eq!(rows.finish().unwrap().num_rows(), taken);
        }
    }
}

/// The crawler over files nobody wrote by hand: random bytes, CSV text with quotes,
/// commas, newlines and empty cells, JSON lines of random records, each under a table
/// folder. Every file is a table's file or is reported (unclassified, with a reason, or
/// skipped), never lost and never a panic; a table's columns have distinct names and a
/// type each; and a CSV of integers comes back with its header's columns, typed `Int64`.
mod crawling {
    use std::sync::Arc;

    use proptest::prelude::*;
    use serde_json::Value;
    use tributary_engine::lake::bucket::Bucket;
    use tributary_engine::lake::crawler::{CrawlOptions, crawl};

    #[derive(Debug, Clone)]
    enum File {
        Bytes(Vec<u8>),
        Text(String),
        Integers(Vec<String>, Vec<Vec<i64>>),
        JsonLines(Vec<Value>),
    }

    fn cell() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            any::<i64>().prop_map(|i| i.to_string()),
            any::<f64>().prop_map(|f| f.to_string()),
            "[a-z ,\"\n]{0,12}".prop_map(|s| format!("\"{}\"", s.replace('"', "\"\""))),
            "[a-zA-Z0-9_.:/-]{0,12}",
            Just("true".to_owned()),
            Just("2024-02-30".to_owned()),
            Just("NaN".to_owned()),
        ]
    }

    fn file() -> impl Strategy<Value = File> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(File::Bytes),
            (
                1usize..5,
                proptest::collection::vec(proptest::collection::vec(cell(), 1..6), 0..8)
            )
                .prop_map(|(_, rows)| {
                    File::Text(
                        rows.iter()
                            .map(|r| r.join(","))
                            .collect::<Vec<_>>()
                            .join("\n"),
                    )
                }),
            proptest::collection::btree_set("c_[a-z]{1,6}", 1..5).prop_flat_map(|names| {
                let names: Vec<String> = names.into_iter().collect();
                let width = names.len();
                proptest::collection::vec(proptest::collection::vec(any::<i64>(), width), 1..20)
                    .prop_map(move |rows| File::Integers(names.clone(), rows))
            }),
            proptest::collection::vec(super::json(), 0..6).prop_map(File::JsonLines),
        ]
    }

    fn bytes_of(f: &File) -> Vec<u8> {
        match f {
            File::Bytes(b) => b.clone(),
            File::Text(t) => t.clone().into_bytes(),
            File::Integers(names, rows) => {
                let mut t = names.join(",");
                for r in rows {
                    t.push('\n');
                    t.push_str(&r.iter().map(i64::to_string).collect::<Vec<_>>().join(","));
                }
                t.push('\n');
                t.into_bytes()
            }
            File::JsonLines(vs) => vs
                .iter()
                .map(|v| format!("{v}\n"))
                .collect::<String>()
                .into_bytes(),
        }
    }

    fn name_of(i: usize, f: &File) -> String {
        match f {
            File::Integers(..) | File::Text(_) => format!("f{i}.csv"),
            File::JsonLines(_) => format!("f{i}.json"),
            File::Bytes(_) => format!("f{i}.dat"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(super::cases(200)))]

        #[test]
        fn every_file_is_in_a_table_or_reported(files in proptest::collection::vec(file(), 1..5)) {
            let dir = tempfile::tempdir().unwrap();
            let mut keys = Vec::new();
            for (i, f) in files.iter().enumerate() {
                // One table folder per file: files of one folder may be refused for not
                // fitting each other, which is reported too.
                let key = format!("t{i}/{}", name_of(i, f));
                let path = dir.path().join(&key);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, bytes_of(f)).unwrap();
                keys.push(key);
            }
            let bucket = Arc::new(Bucket::open_local(dir.path(), "", "").unwrap());
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let report = runtime
                .block_on(crawl(&bucket, &CrawlOptions::default(), &|_, _| {}))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let in_tables: u64 = report.tables.iter().map(|t| t.stats.files).sum();
            let reported = report.unclassified.len() + report.skipped.len();
            prop_assert_eq!(
                in_tables as usize + reported,
                keys.len(),
                "tables {:?}, unclassified {:?}, skipped {:?}",
                report.tables.iter().map(|t| (&t.name, t.stats.files)).collect::<Vec<_>>(),
                report.unclassified.iter().map(|s| (&s.key, &s.reason)).collect::<Vec<_>>(),
                report.skipped
            );
            for s in &report.unclassified {
                prop_assert!(!s.reason.trim().is_empty(), "{} has no reason", s.key);
            }
            for t in &report.tables {
                let mut names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
                names.sort_unstable();
                let n = names.len();
                names.dedup();
                prop_assert_eq!(names.len(), n, "{}: duplicate column names", t.name);
            }
            for (i, f) in files.iter().enumerate() {
                if let File::Integers(names, rows) = f {
                    let t = report.tables.iter().find(|t| t.name == format!("t{i}"));
                    let t = t.ok_or_else(|| TestCaseError::fail(format!("t{i} not a table: {:?}", report.unclassified)))?;
                    let got: Vec<(&str, &str)> = t.columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str())).collect();
                    let want: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "Int64")).collect();
                    prop_assert_eq!(got, want);
                    prop_assert!(!rows.is_empty());
                }
            }
        }
    }
}

/// Rows of text (any characters, quotes and control characters included, as JSON must
/// escape them), numbers and times, keyed by the text.
fn billed_rows() -> impl Strategy<Value = (Vec<String>, Vec<i64>, Vec<f64>)> {
    (1usize..40).prop_flat_map(|n| {
        (
            proptest::collection::vec(".{0,300}", n),
            proptest::collection::vec(any::<i64>(), n),
            proptest::collection::vec(any::<f64>(), n),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    /// The size bound that spares writing JSON for billing is never below a record's
    /// real size, so a record it calls 1 KiB is one: the KiB counts (PUT payload units,
    /// Firehose increments) are those of the JSON written.
    #[test]
    fn billing_sizes_bill_what_the_json_written_would(rows in billed_rows()) {
        use std::sync::Arc;
        use tributary_engine::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
        use tributary_engine::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
        use tributary_engine::stream::records::{billing_sizes, partition_keys, record_bytes, record_size_bound};
        let (text, ints, floats) = rows;
        let n = text.len();
        let schema = Arc::new(Schema::new(vec![
            Field::new("user \"id\"", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
            Field::new("x", DataType::Float64, false),
            Field::new("at", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        ]));
        let batch = RecordBatch::try_new(schema, vec![
            Arc::new(StringArray::from(text)),
            Arc::new(Int64Array::from(ints)),
            Arc::new(Float64Array::from(floats)),
            Arc::new(TimestampMillisecondArray::from(vec![i64::MAX / 4; n]).with_timezone("UTC")),
        ]).unwrap();
        let data = record_bytes(&batch).unwrap();
        let keys = partition_keys(&batch, Some(0)).unwrap();
        let exact: Vec<u64> = data.iter().zip(&keys).map(|(d, k)| (d.len() + k.len()) as u64).collect();
        let bound = record_size_bound(&batch, Some(0)).unwrap();
        prop_assert!(exact.iter().all(|e| *e <= bound), "bound {} below {:?}", bound, exact);
        let billed = billing_sizes(&batch, Some(0)).unwrap();
        let kib = |v: &[u64]| v.iter().map(|b| b.div_ceil(1024).max(1)).collect::<Vec<_>>();
        prop_assert_eq!(kib(&billed), kib(&exact));
    }
}
