//! Athena's statements besides SELECT, through `tributary query --allow-writes` as a user
//! runs them: CREATE TABLE AS (formats, partitioned_by, external_location, WITH NO DATA),
//! INSERT INTO, UNLOAD, CREATE/DROP VIEW, DROP TABLE, SHOW CREATE TABLE/VIEW, SHOW VIEWS
//! and DESCRIBE. Expected behaviour from Athena's documentation (create-table-as.html,
//! insert-into.html, unload.html, create-view.html).

use std::path::Path;

use serde_json::Value;

use crate::partitions::{count, sql};
use crate::support::*;

/// A crawled lake with the Seattle weather CSV (1,461 rows) and the stocks CSV.
fn lake() -> tempfile::TempDir {
    let dir = scratch();
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(lake.join("weather")).unwrap();
    std::fs::create_dir_all(lake.join("stocks")).unwrap();
    std::fs::copy(
        data("seattle-weather.csv"),
        lake.join("weather/seattle-weather.csv"),
    )
    .unwrap();
    std::fs::copy(data("stocks.csv"), lake.join("stocks/stocks.csv")).unwrap();
    crawl(dir.path(), &lake, &dir.path().join("c.json"));
    dir
}

/// Runs a statement that must fail; returns its error text.
fn refused(cwd: &Path, flags: &[&str], text: &str) -> String {
    let mut args = vec!["query", "--catalog", "c.json"];
    args.extend(flags);
    args.push(text);
    let out = cli_in(cwd, &args);
    assert_ne!(out.code, 0, "{text} should fail: {out:?}");
    out.stderr
}

fn catalog(cwd: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(cwd.join("c.json")).unwrap()).unwrap()
}

const W: &[&str] = &["--allow-writes"];

