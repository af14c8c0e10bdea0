//! Status and progress of pairs, as events. The CLI prints them now; the
//! desktop app forwards them to the UI as they are.

use crate::guard::PlannedDelete;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a pair is doing, shown as is.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum PairStatus {
    Idle {
        /// End of the last pass that converged, Unix ms.
        last_sync_ms: Option<i64>,
    },
    Scanning,
    Transferring {
        files_done: u64,
        files_total: u64,
        bytes_done: u64,
        bytes_total: u64,
        /// Bytes per second since the transfers of this pass began.
        rate_bps: u64,
    },
    Paused,
    NeedsConfirmation {
        /// The list's id: confirming or keeping names it, so a decision
        /// applies to exactly the list shown.
        id: String,
        reason: String,
        deletes: Vec<PlannedDelete>,
    },
    Error {
        kind: FaultKind,
        message: String,
        /// When the runner tries again by itself, Unix ms.
        retry_at_ms: Option<i64>,
    },
}

/// What kind of trouble a pass or an action met, in terms of what to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// The local folder is gone (unmounted drive?): nothing is deleted.
    RootMissing,
    /// The local folder or one of its folders cannot be read.
    Unreadable,
    /// The pair's recorded bucket, prefix or root differ from the policy's.
    StateMismatch,
    /// The bucket side; `remote` in the message says which kind.
    Remote(#[cfg_attr(feature = "ts", ts(type = "string"))] bucketsync_remote::ErrorKind),
    DiskFull,
    /// The local folder (or a folder in it) cannot be written: a read-only
    /// mount, or no write permission.
    ReadOnly,
    Io,
    /// The ignore file cannot be read or parsed.
    IgnoreFile,
    /// The database failed.
    Store,
}

impl FaultKind {
    /// Whether trying again later, unchanged, may succeed: the engine's one
    /// answer to that question (the runner schedules a retry for these
    /// instead of waiting for the user). A full disk, a missing root or an
    /// unreadable folder can clear up by themselves (space freed, the drive
    /// mounted again); a wrong ignore file or a broken database cannot.
    pub fn retryable(self) -> bool {
        match self {
            FaultKind::Remote(k) => k.retryable(),
            FaultKind::RootMissing
            | FaultKind::Unreadable
            | FaultKind::Io
            | FaultKind::DiskFull
            | FaultKind::ReadOnly => true,
            FaultKind::StateMismatch | FaultKind::IgnoreFile | FaultKind::Store => false,
        }
    }

    /// The kind of a local I/O failure while reading.
    pub fn of_io(e: &std::io::Error) -> FaultKind {
        FaultKind::of_local(e, false)
    }

    /// The kind of a local I/O failure while writing: no permission then
    /// means the folder cannot be written, not that a file cannot be read.
    pub fn of_write(e: &std::io::Error) -> FaultKind {
        FaultKind::of_local(e, true)
    }

    fn of_local(e: &std::io::Error, writing: bool) -> FaultKind {
        use std::io::ErrorKind as K;
        match e.raw_os_error() {
            // ENOSPC, EDQUOT; EROFS
            Some(28 | 122) => FaultKind::DiskFull,
            Some(30) => FaultKind::ReadOnly,
            _ if matches!(e.kind(), K::StorageFull | K::QuotaExceeded) => FaultKind::DiskFull,
            _ if e.kind() == K::ReadOnlyFilesystem => FaultKind::ReadOnly,
            _ if e.kind() == K::PermissionDenied && writing => FaultKind::ReadOnly,
            _ if e.kind() == K::PermissionDenied => FaultKind::Unreadable,
            _ => FaultKind::Io,
        }
    }

    /// Whether this stops the whole pair until the user acts (new keys, the
    /// right bucket or region): every further request would fail the same
    /// way, so the pass stops early and the runner does not retry by itself.
    pub fn stops_pair(self) -> bool {
        use bucketsync_remote::ErrorKind as R;
        matches!(
            self,
            FaultKind::Remote(
                R::BadCredentials
                    | R::ExpiredCredentials
                    | R::PermissionDenied
                    | R::NoSuchBucket
                    | R::WrongRegion
            ) | FaultKind::StateMismatch
        )
    }

    /// The few words a status line leads with.
    pub fn headline(self) -> &'static str {
        use bucketsync_remote::ErrorKind as R;
        match self {
            FaultKind::Remote(R::BadCredentials | R::ExpiredCredentials | R::PermissionDenied) => {
                "credentials rejected"
            }
            FaultKind::Remote(R::Offline) => "offline",
            FaultKind::Remote(R::Throttled) => "throttled by the provider",
            FaultKind::Remote(R::NoSuchBucket) => "the bucket does not exist",
            FaultKind::Remote(R::WrongRegion) => "wrong region",
            FaultKind::Remote(R::ClockSkew) => "the clock is off",
            FaultKind::Remote(_) => "the bucket failed",
            FaultKind::RootMissing => "the folder is missing",
            FaultKind::Unreadable => "cannot read",
            FaultKind::StateMismatch => "the policy points elsewhere",
            FaultKind::DiskFull => "disk full",
            FaultKind::ReadOnly => "the folder is read-only",
            FaultKind::Io => "local error",
            FaultKind::IgnoreFile => "bad ignore file",
            FaultKind::Store => "database error",
        }
    }

    /// Which of two faults a status should show: the one the user must act
    /// on first.
    pub fn outranks(self, other: FaultKind) -> bool {
        fn rank(k: FaultKind) -> u8 {
            use bucketsync_remote::ErrorKind as R;
            match k {
                _ if k.stops_pair() => 0,
                FaultKind::DiskFull => 1,
                FaultKind::ReadOnly => 2,
                FaultKind::Remote(R::Offline) => 3,
                FaultKind::Remote(R::Throttled) => 4,
                _ => 5,
            }
        }
        rank(self) < rank(other)
    }
}

