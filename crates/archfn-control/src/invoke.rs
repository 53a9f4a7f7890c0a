//! Invoke as one use case: Lambda's payload limits, what the invocation runs (the function
//! version a name, qualifier or alias selects; an alias with weights picks per invocation), and
//! its admission: a concurrency slot for a synchronous invocation, the durable queue for an
//! Event, nothing more for a DryRun.

use std::path::PathBuf;
use std::time::Duration;

use archfn_model::{
    FunctionConfig, ImageLaunch, InvocationType, LastUpdateStatus, PackageType, State,
};
use bytes::Bytes;

use crate::function::AliasPick;
use crate::{Admission, Control, ControlError, NotFoundKind};

/// A resolved invocation target.
#[derive(Debug, Clone)]
pub struct Invocable {
    /// The configuration of the version that runs.
    pub config: FunctionConfig,
    /// The ARN as the caller used it (qualified when they qualified it).
    pub invoked_arn: String,
    /// `$LATEST` or the version number that runs (`X-Amz-Executed-Version`).
    pub executed_version: String,
    /// Unpacked code.
    pub task_dir: PathBuf,
    /// Unpacked layers, in order.
    pub layer_dirs: Vec<PathBuf>,
    /// Reserved concurrency of the function, if set.
    pub reserved_concurrency: Option<u32>,
    /// How a container image function starts (`None` for a .zip function).
    pub image: Option<ImageLaunch>,
    /// The alias the caller invoked through, if any (for metrics per alias).
    pub alias: Option<String>,
}

/// An invocation [`Control::begin_invoke`] let through.
#[derive(Debug)]
pub enum Admitted {
    /// RequestResponse: run `target` with `payload` now; `admission` holds the concurrency slot
    /// until it is dropped, after the answer.
    Run {
        /// What runs.
        target: Box<Invocable>,
        /// The event (`{}` for an empty payload, as Lambda passes it).
        payload: Bytes,
        /// The concurrency slot.
        admission: Admission,
    },
    /// Event: accepted once on disk; the event worker runs it (see [`Control::due_events`]).
    Queued {
        /// The request id the caller is given.
        id: String,
    },
    /// DryRun: the invocation would have been accepted.
    Checked,
}

/// Why [`Control::begin_invoke`] did not begin an invocation.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct InvokeRefused {
    /// The answer for the caller.
    pub error: ControlError,
    /// For a throttle ([`ControlError::Throttled`]), what would have run: throttles are counted
    /// per function version and alias, where invocations are.
    pub throttled: Option<Box<Invocable>>,
}

impl From<ControlError> for InvokeRefused {
    fn from(error: ControlError) -> Self {
        InvokeRefused {
            error,
            throttled: None,
        }
    }
}

/// A refusal of an admission for `target`, which a throttle names.
fn refused(error: ControlError, target: Invocable) -> InvokeRefused {
    let throttled = matches!(error, ControlError::Throttled { .. }).then(|| Box::new(target));
    InvokeRefused { error, throttled }
}

/// Lambda's payload rules: at most 6 MB synchronous, 1 MB asynchronous, and JSON when not empty.
fn check_payload(kind: InvocationType, payload: &[u8]) -> Result<(), ControlError> {
    let limit = kind.payload_max_bytes();
    if payload.len() > limit {
        return Err(ControlError::TooLarge(match kind {
            InvocationType::Event => format!(
                "{} byte payload is too large for the Event invocation type (limit {limit} bytes)",
                payload.len()
            ),
            InvocationType::RequestResponse | InvocationType::DryRun => format!(
                "Request must be smaller than {limit} bytes for the InvokeFunction operation"
            ),
        }));
    }
    if !payload.is_empty()
        && let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(payload)
    {
        return Err(ControlError::InvalidRequestContent(format!(
            "Could not parse request body into json: Could not parse payload into json: {e}"
        )));
    }
    Ok(())
}

