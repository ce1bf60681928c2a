//! Allocation counting: `go test -benchmem` for Rust.
//!
//! [`CountingAlloc`] wraps any [`GlobalAlloc`] and counts calls and requested
//! bytes, so a bench or a test can report *allocations per operation* and
//! *bytes per operation* beside the time. The counts are deterministic where
//! times are not, which is why the recipes' tests assert them.
//!
//! The fact a reader gets wrong: `cargo test` runs tests on several threads
//! at once, so a global counter sees other tests' allocations. [`count`]
//! therefore counts only the calling thread's allocations; [`count_all_threads`]
//! counts every thread's, for multi-threaded benches that run alone.
//!
//! ```
//! use alloc_cookbook::counting::{count, CountingAlloc};
//! use std::alloc::System;
//!
//! // In a real program: #[global_allocator] static A: CountingAlloc<System> = ...;
//! static A: CountingAlloc<System> = CountingAlloc::new(System);
//! let (_, counts) = count(|| 1 + 1);
//! assert_eq!(counts.allocs, 0);
//! ```

use core::cell::Cell;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::alloc::{GlobalAlloc, Layout};

/// What a stretch of code asked of the allocator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllocCounts {
    /// Calls to `alloc` / `alloc_zeroed`, plus `realloc` (Go counts each growth as a malloc).
    pub allocs: u64,
    /// Calls to `dealloc`.
    pub deallocs: u64,
    /// Of `allocs`, how many were `realloc` calls.
    pub reallocs: u64,
    /// Bytes requested by `alloc`, `alloc_zeroed` and `realloc` (the new size).
    pub bytes: u64,
}

impl AllocCounts {
    /// Counts divided by `ops`, as `-benchmem` reports them.
    ///
    /// ```
    /// use alloc_cookbook::counting::AllocCounts;
    /// let c = AllocCounts { allocs: 10, deallocs: 10, reallocs: 0, bytes: 640 };
    /// assert_eq!(c.per_op(10), (1.0, 64.0));
    /// ```
    pub fn per_op(&self, ops: u64) -> (f64, f64) {
        let ops = ops.max(1) as f64;
        (self.allocs as f64 / ops, self.bytes as f64 / ops)
    }

    fn minus(self, earlier: AllocCounts) -> AllocCounts {
        AllocCounts {
            allocs: self.allocs - earlier.allocs,
            deallocs: self.deallocs - earlier.deallocs,
            reallocs: self.reallocs - earlier.reallocs,
            bytes: self.bytes - earlier.bytes,
        }
    }
}

thread_local! {
    // Const-initialised cells without Drop: reading them never allocates, so
    // they are safe to touch from inside an allocator.
    static LOCAL: Cell<AllocCounts> = const {
        Cell::new(AllocCounts { allocs: 0, deallocs: 0, reallocs: 0, bytes: 0 })
    };
}

static GLOBAL_ON: AtomicBool = AtomicBool::new(false);
static G_ALLOCS: AtomicU64 = AtomicU64::new(0);
static G_DEALLOCS: AtomicU64 = AtomicU64::new(0);
static G_REALLOCS: AtomicU64 = AtomicU64::new(0);
static G_BYTES: AtomicU64 = AtomicU64::new(0);

/// A [`GlobalAlloc`] that forwards to `A` and counts what passes through.
///
/// ```
/// use alloc_cookbook::counting::CountingAlloc;
/// use std::alloc::{GlobalAlloc, Layout, System};
///
/// let a = CountingAlloc::new(System);
/// let layout = Layout::from_size_align(64, 8).unwrap();
/// // SAFETY: the layout has a non-zero size; the pointer is freed with it.
/// unsafe {
///     let p = a.alloc(layout);
///     assert!(!p.is_null());
///     a.dealloc(p, layout);
/// }
/// ```
#[derive(Debug, Default)]
pub struct CountingAlloc<A> {
    inner: A,
}

impl<A> CountingAlloc<A> {
    /// Wraps `inner`.
    pub const fn new(inner: A) -> Self {
        CountingAlloc { inner }
    }

    /// The wrapped allocator.
    pub const fn inner(&self) -> &A {
        &self.inner
    }
}

#[inline]
fn note(allocs: u64, deallocs: u64, reallocs: u64, bytes: u64) {
    // `try_with`: during thread teardown the slot may be gone; count nothing then.
    let _ = LOCAL.try_with(|c| {
        let mut v = c.get();
        v.allocs += allocs;
        v.deallocs += deallocs;
        v.reallocs += reallocs;
        v.bytes += bytes;
        c.set(v);
    });
    if GLOBAL_ON.load(Relaxed) {
        G_ALLOCS.fetch_add(allocs, Relaxed);
        G_DEALLOCS.fetch_add(deallocs, Relaxed);
        G_REALLOCS.fetch_add(reallocs, Relaxed);
        G_BYTES.fetch_add(bytes, Relaxed);
    }
}

// SAFETY: every method forwards to `inner` with the caller's arguments unchanged,
// so `inner`'s guarantees carry over; counting touches no memory it hands out.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAlloc<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(1, 0, 0, layout.size() as u64);
        // SAFETY: same contract as ours, passed through.
        unsafe { self.inner.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(1, 0, 0, layout.size() as u64);
        // SAFETY: same contract as ours, passed through.
        unsafe { self.inner.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(0, 1, 0, 0);
        // SAFETY: same contract as ours, passed through.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(1, 0, 1, new_size as u64);
        // SAFETY: same contract as ours, passed through.
        unsafe { self.inner.realloc(ptr, layout, new_size) }
    }
}

/// This thread's running totals (all allocations since the thread began).
pub fn thread_totals() -> AllocCounts {
    LOCAL.try_with(|c| c.get()).unwrap_or_default()
}

/// Runs `f` and returns what **this thread** asked of the allocator meanwhile.
/// Counts are zero unless a [`CountingAlloc`] is the global allocator.
///
/// ```
/// use alloc_cookbook::counting::count;
/// let (v, _counts) = count(|| vec![1u8; 100]);
/// assert_eq!(v.len(), 100);
/// ```
pub fn count<R>(f: impl FnOnce() -> R) -> (R, AllocCounts) {
    let before = thread_totals();
    let r = f();
    (r, thread_totals().minus(before))
}

/// Runs `f` and returns what **every thread** asked of the allocator meanwhile.
/// Meant for multi-threaded benches; do not run two of these at once.
pub fn count_all_threads<R>(f: impl FnOnce() -> R) -> (R, AllocCounts) {
    let snap = || AllocCounts {
        allocs: G_ALLOCS.load(Relaxed),
        deallocs: G_DEALLOCS.load(Relaxed),
        reallocs: G_REALLOCS.load(Relaxed),
        bytes: G_BYTES.load(Relaxed),
    };
    GLOBAL_ON.store(true, Relaxed);
    let before = snap();
    let r = f();
    let after = snap();
    GLOBAL_ON.store(false, Relaxed);
    (r, after.minus(before))
}
