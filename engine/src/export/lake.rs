//! The batch side: S3 buckets (with event notifications), Glue databases, crawlers, Glue
//! jobs, Athena (a workgroup, named queries) and EMR Serverless.

use serde_json::{Value, json};

use super::template::{Statement, get_att, reference, role, sub};
use super::{BucketRef, Export, code, node_file, pascal, slug};
use crate::lake::catalog::DEFAULT_DATABASE;
use crate::lake::crawler::{DeleteBehavior, RecrawlBehavior, SchemaChangePolicy, TableGrouping};
use crate::lake::sniff::FileFormat;
use crate::nodes::NodeConfig;
use crate::nodes::crawler::CrawlerConfig;
use crate::nodes::emr_job::EmrJobConfig;
use crate::nodes::etl::EtlConfig;
use crate::nodes::query::QueryConfig;
use crate::project::Node;

/// One S3 bucket per bucket folder (nodes over the same folder share it, each with its
/// prefix); a bucket given as `s3://name/…` exists already and is only named.
pub(super) fn buckets(ex: &mut Export<'_>) {
    let project_slug = slug(&ex.project.name, '-');
    // The parameter of each bucket, by folder (or `s3://name`).
    let mut params: Vec<(String, String)> = Vec::new();
    for node in &ex.project.nodes {
        let NodeConfig::Bucket(c) = &node.config else {
            continue;
        };
        let path = c.path.trim().trim_end_matches('/').to_owned();
        // An existing bucket: its name and the key prefix of the path.
        let existing = path.strip_prefix("s3://").map(|rest| {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            (bucket.to_owned(), key.to_owned())
        });
        let parts = [
            existing.as_ref().map(|(_, key)| key.as_str()).unwrap_or(""),
            c.prefix.as_str(),
        ];
        let mut prefix: String = parts
            .iter()
            .map(|p| p.trim_matches('/'))
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("/");
        if !prefix.is_empty() {
            prefix.push('/');
        }
        let group = match &existing {
            Some((b, _)) => format!("s3://{b}"),
            None => path.clone(),
        };
        let param = match params.iter().find(|(g, _)| *g == group) {
            Some((_, param)) => param.clone(),
            None => {
                let stem = match &existing {
                    Some((b, _)) => pascal(b),
                    None => pascal(
                        &std::path::Path::new(&path)
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_else(|| node.id.clone()),
                    ),
                };
                let mut param = format!("{stem}BucketName");
                while params.iter().any(|(_, p)| *p == param) {
                    param = format!("{stem}{}BucketName", params.len() + 1);
                }
                match &existing {
                    Some((b, _)) => ex.template.parameter(
                        &param,
                        bucket_name_parameter(
                            Some(b),
                            &format!("The existing bucket '{b}' (node '{}')", node.id),
                        ),
                    ),
                    None => {
                        let default = if c.bucket_name.is_empty() {
                            let folder = slug(&path, '-');
                            let folder = folder.rsplit('-').next().unwrap_or("lake");
                            let mut n = format!("{project_slug}-{folder}");
                            n.truncate(63);
                            n.trim_end_matches('-').to_owned()
                        } else {
                            c.bucket_name.clone()
                        };
                        ex.template.parameter(
                            &param,
                            bucket_name_parameter(
                                Some(&default),
                                &format!(
                                    "A globally unique name for the bucket of the folder '{path}' (node '{}')",
                                    node.id
                                ),
                            ),
                        );
                        let id = param.trim_end_matches("Name").to_owned();
                        let mut body = json!({
                            "Type": "AWS::S3::Bucket",
                            "DeletionPolicy": "Retain",
                            "UpdateReplacePolicy": "Retain",
                        });
                        body["Properties"] = private_bucket(&param);
                        ex.template.resource(
                            &id,
                            &[format!(
                                "The bucket of the folder '{path}' (node '{}').",
                                node.id
                            )],
                            body,
                        );
                        ex.template.output(
                            &id,
                            &format!("The bucket of the folder '{path}'"),
                            reference(&id),
                        );
                    }
                }
                params.push((group, param.clone()));
                param
            }
        };
        let resource = existing
            .is_none()
            .then(|| param.trim_end_matches("Name").to_owned());
        ex.buckets.insert(
            node.id.clone(),
            BucketRef {
                param,
                resource,
                prefix,
            },
        );
    }
}

