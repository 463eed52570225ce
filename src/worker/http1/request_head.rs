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
/// again with room for up to [`MOST_HEADERS`] (nginx limits a head by its
/// size only).
const MAX_HEADERS: usize = 100;

/// Most header lines of one request; more is a 431. Real clients send
/// tens; this bounds what one head costs to parse and keep (a `HeaderMap`
/// also holds no more than 32768).
pub const MOST_HEADERS: usize = 1000;

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
            parse_into(buf, look, Some(lines.min(MOST_HEADERS)))
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
    let target = head.slice(path_at.0..path_at.0 + path_at.1);
    let uri = Uri::from_maybe_shared(target.clone()).or_else(|_| Uri::try_from(escaped(&target)));
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

/// An origin-form target with every byte `http` refuses (`"`, `<`, `>`,
/// `` ` ``, `{`, `}`...) percent-encoded, which
/// names the same path once decoded: nginx takes such targets as sent,
/// and a client that did not encode them still gets its file, not a 400.
/// Anything else is left as it is (and refused).
fn escaped(target: &[u8]) -> Vec<u8> {
    if target.first() != Some(&b'/') {
        return target.to_vec();
    }
    let mut out = Vec::with_capacity(target.len() + 16);
    for &b in target {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
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
mod tests;
