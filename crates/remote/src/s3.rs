//! [`Remote`] over aws-sdk-s3.

use crate::bandwidth::Bandwidth;
use crate::connection::{Connection, Timeouts};
use crate::error::{ErrorKind, HasStatus, RemoteError};
use crate::listing::decode_listed_key;
use crate::object::{
    content_type_for, parse_mtime_metadata, unquote_etag, ListPage, ObjectMeta, OpenUpload, PartInfo, WriteIf,
};
use crate::watchdog::{self, Activity};
use crate::{RangeBody, Remote};
use async_trait::async_trait;
use aws_runtime::auth::PayloadSigningOverride;
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, EncodingType, ObjectIdentifier};
use aws_smithy_runtime_api::box_error::BoxError;
use bytes::Bytes;
use std::future::Future;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Read buffer for file bodies; the SDK's 4 KiB default costs CPU per GiB.
const FILE_BODY_BUFFER: usize = 256 * 1024;
/// How often a part upload's progress is read from its body.
const PART_PROGRESS_TICK: Duration = Duration::from_millis(250);

/// One bucket reached through one shared SDK client.
#[derive(Clone, Debug)]
pub struct S3Remote {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// Every call fails as offline once nothing moved for this long.
    idle: Duration,
    /// Paces requests with a body (PUTs, parts, ranged GETs); none by default.
    bandwidth: Option<Arc<Bandwidth>>,
}

impl S3Remote {
    pub fn new(connection: &Connection) -> Self {
        S3Remote::with_timeouts(connection, &Timeouts::default())
    }

    /// [`S3Remote::new`] with other network timeouts.
    pub fn with_timeouts(connection: &Connection, timeouts: &Timeouts) -> Self {
        S3Remote {
            client: connection.client_with(timeouts),
            bucket: connection.bucket.clone(),
            idle: timeouts.idle,
            bandwidth: None,
        }
    }

    /// Paces uploads and downloads by `bandwidth` (shared with whoever else
    /// holds it). The wait comes before a request starts, outside the idle
    /// watchdog: a throttled transfer is not a stalled one.
    pub fn with_bandwidth(mut self, bandwidth: Arc<Bandwidth>) -> Self {
        self.bandwidth = Some(bandwidth);
        self
    }

    async fn pace_up(&self, bytes: u64) {
        if let Some(b) = &self.bandwidth {
            b.take_up(bytes).await;
        }
    }

    async fn pace_down(&self, bytes: u64) {
        if let Some(b) = &self.bandwidth {
            b.take_down(bytes).await;
        }
    }

