//! What the UI hears from the engine: each pair's state as the UI shows it
//! ([`PairState`]), warnings, pass results and notices, as typed events
//! ([`UiEvent`], declared with the commands in command.rs so the TypeScript
//! side is generated). Progress is throttled here ([`Throttle`]) so a
//! 100,000-file pass does not flood the webview.

use crate::{ApiError, ErrorKind};
use bucketsync_engine::event::{Event, EventKind, EventSink, FaultKind, PairStatus};
use bucketsync_engine::keypath::Side;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ts_rs::TS;

pub use crate::command::UiEvent;

/// The action that fixes an error, as a button the UI offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum Fix {
    /// Rejected, expired or too weak keys: open the policy's key step.
    EnterNewKeys,
    /// Wrong endpoint, region or bucket: open the policy's connection step.
    EditConnection,
    /// The folder is gone (unmounted drive?): reconnect it, then sync now.
    ReconnectFolder,
    CheckFolderPermissions,
    EditIgnoreFile,
    FreeDiskSpace,
}

/// A delete a guard stopped, as listed for confirmation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct PlannedDeleteView {
    /// `local` or `bucket`: where the file would be deleted.
    pub side: String,
    pub path: String,
}

/// A pair's state, shown as is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum PairState {
    Idle {
        /// End of the last pass that converged, Unix ms.
        #[ts(type = "number | null")]
        last_sync_ms: Option<i64>,
    },
    Scanning,
    Transferring {
        #[ts(type = "number")]
        files_done: u64,
        #[ts(type = "number")]
        files_total: u64,
        #[ts(type = "number")]
        bytes_done: u64,
        #[ts(type = "number")]
        bytes_total: u64,
        /// Bytes per second since this pass's transfers began.
        #[ts(type = "number")]
        rate_bps: u64,
        /// At the current rate; absent until there is a rate.
        #[ts(type = "number | null")]
        seconds_left: Option<u64>,
    },
    Paused,
    NeedsConfirmation {
        /// The list's id: Confirm and Keep send it back, so they apply to
        /// exactly this list (a list that changed meanwhile is refused).
        id: String,
        reason: String,
        deletes: Vec<PlannedDeleteView>,
    },
    Error {
        kind: ErrorKind,
        message: String,
        hint: Option<String>,
        /// The button that fixes it, when the user has to act.
        fix: Option<Fix>,
        /// When the engine tries again by itself, Unix ms.
        #[ts(type = "number | null")]
        retry_at_ms: Option<i64>,
    },
    /// No engine runs this pair in this process (another one may).
    NotRunning,
}

impl PairState {
    /// The `state` tag (`idle`, `scanning`, ...), as `status` prints it.
    pub fn name(&self) -> &'static str {
        match self {
            PairState::Idle { .. } => "idle",
            PairState::Scanning => "scanning",
            PairState::Transferring { .. } => "transferring",
            PairState::Paused => "paused",
            PairState::NeedsConfirmation { .. } => "needs-confirmation",
            PairState::Error { .. } => "error",
            PairState::NotRunning => "not-running",
        }
    }

    /// Whether the user has to do something for the pair to go on.
    pub fn needs_user(&self) -> bool {
        match self {
            PairState::NeedsConfirmation { .. } => true,
            PairState::Error { fix, retry_at_ms, .. } => fix.is_some() || retry_at_ms.is_none(),
            _ => false,
        }
    }

    /// The state of a pair that could not even start (its secret is
    /// unreadable, its policy is gone, ...).
    pub fn from_error(e: &ApiError) -> PairState {
        PairState::Error {
            kind: e.kind,
            message: e.message.clone(),
            hint: e.hint.clone(),
            fix: fix_for_kind(e.kind),
            retry_at_ms: None,
        }
    }
}

