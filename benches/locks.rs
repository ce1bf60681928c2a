//! Criterion bench for the pooling chapter's question: does the lock kind
//! explain why `object-pool` suffered less under contention than
//! `MutexPool`? The same free-list pool behind a `std::sync::Mutex` and a
//! `parking_lot::Mutex`, with `object-pool` and a fresh `Vec`, on one thread
//! and on two threads at once (`benches/locks_work/mod.rs`).
//!
//! The fact a reader gets wrong: one thread shows the uncontended cost of a
//! lock, two threads its contended cost; they can rank the locks differently.
mod common;
mod locks_work;

use locks_work::{fresh_once, object_pool_once, two_threads, Pool, SIZE, USES};
use std::hint::black_box;

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

const BENCH: &str = "locks";

type StdPool = Pool<std::sync::Mutex<Vec<Vec<u8>>>>;
type PlPool = Pool<parking_lot::Mutex<Vec<Vec<u8>>>>;

fn main() {
    common::check_allocator_env();
    println!("allocator under this bench: {}", common::which().name());
    let mut c = common::criterion();
    let std_pool = StdPool::new();
    let pl_pool = PlPool::new();
    let crate_pool = object_pool::Pool::new(locks_work::MAX_IDLE, || Vec::with_capacity(SIZE));

    let param = format!("{SIZE} B");
    let mut g = common::group(
        &mut c,
        BENCH,
        "64 B buffers, one thread: the lock under the pool",
    );
    g.case("fresh Vec", &param, fresh_once);
    g.case("pool, std::sync::Mutex", &param, || std_pool.use_once());
    g.case("pool, parking_lot::Mutex", &param, || pl_pool.use_once());
    g.case("object-pool crate (parking_lot)", &param, || {
        object_pool_once(black_box(&crate_pool))
    });
    g.finish();

    let param = format!("{SIZE} B, 2 threads × {USES}");
    let mut g = common::group(
        &mut c,
        BENCH,
        "64 B buffers, two threads: the lock under the pool",
    );
    g.criterion().sample_size(10);
    g.case_threads("fresh Vec", &param, || two_threads(fresh_once));
    g.case_threads("pool, std::sync::Mutex", &param, || {
        two_threads(|| std_pool.use_once())
    });
    g.case_threads("pool, parking_lot::Mutex", &param, || {
        two_threads(|| pl_pool.use_once())
    });
    g.case_threads("object-pool crate (parking_lot)", &param, || {
        two_threads(|| object_pool_once(&crate_pool))
    });
    g.finish();
    c.final_summary();
}
