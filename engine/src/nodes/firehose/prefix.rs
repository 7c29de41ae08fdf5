//! Firehose's S3 prefix language, as AWS documents it ("Custom prefixes for Amazon S3
//! objects", https://docs.aws.amazon.com/firehose/latest/dev/s3-prefixes.html):
//! `!{timestamp:<Java DateTimeFormatter pattern>}` (the approximate arrival time of the
//! oldest record in the object, UTC; every instance in a prefix the same instant),
//! `!{firehose:random-string}` (11 random characters, new at each instance),
//! `!{firehose:error-output-type}` (error prefixes only), and
//! `!{partitionKeyFromQuery:<key>}` / `!{partitionKeyFromLambda:<key>}` (a record's
//! dynamic partitioning key). A prefix without expressions gets the default
//! `YYYY/MM/dd/HH/` after it; an error prefix without expressions gets
//! `<error-output-type>/YYYY/MM/dd/HH/`.

use chrono::{DateTime, Datelike as _, Timelike as _, Utc};

/// One piece of a prefix.
#[derive(Clone, Debug, PartialEq)]
enum Part {
    Text(String),
    Timestamp(Vec<Pattern>),
    RandomString,
    ErrorOutputType,
    Key(KeySource, String),
}

/// Where a partition key comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `partitionKeyFromQuery`: the metadata extraction (JQ) query, or the record's field.
    Query,
    /// `partitionKeyFromLambda`: the transformation function's `metadata.partitionKeys`.
    Lambda,
}

/// One letter run (or literal) of a Java `DateTimeFormatter` pattern.
#[derive(Clone, Debug, PartialEq)]
enum Pattern {
    Literal(String),
    Field(char, usize),
}

/// A parsed prefix.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

/// What a prefix is evaluated with.
pub struct Values<'a> {
    /// The approximate arrival time of the oldest record in the object.
    pub arrival: DateTime<Utc>,
    /// The records' partition keys by name and source.
    pub keys: &'a dyn Fn(KeySource, &str) -> Option<String>,
    /// For an error prefix: why the records failed (`processing-failed`, …).
    pub error_type: Option<&'a str>,
}

impl Template {
    /// Parses `text`; an unknown namespace or value, an unclosed expression or a pattern
    /// letter Java's formatter does not have is an error naming it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find("!{") {
            if at > 0 {
                parts.push(Part::Text(rest[..at].to_owned()));
            }
            let inner = &rest[at + 2..];
            let Some(end) = inner.find('}') else {
                return Err(format!("'{}' is not closed with '}}'", &rest[at..]));
            };
            let expr = &inner[..end];
            let Some((namespace, value)) = expr.split_once(':') else {
                return Err(format!(
                    "'!{{{expr}}}' is not an expression: write !{{namespace:value}}"
                ));
            };
            parts.push(match namespace {
                "timestamp" => Part::Timestamp(pattern(value)?),
                "firehose" => match value {
                    "random-string" => Part::RandomString,
                    "error-output-type" => Part::ErrorOutputType,
                    other => {
                        return Err(format!(
                            "'!{{firehose:{other}}}': the firehose namespace has random-string and error-output-type"
                        ));
                    }
                },
                "partitionKeyFromQuery" | "partitionKeyFromLambda" if value.is_empty() => {
                    return Err(format!("'!{{{expr}}}' names no key"));
                }
                "partitionKeyFromQuery" => Part::Key(KeySource::Query, value.to_owned()),
                "partitionKeyFromLambda" => Part::Key(KeySource::Lambda, value.to_owned()),
                other => {
                    return Err(format!(
                        "'!{{{expr}}}': unknown namespace '{other}' (timestamp, firehose, partitionKeyFromQuery, partitionKeyFromLambda)"
                    ));
                }
            });
            rest = &inner[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    /// Whether it has any expression.
    pub fn has_expressions(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Text(_)))
    }

    /// Whether it uses `!{firehose:error-output-type}`.
    pub fn uses_error_output_type(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::ErrorOutputType))
    }

    /// The partition keys it names, in order.
    pub fn keys(&self) -> Vec<(KeySource, String)> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Key(s, k) => Some((*s, k.clone())),
                _ => None,
            })
            .collect()
    }

    /// The text before its first expression (where the objects' folders start).
    pub fn static_head(&self) -> String {
        let mut head = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => head.push_str(t),
                _ => break,
            }
        }
        head
    }

    /// This template followed by `more`.
    pub fn then(mut self, more: Template) -> Self {
        self.parts.extend(more.parts);
        self
    }

    /// The prefix for records with `values`; a key a record lacks is an error naming it.
    pub fn evaluate(&self, values: &Values<'_>) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Timestamp(pattern) => format_time(pattern, values.arrival, &mut out),
                Part::RandomString => out.push_str(&random_string()),
                Part::ErrorOutputType => {
                    out.push_str(values.error_type.unwrap_or("processing-failed"))
                }
                Part::Key(source, key) => match (values.keys)(*source, key) {
                    Some(v) => out.push_str(&v),
                    None => {
                        return Err(format!(
                            "the partition key '{key}' ({}) is missing or null",
                            match source {
                                KeySource::Query => "partitionKeyFromQuery",
                                KeySource::Lambda => "partitionKeyFromLambda",
                            }
                        ));
                    }
                },
            }
        }
        Ok(out)
    }
}

