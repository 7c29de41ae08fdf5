//! Table and view statements: `CREATE TABLE AS`, `INSERT INTO` and `UNLOAD` write through
//! the ETL writer (staged, then committed, then registered: a statement that fails
//! half-way leaves no files and no table); `DROP TABLE` removes only tables Tributary
//! wrote; `DROP VIEW` and `SHOW VIEWS`. The statements dispatch from here to `views.rs`
//! (`CREATE VIEW`) and `show.rs` (`SHOW CREATE`, `DESCRIBE`).

use super::*;
use crate::lake::bucket::Bucket;
use crate::lake::catalog::{Column, DEFAULT_DATABASE};
use crate::lake::sniff::{Compression, CsvDialect, FileFormat};
use crate::lake::writer::{
    EtlReport, EtlSpec, OutputCompression, Registration, WRITTEN_CSV, WriteMode, run_etl,
    written_column,
};

/// Header, rows and, for statements that wrote, what the writer reported.
pub(super) type Outcome = (Vec<&'static str>, Vec<Vec<String>>, Option<EtlReport>);

/// Who made a table, from its first version: tables made by these writers hold files
/// Tributary wrote, so `DROP TABLE` may remove them.
const TRIBUTARY_WRITERS: &[&str] = &["query:", "etl:", "firehose:", "cli"];

/// Athena refuses a CTAS, INSERT INTO or UNLOAD that writes more partitions than this
/// (`HIVE_TOO_MANY_OPEN_PARTITIONS`).
const ATHENA_MAX_WRITTEN_PARTITIONS: usize = 100;

pub(super) async fn execute(
    runner: &Runner<'_>,
    store: &CatalogStore,
    statement: &CatalogStatement,
) -> Result<Outcome> {
    match statement {
        CatalogStatement::CreateTableAs {
            table,
            if_not_exists,
            properties,
            query,
            with_data,
        } => {
            create_table_as(
                runner,
                store,
                table,
                *if_not_exists,
                properties,
                query,
                *with_data,
            )
            .await
        }
        CatalogStatement::InsertInto {
            table,
            columns,
            query,
        } => insert_into(runner, store, table, columns, query).await,
        CatalogStatement::Unload {
            query,
            location,
            properties,
        } => unload(runner, store, query, location, properties).await,
        CatalogStatement::CreateView {
            view,
            or_replace,
            query,
        } => super::views::create_view(runner, store, view, *or_replace, query).await,
        CatalogStatement::DropView { view, if_exists } => {
            let (db, name) = split_name(view);
            let dropped = store.update(|c| {
                Ok(c.databases
                    .get_mut(&db)
                    .and_then(|d| d.views.remove(&name))
                    .is_some())
            })?;
            if !dropped && !*if_exists {
                return Err(Error::Sql(format!(
                    "view '{db}.{name}' does not exist (write DROP VIEW IF EXISTS to skip it)"
                )));
            }
            let status = if dropped { "dropped" } else { "not found" };
            Ok((
                vec!["view", "status"],
                vec![vec![format!("{db}.{name}"), status.to_owned()]],
                None,
            ))
        }
        CatalogStatement::DropTable { table, if_exists } => {
            drop_table(runner, store, table, *if_exists)
        }
        CatalogStatement::ShowCreate { name, view } => super::show::show_create(store, name, *view),
        CatalogStatement::ShowViews { database } => {
            let db = database
                .clone()
                .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
            let catalog = store.snapshot();
            let d = catalog
                .databases
                .get(&db)
                .ok_or_else(|| Error::Sql(format!("no database '{db}'")))?;
            let rows = d.views.keys().map(|v| vec![v.clone()]).collect();
            Ok((vec!["views"], rows, None))
        }
        CatalogStatement::Describe { table } => super::show::describe(store, table),
        _ => Err(Error::Internal(format!(
            "{} is not a table statement",
            statement.name()
        ))),
    }
}

/// `db` and `name` of a name as written (bare names are in the default database).
pub(super) fn split_name(name: &str) -> (String, String) {
    match name.split_once('.') {
        Some((d, n)) => (d.to_owned(), n.to_owned()),
        None => (DEFAULT_DATABASE.to_owned(), name.to_owned()),
    }
}

/// How a CTAS or UNLOAD writes, from its `WITH (…)` properties.
struct WriteOptions {
    format: FileFormat,
    compression: OutputCompression,
    csv: CsvDialect,
    partitioned_by: Vec<String>,
    location: Option<String>,
}

/// Reads Athena's CTAS / UNLOAD properties. `statement` names the statement in messages;
/// `compression_key` is `write_compression` (CTAS) or `compression` (UNLOAD).
fn write_options(
    statement: &str,
    properties: &[(String, Property)],
    compression_key: &str,
    hooks: &ScanHooks,
) -> Result<WriteOptions> {
    let text = |name: &str, v: &Property| match v {
        Property::Text(t) => Ok(t.clone()),
        Property::List(_) => Err(Error::Sql(format!(
            "{statement} property {name} takes a single value, not an ARRAY"
        ))),
    };
    let mut format = None;
    let mut compression = None;
    let mut delimiter = None;
    let mut partitioned_by = Vec::new();
    let mut location = None;
    for (name, value) in properties {
        match name.as_str() {
            "format" => format = Some(text(name, value)?),
            n if n == compression_key || n == "parquet_compression" => {
                compression = Some(text(name, value)?)
            }
            "field_delimiter" => delimiter = Some(text(name, value)?),
            "partitioned_by" => match value {
                Property::List(cols) => partitioned_by = cols.iter().map(|c| c.to_lowercase()).collect(),
                Property::Text(_) => {
                    return Err(Error::Sql(format!(
                        "partitioned_by takes an array of column names: partitioned_by = ARRAY['{}']",
                        text("", value).unwrap_or_default()
                    )));
                }
            },
            "external_location" if statement == "CREATE TABLE AS" => {
                location = Some(text(name, value)?)
            }
            "table_type" => {
                let t = text(name, value)?;
                if !t.eq_ignore_ascii_case("HIVE") {
                    return Err(Error::Sql(format!(
                        "table_type '{t}' is not supported: Tributary writes Hive tables (files in folders), Athena's default"
                    )));
                }
            }
            "is_external" => {}
            "bucketed_by" | "bucket_count" => hooks.note(format!(
                "{name} is not applied: the files are not bucketed (queries give the same rows; Athena would spread them over bucket files)"
            )),
            other => {
                return Err(Error::Sql(format!(
                    "{statement} has no property '{other}' here (known: format, {compression_key}, field_delimiter, partitioned_by{}, table_type, bucketed_by, bucket_count)",
                    if statement == "CREATE TABLE AS" {
                        ", external_location"
                    } else {
                        ""
                    }
                )));
            }
        }
    }
    let format = match format.as_deref().map(str::to_uppercase).as_deref() {
        None if statement == "UNLOAD" => {
            return Err(Error::Sql(
                "UNLOAD needs a format: WITH (format = 'PARQUET' | 'JSON' | 'TEXTFILE')".to_owned(),
            ));
        }
        // Athena's CTAS default.
        None | Some("PARQUET") => FileFormat::Parquet,
        Some("JSON") => FileFormat::Json,
        Some("TEXTFILE") => FileFormat::Csv,
        Some(other) => {
            return Err(Error::Sql(format!(
                "format '{other}' cannot be written here: Tributary writes PARQUET, JSON and TEXTFILE (it reads ORC and AVRO tables but does not write them; ION is not supported)"
            )));
        }
    };
    // Athena compresses every format with GZIP unless told otherwise.
    let compression = match compression.as_deref().map(str::to_uppercase).as_deref() {
        None | Some("GZIP") => OutputCompression::Gzip,
        Some("SNAPPY") if format == FileFormat::Parquet => OutputCompression::Snappy,
        Some("ZSTD") => OutputCompression::Zstd,
        Some("NONE") | Some("UNCOMPRESSED") => OutputCompression::None,
        Some(other) => {
            return Err(Error::Sql(format!(
                "{compression_key} '{other}' is not supported for {}: use GZIP, ZSTD, NONE{}",
                format_name(format),
                if format == FileFormat::Parquet {
                    " or SNAPPY"
                } else {
                    ""
                }
            )));
        }
    };
    let csv = match delimiter {
        None => CsvDialect {
            // Athena's TEXTFILE default: Hive's ^A, no header.
            delimiter: 0x01,
            has_header: false,
        },
        Some(d) if format != FileFormat::Csv => {
            return Err(Error::Sql(format!(
                "field_delimiter '{d}' applies to TEXTFILE only"
            )));
        }
        Some(d) => match crate::lake::catalog::unescape_char(&d) {
            Some(b) => CsvDialect {
                delimiter: b,
                has_header: false,
            },
            None => {
                return Err(Error::Sql(format!(
                    "field_delimiter must be one character, found '{d}'"
                )));
            }
        },
    };
    Ok(WriteOptions {
        format,
        compression,
        csv,
        partitioned_by,
        location,
    })
}

fn format_name(format: FileFormat) -> &'static str {
    match format {
        FileFormat::Parquet => "PARQUET",
        FileFormat::Json => "JSON",
        FileFormat::Csv => "TEXTFILE",
        FileFormat::Avro => "AVRO",
        FileFormat::Orc => "ORC",
    }
}

