//! Statistics after Go's `runtime.MemStats`: what was asked, what was handed
//! out, where the heap's memory is, and which path each request took.
//!
//! Part of the allocator described in [`crate::allocator`] (read its header first).
//!
//! The fast path only bumps one counter in the calling thread's cache (a
//! plain load and store, no lock, no atomic read-modify-write): a packed
//! word per class holding both the count and the requested bytes, folded
//! into wide totals on the class's slow paths (`thread_cache.rs`). [`Stats`]
//! is summed from every cache (totals plus unfolded words), the direct-path
//! counters and the page heap when read. Reading while other threads
//! allocate gives a slightly stale, not exactly consistent picture (a fold
//! in progress may be seen half done), as `ReadMemStats` would without
//! stopping the world.
//!
//! The fact a reader gets wrong: "bytes in use" has three meanings here, and
//! the differences are the overheads this cookbook is about.
//! `bytes_requested` is what the program asked for; `bytes_handed_out` is
//! that rounded up to size classes (and pages, for large objects: internal
//! fragmentation); `heap_in_use` is every page of every span that holds at
//! least one object, including free slots in those spans, objects parked
//! in thread caches and large runs a thread keeps for reuse (external
//! fragmentation). `heap_resident` adds the free
//! pages not yet given back to the OS.

use super::span::{NUM_CLASSES, TINY_BLOCK, TINY_CLASS};
use super::thread_cache::PACKED_BYTES;
use super::Heap;
use crate::size_class::{GO, NUM_SIZE_CLASSES, PAGE_SIZE};
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters shared by all threads (the direct path of dying threads and
/// in-place reallocations); updated with atomic adds.
pub(crate) struct SharedCounters {
    mallocs: [AtomicU64; NUM_CLASSES],
    frees: [AtomicU64; NUM_CLASSES],
    requested: AtomicU64,
    requested_freed: AtomicU64,
    tiny_allocs: AtomicU64,
    tiny_frees: AtomicU64,
    direct_allocs: AtomicU64,
}

impl SharedCounters {
    /// Counts one object of `class` taken (`alloc`) or given back on the direct path.
    pub fn mallocs_frees(&self, class: usize, alloc: bool) {
        let c = if alloc { &self.mallocs } else { &self.frees };
        c[class].fetch_add(1, Relaxed);
        if alloc {
            self.direct_allocs.fetch_add(1, Relaxed);
        }
    }

    /// Counts one user request on the direct path.
    pub fn request(&self, size: usize, tiny: bool, alloc: bool) {
        if alloc {
            self.requested.fetch_add(size as u64, Relaxed);
            if tiny {
                self.tiny_allocs.fetch_add(1, Relaxed);
            }
        } else {
            self.requested_freed.fetch_add(size as u64, Relaxed);
            if tiny {
                self.tiny_frees.fetch_add(1, Relaxed);
            }
        }
    }

    /// Counts an in-place resize of a small or tiny object: the live request
    /// changes by `new - old`, and only a growth counts towards the bytes
    /// requested ever (it is no new allocation).
    pub fn resize(&self, old: usize, new: usize) {
        if new >= old {
            self.requested.fetch_add((new - old) as u64, Relaxed);
        } else {
            self.requested_freed.fetch_add((old - new) as u64, Relaxed);
        }
    }
}

/// Allocations and frees of one size class (Go's `MemStats.BySize` entry).
///
/// ```
/// use alloc_cookbook::allocator::ClassStats;
/// let c = ClassStats { size: 48, mallocs: 3, frees: 1 };
/// assert_eq!(c.live(), 2);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassStats {
    /// Object size of the class (0 for large objects).
    pub size: usize,
    /// Objects allocated, ever.
    pub mallocs: u64,
    /// Objects freed, ever.
    pub frees: u64,
}

impl ClassStats {
    /// Objects of the class alive now.
    pub fn live(&self) -> u64 {
        self.mallocs.saturating_sub(self.frees)
    }
}

