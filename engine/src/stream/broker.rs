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
    /// An injected fault: the server drops this connection this often (`CLIENT KILL`).
    disconnect_every: Option<Duration>,
    next_disconnect: Instant,
    /// Disconnections injected so far.
    pub disconnects: u64,
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
            disconnect_every: None,
            next_disconnect: Instant::now(),
            disconnects: 0,
        })
    }

    /// Has the server drop this connection every `every` (an injected fault, the node's
    /// `broker_disconnect_every_s`): the next call finds it gone and reconnects, as it
    /// does when the network or the broker drops it.
    pub fn with_disconnects(mut self, every: Option<Duration>) -> Self {
        self.disconnect_every = every;
        if let Some(e) = every {
            self.next_disconnect = Instant::now() + e;
        }
        self
    }

    /// When a disconnect is due: asks the server, on a connection of its own, to close
    /// this one (`CLIENT KILL ID`), so what follows meets a dropped connection.
    fn disconnect_if_due(&mut self) {
        let Some(every) = self.disconnect_every else {
            return;
        };
        if Instant::now() < self.next_disconnect {
            return;
        }
        self.next_disconnect = Instant::now() + every;
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let Ok(id) = redis::cmd("CLIENT").arg("ID").query::<i64>(conn) else {
            return;
        };
        let killed = self
            .client
            .get_connection_with_timeout(Duration::from_secs(2))
            .and_then(|mut other| {
                redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("ID")
                    .arg(id)
                    .query::<i64>(&mut other)
            });
        if let Ok(n) = killed
            && n > 0
        {
            self.disconnects += 1;
            log::warn!(
                "broker {}: connection dropped (a fault injected by the node's Faults section)",
                self.url
            );
        }
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
        self.disconnect_if_due();
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

/// A piece of blocking work for a [`Worker`].
type Job<T> = Box<dyn FnOnce(&mut std::result::Result<T, String>) + Send>;

/// Blocking broker calls on a named thread of their own: the thread owns a connection (or
/// a group reader) and runs the calls sent to it one at a time, so the async side awaits
/// them without blocking the engine's runtime. The thread ends when the worker is dropped.
pub struct Worker<T> {
    jobs: tokio::sync::mpsc::Sender<Job<T>>,
    name: String,
}

impl<T: Send + 'static> Worker<T> {
    /// Starts thread `name`, which first builds its state with `make` (connecting, for
    /// example); if that fails, every call returns the error.
    pub fn spawn(name: String, make: impl FnOnce() -> Result<T> + Send + 'static) -> Result<Self> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Job<T>>(1);
        std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let mut state = make().map_err(|e| e.to_string());
                while let Some(job) = rx.blocking_recv() {
                    job(&mut state);
                }
            })
            .map_err(|e| Error::Internal(format!("cannot start thread {name}: {e}")))?;
        Ok(Self { jobs: tx, name })
    }

    /// Runs `f` on the worker's thread and waits for its result.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut T) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job<T> = Box::new(move |state| {
            let result = match state {
                Ok(t) => f(t),
                Err(e) => Err(Error::Invalid(e.clone())),
            };
            let _ = tx.send(result);
        });
        let gone = || Error::Internal(format!("broker thread {} ended", self.name));
        self.jobs.send(job).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}

impl<T> std::fmt::Debug for Worker<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("name", &self.name).finish()
    }
}
