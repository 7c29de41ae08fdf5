//! Redis Streams as an external stream broker: a connection that survives broker restarts,
//! consumer-group reads with acknowledgements, and the record encoding.
//!
//! Every record is one stream entry with a `data` field holding the record as a JSON
//! object, so any Redis client can produce or read them. Entries written by other tools
//! may instead carry one field per column (text); readers take both.
//!
//! Delivery is at least once. A reader reads its pending (delivered, unacknowledged)
//! entries before new ones, after starting and after every reconnect, and acknowledges
//! entries only once everything downstream has acknowledged them; a writer acknowledges
//! its input only after `XADD` returned. A retried `XADD` after a dropped connection can
//! store a record twice, and a reader that restarts reads again what it had not
//! acknowledged: duplicates, never losses (with the broker's append-only file on).
//!
//! The calls are blocking; they run on named threads, never on the engine's runtime.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use redis::{Connection, RedisError, RedisResult};

use crate::arrow::array::RecordBatch;
use crate::error::{Error, Result};
use crate::stream::records::RowBuilder;

/// The entry field that holds a record as JSON.
pub const DATA_FIELD: &str = "data";

/// A connection to one Redis server that reconnects when the server goes away.
pub struct BrokerConn {
    url: String,
    client: redis::Client,
    conn: Option<Connection>,
    /// How long a call keeps retrying while the broker is unreachable.
    reconnect: Duration,
    /// Set when the connection was re-established since the caller last looked.
    reconnected: bool,
    /// Reconnections so far.
    pub reconnects: u64,
}

impl std::fmt::Debug for BrokerConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerConn")
            .field("url", &self.url)
            .finish()
    }
}

fn transient(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || matches!(
            e.kind(),
            redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading)
                | redis::ErrorKind::Server(redis::ServerErrorKind::TryAgain)
        )
}

impl BrokerConn {
    /// Checks the URL; connects on first use.
    pub fn new(url: &str, reconnect: Duration) -> Result<Self> {
        let client =
            redis::Client::open(url).map_err(|e| Error::Invalid(format!("broker '{url}': {e}")))?;
        Ok(Self {
            url: url.to_owned(),
            client,
            conn: None,
            reconnect,
            reconnected: false,
            reconnects: 0,
        })
    }

    /// The broker's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the connection was re-established since the last call of this method.
    pub fn take_reconnected(&mut self) -> bool {
        std::mem::take(&mut self.reconnected)
    }

