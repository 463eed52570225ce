//! The plain path: a connection's GET and HEAD requests without a body are
//! parsed here (with `httparse`, hyper's own parser) and answered through
//! `wire.rs`, which can send file bodies with sendfile and costs less per
//! request than hyper's general machinery. The first request that is
//! anything else (a body, `Expect`, `Upgrade`, another method, a head that
//! does not parse) hands the connection, with every byte read so far, to
//! hyper for the rest of its life, so unusual input gets hyper's handling.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use hyper::header::{CONNECTION, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Uri, Version};
use socket2::SockRef;
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::conn::{Conn, framing_problem};
use super::io::{Activity, has_pending_input};
use super::wire::{self, After};

/// hyper's default limit on request header lines; more goes to hyper,
/// which answers 431.
const MAX_HEADERS: usize = 100;

/// How the plain path left the connection.
#[derive(Debug)]
pub enum End {
    /// Finished cleanly (a response said close and the write side is
    /// shut): linger, then close.
    Done,
    /// The client left, or asked to close and has nothing more in flight:
    /// close now (no reset can destroy the last response).
    Close,
    /// A read or write failed: close at once.
    Broken,
    /// A request for hyper: these bytes (read, not yet handled) come first.
    Handoff(Bytes),
}

/// A request head the plain path takes.
struct Plain {
    req: Request<()>,
    keep_alive: bool,
}

// Returned once per request and matched at once: boxing the request would
// cost an allocation for nothing.
#[allow(clippy::large_enum_variant)]
enum Parsed {
    Plain(Plain),
    Partial,
    ForHyper,
}

/// Serves the connection's plain requests until it ends or a request needs
/// hyper.
pub async fn serve(c: &Arc<Conn>, stream: &TcpStream, activity: &Arc<Activity>) -> End {
    let max_head = c.limits().max_head().max(8192);
    let mut buf = BytesMut::with_capacity(4096);
    let mut head = Vec::with_capacity(512);
    loop {
        let parsed = if buf.is_empty() {
            Parsed::Partial
        } else {
            parse(&mut buf)
        };
        match parsed {
            Parsed::Plain(p) => {
                activity.request_started();
                let mut resp = match framing_problem(&p.req, c.limits()) {
                    Some(status) => c.refuse(&p.req, status, activity),
                    None => c.answer(&p.req, activity),
                };
                head.clear();
                let after = wire::render_head(&resp, p.req.version(), p.keep_alive, &mut head);
                let sent = wire::send(stream, activity, &head, resp.body_mut()).await;
                // Dropping the body writes the access-log line.
                drop(resp);
                if sent.is_err() {
                    return End::Broken;
                }
                if after == After::Close {
                    // A client that asked to close sends nothing more:
                    // closing at once (as nginx does) spares a shutdown,
                    // a wake-up and a read. Anything unread, and we
                    // linger so the close cannot turn into a reset.
                    if !p.keep_alive && buf.is_empty() && !has_pending_input(stream) {
                        return End::Close;
                    }
                    let _ = SockRef::from(stream).shutdown(std::net::Shutdown::Write);
                    return End::Done;
                }
                if !buf.is_empty() {
                    // Part of the next head is already here: its
                    // client_header_timeout runs from now.
                    activity.read_some();
                }
                // Pipelined requests arriving as fast as they are answered
                // must not keep the worker's one thread from its other
                // connections.
                tokio::task::coop::consume_budget().await;
            }
            Parsed::ForHyper => return End::Handoff(buf.freeze()),
            Parsed::Partial if buf.len() >= max_head => return End::Handoff(buf.freeze()),
            Parsed::Partial => {
                if buf.capacity() - buf.len() < 1024 {
                    buf.reserve(4096);
                }
                match read(stream, &mut buf, activity).await {
                    Ok(0) if buf.is_empty() => return End::Close,
                    Ok(0) => return End::Handoff(buf.freeze()),
                    Ok(_) => {}
                    Err(_) => return End::Broken,
                }
            }
        }
    }
}

/// Reads what the client sent into `buf`. A read that does not fill the
/// space it was given has drained the socket (TCP hands over everything
/// queued, up to the space): readiness is cleared then, as nginx does,
/// instead of learning it from one more `recv` failing with EAGAIN on
/// every request. A byte arriving later raises a new edge, so nothing is
/// missed.
async fn read(stream: &TcpStream, buf: &mut BytesMut, activity: &Activity) -> io::Result<usize> {
    loop {
        stream.readable().await?;
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
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && got == 0 => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        if got > 0 {
            activity.read_some();
        }
        return Ok(got);
    }
}

