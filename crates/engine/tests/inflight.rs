//! Changes that land while an action runs, between the plan and the write
//! (issue 8, points 1-3 and the remote-delete re-check): each write is
//! checked against what the plan saw right before it lands, and a change
//! found there is kept, never overwritten; an upload cut off by a kill
//! resumes only inside a later pass that uploads its path, from the same
//! content. Real passes against Garage; the wrapping `Remote` only times
//! another writer's change into the middle of an action (a local edit
//! during a download's ranged GET, a local file appearing during a
//! delete's last HEAD) or cuts a pass off mid-upload.

mod support;

use bucketsync_remote::Remote;
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use support::device::{device, garage, moto, noise, Device, Other, MIB, PREFIX};
use support::{Hook, Hooked};

/// The pass after a change was kept: a conflict, theirs under the name and
/// ours beside it in the folder (and in the bucket when `copy_sent`).
async fn next_pass_keeps_both(
    dev: &Device,
    other: &Other,
    rel: &str,
    theirs: &[u8],
    mine: &[u8],
    copy_sent: bool,
) {
    let r = dev.sync().await;
    assert_eq!(r.conflicts.len(), 1, "{r:?}");
    assert!(dev.read(rel).unwrap() == theirs, "theirs keeps the name {rel}");
    assert!(dev.read(&r.conflicts[0]).unwrap() == mine, "our version is kept beside it");
    if copy_sent {
        assert!(other.get(&r.conflicts[0]).await.unwrap() == mine, "and sent under the copy's name");
    }
    dev.assert_quiet().await;
}

/// A one-shot trigger: the hook acts once, the first time it fires after
/// the test armed it.
#[derive(Clone, Default)]
struct Trigger(Arc<AtomicBool>);

impl Trigger {
    fn arm(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn fire(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
    fn fired(&self) -> bool {
        !self.0.load(Ordering::SeqCst)
    }
}

/// A device whose remote writes `content` to the local `rel` during the
/// first ranged GET after the trigger is armed: someone saves the file
/// while its download is in flight.
fn device_editing_during_download(
    hint: &str,
    rel: &'static str,
    content: &'static [u8],
) -> (Device, Other, Trigger) {
    let (remote, other, bucket) = garage(hint);
    let trigger = Trigger::default();
    let root = Arc::new(OnceLock::<PathBuf>::new());
    let (t, at) = (trigger.clone(), root.clone());
    let hooked = Hooked::new(remote).on_range(move |_, _| {
        if t.fire() {
            std::fs::write(at.get().unwrap().join(rel), content).unwrap();
        }
        Hook::Pass
    });
    let dev = device(Arc::new(hooked), &bucket, None);
    root.set(dev.root.clone()).unwrap();
    (dev, other, trigger)
}

/// Local contents as a sorted list of (path, bytes as text).
fn local(dev: &Device) -> Vec<(String, String)> {
    dev.files().into_iter().map(|f| (f.clone(), String::from_utf8(dev.read(&f).unwrap()).unwrap())).collect()
}

fn conflict_copies(dev: &Device) -> Vec<String> {
    dev.files().into_iter().filter(|f| f.contains(" (conflict ")).collect()
}

/// Point 1: a synced file edited locally while the newer remote version
/// downloads is kept, not replaced; the next pass makes the conflict copy
/// and both versions end up on both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_edit_during_a_download_is_kept() {
    let (dev, other, trigger) =
        device_editing_during_download("edit-during-down", "a.txt", b"mine, saved mid-download");
    dev.write("a.txt", "first");
    dev.sync().await;
    other.put("a.txt", Bytes::from_static(b"theirs")).await;

    trigger.arm();
    let r = dev.sync().await;
    assert!(trigger.fired(), "the edit happened during the download");
    assert_eq!(dev.read("a.txt").unwrap(), b"mine, saved mid-download", "the local edit is not overwritten");
    assert!(r.downloaded.is_empty() && r.waiting == ["a.txt"], "{r:?}");

    // The next pass sees both sides changed: a conflict, nothing lost.
    next_pass_keeps_both(&dev, &other, "a.txt", b"theirs", b"mine, saved mid-download", true).await;
}

/// Point 1: a file created where the plan saw nothing, while the object
/// downloads, is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_created_during_a_download_is_kept() {
    let (dev, other, trigger) =
        device_editing_during_download("new-during-down", "new.txt", b"made here meanwhile");
    other.put("new.txt", Bytes::from_static(b"from the bucket")).await;

