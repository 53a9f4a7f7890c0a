//! Runs traffic shifts (`archfn shift`): an alias moved from one version to another in steps,
//! as CodeDeploy moves a Lambda alias. Every step is judged by guardrails on the alias's live
//! traffic (watched in the engine as it happens), hooks run before and after, and a breach,
//! a failed hook or a user's stop rolls the alias back to the old version.
//!
//! Owns: the runner of each shift (`runner.rs`) and the registry of running ones.
//! Must not: decide what may be shifted (that is `archfn-control`'s) or speak HTTP.
//!
//! Durability: every transition is written to the store before the alias changes, so a
//! process killed at any point leaves a record that says what the alias carries, and
//! [`Deployments::resume_all`] continues each shift in progress after a restart.

mod figures;
mod hook;
mod runner;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use archfn_control::cluster::Cluster;
use archfn_control::{Control, ControlError, ShiftInput};
use archfn_invoke::Engine;
use archfn_model::deployment::{DeploymentRecord, DeploymentStatus, Phase};
use archfn_pricing::PriceBook;
use tokio::sync::watch;

/// What a user asks of a running shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// Keep going.
    Run,
    /// Stop and roll back (`Stopped`).
    Stop,
    /// Roll back (`RolledBack`).
    Rollback,
}

/// How often a running shift reads its live traffic, and how often it writes what it saw.
#[derive(Debug, Clone, Copy)]
pub struct Cadence {
    /// Between readings of the alias's traffic (a breach is caught within this).
    pub tick: Duration,
    /// Between checkpoints of a step's figures in the store.
    pub checkpoint: Duration,
    /// Every interval of a predefined configuration times this, for shifts started without a
    /// scale of their own (`--deploy-time-scale`; 1 in production).
    pub time_scale: f64,
}

impl Default for Cadence {
    fn default() -> Self {
        Cadence {
            tick: Duration::from_millis(500),
            checkpoint: Duration::from_secs(2),
            time_scale: 1.0,
        }
    }
}

/// The shifts of this server: starts, resumes, stops and rolls back.
#[derive(Debug, Clone)]
pub struct Deployments {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    control: Control,
    engine: Engine,
    prices: Arc<PriceBook>,
    cadence: Cadence,
    /// Running shifts by id: a channel to each runner.
    running: Mutex<HashMap<String, watch::Sender<Command>>>,
    /// With several nodes: each shift is driven under a lease (`shift-<id>`), by one node at a
    /// time, and taken over when its driver stops renewing it.
    cluster: std::sync::OnceLock<Cluster>,
}

/// How long a shift's lease lasts unless renewed.
const LEASE_TTL: Duration = Duration::from_secs(6);
/// How often the driver renews it, and how often other nodes look for shifts nobody drives.
const LEASE_RENEW: Duration = Duration::from_secs(2);

fn lease_name(id: &str) -> String {
    format!("shift-{id}")
}

