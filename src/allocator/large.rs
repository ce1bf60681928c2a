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
//! **Large runs cached per thread.** Going to the page heap costs its lock
//! and usually a split and a merge (the freed run coalesces with its free
//! neighbours and the next allocation cuts it again). So a thread cache
//! keeps up to [`LARGE_CACHE_SLOTS`] freed runs, [`LARGE_CACHE_PAGES`] pages
//! (1 MiB) in all, and hands one back, without a lock, to the next large
//! request of exactly its page count (alignment at most a page). A cached
//! run stays in use as far as the page heap knows (it counts in
//! `heap_in_use`, like objects parked in a thread cache) until the cache is
//! flushed (thread exit, `flush_thread_cache`). A freed run up to 1 MiB
//! always goes into the cache, giving older runs back to the page heap
//! until it fits (the run freed last is the likeliest to be asked for
//! next); a run over 1 MiB goes back to the page heap, so its scavenger
//! sees it: a thread holds at most 1 MiB of freed large runs.
//!
//! **Growing in place.** `realloc` of a large object to more pages (and
//! the pointer-only `reallocate`) first asks the page heap for the pages
//! right after its run: from the free run there, or from the arena's
//! frontier when the run ends where the frontier starts
//! (`PageHeap::grow_in_place`). A `Vec` that doubles past 32 KiB then
//! neither takes a new run nor copies while the pages after it are free,
//! as glibc grows a chunk at the top of its heap; only when they are in use
//! does it move. Go never resizes an object: its `append` always allocates anew.
//!
//! The fact a reader gets wrong: `alloc_zeroed` of a large object usually
//! costs no `memset` at all. Pages fresh from the OS and pages the scavenger
//! released (`MADV_DONTNEED`) read as zero, and the page heap remembers which
//! runs are in that state (`Span::zeroed`), so only a run reused while still
//! resident is cleared. Go does the same with `needzero`. A run counts as
//! zero only if the release really happened: `madvise` fails on locked
//! pages (`mlock`, `mlockall`), and such a run stays resident and is cleared.

use super::page_heap::{self, ScavengeDue};
use super::span::{Span, SpanState};
use super::thread_cache::{bump, ThreadCache};
use super::Heap;
use crate::size_class::PAGE_SIZE;
use core::ptr;
use core::sync::atomic::AtomicU64;

/// Runs a thread cache keeps.
pub(crate) const LARGE_CACHE_SLOTS: usize = 4;
/// Pages a thread cache keeps in freed large runs, all slots together (1 MiB).
pub(crate) const LARGE_CACHE_PAGES: usize = 128;

/// Whether a large object of this layout may use the thread cache's runs
/// (at most [`LARGE_CACHE_PAGES`] pages, alignment at most a page), decided
/// from the layout so that large runs beyond it skip the cache lookup.
#[inline]
pub(crate) fn cacheable(size: usize, align: usize) -> bool {
    align <= PAGE_SIZE && size <= LARGE_CACHE_PAGES * PAGE_SIZE
}

/// A thread cache's freed large runs (null: empty slot). All-zero is empty.
pub(crate) struct LargeCache {
    spans: [*mut Span; LARGE_CACHE_SLOTS],
    /// Pages in the cached runs (at most [`LARGE_CACHE_PAGES`]).
    pages: usize,
}

/// Large objects a thread cache served or took back, counted by its owner
/// with a plain load and store (summed with [`page_heap::LargeCounters`] on read).
pub(crate) struct CachedLargeCounters {
    pub allocs: AtomicU64,
    pub frees: AtomicU64,
    pub requested: AtomicU64,
    pub requested_freed: AtomicU64,
    pub bytes: AtomicU64,
    pub bytes_freed: AtomicU64,
}

/// Debug builds: marks a large span as in the user's hands (`on`) or not;
/// returns whether it was.
#[cfg(debug_assertions)]
pub(crate) fn debug_mark_large(s: &Span, on: bool) -> bool {
    s.live[0].swap(on as u64, core::sync::atomic::Ordering::AcqRel) != 0
}

