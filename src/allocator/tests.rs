//! Unit tests of `GoAlloc` as a whole (each component file has its own).

use super::*;
use crate::size_class::CLASS_24;
use std::alloc::{GlobalAlloc, Layout};

fn lay(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

#[test]
fn routes_follow_size_and_alignment() {
    assert_eq!(route(0, 1), Route::Zero);
    assert_eq!(route(7, 1), Route::Tiny);
    assert_eq!(route(8, 8), Route::Small(1));
    assert_eq!(route(8, 1), Route::Small(1));
    assert_eq!(route(9, 1), Route::Tiny);
    assert_eq!(route(15, 1), Route::Tiny);
    // The fast path's size test agrees with the route for every small size.
    for size in 1..=MAX_SMALL_SIZE {
        let fast = fast_small(size, 8);
        match route(size, 8) {
            Route::Small(c) => assert!(fast && fast_class_of(size) == c, "size {size}"),
            _ => assert!(!fast, "size {size}"),
        }
    }
    assert_eq!(route(8, 16), Route::Small(2));
    assert_eq!(route(16, 8), Route::Small(2));
    assert_eq!(route(33, 8), Route::Small(GO.class_of(48) as usize));
    // 48 is not a multiple of 32: the next class that is (64) serves it.
    assert_eq!(route(33, 32), Route::Small(GO.class_of(64) as usize));
    assert_eq!(route(100, 4096), Route::Small(GO.class_of(4096) as usize));
    assert_eq!(route(100, 16384), Route::Large);
    assert_eq!(route(32768, 8), Route::Small(67));
    assert_eq!(route(32769, 8), Route::Large);
    for size in 1..=MAX_SMALL_SIZE {
        for align in [1, 8, 16, 64, 512, 4096, 8192] {
            if let Route::Small(c) = route(size, align) {
                assert!(GO.size(c as u8) >= size && GO.size(c as u8) % align == 0);
            }
        }
    }
}

#[test]
fn every_class_and_alignment_is_honoured_and_counted() {
    let a = GoAlloc::new();
    let mut live = Vec::new();
    for size in [
        1,
        7,
        8,
        15,
        16,
        24,
        33,
        1024,
        1025,
        32768,
        32769,
        100_000,
        1 << 20,
    ] {
        for align in [1, 8, 16, 128, 4096, 8192, 1 << 16] {
            let l = lay(size, align);
            // SAFETY: non-zero layout.
            let p = unsafe { a.alloc(l) };
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0, "size {size} align {align}");
            // SAFETY: p has `size` bytes.
            unsafe { p.write_bytes(0xA5, size) };
            live.push((p, l));
        }
    }
    let s = a.stats();
    assert_eq!(s.live_objects as usize, live.len());
    let req: usize = live.iter().map(|(_, l)| l.size()).sum();
    assert_eq!(s.bytes_requested as usize, req);
    assert!(s.bytes_handed_out as usize >= req);
    for (p, l) in live {
        // SAFETY: allocated above with l, freed once.
        unsafe {
            assert_eq!(*p.add(l.size() - 1), 0xA5);
            a.dealloc(p, l);
        }
    }
    a.flush_thread_cache();
    let s = a.stats();
    assert_eq!(
        (s.live_objects, s.bytes_requested, s.bytes_handed_out),
        (0, 0, 0)
    );
    assert_eq!((s.small_spans, s.heap_in_use), (0, 0));
}

#[test]
fn tiny_pieces_share_a_block_and_the_block_is_reused_when_all_die() {
    let a = GoAlloc::new();
    let l4 = lay(4, 4);
    // SAFETY: non-zero layouts; each pointer freed once with its layout.
    unsafe {
        let p = a.alloc(l4);
        let q = a.alloc(l4);
        let r = a.alloc(lay(7, 1));
        assert_eq!(q as usize, p as usize + 4);
        assert_eq!(r as usize, p as usize + 8);
        let s = a.alloc(l4); // does not fit: a new block
        assert_eq!(s as usize, p as usize + 16);
        assert_eq!(a.stats().by_size[TINY_CLASS].live(), 2);
        a.dealloc(p, l4);
        a.dealloc(q, l4);
        a.dealloc(r, lay(7, 1));
        // The first block is retired and all its pieces dead: freed.
        assert_eq!(a.stats().by_size[TINY_CLASS].live(), 1);
        a.dealloc(s, l4);
        a.flush_thread_cache();
        let st = a.stats();
        assert_eq!((st.tiny_allocs, st.tiny_frees, st.live_objects), (4, 4, 0));
        assert_eq!(st.by_size[TINY_CLASS].live(), 0);
        assert_eq!(st.small_spans, 0);
    }
}

