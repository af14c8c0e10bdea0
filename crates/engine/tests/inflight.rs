//! Changes that land while an action runs, between the plan and the write
//! (issue 8, points 1-3 and the remote-delete re-check): each write is
//! checked against what the plan saw right before it lands, and a change
//! found there is kept, never overwritten. Real passes against Garage; the
//! wrapping `Remote` only times another writer's change into the middle of
//! an action (a local edit during a download's ranged GET, a local file
//! appearing during a delete's last HEAD).

mod support;

use bucketsync_remote::{Remote, Timeouts};
use bucketsync_testserver::S3Server;
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use support::device::{device, s3, Device, Other};
use support::{Hook, Hooked};

fn garage(hint: &str) -> (Arc<dyn Remote>, Other, String) {
    let server = S3Server::garage();
    let bucket = server.create_bucket(hint);
    let (region, id, secret) = (&server.region, &server.access_key_id, &server.secret_access_key);
    let t = Timeouts::default();
    let remote: Arc<dyn Remote> = s3(&server.endpoint, region, id, secret, &bucket, &t);
    (remote, Other(s3(&server.endpoint, region, id, secret, &bucket, &t)), bucket)
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
    let r = dev.sync().await;
    assert_eq!(r.conflicts.len(), 1, "{r:?}");
    assert_eq!(dev.read("a.txt").unwrap(), b"theirs");
    assert_eq!(dev.read(&r.conflicts[0]).unwrap(), b"mine, saved mid-download");
    assert_eq!(other.get(&r.conflicts[0]).await.unwrap(), b"mine, saved mid-download");
    dev.assert_quiet().await;
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

    let r = dev.sync().await;
    assert_eq!(r.conflicts.len(), 1, "{r:?}");
    assert_eq!(dev.read("n.txt").unwrap(), b"theirs, new");
    assert_eq!(dev.read(&r.conflicts[0]).unwrap(), b"mine, new");
    assert_eq!(other.get(&r.conflicts[0]).await.unwrap(), b"mine, new");
    dev.assert_quiet().await;
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
