//! `cookbook profile`'s recording shim: a library preloaded into any
//! dynamically linked program (`LD_PRELOAD`) that exports `malloc`, `free` and
//! the rest of the C allocation API, forwards every call to the allocator the
//! program would have used anyway (the next definition in link order, found
//! once with `dlsym(RTLD_NEXT)`), and counts what passes through into a
//! profile file (layout: src/cli/profile_format.rs).
//!
//! ```text
//! cargo build --release --example profile_shim --features profile-shim
//! COOKBOOK_PROFILE_DIR=/tmp/p LD_PRELOAD=target/release/examples/libprofile_shim.so CMD
//! ```
//! (`cookbook profile -- CMD` does both.) Environment: `COOKBOOK_PROFILE_DIR`
//! (without it the shim only forwards), `COOKBOOK_PROFILE_SAMPLE` (0: no call
//! sites; 1: a call stack for every allocation; N: on average one stack per
//! N bytes allocated, Go's `MemProfileRate` scheme).
//!
//! The facts a reader gets wrong:
//! - The shim must not allocate through the allocator it watches. It never
//!   does: its tables are `mmap`ed, and a per-thread guard makes any call that
//!   re-enters the shim (from `dlsym`, the unwinder, glibc itself) a plain
//!   forward. `dlsym` calls `calloc` before the real `calloc` is known; those
//!   first calls are served from a small static buffer.
//! - Nothing is written at exit: every counter lives in a `MAP_SHARED` file,
//!   so a program that dies by `_exit` or a signal leaves everything it had
//!   counted. The exit handler only adds end-of-run summaries and marks the
//!   profile complete.
//! - A forked child gets its own file (named by its pid) on its first
//!   allocation call, starting from the live objects it inherited; an `exec`ed
//!   image (same pid) gets `<pid>.<n>.cbprof`.
//! - A freed pointer must leave the shim's table *before* the real `free`
//!   returns it to the allocator, or another thread could be handed the same
//!   address and record it first.

#![allow(clippy::missing_safety_doc)]

#[cfg(feature = "preload")]
compile_error!(
    "the features profile-shim and preload both export malloc: build the profile shim without preload"
);

#[path = "../src/cli/profile_format.rs"]
mod format;

use alloc_cookbook::size_class::GO;
use core::cell::{Cell, UnsafeCell};
use core::ffi::{c_char, c_int, c_void};
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use format::*;

const R: Ordering = Ordering::Relaxed;

// ---------------------------------------------------------------------------
// The next allocator's functions, resolved once.

type MallocFn = unsafe extern "C" fn(usize) -> *mut c_void;
type CallocFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;
type ReallocFn = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type PosixMemalignFn = unsafe extern "C" fn(*mut *mut c_void, usize, usize) -> c_int;
type AlignedFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;
type ReallocArrayFn = unsafe extern "C" fn(*mut c_void, usize, usize) -> *mut c_void;
type UsableFn = unsafe extern "C" fn(*mut c_void) -> usize;

const NAMES: [&[u8]; 11] = [
    b"malloc\0",
    b"calloc\0",
    b"realloc\0",
    b"free\0",
    b"posix_memalign\0",
    b"aligned_alloc\0",
    b"memalign\0",
    b"valloc\0",
    b"pvalloc\0",
    b"reallocarray\0",
    b"malloc_usable_size\0",
];

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicUsize = AtomicUsize::new(0);
static REAL: [AtomicUsize; 11] = [ZERO; 11];
/// 0: not resolved, 1: resolving, 2: resolved.
static RESOLVE: AtomicU32 = AtomicU32::new(0);
static RESOLVER_TID: AtomicU64 = AtomicU64::new(0);

fn gettid() -> u64 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as u64 }
}

/// The next allocator's function of `kind`, or 0 while it is being resolved
/// (a re-entrant call from inside `dlsym`: serve it from the bootstrap buffer).
#[inline(always)]
fn real(kind: usize) -> usize {
    if RESOLVE.load(Ordering::Acquire) != 2 {
        resolve();
    }
    REAL[kind].load(R)
}

