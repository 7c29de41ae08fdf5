//! Athena's catalog statements, run against the catalog file with its atomic writes:
//! `SHOW PARTITIONS`, `MSCK REPAIR TABLE`, `ALTER TABLE … ADD|DROP PARTITION` and
//! `ALTER TABLE … SET TBLPROPERTIES`. Everything else goes to DataFusion
//! ([`super::sql::run_query`]). Statements that change the catalog need the query's
//! `allow_writes`.
//!
//! Table names may be written as Athena writes them: `t`, `db.t`, or
//! `awsdatacatalog.db.t`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use futures::TryStreamExt as _;

use super::catalog::{CatalogStore, Partition, Table};
use super::provider::{ScanHooks, partition_location};
use super::sql::{QueryResult, QueryStats};
use crate::arrow::array::{RecordBatch, StringArray};
use crate::arrow::datatypes::{DataType, Field, Schema};
use crate::datafusion::datasource::listing::ListingTableUrl;
use crate::datafusion::execution::context::SessionContext;
use crate::datafusion::sql::sqlparser::dialect::GenericDialect;
use crate::datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use crate::error::{Error, Result};

/// The name Athena gives the Glue catalog in qualified names.
const ATHENA_CATALOG: &str = "awsdatacatalog";

/// A partition as a statement names it: `(key = 'value', …)` and an optional location.
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionSpecText {
    /// Key and value pairs as written.
    pub pairs: Vec<(String, String)>,
    /// `LOCATION '…'`.
    pub location: Option<String>,
}

/// A catalog statement.
#[derive(Clone, Debug, PartialEq)]
pub enum CatalogStatement {
    /// `SHOW PARTITIONS t`.
    ShowPartitions { table: String },
    /// `MSCK REPAIR TABLE t`.
    Repair { table: String },
    /// `ALTER TABLE t ADD [IF NOT EXISTS] PARTITION (…) [LOCATION '…'] …`.
    AddPartitions {
        table: String,
        if_not_exists: bool,
        partitions: Vec<PartitionSpecText>,
    },
    /// `ALTER TABLE t DROP [IF EXISTS] PARTITION (…), PARTITION (…)`.
    DropPartitions {
        table: String,
        if_exists: bool,
        partitions: Vec<PartitionSpecText>,
    },
    /// `ALTER TABLE t SET TBLPROPERTIES ('k' = 'v', …)`.
    SetProperties {
        table: String,
        properties: Vec<(String, String)>,
    },
    /// `ALTER TABLE t CHANGE [COLUMN] name new_name type`.
    ChangeColumn {
        table: String,
        column: String,
        new_name: String,
        data_type: String,
    },
}

impl CatalogStatement {
    /// The statement's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ShowPartitions { .. } => "SHOW PARTITIONS",
            Self::Repair { .. } => "MSCK REPAIR TABLE",
            Self::AddPartitions { .. } => "ALTER TABLE ADD PARTITION",
            Self::DropPartitions { .. } => "ALTER TABLE DROP PARTITION",
            Self::SetProperties { .. } => "ALTER TABLE SET TBLPROPERTIES",
            Self::ChangeColumn { .. } => "ALTER TABLE CHANGE COLUMN",
        }
    }

    /// Whether it changes the catalog.
    pub fn writes(&self) -> bool {
        !matches!(self, Self::ShowPartitions { .. })
    }
}

/// Tokens without whitespace and comments, with a cursor.
struct Tokens {
    tokens: Vec<Token>,
    at: usize,
}

