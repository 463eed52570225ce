//! Byte ranges (RFC 9110 §14): single, open-ended and suffix ranges;
//! several ranges as `multipart/byteranges`; unsatisfiable -> 416 with
//! `Content-Range: bytes */LEN`; `If-Range` by entity tag or date.
//!
//! Amplification guard (nginx's `max_ranges` idea): more ranges than
//! `max_ranges`, or ranges whose total exceeds the file (overlaps), are
//! answered with the whole file instead.

/// An inclusive byte range within a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive).
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Never true: a range holds at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// What to do with a Range header.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// Send the whole representation (no header, bad syntax, too many or
    /// overlapping ranges).
    Full,
    /// Send these ranges (206).
    Partial(Vec<ByteRange>),
    /// 416.
    Unsatisfiable,
}

/// Interprets `header` for a representation of `len` bytes.
pub fn plan(header: &str, len: u64, max_ranges: usize) -> Plan {
    // The unit is case-insensitive (RFC 9110 §14.1).
    let h = header.trim();
    let Some(spec) = h
        .get(..6)
        .filter(|u| u.eq_ignore_ascii_case("bytes="))
        .map(|_| &h[6..])
    else {
        return Plan::Full;
    };
    if max_ranges == 0 {
        return Plan::Full;
    }
    let mut ranges = Vec::new();
    let mut any = false;
    for part in spec.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((a, b)) = part.split_once('-') else {
            return Plan::Full;
        };
        let (a, b) = (a.trim(), b.trim());
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
        any = true;
        let range = if a.is_empty() {
            // Suffix: the last N bytes.
            if !digits(b) {
                return Plan::Full;
            }
            let n = saturating_number(b);
            if n == 0 || len == 0 {
                None
            } else {
                Some(ByteRange {
                    start: len.saturating_sub(n),
                    end: len - 1,
                })
            }
        } else {
            if !digits(a) || !(b.is_empty() || digits(b)) {
                return Plan::Full;
            }
            let start = saturating_number(a);
            let end = if b.is_empty() {
                u64::MAX
            } else {
                match saturating_number(b) {
                    e if e >= start => e,
                    _ => return Plan::Full,
                }
            };
            (start < len).then(|| ByteRange {
                start,
                end: end.min(len - 1),
            })
        };
        if let Some(r) = range {
            ranges.push(r);
        }
    }
    if !any {
        return Plan::Full;
    }
    if ranges.is_empty() {
        return Plan::Unsatisfiable;
    }
    let total: u64 = ranges.iter().map(ByteRange::len).sum();
    if ranges.len() > max_ranges || total > len {
        return Plan::Full;
    }
    Plan::Partial(ranges)
}

/// A run of ASCII digits as a number, saturating at `u64::MAX`: a last
/// position past the end, however many digits it has, means "to the end"
/// (RFC 9110 §14.1.2), and a first position that large is past the end.
fn saturating_number(digits: &str) -> u64 {
    digits.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    })
}

/// True if an `If-Range` value still matches the representation, so the
/// Range header applies: a strong entity tag equal to `etag`, or a date
/// equal to `last_modified`.
pub fn if_range_matches(value: &str, etag: &str, last_modified: Option<&str>) -> bool {
    let v = value.trim();
    if v.starts_with('"') || v.starts_with("W/") {
        return super::conditional::strong_match(v, etag);
    }
    last_modified.is_some_and(|lm| lm == v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    #[test]
    fn single_forms() {
        assert_eq!(plan("bytes=0-9", 100, 8), Plan::Partial(vec![r(0, 9)]));
        assert_eq!(plan("bytes=90-", 100, 8), Plan::Partial(vec![r(90, 99)]));
        assert_eq!(plan("Bytes=0-0", 100, 8), Plan::Partial(vec![r(0, 0)]));
        assert_eq!(plan("bytes=-10", 100, 8), Plan::Partial(vec![r(90, 99)]));
        assert_eq!(plan("bytes=-1000", 100, 8), Plan::Partial(vec![r(0, 99)]));
        assert_eq!(
            plan("bytes=50-1000", 100, 8),
            Plan::Partial(vec![r(50, 99)])
        );
    }

    #[test]
    fn unsatisfiable_and_invalid() {
        assert_eq!(plan("bytes=100-", 100, 8), Plan::Unsatisfiable);
        assert_eq!(plan("bytes=-0", 100, 8), Plan::Unsatisfiable);
        assert_eq!(plan("bytes=0-0", 0, 8), Plan::Unsatisfiable);
        assert_eq!(plan("bytes=5-1", 100, 8), Plan::Full);
        assert_eq!(plan("bytes=a-b", 100, 8), Plan::Full);
        assert_eq!(plan("items=0-1", 100, 8), Plan::Full);
        assert_eq!(plan("bytes=", 100, 8), Plan::Full);
        assert_eq!(plan("bytes=1", 100, 8), Plan::Full);
        assert_eq!(plan("bytes=+1-2", 100, 8), Plan::Full);
        // Positions past u64: a first one is past the end (416, as
        // nginx), a last one means "to the end".
        assert_eq!(
            plan("bytes=99999999999999999999-", 100, 8),
            Plan::Unsatisfiable
        );
        assert_eq!(
            plan("bytes=0-99999999999999999999", 100, 8),
            Plan::Partial(vec![r(0, 99)])
        );
        assert_eq!(
            plan("bytes=-99999999999999999999", 100, 8),
            Plan::Partial(vec![r(0, 99)])
        );
    }

    #[test]
    fn multiple_and_amplification() {
        assert_eq!(
            plan("bytes=0-1, 5-6", 100, 8),
            Plan::Partial(vec![r(0, 1), r(5, 6)])
        );
        assert_eq!(
            plan("bytes=0-1,200-300", 100, 8),
            Plan::Partial(vec![r(0, 1)])
        );
        assert_eq!(plan("bytes=0-1,2-3,4-5", 100, 2), Plan::Full);
        assert_eq!(plan("bytes=0-99,0-99", 100, 8), Plan::Full);
        assert_eq!(plan("bytes=0-1", 100, 0), Plan::Full);
    }

    #[test]
    fn if_range() {
        assert!(if_range_matches("\"e\"", "\"e\"", None));
        assert!(!if_range_matches("W/\"e\"", "\"e\"", None));
        assert!(!if_range_matches("\"x\"", "\"e\"", None));
        let lm = "Sat, 21 Nov 2026 22:00:00 GMT";
        assert!(if_range_matches(lm, "\"e\"", Some(lm)));
        assert!(!if_range_matches(
            "Sat, 21 Nov 2026 22:00:01 GMT",
            "\"e\"",
            Some(lm)
        ));
    }
}
