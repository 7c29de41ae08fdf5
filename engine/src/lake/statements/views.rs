//! `CREATE [OR REPLACE] VIEW`: the query planned in the view's database, its columns and
//! SQL kept in the catalog (see [`crate::lake::views`] for how sessions read them).

use super::tables::{Outcome, split_name};
use super::*;
use crate::lake::catalog::{Column, View};

pub(super) async fn create_view(
    runner: &Runner<'_>,
    store: &CatalogStore,
    view: &str,
    or_replace: bool,
    query: &str,
) -> Result<Outcome> {
    let (db, name) = split_name(view);
    let qualified = format!("{db}.{name}");
    {
        let catalog = store.lock();
        if catalog.table(&db, &name).is_some() {
            return Err(Error::Sql(format!(
                "'{qualified}' is a table; a view cannot take its name"
            )));
        }
        if !or_replace && catalog.view(&qualified).is_some() {
            return Err(Error::Sql(format!(
                "view '{qualified}' already exists (write CREATE OR REPLACE VIEW to replace it)"
            )));
        }
        crate::lake::views::check_no_cycle(&catalog, &qualified, query)?;
    }
    crate::lake::sql::check_read_only(query)?;
    // Unqualified names in a view resolve in its database.
    let mut state = runner.ctx.state();
    state.config_mut().options_mut().catalog.default_schema = db.clone();
    if !store.lock().databases.contains_key(&db) {
        return Err(Error::Sql(format!("no database '{db}'")));
    }
    let plan = crate::lake::sql::logical_plan(&state, query)
        .await
        .map_err(|e| {
            Error::Sql(crate::lake::sql::with_table_hint(
                runner.ctx,
                &crate::error::describe_datafusion_error(&e),
            ))
        })?;
    let columns: Vec<Column> = plan
        .schema()
        .fields()
        .iter()
        .map(|f| Column {
            name: f.name().clone(),
            data_type: f.data_type().to_string(),
            source_name: None,
            text_format: None,
        })
        .collect();
    let replaced = store.update(|c| {
        let database = c.ensure_database(&db);
        let now = chrono::Utc::now();
        let created_at = database.views.get(&name).map(|v| v.created_at);
        database.views.insert(
            name.clone(),
            View {
                name: name.clone(),
                sql: query.to_owned(),
                columns,
                created_by: runner.by.clone(),
                created_at: created_at.unwrap_or(now),
                updated_at: now,
            },
        );
        Ok(created_at.is_some())
    })?;
    Ok((
        vec!["view", "status"],
        vec![vec![
            qualified,
            if replaced { "replaced" } else { "created" }.to_owned(),
        ]],
        None,
    ))
}
