//! The probe's conditional-writes step: does the server refuse a PutObject
//! or a CompleteMultipartUpload whose `If-None-Match: *` or `If-Match`
//! does not hold, and let through one whose condition holds?
//!
//! Sent through [`Remote::put_bytes_if`] and
//! [`Remote::complete_multipart_if`], the very calls the engine makes, on
//! one scratch key. Some servers (Garage 2.5) answer 200 and overwrite;
//! some (B2) refuse the headers; a server that refused a write whose
//! condition held would make every upload fail, so both directions are
//! tried before "honoured" is said.

use super::ConditionalWrites;
use crate::error::{ErrorKind, RemoteError};
use crate::object::{unquote_etag, ObjectMeta, PartInfo, WriteIf};
use crate::s3::S3Remote;
use crate::Remote;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

/// What the step saw.
#[derive(Debug)]
pub(super) enum Seen {
    /// PutObject refuses both failed conditions and lets both held ones
    /// through, and CompleteMultipartUpload lets held ones through; with
    /// what Complete did with failed ones, in plain words (informational:
    /// the engine keeps a HEAD before each Complete).
    Honoured(String),
    /// The server wrote anyway, or refused the headers: what it did.
    Ignored(String),
    /// Something else failed first (permission, network): no verdict.
    Untested(RemoteError),
}

impl Seen {
    pub(super) fn verdict(&self) -> ConditionalWrites {
        match self {
            Seen::Honoured(_) => ConditionalWrites::Honoured,
            Seen::Ignored(_) => ConditionalWrites::Ignored,
            Seen::Untested(_) => ConditionalWrites::Unknown,
        }
    }
}

/// An ETag no object has.
const WRONG_ETAG: &str = "00000000000000000000000000000000";

/// Runs every check on `{prefix}conditional.txt` (and a fresh key beside
/// it); multipart uploads it could not close are left in `open` for the
/// probe's cleanup.
pub(super) async fn try_them(remote: &S3Remote, prefix: &str, open: &mut Vec<(String, String)>) -> Seen {
    match checks(remote, prefix, open).await {
        Ok(note) => Seen::Honoured(note),
        Err(seen) => seen,
    }
}

async fn checks(remote: &S3Remote, prefix: &str, open: &mut Vec<(String, String)>) -> Result<String, Seen> {
    let key = format!("{prefix}conditional.txt");
    let key = key.as_str();
    let put = |body: &'static [u8], condition: WriteIf| async move {
        remote.put_bytes_if(key, Bytes::from_static(body), &[], &condition).await
    };
    // PutObject: what the engine relies on instead of a HEAD.
    let first =
        must_pass(put(b"first", WriteIf::Absent).await, "a PutObject with If-None-Match: * of a new key")?;
    must_refuse(put(b"second", WriteIf::Absent).await, "If-None-Match: * on a PutObject of an existing key")?;
    must_refuse(
        put(b"third", WriteIf::Etag(WRONG_ETAG.into())).await,
        "If-Match with another ETag on a PutObject",
    )?;
    must_pass(put(b"fourth", WriteIf::Etag(first.etag)).await, "a PutObject with If-Match of its ETag")?;

    // CompleteMultipartUpload: the engine sends the conditions there too,
    // so a server must let held ones through (or every multipart upload
    // would fail); what it does with failed ones is only reported, since a
    // HEAD guards each Complete as well (moto 5.2 honours If-None-Match
    // there but ignores If-Match).
    let none_match = refusal(
        complete(remote, key, &WriteIf::Absent, open).await?,
        "If-None-Match: * on a CompleteMultipartUpload",
    )?;
    let wrong_match = refusal(
        complete(remote, key, &WriteIf::Etag(WRONG_ETAG.into()), open).await?,
        "If-Match on a CompleteMultipartUpload",
    )?;
    let now = remote.head(key).await.map_err(Seen::Untested)?.etag;
    must_pass(
        complete(remote, key, &WriteIf::Etag(now), open).await?,
        "a CompleteMultipartUpload with If-Match of the object's ETag",
    )?;
    let fresh = format!("{prefix}conditional-new.bin");
    must_pass(
        complete(remote, &fresh, &WriteIf::Absent, open).await?,
        "a CompleteMultipartUpload with If-None-Match: * of a new key",
    )?;
    let word = |honours: bool| if honours { "honours" } else { "ignores" };
    Ok(format!(
        "PutObject refuses a write whose If-None-Match / If-Match does not hold; CompleteMultipartUpload {} If-None-Match and {} If-Match, and Bucketsync checks with a HEAD right before each Complete as well",
        word(none_match),
        word(wrong_match)
    ))
}

