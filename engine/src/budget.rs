//! The memory budget: work takes a [`Reservation`] before it holds memory and
//! gives it back on drop, like DataFusion's memory pool.
//!
//! Two kinds of reservation share it, so that no wait can last forever:
//!
//! * **Held** reservations — admitted batches, the store writer's buffer —
//!   live as long as their work and are taken under the *admission limit*
//!   (half the budget unless set otherwise, [`Budget::reserve_under`] with
//!   [`Budget::admission_limit`]). At any moment they hold at most that much.
//! * **Transient** reservations — one decode's pixels — are taken for a
//!   moment by work that already holds a batch, and wait for the whole
//!   budget ([`Budget::reserve_transient`]). The headroom above the admission
//!   limit is only ever taken by transient reservations, which end without
//!   waiting for anything, so a transient request no larger than the headroom
//!   is always served; a larger one could wait for memory that the batch
//!   asking for it holds, and fails at once instead, with its size and the
//!   headroom in the reason.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

#[derive(Debug)]
struct Inner {
    total: u64,
    /// The most that held reservations take (see the module documentation).
    admission: AtomicU64,
    /// Reservations waiting for memory now.
    waiting: AtomicUsize,
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
            admission: AtomicU64::new(total / 2),
            waiting: AtomicUsize::new(0),
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

    /// The most that held reservations (batches, buffers) may take together.
    pub fn admission_limit(&self) -> u64 {
        self.0.admission.load(Ordering::Relaxed)
    }

    /// Sets the admission limit (at most the total).
    pub fn set_admission_limit(&self, limit: u64) {
        self.0
            .admission
            .store(limit.min(self.0.total), Ordering::Relaxed);
    }

    /// The headroom that only transient reservations use.
    pub fn headroom(&self) -> u64 {
        self.0.total - self.admission_limit()
    }

    /// Whether some reservation is waiting for memory now: a holder of
    /// memory it could give back (a buffer) should.
    pub fn has_waiters(&self) -> bool {
        self.0.waiting.load(Ordering::Relaxed) > 0
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

    /// Reserves `bytes` if they fit under `limit` (≤ total) now.
    pub fn try_reserve_under(&self, bytes: u64, limit: u64) -> Option<Reservation> {
        let mut used = self.0.used.lock().expect("budget lock");
        self.take(&mut used, bytes, limit.min(self.0.total))
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
        self.wait_for(bytes, limit)
    }

    fn wait_for(&self, bytes: u64, limit: u64) -> Result<Reservation, String> {
        let mut used = self.0.used.lock().expect("budget lock");
        if let Some(r) = self.take(&mut used, bytes, limit) {
            return Ok(r);
        }
        self.0.waiting.fetch_add(1, Ordering::Relaxed);
        let r = loop {
            used = self
                .0
                .freed
                .wait_timeout(used, Duration::from_millis(200))
                .expect("budget lock")
                .0;
            if let Some(r) = self.take(&mut used, bytes, limit) {
                break r;
            }
        };
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
        Ok(r)
    }

    /// Reserves `bytes` for a moment (a decode) by work that may already
    /// hold a batch: waits until they fit in the whole budget, and fails at
    /// once when they exceed the headroom, which is the most that is sure to
    /// be given back while the asker holds its batch.
    pub fn reserve_transient(&self, bytes: u64) -> Result<Reservation, String> {
        let headroom = self.headroom();
        if bytes > headroom {
            return Err(format!(
                "needs {} of memory, more than the memory budget can ever free for one image \
                 ({} of headroom in a budget of {}; raise budget.ram)",
                bytesize::ByteSize(bytes),
                bytesize::ByteSize(headroom),
                bytesize::ByteSize(self.0.total)
            ));
        }
        self.wait_for(bytes, self.0.total)
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
    fn transient_requests_above_the_headroom_fail_at_once() {
        let b = Budget::new(100);
        assert_eq!(b.admission_limit(), 50);
        // A batch holds 40 of the 50 it may; a decode of 60 could never be
        // served while that batch waits for it.
        let _batch = b.reserve_under(40, b.admission_limit()).unwrap();
        let e = b.reserve_transient(60).unwrap_err();
        assert!(
            e.contains("more than the memory budget can ever free"),
            "{e}"
        );
        assert!(e.contains("headroom"), "{e}");
        // Within the headroom it is served even with every batch slot held.
        let _more = b.reserve_under(10, b.admission_limit()).unwrap();
        assert_eq!(b.reserve_transient(50).unwrap().bytes(), 50);
    }

    #[test]
    fn waiters_are_visible_while_they_wait() {
        let b = Budget::new(100);
        let held = b.try_reserve(90).unwrap();
        assert!(!b.has_waiters());
        let b2 = b.clone();
        let t = std::thread::spawn(move || b2.reserve_transient(30).map(|r| r.bytes()));
        let start = std::time::Instant::now();
        while !b.has_waiters() {
            assert!(start.elapsed() < Duration::from_secs(10), "never waited");
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(held);
        assert_eq!(t.join().unwrap().unwrap(), 30);
        assert!(!b.has_waiters());
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
