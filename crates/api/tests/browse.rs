//! The bucket browser's api against each real local server (Garage, moto):
//! paged folder listings, details, folders, deletes, renames (multipart
//! objects and prefixes), links a plain HTTP GET fetches, previews,
//! uploads and downloads with progress and cancel, and the follow-up pass
//! that keeps a synced pair's base state true.

use bucketsync_api::browse::transfer::{DownloadRequest, TransferEvent, TransferSink, UploadRequest};
use bucketsync_api::browse::{DeleteRequest, LinkRequest, ListRequest, RenameRequest};
use bucketsync_api::pair::AddPairRequest;
use bucketsync_api::policy::{AddPolicyRequest, ConditionalWrites, Secret, UpdatePolicyRequest};
use bucketsync_api::{Api, ErrorKind};
use bucketsync_testserver::{Flavor, S3Server};
use futures::stream::{self, StreamExt};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    api: Api,
    bucket: String,
}

async fn fixture(server: &S3Server, hint: &str, public: bool, cdn_url: Option<String>) -> Fixture {
    fixture_at(server, &server.endpoint, hint, public, cdn_url).await
}

/// [`fixture`] with the policy pointed at `endpoint` (a fault proxy in
/// front of `server`).
async fn fixture_at(
    server: &S3Server,
    endpoint: &str,
    hint: &str,
    public: bool,
    cdn_url: Option<String>,
) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let api = Api::open(&dir.join("home")).unwrap();
    let bucket = server.create_bucket(hint);
    let provider = match server.flavor {
        Flavor::Garage => "garage",
        Flavor::Moto => "custom",
    };
    api.add_policy(AddPolicyRequest {
        name: "p".into(),
        provider: provider.into(),
        bucket: bucket.clone(),
        endpoint: Some(endpoint.to_string()),
        region: Some(server.region.clone()),
        access_key_id: server.access_key_id.clone(),
        secret_source: Some(format!("file:{}", dir.join("secret").display())),
        secret: Some(Secret::new(server.secret_access_key.clone())),
        public,
        cdn_url,
        ..Default::default()
    })
    .await
    .unwrap();
    Fixture { _tmp: tmp, dir, api, bucket }
}

async fn put(f: &Fixture, key: &str, body: &[u8]) {
    use bucketsync_remote::Remote;
    let remote = f.api.remote("p").await.unwrap();
    remote.put_bytes(key, bytes::Bytes::copy_from_slice(body), &[]).await.unwrap();
}

/// Every entry of a listing, page by page, with the number of pages.
async fn list_all(
    api: &Api,
    prefix: &str,
    recursive: bool,
    page_size: Option<u32>,
) -> (Vec<(String, bool)>, usize) {
    let mut out = Vec::new();
    let mut pages = 0;
    let mut token = None;
    loop {
        let page = api
            .browse_list(ListRequest {
                policy: "p".into(),
                prefix: prefix.into(),
                recursive,
                continuation: token,
                page_size,
            })
            .await
            .unwrap();
        pages += 1;
        out.extend(page.entries.into_iter().map(|e| (e.key, e.folder)));
        match page.continuation {
            Some(t) => token = Some(t),
            None => return (out, pages),
        }
    }
}

