//! An attacker who can write inside the document root: symlinks renamed
//! over checked files while requests run, links out of the root in
//! listings, index files and error pages, files rewritten in place within
//! one timestamp tick, and files deleted while a worker holds them open.

use std::os::unix::fs::symlink;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::{Server, free_port, http, procs, wait_for_within};

fn serve_with(s: &mut Server, server: &str, top: &str) -> u16 {
    let port = free_port();
    s.config(&format!(
        "{top}\nworker_processes = 1\n[[server]]\nlisten = [\"127.0.0.1:{port}\"]\n{server}\n"
    ));
    s.start(port);
    port
}

/// Swaps `name` between a regular file holding `inside` and a symlink to
/// `outside`, by rename (atomic, as an attacker would), until `stop`.
fn swapper(
    dir: std::path::PathBuf,
    name: &'static str,
    inside: Vec<u8>,
    outside: std::path::PathBuf,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut swaps = 0;
        let file_tmp = dir.join(format!(".{name}.file"));
        let link_tmp = dir.join(format!(".{name}.link"));
        while !stop.load(Ordering::Relaxed) {
            let _ = std::fs::remove_file(&link_tmp);
            if symlink(&outside, &link_tmp).is_ok()
                && std::fs::rename(&link_tmp, dir.join(name)).is_ok()
            {
                swaps += 1;
            }
            if std::fs::write(&file_tmp, &inside).is_ok()
                && std::fs::rename(&file_tmp, dir.join(name)).is_ok()
            {
                swaps += 1;
            }
        }
        swaps
    })
}

#[test]
fn a_symlink_renamed_over_a_checked_file_never_leaks_the_outside() {
    let mut s = Server::new();
    let secret_small = b"OUTSIDE-SECRET".to_vec();
    let secret_large: Vec<u8> = b"OUTSIDE-SECRET"
        .iter()
        .copied()
        .cycle()
        .take(64 * 1024)
        .collect();
    std::fs::write(s.path("secret-small"), &secret_small).expect("secret");
    std::fs::write(s.path("secret-large"), &secret_large).expect("secret");
    std::fs::write(s.path("html/small.txt"), b"inside").expect("small");
    std::fs::write(s.path("html/large.bin"), vec![b'i'; 64 * 1024]).expect("large");
    let port = serve_with(&mut s, "disable_symlinks = true", "");
    let stop = Arc::new(AtomicBool::new(false));
    let swappers = [
        swapper(
            s.path("html"),
            "small.txt",
            b"inside".to_vec(),
            s.path("secret-small"),
            Arc::clone(&stop),
        ),
        swapper(
            s.path("html"),
            "large.bin",
            vec![b'i'; 64 * 1024],
            s.path("secret-large"),
            Arc::clone(&stop),
        ),
    ];
    let clients: Vec<_> = ["/small.txt", "/large.bin"]
        .into_iter()
        .map(|path| {
            std::thread::spawn(move || {
                let mut c = http::KeepAlive::new(port);
                let (mut ok, mut refused, mut leaked) = (0, 0, 0);
                // At least 3 s, and until both states were seen (a loaded
                // machine may schedule the swapper rarely), at most 20 s.
                let start = Instant::now();
                while start.elapsed() < Duration::from_secs(3)
                    || (ok == 0 || refused == 0) && start.elapsed() < Duration::from_secs(20)
                {
                    match c.get(path) {
                        Ok(r) if r.body.windows(14).any(|w| w == b"OUTSIDE-SECRET") => leaked += 1,
                        Ok(r) if r.status == 200 => ok += 1,
                        Ok(_) => refused += 1,
                        Err(_) => {}
                    }
                }
                (path, ok, refused, leaked)
            })
        })
        .collect();
    let results: Vec<_> = clients
        .into_iter()
        .map(|c| c.join().expect("client"))
        .collect();
    stop.store(true, Ordering::Relaxed);
    let swaps: usize = swappers
        .into_iter()
        .map(|t| t.join().expect("swapper"))
        .sum();
    assert!(swaps > 100, "the race ran: {swaps} swaps");
    for (path, ok, refused, leaked) in results {
        assert_eq!(
            leaked, 0,
            "{path}: {leaked} responses carried the outside file ({ok} ok, {refused} refused)"
        );
        assert!(
            ok > 0 && refused > 0,
            "{path}: both states were seen ({ok} ok, {refused} refused)"
        );
    }
}

