//! Tests of `alloc_recipes::pooling`: reuse really happens (counted
//! allocations), objects come back reset, bounds hold, nothing is handed out
//! twice, and threads lose nothing.
//!
//! The fact a reader gets wrong: these counts are exact, not approximate.
//! `count` sees only this thread's allocations, so tests running in parallel
//! do not disturb each other, and the first use of a pool allocates its free
//! list; steady state is measured after one warm-up round.

use alloc_cookbook::counting::{count, CountingAlloc};
use alloc_recipes::pooling::*;
use object_pool::Pool;
use std::alloc::System;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[global_allocator]
static ALLOC: CountingAlloc<System> = CountingAlloc::new(System);

#[test]
fn local_pool_reuses_after_warm_up() {
    let pool: LocalPool<Vec<u8>> = LocalPool::new(4);
    let (_, first) = count(|| {
        pool.pull(|| Vec::with_capacity(1024))
            .extend_from_slice(&[1; 1024]);
    });
    assert_eq!(first.allocs, 2, "the object and the free list's first slot");
    let (_, steady) = count(|| {
        for _ in 0..100 {
            pool.pull(|| Vec::with_capacity(1024))
                .extend_from_slice(&[1; 1024]);
        }
    });
    assert_eq!(steady.allocs, 0);
    assert_eq!(steady.deallocs, 0);
}

#[test]
fn local_pool_resets_and_keeps_capacity() {
    let pool: LocalPool<String> = LocalPool::new(4);
    pool.pull(|| String::with_capacity(64))
        .push_str("secret of the last user");
    let s = pool.pull(|| panic!("an idle object exists"));
    assert!(s.is_empty());
    assert_eq!(s.capacity(), 64);
}

#[test]
fn local_pool_keeps_at_most_max_idle() {
    let pool: LocalPool<Vec<u8>> = LocalPool::new(3);
    let loans: Vec<_> = (0..10)
        .map(|_| pool.pull(|| Vec::with_capacity(8)))
        .collect();
    assert_eq!(pool.idle(), 0);
    let (_, dropped) = count(|| drop(loans));
    assert_eq!(pool.idle(), 3);
    // 7 buffers freed beyond the bound, plus the outer Vec of loans.
    assert_eq!(dropped.deallocs, 7 + 1);
}

#[test]
fn local_pool_never_lends_one_object_twice() {
    let pool: LocalPool<Vec<u8>> = LocalPool::new(8);
    for _ in 0..3 {
        let loans: Vec<_> = (0..8)
            .map(|_| pool.pull(|| Vec::with_capacity(16)))
            .collect();
        let addrs: HashSet<*const u8> = loans.iter().map(|v| v.as_ptr()).collect();
        assert_eq!(addrs.len(), 8);
    }
}

#[test]
fn detach_takes_the_object_out_of_the_pool() {
    let pool: LocalPool<Vec<u8>> = LocalPool::new(2);
    let v = LocalPooled::detach(pool.pull(|| vec![1, 2]));
    assert_eq!(v, [1, 2]);
    assert_eq!(pool.idle(), 0);
    let m: MutexPool<Vec<u8>> = MutexPool::new(2);
    assert_eq!(MutexPooled::detach(m.pull(|| vec![3])), [3]);
    assert_eq!(m.idle(), 0);
}

#[test]
fn mutex_pool_reuses_resets_and_bounds() {
    let pool: MutexPool<Vec<u8>> = MutexPool::new(2);
    pool.pull(|| Vec::with_capacity(256))
        .extend_from_slice(b"old data");
    let (_, steady) = count(|| {
        for _ in 0..100 {
            let mut v = pool.pull(|| Vec::with_capacity(256));
            assert!(v.is_empty());
            v.extend_from_slice(b"new data");
        }
    });
    assert_eq!(steady.allocs, 0);
    let loans: Vec<_> = (0..5)
        .map(|_| pool.pull(|| Vec::with_capacity(256)))
        .collect();
    drop(loans);
    assert_eq!(pool.idle(), 2);
}

