//! Delete guards: a pass that looks like an accident stops and asks instead
//! of deleting, showing the list. A confirmation is bound to that list by
//! its id: it lets those deletes through and nothing else. A pass that
//! would delete anything not on the confirmed list asks again, and the
//! emptied-root check runs on every pass, confirmed or not (only a
//! confirmation of an emptied root passes it). (A missing root, an
//! unreadable folder or a failed listing never reach the planner as
//! "deleted": see snapshot.rs.)

use crate::keypath::Side;
use crate::plan::{Action, Plan};
use bucketsync_store::{PendingDelete, PendingDeleteSet};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// What the user decided about deletes for this pass.
#[derive(Clone, Copy, Debug)]
pub struct DeleteGuard<'a> {
    /// Deleting more than this share of the pair's files needs confirmation.
    pub max_delete_percent: u32,
    /// The list the user saw and said yes to, if any.
    pub confirmed: Option<&'a NeedsConfirmation>,
}

/// Why a pass asks before deleting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Why {
    /// More than the pair's share of its files.
    Share,
    /// The local folder is empty (the mount point of an unmounted drive?)
    /// and files would be deleted from the bucket.
    EmptiedRoot,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::Share => "share",
            Why::EmptiedRoot => "emptied-root",
        }
    }

    fn parse(s: &str) -> Option<Why> {
        Some(match s {
            "share" => Why::Share,
            "emptied-root" => Why::EmptiedRoot,
            _ => return None,
        })
    }
}

/// Why a pass stopped before deleting, and what it would have deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{reason}")]
pub struct NeedsConfirmation {
    /// Names this exact list (the versions on it, and why it was asked):
    /// a confirmation quotes it, so it can never approve another list.
    pub id: String,
    pub why: Why,
    pub reason: String,
    pub deletes: Vec<PlannedDelete>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PlannedDelete {
    /// The side the file would be deleted from.
    pub side: Side,
    pub path: String,
    /// The version that would be deleted: the object's size and ETag, or
    /// the file's stat. Part of the list's id, so a confirmation approves
    /// the versions that were shown, not whatever later takes their names.
    #[serde(skip)]
    pub version: String,
}

impl PlannedDelete {
    fn of(action: &Action) -> Option<PlannedDelete> {
        Some(match action {
            Action::DeleteLocal { path, local } => PlannedDelete {
                side: Side::Local,
                path: path.clone(),
                version: format!("{}:{}:{}", local.size, local.mtime_ms, local.inode),
            },
            Action::DeleteRemote { path, remote } => PlannedDelete {
                side: Side::Remote,
                path: path.clone(),
                version: format!("{}:{}", remote.size, remote.etag),
            },
            _ => return None,
        })
    }
}

impl NeedsConfirmation {
    /// A list to ask about; `deletes` in the order they are shown.
    pub fn new(why: Why, reason: String, deletes: Vec<PlannedDelete>) -> NeedsConfirmation {
        NeedsConfirmation { id: set_id(why, &deletes), why, reason, deletes }
    }

    /// Whether confirming this list lets `asked` through: every delete
    /// asked about was on it, and an emptied root is passed only by a
    /// confirmation given for an emptied root.
    pub fn covers(&self, asked: &NeedsConfirmation) -> bool {
        if asked.why == Why::EmptiedRoot && self.why != Why::EmptiedRoot {
            return false;
        }
        let confirmed: BTreeSet<&PlannedDelete> = self.deletes.iter().collect();
        asked.deletes.iter().all(|d| confirmed.contains(d))
    }

    /// The row that keeps this list in the store.
    pub fn to_row(&self, pair_id: i64, asked_ms: i64, confirmed: bool) -> PendingDeleteSet {
        PendingDeleteSet {
            pair_id,
            set_id: self.id.clone(),
            why: self.why.as_str().into(),
            reason: self.reason.clone(),
            asked_ms,
            confirmed,
            kept: false,
            deletes: self
                .deletes
                .iter()
                .map(|d| PendingDelete {
                    side: match d.side {
                        Side::Local => "local".into(),
                        Side::Remote => "remote".into(),
                    },
                    path: d.path.clone(),
                    version: d.version.clone(),
                })
                .collect(),
        }
    }

