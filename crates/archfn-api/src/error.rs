//! The one place AWS errors are built: status, `x-amzn-ErrorType`, `x-amzn-RequestId`, body.

use archfn_control::ControlError;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error answer in Lambda's shape. Variants are named as the AWS exceptions.
#[derive(Debug)]
#[allow(clippy::enum_variant_names)]
pub enum ApiError {
    /// 400, request-model violation (no `Type` in the body).
    ValidationException(String),
    /// 400.
    InvalidParameterValueException(String),
    /// 400, a body that is not the JSON the operation takes.
    InvalidRequestContentException(String),
    /// 404.
    ResourceNotFoundException(String),
    /// 404, no provisioned concurrency configuration at that qualifier.
    ProvisionedConcurrencyConfigNotFoundException(String),
    /// 409.
    ResourceConflictException(String),
    /// 412.
    PreconditionFailedException(String),
    /// 413.
    RequestEntityTooLargeException(String),
    /// 403.
    AccessDeniedException(String),
    /// 403, no or unknown credentials.
    UnrecognizedClientException(String),
    /// 403, a signature that does not match.
    InvalidSignatureException(String),
    /// 403, an unsigned request when signatures are required.
    MissingAuthenticationTokenException(String),
    /// 400, an `Authorization` header that lacks a part SigV4 requires.
    IncompleteSignatureException(String),
    /// 400, a body whose SHA-256 is not the signed `x-amz-content-sha256`.
    XAmzContentSHA256Mismatch(String),
    /// 404 for a path no operation has.
    UnknownOperationException(String),
    /// 429, with the reason Lambda gives.
    TooManyRequestsException(String, &'static str),
    /// 502: the function's runtime cannot run here.
    InvalidRuntimeException(String),
    /// 500.
    ServiceException(String),
    /// 404, the code signing configuration a function is to use does not exist.
    CodeSigningConfigNotFoundException(String),
}

impl ApiError {
    /// The HTTP status, the AWS error type (`x-amzn-ErrorType`) and the message of this error,
    /// as the API answers it (the console shows the same).
    pub fn parts(&self) -> (StatusCode, &'static str, &str) {
        use ApiError::*;
        match self {
            ValidationException(m) => (StatusCode::BAD_REQUEST, "ValidationException", m),
            InvalidParameterValueException(m) => {
                (StatusCode::BAD_REQUEST, "InvalidParameterValueException", m)
            }
            InvalidRequestContentException(m) => {
                (StatusCode::BAD_REQUEST, "InvalidRequestContentException", m)
            }
            ResourceNotFoundException(m) => (StatusCode::NOT_FOUND, "ResourceNotFoundException", m),
            ProvisionedConcurrencyConfigNotFoundException(m) => (
                StatusCode::NOT_FOUND,
                "ProvisionedConcurrencyConfigNotFoundException",
                m,
            ),
            ResourceConflictException(m) => (StatusCode::CONFLICT, "ResourceConflictException", m),
            PreconditionFailedException(m) => (
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailedException",
                m,
            ),
            RequestEntityTooLargeException(m) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLargeException",
                m,
            ),
            AccessDeniedException(m) => (StatusCode::FORBIDDEN, "AccessDeniedException", m),
            UnrecognizedClientException(m) => {
                (StatusCode::FORBIDDEN, "UnrecognizedClientException", m)
            }
            InvalidSignatureException(m) => (StatusCode::FORBIDDEN, "InvalidSignatureException", m),
            MissingAuthenticationTokenException(m) => (
                StatusCode::FORBIDDEN,
                "MissingAuthenticationTokenException",
                m,
            ),
            IncompleteSignatureException(m) => {
                (StatusCode::BAD_REQUEST, "IncompleteSignatureException", m)
            }
            XAmzContentSHA256Mismatch(m) => {
                (StatusCode::BAD_REQUEST, "XAmzContentSHA256Mismatch", m)
            }
            UnknownOperationException(m) => (StatusCode::NOT_FOUND, "UnknownOperationException", m),
            TooManyRequestsException(m, _) => {
                (StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException", m)
            }
            InvalidRuntimeException(m) => (StatusCode::BAD_GATEWAY, "InvalidRuntimeException", m),
            ServiceException(m) => (StatusCode::INTERNAL_SERVER_ERROR, "ServiceException", m),
            CodeSigningConfigNotFoundException(m) => (
                StatusCode::NOT_FOUND,
                "CodeSigningConfigNotFoundException",
                m,
            ),
        }
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::Validation(v) => ApiError::ValidationException(v.message()),
            ControlError::InvalidParameter(m) => ApiError::InvalidParameterValueException(m),
            ControlError::InvalidRequestContent(m) => ApiError::InvalidRequestContentException(m),
            ControlError::NotFound {
                kind: archfn_control::NotFoundKind::ProvisionedConcurrencyConfig,
                message,
            } => ApiError::ProvisionedConcurrencyConfigNotFoundException(message),
            ControlError::NotFound {
                kind: archfn_control::NotFoundKind::FunctionCodeSigningConfig,
                message,
            } => ApiError::CodeSigningConfigNotFoundException(message),
            ControlError::NotFound { message, .. } => ApiError::ResourceNotFoundException(message),
            ControlError::Conflict(m) => ApiError::ResourceConflictException(m),
            ControlError::PreconditionFailed(m) => ApiError::PreconditionFailedException(m),
            ControlError::TooLarge(m) => ApiError::RequestEntityTooLargeException(m),
            ControlError::AccessDenied(m) => ApiError::AccessDeniedException(m),
            ControlError::Throttled { message, reason } => {
                ApiError::TooManyRequestsException(message, reason)
            }
            ControlError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                ApiError::ServiceException(m)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, message) = self.parts();
        let body = if matches!(self, ApiError::ValidationException(_)) {
            serde_json::json!({ "message": message })
        } else if let ApiError::TooManyRequestsException(_, reason) = &self {
            serde_json::json!({ "Type": "User", "message": message, "Reason": reason })
        } else if matches!(self, ApiError::ServiceException(_)) {
            serde_json::json!({ "Type": "Service", "message": message })
        } else {
            serde_json::json!({ "Type": "User", "message": message })
        };
        let mut resp = (status, axum::Json(body)).into_response();
        resp.headers_mut()
            .insert("x-amzn-ErrorType", HeaderValue::from_static(kind));
        resp
    }
}
