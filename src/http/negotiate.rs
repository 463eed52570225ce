//! Choosing a content coding from `Accept-Encoding` (RFC 9110 §12.5.3):
//! q-values honoured, `*` standing for every coding not named, `x-gzip`
//! for gzip, and identity acceptable unless `identity;q=0` (or `*;q=0`
//! without an `identity` entry) excludes it.

pub use crate::config::compression::Coding;

/// The q-value (in thousandths) of each coding in an Accept-Encoding
/// value; `None` where the coding is not named.
#[derive(Debug, Default)]
struct Weights {
    coding: [Option<u16>; 3],
    identity: Option<u16>,
    star: Option<u16>,
}

/// A q-value in thousandths (`q=0.5` -> 500); an invalid one is 0, so a
/// garbled entry never makes a coding acceptable.
fn qvalue(v: &str) -> u16 {
    let v = v.trim();
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if frac.len() > 3 || !digits(frac) || !digits(int) {
        return 0;
    }
    match int {
        "1" => u16::from(frac.bytes().all(|b| b == b'0')) * 1000,
        "0" => {
            let mut n = 0u16;
            for i in 0..3 {
                let d = frac.as_bytes().get(i).map_or(0, |b| u16::from(b - b'0'));
                n = n * 10 + d;
            }
            n
        }
        _ => 0,
    }
}

fn weights(accept: &str) -> Weights {
    let mut w = Weights::default();
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        if name.is_empty() {
            continue;
        }
        let mut q = 1000;
        for p in parts {
            let p = p.trim();
            if let Some(v) = p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")) {
                q = qvalue(v);
            }
        }
        let slot = if name == "*" {
            &mut w.star
        } else if name.eq_ignore_ascii_case("identity") {
            &mut w.identity
        } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            &mut w.coding[Coding::Gzip.index()]
        } else if name.eq_ignore_ascii_case("br") {
            &mut w.coding[Coding::Br.index()]
        } else if name.eq_ignore_ascii_case("zstd") {
            &mut w.coding[Coding::Zstd.index()]
        } else {
            continue;
        };
        // Named twice: the first entry counts.
        slot.get_or_insert(q);
    }
    w
}

/// The coding to send, among those `offered` (in the server's order of
/// preference), for `accept` (the Accept-Encoding value, if any): the
/// acceptable one the client weighs highest, the earlier on a tie; `None`
/// (the file as it is) when none is acceptable, or when the client weighs
/// identity higher (explicitly, or through `*`). When identity is refused and no offered coding is
/// acceptable, the file is still sent as it is, as the RFC allows (a 406
/// breaks more clients than it helps).
pub fn choose(accept: Option<&str>, offered: impl IntoIterator<Item = Coding>) -> Option<Coding> {
    // No header: any coding is acceptable, but nothing says the client can
    // decode one, so send identity (as nginx and every browser-facing
    // server do).
    let w = weights(accept?);
    let mut best: Option<(u16, Coding)> = None;
    for c in offered {
        let q = w.coding[c.index()].or(w.star).unwrap_or(0);
        if q > 0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, c));
        }
    }
    let (q, c) = best?;
    // Identity competes only when weighed: named, or through `*`. Left
    // out, it is acceptable but not preferred ("gzip;q=0.5" still means
    // gzip is welcome).
    let identity = w.identity.or(w.star).unwrap_or(0);
    (q >= identity).then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Coding; 3] = [Coding::Br, Coding::Zstd, Coding::Gzip];

    fn pick(accept: &str) -> Option<&'static str> {
        choose(Some(accept), ALL).map(Coding::name)
    }

    fn gzip_only(accept: &str) -> Option<&'static str> {
        choose(Some(accept), [Coding::Gzip]).map(Coding::name)
    }

    #[test]
    fn q_values_parse_strictly() {
        assert_eq!(qvalue("1"), 1000);
        assert_eq!(qvalue("1.000"), 1000);
        assert_eq!(qvalue("0.5"), 500);
        assert_eq!(qvalue(" 0.125 "), 125);
        assert_eq!(qvalue("0"), 0);
        assert_eq!(qvalue("1.5"), 0);
        assert_eq!(qvalue("0.1234"), 0);
        assert_eq!(qvalue("abc"), 0);
        assert_eq!(qvalue("-1"), 0);
        assert_eq!(qvalue("2"), 0);
    }

    #[test]
    fn the_highest_q_wins_and_ties_go_to_the_server_order() {
        assert_eq!(pick("gzip, deflate, br, zstd"), Some("br"));
        assert_eq!(pick("gzip, zstd"), Some("zstd"));
        assert_eq!(pick("gzip;q=1, br;q=0.8"), Some("gzip"));
        assert_eq!(pick("br;q=0.5, zstd;q=0.9, gzip;q=0.7"), Some("zstd"));
        assert_eq!(gzip_only("br, gzip;q=0.1"), Some("gzip"));
        assert_eq!(gzip_only("br, zstd"), None);
        assert_eq!(pick("deflate"), None);
        assert_eq!(pick("GZIP"), Some("gzip"));
        assert_eq!(pick("x-gzip"), Some("gzip"));
        assert_eq!(pick("gzip; Q=0.5"), Some("gzip"));
    }

    #[test]
    fn zero_and_garbage_refuse() {
        assert_eq!(pick("gzip;q=0"), None);
        assert_eq!(pick("gzip;q=0.000"), None);
        assert_eq!(pick("gzip;q=abc"), None);
        assert_eq!(pick(""), None);
        assert_eq!(pick(" , ,"), None);
        assert_eq!(choose(None, ALL), None);
    }

    #[test]
    fn star_covers_codings_not_named() {
        assert_eq!(pick("*"), Some("br"));
        assert_eq!(gzip_only("*"), Some("gzip"));
        assert_eq!(pick("br;q=0, *"), Some("zstd"));
        assert_eq!(pick("*;q=0, gzip"), Some("gzip"));
        assert_eq!(pick("*;q=0"), None);
        assert_eq!(gzip_only("br, *;q=0"), None);
    }

    #[test]
    fn identity_is_weighed_too() {
        // Preferred over gzip by the client: sent as it is.
        assert_eq!(pick("gzip;q=0.5, identity"), None);
        assert_eq!(pick("gzip;q=0.5, identity;q=0.5"), Some("gzip"));
        assert_eq!(pick("gzip, identity;q=0"), Some("gzip"));
        // `*` gives identity its weight when identity is not named.
        assert_eq!(pick("gzip;q=0.5, *;q=0.8"), Some("br"));
        // The server's order decides ties: here zstd first.
        let zstd_first = [Coding::Zstd, Coding::Br, Coding::Gzip];
        assert_eq!(
            choose(Some("br, zstd, gzip"), zstd_first),
            Some(Coding::Zstd)
        );
        assert_eq!(gzip_only("gzip;q=0.5, *;q=0.8"), None);
        assert_eq!(gzip_only("gzip;q=0.5, *;q=0"), Some("gzip"));
        // Refused identity with nothing acceptable: identity anyway.
        assert_eq!(gzip_only("identity;q=0, br"), None);
        // The first of two entries for one coding counts.
        assert_eq!(pick("gzip;q=0, gzip"), None);
    }
}
