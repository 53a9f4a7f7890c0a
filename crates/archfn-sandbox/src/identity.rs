//! The host identity each execution environment runs under.
//!
//! Every environment gets a host uid (and a gid of the same number) of its own, from a range
//! reserved for sandboxes, and never root: bubblewrap is started under it, so the kernel treats
//! everything inside the environment, whatever uid it has in its user namespace, as that
//! unprivileged host user. Two live environments never share one.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// The first host uid of the sandbox range unless the server is told otherwise: above the ranges
/// `useradd` hands out for subordinate ids (100000 + 65536·n) on any ordinary host.
pub const DEFAULT_BASE: u32 = 0x7000_0000;

/// How many ids the range holds.
pub const RANGE: u32 = 65_536;

/// The range and the ids in use. Cheap to clone: clones share the range.
#[derive(Debug, Clone)]
pub struct HostIds {
    base: u32,
    /// The next id to try (an offset in the range), and the ids in use.
    state: Arc<Mutex<(u32, HashSet<u32>)>>,
}

/// One environment's host uid and gid (the same number), returned to the range when dropped.
#[derive(Debug)]
pub struct HostId {
    id: u32,
    owner: HostIds,
}

impl HostId {
    /// The host uid (and gid).
    pub fn get(&self) -> u32 {
        self.id
    }
}

impl Drop for HostId {
    fn drop(&mut self) {
        if let Ok(mut s) = self.owner.state.lock() {
            s.1.remove(&self.id);
        }
    }
}

impl HostIds {
    /// The range `base .. base + RANGE`.
    pub fn new(base: u32) -> HostIds {
        HostIds {
            base,
            state: Arc::new(Mutex::new((0, HashSet::new()))),
        }
    }

    /// An id no live environment has, or `None` when all are taken.
    pub fn allocate(&self) -> Option<HostId> {
        let mut s = self.state.lock().ok()?;
        for _ in 0..RANGE {
            let id = self.base.checked_add(s.0 % RANGE)?;
            s.0 = s.0.wrapping_add(1);
            if s.1.insert(id) {
                return Some(HostId {
                    id,
                    owner: self.clone(),
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_ids_are_distinct_and_returned_on_drop() {
        let ids = HostIds::new(DEFAULT_BASE);
        let a = ids.allocate().map(|h| h.get());
        let held = ids.allocate();
        assert_ne!(a, held.as_ref().map(HostId::get));
        assert!(held.as_ref().is_some_and(|h| h.get() >= DEFAULT_BASE));
        drop(held);
        assert_eq!(ids.state.lock().map(|s| s.1.len()).unwrap_or(99), 0);
    }
}
