//! Criterion bench for the tuning chapter: the workloads where an
//! allocator's large-block policy decides the time, under its default
//! settings and under the knob that changes that policy.
//!
//! Run it once per allocator and setting; the setting is chosen before the
//! process starts (see `benches/tuning_work/mod.rs`), and the rows are named
//! after exactly what was set:
//!
//! ```sh
//! COOKBOOK_ALLOC=system cargo bench --bench tuning
//! COOKBOOK_ALLOC=system COOKBOOK_TUNE=glibc-no-mmap cargo bench --bench tuning
//! COOKBOOK_ALLOC=goalloc COOKBOOK_TUNE=goalloc-scavenge-0 cargo bench --bench tuning
//! COOKBOOK_ALLOC=jemalloc _RJEM_MALLOC_CONF=oversize_threshold:0 cargo bench --bench tuning
//! COOKBOOK_ALLOC=mimalloc MIMALLOC_PURGE_DELAY=0 cargo bench --bench tuning
//! ```
//!
//! Groups: a fresh 64 MiB buffer per use (time, and the resident memory the
//! process keeps after the use); the size-aligned bench's million tokens,
//! large variant inline (a 64 MB vector) against boxed (16 MB), per setting.
//! The fact a reader gets wrong: the inline tokens are not slow because of
//! their layout alone; under the default settings of glibc, jemalloc and
//! `GoAlloc` a vector that large is given back to the OS when it is freed
//! and faulted in again on the next call.
mod common;
mod tuning_work;

use common::{reset_peak, rss_and_peak};
use std::hint::black_box;
use tuning_work::{fresh_buffer, tokens_boxed, tokens_inline};

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

const BENCH: &str = "tuning";

/// After a case: one more use, with the high-water mark reset first, and the
/// resident memory once it has freed everything.
fn record_memory(group: &str, variant: &str, param: &str, f: impl Fn() -> usize) {
    let reset = reset_peak();
    let faults = common::minor_faults();
    black_box(f());
    let faults = common::minor_faults() - faults;
    common::record_metric(
        BENCH,
        group,
        variant,
        param,
        "page faults in one use",
        faults as f64,
    );
    if let Some((rss, peak)) = rss_and_peak() {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        common::record_metric(
            BENCH,
            group,
            variant,
            param,
            "resident after the use (MiB)",
            mib(rss),
        );
        if reset {
            common::record_metric(
                BENCH,
                group,
                variant,
                param,
                "peak resident during the use (MiB)",
                mib(peak),
            );
        }
    }
}

fn main() {
    common::check_allocator_env();
    println!("allocator under this bench: {}", common::which().name());
    let setting = tuning_work::apply_setting(common::which(), common::goalloc_instance());
    println!("setting: {setting}");
    let mut c = common::criterion();

    {
        let name = "64 MiB buffer, fresh each use";
        let mut g = common::group(&mut c, BENCH, name);
        g.criterion().sample_size(10);
        g.case(&setting, "64 MiB", fresh_buffer);
        g.finish();
        record_memory(name, &setting, "64 MiB", || fresh_buffer() as usize);
    }
    {
        let name = "1M tokens, large variant inline or boxed";
        let mut g = common::group(&mut c, BENCH, name);
        g.criterion().sample_size(10);
        g.case(
            "large variant inline (64 MB vector)",
            &setting,
            tokens_inline,
        );
        g.case("large variant boxed (16 MB vector)", &setting, tokens_boxed);
        g.finish();
        record_memory(
            name,
            "large variant inline (64 MB vector)",
            &setting,
            tokens_inline,
        );
        record_memory(
            name,
            "large variant boxed (16 MB vector)",
            &setting,
            tokens_boxed,
        );
    }

    c.final_summary();
}
