//! The completion floor: one thread, one io_uring; every connection's recv and
//! send are SQEs, and one io_uring_enter per loop turn submits them all and
//! waits for the next completion (the batching across connections in question).
//!
//!   (default)    one-shot IORING_OP_RECV per connection into its own buffer,
//!                re-armed after each completion (recv + send SQE per request)
//!   --multishot  one multishot recv per connection, data in a provided buffer
//!                ring (one send SQE per request, recv CQEs keep coming)
//!   --defer      IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN | COOP_TASKRUN
//!   --wait N:USEC  each enter waits for N CQEs, or for 1 once USEC have passed
//!                (IORING_FEAT_MIN_TIMEOUT, 6.12): bigger batches, fewer wakeups
//!   --statx sync statx(2) before each send; --statx uring: an IORING_OP_STATX
//!                SQE, and the send once its CQE is in (the stat decides the answer)

use io_uring::{cqueue, opcode, squeue, types, IoUring};
use std::sync::atomic::{AtomicU16, Ordering};
use uring_eval::*;

const ACCEPT: u64 = 0;
const RECV: u64 = 1;
const SEND: u64 = 2;
const STATX: u64 = 3;
fn ud(fd: i32, op: u64) -> u64 {
    (fd as u64) << 2 | op
}

const NBUF: u16 = 256; // provided buffers (--multishot), BUF bytes each
const BGID: u16 = 0;

struct Conn {
    buf: [u8; BUF],
    len: usize,
    recv_armed: bool,
    /// A send (or the statx before it) is in flight; heads answered meanwhile
    /// wait in `owed` so two sends never interleave on one socket.
    sending: bool,
    owed: usize,
    sent: usize, // heads the send in flight answers
    dead: bool,
    st: libc::statx,
}

/// The provided-buffer ring: the kernel takes a buffer per multishot recv
/// completion, we hand it back (tail bump) once its bytes are copied out.
struct BufRing {
    entries: *mut types::BufRingEntry,
    mem: *mut u8,
    tail: u16,
}

impl BufRing {
    fn new(ring: &IoUring) -> BufRing {
        let layout = std::alloc::Layout::from_size_align(NBUF as usize * 16, 4096).unwrap();
        // SAFETY: the layout has a non-zero size; the allocation is leaked on purpose (it lives as long as the ring).
        let entries = unsafe { std::alloc::alloc_zeroed(layout) } as *mut types::BufRingEntry;
        let mem = Box::leak(vec![0u8; NBUF as usize * BUF].into_boxed_slice()).as_mut_ptr();
        // SAFETY: entries points to NBUF zeroed, page-aligned ring entries that are never freed.
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(entries as u64, NBUF, BGID, 0)
        }
        .expect("IORING_REGISTER_PBUF_RING");
        let mut b = BufRing {
            entries,
            mem,
            tail: 0,
        };
        (0..NBUF).for_each(|bid| b.give(bid));
        b
    }
    // SAFETY: bid < NBUF, so the offset stays within the NBUF * BUF bytes of mem.
    fn buf(&self, bid: u16) -> *const u8 {
        unsafe { self.mem.add(bid as usize * BUF) }
    }
    fn give(&mut self, bid: u16) {
        // SAFETY: the entry index is masked to NBUF - 1 (a power of two) within the ring; the tail field is the kernel's shared counter, stored with Release as the ring protocol asks.
        unsafe {
            let e = &mut *self.entries.add((self.tail & (NBUF - 1)) as usize);
            e.set_addr(self.buf(bid) as u64);
            e.set_len(BUF as u32);
            e.set_bid(bid);
            self.tail = self.tail.wrapping_add(1);
            (*(types::BufRingEntry::tail(self.entries) as *const AtomicU16))
                .store(self.tail, Ordering::Release);
        }
    }
}

struct Floor {
    ring: IoUring,
    o: Opts,
    resp: &'static [u8],
    one: usize,
    lfd: i32,
    conns: Vec<Option<Box<Conn>>>,
    bufs: Option<BufRing>,
}