impl Tokens {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    /// Takes `word` (case-insensitive) if it is next.
    fn word(&mut self, word: &str) -> bool {
        match self.peek() {
            Some(Token::Word(w))
                if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word) =>
            {
                self.at += 1;
                true
            }
            _ => false,
        }
    }

    fn words(&mut self, words: &[&str]) -> bool {
        let save = self.at;
        if words.iter().all(|w| self.word(w)) {
            true
        } else {
            self.at = save;
            false
        }
    }

    fn expect_word(&mut self, word: &str) -> Result<()> {
        if self.word(word) {
            Ok(())
        } else {
            Err(self.unexpected(word))
        }
    }

    fn token(&mut self, t: &Token) -> bool {
        if self.peek() == Some(t) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: &Token, what: &str) -> Result<()> {
        if self.token(t) {
            Ok(())
        } else {
            Err(self.unexpected(what))
        }
    }

    fn unexpected(&self, wanted: &str) -> Error {
        match self.peek() {
            Some(t) => Error::Sql(format!("expected {wanted}, found '{t}'")),
            None => Error::Sql(format!("expected {wanted}, found the end of the statement")),
        }
    }

    /// A table name: identifiers joined by dots, `awsdatacatalog.` dropped.
    fn table_name(&mut self) -> Result<String> {
        let mut parts = Vec::new();
        loop {
            match self.next() {
                Some(Token::Word(w)) => parts.push(if w.quote_style.is_some() {
                    w.value
                } else {
                    w.value.to_lowercase()
                }),
                _ => {
                    self.at -= 1;
                    return Err(self.unexpected("a table name"));
                }
            }
            if !self.token(&Token::Period) {
                break;
            }
        }
        if parts.len() == 3
            && (parts[0].eq_ignore_ascii_case(ATHENA_CATALOG)
                || parts[0] == super::provider::CATALOG_NAME)
        {
            parts.remove(0);
        }
        if parts.len() > 2 {
            return Err(Error::Sql(format!(
                "'{}' is not a table name (write table, database.table or awsdatacatalog.database.table)",
                parts.join(".")
            )));
        }
        Ok(parts.join("."))
    }

    /// A string or number literal, as text.
    fn literal(&mut self, what: &str) -> Result<String> {
        match self.next() {
            Some(Token::SingleQuotedString(s)) | Some(Token::DoubleQuotedString(s)) => Ok(s),
            Some(Token::Number(n, _)) => Ok(n),
            Some(Token::Minus) => match self.next() {
                Some(Token::Number(n, _)) => Ok(format!("-{n}")),
                _ => {
                    self.at -= 1;
                    Err(self.unexpected(what))
                }
            },
            _ => {
                self.at -= 1;
                Err(self.unexpected(what))
            }
        }
    }

    /// `(key = 'value', …)`.
    fn partition_pairs(&mut self) -> Result<Vec<(String, String)>> {
        self.expect(&Token::LParen, "'(' after PARTITION")?;
        let mut pairs = Vec::new();
        loop {
            let key = match self.next() {
                Some(Token::Word(w)) => w.value.to_lowercase(),
                _ => {
                    self.at -= 1;
                    return Err(self.unexpected("a partition key"));
                }
            };
            self.expect(&Token::Eq, &format!("'=' after partition key {key}"))?;
            let value = self.literal(&format!("a value for partition key {key}"))?;
            pairs.push((key, value));
            if !self.token(&Token::Comma) {
                break;
            }
        }
        self.expect(&Token::RParen, "')' closing the partition")?;
        Ok(pairs)
    }

    fn end(&mut self) -> Result<()> {
        self.token(&Token::SemiColon);
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(Error::Sql(format!("unexpected '{t}' after the statement"))),
        }
    }
}

/// Recognizes a catalog statement; `None` when `sql` is something else (a query).
pub fn parse(sql: &str) -> Option<Result<CatalogStatement>> {
    let tokens = Tokenizer::new(&GenericDialect {}, sql).tokenize().ok()?;
    let tokens: Vec<Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let mut t = Tokens { tokens, at: 0 };
    if t.words(&["SHOW", "PARTITIONS"]) {
        return Some(
            t.table_name()
                .and_then(|table| t.end().map(|()| CatalogStatement::ShowPartitions { table })),
        );
    }
    if t.words(&["MSCK", "REPAIR", "TABLE"]) {
        return Some(
            t.table_name()
                .and_then(|table| t.end().map(|()| CatalogStatement::Repair { table })),
        );
    }
    if !t.words(&["ALTER", "TABLE"]) {
        return None;
    }
    let table = match t.table_name() {
        Ok(n) => n,
        Err(e) => return Some(Err(e)),
    };
    if t.word("ADD") {
        return Some(add_partitions(&mut t, table));
    }
    if t.word("DROP") {
        return Some(drop_partitions(&mut t, table));
    }
    if t.words(&["SET", "TBLPROPERTIES"]) {
        return Some(set_properties(&mut t, table));
    }
    if t.word("CHANGE") {
        return Some(change_column(&mut t, table));
    }
    // Other ALTER TABLE forms are DataFusion's to refuse.
    None
}

