//! Micro-benchmarks of the per-request pure code: path normalising, Range
//! parsing, conditional evaluation, the access-log line, and a whole
//! `http::handle` (routing, stat, headers) for a small file, measured
//! in-process with no sockets. Prints nanoseconds per call.
//!
//!     cargo bench --bench micro

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hyper::{HeaderMap, Method, Request};
use moltd::config::{self, Source};
use moltd::http::{self, conditional, path, range, replay};
use moltd::log::access;

fn bench(name: &str, mut f: impl FnMut()) {
    // Warm up, then size the batch to run about half a second.
    for _ in 0..1000 {
        f();
    }
    let mut n: u64 = 1000;
    loop {
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        let took = start.elapsed();
        if took > Duration::from_millis(500) {
            println!(
                "{name:<32} {:>10.1} ns/iter",
                took.as_nanos() as f64 / n as f64
            );
            return;
        }
        n *= 2;
    }
}

fn main() {
    bench("path::normalize", || {
        black_box(path::normalize(black_box("/assets/css/../img/./logo%20big.png")).ok());
    });
    bench("range::plan (two ranges)", || {
        black_box(range::plan(black_box("bytes=0-499, 1000-"), 10_000, 16));
    });
    let mut h = HeaderMap::new();
    h.insert(
        "if-none-match",
        "\"5f1-2a\", W/\"abc-1\"".parse().expect("value"),
    );
    let v = conditional::Validators {
        etag: "\"abc-1\"",
        last_modified: Some(SystemTime::now()),
    };
    bench("conditional::evaluate", || {
        black_box(conditional::evaluate(&Method::GET, black_box(&h), &v));
    });
    let e = access::Entry {
        remote: "127.0.0.1".parse().expect("ip"),
        time: SystemTime::now(),
        request: Some(("GET", "/index.html", "HTTP/1.1")),
        status: 200,
        bytes: 612,
        referer: None,
        user_agent: Some(b"wrk"),
    };
    let mut line = Vec::with_capacity(256);
    bench("access::write_combined", || {
        line.clear();
        access::write_combined(&mut line, black_box(&e));
        black_box(&line);
    });

    let prefix = std::env::temp_dir().join(format!("moltd-micro-{}", std::process::id()));
    std::fs::create_dir_all(prefix.join("html")).expect("prefix");
    std::fs::write(prefix.join("html/index.html"), vec![b'x'; 600]).expect("index");
    let cfg = config::parse(
        "[[server]]\nlisten = [\"127.0.0.1:8080\"]\n",
        Source::File("micro.toml".into()),
        &prefix,
    )
    .expect("config");
    let site = http::Site::new(Arc::new(cfg));
    let listen = "127.0.0.1:8080".parse().expect("addr");
    let req = Request::builder()
        .uri("/index.html")
        .header("host", "localhost")
        .body(())
        .expect("request");
    bench("http::handle 600 B file", || {
        black_box(http::handle(
            &site,
            listen,
            std::net::IpAddr::from([127, 0, 0, 1]),
            black_box(&req),
            http::Lifecycle::SERVING,
        ));
    });
    for valid in ["0", "60s"] {
        bench_replay(&prefix, valid);
    }
    let _ = std::fs::remove_dir_all(&prefix);
}

/// `replay::plan` of a request whose head is kept: what a keep-alive
/// request for a small file costs before its write (the route, the cache
/// lookup and, with `open_file_cache_valid = "0"`, the stat).
fn bench_replay(prefix: &std::path::Path, valid: &str) {
    let cfg = config::parse(
        &format!(
            "open_file_cache_valid = \"{valid}\"\n[[server]]\nlisten = [\"127.0.0.1:8080\"]\n"
        ),
        Source::File("micro.toml".into()),
        prefix,
    )
    .expect("config");
    let site = http::Site::new(Arc::new(cfg));
    let listen = "127.0.0.1:8080".parse().expect("addr");
    let remote = std::net::IpAddr::from([127, 0, 0, 1]);
    let req = Request::builder()
        .uri("/index.html")
        .header("host", "localhost")
        .body(())
        .expect("request");
    let conn = replay::Conn {
        version: hyper::Version::HTTP_11,
        keep_alive: true,
    };
    // A body is kept only once the file has settled.
    std::thread::sleep(Duration::from_millis(2100 * u64::from(valid == "0")));
    let plan = || replay::plan(&site, listen, remote, &req, conn, http::Lifecycle::SERVING);
    if let replay::Plan::Fill(out, slot) = plan() {
        slot.keep(
            &site,
            &out.response,
            bytes::Bytes::from_static(b"HTTP/1.1 200 OK\r\n"),
            0,
        );
    }
    assert!(matches!(plan(), replay::Plan::Replay(_)), "head kept");
    bench(&format!("replay::plan (valid {valid})"), || {
        black_box(plan());
    });
}
