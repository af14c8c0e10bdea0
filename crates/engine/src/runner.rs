//! The per-pair task: watches the folder, polls the bucket, runs passes, and
//! takes commands. Watch events only schedule passes; the scan is the source
//! of truth, so a lost or overflowed event can delay a change but never hide
//! it (an overflow or a watch limit triggers a full pass and a warning, and
//! the bucket poll runs a full pass anyway).

use crate::event::{EventSink, PairEvents, PairStatus};
use crate::pass::{run_pass, Confirm, PassContext, PassError, PassOptions};
use crate::report::PassReport;
use notify::RecursiveMode;
use notify_debouncer_full::{new_debouncer, DebounceEventResult};
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
    /// A file must be unmodified this long before it is uploaded.
    pub quiet: Duration,
    /// Wait before retrying after a failed pass.
    pub retry_after: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            poll_interval: Duration::from_secs(60),
            debounce: Duration::from_secs(2),
            quiet: Duration::from_secs(3),
            retry_after: Duration::from_secs(30),
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

/// Why a pass was scheduled.
enum Signal {
    Changed,
    /// Events were lost (queue overflow, watch limit): everything is rescanned.
    Rescan(String),
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
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run(ctx, config, rx, cancel.clone(), paused, status_tx));
    PairHandle { commands, cancel, status: status_rx, task: Some(task) }
}

async fn run(
    ctx: PassContext,
    config: RunnerConfig,
    mut commands: mpsc::UnboundedReceiver<Command>,
    cancel: CancellationToken,
    mut paused: bool,
    status: Arc<watch::Sender<PairStatus>>,
) {
    let events = ctx.events.clone();
    let (signal_tx, mut signals) = mpsc::unbounded_channel();
    let _watcher = watch_root(&ctx, config.debounce, signal_tx, &events);
    let mut next_pass = (!paused).then(Instant::now);
    let mut first = true;
    let mut confirm: Option<Confirm> = None;
    // While a list of deletes waits: when to look whether it was decided.
    let mut decision_check: Option<Instant> = None;
    let mut backoff = Backoff::default();
    if paused {
        events.status(PairStatus::Paused);
    }
    loop {
        let due = next_pass.filter(|_| !paused);
        tokio::select! {
            _ = cancel.cancelled() => break,
            command = commands.recv() => match command {
                None => break,
                Some(Command::SyncNow) => {
                    backoff.reset();
                    next_pass = Some(Instant::now());
                }
                Some(Command::Pause) => {
                    paused = true;
                    events.status(PairStatus::Paused);
                }
                Some(Command::Resume) => {
                    paused = false;
                    next_pass = Some(Instant::now());
                }
                // The pass checks the id against the list still waiting.
                Some(Command::ConfirmDeletes { set }) => {
                    confirm = Some(Confirm::Set(set));
                    next_pass = Some(Instant::now());
                }
                Some(Command::KeepFiles { set }) => {
                    keep_files(&ctx, &set);
                    next_pass = Some(Instant::now());
                }
            },
            _ = sleep_until(decision_check) => {
                if decided(&ctx) {
                    decision_check = None;
                    next_pass = Some(Instant::now());
                } else {
                    decision_check = Some(Instant::now() + DECISION_POLL);
                }
            }
            Some(signal) = signals.recv() => {
                if let Signal::Rescan(why) = signal {
                    events.warning(format!("{why}; rescanning the whole folder"));
                }
                backoff.reset();
                let soon = Instant::now();
                next_pass = Some(next_pass.map_or(soon, |t| t.min(soon)));
            }
            _ = sleep_until(due) => {
                let opts = PassOptions { confirm: confirm.take(), recover_uploads: first };
                let result = tokio::select! {
                    _ = cancel.cancelled() => break,
                    r = run_pass(&ctx, opts) => r,
                };
                first = false;
                let now = Instant::now();
                decision_check =
                    matches!(&result, Err(PassError::NeedsConfirmation(_))).then(|| now + DECISION_POLL);
                if let Ok(report) = &result {
                    events.pass_finished(report.clone());
                }
                if !matches!(&result, Ok(r) if !r.waiting.is_empty()) {
                    backoff.reset();
                }
                let wrote_locally =
                    matches!(&result, Ok(r) if !r.downloaded.is_empty() || !r.conflicts.is_empty());
                next_pass = match result {
                    // Revoked keys, a missing bucket: every pass would fail
                    // alike until the user acts (sync now, resume).
                    Ok(report) if report.errors.iter().any(|e| e.kind.stops_pair()) => None,
                    Ok(report) if !report.waiting.is_empty() => {
                        let (wait, backing_off) = backoff.after(&report, config.quiet, config.poll_interval);
                        if backing_off {
                            events.warning(backoff_warning(&report.waiting, wait));
                        }
                        Some(now + wait)
                    }
                    Ok(report) if !report.errors.is_empty() => Some(now + config.retry_after),
                    Ok(_) => Some(now + config.poll_interval),
                    // Waits for the user: confirm, or sync now after fixing things.
                    Err(PassError::NeedsConfirmation(_)) => None,
                    Err(e) if e.kind().is_some_and(|k| k.retryable() && !k.stops_pair()) => {
                        Some(now + config.retry_after)
                    }
                    Err(_) => None,
                };
                // notify-debouncer-full drops a file created and removed
                // inside one debounce window: a user's delete right after
                // our download lands makes no event at all. One look once
                // the window is over sees it (usually merged with the pass
                // our own rename's event schedules anyway).
                if wrote_locally {
                    let look = now + config.debounce + LOOK_AGAIN_MARGIN;
                    next_pass = next_pass.map(|t| t.min(look));
                }
                // An error status says when the runner tries again by itself.
                let shown = status.borrow().clone();
                if let (PairStatus::Error { kind, message, .. }, Some(at)) = (shown, next_pass) {
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

/// Whether a watch event may mean a user's file changed: not a mere read,
/// and not only about the app's own working files.
fn changes_user_files(event: &notify::Event) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    let is_read = matches!(event.kind, EventKind::Access(a) if a != AccessKind::Close(AccessMode::Write));
    !is_read && event.paths.iter().any(|p| !is_own_file(p))
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
    let handler = move |result: DebounceEventResult| {
        let signal = match result {
            Ok(list) if list.iter().any(|e| e.need_rescan()) => {
                Signal::Rescan("the change queue overflowed".into())
            }
            // Our own temp and probe files (`.bucketsync-*`) change during
            // every pass; reacting to them would schedule passes forever.
            // Reads (our own scan opens every folder) change nothing either.
            Ok(list) if !list.iter().any(|e| changes_user_files(&e.event)) => return,
            Ok(_) => Signal::Changed,
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
    use super::{changes_user_files, is_own_file};
    use notify::event::{AccessKind, AccessMode, CreateKind, EventKind};
    use std::path::{Path, PathBuf};

    fn event(kind: EventKind, path: &str) -> notify::Event {
        notify::Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn reads_do_not_schedule_passes_but_writes_do() {
        // every scan opens each folder: that must not look like a change
        assert!(!changes_user_files(&event(EventKind::Access(AccessKind::Open(AccessMode::Any)), "/r/d")));
        assert!(changes_user_files(&event(EventKind::Access(AccessKind::Close(AccessMode::Write)), "/r/a")));
        assert!(changes_user_files(&event(EventKind::Create(CreateKind::File), "/r/a")));
        assert!(!changes_user_files(&event(EventKind::Create(CreateKind::File), "/r/.bucketsync-tmp-1")));
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
