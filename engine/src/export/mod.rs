//! Export to AWS: a project as a CloudFormation template (`template.yaml`, with the AWS
//! SAM transform for functions), the code it deploys (Lambda handlers, Glue and EMR
//! PySpark scripts, Athena SQL, Flink SQL) and a README saying how to deploy it
//! (`tributary export`, the app's File → Export to AWS…).
//!
//! Each node becomes the resources AWS runs it with (`lake.rs`: buckets, Glue databases,
//! crawlers, jobs, Athena, EMR Serverless; `streaming.rs`: Kinesis, Lambda, Firehose,
//! Managed Service for Apache Flink), each with an IAM role whose policy names exactly
//! the resources wired to it. A node with no faithful AWS counterpart (a generator, a
//! live chart) is left out with a comment saying why. The output depends only on the
//! project and the files it names, so the same project gives the same files.

mod code;
mod lake;
mod streaming;
mod template;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::arrow::datatypes::SchemaRef;
use crate::error::{Error, Result};
use crate::nodes::NodeConfig;
use crate::project::{Node, Project};
pub use template::Template;

/// The file that marks a folder as an export (so a later export may replace it).
pub const MARKER: &str = ".tributary-export";

/// An export in memory: every file by its path in the output folder, and what was left
/// out.
#[derive(Clone, Debug, Default)]
pub struct Bundle {
    /// Files by relative path (`/`-separated), sorted.
    pub files: BTreeMap<String, Vec<u8>>,
    /// `(node, why)` for each node with no AWS resource.
    pub left_out: Vec<(String, String)>,
    /// Things a user should know before deploying (one line each).
    pub notes: Vec<String>,
}

impl Bundle {
    /// How many files hold code (all but the template, the README and the marker).
    pub fn code_files(&self) -> usize {
        self.files
            .keys()
            .filter(|f| !matches!(f.as_str(), "template.yaml" | "README.md" | MARKER))
            .count()
    }

    /// A file's text.
    pub fn text(&self, path: &str) -> Option<&str> {
        self.files
            .get(path)
            .and_then(|b| std::str::from_utf8(b).ok())
    }
}

/// Builds the export of `project` (whose relative paths are under `base_dir`).
pub fn bundle(project: &Project, base_dir: &Path) -> Result<Bundle> {
    let problems = project.validate();
    if let Some(first) = problems.first() {
        return Err(Error::Invalid(format!(
            "the project has {} problem(s); fix them before exporting: {first}",
            problems.len()
        )));
    }
    let order = project.topological_order()?;
    let mut ex = Export::new(project, base_dir);
    lake::buckets(&mut ex);
    lake::databases(&mut ex);
    for id in &order {
        let Some(node) = project.node(id) else {
            continue;
        };
        match &node.config {
            NodeConfig::Bucket(_) | NodeConfig::Catalog(_) => {}
            NodeConfig::Crawler(c) => lake::crawler(&mut ex, node, c),
            NodeConfig::Etl(c) => lake::etl(&mut ex, node, c),
            NodeConfig::Query(c) => lake::query(&mut ex, node, c),
            NodeConfig::EmrJob(c) => lake::emr_job(&mut ex, node, c),
            NodeConfig::Stream(c) => streaming::stream(&mut ex, node, c),
            NodeConfig::Lambda(c) => streaming::lambda(&mut ex, node, c)?,
            NodeConfig::Firehose(c) => streaming::firehose(&mut ex, node, c)?,
            NodeConfig::Analytics(c) => streaming::analytics(&mut ex, node, c),
            NodeConfig::Generator(_) => ex.leave_out(
                node,
                "a synthetic source: in AWS, your producers put the records (PutRecords)",
            ),
            NodeConfig::Replay(_) => ex.leave_out(
                node,
                "replays files into a stream for testing; AWS has no counterpart",
            ),
            NodeConfig::BrokerSource(_) | NodeConfig::BrokerSink(_) => ex.leave_out(
                node,
                "reads or writes a Redis stream, which is not part of the AWS deployment",
            ),
            NodeConfig::Filter(_)
            | NodeConfig::ApplyMapping(_)
            | NodeConfig::Join(_)
            | NodeConfig::Aggregate(_)
            | NodeConfig::Union(_)
            | NodeConfig::DropDuplicates(_)
            | NodeConfig::FillMissing(_) => ex.leave_out(
                node,
                "a visual transform: its SQL (the inspector's \"SQL it runs\") belongs in \
                 the Athena query, Glue job or Lambda that reads its output",
            ),
            NodeConfig::TableSink(_) => {
                ex.leave_out(node, "a live table in the designer; AWS has no counterpart")
            }
            NodeConfig::SeriesSink(_) => ex.leave_out(
                node,
                "a live chart in the designer; build it in CloudWatch or QuickSight",
            ),
        }
    }
    ex.finish()
}

