//! A fault-injecting TCP proxy for HTTP/1.1 between an S3 client and a real
//! server: toxiproxy's job (not packaged here; `tc netem` is not in this
//! kernel), small enough to live in test code.
//!
//! It reads each request's head to decide what to do with it (requests on
//! one connection are never pipelined by the SDK, so every upstream byte
//! after a request belongs to that request's answer), then forwards bytes
//! as they are. Faults:
//! - the link goes down ([`Down::BlackHole`]: every byte on every connection
//!   waits, new connections are accepted and hang; [`Down::Refuse`]: new and
//!   open connections are reset) and comes back ([`FaultProxy::link_up`]);
//! - a bandwidth limit in each direction ([`FaultProxy::set_rate`]);
//! - per-request rules ([`FaultProxy::on`]): answer with an S3 error, reset
//!   the connection after some bytes of the request or of the answer, or
//!   hang, for the first N matching requests or for all of them.
//!
//! The proxy runs on its own thread and runtime, so it works under sync
//! tests and any test runtime alike, and stops when dropped.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

/// How the link fails while it is down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Down {
    /// Packets vanish: nothing arrives in either direction, connecting seems
    /// to work but nothing answers. Only the client's timeouts end it.
    BlackHole,
    /// Every connection is reset at once (a router that rejects).
    Refuse,
}

/// What happens to a request a rule matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The proxy answers itself with this status and S3 error code (e.g.
    /// `503 SlowDown`, `500 InternalError`) and closes the connection; the
    /// server never sees the request.
    Status(u16, &'static str),
    /// The request head and this many bytes of its body reach the server,
    /// then both connections are reset.
    ResetRequestAfter(u64),
    /// The request is forwarded; this many bytes of the answer (head
    /// included) reach the client, then both connections are reset.
    ResetResponseAfter(u64),
    /// The request is swallowed and the connection hangs (one black-holed request).
    Hang,
}

/// The head of one request, as the rules see it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The path, still percent-encoded as sent (`/bucket/key`).
    pub path: String,
    /// The query string without `?`, as sent.
    pub query: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Whether the query has parameter `name` (with or without a value).
    pub fn has_param(&self, name: &str) -> bool {
        self.query.split('&').any(|p| p.split('=').next() == Some(name))
    }

    /// A ListObjectsV2 page.
    pub fn is_list(&self) -> bool {
        self.method == "GET" && self.has_param("list-type")
    }

    /// A ListObjectsV2 page after the first one.
    pub fn is_later_list_page(&self) -> bool {
        self.is_list() && self.has_param("continuation-token")
    }

    /// UploadPart.
    pub fn is_upload_part(&self) -> bool {
        self.method == "PUT" && self.has_param("partNumber") && self.has_param("uploadId")
    }

    /// A single-request PutObject (not a part, not a copy).
    pub fn is_put_object(&self) -> bool {
        self.method == "PUT" && !self.has_param("uploadId") && self.header("x-amz-copy-source").is_none()
    }

    /// A GetObject (ranged or not), not a listing.
    pub fn is_get_object(&self) -> bool {
        self.method == "GET" && !self.is_list() && self.path.trim_start_matches('/').contains('/')
    }

    /// Whether the object key (the path after the bucket) ends with `suffix`.
    pub fn key_ends_with(&self, suffix: &str) -> bool {
        self.path.ends_with(suffix)
    }
}

type Matcher = Box<dyn Fn(&Request) -> bool + Send>;

struct Rule {
    matcher: Matcher,
    /// How many more requests it applies to; `None` is every one.
    remaining: Option<usize>,
    fault: Fault,
}

/// One request the proxy saw, and what it did with it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    /// The fault applied, if a rule matched.
    pub fault: Option<Fault>,
    /// The status of the server's answer, once its head came back
    /// (`None`: not forwarded, or no answer yet).
    pub status: Option<u16>,
}

#[derive(Default)]
struct Rules {
    rules: Vec<Rule>,
    /// Every request ever seen (connections hold indexes into it).
    seen: Vec<Seen>,
    /// How many of `seen` the test asked to forget.
    forgotten: usize,
}

struct Shared {
    upstream: SocketAddr,
    /// `None`: the link is up.
    down: watch::Sender<Option<Down>>,
    /// Bytes per second in each direction; `None` is unlimited.
    rate: Mutex<Option<u64>>,
    /// When each direction may send next (the pacing of the rate limit).
    next_send: [Mutex<Instant>; 2],
    rules: Mutex<Rules>,
}

