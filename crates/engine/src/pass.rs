//! One sync pass of one pair: check identity, scan, list, settle doubts,
//! plan, guard, execute, report.

use crate::clock::Clock;
use crate::dirty::NameIndex;
use crate::event::{FaultKind, PairEvents, PairStatus, PassProgress};
use crate::execute::Executor;
use crate::guard::{self, DeleteGuard, NeedsConfirmation};
use crate::ignore::{IgnoreError, IgnoreRules};
use crate::keypath::Unsyncable;
use crate::pair::Mode;
use crate::plan::{self, Action, PlanInput};
use crate::report::PassReport;
use crate::snapshot::{self, ScanError};
use crate::transfer::Transfers;
use crate::trash::Trash;
use bucketsync_remote::{Remote, RemoteError};
use bucketsync_store::{BaselineRow, Store, StoreError};
use futures::StreamExt;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A pair as the engine needs it.
#[derive(Clone, Debug)]
pub struct Pair {
    pub id: i64,
    pub name: String,
    pub root: PathBuf,
    /// Normalised: empty or ending with `/`.
    pub prefix: String,
    pub mode: Mode,
    pub max_delete_percent: u32,
    /// The bucket the pair was made for (from its row).
    pub bucket: String,
}

/// Everything a pass works with. The remote and the clock are passed in.
#[derive(Clone)]
pub struct PassContext {
    pub pair: Pair,
    pub remote: Arc<dyn Remote>,
    /// The bucket the policy points at now; must equal `pair.bucket`.
    pub bucket_in_use: String,
    pub transfers: Transfers,
    pub store: Arc<Mutex<Store>>,
    /// This pair's trash folder (inside the app's data dir).
    pub trash_dir: PathBuf,
    /// Trashed files older than this are removed at the end of each pass.
    pub trash_keep_days: u32,
    pub clock: Arc<dyn Clock>,
    /// This machine's name, for conflict copies.
    pub device: String,
    /// Local files modified less than this long ago wait (0 in one-shot passes).
    pub quiet_ms: i64,
    pub events: PairEvents,
}

#[derive(Clone, Debug, Default)]
pub struct PassOptions {
    /// The user confirmed a list of deletes a guard stopped at. It lets
    /// those deletes through and nothing else: a pass that would delete
    /// anything not on it asks again.
    pub confirm: Option<Confirm>,
    /// At pair start: also abort the multipart uploads open under the
    /// pair's prefix that no upload row knows ([`Transfers::sweep_orphans`]).
    /// Recorded uploads are settled on every pass, after planning: resumed
    /// by the plan's upload of their key, aborted if it has none.
    pub sweep_orphan_uploads: bool,
}

/// Which list of deletes a confirmation is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Confirm {
    /// The list with this id, as shown (the app, `sync --confirm-deletes=ID`).
    Set(String),
    /// The list the pair's last refused pass showed (`sync --confirm-deletes`
    /// after a run that printed it).
    LastShown,
}