fn add_partitions(t: &mut Tokens, table: String) -> Result<CatalogStatement> {
    let if_not_exists = t.words(&["IF", "NOT", "EXISTS"]);
    let mut partitions = Vec::new();
    while t.word("PARTITION") {
        let pairs = t.partition_pairs()?;
        let location = if t.word("LOCATION") {
            Some(t.literal("a location after LOCATION")?)
        } else {
            None
        };
        partitions.push(PartitionSpecText { pairs, location });
    }
    if partitions.is_empty() {
        return Err(t.unexpected("PARTITION (key = 'value', …) after ADD"));
    }
    t.end()?;
    Ok(CatalogStatement::AddPartitions {
        table,
        if_not_exists,
        partitions,
    })
}

fn drop_partitions(t: &mut Tokens, table: String) -> Result<CatalogStatement> {
    let if_exists = t.words(&["IF", "EXISTS"]);
    let mut partitions = Vec::new();
    loop {
        t.expect_word("PARTITION")?;
        partitions.push(PartitionSpecText {
            pairs: t.partition_pairs()?,
            location: None,
        });
        if !t.token(&Token::Comma) {
            break;
        }
    }
    t.end()?;
    Ok(CatalogStatement::DropPartitions {
        table,
        if_exists,
        partitions,
    })
}

fn set_properties(t: &mut Tokens, table: String) -> Result<CatalogStatement> {
    t.expect(&Token::LParen, "'(' after TBLPROPERTIES")?;
    let mut properties = Vec::new();
    loop {
        let key = t.literal("a property name in quotes")?;
        t.expect(&Token::Eq, "'=' after a property name")?;
        let value = t.literal("a property value in quotes")?;
        properties.push((key, value));
        if !t.token(&Token::Comma) {
            break;
        }
    }
    t.expect(&Token::RParen, "')' closing TBLPROPERTIES")?;
    t.end()?;
    Ok(CatalogStatement::SetProperties { table, properties })
}

/// Checks a statement before a run: a catalog statement must parse (and may change the
/// catalog only with `allow_writes`); anything else must be read-only SQL.
pub fn check(sql: &str, allow_writes: bool) -> Result<()> {
    match parse(sql) {
        None => super::sql::check_read_only(sql),
        Some(Err(e)) => Err(e),
        Some(Ok(s)) if s.writes() && !allow_writes => Err(refused(&s)),
        Some(Ok(_)) => Ok(()),
    }
}

fn refused(statement: &CatalogStatement) -> Error {
    Error::Sql(format!(
        "{} changes the catalog; turn on the query's allow_writes setting (tributary query --allow-writes) to run it",
        statement.name()
    ))
}

fn change_column(t: &mut Tokens, table: String) -> Result<CatalogStatement> {
    t.word("COLUMN");
    let mut ident = |what: &str| match t.next() {
        Some(Token::Word(w)) => Ok(w.value.to_lowercase()),
        _ => {
            t.at -= 1;
            Err(t.unexpected(what))
        }
    };
    let column = ident("the column to change")?;
    let new_name = ident("the column's new name")?;
    // The type is the rest, up to COMMENT: `decimal(10,2)`, `array<struct<a:int>>`.
    let mut data_type = String::new();
    while let Some(tok) = t.peek() {
        if matches!(tok, Token::Word(w) if w.value.eq_ignore_ascii_case("COMMENT"))
            || *tok == Token::SemiColon
        {
            break;
        }
        data_type.push_str(&tok.to_string());
        t.at += 1;
    }
    if t.word("COMMENT") {
        t.literal("a comment")?;
    }
    t.end()?;
    super::glue_types::parse_glue_type(&data_type).map_err(Error::Sql)?;
    Ok(CatalogStatement::ChangeColumn {
        table,
        column,
        new_name,
        data_type,
    })
}

