//! Recorded runs: each run of a project leaves `.tributary/runs/<id>/` beside it, with
//! `run.json` (when, how it ended, each node's status and recorded outputs) and the
//! table outputs of its nodes as Parquet (up to [`MAX_ROWS`] rows each), so two runs
//! can be compared (`tributary runs`, `tributary diff`). The project's `runs_kept`
//! bounds how many stay (the oldest go first; 0 records none).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::api::NodeStatus;
use crate::arrow::array::{RecordBatch, RecordBatchReader};
use crate::datafusion::parquet::arrow::ArrowWriter;
use crate::error::{Error, Result};
use crate::nodes::Value;

/// Rows recorded per table output; beyond them the recording says it is truncated.
pub const MAX_ROWS: usize = 100_000;

/// Where a project's runs are recorded.
pub fn runs_dir(base_dir: &Path) -> PathBuf {
    base_dir.join(".tributary").join("runs")
}

/// Where replays keep what their sinks wrote (`<base>/.tributary/replays/<run id>/`),
/// pruned with the runs.
pub fn replays_dir(base_dir: &Path) -> PathBuf {
    base_dir.join(".tributary").join("replays")
}

/// A run's id: its start time (UTC, to the millisecond) and its number.
pub fn run_id(started: chrono::DateTime<chrono::Utc>, seq: u64) -> String {
    format!("{}-{seq}", started.format("%Y%m%dT%H%M%S%.3fZ"))
}

/// A run that ended, as `record` writes it.
pub struct Finished<'a> {
    /// The run's number.
    pub seq: u64,
    /// When it started.
    pub started: chrono::DateTime<chrono::Utc>,
    /// How it ended.
    pub status: NodeStatus,
    /// Each node's line.
    pub lines: &'a [crate::api::NodeSummary],
    /// What it replayed, for a replay.
    pub replay: Option<&'a crate::api::Replay>,
}

/// One recorded run, as `run.json` holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedRun {
    /// Its id: the start time (UTC, to the millisecond) and the run's number.
    pub id: String,
    /// When it started (RFC 3339).
    pub started: String,
    /// When it ended (RFC 3339).
    pub finished: String,
    /// How it ended: ok, error or stopped.
    pub status: String,
    /// Each node's line.
    pub nodes: Vec<RecordedNode>,
    /// For a replay: the stream it started from and where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<crate::api::Replay>,
}

/// A node of a recorded run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedNode {
    /// Its id.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// How it ended.
    pub status: String,
    /// Its recorded table outputs, by port.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, RecordedOutput>,
}

/// A recorded table output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedOutput {
    /// The Parquet file in the run's folder.
    pub file: String,
    /// Rows the output had.
    pub rows: usize,
    /// Whether only the first [`MAX_ROWS`] were kept (for a live view: whether it stood
    /// for more records than it showed).
    pub truncated: bool,
    /// A streaming sink's live view as the run ended (a live table's newest rows, a
    /// chart's points), not a table output.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub live: bool,
}

/// Each streaming sink's last live view by `(node, port)`: schema, rows and the records
/// it stood for.
pub type LiveViews = BTreeMap<(String, String), crate::api::events::PreviewRows>;

/// What a run put out: each node's values by port, and each streaming sink's last live
/// view by `(node, port)`: schema, rows and the records it stood for.
pub struct RunOutputs<'a> {
    /// Values by node and port (tables are recorded).
    pub values: &'a BTreeMap<String, BTreeMap<&'static str, Value>>,
    /// Last previews by `(node, port)`.
    pub live: &'a LiveViews,
    /// The run's timeline, when it kept one.
    pub timeline: Option<&'a crate::api::timeline::History>,
}

/// Records `run` into `base_dir`'s runs: the table outputs in `outputs` (a streaming
/// sink's last live view when it has no table) and each node's line, then prunes to
/// `keep` runs.
pub fn record(
    base_dir: &Path,
    run: Finished<'_>,
    outputs: RunOutputs<'_>,
    keep: usize,
) -> Result<Option<String>> {
    if keep == 0 {
        return Ok(None);
    }
    let Finished {
        seq,
        started,
        status,
        lines,
        replay,
    } = run;
    let id = run_id(started, seq);
    let root = runs_dir(base_dir);
    let dir = root.join(&id);
    let staging = root.join(format!(".{id}.staging"));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| io("create", &staging, e))?;
    let mut nodes = Vec::new();
    for line in lines {
        let mut recorded = BTreeMap::new();
        for (port, value) in outputs.values.get(&line.id).into_iter().flatten() {
            let Value::Table(table) = value else {
                continue;
            };
            let file = format!("{}.{port}.parquet", line.id);
            let rows = table.num_rows();
            write_parquet(&staging.join(&file), &table.schema, &table.batches)?;
            recorded.insert(
                (*port).to_owned(),
                RecordedOutput {
                    file,
                    rows,
                    truncated: rows > MAX_ROWS,
                    live: false,
                },
            );
        }
        // A streaming node's (a live table's, a chart's) last live view.
        if recorded.is_empty() && line.stats.streaming.is_some() {
            let views = outputs.live.range((line.id.clone(), String::new())..);
            for ((node, port), (schema, batches, total)) in views {
                if *node != line.id {
                    break;
                }
                let file = format!("{node}.{port}.live.parquet");
                let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
                write_parquet(&staging.join(&file), schema, batches)?;
                recorded.insert(
                    port.clone(),
                    RecordedOutput {
                        file,
                        rows,
                        truncated: *total > rows as u64,
                        live: true,
                    },
                );
            }
        }
        nodes.push(RecordedNode {
            id: line.id.clone(),
            kind: line.kind.clone(),
            status: status_text(line.status),
            outputs: recorded,
        });
    }
    let run = RecordedRun {
        id: id.clone(),
        started: started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        status: status_text(status),
        nodes,
        replay: replay.cloned(),
    };
    if let Some(history) = outputs.timeline {
        super::timeline::write(&staging, history)?;
    }
    let text = serde_json::to_string_pretty(&run).map_err(|e| Error::Invalid(e.to_string()))?;
    crate::fsutil::write_atomic(&staging.join("run.json"), text.as_bytes())?;
    std::fs::rename(&staging, &dir).map_err(|e| io("move into place", &dir, e))?;
    prune(base_dir, keep);
    Ok(Some(id))
}

