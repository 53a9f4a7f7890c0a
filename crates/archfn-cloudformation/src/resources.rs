//! One provider per resource type: how a resource's properties become calls to archfn's control
//! plane (or its S3 catalogue), what its physical id and attributes are, and how it is updated
//! and deleted.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use archfn_control::event_invoke::EventInvokeInput;
use archfn_control::{
    AliasInput, CodeInput, CodeSource, Control, ControlError, CreateFunctionInput, S3Location,
};
use archfn_control::{PermissionInput, PublishLayerInput, UpdateCodeInput, UpdateConfigInput};
use archfn_model::{LastUpdateStatus, State};
use archfn_store::objects::{BucketRecord, ObjectCatalog};
use rand::Rng as _;
use serde_json::{Value, json};

/// The resource types archfn makes.
pub const SUPPORTED_TYPES: &[&str] = &[
    "AWS::Lambda::Function",
    "AWS::Lambda::Version",
    "AWS::Lambda::Alias",
    "AWS::Lambda::LayerVersion",
    "AWS::Lambda::Permission",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Lambda::Url",
    "AWS::IAM::Role",
    "AWS::S3::Bucket",
    "AWS::S3::BucketPolicy",
    "AWS::CodeDeploy::Application",
    "AWS::CodeDeploy::DeploymentGroup",
];

/// How long a function may stay `Pending` (or its update `InProgress`) before the resource fails.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// What the providers call.
#[derive(Debug, Clone)]
pub struct Providers {
    /// The control plane.
    pub control: Control,
    /// archfn's S3 buckets.
    pub objects: Arc<dyn ObjectCatalog>,
    /// The account id of ARNs.
    pub account: String,
    /// Runs the traffic shifts of aliases updated under `CodeDeployLambdaAliasUpdate`; without
    /// it such an alias moves at once.
    pub shifts: Option<Arc<dyn crate::shift::AliasShifts>>,
    /// Where clients reach the server: a function URL's `FunctionUrl` is built on it.
    pub public_url: String,
}

/// Who a resource belongs to, for the names CloudFormation generates.
#[derive(Debug, Clone)]
pub struct Owner<'a> {
    /// The region.
    pub region: &'a str,
    /// The stack's name.
    pub stack_name: &'a str,
    /// The resource's logical id.
    pub logical_id: &'a str,
}

/// A resource made or changed: its physical id and its attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Made {
    /// What `Ref` returns.
    pub physical_id: String,
    /// What `Fn::GetAtt` returns.
    pub attributes: BTreeMap<String, Value>,
}

/// How an update is carried out.
#[derive(Debug, Clone, PartialEq)]
pub enum Updated {
    /// Changed in place.
    InPlace(Made),
    /// A new resource replaces the old one, which is deleted at cleanup.
    Replaced(Made),
}

fn control_error(e: ControlError) -> String {
    e.to_string()
}

fn text(props: &Value, key: &str) -> Option<String> {
    props.get(key).and_then(crate::intrinsic::as_text)
}

fn number(props: &Value, key: &str) -> Result<Option<i64>, String> {
    match props.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => crate::intrinsic::as_text(v)
            .and_then(|s| s.parse::<i64>().ok())
            .map(Some)
            .ok_or_else(|| format!("Property {key} must be a number")),
    }
}

fn strings(props: &Value, key: &str) -> Option<Vec<String>> {
    props.get(key).and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(crate::intrinsic::as_text)
            .collect::<Vec<_>>()
    })
}

/// The name CloudFormation gives a resource without one: `<stack>-<logical>-<RANDOM>`, within
/// `max` characters.
pub fn generated_name(owner: &Owner<'_>, max: usize, lowercase: bool) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    let suffix: String = (0..12)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    let room = max.saturating_sub(suffix.len() + 2);
    let stack_room = room / 2;
    let stack: String = owner.stack_name.chars().take(stack_room).collect();
    let logical: String = owner
        .logical_id
        .chars()
        .take(room.saturating_sub(stack.len()))
        .collect();
    let name = format!("{stack}-{logical}-{suffix}");
    if lowercase {
        name.to_ascii_lowercase()
    } else {
        name
    }
}