/// The bucket holding folder `location` (a local path, relative to the catalog's
/// folder, or `s3://bucket/prefix/`) and the folder's key in it.
fn bucket_at(store: &CatalogStore, location: &str) -> Result<(Bucket, String)> {
    if let Some(rest) = location.strip_prefix("s3://") {
        let (name, key) = rest.split_once('/').unwrap_or((rest, ""));
        let url = format!("s3://{name}");
        let options = store.lock().stores.get(&url).cloned().unwrap_or_default();
        let bucket = Bucket::open_s3(&url, &options, "", "")?;
        return Ok((bucket, key.trim_end_matches('/').to_owned()));
    }
    let path = store.resolve_location(location.strip_prefix("file://").unwrap_or(location));
    let path = std::path::PathBuf::from(path.trim_end_matches('/'));
    let base = store.base_dir();
    let base = base.canonicalize().unwrap_or(base);
    let (root, key) = match path.strip_prefix(&base) {
        Ok(rel) if !rel.as_os_str().is_empty() => (base.clone(), rel.to_path_buf()),
        _ => match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => (parent.to_path_buf(), std::path::PathBuf::from(name)),
            _ => {
                return Err(Error::Sql(format!(
                    "location '{location}' must name a folder below a folder"
                )));
            }
        },
    };
    std::fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
    let bucket = Bucket::open_local(&root, "", "")?;
    Ok((bucket, key.to_string_lossy().replace('\\', "/")))
}

