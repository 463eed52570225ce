//! The cache's consistency rules, on real files in a temp directory.

use super::*;
use crate::scratch::Scratch;
use std::time::SystemTime;

pub(super) fn cache(valid: Duration) -> FileCache {
    let mut c = FileCache::new(Limits {
        entries: 4,
        bytes: 1024,
        max_file: 512,
        valid,
    });
    c.settle = Duration::ZERO;
    c
}

pub(super) fn t(p: &Path) -> Target<'static> {
    Target::new(Path::new("/"), p.strip_prefix("/").unwrap_or(p), false)
}

#[test]
fn a_file_that_has_not_settled_is_read_fresh_and_not_kept() {
    let dir = Scratch::new("cache-s", &[]);
    let p = dir.join("fresh.txt");
    std::fs::write(&p, "fresh").expect("write");
    let mut c = cache(Duration::ZERO);
    c.settle = SETTLE;
    let m = c.stat(&t(&p)).expect("stat");
    assert_eq!(c.body(&t(&p), &m).as_deref(), Some(&b"fresh"[..]));
    let (_f, _) = c.open(&t(&p), &m).expect("open");
    {
        let inner = c.inner.lock().expect("lock");
        assert_eq!(inner.bytes, 0, "no body kept for a file written just now");
        assert_eq!(inner.fds, 0, "no descriptor kept either");
    }
    // Once both timestamps are old enough, it is kept.
    let now = SystemTime::now();
    assert!(!m.settled(now, SETTLE));
    assert!(m.settled(now + SETTLE, SETTLE));
}

#[test]
fn a_changed_file_is_never_served_stale() {
    let dir = Scratch::new("cache", &[]);
    let p = dir.join("f.txt");
    std::fs::write(&p, "one").expect("write");
    let c = cache(Duration::ZERO);
    let m = c.stat(&t(&p)).expect("stat");
    assert_eq!(c.body(&t(&p), &m).as_deref(), Some(&b"one"[..]));
    // Same size, new content, written in place.
    std::fs::write(&p, "two").expect("rewrite");
    let m2 = c.stat(&t(&p)).expect("stat");
    assert_eq!(c.body(&t(&p), &m2).as_deref(), Some(&b"two"[..]));
    // Replaced by rename: new inode.
    std::fs::write(dir.join("g.tmp"), "three").expect("write");
    std::fs::rename(dir.join("g.tmp"), &p).expect("rename");
    let m3 = c.stat(&t(&p)).expect("stat");
    assert_eq!(c.body(&t(&p), &m3).as_deref(), Some(&b"three"[..]));
    // A stale meta never gets a body.
    assert_eq!(c.body(&t(&p), &m2), None);
}

#[test]
fn bounded() {
    let dir = Scratch::new("cache-b", &[]);
    let c = cache(Duration::ZERO);
    for i in 0..20 {
        let p = dir.join(format!("{i}"));
        std::fs::write(&p, vec![b'x'; 400]).expect("write");
        let m = c.stat(&t(&p)).expect("stat");
        assert!(c.body(&t(&p), &m).is_some());
        let inner = c.inner.lock().expect("lock");
        assert!(inner.map.len() <= 4 && inner.bytes <= 1024);
        drop(inner);
        check_counts(&c);
    }
    let big = dir.join("big");
    std::fs::write(&big, vec![b'x'; 600]).expect("write");
    let m = c.stat(&t(&big)).expect("stat");
    assert_eq!(c.body(&t(&big), &m), None, "over max_file: streamed");
}

