//! The workloads of the zeroed-memory bench, shared by its criterion bench
//! (`benches/zeroed.rs`) and its callgrind twin (`benches/zeroed_callgrind.rs`).
//!
//! Each use asks the global allocator for `n` zeroed bytes in one of three
//! ways, then does what a program does with a fresh zeroed buffer: writes one
//! byte in every 4 KiB page and reads them back. The ways:
//! - `alloc` and then `write_bytes(0)`: the allocator hands out whatever it
//!   has, and the program zeroes all of it;
//! - `alloc_zeroed`: the allocator zeroes, and may skip it for memory it
//!   knows is zero (fresh pages from the OS; glibc's `calloc` does this for a
//!   block it has just mapped, `GoAlloc` for pages it knows were never
//!   written or were given back);
//! - `vec![0u8; n]`: the same `alloc_zeroed` call, through `Vec`.
//!
//! The fact a reader gets wrong: "zeroing for free" does not make the pages
//! free. A fresh page still costs a page fault on first touch, and the kernel
//! zeroes it then; the shortcut only saves the allocator's own `memset`.
#![allow(dead_code)] // each bench binary uses a different part of this module

use std::alloc::{alloc, alloc_zeroed, dealloc, Layout};
use std::hint::black_box;

/// The sizes measured: one page, a buffer above every small-object path,
/// and one above glibc's largest mmap threshold.
pub const SIZES: [(usize, &str); 3] =
    [(4 << 10, "4 KiB"), (1 << 20, "1 MiB"), (64 << 20, "64 MiB")];

/// Bytes between the touched bytes: one per 4 KiB page.
const STRIDE: usize = 4096;

fn layout(n: usize) -> Layout {
    Layout::from_size_align(n, 8).expect("bench sizes are valid")
}

/// Writes one byte per page of `p[..n]` (a write first, as a program fills
/// a buffer) and sums them back.
///
/// # Safety
/// `p` must point to `n` writable bytes.
unsafe fn touch(p: *mut u8, n: usize) -> usize {
    let mut sum = 0usize;
    let mut i = 0;
    while i < n {
        // SAFETY: i < n, inside the caller's block.
        unsafe {
            let b = p.add(i);
            b.write(1);
            sum += b.read() as usize;
        }
        i += STRIDE;
    }
    sum
}

// ANCHOR: workloads
/// `alloc`, then zero the whole block by hand. (Without the `black_box`
/// around the pointer, LLVM folds `alloc` + `write_bytes(0)` into one
/// `alloc_zeroed` call, and this case would measure the other one.)
pub fn alloc_then_memset(n: usize) -> usize {
    let l = layout(n);
    // SAFETY: non-zero layout; the block is checked, written within bounds and freed once.
    unsafe {
        let p = black_box(alloc(l));
        assert!(!p.is_null(), "out of memory");
        std::ptr::write_bytes(p, 0, n);
        let s = touch(black_box(p), n);
        dealloc(p, l);
        s
    }
}

/// `alloc_zeroed`: the allocator zeroes, or knows it need not.
pub fn alloc_zeroed_block(n: usize) -> usize {
    let l = layout(n);
    // SAFETY: non-zero layout; the block is checked, written within bounds and freed once.
    unsafe {
        let p = alloc_zeroed(l);
        assert!(!p.is_null(), "out of memory");
        let s = touch(black_box(p), n);
        dealloc(p, l);
        s
    }
}

/// `vec![0u8; n]` (which calls `alloc_zeroed`).
pub fn vec_of_zeros(n: usize) -> usize {
    let mut v = vec![0u8; n];
    // SAFETY: the Vec holds n initialised bytes.
    unsafe { touch(black_box(v.as_mut_ptr()), n) }
}
// ANCHOR_END: workloads