    fn connect(&mut self) -> RedisResult<&mut Connection> {
        if self.conn.is_none() {
            let conn = self
                .client
                .get_connection_with_timeout(Duration::from_secs(2))?;
            // Above the longest BLOCK a reader uses.
            conn.set_read_timeout(Some(Duration::from_secs(10)))?;
            conn.set_write_timeout(Some(Duration::from_secs(10)))?;
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    /// Runs `f` on the connection, reconnecting and retrying while the broker is
    /// unreachable or still loading its data, for up to the reconnect time.
    pub fn call<T>(
        &mut self,
        what: &str,
        mut f: impl FnMut(&mut Connection) -> RedisResult<T>,
    ) -> Result<T> {
        let started = Instant::now();
        let mut failed_once = false;
        loop {
            let result = self.connect().and_then(&mut f);
            match result {
                Ok(v) => {
                    if failed_once {
                        self.reconnects += 1;
                        self.reconnected = true;
                        log::info!("broker {}: reconnected", self.url);
                    }
                    return Ok(v);
                }
                Err(e) if transient(&e) => {
                    self.conn = None;
                    if !failed_once {
                        log::warn!("broker {}: {what}: {e}; retrying", self.url);
                    }
                    failed_once = true;
                    if started.elapsed() > self.reconnect {
                        return Err(Error::Invalid(format!(
                            "broker {} unreachable for {} s ({what}): {e}",
                            self.url,
                            self.reconnect.as_secs()
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => {
                    return Err(Error::Invalid(format!("broker {}: {what}: {e}", self.url)));
                }
            }
        }
    }

    /// Appends `lines` (JSON objects) to the stream `key`, in one round trip. With
    /// `maxlen` > 0 the stream is trimmed to about that many entries.
    pub fn xadd_lines(&mut self, key: &str, lines: &[String], maxlen: u64) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        self.call("XADD", |c| {
            let mut pipe = redis::pipe();
            for line in lines {
                let cmd = pipe.cmd("XADD").arg(key);
                if maxlen > 0 {
                    cmd.arg("MAXLEN").arg("~").arg(maxlen);
                }
                cmd.arg("*").arg(DATA_FIELD).arg(line).ignore();
            }
            pipe.query::<()>(c)
        })
    }
}

/// A consumer in a consumer group, reading one or more stream keys.
#[derive(Debug)]
pub struct GroupReader {
    /// The connection.
    pub conn: BrokerConn,
    keys: Vec<String>,
    group: String,
    consumer: String,
    /// Where a newly created group starts: `0` (everything) or `$` (new entries only).
    start: String,
    /// Read this consumer's pending entries before new ones.
    pending_first: bool,
    /// Where the pending entries read next start (they stay pending until acknowledged,
    /// so each read continues after the last one).
    pending_cursor: Vec<String>,
}

/// Entries read from one key.
pub type Entries = Vec<(String, HashMap<String, redis::Value>)>;

impl GroupReader {
    /// Creates the group on every key if needed (and the keys, empty).
    pub fn new(
        conn: BrokerConn,
        keys: Vec<String>,
        group: &str,
        consumer: &str,
        start: &str,
    ) -> Result<Self> {
        let mut reader = Self {
            keys,
            group: group.to_owned(),
            consumer: consumer.to_owned(),
            start: start.to_owned(),
            pending_first: true,
            pending_cursor: Vec::new(),
            conn,
        };
        reader.pending_cursor = vec!["0".to_owned(); reader.keys.len()];
        reader.create_groups()?;
        Ok(reader)
    }

    fn create_groups(&mut self) -> Result<()> {
        for key in self.keys.clone() {
            let (group, start) = (self.group.clone(), self.start.clone());
            self.conn.call("XGROUP CREATE", |c| {
                let r: RedisResult<()> = redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(&key)
                    .arg(&group)
                    .arg(&start)
                    .arg("MKSTREAM")
                    .query(c);
                match r {
                    Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
                    other => other,
                }
            })?;
        }
        Ok(())
    }

    /// Up to `count` entries per key, waiting up to `block` for new ones. Pending entries
    /// come first (after a start or a reconnect). Returns entries per key index.
    pub fn read(&mut self, count: usize, block: Duration) -> Result<Vec<(usize, Entries)>> {
        enum Reply {
            Entries(redis::streams::StreamReadReply),
            Timeout,
            NoGroup,
        }
        loop {
            if self.conn.take_reconnected() {
                // Entries delivered before the broker went away may not have arrived.
                self.restart_pending();
            }
            let pending = self.pending_first;
            let (keys, group, consumer) = (&self.keys, &self.group, &self.consumer);
            let cursor = &self.pending_cursor;
            let reply = self.conn.call("XREADGROUP", |c| {
                let mut cmd = redis::cmd("XREADGROUP");
                cmd.arg("GROUP")
                    .arg(group)
                    .arg(consumer)
                    .arg("COUNT")
                    .arg(count);
                if !pending {
                    cmd.arg("BLOCK").arg(block.as_millis() as u64);
                }
                cmd.arg("STREAMS");
                for k in keys {
                    cmd.arg(k);
                }
                for c in cursor {
                    cmd.arg(if pending { c.as_str() } else { ">" });
                }
                match cmd.query::<Option<redis::streams::StreamReadReply>>(c) {
                    Ok(Some(r)) => Ok(Reply::Entries(r)),
                    Ok(None) => Ok(Reply::Timeout),
                    Err(e) if e.code() == Some("NOGROUP") => Ok(Reply::NoGroup),
                    Err(e) => Err(e),
                }
            })?;
            if self.conn.take_reconnected() {
                // The call reconnected: a reply lost on the old connection left its
                // entries pending, so read pending entries next.
                self.restart_pending();
            }
            match reply {
                Reply::NoGroup => {
                    // The broker lost the group (restarted without its data): make it again.
                    log::warn!(
                        "broker {}: consumer group '{}' is gone; creating it again",
                        self.conn.url(),
                        self.group
                    );
                    self.create_groups()?;
                    self.restart_pending();
                }
                Reply::Timeout if pending && self.pending_first => self.pending_first = false,
                Reply::Timeout if self.pending_first => {}
                Reply::Timeout => return Ok(Vec::new()),
                Reply::Entries(reply) => {
                    let mut out = Vec::new();
                    for k in reply.keys {
                        let Some(i) = self.keys.iter().position(|x| *x == k.key) else {
                            continue;
                        };
                        let entries: Entries = k.ids.into_iter().map(|e| (e.id, e.map)).collect();
                        if let (true, Some((last, _))) = (pending, entries.last()) {
                            self.pending_cursor[i] = last.clone();
                        }
                        if !entries.is_empty() {
                            out.push((i, entries));
                        }
                    }
                    if out.is_empty() && self.pending_first {
                        if pending {
                            self.pending_first = false;
                        }
                        continue;
                    }
                    return Ok(out);
                }
            }
        }
    }

    fn restart_pending(&mut self) {
        self.pending_first = true;
        for c in &mut self.pending_cursor {
            *c = "0".to_owned();
        }
    }

    /// Whether the next read returns pending entries (delivered before, unacknowledged).
    pub fn is_reading_pending(&self) -> bool {
        self.pending_first
    }

    /// Acknowledges entries of key `index`.
    pub fn ack(&mut self, index: usize, ids: &[String]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let (key, group) = (&self.keys[index], &self.group);
        for chunk in ids.chunks(10_000) {
            self.conn.call("XACK", |c| {
                redis::cmd("XACK")
                    .arg(key)
                    .arg(group)
                    .arg(chunk)
                    .query::<u64>(c)
            })?;
        }
        Ok(())
    }
}

/// A batch as JSON lines, one per record.
pub fn encode_batch(batch: &RecordBatch) -> Result<Vec<String>> {
    let mut buf = Vec::with_capacity(batch.num_rows() * 64);
    {
        let mut writer = crate::arrow::json::LineDelimitedWriter::new(&mut buf);
        writer
            .write(batch)
            .map_err(|e| Error::Internal(format!("encoding records as JSON: {e}")))?;
        writer
            .finish()
            .map_err(|e| Error::Internal(format!("encoding records as JSON: {e}")))?;
    }
    let text = String::from_utf8(buf).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(text.lines().map(str::to_owned).collect())
}

fn value_text(v: &redis::Value) -> Option<String> {
    match v {
        redis::Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        redis::Value::SimpleString(s) => Some(s.clone()),
        redis::Value::Int(i) => Some(i.to_string()),
        redis::Value::Double(d) => Some(d.to_string()),
        _ => None,
    }
}

/// Appends one entry to `rows`: its `data` field as a JSON object, else its fields as
/// text columns. Returns why the entry was refused.
pub fn decode_entry(
    fields: &HashMap<String, redis::Value>,
    rows: &mut RowBuilder,
) -> std::result::Result<(), String> {
    if let Some(data) = fields.get(DATA_FIELD).and_then(value_text) {
        return match serde_json::from_str::<serde_json::Value>(&data) {
            Ok(serde_json::Value::Object(map)) => rows.push_json(&map),
            Ok(_) => Err("field 'data' is not a JSON object".to_owned()),
            Err(e) => Err(format!("field 'data' is not valid JSON: {e}")),
        };
    }
    let texts: Vec<Option<String>> = rows
        .columns()
        .iter()
        .map(|c| fields.get(&c.source_name).and_then(value_text))
        .collect();
    let refs: Vec<Option<&str>> = texts.iter().map(|t| t.as_deref()).collect();
    rows.push_text(&refs)
}

/// The original text of an entry, for the `failed` output.
pub fn entry_text(fields: &HashMap<String, redis::Value>) -> String {
    if let Some(data) = fields.get(DATA_FIELD).and_then(value_text) {
        return data;
    }
    let map: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .map(|(k, v)| (k.clone(), value_text(v).unwrap_or_default().into()))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// A batch of the good entries (if any), and `(text, reason)` for each entry refused.
pub type Decoded = (Option<RecordBatch>, Vec<(String, String)>);

/// Turns entries into record batches.
pub trait EntryDecoder: Send {
    /// Decodes `entries`: a batch of the good ones (if any), and `(text, reason)` for each
    /// entry refused.
    fn decode(&mut self, entries: &Entries) -> Result<Decoded>;
}

/// Records from other producers, checked field by field; a bad entry is refused alone.
impl EntryDecoder for RowBuilder {
    fn decode(&mut self, entries: &Entries) -> Result<Decoded> {
        let mut bad = Vec::new();
        for (id, fields) in entries {
            if let Err(reason) = decode_entry(fields, self) {
                bad.push((entry_text(fields), format!("entry {id}: {reason}")));
            }
        }
        let batch = if self.is_empty() {
            None
        } else {
            Some(self.finish()?)
        };
        Ok((batch, bad))
    }
}

/// Records a Tributary stream wrote itself: Arrow's JSON reader with the stream's schema.
pub struct ArrowJsonDecoder {
    schema: crate::arrow::datatypes::SchemaRef,
}

impl ArrowJsonDecoder {
    /// A decoder for `schema`.
    pub fn new(schema: crate::arrow::datatypes::SchemaRef) -> Self {
        Self { schema }
    }
}

impl EntryDecoder for ArrowJsonDecoder {
    fn decode(&mut self, entries: &Entries) -> Result<Decoded> {
        let mut decoder = crate::arrow::json::ReaderBuilder::new(self.schema.clone())
            .with_batch_size(entries.len().max(1))
            .build_decoder()
            .map_err(|e| Error::Internal(e.to_string()))?;
        let mut bad = Vec::new();
        let mut text = String::new();
        for (id, fields) in entries {
            match fields.get(DATA_FIELD).and_then(value_text) {
                Some(line) => {
                    text.push_str(&line);
                    text.push('\n');
                }
                None => bad.push((entry_text(fields), format!("entry {id}: no 'data' field"))),
            }
        }
        decoder.decode(text.as_bytes()).map_err(|e| {
            Error::Invalid(format!("records in the broker do not fit the stream: {e}"))
        })?;
        let batch = decoder.flush().map_err(|e| {
            Error::Invalid(format!("records in the broker do not fit the stream: {e}"))
        })?;
        Ok((batch.filter(|b| b.num_rows() > 0), bad))
    }
}

/// What a read pump does and when it ends.
pub struct ReadPump {
    /// The group consumer.
    pub reader: GroupReader,
    /// Decodes entries.
    pub decoder: Box<dyn EntryDecoder>,
    /// Where good records go; key `i` is written to shard `shard_of[i]` of its topic.
    pub producer: crate::stream::topic::Producer,
    /// The shard of the local topic each key's records land in.
    pub shard_of: Vec<usize>,
    /// Where refused entries go (`record`, `error` columns), if anywhere.
    pub failed: Option<crate::stream::topic::Producer>,
    /// Entries per read.
    pub count: usize,
    /// The longest a read waits.
    pub block: Duration,
    /// End after this long without entries.
    pub idle_end: Option<Duration>,
    /// End after this many records.
    pub max_records: Option<u64>,
    /// End when this is set and a read comes back empty (the writers are done).
    pub writers_done: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// The user's stop.
    pub stop: crate::engine::StopSignal,
    /// Counters.
    pub metrics: std::sync::Arc<crate::stream::metrics::NodeMetrics>,
}

/// A failed-records batch: `record` (the original text) and `error`.
pub fn failed_batch(bad: &[(String, String)]) -> Result<RecordBatch> {
    use crate::arrow::array::StringArray;
    RecordBatch::try_new(
        failed_schema(),
        vec![
            std::sync::Arc::new(StringArray::from_iter_values(bad.iter().map(|b| &b.0))),
            std::sync::Arc::new(StringArray::from_iter_values(bad.iter().map(|b| &b.1))),
        ],
    )
    .map_err(|e| Error::Internal(e.to_string()))
}

/// The columns of a broker source's `failed` output.
pub fn failed_schema() -> crate::arrow::datatypes::SchemaRef {
    use crate::arrow::datatypes::{DataType, Field, Schema};
    std::sync::Arc::new(Schema::new(vec![
        Field::new("record", DataType::Utf8, false),
        Field::new("error", DataType::Utf8, false),
    ]))
}

impl ReadPump {
    /// Runs until an end condition, then closes its outputs, waits (up to `drain`) for
    /// everything downstream to acknowledge what it got, and acknowledges that to the
    /// broker. Blocking: call it on its own thread. Returns the records delivered.
    pub fn run(mut self, handle: &tokio::runtime::Handle, drain: Duration) -> Result<u64> {
        use crate::stream::metrics::NodeMetrics;
        let topic = self.producer.topic().clone();
        let keys = self.shard_of.len();
        let mut inflight: Vec<std::collections::VecDeque<(u64, Vec<String>)>> =
            vec![Default::default(); keys];
        let mut delivered = 0u64;
        let mut last_data = Instant::now();
        // Entries handed on and not yet acknowledged, by key (ids are unique per key
        // only): when pending entries are read again (after a reconnect), these are not
        // delivered twice.
        let mut held: std::collections::HashSet<(usize, String)> = Default::default();
        loop {
            for key in ack_done(&mut self.reader, &self.shard_of, &topic, &mut inflight)? {
                held.remove(&key);
            }
            if self.stop.is_set() || self.max_records.is_some_and(|m| delivered >= m) {
                break;
            }
            let mut read = self.reader.read(self.count, self.block)?;
            for (i, entries) in &mut read {
                entries.retain(|(id, _)| !held.contains(&(*i, id.clone())));
            }
            read.retain(|(_, entries)| !entries.is_empty());
            if read.is_empty() && self.reader.is_reading_pending() {
                continue;
            }
            if read.is_empty() {
                let writers_done = self
                    .writers_done
                    .as_ref()
                    .is_some_and(|d| d.load(std::sync::atomic::Ordering::Acquire));
                if writers_done || self.idle_end.is_some_and(|d| last_data.elapsed() >= d) {
                    break;
                }
                continue;
            }
            last_data = Instant::now();
            for (i, entries) in read {
                let started = Instant::now();
                let ids: Vec<String> = entries.iter().map(|(id, _)| id.clone()).collect();
                let (batch, bad) = self.decoder.decode(&entries)?;
                if let Some(batch) = batch {
                    let rows = batch.num_rows() as u64;
                    let bytes = batch.get_array_memory_size() as u64;
                    let blocked = handle.block_on(self.producer.send(batch))?;
                    delivered += rows;
                    NodeMetrics::add(&self.metrics.records_out, rows);
                    NodeMetrics::add(&self.metrics.bytes_out, bytes);
                    NodeMetrics::add(&self.metrics.blocked_us, blocked.as_micros() as u64);
                }
                NodeMetrics::add(&self.metrics.records_in, entries.len() as u64);
                if !bad.is_empty() {
                    NodeMetrics::add(&self.metrics.errors, bad.len() as u64);
                    if let Some(f) = &self.failed {
                        handle.block_on(f.send(failed_batch(&bad)?))?;
                    }
                }
                NodeMetrics::add(&self.metrics.batches, 1);
                NodeMetrics::add(
                    &self.metrics.batch_latency_us,
                    started.elapsed().as_micros() as u64,
                );
                let end = topic.tail()[self.shard_of[i]];
                held.extend(ids.iter().map(|id| (i, id.clone())));
                inflight[i].push_back((end, ids));
            }
        }
        // Close the outputs so readers finish, then hand their acknowledgements on.
        let Self {
            mut reader,
            producer,
            failed,
            shard_of,
            ..
        } = self;
        drop(failed);
        producer.close();
        let deadline = Instant::now() + drain;
        loop {
            ack_done(&mut reader, &shard_of, &topic, &mut inflight)?;
            if inflight.iter().all(|q| q.is_empty()) || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(delivered)
    }
}

/// Acknowledges to the broker the entries whose records every reader downstream has
/// acknowledged; returns their keys and ids.
fn ack_done(
    reader: &mut GroupReader,
    shard_of: &[usize],
    topic: &crate::stream::topic::Topic,
    inflight: &mut [std::collections::VecDeque<(u64, Vec<String>)>],
) -> Result<Vec<(usize, String)>> {
    let acked = topic.acked_through();
    let mut all = Vec::new();
    for (i, queue) in inflight.iter_mut().enumerate() {
        let mut ids = Vec::new();
        while let Some((end, _)) = queue.front() {
            if acked[shard_of[i]] < *end {
                break;
            }
            if let Some((_, mut batch_ids)) = queue.pop_front() {
                ids.append(&mut batch_ids);
            }
        }
        reader.ack(i, &ids)?;
        all.extend(ids.into_iter().map(|id| (i, id)));
    }
    Ok(all)
}

/// Copies a topic's records into broker streams (one key per shard of `split`, or the
/// single key when `split` is `None`), acknowledging each batch once it is stored.
pub struct WritePump {
    /// The connection.
    pub conn: BrokerConn,
    /// What is copied.
    pub consumer: crate::stream::topic::Consumer,
    /// Target keys, one per shard.
    pub keys: Vec<String>,
    /// The topic whose partitioning splits records over `keys`.
    pub split: Option<std::sync::Arc<crate::stream::topic::Topic>>,
    /// Trim each key to about this many entries (0: never).
    pub maxlen: u64,
    /// Counters.
    pub metrics: std::sync::Arc<crate::stream::metrics::NodeMetrics>,
}

impl WritePump {
    /// Runs until the topic ends. Blocking: call it on its own thread.
    pub fn run(mut self, handle: &tokio::runtime::Handle) -> Result<u64> {
        use crate::stream::metrics::NodeMetrics;
        let mut written = 0u64;
        while let Some(deliveries) = handle.block_on(self.consumer.next(16_384)) {
            for d in deliveries {
                let started = Instant::now();
                let rows = d.batch.num_rows() as u64;
                NodeMetrics::add(&self.metrics.records_in, rows);
                let parts = match &self.split {
                    Some(t) => t.split(&d.batch, self.keys.len())?,
                    None => vec![(0, d.batch)],
                };
                for (shard, part) in parts {
                    let lines = encode_batch(&part)?;
                    let bytes: usize = lines.iter().map(String::len).sum();
                    self.conn
                        .xadd_lines(&self.keys[shard], &lines, self.maxlen)?;
                    NodeMetrics::add(&self.metrics.bytes_out, bytes as u64);
                }
                written += rows;
                NodeMetrics::add(&self.metrics.records_out, rows);
                NodeMetrics::add(&self.metrics.batches, 1);
                NodeMetrics::add(
                    &self.metrics.batch_latency_us,
                    started.elapsed().as_micros() as u64,
                );
            }
            // Stored in the broker: handed on.
            self.consumer.ack()?;
        }
        Ok(written)
    }
}

/// Runs blocking broker work on a named thread; the receiver gets its result.
pub fn spawn_named<T: Send + 'static>(
    name: String,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<tokio::sync::oneshot::Receiver<Result<T>>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let _ = tx.send(work());
        })
        .map_err(|e| Error::Internal(format!("cannot start thread {name}: {e}")))?;
    Ok(rx)
}

/// Waits for a thread started by [`spawn_named`].
pub async fn join(rx: tokio::sync::oneshot::Receiver<Result<u64>>) -> Result<u64> {
    rx.await
        .map_err(|_| Error::Internal("a broker thread ended without a result".to_owned()))?
}
