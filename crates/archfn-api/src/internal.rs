//! The node-to-node invocation protocol (`POST /archfn/internal/v1/invoke`): its path, headers
//! and the figures a worker returns, shared by the worker's route (`routes/internal.rs`) and the
//! forwarding client in the binary.

use archfn_invoke::InvokeError;
use serde::{Deserialize, Serialize};

/// The route's path.
pub const PATH: &str = "/archfn/internal/v1/invoke";
/// The function's region.
pub const REGION: &str = "x-archfn-region";
/// The function's name.
pub const FUNCTION: &str = "x-archfn-function";
/// The version that runs (`$LATEST` or a number), as the calling node resolved it.
pub const VERSION: &str = "x-archfn-version";
/// The version's RevisionId as the calling node resolved it.
pub const REVISION: &str = "x-archfn-revision";
/// The ARN the caller invoked.
pub const INVOKED_ARN: &str = "x-archfn-invoked-arn";
/// The alias the caller invoked through, if any.
pub const ALIAS: &str = "x-archfn-alias";
/// The invocation's request id.
pub const REQUEST_ID: &str = "x-archfn-request-id";
/// The client context, base64 (as `X-Amz-Client-Context`).
pub const CLIENT_CONTEXT: &str = "x-amz-client-context";
/// Answer: how many bytes of the body are the log (the payload follows).
pub const LOG_LENGTH: &str = "x-archfn-log-length";
/// Answer: `native` or `emulated`.
pub const EXECUTION: &str = "x-archfn-execution";
/// Answer: the node that ran it.
pub const NODE: &str = "x-archfn-node";
/// Answer: `Unhandled` when the function failed.
pub const FUNCTION_ERROR: &str = "x-amz-function-error";
/// Answer: the REPORT line's figures ([`Figures`], JSON).
pub const FIGURES: &str = "x-archfn-figures";
/// Answer to a refusal: what kind of failure ([`InvokeErrorKind`]).
pub const ERROR_KIND: &str = "x-archfn-error-kind";

/// An invocation's figures, as a worker returns them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Duration, ms.
    pub duration_ms: f64,
    /// Billed duration, ms.
    pub billed_ms: u64,
    /// Max memory used, MB.
    pub max_memory_used_mb: u64,
    /// Init duration of a cold start, ms.
    pub init_ms: Option<f64>,
    /// A cold start.
    pub cold: bool,
    /// The function error's type.
    pub error_type: Option<String>,
}

impl Figures {
    /// As a header value.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// From a header value.
    pub fn decode(text: &str) -> Option<Figures> {
        serde_json::from_str(text).ok()
    }
}

/// Why a worker did not run an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvokeErrorKind {
    /// It cannot run that version (not found, another revision): the caller runs it itself.
    NotHere,
    /// [`InvokeError::Runtime`].
    Runtime,
    /// [`InvokeError::Unsupported`].
    Unsupported,
    /// [`InvokeError::Throttled`].
    Throttled,
    /// [`InvokeError::Internal`].
    Internal,
}

impl InvokeErrorKind {
    /// Its header value.
    pub fn as_str(self) -> &'static str {
        match self {
            InvokeErrorKind::NotHere => "not-here",
            InvokeErrorKind::Runtime => "runtime",
            InvokeErrorKind::Unsupported => "unsupported",
            InvokeErrorKind::Throttled => "throttled",
            InvokeErrorKind::Internal => "internal",
        }
    }

    /// From its header value.
    pub fn parse(s: &str) -> Option<InvokeErrorKind> {
        [
            InvokeErrorKind::NotHere,
            InvokeErrorKind::Runtime,
            InvokeErrorKind::Unsupported,
            InvokeErrorKind::Throttled,
            InvokeErrorKind::Internal,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// The kind of an engine error.
    pub fn of(e: &InvokeError) -> InvokeErrorKind {
        match e {
            InvokeError::Runtime(_) => InvokeErrorKind::Runtime,
            InvokeError::Unsupported(_) => InvokeErrorKind::Unsupported,
            InvokeError::Throttled(_) => InvokeErrorKind::Throttled,
            InvokeError::Internal(_) => InvokeErrorKind::Internal,
        }
    }

    /// The engine error of this kind with `message` (`None` for [`InvokeErrorKind::NotHere`]).
    pub fn error(self, message: String) -> Option<InvokeError> {
        match self {
            InvokeErrorKind::NotHere => None,
            InvokeErrorKind::Runtime => Some(InvokeError::Runtime(message)),
            InvokeErrorKind::Unsupported => Some(InvokeError::Unsupported(message)),
            InvokeErrorKind::Throttled => Some(InvokeError::Throttled(message)),
            InvokeErrorKind::Internal => Some(InvokeError::Internal(message)),
        }
    }
}
