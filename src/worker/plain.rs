//! HTTP/1 on the wire: every request of a connection is parsed here (with
//! `httparse`) and answered through `wire.rs`, which sends file bodies
//! with sendfile. Request bodies (GET and HEAD may carry one; other
//! methods get 405) are read and thrown away by `request_body.rs`, so the
//! next request is read from the right place. Input that is not a request
//! (a head that does not parse, an HTTP/2 preface, a request line or head
//! over the limits) gets an error page in the same style as every other
//! response, and the connection is closed; so does a request whose
//! framing is wrong (Content-Length with Transfer-Encoding, two lengths,
//! a coding other than chunked), answered at once, before its body.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use hyper::header::{CONNECTION, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri, Version};
use socket2::SockRef;
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::conn::{Conn, framing_problem};
use super::io::{Activity, has_pending_input};
use super::request_body::{BodyError, Framing, Socket, Source};
use super::wire::{self, After};

/// Most request header lines; more is a 431 (hyper's usual limit).
const MAX_HEADERS: usize = 100;

/// How the connection ended.
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
}

/// A parsed request head.
struct Head {
    req: Request<()>,
    keep_alive: bool,
    framing: Framing,
    /// `Expect: 100-continue`: say so before reading the body.
    expect_continue: bool,
    /// Refused before any body is read: the framing cannot be trusted, or
    /// the expectation cannot be met.
    refuse: Option<StatusCode>,
}

// Returned once per request and matched at once: boxing the request would
// cost an allocation for nothing.
#[allow(clippy::large_enum_variant)]
enum Parsed {
    Request(Head),
    Partial,
    /// Not a request: answered with this status, then the connection
    /// closes.
    Bad(StatusCode),
}

