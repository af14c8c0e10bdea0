//! The planner: (base, local snapshot, remote listing) -> typed actions.
//!
//! Pure: no I/O, no clock, no randomness; everything comes in through
//! [`PlanInput`]. Each side is compared with the base, never with the other
//! side, following the decision table of DESIGN.md:
//!
//! | local \ remote     | unchanged    | created / modified               | deleted         |
//! | ------------------ | ------------ | -------------------------------- | --------------- |
//! | unchanged          | nothing      | download                         | delete local    |
//! | created / modified | upload       | equal: adopt; else conflict      | upload (restore)|
//! | deleted            | delete remote| download (restore)               | forget the base |
//!
//! Remote changes are judged by (size, ETag); local ones by (size, mtime,
//! inode), with the content hash settling doubt when it was computed.

use crate::base::{self, RACY_MS};
use crate::conflict;
use crate::keypath::{self, Side, Unsyncable};
use crate::pair::Mode;
use crate::report::{PassWarning, WarningKind};
use crate::snapshot::{LocalFile, LocalSnapshot, RemoteFile, RemoteSnapshot};
use bucketsync_store::BaselineRow;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Everything the planner looks at.
pub struct PlanInput<'a> {
    pub base: &'a BTreeMap<String, BaselineRow>,
    pub local: &'a LocalSnapshot,
    pub remote: &'a RemoteSnapshot,
    pub mode: Mode,
    /// For conflict names and the quiet period.
    pub now_ms: i64,
    /// This machine's name, for conflict names.
    pub device: &'a str,
    /// Local files modified less than this long ago are still being written:
    /// they wait for a later pass instead of being uploaded.
    pub quiet_ms: i64,
    /// Whether the local file system treats `A` and `a` as one name.
    pub folds_case: bool,
    /// Files the watcher saw closed after writing, with when (Unix ms): one
    /// not modified since ([`settled`]) is done being written and need
    /// not wait the quiet period.
    pub settled: &'a BTreeMap<String, i64>,
}

/// For passes without watch events ([`PlanInput::settled`]).
pub static NOTHING_SETTLED: BTreeMap<String, i64> = BTreeMap::new();

/// How far the clock that dates a close may be behind the file's mtime for
/// the same write (a kernel's coarse timestamps and millisecond rounding).
const CLOSE_SLACK_MS: i64 = 5;

/// Whether a file last closed after writing at `closed_ms` is still that
/// version: its mtime is not later than the close (a write after it, by
/// the same or another writer, dates the file after it).
pub fn settled(l: &LocalFile, closed_ms: i64) -> bool {
    l.mtime_ms <= closed_ms.saturating_add(CLOSE_SLACK_MS)
}

/// One thing to do for one path. Each carries what the snapshots saw, so the
/// executor can check that nothing moved underneath before acting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum Action {
    /// Send the local file; `remote` is the object the listing saw at its
    /// key (`None`: none), the only one it may replace.
    Upload { path: String, local: LocalFile, remote: Option<RemoteFile> },
    /// Fetch the object; `local` is the (unchanged) file it replaces, if any.
    Download { path: String, remote: RemoteFile, local: Option<LocalFile> },
    /// Move the local file to the trash: it was deleted in the bucket.
    DeleteLocal { path: String, local: LocalFile },
    /// Delete the object: the file was deleted locally.
    DeleteRemote { path: String, remote: RemoteFile },
    /// Both sides hold the same content: record it as in sync, no transfer.
    Adopt { path: String, local: LocalFile, remote: RemoteFile },
    /// Both sides changed differently: the local file moves to `copy`, the
    /// remote version takes the name, and (when `upload_copy`) the copy is uploaded.
    Conflict { path: String, copy: String, local: LocalFile, remote: RemoteFile, upload_copy: bool },
    /// Neither side has the path any more (or this mode will never act on it).
    Forget { path: String },
    /// Content unchanged but the base's stat or token is stale: rewrite it
    /// (`hash` is the content's, from the scan or the base).
    Refresh { path: String, local: LocalFile, remote: RemoteFile, hash: Option<String> },
}

impl Action {
    pub fn path(&self) -> &str {
        match self {
            Action::Upload { path, .. }
            | Action::Download { path, .. }
            | Action::DeleteLocal { path, .. }
            | Action::DeleteRemote { path, .. }
            | Action::Adopt { path, .. }
            | Action::Conflict { path, .. }
            | Action::Forget { path }
            | Action::Refresh { path, .. } => path,
        }
    }

