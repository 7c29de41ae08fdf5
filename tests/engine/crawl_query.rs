//! Crawl real files and query them: inferred schemas and whole printed answers.

use crate::support::*;

struct Lake {
    dir: tempfile::TempDir,
}

impl Lake {
    fn new() -> Self {
        let dir = scratch();
        build_lake(&dir.path().join("lake"));
        crawl(
            dir.path(),
            &dir.path().join("lake"),
            &dir.path().join("catalog.json"),
        );
        Self { dir }
    }

    fn catalog(&self) -> std::path::PathBuf {
        self.dir.path().join("catalog.json")
    }

    fn query(&self, sql: &str) -> String {
        query(self.dir.path(), &self.catalog(), sql)
    }

    fn show(&self, table: &str) -> String {
        let out = cli_in(
            self.dir.path(),
            &[
                "catalog",
                "--catalog",
                self.catalog().to_str().unwrap(),
                "show",
                table,
            ],
        );
        assert_eq!(out.code, 0, "{out:?}");
        out.stdout
    }
}

#[test]
fn crawl_prints_every_table_and_skips_markers() {
    let dir = scratch();
    build_lake(&dir.path().join("lake"));
    let out = crawl(
        dir.path(),
        &dir.path().join("lake"),
        &dir.path().join("catalog.json"),
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("7 table(s) in database 'default' of catalog "),
        "{}",
        out.stdout
    );
    let table = lines[1..].join("\n");
    for (name, format, cols, parts, files) in [
        ("default.cars", "json", 9, 0, 1),
        ("default.cars_lines", "json", 9, 0, 1),
        ("default.planes", "csv", 9, 0, 1),
        ("default.stocks", "csv", 3, 0, 1),
        ("default.stocks_parquet", "parquet", 3, 0, 1),
        ("default.weather", "csv", 6, 0, 1),
        ("default.weather_by_year", "csv", 6, 4, 4),
    ] {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("| {name} ")))
            .unwrap_or_else(|| panic!("no row for {name} in\n{table}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells[2], format, "{row}");
        assert_eq!(cells[3], cols.to_string(), "{row}");
        assert_eq!(cells[4], parts.to_string(), "{row}");
        assert_eq!(cells[5], files.to_string(), "{row}");
        assert_eq!(cells[8], "created", "{row}");
    }
    // Markers and hidden files are skipped quietly, not reported as unreadable.
    assert!(!out.stderr.contains("_SUCCESS"), "{}", out.stderr);
    assert!(!out.stderr.contains(".crc"), "{}", out.stderr);
}

#[test]
fn inferred_schemas_of_real_files() {
    let lake = Lake::new();
    assert_eq!(
        lake.show("weather").lines().skip(2).collect::<Vec<_>>(),
        [
            "  date date (Arrow Date32, text form %Y/%m/%d)",
            "  precipitation double (Arrow Float64)",
            "  temp_max double (Arrow Float64)",
            "  temp_min double (Arrow Float64)",
            "  wind double (Arrow Float64)",
            "  weather string (Arrow Utf8)",
        ]
    );
    assert_eq!(
        lake.show("planes").lines().skip(2).collect::<Vec<_>>(),
        [
            "  tailnum string (Arrow Utf8)",
            "  year bigint (Arrow Int64)",
            "  type string (Arrow Utf8)",
            "  manufacturer string (Arrow Utf8)",
            "  model string (Arrow Utf8)",
            "  engines bigint (Arrow Int64)",
            "  seats bigint (Arrow Int64)",
            "  speed bigint (Arrow Int64)",
            "  engine string (Arrow Utf8)",
        ]
    );
    assert_eq!(
        lake.show("cars").lines().skip(2).collect::<Vec<_>>(),
        [
            "  name string (Arrow Utf8)",
            "  miles_per_gallon double (Arrow Float64)",
            "  cylinders bigint (Arrow Int64)",
            "  displacement double (Arrow Float64)",
            "  horsepower bigint (Arrow Int64)",
            "  weight_in_lbs bigint (Arrow Int64)",
            "  acceleration double (Arrow Float64)",
            "  year date (Arrow Date32, text form %Y-%m-%d)",
            "  origin string (Arrow Utf8)",
        ]
    );
    assert_eq!(
        lake.show("stocks").lines().skip(2).collect::<Vec<_>>(),
        [
            "  symbol string (Arrow Utf8)",
            "  date date (Arrow Date32, text form %b %d %Y)",
            "  price double (Arrow Float64)",
        ]
    );
    assert_eq!(
        lake.show("stocks_parquet")
            .lines()
            .skip(2)
            .collect::<Vec<_>>(),
        [
            "  symbol string (Arrow Utf8)",
            "  date date (Arrow Date32)",
            "  price double (Arrow Float64)"
        ]
    );
    let by_year = lake.show("weather_by_year");
    assert!(
        by_year.contains("  year bigint (Arrow Int64, partition key)\n"),
        "{by_year}"
    );
    assert!(
        by_year.contains("  partition 2013: 1 file(s), "),
        "{by_year}"
    );
}

