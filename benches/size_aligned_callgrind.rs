//! Callgrind bench (gungraun) for `alloc_recipes::size_aligned`: instruction
//! counts of the criterion bench's cases, under the allocator chosen by
//! `COOKBOOK_ALLOC` (passed through to the benchmark process).
//!
//! The fact a reader gets wrong: the class-capacity helper does not make an
//! allocation cheaper; it removes the `realloc` that the exact capacity
//! causes later. The instruction count of the whole build shows it.
//!
//! Sizes are a tenth of the criterion bench's (valgrind is ~50x slower):
//! 10,000 buffers, 100,000 records and tokens.
//! Scale: a tenth of the criterion bench's: 10,000 buffers (criterion: 100,000), 100,000 records and tokens (criterion: 1,000,000). The class capacity here uses
//! the usable-size arithmetic the recipe ships for the allocator (glibc's
//! for `system`, Go's classes for the rest) instead of the criterion bench's
//! measured table, so that setup stays out of the count.
// `Vec<Box<Record>>` is the point of two cases: one allocation per record is what is measured.
#![allow(clippy::vec_box)]

mod common;

use alloc_recipes::size_aligned::{
    boxed_tokens, class_capacity, glibc_usable_size, go_usable_size, inline_tokens, CompactRecord,
    PaddedRecord, TokenBoxed, TokenInline,
};
use gungraun::{library_benchmark, library_benchmark_group, main, LibraryBenchmarkConfig};
use std::hint::black_box;

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

const BUFFERS: usize = 10_000;
const RECORDS: u32 = 100_000;

fn usable_for_this_allocator(request: usize) -> usize {
    match common::which() {
        common::Which::System => glibc_usable_size(request),
        _ => go_usable_size(request),
    }
}

fn buffer_lengths() -> Vec<usize> {
    (0..BUFFERS).map(|i| 20 + (i * 37) % 100).collect()
}

fn grow_buffers(lengths: &[usize], capacity_for: impl Fn(usize) -> usize) -> Vec<Vec<u8>> {
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(lengths.len());
    for &len in lengths {
        let mut buf = Vec::with_capacity(capacity_for(len));
        buf.resize(len, b'x');
        buf.extend_from_slice(b"-suffix!");
        kept.push(buf);
    }
    kept
}

#[library_benchmark]
#[bench::exact_capacity(setup = buffer_lengths)]
fn grow_buffers_exact_capacity(lengths: Vec<usize>) -> Vec<Vec<u8>> {
    black_box(grow_buffers(&lengths, |n| n))
}

#[library_benchmark]
#[bench::class_capacity(setup = buffer_lengths)]
fn grow_buffers_class_capacity(lengths: Vec<usize>) -> Vec<Vec<u8>> {
    black_box(grow_buffers(&lengths, |n| {
        class_capacity::<u8>(n, usable_for_this_allocator)
    }))
}

fn padded(i: u32) -> PaddedRecord {
    PaddedRecord {
        flag: (i & 1) as u8,
        id: i as u64,
        kind: (i % 7) as u8,
        count: i,
        port: i as u16,
    }
}

#[library_benchmark]
#[bench::repr_c_field_order()]
fn records_in_vec_padded() -> (u64, Vec<PaddedRecord>) {
    let v: Vec<PaddedRecord> = (0..RECORDS).map(padded).collect();
    (black_box(v.iter().map(|r| r.count as u64).sum()), v)
}

#[library_benchmark]
#[bench::reordered_fields()]
fn records_in_vec_compact() -> (u64, Vec<CompactRecord>) {
    let v: Vec<CompactRecord> = (0..RECORDS)
        .map(|i| CompactRecord::from(padded(i)))
        .collect();
    (black_box(v.iter().map(|r| r.count as u64).sum()), v)
}

#[library_benchmark]
#[bench::repr_c_field_order()]
fn boxed_records_padded() -> (u64, Vec<Box<PaddedRecord>>) {
    let v: Vec<Box<PaddedRecord>> = (0..RECORDS).map(|i| Box::new(padded(i))).collect();
    (black_box(v.iter().map(|r| r.count as u64).sum()), v)
}

#[library_benchmark]
#[bench::reordered_fields()]
fn boxed_records_compact() -> (u64, Vec<Box<CompactRecord>>) {
    let v: Vec<Box<CompactRecord>> = (0..RECORDS)
        .map(|i| Box::new(CompactRecord::from(padded(i))))
        .collect();
    (black_box(v.iter().map(|r| r.count as u64).sum()), v)
}

#[library_benchmark]
#[bench::large_variant_inline()]
fn tokens_inline() -> (usize, Vec<TokenInline>) {
    let v = inline_tokens(RECORDS);
    (
        black_box(
            v.iter()
                .filter(|t| matches!(t, TokenInline::Word(_)))
                .count(),
        ),
        v,
    )
}

#[library_benchmark]
#[bench::large_variant_boxed()]
fn tokens_boxed() -> (usize, Vec<TokenBoxed>) {
    let v = boxed_tokens(RECORDS);
    (
        black_box(
            v.iter()
                .filter(|t| matches!(t, TokenBoxed::Word(_)))
                .count(),
        ),
        v,
    )
}

library_benchmark_group!(
    name = size_aligned;
    benchmarks =
        grow_buffers_exact_capacity, grow_buffers_class_capacity,
        records_in_vec_padded, records_in_vec_compact,
        boxed_records_padded, boxed_records_compact,
        tokens_inline, tokens_boxed
);

main!(
    config = LibraryBenchmarkConfig::default().pass_through_envs(["COOKBOOK_ALLOC"]);
    setup = common::check_allocator_env();
    library_benchmark_groups = size_aligned
);