    /// Whether the action moves content (as opposed to bookkeeping).
    pub fn transfers(&self) -> bool {
        matches!(self, Action::Upload { .. } | Action::Download { .. } | Action::Conflict { .. })
    }

    pub fn is_delete(&self) -> bool {
        matches!(self, Action::DeleteLocal { .. } | Action::DeleteRemote { .. })
    }
}

/// The planner's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Names of both sides left alone, with why.
    pub unsyncable: Vec<Unsyncable>,
    /// Local files still being written (inside the quiet period).
    pub waiting: Vec<String>,
    /// What the user should know about the actions (a file dated in the future).
    pub warnings: Vec<PassWarning>,
}

/// How one side compares with the base.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    /// No base and not present.
    Absent,
    Unchanged,
    /// Content unchanged, but the stat (local) or token (remote) moved.
    Touched,
    /// Present now, no base.
    Created,
    Modified,
    Deleted,
}

fn local_change(b: Option<&BaselineRow>, l: Option<&LocalFile>, now_ms: i64) -> Change {
    match (b, l) {
        (None, None) => Change::Absent,
        (None, Some(_)) => Change::Created,
        (Some(_), None) => Change::Deleted,
        (Some(b), Some(l)) if base::local_matches(b, l) => match (&l.hash, &b.local.hash) {
            (Some(h), Some(bh)) if h != bh => Change::Modified,
            // Hash confirmed and the write is old enough now: record that.
            (Some(_), Some(_)) if now_ms - l.mtime_ms >= RACY_MS => Change::Touched,
            _ => Change::Unchanged,
        },
        (Some(b), Some(l)) if l.hash.is_some() && l.hash == b.local.hash => Change::Touched,
        (Some(_), Some(_)) => Change::Modified,
    }
}

fn remote_change(b: Option<&BaselineRow>, r: Option<&RemoteFile>) -> Change {
    match (b, r) {
        (None, None) => Change::Absent,
        (None, Some(_)) => Change::Created,
        (Some(_), None) => Change::Deleted,
        (Some(b), Some(r)) if base::remote_matches(b, r.size, &r.etag) => Change::Unchanged,
        (Some(b), Some(r)) if r.sha256.is_some() && r.sha256 == b.local.hash => Change::Touched,
        (Some(_), Some(_)) => Change::Modified,
    }
}

/// A crash (a power loss) can leave a synced file empty with its old mtime:
/// the new size reached the disk, the data did not. Sent, it would replace
/// the good copy in the bucket; it is kept as a conflict copy instead.
/// Emptying a file on purpose gives it a new mtime.
fn emptied_by_crash(b: Option<&BaselineRow>, l: Option<&LocalFile>) -> bool {
    matches!((b, l), (Some(b), Some(l)) if l.size == 0 && b.local.size > 0 && l.mtime_ms <= b.local.mtime_ms)
}

/// Whether both sides provably hold the same bytes.
fn same_content(l: &LocalFile, r: &RemoteFile) -> bool {
    l.size == r.size && l.hash.is_some() && l.hash == r.sha256
}

/// Local paths at and below which nothing may be decided. However a scan
/// names an unknown folder (`dir`, `dir/`, or `""` for the whole root),
/// it covers the folder and everything below it. Looked up by each
/// ancestor of a path, so many of them keep a pass linear.
struct Unknown<'a> {
    roots: BTreeSet<&'a str>,
}

impl<'a> Unknown<'a> {
    fn new(names: impl IntoIterator<Item = &'a str>) -> Self {
        Unknown { roots: names.into_iter().map(|n| n.trim_end_matches('/')).collect() }
    }

    fn covers(&self, path: &str) -> bool {
        self.roots.contains("")
            || self.roots.contains(path)
            || path.match_indices('/').any(|(i, _)| self.roots.contains(&path[..i]))
    }
}

/// A Unix-ms time as a UTC date, for messages.
fn utc_date(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}-{:02}-{:02} UTC", at.year(), u8::from(at.month()), at.day())
}

