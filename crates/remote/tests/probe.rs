//! The probe against real servers: everything works; a wrong secret; a
//! missing bucket; a key that may read but not write.

use bucketsync_remote::probe::{self, ConditionalWrites, Outcome, ProbeContext, ProbeReport};
use bucketsync_remote::{Addressing, Connection, ErrorKind, Remote, S3Remote, Secret};
use bucketsync_testserver::S3Server;

fn remote(server: &S3Server, bucket: &str, key: (&str, &str)) -> S3Remote {
    S3Remote::new(&Connection {
        endpoint: Some(server.endpoint.clone()),
        region: server.region.clone(),
        bucket: bucket.to_string(),
        addressing: Addressing::PathStyle,
        access_key_id: key.0.to_string(),
        secret: Secret::new(key.1),
        sdk_checksums: false,
    })
}

fn main_key(server: &S3Server) -> (&str, &str) {
    (&server.access_key_id, &server.secret_access_key)
}

fn ctx() -> ProbeContext {
    ProbeContext {
        provider_name: "Test".into(),
        addressing: Addressing::PathStyle,
        cors_api: true,
        origins: Vec::new(),
    }
}

fn outcome(report: &ProbeReport, api: &str) -> Outcome {
    report.step(api).unwrap_or_else(|| panic!("no step {api}")).outcome
}

/// Every API the seed lists (plus PutObject and the bucket) is in the report.
const ALL: [&str; 11] = [
    probe::BUCKET,
    probe::PUT_OBJECT,
    probe::HEAD_OBJECT,
    probe::GET_OBJECT,
    probe::LIST_OBJECTS,
    probe::CREATE_MULTIPART,
    probe::UPLOAD_PART,
    probe::COMPLETE_MULTIPART,
    probe::ABORT_MULTIPART,
    probe::DELETE_OBJECTS,
    probe::PUT_BUCKET_CORS,
];

async fn all_ok_and_cleaned_up(server: &S3Server, conditional: ConditionalWrites) {
    let bucket = server.create_bucket("probe-ok");
    let r = remote(server, &bucket, main_key(server));
    // A rule the user had must survive the PutBucketCors test unchanged.
    let theirs = bucketsync_remote::cors::Rule {
        id: Some("theirs".into()),
        allowed_origins: vec!["https://example.com".into()],
        allowed_methods: vec!["GET".into()],
        ..Default::default()
    };
    bucketsync_remote::cors::put(&r, std::slice::from_ref(&theirs)).await.unwrap();

    let report = probe::probe(&r, &ctx()).await;
    for api in ALL {
        assert_eq!(outcome(&report, api), Outcome::Ok, "{api}: {:?}", report.step(api));
    }
    assert!(report.ok());
    assert!(!report.step(probe::PUT_BUCKET_CORS).unwrap().required);
    // What the server does with If-None-Match / If-Match is informational:
    // honoured or not, the probe passes.
    let step = report.step(probe::CONDITIONAL_WRITES).unwrap();
    assert!(!step.required);
    assert_eq!(report.conditional_writes, conditional, "{step:?}");
    let message = step.message.clone().unwrap_or_default();
    match conditional {
        ConditionalWrites::Honoured => {
            assert_eq!(step.outcome, Outcome::Ok, "{step:?}");
            assert!(message.starts_with("honoured"), "{message}");
        }
        _ => {
            assert_eq!(step.outcome, Outcome::NotSupported, "{step:?}");
            assert!(message.starts_with("not honoured (the server ignored If-None-Match"), "{message}");
            assert!(message.contains("HEAD right before each write"), "{message}");
        }
    }
    assert!(report.leftovers.is_empty(), "{:?}", report.leftovers);
    assert!(report.prefix.starts_with(probe::SCRATCH_ROOT));
    let page = r.list_page(probe::SCRATCH_ROOT, None).await.unwrap();
    assert!(page.objects.is_empty(), "scratch objects left: {:?}", page.objects);
    assert_eq!(bucketsync_remote::cors::get(&r).await.unwrap(), vec![theirs]);

    // On a bucket without CORS rules, the probe leaves none behind.
    bucketsync_remote::cors::delete(&r).await.unwrap();
    let report = probe::probe(&r, &ctx()).await;
    assert!(report.ok(), "{report:#?}");
    assert!(bucketsync_remote::cors::get(&r).await.unwrap().is_empty());
}

