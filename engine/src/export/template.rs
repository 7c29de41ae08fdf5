//! The CloudFormation template being built: parameters, resources (each with
//! the comment that says which node it comes from), outputs, and the nodes left out; and
//! the IAM roles with least-privilege policies.

use serde_json::{Map, Value, json};

use super::yaml;

/// One resource and the comment lines written above it.
#[derive(Clone, Debug)]
pub struct Resource {
    /// Its logical ID.
    pub id: String,
    /// `# …` lines above it.
    pub comment: Vec<String>,
    /// `Type`, `Properties`, … .
    pub body: Value,
}

/// A template under construction. Everything keeps the order it was added in (nodes in
/// the project's topological order), so the same project gives the same text.
#[derive(Clone, Debug, Default)]
pub struct Template {
    /// The template's `Description`.
    pub description: String,
    /// Whether a resource needs the AWS SAM transform.
    pub serverless: bool,
    parameters: Vec<(String, Value)>,
    resources: Vec<Resource>,
    outputs: Vec<(String, Value)>,
    /// Comment lines at the top of `Resources:`: the nodes left out and why.
    pub left_out: Vec<String>,
}

impl Template {
    /// Adds a parameter (the first definition of an ID wins).
    pub fn parameter(&mut self, id: &str, body: Value) {
        if !self.parameters.iter().any(|(p, _)| p == id) {
            self.parameters.push((id.to_owned(), body));
        }
    }

    /// Adds a resource.
    pub fn resource(&mut self, id: &str, comment: &[String], body: Value) {
        self.resources.push(Resource {
            id: id.to_owned(),
            comment: comment.to_vec(),
            body,
        });
    }

    /// Adds an output.
    pub fn output(&mut self, id: &str, description: &str, value: Value) {
        self.outputs.push((
            id.to_owned(),
            json!({"Description": description, "Value": value}),
        ));
    }

    /// Whether a resource of this ID exists.
    pub fn has(&self, id: &str) -> bool {
        self.resources.iter().any(|r| r.id == id)
    }

    /// The resources, in order.
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// A resource's body, to add to it.
    pub fn resource_mut(&mut self, id: &str) -> Option<&mut Value> {
        self.resources
            .iter_mut()
            .find(|r| r.id == id)
            .map(|r| &mut r.body)
    }

    /// The parameters' IDs.
    pub fn parameter_ids(&self) -> impl Iterator<Item = &str> {
        self.parameters.iter().map(|(p, _)| p.as_str())
    }

    /// The template as YAML.
    pub fn to_yaml(&self, header: &[String]) -> String {
        let mut out = String::new();
        for line in header {
            push_comment(&mut out, line, 0);
        }
        out.push_str("AWSTemplateFormatVersion: \"2010-09-09\"\n");
        if self.serverless {
            out.push_str("Transform: AWS::Serverless-2016-10-31\n");
        }
        out.push_str("Description: ");
        out.push_str(&yaml::scalar_text(&self.description));
        out.push('\n');
        if !self.parameters.is_empty() {
            out.push_str("\nParameters:\n");
            yaml::write_block(&mut out, &Value::Object(to_map(&self.parameters)), 2);
        }
        out.push_str("\nResources:\n");
        for line in &self.left_out {
            push_comment(&mut out, line, 2);
        }
        for r in &self.resources {
            if !r.comment.is_empty() || !out.ends_with(":\n") {
                out.push('\n');
            }
            for line in &r.comment {
                push_comment(&mut out, line, 2);
            }
            out.push_str(&format!("  {}:\n", r.id));
            yaml::write_block(&mut out, &r.body, 4);
        }
        if !self.outputs.is_empty() {
            out.push_str("\nOutputs:\n");
            yaml::write_block(&mut out, &Value::Object(to_map(&self.outputs)), 2);
        }
        out
    }
}

fn to_map(entries: &[(String, Value)]) -> Map<String, Value> {
    entries.iter().cloned().collect()
}

fn push_comment(out: &mut String, line: &str, indent: usize) {
    for l in line.split('\n') {
        out.push_str(&" ".repeat(indent));
        out.push('#');
        if !l.is_empty() {
            out.push(' ');
            out.push_str(l);
        }
        out.push('\n');
    }
}

/// `{"Ref": id}`.
pub fn reference(id: &str) -> Value {
    json!({ "Ref": id })
}

/// `{"Fn::GetAtt": [id, attribute]}`.
pub fn get_att(id: &str, attribute: &str) -> Value {
    json!({ "Fn::GetAtt": [id, attribute] })
}

/// `{"Fn::Sub": text}`.
pub fn sub(text: &str) -> Value {
    json!({ "Fn::Sub": text })
}

/// One statement of an IAM policy: what may be done to which resources.
#[derive(Clone, Debug)]
pub struct Statement {
    /// Actions, e.g. `kinesis:GetRecords`.
    pub actions: Vec<&'static str>,
    /// The resources (ARNs as `Fn::GetAtt`, `Fn::Sub` or `Ref` of this template's
    /// resources and parameters).
    pub resources: Vec<Value>,
}

impl Statement {
    /// A statement.
    pub fn new(actions: &[&'static str], resources: Vec<Value>) -> Self {
        Self {
            actions: actions.to_vec(),
            resources,
        }
    }
}

/// An IAM role a service assumes, with one inline policy of `statements`.
pub fn role(service: &str, policy_name: &str, statements: &[Statement]) -> Value {
    let statements: Vec<Value> = statements
        .iter()
        .filter(|s| !s.resources.is_empty())
        .map(|s| {
            json!({
                "Effect": "Allow",
                "Action": s.actions,
                "Resource": s.resources,
            })
        })
        .collect();
    json!({
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sts:AssumeRole",
                }],
            },
            "Policies": [{
                "PolicyName": policy_name,
                "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
            }],
        },
    })
}

/// A bucket's ARN and the ARN of its objects under `prefix` (`""`: every object), from
/// the bucket-name parameter `name_param`.
pub fn bucket_arns(name_param: &str, prefix: &str) -> (Value, Value) {
    (
        sub(&format!("arn:${{AWS::Partition}}:s3:::${{{name_param}}}")),
        sub(&format!(
            "arn:${{AWS::Partition}}:s3:::${{{name_param}}}/{}*",
            prefix.trim_start_matches('/')
        )),
    )
}