/// Runs `sql`: a catalog statement against `store`, anything else as a read-only query.
/// Catalog changes are refused unless `allow_writes`.
pub async fn run(
    ctx: &SessionContext,
    store: Option<&CatalogStore>,
    sql: &str,
    hooks: &ScanHooks,
    allow_writes: bool,
) -> Result<QueryResult> {
    let Some(statement) = parse(sql) else {
        return super::sql::run_query(ctx, sql, hooks).await;
    };
    let statement = statement?;
    if statement.writes() && !allow_writes {
        return Err(refused(&statement));
    }
    let store = store.ok_or_else(|| {
        Error::Sql(format!(
            "{} needs a catalog (connect the query's catalog input)",
            statement.name()
        ))
    })?;
    let start = Instant::now();
    let (header, rows) = execute(ctx, store, &statement, hooks).await?;
    let schema = Arc::new(Schema::new(
        header
            .iter()
            .map(|h| Field::new(*h, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    ));
    let columns = (0..header.len())
        .map(|i| {
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r[i].as_str()),
            )) as crate::arrow::array::ArrayRef
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(QueryResult {
        schema,
        stats: QueryStats {
            rows: rows.len() as u64,
            elapsed_ms: start.elapsed().as_millis() as u64,
            notes: hooks.notes(),
            ..Default::default()
        },
        batches: vec![batch],
    })
}

/// Header and rows of a statement's result.
type Rows = (Vec<&'static str>, Vec<Vec<String>>);

async fn execute(
    ctx: &SessionContext,
    store: &CatalogStore,
    statement: &CatalogStatement,
    hooks: &ScanHooks,
) -> Result<Rows> {
    match statement {
        CatalogStatement::ShowPartitions { table } => {
            let catalog = store.snapshot();
            let (_, t) = resolve(&catalog, table)?;
            if t.partition_keys.is_empty() {
                return Err(Error::Sql(format!("table '{table}' is not partitioned")));
            }
            if super::projection::enabled(&t.parameters) {
                hooks.note(format!(
                    "table '{table}' uses partition projection: as in Athena, SHOW PARTITIONS lists only the partitions registered in the catalog, not the projected ones"
                ));
            }
            let rows = t
                .partitions
                .iter()
                .map(|p| vec![hive_name(t, &p.values)])
                .collect();
            Ok((vec!["partition"], rows))
        }
        CatalogStatement::Repair { table } => repair(ctx, store, table, hooks).await,
        CatalogStatement::AddPartitions {
            table,
            if_not_exists,
            partitions,
        } => {
            let qualified = qualified(store, table)?;
            let root = table_root(store, table)?;
            let mut rows = Vec::new();
            store.update(|catalog| {
                let t = table_mut(catalog, &qualified)?;
                let mut new = Vec::new();
                for spec in partitions {
                    let values = ordered_values(t, &spec.pairs)?;
                    let exists = t.partitions.iter().any(|p| p.values == values)
                        || new.iter().any(|p: &Partition| p.values == values);
                    if exists {
                        if *if_not_exists {
                            continue;
                        }
                        return Err(Error::Sql(format!(
                            "partition {} already exists in table '{qualified}' (write ADD IF NOT EXISTS to skip it)",
                            hive_name(t, &values)
                        )));
                    }
                    let location = match &spec.location {
                        Some(l) => relative_to(&root, l),
                        None => format!("{}/", hive_name(t, &values)),
                    };
                    rows.push(vec![
                        hive_name(t, &values),
                        partition_location(&root, &location),
                        "added".to_owned(),
                    ]);
                    new.push(Partition {
                        values,
                        location,
                        files: 0,
                        size_bytes: 0,
                    });
                }
                t.merge_partitions(new);
                Ok(())
            })?;
            Ok((vec!["partition", "location", "status"], rows))
        }
        CatalogStatement::DropPartitions {
            table,
            if_exists,
            partitions,
        } => {
            let qualified = qualified(store, table)?;
            let mut rows = Vec::new();
            store.update(|catalog| {
                let t = table_mut(catalog, &qualified)?;
                for spec in partitions {
                    let values = ordered_values(t, &spec.pairs)?;
                    let before = t.partitions.len();
                    t.partitions.retain(|p| p.values != values);
                    if t.partitions.len() == before {
                        if *if_exists {
                            continue;
                        }
                        return Err(Error::Sql(format!(
                            "partition {} is not in table '{qualified}' (write DROP IF EXISTS to skip it)",
                            hive_name(t, &values)
                        )));
                    }
                    rows.push(vec![hive_name(t, &values), "dropped".to_owned()]);
                }
                t.updated_at = chrono::Utc::now();
                Ok(())
            })?;
            Ok((vec!["partition", "status"], rows))
        }
        CatalogStatement::SetProperties { table, properties } => {
            let qualified = qualified(store, table)?;
            let mut rows = Vec::new();
            store.update(|catalog| {
                let t = table_mut(catalog, &qualified)?;
                let mut params: BTreeMap<String, String> = t.parameters.clone();
                for (k, v) in properties {
                    params.insert(k.clone(), v.clone());
                    rows.push(vec![k.clone(), v.clone()]);
                }
                if super::projection::enabled(&params) {
                    let keys: Vec<String> = t
                        .partition_keys
                        .iter()
                        .map(|c| c.file_name().to_owned())
                        .collect();
                    if keys.is_empty() {
                        return Err(Error::Sql(format!(
                            "table '{qualified}' has no partition keys to project"
                        )));
                    }
                    super::projection::Projection::from_parameters(&keys, &params)
                        .map_err(Error::Sql)?;
                }
                t.parameters = params;
                t.updated_at = chrono::Utc::now();
                Ok(())
            })?;
            Ok((vec!["property", "value"], rows))
        }
        CatalogStatement::ChangeColumn {
            table,
            column,
            new_name,
            data_type,
        } => {
            let qualified = qualified(store, table)?;
            let arrow = super::glue_types::parse_glue_type(data_type).map_err(Error::Sql)?;
            let mut rows = Vec::new();
            store.update(|catalog| {
                let t = table_mut(catalog, &qualified)?;
                let mut columns = t.columns.clone();
                let c = columns
                    .iter_mut()
                    .find(|c| c.name.eq_ignore_ascii_case(column))
                    .ok_or_else(|| {
                        Error::Sql(format!(
                            "table '{qualified}' has no column '{column}' (its columns: {})",
                            t.columns
                                .iter()
                                .map(|c| c.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })?;
                let file_name = c.file_name().to_owned();
                let before = c.data_type.clone();
                c.name = new_name.clone();
                c.source_name = (file_name != *new_name).then_some(file_name);
                if c.data_type != arrow.to_string() {
                    // A written date form applies only to the type it was found for.
                    c.text_format = None;
                }
                c.data_type = arrow.to_string();
                rows.push(vec![
                    new_name.clone(),
                    super::glue_types::glue_type(&arrow),
                    super::glue_types::glue_type_of(&before),
                ]);
                let keys = t.partition_keys.clone();
                t.set_schema(columns, keys, "query:ALTER TABLE CHANGE COLUMN");
                Ok(())
            })?;
            Ok((vec!["column", "type", "was"], rows))
        }
    }
}

/// `MSCK REPAIR TABLE`: registers every `key=value/…` folder below the table that holds
/// data files and is not registered yet, as Athena does (other folders are not
/// partitions to it).
async fn repair(
    ctx: &SessionContext,
    store: &CatalogStore,
    table: &str,
    hooks: &ScanHooks,
) -> Result<Rows> {
    let qualified = qualified(store, table)?;
    let root = table_root(store, table)?;
    let t = store.snapshot().resolve(&qualified)?.1.clone();
    if t.partition_keys.is_empty() {
        return Err(Error::Sql(format!(
            "table '{qualified}' is not partitioned; MSCK REPAIR TABLE adds partitions"
        )));
    }
    let url = ListingTableUrl::parse(&root)
        .map_err(|e| Error::Catalog(format!("location '{root}': {e}")))?;
    let object_store = ctx.runtime_env().object_store(url.object_store())?;
    let metas: Vec<object_store::ObjectMeta> = object_store
        .list(Some(url.prefix()))
        .try_collect()
        .await
        .map_err(|e| Error::Catalog(format!("listing '{root}': {e}")))?;
    let keys: Vec<String> = t
        .partition_keys
        .iter()
        .map(|c| c.file_name().to_lowercase())
        .collect();
    let mut found: BTreeMap<Vec<String>, Partition> = BTreeMap::new();
    let mut other_folders = std::collections::BTreeSet::new();
    for meta in metas {
        let loc = meta.location.to_string();
        let rel = loc
            .strip_prefix(url.prefix().as_ref())
            .unwrap_or(&loc)
            .trim_start_matches('/');
        if super::bucket::is_hidden_key(rel) || !rel.ends_with(&t.options.file_extension) {
            continue;
        }
        let dirs: Vec<&str> = rel.split('/').collect();
        let dirs = &dirs[..dirs.len() - 1];
        let values: Option<Vec<String>> = (dirs.len() >= keys.len())
            .then(|| {
                dirs.iter()
                    .zip(&keys)
                    .map(|(d, k)| {
                        d.split_once('=')
                            .filter(|(dk, _)| dk.to_lowercase() == *k)
                            .map(|(_, v)| super::catalog::decode_partition_value(v))
                    })
                    .collect()
            })
            .flatten();
        let Some(values) = values else {
            if !dirs.is_empty() {
                other_folders.insert(dirs.join("/"));
            }
            continue;
        };
        let folder = dirs[..keys.len()].join("/");
        let p = found.entry(values.clone()).or_insert_with(|| Partition {
            values,
            location: format!("{folder}/"),
            files: 0,
            size_bytes: 0,
        });
        p.files += 1;
        p.size_bytes += meta.size;
    }
    if !other_folders.is_empty() {
        hooks.note(format!(
            "MSCK REPAIR TABLE registers only key=value folders ({}), as Athena does; {} other folder(s) such as '{}' were left out: register them with ALTER TABLE … ADD PARTITION … LOCATION, a crawl, or partition projection",
            keys.iter().map(|k| format!("{k}=…")).collect::<Vec<_>>().join("/"),
            other_folders.len(),
            other_folders.first().map(String::as_str).unwrap_or("")
        ));
    }
    let mut rows = Vec::new();
    store.update(|catalog| {
        let t = table_mut(catalog, &qualified)?;
        let new: Vec<Partition> = found
            .into_values()
            .filter(|p| !t.partitions.iter().any(|q| q.values == p.values))
            .collect();
        for p in &new {
            rows.push(vec![
                hive_name(t, &p.values),
                partition_location(&root, &p.location),
                "added".to_owned(),
            ]);
        }
        t.merge_partitions(new);
        Ok(())
    })?;
    Ok((vec!["partition", "location", "status"], rows))
}

fn resolve<'a>(catalog: &'a super::catalog::Catalog, table: &str) -> Result<(&'a str, &'a Table)> {
    catalog
        .resolve(table)
        .map_err(|e| Error::Sql(e.to_string()))
}

/// `db.table` for a name as written.
fn qualified(store: &CatalogStore, table: &str) -> Result<String> {
    let catalog = store.snapshot();
    let (db, t) = resolve(&catalog, table)?;
    Ok(format!("{db}.{}", t.name))
}

/// The table's folder, resolved, ending in `/`.
fn table_root(store: &CatalogStore, table: &str) -> Result<String> {
    let catalog = store.snapshot();
    let (_, t) = resolve(&catalog, table)?;
    let mut root = store.resolve_location(&t.location);
    if !root.ends_with('/') {
        root.push('/');
    }
    Ok(root)
}

fn table_mut<'a>(
    catalog: &'a mut super::catalog::Catalog,
    qualified: &str,
) -> Result<&'a mut Table> {
    let (db, name) = qualified.split_once('.').unwrap_or(("default", qualified));
    catalog
        .databases
        .get_mut(db)
        .and_then(|d| d.tables.get_mut(name))
        .ok_or_else(|| Error::Sql(format!("table '{qualified}' is gone from the catalog")))
}

/// The values of a partition spec in key order; every key must be given once.
fn ordered_values(t: &Table, pairs: &[(String, String)]) -> Result<Vec<String>> {
    let names: Vec<String> = t.partition_keys.iter().map(|c| c.name.clone()).collect();
    if t.partition_keys.is_empty() {
        return Err(Error::Sql(format!("table '{}' is not partitioned", t.name)));
    }
    for (k, _) in pairs {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(k)) {
            return Err(Error::Sql(format!(
                "'{k}' is not a partition key of table '{}' (its keys: {})",
                t.name,
                names.join(", ")
            )));
        }
    }
    names
        .iter()
        .map(|n| {
            let given: Vec<&String> = pairs
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v)
                .collect();
            match given.as_slice() {
                [v] => Ok((*v).clone()),
                [] => Err(Error::Sql(format!(
                    "the partition must give every key of table '{}' ({}); {n} is missing",
                    t.name,
                    names.join(", ")
                ))),
                _ => Err(Error::Sql(format!("partition key {n} is given twice"))),
            }
        })
        .collect()
}

