//! Lakes as people have them: schemas that drift across partitions, JSON fields holding
//! numbers and text, types that change after the sampled rows, nested records.

use std::path::Path;

use crate::support::*;

fn q(cwd: &Path, flags: &[&str], sql: &str) -> Output {
    let mut args = vec!["query", "--catalog", "c.json"];
    args.extend(flags);
    args.push(sql);
    cli_in(cwd, &args)
}

fn ok(cwd: &Path, flags: &[&str], sql: &str) -> String {
    let out = q(cwd, flags, sql);
    assert_eq!(out.code, 0, "{sql}: {out:?}");
    out.stdout
}

#[test]
fn a_column_added_in_a_later_partition_is_null_in_the_older_ones_and_no_row_is_lost() {
    let dir = scratch();
    let lake = dir.path().join("lake");
    write(
        &lake.join("sales/year=2022/a.csv"),
        "id,amount\n1,10\n2,20\n",
    );
    write(&lake.join("sales/year=2023/a.csv"), "id,amount\n3,30\n");
    write(
        &lake.join("sales/year=2024/b.csv"),
        "id,amount,currency\n4,40,EUR\n5,50,USD\n",
    );
    // A file whose columns are in another order cannot be read by position: left out,
    // and said so by the crawl, the catalog and every query.
    write(&lake.join("sales/year=2025/c.csv"), "amount,id\n60,6\n");
    let crawled = crawl(dir.path(), &lake, &dir.path().join("c.json"));
    assert!(
        crawled.stderr.contains("year=2025/c.csv")
            && crawled.stderr.contains("CSV columns are read by position"),
        "{crawled:?}"
    );
    let out = ok(
        dir.path(),
        &["--format", "csv"],
        "SELECT id, amount, currency, year FROM sales ORDER BY id",
    );
    assert_eq!(
        out,
        "id,amount,currency,year\n1,10,,2022\n2,20,,2022\n3,30,,2023\n4,40,EUR,2024\n5,50,USD,2024\n"
    );
    let nulls = q(
        dir.path(),
        &["--format", "csv"],
        "SELECT COUNT(*) AS n FROM sales WHERE currency IS NULL",
    );
    assert_eq!(nulls.stdout, "n\n3\n", "{nulls:?}");
    assert!(
        nulls.stderr.contains("leaves out 1 file(s)") && nulls.stderr.contains("year=2025/c.csv"),
        "{nulls:?}"
    );
    let show = cli_in(
        dir.path(),
        &["catalog", "--catalog", "c.json", "show", "sales"],
    );
    assert!(
        show.stdout
            .contains("  left out (the crawler could not use it): year=2025/c.csv\n"),
        "{show:?}"
    );
}

#[test]
fn json_numbers_in_a_text_column_read_as_text_and_a_late_bad_value_names_its_file_and_line() {
    let dir = scratch();
    let lake = dir.path().join("lake");
    write(
        &lake.join("customers/a.json"),
        "{\"id\": 1, \"zip\": 12345, \"vip\": true}\n{\"id\": 2, \"zip\": \"A1B 2C3\", \"vip\": \"yes\"}\n",
    );
    // 60,000 numbers (more than the crawler samples), then a word.
    let mut big = String::new();
    for i in 0..60_000 {
        big.push_str(&format!(
            "{{\"id\": {i}, \"v\": {i}, \"pad\": \"{}\"}}\n",
            "x".repeat(40)
        ));
    }
    big.push_str("{\"id\": -1, \"v\": \"n/a\", \"pad\": \"\"}\n");
    write(&lake.join("late/big.json"), big);
    crawl(dir.path(), &lake, &dir.path().join("c.json"));
    assert_eq!(
        ok(
            dir.path(),
            &["--format", "csv"],
            "SELECT zip, vip FROM customers ORDER BY id"
        ),
        "zip,vip\n12345,true\nA1B 2C3,yes\n"
    );
    let bad = q(dir.path(), &[], "SELECT MAX(v) FROM late");
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr.contains("late/big.json' (line 60001)")
            && bad.stderr.contains("failed to parse \"n/a\" as Int64")
            && bad.stderr.contains("CHANGE COLUMN"),
        "{bad:?}"
    );
    // The fix the message names: a type that holds every value.
    let changed = ok(
        dir.path(),
        &["--allow-writes", "--format", "csv"],
        "ALTER TABLE late CHANGE COLUMN v v string",
    );
    assert_eq!(changed, "column,type,was\nv,string,bigint\n");
    assert_eq!(
        ok(
            dir.path(),
            &["--format", "csv"],
            "SELECT COUNT(*) AS n, MAX(v) AS m FROM late WHERE v = 'n/a'"
        ),
        "n,m\n1,n/a\n"
    );
    let history = cli_in(
        dir.path(),
        &["catalog", "--catalog", "c.json", "history", "late"],
    );
    assert!(
        history
            .stdout
            .contains("column v changed type Int64 -> Utf8"),
        "{history:?}"
    );
}