#[test]
fn mutex_pool_threads_lose_nothing_and_share_nothing() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 500;
    let pool: MutexPool<Vec<usize>> = MutexPool::new(64);
    let created = AtomicUsize::new(0);
    let make = || {
        created.fetch_add(1, Ordering::Relaxed);
        Vec::with_capacity(4)
    };
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (pool, make) = (&pool, &make);
            s.spawn(move || {
                for _ in 0..ROUNDS {
                    let mut a = pool.pull(make);
                    let mut b = pool.pull(make);
                    // Reset on return: nobody else's marks are visible.
                    assert!(a.is_empty() && b.is_empty());
                    a.push(t);
                    b.push(t);
                    std::thread::yield_now();
                    // Nobody else wrote into ours meanwhile.
                    assert_eq!((&a[..], &b[..]), (&[t][..], &[t][..]));
                }
            });
        }
    });
    // Every object ever made is back (max_idle 64 is above the peak of 8 in use).
    let made = created.load(Ordering::Relaxed);
    assert!((2..=2 * THREADS).contains(&made), "made {made}");
    assert_eq!(pool.idle(), made);
}

#[test]
fn thread_buffer_is_reused_per_thread() {
    std::thread::spawn(|| {
        let (_, first) = count(|| with_thread_buffer(4096, |b| b.extend_from_slice(&[0; 100])));
        assert_eq!(
            first.allocs, 2,
            "the buffer and the thread pool's free list"
        );
        let (_, steady) = count(|| {
            for _ in 0..100 {
                with_thread_buffer(4096, |b| {
                    assert!(b.is_empty() && b.capacity() >= 4096);
                    b.extend_from_slice(&[1; 4096]);
                });
            }
        });
        assert_eq!(steady.allocs, 0);
        assert_eq!(thread_buffers_idle(), 1);
        // A larger request grows the pooled buffer once, then reuses it.
        let (_, grow) = count(|| with_thread_buffer(1 << 16, |b| b.capacity()));
        assert_eq!((grow.allocs, grow.reallocs), (1, 1));
        // Another thread has its own pool.
        std::thread::spawn(|| assert_eq!(thread_buffers_idle(), 0))
            .join()
            .unwrap();
    })
    .join()
    .unwrap();
}

#[test]
fn thread_buffer_nested_calls_get_distinct_buffers() {
    with_thread_buffer(64, |outer| {
        outer.push(1);
        with_thread_buffer(64, |inner| {
            assert!(inner.is_empty());
            assert_ne!(inner.as_ptr(), outer.as_ptr());
        });
    });
}

#[test]
fn object_pool_crate_does_not_reset_but_pull_reset_does() {
    let pool: Pool<Vec<u8>> = Pool::new(1, || Vec::with_capacity(64));
    pool.pull(Vec::new).extend_from_slice(b"secret");
    // The trap: the crate hands the old contents to the next user.
    assert_eq!(&pool.pull(Vec::new)[..], b"secret");
    assert!(pull_reset(&pool, Vec::new).is_empty());
}

#[test]
fn object_pool_crate_capacity_is_only_the_initial_fill() {
    let pool: Pool<Vec<u8>> = Pool::new(2, || Vec::with_capacity(64));
    assert_eq!(pool.len(), 2);
    let loans: Vec<_> = (0..10)
        .map(|_| pull_reset(&pool, || Vec::with_capacity(64)))
        .collect();
    drop(loans);
    // It grew to the peak in use and never shrinks.
    assert_eq!(pool.len(), 10);
}

#[test]
fn object_pool_crate_reuses_after_warm_up() {
    let pool: Pool<Vec<u8>> = Pool::new(1, || Vec::with_capacity(1024));
    let (_, steady) = count(|| {
        for _ in 0..100 {
            pull_reset(&pool, || Vec::with_capacity(1024)).extend_from_slice(&[1; 1024]);
        }
    });
    assert_eq!(steady.allocs, 0);
}