/// A snapshot of one [`GoAlloc`](super::GoAlloc)'s statistics.
///
/// ```
/// use alloc_cookbook::GoAlloc;
/// use std::alloc::{GlobalAlloc, Layout};
/// let a = GoAlloc::new();
/// let l = Layout::from_size_align(100, 8).unwrap();
/// // SAFETY: the layout is non-zero; p is freed with the same layout.
/// unsafe {
///     let p = a.alloc(l);
///     let s = a.stats();
///     assert_eq!(s.bytes_requested, 100);
///     assert_eq!(s.bytes_handed_out, 112); // the 112-byte class
///     a.dealloc(p, l);
/// }
/// assert_eq!(a.stats().live_objects, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Objects allocated, ever: small, tiny pieces and large (Go's `Mallocs`).
    pub mallocs: u64,
    /// Objects freed, ever (Go's `Frees`).
    pub frees: u64,
    /// `mallocs - frees` (Go's `HeapObjects`).
    pub live_objects: u64,
    /// Tiny pieces (under 16 B, except 8 B) allocated / freed, ever (included in the totals above).
    pub tiny_allocs: u64,
    /// Tiny pieces freed, ever.
    pub tiny_frees: u64,
    /// Large objects (> 32 KiB) allocated, ever.
    pub large_allocs: u64,
    /// Large objects freed, ever.
    pub large_frees: u64,
    /// Bytes the live objects were requested with.
    pub bytes_requested: u64,
    /// Bytes handed out for the live objects: class sizes, whole tiny blocks,
    /// whole pages for large objects (Go's `HeapAlloc`, without garbage).
    pub bytes_handed_out: u64,
    /// Bytes requested, ever (Go's `TotalAlloc`, by request size). A realloc
    /// that moves counts its new size (it is a new allocation); one done in
    /// place counts only its growth.
    pub total_bytes_requested: u64,
    /// Bytes reserved from the OS for the heap (Go's `HeapSys`).
    pub heap_reserved: u64,
    /// Bytes in spans in use (Go's `HeapInuse`).
    pub heap_in_use: u64,
    /// Reserved bytes not in spans in use (Go's `HeapIdle`).
    pub heap_idle: u64,
    /// Idle bytes given back to the OS or never touched (Go's `HeapReleased`).
    pub heap_released: u64,
    /// `heap_reserved - heap_released`: what the heap may hold in RAM.
    pub heap_resident: u64,
    /// Bytes mapped for span metadata and thread caches (Go's `MSpanSys` + `MCacheSys`).
    pub metadata_bytes: u64,
    /// Small-object spans held by the central lists.
    pub small_spans: u64,
    /// Thread caches made so far (parked ones are reused by new threads).
    pub thread_caches: u64,
    /// Per class: index 0 large objects, 1..=67 Go's classes, 68 the tiny allocator's 16-byte blocks.
    pub by_size: [ClassStats; NUM_CLASSES],
    /// Objects taken from a thread cache without a refill (the fast path).
    pub cache_hits: u64,
    /// Batches taken from a central list by a thread cache.
    pub central_refills: u64,
    /// Batches given back to a central list by a thread cache.
    pub central_flushes: u64,
    /// Objects served without a cache (on exiting threads).
    pub direct_allocs: u64,
    /// Spans handed out by the page heap (to central lists and large objects).
    pub page_heap_spans: u64,
    /// Arenas reserved from the OS.
    pub os_reservations: u64,
    /// Scavenger runs that released memory.
    pub scavenger_runs: u64,
    /// Bytes given back to the OS, ever.
    pub bytes_scavenged: u64,
    /// Releases the kernel refused (`madvise` fails on locked pages, after
    /// `mlock` or `mlockall`); those runs stayed resident.
    pub release_failures: u64,
    /// The cap on idle resident bytes ([`crate::GoAlloc::set_scavenge_threshold`]; `u64::MAX`: none).
    pub scavenge_threshold: u64,
    /// Large `alloc_zeroed` calls served from known-zero pages (no memset).
    pub zeroing_skipped: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            mallocs: 0,
            frees: 0,
            live_objects: 0,
            tiny_allocs: 0,
            tiny_frees: 0,
            large_allocs: 0,
            large_frees: 0,
            bytes_requested: 0,
            bytes_handed_out: 0,
            total_bytes_requested: 0,
            heap_reserved: 0,
            heap_in_use: 0,
            heap_idle: 0,
            heap_released: 0,
            heap_resident: 0,
            metadata_bytes: 0,
            small_spans: 0,
            thread_caches: 0,
            by_size: class_sizes(),
            cache_hits: 0,
            central_refills: 0,
            central_flushes: 0,
            direct_allocs: 0,
            page_heap_spans: 0,
            os_reservations: 0,
            scavenger_runs: 0,
            bytes_scavenged: 0,
            release_failures: 0,
            scavenge_threshold: cap_u64(super::page_heap::DEFAULT_SCAVENGE_THRESHOLD),
            zeroing_skipped: 0,
        }
    }
}

