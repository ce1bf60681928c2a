//! The case study as a plain command: prints the progression table (time,
//! allocations and bytes per line or request, peak resident memory) for
//! every step of the access-log analyzer and of the request handler.
//!
//! ```text
//! cargo run --release -p alloc-recipes --example real_world -- [--lines N] [--requests N]
//! ```
//!
//! The fact a reader gets wrong: peak memory cannot be measured for several
//! steps inside one process (the allocator keeps freed memory, and the
//! high-water mark only rises), so every step runs in a child process of
//! this same program (`--step K` / `--handler K`) that reports its own
//! `VmHWM` from `/proc/self/status`. The log is written to a temporary file
//! first and read from there, as a real analyzer reads its input, so the
//! log itself never counts towards any step's memory.
//! Runs under the system allocator (with counting); the benches cover the others.

use alloc_cookbook::counting::{count, CountingAlloc};
use alloc_recipes::real_world::handler::{self, HANDLER_STEPS};
use alloc_recipes::real_world::loggen::LogGen;
use alloc_recipes::real_world::STEPS;
use std::alloc::System;
use std::hash::{Hash, Hasher};
use std::io::{BufReader, BufWriter, Write};
use std::process::Command;
use std::time::Instant;

#[global_allocator]
static A: CountingAlloc<System> = CountingAlloc::new(System);

const SEED: u64 = 2026;
const DISTINCT_REQUESTS: usize = 1024;

