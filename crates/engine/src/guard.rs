//! Delete guards: a pass that looks like an accident stops and asks instead
//! of deleting. (A missing root, an unreadable folder or a failed listing
//! never reach the planner as "deleted": see snapshot.rs.)

use crate::keypath::Side;
use crate::plan::{Action, Plan};
use serde::Serialize;

/// What the user decided about deletes for this pass.
#[derive(Clone, Copy, Debug)]
pub struct DeleteGuard {
    /// Deleting more than this share of the pair's files needs confirmation.
    pub max_delete_percent: u32,
    /// The user has seen the list and said yes.
    pub confirmed: bool,
}

/// Why a pass stopped before deleting, and what it would have deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{reason}")]
pub struct NeedsConfirmation {
    pub reason: String,
    pub deletes: Vec<PlannedDelete>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedDelete {
    /// The side the file would be deleted from.
    pub side: Side,
    pub path: String,
}

/// Checks a plan against the guards. `files` is how many files the pair
/// had in sync (base rows); `local_files` how many the scan found.
pub fn check(
    plan: &Plan,
    files: usize,
    local_files: usize,
    guard: DeleteGuard,
) -> Result<(), NeedsConfirmation> {
    if guard.confirmed {
        return Ok(());
    }
    let deletes: Vec<PlannedDelete> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::DeleteLocal { path, .. } => Some(PlannedDelete { side: Side::Local, path: path.clone() }),
            Action::DeleteRemote { path, .. } => {
                Some(PlannedDelete { side: Side::Remote, path: path.clone() })
            }
            _ => None,
        })
        .collect();
    if deletes.is_empty() {
        return Ok(());
    }
    let remote_deletes = deletes.iter().filter(|d| d.side == Side::Remote).count();
    if local_files == 0 && remote_deletes > 0 {
        return Err(NeedsConfirmation {
            reason: format!(
                "the local folder is empty, so {remote_deletes} file(s) would be deleted from the bucket; \
                 if the folder was emptied on purpose, confirm"
            ),
            deletes,
        });
    }
    let share = deletes.len() as u64 * 100;
    if share > guard.max_delete_percent as u64 * files.max(1) as u64 {
        return Err(NeedsConfirmation {
            reason: format!(
                "this pass would delete {} of {} file(s), more than {} %",
                deletes.len(),
                files,
                guard.max_delete_percent
            ),
            deletes,
        });
    }
    Ok(())
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
    const HALF: DeleteGuard = DeleteGuard { max_delete_percent: 50, confirmed: false };

    #[test]
    fn up_to_the_share_passes_beyond_it_asks_with_the_list() {
        let two = plan(vec![del_local("a"), del_remote("b")]);
        assert!(check(&two, 4, 3, HALF).is_ok(), "2 of 4 is exactly 50 %: allowed");
        let err = check(&two, 3, 3, HALF).unwrap_err();
        assert_eq!(err.deletes.len(), 2);
        assert_eq!(err.deletes[1], PlannedDelete { side: Side::Remote, path: "b".into() });
        assert!(err.reason.contains("2 of 3"));
        assert!(check(&two, 3, 3, DeleteGuard { confirmed: true, ..HALF }).is_ok(), "confirmed: goes ahead");
        assert!(check(&two, 3, 3, DeleteGuard { max_delete_percent: 100, confirmed: false }).is_ok());
    }

    #[test]
    fn an_emptied_folder_never_deletes_remote_files_unasked() {
        // Even with a 100 % allowance: an empty root looks like an unmounted drive.
        let err = check(
            &plan(vec![del_remote("a")]),
            1,
            0,
            DeleteGuard { max_delete_percent: 100, confirmed: false },
        )
        .unwrap_err();
        assert!(err.reason.contains("empty"));
    }

    #[test]
    fn plans_without_deletes_always_pass() {
        assert!(check(&plan(vec![Action::Forget { path: "a".into() }]), 0, 0, HALF).is_ok());
    }
}