/// Writes the first [`MAX_ROWS`] rows of `batches` as Parquet.
fn write_parquet(
    path: &Path,
    schema: &crate::arrow::datatypes::SchemaRef,
    batches: &[RecordBatch],
) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|e| io("create", path, e))?;
    let mut writer = ArrowWriter::try_new(file, schema.clone(), None)
        .map_err(|e| Error::Invalid(format!("cannot write {}: {e}", path.display())))?;
    let mut left = MAX_ROWS;
    for batch in batches {
        if left == 0 {
            break;
        }
        let take = batch.num_rows().min(left);
        writer
            .write(&batch.slice(0, take))
            .map_err(|e| Error::Invalid(format!("cannot write {}: {e}", path.display())))?;
        left -= take;
    }
    writer
        .close()
        .map_err(|e| Error::Invalid(format!("cannot write {}: {e}", path.display())))?;
    Ok(())
}

/// A status as `run --json` writes it (`ok`, `error`, `stopped`, …).
fn status_text(status: NodeStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Invalid(format!("cannot {what} {}: {e}", path.display()))
}

/// The recorded runs of the project in `base_dir`, oldest first (runs whose folder is
/// unreadable are left out).
pub fn list(base_dir: &Path) -> Vec<RecordedRun> {
    let Ok(entries) = std::fs::read_dir(runs_dir(base_dir)) else {
        return Vec::new();
    };
    let mut runs: Vec<RecordedRun> = entries
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path().join("run.json")).ok()?;
            serde_json::from_str(&text).ok()
        })
        .collect();
    runs.sort_by(|a, b| (&a.started, &a.id).cmp(&(&b.started, &b.id)));
    runs
}

/// Removes the oldest runs beyond `keep` (and staging a killed process left).
fn prune(base_dir: &Path, keep: usize) {
    let runs = list(base_dir);
    let root = runs_dir(base_dir);
    for old in runs.iter().take(runs.len().saturating_sub(keep)) {
        let _ = std::fs::remove_dir_all(root.join(&old.id));
    }
    // What replays wrote goes with their runs.
    let kept: std::collections::BTreeSet<&str> = runs
        .iter()
        .skip(runs.len().saturating_sub(keep))
        .map(|r| r.id.as_str())
        .collect();
    if let Ok(entries) = std::fs::read_dir(replays_dir(base_dir)) {
        for e in entries.flatten() {
            if !kept.contains(e.file_name().to_string_lossy().as_ref()) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// A recorded run by id (a unique prefix of one, or `latest` / `previous`).
pub fn find(base_dir: &Path, id: &str) -> Result<RecordedRun> {
    let runs = list(base_dir);
    let pick = match id {
        "latest" => runs.last(),
        "previous" => runs.len().checked_sub(2).and_then(|i| runs.get(i)),
        _ => match runs.iter().find(|r| r.id == id) {
            Some(exact) => Some(exact),
            None => {
                let matching: Vec<&RecordedRun> =
                    runs.iter().filter(|r| r.id.starts_with(id)).collect();
                if matching.len() > 1 {
                    return Err(Error::Invalid(format!(
                        "run '{id}' is ambiguous: {}",
                        matching
                            .iter()
                            .map(|r| r.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                matching.first().copied()
            }
        },
    };
    pick.cloned().ok_or_else(|| {
        Error::Invalid(format!(
            "no recorded run '{id}'{}",
            if runs.is_empty() {
                " (the project has no recorded runs: run it first)".to_owned()
            } else {
                format!(
                    "; recorded: {}",
                    runs.iter()
                        .map(|r| r.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ))
    })
}

/// A recorded output: what `run.json` says of it, its columns and its rows.
pub type Output = (
    RecordedOutput,
    crate::arrow::datatypes::SchemaRef,
    Vec<RecordBatch>,
);

/// The rows node `node` put out in `run` (its first recorded table output).
pub fn output(base_dir: &Path, run: &RecordedRun, node: &str) -> Result<Output> {
    let Some(line) = run.nodes.iter().find(|n| n.id == node) else {
        return Err(Error::Invalid(format!(
            "run {} has no node '{node}'",
            run.id
        )));
    };
    let Some(out) = line.outputs.values().next() else {
        return Err(Error::Invalid(format!(
            "node '{node}' recorded no table in run {} (status {}); batch nodes' tables and streaming sinks' live views are recorded",
            run.id, line.status
        )));
    };
    let path = runs_dir(base_dir).join(&run.id).join(&out.file);
    let file = std::fs::File::open(&path).map_err(|e| io("open", &path, e))?;
    let bad =
        |e: &dyn std::fmt::Display| Error::Invalid(format!("cannot read {}: {e}", path.display()));
    let reader =
        crate::datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            file,
        )
        .and_then(|b| b.build())
        .map_err(|e| bad(&e))?;
    let schema = reader.schema();
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    Ok((out.clone(), schema, batches))
}
