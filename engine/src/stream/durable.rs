//! Durable stream storage: segments on disk, consumer checkpoints and input offsets, so a
//! restarted pipeline resumes where it was.
//!
//! Layout under the stream's folder (`<project>/.tributary/streams/<node>/`):
//! - `shard-<k>/<first sequence number>.arrow`: Arrow IPC stream files, appended batch by
//!   batch and flushed after each, rolled at [`SEGMENT_BYTES`]. A batch cut short by a
//!   crash is ignored on recovery; every complete batch before it is kept.
//! - `shard-<k>/<first sequence number>.times`: beside each segment, one line per batch,
//!   `first sequence number<TAB>arrival (ms since the epoch)`, so records read back after
//!   a restart keep the time they arrived (AT_TIMESTAMP readers, age retention, iterator
//!   age). A batch whose line a crash cut off takes the arrival of the batch before it.
//! - `consumers/<name>.json`: each consumer's checkpoint (next sequence number per shard),
//!   written atomically. A consumer checkpoints what it has *acknowledged* (processed and
//!   handed on safely), not merely read.
//! - `consumers/<name>.state`: for a consumer that holds records across reads (an
//!   analytics node's open windows), that state with the positions it covers: a JSON line
//!   (`{"positions": […], "meta": …}`), then the held rows as an Arrow IPC stream.
//!   Written atomically before the checkpoint it goes with.
//! - `inputs.log`: one line per appended batch, `input<TAB>rows`: how many records the
//!   stream took from each input, so a restarted deterministic source is not appended
//!   twice.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use crate::arrow::array::RecordBatch;
use crate::arrow::datatypes::SchemaRef;
use crate::arrow::ipc::reader::StreamReader;
use crate::arrow::ipc::writer::StreamWriter;
use crate::error::{Error, Result};

/// A segment is rolled once it holds this many bytes.
pub const SEGMENT_BYTES: u64 = 32 * 1024 * 1024;

struct Segment {
    /// The segment file, named in errors.
    path: PathBuf,
    first_seq: u64,
    bytes: u64,
    writer: StreamWriter<BufWriter<File>>,
    /// The segment's `.times` file.
    times: BufWriter<File>,
}

/// What a durable stream found on disk when it opened.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Per shard: (first sequence number, arrival in ms since the epoch, batch), in order.
    pub shards: Vec<Vec<(u64, i64, RecordBatch)>>,
    /// Per shard: the next sequence number.
    pub next_seq: Vec<u64>,
    /// Records taken from each input so far.
    pub inputs: BTreeMap<String, u64>,
    /// Consumer checkpoints by name.
    pub checkpoints: BTreeMap<String, Vec<u64>>,
}

/// What a consumer held across reads when it last checkpointed.
#[derive(Debug)]
pub struct SavedState {
    /// The input positions (next sequence number per shard) the state covers.
    pub positions: Vec<u64>,
    /// The operator's own description of its state.
    pub meta: serde_json::Value,
    /// The rows it held.
    pub batches: Vec<RecordBatch>,
}

/// The open files of a durable stream.
pub struct DurableLog {
    dir: PathBuf,
    schema: SchemaRef,
    segments: Vec<Option<Segment>>,
    /// Per shard, the segment files on disk (first sequence number, path), oldest first.
    on_disk: Vec<Vec<(u64, PathBuf)>>,
    next_seq: Vec<u64>,
    journal: BufWriter<File>,
}

impl std::fmt::Debug for DurableLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableLog")
            .field("dir", &self.dir)
            .finish()
    }
}

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Bucket(format!("durable stream '{}': {e}", path.display()))
}

fn shard_dir(dir: &Path, shard: usize) -> PathBuf {
    dir.join(format!("shard-{shard}"))
}

/// The `.times` file of a segment.
fn times_path(segment: &Path) -> PathBuf {
    segment.with_extension("times")
}

/// A segment's batch arrivals by first sequence number (empty when the file is missing:
/// a segment written before arrivals were kept).
fn read_times(segment: &Path) -> BTreeMap<u64, i64> {
    let Ok(file) = File::open(times_path(segment)) else {
        return BTreeMap::new();
    };
    BufReader::new(file)
        .lines()
        .map_while(|l| l.ok())
        .filter_map(|l| {
            let (seq, ms) = l.split_once('\t')?;
            Some((seq.parse().ok()?, ms.parse().ok()?))
        })
        .collect()
}

