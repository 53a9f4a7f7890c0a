//! The failures of control-plane use cases, one variant per kind of answer a caller gets.

use archfn_model::ValidationErrors;

/// Why a control-plane operation did not happen. Each variant maps to one Lambda exception.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The request breaks the API model (`ValidationException`).
    #[error("{0}")]
    Validation(#[from] ValidationErrors),
    /// A parameter is not acceptable (`InvalidParameterValueException`).
    #[error("{0}")]
    InvalidParameter(String),
    /// The resource does not exist (`ResourceNotFoundException`).
    #[error("{0}")]
    NotFound(String),
    /// The resource is in a state that forbids this (`ResourceConflictException`).
    #[error("{0}")]
    Conflict(String),
    /// The caller's RevisionId is stale (`PreconditionFailedException`).
    #[error("{0}")]
    PreconditionFailed(String),
    /// The request or its code is too large (`RequestEntityTooLargeException`).
    #[error("{0}")]
    TooLarge(String),
    /// The resource belongs to another account (`AccessDeniedException`).
    #[error("{0}")]
    AccessDenied(String),
    /// Over a concurrency limit (`TooManyRequestsException` with Lambda's reason).
    #[error("{message}")]
    Throttled {
        /// The message ("Rate Exceeded.").
        message: String,
        /// Lambda's `Reason`, e.g. `ConcurrentInvocationLimitExceeded`.
        reason: &'static str,
    },
    /// Something on our side failed (`ServiceException`).
    #[error("{0}")]
    Internal(String),
}

impl From<archfn_store::StoreError> for ControlError {
    fn from(e: archfn_store::StoreError) -> Self {
        ControlError::Internal(format!("metadata store: {e}"))
    }
}

impl From<archfn_blob::BlobError> for ControlError {
    fn from(e: archfn_blob::BlobError) -> Self {
        ControlError::Internal(format!("blob store: {e}"))
    }
}

/// The answer to a stale RevisionId, as Lambda words it.
pub(crate) fn revision_mismatch() -> ControlError {
    ControlError::PreconditionFailed(
        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id".into(),
    )
}
