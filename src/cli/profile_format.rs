//! The profile file that `cookbook profile`'s recording shim writes and the
//! CLI reads: one fixed-size, sparse file per process, mapped `MAP_SHARED`.
//!
//! Shared by the shim (examples/profile_shim.rs includes this file) and the
//! reader (src/cli/profile.rs). The fact a reader gets wrong: the shim never
//! "writes" the profile. Every counter lives in the mapped file, so whatever
//! the program had counted when it died (`_exit`, a signal, even `SIGKILL`)
//! is already in the file; only [`STATE_COMPLETE`] tells that its exit
//! handlers ran and the end-of-run summaries (chains still live, last
//! `/proc/self/maps`) were added.
//!
//! Every field is a `u64` (atomics in the shim, plain reads in the CLI), so the
//! layout is the declaration order with no padding.

#![allow(dead_code)] // each side uses only its half

use core::sync::atomic::AtomicU64;

/// First word of every profile.
pub const MAGIC: u64 = u64::from_le_bytes(*b"CBPROF01");
/// Bumped whenever the layout changes.
pub const VERSION: u64 = 1;
/// `Header::state` while the program runs (or after it died without exit handlers).
pub const STATE_RUNNING: u64 = 1;
/// `Header::state` once the shim's exit handler ran.
pub const STATE_COMPLETE: u64 = 2;

/// Requests up to this size are counted exactly, one counter per byte count.
pub const EXACT_MAX: usize = 32 << 10;
/// Log buckets above [`EXACT_MAX`]: four per power of two.
pub const LARGE_BUCKETS: usize = 256;
/// Distinct large sizes also counted exactly (the rest only in their log bucket).
pub const LARGE_EXACT: usize = 4096;
/// Rows of the lifetime table: Go's size classes 1..=67, row 0 for large objects.
pub const CLASS_ROWS: usize = 68;
/// Lifetime buckets: bucket `b` holds lifetimes with bit length `b`.
pub const LIFE_BUCKETS: usize = 48;
/// An object is short-lived when fewer than this many allocations were made
/// between its allocation and its free.
pub const SHORT_LIVED: u64 = 1024;
/// Threads with their own counters; later ones share the last slot.
pub const THREADS: usize = 1024;
/// Distinct recorded call stacks (id 0 means "no stack recorded").
pub const STACKS: usize = 32768;
/// Return addresses kept per stack.
pub const FRAMES: usize = 32;
/// The longest realloc chains kept.
pub const CHAINS: usize = 64;
/// Bytes kept of the last `/proc/self/maps` snapshot.
pub const MAPS_BYTES: usize = 1 << 20;
/// Bytes kept of `/proc/self/cmdline` and of the executable's path.
pub const TEXT_BYTES: usize = 512;

/// The call kinds counted in `Header::calls` / `Header::bytes`.
pub const KINDS: [&str; 11] = [
    "malloc",
    "calloc",
    "realloc",
    "free",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
    "reallocarray",
    "malloc_usable_size",
];
/// Index of each kind in [`KINDS`].
pub const K_MALLOC: usize = 0;
pub const K_CALLOC: usize = 1;
pub const K_REALLOC: usize = 2;
pub const K_FREE: usize = 3;
pub const K_POSIX_MEMALIGN: usize = 4;
pub const K_ALIGNED_ALLOC: usize = 5;
pub const K_MEMALIGN: usize = 6;
pub const K_VALLOC: usize = 7;
pub const K_PVALLOC: usize = 8;
pub const K_REALLOCARRAY: usize = 9;
pub const K_USABLE_SIZE: usize = 10;

/// Process-wide counters.
#[repr(C)]
pub struct Header {
    pub magic: AtomicU64,
    pub version: AtomicU64,
    pub file_bytes: AtomicU64,
    pub pid: AtomicU64,
    pub ppid: AtomicU64,
    /// The pid this process was forked from while recording (0: none).
    pub fork_parent: AtomicU64,
    pub state: AtomicU64,
    /// CLOCK_MONOTONIC nanoseconds at start and (when complete) at exit.
    pub start_ns: AtomicU64,
    pub end_ns: AtomicU64,
    /// 0: no call sites; 1: every allocation; N: on average one per N bytes.
    pub sample_rate: AtomicU64,
    /// Allocation events so far (malloc, calloc, aligned kinds, realloc): the lifetime clock.
    pub alloc_index: AtomicU64,
    pub live_bytes: AtomicU64,
    pub live_objects: AtomicU64,
    pub peak_bytes: AtomicU64,
    pub peak_objects: AtomicU64,
    /// `alloc_index` and monotonic ns when `peak_bytes` was last raised.
    pub peak_index: AtomicU64,
    pub peak_ns: AtomicU64,
    /// Live objects inherited from the parent at fork.
    pub inherited_bytes: AtomicU64,
    pub inherited_objects: AtomicU64,
    /// 1 when every object is tracked (lifetimes, peak, chains, cross-thread
    /// frees); 0 in a histogram-only run.
    pub objects_tracked: AtomicU64,
    /// Allocation calls that returned null.
    pub failed: AtomicU64,
    pub free_null: AtomicU64,
    /// Frees (and reallocs) of blocks allocated before recording began.
    pub unknown_frees: AtomicU64,
    /// Objects the shim could not track (its own table could not grow).
    pub untracked: AtomicU64,
    pub realloc_in_place: AtomicU64,
    pub realloc_moved: AtomicU64,
    pub realloc_copied_bytes: AtomicU64,
    pub cross_thread_frees: AtomicU64,
    pub cross_thread_bytes: AtomicU64,
    /// Requests above [`EXACT_MAX`] (Go's large objects).
    pub large_allocs: AtomicU64,
    pub large_frees: AtomicU64,
    pub large_bytes: AtomicU64,
    pub large_live_bytes: AtomicU64,
    pub large_peak_bytes: AtomicU64,
    pub threads_used: AtomicU64,
    pub stacks_used: AtomicU64,
    pub stacks_dropped: AtomicU64,
    pub samples: AtomicU64,
    pub maps_len: AtomicU64,
    /// Live objects and bytes still allocated when the exit handler ran.
    pub exit_live_objects: AtomicU64,
    pub exit_live_bytes: AtomicU64,
    pub chain_lock: AtomicU64,
    /// Finished realloc chains by their number of reallocs (capped at 63).
    pub chain_hist: [AtomicU64; 64],
    /// Requests of the aligned kinds by log2 of their alignment.
    pub align_hist: [AtomicU64; 64],
    pub cmdline: [AtomicU64; TEXT_BYTES / 8],
    pub exe: [AtomicU64; TEXT_BYTES / 8],
}

