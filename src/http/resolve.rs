//! Looking a request path up under its document root so that what is
//! checked is exactly what is served.
//!
//! With `disable_symlinks = false` (the default) a path is looked up as the
//! kernel resolves it, symlinks followed, like nginx's `disable_symlinks
//! off`. With `disable_symlinks = true` a symlink below the root is followed
//! only while its target stays under the root; one that leaves it makes the
//! request a 403. The check and the open are one operation: the descriptor
//! that is served (or whose `fstat` gives the metadata) is the one the
//! resolution produced, component by component, so a writer who renames a
//! symlink over a checked file between "check" and "open" gains nothing.
//! The root itself is trusted as the operator configured it (it may be a
//! symlink, e.g. `current -> release-42`).
//!
//! The resolution uses `openat2(RESOLVE_BENEATH)` where the kernel has it,
//! and a walk with `openat(O_NOFOLLOW)` per component where it has not, or
//! where a symlink is absolute (which `RESOLVE_BENEATH` refuses outright,
//! even when it points inside the root).

use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat, openat2};
use nix::sys::stat::Mode;

/// Most symlinks one lookup follows, the kernel's own limit.
const MAX_LINKS: usize = 40;

/// Set once `openat2` turned out to be missing (ENOSYS on kernels before
/// 5.6, EPERM under some seccomp profiles): the walk is used from then on.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// A file or directory named by a request: a path under a root, and
/// whether symlinks leaving the root are refused.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    root: &'a Path,
    full: PathBuf,
    beneath: bool,
}

/// The error for a symlink whose target leaves the root; answered 403.
pub fn escaped() -> io::Error {
    io::Error::from_raw_os_error(libc::EXDEV)
}

impl<'a> Target<'a> {
    /// `rel` (normalised, without `..`) under `root`; `beneath` is the
    /// location's `disable_symlinks`.
    pub fn new(root: &'a Path, rel: &Path, beneath: bool) -> Self {
        Target {
            root,
            full: root.join(rel),
            beneath,
        }
    }

    /// The full path: the cache's key, and what the types table reads.
    pub fn path(&self) -> &Path {
        &self.full
    }

    /// The full path, given up (kept as the cache's key once the lookup
    /// is done with it).
    pub fn into_path(self) -> PathBuf {
        self.full
    }

    /// Whether symlinks leaving the root are refused.
    pub fn beneath(&self) -> bool {
        self.beneath
    }

    /// The lookup policy as a number: 0 when symlinks are followed, else a
    /// hash of the root they must stay under. Two lookups of one path
    /// agree only under equal policies.
    pub fn policy(&self) -> u64 {
        if !self.beneath {
            return 0;
        }
        // FNV-1a of the root's bytes, never 0.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in self.root.as_os_str().as_encoded_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h | 1
    }

    /// The entry `name` of this directory.
    pub fn join(&self, name: impl AsRef<Path>) -> Self {
        Target {
            root: self.root,
            full: self.full.join(name),
            beneath: self.beneath,
        }
    }

    /// This path with `suffix` appended (`app.js` -> `app.js.gz`).
    pub fn with_suffix(&self, suffix: &str) -> Self {
        let mut s = self.full.as_os_str().to_owned();
        s.push(suffix);
        Target {
            root: self.root,
            full: PathBuf::from(s),
            beneath: self.beneath,
        }
    }

    fn rel(&self) -> &Path {
        self.full.strip_prefix(self.root).unwrap_or(Path::new(""))
    }

    /// The metadata of what this path names (symlinks followed as the
    /// policy allows).
    pub fn stat(&self) -> io::Result<Metadata> {
        if !self.beneath {
            return std::fs::metadata(&self.full);
        }
        File::from(self.open_path()?).metadata()
    }

    /// Opens for reading, never blocking: a FIFO (or a device) swapped in
    /// for a file would otherwise stall every connection of the worker
    /// until a writer appears. Regular files ignore the flag.
    pub fn open(&self) -> io::Result<File> {
        self.open_with(OFlag::O_RDONLY | OFlag::O_NONBLOCK)
            .map(File::from)
    }