/// Why a pass stopped before executing.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error(
        "the pair '{pair}' was made for bucket '{recorded}', but its policy now points at '{in_use}'; \
         it stays stopped so nothing is planned against the wrong bucket"
    )]
    StateMismatch { pair: String, recorded: String, in_use: String },
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error("cannot list the bucket: {0}")]
    Listing(RemoteError),
    #[error(transparent)]
    Ignore(#[from] IgnoreError),
    #[error("{0}")]
    NeedsConfirmation(NeedsConfirmation),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PassError {
    pub fn kind(&self) -> Option<FaultKind> {
        Some(match self {
            PassError::StateMismatch { .. } => FaultKind::StateMismatch,
            PassError::Scan(ScanError::RootMissing(_) | ScanError::RootNotFolder(_)) => {
                FaultKind::RootMissing
            }
            PassError::Scan(ScanError::RootUnreadable { .. }) => FaultKind::Unreadable,
            PassError::Listing(e) => FaultKind::Remote(e.kind),
            PassError::Ignore(_) => FaultKind::IgnoreFile,
            PassError::Store(_) => FaultKind::Store,
            PassError::NeedsConfirmation(_) => return None,
        })
    }
}

/// HEADs at once while settling doubts.
const HEADS_IN_FLIGHT: usize = 8;

/// What a runner's watcher knows that a pass can use. A one-shot pass
/// (`sync`) has none of it.
#[derive(Clone, Debug, Default)]
pub struct Hints {
    /// Files seen closed after writing, with when ([`PlanInput::settled`]).
    pub settled: BTreeMap<String, i64>,
    /// Keep what the pass saw of every name ([`NameIndex`]), for the dirty
    /// passes that follow it.
    pub index: bool,
}

/// Runs one full pass.
pub async fn run_pass(ctx: &PassContext, opts: PassOptions) -> Result<PassReport, PassError> {
    run_pass_with(ctx, opts, &Hints::default()).await.0
}

/// Runs one full pass with what the watcher knows; returns, besides the
/// result, the names it saw when `hints.index` asked for them (and the
/// pass got as far as planning).
pub async fn run_pass_with(
    ctx: &PassContext,
    opts: PassOptions,
    hints: &Hints,
) -> (Result<PassReport, PassError>, Option<NameIndex>) {
    let mut index = None;
    let result = pass(ctx, opts, hints, &mut index).await;
    show_outcome(ctx, &result);
    (result, index)
}

/// The pair's status after a pass (full or dirty) that ran.
pub(crate) fn show_outcome(ctx: &PassContext, result: &Result<PassReport, PassError>) {
    match result {
        Ok(report) => match report.fault() {
            Some((kind, message)) => {
                ctx.events.status(PairStatus::Error { kind, message, retry_at_ms: None })
            }
            None => ctx
                .events
                .status(PairStatus::Idle { last_sync_ms: report.converged().then(|| ctx.clock.now_ms()) }),
        },
        Err(PassError::NeedsConfirmation(n)) => ctx.events.status(PairStatus::NeedsConfirmation {
            id: n.id.clone(),
            reason: n.reason.clone(),
            deletes: n.deletes.clone(),
        }),
        Err(e) => {
            let kind = e.kind().unwrap_or(FaultKind::Store);
            ctx.events.status(PairStatus::Error {
                kind,
                message: format!("{}: {e}", kind.headline()),
                retry_at_ms: None,
            })
        }
    }
}

/// What a pass decided before acting: the plan and what it was made from.
struct Planned {
    plan: plan::Plan,
    /// Base rows (files in sync before this pass).
    base_files: usize,
    /// Files the scan found.
    local_files: usize,
    unreadable: Vec<String>,
    /// What the pass saw of every name, when asked for.
    index: Option<NameIndex>,
}

/// Identity check, scan, listing, doubt settling and the plan: everything
/// up to the first change. Reads only (hashes local files, HEADs objects).
async fn plan_pass(ctx: &PassContext, hints: &Hints) -> Result<Planned, PassError> {
    let pair = &ctx.pair;
    if ctx.bucket_in_use != pair.bucket {
        return Err(PassError::StateMismatch {
            pair: pair.name.clone(),
            recorded: pair.bucket.clone(),
            in_use: ctx.bucket_in_use.clone(),
        });
    }
    let started = std::time::Instant::now();
    let root = pair.root.clone();
    let rules = tokio::task::spawn_blocking(move || {
        // An unreadable folder is that, not a broken ignore file inside it.
        snapshot::check_root(&root)?;
        Ok::<_, PassError>(Arc::new(IgnoreRules::load(&root)?))
    })
    .await
    .expect("loading the rules does not panic")?;
    // The scan, the base rows and the listing wait on different things
    // (the disk, the database, the server): side by side.
    let root = pair.root.clone();
    let scan_rules = rules.clone();
    let scan = tokio::task::spawn_blocking(move || {
        let local = snapshot::scan_local(&root, &scan_rules)?;
        // Downloads of a process killed mid-way left their temp files.
        for gone in crate::transfer::sweep_stale_temps(&root, &local.temp_files) {
            tracing::info!("removed {gone}, left by an interrupted download");
        }
        let folds_case = folds_case(&root, local.files.keys().map(String::as_str));
        Ok::<_, PassError>((local, folds_case))
    });
    let store = ctx.store.clone();
    let pair_id = pair.id;
    let base = tokio::task::spawn_blocking(move || {
        let store = store.lock().unwrap_or_else(|p| p.into_inner());
        Ok::<_, PassError>(store.baselines_by_path(pair_id)?)
    });
    let listing = snapshot::list_remote(ctx.remote.as_ref(), &pair.prefix, &rules);
    let (scanned, base, listed) = tokio::join!(scan, base, listing);
    let (mut local, folds_case) = scanned.expect("the scan task does not panic")?;
    let mut remote = listed.map_err(PassError::Listing)?;
    let base: BTreeMap<String, BaselineRow> = base.expect("reading base rows does not panic")?;

    let read = started.elapsed();
    settle_doubts(ctx, &base, &mut local, &mut remote).await;
    let settled = started.elapsed();

    let now_ms = ctx.clock.now_ms();
    let plan = plan::plan(&PlanInput {
        base: &base,
        local: &local,
        remote: &remote,
        mode: pair.mode,
        now_ms,
        device: &ctx.device,
        quiet_ms: ctx.quiet_ms,
        folds_case,
        settled: &hints.settled,
    });
    let planned = started.elapsed();
    let (base_files, local_files) = (base.len(), local.files.len());
    let unreadable = std::mem::take(&mut local.unreadable);
    let index = match hints.index {
        true => Some(
            tokio::task::spawn_blocking({
                // The snapshots go to the index and end there: no copy of them.
                local.unreadable = unreadable.clone();
                move || NameIndex::build(&base, &local, &remote, folds_case)
            })
            .await
            .expect("indexing names does not panic"),
        ),
        false => None,
    };
    tracing::debug!(
        pair = %pair.name,
        files = local_files,
        "full pass read in {} ms (scan, base rows and listing side by side), doubts settled by {} ms, \
         planned by {} ms, names indexed by {} ms",
        read.as_millis(),
        settled.as_millis(),
        planned.as_millis(),
        started.elapsed().as_millis()
    );
    Ok(Planned { plan, base_files, local_files, unreadable, index })
}

/// Settles doubts before planning: hashes local files whose stat moved but
/// maybe not their content, HEADs changed objects that may hold equal
/// content (their `sha256` and `mtime` metadata).
pub(crate) async fn settle_doubts(
    ctx: &PassContext,
    base: &BTreeMap<String, BaselineRow>,
    local: &mut snapshot::LocalSnapshot,
    remote: &mut snapshot::RemoteSnapshot,
) {
    let pair = &ctx.pair;
    let to_hash = snapshot::paths_to_hash(base, local, remote);
    if !to_hash.is_empty() {
        let root = pair.root.clone();
        let hashes = tokio::task::spawn_blocking(move || {
            to_hash.into_iter().map(|p| (snapshot::hash_file(&root.join(&p)).ok(), p)).collect::<Vec<_>>()
        })
        .await
        .expect("hashing does not panic");
        for (hash, p) in hashes {
            if let Some(f) = local.files.get_mut(&p) {
                f.hash = hash;
            }
        }
    }
    let to_head = snapshot::keys_to_head(base, local, remote);
    let heads: Vec<_> = futures::stream::iter(to_head)
        .map(|p| {
            let key = remote.files[&p].key.clone();
            let r = ctx.remote.clone();
            async move { (p, r.head_with_metadata(&key).await) }
        })
        .buffer_unordered(HEADS_IN_FLIGHT)
        .collect()
        .await;
    for (p, head) in heads {
        // A failed HEAD leaves the content unknown, which is safe: equality
        // is then settled by the transfer itself.
        if let (Ok((meta, user)), Some(f)) = (head, remote.files.get_mut(&p)) {
            if meta.etag == f.etag && meta.size == f.size {
                f.mtime_ms = meta.mtime_ms;
                f.sha256 =
                    user.into_iter().find(|(k, _)| k == crate::transfer::SHA256_METADATA).map(|(_, v)| v);
            }
        }
    }
}

/// One file a preview lists, with its size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PreviewFile {
    pub path: String,
    pub size: u64,
}

