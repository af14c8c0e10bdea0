//! Local faults under a real pass against Garage: the disk fills during a
//! download (a small tmpfs), the folder turns read-only (a read-only bind
//! mount), a file grows while it uploads, a crash leaves a synced file
//! empty with its old mtime, and the folder's disk is unmounted under it.
//! Mounting needs root, as CI runs (ENVIRONMENT.md lists these tools).

mod support;

use bucketsync_engine::event::{FaultKind, PairStatus};
use bucketsync_engine::pass::PassError;
use bucketsync_remote::Remote;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use support::device::{device, garage, noise, sha, Device, MIB};
use support::{Hook, Hooked};

/// A mount made for one test, unmounted (lazily, so a test that fails
/// half-way never leaves it behind) when dropped.
struct Mount {
    at: PathBuf,
}

impl Mount {
    fn run(args: &[&str], at: &Path) {
        let status = Command::new(args[0]).args(&args[1..]).arg(at).status().unwrap();
        assert!(status.success(), "{args:?} {} failed (mounting needs root, as CI runs)", at.display());
    }

    /// A tmpfs of `size` (e.g. `8m`) at `at`.
    fn tmpfs(at: &Path, size: &str) -> Mount {
        std::fs::create_dir_all(at).unwrap();
        Mount::run(&["mount", "-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"], at);
        Mount { at: at.to_path_buf() }
    }

    /// `at` bound onto itself, read-only.
    fn read_only(at: &Path) -> Mount {
        let s = at.to_str().unwrap();
        Mount::run(&["mount", "--bind", s], at);
        let m = Mount { at: at.to_path_buf() };
        Mount::run(&["mount", "-o", "remount,bind,ro"], at);
        m
    }

    fn remount(&self, options: &str) {
        Mount::run(&["mount", "-o", &format!("remount,{options}")], &self.at);
    }

    fn unmount(self) {
        Mount::run(&["umount"], &self.at);
        std::mem::forget(self);
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

fn temp_files(dev: &Device) -> Vec<String> {
    dev.files().into_iter().filter(|f| f.contains(".bucketsync-tmp-")).collect()
}

/// The disk fills during a download: the pass says "disk full", no partial
/// file reaches the final name, no temp file stays, uploads still go out;
/// once there is room the next pass converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_during_a_download_is_reported_and_recovers() {
    let (remote, other, bucket) = garage("disk-full");
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("root");
    let disk = Mount::tmpfs(&root, "8m");
    let dev = device(remote, &bucket, Some(root.clone()));
    let big = noise(12 * MIB, 11);
    other.put("big.bin", big.clone()).await;
    dev.write("mine.txt", "made here");

    let r = dev.pass().await.unwrap();
    assert_eq!(r.uploaded, ["mine.txt"], "a full disk does not stop uploads");
    assert_eq!(r.errors.len(), 1, "{r:?}");
    assert_eq!((r.errors[0].path.as_str(), r.errors[0].kind), ("big.bin", FaultKind::DiskFull));
    match dev.last_status() {
        Some(PairStatus::Error { kind: FaultKind::DiskFull, message, .. }) => {
            assert!(message.starts_with("disk full: download big.bin"), "{message}")
        }
        s => panic!("status after a full disk: {s:?}"),
    }
    assert!(!root.join("big.bin").exists(), "no partial file at the final path");
    assert!(temp_files(&dev).is_empty(), "{:?}", temp_files(&dev));
    assert_eq!(other.get("big.bin").await.unwrap().len(), big.len(), "the bucket keeps its copy");

    disk.remount("size=64m");
    let r = dev.sync().await;
    assert_eq!(r.downloaded, ["big.bin"]);
    assert_eq!(sha(&dev.read("big.bin").unwrap()), sha(&big));
    dev.assert_quiet().await;
}

/// The folder becomes read-only (a remount): remote changes cannot land,
/// the status says the folder is read-only, local edits still upload, and
/// nothing is deleted anywhere; writable again, the pass converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_folder_is_reported_and_nothing_is_lost() {
    let (remote, other, bucket) = garage("read-only");
    let dev = device(remote, &bucket, None);
    for (p, c) in [("keep.txt", "keep"), ("edit.txt", "v1"), ("gone.txt", "bye"), ("d/old.txt", "old")] {
        dev.write(p, c);
    }
    dev.sync().await;
    dev.write("edit.txt", "v2 made here"); // before the folder turns read-only
    other.put("new.txt", "from elsewhere").await;
    other.put("d/old.txt", "changed elsewhere").await;
    other.0.delete_batch(&["f/gone.txt".to_string()]).await.unwrap();
    let ro = Mount::read_only(&dev.root);