    trigger.arm();
    let r = dev.sync().await;
    assert!(trigger.fired());
    assert_eq!(dev.read("new.txt").unwrap(), b"made here meanwhile", "the new local file is not overwritten");
    assert!(r.downloaded.is_empty() && r.waiting == ["new.txt"], "{r:?}");

    let r = dev.sync().await;
    assert_eq!(r.conflicts.len(), 1, "{r:?}");
    assert_eq!(dev.read("new.txt").unwrap(), b"from the bucket");
    assert_eq!(dev.read(&r.conflicts[0]).unwrap(), b"made here meanwhile");
    dev.assert_quiet().await;
}

/// Point 1, the conflict path: the local version moved aside to its
/// conflict copy, then (while the remote version downloads) an editor
/// saves the file again under its name. That save is kept too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_between_the_conflict_copy_and_the_rename_is_kept() {
    let (dev, other, trigger) = device_editing_during_download("conflict-gap", "a.txt", b"mine, second save");
    dev.write("a.txt", "first");
    dev.sync().await;
    dev.write("a.txt", "mine, first save");
    other.put("a.txt", Bytes::from_static(b"theirs")).await;

    trigger.arm();
    let r = dev.pass().await.unwrap();
    assert!(trigger.fired());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(dev.read("a.txt").unwrap(), b"mine, second save", "the second save is not overwritten");
    let copies = conflict_copies(&dev);
    assert_eq!(copies.len(), 1, "{:?}", dev.files());
    assert_eq!(dev.read(&copies[0]).unwrap(), b"mine, first save", "the first save is in its copy");

    // Converges with all three versions kept, on both sides.
    dev.sync().await;
    dev.sync().await;
    dev.assert_quiet().await;
    let mut versions: Vec<String> = local(&dev).into_iter().map(|(_, c)| c).collect();
    versions.sort();
    assert_eq!(versions, ["mine, first save", "mine, second save", "theirs"], "{:?}", local(&dev));
    let mut remote: Vec<String> = Vec::new();
    for k in other.keys().await {
        remote.push(String::from_utf8(other.get(&k).await.unwrap()).unwrap());
    }
    remote.sort();
    assert_eq!(remote, versions);
}

/// Point 8: a file that appears locally right before its remote delete
/// runs (after the plan saw it deleted) stops the delete; the next pass
/// uploads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_back_before_its_remote_delete_stops_the_delete() {
    let (remote, other, bucket) = garage("delete-recheck");
    let trigger = Trigger::default();
    let root = Arc::new(OnceLock::<PathBuf>::new());
    let (t, at) = (trigger.clone(), root.clone());
    // The delete's last look at the object is the moment the file comes back.
    let hooked = Hooked::new(remote).before_head(move |_| {
        if t.fire() {
            std::fs::write(at.get().unwrap().join("a.txt"), b"back again").unwrap();
        }
        None
    });
    let dev = device(Arc::new(hooked), &bucket, None);
    root.set(dev.root.clone()).unwrap();
    dev.write("a.txt", "first");
    dev.write("b.txt", "keeps the delete under the guard's share");
    dev.write("c.txt", "keeps the delete under the guard's share");
    dev.sync().await;
    std::fs::remove_file(dev.root.join("a.txt")).unwrap();

    trigger.arm();
    let r = dev.sync().await;
    assert!(trigger.fired());
    assert!(r.deleted_remote.is_empty(), "{r:?}");
    assert_eq!(other.get("a.txt").await.unwrap(), b"first", "the object is not deleted");
    assert_eq!(r.waiting, ["a.txt"]);

    let r = dev.sync().await;
    assert_eq!(r.uploaded, ["a.txt"], "{r:?}");
    assert_eq!(other.get("a.txt").await.unwrap(), b"back again");
    dev.assert_quiet().await;
}