#[test]
fn eight_byte_requests_take_class_1_slots_not_tiny_pieces() {
    let a = GoAlloc::new();
    let l8 = lay(8, 8);
    // SAFETY: non-zero layouts; each pointer written within its 8 bytes and
    // freed once with its layout.
    unsafe {
        let ps: Vec<*mut u8> = (0..1000).map(|_| a.alloc(l8)).collect();
        for (i, &p) in ps.iter().enumerate() {
            assert!(!p.is_null() && p as usize % 8 == 0);
            (p as *mut u64).write(i as u64);
        }
        let st = a.stats();
        assert_eq!((st.tiny_allocs, st.by_size[1].live()), (0, 1000));
        assert_eq!(a.usable_size(ps[0]), 8);
        for (i, &p) in ps.iter().enumerate() {
            assert_eq!((p as *const u64).read(), i as u64);
        }
        // Freeing one 8-byte object frees its slot at once (a tiny block
        // would stay live for its other piece).
        a.dealloc(ps[500], l8);
        assert_eq!(a.stats().by_size[1].live(), 999);
        let back = a.alloc(l8);
        (back as *mut u64).write(500);
        let mut ps = ps;
        ps[500] = back;
        // realloc between 8 bytes and a tiny size moves the object.
        let q = a.realloc(ps[0], l8, 4);
        assert_ne!(q, ps[0]);
        assert_eq!((q as *const u32).read_unaligned(), 0);
        a.dealloc(q, lay(4, 8));
        for &p in &ps[1..] {
            a.dealloc(p, l8);
        }
        a.flush_thread_cache();
        let st = a.stats();
        assert_eq!((st.live_objects, st.small_spans), (0, 0));
    }
}

#[test]
fn a_growing_large_object_grows_in_place_while_the_pages_after_it_are_free() {
    let a = GoAlloc::new();
    // SAFETY: every pointer is live when used, written within its size,
    // resized or freed once with its current layout.
    unsafe {
        let l = lay(40_000, 8);
        let p = a.alloc(l);
        for i in 0..40_000 {
            *p.add(i) = (i % 251) as u8;
        }
        // The heap is fresh: the pages after p are the frontier.
        let q = a.realloc(p, l, 100_000);
        assert_eq!(q, p, "grown in place");
        assert_eq!(a.usable_size(q), 13 * PAGE_SIZE);
        q.add(99_999).write(7);
        let l = lay(100_000, 8);
        // A run right after it: the next growth must move.
        let blocker = a.alloc(lay(50_000, 8));
        assert_eq!(blocker as usize, q as usize + 13 * PAGE_SIZE);
        let r = a.realloc(q, l, 300_000);
        assert_ne!(r, q, "moved: the pages after it are in use");
        for i in 0..40_000 {
            assert_eq!(*r.add(i), (i % 251) as u8, "byte {i}");
        }
        assert_eq!(*r.add(99_999), 7);
        // Freed runs up to 1 MiB wait in the thread's cache; flushed, the
        // old run and the blocker's merge into one free run of 20 pages. A
        // new object cut from its front grows into the rest.
        a.dealloc(blocker, lay(50_000, 8));
        a.flush_thread_cache();
        let s = a.alloc(lay(40_000, 8));
        assert_eq!(s, p, "cut from the front of the merged free run");
        let t = a.realloc(s, lay(40_000, 8), 150_000);
        assert_eq!(t, s, "grown into the free run after it");
        assert_eq!(a.usable_size(t), 19 * PAGE_SIZE);
        let st = a.stats();
        assert_eq!(st.live_objects, 2);
        assert_eq!(st.bytes_requested, 300_000 + 150_000);
        a.dealloc(t, lay(150_000, 8));
        a.dealloc(r, lay(300_000, 8));
        a.flush_thread_cache();
        let st = a.stats();
        assert_eq!(
            (st.live_objects, st.bytes_requested, st.heap_in_use),
            (0, 0, 0)
        );
    }
}

#[test]
fn reallocate_grows_a_page_run_in_place_and_counts_its_length() {
    let a = GoAlloc::new();
    let p = a.allocate(100_000, 1);
    // SAFETY: p and its results are live objects of the pointer-only API,
    // written within their usable size, freed once.
    unsafe {
        p.write_bytes(3, 100_000);
        let q = a.reallocate(p, 250_000);
        assert_eq!(q, p, "the frontier after it was free");
        assert_eq!(a.usable_size(q), 31 * PAGE_SIZE);
        assert_eq!(*q.add(99_999), 3);
        assert_eq!(a.stats().bytes_requested as usize, 31 * PAGE_SIZE);
        a.free(q);
    }
    a.flush_thread_cache();
    let st = a.stats();
    assert_eq!(
        (st.live_objects, st.bytes_requested, st.heap_in_use),
        (0, 0, 0)
    );
}

