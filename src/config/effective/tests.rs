//! `-T`'s output read back: the same configuration, and every key there.

use super::super::raw::{RawConfig, RawLocation, RawServer};
use super::super::{Config, EMBEDDED_DEFAULT, Source, parse};
use super::spelling;
use crate::config::compression::Coding;

fn prefix() -> crate::scratch::Scratch {
    crate::scratch::Scratch::new("effective-test", &["html/assets", "other"])
}

const FULL: &str = r#"
daemon = true
worker_processes = 3
pid = "run/m.pid"
error_log = "stderr"
worker_shutdown_timeout = "1m30s"
shutdown_delay = "250ms"
upgrade_ready_timeout = "45s"
user = "root"
group = "root"
server_tokens = true
deferred_accept = false
access_log_buffer = "9999999999g"
worker_connections = 77
keepalive_timeout = "5s"
keepalive_requests = 12
client_header_timeout = "1500ms"
send_timeout = "2h"
client_max_body_size = 0
large_client_header_buffers = "2 16k"
open_file_cache = 0
open_file_cache_valid = "3s"
open_file_cache_max_size = "1m"
open_file_cache_max_file = 100

[[server]]
listen = ["127.0.0.1:1", "[::1]:2", "3"]
server_name = ["Example.com", "*.example.org", ".x.net", "www.*"]
default_server = true
access_log = "off"
root = "other"
index = ["a.html", "b.htm"]
autoindex = true
autoindex_format = "json"
expires = "500ms"
add_header = { X-Frame-Options = "DENY", "x-frame-options" = "SAMEORIGIN", X-A = "1" }
gzip_static = true
brotli_static = true
gzip = true
gzip_types = ["application/javascript", "Text/CSS"]
gzip_min_length = "1k"
gzip_comp_level = 6
compress_extra = ["zstd", "br"]
charset = "utf-8"
default_type = "text/plain"
types = { ".MD" = "text/markdown" }
error_page = { "404" = "/404.html", "503" = "/busy.html" }
disable_symlinks = true
max_ranges = 0
health = false

[[server.location]]
prefix = "/assets/"
root = "html"
add_header = {}
error_page = {}
types = { wasm = "application/wasm" }
expires = "-1"

[[server.location]]
exact = "/healthz"
health = true
expires = "epoch"
status = "prometheus"
allow = ["127.0.0.1/8", "::1"]

[[server]]
listen = "127.0.0.1:1"
server_name = "b.example"
access_log = "logs/b.log"
expires = "max"
"#;

fn round_trip(text: &str) -> (Config, Config) {
    let prefix = prefix();
    let a = parse(text, Source::File("a.toml".into()), &prefix).expect("original");
    let dump = a.effective_toml().expect("effective toml");
    let b = parse(&dump, Source::File("b.toml".into()), &prefix)
        .unwrap_or_else(|e| panic!("{e}\n{dump}"));
    let again = b.effective_toml().expect("effective toml");
    assert_eq!(dump, again, "printing is a fixed point");
    (a, b)
}

/// Everything but where the text came from, field by field.
fn assert_same(a: &Config, b: &Config) {
    let Config {
        source: _,
        text: _,
        prefix,
        daemon,
        worker_processes,
        pid,
        error_log,
        worker_shutdown_timeout,
        shutdown_delay,
        upgrade_ready_timeout,
        user,
        server_tokens,
        deferred_accept,
        access_log_buffer,
        limits,
        file_cache,
        servers,
        tls: _,
    } = a;
    assert_eq!(*prefix, b.prefix);
    assert_eq!(*daemon, b.daemon);
    assert_eq!(*worker_processes, b.worker_processes);
    assert_eq!(*pid, b.pid);
    assert_eq!(*error_log, b.error_log);
    assert_eq!(*worker_shutdown_timeout, b.worker_shutdown_timeout);
    assert_eq!(*shutdown_delay, b.shutdown_delay);
    assert_eq!(*upgrade_ready_timeout, b.upgrade_ready_timeout);
    assert_eq!(*user, b.user);
    assert_eq!(*server_tokens, b.server_tokens);
    assert_eq!(*deferred_accept, b.deferred_accept);
    assert_eq!(*access_log_buffer, b.access_log_buffer);
    assert_eq!(*limits, b.limits);
    assert_eq!(*file_cache, b.file_cache);
    assert_eq!(normalized(servers), normalized(&b.servers));
}

