//! Central lists (Go's `mcentral`): per size class, the spans with free slots,
//! and the batches of objects that move to and from thread caches.
//!
//! Part of the allocator described in [`crate::allocator`] (read its header first).
//!
//! Each class has one [`CentralList`] behind its own lock, padded to a cache
//! line (the lock type is 64-byte aligned), so threads working on different
//! classes never contend. A thread cache that runs dry asks for a *batch*
//! (about 32 KiB worth, 2 to 128 objects, see `span.rs`) and gets it as a
//! ready-linked chain; a thread cache that holds too many gives a batch back.
//!
//! The fact a reader gets wrong: a span that is completely in use is on *no*
//! list. Go keeps "full" span sets because its sweeper must visit them; here
//! a freed object finds its span through the page map, so the central list
//! only tracks spans that can serve an allocation (`partial`), and a span
//! whose every object came back is returned to the page heap at once.
//!
//! Lock order: a class lock, then the page heap's (never the other way). A
//! span returned to the page heap may make the scavenger due; `release`
//! hands that back to its caller, which runs it after dropping the class
//! lock, so no `madvise` ever runs under a class lock. A new span may need a
//! new arena: the page heap maps it with its own lock dropped, but this
//! class's lock stays held meanwhile (`refill` runs under it): rare, an
//! arena is 64 MiB and a metadata chunk serves hundreds of spans.

use super::lock::SpinLock;
use super::page_heap::{self, PageHeap, PageMap, ScavengeDue};
use super::span::{Chain, ClassInfo, FreeObject, Span, SpanList, SpanState};

/// Partial spans a refill passes over because another cache is taking
/// from them, before it takes from any (see [`CentralList::refill`]).
pub(crate) const CUTTER_SCAN: u32 = 8;

/// The spans of one class that have free slots. All-zero is empty.
pub(crate) struct CentralList {
    partial: SpanList,
    /// Spans of this class currently owned by the central list (partial or full).
    pub spans: usize,
}

// SAFETY: the raw pointers are spans owned by this list, used under its lock.
unsafe impl Send for CentralList {}

impl CentralList {
    /// Takes up to `want` objects for class `class` for the thread cache at
    /// address `me` (0: the direct path, no cache, which takes from any
    /// span), getting new spans from the page heap as needed. The chain is
    /// shorter (possibly empty) only if the OS refused memory.
    ///
    /// The fact a reader gets wrong: the first span on the list is not
    /// always the one used. Each span remembers the cache that last took
    /// objects from it (its `cutter`), and a refill passes over spans another
    /// cache is taking from, up to [`CUTTER_SCAN`] of them; past that any
    /// span will do, so many threads on one class cannot make the list grow
    /// a span per refill. Without it, two threads refilling in turns got
    /// neighbouring objects of one span, and each thread sweeping its own
    /// objects made the CPU's prefetcher pull in the other thread's lines,
    /// which that thread then had to take back: two threads of 64 B
    /// alloc+free pairs on one `GoAlloc` reached 1.2× one thread's
    /// throughput, against 2.0× on two instances (a scratch driver on this
    /// project's 2-core VM); with the cutter, 1.5× in that driver and 2.04×
    /// in the allocator bench's shared-cache-line row (the measuring run at
    /// 78af86c). (Go and mimalloc get
    /// the same effect by giving each thread whole spans or pages.)
    pub fn refill(
        &mut self,
        class: usize,
        info: &ClassInfo,
        map: &PageMap,
        pages: &SpinLock<PageHeap>,
        want: u32,
        me: usize,
    ) -> Chain {
        let mut chain = Chain::EMPTY;
        let mut s = self.partial.head;
        let mut scanned = 0;
        while chain.len < want {
            if s.is_null() {
                s = self.grow(class, info, map, pages);
                if s.is_null() {
                    break;
                }
            }
            // SAFETY: s is a partial span of this class, owned by us under the lock.
            unsafe {
                let c = (*s).cutter;
                let next = (*s).next;
                if me != 0 && c != 0 && c != me && scanned < CUTTER_SCAN {
                    s = next;
                    scanned += 1;
                    continue;
                }
                (*s).cutter = me;
                (*s).take(want - chain.len, &mut chain);
                if (*s).is_full() {
                    self.partial.remove(s);
                    (*s).on_partial = false;
                }
                if chain.len < want {
                    // s gave all it may give this cache: the next span.
                    s = next;
                    scanned += 1;
                }
            }
        }
        chain
    }

