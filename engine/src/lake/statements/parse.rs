//! Recognizes the statements Tributary runs itself, with sqlparser's tokenizer.

use super::*;

/// Tokens without whitespace and comments, with a cursor; the raw tokens are kept so a
/// nested query can be cut out as written.
struct Tokens {
    tokens: Vec<Token>,
    /// Every token, whitespace and comments included.
    raw: Vec<Token>,
    /// For each of `tokens`, its index in `raw`.
    raw_at: Vec<usize>,
    at: usize,
}

impl Tokens {
    /// The statement's text from token `from` up to (not including) token `to`.
    fn text(&self, from: usize, to: usize) -> String {
        let start = self.raw_at.get(from).copied().unwrap_or(self.raw.len());
        let end = self.raw_at.get(to).copied().unwrap_or(self.raw.len());
        self.raw[start..end.max(start)]
            .iter()
            .map(|t| t.to_string())
            .collect::<String>()
            .trim()
            .to_owned()
    }

    /// The index of the last token, a trailing `;` left out.
    fn last(&self) -> usize {
        let n = self.tokens.len();
        if self.tokens.last() == Some(&Token::SemiColon) {
            n - 1
        } else {
            n
        }
    }

    /// Whether the tokens from `at` spell `words`.
    fn words_at(&self, at: usize, words: &[&str]) -> bool {
        words.iter().enumerate().all(|(i, w)| {
            matches!(self.tokens.get(at + i), Some(Token::Word(x)) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w))
        })
    }

    /// A query from here to `end`; it must start as a query does.
    fn query_until(&mut self, end: usize, what: &str) -> Result<String> {
        let starts = matches!(self.peek(), Some(Token::LParen))
            || ["SELECT", "WITH", "VALUES", "TABLE"]
                .iter()
                .any(|w| self.words_at(self.at, &[w]));
        if !starts || self.at >= end {
            return Err(self.unexpected(what));
        }
        let q = self.text(self.at, end);
        self.at = end;
        Ok(q)
    }

    /// `(name = value, …)`: values are strings, numbers, booleans or `ARRAY['a', …]`.
    fn properties(&mut self, after: &str) -> Result<Vec<(String, Property)>> {
        self.expect(&Token::LParen, &format!("'(' after {after}"))?;
        let mut props = Vec::new();
        loop {
            let name = match self.next() {
                Some(Token::Word(w)) => w.value.to_lowercase(),
                Some(Token::SingleQuotedString(s)) => s.to_lowercase(),
                _ => {
                    self.at -= 1;
                    return Err(self.unexpected("a property name"));
                }
            };
            self.expect(&Token::Eq, &format!("'=' after {name}"))?;
            let value = if self.word("ARRAY") {
                self.expect(&Token::LBracket, "'[' after ARRAY")?;
                let mut items = Vec::new();
                if !self.token(&Token::RBracket) {
                    loop {
                        items.push(self.literal(&format!("a value in {name}"))?);
                        if !self.token(&Token::Comma) {
                            break;
                        }
                    }
                    self.expect(&Token::RBracket, &format!("']' closing {name}"))?;
                }
                Property::List(items)
            } else if self.word("TRUE") {
                Property::Text("true".to_owned())
            } else if self.word("FALSE") {
                Property::Text("false".to_owned())
            } else {
                Property::Text(self.literal(&format!("a value for {name}"))?)
            };
            props.push((name, value));
            if !self.token(&Token::Comma) {
                break;
            }
        }
        self.expect(&Token::RParen, &format!("')' closing {after}"))?;
        Ok(props)
    }

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

    /// An identifier: lowercased unless quoted.
    fn identifier(&mut self, what: &str) -> Result<String> {
        match self.next() {
            Some(Token::Word(w)) if w.quote_style.is_some() => Ok(w.value),
            Some(Token::Word(w)) => Ok(w.value.to_lowercase()),
            _ => {
                self.at -= 1;
                Err(self.unexpected(what))
            }
        }
    }

    /// A table name: identifiers joined by dots, `awsdatacatalog.` dropped.
    fn table_name(&mut self) -> Result<String> {
        let mut parts = Vec::new();
        loop {
            parts.push(self.identifier("a table name")?);
            if !self.token(&Token::Period) {
                break;
            }
        }
        if parts.len() == 3
            && (parts[0].eq_ignore_ascii_case(ATHENA_CATALOG)
                || parts[0] == crate::lake::provider::CATALOG_NAME)
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
    let raw = Tokenizer::new(&GenericDialect {}, sql).tokenize().ok()?;
    let (raw_at, tokens): (Vec<usize>, Vec<Token>) = raw
        .iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t, Token::Whitespace(_)))
        .map(|(i, t)| (i, t.clone()))
        .unzip();
    let mut t = Tokens {
        tokens,
        raw,
        raw_at,
        at: 0,
    };
    if let Some(statement) = table_statement(&mut t) {
        return Some(statement);
    }
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
        return Some(set_properties(&mut t, table, "TBLPROPERTIES"));
    }
    if t.words(&["SET", "SERDEPROPERTIES"]) {
        return Some(set_properties(&mut t, table, "SERDEPROPERTIES"));
    }
    if t.word("CHANGE") {
        return Some(change_column(&mut t, table));
    }
    // Other ALTER TABLE forms are DataFusion's to refuse.
    None
}