impl Floor {
    fn push(&mut self, e: squeue::Entry) {
        // SQ full (not with 50 connections and 1024 entries): submit, then retry.
        // SAFETY: every buffer an SQE points to (connection buffers, the static response, statx outputs) lives in a Box or a static until its CQE is reaped.
        while unsafe { self.ring.submission().push(&e) }.is_err() {
            self.ring.submit().expect("submit");
        }
    }

    fn arm_recv(&mut self, fd: i32) {
        let c = self.conns[fd as usize].as_mut().unwrap();
        c.recv_armed = true;
        let e = if self.o.multishot {
            opcode::RecvMulti::new(types::Fd(fd), BGID).build()
        } else {
            let (p, n) = (c.buf[c.len..].as_mut_ptr(), (BUF - c.len) as u32);
            opcode::Recv::new(types::Fd(fd), p, n).build()
        };
        self.push(e.user_data(ud(fd, RECV)));
    }

    /// Answers `n` heads: [statx,] one send of n responses from static memory.
    fn start(&mut self, fd: i32, n: usize) {
        let c = self.conns[fd as usize].as_mut().unwrap();
        // More than one send can carry: the rest waits for this send's CQE.
        c.owed += n.saturating_sub(MAX_BATCH);
        let n = n.min(MAX_BATCH);
        c.sending = true;
        c.sent = n;
        if self.o.statx == "uring" {
            let st = &mut c.st as *mut libc::statx as *mut types::statx;
            let e = opcode::Statx::new(types::Fd(libc::AT_FDCWD), self.o.file.as_ptr(), st)
                .mask(libc::STATX_BASIC_STATS)
                .build();
            return self.push(e.user_data(ud(fd, STATX)));
        }
        if self.o.statx == "sync" {
            statx_sync(&self.o.file, &mut c.st);
        }
        self.send(fd, n);
    }

    fn send(&mut self, fd: i32, n: usize) {
        // MSG_WAITALL: io_uring itself finishes a short send on a stream socket.
        let e = opcode::Send::new(types::Fd(fd), self.resp.as_ptr(), (n * self.one) as u32)
            .flags(libc::MSG_WAITALL | libc::MSG_NOSIGNAL)
            .build();
        self.push(e.user_data(ud(fd, SEND)));
    }

