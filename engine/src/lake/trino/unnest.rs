//! Trino's `UNNEST` joins, which DataFusion 55 plans as a lateral join it cannot run,
//! rewritten into its own `unnest()` in a derived table before planning:
//!
//! ```sql
//! SELECT e.id, t.tag FROM events e CROSS JOIN UNNEST(e.tags) AS t(tag)
//! -- becomes
//! SELECT e.id, e.tag FROM (SELECT e.*, unnest(e.tags) AS tag FROM events e) AS e
//! ```
//!
//! The forms: `CROSS JOIN UNNEST(…)`, `, UNNEST(…)`, `[INNER] JOIN UNNEST(…) ON TRUE` and
//! `LEFT JOIN UNNEST(…) ON TRUE` (a row whose array is empty or null stays, with nulls),
//! several arrays in one `UNNEST(a, b)` (zipped, the shorter padded with nulls, as Trino
//! does), several `UNNEST` joins (each multiplies the rows) and `WITH ORDINALITY` (the
//! position, from 1). An array of rows unnests into one column holding each row
//! (`t.item.sku`); Trino's spreading of a row's fields over several columns is not done
//! and says so. SQL without `UNNEST` joins is left exactly as written.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use crate::datafusion::sql::parser::{DFParser, Statement as DfStatement};
use crate::datafusion::sql::sqlparser::ast::{
    Expr, Ident, JoinConstraint, JoinOperator, Select, SetExpr, TableFactor, TableWithJoins, Value,
    VisitMut, VisitorMut,
};
use crate::error::{Error, Result};

/// `sql` with its `UNNEST` joins rewritten, or `None` when it has none (or does not
/// parse: DataFusion then reports the error as it would).
pub fn rewrite(sql: &str) -> Result<Option<String>> {
    if !sql.to_ascii_uppercase().contains("UNNEST") {
        return Ok(None);
    }
    let Ok(mut statements) = DFParser::parse_sql(sql) else {
        return Ok(None);
    };
    if statements.len() != 1 {
        return Ok(None);
    }
    let Some(DfStatement::Statement(statement)) = statements.front_mut() else {
        return Ok(None);
    };
    let mut rewriter = Rewriter::default();
    if let ControlFlow::Break(e) = statement.visit(&mut rewriter) {
        return Err(e);
    }
    Ok(rewriter.changed.then(|| statement.to_string()))
}

#[derive(Default)]
struct Rewriter {
    /// Each unnest alias and the relation alias its columns now belong to.
    renames: BTreeMap<String, Ident>,
    changed: bool,
}

impl VisitorMut for Rewriter {
    type Break = Error;

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<Error> {
        match self.rewrite_from(&mut select.from) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        }
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<Error> {
        if let Expr::CompoundIdentifier(parts) = expr
            && parts.len() >= 2
            && let Some(to) = self.renames.get(&parts[0].value.to_lowercase())
        {
            parts[0] = to.clone();
        }
        ControlFlow::Continue(())
    }
}

/// One `UNNEST` join: its arrays, column names, ordinality and whether rows without
/// elements stay (LEFT JOIN).
struct UnnestJoin {
    arrays: Vec<Expr>,
    alias: Option<Ident>,
    columns: Vec<Ident>,
    ordinality: bool,
    keep_empty: bool,
}

