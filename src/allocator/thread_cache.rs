//! Thread caches (Go's `mcache`): per thread and per allocator instance, one
//! free list per size class, used without locks or atomic read-modify-writes.
//!
//! Part of the allocator described in [`crate::allocator`] (read its header first).
//!
//! Go gives each P (a scheduler slot, at most GOMAXPROCS) an mcache, and a
//! goroutine uses the mcache of the P it runs on. Rust has no Ps, so the
//! cache belongs to the OS thread. A [`ThreadCache`] holds, per class, a
//! singly linked list of free objects (linked through their first word) and
//! its limit. An allocation pops, a free pushes; when a list is empty it
//! takes a batch from the class's central list ("refill": 8 objects the
//! first time in a cache's life, twice as many each time after, up to the
//! class's batch, so a short-lived thread neither fetches nor, at its exit,
//! carries back objects it never needed; a cache parked with its objects
//! keeps its grown refill sizes for the next thread), when it grows to
//! its limit (about 64 KiB worth, at least two batches, see `span.rs`) it
//! first raises the limit by a batch, up to four times, within 1 MiB per
//! cache, then gives one batch back ("flush", see [`check_free`]). Each call
//! stores one packed counter (count and requested bytes) and no list
//! length: the length is brought up to date from the counters on the slow
//! paths, and a free checks it only when the list could be full ([`FreeList`]).
//!
//! **Several allocators in one process.** The thread-local part is a small
//! array of slots, each `(instance key, cache pointer)`. Every `GoAlloc`
//! instance gets a key (its heap's address with its slot's byte offset in
//! the low bits), so the fast path is a mask, one thread-local load and one
//! compare. Two
//! instances whose slot numbers collide on one thread evict each other's
//! cache (the evicted cache is flushed to its own heap first): correct, only
//! slower, and it needs more than [`SLOTS`] live instances to happen (a new
//! instance takes the least used slot number, a dropped one frees its own).
//!
//! **Where the thread-local block lives.** Rust's `thread_local!`, except in
//! the preloadable library (feature `preload`, x86-64 Linux), where a
//! `thread_local!` would be reached through `__tls_get_addr`, which may call
//! `malloc`: there the block is written in assembly and reached with the
//! initial-exec model (see [`tls`] below).
//!
//! **Thread exit.** The first cache a thread takes registers a
//! `pthread_key_create` destructor (one key for the process; glibc keeps the
//! first keys in static storage, so neither creating nor setting it calls
//! malloc). At thread exit it parks every cache of the thread on its heap's
//! idle list *with its free objects*, and the next new thread takes that
//! cache first, if it comes within a second ([`STOCKED_FOR_NS`]; a cache
//! parked longer is flushed by the thread that finds it): its first
//! allocations need no refill, and its own exit no flush. (mimalloc, at a
//! thread's exit, frees its pages whose blocks are all free and abandons
//! the others, to be reclaimed by other threads: its next thread starts
//! from fresh pages.) A parked cache keeps at most
//! [`STOCKED_BYTES`] (whole classes go back to the central lists, largest
//! objects first, until the rest fits) and its tiny block; its large runs
//! go back to the page heap. At most [`STOCKED_CACHES`] caches per heap are
//! parked that way; a thread that exits while they are flushes its cache in
//! full (only the classes that hold objects) and parks it empty.
//! `flush_thread_cache` flushes the parked caches too. Then the thread is
//! marked dead: any allocation after that (from a later destructor) takes
//! the direct path, which goes to the central list under its lock without a
//! cache. Rust's own `thread_local!` destructors run before pthread key
//! destructors in glibc, so most late frees still use the
//! cache and are parked with it. A thread whose *first* allocation comes in
//! the last round of key destructors registers too late to be called; its
//! cache is adopted by the next thread that gets its thread-local block
//! (`CacheRegistry::owned`).
//!
//! Measured with callgrind, most of a short-lived thread's allocator cost
//! was that exit flush (each object back to its span, emptied spans back to
//! the page heap) and the next thread's slow-start refills (the same spans
//! cut again); a parked cache's objects skip both.
//!
//! **Frees from another thread.** The object simply goes into the freeing
//! thread's cache for its class (as in tcmalloc); when that cache flushes,
//! each run of objects of one span finds that span through the page map.
//!
//! The fact a reader gets wrong: the cache *structs* are never freed. They
//! are memory from the OS owned by their heap, reused by later threads, and
//! they keep their counters, so statistics survive thread exit. Nor does a
//! thread's exit give its free objects back: up to the bounds above they
//! wait in its parked cache (counted in `heap_in_use`, as objects in a live
//! thread's cache are) for the next thread.

use super::abort::check;
use super::lock::SpinLock;
use super::os;
use super::span::{Chain, FreeObject, NUM_CLASSES, TINY_CLASS};
use super::tiny::TinyState;
use super::Heap;
#[cfg(not(all(feature = "preload", target_os = "linux", target_arch = "x86_64")))]
use core::cell::UnsafeCell;
use core::marker::PhantomPinned;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, Ordering::*};

/// Thread-local cache slots; instances beyond this share slots by eviction.
pub(crate) const SLOTS: usize = 8;
/// Key of an empty slot (no heap has it).
const NO_KEY: usize = usize::MAX;