/// The default folders after a prefix without expressions: the UTC hour.
const HOURS: &str = "!{timestamp:yyyy/MM/dd/HH}/";

/// Where a Firehose writer's objects go: its prefix, with AWS's defaults filled in, the
/// folder before any expression (a registered table's location), and the folder levels
/// after it, as partition keys (`name` for a `name=value` level, else `partition_N`, as
/// a Glue crawl names them).
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// The prefix to evaluate.
    pub template: Template,
    /// The folder before the first expression.
    pub base: String,
    /// Each folder level after `base`: its partition key name, and whether the level is
    /// written `name=value`.
    pub levels: Vec<(String, bool)>,
}

impl Layout {
    /// The delivered records' layout: `prefix`, or with `partition_fields` (the records'
    /// fields as keys) `prefix` + `field=!{partitionKeyFromQuery:field}/` per field, or
    /// with no expression `prefix` + `YYYY/MM/dd/HH/`.
    pub fn delivered(prefix: &str, partition_fields: &[String]) -> Result<Self, String> {
        let template = Template::parse(prefix)?;
        if template.uses_error_output_type() {
            return Err(
                "!{firehose:error-output-type} can only be used in the error prefix".to_owned(),
            );
        }
        let template = if template.has_expressions() {
            template
        } else if !partition_fields.is_empty() {
            let fields: String = partition_fields
                .iter()
                .map(|f| format!("{f}=!{{partitionKeyFromQuery:{f}}}/"))
                .collect();
            template.then(Template::parse(&fields)?)
        } else {
            template.then(Template::parse(HOURS)?)
        };
        Ok(Self::new(template))
    }

    /// An error writer's layout: `error_prefix`, or with no expression `error_prefix` +
    /// `<error-output-type>/YYYY/MM/dd/HH/` (`YYYY/MM/dd/HH/` alone when `typed` is false:
    /// records whose partition keys could not be found).
    pub fn errors(error_prefix: &str, typed: bool) -> Result<Self, String> {
        let template = Template::parse(error_prefix)?;
        let template = match (template.has_expressions(), typed) {
            (true, _) => template,
            (false, true) => template.then(Template::parse(&format!(
                "!{{firehose:error-output-type}}/{HOURS}"
            ))?),
            (false, false) => template.then(Template::parse(HOURS)?),
        };
        Ok(Self::new(template))
    }

    fn new(template: Template) -> Self {
        let head = template.static_head();
        let base = match head.rfind('/') {
            Some(i) => head[..=i].to_owned(),
            None => String::new(),
        };
        // The levels: the template evaluated with stand-in values, after the base.
        let probe = template
            .evaluate(&Values {
                arrival: DateTime::<Utc>::UNIX_EPOCH,
                keys: &|_, _| Some("k".to_owned()),
                error_type: Some("e"),
            })
            .unwrap_or_default();
        let tail = probe.strip_prefix(&base).unwrap_or(&probe);
        let levels = tail
            .split('/')
            .filter(|s| !s.is_empty())
            .enumerate()
            .map(|(i, segment)| match segment.split_once('=') {
                Some((name, _)) if !name.is_empty() => (name.to_owned(), true),
                _ => (format!("partition_{i}"), false),
            })
            .collect();
        Self {
            template,
            base,
            levels,
        }
    }

