//! The runtime catalogue: every runtime identifier Lambda knows, the operating system it is
//! built on, the architectures it is offered on, and its deprecation and block dates.
//!
//! This table is the one place these facts live. Dates are AWS's "Deprecation date",
//! "Block function create" and "Block function update" columns of the Lambda runtimes page
//! (docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html, as mirrored by endoflife.date),
//! as `YYYY-MM-DD`; AWS moves them, so recheck that page when one passes.

use crate::Architecture;

/// The operating system family a runtime is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OsFamily {
    /// Amazon Linux (2018.03), glibc 2.17. Never offered on arm64.
    AmazonLinux1,
    /// Amazon Linux 2, glibc 2.26.
    AmazonLinux2,
    /// Amazon Linux 2023, glibc 2.34.
    AmazonLinux2023,
}

impl OsFamily {
    /// The glibc version of the family's runtimes, as (major, minor).
    pub fn glibc(self) -> (u32, u32) {
        match self {
            OsFamily::AmazonLinux1 => (2, 17),
            OsFamily::AmazonLinux2 => (2, 26),
            OsFamily::AmazonLinux2023 => (2, 34),
        }
    }
}

/// One runtime identifier and its facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeInfo {
    /// The identifier, e.g. `python3.12`.
    pub id: &'static str,
    /// The operating system the runtime is built on.
    pub os: OsFamily,
    /// Architectures the runtime is offered on.
    pub architectures: &'static [Architecture],
    /// Date the runtime is deprecated (`YYYY-MM-DD`), if announced.
    pub deprecation: Option<&'static str>,
    /// Date from which new functions can no longer use it.
    pub block_create: Option<&'static str>,
    /// Date from which existing functions can no longer be updated to or on it.
    pub block_update: Option<&'static str>,
    /// True when Lambda only offers it for container images (it is not a valid `Runtime`).
    pub image_only: bool,
}

const BOTH: &[Architecture] = &[Architecture::X86_64, Architecture::Arm64];
const X86_ONLY: &[Architecture] = &[Architecture::X86_64];

