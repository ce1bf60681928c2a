//! `cookbook book`: measure, generate the book's tables and charts, render it.
//!
//! One command from a fresh machine: it installs the pinned tools it lacks
//! (mdBook, gungraun-runner), builds the benches once, runs each bench under
//! each allocator with progress and a time estimate, writes
//! `book/src/generated/`, stamps it (machine, date, command) and renders the
//! HTML book into `book/build/`. `--full` runs criterion's full-length
//! measurements and the callgrind benches under every allocator;
//! `--no-bench` only regenerates from the results already on disk.

#[path = "choosing.rs"]
pub mod choosing;
#[path = "go_bench.rs"]
pub mod go_bench;
#[path = "numcheck.rs"]
pub mod numcheck;

use super::{render, usable, CliError, Result};
use alloc_cookbook::analysis::{self, Scheme};
use alloc_cookbook::size_class::{SizeClassTable, GO};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Pinned tool versions.
pub const MDBOOK_VERSION: &str = "0.5.4";
pub const GUNGRAUN_VERSION: &str = "0.20.0";

/// The benches, in book order. Each has `<name>.rs` (criterion) and
/// `<name>_callgrind.rs` (gungraun).
pub const BENCHES: [&str; 11] = [
    "allocator",
    "size_aligned",
    "batch",
    "pooling",
    "cache_friendly",
    "tiny",
    "real_world",
    "tuning",
    "zeroed",
    "memory",
    "locks",
];

/// Extra criterion runs of the tuning bench, one process per knob (an
/// allocator reads its environment when it starts): allocator, variable,
/// value. The bench names each row after what was set.
pub const TUNING_RUNS: [(&str, &str, &str); 5] = [
    ("system", "COOKBOOK_TUNE", "glibc-no-mmap"),
    ("goalloc", "COOKBOOK_TUNE", "goalloc-scavenge-0"),
    ("jemalloc", "_RJEM_MALLOC_CONF", "oversize_threshold:0"),
    ("jemalloc", "_RJEM_MALLOC_CONF", "dirty_decay_ms:-1"),
    ("mimalloc", "MIMALLOC_PURGE_DELAY", "0"),
];

/// The allocator bench compares allocators inside one process; the recipe
/// benches run once per global allocator.
fn allocators_for(bench: &str) -> &'static [&'static str] {
    if bench == "allocator" {
        &["system"]
    } else {
        &render::ALLOCATORS
    }
}

struct Options {
    full: bool,
    bench: bool,
    /// Only run the number check (`--check-numbers`).
    check_only: bool,
    only: Option<Vec<String>>,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        full: false,
        bench: true,
        check_only: false,
        only: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--full" => o.full = true,
            "--no-bench" => o.bench = false,
            "--check-numbers" => o.check_only = true,
            "--only" => {
                let Some(list) = it.next() else {
                    return Err(CliError::Usage("option --only needs a value".into()));
                };
                let names: Vec<String> = list.split(',').map(|s| s.trim().to_string()).collect();
                for n in &names {
                    if !BENCHES.contains(&n.as_str()) && n != "programs" {
                        return Err(CliError::Usage(format!(
                            "--only: {n:?} is not a bench (one of {}, or programs)",
                            BENCHES.join(", ")
                        )));
                    }
                }
                o.only = Some(names);
            }
            other => return Err(CliError::Usage(format!("book: unknown argument {other:?}"))),
        }
    }
    Ok(o)
}

/// The workspace root: the current directory if it holds book/book.toml,
/// else where this binary was built from.
fn root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    if cwd.join("book/book.toml").exists() {
        cwd
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }
}

fn failed(msg: impl Into<String>) -> CliError {
    CliError::Failed(msg.into())
}

