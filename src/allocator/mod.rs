//! The allocator: Go's runtime design as a Rust `GlobalAlloc` (overview).
//!
//! Every component file starts by pointing back here. This header plays the
//! part of the comment at the top of Go's `runtime/malloc.go`.
//!
//! # The design, after Go
//!
//! The main allocator works in runs of pages. Small requests (up to 32 KiB)
//! are rounded up to one of Go's 67 size classes ([`crate::size_class`]), and
//! each class has its own set of spans (runs of 8 KiB pages cut into equal
//! slots). Requests under 16 bytes share 16-byte blocks (the tiny
//! allocator); larger ones get whole pages. The structures, from the thread
//! outward:
//!
//! | Go            | here                               | file              | locking |
//! |---------------|------------------------------------|-------------------|---------|
//! | `mcache`      | `ThreadCache`, per thread and instance | `thread_cache.rs` | none    |
//! | `mcentral`    | `CentralList`, per class           | `central_list.rs` | one spin lock per class, cache-line padded |
//! | `mheap`       | `PageHeap` + page map              | `page_heap.rs`    | one lock |
//! | `mspan`       | `Span`                             | `span.rs`         | owner's |
//! | tiny alloc    | `tiny.rs`                          | `tiny.rs`         | none to allocate, one atomic add to free |
//! | `allocLarge`  | `large.rs`                         | `large.rs`        | page heap's; none for a run the thread cached |
//! | `sysAlloc`    | `os.rs` (mmap / madvise)           | `os.rs`           | n/a |
//! | `MemStats`    | [`Stats`]                          | `stats.rs`        | summed on read |
//!
//! Allocating a small object of class *c*:
//! 1. Pop the head of the thread cache's list for *c* (no lock, no atomic
//!    read-modify-write). This is the fast path, inlined into the caller.
//! 2. If the list is empty, take a batch from the central list for *c*
//!    (lock *c*): objects from its partial spans.
//! 3. If the central list has no partial span, get a span of the class's
//!    page count from the page heap (lock the heap): a free run, else pages
//!    cut from the current arena.
//! 4. If the arena is used up, reserve a new one (64 MiB) from the OS.
//!
//! Freeing pushes the object on the calling thread's list for its class
//! (whichever thread allocated it); a list at its limit (about 64 KiB worth) gives one
//! batch back to the central list, which returns each object to its span
//! (found through the page map) and a span whose objects all came back to the
//! page heap. Free page runs merge with their neighbours, and the scavenger
//! gives idle pages above a threshold back to the OS with `madvise`.
//!
//! # Where it departs from Go, and why
//!
//! - **Explicit free.** Go never frees an object on request: its garbage
//!   collector sweeps spans and rebuilds their bitmaps. Rust calls `dealloc`
//!   with the pointer *and its layout*, so the class of a freed object comes
//!   from the layout (no lookup), and spans keep intrusive free lists instead
//!   of Go's allocation bitmaps (`span.rs` explains).
//! - **Threads, not Ps.** Caches belong to OS threads and are flushed by a
//!   pthread key destructor at thread exit (`thread_cache.rs`).
//! - **Several instances.** Each [`GoAlloc`] has its own heap, mapped from the
//!   OS on first use, and its own thread caches, found through a small
//!   per-thread slot array keyed by instance, so a private instance (the
//!   fragmentation experiment, a bench beside the global allocator) gets the
//!   same fast path as the global one.
//! - **Page allocator.** Free runs on size-segregated lists instead of Go's
//!   bitmap with radix-tree summaries (`page_heap.rs` explains).
//! - **Tiny blocks** count their live pieces so they can be reused after
//!   explicit frees (`tiny.rs`).
//!
//! The fact a reader gets wrong: the fast path of this allocator does not
//! look up the pointer's span on free and takes no lock on either side; a
//! call costs a thread-local load, a table lookup for the class, a list
//! pop or push, and one counter update (count and bytes packed in one
//! word; no list length is stored). Everything else (locks, the page
//! map, the OS) is out of line and `#[cold]`, reached about once per batch.
//!
//! # Memory the allocator never gives back
//!
//! A heap (arenas, page map leaves, span metadata, thread cache structs) is
//! never unmapped, even when its `GoAlloc` is dropped: thread caches of
//! other threads may still refer to it. Dropping a private instance leaks its
//! address-space reservation; [`GoAlloc::free_os_memory`] gives its idle
//! pages' RAM back first.
//!
//! ```
//! use alloc_cookbook::GoAlloc;
//! use std::alloc::{GlobalAlloc, Layout};
//!
//! // In a program: #[global_allocator] static GLOBAL: GoAlloc = GoAlloc::new();
//! static A: GoAlloc = GoAlloc::new();
//! let l = Layout::from_size_align(33, 8).unwrap();
//! // SAFETY: non-zero layout; freed once with the same layout.
//! unsafe {
//!     let p = A.alloc(l);
//!     assert!(!p.is_null());
//!     p.write_bytes(0x5A, 33);
//!     A.dealloc(p, l);
//! }
//! let s = A.stats();
//! assert_eq!((s.mallocs, s.frees, s.bytes_requested), (1, 1, 0));
//! assert_eq!(s.by_size[alloc_cookbook::size_class::GO.class_of(33) as usize].mallocs, 1);
//! ```

