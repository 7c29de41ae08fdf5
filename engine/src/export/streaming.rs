//! The real-time side: Kinesis streams, Lambda functions with their event source
//! mappings, Firehose delivery streams, and Managed Service for Apache Flink applications
//! for windowed analytics.

use serde_json::{Value, json};

use super::template::{Statement, get_att, reference, role, sub};
use super::{Export, code, lake, pascal};
use crate::error::Result;
use crate::lake::sniff::FileFormat;
use crate::lake::writer::OutputCompression;
use crate::nodes::NodeConfig;
use crate::nodes::analytics::AnalyticsConfig;
use crate::nodes::firehose::FirehoseConfig;
use crate::nodes::lambda::{FunctionSettings, LambdaConfig, LambdaRuntime};
use crate::nodes::start::StartingPosition;
use crate::nodes::stream::{KplAggregation, StreamConfig, StreamMode};
use crate::project::Node;

/// A stream's name in AWS: its `stream_name`, else the node id.
fn stream_name(node: &Node, c: &StreamConfig) -> String {
    if c.stream_name.is_empty() {
        node.id.clone()
    } else {
        c.stream_name.clone()
    }
}

/// A delivery stream's name in AWS: its `delivery_stream_name`, else the node id.
fn delivery_stream_name(node: &Node, c: &FirehoseConfig) -> String {
    if c.delivery_stream_name.is_empty() {
        node.id.clone()
    } else {
        c.delivery_stream_name.clone()
    }
}

/// The actions reading a stream takes (an event source mapping, a Firehose, Flink).
const KINESIS_READ: &[&str] = &[
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
];

/// A Kinesis data stream: provisioned shards or on demand, retention, encryption.
pub(super) fn stream(ex: &mut Export<'_>, node: &Node, c: &StreamConfig) {
    let name = ex.name(&node.id);
    let hours = c.retention_hours.ceil().clamp(24.0, 8760.0) as u64;
    let mut comment = vec![format!("Stream '{}'.", node.id)];
    if c.retention_hours < 24.0 {
        comment.push(format!(
            "Retention: {} h in the designer; Kinesis keeps at least 24 h.",
            c.retention_hours
        ));
    }
    if c.kpl_aggregation == KplAggregation::Deaggregate {
        comment.push(
            "Producers aggregate with the KPL: Firehose de-aggregates; a Lambda must (e.g. \
             aws-kinesis-agg)."
                .to_owned(),
        );
    }
    let mut props = json!({ "Name": stream_name(node, c) });
    match c.stream_mode {
        StreamMode::Provisioned => {
            props["ShardCount"] = json!(c.shards.max(1));
            props["StreamModeDetails"] = json!({"StreamMode": "PROVISIONED"});
        }
        StreamMode::OnDemand => {
            props["StreamModeDetails"] = json!({"StreamMode": "ON_DEMAND"});
        }
    }
    props["RetentionPeriodHours"] = json!(hours);
    props["StreamEncryption"] = json!({"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"});
    let id = format!("{name}Stream");
    ex.template.resource(
        &id,
        &comment,
        json!({"Type": "AWS::Kinesis::Stream", "Properties": props}),
    );
    ex.template.output(
        &id,
        &format!("The stream '{}'", node.id),
        get_att(&id, "Arn"),
    );
}

/// Where a function's returned records go: `firehose:<name>` or `kinesis:<name>:<key>`
/// entries (`Fn::Sub`s), and the statements that allow the puts.
fn forwarding(ex: &mut Export<'_>, node: &Node) -> (Vec<Value>, Vec<Statement>) {
    let mut targets = Vec::new();
    let mut statements = Vec::new();
    for (next, port) in ex.outputs(&node.id, "records") {
        if port != "records" {
            continue;
        }
        let next_name = ex.name(&next.id);
        match &next.config {
            NodeConfig::Firehose(_) => {
                let id = format!("{next_name}DeliveryStream");
                targets.push(sub(&format!("firehose:${{{id}}}")));
                statements.push(Statement::new(
                    &["firehose:PutRecord", "firehose:PutRecordBatch"],
                    vec![get_att(&id, "Arn")],
                ));
            }
            NodeConfig::Stream(s) => {
                let id = format!("{next_name}Stream");
                targets.push(sub(&format!("kinesis:${{{id}}}:{}", s.partition_key)));
                statements.push(Statement::new(
                    &["kinesis:PutRecord", "kinesis:PutRecords"],
                    vec![get_att(&id, "Arn")],
                ));
            }
            _ => {}
        }
    }
    (targets, statements)
}

