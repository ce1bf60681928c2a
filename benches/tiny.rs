//! Criterion bench for `alloc_recipes::tiny`: what a 1..16-byte allocation
//! costs under the allocator chosen by `COOKBOOK_ALLOC`, and three ways to
//! stop paying it per string (inline, interned, packed).
//!
//! The fact a reader gets wrong: "B/op" is what was requested; a 1-byte
//! request takes 24 usable bytes (plus an 8-byte header) under glibc. The
//! "heap B per allocation" column is measured with the allocator's own
//! usable-size query (Go's size classes under `goalloc`: an upper bound there,
//! since `GoAlloc` packs sub-16-byte objects into shared 16-byte blocks).
mod common;

use alloc_recipes::tiny::{
    count_words_inline, count_words_interned, count_words_lookup_first, count_words_string_keys,
    InlineStr, Interner, PackedStrs,
};
use std::hint::black_box;

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

const BENCH: &str = "tiny";

/// Heap bytes per live allocation: usable size plus glibc's 8-byte chunk header.
fn heap_bytes_per_allocation(request: usize) -> usize {
    let header = if common::which() == common::Which::System {
        8
    } else {
        0
    };
    common::usable_size_of_fresh_block(request) + header
}

// ANCHOR: word_stream
/// A deterministic stream of `n` words drawn from a vocabulary of `distinct`
/// words of 2..=24 letters (one in eight longer than 16 bytes), skewed so a
/// few words are frequent, as in real text.
fn word_stream(n: usize, distinct: usize) -> (Vec<String>, Vec<usize>) {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let vocabulary: Vec<String> = (0..distinct)
        .map(|i| {
            let len = if i % 8 == 7 {
                17 + (next() % 8) as usize
            } else {
                2 + (next() % 11) as usize
            };
            (0..len)
                .map(|_| (b'a' + (next() % 26) as u8) as char)
                .collect::<String>()
                + &i.to_string()
        })
        .collect();
    let picks: Vec<usize> = (0..n)
        .map(|_| {
            let r = (next() % 1_000_000) as f64 / 1_000_000.0;
            ((r * r * r) * distinct as f64) as usize
        })
        .collect();
    (vocabulary, picks)
}
// ANCHOR_END: word_stream

fn main() {
    common::check_allocator_env();
    let mut c = common::criterion();

    {
        const COUNT: usize = 10_000;
        let name = "10k tiny allocations kept, then freed";
        let mut g = common::group(&mut c, BENCH, name);
        for size in [1usize, 4, 8, 12, 16] {
            let param = format!("{size} B");
            let bytes = heap_bytes_per_allocation(size);
            common::record_metric(
                BENCH,
                name,
                "one allocation each",
                &param,
                "heap B per allocation",
                bytes as f64,
            );
            g.case("one allocation each", &param, || {
                let kept: Vec<Box<[u8]>> = (0..COUNT)
                    .map(|i| vec![i as u8; size].into_boxed_slice())
                    .collect();
                kept.len()
            });
            common::record_metric(
                BENCH,
                name,
                "packed in one allocation",
                &param,
                "heap B per allocation",
                size as f64,
            );
            g.case("packed in one allocation", &param, || {
                let mut packed: Vec<u8> = Vec::with_capacity(COUNT * size);
                for i in 0..COUNT {
                    packed.extend(std::iter::repeat_n(i as u8, size));
                }
                packed.len()
            });
        }
        g.finish();
    }

    {
        let (vocabulary, picks) = word_stream(1_000_000, 5_000);
        let words: Vec<&str> = picks.iter().map(|&i| vocabulary[i].as_str()).collect();
        let name = "count 1M words, 5,000 distinct";
        let mut g = common::group(&mut c, BENCH, name);
        g.case("String keys, entry(to_string())", "1M words", || {
            count_words_string_keys(black_box(&words).iter().copied()).len()
        });
        g.case("String keys, look up first", "1M words", || {
            count_words_lookup_first(black_box(&words).iter().copied()).len()
        });
        g.case("inline keys (16 B inline)", "1M words", || {
            count_words_inline(black_box(&words).iter().copied()).len()
        });
        g.case("interned u32 symbols", "1M words", || {
            let mut names = Interner::default();
            count_words_interned(black_box(&words).iter().copied(), &mut names).len()
        });
        g.finish();
    }

    {
        let (vocabulary, picks) = word_stream(1_000_000, 5_000);
        let words: Vec<&str> = picks.iter().map(|&i| vocabulary[i].as_str()).collect();
        let total_bytes: usize = words.iter().map(|w| w.len()).sum();
        let name = "store 1M tiny strings, then read them";
        let mut g = common::group(&mut c, BENCH, name);
        g.case("Vec<String>", "1M strings", || {
            let v: Vec<String> = black_box(&words).iter().map(|w| w.to_string()).collect();
            v.iter().map(|s| s.len()).sum::<usize>()
        });
        g.case("Vec<InlineStr>", "1M strings", || {
            let v: Vec<InlineStr> = black_box(&words)
                .iter()
                .map(|&w| InlineStr::from(w))
                .collect();
            v.iter().map(|s| s.len()).sum::<usize>()
        });
        g.case("PackedStrs (one buffer)", "1M strings", || {
            let mut p = PackedStrs::with_capacity(words.len(), total_bytes);
            for w in black_box(&words) {
                p.push(w);
            }
            p.iter().map(|s| s.len()).sum::<usize>()
        });
        g.finish();
    }

    c.final_summary();
}
