//! The C ABI called from Rust threads (in process, not preloaded): a seeded
//! stress of `malloc`, `calloc`, `realloc`, `posix_memalign` and `free` from
//! several threads, with objects handed to other threads to check and free,
//! every object's contents checked before it is freed or moved, and a shared
//! interval map proving no two live objects overlap; then short-lived
//! threads that allocate through the C ABI, leave objects behind and exit.
//! Afterwards the C ABI's instance must hold nothing: every cache of an
//! exited thread was flushed at its exit.

use alloc_cookbook::c_abi;
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::sync::Mutex;

/// Live ranges `start -> end` of the objects handed out in this test.
static LIVE: Mutex<BTreeMap<usize, usize>> = Mutex::new(BTreeMap::new());
/// Objects handed from one thread to another: (address, size, seed).
static HANDOFF: Mutex<Vec<(usize, usize, u8)>> = Mutex::new(Vec::new());
/// Serialises the two tests (each checks the shared instance's totals).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn claim(p: usize, size: usize) {
    let end = p + size.max(1);
    let mut live = LIVE.lock().unwrap();
    if let Some((&s, &e)) = live.range(..end).next_back() {
        assert!(
            e <= p || s >= end,
            "{p:#x}..{end:#x} overlaps live {s:#x}..{e:#x}"
        );
    }
    live.insert(p, end);
}

fn unclaim(p: usize) {
    assert!(LIVE.lock().unwrap().remove(&p).is_some(), "{p:#x} not live");
}

/// The bytes of an object that carry the pattern: the first 256, then one
/// per 64-byte line, and the last (a debug build checking every byte of
/// 400 KiB objects would take minutes).
fn spots(size: usize) -> impl Iterator<Item = usize> {
    (0..size.min(256))
        .chain((256..size).step_by(64))
        .chain((size > 256).then(|| size - 1))
}

fn fill(p: usize, size: usize, seed: u8) {
    for i in spots(size) {
        // SAFETY: p has `size` bytes, owned by the caller.
        unsafe { *((p + i) as *mut u8) = seed.wrapping_add(i as u8 ^ (i >> 8) as u8) };
    }
}

fn check(p: usize, size: usize, seed: u8) {
    check_upto(p, size, seed, size);
}

/// Checks the pattern of an object of `size` bytes in its first `upto` bytes.
fn check_upto(p: usize, size: usize, seed: u8, upto: usize) {
    for i in spots(size).filter(|&i| i < upto) {
        // SAFETY: p has at least `size` bytes, owned by the caller.
        let b = unsafe { *((p + i) as *const u8) };
        assert_eq!(
            b,
            seed.wrapping_add(i as u8 ^ (i >> 8) as u8),
            "{p:#x}+{i} of {size}"
        );
    }
}

fn size_for(r: &mut Rng) -> usize {
    match r.below(10) {
        0 => r.below(17) as usize,
        1..=6 => 1 + r.below(1024) as usize,
        7 | 8 => 1 + r.below(32 * 1024) as usize,
        _ => 32 * 1024 + r.below(400 * 1024) as usize,
    }
}