/// A device whose remote writes `content` at `rel` once a listing is
/// complete after the trigger is armed: another device's upload landing
/// between our listing and our PUT.
fn device_with_write_after_listing(
    hint: &str,
    rel: &'static str,
    content: &'static [u8],
) -> (Device, Other, Trigger) {
    let (remote, other, bucket) = garage(hint);
    let trigger = Trigger::default();
    let t = trigger.clone();
    let key = format!("{}{rel}", support::device::PREFIX);
    let hooked =
        Hooked::new(remote).after_list(move || t.fire().then(|| (key.clone(), Bytes::from_static(content))));
    (device(Arc::new(hooked), &bucket, None), other, trigger)
}

/// Point 2, a new key: an object another device wrote at the path after
/// our listing (which saw none) is not replaced by our upload; the next
/// pass keeps both versions (conflict copy).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_written_after_the_listing_is_not_replaced_by_a_new_upload() {
    let (dev, other, trigger) = device_with_write_after_listing("put-new-race", "n.txt", b"theirs, new");
    dev.write("n.txt", "mine, new");

    trigger.arm();
    let r = dev.sync().await;
    assert!(trigger.fired());
    assert_eq!(other.get("n.txt").await.unwrap(), b"theirs, new", "their object is not overwritten");
    assert!(r.uploaded.is_empty() && r.waiting == ["n.txt"], "{r:?}");

    next_pass_keeps_both(&dev, &other, "n.txt", b"theirs, new", b"mine, new", true).await;
}

/// Point 2, a replacement: a local edit is not sent over a version another
/// device uploaded after our listing saw the synced one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_replaced_after_the_listing_is_not_overwritten() {
    let (dev, other, trigger) = device_with_write_after_listing("put-replace-race", "a.txt", b"theirs");
    dev.write("a.txt", "first");
    dev.sync().await;
    dev.write("a.txt", "mine, edited");

    trigger.arm();
    let r = dev.sync().await;
    assert!(trigger.fired());
    assert_eq!(other.get("a.txt").await.unwrap(), b"theirs", "their version is not overwritten");
    assert!(r.uploaded.is_empty() && r.waiting == ["a.txt"], "{r:?}");

    let r = dev.sync().await;
    assert_eq!(r.conflicts.len(), 1, "{r:?}");
    assert_eq!(dev.read("a.txt").unwrap(), b"theirs");
    assert_eq!(dev.read(&r.conflicts[0]).unwrap(), b"mine, edited");
    dev.assert_quiet().await;
}

/// A device whose multipart uploads hang from part 2 on while the returned
/// switch is on (so a pass can be cut off mid-upload), with its wrapping
/// remote for counting.
fn device_with_stalling_parts(
    server: (Arc<dyn Remote>, Other, String),
    hooked: impl FnOnce(Hooked) -> Hooked,
) -> Stalling {
    let (remote, other, bucket) = server;
    let stall = Arc::new(AtomicBool::new(false));
    let s = stall.clone();
    let hooked = Arc::new(hooked(Hooked::new(remote)).on_part(move |n, _| {
        if n >= 2 && s.load(Ordering::SeqCst) {
            Hook::Stall
        } else {
            Hook::Pass
        }
    }));
    let dev = device(hooked.clone(), &bucket, None);
    Stalling { dev, other, stall, hooked }
}

struct Stalling {
    dev: Device,
    other: Other,
    stall: Arc<AtomicBool>,
    hooked: Arc<Hooked>,
}