/// One size class's free objects in a thread cache.
///
/// Two lists, as mimalloc shards its free lists: allocations pop from
/// `head`, frees push on `freed`, and `freed` becomes `head` only when
/// `head` runs dry. An alloc+free loop then does not wait on its own
/// previous store (the free's write of the head is not the next
/// allocation's read), which is worth a few cycles per pair.
///
/// Neither fast path stores a length. The list's length is kept in `len`
/// only as of the last *fold* (see [`Counters`]); since then the class's
/// packed malloc and free counters have counted what came and went. A free
/// compares its packed counter with `check_at`, set at each fold so that
/// the length check (and a flush, if the list is full) runs once `max - len`
/// objects have been freed, the earliest the list could be full.
#[repr(C)]
pub(crate) struct FreeList {
    pub head: *mut FreeObject,
    /// Objects freed since `head` last ran dry.
    pub freed: *mut FreeObject,
    /// Packed free counter value (see [`Counters`]) at which the free path
    /// checks the length: `(max - len) << 32` after a fold.
    pub check_at: u64,
    /// Objects on the two lists as of the last fold.
    pub len: u32,
    /// Most objects the list holds.
    pub max: u32,
}

/// Event counters. The owning thread updates them with a plain load and
/// store (no read-modify-write); readers on other threads see a recent value.
///
/// The per-class `mallocs` and `frees` words are *packed*: the objects
/// counted since the last fold in the high 32 bits, the bytes they were
/// requested with in the low 32, so a fast-path call updates one word for
/// both (one store instead of two). The slow paths of the class *fold* the
/// words into the wide totals and reset them to zero, often enough that
/// neither half can overflow (a few `max` objects of at most 32 KiB). A fold runs
/// on every length check and flush (at most `max` frees apart) and on every
/// refill from the central list; between two folds a thread can only
/// allocate what the list held at the first plus what it freed since.
pub(crate) struct Counters {
    /// Packed allocations since the last fold, per class.
    pub mallocs: [AtomicU64; NUM_CLASSES],
    /// Packed frees since the last fold, per class.
    pub frees: [AtomicU64; NUM_CLASSES],
    /// Allocations folded so far, per class.
    pub mallocs_folded: [AtomicU64; NUM_CLASSES],
    /// Frees folded so far, per class.
    pub frees_folded: [AtomicU64; NUM_CLASSES],
    /// Bytes requested by tiny allocations and folded small ones.
    pub requested: AtomicU64,
    /// Bytes requested by the tiny pieces and folded small objects freed.
    pub requested_freed: AtomicU64,
    pub tiny_allocs: AtomicU64,
    pub tiny_frees: AtomicU64,
    pub refills: AtomicU64,
    pub flushes: AtomicU64,
    /// Large objects served from or freed into the cache's large runs
    /// (`large.rs`); the others are counted by the page heap.
    pub large: super::large::CachedLargeCounters,
}

/// One object in a packed counter word (see [`Counters`]).
pub(crate) const ONE_OBJECT: u64 = 1 << 32;
/// The bytes half of a packed counter word.
pub(crate) const PACKED_BYTES: u64 = ONE_OBJECT - 1;

/// The packed count of one call for `size` requested bytes.
#[inline(always)]
pub(crate) fn packed(size: usize) -> u64 {
    ONE_OBJECT | size as u64
}

/// Adds `n` to a counter only this thread writes.
#[inline(always)]
pub(crate) fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

/// One thread's cache for one heap. All-zero is valid apart from `heap` and `max`.
///
/// Its owner works on it through `&mut ThreadCache` while a statistics
/// reader on another thread loads its [`Counters`] (atomics). A `&mut` to an
/// ordinary struct claims that nothing else touches any of its bytes, which
/// that reader would break; a `&mut` to a `!Unpin` type makes no such claim
/// (rustc emits no `noalias` for it, and Miri's aliasing models exempt it:
/// the exception RFC 3467's `UnsafePinned` is to name). So the struct is
/// `!Unpin` ([`PhantomPinned`]): the owner's exclusive access is a fact of
/// the design (one thread per cache), not a claim of the type.
#[repr(C, align(64))]
pub(crate) struct ThreadCache {
    pub lists: [FreeList; NUM_CLASSES],
    pub tiny: TinyState,
    /// Recently freed large runs, kept for reuse (`large.rs`).
    pub large: super::large::LargeCache,
    pub counters: Counters,
    pub heap: *const Heap,
    /// Next cache on the heap's list of every cache (for statistics).
    pub next_all: AtomicPtr<ThreadCache>,
    /// Next cache on the heap's idle list.
    next_idle: *mut ThreadCache,
    /// Address of the owning thread's thread-local block (0 while idle), to
    /// recognise the cache of a thread that exited without a flush.
    owner: usize,
    /// When it was parked with its objects ([`now_ns`]); see [`STOCKED_FOR_NS`].
    parked_at: u64,
    /// Objects the next refill of each class asks the central list for
    /// (0: [`FIRST_BATCH`]); see [`refill`].
    refill_batch: [u16; NUM_CLASSES],
    /// Bytes by which the lists' limits have grown past their classes'
    /// `cache_max` (see [`check_free`]); at most [`GROWTH_BUDGET`].
    grown: usize,
    _shared: PhantomPinned,
}

