//! Listening sockets: bind the configured addresses, adopt the ones a
//! previous master handed over (`MOLTD`, or systemd's `LISTEN_FDS`), and
//! match them to the configuration by address, never by position.
//!
//! Every socket here is close-on-exec; only the upgrade clears that flag, for
//! the exec, through `sys::fd::InheritGuard`.

use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::rc::Rc;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::crit;
use crate::sys::fd;

/// The listen(2) backlog, nginx's default: enough for a burst of connects
/// while workers are busy or being replaced.
const BACKLOG: i32 = 511;

/// One listening socket and the address it is bound to.
#[derive(Debug)]
pub struct Listener {
    /// The bound address (as configured).
    pub addr: SocketAddr,
    /// The socket, non-blocking and close-on-exec.
    pub socket: TcpListener,
}

/// A listener shared between the generation that uses it and the next one
/// (a reload keeps the same socket for an address both configs listen on).
pub type Shared = Rc<Listener>;

/// Why a listening socket could not be opened.
#[derive(Debug)]
pub struct BindError {
    /// The address that failed.
    pub addr: SocketAddr,
    /// The system call that failed.
    pub call: &'static str,
    /// The error it returned.
    pub err: std::io::Error,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}() to {} failed ({})",
            self.call,
            self.addr,
            crate::log::errno_text(&self.err)
        )
    }
}

impl std::error::Error for BindError {}

/// Opens a listening socket on `addr`: SO_REUSEADDR, IPV6_V6ONLY for v6,
/// non-blocking, close-on-exec, backlog 511.
pub fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    let e = |call| move |err| BindError { addr, call, err };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(e("socket"))?;
    socket.set_reuse_address(true).map_err(e("setsockopt"))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(e("setsockopt"))?;
    }
    socket.set_nonblocking(true).map_err(e("ioctl"))?;
    socket.bind(&addr.into()).map_err(e("bind"))?;
    socket.listen(BACKLOG).map_err(e("listen"))?;
    Ok(socket.into())
}

/// Builds the listener set for `addrs`: an address already open in
/// `current` keeps that socket, one found in `inherited` adopts it (removed
/// from the vector), anything else is bound fresh. Every one of them gets
/// `deferred` accepts or not (`deferred_accept`): the option belongs to
/// the socket, shared by every generation, so it is set on sockets handed
/// over by an older release or by systemd too, and on each reload (a
/// reload that fails later leaves the new value on the sockets).
pub fn open(
    addrs: &[SocketAddr],
    current: &[Shared],
    inherited: &mut Vec<Listener>,
    deferred: bool,
) -> Result<Vec<Shared>, BindError> {
    let mut out = Vec::with_capacity(addrs.len());
    for &addr in addrs {
        if let Some(l) = current.iter().find(|l| l.addr == addr) {
            out.push(Rc::clone(l));
        } else if let Some(i) = inherited.iter().position(|l| l.addr == addr) {
            out.push(Rc::new(inherited.swap_remove(i)));
        } else {
            out.push(Rc::new(Listener {
                addr,
                socket: bind(addr)?,
            }));
        }
    }
    for l in &out {
        if let Err(e) = crate::sys::wire::defer_accept(l.socket.as_fd(), deferred) {
            crate::warn!(
                "could not set TCP_DEFER_ACCEPT on the socket for {}: {e}",
                l.addr
            );
        }
    }
    Ok(out)
}

/// Why an inherited fd is not adopted as a listener.
#[derive(Debug)]
pub enum InheritError {
    /// 0, 1 or 2: a standard stream.
    Stdio(RawFd),
    /// Not an open fd in this process.
    NotOpen(RawFd, nix::Error),
    /// Its local address could not be read.
    Address(RawFd, std::io::Error),
    /// Not an IPv4 or IPv6 socket.
    Family(RawFd),
    /// Not a listening stream socket.
    NotListening(RawFd),
    /// Its flags could not be set.
    Flags(RawFd, nix::Error),
}

impl fmt::Display for InheritError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InheritError::Stdio(raw) => {
                write!(
                    f,
                    "the inherited socket #{raw} is a standard stream, ignored"
                )
            }
            InheritError::NotOpen(raw, e) => write!(
                f,
                "getsockname() of the inherited socket #{raw} failed ({}: {})",
                *e as i32,
                e.desc()
            ),
            InheritError::Address(raw, e) => write!(
                f,
                "getsockname() of the inherited socket #{raw} failed ({})",
                crate::log::errno_text(e)
            ),
            InheritError::Family(raw) => write!(
                f,
                "the inherited socket #{raw} has an unsupported protocol family"
            ),
            InheritError::NotListening(raw) => write!(
                f,
                "the inherited socket #{raw} is not a listening stream socket, ignored"
            ),
            InheritError::Flags(raw, e) => write!(f, "fcntl(#{raw}) failed: {e}"),
        }
    }
}