impl Stalling {
    /// Runs a pass until the upload of `rel` has part 1 recorded, then
    /// drops it: the process killed mid-upload, with the upload's row and
    /// part in the database and the upload open on the server.
    async fn interrupt_upload(&self, rel: &str) -> String {
        let key = format!("{PREFIX}{rel}");
        let (store, pair) = (self.dev.ctx.store.clone(), self.dev.ctx.pair.id);
        let recorded = async {
            while store.lock().unwrap().upload_parts(pair, &key).unwrap().is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        self.stall.store(true, Ordering::SeqCst);
        let cut = tokio::time::timeout(Duration::from_secs(60), async {
            tokio::select! {
                r = self.dev.pass() => panic!("the pass should hang in the upload of {rel}, got {r:?}"),
                _ = recorded => {}
            }
        })
        .await;
        cut.unwrap_or_else(|_| panic!("part 1 of {rel} was never recorded"));
        self.stall.store(false, Ordering::SeqCst);
        let row = store.lock().unwrap().get_upload(pair, &key).unwrap().expect("the upload is recorded");
        row.upload_id
    }

    /// The recorded uploads (keys) and the uploads open on the server (keys).
    async fn uploads(&self) -> (Vec<String>, Vec<String>) {
        let rows = self.dev.ctx.store.lock().unwrap().list_uploads(self.dev.ctx.pair.id).unwrap();
        let open = self.other.0.list_open_uploads(PREFIX).await.unwrap();
        (rows.into_iter().map(|r| r.key).collect(), open.into_iter().map(|u| u.key).collect())
    }
}

/// Point 3: a multipart upload cut off by a kill is not completed over the
/// object another device wrote at its key meanwhile. The pass after the
/// restart plans from what it lists (both sides new and different: a
/// conflict), keeps both versions on both sides, and aborts the old upload.
async fn an_interrupted_upload_is_not_completed_over_a_newer_object(
    server: (Arc<dyn Remote>, Other, String),
) {
    let s = device_with_stalling_parts(server, |h| h);
    let mine = noise(12 * MIB, 31);
    s.dev.write("big.bin", &mine);
    s.interrupt_upload("big.bin").await;
    s.other.put("big.bin", Bytes::from_static(b"theirs, written while we were down")).await;

    let r = s.dev.sync().await;
    let theirs = s.other.get("big.bin").await.unwrap();
    assert!(theirs == b"theirs, written while we were down", "their object is not replaced");
    assert_eq!(r.conflicts.len(), 1, "{r:?}");
    assert_eq!(s.dev.read("big.bin").unwrap(), b"theirs, written while we were down");
    assert!(s.dev.read(&r.conflicts[0]).unwrap() == mine, "our version is kept beside it");
    assert!(s.other.get(&r.conflicts[0]).await.unwrap() == mine, "and sent under the copy's name");
    assert_eq!(s.uploads().await, (vec![], vec![]), "the interrupted upload is aborted, not left open");
    s.dev.assert_quiet().await;
}

/// On Garage the other client's PutObject already ends our open upload
/// (a newer version of the key drops the older uploading one): it guards
/// itself, and the pass must cope with the upload being gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_is_not_completed_over_a_newer_object_garage() {
    an_interrupted_upload_is_not_completed_over_a_newer_object(garage("resume-over-theirs")).await;
}

/// moto keeps the upload open, as AWS S3, R2 and MinIO do: completing it
/// would replace their object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_is_not_completed_over_a_newer_object_moto() {
    an_interrupted_upload_is_not_completed_over_a_newer_object(moto("resume-over-theirs")).await;
}

