//! Request bodies, read and thrown away: a static server has no use for
//! them, but must consume exactly the bytes the framing declares, so the
//! next request on the connection is read from the right place.
//!
//! Framing is decided before any of this runs (`framing.rs`): a body is
//! `Content-Length` bytes, or `chunked` (RFC 9112 §7.1). The chunked
//! decoder is strict where leniency could desynchronise a proxy in front
//! of us: a chunk size is 1 to 16 hex digits, nothing else before an
//! optional `;extension`, every line ends in CRLF (a bare LF or CR is an
//! error: lenient line ends are how chunked smuggling starts), no control
//! byte but HTAB appears in a line, chunk data is followed by exactly
//! CRLF, and the trailer section is bounded like a head. Extension bytes
//! count toward `client_max_body_size` with the data, so a body cannot be
//! made of endless extensions.

use std::io;

use bytes::{Buf, BytesMut};
use hyper::StatusCode;

use super::super::io::Activity;

/// How a request's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Why a body could not be consumed.
#[derive(Debug)]
pub enum BodyError {
    /// The client's fault, answered with this status and a close: 413
    /// over `client_max_body_size`, 400 for broken chunked framing.
    Status(StatusCode),
    /// The connection failed or closed mid-body.
    Io,
}

/// Longest chunk-size line or trailer line.
const MAX_LINE: usize = 4096;

/// Reads more bytes of the connection.
pub trait Fill {
    /// Appends what arrives to `buf`; `Ok(0)` at end of stream.
    fn fill(&mut self, buf: &mut BytesMut) -> impl Future<Output = io::Result<usize>>;
}

/// The connection itself, stamping its activity clock.
pub struct Socket<'a> {
    /// The connection.
    pub stream: &'a crate::sys::wire::Wire,
    /// Its clock.
    pub activity: &'a Activity,
}

impl Fill for Socket<'_> {
    async fn fill(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        super::read::read(self.stream, buf, self.activity).await
    }
}

/// Where body bytes come from: what was read past the head, then more.
pub struct Source<'a, F> {
    /// Bytes already read.
    pub buf: &'a mut BytesMut,
    /// Reads more into `buf`.
    pub fill: F,
}

impl<F: Fill> Source<'_, F> {
    async fn more(&mut self) -> Result<(), BodyError> {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(8192);
        }
        let got = self.fill.fill(self.buf).await;
        // A client whose bytes never run out must not keep the worker's
        // one thread from its other connections.
        tokio::task::coop::consume_budget().await;
        match got {
            Ok(0) | Err(_) => Err(BodyError::Io),
            Ok(_) => Ok(()),
        }
    }

    /// Drops `n` body bytes.
    async fn skip(&mut self, mut n: u64) -> Result<(), BodyError> {
        loop {
            let here = (self.buf.len() as u64).min(n);
            self.buf.advance(here as usize);
            n -= here;
            if n == 0 {
                return Ok(());
            }
            self.more().await?;
        }
    }

    /// The next line (without its CRLF), consumed.
    async fn line(&mut self) -> Result<Vec<u8>, BodyError> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line = self.buf.split_to(i + 1).to_vec();
                line.pop();
                if line.pop() != Some(b'\r')
                    || line.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
                {
                    return Err(BodyError::Status(StatusCode::BAD_REQUEST));
                }
                return Ok(line);
            }
            if self.buf.len() > MAX_LINE {
                return Err(BodyError::Status(StatusCode::BAD_REQUEST));
            }
            self.more().await?;
        }
    }

    /// Consumes the body `framing` declares, refusing one over `max` bytes
    /// and trailers over `max_trailers` bytes.
    pub async fn discard(
        &mut self,
        framing: Framing,
        max: u64,
        max_trailers: usize,
    ) -> Result<(), BodyError> {
        match framing {
            Framing::None => Ok(()),
            Framing::Length(n) if n > max => Err(BodyError::Status(StatusCode::PAYLOAD_TOO_LARGE)),
            Framing::Length(n) => self.skip(n).await,
            Framing::Chunked => self.chunked(max, max_trailers).await,
        }
    }

    async fn chunked(&mut self, max: u64, max_trailers: usize) -> Result<(), BodyError> {
        let bad = || BodyError::Status(StatusCode::BAD_REQUEST);
        let mut total: u64 = 0;
        loop {
            let line = self.line().await?;
            let size = chunk_size(&line).ok_or_else(bad)?;
            if size == 0 {
                break;
            }
            total = total.saturating_add(size).saturating_add(line.len() as u64);
            if total > max {
                return Err(BodyError::Status(StatusCode::PAYLOAD_TOO_LARGE));
            }
            self.skip(size).await?;
            if !self.line().await?.is_empty() {
                return Err(bad());
            }
        }
        // Trailer fields, up to an empty line; bounded like a head.
        let mut seen = 0;
        loop {
            let line = self.line().await?;
            if line.is_empty() {
                return Ok(());
            }
            seen += line.len() + 2;
            if seen > max_trailers || !is_field_line(&line) {
                return Err(bad());
            }
        }
    }
}

