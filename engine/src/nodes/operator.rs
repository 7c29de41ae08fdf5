//! The one loop every streaming kind runs in.
//!
//! A streaming kind implements only its per-batch logic: an [`Operator`] (records in,
//! records out, with an optional timer) or a [`Source`] (records out). The runner owns
//! the rest: subscribing to the input with lag reporting, reading and filling batches,
//! counting records, bytes, errors, batches and back-pressure, acknowledging the input
//! once what it produced was acknowledged downstream, closing the outputs, draining on
//! stop, pacing sources, and the final counters.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::context::{NodeContext, NodeOutput, Value};
use super::kind::PortSpec;
use crate::api::{NodeStats, StopSignal};
use crate::arrow::array::RecordBatch;
use crate::arrow::datatypes::SchemaRef;
use crate::error::{Error, Result};
use crate::stream::metrics::NodeMetrics;
use crate::stream::topic::{Consumer, Delivery, Producer, Retention, StartPosition, Topic};

/// Records a stream holds for its slowest reader before its writers wait.
pub const DEFAULT_CAPACITY: u64 = 262_144;

/// Whether an operator still holds some of what it read (in a buffer or an open window).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Everything read so far is handed on: it may be acknowledged once downstream has.
    Released,
    /// Some of what was read is still held: not acknowledged yet.
    Holding,
    /// Everything read is handed on except shard `shard`'s records from sequence number
    /// `seq` on, which are still held (a batch a Lambda's window is still gathering).
    HoldingFrom {
        /// The shard.
        shard: usize,
        /// The first sequence number held.
        seq: u64,
    },
}

/// When an input read is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handoff {
    /// Once released and every reader of the node's outputs acknowledged what it
    /// produced from it: at least once, end to end.
    Downstream,
    /// As soon as it is released (the node's own output is the durable buffer).
    Released,
}

/// How the runner reads an operator's input.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Records per read at most.
    pub max_records: usize,
    /// Wait this long to fill a read up to `fill_to` records (a Lambda's batching
    /// window).
    pub fill_window: Option<Duration>,
    /// How many records the batching window waits for (`max_records` when `None`). A
    /// read takes more when they are there already.
    pub fill_to: Option<usize>,
    /// When reads are acknowledged.
    pub handoff: Handoff,
    /// Where a reader without a checkpoint starts.
    pub start: StartPosition,
    /// Reads through an enhanced fan-out consumer (its own read budget, with AWS
    /// realism).
    pub enhanced_fan_out: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            max_records: 65_536,
            fill_window: None,
            fill_to: None,
            handoff: Handoff::Downstream,
            start: StartPosition::TrimHorizon,
            enhanced_fan_out: false,
        }
    }
}

/// A node's outputs while it runs: what is sent is counted.
pub struct Outputs {
    ports: Vec<(&'static str, Producer)>,
    /// The output topics, also after the producers closed.
    topics: Vec<Arc<Topic>>,
    metrics: Arc<NodeMetrics>,
}

impl Outputs {
    /// Outputs counting into `metrics`.
    pub fn new(metrics: Arc<NodeMetrics>) -> Self {
        Self {
            ports: Vec::new(),
            topics: Vec::new(),
            metrics,
        }
    }

    /// Adds output `port` writing through `producer`.
    pub fn with(mut self, port: &PortSpec, producer: Producer) -> Self {
        self.topics.push(producer.topic().clone());
        self.ports.push((port.name, producer));
        self
    }

    fn producer(&self, port: &PortSpec) -> Result<&Producer> {
        self.ports
            .iter()
            .find(|(name, _)| *name == port.name)
            .map(|(_, p)| p)
            .ok_or_else(|| Error::Internal(format!("no output '{}'", port.name)))
    }

    /// Notes a batch sent on the node's first output (the timeline keeps the newest).
    fn note_sent(&self, port: &PortSpec, batch: &RecordBatch) {
        if self
            .ports
            .first()
            .is_some_and(|(name, _)| *name == port.name)
        {
            self.metrics.sent(batch);
        }
    }