/// A Python or Node.js function (SAM), its log group and role; returns its logical ID.
/// `forward` lists where its answers go (the generated `tributary_forward` handler puts
/// them there); `statements` are the role's other permissions.
#[allow(clippy::too_many_arguments)]
fn function(
    ex: &mut Export<'_>,
    node: &Node,
    id: &str,
    folder: &str,
    settings: &FunctionSettings,
    forward: Vec<Value>,
    mut statements: Vec<Statement>,
    comment: Vec<String>,
) -> Result<String> {
    let Some(language) = settings.runtime.language() else {
        return Ok(String::new());
    };
    let handler = code::function_code(ex, node, folder, settings, language, !forward.is_empty())?;
    let log_group = format!("{id}Logs");
    let function_name = format!(
        "${{AWS::StackName}}-{folder_name}",
        folder_name = folder.rsplit('/').next().unwrap_or(&node.id)
    );
    ex.template.resource(
        &log_group,
        &[],
        json!({
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": sub(&format!("/aws/lambda/{function_name}")),
                "RetentionInDays": 14,
            },
        }),
    );
    statements.insert(
        0,
        Statement::new(
            &["logs:CreateLogStream", "logs:PutLogEvents"],
            vec![get_att(&log_group, "Arn")],
        ),
    );
    ex.template.resource(
        &format!("{id}Role"),
        &[],
        role("lambda.amazonaws.com", "function", &statements),
    );
    let mut variables = serde_json::Map::new();
    for (k, v) in &settings.environment {
        variables.insert(k.clone(), json!(v));
    }
    if !forward.is_empty() {
        variables.insert("TRIBUTARY_HANDLER".to_owned(), json!(settings.handler));
        variables.insert(
            "TRIBUTARY_FORWARD_TO".to_owned(),
            json!({"Fn::Join": [",", forward]}),
        );
    }
    let mut props = json!({
        "FunctionName": sub(&function_name),
        "CodeUri": format!("{folder}/"),
        "Handler": handler,
        "Runtime": settings.runtime.as_str(),
        "MemorySize": settings.memory_size,
        "Timeout": settings.timeout,
        "Role": get_att(&format!("{id}Role"), "Arn"),
        "LoggingConfig": {"LogGroup": reference(&log_group)},
    });
    if !variables.is_empty() {
        props["Environment"] = json!({ "Variables": variables });
    }
    ex.template.serverless = true;
    ex.template.resource(
        id,
        &comment,
        json!({"Type": "AWS::Serverless::Function", "Properties": props}),
    );
    Ok(id.to_owned())
}

