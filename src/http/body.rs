//! The response body: bytes in memory or a file streamed in chunks.

use std::fs::File;
use std::io::Read;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};

/// Size of one read from a file: large enough to amortise the syscall,
/// small enough not to hold much memory per connection.
const FILE_CHUNK: u64 = 64 * 1024;

/// A response body.
#[derive(Debug)]
pub enum Body {
    /// Everything in memory (error pages, small answers).
    Bytes(Option<Bytes>),
    /// `remaining` bytes still to read from `file`.
    File {
        /// The open file.
        file: File,
        /// Bytes left to send.
        remaining: u64,
    },
}

impl Body {
    /// No body (HEAD, 304).
    pub fn empty() -> Self {
        Body::Bytes(None)
    }

    /// The first `len` bytes of `file`.
    pub fn file(file: File, len: u64) -> Self {
        Body::File {
            file,
            remaining: len,
        }
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::Bytes(Some(Bytes::from(s)))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            Body::Bytes(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::File { file, remaining } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let want = (*remaining).min(FILE_CHUNK) as usize;
                let mut buf = vec![0u8; want];
                match file.read(&mut buf) {
                    Ok(0) => Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "file shrank while being sent",
                    )))),
                    Ok(n) => {
                        buf.truncate(n);
                        *remaining -= n as u64;
                        Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))))
                    }
                    Err(e) => Poll::Ready(Some(Err(e))),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Bytes(b) => b.is_none(),
            Body::File { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Bytes(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::File { remaining, .. } => SizeHint::with_exact(*remaining),
        }
    }
}