    let r = dev.pass().await.unwrap();
    assert_eq!(r.uploaded, ["edit.txt"], "{r:?}");
    let mut failed: Vec<_> = r.errors.iter().map(|e| (e.path.as_str(), e.kind)).collect();
    failed.sort_by_key(|(p, _)| *p);
    assert_eq!(
        failed,
        [
            ("d/old.txt", FaultKind::ReadOnly),
            ("gone.txt", FaultKind::ReadOnly),
            ("new.txt", FaultKind::ReadOnly)
        ]
    );
    assert!(r.deleted_remote.is_empty() && r.deleted_local.is_empty(), "{r:?}");
    match dev.last_status() {
        Some(PairStatus::Error { kind: FaultKind::ReadOnly, message, .. }) => {
            assert!(message.starts_with("the folder is read-only: "), "{message}")
        }
        s => panic!("status in a read-only folder: {s:?}"),
    }
    assert_eq!(dev.read("d/old.txt").unwrap(), b"old");
    assert_eq!(dev.read("gone.txt").unwrap(), b"bye");
    assert_eq!(other.get("keep.txt").await.unwrap(), b"keep");

    ro.unmount();
    let r = dev.sync().await;
    assert_eq!(r.downloaded, ["d/old.txt", "new.txt"]);
    assert_eq!(r.deleted_local, ["gone.txt"]);
    dev.assert_quiet().await;
}

/// A file grows while its parts are being sent: the upload is abandoned
/// before Complete, the bucket keeps the previous version whole, and the
/// next pass sends the file as it is then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_appended_to_while_it_uploads_is_never_sent_torn() {
    let (remote, other, bucket) = garage("appended");
    let v1 = noise(7 * MIB, 21);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let log = root.join("log.bin");
    let appended = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (flag, path) = (appended.clone(), log.clone());
    let hooked = Hooked::new(remote).on_part(move |number, _| {
        // While part 2 of the second version goes out, the writer appends more.
        if number == 2 && std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) == 13 * MIB as u64 {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
            f.write_all(&noise(MIB, 23)).unwrap();
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Hook::Pass
    });
    let dev = device(Arc::new(hooked), &bucket, Some(root));
    std::fs::write(&log, &v1).unwrap();
    dev.sync().await;
    let v2 = noise(13 * MIB, 22);
    std::fs::write(&log, &v2).unwrap();

    let r = dev.pass().await.unwrap();
    assert!(appended.load(std::sync::atomic::Ordering::SeqCst), "the hook appended");
    assert!(r.uploaded.is_empty() && r.errors.is_empty(), "{r:?}");
    assert_eq!(r.waiting, ["log.bin"]);
    assert_eq!(sha(&other.get("log.bin").await.unwrap()), sha(&v1), "the bucket still holds v1, whole");

    let r = dev.sync().await;
    assert_eq!(r.uploaded, ["log.bin"]);
    let now = std::fs::read(&log).unwrap();
    assert_eq!(now.len(), 14 * MIB);
    assert_eq!(sha(&other.get("log.bin").await.unwrap()), sha(&now));
    dev.assert_quiet().await;
}

