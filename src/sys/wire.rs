//! A connection's socket that joins the worker's event loop only when
//! something has to wait on it.
//!
//! A short connection (`Connection: close`, a health check) usually has its
//! whole request waiting by the time it is accepted: it is read, answered
//! and closed at once, and registering it with epoll only to remove it
//! again cost two `epoll_ctl` calls and the runtime's bookkeeping, a tenth
//! of such a connection's CPU. A [`Wire`] therefore tries every read and
//! write on the bare socket first and registers on the first wait (a
//! request not yet there, a full send buffer, the next keep-alive
//! request). Registering reports the socket's current state, so no
//! readiness that came before is lost.

use std::io::{self, IoSlice, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::OnceLock;
use std::task::{Context, Poll};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A non-blocking TCP connection, registered with the runtime on demand.
pub struct Wire {
    /// The registration, made on the first wait. Declared before `socket`
    /// so that it is dropped (deregistered) before the socket closes: it
    /// only borrows the descriptor. `None` if registering failed.
    reg: OnceLock<Option<AsyncFd<RawFd>>>,
    socket: std::net::TcpStream,
    /// `TCP_NODELAY` is set (see [`Wire::no_delay`]).
    no_delay: std::sync::atomic::AtomicBool,
}

impl Wire {
    /// `socket` must be in non-blocking mode (as `accept` below makes it).
    pub fn new(socket: std::net::TcpStream) -> Self {
        Wire {
            reg: OnceLock::new(),
            socket,
            no_delay: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Sets `TCP_NODELAY`, once, before a response after which the
    /// connection stays open: without it a small response written while
    /// the previous one is unacknowledged waits for the client's delayed
    /// ACK. A connection whose only response is followed by its close
    /// never pays for the call (the close sends everything at once).
    pub fn no_delay(&self) {
        use std::sync::atomic::Ordering;
        if !self.no_delay.swap(true, Ordering::Relaxed) {
            let _ = self.socket.set_nodelay(true);
        }
    }

    /// True once something has waited on the socket.
    pub fn registered(&self) -> bool {
        self.reg.get().is_some()
    }

    /// The registration, made now if need be.
    fn reg(&self) -> io::Result<&AsyncFd<RawFd>> {
        let reg = self.reg.get_or_init(|| {
            let fd = self.socket.as_raw_fd();
            let interest = Interest::READABLE | Interest::WRITABLE;
            // SAFETY: the descriptor belongs to `self.socket`, which stays
            // open for as long as `self` exists, and the registration lives
            // in `self.reg`, dropped before `self.socket` (field order).
            unsafe { AsyncFd::register_with_interest(fd, interest) }.ok()
        });
        reg.as_ref()
            .ok_or_else(|| io::Error::other("could not register the connection with epoll"))
    }

    /// Runs the non-blocking operation `f`: on the bare socket before any
    /// wait, else as tokio's `try_io` (which skips `f` while the socket is
    /// known not to be ready, and forgets readiness when `f` would block).
    pub fn try_io<R>(
        &self,
        interest: Interest,
        f: impl FnOnce() -> io::Result<R>,
    ) -> io::Result<R> {
        match self.reg.get() {
            Some(Some(reg)) => reg.try_io(interest, |_| f()),
            _ => f(),
        }
    }

    /// Ready once the socket may be read (registering it).
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let reg = self.reg()?;
        reg.poll_read_ready(cx).map_ok(drop)
    }

    /// Ready once the socket may be written (registering it).
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let reg = self.reg()?;
        reg.poll_write_ready(cx).map_ok(drop)
    }

    /// Waits until the socket may be read (registering it). Through the
    /// registration's one reader slot, not a waiter of its own: the
    /// connection has one reader, and the future stays a few bytes in
    /// every request's state.
    pub fn readable(&self) -> impl Future<Output = io::Result<()>> + Send + '_ {
        std::future::poll_fn(|cx| self.poll_read_ready(cx))
    }

    /// Waits until the socket may be written (registering it), through the
    /// one writer slot as [`Wire::readable`] does.
    pub fn writable(&self) -> impl Future<Output = io::Result<()>> + Send + '_ {
        std::future::poll_fn(|cx| self.poll_write_ready(cx))
    }

    /// One non-blocking `read`.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.try_io(Interest::READABLE, || (&self.socket).read(buf))
    }

    /// One non-blocking `writev`.
    pub fn try_write_vectored(&self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        self.try_io(Interest::WRITABLE, || (&self.socket).write_vectored(slices))
    }
}

