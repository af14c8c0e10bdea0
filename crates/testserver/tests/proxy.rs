//! The fault proxy itself, against a tiny HTTP/1.1 upstream in this test:
//! requests pass, rules answer errors, cut requests and answers, hang; the
//! link goes down (black hole, refuse) and comes back; a rate limit keeps
//! the bytes intact.

use bucketsync_testserver::{Down, Fault, FaultProxy};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An upstream that answers every request with `200` and a body naming the
/// request line and how many body bytes it received; keeps connections alive.
struct Upstream {
    port: u16,
    /// Body bytes received per request, in order.
    received: Arc<Mutex<Vec<usize>>>,
}

fn upstream() -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let r = received.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let r = r.clone();
            std::thread::spawn(move || loop {
                let Some((line, length)) = read_head(&mut conn) else { return };
                let mut body = vec![0u8; length];
                let mut got = 0;
                while got < length {
                    match conn.read(&mut body[got..]) {
                        Ok(0) | Err(_) => {
                            r.lock().unwrap().push(got);
                            return;
                        }
                        Ok(n) => got += n,
                    }
                }
                r.lock().unwrap().push(got);
                let answer = format!("{line} got {got}");
                let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{answer}", answer.len());
                if conn.write_all(reply.as_bytes()).is_err() {
                    return;
                }
            });
        }
    });
    Upstream { port, received }
}

/// Reads a head; returns the request line and Content-Length.
fn read_head(conn: &mut TcpStream) -> Option<(String, usize)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let text = String::from_utf8(head).ok()?;
    let line = text.lines().next()?.to_string();
    let length = text
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Some((line, length))
}

/// Sends one request and reads one answer: (status, body), or the I/O error.
fn exchange(conn: &mut TcpStream, method: &str, target: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    let head = format!("{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len());
    conn.write_all(head.as_bytes())?;
    conn.write_all(body)?;
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte)? {
            0 => return Err(ErrorKind::UnexpectedEof.into()),
            _ => answer.push(byte[0]),
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status: u16 = text.split(' ').nth(1).unwrap().parse().unwrap();
    let length: usize = text
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
        .unwrap()
        .parse()
        .unwrap();
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body)?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn connect(proxy: &FaultProxy) -> TcpStream {
    let c = TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c
}

#[test]
fn requests_pass_on_one_connection_and_are_recorded() {
    let up = upstream();
    let proxy = FaultProxy::start(&format!("http://127.0.0.1:{}", up.port));
    let mut c = connect(&proxy);
    let (status, body) = exchange(&mut c, "PUT", "/b/k", b"hello").unwrap();
    assert_eq!((status, body.as_str()), (200, "PUT /b/k HTTP/1.1 got 5"));
    let (status, body) = exchange(&mut c, "GET", "/b?list-type=2", b"").unwrap();
    assert_eq!((status, body.as_str()), (200, "GET /b?list-type=2 HTTP/1.1 got 0"));
    let seen = proxy.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!((seen[1].method.as_str(), seen[1].query.as_str()), ("GET", "list-type=2"));
    assert!(seen.iter().all(|s| s.fault.is_none() && s.status == Some(200)));
}

#[test]
fn a_rule_answers_the_first_n_matches_with_an_s3_error() {
    let up = upstream();
    let proxy = FaultProxy::start(&format!("http://127.0.0.1:{}", up.port));
    proxy.on(|r| r.is_put_object(), Fault::Status(503, "SlowDown"), Some(2));
    for _ in 0..2 {
        let mut c = connect(&proxy);
        let (status, body) = exchange(&mut c, "PUT", "/b/k", b"data").unwrap();
        assert_eq!(status, 503);
        assert!(body.contains("<Code>SlowDown</Code>"), "{body}");
        // The proxy closes the connection after its own answer.
        let mut rest = Vec::new();
        assert_eq!(c.read_to_end(&mut rest).unwrap(), 0);
    }
    let mut c = connect(&proxy);
    assert_eq!(exchange(&mut c, "PUT", "/b/k", b"data").unwrap().0, 200, "only two were faulted");
    assert_eq!(*up.received.lock().unwrap(), [4], "faulted requests never reach the server");
    assert_eq!(proxy.count(|s| s.fault.is_some()), 2);
    assert_eq!(proxy.count(|s| s.status.is_none()), 2, "no server answer for the faulted ones");
}

#[test]
fn an_answer_cut_mid_body_is_a_reset() {
    let up = upstream();
    let proxy = FaultProxy::start(&format!("http://127.0.0.1:{}", up.port));
    proxy.on(|r| r.is_get_object(), Fault::ResetResponseAfter(20), Some(1));
    let mut c = connect(&proxy);
    let err = exchange(&mut c, "GET", "/b/k", b"").unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof),
        "the client sees the answer break off: {err:?}"
    );
    let mut c = connect(&proxy);
    assert_eq!(exchange(&mut c, "GET", "/b/k", b"").unwrap().0, 200, "the next one passes");
}

