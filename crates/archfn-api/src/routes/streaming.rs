//! InvokeWithResponseStream (`POST /2021-11-15/functions/{name}/response-streaming-invocations`):
//! the function's answer as AWS event stream messages, each `PayloadChunk` sent as the runtime
//! streams it, then `InvokeComplete` (`ErrorCode`, `ErrorDetails`, `LogResult`). A function that
//! answers with a whole body gets one `PayloadChunk` with it, as on Lambda.
//!
//! Function URLs in `RESPONSE_STREAM` mode use [`start_invocation_stream`] too: it runs
//! an admitted invocation and hands out its [`ResponsePart`]s as they come, then its outcome.

use std::collections::HashMap;
use std::convert::Infallible;

use archfn_control::{Admission, Admitted, InvokeRefused};
use archfn_invoke::{
    Engine, ExecutionMode, InvokeError, InvokeOutcome, InvokeRequest, ResponsePart,
};
use archfn_model::InvocationType;
use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use tokio::sync::mpsc;

use super::invoke::{client_context, invoke_request, log_tail};
use crate::eventstream;
use crate::{ApiError, AppState, RequestContext};

/// Parts waiting between the engine and the reader of an invocation stream.
const PARTS_QUEUE: usize = 16;

/// A running invocation whose answer is taken as it comes (see [`start_invocation_stream`]).
#[derive(Debug)]
pub struct InvocationStream {
    /// The invocation's request id (START, REPORT, `x-amzn-RequestId`).
    pub request_id: String,
    parts: mpsc::Receiver<ResponsePart>,
    task: tokio::task::JoinHandle<Result<InvokeOutcome, InvokeError>>,
}

/// Starts running `request` (built by [`invoke_request`] from what
/// `Control::begin_invoke` admitted) with its answer handed out as it comes; `admission`, the
/// concurrency slot, is held until the invocation has ended. Read the parts with
/// [`InvocationStream::next_part`] until it gives `None`, then take
/// [`InvocationStream::outcome`].
///
/// A function URL in `RESPONSE_STREAM` mode reads it too (`url_front::streamed`): the first part is
/// [`ResponsePart::Begin`] when the runtime streams (its content type says whether an HTTP
/// prelude comes first: [`crate::http_prelude::HTTP_INTEGRATION_CONTENT_TYPE`], read with
/// [`crate::http_prelude::PreludeReader`]), followed by [`ResponsePart::Data`]; when the
/// function answers with a whole body no part comes and the outcome's `payload` is that body
/// (`streamed` false). An outcome with `function_error` is the function's failure (its
/// `payload` Lambda's error document); an `Err` means it never ran (throttled, runtime missing).
pub fn start_invocation_stream(
    engine: &Engine,
    request: InvokeRequest,
    admission: Admission,
) -> InvocationStream {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (sink, parts) = mpsc::channel(PARTS_QUEUE);
    let engine = engine.clone();
    let id = request_id.clone();
    let task = tokio::spawn(async move {
        let outcome = engine.invoke_streaming(request, id, sink).await;
        drop(admission);
        outcome
    });
    InvocationStream {
        request_id,
        parts,
        task,
    }
}

impl InvocationStream {
    /// The next part of the answer; `None` once the invocation has ended.
    pub async fn next_part(&mut self) -> Option<ResponsePart> {
        self.parts.recv().await
    }

    /// How the invocation ended (after the last part). Dropping the stream instead leaves the
    /// invocation running to its end, as Lambda does when a client goes away.
    pub async fn outcome(self) -> Result<InvokeOutcome, ApiError> {
        drop(self.parts);
        match self.task.await {
            Ok(outcome) => Ok(outcome?),
            Err(e) => Err(ApiError::ServiceException(format!(
                "invocation failed: {e}"
            ))),
        }
    }
}

/// `x-amz-invocation-type` of InvokeWithResponseStream: RequestResponse (the default) or
/// DryRun.
fn invocation_type(headers: &HeaderMap) -> Result<InvocationType, ApiError> {
    let Some(value) = headers
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(InvocationType::RequestResponse);
    };
    match value {
        "RequestResponse" => Ok(InvocationType::RequestResponse),
        "DryRun" => Ok(InvocationType::DryRun),
        other => Err(ApiError::ValidationException(
            archfn_model::ValidationErrors::single(
                other,
                "invocationType",
                "Member must satisfy enum value set: [RequestResponse, DryRun]",
            )
            .message(),
        )),
    }
}

/// `InvokeComplete`'s JSON: the error's type and message when the function failed, and the
/// log's tail when asked for.
fn invoke_complete(outcome: &InvokeOutcome, tail: bool) -> Vec<u8> {
    let mut doc = serde_json::Map::new();
    if outcome.function_error.is_some() {
        let error: serde_json::Value = serde_json::from_slice(&outcome.payload).unwrap_or_default();
        let code = error["errorType"]
            .as_str()
            .map(str::to_string)
            .or_else(|| outcome.figures.error_type.clone())
            .unwrap_or_else(|| "Unhandled".into());
        let details = error["errorMessage"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&outcome.payload).into_owned());
        doc.insert("ErrorCode".into(), code.into());
        doc.insert("ErrorDetails".into(), details.into());
    }
    if tail {
        let log = base64::engine::general_purpose::STANDARD.encode(outcome.log_tail());
        doc.insert("LogResult".into(), log.into());
    }
    serde_json::Value::Object(doc).to_string().into_bytes()
}

