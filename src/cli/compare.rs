//! `cookbook compare [--runs N] [--alloc a,b,c] [--json] -- CMD [ARGS...]`:
//! one program under each allocator in turn, several runs each, interleaved
//! (round 1 runs every allocator once, then round 2, each round starting
//! one allocator later, so a drift of the machine spreads over all of them).
//!
//! Each run is one child process measured by `wait4`: wall time, user and
//! system CPU, peak resident set size, minor page faults. The fact a reader
//! would get wrong: `wait4`'s usage covers the child *and the descendants it
//! waited for* (a shell script's commands count), and peak RSS is the
//! largest single process among them, not their sum.
//!
//! The program's standard output and error go to a log file per run, never
//! to the report (standard input is /dev/null), so the report depends only on
//! the measurements. A program that fails in any run under an allocator is
//! reported as failing there, with its exit status and log, and none of that
//! allocator's runs are averaged in. Medians are shown with their ratio to
//! glibc's (`system`).

use super::run::{self, Alloc, Library};
use super::{svg, CliError, Result};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The `cookbook compare` options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Measured runs per allocator.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub runs: u32,
    /// Allocators to compare (comma-separated). Default: system, goalloc,
    /// mimalloc, jemalloc, and tcmalloc, skipping any not installed.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "ALLOC,...")]
    pub alloc: Option<Vec<Alloc>>,
    /// Print the measurements as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write a bar chart of the ratios to glibc (SVG) to FILE.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Where the program's output goes, one file per run (default: a fresh
    /// folder under the temporary directory).
    #[arg(long, value_name = "DIR")]
    pub logs: Option<PathBuf>,
    /// Unmeasured runs under glibc first (warms the file cache).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub warmup: u32,
    /// Kill a run that takes longer than this many seconds (it counts as failed).
    #[arg(long, value_name = "SECONDS", value_parser = timeout_arg)]
    pub timeout: Option<f64>,
    /// The program and its arguments (after `--`).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<OsString>,
}

fn timeout_arg(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if t > 0.0 && t.is_finite() => Ok(t),
        _ => Err(format!("{s:?} is not a positive number of seconds")),
    }
}

/// One run's measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Wall-clock seconds from spawn to reap.
    pub wall_s: f64,
    /// User CPU seconds.
    pub user_s: f64,
    /// System CPU seconds.
    pub sys_s: f64,
    /// Peak resident set, KiB (largest single process).
    pub max_rss_kib: f64,
    /// Minor page faults.
    pub minor_faults: f64,
}

impl Sample {
    /// The metrics in table order, with their names and units.
    pub const METRICS: [(&'static str, &'static str); 5] = [
        ("wall time", "s"),
        ("user CPU", "s"),
        ("system CPU", "s"),
        ("peak RSS", "KiB"),
        ("minor faults", ""),
    ];

    fn values(&self) -> [f64; 5] {
        [
            self.wall_s,
            self.user_s,
            self.sys_s,
            self.max_rss_kib,
            self.minor_faults,
        ]
    }

    fn from_values(v: [f64; 5]) -> Sample {
        Sample {
            wall_s: v[0],
            user_s: v[1],
            sys_s: v[2],
            max_rss_kib: v[3],
            minor_faults: v[4],
        }
    }
}

/// How one run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// Exit code 0.
    Ok,
    /// A non-zero exit code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
    /// Killed by `--timeout`.
    TimedOut,
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Ok => write!(f, "exit 0"),
            Ending::Code(c) => write!(f, "exit {c}"),
            Ending::Signal(s) => write!(f, "killed by {}", signal_name(*s)),
            Ending::TimedOut => write!(f, "timed out"),
        }
    }
}

fn signal_name(s: i32) -> String {
    let name = match s {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGINT => "SIGINT",
        _ => return format!("signal {s}"),
    };
    name.to_string()
}

/// One measured run.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// How it ended.
    pub ending: Ending,
    /// Its measurements (also kept for a failed run, never averaged).
    pub sample: Sample,
    /// The file holding its output.
    pub log: PathBuf,
}

/// All runs under one allocator.
#[derive(Debug, Clone)]
pub struct AllocResult {
    /// The library that was preloaded.
    pub lib: Library,
    /// Every run, in order.
    pub runs: Vec<RunRecord>,
}

