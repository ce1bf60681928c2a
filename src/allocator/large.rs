//! Large objects (over 32 KiB, or aligned above a page): a page run each,
//! straight from the page heap (Go's `mcache.allocLarge`).
//!
//! Part of the allocator described in [`crate::allocator`] (read its header first).
//!
//! A large object is one span of whole pages in state `Large`; freeing it
//! returns the run to the page heap, where it merges with free neighbours.
//! An alignment above 8 KiB is met by asking the page heap for a run whose
//! first page number is a multiple of `align / 8 KiB` (it over-asks by
//! `align / 8 KiB - 1` pages and gives the ends back).
//!
//! The fact a reader gets wrong: `alloc_zeroed` of a large object usually
//! costs no `memset` at all. Pages fresh from the OS and pages the scavenger
//! released (`MADV_DONTNEED`) read as zero, and the page heap remembers which
//! runs are in that state (`Span::zeroed`), so only a run reused while still
//! resident is cleared. Go does the same with `needzero`.

use super::span::SpanState;
use super::Heap;
use crate::size_class::PAGE_SIZE;
use core::ptr;

/// Large-object counters, kept under the page heap's lock.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LargeCounters {
    pub allocs: u64,
    pub frees: u64,
    pub requested: u64,
    pub requested_freed: u64,
    pub bytes: u64,
    pub bytes_freed: u64,
    /// `alloc_zeroed` calls that needed no memset.
    pub zeroing_skipped: u64,
}

impl Heap {
    /// A large object of `size` bytes aligned to `align`; null if it cannot be served.
    pub(crate) fn alloc_large(&self, size: usize, align: usize, zero: bool) -> *mut u8 {
        let npages = size.div_ceil(PAGE_SIZE).max(1);
        let align_pages = (align / PAGE_SIZE).max(1);
        let (base, zeroed) = {
            let mut pages = self.pages.lock();
            let s = pages.alloc_span(&self.map, npages, align_pages);
            if s.is_null() {
                return ptr::null_mut();
            }
            // SAFETY: s is a run just handed to us; we record it under the lock.
            unsafe {
                (*s).state = SpanState::Large;
                (*s).class = 0;
                self.map.set_ends(&*s, s);
                let l = &mut pages.large;
                l.allocs += 1;
                l.requested += size as u64;
                l.bytes += (*s).bytes() as u64;
                if zero && (*s).zeroed {
                    l.zeroing_skipped += 1;
                }
                ((*s).base() as *mut u8, (*s).zeroed)
            }
        };
        if zero && !zeroed {
            // SAFETY: the run is ours and at least `size` bytes long.
            unsafe { base.write_bytes(0, size) };
        }
        base
    }

    /// Frees a large object made by [`Heap::alloc_large`] with request `size`.
    pub(crate) fn free_large(&self, p: *mut u8, size: usize) {
        let s = self.map.get(p as usize);
        let mut pages = self.pages.lock();
        // SAFETY: p is the base of a live large span (checked in debug builds
        // by the caller), so the page map entry is that span.
        unsafe {
            let l = &mut pages.large;
            l.frees += 1;
            l.requested_freed += size as u64;
            l.bytes_freed += (*s).bytes() as u64;
            pages.free_span(&self.map, s);
        }
    }

    /// Accounts an in-place resize of a large object (same page count).
    pub(crate) fn resize_large(&self, old: usize, new: usize) {
        let mut pages = self.pages.lock();
        pages.large.requested += new as u64;
        pages.large.requested_freed += old as u64;
    }
}
