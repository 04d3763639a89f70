//! Server-side request forgery protection for webhooks.
//!
//! A webhook URL comes from the configuration or from the gallery's "test
//! webhook" request, and Facet runs inside the user's network: without a
//! check, a URL could make it POST to the router, a NAS's admin API or a
//! cloud instance's metadata service (`169.254.169.254`). So:
//!
//! 1. the scheme must be `http` or `https` ([`Target::parse`]);
//! 2. the host is resolved **once** ([`resolve_checked`]) and **every**
//!    address it resolves to is checked by [`check_address`] — one private
//!    address among public ones refuses the URL (a DNS answer mixing both
//!    is an attack, not an accident);
//! 3. the connection is made to exactly those checked addresses (the
//!    webhook sender pins them in its resolver, [`crate::webhook`]), never
//!    resolved again, so a DNS answer that changes between check and
//!    connection (DNS rebinding) cannot slip a private address in; the
//!    request still carries the URL's host in `Host` and in the TLS SNI;
//! 4. redirects are not followed (a public receiver cannot bounce the
//!    request to a private address), and no proxy from the environment is
//!    used.
//!
//! `plugins.allow_private` lists socket addresses (`127.0.0.1:8080`,
//! `[::1]:8080`) exempt from the check: an exact match of the resolved
//! address and port, for a receiver the user runs on this machine or LAN.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use crate::Error;

/// Why an address is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// The address refused.
    pub addr: IpAddr,
    /// What it is ("loopback", "private (RFC 1918)", …).
    pub reason: &'static str,
    /// The IPv4 address an IPv6 one embeds, when that is what was refused
    /// (`::ffff:127.0.0.1` is checked as `127.0.0.1`).
    pub embedded: Option<Ipv4Addr>,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.embedded {
            Some(v4) => write!(f, "{} embeds {v4}, {}", self.addr, self.reason),
            None => write!(f, "{} is {}", self.addr, self.reason),
        }
    }
}

impl std::error::Error for Blocked {}

/// Whether a webhook may connect to `ip`: only globally routable unicast
/// addresses pass. A pure function: nothing is resolved or connected.
///
/// Refused, IPv4: `0.0.0.0/8` (unspecified, "this network"), `10/8`,
/// `172.16/12`, `192.168/16` (private, RFC 1918), `100.64/10` (carrier-grade
/// NAT), `127/8` (loopback), `169.254/16` (link-local, and the cloud
/// metadata service `169.254.169.254`), `192.0.0/24` (IETF protocol
/// assignments), `192.0.2/24`, `198.51.100/24`, `203.0.113/24`
/// (documentation), `198.18/15` (benchmarking), `192.88.99/24` (6to4
/// relays), `224/4` (multicast), `255.255.255.255` (broadcast), `240/4`
/// (reserved).
///
/// Refused, IPv6: `::` (unspecified), `::1` (loopback), `::ffff:0:0/96`
/// (IPv4-mapped) and `::/96` (IPv4-compatible), checked as the IPv4 address
/// they embed, as is `2002::/16` (6to4); `64:ff9b::/96` and `64:ff9b:1::/48`
/// (NAT64, which translate to any IPv4 address), `fc00::/7` (unique local),
/// `fe80::/10` (link-local), `fec0::/10` (site-local, deprecated),
/// `ff00::/8` (multicast), `2001:db8::/32` and `3fff::/20` (documentation),
/// `100::/64` (discard), `2001::/32` (Teredo, which embeds an arbitrary IPv4
/// address).
pub fn check_address(ip: IpAddr) -> Result<(), Blocked> {
    match ip {
        IpAddr::V4(v4) => check_v4(v4).map_err(|reason| Blocked {
            addr: ip,
            reason,
            embedded: None,
        }),
        IpAddr::V6(v6) => check_v6(v6).map_err(|(reason, embedded)| Blocked {
            addr: ip,
            reason,
            embedded,
        }),
    }
}

