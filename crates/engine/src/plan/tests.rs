//! The decision table cell by cell, then a property test: any sequence of
//! local and remote edits, synced, converges, does not ping-pong, and loses
//! no edit.

use super::*;
use crate::snapshot::{keys_to_head, paths_to_hash};
use proptest::prelude::*;

const NOW: i64 = 1_718_454_896_000;

fn hash(content: &str) -> Option<String> {
    Some(format!("h:{content}"))
}

fn base_row(path: &str, content: &str) -> BaselineRow {
    BaselineRow {
        path: path.into(),
        local: LocalFile { size: content.len() as u64, mtime_ms: 100, inode: 1, hash: hash(content) },
        remote_etag: format!("e:{content}"),
        remote_size: content.len() as u64,
        remote_mtime_ms: None,
        synced_ms: 0,
    }
}

/// A side's state relative to a base whose content is "base".
#[derive(Clone, Copy, Debug)]
enum S {
    /// As in the base.
    Same,
    /// Stat (local) or token (remote) changed, content did not (hash known).
    Touch,
    /// Changed to this content (hash / sha256 known).
    Edit(&'static str),
    /// Changed to this content, hash unknown.
    EditUnknown(&'static str),
    Gone,
}

fn local_file(s: S) -> Option<LocalFile> {
    match s {
        S::Same => Some(LocalFile { size: 4, mtime_ms: 100, inode: 1, hash: None }),
        S::Touch => Some(LocalFile { size: 4, mtime_ms: 200, inode: 1, hash: hash("base") }),
        S::Edit(c) => Some(LocalFile { size: c.len() as u64, mtime_ms: 300, inode: 1, hash: hash(c) }),
        S::EditUnknown(c) => Some(LocalFile { size: c.len() as u64, mtime_ms: 300, inode: 1, hash: None }),
        S::Gone => None,
    }
}

fn remote_file(s: S) -> Option<RemoteFile> {
    let f = |etag: String, size: usize, sha256: Option<String>| RemoteFile {
        key: "p/f".into(),
        size: size as u64,
        etag,
        last_modified_ms: None,
        mtime_ms: None,
        sha256,
    };
    match s {
        S::Same => Some(f("e:base".into(), 4, None)),
        S::Touch => Some(f("e:reupload".into(), 4, hash("base"))),
        S::Edit(c) => Some(f(format!("e2:{c}"), c.len(), hash(c))),
        S::EditUnknown(c) => Some(f(format!("e2:{c}"), c.len(), None)),
        S::Gone => None,
    }
}

fn kind(a: &Action) -> &'static str {
    match a {
        Action::Upload { .. } => "upload",
        Action::Download { .. } => "download",
        Action::DeleteLocal { .. } => "delete-local",
        Action::DeleteRemote { .. } => "delete-remote",
        Action::Adopt { .. } => "adopt",
        Action::Conflict { upload_copy: true, .. } => "conflict",
        Action::Conflict { upload_copy: false, .. } => "conflict-keep-local",
        Action::Forget { .. } => "forget",
        Action::Refresh { .. } => "refresh",
    }
}

fn run(mode: Mode, with_base: bool, l: S, r: S) -> Plan {
    let base: BTreeMap<_, _> =
        if with_base { [("f".to_string(), base_row("f", "base"))].into() } else { BTreeMap::new() };
    let local = LocalSnapshot {
        files: local_file(l).map(|f| ("f".to_string(), f)).into_iter().collect(),
        ..Default::default()
    };
    let remote = RemoteSnapshot {
        files: remote_file(r).map(|f| ("f".to_string(), f)).into_iter().collect(),
        ..Default::default()
    };
    plan(&PlanInput {
        base: &base,
        local: &local,
        remote: &remote,
        mode,
        now_ms: NOW,
        device: "laptop",
        quiet_ms: 0,
        folds_case: false,
        settled: &crate::plan::NOTHING_SETTLED,
    })
}

fn decide(mode: Mode, with_base: bool, l: S, r: S) -> &'static str {
    let p = run(mode, with_base, l, r);
    assert!(p.actions.len() <= 1, "{p:?}");
    p.actions.first().map(kind).unwrap_or("nothing")
}