struct Args {
    lines: u64,
    requests: usize,
    step: Option<usize>,
    handler: Option<usize>,
    log: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        lines: 1_000_000,
        requests: 1_000_000,
        step: None,
        handler: None,
        log: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| {
            v.replace('_', "")
                .parse::<u64>()
                .map_err(|e| format!("{flag}: {e}"))
        };
        match flag.as_str() {
            "--lines" => a.lines = number(value()?)?,
            "--requests" => a.requests = number(value()?)? as usize,
            "--step" => a.step = Some(number(value()?)? as usize),
            "--handler" => a.handler = Some(number(value()?)? as usize),
            "--log" => a.log = Some(value()?),
            "-h" | "--help" => {
                return Err("usage: real_world [--lines N] [--requests N]".to_string());
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if a.lines == 0 || a.requests == 0 {
        return Err("--lines and --requests must be positive".to_string());
    }
    if a.step.is_some_and(|k| k >= STEPS.len())
        || a.handler.is_some_and(|k| k >= HANDLER_STEPS.len())
    {
        return Err("no such step".to_string());
    }
    Ok(a)
}

/// This process's peak resident set in KiB (Linux), 0 where unknown.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn digest(v: &impl std::fmt::Debug) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    format!("{v:?}").hash(&mut h);
    h.finish()
}

/// Child mode: run one step, print one `RESULT` line (and the report for step 0).
fn child(a: &Args) -> std::io::Result<()> {
    let (secs, counts, result_digest, report) = if let Some(k) = a.step {
        let path = a.log.as_deref().expect("--step needs --log");
        let file = std::fs::File::open(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{path}: {e}")))?;
        let input = BufReader::with_capacity(64 * 1024, file);
        let start = Instant::now();
        let (report, counts) = count(|| step_generic(k, input));
        let secs = start.elapsed().as_secs_f64();
        let report = report?;
        (
            secs,
            counts,
            digest(&report),
            (k == 0).then(|| report.to_string()),
        )
    } else {
        let k = a.handler.expect("child mode");
        let reqs = handler::requests(SEED, DISTINCT_REQUESTS);
        let start = Instant::now();
        let (summary, counts) = count(|| (HANDLER_STEPS[k].1)(&reqs, a.requests));
        (
            start.elapsed().as_secs_f64(),
            counts,
            digest(&summary),
            None,
        )
    };
    println!(
        "RESULT {secs} {} {} {} {result_digest:x}",
        counts.allocs,
        counts.bytes,
        peak_rss_kib()
    );
    if let Some(r) = report {
        print!("{r}");
    }
    Ok(())
}

/// The analyzer steps over a file reader (the `STEPS` table takes slices).
fn step_generic(
    k: usize,
    input: impl std::io::BufRead,
) -> std::io::Result<alloc_recipes::real_world::Report> {
    use alloc_recipes::real_world::*;
    match k {
        0 => step0_naive::analyze(input),
        1 => step1_presized::analyze(input),
        2 => step2_arena::analyze(input),
        3 => step3_interned::analyze(input),
        4 => step4_compact::analyze(input),
        _ => step5_soa::analyze(input),
    }
}

struct Row {
    secs: f64,
    allocs: u64,
    bytes: u64,
    peak_kib: u64,
    digest: String,
    rest: String,
}

fn run_child(flag: &str, k: usize, extra: &[&str]) -> Result<Row, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .arg(flag)
        .arg(k.to_string())
        .args(extra)
        .output()
        .map_err(|e| format!("could not start a child: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "child {flag} {k} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let f: Vec<&str> = first.split_whitespace().collect();
    if f.len() != 6 || f[0] != "RESULT" {
        return Err(format!("child {flag} {k} printed {first:?}"));
    }
    let num = |s: &str| s.parse::<f64>().map_err(|e| format!("{s:?}: {e}"));
    Ok(Row {
        secs: num(f[1])?,
        allocs: num(f[2])? as u64,
        bytes: num(f[3])? as u64,
        peak_kib: num(f[4])? as u64,
        digest: f[5].to_string(),
        rest: rest.to_string(),
    })
}

fn print_table(title: &str, unit: &str, n: u64, names: &[&str], rows: &[Row]) {
    println!("\n{title}");
    println!(
        "{:<28} {:>9} {:>8} {:>10} {:>13} {:>11} {:>9}",
        "step",
        "time (s)",
        "× naive",
        format!("ns/{unit}"),
        format!("allocs/{unit}"),
        format!("B/{unit}"),
        "peak RSS"
    );
    for (name, r) in names.iter().zip(rows) {
        println!(
            "{:<28} {:>9.3} {:>7.2}× {:>10.0} {:>13.2} {:>11.1} {:>5.1} MiB",
            name,
            r.secs,
            r.secs / rows[0].secs,
            r.secs * 1e9 / n as f64,
            r.allocs as f64 / n as f64,
            r.bytes as f64 / n as f64,
            r.peak_kib as f64 / 1024.0
        );
    }
    let same = rows.iter().all(|r| r.digest == rows[0].digest);
    println!(
        "every step gave the same result: {}",
        if same { "yes" } else { "NO" }
    );
}

fn parent(a: &Args) -> Result<(), String> {
    let path = std::env::temp_dir().join(format!(
        "cookbook-access-{SEED}-{}-{}.log",
        a.lines,
        std::process::id()
    ));
    {
        let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let mut gen = LogGen::new(SEED, a.lines);
        let mut line = Vec::with_capacity(512);
        while gen.next_line(&mut line) {
            w.write_all(&line).map_err(|e| e.to_string())?;
            line.clear();
        }
        w.flush().map_err(|e| e.to_string())?;
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "access-log analyzer: {} lines ({:.1} MiB, seed {SEED}) read from {}; system allocator; each step in its own process",
        a.lines,
        size as f64 / (1 << 20) as f64,
        path.display()
    );
    let lines = a.lines.to_string();
    let log = path.to_string_lossy().into_owned();
    let rows: Result<Vec<Row>, String> = (0..STEPS.len())
        .map(|k| run_child("--step", k, &["--lines", &lines, "--log", &log]))
        .collect();
    let _ = std::fs::remove_file(&path);
    let rows = rows?;
    let names: Vec<&str> = STEPS.iter().map(|s| s.0).collect();
    print_table(
        "access-log analyzer, per step",
        "line",
        a.lines,
        &names,
        &rows,
    );
    println!("\nthe report (identical for every step):\n{}", rows[0].rest);

    let requests = a.requests.to_string();
    let rows: Vec<Row> = (0..HANDLER_STEPS.len())
        .map(|k| run_child("--handler", k, &["--requests", &requests]))
        .collect::<Result<_, _>>()?;
    let names: Vec<&str> = HANDLER_STEPS.iter().map(|s| s.0).collect();
    print_table(
        &format!(
            "request handler, {} requests ({DISTINCT_REQUESTS} distinct), per version",
            a.requests
        ),
        "req",
        a.requests as u64,
        &names,
        &rows,
    );
    Ok(())
}

fn main() {
    let result = parse_args().and_then(|a| {
        if a.step.is_some() || a.handler.is_some() {
            child(&a).map_err(|e| e.to_string())
        } else {
            parent(&a)
        }
    });
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