fn check_v4(ip: Ipv4Addr) -> Result<(), &'static str> {
    let o = ip.octets();
    let reason = match o {
        [0, ..] => "unspecified (0.0.0.0/8)",
        [10, ..] => "private (RFC 1918, 10.0.0.0/8)",
        [100, b, ..] if (64..128).contains(&b) => "carrier-grade NAT (100.64.0.0/10)",
        [127, ..] => "loopback (127.0.0.0/8)",
        [169, 254, 169, 254] => "the cloud metadata service (link-local 169.254.169.254)",
        [169, 254, ..] => "link-local (169.254.0.0/16)",
        [172, b, ..] if (16..32).contains(&b) => "private (RFC 1918, 172.16.0.0/12)",
        [192, 0, 0, _] => "an IETF protocol assignment (192.0.0.0/24)",
        [192, 0, 2, _] => "documentation (192.0.2.0/24)",
        [192, 88, 99, _] => "a 6to4 relay (192.88.99.0/24)",
        [192, 168, ..] => "private (RFC 1918, 192.168.0.0/16)",
        [198, 18 | 19, ..] => "benchmarking (198.18.0.0/15)",
        [198, 51, 100, _] => "documentation (198.51.100.0/24)",
        [203, 0, 113, _] => "documentation (203.0.113.0/24)",
        [224..=239, ..] => "multicast (224.0.0.0/4)",
        [255, 255, 255, 255] => "broadcast (255.255.255.255)",
        [240..=255, ..] => "reserved (240.0.0.0/4)",
        _ => return Ok(()),
    };
    Err(reason)
}

fn check_v6(ip: Ipv6Addr) -> Result<(), (&'static str, Option<Ipv4Addr>)> {
    let s = ip.segments();
    let embedded_last =
        || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if ip.is_unspecified() {
        return Err(("unspecified (::)", None));
    }
    if ip.is_loopback() {
        return Err(("loopback (::1)", None));
    }
    // IPv4-mapped ::ffff:a.b.c.d and IPv4-compatible ::a.b.c.d.
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        let v4 = embedded_last();
        return check_v4(v4).map_err(|r| (r, Some(v4)));
    }
    // 6to4: 2002:AABB:CCDD::/48 embeds AA.BB.CC.DD.
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return check_v4(v4).map_err(|r| (r, Some(v4)));
    }
    let reason = match s {
        [0x64, 0xff9b, 0, 0, 0, 0, ..] => "NAT64 (64:ff9b::/96)",
        [0x64, 0xff9b, 1, ..] => "local-use NAT64 (64:ff9b:1::/48)",
        [0x100, 0, 0, 0, ..] => "discard-only (100::/64)",
        [0x2001, 0xdb8, ..] => "documentation (2001:db8::/32)",
        [0x2001, 0, ..] => "Teredo (2001::/32)",
        [0x3fff, b, ..] if b < 0x1000 => "documentation (3fff::/20)",
        [a, ..] if a & 0xfe00 == 0xfc00 => "unique local (fc00::/7)",
        [a, ..] if a & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
        [a, ..] if a & 0xffc0 == 0xfec0 => "site-local (fec0::/10)",
        [a, ..] if a & 0xff00 == 0xff00 => "multicast (ff00::/8)",
        _ => return Ok(()),
    };
    Err((reason, None))
}

/// A webhook URL, parsed and checked for its scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub https: bool,
    /// The host as written (lower case; an IPv6 literal without brackets).
    pub host: String,
    pub port: u16,
}

impl Target {
    /// Parses `url`: `http` or `https`, with a host.
    pub fn parse(url: &str) -> Result<Target, String> {
        let uri: ureq::http::Uri = url
            .parse()
            .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        let https = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(s) => return Err(format!("scheme `{s}` is not http or https")),
            None => return Err(format!("`{url}` is not an http or https URL")),
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("`{url}` has no host"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Target {
            url: url.to_string(),
            https,
            host,
            port,
        })
    }

