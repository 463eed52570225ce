//! The request head: parsed with `httparse` straight from the connection's
//! buffer, its header values kept as slices of the frozen head (no copy),
//! and its framing and keep-alive decided before any body byte is read.

use std::mem::MaybeUninit;

use bytes::{Buf, Bytes, BytesMut};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri, Version};

use super::framing::FrameHeaders;
use super::keep_alive::keep_alive;
use super::request_body::Framing;

/// Header lines parsed into a stack array; a head with more is parsed
/// again into room for every line it can hold (nginx limits a head by its
/// size only, never by its number of lines).
const MAX_HEADERS: usize = 100;

/// A parsed request head.
pub struct Head {
    /// The request, without its body.
    pub req: Request<()>,
    /// The client wants the connection kept open.
    pub keep_alive: bool,
    /// How its body is framed.
    pub framing: Framing,
    /// `Expect: 100-continue`: say so before reading the body.
    pub expect_continue: bool,
    /// Refused before any body is read: the framing cannot be trusted, or
    /// the expectation cannot be met.
    pub refuse: Option<StatusCode>,
}

/// A whole head as httparse found it at the start of the buffer, before
/// anything is built of it: what an early look (`quick.rs`) reads.
pub struct Raw<'b> {
    /// GET or HEAD (only those are looked at).
    pub method: &'b Method,
    /// The request target, as it came.
    pub target: &'b str,
    /// The protocol version.
    pub version: Version,
    /// The header lines.
    pub headers: &'b [httparse::Header<'b>],
    /// The head's length, up to and with its empty line.
    pub len: usize,
}

/// What the start of the buffer holds. `A`: an answer the early look
/// gave; `P`: what it left for the rest of the way.
// Returned once per request and matched at once: boxing the request would
// cost an allocation for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Parsed<A = (), P = ()> {
    /// A whole head, taken out of the buffer, and what the early look
    /// left (its `Default` when there was none).
    Request(Head, P),
    /// A whole head the early look answered, taken out of the buffer.
    Answered(A),
    /// Not all of it has arrived.
    Partial,
    /// Not a request: answered with this status, then the connection
    /// closes.
    Bad(StatusCode),
}

/// True once `buf` holds an empty line (CRLF CRLF, or LF LF as httparse
/// also accepts), searching only what arrived since the last call.
pub fn head_may_be_complete(buf: &[u8], scanned: &mut usize) -> bool {
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
#[cfg(test)]
pub fn parse(buf: &mut BytesMut) -> Parsed {
    parse_with(buf, |_| Err(()))
}

/// [`parse`], first showing a whole GET or HEAD head to `look`, which
/// may answer it (`Ok`) before any `Request` is built of it, or leave
/// something for the rest of the way (`Err`).
pub fn parse_with<A, P: Default, F: FnOnce(&Raw<'_>) -> Result<A, P>>(
    buf: &mut BytesMut,
    look: F,
) -> Parsed<A, P> {
    match parse_into(buf, look, None) {
        Ok(parsed) => parsed,
        Err(look) => {
            // Rare: the buffer (at most the largest head allowed, plus
            // what was pipelined after it) has no more lines than this.
            let lines = buf.iter().filter(|&&b| b == b'\n').count();
            parse_into(buf, look, Some(lines))
                .unwrap_or(Parsed::Bad(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE))
        }
    }
}

/// [`parse_with`] with room for [`MAX_HEADERS`] header lines, or for
/// `room`; `look` is given back if the head has more.
fn parse_into<A, P: Default, F: FnOnce(&Raw<'_>) -> Result<A, P>>(
    buf: &mut BytesMut,
    look: F,
    room: Option<usize>,
) -> Result<Parsed<A, P>, F> {
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut heap = Vec::new();
    let slots = match room {
        None => &mut stack[..],
        Some(n) => {
            heap.resize_with(n, MaybeUninit::uninit);
            &mut heap[..]
        }
    };
    let mut req = httparse::Request::new(&mut []);
    let base = buf.as_ptr() as usize;
    let len = match httparse::ParserConfig::default()
        .parse_request_with_uninit_headers(&mut req, buf, slots)
    {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(look),
        Err(httparse::Error::Version) if major_version_above_1(buf) => {
            return Ok(Parsed::Bad(StatusCode::HTTP_VERSION_NOT_SUPPORTED));
        }
        // HTTP/1.2 and up: rewritten as HTTP/1.1, then parsed again (on
        // this rare path only, not before every request).
        Err(httparse::Error::Version) if normalize_minor_version(buf) => {
            return Ok(parse_with(buf, look));
        }
        Err(_) => return Ok(Parsed::Bad(StatusCode::BAD_REQUEST)),
    };
    let (method, version, path) = match request_line(&req) {
        Ok(line) => line,
        Err(status) => return Ok(Parsed::Bad(status)),
    };
    let mut left = P::default();
    if method == Method::GET || method == Method::HEAD {
        let raw = Raw {
            method: &method,
            target: path,
            version,
            headers: req.headers,
            len,
        };
        match look(&raw) {
            Ok(answer) => {
                buf.advance(len);
                return Ok(Parsed::Answered(answer));
            }
            Err(l) => left = l,
        }
    }
    let path_at = (path.as_ptr() as usize - base, path.len());
    // (name, value start, value length) of each header, to be rebuilt on
    // the frozen head without copying the values.
    let mut fields: Vec<(HeaderName, usize, usize)> = Vec::with_capacity(req.headers.len());
    let mut frame = FrameHeaders::default();
    for h in req.headers.iter() {
        let Ok(name) = HeaderName::from_bytes(h.name.as_bytes()) else {
            return Ok(Parsed::Bad(StatusCode::BAD_REQUEST));
        };
        frame.note(&name, h.value);
        fields.push((name, h.value.as_ptr() as usize - base, h.value.len()));
    }
    Ok(
        match assemble(
            buf.split_to(len).freeze(),
            (method, version),
            path_at,
            fields,
            &frame,
        ) {
            Ok(head) => Parsed::Request(head, left),
            Err(status) => Parsed::Bad(status),
        },
    )
}

/// The method, version and target of a parsed request line.
fn request_line<'b>(
    req: &httparse::Request<'_, 'b>,
) -> Result<(Method, Version, &'b str), StatusCode> {
    let method = match req.method {
        Some("GET") => Method::GET,
        Some("HEAD") => Method::HEAD,
        Some(m) => Method::from_bytes(m.as_bytes()).map_err(|_| StatusCode::BAD_REQUEST)?,
        None => return Err(StatusCode::BAD_REQUEST),
    };
    let version = match req.version {
        Some(1) => Version::HTTP_11,
        Some(0) => Version::HTTP_10,
        _ => return Err(StatusCode::HTTP_VERSION_NOT_SUPPORTED),
    };
    let path = req.path.ok_or(StatusCode::BAD_REQUEST)?;
    Ok((method, version, path))
}

