//! Full TLS records: the writes of hyper's HTTP/1.1 and HTTP/2 over TLS,
//! gathered so that each TLS record carries as much as it can hold and
//! each `writev` as many records as are ready.
//!
//! Why: the TLS stream seals whatever it is given as records of its own
//! and sends them at once. h2 writes a 9-byte frame header, then the
//! frame's data, then flushes after every response whose body it did not
//! copy, so without this layer a busy HTTP/2 connection pays one small
//! record (an AEAD seal and 22 bytes on the wire) and one syscall per
//! frame header, and one syscall per response. Here small writes wait in a
//! buffer until a full record's worth (or a flush) is there; a large write
//! goes out beside the waiting bytes in whole records, uncopied, so a file
//! is sealed as full 16 KiB records.
//!
//! The layer says it does not write vectored: h2 then copies bodies under
//! 1 KiB into its own frame buffer instead of flushing after each, and
//! several small responses leave in one record.
//!
//! HTTP/2 flushes after every large DATA frame (whenever its frame buffer
//! cannot take the next frame), which would send each record alone and
//! cut the frame header's 9-byte tail into a record of its own. For it a
//! flush right after a write only wakes the connection's task: h2 goes on
//! writing frames, and flushes again on the next poll with nothing new
//! written, which sends. Every poll of h2's open connection that waits
//! ends with that flush, so nothing is left unsent. The handshake is
//! different (its poll waits for the client's preface without flushing
//! again), so nothing is deferred until one flush has really sent: the
//! server's SETTINGS leave at once.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The largest plaintext of one TLS record.
const RECORD: usize = 16 * 1024;

/// `inner` with its writes gathered into full records.
pub struct Records<S> {
    inner: S,
    /// Bytes accepted but not yet handed to `inner`: always less than a
    /// record.
    pending: Vec<u8>,
    /// Whether a flush right after a write waits for the next one.
    defer: bool,
    /// Whether something was written since the last flush.
    wrote: bool,
    /// Whether a flush has really sent (deferring starts after it).
    flushed: bool,
}

impl<S> Records<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Records {
            inner,
            pending: Vec::new(),
            defer: false,
            wrote: false,
            flushed: false,
        }
    }

    /// Wraps `inner` for HTTP/2, whose flushes after a write are deferred.
    pub fn deferring(inner: S) -> Self {
        Records {
            defer: true,
            ..Records::new(inner)
        }
    }
}

