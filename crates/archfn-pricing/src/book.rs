//! The price book: Lambda's prices read from a versioned JSON file, checked once, held as
//! integer pico-dollars.

use std::collections::BTreeMap;
use std::path::Path;

use archfn_model::Architecture;
use serde::{Deserialize, Serialize};

use crate::error::PricingError;

/// The schema version of price files this build reads.
pub const SCHEMA_VERSION: u32 = 1;

/// The price file compiled into the crate, used by [`PriceBook::embedded`].
pub const EMBEDDED_PRICES: &str = include_str!("../data/lambda-prices.json");

/// Pico-dollars (10^-12 USD) in a dollar. Every price in the files has at most 12 decimals,
/// so every price is a whole number of pico-dollars and sums of them are exact.
pub(crate) const PICO_PER_DOLLAR: f64 = 1e12;

/// Lambda's prices for on-demand invocations: duration per architecture and region, with
/// monthly tiers, requests, ephemeral storage, the free tier, and whether INIT is billed.
///
/// Built from a price file by [`PriceBook::load`] or [`PriceBook::from_json`], or from the
/// embedded file by [`PriceBook::embedded`]. It holds no state besides the prices.
#[derive(Debug, Clone)]
pub struct PriceBook {
    pub(crate) effective_from: String,
    pub(crate) checked_on: String,
    pub(crate) notes: Vec<String>,
    pub(crate) sources: Vec<Source>,
    pub(crate) request_pico_per_million: u128,
    pub(crate) init_phase: InitPhase,
    pub(crate) free_tier: FreeTierAllowance,
    pub(crate) ephemeral: EphemeralStorage,
    pub(crate) regions: BTreeMap<String, RegionPrices>,
}

/// Where a group of figures in the price file comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The short name other entries of the file refer to.
    pub id: String,
    /// The page or file the figures were read from.
    pub url: String,
    /// Which figures it gives.
    pub what: String,
}

/// Whether the INIT phase of a cold start is billed as duration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitPhase {
    /// True when INIT duration is added to the billed duration of on-demand invocations.
    pub billed: bool,
    /// The date (YYYY-MM-DD) from which `billed` holds.
    pub billed_since: String,
    /// The id of the source saying so.
    pub source: String,
}

/// The monthly free tier: requests and GB-seconds shared by every function of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreeTierAllowance {
    /// Requests free each month.
    pub requests_per_month: u64,
    /// Duration GB-seconds free each month.
    pub gb_seconds_per_month: u64,
    /// The id of the source saying so.
    pub source: String,
}

/// The price of ephemeral storage (`/tmp`) above what every function gets for free.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EphemeralStorage {
    /// Storage included at no cost, in MB.
    pub included_mb: u32,
    /// Dollars per GB-second of storage above `included_mb`.
    pub price_per_gb_second: f64,
    /// False while the figure is not confirmed from AWS itself.
    pub confirmed: bool,
    /// The id of the source of the figure.
    pub source: String,
    #[serde(skip)]
    pub(crate) pico_per_gb_second: u128,
}

/// The duration prices of one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionPrices {
    /// The id of the source of this region's prices.
    pub source: String,
    /// What to know about these figures (for example, that only the first tier is known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Duration prices of x86_64 functions, if known.
    #[serde(default)]
    pub x86_64: Option<ArchitecturePrices>,
    /// Duration prices of arm64 functions, if known.
    #[serde(default)]
    pub arm64: Option<ArchitecturePrices>,
}

impl RegionPrices {
    /// The duration prices of `architecture`, if the region has them.
    pub fn architecture(&self, architecture: Architecture) -> Option<&ArchitecturePrices> {
        match architecture {
            Architecture::X86_64 => self.x86_64.as_ref(),
            Architecture::Arm64 => self.arm64.as_ref(),
        }
    }
}

/// The monthly duration tiers of one architecture in one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchitecturePrices {
    /// Tiers in order; each covers the GB-seconds of the month up to its `up_to_gb_seconds`
    /// (cumulative), the last one without a bound.
    pub duration_tiers: Vec<DurationTier>,
}