    /// A new span for this class from the page heap, on the partial list.
    #[cold]
    fn grow(
        &mut self,
        class: usize,
        info: &ClassInfo,
        map: &PageMap,
        pages: &SpinLock<PageHeap>,
    ) -> *mut Span {
        // The page heap maps memory with its lock dropped (the class lock stays held).
        let (_heap, s) = page_heap::alloc_span(pages, map, info.pages, 1);
        if s.is_null() {
            return s;
        }
        // SAFETY: s is a fresh run handed to us; we map all its pages to it
        // under the heap lock before any object of it escapes.
        unsafe {
            (*s).init_small(class, info);
            map.set_all(&*s, s);
            self.partial.push(s);
            (*s).on_partial = true;
        }
        self.spans += 1;
        s
    }

    /// Gives back up to `n` objects from the list at `*list` (linked
    /// through their first word, null-terminated) to their spans, and
    /// leaves `*list` pointing at the rest; spans that become empty go back
    /// to the page heap. Returns how many it took (fewer than `n` only if
    /// the list was shorter) and whether the scavenger is due: the caller
    /// runs it once it has dropped this list's lock.
    ///
    /// Objects freed together usually share a span, so the walk cuts the
    /// list into runs of objects of one span and hands each run to its span
    /// at once: per object, one load of its link and a bounds check; per
    /// run, one page-map lookup and one update of the span.
    ///
    /// # Safety
    /// Every object on the list (up to `n`) is a slot of a span of this
    /// class in this heap, out of the user's hands.
    pub unsafe fn release_from(
        &mut self,
        list: &mut *mut FreeObject,
        n: u32,
        map: &PageMap,
        pages: &SpinLock<PageHeap>,
    ) -> (u32, ScavengeDue) {
        let mut due = ScavengeDue::NO;
        let mut left = n;
        let mut next = *list;
        while left > 0 && !next.is_null() {
            // SAFETY: the caller guarantees each object is a free slot of ours,
            // so its first word is the chain link and the page map has its span.
            unsafe {
                let first = next;
                let s = map.get(first as usize);
                debug_assert!(!s.is_null() && (*s).state == SpanState::Small);
                let lo = (*s).base();
                let hi = lo + (*s).bytes();
                let mut last = first;
                let mut k = 1;
                next = (*first).next;
                // The walk is a chain of dependent loads (each link gives
                // the next address), which the CPU cannot overlap. Objects
                // freed in a row usually sit at a fixed stride, so first
                // walk as if they did: the next object is guessed at the
                // first link's stride, the guess is checked against the
                // link, and while the guesses hold (the branch predicts
                // them) each load's address comes from an add, not from the
                // load before it. How many guesses fit in the span (and in
                // `left`) is worked out once, so this loop checks no bounds;
                // `opaque` keeps the compiler from replacing the guess by
                // the equal link.
                let step = (next as usize).wrapping_sub(first as usize) as isize;
                let room = if step > 0 {
                    (hi - 1 - first as usize) / step as usize
                } else if step < 0 {
                    (first as usize - lo) / step.unsigned_abs()
                } else {
                    0
                };
                let strided = room.min((left - 1) as usize) as u32;
                let mut i = 0;
                let mut broke = false;
                while i < strided {
                    last = next;
                    i += 1;
                    let guess = (next as usize).wrapping_add(step as usize);
                    let actual = (*next).next;
                    if actual as usize != guess {
                        next = actual;
                        broke = true;
                        break;
                    }
                    next = super::page_heap::opaque(guess) as *mut FreeObject;
                }
                k += i;
                // Where the stride broke, the rest of the run one link at a
                // time, each object checked against the span's bounds.
                if broke || strided == 0 {
                    while k < left && (next as usize).wrapping_sub(lo) < hi - lo {
                        last = next;
                        next = (*next).next;
                        k += 1;
                    }
                }
                left -= k;
                (*s).push_chain(first, last, k);
                if (*s).allocated == 0 {
                    if (*s).on_partial {
                        self.partial.remove(s);
                        (*s).on_partial = false;
                    }
                    self.spans -= 1;
                    map.clear_classes(&*s);
                    due = due.or(pages.lock().free_span(map, s));
                } else if !(*s).on_partial {
                    self.partial.push(s);
                    (*s).on_partial = true;
                }
            }
        }
        *list = next;
        (n - left, due)
    }
}
