//! The access log, in nginx's `combined` format, one file per distinct
//! path. Lines are buffered (`access_log_buffer`) and written with
//! O_APPEND in one `write`, so lines from several workers never
//! interleave; buffers are flushed at least every second, on exit and
//! before a reopen (USR1), so logrotate's rename + USR1 loses no line.
//! A write failure (full disk, deleted directory) never stops serving: it
//! is reported once in the error log until writes succeed again.

use std::borrow::Cow;
use std::fs::File;
use std::io::Write;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use hyper::header::{HeaderValue, REFERER, USER_AGENT};
use hyper::{Method, Request, Uri, Version};

use crate::config::Config;

struct State {
    file: Option<File>,
    buf: Vec<u8>,
    failing: bool,
}

/// One access log file.
pub struct AccessLog {
    path: PathBuf,
    limit: usize,
    state: Mutex<State>,
}

impl AccessLog {
    fn new(path: PathBuf, config: &Config, file: Option<File>) -> Self {
        AccessLog {
            path,
            limit: config.access_log_buffer.max(1),
            state: Mutex::new(State {
                file,
                buf: Vec::new(),
                failing: false,
            }),
        }
    }

    fn write_out(&self, st: &mut State) {
        if st.buf.is_empty() {
            return;
        }
        let res = match st.file.as_mut() {
            Some(f) => f.write_all(&st.buf),
            None => Err(std::io::Error::other("not open")),
        };
        match res {
            Ok(()) => {
                if st.failing {
                    crate::notice!(
                        "writing to the access log \"{}\" works again",
                        self.path.display()
                    );
                }
                st.failing = false;
            }
            Err(e) => {
                if !st.failing {
                    crate::alert!(
                        "write() to the access log \"{}\" failed ({e}); lines are dropped until it works again",
                        self.path.display()
                    );
                }
                st.failing = true;
            }
        }
        st.buf.clear();
    }

    /// Appends the `combined` line for `e`, formatted straight into the
    /// buffer (no per-request strings), writing when the buffer fills. The
    /// buffer is written whole, so a line is never split across writes.
    pub fn write_entry(&self, e: &Entry<'_>) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        write_combined(&mut st.buf, e);
        if st.buf.len() >= self.limit {
            self.write_out(&mut st);
        }
    }

    /// Writes what is buffered.
    pub fn flush(&self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.write_out(&mut st);
    }

    /// Flushes, then reopens the path (after a rotation renamed it),
    /// giving a new file to `owner` (the master, for its workers).
    pub fn reopen(&self, owner: Option<(nix::unistd::Uid, nix::unistd::Gid)>) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.write_out(&mut st);
        if super::open::kernel_made(&self.path) {
            // stdout and the like are not rotated: keep the descriptor.
            return;
        }
        match super::open::open_log(&self.path) {
            Ok(o) => {
                super::open::give_to(&o, &self.path, owner);
                st.file = Some(o.file);
            }
            Err(e) => crate::alert!(
                "could not reopen the access log \"{}\": {e}; lines still go to the previous file{}",
                self.path.display(),
                super::open::reopen_hint(&e)
            ),
        }
    }
}

/// An access log that could not be opened.
#[derive(Debug)]
pub struct AccessLogError {
    /// The log.
    pub path: std::path::PathBuf,
    /// Why (a refusal of `log::open` travels inside).
    pub err: std::io::Error,
}

impl std::fmt::Display for AccessLogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "could not open the access log \"{}\": {}",
            self.path.display(),
            self.err
        )
    }
}

impl std::error::Error for AccessLogError {}

/// The access logs of one configuration, and which server writes where.
pub struct AccessLogs {
    logs: Vec<AccessLog>,
    by_server: Vec<Option<usize>>,
}

impl AccessLogs {
    /// Opens every access log of `config`, as the master does for a
    /// generation: a path that cannot be opened is an error naming it.
    /// New files are given to `owner` (the workers' user).
    pub fn open(
        config: &Config,
        owner: Option<(nix::unistd::Uid, nix::unistd::Gid)>,
    ) -> Result<Self, AccessLogError> {
        let mut logs: Vec<AccessLog> = Vec::new();
        let mut by_server = Vec::new();
        for s in &config.servers {
            let Some(path) = &s.access_log else {
                by_server.push(None);
                continue;
            };
            let i = match logs.iter().position(|l| &l.path == path) {
                Some(i) => i,
                None => {
                    let opened = super::open::open_log(path).map_err(|err| AccessLogError {
                        path: path.clone(),
                        err,
                    })?;
                    super::open::give_to(&opened, path, owner);
                    logs.push(AccessLog::new(path.clone(), config, Some(opened.file)));
                    logs.len() - 1
                }
            };
            by_server.push(Some(i));
        }
        Ok(AccessLogs { logs, by_server })
    }