/// One thread's counters. Only its own thread writes them (plain load and
/// store, no atomic read-modify-write), except `freed_by_others` and the
/// last slot, which threads beyond [`THREADS`] share.
#[repr(C)]
pub struct ThreadSlot {
    pub tid: AtomicU64,
    /// Calls and bytes per kind of [`KINDS`] (bytes freed: only when objects are tracked).
    pub calls: [AtomicU64; 11],
    pub kind_bytes: [AtomicU64; 11],
    pub allocs: AtomicU64,
    pub bytes: AtomicU64,
    pub frees: AtomicU64,
    /// Objects this thread freed that another thread had allocated.
    pub freed_foreign: AtomicU64,
    /// Objects this thread allocated that another thread freed.
    pub freed_by_others: AtomicU64,
}

/// One realloc chain: an object grown or shrunk by repeated reallocs.
#[repr(C)]
pub struct Chain {
    pub reallocs: AtomicU64,
    pub moves: AtomicU64,
    pub first_size: AtomicU64,
    pub final_size: AtomicU64,
    pub copied_bytes: AtomicU64,
    pub stack: AtomicU64,
    /// 1 when the object was still live at exit.
    pub live_at_exit: AtomicU64,
}

/// One recorded call stack and what was allocated from it.
#[repr(C)]
pub struct StackRec {
    pub hash: AtomicU64,
    pub nframes: AtomicU64,
    pub frames: [AtomicU64; FRAMES],
    /// Sampled allocations and their bytes.
    pub count: AtomicU64,
    pub bytes: AtomicU64,
    /// Unbiased estimates (Go's `1 / (1 - exp(-size/rate))` weight), ×1024.
    pub est_count_x1024: AtomicU64,
    pub est_bytes: AtomicU64,
    pub freed: AtomicU64,
    pub short_lived: AtomicU64,
    pub cross_thread_freed: AtomicU64,
    pub min_size: AtomicU64,
    pub max_size: AtomicU64,
    pub reallocs: AtomicU64,
}

/// The whole file.
#[repr(C)]
pub struct ProfileFile {
    pub header: Header,
    /// `exact[n]`: requests of exactly `n` bytes, `n <= EXACT_MAX`.
    pub exact: [AtomicU64; EXACT_MAX + 1],
    pub large_count: [AtomicU64; LARGE_BUCKETS],
    pub large_sum: [AtomicU64; LARGE_BUCKETS],
    /// `(size, count)` pairs; size 0 = free slot.
    pub large_exact: [[AtomicU64; 2]; LARGE_EXACT],
    /// `life[row][bucket]`: freed objects by size class row and lifetime bucket.
    pub life: [[AtomicU64; LIFE_BUCKETS]; CLASS_ROWS],
    pub threads: [ThreadSlot; THREADS],
    pub chains: [Chain; CHAINS],
    pub stacks: [StackRec; STACKS],
    pub maps: [AtomicU64; MAPS_BYTES / 8],
}

/// Size of a profile file in bytes.
pub const FILE_BYTES: usize = core::mem::size_of::<ProfileFile>();

/// The log bucket of a request above [`EXACT_MAX`]: four per power of two.
pub fn large_bucket(size: u64) -> usize {
    let lg = 63 - size.max(1).leading_zeros() as u64;
    let sub = if lg >= 2 { (size >> (lg - 2)) & 3 } else { 0 };
    ((lg * 4 + sub) as usize).min(LARGE_BUCKETS - 1)
}

/// The smallest size in log bucket `b` (inverse of [`large_bucket`]).
pub fn large_bucket_floor(b: usize) -> u64 {
    let lg = (b / 4) as u64;
    let sub = (b % 4) as u64;
    if lg < 2 {
        1 << lg
    } else {
        (1 << lg) + (sub << (lg - 2))
    }
}

/// Lifetime bucket of `life` allocations: its bit length.
pub fn life_bucket(life: u64) -> usize {
    ((64 - life.leading_zeros()) as usize).min(LIFE_BUCKETS - 1)
}
