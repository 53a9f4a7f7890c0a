//! One shift's state machine: hooks, steps held on a timer while the guardrails watch the
//! alias's live traffic, rollback. Every transition is written before the alias changes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use archfn_control::{Control, ControlError};
use archfn_invoke::Engine;
use archfn_model::deployment::{
    DeploymentRecord, DeploymentStatus, Phase, StepRecord, Verdict, judge, latency_note,
};
use archfn_pricing::PriceBook;
use tokio::sync::watch;

use crate::figures::{Billing, Side};
use crate::hook::{self, HookKind};
use crate::{Cadence, Command};

/// Writes that fail for a reason other than a conflict are tried this many times.
const SAVE_ATTEMPTS: u32 = 5;

pub(crate) struct Runner {
    pub control: Control,
    pub engine: Engine,
    pub prices: Arc<PriceBook>,
    pub cadence: Cadence,
    pub commands: watch::Receiver<Command>,
}

/// Why a run ended early.
enum Abort {
    /// Somebody else wrote the record (or the store keeps failing): stop touching it.
    LostRecord,
}

fn now() -> i64 {
    archfn_model::time::now_ms()
}

impl Runner {
    /// Runs `d` (stored with `etag`) to its end. `resumed`: the process restarted meanwhile.
    pub(crate) async fn run(mut self, mut d: DeploymentRecord, mut etag: i64, resumed: bool) {
        // Watch before the alias changes, so that no invocation of a step is missed.
        let watch = self.engine.watch_alias(&d.region, &d.function, &d.alias);
        let billing = self.billing(&d).await;
        if resumed {
            self.on_resume(&mut d);
            if self.save(&mut d, &mut etag).await.is_err() {
                return;
            }
        }
        loop {
            let result = match d.phase.clone() {
                Phase::Done => return,
                Phase::BeforeAllowTraffic { invoked } => {
                    self.hook(&mut d, &mut etag, HookKind::BeforeAllowTraffic, invoked)
                        .await
                }
                Phase::AfterAllowTraffic { invoked } => {
                    self.hook(&mut d, &mut etag, HookKind::AfterAllowTraffic, invoked)
                        .await
                }
                Phase::Shifting { step } => {
                    self.step(&mut d, &mut etag, step, &watch, &billing).await
                }
                Phase::RollingBack { status } => self.roll_back(&mut d, &mut etag, status).await,
            };
            if let Err(Abort::LostRecord) = result {
                tracing::warn!(deployment = %d.id, "the shift's record could not be written; its runner stops");
                return;
            }
        }
    }

    /// After a restart: a hook whose outcome was lost cannot be judged; a step goes on with
    /// what its checkpoint kept, re-applying its weight.
    fn on_resume(&self, d: &mut DeploymentRecord) {
        let t = now();
        let since = d.updated_ms;
        d.log(
            t,
            format!(
                "resumed after the server restarted (record last written {} ms before)",
                (t - since).max(0)
            ),
        );
        match d.phase {
            Phase::BeforeAllowTraffic { invoked: true }
            | Phase::AfterAllowTraffic { invoked: true } => {
                let which = if matches!(d.phase, Phase::BeforeAllowTraffic { .. }) {
                    "BeforeAllowTraffic"
                } else {
                    "AfterAllowTraffic"
                };
                let why = format!(
                    "the server stopped while the {which} hook ran; its outcome cannot be judged"
                );
                d.reason = Some(why.clone());
                d.log(t, format!("rolling back: {why}"));
                d.phase = Phase::RollingBack {
                    status: DeploymentStatus::RolledBack,
                };
            }
            Phase::Shifting { step } => {
                if let Some(s) = d.steps.get_mut(step) {
                    s.applied = false;
                }
            }
            _ => {}
        }
    }

    /// Each version's billing (memory, storage, architecture), for cost per million.
    async fn billing(&self, d: &DeploymentRecord) -> HashMap<String, Billing> {
        let mut out = HashMap::new();
        for v in [&d.from_version, &d.to_version] {
            if let Ok(inv) = self
                .control
                .resolve_invocation(&d.region, &d.function, Some(v))
                .await
            {
                out.insert(
                    v.clone(),
                    Billing {
                        arch: inv.config.architecture,
                        memory_mb: inv.config.memory_mb,
                        ephemeral_storage_mb: inv.config.ephemeral_storage_mb,
                    },
                );
            }
        }
        out
    }

    /// Sends `percent` of the alias's traffic to the new version, the rest to the old one.
    async fn route(&self, d: &DeploymentRecord, percent: u8) -> Result<(), ControlError> {
        self.control
            .route_alias(
                &d.region,
                &d.function,
                &d.alias,
                &d.from_version,
                &d.to_version,
                percent,
            )
            .await
    }