fn payload_chunk(bytes: &[u8]) -> Bytes {
    Bytes::from(eventstream::event(
        "PayloadChunk",
        "application/octet-stream",
        bytes,
    ))
}

/// Writes the event stream of `stream` to `frames`: each chunk as it comes, then, once the
/// invocation has ended, a whole answer's one chunk and `InvokeComplete`. A reader that leaves
/// stops the writing, not the invocation.
async fn write_events(
    mut stream: InvocationStream,
    first: Option<ResponsePart>,
    frames: mpsc::Sender<Result<Bytes, Infallible>>,
    tail: bool,
) {
    let mut next = first;
    while let Some(part) = next {
        if let ResponsePart::Data(data) = part
            && frames.send(Ok(payload_chunk(&data))).await.is_err()
        {
            break;
        }
        next = stream.next_part().await;
    }
    let outcome = match stream.outcome().await {
        Ok(outcome) => outcome,
        Err(e) => {
            // The answer has begun: the failure can only be told in the stream's end.
            tracing::warn!(error = ?e, "streamed invocation failed");
            let doc = serde_json::json!({ "ErrorCode": "ServiceException", "ErrorDetails": format!("{e:?}") });
            let event = eventstream::event(
                "InvokeComplete",
                "application/json",
                doc.to_string().as_bytes(),
            );
            let _ = frames.send(Ok(Bytes::from(event))).await;
            return;
        }
    };
    if !outcome.streamed && outcome.function_error.is_none() && !outcome.payload.is_empty() {
        let _ = frames.send(Ok(payload_chunk(&outcome.payload))).await;
    }
    let complete = eventstream::event(
        "InvokeComplete",
        "application/json",
        &invoke_complete(&outcome, tail),
    );
    let _ = frames.send(Ok(Bytes::from(complete))).await;
}

/// `POST /2021-11-15/functions/{name}/response-streaming-invocations`.
pub(crate) async fn invoke_with_response_stream(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let kind = invocation_type(&headers)?;
    let tail = log_tail(&headers)?;
    let client_context = client_context(&headers)?;
    let qualifier = q.get("Qualifier").map(String::as_str);
    let admitted = match state
        .control
        .begin_invoke(&ctx.region, &name, qualifier, kind, body)
        .await
    {
        Ok(a) => a,
        Err(InvokeRefused { error, throttled }) => {
            if let Some(t) = throttled {
                state
                    .engine
                    .record_throttle(&ctx.region, &t.config, t.alias.as_deref());
            }
            return Err(error.into());
        }
    };
    let (target, payload, admission) = match admitted {
        Admitted::Run {
            target,
            payload,
            admission,
        } => (target, payload, admission),
        Admitted::Checked => return Ok(StatusCode::NO_CONTENT.into_response()),
        Admitted::Queued { .. } => {
            return Err(ApiError::ServiceException(
                "an Event invocation cannot stream".into(),
            ));
        }
    };
    let executed_version = target.executed_version.clone();
    let mode = ExecutionMode::for_arch(target.config.architecture);
    let request = invoke_request(&ctx.region, *target, payload, client_context);
    let mut stream = start_invocation_stream(&state.engine, request, admission);
    let request_id = stream.request_id.clone();
    // Nothing is answered before the function runs, so that a refusal (throttled, a runtime
    // that is not installed) is an error of the operation, as on Lambda.
    let first = stream.next_part().await;
    let (frames_tx, frames_rx) = mpsc::channel(PARTS_QUEUE);
    match first {
        Some(first) => {
            tokio::spawn(write_events(stream, Some(first), frames_tx, tail));
        }
        None => {
            let outcome = stream.outcome().await?;
            let mut frames = Vec::new();
            if outcome.function_error.is_none() && !outcome.payload.is_empty() {
                frames.push(payload_chunk(&outcome.payload));
            }
            frames.push(Bytes::from(eventstream::event(
                "InvokeComplete",
                "application/json",
                &invoke_complete(&outcome, tail),
            )));
            for f in frames {
                let _ = frames_tx.try_send(Ok(f));
            }
        }
    }
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(frames_rx));
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    for (name, value) in [
        ("x-amz-executed-version", executed_version.as_str()),
        ("x-archfn-execution", mode.as_str()),
        ("x-amzn-RequestId", request_id.as_str()),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_request_response_and_dry_run_stream() {
        let mut h = HeaderMap::new();
        assert_eq!(
            invocation_type(&h).ok(),
            Some(InvocationType::RequestResponse)
        );
        h.insert("x-amz-invocation-type", HeaderValue::from_static("DryRun"));
        assert_eq!(invocation_type(&h).ok(), Some(InvocationType::DryRun));
        h.insert("x-amz-invocation-type", HeaderValue::from_static("Event"));
        match invocation_type(&h) {
            Err(ApiError::ValidationException(m)) => assert_eq!(
                m,
                "1 validation error detected: Value 'Event' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [RequestResponse, DryRun]"
            ),
            other => panic!("{other:?}"),
        }
    }
}