/// Plans one pass.
pub fn plan(input: &PlanInput<'_>) -> Plan {
    let mut out = Plan::default();
    out.unsyncable.extend(input.local.unsyncable.iter().cloned());
    out.unsyncable.extend(input.remote.unsyncable.iter().cloned());

    // Paths that cannot coexist as files are left alone on both sides.
    let all_present = input
        .local
        .files
        .keys()
        .chain(input.remote.files.keys())
        .map(String::as_str)
        .collect::<BTreeSet<_>>();
    let collisions = keypath::collisions(&all_present, input.folds_case);
    for (path, reason) in &collisions {
        if input.local.files.contains_key(path) {
            out.unsyncable.push(Unsyncable { side: Side::Local, name: path.clone(), reason: reason.clone() });
        }
        if let Some(r) = input.remote.files.get(path) {
            out.unsyncable.push(Unsyncable {
                side: Side::Remote,
                name: r.key.clone(),
                reason: reason.clone(),
            });
        }
    }
    out.unsyncable.sort();
    out.unsyncable.dedup();

    // What the scan could not read or cannot sync (a symbolic link, a FIFO
    // or socket where a synced file or folder was) is unknown, and so is
    // everything below it: its base rows are not deletes, and nothing is
    // written (or trashed) through it.
    let unknown =
        Unknown::new(
            input.local.unreadable.iter().map(String::as_str).chain(
                input.local.unsyncable.iter().filter(|u| u.side == Side::Local).map(|u| u.name.as_str()),
            ),
        );
    let paths: BTreeSet<&str> =
        all_present.iter().copied().chain(input.base.keys().map(String::as_str)).collect();
    // Names conflict copies took in this pass; with `paths`, every name a
    // new copy must not take.
    let mut copies: BTreeSet<String> = BTreeSet::new();

    for &path in &paths {
        if collisions.contains_key(path) || unknown.covers(path) {
            continue;
        }
        let b = input.base.get(path);
        let l = input.local.files.get(path);
        let r = input.remote.files.get(path);
        let lc = local_change(b, l, input.now_ms);
        let rc = remote_change(b, r);
        // A file dated in the future never becomes "quiet" by the clock:
        // its date says nothing about a write now, so it does not wait.
        // Nor does one the watcher saw closed after its last write.
        let quiet = |l: &LocalFile| {
            input.now_ms - l.mtime_ms >= input.quiet_ms
                || base::from_the_future(l.mtime_ms, input.now_ms)
                || input.settled.get(path).is_some_and(|&closed| settled(l, closed))
        };
        let p = path.to_string();
        let refresh = || {
            let (l, r) = (l.unwrap().clone(), r.unwrap().clone());
            let hash = l.hash.clone().or_else(|| b.and_then(|b| b.local.hash.clone()));
            Action::Refresh { path: path.to_string(), local: l, remote: r, hash }
        };
        let mut conflict = |l: &LocalFile, r: &RemoteFile, upload_copy: bool| {
            let copy = conflict::copy_name(path, input.now_ms, input.device, |c| {
                paths.contains(c) || copies.contains(c)
            });
            copies.insert(copy.clone());
            Action::Conflict { path: p.clone(), copy, local: l.clone(), remote: r.clone(), upload_copy }
        };
        use Change::*;
        let action = match input.mode {
            Mode::TwoWay => match (lc, rc) {
                (Absent, Absent) => None,
                (Unchanged, Unchanged) => None,
                (Unchanged | Touched, Unchanged | Touched) => Some(refresh()),
                (Unchanged | Touched, Modified) => {
                    Some(Action::Download { path: p.clone(), remote: r.unwrap().clone(), local: l.cloned() })
                }
                (Unchanged | Touched, Deleted) => {
                    Some(Action::DeleteLocal { path: p.clone(), local: l.unwrap().clone() })
                }
                // The good version takes the name back; the empty one is kept beside it.
                (Modified, Unchanged | Touched) if emptied_by_crash(b, l) => {
                    Some(conflict(l.unwrap(), r.unwrap(), true))
                }
                (Modified, Unchanged | Touched) | (Modified | Created, Deleted | Absent) => {
                    Some(Action::Upload { path: p.clone(), local: l.unwrap().clone(), remote: r.cloned() })
                }
                (Modified | Created, Modified | Created) => {
                    let (l, r) = (l.unwrap(), r.unwrap());
                    if same_content(l, r) {
                        Some(Action::Adopt { path: p.clone(), local: l.clone(), remote: r.clone() })
                    } else {
                        Some(conflict(l, r, true))
                    }
                }
                (Deleted, Unchanged | Touched) => {
                    Some(Action::DeleteRemote { path: p.clone(), remote: r.unwrap().clone() })
                }
                (Deleted | Absent, Modified | Created) => {
                    Some(Action::Download { path: p.clone(), remote: r.unwrap().clone(), local: None })
                }
                (Deleted, Deleted) => Some(Action::Forget { path: p.clone() }),
                // Impossible pairs: a base on one side means a base on both.
                (Absent, _) | (_, Absent) | (Created, _) | (_, Created) => None,
            },
            // Local is the source; the bucket is written, never the folder.
            Mode::Upload => match (lc, rc) {
                (Absent, _) | (Unchanged, Unchanged) => None,
                (Unchanged | Touched, Unchanged | Touched) => Some(refresh()),
                // Someone else's newer object is not overwritten by an unchanged file.
                (Unchanged | Touched, Modified) => None,
                (Unchanged | Touched, Deleted) => {
                    Some(Action::Upload { path: p.clone(), local: l.unwrap().clone(), remote: r.cloned() })
                }
                // Never sent over the synced copy; this mode does not write
                // the folder, so it waits for the user (reported).
                (Modified, Unchanged | Touched) if emptied_by_crash(b, l) => {
                    out.unsyncable.push(Unsyncable {
                        side: Side::Local,
                        name: p.clone(),
                        reason: keypath::Reason::EmptiedByCrash,
                    });
                    None
                }
                (Modified | Created, _) => match r {
                    Some(r) if same_content(l.unwrap(), r) => {
                        Some(Action::Adopt { path: p.clone(), local: l.unwrap().clone(), remote: r.clone() })
                    }
                    _ => Some(Action::Upload {
                        path: p.clone(),
                        local: l.unwrap().clone(),
                        remote: r.cloned(),
                    }),
                },
                (Deleted, Unchanged | Touched) => {
                    Some(Action::DeleteRemote { path: p.clone(), remote: r.unwrap().clone() })
                }
                // A newer remote version is kept; the pair just stops tracking it.
                (Deleted, _) => Some(Action::Forget { path: p.clone() }),
                (Touched, _) | (Unchanged, _) => None,
            },
            // The bucket is the source; the folder is written, never the bucket.
            Mode::Download => match (lc, rc) {
                (_, Absent) | (Unchanged, Unchanged) => None,
                (Unchanged | Touched, Unchanged | Touched) => Some(refresh()),
                (Unchanged | Touched, Modified) => {
                    Some(Action::Download { path: p.clone(), remote: r.unwrap().clone(), local: l.cloned() })
                }
                (Unchanged | Touched, Deleted) => {
                    Some(Action::DeleteLocal { path: p.clone(), local: l.unwrap().clone() })
                }
                // An unsynced local edit is kept as a conflict copy, never overwritten.
                (Modified | Created, Unchanged | Touched | Modified | Created) => {
                    let (l, r) = (l.unwrap(), r.unwrap());
                    if same_content(l, r) {
                        Some(Action::Adopt { path: p.clone(), local: l.clone(), remote: r.clone() })
                    } else {
                        Some(conflict(l, r, false))
                    }
                }
                // The local edit survives the remote delete; it is just no longer tracked.
                (Modified, Deleted) => Some(Action::Forget { path: p.clone() }),
                (Deleted | Absent, _) if r.is_some() => {
                    Some(Action::Download { path: p.clone(), remote: r.unwrap().clone(), local: None })
                }
                (Deleted, Deleted) => Some(Action::Forget { path: p.clone() }),
                _ => None,
            },
        };
        let Some(action) = action else { continue };
        // Files still being written wait; nothing else does.
        let local_sent = match &action {
            Action::Upload { local, .. } => Some(local),
            Action::Conflict { local, upload_copy: true, .. } => Some(local),
            _ => None,
        };
        if local_sent.is_some_and(|l| !quiet(l)) {
            out.waiting.push(path.to_string());
            continue;
        }
        if let Some(l) = local_sent.filter(|l| base::from_the_future(l.mtime_ms, input.now_ms)) {
            out.warnings.push(PassWarning {
                path: path.to_string(),
                kind: WarningKind::FutureMtime,
                message: format!(
                    "its modification time is in the future ({}): uploaded without waiting for it to settle; \
                     check the clock of the device that wrote it",
                    utc_date(l.mtime_ms)
                ),
            });
        }
        out.actions.push(action);
    }
    out
}

#[cfg(test)]
mod tests;
