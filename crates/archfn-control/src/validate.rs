//! Request checks shared by the use cases, each answering with Lambda's exception and text.

use std::collections::BTreeMap;

use archfn_model::limits::{self, RESERVED_ENV_NAMES};
use archfn_model::runtime::{self, RuntimeInfo};
use archfn_model::validation::{ARCH_ENUM_CONSTRAINT, ROLE_PATTERN, java_list};
use archfn_model::{Architecture, ValidationErrors};

use crate::ControlError;

/// `Architectures`: exactly one of `x86_64 | arm64`; `None` means the default, x86_64.
pub(crate) fn architectures(given: Option<&[String]>, errs: &mut ValidationErrors) -> Architecture {
    let Some(list) = given else {
        return Architecture::X86_64;
    };
    let shown = java_list(list);
    if list.len() > 1 {
        errs.push(
            &shown,
            "architectures",
            "Member must have length less than or equal to 1",
        );
    } else if list.is_empty() {
        errs.push(
            &shown,
            "architectures",
            "Member must have length greater than or equal to 1",
        );
    } else if list.iter().any(|a| Architecture::parse(a).is_none()) {
        errs.push(&shown, "architectures", ARCH_ENUM_CONSTRAINT);
    }
    list.first()
        .and_then(|a| Architecture::parse(a))
        .unwrap_or(Architecture::X86_64)
}

/// Numeric ranges the API model enforces.
pub(crate) fn range(v: i64, field: &str, min: i64, max: Option<i64>, errs: &mut ValidationErrors) {
    if v < min {
        errs.push(
            &v.to_string(),
            field,
            &format!("Member must have value greater than or equal to {min}"),
        );
    } else if let Some(max) = max
        && v > max
    {
        errs.push(
            &v.to_string(),
            field,
            &format!("Member must have value less than or equal to {max}"),
        );
    }
}

pub(crate) fn role(role: &str, errs: &mut ValidationErrors) {
    let ok = role
        .strip_prefix("arn:")
        .and_then(|r| r.split_once(":iam::"))
        .filter(|(partition, _)| partition.starts_with("aws") || partition.is_empty())
        .and_then(|(_, rest)| rest.split_once(":role"))
        .is_some_and(|(account, path)| {
            account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && path.len() > 1
                && path[1..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-/".contains(&b))
        });
    if !ok {
        errs.push(
            role,
            "role",
            &format!("Member must satisfy regular expression pattern: {ROLE_PATTERN}"),
        );
    }
}

pub(crate) fn description(d: &str, errs: &mut ValidationErrors) {
    if d.chars().count() > 256 {
        errs.push(
            d,
            "description",
            "Member must have length less than or equal to 256",
        );
    }
}

pub(crate) fn tracing_mode(m: &str, errs: &mut ValidationErrors) {
    if m != "Active" && m != "PassThrough" {
        errs.push(
            m,
            "tracingConfig.mode",
            "Member must satisfy enum value set: [Active, PassThrough]",
        );
    }
}

/// A runtime usable for a new or updated function on `arch`.
pub(crate) fn runtime(
    id: &str,
    arch: Architecture,
    creating: bool,
    today: &str,
) -> Result<&'static RuntimeInfo, ControlError> {
    let Some(info) = runtime::lookup(id) else {
        // Lambda lists the runtimes a function can be created with today, not retired ones.
        let set: Vec<&str> = runtime::identifiers()
            .filter(|r| runtime::lookup(r).is_some_and(|i| !i.create_blocked(today)))
            .collect();
        return Err(ControlError::InvalidParameter(format!(
            "Value {id} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: {} or be a valid ARN",
            java_list(&set)
        )));
    };
    let blocked = if creating {
        info.create_blocked(today)
    } else {
        info.update_blocked(today)
    };
    if blocked {
        return Err(ControlError::InvalidParameter(format!(
            "The runtime parameter of {id} is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions."
        )));
    }
    if !info.supports(arch) {
        return Err(ControlError::InvalidParameter(format!(
            "Runtime {id} does not support the following architectures [{arch}]. Please select different architectures from [x86_64, arm64] or select a different runtime."
        )));
    }
    Ok(info)
}

