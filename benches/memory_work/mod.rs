//! The workloads of the memory bench, shared by its criterion bench
//! (`benches/memory.rs`) and its callgrind twin (`benches/memory_callgrind.rs`):
//! the fragmentation chapter's churn workload
//! (`alloc_cookbook::fragmentation::churn_workload`, same seed, same requests) run
//! on the program's global allocator, on one thread or on several at once.
//!
//! The fact a reader gets wrong: what a program's allocator keeps resident
//! is not what the program holds. After the shrink phase the live objects
//! take a small part of their peak; how much of the rest stays resident is
//! the allocator's choice, and it differs by allocator more than the time does.
#![allow(dead_code)] // each bench binary uses a different part of this module

use alloc_cookbook::fragmentation::{churn_workload, Phase};
use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The program's global allocator (whatever `#[global_allocator]` is), with
/// the bytes the workload's live objects requested.
#[derive(Default)]
pub struct Global {
    live_bytes: AtomicUsize,
}

// SAFETY: every call goes to the global allocator through std::alloc, which
// upholds GlobalAlloc's contract; blocks are freed by the same allocator.
unsafe impl GlobalAlloc for Global {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        self.live_bytes.fetch_add(l.size(), Relaxed);
        // SAFETY: caller's contract passed through.
        unsafe { std::alloc::alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        self.live_bytes.fetch_sub(l.size(), Relaxed);
        // SAFETY: caller's contract passed through.
        unsafe { std::alloc::dealloc(p, l) }
    }
}

/// The end of a phase of the churn workload, seen while its objects live.
#[derive(Debug, Clone, Copy)]
pub struct PhaseEnd {
    pub phase: Phase,
    /// Bytes the live objects requested at that moment.
    pub bytes_requested: usize,
}

/// Operations of the one-thread run: the fragmentation chapter's length.
pub const STEPS: usize = 100_000;
/// Threads of the many-thread run, and operations per thread (the same
/// total work as the one-thread run).
pub const THREADS: usize = 8;
pub const STEPS_PER_THREAD: usize = STEPS / THREADS;
/// The workload's seed (the fragmentation chapter's).
pub const SEED: u64 = 1;

// ANCHOR: workloads
/// The churn workload on the global allocator, one thread; `at_phase_end`
/// sees each phase's end while its objects are alive.
pub fn churn_one_thread(mut at_phase_end: impl FnMut(PhaseEnd)) {
    let a = Global::default();
    let mut last: Option<Phase> = None;
    churn_workload(&a, SEED, STEPS, |step, phase| {
        let live = a.live_bytes.load(Relaxed);
        // A phase ends before the first operation of the next one; the last
        // phase is reported before its last operation.
        if let Some(prev) = last.filter(|p| *p != phase) {
            at_phase_end(PhaseEnd {
                phase: prev,
                bytes_requested: live,
            });
        }
        if step + 1 == STEPS {
            at_phase_end(PhaseEnd {
                phase,
                bytes_requested: live,
            });
        }
        last = Some(phase);
    });
}

/// The same total work on `THREADS` threads at once, each with its own seed.
pub fn churn_threads() {
    std::thread::scope(|s| {
        for t in 0..THREADS {
            s.spawn(move || {
                churn_workload(
                    &Global::default(),
                    SEED + t as u64,
                    STEPS_PER_THREAD,
                    |_, _| {},
                )
            });
        }
    });
}
// ANCHOR_END: workloads

/// Asks the allocator under the bench to give its free memory back to the
/// OS now, and returns the call's name: glibc's `malloc_trim(0)`,
/// `GoAlloc::free_os_memory()`, mimalloc's `mi_collect(true)`, jemalloc's
/// `arena.<all>.purge`.
pub fn give_back() -> &'static str {
    use crate::common::Which;
    match crate::common::which() {
        Which::System => {
            // SAFETY: malloc_trim only returns free heap memory to the OS.
            unsafe { libc::malloc_trim(0) };
            "malloc_trim(0)"
        }
        Which::GoAlloc => {
            crate::common::goalloc_instance().free_os_memory();
            "GoAlloc::free_os_memory()"
        }
        Which::Mimalloc => {
            extern "C" {
                // From libmimalloc-sys, linked in through the mimalloc crate.
                fn mi_collect(force: bool);
            }
            // SAFETY: mi_collect frees mimalloc's own cached memory; no pointer is involved.
            unsafe { mi_collect(true) };
            "mi_collect(true)"
        }
        Which::Jemalloc => {
            extern "C" {
                // jemalloc's mallctl, with tikv-jemallocator's `_rjem_` prefix.
                fn _rjem_mallctl(
                    name: *const std::ffi::c_char,
                    oldp: *mut std::ffi::c_void,
                    oldlenp: *mut usize,
                    newp: *mut std::ffi::c_void,
                    newlen: usize,
                ) -> std::ffi::c_int;
            }
            // SAFETY: "arena.4096.purge" (4096 = MALLCTL_ARENAS_ALL) takes no
            // input and writes no output; the name is a NUL-terminated string.
            unsafe {
                _rjem_mallctl(
                    c"arena.4096.purge".as_ptr(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    0,
                )
            };
            "mallctl(\"arena.4096.purge\")"
        }
    }
}
