//! The pid file (control.md #9): written atomically once the listeners are
//! ready, renamed to `.oldbin` for an upgrade and back on rollback, removed
//! only by the master it names.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::unistd::Pid;

/// Writes `pid` to `path` via a temp file and a rename, so a reader never
/// sees an empty or half-written file.
pub fn write(path: &Path, pid: Pid) -> std::io::Result<()> {
    crate::log::ensure_parent(path)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{pid}"));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(format!("{pid}\n").as_bytes())?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Checks, without touching the pid file itself, that it can be written:
/// its directory exists (or is created) and accepts a new file. `-t` and
/// reload run it so a bad `pid` fails there, not at start.
pub fn check_writable(path: &Path) -> Result<(), String> {
    let fail = |e: std::io::Error| {
        format!(
            "could not write the pid file \"{}\" ({})",
            path.display(),
            crate::log::errno_text(&e)
        )
    };
    if path.is_dir() {
        return Err(fail(std::io::Error::from_raw_os_error(libc::EISDIR)));
    }
    crate::log::ensure_parent(path).map_err(fail)?;
    let mut probe = path.as_os_str().to_owned();
    probe.push(format!(".check{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(fail)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Reads the pid in `path`, with nginx's error wording.
pub fn read(path: &Path) -> Result<Pid, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "open() \"{}\" failed ({})",
            path.display(),
            crate::log::errno_text(&e)
        )
    })?;
    let t = text.trim_end_matches(['\n', '\r']);
    match t.parse::<i32>() {
        Ok(n) if n > 0 => Ok(Pid::from_raw(n)),
        _ => Err(format!(
            "invalid PID number \"{t}\" in \"{}\"",
            path.display()
        )),
    }
}

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
