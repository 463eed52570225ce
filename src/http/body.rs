//! The response body: a queue of in-memory bytes and file ranges. Our
//! HTTP/1 writer takes the parts and sends file ranges with sendfile; as a
//! hyper body (for a hyper-driven protocol) it reads files in chunks as
//! asked, so a large file never sits in memory, and multipart ranges
//! interleave headers and file data either way.

use std::collections::VecDeque;
use std::fs::File;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};

/// Size of one read from a file: large enough to amortise the syscall,
/// small enough not to hold much memory per connection.
const FILE_CHUNK: u64 = 64 * 1024;

/// One piece of a body: bytes in memory, or a range of an open file that
/// a writer owning the socket can hand to the kernel (sendfile) instead of
/// copying it through user space.
#[derive(Debug)]
pub enum Part {
    /// Bytes in memory.
    Bytes(Bytes),
    /// `remaining` bytes of `file` from `offset`.
    File {
        /// The open file.
        file: Arc<File>,
        /// Where the range starts.
        offset: u64,
        /// How many bytes of it.
        remaining: u64,
    },
}

impl Part {
    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Part::Bytes(b) => b.len() as u64,
            Part::File { remaining, .. } => *remaining,
        }
    }

    /// True when it holds no bytes (never, for a part of a body).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Called once with the number of body bytes handed to the connection,
/// when the body is done or dropped (the access log's `$body_bytes_sent`).
pub type OnDone = Box<dyn FnOnce(u64) + Send>;

/// A response body.
#[derive(Default)]
pub struct Body {
    /// The part being sent: most bodies have exactly one, so it lives
    /// here without a queue allocation.
    first: Option<Part>,
    parts: VecDeque<Part>,
    len: u64,
    sent: u64,
    on_done: Option<OnDone>,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("len", &self.len)
            .field("sent", &self.sent)
            .finish()
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        if let Some(done) = self.on_done.take() {
            done(self.sent);
        }
    }
}

impl Body {
    /// No body (HEAD, 304).
    pub fn empty() -> Self {
        Body::default()
    }

    /// Bytes in memory.
    pub fn bytes(b: impl Into<Bytes>) -> Self {
        let mut body = Body::empty();
        body.push_bytes(b);
        body
    }

    /// `len` bytes of `file` from `offset`.
    pub fn file(file: Arc<File>, offset: u64, len: u64) -> Self {
        let mut body = Body::empty();
        body.push_file(file, offset, len);
        body
    }

    /// Appends bytes.
    pub fn push_bytes(&mut self, b: impl Into<Bytes>) {
        let b = b.into();
        if !b.is_empty() {
            self.len += b.len() as u64;
            self.push(Part::Bytes(b));
        }
    }

    /// Appends a file range.
    pub fn push_file(&mut self, file: Arc<File>, offset: u64, len: u64) {
        if len > 0 {
            self.len += len;
            self.push(Part::File {
                file,
                offset,
                remaining: len,
            });
        }
    }

    fn push(&mut self, part: Part) {
        if self.first.is_none() && self.parts.is_empty() {
            self.first = Some(part);
        } else {
            self.parts.push_back(part);
        }
    }

    /// Runs `done` with the bytes sent once the body is finished or dropped.
    pub fn on_done(&mut self, done: OnDone) {
        self.on_done = Some(done);
    }

    /// Takes the next part for a writer that sends it itself (so file
    /// ranges can go out with sendfile). The caller
    /// reports what it sent with [`Body::count_sent`].
    pub fn take_part(&mut self) -> Option<Part> {
        let part = self.first.take().or_else(|| self.parts.pop_front())?;
        self.len -= part.len();
        Some(part)
    }

    /// Takes every part into one buffer, reading file ranges with blocking
    /// reads: for a small body (an error page) written in one go by a
    /// writer outside the HTTP/1 path. The caller reports what it sent.
    pub fn read_all(&mut self) -> std::io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let mut out = Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
        while let Some(part) = self.take_part() {
            match part {
                Part::Bytes(b) => out.extend_from_slice(&b),
                Part::File {
                    file,
                    offset,
                    remaining,
                } => {
                    let at = out.len();
                    out.resize(at + usize::try_from(remaining).unwrap_or(0), 0);
                    file.read_exact_at(&mut out[at..], offset)?;
                }
            }
        }
        Ok(out)
    }

    /// Counts `n` body bytes handed to the connection by a writer that took
    /// parts with [`Body::take_part`] (the access log's `$body_bytes_sent`).
    pub fn count_sent(&mut self, n: u64) {
        self.sent += n;
    }

    /// Total length in bytes still to send.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::bytes(s)
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        let Some(part) = this.first.take().or_else(|| this.parts.pop_front()) else {
            return Poll::Ready(None);
        };
        match part {
            Part::Bytes(b) => {
                this.len -= b.len() as u64;
                this.sent += b.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Part::File {
                file,
                offset,
                remaining,
            } => {
                let want = remaining.min(FILE_CHUNK) as usize;
                let mut buf = bytes::BytesMut::with_capacity(want);
                match crate::sys::io::pread_buf(&file, &mut buf, offset, want) {
                    Ok(0) => Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "file shrank while being sent",
                    )))),
                    Ok(n) => {
                        let n = n as u64;
                        this.len -= n;
                        this.sent += n;
                        if remaining > n {
                            this.first = Some(Part::File {
                                file,
                                offset: offset + n,
                                remaining: remaining - n,
                            });
                        }
                        Poll::Ready(Some(Ok(Frame::data(buf.freeze()))))
                    }
                    Err(e) => Poll::Ready(Some(Err(e))),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.parts.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}
