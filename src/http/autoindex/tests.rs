//! The listing against the first implementation (`reference.rs`), byte
//! for byte, on a directory of awkward names, kinds, sizes and dates.

use std::ffi::OsStr;
use std::fs::{File, FileTimes};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;

use super::escape::{push_html_escaped, push_link_escaped};
use super::{listing, reference};
use crate::config::AutoindexFormat;
use crate::http::resolve::Target;

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("moltd-autoindex-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("mkdir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const NOV_2026: u64 = 1_795_299_383;

fn file(dir: &Path, name: &[u8], size: u64, mtime: SystemTime) {
    let f = File::create(dir.join(OsStr::from_bytes(name))).expect("create");
    f.set_len(size).expect("size");
    f.set_times(FileTimes::new().set_modified(mtime))
        .expect("mtime");
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// root/list with files, directories and links of every kind, and a
/// file outside the root.
fn awkward(t: &TempDir) -> (PathBuf, PathBuf) {
    let root = t.0.join("www");
    let list = root.join("list");
    std::fs::create_dir_all(&list).expect("mkdir");
    std::fs::write(t.0.join("outside.txt"), b"out").expect("outside");
    let names: &[&[u8]] = &[
        b"a <b>&\"c.txt",
        b"sp ace%?#:.txt",
        "\u{fc}n\u{ef}.txt".as_bytes(),
        "\u{65e5}\u{672c}\u{8a9e}\u{306e}\u{30d5}\u{30a1}\u{30a4}\u{30eb}.txt".as_bytes(),
        b"quote's",
        b"tab\tand\nnewline",
        b"back\\slash",
        b"bad\xff",
        b"bad\xfe",
        b"\xc3",
        b"B-upper",
        b"a-lower",
        b"empty",
        b"x",
    ];
    for (i, n) in names.iter().enumerate() {
        file(&list, n, i as u64 * 1000, at(NOV_2026 + i as u64 * 3599));
    }
    for n in [47, 48, 49, 50, 51, 60, 120] {
        file(&list, &vec![b'L'; n], 7, at(NOV_2026));
        file(&list, "\u{e9}".repeat(n).as_bytes(), 7, at(NOV_2026));
        std::fs::create_dir(list.join("D".repeat(n))).expect("mkdir");
    }
    file(&list, "&<".repeat(40).as_bytes(), 1, at(NOV_2026));
    file(&list, b"huge.bin", 5_000_000_000, at(NOV_2026));
    file(&list, b"epoch", 1, UNIX_EPOCH);
    file(
        &list,
        b"before-epoch",
        1,
        UNIX_EPOCH - Duration::from_secs(86_400 * 400),
    );
    file(&list, b"year-2400", 1, at(13_569_465_600 + 86_399));
    file(&list, b".hidden", 1, at(NOV_2026));
    for d in ["sub", "zdir", "Sub dir <&>"] {
        std::fs::create_dir(list.join(d)).expect("mkdir");
    }
    symlink("a-lower", list.join("link-to-file")).expect("symlink");
    symlink("sub", list.join("link-to-dir")).expect("symlink");
    symlink("../list/x", list.join("link-up-and-back")).expect("symlink");
    symlink(list.join("x"), list.join("link-absolute-inside")).expect("symlink");
    symlink("missing", list.join("link-dangling")).expect("symlink");
    symlink(t.0.join("outside.txt"), list.join("link-outside")).expect("symlink");
    symlink("../../outside.txt", list.join("link-outside-relative")).expect("symlink");
    (root, list)
}

fn old(dir: &Target<'_>, uri: &str, format: AutoindexFormat) -> (String, &'static str) {
    let entries = reference::read(dir).expect("old read");
    reference::render(uri, &entries, format)
}

#[test]
fn the_listing_is_byte_for_byte_the_first_implementations() {
    let t = TempDir::new("same");
    let (root, _) = awkward(&t);
    for beneath in [false, true] {
        let dir = Target::new(&root, Path::new("list"), beneath);
        for format in [AutoindexFormat::Html, AutoindexFormat::Json] {
            for uri in ["/list/", "/l\u{ef}st <&\"'>/"] {
                let (want, want_type) = old(&dir, uri, format);
                // Twice, the first page still held: the reused buffer
                // must not change what a page says.
                let (got, got_type) = listing(&dir, uri, format).expect("listing");
                let (again, _) = listing(&dir, uri, format).expect("listing");
                assert_eq!(got_type, want_type);
                assert_eq!(
                    std::str::from_utf8(&got).expect("UTF-8"),
                    want,
                    "beneath {beneath}, {format:?}, {uri}"
                );
                assert_eq!(got, again);
            }
        }
    }
    let (strict, _) = listing(
        &Target::new(&root, Path::new("list"), true),
        "/",
        AutoindexFormat::Html,
    )
    .expect("listing");
    let strict = String::from_utf8_lossy(&strict);
    assert!(!strict.contains("link-outside"), "{strict}");
    assert!(!strict.contains("link-dangling"), "{strict}");
    assert!(strict.contains("link-absolute-inside"), "{strict}");
    assert!(!strict.contains(".hidden"), "{strict}");
}

#[test]
fn a_large_directory_matches_too() {
    let t = TempDir::new("large");
    let dir = t.0.join("d");
    std::fs::create_dir(&dir).expect("mkdir");
    for i in 0..3000u64 {
        file(
            &dir,
            format!("file-{i:05}-{}", "n".repeat(i as usize % 70)).as_bytes(),
            i,
            at(NOV_2026 + i * 61),
        );
    }
    let target = Target::new(&t.0, Path::new("d"), false);
    let (want, _) = old(&target, "/d/", AutoindexFormat::Html);
    let (got, _) = listing(&target, "/d/", AutoindexFormat::Html).expect("listing");
    assert_eq!(std::str::from_utf8(&got).expect("UTF-8"), want);
}

#[test]
fn a_missing_directory_is_an_error() {
    let t = TempDir::new("missing");
    let target = Target::new(&t.0, Path::new("nope"), false);
    let e = listing(&target, "/nope/", AutoindexFormat::Html).expect_err("no directory");
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn escapes_names_in_links_and_text() {
    let link = |s: &[u8]| {
        let mut b = BytesMut::new();
        push_link_escaped(&mut b, s);
        String::from_utf8_lossy(&b).into_owned()
    };
    assert_eq!(link(b"a <b>&\"c.txt"), "a%20%3Cb%3E%26%22c.txt");
    assert_eq!(link(b"sp ace%?#:.txt"), "sp%20ace%25%3F%23%3A.txt");
    assert_eq!(link("\u{fc}n\u{ef}".as_bytes()), "%C3%BCn%C3%AF");
    assert_eq!(link(b"bad\xff"), "bad%FF");
    let mut b = BytesMut::new();
    push_html_escaped(&mut b, "a <b>&\"c'");
    assert_eq!(&b[..], b"a &lt;b&gt;&amp;&quot;c&#39;");
}

#[test]
fn html_matches_nginx_layout() {
    let t = TempDir::new("layout");
    let list = t.0.join("list");
    std::fs::create_dir(&list).expect("mkdir");
    std::fs::create_dir(list.join("sub")).expect("mkdir");
    File::open(list.join("sub"))
        .and_then(|f| f.set_times(FileTimes::new().set_modified(at(NOV_2026))))
        .expect("mtime");
    file(&list, b"a.txt", 3000, at(NOV_2026));
    file(&list, "L".repeat(60).as_bytes(), 0, at(NOV_2026));
    let dir = Target::new(&t.0, Path::new("list"), false);
    let (body, ctype) = listing(&dir, "/list/", AutoindexFormat::Html).expect("listing");
    let body = String::from_utf8_lossy(&body);
    assert_eq!(ctype, "text/html; charset=utf-8");
    assert!(body.contains("<title>Index of /list/</title>"));
    assert!(body.contains(&format!(
        "<a href=\"sub/\">sub/</a>{}21-Nov-2026 22:16                   -\r\n",
        " ".repeat(47)
    )));
    assert!(body.contains(&format!(
        "<a href=\"a.txt\">a.txt</a>{}21-Nov-2026 22:16                3000\r\n",
        " ".repeat(46)
    )));
    assert!(
        body.contains(&format!(">{}..&gt;</a> 21-Nov", "L".repeat(47))),
        "{body}"
    );
}

#[test]
fn json_layout() {
    let t = TempDir::new("json");
    let list = t.0.join("list");
    std::fs::create_dir_all(list.join("d")).expect("mkdir");
    File::open(list.join("d"))
        .and_then(|f| f.set_times(FileTimes::new().set_modified(at(NOV_2026))))
        .expect("mtime");
    file(&list, b"q\"x", 2, at(NOV_2026));
    let dir = Target::new(&t.0, Path::new("list"), false);
    let (body, ctype) = listing(&dir, "/list/", AutoindexFormat::Json).expect("listing");
    assert_eq!(ctype, "application/json");
    assert_eq!(
        String::from_utf8_lossy(&body),
        "[\n{ \"name\":\"d\", \"type\":\"directory\", \"mtime\":\"Sat, 21 Nov 2026 22:16:23 GMT\" },\n{ \"name\":\"q\\\"x\", \"type\":\"file\", \"mtime\":\"Sat, 21 Nov 2026 22:16:23 GMT\", \"size\":2 }\n]"
    );
}