fn tool_version(cmd: &str, arg: &str) -> Option<String> {
    let out = Command::new(cmd).arg(arg).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Makes sure `bin` is installed at `version` (cargo install --locked if not).
fn ensure_cargo_tool(bin: &str, krate: &str, version: &str) -> Result<()> {
    if let Some(v) = tool_version(bin, "--version") {
        if v.contains(version) {
            return Ok(());
        }
        println!("{bin}: found {v:?}, need {version}; installing the pinned version");
    } else {
        println!(
            "{bin} {version} is not installed; installing it (cargo install, takes a few minutes)"
        );
    }
    let status = Command::new("cargo")
        .args(["install", "--locked", krate, "--version", version])
        .status()
        .map_err(|e| failed(format!("cannot run cargo install {krate}: {e}")))?;
    if !status.success() {
        return Err(failed(format!(
            "cargo install {krate} --version {version} failed"
        )));
    }
    Ok(())
}

fn fmt_dur(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

struct Step {
    bench: String,
    kind: &'static str, // "criterion" or "callgrind"
    allocator: &'static str,
    /// An allocator knob for this run (the tuning bench's extra runs).
    env: Option<(&'static str, &'static str)>,
}

/// Runs everything and renders the book.
pub fn run(args: &[String]) -> Result<()> {
    let opts = parse(args)?;
    let root = root();
    if opts.check_only {
        return check_numbers(&root);
    }
    let results = root.join("target/cookbook");
    if opts.bench && opts.only.is_some() {
        partial_run_allowed(&results)?;
    }
    let out_dir = root.join("book/src/generated");
    let started = Instant::now();
    let command = format!(
        "cargo run --release -- book{}",
        if args.is_empty() {
            String::new()
        } else {
            format!(" {}", args.join(" "))
        }
    );

    let commit = current_commit(&root);
    ensure_cargo_tool("mdbook", "mdbook", MDBOOK_VERSION)?;
    let valgrind = tool_version("valgrind", "--version");
    let mut problems: Vec<String> = Vec::new();
    if opts.bench {
        if valgrind.is_none() {
            problems.push(
                "valgrind is missing (Debian: apt-get install valgrind): the callgrind tables were skipped".into(),
            );
            println!("warning: {}", problems.last().unwrap());
        } else {
            ensure_cargo_tool("gungraun-runner", "gungraun-runner", GUNGRAUN_VERSION)?;
        }
    }

    let selected: Vec<&str> = BENCHES
        .iter()
        .copied()
        .filter(|b| opts.only.as_ref().is_none_or(|o| o.iter().any(|x| x == b)))
        .collect();

    // `--only programs` measures the real programs alone (no bench build).
    if opts.bench && !selected.is_empty() {
        if opts.only.is_none() {
            for sub in ["allocs", "metrics", "criterion"] {
                let _ = std::fs::remove_dir_all(results.join(sub));
            }
        }
        for b in &selected {
            // A partial run (--only) replaces only the selected benches'
            // results; the others stay, so their tables still render.
            for sub in ["allocs", "metrics"] {
                let _ = std::fs::remove_file(results.join(sub).join(format!("{b}.jsonl")));
            }
            // Clear this bench's old callgrind results only.
            for a in render::ALLOCATORS {
                let _ = std::fs::remove_dir_all(
                    results
                        .join("gungraun")
                        .join(a)
                        .join("alloc-cookbook")
                        .join(format!("{b}_callgrind")),
                );
            }
        }
        // The allocator bench's C ABI rows call the preloadable library's
        // `malloc` and `free` (dlopen): build it first, and name it to the bench.
        let mut preload_lib = None;
        if valgrind.is_some() && selected.contains(&"allocator") {
            println!("the preloadable library for the allocator bench's C ABI rows ...");
            match super::run::find(super::run::Alloc::Goalloc, true) {
                Ok(lib) => preload_lib = lib.path,
                Err(e) => {
                    problems.push(format!(
                        "the allocator bench's callgrind run needs GoAlloc's preloadable library: {}",
                        super::arg_err(e)
                    ));
                    println!("warning: {}", problems.last().unwrap());
                }
            }
        }
        println!("building the benches (cargo bench --no-run) ...");
        let status = Command::new("cargo")
            .current_dir(&root)
            .args(["bench", "--no-run", "--quiet"])
            .status()
            .map_err(|e| failed(format!("cannot run cargo: {e}")))?;
        if !status.success() {
            return Err(failed(
                "the benches do not build (cargo bench --no-run failed)",
            ));
        }
        let mut steps = Vec::new();
        for b in &selected {
            for a in allocators_for(b) {
                steps.push(Step {
                    bench: b.to_string(),
                    kind: "criterion",
                    allocator: a,
                    env: None,
                });
            }
            if *b == "tuning" {
                for (a, var, value) in TUNING_RUNS {
                    steps.push(Step {
                        bench: b.to_string(),
                        kind: "criterion",
                        allocator: a,
                        env: Some((var, value)),
                    });
                }
            }
            if valgrind.is_some() {
                let callgrind_allocs: &[&str] = if opts.full {
                    allocators_for(b)
                } else {
                    &["system"]
                };
                for a in callgrind_allocs {
                    steps.push(Step {
                        bench: b.to_string(),
                        kind: "callgrind",
                        allocator: a,
                        env: None,
                    });
                }
            }
        }
        let logs = results.join("logs");
        std::fs::create_dir_all(&logs)
            .map_err(|e| failed(format!("cannot create {}: {e}", logs.display())))?;
        // Durations so far, to estimate what is left: the same bench under
        // another allocator takes about as long; else the mean of its kind.
        let mut took: Vec<(String, &str, Duration)> = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            let guess = |st: &Step| -> Duration {
                if let Some((_, _, d)) = took
                    .iter()
                    .find(|(b, k, _)| *b == st.bench && *k == st.kind)
                {
                    return *d;
                }
                let same: Vec<Duration> = took
                    .iter()
                    .filter(|(_, k, _)| *k == st.kind)
                    .map(|t| t.2)
                    .collect();
                if same.is_empty() {
                    Duration::from_secs(if st.kind == "criterion" { 25 } else { 60 })
                } else {
                    same.iter().sum::<Duration>() / same.len() as u32
                }
            };
            let left: Duration = steps[i..].iter().map(guess).sum();
            let eta = format!("about {} left", fmt_dur(left));
            println!(
                "[{}/{}] {} ({}, {}{}) ... {} elapsed, {eta}",
                i + 1,
                steps.len(),
                step.bench,
                step.kind,
                step.allocator,
                step.env
                    .map_or(String::new(), |(k, v)| format!(", {k}={v}")),
                fmt_dur(started.elapsed())
            );
            let t0 = Instant::now();
            let (name, extra): (String, Vec<&str>) = if step.kind == "criterion" {
                let flags = if opts.full {
                    vec![]
                } else {
                    vec![
                        "--warm-up-time",
                        "0.1",
                        "--measurement-time",
                        "0.4",
                        "--sample-size",
                        "10",
                    ]
                };
                (step.bench.clone(), flags)
            } else {
                (
                    format!("{}_callgrind", step.bench),
                    vec!["--save-summary=json"],
                )
            };
            let log_path = logs.join(match step.env {
                None => format!("{name}-{}.log", step.allocator),
                Some(_) => format!("{name}-{}-tuned-{i}.log", step.allocator),
            });
            let log = std::fs::File::create(&log_path)
                .map_err(|e| failed(format!("cannot create {}: {e}", log_path.display())))?;
            let mut cmd = Command::new("cargo");
            if let Some((var, value)) = step.env {
                cmd.env(var, value);
            }
            if let Some(lib) = &preload_lib {
                cmd.env(super::run::GOALLOC_ENV, lib);
            }
            let status = cmd
                .current_dir(&root)
                .args(["bench", "--quiet", "--bench", &name, "--"])
                .args(&extra)
                .env("COOKBOOK_ALLOC", step.allocator)
                .env("COOKBOOK_RESULTS", &results)
                .env("CRITERION_HOME", results.join("criterion"))
                .env(
                    "GUNGRAUN_HOME",
                    results.join("gungraun").join(step.allocator),
                )
                .stdout(log.try_clone().map_err(|e| failed(e.to_string()))?)
                .stderr(log)
                .status();
            match status {
                Ok(s) if s.success() => {
                    println!("      done in {}", fmt_dur(t0.elapsed()));
                    took.push((step.bench.clone(), step.kind, t0.elapsed()));
                }
                Ok(s) => {
                    let msg = format!(
                        "{name} under {} failed ({s}); see {}",
                        step.allocator,
                        log_path.display()
                    );
                    println!("      FAILED: {msg}");
                    problems.push(msg);
                }
                Err(e) => return Err(failed(format!("cannot run cargo bench: {e}"))),
            }
        }
    }

    let programs_selected = opts
        .only
        .as_ref()
        .is_none_or(|o| o.iter().any(|x| x == "programs"));
    if opts.bench && programs_selected {
        // Real programs under each allocator (src/cli/programs.rs).
        let runs = if opts.full { 5 } else { 3 };
        super::programs::measure(&root, &results, runs, &mut problems)?;
    }

    if opts.bench && opts.only.is_none() {
        println!("Go's allocator (benches/go, go test -bench) ...");
        let _ = std::fs::remove_file(results.join(go_bench::RAW));
        let said = go_bench::run(&root, &results, opts.full);
        println!("      {said}");
        if !results.join(go_bench::RAW).exists() {
            // The committed Go table stays; the stamp says it is not this run's.
            problems.push(format!("{said}; the Go table shown is an earlier run's"));
        }
    }

    println!("generating tables and charts in {} ...", out_dir.display());
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| failed(format!("cannot create {}: {e}", out_dir.display())))?;
    generate_static(&out_dir)?;
    go_bench::render(&results, &out_dir).map_err(failed)?;
    let r = render::load(&results).map_err(failed)?;
    for b in BENCHES {
        let shown = render::render_bench(&r, b, &out_dir).map_err(failed)?;
        if shown == 0 && opts.bench && selected.contains(&b) {
            problems.push(format!("no results for the {b} bench"));
        }
    }
    super::programs::render(&results, &out_dir)?;
    // The "Your own program" chapter: profiles of real programs (src/cli/profile_book.rs).
    problems.extend(super::profile::book::generate(&root, &out_dir, opts.bench)?);
    choosing::render(&r, &out_dir).map_err(failed)?;
    write_stamp(
        &out_dir,
        &results,
        &commit,
        &command,
        &opts,
        &problems,
        started.elapsed(),
    )?;

    let numbers = check_numbers(&root);

    println!("rendering the book (mdbook build) ...");
    let status = Command::new("mdbook")
        .current_dir(root.join("book"))
        .arg("build")
        .status()
        .map_err(|e| failed(format!("cannot run mdbook: {e}")))?;
    if !status.success() {
        return Err(failed("mdbook build failed"));
    }
    println!(
        "\nthe book is at {} (open it in a browser); took {}",
        root.join("book/build/index.html").display(),
        fmt_dur(started.elapsed())
    );
    if !problems.is_empty() {
        println!("\n{} problem(s):", problems.len());
        for p in &problems {
            println!("  - {p}");
        }
        if opts.bench {
            return Err(failed("some measurements are missing (see above)"));
        }
    }
    numbers
}