    /// The list a stored row keeps; `None` for a row this version cannot
    /// read (it then confirms nothing).
    pub fn from_row(row: &PendingDeleteSet) -> Option<NeedsConfirmation> {
        let deletes = row
            .deletes
            .iter()
            .map(|d| {
                let side = match d.side.as_str() {
                    "local" => Side::Local,
                    "remote" => Side::Remote,
                    _ => return None,
                };
                Some(PlannedDelete { side, path: d.path.clone(), version: d.version.clone() })
            })
            .collect::<Option<Vec<_>>>()?;
        let n = NeedsConfirmation::new(Why::parse(&row.why)?, row.reason.clone(), deletes);
        // A row whose id does not match its content was not written by us.
        (n.id == row.set_id).then_some(n)
    }
}

/// The id of a list: a digest of why it was asked and of every delete on
/// it (side, path, version), in a canonical order. 16 hex digits are
/// plenty to tell one pair's lists apart and short enough to type.
fn set_id(why: Why, deletes: &[PlannedDelete]) -> String {
    let mut sorted: Vec<&PlannedDelete> = deletes.iter().collect();
    sorted.sort();
    let mut h = Sha256::new();
    h.update(why.as_str().as_bytes());
    for d in sorted {
        let side = match d.side {
            Side::Local => "local",
            Side::Remote => "remote",
        };
        // NUL cannot occur in paths or versions: the fields cannot run together.
        for field in [side, &d.path, &d.version] {
            h.update(b"\0");
            h.update(field.as_bytes());
        }
        h.update(b"\n");
    }
    crate::snapshot::hex(&h.finalize()[..8])
}

/// Checks a plan against the guards. `files` is how many files the pair
/// had in sync (base rows); `local_files` how many the scan found.
pub fn check(
    plan: &Plan,
    files: usize,
    local_files: usize,
    guard: DeleteGuard<'_>,
) -> Result<(), NeedsConfirmation> {
    let deletes: Vec<PlannedDelete> = plan.actions.iter().filter_map(PlannedDelete::of).collect();
    if deletes.is_empty() {
        return Ok(());
    }
    let remote_deletes = deletes.iter().filter(|d| d.side == Side::Remote).count();
    let asked = if local_files == 0 && remote_deletes > 0 {
        NeedsConfirmation::new(
            Why::EmptiedRoot,
            format!(
                "the local folder is empty, so {remote_deletes} file(s) would be deleted from the bucket; \
                 if the folder was emptied on purpose, confirm"
            ),
            deletes,
        )
    } else if deletes.len() as u64 * 100 > guard.max_delete_percent as u64 * files.max(1) as u64 {
        NeedsConfirmation::new(
            Why::Share,
            format!(
                "this pass would delete {} of {} file(s), more than {} %",
                deletes.len(),
                files,
                guard.max_delete_percent
            ),
            deletes,
        )
    } else {
        return Ok(());
    };
    match guard.confirmed {
        Some(confirmed) if confirmed.covers(&asked) => Ok(()),
        _ => Err(asked),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{LocalFile, RemoteFile};

    fn del_local(p: &str) -> Action {
        Action::DeleteLocal {
            path: p.into(),
            local: LocalFile { size: 1, mtime_ms: 0, inode: 1, hash: None },
        }
    }
    fn del_remote(p: &str) -> Action {
        Action::DeleteRemote {
            path: p.into(),
            remote: RemoteFile {
                key: p.into(),
                size: 1,
                etag: "e".into(),
                last_modified_ms: None,
                mtime_ms: None,
                sha256: None,
            },
        }
    }
    fn plan(actions: Vec<Action>) -> Plan {
        Plan { actions, ..Default::default() }
    }
    const HALF: DeleteGuard<'static> = DeleteGuard { max_delete_percent: 50, confirmed: None };

    #[test]
    fn up_to_the_share_passes_beyond_it_asks_with_the_list() {
        let two = plan(vec![del_local("a"), del_remote("b")]);
        assert!(check(&two, 4, 3, HALF).is_ok(), "2 of 4 is exactly 50 %: allowed");
        let err = check(&two, 3, 3, HALF).unwrap_err();
        assert_eq!(err.deletes.len(), 2);
        assert_eq!((err.deletes[1].side, err.deletes[1].path.as_str()), (Side::Remote, "b"));
        assert!(err.reason.contains("2 of 3"));
        assert_eq!(err.why, Why::Share);
        assert!(
            check(&two, 3, 3, DeleteGuard { confirmed: Some(&err), ..HALF }).is_ok(),
            "confirmed: goes ahead"
        );
        assert!(check(&two, 3, 3, DeleteGuard { max_delete_percent: 100, confirmed: None }).is_ok());
    }

    #[test]
    fn a_confirmation_covers_the_list_shown_and_nothing_else() {
        let shown = check(&plan(vec![del_remote("a"), del_remote("b")]), 3, 3, HALF).unwrap_err();
        let ok = |p: &Plan| check(p, 3, 3, DeleteGuard { confirmed: Some(&shown), ..HALF });
        assert!(ok(&plan(vec![del_remote("a")])).is_ok(), "part of the list: fine");
        // One more delete than was shown: asked again, with a new id.
        let more = ok(&plan(vec![del_remote("a"), del_remote("b"), del_remote("c")])).unwrap_err();
        assert_eq!(more.deletes.len(), 3);
        assert_ne!(more.id, shown.id);
        // The same name, another version (rewritten in the bucket since).
        let mut other_b = del_remote("b");
        if let Action::DeleteRemote { remote, .. } = &mut other_b {
            remote.etag = "e2".into();
        }
        assert!(ok(&plan(vec![del_remote("a"), other_b])).is_err(), "a version never shown");
        // The same name, from the other side.
        assert!(ok(&plan(vec![del_remote("a"), del_local("b")])).is_err());
    }

    #[test]
    fn a_list_has_one_id_whatever_the_order_and_keeps_it_through_the_store() {
        let ab = check(&plan(vec![del_remote("a"), del_local("b")]), 2, 2, HALF).unwrap_err();
        let ba = check(&plan(vec![del_local("b"), del_remote("a")]), 2, 2, HALF).unwrap_err();
        assert_eq!(ab.id, ba.id);
        assert_eq!(ab.id.len(), 16);
        let row = ab.to_row(7, 100, false);
        assert_eq!(NeedsConfirmation::from_row(&row).as_ref(), Some(&ab));
        let tampered = PendingDeleteSet { set_id: "0000000000000000".into(), ..row };
        assert_eq!(NeedsConfirmation::from_row(&tampered), None, "an id that does not match its list");
    }

    #[test]
    fn an_emptied_folder_never_deletes_remote_files_unasked() {
        // Even with a 100 % allowance: an empty root looks like an unmounted drive.
        let all = DeleteGuard { max_delete_percent: 100, confirmed: None };
        let one = plan(vec![del_remote("a")]);
        let err = check(&one, 1, 0, all).unwrap_err();
        assert!(err.reason.contains("empty"));
        assert_eq!(err.why, Why::EmptiedRoot);
        // A confirmation given while the folder had files does not pass it...
        let shown_with_files = check(&one, 1, 1, HALF).unwrap_err();
        assert_eq!(shown_with_files.why, Why::Share);
        let again = check(&one, 1, 0, DeleteGuard { confirmed: Some(&shown_with_files), ..all }).unwrap_err();
        assert_eq!(again.why, Why::EmptiedRoot);
        // ...only one given for the emptied folder itself.
        assert!(check(&one, 1, 0, DeleteGuard { confirmed: Some(&err), ..all }).is_ok());
    }

    #[test]
    fn plans_without_deletes_always_pass() {
        assert!(check(&plan(vec![Action::Forget { path: "a".into() }]), 0, 0, HALF).is_ok());
    }
}
