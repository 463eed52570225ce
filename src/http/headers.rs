//! nginx's headers module: `expires` (Cache-Control and Expires) and
//! `add_header`, applied to successful and redirect responses only, as
//! nginx does without `always`.

use std::time::SystemTime;

use hyper::header::{CACHE_CONTROL, EXPIRES, HeaderValue};
use hyper::{Response, StatusCode};

use super::Body;
use crate::config::{Expires, Settings};

/// nginx's `expires max`: Thu, 31 Dec 2037 23:55:55 GMT, and ten years.
const MAX_EXPIRES: &str = "Thu, 31 Dec 2037 23:55:55 GMT";
const MAX_AGE_MAX: u64 = 315_360_000;

fn applies(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
    )
}

/// Adds the location's caching headers and extra headers to `resp`.
pub fn apply(resp: &mut Response<Body>, settings: &Settings) {
    if !applies(resp.status()) {
        return;
    }
    let h = resp.headers_mut();
    match settings.expires {
        Expires::Off => {}
        Expires::Epoch => {
            h.insert(
                EXPIRES,
                HeaderValue::from_static("Thu, 01 Jan 1970 00:00:01 GMT"),
            );
            h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        }
        Expires::Max => {
            h.insert(EXPIRES, HeaderValue::from_static(MAX_EXPIRES));
            h.insert(CACHE_CONTROL, format_max_age(MAX_AGE_MAX));
        }
        Expires::NoCache(ago) => {
            let past = SystemTime::now()
                .checked_sub(ago)
                .unwrap_or(SystemTime::UNIX_EPOCH);
            if let Ok(v) = HeaderValue::from_str(&super::date::http_date(past)) {
                h.insert(EXPIRES, v);
            }
            h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        }
        Expires::MaxAge(d) => {
            let at = SystemTime::now()
                .checked_add(d)
                .unwrap_or(SystemTime::UNIX_EPOCH);
            if let Ok(v) = HeaderValue::from_str(&super::date::http_date(at)) {
                h.insert(EXPIRES, v);
            }
            h.insert(CACHE_CONTROL, format_max_age(d.as_secs()));
        }
    }
    for (name, value) in &settings.add_header {
        h.append(name.clone(), value.clone());
    }
}

fn format_max_age(secs: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("max-age={secs}"))
        .unwrap_or_else(|_| HeaderValue::from_static("no-cache"))
}
