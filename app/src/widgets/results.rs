//! The Results tab: a node's rows in a virtually scrolled table.

use egui::Ui;
use egui_extras::{Column, TableBuilder};
use tributary_engine::arrow::array::RecordBatch;
use tributary_engine::arrow::datatypes::SchemaRef;
use tributary_engine::arrow::util::display::{ArrayFormatter, FormatOptions};

/// Rows of one node's output, as the engine previewed them.
pub struct ResultTable {
    /// Schema, also for zero rows.
    pub schema: SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
    /// Rows in the whole result (may be more than are shown).
    pub total_rows: u64,
    /// Start row of each batch, for finding a row quickly.
    offsets: Vec<usize>,
}

impl ResultTable {
    /// Wraps previewed batches.
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>, total_rows: u64) -> Self {
        let mut offsets = Vec::with_capacity(batches.len());
        let mut at = 0;
        for b in &batches {
            offsets.push(at);
            at += b.num_rows();
        }
        Self {
            schema,
            batches,
            total_rows,
            offsets,
        }
    }

    /// Rows held.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    /// The text of one cell.
    pub fn cell(&self, row: usize, col: usize) -> String {
        let i = match self.offsets.binary_search(&row) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let Some(batch) = self.batches.get(i) else {
            return String::new();
        };
        let r = row - self.offsets[i];
        let options = FormatOptions::default().with_null("NULL");
        match ArrayFormatter::try_new(batch.column(col).as_ref(), &options) {
            Ok(f) => f.value(r).to_string(),
            Err(e) => format!("<{e}>"),
        }
    }
}

/// Draws the table; only visible rows are formatted.
pub fn results_ui(ui: &mut Ui, table: &ResultTable) {
    let rows = table.num_rows();
    ui.label(if (rows as u64) < table.total_rows {
        format!("showing {rows} of {} rows", table.total_rows)
    } else {
        crate::widgets::catalog_view::count(rows as u64, "row")
    });
    let fields = table.schema.fields();
    let row_height = ui.text_style_height(&egui::TextStyle::Monospace) + 4.0;
    egui::ScrollArea::horizontal().show(ui, |ui| {
        TableBuilder::new(ui)
            .striped(true)
            .resizable(true)
            .columns(
                Column::auto().at_least(60.0).clip(true),
                fields.len().max(1),
            )
            .header(2.0 * row_height + 4.0, |mut header| {
                for f in fields.iter() {
                    header.col(|ui| {
                        ui.strong(f.name()).on_hover_text(f.data_type().to_string());
                        ui.weak(short_type(f.data_type()));
                    });
                }
            })
            .body(|body| {
                body.rows(row_height, rows, |mut row| {
                    let r = row.index();
                    for c in 0..fields.len() {
                        row.col(|ui| {
                            let text = table.cell(r, c);
                            ui.add(
                                egui::Label::new(egui::RichText::new(&text).monospace()).truncate(),
                            )
                            .context_menu(|ui| {
                                if ui.button("Copy").clicked() {
                                    ui.ctx().copy_text(text.clone());
                                    ui.close();
                                }
                            });
                        });
                    }
                });
            });
    });
}

fn short_type(dt: &tributary_engine::arrow::datatypes::DataType) -> String {
    let s = dt.to_string();
    if s.len() > 18 {
        format!("{}…", &s[..17])
    } else {
        s
    }
}