mod central_list;
mod large;
mod lock;
mod os;
mod page_heap;
mod span;
mod stats;
mod thread_cache;
mod tiny;

pub use page_heap::{ARENA_BYTES, DEFAULT_SCAVENGE_THRESHOLD};
pub use stats::{ClassStats, Stats};

use central_list::CentralList;
use lock::SpinLock;
use page_heap::{PageHeap, PageMap};
use span::{ClassInfo, NUM_CLASSES, TINY_BLOCK};
#[cfg(debug_assertions)]
use span::{Span, SpanState, TINY_CLASS};
use stats::SharedCounters;
use thread_cache::{bump, CacheRegistry, ThreadCache};

use crate::size_class::{GO, MAX_SMALL_SIZE, MIN_ALIGN, NUM_SIZE_CLASSES, PAGE_SIZE};
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::alloc::{GlobalAlloc, Layout};

/// Everything one [`GoAlloc`] owns. Lives in memory from the OS (all-zero is
/// a valid starting state apart from the fields `create` sets) and is never freed.
pub(crate) struct Heap {
    pub map: PageMap,
    pub pages: SpinLock<PageHeap>,
    pub central: [SpinLock<CentralList>; NUM_CLASSES],
    pub info: [ClassInfo; NUM_CLASSES],
    pub caches: CacheRegistry,
    pub direct: SharedCounters,
}

impl Heap {
    /// Maps and initialises a heap; null if the OS refuses.
    fn create() -> *mut Heap {
        let bytes = core::mem::size_of::<Heap>().next_multiple_of(PAGE_SIZE);
        let h = os::reserve(bytes) as *mut Heap;
        if h.is_null() {
            return h;
        }
        // SAFETY: h is fresh zeroed memory, a valid Heap except for the
        // fields written here; no one else can see it yet.
        unsafe {
            ptr::addr_of_mut!((*h).info).write(span::class_infos());
            (*h).pages.lock().scavenge_threshold = DEFAULT_SCAVENGE_THRESHOLD;
        }
        h
    }
}

/// Where a request goes; a pure function of the layout, so `alloc` and
/// `dealloc` always agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// Zero bytes: a dangling aligned pointer, nothing allocated.
    Zero,
    /// Under 16 bytes, alignment at most 8: a piece of a tiny block.
    Tiny,
    /// A slot of this class (its size is a multiple of the alignment).
    Small(usize),
    /// Whole pages.
    Large,
}

#[inline]
fn route(size: usize, align: usize) -> Route {
    if size == 0 {
        return Route::Zero;
    }
    if align <= MIN_ALIGN {
        if size < TINY_BLOCK {
            Route::Tiny
        } else if size <= MAX_SMALL_SIZE {
            Route::Small(GO.class_of(size) as usize)
        } else {
            Route::Large
        }
    } else if align <= PAGE_SIZE && size <= MAX_SMALL_SIZE {
        // Objects sit at span base (page aligned) + i * size, so a class
        // whose size is a multiple of `align` gives every object that alignment.
        let mut c = GO.class_of(size.max(align)) as usize;
        while c < NUM_SIZE_CLASSES {
            if GO.size(c as u8) % align == 0 {
                return Route::Small(c);
            }
            c += 1;
        }
        Route::Large
    } else {
        Route::Large
    }
}

