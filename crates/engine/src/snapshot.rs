//! Typed snapshots of both sides: the local scan and the remote listing.
//!
//! A scan that cannot see something says so ([`LocalSnapshot::unreadable`],
//! [`ScanError`]); a listing that fails or ends early is an error, never an
//! empty or short snapshot, because a missing file would read as a delete.

use crate::base;
use crate::ignore::IgnoreRules;
use crate::keypath::{self, KeyMeaning, Reason, Side, Unsyncable};
use bucketsync_remote::{Remote, RemoteError};
use bucketsync_store::BaselineRow;
pub use bucketsync_store::LocalFile;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// An object as the listing (and, when needed, a HEAD) described it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RemoteFile {
    pub key: String,
    pub size: u64,
    /// Opaque change token.
    pub etag: String,
    pub last_modified_ms: Option<i64>,
    /// The `mtime` user metadata, when a HEAD read it.
    pub mtime_ms: Option<i64>,
    /// The `sha256` user metadata, when a HEAD read it.
    pub sha256: Option<String>,
}

impl RemoteFile {
    pub fn meta(&self) -> bucketsync_remote::ObjectMeta {
        bucketsync_remote::ObjectMeta {
            key: self.key.clone(),
            size: self.size,
            etag: self.etag.clone(),
            last_modified_ms: self.last_modified_ms,
            mtime_ms: self.mtime_ms,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalSnapshot {
    /// Relative path -> file.
    pub files: BTreeMap<String, LocalFile>,
    pub unsyncable: Vec<Unsyncable>,
    /// Folders (relative) that could not be read: nothing below them is
    /// known, so nothing below them may be decided.
    pub unreadable: Vec<String>,
    /// Download temp files ([`crate::transfer::TEMP_PREFIX`]), for the sweep
    /// of those a killed process left behind; never synced.
    pub temp_files: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteSnapshot {
    pub files: BTreeMap<String, RemoteFile>,
    pub unsyncable: Vec<Unsyncable>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("the folder {0} does not exist (is a drive unmounted?)")]
    RootMissing(PathBuf),
    #[error("{0} is not a folder")]
    RootNotFolder(PathBuf),
    #[error("cannot read the folder {path}: {source}")]
    RootUnreadable { path: PathBuf, source: std::io::Error },
}

/// Whether `root` is a folder this process can list. Checked before
/// anything inside is read (the ignore file too), so a missing or
/// unreadable folder is reported as that.
pub fn check_root(root: &Path) -> Result<(), ScanError> {
    match std::fs::metadata(root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ScanError::RootMissing(root.into())),
        Err(source) => Err(ScanError::RootUnreadable { path: root.into(), source }),
        Ok(m) if !m.is_dir() => Err(ScanError::RootNotFolder(root.into())),
        Ok(_) => std::fs::read_dir(root)
            .map(drop)
            .map_err(|source| ScanError::RootUnreadable { path: root.into(), source }),
    }
}

/// One folder's entries as the scan reads them.
pub type Entries = Box<dyn Iterator<Item = std::io::Result<std::fs::DirEntry>>>;

/// Walks `root` without following symbolic links. Ignored paths are left
/// out; names that cannot be keys are listed as unsyncable.
pub fn scan_local(root: &Path, rules: &IgnoreRules) -> Result<LocalSnapshot, ScanError> {
    scan_local_with(root, rules, &|_, entries| Box::new(entries))
}

/// [`scan_local`] with a seam: `entries` gets each folder's relative path
/// (`""` for the root) and its listing, and returns what the scan reads.
/// Tests inject a read error part-way through a folder with it; such
/// errors (a failing disk, a dropped network share) cannot be provoked
/// on demand, and root, as CI runs, ignores permissions.
pub fn scan_local_with(
    root: &Path,
    rules: &IgnoreRules,
    entries: &dyn Fn(&str, std::fs::ReadDir) -> Entries,
) -> Result<LocalSnapshot, ScanError> {
    check_root(root)?;
    let mut snap = LocalSnapshot::default();
    let listing =
        std::fs::read_dir(root).map_err(|source| ScanError::RootUnreadable { path: root.into(), source })?;
    walk(root, rules, entries, vec![(String::new(), entries("", listing))], &mut snap)?;
    Ok(snap)
}

/// Scans the folder `dir` (relative, not the root) and everything below
/// it, as [`scan_local`] would see that part of the tree: a pass over one
/// changed folder. The caller has checked that `dir` is a folder (not a
/// link) inside the root and not ignored; a `dir` that cannot be listed is
/// recorded as unreadable, like any folder of a full scan.
pub fn scan_below(root: &Path, dir: &str, rules: &IgnoreRules) -> LocalSnapshot {
    let mut snap = LocalSnapshot::default();
    let entries: &dyn Fn(&str, std::fs::ReadDir) -> Entries = &|_, e| Box::new(e) as Entries;
    match std::fs::read_dir(root.join(dir)) {
        Ok(listing) => {
            let start = vec![(format!("{dir}/"), entries(dir, listing))];
            // Only a failure in the root stops a walk, and this one starts below it.
            walk(root, rules, entries, start, &mut snap).expect("a walk below the root does not fail");
        }
        Err(_) => snap.unreadable.push(dir.to_string()),
    }
    snap
}

/// The walk of [`scan_local_with`] from the folders on `stack`.
fn walk(
    root: &Path,
    rules: &IgnoreRules,
    entries: &dyn Fn(&str, std::fs::ReadDir) -> Entries,
    mut stack: Vec<(String, Entries)>,
    snap: &mut LocalSnapshot,
) -> Result<(), ScanError> {
    // Folders are kept as `rel/` (`""` for the root), so a name appends directly.
    while let Some((dir_rel, mut entries_of_dir)) = stack.pop() {
        let mut pending = Vec::new();
        loop {
            let entry = match entries_of_dir.next() {
                None => break,
                Some(Ok(e)) => e,
                // The rest of this folder is unknown. Recorded under the
                // folder's own path (no trailing `/`), as the planner names
                // paths; the root failing is the root being unreadable.
                Some(Err(source)) => match dir_rel.strip_suffix('/') {
                    Some(dir) => {
                        snap.unreadable.push(dir.to_string());
                        break;
                    }
                    None => return Err(ScanError::RootUnreadable { path: root.into(), source }),
                },
            };
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                let shown = format!("{dir_rel}{}", name.to_string_lossy());
                snap.unsyncable.push(Unsyncable { side: Side::Local, name: shown, reason: Reason::NotUtf8 });
                continue;
            };
            let rel = format!("{dir_rel}{name}");
            let Ok(kind) = entry.file_type() else {
                snap.unreadable.push(rel);
                continue;
            };
            if kind.is_dir() {
                if rules.is_ignored_dir(&rel) {
                    continue;
                }
                if let Err(reason) = keypath::check_relative(&rel) {
                    snap.unsyncable.push(Unsyncable { side: Side::Local, name: rel, reason });
                    continue;
                }
                match std::fs::read_dir(entry.path()) {
                    Ok(sub) => pending.push((format!("{rel}/"), entries(&rel, sub))),
                    Err(_) => snap.unreadable.push(rel),
                }
                continue;
            }
            if kind.is_file() && name.starts_with(crate::transfer::TEMP_PREFIX) {
                snap.temp_files.push(rel);
                continue;
            }
            if rules.is_ignored(&rel) {
                continue;
            }
            let reason = if kind.is_symlink() {
                Some(Reason::SymbolicLink)
            } else if !kind.is_file() {
                Some(Reason::SpecialFile)
            } else {
                keypath::check_relative(&rel).err()
            };
            if let Some(reason) = reason {
                snap.unsyncable.push(Unsyncable { side: Side::Local, name: rel, reason });
                continue;
            }
            match entry.metadata() {
                Ok(m) => {
                    snap.files.insert(rel, stat(&m));
                }
                // Vanished since the listing of its folder: simply not there.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(_) => snap.unreadable.push(rel),
            }
        }
        stack.extend(pending);
    }
    snap.unsyncable.sort();
    snap.unreadable.sort();
    Ok(())
}

/// A file's stat as the engine records it (no hash yet).
pub fn stat(m: &std::fs::Metadata) -> LocalFile {
    LocalFile { size: m.len(), mtime_ms: mtime_ms(m), inode: m.ino(), hash: None }
}

/// Modification time in Unix milliseconds, rounded down (also before 1970:
/// `mtime_nsec` is always the non-negative part).
pub fn mtime_ms(m: &std::fs::Metadata) -> i64 {
    m.mtime() * 1000 + m.mtime_nsec() / 1_000_000
}

/// Lists every object under `prefix`. Any failed page fails the whole listing.
pub async fn list_remote(
    remote: &dyn Remote,
    prefix: &str,
    rules: &IgnoreRules,
) -> Result<RemoteSnapshot, RemoteError> {
    list_keys(remote, prefix, prefix, rules).await
}

/// Lists the objects at relative path `rel` and below it (`rel/...`), as
/// [`list_remote`] would see that part of the prefix: one LIST with the
/// key as its prefix (a few pages for a big folder), not the whole prefix.
pub async fn list_remote_below(
    remote: &dyn Remote,
    prefix: &str,
    rel: &str,
    rules: &IgnoreRules,
) -> Result<RemoteSnapshot, RemoteError> {
    let key = keypath::key_for(prefix, rel);
    let mut snap = list_keys(remote, &key, prefix, rules).await?;
    // The key as a prefix also lists its neighbours (`rel.txt`, `relx/`).
    let below = |rest: &str| rest == rel || rest.strip_prefix(rel).is_some_and(|r| r.starts_with('/'));
    snap.files.retain(|p, _| below(p));
    snap.unsyncable.retain(|u| u.name.strip_prefix(prefix).is_some_and(below));
    Ok(snap)
}

/// Lists the keys starting with `list_prefix` (the pair's `prefix` or a
/// longer one), named relative to the pair's `prefix`.
async fn list_keys(
    remote: &dyn Remote,
    list_prefix: &str,
    prefix: &str,
    rules: &IgnoreRules,
) -> Result<RemoteSnapshot, RemoteError> {
    let mut snap = RemoteSnapshot::default();
    // Keys come sorted; gathered first and built in one go, the tree's
    // nodes are packed full (inserted in order, each is left half empty).
    let mut files = Vec::new();
    let mut token = None;
    loop {
        let page = remote.list_page(list_prefix, token).await?;
        for o in page.objects {
            if !o.key.starts_with(list_prefix) {
                continue; // never ours
            }
            match keypath::relative_from_key(prefix, &o.key, o.size) {
                Ok(KeyMeaning::FolderMarker) => {}
                Ok(KeyMeaning::File(rel)) => {
                    if rules.is_ignored(&rel) {
                        continue;
                    }
                    files.push((
                        rel,
                        RemoteFile {
                            key: o.key,
                            size: o.size,
                            etag: o.etag,
                            last_modified_ms: o.last_modified_ms,
                            mtime_ms: o.mtime_ms,
                            sha256: None,
                        },
                    ));
                }
                Err(reason) => snap.unsyncable.push(Unsyncable { side: Side::Remote, name: o.key, reason }),
            }
        }
        match page.continuation {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    snap.files = files.into_iter().collect();
    snap.unsyncable.sort();
    Ok(snap)
}

/// Hex SHA-256 of a file's content.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex, as hashes are written to and compared with metadata.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Paths whose local content must be hashed before planning: a file whose
/// stat changed but whose size did not (maybe only touched), a file whose
/// base was recorded right after a write (see [`base::racy`]), and a file on
/// both sides with equal sizes where the remote side is new or changed
/// (maybe equal content, to adopt without transfer).
pub fn paths_to_hash(
    base: &BTreeMap<String, BaselineRow>,
    local: &LocalSnapshot,
    remote: &RemoteSnapshot,
) -> Vec<String> {
    let mut out = Vec::new();
    for (path, l) in &local.files {
        let b = base.get(path);
        let r = remote.files.get(path);
        let touched =
            b.is_some_and(|b| b.local.hash.is_some() && b.local.size == l.size && !base::local_matches(b, l));
        let racy = b.is_some_and(|b| b.local.hash.is_some() && base::local_matches(b, l) && base::racy(b));
        let local_new = b.is_none_or(|b| !base::local_matches(b, l));
        let remote_new = r.is_some_and(|r| b.is_none_or(|b| !base::remote_matches(b, r.size, &r.etag)));
        let maybe_equal = r.is_some_and(|r| r.size == l.size) && remote_new && local_new;
        if touched || racy || maybe_equal {
            out.push(path.clone());
        }
    }
    out
}

/// Keys whose metadata (`sha256`, `mtime`) must be read before planning:
/// objects new or changed since the base whose size matches the local file
/// (equal content is adopted) or the base (an identical re-upload is no change).
pub fn keys_to_head(
    base: &BTreeMap<String, BaselineRow>,
    local: &LocalSnapshot,
    remote: &RemoteSnapshot,
) -> Vec<String> {
    let mut out = Vec::new();
    for (path, r) in &remote.files {
        let b = base.get(path);
        let changed = b.is_none_or(|b| !base::remote_matches(b, r.size, &r.etag));
        if !changed {
            continue;
        }
        let size_matches_local = local.files.get(path).is_some_and(|l| l.size == r.size);
        let size_matches_base = b.is_some_and(|b| b.local.hash.is_some() && b.remote_size == r.size);
        if size_matches_local || size_matches_base {
            out.push(path.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn rules() -> IgnoreRules {
        IgnoreRules::from_text("skip/\n").unwrap()
    }

    #[test]
    fn scan_sees_files_skips_ignored_and_reports_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(root.join("skip")).unwrap();
        std::fs::write(root.join("a/b/f.txt"), "hello").unwrap();
        std::fs::write(root.join("empty"), "").unwrap();
        std::fs::write(root.join("skip/x"), "x").unwrap();
        std::fs::write(root.join(".DS_Store"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        std::fs::write(root.join("bad\nname"), "x").unwrap();
        let snap = scan_local(root, &rules()).unwrap();
        assert_eq!(snap.files.keys().collect::<Vec<_>>(), ["a/b/f.txt", "empty"]);
        assert_eq!(snap.files["a/b/f.txt"].size, 5);
        let reasons: Vec<_> = snap.unsyncable.iter().map(|u| (u.name.as_str(), &u.reason)).collect();
        assert_eq!(reasons, [("bad\nname", &Reason::ControlCharacter), ("link", &Reason::SymbolicLink)]);
    }

    #[test]
    fn missing_root_is_an_error_not_an_empty_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(scan_local(&dir.path().join("gone"), &rules()), Err(ScanError::RootMissing(_))));
        std::fs::write(dir.path().join("file"), "").unwrap();
        assert!(matches!(scan_local(&dir.path().join("file"), &rules()), Err(ScanError::RootNotFolder(_))));
    }

    #[test]
    fn unreadable_folder_is_marked_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let locked = dir.path().join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::write(locked.join("f"), "x").unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        let readable_anyway = std::fs::read_dir(&locked).is_ok(); // root ignores modes
        let snap = scan_local(dir.path(), &rules()).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
        if !readable_anyway {
            assert_eq!(snap.unreadable, ["locked"]);
            assert!(snap.files.is_empty());
        }
    }

    /// Reads folder `folder` (relative, `""` for the root) up to `n`
    /// entries, then fails as a dying disk or a dropped share would.
    fn fail_after(folder: &'static str, n: usize) -> impl Fn(&str, std::fs::ReadDir) -> Entries {
        move |dir, listing| {
            if dir == folder {
                let failure = std::io::Error::other("injected read error");
                Box::new(listing.take(n).chain(std::iter::once(Err(failure))))
            } else {
                Box::new(listing)
            }
        }
    }

    /// Base rows and an unchanged remote for every file of `snap`: a pair in sync.
    fn in_sync(snap: &LocalSnapshot) -> (BTreeMap<String, BaselineRow>, RemoteSnapshot) {
        let mut base = BTreeMap::new();
        let mut listing = RemoteSnapshot::default();
        for (path, l) in &snap.files {
            let r = RemoteFile { key: path.clone(), ..remote(l.size, &format!("e:{path}")) };
            base.insert(
                path.clone(),
                BaselineRow {
                    path: path.clone(),
                    local: l.clone(),
                    remote_etag: r.etag.clone(),
                    remote_size: r.size,
                    remote_mtime_ms: None,
                    synced_ms: l.mtime_ms + 60_000,
                },
            );
            listing.files.insert(path.clone(), r);
        }
        (base, listing)
    }

    fn plan_of(
        base: &BTreeMap<String, BaselineRow>,
        local: &LocalSnapshot,
        remote: &RemoteSnapshot,
    ) -> crate::plan::Plan {
        crate::plan::plan(&crate::plan::PlanInput {
            base,
            local,
            remote,
            mode: crate::pair::Mode::TwoWay,
            now_ms: i64::MAX / 2,
            device: "d",
            quiet_ms: 0,
            folds_case: false,
            settled: &crate::plan::NOTHING_SETTLED,
        })
    }

    /// Issue 8, point 4: a read error part-way through a folder left the
    /// folder recorded as `sub/`, which the planner's "unknown" check did
    /// not match, so the files it never listed read as deleted locally.
    #[test]
    fn a_read_error_mid_folder_leaves_what_was_not_listed_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("sub/deep")).unwrap();
        for f in ["sub/a", "sub/b", "sub/c", "sub/deep/d", "top"] {
            std::fs::write(root.join(f), f).unwrap();
        }
        let full = scan_local(root, &rules()).unwrap();
        assert_eq!(full.files.len(), 5);
        let (base, remote) = in_sync(&full);

        let partial = scan_local_with(root, &rules(), &fail_after("sub", 1)).unwrap();
        assert_eq!(partial.unreadable, ["sub"], "the folder, as the planner names paths");
        assert!(partial.files.len() < 5, "the scan stopped part-way through sub: {:?}", partial.files);
        let plan = plan_of(&base, &partial, &remote);
        assert!(plan.actions.is_empty(), "nothing below an unreadable folder is decided: {:?}", plan.actions);
    }

    /// The root failing part-way is the root being unreadable: the pass stops.
    #[test]
    fn a_read_error_mid_root_stops_the_scan() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["a", "b", "c"] {
            std::fs::write(dir.path().join(f), f).unwrap();
        }
        let result = scan_local_with(dir.path(), &rules(), &fail_after("", 1));
        assert!(matches!(result, Err(ScanError::RootUnreadable { .. })), "{result:?}");
    }

    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(hex(&[0x00, 0xab, 0x0f]), "00ab0f");
    }