/// A parameter holding a bucket's name.
pub(super) fn bucket_name_parameter(default: Option<&str>, description: &str) -> Value {
    let mut p = json!({"Type": "String"});
    if let Some(d) = default {
        p["Default"] = json!(d);
    }
    p["Description"] = json!(description);
    p["AllowedPattern"] = json!("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$");
    p
}

/// The properties of a bucket named by `param`: encrypted (SSE-S3), public access
/// blocked.
fn private_bucket(param: &str) -> Value {
    json!({
        "BucketName": reference(param),
        "BucketEncryption": {
            "ServerSideEncryptionConfiguration": [{
                "ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
            }],
        },
        "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": true,
            "BlockPublicPolicy": true,
            "IgnorePublicAcls": true,
            "RestrictPublicBuckets": true,
        },
    })
}

/// Adds an S3 event notification of bucket node `bucket` to the bucket resource:
/// `kind` is `LambdaConfigurations` or `QueueConfigurations`, `target` the function or
/// queue ARN of `reader`'s resource, `depends` the resource that must exist first (the permission or policy).
pub(super) fn notify(
    ex: &mut Export<'_>,
    bucket: &Node,
    reader: &str,
    kind: &str,
    target: Value,
    depends: &str,
) {
    let NodeConfig::Bucket(c) = &bucket.config else {
        return;
    };
    let Some(b) = ex.buckets.get(&bucket.id).cloned() else {
        return;
    };
    let Some(resource) = b.resource.clone() else {
        ex.notes.push(format!(
            "'{}' is an existing bucket: add its event notification yourself (the template \
             cannot change a bucket it does not create)",
            bucket.id
        ));
        return;
    };
    let mut rules = Vec::new();
    let prefix = format!("{}{}", b.prefix, c.notification_prefix);
    if !prefix.is_empty() {
        rules.push(json!({"Name": "prefix", "Value": prefix}));
    }
    if !c.notification_suffix.is_empty() {
        rules.push(json!({"Name": "suffix", "Value": c.notification_suffix}));
    }
    let target_key = if kind == "LambdaConfigurations" {
        "Function"
    } else {
        "Queue"
    };
    let mut entry = json!({ "Event": c.notification_event.as_str() });
    if !rules.is_empty() {
        entry["Filter"] = json!({"S3Key": {"Rules": rules}});
    }
    entry[target_key] = target;
    let Some(body) = ex.template.resource_mut(&resource) else {
        return;
    };
    // S3 refuses two destinations for the same events of overlapping keys: the first
    // reader of a bucket node's events gets them.
    let config = &body["Properties"]["NotificationConfiguration"];
    let taken = ["LambdaConfigurations", "QueueConfigurations"]
        .iter()
        .any(|k| {
            config[*k].as_array().is_some_and(|items| {
                items
                    .iter()
                    .any(|i| i["Event"] == entry["Event"] && i["Filter"] == entry["Filter"])
            })
        });
    if taken {
        ex.notes.push(format!(
            "'{}' sends its events to one reader only in AWS (S3 refuses two destinations \
             for the same events and keys): '{reader}' does not get them; fan them out \
             with SNS or EventBridge",
            bucket.id
        ));
        return;
    }
    let deps = body
        .as_object_mut()
        .map(|m| m.entry("DependsOn").or_insert_with(|| json!([])));
    if let Some(Value::Array(d)) = deps {
        d.push(json!(depends));
    }
    let config = &mut body["Properties"]["NotificationConfiguration"];
    if config.is_null() {
        *config = json!({});
    }
    let list = &mut config[kind];
    if list.is_null() {
        *list = json!([]);
    }
    if let Value::Array(items) = list {
        items.push(entry);
    }
}