fn class_sizes() -> [ClassStats; NUM_CLASSES] {
    let mut by = [ClassStats::default(); NUM_CLASSES];
    for (c, e) in by.iter_mut().enumerate().take(NUM_SIZE_CLASSES) {
        e.size = GO.size(c as u8);
    }
    by[TINY_CLASS].size = TINY_BLOCK;
    by
}

/// Sums every counter of `heap` into a snapshot.
pub(crate) fn collect(heap: &Heap) -> Stats {
    let mut s = Stats::default();
    let (mut requested, mut requested_freed, mut refills) = (0u64, 0u64, 0u64);
    let mut cache_mallocs = 0u64;
    let mut cached_large = super::page_heap::LargeCounters::default();
    let add = |by: &mut [ClassStats; NUM_CLASSES],
               m: &[AtomicU64; NUM_CLASSES],
               f: &[AtomicU64; NUM_CLASSES]| {
        for c in 1..NUM_CLASSES {
            by[c].mallocs += m[c].load(Relaxed);
            by[c].frees += f[c].load(Relaxed);
        }
    };
    let mut c = heap.caches.all.load(core::sync::atomic::Ordering::Acquire);
    while !c.is_null() {
        // SAFETY: caches on the registry are never freed; counters are atomics.
        let k = unsafe { &(*c).counters };
        // Folded totals plus the packed words not yet folded (thread_cache.rs).
        for class in 1..NUM_CLASSES {
            let (m, f) = (k.mallocs[class].load(Relaxed), k.frees[class].load(Relaxed));
            let mallocs = k.mallocs_folded[class].load(Relaxed) + (m >> 32);
            s.by_size[class].mallocs += mallocs;
            s.by_size[class].frees += k.frees_folded[class].load(Relaxed) + (f >> 32);
            cache_mallocs += mallocs;
            requested += m & PACKED_BYTES;
            requested_freed += f & PACKED_BYTES;
        }
        requested += k.requested.load(Relaxed);
        requested_freed += k.requested_freed.load(Relaxed);
        s.tiny_allocs += k.tiny_allocs.load(Relaxed);
        s.tiny_frees += k.tiny_frees.load(Relaxed);
        refills += k.refills.load(Relaxed);
        let cl = &k.large;
        cached_large.allocs += cl.allocs.load(Relaxed);
        cached_large.frees += cl.frees.load(Relaxed);
        cached_large.requested += cl.requested.load(Relaxed);
        cached_large.requested_freed += cl.requested_freed.load(Relaxed);
        cached_large.bytes += cl.bytes.load(Relaxed);
        cached_large.bytes_freed += cl.bytes_freed.load(Relaxed);
        s.central_flushes += k.flushes.load(Relaxed);
        s.thread_caches += 1;
        // SAFETY: as above.
        c = unsafe { (*c).next_all.load(Relaxed) };
    }
    let d = &heap.direct;
    add(&mut s.by_size, &d.mallocs, &d.frees);
    requested += d.requested.load(Relaxed);
    requested_freed += d.requested_freed.load(Relaxed);
    s.tiny_allocs += d.tiny_allocs.load(Relaxed);
    s.tiny_frees += d.tiny_frees.load(Relaxed);
    s.direct_allocs = d.direct_allocs.load(Relaxed);
    s.cache_hits = cache_mallocs.saturating_sub(refills);
    s.central_refills = refills;
    for class in 1..NUM_CLASSES {
        s.small_spans += heap.central[class].lock().spans as u64;
    }
    let p = heap.pages.lock();
    let mut l = p.large;
    l.allocs += cached_large.allocs;
    l.frees += cached_large.frees;
    l.requested += cached_large.requested;
    l.requested_freed += cached_large.requested_freed;
    l.bytes += cached_large.bytes;
    l.bytes_freed += cached_large.bytes_freed;
    s.by_size[0].mallocs = l.allocs;
    s.by_size[0].frees = l.frees;
    s.large_allocs = l.allocs;
    s.large_frees = l.frees;
    s.heap_reserved = p.reserved as u64;
    s.heap_in_use = (p.in_use_pages * PAGE_SIZE) as u64;
    s.heap_idle = p.idle_bytes() as u64;
    s.heap_released = p.released_bytes() as u64;
    s.heap_resident = s.heap_reserved - s.heap_released;
    s.metadata_bytes = p.meta_bytes as u64
        + s.thread_caches
            * core::mem::size_of::<super::thread_cache::ThreadCache>().next_multiple_of(4096)
                as u64;
    s.page_heap_spans = p.span_allocs;
    s.os_reservations = p.os_reservations;
    s.scavenger_runs = p.scavenges;
    s.bytes_scavenged = p.released_total;
    s.release_failures = p.release_failures;
    s.scavenge_threshold = cap_u64(p.scavenge_threshold);
    s.zeroing_skipped = l.zeroing_skipped;
    drop(p);
    let small_m: u64 = s.by_size[1..NUM_SIZE_CLASSES]
        .iter()
        .map(|c| c.mallocs)
        .sum();
    let small_f: u64 = s.by_size[1..NUM_SIZE_CLASSES].iter().map(|c| c.frees).sum();
    s.mallocs = small_m + s.tiny_allocs + l.allocs;
    s.frees = small_f + s.tiny_frees + l.frees;
    s.live_objects = s.mallocs.saturating_sub(s.frees);
    s.bytes_requested =
        (requested + l.requested).saturating_sub(requested_freed + l.requested_freed);
    s.total_bytes_requested = requested + l.requested;
    let handed: u64 = s.by_size[1..]
        .iter()
        .map(|c| c.live() * c.size as u64)
        .sum();
    s.bytes_handed_out = handed + l.bytes.saturating_sub(l.bytes_freed);
    s
}

