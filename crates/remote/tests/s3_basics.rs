//! The S3 calls the engine relies on, against each real local server.

use bucketsync_remote::{Addressing, Connection, Remote, S3Remote, Secret, WriteIf};
use bucketsync_testserver::{Flavor, S3Server};
use bytes::Bytes;
use rand::RngCore;

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

async fn list_all(r: &S3Remote, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = r.list_page(prefix, token).await.unwrap();
        keys.extend(page.objects.into_iter().map(|o| o.key));
        match page.continuation {
            Some(t) => token = Some(t),
            None => return keys,
        }
    }
}

async fn put_list_multipart_range_delete(server: &S3Server) {
    let bucket = server.create_bucket("basics");
    let r = remote(server, &bucket);

    // PutObject with rclone-style mtime metadata, read back by HEAD.
    let meta = vec![("mtime".to_string(), "1700000000.250".to_string())];
    let small = r.put_bytes("dir/small.txt", Bytes::from_static(b"hello"), &meta).await.unwrap();
    assert_eq!(small.size, 5);
    assert!(!small.etag.is_empty());
    let head = r.head("dir/small.txt").await.unwrap();
    assert_eq!(head.size, 5);
    assert_eq!(head.etag, small.etag);
    assert_eq!(head.mtime_ms, Some(1_700_000_000_250));
    r.put_bytes("dir/empty", Bytes::new(), &[]).await.unwrap();

    // Multipart from a file: two 5 MiB parts and a short last one.
    let tmp = tempfile_path();
    let mut data = vec![0u8; 5 * 1024 * 1024 * 2 + 1234];
    rand::rng().fill_bytes(&mut data);
    std::fs::write(&tmp, &data).unwrap();
    let id = r.create_multipart("big.bin", &meta).await.unwrap();
    let part = 5 * 1024 * 1024u64;
    let mut parts = Vec::new();
    for (i, offset) in [0, part, 2 * part].into_iter().enumerate() {
        let len = (data.len() as u64 - offset).min(part);
        parts.push(r.upload_part("big.bin", &id, i as i32 + 1, &tmp, offset, len).await.unwrap());
    }
    match server.flavor {
        Flavor::Garage => {
            let listed = r.list_parts("big.bin", &id).await.unwrap();
            assert_eq!(listed.iter().map(|p| p.number).collect::<Vec<_>>(), vec![1, 2, 3]);
            let listed_etags: Vec<_> = listed.iter().map(|p| &p.etag).collect();
            assert_eq!(listed_etags, parts.iter().map(|p| &p.etag).collect::<Vec<_>>());
        }
        // moto names the root element ListPartsResponse instead of
        // ListPartsResult; the SDK cannot read it. It must surface as a
        // server fault, not as an empty list of parts.
        Flavor::Moto => {
            let err = r.list_parts("big.bin", &id).await.unwrap_err();
            assert_eq!(err.kind, bucketsync_remote::ErrorKind::Server, "{err}");
        }
    }
    let done = r.complete_multipart("big.bin", &id, &parts).await.unwrap();
    assert_eq!(done.size, data.len() as u64);
    assert_eq!(r.head("big.bin").await.unwrap().size, data.len() as u64);

    // Both kinds of upload are typed by extension (a public link to a photo
    // shows it); no extension leaves the server's default.
    assert_eq!(r.details("dir/small.txt").await.unwrap().content_type.as_deref(), Some("text/plain"));
    let id = r.create_multipart("photo.jpg", &[]).await.unwrap();
    let one = r.upload_part("photo.jpg", &id, 1, &tmp, 0, part).await.unwrap();
    r.complete_multipart("photo.jpg", &id, &[one]).await.unwrap();
    assert_eq!(r.details("photo.jpg").await.unwrap().content_type.as_deref(), Some("image/jpeg"));
    let untyped = r.details("dir/empty").await.unwrap().content_type;
    assert!(untyped.as_deref() != Some("text/plain"), "{untyped:?}");

    // Ranged GETs, including one across a part boundary and the tail.
    let across = r.get_range("big.bin", part - 10..part + 10).await.unwrap();
    assert_eq!(&across[..], &data[(part - 10) as usize..(part + 10) as usize]);
    let tail = r.get_range("big.bin", data.len() as u64 - 7..data.len() as u64).await.unwrap();
    assert_eq!(&tail[..], &data[data.len() - 7..]);

    // An aborted upload leaves nothing behind.
    let aborted = r.create_multipart("aborted.bin", &[]).await.unwrap();
    r.upload_part("aborted.bin", &aborted, 1, &tmp, 0, part).await.unwrap();
    r.abort_multipart("aborted.bin", &aborted).await.unwrap();

    // Listing, then a batch delete of everything.
    let mut keys = list_all(&r, "").await;
    keys.sort();
    assert_eq!(keys, vec!["big.bin", "dir/empty", "dir/small.txt", "photo.jpg"]);
    assert_eq!(list_all(&r, "dir/").await.len(), 2);
    let refused = r.delete_batch(&keys).await.unwrap();
    assert!(refused.is_empty(), "{refused:?}");
    assert!(list_all(&r, "").await.is_empty());
    let gone = r.head("dir/small.txt").await.unwrap_err();
    assert_eq!(gone.kind, bucketsync_remote::ErrorKind::NotFound);
    std::fs::remove_file(tmp).unwrap();
}

