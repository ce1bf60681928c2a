//! Spans (Go's `mspan`): runs of pages, and for small objects the slots cut
//! from them with an intrusive free list per span.
//!
//! Part of the allocator described in [`crate::allocator`] (read its header first).
//!
//! A span is a run of 8 KiB pages. The page heap owns it while it is free
//! (on a free list by length); a central list owns it while it holds small
//! objects of one class; a large object owns it outright. The `Span` struct
//! is metadata kept *outside* the span's memory (allocated from the page
//! heap's metadata chunks, like Go's `fixalloc`), found from any address by
//! the page map.
//!
//! The fact a reader gets wrong: Go's span tracks free slots with a bitmap
//! (`allocBits`, scanned 64 at a time through `allocCache` with
//! count-trailing-zeros) because Go frees *by sweeping*: the garbage
//! collector flips many bits at once and the allocator then scans for zeros.
//! Rust frees one object at a time, in any order, so we keep an *intrusive
//! free list* per span (each free slot's first word points to the next free
//! slot, as tcmalloc does): freeing is one store, allocating is one load, and
//! no bitmap scan is needed. Slots never handed out are not on the list; a
//! bump index (`bump`) hands them out in address order, so a fresh span is
//! touched only as far as it is used. A debug build also keeps one bit per
//! slot (`live`) to catch double frees and foreign pointers.

use crate::size_class::{GO, MAX_SMALL_SIZE, NUM_SIZE_CLASSES, PAGE_SIZE};
use core::ptr;
#[cfg(debug_assertions)]
use core::sync::atomic::AtomicU64;

/// Index of the tiny allocator's 16-byte blocks in the per-class arrays (one
/// past Go's last class): tiny blocks live in spans of their own.
pub(crate) const TINY_CLASS: usize = NUM_SIZE_CLASSES;
/// Per-class arrays: class 0 (unused: large objects), Go's 67 classes, tiny blocks.
pub(crate) const NUM_CLASSES: usize = NUM_SIZE_CLASSES + 1;
/// Bytes at the start of a tiny span that hold one live-piece counter per block.
pub(crate) const TINY_HEADER: usize = 512;
/// Size of a tiny block.
pub(crate) const TINY_BLOCK: usize = 16;

/// What a central list needs to know about its class.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClassInfo {
    /// Bytes per object.
    pub size: usize,
    /// Pages per span.
    pub pages: usize,
    /// Objects per span.
    pub nelems: u32,
    /// Offset of the first object from the span's base.
    pub first: usize,
    /// Objects moved between a thread cache and the central list at once.
    pub batch: u32,
    /// Most objects a thread cache keeps (see `cache_max_for`).
    pub cache_max: u32,
}

/// Objects per batch: about 32 KiB worth, at least 2 and at most 128
/// (tcmalloc's `num_objects_to_move` caps at 32; Go moves a whole span at
/// once). See [`cache_max_for`] for how many a thread cache keeps.
const fn batch_for(size: usize) -> u32 {
    let n = 32 * 1024 / size;
    if n < 2 {
        2
    } else if n > 128 {
        128
    } else {
        n as u32
    }
}

/// Objects a thread cache keeps per class to start with: about 64 KiB
/// worth, at least two batches and at most 1,024. A list that overflows
/// grows this limit by a batch at a time, up to four times, within 1 MiB
/// per thread cache in all (`thread_cache.rs`, `check_free`). Small classes keep more than two of
/// their (capped) batches, so a loop that allocates and frees up to a
/// thousand small objects stays in the thread cache instead of moving them
/// through the central list every round; the bytes a thread holds per class
/// stay within 64 KiB (or two batches, for the classes above 16 KiB).
const fn cache_max_for(size: usize) -> u32 {
    let n = 64 * 1024 / size;
    let two_batches = 2 * batch_for(size) as usize;
    if n < two_batches {
        two_batches as u32
    } else if n > 1024 {
        1024
    } else {
        n as u32
    }
}