    #[test]
    fn hash_is_hex_sha256() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "abc").unwrap();
        assert_eq!(
            hash_file(&dir.path().join("f")).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    fn base(size: u64, mtime: i64, etag: &str) -> BaselineRow {
        BaselineRow {
            path: "f".into(),
            local: LocalFile { size, mtime_ms: mtime, inode: 1, hash: Some("h".into()) },
            remote_etag: etag.into(),
            remote_size: size,
            remote_mtime_ms: None,
            synced_ms: mtime + 60_000,
        }
    }

    fn remote(size: u64, etag: &str) -> RemoteFile {
        RemoteFile {
            key: "f".into(),
            size,
            etag: etag.into(),
            last_modified_ms: None,
            mtime_ms: None,
            sha256: None,
        }
    }

    #[test]
    fn doubts_are_settled_only_where_they_exist() {
        let l = |size, mtime| LocalSnapshot {
            files: [("f".to_string(), LocalFile { size, mtime_ms: mtime, inode: 1, hash: None })].into(),
            ..Default::default()
        };
        let r = |size, etag: &str| RemoteSnapshot {
            files: [("f".to_string(), remote(size, etag))].into(),
            ..Default::default()
        };
        let b: BTreeMap<_, _> = [("f".to_string(), base(3, 10, "e"))].into();
        // Unchanged on both sides: no hashing, no HEAD.
        assert!(paths_to_hash(&b, &l(3, 10), &r(3, "e")).is_empty());
        assert!(keys_to_head(&b, &l(3, 10), &r(3, "e")).is_empty());
        // Touched (same size, new mtime): hash to see whether it really changed.
        assert_eq!(paths_to_hash(&b, &l(3, 11), &r(3, "e")), ["f"]);
        // Size changed locally and remote unchanged: certainly modified, no hash needed.
        assert!(paths_to_hash(&b, &l(4, 11), &r(3, "e")).is_empty());
        // First sync, equal sizes: hash and HEAD to adopt without transfer.
        let none = BTreeMap::new();
        assert_eq!(paths_to_hash(&none, &l(3, 10), &r(3, "x")), ["f"]);
        assert_eq!(keys_to_head(&none, &l(3, 10), &r(3, "x")), ["f"]);
        // First sync, different sizes: they differ, nothing to read.
        assert!(paths_to_hash(&none, &l(3, 10), &r(4, "x")).is_empty());
        assert!(keys_to_head(&none, &l(3, 10), &r(4, "x")).is_empty());
    }
}