/// A line of an earlier stamp, with a "missing or failed" entry about one of
/// the parts this partial run measures again marked as such (the entries
/// start with the part's name, e.g. "programs table: redis is not installed").
fn mark_remeasured(line: &str, parts: &[String]) -> String {
    const MARK: &str = " (measured again: see below)";
    match line.strip_prefix("- ") {
        Some(entry)
            if !entry.ends_with(MARK) && parts.iter().any(|p| entry.starts_with(p.as_str())) =>
        {
            format!("{line}{MARK}")
        }
        _ => line.to_string(),
    }
}

/// The number check (see `numcheck.rs`): every number with a unit in a
/// chapter's prose must be in a generated file, in a marked quotation, or an
/// allowed design constant.
fn check_numbers(root: &Path) -> Result<()> {
    let src = root.join("book/src");
    let known = numcheck::Known::load(
        &src.join("generated"),
        &root.join("book/numbers-allowed.txt"),
    );
    println!("checking the numbers in the book's prose against book/src/generated/ ...");
    let findings = numcheck::check_book(&src, &known);
    if findings.is_empty() {
        println!("      every number with a unit in the prose is in a generated file or allowed");
        return Ok(());
    }
    eprint!("{}", numcheck::report(&findings));
    Err(failed(format!(
        "{} number(s) in the prose are backed by no generated file (see above)",
        findings.len()
    )))
}

