//! Criterion bench of the real-world case study: every step of the
//! access-log analyzer on the same generated log, and every version of the
//! request handler on the same requests, under the allocator `COOKBOOK_ALLOC`
//! selects. Besides time and allocs/op (one op = the whole run), it records
//! allocations and bytes per line or request, and each step's peak resident
//! memory, as extra columns.
//!
//! The fact a reader gets wrong: peak memory cannot be measured for several
//! steps in one process (the high-water mark only rises, and the allocator
//! keeps what earlier steps freed), so each step's peak RSS comes from a child
//! process of this same binary (`REAL_WORLD_RSS_CHILD=analyzer:<step>:<lines>`)
//! that streams the generated log, runs that one step and reports its `VmHWM`.
//!
//! Sizes: 100,000 lines per analyzer iteration and 20,000 requests per handler
//! iteration, flat sampling with 10 samples, so the whole bench stays under
//! about two minutes per allocator on a 2-core machine.
mod common;

use alloc_cookbook::counting::count;
use alloc_recipes::real_world::handler::{self, HANDLER_STEPS};
use alloc_recipes::real_world::loggen::{generate, LogReader};
use alloc_recipes::real_world::*;
use criterion::SamplingMode;
use std::io::BufReader;
use std::time::Duration;

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

const BENCH: &str = "real_world";
const SEED: u64 = 2026;
const LINES: u64 = 100_000;
const LINES_PARAM: &str = "100k lines";
const CALLS: usize = 20_000;
const CALLS_PARAM: &str = "20k requests";
const DISTINCT_REQUESTS: usize = 1024;
const ANALYZER_GROUP: &str = "access-log analyzer";
const HANDLER_GROUP: &str = "request handler";

/// Peak resident set of this process in MiB, from `/proc/self/status` (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// Child mode: runs one step and prints its peak RSS.
fn rss_child(spec: &str) -> Result<(), String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let [kind, step, n] = parts[..] else {
        return Err(format!("REAL_WORLD_RSS_CHILD={spec:?}: want kind:step:n"));
    };
    let step: usize = step.parse().map_err(|e| format!("{spec}: {e}"))?;
    let n: u64 = n.parse().map_err(|e| format!("{spec}: {e}"))?;
    match kind {
        "analyzer" if step < STEPS.len() => {
            let input = BufReader::with_capacity(64 * 1024, LogReader::new(SEED, n));
            let report = match step {
                0 => step0_naive::analyze(input),
                1 => step1_presized::analyze(input),
                2 => step2_arena::analyze(input),
                3 => step3_interned::analyze(input),
                4 => step4_compact::analyze(input),
                _ => step5_soa::analyze(input),
            };
            std::hint::black_box(report.map_err(|e| e.to_string())?);
        }
        "handler" if step < HANDLER_STEPS.len() => {
            let reqs = handler::requests(SEED, DISTINCT_REQUESTS);
            std::hint::black_box((HANDLER_STEPS[step].1)(&reqs, n as usize));
        }
        _ => return Err(format!("REAL_WORLD_RSS_CHILD={spec:?}: no such step")),
    }
    println!(
        "VmHWM_MiB {}",
        peak_rss_mib().ok_or("no /proc/self/status")?
    );
    Ok(())
}

/// Runs `kind:step:n` in a child process and returns its peak RSS in MiB.
fn measure_peak_rss(kind: &str, step: usize, n: u64) -> Option<f64> {
    let exe = std::env::current_exe().ok()?;
    let out = std::process::Command::new(exe)
        .env("REAL_WORLD_RSS_CHILD", format!("{kind}:{step}:{n}"))
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "warning: peak RSS child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM_MiB ")?.parse().ok())
}

fn record_per_unit(
    group: &str,
    variant: &str,
    param: &str,
    unit: &str,
    allocs: u64,
    bytes: u64,
    n: u64,
) {
    common::record_metric(
        BENCH,
        group,
        variant,
        param,
        &format!("allocs/{unit}"),
        allocs as f64 / n as f64,
    );
    common::record_metric(
        BENCH,
        group,
        variant,
        param,
        &format!("B/{unit}"),
        bytes as f64 / n as f64,
    );
}

fn main() {
    if let Ok(spec) = std::env::var("REAL_WORLD_RSS_CHILD") {
        common::check_allocator_env();
        if let Err(e) = rss_child(&spec) {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
        return;
    }
    common::check_allocator_env();
    let mut c = common::criterion();

    let log = generate(SEED, LINES);
    let mut g = common::group(&mut c, BENCH, ANALYZER_GROUP);
    // One iteration is a whole 100k-line run (tens to hundreds of ms): ten
    // flat samples of one or a few iterations each.
    g.criterion()
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(3));
    for (k, (name, step)) in STEPS.iter().enumerate() {
        let (_, counts) = count(|| step(&log).expect("the generated log is valid UTF-8"));
        record_per_unit(
            ANALYZER_GROUP,
            name,
            LINES_PARAM,
            "line",
            counts.allocs,
            counts.bytes,
            LINES,
        );
        if let Some(mib) = measure_peak_rss("analyzer", k, LINES) {
            common::record_metric(
                BENCH,
                ANALYZER_GROUP,
                name,
                LINES_PARAM,
                "peak RSS (MiB)",
                mib,
            );
        }
        g.case(name, LINES_PARAM, || step(&log).expect("valid log"));
    }
    g.finish();

    let reqs = handler::requests(SEED, DISTINCT_REQUESTS);
    let mut g = common::group(&mut c, BENCH, HANDLER_GROUP);
    g.criterion()
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat);
    for (k, (name, serve)) in HANDLER_STEPS.iter().enumerate() {
        let (_, counts) = count(|| serve(&reqs, CALLS));
        record_per_unit(
            HANDLER_GROUP,
            name,
            CALLS_PARAM,
            "request",
            counts.allocs,
            counts.bytes,
            CALLS as u64,
        );
        if let Some(mib) = measure_peak_rss("handler", k, CALLS as u64) {
            common::record_metric(
                BENCH,
                HANDLER_GROUP,
                name,
                CALLS_PARAM,
                "peak RSS (MiB)",
                mib,
            );
        }
        g.case(name, CALLS_PARAM, || serve(&reqs, CALLS));
    }
    g.finish();

    c.final_summary();
}
