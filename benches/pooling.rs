//! Criterion bench for `alloc_recipes::pooling`: a fresh `Vec` per use (the
//! naive code) against each pool, for 64 B, 1 KiB, 64 KiB and 1 MiB buffers,
//! on one thread and on two threads at once, 64 MiB buffers on one thread,
//! and the bounded `BufferPool` on a mixed-size request stream.
//!
//! The fact a reader gets wrong: every case does the same work on the buffer
//! (fill it from the same source), so the differences are only in getting and
//! giving back the buffer. For large buffers that includes what the allocator
//! does with freed memory. glibc returns blocks above its mmap threshold to
//! the OS, and a fresh one is page-faulted in again on every use, but that
//! threshold rises (up to 32 MiB) after the first such free, so a loop over
//! 1 MiB buffers soon stops paying it; the 64 MiB group shows the cost.
//!
//! Two-thread cases run one batch of uses on the bench thread and one on a
//! worker thread that lives for the whole case, started together by a barrier,
//! so a time is "both threads finished their batch" and no thread start is
//! measured. Allocation counts there cover both threads.
//!
//! Run: `COOKBOOK_ALLOC=system cargo bench --bench pooling` (about 2 minutes;
//! add `-- --quick` for a fast pass), and again with `mimalloc`, `jemalloc`,
//! `goalloc`.
mod common;

use alloc_recipes::pooling::{pull_reset, with_thread_buffer, BufferPool, LocalPool, MutexPool};
use object_pool::Pool;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

const BENCH: &str = "pooling";

/// The sizes of the fixed-size groups, and how many uses each thread makes
/// per measured operation in the two-thread groups (enough that the barrier
/// handshake, a few microseconds, is small beside the batch).
const SIZES: [(usize, &str, usize); 4] = [
    (64, "64 B", 10_000),
    (1024, "1 KiB", 5_000),
    (64 * 1024, "64 KiB", 200),
    (1024 * 1024, "1 MiB", 20),
];

/// The work every case does with its buffer: fill it, and read one byte
/// back so the copy cannot be optimised away.
#[inline(always)]
fn use_buffer(buf: &mut Vec<u8>, src: &[u8]) -> u8 {
    buf.extend_from_slice(src);
    black_box(buf[buf.len() / 2])
}

fn fresh(src: &[u8]) -> u8 {
    let mut buf = Vec::with_capacity(src.len());
    use_buffer(&mut buf, src)
}

fn one_thread(c: &mut criterion::Criterion, source: &[u8]) {
    for (size, label, _) in SIZES {
        let src = &source[..size];
        let mut g = common::group(c, BENCH, &format!("{label} buffers, one thread"));
        g.case("fresh Vec", label, || fresh(src));

        let local: LocalPool<Vec<u8>> = LocalPool::new(8);
        g.case("LocalPool", label, || {
            use_buffer(&mut local.pull(|| Vec::with_capacity(size)), src)
        });

        let mutex: MutexPool<Vec<u8>> = MutexPool::new(8);
        g.case("Mutex<Vec> pool", label, || {
            use_buffer(&mut mutex.pull(|| Vec::with_capacity(size)), src)
        });

        let crate_pool: Pool<Vec<u8>> = Pool::new(1, || Vec::with_capacity(size));
        g.case("object-pool crate", label, || {
            use_buffer(
                &mut pull_reset(&crate_pool, || Vec::with_capacity(size)),
                src,
            )
        });

        g.case("thread-local pool", label, || {
            with_thread_buffer(size, |buf| use_buffer(buf, src))
        });

        let buffers = BufferPool::new(64 << 20);
        g.case("BufferPool", label, || {
            use_buffer(&mut buffers.get(size), src)
        });
        g.finish();
    }
}

/// Above glibc's largest mmap threshold (32 MiB), every fresh buffer is a
/// new mapping: `mmap`, a page fault per 4 KiB page on first write, `munmap`.
/// Below it, glibc raises its threshold after the first free and keeps the
/// memory, which is why the 1 MiB group shows little difference there.
fn huge_buffers(c: &mut criterion::Criterion) {
    const SIZE: usize = 64 << 20;
    let label = "64 MiB";
    let src: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    let mut g = common::group(c, BENCH, &format!("{label} buffers, one thread"));
    g.criterion().sampling_mode(criterion::SamplingMode::Flat);
    g.case("fresh Vec", label, || fresh(&src));
    let local: LocalPool<Vec<u8>> = LocalPool::new(1);
    g.case("LocalPool", label, || {
        use_buffer(&mut local.pull(|| Vec::with_capacity(SIZE)), &src)
    });
    let mutex: MutexPool<Vec<u8>> = MutexPool::new(1);
    g.case("Mutex<Vec> pool", label, || {
        use_buffer(&mut mutex.pull(|| Vec::with_capacity(SIZE)), &src)
    });
    g.finish();
}

