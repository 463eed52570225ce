//! Server names: how a host (a request's `Host`, a TLS ClientHello's SNI)
//! is matched against `server_name` patterns. One matcher for both, so the
//! certificate a client is shown always belongs to the server that then
//! answers its requests. Exact names beat the longest leading wildcard
//! (`*.example.com`, `.example.com`), which beats the longest trailing one
//! (`example.*`); among equals, the first server in the file.

/// Normalises a Host value: lower case, port and trailing dot removed.
/// `None` if it is not a valid host (400).
pub fn normalize_host(host: &str) -> Option<String> {
    let h = host.trim();
    let name = if let Some(rest) = h.strip_prefix('[') {
        // [v6]:port: an IP literal, then nothing or a port.
        let end = rest.find(']')?;
        let literal = &rest[..end];
        let after = &rest[end + 1..];
        let port_ok = after.is_empty()
            || after
                .strip_prefix(':')
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        let literal_ok = !literal.is_empty()
            && literal
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !port_ok || !literal_ok {
            return None;
        }
        &h[..end + 2]
    } else {
        match h.rsplit_once(':') {
            Some((n, port)) if port.bytes().all(|b| b.is_ascii_digit()) => n,
            Some(_) => return None,
            None => h,
        }
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && !name.contains("..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b));
    ok.then(|| name.to_ascii_lowercase())
}

/// How well `pattern` matches `host`: exact beats leading wildcard beats
/// trailing wildcard; longer wildcards beat shorter ones.
pub(crate) fn score(pattern: &str, host: &str) -> Option<(u8, usize)> {
    if pattern == host {
        return Some((3, pattern.len()));
    }
    if let Some(suffix) = pattern.strip_prefix("*.") {
        if host.len() > suffix.len() + 1
            && host.ends_with(suffix)
            && host[..host.len() - suffix.len()].ends_with('.')
        {
            return Some((2, pattern.len()));
        }
        return None;
    }
    if let Some(suffix) = pattern.strip_prefix('.') {
        if host == suffix || (host.ends_with(pattern) && host.len() > pattern.len()) {
            return Some((2, pattern.len()));
        }
        return None;
    }
    if let Some(prefix) = pattern.strip_suffix(".*")
        && host.len() > prefix.len() + 1
        && host.starts_with(prefix)
        && host.as_bytes()[prefix.len()] == b'.'
    {
        return Some((1, pattern.len()));
    }
    None
}

/// Among `servers` (index and `server_name` patterns, in file order),
/// the one whose names best match normalised `host`; `None` if none does.
pub fn best_match<'a>(
    servers: impl IntoIterator<Item = (usize, &'a [String])>,
    host: &str,
) -> Option<usize> {
    servers
        .into_iter()
        .filter_map(|(i, names)| {
            let best = names.iter().filter_map(|p| score(p, host)).max()?;
            Some((best, i))
        })
        // Highest score; among equals, the first server in the file.
        .fold(None::<((u8, usize), usize)>, |best, (sc, i)| match best {
            Some((bs, _)) if bs >= sc => best,
            _ => Some((sc, i)),
        })
        .map(|(_, i)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_normalise() {
        assert_eq!(
            normalize_host("Example.COM:8080").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            normalize_host("example.com.").as_deref(),
            Some("example.com")
        );
        assert_eq!(normalize_host("[::1]:80").as_deref(), Some("[::1]"));
        assert_eq!(normalize_host("127.0.0.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(normalize_host("a/b"), None);
        assert_eq!(normalize_host(".."), None);
        assert_eq!(normalize_host(""), None);
        assert_eq!(normalize_host("host:port"), None);
        // Only a port may follow an IP literal.
        assert_eq!(normalize_host("[a]zzz/../.."), None);
        assert_eq!(normalize_host("[::1]x"), None);
        assert_eq!(normalize_host("[::1]:8x"), None);
        assert_eq!(normalize_host("[zz]"), None);
        assert_eq!(normalize_host("[]"), None);
        assert_eq!(
            normalize_host("[::ffff:1.2.3.4]").as_deref(),
            Some("[::ffff:1.2.3.4]")
        );
    }

    #[test]
    fn wildcard_scores() {
        assert_eq!(score("example.com", "example.com"), Some((3, 11)));
        assert!(score("*.example.com", "a.example.com").is_some());
        assert!(score("*.example.com", "example.com").is_none());
        assert!(score("*.example.com", "aexample.com").is_none());
        assert!(score(".example.com", "example.com").is_some());
        assert!(score(".example.com", "a.b.example.com").is_some());
        assert!(score("example.*", "example.org").is_some());
        assert!(score("example.*", "example").is_none());
        assert!(score("example.*", "examples.org").is_none());
        assert!(score("*.example.com", "a.example.com") > score("example.*", "example.com"));
    }

    #[test]
    fn best_match_prefers_exact_then_longest_wildcard_then_file_order() {
        let a = ["*.example.com".to_string()];
        let b = ["*.www.example.com".to_string()];
        let c = ["www.example.com".to_string(), "example.*".to_string()];
        let d = ["*.example.com".to_string()];
        let all = || [(0, &a[..]), (1, &b[..]), (2, &c[..]), (3, &d[..])];
        assert_eq!(best_match(all(), "www.example.com"), Some(2));
        assert_eq!(best_match(all(), "x.www.example.com"), Some(1));
        assert_eq!(best_match(all(), "x.example.com"), Some(0));
        assert_eq!(best_match(all(), "example.org"), Some(2));
        assert_eq!(best_match(all(), "other.org"), None);
    }
}