/// Refuses to write into a folder that holds files (Athena's `HIVE_PATH_ALREADY_EXISTS`).
async fn check_empty(bucket: &Bucket, key: &str, what: &str) -> Result<()> {
    let objects = bucket.list_raw(key).await?;
    let data = objects.iter().find(|(k, _)| {
        let rel = k.strip_prefix(key).unwrap_or(k).trim_start_matches('/');
        !crate::lake::bucket::is_hidden_key(rel)
    });
    if let Some((k, _)) = data {
        return Err(Error::Sql(format!(
            "{what}: the target folder {} already holds files (e.g. '{k}'); Athena refuses this too (HIVE_PATH_ALREADY_EXISTS). Choose an empty location, or delete the files first",
            bucket.location_of(key, true)
        )));
    }
    Ok(())
}

/// The query's result columns, planned in the query's session.
async fn query_schema(
    ctx: &SessionContext,
    query: &str,
) -> Result<crate::arrow::datatypes::SchemaRef> {
    crate::lake::sql::check_read_only(query)?;
    let df = crate::lake::sql::read_only_frame(ctx, query)
        .await
        .map_err(|e| {
            Error::Sql(crate::lake::sql::with_table_hint(
                ctx,
                &crate::error::describe_datafusion_error(&e),
            ))
        })?;
    Ok(Arc::new(df.schema().as_arrow().clone()))
}

/// Notes Athena's limit on partitions written by one statement.
fn note_partitions(hooks: &ScanHooks, statement: &str, report: &EtlReport) {
    if report.partitions > ATHENA_MAX_WRITTEN_PARTITIONS {
        hooks.note(format!(
            "{statement} wrote {} partitions; Athena stops at {ATHENA_MAX_WRITTEN_PARTITIONS} per statement (HIVE_TOO_MANY_OPEN_PARTITIONS): in AWS, split it into statements of at most {ATHENA_MAX_WRITTEN_PARTITIONS} partitions each",
            report.partitions
        ));
    }
}

