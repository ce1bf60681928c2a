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
//! slots). Requests under 16 bytes, except those of exactly 8 (which fill a
//! slot of Go's 8-byte class), share 16-byte blocks (the tiny
//! allocator); requests over 32 KiB, and those aligned above a page, get a
//! run of whole pages of their own (`large.rs`). The structures, from the
//! thread outward:
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
//! | (fork)        | `pthread_atfork` handlers          | `fork.rs`         | takes all of them |
//! | (C `malloc`)  | [`crate::c_abi`] on one instance   | `../c_abi.rs`     | as above |
//! | (`panic!`)    | `fatal`: `write(2)` + `abort`      | `abort.rs`        | n/a |
//!
//! Allocating a small object of class *c*:
//! 1. Pop the head of the thread cache's list for *c* (no lock, no atomic
//!    read-modify-write). This is the fast path, inlined into the caller.
//! 2. If the list is empty, take a batch from the central list for *c*
//!    (lock *c*): objects from its partial spans, taken in bulk (a span
//!    hands over a prefix of its free list, then never-used slots linked in
//!    one loop: `span.rs`), passing over spans another thread's cache is
//!    taking from, so two threads' objects do not sit side by side
//!    (`central_list.rs`), a short batch at first, doubling up to the
//!    class's batch (`thread_cache.rs`).
//! 3. If the central list has no partial span, get a span of the class's
//!    page count from the page heap (lock the heap): a free run, else pages
//!    cut from the current arena.
//! 4. If the arena is used up, reserve a new one (64 MiB) from the OS.
//!
//! Freeing pushes the object on the calling thread's list for its class
//! (whichever thread allocated it); a list at its limit (about 64 KiB worth) gives one
//! batch back to the central list, which walks the list in place, cuts it
//! into runs of objects of one span (a page-map lookup per run, not per
//! object) and hands each run to its span at once, and a span whose objects
//! all came back to the page heap. Free page runs merge with their neighbours, and the scavenger
//! gives back, with `madvise`, idle pages above the retention goal: 110% of
//! the recent peak in use minus what is in use now (at least 4 MiB), capped
//! by the scavenger threshold (none by default); see `page_heap.rs`.
//!
//! # Where it departs from Go, and why
//!
//! - **Explicit free.** Go never frees an object on request: its garbage
//!   collector sweeps spans and rebuilds their bitmaps. Rust calls `dealloc`
//!   with the pointer *and its layout*, so the class of a freed object comes
//!   from the layout (no lookup), and spans keep intrusive free lists instead
//!   of Go's allocation bitmaps (`span.rs` explains).
//! - **Free without a size, too.** C's `free(p)` has no layout. The
//!   pointer-only API ([`GoAlloc::allocate`], [`GoAlloc::free`],
//!   [`GoAlloc::usable_size`], [`GoAlloc::reallocate`]; the C ABI in
//!   [`crate::c_abi`] is built on it) reads the object's class from the page
//!   map, which keeps a class byte per page beside the span pointer (set
//!   when a central list cuts a span for a class, cleared when the span goes
//!   back to the page heap; `page_heap.rs`), without touching the span: a
//!   range check, the root entry, the class byte (a missing leaf reads as
//!   zeros, so no null check). Then the same push on the thread's list as
//!   `dealloc`. A class byte of 0 (tiny blocks, large objects, free pages,
//!   foreign pointers, null) sends it to the slow path, which
//!   reads the span (through the raw pointer: a central list may hold
//!   `&mut` to the span's free list meanwhile). A large object's span is its run,
//!   so `usable_size` is the run's length. Pointer-only requests use no tiny
//!   pieces (a piece's size is recorded nowhere): 1 to 8 bytes get Go's
//!   8-byte class (layouts use it for exactly 8 bytes), larger ones keep C's 16-byte
//!   `max_align_t` alignment (the 24-byte class is skipped).
//! - **fork().** `fork.rs`: handlers registered with the first heap take
//!   every lock (idle list, central lists, page heap) before a fork and
//!   release or reset them after, so a child can allocate even if another
//!   thread held a lock; for Rust programs and the C ABI alike.
//! - **Threads, not Ps.** Caches belong to OS threads. A pthread key
//!   destructor parks a dying thread's cache on its heap's idle list with
//!   its free objects (at most 1 MiB each, at most four such caches per
//!   heap; beyond that it flushes them to the central lists), and the next
//!   new thread takes that cache, objects and all (`thread_cache.rs`).
//!   Go's mcache belongs to a P and simply outlives the goroutines that
//!   used it; this is the closest a thread-owned cache gets.
//! - **Several instances.** Each [`GoAlloc`] has its own heap, mapped from the
//!   OS on first use, and its own thread caches, found through a small
//!   per-thread slot array keyed by instance, so a private instance (the
//!   fragmentation experiment, a bench beside the global allocator) gets the
//!   same fast path as the global one. A new heap takes the least used of
//!   the eight slot numbers and a dropped `GoAlloc` gives its number back, so
//!   up to eight live instances never evict each other's caches.
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
//! The pointer-only `free` adds the page-map lookup (a compare, then two
//! dependent loads: the root entry and the page's class byte, no null check)
//! and one load of the class's packed counter word from the heap, which
//! `dealloc` knows as a constant; no lock. Its slow half and its length check are
//! `extern "C"` (they cannot unwind) and reached by tail calls, so the C
//! ABI's `free` has no landing pad (it still saves two registers on entry,
//! the compiler's choice).
//!
//! Nothing in the allocator panics, allocates through itself, or calls
//! anything that might: a broken invariant found by a debug check is
//! reported with `write(2)` and `abort()` (`abort.rs`).
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