/// The request of the frozen `head`, its target at `path_at` and its
/// header lines at `fields`, framed as `frame` says.
fn assemble(
    head: Bytes,
    (method, version): (Method, Version),
    path_at: (usize, usize),
    fields: Vec<(HeaderName, usize, usize)>,
    frame: &FrameHeaders,
) -> Result<Head, StatusCode> {
    let uri = Uri::from_maybe_shared(head.slice(path_at.0..path_at.0 + path_at.1));
    let (Ok(uri), Some(headers)) = (uri, rebuild(&head, fields)) else {
        // httparse let through what `http` refuses.
        return Err(StatusCode::BAD_REQUEST);
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
    Ok(Head {
        req: request,
        keep_alive,
        framing,
        expect_continue: frame.expect_continue,
        refuse,
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
            Parsed::Request(p, ()) => (p, buf),
            Parsed::Answered(()) => unreachable!("parse answers nothing early"),
            Parsed::Partial => panic!("partial: {raw:?}"),
            Parsed::Bad(s) => panic!("bad ({s}): {raw:?}"),
        }
    }

    fn bad(raw: &str) -> StatusCode {
        match parsed(raw) {
            Parsed::Bad(s) => s,
            Parsed::Request(p, ()) => p.refuse.unwrap_or_else(|| panic!("accepted: {raw:?}")),
            Parsed::Answered(()) => unreachable!("parse answers nothing early"),
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
    }

    #[test]
    fn a_head_of_many_short_lines_is_a_request() {
        // Only a head's size is limited (by the connection), as with nginx.
        for n in [MAX_HEADERS + 1, 2000] {
            let many: String = (0..n).map(|i| format!("X-{i}: {i}\r\n")).collect();
            let raw = format!("GET / HTTP/1.1\r\nHost: h\r\n{many}\r\n");
            let (h, rest) = head_and_rest(&format!("{raw}GET /next"));
            assert_eq!(h.req.headers().len(), n + 1);
            assert_eq!(h.req.headers()["x-77"], "77");
            assert_eq!(&rest[..], b"GET /next");
            let cut = &raw[..raw.len() - 3];
            assert!(matches!(parsed(cut), Parsed::Partial), "{n} lines, cut");
        }
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
