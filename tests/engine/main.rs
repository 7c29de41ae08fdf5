//! Integration tests of the engine and the headless CLI. One binary, one module per area.

mod support;

mod bad_input;
mod crawl_query;
mod engine_api;
mod etl;
mod project_files;
mod s3;
mod streaming;
