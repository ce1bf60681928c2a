//! Criterion bench of the allocators themselves: `GoAlloc` beside glibc
//! (`System`), mimalloc and jemalloc, each called directly through
//! `GlobalAlloc` in this one binary (the bench's own global allocator,
//! chosen by `COOKBOOK_ALLOC`, only serves criterion and the harness).
//! The workloads live in `common/allocators.rs`, shared with the callgrind
//! bench `allocator_callgrind.rs`.
//!
//! Every group has the allocators as variants, `system` first (the baseline
//! the book compares the others with). Allocation counts printed by
//! `common` are meaningless here: these calls bypass the counting global
//! allocator on purpose.
//!
//! Groups, in the order they run: peak resident bytes on the fragmentation
//! chapter's churn workload (in a forked child per allocator, first, while
//! the process has one thread); alloc+free pairs per size (tiny, small, one
//! byte over a class boundary, large); batches of N allocations then N
//! frees; each of Go's paths on its own (cache hit, central refill, page
//! heap, fresh memory from the OS); the throughput workloads
//! (producer/consumer, larson-like churn, a mixed-size batch on one
//! thread); long-lived threads started before the measurement (mixed
//! batches and 64 B pairs on one and on two threads: the scaling and
//! shared-cache-line checks); and short-lived threads (start, 500
//! allocations, exit: the thread life cycle).
//!
//! The fact a reader gets wrong: the "fresh memory from the OS" case sets
//! `GoAlloc`'s scavenger threshold to zero for its duration, so every free
//! gives the pages back and every allocation faults them in again; without
//! that, a freed megabyte stays in the page heap and is reused. The other
//! allocators run the same calls under their own policies, so that row
//! compares different events and has no target.
mod common;

use common::allocators::{
    batch, c_abi_pair, churn_peak, larson, lay, mixed_batch, pair, pair_free_pointer_only,
    producer_consumer, thread_life, touch_pages, GoAllocStatic, Workers, GOALLOC, JEMALLOC,
    MIMALLOC, MIXED_BATCH,
};
use std::alloc::System;
use std::time::Duration;

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

/// Runs `$body` once per allocator, with `$a` bound to it (a `&'static`),
/// as cases of `$g` through `Group::$method` (`case` or `case_threads`).
macro_rules! each_allocator {
    ($g:expr, $method:ident, $param:expr, |$a:ident| $body:expr) => {{
        {
            let $a = &System;
            $g.$method("system", $param, || $body);
        }
        {
            let $a = &GoAllocStatic;
            $g.$method("goalloc", $param, || $body);
        }
        {
            let $a = &MIMALLOC;
            $g.$method("mimalloc", $param, || $body);
        }
        {
            let $a = &JEMALLOC;
            $g.$method("jemalloc", $param, || $body);
        }
    }};
}

/// Like `each_allocator`, for `Group::case_custom`: `$make` builds the
/// timing closure (and whatever it owns, such as long-lived threads).
macro_rules! each_allocator_custom {
    ($g:expr, $param:expr, |$a:ident| $make:expr) => {{
        {
            let $a = &System;
            $g.case_custom("system", $param, $make);
        }
        {
            let $a = &GoAllocStatic;
            $g.case_custom("goalloc", $param, $make);
        }
        {
            let $a = &MIMALLOC;
            $g.case_custom("mimalloc", $param, $make);
        }
        {
            let $a = &JEMALLOC;
            $g.case_custom("jemalloc", $param, $make);
        }
    }};
}

/// Pairs per unit of work in the shared-cache-line check.
const PAIRS_PER_ITER: usize = 100;

