//! The cost model: billed usage of invocations, and its price under a [`PriceBook`].
//!
//! Rounding, in the order it happens:
//! - Each invocation's billed duration is its duration (plus its INIT duration when the book
//!   says INIT is billed) rounded **up** to a whole millisecond, as Lambda bills.
//! - Usage is kept as integer MB-milliseconds (memory MB × billed ms); a GB-second is
//!   1,024,000 MB-ms (a GB is 1,024 MB, as in AWS's examples).
//! - Scaling a sample of invocations to a month's count rounds the month's MB-ms to the
//!   nearest whole MB-ms (an error below $0.00000000002).
//! - Prices are whole pico-dollars (10^-12 USD), so each charge is an exact fraction; each
//!   charge (duration, requests, ephemeral storage, and each tier's share) is rounded once,
//!   half up, to a whole pico-dollar. The total is the sum of the rounded charges.
//! - Dollars in [`CostBreakdown`] are those pico-dollar amounts divided by 10^12, as `f64`:
//!   not rounded to cents. AWS's bill rounds to cents; a report may round for display.

use std::time::Duration;

use archfn_model::Architecture;
use archfn_model::limits::{EPHEMERAL_MAX_MB, EPHEMERAL_MIN_MB, MEMORY_MAX_MB, MEMORY_MIN_MB};
use serde::{Deserialize, Serialize};

use crate::book::{PICO_PER_DOLLAR, PriceBook};
use crate::error::PricingError;

/// MB-milliseconds in a GB-second.
const MB_MS_PER_GB_SECOND: u128 = 1_024_000;

/// One invocation as Lambda bills it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invocation {
    /// The function's MemorySize.
    pub memory_mb: u32,
    /// How long the handler ran (Lambda's `Duration`), before rounding.
    pub duration: Duration,
    /// How long INIT ran when this invocation was a cold start (`Init Duration`); zero when
    /// warm.
    pub init: Duration,
    /// The function's EphemeralStorage size (512 MB unless configured).
    pub ephemeral_storage_mb: u32,
}

impl Invocation {
    /// A warm invocation with the default 512 MB of ephemeral storage.
    pub fn new(memory_mb: u32, duration: Duration) -> Invocation {
        Invocation {
            memory_mb,
            duration,
            init: Duration::ZERO,
            ephemeral_storage_mb: EPHEMERAL_MIN_MB,
        }
    }

    /// The same invocation as a cold start whose INIT took `init`.
    pub fn with_init(self, init: Duration) -> Invocation {
        Invocation { init, ..self }
    }

    /// The same invocation with `ephemeral_storage_mb` of ephemeral storage.
    pub fn with_ephemeral_storage_mb(self, ephemeral_storage_mb: u32) -> Invocation {
        Invocation {
            ephemeral_storage_mb,
            ..self
        }
    }
}

/// Billed usage of one architecture in one region: what the duration tiers apply to.
///
/// Usage adds up (`+`, `+=`): the tiers apply to the month's aggregate of every function of
/// the same architecture in the same region of an account, so add the usage of each such
/// function before calling [`PriceBook::bill`]. Adding usage of different architectures or
/// regions is the caller's mistake; this type does not know either.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Requests (invocations).
    pub requests: u64,
    /// Σ memory MB × billed ms.
    pub mb_ms: u128,
    /// Σ (ephemeral storage MB − the free 512 MB) × billed ms.
    pub storage_mb_ms: u128,
}

impl std::ops::Add for Usage {
    type Output = Usage;

    fn add(self, other: Usage) -> Usage {
        Usage {
            requests: self.requests.saturating_add(other.requests),
            mb_ms: self.mb_ms.saturating_add(other.mb_ms),
            storage_mb_ms: self.storage_mb_ms.saturating_add(other.storage_mb_ms),
        }
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        *self = *self + other;
    }
}

