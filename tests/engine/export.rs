//! Export to AWS: the templates of every bundled example and of a project with every node
//! kind pass AWS's own linter (cfn-lint, installed by `scripts/test`); golden files of a
//! small project; the IAM policies name only the template's resources, exactly those
//! wired to each; the scripts compile and carry the node's SQL; and an exported Python
//! Lambda, run by Tributary's runtime from the exported folder, gives the designer's
//! output, sent on by the exported forwarding handler through the Firehose API.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tributary_engine::Project;

use crate::support::{cli_in, data, records_under, repo_root, run_ok, scratch};
use crate::wire::{Served, python};

/// AWS's CloudFormation linter, beside the Python that `scripts/test` sets up.
fn cfn_lint() -> PathBuf {
    python().with_file_name("cfn-lint")
}

/// Exports `project` into `out` with the CLI; returns what it printed.
fn export(project: &Path, out: &Path) -> String {
    let o = cli_in(
        project.parent().unwrap(),
        &[
            "export",
            &project.display().to_string(),
            "--out",
            &out.display().to_string(),
        ],
    );
    assert_eq!(o.code, 0, "export failed: {}{}", o.stdout, o.stderr);
    o.stdout
}

/// What a Python `script` (run with `args`) prints, as JSON.
fn python_json(script: &str, args: &[&std::ffi::OsStr]) -> Value {
    let out = Process::new(python())
        .args(["-c", script])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `template.yaml` as JSON, read by PyYAML (the template uses no YAML tags, so a plain
/// YAML reader sees what CloudFormation sees).
fn template_json(dir: &Path) -> Value {
    python_json(
        "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        &[dir.join("template.yaml").as_os_str()],
    )
}

/// Runs cfn-lint on `templates`; returns its exit code and its findings (parseable
/// lines: `file:line:col:endline:endcol:rule:message`).
fn lint(templates: &[PathBuf]) -> (i32, Vec<String>) {
    let out = Process::new(cfn_lint())
        .args(["--format", "parseable"])
        .args(templates)
        .output()
        .expect("cfn-lint runs (scripts/test installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    (
        out.status.code().unwrap_or(-1),
        text.lines().map(str::to_owned).collect(),
    )
}

/// The rule of a parseable cfn-lint line (`E3012`, `W2531`).
fn rule(line: &str) -> &str {
    line.split(':').nth(5).unwrap_or("")
}

fn examples() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(repo_root().join("projects"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    out.sort();
    out
}

#[test]
fn every_bundled_example_and_every_node_kind_export_templates_cfn_lint_passes() {
    let dir = scratch();
    let mut templates = Vec::new();
    for project in examples() {
        let name = project.file_stem().unwrap().to_string_lossy().into_owned();
        let out = dir.path().join(&name);
        export(&project, &out);
        templates.push(out.join("template.yaml"));
    }
    let every = dir.path().join("every_kind");
    let printed = export(&data("export/every_kind.json"), &every);
    templates.push(every.join("template.yaml"));
    assert_eq!(templates.len(), 7);

    let (code, findings) = lint(&templates);
    let errors: Vec<&String> = findings
        .iter()
        .filter(|l| rule(l).starts_with('E'))
        .collect();
    assert!(errors.is_empty(), "cfn-lint errors:\n{findings:#?}");
    // Exit code 2 is errors (4 warnings, 8 informational); 1 a failure to lint.
    assert_eq!(code & 3, 0, "cfn-lint: {code} {findings:#?}");
    // Warnings are allowed only for what the designer offers on purpose: a Node.js
    // runtime AWS has since deprecated.
    for w in findings.iter().filter(|l| !rule(l).starts_with('E')) {
        assert!(w.contains("W2531"), "unexpected cfn-lint finding: {w}");
    }

    // The check can fail: a wrong type is an error.
    let broken = dir.path().join("broken.yaml");
    let text = std::fs::read_to_string(dir.path().join("lambda/template.yaml")).unwrap();
    assert!(text.contains("ShardCount: 2"));
    std::fs::write(&broken, text.replace("ShardCount: 2", "ShardCount: many")).unwrap();
    let (code, findings) = lint(&[broken]);
    assert!(code & 2 == 2, "{findings:#?}");
    assert!(findings.iter().any(|l| rule(l) == "E3012"), "{findings:#?}");

    // Every kind: a resource of each service, and the rest left out with a reason.
    let t = template_json(&every);
    let types: BTreeSet<&str> = t["Resources"]
        .as_object()
        .unwrap()
        .values()
        .map(|r| r["Type"].as_str().unwrap())
        .collect();
    for expected in [
        "AWS::S3::Bucket",
        "AWS::SQS::Queue",
        "AWS::SQS::QueuePolicy",
        "AWS::Glue::Database",
        "AWS::Glue::Crawler",
        "AWS::Glue::Job",
        "AWS::Glue::Table",
        "AWS::Athena::WorkGroup",
        "AWS::Athena::NamedQuery",
        "AWS::EMRServerless::Application",
        "AWS::Kinesis::Stream",
        "AWS::Kinesis::StreamConsumer",
        "AWS::Serverless::Function",
        "AWS::Logs::LogGroup",
        "AWS::Lambda::EventSourceMapping",
        "AWS::Lambda::Permission",
        "AWS::KinesisFirehose::DeliveryStream",
        "AWS::KinesisAnalyticsV2::Application",
        "AWS::IAM::Role",
    ] {
        assert!(types.contains(expected), "no {expected} in {types:?}");
    }
    let left_out: BTreeSet<&str> = printed
        .lines()
        .filter_map(|l| l.trim().strip_prefix("not exported: "))
        .filter_map(|l| l.split(':').next())
        .collect();
    assert_eq!(
        left_out,
        BTreeSet::from([
            "failed_orders",
            "sql_enrich",
            "clicks_gen",
            "cart_only",
            "live",
            "chart",
            "replayed",
            "from_redis",
            "to_redis",
            "live_redis"
        ]),
        "{printed}"
    );
    // Each left-out node is named in the template with its reason.
    let yaml = std::fs::read_to_string(every.join("template.yaml")).unwrap();
    assert!(yaml.contains(
        "# Not exported: 'sql_enrich' (lambda): its SQL runs inside Tributary; AWS Lambda runs Python or Node.js code."
    ));
    // The bucket's events feed a crawler and a function: S3 takes one destination for
    // the same events, so the second is named in a note, not given an overlapping one.
    assert!(
        printed.contains("'on_new_object' does not get them"),
        "{printed}"
    );
    let r = &t["Resources"];
    let notifications = &r["LakeBucket"]["Properties"]["NotificationConfiguration"];
    assert_eq!(
        notifications["QueueConfigurations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(notifications["LambdaConfigurations"].is_null());

    // Settings arrive under AWS's names.
    let mapping = &r["ScoreMapping"]["Properties"];
    assert_eq!(mapping["BatchSize"], 500);
    assert_eq!(mapping["StartingPosition"], "AT_TIMESTAMP");
    assert_eq!(mapping["StartingPositionTimestamp"], 1735689600.0);
    assert_eq!(mapping["ParallelizationFactor"], 2);
    assert_eq!(mapping["MaximumRetryAttempts"], 3);
    assert_eq!(mapping["MaximumRecordAgeInSeconds"], 3600);
    assert_eq!(mapping["BisectBatchOnFunctionError"], true);
    assert_eq!(
        mapping["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert_eq!(
        mapping["EventSourceArn"],
        json!({"Fn::GetAtt": ["ScoreConsumer", "ConsumerARN"]}),
        "enhanced fan-out reads through its consumer"
    );
    assert_eq!(
        mapping["DestinationConfig"]["OnFailure"]["Destination"],
        json!({"Fn::Sub": "arn:${AWS::Partition}:s3:::${LakeBucketName}"})
    );
    let function = &r["ScoreFunction"]["Properties"];
    assert_eq!(function["ReservedConcurrentExecutions"], 5);
    assert_eq!(function["MemorySize"], 512);
    assert_eq!(function["Handler"], "tributary_forward.handler");
    assert_eq!(
        function["Environment"]["Variables"]["TRIBUTARY_FORWARD_TO"],
        json!({"Fn::Join": [",", [
            {"Fn::Sub": "kinesis:${ScoredStream}:customer"},
            {"Fn::Sub": "firehose:${ToArchiveDeliveryStream}"},
        ]]})
    );
    let orders = &r["OrdersStream"]["Properties"];
    assert_eq!(orders["StreamModeDetails"]["StreamMode"], "ON_DEMAND");
    assert_eq!(orders["RetentionPeriodHours"], 48);
    assert!(orders["ShardCount"].is_null());
    let parquet = &r["ToParquetDeliveryStream"]["Properties"];
    assert_eq!(parquet["DeliveryStreamType"], "KinesisStreamAsSource");
    let s3 = &parquet["ExtendedS3DestinationConfiguration"];
    assert_eq!(
        s3["Prefix"],
        "curated/scored/status=!{partitionKeyFromQuery:status}/"
    );
    assert_eq!(
        s3["BufferingHints"],
        json!({"IntervalInSeconds": 300, "SizeInMBs": 128})
    );
    assert_eq!(s3["DynamicPartitioningConfiguration"]["Enabled"], true);
    assert_eq!(
        s3["DataFormatConversionConfiguration"]["SchemaConfiguration"]["TableName"],
        "scored_orders"
    );
    // The table's columns: the stream's, then the function's, known without a run.
    let columns: Vec<(String, String)> =
        r["ToParquetTable"]["Properties"]["TableInput"]["StorageDescriptor"]["Columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["Name"].as_str().unwrap().to_owned(),
                    c["Type"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
    assert_eq!(
        columns.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        [
            "order_id",
            "customer",
            "amount",
            "status",
            "created_at",
            "score"
        ]
    );
    assert_eq!(columns[0].1, "bigint");
    assert_eq!(columns[5].1, "double");
    let crawler = &r["CrawlRawCrawler"]["Properties"];
    assert_eq!(
        crawler["RecrawlPolicy"]["RecrawlBehavior"],
        "CRAWL_EVENT_MODE"
    );
    assert_eq!(
        crawler["SchemaChangePolicy"],
        json!({"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "DELETE_FROM_DATABASE"})
    );
    assert_eq!(
        crawler["Targets"]["S3Targets"][0]["Exclusions"],
        json!(["**/_tmp/**"])
    );
    let configuration: Value =
        serde_json::from_str(crawler["Configuration"].as_str().unwrap()).unwrap();
    // raw/ is level 2 below the bucket; table_level 2 below it is level 4.
    assert_eq!(configuration["Grouping"]["TableLevelConfiguration"], 4);
    assert_eq!(
        r["CrawlArchiveCrawler"]["Properties"]["SchemaChangePolicy"],
        json!({"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"}),
        "Glue requires LOG when only new folders are crawled"
    );
    // Crawlers and the job after them run as a Glue workflow in the graph's order: one
    // start trigger for both crawlers (the first one's schedule), the job when both
    // succeeded.
    let start = &r["GlueWorkflowStart"]["Properties"];
    assert_eq!(start["Type"], "SCHEDULED");
    assert_eq!(start["Schedule"], json!({"Ref": "CrawlRawSchedule"}));
    assert_eq!(
        start["Actions"],
        json!([{"CrawlerName": {"Ref": "CrawlRawCrawler"}}, {"CrawlerName": {"Ref": "CrawlArchiveCrawler"}}])
    );
    assert!(printed.contains("crawler 'crawl_archive' starts with the workflow's other crawlers"));
    let trigger = &r["DailyTotalsTrigger"]["Properties"];
    assert_eq!(trigger["Type"], "CONDITIONAL");
    assert_eq!(trigger["Predicate"]["Logical"], "AND");
    assert_eq!(
        trigger["Predicate"]["Conditions"],
        json!([
            {"LogicalOperator": "EQUALS", "CrawlerName": {"Ref": "CrawlRawCrawler"}, "CrawlState": "SUCCEEDED"},
            {"LogicalOperator": "EQUALS", "CrawlerName": {"Ref": "CrawlArchiveCrawler"}, "CrawlState": "SUCCEEDED"},
        ])
    );
    assert_eq!(
        trigger["Actions"],
        json!([{"JobName": {"Ref": "DailyTotalsJob"}}])
    );
    assert!(
        r["CrawlRawCrawler"]["Properties"]["Schedule"].is_null(),
        "the workflow starts it"
    );
    // A function's folder is exported without what npm installed or hidden files, its
    // requirements as its package.json.
    let files = crate::support::files_under(&every.join("lambda/on_new_object"));
    assert_eq!(files, ["index.mjs", "lib/describe.mjs", "package.json"]);
    let package: Value = serde_json::from_str(
        &std::fs::read_to_string(every.join("lambda/on_new_object/package.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        package["dependencies"],
        json!({"@aws-lambda-powertools/logger": "2.11.0"})
    );
    // The existing bucket is named, not created.
    assert!(r["CompanyArchiveBucket"].is_null());
    assert_eq!(
        t["Parameters"]["CompanyArchiveBucketName"]["Default"],
        "company-archive"
    );
}

/// Every name a policy resource refers to: `GetAtt`/`Ref` targets and `Fn::Sub`
/// variables other than AWS's pseudo parameters.
fn referenced(resource: &Value) -> Vec<String> {
    if let Some(s) = resource["Fn::Sub"].as_str() {
        let mut out = Vec::new();
        let mut rest = s;
        while let Some(i) = rest.find("${") {
            let end = rest[i..].find('}').unwrap() + i;
            let name = &rest[i + 2..end];
            if !name.starts_with("AWS::") {
                out.push(name.split('.').next().unwrap().to_owned());
            }
            rest = &rest[end + 1..];
        }
        out
    } else if let Some(a) = resource["Fn::GetAtt"].as_array() {
        vec![a[0].as_str().unwrap().to_owned()]
    } else if let Some(r) = resource["Ref"].as_str() {
        vec![r.to_owned()]
    } else {
        panic!("a policy resource that is not built from the template: {resource}")
    }
}

/// For each role: the template names its policy refers to.
fn roles(t: &Value) -> std::collections::BTreeMap<String, BTreeSet<String>> {
    let resources = t["Resources"].as_object().unwrap();
    let parameters = t["Parameters"].as_object().cloned().unwrap_or_default();
    let mut out = std::collections::BTreeMap::new();
    for (id, r) in resources {
        if r["Type"] != "AWS::IAM::Role" {
            continue;
        }
        let mut names = BTreeSet::new();
        for policy in r["Properties"]["Policies"].as_array().unwrap() {
            for statement in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
                assert_eq!(statement["Effect"], "Allow");
                for resource in statement["Resource"].as_array().unwrap() {
                    assert!(!resource.is_string(), "{id}: a literal resource {resource}");
                    let text = resource["Fn::Sub"].as_str().unwrap_or("");
                    assert!(
                        text != "*" && !text.ends_with(":*") && !text.ends_with(":::*"),
                        "{id}: everything of a service: {text}"
                    );
                    for name in referenced(resource) {
                        assert!(
                            resources.contains_key(&name) || parameters.contains_key(&name),
                            "{id}: {name} is not in the template"
                        );
                        names.insert(name);
                    }
                    // Buckets are named by their parameters; the only ARNs not of the
                    // template are the log groups Glue creates (README.md says so).
                    if text.contains(":logs:") && !text.contains("log-group:/aws-glue/") {
                        panic!("{id}: a log group not of the template: {text}");
                    }
                    if text.contains(":s3:::") {
                        let bucket = referenced(resource);
                        assert!(
                            bucket.len() == 1 && bucket[0].ends_with("BucketName"),
                            "{id}: {text}"
                        );
                    }
                }
            }
        }
        out.insert(id.clone(), names);
    }
    out
}

#[test]
fn iam_policies_name_only_the_resources_wired_to_each_role() {
    let dir = scratch();
    for project in examples() {
        let out = dir.path().join(project.file_stem().unwrap());
        export(&project, &out);
        roles(&template_json(&out));
    }
    let every = dir.path().join("every_kind");
    export(&data("export/every_kind.json"), &every);
    let roles = roles(&template_json(&every));
    let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    // The scoring function: its logs, the stream it reads (through its consumer), the
    // stream and delivery stream it sends its answer to, the bucket of its failures.
    assert_eq!(
        roles["ScoreFunctionRole"],
        set(&[
            "ScoreFunctionLogs",
            "OrdersStream",
            "ScoreConsumer",
            "ScoredStream",
            "ToArchiveDeliveryStream",
            "LakeBucketName",
        ])
    );
    assert_eq!(
        roles["ToParquetDeliveryStreamRole"],
        set(&[
            "LakeBucketName",
            "ScoredStream",
            "SalesDatabaseName",
            "ToParquetTransform"
        ])
    );
    assert_eq!(
        roles["CrawlRawRole"],
        set(&["LakeBucketName", "DefaultDatabaseName", "CrawlRawEvents"])
    );
    assert_eq!(
        roles["CrawlArchiveRole"],
        set(&["CompanyArchiveBucketName", "ArchiveDatabaseName"])
    );
    assert_eq!(
        roles["DailyTotalsRole"],
        set(&[
            "LakeBucketName",
            "CompanyArchiveBucketName",
            "SalesDatabaseName",
            "DefaultDatabaseName"
        ])
    );
    assert_eq!(
        roles["ByStatusRole"],
        set(&["ArtifactsBucketName", "OrdersStream"])
    );
    assert_eq!(
        roles["OnNewObjectFunctionRole"],
        set(&["OnNewObjectFunctionLogs"])
    );
}

/// Compares `bundle`'s files with `expected` (both ways); `TRIBUTARY_BLESS=1` rewrites
/// them instead.
fn compare_golden(bundle: &tributary_engine::export::Bundle, expected: &Path) {
    if std::env::var_os("TRIBUTARY_BLESS").is_some() {
        let _ = std::fs::remove_dir_all(expected);
        tributary_engine::export::write(bundle, expected).unwrap();
        return;
    }
    let on_disk: BTreeSet<String> = crate::support::files_under(expected).into_iter().collect();
    let exported: BTreeSet<String> = bundle.files.keys().cloned().collect();
    assert_eq!(
        on_disk, exported,
        "the exported files differ from the golden ones"
    );
    for (path, bytes) in &bundle.files {
        let golden = std::fs::read(expected.join(path)).unwrap();
        assert!(
            golden == *bytes,
            "{path} differs from its golden file (TRIBUTARY_BLESS=1 rewrites them):\n{}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn a_small_project_exports_its_golden_files_the_same_every_time() {
    let golden = data("export/golden");
    let project = Project::load(&golden.join("project.json")).unwrap();
    let bundle = tributary_engine::export::bundle(&project, &golden).unwrap();
    compare_golden(&bundle, &golden.join("expected"));

    // The CLI writes the same bytes, again on a second export over the first.
    let dir = scratch();
    let out = dir.path().join("aws");
    for _ in 0..2 {
        export(&golden.join("project.json"), &out);
        for (path, bytes) in &bundle.files {
            assert_eq!(&std::fs::read(out.join(path)).unwrap(), bytes, "{path}");
        }
        assert_eq!(crate::support::files_under(&out).len(), bundle.files.len());
    }
    // A folder that is not an export is not overwritten.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let o = cli_in(
        &golden,
        &[
            "export",
            "project.json",
            "--out",
            &other.display().to_string(),
        ],
    );
    assert_eq!(o.code, 1);
    assert!(
        o.stderr
            .contains("is not empty and is not an earlier export"),
        "{}",
        o.stderr
    );
    assert_eq!(crate::support::files_under(&other), ["notes.txt"]);
    // A project with problems is refused, naming the first.
    let bad = dir.path().join("bad.json");
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(golden.join("project.json")).unwrap())
            .unwrap();
    v["nodes"][1]["config"]["shards"] = json!(0);
    std::fs::write(&bad, v.to_string()).unwrap();
    let o = cli_in(dir.path(), &["export", "bad.json", "--out", "bad-aws"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("node 'orders'"), "{}", o.stderr);
    assert!(!dir.path().join("bad-aws").exists());
    // A crawler's schedule is a Glue cron expression, checked before any export.
    for (schedule, says) in [
        ("daily", "is not a cron expression"),
        ("cron(0 2 * * *)", "has 5"),
        ("cron(0 2 * * 1 *)", "must be '?'"),
    ] {
        let mut v: Value =
            serde_json::from_str(&std::fs::read_to_string(golden.join("project.json")).unwrap())
                .unwrap();
        v["nodes"][4]["config"]["schedule"] = json!(schedule);
        std::fs::write(&bad, v.to_string()).unwrap();
        let o = cli_in(dir.path(), &["validate", "bad.json"]);
        assert_eq!(o.code, 1, "{schedule}");
        let said = format!("{}{}", o.stdout, o.stderr);
        assert!(
            said.contains("node 'crawl': config: schedule:") && said.contains(says),
            "{schedule}: {said}"
        );
    }
}

/// The values of `names` assigned at the top of a Python file (read with `ast`).
fn python_constants(file: &Path, names: &[&str]) -> Value {
    let script = "import ast, json, sys\n\
        tree = ast.parse(open(sys.argv[1]).read())\n\
        out = {}\n\
        for n in tree.body:\n\
        \x20   if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name) and n.targets[0].id in sys.argv[2:]:\n\
        \x20       out[n.targets[0].id] = ast.literal_eval(n.value)\n\
        print(json.dumps(out))\n";
    let mut args = vec![file.as_os_str()];
    args.extend(names.iter().map(std::ffi::OsStr::new));
    python_json(script, &args)
}

#[test]
fn exported_scripts_compile_and_carry_the_nodes_sql() {
    let dir = scratch();
    let lake = dir.path().join("lake");
    export(&repo_root().join("projects/lake.json"), &lake);
    let every = dir.path().join("every");
    export(&data("export/every_kind.json"), &every);
    let emr = dir.path().join("emr");
    export(&repo_root().join("projects/emr.json"), &emr);

    let mut python_files = Vec::new();
    let mut modules = Vec::new();
    for root in [&lake, &every, &emr] {
        for f in crate::support::files_under(root) {
            if f.ends_with(".py") {
                python_files.push(root.join(&f));
            } else if f.ends_with(".mjs") {
                modules.push(root.join(&f));
            }
        }
    }
    assert!(python_files.len() >= 8, "{python_files:?}");
    let out = Process::new(python())
        .args(["-m", "py_compile"])
        .args(&python_files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for m in &modules {
        let out = Process::new("node").arg("--check").arg(m).output().unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            m.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The Glue script runs the node's SQL over the tables it reads, as the node writes.
    let project = Project::load(&repo_root().join("projects/lake.json")).unwrap();
    let tributary_engine::nodes::NodeConfig::Etl(etl) =
        &project.node("weather_monthly").unwrap().config
    else {
        panic!("weather_monthly is an ETL job");
    };
    let constants = python_constants(
        &lake.join("glue/weather_monthly.py"),
        &["SQL", "TABLES", "TABLE", "PARTITION_BY", "OVERWRITE"],
    );
    assert_eq!(constants["SQL"], etl.sql.trim());
    assert_eq!(constants["TABLES"], json!(["weather"]));
    assert_eq!(constants["TABLE"], "weather_monthly");
    assert_eq!(constants["PARTITION_BY"], json!(etl.partition_by));
    assert_eq!(constants["OVERWRITE"], true);
    let t = template_json(&lake);
    let job = &t["Resources"]["WeatherMonthlyJob"]["Properties"];
    assert_eq!(job["Command"]["ScriptLocation"], "glue/weather_monthly.py");
    assert_eq!(
        job["DefaultArguments"]["--job-bookmark-option"],
        if etl.bookmark {
            "job-bookmark-enable"
        } else {
            "job-bookmark-disable"
        }
    );
    assert_eq!(
        job["DefaultArguments"]["--output_path"],
        json!({"Fn::Sub": "s3://${LakeBucketName}/curated/weather_monthly/"})
    );
    // The query's SQL is its Athena named query and file.
    let tributary_engine::nodes::NodeConfig::Query(q) = &project.node("rainy_2015").unwrap().config
    else {
        panic!("rainy_2015 is a query");
    };
    assert_eq!(
        std::fs::read_to_string(lake.join("athena/rainy_2015.sql"))
            .unwrap()
            .trim(),
        q.sql.trim()
    );
    assert_eq!(
        t["Resources"]["Rainy2015Query"]["Properties"]["QueryString"]
            .as_str()
            .unwrap()
            .trim(),
        q.sql.trim()
    );
    // The bookmarked job of every_kind enables bookmarks.
    let t = template_json(&every);
    assert_eq!(
        t["Resources"]["DailyTotalsJob"]["Properties"]["DefaultArguments"]["--job-bookmark-option"],
        "job-bookmark-enable"
    );
    // Flink SQL: the window as a table-valued function, window_start and window_end first.
    let flink = std::fs::read_to_string(every.join("flink/by_status/main.sql")).unwrap();
    assert!(
        flink.contains(
            "SELECT window_start, window_end, status, COUNT(*) AS orders, SUM(amount) AS revenue \
         FROM TABLE(HOP(TABLE `input`, DESCRIPTOR(`created_at`), INTERVAL '10' SECOND, \
         INTERVAL '60' SECOND)) GROUP BY window_start, window_end, status;"
        ),
        "{flink}"
    );
    assert!(flink.contains("WATERMARK FOR `created_at` AS `created_at` - INTERVAL '2' SECOND"));
}

#[test]
fn an_exported_python_lambda_run_from_its_folder_gives_the_designers_output() {
    let dir = scratch();
    let root = dir.path();
    // The bundled Python Lambda example, shorter.
    let mut designer: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("projects/lambda.json")).unwrap(),
    )
    .unwrap();
    for n in designer["nodes"].as_array_mut().unwrap() {
        match n["id"].as_str().unwrap() {
            "clicks_gen" => {
                n["config"]["count"] = json!(3000);
                n["config"]["rate_per_sec"] = json!(3000.0);
            }
            "lake" => n["config"]["path"] = json!("designer-lake"),
            _ => {}
        }
    }
    for lake in ["designer-lake", "deployed-lake"] {
        std::fs::create_dir_all(root.join(lake)).unwrap();
    }
    run_ok(root, "designer.json", &designer, &[]);
    let mut expected = records_under(&root.join("designer-lake/clicks"));
    // 3 of the 3,000 clicks fail (event ids ending in 999) and go to `failed`.
    assert_eq!(expected.len(), 2997);

    // Export it; the function's template says how it runs.
    export(&root.join("designer.json"), &root.join("aws"));
    let t = template_json(&root.join("aws"));
    let function = &t["Resources"]["EnrichFunction"]["Properties"];
    assert_eq!(function["CodeUri"], "lambda/enrich/");
    assert_eq!(function["Handler"], "tributary_forward.handler");
    let variables = function["Environment"]["Variables"].as_object().unwrap();
    assert_eq!(variables["TRIBUTARY_HANDLER"], "app.handler");
    assert_eq!(
        variables["TRIBUTARY_FORWARD_TO"],
        json!({"Fn::Join": [",", [{"Fn::Sub": "firehose:${DeliverDeliveryStream}"}]]})
    );
    let stream_name = t["Resources"]["DeliverDeliveryStream"]["Properties"]["DeliveryStreamName"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        t["Resources"]["DeliverDeliveryStream"]["Properties"]["DeliveryStreamType"],
        "DirectPut"
    );

    // The same pipeline as deployed: the function runs from the exported folder with the
    // template's handler and environment, and sends its answer through the Firehose API
    // into a Direct PUT delivery stream, as in AWS.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    let mut deployed = designer.clone();
    let output_columns = deployed["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "enrich")
        .unwrap()["config"]["output_columns"]
        .clone();
    for n in deployed["nodes"].as_array_mut().unwrap() {
        match n["id"].as_str().unwrap() {
            "enrich" => {
                let c = &mut n["config"];
                c["code"] = json!("");
                c["code_path"] = json!("aws/lambda/enrich");
                c["handler"] = function["Handler"].clone();
                c["environment"] = json!({
                    "TRIBUTARY_HANDLER": variables["TRIBUTARY_HANDLER"],
                    "TRIBUTARY_FORWARD_TO": format!("firehose:{stream_name}"),
                    "AWS_ENDPOINT_URL": format!("http://{address}"),
                    "AWS_ACCESS_KEY_ID": "test",
                    "AWS_SECRET_ACCESS_KEY": "test",
                    "AWS_DEFAULT_REGION": "us-east-1",
                });
            }
            "deliver" => {
                n["config"]["delivery_stream_name"] = json!(stream_name);
                n["config"]["columns"] = output_columns.clone();
            }
            "lake" => n["config"]["path"] = json!("deployed-lake"),
            _ => {}
        }
    }
    // What read the function's answer in the designer reads the delivery stream in AWS.
    deployed["edges"]
        .as_array_mut()
        .unwrap()
        .retain(|e| !(e["from"]["node"] == "enrich" && e["from"]["port"] == "records"));
    deployed["nodes"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["id"] != "live");
    let served = Served::start_at(root, &deployed, &["deliver"], &address);
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline
        && records_under(&root.join("deployed-lake/clicks")).len() < expected.len()
    {
        std::thread::sleep(Duration::from_millis(500));
    }
    let (_, _, logs) = served.stop();
    let mut actual = records_under(&root.join("deployed-lake/clicks"));
    let by_id = |v: &Value| v["event_id"].as_i64().unwrap();
    expected.sort_by_key(by_id);
    actual.sort_by_key(by_id);
    assert_eq!(
        actual.len(),
        expected.len(),
        "records delivered through the forwarder; logs: {logs:#?}"
    );
    assert_eq!(actual, expected);
}
