//! The per-pair task: watches the folder, polls the bucket, runs passes, and
//! takes commands. Watch events only schedule passes; the scan is the source
//! of truth, so a lost or overflowed event can delay a change but never hide
//! it (an overflow or a watch limit triggers a full pass and a warning, and
//! every few polls is a full pass anyway).
//!
//! Events name their paths, and a pass they schedule looks only there (a
//! dirty pass, [`crate::dirty`]), unless something calls for a full one:
//! the first pass, a command, a retry, an overflow, a path the events
//! cannot name, or anything the dirty pass cannot judge alone. While the
//! folder is watched, the poll lists the bucket alone ([`crate::poll`])
//! and hands what changed there to a dirty pass. The
//! executor's own writes come back as events too; a dirty pass finds them
//! matching their base rows and sends nothing. A file whose last event is
//! its close after writing does not wait the quiet period.

use crate::dirty::{self, DirtyOutcome, DirtyPath, NameIndex};
use crate::event::{EventSink, PairEvents, PairStatus};
use crate::keypath::{Side, Unsyncable};
use crate::pass::{run_pass_with, show_outcome, Confirm, Hints, PassContext, PassError, PassOptions};
use crate::report::PassReport;
use notify::RecursiveMode;
use notify_debouncer_full::{new_debouncer, DebounceEventResult, DebouncedEvent};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Timings of a runner.
#[derive(Clone, Copy, Debug)]
pub struct RunnerConfig {
    /// How often the bucket is listed when nothing happens locally.
    pub poll_interval: Duration,
    /// Watch events are gathered for this long before a pass is scheduled.
    pub debounce: Duration,
    /// A file must be unmodified this long before it is uploaded, unless
    /// the watcher saw it closed after its last write.
    pub quiet: Duration,
    /// Wait before retrying after a failed pass.
    pub retry_after: Duration,
    /// While files are being removed, passes wait until none was for this
    /// long: a folder being emptied is judged whole by the delete guards,
    /// not in slices of one debounce window each.
    pub settle_removes: Duration,
    /// While the folder is watched, a poll lists the bucket alone
    /// ([`crate::poll`]), and every this many polls is a full pass again,
    /// which also rescans the folder for what no event reported (a network
    /// share written by another machine, a write through a memory map).
    /// 1: every poll is a full pass.
    pub full_pass_every_polls: u32,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            poll_interval: Duration::from_secs(60),
            debounce: Duration::from_millis(300),
            quiet: Duration::from_secs(3),
            retry_after: Duration::from_secs(30),
            settle_removes: Duration::from_secs(2),
            full_pass_every_polls: 10,
        }
    }
}

/// How often a runner waiting on a list of deletes looks whether another
/// process (the CLI) decided on it: one small query.
const DECISION_POLL: Duration = Duration::from_secs(2);

/// After a pass that wrote into the folder, how long past the debounce
/// window the runner looks again (see the runner loop).
const LOOK_AGAIN_MARGIN: Duration = Duration::from_millis(500);

/// What a runner can be told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    SyncNow,
    Pause,
    Resume,
    /// Go ahead with the deletes of the list with this id, as it was shown
    /// (and nothing else: a pass that would delete more asks again).
    ConfirmDeletes {
        set: String,
    },
    /// Refuse the deletes of the list with this id and keep the files: the
    /// next pass forgets their base rows, so it sees each as present on one
    /// side only and copies it back to the side it went missing from.
    KeepFiles {
        set: String,
    },
}

/// A running pair. Dropping the handle cancels the task.
pub struct PairHandle {
    commands: mpsc::UnboundedSender<Command>,
    /// What the watcher tells the task (fault tests stand in for it).
    #[cfg(feature = "fail-points")]
    signals: mpsc::UnboundedSender<Signal>,
    cancel: CancellationToken,
    status: watch::Receiver<PairStatus>,
    task: Option<JoinHandle<()>>,
}

impl PairHandle {
    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    pub fn status(&self) -> PairStatus {
        self.status.borrow().clone()
    }

