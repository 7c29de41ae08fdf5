//! Partitions as Glue and Athena keep them: Firehose hour folders crawled as
//! `partition_0` … `partition_3`, the catalog's partition list as what a query reads,
//! `MSCK REPAIR TABLE`, `ALTER TABLE … ADD/DROP PARTITION`, `SHOW PARTITIONS` and
//! partition projection.

use std::path::Path;

use serde_json::{Value, json};

use crate::streaming::{edge, node};
use crate::support::*;

/// `query --format csv` with optional extra flags; returns (stdout, stderr), asserting
/// success.
pub(crate) fn sql(cwd: &Path, catalog: &str, flags: &[&str], text: &str) -> (String, String) {
    let mut args = vec!["query", "--catalog", catalog, "--format", "csv"];
    args.extend(flags);
    args.push(text);
    let out = cli_in(cwd, &args);
    assert_eq!(out.code, 0, "{text}: {out:?}");
    (out.stdout, out.stderr)
}

/// The number in a one-value CSV result.
pub(crate) fn count(csv: &str) -> u64 {
    csv.lines().nth(1).unwrap().trim().parse().unwrap()
}

/// "… from N file(s)" in the stats line a query prints.
fn files_read(stderr: &str) -> u64 {
    let before = stderr.split(" file(s)").next().unwrap();
    before.rsplit(' ').next().unwrap().parse().unwrap()
}

/// "… in N partition(s)" in the stats line, 0 when not printed.
fn partitions_read(stderr: &str) -> u64 {
    stderr
        .split(" partition(s)")
        .next()
        .filter(|b| b.len() < stderr.len())
        .and_then(|b| b.rsplit(' ').next())
        .map_or(0, |n| n.parse().unwrap())
}

fn json_lines(dir: &Path) -> u64 {
    files_under(dir)
        .iter()
        .map(|f| {
            std::fs::read_to_string(dir.join(f))
                .unwrap()
                .lines()
                .count() as u64
        })
        .sum()
}

fn copy_folder(from: &Path, to: &Path, files: usize) {
    std::fs::create_dir_all(to).unwrap();
    for f in files_under(from).into_iter().take(files) {
        std::fs::copy(from.join(&f), to.join(&f)).unwrap();
    }
}

