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
    /// A request body that is not the JSON the operation takes (`InvalidRequestContentException`).
    #[error("{0}")]
    InvalidRequestContent(String),
    /// The resource does not exist (`ResourceNotFoundException`).
    #[error("{message}")]
    NotFound {
        /// What was not found: code decides on this, never on the message.
        kind: NotFoundKind,
        /// The message, as Lambda words it.
        message: String,
    },
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

/// What a [`ControlError::NotFound`] did not find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotFoundKind {
    /// The function: no function of that name in the region.
    Function,
    /// The function version a qualifier or a routing configuration names (a number, or an alias
    /// used as a qualifier); Lambda words it "Function not found: <arn>:<qualifier>".
    Version,
    /// An alias, addressed as one (GetAlias, UpdateAlias, a traffic shift's alias).
    Alias,
    /// A layer or layer version.
    Layer,
    /// A function ARN of another region, which this region cannot reach.
    Region,
    /// A traffic shift.
    Deployment,
    /// A comparison.
    Comparison,
    /// A provisioned concurrency configuration (`ProvisionedConcurrencyConfigNotFoundException`).
    ProvisionedConcurrencyConfig,
    /// An asynchronous invocation configuration.
    EventInvokeConfig,
    /// A code signing configuration, addressed as one (`ResourceNotFoundException`).
    CodeSigningConfig,
    /// The code signing configuration a function is to use
    /// (`CodeSigningConfigNotFoundException`).
    FunctionCodeSigningConfig,
    /// A capacity provider (`ResourceNotFoundException`).
    CapacityProvider,
}

impl ControlError {
    /// A [`ControlError::NotFound`] of `kind` with Lambda's `message`.
    pub fn not_found(kind: NotFoundKind, message: impl Into<String>) -> ControlError {
        ControlError::NotFound {
            kind,
            message: message.into(),
        }
    }
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