/// An inline `ZipFile` as Lambda receives it from CloudFormation: a zip holding `index.py`
/// (Python) or `index.js` (Node.js).
fn inline_zip(runtime: &str, source: &str) -> Result<bytes::Bytes, String> {
    let file = if runtime.starts_with("nodejs") {
        "index.js"
    } else {
        "index.py"
    };
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o644);
        zip.start_file(file, options).map_err(|e| e.to_string())?;
        zip.write_all(source.as_bytes())
            .map_err(|e| e.to_string())?;
        zip.finish().map_err(|e| e.to_string())?;
    }
    Ok(bytes::Bytes::from(buf.into_inner()))
}

/// `Code` of a function: inline source, an object of archfn's S3, or an image.
fn code_input(props: &Value) -> Result<CodeInput, String> {
    let Some(code) = props.get("Code") else {
        return Err("Property Code cannot be empty.".into());
    };
    let runtime = text(props, "Runtime").unwrap_or_default();
    if let Some(source) = text(code, "ZipFile") {
        return Ok(CodeSource::Zip(inline_zip(&runtime, &source)?).into());
    }
    if let (Some(bucket), Some(key)) = (text(code, "S3Bucket"), text(code, "S3Key")) {
        return Ok(CodeSource::S3(S3Location {
            bucket,
            key,
            object_version: text(code, "S3ObjectVersion"),
        })
        .into());
    }
    if let Some(uri) = text(code, "ImageUri") {
        return Ok(CodeInput {
            image_uri: Some(uri),
            ..CodeInput::default()
        });
    }
    Err("Properties validation failed for resource: Code must hold ZipFile, S3Bucket and S3Key, or ImageUri".into())
}

fn environment(props: &Value) -> Option<BTreeMap<String, String>> {
    props
        .get("Environment")
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| crate::intrinsic::as_text(v).map(|v| (k.clone(), v)))
                .collect()
        })
}

impl Providers {
    /// Makes a resource.
    pub async fn create(
        &self,
        kind: &str,
        owner: &Owner<'_>,
        props: &Value,
    ) -> Result<Made, String> {
        match kind {
            "AWS::Lambda::Function" => self.create_function(owner, props).await,
            "AWS::Lambda::Version" => self.publish_version(owner, props).await,
            "AWS::Lambda::Alias" => self.create_alias(owner, props).await,
            "AWS::Lambda::LayerVersion" => self.publish_layer(owner, props).await,
            "AWS::Lambda::Permission" => self.add_permission(owner, props).await,
            "AWS::Lambda::EventInvokeConfig" => self.put_event_invoke(owner, props).await,
            "AWS::Lambda::Url" => self.function_url(owner, props, false).await,
            "AWS::IAM::Role" => Ok(self.role(owner, props)),
            "AWS::S3::Bucket" => self.create_bucket(owner, props).await,
            "AWS::S3::BucketPolicy" => Ok(Made {
                physical_id: text(props, "Bucket").unwrap_or_default(),
                attributes: BTreeMap::new(),
            }),
            // Recorded: archfn's traffic shifts are CodeDeploy's part (see `crate::shift`).
            "AWS::CodeDeploy::Application" => Ok(Made {
                physical_id: text(props, "ApplicationName")
                    .unwrap_or_else(|| generated_name(owner, 100, false)),
                attributes: BTreeMap::new(),
            }),
            "AWS::CodeDeploy::DeploymentGroup" => {
                if text(props, "ApplicationName").is_none() {
                    return Err("Property ApplicationName cannot be empty.".into());
                }
                Ok(Made {
                    physical_id: text(props, "DeploymentGroupName")
                        .unwrap_or_else(|| generated_name(owner, 100, false)),
                    attributes: BTreeMap::new(),
                })
            }
            other => Err(format!("Unrecognized resource type {other}")),
        }
    }