impl Deployments {
    /// Shifts run by `engine`'s traffic and recorded through `control`; costs at `prices`.
    pub fn new(control: Control, engine: Engine, prices: Arc<PriceBook>, cadence: Cadence) -> Self {
        Deployments {
            inner: Arc::new(Inner {
                control,
                engine,
                prices,
                cadence,
                running: Mutex::default(),
                cluster: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Starts a shift: checked and recorded by `archfn-control`, then run in the background.
    pub async fn start(
        &self,
        region: &str,
        mut input: ShiftInput,
    ) -> Result<DeploymentRecord, ControlError> {
        input.time_scale = input.time_scale.or(Some(self.inner.cadence.time_scale));
        let d = self.inner.control.create_deployment(region, input).await?;
        let stored = self.inner.control.get_deployment(&d.id).await?;
        self.spawn(stored.value.clone(), stored.etag, false);
        Ok(stored.value)
    }

    /// Continues every shift the store says is in progress (at start).
    pub async fn resume_all(&self) -> Result<usize, ControlError> {
        let active = self.inner.control.active_deployments().await?;
        let n = active.len();
        for d in active {
            tracing::info!(deployment = %d.value.id, function = %d.value.function, alias = %d.value.alias, "resuming a traffic shift");
            self.spawn(d.value, d.etag, true);
        }
        Ok(n)
    }

    /// Drives shifts under leases from now on, one node at a time among the nodes of
    /// `cluster`, and takes over (every 2 s) the shifts in progress whose driver stopped
    /// renewing its lease, from the step it had recorded.
    pub fn drive_with(&self, cluster: Cluster) {
        if self.inner.cluster.set(cluster).is_err() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(LEASE_RENEW);
            loop {
                tick.tick().await;
                if let Err(e) = this.take_over().await {
                    tracing::warn!(error = %e, "looking for traffic shifts nobody drives");
                }
            }
        });
    }

    /// Starts driving the shifts in progress that no node holds the lease of.
    async fn take_over(&self) -> Result<(), ControlError> {
        let Some(cluster) = self.inner.cluster.get() else {
            return Ok(());
        };
        let now = archfn_model::time::now_ms();
        for d in self.inner.control.active_deployments().await? {
            let here = self
                .inner
                .running
                .lock()
                .map(|r| r.contains_key(&d.value.id))
                .unwrap_or(true);
            if here {
                continue;
            }
            let free = match cluster.lease(&lease_name(&d.value.id)).await {
                Ok(None) => true,
                Ok(Some(l)) => l.expires_ms <= now,
                Err(_) => false,
            };
            if free {
                tracing::info!(deployment = %d.value.id, function = %d.value.function, alias = %d.value.alias, "taking over a traffic shift whose node stopped driving it");
                self.spawn(d.value, d.etag, true);
            }
        }
        Ok(())
    }

    fn spawn(&self, d: DeploymentRecord, etag: i64, resumed: bool) {
        let (tx, rx) = watch::channel(Command::Run);
        if let Ok(mut running) = self.inner.running.lock() {
            running.insert(d.id.clone(), tx);
        }
        let this = self.clone();
        tokio::spawn(async move {
            let id = d.id.clone();
            let runner = runner::Runner {
                control: this.inner.control.clone(),
                engine: this.inner.engine.clone(),
                prices: this.inner.prices.clone(),
                cadence: this.inner.cadence,
                commands: rx,
            };
            match this.inner.cluster.get() {
                None => runner.run(d, etag, resumed).await,
                Some(cluster) => match cluster.acquire(&lease_name(&id), LEASE_TTL).await {
                    Ok(mut lease) => {
                        // The store's etags fence a driver that lost its lease: its next write
                        // of the record fails, and it stops.
                        let renew = async {
                            loop {
                                tokio::time::sleep(LEASE_RENEW).await;
                                if let Err(e) = cluster.renew(&mut lease, LEASE_TTL).await {
                                    tracing::warn!(deployment = %id, error = %e, "lost a traffic shift's lease: another node drives it");
                                    return;
                                }
                            }
                        };
                        tokio::select! {
                            () = runner.run(d, etag, resumed) => {}
                            () = renew => {}
                        }
                        let _ = cluster.release(&lease).await;
                    }
                    Err(e) => {
                        tracing::debug!(deployment = %id, error = %e, "another node drives this traffic shift");
                    }
                },
            }
            if let Ok(mut running) = this.inner.running.lock() {
                running.remove(&id);
            }
        });
    }

    /// A shift by id.
    pub async fn get(&self, id: &str) -> Result<DeploymentRecord, ControlError> {
        Ok(self.inner.control.get_deployment(id).await?.value)
    }

    /// Stops a running shift and rolls the alias back (`Stopped`).
    pub async fn stop(&self, id: &str) -> Result<DeploymentRecord, ControlError> {
        self.command(id, Command::Stop).await
    }

    /// Rolls a shift back: a running one as [`Deployments::stop`] but `RolledBack`; a
    /// succeeded one by pointing the alias at the old version again.
    pub async fn rollback(&self, id: &str) -> Result<DeploymentRecord, ControlError> {
        let stored = self.inner.control.get_deployment(id).await?;
        if stored.value.status == DeploymentStatus::Succeeded {
            let mut d = stored.value;
            let c = &self.inner.control;
            c.route_alias(
                &d.region,
                &d.function,
                &d.alias,
                &d.from_version,
                &d.to_version,
                0,
            )
            .await?;
            let now = archfn_model::time::now_ms();
            d.status = DeploymentStatus::RolledBack;
            d.reason = Some("rolled back by a user after it succeeded".into());
            d.phase = Phase::Done;
            d.updated_ms = now;
            d.finished_ms = Some(now);
            d.log(
                now,
                format!(
                    "rolled back by a user: alias {} carries version {} again",
                    d.alias, d.from_version
                ),
            );
            c.save_deployment(&d, stored.etag).await?;
            return Ok(d);
        }
        self.command(id, Command::Rollback).await
    }

    async fn command(&self, id: &str, command: Command) -> Result<DeploymentRecord, ControlError> {
        let d = self.inner.control.get_deployment(id).await?.value;
        if !d.is_active() {
            return Err(ControlError::Conflict(format!(
                "Deployment {id} is not in progress: its status is {}",
                d.status.as_str()
            )));
        }
        let sent = self
            .inner
            .running
            .lock()
            .ok()
            .and_then(|r| r.get(id).map(|tx| tx.send(command).is_ok()))
            .unwrap_or(false);
        if !sent {
            return Err(ControlError::Conflict(format!(
                "Deployment {id} is not running in this server"
            )));
        }
        // The runner rolls back within a tick; answer with the record once it has.
        for _ in 0..200 {
            let now = self.inner.control.get_deployment(id).await?.value;
            if !now.is_active() {
                return Ok(now);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(self.inner.control.get_deployment(id).await?.value)
    }
}