#[tokio::test]
async fn garage_probe_all_ok() {
    // Garage 2.5 answers 200 to a PutObject with If-None-Match: * on an
    // existing key and overwrites it.
    all_ok_and_cleaned_up(S3Server::garage(), ConditionalWrites::Ignored).await;
}

#[tokio::test]
async fn moto_probe_all_ok() {
    all_ok_and_cleaned_up(S3Server::moto(), ConditionalWrites::Honoured).await;
}

#[tokio::test]
async fn garage_wrong_secret_is_reported_with_its_fix() {
    let server = S3Server::garage();
    let bucket = server.create_bucket("probe-badkey");
    let wrong = "f".repeat(64);
    let r = remote(server, &bucket, (&server.access_key_id, &wrong));
    let report = probe::probe(&r, &ctx()).await;
    assert!(!report.ok());
    let first = report.step(probe::BUCKET).unwrap();
    assert_eq!(first.outcome, Outcome::Failed);
    assert_eq!(first.kind, Some(ErrorKind::BadCredentials), "{first:?}");
    assert!(first.code.is_some(), "the server's code is shown: {first:?}");
    assert!(first.fix.as_deref().unwrap().contains("secret"), "{first:?}");
    // Nothing else can work; the rest is skipped, not reported as more failures.
    for api in ALL[1..].iter().chain([&probe::CONDITIONAL_WRITES]) {
        assert_eq!(outcome(&report, api), Outcome::Skipped, "{api}");
    }
    assert_eq!(report.conditional_writes, ConditionalWrites::Unknown);
    let json = format!("{report:?}");
    assert!(!json.contains(&wrong), "the secret must not appear in the report");
}

async fn missing_bucket(server: &S3Server) {
    let r = remote(server, "no-such-bucket-bucketsync", main_key(server));
    let report = probe::probe(&r, &ctx()).await;
    assert!(!report.ok());
    let first = report.step(probe::BUCKET).unwrap();
    assert_eq!(first.kind, Some(ErrorKind::NoSuchBucket), "{first:?}");
    assert_eq!(first.code.as_deref(), Some("NoSuchBucket"));
    assert!(first.fix.as_deref().unwrap().contains("does not exist"));
}

#[tokio::test]
async fn garage_missing_bucket() {
    missing_bucket(S3Server::garage()).await;
}

#[tokio::test]
async fn moto_missing_bucket() {
    missing_bucket(S3Server::moto()).await;
}

/// Garage checks per-key bucket permissions (moto does not).
#[tokio::test]
async fn garage_read_only_key_cannot_write() {
    let server = S3Server::garage();
    let bucket = server.create_bucket("probe-readonly");
    let (id, secret) = server.create_key(&bucket, true, false).expect("garage makes restricted keys");
    let r = remote(server, &bucket, (&id, &secret));
    let report = probe::probe(&r, &ctx()).await;
    assert!(!report.ok());
    assert_eq!(outcome(&report, probe::BUCKET), Outcome::Ok);
    assert_eq!(outcome(&report, probe::LIST_OBJECTS), Outcome::Ok, "reading is allowed");
    let put = report.step(probe::PUT_OBJECT).unwrap();
    assert_eq!(put.outcome, Outcome::Failed);
    assert_eq!(put.kind, Some(ErrorKind::PermissionDenied), "{put:?}");
    assert_eq!(put.code.as_deref(), Some("AccessDenied"));
    assert!(put.fix.as_deref().unwrap().contains("write access"), "{put:?}");
    assert_eq!(outcome(&report, probe::HEAD_OBJECT), Outcome::Skipped);
    assert_eq!(outcome(&report, probe::CREATE_MULTIPART), Outcome::Failed);
    assert_eq!(outcome(&report, probe::DELETE_OBJECTS), Outcome::Failed);
    assert_eq!(outcome(&report, probe::CONDITIONAL_WRITES), Outcome::Skipped, "nothing can be written");
    assert_eq!(report.conditional_writes, ConditionalWrites::Unknown, "could not test: not guessed");
}

