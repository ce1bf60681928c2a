//! Criterion bench: PLACEHOLDER until its issue lands.
mod common;

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

fn main() {
    common::check_allocator_env();
    let c = common::criterion();
    c.final_summary();
}