    fn complete(&mut self, user_data: u64, res: i32, flags: u32) {
        let (fd, op) = ((user_data >> 2) as i32, user_data & 3);
        if op == ACCEPT {
            if res >= 0 {
                nodelay(res);
                if self.conns.len() <= res as usize {
                    self.conns.resize_with(res as usize + 1, || None);
                }
                self.conns[res as usize] = Some(Box::new(Conn {
                    buf: [0; BUF],
                    len: 0,
                    recv_armed: false,
                    sending: false,
                    // SAFETY: statx is plain old data: all zeroes is a valid value.
                    owed: 0,
                    sent: 0,
                    dead: false,
                    st: unsafe { std::mem::zeroed() },
                }));
                self.arm_recv(res);
            }
            if !cqueue::more(flags) {
                self.accept();
            }
            return;
        }
        let c = self.conns[fd as usize]
            .as_mut()
            .expect("completion for a closed fd");
        match op {
            RECV => {
                let bid = cqueue::buffer_select(flags);
                if !self.o.multishot || !cqueue::more(flags) {
                    c.recv_armed = false;
                }
                let mut n = 0;
                if res > 0 {
                    if let (Some(bid), Some(b)) = (bid, self.bufs.as_mut()) {
                        // Copy into the connection's buffer, counting heads as it fills.
                        // SAFETY: the kernel wrote res bytes into provided buffer bid, which is not given back until this copy is done.
                        let mut src =
                            unsafe { std::slice::from_raw_parts(b.buf(bid), res as usize) };
                        while !src.is_empty() && !c.dead {
                            let k = src.len().min(BUF - c.len);
                            c.buf[c.len..][..k].copy_from_slice(&src[..k]);
                            (c.len, src) = (c.len + k, &src[k..]);
                            match take_heads(&mut c.buf, &mut c.len) {
                                Some(k) => n += k,
                                None => c.dead = true,
                            }
                        }
                        b.give(bid);
                    } else {
                        c.len += res as usize;
                        match take_heads(&mut c.buf, &mut c.len) {
                            Some(k) => n = k,
                            None => c.dead = true,
                        }
                    }
                } else if res != -libc::ENOBUFS {
                    c.dead = true; // EOF or error (ENOBUFS: all buffers out, just re-arm)
                }
                if n > 0 {
                    if c.sending {
                        c.owed += n
                    } else {
                        self.start(fd, n)
                    }
                }
            }
            STATX => {
                assert_eq!(res, 0, "IORING_OP_STATX failed");
                let n = c.sent;
                return self.send(fd, n);
            }
            _ => {
                // SEND
                c.sending = false;
                if res < 0 {
                    c.dead = true;
                } else if c.owed > 0 {
                    let n = std::mem::take(&mut c.owed);
                    self.start(fd, n);
                }
            }
        }
        let c = self.conns[fd as usize].as_mut().unwrap();
        if !c.dead && !c.recv_armed {
            self.arm_recv(fd);
        } else if c.dead && !c.sending {
            // Close only with nothing in flight, so no late CQE names a reused fd;
            // shutdown ends a recv still armed, and its CQE brings us back here.
            // SAFETY: fd is this connection's own descriptor; shutdown or close happen once, when it dies.
            if c.recv_armed {
                unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
            } else {
                self.conns[fd as usize] = None;
                unsafe { libc::close(fd) };
            }
        }
    }

    fn accept(&mut self) {
        let e = opcode::AcceptMulti::new(types::Fd(self.lfd))
            .flags(libc::SOCK_CLOEXEC)
            .build();
        self.push(e.user_data(ud(self.lfd, ACCEPT)));
    }
}

fn main() {
    let o = opts();
    let mut b = IoUring::builder();
    b.setup_cqsize(4096);
    if o.defer {
        b.setup_single_issuer()
            .setup_defer_taskrun()
            .setup_coop_taskrun();
    }
    let ring = b.build(1024).expect("io_uring_setup");
    assert!(
        o.wait.is_none() || ring.params().is_feature_min_timeout(),
        "--wait needs IORING_FEAT_MIN_TIMEOUT"
    );
    let bufs = o.multishot.then(|| BufRing::new(&ring));
    let (resp, one) = responses(&o.file);
    let lfd = listen(o.addr, false);
    let mut f = Floor {
        ring,
        o,
        resp,
        one,
        lfd,
        conns: Vec::new(),
        bufs,
    };
    f.accept();
    let mut cqes = Vec::with_capacity(4096);
    let mut idle = false;
    loop {
        // The one syscall per turn: submits every SQE queued since, waits for a CQE.
        // --wait: for N CQEs or, after USEC, for 1; but when that USEC passed with
        // nothing in (ETIME: idle), the next wait blocks plainly, not polling every USEC.
        let r = match f.o.wait {
            Some((n, us)) if !idle => f
                .ring
                .submitter()
                .submit_with_args(n, &types::SubmitArgs::new().min_wait_usec(us)),
            _ => f.ring.submit_and_wait(1),
        };
        idle = matches!(&r, Err(e) if e.raw_os_error() == Some(libc::ETIME));
        if let Err(e) = r {
            assert!(
                matches!(
                    e.raw_os_error(),
                    Some(libc::EINTR | libc::EBUSY | libc::ETIME)
                ),
                "io_uring_enter: {e}"
            );
        }
        cqes.extend(
            f.ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        for (u, r, fl) in cqes.drain(..) {
            f.complete(u, r, fl);
        }
    }
}