    /// Changes a resource to `props`.
    pub async fn update(
        &self,
        kind: &str,
        owner: &Owner<'_>,
        physical_id: &str,
        old: &Value,
        props: &Value,
    ) -> Result<Updated, String> {
        let replace = match kind {
            "AWS::Lambda::Function" => {
                text(old, "FunctionName") != text(props, "FunctionName")
                    || text(old, "PackageType") != text(props, "PackageType")
            }
            "AWS::Lambda::Alias" => {
                text(old, "FunctionName") != text(props, "FunctionName")
                    || text(old, "Name") != text(props, "Name")
            }
            "AWS::IAM::Role" => text(old, "RoleName") != text(props, "RoleName"),
            "AWS::Lambda::EventInvokeConfig" => {
                text(old, "FunctionName") != text(props, "FunctionName")
                    || text(old, "Qualifier") != text(props, "Qualifier")
            }
            "AWS::S3::Bucket" => text(old, "BucketName") != text(props, "BucketName"),
            "AWS::Lambda::Url" => {
                text(old, "TargetFunctionArn") != text(props, "TargetFunctionArn")
                    || text(old, "Qualifier") != text(props, "Qualifier")
            }
            "AWS::CodeDeploy::Application" => {
                text(old, "ApplicationName") != text(props, "ApplicationName")
                    || text(old, "ComputePlatform") != text(props, "ComputePlatform")
            }
            "AWS::CodeDeploy::DeploymentGroup" => {
                text(old, "ApplicationName") != text(props, "ApplicationName")
                    || text(old, "DeploymentGroupName") != text(props, "DeploymentGroupName")
            }
            _ => true,
        };
        if replace {
            return self.create(kind, owner, props).await.map(Updated::Replaced);
        }
        match kind {
            "AWS::Lambda::Function" => self
                .update_function(owner, physical_id, old, props)
                .await
                .map(Updated::InPlace),
            "AWS::Lambda::Alias" => {
                let function = text(props, "FunctionName").unwrap_or_default();
                let view = self
                    .control
                    .update_alias(
                        owner.region,
                        &function,
                        physical_name(physical_id),
                        alias_input(props),
                    )
                    .await
                    .map_err(control_error)?;
                Ok(Updated::InPlace(Made {
                    physical_id: view.arn,
                    attributes: BTreeMap::new(),
                }))
            }
            "AWS::IAM::Role" => Ok(Updated::InPlace(Made {
                physical_id: physical_id.to_owned(),
                attributes: self.role_attributes(physical_id),
            })),
            "AWS::Lambda::EventInvokeConfig" => self
                .put_event_invoke(owner, props)
                .await
                .map(Updated::InPlace),
            "AWS::Lambda::Url" => self
                .function_url(owner, props, true)
                .await
                .map(Updated::InPlace),
            "AWS::CodeDeploy::Application" | "AWS::CodeDeploy::DeploymentGroup" => {
                Ok(Updated::InPlace(Made {
                    physical_id: physical_id.to_owned(),
                    attributes: BTreeMap::new(),
                }))
            }
            _ => Ok(Updated::InPlace(Made {
                physical_id: physical_id.to_owned(),
                attributes: bucket_attributes(physical_id, owner.region),
            })),
        }
    }