/// A list limit grows to at most this many times its class's `cache_max`.
const LIMIT_GROWTH: u32 = 4;
/// Bytes by which one cache's list limits may grow, all classes together.
const GROWTH_BUDGET: usize = 1 << 20;

/// The first refill of a class in a cache's life asks for this many objects
/// (or the class's batch, if smaller); each later refill asks for twice as
/// many as the one before, up to the class's batch (`span.rs`).
const FIRST_BATCH: u32 = 8;

/// Entries of a heap's table of caches by owner (see [`CacheRegistry::owned`]).
const OWNED_ENTRIES: usize = 256;

/// The table entry for a thread-local block address.
fn owned_entry(tls: usize) -> usize {
    (tls >> 6).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (usize::BITS - OWNED_ENTRIES.trailing_zeros())
}

/// A heap's thread caches: every one ever made, those no thread uses, and
/// the ones in use by the address of their owner's thread-local block.
pub(crate) struct CacheRegistry {
    pub all: AtomicPtr<ThreadCache>,
    idle: SpinLock<IdleList>,
    /// Caches in use, by their owner's thread-local block (one entry per
    /// hash; a collision only forgets the older cache). A thread whose
    /// *first* allocation came in the last round of pthread key destructors
    /// registered its exit hook too late for glibc to call it, so its cache
    /// is never flushed at its exit. glibc reuses the stacks (and with them
    /// the thread-local blocks) of exited threads, and a block belongs to one
    /// live thread at a time: when a new thread takes its first cache and
    /// finds a cache here owned by its own block, that cache's thread is
    /// dead, and the new thread adopts it (objects and all), so its contents
    /// are used and flushed again.
    owned: [AtomicPtr<ThreadCache>; OWNED_ENTRIES],
}

/// The caches no thread uses: those parked with their objects (taken
/// first) and the empty ones, each a list linked through `next_idle`.
struct IdleList {
    stocked: *mut ThreadCache,
    /// Caches on `stocked` (at most [`STOCKED_CACHES`]).
    stocked_len: usize,
    empty: *mut ThreadCache,
}
// SAFETY: the pointers are cache structs owned by the heap, used under the lock.
unsafe impl Send for IdleList {}

impl IdleList {
    /// The first cache of the empty list, taken off it (null if none).
    fn pop_empty(&mut self) -> *mut ThreadCache {
        let c = self.empty;
        if !c.is_null() {
            // SAFETY: caches on the idle lists are valid and unused, linked
            // through `next_idle`, and the caller holds the idle lock.
            self.empty = unsafe { (*c).next_idle };
        }
        c
    }
}

/// Most parked caches of a heap that keep their objects for the next
/// thread; a thread that exits while this many are parked flushes its cache.
pub(crate) const STOCKED_CACHES: usize = 4;

/// How long a cache parked with its objects may wait for the next thread:
/// one second. Parking pays off for threads that follow each other
/// closely (a thread per task, larson's rounds); a thread that comes later
/// is more likely one of a pool started after such a phase, and two
/// workers that take two caches parked by threads which freed each other's
/// objects hold neighbouring objects, so their writes share cache lines.
/// Measured on the allocator bench, two long-lived workers after the
/// larson rounds: 0.77× one worker's throughput with the larson threads'
/// caches (the measuring run at 45b7707), about 1.8× with one cache parked
/// at a time (filtered bench runs, which also made larson itself about two
/// fifths slower, so a cap on count was not the answer). A cache parked
/// for longer is flushed by the thread that finds it, and parked empty.
pub(crate) const STOCKED_FOR_NS: u64 = 1_000_000_000;

/// Monotonic nanoseconds from the coarse clock (vDSO, no system call, no malloc).
fn now_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes only the timespec passed.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Most bytes of free objects a parked cache keeps: a dying thread's cache
/// gives back whole classes, the largest objects first, until it holds no
/// more. With [`STOCKED_CACHES`], caches of exited threads hold at most
/// 4 MiB of a heap's objects (the page heap's retention floor keeps as
/// much in idle pages); `flush_thread_cache` gives them all back.
pub(crate) const STOCKED_BYTES: u64 = 1 << 20;

impl CacheRegistry {
    /// A cache for the calling thread, whose thread-local block is at `tls`:
    /// one a dead thread left with that block, an idle one or a new one;
    /// null if the OS refuses.
    fn take(&self, heap: &Heap, tls: usize) -> *mut ThreadCache {
        let entry = &self.owned[owned_entry(tls)];
        let e = entry.load(Acquire);
        // SAFETY: caches are never freed; `owner` was written before the
        // entry was published (Release), and a block address belongs to one
        // live thread, so a cache owned by ours belongs to a dead thread.
        if !e.is_null()
            && unsafe { (*e).owner } == tls
            && entry
                .compare_exchange(e, ptr::null_mut(), AcqRel, Relaxed)
                .is_ok()
        {
            self.register(e, tls);
            return e;
        }
        let c = self.take_idle_or_new(heap);
        if !c.is_null() {
            self.register(c, tls);
        }
        c
    }

    /// Records `c` as the cache of the thread whose block is at `tls`.
    fn register(&self, c: *mut ThreadCache, tls: usize) {
        // SAFETY: c is a valid cache the calling thread now owns.
        unsafe { (*c).owner = tls };
        self.owned[owned_entry(tls)].store(c, Release);
    }

