//! Visual transforms (Glue Studio's): apply mapping, join, aggregate, union, drop
//! duplicates, fill missing and filter, on tables and on streams, with rows checked.

use serde_json::{Value, json};
use tributary_engine::Project;
use tributary_engine::arrow::array::RecordBatch;
use tributary_engine::arrow::util::pretty::pretty_format_batches;

use crate::streaming::{edge, node};
use crate::support::*;

/// The rows of `batch` as a pretty table, its lines after the header sorted (row order
/// is not part of these operations' contract).
fn rows(batch: &RecordBatch) -> Vec<String> {
    let text = pretty_format_batches(std::slice::from_ref(batch))
        .unwrap()
        .to_string();
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let (head, body) = lines.split_at(3);
    let mut body: Vec<String> = body[..body.len() - 1].to_vec();
    body.sort();
    head.iter()
        .cloned()
        .chain(body)
        .chain(lines.last().cloned())
        .collect()
}

fn query_node(id: &str, sql: &str) -> Value {
    node(id, "query", json!({"sql": sql}))
}

const ORDERS: &str = "SELECT * FROM (VALUES (1, '/cart', 10.0), (2, '/cart', NULL), \
     (2, '/cart', NULL), (3, '/help', 4.0), (4, NULL, 6.0)) AS t(id, page, amount)";
const PAGES: &str = "SELECT * FROM (VALUES ('/cart', 'Cart'), ('/help', 'Help')) AS t(page, title)";

#[test]
fn transforms_on_tables_give_the_rows_their_sql_says() {
    let dir = scratch();
    let project = json!({
        "format_version": 1,
        "nodes": [
            node("catalog", "catalog", json!({"path": "c.json"})),
            query_node("orders", ORDERS),
            query_node("pages", PAGES),
            query_node("more", "SELECT * FROM (VALUES (9, 'late')) AS t(id, note)"),
            node("mapped", "apply_mapping", json!({"mapping": [
                {"from_path": "amount", "to_key": "amount_cents", "to_type": "bigint"},
                {"from_path": "page", "dropped": true}
            ]})),
            node("filled", "fill_missing", json!({"fills": [
                {"column": "page", "method": "value", "value": "unknown"},
                {"column": "amount", "method": "mean"}
            ]})),
            node("unique", "drop_duplicates", json!({"columns": ["id"]})),
            node("joined", "join", json!({"join_type": "left", "keys": [{"left": "page", "right": "page"}]})),
            node("missing", "join", json!({"join_type": "leftanti", "keys": [{"left": "page", "right": "page"}]})),
            node("totals", "aggregate", json!({"groups": ["title"], "aggs": [
                {"column": "*", "agg_func": "count"},
                {"column": "amount", "agg_func": "sum", "alias": "total"}
            ]})),
            node("all", "union", json!({"union_type": "ALL"})),
            node("big", "filter", json!({"condition": "amount > 5", "columns": ["id", "amount"]}))
        ],
        "edges": [
            edge("catalog", "catalog", "orders", "catalog"),
            edge("catalog", "catalog", "pages", "catalog"),
            edge("catalog", "catalog", "more", "catalog"),
            edge("orders", "table", "mapped", "records"),
            edge("orders", "table", "filled", "records"),
            edge("orders", "table", "unique", "records"),
            edge("orders", "table", "joined", "left"),
            edge("pages", "table", "joined", "right"),
            edge("orders", "table", "missing", "left"),
            edge("pages", "table", "missing", "right"),
            edge("joined", "records", "totals", "records"),
            edge("orders", "table", "all", "records"),
            edge("more", "table", "all", "records"),
            edge("orders", "table", "big", "records")
        ]
    });
    let (tables, errors) = previews_in(dir.path(), project);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        rows(&tables["mapped"]),
        [
            "+--------------+----+",
            "| amount_cents | id |",
            "+--------------+----+",
            "|              | 2  |",
            "|              | 2  |",
            "| 10           | 1  |",
            "| 4            | 3  |",
            "| 6            | 4  |",
            "+--------------+----+",
        ]
    );
    // The mean of 10, 4 and 6 fills the two missing amounts.
    assert_eq!(
        rows(&tables["filled"]),
        [
            "+----+---------+-------------------+",
            "| id | page    | amount            |",
            "+----+---------+-------------------+",
            "| 1  | /cart   | 10.0              |",
            "| 2  | /cart   | 6.666666666666667 |",
            "| 2  | /cart   | 6.666666666666667 |",
            "| 3  | /help   | 4.0               |",
            "| 4  | unknown | 6.0               |",
            "+----+---------+-------------------+",
        ]
    );
    assert_eq!(tables["unique"].num_rows(), 4);
    assert_eq!(
        rows(&tables["totals"]),
        [
            "+-------+-------+-------+",
            "| title | count | total |",
            "+-------+-------+-------+",
            "|       | 1     | 6.0   |",
            "| Cart  | 3     | 10.0  |",
            "| Help  | 1     | 4.0   |",
            "+-------+-------+-------+",
        ]
    );
    // Left join keeps every order; the page both sides have is renamed on the right.
    let joined = &tables["joined"];
    assert_eq!(joined.num_rows(), 5);
    assert!(joined.schema().field_with_name("right_page").is_ok());
    assert_eq!(
        rows(&tables["missing"]),
        [
            "+----+------+--------+",
            "| id | page | amount |",
            "+----+------+--------+",
            "| 4  |      | 6.0    |",
            "+----+------+--------+",
        ]
    );
    // Columns matched by name: each input's missing column is null.
    let all = &tables["all"];
    assert_eq!(all.num_rows(), 6);
    let names: Vec<String> = all
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["id", "page", "amount", "note"]);
    assert_eq!(
        rows(&tables["big"]),
        [
            "+----+--------+",
            "| id | amount |",
            "+----+--------+",
            "| 1  | 10.0   |",
            "| 4  | 6.0    |",
            "+----+--------+",
        ]
    );
}

