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

/// One round over every configuration.
async fn round(control: &Control, engine: &Engine) -> Result<(), archfn_control::ControlError> {
    let work = control.provisioned_work().await?;
    // A version can be wanted by several configurations (two aliases on it): their counts add.
    let mut wanted: BTreeMap<(String, String, String), (Target, String, u32)> = BTreeMap::new();
    let mut kept_failed: BTreeSet<(String, String, String)> = BTreeSet::new();
    for w in &work {
        for (inv, n) in &w.parts {
            let key = (
                w.key.region.clone(),
                inv.config.name.clone(),
                inv.config.version.clone(),
            );
            if w.failed {
                // Left as it is: what it has stays, nothing more is started.
                kept_failed.insert(key);
                continue;
            }
            let target = Target {
                region: w.key.region.clone(),
                config: inv.config.clone(),
                task_dir: inv.task_dir.clone(),
                layer_dirs: inv.layer_dirs.clone(),
                image: inv.image.clone(),
            };
            wanted
                .entry(key)
                .or_insert_with(|| (target, inv.invoked_arn.clone(), 0))
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
    let mut status: BTreeMap<(String, String, String), archfn_invoke::ProvisionStatus> =
        BTreeMap::new();
    for (key, (target, arn, n)) in &wanted {
        status.insert(key.clone(), engine.provision(target, arn, *n).await);
    }
    for w in &work {
        if w.failed {
            continue;
        }
        let mut allocated = 0;
        let mut failure = None;
        let mut resolved = 0;
        for (inv, n) in &w.parts {
            resolved += n;
            let key = (
                w.key.region.clone(),
                inv.config.name.clone(),
                inv.config.version.clone(),
            );
            if let Some(s) = status.get(&key) {
                // Shared between configurations of one version: each counts up to its share.
                allocated += s.ready.min(*n);
                if failure.is_none() {
                    failure = s.failure.clone();
                }
            }
        }
        if resolved < w.requested && failure.is_none() {
            // A version that cannot run now (being updated): still in progress.
            allocated = allocated.min(w.requested.saturating_sub(1));
        }
        control.record_provisioned(w, allocated, failure).await?;
    }
    Ok(())
}