#[test]
fn create_table_as_insert_into_and_views_round_trip() {
    let dir = lake();
    let cwd = dir.path();
    // Writing needs allow_writes.
    let err = refused(cwd, &[], "CREATE TABLE wx AS SELECT * FROM weather");
    assert!(err.contains("allow_writes"), "{err}");

    // CTAS: Parquet (Athena's default format), partitioned, partition column last.
    let (out, stats) = sql(
        cwd,
        "c.json",
        W,
        "CREATE TABLE wx WITH (format = 'PARQUET', partitioned_by = ARRAY['weather']) AS SELECT date, precipitation, temp_max, weather FROM weather",
    );
    assert!(out.contains("default.wx,1461,"), "{out}");
    assert!(stats.contains("Athena would bill 10 MB"), "{stats}");
    let files = files_under(&cwd.join("tables/default/wx"));
    assert_eq!(files.len(), 5, "{files:?}");
    assert!(
        files
            .iter()
            .all(|f| f.starts_with("weather=") && f.ends_with(".parquet")),
        "{files:?}"
    );
    assert!(
        files_under(&cwd.join(".tributary/staging")).is_empty(),
        "staging left behind"
    );
    let by_weather = "SELECT weather, count(*) AS n, round(sum(precipitation), 1) AS p FROM {} GROUP BY weather ORDER BY weather";
    let (source, _) = sql(cwd, "c.json", &[], &by_weather.replace("{}", "weather"));
    let (copy, _) = sql(cwd, "c.json", &[], &by_weather.replace("{}", "wx"));
    assert_eq!(copy, source);
    assert!(source.contains("sun,714,"), "{source}");
    let (parts, _) = sql(cwd, "c.json", &[], "SHOW PARTITIONS wx");
    assert_eq!(parts.lines().count(), 6, "{parts}");

    // A CTAS names an existing table or a folder with files: refused as Athena does.
    let err = refused(cwd, W, "CREATE TABLE wx AS SELECT 1 AS a");
    assert!(err.contains("already exists"), "{err}");
    let err = refused(
        cwd,
        W,
        "CREATE TABLE wy WITH (external_location = 'tables/default/wx/') AS SELECT 1 AS a",
    );
    assert!(err.contains("HIVE_PATH_ALREADY_EXISTS"), "{err}");
    let err = refused(
        cwd,
        W,
        "CREATE TABLE wz WITH (partitioned_by = ARRAY['date']) AS SELECT date, weather FROM weather",
    );
    assert!(err.contains("HIVE_COLUMN_ORDER_MISMATCH"), "{err}");
    let err = refused(
        cwd,
        W,
        "CREATE TABLE wo WITH (format = 'ORC') AS SELECT 1 AS a",
    );
    assert!(err.contains("ORC"), "{err}");

    // INSERT INTO: by position, a column list leaves the others null, a new partition
    // is registered.
    let (out, _) = sql(
        cwd,
        "c.json",
        W,
        "INSERT INTO wx SELECT date, precipitation, temp_max, 'hail' FROM weather WHERE precipitation > 50",
    );
    assert!(out.contains("default.wx,3,1,"), "{out}");
    sql(
        cwd,
        "c.json",
        W,
        "INSERT INTO awsdatacatalog.default.wx (date, weather) VALUES (DATE '2020-01-01', 'hail')",
    );
    let (hail, _) = sql(
        cwd,
        "c.json",
        &[],
        "SELECT date, precipitation, weather FROM wx WHERE weather = 'hail' ORDER BY date",
    );
    assert_eq!(
        hail,
        "date,precipitation,weather\n2012-11-19,54.1,hail\n2015-03-15,55.9,hail\n2015-12-08,54.1,hail\n2020-01-01,,hail\n",
        "{hail}"
    );
    let (parts, _) = sql(cwd, "c.json", &[], "SHOW PARTITIONS wx");
    assert!(parts.contains("weather=hail"), "{parts}");
    let err = refused(cwd, W, "INSERT INTO wx SELECT date FROM weather");
    assert!(err.contains("mismatched column sizes"), "{err}");
    // A crawled CSV read with its own date form is not appended to.
    let err = refused(cwd, W, "INSERT INTO stocks SELECT * FROM stocks");
    assert!(err.contains("CREATE TABLE AS SELECT instead"), "{err}");

    // Views: saved in the catalog, read like tables, resolved in their database.
    let (out, _) = sql(
        cwd,
        "c.json",
        W,
        "CREATE VIEW wet AS SELECT date, precipitation FROM wx WHERE precipitation > 30",
    );
    assert!(out.contains("default.wet,created"), "{out}");
    let (n, _) = sql(cwd, "c.json", &[], "SELECT count(*) AS n FROM wet");
    let (m, _) = sql(
        cwd,
        "c.json",
        &[],
        "SELECT count(*) AS n FROM wx WHERE precipitation > 30",
    );
    assert_eq!(count(&n), count(&m));
    assert!(count(&n) > 0);
    assert_eq!(
        catalog(cwd)["databases"]["default"]["views"]["wet"]["sql"],
        "SELECT date, precipitation FROM wx WHERE precipitation > 30"
    );
    let (views, _) = sql(cwd, "c.json", &[], "SHOW VIEWS");
    assert_eq!(views, "views\nwet\n");
    let (ddl, _) = sql(cwd, "c.json", &[], "SHOW CREATE VIEW wet");
    assert!(ddl.contains("CREATE VIEW default.wet AS"), "{ddl}");
    let (desc, _) = sql(cwd, "c.json", &[], "DESCRIBE wet");
    assert_eq!(
        desc,
        "col_name,data_type,arrow_type,comment\ndate,date,Date32,\nprecipitation,double,Float64,\n"
    );
    let (tables, _) = sql(
        cwd,
        "c.json",
        &[],
        "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'default' ORDER BY table_name",
    );
    assert_eq!(
        tables,
        "table_name,table_type\nstocks,BASE TABLE\nweather,BASE TABLE\nwet,VIEW\nwx,BASE TABLE\n"
    );
    let err = refused(cwd, W, "CREATE VIEW wet AS SELECT 1 AS a");
    assert!(err.contains("CREATE OR REPLACE VIEW"), "{err}");
    sql(cwd, "c.json", W, "CREATE VIEW wet2 AS SELECT * FROM wet");
    let err = refused(cwd, W, "CREATE OR REPLACE VIEW wet AS SELECT * FROM wet2");
    assert!(err.contains("would read itself"), "{err}");
    // A view whose table changed under it is stale, as Athena says.
    sql(
        cwd,
        "c.json",
        W,
        "ALTER TABLE wx CHANGE COLUMN precipitation rain double",
    );
    let err = refused(cwd, &[], "SELECT * FROM wet");
    assert!(err.contains("is stale"), "{err}");
    let (out, _) = sql(
        cwd,
        "c.json",
        W,
        "CREATE OR REPLACE VIEW wet AS SELECT date, rain FROM wx WHERE rain > 30",
    );
    assert!(out.contains("default.wet,replaced"), "{out}");
    let (n2, _) = sql(cwd, "c.json", &[], "SELECT count(*) AS n FROM wet");
    assert_eq!(count(&n2), count(&n));
    sql(cwd, "c.json", W, "DROP VIEW wet2");
    let err = refused(cwd, W, "DROP VIEW wet2");
    assert!(err.contains("DROP VIEW IF EXISTS"), "{err}");

    // SHOW CREATE TABLE prints the Hive DDL; DESCRIBE gives Glue types.
    let (ddl, _) = sql(cwd, "c.json", &[], "SHOW CREATE TABLE wx");
    for part in [
        "CREATE EXTERNAL TABLE `default`.`wx`(",
        "`rain` double",
        "PARTITIONED BY (",
        "`weather` string",
        "ParquetHiveSerDe",
        "'classification'='parquet'",
    ] {
        assert!(ddl.contains(part), "{part} missing: {ddl}");
    }
    let (desc, _) = sql(cwd, "c.json", &[], "DESCRIBE wx");
    assert!(desc.contains("weather,string,Utf8,partition key"), "{desc}");

    // DROP TABLE: only tables Tributary wrote; the files stay, as Athena keeps them.
    let err = refused(cwd, W, "DROP TABLE weather");
    assert!(err.contains("crawler"), "{err}");
    let (_, notes) = sql(cwd, "c.json", W, "DROP TABLE wx");
    assert!(notes.contains("were kept"), "{notes}");
    assert!(notes.contains("default.wet"), "{notes}");
    assert!(
        catalog(cwd)["databases"]["default"]["tables"]
            .get("wx")
            .is_none()
    );
    assert_eq!(files_under(&cwd.join("tables/default/wx")).len(), 7);
}

