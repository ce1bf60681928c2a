//! The book's "Your own program" tables, made by `cookbook book`: the
//! recording shim's overhead on the real_world example, the profile of the
//! case study's naive step against its last step, and the profiles of real
//! programs from Debian packages (Python, SQLite, git, a Redis server under
//! `redis-benchmark`). A program that is not installed is skipped, and the
//! table says so.
//!
//! The fact a reader gets wrong: the overhead is measured on a shared
//! machine, so every mode runs several times, interleaved, and the table
//! shows medians of both wall time and CPU time (user + system of the
//! program and its children, from `getrusage`), with the load average at
//! the start.
//!
//! Under `cookbook book --no-bench` the tables already on disk are kept; they
//! are made when missing.

use super::{bytes_words, find_shim, read_dir, Process, Report, SHIM_BUILD};
use crate::cli::{CliError, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The generated files.
pub const FILES: [&str; 4] = [
    "profile-overhead.md",
    "profile-real-world.md",
    "profile-real-world-sizes.svg",
    "profile-programs.md",
];
/// Lines and requests of the real_world runs.
const LINES: &str = "50000";
/// Runs per mode in the overhead table.
const REPEATS: usize = 3;

fn failed(m: impl Into<String>) -> CliError {
    CliError::Failed(m.into())
}

fn cargo_build(root: &Path, args: &[&str]) -> Result<()> {
    println!("  cargo {} ...", args.join(" "));
    let st = Command::new("cargo")
        .current_dir(root)
        .args(args)
        .status()
        .map_err(|e| failed(format!("cannot run cargo: {e}")))?;
    if st.success() {
        Ok(())
    } else {
        Err(failed(format!("cargo {} failed", args.join(" "))))
    }
}

/// User + system CPU seconds of every child waited for so far.
fn children_cpu() -> f64 {
    // SAFETY: getrusage writes one rusage struct.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// How a program runs: without the shim, or with it (sample rate, objects tracked).
#[derive(Clone, Copy)]
struct Mode {
    name: &'static str,
    shim: Option<(u64, bool)>,
}

const MODES: [Mode; 5] = [
    Mode {
        name: "without the shim",
        shim: None,
    },
    Mode {
        name: "histogram only (`--histogram-only --call-sites off`)",
        shim: Some((0, false)),
    },
    Mode {
        name: "objects tracked, no call sites (`--call-sites off`)",
        shim: Some((0, true)),
    },
    Mode {
        name: "objects tracked, call sites sampled every 512 KiB (the default)",
        shim: Some((512 << 10, true)),
    },
    Mode {
        name: "objects tracked, every call site (`--call-sites all`)",
        shim: Some((1, true)),
    },
];

fn command(shim: &Path, mode: Mode, dir: &Path, argv: &[String]) -> Command {
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some((rate, objects)) = mode.shim {
        c.env("LD_PRELOAD", shim)
            .env("COOKBOOK_PROFILE_DIR", dir)
            .env("COOKBOOK_PROFILE_SAMPLE", rate.to_string())
            .env("COOKBOOK_PROFILE_OBJECTS", if objects { "1" } else { "0" });
    }
    c
}

/// Runs `argv` in `mode`; returns (wall s, CPU s) or why it failed.
fn timed(shim: &Path, mode: Mode, dir: &Path, argv: &[String]) -> Result<(f64, f64)> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| failed(format!("{}: {e}", dir.display())))?;
    let cpu0 = children_cpu();
    let t0 = Instant::now();
    let st = command(shim, mode, dir, argv)
        .status()
        .map_err(|e| failed(format!("cannot run {}: {e}", argv[0])))?;
    let wall = t0.elapsed().as_secs_f64();
    if !st.success() {
        return Err(failed(format!("{} {}: {st}", argv.join(" "), mode.name)));
    }
    Ok((wall, children_cpu() - cpu0))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

fn overhead(shim: &Path, real_world: &Path, work: &Path) -> Result<String> {
    let argv: Vec<String> = [
        real_world.to_str().unwrap_or_default(),
        "--lines",
        LINES,
        "--requests",
        LINES,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let load = loadavg();
    let mut times: Vec<Vec<(f64, f64)>> = vec![vec![]; MODES.len()];
    let total = REPEATS * MODES.len();
    let started = Instant::now();
    for r in 0..REPEATS {
        for (m, mode) in MODES.iter().enumerate() {
            let done = r * MODES.len() + m;
            println!(
                "  overhead [{}/{total}] {} ... {:.0}s elapsed",
                done + 1,
                mode.name,
                started.elapsed().as_secs_f64()
            );
            times[m].push(timed(shim, *mode, &work.join("overhead"), &argv)?);
        }
    }
    let base = (
        median(times[0].iter().map(|t| t.0).collect()),
        median(times[0].iter().map(|t| t.1).collect()),
    );
    let mut s = format!(
        "Measured by `cargo run --release -- book` on the real_world example \
         (`real_world --lines {LINES} --requests {LINES}`: every analyzer step and \
         handler version, each in its own process, so each gets its own profile), \
         {REPEATS} runs per mode, interleaved; medians. The machine was shared \
         (load average {load} when the runs began), so wall time is noisy; CPU \
         time (user + system of the program and its child processes) is the steadier \
         measure.\n\n\
         | mode | wall (s) | × without | CPU (s) | × without |\n|---|---:|---:|---:|---:|\n"
    );
    for (m, mode) in MODES.iter().enumerate() {
        let wall = median(times[m].iter().map(|t| t.0).collect());
        let cpu = median(times[m].iter().map(|t| t.1).collect());
        let _ = writeln!(
            s,
            "| {} | {wall:.2} | {:.2}× | {cpu:.2} | {:.2}× |",
            mode.name,
            wall / base.0,
            cpu / base.1
        );
    }
    Ok(s)
}

/// Profiles `argv` (objects tracked, call sites sampled at `rate`) into `dir`.
fn profile_into(shim: &Path, argv: &[String], dir: &Path, rate: u64) -> Result<(u32, f64)> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| failed(format!("{}: {e}", dir.display())))?;
    let t0 = Instant::now();
    let mut child = command(
        shim,
        Mode {
            name: "",
            shim: Some((rate, true)),
        },
        dir,
        argv,
    )
    .spawn()
    .map_err(|e| failed(format!("cannot run {}: {e}", argv[0])))?;
    let pid = child.id();
    let st = child
        .wait()
        .map_err(|e| failed(format!("{}: {e}", argv[0])))?;
    if !st.success() {
        return Err(failed(format!("{}: {st}", argv.join(" "))));
    }
    Ok((pid, t0.elapsed().as_secs_f64()))
}