/// One Glue database per database name the project uses. `default` exists in every
/// account's catalog, so the project's `default` is deployed under the project's name.
pub(super) fn databases(ex: &mut Export<'_>) {
    let mut names = std::collections::BTreeSet::new();
    for node in &ex.project.nodes {
        match &node.config {
            NodeConfig::Crawler(c) => {
                names.insert(c.database.clone());
            }
            NodeConfig::Etl(c) => {
                // Its SQL reads unqualified tables in `default`.
                names.insert(c.database.clone());
                names.insert(DEFAULT_DATABASE.to_owned());
            }
            NodeConfig::Firehose(c) if !c.table.is_empty() => {
                names.insert(c.database.clone());
            }
            NodeConfig::EmrJob(c) => {
                names.insert(DEFAULT_DATABASE.to_owned());
                names.extend(
                    c.steps
                        .iter()
                        .filter_map(|s| s.write.as_ref())
                        .map(|w| w.database.clone()),
                );
            }
            NodeConfig::Query(_) => {
                names.insert(DEFAULT_DATABASE.to_owned());
            }
            _ => {}
        }
    }
    let project_db = slug(&ex.project.name, '_');
    for name in names {
        let param = format!("{}DatabaseName", pascal(&name));
        let deployed = if name == DEFAULT_DATABASE {
            if project_db.is_empty() {
                "tributary".to_owned()
            } else {
                project_db.clone()
            }
        } else {
            name.clone()
        };
        ex.template.parameter(
            &param,
            json!({
                "Type": "String",
                "Default": deployed,
                "Description": format!("The Glue database of the project's database '{name}'"),
                "AllowedPattern": "^[a-z0-9_]{1,255}$",
            }),
        );
        let id = format!("{}Database", pascal(&name));
        ex.template.resource(
            &id,
            &[format!("The catalog's database '{name}'.")],
            json!({
                "Type": "AWS::Glue::Database",
                "Properties": {
                    "CatalogId": reference("AWS::AccountId"),
                    "DatabaseInput": {
                        "Name": reference(&param),
                        "Description": format!("Tributary project '{}': database '{name}'", ex.project.name),
                    },
                },
            }),
        );
        ex.databases.insert(name, param);
    }
}

/// The Glue Data Catalog ARNs a role needs to read and change tables of `db_param`.
pub(super) fn catalog_arns(db_param: &str) -> Vec<Value> {
    vec![
        sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog"),
        sub(&format!(
            "arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:database/${{{db_param}}}"
        )),
        sub(&format!(
            "arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:table/${{{db_param}}}/*"
        )),
    ]
}

const GLUE_TABLE_WRITE: &[&str] = &[
    "glue:GetDatabase",
    "glue:GetTable",
    "glue:GetTables",
    "glue:CreateTable",
    "glue:UpdateTable",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:BatchGetPartition",
    "glue:CreatePartition",
    "glue:BatchCreatePartition",
    "glue:UpdatePartition",
    "glue:BatchUpdatePartition",
];

/// Reading the objects of buckets.
fn read_buckets(buckets: &[BucketRef]) -> Vec<Statement> {
    let mut list = Vec::new();
    let mut get = Vec::new();
    for b in buckets {
        let (bucket, objects) = b.arns("");
        if !list.contains(&bucket) {
            list.push(bucket);
        }
        get.push(objects);
    }
    vec![
        Statement::new(&["s3:ListBucket"], list),
        Statement::new(&["s3:GetObject"], get),
    ]
}