/// After a power loss a synced file can come back empty with its old mtime
/// (the size was written, the data was not). That is kept as a conflict
/// copy and the good version is restored under the name; it never replaces
/// the good copy in the bucket. Emptying a file on purpose (a new mtime)
/// still uploads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emptied_file_with_its_old_mtime_is_kept_as_a_conflict() {
    let (remote, other, bucket) = garage("power-loss");
    let dev = device(remote, &bucket, None);
    dev.write("report.txt", "three weeks of work");
    dev.write("scratch.txt", "notes");
    dev.sync().await;
    let path = dev.root.join("report.txt");
    let old_mtime = filetime::FileTime::from_last_modification_time(&std::fs::metadata(&path).unwrap());
    std::fs::write(&path, b"").unwrap();
    filetime::set_file_mtime(&path, old_mtime).unwrap();
    // On purpose: emptied now, with a new mtime.
    std::fs::write(dev.root.join("scratch.txt"), b"").unwrap();
    filetime::set_file_mtime(dev.root.join("scratch.txt"), filetime::FileTime::now()).unwrap();

    let r = dev.sync().await;
    assert_eq!(r.uploaded.iter().filter(|p| *p == "report.txt").count(), 0, "{r:?}");
    assert!(r.uploaded.contains(&"scratch.txt".to_string()), "{r:?}");
    assert_eq!(other.get("report.txt").await.unwrap(), b"three weeks of work", "the good copy stays");
    assert_eq!(dev.read("report.txt").unwrap(), b"three weeks of work", "and comes back locally");
    assert_eq!(r.conflicts.len(), 1, "{r:?}");
    assert!(r.conflicts[0].starts_with("report (conflict "), "{r:?}");
    assert_eq!(dev.read(&r.conflicts[0]).unwrap(), b"", "the empty version is kept too");
    assert_eq!(other.get("scratch.txt").await.unwrap(), b"");
    dev.assert_quiet().await;
}

/// The folder's disk is unmounted under the pair: the empty mount point
/// left behind never turns into remote deletes (the pass asks, and asks
/// again when confirmed), and a removed mount point is "folder missing".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmounted_folder_deletes_nothing() {
    let (remote, other, bucket) = garage("unmounted");
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("usb");
    let disk = Mount::tmpfs(&root, "16m");
    let dev = device(remote, &bucket, Some(root.clone()));
    for n in 0..6 {
        dev.write(&format!("photo-{n}.jpg"), format!("photo {n}"));
    }
    dev.sync().await;
    let before = other.listing().await;
    disk.unmount();
    assert!(root.is_dir() && std::fs::read_dir(&root).unwrap().next().is_none(), "an empty mount point");

    let err = dev.pass().await.expect_err("an emptied folder must not sync");
    let PassError::NeedsConfirmation(n) = err else { panic!("{err}") };
    assert!(n.reason.contains("empty"), "{}", n.reason);
    assert!(matches!(dev.last_status(), Some(PairStatus::NeedsConfirmation { .. })));
    assert_eq!(other.listing().await, before, "nothing deleted in the bucket");

    std::fs::remove_dir(&root).unwrap();
    let err = dev.pass().await.expect_err("a missing folder must not sync");
    assert!(matches!(err, PassError::Scan(_)), "{err}");
    match dev.last_status() {
        Some(PairStatus::Error { kind: FaultKind::RootMissing, .. }) => {}
        s => panic!("status with the folder gone: {s:?}"),
    }
    assert_eq!(other.listing().await, before, "nothing deleted in the bucket");
}

