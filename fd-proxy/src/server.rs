//! The accept loop, by hand instead of `axum::serve`, for the limits `axum::serve` cannot set:
//!
//! - **a cap on connections held at once** (`--max-connections`): a connection is accepted only
//!   when a slot is free. Past the cap, new connections wait in the kernel's listen backlog (they
//!   cost this process no descriptor) until a held one ends, rather than being refused.
//! - **a header-read timeout** (`--header-read-timeout-ms`): hyper closes a connection whose
//!   request head is not complete within it. hyper starts that clock whenever it waits for a
//!   head, so it also closes a kept-alive connection that sends no next request.
//! - **an idle timeout** (`--idle-timeout-ms`): a connection on which no byte has moved for this
//!   long while it waits on the client (a request body that stops arriving, an answer the client
//!   stops reading) is dropped. A request this server is still working on (say, waiting for the
//!   upstream) is not the client's fault and does not count as idle.
//! - **a cap on the size of a request head** ([`MAX_HEADER_BYTES`]), so a slow client cannot make
//!   hyper buffer its ~400 KB default per connection.
//!
//! Shutdown is graceful as before: on the signal, stop accepting, let each connection finish the
//! request in hand, and return once all have closed.

use std::{
    convert::Infallible,
    future::Future,
    io,
    pin::{pin, Pin},
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    http::Request,
    response::Response,
    Router,
};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{watch, Semaphore},
    time::Instant,
};
use tower_service::Service as _;

/// The largest request head (request line and headers) accepted; past it hyper answers 431.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The connection limits, from the command line.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then waits for the open
/// connections to finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        // The slot first: past the cap, connections stay in the listen backlog.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        // Never closed, so never an error; end the loop rather than spin if it were.
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, _)) => {
                let app = app.clone();
                let closing = closing_rx.clone();
                tokio::spawn(async move {
                    connection(stream, app, limits, closing).await;
                    drop(slot);
                });
            }
            Err(e) => accept_failed(&e).await,
        }
    }
    drop(listener);
    let _ = closing_tx.send(true);
    // Every connection holds a slot until it ends: once all are back, all have ended.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// After a failed accept: a client that gave up is routine; anything else (out of descriptors)
/// is logged and waited out briefly, so the loop does not spin on it.
async fn accept_failed(e: &io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(250)).await;
}

/// Serves one connection until it ends, times out, goes idle, or shutdown closes it.
async fn connection(
    stream: TcpStream,
    app: Router,
    limits: Limits,
    mut closing: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let service_activity = activity.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let in_flight = InFlight::new(service_activity.clone());
        let body_activity = service_activity.clone();
        let request = request.map(|body| {
            Body::new(TrackedBody {
                inner: body,
                activity: body_activity,
                waiting: false,
            })
        });
        let mut app = app.clone();
        async move {
            let response: Result<Response, Infallible> = app.call(request).await;
            drop(in_flight);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(MAX_HEADER_BYTES);
    let mut conn = pin!(builder.serve_connection(io, service));
    let mut idle = pin!(idle(&activity, limits.idle_timeout));
    let mut shutting_down = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = &mut idle => {
                tracing::debug!("idle connection closed");
                return;
            }
            changed = closing.changed(), if !shutting_down => {
                shutting_down = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Resolves once the connection has moved no byte for `limit` while waiting on its client.
async fn idle(activity: &Activity, limit: Duration) {
    loop {
        let deadline = activity.last() + limit;
        if deadline > Instant::now() {
            tokio::time::sleep_until(deadline).await;
            continue;
        }
        if activity.waiting_on_client() {
            return;
        }
        // The server is working on a request; the answer will move bytes again.
        tokio::time::sleep(limit).await;
    }
}

/// What the idle check needs to know about one connection.
struct Activity {
    start: Instant,
    /// Milliseconds after `start` of the last byte read or written.
    last_ms: AtomicU64,
    /// Requests handed to the app whose response is not ready yet.
    in_flight: AtomicUsize,
    /// Of those, how many are waiting for more of the request body.
    body_waiting: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            body_waiting: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// Idle time counts only while the connection waits on the client: between requests, or for
    /// more of a request body, or (after the response is handed over) for the client to read it.
    fn waiting_on_client(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0 || self.body_waiting.load(Ordering::Relaxed) > 0
    }
}

/// Counts a request as in flight for as long as it lives.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        // The idle clock restarts when the answer is handed over.
        self.0.touch();
    }
}

/// The socket, noting when bytes move.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request body, noting while the app waits for more of it (then the client is the one
/// keeping the connection busy, and idle time counts).
struct TrackedBody {
    inner: Incoming,
    activity: Arc<Activity>,
    waiting: bool,
}

impl TrackedBody {
    fn set_waiting(&mut self, waiting: bool) {
        if waiting != self.waiting {
            self.waiting = waiting;
            if waiting {
                self.activity.body_waiting.fetch_add(1, Ordering::Relaxed);
            } else {
                self.activity.body_waiting.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

impl hyper::body::Body for TrackedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let result = Pin::new(&mut self.inner).poll_frame(cx);
        self.set_waiting(result.is_pending());
        result
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        self.set_waiting(false);
    }
}