    /// Writes the record; a conflict, or a store that keeps failing, loses it.
    async fn save(&self, d: &mut DeploymentRecord, etag: &mut i64) -> Result<(), Abort> {
        d.updated_ms = now();
        for attempt in 1..=SAVE_ATTEMPTS {
            match self.control.save_deployment(d, *etag).await {
                Ok(e) => {
                    *etag = e;
                    return Ok(());
                }
                Err(ControlError::PreconditionFailed(m)) => {
                    tracing::warn!(deployment = %d.id, "{m}");
                    return Err(Abort::LostRecord);
                }
                Err(e) => {
                    tracing::warn!(deployment = %d.id, attempt, error = %e, "writing a shift's record");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
            }
        }
        Err(Abort::LostRecord)
    }

    /// Starts a rollback (recorded; the alias moves in the next phase).
    async fn begin_rollback(
        &self,
        d: &mut DeploymentRecord,
        etag: &mut i64,
        status: DeploymentStatus,
        why: String,
    ) -> Result<(), Abort> {
        d.log(now(), format!("rolling back: {why}"));
        d.reason = Some(why);
        d.phase = Phase::RollingBack { status };
        self.save(d, etag).await
    }

    /// A user's command, if one came.
    fn command(&mut self) -> Option<(DeploymentStatus, String)> {
        match *self.commands.borrow_and_update() {
            Command::Run => None,
            Command::Stop => Some((DeploymentStatus::Stopped, "stopped by a user".into())),
            Command::Rollback => {
                Some((DeploymentStatus::RolledBack, "rolled back by a user".into()))
            }
        }
    }

    async fn hook(
        &mut self,
        d: &mut DeploymentRecord,
        etag: &mut i64,
        kind: HookKind,
        invoked: bool,
    ) -> Result<(), Abort> {
        let function = match kind {
            HookKind::BeforeAllowTraffic => d.hooks.pre_traffic.clone(),
            HookKind::AfterAllowTraffic => d.hooks.post_traffic.clone(),
        };
        let next = match kind {
            HookKind::BeforeAllowTraffic => Phase::Shifting { step: 0 },
            HookKind::AfterAllowTraffic => Phase::Done,
        };
        let Some(function) = function else {
            return self.after_hook(d, etag, next).await;
        };
        if invoked {
            // Only a resumed record says so; `on_resume` turned it into a rollback.
            let why = format!("the {} hook's outcome is unknown", kind.as_str());
            return self
                .begin_rollback(d, etag, DeploymentStatus::RolledBack, why)
                .await;
        }
        d.phase = match kind {
            HookKind::BeforeAllowTraffic => Phase::BeforeAllowTraffic { invoked: true },
            HookKind::AfterAllowTraffic => Phase::AfterAllowTraffic { invoked: true },
        };
        d.log(
            now(),
            format!("invoking the {} hook {function}", kind.as_str()),
        );
        self.save(d, etag).await?;
        match hook::run(&self.control, &self.engine, d, kind, &function).await {
            Ok(()) => {
                d.log(now(), format!("the {} hook succeeded", kind.as_str()));
                self.after_hook(d, etag, next).await
            }
            Err(why) => {
                self.begin_rollback(d, etag, DeploymentStatus::RolledBack, why)
                    .await
            }
        }
    }

    async fn after_hook(
        &self,
        d: &mut DeploymentRecord,
        etag: &mut i64,
        next: Phase,
    ) -> Result<(), Abort> {
        if next == Phase::Done {
            let t = now();
            d.status = DeploymentStatus::Succeeded;
            d.finished_ms = Some(t);
            d.log(
                t,
                format!(
                    "succeeded: alias {} carries version {}",
                    d.alias, d.to_version
                ),
            );
        }
        d.phase = next;
        self.save(d, etag).await
    }

    /// Holds step `i`: records it, applies its weight, watches its traffic until it ends.
    async fn step(
        &mut self,
        d: &mut DeploymentRecord,
        etag: &mut i64,
        i: usize,
        watch: &archfn_invoke::AliasWatch,
        billing: &HashMap<String, Billing>,
    ) -> Result<(), Abort> {
        let Some(planned) = d.plan.steps.get(i).cloned() else {
            d.phase = Phase::AfterAllowTraffic { invoked: false };
            return self.save(d, etag).await;
        };
        if d.steps.len() <= i {
            d.steps.push(StepRecord {
                percent: planned.percent,
                hold_ms: planned.hold_ms,
                started_ms: now(),
                applied: false,
                old: Default::default(),
                new: Default::default(),
                ..StepRecord::default()
            });
            self.save(d, etag).await?;
        }
        let mut old = Side::new(
            &d.from_version,
            &d.steps[i].old_tally,
            Some(&d.steps[i].old),
        );
        let mut new = Side::new(&d.to_version, &d.steps[i].new_tally, Some(&d.steps[i].new));
        if !d.steps[i].applied {
            if let Some((status, why)) = self.command() {
                return self.begin_rollback(d, etag, status, why).await;
            }
            if let Err(e) = self.route(d, planned.percent).await {
                let why = format!("alias {} could not be changed: {e}", d.alias);
                return self
                    .begin_rollback(d, etag, DeploymentStatus::Failed, why)
                    .await;
            }
            // Traffic seen before the weight changed is not this step's.
            watch.drain();
            d.steps[i].applied = true;
            d.log(
                now(),
                format!(
                    "step {}: {}% of traffic to version {}, {}% to version {}",
                    i + 1,
                    planned.percent,
                    d.to_version,
                    100 - planned.percent,
                    d.from_version
                ),
            );
            self.save(d, etag).await?;
        }
        if planned.percent >= 100 {
            d.steps[i].ended_ms = Some(now());
            d.phase = Phase::AfterAllowTraffic { invoked: false };
            return self.save(d, etag).await;
        }
        let ends_ms = d.steps[i].started_ms + i64::try_from(planned.hold_ms).unwrap_or(i64::MAX);
        let mut last_checkpoint = tokio::time::Instant::now();
        loop {
            let remaining = ends_ms - now();
            let at_end = remaining <= 0;
            if !at_end {
                let wait = Duration::from_millis(u64::try_from(remaining).unwrap_or(0))
                    .min(self.cadence.tick);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = self.commands.changed() => {}
                }
            }
            for (version, seen) in watch.drain() {
                if version == d.to_version {
                    new.add(&seen);
                } else if version == d.from_version {
                    old.add(&seen);
                }
            }
            self.record_figures(d, i, &old, &new, billing);
            if let Some((status, why)) = self.command() {
                return self.begin_rollback(d, etag, status, why).await;
            }
            let note = match (old.execution, new.execution) {
                (Some(o), Some(n)) if o != n => {
                    Some(latency_note(&d.from_version, o, &d.to_version, n))
                }
                _ => None,
            };
            let verdict = judge(
                &d.guardrails,
                &d.from_version,
                &old.stats,
                &d.to_version,
                &new.stats,
                at_end,
                note.is_none(),
            );
            match verdict {
                Verdict::Breached(why) => {
                    d.steps[i].verdict = Some(format!("breached: {why}"));
                    d.steps[i].ended_ms = Some(now());
                    return self
                        .begin_rollback(d, etag, DeploymentStatus::RolledBack, why)
                        .await;
                }
                _ if !at_end => {
                    if last_checkpoint.elapsed() >= self.cadence.checkpoint {
                        last_checkpoint = tokio::time::Instant::now();
                        self.save(d, etag).await?;
                    }
                }
                Verdict::Healthy => {
                    d.steps[i].verdict = Some(match &note {
                        Some(n) => format!("healthy; {n}"),
                        None => "healthy".into(),
                    });
                    return self.next_step(d, etag, i).await;
                }
                Verdict::NotJudged(why) => {
                    d.steps[i].verdict = Some(format!("not judged: {why}"));
                    d.log(now(), format!("step {}: not judged: {why}", i + 1));
                    return self.next_step(d, etag, i).await;
                }
            }
        }
    }

