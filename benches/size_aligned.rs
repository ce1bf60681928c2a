//! Criterion bench for `alloc_recipes::size_aligned`: what a request really
//! costs under the allocator chosen by `COOKBOOK_ALLOC`, and what asking for
//! the whole size class (or a smaller type) buys.
//!
//! The fact a reader gets wrong: "bytes per op" counts what was *requested*;
//! what is *consumed* is the usable size the allocator rounds it up to. This
//! bench measures that usable size with the allocator's own query
//! (`malloc_usable_size`, `mi_usable_size`, `tikv_jemallocator::usable_size`)
//! and records it as an extra column. Under `goalloc` the column is the Go
//! size-class table from `alloc_cookbook::size_class`, which `GoAlloc`
//! follows (requests under 16 bytes other than 8 share 16-byte tiny blocks
//! instead).
//!
//! Groups: growing 100,000 short buffers by a suffix (exact capacity vs class
//! capacity), building and scanning a million records in a `Vec` and a million
//! boxed records (`repr(C)` padded 32 B vs reordered 16 B), and a million
//! tokens with a rare large variant (inline vs boxed).
mod common;

use alloc_recipes::size_aligned::{
    boxed_tokens, class_capacity, inline_tokens, CompactRecord, PaddedRecord, TokenBoxed,
    TokenInline,
};
use std::hint::black_box;
use std::sync::OnceLock;

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

const BENCH: &str = "size_aligned";

// ANCHOR: measured_usable
/// Largest request whose usable size is measured; larger requests are taken as exact.
const MEASURED_UP_TO: usize = 16 * 1024;

/// The usable size for every request up to [`MEASURED_UP_TO`], measured once.
fn usable_table() -> &'static [u32] {
    static TABLE: OnceLock<Vec<u32>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=MEASURED_UP_TO)
            .map(|n| {
                if n == 0 {
                    0
                } else {
                    common::usable_size_of_fresh_block(n) as u32
                }
            })
            .collect()
    })
}

/// The `usable` function handed to the recipe: measured, for this allocator.
fn measured_usable(request: usize) -> usize {
    match usable_table().get(request) {
        Some(&u) => u as usize,
        None => request,
    }
}
// ANCHOR_END: measured_usable

/// Bytes of heap one live object of `object_bytes` takes: its usable size,
/// plus glibc's 8-byte chunk header (mimalloc, jemalloc and Go keep no
/// header beside the object; their per-span metadata is left out).
fn consumed_per_object(object_bytes: usize) -> usize {
    let header = if common::which() == common::Which::System {
        8
    } else {
        0
    };
    measured_usable(object_bytes) + header
}

fn record_consumed(group: &str, variant: &str, param: &str, object_bytes: usize) {
    let consumed = consumed_per_object(object_bytes);
    common::record_metric(
        BENCH,
        group,
        variant,
        param,
        "heap B per object",
        consumed as f64,
    );
    common::record_metric(
        BENCH,
        group,
        variant,
        param,
        "objects per 8 KiB",
        (8192 / consumed) as f64,
    );
}

/// Buffer lengths 20..120 bytes, a fixed pattern.
fn buffer_lengths(n: usize) -> Vec<usize> {
    (0..n).map(|i| 20 + (i * 37) % 100).collect()
}

// ANCHOR: suffix_buffers
/// Each buffer is filled to its length, then gets an 8-byte suffix.
fn grow_buffers(lengths: &[usize], capacity_for: impl Fn(usize) -> usize) -> usize {
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(lengths.len());
    for &len in lengths {
        let mut buf = Vec::with_capacity(capacity_for(len));
        buf.resize(len, b'x');
        buf.extend_from_slice(b"-suffix!");
        kept.push(buf);
    }
    kept.iter().map(|b| b.len()).sum()
}
// ANCHOR_END: suffix_buffers

fn padded(i: u32) -> PaddedRecord {
    PaddedRecord {
        flag: (i & 1) as u8,
        id: i as u64,
        kind: (i % 7) as u8,
        count: i,
        port: i as u16,
    }
}

fn compact(i: u32) -> CompactRecord {
    CompactRecord::from(padded(i))
}

fn main() {
    common::check_allocator_env();
    let mut c = common::criterion();

    {
        let name = "grow 100k short buffers by a suffix";
        let lengths = buffer_lengths(100_000);
        let mut g = common::group(&mut c, BENCH, name);
        g.case("exact capacity", "20-120 B", || {
            grow_buffers(black_box(&lengths), |n| n)
        });
        g.case("class capacity (measured usable size)", "20-120 B", || {
            grow_buffers(black_box(&lengths), |n| {
                class_capacity::<u8>(n, measured_usable)
            })
        });
        g.finish();
    }

    const N: u32 = 1_000_000;
    {
        let name = "1M records in a Vec: build and scan";
        let mut g = common::group(&mut c, BENCH, name);
        g.case("repr(C) field order", "32 B", || {
            let v: Vec<PaddedRecord> = (0..N).map(padded).collect();
            v.iter().map(|r| r.count as u64).sum::<u64>()
        });
        g.case("reordered fields", "16 B", || {
            let v: Vec<CompactRecord> = (0..N).map(compact).collect();
            v.iter().map(|r| r.count as u64).sum::<u64>()
        });
        g.finish();
    }

    {
        let name = "1M boxed records: build and scan";
        let mut g = common::group(&mut c, BENCH, name);
        record_consumed(
            name,
            "repr(C) field order",
            "32 B",
            std::mem::size_of::<PaddedRecord>(),
        );
        g.case("repr(C) field order", "32 B", || {
            let v: Vec<Box<PaddedRecord>> = (0..N).map(|i| Box::new(padded(i))).collect();
            v.iter().map(|r| r.count as u64).sum::<u64>()
        });
        record_consumed(
            name,
            "reordered fields",
            "16 B",
            std::mem::size_of::<CompactRecord>(),
        );
        g.case("reordered fields", "16 B", || {
            let v: Vec<Box<CompactRecord>> = (0..N).map(|i| Box::new(compact(i))).collect();
            v.iter().map(|r| r.count as u64).sum::<u64>()
        });
        g.finish();
    }

    {
        let name = "1M tokens, 1% rare large variant";
        let mut g = common::group(&mut c, BENCH, name);
        g.case("large variant inline", "64 B token", || {
            let v = inline_tokens(N);
            v.iter()
                .filter(|t| matches!(t, TokenInline::Word(_)))
                .count()
        });
        g.case("large variant boxed", "16 B token", || {
            let v = boxed_tokens(N);
            v.iter()
                .filter(|t| matches!(t, TokenBoxed::Word(_)))
                .count()
        });
        g.finish();
    }

    // Usable size per request, the table the recipe's `class_capacity` uses here.
    {
        let name = "usable bytes per request";
        for request in [
            1usize, 8, 16, 24, 25, 32, 33, 48, 64, 100, 128, 200, 256, 1000, 1025, 4000, 8193,
        ] {
            let param = format!("{request} B");
            let usable = measured_usable(request);
            common::record_metric(BENCH, name, "usable B", &param, "usable B", usable as f64);
            common::record_metric(
                BENCH,
                name,
                "usable B",
                &param,
                "unused B (request rounded up)",
                (usable - request) as f64,
            );
        }
    }

    c.final_summary();
}