/// Small sizes that take the inlined fast path: 16 B ..= 32 KiB, alignment <= 8.
#[inline(always)]
fn fast_small(size: usize, align: usize) -> bool {
    size.wrapping_sub(TINY_BLOCK) <= MAX_SMALL_SIZE - TINY_BLOCK && align <= MIN_ALIGN
}

/// Instances made so far, to spread them over the thread-local slots.
static INSTANCES: AtomicUsize = AtomicUsize::new(0);

/// Go's allocator design as a Rust global allocator.
///
/// `const`-constructible, so it can be a `static`; several instances can live
/// in one process, each with its own heap and thread caches.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: alloc_cookbook::GoAlloc = alloc_cookbook::GoAlloc::new();
/// let v = vec![1u32, 2, 3];
/// assert_eq!(v.iter().sum::<u32>(), 6);
/// ```
pub struct GoAlloc {
    /// Heap address | slot number; 0 until the heap exists.
    key: AtomicUsize,
    heap: AtomicPtr<Heap>,
}

impl core::fmt::Debug for GoAlloc {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GoAlloc")
            .field("heap", &self.heap.load(Ordering::Relaxed))
            .finish()
    }
}

impl Default for GoAlloc {
    fn default() -> Self {
        Self::new()
    }
}

impl GoAlloc {
    /// A new allocator; `const`, so it can be a `static`. Its heap is mapped
    /// on first use.
    ///
    /// ```
    /// static A: alloc_cookbook::GoAlloc = alloc_cookbook::GoAlloc::new();
    /// assert_eq!(A.stats().heap_reserved, 0); // nothing mapped yet
    /// ```
    pub const fn new() -> Self {
        GoAlloc {
            key: AtomicUsize::new(0),
            heap: AtomicPtr::new(ptr::null_mut()),
        }
    }

    #[inline]
    fn heap(&self) -> Option<&Heap> {
        let h = self.heap.load(Ordering::Acquire);
        if h.is_null() {
            return self.init_heap();
        }
        // SAFETY: a published heap is fully initialised and never freed.
        Some(unsafe { &*h })
    }

    /// The heap if it exists, without creating it.
    fn existing_heap(&self) -> Option<&Heap> {
        let h = self.heap.load(Ordering::Acquire);
        // SAFETY: as in `heap`.
        (!h.is_null()).then(|| unsafe { &*h })
    }

