//! The instruction set architecture of a function: `x86_64` or `arm64`.

use serde::{Deserialize, Serialize};

/// An instruction set architecture a function can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Architecture {
    /// 64-bit x86 (Intel/AMD).
    #[serde(rename = "x86_64")]
    X86_64,
    /// 64-bit ARM (AWS Graviton).
    #[serde(rename = "arm64")]
    Arm64,
}

impl Architecture {
    /// Both architectures, in the order AWS lists them.
    pub const ALL: [Architecture; 2] = [Architecture::X86_64, Architecture::Arm64];

    /// The Lambda identifier (`x86_64` or `arm64`).
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }

    /// The other architecture.
    pub fn other(self) -> Architecture {
        match self {
            Architecture::X86_64 => Architecture::Arm64,
            Architecture::Arm64 => Architecture::X86_64,
        }
    }

    /// The machine name as `uname -m`, Python wheel tags and Debian triplets say it
    /// (`x86_64`, `aarch64`).
    pub fn machine(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "aarch64",
        }
    }

    /// The name Node.js and npm use (`process.arch`, package `cpu` fields): `x64`, `arm64`.
    pub fn node_arch(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x64",
            Architecture::Arm64 => "arm64",
        }
    }

    /// The name container images and Go use (`GOARCH`, OCI platforms): `amd64`, `arm64`.
    pub fn go_arch(self) -> &'static str {
        match self {
            Architecture::X86_64 => "amd64",
            Architecture::Arm64 => "arm64",
        }
    }

    /// The architecture of a container image or Go name (`amd64`, `arm64`; Debian names these
    /// two the same way), if Lambda offers it.
    pub fn from_go_arch(s: &str) -> Option<Architecture> {
        Architecture::ALL.into_iter().find(|a| a.go_arch() == s)
    }

    /// The architecture of a machine name (`x86_64`, `aarch64`, as [`Architecture::machine`]
    /// says it), if Lambda offers it.
    pub fn from_machine(s: &str) -> Option<Architecture> {
        Architecture::ALL.into_iter().find(|a| a.machine() == s)
    }

    /// Parses a Lambda identifier; case-sensitive, as Lambda is.
    pub fn parse(s: &str) -> Option<Architecture> {
        match s {
            "x86_64" => Some(Architecture::X86_64),
            "arm64" => Some(Architecture::Arm64),
            _ => None,
        }
    }

    /// The architecture of the machine this process runs on, if it is one Lambda offers.
    pub fn host() -> Option<Architecture> {
        Architecture::from_machine(std::env::consts::ARCH)
    }
}

impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_identifiers_only() {
        assert_eq!(Architecture::parse("arm64"), Some(Architecture::Arm64));
        assert_eq!(Architecture::parse("x86_64"), Some(Architecture::X86_64));
        assert_eq!(Architecture::parse("X86_64"), None);
        assert_eq!(Architecture::parse("aarch64"), None);
    }

    #[test]
    fn reads_go_and_machine_names_back() {
        for a in Architecture::ALL {
            assert_eq!(Architecture::from_go_arch(a.go_arch()), Some(a));
            assert_eq!(Architecture::from_machine(a.machine()), Some(a));
        }
        assert_eq!(
            Architecture::from_go_arch("amd64"),
            Some(Architecture::X86_64)
        );
        assert_eq!(Architecture::from_go_arch("x86_64"), None);
        assert_eq!(Architecture::from_go_arch("arm"), None);
        assert_eq!(Architecture::from_machine("arm64"), None);
    }
}
