//! Serving HTTP/1.1 on a listener, optionally over TLS: one task per connection, a cap on
//! concurrent connections, timeouts for the TLS handshake and request headers (slowloris) and
//! for idle keep-alive connections, a cap on the request head's size, and graceful shutdown. The
//! exporter's web server and the ADS simulator both run on it.
//!
//! The two timeouts are kept apart, as Go's `ReadHeaderTimeout` and `IdleTimeout` are: a
//! keep-alive connection between requests may stay quiet for the idle timeout (so Prometheus
//! reuses its connection, and its TLS session, from one scrape to the next), while a client that
//! has started a request head (or just connected) has only the header timeout to finish it.
//! hyper's own header timer restarts whenever a connection goes idle, which would close every
//! keep-alive connection after the header timeout, so the connection's IO enforces both.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;

pub use crate::config::Limits;

/// Serves `handler` on `listener` (over TLS when `tls` is given) until `shutdown` completes,
/// then drains in-flight requests for at most `limits.drain_timeout`.
pub async fn serve<H, Fut, B>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    handler: H,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // Enforced by `Deadlines`: hyper's restarts on an idle keep-alive connection.
        .header_read_timeout(None)
        .max_buf_size(limits.max_header_bytes.max(8192));
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    // Usually out of file descriptors: wait a little instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = Connection {
            builder: builder.clone(),
            handler: handler.clone(),
            watcher: graceful.watcher(),
            idle_timeout: limits.idle_timeout,
            header_timeout: limits.header_read_timeout,
        };
        let tls = tls.clone();
        let handshake_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            match tls {
                None => connection.serve(stream).await,
                Some(acceptor) => {
                    let handshake = async {
                        if sends_plain_http(&stream).await {
                            answer_plain_http(stream).await;
                            return None;
                        }
                        Some(acceptor.accept(stream).await)
                    };
                    match tokio::time::timeout(handshake_timeout, handshake).await {
                        Ok(Some(Ok(stream))) => connection.serve(stream).await,
                        Ok(Some(Err(error))) => tracing::debug!(%error, "TLS handshake failed"),
                        Ok(None) => tracing::debug!("plain HTTP on the TLS port: answered 400"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!("in-flight requests did not finish in time; dropping them");
    }
}

/// Whether a client of the TLS port starts with plain HTTP instead of a TLS record (whose first
/// byte is 22, a handshake): a request line starts with an upper-case method.
async fn sends_plain_http(stream: &tokio::net::TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(stream.peek(&mut first).await, Ok(1) if first[0].is_ascii_uppercase())
}

/// What Go's server (and so exporter-toolkit) answers plain HTTP on a TLS port with.
async fn answer_plain_http(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    let answer = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n\
                   Client sent an HTTP request to an HTTPS server.\n";
    let _ = stream.write_all(answer).await;
    let _ = stream.shutdown().await;
}

struct Connection<H> {
    builder: Arc<http1::Builder>,
    handler: H,
    watcher: Watcher,
    idle_timeout: Duration,
    header_timeout: Duration,
}

impl<H> Connection<H> {
    async fn serve<I, Fut, B>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        H: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Response<B>> + Send + 'static,
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let handler = self.handler;
        let phase = Arc::new(AtomicU8::new(READING_HEAD));
        let in_service = phase.clone();
        let service = service_fn(move |request| {
            // The head is complete: no header deadline until the next request starts.
            in_service.store(BUSY, Ordering::SeqCst);
            let response = handler(request);
            let phase = in_service.clone();
            async move {
                let response = response.await;
                phase.store(IDLE, Ordering::SeqCst);
                Ok::<_, Infallible>(response)
            }
        });
        let io = TokioIo::new(Deadlines::new(io, self.idle_timeout, self.header_timeout, phase));
        // Errors here are the client's (reset, timed out, malformed request): nothing to do.
        let _ = self.watcher.watch(self.builder.serve_connection(io, service)).await;
    }
}

/// Where a connection is: waiting for (or reading) a request head, serving one, or idle between
/// two requests.
const READING_HEAD: u8 = 0;
const BUSY: u8 = 1;
const IDLE: u8 = 2;

/// The connection's deadlines, enforced on its IO: closed after `idle` without any traffic (an
/// idle keep-alive connection, or a client that stopped reading its response), and after
/// `header` once a request head has started (the first byte after idling, or the connection's
/// start) until the request is handed to the service.
struct Deadlines<I> {
    inner: I,
    idle: Duration,
    header: Duration,
    phase: Arc<AtomicU8>,
    idle_deadline: Pin<Box<Sleep>>,
    /// Armed while a head is being read.
    header_deadline: Option<Pin<Box<Sleep>>>,
}

impl<I> Deadlines<I> {
    fn new(inner: I, idle: Duration, header: Duration, phase: Arc<AtomicU8>) -> Deadlines<I> {
        Deadlines {
            inner,
            idle,
            header,
            phase,
            idle_deadline: Box::pin(tokio::time::sleep(idle)),
            header_deadline: Some(Box::pin(tokio::time::sleep(header))),
        }
    }

    fn activity(&mut self) {
        self.idle_deadline.as_mut().reset(Instant::now() + self.idle);
    }

    /// After bytes were read: an idle connection starts a new head.
    fn read_some(&mut self) {
        self.activity();
        if self.phase.compare_exchange(IDLE, READING_HEAD, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            self.header_deadline = Some(Box::pin(tokio::time::sleep(self.header)));
        }
    }

    /// After the inner stream said Pending: an error if a deadline has passed.
    fn check(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if self.phase.load(Ordering::SeqCst) != READING_HEAD {
            self.header_deadline = None;
        }
        if let Some(deadline) = &mut self.header_deadline
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, "request head not received in time"));
        }
        match self.idle_deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, "connection idle for too long")),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Deadlines<I> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.read_some();
                }
                Poll::Ready(result)
            }
            Poll::Pending => this.check(cx).map(Err),
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Deadlines<I> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(result) => {
                if matches!(result, Ok(n) if n > 0) {
                    this.activity();
                }
                Poll::Ready(result)
            }
            Poll::Pending => this.check(cx).map(Err),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