#[test]
fn realloc_stays_in_place_within_a_class_and_moves_across() {
    let a = GoAlloc::new();
    // SAFETY: valid layouts and pointers, each freed once.
    unsafe {
        let l = lay(40, 8);
        let p = a.alloc(l);
        p.write_bytes(7, 40);
        let q = a.realloc(p, l, 48);
        assert_eq!(p, q);
        let r = a.realloc(q, lay(48, 8), 1000);
        assert_ne!(q, r);
        assert_eq!(*r.add(39), 7);
        let big = a.realloc(r, lay(1000, 8), 70_000);
        assert_eq!(*big.add(39), 7);
        let same = a.realloc(big, lay(70_000, 8), 72_000);
        assert_eq!(big, same);
        a.dealloc(same, lay(72_000, 8));
    }
    a.flush_thread_cache();
    let s = a.stats();
    assert_eq!(
        (s.live_objects, s.bytes_requested, s.heap_in_use),
        (0, 0, 0)
    );
}

#[test]
fn alloc_zeroed_skips_memset_on_fresh_pages_but_zeroes_reused_ones() {
    let a = GoAlloc::new();
    a.set_scavenge_threshold(usize::MAX);
    let l = lay(100_000, 8);
    // SAFETY: valid layouts; every region checked then freed once.
    unsafe {
        let p = a.alloc_zeroed(l);
        assert!(std::slice::from_raw_parts(p, 100_000)
            .iter()
            .all(|&b| b == 0));
        p.write_bytes(0xFF, 100_000);
        a.dealloc(p, l);
        let q = a.alloc_zeroed(l);
        assert!(std::slice::from_raw_parts(q, 100_000)
            .iter()
            .all(|&b| b == 0));
        a.dealloc(q, l);
        let small = lay(200, 8);
        let s = a.alloc(small);
        s.write_bytes(0xFF, 200);
        a.dealloc(s, small);
        let z = a.alloc_zeroed(small);
        assert!(std::slice::from_raw_parts(z, 200).iter().all(|&b| b == 0));
        a.dealloc(z, small);
    }
    assert_eq!(a.stats().zeroing_skipped, 1);
}

#[test]
fn impossible_requests_return_null() {
    let a = GoAlloc::new();
    // SAFETY: non-zero layouts; the allocator must refuse them without UB.
    unsafe {
        assert!(a.alloc(lay(isize::MAX as usize - 8192, 8)).is_null());
        assert!(a.alloc(lay(1 << 47, 1 << 20)).is_null());
        assert!(a.alloc_zeroed(lay(1 << 50, 8)).is_null());
    }
}

#[test]
fn zero_size_requests_are_dangling_and_free_is_a_no_op() {
    let a = GoAlloc::new();
    // SAFETY: GlobalAlloc forbids zero sizes; the internal API treats them sanely.
    unsafe {
        let p = a.alloc(lay(0, 64));
        assert_eq!(p as usize, 64);
        a.dealloc(p, lay(0, 64));
    }
    assert_eq!(a.stats().mallocs, 0);
}

#[test]
fn two_instances_on_one_thread_keep_separate_heaps() {
    let a = GoAlloc::new();
    let b = GoAlloc::new();
    let l = lay(64, 8);
    // SAFETY: each pointer freed once by the instance that made it.
    unsafe {
        let p = a.alloc(l);
        let q = b.alloc(l);
        a.dealloc(p, l);
        b.dealloc(q, l);
    }
    assert_eq!(a.stats().mallocs, 1);
    assert_eq!(b.stats().mallocs, 1);
    // Eviction: more instances than thread-local slots, used in turn.
    let many: Vec<GoAlloc> = (0..thread_cache::SLOTS + 3)
        .map(|_| GoAlloc::new())
        .collect();
    for _ in 0..3 {
        for g in &many {
            // SAFETY: allocated and freed by the same instance.
            unsafe { g.dealloc(g.alloc(l), l) };
        }
    }
    for g in &many {
        g.flush_thread_cache();
        let s = g.stats();
        assert_eq!((s.mallocs, s.frees, s.small_spans), (3, 3, 0));
    }
}

#[test]
fn cross_thread_frees_and_thread_exit_flush_everything() {
    static A: GoAlloc = GoAlloc::new();
    let l = lay(256, 8);
    let ptrs: Vec<usize> = (0..1000)
        // SAFETY: non-zero layout.
        .map(|_| unsafe { A.alloc(l) } as usize)
        .collect();
    std::thread::spawn(move || {
        for p in ptrs {
            // SAFETY: allocated above with l, freed once, on another thread.
            unsafe { A.dealloc(p as *mut u8, l) };
        }
    })
    .join()
    .unwrap();
    A.flush_thread_cache();
    let s = A.stats();
    assert_eq!((s.mallocs, s.frees, s.small_spans), (1000, 1000, 0));
    assert!(s.central_flushes > 0);
}

