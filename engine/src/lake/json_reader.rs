//! JSON files read as Athena's JSON SerDe reads them: a text column takes numbers and
//! booleans as their text (a field holding `1` in one record and `"A1"` in another is a
//! `string`, as Glue types it), and an unreadable value names its file.
//!
//! DataFusion's own JSON reader fails a whole query on the first number in a text column
//! ("expected string got 1"). [`LenientJsonFormat`] is DataFusion's `JsonFormat` with its
//! own [`FileSource`] that decodes each whole file with Arrow's `coerce_primitive` on.
//! Files are read whole (JSON arrays must be; JSON lines files of a lake are many and
//! small), so no file is split across partitions.

use std::fmt;
use std::io::Read as _;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt as _;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt as _};

use crate::arrow::datatypes::SchemaRef;
use crate::arrow::json::ReaderBuilder;
use crate::datafusion::catalog::Session;
use crate::datafusion::common::tree_node::TreeNodeRecursion;
use crate::datafusion::common::{DataFusionError, Result, Statistics};
use crate::datafusion::datasource::file_format::FileFormat;
use crate::datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use crate::datafusion::datasource::file_format::json::JsonFormat;
use crate::datafusion::datasource::listing::PartitionedFile;
use crate::datafusion::datasource::physical_plan::{
    FileOpenFuture, FileOpener, FileScanConfig, FileScanConfigBuilder, FileSource,
};
use crate::datafusion::datasource::projection::{ProjectionOpener, SplitProjection};
use crate::datafusion::datasource::source::DataSourceExec;
use crate::datafusion::datasource::table_schema::TableSchema;
use crate::datafusion::physical_expr::projection::ProjectionExprs;
use crate::datafusion::physical_plan::ExecutionPlan;
use crate::datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;

/// DataFusion's JSON format, read with [`LenientJsonSource`].
#[derive(Debug)]
pub struct LenientJsonFormat {
    inner: JsonFormat,
    compression: FileCompressionType,
    newline_delimited: bool,
}

impl LenientJsonFormat {
    /// JSON lines (`newline_delimited`) or one array per file, whole-file compressed.
    pub fn new(compression: FileCompressionType, newline_delimited: bool) -> Self {
        Self {
            inner: JsonFormat::default()
                .with_file_compression_type(compression)
                .with_newline_delimited(newline_delimited),
            compression,
            newline_delimited,
        }
    }
}

#[async_trait]
impl FileFormat for LenientJsonFormat {
    fn get_ext(&self) -> String {
        self.inner.get_ext()
    }

    fn get_ext_with_compression(&self, c: &FileCompressionType) -> Result<String> {
        self.inner.get_ext_with_compression(c)
    }

    fn compression_type(&self) -> Option<FileCompressionType> {
        Some(self.compression)
    }

    async fn infer_schema(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        objects: &[ObjectMeta],
    ) -> Result<SchemaRef> {
        self.inner.infer_schema(state, store, objects).await
    }

    async fn infer_stats(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        table_schema: SchemaRef,
        object: &ObjectMeta,
    ) -> Result<Statistics> {
        self.inner
            .infer_stats(state, store, table_schema, object)
            .await
    }

    async fn create_physical_plan(
        &self,
        _state: &dyn Session,
        conf: FileScanConfig,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let conf = FileScanConfigBuilder::from(conf)
            .with_file_compression_type(self.compression)
            .build();
        Ok(DataSourceExec::from_data_source(conf))
    }

    fn file_source(&self, table_schema: TableSchema) -> Arc<dyn FileSource> {
        Arc::new(LenientJsonSource {
            projection: SplitProjection::unprojected(&table_schema),
            table_schema,
            batch_size: None,
            metrics: ExecutionPlanMetricsSet::new(),
            newline_delimited: self.newline_delimited,
        })
    }
}

/// Reads whole JSON files with primitives coerced to text where the column is text.
#[derive(Clone)]
pub struct LenientJsonSource {
    table_schema: TableSchema,
    batch_size: Option<usize>,
    metrics: ExecutionPlanMetricsSet,
    projection: SplitProjection,
    newline_delimited: bool,
}

impl fmt::Debug for LenientJsonSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LenientJsonSource")
            .field("newline_delimited", &self.newline_delimited)
            .finish()
    }
}