/// Tables and charts that come from the library itself, not from benches.
pub fn generate_static(out: &Path) -> Result<()> {
    let write = |name: &str, text: String| {
        std::fs::write(out.join(name), text)
            .map_err(|e| failed(format!("cannot write {name}: {e}")))
    };
    write("size-class-table.md", super::classes_markdown(&GO))?;

    // What-if: the same algorithm with other parameters.
    let mut whatif = String::from(
        "| page size | largest small size | classes | largest worst-case waste | mean worst-case waste | mean span tail waste |\n|---:|---:|---:|---:|---:|---:|\n",
    );
    for (page, max) in super::explorer::WHAT_IF {
        let t = SizeClassTable::generate(page, max).map_err(|e| failed(e.to_string()))?;
        let rows: Vec<_> = t.classes().collect();
        let worst = rows.iter().map(|c| c.max_waste_pct).fold(0.0, f64::max);
        let mean = rows.iter().map(|c| c.max_waste_pct).sum::<f64>() / rows.len() as f64;
        let tail = rows
            .iter()
            .map(|c| 100.0 * c.tail_waste as f64 / c.span_bytes as f64)
            .sum::<f64>()
            / rows.len() as f64;
        let _ = writeln!(
            whatif,
            "| {} KiB | {} KiB | {} | {worst:.2}% | {mean:.2}% | {tail:.2}% |",
            page / 1024,
            max / 1024,
            rows.len()
        );
    }
    write("size-class-whatif.md", whatif)?;

    // Sawtooth: internal waste % for every request size 1..32 KiB.
    let sizes: Vec<usize> = (1..=GO.max_small())
        .filter(|&s| s <= 1024 || s % 16 <= 1)
        .collect();
    let waste = |usable: &dyn Fn(usize) -> usize| -> Vec<(f64, f64)> {
        sizes
            .iter()
            .map(|&s| {
                let u = usable(s);
                (s as f64, 100.0 * (u - s) as f64 / u as f64)
            })
            .collect()
    };
    let go_series = super::svg::Series {
        name: "Go classes".into(),
        points: waste(&|s| Scheme::Go.usable(s)),
        dashed: false,
    };
    write(
        "waste-sawtooth.svg",
        super::svg::line_chart(
            "Internal waste by request size (Go's 67 classes)",
            "request size (bytes, log scale)",
            "waste (% of the bytes handed out)",
            &[go_series],
            true,
        ),
    )?;

    // Measured usable sizes of the real allocators beside Go's classes.
    let measured = usable::measure(sizes.iter().copied().filter(|&s| s <= 4096));
    let series =
        |name: &str, dashed: bool, f: &dyn Fn(&usable::UsableRow) -> usize| super::svg::Series {
            name: name.into(),
            dashed,
            points: measured
                .iter()
                .map(|r| (r.size as f64, 100.0 * (f(r) - r.size) as f64 / f(r) as f64))
                .collect(),
        };
    write(
        "usable-compare.svg",
        super::svg::line_chart(
            "Waste by request size, 1 B to 4 KiB: Go's classes vs real allocators",
            "request size (bytes, log scale)",
            "waste (% of the usable bytes)",
            &[
                series("Go classes", false, &|r| r.go),
                series("GoAlloc (measured)", false, &|r| r.goalloc),
                series("glibc (measured)", false, &|r| r.glibc),
                series("mimalloc (measured)", false, &|r| r.mimalloc),
                series("jemalloc (measured)", false, &|r| r.jemalloc),
            ],
            true,
        ),
    )?;

    // The charts' text alternatives: where their numbers are.
    write(
        "waste-sawtooth.md",
        "![Internal waste by request size under Go's classes: a sawtooth that falls to zero at each class size](../generated/waste-sawtooth.svg)\n\n\
         <p class=\"chart-numbers\">The chart's numbers: each tooth ends at a class size of \
         <a href=\"../appendix/size-class-table.html\">the full size-class table</a>; the waste of any one size is \
         <code>cargo run --release -- explain SIZE</code>, or the <a href=\"size-classes.html#your-size-explored\">size explorer</a>.</p>\n"
            .to_string(),
    )?;
    let mut numbers = String::from(
        "![Measured waste by request size: Go vs glibc, mimalloc, jemalloc](../generated/usable-compare.svg)\n\n\
         <details class=\"chart-numbers\"><summary>The chart's numbers: usable bytes for every request size where one of them changes</summary>\n\n\
         | request | Go | GoAlloc (malloc) | glibc | mimalloc | jemalloc |\n|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut prev: Option<&usable::UsableRow> = None;
    for r in &measured {
        let key = |r: &usable::UsableRow| (r.go, r.goalloc, r.glibc, r.mimalloc, r.jemalloc);
        if prev.is_none_or(|p| key(p) != key(r)) {
            let _ = writeln!(
                numbers,
                "| {} | {} | {} | {} | {} | {} |",
                r.size, r.go, r.goalloc, r.glibc, r.mimalloc, r.jemalloc
            );
        }
        prev = Some(r);
    }
    numbers.push_str("\nWaste is (usable − request) ÷ usable; the full table for every size is `cargo run --release -- usable --max 4096`.\n\n</details>\n");
    write("usable-compare.md", numbers)?;

    // Selected sizes, explained and measured.
    let picks = [
        1usize, 8, 9, 16, 17, 24, 25, 33, 48, 49, 100, 129, 257, 513, 1000, 1025, 2049, 4097, 8193,
        10_000, 32_768, 32_769, 100_000,
    ];
    let rows = usable::measure(picks);
    // Two tables, so that the columns a reader compares fit the column
    // without a horizontal scroll: Go's costs, then the usable bytes of all
    // four allocators side by side.
    let mut t = String::from(
        "| request | Go class | Go size | waste | tail share | efficiency |\n|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in &rows {
        let e = analysis::explain(r.size);
        let class = if e.class == 0 {
            "large".to_string()
        } else {
            e.class.to_string()
        };
        let _ = writeln!(
            t,
            "| {} | {class} | {} | {} B ({:.1}%) | {:.1} B | {:.1}% |",
            r.size,
            e.rounded,
            e.waste,
            e.waste_pct,
            e.tail_share,
            100.0 * e.efficiency,
        );
    }
    t.push_str(
        "\nThe same requests: usable bytes each allocator hands out (Go's classes as the model; measured for GoAlloc through its C ABI's `malloc`, glibc, mimalloc and jemalloc), and that block's waste in % of it.\n\n\
         | request | Go | GoAlloc (malloc) | glibc | mimalloc | jemalloc |\n|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in &rows {
        let cell = |u: usize| format!("{u} ({:.1}%)", 100.0 * (u - r.size) as f64 / u as f64);
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} |",
            r.size,
            cell(r.go),
            cell(r.goalloc),
            cell(r.glibc),
            cell(r.mimalloc),
            cell(r.jemalloc)
        );
    }
    write("overhead-sizes.md", t)?;

    // Vec capacities that fill a class exactly.
    let mut caps = String::from("| element size | at least | capacity that fills the class | bytes |\n|---:|---:|---:|---:|\n");
    for (elem, min) in [
        (4usize, 10usize),
        (8, 5),
        (12, 3),
        (16, 9),
        (24, 5),
        (24, 100),
        (40, 7),
        (56, 30),
        (100, 11),
    ] {
        if let Some((cap, bytes)) = analysis::elements_to_fill(elem, min) {
            let _ = writeln!(caps, "| {elem} B | {min} | {cap} | {bytes} |");
        }
    }
    write("overhead-capacities.md", caps)?;
    super::allocator_report::fragmentation(out).map_err(failed)?;
    super::explorer::write_data(out).map_err(failed)?;
    Ok(())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines().find(|l| l.starts_with("MemTotal")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<u64>().ok())
            })
        })
        .map_or("unknown memory".into(), |kb| {
            format!("{:.0} GiB", kb as f64 / 1024.0 / 1024.0)
        });
    let libc = tool_version("ldd", "--version")
        .and_then(|v| v.lines().next().map(str::to_string))
        .unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, {mem}; {} {}; {libc}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// A partial run (`--only`) re-measures some benches on top of an earlier