/// A server that refuses the conditional headers themselves (B2 answers
/// them with an error; here a proxy in front of moto answers 501
/// NotImplemented or 400 InvalidArgument to any request carrying one):
/// not honoured, the probe still passes, and nothing is left behind.
#[tokio::test]
async fn refused_conditional_headers_are_not_honoured() {
    use bucketsync_testserver::{Fault, FaultProxy};
    let server = S3Server::moto();
    for (status, code) in [(501, "NotImplemented"), (400, "InvalidArgument")] {
        let proxy = FaultProxy::start(&server.endpoint);
        proxy.on(
            |r| r.header("if-none-match").is_some() || r.header("if-match").is_some(),
            Fault::Status(status, code),
            None,
        );
        let bucket = server.create_bucket("probe-refused");
        let r = S3Remote::new(&Connection {
            endpoint: Some(proxy.endpoint()),
            region: server.region.clone(),
            bucket: bucket.clone(),
            addressing: Addressing::PathStyle,
            access_key_id: server.access_key_id.clone(),
            secret: Secret::new(server.secret_access_key.clone()),
            sdk_checksums: false,
        });
        let report = probe::probe(&r, &ctx()).await;
        assert!(report.ok(), "{report:#?}");
        assert_eq!(report.conditional_writes, ConditionalWrites::Ignored, "{status}: {report:#?}");
        let step = report.step(probe::CONDITIONAL_WRITES).unwrap();
        assert_eq!(step.outcome, Outcome::NotSupported);
        assert!(step.message.as_deref().unwrap().contains("refused"), "{step:?}");
        assert!(report.leftovers.is_empty(), "{:?}", report.leftovers);
        assert!(r.list_page(probe::SCRATCH_ROOT, None).await.unwrap().objects.is_empty());
    }
}

/// A key without any right on the bucket: the bucket check says so.
#[tokio::test]
async fn garage_key_without_access_to_the_bucket() {
    let server = S3Server::garage();
    let bucket = server.create_bucket("probe-noaccess");
    let (id, secret) = server.create_key(&bucket, false, false).unwrap();
    let r = remote(server, &bucket, (&id, &secret));
    let report = probe::probe(&r, &ctx()).await;
    assert!(!report.ok());
    let first = report.step(probe::BUCKET).unwrap();
    assert_eq!(first.kind, Some(ErrorKind::PermissionDenied), "{first:?}");
    assert!(first.fix.as_deref().unwrap().contains(&bucket));
}

/// An endpoint nobody listens on: offline, and the virtual-host advice when
/// that addressing is in use.
#[tokio::test]
async fn unreachable_server_is_offline() {
    let port = bucketsync_testserver::free_port();
    let r = S3Remote::new(&Connection {
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        region: "us-east-1".into(),
        bucket: "data".into(),
        addressing: Addressing::PathStyle,
        access_key_id: "id".into(),
        secret: Secret::new("s"),
        sdk_checksums: false,
    });
    let report = probe::probe(&r, &ProbeContext { addressing: Addressing::VirtualHost, ..ctx() }).await;
    let first = report.step(probe::BUCKET).unwrap();
    assert_eq!(first.kind, Some(ErrorKind::Offline), "{first:?}");
    assert!(first.fix.as_deref().unwrap().contains("path-style"));
}
