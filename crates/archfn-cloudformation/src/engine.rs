//! Stacks: operations checked at once and carried out in the background in dependency order,
//! with CloudFormation's stack and resource states, events, rollbacks and change sets. Every
//! change is written to the store before it is visible.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use archfn_store::stacks::{StackCatalog, StackRow};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::CfnError;
use crate::graph;
use crate::intrinsic::{Scope, as_text};
use crate::resources::{Made, Owner, Providers, SUPPORTED_TYPES, Updated};
use crate::shift::{AliasShift, AliasShifts};
use crate::template::{self, GivenParameter, Template};

/// A resource of a stack.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResourceState {
    /// Logical id.
    pub logical_id: String,
    /// Type.
    pub kind: String,
    /// Physical id, once made.
    pub physical_id: Option<String>,
    /// Its status (`CREATE_COMPLETE`…).
    pub status: String,
    /// Why, when it failed.
    pub reason: Option<String>,
    /// Its properties, intrinsics resolved.
    pub properties: Value,
    /// Its attributes.
    pub attributes: BTreeMap<String, Value>,
    /// Last changed, Unix ms.
    pub updated_ms: i64,
    /// `DeletionPolicy: Retain`: kept when its stack is deleted.
    #[serde(default)]
    pub retain: bool,
}

/// An output.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutputState {
    /// Its key.
    pub key: String,
    /// Its value.
    pub value: String,
    /// Its description.
    pub description: Option<String>,
    /// Its export's name.
    pub export_name: Option<String>,
}

/// One change a change set would make.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Change {
    /// `Add`, `Modify` or `Remove`.
    pub action: String,
    /// Logical id.
    pub logical_id: String,
    /// Physical id, for a resource that exists.
    pub physical_id: Option<String>,
    /// Type.
    pub kind: String,
    /// `True`, `False` or `Conditional` (Modify only).
    pub replacement: Option<String>,
}

/// A change set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChangeSet {
    /// Its id (an ARN).
    pub id: String,
    /// Its name.
    pub name: String,
    /// `CREATE` or `UPDATE`.
    pub kind: String,
    /// `CREATE_COMPLETE`, `FAILED`, `DELETE_COMPLETE`…
    pub status: String,
    /// `AVAILABLE`, `UNAVAILABLE`, `EXECUTE_COMPLETE`…
    pub execution_status: String,
    /// Why it failed.
    pub status_reason: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// Created, Unix ms.
    pub created_ms: i64,
    /// The template it would apply.
    pub template_body: String,
    /// That template after its transforms (JSON), when it names one.
    #[serde(default)]
    pub processed_body: Option<String>,
    /// The parameter values it would apply.
    pub parameters: BTreeMap<String, String>,
    /// The capabilities given.
    pub capabilities: Vec<String>,
    /// What it would change.
    pub changes: Vec<Change>,
}

/// A stack.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stack {
    /// Its id (an ARN).
    pub stack_id: String,
    /// Its name.
    pub name: String,
    /// Its region.
    pub region: String,
    /// Its status.
    pub status: String,
    /// Why it has that status.
    pub status_reason: Option<String>,
    /// Created, Unix ms.
    pub created_ms: i64,
    /// Last updated, Unix ms.
    pub updated_ms: Option<i64>,
    /// Deleted, Unix ms.
    pub deleted_ms: Option<i64>,
    /// The template's description.
    pub description: Option<String>,
    /// The template in effect.
    pub template_body: String,
    /// That template after its transforms (JSON), when it names one.
    #[serde(default)]
    pub processed_body: Option<String>,
    /// Parameter values in effect.
    pub parameters: BTreeMap<String, String>,
    /// Parameters whose values are masked.
    pub no_echo: BTreeSet<String>,
    /// Its resources, in creation order.
    pub resources: Vec<ResourceState>,
    /// Its outputs.
    pub outputs: Vec<OutputState>,
    /// Capabilities acknowledged.
    pub capabilities: Vec<String>,
    /// Tags.
    pub tags: Vec<(String, String)>,
    /// Keep what was made when creation fails.
    pub disable_rollback: bool,
    /// Its change sets.
    pub change_sets: Vec<ChangeSet>,
    /// Events written so far.
    pub event_count: i64,
}

/// An event of a stack.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StackEvent {
    /// Its id.
    pub event_id: String,
    /// The stack's id.
    pub stack_id: String,
    /// The stack's name.
    pub stack_name: String,
    /// The resource's logical id (the stack's name for the stack).
    pub logical_id: String,
    /// The resource's physical id.
    pub physical_id: Option<String>,
    /// The resource's type.
    pub kind: String,
    /// When, Unix ms.
    pub timestamp_ms: i64,
    /// The status reached.
    pub status: String,
    /// Why.
    pub reason: Option<String>,
}

/// A request to create or update a stack (or a change set).
#[derive(Debug, Clone, Default)]
pub struct StackInput {
    /// The stack's name (or id).
    pub stack_name: String,
    /// The template's text.
    pub template_body: Option<String>,
    /// Keep the template in effect.
    pub use_previous_template: bool,
    /// Parameters given.
    pub parameters: Vec<GivenParameter>,
    /// Capabilities acknowledged.
    pub capabilities: Vec<String>,
    /// Tags.
    pub tags: Vec<(String, String)>,
    /// Keep what was made when creation fails.
    pub disable_rollback: bool,
}

/// A template checked and evaluated up to what needs no resource.
#[derive(Debug, Clone)]
struct Prepared {
    template: Template,
    body: String,
    /// The template after the SAM transform, when it names it.
    processed: Option<String>,
    parameters: BTreeMap<String, String>,
    order: Vec<String>,
}

/// Reads and checks a template: syntax, resource types, references, cycles. A template naming
/// the SAM transform is checked as written (its `AWS::Serverless::*` types are the transform's).
pub fn check_template(body: &str) -> Result<Template, CfnError> {
    let raw = template::parse_text(body)?;
    let t = Template::from_value(raw)?;
    if t.needs_sam_transform() {
        return Ok(t);
    }
    check_plain(&t)?;
    Ok(t)
}

/// The capability a template with a transform needs for CreateStack and UpdateStack (a change
/// set needs none: its changes are reviewed before they are made).
pub const AUTO_EXPAND: &str = "CAPABILITY_AUTO_EXPAND";