/// Runs `batch` on this thread and on one worker thread at once, per call of
/// the closure handed to `measure`; the worker lives as long as `measure` runs.
fn on_two_threads(batch: &(dyn Fn() -> u8 + Sync), measure: impl FnOnce(&mut dyn FnMut() -> u8)) {
    let start = Barrier::new(2);
    let done = Barrier::new(2);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| loop {
            start.wait();
            if stop.load(Ordering::Acquire) {
                return;
            }
            black_box(batch());
            done.wait();
        });
        measure(&mut || {
            start.wait();
            let r = batch();
            done.wait();
            r
        });
        stop.store(true, Ordering::Release);
        start.wait();
    });
}

fn two_threads(c: &mut criterion::Criterion, source: &[u8]) {
    for (size, label, per_thread) in SIZES {
        let src = &source[..size];
        let param = format!("{label}, 2 threads × {per_thread}");
        let mut g = common::group(c, BENCH, &format!("{label} buffers, two threads"));
        let repeat = |one: &(dyn Fn() -> u8 + Sync)| {
            let mut x = 0u8;
            for _ in 0..per_thread {
                x ^= one();
            }
            x
        };

        on_two_threads(&|| repeat(&|| fresh(src)), |run| {
            g.case_threads("fresh Vec", &param, run)
        });

        let mutex: MutexPool<Vec<u8>> = MutexPool::new(8);
        let batch = || repeat(&|| use_buffer(&mut mutex.pull(|| Vec::with_capacity(size)), src));
        on_two_threads(&batch, |run| g.case_threads("Mutex<Vec> pool", &param, run));

        let crate_pool: Pool<Vec<u8>> = Pool::new(2, || Vec::with_capacity(size));
        let batch = || {
            repeat(&|| {
                use_buffer(
                    &mut pull_reset(&crate_pool, || Vec::with_capacity(size)),
                    src,
                )
            })
        };
        on_two_threads(&batch, |run| {
            g.case_threads("object-pool crate", &param, run)
        });

        let batch = || repeat(&|| with_thread_buffer(size, |buf| use_buffer(buf, src)));
        on_two_threads(&batch, |run| {
            g.case_threads("thread-local pool", &param, run)
        });

        let buffers = BufferPool::new(64 << 20);
        let batch = || repeat(&|| use_buffer(&mut buffers.get(size), src));
        on_two_threads(&batch, |run| g.case_threads("BufferPool", &param, run));
        g.finish();
    }
}

/// A deterministic stream of request sizes, as a server might see: mostly
/// small (64 B to 4 KiB), some medium (4 to 64 KiB), a few large (64 KiB to 1 MiB).
fn request_sizes(n: usize) -> Vec<usize> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let r = x as usize;
            match r % 100 {
                0..=79 => 64 + r / 100 % (4096 - 64),
                80..=96 => 4096 + r / 100 % (60 * 1024),
                _ => 64 * 1024 + r / 100 % (960 * 1024),
            }
        })
        .collect()
}

fn mixed_stream(c: &mut criterion::Criterion, source: &[u8]) {
    const REQUESTS: usize = 256;
    let sizes = request_sizes(REQUESTS);
    let param = format!("{REQUESTS} requests");
    let group = "mixed-size request stream, one thread";
    let mut g = common::group(c, BENCH, group);
    let stream = |get: &dyn Fn(usize) -> u8| sizes.iter().fold(0u8, |x, &n| x ^ get(n));

    g.case("fresh Vec", &param, || stream(&|n| fresh(&source[..n])));
    g.case("thread-local pool", &param, || {
        stream(&|n| with_thread_buffer(n, |buf| use_buffer(buf, &source[..n])))
    });
    for (variant, limit) in [
        ("BufferPool, 64 MiB limit", 64 << 20),
        ("BufferPool, 1 MiB limit", 1 << 20),
    ] {
        let buffers = BufferPool::new(limit);
        g.case(variant, &param, || {
            stream(&|n| use_buffer(&mut buffers.get(n), &source[..n]))
        });
        let kib = buffers.retained_bytes() as f64 / 1024.0;
        common::record_metric(
            BENCH,
            group,
            variant,
            &param,
            "retained by the pool (KiB)",
            kib,
        );
    }
    g.finish();
}

fn main() {
    common::check_allocator_env();
    let source: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut c = common::criterion();
    one_thread(&mut c, &source);
    huge_buffers(&mut c);
    two_threads(&mut c, &source);
    mixed_stream(&mut c, &source);
    c.final_summary();
}
