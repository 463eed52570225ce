//! HTTP dates that cannot fail: `httpdate` panics outside 1970..=9999, and
//! a file's mtime (or an `expires` far ahead) can be anything.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The last second `httpdate` can format (9999-12-31 23:59:59 UTC).
const MAX_SECS: u64 = 253_402_300_799;

/// `t` as an IMF-fixdate, clamped to 1970-01-01 .. 9999-12-31.
pub fn http_date(t: SystemTime) -> String {
    let clamped = match t.duration_since(UNIX_EPOCH) {
        Err(_) => UNIX_EPOCH,
        Ok(d) if d.as_secs() > MAX_SECS => UNIX_EPOCH + Duration::from_secs(MAX_SECS),
        Ok(_) => t,
    };
    httpdate::fmt_http_date(clamped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_times_are_clamped() {
        assert_eq!(
            http_date(UNIX_EPOCH - Duration::from_secs(10)),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(MAX_SECS * 2)),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
    }
}