/// The table and view statements: CTAS, INSERT INTO, UNLOAD, views, DROP TABLE, SHOW
/// CREATE, SHOW VIEWS and DESCRIBE. `None` when the statement is none of them.
fn table_statement(t: &mut Tokens) -> Option<Result<CatalogStatement>> {
    if t.words(&["SHOW", "CREATE", "TABLE"]) {
        return Some(t.table_name().and_then(|name| {
            t.end()
                .map(|()| CatalogStatement::ShowCreate { name, view: false })
        }));
    }
    if t.words(&["SHOW", "CREATE", "VIEW"]) {
        return Some(t.table_name().and_then(|name| {
            t.end()
                .map(|()| CatalogStatement::ShowCreate { name, view: true })
        }));
    }
    if t.words(&["SHOW", "VIEWS"]) {
        let database = if t.word("IN") || t.word("FROM") {
            match t.table_name() {
                Ok(d) => Some(d),
                Err(e) => return Some(Err(e)),
            }
        } else {
            None
        };
        return Some(t.end().map(|()| CatalogStatement::ShowViews { database }));
    }
    if t.word("DESCRIBE") || t.word("DESC") {
        // `DESCRIBE [EXTENDED | FORMATTED] name`; other forms are DataFusion's.
        let _ = t.word("EXTENDED") || t.word("FORMATTED");
        return match t.table_name().and_then(|table| t.end().map(|()| table)) {
            Ok(table) => Some(Ok(CatalogStatement::Describe { table })),
            Err(_) => {
                t.at = 0;
                None
            }
        };
    }
    if t.words(&["DROP", "VIEW"]) {
        let if_exists = t.words(&["IF", "EXISTS"]);
        return Some(t.table_name().and_then(|view| {
            t.end()
                .map(|()| CatalogStatement::DropView { view, if_exists })
        }));
    }
    if t.words(&["DROP", "TABLE"]) {
        let if_exists = t.words(&["IF", "EXISTS"]);
        return Some(t.table_name().and_then(|table| {
            t.end()
                .map(|()| CatalogStatement::DropTable { table, if_exists })
        }));
    }
    if t.word("CREATE") {
        let or_replace = t.words(&["OR", "REPLACE"]);
        if t.word("VIEW") {
            return Some(create_view(t, or_replace));
        }
        if !or_replace && t.word("TABLE") {
            return create_table_as(t);
        }
        return None;
    }
    if t.words(&["INSERT", "INTO"]) {
        return Some(insert_into(t));
    }
    if t.word("UNLOAD") {
        return Some(unload(t));
    }
    t.at = 0;
    None
}

fn create_view(t: &mut Tokens, or_replace: bool) -> Result<CatalogStatement> {
    let view = t.table_name()?;
    t.expect_word("AS")?;
    let query = t.query_until(t.last(), "the view's query (SELECT …) after AS")?;
    t.end()?;
    Ok(CatalogStatement::CreateView {
        view,
        or_replace,
        query,
    })
}

