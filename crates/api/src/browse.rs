//! The bucket browser: look into a policy's bucket and work in it. Listing
//! by folder (one page at a time), details, new folders, deletes, renames,
//! links, previews; uploads and downloads live in [`transfer`].
//!
//! Safety with sync: whatever changes keys under a synced pair's prefix is
//! followed by a pass of that pair ([`Api::follow_up`]), so the pair's base
//! state catches up at once (a delete there removes the local copies too,
//! into the trash: front ends say so before asking). Keys that cannot be
//! files are listed and marked, with a safe name to rename them to.

pub mod key;
pub mod transfer;

use crate::policy::settings;
use crate::sync::SyncRequest;
use crate::{Api, ApiError, ErrorKind};
use bucketsync_engine::event::EventSink;
use bucketsync_remote::link::MAX_PRESIGN;
use bucketsync_remote::listing::DELIMITER;
use bucketsync_remote::{CopyLimits, CopySource, ErrorKind as RemoteKind, Remote, S3Remote};
use bucketsync_store::{PairRow, PolicyRow};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use ts_rs::TS;

/// Most objects a DeleteObjects request takes.
pub const DELETE_BATCH: usize = 1000;

/// Largest preview fetched: images whole up to this size, text cut here.
pub const PREVIEW_MAX_BYTES: u64 = 4 * 1024 * 1024;
/// Text previews show at most this much.
pub const PREVIEW_TEXT_BYTES: u64 = 256 * 1024;

/// `browse_list`: one page of a folder (or of everything below it).
#[derive(Clone, Debug, Default, Deserialize, TS)]
pub struct ListRequest {
    pub policy: String,
    /// `""` for the bucket's top; a folder ends with `/`.
    #[serde(default)]
    pub prefix: String,
    /// Every key below the prefix instead of one folder level.
    #[serde(default)]
    pub recursive: bool,
    /// The `continuation` of the previous page.
    pub continuation: Option<String>,
    /// At most 1,000 (the default).
    pub page_size: Option<u32>,
}

/// One row of a listing: a folder (common prefix) or an object.
#[derive(Clone, Debug, Serialize, TS)]
pub struct EntryView {
    pub key: String,
    /// The key below the listed prefix (a folder keeps its trailing `/`).
    pub name: String,
    pub folder: bool,
    #[ts(type = "number")]
    pub size: u64,
    pub etag: String,
    #[ts(type = "number | null")]
    pub last_modified_ms: Option<i64>,
    pub storage_class: Option<String>,
    /// Why this key cannot be a file (then sync skips it), in plain words.
    pub unsafe_reason: Option<String>,
    /// A key it can be renamed to that can be a file, when it cannot.
    pub safe_key: Option<String>,
}

