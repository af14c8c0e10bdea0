//! Counting the S3 requests this process sends, by operation.
//!
//! Every client built by [`crate::Connection::client`] carries
//! [`RequestCounter`], an SDK interceptor that bumps one atomic per attempt
//! (a retried request counts again: it went over the wire again). The cost is
//! a short string comparison and one relaxed atomic add per request, so it is
//! always on. The benchmark reads the totals to check, e.g., that a pass over
//! an unchanged folder sends one LIST per 1,000 keys and nothing else.

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// When this environment variable names a file, the `bucketsync` CLI writes
/// [`counts`] there as JSON (`{"requests": {"ListObjectsV2": 1, ...}}`) as
/// it exits. For the benchmark and tests; not part of the CLI contract.
pub const STATS_ENV: &str = "BUCKETSYNC_REQUEST_STATS";

/// The operations counted one by one; anything else counts as `Other`.
const OPERATIONS: [&str; 16] = [
    "ListObjectsV2",
    "HeadObject",
    "GetObject",
    "PutObject",
    "CreateMultipartUpload",
    "UploadPart",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "ListParts",
    "DeleteObjects",
    "DeleteObject",
    "CopyObject",
    "HeadBucket",
    "PutBucketCors",
    "GetBucketCors",
    "Other",
];

static COUNTS: [AtomicU64; OPERATIONS.len()] = [const { AtomicU64::new(0) }; OPERATIONS.len()];

fn slot(operation: &str) -> usize {
    OPERATIONS.iter().position(|o| *o == operation).unwrap_or(OPERATIONS.len() - 1)
}

/// Records one request of `operation` (an SDK operation name such as `GetObject`).
pub fn count(operation: &str) {
    COUNTS[slot(operation)].fetch_add(1, Ordering::Relaxed);
}

/// The requests sent so far by this process, by operation (only those sent at least once).
pub fn counts() -> BTreeMap<&'static str, u64> {
    OPERATIONS
        .iter()
        .zip(COUNTS.iter())
        .map(|(name, n)| (*name, n.load(Ordering::Relaxed)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// The SDK interceptor that feeds [`count`]; added to every client.
#[derive(Debug, Default)]
pub(crate) struct RequestCounter;

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "bucketsync-request-counter"
    }

    /// Called once per attempt, right before the request goes out.
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        count(cfg.load::<Metadata>().map_or("Other", Metadata::name));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_operations_have_their_own_slot_and_others_share_one() {
        assert_eq!(OPERATIONS[slot("GetObject")], "GetObject");
        assert_eq!(OPERATIONS[slot("PutBucketLifecycleConfiguration")], "Other");
        let before = counts().get("DeleteObject").copied().unwrap_or(0);
        count("DeleteObject");
        count("DeleteObject");
        assert_eq!(counts()["DeleteObject"], before + 2);
    }
}
