//! Integration tests of the engine and the headless CLI. One binary, one module per area.

mod support;

mod api_fuzz;
mod athena_statements;
mod bad_input;
mod broker;
mod charts;
mod clock;
mod cluster;
mod cost;
mod crawl_query;
mod disk_faults;
mod engine_api;
mod etl;
mod export;
mod faults;
mod functions;
mod history;
mod messy_lakes;
mod partitions;
mod pipelines;
mod project_files;
mod properties;
mod realism;
mod s3;
mod s3_api;
mod scripts;
mod services;
mod streaming;
mod time_travel;
mod transforms;
mod trino;
mod wire;