impl Control {
    /// Invoke, up to running the function: checks the payload against `kind`'s limits, resolves
    /// what `name` (with `qualifier`) runs, and admits it. A RequestResponse invocation takes a
    /// concurrency slot (or is throttled) and comes back as [`Admitted::Run`] for the caller to
    /// run; an Event is queued durably; a DryRun is only checked. Only a reservation of zero
    /// turns an Event or DryRun away: Lambda queues events rather than throttling them.
    pub async fn begin_invoke(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
        kind: InvocationType,
        payload: Bytes,
    ) -> Result<Admitted, InvokeRefused> {
        check_payload(kind, &payload)?;
        let target = self.resolve_invocation(region, name, qualifier).await?;
        let payload = if payload.is_empty() {
            Bytes::from_static(b"{}")
        } else {
            payload
        };
        match kind {
            InvocationType::RequestResponse => {
                match self
                    .admit_synchronous(region, &target.config.name, target.reserved_concurrency)
                    .await
                {
                    Ok(admission) => Ok(Admitted::Run {
                        target: Box::new(target),
                        payload,
                        admission,
                    }),
                    Err(e) => Err(refused(e, target)),
                }
            }
            InvocationType::Event | InvocationType::DryRun => {
                if let Err(e) = Control::admit_unslotted(target.reserved_concurrency) {
                    return Err(refused(e, target));
                }
                if kind == InvocationType::DryRun {
                    return Ok(Admitted::Checked);
                }
                // The worker resolves the name again when it runs the event (an alias picks then).
                let id = self
                    .enqueue_event(region, name, qualifier, &payload)
                    .await?;
                Ok(Admitted::Queued { id })
            }
        }
    }

    /// Resolves what an Invoke of `name` (with `qualifier`) runs. Waits for a `$LATEST` update in
    /// progress to finish preparing (Lambda would run the previous code meanwhile).
    pub async fn resolve_invocation(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<Invocable, ControlError> {
        let unqualified =
            qualifier.is_none() && self.parse_function_ref(region, name)?.qualifier.is_none();
        let mut waited = Duration::ZERO;
        loop {
            let r = match self.resolve(region, name, qualifier).await {
                Err(ControlError::NotFound {
                    kind: NotFoundKind::Function,
                    message,
                }) if unqualified => {
                    return Err(ControlError::not_found(
                        NotFoundKind::Function,
                        format!("{message}:$LATEST"),
                    ));
                }
                other => other?,
            };
            let selected = self
                .select_version(&r, AliasPick::Weighted(rand::random::<f64>()))
                .await?;
            let config = selected.config;
            let busy = config.state == State::Pending
                || config.last_update_status == Some(LastUpdateStatus::InProgress);
            if busy && waited < Duration::from_secs(30) {
                tokio::time::sleep(Duration::from_millis(20)).await;
                waited += Duration::from_millis(20);
                continue;
            }
            if config.state != State::Active {
                return Err(ControlError::Conflict(format!(
                    "The operation cannot be performed at this time. The function is currently in the following state: {}",
                    config.state.as_str()
                )));
            }
            let task_dir = self.code_dir(&config.code.source.key());
            let layer_dirs = config
                .layers
                .iter()
                .map(|l| self.code_dir(&l.digest))
                .collect::<Vec<_>>();
            // Prepared on another node, or this node's cache emptied: unpacked here first, from
            // the blob store.
            if !task_dir.is_dir() || layer_dirs.iter().any(|d| !d.is_dir()) {
                self.materialize(&config).await.map_err(|e| {
                    ControlError::Internal(format!("unpacking the function's code: {e}"))
                })?;
            }
            let image = match config.package_type {
                PackageType::Image => Some(self.image_launch(&config).await?),
                PackageType::Zip => None,
            };
            return Ok(Invocable {
                image,
                executed_version: config.version.clone(),
                config,
                invoked_arn: selected.arn,
                task_dir,
                layer_dirs,
                reserved_concurrency: r.stored.value.reserved_concurrency,
                alias: selected.alias,
            });
        }
    }
}

/// When an asynchronous invocation was accepted (Unix milliseconds), from its request id; `None`
/// for an id that does not carry it (one queued before ids were time-ordered).
pub fn enqueued_ms(id: &str) -> Option<i64> {
    let uuid = uuid::Uuid::parse_str(id).ok()?;
    if uuid.get_version_num() != 7 {
        return None;
    }
    let (secs, nanos) = uuid.get_timestamp()?.to_unix();
    i64::try_from(secs)
        .ok()?
        .checked_mul(1000)?
        .checked_add(i64::from(nanos / 1_000_000))
}

impl Control {
    /// Accepts an asynchronous invocation durably; runs later (see `due_events`). Its request id
    /// is a time-ordered UUID (version 7) that carries when it was accepted (see
    /// [`enqueued_ms`]): the event's age, without another column in the queue.
    pub(crate) async fn enqueue_event(
        &self,
        region: &str,
        function: &str,
        qualifier: Option<&str>,
        payload: &[u8],
    ) -> Result<String, ControlError> {
        let id = uuid::Uuid::now_v7().to_string();
        self.store()
            .enqueue_event(&archfn_store::AsyncEvent {
                id: id.clone(),
                region: region.to_string(),
                function: function.to_string(),
                qualifier: qualifier.map(str::to_string),
                payload: payload.to_vec(),
                attempts: 0,
                next_attempt_ms: archfn_model::time::now_ms(),
            })
            .await?;
        Ok(id)
    }