#[cold]
#[inline(never)]
fn resolve() {
    let me = gettid();
    match RESOLVE.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {
            RESOLVER_TID.store(me, R);
            for (k, name) in NAMES.iter().enumerate() {
                // SAFETY: NUL-terminated name; RTLD_NEXT looks past this library.
                let f = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr() as *const c_char) };
                REAL[k].store(f as usize, R);
            }
            RESOLVE.store(2, Ordering::Release);
        }
        Err(_) if RESOLVER_TID.load(R) == me => {} // re-entered from dlsym
        Err(_) => {
            while RESOLVE.load(Ordering::Acquire) != 2 {
                // SAFETY: sched_yield has no preconditions.
                unsafe { libc::sched_yield() };
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The bootstrap buffer: blocks handed out before `dlsym` has returned.

const BOOT_BYTES: usize = 64 << 10;
#[repr(C, align(4096))]
struct Boot(UnsafeCell<[u8; BOOT_BYTES]>);
// SAFETY: blocks are carved by an atomic bump pointer, never shared.
unsafe impl Sync for Boot {}
static BOOT: Boot = Boot(UnsafeCell::new([0; BOOT_BYTES]));
static BOOT_USED: AtomicUsize = AtomicUsize::new(0);

fn is_boot(p: *mut c_void) -> bool {
    let base = BOOT.0.get() as usize;
    (base..base + BOOT_BYTES).contains(&(p as usize))
}

/// A zeroed block with its size in the 8 bytes before it; null when full.
fn boot_alloc(size: usize, align: usize) -> *mut c_void {
    let align = align.clamp(16, 4096);
    let base = BOOT.0.get() as usize;
    let mut used = BOOT_USED.load(R);
    loop {
        let start = (base + used + 8).next_multiple_of(align);
        let end = start + size;
        if end > base + BOOT_BYTES {
            return null_mut();
        }
        match BOOT_USED.compare_exchange(used, end - base, R, R) {
            Ok(_) => {
                // SAFETY: start - 8 .. end lies inside BOOT and is ours alone.
                unsafe { *((start - 8) as *mut u64) = size as u64 };
                return start as *mut c_void;
            }
            Err(u) => used = u,
        }
    }
}

fn boot_size(p: *mut c_void) -> usize {
    // SAFETY: p came from boot_alloc, which wrote the size just before it.
    unsafe { *((p as usize - 8) as *const u64) as usize }
}

// ---------------------------------------------------------------------------
// Per-thread state: the re-entry guard, the thread's slot, the sampler.

thread_local! {
    static IN_SHIM: Cell<bool> = const { Cell::new(false) };
    static SLOT: Cell<u64> = const { Cell::new(0) };
    static COUNTDOWN: Cell<i64> = const { Cell::new(0) };
    static RNG: Cell<u64> = const { Cell::new(0) };
}

struct Guard;

/// Enters the shim; `None` when this thread is already inside it.
#[inline(always)]
fn enter() -> Option<Guard> {
    IN_SHIM
        .try_with(|g| {
            if g.get() {
                None
            } else {
                g.set(true);
                Some(Guard)
            }
        })
        .ok()
        .flatten()
}

impl Drop for Guard {
    #[inline(always)]
    fn drop(&mut self) {
        let _ = IN_SHIM.try_with(|g| g.set(false));
    }
}

// ---------------------------------------------------------------------------
// Spin locks (held only for table updates, never across a call out).

fn lock(l: &AtomicBool) {
    let mut spins = 0u32;
    while l
        .compare_exchange_weak(false, true, Ordering::Acquire, R)
        .is_err()
    {
        spins += 1;
        if spins < 64 {
            core::hint::spin_loop();
        } else {
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
        }
    }
}

fn unlock(l: &AtomicBool) {
    l.store(false, Ordering::Release);
}

// ---------------------------------------------------------------------------
// The live-object table: pointer -> what the shim knows about the object.
// Anonymous memory, 64 shards, open addressing; copied into a forked child.

#[derive(Clone, Copy)]
#[repr(C)]
struct Entry {
    /// 0: empty, 1: deleted.
    ptr: usize,
    size: u64,
    birth: u64,
    first_size: u64,
    copied: u64,
    stack: u32,
    thread: u16,
    reallocs: u16,
    moves: u32,
    _pad: u32,
}

const SHARDS: usize = 64;

struct Shard {
    lock: AtomicBool,
    table: UnsafeCell<*mut Entry>,
    cap: UnsafeCell<usize>,
    used: UnsafeCell<usize>,
}
// SAFETY: table, cap and used are only touched with `lock` held.
unsafe impl Sync for Shard {}

#[allow(clippy::declare_interior_mutable_const)]
const SHARD: Shard = Shard {
    lock: AtomicBool::new(false),
    table: UnsafeCell::new(null_mut()),
    cap: UnsafeCell::new(0),
    used: UnsafeCell::new(0),
};
static MAP: [Shard; SHARDS] = [SHARD; SHARDS];

fn mix(p: usize) -> u64 {
    ((p as u64) >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn map_anon(bytes: usize) -> *mut u8 {
    // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
    let p = unsafe {
        libc::mmap(
            null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        null_mut()
    } else {
        p as *mut u8
    }
}

/// Probes `table` (capacity `cap`, a power of two) for `ptr`: the slot holding
/// it, or the first free slot seen.
///
/// # Safety
/// `table` points to `cap` entries.
unsafe fn probe(table: *mut Entry, cap: usize, ptr: usize) -> (usize, bool) {
    let mut i = (mix(ptr) >> 20) as usize & (cap - 1);
    let mut first_deleted = None;
    loop {
        // SAFETY: i < cap.
        let e = unsafe { &*table.add(i) };
        if e.ptr == ptr {
            return (i, true);
        }
        if e.ptr == 0 {
            return (first_deleted.unwrap_or(i), false);
        }
        if e.ptr == 1 && first_deleted.is_none() {
            first_deleted = Some(i);
        }
        i = (i + 1) & (cap - 1);
    }
}

/// Records `e` (keyed by `e.ptr`); false when the table could not grow.
fn map_insert(e: Entry) -> bool {
    let s = &MAP[(mix(e.ptr) >> 58) as usize];
    lock(&s.lock);
    // SAFETY: the shard lock is held.
    let ok = unsafe {
        let (table, cap, used) = (&mut *s.table.get(), &mut *s.cap.get(), &mut *s.used.get());
        if (*used + 1) * 2 > *cap && !grow(table, cap, used) {
            false
        } else {
            let (i, found) = probe(*table, *cap, e.ptr);
            let slot = &mut *table.add(i);
            if !found && slot.ptr == 0 {
                *used += 1;
            }
            *slot = e;
            true
        }
    };
    unlock(&s.lock);
    ok
}

/// Rehashes into a table twice as large (or as large, when most slots are deleted).
///
/// # Safety
/// The shard lock is held; the three refer to that shard.
unsafe fn grow(table: &mut *mut Entry, cap: &mut usize, used: &mut usize) -> bool {
    let live = if table.is_null() {
        0
    } else {
        // SAFETY: table holds cap entries.
        (0..*cap)
            .filter(|&i| unsafe { (*table.add(i)).ptr } > 1)
            .count()
    };
    let new_cap = if *cap == 0 {
        1024
    } else if live * 4 > *cap {
        *cap * 2
    } else {
        *cap
    };
    let new = map_anon(new_cap * size_of::<Entry>()) as *mut Entry;
    if new.is_null() {
        return false;
    }
    for i in 0..*cap {
        // SAFETY: i < cap; the new table has room (live < new_cap * 3/4).
        unsafe {
            let e = *table.add(i);
            if e.ptr > 1 {
                let (j, _) = probe(new, new_cap, e.ptr);
                *new.add(j) = e;
            }
        }
    }
    if !table.is_null() {
        // SAFETY: the old table was mapped with exactly this size and is no longer referenced.
        unsafe { libc::munmap(*table as *mut c_void, *cap * size_of::<Entry>()) };
    }
    *table = new;
    *cap = new_cap;
    *used = live;
    true
}

/// Removes and returns the entry for `ptr`.
fn map_remove(ptr: usize) -> Option<Entry> {
    let s = &MAP[(mix(ptr) >> 58) as usize];
    lock(&s.lock);
    // SAFETY: the shard lock is held.
    let r = unsafe {
        let (table, cap) = (*s.table.get(), *s.cap.get());
        if table.is_null() {
            None
        } else {
            let (i, found) = probe(table, cap, ptr);
            if found {
                let slot = &mut *table.add(i);
                let e = *slot;
                slot.ptr = 1;
                Some(e)
            } else {
                None
            }
        }
    };
    unlock(&s.lock);
    r
}

// ---------------------------------------------------------------------------
// The profile file.

static PROFILE: AtomicPtr<ProfileFile> = AtomicPtr::new(null_mut());
static FORK_PENDING: AtomicBool = AtomicBool::new(false);
static CHILD_LOCK: AtomicBool = AtomicBool::new(false);
static MAPS_LOCK: AtomicBool = AtomicBool::new(false);
static GEN: AtomicU64 = AtomicU64::new(1);
static SAMPLE_RATE: AtomicU64 = AtomicU64::new(0);
/// Whether every object is tracked (off: a histogram-only run).
static OBJECTS: AtomicBool = AtomicBool::new(true);
/// Stack hash -> stack id, anonymous memory (so a forked child inherits it).
static INDEX: AtomicPtr<[AtomicU64; 2]> = AtomicPtr::new(null_mut());
const INDEX_SLOTS: usize = 1 << 16;

struct Dir(UnsafeCell<[u8; 4096]>);
// SAFETY: written once by the constructor before any other thread can read it.
unsafe impl Sync for Dir {}
static DIR: Dir = Dir(UnsafeCell::new([0; 4096]));

fn now_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: t is a valid timespec to write.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Appends the decimal digits of `n` to `buf` at `at`; returns the new end.
fn put_num(buf: &mut [u8], mut at: usize, n: u64) -> usize {
    let mut digits = [0u8; 20];
    let mut k = 0;
    let mut v = n;
    loop {
        digits[k] = b'0' + (v % 10) as u8;
        k += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    while k > 0 && at < buf.len() {
        k -= 1;
        buf[at] = digits[k];
        at += 1;
    }
    let _ = &mut v;
    at
}

/// Reads a whole small file into `dst` (at most its length); returns the bytes read.
///
/// # Safety
/// `dst` points to `cap` writable bytes; `path` is NUL-terminated.
unsafe fn read_into(path: &[u8], dst: *mut u8, cap: usize) -> usize {
    // SAFETY: path is NUL-terminated.
    let fd = unsafe {
        libc::open(
            path.as_ptr() as *const c_char,
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return 0;
    }
    let mut n = 0;
    while n < cap {
        // SAFETY: dst + n .. dst + cap is writable.
        let r = unsafe { libc::read(fd, dst.add(n) as *mut c_void, cap - n) };
        if r <= 0 {
            break;
        }
        n += r as usize;
    }
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    n
}

/// Creates and maps this process's profile file.
fn create_profile() -> *mut ProfileFile {
    // SAFETY: DIR was written by the constructor and is read-only since.
    let dir = unsafe { &*DIR.0.get() };
    let dir_len = dir.iter().position(|&b| b == 0).unwrap_or(0);
    if dir_len == 0 {
        return null_mut();
    }
    // SAFETY: getpid cannot fail.
    let pid = unsafe { libc::getpid() } as u64;
    let mut path = [0u8; 4200];
    path[..dir_len].copy_from_slice(&dir[..dir_len]);
    let mut fd = -1;
    for n in 0..1000u64 {
        let mut at = dir_len;
        path[at] = b'/';
        at = put_num(&mut path, at + 1, pid);
        if n > 0 {
            path[at] = b'.';
            at = put_num(&mut path, at + 1, n);
        }
        for &b in b".cbprof\0" {
            path[at] = b;
            at += 1;
        }
        // SAFETY: path is NUL-terminated.
        fd = unsafe {
            libc::open(
                path.as_ptr() as *const c_char,
                libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                0o644,
            )
        };
        // SAFETY: reading errno right after the failed call.
        if fd >= 0 || unsafe { *libc::__errno_location() } != libc::EEXIST {
            break;
        }
    }
    if fd < 0 {
        return null_mut();
    }
    // SAFETY: fd is a file we just created; the mapping covers exactly its size.
    let p = unsafe {
        if libc::ftruncate(fd, FILE_BYTES as libc::off_t) != 0 {
            libc::close(fd);
            return null_mut();
        }
        let p = libc::mmap(
            null_mut(),
            FILE_BYTES,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        );
        libc::close(fd);
        p
    };
    if p == libc::MAP_FAILED {
        return null_mut();
    }
    let f = p as *mut ProfileFile;
    // SAFETY: the mapping is FILE_BYTES long and zero-filled: a valid ProfileFile.
    let pf = unsafe { &*f };
    let h = &pf.header;
    h.version.store(VERSION, R);
    h.file_bytes.store(FILE_BYTES as u64, R);
    h.pid.store(pid, R);
    // SAFETY: getppid cannot fail.
    h.ppid.store(unsafe { libc::getppid() } as u64, R);
    h.state.store(STATE_RUNNING, R);
    h.start_ns.store(now_ns(), R);
    h.sample_rate.store(SAMPLE_RATE.load(R), R);
    h.objects_tracked.store(OBJECTS.load(R) as u64, R);
    h.stacks_used.store(1, R);
    // SAFETY: the header's text fields are TEXT_BYTES long.
    unsafe {
        read_into(
            b"/proc/self/cmdline\0",
            h.cmdline.as_ptr() as *mut u8,
            TEXT_BYTES - 1,
        );
        libc::readlink(
            c"/proc/self/exe".as_ptr(),
            h.exe.as_ptr() as *mut c_char,
            TEXT_BYTES - 1,
        );
    }
    h.magic.store(MAGIC, Ordering::Release);
    f
}

/// Copies `/proc/self/maps` into the file (two halves, alternating, so a
/// death mid-copy leaves the previous snapshot readable).
fn snapshot_maps(f: &ProfileFile) {
    if MAPS_LOCK
        .compare_exchange(false, true, Ordering::Acquire, R)
        .is_err()
    {
        return;
    }
    let h = &f.header;
    let half = ((h.maps_len.load(R) >> 32) ^ 1) & 1;
    let cap = MAPS_BYTES / 2;
    // SAFETY: the maps region is MAPS_BYTES long; this half is cap bytes.
    let n = unsafe {
        let dst = (f.maps.as_ptr() as *mut u8).add(half as usize * cap);
        read_into(b"/proc/self/maps\0", dst, cap)
    };
    if n > 0 {
        h.maps_len.store((half << 32) | n as u64, Ordering::Release);
    }
    unlock(&MAPS_LOCK);
}

/// The profile to record into; `None` when not recording.
#[inline(always)]
fn profile() -> Option<&'static ProfileFile> {
    if FORK_PENDING.load(R) {
        start_child_profile();
    }
    let p = PROFILE.load(Ordering::Acquire);
    // SAFETY: PROFILE is null or a live FILE_BYTES mapping that is never unmapped
    // while it is published.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// In a forked child: a new file for this pid, holding the parent's stacks
/// and the live objects the child inherited.
#[cold]
fn start_child_profile() {
    lock(&CHILD_LOCK);
    if FORK_PENDING.load(R) {
        let old = PROFILE.load(R);
        let new = create_profile();
        if !old.is_null() && !new.is_null() {
            // SAFETY: both are live FILE_BYTES mappings; the child is the only writer of `new`.
            let (o, n) = unsafe { (&*old, &*new) };
            let (oh, nh) = (&o.header, &n.header);
            nh.fork_parent.store(oh.pid.load(R), R);
            for (a, b) in [
                (&nh.live_bytes, &oh.live_bytes),
                (&nh.live_objects, &oh.live_objects),
                (&nh.inherited_bytes, &oh.live_bytes),
                (&nh.inherited_objects, &oh.live_objects),
                (&nh.peak_bytes, &oh.live_bytes),
                (&nh.peak_objects, &oh.live_objects),
                (&nh.alloc_index, &oh.alloc_index),
                (&nh.peak_index, &oh.alloc_index),
                (&nh.large_live_bytes, &oh.large_live_bytes),
                (&nh.large_peak_bytes, &oh.large_live_bytes),
                (&nh.threads_used, &oh.threads_used),
                (&nh.stacks_used, &oh.stacks_used),
            ] {
                a.store(b.load(R), R);
            }
            nh.peak_ns.store(nh.start_ns.load(R), R);
            for (a, b) in n.threads.iter().zip(&o.threads) {
                a.tid.store(b.tid.load(R), R);
            }
            let used = (oh.stacks_used.load(R) as usize).min(STACKS);
            for (a, b) in n.stacks[..used].iter().zip(&o.stacks[..used]) {
                a.hash.store(b.hash.load(R), R);
                a.nframes.store(b.nframes.load(R), R);
                for (x, y) in a.frames.iter().zip(&b.frames) {
                    x.store(y.load(R), R);
                }
                a.min_size.store(u64::MAX, R);
            }
            snapshot_maps(n);
        }
        if !old.is_null() {
            // SAFETY: the parent's mapping is no longer published once replaced below;
            // the child has one thread, which is here.
            PROFILE.store(new, Ordering::Release);
            unsafe { libc::munmap(old as *mut c_void, FILE_BYTES) };
        }
        FORK_PENDING.store(false, R);
    }
    unlock(&CHILD_LOCK);
}

extern "C" fn fork_prepare() {
    lock(&CHILD_LOCK);
    lock(&MAPS_LOCK);
    for s in &MAP {
        lock(&s.lock);
    }
}

extern "C" fn fork_parent() {
    for s in &MAP {
        unlock(&s.lock);
    }
    unlock(&MAPS_LOCK);
    unlock(&CHILD_LOCK);
}

extern "C" fn fork_child() {
    for s in &MAP {
        unlock(&s.lock);
    }
    unlock(&MAPS_LOCK);
    if !PROFILE.load(R).is_null() {
        GEN.fetch_add(1, R);
        FORK_PENDING.store(true, R);
    }
    unlock(&CHILD_LOCK);
}

extern "C" fn shim_init() {
    let _ = real(K_MALLOC);
    let Some(_g) = enter() else { return };
    // SAFETY: getenv reads the environment; the strings are not kept.
    let dir = unsafe { libc::getenv(c"COOKBOOK_PROFILE_DIR".as_ptr()) };
    if dir.is_null() {
        return;
    }
    // SAFETY: getenv returned a NUL-terminated string.
    let dir = unsafe { core::ffi::CStr::from_ptr(dir) }.to_bytes();
    if dir.is_empty() || dir.len() >= 4096 - 100 {
        return;
    }
    // SAFETY: the constructor runs before the program's threads; nothing reads DIR yet.
    unsafe { (&mut *DIR.0.get())[..dir.len()].copy_from_slice(dir) };
    // SAFETY: as above.
    let rate = unsafe { libc::getenv(c"COOKBOOK_PROFILE_SAMPLE".as_ptr()) };
    let rate = if rate.is_null() {
        0
    } else {
        // SAFETY: NUL-terminated.
        let s = unsafe { core::ffi::CStr::from_ptr(rate) }.to_bytes();
        s.iter()
            .try_fold(0u64, |a, &b| {
                b.is_ascii_digit()
                    .then(|| a.saturating_mul(10).saturating_add((b - b'0') as u64))
            })
            .unwrap_or(0)
    };
    SAMPLE_RATE.store(rate, R);
    // SAFETY: as above.
    let objects = unsafe { libc::getenv(c"COOKBOOK_PROFILE_OBJECTS".as_ptr()) };
    // SAFETY: NUL-terminated when not null.
    if !objects.is_null() && unsafe { core::ffi::CStr::from_ptr(objects) }.to_bytes() == b"0" {
        OBJECTS.store(false, R);
    }
    let index = map_anon(INDEX_SLOTS * 16);
    INDEX.store(index as *mut [AtomicU64; 2], R);
    let f = create_profile();
    if f.is_null() {
        return;
    }
    // SAFETY: f is a live mapping.
    snapshot_maps(unsafe { &*f });
    // SAFETY: the handlers are plain functions that only touch the shim's statics.
    unsafe { libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child)) };
    PROFILE.store(f, Ordering::Release);
}

extern "C" fn shim_fini() {
    let Some(_g) = enter() else { return };
    if FORK_PENDING.load(R) {
        return; // a forked child that never allocated: no profile of its own
    }
    let Some(f) = profile() else { return };
    let h = &f.header;
    let (mut objects, mut bytes) = (0, 0);
    for s in &MAP {
        lock(&s.lock);
        // SAFETY: the shard lock is held; the table holds cap entries.
        unsafe {
            let (table, cap) = (*s.table.get(), *s.cap.get());
            for i in 0..if table.is_null() { 0 } else { cap } {
                let e = &*table.add(i);
                if e.ptr > 1 {
                    objects += 1;
                    bytes += e.size;
                    end_chain(f, e, true);
                }
            }
        }
        unlock(&s.lock);
    }
    h.exit_live_objects.store(objects, R);
    h.exit_live_bytes.store(bytes, R);
    h.end_ns.store(now_ns(), R);
    snapshot_maps(f);
    h.state.store(STATE_COMPLETE, Ordering::Release);
}

#[used]
#[link_section = ".init_array"]
static INIT_ARRAY: extern "C" fn() = shim_init;
#[used]
#[link_section = ".fini_array"]
static FINI_ARRAY: extern "C" fn() = shim_fini;

// ---------------------------------------------------------------------------
// Recording.

/// This thread's slot, and whether other threads share it (the last slot).
fn thread_slot(f: &ProfileFile) -> (usize, bool) {
    let gen = GEN.load(R);
    let v = SLOT.try_with(|s| s.get()).unwrap_or(0);
    let i = if v != 0 && v >> 32 == gen {
        (v & 0xffff_ffff) as usize - 1
    } else {
        let i = (f.header.threads_used.fetch_add(1, R) as usize).min(THREADS - 1);
        let _ = f.threads[i].tid.compare_exchange(0, gettid(), R, R);
        let _ = SLOT.try_with(|s| s.set(gen << 32 | (i as u64 + 1)));
        i
    };
    (i, i == THREADS - 1)
}

/// Adds to a per-thread counter: a plain load and store when only this
/// thread writes it (the cheap path), an atomic add when the slot is shared.
#[inline(always)]
fn bump(a: &AtomicU64, v: u64, shared: bool) {
    if shared {
        a.fetch_add(v, R);
    } else {
        a.store(a.load(R).wrapping_add(v), R);
    }
}

fn class_row(size: u64) -> usize {
    if size as usize > GO.max_small() {
        0
    } else {
        GO.class_of(size as usize) as usize
    }
}

fn count_size(f: &ProfileFile, size: u64) {
    if size as usize <= EXACT_MAX {
        f.exact[size as usize].fetch_add(1, R);
        return;
    }
    let b = large_bucket(size);
    f.large_count[b].fetch_add(1, R);
    f.large_sum[b].fetch_add(size, R);
    let mut i = (mix(size as usize) >> 20) as usize & (LARGE_EXACT - 1);
    for _ in 0..32 {
        let slot = &f.large_exact[i];
        let s = slot[0].load(R);
        if s == size || (s == 0 && slot[0].compare_exchange(0, size, R, R).is_ok()) {
            slot[1].fetch_add(1, R);
            return;
        }
        if slot[0].load(R) == size {
            slot[1].fetch_add(1, R);
            return;
        }
        i = (i + 1) & (LARGE_EXACT - 1);
    }
}

fn live_add(f: &ProfileFile, bytes: u64, objects: u64) {
    let h = &f.header;
    let live = h.live_bytes.fetch_add(bytes, R) + bytes;
    let objs = h.live_objects.fetch_add(objects, R) + objects;
    if objs > h.peak_objects.load(R) {
        h.peak_objects.fetch_max(objs, R);
    }
    if live > h.peak_bytes.load(R) && h.peak_bytes.fetch_max(live, R) < live {
        h.peak_index.store(h.alloc_index.load(R), R);
        h.peak_ns.store(now_ns(), R);
    }
}

fn large_add(f: &ProfileFile, size: u64) {
    let h = &f.header;
    if size as usize > EXACT_MAX {
        let live = h.large_live_bytes.fetch_add(size, R) + size;
        h.large_peak_bytes.fetch_max(live, R);
    }
}

fn large_sub(f: &ProfileFile, size: u64) {
    if size as usize > EXACT_MAX {
        f.header.large_live_bytes.fetch_sub(size, R);
    }
}

fn next_random() -> u64 {
    RNG.try_with(|r| {
        let mut x = r.get();
        if x == 0 {
            x = gettid().wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ now_ns() | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        r.set(x);
        x
    })
    .unwrap_or(1)
}

/// Bytes until the next sample: exponential with mean `rate` (Go's scheme).
fn next_countdown(rate: u64) -> i64 {
    let u = ((next_random() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    (-u.ln() * rate as f64) as i64 + 1
}

/// Decides whether this allocation is sampled; if so records its stack and
/// returns the stack id (0: not sampled).
fn sample(f: &ProfileFile, size: u64) -> u32 {
    let rate = SAMPLE_RATE.load(R);
    if rate == 0 {
        return 0;
    }
    if rate > 1 {
        let take = COUNTDOWN
            .try_with(|c| {
                let mut left = c.get();
                if left == 0 {
                    left = next_countdown(rate);
                }
                left -= size as i64;
                if left > 0 {
                    c.set(left);
                    false
                } else {
                    c.set(next_countdown(rate));
                    true
                }
            })
            .unwrap_or(false);
        if !take {
            return 0;
        }
    }
    let mut frames = [0u64; FRAMES];
    let mut n = 0;
    // SAFETY: the callback only writes to `frames`; the shim's guard is held, so
    // an allocation the unwinder makes is forwarded, not recorded.
    unsafe {
        backtrace::trace_unsynchronized(|fr| {
            frames[n] = fr.ip() as u64;
            n += 1;
            n < FRAMES
        })
    };
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for &a in &frames[..n] {
        hash = (hash ^ a).wrapping_mul(0x100_0000_01b3);
    }
    hash |= 1;
    let id = stack_id(f, hash, &frames[..n]);
    f.header.samples.fetch_add(1, R);
    if id != 0 {
        let s = &f.stacks[id as usize];
        s.count.fetch_add(1, R);
        s.bytes.fetch_add(size, R);
        let w = if rate <= 1 {
            1.0
        } else {
            1.0 / (1.0 - (-(size as f64) / rate as f64).exp())
        };
        s.est_count_x1024.fetch_add((w * 1024.0) as u64, R);
        s.est_bytes.fetch_add((w * size as f64) as u64, R);
        s.min_size.fetch_min(size, R);
        s.max_size.fetch_max(size, R);
    }
    id
}

fn stack_id(f: &ProfileFile, hash: u64, frames: &[u64]) -> u32 {
    let index = INDEX.load(R);
    if index.is_null() {
        return 0;
    }
    let mut i = (hash >> 16) as usize & (INDEX_SLOTS - 1);
    for _ in 0..256 {
        // SAFETY: i < INDEX_SLOTS, the mapping's length in slots.
        let slot = unsafe { &*index.add(i) };
        let h = slot[0].load(Ordering::Acquire);
        if h == 0
            && slot[0]
                .compare_exchange(0, hash, Ordering::AcqRel, R)
                .is_ok()
        {
            let id = f.header.stacks_used.fetch_add(1, R) as usize;
            if id >= STACKS {
                f.header.stacks_dropped.fetch_add(1, R);
                slot[1].store(u64::MAX, Ordering::Release);
                return 0;
            }
            let s = &f.stacks[id];
            s.hash.store(hash, R);
            s.nframes.store(frames.len() as u64, R);
            for (d, &a) in s.frames.iter().zip(frames) {
                d.store(a, R);
            }
            s.min_size.store(u64::MAX, R);
            slot[1].store(id as u64, Ordering::Release);
            if id.is_power_of_two() {
                snapshot_maps(f);
            }
            return id as u32;
        }
        if slot[0].load(Ordering::Acquire) == hash {
            for _ in 0..10_000 {
                let id = slot[1].load(Ordering::Acquire);
                if id == u64::MAX {
                    return 0;
                }
                if id != 0 {
                    return id as u32;
                }
                core::hint::spin_loop();
            }
            return 0; // its writer died (a fork mid-insert): give up on this one
        }
        i = (i + 1) & (INDEX_SLOTS - 1);
    }
    f.header.stacks_dropped.fetch_add(1, R);
    0
}

/// A new object `p` of `size` bytes (its call kind is already counted).
fn record_new(f: &ProfileFile, p: *mut c_void, size: u64, align: u64, slot: (usize, bool)) {
    let h = &f.header;
    count_size(f, size);
    if align > 0 {
        h.align_hist[63 - align.max(1).leading_zeros() as usize].fetch_add(1, R);
    }
    let stack = sample(f, size);
    let t = &f.threads[slot.0];
    bump(&t.allocs, 1, slot.1);
    bump(&t.bytes, size, slot.1);
    if size as usize > EXACT_MAX {
        h.large_allocs.fetch_add(1, R);
        h.large_bytes.fetch_add(size, R);
    }
    if !OBJECTS.load(R) {
        return;
    }
    let birth = h.alloc_index.fetch_add(1, R);
    live_add(f, size, 1);
    large_add(f, size);
    let e = Entry {
        ptr: p as usize,
        size,
        birth,
        first_size: size,
        copied: 0,
        stack,
        thread: slot.0 as u16,
        reallocs: 0,
        moves: 0,
        _pad: 0,
    };
    if !map_insert(e) {
        h.untracked.fetch_add(1, R);
    }
}

fn end_chain(f: &ProfileFile, e: &Entry, live: bool) {
    if e.reallocs == 0 {
        return;
    }
    let h = &f.header;
    h.chain_hist[(e.reallocs as usize).min(63)].fetch_add(1, R);
    if e.reallocs < 2 {
        return;
    }
    while h
        .chain_lock
        .compare_exchange_weak(0, 1, Ordering::Acquire, R)
        .is_err()
    {
        core::hint::spin_loop();
    }
    let min = f
        .chains
        .iter()
        .enumerate()
        .min_by_key(|(_, c)| c.reallocs.load(R))
        .map(|(i, c)| (i, c.reallocs.load(R)));
    if let Some((i, least)) = min {
        if (e.reallocs as u64) > least {
            let c = &f.chains[i];
            c.reallocs.store(e.reallocs as u64, R);
            c.moves.store(e.moves as u64, R);
            c.first_size.store(e.first_size, R);
            c.final_size.store(e.size, R);
            c.copied_bytes.store(e.copied, R);
            c.stack.store(e.stack as u64, R);
            c.live_at_exit.store(live as u64, R);
        }
    }
    h.chain_lock.store(0, Ordering::Release);
}

/// An object leaves: `e` is its entry, already removed from the table.
fn record_gone(f: &ProfileFile, e: &Entry, (slot, shared): (usize, bool)) {
    let h = &f.header;
    bump(&f.threads[slot].kind_bytes[K_FREE], e.size, shared);
    h.live_bytes.fetch_sub(e.size, R);
    h.live_objects.fetch_sub(1, R);
    large_sub(f, e.size);
    if e.size as usize > EXACT_MAX {
        h.large_frees.fetch_add(1, R);
    }
    let life = h.alloc_index.load(R).saturating_sub(e.birth + 1);
    f.life[class_row(e.size)][life_bucket(life)].fetch_add(1, R);
    bump(&f.threads[slot].frees, 1, shared);
    let cross = slot != e.thread as usize;
    if cross {
        h.cross_thread_frees.fetch_add(1, R);
        h.cross_thread_bytes.fetch_add(e.size, R);
        bump(&f.threads[slot].freed_foreign, 1, shared);
        f.threads[e.thread as usize].freed_by_others.fetch_add(1, R);
    }
    if e.stack != 0 {
        let s = &f.stacks[e.stack as usize];
        s.freed.fetch_add(1, R);
        if life < SHORT_LIVED {
            s.short_lived.fetch_add(1, R);
        }
        if cross {
            s.cross_thread_freed.fetch_add(1, R);
        }
    }
    end_chain(f, e, false);
}

/// Counts one call of `kind` asking for `size` bytes in this thread's slot.
fn count_call(f: &ProfileFile, kind: usize, size: u64) -> (usize, bool) {
    let slot = thread_slot(f);
    let t = &f.threads[slot.0];
    bump(&t.calls[kind], 1, slot.1);
    bump(&t.kind_bytes[kind], size, slot.1);
    slot
}

fn on_alloc(kind: usize, p: *mut c_void, size: usize, align: usize) {
    let Some(f) = profile() else { return };
    let slot = count_call(f, kind, size as u64);
    if p.is_null() {
        f.header.failed.fetch_add(1, R);
    } else {
        record_new(f, p, size as u64, align as u64, slot);
    }
}

/// Before the real free: takes `p` out of the table.
fn on_free(p: *mut c_void) {
    let Some(f) = profile() else { return };
    let h = &f.header;
    let slot = count_call(f, K_FREE, 0);
    if p.is_null() {
        h.free_null.fetch_add(1, R);
        return;
    }
    if !OBJECTS.load(R) {
        return;
    }
    match map_remove(p as usize) {
        Some(e) => record_gone(f, &e, slot),
        None => {
            h.unknown_frees.fetch_add(1, R);
        }
    }
}

/// realloc / reallocarray: `call` is the real one, run between taking the old
/// entry out and putting the new one in.
fn on_realloc(
    kind: usize,
    old: *mut c_void,
    size: usize,
    call: impl FnOnce() -> *mut c_void,
) -> *mut c_void {
    let Some(f) = profile() else { return call() };
    let h = &f.header;
    let slot = count_call(f, kind, size as u64);
    if !OBJECTS.load(R) {
        let new = call();
        if new.is_null() {
            if size != 0 || old.is_null() {
                h.failed.fetch_add(1, R);
            }
        } else {
            count_size(f, size as u64);
            sample(f, size as u64);
            let t = &f.threads[slot.0];
            bump(&t.allocs, 1, slot.1);
            bump(&t.bytes, size as u64, slot.1);
        }
        return new;
    }
    let prev = if old.is_null() {
        None
    } else {
        map_remove(old as usize)
    };
    let new = call();
    if new.is_null() {
        if size != 0 || old.is_null() {
            h.failed.fetch_add(1, R);
            if let Some(e) = prev {
                if !map_insert(e) {
                    h.untracked.fetch_add(1, R);
                }
            }
        } else if let Some(e) = prev {
            record_gone(f, &e, slot); // realloc(p, 0) freed p
        }
        return new;
    }
    let Some(mut e) = prev else {
        if !old.is_null() {
            h.unknown_frees.fetch_add(1, R);
        }
        record_new(f, new, size as u64, 0, slot);
        return new;
    };
    let size = size as u64;
    count_size(f, size);
    let stack = sample(f, size);
    h.alloc_index.fetch_add(1, R);
    let t = &f.threads[slot.0];
    bump(&t.allocs, 1, slot.1);
    bump(&t.bytes, size, slot.1);
    if size as usize > EXACT_MAX {
        h.large_allocs.fetch_add(1, R);
        h.large_bytes.fetch_add(size, R);
    }
    large_sub(f, e.size);
    if size >= e.size {
        live_add(f, size - e.size, 0);
    } else {
        h.live_bytes.fetch_sub(e.size - size, R);
    }
    large_add(f, size);
    if new != old {
        h.realloc_moved.fetch_add(1, R);
        let copied = size.min(e.size);
        h.realloc_copied_bytes.fetch_add(copied, R);
        e.moves += 1;
        e.copied += copied;
    } else {
        h.realloc_in_place.fetch_add(1, R);
    }
    if e.stack != 0 {
        f.stacks[e.stack as usize].reallocs.fetch_add(1, R);
    } else {
        e.stack = stack;
    }
    e.reallocs = e.reallocs.saturating_add(1);
    e.size = size;
    e.ptr = new as usize;
    if !map_insert(e) {
        h.untracked.fetch_add(1, R);
    }
    new
}

// ---------------------------------------------------------------------------
// The exported C API.

macro_rules! next {
    ($kind:expr, $ty:ty) => {{
        let f = real($kind);
        // SAFETY: a non-zero value is the address dlsym returned for this name,
        // whose C signature is $ty.
        (f != 0).then(|| unsafe { core::mem::transmute::<usize, $ty>(f) })
    }};
}

#[no_mangle]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    let Some(real) = next!(K_MALLOC, MallocFn) else {
        return boot_alloc(size, 16);
    };
    let Some(_g) = enter() else {
        // SAFETY: forwarding the caller's request unchanged.
        return unsafe { real(size) };
    };
    // SAFETY: as above.
    let p = unsafe { real(size) };
    on_alloc(K_MALLOC, p, size, 0);
    p
}

#[no_mangle]
pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    let Some(real) = next!(K_CALLOC, CallocFn) else {
        return match n.checked_mul(size) {
            Some(b) => boot_alloc(b, 16),
            None => null_mut(),
        };
    };
    let Some(_g) = enter() else {
        // SAFETY: forwarding the caller's request unchanged.
        return unsafe { real(n, size) };
    };
    // SAFETY: as above.
    let p = unsafe { real(n, size) };
    on_alloc(K_CALLOC, p, n.saturating_mul(size), 0);
    p
}

#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    if is_boot(p) {
        return;
    }
    let Some(real) = next!(K_FREE, FreeFn) else {
        return;
    };
    if let Some(_g) = enter() {
        on_free(p);
    }
    // SAFETY: p came from the next allocator (bootstrap blocks were returned above).
    unsafe { real(p) }
}

/// realloc of a bootstrap block: a new block from the next allocator.
fn boot_realloc(old: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: malloc is ours; the copy stays inside both blocks.
    unsafe {
        let new = malloc(size);
        if !new.is_null() {
            core::ptr::copy_nonoverlapping(
                old as *const u8,
                new as *mut u8,
                size.min(boot_size(old)),
            );
        }
        new
    }
}

#[no_mangle]
pub unsafe extern "C" fn realloc(old: *mut c_void, size: usize) -> *mut c_void {
    if is_boot(old) {
        return boot_realloc(old, size);
    }
    let Some(real) = next!(K_REALLOC, ReallocFn) else {
        return if old.is_null() {
            boot_alloc(size, 16)
        } else {
            null_mut()
        };
    };
    let Some(_g) = enter() else {
        // SAFETY: forwarding the caller's request unchanged.
        return unsafe { real(old, size) };
    };
    // SAFETY: as above.
    on_realloc(K_REALLOC, old, size, || unsafe { real(old, size) })
}

#[no_mangle]
pub unsafe extern "C" fn reallocarray(old: *mut c_void, n: usize, size: usize) -> *mut c_void {
    let Some(bytes) = n.checked_mul(size) else {
        // SAFETY: errno is this thread's.
        unsafe { *libc::__errno_location() = libc::ENOMEM };
        return null_mut();
    };
    if is_boot(old) {
        return boot_realloc(old, bytes);
    }
    let Some(real) = next!(K_REALLOCARRAY, ReallocArrayFn) else {
        // SAFETY: plain realloc of the same request.
        return unsafe { realloc(old, bytes) };
    };
    let Some(_g) = enter() else {
        // SAFETY: forwarding the caller's request unchanged.
        return unsafe { real(old, n, size) };
    };
    // SAFETY: as above.
    on_realloc(K_REALLOCARRAY, old, bytes, || unsafe { real(old, n, size) })
}

#[no_mangle]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    let Some(real) = next!(K_POSIX_MEMALIGN, PosixMemalignFn) else {
        let p = boot_alloc(size, align);
        if p.is_null() {
            return libc::ENOMEM;
        }
        // SAFETY: the caller passes a valid out pointer.
        unsafe { *out = p };
        return 0;
    };
    let Some(_g) = enter() else {
        // SAFETY: forwarding the caller's request unchanged.
        return unsafe { real(out, align, size) };
    };
    // SAFETY: as above; *out is only read when the call succeeded.
    let rc = unsafe { real(out, align, size) };
    let p = if rc == 0 { unsafe { *out } } else { null_mut() };
    on_alloc(K_POSIX_MEMALIGN, p, size, align);
    rc
}

/// aligned_alloc, memalign: the same shape.
fn aligned(kind: usize, align: usize, size: usize) -> *mut c_void {
    let Some(real) = next!(kind, AlignedFn) else {
        return boot_alloc(size, align);
    };
    let Some(_g) = enter() else {
        // SAFETY: forwarding the caller's request unchanged.
        return unsafe { real(align, size) };
    };
    // SAFETY: as above.
    let p = unsafe { real(align, size) };
    on_alloc(kind, p, size, align);
    p
}

#[no_mangle]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    aligned(K_ALIGNED_ALLOC, align, size)
}