    /// Forgets every owner (a fork child: the parent's other threads, and
    /// their half-finished work on their caches, did not come along).
    pub(crate) fn forget_owners(&self) {
        for e in &self.owned {
            e.store(ptr::null_mut(), Relaxed);
        }
    }

    /// A cache parked with its objects less than [`STOCKED_FOR_NS`] ago,
    /// else an empty one, else a new one. Caches parked for longer are
    /// flushed on the way (by this thread, once each) and parked empty.
    fn take_idle_or_new(&self, heap: &Heap) -> *mut ThreadCache {
        let now = now_ns();
        let mut stale: *mut ThreadCache = ptr::null_mut();
        let mut taken: *mut ThreadCache = ptr::null_mut();
        {
            let mut idle = self.idle.lock();
            // At most STOCKED_CACHES long: take the first fresh one, move
            // the stale ones before it onto `stale`.
            while !idle.stocked.is_null() && taken.is_null() {
                let c = idle.stocked;
                // SAFETY: caches on the idle lists are valid and unused,
                // linked through `next_idle`, all under the lock.
                unsafe {
                    idle.stocked = (*c).next_idle;
                    idle.stocked_len -= 1;
                    if now.saturating_sub((*c).parked_at) < STOCKED_FOR_NS {
                        taken = c;
                    } else {
                        (*c).next_idle = stale;
                        stale = c;
                    }
                }
            }
            if taken.is_null() {
                taken = idle.pop_empty();
            }
        }
        if !stale.is_null() {
            // Parked empty now: the first of them serves this thread.
            self.flush_and_park_empty(stale);
            if taken.is_null() {
                taken = self.idle.lock().pop_empty();
            }
        }
        if !taken.is_null() {
            return taken;
        }
        let bytes = core::mem::size_of::<ThreadCache>().next_multiple_of(4096);
        let c = os::reserve(bytes) as *mut ThreadCache;
        if c.is_null() {
            return c;
        }
        // SAFETY: c is fresh zeroed memory (a valid ThreadCache apart from the
        // fields set here), not yet visible to anyone else.
        unsafe {
            (*c).heap = heap;
            for (class, list) in (*c).lists.iter_mut().enumerate() {
                list.max = heap.info[class].cache_max;
                list.check_at = u64::from(list.max) << 32;
            }
            let mut head = self.all.load(Acquire);
            loop {
                (*c).next_all.store(head, Relaxed);
                match self.all.compare_exchange_weak(head, c, AcqRel, Acquire) {
                    Ok(_) => break,
                    Err(h) => head = h,
                }
            }
        }
        c
    }

    /// The idle list's lock, for the fork handlers (`fork.rs`).
    pub(crate) fn idle_lock(&self) -> &SpinLock<impl Sized> {
        &self.idle
    }

    /// Parks a cache its owner gives up: on the stocked list with the
    /// objects it holds (`stocked`; false, and nothing done, if
    /// [`STOCKED_CACHES`] are parked there already), else on the empty list,
    /// where its next thread starts slow again (see [`from_central`]).
    fn put(&self, c: *mut ThreadCache, stocked: bool) -> bool {
        // SAFETY: c is a valid cache its owner gives up.
        let tls = core::mem::replace(unsafe { &mut (*c).owner }, 0);
        let _ = self.owned[owned_entry(tls)].compare_exchange(c, ptr::null_mut(), AcqRel, Relaxed);
        if !stocked {
            // SAFETY: as above.
            unsafe { (*c).refill_batch = [0; NUM_CLASSES] };
        }
        let parked_at = if stocked { now_ns() } else { 0 };
        let mut idle = self.idle.lock();
        let list = if stocked {
            if idle.stocked_len == STOCKED_CACHES {
                return false;
            }
            idle.stocked_len += 1;
            // SAFETY: as above.
            unsafe { (*c).parked_at = parked_at };
            &mut idle.stocked
        } else {
            &mut idle.empty
        };
        // SAFETY: c is a valid cache no thread uses any more.
        unsafe { (*c).next_idle = *list };
        *list = c;
        true
    }

    /// Flushes the caches parked with their objects and moves them to the
    /// empty list, so the heap keeps no objects for threads not yet born.
    fn flush_stocked(&self) {
        let c = {
            let mut idle = self.idle.lock();
            idle.stocked_len = 0;
            core::mem::replace(&mut idle.stocked, ptr::null_mut())
        };
        self.flush_and_park_empty(c);
    }

    /// Flushes each cache of a list (linked through `next_idle`) that was
    /// taken off the stocked list, and parks it empty.
    fn flush_and_park_empty(&self, mut c: *mut ThreadCache) {
        if c.is_null() {
            return;
        }
        // A flush may reach the scavenger's `madvise`: keep C's errno.
        let _errno = os::SavedErrno::new();
        while !c.is_null() {
            // SAFETY: the caches were taken off the idle list above, so this
            // thread alone uses them; they are never freed.
            unsafe {
                let next = (*c).next_idle;
                flush_all(&mut *c);
                self.put(c, false);
                c = next;
            }
        }
    }
}