#[test]
fn csv_with_slash_dates_answers() {
    let lake = Lake::new();
    assert_table(
        &lake.query("SELECT weather, COUNT(*) AS days, MIN(date) AS first FROM weather GROUP BY weather ORDER BY weather"),
        &[
            "+---------+------+------------+",
            "| weather | days | first      |",
            "+---------+------+------------+",
            "| drizzle | 54   | 2012-01-01 |",
            "| fog     | 411  | 2012-07-11 |",
            "| rain    | 259  | 2012-01-02 |",
            "| snow    | 23   | 2012-01-14 |",
            "| sun     | 714  | 2012-01-08 |",
            "+---------+------+------------+",
        ],
    );
}

#[test]
fn csv_with_na_nulls_answers() {
    let lake = Lake::new();
    assert_table(
        &lake.query("SELECT COUNT(*) AS planes, COUNT(speed) AS with_speed, COUNT(year) AS with_year, MAX(speed) AS fastest FROM planes"),
        &[
            "+--------+------------+-----------+---------+",
            "| planes | with_speed | with_year | fastest |",
            "+--------+------------+-----------+---------+",
            "| 3322   | 23         | 3252      | 432     |",
            "+--------+------------+-----------+---------+",
        ],
    );
}

#[test]
fn json_array_and_json_lines_give_the_same_answer() {
    let lake = Lake::new();
    let expected = [
        "+--------+------+-----------------+",
        "| origin | cars | with_horsepower |",
        "+--------+------+-----------------+",
        "| Europe | 73   | 71              |",
        "| Japan  | 79   | 79              |",
        "| USA    | 254  | 250             |",
        "+--------+------+-----------------+",
    ];
    for table in ["cars", "cars_lines"] {
        assert_table(
            &lake.query(&format!(
                "SELECT origin, COUNT(*) AS cars, COUNT(horsepower) AS with_horsepower FROM {table} GROUP BY origin ORDER BY origin"
            )),
            &expected,
        );
    }
}

#[test]
fn gzip_csv_and_parquet_give_the_same_answer() {
    let lake = Lake::new();
    let expected = [
        "+--------+--------+-----------+------------+",
        "| symbol | months | avg_price | first      |",
        "+--------+--------+-----------+------------+",
        "| AAPL   | 123    | 64.73     | 2000-01-01 |",
        "| AMZN   | 123    | 47.99     | 2000-01-01 |",
        "| GOOG   | 68     | 415.87    | 2004-08-01 |",
        "| IBM    | 123    | 91.26     | 2000-01-01 |",
        "| MSFT   | 123    | 24.74     | 2000-01-01 |",
        "+--------+--------+-----------+------------+",
    ];
    for table in ["stocks", "default.stocks_parquet"] {
        assert_table(
            &lake.query(&format!(
                "SELECT symbol, COUNT(*) AS months, ROUND(AVG(price), 2) AS avg_price, MIN(date) AS first FROM {table} GROUP BY symbol ORDER BY symbol"
            )),
            &expected,
        );
    }
}

