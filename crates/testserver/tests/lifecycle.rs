//! The harness itself: servers start, stop, restart with their data, and
//! hand out buckets and restricted keys.

use bucketsync_testserver::{Flavor, S3Server};
use std::net::TcpStream;

fn port_of(server: &S3Server) -> u16 {
    server.endpoint.rsplit(':').next().unwrap().parse().unwrap()
}

fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn a_private_garage_stops_and_restarts_on_its_port() {
    let server = S3Server::start(Flavor::Garage);
    assert!(server.endpoint.starts_with("http://127.0.0.1:"));
    assert_eq!(server.region, "garage");
    let a = server.create_bucket("Life Cycle!");
    let b = server.create_bucket("Life Cycle!");
    assert_ne!(a, b, "every call gets its own bucket");
    assert!(a.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{a}");
    let (id, secret) = server.create_key(&a, true, false).expect("Garage makes restricted keys");
    assert!(id.starts_with("GK") && id.len() == 26 && secret.len() == 64);

    let port = port_of(&server);
    server.stop();
    assert!(!listening(port), "stopped means nothing answers");
    server.restart();
    assert!(listening(port));
    // The bucket survived the restart: creating it again is a no-op.
    server.ensure_bucket(&a);
}

#[test]
fn moto_has_no_restricted_keys() {
    assert!(S3Server::moto().create_key("any", true, false).is_none());
}

/// The cluster the engine's cluster test kills nodes of: every node sees
/// the other two, and it serves buckets.
#[test]
fn a_three_node_cluster_sees_all_its_nodes() {
    let cluster = bucketsync_testserver::GarageCluster::start(3, 3);
    for n in 0..3 {
        assert_eq!(cluster.node(n).healthy_nodes(), 3, "{}", cluster.node(n).status());
        assert!(listening(cluster.endpoint(n).rsplit(':').next().unwrap().parse().unwrap()));
    }
    assert!(!cluster.create_bucket("cluster-life").is_empty());
}
