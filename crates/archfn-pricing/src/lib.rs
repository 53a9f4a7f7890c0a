//! Lambda's on-demand prices, as data, and the cost model `archfn compare` and `archfn shift`
//! use to put a price on measured invocations of each architecture.
//!
//! Owns: the price file (`data/lambda-prices.json`, embedded as the default [`PriceBook`];
//! an override file read by [`PriceBook::load`]), its checks, and the arithmetic: billed
//! duration rounded up to 1 ms, INIT billed when the book says so, GB-seconds, the monthly
//! duration tiers per architecture and region, requests, ephemeral storage above 512 MB,
//! and the free tier on request. Results are [`CostBreakdown`]s that serialize to JSON.
//!
//! Must not: do any IO but reading the override file it is given, or know where
//! measurements come from. Money is integer pico-dollars inside; see [`cost`] for rounding.
//!
//! AWS's example, 3 million requests a month of 120 ms at 1,536 MB on x86_64 in us-east-1:
//!
//! ```
//! use std::time::Duration;
//! use archfn_model::Architecture;
//! use archfn_pricing::{FreeTier, Invocation, PriceBook};
//!
//! let book = PriceBook::embedded()?;
//! let sample = Invocation::new(1536, Duration::from_millis(120));
//! let month = book.monthly_cost(
//!     "us-east-1",
//!     Architecture::X86_64,
//!     &[sample],
//!     3_000_000,
//!     FreeTier::Exclude,
//! )?;
//! assert_eq!(month.gb_seconds, 540_000.0);
//! assert_eq!((month.total_usd * 100.0).round() / 100.0, 9.60); // $9.00 + $0.60
//! # Ok::<(), archfn_pricing::PricingError>(())
//! ```
#![warn(missing_docs)]

pub mod book;
pub mod cost;
mod error;

pub use book::{PriceBook, SCHEMA_VERSION};
pub use cost::{CostBreakdown, FreeTier, Invocation, TierShare, Usage};
pub use error::PricingError;