#[test]
fn freeing_every_piece_of_the_current_tiny_block_rewinds_it() {
    let a = GoAlloc::new();
    let l = lay(7, 1);
    // SAFETY: non-zero layout; each pointer freed once.
    unsafe {
        let p = a.alloc(l);
        a.dealloc(p, l);
        let q = a.alloc(l);
        assert_eq!(p, q, "the empty current block is reused from its start");
        let r = a.alloc(l);
        assert_eq!(r as usize, q as usize + 7);
        a.dealloc(q, l);
        let s = a.alloc(l); // r still alive: no rewind, a new block
        assert_eq!(s as usize, q as usize + 16);
        a.dealloc(r, l);
        a.dealloc(s, l);
    }
    a.flush_thread_cache();
    let st = a.stats();
    assert_eq!((st.live_objects, st.small_spans), (0, 0));
}

#[test]
fn a_freed_large_run_is_reused_from_the_thread_cache_until_flushed() {
    let a = GoAlloc::new();
    let l = lay(64 << 10, 8);
    // SAFETY: non-zero layouts; each pointer freed once with its layout.
    unsafe {
        let p = a.alloc(l);
        p.write_bytes(0xFF, 64 << 10);
        a.dealloc(p, l);
        let spans = a.stats().page_heap_spans;
        // Same page count: the cached run, no page heap call; zeroed on request.
        let q = a.alloc_zeroed(lay(60 << 10, 8));
        assert_eq!(q, p);
        assert!(std::slice::from_raw_parts(q, 60 << 10)
            .iter()
            .all(|&b| b == 0));
        assert_eq!(a.stats().page_heap_spans, spans);
        a.dealloc(q, lay(60 << 10, 8));
        // Another page count: the page heap. Both runs go into the cache
        // (17 pages); a freed 1 MiB run gives them back to make room.
        let r = a.alloc(lay(72 << 10, 8));
        assert_ne!(r, p);
        a.dealloc(r, lay(72 << 10, 8));
        let big = a.alloc(lay(1 << 20, 8));
        a.dealloc(big, lay(1 << 20, 8));
    }
    let s = a.stats();
    assert_eq!(
        (s.large_allocs, s.large_frees, s.bytes_requested),
        (4, 4, 0)
    );
    assert_eq!(s.bytes_handed_out, 0);
    assert_eq!(s.heap_in_use, 1 << 20); // the 1 MiB run parked in the cache
    a.flush_thread_cache();
    assert_eq!(a.stats().heap_in_use, 0);
}

#[test]
fn a_freed_one_mib_run_is_cached_within_the_thread_caches_budget() {
    let a = GoAlloc::new();
    let l = lay(1 << 20, 8);
    // SAFETY: non-zero layouts; each pointer freed once with its layout.
    unsafe {
        let p = a.alloc(l);
        a.dealloc(p, l);
        let spans = a.stats().page_heap_spans;
        for _ in 0..3 {
            let q = a.alloc(l);
            assert_eq!(q, p);
            q.write_bytes(7, 1 << 20);
            a.dealloc(q, l);
        }
        assert_eq!(a.stats().page_heap_spans, spans);
        assert_eq!(a.stats().heap_in_use, 1 << 20);
        // A run of another page count takes the cache's place: the 1 MiB
        // run goes back, and the new one is kept.
        let r = a.alloc(lay(64 << 10, 8));
        a.dealloc(r, lay(64 << 10, 8));
        assert_eq!(a.stats().heap_in_use, 64 << 10);
        // A run over 1 MiB is never kept.
        let big = a.alloc(lay(2 << 20, 8));
        a.dealloc(big, lay(2 << 20, 8));
        assert_eq!(a.stats().heap_in_use, 64 << 10);
    }
    a.flush_thread_cache();
    assert_eq!(a.stats().heap_in_use, 0);
}