    /// A copy for a forked worker: the same files (duplicated descriptors),
    /// empty buffers. A descriptor that cannot be duplicated (out of fds)
    /// is reported and its lines dropped until a reopen.
    pub fn duplicate(&self, config: &Config) -> Self {
        let logs = self
            .logs
            .iter()
            .map(|l| {
                let st = l.state.lock().unwrap_or_else(|p| p.into_inner());
                let file = st.file.as_ref().and_then(|f| match f.try_clone() {
                    Ok(f) => Some(f),
                    Err(e) => {
                        crate::alert!(
                            "could not take over the access log \"{}\": {e}",
                            l.path.display()
                        );
                        None
                    }
                });
                AccessLog::new(l.path.clone(), config, file)
            })
            .collect();
        AccessLogs {
            logs,
            by_server: self.by_server.clone(),
        }
    }

    /// The log of server `i`, if it has one.
    pub fn for_server(&self, i: usize) -> Option<&AccessLog> {
        self.by_server
            .get(i)
            .copied()
            .flatten()
            .map(|i| &self.logs[i])
    }

    /// Writes every buffer.
    pub fn flush_all(&self) {
        self.logs.iter().for_each(AccessLog::flush);
    }

    /// Reopens every file; new files go to `owner`.
    pub fn reopen_all(&self, owner: Option<(nix::unistd::Uid, nix::unistd::Gid)>) {
        self.logs.iter().for_each(|l| l.reopen(owner));
    }

    /// The open fds, so a forked worker keeps them.
    pub fn raw_fds(&self) -> Vec<RawFd> {
        self.logs
            .iter()
            .filter_map(|l| {
                let st = l.state.lock().unwrap_or_else(|p| p.into_inner());
                st.file.as_ref().map(|f| f.as_raw_fd())
            })
            .collect()
    }
}

/// What one request contributes to a `combined` line.
pub struct Entry<'a> {
    /// Client address.
    pub remote: IpAddr,
    /// When the request was answered.
    pub time: SystemTime,
    /// Method, target as sent, and version (`GET`, `/a?b`, `HTTP/1.1`);
    /// `None` for input that never became a request (logged as `-`).
    pub request: Option<(&'a str, &'a str, &'a str)>,
    /// Status code.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// Referer header, raw.
    pub referer: Option<&'a [u8]>,
    /// User-Agent header, raw.
    pub user_agent: Option<&'a [u8]>,
}

/// A response's access-log line, captured when the response is made and
/// written once its body is done: the byte count is only known then, and
/// the request itself is gone by that time.
pub struct Pending {
    remote: IpAddr,
    status: u16,
    /// `None` for input that never became a request.
    request: Option<RequestLine>,
    referer: Option<HeaderValue>,
    user_agent: Option<HeaderValue>,
}

/// Shared, not copied: the line is formatted once, when written.
struct RequestLine {
    method: Method,
    uri: Uri,
    version: Version,
}

impl Pending {
    /// The line for the answer to `req` from `remote`.
    pub fn for_request<B>(req: &Request<B>, remote: IpAddr, status: u16) -> Self {
        let h = req.headers();
        let line = (req.method().clone(), req.uri().clone(), req.version());
        Pending::for_parts(line, (h.get(REFERER), h.get(USER_AGENT)), remote, status)
    }

    /// The line for a request's line, Referer and User-Agent.
    pub fn for_parts(
        (method, uri, version): (Method, Uri, Version),
        (referer, user_agent): (Option<&HeaderValue>, Option<&HeaderValue>),
        remote: IpAddr,
        status: u16,
    ) -> Self {
        Pending {
            remote,
            status,
            request: Some(RequestLine {
                method,
                uri,
                version,
            }),
            referer: referer.cloned(),
            user_agent: user_agent.cloned(),
        }
    }

