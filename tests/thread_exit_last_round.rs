//! A thread whose first allocation happens in the last round of pthread
//! key destructors registers its exit hook too late: glibc runs at most
//! `PTHREAD_DESTRUCTOR_ITERATIONS` (4) rounds, so the hook never runs and
//! the thread's cache is never flushed. The cache is recovered by the next
//! thread that gets the dead thread's thread-local block (glibc reuses
//! stacks, and the blocks in them): it adopts the cache, and its own exit
//! parks it on the idle list, where `flush_thread_cache` reaches it
//! (`src/allocator/thread_cache.rs`, `CacheRegistry::owned`). A cache never
//! adopted is on no list, so until then the flush cannot reach it.
//!
//! The system allocator is this binary's global allocator, so the test
//! thread touches GoAlloc for the first time inside the destructor.

use alloc_cookbook::GoAlloc;
use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

static X: GoAlloc = GoAlloc::new();
static KEY: AtomicUsize = AtomicUsize::new(0);
static ROUNDS: AtomicUsize = AtomicUsize::new(0);

fn layout() -> Layout {
    Layout::from_size_align(64, 8).unwrap()
}

/// Re-arms itself until the last round, then allocates and frees through
/// `X` for the first time on this thread.
extern "C" fn destructor(_: *mut libc::c_void) {
    let round = ROUNDS.fetch_add(1, Ordering::SeqCst) + 1;
    let key = KEY.load(Ordering::SeqCst) as libc::pthread_key_t;
    if round < 4 {
        // SAFETY: a valid key; a non-null value asks for another round.
        unsafe { libc::pthread_setspecific(key, std::ptr::dangling::<libc::c_void>()) };
        return;
    }
    let l = layout();
    // SAFETY: each object freed once with its layout.
    unsafe {
        let v: Vec<*mut u8> = (0..100).map(|_| X.alloc(l)).collect();
        for p in v {
            assert!(!p.is_null());
            X.dealloc(p, l);
        }
    }
}

#[test]
fn a_cache_first_used_in_the_last_destructor_round_is_flushed_after_all() {
    let l = layout();
    // The allocator's own key first (one allocation on this thread), so it
    // has a lower number than the test's key: in the last round glibc has
    // passed it by the time the test's destructor registers the new thread.
    // SAFETY: freed once with its layout.
    unsafe { X.dealloc(X.alloc(l), l) };
    X.flush_thread_cache();
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: creating a key with a valid destructor.
    assert_eq!(
        unsafe { libc::pthread_key_create(&mut key, Some(destructor)) },
        0
    );
    KEY.store(key as usize, Ordering::SeqCst);
    std::thread::spawn(move || {
        // SAFETY: a valid key; the destructor runs at this thread's exit.
        unsafe { libc::pthread_setspecific(key, std::ptr::dangling::<libc::c_void>()) };
    })
    .join()
    .unwrap();
    assert_eq!(ROUNDS.load(Ordering::SeqCst), 4, "glibc ran four rounds");
    let s = X.stats();
    assert_eq!((s.mallocs, s.frees), (101, 101));
    // The 100 freed objects sit in the dead thread's cache, their span out.
    assert_eq!(s.small_spans, 1);
    // Not on the idle list: flushing the caches of exited threads misses it.
    X.flush_thread_cache();
    assert_eq!(X.stats().small_spans, 1);
    // Threads that get the dead thread's stack (and thread-local block) adopt
    // its cache; the adopter's own exit hook parks it with its objects, and
    // the flush of parked caches gives them back. glibc hands out the most
    // recently freed stack of the right size, so the first one does.
    for _ in 0..4 {
        std::thread::spawn(|| {
            let l = layout();
            // SAFETY: freed once with its layout.
            unsafe { X.dealloc(X.alloc(l), l) };
        })
        .join()
        .unwrap();
        X.flush_thread_cache();
        if X.stats().small_spans == 0 {
            break;
        }
    }
    let s = X.stats();
    assert_eq!(s.mallocs, s.frees);
    assert_eq!(
        s.small_spans, 0,
        "the dead thread's cached objects were flushed\n{s}"
    );
}
