//! How an invocation ended, typed: what the caller gets, what the REPORT line says, whether the
//! environment is kept, and the words of the metrics and the Telemetry API.

use archfn_sandbox::host::ProcessExit;
use bytes::Bytes;

/// Why a runtime process is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExitInfo {
    /// The process ended so.
    Process(ProcessExit),
    /// Waiting for it failed.
    WaitFailed(String),
    /// Its Runtime API stopped taking invocations (the process is on its way out).
    ApiClosed,
}

impl ExitInfo {
    /// As Lambda's messages say it.
    pub(crate) fn describe(&self) -> String {
        match self {
            ExitInfo::Process(e) => e.describe(),
            ExitInfo::WaitFailed(e) => format!("wait failed: {e}"),
            ExitInfo::ApiClosed => "runtime api closed".into(),
        }
    }

    /// An exit that says nothing of why (status 0, or the API closing first).
    fn silent(&self) -> bool {
        matches!(
            self,
            ExitInfo::Process(ProcessExit::Code(0)) | ExitInfo::ApiClosed
        )
    }
}

/// How one invocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The runtime answered.
    Success,
    /// The function reported an error of this type through `/error`.
    FunctionError(String),
    /// The answer was larger than Lambda allows: the platform's verdict, reported by the
    /// runtime API as `Function.ResponseSizeTooLarge`.
    ResponseTooLarge,
    /// The deadline passed.
    Timeout,
    /// The OOM killer ended the runtime.
    OutOfMemory,
    /// The runtime ended without answering.
    Exited(ExitInfo),
}

/// The error type Lambda gives an error answer without one.
const UNKNOWN_ERROR: &str = "Function.Unknown";

impl Ending {
    /// The ending of a function error answer of `error_type`.
    pub(crate) fn function_error(error_type: Option<String>) -> Ending {
        match error_type.as_deref() {
            Some("Function.ResponseSizeTooLarge") => Ending::ResponseTooLarge,
            _ => Ending::FunctionError(error_type.unwrap_or_else(|| UNKNOWN_ERROR.into())),
        }
    }

    /// The error type (`None` on success).
    pub(crate) fn error_type(&self) -> Option<&str> {
        match self {
            Ending::Success => None,
            Ending::FunctionError(t) => Some(t),
            Ending::ResponseTooLarge => Some("Function.ResponseSizeTooLarge"),
            Ending::Timeout => Some("Sandbox.Timedout"),
            Ending::OutOfMemory => Some("Runtime.OutOfMemory"),
            Ending::Exited(_) => Some("Runtime.ExitError"),
        }
    }

    /// What the REPORT line adds: `Status: error|timeout` and `Error Type`, for endings that
    /// are the platform's verdict rather than the function's answer.
    pub(crate) fn report_status(&self) -> Option<(&'static str, &str)> {
        match self {
            Ending::Success | Ending::FunctionError(_) => None,
            Ending::Timeout => Some(("timeout", "Sandbox.Timedout")),
            other => other.error_type().map(|t| ("error", t)),
        }
    }

    /// Whether the environment may serve again (a handler's error keeps it, as on Lambda).
    pub(crate) fn keeps_environment(&self) -> bool {
        matches!(
            self,
            Ending::Success | Ending::FunctionError(_) | Ending::ResponseTooLarge
        )
    }

    /// The document the caller gets for an ending the platform wrote (`None`: the runtime's
    /// own answer stands).
    pub(crate) fn platform_error(&self, request_id: &str, timeout_s: u32) -> Option<Bytes> {
        let message = match self {
            Ending::Success | Ending::FunctionError(_) | Ending::ResponseTooLarge => return None,
            Ending::Timeout => {
                format!(
                    "RequestId: {request_id} Error: Task timed out after {timeout_s}.00 seconds"
                )
            }
            Ending::OutOfMemory => {
                format!("RequestId: {request_id} Error: Runtime exited with error: signal: killed")
            }
            Ending::Exited(info) if info.silent() => {
                format!("RequestId: {request_id} Error: Runtime exited without providing a reason")
            }
            Ending::Exited(info) => format!(
                "RequestId: {request_id} Error: Runtime exited with error: {}",
                info.describe()
            ),
        };
        Some(error_doc(
            self.error_type().unwrap_or(UNKNOWN_ERROR),
            message,
        ))
    }

    /// The `outcome` label of `/metrics`.
    pub(crate) fn metric(&self) -> &'static str {
        match self {
            Ending::Success => "success",
            Ending::FunctionError(_) => "function_error",
            Ending::Timeout => "timeout",
            Ending::ResponseTooLarge | Ending::OutOfMemory | Ending::Exited(_) => "crash",
        }
    }

    /// The Telemetry API's `status`.
    pub(crate) fn telemetry(&self) -> &'static str {
        match self {
            Ending::Success => "success",
            Ending::FunctionError(_) => "error",
            Ending::Timeout => "timeout",
            Ending::ResponseTooLarge | Ending::OutOfMemory | Ending::Exited(_) => "failure",
        }
    }
}

/// Lambda's error document.
pub(crate) fn error_doc(error_type: &str, message: String) -> Bytes {
    Bytes::from(serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(e: &Ending) -> String {
        e.platform_error("r1", 3)
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["errorMessage"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    #[test]
    fn each_ending_says_what_lambda_says() {
        assert_eq!(Ending::Success.error_type(), None);
        assert!(Ending::Success.keeps_environment());
        let handled = Ending::function_error(Some("ValueError".into()));
        assert_eq!(handled.error_type(), Some("ValueError"));
        assert!(handled.keeps_environment() && handled.report_status().is_none());
        assert_eq!(
            Ending::function_error(None).error_type(),
            Some("Function.Unknown")
        );
        let big = Ending::function_error(Some("Function.ResponseSizeTooLarge".into()));
        assert_eq!(big, Ending::ResponseTooLarge);
        assert_eq!(
            big.report_status(),
            Some(("error", "Function.ResponseSizeTooLarge"))
        );
        assert_eq!(
            Ending::Timeout.report_status(),
            Some(("timeout", "Sandbox.Timedout"))
        );
        assert_eq!(
            message(&Ending::Timeout),
            "RequestId: r1 Error: Task timed out after 3.00 seconds"
        );
        assert!(!Ending::Timeout.keeps_environment());
        assert_eq!(
            message(&Ending::OutOfMemory),
            "RequestId: r1 Error: Runtime exited with error: signal: killed"
        );
        assert_eq!(
            message(&Ending::Exited(ExitInfo::Process(ProcessExit::Code(2)))),
            "RequestId: r1 Error: Runtime exited with error: exit status 2"
        );
        for silent in [ExitInfo::Process(ProcessExit::Code(0)), ExitInfo::ApiClosed] {
            assert_eq!(
                message(&Ending::Exited(silent)),
                "RequestId: r1 Error: Runtime exited without providing a reason"
            );
        }
        assert_eq!(Ending::OutOfMemory.metric(), "crash");
        assert_eq!(Ending::OutOfMemory.telemetry(), "failure");
    }
}
