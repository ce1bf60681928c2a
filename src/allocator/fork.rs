//! `fork()`: the allocator's locks taken before, released after, reset in the child.
//!
//! Part of the allocator described in [`crate::allocator`] (read its header first).
//!
//! `fork()` copies only the calling thread. If another thread held one of
//! the allocator's spin locks at that moment, the child's copy of the lock
//! stays taken forever and the child's first allocation that needs it spins
//! without end. So the first heap the process creates registers
//! `pthread_atfork` handlers (once per process): *prepare* takes every lock
//! of every heap in the order the code nests them (a heap's idle list of
//! thread caches, then its central lists in class order, then its page
//! heap; no path holds locks of two heaps), *parent* releases them, and
//! *child* resets them. The child then owns a consistent heap: every
//! structure was between operations when its lock was taken.
//!
//! The fact a reader gets wrong: this protects Rust programs too. A
//! `#[global_allocator]` GoAlloc registers the same handlers when its heap
//! is created, and `std::process::Command` (which forks, then allocates
//! nothing before `exec`) is not the only caller of `fork`. What the child
//! loses is the other threads' caches: objects cached there stay out of
//! the child's heap for good (a bounded leak, in the child only).
//!
//! Order among handlers: glibc runs *prepare* handlers in the reverse order
//! of registration and *child* handlers in order. Ours are registered at the
//! process's first allocation (before `main` under `LD_PRELOAD`), so nearly
//! every other library's prepare handler runs before ours and may still
//! allocate, and our child handler runs first. A prepare handler registered
//! even earlier that allocates would spin on our locks: none is known.
//!
//! A child made by a raw `clone` system call (no `fork()` wrapper) runs no
//! handlers: it may allocate if no other thread held a lock at that moment.

use super::Heap;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

/// Every heap of the process, newest first, linked through `Heap::next_heap`.
static HEAPS: AtomicPtr<Heap> = AtomicPtr::new(ptr::null_mut());
static REGISTERED: AtomicBool = AtomicBool::new(false);

/// Adds a new (published) heap to the list and registers the handlers on
/// the first call. Called outside every lock: `pthread_atfork` may allocate.
pub(crate) fn register(heap: *mut Heap) {
    let mut head = HEAPS.load(Ordering::Acquire);
    loop {
        // SAFETY: heap is a published heap, never freed; only this call links it.
        unsafe { (*heap).next_heap.store(head, Ordering::Relaxed) };
        match HEAPS.compare_exchange_weak(head, heap, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(h) => head = h,
        }
    }
    if !REGISTERED.swap(true, Ordering::AcqRel) {
        // SAFETY: three extern "C" handlers that take, release and reset locks.
        unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
    }
}

/// Calls `f` on every heap.
fn each_heap(f: impl Fn(&Heap)) {
    let mut h = HEAPS.load(Ordering::Acquire);
    while !h.is_null() {
        // SAFETY: heaps on the list are published and never freed.
        let heap = unsafe { &*h };
        f(heap);
        h = heap.next_heap.load(Ordering::Acquire);
    }
}

extern "C" fn prepare() {
    each_heap(|h| {
        h.caches.idle_lock().lock_raw();
        for c in h.central.iter() {
            c.lock_raw();
        }
        h.pages.lock_raw();
    });
}

/// Releases in the reverse order of `prepare`.
fn release_all() {
    each_heap(|h| {
        // SAFETY: `prepare` took every one of these locks on this thread
        // (in the child: the only thread left).
        unsafe {
            h.pages.unlock_raw();
            for c in h.central.iter().rev() {
                c.unlock_raw();
            }
            h.caches.idle_lock().unlock_raw();
        }
    });
}

extern "C" fn parent() {
    release_all();
}

extern "C" fn child() {
    release_all();
    // The other threads' caches stay theirs: never adopted (see `thread_cache.rs`).
    each_heap(|h| h.caches.forget_owners());
}
