//! The worker that runs asynchronous (Event) invocations from their durable queue, as Lambda
//! does: a failed one is retried (twice unless the function's event invoke configuration says
//! otherwise; Lambda waits about one minute, then two, here `retry_delay` and twice it), an
//! event older than the configuration's maximum age (6 hours by default, scaled by
//! `retry_delay` against Lambda's minute) is not run any more, and the invocation record goes
//! to the configured destination: OnSuccess after a success, OnFailure when the retries are
//! exhausted or the event aged out. A Lambda function destination gets the record as an
//! asynchronous invocation, queued durably before the event leaves the queue; the other
//! services' destinations are not delivered (archfn has none of them), and a line says so.
//!
//! Several nodes may share the queue (on PostgreSQL): each takes the events it runs with a
//! claim that lasts [`LEASE`], renewed every [`RENEW_EVERY`] while they run; an event whose
//! node died is taken by another once the claim has expired.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use archfn_control::event_invoke::{AttemptResponse, Condition, Delivery, EventPolicy};
use archfn_control::{Control, Invocable};
use archfn_invoke::Engine;

/// How long a claim on an event lasts without renewal.
pub const LEASE: Duration = Duration::from_secs(30);

/// How often a node renews the claims of the events it is running.
const RENEW_EVERY: Duration = Duration::from_secs(5);