    /// Sends records on `port`; they count as records out.
    pub async fn send(&self, port: &PortSpec, batch: RecordBatch) -> Result<()> {
        self.note_sent(port, &batch);
        let (rows, bytes) = (
            batch.num_rows() as u64,
            batch.get_array_memory_size() as u64,
        );
        let blocked = self.producer(port)?.send(batch).await?;
        self.delivered(rows, bytes);
        NodeMetrics::add(&self.metrics.blocked_us, blocked.as_micros() as u64);
        Ok(())
    }

    /// Sends `batch` on `port` as a producer puts into a Kinesis stream: what the
    /// shards' write limits refuse counts as throttled and is put again after a backoff
    /// (100 ms doubling to 1 s, as the KPL retries), before anything else, until every
    /// record is taken. A stream without a write limit takes it at once, as `send` does.
    /// Returns how long it waited for room (the stream's memory bound, not a limit).
    pub async fn send_limited(&self, port: &PortSpec, batch: RecordBatch) -> Result<Duration> {
        self.note_sent(port, &batch);
        let producer = self.producer(port)?;
        let mut pending = batch;
        let mut attempt = 0u32;
        let mut waited = Duration::ZERO;
        loop {
            let bytes = pending.get_array_memory_size() as u64;
            let rows = pending.num_rows() as u64;
            let offered = producer.offer(pending).await?;
            NodeMetrics::add(&self.metrics.blocked_us, offered.blocked.as_micros() as u64);
            waited += offered.blocked;
            let Some(refused) = offered.refused else {
                self.delivered(rows, bytes);
                return Ok(waited);
            };
            let left = refused.num_rows() as u64;
            self.delivered(
                offered.taken,
                bytes.saturating_sub(refused.get_array_memory_size() as u64),
            );
            self.throttled(left);
            attempt = if offered.taken > 0 { 1 } else { attempt + 1 };
            let wait = crate::stream::limits::backoff(attempt, rand::random::<f64>());
            producer.topic().clock().back_off(wait).await;
            pending = refused;
        }
    }

    /// Sends records that failed (or came late) on `port`; they count as errors.
    pub async fn send_failed(&self, port: &PortSpec, batch: RecordBatch) -> Result<()> {
        self.failed(batch.num_rows() as u64);
        self.producer(port)?.send(batch).await?;
        Ok(())
    }

    /// Counts records read from somewhere other than an input (a source's broker).
    pub fn received(&self, records: u64, bytes: u64) {
        NodeMetrics::add(&self.metrics.records_in, records);
        NodeMetrics::add(&self.metrics.bytes_in, bytes);
    }

    /// Counts records delivered somewhere other than an output (a bucket, a broker).
    pub fn delivered(&self, records: u64, bytes: u64) {
        NodeMetrics::add(&self.metrics.records_out, records);
        NodeMetrics::add(&self.metrics.bytes_out, bytes);
    }

    /// Counts records or invocations a limit refused (a shard's write limit, a
    /// function's concurrency).
    pub fn throttled(&self, n: u64) {
        NodeMetrics::add(&self.metrics.throttled, n);
    }

    /// Counts records that failed without being sent anywhere.
    pub fn failed(&self, records: u64) {
        NodeMetrics::add(&self.metrics.errors, records);
    }

    /// Counts time spent waiting for room somewhere other than an output.
    pub fn blocked(&self, waited: Duration) {
        NodeMetrics::add(&self.metrics.blocked_us, waited.as_micros() as u64);
    }

    /// The counters.
    pub fn metrics(&self) -> &NodeMetrics {
        &self.metrics
    }

    /// The topic of output `port`.
    pub fn topic(&self, port: &PortSpec) -> Result<Arc<Topic>> {
        Ok(self.producer(port)?.topic().clone())
    }

    /// Per output, per shard: the next sequence number to be appended.
    fn tails(&self) -> Vec<Vec<u64>> {
        self.topics.iter().map(|t| t.tail()).collect()
    }

    /// Whether every reader of every output acknowledged up to `tails`.
    fn acked(&self, tails: &[Vec<u64>]) -> bool {
        self.topics.iter().zip(tails).all(|(topic, tail)| {
            let acked = topic.acked_through();
            tail.iter().zip(&acked).all(|(t, a)| a >= t)
        })
    }

