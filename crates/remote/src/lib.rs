//! `bucketsync-remote` owns everything on the bucket's side of the wire.
//!
//! It knows: the [`Remote`] trait the engine syncs against, its S3
//! implementation over aws-sdk-s3 (configured for non-AWS stores), the
//! provider presets as data, and the classification of S3 failures into
//! [`ErrorKind`]s a user can act on.
//!
//! It must not know: local files, SQLite, sync decisions, the keyring or any
//! UI. It is the only crate that depends on aws-sdk-s3.

pub mod bandwidth;
pub mod connection;
pub mod copy;
pub mod cors;
pub mod error;
pub mod link;
pub mod listing;
pub mod normalise;
pub mod object;
pub mod probe;
pub mod provider;
pub mod request;
pub mod s3;
mod watchdog;

pub use connection::{Addressing, Connection, Secret, Timeouts};
pub use copy::{CopyLimits, CopySource};
pub use error::{ErrorKind, RemoteError};
pub use listing::{FolderPage, ListedObject, ObjectDetails};
pub use normalise::{normalise, FieldError, RawPolicy, Settings};
pub use object::{ListPage, ObjectMeta, OpenUpload, PartInfo, WriteIf};
pub use probe::{ProbeReport, ProbeStep};
pub use s3::S3Remote;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::stream::{BoxStream, TryStreamExt};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// A ranged GET's body, piece by piece as it arrives (so a download writes
/// each piece where it belongs and holds no buffer the size of its range).
/// The stream fails, rather than ends, when the body breaks off or brings
/// more or fewer bytes than were asked for.
pub type RangeBody = BoxStream<'static, Result<Bytes, RemoteError>>;

