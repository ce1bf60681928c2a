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
    let v = pool.pull(|| vec![1, 2]).detach();
    assert_eq!(v, [1, 2]);
    assert_eq!(pool.idle(), 0);
    let m: MutexPool<Vec<u8>> = MutexPool::new(2);
    assert_eq!(m.pull(|| vec![3]).detach(), [3]);
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