#[test]
fn a_large_file_is_opened_once_per_version_and_never_stale() {
    use std::io::Read as _;
    let dir = Scratch::new("cache-o", &[]);
    let p = dir.join("big");
    let read = |f: &File| {
        let mut s = String::new();
        (&*f).read_to_string(&mut s).expect("read");
        s
    };
    std::fs::write(&p, "a".repeat(600)).expect("write");
    let c = cache(Duration::ZERO);
    let m = c.stat(&t(&p)).expect("stat");
    let (f1, m1) = c.open(&t(&p), &m).expect("open");
    let (f2, _) = c.open(&t(&p), &m).expect("open again");
    assert_eq!(m1, m);
    assert!(Arc::ptr_eq(&f1, &f2), "the same open file, not a new open");
    // Replaced by rename: the next stat sees the new inode, and the
    // open file of the old one is let go.
    std::fs::write(dir.join("big.tmp"), "b".repeat(700)).expect("write");
    std::fs::rename(dir.join("big.tmp"), &p).expect("rename");
    let m3 = c.stat(&t(&p)).expect("stat");
    let (f3, m3o) = c.open(&t(&p), &m3).expect("open new");
    assert!(!Arc::ptr_eq(&f1, &f3));
    assert_eq!(m3o.len, 700);
    assert_eq!(read(&f3), "b".repeat(700));
    assert_eq!(c.inner.lock().expect("lock").fds, 1);
    // A stale meta never gets the cached file.
    let (f4, m4) = c.open(&t(&p), &m).expect("open with stale meta");
    assert!(!Arc::ptr_eq(&f3, &f4));
    assert_ne!(m4, m, "the caller sees the file's real metadata");
    // Deleted while nobody asks for it: the timer's sweep lets go.
    std::fs::write(dir.join("big2"), "c".repeat(600)).expect("write");
    let m5 = c.stat(&t(&dir.join("big2"))).expect("stat");
    let _ = c.open(&t(&dir.join("big2")), &m5).expect("open");
    assert_eq!(c.inner.lock().expect("lock").fds, 2);
    std::fs::remove_file(dir.join("big2")).expect("rm");
    c.sweep();
    assert_eq!(
        c.inner.lock().expect("lock").fds,
        1,
        "only the deleted one closed"
    );
    // Deleted: the next stat fails and the open file is let go.
    std::fs::remove_file(&p).expect("rm");
    assert!(c.stat(&t(&p)).is_err());
    assert_eq!(c.inner.lock().expect("lock").fds, 0);
}

/// `inner.bytes` and `inner.fds` are what the entries hold, within bounds.
pub(super) fn check_counts(c: &FileCache) {
    let inner = c.inner.lock().expect("lock");
    let bytes: u64 = inner
        .map
        .values()
        .map(|e| e.body.as_ref().map_or(0, |b| b.len() as u64) + e.encoded_bytes() + e.head_bytes())
        .sum();
    let fds = inner.map.values().filter(|e| e.file.is_some()).count();
    assert_eq!((inner.bytes, inner.fds), (bytes, fds), "counts drifted");
    assert!(inner.map.len() <= c.limits.entries && inner.bytes <= c.limits.bytes);
}

#[test]
fn the_byte_bound_holds_with_bodies_of_any_size() {
    let dir = Scratch::new("cache-y", &[]);
    let mut c = cache(Duration::ZERO);
    c.limits.entries = 100;
    for i in 0..60 {
        let p = dir.join(format!("{i}"));
        std::fs::write(&p, vec![b'y'; 37 * (i % 14) + 1]).expect("write");
        let m = c.stat(&t(&p)).expect("stat");
        assert!(c.body(&t(&p), &m).is_some());
        check_counts(&c);
    }
    // A body over the whole byte bound is served, never kept.
    c.limits.max_file = 4096;
    let big = dir.join("big");
    std::fs::write(&big, vec![b'y'; 2000]).expect("write");
    let m = c.stat(&t(&big)).expect("stat");
    assert_eq!(c.body(&t(&big), &m).map(|b| b.len()), Some(2000));
    check_counts(&c);
}

#[test]
fn a_file_in_use_keeps_its_body_while_others_pass_through() {
    let dir = Scratch::new("cache-h", &[]);
    let c = cache(Duration::ZERO);
    let hot = dir.join("hot");
    std::fs::write(&hot, "hot").expect("write");
    let m = c.stat(&t(&hot)).expect("stat");
    let first = c.body(&t(&hot), &m).expect("body");
    for i in 0..50 {
        let p = dir.join(format!("cold{i}"));
        std::fs::write(&p, vec![b'c'; 300]).expect("write");
        let mc = c.stat(&t(&p)).expect("stat");
        assert!(c.body(&t(&p), &mc).is_some());
        check_counts(&c);
        // Each request for the hot file finds the body it was read into.
        let m = c.stat(&t(&hot)).expect("stat");
        let again = c.body(&t(&hot), &m).expect("body");
        assert_eq!(again.as_ptr(), first.as_ptr(), "hot body read again at {i}");
    }
}