/// A running proxy. Point the client at [`FaultProxy::endpoint`].
pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// A proxy in front of `upstream` (`http://127.0.0.1:PORT`), link up, no faults.
    pub fn start(upstream: &str) -> FaultProxy {
        let addr: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|_| panic!("the proxy needs an http://IP:PORT upstream, not {upstream}"));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("proxy port");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            upstream: addr,
            down: watch::channel(None).0,
            rate: Mutex::new(None),
            next_send: [Mutex::new(Instant::now()), Mutex::new(Instant::now())],
            rules: Mutex::default(),
        });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{port}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(listener).expect("proxy listener");
                    tokio::select! {
                        _ = accept_loop(listener, s) => {}
                        _ = stop_rx => {}
                    }
                });
                // Dropping the runtime ends every connection task.
                rt.shutdown_timeout(Duration::from_millis(100));
            })
            .expect("proxy thread");
        FaultProxy { port, shared, stop: Some(stop_tx), thread: Some(thread) }
    }

    /// `http://127.0.0.1:PORT` of the proxy.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn link_down(&self, how: Down) {
        self.shared.down.send_replace(Some(how));
    }

    /// The link works again; black-holed bytes flow on.
    pub fn link_up(&self) {
        self.shared.down.send_replace(None);
    }

    /// Limits each direction to `bytes_per_sec` (`None`: unlimited).
    pub fn set_rate(&self, bytes_per_sec: Option<u64>) {
        *self.shared.rate.lock().unwrap() = bytes_per_sec;
    }

    /// Applies `fault` to the next `times` requests `matcher` accepts
    /// (`None`: to all of them, until [`FaultProxy::clear_rules`]). Rules are
    /// tried in the order they were added; the first that matches applies.
    pub fn on(
        &self,
        matcher: impl Fn(&Request) -> bool + Send + 'static,
        fault: Fault,
        times: Option<usize>,
    ) {
        self.shared.rules.lock().unwrap().rules.push(Rule {
            matcher: Box::new(matcher),
            remaining: times,
            fault,
        });
    }

    pub fn clear_rules(&self) {
        self.shared.rules.lock().unwrap().rules.clear();
    }

    /// Every request seen so far (since [`FaultProxy::forget_seen`]), in order.
    pub fn seen(&self) -> Vec<Seen> {
        let rules = self.shared.rules.lock().unwrap();
        rules.seen[rules.forgotten..].to_vec()
    }

    /// How many requests `f` accepts among those seen so far.
    pub fn count(&self, f: impl Fn(&Seen) -> bool) -> usize {
        self.seen().iter().filter(|s| f(s)).count()
    }

    /// From now on [`FaultProxy::seen`] starts afresh.
    pub fn forget_seen(&self) {
        let mut rules = self.shared.rules.lock().unwrap();
        rules.forgotten = rules.seen.len();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else { continue };
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut conn = Conn {
                shared,
                client,
                server: None,
                inbox: VecDeque::new(),
                state: State::Head,
                answer_budget: None,
                answering: None,
            };
            let end = conn.run().await;
            conn.end(end);
        });
    }
}

/// Direction indexes into `Shared::next_send`.
const UP: usize = 0;
const DOWN: usize = 1;

/// How a connection ends.
#[derive(Debug)]
enum End {
    /// Reset both sides (SO_LINGER 0 turns the close into a RST).
    Reset,
    /// Close normally.
    Close,
}

