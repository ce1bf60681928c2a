//! Parked caches: a dying thread leaves its cache on the heap's idle list
//! with its free objects (up to a bound), and the next new thread takes that
//! cache, objects and all (`src/allocator/thread_cache.rs`, "Thread exit").
//! These tests check that the objects really are reused without a refill,
//! that the statistics count every allocation and free once, that the
//! bound holds, that `flush_thread_cache` reaches the parked objects, and
//! that many short-lived threads passing objects to each other keep every
//! byte intact.
//!
//! `GoAlloc` is also this binary's global allocator, so thread start-up and
//! exit run on it; the test objects live on private instances whose numbers
//! are exact.

use alloc_cookbook::GoAlloc;
use std::alloc::{GlobalAlloc, Layout};
use std::collections::HashSet;
use std::sync::Mutex;

#[global_allocator]
static GLOBAL: GoAlloc = GoAlloc::new();

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).unwrap()
}

/// The byte at offset `i` of an object filled for `seed`.
fn pattern(seed: usize, i: usize) -> u8 {
    (seed.wrapping_mul(31).wrapping_add(i.wrapping_mul(7)) % 251) as u8
}

fn fill(p: usize, size: usize, seed: usize) {
    // SAFETY: p is a live object of `size` bytes owned by the caller.
    let s = unsafe { std::slice::from_raw_parts_mut(p as *mut u8, size) };
    for (i, b) in s.iter_mut().enumerate() {
        *b = pattern(seed, i);
    }
}

fn check(p: usize, size: usize, seed: usize) {
    // SAFETY: p is a live object of `size` bytes owned by the caller.
    let s = unsafe { std::slice::from_raw_parts(p as *const u8, size) };
    for (i, &b) in s.iter().enumerate() {
        assert_eq!(b, pattern(seed, i), "object {p:#x} ({size} B) byte {i}");
    }
}

/// Allocates `n` objects of `size` bytes from `a`, fills and checks them,
/// frees them, and returns their addresses.
fn use_and_free(a: &'static GoAlloc, n: usize, size: usize) -> Vec<usize> {
    // SAFETY: non-zero layout; each object freed once below.
    let v: Vec<usize> = (0..n)
        .map(|_| unsafe { a.alloc(layout(size)) } as usize)
        .collect();
    for (k, &p) in v.iter().enumerate() {
        assert_ne!(p, 0);
        fill(p, size, k);
    }
    for (k, &p) in v.iter().enumerate() {
        check(p, size, k);
        // SAFETY: allocated above with this layout, freed once.
        unsafe { a.dealloc(p as *mut u8, layout(size)) };
    }
    v
}

#[test]
fn a_later_thread_reuses_the_parked_objects() {
    static A: GoAlloc = GoAlloc::new();
    // 56 objects of 1 KiB: with the current slow start exactly the class's
    // refills of 8, 16 and 32 objects.
    let first = std::thread::spawn(|| use_and_free(&A, 56, 1024))
        .join()
        .unwrap();
    let s = A.stats();
    assert_eq!((s.mallocs, s.frees, s.live_objects), (56, 56, 0), "{s}");
    assert_eq!(s.thread_caches, 1, "{s}");
    // The freed objects stay in the parked cache: their spans are still out.
    assert!(s.small_spans > 0 && s.heap_in_use >= 56 * 1024, "{s}");
    let first_refills = s.central_refills;
    let second = std::thread::spawn(|| use_and_free(&A, 56, 1024))
        .join()
        .unwrap();
    let s = A.stats();
    assert_eq!(
        s.thread_caches, 1,
        "the second thread took the parked cache:\n{s}"
    );
    // A cache flushed at exit would start again from empty and refill as
    // often as the first thread did.
    let second_refills = s.central_refills - first_refills;
    assert!(
        second_refills < first_refills,
        "the parked objects served the second thread:\n{s}"
    );
    let first: HashSet<usize> = first.into_iter().collect();
    let reused = second.iter().filter(|p| first.contains(p)).count();
    assert!(
        reused >= 28,
        "only {reused} of the first thread's 56 objects reused"
    );
    assert_eq!(
        (s.mallocs, s.frees, s.live_objects, s.bytes_requested),
        (112, 112, 0, 0),
        "every allocation and free counted once:\n{s}"
    );
    let class = alloc_cookbook::size_class::GO.class_of(1024) as usize;
    assert_eq!(
        (s.by_size[class].mallocs, s.by_size[class].frees),
        (112, 112)
    );
    // This thread never used A; the flush still reaches the parked objects.
    A.flush_thread_cache();
    let s = A.stats();
    assert_eq!((s.small_spans, s.heap_in_use), (0, 0), "{s}");
}