    /// Fault tests: as if the watcher's queue overflowed (events were lost).
    #[cfg(feature = "fail-points")]
    pub fn simulate_overflow(&self) {
        let _ = self.signals.send(Signal::Rescan("the change queue overflowed".into()));
    }

    /// A receiver that sees every status change.
    pub fn watch_status(&self) -> watch::Receiver<PairStatus> {
        self.status.clone()
    }

    /// Stops the task and waits for it to end.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for PairHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The shortest wait between passes that leave the same files waiting.
const MIN_BACKOFF: Duration = Duration::from_secs(1);

/// Passes that end with the same files still waiting, having changed
/// nothing, back off: a download blocked by something else at its path
/// (or a file that keeps changing under every upload) would otherwise keep
/// the runner in a full pass every few seconds for ever. The wait doubles
/// from the quiet period up to the poll interval, and starts over when
/// anything changes (a watch event, sync now, a pass that moved
/// something or left other files waiting).
#[derive(Debug, Default)]
struct Backoff {
    waiting: Vec<String>,
    repeats: u32,
}

impl Backoff {
    /// The wait after a pass that left `report.waiting` (not empty), and
    /// whether it is longer than the first one (the runner is backing off).
    fn after(&mut self, report: &PassReport, first: Duration, cap: Duration) -> (Duration, bool) {
        if report.changed_anything() || report.waiting != self.waiting {
            self.waiting = report.waiting.clone();
            self.repeats = 0;
        } else {
            self.repeats = self.repeats.saturating_add(1);
        }
        let first = first.max(MIN_BACKOFF);
        let wait = first.saturating_mul(2u32.saturating_pow(self.repeats.min(20))).min(cap.max(first));
        (wait, self.repeats > 0)
    }

    fn reset(&mut self) {
        *self = Backoff::default();
    }
}

/// The warning for a runner backing off: which files, and when it tries again.
fn backoff_warning(waiting: &[String], wait: Duration) -> String {
    const SHOWN: usize = 5;
    let mut names = waiting.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if waiting.len() > SHOWN {
        names.push_str(&format!(" and {} more", waiting.len() - SHOWN));
    }
    format!(
        "{names}: still not synced after several passes (something else is at the path, or the file keeps \
         changing); trying again in {} s, or as soon as something changes",
        wait.as_secs()
    )
}

type PassResult = Result<PassReport, PassError>;

/// Why a pass was scheduled.
enum Signal {
    Changed(Vec<Change>),
    /// Events were lost (queue overflow, watch limit): everything is rescanned.
    Rescan(String),
}

/// One path a watch event named.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Change {
    /// Relative to the root; `None` for what the events cannot name as a
    /// path in it (the root itself, a name that is not UTF-8): a full pass
    /// looks.
    rel: Option<String>,
    what: What,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum What {
    /// Closed after writing, at this wall-clock time (Unix ms).
    Closed(i64),
    Modified,
    /// Removed or moved away.
    Removed,
}

/// The paths changed since the last pass took them.
#[derive(Debug, Default)]
struct Dirty {
    paths: BTreeMap<String, DirtyPath>,
    /// Paths whose last event was their close after writing, and when.
    settled: BTreeMap<String, i64>,
    /// Something no path describes changed: the next pass is a full one.
    full: bool,
}

impl Dirty {
    fn note(&mut self, change: Change) {
        let Some(rel) = change.rel else {
            self.full = true;
            return;
        };
        match change.what {
            What::Closed(at) => {
                self.settled.insert(rel.clone(), at);
            }
            What::Modified | What::Removed => {
                self.settled.remove(&rel);
            }
        }
        self.paths.entry(rel).or_default();
    }

    /// `rel` is looked at in the bucket too, even if it matches its base.
    fn force(&mut self, rel: &str) {
        self.paths.entry(rel.to_string()).or_default().force = true;
    }

