//! The code an export deploys beside its template: function folders (the node's handler,
//! its requirements, and `tributary_forward` where the answer goes on), Glue and EMR
//! PySpark scripts, Flink SQL, and the README; and the columns a node's output carries
//! when they follow from its settings.

use std::path::Path;
use std::sync::Arc;

use super::Export;
use crate::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use crate::datafusion::sql::sqlparser::ast::{
    Expr, GroupByExpr, Ident, ObjectName, SelectItem, SetExpr, Statement, TableFactor,
};
use crate::datafusion::sql::sqlparser::dialect::GenericDialect;
use crate::datafusion::sql::sqlparser::parser::Parser;
use crate::error::{Error, Result};
use crate::functions::Language;
use crate::nodes::NodeConfig;
use crate::nodes::analytics::{AnalyticsConfig, LateRecords, WindowKind};
use crate::nodes::lambda::{FunctionSettings, LambdaRuntime};
use crate::project::Node;

/// The columns of `node`'s output `port`, when the settings say them: a generator's
/// events, a stream's or function's declared columns, SQL planned over known input.
pub(super) fn columns_of(ex: &mut Export<'_>, node: &str, port: &str) -> Option<SchemaRef> {
    let n = ex.project.node(node)?;
    let declared = |columns: &[String]| {
        crate::stream::records::parse_columns(columns)
            .ok()
            .map(|f| Arc::new(Schema::new(f)))
    };
    match (&n.config, port) {
        (NodeConfig::Generator(g), _) => Some(g.event.schema()),
        (NodeConfig::Stream(s), "records") if !s.columns.is_empty() => declared(&s.columns),
        (NodeConfig::Stream(_), "records") => upstream(ex, node),
        (NodeConfig::Lambda(l), "records") if !l.output_columns.is_empty() => {
            declared(&l.output_columns)
        }
        (NodeConfig::Lambda(l), "records") => {
            let input = upstream(ex, node)?;
            match l.runtime {
                LambdaRuntime::Sql => plan_over(&l.sql, &input),
                _ => Some(input),
            }
        }
        (NodeConfig::Analytics(a), "results") => {
            let input = upstream(ex, node)?;
            let result = plan_over(&a.sql, &input)?;
            let window = |name: &str| {
                Field::new(
                    name,
                    DataType::Timestamp(TimeUnit::Millisecond, None),
                    false,
                )
            };
            let mut fields = vec![window("window_start"), window("window_end")];
            fields.extend(result.fields().iter().map(|f| f.as_ref().clone()));
            Some(Arc::new(Schema::new(fields)))
        }
        _ => None,
    }
}

fn upstream(ex: &mut Export<'_>, node: &str) -> Option<SchemaRef> {
    let (from, port) = ex
        .inputs(node, "records")
        .first()
        .map(|(n, p)| (n.id.clone(), p.to_string()))?;
    ex.columns(&from, &port)
}

/// The columns `sql` gives over a table `input` of `schema` (planned, not run).
fn plan_over(sql: &str, schema: &SchemaRef) -> Option<SchemaRef> {
    let ctx = crate::datafusion::prelude::SessionContext::new();
    futures::executor::block_on(crate::lake::sql::schema_over_input(&ctx, sql, schema)).ok()
}

