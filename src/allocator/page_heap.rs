//! The page heap (Go's `mheap`): runs of 8 KiB pages from OS arenas, the
//! page map from any address to its span, coalescing, and the scavenger.
//!
//! Part of the allocator described in [`crate::allocator`] (read its header first).
//!
//! Memory comes from the OS in arenas of at least [`ARENA_BYTES`] (64 MiB,
//! Go's `heapArenaBytes` on linux/amd64), reserved with `MAP_NORESERVE` and
//! touched lazily. New pages are carved from the current arena's *frontier*
//! (Go's `curArena`); freed runs go on free lists and are merged with free
//! neighbours found through the page map. One lock guards it all (Go's
//! `mheap_.lock`); central lists take it only to get or return whole spans.
//!
//! **How this departs from Go.** Go's page allocator (`mpagealloc.go`) is a
//! bitmap of pages with an implicit radix tree of summaries over it (five
//! levels, each entry holding the free run at its start, its end and its
//! longest), searched address-ordered first-fit, with a per-P page cache of
//! 64 pages in front. We keep free runs as *spans on free lists*, one exact
//! list per length up to 128 pages and one best-fit list above
//! (gperftools/tcmalloc's classic page heap): simpler, O(1) for the common
//! small runs, and good enough without a garbage collector's bulk frees. The
//! price: no address ordering (Go's first-fit keeps the heap compact at low
//! addresses) and a lock on every span allocation (Go's per-P page cache
//! avoids it for small spans). Free runs merge only with neighbours in the
//! same state (both resident or both released): merging mixed runs would
//! need a syscall on the hot free path or would lose track of what is resident.
//!
//! The page map is Go's `heapArena.spans` flattened into a two-level radix
//! array over 48-bit addresses: 2^17 root entries, each pointing to a leaf of
//! 2^18 span pointers (2 MiB, reserved on demand). In-use small spans map
//! every page; large and free spans map their first and last page (enough
//! for `dealloc`, which gets the base address, and for coalescing).
//!
//! The fact a reader gets wrong: the scavenger does not unmap memory. It
//! calls `madvise(MADV_DONTNEED)` on free runs, which keeps the address range
//! reserved (the span stays on a free list, marked `released`) and only drops
//! the physical pages. Pages fresh from the OS count as released too, as in
//! Go, so "resident" here is reserved minus released: an upper bound on the
//! RSS this heap causes.

use super::os;
use super::span::{Span, SpanList, SpanState};
use crate::size_class::PAGE_SIZE;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

/// Smallest reservation asked of the OS (Go's heap arena on linux/amd64).
pub const ARENA_BYTES: usize = 64 << 20;
/// Free runs up to this many pages have an exact list each.
const EXACT_LISTS: usize = 128;
const ROOT_BITS: usize = 17;
const LEAF_BITS: usize = 18;
const LEAF_LEN: usize = 1 << LEAF_BITS;
/// Bytes of span metadata reserved at a time.
const META_CHUNK: usize = 64 << 10;
/// How much idle resident memory the heap keeps before the scavenger runs, by default.
pub const DEFAULT_SCAVENGE_THRESHOLD: usize = 64 << 20;

type Leaf = [AtomicPtr<Span>; LEAF_LEN];

/// Page number to span. All-zero is empty.
pub(crate) struct PageMap {
    root: [AtomicPtr<Leaf>; 1 << ROOT_BITS],
}

impl PageMap {
    /// The span recorded for the page holding `addr` (null if none). Entries
    /// of pages that no longer belong to a live span may be stale: callers
    /// check the span's state and bounds.
    #[inline]
    pub fn get(&self, addr: usize) -> *mut Span {
        self.get_page(addr / PAGE_SIZE)
    }