/// What a pass would do, computed without changing anything on either side
/// (`sync --dry-run`, the app's first-pass preview).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Preview {
    pub pair: String,
    pub uploads: Vec<PreviewFile>,
    pub downloads: Vec<PreviewFile>,
    /// Local files a pass would move to the trash (deleted in the bucket).
    pub delete_local: Vec<PreviewFile>,
    /// Objects a pass would delete (deleted locally).
    pub delete_remote: Vec<PreviewFile>,
    /// Paths that changed differently on both sides; `copy` keeps the local version.
    pub conflicts: Vec<PreviewConflict>,
    /// Equal on both sides: recorded as in sync without a transfer.
    pub adopt: Vec<String>,
    pub unsyncable: Vec<Unsyncable>,
    /// Local files still being written: a later pass takes them.
    pub waiting: Vec<String>,
    pub unreadable: Vec<String>,
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Set when the delete guard would stop the pass to ask first.
    pub needs_confirmation: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PreviewConflict {
    pub path: String,
    pub copy: String,
}

/// Plans a full pass and reports it; writes nothing anywhere (no base rows,
/// no journal, no files, no objects) and emits no status.
pub async fn preview_pass(ctx: &PassContext) -> Result<Preview, PassError> {
    let planned = plan_pass(ctx, &Hints::default()).await?;
    let mut p = Preview {
        pair: ctx.pair.name.clone(),
        unsyncable: planned.plan.unsyncable.clone(),
        waiting: planned.plan.waiting.clone(),
        unreadable: planned.unreadable.clone(),
        ..Default::default()
    };
    let confirmed = confirmed_deletes(ctx)?;
    p.needs_confirmation = guard::check(
        &planned.plan,
        planned.base_files,
        planned.local_files,
        DeleteGuard { max_delete_percent: ctx.pair.max_delete_percent, confirmed: confirmed.as_ref() },
    )
    .err()
    .map(|n| n.reason);
    for action in &planned.plan.actions {
        match action {
            Action::Upload { path, local, .. } => {
                p.bytes_up += local.size;
                p.uploads.push(PreviewFile { path: path.clone(), size: local.size });
            }
            Action::Download { path, remote, .. } => {
                p.bytes_down += remote.size;
                p.downloads.push(PreviewFile { path: path.clone(), size: remote.size });
            }
            Action::DeleteLocal { path, local } => {
                p.delete_local.push(PreviewFile { path: path.clone(), size: local.size })
            }
            Action::DeleteRemote { path, remote } => {
                p.delete_remote.push(PreviewFile { path: path.clone(), size: remote.size })
            }
            Action::Conflict { path, copy, local, remote, upload_copy } => {
                p.bytes_down += remote.size;
                if *upload_copy {
                    p.bytes_up += local.size;
                }
                p.conflicts.push(PreviewConflict { path: path.clone(), copy: copy.clone() });
            }
            Action::Adopt { path, .. } => p.adopt.push(path.clone()),
            Action::Forget { .. } | Action::Refresh { .. } => {}
        }
    }
    Ok(p)
}

