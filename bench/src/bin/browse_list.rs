//! Benchmark (not a test): the bucket browser lists one prefix holding
//! 100,000 objects through the api, page by page, as the screen does while
//! it scrolls. Reports the time to the first page, the time for all pages,
//! and the process's peak memory while listing (the api hands out pages, so
//! it must stay flat in the number of objects).
//!
//! `cargo run --release -p bucketsync-bench --bin browse_list [-- OBJECTS]`
//! (default 100,000; seeding them takes a minute or two on a 2-core
//! machine). Prints one JSON document on stdout, progress on stderr.

use anyhow::{Context, Result};
use bucketsync_api::browse::ListRequest;
use bucketsync_api::policy::{AddPolicyRequest, Secret};
use bucketsync_api::Api;
use bucketsync_remote::Remote;
use bucketsync_testserver::S3Server;
use futures::stream::{self, StreamExt};
use std::time::Instant;

/// Peak resident memory of this process so far, KiB (VmHWM).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Resets VmHWM to the current RSS, so the peak measured is the listing's.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[tokio::main]
async fn main() -> Result<()> {
    let objects: usize = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(100_000);
    let server = S3Server::start_uncompressed_garage();
    let bucket = server.create_bucket("browse-bench");
    let tmp = tempfile::tempdir()?;
    let api = Api::open(&tmp.path().join("home")).map_err(|e| anyhow::anyhow!("{e}"))?;
    api.add_policy(AddPolicyRequest {
        name: "bench".into(),
        provider: "garage".into(),
        bucket: bucket.clone(),
        endpoint: Some(server.endpoint.clone()),
        region: Some(server.region.clone()),
        access_key_id: server.access_key_id.clone(),
        secret_source: Some(format!("file:{}", tmp.path().join("secret").display())),
        secret: Some(Secret::new(server.secret_access_key.clone())),
        ..Default::default()
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;

    eprintln!("seeding {objects} objects under big/ ...");
    let seed_start = Instant::now();
    let remote = api.remote("bench").await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let failures = stream::iter(0..objects)
        .map(|i| {
            let remote = remote.clone();
            async move {
                remote
                    .put_bytes(&format!("big/object-{i:07}.txt"), bytes::Bytes::from_static(b"x"), &[])
                    .await
            }
        })
        .buffer_unordered(64)
        .filter(|r| std::future::ready(r.is_err()))
        .count()
        .await;
    anyhow::ensure!(failures == 0, "{failures} seed PUTs failed");
    eprintln!("seeded in {:.1} s; listing", seed_start.elapsed().as_secs_f64());

    reset_peak_rss();
    let rss_before = peak_rss_kib();
    let start = Instant::now();
    let mut first_page_ms = None;
    let mut pages = 0u64;
    let mut entries = 0u64;
    let mut token = None;
    loop {
        let page = api
            .browse_list(ListRequest {
                policy: "bench".into(),
                prefix: "big/".into(),
                continuation: token,
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("listing")?;
        first_page_ms.get_or_insert(start.elapsed().as_secs_f64() * 1000.0);
        pages += 1;
        entries += page.entries.len() as u64;
        match page.continuation {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    let total_ms = start.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(entries == objects as u64, "listed {entries} of {objects}");
    let report = serde_json::json!({
        "scenario": "browse-list",
        "objects": objects,
        "pages": pages,
        "time_to_first_page_ms": first_page_ms,
        "time_all_pages_ms": total_ms,
        "rss_before_listing_kib": rss_before,
        "peak_rss_while_listing_kib": peak_rss_kib(),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