    /// The span recorded for page number `page`.
    #[inline]
    pub fn get_page(&self, page: usize) -> *mut Span {
        let Some(root) = self.root.get(page >> LEAF_BITS) else {
            return ptr::null_mut();
        };
        let leaf = root.load(Ordering::Acquire);
        if leaf.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: a non-null root entry points to a leaf that is never freed.
        unsafe { (*leaf)[page & (LEAF_LEN - 1)].load(Ordering::Acquire) }
    }

    /// Makes sure leaves exist for pages `[page, page + n)`; false if the OS refuses.
    /// Called under the page heap's lock.
    fn ensure(&self, page: usize, n: usize) -> bool {
        let (lo, hi) = (page >> LEAF_BITS, (page + n - 1) >> LEAF_BITS);
        for i in lo..=hi {
            let Some(root) = self.root.get(i) else {
                return false;
            };
            if root.load(Ordering::Acquire).is_null() {
                let leaf = os::reserve(core::mem::size_of::<Leaf>());
                if leaf.is_null() {
                    return false;
                }
                root.store(leaf.cast(), Ordering::Release);
            }
        }
        true
    }

    /// Records `s` for page `page` (whose leaf exists). Under the page heap's lock.
    #[inline]
    pub fn set(&self, page: usize, s: *mut Span) {
        let leaf = self.root[page >> LEAF_BITS].load(Ordering::Acquire);
        debug_assert!(!leaf.is_null());
        // SAFETY: `ensure` created the leaf before any page in it was handed out.
        unsafe { (*leaf)[page & (LEAF_LEN - 1)].store(s, Ordering::Release) }
    }

    /// Records `s` for its first and last page.
    pub fn set_ends(&self, s: &Span, sp: *mut Span) {
        self.set(s.page, sp);
        self.set(s.page + s.npages - 1, sp);
    }

    /// Records `s` for every page.
    pub fn set_all(&self, s: &Span, sp: *mut Span) {
        for p in s.page..s.page + s.npages {
            self.set(p, sp);
        }
    }
}

/// The page heap proper; lives under the heap's lock. All-zero is a valid
/// empty heap except `scavenge_threshold`, which the heap sets at creation.
pub(crate) struct PageHeap {
    /// `free[0]` resident runs, `free[1]` released runs; index n = exactly n
    /// pages (n <= 128), index 0 = longer runs.
    free: [[SpanList; EXACT_LISTS + 1]; 2],
    /// One bit per list of `free`: set while the list is not empty, so the
    /// search for a run skips empty lists with a count-trailing-zeros.
    nonempty: [[u64; 3]; 2],
    frontier: usize,
    frontier_end: usize,
    meta_free: *mut Span,
    meta_bump: usize,
    meta_end: usize,
    /// Bytes reserved from the OS for objects (arenas).
    pub reserved: usize,
    /// Bytes reserved for metadata (spans, page map leaves are not counted).
    pub meta_bytes: usize,
    /// Pages in spans in use (small-object spans and large objects).
    pub in_use_pages: usize,
    /// Pages on the free lists: `[resident, released]`.
    pub free_pages: [usize; 2],
    /// Idle resident bytes kept before the scavenger releases the rest.
    pub scavenge_threshold: usize,
    /// Spans handed out (to central lists or large objects).
    pub span_allocs: u64,
    /// Arenas reserved from the OS.
    pub os_reservations: u64,
    /// Bytes given back with madvise, ever.
    pub released_total: u64,
    /// Scavenger runs that released something.
    pub scavenges: u64,
    /// Large objects (see `large.rs`).
    pub large: super::large::LargeCounters,
}

// SAFETY: the raw pointers are owned by the heap and only used under its lock.
unsafe impl Send for PageHeap {}

impl PageHeap {
    /// Bytes from the OS that are not resident: released runs plus the untouched frontier.
    pub fn released_bytes(&self) -> usize {
        self.free_pages[1] * PAGE_SIZE + (self.frontier_end - self.frontier)
    }

    /// Idle bytes: reserved but not in spans in use.
    pub fn idle_bytes(&self) -> usize {
        self.reserved - self.in_use_pages * PAGE_SIZE
    }