    /// Sends one request (with the SDK's own retries) under the idle watchdog.
    async fn call<T, E, R>(
        &self,
        what: &str,
        activity: &Activity,
        request: impl Future<Output = Result<T, SdkError<E, R>>>,
    ) -> Result<T, RemoteError>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + HasStatus,
    {
        watchdog::watch(self.idle, activity, what, async { request.await.map_err(RemoteError::from_sdk) })
            .await
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The SDK client, for APIs outside [`Remote`] (probe, CORS).
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// One PutObject from memory; `sha256`, when known, is signed as the
    /// payload hash (the SDK would otherwise hash the body itself).
    async fn put_bytes(
        &self,
        key: &str,
        body: Bytes,
        sha256: Option<&str>,
        metadata: &[(String, String)],
        condition: &WriteIf,
    ) -> Result<ObjectMeta, RemoteError> {
        let size = body.len() as u64;
        self.pace_up(size).await;
        let activity = Activity::new();
        let body = watchdog::watched_body(ByteStream::from(body), &activity, None);
        self.put_object(key, size, body, &activity, sha256, metadata, condition).await
    }

    /// One PutObject of `length` bytes from `body`, which `activity`
    /// already watches; every PUT, from memory or from a file, goes here.
    #[allow(clippy::too_many_arguments)]
    async fn put_object(
        &self,
        key: &str,
        length: u64,
        body: ByteStream,
        activity: &Activity,
        sha256: Option<&str>,
        metadata: &[(String, String)],
        condition: &WriteIf,
    ) -> Result<ObjectMeta, RemoteError> {
        let out = self
            .call(
                "put_object",
                activity,
                self.client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .content_length(length as i64)
                    .set_metadata(metadata_map(metadata))
                    .set_content_type(content_type_for(key).map(str::to_string))
                    .set_if_none_match(condition.if_none_match())
                    .set_if_match(condition.if_match())
                    .body(body)
                    .customize()
                    .interceptor(PrecomputedPayload(sha256.map(str::to_string)))
                    .send(),
            )
            .await?;
        Ok(ObjectMeta {
            key: key.to_string(),
            size: length,
            etag: out.e_tag().map(unquote_etag).unwrap_or_default(),
            last_modified_ms: None,
            mtime_ms: None,
        })
    }

    async fn file_body(
        path: &Path,
        offset: u64,
        length: u64,
        activity: &Activity,
        count: Option<&Arc<AtomicU64>>,
    ) -> Result<ByteStream, RemoteError> {
        let body = ByteStream::read_from()
            .path(path)
            .offset(offset)
            .length(aws_sdk_s3::primitives::Length::Exact(length))
            .buffer_size(FILE_BODY_BUFFER)
            .build()
            .await
            .map_err(|e| {
                RemoteError::new(ErrorKind::Rejected, format!("cannot read {}: {e}", path.display()))
            })?;
        Ok(watchdog::watched_body(body, activity, count))
    }
}

/// The body of one ranged GET as it is read. It arrives after the answer's
/// head, outside the SDK's timeouts: a body that stops half-way must fail,
/// not hang, so each piece is awaited under the idle watchdog.
struct RangeReader {
    body: ByteStream,
    activity: Activity,
    idle: Duration,
    key: String,
    asked: u64,
    received: u64,
}

impl RangeReader {
    async fn next_piece(mut self) -> Result<Option<(Bytes, RangeReader)>, RemoteError> {
        // The idle clock runs while we wait for bytes, not while the reader
        // was busy writing the last piece.
        self.activity.touch();
        let RangeReader { body, activity, key, idle, .. } = &mut self;
        let next = async {
            body.try_next().await.map_err(|e| {
                RemoteError::new(ErrorKind::Offline, format!("the download of {key} broke off: {e}"))
            })
        };
        let piece = watchdog::watch(*idle, activity, "GetObject body", next).await?;
        match piece {
            Some(piece) => {
                self.activity.touch();
                self.received += piece.len() as u64;
                if self.received > self.asked {
                    return Err(self.wrong_length());
                }
                Ok(Some((piece, self)))
            }
            None if self.received != self.asked => Err(self.wrong_length()),
            None => Ok(None),
        }
    }

    fn wrong_length(&self) -> RemoteError {
        RemoteError::new(
            ErrorKind::Precondition,
            format!("asked for {} bytes of {} but got {}", self.asked, self.key, self.received),
        )
    }
}

/// Hands a payload hash computed by the caller to the SigV4 signer, which
/// would otherwise hash an in-memory body once more (perf: that second
/// SHA-256 was 3 % of a 1,000-file upload's CPU).
#[derive(Debug)]
struct PrecomputedPayload(Option<String>);

impl Intercept for PrecomputedPayload {
    fn name(&self) -> &'static str {
        "bucketsync-precomputed-payload"
    }

    fn modify_before_signing(
        &self,
        _context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(sha256) = &self.0 {
            cfg.interceptor_state().store_put(PayloadSigningOverride::Precomputed(sha256.clone()));
        }
        Ok(())
    }
}

fn metadata_map(metadata: &[(String, String)]) -> Option<std::collections::HashMap<String, String>> {
    if metadata.is_empty() {
        None
    } else {
        Some(metadata.iter().cloned().collect())
    }
}

fn millis(dt: Option<&aws_sdk_s3::primitives::DateTime>) -> Option<i64> {
    dt.and_then(|d| d.to_millis().ok())
}

