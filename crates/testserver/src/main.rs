//! `bucketsync-testserver garage DIR PORT BUCKET`: runs a kept single-node
//! Garage for the dev app (scripts/dev) until killed, after printing one JSON
//! line with the endpoint, region, bucket and keys. Local development only.

use bucketsync_testserver::S3Server;
use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, kind, dir, port, bucket] = args.as_slice() else {
        eprintln!("usage: bucketsync-testserver garage DIR PORT BUCKET");
        std::process::exit(2);
    };
    if kind != "garage" {
        eprintln!("only `garage` can be kept running");
        std::process::exit(2);
    }
    let port: u16 = port.parse().unwrap_or_else(|_| {
        eprintln!("PORT must be a number");
        std::process::exit(2)
    });
    let server = S3Server::start_kept_garage(PathBuf::from(dir), port);
    server.ensure_bucket(bucket);
    println!(
        "{{\"endpoint\":\"{}\",\"region\":\"{}\",\"bucket\":\"{}\",\"access_key_id\":\"{}\",\"secret_access_key\":\"{}\"}}",
        server.endpoint, server.region, bucket, server.access_key_id, server.secret_access_key
    );
    loop {
        std::thread::park();
    }
}