    #[cold]
    #[inline(never)]
    fn init_heap(&self) -> Option<&Heap> {
        let new = Heap::create();
        if new.is_null() {
            return None;
        }
        match self
            .heap
            .compare_exchange(ptr::null_mut(), new, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                let slot = INSTANCES.fetch_add(1, Ordering::Relaxed) % thread_cache::SLOTS;
                self.key.store(new as usize | slot, Ordering::Release);
                // SAFETY: just published; never freed.
                Some(unsafe { &*new })
            }
            Err(other) => {
                // SAFETY: our heap was never published; unmap it.
                unsafe {
                    os::unmap(
                        new.cast(),
                        core::mem::size_of::<Heap>().next_multiple_of(PAGE_SIZE),
                    )
                };
                // SAFETY: the winner's heap is published and never freed.
                Some(unsafe { &*other })
            }
        }
    }

    /// The calling thread's cache for this instance, or null (direct path).
    #[inline]
    fn cache(&self, heap: &Heap) -> *mut ThreadCache {
        let key = self.key.load(Ordering::Acquire);
        if let Some(c) = thread_cache::lookup(key) {
            return c.as_ptr();
        }
        if key == 0 {
            return ptr::null_mut();
        }
        thread_cache::cache_slow(key, heap)
    }

    /// A snapshot of this allocator's statistics (summed over every thread).
    ///
    /// ```
    /// let a = alloc_cookbook::GoAlloc::new();
    /// let s = a.stats();
    /// assert_eq!(s.mallocs, 0);
    /// println!("{s}");
    /// ```
    pub fn stats(&self) -> Stats {
        match self.existing_heap() {
            Some(h) => stats::collect(h),
            None => Stats::default(),
        }
    }

    /// Gives every object cached by the calling thread for this instance back
    /// to the central lists (and empty spans to the page heap).
    ///
    /// ```
    /// use std::alloc::{GlobalAlloc, Layout};
    /// let a = alloc_cookbook::GoAlloc::new();
    /// let l = Layout::new::<[u64; 4]>();
    /// // SAFETY: non-zero layout, freed once.
    /// unsafe { a.dealloc(a.alloc(l), l) };
    /// assert_eq!(a.stats().small_spans, 1); // the span still holds cached objects
    /// a.flush_thread_cache();
    /// assert_eq!(a.stats().small_spans, 0);
    /// ```
    pub fn flush_thread_cache(&self) {
        let key = self.key.load(Ordering::Acquire);
        if key != 0 {
            thread_cache::flush_current(key);
        }
    }

    /// Runs the scavenger now: gives idle resident pages back to the OS
    /// until at most `keep_bytes` of them remain. Returns the bytes released.
    ///
    /// ```
    /// use std::alloc::{GlobalAlloc, Layout};
    /// let a = alloc_cookbook::GoAlloc::new();
    /// let l = Layout::from_size_align(1 << 20, 8).unwrap();
    /// // SAFETY: non-zero layout, freed once.
    /// unsafe {
    ///     let p = a.alloc(l);
    ///     p.write_bytes(1, 1 << 20);
    ///     a.dealloc(p, l);
    /// }
    /// assert_eq!(a.scavenge(0), 1 << 20);
    /// assert_eq!(a.stats().heap_resident, 0);
    /// ```
    pub fn scavenge(&self, keep_bytes: usize) -> usize {
        match self.existing_heap() {
            Some(h) => page_heap::scavenge(&h.pages, &h.map, keep_bytes),
            None => 0,
        }
    }

    /// Go's `debug.FreeOSMemory`: flushes the calling thread's cache, then
    /// gives every idle page back to the OS. Returns the bytes released.
    ///
    /// ```
    /// let a = alloc_cookbook::GoAlloc::new();
    /// assert_eq!(a.free_os_memory(), 0);
    /// ```
    pub fn free_os_memory(&self) -> usize {
        self.flush_thread_cache();
        self.scavenge(0)
    }

    /// Sets how many idle resident bytes the page heap keeps before it
    /// releases the rest on the next free (default [`DEFAULT_SCAVENGE_THRESHOLD`]).
    /// Returns false if the heap could not be created.
    ///
    /// ```
    /// let a = alloc_cookbook::GoAlloc::new();
    /// assert!(a.set_scavenge_threshold(1 << 20));
    /// assert_eq!(a.stats().scavenge_threshold, 1 << 20);
    /// ```
    pub fn set_scavenge_threshold(&self, bytes: usize) -> bool {
        match self.heap() {
            Some(h) => {
                h.pages.lock().scavenge_threshold = bytes;
                true
            }
            None => false,
        }
    }

    #[cold]
    #[inline(never)]
    unsafe fn alloc_slow(&self, layout: Layout, zero: bool) -> *mut u8 {
        let (size, align) = (layout.size(), layout.align());
        let r = route(size, align);
        if r == Route::Zero {
            return align as *mut u8;
        }
        let Some(heap) = self.heap() else {
            return ptr::null_mut();
        };
        let p = match r {
            Route::Zero => unreachable!(),
            Route::Large => {
                let c = if large::cacheable(size, align) {
                    self.cache(heap)
                } else {
                    ptr::null_mut()
                };
                return if c.is_null() {
                    heap.alloc_large(size, align, zero)
                } else {
                    // SAFETY: the calling thread's own cache.
                    heap.alloc_large_cached(unsafe { &mut *c }, size, align, zero)
                };
            }
            Route::Tiny => {
                let c = self.cache(heap);
                if c.is_null() {
                    let p = tiny::alloc_direct(heap);
                    if !p.is_null() {
                        heap.direct.request(size, true, true);
                    }
                    p
                } else {
                    // SAFETY: the calling thread's own cache.
                    let c = unsafe { &mut *c };
                    let t = &mut c.tiny;
                    let off = (t.offset + align - 1) & !(align - 1);
                    let p = if t.block != 0 && off + size <= TINY_BLOCK {
                        t.offset = off + size;
                        t.pieces += 1;
                        (t.block + off) as *mut u8
                    } else {
                        tiny::refill(c, size)
                    };
                    if !p.is_null() {
                        bump(&c.counters.tiny_allocs, 1);
                        bump(&c.counters.requested, size as u64);
                    }
                    p
                }
            }
            Route::Small(class) => {
                let c = self.cache(heap);
                let p = if c.is_null() {
                    let p = thread_cache::alloc_direct(heap, class);
                    if !p.is_null() {
                        heap.direct.mallocs_frees(class, true);
                        heap.direct.request(size, false, true);
                    }
                    p
                } else {
                    // SAFETY: the calling thread's own cache.
                    let c = unsafe { &mut *c };
                    let list = &mut c.lists[class];
                    let head = list.head;
                    let p = if head.is_null() {
                        thread_cache::refill(c, class)
                    } else {
                        // SAFETY: cache list objects are linked free slots.
                        list.head = unsafe { (*head).next };
                        head.cast()
                    };
                    if !p.is_null() {
                        bump(&c.counters.mallocs[class], thread_cache::packed(size));
                    }
                    p
                };
                #[cfg(debug_assertions)]
                if !p.is_null() {
                    debug_mark(heap, p as usize, true);
                }
                p
            }
        };
        if zero && !p.is_null() {
            // SAFETY: p points to at least `size` bytes we just handed out.
            unsafe { p.write_bytes(0, size) };
        }
        p
    }

    #[cold]
    #[inline(never)]
    unsafe fn dealloc_slow(&self, p: *mut u8, layout: Layout) {
        let size = layout.size();
        let r = route(size, layout.align());
        if r == Route::Zero {
            return;
        }
        let Some(heap) = self.existing_heap() else {
            debug_assert!(
                false,
                "GoAlloc: dealloc of {p:p} before this allocator allocated anything"
            );
            return;
        };
        match r {
            Route::Zero => {}
            Route::Large => {
                let c = if large::cacheable(size, layout.align()) {
                    self.cache(heap)
                } else {
                    ptr::null_mut()
                };
                if c.is_null() {
                    heap.free_large(p, size)
                } else {
                    // SAFETY: the calling thread's own cache.
                    heap.free_large_cached(unsafe { &mut *c }, p, size)
                }
            }
            Route::Tiny => {
                let c = self.cache(heap);
                if c.is_null() {
                    heap.direct.request(size, true, false);
                } else {
                    // SAFETY: the calling thread's own cache.
                    let k = unsafe { &(*c).counters };
                    bump(&k.tiny_frees, 1);
                    bump(&k.requested_freed, size as u64);
                }
                tiny::free(heap, c, p);
            }
            Route::Small(class) => {
                let c = self.cache(heap);
                if c.is_null() {
                    heap.direct.mallocs_frees(class, false);
                    heap.direct.request(size, false, false);
                    thread_cache::release_direct(heap, class, p.cast());
                } else {
                    // SAFETY: the calling thread's own cache; p is a slot of `class` < NUM_CLASSES.
                    unsafe { push_cached(&mut *c, class, p, size) };
                }
            }
        }
    }

    /// Debug builds: panics with a clear message if `p` was not handed out
    /// by this allocator with this layout, or was already freed.
    #[cfg(debug_assertions)]
    fn debug_check_free(&self, p: *mut u8, layout: Layout) {
        let r = route(layout.size(), layout.align());
        if r == Route::Zero {
            return;
        }
        let addr = p as usize;
        let owned = self
            .existing_heap()
            .map(|h| h.map.get(addr))
            .unwrap_or(ptr::null_mut());
        let what = |s: &str| -> ! {
            panic!(
                "GoAlloc: dealloc of {p:p} with size {} align {}: {s}",
                layout.size(),
                layout.align()
            )
        };
        if owned.is_null() {
            what("pointer not allocated by this GoAlloc (foreign pointer)");
        }
        // SAFETY: span metadata is never unmapped; for a valid free its fields
        // are stable, for an invalid one we only diagnose.
        let s: &Span = unsafe { &*owned };
        match r {
            Route::Zero => {}
            Route::Large => {
                if s.state != SpanState::Large
                    || s.base() != addr
                    || !large::debug_mark_large(s, false)
                {
                    what(
                        "not a live large object of this GoAlloc (double free or foreign pointer)",
                    );
                }
            }
            Route::Tiny | Route::Small(_) => {
                let want = if let Route::Small(c) = r {
                    c
                } else {
                    TINY_CLASS
                };
                if s.state != SpanState::Small {
                    what("no live object here (double free or foreign pointer)");
                }
                if s.class as usize != want {
                    what("the pointer lies in a span of another size class (wrong layout or foreign pointer)");
                }
                let obj = if want == TINY_CLASS {
                    addr & !(TINY_BLOCK - 1)
                } else {
                    addr
                };
                let Some(idx) = s.slot_of(obj) else {
                    what("not the start of an object (interior or foreign pointer)");
                };
                let bit = 1u64 << (idx % 64);
                let word = &s.live[idx / 64];
                if want == TINY_CLASS {
                    if word.load(Ordering::Acquire) & bit == 0 {
                        what("tiny block not live (double free)");
                    }
                } else if word.fetch_and(!bit, Ordering::AcqRel) & bit == 0 {
                    what("double free");
                }
            }
        }
    }
}