/// One monthly duration tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DurationTier {
    /// The cumulative GB-seconds of the month where this tier ends; `None` for the last tier.
    pub up_to_gb_seconds: Option<u64>,
    /// Dollars per GB-second within this tier.
    pub price_per_gb_second: f64,
    #[serde(skip)]
    pub(crate) pico_per_gb_second: u128,
}

/// The price file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    /// Checked before this struct is read (see [`VersionOnly`]).
    #[serde(rename = "schema_version")]
    _schema_version: u32,
    currency: String,
    effective_from: String,
    checked_on: String,
    #[serde(default)]
    notes: Vec<String>,
    sources: Vec<Source>,
    requests: RequestPrice,
    init_phase: InitPhase,
    free_tier: FreeTierAllowance,
    ephemeral_storage: EphemeralStorage,
    regions: BTreeMap<String, RegionPrices>,
}

/// Only the version, read first so that a file of another schema gets that error rather
/// than a confusing one about its fields.
#[derive(Debug, Deserialize)]
struct VersionOnly {
    schema_version: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestPrice {
    price_per_million: f64,
    source: String,
}

impl PriceBook {
    /// The prices compiled into the crate (`data/lambda-prices.json`).
    pub fn embedded() -> Result<PriceBook, PricingError> {
        PriceBook::from_json(EMBEDDED_PRICES, "embedded")
    }

    /// Reads an override price file (the `--prices FILE` of `archfn compare`).
    pub fn load(path: &Path) -> Result<PriceBook, PricingError> {
        let text = std::fs::read_to_string(path).map_err(|source| PricingError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        PriceBook::from_json(&text, &path.display().to_string())
    }

    /// Parses and checks a price file's text; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<PriceBook, PricingError> {
        let malformed = |source| PricingError::Malformed {
            origin: origin.to_string(),
            source,
        };
        let version: VersionOnly = serde_json::from_str(text).map_err(malformed)?;
        if version.schema_version != SCHEMA_VERSION {
            return Err(PricingError::SchemaVersion {
                origin: origin.to_string(),
                found: version.schema_version,
                supported: SCHEMA_VERSION,
            });
        }
        let file: PriceFile = serde_json::from_str(text).map_err(malformed)?;
        Checker { origin }.check(file)
    }

    /// The date (YYYY-MM-DD) of the most recent pricing change the figures include.
    pub fn effective_from(&self) -> &str {
        &self.effective_from
    }

    /// The date (YYYY-MM-DD) the figures were last compared with their sources.
    pub fn checked_on(&self) -> &str {
        &self.checked_on
    }

    /// The file's notes on what the figures mean.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Where the figures come from.
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// Dollars per million requests.
    pub fn request_price_per_million(&self) -> f64 {
        self.request_pico_per_million as f64 / PICO_PER_DOLLAR
    }

    /// Whether, and since when, INIT duration is billed.
    pub fn init_phase(&self) -> &InitPhase {
        &self.init_phase
    }

    /// The monthly free tier.
    pub fn free_tier(&self) -> &FreeTierAllowance {
        &self.free_tier
    }

    /// The ephemeral storage price.
    pub fn ephemeral_storage(&self) -> &EphemeralStorage {
        &self.ephemeral
    }

    /// The regions with prices, in name order.
    pub fn regions(&self) -> impl Iterator<Item = &str> {
        self.regions.keys().map(String::as_str)
    }