/// When a file was last written, in ms since the epoch.
fn modified_ms(path: &Path) -> i64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64)
}

/// Segment files of a shard, by first sequence number.
fn segments_of(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for e in entries {
        let e = e.map_err(|e| io(dir, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(seq) = name
            .strip_suffix(".arrow")
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.push((seq, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// A shard's records per batch.
type ShardRecords = Vec<(u64, i64, RecordBatch)>;

/// A shard's segment files (first sequence number, path), oldest first.
type SegmentFiles = Vec<(u64, PathBuf)>;

/// Reads back shard `shard` of the stream in `dir`: its batches (first sequence number,
/// arrival, rows), its next sequence number, its segment files. The segments' columns
/// must be `expected` (set from the first segment when `None`).
fn read_shard(
    dir: &Path,
    shard: usize,
    expected: &mut Option<SchemaRef>,
) -> Result<(ShardRecords, u64, SegmentFiles)> {
    let mut batches = Vec::new();
    let mut next = 0u64;
    let files = segments_of(&shard_dir(dir, shard))?;
    for (first, path) in files.iter().map(|(f, p)| (*f, p)) {
        let file = File::open(path).map_err(|e| io(path, e))?;
        let Ok(reader) = StreamReader::try_new(BufReader::new(file), None) else {
            // Cut short before its schema was written: holds nothing.
            continue;
        };
        match expected {
            Some(schema) if reader.schema() != *schema => {
                return Err(Error::Invalid(format!(
                    "the durable data in '{}' has other columns than this stream; \
                     delete that folder to start the stream afresh",
                    dir.display()
                )));
            }
            Some(_) => {}
            None => *expected = Some(reader.schema()),
        }
        let times = read_times(path);
        // Without a line (cut off by a crash, or an older segment): the batch
        // before's arrival, else when the segment was last written.
        let mut arrival = times
            .values()
            .next()
            .copied()
            .unwrap_or_else(|| modified_ms(path));
        let mut seq = first;
        // A batch cut short by a crash ends the segment; what came before stays.
        for batch in reader.map_while(|b| b.ok()) {
            let rows = batch.num_rows() as u64;
            if let Some(t) = times.get(&seq) {
                arrival = *t;
            }
            batches.push((seq, arrival, batch));
            seq += rows;
        }
        next = next.max(seq);
    }
    Ok((batches, next, files))
}

/// Reads back what the durable stream in `dir` holds without opening it for writing (a
/// replay reads it while the stream stays as it was): the columns of its segments (none
/// when it holds nothing) and per shard its batches (first sequence number, arrival, rows).
pub fn read_records(dir: &Path, shards: usize) -> Result<(Option<SchemaRef>, Vec<ShardRecords>)> {
    let mut schema = None;
    let mut out = Vec::with_capacity(shards);
    for shard in 0..shards {
        out.push(read_shard(dir, shard, &mut schema)?.0);
    }
    Ok((schema, out))
}

/// A shard of a durable stream at a moment.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ShardAt {
    /// The shard.
    pub shard: usize,
    /// The sequence number after the last record that arrived before the moment (the
    /// shard's tip then).
    pub position: u64,
    /// When that record arrived (ms since the epoch), if one had.
    pub last_arrival_ms: Option<i64>,
}

/// Each shard of the durable stream in `dir` at `at_ms`: its tip as it was then, from
/// the records it retains (records retention has dropped since are not counted).
pub fn shards_at(dir: &Path, shards: usize, at_ms: i64) -> Result<Vec<ShardAt>> {
    let (_, records) = read_records(dir, shards)?;
    Ok(records
        .iter()
        .enumerate()
        .map(|(shard, batches)| {
            let last = batches.iter().rev().find(|(_, at, _)| *at < at_ms);
            ShardAt {
                shard,
                position: last.map_or_else(
                    || batches.first().map_or(0, |(seq, _, _)| *seq),
                    |(seq, _, b)| seq + b.num_rows() as u64,
                ),
                last_arrival_ms: last.map(|(_, at, _)| *at),
            }
        })
        .collect())
}

/// Per shard, the arrival of each batch the durable stream in `dir` holds (first sequence
/// number, ms since the epoch), from the `.times` files alone.
pub fn arrivals(dir: &Path, shards: usize) -> Result<Vec<Vec<(u64, i64)>>> {
    let mut out = Vec::with_capacity(shards);
    for shard in 0..shards {
        let mut times = Vec::new();
        for (_, path) in segments_of(&shard_dir(dir, shard))? {
            times.extend(read_times(&path));
        }
        out.push(times);
    }
    Ok(out)
}

impl DurableLog {
    /// Opens (or creates) the stream's folder and reads back what is there.
    pub fn open(dir: &Path, schema: &SchemaRef, shards: usize) -> Result<(Self, Recovered)> {
        std::fs::create_dir_all(dir.join("consumers")).map_err(|e| io(dir, e))?;
        let mut rec = Recovered::default();
        let mut on_disk = Vec::with_capacity(shards);
        let mut expected = Some(schema.clone());
        for shard in 0..shards {
            let (batches, next, files) = read_shard(dir, shard, &mut expected)?;
            rec.shards.push(batches);
            rec.next_seq.push(next);
            on_disk.push(files);
        }
        let journal_path = dir.join("inputs.log");
        if let Ok(file) = File::open(&journal_path) {
            for line in BufReader::new(file).lines().map_while(|l| l.ok()) {
                if let Some((name, rows)) = line.split_once('\t')
                    && let Ok(rows) = rows.parse::<u64>()
                {
                    *rec.inputs.entry(name.to_owned()).or_default() += rows;
                }
            }
        }
        // A batch may be on disk without its journal line (a crash between the two): with
        // one input, the segments are the truth.
        let rows_on_disk: u64 = rec
            .shards
            .iter()
            .flatten()
            .map(|(_, _, b)| b.num_rows() as u64)
            .sum();
        if rec.inputs.len() == 1
            && let Some(v) = rec.inputs.values_mut().next()
            && rec
                .shards
                .iter()
                .all(|s| s.first().is_none_or(|(seq, _, _)| *seq == 0))
        {
            *v = (*v).max(rows_on_disk);
        }
        let consumers = dir.join("consumers");
        if let Ok(entries) = std::fs::read_dir(&consumers) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(consumer) = name.strip_suffix(".json")
                    && let Ok(text) = std::fs::read_to_string(e.path())
                    && let Ok(positions) = serde_json::from_str::<Vec<u64>>(&text)
                    && positions.len() == shards
                {
                    rec.checkpoints.insert(consumer.to_owned(), positions);
                }
            }
        }
        let journal = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&journal_path)
            .map_err(|e| io(&journal_path, e))?;
        let log = Self {
            dir: dir.to_path_buf(),
            schema: schema.clone(),
            segments: (0..shards).map(|_| None).collect(),
            on_disk,
            next_seq: rec.next_seq.clone(),
            journal: BufWriter::new(journal),
        };
        Ok((log, rec))
    }

    /// Appends `batch`, which arrived at `arrival_ms`, to `shard` at sequence number
    /// `first_seq`; flushed before it returns, so a crash of the process loses nothing
    /// appended.
    pub fn append(
        &mut self,
        shard: usize,
        first_seq: u64,
        arrival_ms: i64,
        batch: &RecordBatch,
    ) -> Result<()> {
        let roll = self.segments[shard]
            .as_ref()
            .is_none_or(|s| s.bytes >= SEGMENT_BYTES);
        if roll {
            if let Some(mut old) = self.segments[shard].take() {
                old.writer.finish().map_err(|e| io(&old.path, e))?;
            }
            let dir = shard_dir(&self.dir, shard);
            std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
            let path = dir.join(format!("{first_seq:020}.arrow"));
            let file = File::create(&path).map_err(|e| io(&path, e))?;
            self.on_disk[shard].push((first_seq, path.clone()));
            let writer = StreamWriter::try_new(BufWriter::new(file), &self.schema)
                .map_err(|e| io(&path, e))?;
            let times = times_path(&path);
            let times = File::create(&times).map_err(|e| io(&times, e))?;
            self.segments[shard] = Some(Segment {
                path,
                first_seq,
                bytes: 0,
                writer,
                times: BufWriter::new(times),
            });
        }
        let Some(seg) = self.segments[shard].as_mut() else {
            return Err(Error::Internal("no open segment".to_owned()));
        };
        debug_assert!(first_seq >= seg.first_seq);
        seg.writer.write(batch).map_err(|e| io(&seg.path, e))?;
        seg.writer.flush().map_err(|e| io(&seg.path, e))?;
        writeln!(seg.times, "{first_seq}\t{arrival_ms}")
            .and_then(|_| seg.times.flush())
            .map_err(|e| io(&times_path(&seg.path), e))?;
        seg.bytes += batch.get_array_memory_size() as u64;
        self.next_seq[shard] = first_seq + batch.num_rows() as u64;
        Ok(())
    }

    /// Records that `rows` records came from `input`.
    pub fn journal(&mut self, input: &str, rows: u64) -> Result<()> {
        writeln!(self.journal, "{input}\t{rows}")
            .and_then(|_| self.journal.flush())
            .map_err(|e| io(&self.dir.join("inputs.log"), e))
    }

    /// A consumer's file with extension `ext` (`json`, `state`).
    fn consumer_file(&self, consumer: &str, ext: &str) -> PathBuf {
        let name: String = consumer
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join("consumers").join(format!("{name}.{ext}"))
    }

    /// Writes a consumer's held state and the positions it covers, atomically.
    pub fn save_state(
        &self,
        consumer: &str,
        positions: &[u64],
        meta: &serde_json::Value,
        batches: &[RecordBatch],
    ) -> Result<()> {
        let path = self.consumer_file(consumer, "state");
        let mut bytes = serde_json::to_vec(&serde_json::json!({
            "positions": positions,
            "meta": meta,
        }))
        .map_err(|e| io(&path, e))?;
        bytes.push(b'\n');
        let mut writer =
            StreamWriter::try_new(&mut bytes, &self.schema).map_err(|e| io(&path, e))?;
        for b in batches {
            writer.write(b).map_err(|e| io(&path, e))?;
        }
        writer.finish().map_err(|e| io(&path, e))?;
        drop(writer);
        crate::fsutil::write_atomic(&path, &bytes)
    }

    /// A consumer's held state, if one was saved.
    pub fn load_state(&self, consumer: &str) -> Result<Option<SavedState>> {
        let path = self.consumer_file(consumer, "state");
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path, e)),
        };
        let bad = |why: String| {
            Error::Invalid(format!(
                "'{}' is not a readable checkpoint ({why}); delete it to start afresh",
                path.display()
            ))
        };
        let split = bytes
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| bad("no header".to_owned()))?;
        let header: serde_json::Value =
            serde_json::from_slice(&bytes[..split]).map_err(|e| bad(e.to_string()))?;
        let positions: Vec<u64> =
            serde_json::from_value(header["positions"].clone()).map_err(|e| bad(e.to_string()))?;
        let reader =
            StreamReader::try_new(&bytes[split + 1..], None).map_err(|e| bad(e.to_string()))?;
        let batches = reader
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        Ok(Some(SavedState {
            positions,
            meta: header["meta"].clone(),
            batches,
        }))
    }

    /// Writes a consumer's checkpoint atomically.
    pub fn checkpoint(&self, consumer: &str, positions: &[u64]) -> Result<()> {
        let path = self.consumer_file(consumer, "json");
        let text = serde_json::to_string(positions).map_err(|e| io(&path, e))?;
        crate::fsutil::write_atomic(&path, text.as_bytes())
    }

    /// Deletes whole segments below `horizon` per shard (what every consumer has
    /// acknowledged and retention lets go); the open segment is kept.
    pub fn drop_before(&mut self, horizon: &[u64]) -> Result<()> {
        for (shard, &h) in horizon.iter().enumerate() {
            let open = self.segments[shard].as_ref().map(|s| s.first_seq);
            let files = &mut self.on_disk[shard];
            // A segment can go when the next one starts at or below the horizon.
            while files.len() >= 2 && files[1].0 <= h && Some(files[0].0) != open {
                let (_, path) = files.remove(0);
                std::fs::remove_file(&path).map_err(|e| io(&path, e))?;
                match std::fs::remove_file(times_path(&path)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(io(&path, e));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}