fn report_of(p: Process, wall: f64) -> Result<Report> {
    let pid = p.pid();
    Report::build(vec![p], pid, "exited with status 0".into(), wall)
}

fn waste_cells(r: &Report) -> String {
    r.waste
        .iter()
        .map(|w| {
            format!(
                "{:.1}%",
                100.0 * (w.handed_out - w.requested) as f64 / w.handed_out.max(1) as f64
            )
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

fn findings_list(r: &Report) -> String {
    if r.findings.is_empty() {
        return "none".into();
    }
    r.findings
        .iter()
        .map(|f| format!("[{}]({})", f.title, f.chapter_path))
        .collect::<Vec<_>>()
        .join(", ")
}

fn findings_bullets(r: &Report) -> String {
    let mut s = String::new();
    for f in &r.findings {
        let _ = writeln!(
            s,
            "- **{}** ([{}]({})): {}",
            f.title, f.chapter, f.chapter_path, f.detail
        );
    }
    if s.is_empty() {
        s = "- no finding: no pattern the book treats stands out in these numbers\n".into();
    }
    s
}

fn tiny_share(r: &Report) -> f64 {
    let tiny: u64 = r.tiny_sizes().map(|(_, c)| c).sum();
    100.0 * tiny as f64 / r.requests().max(1) as f64
}

fn top_sizes(r: &Report, n: usize) -> String {
    let mut h = r.histogram.clone();
    h.sort_by_key(|&(s, c)| (std::cmp::Reverse(c), s));
    h.iter()
        .take(n)
        .map(|&(s, c)| {
            format!(
                "{s} B ({:.0}%)",
                100.0 * c as f64 / r.requests().max(1) as f64
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn real_world_profiles(shim: &Path, real_world: &Path, work: &Path, out: &Path) -> Result<String> {
    let dir = work.join("real-world");
    let argv: Vec<String> = [
        real_world.to_str().unwrap_or_default(),
        "--lines",
        LINES,
        "--requests",
        "1000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    println!("  profiling the real_world example (every step) ...");
    let (_, wall) = profile_into(shim, &argv, &dir, 1)?;
    let procs = read_dir(&dir)?;
    let find = |step: &str| -> Result<Report> {
        let p = procs
            .iter()
            .find(|p| p.cmdline().contains(&format!("--step {step} ")))
            .ok_or_else(|| failed(format!("no profile of real_world --step {step}")))?;
        report_of(Process::read(&p.path)?, wall)
    };
    let naive = find("0")?;
    let last = find("5")?;
    let svg = "profile-real-world-sizes.svg";
    std::fs::write(out.join(svg), super::histogram_svg(&naive))
        .map_err(|e| failed(format!("cannot write {svg}: {e}")))?;
    let lines: f64 = LINES.parse().unwrap_or(1.0);
    let mut s = format!(
        "`cookbook profile --call-sites all -- real_world --lines {LINES}` profiles every \
         step, each in its own process. The naive step (step 0) against the last \
         (step 5, struct of arrays):\n\n| | naive (step 0) | last (step 5) |\n|---|---:|---:|\n"
    );
    let row = |s: &mut String, what: &str, a: String, b: String| {
        let _ = writeln!(s, "| {what} | {a} | {b} |");
    };
    row(
        &mut s,
        "allocation calls",
        naive.allocations.to_string(),
        last.allocations.to_string(),
    );
    row(
        &mut s,
        "allocation calls per line",
        format!("{:.2}", naive.allocations as f64 / lines),
        format!("{:.2}", last.allocations as f64 / lines),
    );
    row(
        &mut s,
        "requests of 16 B or less",
        format!("{:.1}%", tiny_share(&naive)),
        format!("{:.1}%", tiny_share(&last)),
    );
    row(
        &mut s,
        "most frequent sizes",
        top_sizes(&naive, 3),
        top_sizes(&last, 3),
    );
    row(
        &mut s,
        "bytes copied by reallocs",
        bytes_words(naive.realloc.2),
        bytes_words(last.realloc.2),
    );
    row(
        &mut s,
        "peak live",
        bytes_words(naive.peak_bytes),
        bytes_words(last.peak_bytes),
    );
    for (i, w) in naive.waste.iter().enumerate() {
        let pct = |r: &Report| {
            let w = &r.waste[i];
            format!(
                "{:.1}%",
                100.0 * (w.handed_out - w.requested) as f64 / w.handed_out.max(1) as f64
            )
        };
        row(
            &mut s,
            &format!("waste under {}'s classes ({})", w.allocator, w.how),
            pct(&naive),
            pct(&last),
        );
    }
    row(
        &mut s,
        "findings",
        findings_list(&naive),
        findings_list(&last),
    );
    let _ = write!(
        s,
        "\nThe naive step's findings, as `cookbook profile` words them:\n\n{}\n\
         The last step's:\n\n{}",
        findings_bullets(&naive),
        findings_bullets(&last)
    );
    let _ = writeln!(
        s,
        "\nThe naive step's request sizes, as `cookbook profile --svg` draws them:\n\n\
         ![Request sizes of the naive step](generated/{svg})\n\n\
         <p class=\"chart-numbers\">The chart's numbers: the most frequent sizes in \
         <a href=\"#the-case-study-profiled\">the table above</a>; every size of the \
         histogram is in `cookbook profile --json`.</p>\n\n\
         The naive step's top call sites by count:\n"
    );
    let _ = writeln!(s, "| allocations | bytes | site |\n|---:|---:|---|");
    for site in naive.sites.iter().take(6) {
        let _ = writeln!(
            s,
            "| {:.0} | {} | `{}` |",
            site.est_count,
            bytes_words(site.est_bytes as u64),
            site.name().replace('|', "\\|")
        );
    }
    Ok(s)
}

/// A real program to profile: name, how to run it (None: not installed).
struct Program {
    name: &'static str,
    shown: String,
    argv: Vec<String>,
}

fn which(cmd: &str) -> Option<PathBuf> {
    super::resolve_command(cmd).ok()
}

fn programs(work: &Path, root: &Path) -> (Vec<Program>, Vec<String>) {
    let mut out = vec![];
    let mut missing = vec![];
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let py = "import json; d = [{'id': i, 'name': 'user%d' % i, 'tags': ['a', 'b']} for i in range(50000)]; s = json.dumps(d); print(len(json.loads(s)))";
    match Path::new("/usr/bin/python3").is_file() {
        true => out.push(Program {
            name: "Python (Debian python3)",
            shown: "PYTHONMALLOC=malloc python3 -c \"build 50,000 dicts, json.dumps, json.loads\""
                .into(),
            // PYTHONMALLOC=malloc: every object through malloc, not only those
            // above pymalloc's 512 B (its arenas come from mmap, unseen).
            argv: s(&[
                "/usr/bin/env",
                "PYTHONMALLOC=malloc",
                "/usr/bin/python3",
                "-c",
                py,
            ]),
        }),
        false => missing
            .push("Python: /usr/bin/python3 (Debian package python3) is not installed".into()),
    }
    let sql = "create table t(id integer primary key, name text, v real); \
               with recursive c(x) as (select 1 union all select x+1 from c where x < 50000) \
               insert into t select x, 'name' || x, x * 0.5 from c; \
               create index t_name on t(name); \
               select count(*), sum(length(name)) from t where name like 'name1%';";
    match which("sqlite3") {
        Some(p) => out.push(Program {
            name: "SQLite (sqlite3)",
            shown: "sqlite3 :memory: \"insert 50,000 rows, index them, query\"".into(),
            argv: vec![p.display().to_string(), ":memory:".into(), sql.into()],
        }),
        None => missing.push("SQLite: sqlite3 (Debian package sqlite3) is not installed".into()),
    }
    match which("git") {
        Some(p) if root.join(".git").exists() => out.push(Program {
            name: "git",
            shown: "git log --stat -n 200 (this repository)".into(),
            argv: vec![
                p.display().to_string(),
                "-C".into(),
                root.display().to_string(),
                "--no-pager".into(),
                "log".into(),
                "--stat".into(),
                "-n".into(),
                "200".into(),
            ],
        }),
        Some(_) => missing.push("git: the book is not built from a git checkout".into()),
        None => missing.push("git: git (Debian package git) is not installed".into()),
    }
    let _ = work;
    (out, missing)
}

/// Redis: the server under the shim, `redis-benchmark` against it on 127.0.0.1.
fn redis(shim: &Path, work: &Path) -> Result<Option<(String, Report)>> {
    let (Some(server), Some(bench), Some(cli)) = (
        which("redis-server"),
        which("redis-benchmark"),
        which("redis-cli"),
    ) else {
        return Ok(None);
    };
    let dir = work.join("redis");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| failed(e.to_string()))?;
    // A port from the pid keeps two book runs from colliding.
    let port = (20000 + std::process::id() % 20000).to_string();
    let argv: Vec<String> = [
        server.to_str().unwrap_or_default(),
        "--port",
        &port,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir.to_str().unwrap_or_default(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    println!("  profiling redis-server on 127.0.0.1:{port} under redis-benchmark ...");
    let t0 = Instant::now();
    let mut child = command(
        shim,
        Mode {
            name: "",
            shim: Some((512 << 10, true)),
        },
        &dir,
        &argv,
    )
    .spawn()
    .map_err(|e| failed(format!("cannot run redis-server: {e}")))?;
    let pid = child.id();
    let ping = || {
        Command::new(&cli)
            .args(["-h", "127.0.0.1", "-p", &port, "ping"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("PONG"))
    };
    let mut up = false;
    for _ in 0..100 {
        if ping() {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let bench_ok = up
        && Command::new(&bench)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-n",
                "20000",
                "-c",
                "8",
                "-q",
                "-t",
                "set,get,incr,lpush,lpop,hset",
            ])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    let _ = Command::new(&cli)
        .args(["-h", "127.0.0.1", "-p", &port, "shutdown", "nosave"])
        .output();
    let mut ended = false;
    for _ in 0..100 {
        if let Ok(Some(_)) = child.try_wait() {
            ended = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if !ended {
        let _ = child.kill();
        let _ = child.wait();
    }
    if !up || !bench_ok {
        return Err(failed(
            "redis-server did not answer on 127.0.0.1, or redis-benchmark failed",
        ));
    }
    let procs = read_dir(&dir)?;
    let r = Report::build(
        procs,
        pid as u64,
        "shut down".into(),
        t0.elapsed().as_secs_f64(),
    )?;
    Ok(Some((
        "redis-server; redis-benchmark -n 20000 -c 8 -t set,get,incr,lpush,lpop,hset".into(),
        r,
    )))
}

fn programs_table(shim: &Path, root: &Path, work: &Path, problems: &mut Vec<String>) -> String {
    let (list, mut missing) = programs(work, root);
    let mut done: Vec<(String, String, Report)> = vec![];
    for p in list {
        println!("  profiling {} ...", p.name);
        let dir = work.join("program");
        match profile_into(shim, &p.argv, &dir, 512 << 10).and_then(|(pid, wall)| {
            let procs = read_dir(&dir)?;
            Report::build(procs, pid as u64, "exited with status 0".into(), wall)
        }) {
            Ok(r) => done.push((p.name.to_string(), p.shown, r)),
            Err(CliError::Failed(m)) | Err(CliError::Usage(m)) => {
                problems.push(format!("profile chapter: {}: {m}", p.name));
                missing.push(format!("{}: the run failed ({m})", p.name));
            }
            Err(e) => missing.push(format!("{}: {e:?}", p.name)),
        }
    }
    match redis(shim, work) {
        Ok(Some((shown, r))) => done.push(("Redis (redis-server)".into(), shown, r)),
        Ok(None) => missing.push(
            "Redis: redis-server, redis-benchmark and redis-cli (Debian packages redis-server, redis-tools) are not all installed"
                .into(),
        ),
        Err(CliError::Failed(m)) => {
            problems.push(format!("profile chapter: redis: {m}"));
            missing.push(format!("Redis: {m}"));
        }
        Err(e) => missing.push(format!("Redis: {e:?}")),
    }
    let mut s = String::from(
        "Each program ran under `cookbook profile` (objects tracked, call sites sampled \
         every 512 KiB). Waste is what rounding these exact requests costs under each \
         allocator's classes (Go's from the table GoAlloc follows; glibc, mimalloc and \
         jemalloc measured by asking the real allocator for each size).\n\n\
         | program | workload | allocation calls | most frequent sizes | ≤ 16 B | waste go | glibc | mimalloc | jemalloc | peak live |\n\
         |---|---|---:|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for (name, shown, r) in &done {
        let _ = writeln!(
            s,
            "| {name} | `{}` | {} | {} | {:.1}% | {} | {} |",
            shown.replace('|', "\\|"),
            r.allocations,
            top_sizes(r, 3),
            tiny_share(r),
            waste_cells(r),
            bytes_words(r.peak_bytes)
        );
    }
    if !missing.is_empty() {
        let _ = writeln!(s, "\nSkipped:\n");
        for m in &missing {
            let _ = writeln!(s, "- {m}");
        }
    }
    for (name, _, r) in &done {
        let _ = write!(s, "\n**{name}**: findings\n\n{}", findings_bullets(r));
    }
    s
}

/// Makes the chapter's tables (see the module header); returns problems to report.
pub fn generate(root: &Path, out: &Path, measure: bool) -> Result<Vec<String>> {
    if !measure && FILES.iter().all(|f| out.join(f).exists()) {
        println!("profile chapter: keeping the tables on disk (--no-bench)");
        return Ok(vec![]);
    }
    println!("profile chapter: building the shim and the real_world example ...");
    cargo_build(
        root,
        &[
            "build",
            "--release",
            "--example",
            "profile_shim",
            "--features",
            "profile-shim",
        ],
    )?;
    cargo_build(
        root,
        &[
            "build",
            "--release",
            "-p",
            "alloc-recipes",
            "--example",
            "real_world",
        ],
    )?;
    let shim = find_shim(None).map_err(|_| failed(format!("no shim after `{SHIM_BUILD}`")))?;
    let shim = shim.canonicalize().unwrap_or(shim);
    let real_world = root.join("target/release/examples/real_world");
    let work = std::env::temp_dir().join(format!("cookbook-book-profile-{}", std::process::id()));
    let mut problems = vec![];
    let write = |name: &str, text: String| {
        std::fs::write(out.join(name), text)
            .map_err(|e| failed(format!("cannot write {name}: {e}")))
    };
    let result = (|| -> Result<()> {
        write("profile-overhead.md", overhead(&shim, &real_world, &work)?)?;
        write(
            "profile-real-world.md",
            real_world_profiles(&shim, &real_world, &work, out)?,
        )?;
        write(
            "profile-programs.md",
            programs_table(&shim, root, &work, &mut problems),
        )?;
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&work);
    result?;
    Ok(problems)
}