    fn record_figures(
        &self,
        d: &mut DeploymentRecord,
        i: usize,
        old: &Side,
        new: &Side,
        billing: &HashMap<String, Billing>,
    ) {
        let region = d.region.clone();
        if let Some(s) = d.steps.get_mut(i) {
            s.old = old.figures(&self.prices, &region, billing.get(&old.version).copied());
            s.new = new.figures(&self.prices, &region, billing.get(&new.version).copied());
            s.old_tally = old.tally();
            s.new_tally = new.tally();
        }
    }

    async fn next_step(
        &self,
        d: &mut DeploymentRecord,
        etag: &mut i64,
        i: usize,
    ) -> Result<(), Abort> {
        if let Some(s) = d.steps.get_mut(i) {
            s.ended_ms = Some(now());
        }
        d.phase = Phase::Shifting { step: i + 1 };
        self.save(d, etag).await
    }

    /// Points the alias at the old version again and ends the shift with `status`.
    async fn roll_back(
        &self,
        d: &mut DeploymentRecord,
        etag: &mut i64,
        status: DeploymentStatus,
    ) -> Result<(), Abort> {
        let t = now();
        match self.route(d, 0).await {
            Ok(()) => {
                d.status = status;
                d.log(
                    t,
                    format!(
                        "rolled back: alias {} carries version {} at 100%",
                        d.alias, d.from_version
                    ),
                );
            }
            Err(e) => {
                d.status = DeploymentStatus::Failed;
                d.log(
                    t,
                    format!("alias {} could not be rolled back: {e}", d.alias),
                );
            }
        }
        d.phase = Phase::Done;
        d.finished_ms = Some(t);
        self.save(d, etag).await
    }
}