/// Where the connection is in the current request.
enum State {
    /// Gathering a request head.
    Head,
    /// Forwarding a body: bytes left, and bytes left before a reset.
    Body { left: u64, reset_after: Option<u64> },
    /// Dropping a body, then answering with this status and code.
    Swallow { left: u64, status: u16, code: &'static str },
    /// A chunked body: request boundaries are lost, bytes pass unparsed.
    Tunnel,
    /// A black-holed request: nothing is read, nothing answered.
    Hang,
}

/// One client connection and its server connection (opened at the first
/// forwarded request).
struct Conn {
    shared: Arc<Shared>,
    client: TcpStream,
    server: Option<TcpStream>,
    /// Client bytes read but not yet handled.
    inbox: VecDeque<u8>,
    state: State,
    /// Bytes of the current answer still allowed through before a reset.
    answer_budget: Option<u64>,
    /// Which [`Seen`] entry the answer now coming back belongs to, until
    /// its status is read.
    answering: Option<usize>,
}

enum Event {
    Client(std::io::Result<usize>),
    Server(std::io::Result<usize>),
    LinkChanged,
}

impl Conn {
    async fn run(&mut self) -> End {
        let _ = self.client.set_nodelay(true);
        let mut down = self.shared.down.subscribe();
        let mut from_client = vec![0u8; 64 * 1024];
        let mut from_server = vec![0u8; 64 * 1024];
        loop {
            if let Err(end) = link(&self.shared).await {
                return end;
            }
            let hang = matches!(self.state, State::Hang);
            let event = {
                let server = self.server.as_mut();
                tokio::select! {
                    r = self.client.read(&mut from_client), if !hang => Event::Client(r),
                    r = read_some(server, &mut from_server) => Event::Server(r),
                    _ = down.changed() => Event::LinkChanged,
                }
            };
            match event {
                Event::LinkChanged => continue,
                Event::Client(Ok(0)) | Event::Client(Err(_)) => return End::Close,
                Event::Client(Ok(n)) => {
                    self.inbox.extend(&from_client[..n]);
                    if let Err(end) = self.handle_client().await {
                        return end;
                    }
                }
                Event::Server(Ok(0)) | Event::Server(Err(_)) => return End::Close,
                Event::Server(Ok(n)) => {
                    if let Some(index) = self.answering {
                        if let Some(status) = answer_status(&from_server[..n]) {
                            self.shared.rules.lock().unwrap().seen[index].status = Some(status);
                            self.answering = None;
                        }
                    }
                    let allowed = match self.answer_budget.as_mut() {
                        None => n,
                        Some(left) => {
                            let allowed = (*left).min(n as u64) as usize;
                            *left -= allowed as u64;
                            allowed
                        }
                    };
                    if let Err(end) =
                        send(&self.shared, DOWN, &mut self.client, &from_server[..allowed]).await
                    {
                        return end;
                    }
                    if self.answer_budget == Some(0) {
                        return End::Reset;
                    }
                }
            }
        }
    }

    /// Handles every complete piece of the client's bytes.
    async fn handle_client(&mut self) -> Result<(), End> {
        loop {
            match &mut self.state {
                State::Hang => return Ok(()),
                State::Head => {
                    let contiguous = self.inbox.make_contiguous();
                    let Some(end) = contiguous.windows(4).position(|w| w == b"\r\n\r\n") else {
                        if self.inbox.len() > 64 * 1024 {
                            return Err(End::Close);
                        }
                        return Ok(());
                    };
                    let head: Vec<u8> = self.inbox.drain(..end + 4).collect();
                    let request = parse_head(&head).ok_or(End::Close)?;
                    self.start_request(&head, &request).await?;
                }
                State::Body { left, reset_after } => {
                    if *left == 0 {
                        self.state = State::Head;
                        continue;
                    }
                    if self.inbox.is_empty() {
                        return Ok(());
                    }
                    let mut take = (self.inbox.len() as u64).min(*left);
                    if let Some(budget) = reset_after {
                        take = take.min(*budget);
                    }
                    *left -= take;
                    let cut = match reset_after.as_mut() {
                        Some(budget) => {
                            *budget -= take;
                            *budget == 0
                        }
                        None => false,
                    };
                    let data: Vec<u8> = self.inbox.drain(..take as usize).collect();
                    let server = self.server.as_mut().expect("a forwarded request has a server");
                    send(&self.shared, UP, server, &data).await?;
                    if cut {
                        return Err(End::Reset);
                    }
                }
                State::Swallow { left, status, code } => {
                    let take = (self.inbox.len() as u64).min(*left);
                    self.inbox.drain(..take as usize);
                    *left -= take;
                    if *left > 0 {
                        return Ok(());
                    }
                    let (status, code) = (*status, *code);
                    self.answer(status, code).await?;
                    return Err(End::Close);
                }
                State::Tunnel => {
                    let data: Vec<u8> = self.inbox.drain(..).collect();
                    let server = self.server.as_mut().expect("a tunnel has a server");
                    send(&self.shared, UP, server, &data).await?;
                    return Ok(());
                }
            }
        }
    }