    fn add(&mut self, rel: &str) {
        self.paths.entry(rel.to_string()).or_default();
    }
}

/// The paths of a batch of debounced events, relative to `root`, with what
/// happened to each, in order. Reads and our own working files are left out.
fn changes_of(
    root: &Path,
    events: &[DebouncedEvent],
    wall_now_ms: i64,
    now: std::time::Instant,
) -> Vec<Change> {
    use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind, RenameMode};
    let mut out = Vec::new();
    for e in events {
        let at = wall_now_ms - now.saturating_duration_since(e.time).as_millis() as i64;
        let whats: &[What] = match e.event.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => &[What::Closed(at)],
            // Every scan opens each folder; a read changes nothing.
            EventKind::Access(_) | EventKind::Other => continue,
            EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(RenameMode::From)) => &[What::Removed],
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
                // From, then to.
                for (i, p) in e.event.paths.iter().enumerate() {
                    let what = if i == 0 { What::Removed } else { What::Modified };
                    push(&mut out, root, p, what);
                }
                continue;
            }
            // A rename of which only one end is known: gone or arrived.
            EventKind::Modify(ModifyKind::Name(RenameMode::Any | RenameMode::Other)) | EventKind::Any => {
                &[What::Removed, What::Modified]
            }
            EventKind::Create(_) | EventKind::Modify(_) => &[What::Modified],
        };
        for p in &e.event.paths {
            for &what in whats {
                push(&mut out, root, p, what);
            }
        }
    }
    out
}

fn push(out: &mut Vec<Change>, root: &Path, path: &Path, what: What) {
    if is_own_file(path) {
        return;
    }
    let rel = match path.strip_prefix(root) {
        Ok(r) if r.as_os_str().is_empty() => None,
        Ok(r) => r.to_str().map(str::to_string),
        Err(_) => None,
    };
    out.push(Change { rel, what });
}

