//! Visual transforms in the designer: the SQL each runs is shown with the input's
//! columns, and a transform's output takes the type of its input on the wires.

use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use tributary::AppCommand;

use crate::{app, click_node, command, example_over_the_lake, wait_for_run};

#[test]
fn a_transform_shows_the_sql_it_runs_with_the_columns_of_the_last_run() {
    let (_dir, path) = example_over_the_lake("transforms.json");
    let mut h = app(Some(&path));
    command(&mut h, AppCommand::Run);
    wait_for_run(&mut h);
    click_node(&mut h, "tidy");
    h.run_steps(3);
    assert_eq!(h.state().selected(), Some("tidy"));
    let sql: Vec<String> = h
        .get_all_by_role(Role::MultilineTextInput)
        .filter_map(|n| n.accesskit_node().value())
        .filter(|v| v.starts_with("SELECT"))
        .collect();
    assert_eq!(
        sql,
        [
            "SELECT \"company\",\n       CAST(\"price\" AS DOUBLE) AS \"price_usd\",\n       \"symbol\",\n       \"date\"\nFROM input"
        ]
    );
    // The rows are the run's: 560 prices, each named.
    assert!(h.query_by_label("560 rows").is_some());
}

#[test]
fn a_transform_fed_a_table_cannot_feed_a_stream_input() {
    let (_dir, path) = example_over_the_lake("transforms.json");
    let mut h = app(Some(&path));
    h.get_by_label("+ table_sink").click();
    h.run_steps(3);
    let sink = h.state().selected().unwrap().to_owned();
    let refused = h
        .state_mut()
        .connect("per_company", "records", &sink, "records")
        .unwrap_err();
    assert_eq!(
        refused,
        "Cannot connect: 'records' gives table but 'records' takes stream"
    );
    // Into a table input it goes.
    h.get_by_label("+ series_sink").click();
    h.run_steps(3);
    let chart = h.state().selected().unwrap().to_owned();
    h.state_mut()
        .connect("per_company", "records", &chart, "table")
        .unwrap();
}