fn fix_for_kind(kind: ErrorKind) -> Option<Fix> {
    match kind {
        ErrorKind::BadCredentials | ErrorKind::ExpiredCredentials | ErrorKind::PermissionDenied => {
            Some(Fix::EnterNewKeys)
        }
        ErrorKind::WrongRegion | ErrorKind::NoSuchBucket => Some(Fix::EditConnection),
        ErrorKind::DiskFull => Some(Fix::FreeDiskSpace),
        _ => None,
    }
}

/// The engine's fault kinds in the UI's terms: an api kind, a hint, a fix.
fn fault(kind: FaultKind) -> (ErrorKind, Option<String>, Option<Fix>) {
    match kind {
        FaultKind::Remote(k) => {
            let api: ErrorKind = k.into();
            (api, Some(k.hint().to_string()), fix_for_kind(api))
        }
        FaultKind::RootMissing => (
            ErrorKind::Io,
            Some("The folder is missing (an unmounted drive?). Nothing was deleted. Reconnect it, then sync now.".into()),
            Some(Fix::ReconnectFolder),
        ),
        FaultKind::Unreadable => (
            ErrorKind::Io,
            Some("Bucketsync cannot read the folder. Check its permissions.".into()),
            Some(Fix::CheckFolderPermissions),
        ),
        FaultKind::StateMismatch => (
            ErrorKind::InvalidInput,
            Some("Point the policy back at the pair's bucket, or remove the pair and add it again.".into()),
            Some(Fix::EditConnection),
        ),
        FaultKind::DiskFull => {
            (ErrorKind::DiskFull, Some("The disk is full. Free some space.".into()), Some(Fix::FreeDiskSpace))
        }
        FaultKind::ReadOnly => (
            ErrorKind::Io,
            Some("Bucketsync cannot write in the folder (read-only, or no permission). Make it writable, then sync now.".into()),
            Some(Fix::CheckFolderPermissions),
        ),
        FaultKind::Io => (ErrorKind::Io, None, None),
        FaultKind::IgnoreFile => (
            ErrorKind::InvalidInput,
            Some("The .bucketsyncignore file cannot be read. Fix it, then sync now.".into()),
            Some(Fix::EditIgnoreFile),
        ),
        FaultKind::Store => (ErrorKind::Internal, Some("See the log.".into()), None),
    }
}

impl From<&PairStatus> for PairState {
    fn from(s: &PairStatus) -> Self {
        match s {
            PairStatus::Idle { last_sync_ms } => PairState::Idle { last_sync_ms: *last_sync_ms },
            PairStatus::Scanning => PairState::Scanning,
            PairStatus::Transferring { files_done, files_total, bytes_done, bytes_total, rate_bps } => {
                PairState::Transferring {
                    files_done: *files_done,
                    files_total: *files_total,
                    bytes_done: *bytes_done,
                    bytes_total: *bytes_total,
                    rate_bps: *rate_bps,
                    seconds_left: (*rate_bps > 0).then(|| bytes_total.saturating_sub(*bytes_done) / rate_bps),
                }
            }
            PairStatus::Paused => PairState::Paused,
            PairStatus::NeedsConfirmation { id, reason, deletes } => PairState::NeedsConfirmation {
                id: id.clone(),
                reason: reason.clone(),
                deletes: deletes
                    .iter()
                    .map(|d| PlannedDeleteView {
                        side: match d.side {
                            Side::Local => "local".into(),
                            Side::Remote => "bucket".into(),
                        },
                        path: d.path.clone(),
                    })
                    .collect(),
            },
            PairStatus::Error { kind, message, retry_at_ms } => {
                let (kind, hint, fix) = fault(*kind);
                PairState::Error { kind, message: message.clone(), hint, fix, retry_at_ms: *retry_at_ms }
            }
        }
    }
}

/// Every pair at a glance, for the tray.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum Overall {
    /// Everything is in sync (or there is nothing to sync).
    Idle,
    Syncing,
    /// A pair waits for a confirmation or a fix.
    NeedsYou,
    /// Every pair is paused.
    Paused,
    /// This process does not run the engine.
    NotRunning,
}

