//! What every bench shares: the global allocator chosen at start, allocation
//! counts per operation (as `go test -benchmem` reports them), and the result
//! files the book generator reads.
//!
//! # Conventions (every bench follows them)
//! - The bench binary declares
//!   `#[global_allocator] static A: common::BenchAlloc = common::BenchAlloc::new();`
//!   and the allocator under it is chosen by `COOKBOOK_ALLOC`
//!   (`system` (default), `goalloc`, `mimalloc`, `jemalloc`), read once, before
//!   the first allocation, with `getenv` (which does not allocate).
//! - Criterion benches go through [`Group::case`]: it records allocs/op and
//!   bytes/op for the case in `target/cookbook/allocs/<bench>.jsonl`, prints
//!   them, then times the case. The criterion group id is `"<group> [<allocator>]"`,
//!   so runs under different allocators do not overwrite each other.
//! - In every group the first case is the baseline (the naive code the
//!   pattern replaces); the book shows every other case as a ratio to it.
//! - Callgrind benches (gungraun) use the same `BenchAlloc` and pass
//!   `COOKBOOK_ALLOC` through to the benchmark process; the book command sets
//!   `GUNGRAUN_HOME=target/cookbook/gungraun/<allocator>` per allocator.
#![allow(dead_code)] // each bench binary uses a different part of this module

pub mod allocators;

use alloc_cookbook::counting::{count, count_all_threads, AllocCounts, CountingAlloc};
use alloc_cookbook::GoAlloc;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion};
use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Display;
use std::hint::black_box;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::time::Duration;

/// The allocators a bench can run under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    System,
    GoAlloc,
    Mimalloc,
    Jemalloc,
}

impl Which {
    pub const ALL: [Which; 4] = [
        Which::System,
        Which::GoAlloc,
        Which::Mimalloc,
        Which::Jemalloc,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Which::System => "system",
            Which::GoAlloc => "goalloc",
            Which::Mimalloc => "mimalloc",
            Which::Jemalloc => "jemalloc",
        }
    }

    fn parse(bytes: &[u8]) -> Option<Which> {
        Which::ALL
            .into_iter()
            .find(|w| w.name().as_bytes() == bytes)
    }
}

static GO: GoAlloc = GoAlloc::new();
static CHOICE: AtomicU8 = AtomicU8::new(u8::MAX);

/// `COOKBOOK_ALLOC` without allocating: `Err` holds the bad value's bytes length
/// so that `main` can report it; the allocator itself falls back to the system one.
fn read_choice() -> Result<Which, ()> {
    // SAFETY: getenv reads the process environment; the name is a valid C string.
    let p = unsafe { libc::getenv(c"COOKBOOK_ALLOC".as_ptr()) };
    if p.is_null() {
        return Ok(Which::System);
    }
    // SAFETY: getenv returned a non-null pointer to a NUL-terminated string.
    let bytes = unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes();
    if bytes.is_empty() {
        return Ok(Which::System);
    }
    Which::parse(bytes).ok_or(())
}

#[inline]
pub fn which() -> Which {
    match CHOICE.load(Relaxed) {
        0 => Which::System,
        1 => Which::GoAlloc,
        2 => Which::Mimalloc,
        3 => Which::Jemalloc,
        _ => {
            let w = read_choice().unwrap_or(Which::System);
            CHOICE.store(w as u8, Relaxed);
            w
        }
    }
}

/// Checks `COOKBOOK_ALLOC` and exits with code 2 naming the bad value.
/// Call it first thing in a bench's `main`.
pub fn check_allocator_env() {
    if read_choice().is_err() {
        let v = std::env::var("COOKBOOK_ALLOC").unwrap_or_default();
        eprintln!("error: COOKBOOK_ALLOC={v:?} is not one of system, goalloc, mimalloc, jemalloc");
        std::process::exit(2);
    }
    eprintln!("allocator under this bench: {}", which().name());
}

/// The allocator chosen by `COOKBOOK_ALLOC`.
pub struct Selected;

macro_rules! dispatch {
    ($method:ident ( $($arg:expr),* )) => {
        match which() {
            Which::System => System.$method($($arg),*),
            Which::GoAlloc => GO.$method($($arg),*),
            Which::Mimalloc => mimalloc::MiMalloc.$method($($arg),*),
            Which::Jemalloc => tikv_jemallocator::Jemalloc.$method($($arg),*),
        }
    };
}

// SAFETY: each call goes, unchanged, to one allocator that upholds the contract;
// the choice is made once and never changes, so a pointer is always freed by
// the allocator that made it.
unsafe impl GlobalAlloc for Selected {
    #[inline]
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: caller's contract passed through.
        unsafe { dispatch!(alloc(l)) }
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: caller's contract passed through.
        unsafe { dispatch!(alloc_zeroed(l)) }
    }
    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: caller's contract passed through.
        unsafe { dispatch!(dealloc(p, l)) }
    }
    #[inline]
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        // SAFETY: caller's contract passed through.
        unsafe { dispatch!(realloc(p, l, n)) }
    }
}