async fn pass(
    ctx: &PassContext,
    opts: PassOptions,
    hints: &Hints,
    index: &mut Option<NameIndex>,
) -> Result<PassReport, PassError> {
    let pair = &ctx.pair;
    if ctx.bucket_in_use != pair.bucket {
        return Err(PassError::StateMismatch {
            pair: pair.name.clone(),
            recorded: pair.bucket.clone(),
            in_use: ctx.bucket_in_use.clone(),
        });
    }
    ctx.events.status(PairStatus::Scanning);
    let mut report = PassReport { pair: pair.name.clone(), ..Default::default() };

    if opts.sweep_orphan_uploads {
        match ctx.transfers.sweep_orphans(pair.id, &pair.prefix).await {
            Ok(None | Some(0)) => {}
            Ok(Some(n)) => tracing::info!(pair = %pair.name, "aborted {n} orphaned multipart uploads"),
            // The bucket keeps billing their parts, but no file is at risk.
            Err(e) => tracing::warn!(pair = %pair.name, "could not look for orphaned multipart uploads: {e}"),
        }
    }

    apply_kept(ctx)?;
    let Planned { plan: planned, base_files, local_files, unreadable, index: seen } =
        plan_pass(ctx, hints).await?;
    *index = seen;
    report.unsyncable = planned.unsyncable.clone();
    report.waiting = planned.waiting.clone();
    report.warnings = planned.warnings.clone();
    report.unreadable = unreadable;

    if let Some(confirm) = &opts.confirm {
        confirm_deletes(ctx, confirm)?;
    }
    let confirmed = confirmed_deletes(ctx)?;
    let checked = guard::check(
        &planned,
        base_files,
        local_files,
        DeleteGuard { max_delete_percent: pair.max_delete_percent, confirmed: confirmed.as_ref() },
    );
    {
        let mut store = ctx.store.lock().unwrap_or_else(|p| p.into_inner());
        match &checked {
            // Asked: this is the list a confirmation must name from now on.
            Err(asked) => store.put_pending_deletes(&asked.to_row(pair.id, ctx.clock.now_ms(), false))?,
            // Going ahead: a confirmation is used once, and a list no
            // longer asked about confirms nothing later.
            Ok(()) => store.clear_pending_deletes(pair.id)?,
        }
    }
    if let (Err(_), Some(_)) = (&checked, &confirmed) {
        ctx.events.warning(
            "the deletes this pass would make are not all on the list that was confirmed; \
             nothing was deleted, and the new list waits for confirmation",
        );
    }
    checked.map_err(PassError::NeedsConfirmation)?;

    abort_unplanned_uploads(ctx, &planned.actions).await;
    execute(ctx, planned.actions, &mut report).await;
    report.sort();
    {
        let mut store = ctx.store.lock().unwrap_or_else(|p| p.into_inner());
        let _ = store.trim_journal(pair.id, 10_000);
    }
    // A trash that cannot be pruned is no reason to fail a pass that worked.
    let trash = Trash::new(ctx.trash_dir.clone());
    match trash.prune(ctx.clock.now_ms(), ctx.trash_keep_days) {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(pair = %pair.name, removed = n, "pruned trash older than {} days", ctx.trash_keep_days)
        }
        Err(e) => {
            tracing::warn!(pair = %pair.name, "cannot prune the trash in {}: {e}", trash.dir().display())
        }
    }
    Ok(report)
}

