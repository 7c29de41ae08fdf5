//! The engine: a named thread that runs projects, driven by [`Command`]s and reporting
//! [`Event`]s.
//!
//! The engine runs on its own thread (`tributary-engine`) with a Tokio runtime whose
//! workers are named `tributary-rt`. It takes commands over a bounded crossbeam channel
//! and sends events back over another. The GUI and the CLI drive it only through this
//! API. Every run carries a [`RunId`] holding the document revision it was started from,
//! so results for an edited or deleted node can be told apart and dropped by the
//! receiver.
//!
//! - `thread.rs`: the thread's loop (load, run, stop, shut down);
//! - `graph.rs`: one run of the graph, node by node in dependency order;
//! - `streaming.rs`: the wired streaming nodes, run together and sampled;
//! - `cache.rs`: results of earlier runs, reused when nothing upstream changed;
//! - `conservation.rs`: a finished run's records, stream by stream and reader by reader;
//! - `runs.rs`: each run recorded beside the project (its nodes' tables), `diff.rs`: a
//!   node's output in two recorded runs compared; `drift.rs`: what the catalog's newest
//!   table versions break or change in the project.

mod cache;
pub mod conservation;
pub mod diff;
pub mod drift;
mod graph;
mod replay;
pub mod runs;
mod streaming;
mod thread;
pub mod timeline;

use std::path::PathBuf;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

pub use crate::api::{
    Event, EventSink, EventTx, LogLevel, NodeStatus, NodeSummary, Notify, RunId, RunTarget,
    StopSignal,
};
use crate::error::{Error, Result};
use crate::project::Project;

/// Commands queued at most; senders get `Full` beyond this.
pub const COMMAND_CAPACITY: usize = 64;
/// Events queued at most; the engine waits for the receiver beyond this.
pub const EVENT_CAPACITY: usize = 1024;
/// How long a stopped streaming run may take to drain before it is aborted.
pub const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(15);

/// Commands the engine takes.
#[derive(Debug)]
pub enum Command {
    /// Replaces the project. `base_dir` is the project file's folder; relative paths
    /// resolve against it. `revision` increases with every edit.
    Load {
        /// The project.
        project: Box<Project>,
        /// Folder relative paths resolve against.
        base_dir: PathBuf,
        /// Document revision.
        revision: u64,
    },
    /// Starts a run; a run in progress is stopped first.
    Run {
        /// Id echoed in every event of the run.
        run: RunId,
        /// What to run.
        target: RunTarget,
    },
    /// Stops the run in progress, if any.
    Stop,
    /// Starts serving the AWS APIs (`Some`), replacing an endpoint already running, or
    /// stops serving (`None`). Runs started afterwards register their streams with it.
    /// Answered with `Event::Serving`.
    Serve(Option<crate::aws::ServeOptions>),
    /// Ends the engine thread.
    Shutdown,
}

/// A handle on the engine thread. Dropping it shuts the engine down.
pub struct Engine {
    commands: Sender<Command>,
    events: Receiver<Event>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Engine {
    /// Starts the engine thread.
    pub fn spawn() -> Result<Self> {
        Self::spawn_with_notify(None)
    }

    /// Starts the engine thread; `notify` is called after every event is sent (a GUI
    /// passes a closure that requests a repaint).
    pub fn spawn_with_notify(notify: Option<Notify>) -> Result<Self> {
        let (cmd_tx, cmd_rx) = bounded(COMMAND_CAPACITY);
        let (tx, ev_rx) = bounded(EVENT_CAPACITY);
        let ev_tx = EventTx::new(tx, notify);
        let thread = std::thread::Builder::new()
            .name("tributary-engine".to_owned())
            .spawn(move || thread::engine_main(cmd_rx, ev_tx))
            .map_err(|e| Error::Internal(format!("cannot start the engine thread: {e}")))?;
        Ok(Self {
            commands: cmd_tx,
            events: ev_rx,
            thread: Some(thread),
        })
    }

    /// Queues a command without blocking; gives it back when the queue is full.
    pub fn try_send(&self, command: Command) -> std::result::Result<(), Command> {
        self.commands.try_send(command).map_err(|e| match e {
            TrySendError::Full(c) | TrySendError::Disconnected(c) => c,
        })
    }

    /// Queues a command, waiting for room. For headless callers only: a GUI uses
    /// [`Engine::try_send`].
    pub fn send(&self, command: Command) -> Result<()> {
        self.commands
            .send(command)
            .map_err(|_| Error::Internal("the engine thread has stopped".to_owned()))
    }

    /// The events the engine sends.
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.commands.try_send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            // Drain events so the engine is never stuck sending while we wait.
            while !t.is_finished() {
                while self.events.try_recv().is_ok() {}
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            let _ = t.join();
        }
    }
}

/// Runs a whole project headless and returns the summary: what `tributary run` does.
/// Events other than the final one are passed to `on_event` as they arrive.
pub fn run_project_blocking(
    project: Project,
    base_dir: PathBuf,
    target: RunTarget,
    on_event: impl FnMut(&Event),
) -> Result<(NodeStatus, Vec<NodeSummary>)> {
    run_project_served(project, base_dir, target, None, || false, on_event)
}

/// Like [`run_project_blocking`], serving the AWS APIs with `serve` for the run (an
/// error when the endpoint cannot start) and stopping the run (it drains and flushes,
/// as Stop does) once `stop_requested` says so; it is polled every 50 ms.
pub fn run_project_served(
    project: Project,
    base_dir: PathBuf,
    target: RunTarget,
    serve: Option<crate::aws::ServeOptions>,
    stop_requested: impl Fn() -> bool,
    mut on_event: impl FnMut(&Event),
) -> Result<(NodeStatus, Vec<NodeSummary>)> {
    let engine = Engine::spawn()?;
    let serving = serve.is_some();
    if serving {
        engine.send(Command::Serve(serve))?;
    }
    engine.send(Command::Load {
        project: Box::new(project),
        base_dir,
        revision: 1,
    })?;
    let run = RunId {
        seq: 1,
        revision: 1,
    };
    let mut started = !serving;
    if started {
        engine.send(Command::Run {
            run,
            target: target.clone(),
        })?;
    }
    let mut stopping = false;
    loop {
        match engine
            .events()
            .recv_timeout(std::time::Duration::from_millis(50))
        {
            Ok(Event::Serving { error: Some(e), .. }) if !started => return Err(Error::Invalid(e)),
            Ok(ev @ Event::Serving { .. }) if !started => {
                on_event(&ev);
                started = true;
                engine.send(Command::Run {
                    run,
                    target: target.clone(),
                })?;
            }
            Ok(Event::RunFinished {
                run: r,
                status,
                summary,
            }) if r == run => return Ok((status, summary)),
            Ok(ev) => on_event(&ev),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                return Err(Error::Internal(
                    "the engine stopped unexpectedly".to_owned(),
                ));
            }
        }
        if started && !stopping && stop_requested() {
            stopping = true;
            engine.send(Command::Stop)?;
        }
    }
}
