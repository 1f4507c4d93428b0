//! The rule language: parsing, printing, and rule sets.

use std::{fmt, net::IpAddr, str::FromStr};

use crate::{DSCP_ANY, MAX_RULES, PROTO_TCP, PROTO_UDP, PortRange, Prefix, Rule};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("empty rule: say which flows are high priority, e.g. 'tcp dport 11211'")]
    Empty,
    #[error(
        "unknown word '{0}' (expected tcp, udp, src, dst, port, sport, dport, dscp or an address prefix like 10.0.0.0/8)"
    )]
    UnknownWord(String),
    #[error("'{0}' needs a value")]
    MissingValue(&'static str),
    #[error("{0} is not a port or port range (1-65535, e.g. 53 or 8000-8080)")]
    BadPort(String),
    #[error("{0} is not an address or prefix (e.g. 10.0.0.0/8, fd00::/64, 10.1.2.3)")]
    BadPrefix(String),
    #[error("{0} is not a DSCP value (0-63 or a name: ef, af11..af43, cs0..cs7, be)")]
    BadDscp(String),
    #[error("'{0}' is given twice")]
    Twice(&'static str),
    #[error("conflicting protocols: {0} and {1}")]
    ConflictingProtocols(&'static str, &'static str),
    #[error("mixes IPv4 and IPv6 addresses, so it could never match")]
    MixedFamilies,
    #[error("rule '{0}' is given twice")]
    Duplicate(String),
    #[error("too many rules: at most {MAX_RULES}")]
    TooMany,
}

/// Parses one rule, e.g. `udp 10.0.0.0/8 port 53`.
impl FromStr for Rule {
    type Err = RuleError;

    fn from_str(text: &str) -> Result<Self, RuleError> {
        let mut rule = Rule::default();
        let mut seen: Vec<&'static str> = Vec::new();
        let mut once = |what: &'static str| {
            if seen.contains(&what) {
                return Err(RuleError::Twice(what));
            }
            seen.push(what);
            Ok(())
        };
        let mut words = text.split_whitespace();
        let mut any = false;
        while let Some(word) = words.next() {
            any = true;
            let mut value = |what: &'static str| words.next().ok_or(RuleError::MissingValue(what));
            match word {
                "tcp" | "udp" => {
                    let proto = if word == "tcp" { PROTO_TCP } else { PROTO_UDP };
                    if rule.proto != 0 && rule.proto != proto {
                        return Err(RuleError::ConflictingProtocols(
                            proto_name(rule.proto),
                            proto_name(proto),
                        ));
                    }
                    rule.proto = proto;
                }
                "src" => {
                    once("src")?;
                    rule.src = parse_prefix(value("src")?)?;
                }
                "dst" => {
                    once("dst")?;
                    rule.dst = parse_prefix(value("dst")?)?;
                }
                "sport" => {
                    once("sport")?;
                    rule.sport = parse_ports(value("sport")?)?;
                }
                "dport" => {
                    once("dport")?;
                    rule.dport = parse_ports(value("dport")?)?;
                }
                "port" => {
                    once("port")?;
                    rule.either_port = parse_ports(value("port")?)?;
                }
                "dscp" => {
                    once("dscp")?;
                    rule.dscp = parse_dscp(value("dscp")?)?;
                }
                _ if word.starts_with(|c: char| c.is_ascii_hexdigit() || c == ':')
                    && parse_prefix(word).is_ok() =>
                {
                    once("address")?;
                    rule.either_addr = parse_prefix(word)?;
                }
                _ => return Err(RuleError::UnknownWord(word.to_string())),
            }
        }
        if !any {
            return Err(RuleError::Empty);
        }
        let families: Vec<u8> = [rule.src, rule.dst, rule.either_addr]
            .iter()
            .filter(|p| p.len > 0)
            .map(|p| p.family)
            .collect();
        if families.windows(2).any(|w| w[0] != w[1]) {
            return Err(RuleError::MixedFamilies);
        }
        Ok(rule)
    }
}

fn proto_name(proto: u8) -> &'static str {
    match proto {
        PROTO_TCP => "tcp",
        PROTO_UDP => "udp",
        _ => "ip",
    }
}

