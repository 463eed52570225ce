//! The process tree as an operator sees it with `ps`: read from /proc.

use nix::unistd::Pid;

/// (pid, ppid, cmdline) of every process.
pub fn all() -> Vec<(Pid, Pid, String)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.first() == Some(&"Z") {
            continue;
        }
        let ppid: i32 = f.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd)
            .replace('\0', " ")
            .trim()
            .to_string();
        out.push((Pid::from_raw(pid), Pid::from_raw(ppid), cmd));
    }
    out
}

/// True if `pid` exists and is not a zombie.
pub fn alive(pid: Pid) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rfind(')')
            .and_then(|i| s[i + 1..].split_whitespace().next())
            .is_some_and(|st| st != "Z"),
        Err(_) => false,
    }
}

/// The children of `pid` whose title is `moltd: worker process`.
pub fn workers_of(pid: Pid) -> Vec<Pid> {
    all()
        .into_iter()
        .filter(|(_, pp, cmd)| *pp == pid && cmd.starts_with("moltd: worker process"))
        .map(|(p, _, _)| p)
        .collect()
}

/// The children of `pid` whose title is `moltd: master process ...`.
pub fn masters_under(pid: Pid) -> Vec<Pid> {
    all()
        .into_iter()
        .filter(|(_, pp, cmd)| *pp == pid && cmd.starts_with("moltd: master process"))
        .map(|(p, _, _)| p)
        .collect()
}

/// The title (cmdline) of `pid`.
pub fn title(pid: Pid) -> String {
    all()
        .into_iter()
        .find(|(p, _, _)| *p == pid)
        .map(|(_, _, c)| c)
        .unwrap_or_default()
}

/// The parent of `pid`.
pub fn ppid(pid: Pid) -> Option<Pid> {
    all()
        .into_iter()
        .find(|(p, _, _)| *p == pid)
        .map(|(_, pp, _)| pp)
}

/// Every descendant of `pid`.
pub fn descendants(pid: Pid) -> Vec<Pid> {
    let procs = all();
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for (c, pp, _) in &procs {
            if *pp == p && !out.contains(c) {
                out.push(*c);
                frontier.push(*c);
            }
        }
    }
    out
}

/// Whether fd `fd` of `pid` is close-on-exec (`None` if it is not open).
pub fn is_cloexec(pid: Pid, fd: i32) -> Option<bool> {
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    let flags = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())?;
    Some(flags & 0o2000000 != 0)
}

/// True if any process has `path` open.
pub fn has_open(path: &std::path::Path) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten().any(|p| {
        std::fs::read_dir(p.path().join("fd"))
            .map(|fds| {
                fds.flatten()
                    .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == path))
            })
            .unwrap_or(false)
    })
}