/// Starts the worker as node `node`. `retry_delay` is the wait before the first retry (doubled
/// for the second).
pub fn spawn(control: Control, engine: Engine, retry_delay: Duration, node: String) {
    tracing::info!(node = %node, "event queue worker");
    // The events this node is running (claimed in the store), whose claims it renews.
    let running: Arc<Mutex<HashSet<String>>> = Arc::default();
    let (renew_control, renew_node, renew_running) =
        (control.clone(), node.clone(), running.clone());
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            let ids: Vec<String> = renew_running
                .lock()
                .map(|r| r.iter().cloned().collect())
                .unwrap_or_default();
            if let Err(e) = renew_control
                .renew_event_claims(&renew_node, &ids, LEASE)
                .await
            {
                tracing::warn!(error = %e, "renewing claims on running events");
            }
        }
    });
    tokio::spawn(async move {
        loop {
            let due = match control.claim_events(&node, LEASE, 64).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the event queue");
                    Vec::new()
                }
            };
            for event in due {
                // A claim of ours that lapsed while the attempt still runs is not run twice.
                let fresh = running
                    .lock()
                    .map(|mut r| r.insert(event.id.clone()))
                    .unwrap_or(false);
                if !fresh {
                    continue;
                }
                let (control, engine, running) = (control.clone(), engine.clone(), running.clone());
                tokio::spawn(async move {
                    if let Err(e) = attempt(&control, &engine, &event, retry_delay).await {
                        tracing::warn!(request_id = %event.id, error = %e, "updating the event queue");
                    }
                    if let Ok(mut r) = running.lock() {
                        r.remove(&event.id);
                    }
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}

/// The qualifier an invocation was made through, for its event invoke configuration: the
/// alias, the version named, or `$LATEST`.
fn config_qualifier(inv: &Invocable) -> String {
    if let Some(alias) = &inv.alias {
        return alias.clone();
    }
    let parts: Vec<&str> = inv.invoked_arn.split(':').collect();
    match parts.get(7) {
        Some(q) if !q.is_empty() => (*q).to_string(),
        _ => "$LATEST".to_string(),
    }
}

/// The maximum age on this server's clock: Lambda's, scaled as the retry delay is scaled
/// against Lambda's minute (`--async-retry-delay 1` makes 60 seconds one second).
fn scaled(max_age: Duration, retry_delay: Duration) -> Duration {
    max_age.mul_f64(retry_delay.as_secs_f64() / 60.0)
}

/// One attempt at `event` (or its end, when it aged out), and what follows: a retry, a
/// destination record, or neither. The queue is updated before this returns.
async fn attempt(
    control: &Control,
    engine: &Engine,
    event: &archfn_store::AsyncEvent,
    retry_delay: Duration,
) -> Result<(), archfn_control::ControlError> {
    let attempt = event.attempts + 1;
    let inv = match control
        .resolve_invocation(&event.region, &event.function, event.qualifier.as_deref())
        .await
    {
        Ok(inv) => Some(inv),
        Err(e) => {
            tracing::warn!(request_id = %event.id, error = %e, "asynchronous invocation target is gone");
            None
        }
    };
    let qualifier = inv.as_ref().map(config_qualifier);
    let policy = match (&inv, &qualifier) {
        (Some(inv), Some(q)) => control
            .event_policy(&event.region, &inv.config.name, q)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(request_id = %event.id, error = %e, "reading the event invoke configuration");
                EventPolicy::default()
            }),
        _ => EventPolicy::default(),
    };
    let function_arn = inv.as_ref().map(|inv| {
        let base: Vec<&str> = inv.invoked_arn.split(':').take(7).collect();
        format!(
            "{}:{}",
            base.join(":"),
            qualifier.as_deref().unwrap_or("$LATEST")
        )
    });
    let age_ms = archfn_control::enqueued_ms(&event.id)
        .map(|t| archfn_model::time::now_ms().saturating_sub(t));
    let max_age = scaled(policy.maximum_age, retry_delay);
    if age_ms.is_some_and(|age| u128::from(age.unsigned_abs()) > max_age.as_millis()) {
        tracing::warn!(request_id = %event.id, function = %event.function, attempts = event.attempts, "asynchronous invocation older than its maximum age; dropped");
        if let (Some(dest), Some(arn)) = (&policy.on_failure, &function_arn) {
            let record = archfn_control::event_invoke::destination_record(
                &event.id,
                arn,
                Condition::EventAgeExceeded,
                event.attempts,
                &event.payload,
                None,
            );
            deliver(control, &event.region, dest, &record, &event.id).await?;
        }
        return control.finish_event(&event.id).await;
    }
    let response = match &inv {
        Some(inv) => run_once(engine, event, inv.clone()).await,
        None => None,
    };
    let ok = response
        .as_ref()
        .is_some_and(|r| r.function_error.is_none());
    let exhausted = attempt > policy.maximum_retries;
    if !ok && !exhausted {
        return control
            .retry_event(&event.id, attempt, retry_delay * attempt)
            .await;
    }
    if !ok {
        tracing::warn!(request_id = %event.id, function = %event.function, attempts = attempt, "asynchronous invocation failed every attempt; dropped");
    }
    let (destination, condition) = if ok {
        (&policy.on_success, Condition::Success)
    } else {
        (&policy.on_failure, Condition::RetriesExhausted)
    };
    if let (Some(dest), Some(arn)) = (destination, &function_arn) {
        let record = archfn_control::event_invoke::destination_record(
            &event.id,
            arn,
            condition,
            attempt,
            &event.payload,
            response.as_ref(),
        );
        deliver(control, &event.region, dest, &record, &event.id).await?;
    }
    control.finish_event(&event.id).await
}

/// Sends a destination record (queued durably for a function; logged as not delivered for the
/// services archfn does not have).
async fn deliver(
    control: &Control,
    region: &str,
    destination: &str,
    record: &serde_json::Value,
    request_id: &str,
) -> Result<(), archfn_control::ControlError> {
    let bytes = serde_json::to_vec(record).unwrap_or_default();
    match control.deliver_record(region, destination, &bytes).await? {
        Delivery::Queued { id } => {
            tracing::info!(request_id = %request_id, destination = %destination, record_request_id = %id, "destination record queued");
        }
        Delivery::NotDelivered { service } => {
            tracing::warn!(request_id = %request_id, destination = %destination, "destination record not delivered: archfn has no {service} service");
        }
    }
    Ok(())
}

/// Runs the event once; how the function answered, `None` when it could not run.
async fn run_once(
    engine: &Engine,
    event: &archfn_store::AsyncEvent,
    inv: Invocable,
) -> Option<AttemptResponse> {
    let executed_version = inv.executed_version.clone();
    let request = archfn_api::invoke_request(
        &event.region,
        inv,
        bytes::Bytes::from(event.payload.clone()),
        None,
    );
    match engine.invoke(request).await {
        Ok(outcome) => Some(AttemptResponse {
            status_code: 200,
            executed_version,
            function_error: outcome.function_error,
            payload: outcome.payload.to_vec(),
        }),
        Err(e) => {
            tracing::warn!(request_id = %event.id, error = %e, "asynchronous invocation could not run");
            None
        }
    }
}