fn parse_ports(text: &str) -> Result<PortRange, RuleError> {
    let bad = || RuleError::BadPort(text.to_string());
    let port = |s: &str| s.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(bad);
    let (lo, hi) = match text.split_once('-') {
        Some((lo, hi)) => (port(lo)?, port(hi)?),
        None => (port(text)?, port(text)?),
    };
    if lo > hi {
        return Err(bad());
    }
    Ok(PortRange { lo, hi })
}

fn parse_prefix(text: &str) -> Result<Prefix, RuleError> {
    let bad = || RuleError::BadPrefix(text.to_string());
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().map_err(|_| bad())?)),
        None => (text, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| bad())?;
    let mut bytes = [0u8; 16];
    let (family, max) = match ip {
        IpAddr::V4(v4) => {
            bytes[..4].copy_from_slice(&v4.octets());
            (4, 32)
        }
        IpAddr::V6(v6) => {
            bytes = v6.octets();
            (6, 128)
        }
    };
    let len = len.unwrap_or(max);
    if len == 0 || len > max {
        return Err(bad());
    }
    Ok(Prefix::new(bytes, family, len))
}

/// DSCP names from RFC 2474, 2597 and 3246.
const DSCP_NAMES: [(&str, u8); 22] = [
    ("be", 0),
    ("ef", 46),
    ("cs0", 0),
    ("cs1", 8),
    ("cs2", 16),
    ("cs3", 24),
    ("cs4", 32),
    ("cs5", 40),
    ("cs6", 48),
    ("cs7", 56),
    ("af11", 10),
    ("af12", 12),
    ("af13", 14),
    ("af21", 18),
    ("af22", 20),
    ("af23", 22),
    ("af31", 26),
    ("af32", 28),
    ("af33", 30),
    ("af41", 34),
    ("af42", 36),
    ("af43", 38),
];

/// A DSCP codepoint from a name (`ef`, `af41`, `cs6`, ...) or a number.
pub fn parse_dscp(text: &str) -> Result<u8, RuleError> {
    let lower = text.to_ascii_lowercase();
    DSCP_NAMES
        .iter()
        .find(|(name, _)| *name == lower)
        .map(|(_, v)| *v)
        .or_else(|| text.parse::<u8>().ok().filter(|&v| v < 64))
        .ok_or_else(|| RuleError::BadDscp(text.to_string()))
}

/// The common name of a DSCP codepoint, if it has one.
pub fn dscp_name(value: u8) -> Option<&'static str> {
    // "cs0" and "be" are both 0: print the common name.
    DSCP_NAMES
        .iter()
        .find(|(_, v)| *v == value)
        .map(|(n, _)| *n)
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = crate::addr_to_bytes(&self.addr);
        let (ip, max): (IpAddr, u8) = if self.family == 4 {
            ([o[0], o[1], o[2], o[3]].into(), 32)
        } else {
            (o.into(), 128)
        };
        if self.len == max {
            write!(f, "{ip}")
        } else {
            write!(f, "{ip}/{}", self.len)
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

/// The canonical text of a rule; parsing it gives the same rule back.
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if self.proto != 0 {
            parts.push(proto_name(self.proto).into());
        }
        if self.either_addr.len > 0 {
            parts.push(self.either_addr.to_string());
        }
        for (word, p) in [("src", &self.src), ("dst", &self.dst)] {
            if p.len > 0 {
                parts.push(format!("{word} {p}"));
            }
        }
        for (word, r) in [
            ("port", &self.either_port),
            ("sport", &self.sport),
            ("dport", &self.dport),
        ] {
            if !r.is_any() {
                parts.push(format!("{word} {r}"));
            }
        }
        if self.dscp != DSCP_ANY {
            match dscp_name(self.dscp) {
                Some(name) => parts.push(format!("dscp {name}")),
                None => parts.push(format!("dscp {}", self.dscp)),
            }
        }
        f.write_str(&parts.join(" "))
    }
}

impl serde::Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The high-priority rules, checked together.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct RuleSet(Vec<Rule>);

impl RuleSet {
    /// Parses rules, each given as its text; refuses duplicates and sets
    /// larger than the rule map.
    pub fn parse<S: AsRef<str>>(texts: &[S]) -> Result<Self, RuleError> {
        let mut set = RuleSet::default();
        for text in texts {
            set.add(text.as_ref().parse()?)?;
        }
        Ok(set)
    }

    pub fn add(&mut self, rule: Rule) -> Result<(), RuleError> {
        if self.0.contains(&rule) {
            return Err(RuleError::Duplicate(rule.to_string()));
        }
        if self.0.len() as u32 >= MAX_RULES {
            return Err(RuleError::TooMany);
        }
        self.0.push(rule);
        Ok(())
    }

