//! A small, strict HTTP/1.1 client over a plain TcpStream: enough to see
//! exactly what the server sent (status, headers, body, whether it closed).

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let n = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// True if the server said it will close the connection.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Reads one response for a request with `method` from `r`.
pub fn read_response(r: &mut impl BufRead, method: &str) -> io::Result<Response> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before a response",
        ));
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line {line:?}"),
            )
        })?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "eof in headers",
            ));
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if method != "HEAD" && status != 304 && status != 204 {
        match resp
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
        {
            Some(n) => {
                let mut body = vec![0; n];
                r.read_exact(&mut body)?;
                resp.body = body;
            }
            None => {
                r.read_to_end(&mut resp.body)?;
            }
        }
    }
    Ok(resp)
}

/// Connects to 127.0.0.1:`port` with read/write timeouts.
pub fn connect(port: u16) -> io::Result<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.set_write_timeout(Some(Duration::from_secs(20)))?;
    Ok(s)
}

/// Connects with a small receive buffer, set before connecting so the
/// advertised window stays small: a client that stops reading stalls the
/// server soon, whatever the machine's `tcp_rmem` allows.
pub fn connect_small_window(port: u16) -> io::Result<TcpStream> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    sock.set_recv_buffer_size(4096)?;
    sock.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.set_write_timeout(Some(Duration::from_secs(20)))?;
    Ok(s)
}

/// A body size the kernel cannot hold whole between a stalled server and
/// a [`connect_small_window`] client: above the largest send buffer the
/// server's socket may grow to (`tcp_wmem`'s maximum on this machine),
/// plus the client's buffer and a margin.
pub fn unbufferable_size() -> usize {
    let wmem_max: usize = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|t| t.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(4 << 20);
    wmem_max + (8 << 20)
}

/// One request on a fresh connection (`Connection: close`).
pub fn request(port: u16, method: &str, path: &str) -> io::Result<Response> {
    let mut s = connect(port)?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    read_response(&mut BufReader::new(s), method)
}

/// GET `path` on a fresh connection.
pub fn get(port: u16, path: &str) -> io::Result<Response> {
    request(port, "GET", path)
}

/// A keep-alive client that reconnects only when the server said
/// `Connection: close` (a silent close is an error, as wrk counts it).
pub struct KeepAlive {
    port: u16,
    conn: Option<BufReader<TcpStream>>,
    /// Connections opened so far.
    pub connections: usize,
}

impl KeepAlive {
    /// A client for `port`, not yet connected.
    pub fn new(port: u16) -> Self {
        KeepAlive {
            port,
            conn: None,
            connections: 0,
        }
    }

    /// Sends GET `path` and reads the response.
    pub fn get(&mut self, path: &str) -> io::Result<Response> {
        if self.conn.is_none() {
            self.conn = Some(BufReader::new(connect(self.port)?));
            self.connections += 1;
        }
        let c = self
            .conn
            .as_mut()
            .ok_or_else(|| io::Error::other("no connection"))?;
        write!(
            c.get_mut(),
            "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"
        )?;
        let resp = read_response(c, "GET");
        match &resp {
            Ok(r) if !r.closes() => {}
            _ => self.conn = None,
        }
        resp
    }
}

/// One request with extra header lines, on a fresh connection.
pub fn request_with(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> io::Result<Response> {
    let mut s = connect(port)?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str("Host: localhost\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    read_response(&mut BufReader::new(s), method)
}

/// Sends `raw` on a fresh connection and reads every response until one
/// says it closes, the server closes, or 5 s pass without a byte.
pub fn exchange(port: u16, raw: &[u8]) -> Vec<Response> {
    let Ok(mut c) = connect(port) else {
        return Vec::new();
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = c.write_all(raw);
    let mut r = BufReader::new(c);
    let mut out = Vec::new();
    while let Ok(resp) = read_response(&mut r, "GET") {
        let closes = resp.closes();
        out.push(resp);
        if closes {
            break;
        }
    }
    out
}

/// Sends `raw` bytes as they are and reads one response.
pub fn raw(port: u16, raw: &[u8]) -> io::Result<Response> {
    let mut s = connect(port)?;
    s.write_all(raw)?;
    read_response(&mut BufReader::new(s), "GET")
}

/// The value of an unlabelled metric (or of the exact `name{labels}`) in a
/// Prometheus scrape.
pub fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}