/// Writes the export of `project` into `out`: built in a sibling folder, then put in
/// place of `out` (which must be missing, empty, or an earlier export), so a failed
/// export leaves the old one whole. Returns what was written.
pub fn export(project: &Project, base_dir: &Path, out: &Path) -> Result<Bundle> {
    let bundle = bundle(project, base_dir)?;
    write(&bundle, out)?;
    Ok(bundle)
}

/// Writes `bundle` into `out` (see [`export`]).
pub fn write(bundle: &Bundle, out: &Path) -> Result<()> {
    let io = |what: &str, path: &Path, e: std::io::Error| {
        Error::Invalid(format!("cannot {what} {}: {e}", path.display()))
    };
    if out.exists() {
        let mut entries = std::fs::read_dir(out).map_err(|e| io("read", out, e))?;
        if entries.next().is_some() && !out.join(MARKER).exists() {
            return Err(Error::Invalid(format!(
                "{} is not empty and is not an earlier export; choose an empty folder",
                out.display()
            )));
        }
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".to_owned());
    let parent = out.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| io("create", parent, e))?;
    let staging = parent.join(format!(".{name}.staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let result = (|| {
        for (rel, bytes) in &bundle.files {
            let path = staging.join(rel);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| io("create", dir, e))?;
            }
            std::fs::write(&path, bytes).map_err(|e| io("write", &path, e))?;
        }
        let old = parent.join(format!(".{name}.old-{}", std::process::id()));
        if out.exists() {
            std::fs::rename(out, &old).map_err(|e| io("move", out, e))?;
        }
        std::fs::rename(&staging, out).map_err(|e| io("move into place", out, e))?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

/// The state of one export: the template, the files, and what each node's resources
/// are called.
pub(crate) struct Export<'a> {
    pub project: &'a Project,
    pub base_dir: &'a Path,
    pub template: Template,
    pub files: BTreeMap<String, Vec<u8>>,
    pub left_out: Vec<(String, String)>,
    pub notes: Vec<String>,
    /// Bucket node → its bucket.
    pub buckets: BTreeMap<String, BucketRef>,
    /// Glue database name in the project → the parameter holding its deployed name.
    pub databases: BTreeMap<String, String>,
    /// Logical ID prefixes taken, by node.
    pub names: BTreeMap<String, String>,
    /// Columns worked out per (node, port).
    columns: BTreeMap<(String, String), Option<SchemaRef>>,
}

/// Where a bucket node's objects are in AWS.
#[derive(Clone, Debug)]
pub(crate) struct BucketRef {
    /// The parameter holding the bucket's name.
    pub param: String,
    /// The bucket resource's logical ID (none for a bucket that exists already).
    pub resource: Option<String>,
    /// The node's key prefix, `""` or ending in `/`.
    pub prefix: String,
}

impl BucketRef {
    /// `s3://<bucket>/<prefix><rest>` as an `Fn::Sub`.
    pub fn url(&self, rest: &str) -> Value {
        template::sub(&format!("s3://${{{}}}/{}{}", self.param, self.prefix, rest))
    }

    /// The bucket's ARN and its objects' ARN under `rest`.
    pub fn arns(&self, rest: &str) -> (Value, Value) {
        template::bucket_arns(&self.param, &format!("{}{rest}", self.prefix))
    }
}

impl<'a> Export<'a> {
    fn new(project: &'a Project, base_dir: &'a Path) -> Self {
        let mut template = Template::default();
        template.description = format!("{} (exported by Tributary)", project.name);
        Self {
            project,
            base_dir,
            template,
            files: BTreeMap::new(),
            left_out: Vec::new(),
            notes: Vec::new(),
            buckets: BTreeMap::new(),
            databases: BTreeMap::new(),
            names: BTreeMap::new(),
            columns: BTreeMap::new(),
        }
    }

    /// The logical-ID prefix of a node's resources: its id in PascalCase, unique.
    pub fn name(&mut self, node: &str) -> String {
        if let Some(n) = self.names.get(node) {
            return n.clone();
        }
        let base = pascal(node);
        let mut candidate = base.clone();
        let mut i = 2;
        while self.names.values().any(|n| *n == candidate) {
            candidate = format!("{base}{i}");
            i += 1;
        }
        self.names.insert(node.to_owned(), candidate.clone());
        candidate
    }

