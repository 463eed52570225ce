//! Bounded-time fuzzing of the parsers that face the network or the
//! operator: request-path normalising, Range, Accept-Encoding, Host,
//! the MOLTD handover value, the config loader and the chunked-body
//! decoder. Random inputs biased
//! toward the characters each parser cares about; any panic fails the run,
//! and each parser's invariants are checked on every output.
//!
//!     cargo bench --bench fuzz                # 10 s per target
//!     FUZZ_SECS=60 cargo bench --bench fuzz   # longer
//!
//! (cargo-fuzz needs a nightly toolchain, which this project does not
//! require; this harness is deterministic given FUZZ_SEED.)

use std::path::{Component, Path};
use std::time::{Duration, Instant};

use moltd::config::{self, Source};
use moltd::http::{path, precompressed, range, vhost};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A string of up to `max` pieces drawn from `alphabet` (whole tokens).
    fn string(&mut self, alphabet: &[&str], max: usize) -> String {
        let n = self.below(max + 1);
        (0..n)
            .map(|_| alphabet[self.below(alphabet.len())])
            .collect()
    }
}

fn run(name: &str, secs: Duration, rng: &mut Rng, mut one: impl FnMut(&mut Rng)) {
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < secs {
        for _ in 0..256 {
            one(rng);
            n += 1;
        }
    }
    println!("{name:<16} {n:>10} inputs, no panic, invariants held");
}