use S::*;

#[test]
fn two_way_table_with_a_base() {
    let cases = [
        (Same, Same, "nothing"),
        (Same, Edit("new"), "download"),
        (Same, Gone, "delete-local"),
        (Edit("new"), Same, "upload"),
        (Edit("same"), Edit("same"), "adopt"),
        (Edit("mine"), Edit("theirs"), "conflict"),
        // Equal sizes, hashes unknown: not provably equal, so a conflict
        // (the executor drops the copy if the bytes turn out equal).
        (EditUnknown("abcd"), Edit("wxyz"), "conflict"),
        (Edit("new"), Gone, "upload"),
        (Gone, Same, "delete-remote"),
        (Gone, Edit("new"), "download"),
        (Gone, Gone, "forget"),
        // A touched file or an identical re-upload is no change.
        (Touch, Same, "refresh"),
        (Same, Touch, "refresh"),
        (Touch, Touch, "refresh"),
        (Touch, Edit("new"), "download"),
        (Edit("new"), Touch, "upload"),
        (Touch, Gone, "delete-local"),
        (Gone, Touch, "delete-remote"),
    ];
    for (l, r, want) in cases {
        assert_eq!(decide(Mode::TwoWay, true, l, r), want, "two-way, local {l:?}, remote {r:?}");
    }
}

#[test]
fn two_way_first_sync_is_a_union() {
    let cases = [
        (Edit("x"), Gone, "upload"),
        (Gone, Edit("x"), "download"),
        (Edit("same"), Edit("same"), "adopt"),
        (EditUnknown("same"), Edit("same"), "conflict"),
        (Edit("mine"), Edit("theirs"), "conflict"),
        (Gone, Gone, "nothing"),
    ];
    for (l, r, want) in cases {
        assert_eq!(decide(Mode::TwoWay, false, l, r), want, "no base, local {l:?}, remote {r:?}");
    }
}

#[test]
fn upload_mode_never_writes_the_folder() {
    let cases = [
        (true, Same, Same, "nothing"),
        (true, Same, Edit("theirs"), "nothing"),
        (true, Same, Gone, "upload"),
        (true, Edit("new"), Same, "upload"),
        (true, Edit("mine"), Edit("theirs"), "upload"),
        (true, Edit("same"), Edit("same"), "adopt"),
        (true, Gone, Same, "delete-remote"),
        (true, Gone, Edit("theirs"), "forget"),
        (true, Gone, Gone, "forget"),
        (false, Gone, Edit("x"), "nothing"),
        (false, Edit("x"), Gone, "upload"),
    ];
    for (with_base, l, r, want) in cases {
        assert_eq!(
            decide(Mode::Upload, with_base, l, r),
            want,
            "upload, base {with_base}, local {l:?}, remote {r:?}"
        );
    }
}

#[test]
fn download_mode_never_writes_the_bucket() {
    let cases = [
        (true, Same, Same, "nothing"),
        (true, Same, Edit("new"), "download"),
        (true, Same, Gone, "delete-local"),
        (true, Edit("mine"), Same, "conflict-keep-local"),
        (true, Edit("mine"), Edit("theirs"), "conflict-keep-local"),
        (true, Edit("same"), Edit("same"), "adopt"),
        (true, Edit("mine"), Gone, "forget"),
        (true, Gone, Same, "download"),
        (true, Gone, Edit("new"), "download"),
        (true, Gone, Gone, "forget"),
        (false, Edit("x"), Gone, "nothing"),
        (false, Gone, Edit("x"), "download"),
        (false, Edit("mine"), Edit("theirs"), "conflict-keep-local"),
    ];
    for (with_base, l, r, want) in cases {
        assert_eq!(
            decide(Mode::Download, with_base, l, r),
            want,
            "download, base {with_base}, local {l:?}, remote {r:?}"
        );
    }
}