/// Point 3, when the pass does upload the path: the interrupted upload is
/// resumed inside the pass (part 1 is not sent again) and, like any
/// upload, checked right before its Complete against what this pass
/// listed: an object written meanwhile is not replaced, the next pass
/// makes the conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_upload_is_checked_against_the_listing_before_its_complete() {
    let trigger = Trigger::default();
    let t = trigger.clone();
    let key = format!("{PREFIX}big.bin");
    let s = device_with_stalling_parts(garage("resume-checked"), move |h| {
        h.before_head(move |k| (k == key && t.fire()).then(|| (key.clone(), Bytes::from_static(b"theirs"))))
    });
    let mine = noise(12 * MIB, 32);
    s.dev.write("big.bin", &mine);
    let upload_id = s.interrupt_upload("big.bin").await;
    s.hooked.parts.lock().unwrap().clear();

    trigger.arm();
    let r = s.dev.sync().await;
    assert!(trigger.fired(), "the write happened at the check before the Complete");
    assert_eq!(s.other.get("big.bin").await.unwrap(), b"theirs", "their object is not replaced");
    assert!(r.uploaded.is_empty() && r.waiting == ["big.bin"], "{r:?}");
    assert_eq!(s.hooked.parts_sent(), [2, 3], "the recorded upload was resumed, part 1 not resent");
    assert_eq!(s.hooked.creates.load(Ordering::SeqCst), 1, "no new upload was started");
    let gone = s.other.0.list_parts(&format!("{PREFIX}big.bin"), &upload_id).await.unwrap_err();
    assert_eq!(gone.kind, bucketsync_remote::ErrorKind::NotFound, "aborted: {gone}");
    assert_eq!(s.uploads().await, (vec![], vec![]));

    let r = s.dev.sync().await;
    assert_eq!(r.conflicts.len(), 1, "{r:?}");
    assert_eq!(s.dev.read("big.bin").unwrap(), b"theirs");
    assert!(s.dev.read(&r.conflicts[0]).unwrap() == mine);
    s.dev.assert_quiet().await;
}

/// Point 3: the upload row pins the content, not just size and mtime. A
/// file rewritten in place with other bytes of the same size and given its
/// old mtime back (a restore, a tool that keeps mtimes) is not finished
/// from the old content's parts; neither is the same content under a new
/// inode (a copy renamed over it). Both start over and land whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_is_not_resumed_from_another_content_with_the_same_stat() {
    let s = device_with_stalling_parts(garage("resume-pinned"), |h| h);
    let path = s.dev.root.join("big.bin");
    s.dev.write("big.bin", noise(12 * MIB, 33));
    s.interrupt_upload("big.bin").await;
    let old = std::fs::metadata(&path).unwrap();
    let rewritten = noise(12 * MIB, 34);
    std::fs::write(&path, &rewritten).unwrap();
    filetime::set_file_mtime(&path, filetime::FileTime::from_last_modification_time(&old)).unwrap();
    let new = std::fs::metadata(&path).unwrap();
    assert_eq!((new.len(), new.modified().unwrap()), (old.len(), old.modified().unwrap()));
    assert_eq!(std::os::unix::fs::MetadataExt::ino(&new), std::os::unix::fs::MetadataExt::ino(&old));
    s.hooked.parts.lock().unwrap().clear();

    let r = s.dev.sync().await;
    assert_eq!(r.uploaded, ["big.bin"], "{r:?}");
    assert_eq!(s.hooked.parts_sent(), [1, 2, 3], "every part from the new content");
    assert!(s.other.get("big.bin").await.unwrap() == rewritten, "the object is the new content, whole");
    assert_eq!(s.uploads().await, (vec![], vec![]));

    // The same bytes, another inode.
    let content = noise(12 * MIB, 35);
    s.dev.write("copied.bin", &content);
    let copied = s.dev.root.join("copied.bin");
    s.interrupt_upload("copied.bin").await;
    let old = std::fs::metadata(&copied).unwrap();
    let beside = s.dev.root.join("copied.bin.new");
    std::fs::write(&beside, &content).unwrap();
    filetime::set_file_mtime(&beside, filetime::FileTime::from_last_modification_time(&old)).unwrap();
    std::fs::rename(&beside, &copied).unwrap();
    s.hooked.parts.lock().unwrap().clear();
    let creates = s.hooked.creates.load(Ordering::SeqCst);

    let r = s.dev.sync().await;
    assert_eq!(r.uploaded, ["copied.bin"], "{r:?}");
    assert_eq!(s.hooked.parts_sent(), [1, 2, 3], "not resumed under another inode");
    assert_eq!(s.hooked.creates.load(Ordering::SeqCst), creates + 1);
    assert!(s.other.get("copied.bin").await.unwrap() == content);
    assert_eq!(s.uploads().await, (vec![], vec![]));
    s.dev.assert_quiet().await;
}