impl AllocResult {
    /// True when every run exited 0.
    pub fn ok(&self) -> bool {
        !self.runs.is_empty() && self.runs.iter().all(|r| r.ending == Ending::Ok)
    }

    /// The first failing run, if any.
    pub fn first_failure(&self) -> Option<&RunRecord> {
        self.runs.iter().find(|r| r.ending != Ending::Ok)
    }

    /// Median of each metric over the runs, `None` if any run failed.
    pub fn median(&self) -> Option<Sample> {
        if !self.ok() {
            return None;
        }
        let mut out = [0.0; 5];
        for (i, o) in out.iter_mut().enumerate() {
            let mut v: Vec<f64> = self.runs.iter().map(|r| r.sample.values()[i]).collect();
            *o = median(&mut v);
        }
        Some(Sample::from_values(out))
    }
}

/// The median of `v` (mean of the middle two for an even count).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A whole comparison.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The command, as given.
    pub command: Vec<OsString>,
    /// Measured runs per allocator.
    pub runs_per_alloc: u32,
    /// Per allocator, in the order asked for.
    pub results: Vec<AllocResult>,
    /// Where the program's output went.
    pub log_dir: PathBuf,
}

impl Comparison {
    /// The glibc medians, when glibc was measured and never failed.
    pub fn baseline(&self) -> Option<Sample> {
        self.results
            .iter()
            .find(|r| r.lib.alloc == Alloc::System)
            .and_then(AllocResult::median)
    }

    /// `metric / glibc's metric` for an allocator's medians.
    pub fn ratio(&self, m: &Sample) -> Option<[f64; 5]> {
        let b = self.baseline()?;
        let (mv, bv) = (m.values(), b.values());
        let mut out = [f64::NAN; 5];
        for i in 0..5 {
            if bv[i] > 0.0 {
                out[i] = mv[i] / bv[i];
            }
        }
        Some(out)
    }

    /// The command as one line.
    pub fn command_line(&self) -> String {
        self.command
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// How to measure.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Measured runs per allocator.
    pub runs: u32,
    /// Unmeasured glibc runs first.
    pub warmup: u32,
    /// Per-run time limit.
    pub timeout: Option<Duration>,
    /// Folder for the program's output.
    pub log_dir: PathBuf,
}

/// The allocators `compare` uses without `--alloc`: all whose library can be
/// found (GoAlloc built on demand from the source tree), saying which were skipped.
pub fn default_libraries() -> Vec<Library> {
    let mut v = Vec::new();
    for a in Alloc::ALL {
        match run::find(a, true) {
            Ok(lib) => v.push(lib),
            Err(CliError::Usage(m)) | Err(CliError::Failed(m)) => {
                eprintln!("compare: skipping {}: {m}", a.name())
            }
            Err(e) => eprintln!("compare: skipping {}: {e:?}", a.name()),
        }
    }
    v
}

/// A fresh folder for the program's output.
pub fn fresh_log_dir() -> PathBuf {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("cookbook-compare-{}-{stamp}", std::process::id()))
}