/// A clickstream generator.
fn clicks(id: &str, count: u64, seed: u64) -> Value {
    node(
        id,
        "generator",
        json!({"event": "clickstream", "rate_per_sec": 0.0, "count": count, "keys": 40,
               "batch_size": 250, "seed": seed}),
    )
}

#[test]
fn transforms_on_streams_map_join_merge_and_drop_duplicates_record_by_record() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let firehose = |id: &str| {
        node(
            id,
            "firehose",
            json!({"prefix": format!("{id}/"), "format": "json", "buffer_interval_ms": 50}),
        )
    };
    let project = json!({
        "format_version": 1,
        "nodes": [
            node("catalog", "catalog", json!({"path": "c.json"})),
            query_node("pages", "SELECT * FROM (VALUES ('/cart', 'Cart'), ('/help', 'Help')) AS t(page, title)"),
            clicks("a", 3000, 1),
            clicks("b", 2000, 2),
            node("lake", "bucket", json!({"path": "lake"})),
            node("mapped", "apply_mapping", json!({"mapping": [
                {"from_path": "page", "to_key": "path"},
                {"from_path": "event_id", "to_type": "string"}
            ], "unmapped": "drop"})),
            node("filled", "fill_missing", json!({"fills": [{"column": "referrer", "value": "direct"}]})),
            node("enriched", "join", json!({"join_type": "equijoin", "keys": [{"left": "page", "right": "page"}]})),
            node("merged", "union", json!({})),
            node("users", "drop_duplicates", json!({"columns": ["user_id"]})),
            firehose("mapped_out"),
            firehose("filled_out"),
            firehose("enriched_out"),
            firehose("merged_out"),
            firehose("users_out")
        ],
        "edges": [
            edge("catalog", "catalog", "pages", "catalog"),
            edge("a", "events", "mapped", "records"),
            edge("a", "events", "filled", "records"),
            edge("a", "events", "enriched", "left"),
            edge("pages", "table", "enriched", "right"),
            edge("a", "events", "merged", "records"),
            edge("b", "events", "merged", "records"),
            edge("merged", "records", "users", "records"),
            edge("mapped", "records", "mapped_out", "records"),
            edge("filled", "records", "filled_out", "records"),
            edge("enriched", "records", "enriched_out", "records"),
            edge("merged", "records", "merged_out", "records"),
            edge("users", "records", "users_out", "records"),
            edge("lake", "objects", "mapped_out", "target"),
            edge("lake", "objects", "filled_out", "target"),
            edge("lake", "objects", "enriched_out", "target"),
            edge("lake", "objects", "merged_out", "target"),
            edge("lake", "objects", "users_out", "target")
        ]
    });
    let (_, errors) = previews_in(dir.path(), project);
    assert!(errors.is_empty(), "{errors:?}");
    let out = |id: &str| records_under(&dir.path().join(format!("lake/{id}")));
    // Mapped: only the mapped columns, renamed and cast, every record.
    let mapped = out("mapped_out");
    assert_eq!(mapped.len(), 3000);
    let mut keys: Vec<&String> = mapped[0].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["event_id", "path"]);
    assert!(mapped.iter().all(|r| r["event_id"].is_string()));
    // Filled: no null referrer left, and the ones that were null say "direct".
    let filled = out("filled_out");
    assert_eq!(filled.len(), 3000);
    assert!(filled.iter().all(|r| r["referrer"].is_string()));
    assert!(filled.iter().any(|r| r["referrer"] == "direct"));
    // Enriched: exactly the clicks on the two pages the table knows, with their title.
    let enriched = out("enriched_out");
    assert!(!enriched.is_empty());
    assert!(enriched.iter().all(|r| {
        (r["page"] == "/cart" && r["title"] == "Cart")
            || (r["page"] == "/help" && r["title"] == "Help")
    }));
    let on_those_pages = filled
        .iter()
        .filter(|r| r["page"] == "/cart" || r["page"] == "/help")
        .count();
    assert_eq!(enriched.len(), on_those_pages);
    // Merged: both streams, every record once.
    let merged = out("merged_out");
    assert_eq!(merged.len(), 5000);
    // Deduplicated by user: one record per user id seen.
    let users = out("users_out");
    let distinct: std::collections::BTreeSet<String> = merged
        .iter()
        .map(|r| r["user_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(users.len(), distinct.len());
}

#[test]
fn what_a_stream_cannot_do_is_a_clear_error_and_types_are_checked_on_the_wires() {
    let dir = scratch();
    let project = json!({
        "format_version": 1,
        "nodes": [
            clicks("a", 100, 1),
            node("totals", "aggregate", json!({"groups": ["page"], "aggs": [{"column": "*", "agg_func": "count"}]})),
            node("t", "table_sink", json!({}))
        ],
        "edges": [
            edge("a", "events", "totals", "records"),
            edge("totals", "records", "t", "records")
        ]
    });
    let (_, errors) = previews_in(dir.path(), project);
    assert_eq!(
        errors["totals"],
        "node 'totals' (aggregate): aggregating needs the whole input, so it works on tables \
         only; to aggregate a stream over time windows, use an analytics node"
    );
    // A transform passes on what it is given: a table into it cannot feed a stream input.
    let problems = Project::from_json(
        &json!({
            "format_version": 1,
            "nodes": [
                node("catalog", "catalog", json!({"path": "c.json"})),
                query_node("q", "SELECT 1 AS x"),
                node("f", "filter", json!({})),
                node("t", "table_sink", json!({}))
            ],
            "edges": [
                edge("catalog", "catalog", "q", "catalog"),
                edge("q", "table", "f", "records"),
                edge("f", "records", "t", "records")
            ]
        })
        .to_string(),
    )
    .unwrap_err();
    let problems: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert!(
        problems.iter().any(|p| p.contains(
            "port type mismatch: rows (a table here) output 'records' cannot feed stream input 'records'"
        )),
        "{problems:?}"
    );
}

#[test]
fn the_transforms_example_answers_like_the_sql_it_stands_for() {
    // The example, run in a copy of its folder: join, apply mapping and aggregate.
    let dir = scratch();
    let root = repo_root().join("projects");
    let project: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("transforms.json")).unwrap())
            .unwrap();
    for table in ["stocks/stocks.csv", "weather/seattle-weather.csv"] {
        let to = dir.path().join("lake/raw").join(table);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(root.join("lake/raw").join(table), &to).unwrap();
    }
    let (tables, errors) = previews_in(dir.path(), project);
    assert!(errors.is_empty(), "{errors:?}");
    let per_company = &tables["per_company"];
    // The same question in one statement, over the crawled table.
    let expected = query(
        dir.path(),
        &dir.path().join("transforms.catalog.json"),
        "SELECT CASE symbol WHEN 'MSFT' THEN 'Microsoft' WHEN 'AMZN' THEN 'Amazon' \
         WHEN 'IBM' THEN 'IBM' WHEN 'GOOG' THEN 'Alphabet' WHEN 'AAPL' THEN 'Apple' END AS company, \
         COUNT(*) AS months, AVG(CAST(price AS DOUBLE)) AS average_price, \
         MAX(CAST(price AS DOUBLE)) AS highest_price FROM stocks GROUP BY 1 ORDER BY 1",
    );
    let sorted = tributary_engine::arrow::compute::sort_to_indices(
        per_company.column_by_name("company").unwrap(),
        None,
        None,
    )
    .unwrap();
    let columns = per_company
        .columns()
        .iter()
        .map(|c| tributary_engine::arrow::compute::take(c, &sorted, None).unwrap())
        .collect();
    let ours = RecordBatch::try_new(per_company.schema(), columns).unwrap();
    assert_eq!(
        pretty_format_batches(&[ours]).unwrap().to_string(),
        expected.trim_end()
    );
    assert_eq!(per_company.num_rows(), 5);
}