#[async_trait]
impl Remote for S3Remote {
    async fn list_page(&self, prefix: &str, continuation: Option<String>) -> Result<ListPage, RemoteError> {
        let out = self
            .call(
                "list_objects_v2",
                &Activity::new(),
                self.client
                    .list_objects_v2()
                    .bucket(&self.bucket)
                    .prefix(prefix)
                    // Keys may hold characters XML 1.0 cannot carry (control
                    // characters); unencoded, one such key makes every listing of
                    // the prefix unreadable and the pair could never sync again.
                    .encoding_type(EncodingType::Url)
                    .set_continuation_token(continuation)
                    .send(),
            )
            .await?;
        // Decode only when the server says it encoded: decoding a raw key
        // would turn a literal `+` or `%41` into another name.
        let encoded = out.encoding_type() == Some(&EncodingType::Url);
        let objects = out
            .contents()
            .iter()
            .filter_map(|o| {
                Some(ObjectMeta {
                    key: if encoded { decode_listed_key(o.key()?) } else { o.key()?.to_string() },
                    size: o.size().unwrap_or(0).max(0) as u64,
                    etag: o.e_tag().map(unquote_etag).unwrap_or_default(),
                    last_modified_ms: millis(o.last_modified()),
                    mtime_ms: None,
                })
            })
            .collect();
        let continuation = if out.is_truncated() == Some(true) {
            match out.next_continuation_token() {
                Some(t) => Some(t.to_string()),
                // A truncated page without a token would silently end the
                // listing early, and a short listing must never become deletes.
                None => {
                    return Err(RemoteError::new(
                        ErrorKind::Server,
                        "the server said the listing is truncated but gave no continuation token",
                    ))
                }
            }
        } else {
            None
        };
        Ok(ListPage { objects, continuation })
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta, RemoteError> {
        let out = self
            .call(
                "head_object",
                &Activity::new(),
                self.client.head_object().bucket(&self.bucket).key(key).send(),
            )
            .await?;
        Ok(ObjectMeta {
            key: key.to_string(),
            size: out.content_length().unwrap_or(0).max(0) as u64,
            etag: out.e_tag().map(unquote_etag).unwrap_or_default(),
            last_modified_ms: millis(out.last_modified()),
            mtime_ms: out.metadata().and_then(|m| m.get("mtime")).and_then(|v| parse_mtime_metadata(v)),
        })
    }

    async fn head_with_metadata(
        &self,
        key: &str,
    ) -> Result<(ObjectMeta, Vec<(String, String)>), RemoteError> {
        let out = self
            .call(
                "head_object",
                &Activity::new(),
                self.client.head_object().bucket(&self.bucket).key(key).send(),
            )
            .await?;
        let meta = ObjectMeta {
            key: key.to_string(),
            size: out.content_length().unwrap_or(0).max(0) as u64,
            etag: out.e_tag().map(unquote_etag).unwrap_or_default(),
            last_modified_ms: millis(out.last_modified()),
            mtime_ms: out.metadata().and_then(|m| m.get("mtime")).and_then(|v| parse_mtime_metadata(v)),
        };
        let user = out
            .metadata()
            .map(|m| m.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect())
            .unwrap_or_default();
        Ok((meta, user))
    }

    async fn put_bytes_if(
        &self,
        key: &str,
        body: Bytes,
        metadata: &[(String, String)],
        condition: &WriteIf,
    ) -> Result<ObjectMeta, RemoteError> {
        self.put_bytes(key, body, None, metadata, condition).await
    }

    async fn put_hashed_if(
        &self,
        key: &str,
        body: Bytes,
        sha256: &str,
        metadata: &[(String, String)],
        condition: &WriteIf,
    ) -> Result<ObjectMeta, RemoteError> {
        self.put_bytes(key, body, Some(sha256), metadata, condition).await
    }

    async fn put_file_if(
        &self,
        key: &str,
        path: &Path,
        length: u64,
        metadata: &[(String, String)],
        condition: &WriteIf,
    ) -> Result<ObjectMeta, RemoteError> {
        self.pace_up(length).await;
        let activity = Activity::new();
        let body = Self::file_body(path, 0, length, &activity, None).await?;
        self.put_object(key, length, body, &activity, None, metadata, condition).await
    }

    async fn get_range_stream(&self, key: &str, range: Range<u64>) -> Result<RangeBody, RemoteError> {
        if range.is_empty() {
            return Ok(Box::pin(futures::stream::empty()));
        }
        self.pace_down(range.end - range.start).await;
        let activity = Activity::new();
        let out = self
            .call(
                "get_object",
                &activity,
                self.client
                    .get_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .range(format!("bytes={}-{}", range.start, range.end - 1))
                    .send(),
            )
            .await?;
        let body = RangeReader {
            body: out.body,
            activity,
            idle: self.idle,
            key: key.to_string(),
            asked: range.end - range.start,
            received: 0,
        };
        Ok(Box::pin(futures::stream::try_unfold(body, RangeReader::next_piece)))
    }

    async fn get_whole(
        &self,
        key: &str,
        expected_size: u64,
    ) -> Result<(ObjectMeta, Vec<(String, String)>, Bytes), RemoteError> {
        self.pace_down(expected_size).await;
        let activity = Activity::new();
        let out = self
            .call("get_object", &activity, self.client.get_object().bucket(&self.bucket).key(key).send())
            .await?;
        let meta = ObjectMeta {
            key: key.to_string(),
            size: out.content_length().unwrap_or(0).max(0) as u64,
            etag: out.e_tag().map(unquote_etag).unwrap_or_default(),
            last_modified_ms: millis(out.last_modified()),
            mtime_ms: out.metadata().and_then(|m| m.get("mtime")).and_then(|v| parse_mtime_metadata(v)),
        };
        let user: Vec<(String, String)> = out
            .metadata()
            .map(|m| m.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect())
            .unwrap_or_default();
        if meta.size != expected_size {
            return Ok((meta, user, Bytes::new()));
        }
        let mut reader = RangeReader {
            body: out.body,
            activity,
            idle: self.idle,
            key: key.to_string(),
            asked: meta.size,
            received: 0,
        };
        let mut received = bytes::BytesMut::with_capacity(meta.size as usize);
        while let Some((piece, next)) = reader.next_piece().await? {
            received.extend_from_slice(&piece);
            reader = next;
        }
        Ok((meta, user, received.freeze()))
    }

    async fn create_multipart(
        &self,
        key: &str,
        metadata: &[(String, String)],
    ) -> Result<String, RemoteError> {
        let out = self
            .call(
                "create_multipart_upload",
                &Activity::new(),
                self.client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .set_metadata(metadata_map(metadata))
                    .set_content_type(content_type_for(key).map(str::to_string))
                    .send(),
            )
            .await?;
        out.upload_id()
            .map(str::to_string)
            .ok_or_else(|| RemoteError::new(ErrorKind::Server, "the server gave no upload id"))
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        path: &Path,
        offset: u64,
        length: u64,
    ) -> Result<PartInfo, RemoteError> {
        self.upload_part_counted(key, upload_id, number, path, offset, length, &AtomicU64::new(0)).await
    }

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
        self.pace_up(length).await;
        let activity = Activity::new();
        let counted = Arc::new(AtomicU64::new(0));
        let body = Self::file_body(path, offset, length, &activity, Some(&counted)).await?;
        // The body is polled by the connection's task: read its count here,
        // in the caller's, while the request runs.
        let request = self.call(
            "upload_part",
            &activity,
            self.client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .content_length(length as i64)
                .body(body)
                .send(),
        );
        tokio::pin!(request);
        let show = || sent.fetch_max(counted.load(Ordering::Relaxed).min(length), Ordering::Relaxed);
        let mut tick = tokio::time::interval(PART_PROGRESS_TICK);
        let out = loop {
            tokio::select! {
                out = &mut request => break out?,
                _ = tick.tick() => { show(); }
            }
        };
        sent.fetch_max(length, Ordering::Relaxed);
        Ok(PartInfo { number, etag: out.e_tag().map(unquote_etag).unwrap_or_default(), size: length })
    }