impl Rewriter {
    fn rewrite_from(&mut self, from: &mut Vec<TableWithJoins>) -> Result<()> {
        // `R, UNNEST(…) AS u(x)`: the same as a CROSS JOIN of the item before.
        let mut i = 1;
        while i < from.len() {
            if matches!(from[i].relation, TableFactor::UNNEST { .. }) && from[i].joins.is_empty() {
                let unnest = from.remove(i);
                from[i - 1]
                    .joins
                    .push(crate::datafusion::sql::sqlparser::ast::Join {
                        relation: unnest.relation,
                        global: false,
                        join_operator: JoinOperator::CrossJoin(JoinConstraint::None),
                    });
            } else {
                i += 1;
            }
        }
        for twj in from.iter_mut() {
            // Only UNNEST joins right after the relation: a join between them would need
            // the lateral join itself.
            let leading = twj
                .joins
                .iter()
                .take_while(|j| matches!(j.relation, TableFactor::UNNEST { .. }))
                .count();
            if leading == 0 {
                continue;
            }
            let unnests: Vec<UnnestJoin> = twj
                .joins
                .drain(..leading)
                .map(unnest_join)
                .collect::<Result<_>>()?;
            let name = relation_name(&twj.relation)?;
            let mut relation = twj.relation.to_string();
            // `db.t` qualifies its columns as `t` only with an alias (`t.*` needs one).
            if matches!(twj.relation, TableFactor::Table { alias: None, .. }) {
                relation = format!("{relation} AS {name}");
            }
            for u in unnests {
                relation = format!("({}) AS {name}", derived(&name, &relation, &u));
                if let Some(alias) = &u.alias {
                    self.renames
                        .insert(alias.value.to_lowercase(), name.clone());
                }
            }
            twj.relation = parse_relation(&relation)?;
            self.changed = true;
        }
        Ok(())
    }
}