/// Parses the request head at the start of `buf` and takes it out of
/// `buf` if it is complete and plain; a request for hyper stays in `buf`
/// whole.
fn parse(buf: &mut BytesMut) -> Parsed {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let base = buf.as_ptr() as usize;
    let len = match httparse::ParserConfig::default()
        .parse_request_with_uninit_headers(&mut req, buf, &mut slots)
    {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::ForHyper,
    };
    let method = match req.method {
        Some("GET") => Method::GET,
        Some("HEAD") => Method::HEAD,
        _ => return Parsed::ForHyper,
    };
    let version = match req.version {
        Some(1) => Version::HTTP_11,
        Some(0) => Version::HTTP_10,
        _ => return Parsed::ForHyper,
    };
    let Some(path) = req.path else {
        return Parsed::ForHyper;
    };
    let path_at = (path.as_ptr() as usize - base, path.len());
    // (name, value start, value length) of each header, to be rebuilt on
    // the frozen head without copying the values.
    let mut fields: Vec<(HeaderName, usize, usize)> = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let Ok(name) = HeaderName::from_bytes(h.name.as_bytes()) else {
            return Parsed::ForHyper;
        };
        if is_framing(&name) {
            return Parsed::ForHyper;
        }
        fields.push((name, h.value.as_ptr() as usize - base, h.value.len()));
    }
    let head = buf.split_to(len).freeze();
    let uri = Uri::from_maybe_shared(head.slice(path_at.0..path_at.0 + path_at.1));
    let (Ok(uri), Some(headers)) = (uri, rebuild(&head, fields)) else {
        // httparse let through what `http` refuses: put the head back for
        // hyper to decide.
        let mut whole = BytesMut::with_capacity(head.len() + buf.len());
        whole.extend_from_slice(&head);
        whole.extend_from_slice(buf);
        *buf = whole;
        return Parsed::ForHyper;
    };
    let keep_alive = keep_alive(version, &headers);
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    Parsed::Plain(Plain {
        req: request,
        keep_alive,
    })
}

/// The header map of a frozen head, its values sharing the head's bytes.
fn rebuild(head: &Bytes, fields: Vec<(HeaderName, usize, usize)>) -> Option<HeaderMap> {
    let mut headers = HeaderMap::with_capacity(fields.len());
    for (name, at, n) in fields {
        let value = HeaderValue::from_maybe_shared(head.slice(at..at + n)).ok()?;
        headers.append(name, value);
    }
    Some(headers)
}

/// Headers that give a request a body or change what the connection does
/// next: hyper handles those requests.
fn is_framing(name: &HeaderName) -> bool {
    use hyper::header::{CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING, UPGRADE};
    name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == EXPECT || name == UPGRADE
}

/// Whether the client wants the connection kept open: HTTP/1.1 unless it
/// says `close`, HTTP/1.0 only if it says `keep-alive` (and not `close`).
fn keep_alive(version: Version, headers: &HeaderMap) -> bool {
    let mut close = false;
    let mut keep = false;
    for v in headers.get_all(CONNECTION) {
        close |= wire::has_token(v, "close");
        keep |= wire::has_token(v, "keep-alive");
    }
    !close && (version == Version::HTTP_11 || keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str) -> Parsed {
        parse(&mut BytesMut::from(raw.as_bytes()))
    }

    fn plain(raw: &str) -> Plain {
        plain_and_rest(raw).0
    }

    fn plain_and_rest(raw: &str) -> (Plain, BytesMut) {
        let mut buf = BytesMut::from(raw.as_bytes());
        match parse(&mut buf) {
            Parsed::Plain(p) => (p, buf),
            Parsed::Partial => panic!("partial: {raw:?}"),
            Parsed::ForHyper => panic!("for hyper: {raw:?}"),
        }
    }

    #[test]
    fn a_get_is_plain_and_its_length_excludes_what_follows() {
        let raw = "GET /a%20b?x=1 HTTP/1.1\r\nHost: h\r\nX-Y: 1\r\n\r\nGET / HTTP/1.1\r\n";
        let (p, rest) = plain_and_rest(raw);
        assert_eq!(&rest[..], b"GET / HTTP/1.1\r\n");
        assert_eq!(p.req.method(), Method::GET);
        assert_eq!(p.req.uri().path(), "/a%20b");
        assert_eq!(p.req.uri().query(), Some("x=1"));
        assert_eq!(p.req.headers()["host"], "h");
        assert_eq!(p.req.headers()["x-y"], "1");
        assert!(p.keep_alive);
    }

    #[test]
    fn bodies_other_methods_and_bad_heads_go_to_hyper() {
        for raw in [
            "POST / HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "\x16\x03\x01\x02\x00\x01\x00\x01\x03\x03",
        ] {
            let mut buf = BytesMut::from(raw.as_bytes());
            assert!(matches!(parse(&mut buf), Parsed::ForHyper), "{raw:?}");
            assert_eq!(&buf[..], raw.as_bytes(), "handed over whole");
        }
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: 1\r\n")).collect();
        assert!(matches!(
            parsed(&format!("GET / HTTP/1.1\r\n{many}\r\n")),
            Parsed::ForHyper
        ));
    }

    #[test]
    fn an_unfinished_head_waits_for_more() {
        assert!(matches!(
            parsed("GET / HTTP/1.1\r\nHost: h\r\n"),
            Parsed::Partial
        ));
        assert!(matches!(parsed("GE"), Parsed::Partial));
    }

    #[test]
    fn keep_alive_follows_version_and_connection() {
        assert!(!plain("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!plain("GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
        assert!(!plain("GET / HTTP/1.0\r\n\r\n").keep_alive);
        let p = plain("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(p.keep_alive);
        assert_eq!(p.req.version(), Version::HTTP_10);
    }
}
