//! Invocation metrics that last: stored per series and minute, read back for a function over a
//! window, and pruned past their retention.

use archfn_model::metrics::MinuteBucket;

use crate::{Control, ControlError};

impl Control {
    /// `function`'s stored per-minute metrics of minutes `from_minute..=to_minute`, with the
    /// function's name as stored (`name` may be an ARN). A function that does not exist is
    /// `NotFound`, as any other operation on it.
    pub async fn function_metrics(
        &self,
        region: &str,
        name: &str,
        from_minute: i64,
        to_minute: i64,
    ) -> Result<(String, Vec<MinuteBucket>), ControlError> {
        let r = self.resolve(region, name, None).await?;
        let buckets = self
            .store()
            .metric_buckets(region, &r.name, from_minute, to_minute)
            .await?;
        Ok((r.name, buckets))
    }

    /// The stored name of `function` (which may be an ARN), or `NotFound`.
    pub async fn function_name(&self, region: &str, name: &str) -> Result<String, ControlError> {
        Ok(self.resolve(region, name, None).await?.name)
    }

    /// Adds finished per-minute metrics to the store.
    pub async fn store_metrics(&self, buckets: &[MinuteBucket]) -> Result<(), ControlError> {
        Ok(self.store().add_metric_buckets(buckets).await?)
    }

    /// Deletes stored metrics of minutes before `before_minute`; returns how many buckets.
    pub async fn prune_metrics(&self, before_minute: i64) -> Result<u64, ControlError> {
        Ok(self.store().prune_metric_buckets(before_minute).await?)
    }
}
