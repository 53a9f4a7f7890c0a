//! How an Invoke runs: Lambda's invocation types, and the payload each accepts.

use crate::ValidationErrors;
use crate::limits::{ASYNC_INVOKE_PAYLOAD_MAX_BYTES, SYNC_INVOKE_PAYLOAD_MAX_BYTES};

/// The constraint Lambda quotes for an unknown invocation type.
pub const INVOCATION_TYPE_CONSTRAINT: &str =
    "Member must satisfy enum value set: [Event, RequestResponse, DryRun]";

/// An Invoke's `InvocationType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum InvocationType {
    /// Synchronous: the caller waits for the function's answer (the default).
    #[default]
    RequestResponse,
    /// Asynchronous: accepted into a durable queue, run and retried later.
    Event,
    /// Checks that the caller may invoke the function; nothing runs.
    DryRun,
}

impl InvocationType {
    /// Parses Lambda's spelling; anything else is the validation error Lambda answers.
    pub fn parse(s: &str) -> Result<InvocationType, ValidationErrors> {
        match s {
            "RequestResponse" => Ok(InvocationType::RequestResponse),
            "Event" => Ok(InvocationType::Event),
            "DryRun" => Ok(InvocationType::DryRun),
            other => Err(ValidationErrors::single(
                other,
                "invocationType",
                INVOCATION_TYPE_CONSTRAINT,
            )),
        }
    }

    /// Lambda's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            InvocationType::RequestResponse => "RequestResponse",
            InvocationType::Event => "Event",
            InvocationType::DryRun => "DryRun",
        }
    }

    /// The largest payload this type accepts, in bytes: 6 MB synchronous (a DryRun is checked
    /// as a synchronous invocation), 1 MB asynchronous.
    pub fn payload_max_bytes(self) -> usize {
        match self {
            InvocationType::RequestResponse | InvocationType::DryRun => {
                SYNC_INVOKE_PAYLOAD_MAX_BYTES
            }
            InvocationType::Event => ASYNC_INVOKE_PAYLOAD_MAX_BYTES,
        }
    }
}

impl std::fmt::Display for InvocationType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lambdas_spellings_only() {
        for t in [
            InvocationType::RequestResponse,
            InvocationType::Event,
            InvocationType::DryRun,
        ] {
            assert_eq!(InvocationType::parse(t.as_str()), Ok(t));
        }
        assert_eq!(
            InvocationType::parse("event").map_err(|e| e.message()),
            Err("1 validation error detected: Value 'event' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]".to_string())
        );
    }

    #[test]
    fn an_event_payload_is_smaller() {
        assert_eq!(
            InvocationType::RequestResponse.payload_max_bytes(),
            6_291_456
        );
        assert_eq!(InvocationType::DryRun.payload_max_bytes(), 6_291_456);
        assert_eq!(InvocationType::Event.payload_max_bytes(), 1_048_576);
    }
}