    /// The prices of `region`.
    pub fn region(&self, region: &str) -> Result<&RegionPrices, PricingError> {
        self.regions
            .get(region)
            .ok_or_else(|| PricingError::UnknownRegion {
                region: region.to_string(),
                known: self.regions.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    /// The duration tiers of `architecture` in `region`.
    pub fn duration_prices(
        &self,
        region: &str,
        architecture: Architecture,
    ) -> Result<&ArchitecturePrices, PricingError> {
        self.region(region)?
            .architecture(architecture)
            .ok_or_else(|| PricingError::UnknownArchitecture {
                region: region.to_string(),
                architecture,
            })
    }
}

/// Checks a parsed file and turns its prices into pico-dollars.
struct Checker<'a> {
    origin: &'a str,
}

impl Checker<'_> {
    fn invalid(&self, what: String) -> PricingError {
        PricingError::Invalid {
            origin: self.origin.to_string(),
            what,
        }
    }

    fn check(&self, file: PriceFile) -> Result<PriceBook, PricingError> {
        if file.currency != "USD" {
            return Err(self.invalid(format!(
                "currency is {:?}, only \"USD\" is supported",
                file.currency
            )));
        }
        self.date("effective_from", &file.effective_from)?;
        self.date("checked_on", &file.checked_on)?;
        self.date("init_phase.billed_since", &file.init_phase.billed_since)?;
        let known = |id: &str| file.sources.iter().any(|s| s.id == id);
        let mut refs = vec![
            ("requests.source", file.requests.source.as_str()),
            ("init_phase.source", file.init_phase.source.as_str()),
            ("free_tier.source", file.free_tier.source.as_str()),
            (
                "ephemeral_storage.source",
                file.ephemeral_storage.source.as_str(),
            ),
        ];
        for region in file.regions.values() {
            refs.push(("regions.*.source", region.source.as_str()));
        }
        for (field, id) in refs {
            if !known(id) {
                return Err(self.invalid(format!("{field} names unknown source {id:?}")));
            }
        }

        let request_pico_per_million = self.pico(
            "requests.price_per_million",
            file.requests.price_per_million,
        )?;
        let mut ephemeral = file.ephemeral_storage;
        ephemeral.pico_per_gb_second = self.pico(
            "ephemeral_storage.price_per_gb_second",
            ephemeral.price_per_gb_second,
        )?;

        if file.regions.is_empty() {
            return Err(self.invalid("no regions".to_string()));
        }
        let mut regions = file.regions;
        for (name, region) in &mut regions {
            if !archfn_model::arn::valid_region(name) {
                return Err(self.invalid(format!("{name:?} is not a region name")));
            }
            if region.x86_64.is_none() && region.arm64.is_none() {
                return Err(self.invalid(format!("region {name} has no architecture")));
            }
            for architecture in Architecture::ALL {
                let prices = match architecture {
                    Architecture::X86_64 => region.x86_64.as_mut(),
                    Architecture::Arm64 => region.arm64.as_mut(),
                };
                if let Some(prices) = prices {
                    let at = format!("regions.{name}.{}", architecture.as_str());
                    self.tiers(&at, prices)?;
                }
            }
        }

        Ok(PriceBook {
            effective_from: file.effective_from,
            checked_on: file.checked_on,
            notes: file.notes,
            sources: file.sources,
            request_pico_per_million,
            init_phase: file.init_phase,
            free_tier: file.free_tier,
            ephemeral,
            regions,
        })
    }

    fn tiers(&self, at: &str, prices: &mut ArchitecturePrices) -> Result<(), PricingError> {
        let count = prices.duration_tiers.len();
        if count == 0 {
            return Err(self.invalid(format!("{at}.duration_tiers is empty")));
        }
        let mut previous_bound = 0u64;
        for (i, tier) in prices.duration_tiers.iter_mut().enumerate() {
            let last = i + 1 == count;
            match (tier.up_to_gb_seconds, last) {
                (None, true) => {}
                (None, false) => {
                    return Err(self.invalid(format!(
                        "{at}.duration_tiers[{i}] has no bound but is not the last tier"
                    )));
                }
                (Some(_), true) => {
                    return Err(self.invalid(format!(
                        "{at}.duration_tiers[{i}] is the last tier and must have up_to_gb_seconds null"
                    )));
                }
                (Some(bound), false) => {
                    if bound <= previous_bound {
                        return Err(self.invalid(format!(
                            "{at}.duration_tiers[{i}].up_to_gb_seconds {bound} does not exceed the previous bound {previous_bound}"
                        )));
                    }
                    previous_bound = bound;
                }
            }
            tier.pico_per_gb_second = self.pico(
                &format!("{at}.duration_tiers[{i}].price_per_gb_second"),
                tier.price_per_gb_second,
            )?;
        }
        Ok(())
    }

    /// A price in dollars as whole pico-dollars; refuses negative, non-finite and
    /// finer-than-pico figures (which would make the integer arithmetic inexact).
    fn pico(&self, field: &str, dollars: f64) -> Result<u128, PricingError> {
        if !dollars.is_finite() || dollars < 0.0 {
            return Err(self.invalid(format!("{field} is {dollars}, not a price")));
        }
        let scaled = dollars * PICO_PER_DOLLAR;
        if scaled > 1e30 {
            return Err(self.invalid(format!("{field} is {dollars}, too large")));
        }
        let rounded = scaled.round();
        if (scaled - rounded).abs() > 1e-6 * rounded.max(1.0) {
            return Err(self.invalid(format!(
                "{field} is {dollars}, which has more than 12 decimal places"
            )));
        }
        // `rounded` is finite, non-negative and below 1e30, so the conversion is exact
        // enough and cannot saturate.
        Ok(rounded as u128)
    }

    fn date(&self, field: &str, value: &str) -> Result<(), PricingError> {
        let b = value.as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        let ok = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && digits(0..4)
            && digits(5..7)
            && digits(8..10);
        if ok {
            Ok(())
        } else {
            Err(self.invalid(format!("{field} is {value:?}, not a YYYY-MM-DD date")))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde_json::{Value, json};

    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name)
    }

    /// The embedded file, edited by `edit`, parsed again.
    fn edited(edit: impl FnOnce(&mut Value)) -> Result<PriceBook, PricingError> {
        let mut value: Value =
            serde_json::from_str(EMBEDDED_PRICES).map_err(|source| PricingError::Malformed {
                origin: "test".to_string(),
                source,
            })?;
        edit(&mut value);
        PriceBook::from_json(&value.to_string(), "edited")
    }

    #[test]
    fn embedded_file_parses_and_covers_both_architectures_in_us_east_1() {
        let book = PriceBook::embedded().expect("embedded price file");
        for architecture in Architecture::ALL {
            let prices = book
                .duration_prices("us-east-1", architecture)
                .expect("us-east-1 priced");
            assert_eq!(prices.duration_tiers.len(), 3, "{architecture:?}");
        }
        let x86 = &book
            .duration_prices("us-east-1", Architecture::X86_64)
            .expect("x86_64")
            .duration_tiers;
        let bounds: Vec<_> = x86.iter().map(|t| t.up_to_gb_seconds).collect();
        assert_eq!(bounds, [Some(6_000_000_000), Some(15_000_000_000), None]);
        let picos: Vec<_> = x86.iter().map(|t| t.pico_per_gb_second).collect();
        assert_eq!(picos, [16_666_700, 15_000_000, 13_333_400]);
        let arm = &book
            .duration_prices("us-east-1", Architecture::Arm64)
            .expect("arm64")
            .duration_tiers;
        let bounds: Vec<_> = arm.iter().map(|t| t.up_to_gb_seconds).collect();
        assert_eq!(bounds, [Some(7_500_000_000), Some(18_750_000_000), None]);
        let picos: Vec<_> = arm.iter().map(|t| t.pico_per_gb_second).collect();
        assert_eq!(picos, [13_333_400, 12_000_100, 10_666_700]);

        assert_eq!(book.request_pico_per_million, 200_000_000_000);
        assert_eq!(book.ephemeral_storage().pico_per_gb_second, 30_900);
        assert!(!book.ephemeral_storage().confirmed);
        assert_eq!(book.free_tier().requests_per_month, 1_000_000);
        assert_eq!(book.free_tier().gb_seconds_per_month, 400_000);
        assert!(book.init_phase().billed);
        assert_eq!(book.init_phase().billed_since, "2025-08-01");
        assert_eq!(book.effective_from(), "2025-08-01");
        assert!(book.sources().iter().all(|s| s.url.starts_with("https://")));
        for region in ["af-south-1", "ap-east-1", "eu-south-1", "me-south-1"] {
            let prices = book.region(region).expect("regional example");
            assert_eq!(prices.source, "artillery-prices");
            assert!(prices.note.is_some());
        }
    }

    #[test]
    fn default_is_the_embedded_file() {
        let book = PriceBook::embedded().expect("embedded price file");
        assert_eq!(book.regions().count(), 5);
        assert_eq!(book.request_price_per_million(), 0.2);
    }

    #[test]
    fn loads_an_override_file() {
        let book = PriceBook::load(&fixture("override-eu-west-1-x86.json")).expect("override");
        assert_eq!(book.regions().collect::<Vec<_>>(), ["eu-west-1"]);
        assert!(
            book.duration_prices("eu-west-1", Architecture::X86_64)
                .is_ok()
        );
    }

    #[test]
    fn unknown_region_and_architecture_are_errors() {
        let book = PriceBook::load(&fixture("override-eu-west-1-x86.json")).expect("override");
        let err = book
            .duration_prices("us-east-1", Architecture::X86_64)
            .expect_err("region not in the file");
        assert!(matches!(err, PricingError::UnknownRegion { .. }));
        assert_eq!(
            err.to_string(),
            "no prices for region us-east-1 (known: eu-west-1)"
        );
        let err = book
            .duration_prices("eu-west-1", Architecture::Arm64)
            .expect_err("arm64 not in the file");
        assert!(matches!(err, PricingError::UnknownArchitecture { .. }));
        assert_eq!(err.to_string(), "no arm64 prices for region eu-west-1");
    }

    #[test]
    fn rejects_override_file_with_bad_region_name() {
        let err = PriceBook::load(&fixture("bad-region.json")).expect_err("bad region");
        assert!(matches!(err, PricingError::Invalid { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("\"us-east-one\" is not a region name"),
            "{err}"
        );
    }

    #[test]
    fn rejects_missing_file() {
        let err = PriceBook::load(&fixture("no-such-file.json")).expect_err("missing");
        assert!(matches!(err, PricingError::Read { .. }), "{err}");
    }

    #[test]
    fn rejects_malformed_file_with_position() {
        let err = PriceBook::load(&fixture("malformed.json")).expect_err("malformed");
        assert!(matches!(err, PricingError::Malformed { .. }), "{err}");
        assert!(err.to_string().contains("line"), "{err}");
    }

    #[test]
    fn rejects_other_schema_version() {
        let err = edited(|v| v["schema_version"] = json!(2)).expect_err("version 2");
        assert!(matches!(
            err,
            PricingError::SchemaVersion {
                found: 2,
                supported: 1,
                ..
            }
        ));
    }

    #[test]
    fn rejects_misspelt_architecture() {
        let err = edited(|v| {
            let tiers = v["regions"]["us-east-1"]["x86_64"].clone();
            v["regions"]["us-east-1"]["x86"] = tiers;
        })
        .expect_err("x86 is not a field");
        assert!(matches!(err, PricingError::Malformed { .. }), "{err}");
    }

    #[test]
    fn rejects_tiers_out_of_order() {
        let err = edited(|v| {
            v["regions"]["us-east-1"]["arm64"]["duration_tiers"][1]["up_to_gb_seconds"] =
                json!(1_000)
        })
        .expect_err("bounds decrease");
        assert!(err.to_string().contains("does not exceed"), "{err}");
        let err = edited(|v| {
            v["regions"]["us-east-1"]["arm64"]["duration_tiers"][2]["up_to_gb_seconds"] =
                json!(20_000_000_000u64)
        })
        .expect_err("last tier bounded");
        assert!(
            err.to_string().contains("must have up_to_gb_seconds null"),
            "{err}"
        );
    }

    #[test]
    fn rejects_negative_and_too_precise_prices() {
        let err =
            edited(|v| v["requests"]["price_per_million"] = json!(-0.2)).expect_err("negative");
        assert!(err.to_string().contains("not a price"), "{err}");
        let err =
            edited(|v| v["ephemeral_storage"]["price_per_gb_second"] = json!(0.00000000003091))
                .expect_err("13 decimals");
        assert!(
            err.to_string().contains("more than 12 decimal places"),
            "{err}"
        );
    }

    #[test]
    fn rejects_unknown_source() {
        let err = edited(|v| v["regions"]["us-east-1"]["source"] = json!("a-blog"))
            .expect_err("unknown source");
        assert!(
            err.to_string().contains("unknown source \"a-blog\""),
            "{err}"
        );
    }
}