#[test]
fn conflict_copy_is_named_beside_the_original_and_avoids_taken_names() {
    let base = BTreeMap::new();
    let copy = "a (conflict 2024-06-15 123456 laptop).txt";
    let local = LocalSnapshot {
        files: [
            ("a.txt".to_string(), local_file(Edit("mine")).unwrap()),
            (copy.to_string(), local_file(Edit("older copy")).unwrap()),
        ]
        .into(),
        ..Default::default()
    };
    let remote = RemoteSnapshot {
        files: [("a.txt".to_string(), remote_file(Edit("theirs")).unwrap())].into(),
        ..Default::default()
    };
    let p = plan(&PlanInput {
        base: &base,
        local: &local,
        remote: &remote,
        mode: Mode::TwoWay,
        now_ms: NOW,
        device: "laptop",
        quiet_ms: 0,
        folds_case: false,
        settled: &crate::plan::NOTHING_SETTLED,
    });
    let conflict = p.actions.iter().find_map(|a| match a {
        Action::Conflict { copy, .. } => Some(copy.as_str()),
        _ => None,
    });
    assert_eq!(conflict, Some("a (conflict 2024-06-15 123456 laptop 2).txt"));
}

#[test]
fn racily_clean_files_are_judged_by_their_hash() {
    // Rewritten within the base's timestamp tick: same stat, other content.
    let mut b = base_row("f", "base");
    b.synced_ms = b.local.mtime_ms + 10;
    let base: BTreeMap<_, _> = [("f".to_string(), b.clone())].into();
    let stat_same = |content: &str| LocalSnapshot {
        files: [("f".to_string(), LocalFile { size: 4, mtime_ms: 100, inode: 1, hash: hash(content) })]
            .into(),
        ..Default::default()
    };
    let remote = RemoteSnapshot {
        files: [("f".to_string(), remote_file(Same).unwrap())].into(),
        ..Default::default()
    };
    let run = |local: &LocalSnapshot, now_ms| {
        plan(&PlanInput {
            base: &base,
            local,
            remote: &remote,
            mode: Mode::TwoWay,
            now_ms,
            device: "d",
            quiet_ms: 0,
            folds_case: false,
            settled: &crate::plan::NOTHING_SETTLED,
        })
    };
    assert_eq!(run(&stat_same("edit"), 150).actions.iter().map(kind).collect::<Vec<_>>(), ["upload"]);
    assert!(run(&stat_same("base"), 150).actions.is_empty(), "same content, still racy: nothing yet");
    assert_eq!(
        run(&stat_same("base"), 100 + RACY_MS).actions.iter().map(kind).collect::<Vec<_>>(),
        ["refresh"]
    );
    // The scan asks for the hash exactly while the base is racy.
    assert_eq!(paths_to_hash(&base, &stat_same("x"), &remote), ["f"]);
    let mut settled = b;
    settled.synced_ms = 100 + RACY_MS;
    let base2: BTreeMap<_, _> = [("f".to_string(), settled)].into();
    assert!(paths_to_hash(&base2, &stat_same("x"), &remote).is_empty());
}

#[test]
fn files_still_being_written_wait() {
    let base = BTreeMap::new();
    let local = LocalSnapshot {
        files: [("f".to_string(), LocalFile { size: 1, mtime_ms: NOW - 500, inode: 1, hash: None })].into(),
        ..Default::default()
    };
    let remote = RemoteSnapshot::default();
    let p = plan(&PlanInput {
        base: &base,
        local: &local,
        remote: &remote,
        mode: Mode::TwoWay,
        now_ms: NOW,
        device: "d",
        quiet_ms: 2000,
        folds_case: false,
        settled: &crate::plan::NOTHING_SETTLED,
    });
    assert!(p.actions.is_empty());
    assert_eq!(p.waiting, ["f"]);
}