impl Overall {
    /// Needing the user wins over syncing, which wins over idle.
    pub fn of<'a>(running: bool, states: impl IntoIterator<Item = &'a PairState>) -> Overall {
        if !running {
            return Overall::NotRunning;
        }
        let (mut any, mut paused, mut syncing) = (false, true, false);
        for s in states {
            any = true;
            if s.needs_user() {
                return Overall::NeedsYou;
            }
            paused &= matches!(s, PairState::Paused);
            syncing |= matches!(s, PairState::Scanning | PairState::Transferring { .. });
        }
        match (any, paused, syncing) {
            (_, _, true) => Overall::Syncing,
            (true, true, false) => Overall::Paused,
            _ => Overall::Idle,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Overall::Idle => "up to date",
            Overall::Syncing => "syncing…",
            Overall::NeedsYou => "needs you",
            Overall::Paused => "paused",
            Overall::NotRunning => "not syncing (another Bucketsync runs this home)",
        }
    }
}

/// `pair-status`: a pair's state changed.
#[derive(Clone, Debug, Serialize, TS)]
pub struct PairStatusEvent {
    pub pair: String,
    pub state: PairState,
}

/// `pair-warning`: something the user should know that did not stop the pair.
#[derive(Clone, Debug, Serialize, TS)]
pub struct PairWarningEvent {
    pub pair: String,
    pub message: String,
}

/// `pair-pass`: a pass ended; the pair's issues (conflicts, unsyncable
/// names, errors) may have changed.
#[derive(Clone, Debug, Serialize, TS)]
pub struct PairPassEvent {
    pub pair: String,
    #[ts(type = "number")]
    pub changed: u64,
    #[ts(type = "number")]
    pub conflicts: u64,
    #[ts(type = "number")]
    pub errors: u64,
}

/// `notice`: worth a native notification (the desktop shows it when
/// notifications are on): a conflict, an error that needs the user, a
/// mass delete waiting for confirmation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, TS)]
pub struct NoticeEvent {
    pub title: String,
    pub body: String,
    pub pair: Option<String>,
}

/// At most this many `transferring` updates per second per pair reach the UI.
pub const MAX_PROGRESS_PER_SECOND: u32 = 10;

/// Per-pair rate limit for progress. Pure: the caller passes the time in.
/// A state that is not `transferring` always goes through at once (and
/// drops any held progress, which it supersedes), and so does the first
/// progress after it (entering `transferring` is news); later progress
/// inside the interval is held, and the newest held one is due at the
/// interval's end.
#[derive(Debug)]
pub struct Throttle {
    interval: Duration,
    pairs: HashMap<String, Slot>,
}

#[derive(Debug, Default)]
struct Slot {
    /// When progress was last sent; `None` after any other state.
    last: Option<Instant>,
    held: Option<PairState>,
}

/// What to do with an offered state.
#[derive(Debug, PartialEq)]
pub enum Offer {
    Emit(PairState),
    /// Held; call [`Throttle::due`] at this instant. `first` is true when
    /// nothing was held before (so the caller arms one timer, not many).
    Held {
        at: Instant,
        first: bool,
    },
}

impl Throttle {
    pub fn new(interval: Duration) -> Throttle {
        Throttle { interval, pairs: HashMap::new() }
    }

    pub fn offer(&mut self, pair: &str, state: PairState, now: Instant) -> Offer {
        let slot = self.pairs.entry(pair.to_string()).or_default();
        let progress = matches!(state, PairState::Transferring { .. });
        match slot.last {
            Some(last) if progress && now.duration_since(last) < self.interval => {
                let first = slot.held.replace(state).is_none();
                Offer::Held { at: last + self.interval, first }
            }
            _ => {
                slot.held = None;
                slot.last = progress.then_some(now);
                Offer::Emit(state)
            }
        }
    }

