//! How a new master knows the master that started it: by ancestry (a
//! wrapper script may sit between them) and by title.

use nix::unistd::Pid;

/// The parent of `pid`, from /proc.
fn parent_of(pid: Pid) -> Option<Pid> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace()
        .nth(1)?
        .parse()
        .ok()
        .map(Pid::from_raw)
}

/// True when `pid` is a live moltd master among this process's ancestors
/// (a few levels up: a wrapper script, `env`, `nice`...).
pub fn is_ancestor_master(pid: Pid) -> bool {
    is_ancestor(pid) && crate::pidfile::is_master(pid)
}

/// True when `pid` is among this process's ancestors, a few levels up.
pub fn is_ancestor(pid: Pid) -> bool {
    let mut p = nix::unistd::getppid();
    for _ in 0..8 {
        if p == pid {
            return true;
        }
        match parent_of(p) {
            Some(next) if next.as_raw() > 0 && next != p => p = next,
            _ => return false,
        }
    }
    false
}
