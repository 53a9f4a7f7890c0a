//! The worker that runs asynchronous (Event) invocations from their durable queue, retrying a
//! failed one twice, as Lambda does (Lambda waits about one minute, then two).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use archfn_control::Control;
use archfn_invoke::Engine;

/// Lambda's attempts for an asynchronous invocation: the first and two retries.
const MAX_ATTEMPTS: u32 = 3;

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
                    let attempt = event.attempts + 1;
                    let ok = run_once(&control, &engine, &event).await;
                    let result = if ok || attempt >= MAX_ATTEMPTS {
                        if !ok {
                            tracing::warn!(request_id = %event.id, function = %event.function, "asynchronous invocation failed {MAX_ATTEMPTS} times; dropped");
                        }
                        control.finish_event(&event.id).await
                    } else {
                        control
                            .retry_event(&event.id, attempt, retry_delay * attempt)
                            .await
                    };
                    if let Err(e) = result {
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

/// One attempt; true when the function succeeded.
async fn run_once(control: &Control, engine: &Engine, event: &archfn_store::AsyncEvent) -> bool {
    let inv = match control
        .resolve_invocation(&event.region, &event.function, event.qualifier.as_deref())
        .await
    {
        Ok(inv) => inv,
        Err(e) => {
            tracing::warn!(request_id = %event.id, error = %e, "asynchronous invocation target is gone");
            return false;
        }
    };
    let request = archfn_api::invoke_request(
        &event.region,
        inv,
        bytes::Bytes::from(event.payload.clone()),
        None,
    );
    match engine.invoke(request).await {
        Ok(outcome) => outcome.function_error.is_none(),
        Err(e) => {
            tracing::warn!(request_id = %event.id, error = %e, "asynchronous invocation could not run");
            false
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
