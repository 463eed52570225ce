//! Reading from the connection: the one place bytes come in, for heads
//! and bodies alike, stamping the activity clock the watchdog reads.

use std::io;
use std::os::fd::AsFd;

use bytes::BytesMut;
use tokio::io::Interest;

use crate::sys::wire::Wire;

use super::super::io::Activity;

/// Reads what the client sent into `buf`, waiting for it if need be.
/// Tried first, then waited for: a socket not yet registered is read
/// bare (see [`Wire`]), and a registered one known not to be readable
/// costs no system call.
pub async fn read(stream: &Wire, buf: &mut BytesMut, activity: &Activity) -> io::Result<usize> {
    loop {
        if let Some(got) = read_now(stream, buf, activity)? {
            // (Readiness alone never makes a task give up the thread: the
            // loops that read without bound, a body's and lingering, spend
            // tokio's budget themselves; a head is bounded by its size
            // limit.)
            return Ok(got);
        }
        stream.readable().await?;
    }
}

/// Reads what the client sent into `buf` without waiting: `None` when
/// nothing was there. A read that does not fill the space it was given
/// has drained the socket (TCP hands over everything queued, up to the
/// space): readiness is cleared then, as nginx does, instead of learning
/// it from one more `recv` failing with EAGAIN on every request. A byte
/// arriving later raises a new edge, so nothing is missed.
pub fn read_now(
    stream: &Wire,
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