fn main() {
    let secs = Duration::from_secs(
        std::env::var("FUZZ_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10),
    );
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let mut rng = Rng(seed | 1);
    println!("fuzzing {secs:?} per target, seed {seed}");

    let path_alpha = [
        "/",
        "/",
        ".",
        "..",
        "%2e",
        "%2E",
        "%2f",
        "%2F",
        "%5c",
        "\\",
        "%00",
        "%",
        "%c0%ae",
        "%c0%af",
        "a",
        "b",
        "~",
        "%20",
        "?",
        "#",
        ";",
        "%25",
        "%e2%80%ae",
        "//",
        "./",
        "../",
    ];
    run("path", secs, &mut rng, |r| {
        let p = format!("/{}", r.string(&path_alpha, 24));
        if let Ok(rel) = path::normalize(&p) {
            for c in Path::new(&rel.relative).components() {
                assert!(
                    matches!(c, Component::Normal(_)),
                    "{p:?} -> {:?} leaves the root",
                    rel.relative
                );
            }
            assert!(!rel.relative.to_string_lossy().contains('\0'));
            assert!(rel.uri_path().starts_with('/'));
        }
    });

    let range_alpha = [
        "bytes=",
        "bytes=",
        "0",
        "1",
        "9",
        "99999999999999999999",
        "-",
        "-",
        ",",
        " ",
        "=",
        "items",
        "x",
    ];
    run("range", secs, &mut rng, |r| {
        let h = r.string(&range_alpha, 16);
        let len = r.next() % 2000;
        let max = r.below(5);
        if let range::Plan::Partial(parts) = range::plan(&h, len, max) {
            assert!(!parts.is_empty() && parts.len() <= max, "{h:?}");
            let total: u64 = parts.iter().map(|p| p.len()).sum();
            assert!(total <= len, "{h:?}: amplification");
            for p in parts {
                assert!(p.start <= p.end && p.end < len, "{h:?} len {len}: {p:?}");
            }
        }
    });

    let ae_alpha = [
        "gzip", "br", "x-gzip", "*", ";", "q=", "0", "1", ".", "5", ",", " ", "Q=", "deflate",
        "-1", "e9",
    ];
    run("accept-encoding", secs, &mut rng, |r| {
        let h = r.string(&ae_alpha, 16);
        for coding in ["gzip", "br"] {
            let q = precompressed::quality(&h, coding);
            assert!((0.0..=1.0).contains(&q), "{h:?}: q={q}");
        }
    });

    let host_alpha = [
        "a", "B", ".", "-", ":", "80", "[", "]", "::1", "/", " ", "%", "é", "*",
    ];
    run("host", secs, &mut rng, |r| {
        let h = r.string(&host_alpha, 12);
        if let Some(n) = vhost::normalize_host(&h) {
            assert!(
                !n.is_empty() && !n.contains('/') && n == n.to_ascii_lowercase(),
                "{h:?} -> {n:?}"
            );
        }
    });

    let moltd_alpha = ["3", "4", "99", ";", ":", "abc", "-1", "", "2147483648", " "];
    run("handover", secs, &mut rng, |r| {
        let v = r.string(&moltd_alpha, 10);
        let (fds, _) = moltd::master::upgrade::parse_handover(&v);
        let mut sorted = fds.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), fds.len(), "{v:?}: duplicates");
    });

    let prefix = std::env::temp_dir().join(format!("moltd-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(prefix.join("html"));
    let cfg_alpha = [
        "[[server]]\n",
        "listen = [\"127.0.0.1:8080\"]\n",
        "listen = \"80\"\n",
        "root = \"html\"\n",
        "worker_processes = ",
        "\"auto\"",
        "0",
        "1024",
        "99999",
        "\n",
        "expires = \"7d\"\n",
        "[[server.location]]\n",
        "prefix = \"/a/\"\n",
        "exact = \"/b\"\n",
        "error_page = { \"404\" = \"/x\" }\n",
        "add_header = { X = \"y\" }\n",
        "max_ranges = -1\n",
        "=",
        "\"",
        "[",
        "]",
        "{",
        "}",
        "#",
        "large_client_header_buffers = \"4 8k\"\n",
        "worker_shutdown_timeout = \"1x\"\n",
        "daemon = true\n",
    ];
    run("config", secs, &mut rng, |r| {
        let text = r.string(&cfg_alpha, 14);
        match config::parse(&text, Source::File("fuzz.toml".into()), &prefix) {
            Ok(c) => assert!(!c.servers.is_empty() && c.worker_processes >= 1),
            Err(e) => {
                let shown = e.to_string();
                assert!(
                    shown.contains("fuzz.toml"),
                    "{text:?}: error without file: {shown}"
                );
            }
        }
    });
    let _ = std::fs::remove_dir_all(&prefix);

    let chunk_alpha = [
        "0",
        "1",
        "5",
        "a",
        "F",
        "ffffffffffffffff",
        "10000000000000000",
        "\r\n",
        "\r\n",
        "\n",
        "\r",
        ";",
        ";ext=1",
        " ",
        "\t",
        "-",
        "+",
        "x",
        "hello",
        "abc",
        "X-T: 1",
        ":",
        "\r\n\r\n",
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    run("chunked", secs, &mut rng, |r| {
        let input = r.string(&chunk_alpha, 16);
        let step = 1 + r.below(8);
        let (res, left, fed) = rt.block_on(chunked(input.as_bytes(), step));
        // Never more consumed than was given, and never a success that
        // left a body byte to be read as the next request's head.
        assert!(left <= fed, "{input:?}");
        if res.is_ok() {
            assert!(
                input.contains('0'),
                "{input:?}: a body ended without a last chunk"
            );
        }
    });
}

/// Feeds `input` to the chunked-body decoder `step` bytes at a time;
/// returns its verdict, the bytes it left unconsumed, and the bytes fed.
async fn chunked(input: &[u8], step: usize) -> (Result<(), String>, usize, usize) {
    use moltd::worker::http1::request_body::{Fill, Framing, Source};
    struct Pieces {
        rest: Vec<u8>,
        step: usize,
        fed: usize,
    }
    impl Fill for Pieces {
        async fn fill(&mut self, buf: &mut bytes::BytesMut) -> std::io::Result<usize> {
            let n = self.step.min(self.rest.len());
            buf.extend_from_slice(&self.rest[..n]);
            self.rest.drain(..n);
            self.fed += n;
            Ok(n)
        }
    }
    let mut buf = bytes::BytesMut::new();
    let mut src = Source {
        buf: &mut buf,
        fill: Pieces {
            rest: input.to_vec(),
            step,
            fed: 0,
        },
    };
    let res = src
        .discard(Framing::Chunked, 1 << 20, 4096)
        .await
        .map_err(|e| format!("{e:?}"));
    let fed = src.fill.fed;
    (res, buf.len(), fed)
}