/// A file the watcher saw closed after its last write is done: it uploads
/// inside the quiet period. One written again after that close (its mtime
/// is later) still waits, as does one never seen closed.
#[test]
fn files_closed_after_writing_do_not_wait() {
    let base = BTreeMap::new();
    let at = |mtime_ms| LocalFile { size: 1, mtime_ms, inode: 1, hash: None };
    let local = LocalSnapshot {
        files: [
            ("closed".to_string(), at(NOW - 500)),
            ("written-again".to_string(), at(NOW - 100)),
            ("open".to_string(), at(NOW - 500)),
        ]
        .into(),
        ..Default::default()
    };
    let settled: BTreeMap<String, i64> =
        [("closed".to_string(), NOW - 400), ("written-again".to_string(), NOW - 400)].into();
    let remote = RemoteSnapshot::default();
    let p = plan(&PlanInput {
        base: &base,
        local: &local,
        remote: &remote,
        mode: Mode::TwoWay,
        now_ms: NOW,
        device: "d",
        quiet_ms: 3000,
        folds_case: false,
        settled: &settled,
    });
    assert_eq!(p.actions.iter().map(|a| a.path()).collect::<Vec<_>>(), ["closed"]);
    assert_eq!(p.waiting, ["open", "written-again"]);
}

/// A file dated far in the future is no file being written: it uploads
/// with a warning instead of waiting for ever (issue 8, point 7); one a
/// little ahead (clock skew) still waits.
#[test]
fn files_from_the_future_upload_with_a_warning() {
    let base = BTreeMap::new();
    let at = |mtime_ms| LocalFile { size: 1, mtime_ms, inode: 1, hash: None };
    let local = LocalSnapshot {
        files: [("future".to_string(), at(NOW + 86_400_000)), ("skewed".to_string(), at(NOW + 1_000))].into(),
        ..Default::default()
    };
    let remote = RemoteSnapshot::default();
    let p = plan(&PlanInput {
        base: &base,
        local: &local,
        remote: &remote,
        mode: Mode::TwoWay,
        now_ms: NOW,
        device: "d",
        quiet_ms: 3000,
        folds_case: false,
        settled: &crate::plan::NOTHING_SETTLED,
    });
    assert_eq!(p.actions.iter().map(|a| a.path()).collect::<Vec<_>>(), ["future"]);
    assert_eq!(p.waiting, ["skewed"]);
    assert_eq!(p.warnings.len(), 1);
    assert_eq!((p.warnings[0].path.as_str(), p.warnings[0].kind), ("future", WarningKind::FutureMtime));
}

#[test]
fn unknown_and_colliding_paths_are_never_decided() {
    // An unreadable folder: its base rows must not read as local deletes.
    let base: BTreeMap<_, _> =
        [("locked/a".to_string(), base_row("locked/a", "base")), ("x".to_string(), base_row("x", "base"))]
            .into();
    let local = LocalSnapshot { unreadable: vec!["locked".into()], ..Default::default() };
    // Remote: `x` is both a file and a folder, so both are unsyncable; `x` has
    // a base and is gone locally, yet nothing is deleted.
    let remote = RemoteSnapshot {
        files: [
            ("locked/a".to_string(), RemoteFile { key: "locked/a".into(), ..remote_file(Same).unwrap() }),
            ("x".to_string(), RemoteFile { key: "x".into(), ..remote_file(Same).unwrap() }),
            ("x/y".to_string(), RemoteFile { key: "x/y".into(), ..remote_file(Edit("n")).unwrap() }),
        ]
        .into(),
        ..Default::default()
    };
    let p = plan(&PlanInput {
        base: &base,
        local: &local,
        remote: &remote,
        mode: Mode::TwoWay,
        now_ms: NOW,
        device: "d",
        quiet_ms: 0,
        folds_case: false,
        settled: &crate::plan::NOTHING_SETTLED,
    });
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    let names: Vec<_> = p.unsyncable.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["x", "x/y"]);
}

/// However a folder is named in `unreadable` (as a path, with a trailing
/// `/`, or `""` for the whole root), nothing below it is decided: its
/// base rows are not local deletes (issue 8, point 4).
#[test]
fn every_spelling_of_an_unreadable_folder_protects_what_is_below() {
    let base: BTreeMap<_, _> = [("sub/a", "base"), ("sub/deep/b", "base"), ("top", "base")]
        .into_iter()
        .map(|(p, c)| (p.to_string(), base_row(p, c)))
        .collect();
    let remote = RemoteSnapshot {
        files: base
            .keys()
            .map(|p| (p.clone(), RemoteFile { key: p.clone(), ..remote_file(Same).unwrap() }))
            .collect(),
        ..Default::default()
    };
    for (unreadable, decided) in [("sub", &["top"][..]), ("sub/", &["top"][..]), ("", &[][..])] {
        let local = LocalSnapshot { unreadable: vec![unreadable.into()], ..Default::default() };
        let p = plan(&PlanInput {
            base: &base,
            local: &local,
            remote: &remote,
            mode: Mode::TwoWay,
            now_ms: NOW,
            device: "d",
            quiet_ms: 0,
            folds_case: false,
            settled: &crate::plan::NOTHING_SETTLED,
        });
        let paths: Vec<_> = p.actions.iter().map(|a| a.path()).collect();
        assert_eq!(paths, decided, "unreadable {unreadable:?}: {:?}", p.actions);
    }
}