#[test]
fn nested_fields_answer_beside_a_converted_timestamp_and_print_as_json_text_in_csv() {
    let dir = scratch();
    let lake = dir.path().join("lake");
    let mut events = String::new();
    for i in 0..3 {
        events.push_str(&format!(
            "{{\"id\": {i}, \"ts\": \"2024-01-0{}T10:00:00Z\", \"customer\": {{\"name\": \"n{i}\", \"address\": {{\"city\": \"c{i}\"}}}}, \"note\": null}}\n",
            i + 1
        ));
    }
    write(&lake.join("events/e.json"), events);
    crawl(dir.path(), &lake, &dir.path().join("c.json"));
    assert_eq!(
        ok(
            dir.path(),
            &["--format", "csv"],
            "SELECT customer.address.city AS city, customer['name'] AS name FROM events \
             WHERE ts > TIMESTAMP '2024-01-01 12:00:00' ORDER BY id",
        ),
        "city,name\nc1,n1\nc2,n2\n"
    );
    let csv = ok(
        dir.path(),
        &["--format", "csv"],
        "SELECT id, customer FROM events WHERE id = 0",
    );
    assert_eq!(
        csv,
        "id,customer\n0,\"{\"\"name\"\":\"\"n0\"\",\"\"address\"\":{\"\"city\"\":\"\"c0\"\"}}\"\n"
    );
    // JSON output keeps keys whose value is null.
    let json = ok(
        dir.path(),
        &["--format", "json"],
        "SELECT id, CAST(NULL AS BIGINT) AS missing FROM events WHERE id = 0",
    );
    assert_eq!(json.trim(), "[{\"id\":0,\"missing\":null}]");
}

#[test]
fn a_fifo_and_a_broken_symlink_are_reported_and_an_empty_folder_says_why_nothing_was_found() {
    let dir = scratch();
    let lake = dir.path().join("lake");
    write(&lake.join("t/x.csv"), "a,b\n1,2\n");
    let fifo = lake.join("t/pipe.csv");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    std::os::unix::fs::symlink("/nonexistent/file.csv", lake.join("t/broken.csv")).unwrap();
    let out = crawl(dir.path(), &lake, &dir.path().join("c.json"));
    assert!(
        out.stderr
            .contains("skipped 't/pipe.csv': a named pipe (FIFO), not a file"),
        "{out:?}"
    );
    assert!(
        out.stderr.contains(
            "skipped 't/broken.csv': a broken symlink (its target '/nonexistent/file.csv' does not exist)"
        ),
        "{out:?}"
    );
    assert_eq!(
        ok(dir.path(), &["--format", "csv"], "SELECT a, b FROM t"),
        "a,b\n1,2\n"
    );
    // An empty folder, and one with only marker files: no tables, and why.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = crawl(dir.path(), &empty, &dir.path().join("e.json"));
    assert!(
        out.stderr
            .contains("no tables: bucket 'empty' holds no files"),
        "{out:?}"
    );
    write(&empty.join("_SUCCESS"), "");
    let out = crawl(dir.path(), &empty, &dir.path().join("e.json"));
    assert!(
        out.stderr
            .contains("holds only hidden or marker files (1 such as '_SUCCESS')"),
        "{out:?}"
    );
}

