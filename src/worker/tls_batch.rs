//! TLS records sent in batches: what is written to an HTTPS connection is
//! sealed into rustls's send buffer at once, but the records go to the
//! socket only once about `BATCH` bytes wait, or on a flush or shutdown,
//! so that one `writev` carries several records.
//!
//! Why: the TLS stream sends what it sealed after every write, so each
//! 16 KiB HTTP/2 DATA frame (a full record, `tls_records.rs`) cost its own
//! syscall: 13 per 100 KiB response. Reads, the handshake and the
//! close_notify of a shutdown stay the TLS stream's; only its write path
//! is bypassed, and nothing is held outside rustls's own send buffer,
//! which the stream's flush and shutdown send as well.

use std::io::{self, IoSlice, Write};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::server::TlsStream;

/// How many sealed bytes wait before they are sent: four full records.
const BATCH: usize = 64 * 1024;

/// The largest plaintext of one TLS record.
const RECORD: usize = 16 * 1024;

/// The most a record adds to its plaintext (TLS 1.2 AES-GCM: header,
/// explicit nonce, tag); counting it keeps `queued` at or above what
/// rustls really holds.
const OVERHEAD: usize = 5 + 8 + 16;

/// `tls` with its records sent in batches.
pub struct Batched<IO> {
    tls: TlsStream<IO>,
    /// At least how many sealed bytes wait in rustls's send buffer
    /// (rustls does not say): what was sealed, less what was sent.
    queued: usize,
}

impl<IO> Batched<IO> {
    /// Wraps `tls`, whose handshake is done.
    pub fn new(mut tls: TlsStream<IO>) -> Self {
        // Room for a batch and the record that crosses its mark, so that
        // rustls never cuts a record short at its limit.
        tls.get_mut().1.set_buffer_limit(Some(BATCH + 2 * RECORD));
        Batched { tls, queued: 0 }
    }
}

impl<IO: AsyncWrite + Unpin> Batched<IO> {
    /// Sends sealed records: all of them, or (`all` false) while a batch
    /// waits. Pending only when the socket is full (its waker is set).
    fn poll_send(&mut self, cx: &mut Context<'_>, all: bool) -> Poll<io::Result<()>> {
        let (io, conn) = self.tls.get_mut();
        loop {
            if !conn.wants_write() {
                self.queued = 0;
                return Poll::Ready(Ok(()));
            }
            if !all && self.queued < BATCH {
                return Poll::Ready(Ok(()));
            }
            let n = match conn.write_tls(&mut Socket { io, cx }) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                r => r?,
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.queued = self.queued.saturating_sub(n);
        }
    }