#[test]
fn firehose_hour_folders_are_partitions_and_an_hour_filter_reads_only_that_hours_files() {
    let dir = scratch();
    let n = 6_000u64;
    let project = json!({
        "format_version": 1,
        "nodes": [
            node("gen", "generator", json!({"event": "clickstream", "rate_per_sec": 0.0,
                "count": n, "keys": 20, "batch_size": 500, "seed": 3})),
            node("lake", "bucket", json!({"path": "lake"})),
            node("catalog", "catalog", json!({"path": "c.json"})),
            node("deliver", "firehose", json!({"prefix": "orders/", "format": "json",
                "buffer_mb": 0.05, "table": "live"}))
        ],
        "edges": [
            edge("gen", "events", "deliver", "records"),
            edge("lake", "objects", "deliver", "target"),
            edge("catalog", "catalog", "deliver", "catalog")
        ]
    });
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    run_ok(dir.path(), "p.json", &project, &[]);
    let orders = dir.path().join("lake/orders");
    let delivered = files_under(&orders);
    assert!(
        delivered.iter().all(|f| f.split('/').count() == 5),
        "{delivered:?}"
    );
    let hour = delivered[0].rsplit_once('/').unwrap().0.to_owned();
    // The Firehose registered the hour folder(s) it wrote as partitions of its table.
    let c: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("c.json")).unwrap()).unwrap();
    let live = &c["databases"]["default"]["tables"]["live"];
    let keys: Vec<&str> = live["partition_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["partition_0", "partition_1", "partition_2", "partition_3"]
    );
    assert_eq!(
        live["partitions"][0]["location"],
        format!("{hour}/"),
        "{live}"
    );
    assert_eq!(
        live["partitions"][0]["values"],
        json!(hour.split('/').collect::<Vec<_>>())
    );

    // Two earlier hours of the same data, as an earlier day's deliveries would be.
    copy_folder(
        &orders.join(&hour),
        &orders.join("2020/01/01/05"),
        usize::MAX,
    );
    copy_folder(&orders.join(&hour), &orders.join("2020/01/01/06"), 1);
    let rows_05 = json_lines(&orders.join("2020/01/01/05"));
    let rows_06 = json_lines(&orders.join("2020/01/01/06"));
    let files_05 = files_under(&orders.join("2020/01/01/05")).len() as u64;

    // A crawl makes them partitions partition_0 … partition_3, as Glue names them.
    crawl(
        dir.path(),
        &dir.path().join("lake"),
        &dir.path().join("g.json"),
    );
    let show = cli_in(
        dir.path(),
        &["catalog", "--catalog", "g.json", "show", "orders"],
    );
    assert!(
        show.stdout
            .contains("  partition_3 string (Arrow Utf8, partition key)\n"),
        "{show:?}"
    );
    assert!(
        show.stdout
            .contains(&format!("  partition 2020/01/01/05: {files_05} file(s)")),
        "{show:?}"
    );
    let (all, _) = sql(
        dir.path(),
        "g.json",
        &[],
        "SELECT COUNT(*) AS n FROM orders",
    );
    assert_eq!(count(&all), n + rows_05 + rows_06);
    // A filter on the hour reads only that hour's files.
    let (one, stats) = sql(
        dir.path(),
        "g.json",
        &[],
        "SELECT COUNT(*) AS n FROM orders WHERE partition_0 = '2020' AND partition_3 = '05'",
    );
    assert_eq!(count(&one), rows_05);
    assert_eq!(files_read(&stats), files_05, "{stats}");
    assert_eq!(partitions_read(&stats), 1, "{stats}");
    let (by_hour, _) = sql(
        dir.path(),
        "g.json",
        &[],
        "SELECT partition_3 AS hour, COUNT(*) AS n FROM orders WHERE partition_0 = '2020' GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(by_hour, format!("hour,n\n05,{rows_05}\n06,{rows_06}\n"));

    // The Firehose's own table reads only its registered partitions, as Athena does:
    // the copied folders are not in it until registered.
    let (live_count, _) = sql(dir.path(), "c.json", &[], "SELECT COUNT(*) AS n FROM live");
    assert_eq!(count(&live_count), n);
    // MSCK REPAIR TABLE only registers key=value folders, and says so.
    let (repaired, note) = sql(
        dir.path(),
        "c.json",
        &["--allow-writes"],
        "MSCK REPAIR TABLE live",
    );
    assert_eq!(repaired.trim(), "partition,location,status", "{repaired}");
    assert!(
        note.contains("registers only key=value folders") && note.contains("ALTER TABLE"),
        "{note}"
    );
    // Without allow_writes, a catalog change is refused and nothing changes.
    let before = std::fs::read(dir.path().join("c.json")).unwrap();
    let add = format!(
        "ALTER TABLE awsdatacatalog.default.live ADD PARTITION \
         (partition_0 = '2020', partition_1 = '01', partition_2 = '01', partition_3 = '05') \
         LOCATION '{}/'",
        orders.join("2020/01/01/05").display()
    );
    let refused = cli_in(dir.path(), &["query", "--catalog", "c.json", &add]);
    assert_ne!(refused.code, 0, "{refused:?}");
    assert!(refused.stderr.contains("allow_writes"), "{refused:?}");
    assert_eq!(std::fs::read(dir.path().join("c.json")).unwrap(), before);
    let (added, _) = sql(dir.path(), "c.json", &["--allow-writes"], &add);
    assert!(
        added.contains("partition_0=2020/partition_1=01/partition_2=01/partition_3=05,")
            && added.trim_end().ends_with(",added"),
        "{added}"
    );
    let (live_count, _) = sql(dir.path(), "c.json", &[], "SELECT COUNT(*) AS n FROM live");
    assert_eq!(count(&live_count), n + rows_05);
    let (shown, _) = sql(dir.path(), "c.json", &[], "SHOW PARTITIONS live");
    assert!(
        shown.starts_with(
            "partition\npartition_0=2020/partition_1=01/partition_2=01/partition_3=05\n"
        ),
        "{shown}"
    );
    sql(
        dir.path(),
        "c.json",
        &["--allow-writes"],
        "ALTER TABLE live DROP PARTITION (partition_0 = '2020', partition_1 = '01', partition_2 = '01', partition_3 = '05')",
    );
    let (live_count, _) = sql(dir.path(), "c.json", &[], "SELECT COUNT(*) AS n FROM live");
    assert_eq!(count(&live_count), n);
}