    /// Whether a reader of some output went away before reading to the end (its node
    /// failed): what it did not acknowledge will never be.
    fn reader_failed(&self) -> bool {
        self.topics.iter().any(|t| t.has_failed_reader())
    }

    /// The run's clock (the one its output topics follow; wall time without outputs).
    pub fn clock(&self) -> crate::api::Clock {
        self.topics
            .first()
            .map(|t| t.clock().clone())
            .unwrap_or_default()
    }

    /// Closes every output: their readers finish once they have read everything.
    pub fn close(&mut self) {
        for (_, p) in self.ports.drain(..) {
            p.close();
        }
    }
}

/// The per-batch logic of a streaming kind with an input. Only [`Operator::process`] is
/// required.
pub trait Operator: Send + 'static {
    /// Handles records read from the input (in shard order within a read).
    fn process(
        &mut self,
        read: Vec<Delivery>,
        out: &Outputs,
    ) -> impl Future<Output = Result<Hold>> + Send;

    /// Adjusts how the next read is made (settings changed during the run).
    fn read_options(&mut self, _options: &mut ReadOptions) {}

    /// When [`Operator::on_timer`] should run next, if ever, on the run's clock (an
    /// [`crate::api::Clock::instant`]: a Firehose's buffer interval, a batching window
    /// follow simulated time in a simulated run).
    fn deadline(&self) -> Option<Instant> {
        None
    }

    /// When [`Operator::on_timer`] should run next on wall time (what measures the
    /// machine rather than AWS: a preview's refresh).
    fn wall_deadline(&self) -> Option<Instant> {
        None
    }

    /// Runs when a deadline has passed (a buffer's interval, a preview's refresh).
    fn on_timer(&mut self, _out: &Outputs) -> impl Future<Output = Result<Hold>> + Send {
        async { Ok(Hold::Released) }
    }

    /// Runs once the input has ended: emits whatever is still held.
    fn finish(&mut self, _out: &Outputs) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }

    /// What the operator holds across reads (an analytics node's open windows), for an
    /// operator that would rather checkpoint it than hold its input unacknowledged: on a
    /// durable input the framework saves it with the positions it covers before it
    /// acknowledges them, and a restart takes it up ([`Operator::restore`]) and skips the
    /// records it covers, so nothing is read, or emitted, twice. `None`: not checkpointed.
    fn state(&self) -> Option<(serde_json::Value, Vec<RecordBatch>)> {
        None
    }

    /// Takes up a state [`Operator::state`] gave before a restart.
    fn restore(&mut self, _meta: serde_json::Value, _batches: Vec<RecordBatch>) -> Result<()> {
        Ok(())
    }

    /// The final counters: sets the kind's report (and corrects what the runner counted
    /// when the kind counts differently, e.g. rows held by a live table).
    fn report(self, _stats: &mut NodeStats)
    where
        Self: Sized,
    {
    }
}

/// The logic of a streaming kind without inputs. Only [`Source::produce`] is required.
pub trait Source: Send + 'static {
    /// Emits the next records; `Ok(false)` when there is nothing more.
    fn produce(&mut self, out: &Outputs) -> impl Future<Output = Result<bool>> + Send;

    /// When (after the source started, on the run's clock) its next records are due, for
    /// a source that sets its own pace (a generator following a daily pattern, or an
    /// unpaced one on a simulated clock, at its events' times); `None` paces it at its
    /// rate (unpaced at rate 0).
    fn due(&self) -> Option<Duration> {
        None
    }

    /// Runs after the outputs closed (e.g. to acknowledge what readers confirmed).
    fn closed(&mut self) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }

    /// The final counters (see [`Operator::report`]).
    fn report(self, _stats: &mut NodeStats)
    where
        Self: Sized,
    {
    }
}