    /// Deletes a resource; one already gone is no error.
    pub async fn delete(
        &self,
        kind: &str,
        region: &str,
        physical_id: &str,
        props: &Value,
    ) -> Result<(), String> {
        let gone = |r: Result<(), ControlError>| match r {
            Ok(()) | Err(ControlError::NotFound { .. }) => Ok(()),
            Err(e) => Err(control_error(e)),
        };
        match kind {
            "AWS::Lambda::Function" => gone(
                self.control
                    .delete_function(region, physical_id, None)
                    .await,
            ),
            "AWS::Lambda::Version" => {
                let function = text(props, "FunctionName").unwrap_or_default();
                let version = physical_id.rsplit(':').next().unwrap_or("");
                gone(
                    self.control
                        .delete_function(region, &function, Some(version))
                        .await,
                )
            }
            "AWS::Lambda::Alias" => {
                let function = text(props, "FunctionName").unwrap_or_default();
                gone(
                    self.control
                        .delete_alias(region, &function, physical_name(physical_id))
                        .await,
                )
            }
            "AWS::Lambda::LayerVersion" => {
                // arn:aws:lambda:<region>:<account>:layer:<name>:<version>
                let mut parts = physical_id.rsplit(':');
                let version = parts.next().and_then(|v| v.parse::<i64>().ok());
                let (Some(version), Some(name)) = (version, parts.next()) else {
                    return Ok(());
                };
                gone(
                    self.control
                        .delete_layer_version(region, name, version)
                        .await,
                )
            }
            "AWS::Lambda::Permission" => {
                let function = text(props, "FunctionName").unwrap_or_default();
                gone(
                    self.control
                        .remove_permission(region, &function, None, physical_id, None)
                        .await,
                )
            }
            "AWS::Lambda::EventInvokeConfig" => {
                let function = text(props, "FunctionName").unwrap_or_default();
                let qualifier = text(props, "Qualifier");
                gone(
                    self.control
                        .delete_event_invoke_config(region, &function, qualifier.as_deref())
                        .await,
                )
            }
            "AWS::Lambda::Url" => {
                let function = text(props, "TargetFunctionArn").unwrap_or_default();
                let qualifier = text(props, "Qualifier");
                gone(
                    self.control
                        .delete_function_url(region, &function, qualifier.as_deref())
                        .await,
                )
            }
            "AWS::S3::Bucket" => match self.objects.delete_bucket(physical_id).await {
                Ok(_) => Ok(()),
                Err(archfn_store::StoreError::Conflict) => {
                    Err("The bucket you tried to delete is not empty".into())
                }
                Err(e) => Err(e.to_string()),
            },
            _ => Ok(()),
        }
    }

    async fn create_function(&self, owner: &Owner<'_>, props: &Value) -> Result<Made, String> {
        let name = match text(props, "FunctionName") {
            Some(n) => n,
            None => generated_name(owner, 64, false),
        };
        let input = CreateFunctionInput {
            function_name: name.clone(),
            runtime: text(props, "Runtime"),
            role: text(props, "Role"),
            handler: text(props, "Handler"),
            code: code_input(props)?,
            description: text(props, "Description"),
            timeout: number(props, "Timeout")?,
            memory_size: number(props, "MemorySize")?,
            publish: false,
            package_type: text(props, "PackageType"),
            environment: environment(props),
            layers: strings(props, "Layers"),
            architectures: strings(props, "Architectures"),
            ephemeral_storage: props
                .get("EphemeralStorage")
                .map(|e| number(e, "Size"))
                .transpose()?
                .flatten(),
            tracing_mode: props.get("TracingConfig").and_then(|t| text(t, "Mode")),
            tags: props.get("Tags").and_then(Value::as_array).map(|tags| {
                tags.iter()
                    .filter_map(|t| Some((text(t, "Key")?, text(t, "Value")?)))
                    .collect()
            }),
            ..CreateFunctionInput::default()
        };
        let view = self
            .control
            .create_function(owner.region, input)
            .await
            .map_err(control_error)?;
        self.wait_ready(owner.region, &name).await?;
        Ok(Made {
            physical_id: name,
            attributes: [("Arn".to_owned(), json!(view.arn))].into_iter().collect(),
        })
    }

    async fn update_function(
        &self,
        owner: &Owner<'_>,
        name: &str,
        old: &Value,
        props: &Value,
    ) -> Result<Made, String> {
        if old.get("Code") != props.get("Code")
            || old.get("Architectures") != props.get("Architectures")
        {
            self.control
                .update_function_code(
                    owner.region,
                    name,
                    UpdateCodeInput {
                        code: code_input(props)?,
                        architectures: strings(props, "Architectures"),
                        ..UpdateCodeInput::default()
                    },
                )
                .await
                .map_err(control_error)?;
            self.wait_ready(owner.region, name).await?;
        }
        let input = UpdateConfigInput {
            role: text(props, "Role"),
            handler: text(props, "Handler"),
            description: Some(text(props, "Description").unwrap_or_default()),
            timeout: Some(number(props, "Timeout")?.unwrap_or(3)),
            memory_size: Some(number(props, "MemorySize")?.unwrap_or(128)),
            environment: Some(environment(props).unwrap_or_default()),
            runtime: text(props, "Runtime"),
            layers: Some(strings(props, "Layers").unwrap_or_default()),
            ..UpdateConfigInput::default()
        };
        let view = self
            .control
            .update_function_configuration(owner.region, name, input)
            .await
            .map_err(control_error)?;
        self.wait_ready(owner.region, name).await?;
        Ok(Made {
            physical_id: name.to_owned(),
            attributes: [("Arn".to_owned(), json!(view.arn))].into_iter().collect(),
        })
    }