impl FileSource for LenientJsonSource {
    fn create_file_opener(
        &self,
        object_store: Arc<dyn ObjectStore>,
        base_config: &FileScanConfig,
        _partition: usize,
    ) -> Result<Arc<dyn FileOpener>> {
        let file_schema = self.table_schema.file_schema();
        let projected = Arc::new(file_schema.project(&self.projection.file_indices)?);
        let opener = Arc::new(WholeFileJsonOpener {
            batch_size: self.batch_size.unwrap_or(8192),
            schema: projected,
            compression: base_config.file_compression_type,
            store: object_store,
            newline_delimited: self.newline_delimited,
        }) as Arc<dyn FileOpener>;
        ProjectionOpener::try_new(self.projection.clone(), opener, file_schema)
    }

    fn table_schema(&self) -> &TableSchema {
        &self.table_schema
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        let mut s = self.clone();
        s.batch_size = Some(batch_size);
        Arc::new(s)
    }

    fn try_pushdown_projection(
        &self,
        projection: &ProjectionExprs,
    ) -> Result<Option<Arc<dyn FileSource>>> {
        let mut s = self.clone();
        let merged = self.projection.source.try_merge(projection)?;
        s.projection = SplitProjection::new(self.table_schema.file_schema(), &merged);
        Ok(Some(Arc::new(s)))
    }

    fn projection(&self) -> Option<&ProjectionExprs> {
        Some(&self.projection.source)
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        &self.metrics
    }

    fn file_type(&self) -> &str {
        "json"
    }

    fn supports_repartitioning(&self) -> bool {
        false
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(
            &Arc<dyn crate::datafusion::physical_plan::PhysicalExpr>,
        ) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        crate::datafusion::physical_plan::apply_expression_roots(self.projection.source.iter(), f)
    }
}

struct WholeFileJsonOpener {
    batch_size: usize,
    schema: SchemaRef,
    compression: FileCompressionType,
    store: Arc<dyn ObjectStore>,
    newline_delimited: bool,
}

impl FileOpener for WholeFileJsonOpener {
    fn open(&self, file: PartitionedFile) -> Result<FileOpenFuture> {
        let store = self.store.clone();
        let schema = self.schema.clone();
        let batch_size = self.batch_size;
        let compression = self.compression;
        let newline_delimited = self.newline_delimited;
        Ok(Box::pin(async move {
            let location = file.object_meta.location.clone();
            let bytes = store.get(&location).await?.bytes().await?;
            // Decompressing and decoding are CPU work: off the async workers.
            let batches = tokio::task::spawn_blocking(move || {
                let mut text = Vec::new();
                let named = |e: &dyn fmt::Display, text: &[u8]| {
                    let e = e.to_string();
                    let line = line_of(text, &e)
                        .map(|n| format!(" (line {n})"))
                        .unwrap_or_default();
                    DataFusionError::Execution(format!(
                        "file '{location}'{line} cannot be read as the table's JSON: {e}. The column types came from a sample of the files; give the column a type that holds every value (ALTER TABLE … CHANGE COLUMN <name> <name> string, with allow_writes)"
                    ))
                };
                compression
                    .convert_read(std::io::Cursor::new(bytes))?
                    .read_to_end(&mut text)
                    .map_err(|e| named(&e, &[]))?;
                let lines = if newline_delimited {
                    text
                } else {
                    array_to_lines(&text).map_err(|e| named(&e, &[]))?
                };
                let reader = ReaderBuilder::new(schema)
                    .with_batch_size(batch_size)
                    .with_coerce_primitive(true)
                    .build(std::io::Cursor::new(&lines))
                    .map_err(|e| named(&e, &lines))?;
                // Arrow's reader repeats an error forever: stop at the first.
                let mut batches = Vec::new();
                for b in reader {
                    let failed = b.is_err();
                    batches.push(b.map_err(|e| named(&e, &lines)));
                    if failed {
                        break;
                    }
                }
                Ok::<_, DataFusionError>(batches)
            })
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))??;
            Ok(futures::stream::iter(batches).boxed())
        }))
    }
}

/// The line (from 1) holding the value an Arrow decoding error quotes
/// (`failed to parse "abc" as Int64`).
fn line_of(text: &[u8], error: &str) -> Option<usize> {
    let value = error
        .split("failed to parse \"")
        .nth(1)?
        .split('"')
        .next()?;
    let needle = serde_json::to_string(value).ok()?;
    text.split(|b| *b == b'\n')
        .position(|line| line.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .map(|i| i + 1)
}

/// One JSON array of records as JSON lines.
fn array_to_lines(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let values: Vec<serde_json::Value> =
        serde_json::from_slice(bytes).map_err(|e| format!("not a JSON array of records: {e}"))?;
    let mut out = Vec::with_capacity(bytes.len());
    for v in values {
        serde_json::to_writer(&mut out, &v).map_err(|e| e.to_string())?;
        out.push(b'\n');
    }
    Ok(out)
}