/// One event about one pair.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    pub pair_id: i64,
    pub pair: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case", tag = "event")]
pub enum EventKind {
    Status {
        status: PairStatus,
    },
    /// One action finished (`upload`, `download`, `delete-local`, ...).
    Done {
        action: String,
        path: String,
        bytes: u64,
    },
    /// Something the user should see that did not stop the pair (a full
    /// rescan after a watch overflow, an unsyncable key, ...).
    Warning {
        message: String,
    },
    /// A runner's pass ended with this report (conflicts, unsyncable names,
    /// errors per path): what a dashboard lists until the next pass.
    PassFinished {
        report: Box<crate::report::PassReport>,
    },
}

/// A receiver of events.
type Listener = Arc<dyn Fn(&Event) + Send + Sync>;

/// Where events go. Cheap to clone; the default drops them.
#[derive(Clone, Default)]
pub struct EventSink(Option<Listener>);

impl EventSink {
    pub fn new(f: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        EventSink(Some(Arc::new(f)))
    }

    pub fn none() -> Self {
        EventSink(None)
    }

    pub fn emit(&self, event: Event) {
        if let Some(f) = &self.0 {
            f(&event);
        }
    }
}

/// A pair's sink: stamps its id and name on everything.
#[derive(Clone)]
pub struct PairEvents {
    pub pair_id: i64,
    pub pair: String,
    pub sink: EventSink,
}

impl PairEvents {
    pub fn status(&self, status: PairStatus) {
        self.emit(EventKind::Status { status });
    }
    pub fn warning(&self, message: impl Into<String>) {
        self.emit(EventKind::Warning { message: message.into() });
    }
    pub fn pass_finished(&self, report: crate::report::PassReport) {
        self.emit(EventKind::PassFinished { report: Box::new(report) });
    }
    pub fn done(&self, action: &str, path: &str, bytes: u64) {
        self.emit(EventKind::Done { action: action.into(), path: path.into(), bytes });
    }
    fn emit(&self, kind: EventKind) {
        self.sink.emit(Event { pair_id: self.pair_id, pair: self.pair.clone(), kind });
    }
}

/// Counts bytes and files of one pass's transfers and reports them as
/// `transferring`, at most a few times a second.
pub struct PassProgress {
    events: PairEvents,
    files_total: u64,
    bytes_total: u64,
    files_done: AtomicU64,
    bytes_done: AtomicU64,
    started: Instant,
    last_emit: Mutex<Option<Instant>>,
}

impl PassProgress {
    pub fn new(events: PairEvents, files_total: u64, bytes_total: u64) -> Self {
        PassProgress {
            events,
            files_total,
            bytes_total,
            files_done: AtomicU64::new(0),
            bytes_done: AtomicU64::new(0),
            started: Instant::now(),
            last_emit: Mutex::new(None),
        }
    }

    pub fn file_done(&self) {
        self.files_done.fetch_add(1, Ordering::Relaxed);
        self.emit(true);
    }

    pub fn bytes_done(&self) -> u64 {
        self.bytes_done.load(Ordering::Relaxed)
    }

    fn emit(&self, force: bool) {
        {
            let mut last = self.last_emit.lock().unwrap_or_else(|p| p.into_inner());
            if !force && last.is_some_and(|t| t.elapsed() < Duration::from_millis(200)) {
                return;
            }
            *last = Some(Instant::now());
        }
        let bytes_done = self.bytes_done.load(Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64();
        let rate_bps = if secs > 0.0 { (bytes_done as f64 / secs) as u64 } else { 0 };
        self.events.status(PairStatus::Transferring {
            files_done: self.files_done.load(Ordering::Relaxed),
            files_total: self.files_total,
            bytes_done,
            bytes_total: self.bytes_total,
            rate_bps,
        });
    }
}

impl crate::transfer::Progress for PassProgress {
    fn advance(&self, bytes: u64) {
        self.bytes_done.fetch_add(bytes, Ordering::Relaxed);
        self.emit(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::Progress;

    #[test]
    fn events_serialise_with_kebab_tags() {
        let e = Event {
            pair_id: 1,
            pair: "docs".into(),
            kind: EventKind::Status {
                status: PairStatus::Error {
                    kind: FaultKind::Remote(bucketsync_remote::ErrorKind::Offline),
                    message: "x".into(),
                    retry_at_ms: None,
                },
            },
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["event"], "status");
        assert_eq!(json["status"]["state"], "error");
        assert_eq!(json["status"]["kind"]["remote"], "offline");
    }

    #[test]
    fn progress_reports_files_and_bytes() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let seen = seen.clone();
            EventSink::new(move |e| seen.lock().unwrap().push(e.clone()))
        };
        let p = PassProgress::new(PairEvents { pair_id: 1, pair: "p".into(), sink }, 2, 10);
        p.advance(4);
        p.advance(6);
        p.file_done();
        let last = seen.lock().unwrap().last().cloned().unwrap();
        match last.kind {
            EventKind::Status {
                status: PairStatus::Transferring { files_done, bytes_done, bytes_total, .. },
            } => {
                assert_eq!((files_done, bytes_done, bytes_total), (1, 10, 10));
            }
            other => panic!("{other:?}"),
        }
    }
}
