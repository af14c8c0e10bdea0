//! Server-side copies against each real local server: a single CopyObject
//! and a multipart UploadPartCopy (the path objects past 5 GiB take, here
//! with the threshold lowered so the test stays small), both only of the
//! version seen.

use bucketsync_remote::{
    Addressing, Connection, CopyLimits, CopySource, ErrorKind, Remote, S3Remote, Secret,
};
use bucketsync_testserver::{Flavor, S3Server};
use bytes::Bytes;

fn remote(server: &S3Server, bucket: &str) -> S3Remote {
    S3Remote::new(&Connection {
        endpoint: Some(server.endpoint.clone()),
        region: server.region.clone(),
        bucket: bucket.to_string(),
        addressing: Addressing::PathStyle,
        access_key_id: server.access_key_id.clone(),
        secret: Secret::new(server.secret_access_key.clone()),
        sdk_checksums: false,
    })
}

async fn read_all(r: &S3Remote, key: &str, size: u64) -> Vec<u8> {
    r.get_range(key, 0..size).await.unwrap().to_vec()
}

async fn copies(server: &S3Server) {
    let bucket = server.create_bucket("copy");
    let r = remote(server, &bucket);
    let data: Vec<u8> = (0..(11 * 1024 * 1024 + 17) as u32).map(|i| (i % 253) as u8).collect();
    let meta = vec![("mtime".to_string(), "1700000000.500".to_string())];
    let put = r.put_bytes("src dir/ü+file.bin", Bytes::from(data.clone()), &meta).await.unwrap();
    let size = data.len() as u64;
    let src = CopySource { key: "src dir/ü+file.bin", size, etag: &put.etag };

    // One CopyObject: bytes and metadata travel.
    r.copy_object(&src, "single.bin", &CopyLimits::default()).await.unwrap();
    assert_eq!(read_all(&r, "single.bin", size).await, data);
    assert_eq!(r.head("single.bin").await.unwrap().mtime_ms, Some(1_700_000_000_500));

    // Part by part (UploadPartCopy), three parts of 5 MiB or less.
    let limits = CopyLimits { max_single_copy: 5 * 1024 * 1024, part_size: 5 * 1024 * 1024, concurrency: 2 };
    let etag = r.copy_object(&src, "parts.bin", &limits).await.unwrap();
    assert!(etag.ends_with("-3"), "a three-part ETag: {etag}");
    assert_eq!(read_all(&r, "parts.bin", size).await, data);
    let details = r.details("parts.bin").await.unwrap();
    assert_eq!(details.size, size);
    assert_eq!(details.mtime_ms, Some(1_700_000_000_500), "metadata set at creation");

    // A source that changed since it was seen is not copied.
    r.put_bytes("src dir/ü+file.bin", Bytes::from_static(b"newer"), &[]).await.unwrap();
    let stale = r.copy_object(&src, "stale2.bin", &limits).await.unwrap_err();
    assert_eq!(stale.kind, ErrorKind::Precondition, "{stale}");
    assert_eq!(r.head("stale2.bin").await.unwrap_err().kind, ErrorKind::NotFound);
    // moto ignores x-amz-copy-source-if-match on CopyObject (the browser's
    // move still keeps a source that changed: it HEADs before deleting).
    if server.flavor == Flavor::Garage {
        let stale = r.copy_object(&src, "stale.bin", &CopyLimits::default()).await.unwrap_err();
        assert_eq!(stale.kind, ErrorKind::Precondition, "{stale}");
        assert_eq!(r.head("stale.bin").await.unwrap_err().kind, ErrorKind::NotFound);
    }
}

#[tokio::test]
async fn copies_garage() {
    copies(S3Server::garage()).await;
}

#[tokio::test]
async fn copies_moto() {
    copies(S3Server::moto()).await;
}
