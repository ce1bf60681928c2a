//! Thread exit: 10,000 short-lived threads (in batches, so a 2-core machine
//! stays quick) allocate, free objects other threads made, leave some alive
//! past their own exit, and end. Their caches must be flushed at exit:
//! afterwards nothing is stranded, and once the survivors are freed the heap
//! is back to its baseline.
//!
//! `GoAlloc` is also this binary's global allocator, so thread start-up and
//! tear-down (std's own allocations, late frees from TLS destructors) run on
//! it; the test objects live on a private instance whose numbers are exact.

use alloc_cookbook::GoAlloc;
use std::alloc::{GlobalAlloc, Layout};
use std::sync::Mutex;

#[global_allocator]
static GLOBAL: GoAlloc = GoAlloc::new();

static OBJECTS: GoAlloc = GoAlloc::new();

/// Objects left alive by threads that have exited: (address, size).
static POOL: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).unwrap()
}

fn worker(id: usize) {
    let sizes = [8, 24, 100, 1024, 5000, 40_000];
    let mut mine = Vec::new();
    for (k, &size) in sizes.iter().enumerate() {
        if (id + k) % 3 == 0 && size > 10_000 {
            continue;
        }
        // SAFETY: non-zero layout.
        let p = unsafe { OBJECTS.alloc(layout(size)) };
        assert!(!p.is_null());
        // SAFETY: p holds `size` bytes.
        unsafe { p.write_bytes(id as u8, size) };
        mine.push((p as usize, size));
    }
    // Free two objects made by other (possibly dead) threads.
    let theirs: Vec<(usize, usize)> = {
        let mut pool = POOL.lock().unwrap();
        let n = pool.len().min(2);
        let at = pool.len() - n;
        pool.split_off(at)
    };
    for (p, size) in theirs {
        // SAFETY: made by OBJECTS with this layout, freed once.
        unsafe { OBJECTS.dealloc(p as *mut u8, layout(size)) };
    }
    // Keep two alive past this thread's exit; free the rest here.
    let keep = mine.split_off(mine.len() - 2);
    for (p, size) in mine {
        // SAFETY: made above, freed once.
        unsafe { OBJECTS.dealloc(p as *mut u8, layout(size)) };
    }
    POOL.lock().unwrap().extend(keep);
    // A late free through the global allocator from a TLS destructor.
    thread_local!(static LATE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) });
    LATE.with(|l| l.borrow_mut().extend_from_slice(&[1, 2, 3]));
}

#[test]
fn ten_thousand_short_lived_threads_strand_nothing() {
    let (threads, batch) = (10_000, 50);
    let mut id = 0;
    while id < threads {
        let handles: Vec<_> = (id..id + batch)
            .map(|i| std::thread::spawn(move || worker(i)))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        id += batch;
    }
    OBJECTS.flush_thread_cache();
    let pool = std::mem::take(&mut *POOL.lock().unwrap());
    let s = OBJECTS.stats();
    // Only the survivors are live; every dead thread's cache was flushed and reused.
    assert_eq!(s.live_objects as usize, pool.len(), "{s}");
    let survivors: usize = pool.iter().map(|&(_, size)| size).sum();
    assert_eq!(s.bytes_requested as usize, survivors, "{s}");
    assert!(
        s.thread_caches <= 2 * batch as u64 + 2,
        "caches must be reused:\n{s}"
    );
    assert!(GLOBAL.stats().thread_caches <= 2 * batch as u64 + 8);
    for (p, size) in pool {
        // SAFETY: made by OBJECTS with this layout, freed once.
        unsafe { OBJECTS.dealloc(p as *mut u8, layout(size)) };
    }
    OBJECTS.flush_thread_cache();
    let s = OBJECTS.stats();
    assert_eq!(
        (s.live_objects, s.bytes_requested, s.bytes_handed_out),
        (0, 0, 0),
        "{s}"
    );
    assert_eq!(
        (s.small_spans, s.heap_in_use),
        (0, 0),
        "back to the baseline:\n{s}"
    );
    assert_eq!(s.mallocs, s.frees);
}