/// Pushes a freed small object on the thread's list and counts it; runs the
/// length check (which flushes a batch if the list is full) when due.
///
/// # Safety
/// `class < NUM_CLASSES` and `p` is a freed slot of that class.
#[inline(always)]
unsafe fn push_cached(c: &mut ThreadCache, class: usize, p: *mut u8, size: usize) {
    // SAFETY: the caller guarantees class < NUM_CLASSES.
    let list = unsafe { c.lists.get_unchecked_mut(class) };
    let o = p as *mut span::FreeObject;
    // SAFETY: the caller freed p, a slot of `class`; its first word is ours now.
    unsafe { (*o).next = list.freed };
    list.freed = o;
    // SAFETY: as above.
    let frees = unsafe { c.counters.frees.get_unchecked(class) };
    let counted = frees.load(Ordering::Relaxed) + thread_cache::packed(size);
    frees.store(counted, Ordering::Relaxed);
    if counted >= list.check_at {
        thread_cache::check_free(c, class);
    }
}

/// Debug builds: marks the slot at `addr` live (`on`) or free; panics if it already was.
#[cfg(debug_assertions)]
pub(crate) fn debug_mark(heap: &Heap, addr: usize, on: bool) {
    let s = heap.map.get(addr);
    // SAFETY: addr was just handed out (or is being freed internally) from a live span.
    let s = unsafe { &*s };
    let idx = s
        .slot_of(addr)
        .expect("GoAlloc internal error: slot outside its span");
    let bit = 1u64 << (idx % 64);
    let prev = if on {
        s.live[idx / 64].fetch_or(bit, Ordering::AcqRel)
    } else {
        s.live[idx / 64].fetch_and(!bit, Ordering::AcqRel)
    };
    assert!(
        (prev & bit != 0) != on,
        "GoAlloc internal error: slot {addr:#x} handed out twice or freed twice"
    );
}