impl Usage {
    /// Duration GB-seconds.
    pub fn gb_seconds(&self) -> f64 {
        self.mb_ms as f64 / MB_MS_PER_GB_SECOND as f64
    }
}

/// Whether the monthly free tier is taken off the bill.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FreeTier {
    /// Charge everything (the default: comparisons between architectures should not depend
    /// on how much of an account's free tier other functions use).
    #[default]
    Exclude,
    /// Take the whole monthly free tier (1 M requests, 400,000 GB-seconds) off this bill. The
    /// free tier is the account's, shared by every architecture and region, so apply it to
    /// one bill only.
    Include,
}

/// What a usage costs, by charge. Serialized with stable snake_case field names; the
/// compare report embeds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostBreakdown {
    /// The region whose prices were used.
    pub region: String,
    /// The architecture whose prices were used.
    pub architecture: Architecture,
    /// Requests counted.
    pub requests: u64,
    /// Requests charged (after the free tier, when applied).
    pub billed_requests: u64,
    /// Duration GB-seconds used.
    pub gb_seconds: f64,
    /// Duration GB-seconds charged (after the free tier, when applied).
    pub billed_gb_seconds: f64,
    /// GB-seconds of ephemeral storage above the free 512 MB.
    pub ephemeral_storage_gb_seconds: f64,
    /// Whether the free tier was taken off.
    pub free_tier_applied: bool,
    /// Duration charge, dollars.
    pub duration_usd: f64,
    /// Request charge, dollars.
    pub requests_usd: f64,
    /// Ephemeral storage charge, dollars.
    pub ephemeral_storage_usd: f64,
    /// Sum of the three charges, dollars.
    pub total_usd: f64,
    /// How the charged GB-seconds fall into the monthly duration tiers, every tier listed.
    pub tiers: Vec<TierShare>,
    /// The date of the most recent pricing change the prices include.
    pub prices_effective_from: String,
}

/// The part of the charged duration that falls into one tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierShare {
    /// The tier's number, from 1.
    pub tier: u32,
    /// The cumulative GB-seconds of the month where the tier starts.
    pub from_gb_seconds: u64,
    /// Where it ends; `None` for the last tier.
    pub up_to_gb_seconds: Option<u64>,
    /// Dollars per GB-second in the tier.
    pub price_per_gb_second: f64,
    /// Charged GB-seconds in the tier.
    pub gb_seconds: f64,
    /// Fraction (0 to 1) of the charged GB-seconds in the tier; 0 when nothing is charged.
    pub share: f64,
    /// The tier's duration charge, dollars.
    pub duration_usd: f64,
}

/// `n / d` rounded half up; `d` is never zero here.
fn round_div(n: u128, d: u128) -> u128 {
    n.saturating_add(d / 2) / d
}

fn dollars(pico: u128) -> f64 {
    pico as f64 / PICO_PER_DOLLAR
}

fn check_range(what: &'static str, value: u32, min: u32, max: u32) -> Result<(), PricingError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(PricingError::OutOfRange {
            what,
            value,
            min,
            max,
        })
    }
}