#[test]
fn a_parked_cache_keeps_at_most_a_mebibyte() {
    static B: GoAlloc = GoAlloc::new();
    // Every class from 256 B to 16 KiB, 64 KiB of objects (as much as its
    // list keeps) freed into each: about two mebibytes in the dying
    // thread's cache.
    let go = &alloc_cookbook::size_class::GO;
    let sizes: Vec<usize> = (go.class_of(256)..=go.class_of(16 << 10))
        .map(|c| go.size(c))
        .collect();
    let held_alive = std::thread::spawn({
        let sizes = sizes.clone();
        move || {
            for &size in &sizes {
                use_and_free(&B, (64 << 10) / size, size);
            }
            B.stats().heap_in_use
        }
    })
    .join()
    .unwrap();
    assert!(held_alive >= 2 << 20, "{held_alive}");
    let s = B.stats();
    assert_eq!(
        (s.mallocs, s.frees, s.live_objects),
        (s.mallocs, s.mallocs, 0)
    );
    // What stays out: at most a mebibyte of objects, in whole spans (some
    // of them partly cut); the rest went back when the thread exited.
    assert!(
        s.heap_in_use <= (1 << 20) + (256 << 10),
        "{held_alive} bytes in use before the exit, after:\n{s}"
    );
    assert!(s.heap_in_use < held_alive, "{s}");
    // A new thread gets the kept objects; a flush gives everything back.
    std::thread::spawn(|| {
        use_and_free(&B, 50, 256);
    })
    .join()
    .unwrap();
    B.flush_thread_cache();
    let s = B.stats();
    assert_eq!(
        (s.small_spans, s.heap_in_use, s.live_objects),
        (0, 0, 0),
        "{s}"
    );
}

