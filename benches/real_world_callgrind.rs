//! Callgrind bench (gungraun) of the real-world case study: instructions per
//! run for every analyzer step and every handler version, under the allocator
//! `COOKBOOK_ALLOC` selects (passed through to the benchmark process).
//!
//! The fact a reader gets wrong: these inputs are far smaller than the
//! criterion bench's (5,000 lines and 2,000 requests instead of 100,000 and
//! 20,000) because valgrind runs code about fifty times slower; the counts
//! are exact, but at this size the one-time costs (pre-sized maps, arenas,
//! the first sight of each key) weigh more than in the long runs.
//! The log and the requests are generated in `setup`, outside the count.
mod common;

use alloc_recipes::real_world::handler::{self, ServeSummary, HANDLER_STEPS};
use alloc_recipes::real_world::loggen::generate;
use alloc_recipes::real_world::{Report, STEPS};
use gungraun::{library_benchmark, library_benchmark_group, main, LibraryBenchmarkConfig};
use std::hint::black_box;

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

const SEED: u64 = 2026;
const LINES: u64 = 5_000;
const CALLS: usize = 2_000;
const DISTINCT_REQUESTS: usize = 256;

fn log_for(step: usize) -> (usize, Vec<u8>) {
    common::check_allocator_env();
    (step, generate(SEED, LINES))
}

fn requests_for(step: usize) -> (usize, Vec<Vec<u8>>) {
    common::check_allocator_env();
    (step, handler::requests(SEED, DISTINCT_REQUESTS))
}

// Ids match the criterion bench's variants: 0 naive, 1 presized + reused
// buffers, 2 arena per batch, 3 interned keys, 4 compact record, 5 struct of arrays.
#[library_benchmark]
#[bench::naive(args = (0), setup = log_for)]
#[bench::presized_reused_buffers(args = (1), setup = log_for)]
#[bench::arena_per_batch(args = (2), setup = log_for)]
#[bench::interned_keys(args = (3), setup = log_for)]
#[bench::compact_record(args = (4), setup = log_for)]
#[bench::struct_of_arrays(args = (5), setup = log_for)]
fn analyzer_5k_lines(input: (usize, Vec<u8>)) -> Report {
    let (step, log) = input;
    black_box((STEPS[step].1)(black_box(&log)).expect("the generated log is valid"))
}

// Ids match the criterion bench's variants: naive, arena per request, arena + pooled responses.
#[library_benchmark]
#[bench::naive(args = (0), setup = requests_for)]
#[bench::arena_per_request(args = (1), setup = requests_for)]
#[bench::arena_pooled_responses(args = (2), setup = requests_for)]
fn handler_2k_requests(input: (usize, Vec<Vec<u8>>)) -> ServeSummary {
    let (step, reqs) = input;
    black_box((HANDLER_STEPS[step].1)(black_box(&reqs), CALLS))
}

library_benchmark_group!(
    name = case_study,
    benchmarks = [analyzer_5k_lines, handler_2k_requests]
);

main!(
    config = LibraryBenchmarkConfig::default().pass_through_envs(["COOKBOOK_ALLOC"]),
    library_benchmark_groups = case_study
);