    /// Seals at most `room` bytes of `bufs` into rustls's send buffer.
    fn seal(&mut self, bufs: &[IoSlice<'_>], room: usize) -> io::Result<usize> {
        let mut take: [IoSlice<'_>; 4] = [IoSlice::new(&[]); 4];
        let (mut used, mut left) = (0, room);
        for b in bufs.iter().filter(|b| !b.is_empty()).take(take.len()) {
            if left == 0 {
                break;
            }
            let n = b.len().min(left);
            take[used] = IoSlice::new(&b[..n]);
            used += 1;
            left -= n;
        }
        let n = self
            .tls
            .get_mut()
            .1
            .writer()
            .write_vectored(&take[..used])?;
        // Each write is cut into records of its own.
        self.queued += n + n.div_ceil(RECORD) * OVERHEAD;
        Ok(n)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for Batched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tls).poll_read(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Batched<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(data)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        let this = &mut *self;
        ready!(this.poll_send(cx, false))?;
        loop {
            // Whole records up to the batch's mark: a write that is a
            // whole number of records is sealed as full records.
            let room = BATCH.saturating_sub(this.queued).div_ceil(RECORD).max(1) * RECORD;
            let n = this.seal(bufs, room)?;
            if n > 0 {
                return Poll::Ready(Ok(n));
            }
            // rustls took nothing: its buffer holds bytes not counted
            // here. Send them, then seal again; none left means it never
            // will take any.
            if !this.tls.get_ref().1.wants_write() {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            ready!(this.poll_send(cx, true))?;
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_send(cx, true))?;
        Pin::new(&mut self.tls).poll_flush(cx)
    }

    /// The records that wait, then the TLS stream's own shutdown: its
    /// close_notify, then the socket's write side.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_send(cx, true))?;
        Pin::new(&mut self.tls).poll_shutdown(cx)
    }
}

/// The socket as rustls's `Write`: a full socket is `WouldBlock` (with
/// the task's waker set), and rustls's records leave in one `writev`.
struct Socket<'a, 'b, IO> {
    io: &'a mut IO,
    cx: &'a mut Context<'b>,
}

impl<IO: AsyncWrite + Unpin> Write for Socket<'_, '_, IO> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(data)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write_vectored(self.cx, bufs) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
    use rustls::{ClientConfig, ServerConfig, SupportedProtocolVersion};
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    /// The server's end of an in-memory wire, with the size of each write
    /// it took.
    struct Wire {
        inner: DuplexStream,
        writes: Arc<Mutex<Vec<usize>>>,
    }

    impl Wire {
        fn took(&self, r: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
            if let Poll::Ready(Ok(n)) = &r {
                self.writes.lock().expect("lock").push(*n);
            }
            r
        }
    }

    impl AsyncRead for Wire {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Wire {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            let r = Pin::new(&mut self.inner).poll_write(cx, data);
            self.took(r)
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
            self.took(r)
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }

    type Client = tokio_rustls::client::TlsStream<DuplexStream>;

    /// A server and a client after their handshake over a wire that holds
    /// `room` bytes each way, and the server's writes from then on.
    async fn pair(
        version: &'static SupportedProtocolVersion,
        room: usize,
    ) -> (Batched<Wire>, Client, Arc<Mutex<Vec<usize>>>) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key_pair.serialize_der()));
        let provider = || Arc::new(rustls::crypto::ring::default_provider());
        let server = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[version])
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![c.cert.der().clone()], key)
            .expect("server config");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(c.cert.der().clone()).expect("root");
        let client = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[version])
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let (a, b) = tokio::io::duplex(room);
        let writes = Arc::new(Mutex::new(Vec::new()));
        let wire = Wire {
            inner: a,
            writes: Arc::clone(&writes),
        };
        let accept = tokio_rustls::TlsAcceptor::from(Arc::new(server)).accept(wire);
        let name = ServerName::try_from("localhost").expect("name");
        let connect = tokio_rustls::TlsConnector::from(Arc::new(client)).connect(name, b);
        let (s, c) = tokio::join!(accept, connect);
        writes.lock().expect("lock").clear();
        (
            Batched::new(s.expect("accept")),
            c.expect("connect"),
            writes,
        )
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    /// A wire that takes a few hundred bytes at a time, so that sending
    /// is partial and pending again and again: every byte still arrives,
    /// once and in order, and the shutdown's close_notify after them
    /// (the client's read would fail on a bare end of stream).
    #[tokio::test]
    async fn a_slow_wire_gets_every_byte_in_order_then_close_notify() {
        for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
            let (mut server, mut client, writes) = pair(version, 700).await;
            let sizes = [
                9,
                RECORD,
                9,
                RECORD,
                1,
                40_000,
                3 * RECORD,
                70_000,
                5,
                200_000,
            ];
            let all = pattern(sizes.iter().sum());
            let send = async {
                let mut at = 0;
                for n in sizes {
                    server.write_all(&all[at..at + n]).await.expect("write");
                    at += n;
                }
                server.shutdown().await.expect("shutdown");
            };
            let mut got = Vec::new();
            let (_, read) = tokio::join!(send, client.read_to_end(&mut got));
            read.expect("read to close_notify");
            assert!(got == all, "{version:?}: the bytes differ");
            assert!(writes.lock().expect("lock").iter().all(|&n| n <= 700));
        }
    }

    /// Full records wait until a batch is there: one write per four
    /// records, the rest on the flush.
    #[tokio::test]
    async fn records_leave_four_at_a_time() {
        for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
            let (mut server, mut client, writes) = pair(version, 1 << 20).await;
            let all = pattern(16 * RECORD);
            server.write_all(&all[..100]).await.expect("write");
            assert!(
                writes.lock().expect("lock").is_empty(),
                "sent before a batch"
            );
            for chunk in all[100..].chunks(RECORD) {
                server.write_all(chunk).await.expect("write");
            }
            server.flush().await.expect("flush");
            let mut got = vec![0; all.len()];
            client.read_exact(&mut got).await.expect("read");
            assert!(got == all, "{version:?}: the bytes differ");
            let writes = writes.lock().expect("lock").clone();
            let (_, batches) = writes.split_last().expect("writes");
            assert!(writes.len() <= 5, "{version:?}: {writes:?}");
            assert!(batches.iter().all(|&n| n >= BATCH), "{writes:?}");
        }
    }
}