    fn alloc_meta(&mut self) -> *mut Span {
        let s = if !self.meta_free.is_null() {
            let s = self.meta_free;
            // SAFETY: spans on the metadata free list are valid, unused Span memory.
            self.meta_free = unsafe { (*s).next };
            s
        } else {
            let size = core::mem::size_of::<Span>();
            if self.meta_bump + size > self.meta_end {
                let chunk = os::reserve(META_CHUNK);
                if chunk.is_null() {
                    return ptr::null_mut();
                }
                self.meta_bytes += META_CHUNK;
                self.meta_bump = chunk as usize;
                self.meta_end = chunk as usize + META_CHUNK;
            }
            let s = self.meta_bump as *mut Span;
            self.meta_bump += size;
            s
        };
        // SAFETY: s points to Span-sized, Span-aligned memory we own; all-zero
        // is a valid Span (null pointers, zero counts, state Unused).
        unsafe { ptr::write_bytes(s, 0, 1) };
        s
    }

    fn free_meta(&mut self, s: *mut Span) {
        // SAFETY: s is metadata no list or page map entry uses any more
        // (stale page map entries only read it and check its state).
        unsafe {
            (*s).state = SpanState::Unused;
            (*s).next = self.meta_free;
        }
        self.meta_free = s;
    }

    fn list_index(npages: usize) -> usize {
        if npages <= EXACT_LISTS {
            npages
        } else {
            0
        }
    }

    fn list_push(&mut self, rel: usize, idx: usize, s: *mut Span) {
        // SAFETY: s is a free run on no list.
        unsafe { self.free[rel][idx].push(s) };
        self.nonempty[rel][idx / 64] |= 1 << (idx % 64);
    }

    fn list_remove(&mut self, rel: usize, idx: usize, s: *mut Span) {
        // SAFETY: s is on this list.
        unsafe { self.free[rel][idx].remove(s) };
        if self.free[rel][idx].is_empty() {
            self.nonempty[rel][idx / 64] &= !(1 << (idx % 64));
        }
    }

    /// The first non-empty exact list at index `n` or above, if any.
    fn first_nonempty(&self, rel: usize, n: usize) -> Option<usize> {
        let mut word = n / 64;
        let mut bits = self.nonempty[rel][word] & (!0u64 << (n % 64));
        loop {
            if bits != 0 {
                return Some(word * 64 + bits.trailing_zeros() as usize);
            }
            word += 1;
            if word == 3 {
                return None;
            }
            bits = self.nonempty[rel][word];
        }
    }

    /// Puts a free run on its list, merging it with free neighbours in the same state.
    fn insert_free(&mut self, map: &PageMap, s: *mut Span) {
        // SAFETY: s is valid metadata owned by the heap; neighbours found in
        // the page map are valid metadata (never unmapped) checked by state and bounds.
        unsafe {
            (*s).state = SpanState::Free;
            let rel = (*s).released as usize;
            if (*s).page > 0 {
                let left = map.get_page((*s).page - 1);
                if !left.is_null()
                    && (*left).state == SpanState::Free
                    && (*left).released == (*s).released
                    && (*left).page + (*left).npages == (*s).page
                {
                    self.take_free(left);
                    (*s).page = (*left).page;
                    (*s).npages += (*left).npages;
                    (*s).zeroed &= (*left).zeroed;
                    self.free_meta(left);
                }
            }
            let right = map.get_page((*s).page + (*s).npages);
            if !right.is_null()
                && (*right).state == SpanState::Free
                && (*right).released == (*s).released
                && (*right).page == (*s).page + (*s).npages
            {
                self.take_free(right);
                (*s).npages += (*right).npages;
                (*s).zeroed &= (*right).zeroed;
                self.free_meta(right);
            }
            map.set_ends(&*s, s);
            self.list_push(rel, Self::list_index((*s).npages), s);
            self.free_pages[rel] += (*s).npages;
        }
    }

