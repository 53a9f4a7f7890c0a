//! The reconciler of provisioned concurrency: twice a second (and at start) it reads every
//! configuration, has the engine keep each version's environments initialised
//! (`Engine::provision`: missing ones started, crashed ones replaced, surplus ones ended),
//! releases the versions no configuration wants any more (a deleted configuration, an alias
//! moved to another version), and records each configuration's status: `IN_PROGRESS`, `READY`
//! when all are up, or `FAILED` with the reason. A failed configuration is left as it is until
//! it is put again, as Lambda leaves it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use archfn_control::Control;
use archfn_control::provisioned::ProvisionedWork;
use archfn_invoke::{Engine, Target};

/// How often configurations are brought to their target.
const ROUND: Duration = Duration::from_millis(500);

/// Starts the reconciler.
pub fn spawn(control: Control, engine: Engine) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = round(&control, &engine).await {
                tracing::warn!(error = %e, "provisioned concurrency");
            }
            tokio::time::sleep(ROUND).await;
        }
    });
}

/// The key of a version's provisioned environments in a round.
type VersionKey = (String, String, String);

fn version_key(region: &str, inv: &archfn_control::Invocable) -> VersionKey {
    (
        region.to_string(),
        inv.config.name.clone(),
        inv.config.version.clone(),
    )
}

fn target_of(region: &str, inv: &archfn_control::Invocable) -> Target {
    Target {
        region: region.to_string(),
        config: inv.config.clone(),
        task_dir: inv.task_dir.clone(),
        layer_dirs: inv.layer_dirs.clone(),
        image: inv.image.clone(),
    }
}

/// How many of a configuration's environments are up, its share of each version counted, and
/// the first reason one could not be started.
fn allocation(
    w: &ProvisionedWork,
    ready: impl Fn(&VersionKey) -> Option<(u32, Option<String>)>,
) -> (u32, Option<String>) {
    let mut allocated = 0;
    let mut failure = None;
    let mut resolved = 0;
    for (inv, n) in &w.parts {
        resolved += n;
        if let Some((up, why)) = ready(&version_key(&w.key.region, inv)) {
            // Shared between configurations of one version: each counts up to its share.
            allocated += up.min(*n);
            if failure.is_none() {
                failure = why;
            }
        }
    }
    if resolved < w.requested && failure.is_none() {
        // A version that cannot run now (being updated): still in progress.
        allocated = allocated.min(w.requested.saturating_sub(1));
    }
    (allocated, failure)
}

/// One round over every configuration.
async fn round(control: &Control, engine: &Engine) -> Result<(), archfn_control::ControlError> {
    let mut work = control.provisioned_work().await?;
    // A version can be wanted by several configurations (two aliases on it): their counts add.
    let mut wanted: BTreeMap<VersionKey, (Target, String, u32)> = BTreeMap::new();
    let mut kept_failed: BTreeSet<VersionKey> = BTreeSet::new();
    for w in &work {
        for (inv, n) in &w.parts {
            let key = version_key(&w.key.region, inv);
            if w.failed {
                // Left as it is: what it has stays, nothing more is started.
                kept_failed.insert(key);
                continue;
            }
            wanted
                .entry(key)
                .or_insert_with(|| (target_of(&w.key.region, inv), inv.invoked_arn.clone(), 0))
                .2 += n;
        }
    }
    for (region, function, version) in engine.provisioned_versions() {
        let key = (region, function, version);
        if !wanted.contains_key(&key) && !kept_failed.contains(&key) {
            let ended = engine.release_provisioned(&key.0, &key.1, &key.2);
            tracing::info!(function = %key.1, version = %key.2, ended, "provisioned environments released");
        }
    }
    // First what is up now (after a restart, or an alias moved: fewer than recorded, so the
    // configuration is IN_PROGRESS while they start), then bring each version to its target.
    for w in work.iter_mut().filter(|w| !w.failed) {
        let (up, _) = allocation(w, |k| {
            wanted
                .get(k)
                .map(|(t, _, _)| (engine.provisioned_environments(t), None))
        });
        control.record_provisioned(w, up, None).await?;
    }
    let mut status: BTreeMap<VersionKey, archfn_invoke::ProvisionStatus> = BTreeMap::new();
    for (key, (target, arn, n)) in &wanted {
        status.insert(key.clone(), engine.provision(target, arn, *n).await);
    }
    for w in work.iter_mut().filter(|w| !w.failed) {
        let (allocated, failure) =
            allocation(w, |k| status.get(k).map(|s| (s.ready, s.failure.clone())));
        control.record_provisioned(w, allocated, failure).await?;
    }
    Ok(())
}