/// TOML tables are read back sorted by key: headers of different names may
/// change places (which means nothing in HTTP); those of one name keep
/// their order, which the stable sort keeps too.
fn normalized(servers: &[crate::config::Server]) -> Vec<crate::config::Server> {
    let sort = |s: &mut std::sync::Arc<crate::config::Settings>| {
        std::sync::Arc::make_mut(s)
            .add_header
            .sort_by(|p, q| p.0.as_str().cmp(q.0.as_str()));
    };
    let mut out = servers.to_vec();
    for s in &mut out {
        sort(&mut s.settings);
        for l in &mut s.locations {
            sort(&mut l.settings);
        }
    }
    out
}

#[test]
fn the_default_reads_back_the_same() {
    let (a, b) = round_trip(EMBEDDED_DEFAULT);
    assert_same(&a, &b);
}

#[test]
fn servers_locations_limits_and_headers_read_back_the_same() {
    let (a, b) = round_trip(FULL);
    assert_same(&a, &b);
    assert_eq!(a.access_log_buffer, 9999999999 << 30, "over i64::MAX");
    let h: Vec<_> = a.servers[0]
        .settings
        .add_header
        .iter()
        .map(|(_, v)| v.clone())
        .collect();
    assert_eq!(h, ["1", "DENY", "SAMEORIGIN"]);
    let h: Vec<_> = b.servers[0]
        .settings
        .add_header
        .iter()
        .filter(|(n, _)| n == "x-frame-options")
        .map(|(_, v)| v.clone())
        .collect();
    assert_eq!(
        h,
        ["DENY", "SAMEORIGIN"],
        "one name's values keep their order"
    );
    assert!(b.servers[0].locations[0].settings.add_header.is_empty());
    assert!(b.servers[0].locations[0].settings.error_page.is_empty());
    let c = &b.servers[0].locations[0].settings.compression;
    assert!(c.gzip, "inherited by the location");
    let extra = [Coding::Zstd, Coding::Br];
    assert_eq!(c.extra, extra, "in the order given");
    assert_eq!((c.min_length, c.level), (1024, 6));
    assert_eq!(c.types, ["application/javascript", "text/css"]);
}

/// Every key the file format has is printed, so none can be forgotten:
/// a key added to the raw structs does not compile here until it is.
#[test]
fn every_key_is_printed() {
    let a = parse(FULL, Source::File("a.toml".into()), &prefix()).expect("original");
    let dump = a.effective_toml().expect("effective toml");
    let raw: RawConfig = toml::from_str(&dump).expect("raw");
    let RawConfig {
        daemon,
        worker_processes,
        pid,
        error_log,
        worker_shutdown_timeout,
        shutdown_delay,
        upgrade_ready_timeout,
        user,
        group,
        server_tokens,
        deferred_accept,
        worker_connections,
        keepalive_timeout,
        keepalive_requests,
        client_header_timeout,
        send_timeout,
        client_max_body_size,
        large_client_header_buffers,
        open_file_cache,
        open_file_cache_valid,
        open_file_cache_max_size,
        open_file_cache_max_file,
        access_log_buffer,
        server,
    } = raw;
    assert!(daemon.is_some() && worker_processes.is_some() && pid.is_some());
    assert!(error_log.is_some() && worker_shutdown_timeout.is_some());
    assert!(shutdown_delay.is_some() && upgrade_ready_timeout.is_some());
    assert!(user.is_some() && group.is_some() && server_tokens.is_some());
    assert!(deferred_accept.is_some());
    assert!(worker_connections.is_some() && keepalive_timeout.is_some());
    assert!(keepalive_requests.is_some());
    assert!(client_header_timeout.is_some() && send_timeout.is_some());
    assert!(client_max_body_size.is_some() && large_client_header_buffers.is_some());
    assert!(open_file_cache.is_some() && open_file_cache_valid.is_some());
    assert!(open_file_cache_max_size.is_some() && open_file_cache_max_file.is_some());
    assert!(access_log_buffer.is_some());
    assert_eq!(server.len(), 2);
}

