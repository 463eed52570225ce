//! `-T`'s effective configuration is a configuration file of its own:
//! `-t -c` accepts it and `-T` prints it back unchanged.

use crate::support::{Server, free_port};

const MARK: &str = "# effective configuration";

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The effective part of `-T`'s output (from its last comment line on: the
/// file printed before it may be a dump itself), for the
/// config given by `args`.
fn effective(s: &Server, args: &[&str]) -> String {
    let mut all = vec!["-T"];
    all.extend_from_slice(args);
    let o = s.run(&all);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("syntax is ok") && e.contains("test is successful"),
        "{e}"
    );
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let at = out
        .rfind(MARK)
        .unwrap_or_else(|| panic!("no effective part in\n{out}"));
    out[at..].to_string()
}

/// Feeds the effective configuration back through `-t -c` and `-T -c`.
fn reads_back(s: &Server, dump: &str) {
    std::fs::write(s.path("conf/effective.toml"), dump).expect("write the dump");
    let o = s.run(&["-t", "-c", "conf/effective.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}\n{dump}", stderr(&o));
    assert_eq!(effective(s, &["-c", "conf/effective.toml"]), dump);
}

#[test]
fn the_default_configuration_reads_back() {
    let s = Server::new();
    std::fs::remove_dir_all(s.path("conf")).expect("no conf dir");
    let dump = effective(&s, &[]);
    std::fs::create_dir_all(s.path("conf")).expect("conf dir");
    assert!(dump.contains("listen = [\"127.0.0.1:8080\"]"), "{dump}");
    reads_back(&s, &dump);
}

#[test]
fn servers_locations_limits_and_headers_read_back() {
    let s = Server::new();
    let (a, b) = (free_port(), free_port());
    s.config(&format!(
        r#"worker_processes = 2
worker_connections = 100
keepalive_timeout = "10s"
client_max_body_size = "2m"
large_client_header_buffers = "8 4k"
open_file_cache_valid = "1500ms"
shutdown_delay = "1s"

[[server]]
listen = ["127.0.0.1:{a}"]
server_name = ["example.com", "*.example.org"]
add_header = {{ X-Frame-Options = "DENY", x-frame-options = "SAMEORIGIN", X-Served-By = "moltd" }}
error_page = {{ "404" = "/index.html" }}
expires = "7d"

[[server.location]]
prefix = "/other/"
root = "html"
autoindex = true
add_header = {{}}
types = {{ txt = "text/plain" }}

[[server.location]]
exact = "/healthz"
health = true

[[server]]
listen = ["127.0.0.1:{b}", "127.0.0.1:{a}"]
default_server = true
access_log = "off"
charset = "utf-8"
"#
    ));
    let dump = effective(&s, &[]);
    assert!(dump.contains("x-served-by = \"moltd\""), "{dump}");
    assert!(dump.contains("X-FRAME-OPTIONS = \"DENY\""), "{dump}");
    assert!(
        dump.contains("large_client_header_buffers = \"8 4096\""),
        "{dump}"
    );
    reads_back(&s, &dump);
}
