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

/// A module's path from the crate root: `worker/conn.rs` is
/// `["worker", "conn"]`, `worker/mod.rs` is `["worker"]`, `lib.rs` is `[]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if !matches!(stem, "mod" | "lib" | "main") {
            parts.push(stem.to_string());
        }
    }
    parts
}

/// Every path named from `at` on: `a::b`, `a::{b, c::{d, self}}`, with
/// renames and globs reduced to their prefix.
fn path_tree(code: &[u8], mut at: usize, prefix: &[String], out: &mut Vec<Vec<String>>) -> usize {
    let mut path = prefix.to_vec();
    loop {
        while code.get(at).is_some_and(|c| c.is_ascii_whitespace()) {
            at += 1;
        }
        match code.get(at) {
            Some(b'{') => {
                at += 1;
                loop {
                    while code
                        .get(at)
                        .is_some_and(|c| c.is_ascii_whitespace() || *c == b',')
                    {
                        at += 1;
                    }
                    match code.get(at) {
                        Some(b'}') | None => return at + 1,
                        _ => at = path_tree(code, at, &path, out),
                    }
                }
            }
            Some(c) if c.is_ascii_alphanumeric() || *c == b'_' => {
                let start = at;
                while code
                    .get(at)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    at += 1;
                }
                let word = String::from_utf8_lossy(&code[start..at]).into_owned();
                if word != "self" {
                    path.push(word);
                }
                if code.get(at..at + 2) == Some(b"::".as_slice()) {
                    at += 2;
                    continue;
                }
                out.push(path);
                return at;
            }
            _ => {
                out.push(path);
                return at;
            }
        }
    }
}

/// The modules `file` (module `me`) names through `crate::` and `super::`
/// paths, in `use` items and in code (`$crate::` in macros excluded).
fn imports_of(me: &[String], code: &str) -> Vec<Vec<String>> {
    // Unit tests at the end of a file may reach anywhere in their parent.
    let code = code
        .split("#[cfg(test)]\nmod tests {")
        .next()
        .unwrap_or(code);
    let bytes = code.as_bytes();
    let mut found = Vec::new();
    for start in ["crate::", "super::"] {
        for (i, _) in code.match_indices(start) {
            let before = i.checked_sub(1).and_then(|j| bytes.get(j)).copied();
            if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$') {
                continue;
            }
            if start == "super::" && code[..i].ends_with("super::") {
                continue; // counted from the first `super::`
            }
            let mut base: Vec<String> = if start == "crate::" {
                Vec::new()
            } else {
                me.to_vec()
            };
            let mut at = i + start.len();
            if start == "super::" {
                // `module_of` already names a mod.rs after its directory, so
                // one `super` is one step up either way.
                base.pop();
                while code[at..].starts_with("super::") {
                    base.pop();
                    at += "super::".len();
                }
            }
            path_tree(bytes, at, &base, &mut found);
        }
    }
    found
}

#[test]
fn no_import_cycle_between_sibling_modules() {
    use std::collections::{BTreeMap, BTreeSet};
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = all_sources();
    let modules: BTreeSet<Vec<String>> = files
        .iter()
        .map(|(p, _)| module_of(&src, Path::new(p)))
        .collect();
    // parent module -> (child -> children it imports)
    let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (path, code) in &files {
        let me = module_of(&src, Path::new(path));
        for named in imports_of(&me, code) {
            // The longest prefix that is a module file.
            let Some(target) = (0..=named.len())
                .rev()
                .map(|n| named[..n].to_vec())
                .find(|m| modules.contains(m))
            else {
                continue;
            };
            let common = me.iter().zip(&target).take_while(|(a, b)| a == b).count();
            // One is inside the other: a parent naming its child, or a
            // child its parent's items; no sibling edge.
            if common == me.len() || common == target.len() {
                continue;
            }
            graphs
                .entry(me[..common].to_vec())
                .or_default()
                .entry(me[common].clone())
                .or_default()
                .insert(target[common].clone());
        }
    }
    for (parent, graph) in &graphs {
        // Depth-first search; a node met again on the stack closes a cycle.
        fn visit(
            node: &str,
            graph: &BTreeMap<String, BTreeSet<String>>,
            stack: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(at) = stack.iter().position(|n| n == node) {
                let mut cycle = stack[at..].to_vec();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            if !done.insert(node.to_string()) {
                return None;
            }
            stack.push(node.to_string());
            for next in graph.get(node).into_iter().flatten() {
                if let Some(c) = visit(next, graph, stack, done) {
                    return Some(c);
                }
            }
            stack.pop();
            None
        }
        let mut done = BTreeSet::new();
        for node in graph.keys() {
            let mut stack = Vec::new();
            if let Some(cycle) = visit(node, graph, &mut stack, &mut done) {
                let within = if parent.is_empty() {
                    "crate".to_string()
                } else {
                    parent.join("::")
                };
                panic!("import cycle in {within}: {}", cycle.join(" -> "));
            }
        }
    }
}

/// Longest a source file may be: past this a file holds more than one
/// concern (docs/architecture.md §1).
const MAX_FILE_LINES: usize = 450;

/// Longest a function may be.
const MAX_FN_LINES: usize = 80;

#[test]
fn files_and_functions_stay_small() {
    let mut too_long = Vec::new();
    for (path, text) in raw_sources() {
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() > MAX_FILE_LINES {
            too_long.push(format!("{path}: {} lines", lines.len()));
        }
        let mut i = 0;
        while i < lines.len() {
            let code = lines[i].split("//").next().unwrap_or("");
            let t = code.trim_start();
            let is_fn = t.starts_with("fn ")
                || t.starts_with("pub fn ")
                || t.starts_with("pub(crate) fn ")
                || t.starts_with("pub(super) fn ")
                || t.starts_with("async fn ")
                || t.starts_with("pub async fn ")
                || t.starts_with("const fn ")
                || t.starts_with("pub const fn ");
            if !is_fn {
                i += 1;
                continue;
            }
            // Count to the brace that closes the body (a declaration
            // ending in `;` has none).
            let (mut depth, mut opened, mut j) = (0i32, false, i);
            while j < lines.len() {
                let c = lines[j].split("//").next().unwrap_or("");
                for ch in c.chars() {
                    match ch {
                        '{' => {
                            depth += 1;
                            opened = true;
                        }
                        '}' => depth -= 1,
                        _ => {}
                    }
                }
                if (opened && depth <= 0) || (!opened && c.trim_end().ends_with(';')) {
                    break;
                }
                j += 1;
            }
            if j + 1 - i > MAX_FN_LINES {
                too_long.push(format!(
                    "{path}:{}: a function of {} lines",
                    i + 1,
                    j + 1 - i
                ));
            }
            i += 1;
        }
    }
    assert!(too_long.is_empty(), "too long:\n{}", too_long.join("\n"));
}