/// Expands a template through the SAM transform (`raw` is the template's tree, `parameters` the
/// values of its parameters): the plain template and its JSON text, or the transform's error.
pub fn expand_sam(
    raw: Value,
    context: &archfn_sam::TransformContext,
) -> Result<(Template, String), CfnError> {
    let out =
        archfn_sam::transform(raw, context).map_err(|e| CfnError::Validation(e.to_string()))?;
    let text = serde_json::to_string(&out).map_err(|e| CfnError::Internal(e.to_string()))?;
    let t = Template::from_value(out)?;
    check_plain(&t)?;
    Ok((t, text))
}

/// Checks a template without transforms: resource types, references, cycles.
fn check_plain(t: &Template) -> Result<(), CfnError> {
    let unknown: BTreeSet<&str> = t
        .resources
        .iter()
        .map(|r| r.kind.as_str())
        .filter(|k| !SUPPORTED_TYPES.contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(CfnError::Validation(format!(
            "Template format error: Unrecognized resource types: [{}]",
            unknown.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    graph::creation_order(t)?;
    Ok(())
}

/// Most live stacks a region holds (CloudFormation's quota).
pub const MAX_STACKS: usize = 2000;

fn now_ms() -> i64 {
    archfn_model::time::now_ms()
}

/// Whether a stack in this status can be updated.
fn updatable(status: &str) -> bool {
    matches!(
        status,
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "UPDATE_ROLLBACK_COMPLETE"
    )
}

/// archfn's CloudFormation: its stacks, kept in memory and in the store.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    providers: Providers,
    catalog: Arc<dyn StackCatalog>,
    stacks: Mutex<Vec<Stack>>,
}

impl Engine {
    /// Loads the stored stacks. An operation a previous process left in progress is marked
    /// failed, as it can no longer finish.
    pub async fn start(
        providers: Providers,
        catalog: Arc<dyn StackCatalog>,
    ) -> Result<Engine, CfnError> {
        let rows = catalog
            .list_stacks()
            .await
            .map_err(|e| CfnError::Internal(e.to_string()))?;
        let mut stacks = Vec::new();
        for row in rows {
            match serde_json::from_str::<Stack>(&row.document) {
                Ok(mut s) => {
                    if s.status.ends_with("_IN_PROGRESS") && s.status != "REVIEW_IN_PROGRESS" {
                        s.status = if s.status.starts_with("DELETE") {
                            "DELETE_FAILED".into()
                        } else if s.status.starts_with("CREATE") || s.status.starts_with("ROLLBACK")
                        {
                            "ROLLBACK_FAILED".into()
                        } else {
                            "UPDATE_ROLLBACK_FAILED".into()
                        };
                        s.status_reason = Some("archfn stopped during the operation".into());
                    }
                    stacks.push(s);
                }
                Err(e) => tracing::warn!("stack {} does not decode: {e}", row.stack_id),
            }
        }
        Ok(Engine {
            inner: Arc::new(Inner {
                providers,
                catalog,
                stacks: Mutex::new(stacks),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Stack>> {
        self.inner
            .stacks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A live stack by name or id (any stack, deleted too, by id).
    pub fn find(&self, region: &str, name_or_id: &str) -> Option<Stack> {
        let stacks = self.lock();
        if name_or_id.starts_with("arn:") {
            return stacks.iter().find(|s| s.stack_id == name_or_id).cloned();
        }
        stacks
            .iter()
            .rev()
            .find(|s| s.region == region && s.name == name_or_id && s.deleted_ms.is_none())
            .cloned()
    }

    fn must_find(&self, region: &str, name_or_id: &str) -> Result<Stack, CfnError> {
        self.find(region, name_or_id).ok_or_else(|| {
            CfnError::Validation(format!("Stack with id {name_or_id} does not exist"))
        })
    }

    /// Every stack of the region (deleted ones too), newest first.
    pub fn list(&self, region: &str) -> Vec<Stack> {
        let stacks = self.lock();
        stacks
            .iter()
            .rev()
            .filter(|s| s.region == region)
            .cloned()
            .collect()
    }

    /// Events of a stack, newest first.
    pub async fn events(
        &self,
        region: &str,
        name_or_id: &str,
    ) -> Result<Vec<StackEvent>, CfnError> {
        let stack = self.must_find(region, name_or_id)?;
        let docs = self
            .inner
            .catalog
            .stack_events(&stack.stack_id)
            .await
            .map_err(|e| CfnError::Internal(e.to_string()))?;
        let mut events: Vec<StackEvent> = docs
            .iter()
            .filter_map(|d| serde_json::from_str(d).ok())
            .collect();
        events.reverse();
        Ok(events)
    }

    /// A stack, for answers.
    pub fn describe(&self, region: &str, name_or_id: &str) -> Result<Stack, CfnError> {
        self.must_find(region, name_or_id)
    }

    async fn save(&self, stack: &Stack) -> Result<(), CfnError> {
        let document =
            serde_json::to_string(stack).map_err(|e| CfnError::Internal(e.to_string()))?;
        self.inner
            .catalog
            .put_stack(&StackRow {
                stack_id: stack.stack_id.clone(),
                region: stack.region.clone(),
                name: stack.name.clone(),
                document,
                updated_ms: now_ms(),
            })
            .await
            .map_err(|e| CfnError::Internal(e.to_string()))?;
        let mut stacks = self.lock();
        match stacks.iter_mut().find(|s| s.stack_id == stack.stack_id) {
            Some(s) => *s = stack.clone(),
            None => stacks.push(stack.clone()),
        }
        Ok(())
    }

    /// Records an event (and the stack's status when the event is the stack's own).
    async fn event(
        &self,
        stack: &mut Stack,
        logical_id: &str,
        physical_id: Option<&str>,
        kind: &str,
        status: &str,
        reason: Option<String>,
    ) {
        stack.event_count += 1;
        if kind == "AWS::CloudFormation::Stack" {
            stack.status = status.to_owned();
            stack.status_reason = reason.clone();
        }
        let e = StackEvent {
            event_id: uuid::Uuid::new_v4().to_string(),
            stack_id: stack.stack_id.clone(),
            stack_name: stack.name.clone(),
            logical_id: logical_id.to_owned(),
            physical_id: physical_id.map(str::to_owned),
            kind: kind.to_owned(),
            timestamp_ms: now_ms(),
            status: status.to_owned(),
            reason,
        };
        if let Ok(doc) = serde_json::to_string(&e)
            && let Err(err) = self
                .inner
                .catalog
                .put_stack_event(&stack.stack_id, stack.event_count, &doc)
                .await
        {
            tracing::warn!("stack event not stored: {err}");
        }
        if let Err(err) = self.save(stack).await {
            tracing::warn!("stack not stored: {err}");
        }
    }

    async fn stack_event(&self, stack: &mut Stack, status: &str, reason: Option<String>) {
        let (name, id) = (stack.name.clone(), stack.stack_id.clone());
        self.event(
            stack,
            &name,
            Some(&id),
            "AWS::CloudFormation::Stack",
            status,
            reason,
        )
        .await;
    }

    /// The template's text of `input` (or the previous one's).
    fn body_of(input: &StackInput, previous: Option<&Stack>) -> Result<String, CfnError> {
        match (&input.template_body, previous) {
            (Some(b), _) => Ok(b.clone()),
            (None, Some(p)) if input.use_previous_template => Ok(p.template_body.clone()),
            _ => Err(CfnError::Validation(
                "Either Template URL or Template Body must be specified.".into(),
            )),
        }
    }

    /// Whether `input`'s template names the SAM transform (false when it cannot be read).
    fn names_sam(input: &StackInput, previous: Option<&Stack>) -> bool {
        Self::body_of(input, previous)
            .ok()
            .and_then(|b| template::parse_text(&b).ok())
            .and_then(|raw| Template::from_value(raw).ok())
            .is_some_and(|t| t.needs_sam_transform())
    }

    /// Reads, expands (the SAM transform) and checks `input`'s template against its parameters
    /// and capabilities. `via_change_set`: a change set needs no `CAPABILITY_AUTO_EXPAND`.
    fn prepare(
        &self,
        region: &str,
        input: &StackInput,
        previous: Option<&Stack>,
        via_change_set: bool,
    ) -> Result<Prepared, CfnError> {
        let body = Self::body_of(input, previous)?;
        let raw = template::parse_text(&body)?;
        let original = Template::from_value(raw.clone())?;
        let empty = BTreeMap::new();
        let previous_values = previous.map(|p| &p.parameters).unwrap_or(&empty);
        let (t, processed) = if original.needs_sam_transform() {
            if !via_change_set && !input.capabilities.iter().any(|c| c == AUTO_EXPAND) {
                return Err(CfnError::InsufficientCapabilities(format!(
                    "Requires capabilities : [{AUTO_EXPAND}]"
                )));
            }
            let values = template::resolve_parameters(
                &original.parameters,
                &input.parameters,
                previous_values,
            )?;
            let context = archfn_sam::TransformContext {
                region: region.to_owned(),
                account_id: self.inner.providers.account.clone(),
                stack_name: previous
                    .map(|p| p.name.clone())
                    .unwrap_or_else(|| input.stack_name.clone()),
                parameters: values
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            };
            let (t, text) = expand_sam(raw, &context)?;
            (t, Some(text))
        } else {
            check_plain(&original)?;
            (original, None)
        };
        let parameters =
            template::resolve_parameters(&t.parameters, &input.parameters, previous_values)?;
        let order = graph::creation_order(&t)?;
        let needs_iam = t.resources.iter().any(|r| r.kind == "AWS::IAM::Role");
        if needs_iam
            && !input
                .capabilities
                .iter()
                .any(|c| c == "CAPABILITY_IAM" || c == "CAPABILITY_NAMED_IAM")
        {
            return Err(CfnError::InsufficientCapabilities(
                "Requires capabilities : [CAPABILITY_IAM]".into(),
            ));
        }
        Ok(Prepared {
            template: t,
            body,
            processed,
            parameters,
            order,
        })
    }

    fn new_stack(
        &self,
        region: &str,
        input: &StackInput,
        p: Option<&Prepared>,
        status: &str,
    ) -> Stack {
        Stack {
            stack_id: format!(
                "arn:aws:cloudformation:{region}:{}:stack/{}/{}",
                self.inner.providers.account,
                input.stack_name,
                uuid::Uuid::new_v4()
            ),
            name: input.stack_name.clone(),
            region: region.to_owned(),
            status: status.to_owned(),
            status_reason: None,
            created_ms: now_ms(),
            updated_ms: None,
            deleted_ms: None,
            description: p.and_then(|p| p.template.description.clone()),
            template_body: p.map(|p| p.body.clone()).unwrap_or_default(),
            processed_body: p.and_then(|p| p.processed.clone()),
            parameters: p.map(|p| p.parameters.clone()).unwrap_or_default(),
            no_echo: p.map(|p| no_echo(&p.template)).unwrap_or_default(),
            resources: Vec::new(),
            outputs: Vec::new(),
            capabilities: input.capabilities.clone(),
            tags: input.tags.clone(),
            disable_rollback: input.disable_rollback,
            change_sets: Vec::new(),
            event_count: 0,
        }
    }

    fn check_name(name: &str) -> Result<(), CfnError> {
        let ok = !name.is_empty()
            && name.len() <= 128
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if ok {
            Ok(())
        } else {
            Err(CfnError::Validation(format!(
                "1 validation error detected: Value '{name}' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*"
            )))
        }
    }

    /// Refuses a new stack when the region holds [`MAX_STACKS`] live ones.
    fn check_quota(&self, region: &str) -> Result<(), CfnError> {
        let live = self
            .lock()
            .iter()
            .filter(|s| s.region == region && s.deleted_ms.is_none())
            .count();
        if live >= MAX_STACKS {
            return Err(CfnError::LimitExceeded(format!(
                "Limit for stacks ({MAX_STACKS}) exceeded"
            )));
        }
        Ok(())
    }

    /// CreateStack: checks everything that needs no resource, then creates in the background.
    pub async fn create_stack(&self, region: &str, input: StackInput) -> Result<String, CfnError> {
        Self::check_name(&input.stack_name)?;
        self.check_quota(region)?;
        if self.find(region, &input.stack_name).is_some() {
            return Err(CfnError::AlreadyExists(format!(
                "Stack [{}] already exists",
                input.stack_name
            )));
        }
        let p = self.prepare(region, &input, None, false)?;
        let mut stack = self.new_stack(region, &input, Some(&p), "CREATE_IN_PROGRESS");
        let id = stack.stack_id.clone();
        self.stack_event(
            &mut stack,
            "CREATE_IN_PROGRESS",
            Some("User Initiated".into()),
        )
        .await;
        let engine = self.clone();
        tokio::spawn(async move { engine.apply(stack, p, true).await });
        Ok(id)
    }

    /// UpdateStack.
    pub async fn update_stack(&self, region: &str, input: StackInput) -> Result<String, CfnError> {
        let stack = self.must_find(region, &input.stack_name)?;
        if !updatable(&stack.status) {
            return Err(CfnError::Validation(format!(
                "Stack:{} is in {} state and can not be updated.",
                stack.stack_id, stack.status
            )));
        }
        let p = self.prepare(region, &input, Some(&stack), false)?;
        if self.changes(&stack, &p).is_empty()
            && p.body == stack.template_body
            && p.parameters == stack.parameters
        {
            return Err(CfnError::Validation(
                "No updates are to be performed.".into(),
            ));
        }
        let id = stack.stack_id.clone();
        self.start_update(stack, p, input.capabilities).await;
        Ok(id)
    }

    async fn start_update(&self, mut stack: Stack, p: Prepared, capabilities: Vec<String>) {
        stack.capabilities = capabilities;
        let first = stack.status == "REVIEW_IN_PROGRESS";
        let status = if first {
            "CREATE_IN_PROGRESS"
        } else {
            "UPDATE_IN_PROGRESS"
        };
        self.stack_event(&mut stack, status, Some("User Initiated".into()))
            .await;
        let engine = self.clone();
        tokio::spawn(async move { engine.apply(stack, p, first).await });
    }

    /// The scope of a stack's evaluation so far.
    fn scope(&self, stack: &Stack, p: &Prepared) -> Result<Scope, CfnError> {
        let mut scope = Scope {
            region: stack.region.clone(),
            mappings: p.template.mappings.clone(),
            exports: self.exports(&stack.region, Some(&stack.stack_id)),
            ..Scope::default()
        };
        for d in &p.template.parameters {
            if let Some(v) = p.parameters.get(&d.name) {
                let value = if d.kind.starts_with("List<") || d.kind == "CommaDelimitedList" {
                    Value::Array(
                        v.split(',')
                            .map(|s| Value::String(s.trim().to_owned()))
                            .collect(),
                    )
                } else {
                    Value::String(v.clone())
                };
                scope.refs.insert(d.name.clone(), value);
            }
        }
        for (k, v) in [
            ("AWS::Region", stack.region.clone()),
            ("AWS::AccountId", self.inner.providers.account.clone()),
            ("AWS::StackName", stack.name.clone()),
            ("AWS::StackId", stack.stack_id.clone()),
            ("AWS::Partition", "aws".to_owned()),
            ("AWS::URLSuffix", "amazonaws.com".to_owned()),
        ] {
            scope.refs.insert(k.to_owned(), Value::String(v));
        }
        scope
            .refs
            .insert("AWS::NotificationARNs".into(), Value::Array(Vec::new()));
        scope.evaluate_conditions(&p.template.conditions)?;
        Ok(scope)
    }

    /// Exports of the region's live stacks (but `except`'s).
    fn exports(&self, region: &str, except: Option<&str>) -> BTreeMap<String, String> {
        let stacks = self.lock();
        stacks
            .iter()
            .filter(|s| {
                s.region == region && s.deleted_ms.is_none() && Some(s.stack_id.as_str()) != except
            })
            .flat_map(|s| s.outputs.iter())
            .filter_map(|o| Some((o.export_name.clone()?, o.value.clone())))
            .collect()
    }

    /// Resources the template wants (conditions applied).
    fn wanted<'t>(&self, p: &'t Prepared, scope: &Scope) -> Vec<&'t template::ResourceDecl> {
        p.order
            .iter()
            .filter_map(|id| p.template.resources.iter().find(|r| &r.logical_id == id))
            .filter(|r| {
                r.condition
                    .as_ref()
                    .is_none_or(|c| scope.conditions.get(c).copied().unwrap_or(false))
            })
            .collect()
    }

    /// What applying `p` to `stack` would change (resources whose properties are known before
    /// anything is made; a property that names another resource counts as a change when that
    /// resource changes).
    fn changes(&self, stack: &Stack, p: &Prepared) -> Vec<Change> {
        let Ok(scope) = self.scope(stack, p) else {
            return Vec::new();
        };
        let mut scope = scope;
        for r in &stack.resources {
            if let Some(id) = &r.physical_id {
                scope
                    .refs
                    .insert(r.logical_id.clone(), Value::String(id.clone()));
                scope
                    .attrs
                    .insert(r.logical_id.clone(), r.attributes.clone());
            }
        }
        let wanted = self.wanted(p, &scope);
        let mut changed: BTreeSet<String> = BTreeSet::new();
        let mut out = Vec::new();
        let deps = graph::dependencies(&p.template);
        for r in &wanted {
            match stack
                .resources
                .iter()
                .find(|x| x.logical_id == r.logical_id)
            {
                None => {
                    changed.insert(r.logical_id.clone());
                    out.push(Change {
                        action: "Add".into(),
                        logical_id: r.logical_id.clone(),
                        physical_id: None,
                        kind: r.kind.clone(),
                        replacement: None,
                    });
                }
                Some(old) => {
                    let upstream = deps
                        .get(&r.logical_id)
                        .is_some_and(|d| d.iter().any(|x| changed.contains(x)));
                    let now = scope.evaluate(&r.properties).ok().flatten();
                    if old.kind != r.kind || upstream || now.as_ref() != Some(&old.properties) {
                        changed.insert(r.logical_id.clone());
                        out.push(Change {
                            action: "Modify".into(),
                            logical_id: r.logical_id.clone(),
                            physical_id: old.physical_id.clone(),
                            kind: r.kind.clone(),
                            replacement: Some(
                                if r.kind == "AWS::Lambda::Version" {
                                    "True"
                                } else {
                                    "Conditional"
                                }
                                .into(),
                            ),
                        });
                    }
                }
            }
        }
        for old in &stack.resources {
            if !wanted.iter().any(|r| r.logical_id == old.logical_id) {
                out.push(Change {
                    action: "Remove".into(),
                    logical_id: old.logical_id.clone(),
                    physical_id: old.physical_id.clone(),
                    kind: old.kind.clone(),
                    replacement: None,
                });
            }
        }
        out
    }

    /// Carries out a creation (`first`) or an update, then rolls back on failure.
    async fn apply(&self, mut stack: Stack, p: Prepared, first: bool) {
        let before = stack.clone();
        let result = self.make(&mut stack, &p).await;
        match result {
            Ok(replaced) => {
                stack.template_body = p.body.clone();
                stack.processed_body = p.processed.clone();
                stack.parameters = p.parameters.clone();
                stack.no_echo = no_echo(&p.template);
                stack.description = p.template.description.clone();
                if first {
                    stack.updated_ms = None;
                    self.stack_event(&mut stack, "CREATE_COMPLETE", None).await;
                    return;
                }
                stack.updated_ms = Some(now_ms());
                self.stack_event(&mut stack, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", None)
                    .await;
                // Old resources no longer wanted, and those replaced, go last, newest first.
                for old in replaced.iter().rev() {
                    self.remove(&mut stack, old, false).await;
                }
                self.stack_event(&mut stack, "UPDATE_COMPLETE", None).await;
            }
            Err(reason) => {
                if first {
                    if stack.disable_rollback {
                        self.stack_event(&mut stack, "CREATE_FAILED", Some(reason))
                            .await;
                        return;
                    }
                    self.stack_event(&mut stack, "ROLLBACK_IN_PROGRESS", Some(format!("The following resource(s) failed to create: [{reason}]. Rollback requested by user.")))
                        .await;
                    let made: Vec<ResourceState> = stack.resources.clone();
                    for r in made.iter().rev() {
                        self.remove(&mut stack, r, true).await;
                    }
                    stack.resources.clear();
                    self.stack_event(&mut stack, "ROLLBACK_COMPLETE", None)
                        .await;
                } else {
                    self.stack_event(
                        &mut stack,
                        "UPDATE_ROLLBACK_IN_PROGRESS",
                        Some(format!(
                            "The following resource(s) failed to update: [{reason}]. "
                        )),
                    )
                    .await;
                    self.roll_back_update(&mut stack, &before).await;
                    self.stack_event(
                        &mut stack,
                        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
                        None,
                    )
                    .await;
                    self.stack_event(&mut stack, "UPDATE_ROLLBACK_COMPLETE", None)
                        .await;
                }
            }
        }
    }

    /// Makes or changes every wanted resource in order. Returns what the cleanup must delete;
    /// on failure, the logical id of the resource that failed.
    async fn make(&self, stack: &mut Stack, p: &Prepared) -> Result<Vec<ResourceState>, String> {
        let mut scope = self.scope(stack, p).map_err(|e| e.to_string())?;
        for r in &stack.resources {
            if let Some(id) = &r.physical_id {
                scope
                    .refs
                    .insert(r.logical_id.clone(), Value::String(id.clone()));
                scope
                    .attrs
                    .insert(r.logical_id.clone(), r.attributes.clone());
            }
        }
        let wanted: Vec<template::ResourceDecl> =
            self.wanted(p, &scope).into_iter().cloned().collect();
        let mut cleanup = Vec::new();
        for decl in &wanted {
            let id = decl.logical_id.clone();
            let props = match scope.evaluate(&decl.properties) {
                Ok(v) => v.unwrap_or(Value::Object(Default::default())),
                Err(e) => {
                    self.event(
                        stack,
                        &id,
                        None,
                        &decl.kind,
                        "CREATE_FAILED",
                        Some(e.to_string()),
                    )
                    .await;
                    return Err(id);
                }
            };
            let (stack_name, region) = (stack.name.clone(), stack.region.clone());
            let owner = Owner {
                region: &region,
                stack_name: &stack_name,
                logical_id: &id,
            };
            let existing = stack.resources.iter().position(|x| x.logical_id == id);
            let made: Made = match existing {
                None => {
                    self.event(stack, &id, None, &decl.kind, "CREATE_IN_PROGRESS", None)
                        .await;
                    match self
                        .inner
                        .providers
                        .create(&decl.kind, &owner, &props)
                        .await
                    {
                        Ok(m) => {
                            stack.resources.push(ResourceState {
                                logical_id: id.clone(),
                                kind: decl.kind.clone(),
                                physical_id: Some(m.physical_id.clone()),
                                status: "CREATE_COMPLETE".into(),
                                reason: None,
                                properties: props.clone(),
                                attributes: m.attributes.clone(),
                                updated_ms: now_ms(),
                                retain: decl.deletion_policy.as_deref() == Some("Retain"),
                            });
                            self.event(
                                stack,
                                &id,
                                Some(&m.physical_id),
                                &decl.kind,
                                "CREATE_COMPLETE",
                                None,
                            )
                            .await;
                            m
                        }
                        Err(e) => {
                            self.event(stack, &id, None, &decl.kind, "CREATE_FAILED", Some(e))
                                .await;
                            return Err(id);
                        }
                    }
                }
                Some(i) => {
                    let old = stack.resources[i].clone();
                    if old.properties == props && old.kind == decl.kind {
                        continue;
                    }
                    let physical = old.physical_id.clone().unwrap_or_default();
                    self.event(
                        stack,
                        &id,
                        Some(&physical),
                        &decl.kind,
                        "UPDATE_IN_PROGRESS",
                        None,
                    )
                    .await;
                    // An alias under `CodeDeployLambdaAliasUpdate` moves to its new version by
                    // a traffic shift, and the resource waits for its end.
                    let shifted = match self.alias_shift(stack, decl, &scope, &old, &props) {
                        Ok(Some((shifts, shift))) => shifts.shift(shift).await.map(|_| ()),
                        Ok(None) => Ok(()),
                        Err(e) => Err(e),
                    };
                    let updated = match shifted {
                        Ok(()) => {
                            self.inner
                                .providers
                                .update(&decl.kind, &owner, &physical, &old.properties, &props)
                                .await
                        }
                        Err(e) => Err(e),
                    };
                    match updated {
                        Ok(u) => {
                            let (m, replaced) = match u {
                                Updated::InPlace(m) => (m, false),
                                Updated::Replaced(m) => (m, true),
                            };
                            if replaced {
                                cleanup.push(old.clone());
                            }
                            let mut attributes = old.attributes.clone();
                            attributes.extend(m.attributes.clone());
                            stack.resources[i] = ResourceState {
                                physical_id: Some(m.physical_id.clone()),
                                status: "UPDATE_COMPLETE".into(),
                                properties: props.clone(),
                                attributes: attributes.clone(),
                                updated_ms: now_ms(),
                                retain: decl.deletion_policy.as_deref() == Some("Retain"),
                                ..old
                            };
                            self.event(
                                stack,
                                &id,
                                Some(&m.physical_id),
                                &decl.kind,
                                "UPDATE_COMPLETE",
                                None,
                            )
                            .await;
                            Made {
                                physical_id: m.physical_id,
                                attributes,
                            }
                        }
                        Err(e) => {
                            self.event(
                                stack,
                                &id,
                                Some(&physical),
                                &decl.kind,
                                "UPDATE_FAILED",
                                Some(e),
                            )
                            .await;
                            return Err(id);
                        }
                    }
                }
            };
            scope
                .refs
                .insert(id.clone(), Value::String(made.physical_id.clone()));
            scope.attrs.insert(id.clone(), made.attributes.clone());
        }
        for old in stack.resources.clone() {
            if !wanted.iter().any(|w| w.logical_id == old.logical_id) {
                cleanup.push(old);
            }
        }
        stack
            .resources
            .retain(|r| wanted.iter().any(|w| w.logical_id == r.logical_id));
        let mut outputs = Vec::new();
        for o in &p.template.outputs {
            if let Some(c) = &o.condition
                && !scope.conditions.get(c).copied().unwrap_or(false)
            {
                continue;
            }
            let value = scope.evaluate(&o.value).map_err(|e| {
                tracing::warn!("output {} of {}: {e}", o.key, stack.name);
                o.key.clone()
            })?;
            let value = value.map(|v| match v {
                Value::Array(a) => a.iter().filter_map(as_text).collect::<Vec<_>>().join(","),
                v => as_text(&v).unwrap_or_else(|| v.to_string()),
            });
            let export_name = match &o.export_name {
                Some(e) => scope.evaluate(e).ok().flatten().and_then(|v| as_text(&v)),
                None => None,
            };
            outputs.push(OutputState {
                key: o.key.clone(),
                value: value.unwrap_or_default(),
                description: o.description.clone(),
                export_name,
            });
        }
        stack.outputs = outputs;
        Ok(cleanup)
    }

    /// The traffic shift an alias update makes under its `UpdatePolicy`'s
    /// `CodeDeployLambdaAliasUpdate`: when the alias keeps its function and name and its
    /// `FunctionVersion` changes from a published version, with the configuration of the
    /// deployment group the policy names (a resource of this stack).
    #[allow(clippy::type_complexity)]
    fn alias_shift(
        &self,
        stack: &Stack,
        decl: &template::ResourceDecl,
        scope: &Scope,
        old: &ResourceState,
        props: &Value,
    ) -> Result<Option<(Arc<dyn AliasShifts>, AliasShift)>, String> {
        let Some(shifts) = self.inner.providers.shifts.clone() else {
            return Ok(None);
        };
        let Some(policy) = decl
            .update_policy
            .as_ref()
            .and_then(|p| p.get("CodeDeployLambdaAliasUpdate"))
        else {
            return Ok(None);
        };
        if decl.kind != "AWS::Lambda::Alias" {
            return Ok(None);
        }
        let text = |v: &Value, k: &str| v.get(k).and_then(as_text);
        let before = &old.properties;
        if text(before, "FunctionName") != text(props, "FunctionName")
            || text(before, "Name") != text(props, "Name")
        {
            return Ok(None);
        }
        let (Some(from), Some(to)) = (
            text(before, "FunctionVersion"),
            text(props, "FunctionVersion"),
        ) else {
            return Ok(None);
        };
        if from == to || from == "$LATEST" {
            return Ok(None);
        }
        let policy = scope
            .evaluate(policy)
            .map_err(|e| e.to_string())?
            .unwrap_or(Value::Null);
        let Some(group_name) = text(&policy, "DeploymentGroupName") else {
            return Err(
                "UpdatePolicy CodeDeployLambdaAliasUpdate must name a DeploymentGroupName".into(),
            );
        };
        let Some(group) = stack.resources.iter().find(|r| {
            r.kind == "AWS::CodeDeploy::DeploymentGroup"
                && r.physical_id.as_deref() == Some(group_name.as_str())
        }) else {
            return Err(format!(
                "No deployment group named {group_name} in this stack: archfn shifts an alias's traffic only for a deployment group of its own stack"
            ));
        };
        let alarms = group
            .properties
            .get("AlarmConfiguration")
            .filter(|a| a.get("Enabled").and_then(as_text).as_deref() != Some("false"))
            .and_then(|a| a.get("Alarms"))
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(|a| text(a, "Name")).collect())
            .unwrap_or_default();
        Ok(Some((
            shifts,
            AliasShift {
                region: stack.region.clone(),
                function: text(props, "FunctionName").unwrap_or_default(),
                alias: text(props, "Name").unwrap_or_default(),
                to_version: to,
                config: text(&group.properties, "DeploymentConfigName")
                    .unwrap_or_else(|| "CodeDeployDefault.LambdaAllAtOnce".into()),
                before_hook: text(&policy, "BeforeAllowTrafficHook"),
                after_hook: text(&policy, "AfterAllowTrafficHook"),
                alarms,
            },
        )))
    }

    /// Deletes one resource (unless its policy retains it), with its events.
    async fn remove(&self, stack: &mut Stack, r: &ResourceState, rollback: bool) -> bool {
        let Some(physical) = r.physical_id.clone() else {
            return true;
        };
        if r.retain && !rollback {
            // `DeletionPolicy: Retain` (SAM's published versions): kept when the template no
            // longer has it or a replacement takes its place.
            self.event(
                stack,
                &r.logical_id,
                Some(&physical),
                &r.kind,
                "DELETE_SKIPPED",
                None,
            )
            .await;
            return true;
        }
        self.event(
            stack,
            &r.logical_id,
            Some(&physical),
            &r.kind,
            "DELETE_IN_PROGRESS",
            None,
        )
        .await;
        let region = stack.region.clone();
        match self
            .inner
            .providers
            .delete(&r.kind, &region, &physical, &r.properties)
            .await
        {
            Ok(()) => {
                self.event(
                    stack,
                    &r.logical_id,
                    Some(&physical),
                    &r.kind,
                    "DELETE_COMPLETE",
                    None,
                )
                .await;
                true
            }
            Err(e) => {
                self.event(
                    stack,
                    &r.logical_id,
                    Some(&physical),
                    &r.kind,
                    "DELETE_FAILED",
                    Some(e),
                )
                .await;
                false
            }
        }
    }

    /// Puts an updated stack's resources back as they were.
    async fn roll_back_update(&self, stack: &mut Stack, before: &Stack) {
        let current = stack.resources.clone();
        for r in current.iter().rev() {
            let old = before
                .resources
                .iter()
                .find(|b| b.logical_id == r.logical_id);
            match old {
                None => {
                    self.remove(stack, r, true).await;
                }
                Some(old) if old.physical_id != r.physical_id => {
                    self.remove(stack, r, true).await;
                }
                Some(old) if old.properties != r.properties => {
                    let (name, region) = (stack.name.clone(), stack.region.clone());
                    let owner = Owner {
                        region: &region,
                        stack_name: &name,
                        logical_id: &r.logical_id,
                    };
                    let physical = r.physical_id.clone().unwrap_or_default();
                    self.event(
                        stack,
                        &r.logical_id,
                        Some(&physical),
                        &r.kind,
                        "UPDATE_IN_PROGRESS",
                        None,
                    )
                    .await;
                    let outcome = self
                        .inner
                        .providers
                        .update(&r.kind, &owner, &physical, &r.properties, &old.properties)
                        .await;
                    let (status, reason) = match outcome {
                        Ok(_) => ("UPDATE_COMPLETE", None),
                        Err(e) => ("UPDATE_FAILED", Some(e)),
                    };
                    self.event(
                        stack,
                        &r.logical_id,
                        Some(&physical),
                        &r.kind,
                        status,
                        reason,
                    )
                    .await;
                }
                Some(_) => {}
            }
        }
        stack.resources = before.resources.clone();
        stack.outputs = before.outputs.clone();
    }

    /// DeleteStack: a stack that does not exist is no error, as in CloudFormation.
    pub async fn delete_stack(&self, region: &str, name_or_id: &str) -> Result<(), CfnError> {
        let Some(mut stack) = self.find(region, name_or_id) else {
            return Ok(());
        };
        if stack.deleted_ms.is_some() || stack.status == "DELETE_IN_PROGRESS" {
            return Ok(());
        }
        if stack.status.ends_with("_IN_PROGRESS") && stack.status != "REVIEW_IN_PROGRESS" {
            return Err(CfnError::Validation(format!(
                "Stack [{}] cannot be deleted while in status {}",
                stack.name, stack.status
            )));
        }
        self.stack_event(
            &mut stack,
            "DELETE_IN_PROGRESS",
            Some("User Initiated".into()),
        )
        .await;
        let engine = self.clone();
        tokio::spawn(async move {
            let resources = stack.resources.clone();
            let mut failed = Vec::new();
            for r in resources.iter().rev() {
                if r.retain {
                    let physical = r.physical_id.clone();
                    engine
                        .event(
                            &mut stack,
                            &r.logical_id,
                            physical.as_deref(),
                            &r.kind,
                            "DELETE_SKIPPED",
                            None,
                        )
                        .await;
                    continue;
                }
                if !engine.remove(&mut stack, r, false).await {
                    failed.push(r.logical_id.clone());
                }
            }
            if !failed.is_empty() {
                // What could not be deleted stays the stack's, to be deleted again.
                stack.resources.retain(|r| failed.contains(&r.logical_id));
                for r in stack.resources.iter_mut() {
                    r.status = "DELETE_FAILED".into();
                }
                let reason = format!(
                    "The following resource(s) failed to delete: [{}]. ",
                    failed.join(", ")
                );
                engine
                    .stack_event(&mut stack, "DELETE_FAILED", Some(reason))
                    .await;
                return;
            }
            stack.resources.clear();
            stack.outputs.clear();
            stack.deleted_ms = Some(now_ms());
            engine
                .stack_event(&mut stack, "DELETE_COMPLETE", None)
                .await;
        });
        Ok(())
    }

    /// CreateChangeSet: the change set is computed at once (`CREATE_COMPLETE`, or `FAILED` when
    /// nothing would change).
    pub async fn create_change_set(
        &self,
        region: &str,
        input: StackInput,
        name: &str,
        kind: &str,
        description: Option<String>,
    ) -> Result<(String, String), CfnError> {
        Self::check_name(&input.stack_name)?;
        let name_ok = !name.is_empty()
            && name.len() <= 128
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !name_ok {
            return Err(CfnError::Validation(format!(
                "1 validation error detected: Value '{name}' at 'changeSetName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*"
            )));
        }
        let existing = self.find(region, &input.stack_name);
        let mut stack = match (kind, existing) {
            ("CREATE", Some(s)) if s.status != "REVIEW_IN_PROGRESS" => {
                return Err(CfnError::AlreadyExists(format!(
                    "Stack [{}] already exists and cannot be created again with the changeSet [{name}].",
                    input.stack_name
                )));
            }
            ("CREATE", Some(s)) => s,
            ("CREATE", None) => {
                self.check_quota(region)?;
                // A template with a transform is expanded by the change set itself, whose
                // failure is its status; any other template is checked now.
                let p = match Self::names_sam(&input, None) {
                    true => None,
                    false => Some(self.prepare(region, &input, None, true)?),
                };
                let mut s = self.new_stack(region, &input, p.as_ref(), "REVIEW_IN_PROGRESS");
                s.template_body = String::new();
                s.processed_body = None;
                s.parameters.clear();
                self.stack_event(&mut s, "REVIEW_IN_PROGRESS", Some("User Initiated".into()))
                    .await;
                s
            }
            (_, None) => {
                return Err(CfnError::Validation(format!(
                    "Stack [{}] does not exist",
                    input.stack_name
                )));
            }
            (_, Some(s)) => {
                if s.status == "REVIEW_IN_PROGRESS" {
                    return Err(CfnError::Validation(format!(
                        "Stack [{}] does not exist",
                        input.stack_name
                    )));
                }
                s
            }
        };
        if stack
            .change_sets
            .iter()
            .any(|c| c.name == name && c.status != "DELETE_COMPLETE")
        {
            return Err(CfnError::AlreadyExists(format!(
                "ChangeSet [{name}] already exists"
            )));
        }
        let previous = (kind != "CREATE").then(|| stack.clone());
        let id = format!(
            "arn:aws:cloudformation:{region}:{}:changeSet/{name}/{}",
            self.inner.providers.account,
            uuid::Uuid::new_v4()
        );
        let sam = Self::names_sam(&input, previous.as_ref());
        let change_set = match self.prepare(region, &input, previous.as_ref(), true) {
            Ok(p) => {
                let changes = self.changes(&stack, &p);
                let empty = changes.is_empty()
                    && kind != "CREATE"
                    && p.body == stack.template_body
                    && p.parameters == stack.parameters;
                ChangeSet {
                    id: id.clone(),
                    name: name.to_owned(),
                    kind: kind.to_owned(),
                    status: if empty { "FAILED" } else { "CREATE_COMPLETE" }.into(),
                    execution_status: if empty { "UNAVAILABLE" } else { "AVAILABLE" }.into(),
                    status_reason: empty.then(|| "The submitted information didn't contain changes. Submit different information to create a change set.".to_owned()),
                    description,
                    created_ms: now_ms(),
                    template_body: p.body.clone(),
                    processed_body: p.processed.clone(),
                    parameters: p.parameters.clone(),
                    capabilities: input.capabilities.clone(),
                    changes,
                }
            }
            // The transform runs as the change set is made: its failure (or that of what it
            // expanded to) is the change set's status, as in CloudFormation.
            Err(e) if sam => ChangeSet {
                id: id.clone(),
                name: name.to_owned(),
                kind: kind.to_owned(),
                status: "FAILED".into(),
                execution_status: "UNAVAILABLE".into(),
                status_reason: Some(e.to_string()),
                description,
                created_ms: now_ms(),
                template_body: Self::body_of(&input, previous.as_ref()).unwrap_or_default(),
                processed_body: None,
                parameters: BTreeMap::new(),
                capabilities: input.capabilities.clone(),
                changes: Vec::new(),
            },
            Err(e) => return Err(e),
        };
        stack.change_sets.push(change_set);
        self.save(&stack).await?;
        Ok((id, stack.stack_id))
    }

    /// A change set by name (with its stack) or id.
    pub fn change_set(
        &self,
        region: &str,
        name_or_id: &str,
        stack_name: Option<&str>,
    ) -> Result<(Stack, ChangeSet), CfnError> {
        let not_found =
            || CfnError::ChangeSetNotFound(format!("ChangeSet [{name_or_id}] does not exist"));
        let stacks: Vec<Stack> = match stack_name {
            Some(s) => self.find(region, s).into_iter().collect(),
            None => self.list(region),
        };
        for s in stacks {
            if let Some(c) = s.change_sets.iter().find(|c| {
                (c.id == name_or_id || (stack_name.is_some() && c.name == name_or_id))
                    && c.status != "DELETE_COMPLETE"
            }) {
                let c = c.clone();
                return Ok((s, c));
            }
        }
        Err(not_found())
    }

    /// ExecuteChangeSet.
    pub async fn execute_change_set(
        &self,
        region: &str,
        name_or_id: &str,
        stack_name: Option<&str>,
    ) -> Result<(), CfnError> {
        let (mut stack, cs) = self.change_set(region, name_or_id, stack_name)?;
        if cs.execution_status != "AVAILABLE" {
            return Err(CfnError::InvalidChangeSetStatus(format!(
                "ChangeSet [{}] cannot be executed in its current status of [{}]",
                cs.id, cs.status
            )));
        }
        if !(stack.status == "REVIEW_IN_PROGRESS" || updatable(&stack.status)) {
            return Err(CfnError::InvalidChangeSetStatus(format!(
                "ChangeSet [{}] cannot be executed in its current status of [{}]",
                cs.id, cs.status
            )));
        }
        let input = StackInput {
            stack_name: stack.name.clone(),
            template_body: Some(cs.template_body.clone()),
            parameters: cs
                .parameters
                .iter()
                .map(|(k, v)| GivenParameter {
                    key: k.clone(),
                    value: Some(v.clone()),
                    use_previous: false,
                })
                .collect(),
            capabilities: cs.capabilities.clone(),
            ..StackInput::default()
        };
        let p = self.prepare(region, &input, None, true)?;
        for c in stack.change_sets.iter_mut() {
            c.execution_status = if c.id == cs.id {
                "EXECUTE_COMPLETE"
            } else {
                "OBSOLETE"
            }
            .into();
        }
        self.start_update(stack, p, cs.capabilities).await;
        Ok(())
    }

    /// DeleteChangeSet.
    pub async fn delete_change_set(
        &self,
        region: &str,
        name_or_id: &str,
        stack_name: Option<&str>,
    ) -> Result<(), CfnError> {
        let (mut stack, cs) = self.change_set(region, name_or_id, stack_name)?;
        stack.change_sets.retain(|c| c.id != cs.id);
        self.save(&stack).await
    }

    /// GetTemplateSummary / ValidateTemplate: the template's parameters and description.
    pub fn summarize(&self, body: &str) -> Result<Template, CfnError> {
        check_template(body)
    }
}

fn no_echo(t: &Template) -> BTreeSet<String> {
    t.parameters
        .iter()
        .filter(|p| p.no_echo)
        .map(|p| p.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "Parameters:\n  P: {Type: String, Default: x}\nConditions:\n  C: !Equals [!Ref P, x]\nResources:\n  R:\n    Type: AWS::IAM::Role\n    Condition: C\n    Properties: {A: !Sub '${P}-${AWS::Region}', B: !GetAtt S.Arn}\n  S: {Type: AWS::S3::Bucket}\nOutputs:\n  O: {Value: !Join [',', [!Ref R, !Select [0, !Split [',', 'a,b']]]]}\n";

    #[test]
    fn never_panics_on_cut_or_mangled_templates() {
        let json = r#"{"Resources": {"A": {"Type": "AWS::IAM::Role", "Properties": {"X": {"Fn::Sub": "${B.Arn}"}}}, "B": {"Type": "AWS::S3::Bucket"}}}"#;
        for text in [YAML, json] {
            for end in 0..=text.len() {
                if let Some(cut) = text.get(..end) {
                    let _ = check_template(cut);
                }
            }
            for (i, c) in text.char_indices() {
                for replacement in ["[", "{", "!", "&a ", "*a", "\"", ":", "\n- "] {
                    let mut mangled = text.to_owned();
                    mangled.replace_range(i..i + c.len_utf8(), replacement);
                    let _ = check_template(&mangled);
                }
            }
        }
    }

    #[test]
    fn checks_templates_as_cloudformation_does() {
        assert_eq!(check_template(YAML).map(|_| ()), Ok(()));
        // A SAM template is checked as written; its types are the transform's to expand.
        let sam = check_template(
            "{\"Transform\": \"AWS::Serverless-2016-10-31\", \"Globals\": {}, \"Resources\": {\"F\": {\"Type\": \"AWS::Serverless::Function\"}}}",
        );
        assert!(
            sam.as_ref().is_ok_and(|t| t.needs_sam_transform()),
            "{sam:?}"
        );
        assert!(check_template("{\"Globals\": {}, \"Resources\": {}}").is_err());
        assert_eq!(
            check_template("{\"Resources\": {\"F\": {\"Type\": \"AWS::EC2::Instance\"}, \"G\": {\"Type\": \"AWS::Nope::X\"}}}")
                .map(|_| ()),
            Err(CfnError::Validation(
                "Template format error: Unrecognized resource types: [AWS::EC2::Instance, AWS::Nope::X]".into()
            ))
        );
    }
}