/// Folds the class's packed counters into the totals (see [`Counters`]):
/// afterwards `len` is exact and the next length check is `max - len` frees away.
pub(crate) fn fold(cache: &mut ThreadCache, class: usize) {
    let k = &cache.counters;
    let m = k.mallocs[class].load(Relaxed);
    let f = k.frees[class].load(Relaxed);
    check!(
        m & PACKED_BYTES < 1 << 31 && f & PACKED_BYTES < 1 << 31,
        "internal error: packed counters of class {class} near overflow"
    );
    if m != 0 {
        k.mallocs[class].store(0, Relaxed);
        bump(&k.mallocs_folded[class], m >> 32);
        bump(&k.requested, m & PACKED_BYTES);
    }
    if f != 0 {
        k.frees[class].store(0, Relaxed);
        bump(&k.frees_folded[class], f >> 32);
        bump(&k.requested_freed, f & PACKED_BYTES);
    }
    let list = &mut cache.lists[class];
    // The true length never goes below zero, so len + frees >= mallocs.
    list.len = list.len + (f >> 32) as u32 - (m >> 32) as u32;
    set_check(list);
}

/// Sets the next length check for a list whose `len` is exact and whose
/// packed free counter is zero.
fn set_check(list: &mut FreeList) {
    list.check_at = u64::from(list.max.saturating_sub(list.len)) << 32;
}

/// Refills the list of `class` and hands its first object to the caller:
/// the objects this thread freed if there are any (topped up from the
/// central list while the class is in slow start, see [`from_central`]),
/// else a batch from the central list. Null if the OS refused memory.
#[cold]
#[inline(never)]
pub(crate) fn refill(cache: &mut ThreadCache, class: usize) -> *mut u8 {
    let list = &mut cache.lists[class];
    if !list.freed.is_null() {
        // Objects freed by this thread: they become the allocation list.
        // No fold: the length does not change, and the allocations counted
        // until the next fold are bounded by what the frees (each counted,
        // and checked every `max - len`) put on the list.
        let o = list.freed;
        // SAFETY: objects on a cache list are free slots linked through their first word.
        list.head = unsafe { (*o).next };
        list.freed = ptr::null_mut();
        if cache.refill_batch[class] & BATCH_GROWN == 0 {
            // Still in slow start: a thread that reuses what it frees would
            // otherwise circulate its first small batch for good, and come
            // here once per batch. Grow the list too.
            let _ = from_central(cache, class, false);
        }
        return o.cast();
    }
    from_central(cache, class, true)
}

/// Marks a class of [`ThreadCache::refill_batch`] whose slow start is over.
const BATCH_GROWN: u16 = 1 << 15;

/// Takes a batch from the central list: hands its first object to the
/// caller (`take_one`) or puts them all on the list. Slow start: a
/// short-lived thread that needs a few objects of a class takes a few, not a
/// whole batch that its exit would carry back one by one; one that keeps
/// allocating reaches the class's full batch within four refills.
fn from_central(cache: &mut ThreadCache, class: usize, take_one: bool) -> *mut u8 {
    // Fold first, so that `len` is exact before the chain is added and a
    // thread that only allocates folds once per batch.
    fold(cache, class);
    // SAFETY: a cache's heap outlives it (heaps are never freed).
    let heap = unsafe { &*cache.heap };
    let info = &heap.info[class];
    let want = match u32::from(cache.refill_batch[class] & !BATCH_GROWN) {
        0 => FIRST_BATCH.min(info.batch),
        n => n,
    };
    let next = (want * 2).min(info.batch);
    cache.refill_batch[class] = next as u16 | if want == info.batch { BATCH_GROWN } else { 0 };
    let chain = heap.central[class].lock().refill(
        class,
        info,
        &heap.map,
        &heap.pages,
        want,
        cache as *const ThreadCache as usize,
    );
    if chain.len == 0 {
        return ptr::null_mut();
    }
    let list = &mut cache.lists[class];
    // SAFETY: the chain's objects are free slots handed to this cache.
    let first = unsafe {
        (*chain.tail).next = list.head;
        if take_one {
            list.head = (*chain.head).next;
            chain.head
        } else {
            list.head = chain.head;
            ptr::null_mut()
        }
    };
    // The whole chain counts; the caller counts the first object's allocation.
    list.len += chain.len;
    set_check(list);
    bump(&cache.counters.refills, 1);
    first.cast()
}

/// The length check of the free path: folds the counters and gives one
/// batch of `class` back to the central list if the list is full.
///
/// A Rust function that may unwind (unlike `GoAlloc::free_slow`): as an
/// `extern "C"` one, callgrind counted one to two instructions more per
/// pair in the `dealloc` loops of 32 KiB and 64 KiB. The pointer-only free
/// (and so the C ABI's `free`) reaches it through an `extern "C"` wrapper
/// instead (`check_free_no_unwind` in `mod.rs`), by a tail call with no
/// stack frame.
#[cold]
#[inline(never)]
pub(crate) fn check_free(cache: &mut ThreadCache, class: usize) {
    fold(cache, class);
    let list = &mut cache.lists[class];
    if list.len >= list.max {
        // SAFETY: a cache's heap outlives it.
        let heap = unsafe { &*cache.heap };
        let info = &heap.info[class];
        // A list that overflows holds a working set larger than its class's
        // limit: grow the limit by a batch instead of flushing (tcmalloc
        // grows its lists the same way), a few times and within the cache's
        // budget, so a loop over slightly more objects than the limit does
        // not send a batch through the central list, and another thread,
        // on every round.
        let step = info.batch as usize * info.size;
        if list.max < info.cache_max * LIMIT_GROWTH && cache.grown + step <= GROWTH_BUDGET {
            list.max += info.batch;
            cache.grown += step;
            set_check(list);
            return;
        }
        // The flush may reach the scavenger's `madvise`: keep C's errno.
        let _errno = os::SavedErrno::new();
        let n = info.batch.min(list.len);
        flush_n(cache, class, n);
    }
}