impl std::error::Error for InheritError {}

/// Checks one inherited fd and turns it into a listener: it must be an open
/// IPv4/IPv6 listening stream socket. It is forced non-blocking and
/// close-on-exec.
fn check_inherited(raw: RawFd) -> Result<Listener, InheritError> {
    let fd = fd::Inherited::probe(raw).map_err(|e| match e {
        fd::AdoptError::Stdio => InheritError::Stdio(raw),
        fd::AdoptError::NotOpen(e) => InheritError::NotOpen(raw, e),
    })?;
    let borrowed = fd.borrow();
    // A refused fd stays open (it may be one of ours) but must not cross a
    // later exec.
    let _ = fd::set_cloexec(borrowed, true);
    let sock = SockRef::from(&borrowed);
    let local = sock
        .local_addr()
        .map_err(|e| InheritError::Address(raw, e))?;
    let addr = local.as_socket().ok_or(InheritError::Family(raw))?;
    if sock.r#type().ok() != Some(Type::STREAM) || !sock.is_listener().unwrap_or(false) {
        return Err(InheritError::NotListening(raw));
    }
    let owned: OwnedFd = fd.adopt();
    fd::set_nonblocking(owned.as_fd()).map_err(|e| InheritError::Flags(raw, e))?;
    fd::set_cloexec(owned.as_fd(), true).map_err(|e| InheritError::Flags(raw, e))?;
    Ok(Listener {
        addr,
        socket: TcpListener::from(owned),
    })
}

/// Adopts inherited fds as listeners, refusing (with a crit line) any
/// that is not a listening TCP socket of ours to take.
pub fn adopt_fds(fds: &[RawFd]) -> Vec<Listener> {
    let mut out = Vec::new();
    for &raw in fds {
        match check_inherited(raw) {
            Ok(l) => out.push(l),
            Err(e) => crit!("{e}"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn bind_and_check_inherited() {
        let l = bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let sock = SockRef::from(&l);
        assert!(sock.is_listener().expect("SO_ACCEPTCONN"));
        assert!(sock.nonblocking().expect("flags"));
        let v = crate::master::upgrade::handover_value(&[Rc::new(Listener {
            addr: l.local_addr().expect("addr"),
            socket: l,
        })]);
        assert!(v.ends_with(';'));
    }

    fn deferral(l: &Shared) -> i32 {
        crate::sys::wire::defer_accept_secs(l.socket.as_fd()).expect("getsockopt")
    }

    #[test]
    fn every_listener_defers_accepts_as_configured_inherited_ones_too() {
        use std::os::fd::IntoRawFd;
        // As an older release or systemd would have made it: no option.
        let plain = TcpListener::bind("127.0.0.1:0").expect("bind");
        let inherited_addr = plain.local_addr().expect("addr");
        let mut inherited = vec![check_inherited(plain.into_raw_fd()).expect("adopted")];
        let fresh = SocketAddr::from(([127, 0, 0, 1], 0));
        let on = open(&[inherited_addr, fresh], &[], &mut inherited, true).expect("open");
        assert!(on.iter().all(|l| deferral(l) > 0));
        // A reload that turns it off keeps the sockets and clears it.
        let addrs: Vec<SocketAddr> = on.iter().map(|l| l.addr).collect();
        let off = open(&addrs, &on, &mut Vec::new(), false).expect("reopen");
        assert!(off.iter().all(|l| deferral(l) == 0));
        assert!(Rc::ptr_eq(&on[0], &off[0]));
    }

    #[test]
    fn refusals_name_the_fd() {
        let e = check_inherited(1).expect_err("stdout");
        assert_eq!(
            e.to_string(),
            "the inherited socket #1 is a standard stream, ignored"
        );
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
        let raw = udp.as_raw_fd();
        let e = check_inherited(raw).expect_err("not a listener");
        assert!(
            matches!(e, InheritError::NotListening(n) if n == raw),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            format!("the inherited socket #{raw} is not a listening stream socket, ignored")
        );
    }
}
