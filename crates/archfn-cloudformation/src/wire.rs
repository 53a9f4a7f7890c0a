//! The query protocol: a form-encoded `Action` and its members in, XML out
//! (`<XResponse><XResult>…</XResult><ResponseMetadata>…`), errors as `<ErrorResponse>`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use archfn_blob::BlobStore;
use archfn_store::objects::ObjectCatalog;

use crate::engine::{ChangeSet, Engine, Stack, StackInput};
use crate::error::CfnError;
use crate::template::{self, GivenParameter};

const XMLNS: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";

/// The largest request body taken (a 1 MB template URL's request is small; a 51,200-byte body
/// grows when form-encoded).
pub const MAX_REQUEST_BYTES: usize = 1_048_576;

/// The operations served.
pub const ACTIONS: &[&str] = &[
    "CreateStack",
    "UpdateStack",
    "DeleteStack",
    "DescribeStacks",
    "DescribeStackEvents",
    "DescribeStackResources",
    "DescribeStackResource",
    "ListStacks",
    "ListStackResources",
    "GetTemplate",
    "ValidateTemplate",
    "GetTemplateSummary",
    "CreateChangeSet",
    "DescribeChangeSet",
    "ExecuteChangeSet",
    "DeleteChangeSet",
    "ListChangeSets",
];

/// CloudFormation's endpoint: decodes requests, runs them on the engine, encodes answers.
#[derive(Debug, Clone)]
pub struct CloudFormation {
    engine: Engine,
    objects: Arc<dyn ObjectCatalog>,
    blobs: Arc<dyn BlobStore>,
}

/// A form body's members.
type Form = BTreeMap<String, String>;

/// Whether a form body is a CloudFormation request: `Version=2010-05-15` and an `Action`.
pub fn is_cloudformation_form(body: &[u8]) -> bool {
    let mut version = false;
    let mut action = false;
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "Version" => version = v == "2010-05-15",
            "Action" => action = !v.is_empty(),
            _ => {}
        }
    }
    version && action
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

fn time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

fn tag(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, "<{name}>{}</{name}>", esc(value));
}

fn opt(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        tag(out, name, v);
    }
}

/// `prefix.member.N.field` members, N from 1, as a list of maps.
fn members(form: &Form, prefix: &str) -> Vec<BTreeMap<String, String>> {
    let mut out: BTreeMap<usize, BTreeMap<String, String>> = BTreeMap::new();
    let head = format!("{prefix}.member.");
    for (k, v) in form {
        if let Some(rest) = k.strip_prefix(&head) {
            let (n, field) = rest.split_once('.').unwrap_or((rest, ""));
            if let Ok(n) = n.parse::<usize>()
                && n <= 1000
            {
                out.entry(n)
                    .or_default()
                    .insert(field.to_owned(), v.clone());
            }
        }
    }
    out.into_values().collect()
}

/// An error answer: status and XML.
pub fn error_response(e: &CfnError, request_id: &str) -> (u16, String) {
    (
        e.status(),
        error_document(e.fault(), e.code(), &e.to_string(), request_id),
    )
}

fn error_document(fault: &str, code: &str, message: &str, request_id: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        esc(fault),
        esc(code),
        esc(message)
    )
}

/// An error document of a refusal made before CloudFormation saw the request (a signature, a
/// size): `fault` is `Sender` or `Receiver`.
pub fn error_xml(fault: &str, code: &str, message: &str) -> String {
    error_document(fault, code, message, &uuid::Uuid::new_v4().to_string())
}

impl CloudFormation {
    /// The endpoint over `engine`; templates named by URL are read from archfn's S3.
    pub fn new(engine: Engine, objects: Arc<dyn ObjectCatalog>, blobs: Arc<dyn BlobStore>) -> Self {
        CloudFormation {
            engine,
            objects,
            blobs,
        }
    }

    /// Answers one request: status and XML body.
    pub async fn handle(&self, region: &str, body: &[u8]) -> (u16, String) {
        let request_id = uuid::Uuid::new_v4().to_string();
        if body.len() > MAX_REQUEST_BYTES {
            return error_response(
                &CfnError::Validation("Request body too large".into()),
                &request_id,
            );
        }
        let form: Form = form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let action = form.get("Action").cloned().unwrap_or_default();
        match self.dispatch(region, &action, &form).await {
            Ok(result) => (
                200,
                format!(
                    "<{action}Response xmlns=\"{XMLNS}\"><{action}Result>{result}</{action}Result><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
                ),
            ),
            Err(e) => error_response(&e, &request_id),
        }
    }

