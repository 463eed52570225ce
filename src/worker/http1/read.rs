//! Reading from the connection: the one place bytes come in, for heads
//! and bodies alike, stamping the activity clock the watchdog reads.

use std::io;
use std::os::fd::AsFd;

use bytes::BytesMut;
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::super::io::Activity;

/// Reads what the client sent into `buf`, waiting for it if need be.
pub async fn read(
    stream: &TcpStream,
    buf: &mut BytesMut,
    activity: &Activity,
) -> io::Result<usize> {
    loop {
        stream.readable().await?;
        if let Some(got) = read_now(stream, buf, activity)? {
            // (Readiness alone never makes a task give up the thread: the
            // loops that read without bound, a body's and lingering, spend
            // tokio's budget themselves; a head is bounded by its size
            // limit.)
            return Ok(got);
        }
    }
}

/// Reads what the client sent into `buf` without waiting: `None` when
/// nothing was there. A read that does not fill the space it was given
/// has drained the socket (TCP hands over everything queued, up to the
/// space): readiness is cleared then, as nginx does, instead of learning
/// it from one more `recv` failing with EAGAIN on every request. A byte
/// arriving later raises a new edge, so nothing is missed.
pub fn read_now(
    stream: &TcpStream,
    buf: &mut BytesMut,
    activity: &Activity,
) -> io::Result<Option<usize>> {
    loop {
        let mut got = 0;
        let res = stream.try_io(Interest::READABLE, || {
            let space = buf.capacity() - buf.len();
            got = crate::sys::io::recv_buf(stream.as_fd(), buf)?;
            if got > 0 && got < space {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(got)
        });
        match res {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && got == 0 => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        if got > 0 {
            activity.read_some();
        }
        return Ok(Some(got));
    }
}

/// Waits until the client has sent something (or closed), holding no
/// buffer meanwhile. Through the stream's own reader slot rather than
/// `readable()`, whose waiter would sit inside every idle connection's
/// task.
pub fn readable(stream: &TcpStream) -> impl Future<Output = io::Result<()>> + Send + '_ {
    std::future::poll_fn(|cx| stream.poll_read_ready(cx))
}