    /// Opens without access (`O_PATH`): enough to `fstat` what the path
    /// leads to.
    pub fn open_path(&self) -> io::Result<OwnedFd> {
        self.open_with(OFlag::O_PATH)
    }

    /// Opens a directory for reading its entries.
    pub fn open_dir(&self) -> io::Result<OwnedFd> {
        self.open_with(OFlag::O_RDONLY | OFlag::O_DIRECTORY)
    }

    fn open_with(&self, flags: OFlag) -> io::Result<OwnedFd> {
        let flags = flags | OFlag::O_CLOEXEC;
        if !self.beneath {
            return Ok(nix::fcntl::open(&self.full, flags, Mode::empty())?);
        }
        open_beneath(self.root, self.rel(), flags)
    }
}

/// Opens `rel` under `root` with `flags`, following only symlinks whose
/// targets stay under the root.
pub fn open_beneath(root: &Path, rel: &Path, flags: OFlag) -> io::Result<OwnedFd> {
    let dir = nix::fcntl::open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let how = OpenHow::new()
            .flags(flags)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let name = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        match openat2(&dir, name, how) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOSYS | Errno::EPERM) => NO_OPENAT2.store(true, Ordering::Relaxed),
            // An absolute symlink (even one pointing inside), a symlink
            // leaving the root, or a rename racing the lookup: the walk
            // decides which.
            Err(Errno::EXDEV | Errno::EAGAIN) => {}
            Err(e) => return Err(e.into()),
        }
    }
    walk(root, dir, rel, flags)
}

/// The resolution done in user space, one component at a time with
/// `O_NOFOLLOW`, so no symlink is ever followed by the kernel: each is
/// read and its target resolved here, against the root. At most three
/// descriptors are open at a time, however deep the path: a `..` reopens
/// the parent and checks it is the directory we came from (device and
/// inode), rather than keeping every level open.
pub(crate) fn walk(root: &Path, root_fd: OwnedFd, rel: &Path, flags: OFlag) -> io::Result<OwnedFd> {
    let root_id = id(&root_fd)?;
    // `None`: at the root. `above`: the directories between the root
    // (first) and the current one, by identity.
    let mut cur: Option<(OwnedFd, (u64, u64))> = None;
    let mut above: Vec<(u64, u64)> = Vec::new();
    let mut todo: Vec<PathBuf> = Vec::new();
    push_components(&mut todo, rel);
    let mut links = 0;
    let step = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    while let Some(name) = todo.pop() {
        let top = cur.as_ref().map_or(&root_fd, |(fd, _)| fd);
        if name.as_os_str() == "." {
            continue;
        }
        if name.as_os_str() == ".." {
            cur = step_up(top, &mut above, root_id)?;
            continue;
        }
        let last = todo.is_empty();
        let opened = if last {
            openat(top, &name, flags | OFlag::O_NOFOLLOW, Mode::empty())
        } else {
            openat(top, &name, step, Mode::empty())
        };
        let fd = match opened {
            Ok(fd) => fd,
            // The final component is a symlink (ENOTDIR when O_DIRECTORY
            // was asked for): look at the link itself.
            Err(e @ (Errno::ELOOP | Errno::ENOTDIR)) if last => {
                let link = openat(top, &name, step, Mode::empty())?;
                if !is_symlink(&link)? {
                    // Not a link after all: report the original error.
                    return Err(e.into());
                }
                link
            }
            Err(e) => return Err(e.into()),
        };
        let st = nix::sys::stat::fstat(fd.as_fd())?;
        match st.st_mode & libc::S_IFMT {
            libc::S_IFLNK => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(Errno::ELOOP.into());
                }
                let target = PathBuf::from(nix::fcntl::readlinkat(&fd, "")?);
                if target.is_absolute() {
                    let inside = strip_root(root, &target).ok_or_else(escaped)?;
                    cur = None;
                    above.clear();
                    push_components(&mut todo, &inside);
                } else {
                    push_components(&mut todo, &target);
                }
            }
            _ if last => return Ok(fd),
            libc::S_IFDIR => {
                above.push(cur.as_ref().map_or(root_id, |(_, i)| *i));
                cur = Some((fd, (st.st_dev, st.st_ino)));
            }
            _ => return Err(Errno::ENOTDIR.into()),
        }
    }
    // The root itself, or a path that ended in `..`, `.` or a directory
    // link.
    let top = cur.as_ref().map_or(&root_fd, |(fd, _)| fd);
    Ok(openat(top, ".", flags, Mode::empty())?)
}