fn unnest_join(join: crate::datafusion::sql::sqlparser::ast::Join) -> Result<UnnestJoin> {
    let on_true = |c: &JoinConstraint| match c {
        JoinConstraint::None => true,
        JoinConstraint::On(Expr::Value(v)) => matches!(v.value, Value::Boolean(true)),
        _ => false,
    };
    let keep_empty = match &join.join_operator {
        JoinOperator::CrossJoin(c) | JoinOperator::Join(c) | JoinOperator::Inner(c)
            if on_true(c) =>
        {
            false
        }
        JoinOperator::Left(c) | JoinOperator::LeftOuter(c) if on_true(c) => true,
        other => {
            return Err(Error::Sql(format!(
                "UNNEST can be joined with CROSS JOIN, a comma, or [LEFT] JOIN … ON TRUE; found {}",
                join_name(other)
            )));
        }
    };
    let TableFactor::UNNEST {
        alias,
        array_exprs,
        with_offset,
        with_ordinality,
        ..
    } = join.relation
    else {
        return Err(Error::Internal("an UNNEST join without UNNEST".to_owned()));
    };
    if with_offset {
        return Err(Error::Sql(
            "UNNEST … WITH OFFSET is BigQuery's; write WITH ORDINALITY".to_owned(),
        ));
    }
    let (alias, mut columns) = match alias {
        Some(a) => (
            Some(a.name.clone()),
            a.columns.into_iter().map(|c| c.name).collect::<Vec<_>>(),
        ),
        None => (None, Vec::new()),
    };
    let wanted = array_exprs.len() + usize::from(with_ordinality);
    if columns.is_empty() {
        // Unnamed: Trino's column names are not reachable anyway; name them after the
        // alias (or `unnest`), one per array.
        let base = alias
            .as_ref()
            .map(|a| a.value.clone())
            .unwrap_or_else(|| "unnest".to_owned());
        columns = (0..wanted)
            .map(|i| {
                Ident::new(if i == 0 {
                    base.clone()
                } else {
                    format!("{base}_{i}")
                })
            })
            .collect();
    }
    if columns.len() != wanted {
        return Err(Error::Sql(format!(
            "UNNEST of {} array(s){} gives {wanted} column(s), and {} name(s) are given ({}). An array of rows unnests into one column holding each row here: name it once and read its fields as name.field",
            array_exprs.len(),
            if with_ordinality {
                " WITH ORDINALITY"
            } else {
                ""
            },
            columns.len(),
            columns
                .iter()
                .map(|c| c.value.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(UnnestJoin {
        arrays: array_exprs,
        alias,
        columns,
        ordinality: with_ordinality,
        keep_empty,
    })
}

fn join_name(op: &JoinOperator) -> &'static str {
    match op {
        JoinOperator::Right(_) | JoinOperator::RightOuter(_) => "RIGHT JOIN",
        JoinOperator::FullOuter(_) => "FULL JOIN",
        JoinOperator::Left(_) | JoinOperator::LeftOuter(_) => "LEFT JOIN with a condition",
        JoinOperator::CrossJoin(_) | JoinOperator::Join(_) | JoinOperator::Inner(_) => {
            "JOIN with a condition"
        }
        _ => "another join",
    }
}

/// The name a relation's columns are qualified by: its alias, else its table name.
fn relation_name(relation: &TableFactor) -> Result<Ident> {
    match relation {
        TableFactor::Table { alias: Some(a), .. } | TableFactor::Derived { alias: Some(a), .. } => {
            Ok(a.name.clone())
        }
        TableFactor::Table { name, .. } => name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .cloned()
            .ok_or_else(|| Error::Sql(format!("cannot UNNEST beside '{name}'"))),
        other => Err(Error::Sql(format!(
            "UNNEST is joined to a table or a subquery with an alias here; found '{other}'"
        ))),
    }
}

/// `SELECT name.*, unnest(a) AS x, … FROM relation`: one row per element, the arrays of
/// one UNNEST zipped; with ordinality, the position zipped beside them.
fn derived(name: &Ident, relation: &str, u: &UnnestJoin) -> String {
    let array = |e: &Expr| {
        if u.keep_empty {
            // A row with no elements stays, its element null (LEFT JOIN … ON TRUE).
            format!("CASE WHEN cardinality({e}) > 0 THEN {e} ELSE make_array(NULL) END")
        } else {
            e.to_string()
        }
    };
    let mut items: Vec<String> = u
        .arrays
        .iter()
        .zip(&u.columns)
        .map(|(e, c)| format!("unnest({}) AS {c}", array(e)))
        .collect();
    if u.ordinality {
        let longest = u
            .arrays
            .iter()
            .map(|e| format!("CAST(coalesce(cardinality({e}), 0) AS BIGINT)"))
            .collect::<Vec<_>>();
        let n = if longest.len() == 1 {
            longest[0].clone()
        } else {
            format!("greatest({})", longest.join(", "))
        };
        let n = if u.keep_empty {
            format!("greatest({n}, 1)")
        } else {
            n
        };
        items.push(format!(
            "unnest(generate_series(1, {n})) AS {}",
            u.columns[u.arrays.len()]
        ));
    }
    format!("SELECT {name}.*, {} FROM {relation}", items.join(", "))
}

/// Parses `relation` (a derived table with its alias) as a FROM item.
fn parse_relation(relation: &str) -> Result<TableFactor> {
    let sql = format!("SELECT * FROM {relation}");
    let mut statements = DFParser::parse_sql(&sql)
        .map_err(|e| Error::Internal(format!("UNNEST rewrite does not parse: {e}: {sql}")))?;
    if let Some(DfStatement::Statement(s)) = statements.pop_front()
        && let crate::datafusion::sql::sqlparser::ast::Statement::Query(q) = *s
        && let SetExpr::Select(select) = *q.body
        && let Some(twj) = select.from.into_iter().next()
    {
        return Ok(twj.relation);
    }
    Err(Error::Internal(format!(
        "UNNEST rewrite gave no relation: {sql}"
    )))
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    #[test]
    fn unnest_joins_become_derived_tables_and_other_sql_is_left_alone() {
        assert_eq!(rewrite("SELECT unnest(tags) FROM t").unwrap(), None);
        assert_eq!(rewrite("SELECT 1").unwrap(), None);
        let r = rewrite("SELECT e.id, t.tag FROM events e CROSS JOIN UNNEST(e.tags) AS t(tag)")
            .unwrap()
            .unwrap();
        assert_eq!(
            r,
            "SELECT e.id, e.tag FROM (SELECT e.*, unnest(e.tags) AS tag FROM events e) AS e"
        );
        let err = rewrite("SELECT * FROM t CROSS JOIN UNNEST(items) AS u(sku, qty)")
            .unwrap_err()
            .to_string();
        assert!(err.contains("name.field"), "{err}");
    }
}