#[test]
fn a_request_cut_mid_body_reaches_the_server_torn() {
    let up = upstream();
    let proxy = FaultProxy::start(&format!("http://127.0.0.1:{}", up.port));
    proxy.on(|r| r.is_upload_part(), Fault::ResetRequestAfter(1000), None);
    let mut c = connect(&proxy);
    let body = vec![7u8; 100_000];
    assert!(exchange(&mut c, "PUT", "/b/k?partNumber=1&uploadId=u", &body).is_err());
    // The server got the head and 1,000 bytes, then lost the connection.
    for _ in 0..100 {
        if !up.received.lock().unwrap().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(*up.received.lock().unwrap(), [1000]);
}

#[test]
fn a_black_hole_holds_every_byte_until_the_link_comes_back() {
    let up = upstream();
    let proxy = FaultProxy::start(&format!("http://127.0.0.1:{}", up.port));
    let mut open = connect(&proxy);
    assert_eq!(exchange(&mut open, "GET", "/b/k", b"").unwrap().0, 200);
    proxy.link_down(Down::BlackHole);
    // Connecting still works (the proxy accepts), but nothing answers.
    let mut fresh = connect(&proxy);
    fresh.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    open.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    for c in [&mut fresh, &mut open] {
        let err = exchange(c, "GET", "/b/k", b"").unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut), "{err:?}");
    }
    assert_eq!(up.received.lock().unwrap().len(), 1, "nothing reached the server meanwhile");
    proxy.link_up();
    // The held requests go through now; their answers arrive.
    for c in [&mut fresh, &mut open] {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut answer = [0u8; 12];
        c.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"HTTP/1.1 200");
    }
}

#[test]
fn a_refusing_link_resets_connections() {
    let up = upstream();
    let proxy = FaultProxy::start(&format!("http://127.0.0.1:{}", up.port));
    let mut open = connect(&proxy);
    assert_eq!(exchange(&mut open, "GET", "/b/k", b"").unwrap().0, 200);
    proxy.link_down(Down::Refuse);
    assert!(exchange(&mut open, "GET", "/b/k", b"").is_err(), "an open connection breaks");
    let mut fresh = connect(&proxy);
    assert!(exchange(&mut fresh, "GET", "/b/k", b"").is_err(), "a new one too");
    proxy.link_up();
    let mut again = connect(&proxy);
    assert_eq!(exchange(&mut again, "GET", "/b/k", b"").unwrap().0, 200);
}

#[test]
fn a_slow_link_delivers_every_byte() {
    let up = upstream();
    let proxy = FaultProxy::start(&format!("http://127.0.0.1:{}", up.port));
    proxy.set_rate(Some(512 * 1024));
    let mut c = connect(&proxy);
    let body = vec![1u8; 300_000];
    let (status, answer) = exchange(&mut c, "PUT", "/b/k", &body).unwrap();
    assert_eq!((status, answer.as_str()), (200, "PUT /b/k HTTP/1.1 got 300000"));
}

#[test]
fn a_hanging_request_gets_no_answer() {
    let up = upstream();
    let proxy = FaultProxy::start(&format!("http://127.0.0.1:{}", up.port));
    proxy.on(|r| r.is_later_list_page(), Fault::Hang, None);
    let mut c = connect(&proxy);
    assert_eq!(exchange(&mut c, "GET", "/b?list-type=2", b"").unwrap().0, 200);
    c.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let err = exchange(&mut c, "GET", "/b?list-type=2&continuation-token=x", b"").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut), "{err:?}");
}