#[no_mangle]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    aligned(K_MEMALIGN, align, size)
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// valloc, pvalloc: page-aligned, with the page size as their alignment.
fn page_aligned(kind: usize, size: usize) -> *mut c_void {
    let page = page_size();
    let Some(real) = next!(kind, MallocFn) else {
        return aligned(K_MEMALIGN, page, size);
    };
    let Some(_g) = enter() else {
        // SAFETY: forwarding the caller's request unchanged.
        return unsafe { real(size) };
    };
    // SAFETY: as above.
    let p = unsafe { real(size) };
    let recorded = if kind == K_PVALLOC {
        size.max(1).next_multiple_of(page)
    } else {
        size
    };
    on_alloc(kind, p, recorded, page);
    p
}

#[no_mangle]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    page_aligned(K_VALLOC, size)
}

#[no_mangle]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    page_aligned(K_PVALLOC, size)
}

#[no_mangle]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    if p.is_null() {
        return 0;
    }
    if is_boot(p) {
        return boot_size(p);
    }
    let Some(real) = next!(K_USABLE_SIZE, UsableFn) else {
        return 0;
    };
    if let Some(_g) = enter() {
        if let Some(f) = profile() {
            count_call(f, K_USABLE_SIZE, 0);
        }
    }
    // SAFETY: p came from the next allocator.
    unsafe { real(p) }
}