    /// The line for input that never became a request (logged as `"-"`,
    /// as nginx logs its 400s).
    pub fn without_request(remote: IpAddr, status: u16) -> Self {
        Pending {
            remote,
            status,
            request: None,
            referer: None,
            user_agent: None,
        }
    }

    /// Writes the line to `log`, with `sent` body bytes, timed `time`.
    pub fn write(&self, log: &AccessLog, sent: u64, time: SystemTime) {
        let target = self.request.as_ref().map(|r| target(&r.uri, r.version));
        log.write_entry(&Entry {
            remote: self.remote,
            time,
            request: match (&self.request, &target) {
                (Some(r), Some(t)) => Some((r.method.as_str(), t, version_str(r.version))),
                _ => None,
            },
            status: self.status,
            bytes: sent,
            referer: self.referer.as_ref().map(HeaderValue::as_bytes),
            user_agent: self.user_agent.as_ref().map(HeaderValue::as_bytes),
        });
    }
}

/// The request target as the client sent it: origin form without an
/// allocation, anything else (absolute form, `*`) rendered. HTTP/2 has no
/// request line: its `:path` is the target (as nginx logs it).
fn target(uri: &Uri, version: Version) -> Cow<'_, str> {
    match (uri.scheme(), uri.authority(), uri.path_and_query()) {
        (None, None, Some(pq)) => Cow::Borrowed(pq.as_str()),
        (_, _, Some(pq)) if version == Version::HTTP_2 => Cow::Borrowed(pq.as_str()),
        _ => Cow::Owned(uri.to_string()),
    }
}

/// The version as a request line spells it.
fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// nginx's escaping for logged values: `"`, `\`, control and non-ASCII
/// bytes become `\xHH`.
fn escape(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            out.extend_from_slice(&[
                b'\\',
                b'x',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]);
        } else {
            out.push(b);
        }
    }
}

/// A header value for the log: `-` when absent, nothing when present but
/// empty (`""`), as nginx logs them.
fn field(out: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        Some(v) => escape(out, v),
        None => out.push(b'-'),
    }
}

/// Appends the `combined` line for `e` to `out`, newline included:
/// `$remote_addr - $remote_user [$time_local] "$request" $status
/// $body_bytes_sent "$http_referer" "$http_user_agent"`.
pub fn write_combined(out: &mut Vec<u8>, e: &Entry<'_>) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{}", e.remote);
    out.extend_from_slice(b" - - [");
    super::time::with_access_timestamp(e.time, |t| out.extend_from_slice(t.as_bytes()));
    out.extend_from_slice(b"] \"");
    match e.request {
        Some((method, target, version)) => {
            escape(out, method.as_bytes());
            out.push(b' ');
            escape(out, target.as_bytes());
            out.push(b' ');
            escape(out, version.as_bytes());
        }
        None => out.push(b'-'),
    }
    let _ = write!(out, "\" {} {} \"", e.status, e.bytes);
    field(out, e.referer);
    out.extend_from_slice(b"\" \"");
    field(out, e.user_agent);
    out.extend_from_slice(b"\"\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn combined_format() {
        let e = Entry {
            remote: "127.0.0.1".parse().expect("ip"),
            time: UNIX_EPOCH + Duration::from_secs(1_795_299_383),
            request: Some(("GET", "/a?b=\"c\"", "HTTP/1.1")),
            status: 200,
            bytes: 612,
            referer: None,
            user_agent: Some(b"curl/8.0 \xff"),
        };
        let mut line = Vec::new();
        write_combined(&mut line, &e);
        assert_eq!(
            String::from_utf8_lossy(&line),
            "127.0.0.1 - - [21/Nov/2026:22:16:23 +0000] \"GET /a?b=\\x22c\\x22 HTTP/1.1\" 200 612 \"-\" \"curl/8.0 \\xFF\"\n"
        );
        // Present but empty is "", absent is "-".
        let mut line = Vec::new();
        write_combined(
            &mut line,
            &Entry {
                referer: Some(b""),
                user_agent: None,
                ..e
            },
        );
        assert!(
            String::from_utf8_lossy(&line).ends_with(" \"\" \"-\"\n"),
            "{}",
            String::from_utf8_lossy(&line)
        );
    }
}