#[test]
fn links_out_of_the_root_are_refused_for_index_files_error_pages_and_listings() {
    let mut s = Server::new();
    std::fs::write(s.path("secret.html"), "OUTSIDE-SECRET").expect("secret");
    std::fs::create_dir_all(s.path("html/idx")).expect("dir");
    std::fs::create_dir_all(s.path("html/list")).expect("dir");
    symlink(s.path("secret.html"), s.path("html/idx/index.html")).expect("link");
    symlink(s.path("secret.html"), s.path("html/err.html")).expect("link");
    symlink(s.path("secret.html"), s.path("html/list/shadow-link")).expect("link");
    symlink("../index.html", s.path("html/list/inner-link")).expect("link");
    std::fs::write(s.path("html/list/plain.txt"), "p").expect("plain");
    let port = serve_with(
        &mut s,
        "disable_symlinks = true\nautoindex = true\nerror_page = { \"404\" = \"/err.html\" }",
        "",
    );
    // The index file is a link out: refused (403, as nginx), not served
    // and not replaced by a listing.
    let r = http::get(port, "/idx/").expect("GET");
    assert_eq!(r.status, 403);
    assert!(!r.text().contains("OUTSIDE"), "index: {}", r.text());
    let r = http::get(port, "/missing").expect("GET");
    assert_eq!(r.status, 404);
    assert!(!r.text().contains("OUTSIDE"), "error page: {}", r.text());
    assert!(
        r.text().contains("404 Not Found"),
        "the default page instead"
    );
    let r = http::get(port, "/list/").expect("listing");
    assert_eq!(r.status, 200);
    let t = r.text();
    assert!(t.contains("inner-link") && t.contains("plain.txt"), "{t}");
    assert!(
        !t.contains("shadow-link"),
        "a link the policy refuses is not listed: {t}"
    );
    assert_eq!(
        http::get(port, "/list/shadow-link").expect("GET").status,
        403
    );
    assert_eq!(
        http::get(port, "/list/inner-link").expect("GET").status,
        200
    );
}

/// A loop-mounted ext2 file system with 128-byte inodes: timestamps in
/// whole seconds. Unmounted on drop.
struct CoarseFs {
    dir: std::path::PathBuf,
}

impl CoarseFs {
    fn mount(s: &Server) -> Result<Self, String> {
        let img = s.path("coarse.img");
        let dir = s.path("coarse");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let f = std::fs::File::create(&img).map_err(|e| e.to_string())?;
        f.set_len(8 << 20).map_err(|e| e.to_string())?;
        let run = |cmd: &str, args: &[&std::ffi::OsStr]| -> Result<(), String> {
            let out = std::process::Command::new(cmd)
                .args(args)
                .output()
                .map_err(|e| format!("{cmd}: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{cmd}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        run(
            "mkfs.ext2",
            &[
                "-q".as_ref(),
                "-F".as_ref(),
                "-I".as_ref(),
                "128".as_ref(),
                img.as_os_str(),
            ],
        )?;
        run(
            "mount",
            &[
                "-o".as_ref(),
                "loop".as_ref(),
                img.as_os_str(),
                dir.as_os_str(),
            ],
        )?;
        Ok(CoarseFs { dir })
    }
}

impl Drop for CoarseFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
    }
}

#[test]
fn a_same_size_rewrite_within_one_second_on_a_coarse_clock_is_served_new() {
    let mut s = Server::new();
    let fs = match CoarseFs::mount(&s) {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!(
                "SKIPPED a_same_size_rewrite_within_one_second_on_a_coarse_clock_is_served_new: cannot mount an ext2 image here ({why})"
            );
            return;
        }
    };
    let root = fs.dir.join("html");
    std::fs::create_dir_all(&root).expect("root");
    std::fs::write(root.join("index.html"), "coarse\n").expect("index");
    let port = serve_with(
        &mut s,
        &format!("root = \"{}\"", root.display()),
        "open_file_cache_valid = \"0\"",
    );
    let p = root.join("nine.txt");
    let mtime = |p: &std::path::Path| {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(p).expect("stat");
        (m.mtime(), m.mtime_nsec(), m.ctime())
    };
    // Rewrite within the same second; retry when a second boundary fell
    // between the two writes.
    for attempt in 0..20 {
        let (a, b) = if attempt % 2 == 0 {
            (b"AAAAAAAAA", b"BBBBBBBBB")
        } else {
            (b"BBBBBBBBB", b"AAAAAAAAA")
        };
        std::fs::write(&p, a).expect("write");
        let before = mtime(&p);
        assert_eq!(before.1, 0, "this file system keeps whole seconds");
        let r = http::get(port, "/nine.txt").expect("GET");
        assert_eq!(r.body, a, "first version");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .and_then(|mut f| {
                use std::io::Write;
                f.write_all(b)
            })
            .expect("rewrite in place");
        if mtime(&p) != before {
            continue;
        }
        for _ in 0..3 {
            let r = http::get(port, "/nine.txt").expect("GET");
            assert_eq!(
                r.body, b,
                "the rewrite within the same second is served, not the old bytes"
            );
        }
        return;
    }
    panic!("could not rewrite within one second in 20 attempts");
}