pub(crate) mod abort;
mod central_list;
mod fork;
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
use os::SavedErrno;
use page_heap::{PageHeap, PageMap};
use span::{ClassInfo, NUM_CLASSES, TINY_BLOCK};
use span::{SpanState, TINY_CLASS};
use stats::SharedCounters;
use thread_cache::{bump, CacheRegistry, ThreadCache};

use crate::size_class::{
    fast_class_of, fast_pointer_class_of, GO, MAX_SMALL_SIZE, MIN_ALIGN, NUM_SIZE_CLASSES,
    PAGE_SIZE,
};
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
    /// Per class, one object of the class size in a packed counter word
    /// (`thread_cache::packed(size)`): what the pointer-only free adds to
    /// the class's free counter, read with one load and no multiply.
    pub packed_object: [u64; NUM_CLASSES],
    pub caches: CacheRegistry,
    pub direct: SharedCounters,
    /// Next heap on the process's list of heaps (for the fork handlers, `fork.rs`).
    pub next_heap: AtomicPtr<Heap>,
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
            let info = span::class_infos();
            ptr::addr_of_mut!((*h).packed_object).write(info.map(|i| thread_cache::packed(i.size)));
            ptr::addr_of_mut!((*h).info).write(info);
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
    /// Under 16 bytes but not 8, alignment at most 8: a piece of a tiny block.
    Tiny,
    /// A slot of this class (its size is a multiple of the alignment).
    Small(usize),
    /// Whole pages.
    Large,
}

/// The object size of Go's class 1. A request of exactly this size fills a
/// class-1 slot with nothing left over, so packing it into a tiny block
/// could not use less memory: it takes the slot, and the class lists' fast
/// path (no piece to count, reusable as soon as it is freed).
const CLASS_1_SIZE: usize = 8;