/// The global allocator of every bench: counting around the selected one.
pub type BenchAlloc = CountingAlloc<Selected>;

/// `#[global_allocator] static A: BenchAlloc = common::bench_alloc();`
pub const fn bench_alloc() -> BenchAlloc {
    CountingAlloc::new(Selected)
}

/// Where results go: `$COOKBOOK_RESULTS`, else `<workspace>/target/cookbook`.
pub fn results_dir() -> std::path::PathBuf {
    match std::env::var_os("COOKBOOK_RESULTS") {
        Some(d) => d.into(),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/cookbook"),
    }
}

/// Short defaults so `cargo bench --bench NAME` stays around a minute or two;
/// command-line flags (`--quick`, `--measurement-time`, ...) still override them.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(30)
        .configure_from_args()
}

/// The name filter criterion got on the command line, if any: the first
/// argument that is neither an option nor an option's value.
fn criterion_filter() -> Option<String> {
    const TAKES_VALUE: [&str; 17] = [
        "--warm-up-time",
        "--measurement-time",
        "--sample-size",
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--profile-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--color",
        "--format",
        "--plotting-backend",
        "--output-format",
        "--logfile",
    ];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if TAKES_VALUE.contains(&a.as_str()) || a == "-c" || a == "-s" {
            args.next();
        } else if !a.starts_with('-') {
            return Some(a);
        }
    }
    None
}

/// A criterion group that also records allocation counts.
pub struct Group<'a> {
    bench: &'static str,
    name: String,
    inner: BenchmarkGroup<'a, criterion::measurement::WallTime>,
}

/// Opens a group named `name` in the bench file `bench` (e.g. `"pooling"`).
pub fn group<'a>(c: &'a mut Criterion, bench: &'static str, name: &str) -> Group<'a> {
    let inner = c.benchmark_group(format!("{name} [{}]", which().name()));
    Group {
        bench,
        name: name.to_string(),
        inner,
    }
}

impl<'a> Group<'a> {
    /// The underlying criterion group, for settings such as `sample_size`.
    pub fn criterion(&mut self) -> &mut BenchmarkGroup<'a, criterion::measurement::WallTime> {
        &mut self.inner
    }

    /// Measures one case: allocations and bytes per call of `f` on this thread
    /// (after one warm-up call, over 3 calls), then its time.
    pub fn case<O>(&mut self, variant: &str, param: impl Display, mut f: impl FnMut() -> O) {
        if !self.selected(variant, &param.to_string()) {
            return;
        }
        black_box(f());
        let (_, counts) = count(|| {
            for _ in 0..3 {
                black_box(f());
            }
        });
        self.record(variant, &param.to_string(), counts, 3);
        self.inner
            .bench_function(BenchmarkId::new(variant, &param), |b| b.iter(&mut f));
    }

    /// Like [`Group::case`], for work that spreads over several threads:
    /// counts every thread's allocations.
    pub fn case_threads<O>(
        &mut self,
        variant: &str,
        param: impl Display,
        mut f: impl FnMut() -> O,
    ) {
        if !self.selected(variant, &param.to_string()) {
            return;
        }
        black_box(f());
        let (_, counts) = count_all_threads(|| {
            for _ in 0..3 {
                black_box(f());
            }
        });
        self.record(variant, &param.to_string(), counts, 3);
        self.inner
            .bench_function(BenchmarkId::new(variant, &param), |b| b.iter(&mut f));
    }

    /// Like [`Group::case_threads`], for a case that times itself:
    /// `f(iters)` runs the work `iters` times and returns the time that
    /// counts (criterion's `iter_custom`), so set-up such as starting
    /// long-lived threads stays out of the measurement.
    pub fn case_custom(
        &mut self,
        variant: &str,
        param: impl Display,
        mut f: impl FnMut(u64) -> Duration,
    ) {
        if !self.selected(variant, &param.to_string()) {
            return;
        }
        black_box(f(1));
        let (_, counts) = count_all_threads(|| black_box(f(3)));
        self.record(variant, &param.to_string(), counts, 3);
        self.inner
            .bench_function(BenchmarkId::new(variant, &param), |b| b.iter_custom(&mut f));
    }

    /// Whether criterion's name filter (`cargo bench --bench X -- FILTER`)
    /// keeps this case, so a filtered run neither counts nor records the
    /// cases it skips. A literal filter is matched as a substring of the id;
    /// a filter with regex syntax keeps every case (criterion decides).
    pub fn selected(&self, variant: &str, param: &str) -> bool {
        let id = format!("{} [{}]/{variant}/{param}", self.name, which().name());
        match criterion_filter() {
            Some(f) if !f.contains(|c: char| "\\^$.|?*+()[]{}".contains(c)) => id.contains(&f),
            _ => true,
        }
    }

    /// Writes one line to `allocs/<bench>.jsonl` and prints it, `-benchmem` style.
    pub fn record(&self, variant: &str, param: &str, counts: AllocCounts, ops: u64) {
        let (allocs, bytes) = counts.per_op(ops);
        let alloc = which().name();
        println!(
            "{}/{variant}/{param} [{alloc}]: {allocs:.1} allocs/op, {bytes:.0} B/op",
            self.name
        );
        let line = format!(
            "{{\"bench\":{:?},\"group\":{:?},\"variant\":{:?},\"param\":{:?},\"allocator\":{:?},\"allocs_per_op\":{allocs},\"bytes_per_op\":{bytes}}}\n",
            self.bench, self.name, variant, param, alloc
        );
        let dir = results_dir().join("allocs");
        let written = std::fs::create_dir_all(&dir).and_then(|_| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(format!("{}.jsonl", self.bench)))?
                .write_all(line.as_bytes())
        });
        if let Err(e) = written {
            eprintln!(
                "warning: could not record allocation counts in {}: {e}",
                dir.display()
            );
        }
    }

    pub fn finish(self) {
        self.inner.finish();
    }
}

