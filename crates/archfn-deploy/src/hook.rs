//! Hook functions: invoked with a CodeDeploy-style event; one that fails, times out or answers
//! `Failed` rolls the shift back.

use archfn_control::Control;
use archfn_invoke::{Engine, InvokeRequest, Target};
use archfn_model::deployment::DeploymentRecord;
use serde_json::{Value, json};

/// Which hook.
#[derive(Debug, Clone, Copy)]
pub(crate) enum HookKind {
    /// Before any traffic moves.
    BeforeAllowTraffic,
    /// After all of it has.
    AfterAllowTraffic,
}

impl HookKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            HookKind::BeforeAllowTraffic => "BeforeAllowTraffic",
            HookKind::AfterAllowTraffic => "AfterAllowTraffic",
        }
    }
}

/// The event a hook receives: CodeDeploy's two fields, and what archfn knows of the shift.
pub(crate) fn event(d: &DeploymentRecord, kind: HookKind, execution_id: &str) -> Value {
    json!({
        "DeploymentId": d.id,
        "LifecycleEventHookExecutionId": execution_id,
        "LifecycleEvent": kind.as_str(),
        "FunctionName": d.function,
        "AliasName": d.alias,
        "CurrentVersion": d.from_version,
        "TargetVersion": d.to_version,
    })
}

/// Whether an answer says the hook failed: CodeDeploy's hooks report `Failed` through
/// PutLifecycleEventHookExecutionStatus, which a function here cannot reach, so the answer
/// carries it instead: `"Failed"`, or an object whose `status` or `Status` is `Failed`.
fn answered_failed(payload: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(payload) else {
        return false;
    };
    let failed = |v: Option<&Value>| v.and_then(Value::as_str) == Some("Failed");
    failed(Some(&v)) || failed(v.get("status")) || failed(v.get("Status"))
}

/// Invokes hook function `function` for `d`; `Err` says why it failed.
pub(crate) async fn run(
    control: &Control,
    engine: &Engine,
    d: &DeploymentRecord,
    kind: HookKind,
    function: &str,
) -> Result<(), String> {
    let execution_id = uuid::Uuid::new_v4().to_string();
    let payload = event(d, kind, &execution_id).to_string();
    let inv = control
        .resolve_invocation(&d.region, function, None)
        .await
        .map_err(|e| {
            format!(
                "the {} hook {function} cannot be invoked: {e}",
                kind.as_str()
            )
        })?;
    let request = InvokeRequest {
        target: Target {
            region: d.region.clone(),
            config: inv.config,
            task_dir: inv.task_dir,
            layer_dirs: inv.layer_dirs,
            image: inv.image,
        },
        invoked_arn: inv.invoked_arn,
        payload: bytes::Bytes::from(payload),
        client_context: None,
        alias: inv.alias,
    };
    let outcome = engine
        .invoke(request)
        .await
        .map_err(|e| format!("the {} hook {function} could not run: {e}", kind.as_str()))?;
    if outcome.function_error.is_some() {
        let error_type = serde_json::from_slice::<Value>(&outcome.payload)
            .ok()
            .and_then(|v| {
                v.get("errorType")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "Unhandled".into());
        return Err(format!(
            "the {} hook {function} failed with {error_type}",
            kind.as_str()
        ));
    }
    if answered_failed(&outcome.payload) {
        return Err(format!(
            "the {} hook {function} answered Failed",
            kind.as_str()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::answered_failed;

    #[test]
    fn a_hook_fails_by_answering_failed() {
        assert!(answered_failed(br#""Failed""#));
        assert!(answered_failed(br#"{"status": "Failed"}"#));
        assert!(answered_failed(br#"{"Status": "Failed", "why": "x"}"#));
        assert!(!answered_failed(br#"{"status": "Succeeded"}"#));
        assert!(!answered_failed(b"null"));
        assert!(!answered_failed(b"not json"));
    }
}
