//! nginx-style sizes: `"64k"`, `"1m"`, a bare number of bytes.

/// Parses a size string.
pub fn parse(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1024),
        Some((i, 'm' | 'M')) => (&t[..i], 1024 * 1024),
        Some((i, 'g' | 'G')) => (&t[..i], 1024 * 1024 * 1024),
        _ => (t, 1),
    };
    num.parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| {
            format!("invalid size \"{text}\": expected bytes, or a number with k, m or g")
        })
}

/// Parses a TOML size: a string like `"64k"` or a non-negative integer.
pub fn parse_value(v: &toml::Value) -> Result<usize, String> {
    match v {
        toml::Value::String(s) => parse(s),
        toml::Value::Integer(n) if *n >= 0 => Ok(*n as usize),
        other => Err(format!("invalid size {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse("64k"), Ok(65536));
        assert_eq!(parse("1M"), Ok(1 << 20));
        assert_eq!(parse("100"), Ok(100));
        assert!(parse("k").is_err());
        assert!(parse("-1").is_err());
        assert!(parse("1t").is_err());
    }
}