#[test]
fn partition_filter_prunes_whole_partitions() {
    let lake = Lake::new();
    let cat = lake.catalog();
    let all = cli_in(
        lake.dir.path(),
        &[
            "query",
            "--catalog",
            cat.to_str().unwrap(),
            "SELECT COUNT(*) AS days FROM weather_by_year",
        ],
    );
    assert_table(
        &all.stdout,
        &["+------+", "| days |", "+------+", "| 1461 |", "+------+"],
    );
    assert!(all.stderr.contains("from 4 file(s)"), "{}", all.stderr);
    let one = cli_in(
        lake.dir.path(),
        &[
            "query",
            "--catalog",
            cat.to_str().unwrap(),
            "SELECT year, COUNT(*) AS days FROM weather_by_year WHERE year = 2013 GROUP BY year",
        ],
    );
    assert_table(
        &one.stdout,
        &[
            "+------+------+",
            "| year | days |",
            "+------+------+",
            "| 2013 | 365  |",
            "+------+------+",
        ],
    );
    assert!(one.stderr.contains("from 1 file(s)"), "{}", one.stderr);
}

#[test]
fn csv_and_json_output_formats() {
    let lake = Lake::new();
    let cat = lake.catalog();
    let sql = "SELECT symbol, COUNT(*) AS months FROM stocks WHERE symbol IN ('GOOG', 'IBM') GROUP BY symbol ORDER BY symbol";
    let csv = cli_in(
        lake.dir.path(),
        &[
            "query",
            "--catalog",
            cat.to_str().unwrap(),
            "--format",
            "csv",
            sql,
        ],
    );
    assert_eq!(csv.code, 0, "{csv:?}");
    assert_eq!(csv.stdout, "symbol,months\nGOOG,68\nIBM,123\n");
    let json = cli_in(
        lake.dir.path(),
        &[
            "query",
            "--catalog",
            cat.to_str().unwrap(),
            "--format",
            "json",
            sql,
        ],
    );
    assert_eq!(json.code, 0, "{json:?}");
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{"symbol": "GOOG", "months": 68}, {"symbol": "IBM", "months": 123}])
    );
}

