//! The connection probe: every S3 API Bucketsync relies on, tried for real
//! under a unique scratch prefix that is removed afterwards, with a verdict
//! and a fix in plain words for each.

use crate::connection::Addressing;
use crate::cors;
use crate::error::{ErrorKind, RemoteError};
use crate::s3::S3Remote;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use serde::Serialize;
use std::sync::atomic::{AtomicU32, Ordering};

mod conditional;

/// The APIs, in the order they are tried.
pub const BUCKET: &str = "HeadBucket";
pub const PUT_OBJECT: &str = "PutObject";
pub const HEAD_OBJECT: &str = "HeadObject";
pub const GET_OBJECT: &str = "GetObject (range)";
pub const LIST_OBJECTS: &str = "ListObjectsV2";
pub const CREATE_MULTIPART: &str = "CreateMultipartUpload";
pub const UPLOAD_PART: &str = "UploadPart";
pub const COMPLETE_MULTIPART: &str = "CompleteMultipartUpload";
pub const ABORT_MULTIPART: &str = "AbortMultipartUpload";
pub const DELETE_OBJECTS: &str = "DeleteObjects";
pub const PUT_BUCKET_CORS: &str = "PutBucketCors";
/// Optional and informational: whether the server refuses a PutObject whose
/// If-None-Match / If-Match does not hold (and what CompleteMultipartUpload
/// does with them).
pub const CONDITIONAL_WRITES: &str = "Conditional writes";

/// Where the scratch objects go; each run adds a unique folder below it.
pub const SCRATCH_ROOT: &str = ".bucketsync-probe/";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Ok,
    Failed,
    /// The server does not implement this API (a fact about the provider,
    /// not a mistake in the settings).
    NotSupported,
    /// Not tried because an earlier step it depends on failed.
    Skipped,
}

/// Whether the server honours conditional writes, as the probe saw it:
/// what the engine relies on instead of a HEAD right before each write.
/// Never guessed from the provider's name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConditionalWrites {
    /// Not observed (never probed, or the probe could not tell): the engine
    /// checks with a HEAD.
    #[default]
    Unknown,
    /// Every PutObject whose condition did not hold was refused with 412,
    /// and every PutObject and CompleteMultipartUpload whose condition held
    /// went through.
    Honoured,
    /// The server wrote anyway, or refused the headers themselves: the
    /// engine checks with a HEAD.
    Ignored,
}

impl ConditionalWrites {
    /// The stored spelling (`unknown` | `honoured` | `ignored`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionalWrites::Unknown => "unknown",
            ConditionalWrites::Honoured => "honoured",
            ConditionalWrites::Ignored => "ignored",
        }
    }

    /// The stored spelling back; anything else is unknown (so the engine
    /// falls back to its HEAD).
    pub fn parse(text: &str) -> ConditionalWrites {
        match text {
            "honoured" => ConditionalWrites::Honoured,
            "ignored" => ConditionalWrites::Ignored,
            _ => ConditionalWrites::Unknown,
        }
    }

    /// In plain words, for `policy show` and `policy probe`.
    pub fn describe(self) -> &'static str {
        match self {
            ConditionalWrites::Unknown => "not tested (Bucketsync checks with a HEAD right before each write; `policy probe` tests it)",
            ConditionalWrites::Honoured => "honoured (the server refuses a PutObject whose If-None-Match / If-Match does not hold; a HEAD still guards each multipart Complete)",
            ConditionalWrites::Ignored => "not honoured (the server ignored If-None-Match; Bucketsync checks with a HEAD right before each write instead)",
        }
    }
}

/// One API tried.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeStep {
    pub api: &'static str,
    pub required: bool,
    pub outcome: Outcome,
    pub kind: Option<ErrorKind>,
    /// The server's own error code (`AccessDenied`, `NoSuchBucket`, ...).
    pub code: Option<String>,
    /// The server's message, or why the step was skipped.
    pub message: Option<String>,
    /// What to do, in plain words.
    pub fix: Option<String>,
}

/// What [`probe`] found.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeReport {
    pub bucket: String,
    /// The scratch prefix used (and removed).
    pub prefix: String,
    pub steps: Vec<ProbeStep>,
    /// Scratch objects or settings that could not be removed.
    pub leftovers: Vec<String>,
    /// What the [`CONDITIONAL_WRITES`] step observed.
    pub conditional_writes: ConditionalWrites,
}