#[test]
fn textfile_json_unload_and_with_no_data_write_what_athena_writes() {
    let dir = lake();
    let cwd = dir.path();
    // TEXTFILE: no header, the given delimiter; read back through the catalog.
    sql(
        cwd,
        "c.json",
        W,
        "CREATE TABLE ibm WITH (format = 'TEXTFILE', field_delimiter = '|', write_compression = 'NONE') AS SELECT symbol, date, price FROM stocks WHERE symbol = 'IBM' ORDER BY date LIMIT 3",
    );
    let files = files_under(&cwd.join("tables/default/ibm"));
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(cwd.join("tables/default/ibm").join(&files[0])).unwrap();
    assert_eq!(
        text,
        "IBM|2000-01-01|100.52\nIBM|2000-02-01|92.11\nIBM|2000-03-01|106.11\n"
    );
    let (back, _) = sql(
        cwd,
        "c.json",
        &[],
        "SELECT max(price) AS p, min(date) AS d FROM ibm",
    );
    assert_eq!(back, "p,d\n106.11,2000-01-01\n");
    // Appending keeps the table's form.
    sql(
        cwd,
        "c.json",
        W,
        "INSERT INTO ibm SELECT symbol, date, price FROM stocks WHERE symbol = 'AAPL' AND date = DATE '2000-01-01'",
    );
    let (n, _) = sql(cwd, "c.json", &[], "SELECT count(*) AS n FROM ibm");
    assert_eq!(count(&n), 4);

    // JSON, gzip by default: JSON lines in .json.gz files.
    sql(
        cwd,
        "c.json",
        W,
        "CREATE TABLE msft WITH (format = 'JSON') AS SELECT * FROM stocks WHERE symbol = 'MSFT'",
    );
    let files = files_under(&cwd.join("tables/default/msft"));
    assert!(files.iter().all(|f| f.ends_with(".json.gz")), "{files:?}");
    let (n, _) = sql(cwd, "c.json", &[], "SELECT count(*) AS n FROM msft");
    assert_eq!(count(&n), 123);

    // WITH NO DATA: the schema, no rows.
    sql(
        cwd,
        "c.json",
        W,
        "CREATE TABLE empty_copy AS SELECT * FROM stocks WITH NO DATA",
    );
    let (n, _) = sql(cwd, "c.json", &[], "SELECT count(*) AS n FROM empty_copy");
    assert_eq!(count(&n), 0);
    let (desc, _) = sql(cwd, "c.json", &[], "DESCRIBE empty_copy");
    assert!(desc.contains("price,double,Float64,"), "{desc}");

    // UNLOAD: files only, no table; the destination must be empty.
    let (out, stats) = sql(
        cwd,
        "c.json",
        W,
        "UNLOAD (SELECT symbol, price FROM stocks WHERE price > 500) TO 'out/big/' WITH (format = 'JSON', compression = 'NONE')",
    );
    let rows: u64 = out
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let written = records_under(&cwd.join("out/big"));
    assert_eq!(written.len() as u64, rows);
    assert!(rows > 0);
    assert!(written.iter().all(|r| r["price"].as_f64().unwrap() > 500.0));
    assert!(stats.contains("Athena would bill"), "{stats}");
    let c = catalog(cwd);
    assert!(c["databases"]["default"]["tables"].get("unload").is_none());
    let err = refused(
        cwd,
        W,
        "UNLOAD (SELECT 1 AS a) TO 'out/big/' WITH (format = 'JSON')",
    );
    assert!(err.contains("HIVE_PATH_ALREADY_EXISTS"), "{err}");
    let err = refused(cwd, W, "UNLOAD (SELECT 1 AS a) TO 'out/x/'");
    assert!(err.contains("needs a format"), "{err}");
}

