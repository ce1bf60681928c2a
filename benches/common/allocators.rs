//! The allocator bench's workloads, one function each, called by both
//! harnesses: `benches/allocator.rs` (criterion, wall time) and
//! `benches/allocator_callgrind.rs` (callgrind, instructions). Each takes the
//! allocator as a `&A: GlobalAlloc` and calls it directly, so the four
//! allocators run the same code in one binary; the bench's own global
//! allocator (`COOKBOOK_ALLOC`) only serves the harness and `std::thread`.
//!
//! The fact a reader gets wrong: a workload that spawns its threads inside
//! the measurement measures the allocator's thread life cycle (a new
//! thread's first allocations, its exit flush) as much as its steady state.
//! So the scaling cases run on [`Workers`], threads started before the
//! measurement, and [`thread_life`] measures the life cycle on its own.

use alloc_cookbook::GoAlloc;
use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// The `GoAlloc` instance the allocator benches measure (not the global one).
pub static GOALLOC: GoAlloc = GoAlloc::new();

/// [`GOALLOC`] as a zero-sized handle, the way a program reaches its
/// `#[global_allocator] static`: every call goes to the static by its
/// address, known when the binary is linked. The benches' closures hold a
/// reference to the allocator they measure; for mimalloc's and jemalloc's
/// zero-sized handles that reference is never read, but a `&GoAlloc`
/// would cost each call a load of the instance's address from the
/// closure (and one of the closure's captured reference) before the
/// fast path starts, which no program using `GoAlloc` as its global
/// allocator pays.
pub struct GoAllocStatic;

// SAFETY: forwards every call, unchanged, to GOALLOC, a GlobalAlloc.
unsafe impl GlobalAlloc for GoAllocStatic {
    #[inline(always)]
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: the caller keeps GlobalAlloc's contract, passed on as is.
        unsafe { GOALLOC.alloc(l) }
    }
    #[inline(always)]
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: as above.
        unsafe { GOALLOC.dealloc(p, l) }
    }
    #[inline(always)]
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: as above.
        unsafe { GOALLOC.alloc_zeroed(l) }
    }
    #[inline(always)]
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        unsafe { GOALLOC.realloc(p, l, new_size) }
    }
}
/// mimalloc, called directly.
pub static MIMALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
/// jemalloc, called directly.
pub static JEMALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A layout of `size` bytes, 8-byte aligned (what most Rust objects ask for).
pub fn lay(size: usize) -> Layout {
    Layout::from_size_align(size, 8).expect("bench sizes are valid")
}

/// One allocation, one byte written, one free.
#[inline(always)]
pub fn pair<A: GlobalAlloc>(a: &A, l: Layout) {
    // SAFETY: non-zero layout; the pointer is checked, written within bounds and freed once.
    unsafe {
        let p = a.alloc(l);
        assert!(!p.is_null());
        p.write(1);
        a.dealloc(black_box(p), l);
    }
}

/// `n` allocations of `l` (one byte written in each), then `n` frees in
/// allocation order. `ptrs` is the caller's buffer (capacity `n`, so the
/// loop itself does not allocate).
#[inline(always)]
pub fn batch<A: GlobalAlloc>(a: &A, ptrs: &mut Vec<usize>, n: usize, l: Layout) {
    ptrs.clear();
    for _ in 0..n {
        // SAFETY: non-zero layout; every pointer is freed once below.
        let p = unsafe { a.alloc(l) };
        assert!(!p.is_null());
        // SAFETY: p holds at least one byte.
        unsafe { p.write(1) };
        ptrs.push(p as usize);
    }
    for &p in black_box(&*ptrs).iter() {
        // SAFETY: allocated above with l.
        unsafe { a.dealloc(p as *mut u8, l) };
    }
}