/// `CREATE TABLE [IF NOT EXISTS] t [WITH (…)] AS query [WITH [NO] DATA]`; `None` for a
/// `CREATE TABLE` with a column list (not a CTAS).
fn create_table_as(t: &mut Tokens) -> Option<Result<CatalogStatement>> {
    let if_not_exists = t.words(&["IF", "NOT", "EXISTS"]);
    let table = match t.table_name() {
        Ok(n) => n,
        Err(e) => return Some(Err(e)),
    };
    if t.peek() == Some(&Token::LParen) {
        t.at = 0;
        return None;
    }
    Some((|| {
        let properties = if t.word("WITH") {
            t.properties("WITH")?
        } else {
            Vec::new()
        };
        t.expect_word("AS")?;
        let mut end = t.last();
        let mut with_data = true;
        if end >= 3 && t.words_at(end - 3, &["WITH", "NO", "DATA"]) {
            with_data = false;
            end -= 3;
        } else if end >= 2 && t.words_at(end - 2, &["WITH", "DATA"]) {
            end -= 2;
        }
        let query = t.query_until(end, "the table's query (SELECT …) after AS")?;
        if !with_data {
            t.at += 3;
        } else if t.words_at(t.at, &["WITH", "DATA"]) {
            t.at += 2;
        }
        t.end()?;
        Ok(CatalogStatement::CreateTableAs {
            table,
            if_not_exists,
            properties,
            query,
            with_data,
        })
    })())
}

fn insert_into(t: &mut Tokens) -> Result<CatalogStatement> {
    let table = t.table_name()?;
    let mut columns = Vec::new();
    // A column list, unless the parenthesis opens the query itself.
    if t.peek() == Some(&Token::LParen)
        && !t.words_at(t.at + 1, &["SELECT"])
        && !t.words_at(t.at + 1, &["WITH"])
        && !t.words_at(t.at + 1, &["VALUES"])
    {
        t.at += 1;
        loop {
            columns.push(t.identifier("a column name")?);
            if !t.token(&Token::Comma) {
                break;
            }
        }
        t.expect(&Token::RParen, "')' closing the column list")?;
    }
    let query = t.query_until(t.last(), "a query (SELECT … or VALUES …) to insert")?;
    t.end()?;
    Ok(CatalogStatement::InsertInto {
        table,
        columns,
        query,
    })
}

fn unload(t: &mut Tokens) -> Result<CatalogStatement> {
    t.expect(&Token::LParen, "'(' before UNLOAD's query")?;
    let start = t.at;
    let mut depth = 1;
    while depth > 0 {
        match t.next() {
            Some(Token::LParen) => depth += 1,
            Some(Token::RParen) => depth -= 1,
            Some(_) => {}
            None => return Err(Error::Sql("UNLOAD's query is missing its ')'".to_owned())),
        }
    }
    let close = t.at - 1;
    t.at = start;
    let query = t.query_until(close, "a query (SELECT …) inside UNLOAD ( … )")?;
    t.at = close + 1;
    t.expect_word("TO")?;
    let location = t.literal("the destination ('s3://bucket/folder/') after TO")?;
    let properties = if t.word("WITH") {
        t.properties("WITH")?
    } else {
        Vec::new()
    };
    t.end()?;
    Ok(CatalogStatement::Unload {
        query,
        location,
        properties,
    })
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

fn set_properties(t: &mut Tokens, table: String, kind: &str) -> Result<CatalogStatement> {
    t.expect(&Token::LParen, &format!("'(' after {kind}"))?;
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
    t.expect(&Token::RParen, &format!("')' closing {kind}"))?;
    t.end()?;
    Ok(if kind == "SERDEPROPERTIES" {
        CatalogStatement::SetSerdeProperties { table, properties }
    } else {
        CatalogStatement::SetProperties { table, properties }
    })
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
    crate::lake::glue_types::parse_glue_type(&data_type).map_err(Error::Sql)?;
    Ok(CatalogStatement::ChangeColumn {
        table,
        column,
        new_name,
        data_type,
    })
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