/// `key=value/key=value`, as SHOW PARTITIONS prints a partition.
fn hive_name(t: &Table, values: &[String]) -> String {
    t.partition_keys
        .iter()
        .zip(values)
        .map(|(k, v)| format!("{}={v}", k.name))
        .collect::<Vec<_>>()
        .join("/")
}

/// A partition location as recorded: relative to the table folder when below it.
fn relative_to(root: &str, location: &str) -> String {
    let mut loc = location.to_owned();
    if !loc.ends_with('/') {
        loc.push('/');
    }
    match loc.strip_prefix(root) {
        Some(rel) if !rel.is_empty() => rel.to_owned(),
        _ => loc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn athena_statements_parse() {
        assert_eq!(
            parse("show partitions awsdatacatalog.sales.orders;")
                .unwrap()
                .unwrap(),
            CatalogStatement::ShowPartitions {
                table: "sales.orders".to_owned()
            }
        );
        assert_eq!(
            parse("MSCK REPAIR TABLE orders").unwrap().unwrap(),
            CatalogStatement::Repair {
                table: "orders".to_owned()
            }
        );
        let add = parse(
            "ALTER TABLE orders ADD IF NOT EXISTS PARTITION (year = '2024', month = 1) LOCATION 's3://b/o/2024/01/' PARTITION (year='2024', month=2)",
        )
        .unwrap()
        .unwrap();
        let CatalogStatement::AddPartitions {
            if_not_exists,
            partitions,
            ..
        } = add
        else {
            panic!("{add:?}")
        };
        assert!(if_not_exists);
        assert_eq!(partitions.len(), 2);
        assert_eq!(
            partitions[0].pairs,
            [
                ("year".to_owned(), "2024".to_owned()),
                ("month".to_owned(), "1".to_owned())
            ]
        );
        assert_eq!(partitions[0].location.as_deref(), Some("s3://b/o/2024/01/"));
        assert!(matches!(
            parse("ALTER TABLE t DROP PARTITION (a='1'), PARTITION (a='2')").unwrap().unwrap(),
            CatalogStatement::DropPartitions { partitions, if_exists: false, .. } if partitions.len() == 2
        ));
        assert!(parse("SELECT 1").is_none());
        assert!(parse("ALTER TABLE t RENAME TO u").is_none());
        let err = parse("ALTER TABLE t ADD PARTITION (a=)")
            .unwrap()
            .unwrap_err();
        assert!(
            err.to_string().contains("a value for partition key a"),
            "{err}"
        );
    }
}
