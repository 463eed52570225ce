//! Writing a response to the socket ourselves: the head rendered once into
//! one buffer, in-memory bodies in the same `writev`, and file ranges
//! handed to the kernel with `sendfile`, so a large file is never copied
//! through user space (hyper's connection code cannot do that: it writes
//! every body byte itself).

use std::fs::File;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd};
use std::time::SystemTime;

use hyper::header::{CONNECTION, CONTENT_LENGTH, DATE, HeaderMap, HeaderValue, SERVER};
use hyper::{Response, StatusCode, Version};
use nix::sys::socket::MsgFlags;
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::io::Activity;
use crate::http::Body;
use crate::http::body::Part;
use crate::log::time::PerSecond;

/// The most one `sendfile` call may send (nginx's `sendfile_max_chunk`
/// default); between calls the task spends tokio's fairness budget, so a
/// fast reader of a large file does not hold the worker's one thread.
const SENDFILE_CHUNK: u64 = 2 * 1024 * 1024;

/// How the connection goes on after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Read the next request.
    KeepAlive,
    /// Close once this response is out.
    Close,
}

/// Renders the status line and headers of `resp` for a request of
/// `version`, in the wire form hyper would give them (HTTP/1.0 peers get an
/// HTTP/1.0 status line; `Connection` says what `after` decided; a `Date`
/// is added), with header names in their usual capitalisation (`ETag`).
/// Returns what the connection does after this response.
pub fn render_head(
    resp: &Response<Body>,
    version: Version,
    keep_alive: bool,
    dst: &mut Vec<u8>,
) -> After {
    let h = resp.headers();
    let says_close = h.get_all(CONNECTION).iter().any(|v| has_token(v, "close"));
    let after = if keep_alive && !says_close {
        After::KeepAlive
    } else {
        After::Close
    };
    let status = resp.status();
    dst.extend_from_slice(if version == Version::HTTP_10 {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    });
    dst.extend_from_slice(status.as_str().as_bytes());
    dst.push(b' ');
    match resp.extensions().get::<hyper::ext::ReasonPhrase>() {
        Some(reason) => dst.extend_from_slice(reason.as_bytes()),
        None => dst.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes()),
    }
    dst.extend_from_slice(b"\r\n");
    // nginx's order: Server and Date first.
    if let Some(server) = h.get(SERVER) {
        dst.extend_from_slice(b"Server: ");
        dst.extend_from_slice(server.as_bytes());
        dst.extend_from_slice(b"\r\n");
    }
    if !h.contains_key(DATE) {
        dst.extend_from_slice(b"Date: ");
        with_date(|d| dst.extend_from_slice(d));
        dst.extend_from_slice(b"\r\n");
    }
    write_headers(h, dst);
    if !h.contains_key(CONTENT_LENGTH) && may_have_body(status) {
        dst.extend_from_slice(b"Content-Length: ");
        dst.extend_from_slice(resp.body().len().to_string().as_bytes());
        dst.extend_from_slice(b"\r\n");
    }
    match (after, version) {
        (After::KeepAlive, Version::HTTP_10) => {
            dst.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        (After::Close, Version::HTTP_11) if !says_close => {
            dst.extend_from_slice(b"Connection: close\r\n");
        }
        _ => {}
    }
    dst.extend_from_slice(b"\r\n");
    after
}

fn may_have_body(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}

/// True if the comma-separated header value `v` lists `token`.
pub fn has_token(v: &HeaderValue, token: &str) -> bool {
    v.as_bytes()
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

fn write_headers(h: &HeaderMap, dst: &mut Vec<u8>) {
    for (name, value) in h {
        if name == SERVER {
            continue;
        }
        write_name(name.as_str(), dst);
        dst.extend_from_slice(b": ");
        dst.extend_from_slice(value.as_bytes());
        dst.extend_from_slice(b"\r\n");
    }
}

/// Writes a (lower-case) header name the way nginx and most servers spell
/// it: `ETag` and `WWW-Authenticate` as registered, others title-cased.
fn write_name(name: &str, dst: &mut Vec<u8>) {
    match name {
        "etag" => dst.extend_from_slice(b"ETag"),
        "www-authenticate" => dst.extend_from_slice(b"WWW-Authenticate"),
        _ => {
            let mut upper = true;
            for &b in name.as_bytes() {
                dst.push(if upper { b.to_ascii_uppercase() } else { b });
                upper = b == b'-';
            }
        }
    }
}

thread_local! {
    /// The `Date` value of the current second.
    static DATE_VALUE: PerSecond = const { PerSecond::new() };
}

fn with_date(f: impl FnOnce(&[u8])) {
    DATE_VALUE.with(|date| {
        date.with(SystemTime::now(), crate::http::date::http_date, |d| {
            f(d.as_bytes())
        })
    });
}

/// Sends `head` and then `body`, counting body bytes into the body (for the
/// access log). An error means the connection is unusable: the response
/// may be cut short, so the caller closes it.
pub async fn send(
    stream: &TcpStream,
    activity: &Activity,
    head: &[u8],
    body: &mut Body,
) -> io::Result<()> {
    let mut head = Some(head);
    while let Some(part) = body.take_part() {
        match part {
            Part::Bytes(bytes) => {
                let mut slices = [
                    IoSlice::new(head.take().unwrap_or(&[])),
                    IoSlice::new(&bytes),
                ];
                write_all(stream, activity, &mut slices).await?;
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
        write_all(stream, activity, &mut [IoSlice::new(h)]).await?;
    }
    Ok(())
}

async fn write_all(
    stream: &TcpStream,
    activity: &Activity,
    mut slices: &mut [IoSlice<'_>],
) -> io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        stream.writable().await?;
        match stream.try_write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                activity.wrote(n);
                IoSlice::advance_slices(&mut slices, n);
            }
            Err(e) if retry(&e) => {}
            Err(e) => return Err(e),
        }
        // A client that reads as fast as we write must not keep the
        // worker's one thread from its other connections.
        tokio::task::coop::consume_budget().await;
    }
    Ok(())
}