/// A plain HTTP/1.1 GET (no S3 client, no signature added): status and body.
/// `*.localhost` resolves to the loopback address (RFC 6761).
fn http_get(url: &str) -> (u16, Vec<u8>) {
    let u = url::Url::parse(url).unwrap();
    let host = u.host_str().unwrap().to_string();
    let port = u.port_or_known_default().unwrap();
    let connect = if host.ends_with(".localhost") { "127.0.0.1".to_string() } else { host.clone() };
    let mut s = std::net::TcpStream::connect((connect.as_str(), port)).unwrap();
    let target = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    };
    write!(s, "GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..line_end]).trim(), 16).unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

async fn listing_pages_folders_and_deletes(server: &S3Server) {
    let f = fixture(server, "browse-list", false, None).await;
    // 2,000 objects in one prefix, plus a sub-folder, a folder marker and a
    // key that cannot be a file.
    let keys: Vec<String> = (0..2000).map(|i| format!("many/obj-{i:05}")).collect();
    stream::iter(keys.iter()).for_each_concurrent(16, |k| put(&f, k, b"x")).await;
    put(&f, "many/sub/inner.txt", b"inner").await;
    put(&f, "many/", b"").await;
    put(&f, "odd//name", b"odd").await;

    let (entries, pages) = list_all(&f.api, "many/", false, None).await;
    assert_eq!(pages, 3, "2,001 entries come in pages of at most 1,000");
    assert_eq!(entries.len(), 2001, "the folder's own marker is not an entry of it");
    assert_eq!(entries.iter().filter(|(_, folder)| *folder).count(), 1);
    assert!(entries.contains(&("many/sub/".to_string(), true)));
    let mut sorted = entries.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 2001, "no entry twice across pages");

    let (small, pages) = list_all(&f.api, "many/", true, Some(500)).await;
    assert_eq!(pages, 5);
    assert_eq!(small.len(), 2001, "recursive: the 2,000 and the inner file");
    assert!(small.iter().all(|(_, folder)| !folder));

    // Top level: folders, and the hostile key marked with a safe name.
    let top = f.api.browse_list(ListRequest { policy: "p".into(), ..Default::default() }).await.unwrap();
    let names: Vec<&str> = top.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["many/", "odd/"]);
    let odd = f
        .api
        .browse_list(ListRequest { policy: "p".into(), prefix: "odd/".into(), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(odd.entries.len(), 1);
    assert_eq!(odd.entries[0].key, "odd//");
    assert!(odd.entries[0].unsafe_reason.as_deref().unwrap().contains("empty segment"));
    let rec = f
        .api
        .browse_list(ListRequest {
            policy: "p".into(),
            prefix: "odd/".into(),
            recursive: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rec.entries[0].safe_key.as_deref(), Some("odd/name"));
    // ... and can be renamed to it.
    f.api
        .browse_rename(RenameRequest { policy: "p".into(), from: "odd//name".into(), to: "odd/name".into() })
        .await
        .unwrap();
    let (odd_after, _) = list_all(&f.api, "odd/", true, None).await;
    assert_eq!(odd_after, [("odd/name".to_string(), false)]);

    // New folder: a zero-byte marker that lists as a folder.
    assert_eq!(f.api.browse_new_folder("p", "fresh").await.unwrap(), "fresh/");
    let top = f.api.browse_list(ListRequest { policy: "p".into(), ..Default::default() }).await.unwrap();
    assert!(top.entries.iter().any(|e| e.key == "fresh/" && e.folder));
    let bad = f.api.browse_new_folder("p", "a/../b").await.unwrap_err();
    assert_eq!(bad.kind, ErrorKind::InvalidInput);

    // Delete: counted first, then removed in batches of 1,000.
    let req = DeleteRequest {
        policy: "p".into(),
        keys: vec!["odd/name".into(), "missing".into()],
        prefixes: vec!["many/".into()],
    };
    let preview = f.api.browse_delete_preview(&req).await.unwrap();
    assert_eq!(
        preview.objects,
        2000 + 2 + 1,
        "2,000 + inner + marker + odd/name; a missing key counts nothing"
    );
    assert!(preview.synced_by.is_empty());
    let report = f.api.browse_delete(req).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert!(report.deleted >= 2003);
    let (left, _) = list_all(&f.api, "", true, None).await;
    assert_eq!(left, [("fresh/".to_string(), true)]);
}

#[tokio::test]
async fn listing_pages_folders_and_deletes_garage() {
    listing_pages_folders_and_deletes(S3Server::garage()).await;
}

#[tokio::test]
async fn listing_pages_folders_and_deletes_moto() {
    listing_pages_folders_and_deletes(S3Server::moto()).await;
}

fn recorder() -> (TransferSink, Arc<Mutex<Vec<TransferEvent>>>) {
    let seen: Arc<Mutex<Vec<TransferEvent>>> = Default::default();
    let s = seen.clone();
    (TransferSink::new(move |e| s.lock().unwrap().push(e.clone())), seen)
}

fn sha(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(data).to_vec()
}

async fn transfers_rename_details_links(server: &S3Server) {
    let f = fixture(server, "browse-ops", false, None).await;
    // A folder to upload: a multipart-sized file, a small one, a nested one
    // and a symlink (never followed).
    let src = f.dir.join("src/album");
    std::fs::create_dir_all(src.join("inner")).unwrap();
    let big: Vec<u8> = (0..17 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(src.join("big.bin"), &big).unwrap();
    std::fs::write(src.join("note.txt"), "hello browser").unwrap();
    std::fs::write(src.join("inner/deep.txt"), "deep").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", src.join("link")).unwrap();
    let (sink, events) = recorder();
    let report = f
        .api
        .browse_upload(
            UploadRequest {
                id: "up1".into(),
                policy: "p".into(),
                prefix: "docs/".into(),
                paths: vec![src.display().to_string()],
                ..Default::default()
            },
            sink,
        )
        .await
        .unwrap();
    let mut done = report.done.clone();
    done.sort();
    assert_eq!(done, ["docs/album/big.bin", "docs/album/inner/deep.txt", "docs/album/note.txt"]);
    assert_eq!(report.skipped.len(), 1, "the symlink: {:?}", report.skipped);
    assert!(report.skipped[0].message.contains("symbolic"));
    {
        let events = events.lock().unwrap();
        let big_events: Vec<&TransferEvent> =
            events.iter().filter(|e| e.key == "docs/album/big.bin").collect();
        assert!(
            big_events
                .iter()
                .any(|e| e.state == "running" && e.bytes_done > 0 && e.bytes_done < e.bytes_total),
            "progress mid-file"
        );
        assert_eq!(big_events.last().unwrap().state, "done");
        assert_eq!(big_events.last().unwrap().bytes_done, big.len() as u64);
    }
    // Uploading again without overwrite skips what exists.
    let again = f
        .api
        .browse_upload(
            UploadRequest {
                id: "up2".into(),
                policy: "p".into(),
                prefix: "docs/album/".into(),
                paths: vec![src.join("note.txt").display().to_string()],
                ..Default::default()
            },
            TransferSink::default(),
        )
        .await
        .unwrap();
    assert!(again.done.is_empty() && again.skipped.len() == 1);

    // Details: size, ETag of a multipart upload, the engine's metadata.
    let d = f.api.browse_stat("p", "docs/album/big.bin").await.unwrap();
    assert_eq!(d.size, big.len() as u64);
    assert!(d.etag.contains('-'), "multipart ETag: {}", d.etag);
    assert!(d.mtime_ms.is_some());
    assert!(d.user_metadata.iter().any(|m| m.name == "sha256"));
    assert_eq!(f.api.browse_stat("p", "docs/nothing").await.unwrap_err().kind, ErrorKind::NotFound);

    // Rename the multipart object: same bytes and metadata, source gone.
    let r = f
        .api
        .browse_rename(RenameRequest {
            policy: "p".into(),
            from: "docs/album/big.bin".into(),
            to: "docs/big-renamed.bin".into(),
        })
        .await
        .unwrap();
    assert_eq!(r.moved, 1, "{r:?}");
    let moved = f.api.browse_stat("p", "docs/big-renamed.bin").await.unwrap();
    assert_eq!(moved.size, big.len() as u64);
    assert_eq!(
        moved.user_metadata.iter().find(|m| m.name == "sha256").map(|m| &m.value),
        d.user_metadata.iter().find(|m| m.name == "sha256").map(|m| &m.value)
    );
    assert_eq!(f.api.browse_stat("p", "docs/album/big.bin").await.unwrap_err().kind, ErrorKind::NotFound);
    // Never over an existing object.
    let clash = f
        .api
        .browse_rename(RenameRequest {
            policy: "p".into(),
            from: "docs/album/note.txt".into(),
            to: "docs/big-renamed.bin".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(clash.kind, ErrorKind::AlreadyExists);

    // Rename a prefix; not into itself.
    let into = f
        .api
        .browse_rename(RenameRequest {
            policy: "p".into(),
            from: "docs/album/".into(),
            to: "docs/album/x/".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(into.kind, ErrorKind::InvalidInput);
    let r = f
        .api
        .browse_rename(RenameRequest { policy: "p".into(), from: "docs/album/".into(), to: "photos/".into() })
        .await
        .unwrap();
    assert_eq!(r.moved, 2, "{r:?}");
    let (after, _) = list_all(&f.api, "", true, None).await;
    let keys: Vec<&str> = after.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["docs/big-renamed.bin", "photos/inner/deep.txt", "photos/note.txt"]);

    // Download a prefix and an object (verified, atomic) into a folder.
    let out = f.dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let (sink, events) = recorder();
    let report = f
        .api
        .browse_download(
            DownloadRequest {
                id: "down1".into(),
                policy: "p".into(),
                keys: vec!["docs/big-renamed.bin".into()],
                prefixes: vec!["photos/".into()],
                dest_dir: out.display().to_string(),
                ..Default::default()
            },
            sink,
        )
        .await
        .unwrap();
    assert_eq!(report.done.len(), 3, "{report:?}");
    assert_eq!(sha(&std::fs::read(out.join("big-renamed.bin")).unwrap()), sha(&big));
    assert_eq!(std::fs::read_to_string(out.join("photos/inner/deep.txt")).unwrap(), "deep");
    assert_eq!(std::fs::read_to_string(out.join("photos/note.txt")).unwrap(), "hello browser");
    assert!(events.lock().unwrap().iter().any(|e| e.direction == "download" && e.state == "done"));
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".bucketsync-tmp"))
        .collect();
    assert!(leftovers.is_empty());
    // An existing file is not replaced unless asked.
    std::fs::write(out.join("photos/note.txt"), "mine").unwrap();
    let report = f
        .api
        .browse_download(
            DownloadRequest {
                id: "down2".into(),
                policy: "p".into(),
                keys: vec!["photos/note.txt".into()],
                dest_dir: out.join("photos").display().to_string(),
                ..Default::default()
            },
            TransferSink::default(),
        )
        .await
        .unwrap();
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(std::fs::read_to_string(out.join("photos/note.txt")).unwrap(), "mine");

    // Previews: text through Rust, images base64.
    let p = f.api.browse_preview("p", "photos/note.txt").await.unwrap();
    assert_eq!((p.kind.as_str(), p.text.as_deref()), ("text", Some("hello browser")));
    put(&f, "pic.png", &[0x89, b'P', b'N', b'G', 13, 10, 26, 10]).await;
    let p = f.api.browse_preview("p", "pic.png").await.unwrap();
    assert_eq!(p.kind, "image");
    assert_eq!(p.data_base64.as_deref(), Some("iVBORw0KGgo="));

    // Links: presigned, fetched by a plain GET; too long is refused.
    let link = f
        .api
        .browse_link(LinkRequest {
            policy: "p".into(),
            key: "photos/note.txt".into(),
            expires_secs: Some(600),
        })
        .await
        .unwrap();
    assert!(!link.public);
    let (status, body) = http_get(&link.url);
    assert_eq!((status, body.as_slice()), (200, b"hello browser".as_slice()));
    let short = f
        .api
        .browse_link(LinkRequest { policy: "p".into(), key: "photos/note.txt".into(), expires_secs: Some(1) })
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (status, _) = http_get(&short.url);
    // moto does not check signatures, so neither their expiry; Garage does
    // (and answers 400, AWS 403).
    if server.flavor == Flavor::Garage {
        assert!(matches!(status, 400 | 403), "an expired presigned link must fail, got {status}");
    }
    let long = f
        .api
        .browse_link(LinkRequest {
            policy: "p".into(),
            key: "photos/note.txt".into(),
            expires_secs: Some(8 * 86400),
        })
        .await
        .unwrap_err();
    assert_eq!(long.kind, ErrorKind::InvalidInput);
    assert!(long.message.contains("7 days"));
    // Without a signature the private object is not readable (Garage checks).
    if server.flavor == Flavor::Garage {
        let plain = format!("{}/{}/photos/note.txt", server.endpoint, f.bucket);
        assert_eq!(http_get(&plain).0, 403);
    }
}

#[tokio::test]
async fn transfers_rename_details_links_garage() {
    transfers_rename_details_links(S3Server::garage()).await;
}

#[tokio::test]
async fn transfers_rename_details_links_moto() {
    transfers_rename_details_links(S3Server::moto()).await;
}

/// A cancelled upload stops, reports it, and leaves no open multipart upload.
async fn cancel_aborts_the_upload(server: &S3Server) {
    let f = Arc::new(fixture(server, "browse-cancel", false, None).await);
    let file = f.dir.join("huge.bin");
    std::fs::write(&file, vec![7u8; 60 * 1024 * 1024]).unwrap();
    let started = Arc::new(tokio::sync::Notify::new());
    let sink = {
        let started = started.clone();
        TransferSink::new(move |e| {
            if e.state == "running" && e.bytes_done > 0 {
                started.notify_one();
            }
        })
    };
    let task = {
        let f = f.clone();
        let path = file.display().to_string();
        tokio::spawn(async move {
            f.api
                .browse_upload(
                    UploadRequest {
                        id: "c1".into(),
                        policy: "p".into(),
                        paths: vec![path],
                        ..Default::default()
                    },
                    sink,
                )
                .await
        })
    };
    started.notified().await;
    assert!(f.api.cancel_transfer("c1"));
    let report = task.await.unwrap().unwrap();
    assert!(report.cancelled && report.done.is_empty(), "{report:?}");
    let remote = f.api.remote("p").await.unwrap();
    let open = remote.client().list_multipart_uploads().bucket(&f.bucket).send().await.unwrap();
    assert!(open.uploads().is_empty(), "the cancelled upload was aborted");
    assert_eq!(f.api.browse_stat("p", "huge.bin").await.unwrap_err().kind, ErrorKind::NotFound);
    assert!(!f.api.cancel_transfer("c1"), "finished transfers cannot be cancelled");
}

#[tokio::test]
async fn cancel_aborts_the_upload_garage() {
    cancel_aborts_the_upload(S3Server::garage()).await;
}

/// Uploads, renames and deletes under a synced prefix are followed by a
/// pass of that pair: the file arrives locally, and a delete (warned
/// about first) removes the local copy into the trash.
#[tokio::test]
async fn operations_under_a_synced_prefix_follow_up_with_a_pass() {
    let f = fixture(S3Server::garage(), "browse-sync", false, None).await;
    let local = f.dir.join("local");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(local.join("keep.txt"), "keep").unwrap();
    f.api
        .add_pair(AddPairRequest {
            dir: local.display().to_string(),
            policy: "p".into(),
            prefix: Some("synced/".into()),
            mode: None,
            name: Some("s".into()),
            max_delete_percent: Some(100),
            paused: false,
        })
        .await
        .unwrap();
    let page = f
        .api
        .browse_list(ListRequest { policy: "p".into(), prefix: "synced/".into(), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(page.synced_by.len(), 1);
    let other = f
        .api
        .browse_list(ListRequest { policy: "p".into(), prefix: "elsewhere/".into(), ..Default::default() })
        .await
        .unwrap();
    assert!(other.synced_by.is_empty());

    let file = f.dir.join("from-browser.txt");
    std::fs::write(&file, "via the browser").unwrap();
    let report = f
        .api
        .browse_upload(
            UploadRequest {
                id: "u".into(),
                policy: "p".into(),
                prefix: "synced/".into(),
                paths: vec![file.display().to_string()],
                ..Default::default()
            },
            TransferSink::default(),
        )
        .await
        .unwrap();
    assert_eq!(report.follow_up.len(), 1);
    assert_eq!(report.follow_up[0].outcome, "synced", "{:?}", report.follow_up);
    assert_eq!(std::fs::read_to_string(local.join("from-browser.txt")).unwrap(), "via the browser");

    // Rename inside the prefix: the local name follows.
    let r = f
        .api
        .browse_rename(RenameRequest {
            policy: "p".into(),
            from: "synced/from-browser.txt".into(),
            to: "synced/renamed.txt".into(),
        })
        .await
        .unwrap();
    assert_eq!(r.follow_up[0].outcome, "synced");
    assert!(!local.join("from-browser.txt").exists());
    assert_eq!(std::fs::read_to_string(local.join("renamed.txt")).unwrap(), "via the browser");

    // Delete: the preview names the pair; the local copy goes to the trash.
    let req = DeleteRequest { policy: "p".into(), keys: vec!["synced/renamed.txt".into()], prefixes: vec![] };
    let preview = f.api.browse_delete_preview(&req).await.unwrap();
    assert_eq!(preview.objects, 1);
    assert_eq!(preview.synced_by[0].pair, "s");
    let report = f.api.browse_delete(req).await.unwrap();
    assert_eq!(report.follow_up[0].outcome, "synced");
    assert!(!local.join("renamed.txt").exists());
    assert!(local.join("keep.txt").exists());
    let trash = f.api.home().join("trash");
    let trashed = walk(&trash).into_iter().any(|p| p.ends_with("renamed.txt"));
    assert!(trashed, "the local copy is in the trash");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A public bucket's link is its public URL: at the endpoint in the
/// policy's addressing style (moto serves it unsigned), or under the public
/// base URL when one is set (Garage's website endpoint).
#[tokio::test]
async fn public_links_work_without_a_signature() {
    let moto = S3Server::moto();
    let f = fixture(moto, "browse-public", true, None).await;
    put(&f, "pub/hello world.txt", b"public bytes").await;
    // Private, a plain GET is refused; made public (a bucket policy, as on
    // AWS), the same URL works.
    let plain = format!("{}/{}/pub/hello%20world.txt", moto.endpoint, f.bucket);
    assert_eq!(http_get(&plain).0, 403);
    let public_read = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}/*"}}]}}"#,
        f.bucket
    );
    let remote = f.api.remote("p").await.unwrap();
    remote.client().put_bucket_policy().bucket(&f.bucket).policy(public_read).send().await.unwrap();
    let link = f
        .api
        .browse_link(LinkRequest {
            policy: "p".into(),
            key: "pub/hello world.txt".into(),
            expires_secs: None,
        })
        .await
        .unwrap();
    assert!(link.public && link.expires_at_ms.is_none());
    assert_eq!(link.url, format!("{}/{}/pub/hello%20world.txt", moto.endpoint, f.bucket));
    assert_eq!(http_get(&link.url), (200, b"public bytes".to_vec()));

    let garage = S3Server::garage();
    let bucket = garage.create_bucket("browse-web");
    let Some(base) = garage.website(&bucket) else { panic!("Garage serves websites") };
    let f = fixture(garage, "browse-web-policy", true, Some(base.clone())).await;
    // The fixture made its own bucket; point a second policy at the website one.
    let api = &f.api;
    api.add_policy(AddPolicyRequest {
        name: "web".into(),
        provider: "garage".into(),
        bucket: bucket.clone(),
        endpoint: Some(garage.endpoint.clone()),
        region: Some(garage.region.clone()),
        access_key_id: garage.access_key_id.clone(),
        secret_source: Some(format!("file:{}", f.dir.join("secret-web").display())),
        secret: Some(Secret::new(garage.secret_access_key.clone())),
        public: true,
        cdn_url: Some(base.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    {
        use bucketsync_remote::Remote;
        api.remote("web")
            .await
            .unwrap()
            .put_bytes("site/page.txt", bytes::Bytes::from_static(b"on the web"), &[])
            .await
            .unwrap();
    }
    let link = api
        .browse_link(LinkRequest { policy: "web".into(), key: "site/page.txt".into(), expires_secs: None })
        .await
        .unwrap();
    assert!(link.public);
    assert!(link.url.starts_with(base.trim_end_matches('/')), "{}", link.url);
    assert_eq!(http_get(&link.url), (200, b"on the web".to_vec()));
}

/// `policy probe` keeps what it saw of conditional writes with the policy
/// (Garage ignores them, moto honours them); an update that keeps the
/// server keeps it, one that points elsewhere makes it unknown again.
async fn probe_keeps_its_conditional_writes_observation(server: &S3Server, expected: ConditionalWrites) {
    let f = fixture(server, "probe-conditional", false, None).await;
    assert_eq!(f.api.policy("p").unwrap().conditional_writes, ConditionalWrites::Unknown, "never guessed");
    let probe = f.api.probe_policy("p").await.unwrap();
    assert!(probe.ok, "a server that ignores them still passes: {probe:?}");
    assert_eq!(probe.conditional_writes, expected, "{probe:?}");
    assert_eq!(f.api.policy("p").unwrap().conditional_writes, expected, "stored with the policy");

    let update = |endpoint: Option<String>, cdn_url: Option<String>| UpdatePolicyRequest {
        name: "p".into(),
        endpoint,
        cdn_url,
        ..Default::default()
    };
    f.api.update_policy(update(None, Some("cdn.example.com".into()))).await.unwrap();
    assert_eq!(f.api.policy("p").unwrap().conditional_writes, expected, "same server, same answer");
    let elsewhere = server.endpoint.replace("127.0.0.1", "localhost");
    f.api.update_policy(update(Some(elsewhere), None)).await.unwrap();
    assert_eq!(f.api.policy("p").unwrap().conditional_writes, ConditionalWrites::Unknown, "another endpoint");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_keeps_its_conditional_writes_observation_garage() {
    probe_keeps_its_conditional_writes_observation(S3Server::garage(), ConditionalWrites::Ignored).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_keeps_its_conditional_writes_observation_moto() {
    probe_keeps_its_conditional_writes_observation(S3Server::moto(), ConditionalWrites::Honoured).await;
}

/// A PUT of `body` at `bucket/key` straight to moto (which checks no
/// signatures): another client, from inside the fault proxy's matcher.
fn raw_put(endpoint: &str, bucket: &str, key: &str, body: &[u8]) {
    let host = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "PUT /{bucket}/{key} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// An upload without overwrite never replaces an object that appeared at
/// its key after the browser looked: here another client's object lands
/// right before our PUT reaches the server (moto, probed as honouring
/// conditional writes). The PUT carries `If-None-Match: *`, the server
/// refuses it, and the file is reported as skipped; theirs stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_without_overwrite_never_replaces_an_object_that_appeared() {
    use bucketsync_testserver::proxy::{Fault, FaultProxy};
    let moto = S3Server::moto();
    let proxy = FaultProxy::start(&moto.endpoint);
    let f = fixture_at(moto, &proxy.endpoint(), "browse-appeared", false, None).await;
    assert_eq!(f.api.probe_policy("p").await.unwrap().conditional_writes, ConditionalWrites::Honoured);

    let (endpoint, bucket) = (moto.endpoint.clone(), f.bucket.clone());
    let once = std::sync::atomic::AtomicBool::new(true);
    proxy.on(
        move |r| {
            if r.is_put_object() && r.key_ends_with("/up/new.txt") && once.swap(false, Ordering::SeqCst) {
                raw_put(&endpoint, &bucket, "up/new.txt", b"theirs");
            }
            false
        },
        Fault::Hang,
        None,
    );
    let src = f.dir.join("new.txt");
    std::fs::write(&src, "mine").unwrap();
    let report = f
        .api
        .browse_upload(
            UploadRequest {
                id: "up-appeared".into(),
                policy: "p".into(),
                prefix: "up/".into(),
                paths: vec![src.display().to_string()],
                ..Default::default()
            },
            TransferSink::default(),
        )
        .await
        .unwrap();
    assert!(report.done.is_empty() && report.failed.is_empty(), "{report:?}");
    assert_eq!(report.skipped.len(), 1, "{report:?}");
    assert!(report.skipped[0].message.contains("appeared"), "{report:?}");
    let remote = f.api.remote("p").await.unwrap();
    let stored = bucketsync_remote::Remote::get_range(remote.as_ref(), "up/new.txt", 0..6).await.unwrap();
    assert_eq!(&stored[..], b"theirs", "their object stays");
    assert_eq!(f.api.browse_stat("p", "up/new.txt").await.unwrap().size, 6);
    let put = proxy.seen().into_iter().find(|s| s.method == "PUT" && s.path.ends_with("/up/new.txt"));
    assert_eq!(put.and_then(|s| s.status), Some(412), "refused by the server, not by a HEAD");
}
