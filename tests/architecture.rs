//! The layering rules of docs/architecture.md §1, checked on the source.

use std::path::Path;

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let text = std::fs::read_to_string(&p).expect("read source");
            out.push((p.display().to_string(), text));
        }
    }
}

/// Every source file with its comments stripped (docs may name anything).
fn all_sources() -> Vec<(String, String)> {
    let mut out = Vec::new();
    sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    out.into_iter()
        .map(|(p, t)| {
            let code: Vec<&str> = t
                .lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .collect();
            (p, code.join("\n"))
        })
        .collect()
}

/// Every source file as written.
fn raw_sources() -> Vec<(String, String)> {
    let mut out = Vec::new();
    sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    out
}

#[test]
fn imports_flow_one_way() {
    for (path, text) in all_sources() {
        if path.contains("/src/master/") {
            assert!(
                !text.contains("crate::http"),
                "{path}: the master never names http"
            );
        }
        if path.contains("/src/worker/") || path.contains("/src/http/") {
            assert!(!text.contains("sys::fork"), "{path}: workers never fork");
            assert!(
                !text.contains("crate::master"),
                "{path}: workers never reach the master"
            );
        }
        if path.contains("/src/http/") {
            assert!(
                !text.contains("nix::sys::signal") && !text.contains("tokio::signal"),
                "{path}: http never touches signals"
            );
        }
    }
}

#[test]
fn unsafe_lives_only_in_sys() {
    for (path, text) in all_sources() {
        if path.contains("/src/sys/") {
            continue;
        }
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            assert!(
                !(code.contains("unsafe {")
                    || code.contains("unsafe fn")
                    || code.contains("unsafe extern")
                    || code.contains("unsafe impl")),
                "{path}:{}: unsafe outside src/sys",
                i + 1
            );
        }
    }
}

#[test]
fn every_unsafe_block_has_a_safety_comment() {
    for (path, text) in raw_sources() {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.contains("unsafe {") || line.contains("unsafe extern") {
                let before = lines[i.saturating_sub(6)..i].join("\n");
                assert!(
                    before.contains("// SAFETY:")
                        || line.contains("// SAFETY:")
                        || line.contains("unsafe extern"),
                    "{path}:{}: unsafe without a SAFETY comment",
                    i + 1
                );
            }
        }
    }
}

#[test]
fn the_master_starts_no_runtime_or_thread() {
    for (path, text) in all_sources() {
        if path.contains("/src/master/") {
            assert!(
                !text.contains("tokio"),
                "{path}: the master has no tokio runtime"
            );
            assert!(
                !text.contains("thread::spawn"),
                "{path}: the master starts no thread"
            );
        }
    }
}

#[test]
fn comments_only_send_readers_to_files_in_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (path, text) in raw_sources() {
        for (n, line) in text.lines().enumerate() {
            for outside in ["DESIGN §", "DESIGN.md", "control.md", "STYLE.md", "shared/"] {
                assert!(
                    !line.contains(outside),
                    "{path}:{}: names {outside}, which a clone does not have",
                    n + 1
                );
            }
            let mut rest = line;
            while let Some(i) = rest.find("docs/") {
                let name: String = rest[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || "/._-".contains(*c))
                    .collect();
                let name = name.trim_end_matches('.');
                assert!(
                    root.join(name).exists(),
                    "{path}:{}: {name} does not exist",
                    n + 1
                );
                rest = &rest[i + 5..];
            }
        }
    }
}

#[test]
fn the_masters_state_machine_does_no_io() {
    for (path, text) in all_sources() {
        if !(path.ends_with("/src/master/state.rs") || path.contains("/src/master/state/")) {
            continue;
        }
        for io in [
            "nix",
            "libc",
            "std::fs",
            "std::process",
            "std::io",
            "std::os",
            "crate::sys",
        ] {
            assert!(!text.contains(io), "{path}: the state machine names {io}");
        }
    }
}