/// Writing objects under `rest` of a bucket.
fn write_bucket(b: &BucketRef, rest: &str) -> Vec<Statement> {
    let (bucket, objects) = b.arns(rest);
    vec![
        Statement::new(&["s3:ListBucket"], vec![bucket]),
        Statement::new(
            &["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            vec![objects],
        ),
    ]
}

/// The Glue service's own log groups, which Glue creates (not the template).
fn glue_logs(kind: &str) -> Statement {
    Statement::new(
        &[
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
        ],
        vec![sub(&format!(
            "arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:/aws-glue/{kind}*"
        ))],
    )
}

/// A crawler: its S3 target (the bucket wired to `source`, with the crawl prefix and
/// exclusions), schema-change and delete behaviour, recrawl policy, table level and
/// grouping. A bucket's `events` on its `trigger` input become S3 event notifications to
/// an SQS queue the crawler consumes (`CRAWL_EVENT_MODE`) on a schedule.
pub(super) fn crawler(ex: &mut Export<'_>, node: &Node, c: &CrawlerConfig) {
    let Some(source) = ex.bucket_at(&node.id, "source") else {
        ex.leave_out(node, "no bucket is wired to its source");
        return;
    };
    let name = ex.name(&node.id);
    let db = ex.database(&c.database);
    let crawl_prefix = if c.prefix.trim_matches('/').is_empty() {
        String::new()
    } else {
        format!("{}/", c.prefix.trim_matches('/'))
    };
    let mut target = json!({ "Path": source.url(&crawl_prefix) });
    if !c.exclusions.is_empty() {
        target["Exclusions"] = json!(c.exclusions);
    }
    let triggers: Vec<&Node> = ex
        .inputs(&node.id, "trigger")
        .into_iter()
        .filter(|(n, port)| *port == "events" && matches!(n.config, NodeConfig::Bucket(_)))
        .map(|(n, _)| n)
        .collect();
    let mut crawled = source.clone();
    crawled.prefix.push_str(&crawl_prefix);
    let mut statements = read_buckets(std::slice::from_ref(&crawled));
    let mut glue_actions = GLUE_TABLE_WRITE.to_vec();
    if c.delete_behavior == DeleteBehavior::Delete {
        glue_actions.extend([
            "glue:DeleteTable",
            "glue:BatchDeletePartition",
            "glue:DeletePartition",
        ]);
    }
    statements.push(Statement::new(
        &glue_actions,
        super::lake::catalog_arns(&db),
    ));
    statements.push(glue_logs("crawlers"));
    let mut recrawl = match c.recrawl_behavior {
        RecrawlBehavior::Everything => "CRAWL_EVERYTHING",
        RecrawlBehavior::NewFoldersOnly => "CRAWL_NEW_FOLDERS_ONLY",
    };
    let mut schedule = None;
    if let Some(bucket) = triggers.first() {
        let queue = format!("{name}Events");
        recrawl = "CRAWL_EVENT_MODE";
        target["EventQueueArn"] = get_att(&queue, "Arn");
        let (bucket_arn, _) = source.arns("");
        ex.template.resource(
            &queue,
            &[format!(
                "S3 event notifications of '{}' for the crawler '{}' (its trigger).",
                bucket.id, node.id
            )],
            json!({
                "Type": "AWS::SQS::Queue",
                "Properties": {"MessageRetentionPeriod": 1209600, "SqsManagedSseEnabled": true},
            }),
        );
        ex.template.resource(
            &format!("{queue}Policy"),
            &[],
            json!({
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {
                    "Queues": [reference(&queue)],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Effect": "Allow",
                            "Principal": {"Service": "s3.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": get_att(&queue, "Arn"),
                            "Condition": {
                                "ArnEquals": {"aws:SourceArn": bucket_arn},
                                "StringEquals": {"aws:SourceAccount": reference("AWS::AccountId")},
                            },
                        }],
                    },
                },
            }),
        );
        notify(
            ex,
            bucket,
            &node.id,
            "QueueConfigurations",
            get_att(&queue, "Arn"),
            &format!("{queue}Policy"),
        );
        statements.push(Statement::new(
            &[
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:ListDeadLetterSourceQueues",
                "sqs:PurgeQueue",
                "sqs:ReceiveMessage",
                "sqs:SetQueueAttributes",
            ],
            vec![get_att(&queue, "Arn")],
        ));
        let param = format!("{name}Schedule");
        let default = if c.schedule.trim().is_empty() {
            "cron(0/15 * * * ? *)"
        } else {
            c.schedule.trim()
        };
        ex.template.parameter(
            &param,
            json!({
                "Type": "String",
                "Default": default,
                "Description": format!(
                    "When the crawler '{}' reads the S3 events queued for it (in Tributary it \
                     ran at each object created)", node.id),
            }),
        );
        schedule = Some(reference(&param));
    } else if !c.schedule.trim().is_empty() {
        schedule = Some(json!(c.schedule.trim()));
    }
    let (update, delete) = if recrawl == "CRAWL_NEW_FOLDERS_ONLY" {
        // Glue requires LOG for both when only new folders are crawled.
        ("LOG", "LOG")
    } else {
        (
            match c.schema_change_policy {
                SchemaChangePolicy::Update => "UPDATE_IN_DATABASE",
                SchemaChangePolicy::Log => "LOG",
            },
            match c.delete_behavior {
                DeleteBehavior::Deprecate => "DEPRECATE_IN_DATABASE",
                DeleteBehavior::Log => "LOG",
                DeleteBehavior::Delete => "DELETE_FROM_DATABASE",
            },
        )
    };
    // Glue counts table levels from the bucket (level 1); Tributary from the crawl root.
    let root_depth = format!("{}{crawl_prefix}", source.prefix)
        .split('/')
        .filter(|p| !p.is_empty())
        .count();
    let mut configuration = json!({
        "Version": 1.0,
        "Grouping": {"TableLevelConfiguration": 1 + root_depth + c.table_level},
    });
    if c.table_grouping_policy == TableGrouping::CombineCompatibleSchemas {
        configuration["Grouping"]["TableGroupingPolicy"] = json!("CombineCompatibleSchemas");
    }
    ex.template.resource(
        &format!("{name}Role"),
        &[format!(
            "Crawler '{}': reads its bucket, writes its database's tables.",
            node.id
        )],
        role("glue.amazonaws.com", "crawler", &statements),
    );
    let mut props = json!({
        "Name": sub(&format!("${{AWS::StackName}}-{}", node.id)),
        "Role": get_att(&format!("{name}Role"), "Arn"),
        "DatabaseName": reference(&db),
        "Targets": {"S3Targets": [target]},
        "SchemaChangePolicy": {"UpdateBehavior": update, "DeleteBehavior": delete},
        "RecrawlPolicy": {"RecrawlBehavior": recrawl},
        "Configuration": configuration.to_string(),
    });
    // A crawler an ETL job waits for starts from the project's Glue workflow (which
    // carries its schedule); any other runs on its own schedule.
    let in_workflow = ex.project.nodes.iter().any(|n| {
        matches!(n.config, NodeConfig::Etl(_))
            && predecessors(ex, &n.id).iter().any(|p| p.id == node.id)
    });
    if let (Some(s), false) = (&schedule, in_workflow) {
        props["Schedule"] = json!({ "ScheduleExpression": s });
    }
    let database_resource = format!("{}Database", pascal(&c.database));
    ex.template.resource(
        &format!("{name}Crawler"),
        &[format!(
            "Crawler '{}' (sample {} rows; null markers {:?} are Tributary's own).",
            node.id, c.sample_rows, c.null_markers
        )],
        json!({"Type": "AWS::Glue::Crawler", "DependsOn": [database_resource], "Properties": props}),
    );
    if in_workflow {
        start_crawler(ex, node, &name, schedule);
    }
}