/// The per-class table, built from [`GO`] at start-up.
pub(crate) fn class_infos() -> [ClassInfo; NUM_CLASSES] {
    let mut t = [ClassInfo {
        size: 0,
        pages: 0,
        nelems: 0,
        first: 0,
        batch: 0,
        cache_max: 0,
    }; NUM_CLASSES];
    for (c, info) in t.iter_mut().enumerate().take(NUM_SIZE_CLASSES).skip(1) {
        let size = GO.size(c as u8);
        let pages = GO.pages(c as u8);
        *info = ClassInfo {
            size,
            pages,
            nelems: (pages * PAGE_SIZE / size) as u32,
            first: 0,
            batch: batch_for(size),
            cache_max: cache_max_for(size),
        };
    }
    t[TINY_CLASS] = ClassInfo {
        size: TINY_BLOCK,
        pages: 1,
        nelems: ((PAGE_SIZE - TINY_HEADER) / TINY_BLOCK) as u32,
        first: TINY_HEADER,
        batch: 32,
        cache_max: 64,
    };
    super::abort::check!(
        t[NUM_SIZE_CLASSES - 1].size == MAX_SMALL_SIZE,
        "internal error: the last class is not 32 KiB"
    );
    t
}

/// Who owns a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum SpanState {
    /// Metadata not describing any pages (in the metadata pool).
    Unused = 0,
    /// On the page heap's free lists.
    Free,
    /// Cut into small objects, owned by a central list.
    Small,
    /// One large object.
    Large,
}

/// A free slot: its first word links to the next free slot.
#[repr(C)]
pub(crate) struct FreeObject {
    pub next: *mut FreeObject,
}

/// A chain of free objects linked through their first word: what moves
/// between a span, a central list and a thread cache in one step. The
/// tail's own link is not part of the chain (whoever takes the chain
/// writes it), so building one never stores a terminator.
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

    /// Appends the `n` objects linked from `first` to `last`.
    ///
    /// # Safety
    /// `first..=last` are `n` linked free objects that belong to the caller.
    #[inline]
    unsafe fn append(&mut self, first: *mut FreeObject, last: *mut FreeObject, n: u32) {
        if self.head.is_null() {
            self.head = first;
        } else {
            // SAFETY: a non-empty chain's tail is a free object we own.
            unsafe { (*self.tail).next = first };
        }
        self.tail = last;
        self.len += n;
    }
}

/// Metadata of one run of pages.
///
/// `!Unpin` ([`core::marker::PhantomPinned`]) for the reason `ThreadCache`
/// is: its owner (a central list, the page heap) works on it through
/// `&mut Span` while a free without a size or a debug check on another
/// thread reads its state and class (through raw pointers, see [`owner`]);
/// a `&mut` to a `!Unpin` type claims no exclusive access.
#[repr(C)]
pub(crate) struct Span {
    // Page heap fields (under the page heap's lock).
    /// First page number (address >> 13).
    pub page: usize,
    /// Pages in the run.
    pub npages: usize,
    pub state: SpanState,
    /// Free span whose pages were given back to the OS (`madvise`).
    pub released: bool,
    /// The pages are known to read as zero (fresh from the OS or released).
    pub zeroed: bool,
    /// Links on the one list the span is on (page heap free list or central partial list).
    pub prev: *mut Span,
    pub next: *mut Span,
    /// Free runs: the page heap's epoch when the latest of its pages was
    /// freed (`PageHeap::epochs`); the scavenger gives back runs freed
    /// longer ago first (`page_heap.rs`).
    pub freed_epoch: u64,
    // Small-object fields (under the class's central lock).
    pub class: u8,
    pub on_partial: bool,
    /// Objects out of the span (in thread caches or in use).
    pub allocated: u32,
    /// Slots never handed out start at this index.
    pub bump: u32,
    pub nelems: u32,
    pub size: usize,
    /// Address of slot 0.
    pub first: usize,
    pub free: *mut FreeObject,
    /// The thread cache (its address; 0: none yet) that last took objects
    /// from this span: the central list gives the span to no other cache
    /// while it has other spans to offer (see `CentralList::refill`).
    pub cutter: usize,
    /// Debug builds: one bit per slot, set while the slot is in the user's hands.
    #[cfg(debug_assertions)]
    pub live: [AtomicU64; 16],
    /// Debug builds, tiny spans: per block, one bit per byte offset where a
    /// live piece starts (catches a piece freed twice, `tiny.rs`).
    #[cfg(debug_assertions)]
    pub pieces: [core::sync::atomic::AtomicU16; TINY_BLOCKS],
    pub _shared: core::marker::PhantomPinned,
}

