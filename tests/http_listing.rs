use crate::support::{Server, free_port, http};

const NAMES: [&str; 6] = [
    "a <b>&\"c.txt",
    "sp ace%?#:.txt",
    "ünï cødé.txt",
    "plain.txt",
    ".hidden",
    "日本語.txt",
];

fn listing_server(format: &str) -> (Server, u16) {
    let port = free_port();
    let mut s = Server::new();
    std::fs::create_dir_all(s.path("html/list/sub dir")).expect("dirs");
    for n in NAMES {
        std::fs::write(s.path(&format!("html/list/{n}")), n).expect("file");
    }
    s.config(&format!(
        "worker_processes = 1\n[[server]]\nlisten = [\"127.0.0.1:{port}\"]\n[[server.location]]\nprefix = \"/list/\"\nautoindex = true\nautoindex_format = \"{format}\"\n"
    ));
    s.start(port);
    (s, port)
}

#[test]
fn html_listing_escapes_and_links_resolve() {
    let (_s, port) = listing_server("html");
    let r = http::get(port, "/list/").expect("listing");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let body = r.text();
    assert!(body.contains("<title>Index of /list/</title>"), "{body}");
    assert!(!body.contains(".hidden"), "dot files are not listed");
    let dir_pos = body.find("sub%20dir/").expect("dir listed");
    let file_pos = body.find("plain.txt").expect("file listed");
    assert!(dir_pos < file_pos, "directories first");
    assert!(body.contains(">a &lt;b&gt;&amp;&quot;c.txt</a>"), "{body}");
    assert!(body.contains(">ünï cødé.txt</a>"), "{body}");
    // Every link, resolved against the listing URL, fetches that file.
    for n in NAMES.iter().filter(|n| !n.starts_with('.')) {
        let href = body
            .split("<a href=\"")
            .skip(1)
            .map(|s| &s[..s.find('"').expect("quote")])
            .find(|h| {
                let decoded: Vec<u8> = percent_decode(h);
                decoded == n.as_bytes()
            })
            .unwrap_or_else(|| panic!("no link for {n}: {body}"));
        let r = http::get(port, &format!("/list/{href}")).expect("follow link");
        assert_eq!((r.status, r.text().as_str()), (200, *n), "{href}");
    }
    // Without the slash: redirected first.
    assert_eq!(http::get(port, "/list").expect("301").status, 301);
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("hex"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn json_listing() {
    let (_s, port) = listing_server("json");
    let r = http::get(port, "/list/").expect("listing");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.text();
    assert!(
        body.starts_with("[\n{ \"name\":\"sub dir\", \"type\":\"directory\", \"mtime\":\""),
        "{body}"
    );
    assert!(
        body.contains("{ \"name\":\"a <b>&\\\"c.txt\", \"type\":\"file\", \"mtime\":\""),
        "{body}"
    );
    assert!(body.contains("\"size\":12 }"), "{body}");
    assert!(body.ends_with("]"));
}

#[test]
fn listing_is_off_by_default() {
    let port = free_port();
    let mut s = Server::new();
    s.config(&crate::support::conf(&[port], 1, ""));
    s.start(port);
    assert_eq!(http::get(port, "/other/").expect("GET").status, 403);
}

/// A server with `top` lines, autoindex on, and an empty `html/list/`.
fn autoindex_server(top: &str) -> (Server, u16) {
    let port = free_port();
    let mut s = Server::new();
    std::fs::create_dir_all(s.path("html/list")).expect("dir");
    s.config(&format!(
        "worker_processes = 1\n{top}\n[[server]]\nlisten = [\"127.0.0.1:{port}\"]\nautoindex = true\n"
    ));
    s.start(port);
    (s, port)
}

/// True if the listing of `/list/` names `new.txt`.
fn lists_new_file(port: u16) -> bool {
    http::get(port, "/list/")
        .expect("listing")
        .text()
        .contains("new.txt")
}

#[test]
fn listings_are_fresh_by_default_and_cached_only_for_open_file_cache_valid() {
    let (s, port) = autoindex_server("");
    assert!(!lists_new_file(port));
    std::fs::write(s.path("html/list/new.txt"), "x").expect("new file");
    assert!(
        lists_new_file(port),
        "with open_file_cache_valid = 0 a new file shows at once"
    );

    let (s, port) = autoindex_server("open_file_cache_valid = \"4s\"");
    assert!(!lists_new_file(port));
    std::fs::write(s.path("html/list/new.txt"), "x").expect("new file");
    assert!(
        !lists_new_file(port),
        "within open_file_cache_valid the rendered listing is reused"
    );
    crate::support::wait_for_within(
        std::time::Duration::from_secs(15),
        "the listing to show the new file once open_file_cache_valid passed",
        || {
            let r = http::get(port, "/list/").ok()?;
            r.text().contains("new.txt").then_some(())
        },
    );
}