/// Point 2, the multipart path: an object another device writes after our
/// parts are all sent but before our CompleteMultipartUpload is not
/// replaced. The HEAD right before the Complete sees it, the upload is
/// aborted (nothing completed, nothing left open), the next pass makes the
/// conflict and keeps both versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_written_before_the_complete_is_not_replaced() {
    let (remote, other, bucket) = garage("complete-race");
    let trigger = Trigger::default();
    let t = trigger.clone();
    let key = format!("{PREFIX}big.bin");
    let theirs = Bytes::from_static(b"theirs, written just before our complete");
    let body = theirs.clone();
    let hooked = Arc::new(
        Hooked::new(remote).before_head(move |k| (k == key && t.fire()).then(|| (key.clone(), body.clone()))),
    );
    let dev = device(hooked.clone(), &bucket, None);
    let mine = noise(12 * MIB, 36);
    dev.write("big.bin", &mine);

    trigger.arm();
    let r = dev.sync().await;
    assert!(trigger.fired(), "the write happened at the check before the Complete");
    assert_eq!(hooked.parts_sent(), [1, 2, 3], "our parts were all sent first");
    assert_eq!(other.get("big.bin").await.unwrap(), theirs, "their object is not replaced");
    assert!(r.uploaded.is_empty() && r.waiting == ["big.bin"], "{r:?}");
    assert_eq!(hooked.completes.load(Ordering::SeqCst), 0);
    assert_eq!(hooked.aborts.load(Ordering::SeqCst), 1);
    assert!(other.0.list_open_uploads(PREFIX).await.unwrap().is_empty(), "the upload is not left open");
    assert!(dev.ctx.store.lock().unwrap().list_uploads(dev.ctx.pair.id).unwrap().is_empty());

    next_pass_keeps_both(&dev, &other, "big.bin", &theirs, &mine, true).await;
}

/// A device on moto (which honours conditional writes, as its probe test
/// shows) whose transfers send them, and whose remote writes `theirs` at
/// `rel` right before our first PUT or Complete of that key after the
/// trigger is armed: after any HEAD, in the window only the server's own
/// check closes.
fn device_with_write_before_ours(
    hint: &str,
    rel: &'static str,
    theirs: Bytes,
    conditional: bool,
) -> (Device, Other, Trigger, Arc<Hooked>) {
    let (remote, other, bucket) = moto(hint);
    let trigger = Trigger::default();
    let t = trigger.clone();
    let key = format!("{PREFIX}{rel}");
    let hooked = Arc::new(
        Hooked::new(remote)
            .before_write(move |k| (k == key && t.fire()).then(|| (key.clone(), theirs.clone()))),
    );
    let mut dev = device(hooked.clone(), &bucket, None);
    dev.ctx.transfers = dev.ctx.transfers.clone().with_conditional_writes(conditional);
    (dev, other, trigger, hooked)
}

