//! The batch data lake: buckets, the crawler, the catalog, SQL and writers.

pub mod bucket;
pub mod catalog;
pub mod crawler;
pub mod glue_types;
pub mod json_reader;
pub mod orc;
pub mod partitioned;
pub mod projection;
pub mod provider;
pub mod sniff;
pub mod sql;
pub mod statements;
pub mod trino;
pub mod views;
pub mod writer;
