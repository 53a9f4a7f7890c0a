//! New code from a function's page: a `.zip` uploaded in a form goes to UpdateFunctionCode's use
//! case as it is, with the function's architecture kept, so its checks (size, zip slip, zip bombs,
//! the RevisionId shown) and its errors are the API's.

use archfn_control::{CodeInput, UpdateCodeInput};
use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::ConsoleState;
use crate::function::FunctionQuery;
use crate::invoke::api_error_page;
use crate::layout::error_page;

/// The largest form accepted: UpdateFunctionCode's request limit, as the API's. Of a larger zip
/// only one byte past Lambda's 50 MB is kept, so that the use case refuses it in its own words.
pub(crate) const MAX_FORM_BYTES: usize = archfn_model::limits::CREATE_REQUEST_MAX_BYTES;

/// The API's answer to a request over its limit.
fn request_too_large(open: bool) -> Response {
    api_error_page(
        open,
        archfn_api::ApiError::RequestEntityTooLargeException(format!(
            "Request must be smaller than {MAX_FORM_BYTES} bytes for the UpdateFunctionCode operation"
        )),
    )
}

/// `POST /console/functions/{name}/code`, a `multipart/form-data` form of `csrf`, `revision`
/// and `zip` (the file).
pub(crate) async fn upload(
    State(state): State<ConsoleState>,
    Path(name): Path<String>,
    Query(q): Query<FunctionQuery>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    let open = state.is_open();
    let region = q.region.unwrap_or_else(|| state.app.default_region.clone());
    let (mut csrf, mut revision, mut zip) = (String::new(), None, None::<Vec<u8>>);
    let limit = archfn_model::limits::ZIPPED_MAX_BYTES as usize + 1;
    loop {
        let mut field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return request_too_large(open);
            }
            Err(e) => {
                return error_page(
                    open,
                    StatusCode::BAD_REQUEST,
                    &format!("The form could not be read: {e}"),
                );
            }
        };
        match field.name().unwrap_or("") {
            "csrf" => csrf = field.text().await.unwrap_or_default(),
            "revision" => revision = field.text().await.ok().filter(|r| !r.is_empty()),
            "zip" => {
                let mut bytes = Vec::new();
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            // Past the limit the rest is read (the form's other fields may
                            // follow) and dropped.
                            let room = limit.saturating_sub(bytes.len());
                            bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
                        }
                        Ok(None) => break,
                        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                            return request_too_large(open);
                        }
                        Err(e) => {
                            return error_page(
                                open,
                                StatusCode::BAD_REQUEST,
                                &format!("The file could not be read: {e}"),
                            );
                        }
                    }
                }
                zip = Some(bytes);
            }
            _ => {}
        }
    }
    if let Some(refused) = crate::csrf::refused(&state, &csrf, &headers) {
        return refused;
    }
    let Some(zip) = zip.filter(|z| !z.is_empty()) else {
        return error_page(
            open,
            StatusCode::BAD_REQUEST,
            "Choose a .zip file to upload.",
        );
    };
    let input = UpdateCodeInput {
        code: CodeInput {
            zip: Some(Bytes::from(zip)),
            ..CodeInput::default()
        },
        architectures: None,
        publish: false,
        dry_run: false,
        revision_id: revision,
    };
    match state
        .app
        .control
        .update_function_code(&region, &name, input)
        .await
    {
        Ok(_) => (
            StatusCode::SEE_OTHER,
            [(
                header::LOCATION,
                format!("/console/functions/{name}?region={region}"),
            )],
        )
            .into_response(),
        Err(e) => api_error_page(open, e.into()),
    }
}