/// `..` from `top`: its parent, checked to be the directory the walk came
/// from (`above`'s last), as an open directory and its identity; `None`
/// when that is the root.
fn step_up(
    top: &OwnedFd,
    above: &mut Vec<(u64, u64)>,
    root_id: (u64, u64),
) -> io::Result<Option<(OwnedFd, (u64, u64))>> {
    let Some(parent) = above.pop() else {
        return Err(escaped());
    };
    let step = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let up = openat(top, "..", step | OFlag::O_DIRECTORY, Mode::empty())?;
    if id(&up)? != parent {
        // Moved while we walked: refuse rather than guess.
        return Err(escaped());
    }
    Ok(if above.is_empty() && parent == root_id {
        None
    } else {
        Some((up, parent))
    })
}

/// Device and inode of an open file.
fn id(fd: &OwnedFd) -> io::Result<(u64, u64)> {
    let st = nix::sys::stat::fstat(fd.as_fd())?;
    Ok((st.st_dev, st.st_ino))
}

fn is_symlink(fd: &OwnedFd) -> io::Result<bool> {
    let st = nix::sys::stat::fstat(fd.as_fd())?;
    Ok(st.st_mode & libc::S_IFMT == libc::S_IFLNK)
}

/// Pushes the components of `p` so that the first is popped first. A
/// trailing slash (a link to `file.txt/`) adds a final `.`, so what comes
/// before it must be a directory, as the kernel requires.
fn push_components(todo: &mut Vec<PathBuf>, p: &Path) {
    let start = todo.len();
    for c in p.components() {
        match c {
            Component::Normal(n) => todo.push(PathBuf::from(n)),
            Component::ParentDir => todo.push(PathBuf::from("..")),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    if p.as_os_str().as_bytes().ends_with(b"/") && todo.len() > start {
        todo.push(PathBuf::from("."));
    }
    todo[start..].reverse();
}

/// An absolute link target as a path under the root, if it names one: by
/// the root's configured spelling or its canonical one.
fn strip_root(root: &Path, target: &Path) -> Option<PathBuf> {
    if let Ok(rest) = target.strip_prefix(root) {
        return Some(rest.to_path_buf());
    }
    let canonical = std::fs::canonicalize(root).ok()?;
    target.strip_prefix(&canonical).ok().map(Path::to_path_buf)
}

/// The name of a directory entry as a path component.
pub fn entry_name(name: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::symlink;

    /// root/ with a file, a subdirectory and links of every kind, and a
    /// secret next to the root.
    fn tree(tag: &str) -> PathBuf {
        let base = std::env::temp_dir().join(format!("moltd-resolve-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        std::fs::create_dir_all(root.join("sub/deeper")).expect("dirs");
        std::fs::write(root.join("file.txt"), "inside").expect("file");
        std::fs::write(root.join("sub/deeper/x.txt"), "deep").expect("file");
        std::fs::write(base.join("secret.txt"), "SECRET").expect("secret");
        symlink("file.txt", root.join("rel-in")).expect("link");
        symlink(root.join("file.txt"), root.join("abs-in")).expect("link");
        symlink("../secret.txt", root.join("rel-out")).expect("link");
        symlink(base.join("secret.txt"), root.join("abs-out")).expect("link");
        symlink("sub/deeper", root.join("dir-in")).expect("link");
        symlink("..", root.join("dir-out")).expect("link");
        symlink("../../file.txt", root.join("sub/deeper/up-in")).expect("link");
        symlink("rel-in", root.join("chain")).expect("link");
        symlink("loop-b", root.join("loop-a")).expect("link");
        symlink("loop-a", root.join("loop-b")).expect("link");
        symlink("nowhere", root.join("dangling")).expect("link");
        symlink("/proc/self/root/etc/passwd", root.join("magic")).expect("link");
        symlink("file.txt/", root.join("trail")).expect("link");
        symlink("sub/", root.join("dir-trail")).expect("link");
        base
    }

    fn read(fd: io::Result<OwnedFd>) -> Result<String, i32> {
        let mut s = String::new();
        let mut f = File::from(fd.map_err(|e| e.raw_os_error().unwrap_or(-1))?);
        f.read_to_string(&mut s)
            .map_err(|e| e.raw_os_error().unwrap_or(-1))?;
        Ok(s)
    }

    #[test]
    fn the_kernel_path_and_the_walk_agree() {
        let base = tree("agree");
        let root = base.join("root");
        let cases: &[(&str, Result<&str, i32>)] = &[
            ("file.txt", Ok("inside")),
            ("rel-in", Ok("inside")),
            ("abs-in", Ok("inside")),
            ("chain", Ok("inside")),
            ("dir-in/x.txt", Ok("deep")),
            ("sub/deeper/up-in", Ok("inside")),
            ("rel-out", Err(libc::EXDEV)),
            ("abs-out", Err(libc::EXDEV)),
            ("dir-out/secret.txt", Err(libc::EXDEV)),
            ("dir-out/root/file.txt", Err(libc::EXDEV)),
            ("magic", Err(libc::EXDEV)),
            ("loop-a", Err(libc::ELOOP)),
            ("dangling", Err(libc::ENOENT)),
            ("missing", Err(libc::ENOENT)),
            ("file.txt/x", Err(libc::ENOTDIR)),
            ("trail", Err(libc::ENOTDIR)),
            ("dir-trail/deeper/x.txt", Ok("deep")),
        ];
        let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
        for (rel, want) in cases {
            let rel = Path::new(rel);
            let kernel = read(open_beneath(&root, rel, flags));
            let dir = nix::fcntl::open(&root, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty())
                .expect("root");
            let user = read(walk(&root, dir, rel, flags));
            let want = want.map(str::to_string);
            assert_eq!(user, want, "walk: {}", rel.display());
            assert_eq!(kernel, want, "open_beneath: {}", rel.display());
        }
        // Directories, through a link inside, open as directories.
        let t = Target::new(&root, Path::new("dir-in"), true);
        assert!(t.open_dir().is_ok());
        assert!(t.stat().expect("stat").is_dir());
        assert!(
            Target::new(&root, Path::new("dir-out"), true)
                .open_dir()
                .is_err()
        );
        assert!(
            Target::new(&root, Path::new(""), true)
                .stat()
                .expect("root")
                .is_dir()
        );
        // A deep path ending in an absolute link (the walk's case) is
        // resolved. (Its descriptors are bounded by construction: the test
        // harness's threads make a process-wide fd count meaningless.)
        let mut deep = root.clone();
        for _ in 0..300 {
            deep.push("d");
        }
        std::fs::create_dir_all(&deep).expect("deep");
        symlink(root.join("file.txt"), deep.join("abs")).expect("link");
        let rel = deep.join("abs");
        let rel = rel.strip_prefix(&root).expect("rel");
        let dir = nix::fcntl::open(&root, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty())
            .expect("root");
        let fd = walk(&root, dir, rel, OFlag::O_RDONLY).expect("deep walk");
        assert_eq!(read(Ok(fd)), Ok("inside".into()));
        // Without the policy, links are followed wherever they go.
        let t = Target::new(&root, Path::new("abs-out"), false);
        assert_eq!(read(t.open().map(OwnedFd::from)), Ok("SECRET".into()));
        let _ = std::fs::remove_dir_all(&base);
    }
}
