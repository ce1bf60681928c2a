//! The allocator: Go's runtime design as a Rust `GlobalAlloc` (overview).
//!
//! PLACEHOLDER: this stub forwards to the system allocator so that the rest of
//! the workspace compiles while the real allocator is written. It is replaced
//! by the thread caches, central lists and page heap described in issue 3.

use std::alloc::{GlobalAlloc, Layout, System};

/// Go's allocator design as a Rust global allocator.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: alloc_cookbook::GoAlloc = alloc_cookbook::GoAlloc::new();
/// let v = vec![1u32, 2, 3];
/// assert_eq!(v.iter().sum::<u32>(), 6);
/// ```
#[derive(Debug, Default)]
pub struct GoAlloc {
    _private: (),
}

impl GoAlloc {
    /// A new allocator; `const`, so it can be a `static`.
    pub const fn new() -> Self {
        GoAlloc { _private: () }
    }
}

// SAFETY: forwards every call unchanged to `System`, which upholds the contract.
unsafe impl GlobalAlloc for GoAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract, passed through.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract, passed through.
        unsafe { System.dealloc(ptr, layout) }
    }
}