/// Writes a head that file data follows, with `MSG_MORE` so the kernel
/// may put both in the same packets.
async fn send_more(stream: &TcpStream, activity: &Activity, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        stream.writable().await?;
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
            Err(e) if retry(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sends `len` bytes of `file` from `offset` with sendfile; returns how
/// many went out (fewer only if the file shrank). A file system that
/// cannot sendfile gets the bytes read and written instead.
async fn send_file(
    stream: &TcpStream,
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
        stream.writable().await?;
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
            Err(e) if retry(&e) => {}
            Err(e)
                if sent == 0 && matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) =>
            {
                return copy_file(stream, activity, file, offset, len, body).await;
            }
            Err(e) => return Err(e),
        }
        tokio::task::coop::consume_budget().await;
    }
    Ok(sent)
}

/// sendfile's stand-in: the range read in chunks and written.
async fn copy_file(
    stream: &TcpStream,
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
        write_all(stream, activity, &mut [IoSlice::new(&buf[..n])]).await?;
        sent += n as u64;
        body.count_sent(n as u64);
    }
    Ok(sent)
}

/// A write that may simply be tried again.
fn retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(resp: Response<Body>, version: Version, keep_alive: bool) -> (String, After) {
        let mut dst = Vec::new();
        let after = render_head(&resp, version, keep_alive, &mut dst);
        (String::from_utf8(dst).expect("ascii"), after)
    }

    #[test]
    fn names_are_capitalised_as_registered() {
        let resp = Response::builder()
            .header("etag", "\"1\"")
            .header("content-type", "text/plain")
            .header("x-a-b", "1")
            .header("content-length", "0")
            .body(Body::empty())
            .expect("response");
        let (h, after) = head(resp, Version::HTTP_11, true);
        assert!(h.starts_with("HTTP/1.1 200 OK\r\nDate: "), "{h}");
        assert!(h.ends_with(" GMT\r\nETag: \"1\"\r\nContent-Type: text/plain\r\nX-A-B: 1\r\nContent-Length: 0\r\n\r\n"), "{h}");
        assert_eq!(after, After::KeepAlive);
    }

    #[test]
    fn keep_alive_follows_the_version_and_the_response() {
        let ok = || {
            Response::builder()
                .header("content-length", "0")
                .body(Body::empty())
                .expect("response")
        };
        let (h, after) = head(ok(), Version::HTTP_10, true);
        assert!(h.starts_with("HTTP/1.0 200 OK\r\n") && h.contains("Connection: keep-alive\r\n"));
        assert_eq!(after, After::KeepAlive);
        let (h, after) = head(ok(), Version::HTTP_10, false);
        assert!(!h.contains("Connection"), "{h}");
        assert_eq!(after, After::Close);
        let (h, after) = head(ok(), Version::HTTP_11, false);
        assert!(h.contains("Connection: close\r\n"), "{h}");
        assert_eq!(after, After::Close);
        let mut closing = ok();
        closing
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        let (h, after) = head(closing, Version::HTTP_11, true);
        assert_eq!(h.matches("Connection: close").count(), 1, "{h}");
        assert_eq!(after, After::Close);
    }

    #[test]
    fn length_is_added_when_missing_but_not_to_304() {
        let resp = Response::builder()
            .body(Body::bytes("hello"))
            .expect("response");
        assert!(
            head(resp, Version::HTTP_11, true)
                .0
                .contains("Content-Length: 5\r\n")
        );
        let resp = Response::builder()
            .status(304)
            .body(Body::empty())
            .expect("response");
        assert!(
            !head(resp, Version::HTTP_11, true)
                .0
                .contains("Content-Length")
        );
    }

    #[test]
    fn reason_phrase_extension_wins() {
        let mut resp = Response::builder()
            .status(405)
            .body(Body::empty())
            .expect("response");
        resp.extensions_mut()
            .insert(hyper::ext::ReasonPhrase::from_static(b"Not Allowed"));
        assert!(
            head(resp, Version::HTTP_11, true)
                .0
                .starts_with("HTTP/1.1 405 Not Allowed\r\n")
        );
    }

    #[test]
    fn tokens_are_matched_whole_and_without_case() {
        assert!(has_token(
            &HeaderValue::from_static("Keep-Alive, Close"),
            "close"
        ));
        assert!(!has_token(&HeaderValue::from_static("closed"), "close"));
    }
}