/// Blocks in a tiny span (one page after its counter header).
#[cfg(debug_assertions)]
pub(crate) const TINY_BLOCKS: usize = (PAGE_SIZE - TINY_HEADER) / TINY_BLOCK;

/// The state and class of the span at `s`, read field by field through the
/// raw pointer. Readers that do not own a span (the pointer-only free, the
/// debug checks) use this and [`base_of`] instead of a `&Span`, which would
/// alias the `&mut Span` its owner (a central list, the page heap) may hold.
///
/// # Safety
/// `s` is span metadata (from the page map); for the answer to mean
/// anything, the caller holds a live object of the span (then neither field
/// changes).
#[inline(always)]
pub(crate) unsafe fn owner(s: *const Span) -> (SpanState, usize) {
    // SAFETY: the caller passes span metadata, which is never unmapped.
    unsafe {
        (
            ptr::addr_of!((*s).state).read(),
            ptr::addr_of!((*s).class).read() as usize,
        )
    }
}

/// Base address of the span at `s`, through the raw pointer (see [`owner`]).
///
/// # Safety
/// As for [`owner`].
#[inline]
pub(crate) unsafe fn base_of(s: *const Span) -> usize {
    // SAFETY: as in `owner`.
    unsafe { ptr::addr_of!((*s).page).read() * PAGE_SIZE }
}

/// Bytes of the span at `s`, through the raw pointer (see [`owner`]).
///
/// # Safety
/// As for [`owner`].
#[inline]
pub(crate) unsafe fn bytes_of(s: *const Span) -> usize {
    // SAFETY: as in `owner`.
    unsafe { ptr::addr_of!((*s).npages).read() * PAGE_SIZE }
}

impl Span {
    /// Base address of the run.
    #[inline]
    pub fn base(&self) -> usize {
        self.page * PAGE_SIZE
    }

    /// Bytes in the run.
    #[inline]
    pub fn bytes(&self) -> usize {
        self.npages * PAGE_SIZE
    }

