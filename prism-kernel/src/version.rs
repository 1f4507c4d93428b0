//! The running kernel's release.

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KernelVersion {
    /// `uname -r`, e.g. `6.18.44-fc-v782`.
    pub release: String,
    pub major: u32,
    pub minor: u32,
}

impl KernelVersion {
    pub fn current() -> Self {
        let release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::parse(&release)
    }

    pub fn parse(release: &str) -> Self {
        let mut nums = release
            .split(|c: char| !c.is_ascii_digit())
            .map(|n| n.parse().unwrap_or(0));
        Self {
            release: release.to_string(),
            major: nums.next().unwrap_or(0),
            minor: nums.next().unwrap_or(0),
        }
    }

    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_distribution_suffixes() {
        let v = KernelVersion::parse("6.18.44-fc-v782");
        assert_eq!((v.major, v.minor), (6, 18));
        assert!(v.at_least(5, 10) && v.at_least(6, 18) && !v.at_least(6, 19));
        assert_eq!(KernelVersion::parse("5.4.0").minor, 4);
    }
}
