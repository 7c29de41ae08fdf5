//! Ports several kinds share. A kind uses these or declares its own constants; edges and
//! code name ports only through such constants.

use super::kind::{PortSpec, PortType};

/// A required stream input, one edge.
pub const RECORDS_IN: PortSpec = PortSpec::input("records", PortType::Stream).required();
/// The records a streaming node emits.
pub const RECORDS_OUT: PortSpec = PortSpec::output("records", PortType::Stream);
/// Records a node could not process, with their error.
pub const FAILED_OUT: PortSpec = PortSpec::output("failed", PortType::Stream);
/// A required catalog input.
pub const CATALOG_IN: PortSpec = PortSpec::input("catalog", PortType::Catalog).required();
/// An optional catalog input (for registering tables).
pub const CATALOG_OPTIONAL_IN: PortSpec = PortSpec::input("catalog", PortType::Catalog);
/// The catalog, handed on.
pub const CATALOG_OUT: PortSpec = PortSpec::output("catalog", PortType::Catalog);
/// The bucket a node writes to.
pub const TARGET_IN: PortSpec = PortSpec::input("target", PortType::Objects).required();
/// A table of rows.
pub const TABLE_OUT: PortSpec = PortSpec::output("table", PortType::Table);
/// Runs a batch node again on each read of the stream wired here (a bucket's S3 event
/// notifications), while the run goes on.
pub const TRIGGER_IN: PortSpec = PortSpec::input("trigger", PortType::Stream);
