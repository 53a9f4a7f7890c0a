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
use archfn_control::cluster::{Cluster, Lease};
use archfn_control::provisioned::ProvisionedWork;
use archfn_invoke::{Engine, Target};

/// How often configurations are brought to their target.
const ROUND: Duration = Duration::from_millis(500);

/// The lease of the node that reconciles provisioned concurrency, with several nodes.
const LEASE: &str = "provisioned-concurrency";
/// How long it lasts unless renewed, and how often it is renewed.
const LEASE_TTL: Duration = Duration::from_secs(6);
const LEASE_RENEW: Duration = Duration::from_secs(2);

/// Starts the reconciler. With several nodes (`cluster`), one node at a time holds the
/// reconciler's lease: its engine keeps the provisioned environments and it records the
/// statuses; the others end any provisioned environments they have, and take the lease over
/// when its holder stops renewing it.
pub fn spawn(control: Control, engine: Engine, cluster: Option<Cluster>) {
    tokio::spawn(async move {
        let mut lease: Option<(Lease, tokio::time::Instant)> = None;
        loop {
            let mine = match &cluster {
                None => true,
                Some(c) => hold(c, &mut lease).await,
            };
            if mine {
                if let Err(e) = round(&control, &engine).await {
                    tracing::warn!(error = %e, "provisioned concurrency");
                }
            } else {
                for (region, function, version) in engine.provisioned_versions() {
                    let ended = engine.release_provisioned(&region, &function, &version);
                    tracing::info!(%function, %version, ended, "provisioned environments released: another node reconciles provisioned concurrency");
                }
            }
            tokio::time::sleep(ROUND).await;
        }
    });
}

/// Whether this node holds the reconciler's lease (taken when free, renewed every 2 s).
async fn hold(cluster: &Cluster, lease: &mut Option<(Lease, tokio::time::Instant)>) -> bool {
    match lease {
        Some((held, renewed)) if renewed.elapsed() < LEASE_RENEW => {
            held.expires_ms > archfn_model::time::now_ms()
        }
        Some((held, renewed)) => match cluster.renew(held, LEASE_TTL).await {
            Ok(()) => {
                *renewed = tokio::time::Instant::now();
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "lost the provisioned concurrency reconciler's lease");
                *lease = None;
                false
            }
        },
        None => match cluster.acquire(LEASE, LEASE_TTL).await {
            Ok(held) => {
                tracing::info!("this node reconciles provisioned concurrency");
                *lease = Some((held, tokio::time::Instant::now()));
                true
            }
            Err(_) => false,
        },
    }
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
