//! Syncing: one pass per pair (`sync`), the watching daemon, status, and
//! listing a bucket (`ls`).

use crate::{Api, ApiError, ErrorKind};
use bucketsync_engine::clock::SystemClock;
pub use bucketsync_engine::event::{Event, EventKind, EventSink, PairStatus};
use bucketsync_engine::event::{FaultKind, PairEvents};
pub use bucketsync_engine::keypath::{Reason, Side, Unsyncable};
use bucketsync_engine::pair::Mode;
use bucketsync_engine::pass::{run_pass, Confirm, Pair, PassContext, PassError, PassOptions};
pub use bucketsync_engine::report::{ActionError, PassReport};
pub use bucketsync_engine::runner::RunnerConfig;
use bucketsync_engine::transfer::{TransferLimits, Transfers};
use bucketsync_remote::Remote;
use bucketsync_store::PairRow;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use ts_rs::TS;

/// What one pass of one pair did (the CLI's summary, the UI's result): the
/// engine's pass report as it is, plus how the pass ended.
#[derive(Clone, Debug, Default, Serialize, TS)]
pub struct SyncSummary {
    /// Empty lists when the pass stopped before executing.
    #[serde(flatten)]
    #[ts(flatten)]
    pub report: PassReport,
    /// Both sides agree on everything syncable and nothing failed.
    pub converged: bool,
    /// The pass stopped before deleting; the user must confirm.
    pub needs_confirmation: Option<ConfirmationView>,
    /// The pass stopped before planning (root missing, bucket unreachable, ...).
    pub error: Option<ApiError>,
}