/// The current wall-clock time, Unix ms: what file mtimes are compared with.
fn wall_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The instant of a wall-clock time `at_ms` (the pass's clock), at least now.
fn instant_at(ctx: &PassContext, at_ms: i64) -> Instant {
    let ahead = (at_ms - ctx.clock.now_ms()).max(0) as u64;
    Instant::now() + Duration::from_millis(ahead) + READY_MARGIN
}

/// Past the time a deferred file becomes quiet, before it is looked at again.
const READY_MARGIN: Duration = Duration::from_millis(20);

/// A dirty pass reports on its scopes; the pair's issues elsewhere (names
/// that cannot sync, unreadable folders) are those the passes before saw.
fn with_issues_elsewhere(
    mut report: PassReport,
    issues: &(Vec<Unsyncable>, Vec<String>),
    scopes: &[String],
    prefix: &str,
) -> PassReport {
    let outside = |rel: &str| !scopes.iter().any(|s| dirty::within(rel, s));
    report.unsyncable.extend(
        issues
            .0
            .iter()
            .filter(|u| match u.side {
                Side::Local => outside(&u.name),
                Side::Remote => outside(u.name.strip_prefix(prefix).unwrap_or(&u.name)),
            })
            .cloned(),
    );
    report.unreadable.extend(issues.1.iter().filter(|u| outside(u)).cloned());
    report.sort();
    report.unsyncable.dedup();
    report.unreadable.dedup();
    report
}

/// Starts the pair's task. `paused` pairs wait for [`Command::Resume`].
pub fn spawn(mut ctx: PassContext, config: RunnerConfig, paused: bool) -> PairHandle {
    let initial = if paused { PairStatus::Paused } else { PairStatus::Idle { last_sync_ms: None } };
    let (status_tx, status_rx) = watch::channel(initial);
    // Every status event also updates the handle's status.
    let outer = ctx.events.sink.clone();
    let status_tx = Arc::new(status_tx);
    let tx = status_tx.clone();
    ctx.events.sink = EventSink::new(move |e| {
        if let crate::event::EventKind::Status { status } = &e.kind {
            tx.send_replace(status.clone());
        }
        outer.emit(e.clone());
    });
    ctx.quiet_ms = config.quiet.as_millis() as i64;
    let (commands, rx) = mpsc::unbounded_channel();
    let (signal_tx, signals) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    #[cfg(feature = "fail-points")]
    let injected = signal_tx.clone();
    let task = tokio::spawn(run(ctx, config, rx, (signal_tx, signals), cancel.clone(), paused, status_tx));
    PairHandle {
        commands,
        #[cfg(feature = "fail-points")]
        signals: injected,
        cancel,
        status: status_rx,
        task: Some(task),
    }
}

async fn run(
    ctx: PassContext,
    config: RunnerConfig,
    mut commands: mpsc::UnboundedReceiver<Command>,
    (signal_tx, mut signals): (mpsc::UnboundedSender<Signal>, mpsc::UnboundedReceiver<Signal>),
    cancel: CancellationToken,
    mut paused: bool,
    status: Arc<watch::Sender<PairStatus>>,
) {
    let events = ctx.events.clone();
    let _watcher = watch_root(&ctx, config.debounce, signal_tx, &events);
    let watching = _watcher.is_some();
    // The poll (and commands, retries): full passes.
    let mut next_full = (!paused).then(Instant::now);
    // When `next_full` is the poll's beat (nothing else asked for a full
    // pass sooner), the instant it set.
    let mut poll_at: Option<Instant> = None;
    // Polls since the last full pass, and whether the last pass (full or
    // dirty) converged: only then may a poll look at the bucket alone.
    let mut polls_since_full = 0u32;
    let mut clean = false;
    // Watch events: passes over the paths they named.
    let mut next_dirty: Option<Instant> = None;
    let mut dirty = Dirty::default();
    // What the last full pass saw of every name; `None` until one ran.
    let mut index: Option<NameIndex> = None;
    // Names that cannot sync and unreadable folders, as last reported.
    let mut issues: (Vec<Unsyncable>, Vec<String>) = Default::default();
    // Paths the last pass left waiting for something other than quiet:
    // an event there looks at the bucket too.
    let mut waiting: BTreeSet<String> = BTreeSet::new();
    let mut last_removal: Option<Instant> = None;
    // A due poll let one dirty pass go first.
    let mut poll_waited = false;
    let mut first = true;
    let mut confirm: Option<Confirm> = None;
    // While a list of deletes waits: when to look whether it was decided.
    let mut decision_check: Option<Instant> = None;
    let mut backoff = Backoff::default();
    if paused {
        events.status(PairStatus::Paused);
    }
    loop {
        let hold = last_removal.map(|t| t + config.settle_removes);
        let due = earliest(next_full, next_dirty).filter(|_| !paused).map(|t| hold.map_or(t, |h| t.max(h)));
        tokio::select! {
            _ = cancel.cancelled() => break,
            command = commands.recv() => match command {
                None => break,
                Some(Command::SyncNow) => {
                    backoff.reset();
                    last_removal = None;
                    next_full = Some(Instant::now());
                }
                Some(Command::Pause) => {
                    paused = true;
                    events.status(PairStatus::Paused);
                }
                Some(Command::Resume) => {
                    paused = false;
                    next_full = Some(Instant::now());
                }
                // The pass checks the id against the list still waiting.
                Some(Command::ConfirmDeletes { set }) => {
                    confirm = Some(Confirm::Set(set));
                    next_full = Some(Instant::now());
                }
                Some(Command::KeepFiles { set }) => {
                    keep_files(&ctx, &set);
                    next_full = Some(Instant::now());
                }
            },
            _ = sleep_until(decision_check) => {
                if decided(&ctx) {
                    decision_check = None;
                    next_full = Some(Instant::now());
                } else {
                    decision_check = Some(Instant::now() + DECISION_POLL);
                }
            }
            Some(signal) = signals.recv() => {
                let now = Instant::now();
                match signal {
                    Signal::Rescan(why) => {
                        events.warning(format!("{why}; rescanning the whole folder"));
                        dirty.full = true;
                    }
                    Signal::Changed(changes) => {
                        for change in changes {
                            if change.what == What::Removed {
                                last_removal = Some(now);
                            }
                            let force = change.rel.as_ref().is_some_and(|r| waiting.contains(r));
                            let rel = change.rel.clone();
                            dirty.note(change);
                            if let (true, Some(rel)) = (force, rel) {
                                dirty.force(&rel);
                            }
                        }
                    }
                }
                backoff.reset();
                next_dirty = Some(next_dirty.map_or(now, |t| t.min(now)));
            }
            _ = sleep_until(due) => {
                let started = Instant::now();
                let mut taken = std::mem::take(&mut dirty);
                next_dirty = None;
                let hints = Hints { settled: std::mem::take(&mut taken.settled), index: true };
                // A poll that falls due together with watched changes comes
                // right after their dirty pass (the loop finds it due again),
                // once: a full pass of a big pair takes seconds, the dirty
                // one milliseconds, and changes that keep coming must not
                // keep the poll waiting.
                let poll_due = next_full.is_some_and(|t| t <= started);
                // The poll with nothing else to do, the folder watched and
                // in sync: the bucket alone, unless a full pass is due.
                let bucket_only = poll_due
                    && next_full == poll_at
                    && taken.paths.is_empty()
                    && !taken.full
                    && confirm.is_none()
                    && watching
                    && clean
                    && index.is_some()
                    && polls_since_full + 1 < config.full_pass_every_polls;
                let mut polled = false;
                if bucket_only {
                    let outcome = tokio::select! {
                        _ = cancel.cancelled() => break,
                        r = crate::poll::poll_bucket(&ctx, &issues.0) => r,
                    };
                    tracing::debug!(pair = %ctx.pair.name, "bucket poll: {outcome:?} in {} ms", started.elapsed().as_millis());
                    match outcome {
                        Ok(crate::poll::PollOutcome::Unchanged) => {
                            polls_since_full += 1;
                            next_full = Some((started + config.poll_interval).max(Instant::now() + MIN_BACKOFF));
                            poll_at = next_full;
                            poll_waited = false;
                            events.status(PairStatus::Idle { last_sync_ms: Some(ctx.clock.now_ms()) });
                            continue;
                        }
                        // Looked at as watched changes are, bucket side included.
                        Ok(crate::poll::PollOutcome::Changed(paths)) => {
                            polls_since_full += 1;
                            for p in &paths {
                                taken.force(p);
                            }
                            polled = true;
                        }
                        Ok(crate::poll::PollOutcome::NeedsFull(why)) => {
                            tracing::debug!(pair = %ctx.pair.name, "full pass instead of a bucket poll: {why}");
                        }
                        // A full pass meets the same failure and reports
                        // it, with its retry (or stop) below.
                        Err(e) => {
                            tracing::debug!(pair = %ctx.pair.name, "full pass instead of a failed bucket poll: {e}");
                        }
                    }
                }
                let mut full = taken.full
                    || confirm.is_some()
                    || taken.paths.is_empty()
                    || (poll_due && poll_waited && !polled);
                poll_waited = poll_due && !polled;
                if polled {
                    // The poll's beat goes on from this one; a full pass
                    // the dirty pass asks for sets it again.
                    next_full = Some((started + config.poll_interval).max(Instant::now() + MIN_BACKOFF));
                    poll_at = next_full;
                }
                // The result, and a dirty pass's files deferred as still being
                // written, with when the first of them is quiet.
                let mut ran: Option<(PassResult, Vec<String>, Option<i64>)> = None;
                if let (false, Some(idx)) = (full, index.as_mut()) {
                    let outcome = tokio::select! {
                        _ = cancel.cancelled() => break,
                        r = dirty::run_dirty_pass(&ctx, &taken.paths, &hints, idx) => r,
                    };
                    tracing::debug!(
                        pair = %ctx.pair.name,
                        paths = taken.paths.len(),
                        "dirty pass: {} in {} ms",
                        match &outcome {
                            Ok(DirtyOutcome::Clean) => "nothing changed",
                            Ok(DirtyOutcome::Deferred { .. }) => "deferred",
                            Ok(DirtyOutcome::NeedsFull(_)) => "a full pass instead",
                            Ok(DirtyOutcome::Done(_)) => "done",
                            Err(_) => "failed",
                        },
                        started.elapsed().as_millis()
                    );
                    match outcome {
                        Ok(DirtyOutcome::Clean) => {}
                        Ok(DirtyOutcome::Deferred { waiting: still, ready_ms }) => {
                            for p in &still {
                                dirty.add(p);
                            }
                            next_dirty = earliest(next_dirty, Some(instant_at(&ctx, ready_ms)));
                        }
                        Ok(DirtyOutcome::NeedsFull(why)) => {
                            tracing::debug!(pair = %ctx.pair.name, "full pass instead of a dirty one: {why}");
                            full = true;
                        }
                        Ok(DirtyOutcome::Done(done)) => {
                            let done = *done;
                            let prefix = &ctx.pair.prefix;
                            let report = with_issues_elsewhere(done.report, &issues, &done.scopes, prefix);
                            ran = Some((Ok(report), done.deferred, done.ready_ms));
                        }
                        Err(e) => ran = Some((Err(e), Vec::new(), None)),
                    }
                    if let Some((result, ..)) = &ran {
                        show_outcome(&ctx, result);
                    }
                } else {
                    full = true;
                }
                if full {
                    let opts = PassOptions { confirm: confirm.take(), sweep_orphan_uploads: first };
                    let (result, seen) = tokio::select! {
                        _ = cancel.cancelled() => break,
                        r = run_pass_with(&ctx, opts, &hints) => r,
                    };
                    first = false;
                    polls_since_full = 0;
                    if seen.is_some() {
                        index = seen;
                    }
                    // The poll keeps its beat from pass start to pass start.
                    next_full = Some((started + config.poll_interval).max(Instant::now() + MIN_BACKOFF));
                    poll_at = next_full;
                    ran = Some((result, Vec::new(), None));
                }
                let Some((result, deferred, ready_ms)) = ran else { continue };
                clean = matches!(&result, Ok(r) if r.converged());
                let now = Instant::now();
                decision_check =
                    matches!(&result, Err(PassError::NeedsConfirmation(_))).then(|| now + DECISION_POLL);
                if let Ok(report) = &result {
                    issues = (report.unsyncable.clone(), report.unreadable.clone());
                    waiting = report.waiting.iter().filter(|p| !deferred.contains(p)).cloned().collect();
                    events.pass_finished(report.clone());
                }
                if !matches!(&result, Ok(r) if !r.waiting.is_empty()) {
                    backoff.reset();
                }
                let wrote_locally =
                    matches!(&result, Ok(r) if !r.downloaded.is_empty() || !r.conflicts.is_empty());
                let downloaded = match &result {
                    Ok(r) if r.conflicts.is_empty() => r.downloaded.clone(),
                    _ => Vec::new(),
                };
                match result {
                    // Revoked keys, a missing bucket: every pass would fail
                    // alike until the user acts (sync now, resume).
                    Ok(report) if report.errors.iter().any(|e| e.kind.stops_pair()) => next_full = None,
                    Ok(report) if !report.waiting.is_empty() => {
                        let (wait, backing_off) = backoff.after(&report, config.quiet, config.poll_interval);
                        if backing_off {
                            events.warning(backoff_warning(&report.waiting, wait));
                        }
                        for p in &report.waiting {
                            match deferred.contains(p) {
                                true => dirty.add(p),
                                false => dirty.force(p),
                            }
                        }
                        let mut at = now + wait;
                        if let Some(ready) = ready_ms {
                            at = at.min(instant_at(&ctx, ready));
                        }
                        next_dirty = earliest(next_dirty, Some(at));
                    }
                    Ok(report) if !report.errors.is_empty() => {
                        next_full = earliest(next_full, Some(now + config.retry_after))
                    }
                    Ok(_) => {}
                    // Waits for the user: confirm, or sync now after fixing things.
                    Err(PassError::NeedsConfirmation(_)) => next_full = None,
                    Err(e) if e.kind().is_some_and(|k| k.retryable() && !k.stops_pair()) => {
                        next_full = earliest(next_full, Some(now + config.retry_after))
                    }
                    Err(_) => next_full = None,
                }
                // notify-debouncer-full drops a file created and removed
                // inside one debounce window: a user's delete right after
                // our download lands makes no event at all. One look at
                // those paths once the window is over sees it (the files
                // still as downloaded: no request); after a conflict, a
                // full look.
                if wrote_locally {
                    let look = now + config.debounce + LOOK_AGAIN_MARGIN;
                    if downloaded.is_empty() {
                        next_full = earliest(next_full, Some(look));
                    } else {
                        for p in &downloaded {
                            dirty.add(p);
                        }
                        next_dirty = earliest(next_dirty, Some(look));
                    }
                }
                // An error status says when the runner tries again by itself.
                let shown = status.borrow().clone();
                let next = earliest(next_full, next_dirty);
                if let (PairStatus::Error { kind, message, .. }, Some(at)) = (shown, next) {
                    let wait = at.saturating_duration_since(now).as_millis() as i64;
                    events.status(PairStatus::Error { kind, message, retry_at_ms: Some(ctx.clock.now_ms() + wait) });
                }
            }
        }
    }
}

/// Records "keep the files" on the list `set` (the one still waiting, as it
/// was shown); the next pass applies it. Another list waiting means the
/// user decided on one that is gone: nothing is recorded.
fn keep_files(ctx: &PassContext, set: &str) {
    let mut store = ctx.store.lock().unwrap_or_else(|p| p.into_inner());
    match store.keep_pending_deletes(ctx.pair.id, set) {
        Ok(true) => {}
        Ok(false) => {
            ctx.events.warning("the deletes to keep are no longer the ones waiting; nothing was changed")
        }
        Err(e) => ctx.events.warning(format!("could not record the files to keep: {e}")),
    }
}

/// Whether the list of deletes this runner waits on got a decision from
/// outside it (a CLI beside the app or the daemon records one in the store).
fn decided(ctx: &PassContext) -> bool {
    let store = ctx.store.lock().unwrap_or_else(|p| p.into_inner());
    match store.pending_deletes(ctx.pair.id) {
        Ok(Some(set)) => set.confirmed || set.kept,
        Ok(None) => true,
        Err(_) => false,
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Whether `path` is one of the app's own working files inside a root.
fn is_own_file(path: &std::path::Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(".bucketsync-"))
}

type Watcher =
    notify_debouncer_full::Debouncer<notify::RecommendedWatcher, notify_debouncer_full::RecommendedCache>;

/// Watches the root recursively; `None` (with a warning) when the OS will
/// not, in which case only the poll finds local changes.
fn watch_root(
    ctx: &PassContext,
    debounce: Duration,
    signals: mpsc::UnboundedSender<Signal>,
    events: &PairEvents,
) -> Option<Watcher> {
    let root = ctx.pair.root.clone();
    let handler = move |result: DebounceEventResult| {
        let signal = match result {
            Ok(list) if list.iter().any(|e| e.need_rescan()) => {
                Signal::Rescan("the change queue overflowed".into())
            }
            // Our own temp and probe files (`.bucketsync-*`) change during
            // every pass; reacting to them would schedule passes forever.
            // Reads (our own scan opens every folder) change nothing either.
            Ok(list) => {
                let changes = changes_of(&root, &list, wall_ms(), std::time::Instant::now());
                if changes.is_empty() {
                    return;
                }
                Signal::Changed(changes)
            }
            Err(errors) => Signal::Rescan(format!(
                "watching failed ({})",
                errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")
            )),
        };
        let _ = signals.send(signal);
    };
    let mut debouncer = match new_debouncer(debounce, None, handler) {
        Ok(d) => d,
        Err(e) => {
            events.warning(format!("cannot watch for changes ({e}); the folder is rescanned on every poll"));
            return None;
        }
    };
    if let Err(e) = debouncer.watch(&ctx.pair.root, RecursiveMode::Recursive) {
        let why = match e.kind {
            notify::ErrorKind::MaxFilesWatch => {
                "the system's limit of watched folders is reached (raise fs.inotify.max_user_watches)"
                    .to_string()
            }
            _ => e.to_string(),
        };
        events.warning(format!(
            "cannot watch {} ({why}); the folder is rescanned on every poll",
            ctx.pair.root.display()
        ));
        return None;
    }
    Some(debouncer)
}

#[cfg(test)]
mod tests {
    use super::{changes_of, is_own_file, Change, Dirty, What};
    use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RemoveKind, RenameMode};
    use notify_debouncer_full::DebouncedEvent;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    fn event(kind: EventKind, paths: &[&str], time: Instant) -> DebouncedEvent {
        let mut e = notify::Event::new(kind);
        for p in paths {
            e = e.add_path(PathBuf::from(p));
        }
        DebouncedEvent::new(e, time)
    }

    fn change(rel: &str, what: What) -> Change {
        Change { rel: Some(rel.into()), what }
    }

    #[test]
    fn reads_and_own_files_are_no_changes_writes_and_closes_are() {
        let now = Instant::now();
        let events = [
            // every scan opens each folder: that must not look like a change
            event(EventKind::Access(AccessKind::Open(AccessMode::Any)), &["/r/d"], now),
            event(EventKind::Create(CreateKind::File), &["/r/.bucketsync-tmp-1"], now),
            event(EventKind::Create(CreateKind::File), &["/r/d/a"], now),
            event(
                EventKind::Access(AccessKind::Close(AccessMode::Write)),
                &["/r/d/a"],
                now - Duration::from_millis(300),
            ),
        ];
        let changes = changes_of(Path::new("/r"), &events, 10_000, now);
        assert_eq!(changes, [change("d/a", What::Modified), change("d/a", What::Closed(9_700))]);
    }

    #[test]
    fn renames_name_both_ends_and_the_root_itself_means_everything() {
        let now = Instant::now();
        let events = [
            event(EventKind::Modify(ModifyKind::Name(RenameMode::Both)), &["/r/old", "/r/new"], now),
            event(EventKind::Remove(RemoveKind::Folder), &["/r/gone"], now),
            event(EventKind::Remove(RemoveKind::Folder), &["/r"], now),
            event(EventKind::Create(CreateKind::File), &["/elsewhere/x"], now),
        ];
        let changes = changes_of(Path::new("/r"), &events, 0, now);
        assert_eq!(
            changes,
            [
                change("old", What::Removed),
                change("new", What::Modified),
                change("gone", What::Removed),
                Change { rel: None, what: What::Removed },
                Change { rel: None, what: What::Modified },
            ]
        );
    }

    #[test]
    fn a_file_is_settled_only_while_its_last_event_is_its_close() {
        let mut d = Dirty::default();
        d.note(change("a", What::Modified));
        d.note(change("a", What::Closed(5)));
        d.note(change("b", What::Closed(5)));
        d.note(change("b", What::Modified));
        assert_eq!(d.settled.into_iter().collect::<Vec<_>>(), [("a".to_string(), 5)]);
        assert_eq!(d.paths.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert!(!d.full);
        let mut d = Dirty::default();
        d.note(Change { rel: None, what: What::Modified });
        assert!(d.full, "what no path describes is a full pass");
    }

    #[test]
    fn own_working_files_do_not_schedule_passes() {
        // the case probe and download temp files are written by every pass
        assert!(is_own_file(Path::new("/r/.bucketsync-case-PROBE")));
        assert!(is_own_file(Path::new("/r/d/.bucketsync-tmp-abc")));
        // a user's file, even one with a similar name, does
        assert!(!is_own_file(Path::new("/r/notes.bucketsync-tmp")));
        assert!(!is_own_file(Path::new("/r/.bucketsyncignore")));
    }
}
