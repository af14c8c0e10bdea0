//! `bucketsync-testserver garage DIR PORT BUCKET [--proxy]`: runs a kept
//! single-node Garage for the dev app (scripts/dev) and the end-to-end test
//! until killed, after printing one JSON line with the endpoint, region,
//! bucket and keys. Local development and tests only.
//!
//! With `--proxy` a [`FaultProxy`] stands in front of Garage (its address
//! is `proxy_endpoint` in the JSON line) and stdin takes one command a line:
//! `rate BYTES_PER_SECOND` limits the proxy's bandwidth in each direction,
//! `rate off` lifts the limit. The end-to-end test uses it to hold a
//! transfer in flight long enough to see it and cancel it.

use bucketsync_testserver::{FaultProxy, S3Server};
use std::io::BufRead;
use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (args, proxy) = match args.as_slice() {
        [rest @ .., last] if last == "--proxy" => (rest, true),
        all => (all, false),
    };
    let [_, kind, dir, port, bucket] = args else {
        eprintln!("usage: bucketsync-testserver garage DIR PORT BUCKET [--proxy]");
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
    let proxy = proxy.then(|| FaultProxy::start(&server.endpoint));
    let proxy_field =
        proxy.as_ref().map(|p| format!(",\"proxy_endpoint\":\"{}\"", p.endpoint())).unwrap_or_default();
    println!(
        "{{\"endpoint\":\"{}\",\"region\":\"{}\",\"bucket\":\"{}\",\"access_key_id\":\"{}\",\"secret_access_key\":\"{}\"{proxy_field}}}",
        server.endpoint, server.region, bucket, server.access_key_id, server.secret_access_key
    );
    if let Some(proxy) = &proxy {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["rate", "off"] => proxy.set_rate(None),
                ["rate", n] => match n.parse::<u64>() {
                    Ok(n) if n > 0 => proxy.set_rate(Some(n)),
                    _ => eprintln!("rate takes a positive number of bytes per second, or off"),
                },
                [] => {}
                _ => eprintln!("unknown command {line:?} (rate N | rate off)"),
            }
        }
        // stdin closed: the test that drove us is gone.
        return;
    }
    loop {
        std::thread::park();
    }
}
