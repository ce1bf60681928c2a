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
use super::span::{ClassInfo, FreeObject, Span, SpanList, SpanState};
use core::ptr;

/// The spans of one class that have free slots. All-zero is empty.
pub(crate) struct CentralList {
    partial: SpanList,
    /// Spans of this class currently owned by the central list (partial or full).
    pub spans: usize,
}

// SAFETY: the raw pointers are spans owned by this list, used under its lock.
unsafe impl Send for CentralList {}

/// A chain of free objects linked through their first word.
#[derive(Clone, Copy)]
pub(crate) struct Chain {
    pub head: *mut FreeObject,
    pub tail: *mut FreeObject,
    pub len: u32,
}

impl Chain {
    pub const EMPTY: Chain = Chain {
        head: ptr::null_mut(),
        tail: ptr::null_mut(),
        len: 0,
    };
}

impl CentralList {
    /// Takes up to `want` objects for class `class`, getting new spans from
    /// the page heap as needed. The chain is shorter (possibly empty) only
    /// if the OS refused memory.
    pub fn refill(
        &mut self,
        class: usize,
        info: &ClassInfo,
        map: &PageMap,
        pages: &SpinLock<PageHeap>,
        want: u32,
    ) -> Chain {
        let mut chain = Chain::EMPTY;
        while chain.len < want {
            let mut s = self.partial.head;
            if s.is_null() {
                s = self.grow(class, info, map, pages);
                if s.is_null() {
                    break;
                }
            }
            // SAFETY: s is a partial span of this class, owned by us under the lock.
            unsafe {
                while chain.len < want {
                    let o = (*s).pop();
                    if o.is_null() {
                        break;
                    }
                    (*o).next = ptr::null_mut();
                    if chain.head.is_null() {
                        chain.head = o;
                    } else {
                        (*chain.tail).next = o;
                    }
                    chain.tail = o;
                    chain.len += 1;
                }
                if (*s).is_full() {
                    self.partial.remove(s);
                    (*s).on_partial = false;
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

    /// Gives `n` objects starting at `head` (linked through their first word)
    /// back to their spans; spans that become empty go back to the page heap.
    /// Returns whether the scavenger is due: the caller runs it once it has
    /// dropped this list's lock.
    ///
    /// # Safety
    /// Every object on the chain is a slot of a span of this class in this
    /// heap, out of the user's hands.
    pub unsafe fn release(
        &mut self,
        mut head: *mut FreeObject,
        mut n: u32,
        map: &PageMap,
        pages: &SpinLock<PageHeap>,
    ) -> ScavengeDue {
        let mut due = ScavengeDue::NO;
        // Objects freed together usually share a span: look the span up only
        // when an object falls outside the last one.
        let (mut s, mut lo, mut hi): (*mut Span, usize, usize) = (ptr::null_mut(), 0, 0);
        while n > 0 {
            // SAFETY: the caller guarantees each object is a free slot of ours,
            // so its first word is the chain link and the page map has its span.
            unsafe {
                let o = head;
                head = (*o).next;
                n -= 1;
                let addr = o as usize;
                if addr < lo || addr >= hi {
                    s = map.get(addr);
                    lo = (*s).base();
                    hi = lo + (*s).bytes();
                }
                debug_assert!(!s.is_null() && (*s).state == SpanState::Small);
                (*s).push(o);
                if (*s).allocated == 0 {
                    if (*s).on_partial {
                        self.partial.remove(s);
                        (*s).on_partial = false;
                    }
                    self.spans -= 1;
                    map.clear_classes(&*s);
                    due = due.or(pages.lock().free_span(map, s));
                    (lo, hi) = (0, 0);
                } else if !(*s).on_partial {
                    self.partial.push(s);
                    (*s).on_partial = true;
                }
            }
        }
        due
    }
}
