//! nginx-style time values: `"30s"`, `"500ms"`, `"1h30m"`, `"7d"`; a bare
//! number means seconds.

use std::time::Duration;

/// Parses a time value, or says what is wrong with it.
pub fn parse(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty time value".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("invalid time value \"{text}\""));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("time value \"{text}\" is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let ms_per: u64 = match unit {
            "ms" => 1,
            "" | "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            _ => return Err(format!("invalid time unit \"{unit}\" in \"{text}\"")),
        };
        let ms = n
            .checked_mul(ms_per)
            .ok_or_else(|| format!("time value \"{text}\" is too large"))?;
        total = total
            .checked_add(Duration::from_millis(ms))
            .ok_or_else(|| format!("time value \"{text}\" is too large"))?;
        if unit.is_empty() && !rest.is_empty() {
            return Err(format!("invalid time value \"{text}\""));
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("7d"), Ok(Duration::from_secs(7 * 86400)));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("").is_err());
        assert!(parse("abc").is_err());
        assert!(parse("5x").is_err());
        assert!(parse("10 s").is_err());
        assert!(parse("99999999999999999999s").is_err());
    }
}
