//! What `GoAlloc` reports about itself: the `stats` command and the
//! fragmentation timeline the book draws.

use super::svg::{self, Series};
use alloc_cookbook::fragmentation::{churn_timeline, ChurnSample, BOOK_SEED, BOOK_STEPS};
use alloc_cookbook::GoAlloc;
use std::alloc::{GlobalAlloc, Layout};
use std::fmt::Write as _;
use std::path::Path;

/// Runs a small mixed workload on a private `GoAlloc` (tiny, small and large
/// objects, some freed, some alive) and returns its statistics as text.
pub fn stats_demo() -> String {
    let a = GoAlloc::new();
    let mut live = Vec::new();
    let mut freed = 0;
    for i in 0..20_000usize {
        let size = match i % 10 {
            0..=3 => 1 + i % 15,      // tiny
            4..=8 => 16 + i % 2_000,  // small
            _ => 40_000 + i % 50_000, // large (1 in 10)
        };
        let Ok(layout) = Layout::from_size_align(size, 8) else {
            continue;
        };
        // SAFETY: non-zero size; every pointer is freed below with its own layout.
        let p = unsafe { a.alloc(layout) };
        if p.is_null() {
            continue;
        }
        live.push((p, layout));
        if i % 3 == 0 {
            let (q, l) = live.swap_remove(i % live.len());
            // SAFETY: q was allocated by `a` with layout l and is freed once.
            unsafe { a.dealloc(q, l) };
            freed += 1;
        }
    }
    let kept = live.len();
    let during = a.stats();
    for (p, l) in live {
        // SAFETY: allocated by `a` with layout l, freed once.
        unsafe { a.dealloc(p, l) };
    }
    a.flush_thread_cache();
    let released = a.free_os_memory();
    let after = a.stats();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Workload: 20,000 allocations (40% tiny, 50% small, 10% large), {freed} freed along the way, {kept} still alive.\n"
    );
    let _ = writeln!(s, "GoAlloc statistics with {kept} objects alive:\n{during}");
    let _ = writeln!(
        s,
        "After freeing everything, flushing this thread's cache and free_os_memory ({released} bytes released):\n{after}"
    );
    s
}

/// Writes `fragmentation.md` and its chart from the churn experiment.
pub fn fragmentation(out: &Path) -> Result<(), String> {
    const SEED: u64 = BOOK_SEED;
    const STEPS: usize = BOOK_STEPS;
    let samples = churn_timeline(SEED, STEPS);
    let mib = |v: u64| v as f64 / (1024.0 * 1024.0);
    let series = |name: &str, f: &dyn Fn(&ChurnSample) -> u64| Series {
        name: name.into(),
        points: samples.iter().map(|s| (s.step as f64, mib(f(s)))).collect(),
        dashed: false,
    };
    let chart = svg::line_chart(
        "Where memory goes over a churn workload (GoAlloc)",
        "operations (allocations + frees, count)",
        "memory (MiB)",
        &[
            series("requested (live)", &|s| s.bytes_requested),
            series("handed out (rounded)", &|s| s.bytes_handed_out),
            series("in spans in use", &|s| s.bytes_in_spans),
            series("resident from the OS", &|s| s.bytes_resident),
        ],
        false,
    );
    std::fs::write(out.join("fragmentation.svg"), chart)
        .map_err(|e| format!("cannot write fragmentation.svg: {e}"))?;

    let mut md = String::new();
    let _ = writeln!(
        md,
        "![Bytes requested, handed out, in spans and resident over a churn workload](../generated/fragmentation.svg)\n\n\
         <p class=\"chart-numbers\">The chart's numbers at the end of each phase: \
         <a href=\"#fragmentation-numbers\">the table below</a>.</p>\n"
    );
    let _ = writeln!(
        md,
        "*Workload: `fragmentation::churn_timeline({SEED}, {STEPS})` on a private `GoAlloc`. Counts are deterministic for a seed.*\n"
    );
    md.push_str("<span id=\"fragmentation-numbers\"></span>\n\n");
    md.push_str("| end of phase | step | live objects | requested | handed out | in spans | resident | in spans / requested |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (i, s) in samples.iter().enumerate() {
        let last_of_phase = samples.get(i + 1).is_none_or(|n| n.phase != s.phase);
        if !last_of_phase {
            continue;
        }
        let ratio = if s.bytes_requested > 0 {
            format!("{:.2}×", s.bytes_in_spans as f64 / s.bytes_requested as f64)
        } else {
            "–".into()
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.2} MiB | {:.2} MiB | {:.2} MiB | {:.2} MiB | {ratio} |",
            s.phase.name(),
            s.step,
            s.live_objects,
            mib(s.bytes_requested),
            mib(s.bytes_handed_out),
            mib(s.bytes_in_spans),
            mib(s.bytes_resident)
        );
    }
    std::fs::write(out.join("fragmentation.md"), md)
        .map_err(|e| format!("cannot write fragmentation.md: {e}"))
}