impl PriceBook {
    /// The billed milliseconds of an invocation: its duration, plus its INIT duration when
    /// INIT is billed, rounded up to a whole millisecond.
    pub fn billed_ms(&self, invocation: &Invocation) -> u64 {
        let mut ran = invocation.duration;
        if self.init_phase.billed {
            ran = ran.saturating_add(invocation.init);
        }
        u64::try_from(ran.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
    }

    /// The billed usage of one invocation.
    pub fn usage(&self, invocation: &Invocation) -> Result<Usage, PricingError> {
        check_range("memory", invocation.memory_mb, MEMORY_MIN_MB, MEMORY_MAX_MB)?;
        check_range(
            "ephemeral storage",
            invocation.ephemeral_storage_mb,
            EPHEMERAL_MIN_MB,
            EPHEMERAL_MAX_MB,
        )?;
        let billed_ms = u128::from(self.billed_ms(invocation));
        let extra_storage_mb = invocation
            .ephemeral_storage_mb
            .saturating_sub(self.ephemeral.included_mb);
        Ok(Usage {
            requests: 1,
            mb_ms: u128::from(invocation.memory_mb) * billed_ms,
            storage_mb_ms: u128::from(extra_storage_mb) * billed_ms,
        })
    }

    /// The usage of `invocations` invocations that behave, on average, like `samples` (each
    /// sample rounded up to its own billed milliseconds first). A single sample is a mean.
    pub fn usage_scaled(
        &self,
        samples: &[Invocation],
        invocations: u64,
    ) -> Result<Usage, PricingError> {
        if samples.is_empty() {
            return Err(PricingError::NoSamples);
        }
        let mut sum = Usage::default();
        for sample in samples {
            sum += self.usage(sample)?;
        }
        let n = samples.len() as u128;
        let m = u128::from(invocations);
        Ok(Usage {
            requests: invocations,
            mb_ms: round_div(sum.mb_ms.saturating_mul(m), n),
            storage_mb_ms: round_div(sum.storage_mb_ms.saturating_mul(m), n),
        })
    }

    /// What one invocation costs on `architecture` in `region`: first-tier duration, one
    /// request, ephemeral storage; no free tier.
    pub fn invocation_cost(
        &self,
        region: &str,
        architecture: Architecture,
        invocation: &Invocation,
    ) -> Result<CostBreakdown, PricingError> {
        let usage = self.usage(invocation)?;
        self.bill(region, architecture, &usage, FreeTier::Exclude)
    }

    /// What a million invocations like `samples` cost, as if they were the month's only
    /// invocations of that architecture in that region, without the free tier.
    pub fn cost_per_million(
        &self,
        region: &str,
        architecture: Architecture,
        samples: &[Invocation],
    ) -> Result<CostBreakdown, PricingError> {
        self.monthly_cost(region, architecture, samples, 1_000_000, FreeTier::Exclude)
    }

    /// What a month of `invocations` invocations like `samples` costs: the duration tiers
    /// applied to the month's aggregate GB-seconds, plus requests and ephemeral storage,
    /// and the free tier when asked for.
    pub fn monthly_cost(
        &self,
        region: &str,
        architecture: Architecture,
        samples: &[Invocation],
        invocations: u64,
        free_tier: FreeTier,
    ) -> Result<CostBreakdown, PricingError> {
        let usage = self.usage_scaled(samples, invocations)?;
        self.bill(region, architecture, &usage, free_tier)
    }

    /// What a month's aggregate usage of one architecture in one region costs.
    pub fn bill(
        &self,
        region: &str,
        architecture: Architecture,
        usage: &Usage,
        free_tier: FreeTier,
    ) -> Result<CostBreakdown, PricingError> {
        let prices = self.duration_prices(region, architecture)?;

        let (billed_requests, billed_mb_ms) = match free_tier {
            FreeTier::Exclude => (usage.requests, usage.mb_ms),
            FreeTier::Include => (
                usage
                    .requests
                    .saturating_sub(self.free_tier.requests_per_month),
                usage.mb_ms.saturating_sub(
                    u128::from(self.free_tier.gb_seconds_per_month) * MB_MS_PER_GB_SECOND,
                ),
            ),
        };

        let mut tiers = Vec::with_capacity(prices.duration_tiers.len());
        let mut duration_numerator = 0u128;
        let mut start_gb_seconds = 0u64;
        for (i, tier) in prices.duration_tiers.iter().enumerate() {
            let start = u128::from(start_gb_seconds) * MB_MS_PER_GB_SECOND;
            let end = tier
                .up_to_gb_seconds
                .map_or(u128::MAX, |b| u128::from(b) * MB_MS_PER_GB_SECOND);
            let in_tier = billed_mb_ms.min(end).saturating_sub(start);
            let numerator = in_tier.saturating_mul(tier.pico_per_gb_second);
            duration_numerator = duration_numerator.saturating_add(numerator);
            tiers.push(TierShare {
                tier: u32::try_from(i + 1).unwrap_or(u32::MAX),
                from_gb_seconds: start_gb_seconds,
                up_to_gb_seconds: tier.up_to_gb_seconds,
                price_per_gb_second: tier.price_per_gb_second,
                gb_seconds: in_tier as f64 / MB_MS_PER_GB_SECOND as f64,
                share: if billed_mb_ms == 0 {
                    0.0
                } else {
                    in_tier as f64 / billed_mb_ms as f64
                },
                duration_usd: dollars(round_div(numerator, MB_MS_PER_GB_SECOND)),
            });
            if let Some(bound) = tier.up_to_gb_seconds {
                start_gb_seconds = bound;
            }
        }

        let duration_pico = round_div(duration_numerator, MB_MS_PER_GB_SECOND);
        let requests_pico = round_div(
            u128::from(billed_requests).saturating_mul(self.request_pico_per_million),
            1_000_000,
        );
        let storage_pico = round_div(
            usage
                .storage_mb_ms
                .saturating_mul(self.ephemeral.pico_per_gb_second),
            MB_MS_PER_GB_SECOND,
        );
        let total_pico = duration_pico
            .saturating_add(requests_pico)
            .saturating_add(storage_pico);

        Ok(CostBreakdown {
            region: region.to_string(),
            architecture,
            requests: usage.requests,
            billed_requests,
            gb_seconds: usage.gb_seconds(),
            billed_gb_seconds: billed_mb_ms as f64 / MB_MS_PER_GB_SECOND as f64,
            ephemeral_storage_gb_seconds: usage.storage_mb_ms as f64 / MB_MS_PER_GB_SECOND as f64,
            free_tier_applied: free_tier == FreeTier::Include,
            duration_usd: dollars(duration_pico),
            requests_usd: dollars(requests_pico),
            ephemeral_storage_usd: dollars(storage_pico),
            total_usd: dollars(total_pico),
            tiers,
            prices_effective_from: self.effective_from.clone(),
        })
    }

    /// The ratio of arm64 to x86_64 billed duration, at the same memory, at which their
    /// duration charges are equal: x86_64's first-tier price over arm64's (1.25 in
    /// us-east-1). arm64 costs less on duration whenever its billed duration is below this
    /// multiple of x86_64's. Infinite when the book prices arm64 duration at zero.
    pub fn break_even_duration_ratio(&self, region: &str) -> Result<f64, PricingError> {
        let first = |architecture| -> Result<u128, PricingError> {
            let prices = self.duration_prices(region, architecture)?;
            Ok(prices
                .duration_tiers
                .first()
                .map_or(0, |t| t.pico_per_gb_second))
        };
        let x86 = first(Architecture::X86_64)?;
        let arm = first(Architecture::Arm64)?;
        Ok(x86 as f64 / arm as f64)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    const US_EAST_1: &str = "us-east-1";

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn cents(dollars: f64) -> f64 {
        (dollars * 100.0).round() / 100.0
    }

    fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0),
            "{actual} != {expected}"
        );
    }

    /// GB-seconds as usage (1 GB-s = 1,024,000 MB-ms).
    fn gb_seconds(gbs: u128) -> Usage {
        Usage {
            requests: 0,
            mb_ms: gbs * MB_MS_PER_GB_SECOND,
            storage_mb_ms: 0,
        }
    }

    #[test]
    fn aws_example_3m_requests_120ms_1536mb_x86_64() {
        // AWS's example: 3 million requests a month, 120 ms each, 1536 MB, x86_64, us-east-1:
        // 540,000 GB-s × $0.0000166667 = $9.00 and 3 M × $0.20/M = $0.60, $9.60 in all
        // before the free tier.
        let book = PriceBook::embedded().expect("embedded price file");
        let sample = Invocation::new(1536, ms(120));
        let cost = book
            .monthly_cost(
                US_EAST_1,
                Architecture::X86_64,
                &[sample],
                3_000_000,
                FreeTier::Exclude,
            )
            .expect("cost");
        assert_eq!(cost.gb_seconds, 540_000.0);
        assert_close(cost.duration_usd, 9.000018);
        assert_eq!(cents(cost.duration_usd), 9.00);
        assert_close(cost.requests_usd, 0.60);
        assert_eq!(cents(cost.total_usd), 9.60);
        assert_eq!(cost.ephemeral_storage_usd, 0.0);
        assert_eq!(cost.tiers[0].share, 1.0);
        assert_eq!(cost.tiers[1].gb_seconds, 0.0);
    }

    #[test]
    fn aws_example_3m_requests_120ms_1536mb_arm64() {
        // The same workload on arm64: 540,000 GB-s × $0.0000133334 = $7.20, plus $0.60.
        let book = PriceBook::embedded().expect("embedded price file");
        let sample = Invocation::new(1536, ms(120));
        let cost = book
            .monthly_cost(
                US_EAST_1,
                Architecture::Arm64,
                &[sample],
                3_000_000,
                FreeTier::Exclude,
            )
            .expect("cost");
        assert_close(cost.duration_usd, 7.200036);
        assert_eq!(cents(cost.duration_usd), 7.20);
        assert_eq!(cents(cost.total_usd), 7.80);
    }

    #[test]
    fn free_tier_is_opt_in() {
        // AWS's older example 1: 512 MB, 3 M invocations of 1 s. 1,500,000 GB-s less the
        // free 400,000 leaves 1,100,000 GB-s; 3 M requests less the free 1 M leaves 2 M
        // ($0.40). AWS's text multiplied by a rounded $0.00001667 ($18.34); at
        // $0.0000166667 the duration charge is $18.33337.
        let book = PriceBook::embedded().expect("embedded price file");
        let sample = [Invocation::new(512, ms(1000))];
        let with = book
            .monthly_cost(
                US_EAST_1,
                Architecture::X86_64,
                &sample,
                3_000_000,
                FreeTier::Include,
            )
            .expect("cost");
        assert!(with.free_tier_applied);
        assert_eq!(with.gb_seconds, 1_500_000.0);
        assert_eq!(with.billed_gb_seconds, 1_100_000.0);
        assert_eq!(with.billed_requests, 2_000_000);
        assert_close(with.requests_usd, 0.40);
        assert_close(with.duration_usd, 18.33337);
        let without = book
            .monthly_cost(
                US_EAST_1,
                Architecture::X86_64,
                &sample,
                3_000_000,
                FreeTier::Exclude,
            )
            .expect("cost");
        assert!(!without.free_tier_applied);
        assert_eq!(without.billed_requests, 3_000_000);
        assert_close(without.duration_usd, 25.00005);
        // Usage inside the free tier costs nothing.
        let small = book
            .monthly_cost(
                US_EAST_1,
                Architecture::Arm64,
                &[Invocation::new(128, ms(50))],
                1_000_000,
                FreeTier::Include,
            )
            .expect("cost");
        assert_eq!(small.total_usd, 0.0);
    }

    #[test]
    fn tiers_apply_to_the_aggregate_crossing_6_billion_gb_seconds() {
        // x86_64: 8 billion GB-s = 6 B at $0.0000166667 ($100,000.20) + 2 B at $0.000015
        // ($30,000), computed by hand.
        let book = PriceBook::embedded().expect("embedded price file");
        let cost = book
            .bill(
                US_EAST_1,
                Architecture::X86_64,
                &gb_seconds(8_000_000_000),
                FreeTier::Exclude,
            )
            .expect("cost");
        assert_close(cost.duration_usd, 130_000.2);
        assert_close(cost.tiers[0].duration_usd, 100_000.2);
        assert_close(cost.tiers[1].duration_usd, 30_000.0);
        assert_eq!(cost.tiers[0].gb_seconds, 6e9);
        assert_eq!(cost.tiers[1].gb_seconds, 2e9);
        assert_eq!(cost.tiers[1].from_gb_seconds, 6_000_000_000);
        assert_close(cost.tiers[0].share, 0.75);
        assert_close(cost.tiers[1].share, 0.25);
        assert_eq!(cost.tiers[2].share, 0.0);

        // The same GB-seconds through invocations: 10,240 MB × 1 s = 10 GB-s each,
        // 800 M of them; 800 M requests add $160.
        let sample = Invocation::new(10_240, ms(1000));
        let monthly = book
            .monthly_cost(
                US_EAST_1,
                Architecture::X86_64,
                &[sample],
                800_000_000,
                FreeTier::Exclude,
            )
            .expect("cost");
        assert_close(monthly.duration_usd, 130_000.2);
        assert_close(monthly.requests_usd, 160.0);
        assert_close(monthly.total_usd, 130_160.2);
    }

    #[test]
    fn all_three_tiers_for_each_architecture() {
        // 20 billion GB-s. x86_64: 6 B × 0.0000166667 + 9 B × 0.000015 + 5 B × 0.0000133334
        // = 100,000.2 + 135,000 + 66,667 = 301,667.2. arm64: 7.5 B × 0.0000133334 +
        // 11.25 B × 0.0000120001 + 1.25 B × 0.0000106667 = 100,000.5 + 135,001.125 +
        // 13,333.375 = 248,335.
        let book = PriceBook::embedded().expect("embedded price file");
        let usage = gb_seconds(20_000_000_000);
        let x86 = book
            .bill(US_EAST_1, Architecture::X86_64, &usage, FreeTier::Exclude)
            .expect("x86_64");
        assert_close(x86.duration_usd, 301_667.2);
        let arm = book
            .bill(US_EAST_1, Architecture::Arm64, &usage, FreeTier::Exclude)
            .expect("arm64");
        assert_close(arm.duration_usd, 248_335.0);
        assert_close(arm.tiers[2].gb_seconds, 1.25e9);
    }

    #[test]
    fn tiers_accumulate_over_added_usage() {
        // Two functions of 4 B GB-s each cross the 6 B boundary together.
        let book = PriceBook::embedded().expect("embedded price file");
        let mut usage = gb_seconds(4_000_000_000);
        usage += gb_seconds(4_000_000_000);
        let cost = book
            .bill(US_EAST_1, Architecture::X86_64, &usage, FreeTier::Exclude)
            .expect("cost");
        assert_close(cost.duration_usd, 130_000.2);
    }

    #[test]
    fn ephemeral_storage_above_512_mb_is_charged() {
        // 10,240 MB of /tmp: 9.5 GB above the free 512 MB. 1 M invocations of 1 s at
        // 1,024 MB: 9.5 M GB-s × $0.0000000309 = $0.29355.
        let book = PriceBook::embedded().expect("embedded price file");
        let sample = Invocation::new(1024, ms(1000)).with_ephemeral_storage_mb(10_240);
        let cost = book
            .cost_per_million(US_EAST_1, Architecture::X86_64, &[sample])
            .expect("cost");
        assert_eq!(cost.ephemeral_storage_gb_seconds, 9_500_000.0);
        assert_close(cost.ephemeral_storage_usd, 0.29355);
        assert_close(cost.duration_usd, 16.6667);
        assert_close(cost.requests_usd, 0.2);
        assert_close(cost.total_usd, 0.29355 + 16.6667 + 0.2);

        let one = book
            .invocation_cost(US_EAST_1, Architecture::Arm64, &sample)
            .expect("cost");
        assert_close(one.ephemeral_storage_usd, 2.9355e-7);

        let default_storage = book
            .invocation_cost(
                US_EAST_1,
                Architecture::Arm64,
                &Invocation::new(1024, ms(1000)),
            )
            .expect("cost");
        assert_eq!(default_storage.ephemeral_storage_usd, 0.0);
    }

    #[test]
    fn billed_duration_rounds_up_to_the_millisecond() {
        let book = PriceBook::embedded().expect("embedded price file");
        let billed = |d: Duration| book.billed_ms(&Invocation::new(128, d));
        assert_eq!(billed(ms(120)), 120);
        assert_eq!(billed(Duration::from_micros(120_001)), 121);
        assert_eq!(billed(Duration::from_nanos(1)), 1);
        assert_eq!(billed(Duration::ZERO), 0);
    }

    #[test]
    fn samples_are_rounded_one_by_one_before_averaging() {
        // Two 1.2 ms invocations bill 2 ms each, not a 1.2 ms mean rounded once.
        let book = PriceBook::embedded().expect("embedded price file");
        let sample = Invocation::new(1024, Duration::from_micros(1_200));
        let usage = book.usage_scaled(&[sample, sample], 10).expect("usage");
        assert_eq!(usage.mb_ms, 10 * 1024 * 2);
        assert_eq!(usage.requests, 10);
        let mixed = [
            Invocation::new(1024, ms(100)),
            Invocation::new(1024, ms(201)),
        ];
        let usage = book.usage_scaled(&mixed, 3).expect("usage");
        // Mean 150.5 ms × 1,024 MB × 3 = 462,336 MB-ms.
        assert_eq!(usage.mb_ms, 462_336);
    }

    #[test]
    fn init_duration_is_billed_when_the_book_says_so() {
        let book = PriceBook::embedded().expect("embedded price file");
        let cold = Invocation::new(1024, ms(100)).with_init(Duration::from_micros(250_500));
        assert_eq!(book.billed_ms(&cold), 351);
        let mut before = book.clone();
        before.init_phase.billed = false;
        assert_eq!(before.billed_ms(&cold), 100);
    }

    #[test]
    fn break_even_ratio_is_1_25_at_the_same_memory() {
        let book = PriceBook::embedded().expect("embedded price file");
        let ratio = book.break_even_duration_ratio(US_EAST_1).expect("ratio");
        assert!((ratio - 1.25).abs() < 1e-5, "{ratio}");
        // arm64 at 1.25 × x86_64's billed duration costs the same on duration.
        let x86 = book
            .invocation_cost(
                US_EAST_1,
                Architecture::X86_64,
                &Invocation::new(1024, ms(800)),
            )
            .expect("x86_64");
        let arm = book
            .invocation_cost(
                US_EAST_1,
                Architecture::Arm64,
                &Invocation::new(1024, ms(1000)),
            )
            .expect("arm64");
        assert!((arm.duration_usd / x86.duration_usd - 1.0).abs() < 1e-5);
        // The same holds in every matching tier (to within the prices' last digit:
        // $0.000015 / $0.0000120001 = 1.2499896).
        let tiers = |architecture| {
            book.duration_prices(US_EAST_1, architecture)
                .expect("us-east-1")
                .duration_tiers
                .clone()
        };
        let (x86, arm) = (tiers(Architecture::X86_64), tiers(Architecture::Arm64));
        assert_eq!(x86.len(), arm.len());
        for (x, a) in x86.iter().zip(&arm) {
            let ratio = x.price_per_gb_second / a.price_per_gb_second;
            assert!((ratio - 1.25).abs() < 2e-5, "{ratio}");
        }
    }

    #[test]
    fn request_fee_dilutes_the_saving_of_short_invocations() {
        // 1 GB × 100 ms: x86_64 $0.00000186667, arm64 $0.00000153334 (−17.9 %, not −20 %).
        let book = PriceBook::embedded().expect("embedded price file");
        let sample = Invocation::new(1024, ms(100));
        let x86 = book
            .invocation_cost(US_EAST_1, Architecture::X86_64, &sample)
            .expect("x86_64");
        let arm = book
            .invocation_cost(US_EAST_1, Architecture::Arm64, &sample)
            .expect("arm64");
        assert_close(x86.total_usd, 0.00000186667);
        assert_close(arm.total_usd, 0.00000153334);
        let saving = 1.0 - arm.total_usd / x86.total_usd;
        assert!((saving - 0.179).abs() < 0.001, "{saving}");
    }

    #[test]
    fn regional_prices_are_used() {
        let book = PriceBook::embedded().expect("embedded price file");
        let cost = book
            .bill(
                "af-south-1",
                Architecture::X86_64,
                &gb_seconds(1_000_000),
                FreeTier::Exclude,
            )
            .expect("af-south-1");
        assert_close(cost.duration_usd, 22.1);
        assert_eq!(cost.tiers.len(), 1);
        let err = book
            .bill(
                "eu-west-3",
                Architecture::X86_64,
                &gb_seconds(1),
                FreeTier::Exclude,
            )
            .expect_err("not in the book");
        assert!(matches!(err, PricingError::UnknownRegion { .. }));
    }

    #[test]
    fn rejects_configurations_lambda_does_not_allow() {
        let book = PriceBook::embedded().expect("embedded price file");
        let err = book
            .invocation_cost(US_EAST_1, Architecture::X86_64, &Invocation::new(64, ms(1)))
            .expect_err("64 MB");
        assert_eq!(
            err.to_string(),
            "memory is 64 MB, Lambda allows 128..=10240 MB"
        );
        let err = book
            .usage(&Invocation::new(128, ms(1)).with_ephemeral_storage_mb(20_000))
            .expect_err("20 GB of /tmp");
        assert!(matches!(err, PricingError::OutOfRange { .. }));
        let err = book
            .cost_per_million(US_EAST_1, Architecture::X86_64, &[])
            .expect_err("no samples");
        assert!(matches!(err, PricingError::NoSamples));
    }

    #[test]
    fn breakdown_serializes_with_stable_field_names() {
        let book = PriceBook::embedded().expect("embedded price file");
        let cost = book
            .cost_per_million(
                US_EAST_1,
                Architecture::Arm64,
                &[Invocation::new(512, ms(10))],
            )
            .expect("cost");
        let value = serde_json::to_value(&cost).expect("json");
        let Value::Object(fields) = &value else {
            panic!("not an object: {value}");
        };
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        let mut expected = vec![
            "architecture",
            "billed_gb_seconds",
            "billed_requests",
            "duration_usd",
            "ephemeral_storage_gb_seconds",
            "ephemeral_storage_usd",
            "free_tier_applied",
            "gb_seconds",
            "prices_effective_from",
            "region",
            "requests",
            "requests_usd",
            "tiers",
            "total_usd",
        ];
        expected.sort_unstable();
        let mut names_sorted = names.clone();
        names_sorted.sort_unstable();
        assert_eq!(names_sorted, expected);
        assert_eq!(value["architecture"], "arm64");
        assert_eq!(value["prices_effective_from"], "2025-08-01");
        let tier = value["tiers"][0].as_object().expect("tier");
        let mut tier_names: Vec<&str> = tier.keys().map(String::as_str).collect();
        tier_names.sort_unstable();
        assert_eq!(
            tier_names,
            [
                "duration_usd",
                "from_gb_seconds",
                "gb_seconds",
                "price_per_gb_second",
                "share",
                "tier",
                "up_to_gb_seconds"
            ]
        );
        let back: CostBreakdown = serde_json::from_value(value).expect("round trip");
        assert_eq!(back, cost);
    }
}
