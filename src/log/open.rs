//! Opening the files root writes (logs, the pid file) safely, in
//! directories that a less privileged user (the workers' user, a deploy
//! account) may be able to write.
//!
//! The classic attack (CVE-2016-1247 and its kind): replace `access.log`,
//! or a directory on its path, with a symlink to a root-only place, or the
//! file with a hard link to a root-only file, and wait for root to reopen
//! and `chown` the log. So:
//!
//! - the path is walked one component at a time with `O_NOFOLLOW`, missing
//!   directories created on the way (0755); a symlink, in a directory or
//!   as the file, is followed only when it is *trusted*: owned by root or
//!   by this process's user, in a directory that only root or this user
//!   can write (so `/dev/stdout`, or a link an operator made as root in a
//!   root-owned directory, work; one the workers' user placed, renamed or
//!   hard-linked does not);
//! - a regular file with more than one link is refused: a log is never a
//!   second name of another file;
//! - anything but a regular file or a device (a FIFO or socket that would
//!   stall every write once its reader stops) must belong to root or to
//!   this process's user;
//! - only a file this open created is handed to the workers' user (with
//!   `fchown` on its descriptor): an existing file keeps its owner;
//! - the open never blocks; what is opened is then used blocking, as a
//!   log is.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl, openat};
use nix::sys::stat::{FileStat, Mode, fstat};
use nix::unistd::{Gid, Uid};

use crate::config::Config;

/// Most symlinks followed to reach one file, the kernel's own limit.
pub(super) const MAX_LINKS: usize = 40;

/// Why a log was refused although the system would have opened it. It
/// travels inside an `io::Error` (kind `PermissionDenied`), so callers
/// print it like any failed open; `Refused::of` finds it again.
#[derive(Debug)]
pub enum Refused {
    /// A symlink someone else could have placed or renamed there.
    UntrustedLink {
        /// The link's name.
        name: PathBuf,
        /// Its owner.
        uid: u32,
        /// Only root or we can write its directory (so it is the link's
        /// owner that is not trusted).
        dir_safe: bool,
    },
    /// A regular file with this many links: a second name of a file.
    HardLinks(libc::nlink_t),
    /// A FIFO or socket owned by this uid, neither root nor us.
    ForeignSpecial(u32),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::UntrustedLink {
                name,
                uid,
                dir_safe,
            } => write!(
                f,
                "\"{}\" is a symlink owned by uid {uid} in a directory {}; not followed",
                name.display(),
                if *dir_safe {
                    "only root can write"
                } else {
                    "others can write"
                }
            ),
            Refused::HardLinks(n) => {
                write!(f, "it has {n} hard links; a log file must have exactly one")
            }
            Refused::ForeignSpecial(uid) => write!(
                f,
                "it is a FIFO or socket owned by uid {uid}; a log that is not a file must belong to root or to moltd's user"
            ),
        }
    }
}

impl std::error::Error for Refused {}

impl From<Refused> for io::Error {
    fn from(r: Refused) -> Self {
        io::Error::new(io::ErrorKind::PermissionDenied, r)
    }
}

impl Refused {
    /// The refusal inside `e`, if the open failed because of one.
    pub fn of(e: &io::Error) -> Option<&Refused> {
        e.get_ref()?.downcast_ref()
    }
}

/// A directory reached safely, and the name of the entry wanted in it.
#[derive(Debug)]
pub struct Parent {
    /// The directory, open (`O_PATH`).
    pub dir: OwnedFd,
    /// The last component of the path.
    pub name: OsString,
}

/// A log just opened.
#[derive(Debug)]
pub struct Opened {
    /// The file, in append mode.
    pub file: File,
    /// This open created it (so it may be handed to the workers' user).
    pub created: bool,
    /// Reached through a kernel-made link (`/dev/stdout`, `/proc/...`):
    /// whatever it is (a journal file systemd opened), it keeps its owner.
    pub via_kernel: bool,
}

fn kind(st: &FileStat) -> libc::mode_t {
    st.st_mode & libc::S_IFMT
}

fn ours(uid: u32) -> bool {
    uid == 0 || uid == Uid::effective().as_raw()
}

/// Refuses a symlink an attacker could have placed: see the module doc.
/// The directory counts as safe when root or we own it and it is not
/// world-writable (group write is the operator's choice: Debian's
/// `/var/log` is `root:syslog 0775`), or, world-writable but sticky, when
/// the link's owner owns it too (the kernel's `protected_symlinks` rule).
pub(super) fn check_trusted(dir: &OwnedFd, link: &FileStat, name: &Path) -> io::Result<()> {
    let d = fstat(dir.as_fd())?;
    let sticky_ok = d.st_mode & 0o1000 != 0 && d.st_uid == link.st_uid;
    let dir_safe = ours(d.st_uid) && (d.st_mode & 0o002 == 0 || sticky_ok);
    if ours(link.st_uid) && dir_safe {
        return Ok(());
    }
    Err(Refused::UntrustedLink {
        name: name.to_path_buf(),
        uid: link.st_uid,
        dir_safe,
    }
    .into())
}

