//! A function's logging configuration (`LoggingConfig`): the log format, the two level filters
//! and the log group, with Lambda's defaults, and the levels' order.

use serde::{Deserialize, Serialize};

/// How Lambda writes a function's logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum LogFormat {
    /// Plain text lines (`START RequestId: …`), Lambda's default.
    #[default]
    Text,
    /// One JSON object per line, platform records and the runtimes' own loggers alike.
    #[serde(rename = "JSON")]
    Json,
}

impl LogFormat {
    /// The name on the wire: `Text` or `JSON`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "Text",
            LogFormat::Json => "JSON",
        }
    }

    /// The format a wire name stands for.
    pub fn parse(s: &str) -> Option<LogFormat> {
        match s {
            "Text" => Some(LogFormat::Text),
            "JSON" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// A log level, most detailed first (so `a <= b` means `a` is at least as detailed as `b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogLevel {
    /// The most detailed.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Possible problems.
    Warn,
    /// Errors.
    Error,
    /// Errors that stop the application.
    Fatal,
}

impl LogLevel {
    /// Application levels, in the order Lambda's enum lists them.
    pub const APPLICATION: [LogLevel; 6] = [
        LogLevel::Trace,
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warn,
        LogLevel::Error,
        LogLevel::Fatal,
    ];
    /// System levels, in the order Lambda's enum lists them.
    pub const SYSTEM: [LogLevel; 3] = [LogLevel::Debug, LogLevel::Info, LogLevel::Warn];

    /// The name on the wire (`INFO`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
            LogLevel::Fatal => "FATAL",
        }
    }

    /// The level a wire name stands for (exact, upper case).
    pub fn parse(s: &str) -> Option<LogLevel> {
        LogLevel::APPLICATION.into_iter().find(|l| l.as_str() == s)
    }

    /// The level a runtime's record names, as Lambda reads the `level` of a JSON line: any
    /// case, with the names runtimes' loggers use (`WARNING`, `CRITICAL`).
    pub fn from_record(s: &str) -> Option<LogLevel> {
        match s.to_ascii_uppercase().as_str() {
            "WARNING" => Some(LogLevel::Warn),
            "CRITICAL" => Some(LogLevel::Fatal),
            other => LogLevel::parse(other),
        }
    }
}

/// A function's logging configuration as stored: what the function set. Absent levels mean
/// Lambda's defaults (`INFO` when the format is JSON; none with Text).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LoggingConfig {
    /// Text or JSON.
    #[serde(default)]
    pub log_format: LogFormat,
    /// Filter of the function's own records (JSON only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_log_level: Option<LogLevel>,
    /// Filter of the platform's records (JSON only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_log_level: Option<LogLevel>,
    /// The log group; `/aws/lambda/<function name>` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
}

/// A logging configuration with every default applied: what the function's logs follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveLogging {
    /// Text or JSON.
    pub format: LogFormat,
    /// Application filter: `Some` exactly when the format is JSON.
    pub application_level: Option<LogLevel>,
    /// System filter: `Some` exactly when the format is JSON.
    pub system_level: Option<LogLevel>,
    /// The log group.
    pub log_group: String,
}

impl LoggingConfig {
    /// The configuration with Lambda's defaults for a function named `function`.
    pub fn effective(&self, function: &str) -> EffectiveLogging {
        let json = self.log_format == LogFormat::Json;
        EffectiveLogging {
            format: self.log_format,
            application_level: json.then(|| self.application_log_level.unwrap_or(LogLevel::Info)),
            system_level: json.then(|| self.system_log_level.unwrap_or(LogLevel::Info)),
            log_group: self
                .log_group
                .clone()
                .unwrap_or_else(|| default_log_group(function)),
        }
    }
}

impl EffectiveLogging {
    /// Whether a system record of `level` is written.
    pub fn system_allows(&self, level: LogLevel) -> bool {
        self.system_level.is_none_or(|min| level >= min)
    }

    /// Whether an application record of `level` is written.
    pub fn application_allows(&self, level: LogLevel) -> bool {
        self.application_level.is_none_or(|min| level >= min)
    }
}

/// Lambda's default log group of a function.
pub fn default_log_group(function: &str) -> String {
    format!("/aws/lambda/{function}")
}

/// Whether `s` satisfies the `LogGroup` pattern `[\.\-_/#A-Za-z0-9]+`.
pub fn valid_log_group_chars(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/' | b'#'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_format() {
        let text = LoggingConfig::default().effective("f");
        assert_eq!(text.format, LogFormat::Text);
        assert_eq!(text.application_level, None);
        assert_eq!(text.log_group, "/aws/lambda/f");
        let json = LoggingConfig {
            log_format: LogFormat::Json,
            system_log_level: Some(LogLevel::Warn),
            ..LoggingConfig::default()
        }
        .effective("f");
        assert_eq!(json.application_level, Some(LogLevel::Info));
        assert!(!json.system_allows(LogLevel::Info));
        assert!(json.system_allows(LogLevel::Warn));
        assert!(!json.application_allows(LogLevel::Debug));
    }

    #[test]
    fn record_levels_read_runtime_names() {
        assert_eq!(LogLevel::from_record("warning"), Some(LogLevel::Warn));
        assert_eq!(LogLevel::from_record("CRITICAL"), Some(LogLevel::Fatal));
        assert_eq!(LogLevel::from_record("debug"), Some(LogLevel::Debug));
        assert_eq!(LogLevel::from_record("loud"), None);
    }

    #[test]
    fn stored_shape_reads_back() -> Result<(), serde_json::Error> {
        let c = LoggingConfig {
            log_format: LogFormat::Json,
            application_log_level: Some(LogLevel::Debug),
            system_log_level: None,
            log_group: Some("/custom".into()),
        };
        let s = serde_json::to_string(&c)?;
        assert!(s.contains("\"JSON\"") && s.contains("\"DEBUG\""));
        assert_eq!(serde_json::from_str::<LoggingConfig>(&s)?, c);
        assert!(valid_log_group_chars("/aws/lambda/a#b.c_d-e"));
        assert!(!valid_log_group_chars("a b"));
        Ok(())
    }
}