/// full run on this machine: the stamp extends that run's, and the tables
/// built from every bench (the choosing chapter's "fastest per row") need
/// the other benches' results. Without them (a fresh clone, another
/// machine) it would render those tables from the re-measured benches
/// alone and stamp the book with one run's machine, so it is refused.
fn partial_run_allowed(results: &Path) -> Result<()> {
    if results.join("stamp.md").exists() {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "--only re-measures some benches on top of an earlier measuring run on this machine, \
         and {} holds none; run `cargo run --release -- book` first",
        results.display()
    )))
}

/// Writes `stamp.md`. A measuring run also keeps a copy with the results, so
/// that a later `--no-bench` regeneration still names the run that measured.
/// The commit the measurements ran on, read before they start, marked when
/// the working tree had changes.
fn current_commit(root: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .current_dir(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(c)
            if git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty()) =>
        {
            format!("{c} with uncommitted changes")
        }
        Some(c) => c,
        None => "unknown".into(),
    }
}

fn write_stamp(
    out: &Path,
    results: &Path,
    commit: &str,
    command: &str,
    opts: &Options,
    problems: &[String],
    took: Duration,
) -> Result<()> {
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let rustc = tool_version("rustc", "--version").unwrap_or_default();
    let mut s = String::new();
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(s, "| command | `{command}` |");
    let _ = writeln!(s, "| date | {date} |");
    let _ = writeln!(s, "| machine | {} |", machine());
    let _ = writeln!(s, "| toolchain | {rustc} |");
    let _ = writeln!(s, "| commit | {commit} |");
    let mode = if !opts.bench {
        "regenerated from earlier results (--no-bench)"
    } else if opts.full {
        "full-length criterion runs; callgrind under every allocator"
    } else {
        "short criterion runs (0.1 s warm-up, 0.4 s measurement, 10 samples); callgrind under the system allocator"
    };
    let _ = writeln!(s, "| mode | {mode} |");
    let _ = writeln!(s, "| took | {} |", fmt_dur(took));
    if !problems.is_empty() {
        let _ = writeln!(s, "\nMissing or failed in this run:\n");
        for p in problems {
            let _ = writeln!(s, "- {p}");
        }
    }
    if opts.bench && opts.only.is_some() {
        // A partial run re-measures some benches on top of an earlier run:
        // keep that run's stamp and say what was measured again, when and how.
        if let Ok(earlier) = std::fs::read_to_string(results.join("stamp.md")) {
            let parts = opts.only.as_deref().unwrap_or_default();
            let base = earlier
                .split("\nRe-measured since then:\n")
                .next()
                .unwrap_or(&earlier)
                .trim_end()
                .lines()
                .map(|l| mark_remeasured(l, parts))
                .collect::<Vec<_>>()
                .join("\n");
            let mut again: Vec<String> = earlier
                .split_once("\nRe-measured since then:\n")
                .map(|(_, l)| {
                    l.lines()
                        .filter(|l| !l.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            let only = parts.join(", ");
            let failed_note = if problems.is_empty() {
                String::new()
            } else {
                format!("; missing or failed: {}", problems.join("; "))
            };
            again.push(format!(
                "- {only}: {date}, {}, commit {commit}, `{command}` ({}){failed_note}",
                machine(),
                fmt_dur(took)
            ));
            s = format!(
                "{base}\n\nRe-measured since then:\n\n{}\n",
                again.join("\n")
            );
        }
        let _ = std::fs::write(results.join("stamp.md"), &s);
    } else if opts.bench {
        let _ = std::fs::write(results.join("stamp.md"), &s);
    } else if let Ok(measured) = std::fs::read_to_string(results.join("stamp.md")) {
        s = format!("Measured by:\n\n{measured}\nTables regenerated from those results on {date} with `{command}`.\n");
    } else if out.join("stamp.md").exists() {
        // No measurements on this machine: the committed stamp still describes
        // the committed tables.
        return Ok(());
    }
    std::fs::write(out.join("stamp.md"), s)
        .map_err(|e| failed(format!("cannot write stamp.md: {e}")))
}

#[cfg(test)]
mod tests {
    use super::{mark_remeasured, partial_run_allowed};

    #[test]
    fn a_partial_run_needs_an_earlier_run_on_this_machine() {
        let dir = std::env::temp_dir().join(format!("cookbook-partial-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::fs::remove_file(dir.join("stamp.md"));
        let Err(crate::cli::CliError::Usage(msg)) = partial_run_allowed(&dir) else {
            panic!("a partial run with no earlier results was allowed");
        };
        assert!(
            msg.contains("--only") && msg.contains(&dir.display().to_string()),
            "{msg}"
        );
        std::fs::write(dir.join("stamp.md"), "| | |\n").unwrap();
        assert!(partial_run_allowed(&dir).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_partial_run_marks_the_missing_entries_of_the_parts_it_measures_again() {
        let parts = vec!["programs".to_string()];
        let entry = "- programs table: redis is not installed";
        let marked = mark_remeasured(entry, &parts);
        assert_eq!(marked, format!("{entry} (measured again: see below)"));
        // Marked once only, however many partial runs follow.
        assert_eq!(mark_remeasured(&marked, &parts), marked);
        // Other parts' entries and other lines stay as they were.
        let other = "- valgrind is missing: the callgrind tables were skipped";
        assert_eq!(mark_remeasured(other, &parts), other);
        assert_eq!(
            mark_remeasured("| commit | 1413a90 |", &parts),
            "| commit | 1413a90 |"
        );
    }
}