/// A one-shard output topic with no retention limit beyond its readers, named after the
/// node for its kind's first output and `node.port` for the others (a durable stream
/// remembers its inputs by these names).
pub fn output_topic(
    ctx: &NodeContext<'_>,
    port: &PortSpec,
    schema: SchemaRef,
) -> Result<Arc<Topic>> {
    let name = if ctx.kind.outputs().first() == Some(port) {
        ctx.id.to_owned()
    } else {
        format!("{}.{}", ctx.id, port.name)
    };
    Topic::clocked(
        &name,
        schema,
        1,
        None,
        Retention::default(),
        DEFAULT_CAPACITY,
        ctx.clock.clone(),
    )
}

/// Subscribes `node` to `input` from TRIM_HORIZON; `metrics` reports its lag.
pub fn subscribe(input: &Arc<Topic>, node: &str, metrics: &NodeMetrics) -> Consumer {
    subscribe_at(input, node, metrics, &StartPosition::TrimHorizon)
}

/// Subscribes `node` to `input` from `start` (unless a checkpoint says where it was).
pub fn subscribe_at(
    input: &Arc<Topic>,
    node: &str,
    metrics: &NodeMetrics,
    start: &StartPosition,
) -> Consumer {
    let consumer = input.subscribe(node, start);
    if let Ok(mut c) = metrics.consumers.lock() {
        c.push(consumer.lag_probe());
    }
    consumer
}

/// A streaming node being wired: its live counters and its output topics.
pub struct Wiring {
    metrics: Arc<NodeMetrics>,
    output: NodeOutput,
    outputs: Vec<(PortSpec, Arc<Topic>)>,
}

impl Wiring {
    /// Starts wiring a node.
    pub fn new() -> Self {
        Self {
            metrics: Arc::new(NodeMetrics::default()),
            output: NodeOutput::default(),
            outputs: Vec::new(),
        }
    }

    /// Declares output `port` on `topic`.
    pub fn output(mut self, port: &PortSpec, topic: Arc<Topic>) -> Self {
        self.output.set(port, Value::Stream(topic.clone()));
        self.outputs.push((*port, topic));
        self
    }

    /// The node's counters.
    pub fn metrics(&self) -> &Arc<NodeMetrics> {
        &self.metrics
    }

    /// Producers into every declared output (one set per input copy).
    pub fn producers(&self) -> Outputs {
        self.outputs
            .iter()
            .fold(Outputs::new(self.metrics.clone()), |o, (port, topic)| {
                o.with(port, topic.add_producer())
            })
    }

    /// Runs `op` over `input`, read as `node`.
    pub fn operator<O: Operator>(
        self,
        node: &str,
        input: &Arc<Topic>,
        op: O,
        options: ReadOptions,
    ) -> NodeOutput {
        let out = self.producers();
        let consumer = subscribe_at(input, node, &self.metrics, &options.start);
        self.operators(vec![(consumer, op, out)], options)
    }

    /// Runs one operator per shard of `input`, each over its own per-shard consumer (one
    /// reader, named `node`, whose shards never wait for each other) and its own
    /// producers; `op` makes shard `s`'s operator.
    pub fn operator_per_shard<O: Operator>(
        self,
        node: &str,
        input: &Arc<Topic>,
        mut op: impl FnMut(usize) -> O,
        options: ReadOptions,
    ) -> NodeOutput {
        let ops = (0..input.shard_count().max(1))
            .map(|s| {
                let consumer = input.subscribe_shard(node, &options.start, Some(s));
                if options.enhanced_fan_out {
                    consumer.enhanced_fan_out();
                }
                if let Ok(mut c) = self.metrics.consumers.lock() {
                    c.push(consumer.lag_probe());
                }
                (consumer, op(s), self.producers())
            })
            .collect();
        self.operators(ops, options)
    }

    /// Runs several operators at once, each over its own consumer and outputs (a node
    /// copying each of its inputs); their counters add up.
    pub fn operators<O: Operator>(
        self,
        ops: Vec<(Consumer, O, Outputs)>,
        options: ReadOptions,
    ) -> NodeOutput {
        let metrics = self.metrics.clone();
        let m = metrics.clone();
        let task = async move {
            let runs = ops
                .into_iter()
                .map(|(consumer, op, out)| run_operator(consumer, op, out, options.clone()));
            let results = futures::future::try_join_all(runs).await?;
            let mut stats = counted(&m);
            for finish in results {
                finish(&mut stats);
            }
            Ok(stats)
        };
        self.finish(Box::pin(task), metrics)
    }