    /// The parameter naming the bucket of packaged code (Flink, EMR), added when used.
    pub fn artifacts(&mut self) -> &'static str {
        self.template.parameter(
            "ArtifactsBucketName",
            lake::bucket_name_parameter(
                None,
                "An existing bucket for the code packages README.md says to upload \
                 (Flink applications, EMR scripts)",
            ),
        );
        "ArtifactsBucketName"
    }

    /// Records that `node` has no resource, and why (a comment in the template).
    pub fn leave_out(&mut self, node: &Node, why: &str) {
        self.template.left_out.push(format!(
            "Not exported: '{}' ({}): {why}.",
            node.id,
            node.kind().as_str()
        ));
        self.left_out.push((node.id.clone(), why.to_owned()));
    }

    /// Adds a file to the output.
    pub fn file(&mut self, path: &str, text: impl Into<Vec<u8>>) {
        self.files.insert(path.to_owned(), text.into());
    }

    /// The nodes wired into `node`'s input `port`, with the output port each comes from.
    pub fn inputs(&self, node: &str, port: &str) -> Vec<(&'a Node, &'a str)> {
        let project = self.project;
        project
            .valid_edges()
            .filter(|e| e.to.node == node && e.to.port == port)
            .filter_map(|e| Some((project.node(&e.from.node)?, e.from.port.as_str())))
            .collect()
    }

    /// The nodes `node`'s output `port` is wired to, with the input port of each.
    pub fn outputs(&self, node: &str, port: &str) -> Vec<(&'a Node, &'a str)> {
        let project = self.project;
        project
            .valid_edges()
            .filter(|e| e.from.node == node && e.from.port == port)
            .filter_map(|e| Some((project.node(&e.to.node)?, e.to.port.as_str())))
            .collect()
    }

    /// The bucket wired into `node`'s `port` (a bucket node's `objects`).
    pub fn bucket_at(&self, node: &str, port: &str) -> Option<BucketRef> {
        self.inputs(node, port)
            .into_iter()
            .find_map(|(n, _)| self.buckets.get(&n.id).cloned())
    }

    /// The parameter of a Glue database (`default` included).
    pub fn database(&self, name: &str) -> String {
        self.databases
            .get(name)
            .cloned()
            .unwrap_or_else(|| format!("{}DatabaseName", pascal(name)))
    }

    /// The buckets upstream of `node` (each once), for read access.
    pub fn upstream_buckets(&self, node: &str) -> Vec<BucketRef> {
        let ancestors = self.project.ancestors_and_self(node).unwrap_or_default();
        let mut seen = Vec::<String>::new();
        let mut out = Vec::new();
        for id in ancestors {
            if let Some(b) = self.buckets.get(&id)
                && !seen.contains(&format!("{}{}", b.param, b.prefix))
            {
                seen.push(format!("{}{}", b.param, b.prefix));
                out.push(b.clone());
            }
        }
        out
    }

    /// The columns `node`'s output `port` carries, when they follow from the settings
    /// alone (a generator's events, declared columns, SQL planned over known input).
    pub fn columns(&mut self, node: &str, port: &str) -> Option<SchemaRef> {
        let key = (node.to_owned(), port.to_owned());
        if let Some(c) = self.columns.get(&key) {
            return c.clone();
        }
        // Guards against a cycle through a bad document.
        self.columns.insert(key.clone(), None);
        let found = code::columns_of(self, node, port);
        self.columns.insert(key, found.clone());
        found
    }

    fn finish(mut self) -> Result<Bundle> {
        let header = vec![
            format!(
                "CloudFormation template of the Tributary project '{}'.",
                self.project.name
            ),
            "Generated by `tributary export`; README.md beside it says how to deploy it."
                .to_owned(),
        ];
        let yaml = self.template.to_yaml(&header);
        self.file("template.yaml", yaml);
        let readme = code::readme(&self);
        self.file("README.md", readme);
        self.file(MARKER, format!("{}\n", self.project.name));
        Ok(Bundle {
            files: self.files,
            left_out: self.left_out,
            notes: self.notes,
        })
    }
}

/// `clicks_gen` → `ClicksGen` (letters and digits only, as logical IDs must be).
pub fn pascal(id: &str) -> String {
    let mut out = String::new();
    for part in id.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'N');
    }
    out
}

/// A name usable in S3 bucket names and Glue database names: lowercase letters, digits
/// and `sep`.
pub fn slug(text: &str, sep: char) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with(sep) {
            out.push(sep);
        }
    }
    out.trim_end_matches(sep).to_owned()
}

/// The path of an exported file for node `id`, e.g. `glue/weather_monthly.py`.
pub fn node_file(folder: &str, id: &str, ext: &str) -> String {
    format!("{folder}/{id}.{ext}")
}