/// Death tests: runs `body` in a child process (this test binary again,
/// running only the test `name`) and checks that it died of SIGABRT after
/// writing `message` to stderr; the debug checks must never panic, since
/// unwinding out of an allocator is undefined behaviour (`abort.rs`).
#[cfg(debug_assertions)]
fn dies_with(name: &str, message: &str, body: impl FnOnce()) {
    use std::os::unix::process::ExitStatusExt;
    if std::env::var_os("GOALLOC_DEATH_TEST").is_some() {
        body();
        return; // survived: the parent sees a normal exit and fails
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("GOALLOC_DEATH_TEST", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "{name}: expected SIGABRT, got {:?}; stderr:\n{err}",
        out.status
    );
    assert!(
        err.contains(message) && !err.contains("panicked"),
        "{name}: stderr lacks {message:?} (or shows a panic):\n{err}"
    );
}

#[cfg(debug_assertions)]
#[test]
fn double_free_aborts_in_debug_builds() {
    dies_with(
        "allocator::tests::double_free_aborts_in_debug_builds",
        "GoAlloc: dealloc of 0x",
        || {
            let a = GoAlloc::new();
            let l = lay(64, 8);
            // SAFETY: deliberately wrong (double free), to see the debug check fire.
            unsafe {
                let p = a.alloc(l);
                a.dealloc(p, l);
                a.dealloc(p, l);
            }
        },
    );
}

#[cfg(debug_assertions)]
#[test]
fn pointer_only_free_above_the_page_maps_range_aborts_in_debug_builds() {
    dies_with(
        "allocator::tests::pointer_only_free_above_the_page_maps_range_aborts_in_debug_builds",
        "not allocated by this GoAlloc",
        || {
            let a = GoAlloc::new();
            let p = a.allocate(64, 1);
            // SAFETY: deliberately wrong (p + 2^48 is not an object: the page
            // map must not alias it with p), to see the debug check fire.
            unsafe { a.free(p.wrapping_add(1 << 48)) };
        },
    );
}

/// Release builds ignore a pointer the instance never handed out, through
/// the pointer-only free's fast path and slow path alike.
#[cfg(not(debug_assertions))]
#[test]
fn pointer_only_free_ignores_foreign_pointers_in_release_builds() {
    let a = GoAlloc::new();
    let p = a.allocate(64, 1);
    // SAFETY: p has 64 bytes.
    unsafe { p.write_bytes(0x5A, 64) };
    let mut local = [0u8; 64];
    let before = a.stats();
    // SAFETY: deliberately foreign pointers, which the release build ignores.
    unsafe {
        a.free(local.as_mut_ptr());
        a.free(p.wrapping_add(1 << 48));
        a.free((p as usize | 1 << 63) as *mut u8);
        a.free(PAGE_SIZE as *mut u8);
    }
    assert_eq!(a.stats().frees, before.frees);
    // p is still live: the next objects of its class are others.
    let (q, r) = (a.allocate(64, 1), a.allocate(64, 1));
    assert!(q != p && r != p);
    // SAFETY: p has 64 bytes; every object is freed once.
    unsafe {
        assert!(core::slice::from_raw_parts(p, 64)
            .iter()
            .all(|&b| b == 0x5A));
        a.free(p);
        a.free(q);
        a.free(r);
    }
}

#[cfg(debug_assertions)]
#[test]
fn foreign_pointer_aborts_in_debug_builds() {
    dies_with(
        "allocator::tests::foreign_pointer_aborts_in_debug_builds",
        "foreign pointer",
        || {
            let a = GoAlloc::new();
            let l = lay(64, 8);
            let mut x = [0u8; 64];
            // SAFETY: deliberately wrong (not ours), to see the debug check fire.
            unsafe {
                a.dealloc(a.alloc(l), l);
                a.dealloc(x.as_mut_ptr(), l);
            }
        },
    );
}

#[cfg(debug_assertions)]
#[test]
fn double_free_of_a_cached_large_run_aborts_in_debug_builds() {
    dies_with(
        "allocator::tests::double_free_of_a_cached_large_run_aborts_in_debug_builds",
        "double free",
        || {
            let a = GoAlloc::new();
            let l = lay(64 << 10, 8);
            // SAFETY: deliberately wrong (a double free), caught by the debug check.
            unsafe {
                let p = a.alloc(l);
                a.dealloc(p, l);
                a.dealloc(p, l);
            }
        },
    );
}

/// Defect: a tiny piece freed twice was not caught (only its block's
/// liveness was checked), and the block's count then let a new piece
/// overlap a live one.
#[cfg(debug_assertions)]
#[test]
fn double_free_of_a_tiny_piece_aborts_in_debug_builds() {
    dies_with(
        "allocator::tests::double_free_of_a_tiny_piece_aborts_in_debug_builds",
        "tiny piece not live",
        || {
            let a = GoAlloc::new();
            let l = lay(4, 4);
            // SAFETY: deliberately wrong (a double free of one piece while
            // another keeps the block alive), caught by the debug check.
            unsafe {
                let p = a.alloc(l);
                let _keep = a.alloc(l);
                a.dealloc(p, l);
                a.dealloc(p, l);
            }
        },
    );
}

#[cfg(debug_assertions)]
#[test]
fn pointer_only_double_free_aborts_in_debug_builds() {
    dies_with(
        "allocator::tests::pointer_only_double_free_aborts_in_debug_builds",
        "GoAlloc: free of 0x",
        || {
            let a = GoAlloc::new();
            let p = a.allocate(100, 1);
            // SAFETY: deliberately wrong (a double free), caught by the debug check.
            unsafe {
                a.free(p);
                a.free(p);
            }
        },
    );
}

#[test]
fn the_pointer_only_classes_keep_16_byte_alignment() {
    for c in 2..NUM_SIZE_CLASSES {
        assert_eq!(
            GO.size(c as u8) % 16 == 0,
            c != CLASS_24 as usize,
            "class {c} ({} B)",
            GO.size(c as u8)
        );
    }
    assert_eq!(GO.size(CLASS_24), 24);
    assert_eq!(route_by_pointer(0, 1), Route::Small(1));
    assert_eq!(route_by_pointer(8, 8), Route::Small(1));
    assert_eq!(route_by_pointer(9, 1), Route::Small(2));
    assert_eq!(route_by_pointer(17, 1), Route::Small(4));
    assert_eq!(route_by_pointer(32768, 16), Route::Small(67));
    assert_eq!(route_by_pointer(32769, 1), Route::Large);
    assert_eq!(route_by_pointer(0, 1 << 20), Route::Large);
    for size in 0..=MAX_SMALL_SIZE {
        let Route::Small(c) = route_by_pointer(size, 1) else {
            panic!("{size} is small")
        };
        let got = GO.size(c as u8);
        assert!(
            got >= size.max(1) && (size <= 8 || got % 16 == 0),
            "{size}: {got}"
        );
    }
}

#[test]
fn pointer_only_free_finds_every_kind_of_object_and_usable_size_is_its_class_or_run() {
    let a = GoAlloc::new();
    let mut live = Vec::new();
    for size in [
        0,
        1,
        8,
        9,
        16,
        17,
        24,
        100,
        1024,
        32768,
        32769,
        100_000,
        1 << 20,
    ] {
        for align in [1, 8, 16, 64, 4096, 8192, 1 << 16, 1 << 20] {
            let p = a.allocate(size, align);
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0, "size {size} align {align}");
            // SAFETY: p is a live object of `a`.
            let usable = unsafe { a.usable_size(p) };
            assert!(usable >= size, "size {size} align {align}: usable {usable}");
            if size > 8 && align <= 16 {
                assert_eq!(p as usize % 16, 0, "size {size}");
            }
            // SAFETY: p has `usable` bytes.
            unsafe { p.write_bytes(0x5C, usable) };
            live.push(p);
        }
    }
    // Objects made with a layout (tiny pieces too) freed by pointer alone.
    for (size, align) in [
        (3, 1),
        (8, 8),
        (15, 1),
        (24, 8),
        (5000, 8),
        (40_000, 8),
        (9000, 16384),
    ] {
        // SAFETY: non-zero layout.
        let p = unsafe { a.alloc(lay(size, align)) };
        assert!(!p.is_null());
        live.push(p);
    }
    for p in live {
        // SAFETY: every object is live and freed once.
        unsafe { a.free(p) };
    }
    a.flush_thread_cache();
    let s = a.stats();
    assert_eq!(s.mallocs, s.frees);
    assert_eq!(s.large_allocs, s.large_frees);
    assert_eq!((s.small_spans, s.heap_in_use), (0, 0), "{s}");
    // SAFETY: null and a pointer this instance never made.
    unsafe {
        assert_eq!(a.usable_size(ptr::null()), 0);
        let x = 0u64;
        assert_eq!(a.usable_size(&x as *const u64 as *const u8), 0);
        a.free(ptr::null_mut());
    }
}

