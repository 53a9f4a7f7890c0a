//! Things made ahead of the cold starts that take them (network namespaces, `/tmp` file
//! systems): a stock kept at a target by a background thread, taken without waiting.

use std::io;
use std::sync::Mutex;

/// The scheduling priority ("nice" value) of the process or thread `id` (0: the calling
/// thread; on Linux each thread has its own). Preparation runs at a lower priority than the
/// cold starts it serves, so that on a busy host it takes their idle time rather than theirs.
#[allow(unsafe_code)]
pub fn set_nice(id: u32, nice: i32) -> io::Result<()> {
    // SAFETY: setpriority takes plain integers and touches no memory of ours.
    let rc = unsafe { nix::libc::setpriority(nix::libc::PRIO_PROCESS, id, nice) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The nice value of the thread that prepares namespaces and file systems (and of the short
/// processes it starts).
pub const PREPARATION_NICE: i32 = 10;

/// A stock of ready `T`s.
#[derive(Debug)]
pub struct Ready<T> {
    stock: Mutex<Vec<T>>,
    target: usize,
}

impl<T> Ready<T> {
    /// An empty stock that [`Ready::refill`] keeps at `target`.
    pub fn new(target: usize) -> Ready<T> {
        Ready {
            stock: Mutex::new(Vec::new()),
            target,
        }
    }

    /// One ready `T`, if any.
    pub fn take(&self) -> Option<T> {
        self.stock.lock().ok().and_then(|mut s| s.pop())
    }

    /// Takes everything in stock (to be dropped: the server is stopping).
    pub fn clear(&self) -> Vec<T> {
        self.stock
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }

    /// Makes `T`s with `make` until the stock holds its target; returns how many it made.
    pub fn refill(&self, mut make: impl FnMut() -> io::Result<T>) -> io::Result<usize> {
        let mut made = 0;
        while self.stock.lock().map(|s| s.len()).unwrap_or(self.target) < self.target {
            let item = make()?;
            if let Ok(mut s) = self.stock.lock() {
                s.push(item);
            }
            made += 1;
        }
        Ok(made)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refills_to_the_target_and_hands_out_what_it_made() -> io::Result<()> {
        let ready = Ready::new(3);
        let mut n = 0;
        assert_eq!(
            ready.refill(|| {
                n += 1;
                Ok(n)
            })?,
            3
        );
        assert_eq!(ready.take(), Some(3));
        assert_eq!(ready.refill(|| Ok(9))?, 1);
        assert!(ready.refill(|| Err(io::Error::other("unused"))).is_ok());
        Ok(())
    }
}
