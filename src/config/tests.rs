//! The whole file as `-t` sees it: which errors name which line and key.

use super::*;

fn tmp_prefix() -> crate::scratch::Scratch {
    crate::scratch::Scratch::new("config-test", &["html"])
}

fn parse_str(text: &str) -> Result<Config, ConfigError> {
    parse(text, Source::File("t.toml".into()), &tmp_prefix())
}

#[test]
fn embedded_default_is_valid() {
    let prefix = tmp_prefix();
    let c = parse(EMBEDDED_DEFAULT, Source::Embedded, &prefix).expect("default");
    assert_eq!(
        c.listen_addrs(),
        vec!["127.0.0.1:8080".parse().expect("addr")]
    );
    assert!(c.worker_processes >= 1);
    assert_eq!(c.pid, prefix.join("logs/moltd.pid"));
}

#[test]
fn unknown_key_names_line_and_key() {
    let e = parse_str("daemon = false\nbogus = 1\n[[server]]\nlisten = [\"127.0.0.1:1\"]\n")
        .expect_err("unknown key");
    assert_eq!(e.line, Some(2));
    assert!(e.to_string().contains("bogus"), "{e}");
    assert!(e.to_string().contains("t.toml:2"), "{e}");
}

#[test]
fn unknown_server_key_names_line() {
    let e = parse_str("[[server]]\nlisten = [\"127.0.0.1:1\"]\nlisten_typo = 3\n")
        .expect_err("unknown key");
    assert_eq!(e.line, Some(3));
    assert!(e.message.contains("listen_typo"), "{e}");
}

#[test]
fn bad_values_name_key_and_line() {
    let e = parse_str("worker_processes = \"many\"\n[[server]]\nlisten = [\"1:1\"]\n")
        .expect_err("bad workers");
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(1), Some("worker_processes"))
    );
    let e = parse_str("[[server]]\n\nlisten = [\"127.0.0.1:99999\"]\n").expect_err("bad port");
    assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("listen")));
    let e = parse_str("worker_shutdown_timeout = \"5 parsecs\"\n[[server]]\nlisten = [\"80\"]\n")
        .expect_err("bad time");
    assert_eq!(e.key.as_deref(), Some("worker_shutdown_timeout"));
    let e = parse_str("[[server]]\nlisten = [\"80\"]\nroot = \"no/such/dir\"\n")
        .expect_err("missing root");
    assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("root")));
    for bad in ["0", "-1", "1000000001"] {
        let e = parse_str(&format!(
            "keepalive_requests = {bad}\n[[server]]\nlisten = [\"80\"]\n"
        ))
        .expect_err("bad keepalive_requests");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(1), Some("keepalive_requests"))
        );
    }
    let e = parse_str("daemon = \"yes\"\n").expect_err("wrong type");
    assert_eq!(e.line, Some(1));
}

#[test]
fn syntax_error_has_line() {
    let e = parse_str("daemon = false\n[[server]\n").expect_err("syntax");
    assert_eq!(e.line, Some(2));
}

#[test]
fn listen_forms() {
    assert_eq!(parse_listen("8080"), Ok("0.0.0.0:8080".parse().expect("a")));
    assert_eq!(parse_listen("*:81"), Ok("0.0.0.0:81".parse().expect("a")));
    assert_eq!(parse_listen("[::1]:82"), Ok("[::1]:82".parse().expect("a")));
    assert!(parse_listen("localhost:80").is_err());
    let c = parse_str("[[server]]\nlisten = \"127.0.0.1:7\"\n").expect("single string");
    assert_eq!(c.listen_addrs().len(), 1);
}

#[test]
fn lenient_pid_line() {
    assert_eq!(
        pid_line("x = [\npid = \"run/m.pid\"\n"),
        Some("run/m.pid".into())
    );
}
