//! A run's timeline on disk and read back: `timeline.json` beside the run's `run.json`
//! (the grid, each streaming node's counts and a stream's shard tips, each view's
//! snapshot times and the records each stood for) and `<node>.<port>.timeline.parquet` per live view (every
//! snapshot's rows, with the moment in an `_at_ms` column). `state_at` answers "what did
//! this node hold at T": the newest point at or before T.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::api::timeline::{Counts, History};
use crate::arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, RecordBatchReader};
use crate::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use crate::datafusion::parquet::arrow::ArrowWriter;
use crate::error::{Error, Result};

/// The column holding each snapshot's moment.
pub const AT_COLUMN: &str = "_at_ms";

/// `timeline.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TimelineFile {
    /// Where the grid started (ms since the epoch, the run's clock).
    pub start_ms: i64,
    /// The grid's step at the end of the run (ms).
    pub step_ms: i64,
    /// Points kept per series (the project's `timeline_points`).
    pub keep: usize,
    /// Each streaming node's counts, oldest first.
    pub counts: BTreeMap<String, Vec<Counts>>,
    /// Each live view's snapshots.
    pub views: Vec<ViewFile>,
}

/// A live view's snapshots in `timeline.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ViewFile {
    /// The node.
    pub node: String,
    /// Its port.
    pub port: String,
    /// The Parquet file with the rows.
    pub file: String,
    /// Each snapshot's moment, oldest first.
    pub at_ms: Vec<i64>,
    /// The records each stood for.
    pub totals: Vec<u64>,
}

/// Writes `history` into the run folder `dir`.
pub fn write(dir: &Path, history: &History) -> Result<()> {
    let mut file = TimelineFile {
        start_ms: history.start_ms,
        step_ms: history.step_ms,
        keep: history.keep,
        ..Default::default()
    };
    file.counts = history.counts.clone();
    for ((node, port), snapshots) in &history.views {
        let Some(first) = snapshots.first() else {
            continue;
        };
        let schema = first.rows.0.clone();
        // Snapshots with other columns than the first are left out.
        let same: Vec<_> = snapshots.iter().filter(|s| s.rows.0 == schema).collect();
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| (**f).clone()).collect();
        fields.push(Field::new(AT_COLUMN, DataType::Int64, false));
        let with_at = Arc::new(Schema::new(fields));
        let name = format!("{node}.{port}.timeline.parquet");
        let path = dir.join(&name);
        let bad = |e: &dyn std::fmt::Display| {
            Error::Invalid(format!("cannot write {}: {e}", path.display()))
        };
        let out = std::fs::File::create(&path).map_err(|e| bad(&e))?;
        let mut writer = ArrowWriter::try_new(out, with_at.clone(), None).map_err(|e| bad(&e))?;
        for s in &same {
            for b in &s.rows.1 {
                let mut columns: Vec<ArrayRef> = b.columns().to_vec();
                columns.push(Arc::new(Int64Array::from(vec![s.at_ms; b.num_rows()])));
                let batch = RecordBatch::try_new(with_at.clone(), columns).map_err(|e| bad(&e))?;
                writer.write(&batch).map_err(|e| bad(&e))?;
            }
        }
        writer.close().map_err(|e| bad(&e))?;
        file.views.push(ViewFile {
            node: node.clone(),
            port: port.clone(),
            file: name,
            at_ms: same.iter().map(|s| s.at_ms).collect(),
            totals: same.iter().map(|s| s.rows.2).collect(),
        });
    }
    let text = serde_json::to_string(&file).map_err(|e| Error::Invalid(e.to_string()))?;
    crate::fsutil::write_atomic(&dir.join("timeline.json"), text.as_bytes())
}

/// A recorded run's timeline, read back.
#[derive(Clone, Debug, Default)]
pub struct RecordedTimeline {
    /// What `timeline.json` says.
    pub file: TimelineFile,
    /// Each live view's snapshots by `(node, port)`: moment, records it stood for, rows.
    pub views: BTreeMap<(String, String), Vec<ViewAt>>,
}

/// A live view at one moment.
#[derive(Clone, Debug)]
pub struct ViewAt {
    /// The moment (ms since the epoch, the run's clock).
    pub at_ms: i64,
    /// The records it stood for.
    pub total: u64,
    /// Its columns (without `_at_ms`).
    pub schema: SchemaRef,
    /// Its rows.
    pub batches: Vec<RecordBatch>,
}

