//! The readiness floor: one thread, level-triggered epoll, per readable
//! connection one recv, [one statx], one send of the fixed response(s).
//! That is the least a readiness loop can do per keep-alive request.

use std::io;
use uring_eval::*;

struct Conn {
    buf: [u8; BUF],
    len: usize,
    /// Bytes of the response stream still to send (short send: wait for EPOLLOUT,
    /// read nothing more until it is out).
    out: std::ops::Range<usize>,
}

fn ctl(ep: i32, op: i32, fd: i32, events: u32) {
    let mut ev = libc::epoll_event {
        events,
        u64: fd as u64,
    };
    // SAFETY: ev is a live epoll_event for the duration of the call.
    unsafe { libc::epoll_ctl(ep, op, fd, &mut ev) };
}

fn main() {
    let o = opts();
    assert!(o.statx != "uring", "floor-epoll: --statx sync only");
    assert!(
        o.wait.map_or(true, |(n, _)| n == 0),
        "floor-epoll: --wait 0:USEC only"
    );
    let (resp, one) = responses(&o.file);
    let lfd = listen(o.addr, true);
    // SAFETY: no pointers; the result is checked by the caller's use.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    ctl(ep, libc::EPOLL_CTL_ADD, lfd, libc::EPOLLIN as u32);
    let mut conns: Vec<Option<Box<Conn>>> = Vec::new();
    // SAFETY: statx is plain old data: all zeroes is a valid value.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    loop {
        // --wait 0:USEC: sleep USEC before each wait so more is ready per wait, the
        // readiness twin of floor-uring's --wait with an unreachable N.
        if let Some((_, us)) = o.wait {
            let ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: us as i64 * 1000,
            };
            // SAFETY: ts is a live timespec; no remainder is asked for.
            unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
        }
        // SAFETY: events is a live buffer of events.len() entries.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, -1) };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        for ev in &events[..n.max(0) as usize] {
            let fd = ev.u64 as i32;
            if fd == lfd {
                loop {
                    // SAFETY: no address is asked for (both pointers null, as accept4 allows).
                    let c = unsafe {
                        libc::accept4(
                            lfd,
                            std::ptr::null_mut(),
                            std::ptr::null_mut(),
                            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                        )
                    };
                    if c < 0 {
                        break;
                    }
                    nodelay(c);
                    if conns.len() <= c as usize {
                        conns.resize_with(c as usize + 1, || None);
                    }
                    conns[c as usize] = Some(Box::new(Conn {
                        buf: [0; BUF],
                        len: 0,
                        out: 0..0,
                    }));
                    ctl(ep, libc::EPOLL_CTL_ADD, c, libc::EPOLLIN as u32);
                }
                continue;
            }
            let Some(c) = conns[fd as usize].as_mut() else {
                continue;
            };
            let alive = if c.out.is_empty() {
                readable(fd, c, resp, one, &o, &mut st)
            } else {
                flush(fd, c, resp, true)
            };
            match alive {
                Ok(true) => ctl(
                    ep,
                    libc::EPOLL_CTL_MOD,
                    fd,
                    if c.out.is_empty() {
                        libc::EPOLLIN
                    } else {
                        libc::EPOLLOUT
                    } as u32,
                ),
                Ok(false) => {}
                // SAFETY: fd is this connection's own descriptor, closed once (its slot is emptied here).
                Err(()) => {
                    conns[fd as usize] = None;
                    unsafe { libc::close(fd) };
                }
            }
        }
    }
}

/// One recv, then answer every complete head. Ok(true): the interest changes.
fn readable(
    fd: i32,
    c: &mut Conn,
    resp: &[u8],
    one: usize,
    o: &Opts,
    st: &mut libc::statx,
) -> Result<bool, ()> {
    // SAFETY: the pointer and length stay within c.buf (c.len <= BUF).
    let r = unsafe { libc::recv(fd, c.buf[c.len..].as_mut_ptr().cast(), BUF - c.len, 0) };
    if r <= 0 {
        let again = r < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock;
        return if again { Ok(false) } else { Err(()) };
    }
    c.len += r as usize;
    let n = take_heads(&mut c.buf, &mut c.len).ok_or(())?;
    if n == 0 {
        return Ok(false);
    }
    if o.statx == "sync" {
        statx_sync(&o.file, st);
    }
    c.out = 0..n * one;
    flush(fd, c, resp, false)
}

/// Sends what is left; Ok(true) when that switches between EPOLLIN and EPOLLOUT.
fn flush(fd: i32, c: &mut Conn, resp: &[u8], was_blocked: bool) -> Result<bool, ()> {
    // SAFETY: c.out is a range within resp, so pointer and length stay in it.
    let r = unsafe {
        libc::send(
            fd,
            resp[c.out.clone()].as_ptr().cast(),
            c.out.len(),
            libc::MSG_NOSIGNAL,
        )
    };
    if r < 0 {
        if io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock {
            return Err(());
        }
    } else {
        c.out.start += r as usize;
    }
    let done = c.out.is_empty();
    if done {
        c.out = 0..0;
    }
    Ok(done == was_blocked)
}