impl ProbeReport {
    /// True when every required API works.
    pub fn ok(&self) -> bool {
        self.steps.iter().all(|s| !s.required || s.outcome == Outcome::Ok)
    }

    pub fn step(&self, api: &str) -> Option<&ProbeStep> {
        self.steps.iter().find(|s| s.api == api)
    }
}

/// What the probe needs to know besides the client, for precise advice.
#[derive(Clone, Debug)]
pub struct ProbeContext {
    pub provider_name: String,
    pub addressing: Addressing,
    /// The preset's expectation; an observation overrides it.
    pub cors_api: bool,
    /// Origins for the PutBucketCors test rule.
    pub origins: Vec<String>,
}

/// Kinds after which nothing else can work, so later steps are skipped.
fn is_fatal(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::BadCredentials
            | ErrorKind::ExpiredCredentials
            | ErrorKind::NoSuchBucket
            | ErrorKind::WrongRegion
            | ErrorKind::ClockSkew
            | ErrorKind::Offline
    )
}

fn scratch_prefix() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("{SCRATCH_ROOT}{ms}-{}-{}/", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

struct Run<'a> {
    remote: &'a S3Remote,
    ctx: &'a ProbeContext,
    steps: Vec<ProbeStep>,
}

impl Run<'_> {
    fn ok(&mut self, api: &'static str, required: bool) {
        self.steps.push(ProbeStep {
            api,
            required,
            outcome: Outcome::Ok,
            kind: None,
            code: None,
            message: None,
            fix: None,
        });
    }

    fn skip(&mut self, api: &'static str, required: bool, why: &str) {
        self.steps.push(ProbeStep {
            api,
            required,
            outcome: Outcome::Skipped,
            kind: None,
            code: None,
            message: Some(format!("not tried: {why}")),
            fix: Some("fix the first failed step, then probe again".into()),
        });
    }

    fn fail(&mut self, api: &'static str, required: bool, err: &RemoteError) {
        let outcome =
            if err.kind == ErrorKind::NotSupported { Outcome::NotSupported } else { Outcome::Failed };
        let fix = self.fix(api, err);
        self.steps.push(ProbeStep {
            api,
            required,
            outcome,
            kind: Some(err.kind),
            code: err.code.clone(),
            message: Some(err.message.clone()),
            fix: Some(fix),
        });
    }

    /// A fix for a failed step, as specific as the step allows.
    fn fix(&self, api: &str, err: &RemoteError) -> String {
        let bucket = self.remote.bucket();
        match err.kind {
            ErrorKind::BadCredentials => "The secret or the access key id is wrong: copy both again from the provider's console (for B2: keyID and applicationKey) and update the policy with them.".into(),
            ErrorKind::ExpiredCredentials => "The key or token has expired: create a new one at the provider and update the policy with it (pairs and sync state are kept).".into(),
            ErrorKind::PermissionDenied => {
                let right = match api {
                    BUCKET | HEAD_OBJECT | GET_OBJECT | LIST_OBJECTS => "read (list and get)",
                    DELETE_OBJECTS => "delete",
                    PUT_BUCKET_CORS => "change bucket settings (CORS)",
                    _ => "write",
                };
                format!("The key works but lacks permission on bucket {bucket}: give it {right} access to this bucket at the provider, or use a key that has it.")
            }
            ErrorKind::WrongRegion => match err.message.strip_prefix("the bucket is in region ") {
                Some(region) => format!("The bucket is in region {region}: update the policy with --region {region}."),
                None => ErrorKind::WrongRegion.hint().into(),
            },
            ErrorKind::NoSuchBucket => format!("Bucket {bucket} does not exist at this endpoint: check the bucket name and the endpoint (remove a bucket name pasted at the end of the endpoint), or create the bucket in the provider's console."),
            ErrorKind::Offline if self.ctx.addressing == Addressing::VirtualHost => format!("The server cannot be reached. With virtual-host addressing the host name is {bucket}.<endpoint host>, and its DNS lookup may have failed: try --path-style. Otherwise check the endpoint and the network."),
            ErrorKind::Offline => "The server cannot be reached: check the endpoint (host, port, http vs https) and the network.".into(),
            ErrorKind::ClockSkew => ErrorKind::ClockSkew.hint().into(),
            ErrorKind::NotSupported if api == PUT_BUCKET_CORS => format!("{} does not implement PutBucketCors: set the CORS rule in the provider's console or its own CLI instead.", self.ctx.provider_name),
            ErrorKind::NotSupported => format!("This server does not implement {api}, which Bucketsync needs: it cannot sync with this server."),
            kind => kind.hint().into(),
        }
    }

    /// The [`CONDITIONAL_WRITES`] step: ok when honoured, "not supported"
    /// when ignored (nothing to fix: the engine checks with a HEAD), failed
    /// when something else stopped the test. Never required.
    fn conditional(&mut self, seen: &conditional::Seen) {
        let head = "Bucketsync checks with a HEAD right before each write instead";
        let step = match seen {
            conditional::Seen::Honoured(note) => ProbeStep {
                api: CONDITIONAL_WRITES,
                required: false,
                outcome: Outcome::Ok,
                kind: None,
                code: None,
                message: Some(format!("honoured ({note})")),
                fix: None,
            },
            conditional::Seen::Ignored(what) => ProbeStep {
                api: CONDITIONAL_WRITES,
                required: false,
                outcome: Outcome::NotSupported,
                kind: Some(ErrorKind::NotSupported),
                code: None,
                message: Some(format!("not honoured ({what}); {head}")),
                fix: Some(format!("Nothing to do: {head}.")),
            },
            conditional::Seen::Untested(e) => ProbeStep {
                api: CONDITIONAL_WRITES,
                required: false,
                outcome: Outcome::Failed,
                kind: Some(e.kind),
                code: e.code.clone(),
                message: Some(format!("could not test: {}; {head}", e.message)),
                fix: Some(self.fix(CONDITIONAL_WRITES, e)),
            },
        };
        self.steps.push(step);
    }

    fn record<T>(&mut self, api: &'static str, required: bool, res: &Result<T, RemoteError>) -> bool {
        match res {
            Ok(_) => {
                self.ok(api, required);
                true
            }
            Err(e) => {
                self.fail(api, required, e);
                false
            }
        }
    }
}