impl<S: AsyncWrite + Unpin> Records<S> {
    /// Hands every pending byte to `inner`.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while !self.pending.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Records<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Records<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        this.wrote |= !data.is_empty();
        if this.pending.len() + data.len() < RECORD {
            if this.pending.capacity() == 0 {
                this.pending.reserve_exact(RECORD);
            }
            this.pending.extend_from_slice(data);
            return Poll::Ready(Ok(data.len()));
        }
        // A full record or more: what waits, then as many whole records'
        // worth of `data` as it holds; the tail waits for the next write.
        let whole = (this.pending.len() + data.len()) / RECORD * RECORD;
        let take = whole - this.pending.len();
        loop {
            let held = this.pending.len();
            let bufs = [IoSlice::new(&this.pending), IoSlice::new(&data[..take])];
            let n = ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, &bufs))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            if n > held {
                this.pending.clear();
                return Poll::Ready(Ok(n - held));
            }
            this.pending.drain(..n);
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if std::mem::take(&mut self.wrote) && self.defer && self.flushed {
            cx.waker().wake_by_ref();
            return Poll::Ready(Ok(()));
        }
        ready!(self.poll_drain(cx))?;
        ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
        self.flushed = true;
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Records each write it is given; accepts at most `limit` bytes a call.
    struct Sink {
        writes: Vec<usize>,
        bytes: Vec<u8>,
        limit: usize,
    }

    impl AsyncWrite for Sink {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            let n = data.len().min(self.limit);
            self.writes.push(n);
            self.bytes.extend_from_slice(&data[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<std::io::Result<usize>> {
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.limit - n);
                self.bytes.extend_from_slice(&b[..take]);
                n += take;
            }
            self.writes.push(n);
            Poll::Ready(Ok(n))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn sink(limit: usize) -> Records<Sink> {
        Records::new(Sink {
            writes: Vec::new(),
            bytes: Vec::new(),
            limit,
        })
    }

    /// What h2 does: a 9-byte header, then 16 KiB of data, several times.
    fn frames(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .flat_map(|i| [vec![b'h'; 9], vec![i as u8; RECORD]])
            .collect()
    }

    #[tokio::test]
    async fn small_writes_wait_for_a_flush_and_leave_together() {
        let mut r = sink(usize::MAX);
        for _ in 0..10 {
            r.write_all(&[7; 600]).await.expect("write");
        }
        assert!(r.inner.writes.is_empty(), "nothing sent before the flush");
        r.flush().await.expect("flush");
        assert_eq!(r.inner.writes, [6000]);
        assert_eq!(r.inner.bytes, vec![7; 6000]);
    }

    #[tokio::test]
    async fn frames_leave_as_whole_records_in_order() {
        let mut r = sink(usize::MAX);
        let all = frames(5);
        for f in &all {
            r.write_all(f).await.expect("write");
        }
        r.flush().await.expect("flush");
        let (last, whole) = r.inner.writes.split_last().expect("writes");
        assert!(whole.iter().all(|&n| n % RECORD == 0), "{whole:?}");
        assert_eq!(*last, 5 * 9, "the headers' tail waits for the flush");
        assert_eq!(r.inner.bytes, all.concat());
    }

    /// Counts its wakes.
    struct Wakes(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Wakes {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[test]
    fn an_h2_flush_after_a_write_wakes_and_the_next_one_sends() {
        let wakes = std::sync::Arc::new(Wakes(0.into()));
        let waker = std::task::Waker::from(std::sync::Arc::clone(&wakes));
        let mut cx = Context::from_waker(&waker);
        let mut r = Records::deferring(sink(usize::MAX).inner);
        // The first flush sends (the server's SETTINGS, in the handshake).
        let settings = [0u8; 15];
        assert!(matches!(
            Pin::new(&mut r).poll_write(&mut cx, &settings),
            Poll::Ready(Ok(15))
        ));
        assert!(Pin::new(&mut r).poll_flush(&mut cx).is_ready());
        assert_eq!(r.inner.writes, [15], "the first flush sends");
        let all = frames(2);
        for f in &all {
            let mut at = 0;
            while at < f.len() {
                match Pin::new(&mut r).poll_write(&mut cx, &f[at..]) {
                    Poll::Ready(Ok(n)) if n > 0 => at += n,
                    other => panic!("{other:?}"),
                }
            }
            assert!(Pin::new(&mut r).poll_flush(&mut cx).is_ready());
        }
        assert_eq!(
            r.inner.writes,
            [15, RECORD, RECORD],
            "only full records left"
        );
        assert_eq!(wakes.0.load(std::sync::atomic::Ordering::Relaxed), 4);
        assert!(matches!(
            Pin::new(&mut r).poll_flush(&mut cx),
            Poll::Ready(Ok(()))
        ));
        assert_eq!(r.inner.writes, [15, RECORD, RECORD, 18]);
        assert_eq!(
            r.inner.bytes,
            [&settings[..], &all.concat()].concat(),
            "a flush with nothing new sends"
        );
        assert_eq!(wakes.0.load(std::sync::atomic::Ordering::Relaxed), 4);
    }

    #[tokio::test]
    async fn a_stream_that_takes_a_little_at_a_time_gets_every_byte_once() {
        let mut r = sink(1000);
        let all = frames(3);
        for f in &all {
            r.write_all(f).await.expect("write");
        }
        r.shutdown().await.expect("shutdown");
        assert_eq!(r.inner.bytes, all.concat());
        assert!(r.pending.is_empty());
    }
}
