//! What one pass did: the one report the executor fills in, the pass
//! completes, and the api and CLI show (the api's view is built from it).

use crate::event::FaultKind;
use crate::keypath::Unsyncable;
use serde::Serialize;

/// An action that failed.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ActionError {
    pub path: String,
    pub action: String,
    pub kind: FaultKind,
    pub message: String,
    /// `kind.retryable()`, spelled out for whoever reads the report.
    pub retryable: bool,
}

impl ActionError {
    pub fn new(path: impl Into<String>, action: &str, kind: FaultKind, message: impl Into<String>) -> Self {
        ActionError {
            path: path.into(),
            action: action.into(),
            kind,
            message: message.into(),
            retryable: kind.retryable(),
        }
    }
}

/// Something a pass did, or could not do yet, that the user should know
/// about although nothing failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PassWarning {
    pub path: String,
    pub kind: WarningKind,
    /// In words, for lists people read.
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "kebab-case")]
pub enum WarningKind {
    /// The file's modification time lies in the future: it was uploaded
    /// without waiting for it to settle (it never would by the clock).
    FutureMtime,
}

/// What a pass did.
#[derive(Clone, Debug, Default, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PassReport {
    pub pair: String,
    pub uploaded: Vec<String>,
    pub downloaded: Vec<String>,
    /// Moved to the trash because they were deleted in the bucket.
    pub deleted_local: Vec<String>,
    pub deleted_remote: Vec<String>,
    /// Equal on both sides: recorded without transfer.
    pub adopted: Vec<String>,
    /// Conflict copies made.
    pub conflicts: Vec<String>,
    pub unsyncable: Vec<Unsyncable>,
    /// Local files still being written, or changed while acted on: next pass.
    pub waiting: Vec<String>,
    /// Folders that could not be read (nothing below them was decided).
    pub unreadable: Vec<String>,
    pub errors: Vec<ActionError>,
    /// Done, but worth a look (a file dated in the future, ...).
    pub warnings: Vec<PassWarning>,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub bytes_up: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub bytes_down: u64,
}

impl PassReport {
    /// Both sides agree on everything syncable and nothing failed.
    pub fn converged(&self) -> bool {
        self.errors.is_empty() && self.waiting.is_empty() && self.unreadable.is_empty()
    }

    /// The fault the pair's status should show after this pass, if any
    /// action failed: the one the user must act on first, in words.
    pub fn fault(&self) -> Option<(FaultKind, String)> {
        let worst = self.errors.iter().reduce(|w, e| if e.kind.outranks(w.kind) { e } else { w })?;
        let others = match self.errors.len() {
            1 => String::new(),
            n => format!(" ({} more failed)", n - 1),
        };
        Some((
            worst.kind,
            format!("{}: {} {}: {}{others}", worst.kind.headline(), worst.action, worst.path, worst.message),
        ))
    }

    /// Whether the pass moved or deleted anything.
    pub fn changed_anything(&self) -> bool {
        !(self.uploaded.is_empty()
            && self.downloaded.is_empty()
            && self.deleted_local.is_empty()
            && self.deleted_remote.is_empty()
            && self.conflicts.is_empty())
    }

    /// Sorts every list, so reports compare and print stably.
    pub fn sort(&mut self) {
        for list in [
            &mut self.uploaded,
            &mut self.downloaded,
            &mut self.deleted_local,
            &mut self.deleted_remote,
            &mut self.adopted,
            &mut self.conflicts,
            &mut self.waiting,
            &mut self.unreadable,
        ] {
            list.sort();
        }
        self.unsyncable.sort();
        self.warnings.sort_by(|a, b| a.path.cmp(&b.path));
    }
}