    /// The held state of `pair`, if any is still held.
    pub fn due(&mut self, pair: &str, now: Instant) -> Option<PairState> {
        let slot = self.pairs.get_mut(pair)?;
        let held = slot.held.take()?;
        slot.last = Some(now);
        Some(held)
    }

    pub fn forget(&mut self, pair: &str) {
        self.pairs.remove(pair);
    }
}

/// Turns engine events into [`UiEvent`]s for one listener: throttled
/// progress, notices on the transitions that need the user.
#[derive(Clone)]
pub struct UiEvents {
    inner: Arc<UiInner>,
}

struct UiInner {
    emit: Box<dyn Fn(UiEvent) + Send + Sync>,
    throttle: Mutex<Throttle>,
    /// The last state sent per pair, to notice transitions only once.
    last: Mutex<HashMap<String, PairState>>,
    /// What each pair was last notified about; cleared once it is idle
    /// again, so a retry that fails the same way is not news.
    notified: Mutex<HashMap<String, String>>,
    notices: AtomicBool,
}

impl UiEvents {
    pub fn new(emit: impl Fn(UiEvent) + Send + Sync + 'static) -> UiEvents {
        UiEvents {
            inner: Arc::new(UiInner {
                emit: Box::new(emit),
                throttle: Mutex::new(Throttle::new(Duration::from_secs(1) / MAX_PROGRESS_PER_SECOND)),
                last: Mutex::new(HashMap::new()),
                notified: Mutex::new(HashMap::new()),
                notices: AtomicBool::new(true),
            }),
        }
    }

    /// Whether notices are sent (the "notifications" setting).
    pub fn set_notices(&self, on: bool) {
        self.inner.notices.store(on, Ordering::Relaxed);
    }

    pub fn emit(&self, event: UiEvent) {
        (self.inner.emit)(event)
    }