    /// Removes `rule`; false if it was not in the set.
    pub fn remove(&mut self, rule: &Rule) -> bool {
        let before = self.0.len();
        self.0.retain(|r| r != rule);
        self.0.len() != before
    }

    pub fn rules(&self) -> &[Rule] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Is `flow` high priority under these rules?
    pub fn is_high(&self, flow: &crate::FlowKey) -> bool {
        self.0.iter().any(|r| crate::matches(r, flow))
    }
}

impl fmt::Display for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<String> = self.0.iter().map(Rule::to_string).collect();
        f.write_str(&texts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_takes_a_rule_out_and_says_whether_it_was_there() {
        let mut set = RuleSet::parse(&["udp port 7777", "dscp ef"]).unwrap();
        assert!(set.remove(&"udp port 7777".parse().unwrap()));
        assert!(!set.remove(&"udp port 7777".parse().unwrap()));
        assert_eq!(set.to_string(), "dscp ef");
    }
    use crate::{FlowKey, matches};

    fn flow(proto: u8, src: &str, sport: u16, dst: &str, dport: u16) -> FlowKey {
        let mut k = FlowKey {
            proto,
            sport,
            dport,
            ..Default::default()
        };
        for (text, out) in [(src, &mut k.src), (dst, &mut k.dst)] {
            let mut bytes = [0u8; 16];
            match text.parse::<IpAddr>().unwrap() {
                IpAddr::V4(v4) => {
                    bytes[..4].copy_from_slice(&v4.octets());
                    k.family = 4;
                }
                IpAddr::V6(v6) => {
                    bytes = v6.octets();
                    k.family = 6;
                }
            }
            *out = crate::addr_from_bytes(&bytes);
        }
        k
    }

    #[test]
    fn keys_from_ip_headers_match_like_parsed_addresses() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[1] = 46 << 2; // DSCP EF
        v4[9] = PROTO_UDP;
        v4[12..16].copy_from_slice(&[10, 0, 0, 1]);
        v4[16..20].copy_from_slice(&[10, 0, 0, 2]);
        let mut k = FlowKey {
            sport: 40000,
            dport: 53,
            ..Default::default()
        };
        k.set_ipv4(&v4);
        let mut want = flow(PROTO_UDP, "10.0.0.1", 40000, "10.0.0.2", 53);
        want.dscp = 46;
        assert_eq!(k, want);
        assert!(matches(&rule("dscp ef udp dst 10.0.0.2/32 dport 53"), &k));

        let mut v6 = [0u8; 40];
        v6[0] = 0x60 | (46 >> 2);
        v6[1] = (46 & 3) << 6;
        v6[6] = PROTO_TCP;
        let src: std::net::Ipv6Addr = "fd00::1".parse().unwrap();
        let dst: std::net::Ipv6Addr = "fd00:1::2".parse().unwrap();
        v6[8..24].copy_from_slice(&src.octets());
        v6[24..40].copy_from_slice(&dst.octets());
        let mut k = FlowKey {
            sport: 443,
            dport: 50000,
            ..Default::default()
        };
        k.set_ipv6(&v6);
        let mut want = flow(PROTO_TCP, "fd00::1", 443, "fd00:1::2", 50000);
        want.dscp = 46;
        assert_eq!(k, want);
        assert!(matches(&rule("dscp ef src fd00::/64 tcp sport 443"), &k));
        assert!(!matches(&rule("dst fd00::/64"), &k));
    }

    fn rule(text: &str) -> Rule {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn the_issue_examples_parse_and_print_back() {
        for text in [
            "tcp dport 11211",
            "udp 10.0.0.0/8 dport 53",
            "dscp ef",
            "tcp src fd00::/64 sport 443-444",
        ] {
            assert_eq!(rule(text).to_string(), text);
        }
        assert_eq!(rule("dport 53   udp").to_string(), "udp dport 53");
        assert_eq!(rule("dscp 46").to_string(), "dscp ef");
        assert_eq!(rule("dscp 7").to_string(), "dscp 7");
        assert_eq!(rule("10.1.2.3").to_string(), "10.1.2.3");
    }

    #[test]
    fn matches_ports_protocols_and_directions() {
        let memcached = rule("tcp dport 11211");
        assert!(matches(
            &memcached,
            &flow(6, "10.0.0.1", 40000, "10.0.0.2", 11211)
        ));
        assert!(!matches(
            &memcached,
            &flow(17, "10.0.0.1", 40000, "10.0.0.2", 11211)
        ));
        assert!(!matches(
            &memcached,
            &flow(6, "10.0.0.2", 11211, "10.0.0.1", 40000)
        ));
        let both = rule("udp port 7777");
        assert!(matches(
            &both,
            &flow(17, "10.0.0.1", 40000, "10.0.0.2", 7777)
        ));
        assert!(matches(
            &both,
            &flow(17, "10.0.0.2", 7777, "10.0.0.1", 40000)
        ));
        let range = rule("dport 8000-8080");
        assert!(matches(&range, &flow(6, "1.1.1.1", 1, "2.2.2.2", 8080)));
        assert!(!matches(&range, &flow(6, "1.1.1.1", 1, "2.2.2.2", 8081)));
    }

    #[test]
    fn matches_prefixes_of_any_length_in_both_families() {
        let dns = rule("udp 10.0.0.0/8 port 53");
        assert!(matches(
            &dns,
            &flow(17, "192.168.1.1", 5000, "10.9.9.9", 53)
        ));
        assert!(matches(
            &dns,
            &flow(17, "10.9.9.9", 53, "192.168.1.1", 5000)
        ));
        assert!(!matches(
            &dns,
            &flow(17, "11.0.0.1", 53, "192.168.1.1", 5000)
        ));
        let odd = rule("dst 10.42.0.0/23");
        assert!(matches(&odd, &flow(6, "1.1.1.1", 1, "10.42.1.255", 2)));
        assert!(!matches(&odd, &flow(6, "1.1.1.1", 1, "10.42.2.0", 2)));
        let v6 = rule("src fd00:1::/33");
        assert!(matches(&v6, &flow(6, "fd00:1:7fff::1", 1, "::1", 2)));
        assert!(!matches(&v6, &flow(6, "fd00:1:8000::1", 1, "::1", 2)));
        assert!(
            !matches(&v6, &flow(6, "10.0.0.1", 1, "10.0.0.2", 2)),
            "family differs"
        );
    }

    #[test]
    fn matches_dscp() {
        let ef = rule("dscp ef");
        let mut f = flow(17, "1.1.1.1", 1, "2.2.2.2", 2);
        assert!(!matches(&ef, &f));
        f.dscp = 46;
        assert!(matches(&ef, &f));
    }

    #[test]
    fn bad_rules_say_what_is_wrong() {
        let err = |text: &str| text.parse::<Rule>().unwrap_err().to_string();
        assert_eq!(
            err("tcp dport 99999"),
            "99999 is not a port or port range (1-65535, e.g. 53 or 8000-8080)"
        );
        assert!(err("tcp frobnicate").starts_with("unknown word 'frobnicate'"));
        assert_eq!(err("tcp udp"), "conflicting protocols: tcp and udp");
        assert_eq!(err("dport 1 dport 2"), "'dport' is given twice");
        assert_eq!(err("dport"), "'dport' needs a value");
        assert_eq!(
            err("dport 90-80"),
            "90-80 is not a port or port range (1-65535, e.g. 53 or 8000-8080)"
        );
        assert!(err("src 10.0.0.0/33").contains("not an address"));
        assert!(err("dscp 64").contains("not a DSCP"));
        assert_eq!(
            err("src 10.0.0.0/8 dst fd00::/8"),
            "mixes IPv4 and IPv6 addresses, so it could never match"
        );
        assert!(err("   ").starts_with("empty rule"));
    }

    #[test]
    fn rule_sets_refuse_duplicates_and_overflow() {
        let err = RuleSet::parse(&["tcp dport 80", "dport 80 tcp"]).unwrap_err();
        assert_eq!(err.to_string(), "rule 'tcp dport 80' is given twice");
        let many: Vec<String> = (1..=65).map(|p| format!("dport {p}")).collect();
        assert_eq!(RuleSet::parse(&many).unwrap_err(), RuleError::TooMany);
        let set = RuleSet::parse(&["tcp dport 80", "dscp ef"]).unwrap();
        assert_eq!(set.to_string(), "tcp dport 80, dscp ef");
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, r#"["tcp dport 80","dscp ef"]"#);
        assert_eq!(serde_json::from_str::<RuleSet>(&json).unwrap(), set);
    }
}