impl AsFd for Wire {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for Wire {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// Accepts a connection on `listener` in non-blocking mode, close-on-exec,
/// without registering it anywhere (see [`Wire`]).
pub fn accept(
    listener: &std::net::TcpListener,
) -> io::Result<(std::net::TcpStream, std::net::SocketAddr)> {
    use std::os::fd::FromRawFd;
    let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: `try_init` passes zeroed address storage and its size;
    // accept4 writes at most that many bytes and the length it wrote.
    let (fd, addr) = unsafe {
        socket2::SockAddr::try_init(|storage, len| {
            match libc::accept4(listener.as_raw_fd(), storage.cast(), len, flags) {
                -1 => Err(io::Error::last_os_error()),
                fd => Ok(fd),
            }
        })
    }?;
    // SAFETY: accept4 returned a new descriptor that nothing else owns.
    let stream = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    let peer = addr.as_socket().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "accepted a connection that is not TCP/IP",
        )
    })?;
    Ok((stream, peer))
}

/// Seconds a connection that has sent nothing waits before it is
/// accepted anyway (the kernel rounds it to one retransmitted SYN-ACK).
const DEFER_ACCEPT_SECS: libc::c_int = 1;

/// Sets `TCP_DEFER_ACCEPT` on `listener` (`on`), or clears it: a
/// connection is accepted once its first bytes are there (or after
/// [`DEFER_ACCEPT_SECS`]), so that the accepting worker can read, answer
/// and close it in one go without registering it (see [`Wire`]). HTTP and
/// TLS clients speak first; a client that connects and says nothing is
/// only accepted a second later.
pub fn defer_accept(listener: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    let secs: libc::c_int = if on { DEFER_ACCEPT_SECS } else { 0 };
    // SAFETY: `secs` is a live c_int and its size is passed with it; the
    // fd is borrowed for the call.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&secs as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The `TCP_DEFER_ACCEPT` value set on `listener`, for tests.
#[cfg(test)]
pub fn defer_accept_secs(listener: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    let mut secs: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `secs` and `len` are live and `len` holds `secs`'s size; the
    // fd is borrowed for the call.
    let rc = unsafe {
        libc::getsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&mut secs as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(secs)
}

/// Registers `listener` (already non-blocking) for readability.
pub fn register_listener(
    listener: std::net::TcpListener,
) -> io::Result<AsyncFd<std::net::TcpListener>> {
    // SAFETY: the AsyncFd owns the listener, so the descriptor stays open
    // for as long as it is registered.
    unsafe { AsyncFd::register_with_interest(listener, Interest::READABLE) }
        .map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (std::net::TcpStream, Wire) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let (server, peer) = accept(&l).expect("accept");
        assert_eq!(peer, client.local_addr().expect("client addr"));
        (client, Wire::new(server))
    }

    #[tokio::test]
    async fn a_request_already_there_is_read_and_answered_without_registering() {
        let (mut client, wire) = pair();
        client.write_all(b"ping").expect("send");
        let mut buf = [0u8; 16];
        let mut got = 0;
        for _ in 0..1000 {
            match wire.try_read(&mut buf) {
                Ok(n) => {
                    got = n;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("read: {e}"),
            }
        }
        assert_eq!(&buf[..got], b"ping");
        assert_eq!(
            wire.try_write_vectored(&[IoSlice::new(b"pong")])
                .expect("write"),
            4
        );
        assert!(!wire.registered());
        let mut back = [0u8; 4];
        client.read_exact(&mut back).expect("answer");
        assert_eq!(&back, b"pong");
    }

    #[test]
    fn no_delay_is_set_once_and_only_when_asked() {
        let (_client, wire) = pair();
        let sock = socket2::SockRef::from(&wire);
        assert!(!sock.tcp_nodelay().expect("getsockopt"));
        wire.no_delay();
        assert!(sock.tcp_nodelay().expect("getsockopt"));
        wire.no_delay();
        assert!(sock.tcp_nodelay().expect("getsockopt"));
    }

    #[tokio::test]
    async fn a_wait_registers_and_sees_what_came_before_it() {
        let (mut client, wire) = pair();
        let mut buf = [0u8; 16];
        let err = wire.try_read(&mut buf).expect_err("nothing sent yet");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        // Sent before the wait registers the socket: not lost.
        client.write_all(b"late").expect("send");
        std::thread::sleep(std::time::Duration::from_millis(20));
        tokio::time::timeout(std::time::Duration::from_secs(5), wire.readable())
            .await
            .expect("readable in time")
            .expect("registered");
        assert!(wire.registered());
        assert_eq!(wire.try_read(&mut buf).expect("read"), 4);
        assert_eq!(&buf[..4], b"late");
    }
}
