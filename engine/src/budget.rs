//! The memory budget: work takes a [`Reservation`] before it holds memory and
//! gives it back on drop, like DataFusion's memory pool.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

#[derive(Debug)]
struct Inner {
    total: u64,
    used: Mutex<u64>,
    freed: Condvar,
    peak: Mutex<u64>,
}

/// A shared byte budget.
#[derive(Debug, Clone)]
pub struct Budget(Arc<Inner>);

/// Bytes held against a [`Budget`] until dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Budget,
    bytes: u64,
}

impl Reservation {
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.bytes > 0 {
            let mut used = self.budget.0.used.lock().expect("budget lock");
            *used -= self.bytes;
            self.budget.0.freed.notify_all();
        }
    }
}

impl Budget {
    pub fn new(total: u64) -> Self {
        Budget(Arc::new(Inner {
            total,
            used: Mutex::new(0),
            freed: Condvar::new(),
            peak: Mutex::new(0),
        }))
    }

    /// `limit_percent` of the memory this machine has available now, capped by `cap`.
    pub fn from_system(limit_percent: f64, cap: Option<u64>) -> Self {
        // The cgroup's limit when Facet runs in a container, not the host's memory.
        let available = crate::tuning::available_memory().max(256 << 20);
        let auto = (available as f64 * limit_percent / 100.0) as u64;
        Budget::new(cap.map_or(auto, |c| c.min(auto)))
    }

    pub fn total(&self) -> u64 {
        self.0.total
    }

    pub fn used(&self) -> u64 {
        *self.0.used.lock().expect("budget lock")
    }

    /// Highest `used` seen.
    pub fn peak(&self) -> u64 {
        *self.0.peak.lock().expect("budget lock")
    }

    /// Reserves `bytes` if they fit now.
    pub fn try_reserve(&self, bytes: u64) -> Option<Reservation> {
        let mut used = self.0.used.lock().expect("budget lock");
        self.take(&mut used, bytes, self.0.total)
    }

    /// Waits until `bytes` fit under `limit` (≤ total), then reserves them.
    /// Fails at once when `bytes` can never fit.
    pub fn reserve_under(&self, bytes: u64, limit: u64) -> Result<Reservation, String> {
        let limit = limit.min(self.0.total);
        if bytes > limit {
            return Err(format!(
                "needs {} of memory, more than the budget allows ({})",
                bytesize::ByteSize(bytes),
                bytesize::ByteSize(limit)
            ));
        }
        let mut used = self.0.used.lock().expect("budget lock");
        loop {
            if let Some(r) = self.take(&mut used, bytes, limit) {
                return Ok(r);
            }
            used = self
                .0
                .freed
                .wait_timeout(used, Duration::from_millis(200))
                .expect("budget lock")
                .0;
        }
    }

    /// Waits until `bytes` fit in the whole budget.
    pub fn reserve(&self, bytes: u64) -> Result<Reservation, String> {
        self.reserve_under(bytes, self.0.total)
    }

    fn take(&self, used: &mut u64, bytes: u64, limit: u64) -> Option<Reservation> {
        if *used + bytes > limit {
            return None;
        }
        *used += bytes;
        let mut peak = self.0.peak.lock().expect("budget lock");
        *peak = (*peak).max(*used);
        Some(Reservation {
            budget: self.clone(),
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_release_on_drop() {
        let b = Budget::new(100);
        let r = b.try_reserve(60).unwrap();
        assert!(b.try_reserve(50).is_none());
        drop(r);
        assert_eq!(b.used(), 0);
        assert!(b.try_reserve(100).is_some());
        assert_eq!(b.peak(), 100);
    }

    #[test]
    fn impossible_requests_fail_at_once() {
        let b = Budget::new(100);
        assert!(b.reserve(101).unwrap_err().contains("more than the budget"));
    }

    #[test]
    fn waiters_wake_when_memory_frees() {
        let b = Budget::new(100);
        let r = b.try_reserve(80).unwrap();
        let b2 = b.clone();
        let t = std::thread::spawn(move || b2.reserve(50).map(|r| r.bytes()));
        std::thread::sleep(Duration::from_millis(50));
        drop(r);
        assert_eq!(t.join().unwrap().unwrap(), 50);
    }
}