    /// Removes a free run from its list.
    fn take_free(&mut self, s: *mut Span) {
        // SAFETY: s is a free span on the list its state and length name.
        unsafe {
            let rel = (*s).released as usize;
            self.list_remove(rel, Self::list_index((*s).npages), s);
            self.free_pages[rel] -= (*s).npages;
        }
    }

    /// The smallest free run of at least `n` pages, resident runs first.
    fn find_free(&self, n: usize) -> *mut Span {
        for (rel, lists) in self.free.iter().enumerate() {
            if n <= EXACT_LISTS {
                if let Some(i) = self.first_nonempty(rel, n) {
                    return lists[i].head;
                }
            }
            let mut best: *mut Span = ptr::null_mut();
            let mut s = lists[0].head;
            while !s.is_null() {
                // SAFETY: spans on a free list are valid.
                unsafe {
                    if (*s).npages >= n && (best.is_null() || (*s).npages < (*best).npages) {
                        best = s;
                    }
                    s = (*s).next;
                }
            }
            if !best.is_null() {
                return best;
            }
        }
        ptr::null_mut()
    }

    /// A new span of `n` pages cut from the frontier, growing the heap if needed.
    fn carve_frontier(&mut self, map: &PageMap, n: usize) -> *mut Span {
        let bytes = n * PAGE_SIZE;
        if self.frontier_end - self.frontier < bytes {
            let size = bytes.div_ceil(ARENA_BYTES) * ARENA_BYTES;
            let arena = os::reserve(size) as usize;
            if arena == 0 || !map.ensure(arena / PAGE_SIZE, size / PAGE_SIZE) {
                return ptr::null_mut();
            }
            self.reserved += size;
            self.os_reservations += 1;
            // The rest of the old arena becomes an ordinary released free run.
            if self.frontier_end > self.frontier {
                let rest = self.alloc_meta();
                if !rest.is_null() {
                    // SAFETY: rest is fresh metadata we own.
                    unsafe {
                        (*rest).page = self.frontier / PAGE_SIZE;
                        (*rest).npages = (self.frontier_end - self.frontier) / PAGE_SIZE;
                        (*rest).released = true;
                        (*rest).zeroed = true;
                    }
                    // Counted as released while it was frontier; stays released.
                    self.frontier = self.frontier_end;
                    self.insert_free(map, rest);
                }
            }
            self.frontier = arena;
            self.frontier_end = arena + size;
        }
        let s = self.alloc_meta();
        if s.is_null() {
            return s;
        }
        // SAFETY: s is fresh metadata we own.
        unsafe {
            (*s).page = self.frontier / PAGE_SIZE;
            (*s).npages = n;
            (*s).released = true;
            (*s).zeroed = true;
        }
        self.frontier += bytes;
        // Not on a list yet: account it as a released free run so `split` can
        // treat it like one.
        self.free_pages[1] += n;
        s
    }

    /// Cuts `[page, page + n)` off the front of free (unlisted) run `s` as a new free run.
    fn split_front(&mut self, map: &PageMap, s: *mut Span, n: usize) -> bool {
        let front = self.alloc_meta();
        if front.is_null() {
            return false;
        }
        // SAFETY: s is an unlisted run we own; front is fresh metadata.
        unsafe {
            (*front).page = (*s).page;
            (*front).npages = n;
            (*front).released = (*s).released;
            (*front).zeroed = (*s).zeroed;
            (*s).page += n;
            (*s).npages -= n;
            let rel = (*s).released as usize;
            self.free_pages[rel] -= n;
        }
        self.insert_free(map, front);
        true
    }