#[test]
fn compressed_forms_are_counted_dropped_with_their_version_and_kept_only_settled() {
    use crate::http::negotiate::Coding;
    let dir = Scratch::new("cache-enc", &[]);
    let p = dir.join("app.js");
    std::fs::write(&p, "one").expect("write");
    let form = |body: &'static [u8]| Encoded {
        coding: Coding::Gzip,
        level: 1,
        body: Some(Bytes::from_static(body)),
        etag: HeaderValue::from_static("\"x-gzip\""),
    };
    let bytes = |c: &FileCache| c.inner.lock().expect("lock").bytes;
    // Written just now: not kept.
    let mut c = cache(Duration::ZERO);
    c.settle = SETTLE;
    let m = c.stat(&t(&p)).expect("stat");
    c.keep_encoded(&p, &m, &form(b"zz"));
    assert!(c.encoded(&p, &m, Coding::Gzip, 1).is_none());
    assert_eq!(bytes(&c), 0);
    // Settled: kept once, per coding and level, and counted.
    let c = cache(Duration::ZERO);
    let m = c.stat(&t(&p)).expect("stat");
    c.keep_encoded(&p, &m, &form(b"zz"));
    c.keep_encoded(&p, &m, &form(b"zz"));
    assert_eq!(bytes(&c), 2);
    assert!(c.encoded(&p, &m, Coding::Gzip, 1).is_some());
    assert!(c.encoded(&p, &m, Coding::Gzip, 9).is_none());
    assert!(c.encoded(&p, &m, Coding::Br, 1).is_none());
    // Rewritten: the old form is gone with its bytes, never served.
    std::fs::write(&p, "two").expect("rewrite");
    let m2 = c.stat(&t(&p)).expect("stat");
    assert!(c.encoded(&p, &m2, Coding::Gzip, 1).is_none());
    assert!(c.encoded(&p, &m, Coding::Gzip, 1).is_none());
    assert_eq!(bytes(&c), 0);
    // A form for an older version than the entry's is not kept.
    c.keep_encoded(&p, &m, &form(b"zz"));
    assert_eq!(bytes(&c), 0);
    // Too large for the cache (1024 bytes): not kept.
    c.keep_encoded(&p, &m2, &form(&[0; 2000]));
    assert_eq!(bytes(&c), 0);
    // Evicting the entry gives its bytes back.
    c.keep_encoded(&p, &m2, &form(b"zzz"));
    assert_eq!(bytes(&c), 3);
    for i in 0..20 {
        let q = dir.join(format!("other-{i}"));
        std::fs::write(&q, "x").expect("write");
        c.stat(&t(&q)).expect("stat");
    }
    assert!(c.encoded(&p, &m2, Coding::Gzip, 1).is_none());
    assert_eq!(bytes(&c), 0);
    check_counts(&c);
}