const fn rt(
    id: &'static str,
    os: OsFamily,
    architectures: &'static [Architecture],
    dates: [Option<&'static str>; 3],
) -> RuntimeInfo {
    RuntimeInfo {
        id,
        os,
        architectures,
        deprecation: dates[0],
        block_create: dates[1],
        block_update: dates[2],
        image_only: false,
    }
}

use OsFamily::{AmazonLinux1 as AL1, AmazonLinux2 as AL2, AmazonLinux2023 as AL2023};

const fn d(
    dep: &'static str,
    create: &'static str,
    update: &'static str,
) -> [Option<&'static str>; 3] {
    [Some(dep), Some(create), Some(update)]
}

/// Every runtime identifier Lambda accepts in `Runtime`, current and retired.
pub static CATALOGUE: &[RuntimeInfo] = &[
    rt(
        "nodejs24.x",
        AL2023,
        BOTH,
        d("2028-04-30", "2028-06-01", "2028-07-01"),
    ),
    rt(
        "nodejs22.x",
        AL2023,
        BOTH,
        d("2027-04-30", "2027-06-01", "2027-07-01"),
    ),
    rt(
        "nodejs20.x",
        AL2023,
        BOTH,
        d("2026-04-30", "2026-06-01", "2026-07-01"),
    ),
    rt(
        "nodejs18.x",
        AL2,
        BOTH,
        d("2025-09-01", "2026-03-09", "2026-03-09"),
    ),
    rt(
        "nodejs16.x",
        AL2,
        BOTH,
        d("2024-06-12", "2026-03-09", "2026-03-09"),
    ),
    rt(
        "nodejs14.x",
        AL2,
        BOTH,
        d("2023-12-04", "2024-01-09", "2026-03-09"),
    ),
    rt(
        "nodejs12.x",
        AL2,
        BOTH,
        d("2023-03-31", "2023-03-31", "2023-04-30"),
    ),
    rt(
        "nodejs10.x",
        AL2,
        X86_ONLY,
        d("2021-07-30", "2021-07-30", "2022-02-14"),
    ),
    rt(
        "python3.14",
        AL2023,
        BOTH,
        d("2029-06-30", "2029-07-31", "2029-08-31"),
    ),
    rt(
        "python3.13",
        AL2023,
        BOTH,
        d("2029-06-30", "2029-07-31", "2029-08-31"),
    ),
    rt(
        "python3.12",
        AL2023,
        BOTH,
        d("2028-10-31", "2028-11-30", "2029-01-10"),
    ),
    rt(
        "python3.11",
        AL2,
        BOTH,
        d("2027-06-30", "2027-07-31", "2027-08-31"),
    ),
    rt(
        "python3.10",
        AL2,
        BOTH,
        d("2026-10-31", "2026-11-30", "2027-01-15"),
    ),
    rt(
        "python3.9",
        AL2,
        BOTH,
        d("2025-12-15", "2026-06-15", "2026-07-15"),
    ),
    rt(
        "python3.8",
        AL2,
        BOTH,
        d("2024-10-14", "2026-03-09", "2026-03-09"),
    ),
    rt(
        "python3.7",
        AL1,
        X86_ONLY,
        d("2023-12-04", "2024-01-09", "2026-03-09"),
    ),
    rt(
        "python3.6",
        AL1,
        X86_ONLY,
        d("2022-07-18", "2022-07-18", "2022-08-29"),
    ),
    rt(
        "python2.7",
        AL1,
        X86_ONLY,
        d("2021-07-15", "2021-07-15", "2022-05-30"),
    ),
    rt(
        "java25",
        AL2023,
        BOTH,
        d("2029-06-30", "2029-07-31", "2029-08-31"),
    ),
    rt(
        "java21",
        AL2023,
        BOTH,
        d("2029-06-30", "2029-07-31", "2029-08-31"),
    ),
    rt(
        "java17",
        AL2,
        BOTH,
        d("2027-06-30", "2027-07-31", "2027-08-31"),
    ),
    rt(
        "java11",
        AL2,
        BOTH,
        d("2027-06-30", "2027-07-31", "2027-08-31"),
    ),
    rt(
        "java8.al2",
        AL2,
        BOTH,
        d("2027-06-30", "2027-07-31", "2027-08-31"),
    ),
    rt(
        "java8",
        AL1,
        X86_ONLY,
        d("2024-01-08", "2024-02-08", "2026-03-09"),
    ),
    rt(
        "dotnet10",
        AL2023,
        BOTH,
        d("2028-11-14", "2028-12-14", "2029-01-15"),
    ),
    rt(
        "dotnet8",
        AL2023,
        BOTH,
        d("2026-11-10", "2026-12-10", "2027-01-11"),
    ),
    rt(
        "dotnet6",
        AL2,
        BOTH,
        d("2024-12-20", "2026-03-09", "2026-03-09"),
    ),
    rt(
        "dotnet7",
        AL2,
        BOTH,
        d("2024-05-14", "2024-05-14", "2024-05-14"),
    ),
    rt(
        "dotnetcore3.1",
        AL2,
        BOTH,
        d("2023-04-03", "2023-04-03", "2023-05-03"),
    ),
    rt(
        "dotnetcore2.1",
        AL1,
        X86_ONLY,
        d("2022-01-05", "2022-01-05", "2022-04-13"),
    ),
    rt(
        "ruby3.4",
        AL2023,
        BOTH,
        d("2028-03-31", "2028-04-30", "2028-05-31"),
    ),
    rt(
        "ruby3.3",
        AL2023,
        BOTH,
        d("2027-03-31", "2027-04-30", "2027-05-31"),
    ),
    rt(
        "ruby3.2",
        AL2,
        BOTH,
        d("2026-03-31", "2026-06-01", "2026-07-01"),
    ),
    rt(
        "ruby2.7",
        AL2,
        BOTH,
        d("2023-12-07", "2024-01-09", "2026-03-09"),
    ),
    rt(
        "ruby2.5",
        AL1,
        X86_ONLY,
        d("2021-07-30", "2021-07-30", "2022-03-31"),
    ),
    rt(
        "go1.x",
        AL1,
        X86_ONLY,
        d("2024-01-08", "2024-02-08", "2026-03-09"),
    ),
    rt(
        "provided.al2023",
        AL2023,
        BOTH,
        d("2029-06-30", "2029-07-31", "2029-08-31"),
    ),
    rt(
        "provided.al2",
        AL2,
        BOTH,
        d("2026-07-31", "2026-08-31", "2026-09-30"),
    ),
    rt(
        "provided",
        AL1,
        X86_ONLY,
        d("2024-01-08", "2024-02-08", "2026-03-09"),
    ),
];

/// Looks a runtime identifier up; case-sensitive, as Lambda is.
pub fn lookup(id: &str) -> Option<&'static RuntimeInfo> {
    CATALOGUE.iter().find(|r| r.id == id && !r.image_only)
}

/// All identifiers, in catalogue order, for "enum value set" error messages.
pub fn identifiers() -> impl Iterator<Item = &'static str> {
    CATALOGUE.iter().map(|r| r.id)
}

impl RuntimeInfo {
    /// Whether the runtime is offered on `arch`.
    pub fn supports(&self, arch: Architecture) -> bool {
        self.architectures.contains(&arch)
    }

    /// Whether creating a function with this runtime is blocked on `today` (`YYYY-MM-DD`).
    pub fn create_blocked(&self, today: &str) -> bool {
        self.block_create.is_some_and(|d| d <= today)
    }

    /// Whether updating a function to or on this runtime is blocked on `today`.
    pub fn update_blocked(&self, today: &str) -> bool {
        self.block_update.is_some_and(|d| d <= today)
    }

    /// Whether the deprecation date has passed on `today`.
    pub fn deprecated(&self, today: &str) -> bool {
        self.deprecation.is_some_and(|d| d <= today)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amazon_linux_1_runtimes_are_x86_only() {
        for r in CATALOGUE.iter().filter(|r| r.os == OsFamily::AmazonLinux1) {
            assert!(!r.supports(Architecture::Arm64), "{}", r.id);
        }
    }

    #[test]
    fn identifiers_are_unique() {
        let mut ids: Vec<_> = identifiers().collect();
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }

    #[test]
    fn block_dates_follow_deprecation() {
        assert!(lookup("python3.12").is_some_and(|r| !r.create_blocked("2026-11-27")));
        assert!(lookup("python3.7").is_some_and(|r| r.create_blocked("2026-11-27")));
        assert!(lookup("PYTHON3.12").is_none());
    }
}
