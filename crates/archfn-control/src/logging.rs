//! `LoggingConfig` in CreateFunction and UpdateFunctionConfiguration: its members checked as
//! the API model checks them, then laid over the function's current configuration with the
//! rule Lambda adds (levels only with the JSON format).

use archfn_model::ValidationErrors;
use archfn_model::logging::{LogFormat, LogLevel, LoggingConfig, valid_log_group_chars};

use crate::ControlError;
use crate::input::LoggingInput;

/// The longest log group name.
const LOG_GROUP_MAX: usize = 512;

/// Checks the members of `input` against the API model (enums, the log group's pattern and
/// length), adding what fails to `errs`.
pub(crate) fn check_members(input: &LoggingInput, errs: &mut ValidationErrors) {
    if let Some(f) = input.log_format.as_deref()
        && LogFormat::parse(f).is_none()
    {
        errs.push(
            f,
            "loggingConfig.logFormat",
            "Member must satisfy enum value set: [JSON, Text]",
        );
    }
    if let Some(l) = input.application_log_level.as_deref()
        && LogLevel::parse(l).is_none()
    {
        errs.push(
            l,
            "loggingConfig.applicationLogLevel",
            "Member must satisfy enum value set: [TRACE, DEBUG, INFO, WARN, ERROR, FATAL]",
        );
    }
    if let Some(l) = input.system_log_level.as_deref()
        && LogLevel::parse(l).is_none_or(|l| !LogLevel::SYSTEM.contains(&l))
    {
        errs.push(
            l,
            "loggingConfig.systemLogLevel",
            "Member must satisfy enum value set: [DEBUG, INFO, WARN]",
        );
    }
    if let Some(g) = input.log_group.as_deref() {
        if g.chars().count() > LOG_GROUP_MAX {
            errs.push(
                g,
                "loggingConfig.logGroup",
                "Member must have length less than or equal to 512",
            );
        } else if g.is_empty() {
            errs.push(
                g,
                "loggingConfig.logGroup",
                "Member must have length greater than or equal to 1",
            );
        } else if !valid_log_group_chars(g) {
            errs.push(
                g,
                "loggingConfig.logGroup",
                "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
            );
        }
    }
}

/// The configuration `input` makes of `current`: members given replace the current ones. A
/// level given while the resulting format is Text is refused, as Lambda refuses it; levels
/// kept from a JSON configuration are dropped when it becomes Text. The members must have
/// passed `check_members`.
pub(crate) fn apply(
    current: LoggingConfig,
    input: &LoggingInput,
) -> Result<LoggingConfig, ControlError> {
    let mut next = current;
    if let Some(f) = input.log_format.as_deref().and_then(LogFormat::parse) {
        next.log_format = f;
    }
    let app = input
        .application_log_level
        .as_deref()
        .and_then(LogLevel::parse);
    let sys = input.system_log_level.as_deref().and_then(LogLevel::parse);
    if next.log_format == LogFormat::Text {
        if app.is_some() || sys.is_some() {
            return Err(ControlError::InvalidParameter(
                "LogLevel is not supported when LogFormat is set to \"Text\". Remove LogLevel from your request or change the LogFormat to \"Json\" and try again.".into(),
            ));
        }
        next.application_log_level = None;
        next.system_log_level = None;
    } else {
        next.application_log_level = app.or(next.application_log_level);
        next.system_log_level = sys.or(next.system_log_level);
    }
    if let Some(g) = &input.log_group {
        next.log_group = Some(g.clone());
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(f: Option<&str>, app: Option<&str>, sys: Option<&str>) -> LoggingInput {
        LoggingInput {
            log_format: f.map(str::to_string),
            application_log_level: app.map(str::to_string),
            system_log_level: sys.map(str::to_string),
            log_group: None,
        }
    }

    #[test]
    fn members_are_checked_against_the_model() {
        let mut errs = ValidationErrors::new();
        check_members(
            &input(Some("json"), Some("VERBOSE"), Some("ERROR")),
            &mut errs,
        );
        let m = errs.message();
        assert!(m.starts_with("3 validation errors detected: "), "{m}");
        assert!(m.contains("Value 'json' at 'loggingConfig.logFormat'"));
        assert!(m.contains("Value 'ERROR' at 'loggingConfig.systemLogLevel'"));
    }

    #[test]
    fn levels_need_json_and_text_drops_them() {
        assert!(apply(LoggingConfig::default(), &input(None, Some("DEBUG"), None)).is_err());
        let json = apply(
            LoggingConfig::default(),
            &input(Some("JSON"), Some("DEBUG"), None),
        )
        .ok()
        .unwrap_or_default();
        assert_eq!(json.application_log_level, Some(LogLevel::Debug));
        let kept = apply(json.clone(), &input(None, None, Some("WARN")))
            .ok()
            .unwrap_or_default();
        assert_eq!(kept.application_log_level, Some(LogLevel::Debug));
        assert_eq!(kept.system_log_level, Some(LogLevel::Warn));
        let text = apply(kept, &input(Some("Text"), None, None))
            .ok()
            .unwrap_or_default();
        assert_eq!(text, LoggingConfig::default());
    }
}
