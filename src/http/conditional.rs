//! Conditional requests (RFC 9110 §13.2.2, in its order of precedence):
//! If-Match, then If-Unmodified-Since (412 when they fail), then
//! If-None-Match, then If-Modified-Since (304 for GET/HEAD).
//!
//! Where nginx compares If-Modified-Since for equality only, this follows
//! the RFC: not modified when the file is not newer than the date.

use std::time::SystemTime;

use hyper::header::{IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE};
use hyper::{HeaderMap, Method, StatusCode};

/// What the validators of the selected representation are.
#[derive(Debug, Clone)]
pub struct Validators<'a> {
    /// Strong entity tag, quoted (`"5f1-2a"`).
    pub etag: &'a str,
    /// Modification time, to the second.
    pub last_modified: Option<SystemTime>,
}

/// Splits an entity-tag list (`"a", W/"b"`) into its tags.
fn tags(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|t| !t.is_empty())
}

fn opaque(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// Strong comparison: both strong and identical.
pub fn strong_match(a: &str, b: &str) -> bool {
    !a.starts_with("W/") && !b.starts_with("W/") && a == b
}

/// Weak comparison: identical once any `W/` is removed.
pub fn weak_match(a: &str, b: &str) -> bool {
    opaque(a) == opaque(b)
}

fn date(headers: &HeaderMap, name: hyper::header::HeaderName) -> Option<SystemTime> {
    let v = headers.get(name)?.to_str().ok()?;
    httpdate::parse_http_date(v).ok()
}

/// Truncates to whole seconds, the resolution of HTTP dates.
fn secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Every line of the list header `name`, as one list: RFC 9110 §5.3
/// reads `If-Match: "a"` and `If-Match: "b"` as `If-Match: "a", "b"`, so
/// the answer never depends on which line comes first. `None` when absent.
fn list(headers: &HeaderMap, name: hyper::header::HeaderName) -> Option<Vec<&str>> {
    let lines: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .collect();
    (!lines.is_empty()).then_some(lines)
}

/// The list matches: `*`, or one of its tags by `matches`.
fn any_tag(lines: &[&str], etag: &str, matches: fn(&str, &str) -> bool) -> bool {
    lines
        .iter()
        .any(|l| l.trim() == "*" || tags(l).any(|t| matches(t, etag)))
}

/// The status the preconditions demand (304 or 412), if any.
pub fn evaluate(method: &Method, headers: &HeaderMap, v: &Validators<'_>) -> Option<StatusCode> {
    if let Some(im) = list(headers, IF_MATCH) {
        if !any_tag(&im, v.etag, strong_match) {
            return Some(StatusCode::PRECONDITION_FAILED);
        }
    } else if let (Some(ius), Some(lm)) = (date(headers, IF_UNMODIFIED_SINCE), v.last_modified)
        && secs(lm) > secs(ius)
    {
        return Some(StatusCode::PRECONDITION_FAILED);
    }
    let get_or_head = method == Method::GET || method == Method::HEAD;
    if let Some(inm) = list(headers, IF_NONE_MATCH) {
        if any_tag(&inm, v.etag, weak_match) {
            return Some(if get_or_head {
                StatusCode::NOT_MODIFIED
            } else {
                StatusCode::PRECONDITION_FAILED
            });
        }
    } else if get_or_head
        && let (Some(ims), Some(lm)) = (date(headers, IF_MODIFIED_SINCE), v.last_modified)
        && secs(lm) <= secs(ims)
    {
        return Some(StatusCode::NOT_MODIFIED);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn v() -> Validators<'static> {
        Validators {
            etag: "\"abc-1\"",
            last_modified: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000)),
        }
    }

    fn eval(pairs: &[(&str, &str)]) -> Option<StatusCode> {
        let mut h = HeaderMap::new();
        for (k, val) in pairs {
            h.insert(
                hyper::header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                val.parse().expect("value"),
            );
        }
        evaluate(&Method::GET, &h, &v())
    }

    #[test]
    fn a_list_split_over_lines_is_one_list() {
        let eval_lines = |name: &str, lines: &[&str]| {
            let mut h = HeaderMap::new();
            for l in lines {
                h.append(
                    hyper::header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                    l.parse().expect("value"),
                );
            }
            evaluate(&Method::GET, &h, &v())
        };
        for lines in [["\"x\"", "\"abc-1\""], ["\"abc-1\"", "\"x\""]] {
            assert_eq!(eval_lines("if-match", &lines), None, "{lines:?}");
            assert_eq!(
                eval_lines("if-none-match", &lines),
                Some(StatusCode::NOT_MODIFIED),
                "{lines:?}"
            );
        }
        assert_eq!(
            eval_lines("if-match", &["\"x\"", "\"y\""]),
            Some(StatusCode::PRECONDITION_FAILED)
        );
        assert_eq!(eval_lines("if-none-match", &["\"x\"", "\"y\""]), None);
    }

    const BEFORE: &str = "Mon, 12 Jan 1970 13:46:39 GMT";
    const AT: &str = "Mon, 12 Jan 1970 13:46:40 GMT";
    const AFTER: &str = "Mon, 12 Jan 1970 13:46:41 GMT";

    #[test]
    fn if_none_match_weak_lists_and_star() {
        assert_eq!(
            eval(&[("if-none-match", "\"abc-1\"")]),
            Some(StatusCode::NOT_MODIFIED)
        );
        assert_eq!(
            eval(&[("if-none-match", "W/\"abc-1\"")]),
            Some(StatusCode::NOT_MODIFIED)
        );
        assert_eq!(
            eval(&[("if-none-match", "\"x\", \"abc-1\"")]),
            Some(StatusCode::NOT_MODIFIED)
        );
        assert_eq!(
            eval(&[("if-none-match", "*")]),
            Some(StatusCode::NOT_MODIFIED)
        );
        assert_eq!(eval(&[("if-none-match", "\"other\"")]), None);
    }

    #[test]
    fn if_modified_since() {
        assert_eq!(
            eval(&[("if-modified-since", AT)]),
            Some(StatusCode::NOT_MODIFIED)
        );
        assert_eq!(
            eval(&[("if-modified-since", AFTER)]),
            Some(StatusCode::NOT_MODIFIED)
        );
        assert_eq!(eval(&[("if-modified-since", BEFORE)]), None);
        assert_eq!(eval(&[("if-modified-since", "garbage")]), None);
        // If-None-Match takes precedence: a mismatch means "send it".
        assert_eq!(
            eval(&[("if-none-match", "\"other\""), ("if-modified-since", AFTER)]),
            None
        );
    }

    #[test]
    fn if_match_and_unmodified_since() {
        assert_eq!(eval(&[("if-match", "\"abc-1\"")]), None);
        assert_eq!(eval(&[("if-match", "*")]), None);
        assert_eq!(
            eval(&[("if-match", "W/\"abc-1\"")]),
            Some(StatusCode::PRECONDITION_FAILED)
        );
        assert_eq!(
            eval(&[("if-match", "\"zzz\"")]),
            Some(StatusCode::PRECONDITION_FAILED)
        );
        assert_eq!(
            eval(&[("if-unmodified-since", BEFORE)]),
            Some(StatusCode::PRECONDITION_FAILED)
        );
        assert_eq!(eval(&[("if-unmodified-since", AT)]), None);
        // If-Match wins over If-Unmodified-Since.
        assert_eq!(
            eval(&[("if-match", "\"abc-1\""), ("if-unmodified-since", BEFORE)]),
            None
        );
        // 412 beats 304.
        assert_eq!(
            eval(&[("if-match", "\"zzz\""), ("if-none-match", "\"abc-1\"")]),
            Some(StatusCode::PRECONDITION_FAILED)
        );
    }
}
