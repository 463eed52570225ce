//! HTTP probes for `-s upgrade`: what a generation answers for a few
//! paths, so the new one can be compared with the old one. Plain blocking
//! HTTP/1.1 with `Connection: close` and short timeouts: the probe must
//! never hang an upgrade.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// How long a probe may take to connect, and to answer.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Longest head read; the body is not needed.
const MAX_HEAD: usize = 64 * 1024;

/// What matters of an answer: a new binary must give the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// `ETag`.
    pub etag: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Length`.
    pub content_length: Option<String>,
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
        write!(
            f,
            "{} etag {} type {} length {}",
            self.status,
            v(&self.etag),
            v(&self.content_type),
            v(&self.content_length)
        )
    }
}

/// Where to connect for a listen address: a wildcard means this host.
pub fn target(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(v) if v.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v) if v.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// GETs `path` from `addr`.
pub fn get(addr: SocketAddr, path: &str) -> Result<Answer, String> {
    let mut s =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = s.set_read_timeout(Some(TIMEOUT));
    let _ = s.set_write_timeout(Some(TIMEOUT));
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: moltd-upgrade-probe\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes())
        .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = s
            .read(&mut chunk)
            .map_err(|e| format!("read from {addr}: {e}"))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.len() >= MAX_HEAD {
            break;
        }
    }
    parse(&buf).ok_or_else(|| format!("no HTTP answer from {addr} for {path}"))
}

fn parse(head: &[u8]) -> Option<Answer> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut headers);
    r.parse(head).ok()?;
    let h = |name: &str| {
        r.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    Some(Answer {
        status: r.code?,
        etag: h("etag"),
        content_type: h("content-type"),
        content_length: h("content-length"),
    })
}

/// Up to `n` distinct paths recently answered 200 to a GET, newest first,
/// from the end of an access log in the combined format.
pub fn recent_paths(log: &Path, n: usize) -> Vec<String> {
    // As root, from a directory others may write: see `open_to_read`.
    let Ok(mut f) = crate::log::read_only::open_to_read(log) else {
        return Vec::new();
    };
    use std::io::Seek;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(std::io::SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut tail = Vec::new();
    let _ = f.take(64 * 1024).read_to_end(&mut tail);
    let text = String::from_utf8_lossy(&tail);
    let mut out: Vec<String> = Vec::new();
    for line in text.lines().rev() {
        let Some(p) = served_path(line) else { continue };
        if !out.contains(&p) {
            out.push(p);
        }
        if out.len() == n {
            break;
        }
    }
    out
}

/// The path of a combined-format line for a GET answered 200.
fn served_path(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("\"GET ")?;
    let (path, rest) = rest.split_once(' ')?;
    let (_, after) = rest.split_once("\" ")?;
    let status = after.split_whitespace().next()?;
    (status == "200" && path.starts_with('/') && !path.contains(['"', '\r', '\n']))
        .then(|| path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_lines_give_their_paths() {
        let l = r#"127.0.0.1 - - [01/Dec/2026:00:00:00 +0000] "GET /a/b.html?x=1 HTTP/1.1" 200 12 "-" "curl""#;
        assert_eq!(served_path(l).as_deref(), Some("/a/b.html?x=1"));
        let l = r#"127.0.0.1 - - [01/Dec/2026:00:00:00 +0000] "GET /missing HTTP/1.1" 404 12 "-" "curl""#;
        assert_eq!(served_path(l), None);
        let l = r#"127.0.0.1 - - [01/Dec/2026:00:00:00 +0000] "HEAD / HTTP/1.1" 200 0 "-" "curl""#;
        assert_eq!(served_path(l), None);
    }

    #[test]
    fn heads_parse() {
        let a =
            parse(b"HTTP/1.1 200 OK\r\nETag: \"x\"\r\nContent-Length: 5\r\n\r\n").expect("answer");
        assert_eq!(a.status, 200);
        assert_eq!(a.etag.as_deref(), Some("\"x\""));
        assert_eq!(a.content_length.as_deref(), Some("5"));
        assert!(parse(b"garbage").is_none());
    }
}
