//! The worker that runs asynchronous (Event) invocations from their durable queue, as Lambda
//! does: a failed one is retried (twice unless the function's event invoke configuration says
//! otherwise; Lambda waits about one minute, then two, here `retry_delay` and twice it), an
//! event older than the configuration's maximum age (6 hours by default, scaled by
//! `retry_delay` against Lambda's minute) is not run any more, and the invocation record goes
//! to the configured destination: OnSuccess after a success, OnFailure when the retries are
//! exhausted or the event aged out. A Lambda function destination gets the record as an
//! asynchronous invocation, queued durably before the event leaves the queue; the other
//! services' destinations are not delivered (archfn has none of them), and a line says so.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use archfn_control::event_invoke::{AttemptResponse, Condition, Delivery, EventPolicy};
use archfn_control::{Control, Invocable};
use archfn_invoke::Engine;

/// Which events the worker has claimed. The loop reads the queue once a round; an attempt
/// that ends updates the queue first, then [`Claims::end`]s. Its claim is kept until the next
/// round, because this round's read may predate the update and would run the event again.
#[derive(Debug, Default)]
struct Claims {
    /// Claimed events: `None` while running, else the round in which the attempt ended.
    events: HashMap<String, Option<u64>>,
    round: u64,
}

impl Claims {
    /// Starts a round (before the queue is read): forgets attempts that ended in earlier ones.
    fn next_round(&mut self) {
        self.round += 1;
        let round = self.round;
        self.events
            .retain(|_, ended| ended.is_none_or(|e| e >= round));
    }

    /// Claims an event read in this round; false when it is running or just ended.
    fn claim(&mut self, id: &str) -> bool {
        if self.events.contains_key(id) {
            return false;
        }
        self.events.insert(id.to_string(), None);
        true
    }

    /// An attempt ended (after the queue was updated).
    fn end(&mut self, id: &str) {
        self.events.insert(id.to_string(), Some(self.round));
    }
}

/// Starts the worker. `retry_delay` is the wait before the first retry (doubled for the second).
pub fn spawn(control: Control, engine: Engine, retry_delay: Duration) {
    let claims: Arc<Mutex<Claims>> = Arc::default();
    tokio::spawn(async move {
        loop {
            if let Ok(mut c) = claims.lock() {
                c.next_round();
            }
            let due = match control.due_events(64).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the event queue");
                    Vec::new()
                }
            };
            for event in due {
                let claimed = claims
                    .lock()
                    .map(|mut c| c.claim(&event.id))
                    .unwrap_or(false);
                if !claimed {
                    continue;
                }
                let (control, engine, claims) = (control.clone(), engine.clone(), claims.clone());
                tokio::spawn(async move {
                    if let Err(e) = attempt(&control, &engine, &event, retry_delay).await {
                        tracing::warn!(request_id = %event.id, error = %e, "updating the event queue");
                    }
                    if let Ok(mut c) = claims.lock() {
                        c.end(&event.id);
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

#[cfg(test)]
mod tests {
    use super::Claims;

    #[test]
    fn an_attempt_that_ends_mid_round_is_not_claimed_again_from_that_rounds_read() {
        let mut c = Claims::default();
        c.next_round();
        assert!(c.claim("e"));
        assert!(!c.claim("e"), "running");
        c.next_round();
        // Read before the attempt updated the queue, then the attempt ends: the stale read
        // must not run it again in this round.
        c.end("e");
        assert!(!c.claim("e"));
        // The next round reads the queue after the update: the event is free again.
        c.next_round();
        assert!(c.claim("e"));
    }
}