    /// Asynchronous invocations due now.
    pub async fn due_events(
        &self,
        limit: usize,
    ) -> Result<Vec<archfn_store::AsyncEvent>, ControlError> {
        Ok(self
            .store()
            .due_events(archfn_model::time::now_ms(), limit)
            .await?)
    }

    /// Takes asynchronous invocations due now that no node holds, for `node`, until `lease`
    /// from now (see [`archfn_store::MetadataStore::claim_due_events`]).
    pub async fn claim_events(
        &self,
        node: &str,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<archfn_store::AsyncEvent>, ControlError> {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        Ok(self
            .store()
            .claim_due_events(node, archfn_model::time::now_ms(), lease_ms, limit)
            .await?)
    }

    /// Extends `node`'s claims on events it is still running, to `lease` from now.
    pub async fn renew_event_claims(
        &self,
        node: &str,
        ids: &[String],
        lease: Duration,
    ) -> Result<(), ControlError> {
        let until =
            archfn_model::time::now_ms() + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        Ok(self.store().renew_event_claims(node, ids, until).await?)
    }

    /// Records a failed attempt; the next is due after `delay` (and the event's claim ends).
    pub async fn retry_event(
        &self,
        id: &str,
        attempts: u32,
        delay: Duration,
    ) -> Result<(), ControlError> {
        let next =
            archfn_model::time::now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
        Ok(self.store().reschedule_event(id, attempts, next).await?)
    }

    /// Forgets an event that ran, or ran out of attempts.
    pub async fn finish_event(&self, id: &str) -> Result<(), ControlError> {
        Ok(self.store().delete_event(id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    const REGION: &str = "us-east-1";

    async fn begin(
        control: &Control,
        name: &str,
        kind: InvocationType,
        payload: &'static [u8],
    ) -> Result<Admitted, InvokeRefused> {
        control
            .begin_invoke(REGION, name, None, kind, Bytes::from_static(payload))
            .await
    }

    fn refusal(r: Result<Admitted, InvokeRefused>) -> InvokeRefused {
        match r {
            Ok(a) => panic!("admitted: {a:?}"),
            Err(e) => e,
        }
    }

    #[tokio::test]
    async fn payload_limits_and_json_come_before_resolution() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let control = testing::control(&dir).await;
        let event = vec![b' '; 1_048_577];
        let r = control
            .begin_invoke(REGION, "absent", None, InvocationType::Event, event.into())
            .await;
        let e = refusal(r).error;
        assert!(matches!(e, ControlError::TooLarge(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "1048577 byte payload is too large for the Event invocation type (limit 1048576 bytes)"
        );
        for kind in [InvocationType::RequestResponse, InvocationType::DryRun] {
            let sync = vec![b' '; 6_291_457];
            let e = refusal(
                control
                    .begin_invoke(REGION, "absent", None, kind, sync.into())
                    .await,
            )
            .error;
            assert_eq!(
                e.to_string(),
                "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
            );
        }
        let e = refusal(begin(&control, "absent", InvocationType::Event, b"{").await).error;
        assert!(matches!(e, ControlError::InvalidRequestContent(_)), "{e:?}");
        assert!(
            e.to_string().starts_with(
                "Could not parse request body into json: Could not parse payload into json: "
            ),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_missing_function_is_not_found_at_latest_when_unqualified() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let control = testing::control(&dir).await;
        let arn = format!(
            "arn:aws:lambda:{REGION}:{}:function:absent",
            testing::ACCOUNT
        );
        match refusal(begin(&control, "absent", InvocationType::DryRun, b"").await).error {
            ControlError::NotFound { kind, message } => {
                assert_eq!(kind, NotFoundKind::Function);
                assert_eq!(message, format!("Function not found: {arn}:$LATEST"));
            }
            other => panic!("{other:?}"),
        }
        let r = control
            .begin_invoke(
                REGION,
                "absent",
                Some("2"),
                InvocationType::DryRun,
                Bytes::new(),
            )
            .await;
        match refusal(r).error {
            ControlError::NotFound { kind, message } => {
                assert_eq!(kind, NotFoundKind::Function);
                assert_eq!(message, format!("Function not found: {arn}:2"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn each_type_is_admitted_its_own_way() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let control = testing::control(&dir).await;
        testing::create_function(&control, REGION, "f").await;

        assert!(matches!(
            begin(&control, "f", InvocationType::DryRun, b"{}").await,
            Ok(Admitted::Checked)
        ));
        assert!(
            control.due_events(10).await.is_ok_and(|e| e.is_empty()),
            "a DryRun queues nothing"
        );

        let id = match begin(&control, "f", InvocationType::Event, b"").await {
            Ok(Admitted::Queued { id }) => id,
            other => panic!("{other:?}"),
        };
        let due = control
            .due_events(10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].id, id);
        assert_eq!(due[0].function, "f");
        assert_eq!(due[0].payload, b"{}", "an empty payload is queued as {{}}");

        match begin(&control, "f", InvocationType::RequestResponse, b"[1]").await {
            Ok(Admitted::Run {
                target, payload, ..
            }) => {
                assert_eq!(target.executed_version, "$LATEST");
                assert_eq!(target.alias, None);
                assert_eq!(&payload[..], b"[1]");
                assert!(target.invoked_arn.ends_with(":function:f"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_synchronous_invocation_holds_its_slot_and_a_throttle_names_its_target() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let control = testing::control(&dir).await;
        testing::create_function(&control, REGION, "f").await;
        control
            .put_function_concurrency(REGION, "f", 1)
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        let first = begin(&control, "f", InvocationType::RequestResponse, b"{}").await;
        assert!(matches!(first, Ok(Admitted::Run { .. })), "{first:?}");
        let second = refusal(begin(&control, "f", InvocationType::RequestResponse, b"{}").await);
        assert!(
            matches!(
                second.error,
                ControlError::Throttled {
                    reason: "ReservedFunctionConcurrentInvocationLimitExceeded",
                    ..
                }
            ),
            "{second:?}"
        );
        assert_eq!(
            second.throttled.map(|t| t.config.name),
            Some("f".to_string()),
            "a throttle says what would have run"
        );
        assert!(
            matches!(
                begin(&control, "f", InvocationType::Event, b"{}").await,
                Ok(Admitted::Queued { .. })
            ),
            "an Event takes no slot"
        );
        drop(first);
        assert!(matches!(
            begin(&control, "f", InvocationType::RequestResponse, b"{}").await,
            Ok(Admitted::Run { .. })
        ));
    }

    #[tokio::test]
    async fn a_reservation_of_zero_turns_every_type_away() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let control = testing::control(&dir).await;
        testing::create_function(&control, REGION, "f").await;
        control
            .put_function_concurrency(REGION, "f", 0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for kind in [
            InvocationType::RequestResponse,
            InvocationType::Event,
            InvocationType::DryRun,
        ] {
            let e = refusal(begin(&control, "f", kind, b"{}").await);
            assert!(matches!(e.error, ControlError::Throttled { .. }), "{kind}");
            assert!(e.throttled.is_some(), "{kind}");
        }
        assert!(
            control.due_events(10).await.is_ok_and(|e| e.is_empty()),
            "nothing was queued"
        );
    }

    #[tokio::test]
    async fn an_alias_invocation_runs_its_version_through_the_alias() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let control = testing::control(&dir).await;
        testing::create_function(&control, REGION, "f").await;
        // Publishing needs $LATEST prepared; resolving waits for it.
        control
            .resolve_invocation(REGION, "f", None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        control
            .publish_version(REGION, "f", None, None, None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        control
            .create_alias(
                REGION,
                "f",
                "live",
                crate::AliasInput {
                    function_version: Some("1".into()),
                    ..crate::AliasInput::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let r = control
            .begin_invoke(
                REGION,
                "f",
                Some("live"),
                InvocationType::RequestResponse,
                Bytes::new(),
            )
            .await;
        match r {
            Ok(Admitted::Run {
                target, payload, ..
            }) => {
                assert_eq!(target.executed_version, "1");
                assert_eq!(target.alias.as_deref(), Some("live"));
                assert!(target.invoked_arn.ends_with(":function:f:live"));
                assert_eq!(&payload[..], b"{}");
            }
            other => panic!("{other:?}"),
        }
        let missing = control
            .begin_invoke(
                REGION,
                "f",
                Some("gone"),
                InvocationType::DryRun,
                Bytes::new(),
            )
            .await;
        match refusal(missing).error {
            ControlError::NotFound { kind, message } => {
                assert_eq!(kind, NotFoundKind::Version);
                assert!(message.ends_with(":function:f:gone"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}
