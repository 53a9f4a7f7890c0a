//! A version's figures in a step: counts and percentiles from its tally, cost per million
//! invocations at Lambda's prices for the version's memory and architecture.

use std::time::Duration;

use archfn_invoke::WatchedVersion;
use archfn_model::Architecture;
use archfn_model::deployment::{Tally, VersionFigures};
use archfn_model::metrics::{Execution, MinuteStats};
use archfn_pricing::{Invocation, PriceBook};

/// What the price of a version's invocation depends on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Billing {
    pub arch: Architecture,
    pub memory_mb: u32,
    pub ephemeral_storage_mb: u32,
}

/// One version's side of a step.
#[derive(Debug, Clone, Default)]
pub(crate) struct Side {
    pub version: String,
    pub stats: MinuteStats,
    pub arch: Option<Architecture>,
    pub execution: Option<Execution>,
}

impl Side {
    pub(crate) fn new(version: &str, tally: &Tally, seen: Option<&VersionFigures>) -> Side {
        Side {
            version: version.to_string(),
            stats: tally.stats(),
            arch: seen.and_then(|f| f.architecture),
            execution: seen.and_then(|f| f.execution),
        }
    }

    /// Adds what a watch saw of this version.
    pub(crate) fn add(&mut self, w: &WatchedVersion) {
        self.stats.merge(&w.stats);
        self.arch = w.arch.or(self.arch);
        self.execution = w.execution.or(self.execution);
    }

    /// The figures, with cost when the prices know the region.
    pub(crate) fn figures(
        &self,
        prices: &PriceBook,
        region: &str,
        billing: Option<Billing>,
    ) -> VersionFigures {
        let mut f = VersionFigures::of(&self.version, &self.stats);
        f.architecture = self.arch;
        f.execution = self.execution;
        let ran = self.stats.invocations;
        if let (Some(b), true) = (billing, ran > 0) {
            let mean_ms = self.stats.billed_ms as f64 / ran as f64;
            let sample = Invocation::new(b.memory_mb, Duration::from_secs_f64(mean_ms / 1000.0))
                .with_ephemeral_storage_mb(b.ephemeral_storage_mb);
            f.cost_per_million_usd = prices
                .cost_per_million(region, b.arch, &[sample])
                .ok()
                .map(|c| c.total_usd);
        }
        f
    }

    pub(crate) fn tally(&self) -> Tally {
        Tally::of(&self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_follows_architecture_and_memory() {
        let prices = PriceBook::embedded().unwrap_or_else(|e| panic!("{e}"));
        let mut stats = MinuteStats {
            invocations: 10,
            billed_ms: 1_000,
            ..MinuteStats::default()
        };
        stats.duration_us.record(100_000);
        let side = Side {
            version: "2".into(),
            stats,
            arch: Some(Architecture::Arm64),
            execution: Some(Execution::Emulated),
        };
        let bill = |arch| Billing {
            arch,
            memory_mb: 1024,
            ephemeral_storage_mb: 512,
        };
        let arm = side.figures(&prices, "us-east-1", Some(bill(Architecture::Arm64)));
        let x86 = side.figures(&prices, "us-east-1", Some(bill(Architecture::X86_64)));
        // 100 ms at 1 GB: 0.1 GB-s per invocation; a million: 100,000 GB-s plus $0.20.
        let expect_arm = 100_000.0 * 0.000_013_333_4 + 0.2;
        let got = arm.cost_per_million_usd.unwrap_or(0.0);
        assert!((got - expect_arm).abs() < 1e-3, "{got} vs {expect_arm}");
        assert!(x86.cost_per_million_usd > arm.cost_per_million_usd);
        assert_eq!(arm.execution, Some(Execution::Emulated));
        assert_eq!(
            side.figures(&prices, "xx-nowhere-1", Some(bill(Architecture::Arm64)))
                .cost_per_million_usd,
            None
        );
    }
}