fn start_dir(absolute: bool) -> io::Result<OwnedFd> {
    let from = if absolute { "/" } else { "." };
    Ok(nix::fcntl::open(
        from,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?)
}

/// Pushes the components of `p` so that the first is popped first.
fn push_components(todo: &mut Vec<OsString>, p: &Path) {
    let start = todo.len();
    for c in p.components() {
        match c {
            Component::Normal(n) => todo.push(n.to_owned()),
            Component::ParentDir => todo.push("..".into()),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    todo[start..].reverse();
}

/// Walks to the directory `dir` names, from `cur`, creating what is
/// missing and following only trusted symlinks.
fn walk_dirs(mut cur: OwnedFd, dir: &Path, links: &mut usize) -> io::Result<OwnedFd> {
    let mut todo = Vec::new();
    push_components(&mut todo, dir);
    let step = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    while let Some(c) = todo.pop() {
        if c == ".." {
            cur = openat(&cur, "..", step | OFlag::O_DIRECTORY, Mode::empty())?;
            continue;
        }
        let fd = match openat(&cur, c.as_os_str(), step, Mode::empty()) {
            Err(Errno::ENOENT) => {
                match nix::sys::stat::mkdirat(&cur, c.as_os_str(), Mode::from_bits_truncate(0o755))
                {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                openat(&cur, c.as_os_str(), step, Mode::empty())?
            }
            other => other?,
        };
        let st = fstat(fd.as_fd())?;
        match kind(&st) {
            libc::S_IFDIR => cur = fd,
            libc::S_IFLNK => {
                *links += 1;
                if *links > MAX_LINKS {
                    return Err(Errno::ELOOP.into());
                }
                check_trusted(&cur, &st, Path::new(&c))?;
                let target = PathBuf::from(nix::fcntl::readlinkat(&fd, "")?);
                if target.is_absolute() {
                    cur = start_dir(true)?;
                }
                push_components(&mut todo, &target);
            }
            _ => return Err(Errno::ENOTDIR.into()),
        }
    }
    Ok(cur)
}

/// The directory holding `path`, reached safely (missing directories
/// created), and the file's name in it.
pub fn open_parent(path: &Path) -> io::Result<Parent> {
    parent_counting(path, &mut 0)
}

fn parent_counting(path: &Path, links: &mut usize) -> io::Result<Parent> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EISDIR))?
        .to_owned();
    let parent = path.parent().unwrap_or(Path::new(""));
    let dir = walk_dirs(start_dir(path.is_absolute())?, parent, links)?;
    Ok(Parent { dir, name })
}

/// Opens a log file for appending, creating it (mode 0644) and its
/// directories. O_APPEND makes every write land whole at the end, so
/// processes sharing the file never interleave within a line.
pub fn open_append(path: &Path) -> io::Result<File> {
    open_log(path).map(|o| o.file)
}

/// [`open_append`], saying whether the file was created.
pub fn open_log(path: &Path) -> io::Result<Opened> {
    let mut links = 0;
    let mut path = path.to_path_buf();
    loop {
        match open_once(&path, &mut links)? {
            Step::Opened(o) => return Ok(o),
            Step::Follow(next) => path = next,
        }
    }
}

enum Step {
    Opened(Opened),
    Follow(PathBuf),
}

/// True for paths that name kernel objects rather than files (`/proc/...`,
/// `/dev/fd/N`, `/dev/stdout`): nobody but the kernel makes those links,
/// so the kernel resolves them.
pub fn kernel_made(path: &Path) -> bool {
    path.starts_with("/proc")
        || path.starts_with("/dev/fd")
        || ["/dev/stdout", "/dev/stderr"]
            .iter()
            .any(|p| path == Path::new(p))
}

/// How every log is opened: appending, never following a symlink itself
/// (the walk decides which to follow), never blocking on a FIFO.
fn log_flags() -> OFlag {
    OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC
}

fn open_once(path: &Path, links: &mut usize) -> io::Result<Step> {
    if kernel_made(path) {
        return open_kernel_made(path).map(Step::Opened);
    }
    let Parent { dir, name } = parent_counting(path, links)?;
    let Some((fd, created)) = create_or_open(&dir, &name)? else {
        return follow_link(&dir, &name, path, links).map(Step::Follow);
    };
    check_kind(&fstat(fd.as_fd())?)?;
    Ok(Step::Opened(Opened {
        file: blocking(fd)?,
        created,
        via_kernel: false,
    }))
}

/// Our own stdout or stderr is taken as it is (a socket, as under
/// journald, cannot be opened through /proc); anything else the kernel
/// resolves.
fn open_kernel_made(path: &Path) -> io::Result<Opened> {
    let fd: OwnedFd = if path == Path::new("/dev/stdout") {
        std::io::stdout().as_fd().try_clone_to_owned()?
    } else if path == Path::new("/dev/stderr") {
        std::io::stderr().as_fd().try_clone_to_owned()?
    } else {
        nix::fcntl::open(path, log_flags() - OFlag::O_NOFOLLOW, Mode::empty())?
    };
    Ok(Opened {
        file: blocking(fd)?,
        created: false,
        via_kernel: true,
    })
}

/// Creates the log (mode 0644), or opens it if it exists: the descriptor
/// and whether this open created it; `None` if the name is a symlink.
fn create_or_open(dir: &OwnedFd, name: &OsStr) -> io::Result<Option<(OwnedFd, bool)>> {
    let mode = Mode::from_bits_truncate(0o644);
    match openat(
        dir,
        name,
        log_flags() | OFlag::O_CREAT | OFlag::O_EXCL,
        mode,
    ) {
        Ok(fd) => return Ok(Some((fd, true))),
        Err(Errno::EEXIST) => {}
        Err(e) => return Err(e.into()),
    }
    match openat(dir, name, log_flags(), Mode::empty()) {
        Ok(fd) => Ok(Some((fd, false))),
        Err(Errno::ELOOP) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Where the symlink `name` in `dir` leads, if it is trusted: the next
/// path to open, relative to `path`'s directory when the target is.
fn follow_link(dir: &OwnedFd, name: &OsStr, path: &Path, links: &mut usize) -> io::Result<PathBuf> {
    let link = openat(
        dir,
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let st = fstat(link.as_fd())?;
    if kind(&st) != libc::S_IFLNK {
        return Err(Errno::ELOOP.into());
    }
    *links += 1;
    if *links > MAX_LINKS {
        return Err(Errno::ELOOP.into());
    }
    check_trusted(dir, &st, Path::new(name))?;
    let target = PathBuf::from(nix::fcntl::readlinkat(&link, "")?);
    Ok(match path.parent() {
        Some(p) if target.is_relative() => p.join(target),
        _ => target,
    })
}

/// A log is a regular file with one name, a device, or a FIFO or socket
/// that root or moltd's user made.
fn check_kind(st: &FileStat) -> io::Result<()> {
    match kind(st) {
        libc::S_IFREG if st.st_nlink > 1 => Err(Refused::HardLinks(st.st_nlink).into()),
        libc::S_IFREG | libc::S_IFCHR => Ok(()),
        _ if ours(st.st_uid) => Ok(()),
        _ => Err(Refused::ForeignSpecial(st.st_uid).into()),
    }
}

/// `fd` with O_NONBLOCK cleared.
fn blocking(fd: OwnedFd) -> io::Result<File> {
    let flags = OFlag::from_bits_truncate(fcntl(fd.as_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_fd(), FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK))?;
    Ok(File::from(fd))
}

/// What to add when a worker could not reopen a log after a rotation: a
/// worker reopens as its own `user`, so the log's directory must be
/// searchable by that user (as with nginx).
pub fn reopen_hint(e: &io::Error) -> &'static str {
    if e.kind() == io::ErrorKind::PermissionDenied && !Uid::effective().is_root() {
        " (the workers' user must be able to reach the log's directory)"
    } else {
        ""
    }
}

/// The workers' user and group, when the master runs as root with `user`:
/// the owner a log must have for a worker to reopen it after a rotation.
pub fn workers_owner(config: &Config) -> Option<(Uid, Gid)> {
    let (user, group) = config.user.as_ref()?;
    if !crate::sys::privs::is_root() {
        return None;
    }
    crate::sys::privs::lookup(user, group.as_deref()).ok()
}

/// Gives a log to `owner` (see [`workers_owner`]), through its
/// descriptor, so no path lookup can redirect the change: one this open
/// created, or an existing regular file with a single link that belongs to
/// root or to us (a log `moltd -t` or logrotate's `create` made as root).
/// A file someone else owns keeps its owner, and so does anything reached
/// through `/proc` (`/dev/stdout` may be a journal file systemd opened).
pub fn give_to(opened: &Opened, path: &Path, owner: Option<(Uid, Gid)>) {
    let Some((uid, gid)) = owner else { return };
    if !opened.created {
        let Ok(st) = fstat(opened.file.as_fd()) else {
            return;
        };
        let plain = kind(&st) == libc::S_IFREG && st.st_nlink == 1;
        if !plain || !ours(st.st_uid) || st.st_uid == uid.as_raw() || opened.via_kernel {
            return;
        }
    }
    if let Err(e) = nix::unistd::fchown(opened.file.as_fd(), Some(uid), Some(gid)) {
        crate::alert!("fchown() of \"{}\" to {uid} failed ({e})", path.display());
    }
}

#[cfg(test)]
mod tests;