    /// A pair's state, through the throttle.
    ///
    /// States are sent while the throttle is locked, so they leave in the
    /// order the throttle let them through: a held progress flushed just as
    /// the pass ends could otherwise be sent after the `idle` that
    /// superseded it, and the window would show "transferring" until the
    /// next pass.
    pub fn state(&self, pair: &str, state: PairState) {
        let mut throttle = self.inner.throttle.lock().unwrap_or_else(|p| p.into_inner());
        match throttle.offer(pair, state, Instant::now()) {
            Offer::Emit(state) => self.send_state(pair, state),
            Offer::Held { at, first: true } => {
                let me = self.clone();
                let pair = pair.to_string();
                let flush = async move {
                    tokio::time::sleep_until(at.into()).await;
                    let mut throttle = me.inner.throttle.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(state) = throttle.due(&pair, Instant::now()) {
                        me.send_state(&pair, state);
                    }
                };
                // Without a runtime (a plain test thread) held progress waits
                // for the next state instead; states themselves are never held.
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(flush);
                }
            }
            Offer::Held { .. } => {}
        }
    }

    fn send_state(&self, pair: &str, state: PairState) {
        let before =
            self.inner.last.lock().unwrap_or_else(|p| p.into_inner()).insert(pair.to_string(), state.clone());
        let entered = before.as_ref().is_none_or(|b| b.name() != state.name());
        if matches!(state, PairState::Idle { .. }) {
            self.inner.notified.lock().unwrap_or_else(|p| p.into_inner()).remove(pair);
        }
        if entered && state.needs_user() {
            let body = match &state {
                PairState::NeedsConfirmation { deletes, .. } => format!(
                    "{} file(s) would be deleted. Nothing was deleted yet: open Bucketsync to confirm or keep them.",
                    deletes.len()
                ),
                PairState::Error { message, .. } => message.clone(),
                _ => String::new(),
            };
            let before = self
                .inner
                .notified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(pair.to_string(), body.clone());
            if before.as_deref() != Some(body.as_str()) {
                self.notice(NoticeEvent {
                    title: format!("{pair} needs you"),
                    body,
                    pair: Some(pair.to_string()),
                });
            }
        }
        self.emit(UiEvent::PairStatus(PairStatusEvent { pair: pair.to_string(), state }));
    }

    pub fn notice(&self, notice: NoticeEvent) {
        if self.inner.notices.load(Ordering::Relaxed) {
            self.emit(UiEvent::Notice(notice));
        }
    }

    /// The sink the engine's runners report to.
    pub fn engine_sink(&self) -> EventSink {
        let me = self.clone();
        EventSink::new(move |e: &Event| me.engine_event(e))
    }

    pub fn engine_event(&self, e: &Event) {
        match &e.kind {
            EventKind::Status { status } => self.state(&e.pair, status.into()),
            EventKind::Warning { message } => self.emit(UiEvent::PairWarning(PairWarningEvent {
                pair: e.pair.clone(),
                message: message.clone(),
            })),
            EventKind::PassFinished { report } => {
                let changed = (report.uploaded.len()
                    + report.downloaded.len()
                    + report.deleted_local.len()
                    + report.deleted_remote.len()) as u64;
                if !report.conflicts.is_empty() {
                    self.notice(NoticeEvent {
                        title: format!("Conflict in {}", e.pair),
                        body: format!(
                            "{} file(s) changed on both sides; your version is kept beside the other as a conflict copy.",
                            report.conflicts.len()
                        ),
                        pair: Some(e.pair.clone()),
                    });
                }
                // Done, but worth a look: one toast per pass, not per file.
                if let Some(message) = warnings_in_words(&report.warnings) {
                    self.emit(UiEvent::PairWarning(PairWarningEvent { pair: e.pair.clone(), message }));
                }
                self.emit(UiEvent::PairPass(PairPassEvent {
                    pair: e.pair.clone(),
                    changed,
                    conflicts: report.conflicts.len() as u64,
                    errors: report.errors.len() as u64,
                }))
            }
            // Per-file results go to the journal; the activity screen reads it.
            EventKind::Done { .. } => {}
        }
    }

    /// Forgets a removed pair.
    pub fn forget(&self, pair: &str) {
        self.inner.throttle.lock().unwrap_or_else(|p| p.into_inner()).forget(pair);
        self.inner.last.lock().unwrap_or_else(|p| p.into_inner()).remove(pair);
    }
}