/// Gives `n` objects of `class` back: the freed ones first, the oldest-cached
/// last. The counters must have just been folded (`len` exact, `len >= n`).
fn flush_n(cache: &mut ThreadCache, class: usize, n: u32) {
    if n == 0 {
        return;
    }
    // SAFETY: a cache's heap outlives it.
    let heap = unsafe { &*cache.heap };
    let list = &mut cache.lists[class];
    // The freed ones first, then (if `freed` held fewer than n) the oldest:
    // the central list walks each list in place, with no cut beforehand.
    let mut central = heap.central[class].lock();
    // SAFETY: the two lists hold `len >= n` linked, null-terminated free
    // objects of this heap's spans of `class` between them.
    let (from_freed, due) =
        unsafe { central.release_from(&mut list.freed, n, &heap.map, &heap.pages) };
    let mut released = from_freed;
    let mut due_too = super::page_heap::ScavengeDue::NO;
    if released < n {
        // SAFETY: as above.
        let (from_head, d) =
            unsafe { central.release_from(&mut list.head, n - released, &heap.map, &heap.pages) };
        released += from_head;
        due_too = d;
    }
    drop(central);
    check!(
        released == n,
        "internal error: flush of {n} found {released} objects"
    );
    list.len -= n;
    set_check(list);
    bump(&cache.counters.flushes, 1);
    // The class lock is dropped: the scavenger (madvise) runs outside it.
    due.or(due_too).run(&heap.pages, &heap.map);
}

/// Empties every list of the cache (and retires its tiny block and gives
/// its large runs back to the page heap). Classes whose two lists are empty
/// are passed over without a fold: their counters stay as they are, and the
/// next fold brings `len` up to date from them as usual.
pub(crate) fn flush_all(cache: &mut ThreadCache) {
    super::tiny::retire(cache);
    super::large::flush(cache);
    for class in 1..NUM_CLASSES {
        let list = &cache.lists[class];
        if list.head.is_null() && list.freed.is_null() {
            continue;
        }
        fold(cache, class);
        let n = cache.lists[class].len;
        flush_n(cache, class, n);
    }
    check!(
        cache.lists[TINY_CLASS].head.is_null() && cache.lists[TINY_CLASS].freed.is_null(),
        "internal error: tiny blocks left in a flushed cache"
    );
}

/// Trims a cache to at most `bytes` of free objects: folds every class that
/// holds any, then gives whole classes back, the largest size first (the
/// tiny blocks, 16 bytes each, last), until the rest fits.
fn trim(cache: &mut ThreadCache, bytes: u64) {
    // SAFETY: a cache's heap outlives it.
    let heap = unsafe { &*cache.heap };
    let mut held = 0u64;
    for class in 1..NUM_CLASSES {
        let list = &cache.lists[class];
        if list.head.is_null() && list.freed.is_null() {
            continue;
        }
        fold(cache, class);
        held += u64::from(cache.lists[class].len) * heap.info[class].size as u64;
    }
    let by_size = (1..TINY_CLASS).rev().chain([TINY_CLASS]);
    for class in by_size {
        if held <= bytes {
            break;
        }
        let list = &cache.lists[class];
        // An empty class was not folded: its `len` may be out of date.
        if !list.head.is_null() || !list.freed.is_null() {
            let n = list.len;
            held -= u64::from(n) * heap.info[class].size as u64;
            flush_n(cache, class, n);
        }
    }
}

/// Parks the cache of an exiting thread: it gives
/// its large runs back and keeps up to [`STOCKED_BYTES`] of small objects
/// (and its tiny block) for the next thread, which then needs no refill for
/// them; if [`STOCKED_CACHES`] caches are parked that way already, it is
/// flushed in full and parked empty.
fn park(c: *mut ThreadCache) {
    // SAFETY: the caller owned the cache and gives it up; heaps are never freed.
    let (cache, heap) = unsafe { (&mut *c, &*(*c).heap) };
    super::large::flush(cache);
    trim(cache, STOCKED_BYTES);
    if !heap.caches.put(c, true) {
        flush_all(cache);
        heap.caches.put(c, false);
    }
}

/// Gives a chain straight to the central list (the direct path, no cache).
pub(crate) fn release_direct(heap: &Heap, class: usize, obj: *mut FreeObject) {
    let mut list = obj;
    // SAFETY: obj is a free slot of this heap's spans of `class`.
    let (_, due) = unsafe {
        (*obj).next = ptr::null_mut();
        heap.central[class]
            .lock()
            .release_from(&mut list, 1, &heap.map, &heap.pages)
    };
    due.run(&heap.pages, &heap.map);
}

/// Takes one object straight from the central list (the direct path).
pub(crate) fn alloc_direct(heap: &Heap, class: usize) -> *mut u8 {
    let info = &heap.info[class];
    let chain: Chain = heap.central[class]
        .lock()
        .refill(class, info, &heap.map, &heap.pages, 1, 0);
    chain.head.cast()
}