/// Runs `threads` threads at once, each taking its cache (one allocation)
/// before any of them goes on, then making and freeing 40 objects of 1 KiB
/// (fewer than the class's list keeps, so no thread flushes any).
fn at_once(a: &'static GoAlloc, threads: usize) {
    let all_have_a_cache = std::sync::Arc::new(std::sync::Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let b = all_have_a_cache.clone();
            std::thread::spawn(move || {
                let l = layout(1024);
                // SAFETY: non-zero layout, freed once below.
                let p = unsafe { a.alloc(l) };
                assert!(!p.is_null());
                b.wait();
                use_and_free(a, 40, 1024);
                // SAFETY: allocated above with this layout.
                unsafe { a.dealloc(p, l) };
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn at_most_four_parked_caches_keep_objects() {
    static D: GoAlloc = GoAlloc::new();
    // Eight caches in use at once, then eight exits: four are parked with
    // their objects, four flushed.
    at_once(&D, 8);
    let s = D.stats();
    assert_eq!((s.thread_caches, s.live_objects), (8, 0), "{s}");
    let refills = s.central_refills;
    // Eight new threads at once take the eight parked caches: the four
    // flushed ones start from empty and refill.
    at_once(&D, 8);
    let s = D.stats();
    assert_eq!((s.thread_caches, s.live_objects), (8, 0), "{s}");
    assert!(
        s.central_refills > refills,
        "caches parked empty had to refill:\n{s}"
    );
    D.flush_thread_cache();
    let s = D.stats();
    assert_eq!((s.small_spans, s.heap_in_use), (0, 0), "{s}");
}

/// Objects left alive by exited threads: (address, size, seed).
static POOL: Mutex<Vec<(usize, usize, usize)>> = Mutex::new(Vec::new());

fn worker(a: &'static GoAlloc, id: usize) {
    let sizes = [8, 16, 24, 40, 72, 136, 264, 520, 1032, 4000, 40_000];
    let mut mine = Vec::new();
    for k in 0..120 {
        let size = sizes[(id * 7 + k * 3) % sizes.len()];
        // SAFETY: non-zero layout; freed once, here or by a later thread.
        let p = unsafe { a.alloc(layout(size)) } as usize;
        assert_ne!(p, 0);
        let seed = id * 1000 + k;
        fill(p, size, seed);
        mine.push((p, size, seed));
    }
    // Free objects other, exited, threads made, after checking them.
    let theirs = {
        let mut pool = POOL.lock().unwrap();
        let n = pool.len().min(30);
        let at = pool.len() - n;
        pool.split_off(at)
    };
    for (p, size, seed) in theirs {
        check(p, size, seed);
        // SAFETY: made by `a` with this layout, freed once.
        unsafe { a.dealloc(p as *mut u8, layout(size)) };
    }
    // Keep a quarter alive past this thread's exit.
    let keep = mine.split_off(mine.len() - 30);
    for (p, size, seed) in mine {
        check(p, size, seed);
        // SAFETY: made above, freed once.
        unsafe { a.dealloc(p as *mut u8, layout(size)) };
    }
    POOL.lock().unwrap().extend(keep);
}

#[test]
fn short_lived_threads_pass_objects_on_intact() {
    static C: GoAlloc = GoAlloc::new();
    let (threads, together) = (if cfg!(debug_assertions) { 600 } else { 3000 }, 6);
    let mut id = 0;
    while id < threads {
        let handles: Vec<_> = (id..id + together)
            .map(|i| std::thread::spawn(move || worker(&C, i)))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        id += together;
    }
    let pool = std::mem::take(&mut *POOL.lock().unwrap());
    let s = C.stats();
    assert_eq!(s.live_objects as usize, pool.len(), "{s}");
    let survivors: usize = pool.iter().map(|&(_, size, _)| size).sum();
    assert_eq!(s.bytes_requested as usize, survivors, "{s}");
    assert!(
        s.thread_caches <= 2 * together as u64,
        "caches reused:\n{s}"
    );
    for (p, size, seed) in pool {
        check(p, size, seed);
        // SAFETY: made by C with this layout, freed once.
        unsafe { C.dealloc(p as *mut u8, layout(size)) };
    }
    C.flush_thread_cache();
    let s = C.stats();
    assert_eq!((s.mallocs - s.frees, s.bytes_requested), (0, 0), "{s}");
    assert_eq!(
        (s.small_spans, s.heap_in_use),
        (0, 0),
        "back to the baseline:\n{s}"
    );
}

/// A cache parked with its objects for longer than a second is not handed
/// on with them: the next thread flushes it and starts from empty (see
/// `STOCKED_FOR_NS` in `thread_cache.rs`), so a pool started long after a
/// phase of short-lived threads does not share their leftover objects.
#[test]
fn a_cache_parked_for_over_a_second_is_flushed_not_reused() {
    static A: GoAlloc = GoAlloc::new();
    let first = std::thread::spawn(|| use_and_free(&A, 56, 1024))
        .join()
        .unwrap();
    let s = A.stats();
    assert!(s.small_spans > 0 && s.heap_in_use >= 56 * 1024, "{s}");
    let first_refills = s.central_refills;
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = std::thread::spawn(|| use_and_free(&A, 56, 1024))
        .join()
        .unwrap();
    let s = A.stats();
    assert_eq!(s.thread_caches, 1, "the stale cache was reused empty:\n{s}");
    assert!(
        s.central_refills - first_refills >= first_refills,
        "the second thread refilled as the first did, from empty:\n{s}"
    );
    assert_eq!((s.mallocs, s.frees, s.live_objects), (112, 112, 0), "{s}");
    // The flushed objects went back to their spans, which the refills may
    // cut again: their addresses may come back, a skipped refill may not.
    drop((first, second));
    A.flush_thread_cache();
    let s = A.stats();
    assert_eq!((s.small_spans, s.heap_in_use), (0, 0), "{s}");
}
