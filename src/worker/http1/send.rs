//! Writing a response to the socket ourselves: in-memory bodies in the
//! same `writev` as the head, and file ranges handed to the kernel with
//! `sendfile`, so a large file is never copied through user space
//! (hyper's connection code cannot do that: it writes every body byte
//! itself).

use std::fs::File;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::MsgFlags;
use tokio::io::Interest;

use crate::sys::wire::Wire;

use super::super::io::Activity;
use crate::http::Body;
use crate::http::body::Part;

/// The most one `sendfile` call may send (nginx's `sendfile_max_chunk`
/// default); between calls the task spends tokio's fairness budget, so a
/// fast reader of a large file does not hold the worker's one thread.
const SENDFILE_CHUNK: u64 = 2 * 1024 * 1024;

/// What follows a response on its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// More responses, or a wait for the next request.
    Open,
    /// The connection is closed (or its write side shut) right after: the
    /// response's in-memory bytes are queued with `MSG_MORE`, and the close
    /// sends them with the FIN in one segment, as a corked socket would,
    /// instead of a data segment and then a FIN segment (each acknowledged).
    Close,
}

/// Sends `head` and then `body`, counting body bytes into the body (for the
/// access log). An error means the connection is unusable: the response
/// may be cut short, so the caller closes it.
pub async fn send(
    stream: &Wire,
    activity: &Activity,
    head: &[u8],
    body: &mut Body,
    then: Then,
) -> io::Result<()> {
    if then == Then::Open {
        stream.no_delay();
    }
    let mut head = Some(head);
    while let Some(part) = body.take_part() {
        match part {
            Part::Bytes(bytes) => {
                let mut slices = [
                    IoSlice::new(head.take().unwrap_or(&[])),
                    IoSlice::new(&bytes),
                ];
                write_all(stream, activity, &mut slices, then).await?;
                body.count_sent(bytes.len() as u64);
            }
            Part::File {
                file,
                offset,
                remaining,
            } => {
                if let Some(h) = head.take() {
                    send_more(stream, activity, h).await?;
                }
                let sent = send_file(stream, activity, &file, offset, remaining, body).await?;
                if sent < remaining {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shrank while being sent",
                    ));
                }
            }
        }
    }
    if let Some(h) = head {
        write_all(stream, activity, &mut [IoSlice::new(h)], then).await?;
    }
    Ok(())
}

async fn write_all(
    stream: &Wire,
    activity: &Activity,
    mut slices: &mut [IoSlice<'_>],
    then: Then,
) -> io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        let res = match then {
            Then::Open => stream.try_write_vectored(slices),
            Then::Close => stream.try_io(Interest::WRITABLE, || write_last(stream, slices)),
        };
        match res {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                activity.wrote(n);
                IoSlice::advance_slices(&mut slices, n);
            }
            Err(e) if retry(&e) => room(stream, &e).await?,
            Err(e) => return Err(e),
        }
        // A client that reads as fast as we write must not keep the
        // worker's one thread from its other connections.
        tokio::task::coop::consume_budget().await;
    }
    Ok(())
}

/// One `sendmsg` of `slices` with `MSG_MORE`: the close that follows
/// sends them (see [`Then::Close`]).
fn write_last(stream: &Wire, slices: &[IoSlice<'_>]) -> io::Result<usize> {
    let flags = MsgFlags::MSG_NOSIGNAL | MsgFlags::from_bits_retain(libc::MSG_MORE);
    nix::sys::socket::sendmsg::<()>(stream.as_raw_fd(), slices, &[], flags, None)
        .map_err(io::Error::from)
}

/// Writes a head that file data follows, with `MSG_MORE` so the kernel
/// may put both in the same packets.
async fn send_more(stream: &Wire, activity: &Activity, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let res = stream.try_io(Interest::WRITABLE, || {
            nix::sys::socket::send(
                stream.as_raw_fd(),
                buf,
                MsgFlags::from_bits_retain(libc::MSG_MORE),
            )
            .map_err(io::Error::from)
        });
        match res {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                activity.wrote(n);
                buf = &buf[n..];
            }
            Err(e) if retry(&e) => room(stream, &e).await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sends `len` bytes of `file` from `offset` with sendfile; returns how
/// many went out (fewer only if the file shrank). A file system that
/// cannot sendfile gets the bytes read and written instead.
async fn send_file(
    stream: &Wire,
    activity: &Activity,
    file: &File,
    offset: u64,
    len: u64,
    body: &mut Body,
) -> io::Result<u64> {
    let Ok(mut off) = i64::try_from(offset) else {
        return Err(io::ErrorKind::InvalidInput.into());
    };
    let mut sent = 0;
    while sent < len {
        let want = (len - sent).min(SENDFILE_CHUNK) as usize;
        let res = stream.try_io(Interest::WRITABLE, || {
            nix::sys::sendfile::sendfile64(stream.as_fd(), file.as_fd(), Some(&mut off), want)
                .map_err(io::Error::from)
        });
        match res {
            Ok(0) => break,
            Ok(n) => {
                activity.wrote(n);
                sent += n as u64;
                body.count_sent(n as u64);
            }
            Err(e) if retry(&e) => room(stream, &e).await?,
            Err(e)
                if sent == 0 && matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) =>
            {
                // Boxed: a file system without sendfile is rare, and its
                // loop's state would otherwise be in every response's future.
                return Box::pin(copy_file(stream, activity, file, offset, len, body)).await;
            }
            Err(e) => return Err(e),
        }
        tokio::task::coop::consume_budget().await;
    }
    Ok(sent)
}

/// sendfile's stand-in: the range read in chunks and written.
async fn copy_file(
    stream: &Wire,
    activity: &Activity,
    file: &File,
    offset: u64,
    len: u64,
    body: &mut Body,
) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; (len.min(64 * 1024)) as usize];
    let mut sent = 0;
    while sent < len {
        let want = ((len - sent) as usize).min(buf.len());
        let n = match file.read_at(&mut buf[..want], offset + sent) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        write_all(stream, activity, &mut [IoSlice::new(&buf[..n])], Then::Open).await?;
        sent += n as u64;
        body.count_sent(n as u64);
    }
    Ok(sent)
}

/// After a write that did not go through and may be tried again: waits
/// for room if the socket was full (writes are tried before waiting, so
/// a socket with room needs no registration; see [`Wire`]).
async fn room(stream: &Wire, e: &io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::WouldBlock {
        stream.writable().await?;
    }
    Ok(())
}

/// A write that may simply be tried again.
fn retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}