/// FULL, printed and read back as the raw structs.
fn printed_full() -> (RawConfig, String) {
    let a = parse(FULL, Source::File("a.toml".into()), &prefix()).expect("original");
    let dump = a.effective_toml().expect("effective toml");
    (toml::from_str(&dump).expect("raw"), dump)
}

/// The same for the keys of servers.
#[test]
fn every_server_key_is_printed() {
    let (raw, _) = printed_full();
    let RawServer {
        listen,
        server_name,
        default_server,
        access_log,
        location,
        // Only with a certificate, or set (tests/tls.rs reads those back).
        ssl_certificate: _,
        ssl_certificate_key: _,
        redirect_https: _,
        http2,
        root: _,
        index: _,
        autoindex: _,
        autoindex_format: _,
        expires: _,
        add_header: _,
        gzip_static: _,
        brotli_static: _,
        gzip: _,
        gzip_types: _,
        gzip_min_length: _,
        gzip_comp_level: _,
        compress_extra: _,
        charset: _,
        default_type: _,
        types: _,
        error_page: _,
        disable_symlinks: _,
        max_ranges: _,
        health: _,
        status: _,
        allow: _,
    } = raw.server[0].get_ref();
    assert!(listen.is_some() && server_name.is_some() && default_server.is_some());
    assert!(access_log.is_some() && http2.is_some());
    assert_eq!(location.as_ref().map(Vec::len), Some(2));
}

/// The same for the keys of locations.
#[test]
fn every_location_key_is_printed() {
    let (raw, dump) = printed_full();
    let locations = raw.server[0]
        .get_ref()
        .location
        .as_ref()
        .expect("locations");
    // The settings, as a location inherits them: all of them are there.
    let RawLocation {
        prefix,
        exact,
        root,
        index,
        autoindex,
        autoindex_format,
        expires,
        add_header,
        gzip_static,
        brotli_static,
        gzip,
        gzip_types,
        gzip_min_length,
        gzip_comp_level,
        compress_extra,
        charset,
        default_type,
        types,
        error_page,
        disable_symlinks,
        max_ranges,
        health,
        status,
        allow,
    } = locations[1].get_ref();
    assert!(prefix.is_none() && exact.is_some());
    let set = [
        root.is_some(),
        index.is_some(),
        autoindex.is_some(),
        autoindex_format.is_some(),
        expires.is_some(),
        add_header.is_some(),
        gzip_static.is_some(),
        brotli_static.is_some(),
        gzip.is_some(),
        gzip_types.is_some(),
        gzip_min_length.is_some(),
        gzip_comp_level.is_some(),
        compress_extra.is_some(),
        charset.is_some(),
        default_type.is_some(),
        types.is_some(),
        error_page.is_some(),
        disable_symlinks.is_some(),
        max_ranges.is_some(),
        health.is_some(),
        status.is_some(),
        allow.is_some(),
    ];
    assert!(set.iter().all(|&b| b), "{set:?}\n{dump}");
}

#[test]
fn spellings_sort_in_order() {
    let all: Vec<String> = (0..4).map(|k| spelling("x-a", k)).collect();
    assert_eq!(all, ["X-A", "X-a", "x-A", "x-a"]);
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
    assert_eq!(spelling("x-custom-header", 0), "X-CUSTOM-HEADER");
    let long = "a".repeat(70);
    assert_eq!(spelling(&long, 1).to_ascii_lowercase(), long);
    assert!(spelling(&long, 0) < spelling(&long, 1));
}