async fn create_table_as(
    runner: &Runner<'_>,
    store: &CatalogStore,
    table: &str,
    if_not_exists: bool,
    properties: &[(String, Property)],
    query: &str,
    with_data: bool,
) -> Result<Outcome> {
    let (db, name) = split_name(table);
    let qualified = format!("{db}.{name}");
    {
        let catalog = store.lock();
        if catalog.table(&db, &name).is_some() {
            if if_not_exists {
                runner.hooks.note(format!(
                    "table '{qualified}' exists; nothing was written (IF NOT EXISTS)"
                ));
                return Ok((
                    vec!["table", "status"],
                    vec![vec![qualified, "exists".to_owned()]],
                    None,
                ));
            }
            return Err(Error::Sql(format!(
                "table '{qualified}' already exists (Athena: Table already exists). Write CREATE TABLE IF NOT EXISTS, INSERT INTO it, or choose another name"
            )));
        }
        if catalog.view(&qualified).is_some() {
            return Err(Error::Sql(format!(
                "'{qualified}' is a view; a table cannot take its name"
            )));
        }
    }
    let options = write_options(
        "CREATE TABLE AS",
        properties,
        "write_compression",
        runner.hooks,
    )?;
    let schema = query_schema(runner.ctx, query).await?;
    // Athena: partition columns come last, in partitioned_by's order.
    let n = schema.fields().len();
    let tail: Vec<String> = schema.fields()[n.saturating_sub(options.partitioned_by.len())..]
        .iter()
        .map(|f| f.name().to_lowercase())
        .collect();
    if !options.partitioned_by.is_empty() && tail != options.partitioned_by {
        return Err(Error::Sql(format!(
            "partition columns must be the query's last columns, in partitioned_by's order ({}); the query ends with ({}). Athena refuses this too (HIVE_COLUMN_ORDER_MISMATCH)",
            options.partitioned_by.join(", "),
            tail.join(", ")
        )));
    }
    let location = options
        .location
        .clone()
        .unwrap_or_else(|| format!("tables/{db}/{name}/"));
    let (bucket, key) = bucket_at(store, &location)?;
    check_empty(&bucket, &key, &format!("CREATE TABLE {qualified}")).await?;
    let sql = if with_data {
        query.to_owned()
    } else {
        format!("SELECT * FROM ({query}) AS __ctas LIMIT 0")
    };
    let spec = EtlSpec {
        sql,
        database: db.clone(),
        table: name.clone(),
        output_prefix: key.clone(),
        format: options.format,
        compression: options.compression,
        partition_by: options.partitioned_by,
        mode: WriteMode::Overwrite,
        bookmark: None,
        by: runner.by.clone(),
        csv: if options.format == FileFormat::Csv {
            options.csv
        } else {
            WRITTEN_CSV
        },
        registration: Registration::Table,
    };
    write_table(runner, store, &bucket, &spec, "CREATE TABLE AS").await
}

/// Runs a table write and reports it: the table, rows, files and where.
async fn write_table(
    runner: &Runner<'_>,
    store: &CatalogStore,
    bucket: &Bucket,
    spec: &EtlSpec,
    statement: &str,
) -> Result<Outcome> {
    let report = run_etl(store, bucket, spec, runner.env).await?;
    note_partitions(runner.hooks, statement, &report);
    let row = vec![
        report.table.clone(),
        report.rows_written.to_string(),
        report.files_written.to_string(),
        bucket.location_of(&spec.output_prefix, true),
    ];
    Ok((
        vec!["table", "rows", "files", "location"],
        vec![row],
        Some(report),
    ))
}