    /// Makes this in-use span hold objects of `class`.
    pub fn init_small(&mut self, class: usize, info: &ClassInfo) {
        self.state = SpanState::Small;
        self.class = class as u8;
        self.on_partial = false;
        self.allocated = 0;
        self.bump = 0;
        self.nelems = info.nelems;
        self.size = info.size;
        self.first = self.base() + info.first;
        self.free = ptr::null_mut();
        self.cutter = 0;
        #[cfg(debug_assertions)]
        for w in &self.live {
            w.store(0, core::sync::atomic::Ordering::Relaxed);
        }
        #[cfg(debug_assertions)]
        for w in &self.pieces {
            w.store(0, core::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Moves up to `n` free slots onto the end of `chain`, in bulk: a
    /// prefix of the free list (walked, one load per object), then
    /// never-used slots, linked here in address order (one store per
    /// object). Returns how many it moved (fewer than `n` only when the
    /// span ran out). What a refill costs per object is this loop: the
    /// span's counters change once per call, not once per object.
    pub fn take(&mut self, n: u32, chain: &mut Chain) -> u32 {
        let mut got = 0;
        if !self.free.is_null() && n > 0 {
            let first = self.free;
            let mut last = first;
            got = 1;
            // SAFETY: every object on the span's free list is a free slot of
            // this span whose first word links to the next one (null ends it).
            unsafe {
                while got < n {
                    let next = (*last).next;
                    if next.is_null() {
                        break;
                    }
                    last = next;
                    got += 1;
                }
                self.free = (*last).next;
                chain.append(first, last, got);
            }
        }
        let fresh = (n - got).min(self.nelems - self.bump);
        if fresh > 0 {
            let first = self.first + self.bump as usize * self.size;
            let last = first + (fresh as usize - 1) * self.size;
            let mut o = first;
            while o < last {
                // SAFETY: slots `bump..bump + fresh` lie inside the span and
                // were never handed out: their first words are ours to write.
                unsafe { (*(o as *mut FreeObject)).next = (o + self.size) as *mut FreeObject };
                o += self.size;
            }
            // SAFETY: the slots just linked are free and belong to the caller now.
            unsafe { chain.append(first as *mut FreeObject, last as *mut FreeObject, fresh) };
            self.bump += fresh;
            got += fresh;
        }
        self.allocated += got;
        got
    }

    /// Puts `n` slots back at once: the chain linked from `first` to `last`
    /// (whose own link this overwrites).
    ///
    /// # Safety
    /// The chain's objects are slots of this span that were taken and are
    /// no longer used.
    #[inline]
    pub unsafe fn push_chain(&mut self, first: *mut FreeObject, last: *mut FreeObject, n: u32) {
        // SAFETY: the caller gives us the slots; last's first word is ours to write.
        unsafe { (*last).next = self.free };
        self.free = first;
        self.allocated -= n;
    }

    /// No free slot left.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.free.is_null() && self.bump == self.nelems
    }
}

/// Index of the slot holding `addr` in the span at `s`, if `addr` is
/// exactly a slot's start (for the debug checks). Reads the fields through
/// the raw pointer (see [`owner`]): the central list may hold `&mut` to the
/// span's free list meanwhile.
///
/// # Safety
/// `s` is span metadata (from the page map).
#[cfg(any(debug_assertions, test))]
pub(crate) unsafe fn slot_of(s: *const Span, addr: usize) -> Option<usize> {
    // SAFETY: span metadata is never unmapped; only fields that do not
    // change while a slot of the span is live are read.
    let (state, class, first, nelems, size) = unsafe {
        (
            ptr::addr_of!((*s).state).read(),
            ptr::addr_of!((*s).class).read(),
            ptr::addr_of!((*s).first).read(),
            ptr::addr_of!((*s).nelems).read(),
            ptr::addr_of!((*s).size).read(),
        )
    };
    if state != SpanState::Small || addr < first {
        return None;
    }
    let off = addr - first;
    let idx = if class as usize == TINY_CLASS {
        off / TINY_BLOCK
    } else {
        GO.object_index(class, off)
    };
    (idx < nelems as usize && idx * size == off).then_some(idx)
}

/// The debug live bit of slot `idx` of the span at `s` (an atomic reached
/// through the raw pointer, see [`owner`]).
///
/// # Safety
/// `s` is span metadata; `idx < 1024`.
#[cfg(debug_assertions)]
pub(crate) unsafe fn live_word(s: *const Span, idx: usize) -> &'static AtomicU64 {
    // SAFETY: span metadata is never unmapped; the words are atomics.
    unsafe { &(*ptr::addr_of!((*s).live))[idx / 64] }
}

/// A doubly linked list of spans through their `prev`/`next` fields.
/// All-zero is the empty list.
pub(crate) struct SpanList {
    pub head: *mut Span,
}

impl SpanList {
    pub fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// # Safety
    /// `s` is valid and on no list.
    pub unsafe fn push(&mut self, s: *mut Span) {
        // SAFETY: s and the current head are valid spans we own under the lock.
        unsafe {
            (*s).prev = ptr::null_mut();
            (*s).next = self.head;
            if !self.head.is_null() {
                (*self.head).prev = s;
            }
        }
        self.head = s;
    }