/// Runs a plan's actions (after its guards passed), filling in `report`.
pub(crate) async fn execute(ctx: &PassContext, actions: Vec<Action>, report: &mut PassReport) {
    let pair = &ctx.pair;
    let (files_total, bytes_total) = actions.iter().filter(|a| a.transfers()).fold((0, 0), |(n, b), a| {
        let bytes = match a {
            Action::Upload { local, .. } => local.size,
            Action::Download { remote, .. } => remote.size,
            Action::Conflict { local, remote, upload_copy, .. } => {
                remote.size + if *upload_copy { local.size } else { 0 }
            }
            _ => 0,
        };
        (n + 1, b + bytes)
    });
    let progress = PassProgress::new(ctx.events.clone(), files_total, bytes_total);
    let trash = Trash::new(ctx.trash_dir.clone());
    let clock = ctx.clock.clone();
    let now = move || clock.now_ms();
    let executor = Executor {
        pair_id: pair.id,
        root: &pair.root,
        prefix: &pair.prefix,
        remote: ctx.remote.as_ref(),
        transfers: &ctx.transfers,
        store: &ctx.store,
        trash: &trash,
        now_ms: &now,
        events: &ctx.events,
        progress: &progress,
    };
    executor.run(actions, report).await;
}

/// Aborts the recorded multipart uploads (interrupted by a kill, a crash or
/// a failure) of keys this plan does not upload; those it uploads resume
/// there, checked like any upload against this plan's listing. Finishing
/// one before the plan (as recovery once did, at pass start) would replace
/// whatever another client wrote at the key meanwhile.
async fn abort_unplanned_uploads(ctx: &PassContext, actions: &[Action]) {
    let uploading: std::collections::HashSet<String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Upload { path, .. } => Some(path),
            Action::Conflict { copy, upload_copy: true, .. } => Some(copy),
            _ => None,
        })
        .map(|rel| crate::keypath::key_for(&ctx.pair.prefix, rel))
        .collect();
    match ctx.transfers.abort_unplanned(ctx.pair.id, &uploading).await {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(pair = %ctx.pair.name, "aborted {n} interrupted upload(s) this pass does not make")
        }
        // Their parts stay billed until a later pass aborts them; no file is at risk.
        Err(e) => tracing::warn!(pair = %ctx.pair.name, "could not look at the interrupted uploads: {e}"),
    }
}

