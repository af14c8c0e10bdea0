//! How one side compares with its base row (what both sides looked like
//! when the path was last in sync). Shared by the snapshot (which doubts to
//! settle before planning) and the planner (what changed), so neither has to
//! reach into the other.

use bucketsync_store::{BaselineRow, LocalFile};

/// A file written this close to its base being recorded may have changed
/// again within the same timestamp tick ("racily clean"): its stat proves
/// nothing, so its hash is checked until it is older than this.
pub const RACY_MS: i64 = 2_000;

/// Whether the base of a file was recorded too soon after its last write
/// for the stat to prove it unchanged.
pub fn racy(b: &BaselineRow) -> bool {
    b.synced_ms - b.local.mtime_ms < RACY_MS
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
