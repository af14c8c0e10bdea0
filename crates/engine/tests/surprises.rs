//! Remote surprises under a real pass against Garage: what other tools leave
//! in a bucket that a careful client must survive — `mtime` metadata that is
//! garbage or absurdly far away, keys as long as S3 allows, names no local
//! file system can hold, and many groups of keys that differ only in Unicode
//! normalisation or letter case. Whatever the bucket holds, the pass finishes,
//! every syncable object arrives whole, nothing unsyncable is deleted, and the
//! next pass moves nothing.

mod support;

use bucketsync_engine::keypath::Reason;
use bucketsync_remote::Remote;
use support::device::{device, garage, Other, PREFIX};

async fn put_with_mtime(other: &Other, rel: &str, content: &str, mtime: &str) {
    let meta = [("mtime".to_string(), mtime.to_string())];
    other.0.put_bytes(&format!("{PREFIX}{rel}"), content.as_bytes().to_vec().into(), &meta).await.unwrap();
}

#[tokio::test]
async fn garbage_and_far_away_mtimes_download_whole_and_settle() {
    let (remote, other, bucket) = garage("mtime-surprises");
    let dev = device(remote, &bucket, None);
    // What scripts and other clients have been seen to write as `mtime`.
    let cases = [
        ("words.txt", "yesterday"),
        ("empty-value.txt", ""),
        ("infinite.txt", "1e309"),
        ("nan.txt", "NaN"),
        ("far-future.txt", "1e20"),
        ("far-past.txt", "-1e20"),
        ("year-3000.txt", "32503680000"),
        ("before-1970.txt", "-86400.5"),
        ("milliseconds-by-mistake.txt", "1700000000123"),
    ];
    for (rel, mtime) in cases {
        put_with_mtime(&other, rel, &format!("content of {rel}"), mtime).await;
    }
    let r = dev.sync().await;
    assert!(r.converged(), "{r:?}");
    let mut downloaded = r.downloaded.clone();
    downloaded.sort();
    let mut expected: Vec<String> = cases.iter().map(|(rel, _)| rel.to_string()).collect();
    expected.sort();
    assert_eq!(downloaded, expected);
    for (rel, _) in cases {
        assert_eq!(dev.read(rel).unwrap(), format!("content of {rel}").as_bytes(), "{rel}");
    }
    // A readable date is kept; garbage falls back to the object's own date.
    let mtime_s = |rel: &str| {
        let m = std::fs::metadata(dev.root.join(rel)).unwrap().modified().unwrap();
        match m.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        }
    };
    // (ext4 clamps dates past 2446; the base row records what the disk kept.)
    assert!(mtime_s("year-3000.txt") > 15_000_000_000.0, "{}", mtime_s("year-3000.txt"));
    assert_eq!(mtime_s("before-1970.txt"), -86_400.5);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    for rel in ["words.txt", "empty-value.txt", "infinite.txt", "nan.txt"] {
        assert!((mtime_s(rel) - now).abs() < 3600.0, "{rel}: {}", mtime_s(rel));
    }
    // "1e20", "-1e20" and milliseconds written as seconds are taken as
    // dates and clamped by the file system (ext4: 1901..2446); the content
    // is whole and the next pass is quiet, which is what matters here.
    dev.assert_quiet().await;

    // Replaced in the bucket, again with garbage: the new content arrives.
    put_with_mtime(&other, "far-future.txt", "second version", "1e20").await;
    put_with_mtime(&other, "words.txt", "second version", "tomorrow").await;
    let r = dev.sync().await;
    let mut downloaded = r.downloaded.clone();
    downloaded.sort();
    assert_eq!(downloaded, ["far-future.txt", "words.txt"], "{r:?}");
    assert_eq!(dev.read("far-future.txt").unwrap(), b"second version");
    assert_eq!(dev.read("words.txt").unwrap(), b"second version");
    dev.assert_quiet().await;

    // And a local edit of a file that arrived with an absurd date uploads.
    dev.write("year-3000.txt", "edited here");
    let r = dev.sync().await;
    assert_eq!(r.uploaded, ["year-3000.txt"], "{r:?}");
    assert_eq!(other.get("year-3000.txt").await.unwrap(), b"edited here");
    dev.assert_quiet().await;
}

#[tokio::test]
async fn long_keys_and_many_collision_groups_lose_nothing() {
    let (remote, other, bucket) = garage("key-surprises");
    let dev = device(remote, &bucket, None);
    // The longest key S3 allows (1,024 bytes with the pair's prefix), in
    // folders a local file system can hold.
    let folder = vec!["d".repeat(200); 5].join("/");
    let long = format!("{folder}/{}", "f".repeat(1024 - PREFIX.len() - folder.len() - 1));
    assert_eq!(PREFIX.len() + long.len(), 1024);
    other.put(&long, "longest key").await;
    // A name longer than a local file name may be (255 bytes).
    let too_long = format!("{}.txt", "n".repeat(300));
    other.put(&too_long, "cannot be a file").await;
    // Many groups that differ only in normalisation (NFC é vs NFD e + ´),
    // and many that differ only in case (both are files on Linux).
    const GROUPS: usize = 60;
    for i in 0..GROUPS {
        other.put(&format!("nfc{i}/caf\u{e9}.txt"), format!("nfc {i}")).await;
        other.put(&format!("nfc{i}/cafe\u{301}.txt"), format!("nfd {i}")).await;
        other.put(&format!("case{i}/Note.txt"), format!("upper {i}")).await;
        other.put(&format!("case{i}/note.txt"), format!("lower {i}")).await;
    }
    let r = dev.sync().await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(r.downloaded.contains(&long), "the 1,024-byte key arrived");
    assert_eq!(dev.read(&long).unwrap(), b"longest key");
    let reason_of = |rel: &str| {
        r.unsyncable.iter().find(|u| u.name == format!("{PREFIX}{rel}")).map(|u| u.reason.clone())
    };
    assert_eq!(reason_of(&too_long), Some(Reason::NameTooLong));
    for i in 0..GROUPS {
        let (nfc, nfd) = (format!("nfc{i}/caf\u{e9}.txt"), format!("nfc{i}/cafe\u{301}.txt"));
        assert!(
            matches!(reason_of(&nfc), Some(Reason::NormalisationCollision(_))),
            "{nfc}: {:?}",
            reason_of(&nfc)
        );
        assert!(matches!(reason_of(&nfd), Some(Reason::NormalisationCollision(_))), "{nfd}");
        assert_eq!(dev.read(&format!("case{i}/Note.txt")).unwrap(), format!("upper {i}").as_bytes());
        assert_eq!(dev.read(&format!("case{i}/note.txt")).unwrap(), format!("lower {i}").as_bytes());
    }
    dev.assert_quiet().await;

    // Deleting every local file that did arrive (confirmed) leaves each key
    // that could not be a file in the bucket.
    std::fs::remove_dir_all(&dev.root).unwrap();
    std::fs::create_dir_all(&dev.root).unwrap();
    let before = other.keys().await.len();
    assert_eq!(before, 2 + 4 * GROUPS);
    let err = dev.pass().await.unwrap_err();
    let bucketsync_engine::pass::PassError::NeedsConfirmation(shown) = err else { panic!("{err}") };
    assert_eq!(shown.deletes.len(), 1 + 2 * GROUPS, "only what was synced is on the list");
    let keys = other.keys().await;
    assert_eq!(keys.len(), before, "nothing deleted without a confirmation");
    assert!(keys.contains(&too_long));
}