/// Environment variables: reserved names refused, and at most 4 KB measured as JSON.
pub(crate) fn environment(vars: &BTreeMap<String, String>) -> Result<(), ControlError> {
    let reserved: Vec<&str> = vars
        .keys()
        .map(String::as_str)
        .filter(|k| RESERVED_ENV_NAMES.contains(k))
        .collect();
    if !reserved.is_empty() {
        return Err(ControlError::InvalidParameter(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {}",
            reserved.join(", ")
        )));
    }
    for k in vars.keys() {
        // `[a-zA-Z]([a-zA-Z0-9_])+`: a letter, then at least one more character.
        let ok = k.len() >= 2
            && k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            let mut errs = ValidationErrors::new();
            errs.push_unshown(
                "environment.variables",
                "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]",
            );
            return Err(errs.into());
        }
    }
    let measured = serde_json::to_string(vars).unwrap_or_default();
    if measured.len() > limits::ENVIRONMENT_MAX_BYTES {
        return Err(ControlError::InvalidParameter(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {measured}"
        )));
    }
    Ok(())
}

/// Memory, timeout and /tmp, when given.
pub(crate) fn sizes(
    memory: Option<i64>,
    timeout: Option<i64>,
    ephemeral: Option<i64>,
    errs: &mut ValidationErrors,
) {
    if let Some(m) = memory {
        range(
            m,
            "memorySize",
            limits::MEMORY_MIN_MB.into(),
            Some(limits::MEMORY_MAX_MB.into()),
            errs,
        );
    }
    if let Some(t) = timeout {
        range(t, "timeout", limits::TIMEOUT_MIN_S.into(), None, errs);
    }
    if let Some(e) = ephemeral {
        range(
            e,
            "ephemeralStorage.size",
            limits::EPHEMERAL_MIN_MB.into(),
            Some(limits::EPHEMERAL_MAX_MB.into()),
            errs,
        );
    }
}

/// The settings CreateFunction and UpdateFunctionConfiguration share, when given.
pub(crate) fn settings(
    memory: Option<i64>,
    timeout: Option<i64>,
    ephemeral: Option<i64>,
    description_text: Option<&str>,
    tracing: Option<&str>,
    errs: &mut ValidationErrors,
) {
    sizes(memory, timeout, ephemeral, errs);
    if let Some(d) = description_text {
        description(d, errs);
    }
    if let Some(m) = tracing {
        tracing_mode(m, errs);
    }
}

/// Timeouts above 900 s pass the API model but not the service.
pub(crate) fn timeout_max(timeout: Option<i64>) -> Result<(), ControlError> {
    match timeout {
        Some(t) if t > i64::from(limits::TIMEOUT_MAX_S) => {
            Err(ControlError::InvalidParameter(format!(
                "Timeout value {t} is greater than the maximum allowed value of {} seconds.",
                limits::TIMEOUT_MAX_S
            )))
        }
        _ => Ok(()),
    }
}

pub(crate) fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arch_msg(given: &[&str]) -> String {
        let list: Vec<String> = given.iter().map(|s| s.to_string()).collect();
        let mut errs = ValidationErrors::new();
        architectures(Some(&list), &mut errs);
        errs.message()
    }

    #[test]
    fn architectures_follow_lambda() {
        assert_eq!(
            arch_msg(&["x86_64", "arm64"]),
            "1 validation error detected: Value '[x86_64, arm64]' at 'architectures' failed to satisfy constraint: Member must have length less than or equal to 1"
        );
        assert!(
            arch_msg(&["X86_64"]).contains("Member must satisfy enum value set: [x86_64, arm64]")
        );
        let mut errs = ValidationErrors::new();
        assert_eq!(architectures(None, &mut errs), Architecture::X86_64);
        assert!(errs.is_empty());
    }

    #[test]
    fn runtimes_are_checked_per_architecture_and_date() {
        assert!(runtime("python3.12", Architecture::Arm64, true, "2026-11-27").is_ok());
        let err = runtime("python3.7", Architecture::X86_64, true, "2026-11-27")
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|m| m.contains("no longer supported")));
        let err = runtime("go1.x", Architecture::Arm64, true, "2020-01-01")
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|m| {
            m.starts_with("Runtime go1.x does not support the following architectures [arm64]")
        }));
        assert!(runtime("PYTHON3.12", Architecture::X86_64, true, "2026-11-27").is_err());
    }

    #[test]
    fn roles_follow_the_pattern() {
        let mut errs = ValidationErrors::new();
        role("arn:aws:iam::123456789012:role/lambda-role", &mut errs);
        assert!(errs.is_empty());
        role("r1", &mut errs);
        assert!(!errs.is_empty());
    }

    #[test]
    fn environment_rules() {
        let mut v = BTreeMap::new();
        v.insert("AWS_REGION".to_string(), "x".to_string());
        assert!(environment(&v).is_err());
        let mut v = BTreeMap::new();
        v.insert("BIG".to_string(), "x".repeat(5000));
        assert!(environment(&v).is_err_and(|e| e.to_string().contains("exceeded the 4KB limit")));
    }
}
