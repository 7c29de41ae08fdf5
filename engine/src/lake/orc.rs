//! ORC files as a DataFusion file format, read with `orc-rust` (datafusion-contrib).
//!
//! `datafusion-orc` 0.10 (the same authors' DataFusion binding) reads a file's columns
//! by name but leaves out partition columns and projections, so a query over a
//! hive-partitioned ORC table fails to plan. This source does what DataFusion's own
//! Avro source does: the projection is split into the file's columns and the rest
//! (partition values, expressions), and each batch is adapted to the table's columns, so
//! a file written before a column was added reads it as null.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt as _, StreamExt as _, TryFutureExt as _};
use orc_rust::ArrowReaderBuilder;
use orc_rust::projection::ProjectionMask;
use orc_rust::reader::AsyncChunkReader;
use orc_rust::reader::metadata::read_metadata_async;

use crate::arrow::datatypes::{Schema, SchemaRef};
use crate::datafusion::catalog::Session;
use crate::datafusion::common::tree_node::TreeNodeRecursion;
use crate::datafusion::common::{DataFusionError, Result, Statistics};
use crate::datafusion::datasource::file_format::FileFormat;
use crate::datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use crate::datafusion::datasource::physical_plan::{
    FileOpenFuture, FileOpener, FileScanConfig, FileSource,
};
use crate::datafusion::datasource::projection::{ProjectionOpener, SplitProjection};
use crate::datafusion::datasource::source::DataSourceExec;
use crate::datafusion::datasource::table_schema::TableSchema;
use crate::datafusion::physical_expr_adapter::BatchAdapterFactory;
use crate::datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use crate::datafusion::physical_plan::projection::ProjectionExprs;
use crate::datafusion::physical_plan::{ExecutionPlan, PhysicalExpr};
use object_store::{GetOptions, ObjectMeta, ObjectStore, ObjectStoreExt as _};

/// The ORC file format.
#[derive(Clone, Debug, Default)]
pub struct OrcFormat;

#[async_trait::async_trait]
impl FileFormat for OrcFormat {
    fn get_ext(&self) -> String {
        "orc".to_owned()
    }

    fn get_ext_with_compression(&self, _: &FileCompressionType) -> Result<String> {
        Ok(self.get_ext())
    }

    fn compression_type(&self) -> Option<FileCompressionType> {
        None
    }

    async fn infer_schema(
        &self,
        _state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        objects: &[ObjectMeta],
    ) -> Result<SchemaRef> {
        let mut objects = objects.to_vec();
        objects.sort_by(|a, b| a.location.cmp(&b.location));
        let mut schemas = Vec::with_capacity(objects.len());
        for object in objects {
            let mut reader = StoreReader::new(Arc::clone(store), object);
            let metadata = read_metadata_async(&mut reader)
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            schemas.push(
                metadata
                    .root_data_type()
                    .create_arrow_schema(&HashMap::default()),
            );
        }
        Ok(Arc::new(Schema::try_merge(schemas)?))
    }

    async fn infer_stats(
        &self,
        _state: &dyn Session,
        _store: &Arc<dyn ObjectStore>,
        table_schema: SchemaRef,
        _object: &ObjectMeta,
    ) -> Result<Statistics> {
        Ok(Statistics::new_unknown(&table_schema))
    }

    async fn create_physical_plan(
        &self,
        _state: &dyn Session,
        conf: FileScanConfig,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(DataSourceExec::from_data_source(conf))
    }

    fn file_source(&self, table_schema: TableSchema) -> Arc<dyn FileSource> {
        Arc::new(OrcSource::new(table_schema))
    }
}

/// Reads ORC files for a scan: the file columns a projection needs, adapted to the
/// table's columns.
#[derive(Clone, Debug)]
pub struct OrcSource {
    table_schema: TableSchema,
    batch_size: Option<usize>,
    projection: SplitProjection,
    metrics: ExecutionPlanMetricsSet,
}