/// Adds the crawler to the workflow's start trigger: one per workflow, starting every
/// crawler a job waits for, on the first schedule among them (on demand without one).
fn start_crawler(ex: &mut Export<'_>, node: &Node, name: &str, schedule: Option<Value>) {
    const START: &str = "GlueWorkflowStart";
    let action = json!({"CrawlerName": reference(&format!("{name}Crawler"))});
    let workflow = workflow(ex);
    let Some(trigger) = ex.template.resource_mut(START) else {
        let mut props = json!({
            "Type": if schedule.is_some() { "SCHEDULED" } else { "ON_DEMAND" },
            "WorkflowName": reference(&workflow),
            "Actions": [action],
        });
        if let Some(s) = schedule {
            props["Schedule"] = s;
            props["StartOnCreation"] = json!(true);
        }
        ex.template.resource(
            START,
            &[
                "The workflow starts with its crawlers (on demand: aws glue start-workflow-run)."
                    .to_owned(),
            ],
            json!({"Type": "AWS::Glue::Trigger", "Properties": props}),
        );
        return;
    };
    let props = &mut trigger["Properties"];
    if let Value::Array(actions) = &mut props["Actions"] {
        actions.push(action);
    }
    match (schedule, props["Schedule"].is_null()) {
        (Some(s), true) => {
            props["Type"] = json!("SCHEDULED");
            props["Schedule"] = s;
            props["StartOnCreation"] = json!(true);
        }
        (Some(s), false) if props["Schedule"] != s => ex.notes.push(format!(
            "crawler '{}' starts with the workflow's other crawlers, on the first one's \
             schedule, not its own",
            node.id
        )),
        _ => {}
    }
}

