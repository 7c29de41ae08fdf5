//! The engine's error type.
//!
//! Expected errors (the user's input was wrong) are separate variants from
//! [`Error::Internal`] (our bug). Every message names what was wrong and where.

use std::path::PathBuf;

/// Result alias used across the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A node's run failed; `message` is already phrased for the user.
    #[error("node '{node}' ({kind}): {message}")]
    Node {
        /// The node's id.
        node: String,
        /// The node's kind, e.g. `query`.
        kind: String,
        /// What went wrong.
        message: String,
    },

    /// The project document has problems; one per line.
    #[error("{}", problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Project {
        /// Every problem found.
        problems: Vec<crate::api::Problem>,
    },

    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },

    /// The catalog could not be read, or an operation on it was invalid.
    #[error("catalog: {0}")]
    Catalog(String),

    /// A bucket operation was refused or failed.
    #[error("bucket: {0}")]
    Bucket(String),

    /// SQL was refused or failed.
    #[error("{0}")]
    Sql(String),

    /// A configuration value was invalid.
    #[error("{0}")]
    Invalid(String),

    /// The run was stopped by the user.
    #[error("stopped")]
    Cancelled,

    /// A bug in Tributary.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// An I/O error about `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// A setting names a column `name` that `schema` (a stream's or an input's columns)
    /// does not have: `time_column: 'ts' is not in the stream's columns (a, b, c)`.
    pub fn no_such_column(
        setting: &str,
        name: &str,
        schema: &datafusion::arrow::datatypes::Schema,
    ) -> Self {
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        Self::Invalid(format!(
            "{setting}: '{name}' is not in the stream's columns ({})",
            columns.join(", ")
        ))
    }

    /// Wraps this error with the node it happened in, unless it already names one.
    pub fn in_node(self, node: &str, kind: &str) -> Self {
        match self {
            Self::Node { .. } | Self::Cancelled => self,
            other => Self::Node {
                node: node.to_owned(),
                kind: kind.to_owned(),
                message: other.to_string(),
            },
        }
    }
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Self::Sql(describe_datafusion_error(&e))
    }
}

impl From<datafusion::arrow::error::ArrowError> for Error {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<object_store::Error> for Error {
    fn from(e: object_store::Error) -> Self {
        Self::Bucket(e.to_string())
    }
}

/// A failure inside the SQL engine, in the user's terms, with the engine's own words kept
/// for a bug report.
fn internal(detail: &str) -> String {
    let detail = detail
        .split(". This issue was likely caused by a bug")
        .next()
        .unwrap_or(detail)
        .trim();
    format!(
        "the SQL engine failed while planning or running this statement; your SQL and data may be fine. Rewriting the statement (e.g. selecting fewer columns or splitting it) usually avoids it. Please report it with the statement (engine detail: {detail})"
    )
}

/// Arrow's "Cast error: Cannot cast string 'NA' to value of Int64 type": a CAST in the
/// SQL, or a table's text column holding a value its catalog type does not; for the
/// second, says what to do.
fn explain_text_cast(text: &str) -> Option<String> {
    let rest = text.split("Cannot cast string '").nth(1)?;
    let (value, rest) = rest.split_once("' to value of ")?;
    let ty = rest.strip_suffix(" type").unwrap_or(rest);
    Some(format!(
        "{text}. If '{value}' is in a table's column whose catalog type ({ty}) does not hold it: make it the table's null marker (ALTER TABLE t SET SERDEPROPERTIES ('serialization.null.format' = '{value}')) if it means a missing value, or make the column a string (ALTER TABLE t CHANGE COLUMN c c string)"
    ))
}

/// Phrases a DataFusion error for a user: the root cause, without internal prefixes.
pub fn describe_datafusion_error(e: &datafusion::error::DataFusionError) -> String {
    let root = e.find_root();
    let text = match root {
        datafusion::error::DataFusionError::SQL(inner, _) => {
            use datafusion::sql::sqlparser::parser::ParserError;
            match inner.as_ref() {
                ParserError::ParserError(m) | ParserError::TokenizerError(m) => {
                    format!("SQL syntax error: {m}")
                }
                ParserError::RecursionLimitExceeded => {
                    "SQL syntax error: the statement is nested too deeply".to_owned()
                }
            }
        }
        datafusion::error::DataFusionError::Plan(m) => m.clone(),
        datafusion::error::DataFusionError::Execution(m) => m.clone(),
        datafusion::error::DataFusionError::ArrowError(inner, _) => inner.to_string(),
        datafusion::error::DataFusionError::ObjectStore(inner) => inner.to_string(),
        datafusion::error::DataFusionError::IoError(inner) => inner.to_string(),
        datafusion::error::DataFusionError::External(inner) => inner.to_string(),
        datafusion::error::DataFusionError::SchemaError(inner, _) => inner.to_string(),
        datafusion::error::DataFusionError::NotImplemented(m) => format!("not supported: {m}"),
        datafusion::error::DataFusionError::Internal(m) => return internal(m),
        other => other.to_string(),
    };
    if let datafusion::error::DataFusionError::Context(ctx, _) = e
        && ctx.starts_with("Optimizer rule")
    {
        return internal(&format!("{ctx}: {text}"));
    }
    let text = text
        .trim_start_matches("Error during planning: ")
        .trim_start_matches("Execution error: ")
        .trim_start_matches("External error: ")
        .to_owned();
    let text = explain_text_cast(&text).unwrap_or(text);
    // A CSV parse error names the file only in DataFusion's context chain; keep it.
    match e {
        datafusion::error::DataFusionError::Context(ctx, _) => format!("{ctx}: {text}"),
        _ => text,
    }
}
