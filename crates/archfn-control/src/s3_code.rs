//! Code from archfn's S3: the `S3Bucket`, `S3Key` and `S3ObjectVersion` of CreateFunction,
//! UpdateFunctionCode and PublishLayerVersion.
//!
//! The object is read from the S3 catalogue (`archfn_store::objects`) directly, never over HTTP,
//! and its blob becomes the code as it is: the function or layer version names the same digest,
//! so `MetadataStore::code_references` keeps the blob for it after the object is deleted or
//! overwritten. Nothing is copied; the archive is inspected in place, as a `ZipFile` is.
//! A missing bucket, key or version is Lambda's `InvalidParameterValueException` with S3's own
//! error code and message after "Error occurred while GetObject.".

use archfn_blob::BlobDigest;
use archfn_model::PackageType;
use archfn_model::limits;

use crate::archive;
use crate::function::{StagedCode, archive_error, code_location};
use crate::input::S3Location;
use crate::{Control, ControlError};

/// The version id S3 gives an object written while its bucket had no versioning: the only
/// version an object of archfn's S3 has.
const NULL_VERSION: &str = "null";

/// Lambda's answer when its GetObject of the code fails with S3's `code` and `message`.
fn get_object_error(code: &str, message: &str) -> ControlError {
    ControlError::InvalidParameter(format!(
        "Error occurred while GetObject. S3 Error Code: {code}. S3 Error Message: {message}"
    ))
}

fn no_such_key() -> ControlError {
    get_object_error("NoSuchKey", "The specified key does not exist.")
}

/// Whether `id` has the shape of a version id S3 hands out (32 characters of its alphabet), so
/// that a missing one is `NoSuchVersion` and anything else `InvalidArgument`, as S3 answers.
fn looks_like_version_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Control {
    /// Finds the object `location` names, in a bucket of `region`, checks its archive as a
    /// `ZipFile`'s is checked (zip slip, symlinks, bombs, the unzipped limit with
    /// `layers_unzipped`), and answers its blob as the code, pinned until the row naming it is
    /// written.
    pub(crate) async fn stage_s3_code(
        &self,
        region: &str,
        location: &S3Location,
        layers_unzipped: u64,
    ) -> Result<StagedCode, ControlError> {
        if location.bucket.is_empty() || location.key.is_empty() {
            return Err(ControlError::InvalidParameter(
                "Please provide a source for function code.".into(),
            ));
        }
        let objects = &self.inner.objects;
        let bucket = objects.get_bucket(&location.bucket).await?.ok_or_else(|| {
            get_object_error("NoSuchBucket", "The specified bucket does not exist")
        })?;
        if bucket.region != region {
            return Err(get_object_error(
                "PermanentRedirect",
                &format!(
                    "The bucket is in this region: {}. Please use this region to retry the request",
                    bucket.region
                ),
            ));
        }
        let object = objects
            .get_object(&location.bucket, &location.key)
            .await?
            .ok_or_else(no_such_key)?;
        match location.object_version.as_deref() {
            None | Some(NULL_VERSION) => {}
            Some(id) if looks_like_version_id(id) => {
                return Err(get_object_error(
                    "NoSuchVersion",
                    "The specified version does not exist.",
                ));
            }
            Some(_) => {
                return Err(get_object_error(
                    "InvalidArgument",
                    "Invalid version id specified",
                ));
            }
        }
        if object.size > limits::UNZIPPED_MAX_BYTES {
            return Err(unzipped_too_large());
        }
        let digest = BlobDigest::from_hex(&object.digest).ok_or_else(|| {
            ControlError::Internal(format!(
                "object {}/{} names blob {:?}",
                object.bucket, object.key, object.digest
            ))
        })?;
        // Pinned, then looked for: a blob still there once pinned stays until the function's
        // (or layer's) row names it, whatever happens to the object meanwhile.
        let pin = self.pin_code(vec![object.digest.clone()]).await;
        if self.inner.blobs.size(&object.digest).await?.is_none() {
            return Err(no_such_key());
        }
        let summary = match self.inner.blobs.local_path(&object.digest) {
            Some(path) => tokio::task::spawn_blocking(move || {
                let file = std::fs::File::open(&path)?;
                archive::inspect_reader(std::io::BufReader::new(file))
            })
            .await
            .map_err(|e| ControlError::Internal(e.to_string()))?,
            None => {
                let bytes = self.inner.blobs.get(&object.digest).await?;
                tokio::task::spawn_blocking(move || archive::inspect(&bytes))
                    .await
                    .map_err(|e| ControlError::Internal(e.to_string()))?
            }
        }
        .map_err(archive_error)?;
        if summary.unzipped_size.saturating_add(layers_unzipped) > limits::UNZIPPED_MAX_BYTES {
            return Err(unzipped_too_large());
        }
        Ok(StagedCode {
            location: code_location(digest, object.size, summary.unzipped_size),
            package_type: PackageType::Zip,
            _pin: Some(pin),
        })
    }
}