/// The crawlers and ETL jobs an ETL job follows in the graph: the crawlers wired into
/// the catalog it reads, or the job whose catalog it reads.
pub(super) fn predecessors<'a>(ex: &Export<'a>, etl: &str) -> Vec<&'a Node> {
    let mut out = Vec::new();
    for (n, _) in ex.inputs(etl, "catalog") {
        match &n.config {
            NodeConfig::Catalog(_) => out.extend(
                ex.inputs(&n.id, "crawlers")
                    .into_iter()
                    .map(|(c, _)| c)
                    .filter(|c| matches!(c.config, NodeConfig::Crawler(_))),
            ),
            NodeConfig::Etl(_) => out.push(n),
            _ => {}
        }
    }
    out
}

/// The project's Glue workflow (once): crawlers and jobs in the graph's order.
fn workflow(ex: &mut Export<'_>) -> String {
    let id = "GlueWorkflow";
    if !ex.template.has(id) {
        ex.template.resource(
            id,
            &["Crawlers and Glue jobs run in the graph's order: each job when what it reads has succeeded.".to_owned()],
            json!({
                "Type": "AWS::Glue::Workflow",
                "Properties": {
                    "Name": sub("${AWS::StackName}"),
                    "Description": format!("Tributary project '{}'", ex.project.name),
                },
            }),
        );
    }
    id.to_owned()
}

/// Spark's name for a file format of a write, and its compression option.
fn spark_format(format: FileFormat) -> &'static str {
    match format {
        FileFormat::Parquet => "parquet",
        FileFormat::Csv => "csv",
        FileFormat::Json => "json",
        FileFormat::Avro => "avro",
        FileFormat::Orc => "orc",
    }
}

/// A Glue job running the node's SQL with `spark.sql` over the catalog's tables (read as
/// DynamicFrames, so job bookmarks apply) and writing the table into the bucket wired to
/// `target`, registered in the catalog.
pub(super) fn etl(ex: &mut Export<'_>, node: &Node, c: &EtlConfig) {
    let Some(target) = ex.bucket_at(&node.id, "target") else {
        ex.leave_out(node, "no bucket is wired to its target");
        return;
    };
    let name = ex.name(&node.id);
    let db = ex.database(&c.database);
    // Unqualified tables are in `default`, as the designer's SQL reads them.
    let source_db = ex.database(DEFAULT_DATABASE);
    let output = format!("{}/", c.output_prefix.trim_matches('/'));
    let output = if output == "/" {
        format!("{}/", c.table)
    } else {
        output
    };
    let tables = code::tables_read(&c.sql, DEFAULT_DATABASE);
    let script = code::glue_script(&code::GlueJob {
        node: &node.id,
        project: &ex.project.name,
        sql: &c.sql,
        tables: &tables,
        table: &c.table,
        format: spark_format(c.format),
        compression: c.compression.as_str(),
        partition_by: &c.partition_by,
        overwrite: c.mode == crate::lake::writer::WriteMode::Overwrite,
    });
    let path = node_file("glue", &node.id, "py");
    ex.file(&path, script);
    let mut statements = read_buckets(&ex.upstream_buckets(&node.id));
    statements.extend(write_bucket(&target, &output));
    let mut catalog = catalog_arns(&db);
    for arn in catalog_arns(&source_db) {
        if !catalog.contains(&arn) {
            catalog.push(arn);
        }
    }
    statements.push(Statement::new(GLUE_TABLE_WRITE, catalog));
    statements.push(glue_logs("jobs"));
    ex.template.resource(
        &format!("{name}Role"),
        &[format!(
            "Glue job '{}': reads its tables, writes {output} and its table.",
            node.id
        )],
        role("glue.amazonaws.com", "etl", &statements),
    );
    ex.template.resource(
        &format!("{name}Job"),
        &[format!("ETL job '{}': the script {path} runs the node's SQL.", node.id)],
        json!({
            "Type": "AWS::Glue::Job",
            "Properties": {
                "Name": sub(&format!("${{AWS::StackName}}-{}", node.id)),
                "Role": get_att(&format!("{name}Role"), "Arn"),
                "GlueVersion": "5.0",
                "WorkerType": "G.1X",
                "NumberOfWorkers": 2,
                "Command": {"Name": "glueetl", "PythonVersion": "3", "ScriptLocation": path},
                "ExecutionProperty": {"MaxConcurrentRuns": 1},
                "DefaultArguments": {
                    "--job-language": "python",
                    "--enable-glue-datacatalog": "true",
                    "--job-bookmark-option": if c.bookmark { "job-bookmark-enable" } else { "job-bookmark-disable" },
                    "--source_database": reference(&source_db),
                    "--database": reference(&db),
                    "--output_path": target.url(&output),
                },
            },
        }),
    );
    let conditions: Vec<Value> = predecessors(ex, &node.id)
        .into_iter()
        .filter_map(|p| {
            let pn = ex.names.get(&p.id)?.clone();
            match p.config {
                NodeConfig::Crawler(_) if ex.template.has(&format!("{pn}Crawler")) => Some(json!({
                    "LogicalOperator": "EQUALS",
                    "CrawlerName": reference(&format!("{pn}Crawler")),
                    "CrawlState": "SUCCEEDED",
                })),
                NodeConfig::Etl(_) if ex.template.has(&format!("{pn}Job")) => Some(json!({
                    "LogicalOperator": "EQUALS",
                    "JobName": reference(&format!("{pn}Job")),
                    "State": "SUCCEEDED",
                })),
                _ => None,
            }
        })
        .collect();
    if !conditions.is_empty() {
        let workflow = workflow(ex);
        let mut predicate = json!({ "Conditions": conditions });
        if conditions.len() > 1 {
            predicate["Logical"] = json!("AND");
        }
        ex.template.resource(
            &format!("{name}Trigger"),
            &[format!(
                "Job '{}' runs when what it reads has succeeded.",
                node.id
            )],
            json!({
                "Type": "AWS::Glue::Trigger",
                "Properties": {
                    "Type": "CONDITIONAL",
                    "StartOnCreation": true,
                    "WorkflowName": reference(&workflow),
                    "Predicate": predicate,
                    "Actions": [{"JobName": reference(&format!("{name}Job"))}],
                },
            }),
        );
    }
}