/// Issue 8, point 6: confirming deletes must not let an emptied folder
/// (an unmounted disk) delete the bucket's copies. The user confirms a
/// list shown while the folder still had a file; by the confirmed pass the
/// disk is gone, and the very same deletes now come from an empty mount
/// point: the emptied-root check still runs, and asks again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmounted_folder_deletes_nothing_even_when_confirmed() {
    use bucketsync_engine::guard::Why;
    use bucketsync_engine::pass::{run_pass, Confirm, PassOptions};
    let (remote, other, bucket) = garage("unmounted-confirmed");
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("usb");
    let disk = Mount::tmpfs(&root, "16m");
    let dev = device(remote, &bucket, Some(root.clone()));
    for n in 0..6 {
        dev.write(&format!("photo-{n}.jpg"), format!("photo {n}"));
    }
    dev.sync().await;
    for n in 0..6 {
        std::fs::remove_file(root.join(format!("photo-{n}.jpg"))).unwrap();
    }
    dev.write("new-notes.txt", "not synced yet");
    let err = dev.pass().await.expect_err("6 of 6 deletes ask first");
    let PassError::NeedsConfirmation(shown) = err else { panic!("{err}") };
    assert_eq!((shown.why, shown.deletes.len()), (Why::Share, 6));
    let before = other.listing().await;

    disk.unmount();
    let confirmed = PassOptions { confirm: Some(Confirm::Set(shown.id.clone())), sweep_orphan_uploads: true };
    let result = run_pass(&dev.ctx, confirmed).await;
    match result {
        Err(PassError::NeedsConfirmation(n)) => {
            assert_eq!((n.why, n.deletes.len()), (Why::EmptiedRoot, 6), "{n:?}");
            assert!(n.reason.contains("empty"), "{}", n.reason);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(other.listing().await, before, "nothing deleted in the bucket");
}

/// Issue 8, point 5: a synced folder replaced by a symbolic link (moved to
/// another disk and linked back), a synced file replaced by a FIFO and
/// another by a socket. The scan cannot sync them; nothing at or below them
/// is decided, even with a 100 % delete share and the bucket changing
/// below the link: no remote deletes, nothing downloaded or trashed
/// through the link. Put back, everything syncs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_and_special_files_where_synced_ones_were_are_left_alone() {
    use bucketsync_engine::keypath::Reason;
    let (remote, other, bucket) = garage("shapes");
    let mut dev = device(remote, &bucket, None);
    dev.ctx.pair.max_delete_percent = 100;
    for f in ["photos/a.jpg", "photos/b.jpg", "photos/2024/c.jpg", "pipe", "sock", "keep.txt"] {
        dev.write(f, f);
    }
    dev.sync().await;

    let elsewhere = dev.tmp.path().join("other-disk/photos");
    std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    std::fs::rename(dev.root.join("photos"), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, dev.root.join("photos")).unwrap();
    std::fs::remove_file(dev.root.join("pipe")).unwrap();
    let status = Command::new("mkfifo").arg(dev.root.join("pipe")).status().unwrap();
    assert!(status.success());
    std::fs::remove_file(dev.root.join("sock")).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(dev.root.join("sock")).unwrap();
    // Another client adds and deletes below the linked folder.
    other.put("photos/new.jpg", "new elsewhere").await;
    other.0.delete_batch(&["f/photos/a.jpg".to_string()]).await.unwrap();
    let before = other.listing().await;

    let r = dev.pass().await.unwrap();
    assert!(r.deleted_remote.is_empty(), "{r:?}");
    assert!(r.deleted_local.is_empty() && r.downloaded.is_empty() && r.errors.is_empty(), "{r:?}");
    let mut seen: Vec<_> = r.unsyncable.iter().map(|u| (u.name.as_str(), u.reason.clone())).collect();
    seen.sort_by_key(|(n, _)| *n);
    assert_eq!(
        seen,
        [("photos", Reason::SymbolicLink), ("pipe", Reason::SpecialFile), ("sock", Reason::SpecialFile)]
    );
    assert_eq!(other.listing().await, before, "the bucket is left as the other client made it");
    let mut there: Vec<_> = support::device::files_below(&elsewhere);
    there.sort();
    assert_eq!(there, ["2024/c.jpg", "a.jpg", "b.jpg"], "nothing written or trashed through the link");

    // Put back as a folder and files: the bucket's changes land, nothing else moves.
    std::fs::remove_file(dev.root.join("photos")).unwrap();
    std::fs::rename(&elsewhere, dev.root.join("photos")).unwrap();
    for f in ["pipe", "sock"] {
        std::fs::remove_file(dev.root.join(f)).unwrap();
        dev.write(f, f);
    }
    let r = dev.sync().await;
    assert_eq!(r.downloaded, ["photos/new.jpg"]);
    assert_eq!(r.deleted_local, ["photos/a.jpg"]);
    assert!(r.deleted_remote.is_empty() && r.uploaded.is_empty(), "{r:?}");
    dev.assert_quiet().await;
}