    /// # Safety
    /// `s` is valid and on this list.
    pub unsafe fn remove(&mut self, s: *mut Span) {
        // SAFETY: s is on this list, so its neighbours are valid spans on it.
        unsafe {
            let (p, n) = ((*s).prev, (*s).next);
            if p.is_null() {
                self.head = n;
            } else {
                (*p).next = n;
            }
            if !n.is_null() {
                (*n).prev = p;
            }
            (*s).prev = ptr::null_mut();
            (*s).next = ptr::null_mut();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_table_matches_go_and_tiny_fits_its_header() {
        let t = class_infos();
        assert_eq!(t[1].size, 8);
        assert_eq!(t[1].nelems, 1024);
        assert_eq!(t[67].size, 32768);
        assert_eq!(t[67].batch, 2);
        assert_eq!(t[1].batch, 128);
        assert_eq!(t[GO.class_of(1024) as usize].batch, 32);
        // Thread caches: about 64 KiB per class, at least two batches, at most 1,024.
        assert_eq!(t[GO.class_of(64) as usize].cache_max, 1024);
        assert_eq!(t[GO.class_of(256) as usize].cache_max, 256);
        assert_eq!(t[GO.class_of(1024) as usize].cache_max, 64);
        assert_eq!(t[67].cache_max, 4);
        // One counter byte per tiny block fits in the header.
        assert!(t[TINY_CLASS].nelems as usize <= TINY_HEADER);
        assert_eq!(
            t[TINY_CLASS].first + t[TINY_CLASS].nelems as usize * 16,
            PAGE_SIZE
        );
    }

    /// One slot from `s` through [`Span::take`] (null if none is left).
    fn pop(s: &mut Span) -> *mut FreeObject {
        let mut c = Chain::EMPTY;
        if s.take(1, &mut c) == 1 {
            c.head
        } else {
            ptr::null_mut()
        }
    }

    #[test]
    fn span_takes_in_address_order_then_reuses_freed_slots() {
        let mut mem = vec![0u64; PAGE_SIZE / 8 * 2];
        let base = (mem.as_mut_ptr() as usize + PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
        // SAFETY: an all-zero Span is a valid value (null pointers, zero counts).
        let mut s: Span = unsafe { core::mem::zeroed() };
        s.page = base / PAGE_SIZE;
        s.npages = 1;
        let info = class_infos()[GO.class_of(1024) as usize];
        s.init_small(GO.class_of(1024) as usize, &info);
        let a = pop(&mut s);
        let b = pop(&mut s);
        assert_eq!(a as usize, base);
        assert_eq!(b as usize, base + 1024);
        // SAFETY: s is a valid span.
        assert_eq!(unsafe { slot_of(&s, b as usize) }, Some(1));
        // SAFETY: as above.
        assert_eq!(unsafe { slot_of(&s, b as usize + 8) }, None);
        // SAFETY: a and b were taken from s and are not used.
        unsafe {
            s.push_chain(a, a, 1);
            s.push_chain(b, b, 1);
        }
        assert_eq!(s.allocated, 0);
        // A bulk take: the two freed slots (last freed first), then fresh
        // ones in address order, all linked.
        let mut c = Chain::EMPTY;
        assert_eq!(s.take(4, &mut c), 4);
        let mut got = vec![c.head as usize];
        let mut o = c.head;
        for _ in 1..4 {
            // SAFETY: the chain's objects are linked slots of s.
            o = unsafe { (*o).next };
            got.push(o as usize);
        }
        assert_eq!(got, [b as usize, a as usize, base + 2048, base + 3072]);
        assert_eq!(c.tail as usize, base + 3072);
        // The rest of the span, then nothing.
        let mut c = Chain::EMPTY;
        assert_eq!(s.take(100, &mut c), 4);
        assert_eq!(
            (c.head as usize, c.tail as usize),
            (base + 4096, base + 7168)
        );
        assert!(s.is_full());
        assert!(pop(&mut s).is_null());
        assert_eq!(s.allocated, 8);
    }
}