    async fn list_parts(&self, key: &str, upload_id: &str) -> Result<Vec<PartInfo>, RemoteError> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .call(
                    "list_parts",
                    &Activity::new(),
                    self.client
                        .list_parts()
                        .bucket(&self.bucket)
                        .key(key)
                        .upload_id(upload_id)
                        .set_part_number_marker(marker.take())
                        .send(),
                )
                .await?;
            for p in out.parts() {
                if let (Some(number), Some(etag)) = (p.part_number(), p.e_tag()) {
                    parts.push(PartInfo {
                        number,
                        etag: unquote_etag(etag),
                        size: p.size().unwrap_or(0).max(0) as u64,
                    });
                }
            }
            match (out.is_truncated(), out.next_part_number_marker()) {
                (Some(true), Some(next)) => marker = Some(next.to_string()),
                _ => break,
            }
        }
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    async fn complete_multipart_if(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[PartInfo],
        condition: &WriteIf,
    ) -> Result<ObjectMeta, RemoteError> {
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|p| {
                        CompletedPart::builder()
                            .part_number(p.number)
                            .e_tag(format!("\"{}\"", p.etag))
                            .build()
                    })
                    .collect(),
            ))
            .build();
        let out = self
            .call(
                "complete_multipart_upload",
                &Activity::new(),
                self.client
                    .complete_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .multipart_upload(completed)
                    .set_if_none_match(condition.if_none_match())
                    .set_if_match(condition.if_match())
                    .send(),
            )
            .await?;
        Ok(ObjectMeta {
            key: key.to_string(),
            size: parts.iter().map(|p| p.size).sum(),
            etag: out.e_tag().map(unquote_etag).unwrap_or_default(),
            last_modified_ms: None,
            mtime_ms: None,
        })
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), RemoteError> {
        self.call(
            "abort_multipart_upload",
            &Activity::new(),
            self.client.abort_multipart_upload().bucket(&self.bucket).key(key).upload_id(upload_id).send(),
        )
        .await?;
        Ok(())
    }

    async fn list_open_uploads(&self, prefix: &str) -> Result<Vec<OpenUpload>, RemoteError> {
        let mut open = Vec::new();
        let (mut key_marker, mut id_marker) = (None, None);
        loop {
            let out = self
                .call(
                    "list_multipart_uploads",
                    &Activity::new(),
                    self.client
                        .list_multipart_uploads()
                        .bucket(&self.bucket)
                        .prefix(prefix)
                        .encoding_type(EncodingType::Url)
                        .set_key_marker(key_marker.take())
                        .set_upload_id_marker(id_marker.take())
                        .send(),
                )
                .await?;
            let encoded = out.encoding_type() == Some(&EncodingType::Url);
            open.extend(out.uploads().iter().filter_map(|u| {
                let key = u.key()?;
                Some(OpenUpload {
                    key: if encoded { decode_listed_key(key) } else { key.to_string() },
                    upload_id: u.upload_id()?.to_string(),
                    initiated_ms: millis(u.initiated()),
                })
            }));
            if out.is_truncated() != Some(true) {
                return Ok(open);
            }
            key_marker = out.next_key_marker().map(str::to_string);
            id_marker = out.next_upload_id_marker().map(str::to_string);
            // A truncated page that says nowhere to go on would loop for ever.
            if key_marker.is_none() {
                return Err(RemoteError::new(
                    ErrorKind::Server,
                    "the server said more multipart uploads follow but gave no marker to fetch them",
                ));
            }
        }
    }

    async fn delete_batch(&self, keys: &[String]) -> Result<Vec<(String, RemoteError)>, RemoteError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let objects = keys
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RemoteError::new(ErrorKind::Rejected, e.to_string()))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| RemoteError::new(ErrorKind::Rejected, e.to_string()))?;
        let out = self
            .call(
                "delete_objects",
                &Activity::new(),
                self.client.delete_objects().bucket(&self.bucket).delete(delete).send(),
            )
            .await?;
        Ok(out
            .errors()
            .iter()
            .map(|e| {
                let code = e.code().map(str::to_string);
                let kind = match code.as_deref() {
                    Some("AccessDenied") => ErrorKind::PermissionDenied,
                    Some("InternalError") => ErrorKind::Server,
                    _ => ErrorKind::Rejected,
                };
                (
                    e.key().unwrap_or_default().to_string(),
                    RemoteError { kind, code, message: e.message().unwrap_or("delete refused").to_string() },
                )
            })
            .collect())
    }
}
