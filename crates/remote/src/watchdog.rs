//! The idle watchdog: a request fails as [`ErrorKind::Offline`] when no byte
//! moved in either direction for the idle time, however long it has run.
//!
//! The SDK's read timeout counts from the request's start to its answer's
//! head, so it cuts a part upload on a slow link that is still moving (and
//! it is blind to an answer's body that stops half-way, which then hangs
//! for ever: stalled-stream protection is off, see connection.rs). Here a
//! request's upload body touches its [`Activity`] each time the HTTP stack
//! takes another piece of it, and a download touches it with every piece
//! that arrives; only silence counts.

use crate::error::{ErrorKind, RemoteError};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;

/// When bytes of one request last moved.
#[derive(Clone, Debug)]
pub(crate) struct Activity {
    start: Instant,
    /// Milliseconds after `start`.
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    pub(crate) fn new() -> Activity {
        Activity { start: Instant::now(), last_ms: Arc::new(AtomicU64::new(0)) }
    }

    pub(crate) fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// Runs `request` until it ends or `activity` has been still for `idle`.
pub(crate) async fn watch<T>(
    idle: Duration,
    activity: &Activity,
    what: &str,
    request: impl Future<Output = Result<T, RemoteError>>,
) -> Result<T, RemoteError> {
    tokio::pin!(request);
    loop {
        let deadline = activity.last() + idle;
        tokio::select! {
            result = &mut request => return result,
            _ = tokio::time::sleep_until(deadline) => {
                if activity.last() + idle <= Instant::now() {
                    return Err(RemoteError::new(
                        ErrorKind::Offline,
                        format!("{what}: nothing arrived or left for {} s; the connection is gone", idle.as_secs()),
                    ));
                }
            }
        }
    }
}

/// An upload body that touches `activity` whenever the HTTP stack takes a
/// piece of it (it takes the next one once the socket accepted the last).
/// Retries rebuild the body and keep the wrapper.
/// When `count` is given, each piece's length is also added to it (a retry
/// rebuilds the body and counts again), for progress inside one request.
pub(crate) fn watched_body(
    body: ByteStream,
    activity: &Activity,
    count: Option<&Arc<AtomicU64>>,
) -> ByteStream {
    let activity = activity.clone();
    let count = count.cloned();
    let inner = body.into_inner().map_preserve_contents(move |b| {
        SdkBody::from_body_1_x(WatchedBody { inner: b, activity: activity.clone(), count: count.clone() })
    });
    ByteStream::new(inner)
}

struct WatchedBody {
    inner: SdkBody,
    activity: Activity,
    count: Option<Arc<AtomicU64>>,
}

impl http_body::Body for WatchedBody {
    type Data = Bytes;
    type Error = aws_smithy_types::body::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            self.activity.touch();
            if let Some(count) = &self.count {
                count.fetch_add(frame.data_ref().map_or(0, |d| d.len() as u64), Ordering::Relaxed);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn silence_fails_but_steady_progress_does_not() {
        let idle = Duration::from_secs(5);
        // Silent from the start: fails after `idle`.
        let a = Activity::new();
        let err =
            watch(idle, &a, "HEAD", std::future::pending::<Result<(), RemoteError>>()).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Offline);
        // Moving a little every 4 s for 60 s: never cut, however long.
        let a = Activity::new();
        let steady = async {
            for _ in 0..15 {
                tokio::time::sleep(Duration::from_secs(4)).await;
                a.touch();
            }
            Ok::<_, RemoteError>(42)
        };
        assert_eq!(watch(idle, &a, "UploadPart", steady).await.unwrap(), 42);
        // Moving, then stalling: fails `idle` after the last byte.
        let a = Activity::new();
        let stalls = async {
            tokio::time::sleep(Duration::from_secs(4)).await;
            a.touch();
            std::future::pending::<Result<(), RemoteError>>().await
        };
        let started = Instant::now();
        assert!(watch(idle, &a, "GET", stalls).await.is_err());
        assert_eq!(started.elapsed(), Duration::from_secs(9));
    }
}