/// A Lambda node: the function and its Kinesis event source mapping (batch size, window,
/// starting position, bisect, retries, record age, parallelization, filters, partial
/// batch responses, on-failure destination), or an S3 notification from a bucket.
pub(super) fn lambda(ex: &mut Export<'_>, node: &Node, c: &LambdaConfig) -> Result<()> {
    if matches!(c.runtime, LambdaRuntime::Sql | LambdaRuntime::Rhai) {
        ex.leave_out(
            node,
            &format!(
                "its {} runs inside Tributary; AWS Lambda runs Python or Node.js code. \
                 Rewrite it as a Python or Node.js handler (same batch, same answer) and \
                 export again",
                if c.runtime == LambdaRuntime::Sql {
                    "SQL"
                } else {
                    "Rhai script"
                }
            ),
        );
        return Ok(());
    }
    let name = ex.name(&node.id);
    let fn_id = format!("{name}Function");
    let inputs = ex.inputs(&node.id, "records");
    let (forward, mut statements) = forwarding(ex, node);
    let mut comment = vec![format!("Lambda '{}' ({}).", node.id, c.runtime.as_str())];
    if !forward.is_empty() {
        comment.push(
            "Its handler's answer goes on as in the designer: tributary_forward puts the \
             records it returns to the nodes after it."
                .to_owned(),
        );
    }
    enum Source<'a> {
        Stream(String),
        Bucket(&'a Node),
        None,
    }
    let source = match inputs.first() {
        Some((n, "records")) if matches!(n.config, NodeConfig::Stream(_)) => {
            Source::Stream(format!("{}Stream", ex.name(&n.id)))
        }
        Some((n, "events")) if matches!(n.config, NodeConfig::Bucket(_)) => Source::Bucket(n),
        Some((n, _)) => {
            comment.push(format!(
                "Fed by '{}', which AWS cannot invoke it from: no event source is exported.",
                n.id
            ));
            Source::None
        }
        None => Source::None,
    };
    let mut consumer = None;
    if let Source::Stream(stream) = &source {
        statements.push(Statement::new(KINESIS_READ, vec![get_att(stream, "Arn")]));
        if c.enhanced_fan_out {
            let id = format!("{name}Consumer");
            ex.template.resource(
                &id,
                &[format!("Enhanced fan-out for '{}'.", node.id)],
                json!({
                    "Type": "AWS::Kinesis::StreamConsumer",
                    "Properties": {"ConsumerName": node.id, "StreamARN": get_att(stream, "Arn")},
                }),
            );
            statements.push(Statement::new(
                &["kinesis:SubscribeToShard", "kinesis:DescribeStreamConsumer"],
                vec![get_att(&id, "ConsumerARN")],
            ));
            consumer = Some(id);
        }
    }
    // Records given up on: the bucket the `failed` Firehose writes to, as an S3 on-failure
    // destination.
    let mut destination = None;
    for (failed, _) in ex.outputs(&node.id, "failed") {
        if let Some(bucket) = ex.bucket_at(&failed.id, "target") {
            let (bucket_arn, objects) = bucket.arns("");
            statements.push(Statement::new(&["s3:ListBucket"], vec![bucket_arn.clone()]));
            statements.push(Statement::new(&["s3:PutObject"], vec![objects]));
            destination = Some(bucket_arn);
            break;
        }
    }
    let folder = format!("lambda/{}", node.id);
    function(
        ex,
        node,
        &fn_id,
        &folder,
        &c.function(),
        forward,
        statements,
        comment,
    )?;
    if c.reserved_concurrent_executions > 0
        && let Some(body) = ex.template.resource_mut(&fn_id)
    {
        body["Properties"]["ReservedConcurrentExecutions"] =
            json!(c.reserved_concurrent_executions);
    }
    match source {
        Source::Stream(stream) => {
            let mut mapping_comment = vec![format!(
                "How '{}' reads its stream (the event source mapping).",
                node.id
            )];
            let mut props = json!({
                "FunctionName": reference(&fn_id),
                "EventSourceArn": match &consumer {
                    Some(id) => get_att(id, "ConsumerARN"),
                    None => get_att(&stream, "Arn"),
                },
                "StartingPosition": match c.starting_position {
                    StartingPosition::Latest => "LATEST",
                    StartingPosition::AtTimestamp => "AT_TIMESTAMP",
                    _ => "TRIM_HORIZON",
                },
                "BatchSize": c.batch_size,
                "MaximumBatchingWindowInSeconds": c.maximum_batching_window_in_seconds.ceil() as u64,
                "ParallelizationFactor": c.parallelization_factor.max(1),
                "BisectBatchOnFunctionError": c.bisect_batch_on_function_error,
                "MaximumRetryAttempts": c.maximum_retry_attempts,
                "MaximumRecordAgeInSeconds": c.maximum_record_age_in_seconds,
            });
            if c.maximum_batching_window_in_seconds.fract() != 0.0 {
                mapping_comment.push(format!(
                    "Batching window: {} s in the designer; AWS takes whole seconds.",
                    c.maximum_batching_window_in_seconds
                ));
            }
            if matches!(
                c.starting_position,
                StartingPosition::AtSequenceNumber | StartingPosition::AfterSequenceNumber
            ) {
                mapping_comment.push(
                    "A mapping starts at TRIM_HORIZON, LATEST or AT_TIMESTAMP; TRIM_HORIZON here."
                        .to_owned(),
                );
            }
            if c.starting_position == StartingPosition::AtTimestamp {
                props["StartingPositionTimestamp"] = json!(c.starting_position_timestamp);
            }
            if !c.function_response_types.is_empty() {
                props["FunctionResponseTypes"] = json!(c.function_response_types);
            }
            if !c.filter_criteria.is_empty() {
                let filters: Vec<Value> = c
                    .filter_criteria
                    .iter()
                    .map(|p| json!({ "Pattern": p }))
                    .collect();
                props["FilterCriteria"] = json!({ "Filters": filters });
            }
            if let Some(arn) = destination {
                props["DestinationConfig"] = json!({"OnFailure": {"Destination": arn}});
            }
            ex.template.resource(
                &format!("{name}Mapping"),
                &mapping_comment,
                json!({
                    "Type": "AWS::Lambda::EventSourceMapping",
                    "DependsOn": [format!("{fn_id}Role")],
                    "Properties": props,
                }),
            );
        }
        Source::Bucket(bucket) => {
            let Some(b) = ex.buckets.get(&bucket.id).cloned() else {
                return Ok(());
            };
            let (bucket_arn, _) = b.arns("");
            let permission = format!("{name}Permission");
            ex.template.resource(
                &permission,
                &[format!(
                    "S3 may invoke '{}' with the events of '{}'.",
                    node.id, bucket.id
                )],
                json!({
                    "Type": "AWS::Lambda::Permission",
                    "Properties": {
                        "Action": "lambda:InvokeFunction",
                        "FunctionName": reference(&fn_id),
                        "Principal": "s3.amazonaws.com",
                        "SourceAccount": reference("AWS::AccountId"),
                        "SourceArn": bucket_arn,
                    },
                }),
            );
            lake::notify(
                ex,
                bucket,
                &node.id,
                "LambdaConfigurations",
                get_att(&fn_id, "Arn"),
                &permission,
            );
        }
        Source::None => {}
    }
    Ok(())
}