/// What the engine needs from a bucket. One implementation talks S3; tests may
/// add fakes for fault injection, never instead of a real server.
#[async_trait]
pub trait Remote: Send + Sync {
    /// One page of keys under `prefix` (recursive, no delimiter).
    async fn list_page(&self, prefix: &str, continuation: Option<String>) -> Result<ListPage, RemoteError>;
    async fn head(&self, key: &str) -> Result<ObjectMeta, RemoteError>;
    /// [`Remote::head`] plus the object's user metadata (`x-amz-meta-*`,
    /// names without the prefix), e.g. the `sha256` content hash the engine
    /// writes. Fakes may keep this default, which reports no metadata.
    async fn head_with_metadata(
        &self,
        key: &str,
    ) -> Result<(ObjectMeta, Vec<(String, String)>), RemoteError> {
        Ok((self.head(key).await?, Vec::new()))
    }
    /// [`Remote::put_bytes_if`] with no condition.
    async fn put_bytes(
        &self,
        key: &str,
        body: Bytes,
        metadata: &[(String, String)],
    ) -> Result<ObjectMeta, RemoteError> {
        self.put_bytes_if(key, body, metadata, &WriteIf::Always).await
    }
    /// One object from memory, written only if `condition` holds on a
    /// server that honours it (a failed condition is an
    /// [`ErrorKind::Precondition`] error: 412, or 409 for a conflicting
    /// concurrent write). Implementations must send the condition, never
    /// drop it: the engine relies on it instead of a HEAD where the probe
    /// saw it honoured.
    async fn put_bytes_if(
        &self,
        key: &str,
        body: Bytes,
        metadata: &[(String, String)],
        condition: &WriteIf,
    ) -> Result<ObjectMeta, RemoteError>;
    /// [`Remote::put_bytes_if`] of a body whose SHA-256 (lowercase hex) the
    /// caller already computed: the S3 implementation signs it as the
    /// payload hash instead of hashing the body again, and a server that
    /// checks signed payloads refuses a body that does not match it.
    async fn put_hashed_if(
        &self,
        key: &str,
        body: Bytes,
        sha256: &str,
        metadata: &[(String, String)],
        condition: &WriteIf,
    ) -> Result<ObjectMeta, RemoteError> {
        let _ = sha256;
        self.put_bytes_if(key, body, metadata, condition).await
    }
    /// [`Remote::put_file_if`] with no condition.
    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        length: u64,
        metadata: &[(String, String)],
    ) -> Result<ObjectMeta, RemoteError> {
        self.put_file_if(key, path, length, metadata, &WriteIf::Always).await
    }
    /// Streams the first `length` bytes of a local file as one object,
    /// under `condition` (see [`Remote::put_bytes_if`]).
    async fn put_file_if(
        &self,
        key: &str,
        path: &Path,
        length: u64,
        metadata: &[(String, String)],
        condition: &WriteIf,
    ) -> Result<ObjectMeta, RemoteError>;
    /// The bytes `range` of `key` as a stream of pieces (see [`RangeBody`]).
    async fn get_range_stream(&self, key: &str, range: Range<u64>) -> Result<RangeBody, RemoteError>;
    /// The bytes `range` of `key` in one buffer: for small reads (previews,
    /// tests); downloads stream with [`Remote::get_range_stream`].
    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, RemoteError> {
        let mut received = BytesMut::with_capacity((range.end.saturating_sub(range.start)) as usize);
        let mut body = self.get_range_stream(key, range).await?;
        while let Some(piece) = body.try_next().await? {
            received.extend_from_slice(&piece);
        }
        Ok(received.freeze())
    }
    /// A whole small object in one request: what the answer's headers say
    /// of it (size, ETag, mtime, user metadata: the version these very
    /// bytes are) and its bytes. When its size is not `expected_size` (it
    /// changed since it was listed) the body is not read and comes back
    /// empty. For objects small enough to hold in memory; fakes may keep
    /// this default, a HEAD then a GET.
    async fn get_whole(
        &self,
        key: &str,
        expected_size: u64,
    ) -> Result<(ObjectMeta, Vec<(String, String)>, Bytes), RemoteError> {
        let (meta, user) = self.head_with_metadata(key).await?;
        if meta.size != expected_size {
            return Ok((meta, user, Bytes::new()));
        }
        let body = self.get_range(key, 0..meta.size).await?;
        Ok((meta, user, body))
    }
    async fn create_multipart(&self, key: &str, metadata: &[(String, String)])
        -> Result<String, RemoteError>;
    /// Uploads bytes `offset..offset+length` of `path` as part `number` (1-based).
    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        path: &Path,
        offset: u64,
        length: u64,
    ) -> Result<PartInfo, RemoteError>;
    /// [`Remote::upload_part`], raising `sent` to how much of the part the
    /// HTTP stack has taken so far, so progress moves inside a part (with
    /// many parts in flight they all finish near the end). A maximum, not a
    /// sum: a retry with the same counter shows nothing twice. The default
    /// counts the whole part once it is acknowledged.
    #[allow(clippy::too_many_arguments)]
    async fn upload_part_counted(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        path: &Path,
        offset: u64,
        length: u64,
        sent: &AtomicU64,
    ) -> Result<PartInfo, RemoteError> {
        let part = self.upload_part(key, upload_id, number, path, offset, length).await?;
        sent.fetch_max(length, Ordering::Relaxed);
        Ok(part)
    }
    async fn list_parts(&self, key: &str, upload_id: &str) -> Result<Vec<PartInfo>, RemoteError>;
    /// [`Remote::complete_multipart_if`] with no condition.
    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[PartInfo],
    ) -> Result<ObjectMeta, RemoteError> {
        self.complete_multipart_if(key, upload_id, parts, &WriteIf::Always).await
    }
    /// Completes a multipart upload under `condition` (see
    /// [`Remote::put_bytes_if`]). A failed condition leaves the upload
    /// open on some servers: the caller aborts it.
    async fn complete_multipart_if(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[PartInfo],
        condition: &WriteIf,
    ) -> Result<ObjectMeta, RemoteError>;
    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), RemoteError>;
    /// Every multipart upload open under `prefix`, all pages.
    async fn list_open_uploads(&self, prefix: &str) -> Result<Vec<OpenUpload>, RemoteError>;
    /// Deletes up to 1,000 keys; returns the keys the server refused, with why.
    async fn delete_batch(&self, keys: &[String]) -> Result<Vec<(String, RemoteError)>, RemoteError>;
}