/// A symbolic link, FIFO or socket where a synced folder or file was: the
/// scan reports it as unsyncable, and nothing at or below it is decided
/// (its base rows are not deletes, nothing is downloaded through it)
/// (issue 8, point 5).
#[test]
fn nothing_at_or_below_an_unsyncable_local_name_is_decided() {
    let base: BTreeMap<_, _> =
        [("photos/a", "base"), ("photos/2024/b", "base"), ("pipe", "base"), ("top", "base")]
            .into_iter()
            .map(|(p, c)| (p.to_string(), base_row(p, c)))
            .collect();
    let mut remote = RemoteSnapshot {
        files: base
            .keys()
            .map(|p| (p.clone(), RemoteFile { key: p.clone(), ..remote_file(Same).unwrap() }))
            .collect(),
        ..Default::default()
    };
    remote.files.insert(
        "photos/new".into(),
        RemoteFile { key: "photos/new".into(), ..remote_file(Edit("n")).unwrap() },
    );
    remote.files.remove("photos/a");
    let local = LocalSnapshot {
        files: [("top".to_string(), local_file(Same).unwrap())].into(),
        unsyncable: vec![
            Unsyncable { side: Side::Local, name: "photos".into(), reason: keypath::Reason::SymbolicLink },
            Unsyncable { side: Side::Local, name: "pipe".into(), reason: keypath::Reason::SpecialFile },
        ],
        ..Default::default()
    };
    let p = plan(&PlanInput {
        base: &base,
        local: &local,
        remote: &remote,
        mode: Mode::TwoWay,
        now_ms: NOW,
        device: "d",
        quiet_ms: 0,
        folds_case: false,
        settled: &crate::plan::NOTHING_SETTLED,
    });
    assert!(p.actions.is_empty(), "{:?}", p.actions);
}

// ---- property test: a simulated world driven through plan + a model executor ----

const PATHS: [&str; 3] = ["a.txt", "d/b.txt", "d/e/c"];

#[derive(Clone, Debug)]
enum Op {
    /// Write path; `copy` takes the other side's content when it has one.
    LocalWrite {
        path: usize,
        copy: bool,
        new_inode: bool,
    },
    LocalTouch(usize),
    LocalDelete(usize),
    RemoteWrite {
        path: usize,
        copy: bool,
        sha: bool,
    },
    RemoteDelete(usize),
    Sync,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, any::<bool>(), any::<bool>()).prop_map(|(path, copy, new_inode)| Op::LocalWrite {
            path,
            copy,
            new_inode
        }),
        (0..3usize).prop_map(Op::LocalTouch),
        (0..3usize).prop_map(Op::LocalDelete),
        (0..3usize, any::<bool>(), any::<bool>()).prop_map(|(path, copy, sha)| Op::RemoteWrite {
            path,
            copy,
            sha
        }),
        (0..3usize).prop_map(Op::RemoteDelete),
        Just(Op::Sync),
    ]
}

#[derive(Clone, Debug)]
struct Loc {
    content: u64,
    mtime: i64,
    inode: u64,
}

#[derive(Clone, Debug)]
struct Obj {
    content: u64,
    etag: String,
    sha: bool,
}

#[derive(Default)]
struct World {
    local: BTreeMap<String, Loc>,
    remote: BTreeMap<String, Obj>,
    base: BTreeMap<String, BaselineRow>,
    trash: Vec<u64>,
    tick: i64,
    next: u64,
}