/// A scavenger threshold for display: "none" for no cap.
struct Cap(u64);

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            u64::MAX => f.write_str("none"),
            t => write!(f, "{:.1} MiB", mib(t)),
        }
    }
}

/// A threshold as `Stats` reports it: `usize::MAX` (no cap) is `u64::MAX` on every pointer width.
fn cap_u64(t: usize) -> u64 {
    if t == usize::MAX {
        u64::MAX
    } else {
        t as u64
    }
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "objects      mallocs {}  frees {}  live {}",
            self.mallocs, self.frees, self.live_objects
        )?;
        writeln!(
            f,
            "             tiny {} / {}  large {} / {}  (allocs / frees)",
            self.tiny_allocs, self.tiny_frees, self.large_allocs, self.large_frees
        )?;
        writeln!(
            f,
            "live bytes   requested {}  handed out {}  (total requested ever {})",
            self.bytes_requested, self.bytes_handed_out, self.total_bytes_requested
        )?;
        writeln!(
            f,
            "heap         reserved {:.1} MiB  in use {:.1} MiB  idle {:.1} MiB  released or never touched {:.1} MiB  resident {:.1} MiB",
            mib(self.heap_reserved),
            mib(self.heap_in_use),
            mib(self.heap_idle),
            mib(self.heap_released),
            mib(self.heap_resident)
        )?;
        writeln!(
            f,
            "metadata     {:.2} MiB  small spans {}  thread caches {}",
            mib(self.metadata_bytes),
            self.small_spans,
            self.thread_caches
        )?;
        writeln!(
            f,
            "paths        cache hits {}  central refills {}  flushes {}  direct {}  page heap spans {}  OS arenas {}",
            self.cache_hits, self.central_refills, self.central_flushes, self.direct_allocs, self.page_heap_spans, self.os_reservations
        )?;
        writeln!(
            f,
            "scavenger    runs {}  given back {:.1} MiB  refused {}  threshold {}  zeroing skipped {}",
            self.scavenger_runs,
            mib(self.bytes_scavenged),
            self.release_failures,
            Cap(self.scavenge_threshold),
            self.zeroing_skipped
        )?;
        writeln!(
            f,
            "by size      class  bytes  mallocs  frees  live   (tiny: 16-byte blocks, each shared by tiny objects)"
        )?;
        for (c, e) in self.by_size.iter().enumerate() {
            if e.mallocs == 0 {
                continue;
            }
            let name = match c {
                0 => "large".to_string(),
                TINY_CLASS => "tiny".to_string(),
                _ => c.to_string(),
            };
            let bytes = if c == 0 {
                "–".to_string()
            } else {
                e.size.to_string()
            };
            writeln!(
                f,
                "             {name:>5}  {bytes:>5}  {:>7}  {:>5}  {:>4}",
                e.mallocs,
                e.frees,
                e.live()
            )?;
        }
        Ok(())
    }
}