/// Issue 8, point 7: a file whose mtime lies far in the future (a camera's
/// clock, a copy from a machine set a year ahead) was never "quiet" by the
/// quiet-period arithmetic, so it never uploaded. It uploads now, with a
/// warning in the pass report, and the next pass is quiet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_from_the_future_uploads() {
    let (remote, other, bucket) = garage("future");
    let mut dev = device(remote, &bucket, None);
    dev.ctx.quiet_ms = 3_000;
    dev.write("from-the-future.jpg", "taken in 2027");
    let year_ahead =
        filetime::FileTime::from_unix_time(filetime::FileTime::now().unix_seconds() + 365 * 86_400, 0);
    filetime::set_file_mtime(dev.root.join("from-the-future.jpg"), year_ahead).unwrap();
    dev.write("old.txt", "written long ago");
    filetime::set_file_mtime(dev.root.join("old.txt"), filetime::FileTime::from_unix_time(1_000_000_000, 0))
        .unwrap();

    let r = dev.sync().await;
    assert_eq!(r.uploaded, ["from-the-future.jpg", "old.txt"], "{r:?}");
    assert!(r.waiting.is_empty(), "{r:?}");
    let warned: Vec<_> = r.warnings.iter().map(|w| (w.path.as_str(), w.kind)).collect();
    assert_eq!(warned, [("from-the-future.jpg", bucketsync_engine::report::WarningKind::FutureMtime)]);
    assert_eq!(other.get("from-the-future.jpg").await.unwrap(), b"taken in 2027");
    dev.assert_quiet().await;
}

/// Issue 8, point 7: a download deferred because something else sits at
/// its path (here an empty folder where the bucket has a file) kept the
/// runner in a full pass every few seconds (with no quiet period: at once)
/// forever. It backs off: each identical pass waits twice as long as the
/// one before, says so, and starts over when something changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_download_backs_off_until_something_changes() {
    use bucketsync_engine::event::{EventKind, EventSink};
    use bucketsync_engine::runner::{self, RunnerConfig};
    use std::sync::Mutex;
    use std::time::Duration;
    let (remote, other, bucket) = garage("blocked");
    let dev = device(remote, &bucket, None);
    other.put("report", "the bucket's file").await;
    std::fs::create_dir(dev.root.join("report")).unwrap();

    let warnings = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut ctx = dev.ctx.clone();
    let (seen, outer) = (warnings.clone(), ctx.events.sink.clone());
    ctx.events.sink = EventSink::new(move |e| {
        if let EventKind::Warning { message } = &e.kind {
            seen.lock().unwrap().push(message.clone());
        }
        outer.emit(e.clone());
    });
    let config = RunnerConfig {
        poll_interval: Duration::from_secs(3600),
        debounce: Duration::from_millis(100),
        quiet: Duration::ZERO,
        retry_after: Duration::from_secs(3600),
        settle_removes: Duration::from_millis(100),
        full_pass_every_polls: 10,
    };
    let handle = runner::spawn(ctx, config, false);
    let backoffs = || -> Vec<String> {
        warnings.lock().unwrap().iter().filter(|w| w.contains("trying again in")).cloned().collect()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while backoffs().len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no backing off; warnings: {:?}",
            warnings.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let told = backoffs();
    assert!(told[0].contains("report") && told[0].contains("trying again in 2 s"), "{told:?}");
    assert!(told[1].contains("trying again in 4 s"), "doubles: {told:?}");

    // The folder goes: the next pass comes at once and the file lands.
    std::fs::remove_dir(dev.root.join("report")).unwrap();
    let mut rx = handle.watch_status();
    let landed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if std::fs::read(dev.root.join("report")).is_ok_and(|c| c == b"the bucket's file") {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), rx.changed()).await;
        }
    })
    .await;
    assert!(landed.is_ok(), "the download never landed after the folder went: {:?}", handle.status());
    handle.stop().await;
    dev.assert_quiet().await;
}