    /// Runs `source`, pacing it at `rate_per_sec` records (0: as fast as it goes) and
    /// ending it on `stop`.
    pub fn source<S: Source>(self, source: S, rate_per_sec: f64, stop: StopSignal) -> NodeOutput {
        let out = self.producers();
        let metrics = self.metrics.clone();
        let m = metrics.clone();
        let task = async move {
            let finish = run_source(source, out, rate_per_sec, stop).await?;
            let mut stats = counted(&m);
            finish(&mut stats);
            Ok(stats)
        };
        self.finish(Box::pin(task), metrics)
    }

    /// A node whose streaming work is `task` (several sources and operators together).
    pub fn task(self, task: super::context::StreamTask) -> NodeOutput {
        let metrics = self.metrics.clone();
        self.finish(task, metrics)
    }

    fn finish(self, task: super::context::StreamTask, metrics: Arc<NodeMetrics>) -> NodeOutput {
        let mut out = NodeOutput::streaming(task, metrics);
        out.outputs = self.output.outputs;
        out
    }
}

impl Default for Wiring {
    fn default() -> Self {
        Self::new()
    }
}

/// The counters as they stand.
pub fn counted(m: &NodeMetrics) -> NodeStats {
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    NodeStats {
        records_in: load(&m.records_in),
        records_out: load(&m.records_out),
        bytes_in: load(&m.bytes_in),
        bytes_out: load(&m.bytes_out),
        ..Default::default()
    }
}

type Finish = Box<dyn FnOnce(&mut NodeStats) + Send>;

/// An operator's checkpointed state: meta and rows.
type State = (serde_json::Value, Vec<RecordBatch>);

/// Input positions waiting for what they produced to be acknowledged downstream:
/// (output tails after sending, input positions after reading, the operator's state then).
type Pending = VecDeque<(Vec<Vec<u64>>, Vec<u64>, Option<State>)>;

/// How often a stateful operator's state is saved (and its input acknowledged) at most.
const STATE_EVERY: Duration = Duration::from_millis(500);

/// Acknowledges the input up to the newest read whose outputs readers acknowledged (with
/// the operator's state then, saved first). A stateful operator's acknowledgements wait
/// at least [`STATE_EVERY`] since the last unless `force`.
fn settle(
    pending: &mut Pending,
    consumer: &Consumer,
    out: &Outputs,
    saved: &mut Option<Instant>,
    force: bool,
) -> Result<()> {
    let stateful = pending.front().is_some_and(|(_, _, s)| s.is_some());
    if stateful && !force && saved.is_some_and(|t| t.elapsed() < STATE_EVERY) {
        return Ok(());
    }
    let mut last = None;
    while let Some((tails, _, _)) = pending.front() {
        if !out.acked(tails) {
            break;
        }
        last = pending
            .pop_front()
            .map(|(_, positions, state)| (positions, state));
    }
    match last {
        Some((positions, Some((meta, batches)))) => {
            *saved = Some(Instant::now());
            consumer.ack_with_state(&positions, &meta, &batches)
        }
        Some((positions, None)) => consumer.ack_to(&positions),
        None => Ok(()),
    }
}

/// `read` without the rows a restored state already covers (below `covered` per shard).
fn skip_covered(read: Vec<Delivery>, covered: &[u64]) -> Vec<Delivery> {
    read.into_iter()
        .filter_map(|mut d| {
            let from = covered.get(d.shard).copied().unwrap_or(0);
            let rows = d.batch.num_rows() as u64;
            if d.first_seq + rows <= from {
                return None;
            }
            if d.first_seq < from {
                let skip = (from - d.first_seq) as usize;
                let keep = rows as usize - skip;
                d.batch = d.batch.slice(skip, keep);
                d.meta = d.meta.map(|m| m.slice(skip, keep));
                d.first_seq = from;
            }
            Some(d)
        })
        .collect()
}

