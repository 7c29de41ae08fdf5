//! A partitioned catalog table as Athena reads it: the partitions registered in the
//! catalog are the table's data, whatever else lies in its folder.
//!
//! A partition is a list of values (one per partition key) and a folder, which need not
//! be named `key=value` (Firehose writes `YYYY/MM/dd/HH/`, which a crawl registers as
//! `partition_0` … `partition_3`). A scan evaluates the filters on partition keys
//! against the partition list, lists only the folders of the partitions that pass, and
//! gives each file its partition's values, so a filter on the hour reads only that hour's
//! files. Files of unregistered folders are not read, as in Athena; a table with keys and
//! no partitions says so in the query's notes.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{StreamExt as _, TryStreamExt as _};

use super::provider::ScanHooks;
use crate::arrow::array::{Array as _, ArrayRef, AsArray as _, RecordBatch};
use crate::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use crate::datafusion::catalog::{Session, TableProvider};
use crate::datafusion::common::{DFSchema, DataFusionError, ScalarValue};
use crate::datafusion::datasource::file_format::FileFormat as DfFileFormat;
use crate::datafusion::datasource::listing::helpers::expr_applicable_for_cols;
use crate::datafusion::datasource::listing::{ListingTableUrl, PartitionedFile};
use crate::datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use crate::datafusion::datasource::table_schema::TableSchema;
use crate::datafusion::execution::object_store::ObjectStoreUrl;
use crate::datafusion::logical_expr::utils::conjunction;
use crate::datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use crate::datafusion::physical_plan::ExecutionPlan;
use crate::datafusion::physical_plan::empty::EmptyExec;

/// Partition folders listed at once (each one a LIST request on S3).
const LIST_CONCURRENCY: usize = 16;

/// One registered partition: its values as written, and its folder.
#[derive(Clone, Debug)]
pub struct PartitionSpec {
    /// One value per partition key, as text.
    pub values: Vec<String>,
    /// The partition's folder, resolved (absolute path or URL), ending in `/`.
    pub location: String,
}

/// A partitioned table whose registered partitions are its data.
#[derive(Debug)]
pub struct PartitionedTable {
    /// `db.table`.
    pub(super) qualified: String,
    /// The table folder (files are named relative to it), resolved.
    pub(super) root: ListingTableUrl,
    /// The files' columns.
    pub(super) file_schema: SchemaRef,
    /// The partition keys, after the file columns.
    pub(super) partition_fields: Vec<FieldRef>,
    /// The registered partitions.
    pub(super) partitions: Vec<PartitionSpec>,
    /// With partition projection on: how partitions are computed instead (or why the
    /// table's projection properties cannot be used).
    pub(super) projection: Option<Result<super::projection::Projection, String>>,
    /// How the files are read.
    pub(super) format: Arc<dyn DfFileFormat>,
    /// The extension the table's files share.
    pub(super) extension: String,
    /// Scan log and file filter.
    pub(super) hooks: ScanHooks,
    /// Files (relative to the table folder) the crawler could not use.
    pub(super) excluded: BTreeSet<String>,
}

impl PartitionedTable {
    fn partition_names(&self) -> Vec<&str> {
        self.partition_fields
            .iter()
            .map(|f| f.name().as_str())
            .collect()
    }

    fn fail(&self, what: impl std::fmt::Display) -> DataFusionError {
        DataFusionError::Plan(format!("table '{}': {what}", self.qualified))
    }

    /// The partitions' values typed as their keys, one row per partition.
    fn typed_values(
        &self,
        partitions: &[PartitionSpec],
    ) -> Result<Vec<Vec<ScalarValue>>, DataFusionError> {
        partitions
            .iter()
            .map(|p| {
                if p.values.len() != self.partition_fields.len() {
                    return Err(self.fail(format!(
                        "partition at {} has {} value(s) for {} partition key(s)",
                        p.location,
                        p.values.len(),
                        self.partition_fields.len()
                    )));
                }
                p.values
                    .iter()
                    .zip(&self.partition_fields)
                    .map(|(v, f)| {
                        ScalarValue::try_from_string(v.clone(), f.data_type()).map_err(|_| {
                            self.fail(format!(
                                "partition value '{v}' of key '{}' (at {}) is not a {}; fix the partition (ALTER TABLE … DROP PARTITION) or the key's type",
                                f.name(),
                                p.location,
                                super::glue_types::glue_type(f.data_type())
                            ))
                        })
                    })
                    .collect()
            })
            .collect()
    }

    /// Indexes of the partitions the filters keep.
    fn prune(
        &self,
        state: &dyn Session,
        values: &[Vec<ScalarValue>],
        filters: &[Expr],
    ) -> Result<Vec<usize>, DataFusionError> {
        let Some(filter) = conjunction(filters.iter().cloned()) else {
            return Ok((0..values.len()).collect());
        };
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let schema = Arc::new(Schema::new(
            self.partition_fields
                .iter()
                .map(|f| f.as_ref().clone())
                .collect::<Vec<Field>>(),
        ));
        let columns = (0..self.partition_fields.len())
            .map(|k| ScalarValue::iter_to_array(values.iter().map(|row| row[k].clone())))
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        let df_schema = DFSchema::try_from(schema)?;
        let expr = state.create_physical_expr(filter, &df_schema)?;
        let result = expr.evaluate(&batch)?.into_array(batch.num_rows())?;
        let keep = result
            .as_boolean_opt()
            .ok_or_else(|| self.fail("a filter on partition keys is not a true/false condition"))?;
        Ok((0..keep.len())
            .filter(|&i| keep.is_valid(i) && keep.value(i))
            .collect())
    }