/// A synced pair whose prefix an operation touches.
#[derive(Clone, Debug, Serialize, TS)]
pub struct PairRef {
    pub pair: String,
    pub prefix: String,
    pub local_root: String,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct ListPageView {
    pub policy: String,
    pub bucket: String,
    pub prefix: String,
    pub entries: Vec<EntryView>,
    /// Pass it back for the next page; absent on the last page.
    pub continuation: Option<String>,
    /// Pairs that sync this prefix (or a part of it).
    pub synced_by: Vec<PairRef>,
}

/// `browse_stat`: everything a HEAD tells.
#[derive(Clone, Debug, Serialize, TS)]
pub struct ObjectDetailsView {
    pub policy: String,
    pub key: String,
    #[ts(type = "number")]
    pub size: u64,
    pub etag: String,
    #[ts(type = "number | null")]
    pub last_modified_ms: Option<i64>,
    pub content_type: Option<String>,
    pub storage_class: Option<String>,
    /// rclone's `mtime` metadata (the file's modification time), Unix ms.
    #[ts(type = "number | null")]
    pub mtime_ms: Option<i64>,
    /// `x-amz-meta-*` as name/value pairs.
    pub user_metadata: Vec<MetadataEntry>,
    pub unsafe_reason: Option<String>,
    pub safe_key: Option<String>,
    pub synced_by: Vec<PairRef>,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct MetadataEntry {
    pub name: String,
    pub value: String,
}

/// What a delete will remove, for the question front ends ask first.
#[derive(Clone, Debug, Default, Deserialize, TS)]
pub struct DeleteRequest {
    pub policy: String,
    /// Single objects.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Everything below each of these (each ends with `/`).
    #[serde(default)]
    pub prefixes: Vec<String>,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct DeletePreview {
    /// Objects that exist now and would be deleted.
    #[ts(type = "number")]
    pub objects: u64,
    #[ts(type = "number")]
    pub bytes: u64,
    /// Synced pairs whose local copies the follow-up pass will delete too.
    pub synced_by: Vec<PairRef>,
}

/// The outcome of a pass run after an operation under a synced prefix.
#[derive(Clone, Debug, Serialize, TS)]
pub struct FollowUpView {
    pub pair: String,
    /// `synced`, `scheduled` (the running engine was told), `needs-confirmation`,
    /// `failed` or `not-run`.
    pub outcome: String,
    pub message: Option<String>,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct FailureView {
    pub key: String,
    pub message: String,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct DeleteReport {
    #[ts(type = "number")]
    pub deleted: u64,
    pub failed: Vec<FailureView>,
    pub follow_up: Vec<FollowUpView>,
}

/// `browse_rename`: an object (`from` without a trailing `/`) or a whole
/// prefix (`from` and `to` ending with `/`).
#[derive(Clone, Debug, Default, Deserialize, TS)]
pub struct RenameRequest {
    pub policy: String,
    pub from: String,
    pub to: String,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct RenameReport {
    #[ts(type = "number")]
    pub moved: u64,
    /// Things worth knowing (copied through this computer, source kept
    /// because it changed meanwhile, ...).
    pub warnings: Vec<String>,
    pub failed: Vec<FailureView>,
    pub follow_up: Vec<FollowUpView>,
}

#[derive(Clone, Debug, Default, Deserialize, TS)]
pub struct LinkRequest {
    pub policy: String,
    pub key: String,
    /// Lifetime of a presigned link, seconds (default 3600, at most 604800).
    #[ts(type = "number | null")]
    pub expires_secs: Option<u64>,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct LinkView {
    /// Shown to the user, copied to the clipboard; never logged.
    pub url: String,
    /// A public (or CDN) URL that does not expire; otherwise presigned.
    pub public: bool,
    #[ts(type = "number | null")]
    pub expires_at_ms: Option<i64>,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct ObjectPreview {
    pub key: String,
    /// `image`, `text` or `none` (no preview for this kind or size).
    pub kind: String,
    pub content_type: Option<String>,
    #[ts(type = "number")]
    pub size: u64,
    /// The text (lossy UTF-8), for `text`.
    pub text: Option<String>,
    /// The bytes, base64, for `image`.
    pub data_base64: Option<String>,
    /// Only the beginning is shown.
    pub truncated: bool,
    /// Why there is no preview, for `none`.
    pub reason: Option<String>,
}

/// Parses a lifetime such as `30s`, `15m`, `1h`, `7d` (or plain seconds).
pub fn parse_duration(text: &str) -> Result<Duration, ApiError> {
    let t = text.trim();
    let bad = || {
        ApiError::invalid(
            "expires",
            format!("'{text}' is not a duration"),
            "give a number with s, m, h or d, e.g. 30s, 1h or 7d",
        )
    };
    let (number, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(bad()),
    };
    n.checked_mul(secs).map(Duration::from_secs).ok_or_else(bad)
}

fn check_expiry(d: Duration) -> Result<(), ApiError> {
    if d > MAX_PRESIGN {
        return Err(ApiError::invalid(
            "expires",
            format!("a link cannot live {} s: presigned links last at most 7 days", d.as_secs()),
            "choose 7d or less (7 days is the most S3 signatures allow); for a permanent link make the bucket public",
        ));
    }
    if d.is_zero() {
        return Err(ApiError::invalid("expires", "a link must live at least one second", "e.g. 1h"));
    }
    Ok(())
}

/// Refuses keys S3 cannot take, before any request.
fn check_key(field: &str, key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > 1024 {
        return Err(ApiError::invalid(
            field,
            "an object key must have 1 to 1,024 bytes",
            "give a name such as photos/cat.jpg",
        ));
    }
    Ok(())
}

fn is_not_found(e: &bucketsync_remote::RemoteError) -> bool {
    e.kind == RemoteKind::NotFound
}

impl Api {
    /// The policy's row and its bucket's shared client.
    async fn browse_remote(&self, policy: &str) -> Result<(PolicyRow, Arc<S3Remote>), ApiError> {
        let row = self.policy_row(policy)?;
        let remote = self.remote(policy).await?;
        Ok((row, remote))
    }

    /// Pairs syncing some of the keys at or below `key_or_prefix` in the
    /// policy's bucket (any policy reaching the same bucket at the same endpoint).
    pub(crate) fn pairs_touching(
        &self,
        policy: &PolicyRow,
        key_or_prefix: &str,
    ) -> Result<Vec<PairRow>, ApiError> {
        let mut out = Vec::new();
        let pairs = self.store().list_pairs()?;
        for pair in pairs {
            if pair.bucket != policy.bucket {
                continue;
            }
            let same_place = match self.store().policy_by_id(pair.policy_id)? {
                Some(p) => p.id == policy.id || p.endpoint == policy.endpoint,
                None => false,
            };
            let overlaps = key_or_prefix.starts_with(&pair.prefix)
                || (key_or_prefix.ends_with('/') || key_or_prefix.is_empty())
                    && pair.prefix.starts_with(key_or_prefix);
            if same_place && overlaps {
                out.push(pair);
            }
        }
        Ok(out)
    }

    fn pair_refs(rows: &[PairRow]) -> Vec<PairRef> {
        rows.iter()
            .map(|p| PairRef {
                pair: p.name.clone(),
                prefix: p.prefix.clone(),
                local_root: p.local_root.clone(),
            })
            .collect()
    }

    /// Brings each pair's base state up to date after the browser changed
    /// keys under its prefix: a running engine in this process is told to
    /// sync now; otherwise one pass runs here. Deletes a guard stops stay
    /// stopped: the pair asks as it always does.
    pub(crate) async fn follow_up(&self, pairs: Vec<PairRow>) -> Vec<FollowUpView> {
        let mut out = Vec::new();
        for pair in pairs {
            if pair.paused {
                out.push(FollowUpView {
                    pair: pair.name.clone(),
                    outcome: "not-run".into(),
                    message: Some("the pair is paused; it catches up when resumed".into()),
                });
                continue;
            }
            if self.engine_sync_if_running(&pair.name).await {
                out.push(FollowUpView {
                    pair: pair.name.clone(),
                    outcome: "scheduled".into(),
                    message: None,
                });
                continue;
            }
            let req = SyncRequest { pair: Some(pair.name.clone()), ..Default::default() };
            let view = match self.sync(req, EventSink::none()).await {
                Ok(mut summaries) => match summaries.pop() {
                    Some(s) if s.error.is_some() => FollowUpView {
                        pair: pair.name.clone(),
                        outcome: "failed".into(),
                        message: s.error.map(|e| e.message),
                    },
                    Some(s) if s.needs_confirmation.is_some() => FollowUpView {
                        pair: pair.name.clone(),
                        outcome: "needs-confirmation".into(),
                        message: s.needs_confirmation.map(|n| n.reason),
                    },
                    Some(s) if !s.converged => FollowUpView {
                        pair: pair.name.clone(),
                        outcome: "failed".into(),
                        message: Some(format!(
                            "{} actions failed; the next pass retries",
                            s.report.errors.len()
                        )),
                    },
                    _ => FollowUpView { pair: pair.name.clone(), outcome: "synced".into(), message: None },
                },
                Err(e) => FollowUpView {
                    pair: pair.name.clone(),
                    outcome: "failed".into(),
                    message: Some(e.message),
                },
            };
            out.push(view);
        }
        out
    }

    /// One page of a folder listing (or of every key below `prefix`).
    pub async fn browse_list(&self, req: ListRequest) -> Result<ListPageView, ApiError> {
        let (row, remote) = self.browse_remote(&req.policy).await?;
        let delimiter = (!req.recursive).then_some(DELIMITER);
        let page = remote
            .list_folder(&req.prefix, delimiter, req.continuation.clone(), req.page_size.map(|n| n as i32))
            .await?;
        let name_of = |k: &str| k.strip_prefix(req.prefix.as_str()).unwrap_or(k).to_string();
        let mut entries = Vec::with_capacity(page.prefixes.len() + page.objects.len());
        for p in page.prefixes {
            let (unsafe_reason, safe_key) = key::judge(&p);
            entries.push(EntryView {
                name: name_of(&p),
                key: p,
                folder: true,
                size: 0,
                etag: String::new(),
                last_modified_ms: None,
                storage_class: None,
                unsafe_reason,
                safe_key,
            });
        }
        for o in page.objects {
            // The folder's own marker object is the folder, not an entry in it.
            if o.key == req.prefix {
                continue;
            }
            let (unsafe_reason, safe_key) = key::judge(&o.key);
            entries.push(EntryView {
                name: name_of(&o.key),
                folder: o.size == 0 && o.key.ends_with('/'),
                key: o.key,
                size: o.size,
                etag: o.etag,
                last_modified_ms: o.last_modified_ms,
                storage_class: o.storage_class,
                unsafe_reason,
                safe_key,
            });
        }
        let synced_by = Self::pair_refs(&self.pairs_touching(&row, &req.prefix)?);
        Ok(ListPageView {
            policy: req.policy,
            bucket: row.bucket,
            prefix: req.prefix,
            entries,
            continuation: page.continuation,
            synced_by,
        })
    }

    /// Everything a HEAD tells about one object.
    pub async fn browse_stat(&self, policy: &str, key: &str) -> Result<ObjectDetailsView, ApiError> {
        check_key("key", key)?;
        let (row, remote) = self.browse_remote(policy).await?;
        let d = remote.details(key).await.map_err(|e| {
            if is_not_found(&e) {
                ApiError::new(ErrorKind::NotFound, format!("there is no object '{key}' in {}", row.bucket))
                    .with_hint("list the folder to see its keys; a folder has no details of its own")
            } else {
                e.into()
            }
        })?;
        let (unsafe_reason, safe_key) = key::judge(key);
        Ok(ObjectDetailsView {
            policy: policy.to_string(),
            key: d.key,
            size: d.size,
            etag: d.etag,
            last_modified_ms: d.last_modified_ms,
            content_type: d.content_type,
            storage_class: d.storage_class,
            mtime_ms: d.mtime_ms,
            user_metadata: d
                .user_metadata
                .into_iter()
                .map(|(name, value)| MetadataEntry { name, value })
                .collect(),
            unsafe_reason,
            safe_key,
            synced_by: Self::pair_refs(&self.pairs_touching(&row, key)?),
        })
    }

    /// Creates an empty folder: a zero-byte `name/` object, as consoles do.
    pub async fn browse_new_folder(&self, policy: &str, key: &str) -> Result<String, ApiError> {
        let folder = format!("{}/", key.trim_end_matches('/'));
        check_key("name", &folder)?;
        if let Some(reason) = key::judge(&folder).0 {
            return Err(ApiError::invalid(
                "name",
                format!("'{folder}' cannot be a folder on disk: {reason}"),
                "choose a name without '/', '.', '..' or control characters",
            ));
        }
        let (_, remote) = self.browse_remote(policy).await?;
        remote.put_bytes(&folder, bytes::Bytes::new(), &[]).await?;
        Ok(folder)
    }

    /// Counts what a delete would remove (existing objects only) and which
    /// synced pairs it reaches, so front ends can ask first.
    pub async fn browse_delete_preview(&self, req: &DeleteRequest) -> Result<DeletePreview, ApiError> {
        let (row, remote) = self.browse_remote(&req.policy).await?;
        let mut objects = 0u64;
        let mut bytes = 0u64;
        let mut pairs = Vec::new();
        for key in &req.keys {
            check_key("key", key)?;
            match remote.head(key).await {
                Ok(m) => {
                    objects += 1;
                    bytes += m.size;
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
            pairs.extend(self.pairs_touching(&row, key)?);
        }
        for prefix in &req.prefixes {
            check_prefix(prefix)?;
            let mut token = None;
            loop {
                let page = remote.list_folder(prefix, None, token, None).await?;
                objects += page.objects.len() as u64;
                bytes += page.objects.iter().map(|o| o.size).sum::<u64>();
                match page.continuation {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
            pairs.extend(self.pairs_touching(&row, prefix)?);
        }
        pairs.sort_by_key(|p| p.id);
        pairs.dedup_by_key(|p| p.id);
        Ok(DeletePreview { objects, bytes, synced_by: Self::pair_refs(&pairs) })
    }

    /// Deletes the objects and everything below the prefixes, in batches
    /// of 1,000, then brings the synced pairs it reached up to date.
    pub async fn browse_delete(&self, req: DeleteRequest) -> Result<DeleteReport, ApiError> {
        let (row, remote) = self.browse_remote(&req.policy).await?;
        let mut deleted = 0u64;
        let mut failed = Vec::new();
        let mut pairs = Vec::new();
        for key in &req.keys {
            check_key("key", key)?;
            pairs.extend(self.pairs_touching(&row, key)?);
        }
        for batch in req.keys.chunks(DELETE_BATCH) {
            delete_batch(&remote, batch, &mut deleted, &mut failed).await?;
        }
        for prefix in &req.prefixes {
            check_prefix(prefix)?;
            pairs.extend(self.pairs_touching(&row, prefix)?);
            // Page by page: a page is at most 1,000 keys, one batch, and
            // memory stays flat however many objects the prefix holds.
            let mut token = None;
            loop {
                let page = remote.list_folder(prefix, None, token, None).await?;
                let keys: Vec<String> = page.objects.into_iter().map(|o| o.key).collect();
                delete_batch(&remote, &keys, &mut deleted, &mut failed).await?;
                match page.continuation {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
        }
        pairs.sort_by_key(|p| p.id);
        pairs.dedup_by_key(|p| p.id);
        let follow_up = self.follow_up(pairs).await;
        Ok(DeleteReport { deleted, failed, follow_up })
    }

    /// Renames (moves) an object or a prefix inside the bucket: a
    /// server-side copy of the version listed, then a delete of the source
    /// if it is still that version. Refuses to overwrite anything.
    pub async fn browse_rename(&self, req: RenameRequest) -> Result<RenameReport, ApiError> {
        let (row, remote) = self.browse_remote(&req.policy).await?;
        check_key("from", &req.from)?;
        check_key("to", &req.to)?;
        let prefix_move = req.from.ends_with('/');
        if prefix_move != req.to.ends_with('/') {
            return Err(ApiError::invalid(
                "to",
                "a folder moves to a folder and an object to an object",
                "end both names with '/' to move a folder, neither to move an object",
            ));
        }
        if req.from == req.to {
            return Err(ApiError::invalid("to", "the new name is the old one", "give another name"));
        }
        if prefix_move && req.to.starts_with(&req.from) {
            return Err(ApiError::invalid(
                "to",
                format!("'{}' is inside '{}': a folder cannot move into itself", req.to, req.from),
                "choose a destination outside the folder",
            ));
        }
        let preset = settings(&row)?.preset();
        let quirks = preset.quirks;
        let limits = CopyLimits {
            part_size: CopyLimits::default().part_size.max(quirks.min_part_size),
            ..CopyLimits::default()
        };
        let mut report =
            RenameReport { moved: 0, warnings: Vec::new(), failed: Vec::new(), follow_up: Vec::new() };
        let mut pairs = self.pairs_touching(&row, &req.from)?;
        pairs.extend(self.pairs_touching(&row, &req.to)?);

        let mover = Mover {
            api: self,
            policy: &row,
            remote: &remote,
            limits,
            multipart_copy: quirks.multipart_copy,
            provider: preset.name,
        };
        if prefix_move {
            let dest = remote.list_folder(&req.to, None, None, Some(1)).await?;
            if !dest.objects.is_empty() {
                return Err(ApiError::new(
                    ErrorKind::AlreadyExists,
                    format!("'{}' already holds objects; nothing was moved", req.to),
                )
                .with_hint("move into a new, empty folder, or rename the objects one by one"));
            }
            let mut token = None;
            loop {
                let page = remote.list_folder(&req.from, None, token, None).await?;
                for o in &page.objects {
                    let rest = &o.key[req.from.len()..];
                    let to = format!("{}{rest}", req.to);
                    mover.move_one(&o.key, o.size, &o.etag, &to, &mut report).await;
                }
                // Deleting the sources while paging is safe: continuation
                // tokens point past the last key returned, not at offsets.
                match page.continuation {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
        } else {
            match remote.head(&req.to).await {
                Ok(_) => {
                    return Err(ApiError::new(
                        ErrorKind::AlreadyExists,
                        format!("'{}' exists already; nothing was moved", req.to),
                    )
                    .with_hint("delete it first, or choose another name"))
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
            let src = remote.head(&req.from).await.map_err(|e| {
                if is_not_found(&e) {
                    ApiError::new(ErrorKind::NotFound, format!("there is no object '{}'", req.from))
                        .with_hint("to move a folder, end both names with '/'")
                } else {
                    e.into()
                }
            })?;
            mover.move_one(&req.from, src.size, &src.etag, &req.to, &mut report).await;
        }
        pairs.sort_by_key(|p| p.id);
        pairs.dedup_by_key(|p| p.id);
        report.follow_up = self.follow_up(pairs).await;
        Ok(report)
    }

    /// A link to an object: the public (CDN) URL for a public bucket, else
    /// a presigned GET that lives `expires_secs` (default one hour, at most
    /// seven days). The URL is never logged.
    pub async fn browse_link(&self, req: LinkRequest) -> Result<LinkView, ApiError> {
        check_key("key", &req.key)?;
        let expires = Duration::from_secs(req.expires_secs.unwrap_or(3600));
        check_expiry(expires)?;
        let row = self.policy_row(&req.policy)?;
        let s = settings(&row)?;
        if let Some(url) = s.public_url(&req.key) {
            return Ok(LinkView { url, public: true, expires_at_ms: None });
        }
        let remote = self.remote(&req.policy).await?;
        let url = remote.presign_get(&req.key, expires).await?;
        Ok(LinkView {
            url,
            public: false,
            expires_at_ms: Some(crate::pair::now_ms() + expires.as_millis() as i64),
        })
    }

    /// The beginning of an object for a preview: images whole up to
    /// [`PREVIEW_MAX_BYTES`], text up to [`PREVIEW_TEXT_BYTES`]. The bytes
    /// come through Rust; the webview never loads an S3 URL.
    pub async fn browse_preview(&self, policy: &str, key: &str) -> Result<ObjectPreview, ApiError> {
        check_key("key", key)?;
        let (_, remote) = self.browse_remote(policy).await?;
        let d = remote.details(key).await?;
        let kind = key::preview_kind(key, d.content_type.as_deref());
        let none = |reason: &str| ObjectPreview {
            key: key.to_string(),
            kind: "none".into(),
            content_type: d.content_type.clone(),
            size: d.size,
            text: None,
            data_base64: None,
            truncated: false,
            reason: Some(reason.to_string()),
        };
        match kind {
            key::PreviewKind::Image if d.size > PREVIEW_MAX_BYTES => {
                Ok(none("the image is larger than 4 MiB; download it to look at it"))
            }
            key::PreviewKind::Image => {
                let bytes = remote.get_range(key, 0..d.size).await?;
                use base64::Engine;
                Ok(ObjectPreview {
                    kind: "image".into(),
                    data_base64: Some(base64::engine::general_purpose::STANDARD.encode(&bytes)),
                    reason: None,
                    ..none("")
                })
            }
            key::PreviewKind::Text => {
                let n = d.size.min(PREVIEW_TEXT_BYTES);
                let bytes = remote.get_range(key, 0..n).await?;
                Ok(ObjectPreview {
                    kind: "text".into(),
                    text: Some(String::from_utf8_lossy(&bytes).into_owned()),
                    truncated: n < d.size,
                    reason: None,
                    ..none("")
                })
            }
            key::PreviewKind::None => Ok(none("no preview for this kind of file")),
        }
    }
}

fn check_prefix(prefix: &str) -> Result<(), ApiError> {
    if !prefix.is_empty() && !prefix.ends_with('/') {
        return Err(ApiError::invalid(
            "prefix",
            format!("'{prefix}' is not a folder"),
            "a folder ends with '/', e.g. photos/",
        ));
    }
    Ok(())
}

async fn delete_batch(
    remote: &S3Remote,
    keys: &[String],
    deleted: &mut u64,
    failed: &mut Vec<FailureView>,
) -> Result<(), ApiError> {
    if keys.is_empty() {
        return Ok(());
    }
    let refused = remote.delete_batch(keys).await?;
    *deleted += (keys.len() - refused.len()) as u64;
    failed.extend(refused.into_iter().map(|(key, e)| FailureView { key, message: e.to_string() }));
    Ok(())
}

/// Moves objects one by one inside one bucket.
struct Mover<'a> {
    api: &'a Api,
    policy: &'a PolicyRow,
    remote: &'a Arc<S3Remote>,
    limits: CopyLimits,
    multipart_copy: bool,
    provider: &'static str,
}

impl Mover<'_> {
    async fn move_one(&self, from: &str, size: u64, etag: &str, to: &str, report: &mut RenameReport) {
        let fail = |report: &mut RenameReport, message: String| {
            report.failed.push(FailureView { key: from.to_string(), message })
        };
        let server_side = size <= self.limits.max_single_copy || self.multipart_copy;
        let copied = if server_side {
            let src = CopySource { key: from, size, etag };
            match self.remote.copy_object(&src, to, &self.limits).await {
                Ok(_) => Ok(()),
                Err(e) if e.kind == RemoteKind::NotSupported => {
                    report.warnings.push(format!(
                        "{} did not copy {from} inside the bucket ({e}); it was copied through this computer",
                        self.provider
                    ));
                    self.copy_through_here(from, size, etag, to).await
                }
                Err(e) if e.kind == RemoteKind::Precondition => {
                    Err(format!("{from} changed while it was being moved; nothing was changed"))
                }
                Err(e) => Err(e.to_string()),
            }
        } else {
            report.warnings.push(format!(
                "{} cannot copy objects larger than 5 GiB inside the bucket: {from} was downloaded and uploaded again",
                self.provider
            ));
            self.copy_through_here(from, size, etag, to).await
        };
        if let Err(message) = copied {
            fail(report, message);
            return;
        }
        // Delete the source only if it is still the version copied: a
        // newer one written meanwhile stays, next to its copy.
        match self.remote.head(from).await {
            Ok(now) if now.size == size && (etag.is_empty() || now.etag == etag) => {
                match self.remote.delete_batch(&[from.to_string()]).await {
                    Ok(refused) if refused.is_empty() => report.moved += 1,
                    Ok(refused) => fail(
                        report,
                        format!("copied to {to}, but deleting the original failed: {}", refused[0].1),
                    ),
                    Err(e) => fail(report, format!("copied to {to}, but deleting the original failed: {e}")),
                }
            }
            Ok(_) => report.warnings.push(format!(
                "{from} changed while it was moved: the new version stays, the copy at {to} is the old one"
            )),
            Err(e) if is_not_found(&e) => report.moved += 1,
            Err(e) => fail(report, format!("copied to {to}, but could not check the original: {e}")),
        }
    }

    /// For stores that cannot copy server-side: a verified download into
    /// the home's temp folder, then an upload, both through the sync
    /// engine's transfer code.
    async fn copy_through_here(&self, from: &str, size: u64, etag: &str, to: &str) -> Result<(), String> {
        let scratch =
            transfer::Scratch::new(self.api, self.policy, self.remote.clone()).map_err(|e| e.message)?;
        let dir = self.api.home().join("tmp");
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let tmp =
            tempfile_in(&dir).map_err(|e| format!("cannot create a temp file in {}: {e}", dir.display()))?;
        let object = bucketsync_remote::ObjectMeta {
            key: from.to_string(),
            size,
            etag: etag.to_string(),
            last_modified_ms: None,
            mtime_ms: None,
        };
        let noop = bucketsync_engine::transfer::NoProgress;
        let result = async {
            // Our own temp file, made empty just above.
            let ours = bucketsync_engine::transfer::LocalExpect::Anything;
            scratch.transfers.download(&object, &tmp, &ours, &noop).await.map_err(|e| e.to_string())?;
            let meta = std::fs::metadata(&tmp).map_err(|e| e.to_string())?;
            let state = bucketsync_engine::snapshot::stat(&meta);
            scratch
                .transfers
                .upload(
                    scratch.pair_id,
                    &tmp,
                    to,
                    &state,
                    // A move never replaces anything: an object that
                    // appeared at `to` since the check is kept.
                    &bucketsync_engine::transfer::RemoteExpect::Absent,
                    &noop,
                )
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        }
        .await;
        let _ = std::fs::remove_file(&tmp);
        result
    }
}

/// A fresh path in `dir` that nothing else uses.
fn tempfile_in(dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let path = dir.join(format!("move-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_file(&path);
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_cap_at_seven_days() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(7 * 86400));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(check_expiry(parse_duration("7d").unwrap()).is_ok());
        let e = check_expiry(parse_duration("8d").unwrap()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        assert!(e.message.contains("7 days"), "{}", e.message);
        assert!(check_expiry(Duration::ZERO).is_err());
    }
}
