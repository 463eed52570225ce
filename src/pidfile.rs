//! The pid file (docs/operations.md): written atomically once the listeners are
//! ready, renamed to `.oldbin` for an upgrade and back on rollback, removed
//! only by the master it names.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::{Pid, UnlinkatFlags};

use crate::log::open::{Parent, open_parent};

/// Writes `pid` to `path` via a temp file and a rename, so a reader never
/// sees an empty or half-written file. The directory is reached without
/// following symlinks a less privileged user could have placed
/// (`log::open::open_parent`); the temp file has an unpredictable name and
/// is created with `O_EXCL | O_NOFOLLOW`, so nothing planted there is
/// written through, and `renameat` replaces whatever `path` was (a planted
/// symlink included) with our own regular file.
pub fn write(path: &Path, pid: Pid) -> std::io::Result<()> {
    let Parent { dir, name } = open_parent(path)?;
    let (tmp, f) = create_temp(&dir, &name, pid)?;
    let result = (&f)
        .write_all(format!("{pid}\n").as_bytes())
        .and_then(|()| {
            Ok(nix::fcntl::renameat(
                &dir,
                tmp.as_os_str(),
                &dir,
                name.as_os_str(),
            )?)
        });
    if result.is_err() {
        let _ = nix::unistd::unlinkat(&dir, tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
    }
    result
}

/// The prefix of every temp file of the pid file `name`: `moltd.pid.tmp`.
fn temp_prefix(name: &OsStr) -> OsString {
    let mut p = name.to_owned();
    p.push(".tmp");
    p
}

/// Creates `NAME.tmp.<pid>.<random>` in `dir` exclusively. The writer's
/// pid in the name lets a later start tell a leftover of a killed master
/// from a file being written right now.
fn create_temp(dir: &OwnedFd, name: &OsStr, pid: Pid) -> std::io::Result<(OsString, File)> {
    let mut last = std::io::Error::from(std::io::ErrorKind::AlreadyExists);
    for _ in 0..16 {
        let mut tmp = temp_prefix(name);
        tmp.push(format!(".{pid}.{:016x}", random_u64()));
        match nix::fcntl::openat(
            dir,
            tmp.as_os_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        ) {
            Ok(fd) => return Ok((tmp, File::from(fd))),
            Err(nix::errno::Errno::EEXIST) => last = nix::errno::Errno::EEXIST.into(),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last)
}

/// 64 unpredictable bits: the kernel's random pool, else the standard
/// library's per-process hash keys (themselves seeded from it).
fn random_u64() -> u64 {
    use std::io::Read as _;
    let mut b = [0u8; 8];
    if File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
    {
        return u64::from_ne_bytes(b);
    }
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// Removes temp files of `path` left by masters that were killed between
/// creating and renaming them (`moltd.pid.tmp.<pid>.<random>`, and the
/// older `moltd.pid.tmp<pid>`), so they do not pile up. A file whose
/// writer is alive is left alone.
pub fn remove_stale_temps(path: &Path) {
    let Ok(Parent { dir, name }) = open_parent(path) else {
        return;
    };
    let prefix = temp_prefix(&name).as_encoded_bytes().to_vec();
    let Ok(listing) = nix::fcntl::openat(
        &dir,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        return;
    };
    let Ok(mut entries) = nix::dir::Dir::from_fd(listing) else {
        return;
    };
    let mut stale = Vec::new();
    for e in entries.iter().flatten() {
        let file = e.file_name().to_bytes();
        let Some(rest) = file.strip_prefix(prefix.as_slice()) else {
            continue;
        };
        let rest = rest.strip_prefix(b".").unwrap_or(rest);
        let digits: Vec<u8> = rest
            .iter()
            .copied()
            .take_while(u8::is_ascii_digit)
            .collect();
        let writer = std::str::from_utf8(&digits)
            .ok()
            .and_then(|d| d.parse::<i32>().ok())
            .filter(|&n| n > 0);
        let Some(writer) = writer else { continue };
        let alive =
            nix::sys::signal::kill(Pid::from_raw(writer), None) != Err(nix::errno::Errno::ESRCH);
        if !alive {
            stale.push(OsStr::from_bytes(file).to_owned());
        }
    }
    for f in stale {
        // unlinkat never follows a symlink: whatever was planted, only the
        // name in our directory goes.
        let _ = nix::unistd::unlinkat(&dir, f.as_os_str(), UnlinkatFlags::NoRemoveDir);
    }
}

/// Why a pid file could not be used.
#[derive(Debug)]
pub enum PidFileError {
    /// It cannot be written (checked before it is needed, or written).
    NotWritable {
        /// The pid file.
        path: PathBuf,
        /// Why.
        err: std::io::Error,
    },
    /// It cannot be opened for reading.
    Unreadable {
        /// The pid file.
        path: PathBuf,
        /// Why.
        err: std::io::Error,
    },
    /// It does not hold a pid.
    Invalid {
        /// The pid file.
        path: PathBuf,
        /// What it holds (first line).
        text: String,
    },
}

impl std::fmt::Display for PidFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PidFileError::NotWritable { path, err } => write!(
                f,
                "could not write the pid file \"{}\" ({})",
                path.display(),
                crate::log::errno_text(err)
            ),
            // nginx's wording, which operators grep for.
            PidFileError::Unreadable { path, err } => write!(
                f,
                "open() \"{}\" failed ({})",
                path.display(),
                crate::log::errno_text(err)
            ),
            PidFileError::Invalid { path, text } => {
                write!(f, "invalid PID number \"{text}\" in \"{}\"", path.display())
            }
        }
    }
}