    /// Cuts the pages after the first `n` off unlisted run `s` as a new free run.
    fn split_back(&mut self, map: &PageMap, s: *mut Span, n: usize) -> bool {
        // SAFETY: s is an unlisted run we own.
        let extra = unsafe { (*s).npages - n };
        if extra == 0 {
            return true;
        }
        let back = self.alloc_meta();
        if back.is_null() {
            return false;
        }
        // SAFETY: as above; back is fresh metadata.
        unsafe {
            (*back).page = (*s).page + n;
            (*back).npages = extra;
            (*back).released = (*s).released;
            (*back).zeroed = (*s).zeroed;
            (*s).npages = n;
            let rel = (*s).released as usize;
            self.free_pages[rel] -= extra;
        }
        self.insert_free(map, back);
        true
    }

    /// A run of `n` pages whose base is a multiple of `align_pages` pages
    /// (a power of two), or null. The span comes back unlisted with state
    /// `Large`; the caller sets its final state and page map entries. `zeroed` says
    /// whether its memory is known to be zero.
    pub fn alloc_span(&mut self, map: &PageMap, n: usize, align_pages: usize) -> *mut Span {
        let Some(need) = n.checked_add(align_pages - 1) else {
            return ptr::null_mut();
        };
        if need > (os::ADDRESS_LIMIT / PAGE_SIZE) {
            return ptr::null_mut();
        }
        let mut s = self.find_free(need);
        if s.is_null() {
            s = self.carve_frontier(map, need);
            if s.is_null() {
                return s;
            }
        } else {
            // Still counted in free_pages until the end of this function.
            // SAFETY: s is a listed free run.
            unsafe {
                let rel = (*s).released as usize;
                self.list_remove(rel, Self::list_index((*s).npages), s);
            }
        }
        // SAFETY: s is an unlisted run we own.
        unsafe {
            // Not `Free` any more: the pieces split off below must not merge back into it.
            (*s).state = SpanState::Large;
            // align_pages is a power of two: mask, no division.
            let aligned = ((*s).page + align_pages - 1) & !(align_pages - 1);
            let front = aligned - (*s).page;
            if front > 0 && !self.split_front(map, s, front) {
                self.give_back_unlisted(map, s);
                return ptr::null_mut();
            }
            if !self.split_back(map, s, n) {
                self.give_back_unlisted(map, s);
                return ptr::null_mut();
            }
            let rel = (*s).released as usize;
            self.free_pages[rel] -= n;
            self.in_use_pages += n;
            self.span_allocs += 1;
        }
        s
    }

    fn give_back_unlisted(&mut self, map: &PageMap, s: *mut Span) {
        // SAFETY: s is an unlisted free run still counted in free_pages.
        unsafe {
            let rel = (*s).released as usize;
            self.free_pages[rel] -= (*s).npages;
        }
        self.insert_free(map, s);
    }

    /// Returns a span in use to the free lists, then runs the scavenger if
    /// more idle resident memory than the threshold is kept.
    pub fn free_span(&mut self, map: &PageMap, s: *mut Span) {
        // SAFETY: s is a span in use that its owner gives back.
        unsafe {
            self.in_use_pages -= (*s).npages;
            (*s).released = false;
            (*s).zeroed = false;
        }
        self.insert_free(map, s);
        if self.free_pages[0] * PAGE_SIZE > self.scavenge_threshold {
            self.scavenge(map, self.scavenge_threshold);
        }
    }

    /// Releases resident free runs, longest first, until at most `keep`
    /// idle resident bytes remain. Returns the bytes released.
    pub fn scavenge(&mut self, map: &PageMap, keep: usize) -> usize {
        let mut released = 0;
        while self.free_pages[0] * PAGE_SIZE > keep {
            let mut s = self.free[0][0].head;
            if s.is_null() {
                s = match self.free[0][1..].iter().rev().find(|l| !l.is_empty()) {
                    Some(l) => l.head,
                    None => break,
                };
            }
            self.take_free(s);
            // SAFETY: s is a free run no one uses; releasing its pages is safe.
            unsafe {
                os::release((*s).base() as *mut u8, (*s).bytes());
                released += (*s).bytes();
                (*s).released = true;
                (*s).zeroed = true;
            }
            self.insert_free(map, s);
        }
        if released > 0 {
            self.released_total += released as u64;
            self.scavenges += 1;
        }
        released
    }

