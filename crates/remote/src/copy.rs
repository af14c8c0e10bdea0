//! Server-side copies: CopyObject up to 5 GiB, UploadPartCopy beyond (a
//! single CopyObject is refused past 5 GiB). The bytes never leave the
//! bucket. Each request copies only the version that was seen (ETag as
//! `x-amz-copy-source-if-match`), so a copy never silently takes a newer
//! object than the one the caller decided about.

use crate::error::{ErrorKind, RemoteError};
use crate::object::unquote_etag;
use crate::S3Remote;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, MetadataDirective};
use futures::stream::{self, StreamExt, TryStreamExt};

const GIB: u64 = 1024 * 1024 * 1024;

/// When a copy goes multipart, and in which parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyLimits {
    /// Objects larger than this are copied part by part (S3: 5 GiB).
    pub max_single_copy: u64,
    /// Part size of a multipart copy (at least the provider's minimum part).
    pub part_size: u64,
    /// Parts copied at once.
    pub concurrency: usize,
}

impl Default for CopyLimits {
    fn default() -> Self {
        CopyLimits { max_single_copy: 5 * GIB, part_size: 512 * 1024 * 1024, concurrency: 4 }
    }
}

/// What the caller saw of the source.
#[derive(Clone, Debug)]
pub struct CopySource<'a> {
    pub key: &'a str,
    pub size: u64,
    /// Without quotes; empty when the store gives none (then not checked).
    pub etag: &'a str,
}

/// The `x-amz-copy-source` header: `bucket/key`, URL-encoded, `/` kept.
fn copy_source_header(bucket: &str, key: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');
    format!("{}/{}", bucket, percent_encoding::utf8_percent_encode(key, KEEP))
}

fn quoted(etag: &str) -> Option<String> {
    (!etag.is_empty()).then(|| format!("\"{etag}\""))
}

impl S3Remote {
    /// Copies `src` to `dst` inside this bucket, metadata and content type
    /// included. Returns the new object's ETag. Fails with
    /// [`ErrorKind::Precondition`] when the source is no longer the version
    /// described by `src`.
    pub async fn copy_object(
        &self,
        src: &CopySource<'_>,
        dst: &str,
        limits: &CopyLimits,
    ) -> Result<String, RemoteError> {
        if src.size > limits.max_single_copy {
            return self.copy_multipart(src, dst, limits).await;
        }
        let out = self
            .client()
            .copy_object()
            .bucket(self.bucket())
            .key(dst)
            .copy_source(copy_source_header(self.bucket(), src.key))
            .set_copy_source_if_match(quoted(src.etag))
            .metadata_directive(MetadataDirective::Copy)
            .send()
            .await
            .map_err(RemoteError::from_sdk)?;
        Ok(out.copy_object_result().and_then(|r| r.e_tag()).map(unquote_etag).unwrap_or_default())
    }

    async fn copy_multipart(
        &self,
        src: &CopySource<'_>,
        dst: &str,
        limits: &CopyLimits,
    ) -> Result<String, RemoteError> {
        // Metadata and content type are set at creation: read them first,
        // and check that the source is still the version the caller saw.
        let details = self.details(src.key).await?;
        if details.size != src.size || (!src.etag.is_empty() && details.etag != src.etag) {
            return Err(RemoteError::new(
                ErrorKind::Precondition,
                format!("{} changed since it was listed", src.key),
            ));
        }
        let metadata = (!details.user_metadata.is_empty())
            .then(|| details.user_metadata.iter().cloned().collect::<std::collections::HashMap<_, _>>());
        let created = self
            .client()
            .create_multipart_upload()
            .bucket(self.bucket())
            .key(dst)
            .set_metadata(metadata)
            .set_content_type(details.content_type.clone())
            .send()
            .await
            .map_err(RemoteError::from_sdk)?;
        let upload_id = created
            .upload_id()
            .map(str::to_string)
            .ok_or_else(|| RemoteError::new(ErrorKind::Server, "the server gave no upload id"))?;
        let part_size = limits.part_size.max(1);
        let count = src.size.div_ceil(part_size).max(1);
        let source = copy_source_header(self.bucket(), src.key);
        let parts: Result<Vec<CompletedPart>, RemoteError> = stream::iter(1..=count)
            .map(|n| {
                let start = (n - 1) * part_size;
                let end = (n * part_size).min(src.size);
                let source = source.clone();
                let upload_id = upload_id.clone();
                async move {
                    let out = self
                        .client()
                        .upload_part_copy()
                        .bucket(self.bucket())
                        .key(dst)
                        .upload_id(upload_id)
                        .part_number(n as i32)
                        .copy_source(source)
                        .copy_source_range(format!("bytes={start}-{}", end.saturating_sub(1)))
                        .set_copy_source_if_match(quoted(src.etag))
                        .send()
                        .await
                        .map_err(RemoteError::from_sdk)?;
                    let etag = out.copy_part_result().and_then(|r| r.e_tag()).unwrap_or_default();
                    Ok(CompletedPart::builder().part_number(n as i32).e_tag(etag).build())
                }
            })
            .buffered(limits.concurrency.max(1))
            .try_collect()
            .await;
        let completed = match parts {
            Ok(parts) => {
                self.client()
                    .complete_multipart_upload()
                    .bucket(self.bucket())
                    .key(dst)
                    .upload_id(&upload_id)
                    .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                    .send()
                    .await
            }
            Err(e) => {
                self.abort_quietly(dst, &upload_id).await;
                return Err(e);
            }
        };
        match completed {
            Ok(out) => Ok(out.e_tag().map(unquote_etag).unwrap_or_default()),
            Err(e) => {
                self.abort_quietly(dst, &upload_id).await;
                Err(RemoteError::from_sdk(e))
            }
        }
    }

    /// Best effort: a failed abort leaves parts the bucket's lifecycle rules
    /// (or the next abort) clean up.
    async fn abort_quietly(&self, key: &str, upload_id: &str) {
        if let Err(e) = self
            .client()
            .abort_multipart_upload()
            .bucket(self.bucket())
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            tracing::warn!("could not abort the multipart copy to {key}: {}", RemoteError::from_sdk(e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_is_url_encoded_keeping_slashes() {
        assert_eq!(copy_source_header("b", "a dir/ü+x%.txt"), "b/a%20dir/%C3%BC%2Bx%25.txt");
    }
}
