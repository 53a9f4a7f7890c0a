//! Concurrency as Lambda counts it: a function with reserved concurrency runs at most that
//! many invocations at once; every other function shares the account's unreserved pool
//! (ConcurrentExecutions minus all reservations) in its region. An invocation over either
//! limit is throttled (`TooManyRequestsException`, "Rate Exceeded.", with Lambda's reason).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use archfn_model::limits::UNRESERVED_CONCURRENCY_MIN;

use crate::{Control, ControlError};

/// Invocations in flight, per function and per region's unreserved pool.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    per_function: HashMap<(String, String), u32>,
    unreserved: HashMap<String, u32>,
}

/// Where an admitted invocation counts.
#[derive(Debug, Clone)]
enum Slot {
    Reserved(String, String),
    Unreserved(String),
}

/// An admitted synchronous invocation; its slot is given back when this is dropped.
#[derive(Debug)]
pub struct Admission {
    in_flight: Arc<Mutex<InFlight>>,
    slot: Slot,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let Ok(mut f) = self.in_flight.lock() else {
            return;
        };
        let count = match &self.slot {
            Slot::Reserved(region, name) => f.per_function.get_mut(&(region.clone(), name.clone())),
            Slot::Unreserved(region) => f.unreserved.get_mut(region),
        };
        if let Some(c) = count {
            *c = c.saturating_sub(1);
        }
    }
}

fn throttled(reason: &'static str) -> ControlError {
    ControlError::Throttled {
        message: "Rate Exceeded.".into(),
        reason,
    }
}

fn lock(f: &Mutex<InFlight>) -> Result<std::sync::MutexGuard<'_, InFlight>, ControlError> {
    f.lock()
        .map_err(|_| ControlError::Internal("concurrency counters poisoned".into()))
}

impl Control {
    /// The smallest unreserved pool the account keeps (100, or the whole account if smaller).
    pub(crate) fn unreserved_minimum(&self) -> u32 {
        UNRESERVED_CONCURRENCY_MIN.min(self.inner.account_concurrency)
    }

    /// Admits an invocation that takes no slot (an Event or a DryRun): Lambda queues events
    /// rather than throttling their acceptance, so only a reservation of zero turns it away.
    pub(crate) fn admit_unslotted(reserved: Option<u32>) -> Result<(), ControlError> {
        match reserved {
            Some(0) => Err(throttled(
                "ReservedFunctionConcurrentInvocationLimitExceeded",
            )),
            _ => Ok(()),
        }
    }

    /// Admits one synchronous invocation of `name`, whose reserved concurrency is `reserved`,
    /// or throttles it as Lambda does. It takes a slot, given back when the admission is
    /// dropped.
    pub(crate) async fn admit_synchronous(
        &self,
        region: &str,
        name: &str,
        reserved: Option<u32>,
    ) -> Result<Admission, ControlError> {
        let in_flight = self.inner.in_flight.clone();
        if let Some(limit) = reserved {
            let mut f = lock(&in_flight)?;
            let count = f
                .per_function
                .entry((region.to_string(), name.to_string()))
                .or_default();
            if *count >= limit {
                return Err(throttled(
                    "ReservedFunctionConcurrentInvocationLimitExceeded",
                ));
            }
            *count += 1;
            drop(f);
            return Ok(Admission {
                in_flight,
                slot: Slot::Reserved(region.to_string(), name.to_string()),
            });
        }
        // Below the account's unreserved minimum nothing can be throttled: no need to sum the
        // reservations. Above it, the pool's exact size decides.
        let busy = lock(&in_flight)?
            .unreserved
            .get(region)
            .copied()
            .unwrap_or(0);
        let limit = if busy < self.unreserved_minimum() {
            u32::MAX
        } else {
            let usage = self.store().account_usage(region).await?;
            let provisioned = self.provisioned_outside_reservations(region).await?;
            let reserved_total =
                u32::try_from(usage.reserved_concurrency.saturating_add(provisioned))
                    .unwrap_or(u32::MAX);
            self.inner
                .account_concurrency
                .saturating_sub(reserved_total)
        };
        let mut f = lock(&in_flight)?;
        let count = f.unreserved.entry(region.to_string()).or_default();
        if *count >= limit {
            return Err(throttled("ConcurrentInvocationLimitExceeded"));
        }
        *count += 1;
        drop(f);
        Ok(Admission {
            in_flight,
            slot: Slot::Unreserved(region.to_string()),
        })
    }
}