/// Sizes collide often on purpose, so hashes have doubts to settle.
fn size_of(content: u64) -> u64 {
    content % 3
}

impl World {
    fn fresh(&mut self) -> u64 {
        self.next += 1;
        self.next
    }
    fn now(&mut self) -> i64 {
        self.tick += 1;
        1_000 + self.tick
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::LocalWrite { path, copy, new_inode } => {
                let p = PATHS[path];
                let content = match (copy, self.remote.get(p)) {
                    (true, Some(o)) => o.content,
                    _ => self.fresh(),
                };
                let mtime = self.now();
                let inode = match (new_inode, self.local.get(p)) {
                    (false, Some(l)) => l.inode,
                    _ => self.fresh(),
                };
                self.local.insert(p.into(), Loc { content, mtime, inode });
            }
            Op::LocalTouch(path) => {
                let mtime = self.now();
                if let Some(l) = self.local.get_mut(PATHS[path]) {
                    l.mtime = mtime;
                }
            }
            Op::LocalDelete(path) => {
                self.local.remove(PATHS[path]);
            }
            Op::RemoteWrite { path, copy, sha } => {
                let p = PATHS[path];
                let content = match (copy, self.local.get(p)) {
                    (true, Some(l)) => l.content,
                    _ => self.fresh(),
                };
                let etag = format!("etag{}", self.fresh());
                self.remote.insert(p.into(), Obj { content, etag, sha });
            }
            Op::RemoteDelete(path) => {
                self.remote.remove(PATHS[path]);
            }
            Op::Sync => unreachable!(),
        }
    }

    fn local_file(&self, p: &str, with_hash: bool) -> LocalFile {
        let l = &self.local[p];
        LocalFile {
            size: size_of(l.content),
            mtime_ms: l.mtime,
            inode: l.inode,
            hash: with_hash.then(|| format!("h:{}", l.content)),
        }
    }

    /// Snapshots as scan + listing + the doubt-settling reads would produce them.
    fn snapshots(&self) -> (LocalSnapshot, RemoteSnapshot) {
        let mut local = LocalSnapshot {
            files: self.local.keys().map(|p| (p.clone(), self.local_file(p, false))).collect(),
            ..Default::default()
        };
        let mut remote = RemoteSnapshot {
            files: self
                .remote
                .iter()
                .map(|(p, o)| {
                    let f = RemoteFile {
                        key: p.clone(),
                        size: size_of(o.content),
                        etag: o.etag.clone(),
                        last_modified_ms: None,
                        mtime_ms: None,
                        sha256: None,
                    };
                    (p.clone(), f)
                })
                .collect(),
            ..Default::default()
        };
        for p in paths_to_hash(&self.base, &local, &remote) {
            local.files.get_mut(&p).unwrap().hash = Some(format!("h:{}", self.local[&p].content));
        }
        for p in keys_to_head(&self.base, &local, &remote) {
            let o = &self.remote[&p];
            remote.files.get_mut(&p).unwrap().sha256 = o.sha.then(|| format!("h:{}", o.content));
        }
        (local, remote)
    }

    fn plan(&self, mode: Mode) -> Plan {
        let (local, remote) = self.snapshots();
        plan(&PlanInput {
            base: &self.base,
            local: &local,
            remote: &remote,
            mode,
            now_ms: NOW + self.tick * 1000,
            device: "dev",
            quiet_ms: 0,
            folds_case: false,
            settled: &crate::plan::NOTHING_SETTLED,
        })
    }

    fn record(&mut self, p: &str) {
        let l = self.local[p].clone();
        let o = self.remote[p].clone();
        assert_eq!(l.content, o.content, "a base is only recorded for equal content ({p})");
        self.base.insert(
            p.into(),
            BaselineRow {
                path: p.into(),
                local: LocalFile {
                    size: size_of(l.content),
                    mtime_ms: l.mtime,
                    inode: l.inode,
                    hash: Some(format!("h:{}", l.content)),
                },
                remote_etag: o.etag,
                remote_size: size_of(o.content),
                remote_mtime_ms: None,
                // Recorded long after the write: not racily clean.
                synced_ms: l.mtime + 10 * RACY_MS,
            },
        );
    }

    fn upload(&mut self, p: &str) {
        let content = self.local[p].content;
        let etag = format!("etag{}", self.fresh());
        self.remote.insert(p.into(), Obj { content, etag, sha: true });
    }

    fn download(&mut self, p: &str) {
        let content = self.remote[p].content;
        let (mtime, inode) = (self.now(), self.fresh());
        self.local.insert(p.into(), Loc { content, mtime, inode });
    }

    /// What execute.rs does, on the model.
    fn execute(&mut self, plan: &Plan) {
        for a in &plan.actions {
            match a {
                Action::Upload { path, .. } => {
                    self.upload(path);
                    self.record(path);
                }
                Action::Download { path, .. } => {
                    self.download(path);
                    self.record(path);
                }
                Action::DeleteLocal { path, .. } => {
                    let l = self.local.remove(path).unwrap();
                    assert_eq!(
                        Some(format!("h:{}", l.content)),
                        self.base[path].local.hash,
                        "only synced content is ever moved to the trash"
                    );
                    self.trash.push(l.content);
                    self.base.remove(path);
                }
                Action::DeleteRemote { path, .. } => {
                    let o = self.remote.remove(path).unwrap();
                    assert_eq!(
                        Some(format!("h:{}", o.content)),
                        self.base[path].local.hash,
                        "only synced content is ever deleted from the bucket"
                    );
                    self.base.remove(path);
                }
                Action::Adopt { path, .. } => self.record(path),
                Action::Conflict { path, copy, upload_copy, .. } => {
                    let mine = self.local.remove(path).unwrap();
                    self.download(path);
                    if mine.content == self.remote[path].content {
                        // Equal after all: no copy needed.
                    } else {
                        self.local.insert(copy.clone(), mine);
                        if *upload_copy {
                            self.upload(copy);
                            self.record(copy);
                        }
                    }
                    self.record(path);
                }
                Action::Forget { path } => {
                    self.base.remove(path);
                }
                Action::Refresh { path, .. } => self.record(path),
            }
        }
    }

    /// Contents not yet propagated: edits that must survive the pass.
    fn unsynced_edits(&self, mode: Mode) -> Vec<u64> {
        let base_hash = |p: &str| self.base.get(p).and_then(|b| b.local.hash.clone());
        let mut out = Vec::new();
        for (p, l) in &self.local {
            if base_hash(p) != Some(format!("h:{}", l.content)) {
                out.push(l.content);
            }
        }
        if mode != Mode::Upload {
            for (p, o) in &self.remote {
                if base_hash(p) != Some(format!("h:{}", o.content)) {
                    out.push(o.content);
                }
            }
        }
        out
    }
}