#[test]
fn exclusions_delete_behavior_and_new_folders_only_recrawls_act_as_glue_documents() {
    let dir = scratch();
    let lake = dir.path().join("lake");
    write(&lake.join("orders/year=2023/a.csv"), "id,amount\n1,10\n");
    write(&lake.join("orders/year=2024/b.csv"), "id,amount\n2,20\n");
    write(
        &lake.join("orders/year=2024/notes.tmp.csv"),
        "x\nnot an order\n",
    );
    write(&lake.join("scratch/tmp.csv"), "a\n1\n");
    let crawl_with = |extra: &[&str]| {
        let mut args = vec![
            "crawl",
            lake.to_str().unwrap(),
            "--catalog",
            "c.json",
            "--exclude",
            "**.tmp.csv",
        ];
        args.extend(extra);
        let out = cli_in(dir.path(), &args);
        assert_eq!(out.code, 0, "{out:?}");
        out
    };
    let first = crawl_with(&[]);
    // The excluded file did not shape the schema (it would have been refused), and the
    // crawl says Athena reads it anyway.
    assert!(!first.stderr.contains("notes.tmp.csv': CSV"), "{first:?}");
    assert!(
        first
            .stderr
            .contains("1 excluded file(s) such as 'orders/year=2024/notes.tmp.csv'"),
        "{first:?}"
    );
    // A new partition folder and a changed schema; recrawling only new folders adds the
    // folder and keeps the schema.
    write(
        &lake.join("orders/year=2025/c.csv"),
        "id,amount,currency\n3,30,EUR\n",
    );
    std::fs::remove_dir_all(lake.join("scratch")).unwrap();
    let second = crawl_with(&["--recrawl-behavior", "crawl_new_folders_only"]);
    assert!(second.stdout.contains("new folders added"), "{second:?}");
    let show = cli_in(
        dir.path(),
        &["catalog", "--catalog", "c.json", "show", "orders"],
    );
    assert!(!show.stdout.contains("currency"), "{show:?}");
    assert!(
        show.stdout.contains("  partition 2025: 1 file(s)"),
        "{show:?}"
    );
    // The table whose folder is gone is deprecated (Glue's default), then deleted.
    assert!(
        second.stdout.contains("default.scratch") && second.stdout.contains("deprecated"),
        "{second:?}"
    );
    let scratch_table = cli_in(
        dir.path(),
        &["catalog", "--catalog", "c.json", "show", "scratch"],
    );
    assert!(
        scratch_table
            .stdout
            .contains("  property DEPRECATED_BY_CRAWLER = "),
        "{scratch_table:?}"
    );
    let third = crawl_with(&["--delete-behavior", "delete_from_database"]);
    assert!(third.stdout.contains("deleted"), "{third:?}");
    let tables = cli_in(dir.path(), &["catalog", "--catalog", "c.json", "tables"]);
    assert!(!tables.stdout.contains("scratch"), "{tables:?}");
    // A full recrawl brings the schema up to date.
    assert!(third.stdout.contains("added column currency"), "{third:?}");
}