/// An Athena named query in the project's workgroup, and the SQL as a file.
pub(super) fn query(ex: &mut Export<'_>, node: &Node, c: &QueryConfig) {
    let name = ex.name(&node.id);
    workgroup(ex);
    let path = node_file("athena", &node.id, "sql");
    let mut sql = c.sql.trim_end().to_owned();
    sql.push('\n');
    ex.file(&path, sql.clone());
    ex.template.resource(
        &format!("{name}Query"),
        &[format!("Query '{}' (also in {path}).", node.id)],
        json!({
            "Type": "AWS::Athena::NamedQuery",
            "Properties": {
                "Name": node.id,
                "Description": format!("Tributary project '{}', node '{}'", ex.project.name, node.id),
                "Database": reference(&ex.database(DEFAULT_DATABASE)),
                "WorkGroup": reference("AthenaWorkGroup"),
                "QueryString": sql,
            },
        }),
    );
}

/// The project's Athena workgroup and the bucket of its results (once).
fn workgroup(ex: &mut Export<'_>) {
    if ex.template.has("AthenaWorkGroup") {
        return;
    }
    let project_slug = slug(&ex.project.name, '-');
    let mut default = format!("{project_slug}-athena-results");
    default.truncate(63);
    ex.template.parameter(
        "AthenaResultsBucketName",
        bucket_name_parameter(
            Some(&default),
            "A globally unique name for the bucket of Athena's query results",
        ),
    );
    let mut properties = private_bucket("AthenaResultsBucketName");
    properties["LifecycleConfiguration"] = json!({
        "Rules": [{"Id": "expire-results", "Status": "Enabled", "ExpirationInDays": 30}],
    });
    ex.template.resource(
        "AthenaResultsBucket",
        &["Athena's query results (kept 30 days).".to_owned()],
        json!({"Type": "AWS::S3::Bucket", "Properties": properties}),
    );
    ex.template.resource(
        "AthenaWorkGroup",
        &[
            "The project's Athena workgroup: Athena SQL (Trino), results in their bucket."
                .to_owned(),
        ],
        json!({
            "Type": "AWS::Athena::WorkGroup",
            "Properties": {
                "Name": sub("${AWS::StackName}"),
                "State": "ENABLED",
                "WorkGroupConfiguration": {
                    "EnforceWorkGroupConfiguration": true,
                    "PublishCloudWatchMetricsEnabled": true,
                    "EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"},
                    "ResultConfiguration": {
                        "OutputLocation": sub("s3://${AthenaResultsBucket}/"),
                        "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
                    },
                },
            },
        }),
    );
    ex.template.output(
        "AthenaWorkGroup",
        "The Athena workgroup",
        reference("AthenaWorkGroup"),
    );
}