fn check_pass(w: &mut World, mode: Mode) -> Result<(), TestCaseError> {
    let edits = w.unsynced_edits(mode);
    let p = w.plan(mode);
    w.execute(&p);
    // Nothing lost: every unsynced edit is still on one of the sides.
    for c in edits {
        let present = w.local.values().any(|l| l.content == c) || w.remote.values().any(|o| o.content == c);
        prop_assert!(present, "edit {c} was lost by {:?}", p.actions);
    }
    // No ping-pong: the next pass has nothing to do.
    let again = w.plan(mode);
    prop_assert!(again.actions.is_empty(), "second pass after {:?} planned {:?}", p.actions, again.actions);
    if mode == Mode::TwoWay {
        // Converged: both sides hold the same paths with the same content.
        let l: BTreeMap<_, _> = w.local.iter().map(|(p, l)| (p.clone(), l.content)).collect();
        let r: BTreeMap<_, _> = w.remote.iter().map(|(p, o)| (p.clone(), o.content)).collect();
        prop_assert_eq!(l, r);
    }
    Ok(())
}

fn run_ops(mode: Mode, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut w = World::default();
    for op in &ops {
        match op {
            Op::Sync => check_pass(&mut w, mode)?,
            other => w.apply(other),
        }
    }
    check_pass(&mut w, mode)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn two_way_converges_without_loss_or_ping_pong(ops in prop::collection::vec(op(), 1..30)) {
        run_ops(Mode::TwoWay, ops)?;
    }

    #[test]
    fn upload_mode_keeps_local_edits_and_settles(ops in prop::collection::vec(op(), 1..30)) {
        run_ops(Mode::Upload, ops)?;
    }

    #[test]
    fn download_mode_keeps_every_edit_and_settles(ops in prop::collection::vec(op(), 1..30)) {
        run_ops(Mode::Download, ops)?;
    }
}