#[test]
fn a_european_export_reads_decimal_commas_and_serde_properties_choose_nulls_and_quotes() {
    let dir = scratch();
    let lake = dir.path().join("lake");
    // A till receipt as a German spreadsheet exports it: `;`, decimal commas, a
    // thousands dot, NA for missing, a quoted field holding the delimiter.
    write(
        &lake.join("prices/kassenbon.csv"),
        "Datum;Artikel;Preis;Menge;Notiz\n06.12.2026;Milch 1,5%;1,19;2;NA\n06.12.2026;Kaffee;8,49;1;\"Angebot; nur heute\"\n07.12.2026;Butter;2,29;NA;\n07.12.2026;Fernseher;1.299,00;1;NA\n",
    );
    write(
        &lake.join("quoted/q.csv"),
        "name|qty\n'Smith|Jones'|2\n'Lee'|3\n'Ng'|4\n",
    );
    write(
        &lake.join("quoted_numbers/n.csv"),
        "item,price\nA,\"3,49\"\nB,\"1.000,5\"\n",
    );
    let crawl_lake = || {
        cli_in(dir.path(), &["crawl", "lake", "--catalog", "c.json"]);
    };
    crawl_lake();
    let cwd = dir.path();
    let desc = ok(cwd, &["--format", "csv"], "DESCRIBE prices");
    assert!(desc.contains("preis,double,Float64,"), "{desc}");
    assert_eq!(
        ok(
            cwd,
            &["--format", "csv"],
            "SELECT round(sum(preis * coalesce(menge, 1)), 2) AS total, max(preis) AS top, count(notiz) AS notes FROM prices"
        ),
        "total,top,notes\n1312.16,1299.0,1\n"
    );
    // Athena keeps NA as text: the user chooses that per table.
    ok(
        cwd,
        &["--allow-writes"],
        "ALTER TABLE prices SET SERDEPROPERTIES ('serialization.null.format' = '')",
    );
    assert_eq!(
        ok(
            cwd,
            &["--format", "csv"],
            "SELECT count(notiz) AS notes FROM prices WHERE notiz = 'NA'"
        ),
        "notes\n2\n"
    );
    // NA in the number column now fails, and says what to do.
    let out = q(cwd, &[], "SELECT menge FROM prices");
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("'NA'") && out.stderr.contains("serialization.null.format"),
        "{}",
        out.stderr
    );
    // What the user set outlives a recrawl.
    crawl_lake();
    assert_eq!(
        ok(
            cwd,
            &["--format", "csv"],
            "SELECT count(notiz) AS notes FROM prices"
        ),
        "notes\n3\n"
    );
    let ddl = ok(cwd, &["--format", "csv"], "SHOW CREATE TABLE prices");
    assert!(ddl.contains("'field.delim'=';'"), "{ddl}");
    assert!(ddl.contains("'serialization.null.format'=''"), "{ddl}");
    // A quote character the sniffer did not know.
    assert_ne!(q(cwd, &[], "SELECT * FROM quoted").code, 0);
    ok(
        cwd,
        &["--allow-writes"],
        "ALTER TABLE quoted SET SERDEPROPERTIES ('quoteChar' = '''')",
    );
    assert_eq!(
        ok(
            cwd,
            &["--format", "csv"],
            "SELECT name, qty FROM quoted ORDER BY qty"
        ),
        "name,qty\nSmith|Jones,2\nLee,3\nNg,4\n"
    );
    // A decimal separator for a comma file whose quoted numbers the crawler left as
    // text (a decimal comma is only guessed when the delimiter is not a comma).
    ok(
        cwd,
        &["--allow-writes"],
        "ALTER TABLE quoted_numbers SET SERDEPROPERTIES ('decimal.separator' = ',')",
    );
    ok(
        cwd,
        &["--allow-writes"],
        "ALTER TABLE quoted_numbers CHANGE COLUMN price price double",
    );
    assert_eq!(
        ok(
            cwd,
            &["--format", "csv"],
            "SELECT sum(price) AS total FROM quoted_numbers"
        ),
        "total\n1003.99\n"
    );
    let out = q(
        cwd,
        &["--allow-writes"],
        "ALTER TABLE quoted SET SERDEPROPERTIES ('decimal.separator' = ';')",
    );
    assert!(out.stderr.contains("'.' or ','"), "{}", out.stderr);
    let out = q(
        cwd,
        &["--allow-writes"],
        "ALTER TABLE quoted SET SERDEPROPERTIES ('line.delim' = '\\n')",
    );
    assert!(out.stderr.contains("decimal.separator"), "{}", out.stderr);
}