    async fn template_body(&self, form: &Form) -> Result<Option<String>, CfnError> {
        if let Some(body) = form.get("TemplateBody") {
            if body.len() > template::MAX_BODY_BYTES {
                return Err(CfnError::Validation(format!(
                    "1 validation error detected: Value '{}' at 'templateBody' failed to satisfy constraint: Member must have length less than or equal to {}",
                    "[template]",
                    template::MAX_BODY_BYTES
                )));
            }
            return Ok(Some(body.clone()));
        }
        let Some(url) = form.get("TemplateURL") else {
            return Ok(None);
        };
        let Some((bucket, key)) = s3_location(url) else {
            return Err(CfnError::Validation(
                "TemplateURL must be a supported URL.".into(),
            ));
        };
        let object = self
            .objects
            .get_object(&bucket, &key)
            .await
            .map_err(|e| CfnError::Internal(e.to_string()))?
            .ok_or_else(|| {
                CfnError::Validation(format!(
                    "S3 error: The specified key does not exist. TemplateURL {url}"
                ))
            })?;
        if object.size > template::MAX_URL_TEMPLATE_BYTES as u64 {
            return Err(CfnError::Validation(
                "Template may not exceed 1048576 bytes in size.".into(),
            ));
        }
        let bytes = self
            .blobs
            .get(&object.digest)
            .await
            .map_err(|e| CfnError::Internal(e.to_string()))?;
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| CfnError::Validation("Template format error: not UTF-8".into()))
    }

    async fn stack_input(&self, form: &Form) -> Result<StackInput, CfnError> {
        let stack_name = form
            .get("StackName")
            .cloned()
            .ok_or_else(|| CfnError::Validation("1 validation error detected: Value null at 'stackName' failed to satisfy constraint: Member must not be null".into()))?;
        Ok(StackInput {
            stack_name,
            template_body: self.template_body(form).await?,
            use_previous_template: form.get("UsePreviousTemplate").is_some_and(|v| v == "true"),
            parameters: members(form, "Parameters")
                .into_iter()
                .filter_map(|m| {
                    Some(GivenParameter {
                        key: m.get("ParameterKey")?.clone(),
                        value: m.get("ParameterValue").cloned(),
                        use_previous: m.get("UsePreviousValue").is_some_and(|v| v == "true"),
                    })
                })
                .collect(),
            capabilities: members(form, "Capabilities")
                .into_iter()
                .filter_map(|m| m.get("").cloned())
                .collect(),
            tags: members(form, "Tags")
                .into_iter()
                .filter_map(|m| Some((m.get("Key")?.clone(), m.get("Value")?.clone())))
                .collect(),
            disable_rollback: form.get("DisableRollback").is_some_and(|v| v == "true")
                || form.get("OnFailure").is_some_and(|v| v == "DO_NOTHING"),
        })
    }

    async fn dispatch(&self, region: &str, action: &str, form: &Form) -> Result<String, CfnError> {
        let e = &self.engine;
        let mut out = String::new();
        match action {
            "CreateStack" => {
                let id = e
                    .create_stack(region, self.stack_input(form).await?)
                    .await?;
                tag(&mut out, "StackId", &id);
            }
            "UpdateStack" => {
                let id = e
                    .update_stack(region, self.stack_input(form).await?)
                    .await?;
                tag(&mut out, "StackId", &id);
            }
            "DeleteStack" => {
                e.delete_stack(region, name(form, "StackName")?).await?;
            }
            "DescribeStacks" => {
                let stacks = match form.get("StackName") {
                    Some(n) => vec![e.describe(region, n)?],
                    None => e
                        .list(region)
                        .into_iter()
                        .filter(|s| s.deleted_ms.is_none())
                        .collect(),
                };
                out.push_str("<Stacks>");
                for s in &stacks {
                    stack_xml(&mut out, s);
                }
                out.push_str("</Stacks>");
            }
            "ListStacks" => {
                let filter: Vec<String> = members(form, "StackStatusFilter")
                    .into_iter()
                    .filter_map(|m| m.get("").cloned())
                    .collect();
                out.push_str("<StackSummaries>");
                for s in e.list(region) {
                    if !filter.is_empty() && !filter.contains(&s.status) {
                        continue;
                    }
                    out.push_str("<member>");
                    tag(&mut out, "StackId", &s.stack_id);
                    tag(&mut out, "StackName", &s.name);
                    opt(&mut out, "TemplateDescription", s.description.as_deref());
                    tag(&mut out, "CreationTime", &time(s.created_ms));
                    if let Some(t) = s.updated_ms {
                        tag(&mut out, "LastUpdatedTime", &time(t));
                    }
                    if let Some(t) = s.deleted_ms {
                        tag(&mut out, "DeletionTime", &time(t));
                    }
                    tag(&mut out, "StackStatus", &s.status);
                    opt(&mut out, "StackStatusReason", s.status_reason.as_deref());
                    out.push_str("</member>");
                }
                out.push_str("</StackSummaries>");
            }
            "DescribeStackEvents" => {
                let events = e.events(region, name(form, "StackName")?).await?;
                out.push_str("<StackEvents>");
                for ev in events {
                    out.push_str("<member>");
                    tag(&mut out, "StackId", &ev.stack_id);
                    tag(&mut out, "EventId", &ev.event_id);
                    tag(&mut out, "StackName", &ev.stack_name);
                    tag(&mut out, "LogicalResourceId", &ev.logical_id);
                    opt(&mut out, "PhysicalResourceId", ev.physical_id.as_deref());
                    tag(&mut out, "ResourceType", &ev.kind);
                    tag(&mut out, "Timestamp", &time(ev.timestamp_ms));
                    tag(&mut out, "ResourceStatus", &ev.status);
                    opt(&mut out, "ResourceStatusReason", ev.reason.as_deref());
                    out.push_str("</member>");
                }
                out.push_str("</StackEvents>");
            }
            "DescribeStackResources" | "ListStackResources" | "DescribeStackResource" => {
                let s = e.describe(region, name(form, "StackName")?)?;
                let wanted = form.get("LogicalResourceId");
                let (open, close) = match action {
                    "ListStackResources" => {
                        ("<StackResourceSummaries>", "</StackResourceSummaries>")
                    }
                    "DescribeStackResources" => ("<StackResources>", "</StackResources>"),
                    _ => ("", ""),
                };
                out.push_str(open);
                let mut found = false;
                for r in &s.resources {
                    if wanted.is_some_and(|w| w != &r.logical_id) {
                        continue;
                    }
                    found = true;
                    out.push_str(if action == "DescribeStackResource" {
                        "<StackResourceDetail>"
                    } else {
                        "<member>"
                    });
                    if action != "ListStackResources" {
                        tag(&mut out, "StackName", &s.name);
                        tag(&mut out, "StackId", &s.stack_id);
                    }
                    tag(&mut out, "LogicalResourceId", &r.logical_id);
                    opt(&mut out, "PhysicalResourceId", r.physical_id.as_deref());
                    tag(&mut out, "ResourceType", &r.kind);
                    let stamp = if action == "DescribeStackResources" {
                        "Timestamp"
                    } else {
                        "LastUpdatedTimestamp"
                    };
                    tag(&mut out, stamp, &time(r.updated_ms));
                    tag(&mut out, "ResourceStatus", &r.status);
                    opt(&mut out, "ResourceStatusReason", r.reason.as_deref());
                    out.push_str(if action == "DescribeStackResource" {
                        "</StackResourceDetail>"
                    } else {
                        "</member>"
                    });
                }
                out.push_str(close);
                if action == "DescribeStackResource" && !found {
                    return Err(CfnError::Validation(format!(
                        "Resource {} does not exist for stack {}",
                        wanted.map(String::as_str).unwrap_or(""),
                        s.name
                    )));
                }
            }
            "GetTemplate" => {
                let stage = form.get("TemplateStage").map(String::as_str);
                if let Some(s) = stage
                    && s != "Original"
                    && s != "Processed"
                {
                    return Err(CfnError::Validation(format!(
                        "1 validation error detected: Value '{s}' at 'templateStage' failed to satisfy constraint: Member must satisfy enum value set: [Original, Processed]"
                    )));
                }
                // A stack has both stages (the same text without a transform); a change set
                // has its processed template once it is made, which a failed one never was.
                let (original, processed, stages): (String, Option<String>, &[&str]) =
                    match (form.get("ChangeSetName"), form.get("StackName")) {
                        (Some(cs), stack) => {
                            let cs = e.change_set(region, cs, stack.map(String::as_str))?.1;
                            let made = cs.status != "FAILED" || cs.processed_body.is_some();
                            let processed = cs
                                .processed_body
                                .clone()
                                .or_else(|| made.then(|| cs.template_body.clone()));
                            let stages: &[&str] = if processed.is_some() {
                                &["Original", "Processed"]
                            } else {
                                &["Original"]
                            };
                            (cs.template_body, processed, stages)
                        }
                        (None, _) => {
                            let s = e.describe(region, name(form, "StackName")?)?;
                            let processed =
                                s.processed_body.unwrap_or_else(|| s.template_body.clone());
                            (s.template_body, Some(processed), &["Original", "Processed"])
                        }
                    };
                let body = match stage {
                    Some("Processed") => processed.ok_or_else(|| {
                        CfnError::Validation("Template in Processed stage is not available".into())
                    })?,
                    _ => original,
                };
                tag(&mut out, "TemplateBody", &body);
                out.push_str("<StagesAvailable>");
                for s in stages {
                    tag(&mut out, "member", s);
                }
                out.push_str("</StagesAvailable>");
            }
            "ValidateTemplate" | "GetTemplateSummary" => {
                let body = match self.template_body(form).await? {
                    Some(b) => b,
                    None if action == "GetTemplateSummary" && form.contains_key("StackName") => {
                        e.describe(region, name(form, "StackName")?)?.template_body
                    }
                    None => {
                        return Err(CfnError::Validation(
                            "Either Template URL or Template Body must be specified.".into(),
                        ));
                    }
                };
                let t = e.summarize(&body)?;
                out.push_str("<Parameters>");
                for p in &t.parameters {
                    out.push_str("<member>");
                    tag(&mut out, "ParameterKey", &p.name);
                    if action == "GetTemplateSummary" {
                        tag(&mut out, "ParameterType", &p.kind);
                    }
                    opt(&mut out, "DefaultValue", p.default.as_deref());
                    tag(&mut out, "NoEcho", if p.no_echo { "true" } else { "false" });
                    opt(&mut out, "Description", p.description.as_deref());
                    out.push_str("</member>");
                }
                out.push_str("</Parameters>");
                opt(&mut out, "Description", t.description.as_deref());
                if t.resources.iter().any(|r| r.kind == "AWS::IAM::Role") {
                    out.push_str("<Capabilities><member>CAPABILITY_IAM</member></Capabilities>");
                    tag(
                        &mut out,
                        "CapabilitiesReason",
                        "The following resource(s) require capabilities: [AWS::IAM::Role]",
                    );
                }
                if !t.transforms.is_empty() {
                    out.push_str("<DeclaredTransforms>");
                    for x in &t.transforms {
                        tag(&mut out, "member", x);
                    }
                    out.push_str("</DeclaredTransforms>");
                }
                if action == "GetTemplateSummary" {
                    let mut kinds: Vec<&str> =
                        t.resources.iter().map(|r| r.kind.as_str()).collect();
                    kinds.sort_unstable();
                    kinds.dedup();
                    out.push_str("<ResourceTypes>");
                    for k in kinds {
                        tag(&mut out, "member", k);
                    }
                    out.push_str("</ResourceTypes>");
                    tag(&mut out, "Version", "2010-09-09");
                }
            }
            "CreateChangeSet" => {
                let input = self.stack_input(form).await?;
                let kind = form
                    .get("ChangeSetType")
                    .map(String::as_str)
                    .unwrap_or("UPDATE");
                if !matches!(kind, "CREATE" | "UPDATE") {
                    return Err(CfnError::Validation(format!(
                        "ChangeSetType {kind} is not supported"
                    )));
                }
                let (id, stack_id) = e
                    .create_change_set(
                        region,
                        input,
                        name(form, "ChangeSetName")?,
                        kind,
                        form.get("Description").cloned(),
                    )
                    .await?;
                tag(&mut out, "Id", &id);
                tag(&mut out, "StackId", &stack_id);
            }
            "DescribeChangeSet" => {
                let (s, cs) = e.change_set(
                    region,
                    name(form, "ChangeSetName")?,
                    form.get("StackName").map(String::as_str),
                )?;
                change_set_xml(&mut out, &s, &cs);
            }
            "ExecuteChangeSet" => {
                e.execute_change_set(
                    region,
                    name(form, "ChangeSetName")?,
                    form.get("StackName").map(String::as_str),
                )
                .await?;
            }
            "DeleteChangeSet" => {
                e.delete_change_set(
                    region,
                    name(form, "ChangeSetName")?,
                    form.get("StackName").map(String::as_str),
                )
                .await?;
            }
            "ListChangeSets" => {
                let s = e.describe(region, name(form, "StackName")?)?;
                out.push_str("<Summaries>");
                for cs in &s.change_sets {
                    out.push_str("<member>");
                    tag(&mut out, "StackId", &s.stack_id);
                    tag(&mut out, "StackName", &s.name);
                    tag(&mut out, "ChangeSetId", &cs.id);
                    tag(&mut out, "ChangeSetName", &cs.name);
                    tag(&mut out, "ExecutionStatus", &cs.execution_status);
                    tag(&mut out, "Status", &cs.status);
                    opt(&mut out, "StatusReason", cs.status_reason.as_deref());
                    tag(&mut out, "CreationTime", &time(cs.created_ms));
                    opt(&mut out, "Description", cs.description.as_deref());
                    out.push_str("</member>");
                }
                out.push_str("</Summaries>");
            }
            other => {
                return Err(CfnError::InvalidAction(format!(
                    "Could not find operation {other} for version 2010-05-15"
                )));
            }
        }
        Ok(out)
    }
}