#[test]
fn a_create_table_as_that_fails_half_way_leaves_nothing_behind() {
    let dir = lake();
    let cwd = dir.path();
    // The cast fails on the rainiest days, after other partitions were written.
    let err = refused(
        cwd,
        W,
        "CREATE TABLE bad WITH (partitioned_by = ARRAY['weather']) AS SELECT date, CAST(CASE WHEN precipitation > 50 THEN 'x' ELSE '1' END AS INT) AS n, weather FROM weather",
    );
    assert!(err.contains("'x'"), "{err}");
    assert!(!cwd.join("tables/default/bad").exists());
    assert!(files_under(&cwd.join(".tributary/staging")).is_empty());
    assert!(
        catalog(cwd)["databases"]["default"]["tables"]
            .get("bad")
            .is_none()
    );
    // An INSERT INTO that fails adds nothing to the table.
    sql(
        cwd,
        "c.json",
        W,
        "CREATE TABLE good AS SELECT date, weather FROM weather",
    );
    let before = files_under(&cwd.join("tables/default/good"));
    let err = refused(
        cwd,
        W,
        "INSERT INTO good SELECT date, CAST(CAST(CASE WHEN precipitation > 50 THEN 'x' ELSE '1' END AS INT) AS VARCHAR) FROM weather",
    );
    assert!(err.contains("'x'"), "{err}");
    assert_eq!(files_under(&cwd.join("tables/default/good")), before);
    let (n, _) = sql(cwd, "c.json", &[], "SELECT count(*) AS n FROM good");
    assert_eq!(count(&n), 1461);
}