impl OrcSource {
    /// A source reading every column of `table_schema`.
    pub fn new(table_schema: TableSchema) -> Self {
        Self {
            projection: SplitProjection::unprojected(&table_schema),
            table_schema,
            batch_size: None,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The file columns the projection reads, as the table declares them.
    fn projected_file_schema(&self) -> SchemaRef {
        let file_schema = self.table_schema.file_schema();
        if self.projection.file_indices.is_empty() {
            return Arc::clone(file_schema);
        }
        Arc::new(Schema::new(
            self.projection
                .file_indices
                .iter()
                .map(|i| file_schema.field(*i).clone())
                .collect::<Vec<_>>(),
        ))
    }
}

impl FileSource for OrcSource {
    fn create_file_opener(
        &self,
        object_store: Arc<dyn ObjectStore>,
        _base_config: &FileScanConfig,
        _partition: usize,
    ) -> Result<Arc<dyn FileOpener>> {
        let opener = Arc::new(OrcOpener {
            store: object_store,
            schema: self.projected_file_schema(),
            batch_size: self.batch_size.unwrap_or(8192),
        }) as Arc<dyn FileOpener>;
        ProjectionOpener::try_new(
            self.projection.clone(),
            opener,
            self.table_schema.file_schema(),
        )
    }

    fn table_schema(&self) -> &TableSchema {
        &self.table_schema
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        let mut source = self.clone();
        source.batch_size = Some(batch_size);
        Arc::new(source)
    }

    fn try_pushdown_projection(
        &self,
        projection: &ProjectionExprs,
    ) -> Result<Option<Arc<dyn FileSource>>> {
        let mut source = self.clone();
        let merged = self.projection.source.try_merge(projection)?;
        source.projection = SplitProjection::new(self.table_schema.file_schema(), &merged);
        Ok(Some(Arc::new(source)))
    }

    fn projection(&self) -> Option<&ProjectionExprs> {
        Some(&self.projection.source)
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        &self.metrics
    }

    fn file_type(&self) -> &str {
        "orc"
    }

    fn supports_repartitioning(&self) -> bool {
        // One file, one reader: stripes are not split across partitions.
        false
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        crate::datafusion::physical_plan::apply_expression_roots(self.projection.source.iter(), f)
    }
}

/// Opens one ORC file: reads the columns of `schema` present in it (by name) and adapts
/// each batch to `schema` (missing columns null, types cast).
struct OrcOpener {
    store: Arc<dyn ObjectStore>,
    schema: SchemaRef,
    batch_size: usize,
}

impl FileOpener for OrcOpener {
    fn open(
        &self,
        file: crate::datafusion::datasource::listing::PartitionedFile,
    ) -> Result<FileOpenFuture> {
        let reader = StoreReader::new(Arc::clone(&self.store), file.object_meta.clone());
        let schema = Arc::clone(&self.schema);
        let batch_size = self.batch_size;
        let name = file.object_meta.location.to_string();
        Ok(Box::pin(async move {
            let orc_err = move |e: orc_rust::error::OrcError| {
                DataFusionError::Execution(format!("ORC file '{name}': {e}"))
            };
            let builder = ArrowReaderBuilder::try_new_async(reader)
                .await
                .map_err(&orc_err)?;
            let root = builder.file_metadata().root_data_type();
            let wanted: Vec<usize> = root
                .children()
                .iter()
                .filter(|c| schema.field_with_name(c.name()).is_ok())
                .map(|c| c.data_type().column_index())
                .collect();
            let mask = ProjectionMask::roots(root, wanted);
            let reader = builder
                .with_batch_size(batch_size)
                .with_projection(mask)
                .build_async();
            let adapter = BatchAdapterFactory::new(schema).make_adapter(&reader.schema())?;
            Ok(reader
                .map(move |batch| {
                    batch
                        .map_err(|e| DataFusionError::External(Box::new(e)))
                        .and_then(|b| adapter.adapt_batch(&b))
                })
                .boxed())
        }))
    }
}

/// Ranged reads of one object, as `orc-rust` asks for them.
struct StoreReader {
    store: Arc<dyn ObjectStore>,
    file: ObjectMeta,
}

impl StoreReader {
    fn new(store: Arc<dyn ObjectStore>, file: ObjectMeta) -> Self {
        Self { store, file }
    }
}

impl AsyncChunkReader for StoreReader {
    fn len(&mut self) -> BoxFuture<'_, std::io::Result<u64>> {
        if self.file.size > 0 {
            let size = self.file.size;
            return async move { Ok(size) }.boxed();
        }
        self.store
            .get_opts(&self.file.location, GetOptions::default())
            .map(|r| r.map(|x| x.meta.size))
            .map_err(std::io::Error::from)
            .boxed()
    }

    fn get_bytes(
        &mut self,
        offset: u64,
        length: u64,
    ) -> BoxFuture<'_, std::io::Result<bytes::Bytes>> {
        self.store
            .get_range(&self.file.location, offset..offset + length)
            .map_err(std::io::Error::from)
            .boxed()
    }
}