/// Records an extra measured value for a case (peak resident bytes, cache
/// misses, ...) in `metrics/<bench>.jsonl`; the book shows it as a column named
/// `metric` (say the unit in the name: `"peak RSS (MiB)"`).
pub fn record_metric(
    bench: &str,
    group: &str,
    variant: &str,
    param: &str,
    metric: &str,
    value: f64,
) {
    let alloc = which().name();
    println!("{group}/{variant}/{param} [{alloc}]: {metric} = {value}");
    let line = format!(
        "{{\"bench\":{bench:?},\"group\":{group:?},\"variant\":{variant:?},\"param\":{param:?},\"allocator\":{alloc:?},\"metric\":{metric:?},\"value\":{value}}}\n"
    );
    let dir = results_dir().join("metrics");
    let written = std::fs::create_dir_all(&dir).and_then(|_| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("{bench}.jsonl")))?
            .write_all(line.as_bytes())
    });
    if let Err(e) = written {
        eprintln!(
            "warning: could not record {metric} in {}: {e}",
            dir.display()
        );
    }
}

// ANCHOR: usable_size
/// Usable size of one fresh block of `request` bytes, asked of the allocator
/// under this bench directly (not through the counting wrapper).
pub fn usable_size_of_fresh_block(request: usize) -> usize {
    use std::alloc::{GlobalAlloc, Layout};
    match which() {
        Which::System => {
            // SAFETY: malloc/free of a fresh block, checked for null, freed once.
            unsafe {
                let p = libc::malloc(request);
                assert!(!p.is_null());
                let u = libc::malloc_usable_size(p);
                libc::free(p);
                u
            }
        }
        Which::Mimalloc => {
            extern "C" {
                // From libmimalloc-sys, linked in through the mimalloc crate.
                fn mi_malloc(size: usize) -> *mut std::ffi::c_void;
                fn mi_usable_size(p: *const std::ffi::c_void) -> usize;
                fn mi_free(p: *mut std::ffi::c_void);
            }
            // SAFETY: mimalloc's own malloc/usable_size/free on one fresh block.
            unsafe {
                let p = mi_malloc(request);
                assert!(!p.is_null());
                let u = mi_usable_size(p);
                mi_free(p);
                u
            }
        }
        Which::Jemalloc => {
            let layout = Layout::from_size_align(request.max(1), 1).expect("valid layout");
            // SAFETY: a non-zero layout; the block is jemalloc's and freed once
            // with the same layout.
            unsafe {
                let p = tikv_jemallocator::Jemalloc.alloc(layout);
                assert!(!p.is_null());
                let u = tikv_jemallocator::usable_size(p);
                tikv_jemallocator::Jemalloc.dealloc(p, layout);
                u
            }
        }
        Which::GoAlloc => {
            use alloc_cookbook::size_class::GO;
            if request <= GO.max_small() {
                GO.size(GO.class_of(request))
            } else {
                request.div_ceil(GO.page_size()) * GO.page_size()
            }
        }
    }
}
// ANCHOR_END: usable_size

/// The `GoAlloc` instance behind `COOKBOOK_ALLOC=goalloc`, for a bench that
/// turns its knobs (the tuning bench sets its scavenger threshold).
pub fn goalloc_instance() -> &'static GoAlloc {
    &GO
}

// Process memory probes shared by the tuning, memory and zeroed benches.

/// This process's resident set and its high-water mark, in bytes, from
/// `/proc/self/status` (`None` where there is none).
pub fn rss_and_peak() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Resets the high-water mark to the current resident set (Linux: writing
/// 5 to `/proc/self/clear_refs`). Returns whether it worked.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Minor page faults of this process so far (`getrusage`).
pub fn minor_faults() -> u64 {
    // SAFETY: getrusage writes one rusage struct, which we own.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut u) == 0 {
            u.ru_minflt as u64
        } else {
            0
        }
    }
}