/// What a node held at a moment.
#[derive(Clone, Debug, Default)]
pub struct NodeAt {
    /// Its counts at the newest point at or before the moment.
    pub counts: Option<Counts>,
    /// Each of its live views at the newest snapshot at or before the moment, by port.
    pub views: BTreeMap<String, ViewAt>,
}

impl RecordedTimeline {
    /// The run's span on its clock: the first and last moments recorded.
    pub fn span(&self) -> Option<(i64, i64)> {
        let moments = self
            .file
            .counts
            .values()
            .flat_map(|s| s.iter().map(|c| c.at_ms))
            .chain(self.views.values().flat_map(|v| v.iter().map(|s| s.at_ms)));
        let (lo, hi) = moments.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
        (lo <= hi).then_some((self.file.start_ms.min(lo), hi))
    }

    /// Every moment recorded, in order (what a scrubber steps through).
    pub fn moments(&self) -> Vec<i64> {
        let mut all: Vec<i64> = self
            .file
            .counts
            .values()
            .flat_map(|s| s.iter().map(|c| c.at_ms))
            .chain(self.views.values().flat_map(|v| v.iter().map(|s| s.at_ms)))
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// What `node` held at `at_ms`: the newest points at or before it.
    pub fn state_at(&self, node: &str, at_ms: i64) -> NodeAt {
        let counts = self
            .file
            .counts
            .get(node)
            .and_then(|series| series.iter().rev().find(|c| c.at_ms <= at_ms).cloned());
        let views = self
            .views
            .range((node.to_owned(), String::new())..)
            .take_while(|((n, _), _)| n == node)
            .filter_map(|((_, port), snaps)| {
                let s = snaps.iter().rev().find(|s| s.at_ms <= at_ms)?;
                Some((port.clone(), s.clone()))
            })
            .collect();
        NodeAt { counts, views }
    }
}

/// Reads the timeline of the run recorded in `dir` (`None` when it kept none).
pub fn read(dir: &Path) -> Result<Option<RecordedTimeline>> {
    let path = dir.join("timeline.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let file: TimelineFile = serde_json::from_str(&text)
        .map_err(|e| Error::Invalid(format!("cannot read {}: {e}", path.display())))?;
    let mut views = BTreeMap::new();
    for v in &file.views {
        let path = dir.join(&v.file);
        let bad = |e: &dyn std::fmt::Display| {
            Error::Invalid(format!("cannot read {}: {e}", path.display()))
        };
        let f = std::fs::File::open(&path).map_err(|e| bad(&e))?;
        let reader =
            crate::datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
                .and_then(|b| b.build())
                .map_err(|e| bad(&e))?;
        let with_at = reader.schema();
        let at_index = with_at.index_of(AT_COLUMN).map_err(|e| bad(&e))?;
        let columns: Vec<usize> = (0..with_at.fields().len())
            .filter(|i| *i != at_index)
            .collect();
        let schema = Arc::new(with_at.project(&columns).map_err(|e| bad(&e))?);
        let mut by_moment: BTreeMap<i64, Vec<RecordBatch>> = BTreeMap::new();
        for batch in reader {
            let batch = batch.map_err(|e| bad(&e))?;
            let at = batch
                .column(at_index)
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| bad(&"_at_ms is not Int64"))?
                .clone();
            let rows = batch.project(&columns).map_err(|e| bad(&e))?;
            // Runs of one moment.
            let mut start = 0;
            while start < at.len() {
                let t = at.value(start);
                let mut end = start;
                while end < at.len() && at.value(end) == t {
                    end += 1;
                }
                by_moment
                    .entry(t)
                    .or_default()
                    .push(rows.slice(start, end - start));
                start = end;
            }
        }
        let snaps = v
            .at_ms
            .iter()
            .zip(&v.totals)
            .map(|(at, total)| ViewAt {
                at_ms: *at,
                total: *total,
                schema: schema.clone(),
                batches: by_moment.get(at).cloned().unwrap_or_default(),
            })
            .collect();
        views.insert((v.node.clone(), v.port.clone()), snaps);
    }
    Ok(Some(RecordedTimeline { file, views }))
}