/// Point 2 with conditional writes, a new key: an object another device
/// writes after our HEAD would have looked, right before our PUT, is not
/// replaced: the PUT carries `If-None-Match: *`, the server refuses it
/// (412), the path waits and the next pass keeps both versions. With the
/// HEAD alone (`conditional` false) their object is overwritten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_key_written_right_before_our_put_is_not_replaced() {
    let theirs = Bytes::from_static(b"theirs, right before our PUT");
    let (dev, other, trigger, hooked) =
        device_with_write_before_ours("cond-new", "n.txt", theirs.clone(), true);
    dev.write("n.txt", "mine, new");

    trigger.arm();
    let heads = hooked.heads.load(Ordering::SeqCst);
    let r = dev.sync().await;
    assert!(trigger.fired());
    assert_eq!(other.get("n.txt").await.unwrap(), theirs, "their object is not overwritten");
    assert!(r.uploaded.is_empty() && r.waiting == ["n.txt"], "{r:?}");
    assert_eq!(*hooked.conditions.lock().unwrap(), [bucketsync_remote::WriteIf::Absent]);
    assert_eq!(hooked.heads.load(Ordering::SeqCst), heads, "no HEAD before a conditional PUT");

    next_pass_keeps_both(&dev, &other, "n.txt", &theirs, b"mine, new", true).await;
}

/// Point 2 with conditional writes, a replacement: the PUT of a local edit
/// carries `If-Match` with the ETag the listing saw; a version another
/// device wrote right before it is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_written_right_before_our_put_is_not_replaced() {
    let theirs = Bytes::from_static(b"theirs, right before our PUT");
    let (dev, other, trigger, hooked) =
        device_with_write_before_ours("cond-replace", "a.txt", theirs.clone(), true);
    dev.write("a.txt", "first");
    dev.sync().await;
    let listed = other.0.head(&format!("{PREFIX}a.txt")).await.unwrap().etag;
    dev.write("a.txt", "mine, edited");

    trigger.arm();
    let r = dev.sync().await;
    assert!(trigger.fired());
    assert_eq!(other.get("a.txt").await.unwrap(), theirs, "their version is not overwritten");
    assert!(r.uploaded.is_empty() && r.waiting == ["a.txt"], "{r:?}");
    assert_eq!(hooked.conditions.lock().unwrap().last(), Some(&bucketsync_remote::WriteIf::Etag(listed)));

    next_pass_keeps_both(&dev, &other, "a.txt", &theirs, b"mine, edited", true).await;
}

/// Point 2 with conditional writes, the multipart path: an object written
/// right before our CompleteMultipartUpload, after the HEAD that still
/// guards it, is not replaced: the Complete carries `If-None-Match: *`, is
/// refused, and the upload is aborted (nothing left open, no row); the
/// next pass keeps both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_written_right_before_our_complete_is_not_replaced() {
    let theirs = Bytes::from_static(b"theirs, right before our Complete");
    let (dev, other, trigger, hooked) =
        device_with_write_before_ours("cond-complete", "big.bin", theirs.clone(), true);
    let mine = noise(12 * MIB, 37);
    dev.write("big.bin", &mine);

    trigger.arm();
    let heads = hooked.heads.load(Ordering::SeqCst);
    let r = dev.sync().await;
    assert!(trigger.fired(), "the write happened right before the Complete");
    assert_eq!(
        hooked.heads.load(Ordering::SeqCst),
        heads + 1,
        "a Complete keeps its HEAD (moto ignores If-Match there)"
    );
    assert_eq!(hooked.parts_sent(), [1, 2, 3], "our parts were all sent first");
    assert!(other.get("big.bin").await.unwrap() == theirs, "their object is not replaced");
    assert!(r.uploaded.is_empty() && r.waiting == ["big.bin"], "{r:?}");
    assert_eq!(hooked.completes.load(Ordering::SeqCst), 1, "the Complete was sent, and refused");
    assert_eq!(*hooked.conditions.lock().unwrap(), [bucketsync_remote::WriteIf::Absent]);
    assert_eq!(hooked.aborts.load(Ordering::SeqCst), 1);
    assert!(other.0.list_open_uploads(PREFIX).await.unwrap().is_empty(), "the upload is not left open");
    assert!(dev.ctx.store.lock().unwrap().list_uploads(dev.ctx.pair.id).unwrap().is_empty());

    next_pass_keeps_both(&dev, &other, "big.bin", &theirs, &mine, true).await;
}
