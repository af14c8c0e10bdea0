//! Crash points: named places between two persistence steps (temp write,
//! fsync, rename, the store's commit, a remote write) where the fault suite
//! stops the process dead, then restarts it and checks that nothing was
//! lost (`crates/cli/tests/crash.rs`).
//!
//! They exist only in builds with the `fail-points` feature (the `fail`
//! crate's fail points); without it [`crash_point!`] expands to nothing. A
//! build with the feature arms one point from `BUCKETSYNC_TEST_CRASH_AT`
//! ([`arm_from_env`]); nothing else can trigger them.

/// Every crash point, in the order a pass reaches them. The fault suite
/// loops over this list, so a point added here is tested at once.
pub const POINTS: &[&str] = &[
    // a local file moved to the trash, its base row not yet forgotten
    "trash.moved",
    // a remote delete sent, its base row not yet forgotten
    "delete-remote.sent",
    // a downloaded temp file complete on disk, not yet fsynced
    "download.written",
    // fsynced, not yet renamed onto its name
    "download.synced",
    // renamed onto its name, the folder not yet fsynced
    "download.renamed",
    // a download in place, its base row not yet written
    "download.landed",
    // one part of a multipart upload acknowledged and recorded
    "upload.part-recorded",
    // every part sent, CompleteMultipartUpload not yet sent
    "upload.parts-sent",
    // CompleteMultipartUpload acknowledged, its upload row not yet forgotten
    "upload.completed",
    // an upload on the server, its base row not yet written
    "upload.landed",
    // a conflict's local version moved to the copy's name, the remote one
    // not yet downloaded
    "conflict.set-aside",
    // a conflict's remote version in place, the copy not yet uploaded
    "conflict.downloaded",
];

/// Marks a crash point (see the module docs). Expands to nothing unless
/// the crate is built with `fail-points`.
#[macro_export]
macro_rules! crash_point {
    ($name:literal) => {
        #[cfg(feature = "fail-points")]
        {
            debug_assert!($crate::crash::POINTS.contains(&$name), "{} is not in crash::POINTS", $name);
            fail::fail_point!($name);
        }
    };
}

/// Arms the point named by `BUCKETSYNC_TEST_CRASH_AT`: reaching it aborts
/// the process at once (no destructor, no flush), as a power cut or a kill
/// would stop it. Returns the armed point.
#[cfg(feature = "fail-points")]
pub fn arm_from_env() -> Option<String> {
    let name = std::env::var("BUCKETSYNC_TEST_CRASH_AT").ok()?;
    assert!(POINTS.contains(&name.as_str()), "BUCKETSYNC_TEST_CRASH_AT={name}: no such crash point");
    fail::cfg_callback(name.clone(), || std::process::abort()).expect("a valid fail point");
    Some(name)
}