#[test]
fn combine_compatible_schemas_makes_one_table_of_compatible_folders_as_glue_does() {
    let dir = scratch();
    let cwd = dir.path();
    write(
        &cwd.join("lake/sales_2023/a.csv"),
        "id,amount\n1,10\n2,20\n",
    );
    write(
        &cwd.join("lake/sales_2024/b.csv"),
        "id,amount,region\n3,30,eu\n",
    );
    write(&cwd.join("lake/customers/c.csv"), "name,city\nAnn,Oslo\n");
    // A crawler pointed at a Firehose prefix itself.
    write(
        &cwd.join("orders/2026/12/06/17/x.json"),
        "{\"id\":1,\"v\":2.5}\n",
    );
    write(
        &cwd.join("orders/2026/12/06/18/y.json"),
        "{\"id\":2,\"v\":3}\n",
    );
    let crawl = |folder: &str, grouping: &str| {
        let out = cli_in(
            cwd,
            &[
                "crawl",
                folder,
                "--catalog",
                "c.json",
                "--table-grouping-policy",
                grouping,
            ],
        );
        assert_eq!(out.code, 0, "{out:?}");
        out.stdout
    };
    // Without grouping, every folder is a table; the Firehose prefix makes a table of
    // its year folder.
    let tables = crawl("lake", "none");
    assert!(tables.contains("default.sales_2023"), "{tables}");
    let tables = crawl("orders", "none");
    assert!(tables.contains("default.2026 "), "{tables}");
    std::fs::remove_file(cwd.join("c.json")).unwrap();
    // Grouped: the compatible sales folders are one table named after their parent,
    // each folder a partition; customers shares no column and stays apart.
    let tables = crawl("lake", "combine_compatible_schemas");
    assert!(tables.contains("default.lake "), "{tables}");
    assert!(tables.contains("default.customers "), "{tables}");
    assert!(!tables.contains("sales_2023 "), "{tables}");
    assert_eq!(
        ok(
            cwd,
            &["--format", "csv"],
            "SELECT id, amount, region, partition_0 FROM lake ORDER BY id"
        ),
        "id,amount,region,partition_0\n1,10,,sales_2023\n2,20,,sales_2023\n3,30,eu,sales_2024\n"
    );
    let tables = crawl("orders", "combine_compatible_schemas");
    assert!(tables.contains("default.orders "), "{tables}");
    assert_eq!(
        ok(
            cwd,
            &["--format", "csv"],
            "SELECT sum(v) AS v FROM orders WHERE partition_3 = '18'"
        ),
        "v\n3.0\n"
    );
}

#[test]
fn file_names_with_percent_signs_are_read_as_named() {
    let dir = scratch();
    write(&dir.path().join("lake/t/x%20y.csv"), "a,b\n1,2\n");
    write(&dir.path().join("lake/t/100%.csv"), "a,b\n3,4\n");
    crawl(
        dir.path(),
        &dir.path().join("lake"),
        &dir.path().join("c.json"),
    );
    assert_eq!(
        ok(
            dir.path(),
            &["--format", "csv"],
            "SELECT sum(a) AS a FROM t"
        ),
        "a\n4\n"
    );
}