fn name<'f>(form: &'f Form, key: &str) -> Result<&'f str, CfnError> {
    form.get(key).map(String::as_str).ok_or_else(|| {
        let mut field = key.to_owned();
        if let Some(first) = field.get_mut(0..1) {
            first.make_ascii_lowercase();
        }
        CfnError::Validation(format!(
            "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

fn parameters_xml(out: &mut String, s: &Stack, values: &BTreeMap<String, String>) {
    out.push_str("<Parameters>");
    for (k, v) in values {
        out.push_str("<member>");
        tag(out, "ParameterKey", k);
        tag(
            out,
            "ParameterValue",
            if s.no_echo.contains(k) { "****" } else { v },
        );
        out.push_str("</member>");
    }
    out.push_str("</Parameters>");
}

fn stack_xml(out: &mut String, s: &Stack) {
    out.push_str("<member>");
    tag(out, "StackId", &s.stack_id);
    tag(out, "StackName", &s.name);
    opt(out, "Description", s.description.as_deref());
    parameters_xml(out, s, &s.parameters);
    tag(out, "CreationTime", &time(s.created_ms));
    if let Some(t) = s.updated_ms {
        tag(out, "LastUpdatedTime", &time(t));
    }
    if let Some(t) = s.deleted_ms {
        tag(out, "DeletionTime", &time(t));
    }
    tag(out, "StackStatus", &s.status);
    opt(out, "StackStatusReason", s.status_reason.as_deref());
    tag(
        out,
        "DisableRollback",
        if s.disable_rollback { "true" } else { "false" },
    );
    out.push_str("<NotificationARNs/>");
    if !s.capabilities.is_empty() {
        out.push_str("<Capabilities>");
        for c in &s.capabilities {
            tag(out, "member", c);
        }
        out.push_str("</Capabilities>");
    }
    if !s.outputs.is_empty() {
        out.push_str("<Outputs>");
        for o in &s.outputs {
            out.push_str("<member>");
            tag(out, "OutputKey", &o.key);
            tag(out, "OutputValue", &o.value);
            opt(out, "Description", o.description.as_deref());
            opt(out, "ExportName", o.export_name.as_deref());
            out.push_str("</member>");
        }
        out.push_str("</Outputs>");
    }
    out.push_str("<Tags>");
    for (k, v) in &s.tags {
        out.push_str("<member>");
        tag(out, "Key", k);
        tag(out, "Value", v);
        out.push_str("</member>");
    }
    out.push_str("</Tags>");
    tag(out, "EnableTerminationProtection", "false");
    out.push_str(
        "<DriftInformation><StackDriftStatus>NOT_CHECKED</StackDriftStatus></DriftInformation>",
    );
    out.push_str("</member>");
}

fn change_set_xml(out: &mut String, s: &Stack, cs: &ChangeSet) {
    tag(out, "ChangeSetName", &cs.name);
    tag(out, "ChangeSetId", &cs.id);
    tag(out, "StackId", &s.stack_id);
    tag(out, "StackName", &s.name);
    opt(out, "Description", cs.description.as_deref());
    parameters_xml(out, s, &cs.parameters);
    tag(out, "CreationTime", &time(cs.created_ms));
    tag(out, "ExecutionStatus", &cs.execution_status);
    tag(out, "Status", &cs.status);
    opt(out, "StatusReason", cs.status_reason.as_deref());
    out.push_str("<NotificationARNs/>");
    if !cs.capabilities.is_empty() {
        out.push_str("<Capabilities>");
        for c in &cs.capabilities {
            tag(out, "member", c);
        }
        out.push_str("</Capabilities>");
    }
    out.push_str("<Changes>");
    for c in &cs.changes {
        out.push_str("<member><Type>Resource</Type><ResourceChange>");
        tag(out, "Action", &c.action);
        tag(out, "LogicalResourceId", &c.logical_id);
        opt(out, "PhysicalResourceId", c.physical_id.as_deref());
        tag(out, "ResourceType", &c.kind);
        opt(out, "Replacement", c.replacement.as_deref());
        out.push_str("<Scope/><Details/></ResourceChange></member>");
    }
    out.push_str("</Changes>");
    tag(out, "IncludeNestedStacks", "false");
}

/// The bucket and key of a template URL on archfn's S3: path style
/// (`http://host/bucket/key`) or virtual-host style (`http://bucket.s3.…/key`).
pub fn s3_location(url: &str) -> Option<(String, String)> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    let host = host.split(':').next().unwrap_or(host);
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let decode = |s: &str| percent_decode(s);
    if let Some(idx) = host.find(".s3.").or_else(|| host.find(".s3-")) {
        let bucket = &host[..idx];
        if !bucket.is_empty() && !path.is_empty() {
            return Some((bucket.to_owned(), decode(path)?));
        }
    }
    let (bucket, key) = path.split_once('/')?;
    if bucket.is_empty() || key.is_empty() {
        return None;
    }
    Some((bucket.to_owned(), decode(key)?))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_template_urls() {
        assert_eq!(
            s3_location("http://127.0.0.1:9000/bucket/dir/t.yaml"),
            Some(("bucket".into(), "dir/t.yaml".into()))
        );
        assert_eq!(
            s3_location("https://bucket.s3.us-east-1.amazonaws.com/t%20x.yaml?v=1"),
            Some(("bucket".into(), "t x.yaml".into()))
        );
        assert_eq!(s3_location("file:///etc/passwd"), None);
        assert_eq!(s3_location("http://host/"), None);
    }

    #[test]
    fn tells_cloudformation_forms() {
        assert!(is_cloudformation_form(
            b"Action=DescribeStacks&Version=2010-05-15"
        ));
        assert!(!is_cloudformation_form(
            b"Action=DescribeStacks&Version=2011-01-01"
        ));
        assert!(!is_cloudformation_form(b"{\"x\":1}"));
    }

    #[test]
    fn reads_members_and_escapes_errors() {
        let form: Form = form_urlencoded::parse(
            b"Parameters.member.2.ParameterKey=B&Parameters.member.1.ParameterKey=A&Parameters.member.1.ParameterValue=x",
        )
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
        let m = members(&form, "Parameters");
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].get("ParameterKey").map(String::as_str), Some("A"));
        let (status, xml) = error_response(&CfnError::Validation("a < b".into()), "r");
        assert_eq!(status, 400);
        assert!(xml.contains("<Code>ValidationError</Code><Message>a &lt; b</Message>"));
    }
}