async fn listing_pages(server: &S3Server) {
    let bucket = server.create_bucket("pages");
    let r = remote(server, &bucket);
    let keys: Vec<String> = (0..1005).map(|i| format!("p/{i:05}")).collect();
    futures_put(&r, &keys).await;
    assert_eq!(list_all(&r, "p/").await.len(), 1005, "listing must follow continuation tokens");
    for chunk in keys.chunks(1000) {
        assert!(r.delete_batch(chunk).await.unwrap().is_empty());
    }
}

async fn futures_put(r: &S3Remote, keys: &[String]) {
    use futures::stream::{self, StreamExt};
    stream::iter(keys)
        .for_each_concurrent(16, |k| async move {
            r.put_bytes(k, Bytes::from_static(b"x"), &[]).await.unwrap();
        })
        .await;
}

fn tempfile_path() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("bucketsync-remote-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{}.bin", rand::rng().next_u64()))
}

#[tokio::test]
async fn garage_basics() {
    put_list_multipart_range_delete(S3Server::garage()).await;
}

#[tokio::test]
async fn moto_basics() {
    put_list_multipart_range_delete(S3Server::moto()).await;
}

#[tokio::test]
async fn garage_listing_follows_pages() {
    listing_pages(S3Server::garage()).await;
}

#[tokio::test]
async fn wrong_secret_is_bad_credentials_on_garage() {
    let server = S3Server::garage();
    let bucket = server.create_bucket("badkey");
    let r = S3Remote::new(&Connection {
        endpoint: Some(server.endpoint.clone()),
        region: server.region.clone(),
        bucket,
        addressing: Addressing::PathStyle,
        access_key_id: server.access_key_id.clone(),
        secret: Secret::new("0".repeat(64)),
        sdk_checksums: false,
    });
    let err = r.list_page("", None).await.unwrap_err();
    assert_eq!(err.kind, bucketsync_remote::ErrorKind::BadCredentials, "{err}");
}

/// Keys XML cannot carry, spaces, pluses and percent signs survive listing.
async fn odd_keys_list_back_exactly(server: &S3Server) {
    let bucket = server.create_bucket("oddkeys");
    let r = remote(server, &bucket);
    let keys = ["k/a b+c%41.txt", "k/ctl\u{1}x", "k/é ü", "k/plus+"];
    for k in keys {
        r.put_bytes(k, Bytes::from_static(b"x"), &[]).await.unwrap();
    }
    let mut listed = list_all(&r, "k/").await;
    listed.sort();
    let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn garage_lists_odd_keys_exactly() {
    odd_keys_list_back_exactly(S3Server::garage()).await;
}

#[tokio::test]
async fn moto_lists_odd_keys_exactly() {
    odd_keys_list_back_exactly(S3Server::moto()).await;
}

/// SHA-256 of `hello`.
const HELLO_SHA256: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

/// A PUT signed with the hash its caller computed lands as sent; where the
/// server checks signed payloads (Garage), a body that does not match the
/// hash is refused and nothing lands, so the hash in an object's metadata
/// is the hash of its bytes.
async fn hashed_put_lands_only_with_its_own_hash(server: &S3Server, checks_payload: bool) {
    let bucket = server.create_bucket("hashed");
    let r = remote(server, &bucket);
    let body = Bytes::from_static(b"hello");
    let put = r.put_hashed_if("right", body.clone(), HELLO_SHA256, &[], &WriteIf::Absent).await.unwrap();
    assert_eq!(put.size, 5);
    assert_eq!(r.get_range("right", 0..5).await.unwrap(), body);
    if checks_payload {
        let wrong = HELLO_SHA256.replace('2', "3");
        let refused = r.put_hashed_if("wrong", body, &wrong, &[], &WriteIf::Always).await;
        assert!(refused.is_err(), "{refused:?}");
        let gone = r.head("wrong").await.unwrap_err();
        assert_eq!(gone.kind, bucketsync_remote::ErrorKind::NotFound, "{gone}");
    }
}

#[tokio::test]
async fn garage_refuses_a_body_that_does_not_match_its_signed_hash() {
    hashed_put_lands_only_with_its_own_hash(S3Server::garage(), true).await;
}

#[tokio::test]
async fn moto_takes_a_hashed_put() {
    hashed_put_lands_only_with_its_own_hash(S3Server::moto(), false).await;
}
