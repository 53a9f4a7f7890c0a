//! The worker that runs asynchronous (Event) invocations from their durable queue, retrying a
//! failed one twice, as Lambda does (Lambda waits about one minute, then two).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use archfn_control::Control;
use archfn_invoke::{Engine, InvokeRequest, Target};

/// Lambda's attempts for an asynchronous invocation: the first and two retries.
const MAX_ATTEMPTS: u32 = 3;

/// Starts the worker. `retry_delay` is the wait before the first retry (doubled for the second).
pub fn spawn(control: Control, engine: Engine, retry_delay: Duration) {
    let running: Arc<Mutex<HashSet<String>>> = Arc::default();
    tokio::spawn(async move {
        loop {
            let due = match control.due_events(64).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the event queue");
                    Vec::new()
                }
            };
            for event in due {
                let claimed = running
                    .lock()
                    .map(|mut r| r.insert(event.id.clone()))
                    .unwrap_or(false);
                if !claimed {
                    continue;
                }
                let (control, engine, running) = (control.clone(), engine.clone(), running.clone());
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
                    if let Ok(mut r) = running.lock() {
                        r.remove(&event.id);
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
    let request = InvokeRequest {
        target: Target {
            region: event.region.clone(),
            config: inv.config,
            task_dir: inv.task_dir,
            layer_dirs: inv.layer_dirs,
            image: inv.image,
        },
        invoked_arn: inv.invoked_arn,
        payload: bytes::Bytes::from(event.payload.clone()),
        client_context: None,
    };
    match engine.invoke(request).await {
        Ok(outcome) => outcome.function_error.is_none(),
        Err(e) => {
            tracing::warn!(request_id = %event.id, error = %e, "asynchronous invocation could not run");
            false
        }
    }
}
