//! The engine thread: loads projects, starts and stops runs, shuts down.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crossbeam_channel::Receiver;

use super::cache::Cache;
use super::graph::{RunShared, run_graph};
use super::{Command, STOP_GRACE};
use crate::api::{Event, EventTx, LogLevel, NodeStatus, RunId};
use crate::project::Project;

/// The run in progress.
struct ActiveRun {
    run: RunId,
    handle: tokio::task::JoinHandle<()>,
    shared: Arc<RunShared>,
}

/// The thread's loop.
pub fn engine_main(commands: Receiver<Command>, events: EventTx) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        )
        .thread_name("tributary-rt")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            events.send(Event::Log {
                run: None,
                node: None,
                level: LogLevel::Error,
                message: format!("the engine cannot start its runtime: {e}"),
            });
            return;
        }
    };
    let mut project: Option<(Arc<Project>, PathBuf)> = None;
    let cache = Arc::new(Mutex::new(Cache::default()));
    let mut active: Option<ActiveRun> = None;
    // The AWS endpoint, while the engine serves one; it outlives runs.
    let mut endpoint: Option<crate::aws::Endpoint> = None;

    while let Ok(command) = commands.recv() {
        match command {
            Command::Load {
                project: p,
                base_dir,
                revision,
            } => {
                let problems = p.validate();
                events.send(Event::Loaded { revision, problems });
                // Drop cached results of nodes that no longer exist.
                if let Ok(mut c) = cache.lock() {
                    c.retain_nodes_of(&p);
                }
                // Settings changed while a run goes on reach the nodes that apply them.
                if let Some(a) = &active {
                    a.shared.update_settings(&p);
                }
                project = Some((Arc::new(*p), base_dir));
                serve_buckets(endpoint.as_ref(), project.as_ref());
            }
            Command::Run { run, target } => {
                if let Some(a) = active.take() {
                    stop_run(a, &events);
                }
                let Some((p, base_dir)) = project.clone() else {
                    events.send(Event::Log {
                        run: Some(run),
                        node: None,
                        level: LogLevel::Error,
                        message: "no project is loaded".to_owned(),
                    });
                    events.send(Event::RunFinished {
                        run,
                        status: NodeStatus::Error,
                        summary: Vec::new(),
                    });
                    continue;
                };
                let shared = Arc::new(RunShared {
                    endpoint: endpoint.as_ref().map(|e| e.registry().clone()),
                    ..Default::default()
                });
                let task = run_graph(
                    p,
                    base_dir,
                    run,
                    target,
                    events.clone(),
                    cache.clone(),
                    shared.clone(),
                );
                let handle = runtime.spawn(task);
                active = Some(ActiveRun {
                    run,
                    handle,
                    shared,
                });
            }
            Command::Stop => {
                if let Some(a) = active.take() {
                    if a.shared.streaming.load(Ordering::SeqCst) && !a.handle.is_finished() {
                        // Sources end, the rest drains and Firehoses flush; a run that
                        // does not finish within the grace period is aborted.
                        a.shared.stop.set();
                        let events = events.clone();
                        runtime.spawn(async move {
                            let deadline = Instant::now() + STOP_GRACE;
                            while !a.handle.is_finished() && Instant::now() < deadline {
                                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                            }
                            if !a.handle.is_finished() {
                                stop_run(a, &events);
                            }
                        });
                    } else {
                        stop_run(a, &events);
                    }
                }
            }
            Command::Serve(options) => {
                // The old endpoint goes first, so the same address can be bound again.
                endpoint = None;
                let event = match options {
                    None => Event::Serving {
                        address: None,
                        error: None,
                    },
                    Some(o) => match crate::aws::Endpoint::start(
                        &o,
                        runtime.handle(),
                        Some(events.clone()),
                    ) {
                        Ok(e) => {
                            let address = e.address().to_string();
                            endpoint = Some(e);
                            serve_buckets(endpoint.as_ref(), project.as_ref());
                            Event::Serving {
                                address: Some(address),
                                error: None,
                            }
                        }
                        Err(e) => Event::Serving {
                            address: None,
                            error: Some(e.to_string()),
                        },
                    },
                };
                events.send(event);
            }
            Command::Shutdown => break,
        }
        if active.as_ref().is_some_and(|a| a.handle.is_finished()) {
            active = None;
        }
    }
    if let Some(a) = active.take() {
        stop_run(a, &events);
    }
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
}

/// The S3 API serves the local bucket nodes of the project loaded now.
fn serve_buckets(
    endpoint: Option<&crate::aws::Endpoint>,
    project: Option<&(Arc<Project>, PathBuf)>,
) {
    let (Some(endpoint), Some((project, base_dir))) = (endpoint, project) else {
        return;
    };
    let buckets = project
        .nodes
        .iter()
        .filter_map(|n| match &n.config {
            crate::nodes::NodeConfig::Bucket(c) => c.served(&n.id, base_dir),
            _ => None,
        })
        .collect();
    endpoint.registry().serve_buckets(buckets);
}

/// Aborts a run: the node running is reported stopped, and the run finishes as stopped.
fn stop_run(active: ActiveRun, events: &EventTx) {
    active.handle.abort();
    if active
        .shared
        .finished
        .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        return; // It had already finished and reported.
    }
    let running = active.shared.running.lock().ok().and_then(|r| r.clone());
    let mut summary = active
        .shared
        .summary
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default();
    if let Some(node) = running {
        events.send(Event::NodeStopped {
            run: active.run,
            node: node.clone(),
        });
        for s in summary.iter_mut().filter(|s| s.id == node) {
            s.status = NodeStatus::Stopped;
        }
    }
    events.send(Event::RunFinished {
        run: active.run,
        status: NodeStatus::Stopped,
        summary,
    });
}