    /// The data files of one partition, with its values, as the scan reads them.
    async fn list_partition(
        &self,
        store: &Arc<dyn object_store::ObjectStore>,
        spec: &PartitionSpec,
        values: &[ScalarValue],
    ) -> Result<Vec<PartitionedFile>, DataFusionError> {
        let url = ListingTableUrl::parse(&spec.location)
            .map_err(|e| self.fail(format!("partition location '{}': {e}", spec.location)))?;
        if url.object_store() != self.root.object_store() {
            return Err(self.fail(format!(
                "partition location '{}' is in another store than the table ({})",
                spec.location,
                self.root.object_store().as_str()
            )));
        }
        let metas: Vec<object_store::ObjectMeta> = store
            .list(Some(url.prefix()))
            .try_collect()
            .await
            .or_else(|e| match e {
                object_store::Error::NotFound { .. } => Ok(Vec::new()),
                e => Err(self.fail(format!("listing partition '{}': {e}", spec.location))),
            })?;
        let root = self.root.prefix().as_ref();
        let mut files = Vec::new();
        for meta in metas {
            let loc = meta.location.to_string();
            if !loc.ends_with(&self.extension) {
                continue;
            }
            let below_table = loc
                .strip_prefix(root)
                .map(|r| r.trim_start_matches('/'))
                .unwrap_or(&loc);
            let below_partition = loc
                .strip_prefix(url.prefix().as_ref())
                .map(|r| r.trim_start_matches('/'))
                .unwrap_or(&loc);
            let keep =
                !super::bucket::is_hidden_key(below_partition)
                    && !self.excluded.contains(below_table)
                    && self.hooks.filter.as_ref().is_none_or(|keep| {
                        keep(&self.qualified, &loc, meta.size, meta.last_modified)
                    });
            if keep {
                let mut file: PartitionedFile = meta.into();
                file.partition_values = values.to_vec();
                files.push(file);
            }
        }
        Ok(files)
    }
}

#[async_trait]
impl TableProvider for PartitionedTable {
    fn schema(&self) -> SchemaRef {
        let mut fields: Vec<FieldRef> = self.file_schema.fields().iter().cloned().collect();
        fields.extend(self.partition_fields.iter().cloned());
        Arc::new(Schema::new(fields))
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>, DataFusionError> {
        let names = self.partition_names();
        Ok(filters
            .iter()
            .map(|f| {
                if expr_applicable_for_cols(&names, f) {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>, DataFusionError> {
        self.hooks.note_excluded(&self.qualified, &self.excluded);
        let names = self.partition_names();
        let on_keys: Vec<Expr> = filters
            .iter()
            .filter(|f| expr_applicable_for_cols(&names, f))
            .cloned()
            .collect();
        let projected;
        let partitions = match &self.projection {
            None => &self.partitions,
            Some(Err(e)) => return Err(self.fail(e)),
            Some(Ok(p)) => {
                projected = p
                    .partitions(self.root.as_str(), &on_keys, chrono::Utc::now())
                    .map_err(|e| self.fail(e))?;
                &projected
            }
        };
        if partitions.is_empty() && self.projection.is_none() {
            self.hooks.note(format!(
                "table '{}' is partitioned by {} and has no partitions registered, so it reads no files; register them with MSCK REPAIR TABLE {}, a crawl, or ALTER TABLE … ADD PARTITION",
                self.qualified,
                names.join(", "),
                self.qualified
            ));
        }
        let values = self.typed_values(partitions)?;
        let kept = self.prune(state, &values, &on_keys)?;
        self.hooks
            .partitions_read
            .fetch_add(kept.len() as u64, std::sync::atomic::Ordering::Relaxed);
        let store_url: ObjectStoreUrl = self.root.object_store();
        let store = state.runtime_env().object_store(&store_url)?;
        let store = &store;
        let values = &values;
        let jobs: Vec<_> = kept
            .into_iter()
            .map(|i| self.list_partition(store, &partitions[i], &values[i]))
            .collect();
        let lists: Vec<Vec<PartitionedFile>> = futures::stream::iter(jobs)
            .buffered(LIST_CONCURRENCY)
            .try_collect()
            .await?;
        let files: Vec<PartitionedFile> = lists.into_iter().flatten().collect();
        self.hooks
            .log_scanned(&self.qualified, files.iter().map(|f| &f.object_meta));
        let table_schema = TableSchema::builder(self.file_schema.clone())
            .with_table_partition_cols(self.partition_fields.clone())
            .build();
        if files.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.schema().project(p)?),
                None => self.schema(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        let groups = FileGroup::new(files).split_files(state.config().target_partitions().max(1));
        let source = self.format.file_source(table_schema);
        let config = FileScanConfigBuilder::new(store_url, source)
            .with_file_groups(groups)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        self.format.create_physical_plan(state, config).await
    }
}

/// The field of a partition key: its type, never null (a folder always names a value).
pub fn partition_field(name: &str, data_type: DataType) -> FieldRef {
    Arc::new(Field::new(name, data_type, false))
}