    /// `host` or `host:port` when the port is not the scheme's.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.https { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Resolves `target`'s host once and checks every address (those in
/// `allow` pass whatever they are). Returns the addresses to connect to.
pub fn resolve_checked(target: &Target, allow: &[SocketAddr]) -> Result<Vec<SocketAddr>, Error> {
    let addrs: Vec<SocketAddr> = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, target.port)],
        Err(_) => (target.host.as_str(), target.port)
            .to_socket_addrs()
            .map_err(|e| Error::Unreachable(format!("cannot resolve {}: {e}", target.host)))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(Error::Unreachable(format!(
            "{} resolves to no address",
            target.host
        )));
    }
    for a in &addrs {
        if allow.contains(a) {
            continue;
        }
        check_address(a.ip()).map_err(|blocked| Error::Blocked {
            host: target.authority(),
            blocked,
        })?;
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(s: &str) -> Blocked {
        check_address(s.parse().unwrap()).expect_err(s)
    }

    #[test]
    fn private_and_special_addresses_are_refused() {
        for a in [
            "127.0.0.1",
            "127.255.0.9",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.1.1",
            "0.0.0.0",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "192.0.0.170",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "64:ff9b::808:808",
            "64:ff9b:1::1",
            "100::1",
            "2001:0:4136:e378::1",
        ] {
            blocked(a);
        }
        assert!(blocked("10.0.0.1").to_string().contains("private"));
        assert!(blocked("127.0.0.1").to_string().contains("loopback"));
        assert!(blocked("fd00::1").to_string().contains("unique local"));
        assert!(blocked("fe80::1").to_string().contains("link-local"));
        assert!(blocked("ff02::1").to_string().contains("multicast"));
    }

    #[test]
    fn the_metadata_service_is_named() {
        let b = blocked("169.254.169.254");
        assert!(b.to_string().contains("metadata"), "{b}");
    }

    #[test]
    fn ipv4_inside_ipv6_is_checked_as_ipv4() {
        // Mapped.
        let b = blocked("::ffff:127.0.0.1");
        assert_eq!(b.embedded, Some(Ipv4Addr::LOCALHOST));
        assert!(b.to_string().contains("loopback"), "{b}");
        assert!(blocked("::ffff:10.0.0.1").to_string().contains("private"));
        assert!(
            blocked("::ffff:169.254.169.254")
                .to_string()
                .contains("metadata")
        );
        assert!(blocked("::ffff:7f00:1").to_string().contains("loopback"));
        // Compatible (deprecated), and 6to4.
        assert!(blocked("::127.0.0.1").to_string().contains("loopback"));
        assert!(blocked("::10.1.2.3").to_string().contains("private"));
        assert!(blocked("::192.168.0.1").to_string().contains("private"));
        assert!(blocked("2002:7f00:1::1").to_string().contains("loopback"));
        assert!(blocked("2002:a9fe:a9fe::").to_string().contains("metadata"));
        // ... and public IPv4 inside passes.
        check_address("::ffff:93.184.216.34".parse().unwrap()).unwrap();
        check_address("::93.184.216.34".parse().unwrap()).unwrap();
    }

    #[test]
    fn public_addresses_pass() {
        for a in [
            "93.184.216.34",
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "169.253.1.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "2002:5db8:d822::1",
        ] {
            check_address(a.parse().unwrap()).unwrap_or_else(|b| panic!("{a}: {b}"));
        }
    }

    #[test]
    fn urls_must_be_http() {
        let t = Target::parse("https://Example.com/hook?x=1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.https),
            ("example.com", 443, true)
        );
        let t = Target::parse("http://[::1]:8080/x").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 8080));
        assert_eq!(t.authority(), "[::1]:8080");
        assert!(
            Target::parse("ftp://example.com/")
                .unwrap_err()
                .contains("ftp")
        );
        assert!(Target::parse("file:///etc/passwd").is_err());
        assert!(Target::parse("example.com/hook").is_err());
        assert!(Target::parse("gopher://x").is_err());
    }

    #[test]
    fn literal_addresses_are_checked_without_resolving_and_allow_is_exact() {
        let t = Target::parse("http://127.0.0.1:9/x").unwrap();
        let e = resolve_checked(&t, &[]).unwrap_err().to_string();
        assert!(e.contains("127.0.0.1") && e.contains("loopback"), "{e}");
        let ok = resolve_checked(&t, &["127.0.0.1:9".parse().unwrap()]).unwrap();
        assert_eq!(ok, ["127.0.0.1:9".parse().unwrap()]);
        // Another port of the same host is not allowed.
        assert!(resolve_checked(&t, &["127.0.0.1:10".parse().unwrap()]).is_err());
    }
}