    /// Waits until a function is Active and its last update done, as CloudFormation does.
    async fn wait_ready(&self, region: &str, name: &str) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            let view = self
                .control
                .get_function_configuration(region, name, None)
                .await
                .map_err(control_error)?;
            let c = &view.config;
            match (c.state, c.last_update_status) {
                (State::Failed, _) => {
                    return Err(c
                        .state_reason
                        .clone()
                        .unwrap_or_else(|| "The function could not be created".into()));
                }
                (_, Some(LastUpdateStatus::Failed)) => {
                    return Err(c
                        .last_update_status_reason
                        .clone()
                        .unwrap_or_else(|| "The function could not be updated".into()));
                }
                (State::Pending, _) | (_, Some(LastUpdateStatus::InProgress)) => {}
                _ => return Ok(()),
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("Function {name} did not stabilize in time"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn publish_version(&self, owner: &Owner<'_>, props: &Value) -> Result<Made, String> {
        let Some(function) = text(props, "FunctionName") else {
            return Err("Property FunctionName cannot be empty.".into());
        };
        let view = self
            .control
            .publish_version(
                owner.region,
                &function,
                text(props, "CodeSha256").as_deref(),
                text(props, "Description"),
                None,
            )
            .await
            .map_err(control_error)?;
        Ok(Made {
            physical_id: view.arn.clone(),
            attributes: [
                ("Version".to_owned(), json!(view.config.version)),
                ("FunctionArn".to_owned(), json!(view.arn)),
            ]
            .into_iter()
            .collect(),
        })
    }

    async fn create_alias(&self, owner: &Owner<'_>, props: &Value) -> Result<Made, String> {
        let (Some(function), Some(name)) = (text(props, "FunctionName"), text(props, "Name"))
        else {
            return Err("Properties FunctionName and Name cannot be empty.".into());
        };
        let view = self
            .control
            .create_alias(owner.region, &function, &name, alias_input(props))
            .await
            .map_err(control_error)?;
        Ok(Made {
            physical_id: view.arn,
            attributes: BTreeMap::new(),
        })
    }

    async fn publish_layer(&self, owner: &Owner<'_>, props: &Value) -> Result<Made, String> {
        let name = text(props, "LayerName").unwrap_or_else(|| generated_name(owner, 64, false));
        let Some(content) = props.get("Content") else {
            return Err("Property Content cannot be empty.".into());
        };
        let (Some(bucket), Some(key)) = (text(content, "S3Bucket"), text(content, "S3Key")) else {
            return Err("Property Content must hold S3Bucket and S3Key.".into());
        };
        let input = PublishLayerInput {
            content: CodeSource::S3(S3Location {
                bucket,
                key,
                object_version: text(content, "S3ObjectVersion"),
            })
            .into(),
            description: text(props, "Description"),
            license_info: text(props, "LicenseInfo"),
            compatible_runtimes: strings(props, "CompatibleRuntimes"),
            compatible_architectures: strings(props, "CompatibleArchitectures"),
        };
        let view = self
            .control
            .publish_layer_version(owner.region, &name, input)
            .await
            .map_err(control_error)?;
        Ok(Made {
            physical_id: view.version_arn(),
            attributes: [("LayerVersionArn".to_owned(), json!(view.version_arn()))]
                .into_iter()
                .collect(),
        })
    }

    async fn add_permission(&self, owner: &Owner<'_>, props: &Value) -> Result<Made, String> {
        let (Some(function), Some(action), Some(principal)) = (
            text(props, "FunctionName"),
            text(props, "Action"),
            text(props, "Principal"),
        ) else {
            return Err("Properties FunctionName, Action and Principal cannot be empty.".into());
        };
        let statement_id = generated_name(owner, 100, false);
        let input = PermissionInput {
            statement_id: statement_id.clone(),
            action,
            principal,
            source_arn: text(props, "SourceArn"),
            source_account: text(props, "SourceAccount"),
            event_source_token: text(props, "EventSourceToken"),
            principal_org_id: text(props, "PrincipalOrgID"),
            function_url_auth_type: text(props, "FunctionUrlAuthType"),
            invoked_via_function_url: None,
            revision_id: None,
        };
        self.control
            .add_permission(owner.region, &function, None, input)
            .await
            .map_err(control_error)?;
        Ok(Made {
            physical_id: statement_id,
            attributes: BTreeMap::new(),
        })
    }

    /// PutFunctionEventInvokeConfig: the whole configuration, replacing any other.
    async fn put_event_invoke(&self, owner: &Owner<'_>, props: &Value) -> Result<Made, String> {
        let (Some(function), Some(qualifier)) =
            (text(props, "FunctionName"), text(props, "Qualifier"))
        else {
            return Err("Properties FunctionName and Qualifier cannot be empty.".into());
        };
        let destination = |which: &str| {
            props
                .get("DestinationConfig")
                .and_then(|d| d.get(which))
                .and_then(|d| text(d, "Destination"))
        };
        let destinations = props
            .get("DestinationConfig")
            .map(|_| (destination("OnSuccess"), destination("OnFailure")));
        let input = EventInvokeInput {
            maximum_retry_attempts: number(props, "MaximumRetryAttempts")?,
            maximum_event_age_s: number(props, "MaximumEventAgeInSeconds")?,
            destinations,
        };
        self.control
            .put_event_invoke_config(owner.region, &function, Some(&qualifier), input, true)
            .await
            .map_err(control_error)?;
        Ok(Made {
            physical_id: format!("{function}:{qualifier}"),
            attributes: BTreeMap::new(),
        })
    }

    /// CreateFunctionUrlConfig (or UpdateFunctionUrlConfig): the physical id and `Ref` are the
    /// function's ARN (qualified for an alias); `FunctionUrl` and `FunctionArn` attributes.
    async fn function_url(
        &self,
        owner: &Owner<'_>,
        props: &Value,
        update: bool,
    ) -> Result<Made, String> {
        let (Some(function), Some(auth_type)) =
            (text(props, "TargetFunctionArn"), text(props, "AuthType"))
        else {
            return Err("Properties TargetFunctionArn and AuthType cannot be empty.".into());
        };
        let qualifier = text(props, "Qualifier");
        let list = |c: &Value, key: &str| {
            c.get(key).and_then(Value::as_array).map(|items| {
                items
                    .iter()
                    .filter_map(crate::intrinsic::as_text)
                    .collect::<Vec<_>>()
            })
        };
        let cors = props.get("Cors").map(|c| archfn_control::Cors {
            allow_credentials: c.get("AllowCredentials").and_then(|v| match v {
                Value::Bool(b) => Some(*b),
                other => crate::intrinsic::as_text(other).map(|t| t == "true"),
            }),
            allow_headers: list(c, "AllowHeaders"),
            allow_methods: list(c, "AllowMethods"),
            allow_origins: list(c, "AllowOrigins"),
            expose_headers: list(c, "ExposeHeaders"),
            max_age: text(c, "MaxAge").and_then(|m| m.parse().ok()),
        });
        let input = archfn_control::FunctionUrlInput {
            auth_type: Some(auth_type),
            cors,
            invoke_mode: text(props, "InvokeMode"),
        };
        let view = if update {
            self.control
                .update_function_url(owner.region, &function, qualifier.as_deref(), input)
                .await
        } else {
            self.control
                .create_function_url(owner.region, &function, qualifier.as_deref(), input)
                .await
        }
        .map_err(control_error)?;
        let url =
            archfn_model::url_host::function_url(&self.public_url, &view.region, &view.url_id);
        Ok(Made {
            physical_id: view.function_arn.clone(),
            attributes: [
                ("FunctionArn".to_owned(), json!(view.function_arn)),
                ("FunctionUrl".to_owned(), json!(url)),
            ]
            .into_iter()
            .collect(),
        })
    }

    fn role(&self, owner: &Owner<'_>, props: &Value) -> Made {
        let name = text(props, "RoleName").unwrap_or_else(|| generated_name(owner, 64, false));
        Made {
            attributes: self.role_attributes(&name),
            physical_id: name,
        }
    }

    fn role_attributes(&self, name: &str) -> BTreeMap<String, Value> {
        let id: String = format!("AROA{}", uuid::Uuid::new_v4().simple())
            .to_ascii_uppercase()
            .chars()
            .take(21)
            .collect();
        [
            (
                "Arn".to_owned(),
                json!(format!("arn:aws:iam::{}:role/{name}", self.account)),
            ),
            ("RoleId".to_owned(), json!(id)),
        ]
        .into_iter()
        .collect()
    }

    async fn create_bucket(&self, owner: &Owner<'_>, props: &Value) -> Result<Made, String> {
        let name = text(props, "BucketName").unwrap_or_else(|| generated_name(owner, 63, true));
        let record = BucketRecord {
            name: name.clone(),
            region: owner.region.to_owned(),
            created_ms: archfn_model::time::now_ms(),
        };
        match self.objects.create_bucket(&record).await {
            Ok(()) => {}
            Err(archfn_store::StoreError::AlreadyExists) => {
                return Err(format!("{name} already exists"));
            }
            Err(e) => return Err(e.to_string()),
        }
        Ok(Made {
            attributes: bucket_attributes(&name, owner.region),
            physical_id: name,
        })
    }
}

fn bucket_attributes(name: &str, region: &str) -> BTreeMap<String, Value> {
    [
        ("Arn".to_owned(), json!(format!("arn:aws:s3:::{name}"))),
        (
            "DomainName".to_owned(),
            json!(format!("{name}.s3.amazonaws.com")),
        ),
        (
            "RegionalDomainName".to_owned(),
            json!(format!("{name}.s3.{region}.amazonaws.com")),
        ),
    ]
    .into_iter()
    .collect()
}

/// The last `:`-separated part of an ARN (an alias's name).
fn physical_name(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

fn alias_input(props: &Value) -> AliasInput {
    let weights = props
        .get("RoutingConfig")
        .and_then(|r| r.get("AdditionalVersionWeights"))
        .and_then(Value::as_array)
        .map(|ws| {
            ws.iter()
                .filter_map(|w| {
                    let version = text(w, "FunctionVersion")?;
                    let weight = text(w, "FunctionWeight")?.parse::<f64>().ok()?;
                    Some((version, weight))
                })
                .collect()
        });
    AliasInput {
        function_version: text(props, "FunctionVersion"),
        description: text(props, "Description"),
        weights: Some(weights.unwrap_or_default()),
        revision_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_names_as_cloudformation_does() {
        let owner = Owner {
            region: "us-east-1",
            stack_name: "a-very-long-stack-name-that-goes-on-and-on-and-on-forever",
            logical_id: "MyFunctionWithAnEvenLongerLogicalIdentifier",
        };
        let name = generated_name(&owner, 64, false);
        assert!(name.len() <= 64, "{name}");
        assert!(name.starts_with("a-very-long"));
        let bucket = generated_name(&owner, 63, true);
        assert_eq!(bucket, bucket.to_ascii_lowercase());
    }

    #[test]
    fn zips_inline_code() -> Result<(), String> {
        let zip = inline_zip("python3.12", "def handler(e, c):\n  return 1\n")?;
        let archive =
            zip::ZipArchive::new(std::io::Cursor::new(zip.to_vec())).map_err(|e| e.to_string())?;
        let names: Vec<String> = archive
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .collect();
        assert_eq!(names, vec!["index.py".to_owned()]);
        Ok(())
    }
}
