//! The failures of CloudFormation operations, one variant per error code a caller gets.

/// Why a CloudFormation operation did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CfnError {
    /// `ValidationError` (400): a bad request, template or parameter, or a missing stack.
    #[error("{0}")]
    Validation(String),
    /// `AlreadyExistsException` (400).
    #[error("{0}")]
    AlreadyExists(String),
    /// `ChangeSetNotFound` (404).
    #[error("{0}")]
    ChangeSetNotFound(String),
    /// `InvalidChangeSetStatus` (400).
    #[error("{0}")]
    InvalidChangeSetStatus(String),
    /// `InsufficientCapabilitiesException` (400).
    #[error("{0}")]
    InsufficientCapabilities(String),
    /// `LimitExceededException` (400): a quota reached.
    #[error("{0}")]
    LimitExceeded(String),
    /// `InvalidAction` (400): an operation archfn does not serve.
    #[error("{0}")]
    InvalidAction(String),
    /// `InternalFailure` (500).
    #[error("{0}")]
    Internal(String),
}

impl CfnError {
    /// The error code in the answer.
    pub fn code(&self) -> &'static str {
        match self {
            CfnError::Validation(_) => "ValidationError",
            CfnError::AlreadyExists(_) => "AlreadyExistsException",
            CfnError::ChangeSetNotFound(_) => "ChangeSetNotFound",
            CfnError::InvalidChangeSetStatus(_) => "InvalidChangeSetStatus",
            CfnError::InsufficientCapabilities(_) => "InsufficientCapabilitiesException",
            CfnError::LimitExceeded(_) => "LimitExceededException",
            CfnError::InvalidAction(_) => "InvalidAction",
            CfnError::Internal(_) => "InternalFailure",
        }
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            CfnError::ChangeSetNotFound(_) => 404,
            CfnError::Internal(_) => 500,
            _ => 400,
        }
    }

    /// `Sender` or `Receiver`.
    pub fn fault(&self) -> &'static str {
        match self {
            CfnError::Internal(_) => "Receiver",
            _ => "Sender",
        }
    }
}
