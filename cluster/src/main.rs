//! `tributary-cluster`: an Apache Ballista scheduler or executor, built against the same
//! DataFusion as Tributary so plans serialize identically on both sides.
//!
//! Tributary never runs its own cluster code: this binary only wraps the `ballista-scheduler`
//! and `ballista-executor` library crates (the same code as their upstream binaries), so a
//! laptop or a CI machine can start a real cluster without a second DataFusion build. Both
//! processes know Tributary's Trino functions (from the engine crate), so Athena SQL runs
//! there with the same meaning.
//!
//! ```text
//! tributary-cluster scheduler --bind-host 127.0.0.1 --bind-port 50050
//! tributary-cluster executor  --scheduler-host 127.0.0.1 --scheduler-port 50050 \
//!                             --bind-port 50051 --bind-grpc-port 50052 --bind-health-port 50053
//! ```
//! Every flag after the role is the upstream binary's own (`--help` lists them).

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::error::BallistaError;
use ballista_core::object_store::{
    runtime_env_with_s3_support, session_config_with_s3_support, session_state_with_s3_support,
};
use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() {
    let mut args: Vec<String> = std::env::args().collect();
    let role = if args.len() > 1 {
        args.remove(1)
    } else {
        String::new()
    };
    let result = match role.as_str() {
        "scheduler" => run(scheduler(args)),
        "executor" => run(executor(args)),
        _ => {
            eprintln!(
                "usage: tributary-cluster <scheduler|executor> [flags]\n\
                 Starts an Apache Ballista scheduler or executor; `tributary-cluster scheduler --help` lists the flags."
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("tributary-cluster {role}: {e}");
        std::process::exit(1);
    }
}

fn run(
    fut: impl std::future::Future<Output = ballista_core::error::Result<()>>,
) -> ballista_core::error::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ballista-worker")
        .thread_stack_size(32 * 1024 * 1024)
        .build()
        .map_err(|e| BallistaError::General(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(fut)
}

fn init_logging(default_filter: &str) {
    let filter =
        std::env::var(EnvFilter::DEFAULT_ENV).unwrap_or_else(|_| default_filter.to_owned());
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(std::io::stdout)
        .init();
}

async fn scheduler(args: Vec<String>) -> ballista_core::error::Result<()> {
    use ballista_scheduler::cluster::BallistaCluster;
    use ballista_scheduler::config::{Config, SchedulerConfig};
    use ballista_scheduler::scheduler_process::start_server;

    let opt = Config::parse_from(args);
    init_logging(&opt.log_level_setting);
    let addr: SocketAddr = format!("{}:{}", opt.bind_host, opt.bind_port)
        .parse()
        .map_err(|e: std::net::AddrParseError| BallistaError::Configuration(e.to_string()))?;
    let config: SchedulerConfig = opt.try_into()?;
    let config = config
        .with_override_config_producer(Arc::new(session_config_with_s3_support))
        .with_override_session_builder(Arc::new(|config| {
            tributary_state(session_state_with_s3_support(config)?)
        }));
    let cluster = BallistaCluster::new_from_config(&config).await?;
    start_server(cluster, addr, Arc::new(config)).await
}

/// `state` with Tributary's Trino functions registered (replacing DataFusion's namesakes,
/// as Tributary's sessions do). A DataFusion function that has one of their names as an
/// alias (`to_char` is also `date_format`, `map_extract` also `element_at`) is left out:
/// the scheduler rebuilds sessions from their function lists, in no set order, and the
/// alias could win there.
fn tributary_state(
    mut state: datafusion::execution::session_state::SessionState,
) -> datafusion::common::Result<datafusion::execution::session_state::SessionState> {
    use datafusion::execution::FunctionRegistry as _;
    let (scalars, aggregates) = tributary_engine::lake::trino::udfs();
    for f in scalars {
        let owners: Vec<String> = state
            .scalar_functions()
            .values()
            .filter(|g| g.name() != f.name() && g.aliases().iter().any(|a| a == f.name()))
            .map(|g| g.name().to_owned())
            .collect();
        for owner in owners {
            state.deregister_udf(&owner)?;
        }
        state.register_udf(f)?;
    }
    for f in aggregates {
        state.register_udaf(f)?;
    }
    Ok(state)
}

async fn executor(args: Vec<String>) -> ballista_core::error::Result<()> {
    use ballista_executor::config::Config;
    use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};

    let opt = Config::parse_from(args);
    let mut config: ExecutorProcessConfig = opt.try_into()?;
    config.override_config_producer = Some(Arc::new(session_config_with_s3_support));
    config.override_runtime_producer = Some(Arc::new(runtime_env_with_s3_support));
    // DataFusion's functions (array ones included, which Ballista's default registry
    // lacks) and Tributary's Trino functions, as Tributary's sessions have them.
    let registry = ballista_core::registry::BallistaFunctionRegistry::from(&tributary_state(
        datafusion::execution::session_state::SessionStateBuilder::new()
            .with_default_features()
            .build(),
    )?);
    config.override_function_registry = Some(Arc::new(registry));
    init_logging(&config.special_mod_log_level);
    start_executor_process(Arc::new(config)).await
}