impl std::error::Error for PidFileError {}

/// Checks, without touching the pid file itself, that it can be written:
/// its directory exists (or is created) and accepts a new file. `-t` and
/// reload run it so a bad `pid` fails there, not at start.
pub fn check_writable(path: &Path) -> Result<(), PidFileError> {
    let fail = |err: std::io::Error| PidFileError::NotWritable {
        path: path.to_path_buf(),
        err,
    };
    if path.is_dir() {
        return Err(fail(std::io::Error::from_raw_os_error(libc::EISDIR)));
    }
    let Parent { dir, name } = open_parent(path).map_err(fail)?;
    let mut probe = name;
    probe.push(format!(".check{}", std::process::id()));
    nix::fcntl::openat(
        &dir,
        probe.as_os_str(),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    )
    .map_err(|e| fail(e.into()))?;
    let _ = nix::unistd::unlinkat(&dir, probe.as_os_str(), UnlinkatFlags::NoRemoveDir);
    Ok(())
}

/// Reads the pid in `path`.
pub fn read(path: &Path) -> Result<Pid, PidFileError> {
    use std::io::Read;
    let unreadable = |err| PidFileError::Unreadable {
        path: path.to_path_buf(),
        err,
    };
    // Whoever can write the pid file's directory may have put anything
    // there. Read by root (the master, `-s` from a logrotate hook), it
    // must not be a link to a file we would then show, nor a FIFO or a
    // device we would wait on or read forever: the file itself, regular,
    // and only as much of it as a pid takes.
    let f = crate::log::read_only::open_to_read(path).map_err(unreadable)?;
    let mut bytes = Vec::with_capacity(PID_BYTES + 1);
    f.take(PID_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    let text = String::from_utf8_lossy(&bytes);
    let t = text.trim_end_matches(['\n', '\r']);
    match t.parse::<i32>() {
        Ok(n) if n > 0 && bytes.len() <= PID_BYTES => Ok(Pid::from_raw(n)),
        _ => Err(PidFileError::Invalid {
            path: path.to_path_buf(),
            text: t
                .chars()
                .take(PID_BYTES)
                .flat_map(char::escape_default)
                .collect(),
        }),
    }
}

/// More than any pid file of ours holds (a pid, a newline): a longer file
/// is not one, and no more of it is read or shown.
const PID_BYTES: usize = 24;

/// Removes `path` if it still names `pid`: a master never deletes a pid
/// file that another master has taken over.
pub fn remove_if_ours(path: &Path, pid: Pid) {
    if read(path).ok() == Some(pid) {
        let _ = std::fs::remove_file(path);
    }
}

/// The live moltd master named by `path`, if any: starting a second one on
/// the same pid file is an error.
pub fn running_master(path: &Path) -> Option<Pid> {
    let pid = read(path).ok()?;
    if pid == nix::unistd::getpid() {
        return None;
    }
    is_master(pid).then_some(pid)
}

/// True if `pid` is a live moltd master (by its process title): a pid
/// file may name a recycled pid after a crash or reboot.
pub fn is_master(pid: Pid) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| String::from_utf8_lossy(&c).starts_with("moltd: master process"))
}

/// True if `a` and `b` name the same file (same device and inode).
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_short_regular_file_is_read() {
        let d = crate::scratch::Scratch::new("pidfile-read", &[]);
        let p = |n: &str| d.join(n);
        std::fs::write(p("good"), "1234\n").expect("good");
        assert_eq!(read(&p("good")).ok(), Some(Pid::from_raw(1234)));

        // A link is followed only if root (or we) made it where no one
        // else can write: a link someone else made is not.
        std::fs::write(p("secret"), "4321\n").expect("secret");
        std::os::unix::fs::symlink(p("secret"), p("link")).expect("link");
        assert_eq!(read(&p("link")).ok(), Some(Pid::from_raw(4321)));
        if nix::unistd::geteuid().is_root() {
            // A trusted link to someone else's link: refused at the second.
            std::os::unix::fs::symlink(p("link"), p("chain")).expect("chain");
            std::os::unix::fs::lchown(p("link"), Some(12345), None).expect("chown link");
            let e = read(&p("link")).expect_err("someone else's link");
            assert!(matches!(e, PidFileError::Unreadable { .. }), "{e}");
            let e = read(&p("chain")).expect_err("a chain through it");
            assert!(matches!(e, PidFileError::Unreadable { .. }), "{e}");
        }

        // A FIFO is refused at once, not waited on.
        nix::unistd::mkfifo(&p("fifo"), Mode::S_IRWXU).expect("fifo");
        let e = read(&p("fifo")).expect_err("a FIFO").to_string();
        assert!(e.contains("not a regular file"), "{e}");

        // A long file is read no further than a pid, and shown escaped.
        let long = format!("root:$6$hash\x1b[2J:{}\n", "x".repeat(1 << 20));
        std::fs::write(p("long"), long).expect("long");
        let e = read(&p("long")).expect_err("long").to_string();
        assert!(e.len() < 200 && !e.contains('\x1b'), "{e}");
        assert!(e.contains("root:$6$hash\\u{1b}"), "{e}");
        // Digits, then more than a pid file ever holds: not a pid.
        std::fs::write(p("digits"), "1".repeat(40)).expect("digits");
        assert!(read(&p("digits")).is_err());
    }
}
