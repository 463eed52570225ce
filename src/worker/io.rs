//! The connection's byte stream as hyper sees it, with activity tracking.
//!
//! The stream is shared (`Arc`) between hyper and the connection task, so
//! the task can peek for unread bytes and linger after hyper is done. Every
//! read or write stamps the activity clock that the drain and the
//! keep-alive timeout look at.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use tokio::time::Instant;

use bytes::Bytes;
use socket2::SockRef;
use std::os::fd::AsFd;

use tokio::io::Interest;
use tokio::net::TcpStream;

/// Milliseconds since `epoch` of the last read or write. On tokio's clock,
/// so the timeouts that read it can be tested under paused time.
#[derive(Debug)]
pub struct Activity {
    epoch: Instant,
    last_ms: AtomicU64,
    written: AtomicU64,
    /// 1 + the ms at which the connection started waiting for a request
    /// head: its accept, or the first byte of a later request; 0 between
    /// a request's head and the first byte of the next.
    head_since: AtomicU64,
    /// Bytes of the awaited head have arrived (a fresh connection that has
    /// sent nothing waits for a head, but holds none).
    head_bytes: std::sync::atomic::AtomicBool,
    /// Responses handed to hyper whose bodies are not finished yet.
    in_flight: AtomicU64,
}

impl Activity {
    /// A fresh connection: stamped now, and waiting for its first head
    /// from now (`client_header_timeout` runs from the accept).
    pub fn new() -> Self {
        Activity {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
            written: AtomicU64::new(0),
            head_since: AtomicU64::new(1),
            head_bytes: std::sync::atomic::AtomicBool::new(false),
            in_flight: AtomicU64::new(0),
        }
    }

    fn touch(&self) -> u64 {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
        ms
    }

    /// Bytes arrived: stamps the clock and, if none were pending, starts
    /// the request-head clock.
    pub(super) fn read_some(&self) {
        let ms = self.touch();
        if self.head_since.load(Ordering::Relaxed) == 0 {
            self.head_since.store(ms + 1, Ordering::Relaxed);
        }
        self.head_bytes.store(true, Ordering::Relaxed);
    }

    /// A response is on its way out.
    pub fn response_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// A response's body is finished (or dropped).
    pub fn response_done(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// True while a response is being sent.
    pub fn responding(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) > 0
    }

    /// A whole request head arrived: nothing is pending any more.
    pub fn request_started(&self) {
        self.head_since.store(0, Ordering::Relaxed);
        self.head_bytes.store(false, Ordering::Relaxed);
    }

    /// True when part of a request head has arrived and not yet become a
    /// request.
    pub fn head_bytes_pending(&self) -> bool {
        self.head_bytes.load(Ordering::Relaxed)
    }

    /// How long the connection has been waiting for the request head it
    /// is on (from the accept, or from the head's first byte).
    pub fn head_pending_for(&self) -> Option<std::time::Duration> {
        let since = self.head_since.load(Ordering::Relaxed);
        (since != 0).then(|| {
            let now = self.epoch.elapsed().as_millis() as u64;
            std::time::Duration::from_millis(now.saturating_sub(since - 1))
        })
    }

    /// `n` bytes went out.
    pub(super) fn wrote(&self, n: usize) {
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        let _ = self.touch();
    }

    /// Bytes written to the client so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Time since the last read or write.
    pub fn quiet_for(&self) -> std::time::Duration {
        let now = self.epoch.elapsed().as_millis() as u64;
        std::time::Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

/// A TCP stream shared with the connection task, stamping `Activity`.
pub struct TrackedIo {
    stream: Arc<TcpStream>,
    activity: Arc<Activity>,
    /// Bytes the plain path read but left for hyper: read before the
    /// stream.
    prefix: Bytes,
}

impl TrackedIo {
    /// Wraps `stream`, whose next bytes are `prefix`.
    pub fn new(stream: Arc<TcpStream>, activity: Arc<Activity>, prefix: Bytes) -> Self {
        TrackedIo {
            stream,
            activity,
            prefix,
        }
    }
}

/// True if the peer has sent bytes that nobody has read yet. (A peer that
/// only closed has nothing more to say: closing our side loses nothing.)
pub fn has_pending_input(stream: &TcpStream) -> bool {
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    matches!(SockRef::from(stream).peek(&mut buf), Ok(n) if n > 0)
}

impl hyper::rt::Read for TrackedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            let head = self.prefix.split_to(n);
            buf.put_slice(&head);
            return Poll::Ready(Ok(()));
        }
        loop {
            ready!(self.stream.poll_read_ready(cx))?;
            let res = self.stream.try_io(Interest::READABLE, || {
                crate::sys::io::recv_into(self.stream.as_fd(), &mut buf)
            });
            match res {
                Ok(n) => {
                    if n > 0 {
                        self.activity.read_some();
                    }
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl hyper::rt::Write for TrackedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.stream.poll_write_ready(cx))?;
            match self.stream.try_write(buf) {
                Ok(n) => {
                    self.activity.wrote(n);
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.stream.poll_write_ready(cx))?;
            match self.stream.try_write_vectored(bufs) {
                Ok(n) => {
                    self.activity.wrote(n);
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Half-closes (FIN) only; the connection task lingers on the read side
    /// before the socket is closed, so a late request does not turn the
    /// close into a reset that destroys the last response.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _ = SockRef::from(&*self.stream).shutdown(std::net::Shutdown::Write);
        Poll::Ready(Ok(()))
    }
}