/// The loop of one operator over one input. If it fails, its input consumer is marked
/// failed: nothing upstream counts what it did not acknowledge as delivered.
pub async fn run_operator<O: Operator>(
    mut consumer: Consumer,
    op: O,
    out: Outputs,
    options: ReadOptions,
) -> Result<Finish> {
    let result = operate(&mut consumer, op, out, options).await;
    if result.is_err() {
        consumer.fail();
    }
    result
}

async fn operate<O: Operator>(
    consumer: &mut Consumer,
    mut op: O,
    mut out: Outputs,
    mut options: ReadOptions,
) -> Result<Finish> {
    let mut pending: Pending = VecDeque::new();
    let handoff = options.handoff;
    // A stateful operator on a durable input takes up what it held before a restart.
    let durable = consumer.is_durable();
    let mut covered = None;
    if durable
        && op.state().is_some()
        && let Some(saved) = consumer.saved_state()?
    {
        op.restore(saved.meta, saved.batches)?;
        covered = Some(saved.positions);
    }
    let mut saved: Option<Instant> = None;
    // What is handed on: everything read, or all but what the operator still holds (a
    // stateful operator on a durable input hands everything on, with its state).
    let released = |pending: &mut Pending,
                    consumer: &Consumer,
                    out: &Outputs,
                    hold: Hold,
                    state: Option<State>|
     -> Result<()> {
        let mut positions = consumer.positions();
        match hold {
            Hold::Holding if state.is_none() => return Ok(()),
            Hold::Holding | Hold::Released => {}
            Hold::HoldingFrom { shard, seq } => {
                if let Some(p) = positions.get_mut(shard) {
                    *p = (*p).min(seq);
                }
            }
        }
        consumer.handled_to(&positions);
        match (handoff, state) {
            (Handoff::Released, None) => consumer.ack_to(&positions),
            (Handoff::Released, Some((meta, batches))) => {
                consumer.ack_with_state(&positions, &meta, &batches)
            }
            (Handoff::Downstream, state) => {
                pending.push_back((out.tails(), positions, state));
                Ok(())
            }
        }
    };
    let state_of = |op: &O| if durable { op.state() } else { None };
    let clock = consumer.topic().clock().clone();
    let due = |op: &O| {
        op.deadline().is_some_and(|at| clock.instant() >= at)
            || op.wall_deadline().is_some_and(|at| Instant::now() >= at)
    };
    loop {
        settle(&mut pending, consumer, &out, &mut saved, false)?;
        op.read_options(&mut options);
        let max = options.max_records.max(1);
        let read = match (op.deadline(), op.wall_deadline()) {
            (None, None) => consumer.next(max).await,
            (at, wall) => {
                let wall = wall.map(|w| w.max(Instant::now() + Duration::from_millis(1)));
                tokio::select! {
                    read = consumer.next(max) => read,
                    _ = async {
                        match at {
                            Some(at) => clock.sleep_until(at).await,
                            None => std::future::pending().await,
                        }
                    } => Some(Vec::new()),
                    _ = async {
                        match wall {
                            Some(w) => tokio::time::sleep_until(w.into()).await,
                            None => std::future::pending().await,
                        }
                    } => Some(Vec::new()),
                }
            }
        };
        let ended = read.is_none();
        let mut read = read.unwrap_or_default();
        if let Some(c) = &covered {
            read = skip_covered(read, c);
        }
        if let Some(window) = options.fill_window
            && !read.is_empty()
        {
            // Fill the read up to its target or until the window closes.
            let mut have: usize = read.iter().map(|d| d.batch.num_rows()).sum();
            let target = options.fill_to.unwrap_or(max).min(max);
            let deadline = clock.instant() + window;
            while have < target {
                if clock.instant() >= deadline {
                    break;
                }
                let more = tokio::select! {
                    more = consumer.next(max - have) => more,
                    _ = clock.sleep_until(deadline) => None,
                };
                match more {
                    Some(more) if !more.is_empty() => {
                        have += more.iter().map(|d| d.batch.num_rows()).sum::<usize>();
                        read.extend(more);
                    }
                    _ => break,
                }
            }
        }
        let mut hold = None;
        // Deadlines that passed before some of the read arrived (the reader woke late:
        // a simulated clock ran on meanwhile): what arrived before each goes first, then
        // the timer (a Firehose's buffer interval, a batching window, a timeline
        // snapshot), then the rest.
        while let Some(at) = op.deadline().filter(|at| clock.instant() >= *at) {
            let at_ms = clock.ms_at(at);
            let split = read
                .iter()
                .position(|d| d.arrival_ms >= at_ms)
                .unwrap_or(read.len());
            if split == read.len() {
                break;
            }
            let rest = read.split_off(split);
            if !read.is_empty() {
                process_read(&mut op, read, &out).await?;
            }
            hold = Some(op.on_timer(&out).await?);
            read = rest;
            if op.deadline().is_none_or(|next| next <= at) {
                // A timer that did not move its deadline on fires once.
                break;
            }
        }
        if !read.is_empty() {
            hold = Some(process_read(&mut op, read, &out).await?);
        }
        if let Some(hold) = hold {
            released(&mut pending, consumer, &out, hold, state_of(&op))?;
        }
        if due(&op) {
            let hold = op.on_timer(&out).await?;
            released(&mut pending, consumer, &out, hold, state_of(&op))?;
        }
        if ended {
            op.finish(&out).await?;
            released(&mut pending, consumer, &out, Hold::Released, state_of(&op))?;
            break;
        }
    }
    // Readers finish once the outputs close; the input is acknowledged as they confirm.
    out.close();
    while !pending.is_empty() {
        settle(&mut pending, consumer, &out, &mut saved, true)?;
        if !pending.is_empty() {
            if out.reader_failed() {
                // A node downstream failed: the input past what it acknowledged stays
                // unacknowledged (a durable input reads it again after a restart).
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(Box::new(move |stats: &mut NodeStats| op.report(stats)))
}

/// Has `op` process `read`, counting it.
async fn process_read<O: Operator>(op: &mut O, read: Vec<Delivery>, out: &Outputs) -> Result<Hold> {
    let m = &out.metrics;
    for d in &read {
        NodeMetrics::add(&m.records_in, d.batch.num_rows() as u64);
        NodeMetrics::add(&m.bytes_in, d.batch.get_array_memory_size() as u64);
    }
    let t = Instant::now();
    let hold = op.process(read, out).await?;
    NodeMetrics::add(&m.batches, 1);
    NodeMetrics::add(&m.batch_latency_us, t.elapsed().as_micros() as u64);
    Ok(hold)
}

/// The loop of one source.
pub async fn run_source<S: Source>(
    mut source: S,
    mut out: Outputs,
    rate_per_sec: f64,
    stop: StopSignal,
) -> Result<Finish> {
    let m = out.metrics.clone();
    // Paced on the run's clock: on a simulated clock running as fast as possible, the
    // pace is what moves time on.
    let mut pacer = out.clock().pacer();
    let start = pacer.clock().instant();
    let emitted = || m.records_out.load(Ordering::Relaxed) + m.errors.load(Ordering::Relaxed);
    while !stop.is_set() {
        let (t, before) = (Instant::now(), emitted());
        let more = source.produce(&out).await?;
        // A poll that found nothing (a broker read that timed out) is not a batch.
        if emitted() > before {
            NodeMetrics::add(&m.batches, 1);
            NodeMetrics::add(&m.batch_latency_us, t.elapsed().as_micros() as u64);
        }
        let due = source.due().or_else(|| {
            (rate_per_sec > 0.0).then(|| Duration::from_secs_f64(emitted() as f64 / rate_per_sec))
        });
        if let Some(due) = due {
            tokio::select! {
                _ = pacer.until(start + due) => {}
                _ = stop.wait() => {}
            }
        }
        if !more {
            break;
        }
    }
    out.close();
    source.closed().await?;
    Ok(Box::new(move |stats: &mut NodeStats| source.report(stats)))
}

/// What a live view (a table or chart sink) keeps of its input.
pub trait LiveState: Send + 'static {
    /// Takes a batch of records.
    fn add(&mut self, batch: RecordBatch) -> Result<()>;
    /// What the preview shows: schema, rows, and the row count it stands for, given the
    /// records read so far.
    fn preview(&self, records_in: u64) -> Result<(SchemaRef, Vec<RecordBatch>, u64)>;
    /// The final counters (see [`Operator::report`]).
    fn report(self, stats: &mut NodeStats);
}

/// An operator keeping a [`LiveState`] and previewing it as `port` about twice a second
/// and at the end.
pub struct LiveView<S> {
    state: S,
    events: crate::api::EventSink,
    node: String,
    port: &'static str,
    records_in: u64,
    dirty: bool,
    last_preview: Instant,
    /// The run's clock and timeline, and the next moment (ms) a snapshot is due.
    timeline: Option<(crate::api::Clock, crate::api::timeline::Timeline, i64)>,
}

/// How often a live view refreshes its preview.
pub const PREVIEW_INTERVAL: Duration = Duration::from_millis(500);

impl<S: LiveState> LiveView<S> {
    /// A live view of `state` for node `ctx`, previewed as `port`.
    pub fn new(ctx: &NodeContext<'_>, port: &'static str, state: S) -> Self {
        Self {
            state,
            events: ctx.events.clone(),
            node: ctx.id.to_owned(),
            port,
            records_in: 0,
            dirty: false,
            last_preview: Instant::now(),
            timeline: ctx.events.timeline().map(|t| {
                let next = t.next_after(ctx.clock.now_ms());
                (ctx.clock.clone(), t.clone(), next)
            }),
        }
    }

    /// Adds the view's state to the run's timeline at `at_ms` (after exactly the records
    /// that arrived by then).
    fn snapshot(&mut self, at_ms: i64) -> Result<()> {
        if let Some((_, timeline, _)) = &self.timeline {
            let rows = self.state.preview(self.records_in)?;
            timeline.snapshot(&self.node, self.port, at_ms, rows);
        }
        Ok(())
    }

    fn preview(&mut self) -> Result<()> {
        if self.dirty {
            let (schema, batches, rows) = self.state.preview(self.records_in)?;
            self.events
                .preview(&self.node, self.port, schema, batches, rows);
            self.dirty = false;
        }
        self.last_preview = Instant::now();
        Ok(())
    }
}

impl<S: LiveState> Operator for LiveView<S> {
    async fn process(&mut self, read: Vec<Delivery>, _out: &Outputs) -> Result<Hold> {
        for d in read {
            self.records_in += d.batch.num_rows() as u64;
            self.state.add(d.batch)?;
            self.dirty = true;
        }
        Ok(Hold::Released)
    }

    fn wall_deadline(&self) -> Option<Instant> {
        Some(self.last_preview + PREVIEW_INTERVAL)
    }

    /// The timeline's next snapshot, on the run's clock.
    fn deadline(&self) -> Option<Instant> {
        let (clock, _, next) = self.timeline.as_ref()?;
        let ahead = (*next - clock.now_ms()).max(0) as u64;
        Some(clock.instant() + Duration::from_millis(ahead))
    }

    async fn on_timer(&mut self, _out: &Outputs) -> Result<Hold> {
        if let Some((clock, timeline, next)) = &self.timeline
            && clock.now_ms() >= *next
        {
            // The view after exactly the records that arrived before the grid point
            // (the runner splits a read there); the next one is due at the grid point
            // after it (several may have passed: a read spanning them is split at each).
            let at = *next;
            let following = timeline.next_after(at);
            self.snapshot(at)?;
            if let Some((_, _, next)) = self.timeline.as_mut() {
                *next = following;
            }
        }
        if self.last_preview.elapsed() >= PREVIEW_INTERVAL {
            self.preview()?;
        }
        Ok(Hold::Released)
    }

    async fn finish(&mut self, _out: &Outputs) -> Result<()> {
        if let Some((clock, _, _)) = &self.timeline {
            let now = clock.now_ms();
            self.snapshot(now)?;
        }
        self.preview()
    }

    fn report(self, stats: &mut NodeStats) {
        self.state.report(stats);
    }
}