/// Marks the pair's pending list of deletes confirmed, if it is the one
/// meant. A confirmation of a list that is no longer pending (it changed,
/// or was applied) confirms nothing; the pass then asks with the list it
/// would delete now.
fn confirm_deletes(ctx: &PassContext, confirm: &Confirm) -> Result<(), PassError> {
    let mut store = ctx.store.lock().unwrap_or_else(|p| p.into_inner());
    let Some(pending) = store.pending_deletes(ctx.pair.id)? else { return Ok(()) };
    let meant = match confirm {
        Confirm::Set(id) => *id == pending.set_id,
        Confirm::LastShown => true,
    };
    if meant {
        store.confirm_pending_deletes(ctx.pair.id, &pending.set_id)?;
    } else {
        ctx.events.warning(format!(
            "the deletes confirmed are no longer the ones waiting (list {} is, with {} file(s)); \
             nothing is deleted until that list is confirmed",
            pending.set_id,
            pending.deletes.len()
        ));
    }
    Ok(())
}

/// Applies "keep the files" recorded on the pair's waiting list (by the
/// runner, or by a CLI beside the engine): forgets exactly the base rows of
/// its deletes, so this pass copies each file back instead of deleting it.
/// Runs inside the pass, under the home's lock, so no other pass plans
/// against half-forgotten rows; a crash half-way repeats it next time.
fn apply_kept(ctx: &PassContext) -> Result<(), PassError> {
    let mut store = ctx.store.lock().unwrap_or_else(|p| p.into_inner());
    let Some(set) = store.pending_deletes(ctx.pair.id)?.filter(|s| s.kept) else { return Ok(()) };
    for d in &set.deletes {
        store.delete_baseline(ctx.pair.id, &d.path)?;
    }
    store.clear_pending_deletes(ctx.pair.id)?;
    tracing::info!(pair = %ctx.pair.name, files = set.deletes.len(), "kept the files of list {}", set.set_id);
    Ok(())
}

/// The list of deletes the user confirmed for this pair, if any.
fn confirmed_deletes(ctx: &PassContext) -> Result<Option<NeedsConfirmation>, PassError> {
    let store = ctx.store.lock().unwrap_or_else(|p| p.into_inner());
    Ok(store
        .pending_deletes(ctx.pair.id)?
        .filter(|p| p.confirmed)
        .and_then(|p| NeedsConfirmation::from_row(&p)))
}

/// Whether the file system of `root` treats `A` and `a` as one name.
///
/// Asked of an existing file first (look it up under its name with the case
/// swapped: the same inode means folding), so a pass writes nothing into the
/// user's folder; only a root without such a file gets a probe file.
pub fn folds_case<'a>(root: &std::path::Path, existing: impl IntoIterator<Item = &'a str>) -> bool {
    use std::os::unix::fs::MetadataExt;
    for rel in existing {
        let path = root.join(rel);
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        let swapped: String = name
            .chars()
            .map(|c| if c.is_lowercase() { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
            .collect();
        if swapped == name {
            continue;
        }
        let (Ok(original), twin) =
            (path.symlink_metadata(), path.with_file_name(&swapped).symlink_metadata())
        else {
            continue;
        };
        return match twin {
            Ok(twin) => twin.ino() == original.ino() && twin.dev() == original.dev(),
            Err(_) => false,
        };
    }
    let upper = root.join(".bucketsync-case-PROBE");
    let lower = root.join(".bucketsync-case-probe");
    if std::fs::write(&upper, b"").is_err() {
        return false;
    }
    let folds = lower.symlink_metadata().is_ok();
    let _ = std::fs::remove_file(&upper);
    folds
}

#[cfg(test)]
mod folds_case_tests {
    use super::folds_case;

    #[test]
    fn an_existing_file_answers_without_writing_a_probe() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("Notes.txt"), b"x").unwrap();
        // ext4/tmpfs here are case-sensitive
        assert!(!folds_case(tmp.path(), ["Notes.txt"]));
        assert!(!tmp.path().join(".bucketsync-case-PROBE").exists());
    }

    #[test]
    fn a_case_twin_that_is_another_file_means_no_folding() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("a"), b"1").unwrap();
        std::fs::write(tmp.path().join("A"), b"2").unwrap();
        assert!(!folds_case(tmp.path(), ["a"]));
    }

    #[test]
    fn an_empty_root_falls_back_to_a_probe_it_removes() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(!folds_case(tmp.path(), std::iter::empty::<&str>()));
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}