fn main() {
    common::check_allocator_env();
    let mut c = common::criterion();

    // First, while this process has one thread: each allocator's child
    // starts from the same state.
    let group = "peak resident bytes: the fragmentation chapter's churn workload";
    let param = format!(
        "churn_workload(seed {}, {} steps)",
        alloc_cookbook::fragmentation::BOOK_SEED,
        alloc_cookbook::fragmentation::BOOK_STEPS
    );
    let g = common::group(&mut c, "allocator", group);
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    for (name, peak) in [
        (
            "system",
            g.selected("system", &param)
                .then(|| churn_peak(&System, || {})),
        ),
        (
            "goalloc",
            g.selected("goalloc", &param).then(|| {
                churn_peak(&GOALLOC, || {
                    GOALLOC
                        .set_scavenge_threshold(alloc_cookbook::fragmentation::SCAVENGE_THRESHOLD);
                })
            }),
        ),
        (
            "mimalloc",
            g.selected("mimalloc", &param)
                .then(|| churn_peak(&MIMALLOC, || {})),
        ),
        (
            "jemalloc",
            g.selected("jemalloc", &param)
                .then(|| churn_peak(&JEMALLOC, || {})),
        ),
    ] {
        match peak {
            None => {}
            Some(None) => eprintln!("warning: the churn workload's child failed under {name}"),
            Some(Some(p)) => {
                common::record_metric(
                    "allocator",
                    group,
                    name,
                    &param,
                    "peak resident (MiB)",
                    mib(p.resident_bytes),
                );
                common::record_metric(
                    "allocator",
                    group,
                    name,
                    &param,
                    "peak live, requested (MiB)",
                    mib(p.live_bytes),
                );
            }
        }
    }
    g.finish();

    let mut g = common::group(&mut c, "allocator", "alloc+free pair");
    g.criterion()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(700));
    for (param, size) in [
        ("8 B", 8),
        ("16 B", 16),
        ("33 B", 33),
        ("64 B", 64),
        ("256 B", 256),
        ("1 KiB", 1024),
        ("1025 B", 1025),
        ("4 KiB", 4 << 10),
        ("16 KiB", 16 << 10),
        ("32 KiB", 32 << 10),
        ("64 KiB", 64 << 10),
        ("1 MiB", 1 << 20),
    ] {
        let l = lay(size);
        each_allocator!(g, case, param, |a| pair(a, l));
    }
    g.finish();

    let mut g = common::group(&mut c, "allocator", "batch: N allocations, then N frees");
    g.criterion().sample_size(10);
    let mut ptrs = Vec::with_capacity(100_000);
    for (n, count) in [(1_000, "1,000"), (100_000, "100,000")] {
        for (size, label) in [(16, "16 B"), (64, "64 B"), (1024, "1 KiB")] {
            let param = format!("{count} x {label}");
            each_allocator!(g, case, &param, |a| batch(a, &mut ptrs, n, lay(size)));
        }
    }
    g.finish();

    let mut g = common::group(&mut c, "allocator", "Go's paths, one at a time");
    g.criterion()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(700));
    each_allocator!(g, case, "cache hit (64 B pair)", |a| pair(a, lay(64)));
    each_allocator!(g, case, "central refill (1024 x 1 KiB, then free)", |a| {
        batch(a, &mut ptrs, 1024, lay(1024))
    });
    each_allocator!(g, case, "page heap (64 KiB pair)", |a| pair(
        a,
        lay(64 << 10)
    ));
    GOALLOC.set_scavenge_threshold(0);
    each_allocator!(
        g,
        case,
        "fresh OS memory (4 MiB, every page touched)",
        |a| { touch_pages(a, 4 << 20) }
    );
    GOALLOC.set_scavenge_threshold(alloc_cookbook::allocator::DEFAULT_SCAVENGE_THRESHOLD);
    g.finish();

    // GoAlloc only: the same 64 B pair freed with and without its layout.
    let mut g = common::group(&mut c, "allocator", "free without a layout (GoAlloc)");
    g.criterion()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(700));
    g.case("goalloc", "dealloc with a layout (64 B pair)", || {
        pair(&GoAllocStatic, lay(64))
    });
    g.case("goalloc", "free, pointer only (64 B pair)", || {
        pair_free_pointer_only(&GOALLOC, lay(64))
    });
    g.case("goalloc", "C ABI malloc + free (64 B)", || c_abi_pair(64));
    g.finish();

    let mut g = common::group(
        &mut c,
        "allocator",
        "producer/consumer: one thread allocates, another frees",
    );
    g.criterion().sample_size(10);
    each_allocator!(g, case_threads, "10,000 x 64 B", |a| producer_consumer(
        a,
        10_000,
        lay(64)
    ));
    g.finish();

    let mut g = common::group(&mut c, "allocator", "larson-like server churn, 2 threads");
    g.criterion().sample_size(10);
    each_allocator!(
        g,
        case_threads,
        "2 rounds x 2 threads x 5,000 replacements",
        |a| larson(a, 2, 2, 500, 5_000)
    );
    g.finish();

    let mut g = common::group(&mut c, "allocator", "mixed-size batch, one thread");
    g.criterion().sample_size(10);
    let param = format!("100 batches of {MIXED_BATCH} (16 B to 1 KiB)");
    each_allocator!(g, case, &param, |a| for _ in 0..100 {
        mixed_batch(a)
    });
    g.finish();

    // Long-lived threads: started before the measurement, so these rows
    // measure the steady state, not thread creation or exit.
    let mut g = common::group(
        &mut c,
        "allocator",
        "long-lived threads: independent mixed-size batches",
    );
    g.criterion().sample_size(10);
    for (threads, param) in [(1, "1 thread"), (2, "2 threads (twice the work)")] {
        each_allocator_custom!(g, param, |a| {
            let w = Workers::start(threads, move |iters| {
                for _ in 0..iters {
                    mixed_batch(a);
                }
            });
            move |iters| w.run(iters)
        });
    }
    g.finish();

    let mut g = common::group(
        &mut c,
        "allocator",
        "long-lived threads: 64 B pairs (shared cache line check)",
    );
    g.criterion().sample_size(10);
    for (threads, param) in [(1, "1 thread"), (2, "2 threads (twice the work)")] {
        each_allocator_custom!(g, param, |a| {
            let w = Workers::start(threads, move |iters| {
                for _ in 0..iters as usize * PAIRS_PER_ITER {
                    pair(a, lay(64));
                }
            });
            move |iters| w.run(iters)
        });
    }
    g.finish();

    let mut g = common::group(
        &mut c,
        "allocator",
        "short-lived threads: start, 500 allocations, exit",
    );
    g.criterion().sample_size(10);
    each_allocator!(g, case_threads, "one thread's life", |a| thread_life(a));
    // The same life with every thread on the CPU the bench runs on: no
    // idle vCPU has to wake up (see `on_one_cpu`), so what is left is the
    // thread's creation, its allocator work and its exit.
    common::allocators::on_one_cpu(|| {
        each_allocator!(
            g,
            case_threads,
            "one thread's life, all threads on one CPU",
            |a| { thread_life(a) }
        )
    });
    g.finish();

    c.final_summary();
}