impl SyncSummary {
    fn stopped(pair: &str) -> SyncSummary {
        SyncSummary { report: PassReport { pair: pair.into(), ..Default::default() }, ..Default::default() }
    }
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct ConfirmationView {
    /// The list's id: `sync --confirm-deletes=ID` (or the app's Confirm)
    /// applies exactly this list.
    pub id: String,
    pub reason: String,
    pub deletes: Vec<PlannedDeleteView>,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct PlannedDeleteView {
    pub side: String,
    pub path: String,
}

#[derive(Clone, Debug, Default, Deserialize, TS)]
pub struct SyncRequest {
    /// One pair by name; every pair that is not paused when absent.
    pub pair: Option<String>,
    /// Go ahead with the deletes the last refused pass showed (only those:
    /// a pass that would delete anything else asks again).
    #[serde(default)]
    pub confirm_deletes: bool,
    /// With `confirm_deletes`: the id of the list meant (as printed); a list
    /// that changed since is refused instead of confirmed.
    #[serde(default)]
    pub confirm_set: Option<String>,
    /// Keep the files of the waiting list with this id instead of deleting
    /// them: nothing is deleted, and the pass copies each file back to the
    /// side it went missing from.
    #[serde(default)]
    pub keep_set: Option<String>,
}

/// A decision on a waiting list of deletes, recorded in the home for the
/// engine another process runs (the desktop app or a daemon); its runner
/// sees it within seconds and applies it in a pass of its own.
#[derive(Clone, Debug, Serialize, TS)]
pub struct DecisionRecorded {
    pub pair: String,
    /// The list decided on.
    pub set: String,
    /// Keep the files (true) or go ahead with the deletes (false).
    pub keep: bool,
    /// How many deletes the list holds.
    pub files: usize,
    /// Who applies it: the engine holding the home's lock, if it still runs.
    pub engine: Option<crate::lock::LockHolder>,
}

/// A pair's state for `status`.
#[derive(Clone, Debug, Serialize, TS)]
pub struct PairStatusView {
    pub name: String,
    pub local_root: String,
    pub remote: String,
    pub mode: String,
    pub paused: bool,
    /// `idle`, `scanning`, `transferring`, `paused`, `needs-confirmation`,
    /// `error`, or `not-running` when no engine runs.
    pub state: String,
    /// The state in full (what the app shows), as JSON.
    #[ts(type = "unknown")]
    pub detail: Option<serde_json::Value>,
    /// The newest activity entries, newest first.
    pub recent: Vec<ActivityView>,
}

/// One journal entry.
#[derive(Clone, Debug, Serialize, TS)]
pub struct ActivityView {
    pub pair: String,
    #[ts(type = "number")]
    pub at_ms: i64,
    /// `upload`, `download`, `delete-local`, `delete-remote`, `conflict`, ...
    pub action: String,
    pub path: String,
    pub detail: Option<String>,
    #[ts(type = "number | null")]
    pub bytes: Option<u64>,
}

/// A file in a preview, with its size.
#[derive(Clone, Debug, Serialize, TS)]
pub struct PreviewFileView {
    pub path: String,
    #[ts(type = "number")]
    pub size: u64,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct PreviewConflictView {
    pub path: String,
    /// Where the local version is kept.
    pub copy: String,
}

/// What a full pass would do (`sync --dry-run`, the first-pass preview).
#[derive(Clone, Debug, Serialize, TS)]
pub struct PreviewView {
    pub pair: String,
    pub uploads: Vec<PreviewFileView>,
    pub downloads: Vec<PreviewFileView>,
    /// Local files the pass would move to the trash.
    pub delete_local: Vec<PreviewFileView>,
    /// Objects the pass would delete from the bucket.
    pub delete_remote: Vec<PreviewFileView>,
    pub conflicts: Vec<PreviewConflictView>,
    /// Equal on both sides: recorded without a transfer.
    pub adopt: Vec<String>,
    pub unsyncable: Vec<UnsyncableView>,
    /// Still being written: a later pass takes them.
    pub waiting: Vec<String>,
    #[ts(type = "number")]
    pub bytes_up: u64,
    #[ts(type = "number")]
    pub bytes_down: u64,
    /// Why the pass would stop to ask before deleting.
    pub needs_confirmation: Option<String>,
}

/// A name left alone, with the reason in words (for lists people read).
#[derive(Clone, Debug, Serialize, TS)]
pub struct UnsyncableView {
    /// `local` or `remote`
    pub side: String,
    pub name: String,
    pub reason: String,
}

pub(crate) fn unsyncable_view(u: bucketsync_engine::keypath::Unsyncable) -> UnsyncableView {
    UnsyncableView {
        side: match u.side {
            bucketsync_engine::keypath::Side::Local => "local".into(),
            bucketsync_engine::keypath::Side::Remote => "remote".into(),
        },
        name: u.name,
        reason: u.reason.to_string(),
    }
}

impl From<bucketsync_engine::pass::Preview> for PreviewView {
    fn from(p: bucketsync_engine::pass::Preview) -> Self {
        let files = |v: Vec<bucketsync_engine::pass::PreviewFile>| {
            v.into_iter().map(|f| PreviewFileView { path: f.path, size: f.size }).collect()
        };
        PreviewView {
            pair: p.pair,
            uploads: files(p.uploads),
            downloads: files(p.downloads),
            delete_local: files(p.delete_local),
            delete_remote: files(p.delete_remote),
            conflicts: p
                .conflicts
                .into_iter()
                .map(|c| PreviewConflictView { path: c.path, copy: c.copy })
                .collect(),
            adopt: p.adopt,
            unsyncable: p.unsyncable.into_iter().map(unsyncable_view).collect(),
            waiting: p
                .waiting
                .into_iter()
                .chain(p.unreadable.into_iter().map(|d| format!("{d}/ (unreadable)")))
                .collect(),
            bytes_up: p.bytes_up,
            bytes_down: p.bytes_down,
            needs_confirmation: p.needs_confirmation,
        }
    }
}

/// One object for `ls`.
#[derive(Clone, Debug, Serialize, TS)]
pub struct ObjectView {
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub last_modified_ms: Option<i64>,
}

/// A confirmation (or a keep) of a list of deletes that is not the one
/// waiting: it changed since it was shown, or was already decided.
pub(crate) fn stale_list(id: &str, waiting: &[String]) -> ApiError {
    let now =
        if waiting.is_empty() { "no deletes wait for confirmation".to_string() } else { waiting.join("; ") };
    ApiError::new(
        ErrorKind::Stale,
        format!("the list of deletes {id} is no longer the one waiting ({now}); nothing was deleted"),
    )
    .with_hint("look at the list waiting now and confirm that one (`bucketsync sync` prints it)")
}

pub(crate) fn summary_of(report: PassReport) -> SyncSummary {
    SyncSummary { converged: report.converged(), report, needs_confirmation: None, error: None }
}

fn pass_error(pair: &str, e: PassError) -> SyncSummary {
    let mut s = SyncSummary::stopped(pair);
    match e {
        PassError::NeedsConfirmation(n) => {
            s.needs_confirmation = Some(ConfirmationView {
                id: n.id,
                reason: n.reason,
                deletes: n
                    .deletes
                    .into_iter()
                    .map(|d| PlannedDeleteView {
                        side: match d.side {
                            bucketsync_engine::keypath::Side::Local => "local".into(),
                            bucketsync_engine::keypath::Side::Remote => "bucket".into(),
                        },
                        path: d.path,
                    })
                    .collect(),
            })
        }
        PassError::Listing(r) => s.error = Some(r.into()),
        e => {
            let (kind, hint) = match e.kind() {
                Some(FaultKind::RootMissing) => {
                    (ErrorKind::Io, "reconnect the drive or folder; nothing was deleted")
                }
                Some(FaultKind::StateMismatch) => (
                    ErrorKind::InvalidInput,
                    "point the policy back at the pair's bucket, or remove and re-add the pair",
                ),
                Some(FaultKind::IgnoreFile) => (ErrorKind::InvalidInput, "fix the .bucketsyncignore file"),
                Some(FaultKind::Store) => (ErrorKind::Internal, "see the log"),
                _ => (ErrorKind::Io, "check the folder's permissions"),
            };
            s.error = Some(ApiError::new(kind, e.to_string()).with_hint(hint));
        }
    }
    s
}

impl Api {
    /// Builds everything a pass of `row` needs.
    pub(crate) async fn pass_context(&self, row: &PairRow, sink: EventSink) -> Result<PassContext, ApiError> {
        let policy = self.store().policy_by_id(row.policy_id)?.ok_or_else(|| {
            ApiError::new(ErrorKind::Internal, format!("pair '{}' refers to a missing policy", row.name))
        })?;
        let remote: Arc<dyn Remote> = self.remote(&policy.name).await?;
        let limits = match bucketsync_remote::provider::preset(&policy.provider) {
            Some(p) => {
                let parts = p.quirks.part_limits();
                TransferLimits {
                    min_part_size: parts.min_part_size,
                    max_parts: parts.max_parts,
                    ..self.transfer_limits()
                }
            }
            None => self.transfer_limits(),
        };
        let clock: Arc<dyn bucketsync_engine::clock::Clock> = Arc::new(SystemClock);
        // Conditional writes only where the policy's probe saw them honoured.
        let honoured =
            crate::policy::ConditionalWrites::of(&policy) == crate::policy::ConditionalWrites::Honoured;
        let transfers =
            Transfers::new(remote.clone(), self.store.clone(), limits, self.transfer_slots(), clock.clone())
                .with_conditional_writes(honoured);
        let mode = Mode::parse(&row.mode).ok_or_else(|| {
            ApiError::new(ErrorKind::Internal, format!("pair '{}' has an unknown mode", row.name))
        })?;
        Ok(PassContext {
            pair: Pair {
                id: row.id,
                name: row.name.clone(),
                root: row.local_root.clone().into(),
                prefix: row.prefix.clone(),
                mode,
                max_delete_percent: row.max_delete_percent,
                bucket: row.bucket.clone(),
            },
            remote,
            bucket_in_use: policy.bucket,
            transfers,
            store: self.store.clone(),
            trash_dir: self.home().join("trash").join(format!("{}-{}", row.id, row.name)),
            trash_keep_days: self.settings()?.trash_keep_days,
            clock,
            device: bucketsync_engine::conflict::device_name(),
            quiet_ms: 0,
            events: PairEvents { pair_id: row.id, pair: row.name.clone(), sink },
        })
    }

    /// One full pass of one pair, or of every pair that is not paused.
    /// Takes the home's engine lock for the pass: refused while the desktop
    /// app or a daemon runs the pairs.
    pub async fn sync(&self, req: SyncRequest, sink: EventSink) -> Result<Vec<SyncSummary>, ApiError> {
        let _lock = crate::lock::acquire(self.home(), crate::lock::Holder::Sync)?;
        let rows = match &req.pair {
            Some(name) => vec![self.pair_row(name)?],
            None => self.store().list_pairs()?.into_iter().filter(|p| !p.paused).collect(),
        };
        if let Some(id) = &req.keep_set {
            self.mark_decision(&rows, id, true)?;
        }
        let confirm = self.confirmations(&req, &rows)?;
        let mut out = Vec::new();
        for (row, confirm) in rows.into_iter().zip(confirm) {
            let ctx = match self.pass_context(&row, sink.clone()).await {
                Ok(ctx) => ctx,
                Err(e) => {
                    out.push(SyncSummary { error: Some(e), ..SyncSummary::stopped(&row.name) });
                    continue;
                }
            };
            let opts = PassOptions { confirm, sweep_orphan_uploads: true };
            out.push(match run_pass(&ctx, opts).await {
                Ok(report) => summary_of(report),
                Err(e) => pass_error(&row.name, e),
            });
        }
        Ok(out)
    }

    /// Records `sync --confirm-deletes=ID` or `--keep-files=ID` for the
    /// engine another process runs, when [`Api::sync`] is refused as busy:
    /// the pair waiting on list ID gets the decision, and its runner applies
    /// it. Only a list named by its id can be decided this way.
    pub fn record_decision(&self, req: &SyncRequest) -> Result<DecisionRecorded, ApiError> {
        let (id, keep) = match (&req.keep_set, &req.confirm_set) {
            (Some(id), _) => (id, true),
            (None, Some(id)) if req.confirm_deletes => (id, false),
            _ => {
                return Err(ApiError::new(
                    ErrorKind::InvalidInput,
                    "while another Bucketsync runs the pairs, a list of deletes is decided by its id",
                )
                .with_hint("`bucketsync status` shows the list and its id: then `--confirm-deletes=ID` or `--keep-files=ID`"))
            }
        };
        let rows = match &req.pair {
            Some(name) => vec![self.pair_row(name)?],
            None => self.store().list_pairs()?,
        };
        let (pair, files) = self.mark_decision(&rows, id, keep)?;
        Ok(DecisionRecorded { pair, set: id.clone(), keep, files, engine: crate::lock::holder(self.home()) })
    }

    /// Records keep (or confirm) on the list `id` of whichever of `rows`
    /// waits on it; refused as stale when none does.
    fn mark_decision(&self, rows: &[PairRow], id: &str, keep: bool) -> Result<(String, usize), ApiError> {
        let mut store = self.store();
        let mut waiting = Vec::new();
        for row in rows {
            match store.pending_deletes(row.id)? {
                Some(p) if p.set_id == id => {
                    let marked = if keep {
                        store.keep_pending_deletes(row.id, id)?
                    } else {
                        store.confirm_pending_deletes(row.id, id)?
                    };
                    if marked {
                        return Ok((row.name.clone(), p.deletes.len()));
                    }
                }
                Some(p) => waiting.push(format!("{} waits for list {}", row.name, p.set_id)),
                None => {}
            }
        }
        Err(stale_list(id, &waiting))
    }

    /// What each pair's pass confirms. Without an id, each pair's list
    /// waiting (the one the last refused run printed); with one, only the
    /// pair whose waiting list has that id, and a list that changed since
    /// it was printed is refused here, before anything runs.
    fn confirmations(&self, req: &SyncRequest, rows: &[PairRow]) -> Result<Vec<Option<Confirm>>, ApiError> {
        if !req.confirm_deletes {
            return Ok(vec![None; rows.len()]);
        }
        let Some(id) = &req.confirm_set else { return Ok(vec![Some(Confirm::LastShown); rows.len()]) };
        let store = self.store();
        let mut out = Vec::with_capacity(rows.len());
        let mut waiting = Vec::new();
        for row in rows {
            let pending = store.pending_deletes(row.id)?;
            let meant = pending.as_ref().is_some_and(|p| p.set_id == *id);
            if let (Some(p), false) = (&pending, meant) {
                waiting.push(format!("{} waits for list {}", row.name, p.set_id));
            }
            out.push(meant.then(|| Confirm::Set(id.clone())));
        }
        if out.iter().all(Option::is_none) {
            return Err(stale_list(id, &waiting));
        }
        Ok(out)
    }

    /// Runs every pair (watching, polling) until `shutdown` completes, then
    /// stops them all. Refused while another engine holds the home's lock.
    pub async fn daemon(
        &self,
        config: RunnerConfig,
        sink: EventSink,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), ApiError> {
        self.start_engine(crate::lock::Holder::Daemon, config, crate::engine::Listener::Engine(sink)).await?;
        shutdown.await;
        self.stop_engine().await;
        Ok(())
    }

    /// Plans a full pass of one pair (or of every pair that is not paused)
    /// and reports what it would do; changes nothing on either side and
    /// needs no lock.
    pub async fn preview(&self, pair: Option<&str>) -> Result<Vec<PreviewView>, ApiError> {
        let rows = match pair {
            Some(name) => vec![self.pair_row(name)?],
            None => self.store().list_pairs()?.into_iter().filter(|p| !p.paused).collect(),
        };
        let mut out = Vec::new();
        for row in rows {
            let ctx = self.pass_context(&row, EventSink::none()).await?;
            let preview = bucketsync_engine::pass::preview_pass(&ctx).await.map_err(|e| {
                pass_error(&row.name, e)
                    .error
                    .unwrap_or_else(|| ApiError::new(ErrorKind::Internal, "preview failed"))
            })?;
            out.push(PreviewView::from(preview));
        }
        Ok(out)
    }

    /// The preview of one pair (the app's first-pass preview).
    pub async fn preview_one(&self, pair: &str) -> Result<PreviewView, ApiError> {
        let mut all = self.preview(Some(pair)).await?;
        all.pop().ok_or_else(|| crate::pair::not_found(pair))
    }

    /// Every pair with its state (from the engine that runs the home, if
    /// any) and recent activity. Needs no lock.
    pub fn status(&self) -> Result<Vec<PairStatusView>, ApiError> {
        let mut out = Vec::new();
        let rows = self.store().list_pairs()?;
        for row in rows {
            let state = self.pair_state(&row);
            let recent = self
                .store()
                .recent_journal(Some(row.id), 5)?
                .into_iter()
                .map(|j| ActivityView {
                    pair: row.name.clone(),
                    at_ms: j.at_ms,
                    action: j.action,
                    path: j.path,
                    detail: j.detail,
                    bytes: j.bytes,
                })
                .collect();
            out.push(PairStatusView {
                name: row.name.clone(),
                local_root: row.local_root.clone(),
                remote: format!("{}/{}", row.bucket, row.prefix),
                mode: row.mode.clone(),
                paused: row.paused,
                state: state.name().to_string(),
                detail: serde_json::to_value(&state).ok(),
                recent,
            });
        }
        Ok(out)
    }

    /// Lists the objects of a policy's bucket under `prefix`.
    pub async fn ls(&self, policy: &str, prefix: &str) -> Result<Vec<ObjectView>, ApiError> {
        let remote = self.remote(policy).await?;
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = remote.list_page(prefix, token).await?;
            out.extend(page.objects.into_iter().map(|o| ObjectView {
                key: o.key,
                size: o.size,
                etag: o.etag,
                last_modified_ms: o.last_modified_ms,
            }));
            match page.continuation {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(out)
    }
}
