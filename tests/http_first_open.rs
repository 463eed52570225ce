//! A request for a path the open-file cache holds nothing for opens the
//! file before knowing what the path names (`src/http/cache/first.rs`):
//! whatever it names, the answer is the one a stat first gave, both on
//! that first request and from the entry it made.

use std::os::unix::fs::PermissionsExt;

use nix::unistd::Uid;

use crate::support::{Server, free_port, http};

/// A server trusting stats for 60 s, whose workers run as `nobody` when
/// the tests run as root (so that file permissions apply to them), over
/// a root holding a file, links, directories, a FIFO, files without read
/// permission, a large file, and a link out of the root under a strict
/// location.
fn odd_root() -> (Server, u16) {
    let port = free_port();
    let mut s = Server::new();
    let user = if Uid::effective().is_root() {
        "user = \"nobody\"\n"
    } else {
        ""
    };
    std::fs::set_permissions(&s.prefix, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    s.config(&format!(
        "{user}open_file_cache_valid = \"60s\"\nworker_processes = 1\n\
         [[server]]\nlisten = [\"127.0.0.1:{port}\"]\nroot = \"html\"\n\
         [[server.location]]\nprefix = \"/strict/\"\ndisable_symlinks = true\n"
    ));
    let w = |rel: &str, text: &[u8]| std::fs::write(s.path(rel), text).expect(rel);
    w("html/file.txt", b"file\n");
    w("html/other/index.html", b"other index\n");
    w("html/big.bin", &vec![b'b'; 100_000]);
    w("outside.txt", b"outside\n");
    std::os::unix::fs::symlink("file.txt", s.path("html/link.txt")).expect("link");
    std::os::unix::fs::symlink("other", s.path("html/dirlink")).expect("link");
    std::fs::create_dir_all(s.path("html/strict")).expect("dir");
    std::os::unix::fs::symlink("../../outside.txt", s.path("html/strict/out.txt")).expect("link");
    nix::unistd::mkfifo(&s.path("html/fifo"), nix::sys::stat::Mode::S_IRWXU).expect("fifo");
    // Traversable, not readable: opening it fails, a stat does not.
    std::fs::create_dir_all(s.path("html/locked")).expect("dir");
    w("html/locked/index.html", b"locked index\n");
    let mode = |rel: &str, m: u32| {
        std::fs::set_permissions(s.path(rel), std::fs::Permissions::from_mode(m)).expect(rel);
    };
    mode("html/locked", 0o111);
    w("html/secret.txt", b"secret\n");
    mode("html/secret.txt", 0o000);
    // Older than the settle rule, so what the first open reads is kept.
    std::thread::sleep(std::time::Duration::from_millis(2200));
    s.start(port);
    (s, port)
}

#[test]
fn odd_paths_answer_alike_on_the_first_request_and_from_its_entry() {
    let (s, port) = odd_root();
    let cases: &[(&str, u16, &str)] = &[
        ("/file.txt", 200, "file\n"),
        ("/link.txt", 200, "file\n"),
        ("/dirlink", 301, "/dirlink/"),
        ("/dirlink/", 200, "other index\n"),
        ("/locked", 301, "/locked/"),
        ("/locked/", 200, "locked index\n"),
        ("/secret.txt", 403, ""),
        ("/fifo", 404, ""),
        ("/missing", 404, ""),
        ("/file.txt/x", 404, ""),
        ("/strict/out.txt", 403, ""),
    ];
    for round in ["first", "from the entry"] {
        for (path, status, want) in cases {
            let r = http::get(port, path).expect("request");
            assert_eq!(r.status, *status, "{path}, {round}");
            match status {
                200 => assert_eq!(r.text(), *want, "{path}, {round}"),
                301 => assert!(
                    r.header("location").is_some_and(|l| l.ends_with(want)),
                    "{path}, {round}: {:?}",
                    r.header("location")
                ),
                _ => {}
            }
        }
        let r = http::get(port, "/big.bin").expect("request");
        assert_eq!((r.status, r.body.len()), (200, 100_000), "{round}");
        assert!(r.body.iter().all(|&b| b == b'b'), "{round}");
    }
    // Let the prefix be removed.
    std::fs::set_permissions(
        s.path("html/locked"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
}
