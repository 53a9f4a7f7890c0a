//! `/v2/…`: the image store as a container registry, so that `docker push`, `skopeo copy` and
//! `crane push` can put images where an `ImageUri` finds them (the store stands in for ECR).
//! Blob uploads (monolithic or chunked), blob and manifest reads, manifest pushes. No
//! authentication: with `--auth sigv4` the registry refuses every request.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, RANGE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use archfn_control::image::ImageStore;
use archfn_control::registry::RegistryError;

use crate::AppState;
use crate::auth::AuthMode;

/// Manifests are small documents; registries cap them at 4 MiB.
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "code": code, "message": message }] });
    (
        status,
        [(CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A registry error in the distribution API's shape.
fn registry_error(e: RegistryError) -> Response {
    let status = match &e {
        RegistryError::BlobUnknown
        | RegistryError::UploadUnknown
        | RegistryError::ManifestUnknown => StatusCode::NOT_FOUND,
        RegistryError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    error(status, e.code(), &e.to_string())
}

fn with_headers(status: StatusCode, headers: &[(&'static str, String)]) -> Response {
    let mut resp = status.into_response();
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            resp.headers_mut().insert(*k, v);
        }
    }
    resp
}

/// `GET /v2/`: the API version check every client makes first.
pub(crate) async fn base(State(state): State<AppState>) -> Response {
    if let Some(refused) = refuse(&state) {
        return refused;
    }
    with_headers(
        StatusCode::OK,
        &[("docker-distribution-api-version", "registry/2.0".into())],
    )
}

fn refuse(state: &AppState) -> Option<Response> {
    matches!(*state.auth, AuthMode::SigV4(_)).then(|| {
        error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "archfn's registry has no authentication and is off under --auth sigv4; use `archfn image import`",
        )
    })
}

/// What a `/v2/<name>/…` path asks for.
enum Target<'a> {
    Uploads(&'a str),
    Upload(&'a str, &'a str),
    Blob(&'a str),
    Manifest(&'a str, &'a str),
}

fn parse(path: &str) -> Option<Target<'_>> {
    if let Some(name) = path.strip_suffix("/blobs/uploads/") {
        return Some(Target::Uploads(name));
    }
    if let Some((name, id)) = path.rsplit_once("/blobs/uploads/") {
        return Some(Target::Upload(name, id));
    }
    if let Some((_, digest)) = path.rsplit_once("/blobs/") {
        return Some(Target::Blob(digest));
    }
    if let Some((name, reference)) = path.rsplit_once("/manifests/") {
        return Some(Target::Manifest(name, reference));
    }
    None
}

fn query(req: &Request, key: &str) -> Option<String> {
    req.uri().query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// Every `/v2/<name>/…` request.
pub(crate) async fn dispatch(State(state): State<AppState>, req: Request) -> Response {
    if let Some(refused) = refuse(&state) {
        return refused;
    }
    let path = req.uri().path().trim_start_matches("/v2/").to_string();
    let store = state.control.images().clone();
    let result = match (req.method().clone(), parse(&path)) {
        (Method::POST, Some(Target::Uploads(name))) => start_upload(&store, name, req).await,
        (Method::PATCH, Some(Target::Upload(name, id))) => append(&store, id, req.into_body())
            .await
            .map(|size| upload_status(StatusCode::ACCEPTED, name, id, size)),
        (Method::PUT, Some(Target::Upload(name, id))) => {
            let digest = query(&req, "digest").unwrap_or_default();
            match append(&store, id, req.into_body()).await {
                Ok(_) => finish(&store, name, id, &digest).await,
                Err(e) => Err(e),
            }
        }
        (Method::GET, Some(Target::Upload(name, id))) => store
            .upload_size(id)
            .await
            .map(|size| upload_status(StatusCode::NO_CONTENT, name, id, size)),
        (Method::HEAD | Method::GET, Some(Target::Blob(digest))) => {
            blob(&store, digest, req.method() == Method::HEAD).await
        }
        (Method::PUT, Some(Target::Manifest(name, reference))) => {
            let content_type = req
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            match http_body_util::Limited::new(req.into_body(), MAX_MANIFEST_BYTES)
                .collect()
                .await
            {
                Ok(body) => store
                    .put_manifest(name, reference, body.to_bytes(), content_type.as_deref())
                    .await
                    .map(|digest| created(name, "manifests", &digest)),
                Err(e) => Err(RegistryError::ManifestInvalid(e.to_string())),
            }
        }
        (Method::HEAD | Method::GET, Some(Target::Manifest(name, reference))) => {
            let head = req.method() == Method::HEAD;
            store
                .get_manifest(name, reference)
                .await
                .map(|(body, media_type, digest)| {
                    let len = body.len();
                    let mut resp = if head {
                        StatusCode::OK.into_response()
                    } else {
                        (StatusCode::OK, body).into_response()
                    };
                    let h = resp.headers_mut();
                    for (k, v) in [
                        (CONTENT_TYPE.as_str(), media_type),
                        ("docker-content-digest", digest),
                        (CONTENT_LENGTH.as_str(), len.to_string()),
                    ] {
                        if let Ok(v) = HeaderValue::from_str(&v) {
                            h.insert(k, v);
                        }
                    }
                    resp
                })
        }
        (Method::DELETE, _) => {
            return error(
                StatusCode::METHOD_NOT_ALLOWED,
                "UNSUPPORTED",
                "deletes are not supported",
            );
        }
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                "unknown registry path",
            );
        }
    };
    result.unwrap_or_else(registry_error)
}

/// 201 for a stored blob or manifest (`kind`), at its digest.
fn created(name: &str, kind: &str, digest: &str) -> Response {
    with_headers(
        StatusCode::CREATED,
        &[
            ("location", format!("/v2/{name}/{kind}/{digest}")),
            ("docker-content-digest", digest.to_string()),
        ],
    )
}

fn upload_status(status: StatusCode, name: &str, id: &str, size: u64) -> Response {
    with_headers(
        status,
        &[
            ("location", format!("/v2/{name}/blobs/uploads/{id}")),
            (RANGE.as_str(), format!("0-{}", size.saturating_sub(1))),
            ("docker-upload-uuid", id.to_string()),
        ],
    )
}

/// `POST …/blobs/uploads/`: a new upload, or a whole blob at once with `?digest=`. A
/// cross-repository mount (`?mount=`) of a blob the store has succeeds at once: blobs are shared.
async fn start_upload(
    store: &ImageStore,
    name: &str,
    req: Request,
) -> Result<Response, RegistryError> {
    if let Some(digest) = query(&req, "mount")
        && store.mount(&digest).await?
    {
        return Ok(created(name, "blobs", &digest));
    }
    let id = store.start_upload().await?;
    match query(&req, "digest") {
        Some(digest) => {
            append(store, &id, req.into_body()).await?;
            finish(store, name, &id, &digest).await
        }
        None => Ok(upload_status(StatusCode::ACCEPTED, name, &id, 0)),
    }
}

/// Appends a request body to an upload, streamed into the upload's writer as it arrives;
/// returns the upload's size.
async fn append(store: &ImageStore, id: &str, body: Body) -> Result<u64, RegistryError> {
    let mut upload = store.upload(id).await?;
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| RegistryError::Io(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            upload.write(&data).await?;
        }
    }
    Ok(upload.size())
}

async fn finish(
    store: &ImageStore,
    name: &str,
    id: &str,
    digest: &str,
) -> Result<Response, RegistryError> {
    store.finish_upload(id, digest).await?;
    Ok(created(name, "blobs", digest))
}

/// `HEAD`/`GET …/blobs/<digest>`: the blob, streamed from the blob store.
async fn blob(store: &ImageStore, digest: &str, head: bool) -> Result<Response, RegistryError> {
    let size = store
        .blob_size(digest)
        .await?
        .ok_or(RegistryError::BlobUnknown)?;
    let mut headers = HeaderMap::new();
    for (k, v) in [
        (CONTENT_LENGTH.as_str(), size.to_string()),
        ("docker-content-digest", digest.to_string()),
        (
            CONTENT_TYPE.as_str(),
            "application/octet-stream".to_string(),
        ),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    }
    if head {
        return Ok((StatusCode::OK, headers).into_response());
    }
    let blob = store.read_blob(digest).await?;
    let stream = tokio_util::io::ReaderStream::new(blob.reader);
    Ok((StatusCode::OK, headers, Body::from_stream(stream)).into_response())
}