    async fn start_request(&mut self, head: &[u8], request: &Request) -> Result<(), End> {
        let (fault, index) = decide(&self.shared, request);
        let length = request.header("content-length").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        match fault {
            Some(Fault::Status(status, code)) => {
                let waits = request.header("expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
                if waits || length == 0 {
                    self.answer(status, code).await?;
                    return Err(End::Close);
                }
                // Drain the body first, so the close is not a reset.
                self.state = State::Swallow { left: length, status, code };
                return Ok(());
            }
            Some(Fault::Hang) => {
                self.state = State::Hang;
                return Ok(());
            }
            _ => {}
        }
        if self.server.is_none() {
            let server = TcpStream::connect(self.shared.upstream).await.map_err(|_| End::Reset)?;
            let _ = server.set_nodelay(true);
            self.server = Some(server);
        }
        self.answer_budget = match fault {
            Some(Fault::ResetResponseAfter(n)) => Some(n),
            _ => None,
        };
        self.answering = Some(index);
        let server = self.server.as_mut().unwrap();
        send(&self.shared, UP, server, head).await?;
        let chunked =
            request.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let reset_after = match fault {
            Some(Fault::ResetRequestAfter(n)) => Some(n),
            _ => None,
        };
        if reset_after == Some(0) || (reset_after.is_some() && length == 0) {
            return Err(End::Reset);
        }
        self.state = if chunked { State::Tunnel } else { State::Body { left: length, reset_after } };
        Ok(())
    }

    /// Answers the client with an S3 error document.
    async fn answer(&mut self, status: u16, code: &str) -> Result<(), End> {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
             <Message>injected by the fault proxy</Message><RequestId>fault</RequestId></Error>"
        );
        let answer = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            reason(status),
            body.len()
        );
        send(&self.shared, DOWN, &mut self.client, answer.as_bytes()).await?;
        let _ = self.client.shutdown().await;
        Ok(())
    }

    fn end(self, end: End) {
        if matches!(end, End::Reset) {
            linger_zero(&self.client);
            if let Some(server) = &self.server {
                linger_zero(server);
            }
        }
        // Dropping the sockets closes them (with a RST after linger 0).
    }
}

/// Reads from the server, or never when there is none yet.
async fn read_some(server: Option<&mut TcpStream>, buf: &mut [u8]) -> std::io::Result<usize> {
    match server {
        Some(s) => s.read(buf).await,
        None => std::future::pending().await,
    }
}

/// Waits while the link is black-holed; `Err` when it refuses.
async fn link(shared: &Shared) -> Result<(), End> {
    let mut rx = shared.down.subscribe();
    loop {
        let state = *rx.borrow_and_update();
        match state {
            None => return Ok(()),
            Some(Down::Refuse) => return Err(End::Reset),
            Some(Down::BlackHole) => {
                if rx.changed().await.is_err() {
                    return Err(End::Close);
                }
            }
        }
    }
}

/// Writes `data` through the link: waiting while it is down, paced by the rate.
async fn send(shared: &Shared, dir: usize, to: &mut TcpStream, data: &[u8]) -> Result<(), End> {
    const SLICE: usize = 16 * 1024;
    for chunk in data.chunks(SLICE) {
        link(shared).await?;
        let rate = *shared.rate.lock().unwrap();
        if let Some(rate) = rate {
            let at = {
                let mut next = shared.next_send[dir].lock().unwrap();
                let start = (*next).max(Instant::now());
                *next = start + Duration::from_secs_f64(chunk.len() as f64 / rate.max(1) as f64);
                start
            };
            tokio::time::sleep_until(at).await;
            link(shared).await?;
        }
        to.write_all(chunk).await.map_err(|_| End::Close)?;
    }
    Ok(())
}

/// SO_LINGER 0: closing the socket then sends RST instead of FIN.
fn linger_zero(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: a valid socket fd and a correctly sized option value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// The fault for `request` (if a rule matches) and its index in `seen`.
fn decide(shared: &Shared, request: &Request) -> (Option<Fault>, usize) {
    let mut rules = shared.rules.lock().unwrap();
    let mut fault = None;
    for rule in rules.rules.iter_mut() {
        if rule.remaining == Some(0) || !(rule.matcher)(request) {
            continue;
        }
        if let Some(n) = rule.remaining.as_mut() {
            *n -= 1;
        }
        fault = Some(rule.fault.clone());
        break;
    }
    rules.seen.push(Seen {
        method: request.method.clone(),
        path: request.path.clone(),
        query: request.query.clone(),
        fault: fault.clone(),
        status: None,
    });
    (fault, rules.seen.len() - 1)
}

/// The final status in the answer bytes that begin `data`, skipping
/// `100 Continue` heads; `None` when it is not in them (yet).
fn answer_status(data: &[u8]) -> Option<u16> {
    let mut rest = data;
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&rest[..line_end]).ok()?;
        let code: u16 = line
            .strip_prefix("HTTP/1.1 ")
            .or_else(|| line.strip_prefix("HTTP/1.0 "))?
            .get(..3)?
            .parse()
            .ok()?;
        if code >= 200 {
            return Some(code);
        }
        let head_end = rest.windows(4).position(|w| w == b"\r\n\r\n")?;
        rest = &rest[head_end + 4..];
    }
}

fn parse_head(head: &[u8]) -> Option<Request> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Request { method, path: path.to_string(), query: query.to_string(), headers })
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}