/// The tables `sql` reads, unqualified when in `database`, sorted.
pub(super) fn tables_read(sql: &str, database: &str) -> Vec<String> {
    crate::lake::views::references(sql, database)
        .map(|set| {
            set.into_iter()
                .map(|t| match t.split_once('.') {
                    Some((db, name)) if db == database => name.to_owned(),
                    _ => t,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A Python string literal of `text`: triple-quoted when that keeps it as written, else
/// JSON's quoting (a valid Python literal).
fn py_string(text: &str) -> String {
    if !text.contains("\"\"\"") && !text.contains('\\') && !text.ends_with('"') {
        format!("\"\"\"{text}\"\"\"")
    } else {
        serde_json::to_string(text).unwrap_or_default()
    }
}

fn py_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_default()
}

/// What a Glue job script needs.
pub(super) struct GlueJob<'a> {
    pub node: &'a str,
    pub project: &'a str,
    pub sql: &'a str,
    pub tables: &'a [String],
    pub table: &'a str,
    pub format: &'static str,
    pub compression: &'static str,
    pub partition_by: &'a [String],
    pub overwrite: bool,
}

/// A Glue (PySpark) script running the node's SQL with `spark.sql` over the catalog's
/// tables, read as DynamicFrames with a `transformation_ctx` each (job bookmarks), and
/// writing the result as the catalog table.
pub(super) fn glue_script(job: &GlueJob<'_>) -> String {
    let (glue_format, options) = match job.format {
        "parquet" => (
            "glueparquet",
            format!(
                "{{\"compression\": \"{}\"}}",
                parquet_codec(job.compression)
            ),
        ),
        "orc" => ("orc", "{}".to_owned()),
        "csv" => ("csv", "{\"writeHeader\": True}".to_owned()),
        other => (other, "{}".to_owned()),
    };
    let sink_compression = match (job.format, job.compression) {
        ("parquet" | "orc", _) | (_, "none") => String::new(),
        (_, c) => format!("\n    compression=\"{c}\","),
    };
    format!(
        r#""""Glue job '{node}' of the Tributary project '{project}' (generated by `tributary export`).

Runs the node's SQL with spark.sql over the Data Catalog's tables and writes the result
to --output_path as the table {table} of --database ({format}). Each table is read as a
DynamicFrame with a transformation_ctx, so job bookmarks (--job-bookmark-option) apply.
"""
import sys

from awsglue.context import GlueContext
from awsglue.dynamicframe import DynamicFrame
from awsglue.job import Job
from awsglue.utils import getResolvedOptions
from pyspark.context import SparkContext

args = getResolvedOptions(sys.argv, ["JOB_NAME", "source_database", "database", "output_path"])
glue_context = GlueContext(SparkContext.getOrCreate())
spark = glue_context.spark_session
job = Job(glue_context)
job.init(args["JOB_NAME"], args)

# The node's SQL, as written in the designer.
SQL = {sql}

# The tables it reads in the `default` database (--source_database), as DynamicFrames;
# tables it names with their database are read through the Data Catalog by that name.
TABLES = {tables}
TABLE = "{table}"
PARTITION_BY = {partition_by}
OVERWRITE = {overwrite}

for name in TABLES:
    frame = glue_context.create_dynamic_frame.from_catalog(
        database=args["source_database"], table_name=name, transformation_ctx="read_" + name
    )
    frame.toDF().createOrReplaceTempView(name)

result = spark.sql(SQL)

if OVERWRITE:
    glue_context.purge_s3_path(args["output_path"], {{"retentionPeriod": 0}})
sink = glue_context.getSink(
    connection_type="s3",
    path=args["output_path"],
    enableUpdateCatalog=True,
    updateBehavior="UPDATE_IN_DATABASE",
    partitionKeys=PARTITION_BY,{sink_compression}
    transformation_ctx="write_" + TABLE,
)
sink.setFormat("{glue_format}", **{options})
sink.setCatalogInfo(catalogDatabase=args["database"], catalogTableName=TABLE)
sink.writeFrame(DynamicFrame.fromDF(result, glue_context, TABLE))
job.commit()
"#,
        node = job.node,
        project = job.project,
        table = job.table,
        format = job.format,
        sql = py_string(job.sql.trim()),
        tables = py_list(
            &job.tables
                .iter()
                .filter(|t| !t.contains('.'))
                .cloned()
                .collect::<Vec<_>>()
        ),
        partition_by = py_list(job.partition_by),
        overwrite = if job.overwrite { "True" } else { "False" },
    )
}

fn parquet_codec(compression: &str) -> &str {
    match compression {
        "none" => "uncompressed",
        other => other,
    }
}

/// A step's write in an EMR script.
pub(super) struct EmrWrite {
    pub database_param: String,
    pub table: String,
    pub prefix: String,
    pub format: &'static str,
    pub compression: &'static str,
    pub partition_by: Vec<String>,
    pub overwrite: bool,
}

/// An EMR job's step.
pub(super) struct EmrStep {
    pub name: String,
    pub sql: String,
    pub write: Option<EmrWrite>,
    pub continue_on_failure: bool,
}

/// A PySpark script running the steps in order with `spark.sql` (Glue Data Catalog as
/// the metastore); a step with a write saves its result as a catalog table at
/// `--target` + its prefix.
pub(super) fn emr_script(node: &str, project: &str, steps: &[EmrStep]) -> String {
    let mut out = format!(
        r#""""EMR job '{node}' of the Tributary project '{project}' (generated by `tributary export`).

Runs the node's steps in order with spark.sql; the Glue Data Catalog is the metastore (the
application's spark-defaults). Arguments: --database NAME (the deployed name of each
database parameter, as PARAM=NAME) and --target s3://bucket/prefix/ (the bucket wired to
the node's target), e.g.
  --database DefaultDatabaseName=my_db --target s3://my-bucket/curated/
"""
import argparse

from pyspark.sql import SparkSession

parser = argparse.ArgumentParser()
parser.add_argument("--database", action="append", default=[])
parser.add_argument("--target", default="")
args = parser.parse_args()
DATABASES = dict(d.split("=", 1) for d in args.database)

spark = SparkSession.builder.enableHiveSupport().getOrCreate()
if "DefaultDatabaseName" in DATABASES:
    spark.catalog.setCurrentDatabase(DATABASES["DefaultDatabaseName"])

"#
    );
    for (i, step) in steps.iter().enumerate() {
        out.push_str(&format!(
            "\n\ndef step_{i}():\n    \"\"\"Step '{}'.\"\"\"\n",
            step.name
        ));
        out.push_str(&format!(
            "    result = spark.sql({})\n",
            py_string(step.sql.trim())
        ));
        match &step.write {
            Some(w) => {
                let mut chain = format!(
                    "    writer = result.write.mode(\"{}\").format(\"{}\")",
                    if w.overwrite { "overwrite" } else { "append" },
                    w.format
                );
                if w.compression != "none" {
                    chain.push_str(&format!(".option(\"compression\", \"{}\")", w.compression));
                }
                if !w.partition_by.is_empty() {
                    chain.push_str(&format!(".partitionBy(*{})", py_list(&w.partition_by)));
                }
                out.push_str(&chain);
                out.push('\n');
                out.push_str(&format!(
                    "    writer.option(\"path\", args.target + \"{}\").saveAsTable(\n        DATABASES[\"{}\"] + \".{}\"\n    )\n",
                    w.prefix, w.database_param, w.table
                ));
            }
            None => out.push_str("    result.show(20, truncate=False)\n"),
        }
    }
    out.push_str("\n\nSTEPS = [\n");
    for (i, step) in steps.iter().enumerate() {
        out.push_str(&format!(
            "    (\"{}\", step_{i}, {}),\n",
            step.name.replace('"', "'"),
            if step.continue_on_failure {
                "True"
            } else {
                "False"
            }
        ));
    }
    out.push_str(
        r#"]

for name, run, continue_on_failure in STEPS:
    try:
        run()
    except Exception as error:  # a failed step cancels the rest unless it continues
        print(f"step {name} failed: {error}")
        if not continue_on_failure:
            raise
"#,
    );
    out
}

/// Writes a function's folder: its code (inline, or the files of `code_path`), the
/// files of its layers, its requirements, and the forwarding handler when `forward`.
/// Returns the handler the function is deployed with.
pub(super) fn function_code(
    ex: &mut Export<'_>,
    node: &Node,
    folder: &str,
    settings: &FunctionSettings,
    language: Language,
    forward: bool,
) -> Result<String> {
    if settings.code_path.trim().is_empty() {
        let file = crate::nodes::lambda::handler::inline_file_name(
            &settings.handler,
            language,
            &settings.code,
        );
        ex.file(&format!("{folder}/{file}"), settings.code.clone());
    } else {
        let dir = crate::fsutil::resolve_path(ex.base_dir, settings.code_path.trim());
        copy_folder(ex, &dir, folder, &node.id)?;
    }
    for layer in &settings.layers {
        let dir = crate::fsutil::resolve_path(ex.base_dir, layer);
        copy_folder(ex, &dir, folder, &node.id)?;
    }
    if !settings.requirements.is_empty() {
        match language {
            Language::Python => {
                let mut text = settings.requirements.join("\n");
                text.push('\n');
                ex.file(&format!("{folder}/requirements.txt"), text);
            }
            Language::Node => {
                let mut deps = serde_json::Map::new();
                for r in &settings.requirements {
                    let (name, version) = match r.rfind('@') {
                        Some(i) if i > 0 => (&r[..i], &r[i + 1..]),
                        _ => (r.as_str(), "*"),
                    };
                    deps.insert(name.to_owned(), serde_json::json!(version));
                }
                let package = serde_json::json!({"private": true, "dependencies": deps});
                let mut text = serde_json::to_string_pretty(&package).unwrap_or_default();
                text.push('\n');
                ex.file(&format!("{folder}/package.json"), text);
            }
        }
    }
    if !forward {
        return Ok(settings.handler.trim().to_owned());
    }
    match language {
        Language::Python => ex.file(&format!("{folder}/tributary_forward.py"), PY_FORWARD),
        Language::Node => ex.file(&format!("{folder}/tributary_forward.mjs"), NODE_FORWARD),
    }
    Ok("tributary_forward.handler".to_owned())
}

/// Copies the files under `dir` (sorted; hidden folders, `node_modules` and
/// `__pycache__` left out) into `folder` of the export.
fn copy_folder(ex: &mut Export<'_>, dir: &Path, folder: &str, node: &str) -> Result<()> {
    let mut stack = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| {
            Error::Invalid(format!(
                "node '{node}': cannot read the code folder {}: {e}",
                d.display()
            ))
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "node_modules" || name == "__pycache__" {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    for path in files {
        let rel = path.strip_prefix(dir).unwrap_or(&path);
        let rel: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let bytes = std::fs::read(&path).map_err(|e| {
            Error::Invalid(format!(
                "node '{node}': cannot read {}: {e}",
                path.display()
            ))
        })?;
        ex.file(&format!("{folder}/{}", rel.join("/")), bytes);
    }
    Ok(())
}

/// The Python forwarding handler.
const PY_FORWARD: &str = include_str!("forward.py");
/// The Node.js forwarding handler.
const NODE_FORWARD: &str = include_str!("forward.mjs");

/// The Kinesis SQL connector an exported Flink application is packaged with.
pub const FLINK_CONNECTOR_JAR: &str = "lib/flink-sql-connector-kinesis-4.3.0-1.19.jar";

/// A Flink SQL type for an Arrow type (`STRING` for what Flink's JSON format reads as
/// text).
fn flink_type(t: &DataType) -> String {
    match t {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 | DataType::UInt16 | DataType::UInt8 => "INT".into(),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "BIGINT".into(),
        DataType::Float32 => "FLOAT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("DECIMAL({p}, {s})"),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Timestamp(_, _) => "TIMESTAMP(3)".into(),
        DataType::Binary | DataType::LargeBinary => "BYTES".into(),
        _ => "STRING".into(),
    }
}

/// A duration as a Flink interval.
fn interval(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("INTERVAL '{}' SECOND", ms / 1000)
    } else {
        format!("INTERVAL '{}.{:03}' SECOND", ms / 1000, ms % 1000)
    }
}

/// Flink SQL for an analytics node: the stream as a source table with a watermark (the
/// node's out-of-orderness), its SQL per window as a windowing table-valued function
/// (window_start and window_end first, as in the designer), into a print sink.
pub(super) fn flink_sql(
    c: &AnalyticsConfig,
    stream: &str,
    schema: &SchemaRef,
) -> std::result::Result<String, String> {
    let result = plan_over(&c.sql, schema)
        .ok_or_else(|| "its SQL does not plan over the stream's columns".to_owned())?;
    let mut statements =
        Parser::parse_sql(&GenericDialect {}, &c.sql).map_err(|e| e.to_string())?;
    let (Some(Statement::Query(mut query)), true) = (statements.pop(), statements.is_empty())
    else {
        return Err("its SQL is not one SELECT, which Flink's windows need".to_owned());
    };
    let ordered = query.order_by.take().is_some();
    query.limit_clause = None;
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Err("its SQL is not one SELECT, which Flink's windows need".to_owned());
    };
    let [from] = select.from.as_mut_slice() else {
        return Err("its SQL reads more than the table input".to_owned());
    };
    if !from.joins.is_empty() {
        return Err("its SQL joins; Flink's window TVF takes one table".to_owned());
    }
    const PLACEHOLDER: &str = "tributary_window_tvf";
    match &mut from.relation {
        TableFactor::Table { name, .. } if name.to_string().eq_ignore_ascii_case("input") => {
            *name = ObjectName::from(vec![Ident::new(PLACEHOLDER)]);
        }
        _ => return Err("its SQL does not read the table input".to_owned()),
    }
    let window_cols = [Ident::new("window_start"), Ident::new("window_end")];
    for (i, col) in window_cols.iter().enumerate() {
        select
            .projection
            .insert(i, SelectItem::UnnamedExpr(Expr::Identifier(col.clone())));
    }
    match &mut select.group_by {
        GroupByExpr::Expressions(exprs, _) => {
            let aggregate = !exprs.is_empty() || {
                let text = select
                    .projection
                    .iter()
                    .map(|p| p.to_string().to_lowercase())
                    .collect::<Vec<_>>()
                    .join(",");
                ["count(", "sum(", "avg(", "min(", "max(", "approx_"]
                    .iter()
                    .any(|f| text.contains(f))
            };
            if !aggregate {
                return Err("its SQL does not aggregate per window; Flink runs it as plain SQL over the stream, not exported".to_owned());
            }
            for (i, col) in window_cols.iter().enumerate() {
                exprs.insert(i, Expr::Identifier(col.clone()));
            }
        }
        GroupByExpr::All(_) => return Err("GROUP BY ALL is not Flink SQL".to_owned()),
    }
    let time = format!("`{}`", c.time_column);
    let tvf = match c.window {
        WindowKind::Tumbling => format!(
            "TABLE(TUMBLE(TABLE `input`, DESCRIPTOR({time}), {}))",
            interval(c.size_ms)
        ),
        WindowKind::Hopping => format!(
            "TABLE(HOP(TABLE `input`, DESCRIPTOR({time}), {}, {}))",
            interval(c.slide_ms),
            interval(c.size_ms)
        ),
        WindowKind::Session if c.session_key.is_empty() => {
            format!(
                "TABLE(SESSION(TABLE `input`, DESCRIPTOR({time}), {}))",
                interval(c.gap_ms)
            )
        }
        WindowKind::Session => format!(
            "TABLE(SESSION(TABLE `input` PARTITION BY `{}`, DESCRIPTOR({time}), {}))",
            c.session_key,
            interval(c.gap_ms)
        ),
    };
    let select_sql = query.to_string().replace(PLACEHOLDER, &tvf);
    let columns = |s: &SchemaRef, time_col: Option<&str>| {
        let mut lines: Vec<String> = s
            .fields()
            .iter()
            .map(|f| format!("  `{}` {}", f.name(), flink_type(f.data_type())))
            .collect();
        if let Some(t) = time_col {
            lines.push(format!(
                "  WATERMARK FOR `{t}` AS `{t}` - {}",
                interval(c.max_out_of_orderness_ms)
            ));
        }
        lines.join(",\n")
    };
    if schema.field_with_name(&c.time_column).is_err() {
        return Err(format!("the stream has no column {}", c.time_column));
    }
    let mut sink_fields = vec![
        Field::new(
            "window_start",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new(
            "window_end",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
    ];
    sink_fields.extend(result.fields().iter().map(|f| f.as_ref().clone()));
    let sink = Arc::new(Schema::new(sink_fields));
    let mut notes = vec![
        "-- Generated by `tributary export` from the analytics node: main.py runs it on".to_owned(),
        "-- Managed Service for Apache Flink (${source_stream} and ${region} come from the"
            .to_owned(),
        "-- application's runtime properties).".to_owned(),
    ];
    if ordered {
        notes.push(
            "-- ORDER BY is left out: Flink emits each window's rows as it closes.".to_owned(),
        );
    }
    if c.late == LateRecords::Output {
        notes.push(
            "-- Late records: Flink drops records behind the watermark; the designer output them."
                .to_owned(),
        );
    }
    Ok(format!(
        "{notes}\n\nCREATE TABLE `input` (\n{source}\n) WITH (\n  'connector' = 'kinesis',\n  \
         'stream' = '${{source_stream}}',\n  'aws.region' = '${{region}}',\n  \
         'scan.stream.initpos' = '{initpos}',\n  'format' = 'json',\n  \
         'json.timestamp-format.standard' = 'ISO-8601'\n);\n\n\
         -- The node's results: a live table and chart in the designer; point this sink at a\n\
         -- Kinesis stream or Firehose to keep them.\n\
         CREATE TABLE results (\n{sink}\n) WITH (\n  'connector' = 'print'\n);\n\n\
         -- Stream '{stream}', {window} windows.\n\
         INSERT INTO results\n{select_sql};\n",
        notes = notes.join("\n"),
        source = columns(schema, Some(&c.time_column)),
        sink = columns(&sink, None),
        initpos = match c.starting_position {
            crate::nodes::start::StartingPosition::Latest => "LATEST",
            _ => "TRIM_HORIZON",
        },
        window = c.window.as_str(),
    ))
}

/// The PyFlink program that runs `main.sql` on Managed Service for Apache Flink.
pub(super) fn flink_main(node: &str) -> String {
    format!(
        r#""""Runs main.sql, the analytics node '{node}' as Flink SQL (generated by `tributary export`).

On Managed Service for Apache Flink the runtime properties (group "tributary") give the
source stream and region; locally, SOURCE_STREAM and AWS_REGION do.
"""
import json
import os
import pathlib

from pyflink.table import EnvironmentSettings, TableEnvironment

PROPERTIES = pathlib.Path("/etc/flink/application_properties.json")


def properties():
    if PROPERTIES.exists():
        for group in json.loads(PROPERTIES.read_text()):
            if group["PropertyGroupId"] == "tributary":
                return group["PropertyMap"]
    return {{
        "source_stream": os.environ.get("SOURCE_STREAM", ""),
        "region": os.environ.get("AWS_REGION", "us-east-1"),
    }}


def statements(text):
    """The statements of main.sql (each ends with ';' at the end of a line)."""
    current = []
    for line in text.splitlines():
        if line.strip().startswith("--"):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            yield "\n".join(current).rstrip().rstrip(";")
            current = []


def main():
    sql = (pathlib.Path(__file__).parent / "main.sql").read_text()
    for key, value in properties().items():
        sql = sql.replace("${{" + key + "}}", value)
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    inserts = env.create_statement_set()
    for statement in statements(sql):
        if statement.lstrip().upper().startswith("INSERT"):
            inserts.add_insert_sql(statement)
        else:
            env.execute_sql(statement)
    inserts.execute()


if __name__ == "__main__":
    main()
"#
    )
}

/// The README of an export: what is in it, how to deploy, what was left out.
pub(super) fn readme(ex: &Export<'_>) -> String {
    let mut out = format!(
        "# {name} on AWS\n\nExported by Tributary from the project '{name}'. The same \
         project always exports the same files, so this folder diffs well in git.\n\n\
         ## What is here\n\n- `template.yaml`: a CloudFormation template (with the AWS SAM \
         transform for functions): a resource per node, and an IAM role per resource whose \
         policy names exactly the resources wired to it.\n",
        name = ex.project.name
    );
    let mut folders: Vec<&str> = ex
        .files
        .keys()
        .filter_map(|f| f.split_once('/').map(|(d, _)| d))
        .collect();
    folders.dedup();
    for folder in folders {
        let what = match folder {
            "lambda" => {
                "Lambda functions, one folder each: the node's handler as written, its requirements, and `tributary_forward` where the function's answer goes on to the next node (as in the designer)"
            }
            "glue" => {
                "Glue job scripts (PySpark): each runs the node's SQL with `spark.sql` over the catalog's tables, with job bookmarks"
            }
            "athena" => "the SQL of each query node (also saved as Athena named queries)",
            "emr" => "EMR job scripts (PySpark) for EMR Serverless",
            "flink" => "Flink SQL of the analytics nodes, with the PyFlink `main.py` that runs it",
            _ => "",
        };
        out.push_str(&format!("- `{folder}/`: {what}\n"));
    }
    let params: Vec<&str> = ex.template.parameter_ids().collect();
    out.push_str(&format!(
        "\n## Deploy\n\nParameters (`--parameter-overrides Name=value`): {}. Bucket names \
         must be globally unique: override the defaults.\n\n\
         With the AWS CLI (packages the local code folders into the artifacts bucket):\n\n\
         ```sh\naws cloudformation package --template-file template.yaml \\\n  --s3-bucket \
         <artifacts-bucket> --output-template-file packaged.yaml\naws cloudformation deploy \
         --template-file packaged.yaml --stack-name <stack> \\\n  --capabilities \
         CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \\\n  --parameter-overrides <Name=value ...>\n```\n\n\
         Or with the SAM CLI, which also installs each function's requirements: `sam build \
         && sam deploy --guided`.\n",
        params.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
    ));
    if ex.files.keys().any(|f| f.starts_with("flink/")) {
        out.push_str(&format!(
            "\nFlink applications read their code from the artifacts bucket: before deploying, \
             zip each `flink/<node>/` folder with the Kinesis SQL connector as \
             `{FLINK_CONNECTOR_JAR}` and upload it as `flink/<node>.zip`:\n\n```sh\n(cd \
             flink/<node> && mkdir -p lib && curl -sLo {FLINK_CONNECTOR_JAR} \
             https://repo1.maven.org/maven2/org/apache/flink/flink-sql-connector-kinesis/4.3.0-1.19/flink-sql-connector-kinesis-4.3.0-1.19.jar \
             && zip -r ../<node>.zip .)\naws s3 cp flink/<node>.zip \
             s3://<artifacts-bucket>/flink/<node>.zip\n```\n\nStart an application with \
             `aws kinesisanalyticsv2 start-application --application-name <stack>-<node>`.\n"
        ));
    }
    if ex.files.keys().any(|f| f.starts_with("emr/")) {
        out.push_str(
            "\nEMR jobs: upload the script and start a run with the application and role the \
             stack outputs:\n\n```sh\naws s3 cp emr/<node>.py \
             s3://<artifacts-bucket>/emr/<node>.py\naws emr-serverless start-job-run \
             --application-id <application> --execution-role-arn <job role> \\\n  \
             --job-driver '{\"sparkSubmit\": {\"entryPoint\": \
             \"s3://<artifacts-bucket>/emr/<node>.py\", \"entryPointArguments\": \
             [\"--database\", \"DefaultDatabaseName=<database>\", \"--target\", \
             \"s3://<bucket>/<prefix>/\"]}}'\n```\n",
        );
    }
    let glue = ex.files.keys().any(|f| f.starts_with("glue/"))
        || ex
            .template
            .resources()
            .iter()
            .any(|r| r.body["Type"] == "AWS::Glue::Crawler");
    let existing: Vec<&str> = ex
        .buckets
        .values()
        .filter(|b| b.resource.is_none())
        .map(|b| b.param.as_str())
        .collect();
    out.push_str(
        "\n## IAM\n\nEvery policy statement names resources of this template (by `Fn::GetAtt`, \
         `Ref`, or an ARN built from its parameters); none is `*`.",
    );
    if !existing.is_empty() {
        let mut names: Vec<&str> = existing.clone();
        names.dedup();
        out.push_str(&format!(
            " The buckets the project names as existing (`s3://…`) are not created: their \
             names are the parameters {}.",
            names
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if glue {
        out.push_str(
            " AWS Glue writes crawler and job logs to log groups it creates itself \
             (`/aws-glue/crawlers`, `/aws-glue/jobs/…`), which the roles may write to. A \
             crawler and a Glue job may change any table of their database \
             (`table/<database>/*`): the tables a crawl finds are not known in advance.",
        );
    }
    out.push('\n');
    if ex
        .files
        .keys()
        .any(|f| f.starts_with("glue/") || f.starts_with("emr/"))
    {
        out.push_str(
            "\n## SQL\n\nGlue and EMR scripts run each node's SQL as written, with Spark SQL; \
             the designer runs it with DataFusion. Most SQL means the same in both; check \
             functions whose names or arguments differ. A table named with its database \
             (`sales.orders`) is found by the database's deployed name, which is the \
             database parameter's default unless you override it.\n",
        );
    }
    if !ex.left_out.is_empty() || !ex.notes.is_empty() {
        out.push_str("\n## Not exported, and what to know\n\n");
        for (node, why) in &ex.left_out {
            out.push_str(&format!("- `{node}`: {why}.\n"));
        }
        for note in &ex.notes {
            out.push_str(&format!("- {note}.\n"));
        }
    }
    out
}
