//! Athena's (Trino's) functions against Trino's documented examples: the cases are
//! data in `tests/data/trino_functions.txt`, not code per function.

use tributary_engine::arrow::util::display::array_value_to_string;
use tributary_engine::lake::provider::ScanHooks;
use tributary_engine::lake::sql;

use crate::support::data;

#[test]
fn every_listed_trino_function_gives_the_documented_result() {
    let cases = std::fs::read_to_string(data("trino_functions.txt")).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let hooks = ScanHooks::default();
    let ctx = sql::session(None, &hooks, &Default::default()).unwrap();
    let mut failures = Vec::new();
    let mut ran = 0;
    for (n, line) in cases.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (expr, expected) = line
            .rsplit_once(" => ")
            .unwrap_or_else(|| panic!("line {}: no ' => ' in {line}", n + 1));
        let statement = if expr.starts_with("SELECT ") {
            expr.to_owned()
        } else {
            format!("SELECT {expr}")
        };
        ran += 1;
        let got = runtime.block_on(sql::run_query(&ctx, &statement, &hooks));
        let got = match got {
            Err(e) => format!("error: {e}"),
            Ok(r) => {
                let rows: Vec<_> = r.batches.iter().filter(|b| b.num_rows() > 0).collect();
                assert_eq!(rows.len(), 1, "line {}: {statement}", n + 1);
                let col = rows[0].column(0);
                if col.is_null(0) {
                    "NULL".to_owned()
                } else {
                    array_value_to_string(col, 0).unwrap()
                }
            }
        };
        if got != expected {
            failures.push(format!(
                "line {}: {statement}\n    expected {expected}\n    got      {got}",
                n + 1
            ));
        }
    }
    assert!(ran > 100, "only {ran} cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
