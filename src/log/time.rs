//! Wall-clock formatting for log lines, without a time-zone database: UTC,
//! in nginx's `2026/11/21 22:16:23` shape.

use std::time::{SystemTime, UNIX_EPOCH};

/// Civil date (year, month, day) from days since 1970-01-01 (Howard
/// Hinnant's algorithm), so log timestamps need no libc localtime.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Month abbreviations, January first.
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A UTC time split into its civil parts.
struct Civil {
    y: i64,
    m: u32,
    d: u32,
    hh: i64,
    mm: i64,
    ss: i64,
}

fn civil(t: SystemTime) -> Civil {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    Civil {
        y,
        m,
        d,
        hh: s / 3600,
        mm: s / 60 % 60,
        ss: s % 60,
    }
}

/// `21/Nov/2026:22:16:23 +0000` for `t`: nginx's `$time_local`, in UTC.
pub fn access_timestamp(t: SystemTime) -> String {
    let c = civil(t);
    let month = MONTHS[(c.m as usize).saturating_sub(1) % 12];
    format!(
        "{:02}/{month}/{:04}:{:02}:{:02}:{:02} +0000",
        c.d, c.y, c.hh, c.mm, c.ss
    )
}

/// A text that depends only on the second (a `Date` header, a log
/// timestamp), made at most once a second. Kept per thread: workers run
/// one thread, so no lock is needed.
pub struct PerSecond(std::cell::RefCell<(u64, String)>);

impl PerSecond {
    /// Empty: the first use makes the text.
    pub const fn new() -> Self {
        PerSecond(std::cell::RefCell::new((u64::MAX, String::new())))
    }

    /// Calls `f` with `make(t)`, remade only when `t` is in another second
    /// than the last call's.
    pub fn with(
        &self,
        t: SystemTime,
        make: impl FnOnce(SystemTime) -> String,
        f: impl FnOnce(&str),
    ) {
        let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut cached = self.0.borrow_mut();
        if cached.0 != secs {
            *cached = (secs, make(t));
        }
        f(&cached.1);
    }
}

impl Default for PerSecond {
    fn default() -> Self {
        Self::new()
    }
}

thread_local! {
    static ACCESS_STAMP: PerSecond = const { PerSecond::new() };
}

/// Calls `f` with [`access_timestamp`] of `t`, formatted at most once per
/// second per thread.
pub fn with_access_timestamp(t: SystemTime, f: impl FnOnce(&str)) {
    ACCESS_STAMP.with(|stamp| stamp.with(t, access_timestamp, f));
}

/// `YYYY/MM/DD HH:MM:SS` for `t`, in UTC.
pub fn log_timestamp(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}",
        c.y, c.m, c.d, c.hh, c.mm, c.ss
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_known_instants() {
        assert_eq!(log_timestamp(UNIX_EPOCH), "1970/01/01 00:00:00");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_299_383);
        assert_eq!(log_timestamp(t), "2026/11/21 22:16:23");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(log_timestamp(leap), "2000/02/29 00:00:00");
        assert_eq!(access_timestamp(t), "21/Nov/2026:22:16:23 +0000");
    }
}