#[test]
fn the_catalogs_partitions_are_what_a_query_reads_and_msck_repair_adds_new_ones() {
    let dir = scratch();
    let lake = dir.path().join("lake");
    write(
        &lake.join("sales/year=2023/a.csv"),
        "id,amount\n1,10\n2,20\n",
    );
    write(&lake.join("sales/year=2024/b.csv"), "id,amount\n3,30\n");
    crawl(dir.path(), &lake, &dir.path().join("c.json"));
    // A folder written after the crawl is not part of the table until registered.
    write(
        &lake.join("sales/year=2025/c.csv"),
        "id,amount\n4,40\n5,50\n",
    );
    let total = |cwd: &Path| {
        let (out, _) = sql(cwd, "c.json", &[], "SELECT SUM(amount) AS s FROM sales");
        count(&out)
    };
    assert_eq!(total(dir.path()), 60);
    // Athena's qualified names resolve, and the scan is billed as Athena bills it.
    let (_, stats) = sql(
        dir.path(),
        "c.json",
        &[],
        "SELECT SUM(amount) AS s FROM awsdatacatalog.default.sales",
    );
    assert!(
        stats.contains("Athena would bill 10 MB: $0.000048"),
        "{stats}"
    );
    let (repaired, _) = sql(
        dir.path(),
        "c.json",
        &["--allow-writes"],
        "MSCK REPAIR TABLE sales",
    );
    let lines: Vec<&str> = repaired.lines().collect();
    assert_eq!(lines.len(), 2, "{repaired}");
    assert!(
        lines[1].starts_with("year=2025,") && lines[1].ends_with("year=2025/,added"),
        "{repaired}"
    );
    assert_eq!(total(dir.path()), 150);
    // Repairing again adds nothing; the catalog keeps the location relative to the table.
    let (again, _) = sql(
        dir.path(),
        "c.json",
        &["--allow-writes"],
        "MSCK REPAIR TABLE sales",
    );
    assert_eq!(again.lines().count(), 1, "{again}");
    let c: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("c.json")).unwrap()).unwrap();
    let locations: Vec<&str> = c["databases"]["default"]["tables"]["sales"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["location"].as_str().unwrap())
        .collect();
    assert_eq!(locations, ["year=2023/", "year=2024/", "year=2025/"]);
    // A partition key the table does not have, or a missing one, is named.
    let bad = cli_in(
        dir.path(),
        &[
            "query",
            "--catalog",
            "c.json",
            "--allow-writes",
            "ALTER TABLE sales ADD PARTITION (month = '1')",
        ],
    );
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr
            .contains("'month' is not a partition key of table 'sales' (its keys: year)"),
        "{bad:?}"
    );
    // A partitioned table with no partitions reads nothing and says why.
    sql(
        dir.path(),
        "c.json",
        &["--allow-writes"],
        "ALTER TABLE sales DROP PARTITION (year = 2023), PARTITION (year = 2024), PARTITION (year = 2025)",
    );
    let (none, note) = sql(dir.path(), "c.json", &[], "SELECT COUNT(*) AS n FROM sales");
    assert_eq!(count(&none), 0);
    assert!(
        note.contains("has no partitions registered") && note.contains("MSCK REPAIR TABLE"),
        "{note}"
    );
}

#[test]
fn partition_projection_finds_new_folders_without_a_crawl_and_lists_only_the_kept_ones() {
    let dir = scratch();
    let lake = dir.path().join("lake");
    for day in ["01", "02", "03"] {
        write(
            &lake.join(format!("events/2024/01/{day}/part.json")),
            format!("{{\"id\": 1, \"day\": \"{day}\"}}\n{{\"id\": 2, \"day\": \"{day}\"}}\n"),
        );
    }
    crawl(dir.path(), &lake, &dir.path().join("c.json"));
    let (set, _) = sql(
        dir.path(),
        "c.json",
        &["--allow-writes"],
        "ALTER TABLE events SET TBLPROPERTIES (\
           'projection.enabled' = 'true', \
           'projection.partition_0.type' = 'integer', 'projection.partition_0.range' = '2023,2025', \
           'projection.partition_1.type' = 'integer', 'projection.partition_1.range' = '1,12', \
           'projection.partition_1.digits' = '2', \
           'projection.partition_2.type' = 'integer', 'projection.partition_2.range' = '1,31', \
           'projection.partition_2.digits' = '2', \
           'storage.location.template' = '${partition_0}/${partition_1}/${partition_2}/')",
    );
    assert!(set.contains("projection.enabled,true"), "{set}");
    // A day delivered after the crawl: found by projection, no crawl, no repair.
    write(
        &lake.join("events/2024/01/04/part.json"),
        "{\"id\": 3, \"day\": \"04\"}\n",
    );
    let (day4, stats) = sql(
        dir.path(),
        "c.json",
        &[],
        "SELECT COUNT(*) AS n FROM events WHERE partition_0 = '2024' AND partition_1 = '01' AND partition_2 = '04'",
    );
    assert_eq!(count(&day4), 1);
    // Of 3 × 12 × 31 projected partitions, only the one kept was listed.
    assert_eq!(partitions_read(&stats), 1, "{stats}");
    assert_eq!(files_read(&stats), 1, "{stats}");
    let (january, stats) = sql(
        dir.path(),
        "c.json",
        &[],
        "SELECT COUNT(*) AS n FROM events WHERE partition_0 = '2024' AND partition_1 = '01'",
    );
    assert_eq!(count(&january), 7);
    assert_eq!(partitions_read(&stats), 31, "{stats}");
    // Broken projection properties are refused when set, naming the property.
    let bad = cli_in(
        dir.path(),
        &[
            "query",
            "--catalog",
            "c.json",
            "--allow-writes",
            "ALTER TABLE events SET TBLPROPERTIES ('projection.partition_2.type' = 'weekday')",
        ],
    );
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr
            .contains("'projection.partition_2.type' is 'weekday'"),
        "{bad:?}"
    );
}
