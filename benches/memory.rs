//! Criterion bench for the memory chapter: the fragmentation chapter's churn
//! workload on each global allocator, for resident memory as well as time.
//!
//! The memory is measured in child processes of this bench (a fresh process
//! per measurement, so no allocator starts with memory an earlier run left
//! behind): at the end of each phase of the one-thread run, the resident set
//! above the child's start and the bytes the live objects requested; for the
//! many-thread run, the peak and what stays resident after the threads
//! exited. Then criterion times both runs. Workloads: `benches/memory_work/mod.rs`.
//!
//! The fact a reader gets wrong: the resident set after a shrink is not
//! the live data; the tables show how much each allocator keeps.
mod common;
mod memory_work;

use common::rss_and_peak;
use memory_work::{churn_one_thread, churn_threads, STEPS, STEPS_PER_THREAD, THREADS};

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

const BENCH: &str = "memory";
const PHASES_GROUP: &str = "churn workload, one thread: resident memory at each phase's end";
const THREADS_GROUP: &str = "churn workload on 8 threads: resident memory";
const TIME_GROUP: &str = "churn workload: time for the same total work";

/// `100000` as "100,000".
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// Child mode: one measurement, recorded by the child itself.
fn child(which: &str) -> Result<(), String> {
    let (start, _) = rss_and_peak().ok_or("no /proc/self/status")?;
    let param = format!("{} operations", thousands(STEPS));
    match which {
        "phases" => churn_one_thread(|end| {
            let (rss, _) = rss_and_peak().unwrap_or((0, 0));
            let variant = format!("end of {}", end.phase.name());
            let requested = mib(end.bytes_requested as u64);
            let resident = mib(rss.saturating_sub(start));
            let record = |metric: &str, v: f64| {
                common::record_metric(BENCH, PHASES_GROUP, &variant, &param, metric, v)
            };
            record("requested by live objects (MiB)", requested);
            record("resident above the start (MiB)", resident);
            if requested > 0.0 {
                record("resident / requested", resident / requested);
            }
            if end.phase == alloc_cookbook::fragmentation::Phase::Shrink {
                // What the allocator gives back when asked, at the lowest point.
                let call = memory_work::give_back();
                println!("gave memory back with {call}");
                let (rss, _) = rss_and_peak().unwrap_or((0, 0));
                common::record_metric(
                    BENCH,
                    PHASES_GROUP,
                    "end of shrink, after the give-back call",
                    &param,
                    "resident above the start (MiB)",
                    mib(rss.saturating_sub(start)),
                );
            }
        }),
        "threads" => {
            churn_threads();
            let (rss, peak) = rss_and_peak().ok_or("no /proc/self/status")?;
            let param = format!(
                "{THREADS} threads x {} operations",
                thousands(STEPS_PER_THREAD)
            );
            let record = |variant: &str, v: f64| {
                common::record_metric(
                    BENCH,
                    THREADS_GROUP,
                    variant,
                    &param,
                    "resident above the start (MiB)",
                    v,
                )
            };
            record(
                "peak while the threads ran",
                mib(peak.saturating_sub(start)),
            );
            record("after the threads exited", mib(rss.saturating_sub(start)));
        }
        other => {
            return Err(format!(
                "MEMORY_BENCH_CHILD={other:?}: want phases or threads"
            ))
        }
    }
    Ok(())
}

fn main() {
    common::check_allocator_env();
    if let Ok(which) = std::env::var("MEMORY_BENCH_CHILD") {
        if let Err(e) = child(&which) {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
        return;
    }
    println!("allocator under this bench: {}", common::which().name());
    for which in ["phases", "threads"] {
        let ok = std::env::current_exe()
            .and_then(|exe| {
                std::process::Command::new(exe)
                    .env("MEMORY_BENCH_CHILD", which)
                    .status()
            })
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("warning: the {which} memory measurement failed");
        }
    }
    let mut c = common::criterion();
    let mut g = common::group(&mut c, BENCH, TIME_GROUP);
    g.criterion().sample_size(10);
    let param = format!("{} operations", thousands(STEPS));
    g.case("one thread", &param, || churn_one_thread(|_| {}));
    g.case_threads(&format!("{THREADS} threads"), &param, churn_threads);
    g.finish();
    c.final_summary();
}