#[test]
fn reallocate_keeps_the_class_in_place_and_the_contents_when_it_moves() {
    let a = GoAlloc::new();
    let mut p = a.allocate(1, 1);
    let mut have = 1;
    // SAFETY: p is live; every result replaces it.
    unsafe {
        *p = 1;
        for n in [5, 8, 9, 100, 112, 1000, 40_000, 40_960, 300_000, 20, 3] {
            let q = a.reallocate(p, n);
            assert!(!q.is_null());
            let same_class = a.usable_size(q) == a.usable_size(p) || q == p;
            if n <= 8 && have <= 8 || n == 112 && have == 100 || n == 40_960 && have == 40_000 {
                assert_eq!(q, p, "{have} -> {n} stays in place");
            }
            assert!(same_class || q != p);
            for i in 0..have.min(n) {
                assert_eq!(*q.add(i), (i % 251) as u8 | 1, "{have} -> {n} byte {i}");
            }
            for i in 0..n {
                *q.add(i) = (i % 251) as u8 | 1;
            }
            p = q;
            have = n;
        }
        a.free(p);
    }
    a.flush_thread_cache();
    assert_eq!(a.stats().heap_in_use, 0);
}

#[test]
fn pointer_only_requests_too_large_or_badly_aligned_return_null() {
    let a = GoAlloc::new();
    assert!(a.allocate(usize::MAX, 1).is_null());
    assert!(a.allocate(usize::MAX / 2, 1).is_null());
    assert!(a.allocate(isize::MAX as usize, 1).is_null());
    assert!(a.allocate_zeroed(usize::MAX / 2, 16).is_null());
    assert!(a.allocate(64, 3).is_null());
    assert!(a.allocate(64, 0).is_null());
    assert!(a.allocate(1, 1 << 62).is_null());
    let p = a.allocate(64, 1);
    // SAFETY: p is live; a failed reallocate leaves it live.
    unsafe {
        assert!(a.reallocate(p, usize::MAX / 2).is_null());
        a.free(p);
    }
}