/// Runs every step against `remote` and removes what it created.
pub async fn probe(remote: &S3Remote, ctx: &ProbeContext) -> ProbeReport {
    let prefix = scratch_prefix();
    let mut run = Run { remote, ctx, steps: Vec::new() };
    let mut leftovers = Vec::new();

    let bucket = check_bucket(remote).await;
    run.record(BUCKET, true, &bucket);
    if let Err(e) = &bucket {
        if is_fatal(e.kind) {
            for (api, required) in [
                (PUT_OBJECT, true),
                (HEAD_OBJECT, true),
                (GET_OBJECT, true),
                (LIST_OBJECTS, true),
                (CREATE_MULTIPART, true),
                (UPLOAD_PART, true),
                (COMPLETE_MULTIPART, true),
                (ABORT_MULTIPART, true),
                (DELETE_OBJECTS, true),
                (PUT_BUCKET_CORS, false),
                (CONDITIONAL_WRITES, false),
            ] {
                run.skip(api, required, &format!("{BUCKET} failed"));
            }
            return ProbeReport {
                bucket: remote.bucket().into(),
                prefix,
                steps: run.steps,
                leftovers,
                conditional_writes: ConditionalWrites::Unknown,
            };
        }
    }

    let client = remote.client();
    let b = remote.bucket();
    let small_key = format!("{prefix}object.txt");
    let body: &[u8] = b"bucketsync probe: safe to delete";

    // PutObject, then read it back three ways.
    let put = client
        .put_object()
        .bucket(b)
        .key(&small_key)
        .content_length(body.len() as i64)
        .body(ByteStream::from_static(body))
        .send()
        .await
        .map_err(RemoteError::from_sdk);
    let put_ok = run.record(PUT_OBJECT, true, &put);

    if put_ok {
        let head = client
            .head_object()
            .bucket(b)
            .key(&small_key)
            .send()
            .await
            .map_err(RemoteError::from_sdk)
            .and_then(|h| {
                if h.content_length() == Some(body.len() as i64) {
                    Ok(())
                } else {
                    Err(RemoteError::new(
                        ErrorKind::Server,
                        format!(
                            "HeadObject reported {:?} bytes for an object of {}",
                            h.content_length(),
                            body.len()
                        ),
                    ))
                }
            });
        run.record(HEAD_OBJECT, true, &head);
        let get = get_range_checked(remote, &small_key, 2..10, &body[2..10]).await;
        run.record(GET_OBJECT, true, &get);
    } else {
        run.skip(HEAD_OBJECT, true, "PutObject failed, so there is nothing to read");
        run.skip(GET_OBJECT, true, "PutObject failed, so there is nothing to read");
    }

    // Sync lists the bucket on every pass, so listing is required here.
    let list = client
        .list_objects_v2()
        .bucket(b)
        .prefix(&prefix)
        .send()
        .await
        .map_err(RemoteError::from_sdk)
        .and_then(|out| {
            let found = out.contents().iter().any(|o| o.key() == Some(small_key.as_str()));
            if put_ok && !found {
                Err(RemoteError::new(ErrorKind::Server, "the listing does not show the object just written"))
            } else {
                Ok(())
            }
        });
    run.record(LIST_OBJECTS, true, &list);

    // Multipart: one short part (the last part may be smaller than the minimum).
    let mp_key = format!("{prefix}multipart.bin");
    let part_body = vec![b'p'; 1024];
    let mut open_uploads: Vec<(String, String)> = Vec::new();
    let created = client
        .create_multipart_upload()
        .bucket(b)
        .key(&mp_key)
        .send()
        .await
        .map_err(RemoteError::from_sdk)
        .and_then(|o| {
            o.upload_id()
                .map(str::to_string)
                .ok_or_else(|| RemoteError::new(ErrorKind::Server, "the server gave no upload id"))
        });
    run.record(CREATE_MULTIPART, true, &created);
    let mut mp_written = false;
    match &created {
        Ok(upload_id) => {
            open_uploads.push((mp_key.clone(), upload_id.clone()));
            let part = client
                .upload_part()
                .bucket(b)
                .key(&mp_key)
                .upload_id(upload_id)
                .part_number(1)
                .content_length(part_body.len() as i64)
                .body(ByteStream::from(part_body.clone()))
                .send()
                .await
                .map_err(RemoteError::from_sdk)
                .and_then(|o| {
                    o.e_tag().map(str::to_string).ok_or_else(|| {
                        RemoteError::new(ErrorKind::Server, "the server gave no ETag for the part")
                    })
                });
            run.record(UPLOAD_PART, true, &part);
            match part {
                Ok(etag) => {
                    let done = client
                        .complete_multipart_upload()
                        .bucket(b)
                        .key(&mp_key)
                        .upload_id(upload_id)
                        .multipart_upload(
                            CompletedMultipartUpload::builder()
                                .parts(CompletedPart::builder().part_number(1).e_tag(etag).build())
                                .build(),
                        )
                        .send()
                        .await
                        .map_err(RemoteError::from_sdk);
                    if run.record(COMPLETE_MULTIPART, true, &done) {
                        open_uploads.clear();
                        mp_written = true;
                    }
                }
                Err(_) => run.skip(COMPLETE_MULTIPART, true, "UploadPart failed"),
            }
        }
        Err(_) => {
            run.skip(UPLOAD_PART, true, "CreateMultipartUpload failed");
            run.skip(COMPLETE_MULTIPART, true, "CreateMultipartUpload failed");
        }
    }

    // Abort: a second upload, with one part, aborted.
    if created.is_ok() {
        let abort_key = format!("{prefix}aborted.bin");
        let aborted = async {
            let id = client
                .create_multipart_upload()
                .bucket(b)
                .key(&abort_key)
                .send()
                .await
                .map_err(RemoteError::from_sdk)?
                .upload_id()
                .map(str::to_string)
                .ok_or_else(|| RemoteError::new(ErrorKind::Server, "the server gave no upload id"))?;
            let abort = client
                .abort_multipart_upload()
                .bucket(b)
                .key(&abort_key)
                .upload_id(&id)
                .send()
                .await
                .map_err(RemoteError::from_sdk);
            if abort.is_err() {
                open_uploads.push((abort_key.clone(), id));
            }
            abort.map(|_| ())
        }
        .await;
        run.record(ABORT_MULTIPART, true, &aborted);
    } else {
        run.skip(ABORT_MULTIPART, true, "CreateMultipartUpload failed");
    }

    // DeleteObjects on everything written (also tried when nothing was, to
    // learn whether the key may delete).
    let mut keys = vec![small_key.clone()];
    if mp_written {
        keys.push(mp_key.clone());
    }
    let deleted = delete_keys(remote, &keys).await;
    // The deletes must have taken effect.
    if run.record(DELETE_OBJECTS, true, &deleted)
        && put_ok
        && client.head_object().bucket(b).key(&small_key).send().await.is_ok()
    {
        leftovers.push(small_key.clone());
    }

    // PutBucketCors, leaving the bucket's CORS rules as they were.
    let cors = cors::exercise_put(remote, &ctx.origins).await;
    match cors {
        Ok(None) => run.ok(PUT_BUCKET_CORS, false),
        Ok(Some(leftover)) => {
            run.ok(PUT_BUCKET_CORS, false);
            leftovers.push(leftover);
        }
        Err(mut e) => {
            // The preset says this provider has no PutBucketCors: whatever
            // the refusal looks like, it is the provider's limit.
            if !ctx.cors_api && e.kind != ErrorKind::Offline {
                e.kind = ErrorKind::NotSupported;
            }
            run.fail(PUT_BUCKET_CORS, false, &e);
        }
    }

    // Conditional writes: informational, never required (the engine falls
    // back to a HEAD), so whatever happens here leaves ok() alone.
    let conditional_writes = if put_ok {
        let seen = conditional::try_them(remote, &prefix, &mut open_uploads).await;
        run.conditional(&seen);
        seen.verdict()
    } else {
        run.skip(CONDITIONAL_WRITES, false, "PutObject failed");
        ConditionalWrites::Unknown
    };

    // Clean up whatever is left under the scratch prefix.
    for (key, id) in &open_uploads {
        if client.abort_multipart_upload().bucket(b).key(key).upload_id(id).send().await.is_err() {
            leftovers.push(format!("unfinished multipart upload of {key}"));
        }
    }
    if let Ok(out) = client.list_objects_v2().bucket(b).prefix(&prefix).send().await {
        let rest: Vec<String> = out.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect();
        if !rest.is_empty() && delete_keys(remote, &rest).await.is_err() {
            leftovers.extend(rest);
        }
    } else if deleted.is_err() && put_ok {
        leftovers.push(small_key);
    }
    leftovers.sort();
    leftovers.dedup();

    ProbeReport { bucket: b.into(), prefix, steps: run.steps, leftovers, conditional_writes }
}