async fn insert_into(
    runner: &Runner<'_>,
    store: &CatalogStore,
    table: &str,
    columns: &[String],
    query: &str,
) -> Result<Outcome> {
    let catalog = store.snapshot();
    if catalog.view(table).is_some() && catalog.resolve(table).is_err() {
        return Err(Error::Sql(format!(
            "'{table}' is a view; INSERT INTO writes to tables"
        )));
    }
    let (db, t) = resolve(&catalog, table)?;
    let qualified = format!("{db}.{}", t.name);
    check_insertable(&qualified, t)?;
    let targets: Vec<&Column> = t.columns.iter().chain(&t.partition_keys).collect();
    let schema = query_schema(runner.ctx, query).await?;
    let chosen: Vec<&Column> = if columns.is_empty() {
        targets.clone()
    } else {
        columns
            .iter()
            .map(|c| {
                targets
                    .iter()
                    .find(|t| t.name.eq_ignore_ascii_case(c))
                    .copied()
                    .ok_or_else(|| {
                        Error::Sql(format!(
                            "table '{qualified}' has no column '{c}' (its columns: {})",
                            targets
                                .iter()
                                .map(|t| t.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })
            })
            .collect::<Result<_>>()?
    };
    if schema.fields().len() != chosen.len() {
        return Err(Error::Sql(format!(
            "INSERT INTO {qualified}: the query gives {} column(s) and the table takes {} ({}); Athena matches them by position (Insert query has mismatched column sizes)",
            schema.fields().len(),
            chosen.len(),
            chosen
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    // Positional: the query's i-th column becomes the i-th chosen column, cast to its
    // type and named as the files name it; columns not chosen are null.
    let aliases: Vec<String> = (0..chosen.len()).map(|i| format!("__c{i}")).collect();
    let select: Vec<String> = targets
        .iter()
        .map(|target| {
            let ty = target.data_type.replace('\'', "''");
            let value = match chosen.iter().position(|c| c.name == target.name) {
                Some(i) => format!("__insert.{}", aliases[i]),
                None => "NULL".to_owned(),
            };
            format!(
                "arrow_cast({value}, '{ty}') AS \"{}\"",
                target.file_name().replace('"', "\"\"")
            )
        })
        .collect();
    let sql = format!(
        "SELECT {} FROM ({query}) AS __insert({})",
        select.join(", "),
        aliases.join(", ")
    );
    let location = store.resolve_location(&t.location);
    let (bucket, key) = bucket_at(store, &location)?;
    let compression = match (t.format, t.options.compression) {
        (FileFormat::Parquet, _) => OutputCompression::Snappy,
        (_, Compression::Gzip) => OutputCompression::Gzip,
        (_, Compression::Zstd) => OutputCompression::Zstd,
        _ => OutputCompression::None,
    };
    let spec = EtlSpec {
        sql,
        database: db.to_owned(),
        table: t.name.clone(),
        output_prefix: key.clone(),
        format: t.format,
        compression,
        partition_by: t
            .partition_keys
            .iter()
            .map(|c| c.file_name().to_owned())
            .collect(),
        mode: WriteMode::Append,
        bookmark: None,
        by: runner.by.clone(),
        csv: t.options.csv.unwrap_or(WRITTEN_CSV),
        registration: Registration::Existing,
    };
    write_table(runner, store, &bucket, &spec, "INSERT INTO").await
}

/// A table INSERT INTO can add files to: files written the way its files are read.
fn check_insertable(qualified: &str, t: &Table) -> Result<()> {
    let refuse = |why: String| {
        Err(Error::Sql(format!(
            "INSERT INTO {qualified} is refused: {why}. Write a new table with CREATE TABLE AS SELECT instead"
        )))
    };
    if crate::lake::projection::enabled(&t.parameters) {
        return refuse("it uses partition projection, so files written here would not be found unless the template matches".to_owned());
    }
    if !t.format.is_written() {
        return refuse(format!(
            "its files are {}, which Tributary reads but does not write",
            t.format
        ));
    }
    let text = t.format != FileFormat::Parquet;
    if text {
        if t.format == FileFormat::Json
            && t.options.json_layout != Some(crate::lake::sniff::JsonLayout::Lines)
        {
            return refuse(
                "its JSON files are arrays, and Tributary appends JSON lines".to_owned(),
            );
        }
        for c in &t.columns {
            let Ok(dt) = c.arrow_type() else {
                return refuse(format!("column {} has an unreadable type", c.name));
            };
            let written = written_column(
                &crate::arrow::datatypes::Field::new(c.file_name(), dt, true),
                true,
            );
            if written.text_format != c.text_format {
                return refuse(format!(
                    "column {} is read with the text form '{}', and Tributary writes '{}'",
                    c.name,
                    c.text_format.as_deref().unwrap_or("(as is)"),
                    written.text_format.as_deref().unwrap_or("(as is)")
                ));
            }
        }
    }
    if !t.partition_keys.is_empty() {
        let hive = t.partitions.iter().all(|p| {
            let dirs: Vec<&str> = p.location.trim_end_matches('/').split('/').collect();
            dirs.len() == t.partition_keys.len()
                && dirs.iter().zip(&t.partition_keys).all(|(d, k)| {
                    d.split_once('=')
                        .is_some_and(|(n, _)| n.eq_ignore_ascii_case(k.file_name()))
                })
        });
        if !hive {
            return refuse(format!(
                "its partitions are folders like '{}', and INSERT INTO writes key=value folders",
                t.partitions
                    .first()
                    .map(|p| p.location.as_str())
                    .unwrap_or_default()
            ));
        }
    }
    Ok(())
}

async fn unload(
    runner: &Runner<'_>,
    store: &CatalogStore,
    query: &str,
    location: &str,
    properties: &[(String, Property)],
) -> Result<Outcome> {
    let options = write_options("UNLOAD", properties, "compression", runner.hooks)?;
    let schema = query_schema(runner.ctx, query).await?;
    for p in &options.partitioned_by {
        if schema.field_with_name(p).is_err() {
            return Err(Error::Sql(format!(
                "partitioned_by column '{p}' is not in UNLOAD's query"
            )));
        }
    }
    let (bucket, key) = bucket_at(store, location)?;
    // Athena: the destination must be empty, except that partitioned output adds files
    // to the partition folders.
    if options.partitioned_by.is_empty() {
        check_empty(&bucket, &key, "UNLOAD").await?;
    }
    let spec = EtlSpec {
        sql: query.to_owned(),
        database: DEFAULT_DATABASE.to_owned(),
        table: "unload".to_owned(),
        output_prefix: key.clone(),
        format: options.format,
        compression: options.compression,
        partition_by: options.partitioned_by.clone(),
        mode: if options.partitioned_by.is_empty() {
            WriteMode::Overwrite
        } else {
            WriteMode::Append
        },
        bookmark: None,
        by: runner.by.clone(),
        csv: options.csv,
        registration: Registration::None,
    };
    let mut report = run_etl(store, &bucket, &spec, runner.env).await?;
    note_partitions(runner.hooks, "UNLOAD", &report);
    let at = bucket.location_of(&key, true);
    report.table = String::new();
    Ok((
        vec!["location", "rows", "files"],
        vec![vec![
            at,
            report.rows_written.to_string(),
            report.files_written.to_string(),
        ]],
        Some(report),
    ))
}

fn drop_table(
    runner: &Runner<'_>,
    store: &CatalogStore,
    table: &str,
    if_exists: bool,
) -> Result<Outcome> {
    let catalog = store.snapshot();
    let Ok((db, t)) = resolve(&catalog, table) else {
        if catalog.view(table).is_some() {
            return Err(Error::Sql(format!("'{table}' is a view; write DROP VIEW")));
        }
        if if_exists {
            return Ok((
                vec!["table", "status"],
                vec![vec![table.to_owned(), "not found".to_owned()]],
                None,
            ));
        }
        return Err(Error::Sql(format!(
            "table '{table}' does not exist (write DROP TABLE IF EXISTS to skip it)"
        )));
    };
    let qualified = format!("{db}.{}", t.name);
    let made_by = t
        .versions
        .first()
        .map(|v| v.created_by.clone())
        .unwrap_or_default();
    if !TRIBUTARY_WRITERS.iter().any(|w| made_by.starts_with(w)) {
        return Err(Error::Sql(format!(
            "DROP TABLE {qualified} is refused: the table was made by {made_by} over files Tributary did not write, so dropping it would only lose what the crawl found (it comes back on the next crawl). Only tables Tributary wrote (CREATE TABLE AS, ETL, Firehose) can be dropped"
        )));
    }
    let location = store.resolve_location(&t.location);
    let mut readers = Vec::new();
    for (d, database) in &catalog.databases {
        for v in database.views.values() {
            let refs = crate::lake::views::references(&v.sql, d).unwrap_or_default();
            if refs.contains(&qualified) {
                readers.push(format!("{d}.{}", v.name));
            }
        }
    }
    let (db, name) = (db.to_owned(), t.name.clone());
    store.update(|c| {
        if let Some(d) = c.databases.get_mut(&db) {
            d.tables.remove(&name);
        }
        Ok(())
    })?;
    runner.hooks.note(format!(
        "the files of {qualified} were kept at {location}, as Athena keeps an external table's data; delete them to reuse that location"
    ));
    if !readers.is_empty() {
        runner.hooks.note(format!(
            "view(s) {} read {qualified} and fail until it is back",
            readers.join(", ")
        ));
    }
    Ok((
        vec!["table", "status"],
        vec![vec![qualified, "dropped".to_owned()]],
        None,
    ))
}