/// Allocates `bytes` and writes one byte per 4 KiB page, then frees it.
pub fn touch_pages<A: GlobalAlloc>(a: &A, bytes: usize) {
    let l = lay(bytes);
    // SAFETY: non-zero layout; written within bounds, freed once.
    unsafe {
        let p = a.alloc(l);
        assert!(!p.is_null());
        for off in (0..bytes).step_by(4096) {
            p.add(off).write(1);
        }
        a.dealloc(black_box(p), l);
    }
}

/// One thread allocates `n` objects of `l`, another frees them, in batches of 100.
pub fn producer_consumer<A: GlobalAlloc + Sync>(a: &A, n: usize, l: Layout) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<usize>>(16);
    std::thread::scope(|s| {
        s.spawn(move || {
            for batch in rx {
                for p in batch {
                    // SAFETY: allocated by the producer with l, freed once here.
                    unsafe { a.dealloc(p as *mut u8, l) };
                }
            }
        });
        let mut batch = Vec::with_capacity(100);
        for _ in 0..n {
            // SAFETY: non-zero layout; freed by the consumer.
            let p = unsafe { a.alloc(l) };
            assert!(!p.is_null());
            // SAFETY: p holds at least one byte.
            unsafe { p.write(1) };
            batch.push(p as usize);
            if batch.len() == 100 {
                tx.send(std::mem::replace(&mut batch, Vec::with_capacity(100)))
                    .unwrap();
            }
        }
        tx.send(batch).unwrap();
        drop(tx);
    });
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Larson-like server churn: `threads` threads each own `slots` objects and
/// replace random ones with random sizes (16..=1024 B); after each round the
/// slots are handed to fresh threads, which free what the old ones made.
pub fn larson<A: GlobalAlloc + Sync>(
    a: &A,
    threads: usize,
    rounds: usize,
    slots: usize,
    replacements: usize,
) {
    let mut owned: Vec<Vec<(usize, usize)>> = vec![Vec::new(); threads];
    for round in 0..rounds {
        owned = std::thread::scope(|s| {
            let handles: Vec<_> = owned
                .into_iter()
                .enumerate()
                .map(|(t, mut mine)| {
                    s.spawn(move || {
                        let mut rng =
                            Rng(0x9E37_79B9 ^ (((round * threads + t) as u64 + 1) * 0x1234_5677));
                        while mine.len() < slots {
                            let size = 16 + (rng.next() % 1009) as usize;
                            // SAFETY: non-zero layout; freed later by some thread.
                            let p = unsafe { a.alloc(lay(size)) };
                            assert!(!p.is_null());
                            mine.push((p as usize, size));
                        }
                        for _ in 0..replacements {
                            let i = (rng.next() % slots as u64) as usize;
                            let (p, size) = mine[i];
                            // SAFETY: allocated by `a` with this size, freed once.
                            unsafe { a.dealloc(p as *mut u8, lay(size)) };
                            let size = 16 + (rng.next() % 1009) as usize;
                            // SAFETY: non-zero layout.
                            let q = unsafe { a.alloc(lay(size)) };
                            assert!(!q.is_null());
                            // SAFETY: q holds at least one byte.
                            unsafe { q.write(1) };
                            mine[i] = (q as usize, size);
                        }
                        mine
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
    }
    for mine in owned {
        for (p, size) in mine {
            // SAFETY: allocated by `a` with this size, freed once.
            unsafe { a.dealloc(p as *mut u8, lay(size)) };
        }
    }
}

/// The sizes of a mixed batch, taken in turn.
pub const MIXED: [usize; 8] = [24, 40, 72, 136, 264, 520, 1032, 16];

/// Objects in one mixed batch.
pub const MIXED_BATCH: usize = 500;

/// One mixed batch: [`MIXED_BATCH`] allocations of the [`MIXED`] sizes in
/// turn (one byte written in each), then every one freed. Keeps its
/// pointers on the stack, so the calling thread allocates nothing else.
#[inline(never)]
pub fn mixed_batch<A: GlobalAlloc>(a: &A) {
    let mut ptrs = [0usize; MIXED_BATCH];
    for (i, slot) in ptrs.iter_mut().enumerate() {
        let l = lay(MIXED[i % MIXED.len()]);
        // SAFETY: non-zero layout; freed below with the same layout.
        let p = unsafe { a.alloc(l) };
        assert!(!p.is_null());
        // SAFETY: p holds at least one byte.
        unsafe { p.write(1) };
        *slot = p as usize;
    }
    for (i, &p) in black_box(&ptrs).iter().enumerate() {
        // SAFETY: allocated above with this layout, freed once.
        unsafe { a.dealloc(p as *mut u8, lay(MIXED[i % MIXED.len()])) };
    }
}

/// A short-lived thread's whole life: the thread starts, runs one
/// [`mixed_batch`] (500 small allocations, then their frees) and exits;
/// this returns once it has been joined, after its exit-time clean-up
/// (thread-local destructors, where allocators flush their caches) ran.
pub fn thread_life<A: GlobalAlloc + Sync>(a: &'static A) {
    std::thread::spawn(move || mixed_batch(a))
        .join()
        .expect("the short-lived thread does not panic");
}

/// Threads started once, before any measurement, that run the same work
/// on request: each [`Workers::run`] has every thread call `work(iters)`
/// once and returns the wall time until the last one finished. Criterion's
/// `iter_custom` drives it, so thread creation stays out of the timings.
pub struct Workers {
    start: Arc<Barrier>,
    done: Arc<Barrier>,
    iters: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Workers {
    /// Starts `threads` threads that wait for [`Workers::run`].
    pub fn start(threads: usize, work: impl Fn(u64) + Send + Sync + 'static) -> Workers {
        let start = Arc::new(Barrier::new(threads + 1));
        let done = Arc::new(Barrier::new(threads + 1));
        let iters = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let work = Arc::new(work);
        let handles = (0..threads)
            .map(|_| {
                let (start, done, iters, stop, work) = (
                    start.clone(),
                    done.clone(),
                    iters.clone(),
                    stop.clone(),
                    work.clone(),
                );
                std::thread::spawn(move || loop {
                    start.wait();
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                    work(iters.load(Ordering::Acquire));
                    done.wait();
                })
            })
            .collect();
        Workers {
            start,
            done,
            iters,
            stop,
            handles,
        }
    }

    /// Every thread runs `work(iters)` once; the wall time until all are done.
    pub fn run(&self, iters: u64) -> Duration {
        self.iters.store(iters, Ordering::Release);
        let t = Instant::now();
        self.start.wait();
        self.done.wait();
        t.elapsed()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.start.wait();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// Runs `f` with the calling thread (and every thread it starts, which
/// inherit the mask) held to the CPU it is on; the CPU mask is restored
/// afterwards. Without it, on the 2-vCPU VMs this project measures on, a
/// short-lived thread's life is mostly the time an idle vCPU takes to wake
/// up twice (once to start the thread, once to run the joiner after it
/// exits). `cargo run --release --example thread_life` splits the life
/// up: in one run there, `GoAlloc`'s thread took 16.7 µs from `spawn` to
/// its first line and 12.9 µs from its last line to the joiner, against
/// 4.0 µs of its own work (mimalloc: 10.5, 11.1 and 8.0 µs), and the CPUs
/// halted 0.33 times per thread against mimalloc's 0.07.
pub fn on_one_cpu<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity and
    // sched_setaffinity read and write only the set passed, of its size.
    unsafe {
        let mut old: libc::cpu_set_t = core::mem::zeroed();
        let size = core::mem::size_of::<libc::cpu_set_t>();
        let saved = libc::sched_getaffinity(0, size, &mut old) == 0;
        let cpu = libc::sched_getcpu();
        let mut one: libc::cpu_set_t = core::mem::zeroed();
        if cpu >= 0 {
            libc::CPU_SET(cpu as usize, &mut one);
            if libc::sched_setaffinity(0, size, &one) != 0 {
                eprintln!("warning: could not hold the thread to CPU {cpu}; the one-CPU row runs unpinned");
            }
        }
        let r = f();
        if saved {
            libc::sched_setaffinity(0, size, &old);
        }
        r
    }
}

/// What [`churn_peak`] measured.
#[derive(Debug, Clone, Copy)]
pub struct ChurnPeak {
    /// Peak resident bytes of the process while the workload ran, minus the
    /// resident bytes before it started.
    pub resident_bytes: u64,
    /// Peak of the live objects' requested bytes (the same for every allocator).
    pub live_bytes: u64,
}

/// The fragmentation chapter's churn workload
/// ([`alloc_cookbook::fragmentation::churn_workload`] with the book's seed
/// and step count) on `a`, in a forked child process so that each allocator
/// starts from the same state and its peak resident set (`VmHWM`, which a
/// new process starts at its current size) is its own. `before` runs in the
/// child first (the bench sets `GoAlloc`'s scavenger threshold there to the
/// chapter's). `None` if the child could not be forked or failed.
///
/// Call it while the process has one thread: a child forked from a
/// multi-threaded process may find an allocator lock held by a thread that
/// does not exist in the child.
pub fn churn_peak<A: GlobalAlloc>(a: &A, before: impl FnOnce()) -> Option<ChurnPeak> {
    use alloc_cookbook::fragmentation::{churn_workload, BOOK_SEED, BOOK_STEPS};
    fn status_kib(field: &str) -> Option<u64> {
        let s = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = s.lines().find(|l| l.starts_with(field))?;
        line[field.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for the two descriptors pipe writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: fork has no preconditions; the child below only runs the
    // workload, writes to the pipe and leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        before();
        let start = status_kib("VmRSS:").unwrap_or(0);
        let live = churn_workload(a, BOOK_SEED, BOOK_STEPS, |_, _| {});
        let peak = status_kib("VmHWM:").unwrap_or(0);
        let msg = [peak.saturating_sub(start) * 1024, live];
        // SAFETY: writes the 16 bytes of msg to the pipe, then leaves the
        // child without running the parent's exit handlers.
        unsafe {
            libc::write(fds[1], msg.as_ptr().cast(), 16);
            libc::_exit(0);
        }
    }
    // SAFETY: closes the parent's copy of the write end, which it never uses.
    unsafe { libc::close(fds[1]) };
    let mut msg = [0u64; 2];
    let got = if pid > 0 {
        // SAFETY: reads at most 16 bytes into msg.
        unsafe { libc::read(fds[0], msg.as_mut_ptr().cast(), 16) }
    } else {
        -1
    };
    let mut status = 0;
    if pid > 0 {
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
    }
    // SAFETY: closes the read end we opened.
    unsafe { libc::close(fds[0]) };
    let ok = pid > 0 && got == 16 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    ok.then_some(ChurnPeak {
        resident_bytes: msg[0],
        live_bytes: msg[1],
    })
}

/// One alloc+free pair on `GoAlloc` whose free has no layout: allocated
/// with `l` through `GlobalAlloc`, freed by [`GoAlloc::free`], which finds
/// the class through the page map (what the C ABI's `free` does). Beside
/// [`pair`] on the same instance it isolates the cost of a free without a size.
#[inline(always)]
pub fn pair_free_pointer_only(a: &GoAlloc, l: Layout) {
    // SAFETY: non-zero layout; the pointer is checked, written within bounds
    // and freed once by the instance that made it.
    unsafe {
        let p = a.alloc(l);
        assert!(!p.is_null());
        p.write(1);
        a.free(black_box(p));
    }
}

/// One `malloc` + `free` pair through the C ABI (`alloc_cookbook::c_abi`,
/// its own process-wide `GoAlloc`) as compiled into this bench binary; the
/// callgrind bench's C ABI rows call the preloadable library instead
/// ([`preload_pair`]), the code an `LD_PRELOAD` user runs.
#[inline(always)]
pub fn c_abi_pair(size: usize) {
    use alloc_cookbook::c_abi;
    // SAFETY: the C API's contract: the pointer is checked, written within
    // bounds and freed once.
    unsafe {
        let p = c_abi::malloc(size);
        assert!(!p.is_null());
        p.cast::<u8>().write(1);
        c_abi::free(black_box(p));
    }
}

/// GoAlloc's preloadable C library (`libgoalloc_preload.so`), opened with
/// `dlopen`: its exported `malloc` and `free`, reached through function
/// pointers as a C program reaches them through its PLT. This is the code
/// an `LD_PRELOAD` user runs (its thread-local block is reached with the
/// initial-exec model, in assembly), not `alloc_cookbook::c_abi` as
/// compiled into a Rust binary (general-dynamic thread-locals, which leave
/// a stack frame in `free`). The library has its own process-wide
/// `GoAlloc`; objects from its `malloc` go back to its `free` only.
pub struct PreloadLib {
    pub malloc: unsafe extern "C" fn(usize) -> *mut libc::c_void,
    pub free: unsafe extern "C" fn(*mut libc::c_void),
}

/// Where the library is looked for: `COOKBOOK_GOALLOC_LIB`, then beside this
/// bench binary's target directory (`target/release/deps/..` ->
/// `target/release/examples/`).
fn preload_candidates() -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = std::env::var_os("COOKBOOK_GOALLOC_LIB") {
        v.push(p.into());
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(profile) = exe.parent().and_then(std::path::Path::parent) {
            v.push(profile.join("examples/libgoalloc_preload.so"));
        }
    }
    v
}

/// The library, opened once. Panics, naming the command that builds it, if
/// it is not there: a bench row that measured something else would be wrong.
pub fn preload_lib() -> &'static PreloadLib {
    static LIB: std::sync::OnceLock<PreloadLib> = std::sync::OnceLock::new();
    LIB.get_or_init(|| {
        let candidates = preload_candidates();
        let Some(path) = candidates.iter().find(|p| p.exists()) else {
            panic!(
                "GoAlloc's preloadable library is not built (looked at {candidates:?}); \
                 build it with: cargo build --release --features preload --example goalloc_preload \
                 (or name it with COOKBOOK_GOALLOC_LIB=PATH)"
            );
        };
        let c_path =
            std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("no NUL in a path");
        // SAFETY: dlopen/dlsym with NUL-terminated strings; RTLD_LOCAL keeps
        // the library's malloc out of the global scope, so nothing else in
        // this process binds to it. The symbols are the C ABI's functions,
        // whose signatures the casts state (src/c_abi.rs).
        unsafe {
            let h = libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
            assert!(
                !h.is_null(),
                "dlopen {}: {:?}",
                path.display(),
                std::ffi::CStr::from_ptr(libc::dlerror())
            );
            let sym = |name: &std::ffi::CStr| {
                let s = libc::dlsym(h, name.as_ptr());
                assert!(!s.is_null(), "{}: no symbol {name:?}", path.display());
                s
            };
            PreloadLib {
                malloc: std::mem::transmute::<
                    *mut libc::c_void,
                    unsafe extern "C" fn(usize) -> *mut libc::c_void,
                >(sym(c"malloc")),
                free: std::mem::transmute::<
                    *mut libc::c_void,
                    unsafe extern "C" fn(*mut libc::c_void),
                >(sym(c"free")),
            }
        }
    })
}

/// One `malloc` + `free` pair through the preloadable library
/// ([`preload_lib`]), as a C program under `LD_PRELOAD` calls it.
#[inline(always)]
pub fn preload_pair(lib: &PreloadLib, size: usize) {
    // SAFETY: the C API's contract: the pointer is checked, written within
    // bounds and freed once, by the same library.
    unsafe {
        let p = (lib.malloc)(size);
        assert!(!p.is_null());
        p.cast::<u8>().write(1);
        (lib.free)(black_box(p));
    }
}