#[test]
fn object_pool_crate_owned_guards_cross_threads() {
    let pool = Arc::new(Pool::new(2, || Vec::with_capacity(16)));
    // All four on loan at once (two from the initial fill, two made), then
    // each guard moves to its own thread and returns from there.
    let loans: Vec<_> = (0..4)
        .map(|_| pull_owned_reset(&pool, || Vec::with_capacity(16)))
        .collect();
    let handles: Vec<_> = loans
        .into_iter()
        .zip(0..4u8)
        .map(|(mut v, t)| {
            std::thread::spawn(move || {
                assert!(v.is_empty());
                v.push(t);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(pool.len(), 4);
}

#[test]
fn buffer_pool_rounds_requests_up_to_their_class() {
    let pool = BufferPool::new(64 << 20);
    assert_eq!(pool.get(0).capacity(), MIN_CLASS_BYTES);
    assert_eq!(pool.get(64).capacity(), 64);
    assert_eq!(pool.get(65).capacity(), 128);
    assert_eq!(pool.get(1000).capacity(), 1024);
    assert_eq!(pool.get(MAX_CLASS_BYTES).capacity(), MAX_CLASS_BYTES);
    pool.clear();
    // Above the largest class: exact size, not kept.
    drop(pool.get(MAX_CLASS_BYTES + 1));
    assert_eq!(pool.idle_buffers(), 0);
}

#[test]
fn buffer_pool_hands_out_enough_capacity_and_files_grown_buffers_by_capacity() {
    let pool = BufferPool::new(1 << 20);
    let mut b = pool.get(100); // 128-byte class
    b.extend_from_slice(&[9; 1000]); // grows to 1000 bytes
    drop(b);
    assert_eq!(pool.retained_bytes(), 1000);
    // 1000 bytes cover the 512 class, not the 1024 one.
    let big = pool.get(1024);
    assert_eq!(big.capacity(), 1024);
    assert_eq!(pool.idle_buffers(), 1);
    let reused = pool.get(512);
    assert_eq!((reused.capacity(), reused.len()), (1000, 0));
}

#[test]
fn buffer_pool_reuses_a_mixed_stream_without_allocating() {
    let pool = BufferPool::new(16 << 20);
    let sizes = [100, 5000, 64 * 1024, 300, 1 << 20, 17, 5000];
    let stream = || {
        for &n in &sizes {
            let mut b = pool.get(n);
            assert!(b.is_empty() && b.capacity() >= n);
            b.resize(n, 0xAB);
        }
    };
    stream(); // fills the classes (and their free lists)
    let (_, steady) = count(|| {
        for _ in 0..20 {
            stream();
        }
    });
    assert_eq!(steady.allocs, 0);
    assert_eq!(steady.deallocs, 0);
}

#[test]
fn buffer_pool_limit_on_retained_bytes_holds() {
    let pool = BufferPool::new(10 * 1024);
    let burst: Vec<_> = (0..5).map(|_| pool.get(4096)).collect();
    let (_, returned) = count(|| drop(burst));
    assert_eq!(
        pool.retained_bytes(),
        8192,
        "two 4 KiB buffers fit under 10 KiB"
    );
    assert_eq!(pool.idle_buffers(), 2);
    assert_eq!(
        returned.deallocs,
        3 + 1,
        "three buffers over the limit, plus the burst Vec"
    );
    pool.clear();
    assert_eq!((pool.retained_bytes(), pool.idle_buffers()), (0, 0));
}

#[test]
fn buffer_pool_never_lends_one_buffer_twice() {
    let pool = BufferPool::new(1 << 20);
    for _ in 0..3 {
        let loans: Vec<_> = (0..16).map(|i| pool.get(100 + i * 7)).collect();
        let addrs: HashSet<*const u8> = loans.iter().map(|b| b.as_ptr()).collect();
        assert_eq!(addrs.len(), 16);
    }
}

#[test]
fn buffer_pool_threads_keep_the_books_straight() {
    let pool = BufferPool::new(1 << 20);
    std::thread::scope(|s| {
        for t in 0..4u8 {
            let pool = &pool;
            s.spawn(move || {
                for _ in 0..500 {
                    let mut b = pool.get(2048);
                    assert!(b.is_empty());
                    b.resize(2048, t);
                    std::thread::yield_now();
                    assert!(b.iter().all(|&x| x == t));
                }
            });
        }
    });
    let idle = pool.idle_buffers();
    assert!((1..=4).contains(&idle));
    assert_eq!(pool.retained_bytes(), idle * 2048);
}

// Trap 1: `make` runs while no borrow of the free list is held. Before the
// fix, `pop().unwrap_or_else(make)` kept the `RefMut` alive during `make`
// and this panicked with "already borrowed".
#[test]
fn local_pool_make_may_use_the_same_pool() {
    let pool: LocalPool<Vec<u8>> = LocalPool::new(4);
    let outer = pool.pull(|| {
        assert_eq!(pool.idle(), 0);
        let scratch = pool.pull(|| Vec::with_capacity(16)); // a scratch buffer from the same pool
        Vec::with_capacity(scratch.capacity() * 2)
    });
    assert_eq!(pool.idle(), 1, "the scratch buffer went back");
    drop(outer);
    assert_eq!(pool.idle(), 2);
}

// Trap 2: a buffer that grew past the bound is not kept. Before the fix the
// thread's pool kept the 4 MiB buffer for the life of the thread.
#[test]
fn thread_buffer_does_not_keep_a_buffer_that_grew_past_the_bound() {
    std::thread::spawn(|| {
        with_thread_buffer(64, |b| b.resize(4 * THREAD_POOL_MAX_CAPACITY, 1));
        assert_eq!(thread_buffers_idle(), 0);
        // Swapped in by the closure: also not kept.
        with_thread_buffer(64, |b| {
            *b = Vec::with_capacity(2 * THREAD_POOL_MAX_CAPACITY)
        });
        assert_eq!(thread_buffers_idle(), 0);
        let cap = with_thread_buffer(64, |b| b.capacity());
        assert!(cap <= THREAD_POOL_MAX_CAPACITY);
        assert_eq!(thread_buffers_idle(), 1);
    })
    .join()
    .unwrap();
}

// Trap 2: called from another thread-local's destructor after the pool is
// gone, it falls back to a fresh buffer. Before the fix, `.with` panicked
// inside a TLS destructor and the process aborted.
#[test]
fn thread_buffer_works_from_another_thread_locals_destructor() {
    use std::sync::atomic::AtomicBool;
    static RAN: AtomicBool = AtomicBool::new(false);
    struct UsesBufferOnDrop;
    impl Drop for UsesBufferOnDrop {
        fn drop(&mut self) {
            let n = with_thread_buffer(32, |b| {
                b.extend_from_slice(b"late");
                b.len()
            });
            assert_eq!(thread_buffers_idle(), 0);
            RAN.store(n == 4, Ordering::SeqCst);
        }
    }
    thread_local! {
        static LATE: UsesBufferOnDrop = const { UsesBufferOnDrop };
    }
    std::thread::spawn(|| {
        LATE.with(|_| ()); // registered first, so destroyed after the pool
        with_thread_buffer(8, |b| b.push(0));
    })
    .join()
    .unwrap();
    assert!(RAN.load(Ordering::SeqCst));
}

/// Counts its resets, and can be told to panic in one.
#[derive(Default)]
struct Tracked {
    resets: Arc<AtomicUsize>,
}

impl Reset for Tracked {
    fn reset(&mut self) {
        self.resets.fetch_add(1, Ordering::SeqCst);
    }
}

// Trap 4: a guard dropped during a panic neither resets (a reset that
// panicked then would abort) nor returns its object. Before the fix the
// reset ran during unwinding and the object went back to the pool.
#[test]
fn guards_drop_their_object_while_panicking() {
    let resets = Arc::new(AtomicUsize::new(0));
    let make = || Tracked {
        resets: Arc::clone(&resets),
    };
    let local: LocalPool<Tracked> = LocalPool::new(4);
    let mutex: MutexPool<Tracked> = MutexPool::new(4);
    let resetting: ResetPool<Tracked> = ResetPool::new(0, make);
    let buffers = BufferPool::new(1 << 20);
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _a = local.pull(make);
        let _b = mutex.pull(make);
        let _c = resetting.pull(make);
        let _d = buffers.get(100);
        panic!("a request failed");
    }));
    assert!(unwound.is_err());
    assert_eq!(resets.load(Ordering::SeqCst), 0);
    assert_eq!(
        (
            local.idle(),
            mutex.idle(),
            resetting.idle(),
            buffers.idle_buffers()
        ),
        (0, 0, 0, 0)
    );
    // Without a panic they reset and return as usual.
    drop((local.pull(make), mutex.pull(make), resetting.pull(make)));
    assert_eq!(resets.load(Ordering::SeqCst), 3);
    assert_eq!((local.idle(), mutex.idle(), resetting.idle()), (1, 1, 1));
}

// Trap 4: the default path resets on the way back, so the last user's data
// does not wait in the pool for the next pull.
#[test]
fn reset_pool_clears_on_return_not_on_the_next_pull() {
    let pool: ResetPool<Vec<u8>> = ResetPool::new(1, || Vec::with_capacity(64));
    pool.pull(Vec::new).extend_from_slice(b"secret");
    // Nothing in the pool still holds the data: every idle object is empty.
    assert!(pool.pull(Vec::new).is_empty());
    let (_, steady) = count(|| {
        for _ in 0..100 {
            pool.pull(|| Vec::with_capacity(64))
                .extend_from_slice(&[1; 64]);
        }
    });
    assert_eq!(steady.allocs, 0);
}

// Trap 3: idle buffers of a class nobody asks for cannot fill the budget and
// stop the pool from pooling the busy class. Before the fix every return of
// the 1 KiB buffers was freed (the two idle 4 KiB buffers filled the
// 8 KiB budget) and each `get` allocated.
#[test]
fn buffer_pool_idle_class_nobody_asks_for_is_evicted() {
    let pool = BufferPool::new(8 * 1024);
    drop((pool.get(4096), pool.get(4096)));
    assert_eq!(pool.retained_bytes(), 8192);
    drop(pool.get(1024)); // warm-up: evicts one 4 KiB buffer
    let (_, steady) = count(|| {
        for _ in 0..100 {
            pool.get(1024).extend_from_slice(&[1; 1024]);
        }
    });
    assert_eq!((steady.allocs, steady.deallocs), (0, 0));
    assert!(pool.retained_bytes() <= 8 * 1024);
    // A buffer larger than the whole budget is freed, and evicts nothing.
    let before = pool.idle_buffers();
    drop(pool.get(16 * 1024));
    assert_eq!(pool.idle_buffers(), before);
}

#[test]
fn buffer_pool_with_no_limit_does_not_overflow() {
    let pool = BufferPool::new(usize::MAX);
    drop((pool.get(100), pool.get(1 << 20)));
    assert_eq!(pool.idle_buffers(), 2);
}

#[test]
fn guards_debug_shows_the_object_not_the_pool() {
    let pool: LocalPool<Vec<u8>> = LocalPool::new(4);
    drop(pool.pull(|| vec![9; 1000]));
    let g = pool.pull(Vec::new);
    assert_eq!(format!("{g:?}"), "LocalPooled([])");
    let m: MutexPool<String> = MutexPool::new(1);
    assert_eq!(format!("{:?}", m.pull(|| "x".into())), "MutexPooled(\"x\")");
}