/// Two devices against one bucket, each with its own base: both edit
/// offline, sync in turn; one conflict copy per divergent edit, then quiet.
#[test]
fn two_devices_edit_offline_and_converge_with_one_copy() {
    let mut bucket: BTreeMap<String, Obj> = BTreeMap::new();
    let mut a = World { next: 1000, ..Default::default() };
    let mut b = World { next: 2000, ..Default::default() };
    a.apply(&Op::LocalWrite { path: 0, copy: false, new_inode: false });
    a.remote = bucket.clone();
    check_pass(&mut a, Mode::TwoWay).unwrap();
    bucket = a.remote.clone();
    b.remote = bucket.clone();
    check_pass(&mut b, Mode::TwoWay).unwrap();
    bucket = b.remote.clone();
    // Offline edits on both devices.
    a.apply(&Op::LocalWrite { path: 0, copy: false, new_inode: false });
    b.apply(&Op::LocalWrite { path: 0, copy: false, new_inode: true });
    for turn in 0..4 {
        let w = if turn % 2 == 0 { &mut a } else { &mut b };
        w.remote = bucket.clone();
        check_pass(w, Mode::TwoWay).unwrap();
        bucket = w.remote.clone();
    }
    assert_eq!(bucket.len(), 2, "the original and one conflict copy: {bucket:?}");
    assert_eq!(a.local.len(), 2);
    assert_eq!(a.local.keys().collect::<Vec<_>>(), b.local.keys().collect::<Vec<_>>());
}

/// A synced file that a crash left empty with its old mtime is not sent
/// over the good copy: two-way keeps it as a conflict (the good version
/// takes the name back), upload mode leaves it alone and says why; an
/// empty file with a new mtime was emptied on purpose and uploads.
#[test]
fn an_emptied_file_with_its_old_mtime_is_not_uploaded() {
    let base: BTreeMap<_, _> = [("f".to_string(), base_row("f", "base"))].into();
    let local = |mtime_ms| LocalSnapshot {
        files: [("f".to_string(), LocalFile { size: 0, mtime_ms, inode: 1, hash: None })].into(),
        ..Default::default()
    };
    let remote = RemoteSnapshot {
        files: [("f".to_string(), remote_file(Same).unwrap())].into(),
        ..Default::default()
    };
    let plan_with = |mode, mtime_ms| {
        let local = local(mtime_ms);
        plan(&PlanInput {
            base: &base,
            local: &local,
            remote: &remote,
            mode,
            now_ms: NOW,
            device: "laptop",
            quiet_ms: 0,
            folds_case: false,
            settled: &crate::plan::NOTHING_SETTLED,
        })
    };
    let crashed = plan_with(Mode::TwoWay, 100);
    assert_eq!(crashed.actions.iter().map(kind).collect::<Vec<_>>(), ["conflict"], "{crashed:?}");
    let older = plan_with(Mode::TwoWay, 50);
    assert_eq!(older.actions.iter().map(kind).collect::<Vec<_>>(), ["conflict"]);
    let upload_mode = plan_with(Mode::Upload, 100);
    assert!(upload_mode.actions.is_empty(), "{upload_mode:?}");
    assert_eq!(upload_mode.unsyncable.len(), 1);
    assert_eq!(upload_mode.unsyncable[0].reason, keypath::Reason::EmptiedByCrash);
    let download_mode = plan_with(Mode::Download, 100);
    assert_eq!(download_mode.actions.iter().map(kind).collect::<Vec<_>>(), ["conflict-keep-local"]);
    let on_purpose = plan_with(Mode::TwoWay, 300);
    assert_eq!(on_purpose.actions.iter().map(kind).collect::<Vec<_>>(), ["upload"]);
}