#[test]
fn avro_and_orc_lakes_written_by_other_tools_answer_like_the_csv_they_came_from() {
    // seattle-weather.csv as fastavro and Apache ORC (C++, through pyarrow) wrote it: a
    // hive folder per year, a codec per file (null/deflate/snappy/zstd; none/zlib/snappy/
    // zstd), a record and an array column, and a `station` column only in 2015's files.
    let dir = scratch();
    let lake = dir.path().join("lake");
    copy_tree(&data("weather_avro"), &lake.join("weather_avro"));
    copy_tree(&data("weather_orc"), &lake.join("weather_orc"));
    write(
        &lake.join("weather/seattle-weather.csv"),
        std::fs::read(data("seattle-weather.csv")).unwrap(),
    );
    // Found by their magic bytes too: Firehose-style names without an extension.
    write(
        &lake.join("events/part-0001"),
        std::fs::read(data("weather_avro/year=2013/part-0.avro")).unwrap(),
    );
    let crawled = crawl(dir.path(), &lake, &dir.path().join("c.json"));
    for (table, format) in [
        ("default.weather_avro", "avro"),
        ("default.weather_orc", "orc"),
        ("default.events", "avro"),
    ] {
        assert!(
            crawled
                .stdout
                .lines()
                .any(|l| l.contains(&format!("| {table} ")) && l.contains(&format!("| {format} "))),
            "{table}: {crawled:?}"
        );
    }
    for table in ["weather_avro", "weather_orc"] {
        let show = cli_in(
            dir.path(),
            &["catalog", "--catalog", "c.json", "show", table],
        );
        for line in [
            "  date date (Arrow Date32)",
            "  temps struct<max:double,min:double>",
            "  tags array<string>",
            // Merged across files: null in the years before it was added.
            "  station string (Arrow Utf8)",
            "  year bigint (Arrow Int64, partition key)",
            "  partition 2015: 1 file(s)",
        ] {
            assert!(show.stdout.contains(line), "{table}: {line}: {show:?}");
        }
        let out = ok(
            dir.path(),
            &["--format", "csv"],
            &format!(
                "SELECT year, COUNT(*) AS n, ROUND(SUM(precipitation), 1) AS p, MAX(temps.max) AS tmax, \
                 MIN(temps.min) AS tmin, COUNT(station) AS st FROM {table} GROUP BY year ORDER BY year"
            ),
        );
        assert_eq!(
            out,
            "year,n,p,tmax,tmin,st\n2012,366,1226.0,34.4,-3.3,0\n2013,365,828.0,33.9,-7.1,0\n\
             2014,365,1232.8,35.6,-6.0,0\n2015,365,1139.2,35.0,-3.8,365\n",
            "{table}"
        );
        // A partition filter reads one file; columns in another order than the file's;
        // an UNNEST of the array column.
        let one = q(
            dir.path(),
            &["--format", "csv"],
            &format!(
                "SELECT tag, wind, date FROM {table} CROSS JOIN UNNEST(tags) AS u(tag) \
                 WHERE year = 2014 AND date = DATE '2014-03-01'"
            ),
        );
        assert_eq!(one.stdout, "tag,wind,date\nsun,4.7,2014-03-01\n", "{one:?}");
        assert!(
            one.stderr.contains("from 1 file(s) in 1 partition(s)"),
            "{one:?}"
        );
    }
    // The CSV gives the same figures.
    let csv = ok(
        dir.path(),
        &["--format", "csv"],
        "SELECT EXTRACT(year FROM date) AS year, COUNT(*) AS n, ROUND(SUM(precipitation), 1) AS p, \
         MAX(temp_max) AS tmax, MIN(temp_min) AS tmin FROM weather GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(
        csv,
        "year,n,p,tmax,tmin\n2012,366,1226.0,34.4,-3.3\n2013,365,828.0,33.9,-7.1\n\
         2014,365,1232.8,35.6,-6.0\n2015,365,1139.2,35.0,-3.8\n"
    );
    let events = ok(
        dir.path(),
        &["--format", "csv"],
        "SELECT COUNT(*) AS n, MIN(date) AS first FROM events",
    );
    assert_eq!(events, "n,first\n365,2013-01-01\n");
    let ddl = ok(dir.path(), &[], "SHOW CREATE TABLE weather_orc");
    assert!(
        ddl.contains("'org.apache.hadoop.hive.ql.io.orc.OrcSerde'")
            && ddl.contains("'classification'='orc'"),
        "{ddl}"
    );
    // Read only: Tributary does not write them, and says so.
    let w = ["--allow-writes"];
    let ctas = q(
        dir.path(),
        &w,
        "CREATE TABLE t WITH (format = 'ORC') AS SELECT 1 AS x",
    );
    assert_eq!(ctas.code, 1);
    assert!(
        ctas.stderr
            .contains("Tributary writes PARQUET, JSON and TEXTFILE (it reads ORC and AVRO tables"),
        "{ctas:?}"
    );
    let insert = q(
        dir.path(),
        &w,
        "INSERT INTO weather_avro (wind) VALUES (1.0)",
    );
    assert!(
        insert
            .stderr
            .contains("its files are avro, which Tributary reads but does not write"),
        "{insert:?}"
    );
    let project = serde_json::json!({
        "format_version": 1,
        "nodes": [
            {"id": "catalog", "kind": "catalog", "config": {"path": "c.json"}},
            {"id": "lake", "kind": "bucket", "config": {"path": "lake"}},
            {"id": "job", "kind": "etl", "config": {
                "sql": "SELECT * FROM weather", "table": "w2", "output_prefix": "w2", "format": "orc"}}
        ],
        "edges": [
            {"from": {"node": "catalog", "port": "catalog"}, "to": {"node": "job", "port": "catalog"}},
            {"from": {"node": "lake", "port": "bucket"}, "to": {"node": "job", "port": "target"}}
        ]
    });
    write(&dir.path().join("p.json"), project.to_string());
    let out = cli_in(dir.path(), &["validate", "p.json"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains(
            "node 'job': config: format: format 'orc' is read only here: Tributary reads orc files (crawler, queries) but writes parquet, csv, json"
        ),
        "{out:?}"
    );
}