/// A fresh one-part multipart upload of `key`, completed under
/// `condition`; the Complete's answer. A refused Complete's upload is
/// aborted (some servers keep it open).
async fn complete(
    remote: &S3Remote,
    key: &str,
    condition: &WriteIf,
    open: &mut Vec<(String, String)>,
) -> Result<Result<ObjectMeta, RemoteError>, Seen> {
    let (id, parts) = open_upload(remote, key, open).await.map_err(Seen::Untested)?;
    let done = remote.complete_multipart_if(key, &id, &parts, condition).await;
    if done.is_ok() {
        closed(open, &id);
    } else {
        abort(remote, key, &id, open).await;
    }
    Ok(done)
}

/// Headers the server would not take at all (400 InvalidArgument, 501
/// NotImplemented): not honoured either.
fn refused_headers(e: &RemoteError) -> bool {
    matches!(e.kind, ErrorKind::NotSupported | ErrorKind::Rejected)
}

fn must_refuse(answer: Result<ObjectMeta, RemoteError>, what: &str) -> Result<(), Seen> {
    match answer {
        Err(e) if e.kind == ErrorKind::Precondition => Ok(()),
        Ok(_) => Err(Seen::Ignored(format!("the server ignored {what} and wrote anyway"))),
        Err(e) if refused_headers(&e) => Err(Seen::Ignored(format!("the server refused {what}: {e}"))),
        Err(e) => Err(Seen::Untested(e)),
    }
}

/// A write whose condition does not hold, where being written anyway is
/// only noted: true when the server refused it (412).
fn refusal(answer: Result<ObjectMeta, RemoteError>, what: &str) -> Result<bool, Seen> {
    match answer {
        Err(e) if e.kind == ErrorKind::Precondition => Ok(true),
        Ok(_) => Ok(false),
        Err(e) if refused_headers(&e) => Err(Seen::Ignored(format!("the server refused {what}: {e}"))),
        Err(e) => Err(Seen::Untested(e)),
    }
}

fn must_pass(answer: Result<ObjectMeta, RemoteError>, what: &str) -> Result<ObjectMeta, Seen> {
    match answer {
        Ok(meta) => Ok(meta),
        Err(e) if e.kind == ErrorKind::Precondition || refused_headers(&e) => {
            Err(Seen::Ignored(format!("the server refused {what}, whose condition held: {e}")))
        }
        Err(e) => Err(Seen::Untested(e)),
    }
}

/// A multipart upload of `key` with one short part, recorded in `open`.
async fn open_upload(
    remote: &S3Remote,
    key: &str,
    open: &mut Vec<(String, String)>,
) -> Result<(String, Vec<PartInfo>), RemoteError> {
    let (client, bucket) = (remote.client(), remote.bucket());
    let id = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(RemoteError::from_sdk)?
        .upload_id()
        .map(str::to_string)
        .ok_or_else(|| RemoteError::new(ErrorKind::Server, "the server gave no upload id"))?;
    open.push((key.to_string(), id.clone()));
    let body = vec![b'c'; 1024];
    let etag = client
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(&id)
        .part_number(1)
        .content_length(body.len() as i64)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(RemoteError::from_sdk)?
        .e_tag()
        .map(unquote_etag)
        .ok_or_else(|| RemoteError::new(ErrorKind::Server, "the server gave no ETag for the part"))?;
    Ok((id, vec![PartInfo { number: 1, etag, size: 1024 }]))
}

fn closed(open: &mut Vec<(String, String)>, id: &str) {
    open.retain(|(_, open_id)| open_id != id);
}

/// Aborts an upload a refused Complete may have left open (one the server
/// already dropped counts as closed).
async fn abort(remote: &S3Remote, key: &str, id: &str, open: &mut Vec<(String, String)>) {
    match remote.abort_multipart(key, id).await {
        Ok(()) => closed(open, id),
        Err(e) if e.kind == ErrorKind::NotFound => closed(open, id),
        Err(_) => {}
    }
}