#[test]
fn class_bytes_follow_small_spans_and_clear_when_their_pages_go_back() {
    let a = GoAlloc::new();
    let class = fast_pointer_class_of(64);
    // Two spans' worth of 64-byte objects (8 KiB spans: 128 each).
    let objs: Vec<*mut u8> = (0..256).map(|_| a.allocate(64, 1)).collect();
    let heap = a.existing_heap().unwrap();
    for &p in &objs {
        assert!(!p.is_null());
        assert_eq!(heap.map.small_class(p as usize), class);
        // An interior address reads the same class.
        assert_eq!(heap.map.small_class(p as usize + 63), class);
    }
    // SAFETY: non-zero layout; freed once below.
    let tiny = unsafe { a.alloc(lay(3, 1)) };
    let large = a.allocate(100_000, 1);
    // Tiny blocks and large objects have no class byte: `free` takes its slow path.
    assert_eq!(heap.map.small_class(tiny as usize), 0);
    assert_eq!(heap.map.small_class(large as usize), 0);
    assert_eq!(heap.map.small_class(large as usize + 90_000), 0);
    // Not this heap's pages, and addresses above the map's range: an
    // object's address plus 2^48, or with bit 63 set, is not the object
    // (no aliasing), and a window with no leaf reads the zero leaf.
    assert_eq!(heap.map.small_class(&objs as *const _ as usize), 0);
    assert_eq!(heap.map.small_class(usize::MAX), 0);
    assert_eq!(heap.map.small_class(objs[0] as usize + (1 << 48)), 0);
    assert_eq!(heap.map.small_class(objs[0] as usize | 1 << 63), 0);
    assert_eq!(heap.map.small_class(PAGE_SIZE), 0);
    assert_eq!(heap.map.small_class((1 << 48) - 1), 0);
    // SAFETY: each object is live, from this instance, freed once.
    unsafe {
        for &p in &objs {
            a.free(p);
        }
        a.dealloc(tiny, lay(3, 1)); // with its size, so the bytes balance
        a.free(large);
    }
    // Every span back to the page heap: no page keeps a class byte, so a
    // large object that reuses them is freed as one.
    a.flush_thread_cache();
    assert_eq!(a.stats().small_spans, 0);
    for &p in &objs {
        assert_eq!(heap.map.small_class(p as usize), 0);
    }
    // Large runs, some over the old spans' pages: freed as large objects.
    let runs: Vec<*mut u8> = (0..4).map(|_| a.allocate(40_000, 1)).collect();
    // SAFETY: live objects of `a`, freed once.
    unsafe {
        for &p in &runs {
            assert_eq!(heap.map.small_class(p as usize), 0);
            a.free(p);
        }
    }
    let s = a.stats();
    assert_eq!(s.mallocs, s.frees);
    assert_eq!((s.large_allocs, s.large_frees), (5, 5));
    assert_eq!(s.by_size[class].mallocs, 256);
    assert_eq!(s.by_size[class].frees, 256);
    assert_eq!(s.bytes_requested, 0);
}

/// Rounds of `n` allocations of `size`, then their frees (contents checked);
/// returns the central flushes the last `rounds / 2` rounds made.
fn flushes_in_late_rounds(a: &GoAlloc, size: usize, n: usize, rounds: usize) -> u64 {
    let l = lay(size, 8);
    let mut before = 0;
    for round in 0..rounds {
        if round == rounds / 2 {
            before = a.stats().central_flushes;
        }
        // SAFETY: non-zero layout; each pointer written within bounds,
        // checked and freed once with its layout.
        unsafe {
            let v: Vec<*mut u8> = (0..n).map(|_| a.alloc(l)).collect();
            for (i, &p) in v.iter().enumerate() {
                assert!(!p.is_null());
                p.write_bytes(i as u8, size);
            }
            for (i, &p) in v.iter().enumerate() {
                assert!(std::slice::from_raw_parts(p, size)
                    .iter()
                    .all(|&b| b == i as u8));
                a.dealloc(p, l);
            }
        }
    }
    a.stats().central_flushes - before
}