/// One thread's share: allocate in every way, realloc, free its own and
/// other threads' objects.
fn worker(t: u64, rounds: usize) {
    let mut r = Rng(0x5DEE_CE66_D1CE_u64 ^ (t + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut mine: Vec<(usize, usize, u8)> = Vec::new();
    for _ in 0..rounds {
        let size = size_for(&mut r);
        let seed = r.next() as u8;
        // SAFETY: the C ABI's contract: every pointer below comes from it and is freed once.
        let p = unsafe {
            match r.below(4) {
                0 => {
                    let p = c_abi::calloc(1, size) as usize;
                    if p != 0 {
                        check_zero(p, size);
                    }
                    p
                }
                1 => {
                    let align = 8usize << r.below(14);
                    let mut out: *mut c_void = std::ptr::null_mut();
                    assert_eq!(c_abi::posix_memalign(&mut out, align, size), 0);
                    assert_eq!(out as usize % align, 0, "align {align}");
                    out as usize
                }
                _ => c_abi::malloc(size) as usize,
            }
        };
        assert_ne!(p, 0, "allocation of {size} failed");
        // SAFETY: p is live.
        assert!(unsafe { c_abi::malloc_usable_size(p as *mut c_void) } >= size);
        claim(p, size);
        fill(p, size, seed);
        mine.push((p, size, seed));
        match r.below(8) {
            0 | 1 if !mine.is_empty() => {
                let (p, size, seed) = mine.swap_remove(r.below(mine.len() as u64) as usize);
                check(p, size, seed);
                unclaim(p);
                // SAFETY: live, freed once.
                unsafe { c_abi::free(p as *mut c_void) };
            }
            2 if !mine.is_empty() => {
                let i = r.below(mine.len() as u64) as usize;
                let (p, size, seed) = mine[i];
                let n = size_for(&mut r).max(1);
                check(p, size, seed);
                unclaim(p);
                // SAFETY: live; the result replaces it.
                let q = unsafe { c_abi::realloc(p as *mut c_void, n) } as usize;
                assert_ne!(q, 0);
                check_upto(q, size, seed, n);
                claim(q, n);
                fill(q, n, seed);
                mine[i] = (q, n, seed);
            }
            3 if !mine.is_empty() => {
                let o = mine.swap_remove(r.below(mine.len() as u64) as usize);
                HANDOFF.lock().unwrap().push(o);
            }
            4 => {
                let theirs = HANDOFF.lock().unwrap().pop();
                if let Some((p, size, seed)) = theirs {
                    check(p, size, seed);
                    unclaim(p);
                    // SAFETY: live (made by another thread), freed once.
                    unsafe { c_abi::free(p as *mut c_void) };
                }
            }
            _ => {}
        }
        if mine.len() > 200 {
            let (p, size, seed) = mine.swap_remove(0);
            check(p, size, seed);
            unclaim(p);
            // SAFETY: live, freed once.
            unsafe { c_abi::free(p as *mut c_void) };
        }
    }
    for (p, size, seed) in mine {
        check(p, size, seed);
        unclaim(p);
        // SAFETY: live, freed once.
        unsafe { c_abi::free(p as *mut c_void) };
    }
}

fn check_zero(p: usize, size: usize) {
    // SAFETY: p has `size` bytes.
    let s = unsafe { std::slice::from_raw_parts(p as *const u8, size) };
    assert!(spots(size).all(|i| s[i] == 0), "calloc({size}) not zeroed");
}

/// Frees what is left in the hand-off pool and checks that the instance
/// holds nothing once this thread's cache is flushed (every other thread
/// has exited, and its exit flushed its cache).
fn drain_and_check_empty() {
    for (p, size, seed) in std::mem::take(&mut *HANDOFF.lock().unwrap()) {
        check(p, size, seed);
        unclaim(p);
        // SAFETY: live, freed once.
        unsafe { c_abi::free(p as *mut c_void) };
    }
    assert!(LIVE.lock().unwrap().is_empty());
    c_abi::instance().flush_thread_cache();
    let s = c_abi::instance().stats();
    assert_eq!(s.mallocs, s.frees, "{s}");
    assert_eq!(s.large_allocs, s.large_frees, "{s}");
    assert_eq!((s.small_spans, s.heap_in_use), (0, 0), "{s}");
}

#[test]
fn threads_share_objects_through_the_c_abi() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| std::thread::spawn(move || worker(t, 4000)))
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drain_and_check_empty();
}

#[test]
fn short_lived_threads_on_the_c_abi_strand_nothing() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    for batch in 0..20u64 {
        let threads: Vec<_> = (0..25)
            .map(|t| std::thread::spawn(move || worker(100 + batch * 25 + t, 40)))
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
    drain_and_check_empty();
}