    /// Number of free runs on the lists (for tests of coalescing).
    #[cfg(test)]
    pub fn free_runs(&self) -> usize {
        let mut n = 0;
        for lists in &self.free {
            for l in lists {
                let mut s = l.head;
                while !s.is_null() {
                    n += 1;
                    // SAFETY: listed spans are valid.
                    s = unsafe { (*s).next };
                }
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zeroed page map and page heap in OS memory (the map is 1 MiB).
    fn fresh() -> (&'static PageMap, &'static mut PageHeap) {
        let m = os::reserve(core::mem::size_of::<PageMap>().next_multiple_of(PAGE_SIZE));
        let h = os::reserve(core::mem::size_of::<PageHeap>().next_multiple_of(PAGE_SIZE));
        // SAFETY: fresh zeroed mappings; all-zero is a valid PageMap and PageHeap.
        unsafe { (&*(m as *const PageMap), &mut *(h as *mut PageHeap)) }
    }

    #[test]
    fn runs_split_coalesce_and_map_their_ends() {
        let (map, h) = fresh();
        h.scavenge_threshold = usize::MAX;
        let a = h.alloc_span(map, 3, 1);
        let b = h.alloc_span(map, 5, 1);
        let c = h.alloc_span(map, 2, 1);
        // SAFETY: the spans are valid and ours.
        unsafe {
            assert_eq!((*b).page, (*a).page + 3);
            assert_eq!((*c).page, (*b).page + 5);
            assert!((*a).zeroed);
            assert_eq!(h.in_use_pages, 10);
            assert_eq!(h.reserved, ARENA_BYTES);
            h.free_span(map, a);
            h.free_span(map, c);
            assert_eq!(h.free_runs(), 2);
            h.free_span(map, b); // merges with both neighbours
            assert_eq!(h.free_runs(), 1);
            assert_eq!(h.free_pages[0], 10);
            // A 7-page request reuses the merged 8-page run's front.
            let d = h.alloc_span(map, 7, 1);
            assert!(!(*d).zeroed);
            assert_eq!(h.free_pages[0], 3);
            h.free_span(map, d);
            assert_eq!(h.free_runs(), 1);
            assert_eq!(h.in_use_pages, 0);
        }
    }

    #[test]
    fn aligned_runs_and_scavenging_release_resident_pages() {
        let (map, h) = fresh();
        h.scavenge_threshold = usize::MAX;
        let _pad = h.alloc_span(map, 1, 1);
        let s = h.alloc_span(map, 4, 8);
        // SAFETY: the span is valid and ours.
        unsafe {
            assert_eq!((*s).page % 8, 0);
            let p = (*s).base() as *mut u8;
            p.write_bytes(7, (*s).bytes());
            h.free_span(map, s);
        }
        let resident_before = h.reserved - h.released_bytes();
        let got = h.scavenge(map, 0);
        assert_eq!(got, 4 * PAGE_SIZE);
        assert_eq!(h.free_pages[0], 0);
        assert_eq!(resident_before - (h.reserved - h.released_bytes()), got);
        // Released pages come back zeroed and are marked so.
        let t = h.alloc_span(map, 4, 8);
        // SAFETY: the span is valid and ours.
        unsafe {
            assert!((*t).zeroed);
            assert_eq!(*((*t).base() as *const u8), 0);
        }
    }

    #[test]
    fn threshold_triggers_the_scavenger_on_free() {
        let (map, h) = fresh();
        h.scavenge_threshold = 2 * PAGE_SIZE;
        let s = h.alloc_span(map, 4, 1);
        h.free_span(map, s);
        assert_eq!(h.free_pages[0], 0);
        assert_eq!(h.scavenges, 1);
        assert!(h.alloc_span(map, usize::MAX / 2, 1).is_null());
    }
}