#[test]
fn unnest_joins_answer_as_trino_does() {
    let dir = scratch();
    let cwd = dir.path();
    write(
        &cwd.join("lake/events/e.json"),
        "{\"id\":1,\"tags\":[\"a\",\"b\"],\"items\":[{\"sku\":\"x\",\"qty\":2},{\"sku\":\"y\",\"qty\":1}]}\n{\"id\":2,\"tags\":[\"c\"],\"items\":[{\"sku\":\"z\",\"qty\":5}]}\n{\"id\":3,\"tags\":[],\"items\":[]}\n",
    );
    crawl(cwd, &cwd.join("lake"), &cwd.join("c.json"));
    let q = |text: &str| sql(cwd, "c.json", &[], text).0;
    // Trino's forms: CROSS JOIN, a comma, qualified names through the unnest alias.
    let pairs = "id,tag\n1,a\n1,b\n2,c\n";
    assert_eq!(
        q("SELECT e.id, t.tag FROM events e CROSS JOIN UNNEST(e.tags) AS t(tag) ORDER BY 1, 2"),
        pairs
    );
    assert_eq!(
        q(
            "SELECT id, tag FROM awsdatacatalog.default.events, UNNEST(tags) AS t (tag) ORDER BY 1, 2"
        ),
        pairs
    );
    // An array of rows: one column per row, fields by name.
    assert_eq!(
        q(
            "SELECT sum(t.item.qty) AS qty, max(item.sku) AS top FROM events CROSS JOIN UNNEST(items) AS t(item)"
        ),
        "qty,top\n8,z\n"
    );
    // Positions, kept empty rows, zipped arrays, two joins multiplying.
    assert_eq!(
        q(
            "SELECT id, tag, n FROM events CROSS JOIN UNNEST(tags) WITH ORDINALITY AS t(tag, n) ORDER BY 1, 3"
        ),
        "id,tag,n\n1,a,1\n1,b,2\n2,c,1\n"
    );
    assert_eq!(
        q("SELECT id, tag FROM events LEFT JOIN UNNEST(tags) AS t(tag) ON TRUE ORDER BY 1, 2"),
        "id,tag\n1,a\n1,b\n2,c\n3,\n"
    );
    assert_eq!(
        q(
            "SELECT id, tag, i.sku AS sku FROM events CROSS JOIN UNNEST(tags, items) AS t(tag, i) ORDER BY 1, 2"
        ),
        "id,tag,sku\n1,a,x\n1,b,y\n2,c,z\n"
    );
    assert_eq!(
        count(&q(
            "SELECT count(*) AS n FROM events CROSS JOIN UNNEST(tags) AS a(tag) CROSS JOIN UNNEST(items) AS b(item)"
        )),
        5
    );
    // In a view and a CTAS too.
    sql(
        cwd,
        "c.json",
        W,
        "CREATE VIEW tagged AS SELECT id, tag FROM events CROSS JOIN UNNEST(tags) AS t(tag)",
    );
    assert_eq!(q("SELECT * FROM tagged ORDER BY 1, 2"), pairs);
    sql(
        cwd,
        "c.json",
        W,
        "CREATE TABLE tag_rows AS SELECT id, tag FROM events CROSS JOIN UNNEST(tags) AS t(tag)",
    );
    assert_eq!(count(&q("SELECT count(*) AS n FROM tag_rows")), 3);
    // Trino spreads a row's fields over several names; here that is refused with how.
    let err = refused(
        cwd,
        &[],
        "SELECT sku FROM events CROSS JOIN UNNEST(items) AS t(sku, qty)",
    );
    assert!(err.contains("name.field"), "{err}");
}
