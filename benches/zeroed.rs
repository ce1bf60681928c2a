//! Criterion bench for the zeroed-memory chapter: three ways to get `n`
//! zeroed bytes (`alloc` + `write_bytes`, `alloc_zeroed`, `vec![0; n]`) at
//! 4 KiB, 1 MiB and 64 MiB, under the allocator chosen by `COOKBOOK_ALLOC`,
//! with the page faults of one use beside the time. The workloads are in
//! `benches/zeroed_work/mod.rs`, shared with the callgrind twin.
//!
//! The fact a reader gets wrong: `alloc_zeroed` is not a `memset` in
//! disguise. For memory the allocator knows is zero (pages fresh from the OS)
//! it skips the `memset`; the page faults remain.
mod common;
mod zeroed_work;

use common::minor_faults;
use std::hint::black_box;
use zeroed_work::{alloc_then_memset, alloc_zeroed_block, vec_of_zeros, SIZES};

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

const BENCH: &str = "zeroed";

/// One way to get zeroed memory: its row name and its workload.
type Way = (&'static str, fn(usize) -> usize);

fn main() {
    common::check_allocator_env();
    println!("allocator under this bench: {}", common::which().name());
    let mut c = common::criterion();
    let ways: [Way; 3] = [
        ("alloc, then write_bytes(0)", alloc_then_memset),
        ("alloc_zeroed", alloc_zeroed_block),
        ("vec![0u8; n]", vec_of_zeros),
    ];
    let name = "n zeroed bytes, one byte written per 4 KiB page";
    let mut g = common::group(&mut c, BENCH, name);
    g.criterion().sample_size(10);
    for (n, param) in SIZES {
        for (variant, f) in ways {
            g.case(variant, param, || f(black_box(n)));
        }
    }
    g.finish();
    // One more use of each, for its page faults (not timed).
    for (n, param) in SIZES {
        for (variant, f) in ways {
            let before = minor_faults();
            black_box(f(n));
            let faults = minor_faults() - before;
            common::record_metric(
                BENCH,
                name,
                variant,
                param,
                "page faults in one use",
                faults as f64,
            );
        }
    }
    c.final_summary();
}