#[test]
fn an_idle_worker_lets_go_of_a_deleted_file() {
    let mut s = Server::new();
    let p = s.path("html/big.bin");
    std::fs::write(&p, vec![b'x'; 200 * 1024]).expect("big");
    let port = serve_with(&mut s, "", "");
    let master = s.pid();
    let worker = s.wait_workers(master, 1)[0];
    let holds = |worker| {
        std::fs::read_dir(format!("/proc/{worker}/fd"))
            .map(|d| {
                d.flatten().any(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|l| l.to_string_lossy().contains("html/big.bin"))
                })
            })
            .unwrap_or(false)
    };
    // Only a file that has settled (timestamps 2 s old) keeps its
    // descriptor open in the cache.
    wait_for_within(
        Duration::from_secs(10),
        "the worker to keep big.bin open",
        || {
            let r = http::get(port, "/big.bin").ok()?;
            assert_eq!(r.status, 200);
            if holds(worker) {
                Some(())
            } else {
                std::thread::sleep(Duration::from_millis(300));
                None
            }
        },
    );
    std::fs::remove_file(&p).expect("rm");
    // No request comes: the worker's timer must close it.
    wait_for_within(
        Duration::from_secs(8),
        "the deleted file's descriptor to close",
        || (!holds(worker)).then_some(()),
    );
    assert!(procs::alive(worker));
}

#[test]
fn a_lookup_cached_under_one_root_is_not_trusted_under_another() {
    let mut s = Server::new();
    std::fs::create_dir_all(s.path("html/site")).expect("site");
    std::fs::create_dir_all(s.path("html/private")).expect("private");
    std::fs::write(s.path("html/site/index.html"), "site").expect("index");
    std::fs::write(s.path("html/private/secret.txt"), "OUTSIDE-SECRET").expect("secret");
    // Inside `html`, outside `html/site`.
    symlink("../private/secret.txt", s.path("html/site/leak.txt")).expect("link");
    let (a, b) = (free_port(), free_port());
    s.config(&format!(
        "open_file_cache_valid = \"60s\"\nworker_processes = 1\n\
         [[server]]\nlisten = [\"127.0.0.1:{a}\"]\nroot = \"html/site\"\ndisable_symlinks = true\n\
         [[server]]\nlisten = [\"127.0.0.1:{b}\"]\nroot = \"html\"\nautoindex = true\n\
         [[server.location]]\nprefix = \"/site/\"\ndisable_symlinks = true\n"
    ));
    s.start(a);
    assert_eq!(http::get(a, "/leak.txt").expect("GET").status, 403);
    // Under b's root the same file is inside: served, and (once it has
    // settled, 2 s after it was written) its body cached.
    let secret = s.path("html/private/secret.txt");
    crate::support::wait_for("the secret to settle", || {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(&secret).ok()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs() as i64;
        (now - m.ctime() >= 3).then_some(())
    });
    assert_eq!(http::get(b, "/site/leak.txt").expect("GET").status, 200);
    assert_eq!(http::get(b, "/site/leak.txt").expect("GET").status, 200);
    let r = http::get(a, "/leak.txt").expect("GET");
    assert_eq!(r.status, 403, "a's root does not contain it: {}", r.text());
    assert!(!r.text().contains("SECRET"));
}

#[test]
fn a_listing_cached_for_a_lax_server_is_not_shown_by_a_strict_one() {
    let mut s = Server::new();
    std::fs::create_dir_all(s.path("html/d")).expect("d");
    std::fs::write(s.path("secret.txt"), "OUTSIDE").expect("secret");
    symlink(s.path("secret.txt"), s.path("html/d/shadow-link")).expect("link");
    std::fs::write(s.path("html/d/plain.txt"), "p").expect("plain");
    let (lax, strict) = (free_port(), free_port());
    s.config(&format!(
        "open_file_cache_valid = \"60s\"\nworker_processes = 1\n\
         [[server]]\nlisten = [\"127.0.0.1:{lax}\"]\nautoindex = true\n\
         [[server]]\nlisten = [\"127.0.0.1:{strict}\"]\nautoindex = true\ndisable_symlinks = true\n"
    ));
    s.start(lax);
    assert!(
        http::get(lax, "/d/")
            .expect("GET")
            .text()
            .contains("shadow-link")
    );
    let t = http::get(strict, "/d/").expect("GET").text();
    assert!(t.contains("plain.txt") && !t.contains("shadow-link"), "{t}");
}
