//! The host-wide memory budget of all execution environments together.
//!
//! Each environment holds its MemorySize of the budget from its cold start to its end. A cold
//! start that does not fit first makes room by ending idle environments, least recently used
//! first; if it still does not fit it is throttled, as Lambda throttles, instead of the host
//! running out of memory. (The kernel enforces the same total on the server's parent cgroup.)

use std::sync::{Arc, Mutex};

/// Memory, MB, that environments may hold in all.
#[derive(Debug, Clone)]
pub(crate) struct MemoryBudget {
    state: Arc<Mutex<Totals>>,
}

#[derive(Debug)]
struct Totals {
    limit_mb: u64,
    held_mb: u64,
}

/// One environment's share, returned when dropped.
#[derive(Debug)]
pub(crate) struct Lease {
    mb: u64,
    budget: MemoryBudget,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Ok(mut t) = self.budget.state.lock() {
            t.held_mb = t.held_mb.saturating_sub(self.mb);
        }
    }
}

impl MemoryBudget {
    /// A budget of `limit_mb`.
    pub(crate) fn new(limit_mb: u64) -> MemoryBudget {
        MemoryBudget {
            state: Arc::new(Mutex::new(Totals {
                limit_mb,
                held_mb: 0,
            })),
        }
    }

    /// `mb` of the budget, if it fits.
    pub(crate) fn try_lease(&self, mb: u64) -> Option<Lease> {
        let mut t = self.state.lock().ok()?;
        if t.held_mb + mb > t.limit_mb {
            return None;
        }
        t.held_mb += mb;
        Some(Lease {
            mb,
            budget: self.clone(),
        })
    }

    /// What environments hold now, MB.
    pub(crate) fn held_mb(&self) -> u64 {
        self.state.lock().map(|t| t.held_mb).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_fit_the_limit_and_return_when_dropped() {
        let b = MemoryBudget::new(1024);
        let a = b.try_lease(512);
        let c = b.try_lease(512);
        assert!(a.is_some() && c.is_some());
        assert!(b.try_lease(1).is_none(), "the budget is full");
        drop(a);
        assert_eq!(b.held_mb(), 512);
        assert!(b.try_lease(512).is_some());
    }
}
