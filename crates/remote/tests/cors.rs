//! CORS against real servers: the app's rule is merged into the bucket's
//! rules (GetBucketCors shows old and new), and a server without
//! PutBucketCors is reported as "not supported", not as a broken policy.

use bucketsync_remote::cors::{self, Change, Rule};
use bucketsync_remote::probe::{self, Outcome, ProbeContext};
use bucketsync_remote::{Addressing, Connection, ErrorKind, S3Remote, Secret};
use bucketsync_testserver::S3Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn remote_at(server: &S3Server, endpoint: &str, bucket: &str) -> S3Remote {
    S3Remote::new(&Connection {
        endpoint: Some(endpoint.to_string()),
        region: server.region.clone(),
        bucket: bucket.to_string(),
        addressing: Addressing::PathStyle,
        access_key_id: server.access_key_id.clone(),
        secret: Secret::new(server.secret_access_key.clone()),
        sdk_checksums: false,
    })
}

fn website_rule() -> Rule {
    Rule {
        id: Some("website".into()),
        allowed_origins: vec!["https://www.example.com".into()],
        allowed_methods: vec!["GET".into()],
        allowed_headers: vec!["Authorization".into()],
        expose_headers: vec![],
        max_age_seconds: Some(600),
    }
}

async fn merge_keeps_existing_rules(server: &S3Server) {
    let bucket = server.create_bucket("cors-merge");
    let r = remote_at(server, &server.endpoint, &bucket);
    cors::put(&r, &[website_rule()]).await.unwrap();

    let applied = cors::apply(&r, &["https://my.example".to_string()]).await.unwrap();
    assert_eq!(applied.change, Change::Added);
    let rules = cors::get(&r).await.unwrap();
    assert_eq!(rules.len(), 2, "{rules:#?}");
    assert_eq!(rules[0], website_rule(), "the old rule is untouched");
    let ours = &rules[1];
    assert_eq!(ours.id.as_deref(), Some(cors::RULE_ID));
    assert!(ours.allowed_origins.contains(&"https://my.example".to_string()));
    assert!(ours.allowed_origins.contains(&"tauri://localhost".to_string()));
    assert!(ours.allowed_methods.contains(&"PUT".to_string()));

    // Running it again changes nothing; a new origin extends our rule only.
    assert_eq!(cors::apply(&r, &["https://my.example".to_string()]).await.unwrap().change, Change::Unchanged);
    let applied = cors::apply(&r, &["http://localhost:3000".to_string()]).await.unwrap();
    assert_eq!(applied.change, Change::Extended);
    let rules = cors::get(&r).await.unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0], website_rule());
    assert!(rules[1].allowed_origins.contains(&"https://my.example".to_string()));
    assert!(rules[1].allowed_origins.contains(&"http://localhost:3000".to_string()));
}

#[tokio::test]
async fn garage_cors_merge() {
    merge_keeps_existing_rules(S3Server::garage()).await;
}

#[tokio::test]
async fn moto_cors_merge() {
    merge_keeps_existing_rules(S3Server::moto()).await;
}

#[tokio::test]
async fn a_bucket_without_rules_gets_ours() {
    let server = S3Server::garage();
    let bucket = server.create_bucket("cors-empty");
    let r = remote_at(server, &server.endpoint, &bucket);
    assert!(cors::get(&r).await.unwrap().is_empty(), "no configuration reads as no rules");
    assert_eq!(cors::apply(&r, &[]).await.unwrap().change, Change::Added);
    assert_eq!(cors::get(&r).await.unwrap(), vec![cors::app_rule(&[])]);
}

/// Both local servers implement PutBucketCors, as B2 does not. This front
/// answers PutBucketCors (PUT /bucket?cors) the way such a provider does,
/// with 501 NotImplemented, and passes everything else to Garage, one
/// request per connection.
async fn front_without_put_bucket_cors(upstream: &str) -> String {
    let upstream = upstream.trim_start_matches("http://").to_string();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else { return };
            tokio::spawn(serve(client, upstream.clone()));
        }
    });
    format!("http://{addr}")
}

async fn serve(mut client: TcpStream, upstream: String) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let request_line = text.lines().next().unwrap_or_default();
    if request_line.starts_with("PUT ") && request_line.contains("?cors") {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NotImplemented</Code>\
                    <Message>A header you provided implies functionality that is not implemented</Message></Error>";
        let answer = format!(
            "HTTP/1.1 501 Not Implemented\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = client.write_all(answer.as_bytes()).await;
        return;
    }
    // Forward with `Connection: close`, so every request is looked at.
    let mut forwarded: String = text
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .take_while(|l| !l.is_empty())
        .map(|l| format!("{l}\r\n"))
        .collect();
    forwarded.push_str("Connection: close\r\n\r\n");
    let Ok(mut server) = TcpStream::connect(&upstream).await else { return };
    if server.write_all(forwarded.as_bytes()).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

#[tokio::test]
async fn a_server_without_put_bucket_cors_is_reported_as_not_supported() {
    let server = S3Server::garage();
    let bucket = server.create_bucket("cors-unsupported");
    let front = front_without_put_bucket_cors(&server.endpoint).await;
    let r = remote_at(server, &front, &bucket);

    let err = cors::apply(&r, &[]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotSupported, "{err:?}");
    assert_eq!(err.code.as_deref(), Some("NotImplemented"));

    // The probe: every required API works through the front, and the
    // optional PutBucketCors is "not supported", with where to do it instead.
    let ctx = ProbeContext {
        provider_name: "Backblaze B2".into(),
        addressing: Addressing::PathStyle,
        cors_api: false,
        origins: Vec::new(),
    };
    let report = probe::probe(&r, &ctx).await;
    assert!(report.ok(), "{report:#?}");
    let step = report.step(probe::PUT_BUCKET_CORS).unwrap();
    assert_eq!(step.outcome, Outcome::NotSupported, "{step:?}");
    assert!(!step.required);
    assert_eq!(step.code.as_deref(), Some("NotImplemented"));
    assert!(step.fix.as_deref().unwrap().contains("Backblaze B2 does not implement PutBucketCors"));
    assert!(report.leftovers.is_empty(), "{:?}", report.leftovers);
}