#[test]
fn heads_are_kept_per_key_counted_and_dropped_with_their_version() {
    let dir = Scratch::new("cache-head", &[]);
    let p = dir.join("page.html");
    std::fs::write(&p, "one").expect("write");
    let key = |flags| HeadKey { settings: 1, flags };
    let head = |flags, text: &'static str, any_encoding| Head {
        key: key(flags),
        bytes: Bytes::from_static(text.as_bytes()),
        date_at: 0,
        any_encoding,
    };
    let bytes = |c: &FileCache| c.inner.lock().expect("lock").bytes;
    let c = cache(Duration::ZERO);
    let m = c.stat(&t(&p)).expect("stat");
    // Not without the bytes a replay sends after it.
    c.keep_head(&p, &m, head(0, "HTTP/1.1 200 OK\r\n\r\n", false));
    assert!(c.head(&p, &m, key(0), false).is_none());
    assert_eq!(bytes(&c), 0);
    assert_eq!(c.body(&t(&p), &m).as_deref(), Some(&b"one"[..]));
    c.keep_head(&p, &m, head(0, "HTTP/1.1 200 OK\r\n\r\n", false));
    c.keep_head(&p, &m, head(1, "HEAD", true));
    assert_eq!(bytes(&c), 3 + 23);
    // The plan's lookup: the version and its head in one look.
    let (m1, got) = c.stat_head(&t(&p), key(1), true).expect("stat_head");
    assert_eq!(m1, m);
    assert_eq!(got.expect("head").body.as_deref(), Some(&b"one"[..]));
    // Per key; one that varies by Accept-Encoding answers only without.
    let got = c.head(&p, &m, key(0), false).expect("kept");
    assert_eq!(&got.head.bytes[..], b"HTTP/1.1 200 OK\r\n\r\n");
    assert!(c.head(&p, &m, key(0), true).is_none());
    assert!(c.head(&p, &m, key(1), true).is_some());
    assert!(c.head(&p, &m, key(2), false).is_none());
    // Kept again under the same key: replaced, not added.
    c.keep_head(&p, &m, head(1, "HEAD2", true));
    assert_eq!(bytes(&c), 3 + 24);
    // Bounded per version: the oldest goes.
    for f in 2..12 {
        c.keep_head(&p, &m, head(f, "x", true));
    }
    assert!(c.head(&p, &m, key(0), false).is_none());
    assert!(c.head(&p, &m, key(11), false).is_some());
    check_counts(&c);
    // Rewritten: every head of the old version goes, with its bytes, and
    // one made for the old version is not kept for the new.
    std::fs::write(&p, "two").expect("rewrite");
    let m2 = c.stat(&t(&p)).expect("stat");
    assert!(c.head(&p, &m2, key(11), false).is_none());
    assert!(c.head(&p, &m, key(11), false).is_none());
    assert_eq!(bytes(&c), 0);
    c.keep_head(&p, &m, head(0, "old", true));
    assert_eq!(bytes(&c), 0);
    check_counts(&c);
}

#[test]
fn stat_head_finds_the_version_and_its_head_in_one_lookup() {
    let dir = Scratch::new("cache-sh", &[]);
    let p = dir.join("page.html");
    std::fs::write(&p, "one").expect("write");
    let key = HeadKey {
        settings: 1,
        flags: 0,
    };
    let head = Head {
        key,
        bytes: Bytes::from_static(b"HTTP/1.1 200 OK\r\n\r\n"),
        date_at: 0,
        any_encoding: false,
    };
    let c = cache(Duration::ZERO);
    // A version seen for the first time has no head yet.
    let (m, none) = c.stat_head(&t(&p), key, false).expect("stat");
    assert!(none.is_none());
    assert_eq!(m, c.stat(&t(&p)).expect("stat"));
    // A head is kept only beside the body a replay sends after it.
    assert_eq!(c.body(&t(&p), &m).as_deref(), Some(&b"one"[..]));
    c.keep_head(&p, &m, head.clone());
    let (m1, got) = c.stat_head(&t(&p), key, false).expect("stat");
    assert_eq!(m1, m);
    assert_eq!(&got.expect("kept").head.bytes[..], &head.bytes[..]);
    assert!(c.stat_head(&t(&p), key, true).expect("stat").1.is_none());
    // Rewritten in place (same size): the new version, and no head.
    std::fs::write(&p, "two").expect("rewrite");
    let (m2, gone) = c.stat_head(&t(&p), key, false).expect("stat");
    assert_ne!(m2, m);
    assert!(gone.is_none());
    // Deleted: an error, and the entry is let go.
    std::fs::remove_file(&p).expect("rm");
    assert!(c.stat_head(&t(&p), key, false).is_err());
    check_counts(&c);
    // Trusted within `open_file_cache_valid`: the head without a stat.
    std::fs::write(&p, "one").expect("write");
    let c = cache(Duration::from_secs(60));
    let (m, _) = c.stat_head(&t(&p), key, false).expect("stat");
    assert!(c.body(&t(&p), &m).is_some());
    c.keep_head(&p, &m, head);
    std::fs::remove_file(&p).expect("rm");
    assert!(
        c.stat_head(&t(&p), key, false)
            .expect("trusted")
            .1
            .is_some()
    );
}