/// Runs `cmd` once under `lib`, output to `log`, and measures it with `wait4`.
pub fn measure_once(
    lib: &Library,
    cmd: &[OsString],
    log: &Path,
    timeout: Option<Duration>,
) -> Result<(Ending, Sample)> {
    let (prog, rest) = cmd
        .split_first()
        .ok_or_else(|| CliError::Usage("compare needs a command".into()))?;
    let out = std::fs::File::create(log)
        .map_err(|e| CliError::Failed(format!("cannot create {}: {e}", log.display())))?;
    let err = out
        .try_clone()
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let mut c = run::command(lib, prog, rest);
    c.stdin(Stdio::null()).stdout(out).stderr(err);
    run::restore_default_signals(&mut c);
    let t0 = Instant::now();
    let child = c.spawn().map_err(|e| run::spawn_error(prog, e))?;
    let pid = child.id() as libc::pid_t;
    // A watchdog kills the run at the time limit; it stands down once the
    // child is reaped (told through the channel).
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let timed_out = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = timeout.map(|limit| {
        let timed_out = timed_out.clone();
        std::thread::spawn(move || {
            if done_rx.recv_timeout(limit).is_err() {
                timed_out.store(true, std::sync::atomic::Ordering::SeqCst);
                // SAFETY: plain kill(2) of our own unreaped child (the main
                // thread has not reported the reap yet).
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        })
    });
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = loop {
        // SAFETY: wait4 on our own child with valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break r;
    };
    let wall = t0.elapsed();
    let _ = done_tx.send(());
    if let Some(w) = watchdog {
        let _ = w.join();
    }
    drop(child);
    if r != pid {
        return Err(CliError::Failed(format!(
            "wait4 failed: {}",
            std::io::Error::last_os_error()
        )));
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let sample = Sample {
        wall_s: wall.as_secs_f64(),
        user_s: secs(ru.ru_utime),
        sys_s: secs(ru.ru_stime),
        max_rss_kib: ru.ru_maxrss as f64,
        minor_faults: ru.ru_minflt as f64,
    };
    let ending = if timed_out.load(std::sync::atomic::Ordering::SeqCst) {
        Ending::TimedOut
    } else if libc::WIFEXITED(status) {
        match libc::WEXITSTATUS(status) {
            0 => Ending::Ok,
            c => Ending::Code(c),
        }
    } else if libc::WIFSIGNALED(status) {
        Ending::Signal(libc::WTERMSIG(status))
    } else {
        Ending::Code(-1)
    };
    Ok((ending, sample))
}

fn fmt_secs(s: f64) -> String {
    if s >= 60.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else if s >= 10.0 {
        format!("{s:.0}s")
    } else {
        format!("{s:.1}s")
    }
}

/// Measures `cmd` under each of `libs`, interleaved, with progress on
/// standard error (`[i/n] allocator, run r of N`, time left, log folder).
pub fn measure(cmd: &[OsString], libs: &[Library], plan: &Plan) -> Result<Comparison> {
    std::fs::create_dir_all(&plan.log_dir)
        .map_err(|e| CliError::Failed(format!("cannot create {}: {e}", plan.log_dir.display())))?;
    let total = plan.runs as usize * libs.len() + plan.warmup as usize;
    eprintln!(
        "compare: {} run(s) under {} allocator(s) + {} warm-up; the program's output goes to {}",
        plan.runs,
        libs.len(),
        plan.warmup,
        plan.log_dir.display()
    );
    let started = Instant::now();
    let mut done = 0usize;
    let progress = |done: usize, what: &str, took: f64, e: &Ending| {
        let per = started.elapsed().as_secs_f64() / done as f64;
        let left = per * (total - done) as f64;
        let status = if *e == Ending::Ok {
            String::new()
        } else {
            format!(" FAILED ({e})")
        };
        eprintln!(
            "  [{done}/{total}] {what}: {}{status}; about {} left",
            fmt_secs(took),
            fmt_secs(left)
        );
    };
    let system = run::find(Alloc::System, false)?;
    for w in 0..plan.warmup {
        let log = plan.log_dir.join(format!("warmup-{}.log", w + 1));
        let (e, s) = measure_once(&system, cmd, &log, plan.timeout)?;
        done += 1;
        progress(done, "warm-up under system", s.wall_s, &e);
    }
    let mut results: Vec<AllocResult> = libs
        .iter()
        .map(|l| AllocResult {
            lib: l.clone(),
            runs: Vec::new(),
        })
        .collect();
    for round in 0..plan.runs as usize {
        for k in 0..libs.len() {
            let i = (round + k) % libs.len();
            let name = libs[i].alloc.name();
            let log = plan.log_dir.join(format!("{name}-{}.log", round + 1));
            let (ending, sample) = measure_once(&libs[i], cmd, &log, plan.timeout)?;
            done += 1;
            progress(
                done,
                &format!("{name}, run {} of {}", round + 1, plan.runs),
                sample.wall_s,
                &ending,
            );
            results[i].runs.push(RunRecord {
                ending,
                sample,
                log,
            });
        }
    }
    Ok(Comparison {
        command: cmd.to_vec(),
        runs_per_alloc: plan.runs,
        results,
        log_dir: plan.log_dir.clone(),
    })
}

fn fmt_metric(i: usize, v: f64) -> String {
    match i {
        0..=2 => {
            if v >= 10.0 {
                format!("{v:.1} s")
            } else {
                format!("{v:.3} s")
            }
        }
        3 => fmt_kib(v),
        _ => format!("{v:.0}"),
    }
}

/// KiB as a readable size.
pub fn fmt_kib(kib: f64) -> String {
    if kib >= 1024.0 * 1024.0 {
        format!("{:.2} GiB", kib / (1024.0 * 1024.0))
    } else if kib >= 1024.0 {
        format!("{:.1} MiB", kib / 1024.0)
    } else {
        format!("{kib:.0} KiB")
    }
}

/// A failing allocator's one-line description.
pub fn failure_text(r: &AllocResult) -> Option<String> {
    let f = r.first_failure()?;
    let failed = r.runs.iter().filter(|x| x.ending != Ending::Ok).count();
    Some(format!(
        "FAILED in {failed} of {} runs (first: {}); output: {}",
        r.runs.len(),
        f.ending,
        f.log.display()
    ))
}

/// The terminal report.
pub fn table(c: &Comparison) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: median of {} run(s) per allocator, interleaved",
        c.command_line(),
        c.runs_per_alloc
    );
    if c.baseline().is_none() {
        let _ = writeln!(s, "(no ratios: glibc (system) was not measured or failed)");
    }
    let _ = writeln!(s);
    let mut head = format!("{:<9}", "allocator");
    for (name, _) in Sample::METRICS {
        let _ = write!(head, " {name:>13} {:>7}", "×glibc");
    }
    let _ = writeln!(s, "{head}");
    for r in &c.results {
        let name = r.lib.alloc.name();
        match r.median() {
            Some(m) => {
                let ratio = c.ratio(&m);
                let mut line = format!("{name:<9}");
                for (i, v) in m.values().iter().enumerate() {
                    let q = ratio
                        .map(|q| q[i])
                        .filter(|q| q.is_finite())
                        .map(|q| format!("{q:.2}"))
                        .unwrap_or_else(|| "-".into());
                    let _ = write!(line, " {:>13} {q:>7}", fmt_metric(i, *v));
                }
                let _ = writeln!(s, "{line}");
            }
            None => {
                let _ = writeln!(
                    s,
                    "{name:<9} {}",
                    failure_text(r).unwrap_or_else(|| "no runs".into())
                );
            }
        }
    }
    let _ = writeln!(s);
    for r in &c.results {
        let _ = writeln!(
            s,
            "{:<9} {}{}",
            r.lib.alloc.name(),
            r.lib.version,
            r.lib
                .path
                .as_ref()
                .map(|p| format!(" ({})", p.display()))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(s, "program output: {}", c.log_dir.display());
    s
}

/// The measurements as JSON (every run, medians, ratios to glibc).
pub fn json(c: &Comparison) -> serde_json::Value {
    let sample = |s: &Sample| {
        serde_json::json!({
            "wall_s": s.wall_s, "user_s": s.user_s, "sys_s": s.sys_s,
            "max_rss_kib": s.max_rss_kib, "minor_faults": s.minor_faults,
        })
    };
    let allocs: Vec<serde_json::Value> = c
        .results
        .iter()
        .map(|r| {
            let med = r.median();
            let ratio = med.as_ref().and_then(|m| c.ratio(m)).map(|q| {
                serde_json::json!({
                    "wall_s": q[0], "user_s": q[1], "sys_s": q[2],
                    "max_rss_kib": q[3], "minor_faults": q[4],
                })
            });
            serde_json::json!({
                "allocator": r.lib.alloc.name(),
                "library": r.lib.path.as_ref().map(|p| p.display().to_string()),
                "version": r.lib.version,
                "ok": r.ok(),
                "failure": failure_text(r),
                "median": med.as_ref().map(sample),
                "ratio_to_system": ratio,
                "runs": r.runs.iter().map(|x| serde_json::json!({
                    "ending": x.ending.to_string(),
                    "ok": x.ending == Ending::Ok,
                    "measured": sample(&x.sample),
                    "log": x.log.display().to_string(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "command": c.command.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>(),
        "runs_per_allocator": c.runs_per_alloc,
        "log_dir": c.log_dir.display().to_string(),
        "allocators": allocs,
    })
}

/// A bar chart of each allocator's medians as a ratio to glibc.
pub fn chart(c: &Comparison, title: &str) -> Option<String> {
    c.baseline()?;
    let categories: Vec<String> = Sample::METRICS.iter().map(|(n, _)| n.to_string()).collect();
    let series: Vec<(String, Vec<Option<f64>>)> = c
        .results
        .iter()
        .map(|r| {
            let q = r.median().and_then(|m| c.ratio(&m));
            let vals = (0..5)
                .map(|i| q.map(|q| q[i]).filter(|v| v.is_finite()))
                .collect();
            (r.lib.alloc.name().to_string(), vals)
        })
        .collect();
    Some(svg::bar_chart(
        title,
        "ratio to glibc (lower is better)",
        &categories,
        &series,
    ))
}

/// Runs `cookbook compare`.
pub fn run(args: Args) -> Result<()> {
    let libs = match &args.alloc {
        Some(list) => {
            let mut seen = Vec::new();
            let mut libs = Vec::new();
            for &a in list {
                if seen.contains(&a) {
                    return Err(CliError::Usage(format!("--alloc names {} twice", a.name())));
                }
                seen.push(a);
                libs.push(run::find(a, true)?);
            }
            libs
        }
        None => default_libraries(),
    };
    let plan = Plan {
        runs: args.runs,
        warmup: args.warmup,
        timeout: args.timeout.map(Duration::from_secs_f64),
        log_dir: args.logs.clone().unwrap_or_else(fresh_log_dir),
    };
    let c = measure(&args.command, &libs, &plan)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json(&c)).expect("JSON of plain values")
        );
    } else {
        print!("{}", table(&c));
    }
    if let Some(path) = &args.svg {
        match chart(&c, &format!("{} under each allocator", c.command_line())) {
            Some(svg) => {
                std::fs::write(path, svg).map_err(|e| {
                    CliError::Failed(format!("cannot write {}: {e}", path.display()))
                })?;
                eprintln!("compare: chart written to {}", path.display());
            }
            None => eprintln!("compare: no chart: glibc (system) was not measured or failed"),
        }
    }
    if c.results.iter().any(|r| !r.ok()) {
        return Err(CliError::Failed(
            "the program failed under at least one allocator (see above)".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn measures_a_child_and_reports_a_failure_apart() {
        let dir = fresh_log_dir();
        let system = run::find(Alloc::System, false).unwrap();
        let plan = Plan {
            runs: 3,
            warmup: 0,
            timeout: Some(Duration::from_secs(20)),
            log_dir: dir.clone(),
        };
        // Touches about 64 MiB: the peak RSS must show it.
        let cmd = os(&[
            "python3",
            "-c",
            "import sys; b = bytearray(64 << 20); print('no' + 'ise'); sys.exit(0)",
        ]);
        let c = measure(&cmd, std::slice::from_ref(&system), &plan).unwrap();
        let m = c.results[0].median().expect("all runs ok");
        assert!(m.max_rss_kib > 60.0 * 1024.0, "{m:?}");
        assert!(m.wall_s > 0.0 && m.minor_faults > 1000.0, "{m:?}");
        assert_eq!(c.ratio(&m).unwrap()[0], 1.0);
        // The program's output is in the log, not the report.
        let log = std::fs::read_to_string(&c.results[0].runs[0].log).unwrap();
        assert!(log.contains("noise"));
        assert!(!table(&c).contains("noise"));

        let bad = os(&["sh", "-c", "kill -SEGV $$"]);
        let c = measure(&bad, std::slice::from_ref(&system), &plan).unwrap();
        assert!(c.results[0].median().is_none());
        assert_eq!(c.results[0].runs[0].ending, Ending::Signal(libc::SIGSEGV));
        assert!(table(&c).contains("FAILED in 3 of 3 runs (first: killed by SIGSEGV)"));
        assert!(chart(&c, "t").is_none());

        let slow = os(&["sleep", "30"]);
        let plan = Plan {
            runs: 1,
            timeout: Some(Duration::from_millis(200)),
            ..plan
        };
        let c = measure(&slow, std::slice::from_ref(&system), &plan).unwrap();
        assert_eq!(c.results[0].runs[0].ending, Ending::TimedOut);
        let _ = std::fs::remove_dir_all(dir);
    }
}
