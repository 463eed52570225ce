//! Networks for `allow`: `"127.0.0.1/8"`, `"::1"`, `"10.0.0.0/8"`. A bare
//! address is a network of one.

use std::fmt;
use std::net::IpAddr;

/// One network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Parses `"ADDR"` or `"ADDR/BITS"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (addr, bits) = match text.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (text, None),
        };
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("invalid address \"{addr}\" in \"{text}\""))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("invalid prefix length in \"{text}\" (0 to {max})"))?,
        };
        Ok(Cidr { net, bits })
    }

    /// True for `0.0.0.0/0` (or `::/0` when `v6`).
    pub fn is_everything(&self, v6: bool) -> bool {
        self.bits == 0 && self.net.is_ipv6() == v6
    }

    /// True if `ip` is in this network (an IPv4 client on an IPv6 socket,
    /// `::ffff:a.b.c.d`, counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let (whole, rest) = (usize::from(bits / 8), bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || (a[whole] ^ b[whole]) >> (8 - rest) == 0
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_match_what_they_say() {
        let lo = Cidr::parse("127.0.0.1/8").expect("cidr");
        assert!(lo.contains("127.9.9.9".parse().expect("ip")));
        assert!(lo.contains("::ffff:127.0.0.2".parse().expect("ip")));
        assert!(!lo.contains("128.0.0.1".parse().expect("ip")));
        let one = Cidr::parse("::1").expect("cidr");
        assert!(one.contains("::1".parse().expect("ip")));
        assert!(!one.contains("::2".parse().expect("ip")));
        let odd = Cidr::parse("10.0.0.0/9").expect("cidr");
        assert!(odd.contains("10.127.0.1".parse().expect("ip")));
        assert!(!odd.contains("10.128.0.1".parse().expect("ip")));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .expect("all")
                .contains("8.8.8.8".parse().expect("ip"))
        );
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("localhost").is_err());
    }
}
