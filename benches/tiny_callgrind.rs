//! Callgrind bench (gungraun) for `alloc_recipes::tiny`: instruction counts
//! of the criterion bench's cases, under the allocator chosen by
//! `COOKBOOK_ALLOC` (passed through to the benchmark process).
//!
//! The fact a reader gets wrong: for a tiny string the allocator call *is*
//! the work; copying 5 bytes is a handful of instructions, `malloc` plus
//! `free` are dozens to hundreds. The counts below make that visible.
//!
//! Sizes are a tenth of the criterion bench's (valgrind is ~50x slower):
//! 1,000 tiny allocations per size, 100,000 words (5,000 distinct), 100,000
//! strings. Building the word list is setup, outside the count.
//! Scale: a tenth of the criterion bench's: 1,000 tiny allocations per size (criterion: 10,000), 100,000 words counted or stored (criterion: 1,000,000).
mod common;

use alloc_recipes::tiny::{
    count_words_inline, count_words_interned, count_words_lookup_first, count_words_string_keys,
    InlineStr, Interner, PackedStrs,
};
use gungraun::{library_benchmark, library_benchmark_group, main, LibraryBenchmarkConfig};
use std::hint::black_box;

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

const TINY_COUNT: usize = 1_000;
const WORDS: usize = 100_000;
const DISTINCT: usize = 5_000;

#[library_benchmark]
#[bench::size_1(1)]
#[bench::size_8(8)]
#[bench::size_16(16)]
fn one_allocation_each(size: usize) -> Vec<Box<[u8]>> {
    black_box(
        (0..TINY_COUNT)
            .map(|i| vec![i as u8; size].into_boxed_slice())
            .collect(),
    )
}

#[library_benchmark]
#[bench::size_1(1)]
#[bench::size_8(8)]
#[bench::size_16(16)]
fn packed_in_one_allocation(size: usize) -> Vec<u8> {
    let mut packed: Vec<u8> = Vec::with_capacity(TINY_COUNT * size);
    for i in 0..TINY_COUNT {
        packed.extend(std::iter::repeat_n(i as u8, size));
    }
    black_box(packed)
}

/// The same stream generator as the criterion bench, owned strings kept
/// alive by leaking (setup only; the process ends after the benchmark).
fn words() -> Vec<&'static str> {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let vocabulary: Vec<&'static str> = (0..DISTINCT)
        .map(|i| {
            let len = if i % 8 == 7 {
                17 + (next() % 8) as usize
            } else {
                2 + (next() % 11) as usize
            };
            let w = (0..len)
                .map(|_| (b'a' + (next() % 26) as u8) as char)
                .collect::<String>()
                + &i.to_string();
            &*Box::leak(w.into_boxed_str())
        })
        .collect();
    (0..WORDS)
        .map(|_| {
            let r = (next() % 1_000_000) as f64 / 1_000_000.0;
            vocabulary[((r * r * r) * DISTINCT as f64) as usize]
        })
        .collect()
}

#[library_benchmark]
#[bench::string_keys_entry_to_string(setup = words)]
fn count_words_naive(words: Vec<&'static str>) -> usize {
    count_words_string_keys(words.iter().copied()).len()
}

#[library_benchmark]
#[bench::string_keys_look_up_first(setup = words)]
fn count_words_careful(words: Vec<&'static str>) -> usize {
    count_words_lookup_first(words.iter().copied()).len()
}

#[library_benchmark]
#[bench::inline_keys(setup = words)]
fn count_words_inline_keys(words: Vec<&'static str>) -> usize {
    count_words_inline(words.iter().copied()).len()
}

#[library_benchmark]
#[bench::interned_symbols(setup = words)]
fn count_words_interned_symbols(words: Vec<&'static str>) -> usize {
    let mut names = Interner::default();
    count_words_interned(words.iter().copied(), &mut names).len()
}

#[library_benchmark]
#[bench::vec_of_string(setup = words)]
fn store_vec_of_string(words: Vec<&'static str>) -> (usize, Vec<String>) {
    let v: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    (black_box(v.iter().map(|s| s.len()).sum()), v)
}

#[library_benchmark]
#[bench::vec_of_inline_str(setup = words)]
fn store_vec_of_inline_str(words: Vec<&'static str>) -> (usize, Vec<InlineStr>) {
    let v: Vec<InlineStr> = words.iter().map(|&w| InlineStr::from(w)).collect();
    (black_box(v.iter().map(|s| s.len()).sum()), v)
}

#[library_benchmark]
#[bench::packed_strs(setup = words)]
fn store_packed_strs(words: Vec<&'static str>) -> (usize, PackedStrs) {
    let total: usize = words.iter().map(|w| w.len()).sum();
    let mut p = PackedStrs::with_capacity(words.len(), total);
    for w in &words {
        p.push(w);
    }
    (black_box(p.iter().map(|s| s.len()).sum()), p)
}

library_benchmark_group!(
    name = tiny;
    benchmarks =
        one_allocation_each, packed_in_one_allocation,
        count_words_naive, count_words_careful, count_words_inline_keys, count_words_interned_symbols,
        store_vec_of_string, store_vec_of_inline_str, store_packed_strs
);

main!(
    config = LibraryBenchmarkConfig::default().pass_through_envs(["COOKBOOK_ALLOC"]);
    setup = common::check_allocator_env();
    library_benchmark_groups = tiny
);
