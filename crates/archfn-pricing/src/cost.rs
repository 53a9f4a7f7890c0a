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
    /// multiple of x86_64's.
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