/// A pass's warnings as one sentence naming the first few files.
fn warnings_in_words(warnings: &[bucketsync_engine::report::PassWarning]) -> Option<String> {
    use bucketsync_engine::report::WarningKind;
    const SHOWN: usize = 3;
    let future: Vec<&str> =
        warnings.iter().filter(|w| w.kind == WarningKind::FutureMtime).map(|w| w.path.as_str()).collect();
    if future.is_empty() {
        return None;
    }
    let mut names = future.iter().take(SHOWN).copied().collect::<Vec<_>>().join(", ");
    if future.len() > SHOWN {
        names.push_str(&format!(" and {} more", future.len() - SHOWN));
    }
    Some(format!(
        "{} file(s) are dated in the future ({names}): they were uploaded without waiting for them to \
         settle. Check this computer's clock, or the tool that wrote them.",
        future.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(done: u64) -> PairState {
        PairState::Transferring {
            files_done: done,
            files_total: 100,
            bytes_done: done,
            bytes_total: 100,
            rate_bps: 1,
            seconds_left: None,
        }
    }

    #[test]
    fn progress_is_held_inside_the_interval_and_the_newest_is_due_after_it() {
        let mut t = Throttle::new(Duration::from_millis(100));
        let t0 = Instant::now();
        assert_eq!(t.offer("p", progress(1), t0), Offer::Emit(progress(1)));
        let at = t0 + Duration::from_millis(100);
        assert_eq!(
            t.offer("p", progress(2), t0 + Duration::from_millis(10)),
            Offer::Held { at, first: true }
        );
        assert_eq!(
            t.offer("p", progress(3), t0 + Duration::from_millis(20)),
            Offer::Held { at, first: false }
        );
        // Another pair has its own budget.
        assert_eq!(t.offer("q", progress(9), t0 + Duration::from_millis(20)), Offer::Emit(progress(9)));
        assert_eq!(t.due("p", at), Some(progress(3)), "only the newest held progress");
        assert_eq!(t.due("p", at), None);
    }

    #[test]
    fn a_state_change_is_never_held_and_supersedes_held_progress() {
        let mut t = Throttle::new(Duration::from_millis(100));
        let t0 = Instant::now();
        t.offer("p", progress(1), t0);
        t.offer("p", progress(2), t0 + Duration::from_millis(1));
        let idle = PairState::Idle { last_sync_ms: Some(5) };
        assert_eq!(t.offer("p", idle.clone(), t0 + Duration::from_millis(2)), Offer::Emit(idle));
        assert_eq!(t.due("p", t0 + Duration::from_millis(100)), None, "the stale progress is dropped");
    }

    #[test]
    fn entering_transferring_is_never_held_even_right_after_scanning() {
        // A short transfer would otherwise never show: scanning, then idle
        // within the interval, would drop its only progress.
        let mut t = Throttle::new(Duration::from_millis(100));
        let t0 = Instant::now();
        assert_eq!(t.offer("p", PairState::Scanning, t0), Offer::Emit(PairState::Scanning));
        let soon = t0 + Duration::from_millis(5);
        assert_eq!(t.offer("p", progress(1), soon), Offer::Emit(progress(1)));
        assert!(matches!(t.offer("p", progress(2), soon), Offer::Held { .. }));
    }

    #[test]
    fn a_flood_of_progress_reaches_the_ui_at_the_limit() {
        // 100,000 progress updates within one simulated second.
        let mut t = Throttle::new(Duration::from_millis(100));
        let t0 = Instant::now();
        let mut emitted = 0;
        let mut due_at = None;
        for i in 0..100_000u64 {
            let now = t0 + Duration::from_micros(i * 10);
            if let Some(at) = due_at.filter(|at| now >= *at) {
                if t.due("p", at).is_some() {
                    emitted += 1;
                }
                due_at = None;
            }
            match t.offer("p", progress(i), now) {
                Offer::Emit(_) => emitted += 1,
                Offer::Held { at, first: true } => due_at = Some(at),
                Offer::Held { .. } => {}
            }
        }
        assert!(emitted <= 11, "{emitted} updates in one second");
        assert!(emitted >= 9, "{emitted}: progress still flows");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_progress_flushed_as_the_pass_ends_never_lands_after_its_idle() {
        // The window keeps the last state it was sent: a held progress that
        // left after the idle superseding it showed "transferring" until the
        // next pass (the e2e's rare "idle after resume" timeout).
        let seen = Arc::new(Mutex::new(Vec::new()));
        let ui = {
            let seen = seen.clone();
            UiEvents::new(move |e| {
                if let UiEvent::PairStatus(s) = &e {
                    if s.state == progress(2) {
                        // The flushed progress is slow to leave (a busy webview).
                        std::thread::sleep(Duration::from_millis(300));
                    }
                    seen.lock().unwrap().push(s.state.clone());
                }
            })
        };
        ui.state("p", progress(1));
        ui.state("p", progress(2)); // held; flushed at the interval's end (100 ms)
                                    // (Plain sleeps on the test's own thread: the runtime's worker that
                                    // sends the flush is blocked meanwhile, and tokio's timers with it.)
        std::thread::sleep(Duration::from_millis(150)); // the flush is sending it
        let idle = PairState::Idle { last_sync_ms: Some(1) };
        ui.state("p", idle.clone());
        std::thread::sleep(Duration::from_millis(600));
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.last(), Some(&idle), "sent: {seen:?}");
    }

    #[test]
    fn the_tray_shows_what_needs_the_user_first() {
        let idle = PairState::Idle { last_sync_ms: None };
        let ask = PairState::NeedsConfirmation { id: "i".into(), reason: "x".into(), deletes: vec![] };
        assert_eq!(Overall::of(true, [&idle, &PairState::Scanning]), Overall::Syncing);
        assert_eq!(Overall::of(true, [&PairState::Scanning, &ask]), Overall::NeedsYou);
        assert_eq!(Overall::of(true, [&PairState::Paused]), Overall::Paused);
        assert_eq!(Overall::of(true, [&PairState::Paused, &idle]), Overall::Idle);
        assert_eq!(Overall::of(true, []), Overall::Idle);
        assert_eq!(Overall::of(false, [&idle]), Overall::NotRunning);
    }

    #[test]
    fn a_pass_with_future_dated_files_warns_once_naming_them() {
        use bucketsync_engine::event::{Event, EventKind};
        use bucketsync_engine::report::{PassReport, PassWarning, WarningKind};
        let seen = Arc::new(Mutex::new(Vec::new()));
        let ui = {
            let seen = seen.clone();
            UiEvents::new(move |e| seen.lock().unwrap().push(e))
        };
        let warning = |path: &str| PassWarning {
            path: path.into(),
            kind: WarningKind::FutureMtime,
            message: "dated in the future".into(),
        };
        let report = PassReport {
            warnings: ["a.txt", "b.txt", "c.txt", "d.txt"].map(warning).to_vec(),
            ..PassReport::default()
        };
        let event = |report: PassReport| Event {
            pair_id: 1,
            pair: "docs".into(),
            kind: EventKind::PassFinished { report: Box::new(report) },
        };
        ui.engine_event(&event(report));
        ui.engine_event(&event(PassReport::default()));
        let warnings: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                UiEvent::PairWarning(w) => Some(format!("{}: {}", w.pair, w.message)),
                _ => None,
            })
            .collect();
        assert_eq!(warnings.len(), 1, "one per pass with warnings, none for a clean pass: {warnings:?}");
        assert!(warnings[0]
            .starts_with("docs: 4 file(s) are dated in the future (a.txt, b.txt, c.txt and 1 more)"));
    }

    #[test]
    fn notices_come_once_on_entering_a_state_that_needs_the_user() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let ui = {
            let seen = seen.clone();
            UiEvents::new(move |e| seen.lock().unwrap().push(e))
        };
        let bad_keys = PairState::from(&PairStatus::Error {
            kind: FaultKind::Remote(bucketsync_remote::ErrorKind::BadCredentials),
            message: "rejected".into(),
            retry_at_ms: None,
        });
        match &bad_keys {
            PairState::Error { fix, kind, .. } => {
                assert_eq!((*kind, *fix), (ErrorKind::BadCredentials, Some(Fix::EnterNewKeys)))
            }
            other => panic!("{other:?}"),
        }
        ui.state("p", bad_keys.clone());
        ui.state("p", bad_keys.clone());
        // A retry that fails the same way is no news either.
        ui.state("p", PairState::Scanning);
        ui.state("p", bad_keys);
        let notices = |seen: &Mutex<Vec<UiEvent>>| {
            seen.lock().unwrap().iter().filter(|e| matches!(e, UiEvent::Notice(_))).count()
        };
        assert_eq!(notices(&seen), 1, "the second identical state is no news");
        ui.set_notices(false);
        ui.state("p", PairState::Scanning);
        ui.state("p", PairState::NeedsConfirmation { id: "i".into(), reason: "x".into(), deletes: vec![] });
        assert_eq!(notices(&seen), 1, "notifications off");
        let statuses = seen.lock().unwrap().iter().filter(|e| matches!(e, UiEvent::PairStatus(_))).count();
        assert_eq!(statuses, 6);
    }
}