#[test]
fn an_overflowing_list_grows_its_limit_instead_of_flushing_every_round() {
    let a = GoAlloc::new();
    let class = GO.class_of(1024) as usize;
    let limit = span::class_infos()[class].cache_max as usize;
    // A working set a little over the class's limit: after a few rounds the
    // list holds it, and the central list sees no more flushes.
    assert_eq!(flushes_in_late_rounds(&a, 1024, limit + limit / 2, 40), 0);
    a.flush_thread_cache();
    // One far over four times the limit keeps flushing: the growth is bounded.
    let b = GoAlloc::new();
    assert!(flushes_in_late_rounds(&b, 1024, 8 * limit, 10) > 0);
    // SAFETY: the calling thread's own cache, read after its work.
    let c = unsafe {
        &*thread_cache::cache_slow(b.key.load(Ordering::Relaxed), b.existing_heap().unwrap())
    };
    assert!(c.lists[class].max as usize <= 4 * limit);
}

/// The flush walk (`CentralList::release_from`) guesses each next object at
/// the first link's stride and falls back to a bounds-checked walk where the
/// guess fails: free orders that keep the stride, reverse it, break it
/// midway and jump between spans must all give every object back to its
/// own span, so every span empties and its pages return to the page heap.
#[test]
fn the_flush_walk_returns_every_object_whatever_the_free_order() {
    let l = lay(64, 8);
    let n = 3000; // about 24 spans of 128 objects
    type Order = fn(usize, usize) -> usize;
    let orders: [(&str, Order); 5] = [
        ("ascending", |i, _| i),
        ("descending", |i, n| n - 1 - i),
        ("two interleaved runs", |i, n| {
            if i % 2 == 0 {
                i / 2
            } else {
                n / 2 + i / 2
            }
        }),
        ("stride 7 with wrap", |i, n| (i * 7) % n),
        ("pseudo-random", |i, n| (i * 7919 + 13) % n),
    ];
    for (name, order) in orders {
        let a = GoAlloc::new();
        // SAFETY: non-zero layouts; each object is written in bounds, checked
        // and freed once.
        unsafe {
            let p: Vec<*mut u8> = (0..n).map(|_| a.alloc(l)).collect();
            for (i, &q) in p.iter().enumerate() {
                assert!(!q.is_null());
                q.add(8).write(i as u8);
            }
            let mut seen = vec![false; n];
            for i in 0..n {
                let k = order(i, n);
                assert!(!seen[k], "{name}: order repeats {k}");
                seen[k] = true;
                assert_eq!(
                    p[k].add(8).read(),
                    k as u8,
                    "{name}: object {k} overwritten"
                );
                a.dealloc(p[k], l);
            }
        }
        a.flush_thread_cache();
        let s = a.stats();
        assert_eq!(s.heap_in_use, 0, "{name}: {s:?}");
        assert_eq!(s.mallocs, s.frees, "{name}");
    }
}

/// Two threads whose caches refill in turns get their objects from
/// different spans (`CentralList::refill`'s cutter): neighbouring objects in
/// two threads' hands would share cache lines, or lines the prefetcher
/// pairs, between two cores.
#[test]
fn caches_refilling_in_turns_take_objects_from_different_spans() {
    use std::sync::{Arc, Barrier};
    let a: &'static GoAlloc = Box::leak(Box::new(GoAlloc::new()));
    let l = lay(64, 8);
    let turn = Arc::new(Barrier::new(2));
    let spans: Vec<std::collections::BTreeSet<usize>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|t| {
                let turn = turn.clone();
                s.spawn(move || {
                    let mut mine = Vec::new();
                    for round in 0..8 {
                        if round % 2 == t {
                            // SAFETY: a non-zero layout; freed below.
                            mine.extend((0..16).map(|_| unsafe { a.alloc(l) } as usize));
                        }
                        turn.wait();
                    }
                    let pages = mine.iter().map(|p| p & !(PAGE_SIZE - 1)).collect();
                    for p in mine {
                        // SAFETY: allocated above with this layout, freed once.
                        unsafe { a.dealloc(p as *mut u8, l) };
                    }
                    pages
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        spans[0].iter().all(|p| !spans[1].contains(p)),
        "the threads share a span: {spans:x?}"
    );
}
