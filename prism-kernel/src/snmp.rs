//! A namespace's protocol counters, from its `/proc/net/snmp`: the
//! checksum errors and retransmissions that tell whether a path damaged or
//! lost what it carried.

use anyhow::{Context, Result, anyhow};

use crate::netns;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Snmp {
    pub udp_in_csum_errors: u64,
    pub udp_rcvbuf_errors: u64,
    pub tcp_in_csum_errors: u64,
    pub tcp_retrans_segs: u64,
}

impl Snmp {
    /// The counters of namespace `ns` (`None`: this one).
    pub fn of(ns: Option<&str>) -> Result<Self> {
        let text = netns::run_in(ns, || std::fs::read_to_string("/proc/thread-self/net/snmp"))?
            .context("read /proc/net/snmp")?;
        Self::parse(&text)
    }

    /// Parses the file's pairs of lines (`Udp: names...`, `Udp: values...`).
    pub fn parse(text: &str) -> Result<Self> {
        let value = |proto: &str, field: &str| -> Result<u64> {
            let prefix = format!("{proto}: ");
            let mut lines = text.lines().filter(|l| l.starts_with(&prefix));
            let (names, values) = lines
                .next()
                .zip(lines.next())
                .ok_or_else(|| anyhow!("no {proto} lines"))?;
            let i = names
                .split_whitespace()
                .position(|n| n == field)
                .ok_or_else(|| anyhow!("no {proto} {field}"))?;
            values
                .split_whitespace()
                .nth(i)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| anyhow!("no value for {proto} {field}"))
        };
        Ok(Self {
            udp_in_csum_errors: value("Udp", "InCsumErrors")?,
            udp_rcvbuf_errors: value("Udp", "RcvbufErrors")?,
            tcp_in_csum_errors: value("Tcp", "InCsumErrors")?,
            tcp_retrans_segs: value("Tcp", "RetransSegs")?,
        })
    }

    /// What grew between `earlier` and this reading.
    pub fn since(&self, earlier: &Snmp) -> Snmp {
        Snmp {
            udp_in_csum_errors: self
                .udp_in_csum_errors
                .saturating_sub(earlier.udp_in_csum_errors),
            udp_rcvbuf_errors: self
                .udp_rcvbuf_errors
                .saturating_sub(earlier.udp_rcvbuf_errors),
            tcp_in_csum_errors: self
                .tcp_in_csum_errors
                .saturating_sub(earlier.tcp_in_csum_errors),
            tcp_retrans_segs: self
                .tcp_retrans_segs
                .saturating_sub(earlier.tcp_retrans_segs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_by_name() {
        let text = "Tcp: RtoAlgorithm RetransSegs InErrs InCsumErrors\nTcp: 1 17 0 2\n\
                    Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors\n\
                    Udp: 5 0 0 5 3 0 1\n";
        let s = Snmp::parse(text).unwrap();
        assert_eq!(
            s,
            Snmp {
                udp_in_csum_errors: 1,
                udp_rcvbuf_errors: 3,
                tcp_in_csum_errors: 2,
                tcp_retrans_segs: 17
            }
        );
        assert!(Snmp::parse("Ip: 1\nIp: 2\n").is_err());
        assert!(Snmp::of(None).is_ok());
    }
}
