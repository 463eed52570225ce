//! The listing as it was first written (readdir, an owned entry per name,
//! `format!` rendering), kept for the tests: the fast listing must give
//! these bytes exactly.

use std::ffi::CStr;
use std::fmt::Write as _;
use std::os::fd::OwnedFd;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::dir::Type;
use nix::fcntl::AtFlags;
use nix::sys::stat::{FileStat, fstatat};

use crate::http::resolve::{self, Target};

use crate::config::AutoindexFormat;

/// One listed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// File name as shown (lossy UTF-8 for non-UTF-8 names).
    pub name: String,
    /// File name as stored, for the link (a non-UTF-8 byte must be
    /// escaped as itself, or the link would not find the file).
    pub raw: Vec<u8>,
    /// A directory (followed through symlinks, as nginx stats entries).
    pub dir: bool,
    /// Size in bytes (files).
    pub size: u64,
    /// Modification time.
    pub mtime: SystemTime,
}

/// The width nginx gives the name column.
const NAME_WIDTH: usize = 50;

/// Reads `dir`, skipping dot files, sorted directories first, then by name.
///
/// Entries are stat'ed relative to the open directory. A symlink is shown
/// with its target's size and date (as nginx does) only if a request for
/// it would be served: under `disable_symlinks`, one whose target leaves
/// the root is left out, so the listing never shows what the policy
/// hides. A dangling link is left out too.
pub fn read(dir: &Target<'_>) -> std::io::Result<Vec<Entry>> {
    let fd = dir.open_dir()?;
    let stat_fd = fd.try_clone()?;
    let mut entries = nix::dir::Dir::from_fd(fd)?;
    let mut out = Vec::new();
    for e in entries.iter() {
        let Ok(e) = e else { continue };
        let raw = e.file_name().to_bytes();
        if raw.first() == Some(&b'.') {
            continue;
        }
        let st = match e.file_type() {
            Some(Type::Symlink) => linked(dir, &stat_fd, e.file_name()),
            Some(_) => fstatat(&stat_fd, e.file_name(), AtFlags::AT_SYMLINK_NOFOLLOW).ok(),
            None => match fstatat(&stat_fd, e.file_name(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                    linked(dir, &stat_fd, e.file_name())
                }
                other => other.ok(),
            },
        };
        let Some(st) = st else { continue };
        let mtime = u64::try_from(st.st_mtime)
            .map(|s| UNIX_EPOCH + Duration::new(s, st.st_mtime_nsec.clamp(0, 999_999_999) as u32))
            .unwrap_or(UNIX_EPOCH);
        out.push(Entry {
            name: String::from_utf8_lossy(raw).into_owned(),
            raw: raw.to_vec(),
            dir: st.st_mode & libc::S_IFMT == libc::S_IFDIR,
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime,
        });
    }
    out.sort_by(|a, b| b.dir.cmp(&a.dir).then_with(|| a.name.cmp(&b.name)));
    Ok(out)
}

/// What the symlink `name` in `dir` leads to, if a request may follow it.
fn linked(dir: &Target<'_>, dir_fd: &OwnedFd, name: &CStr) -> Option<FileStat> {
    if dir.beneath() {
        let t = dir.join(resolve::entry_name(name.to_bytes()));
        let fd = t.open_path().ok()?;
        return nix::sys::stat::fstat(&fd).ok();
    }
    fstatat(dir_fd, name, AtFlags::empty()).ok()
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_html_escaped(&mut out, s);
    out
}

fn push_html_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Percent-escapes a name for use as a relative link: everything but
/// unreserved characters and a few safe ones.
fn push_link_escaped(out: &mut String, s: &[u8]) {
    for &b in s {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'!'
            | b'$'
            | b'('
            | b')'
            | b'*'
            | b'+'
            | b','
            | b';'
            | b'='
            | b'@' => out.push(b as char),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
}

fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// `21-Nov-2026 23:52` (UTC), nginx's listing date.
fn listing_date(out: &mut String, t: SystemTime) {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (y, m, d) = crate::log::time::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let month = crate::log::time::MONTHS[(m as usize).saturating_sub(1) % 12];
    let _ = write!(
        out,
        "{d:02}-{month}-{y:04} {:02}:{:02}",
        s / 3600,
        s / 60 % 60
    );
}

/// Renders `entries` of the directory at request path `uri` (decoded, with
/// its trailing slash). Returns the body and its Content-Type.
pub fn render(uri: &str, entries: &[Entry], format: AutoindexFormat) -> (String, &'static str) {
    match format {
        AutoindexFormat::Html => (html(uri, entries), "text/html; charset=utf-8"),
        AutoindexFormat::Json => (json(entries), "application/json"),
    }
}

fn html(uri: &str, entries: &[Entry]) -> String {
    let title = html_escape(uri);
    let mut out = format!(
        "<html>\r\n<head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\r\n<body>\r\n<h1>Index of {title}</h1><hr><pre><a href=\"../\">../</a>\r\n"
    );
    out.reserve(entries.len() * 120);
    for e in entries {
        let slash = if e.dir { "/" } else { "" };
        out.push_str("<a href=\"");
        push_link_escaped(&mut out, &e.raw);
        out.push_str(slash);
        out.push_str("\">");
        let count = e.name.chars().count() + slash.len();
        let pad = if count > NAME_WIDTH {
            let cut: String = e
                .name
                .chars()
                .chain(slash.chars())
                .take(NAME_WIDTH - 3)
                .collect();
            push_html_escaped(&mut out, &cut);
            out.push_str("..&gt;");
            1
        } else {
            push_html_escaped(&mut out, &e.name);
            out.push_str(slash);
            NAME_WIDTH - count + 1
        };
        out.push_str("</a>");
        out.extend(std::iter::repeat_n(' ', pad));
        listing_date(&mut out, e.mtime);
        if e.dir {
            out.push_str("                   -\r\n");
        } else {
            let _ = write!(out, " {:>19}\r\n", e.size);
        }
    }
    out.push_str("</pre><hr></body>\r\n</html>\r\n");
    out
}

fn json(entries: &[Entry]) -> String {
    let mut out = String::from("[\n");
    for (i, e) in entries.iter().enumerate() {
        let sep = if i + 1 < entries.len() { "," } else { "" };
        let mtime = crate::http::date::http_date(e.mtime);
        if e.dir {
            let _ = writeln!(
                out,
                "{{ \"name\":\"{}\", \"type\":\"directory\", \"mtime\":\"{mtime}\" }}{sep}",
                json_escape(&e.name)
            );
        } else {
            let _ = writeln!(
                out,
                "{{ \"name\":\"{}\", \"type\":\"file\", \"mtime\":\"{mtime}\", \"size\":{} }}{sep}",
                json_escape(&e.name),
                e.size
            );
        }
    }
    out.push(']');
    out
}