/// Serves the connection's requests until it ends.
pub async fn serve(c: &Arc<Conn>, stream: &TcpStream, activity: &Arc<Activity>) -> End {
    let max_head = c.limits().max_head().max(8192);
    let mut buf = BytesMut::with_capacity(4096);
    let mut head = Vec::with_capacity(512);
    // How far `buf` has been searched for the end of a head: a head sent a
    // byte at a time is scanned once, not parsed again on every byte.
    let mut scanned = 0;
    loop {
        // A head that arrived whole (the usual case) is parsed at once; one
        // still arriving is parsed again only once its end may be there.
        let parsed = if buf.is_empty() || (scanned > 0 && !head_may_be_complete(&buf, &mut scanned))
        {
            Parsed::Partial
        } else {
            match parse(&mut buf) {
                Parsed::Partial => {
                    scanned = scanned.max(buf.len());
                    Parsed::Partial
                }
                done => done,
            }
        };
        if !matches!(parsed, Parsed::Partial) {
            scanned = 0;
        }
        let (mut resp, keep_alive, version, refused) = match parsed {
            Parsed::Request(p) => {
                activity.request_started();
                let refusal = p.refuse.or_else(|| framing_problem(&p.req, c.limits()));
                let outcome = match refusal {
                    Some(status) => Err(status),
                    // Boxed: most requests have no body, and the body
                    // reader's state would otherwise sit in every
                    // connection's task, idle or not.
                    None if p.framing == Framing::None => Ok(()),
                    None => match Box::pin(body(&p, &mut buf, stream, activity, c)).await {
                        Ok(()) => Ok(()),
                        Err(BodyError::Status(status)) => Err(status),
                        Err(BodyError::Io) => return End::Broken,
                    },
                };
                match outcome {
                    Ok(()) => {
                        // Body bytes are not the next head.
                        activity.request_started();
                        let resp = c.answer(&p.req, activity);
                        (resp, p.keep_alive, p.req.version(), false)
                    }
                    // Answered at once and closed: what follows in the
                    // stream cannot be trusted to start a request.
                    Err(status) => {
                        let resp = c.refuse(&p.req, status, activity);
                        (resp, false, p.req.version(), true)
                    }
                }
            }
            Parsed::Bad(status) => (c.reject(status, activity), false, Version::HTTP_11, true),
            Parsed::Partial if buf.len() >= max_head => {
                // A request line that never ends is 414 however long it
                // is; a head that does not end, 431.
                let status = if buf.contains(&b'\n') {
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
                } else {
                    StatusCode::URI_TOO_LONG
                };
                (c.reject(status, activity), false, Version::HTTP_11, true)
            }
            Parsed::Partial => {
                if buf.capacity() - buf.len() < 1024 {
                    buf.reserve(4096);
                }
                match read(stream, &mut buf, activity).await {
                    Ok(0) if buf.is_empty() => return End::Close,
                    // A head cut short by the client leaving.
                    Ok(0) => return End::Close,
                    Ok(_) => {}
                    Err(_) => return End::Broken,
                }
                continue;
            }
        };
        head.clear();
        let after = wire::render_head(&resp, version, keep_alive, &mut head);
        let sent = wire::send(stream, activity, &head, resp.body_mut()).await;
        // Dropping the body writes the access-log line.
        drop(resp);
        if sent.is_err() {
            return End::Broken;
        }
        if after == After::Close {
            // A client that asked to close sends nothing more: closing at
            // once (as nginx does) spares a shutdown, a wake-up and a read.
            // Anything unread (a refused request's body), and we linger so
            // the close cannot turn into a reset.
            if !refused && !keep_alive && buf.is_empty() && !has_pending_input(stream) {
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
        // Pipelined requests arriving as fast as they are answered must
        // not keep the worker's one thread from its other connections.
        tokio::task::coop::consume_budget().await;
    }
}

/// True once `buf` holds an empty line (CRLF CRLF, or LF LF as httparse
/// also accepts), searching only what arrived since the last call.
fn head_may_be_complete(buf: &[u8], scanned: &mut usize) -> bool {
    let from = scanned.saturating_sub(3);
    *scanned = buf.len();
    let tail = buf.get(from..).unwrap_or(&[]);
    let mut i = 0;
    while let Some(p) = tail[i..].iter().position(|&b| b == b'\n') {
        let at = i + p;
        match tail.get(at + 1) {
            Some(b'\n') => return true,
            Some(b'\r') if tail.get(at + 2) == Some(&b'\n') => return true,
            _ => i = at + 1,
        }
    }
    false
}

/// Reads and drops the body of `p`, after `100 Continue` if it asked.
async fn body(
    p: &Head,
    buf: &mut BytesMut,
    stream: &TcpStream,
    activity: &Arc<Activity>,
    c: &Conn,
) -> Result<(), BodyError> {
    if p.framing == Framing::None {
        return Ok(());
    }
    let limits = c.limits();
    if let Framing::Length(n) = p.framing
        && limits.body_too_large(n)
    {
        return Err(BodyError::Status(StatusCode::PAYLOAD_TOO_LARGE));
    }
    // The body has client_header_timeout from the end of its head, as the
    // head had from its first byte: a stalled or trickling body is cut.
    activity.awaiting_body();
    if p.expect_continue && buf.is_empty() && p.req.version() == Version::HTTP_11 {
        let mut none = crate::http::Body::empty();
        if wire::send(
            stream,
            activity,
            b"HTTP/1.1 100 Continue\r\n\r\n",
            &mut none,
        )
        .await
        .is_err()
        {
            return Err(BodyError::Io);
        }
    }
    let mut src = Source {
        buf,
        fill: Socket { stream, activity },
    };
    let max = match limits.client_max_body_size {
        0 => u64::MAX,
        n => n,
    };
    src.discard(p.framing, max, limits.max_head()).await
}

/// Reads what the client sent into `buf`. A read that does not fill the
/// space it was given has drained the socket (TCP hands over everything
/// queued, up to the space): readiness is cleared then, as nginx does,
/// instead of learning it from one more `recv` failing with EAGAIN on
/// every request. A byte arriving later raises a new edge, so nothing is
/// missed.
pub(super) async fn read(
    stream: &TcpStream,
    buf: &mut BytesMut,
    activity: &Activity,
) -> io::Result<usize> {
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
        // (Readiness alone never makes a task give up the thread: the loops
        // that read without bound, a body's and lingering, spend tokio's
        // budget themselves; a head is bounded by its size limit.)
        return Ok(got);
    }
}

/// Rewrites `HTTP/1.2`..`HTTP/1.9` at the end of the request line to
/// `HTTP/1.1`: RFC 9110 §2.5 says to process a higher minor version as
/// the highest one we support (nginx answers them too).
fn normalize_minor_version(buf: &mut BytesMut) -> bool {
    // Empty lines before a request line are ignored (RFC 9112 §2.2).
    let start = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let Some(end) = buf[start..]
        .iter()
        .take(64 * 1024)
        .position(|&b| b == b'\n')
        .map(|e| e + start)
    else {
        return false;
    };
    let line_end = if end > 0 && buf[end - 1] == b'\r' {
        end - 1
    } else {
        end
    };
    if line_end >= 9
        && &buf[line_end - 9..line_end - 1] == b" HTTP/1."
        && (b'2'..=b'9').contains(&buf[line_end - 1])
    {
        buf[line_end - 1] = b'1';
        return true;
    }
    false
}

/// `HTTP/2.0` and up on the request line: 505 rather than 400.
fn major_version_above_1(buf: &[u8]) -> bool {
    let line = buf.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.len() >= 9
        && line[line.len() - 9..].starts_with(b" HTTP/")
        && (b'2'..=b'9').contains(&line[line.len() - 3])
        && line[line.len() - 2] == b'.'
        && line[line.len() - 1].is_ascii_digit()
        && !line.starts_with(b"PRI ")
}

/// Parses the request head at the start of `buf` and takes it out of
/// `buf` once it is complete.
fn parse(buf: &mut BytesMut) -> Parsed {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let base = buf.as_ptr() as usize;
    let len = match httparse::ParserConfig::default()
        .parse_request_with_uninit_headers(&mut req, buf, &mut slots)
    {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => {
            return Parsed::Bad(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        }
        Err(httparse::Error::Version) if major_version_above_1(buf) => {
            return Parsed::Bad(StatusCode::HTTP_VERSION_NOT_SUPPORTED);
        }
        // HTTP/1.2 and up: rewritten as HTTP/1.1, then parsed again (on
        // this rare path only, not before every request).
        Err(httparse::Error::Version) if normalize_minor_version(buf) => return parse(buf),
        Err(_) => return Parsed::Bad(StatusCode::BAD_REQUEST),
    };
    let method = match req.method {
        Some("GET") => Method::GET,
        Some("HEAD") => Method::HEAD,
        Some(m) => match Method::from_bytes(m.as_bytes()) {
            Ok(m) => m,
            Err(_) => return Parsed::Bad(StatusCode::BAD_REQUEST),
        },
        None => return Parsed::Bad(StatusCode::BAD_REQUEST),
    };
    let version = match req.version {
        Some(1) => Version::HTTP_11,
        Some(0) => Version::HTTP_10,
        _ => return Parsed::Bad(StatusCode::HTTP_VERSION_NOT_SUPPORTED),
    };
    let Some(path) = req.path else {
        return Parsed::Bad(StatusCode::BAD_REQUEST);
    };
    let path_at = (path.as_ptr() as usize - base, path.len());
    // (name, value start, value length) of each header, to be rebuilt on
    // the frozen head without copying the values.
    let mut fields: Vec<(HeaderName, usize, usize)> = Vec::with_capacity(req.headers.len());
    let mut frame = FrameHeaders::default();
    for h in req.headers.iter() {
        let Ok(name) = HeaderName::from_bytes(h.name.as_bytes()) else {
            return Parsed::Bad(StatusCode::BAD_REQUEST);
        };
        frame.note(&name, h.value);
        fields.push((name, h.value.as_ptr() as usize - base, h.value.len()));
    }
    let head = buf.split_to(len).freeze();
    let uri = Uri::from_maybe_shared(head.slice(path_at.0..path_at.0 + path_at.1));
    let (Ok(uri), Some(headers)) = (uri, rebuild(&head, fields)) else {
        // httparse let through what `http` refuses.
        return Parsed::Bad(StatusCode::BAD_REQUEST);
    };
    let keep_alive = keep_alive(version, &headers);
    let (framing, mut refuse) = frame.decide(version);
    // A method we refuse anyway is not invited to send its body: answered
    // at once (RFC 9110 §10.1.1 allows the final status instead of 100).
    if refuse.is_none()
        && frame.expect_continue
        && framing != Framing::None
        && method != Method::GET
        && method != Method::HEAD
    {
        refuse = Some(StatusCode::METHOD_NOT_ALLOWED);
    }
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    Parsed::Request(Head {
        req: request,
        keep_alive,
        framing,
        expect_continue: frame.expect_continue,
        refuse,
    })
}

/// What the head says about a body and expectations.
#[derive(Default)]
struct FrameHeaders {
    lengths: Vec<Option<u64>>,
    codings: Vec<Vec<u8>>,
    expect_continue: bool,
    expect_other: bool,
}

impl FrameHeaders {
    fn note(&mut self, name: &HeaderName, value: &[u8]) {
        use hyper::header::{CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING};
        if name == CONTENT_LENGTH {
            let digits = !value.is_empty() && value.iter().all(u8::is_ascii_digit);
            let n = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            self.lengths.push(n.filter(|_| digits));
        } else if name == TRANSFER_ENCODING {
            for t in value.split(|&b| b == b',') {
                self.codings.push(t.trim_ascii().to_ascii_lowercase());
            }
        } else if name == EXPECT {
            if value.trim_ascii().eq_ignore_ascii_case(b"100-continue") {
                self.expect_continue = true;
            } else {
                self.expect_other = true;
            }
        }
    }

    /// The framing, and a refusal if the head cannot be trusted: both
    /// Content-Length and Transfer-Encoding (400, as nginx: a GET or HEAD
    /// to a static server has no reason to send both, and refusing leaves
    /// nothing for a proxy in front to disagree about), two lengths even if
    /// equal, a bad length, chunked on HTTP/1.0 (400), a coding other than
    /// `chunked` alone (501), an expectation other than 100-continue (417).
    fn decide(&self, version: Version) -> (Framing, Option<StatusCode>) {
        let bad = Some(StatusCode::BAD_REQUEST);
        if !self.codings.is_empty() {
            if !self.lengths.is_empty() || version == Version::HTTP_10 {
                return (Framing::None, bad);
            }
            if self.codings.len() != 1 || self.codings[0] != b"chunked" {
                // RFC 9112 §6.1 (and nginx): a coding we cannot decode.
                return (Framing::None, Some(StatusCode::NOT_IMPLEMENTED));
            }
            return (Framing::Chunked, self.expectation());
        }
        match self.lengths.as_slice() {
            [] => (Framing::None, self.expectation()),
            [Some(0)] => (Framing::None, self.expectation()),
            [Some(n)] => (Framing::Length(*n), self.expectation()),
            _ => (Framing::None, bad),
        }
    }

    fn expectation(&self) -> Option<StatusCode> {
        self.expect_other.then_some(StatusCode::EXPECTATION_FAILED)
    }
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

    fn head(raw: &str) -> Head {
        head_and_rest(raw).0
    }

    fn head_and_rest(raw: &str) -> (Head, BytesMut) {
        let mut buf = BytesMut::from(raw.as_bytes());
        match parse(&mut buf) {
            Parsed::Request(p) => (p, buf),
            Parsed::Partial => panic!("partial: {raw:?}"),
            Parsed::Bad(s) => panic!("bad ({s}): {raw:?}"),
        }
    }

    fn bad(raw: &str) -> StatusCode {
        match parsed(raw) {
            Parsed::Bad(s) => s,
            Parsed::Request(p) => p.refuse.unwrap_or_else(|| panic!("accepted: {raw:?}")),
            Parsed::Partial => panic!("partial: {raw:?}"),
        }
    }

    #[test]
    fn a_get_is_parsed_and_its_length_excludes_what_follows() {
        let raw = "GET /a%20b?x=1 HTTP/1.1\r\nHost: h\r\nX-Y: 1\r\n\r\nGET / HTTP/1.1\r\n";
        let (p, rest) = head_and_rest(raw);
        assert_eq!(&rest[..], b"GET / HTTP/1.1\r\n");
        assert_eq!(p.req.method(), Method::GET);
        assert_eq!(p.req.uri().path(), "/a%20b");
        assert_eq!(p.req.uri().query(), Some("x=1"));
        assert_eq!(p.req.headers()["host"], "h");
        assert_eq!(p.req.headers()["x-y"], "1");
        assert!(p.keep_alive);
        assert_eq!(p.framing, Framing::None);
        assert_eq!(p.refuse, None);
    }

    #[test]
    fn framing_is_decided_from_the_head() {
        let p = head("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n");
        assert_eq!(
            (p.req.method(), p.framing),
            (&Method::POST, Framing::Length(12))
        );
        let p = head("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(p.framing, Framing::None);
        let p = head("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n");
        assert_eq!(p.framing, Framing::Chunked);
        let p =
            head("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
        assert!(p.expect_continue);
        // Upgrade is ignored: the request is served as HTTP/1.1.
        let p = head("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n\r\n");
        assert_eq!(p.refuse, None);
    }

    #[test]
    fn untrustworthy_framing_is_refused_before_any_body() {
        for raw in [
            "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert_eq!(bad(raw), StatusCode::BAD_REQUEST, "{raw:?}");
        }
        for raw in [
            "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n",
        ] {
            assert_eq!(bad(raw), StatusCode::NOT_IMPLEMENTED, "{raw:?}");
        }
        assert_eq!(
            bad("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n"),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            bad("GET / HTTP/1.1\r\nHost: h\r\nExpect: the-moon\r\n\r\n"),
            StatusCode::EXPECTATION_FAILED
        );
    }

    #[test]
    fn what_is_not_a_request_gets_a_status() {
        for raw in [
            "GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "\x16\x03\x01\x02\x00\x01\x00\x01\x03\x03",
            "GET / HTTP/1.1\r\nBad Name: h\r\n\r\n",
        ] {
            assert_eq!(bad(raw), StatusCode::BAD_REQUEST, "{raw:?}");
        }
        assert_eq!(
            bad("GET / HTTP/2.0\r\n\r\n"),
            StatusCode::HTTP_VERSION_NOT_SUPPORTED
        );
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: 1\r\n")).collect();
        assert_eq!(
            bad(&format!("GET / HTTP/1.1\r\n{many}\r\n")),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
    }

    #[test]
    fn a_head_sent_a_byte_at_a_time_is_scanned_once() {
        let raw = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        let mut scanned = 0;
        let mut seen = 0;
        for n in 1..=raw.len() {
            if head_may_be_complete(&raw[..n], &mut scanned) {
                seen += 1;
            }
            assert_eq!(scanned, n);
        }
        assert_eq!(seen, 1, "only the last byte completes it");
        assert!(head_may_be_complete(b"GET / HTTP/1.0\n\n", &mut 0));
    }

    #[test]
    fn a_higher_http1_minor_version_is_served_as_1_1() {
        let p = head("\r\nGET / HTTP/1.3\r\nHost: h\r\n\r\n");
        assert_eq!(p.req.version(), Version::HTTP_11);
        let p = head("GET / HTTP/1.2\r\nHost: h\r\n\r\n");
        assert_eq!(p.req.version(), Version::HTTP_11);
        let p = head("GET / HTTP/1.9\nHost: h\n\n");
        assert_eq!(p.req.version(), Version::HTTP_11);
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
        assert!(!head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive);
        let p = head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(p.keep_alive);
        assert_eq!(p.req.version(), Version::HTTP_10);
    }
}
