//! The allocator's lock: a spin lock over one atomic flag, padded to a cache line.
//!
//! Part of the allocator described in [`crate::allocator`] (read its header first).
//!
//! The fact a reader gets wrong: an allocator cannot simply use
//! `std::sync::Mutex`. Whatever lock it takes must never allocate, never
//! panic and never call back into the allocator, and it is held for a few
//! hundred instructions at most (moving a batch of objects, carving a span).
//! A flag with compare-and-swap does that; after a short spin the waiter calls
//! `sched_yield` so that on a machine with fewer cores than threads (this
//! project's 2-core VM) the holder gets to run. Each lock sits in its own
//! 64-byte line ([`SpinLock`] is `#[repr(align(64))]`) so that the per-class
//! locks of the central lists do not share cache lines (Go pads `mcentral` the
//! same way).

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

/// A value behind a spin lock. An all-zero `SpinLock` is unlocked.
#[repr(align(64))]
pub(crate) struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the flag gives exclusive access to the value, as a Mutex does.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: moving the lock moves the value.
unsafe impl<T: Send> Send for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// Wraps `value`, unlocked.
    #[cfg(test)]
    pub(crate) const fn new(value: T) -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Waits until the lock is free and takes it.
    #[inline]
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        if self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        SpinGuard { lock: self }
    }

    #[cold]
    #[inline(never)]
    fn lock_contended(&self) {
        let mut spins = 0u32;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                if spins < 64 {
                    core::hint::spin_loop();
                    spins += 1;
                } else {
                    // SAFETY: sched_yield has no preconditions and does not allocate.
                    unsafe { libc::sched_yield() };
                }
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }
}

impl<T> SpinLock<T> {
    /// Takes the lock without a guard (the fork handlers, `fork.rs`, hold
    /// it across `fork()`).
    pub(crate) fn lock_raw(&self) {
        core::mem::forget(self.lock());
    }

    /// Releases a lock taken with [`SpinLock::lock_raw`]; in a child after
    /// `fork()` also resets a lock whatever thread of the parent held it.
    ///
    /// # Safety
    /// The caller took the lock with `lock_raw` (or is the single thread of
    /// a fork child, where no other thread can be inside the lock).
    pub(crate) unsafe fn unlock_raw(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

/// Exclusive access to a [`SpinLock`]'s value; unlocks on drop.
pub(crate) struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no one else touches the value.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, so no one else touches the value.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_threads_count_exactly_and_lock_is_padded() {
        assert_eq!(core::mem::align_of::<SpinLock<u8>>(), 64);
        let l = SpinLock::new(0u64);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..20_000 {
                        *l.lock() += 1;
                    }
                });
            }
        });
        assert_eq!(*l.lock(), 40_000);
    }
}