    /// The partition values of a folder below `base` (`2026/12/06/17`, `kind=a`), when it
    /// has the layout's levels.
    pub fn folder_values(&self, folder: &str) -> Option<Vec<String>> {
        let segments: Vec<&str> = folder.split('/').filter(|s| !s.is_empty()).collect();
        if segments.len() != self.levels.len() {
            return None;
        }
        segments
            .iter()
            .zip(&self.levels)
            .map(|(s, (name, hive))| {
                if *hive {
                    s.split_once('=')
                        .filter(|(key, _)| key == name)
                        .map(|(_, v)| v.to_owned())
                } else {
                    Some((*s).to_owned())
                }
            })
            .collect()
    }
}

/// 11 random characters of a UUID's alphabet, as `!{firehose:random-string}` gives.
fn random_string() -> String {
    use rand::Rng as _;
    let mut rng = rand::rng();
    (0..11)
        .map(|_| {
            let n: u8 = rng.random_range(0..16);
            char::from_digit(n as u32, 16).unwrap_or('0')
        })
        .collect()
}

/// Parses a Java `DateTimeFormatter` pattern: letter runs, `'quoted text'` (`''` is a
/// quote), and other characters as they are.
fn pattern(text: &str) -> Result<Vec<Pattern>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // A quoted literal, or '' for a quote.
            if chars.get(i + 1) == Some(&'\'') {
                out.push(Pattern::Literal("'".to_owned()));
                i += 2;
                continue;
            }
            let mut lit = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("'{text}': a quote is not closed")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        lit.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        lit.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Pattern::Literal(lit));
        } else if c.is_ascii_alphabetic() {
            let mut n = 1;
            while chars.get(i + n) == Some(&c) {
                n += 1;
            }
            if !"yuMLdHhKkmsSDEa".contains(c) {
                return Err(format!(
                    "'{text}': the pattern letter '{c}' is not supported (y, u, M, L, d, H, h, K, k, m, s, S, D, E, a; quote text with '…')"
                ));
            }
            out.push(Pattern::Field(c, n));
            i += n;
        } else {
            out.push(Pattern::Literal(c.to_string()));
            i += 1;
        }
    }
    Ok(out)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn format_time(pattern: &[Pattern], t: DateTime<Utc>, out: &mut String) {
    use std::fmt::Write as _;
    for p in pattern {
        match p {
            Pattern::Literal(s) => out.push_str(s),
            Pattern::Field(c, n) => {
                let n = *n;
                let num = |out: &mut String, v: i64| {
                    let _ = write!(out, "{v:0n$}");
                };
                match c {
                    'y' | 'u' if n == 2 => num(out, (t.year() % 100) as i64),
                    'y' | 'u' => num(out, t.year() as i64),
                    'M' | 'L' if n == 3 => out.push_str(&MONTHS[t.month0() as usize][..3]),
                    'M' | 'L' if n >= 4 => out.push_str(MONTHS[t.month0() as usize]),
                    'M' | 'L' => num(out, t.month() as i64),
                    'd' => num(out, t.day() as i64),
                    'D' => num(out, t.ordinal() as i64),
                    'H' => num(out, t.hour() as i64),
                    'k' => num(out, if t.hour() == 0 { 24 } else { t.hour() as i64 }),
                    'K' => num(out, (t.hour() % 12) as i64),
                    'h' => num(out, t.hour12().1 as i64),
                    'm' => num(out, t.minute() as i64),
                    's' => num(out, t.second() as i64),
                    'S' => {
                        // A fraction of the second, to n digits.
                        let nanos = format!("{:09}", t.nanosecond().min(999_999_999));
                        let digits: String = nanos
                            .chars()
                            .chain(std::iter::repeat('0'))
                            .take(n)
                            .collect();
                        out.push_str(&digits);
                    }
                    'E' if n >= 4 => {
                        out.push_str(DAYS[t.weekday().num_days_from_monday() as usize])
                    }
                    'E' => out.push_str(&DAYS[t.weekday().num_days_from_monday() as usize][..3]),
                    'a' => out.push_str(if t.hour() < 12 { "AM" } else { "PM" }),
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn eval(prefix: &str, keys: &[(&str, &str)], error: Option<&str>) -> String {
        let keys = |_: KeySource, k: &str| {
            keys.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        };
        Template::parse(prefix)
            .unwrap()
            .evaluate(&Values {
                arrival: at("2018-08-03T17:05:09.123Z"),
                keys: &keys,
                error_type: error,
            })
            .unwrap()
    }

    #[test]
    fn the_examples_aws_documents_evaluate_as_documented() {
        // https://docs.aws.amazon.com/firehose/latest/dev/s3-prefixes.html
        assert_eq!(eval("!{timestamp:yyyy}", &[], None), "2018");
        assert_eq!(
            eval(
                "myPrefix/result=!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}",
                &[],
                Some("processing-failed")
            ),
            "myPrefix/result=processing-failed/2018/08/03"
        );
        assert_eq!(
            eval(
                "dt=!{timestamp:yyyy'-'MM'-'dd}/h=!{timestamp:HH}/",
                &[],
                None
            ),
            "dt=2018-08-03/h=17/"
        );
        assert_eq!(
            eval(
                "customer_id=!{partitionKeyFromQuery:customer_id}/device=!{partitionKeyFromQuery:device}/",
                &[("customer_id", "1234567890"), ("device", "mobile")],
                None
            ),
            "customer_id=1234567890/device=mobile/"
        );
        let random = eval("myPrefix/!{firehose:random-string}/", &[], None);
        assert_eq!(random.len(), "myPrefix/".len() + 11 + 1, "{random}");
        assert_ne!(
            random,
            eval("myPrefix/!{firehose:random-string}/", &[], None)
        );
    }

    #[test]
    fn java_pattern_letters_format_as_java_does() {
        assert_eq!(
            eval(
                "!{timestamp:yy-M-d H:m:s.SSS D EEE EEEE MMM MMMM hh a}",
                &[],
                None
            ),
            "18-8-3 17:5:9.123 215 Fri Friday Aug August 05 PM"
        );
        assert_eq!(
            eval("!{timestamp:'year='yyyy'/it''s'}", &[], None),
            "year=2018/it's"
        );
    }

    #[test]
    fn layouts_fill_in_aws_defaults_and_name_their_levels() {
        let hours = Layout::delivered("firehose/", &[]).unwrap();
        assert_eq!(hours.base, "firehose/");
        let names: Vec<&str> = hours.levels.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["partition_0", "partition_1", "partition_2", "partition_3"]
        );
        assert_eq!(
            hours.folder_values("2026/12/06/17"),
            Some(vec!["2026".into(), "12".into(), "06".into(), "17".into()])
        );
        let fields = Layout::delivered("by-kind/", &["kind".to_owned()]).unwrap();
        assert_eq!(fields.levels, [("kind".to_owned(), true)]);
        assert_eq!(fields.folder_values("kind=a"), Some(vec!["a".into()]));
        assert_eq!(fields.folder_values("other=a"), None);
        let custom = Layout::delivered(
            "logs/dt=!{timestamp:yyyy-MM-dd}/!{partitionKeyFromQuery:device}/",
            &[],
        )
        .unwrap();
        assert_eq!(custom.base, "logs/");
        assert_eq!(
            custom.levels,
            [("dt".to_owned(), true), ("partition_1".to_owned(), false)]
        );
        let errors = Layout::errors("errors/", true).unwrap();
        assert_eq!(errors.base, "errors/");
        let e = Layout::delivered("x/!{firehose:error-output-type}/", &[]).unwrap_err();
        assert!(e.contains("only be used in the error prefix"), "{e}");
    }

    #[test]
    fn mistakes_are_named() {
        for (bad, says) in [
            ("a/!{timestamp:yyyy", "not closed"),
            ("!{time:yyyy}", "unknown namespace 'time'"),
            ("!{firehose:uuid}", "random-string and error-output-type"),
            ("!{timestamp:yyyy-ww}", "pattern letter 'w'"),
            ("!{partitionKeyFromQuery:}", "names no key"),
            ("!{yyyy}", "is not an expression"),
        ] {
            let e = Template::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let missing = Template::parse("k=!{partitionKeyFromQuery:k}/")
            .unwrap()
            .evaluate(&Values {
                arrival: Utc::now(),
                keys: &|_, _| None,
                error_type: None,
            })
            .unwrap_err();
        assert!(missing.contains("'k'"), "{missing}");
    }
}