impl Heap {
    /// A large object of `size` bytes aligned to `align`; null if it cannot be served.
    pub(crate) fn alloc_large(&self, size: usize, align: usize, zero: bool) -> *mut u8 {
        let npages = size.div_ceil(PAGE_SIZE).max(1);
        let align_pages = (align / PAGE_SIZE).max(1);
        let (base, zeroed) = {
            let (mut pages, s) = page_heap::alloc_span(&self.pages, &self.map, npages, align_pages);
            if s.is_null() {
                return ptr::null_mut();
            }
            // SAFETY: s is a run just handed to us; we record it under the lock.
            unsafe {
                (*s).state = SpanState::Large;
                (*s).class = 0;
                self.map.set_ends(&*s, s);
                #[cfg(debug_assertions)]
                debug_mark_large(&*s, true);
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

    /// Grows large object `p` (request `old` bytes) to `new` bytes in place
    /// when the pages after its run are free ([`page_heap::PageHeap::grow_in_place`]);
    /// false, with nothing changed, if they are not.
    pub(crate) fn grow_large_in_place(&self, p: *mut u8, old: usize, new: usize) -> bool {
        let s = self.map.get(p as usize);
        if s.is_null() {
            return false;
        }
        let mut pages = self.pages.lock();
        // SAFETY: s is the span of the caller's live large object; its
        // length changes only under the page heap's lock, which we hold.
        let have = unsafe { (*s).npages };
        let want = new.div_ceil(PAGE_SIZE);
        if want <= have || !pages.grow_in_place(&self.map, s, want - have) {
            return false;
        }
        let l = &mut pages.large;
        l.requested += (new - old) as u64;
        l.bytes += ((want - have) * PAGE_SIZE) as u64;
        true
    }

    /// Frees a large object made by [`Heap::alloc_large`] with request `size`.
    pub(crate) fn free_large(&self, p: *mut u8, size: usize) {
        self.free_large_span(self.map.get(p as usize), size);
    }

    /// Frees large span `s` (the page map's entry for the object's base).
    fn free_large_span(&self, s: *mut Span, size: usize) {
        let due = {
            let mut pages = self.pages.lock();
            let l = &mut pages.large;
            l.frees += 1;
            l.requested_freed += size as u64;
            // SAFETY: s is the span of a live large object (the caller's
            // pointer is its base, checked in debug builds), handed back once.
            l.bytes_freed += unsafe { (*s).bytes() } as u64;
            pages.free_span(&self.map, s)
        };
        // The lock is dropped: the scavenger's madvise runs outside it.
        due.run(&self.pages, &self.map);
    }

    /// Like [`Heap::alloc_large`], trying the calling thread's cached runs first.
    pub(crate) fn alloc_large_cached(
        &self,
        cache: &mut ThreadCache,
        size: usize,
        align: usize,
        zero: bool,
    ) -> *mut u8 {
        let npages = size.div_ceil(PAGE_SIZE).max(1);
        if cacheable(size, align) {
            for slot in cache.large.spans.iter_mut() {
                let s = *slot;
                // SAFETY: a cached run is a live `Large` span owned by this
                // cache; only this thread touches it until it is handed out.
                if !s.is_null() && unsafe { (*s).npages } == npages {
                    *slot = ptr::null_mut();
                    cache.large.pages -= npages;
                    // SAFETY: as above; the run is ours and npages pages long.
                    let base = unsafe {
                        #[cfg(debug_assertions)]
                        debug_mark_large(&*s, true);
                        (*s).base() as *mut u8
                    };
                    let k = &cache.counters.large;
                    bump(&k.allocs, 1);
                    bump(&k.requested, size as u64);
                    bump(&k.bytes, (npages * PAGE_SIZE) as u64);
                    if zero {
                        // SAFETY: the run is ours and at least `size` bytes long.
                        unsafe { base.write_bytes(0, size) };
                    }
                    return base;
                }
            }
        }
        self.alloc_large(size, align, zero)
    }

    /// Like [`Heap::free_large`], keeping a short run in the calling thread's cache.
    pub(crate) fn free_large_cached(&self, cache: &mut ThreadCache, p: *mut u8, size: usize) {
        let s = self.map.get(p as usize);
        // SAFETY: p is the base of a live large span (checked in debug builds
        // by the caller), so the page map entry is that span; its page count
        // does not change while it is in use.
        let npages = unsafe { (*s).npages };
        if npages > LARGE_CACHE_PAGES {
            return self.free_large_span(s, size);
        }
        // The run freed last is the likeliest to be asked for next: make
        // room for it by giving older runs back to the page heap. Each round
        // empties a slot, so the loop ends (with every slot empty, the run fits).
        let mut due = ScavengeDue::NO;
        while cache.large.pages + npages > LARGE_CACHE_PAGES
            || cache.large.spans.iter().all(|s| !s.is_null())
        {
            due = due.or(self.evict_cached_run(cache));
        }
        if let Some(slot) = cache.large.spans.iter_mut().find(|s| s.is_null()) {
            *slot = s;
            cache.large.pages += npages;
            let k = &cache.counters.large;
            bump(&k.frees, 1);
            bump(&k.requested_freed, size as u64);
            bump(&k.bytes_freed, (npages * PAGE_SIZE) as u64);
        }
        // The page heap's lock is dropped: the scavenger's madvise runs outside it.
        due.run(&self.pages, &self.map);
    }

    /// Gives one of `cache`'s runs back to the page heap (it counted as
    /// freed when it was cached); returns whether the scavenger is due.
    #[cold]
    fn evict_cached_run(&self, cache: &mut ThreadCache) -> ScavengeDue {
        for slot in cache.large.spans.iter_mut() {
            let s = core::mem::replace(slot, ptr::null_mut());
            if !s.is_null() {
                // SAFETY: a cached run is a `Large` span owned by this cache.
                cache.large.pages -= unsafe { (*s).npages };
                return self.pages.lock().free_span(&self.map, s);
            }
        }
        ScavengeDue::NO
    }

    /// Accounts an in-place resize of a large object (same page count): the
    /// live request changes by `new - old`, and only a growth counts towards
    /// the bytes requested ever (it is no new allocation).
    pub(crate) fn resize_large(&self, old: usize, new: usize) {
        let mut pages = self.pages.lock();
        if new >= old {
            pages.large.requested += (new - old) as u64;
        } else {
            pages.large.requested_freed += (old - new) as u64;
        }
    }
}

/// Gives every run cached by `cache` back to its page heap.
pub(crate) fn flush(cache: &mut ThreadCache) {
    // SAFETY: a cache's heap outlives it.
    let heap = unsafe { &*cache.heap };
    let mut due = ScavengeDue::NO;
    // Each call gives one run back (or none once the slots are empty).
    for _ in 0..LARGE_CACHE_SLOTS {
        due = due.or(heap.evict_cached_run(cache));
    }
    due.run(&heap.pages, &heap.map);
}
