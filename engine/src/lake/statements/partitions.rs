//! Partition statements: `SHOW PARTITIONS`, `MSCK REPAIR TABLE`, `ALTER TABLE … ADD|DROP
//! PARTITION`, `SET TBLPROPERTIES` and `CHANGE COLUMN`.

use super::*;

pub(super) async fn execute(
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
            if crate::lake::projection::enabled(&t.parameters) {
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
                if let Some(n) = params.get("skip.header.line.count")
                    && !matches!(n.trim(), "0" | "1")
                {
                    return Err(Error::Sql(format!(
                        "skip.header.line.count '{n}' is not supported: Tributary reads 0 or 1 header lines"
                    )));
                }
                if crate::lake::projection::enabled(&params) {
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
                    crate::lake::projection::Projection::from_parameters(&keys, &params)
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
            let arrow = crate::lake::glue_types::parse_glue_type(data_type).map_err(Error::Sql)?;
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
                    crate::lake::glue_types::glue_type(&arrow),
                    crate::lake::glue_types::glue_type_of(&before),
                ]);
                let keys = t.partition_keys.clone();
                t.set_schema(columns, keys, "query:ALTER TABLE CHANGE COLUMN");
                Ok(())
            })?;
            Ok((vec!["column", "type", "was"], rows))
        }
        CatalogStatement::SetSerdeProperties { table, properties } => {
            let qualified = qualified(store, table)?;
            for (k, v) in properties {
                check_serde_property(k, v)?;
            }
            let mut rows = Vec::new();
            store.update(|catalog| {
                let t = table_mut(catalog, &qualified)?;
                if t.format != crate::lake::sniff::FileFormat::Csv
                    && properties.iter().any(|(k, _)| k != "serialization.null.format")
                {
                    return Err(Error::Sql(format!(
                        "table '{qualified}' is not CSV; of the SerDe properties only serialization.null.format applies to it"
                    )));
                }
                for (k, v) in properties {
                    t.options.serde_properties.insert(k.clone(), v.clone());
                    rows.push(vec![k.clone(), v.clone()]);
                }
                t.updated_at = chrono::Utc::now();
                Ok(())
            })?;
            Ok((vec!["property", "value"], rows))
        }
        _ => Err(Error::Internal(format!(
            "{} is not a partition statement",
            statement.name()
        ))),
    }
}

/// A SerDe property Tributary reads, with a value it can use.
fn check_serde_property(key: &str, value: &str) -> Result<()> {
    use crate::lake::catalog::{SERDE_PROPERTIES, unescape_char};
    if !SERDE_PROPERTIES.iter().any(|(k, _)| *k == key) {
        return Err(Error::Sql(format!(
            "SerDe property '{key}' is not read by Tributary; it reads: {}",
            SERDE_PROPERTIES
                .iter()
                .map(|(k, what)| format!("{k} ({what})"))
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    let ok = match key {
        "serialization.null.format" => true,
        "decimal.separator" => matches!(value, "." | ","),
        _ => unescape_char(value).is_some(),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::Sql(format!(
            "SerDe property '{key}' takes {}, found '{value}'",
            if key == "decimal.separator" {
                "'.' or ','"
            } else {
                "one character (or \\t, \\001)"
            }
        )))
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
        if crate::lake::bucket::is_hidden_key(rel) || !rel.ends_with(&t.options.file_extension) {
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
                            .map(|(_, v)| crate::lake::catalog::decode_partition_value(v))
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