/// An EMR Serverless Spark application using the Glue Data Catalog, a job runtime role,
/// and the steps as one PySpark script (started with `aws emr-serverless start-job-run`).
pub(super) fn emr_job(ex: &mut Export<'_>, node: &Node, c: &EmrJobConfig) {
    let name = ex.name(&node.id);
    let target = ex.bucket_at(&node.id, "target");
    let mut steps = Vec::new();
    let mut statements = read_buckets(&ex.upstream_buckets(&node.id));
    let mut dbs = Vec::new();
    for step in &c.steps {
        let write = match (&step.write, &target) {
            (Some(w), Some(t)) => {
                let prefix = format!("{}/", w.output_prefix.trim_matches('/'));
                let prefix = if prefix == "/" {
                    format!("{}/", w.table)
                } else {
                    prefix
                };
                statements.extend(write_bucket(t, &prefix));
                let db = ex.database(&w.database);
                if !dbs.contains(&db) {
                    dbs.push(db.clone());
                }
                Some(code::EmrWrite {
                    database_param: db,
                    table: w.table.clone(),
                    prefix,
                    format: spark_format(w.format),
                    compression: w.compression.as_str(),
                    partition_by: w.partition_by.clone(),
                    overwrite: w.mode == crate::lake::writer::WriteMode::Overwrite,
                })
            }
            _ => None,
        };
        steps.push(code::EmrStep {
            name: step.name.clone(),
            sql: step.sql.clone(),
            write,
            continue_on_failure: step.on_failure == crate::nodes::emr_job::OnFailure::Continue,
        });
    }
    let default_db = ex.database(DEFAULT_DATABASE);
    let mut catalog: Vec<Value> = Vec::new();
    for db in dbs.iter().chain(std::iter::once(&default_db)) {
        for arn in catalog_arns(db) {
            if !catalog.contains(&arn) {
                catalog.push(arn);
            }
        }
    }
    statements.push(Statement::new(GLUE_TABLE_WRITE, catalog));
    let path = node_file("emr", &node.id, "py");
    let script_key = format!("emr/{}.py", node.id);
    let artifacts = ex.artifacts();
    statements.push(Statement::new(
        &["s3:GetObject"],
        vec![sub(&format!(
            "arn:${{AWS::Partition}}:s3:::${{{artifacts}}}/{script_key}"
        ))],
    ));
    ex.file(&path, code::emr_script(&node.id, &ex.project.name, &steps));
    ex.template.resource(
        &format!("{name}Role"),
        &[format!(
            "EMR job '{}': the job runtime role of its runs.",
            node.id
        )],
        role("emr-serverless.amazonaws.com", "emr-job", &statements),
    );
    ex.template.resource(
        &format!("{name}Application"),
        &[format!(
            "EMR job '{}': {} step(s) in {path}; run it with the command in README.md.",
            node.id,
            c.steps.len()
        )],
        json!({
            "Type": "AWS::EMRServerless::Application",
            "Properties": {
                "Name": sub(&format!("${{AWS::StackName}}-{}", node.id)),
                "ReleaseLabel": "emr-7.5.0",
                "Type": "SPARK",
                "AutoStartConfiguration": {"Enabled": true},
                "AutoStopConfiguration": {"Enabled": true, "IdleTimeoutMinutes": 15},
                "RuntimeConfiguration": [{
                    "Classification": "spark-defaults",
                    "Properties": {
                        "spark.hadoop.hive.metastore.client.factory.class":
                            "com.amazonaws.glue.catalog.metastore.AWSGlueDataCatalogHiveClientFactory",
                    },
                }],
            },
        }),
    );
    ex.template.output(
        &format!("{name}Application"),
        &format!("The EMR Serverless application of '{}'", node.id),
        reference(&format!("{name}Application")),
    );
    ex.template.output(
        &format!("{name}JobRole"),
        &format!("The job runtime role of '{}'", node.id),
        get_att(&format!("{name}Role"), "Arn"),
    );
}