/// A thread-local slot. `cache` is meaningful only while `key` matches an
/// instance (an empty slot has `NO_KEY` and a dangling pointer), so the fast
/// path needs no null test.
#[repr(C)]
struct Slot {
    key: usize,
    cache: NonNull<ThreadCache>,
}

impl Slot {
    const EMPTY: Slot = Slot {
        key: NO_KEY,
        cache: NonNull::dangling(),
    };
}

const FRESH: u8 = 0;
const LIVE: u8 = 1;
const DEAD: u8 = 2;

/// The thread-local part: the slots and the thread's life-cycle state.
#[repr(C)]
struct Tls {
    slots: [Slot; SLOTS],
    state: u8,
}

/// The calling thread's [`Tls`], from Rust's `thread_local!` (a
/// const-initialised one without a destructor, so the access can never fail).
#[cfg(not(all(feature = "preload", target_os = "linux", target_arch = "x86_64")))]
#[inline(always)]
fn tls() -> *mut Tls {
    thread_local! {
        static TLS: UnsafeCell<Tls> = const {
            UnsafeCell::new(Tls {
                slots: [Slot::EMPTY; SLOTS],
                state: FRESH,
            })
        };
    }
    TLS.with(|t| t.get())
}

// The preloadable library (feature `preload`, x86-64 Linux): the thread-local
// block written in assembly and reached with the *initial-exec* TLS model.
//
// Rust's `thread_local!` in a shared library uses the general-dynamic model:
// every access calls `__tls_get_addr`, and glibc's `__tls_get_addr` may call
// `malloc` (to grow a thread's DTV after a `dlopen` of a module with TLS, or
// to allocate a module's block lazily), which would re-enter this allocator
// from inside its own fast path. Stable Rust cannot pick another model
// (`#[thread_local]` and `-Z tls-model` are nightly-only), but `global_asm!`
// and `asm!` are stable: the block is a symbol in `.tdata`, and the access is
// the initial-exec sequence (`%fs:0` plus a GOT entry holding the block's
// offset from the thread pointer). The loader resolves that offset once, at
// load time; a library loaded with the program (`LD_PRELOAD`) has its block in
// the static TLS area, set up for every thread before it runs a line of code,
// so the access is two loads and never calls anyone. (The linker marks the
// library `STATIC_TLS`; a `dlopen` of it later would also work while glibc's
// static TLS surplus lasts, which 136 bytes do.) The block's initial image
// (`.tdata`) is the `Tls` value with every slot empty, as `Slot::EMPTY` spells it.
#[cfg(all(feature = "preload", target_os = "linux", target_arch = "x86_64"))]
core::arch::global_asm!(
    ".pushsection .tdata,\"awT\",@progbits",
    ".p2align 3",
    ".globl __alloc_cookbook_goalloc_tls",
    ".hidden __alloc_cookbook_goalloc_tls",
    ".type __alloc_cookbook_goalloc_tls, @object",
    ".size __alloc_cookbook_goalloc_tls, {size}",
    "__alloc_cookbook_goalloc_tls:",
    ".rept {slots}",
    ".quad {no_key}",
    ".quad {dangling}",
    ".endr",
    ".zero {tail}",
    ".popsection",
    size = const core::mem::size_of::<Tls>(),
    slots = const SLOTS,
    no_key = const NO_KEY,
    dangling = const core::mem::align_of::<ThreadCache>(),
    tail = const core::mem::size_of::<Tls>() - SLOTS * core::mem::size_of::<Slot>(),
);

/// The calling thread's [`Tls`] through the initial-exec model (see above).
#[cfg(all(feature = "preload", target_os = "linux", target_arch = "x86_64"))]
#[inline(always)]
fn tls() -> *mut Tls {
    let t: *mut Tls;
    // SAFETY: reads the thread pointer and the GOT entry the loader filled
    // with the block's offset; no memory is written, nothing is called.
    unsafe {
        core::arch::asm!(
            "mov {t}, qword ptr fs:[0]",
            "add {t}, qword ptr [rip + __alloc_cookbook_goalloc_tls@GOTTPOFF]",
            t = out(reg) t,
            options(pure, readonly, nostack),
        );
    }
    t
}

/// The bits of an instance key that hold its slot: the slot's byte offset
/// in the thread-local block (slot number times the size of a [`Slot`]), so
/// the fast path masks the key and adds, with no shift.
const KEY_SLOT_BITS: usize = (SLOTS - 1) * core::mem::size_of::<Slot>();

/// The key of the heap at `heap` (page-aligned) with slot number `slot`.
pub(crate) fn make_key(heap: usize, slot: usize) -> usize {
    check!(
        slot < SLOTS && heap & (KEY_SLOT_BITS | (core::mem::size_of::<Slot>() - 1)) == 0,
        "internal error: heap {heap:#x} or slot {slot} does not fit a key"
    );
    heap | (slot * core::mem::size_of::<Slot>())
}

/// The slot number in `key`.
pub(crate) fn key_slot(key: usize) -> usize {
    (key & KEY_SLOT_BITS) / core::mem::size_of::<Slot>()
}

