//! How one side compares with its base row (what both sides looked like
//! when the path was last in sync). Shared by the snapshot (which doubts to
//! settle before planning) and the planner (what changed), so neither has to
//! reach into the other.

use bucketsync_store::{BaselineRow, LocalFile};

/// A file written this close to its base being recorded may have changed
/// again within the same timestamp tick ("racily clean"): its stat proves
/// nothing, so its hash is checked until it is older than this.
pub const RACY_MS: i64 = 2_000;

/// The clocks that set mtimes (another machine's, on a network share) may
/// run this far ahead of ours. An mtime further in the future (a camera's
/// clock set a year ahead, a file copied with its dates from such a
/// machine) says nothing about when the file was written.
pub const FUTURE_SKEW_MS: i64 = 60_000;

/// Whether `mtime_ms` lies further ahead of `now_ms` than clock skew
/// explains.
pub fn from_the_future(mtime_ms: i64, now_ms: i64) -> bool {
    mtime_ms > now_ms.saturating_add(FUTURE_SKEW_MS)
}

/// Whether the base of a file was recorded too soon after its last write
/// for the stat to prove it unchanged. A write now gives a file the
/// current time, so a base whose mtime is from the future was not recorded
/// "in the same tick" as a write, and is not racy (it would otherwise be
/// hashed on every pass, for ever).
pub fn racy(b: &BaselineRow) -> bool {
    b.synced_ms - b.local.mtime_ms < RACY_MS && !from_the_future(b.local.mtime_ms, b.synced_ms)
}

/// Whether the scan's stat of a file equals the base's.
pub fn local_matches(b: &BaselineRow, l: &LocalFile) -> bool {
    b.local.same_stat(l)
}

/// Whether the listed object is the one the base recorded (by its opaque
/// (size, ETag) token).
pub fn remote_matches(b: &BaselineRow, size: u64, etag: &str) -> bool {
    b.remote_size == size && b.remote_etag == etag
}