/// The size on a chunk-size line: 1 to 16 hex digits, then nothing, or
/// optional spaces or tabs and `;` and an extension (ignored).
fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return None;
    }
    let rest = &line[digits..];
    let rest_ok = rest.is_empty() || rest.iter().find(|&&b| b != b' ' && b != b'\t') == Some(&b';');
    if !rest_ok {
        return None;
    }
    let hex = std::str::from_utf8(&line[..digits]).ok()?;
    u64::from_str_radix(hex, 16).ok()
}

/// A trailer line must look like a header field: a token, then `:`.
fn is_field_line(line: &[u8]) -> bool {
    let name = line.iter().take_while(|&&b| b != b':').count();
    name > 0
        && name < line.len()
        && line[..name]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Input handed over `step` bytes at a time.
    struct Pieces {
        rest: Vec<u8>,
        step: usize,
    }

    impl Fill for Pieces {
        async fn fill(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
            let n = self.step.min(self.rest.len());
            buf.extend_from_slice(&self.rest[..n]);
            self.rest.drain(..n);
            Ok(n)
        }
    }

    /// Runs `discard` over `input` given in pieces of `step` bytes.
    fn run(input: &[u8], framing: Framing, step: usize) -> (Result<(), String>, Vec<u8>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut buf = BytesMut::new();
            let mut src = Source {
                buf: &mut buf,
                fill: Pieces {
                    rest: input.to_vec(),
                    step,
                },
            };
            let r = src
                .discard(framing, 1000, 100)
                .await
                .map_err(|e| format!("{e:?}"));
            (r, buf.to_vec())
        })
    }

    /// Bytes without end, always ready at once.
    struct Endless;

    impl Fill for Endless {
        async fn fill(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
            buf.extend_from_slice(&[b'x'; 4096]);
            Ok(4096)
        }
    }

    #[test]
    fn an_endless_body_gives_other_tasks_their_turn() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let body = tokio::spawn(async {
                    let mut buf = BytesMut::new();
                    let mut src = Source {
                        buf: &mut buf,
                        fill: Endless,
                    };
                    src.discard(Framing::Length(u64::MAX), u64::MAX, 100).await
                });
                // Only runs again if the body yields.
                tokio::task::yield_now().await;
                body.abort();
            });
            let _ = tx.send(());
        });
        assert!(
            rx.recv_timeout(std::time::Duration::from_secs(10)).is_ok(),
            "the body never yielded"
        );
    }

    #[test]
    fn chunked_bodies_are_consumed_exactly() {
        for step in [1, 3, 1000] {
            let (r, left) = run(
                b"5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\nGET /",
                Framing::Chunked,
                step,
            );
            assert!(r.is_ok(), "{step}: {r:?}");
            // What follows is the next request, untouched (the last piece
            // read may hold some of it).
            assert!(
                b"GET /".starts_with(&left) || left.starts_with(b"GET"),
                "{left:?}"
            );
        }
        let (r, _) = run(b"a\nhelloworld\n0\n\n", Framing::Chunked, 4);
        assert!(r.is_err(), "bare LF line ends are refused: {r:?}");
    }

    #[test]
    fn broken_chunked_framing_is_a_400() {
        for bad in [
            &b"5\r\nhelloX\r\n0\r\n\r\n"[..],
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b" 5\r\nhello\r\n0\r\n\r\n",
            b"5 x\r\nhello\r\n0\r\n\r\n",
            b"11111111111111111\r\n",
            b"5\rhello\r\n0\r\n\r\n",
            b"0\r\nno colon\r\n\r\n",
            b"5\r\nhell\n0\r\n\r\n",
            b"5;a\x00b\r\nhello\r\n0\r\n\r\n",
            b"5\x0c;a\r\nhello\r\n0\r\n\r\n",
        ] {
            let (r, _) = run(bad, Framing::Chunked, 7);
            assert!(
                r.as_ref().is_err_and(|e| e.contains("400")),
                "{:?}: {r:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn bodies_over_the_limit_are_a_413_and_lengths_are_exact() {
        let (r, _) = run(b"3e9\r\n", Framing::Chunked, 10);
        assert!(r.is_err_and(|e| e.contains("413")));
        // Extensions count toward the limit (1000 here).
        let ext = format!("1;{}\r\nx\r\n", "e".repeat(600));
        let (r, _) = run(ext.repeat(3).as_bytes(), Framing::Chunked, 100);
        assert!(r.is_err_and(|e| e.contains("413")));
        let (r, _) = run(b"", Framing::Length(1001), 10);
        assert!(r.is_err_and(|e| e.contains("413")));
        let (r, left) = run(b"0123456789NEXT", Framing::Length(10), 3);
        assert!(r.is_ok());
        assert!(b"NEXT".starts_with(&left), "{left:?}");
        let (r, _) = run(b"short", Framing::Length(10), 3);
        assert!(r.is_err_and(|e| e.contains("Io")));
    }
}