#[inline]
fn route(size: usize, align: usize) -> Route {
    if size == 0 {
        return Route::Zero;
    }
    if align <= MIN_ALIGN {
        if size < TINY_BLOCK && size != CLASS_1_SIZE {
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

/// Small sizes that take the inlined fast path: 8 B and 16 B ..= 32 KiB,
/// alignment <= 8.
#[inline(always)]
fn fast_small(size: usize, align: usize) -> bool {
    (size.wrapping_sub(TINY_BLOCK) <= MAX_SMALL_SIZE - TINY_BLOCK || size == CLASS_1_SIZE)
        && align <= MIN_ALIGN
}

/// Where a request of the pointer-only API ([`GoAlloc::allocate`], the C
/// ABI) goes. Its objects must be freed without a size, so there are no
/// tiny pieces (a piece's size is not recorded anywhere): up to 8 bytes get a
/// slot of Go's 8-byte class 1 (which layouts use only for exactly 8 bytes),
/// anything larger at least C's `max_align_t` alignment of 16, so every
/// object a 16-aligned type fits in is 16-aligned, as with glibc.
#[inline(always)]
fn route_by_pointer(size: usize, align: usize) -> Route {
    if size <= MAX_SMALL_SIZE && align <= 2 * MIN_ALIGN {
        Route::Small(fast_pointer_class_of(size.max(align)))
    } else {
        route(size.max(1), align.max(2 * MIN_ALIGN))
    }
}

/// Live instances per thread-local slot number (`thread_cache.rs`): a new
/// heap takes the slot with the fewest, and a dropped `GoAlloc` gives its
/// slot back, so up to [`thread_cache::SLOTS`] live instances never share one.
static SLOT_USERS: [AtomicUsize; thread_cache::SLOTS] =
    [const { AtomicUsize::new(0) }; thread_cache::SLOTS];

/// Takes the least used slot number (the lowest of equals).
fn take_slot() -> usize {
    loop {
        let (mut best, mut fewest) = (0, usize::MAX);
        for (i, users) in SLOT_USERS.iter().enumerate() {
            let n = users.load(Ordering::Relaxed);
            if n < fewest {
                (best, fewest) = (i, n);
            }
        }
        if SLOT_USERS[best]
            .compare_exchange(fewest, fewest + 1, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            return best;
        }
    }
}

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
    /// Heap address | slot offset (`thread_cache::make_key`); 0 until the heap exists.
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

/// Gives the instance's thread-local slot number back, so that a later
/// instance can have it to itself. Its heap stays mapped (see above).
impl Drop for GoAlloc {
    fn drop(&mut self) {
        let key = *self.key.get_mut();
        if key != 0 {
            SLOT_USERS[thread_cache::key_slot(key)].fetch_sub(1, Ordering::AcqRel);
        }
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
                self.key.store(
                    thread_cache::make_key(new as usize, take_slot()),
                    Ordering::Release,
                );
                fork::register(new);
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
    /// to the central lists (and empty spans to the page heap), and the
    /// objects that exited threads left in their parked caches, too.
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
    /// let l = Layout::from_size_align(2 << 20, 8).unwrap();
    /// // SAFETY: non-zero layout, freed once.
    /// unsafe {
    ///     let p = a.alloc(l);
    ///     p.write_bytes(1, 2 << 20);
    ///     a.dealloc(p, l);
    /// }
    /// assert_eq!(a.scavenge(0), 2 << 20);
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

    /// Caps the idle resident bytes the page heap keeps: a free that leaves
    /// more releases the excess (0: every freed page goes back to the OS).
    /// Under the cap the heap keeps only what its recent use justifies, the
    /// retention goal of `page_heap.rs`: idle pages up to 110% of its recent
    /// peak in use minus what is in use now, at least 4 MiB. The default,
    /// [`DEFAULT_SCAVENGE_THRESHOLD`], is no cap. Returns false if the heap
    /// could not be created.
    ///
    /// ```
    /// use std::alloc::{GlobalAlloc, Layout};
    /// let a = alloc_cookbook::GoAlloc::new();
    /// assert!(a.set_scavenge_threshold(1 << 20));
    /// assert_eq!(a.stats().scavenge_threshold, 1 << 20);
    /// // 8 MiB freed: all but about the capped megabyte goes back to the OS.
    /// let l = Layout::from_size_align(8 << 20, 8).unwrap();
    /// // SAFETY: non-zero layout, freed once.
    /// unsafe {
    ///     let p = a.alloc(l);
    ///     p.write_bytes(1, 8 << 20);
    ///     a.dealloc(p, l);
    /// }
    /// # if cfg!(target_os = "linux") && unsafe { libc::sysconf(libc::_SC_PAGESIZE) } <= 8192 {
    /// let s = a.stats();
    /// assert!(s.heap_idle - s.heap_released <= 1 << 20);
    /// # }
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

    /// Allocates `size` bytes aligned to `align` for the *pointer-only* API:
    /// the object is freed with [`GoAlloc::free`], which needs no size,
    /// and [`GoAlloc::usable_size`] tells how many bytes it really has.
    /// This is the allocation behind the C ABI's `malloc` family
    /// ([`crate::c_abi`]). Null if `align` is not a power of two, the size is
    /// too large or the OS refuses memory; a zero size gets a unique object.
    ///
    /// Objects of 9 bytes and more are at least 16-aligned (C's
    /// `max_align_t`), smaller ones 8-aligned; requests under 16 bytes get
    /// a slot of 8 or 16 bytes rather than a tiny piece. The statistics count
    /// the usable size as requested (and freed), since `free` does not know more.
    ///
    /// ```
    /// let a = alloc_cookbook::GoAlloc::new();
    /// let p = a.allocate(100, 64);
    /// assert!(!p.is_null() && p as usize % 64 == 0);
    /// // SAFETY: p came from `allocate` of this instance and is freed once.
    /// unsafe {
    ///     assert_eq!(a.usable_size(p), 128);
    ///     a.free(p);
    /// }
    /// assert!(a.allocate(usize::MAX, 8).is_null());
    /// ```
    #[inline]
    pub fn allocate(&self, size: usize, align: usize) -> *mut u8 {
        if size <= MAX_SMALL_SIZE && align <= 2 * MIN_ALIGN && align.is_power_of_two() {
            let class = fast_pointer_class_of(size.max(align));
            let key = self.key.load(Ordering::Relaxed);
            if let Some(c) = thread_cache::lookup(key) {
                // SAFETY: lookup returns the calling thread's own cache.
                let c = unsafe { &mut *c.as_ptr() };
                // SAFETY: a small route's class is below NUM_SIZE_CLASSES.
                let list = pinned(unsafe { c.lists.get_unchecked_mut(class) });
                let head = list.head;
                if !head.is_null() {
                    // SAFETY: cache list objects are linked free slots.
                    list.head = unsafe { (*head).next };
                    // SAFETY: a cache was found, so the key is a live heap's
                    // (as in `free`); class < NUM_CLASSES as above.
                    let one = unsafe {
                        let heap = &*(thread_cache::key_heap(key) as *const Heap);
                        *heap.packed_object.get_unchecked(class)
                    };
                    // SAFETY: as above.
                    let mallocs = unsafe { c.counters.mallocs.get_unchecked(class) };
                    bump(mallocs, one);
                    #[cfg(debug_assertions)]
                    // SAFETY: a cache's heap outlives it.
                    debug_mark(unsafe { &*c.heap }, head as usize, true);
                    return head.cast();
                }
            }
        }
        self.allocate_slow(size, align, false)
    }

    /// [`GoAlloc::allocate`] of zeroed memory (C's `calloc`); pages known to
    /// be zero (fresh from the OS, or released) are not cleared again.
    ///
    /// ```
    /// let a = alloc_cookbook::GoAlloc::new();
    /// let p = a.allocate_zeroed(1 << 20, 16);
    /// // SAFETY: p holds 1 MiB, freed once.
    /// unsafe {
    ///     assert!(core::slice::from_raw_parts(p, 1 << 20).iter().all(|&b| b == 0));
    ///     a.free(p);
    /// }
    /// ```
    pub fn allocate_zeroed(&self, size: usize, align: usize) -> *mut u8 {
        self.allocate_slow(size, align, true)
    }

    #[cold]
    #[inline(never)]
    fn allocate_slow(&self, size: usize, align: usize, zero: bool) -> *mut u8 {
        if !align.is_power_of_two() || size > isize::MAX as usize - align - PAGE_SIZE {
            return ptr::null_mut();
        }
        let r = route_by_pointer(size, align);
        let used = match r {
            Route::Small(c) => GO.size(c as u8),
            _ => size.div_ceil(PAGE_SIZE).max(1) * PAGE_SIZE,
        };
        // SAFETY: r is route_by_pointer(size, align) and `used` its usable
        // size, which the size check above keeps below isize::MAX - align.
        unsafe { self.alloc_routed(r, used, align, zero) }
    }

    /// Frees an object without its size or alignment (C's `free`): the
    /// page map gives its size class (a class byte per page), or for
    /// anything but a small object its span (for a page run, its length).
    /// Accepts any object of this instance, from [`GoAlloc::allocate`] or
    /// from `GlobalAlloc::alloc` with a layout; null does nothing. A small
    /// object costs a page-map lookup more than `dealloc` with its layout
    /// (a compare and two dependent loads), then the same push on the
    /// thread's list.
    ///
    /// A pointer this instance did not hand out (including any at or above
    /// 2^48) is ignored in release builds; debug builds abort with a
    /// message, as for a double free.
    ///
    /// # Safety
    /// `p` is null or a live object of this instance, freed once.
    ///
    /// ```
    /// use std::alloc::{GlobalAlloc, Layout};
    /// let a = alloc_cookbook::GoAlloc::new();
    /// // SAFETY: both objects are live and freed once.
    /// unsafe {
    ///     a.free(a.allocate(40, 8));
    ///     a.free(a.alloc(Layout::new::<[u8; 3]>())); // a tiny piece
    ///     a.free(core::ptr::null_mut());
    /// }
    /// assert_eq!(a.stats().mallocs, a.stats().frees);
    /// ```
    #[inline(always)]
    pub unsafe fn free(&self, p: *mut u8) {
        let key = self.key.load(Ordering::Relaxed);
        // A cache found means the key is a live heap's (an empty slot's key
        // is no heap's): the heap's address is the key without its slot bits.
        if let Some(c) = thread_cache::lookup(key) {
            // SAFETY: the key was published with its heap, which is never freed.
            let heap = unsafe { &*(thread_cache::key_heap(key) as *const Heap) };
            let class = heap.map.small_class(p as usize);
            if class != 0 {
                #[cfg(debug_assertions)]
                self.debug_check_route(p, None, Route::Small(class));
                // SAFETY: the calling thread's own cache; p is a live slot
                // of `class` < TINY_CLASS (the page map says so).
                unsafe {
                    let one = *heap.packed_object.get_unchecked(class);
                    let c = &mut *c.as_ptr();
                    if push_counted(c, class, p, one) {
                        check_free_no_unwind(c, class);
                    }
                }
                return;
            }
        }
        // SAFETY: same contract.
        unsafe { Self::free_slow(p, self) }
    }

    /// Everything [`GoAlloc::free`]'s fast path leaves: null, tiny pieces,
    /// large objects, foreign pointers, a thread without a cache.
    /// `extern "C"` so that it cannot unwind: `free` then reaches it by a
    /// tail call, with no landing pad. The pointer comes first so that the
    /// C ABI's `free`, which receives it in the first argument register,
    /// jumps here without moving it.
    #[cold]
    #[inline(never)]
    unsafe extern "C" fn free_slow(p: *mut u8, this: &GoAlloc) {
        if p.is_null() {
            return;
        }
        // A free may reach `madvise` (the scavenger), whose failure sets
        // errno; C's `free` must leave errno alone (POSIX.1-2024, glibc 2.33).
        let _errno = SavedErrno::new();
        let Some(heap) = this.existing_heap() else {
            abort::check!(false, "free of {p:p}: this GoAlloc never allocated");
            return;
        };
        let s = heap.map.get(p as usize);
        if s.is_null() {
            abort::check!(false, "free of {p:p}: not allocated by this GoAlloc");
            return;
        }
        // SAFETY: as in `free`.
        let (state, class) = unsafe { span::owner(s) };
        match state {
            SpanState::Small if class == TINY_CLASS => {
                #[cfg(debug_assertions)]
                this.debug_check_route(p, None, Route::Tiny);
                let c = this.cache(heap);
                if c.is_null() {
                    heap.direct.request(0, true, false);
                } else {
                    // SAFETY: the calling thread's own cache.
                    let cache = unsafe { &mut *c };
                    if cache.tiny.block == p as usize & !(TINY_BLOCK - 1) {
                        tiny::free_own(cache, 0);
                        return;
                    }
                    bump(&cache.counters.tiny_frees, 1);
                }
                tiny::free(heap, c, p);
            }
            SpanState::Small if class < TINY_CLASS => {
                #[cfg(debug_assertions)]
                this.debug_check_route(p, None, Route::Small(class));
                let size = heap.info[class].size;
                let c = this.cache(heap);
                if c.is_null() {
                    heap.direct.mallocs_frees(class, false);
                    heap.direct.request(size, false, false);
                    thread_cache::release_direct(heap, class, p.cast());
                } else {
                    // SAFETY: the calling thread's own cache; p is a slot of `class`.
                    unsafe { push_cached(&mut *c, class, p, thread_cache::packed(size)) };
                }
            }
            SpanState::Large => {
                #[cfg(debug_assertions)]
                this.debug_check_route(p, None, Route::Large);
                // SAFETY: as in `free`.
                let (base, bytes) = unsafe { (span::base_of(s), span::bytes_of(s)) };
                if base != p as usize {
                    return; // an interior pointer: not ours to free
                }
                this.free_large_run(
                    heap,
                    p,
                    bytes,
                    bytes <= large::LARGE_CACHE_PAGES * PAGE_SIZE,
                )
            }
            _ => abort::check!(false, "free of {p:p}: no live object here (double free?)"),
        }
    }

    /// The bytes the object at `p` really has (C's `malloc_usable_size`):
    /// its class size, or its whole page run for a large object; 0 for null.
    /// A tiny piece (a request under 16 bytes but not 8, made with a layout) does not
    /// record its size: it answers 1, the least any piece has.
    ///
    /// # Safety
    /// `p` is null or a live object of this instance.
    ///
    /// ```
    /// let a = alloc_cookbook::GoAlloc::new();
    /// let p = a.allocate(33, 1);
    /// let q = a.allocate(40_000, 1);
    /// // SAFETY: live objects of `a`, freed once.
    /// unsafe {
    ///     assert_eq!(a.usable_size(p), 48);
    ///     assert_eq!(a.usable_size(q), 40_960); // five 8 KiB pages
    ///     a.free(p);
    ///     a.free(q);
    /// }
    /// ```
    pub unsafe fn usable_size(&self, p: *const u8) -> usize {
        let Some(heap) = self.existing_heap() else {
            return 0;
        };
        let s = heap.map.get(p as usize);
        if p.is_null() || s.is_null() {
            return 0;
        }
        // SAFETY: as in `free`.
        let (state, class) = unsafe { span::owner(s) };
        match state {
            SpanState::Small if class == TINY_CLASS => 1,
            SpanState::Small if class < TINY_CLASS => heap.info[class].size,
            // SAFETY: as in `free`.
            SpanState::Large => unsafe { span::base_of(s) + span::bytes_of(s) - p as usize },
            _ => 0,
        }
    }

    /// Resizes the object at `p` (C's `realloc` without its special cases):
    /// in place if the new size keeps its class (or its page count) or, for
    /// a page run that grows, if the pages after it are free; else
    /// a new object of the pointer-only API with the contents copied and
    /// `p` freed. Null if the new object cannot be made; `p` then stays live.
    /// Null `p` allocates.
    ///
    /// # Safety
    /// `p` is null or a live object of this instance from the pointer-only
    /// API (or one of at least 16 bytes made with a layout); on success it
    /// must not be used again unless it is returned.
    ///
    /// ```
    /// let a = alloc_cookbook::GoAlloc::new();
    /// let p = a.allocate(20, 1);
    /// // SAFETY: p is live, from `allocate`; each result replaces it.
    /// unsafe {
    ///     p.write_bytes(7, 20);
    ///     let q = a.reallocate(p, 30); // 20 and 30 share the 32-byte class
    ///     assert_eq!(q, p);
    ///     let r = a.reallocate(q, 5000);
    ///     assert_eq!(*r.add(19), 7);
    ///     a.free(r);
    /// }
    /// ```
    pub unsafe fn reallocate(&self, p: *mut u8, new_size: usize) -> *mut u8 {
        if p.is_null() {
            return self.allocate(new_size, 1);
        }
        // SAFETY: the caller's contract.
        let old = unsafe { self.usable_size(p) };
        let keeps = match route_by_pointer(new_size, 1) {
            Route::Small(c) => old == GO.size(c as u8) && old <= MAX_SMALL_SIZE,
            _ => old > MAX_SMALL_SIZE && old == new_size.div_ceil(PAGE_SIZE) * PAGE_SIZE,
        };
        if keeps {
            return p;
        }
        if old > MAX_SMALL_SIZE && new_size > old && new_size <= isize::MAX as usize - PAGE_SIZE {
            // A growing page run: in place if the pages after it are free.
            // The statistics count a run's whole length as requested.
            if let Some(heap) = self.existing_heap() {
                let used = new_size.div_ceil(PAGE_SIZE) * PAGE_SIZE;
                if heap.grow_large_in_place(p, old, used) {
                    return p;
                }
            }
        }
        let q = self.allocate(new_size, 1);
        if !q.is_null() {
            // SAFETY: both objects are live and disjoint; p has `old` bytes, q `new_size`.
            unsafe {
                ptr::copy_nonoverlapping(p, q, old.min(new_size));
                self.free(p);
            }
        }
        q
    }

    #[cold]
    #[inline(never)]
    unsafe fn alloc_slow(&self, layout: Layout, zero: bool) -> *mut u8 {
        let (size, align) = (layout.size(), layout.align());
        let r = route(size, align);
        if r == Route::Zero {
            return align as *mut u8;
        }
        // SAFETY: r is the route of (size, align).
        unsafe { self.alloc_routed(r, size, align, zero) }
    }

    /// The allocation slow path for a request already routed. `size` is
    /// what the statistics count as requested.
    ///
    /// # Safety
    /// `r` is `route(size, align)`, or `route_by_pointer(size, align)` with
    /// `size` that route's usable size; `align` is a power of two and
    /// `size` at most `isize::MAX - align`.
    #[inline(always)]
    unsafe fn alloc_routed(&self, r: Route, size: usize, align: usize, zero: bool) -> *mut u8 {
        let Some(heap) = self.heap() else {
            return ptr::null_mut();
        };
        let p = match r {
            Route::Zero => return align as *mut u8,
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
                let p = if c.is_null() {
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
                };
                #[cfg(debug_assertions)]
                if !p.is_null() {
                    tiny::debug_alloc_piece(heap, p as usize);
                }
                p
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

    /// Gives a large run back: to the calling thread's cache of freed runs
    /// when `cacheable` and the thread has a cache, else to the page heap.
    fn free_large_run(&self, heap: &Heap, p: *mut u8, bytes: usize, cacheable: bool) {
        let c = if cacheable {
            self.cache(heap)
        } else {
            ptr::null_mut()
        };
        if c.is_null() {
            heap.free_large(p, bytes)
        } else {
            // SAFETY: the calling thread's own cache.
            heap.free_large_cached(unsafe { &mut *c }, p, bytes)
        }
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
            abort::check!(
                false,
                "dealloc of {p:p} before this allocator allocated anything"
            );
            return;
        };
        match r {
            Route::Zero => {}
            Route::Large => {
                self.free_large_run(heap, p, size, large::cacheable(size, layout.align()))
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
                    unsafe { push_cached(&mut *c, class, p, thread_cache::packed(size)) };
                }
            }
        }
    }

    /// Debug builds: aborts with a clear message if `p` was not handed out
    /// by this allocator with this layout, or was already freed.
    #[cfg(debug_assertions)]
    fn debug_check_free(&self, p: *mut u8, layout: Layout) {
        let r = route(layout.size(), layout.align());
        if r != Route::Zero {
            self.debug_check_route(p, Some(layout), r);
        }
    }

    /// Debug builds: the check behind [`GoAlloc::debug_check_free`] and the
    /// pointer-only [`GoAlloc::free`] (`layout` None, `r` read from the span).
    /// Marks the object free; aborts (never panics, `abort.rs`) if it was not live.
    #[cfg(debug_assertions)]
    fn debug_check_route(&self, p: *mut u8, layout: Option<Layout>, r: Route) {
        let addr = p as usize;
        let owned = self
            .existing_heap()
            .map(|h| h.map.get(addr))
            .unwrap_or(ptr::null_mut());
        let what = |s: &str| -> ! {
            match layout {
                Some(l) => abort::fatal(format_args!(
                    "dealloc of {p:p} with size {} align {}: {s}",
                    l.size(),
                    l.align()
                )),
                None => abort::fatal(format_args!("free of {p:p}: {s}")),
            }
        };
        if owned.is_null() {
            what("pointer not allocated by this GoAlloc (foreign pointer)");
        }
        // Fields through the raw pointer, no `&Span`: a central list may hold
        // `&mut` to this span's other fields meanwhile. Span metadata is never
        // unmapped; for a valid free the fields read are stable.
        // SAFETY: owned is span metadata from the page map.
        let (state, class) = unsafe { span::owner(owned) };
        match r {
            Route::Zero => {}
            Route::Large => {
                // SAFETY: as above.
                let base = unsafe { span::base_of(owned) };
                // SAFETY: as above.
                if state != SpanState::Large
                    || base != addr
                    || !large::debug_mark_large(unsafe { &*owned }, false)
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
                if state != SpanState::Small {
                    what("no live object here (double free or foreign pointer)");
                }
                if class != want {
                    what("the pointer lies in a span of another size class (wrong layout or foreign pointer)");
                }
                let obj = if want == TINY_CLASS {
                    addr & !(TINY_BLOCK - 1)
                } else {
                    addr
                };
                // SAFETY: as above.
                let Some(idx) = (unsafe { span::slot_of(owned, obj) }) else {
                    what("not the start of an object (interior or foreign pointer)");
                };
                let bit = 1u64 << (idx % 64);
                // SAFETY: idx is a slot index of the span (below 1024).
                let word = unsafe { span::live_word(owned, idx) };
                if want == TINY_CLASS {
                    if word.load(Ordering::Acquire) & bit == 0 {
                        what("tiny block not live (double free)");
                    }
                    // SAFETY: owned is the tiny span holding addr.
                    if !unsafe { tiny::debug_mark_piece(owned, addr, false) } {
                        what("tiny piece not live (double free or interior pointer)");
                    }
                } else if word.fetch_and(!bit, Ordering::AcqRel) & bit == 0 {
                    what("double free");
                }
            }
        }
    }
}

/// Pushes a freed small object on the thread's list and counts it (`one`:
/// the packed counter word of one object, `thread_cache::packed(size)`); runs the
/// length check (which flushes a batch if the list is full) when due.
///
/// # Safety
/// `class < NUM_CLASSES` and `p` is a freed slot of that class.
#[inline(always)]
unsafe fn push_cached(c: &mut ThreadCache, class: usize, p: *mut u8, one: u64) {
    // SAFETY: the caller's contract.
    if unsafe { push_counted(c, class, p, one) } {
        thread_cache::check_free(c, class);
    }
}

/// `list`, with its address hidden from the compiler ([`page_heap::opaque`]),
/// for the allocation fast paths' pop (`head = list.head; list.head =
/// head.next`). Left alone, LLVM loads the head through base + index and
/// stores it through an address it added up in a register, two addressing
/// forms for one field; with the address in one register, both use the
/// same. That alone took a batch of 1,000 allocations of 64 B from 3.8 to
/// 2.3 ns per allocation (mimalloc: 2.6) on this project's Xeon VM, and 16 B
/// from 3.0 to 2.2. The likely cause: the pop is a loop-carried chain
/// through memory (store the head, load it back, load its successor), and
/// recent x86 cores forward a store to a later load at almost no latency
/// when both name the address the same way (memory renaming); with two
/// forms the load waits for ordinary store-to-load forwarding.
#[inline(always)]
fn pinned(list: &mut thread_cache::FreeList) -> &mut thread_cache::FreeList {
    let p = page_heap::opaque(list as *mut thread_cache::FreeList as usize);
    // SAFETY: the same pointer, unchanged (opaque returns its argument), so
    // the same unique borrow.
    unsafe { &mut *(p as *mut thread_cache::FreeList) }
}

/// The push and count of [`push_cached`], shared by `dealloc` and the
/// pointer-only [`GoAlloc::free`]; true when the length check is due (the
/// caller runs it: `dealloc` directly, `free` through [`check_free_no_unwind`]).
///
/// # Safety
/// As for [`push_cached`].
#[inline(always)]
unsafe fn push_counted(c: &mut ThreadCache, class: usize, p: *mut u8, one: u64) -> bool {
    // SAFETY: the caller guarantees class < NUM_CLASSES.
    let list = unsafe { c.lists.get_unchecked_mut(class) };
    let o = p as *mut span::FreeObject;
    // SAFETY: the caller freed p, a slot of `class`; its first word is ours now.
    unsafe { (*o).next = list.freed };
    list.freed = o;
    // SAFETY: as above.
    let frees = unsafe { c.counters.frees.get_unchecked(class) };
    let counted = frees.load(Ordering::Relaxed) + one;
    frees.store(counted, Ordering::Relaxed);
    counted >= list.check_at
}

/// [`thread_cache::check_free`] for the pointer-only free: `extern "C"`, so
/// it cannot unwind, and `free` (the C ABI's `free` in particular) reaches
/// it by a tail call, with no landing pad.
#[cold]
#[inline(never)]
extern "C" fn check_free_no_unwind(c: &mut ThreadCache, class: usize) {
    thread_cache::check_free(c, class)
}

/// Debug builds: marks the slot at `addr` live (`on`) or free; aborts if it already was.
#[cfg(debug_assertions)]
pub(crate) fn debug_mark(heap: &Heap, addr: usize, on: bool) {
    let s = heap.map.get(addr);
    // SAFETY: addr was just handed out (or is being freed internally) from a live span.
    let Some(idx) = (unsafe { span::slot_of(s, addr) }) else {
        abort::fatal(format_args!(
            "internal error: slot {addr:#x} outside its span"
        ));
    };
    let bit = 1u64 << (idx % 64);
    // SAFETY: idx is a slot index of the span.
    let word = unsafe { span::live_word(s, idx) };
    let prev = if on {
        word.fetch_or(bit, Ordering::AcqRel)
    } else {
        word.fetch_and(!bit, Ordering::AcqRel)
    };
    if (prev & bit != 0) == on {
        abort::fatal(format_args!(
            "internal error: slot {addr:#x} handed out twice or freed twice"
        ));
    }
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
            let class = fast_class_of(size);
            if let Some(c) = thread_cache::lookup(self.key.load(Ordering::Relaxed)) {
                // SAFETY: lookup returns the calling thread's own cache.
                let c = unsafe { &mut *c.as_ptr() };
                // SAFETY: fast_class_of returns a class below NUM_SIZE_CLASSES.
                let list = pinned(unsafe { c.lists.get_unchecked_mut(class) });
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
                    #[cfg(debug_assertions)]
                    // SAFETY: a cache's heap outlives it.
                    tiny::debug_alloc_piece(unsafe { &*c.heap }, t.block + off);
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
                let class = fast_class_of(size);
                // SAFETY: the calling thread's own cache; p is a slot of `class` < NUM_CLASSES.
                unsafe { push_cached(&mut *c.as_ptr(), class, p, thread_cache::packed(size)) };
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
        let (from, to) = (route(old, align), route(new_size, align));
        if from == Route::Large
            && to == Route::Large
            && old.div_ceil(PAGE_SIZE) < new_size.div_ceil(PAGE_SIZE)
        {
            // A growing large object: in place if the pages after it are
            // free (no new run, no copy), else moved below.
            if let Some(heap) = self.existing_heap() {
                if heap.grow_large_in_place(p, old, new_size) {
                    return p;
                }
            }
        }
        let in_place = match (from, to) {
            (Route::Small(a), Route::Small(b)) => a == b,
            (Route::Tiny, Route::Tiny) => new_size <= old,
            (Route::Large, Route::Large) => old.div_ceil(PAGE_SIZE) == new_size.div_ceil(PAGE_SIZE),
            _ => false,
        };
        if in_place {
            if let Some(heap) = self.existing_heap() {
                if from == Route::Large {
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