/// Lambda's answer for code whose unzipped size (with its layers') is over the limit.
pub(crate) fn unzipped_too_large() -> ControlError {
    ControlError::InvalidParameter(format!(
        "Unzipped size must be smaller than {} bytes",
        limits::UNZIPPED_MAX_BYTES
    ))
}

#[cfg(test)]
mod tests {
    use archfn_store::objects::{BucketRecord, ObjectRecord};

    use super::*;
    use crate::testing::{ACCOUNT, control, zip_of};
    use crate::{CodeSource, CreateFunctionInput};

    fn create_input(name: &str, location: S3Location) -> CreateFunctionInput {
        CreateFunctionInput {
            function_name: name.into(),
            runtime: Some("python3.12".into()),
            role: Some(format!("arn:aws:iam::{ACCOUNT}:role/test")),
            handler: Some("app.handler".into()),
            code: CodeSource::S3(location).into(),
            ..CreateFunctionInput::default()
        }
    }

    #[tokio::test]
    async fn a_function_from_s3_runs_the_objects_blob_without_a_copy() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let control = control(&dir).await;
        let zip = zip_of("app.py", b"def handler(e, c):\n    return e\n");
        let digest = control
            .inner
            .blobs
            .put(zip.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let objects = &control.inner.objects;
        let bucket = BucketRecord {
            name: "code".into(),
            region: "us-east-1".into(),
            created_ms: 0,
        };
        objects
            .create_bucket(&bucket)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let object = ObjectRecord {
            bucket: "code".into(),
            key: "fn.zip".into(),
            digest: digest.hex(),
            size: zip.len() as u64,
            etag: "0".into(),
            content_type: None,
            metadata: Default::default(),
            modified_ms: 0,
        };
        objects
            .put_object(&object)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let blobs_before = control.inner.blobs.list().await.map(|l| l.len()).ok();
        let location = S3Location {
            bucket: "code".into(),
            key: "fn.zip".into(),
            object_version: Some("null".into()),
        };
        let view = control
            .create_function("us-east-1", create_input("f", location.clone()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            view.config.code.source,
            archfn_model::Code::zip(digest.hex())
        );
        assert_eq!(view.config.code.size, zip.len() as u64);
        assert_eq!(
            control.inner.blobs.list().await.map(|l| l.len()).ok(),
            blobs_before
        );
        // The object may go: the function's row names the blob, so collection keeps it.
        objects
            .delete_object("code", "fn.zip")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let refs = control
            .store()
            .code_references()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(refs.digests.contains(&digest.hex()));

        let missing = control
            .create_function("us-east-1", create_input("g", location))
            .await
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            missing.as_deref(),
            Some(
                "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist."
            )
        );
    }

    #[test]
    fn tells_version_ids_from_other_strings() {
        assert!(looks_like_version_id("3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH"));
        assert!(!looks_like_version_id("1"));
        assert!(!looks_like_version_id("3HL4kqtJlcpXroDTDmJ/rmSpXd3dIbrH"));
    }
}