// SAFETY: every pointer returned is either null, or a dangling aligned
// pointer for zero-size layouts, or a region of at least `size` bytes with
// the requested alignment that no other live allocation overlaps: slots of
// one span are disjoint, a slot is on at most one free list, and a page run
// is in at most one span. `dealloc` routes by the same pure function of the
// layout as `alloc`, so an object returns to the structure it came from.
unsafe impl GlobalAlloc for GoAlloc {
    #[inline(always)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let (size, align) = (layout.size(), layout.align());
        if fast_small(size, align) {
            let class = GO.class_of(size) as usize;
            if let Some(c) = thread_cache::lookup(self.key.load(Ordering::Relaxed)) {
                // SAFETY: lookup returns the calling thread's own cache.
                let c = unsafe { &mut *c.as_ptr() };
                // SAFETY: class_of returns a class below NUM_SIZE_CLASSES.
                let list = unsafe { c.lists.get_unchecked_mut(class) };
                let head = list.head;
                if !head.is_null() {
                    // SAFETY: cache list objects are linked free slots.
                    list.head = unsafe { (*head).next };
                    // SAFETY: as above.
                    let mallocs = unsafe { c.counters.mallocs.get_unchecked(class) };
                    bump(mallocs, thread_cache::packed(size));
                    #[cfg(debug_assertions)]
                    // SAFETY: a cache's heap outlives it.
                    debug_mark(unsafe { &*c.heap }, head as usize, true);
                    return head.cast();
                }
            }
        } else if size.wrapping_sub(1) < TINY_BLOCK - 1 && align <= MIN_ALIGN {
            if let Some(c) = thread_cache::lookup(self.key.load(Ordering::Relaxed)) {
                // SAFETY: lookup returns the calling thread's own cache.
                let c = unsafe { &mut *c.as_ptr() };
                let t = &mut c.tiny;
                let off = (t.offset + align - 1) & !(align - 1);
                if t.block != 0 && off + size <= TINY_BLOCK {
                    t.offset = off + size;
                    t.pieces += 1;
                    bump(&c.counters.tiny_allocs, 1);
                    bump(&c.counters.requested, size as u64);
                    return (t.block + off) as *mut u8;
                }
            }
        }
        // SAFETY: same contract.
        unsafe { self.alloc_slow(layout, false) }
    }

    #[inline(always)]
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        #[cfg(debug_assertions)]
        self.debug_check_free(p, layout);
        let (size, align) = (layout.size(), layout.align());
        if fast_small(size, align) {
            if let Some(c) = thread_cache::lookup(self.key.load(Ordering::Relaxed)) {
                let class = GO.class_of(size) as usize;
                // SAFETY: the calling thread's own cache; p is a slot of `class` < NUM_CLASSES.
                unsafe { push_cached(&mut *c.as_ptr(), class, p, size) };
                return;
            }
        } else if size.wrapping_sub(1) < TINY_BLOCK - 1 && align <= MIN_ALIGN {
            if let Some(c) = thread_cache::lookup(self.key.load(Ordering::Relaxed)) {
                // SAFETY: lookup returns the calling thread's own cache.
                let c = unsafe { &mut *c.as_ptr() };
                if c.tiny.block == p as usize & !(TINY_BLOCK - 1) {
                    tiny::free_own(c, size);
                    return;
                }
            }
        }
        // SAFETY: same contract.
        unsafe { self.dealloc_slow(p, layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract; alloc_slow zeroes what it hands out.
        unsafe { self.alloc_slow(layout, true) }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (old, align) = (layout.size(), layout.align());
        let in_place = match (route(old, align), route(new_size, align)) {
            (Route::Small(a), Route::Small(b)) => a == b,
            (Route::Tiny, Route::Tiny) => new_size <= old,
            (Route::Large, Route::Large) => old.div_ceil(PAGE_SIZE) == new_size.div_ceil(PAGE_SIZE),
            _ => false,
        };
        if in_place {
            if let Some(heap) = self.existing_heap() {
                if route(old, align) == Route::Large {
                    heap.resize_large(old, new_size);
                } else {
                    heap.direct.resize(old, new_size);
                }
            }
            return p;
        }
        let Ok(new_layout) = Layout::from_size_align(new_size, align) else {
            return ptr::null_mut();
        };
        // SAFETY: new_layout is valid and non-zero (GlobalAlloc contract).
        let q = unsafe { self.alloc(new_layout) };
        if !q.is_null() {
            // SAFETY: both regions are live, disjoint and at least this long.
            unsafe {
                ptr::copy_nonoverlapping(p, q, old.min(new_size));
                self.dealloc(p, layout);
            }
        }
        q
    }
}

#[cfg(test)]
mod tests;
