//! Statements that print the catalog: `SHOW CREATE TABLE|VIEW` (the Hive DDL Athena
//! prints) and `DESCRIBE` (Glue and Arrow types).

use super::tables::Outcome;
use super::*;
use crate::lake::catalog::Column;
use crate::lake::glue_types::glue_type_of;
use crate::lake::sniff::FileFormat;
use crate::lake::writer::WRITTEN_CSV;

pub(super) fn show_create(store: &CatalogStore, name: &str, view: bool) -> Result<Outcome> {
    let catalog = store.snapshot();
    if view {
        let (db, v) = catalog
            .view(name)
            .ok_or_else(|| Error::Sql(format!("no view '{name}'")))?;
        let text = format!("CREATE VIEW {db}.{} AS\n{}", v.name, v.sql);
        let rows = text.lines().map(|l| vec![l.to_owned()]).collect();
        return Ok((vec!["create_view_stmt"], rows, None));
    }
    if catalog.resolve(name).is_err() && catalog.view(name).is_some() {
        return Err(Error::Sql(format!(
            "'{name}' is a view; write SHOW CREATE VIEW"
        )));
    }
    let (db, t) = resolve(&catalog, name)?;
    let location = store.resolve_location(&t.location);
    let rows = hive_ddl(db, t, &location)
        .lines()
        .map(|l| vec![l.to_owned()])
        .collect();
    Ok((vec!["createtab_stmt"], rows, None))
}

/// The Hive DDL that defines `t` as Athena prints it for `SHOW CREATE TABLE`.
pub fn hive_ddl(db: &str, t: &Table, location: &str) -> String {
    let column = |c: &Column| format!("  `{}` {}", c.name, glue_type_of(&c.data_type));
    let mut out = format!("CREATE EXTERNAL TABLE `{db}`.`{}`(\n", t.name);
    out.push_str(&t.columns.iter().map(column).collect::<Vec<_>>().join(",\n"));
    out.push(')');
    if !t.partition_keys.is_empty() {
        out.push_str("\nPARTITIONED BY (\n");
        out.push_str(
            &t.partition_keys
                .iter()
                .map(column)
                .collect::<Vec<_>>()
                .join(",\n"),
        );
        out.push(')');
    }
    let mut properties: BTreeMap<String, String> = t.parameters.clone();
    match t.format {
        FileFormat::Parquet => {
            out.push_str("\nROW FORMAT SERDE\n  'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'\nSTORED AS INPUTFORMAT\n  'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat'\nOUTPUTFORMAT\n  'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat'");
            properties.insert("classification".into(), "parquet".into());
        }
        FileFormat::Avro => {
            out.push_str("\nROW FORMAT SERDE\n  'org.apache.hadoop.hive.serde2.avro.AvroSerDe'\nSTORED AS INPUTFORMAT\n  'org.apache.hadoop.hive.ql.io.avro.AvroContainerInputFormat'\nOUTPUTFORMAT\n  'org.apache.hadoop.hive.ql.io.avro.AvroContainerOutputFormat'");
            properties.insert("classification".into(), "avro".into());
        }
        FileFormat::Orc => {
            out.push_str("\nROW FORMAT SERDE\n  'org.apache.hadoop.hive.ql.io.orc.OrcSerde'\nSTORED AS INPUTFORMAT\n  'org.apache.hadoop.hive.ql.io.orc.OrcInputFormat'\nOUTPUTFORMAT\n  'org.apache.hadoop.hive.ql.io.orc.OrcOutputFormat'");
            properties.insert("classification".into(), "orc".into());
        }
        FileFormat::Json => {
            out.push_str("\nROW FORMAT SERDE\n  'org.openx.data.jsonserde.JsonSerDe'\nSTORED AS INPUTFORMAT\n  'org.apache.hadoop.mapred.TextInputFormat'\nOUTPUTFORMAT\n  'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'");
            properties.insert("classification".into(), "json".into());
        }
        FileFormat::Csv => {
            let dialect = t.options.csv.unwrap_or(WRITTEN_CSV);
            let show = |b: u8| match b {
                b'\t' => "\\t".to_owned(),
                0x01 => "\\u0001".to_owned(),
                b'\'' => "\\'".to_owned(),
                b => (b as char).to_string(),
            };
            let mut serde: BTreeMap<String, String> = t.options.serde_properties.clone();
            // OpenCSVSerde when quoting is set, as Athena needs it for quoted fields.
            let open_csv = ["quoteChar", "escapeChar", "separatorChar"]
                .iter()
                .any(|k| serde.contains_key(*k));
            if open_csv {
                serde
                    .entry("separatorChar".into())
                    .or_insert_with(|| show(t.options.delimiter()));
                serde.remove("field.delim");
            } else {
                serde.insert("field.delim".into(), show(t.options.delimiter()));
            }
            out.push_str(&format!(
                "\nROW FORMAT SERDE\n  '{}'\nWITH SERDEPROPERTIES (\n{})\nSTORED AS INPUTFORMAT\n  'org.apache.hadoop.mapred.TextInputFormat'\nOUTPUTFORMAT\n  'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'",
                if open_csv {
                    "org.apache.hadoop.hive.serde2.OpenCSVSerde"
                } else {
                    "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
                },
                serde
                    .iter()
                    .map(|(k, v)| format!("  '{k}'='{v}'"))
                    .collect::<Vec<_>>()
                    .join(",\n")
            ));
            properties.insert("classification".into(), "csv".into());
            if dialect.has_header {
                properties
                    .entry("skip.header.line.count".into())
                    .or_insert_with(|| "1".into());
            }
        }
    }
    out.push_str(&format!("\nLOCATION\n  '{location}'"));
    out.push_str("\nTBLPROPERTIES (\n");
    out.push_str(
        &properties
            .iter()
            .map(|(k, v)| format!("  '{k}'='{}'", v.replace('\'', "\\'")))
            .collect::<Vec<_>>()
            .join(",\n"),
    );
    out.push(')');
    out
}

pub(super) fn describe(store: &CatalogStore, name: &str) -> Result<Outcome> {
    let catalog = store.snapshot();
    let header = vec!["col_name", "data_type", "arrow_type", "comment"];
    let row = |c: &Column, comment: &str| {
        vec![
            c.name.clone(),
            glue_type_of(&c.data_type),
            c.data_type.clone(),
            comment.to_owned(),
        ]
    };
    if let Ok((_, t)) = catalog.resolve(name) {
        let rows = t
            .columns
            .iter()
            .map(|c| row(c, ""))
            .chain(t.partition_keys.iter().map(|c| row(c, "partition key")))
            .collect();
        return Ok((header, rows, None));
    }
    let (_, v) = catalog
        .view(name)
        .ok_or_else(|| Error::Sql(format!("no table or view '{name}'")))?;
    Ok((header, v.columns.iter().map(|c| row(c, "")).collect(), None))
}