/// The bucket exists and the key may use it. HEAD answers have no body, so a
/// refusal is asked again with a listing, whose answer names the error; keys
/// that may not HeadBucket (R2 object tokens) pass when they may list.
async fn check_bucket(remote: &S3Remote) -> Result<(), RemoteError> {
    let head = remote.client().head_bucket().bucket(remote.bucket()).send().await;
    let head_err = match head {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    let region_hint = match &head_err {
        SdkError::ServiceError(s) => s.raw().headers().get("x-amz-bucket-region").map(str::to_string),
        _ => None,
    };
    let head_err = RemoteError::from_sdk(head_err);
    if head_err.kind == ErrorKind::Offline {
        return Err(head_err);
    }
    let list = remote
        .client()
        .list_objects_v2()
        .bucket(remote.bucket())
        .max_keys(1)
        .prefix(SCRATCH_ROOT)
        .send()
        .await
        .map_err(RemoteError::from_sdk);
    match list {
        Ok(_) => Ok(()),
        Err(mut e) => {
            if let Some(region) = region_hint {
                e.kind = ErrorKind::WrongRegion;
                e.message = format!("the bucket is in region {region}");
            } else if e.kind == ErrorKind::NotFound {
                e.kind = ErrorKind::NoSuchBucket;
            }
            Err(e)
        }
    }
}

async fn get_range_checked(
    remote: &S3Remote,
    key: &str,
    range: std::ops::Range<u64>,
    expected: &[u8],
) -> Result<(), RemoteError> {
    let out = remote
        .client()
        .get_object()
        .bucket(remote.bucket())
        .key(key)
        .range(format!("bytes={}-{}", range.start, range.end - 1))
        .send()
        .await
        .map_err(RemoteError::from_sdk)?;
    let got = out
        .body
        .collect()
        .await
        .map_err(|e| RemoteError::new(ErrorKind::Offline, format!("the download broke off: {e}")))?
        .into_bytes();
    if &got[..] != expected {
        return Err(RemoteError::new(
            ErrorKind::Server,
            format!(
                "a ranged GET returned {} bytes that differ from the {} asked for",
                got.len(),
                expected.len()
            ),
        ));
    }
    Ok(())
}

/// DeleteObjects; a key the server refused fails the step with its error.
async fn delete_keys(remote: &S3Remote, keys: &[String]) -> Result<(), RemoteError> {
    let refused = crate::Remote::delete_batch(remote, keys).await?;
    match refused.into_iter().next() {
        None => Ok(()),
        Some((_, mut e)) => {
            if e.kind == ErrorKind::Rejected && e.code.as_deref() == Some("AccessDenied") {
                e.kind = ErrorKind::PermissionDenied;
            }
            Err(e)
        }
    }
}
