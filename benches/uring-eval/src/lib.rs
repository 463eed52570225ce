//! Shared by floor-epoll and floor-uring: the fixed response, head counting,
//! the listener, the per-request statx and the command line. Both floors must
//! do the same work per request so that only the event loop differs.

use std::ffi::CString;
use std::io;

/// Most heads one recv can hold: 4096-byte buffer / 18-byte "GET / HTTP/1.1\r\n\r\n".
pub const MAX_BATCH: usize = 228;
pub const BUF: usize = 4096;

pub struct Opts {
    pub addr: std::net::SocketAddrV4,
    pub file: CString,
    /// "", "sync" (statx(2) per batch of heads) or "uring" (IORING_OP_STATX; uring only)
    pub statx: String,
    pub multishot: bool,
    pub defer: bool,
    /// uring: (want, usec): wait for `want` CQEs, or 1 once usec passed;
    /// epoll: (0, usec): sleep usec before each epoll_wait
    pub wait: Option<(usize, u32)>,
}

/// `floor-X 127.0.0.1:PORT FILE [--statx sync|uring] [--multishot] [--defer]`
pub fn opts() -> Opts {
    let a: Vec<String> = std::env::args().collect();
    let usage = "usage: floor-X 127.0.0.1:PORT FILE [--statx sync|uring] [--multishot] [--defer] [--wait N:USEC]";
    let mut o = Opts {
        addr: a.get(1).and_then(|s| s.parse().ok()).expect(usage),
        file: CString::new(a.get(2).expect(usage).as_str()).unwrap(),
        statx: String::new(),
        multishot: false,
        defer: false,
        wait: None,
    };
    let mut i = 3;
    while i < a.len() {
        match a[i].as_str() {
            "--statx" => {
                i += 1;
                o.statx = a.get(i).expect(usage).clone();
            }
            "--multishot" => o.multishot = true,
            "--defer" => o.defer = true,
            "--wait" => {
                i += 1;
                let (n, us) = a.get(i).and_then(|s| s.split_once(':')).expect(usage);
                o.wait = Some((n.parse().expect(usage), us.parse().expect(usage)));
            }
            _ => panic!("{usage}"),
        }
        i += 1;
    }
    assert!(["", "sync", "uring"].contains(&o.statx.as_str()), "{usage}");
    o
}

/// MAX_BATCH copies of one response back to back, and the length of one:
/// answering n pipelined heads is one send of the first n * len bytes, from
/// memory that never moves (io_uring may read it after we return).
pub fn responses(file: &CString) -> (&'static [u8], usize) {
    let body = std::fs::read(file.to_str().unwrap()).expect("read FILE");
    // Headers as a static server sends them; Date/Last-Modified/ETag fixed.
    let mut one = format!(
        "HTTP/1.1 200 OK\r\nServer: moltd/0.1.0\r\nDate: Thu, 03 Dec 2026 01:51:22 GMT\r\n\
         Content-Type: text/html\r\nContent-Length: {}\r\n\
         Last-Modified: Thu, 03 Dec 2026 01:00:00 GMT\r\nConnection: keep-alive\r\n\
         ETag: \"692f8c10-{:x}\"\r\nAccept-Ranges: bytes\r\n\r\n",
        body.len(),
        body.len()
    )
    .into_bytes();
    one.extend_from_slice(&body);
    let len = one.len();
    (Box::leak(one.repeat(MAX_BATCH).into_boxed_slice()), len)
}

/// Counts the complete heads ("\r\n\r\n") at the start of buf[..*len] and
/// moves what follows the last one to the front. Bodies are not expected
/// (GET only). Returns None when the buffer is full without a complete head.
pub fn take_heads(buf: &mut [u8], len: &mut usize) -> Option<usize> {
    let (mut n, mut start) = (0, 0);
    while let Some(p) = buf[start..*len].windows(4).position(|w| w == b"\r\n\r\n") {
        start += p + 4;
        n += 1;
    }
    buf.copy_within(start..*len, 0);
    *len -= start;
    if n == 0 && *len == buf.len() {
        None
    } else {
        Some(n)
    }
}

/// The stat a static server makes before answering (moltd: statx per request).
pub fn statx_sync(path: &CString, out: &mut libc::statx) {
    // SAFETY: path is a NUL-terminated CString and out a live, writable statx the call fills.
    let r = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::AT_STATX_SYNC_AS_STAT,
            libc::STATX_BASIC_STATS,
            out,
        )
    };
    assert_eq!(r, 0, "statx: {}", io::Error::last_os_error());
}

fn check(r: libc::c_int, what: &str) -> libc::c_int {
    assert!(r >= 0, "{what}: {}", io::Error::last_os_error());
    r
}

/// A listening TCP socket on addr (nonblocking if asked), backlog 1024.
pub fn listen(addr: std::net::SocketAddrV4, nonblock: bool) -> libc::c_int {
    // SAFETY: plain socket calls on a descriptor this function owns; sa is a live sockaddr_in passed with its own size.
    unsafe {
        let ty =
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | if nonblock { libc::SOCK_NONBLOCK } else { 0 };
        let fd = check(libc::socket(libc::AF_INET, ty, 0), "socket");
        let one: libc::c_int = 1;
        setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, one);
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as _,
            sin_port: addr.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*addr.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        check(
            libc::bind(
                fd,
                &sa as *const _ as *const _,
                std::mem::size_of_val(&sa) as _,
            ),
            "bind",
        );
        check(libc::listen(fd, 1024), "listen");
        fd
    }
}

pub fn setsockopt(fd: libc::c_int, level: libc::c_int, opt: libc::c_int, v: libc::c_int) {
    // SAFETY: v is a live c_int and 4 is its size.
    unsafe { libc::setsockopt(fd, level, opt, &v as *const _ as *const _, 4) };
}

/// Nagle off, as nginx and moltd have it on keep-alive connections.
pub fn nodelay(fd: libc::c_int) {
    setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
}