#[test]
fn recrawl_after_schema_change_makes_a_new_version() {
    let lake = Lake::new();
    let root = lake.dir.path().join("lake");
    // A new file with an extra column lands in the planes table... as JSON lines elsewhere
    // would be another table, so change the CSV in place instead.
    let planes = std::fs::read_to_string(root.join("planes/planes.csv")).unwrap();
    let mut changed = String::new();
    for (i, line) in planes.lines().enumerate() {
        changed.push_str(line);
        changed.push_str(if i == 0 { ",owner\n" } else { ",acme\n" });
    }
    write(&root.join("planes/planes.csv"), &changed);
    let out = crawl(lake.dir.path(), &root, &lake.catalog());
    let row = out
        .stdout
        .lines()
        .find(|l| l.starts_with("| default.planes "))
        .unwrap();
    assert!(
        row.contains("| 2 ") && row.contains("updated") && row.contains("added column owner Utf8"),
        "{row}"
    );
    let history = cli_in(
        lake.dir.path(),
        &[
            "catalog",
            "--catalog",
            lake.catalog().to_str().unwrap(),
            "history",
            "planes",
        ],
    );
    let lines: Vec<&str> = history.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", history.stdout);
    assert!(
        lines[0].starts_with("v1\t") && lines[0].ends_with("\tcrawler:crawler\tcreated"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("v2\t") && lines[1].ends_with("\tadded column owner Utf8"),
        "{}",
        lines[1]
    );

    // With the log-only policy, a further change is reported but not applied.
    let mut more = String::new();
    for (i, line) in changed.lines().enumerate() {
        more.push_str(line);
        more.push_str(if i == 0 { ",note\n" } else { ",x\n" });
    }
    write(&root.join("planes/planes.csv"), &more);
    let out = cli_in(
        lake.dir.path(),
        &[
            "crawl",
            root.to_str().unwrap(),
            "--catalog",
            lake.catalog().to_str().unwrap(),
            "--schema-change-policy",
            "log",
        ],
    );
    let row = out
        .stdout
        .lines()
        .find(|l| l.starts_with("| default.planes "))
        .unwrap();
    assert!(
        row.contains("schema change logged") && row.contains("added column note Utf8"),
        "{row}"
    );
    let show = lake.show("planes");
    assert!(
        show.starts_with("default.planes (version 2, csv)"),
        "{show}"
    );
    assert!(!show.contains("note"), "{show}");
}

#[test]
fn rfc3339_timestamps_and_na_in_numbers() {
    let dir = scratch();
    write(
        &dir.path().join("lake/flights/flights.csv"),
        std::fs::read(data("flights-2013-01-sample.csv")).unwrap(),
    );
    crawl(
        dir.path(),
        &dir.path().join("lake"),
        &dir.path().join("c.json"),
    );
    let show = cli_in(
        dir.path(),
        &["catalog", "--catalog", "c.json", "show", "flights"],
    );
    let cols: Vec<&str> = show.stdout.lines().skip(2).collect();
    assert!(
        cols.contains(&"  dep_time bigint (Arrow Int64)"),
        "{cols:?}"
    );
    assert!(cols.contains(&"  carrier string (Arrow Utf8)"), "{cols:?}");
    assert!(
        cols.iter()
            .any(|c| c.starts_with("  time_hour timestamp (Arrow Timestamp(")
                && c.ends_with(", text form iso8601)")),
        "{cols:?}"
    );
    assert_table(
        &query(
            dir.path(),
            &dir.path().join("c.json"),
            "SELECT COUNT(*) AS flights, COUNT(*) - COUNT(dep_time) AS no_departure, COUNT(*) - COUNT(arr_delay) AS no_delay, MIN(time_hour) AS first, MAX(time_hour) AS last FROM flights",
        ),
        &[
            "+---------+--------------+----------+---------------------+---------------------+",
            "| flights | no_departure | no_delay | first               | last                |",
            "+---------+--------------+----------+---------------------+---------------------+",
            "| 3000    | 22           | 40       | 2013-01-01T10:00:00 | 2013-01-05T04:00:00 |",
            "+---------+--------------+----------+---------------------+---------------------+",
        ],
    );
}

#[test]
fn zstd_json_lines_and_a_deeper_table_level() {
    let dir = scratch();
    let cars = std::fs::read_to_string(data("cars.json")).unwrap();
    let values: Vec<serde_json::Value> = serde_json::from_str(&cars).unwrap();
    let lines: String = values.iter().map(|v| format!("{v}\n")).collect();
    let packed = zstd::encode_all(lines.as_bytes(), 3).unwrap();
    // Tables two folders deep: region/<table>/file.
    write(&dir.path().join("lake/eu/cars/part-0.json.zst"), &packed);
    write(
        &dir.path().join("lake/eu/power/iowa.csv"),
        std::fs::read(data("iowa-electricity.csv")).unwrap(),
    );
    let out = cli_in(
        dir.path(),
        &["crawl", "lake", "--catalog", "c.json", "--table-level", "2"],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("| default.cars  | json"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("| default.power | csv"),
        "{}",
        out.stdout
    );
    assert_table(
        &query(
            dir.path(),
            &dir.path().join("c.json"),
            "SELECT COUNT(*) AS cars, MAX(year) AS newest FROM cars",
        ),
        &[
            "+------+------------+",
            "| cars | newest     |",
            "+------+------------+",
            "| 406  | 1982-01-01 |",
            "+------+------------+",
        ],
    );
}