/// The heap address in `key` (a key made by [`make_key`]).
#[inline(always)]
pub(crate) fn key_heap(key: usize) -> usize {
    key & !KEY_SLOT_BITS
}

/// The calling thread's cache for the instance with `key`, or `None` (then
/// the caller takes [`cache_slow`]). One thread-local load and one compare.
#[inline(always)]
pub(crate) fn lookup(key: usize) -> Option<NonNull<ThreadCache>> {
    // SAFETY: the thread-local is only touched by this thread, and no
    // reference to it outlives this function; the masked offset is a
    // multiple of a slot's size below SLOTS slots, so it names a slot.
    let s = unsafe { &*(*tls()).slots.as_ptr().byte_add(key & KEY_SLOT_BITS) };
    (s.key == key).then_some(s.cache)
}

/// Finds or makes the calling thread's cache for `heap`; null on a dying
/// thread or if the OS refuses memory (the caller then takes the direct path).
#[cold]
#[inline(never)]
pub(crate) fn cache_slow(key: usize, heap: &Heap) -> *mut ThreadCache {
    let block = tls();
    // SAFETY: only this thread touches its thread-local block; the state is
    // read and written through the raw pointer, since the registration below
    // may re-enter the allocator on this thread.
    let state = unsafe { (*block).state };
    if state == DEAD {
        return ptr::null_mut();
    }
    if state == FRESH {
        // `pthread_setspecific` allocates (calloc) for a key numbered 32 or
        // more: such a nested allocation sees DEAD and takes the direct path.
        // SAFETY: as above.
        unsafe { (*block).state = DEAD };
        let ok = register_thread_exit();
        // SAFETY: as above.
        unsafe { (*block).state = if ok { LIVE } else { FRESH } };
        if !ok {
            return ptr::null_mut();
        }
    }
    // SAFETY: only this thread touches its thread-local block, and nothing
    // called below allocates through this allocator.
    let tls = unsafe { &mut *block };
    let slot = &mut tls.slots[key_slot(key)];
    if slot.key == key {
        return slot.cache.as_ptr();
    }
    if slot.key != NO_KEY {
        evict(slot);
    }
    let c = heap.caches.take(heap, block as usize);
    if let Some(nn) = NonNull::new(c) {
        slot.key = key;
        slot.cache = nn;
    }
    c
}

/// Flushes the cache in `slot` to its own heap and parks it.
fn evict(slot: &mut Slot) {
    let c = slot.cache.as_ptr();
    *slot = Slot::EMPTY;
    // SAFETY: the slot owned the cache; heaps are never freed.
    unsafe {
        flush_all(&mut *c);
        (*(*c).heap).caches.put(c, false);
    }
}

/// Flushes the calling thread's cache for the instance with `key` (if any)
/// and parks it, so the thread holds nothing of that heap; flushes the
/// caches exited threads parked with their objects, too.
pub(crate) fn flush_current(key: usize) {
    // SAFETY: only this thread touches its thread-local.
    let tls = unsafe { &mut *tls() };
    let slot = &mut tls.slots[key_slot(key)];
    if slot.key == key {
        evict(slot);
    }
    // SAFETY: a non-zero key is a published heap's address and slot number;
    // heaps are never freed.
    let heap = unsafe { &*(key_heap(key) as *const Heap) };
    heap.caches.flush_stocked();
}

const KEY_NONE: u8 = 0;
const KEY_BUSY: u8 = 1;
const KEY_READY: u8 = 2;
const KEY_FAILED: u8 = 3;
static KEY_STATE: AtomicU8 = AtomicU8::new(KEY_NONE);
static KEY: AtomicU64 = AtomicU64::new(0);

/// Makes sure this thread's caches are flushed when it exits.
fn register_thread_exit() -> bool {
    // Once the key exists, every new thread only reads the state: no
    // read-modify-write on a line all threads share.
    while KEY_STATE.load(Acquire) != KEY_READY {
        match KEY_STATE.compare_exchange(KEY_NONE, KEY_BUSY, Acquire, Acquire) {
            Ok(_) => {
                let mut key: libc::pthread_key_t = 0;
                // SAFETY: creating a key with a valid extern "C" destructor.
                let ok = unsafe { libc::pthread_key_create(&mut key, Some(thread_exit)) } == 0;
                KEY.store(key as u64, Relaxed);
                KEY_STATE.store(if ok { KEY_READY } else { KEY_FAILED }, Release);
            }
            Err(KEY_BUSY) => core::hint::spin_loop(),
            Err(KEY_READY) => {}
            Err(_) => return false,
        }
    }
    let key = KEY.load(Relaxed) as libc::pthread_key_t;
    // SAFETY: the key is valid; a non-null value makes glibc call the destructor.
    unsafe { libc::pthread_setspecific(key, ptr::dangling::<libc::c_void>()) == 0 }
}

/// pthread key destructor: parks every cache of the exiting thread (with
/// its objects, up to a bound: [`park`]).
extern "C" fn thread_exit(_: *mut libc::c_void) {
    // SAFETY: only this (exiting) thread touches its thread-local.
    let tls = unsafe { &mut *tls() };
    for slot in tls.slots.iter_mut() {
        if slot.key != NO_KEY {
            let c = slot.cache.as_ptr();
            *slot = Slot::EMPTY;
            park(c);
        }
    }
    tls.state = DEAD;
}