/// A Firehose delivery stream into the bucket wired to `target`: from the stream wired
/// to it (KinesisStreamAsSource) or Direct PUT; buffering, compression, prefixes, format
/// conversion through the Glue table, dynamic partitioning, a transformation function.
pub(super) fn firehose(ex: &mut Export<'_>, node: &Node, c: &FirehoseConfig) -> Result<()> {
    let inputs = ex.inputs(&node.id, "records");
    match inputs.first() {
        Some((n, "failed")) if matches!(n.config, NodeConfig::Lambda(_)) => {
            ex.leave_out(
                node,
                &format!(
                    "it delivers the records '{}' gives up on: in AWS its event source mapping \
                     writes them to the bucket itself (an S3 on-failure destination)",
                    n.id
                ),
            );
            return Ok(());
        }
        Some((n, "failed")) => {
            let why = format!(
                "it delivers the records '{}' refused for their columns, which AWS does not check",
                n.id
            );
            ex.leave_out(node, &why);
            return Ok(());
        }
        _ => {}
    }
    let Some(target) = ex.bucket_at(&node.id, "target") else {
        ex.leave_out(node, "no bucket is wired to its target");
        return Ok(());
    };
    let name = ex.name(&node.id);
    let id = format!("{name}DeliveryStream");
    let mut comment = vec![format!("Firehose '{}'.", node.id)];
    let (bucket_arn, objects) = target.arns("");
    let mut statements = vec![
        Statement::new(
            &[
                "s3:AbortMultipartUpload",
                "s3:GetBucketLocation",
                "s3:ListBucket",
                "s3:ListBucketMultipartUploads",
            ],
            vec![bucket_arn.clone()],
        ),
        Statement::new(
            &["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
            vec![objects],
        ),
    ];
    let mut props = serde_json::Map::new();
    props.insert(
        "DeliveryStreamName".to_owned(),
        json!(delivery_stream_name(node, c)),
    );
    let stream_source = match inputs.as_slice() {
        [(n, "records")] if matches!(n.config, NodeConfig::Stream(_)) => {
            Some(format!("{}Stream", ex.name(&n.id)))
        }
        _ => None,
    };
    match &stream_source {
        Some(stream) => {
            props.insert(
                "DeliveryStreamType".to_owned(),
                json!("KinesisStreamAsSource"),
            );
            props.insert(
                "KinesisStreamSourceConfiguration".to_owned(),
                json!({"KinesisStreamARN": get_att(stream, "Arn"), "RoleARN": get_att(&format!("{id}Role"), "Arn")}),
            );
            statements.push(Statement::new(KINESIS_READ, vec![get_att(stream, "Arn")]));
            if c.starting_position != StartingPosition::TrimHorizon {
                comment.push("A Firehose reads its stream from TRIM_HORIZON; the designer's starting position is not exported.".to_owned());
            }
        }
        None => {
            props.insert("DeliveryStreamType".to_owned(), json!("DirectPut"));
            for (n, _) in &inputs {
                comment.push(format!("Fed by '{}' through PutRecordBatch.", n.id));
            }
        }
    }
    let prefix = format!("{}{}", target.prefix, c.prefix);
    let error_prefix = format!("{}{}", target.prefix, c.error_prefix);
    let convert = matches!(c.format, FileFormat::Parquet | FileFormat::Orc);
    let partitioned = !c.partition_fields.is_empty() || !c.metadata_extraction_query.is_empty();
    let mut size = c.buffer_mb.round().clamp(1.0, 128.0) as u64;
    if (convert || partitioned) && size < 64 {
        comment.push(format!(
            "Buffer: {} MB in the designer; format conversion and dynamic partitioning need at least 64 MB.",
            c.buffer_mb
        ));
        size = 64;
    }
    let mut dest = json!({
        "BucketARN": bucket_arn,
        "RoleARN": get_att(&format!("{id}Role"), "Arn"),
        "BufferingHints": {
            "IntervalInSeconds": (c.buffer_interval_ms / 1000).min(900),
            "SizeInMBs": size,
        },
    });
    if !prefix.is_empty() {
        dest["Prefix"] = json!(prefix);
    }
    if !error_prefix.is_empty() {
        dest["ErrorOutputPrefix"] = json!(error_prefix);
    }
    let compression = match (convert, c.compression) {
        (true, _) | (false, OutputCompression::None) => "UNCOMPRESSED",
        (false, OutputCompression::Gzip) => "GZIP",
        (false, OutputCompression::Snappy) => "Snappy",
        (false, OutputCompression::Zstd) => {
            comment.push("zstd: Firehose does not write it; objects are uncompressed.".to_owned());
            "UNCOMPRESSED"
        }
    };
    dest["CompressionFormat"] = json!(compression);
    if matches!(c.format, FileFormat::Csv | FileFormat::Avro) {
        comment.push(format!(
            "Format {}: Firehose converts only to Parquet or ORC; it delivers JSON here.",
            c.format.as_str()
        ));
    }
    // The Glue table a conversion reads, created before the delivery stream.
    let mut depends = None;
    if convert {
        if c.table.is_empty() {
            comment.push(
                "Parquet/ORC need the Glue table of the records' schema: set the node's table."
                    .to_owned(),
            );
        } else {
            let db = ex.database(&c.database);
            let table_id = glue_table(ex, node, c, &target, &db);
            let serializer = match c.format {
                FileFormat::Orc => json!({"OrcSerDe": {"Compression": match c.compression {
                    OutputCompression::Snappy => "SNAPPY",
                    OutputCompression::None => "NONE",
                    _ => "ZLIB",
                }}}),
                _ => json!({"ParquetSerDe": {"Compression": match c.compression {
                    OutputCompression::Gzip => "GZIP",
                    OutputCompression::None => "UNCOMPRESSED",
                    _ => "SNAPPY",
                }}}),
            };
            dest["DataFormatConversionConfiguration"] = json!({
                "Enabled": true,
                "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
                "OutputFormatConfiguration": {"Serializer": serializer},
                "SchemaConfiguration": {
                    "CatalogId": reference("AWS::AccountId"),
                    "DatabaseName": reference(&db),
                    "TableName": c.table,
                    "Region": reference("AWS::Region"),
                    "RoleARN": get_att(&format!("{id}Role"), "Arn"),
                    "VersionId": "LATEST",
                },
            });
            let mut glue = lake::catalog_arns(&db);
            glue.truncate(2);
            glue.push(sub(&format!(
                "arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:table/${{{db}}}/{}",
                c.table
            )));
            statements.push(Statement::new(
                &[
                    "glue:GetTable",
                    "glue:GetTableVersion",
                    "glue:GetTableVersions",
                ],
                glue,
            ));
            depends = table_id;
        }
    } else if !c.table.is_empty() {
        let db = ex.database(&c.database);
        glue_table(ex, node, c, &target, &db);
    }
    let mut processors = Vec::new();
    if partitioned {
        let query = if c.metadata_extraction_query.is_empty() {
            let fields: Vec<String> = c
                .partition_fields
                .iter()
                .map(|f| format!("{f}: .{f}"))
                .collect();
            format!("{{{}}}", fields.join(", "))
        } else {
            c.metadata_extraction_query.clone()
        };
        processors.push(json!({
            "Type": "MetadataExtraction",
            "Parameters": [
                {"ParameterName": "MetadataExtractionQuery", "ParameterValue": query},
                {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"},
            ],
        }));
        if !convert {
            processors.push(json!({
                "Type": "AppendDelimiterToRecord",
                "Parameters": [{"ParameterName": "Delimiter", "ParameterValue": "\\n"}],
            }));
        }
        dest["DynamicPartitioningConfiguration"] =
            json!({"Enabled": true, "RetryOptions": {"DurationInSeconds": 300}});
    }
    if let Some(p) = &c.processor {
        let fn_id = format!("{name}Transform");
        let folder = format!("lambda/{}-transform", node.id);
        let settings = p.function();
        function(
            ex,
            node,
            &fn_id,
            &folder,
            &settings,
            Vec::new(),
            Vec::new(),
            vec![format!(
                "The transformation function of Firehose '{}'.",
                node.id
            )],
        )?;
        if ex.template.has(&fn_id) {
            processors.push(json!({
                "Type": "Lambda",
                "Parameters": [
                    {"ParameterName": "LambdaArn", "ParameterValue": get_att(&fn_id, "Arn")},
                    {"ParameterName": "NumberOfRetries", "ParameterValue": p.number_of_retries.to_string()},
                ],
            }));
            statements.push(Statement::new(
                &["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"],
                vec![get_att(&fn_id, "Arn")],
            ));
        }
    }
    if !c.transform_sql.is_empty() {
        comment.push(
            "Its SQL transform runs inside Tributary; in AWS use a transformation function."
                .to_owned(),
        );
    }
    if !processors.is_empty() {
        dest["ProcessingConfiguration"] = json!({"Enabled": true, "Processors": processors});
    }
    props.insert("ExtendedS3DestinationConfiguration".to_owned(), dest);
    ex.template.resource(
        &format!("{id}Role"),
        &[],
        role("firehose.amazonaws.com", "delivery", &statements),
    );
    let mut body = json!({"Type": "AWS::KinesisFirehose::DeliveryStream", "Properties": props});
    if let Some(d) = depends {
        body["DependsOn"] = json!([d]);
    }
    ex.template.resource(&id, &comment, body);
    ex.template.output(
        &id,
        &format!("The delivery stream '{}'", node.id),
        reference(&id),
    );
    Ok(())
}

/// The Glue table a Firehose's records are described by (for format conversion and
/// queries), when its columns follow from the settings; returns its logical ID.
fn glue_table(
    ex: &mut Export<'_>,
    node: &Node,
    c: &FirehoseConfig,
    target: &super::BucketRef,
    db: &str,
) -> Option<String> {
    let schema = if c.columns.is_empty() {
        let (from, port) = ex
            .inputs(&node.id, "records")
            .first()
            .map(|(n, p)| (n.id.clone(), p.to_string()))?;
        ex.columns(&from, &port)
    } else {
        crate::stream::records::parse_columns(&c.columns)
            .ok()
            .map(|f| std::sync::Arc::new(crate::arrow::datatypes::Schema::new(f)))
    };
    let Some(schema) = schema else {
        ex.notes.push(format!(
            "'{}': the columns of its table '{}' are not known without a run; create the \
             Glue table (or run a crawler) before the first delivery",
            node.id, c.table
        ));
        return None;
    };
    let id = format!("{}Table", ex.name(&node.id));
    let columns: Vec<Value> = schema
        .fields()
        .iter()
        .map(|f| json!({"Name": f.name(), "Type": crate::lake::glue_types::glue_type(f.data_type())}))
        .collect();
    let base = format!(
        "{}{}",
        target.prefix,
        c.prefix.split("!{").next().unwrap_or("")
    );
    let (input, output, serde) = match c.format {
        FileFormat::Parquet => (
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        ),
        FileFormat::Orc => (
            "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat",
            "org.apache.hadoop.hive.ql.io.orc.OrcOutputFormat",
            "org.apache.hadoop.hive.ql.io.orc.OrcSerde",
        ),
        _ => (
            "org.apache.hadoop.mapred.TextInputFormat",
            "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "org.openx.data.jsonserde.JsonSerDe",
        ),
    };
    ex.template.resource(
        &id,
        &[format!(
            "The table '{}' of Firehose '{}' (its records' columns).",
            c.table, node.id
        )],
        json!({
            "Type": "AWS::Glue::Table",
            "DependsOn": [format!("{}Database", pascal(&c.database))],
            "Properties": {
                "CatalogId": reference("AWS::AccountId"),
                "DatabaseName": reference(db),
                "TableInput": {
                    "Name": c.table,
                    "TableType": "EXTERNAL_TABLE",
                    "Parameters": {"classification": match c.format {
                        FileFormat::Parquet => "parquet",
                        FileFormat::Orc => "orc",
                        _ => "json",
                    }},
                    "StorageDescriptor": {
                        "Columns": columns,
                        "Location": target.url(base.trim_start_matches(&target.prefix)),
                        "InputFormat": input,
                        "OutputFormat": output,
                        "SerdeInfo": {"SerializationLibrary": serde},
                    },
                },
            },
        }),
    );
    Some(id)
}

/// An analytics node: a Managed Service for Apache Flink application running Flink SQL
/// (the node's window and SQL) over the stream wired to it.
pub(super) fn analytics(ex: &mut Export<'_>, node: &Node, c: &AnalyticsConfig) {
    let stream = match ex.inputs(&node.id, "records").first() {
        Some((n, "records")) if matches!(n.config, NodeConfig::Stream(_)) => (*n).clone(),
        _ => {
            ex.leave_out(
                node,
                "Flink reads a Kinesis stream; this node is not fed by a stream node",
            );
            return;
        }
    };
    let NodeConfig::Stream(sc) = &stream.config else {
        return;
    };
    let Some(schema) = ex.columns(&stream.id, "records") else {
        ex.leave_out(
            node,
            &format!(
                "the columns of '{}' are not known without a run: declare the stream's columns",
                stream.id
            ),
        );
        return;
    };
    let flink = match code::flink_sql(c, &stream_name(&stream, sc), &schema) {
        Ok(sql) => sql,
        Err(why) => {
            ex.leave_out(node, &why);
            return;
        }
    };
    let name = ex.name(&node.id);
    let stream_id = format!("{}Stream", ex.name(&stream.id));
    let folder = format!("flink/{}", node.id);
    ex.file(&format!("{folder}/main.sql"), flink);
    ex.file(&format!("{folder}/main.py"), code::flink_main(&node.id));
    let key = format!("flink/{}.zip", node.id);
    let artifacts = ex.artifacts();
    let statements = vec![
        Statement::new(
            &["s3:GetObject", "s3:GetObjectVersion"],
            vec![sub(&format!(
                "arn:${{AWS::Partition}}:s3:::${{{artifacts}}}/{key}"
            ))],
        ),
        Statement::new(KINESIS_READ, vec![get_att(&stream_id, "Arn")]),
    ];
    ex.template.resource(
        &format!("{name}Role"),
        &[],
        role("kinesisanalytics.amazonaws.com", "application", &statements),
    );
    ex.template.resource(
        &format!("{name}Application"),
        &[format!(
            "Analytics '{}': Flink SQL in {folder}/main.sql, packaged as README.md says.",
            node.id
        )],
        json!({
            "Type": "AWS::KinesisAnalyticsV2::Application",
            "Properties": {
                "ApplicationName": sub(&format!("${{AWS::StackName}}-{}", node.id)),
                "RuntimeEnvironment": "FLINK-1_20",
                "ServiceExecutionRole": get_att(&format!("{name}Role"), "Arn"),
                "ApplicationConfiguration": {
                    "ApplicationCodeConfiguration": {
                        "CodeContentType": "ZIPFILE",
                        "CodeContent": {"S3ContentLocation": {
                            "BucketARN": sub(&format!("arn:${{AWS::Partition}}:s3:::${{{artifacts}}}")),
                            "FileKey": key,
                        }},
                    },
                    "EnvironmentProperties": {"PropertyGroups": [
                        {
                            "PropertyGroupId": "kinesis.analytics.flink.run.options",
                            "PropertyMap": {"python": "main.py", "jarfile": code::FLINK_CONNECTOR_JAR},
                        },
                        {
                            "PropertyGroupId": "tributary",
                            "PropertyMap": {
                                "source_stream": reference(&stream_id),
                                "region": reference("AWS::Region"),
                            },
                        },
                    ]},
                    "FlinkApplicationConfiguration": {
                        "ParallelismConfiguration": {
                            "ConfigurationType": "CUSTOM",
                            "Parallelism": 1,
                            "ParallelismPerKPU": 1,
                            "AutoScalingEnabled": true,
                        },
                    },
                },
            },
        }),
    );
}
