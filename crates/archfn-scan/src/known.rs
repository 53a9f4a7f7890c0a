//! The first version of well-known packages that ships linux/arm64 builds, read from the
//! registries by `scripts/arm64-min-versions.py` into `data/arm64-support.json` (each entry
//! names the file that proves it and the registry page it came from).

use std::cmp::Ordering;
use std::sync::OnceLock;

use serde::Deserialize;

/// One row of the table.
#[derive(Debug, Clone, Deserialize)]
pub struct Support {
    /// `pypi` or `npm`.
    pub ecosystem: String,
    /// Package name as the registry spells it.
    pub name: String,
    /// The first release with a linux arm64 build.
    pub min_version: String,
    /// The file or platform package that shows it.
    pub evidence: String,
    /// The registry address it was read from.
    pub source: String,
}

fn table() -> &'static [Support] {
    static TABLE: OnceLock<Vec<Support>> = OnceLock::new();
    TABLE.get_or_init(|| {
        serde_json::from_str(include_str!("../data/arm64-support.json")).unwrap_or_default()
    })
}

/// PyPI's name normalisation (PEP 503): lower case, runs of `-_.` as one `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The row for a PyPI project, by any spelling of its name.
pub fn pypi(name: &str) -> Option<&'static Support> {
    let n = normalize(name);
    table()
        .iter()
        .find(|s| s.ecosystem == "pypi" && normalize(&s.name) == n)
}

/// The row whose arm64 platform package is `platform_package` (e.g. `@esbuild/linux-arm64`).
pub fn npm_platform(platform_package: &str) -> Option<&'static Support> {
    table().iter().find(|s| {
        s.ecosystem == "npm"
            && s.evidence
                .rsplit_once('@')
                .is_some_and(|(p, _)| p == platform_package)
    })
}

/// Compares dotted versions number by number (`1.9` < `1.19`); text parts compare as text.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let parts = |v: &str| -> Vec<String> { v.split(['.', '-', '+']).map(str::to_string).collect() };
    let (pa, pb) = (parts(a), parts(b));
    for i in 0..pa.len().max(pb.len()) {
        let (x, y) = (
            pa.get(i).map_or("0", String::as_str),
            pb.get(i).map_or("0", String::as_str),
        );
        let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_loads_and_answers() {
        let numpy = pypi("NumPy").unwrap_or_else(|| panic!("numpy missing"));
        assert!(numpy.evidence.contains("aarch64"));
        assert!(numpy.source.starts_with("https://pypi.org/"));
        assert!(pypi("psycopg2_binary").is_some());
        assert!(npm_platform("@esbuild/linux-arm64").is_some());
        assert_eq!(compare_versions("1.9.0", "1.19.0"), Ordering::Less);
        assert_eq!(compare_versions("2.0", "2.0.0"), Ordering::Equal);
        assert_eq!(
            compare_versions("2020.10.28", "2020.9.1"),
            Ordering::Greater
        );
    }
}
