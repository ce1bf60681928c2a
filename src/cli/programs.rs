//! The book's table of real programs under each allocator: the program set
//! of `tests/programs/` (CPython's tests, SQLite, git, Redis), each measured
//! by `cookbook compare` (the same code, called in-process) and rendered into
//! `book/src/generated/programs-*.md` and `programs-wall.svg`.
//!
//! Measuring ([`measure`]) is part of `cookbook book`'s bench run; rendering
//! ([`render`]) reads what the last measurement saved in
//! `target/cookbook/programs/`, so `book --no-bench` renders without running
//! anything. A program that is not installed is skipped, and the table says so.
//!
//! The fact a reader would get wrong: each program runs as
//! `bash tests/programs/workload.sh NAME DIR bench` with the allocator
//! preloaded, so the shell and every tool the workload starts run on that
//! allocator too, and the times are the whole workload's.

use super::compare::{self, Plan};
use super::run::{self, Alloc};
use super::{svg, CliError, Result};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// One program of the set.
pub struct Program {
    /// Its name in `tests/programs/workload.sh`.
    pub name: &'static str,
    /// What the workload does (inputs, not results).
    pub workload: &'static str,
    /// Shell test that it is installed.
    pub present: &'static str,
    /// How to install it (pinned Debian packages).
    pub install: &'static str,
}

/// The program set, in table order.
pub const PROGRAMS: [Program; 4] = [
    Program {
        name: "python",
        workload: "CPython 3.11: its regression tests test_dict, test_list, test_set, test_unicode, test_json, test_re in one process, PYTHONMALLOC=malloc",
        present: "python3 -c 'import test.libregrtest, test.test_dict'",
        install: "apt-get install libpython3.11-testsuite=3.11.2-6+deb12u9",
    },
    Program {
        name: "sqlite",
        workload: "sqlite3 shell: 20,000 + 200,000 generated rows, three indexes, a join, a window query, updates, deletes, VACUUM, integrity check",
        present: "command -v sqlite3",
        install: "apt-get install sqlite3=3.40.1-2+deb12u2",
    },
    Program {
        name: "git",
        workload: "git: 3,000 generated files; commit, branch, edit both sides, merge, tag, gc, fsck",
        present: "command -v git",
        install: "apt-get install git=1:2.39.5-0+deb12u3",
    },
    Program {
        name: "redis",
        workload: "redis-server on 127.0.0.1 (lazy freeing on) under redis-benchmark, 11 tests of 20,000 requests, 20 clients; Debian links redis-server against jemalloc, so its glibc column (nothing preloaded) runs on jemalloc too",
        present: "command -v redis-server && command -v redis-benchmark && command -v redis-cli",
        install: "apt-get install redis-server=5:7.0.15-1~deb12u10 redis-tools=5:7.0.15-1~deb12u10",
    },
];

fn failed(msg: impl Into<String>) -> CliError {
    CliError::Failed(msg.into())
}

/// Whether the shell test `test` succeeds (its output discarded).
fn shell_test(test: &str) -> bool {
    Command::new("sh")
        .args(["-c", test])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn installed(p: &Program) -> bool {
    shell_test(p.present)
}

/// The pinned Debian packages the table needs and this machine lacks: the
/// peers' libraries and the programs, as `name=version`.
fn missing_packages() -> Vec<String> {
    let mut pkgs = Vec::new();
    for a in [Alloc::Mimalloc, Alloc::Jemalloc, Alloc::Tcmalloc] {
        if let (Err(_), Some((pkg, pinned))) = (run::find(a, false), a.debian()) {
            pkgs.push(format!("{pkg}={pinned}"));
        }
    }
    for p in &PROGRAMS {
        if !installed(p) {
            let list = p.install.trim_start_matches("apt-get install ");
            pkgs.extend(list.split_whitespace().map(String::from));
        }
    }
    pkgs
}

/// On a fresh machine, run as root with apt-get, installs the missing
/// packages at their pinned versions (as `tests/programs/run.sh` does), so
/// that the README's one command measures the whole table. Elsewhere, or
/// if apt-get fails, it says so; the program or peer is then skipped with
/// the command that installs it.
fn install_missing(log: &Path) {
    let pkgs = missing_packages();
    if pkgs.is_empty() {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let apt = shell_test("command -v apt-get");
    if !root || !apt {
        println!(
            "  missing: {} (not installed here: {}; they are skipped)",
            pkgs.join(" "),
            if root { "no apt-get" } else { "not root" }
        );
        return;
    }
    println!(
        "  installing {} (apt-get, pinned; log: {}) ...",
        pkgs.join(" "),
        log.display()
    );
    let apt_get = |args: &[&str]| {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log);
        let Ok(out) = out else {
            return false;
        };
        let Ok(err) = out.try_clone() else {
            return false;
        };
        Command::new("apt-get")
            .args(["-o", "DPkg::Lock::Timeout=300"])
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(out)
            .stderr(err)
            .status()
            .is_ok_and(|s| s.success())
    };
    apt_get(&["update", "-qq"]);
    let mut args = vec!["install", "-y", "-qq"];
    args.extend(pkgs.iter().map(String::as_str));
    if !apt_get(&args) {
        println!("  apt-get install failed: see {}", log.display());
    }
}

/// Measures every installed program under every allocator found (GoAlloc
/// built on demand), `runs` runs each, and saves one JSON file per program
/// in `results/programs/`. Missing programs and peers are installed first
/// when this runs as root with apt-get ([`install_missing`]). Problems (a
/// skipped program, a failing run) are appended to `problems`.
pub fn measure(root: &Path, results: &Path, runs: u32, problems: &mut Vec<String>) -> Result<()> {
    let dir = results.join("programs");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .map_err(|e| failed(format!("cannot create {}: {e}", dir.display())))?;
    install_missing(&dir.join("apt.log"));
    let libs = compare::default_libraries();
    for a in [
        Alloc::System,
        Alloc::Goalloc,
        Alloc::Mimalloc,
        Alloc::Jemalloc,
    ] {
        if !libs.iter().any(|l| l.alloc == a) {
            problems.push(format!(
                "programs table: {} not available (see `cookbook run --alloc {}`)",
                a.name(),
                a.name()
            ));
        }
    }
    let script = root.join("tests/programs/workload.sh");
    for (i, p) in PROGRAMS.iter().enumerate() {
        println!(
            "[program {}/{}] {} under {} allocators, {runs} runs each ...",
            i + 1,
            PROGRAMS.len(),
            p.name,
            libs.len()
        );
        let file = dir.join(format!("{}.json", p.name));
        let doc = if !installed(p) {
            let why = format!("{} is not installed ({})", p.name, p.install);
            println!("  skipped: {why}");
            problems.push(format!("programs table: {why}"));
            serde_json::json!({"program": p.name, "skipped": why})
        } else {
            let work = dir.join("work").join(p.name);
            let cmd: Vec<OsString> = vec![
                "bash".into(),
                script.clone().into(),
                p.name.into(),
                work.into(),
                "bench".into(),
            ];
            let plan = Plan {
                runs,
                warmup: 1,
                timeout: Some(std::time::Duration::from_secs(600)),
                log_dir: dir.join("logs").join(p.name),
            };
            let c = compare::measure(&cmd, &libs, &plan)?;
            for r in &c.results {
                if let Some(f) = compare::failure_text(r) {
                    problems.push(format!("{} under {}: {f}", p.name, r.lib.alloc.name()));
                }
            }
            let mut doc = compare::json(&c);
            doc["program"] = p.name.into();
            doc
        };
        std::fs::write(
            &file,
            serde_json::to_string_pretty(&doc).expect("JSON of plain values"),
        )
        .map_err(|e| failed(format!("cannot write {}: {e}", file.display())))?;
    }
    Ok(())
}

/// One allocator's cell: the median, with its ratio to glibc, or why not.
fn cell(a: &serde_json::Value, key: &str, fmt: &dyn Fn(f64) -> String) -> String {
    if a["ok"] != true {
        let f = a["failure"].as_str().unwrap_or("failed");
        // "FAILED in 3 of 3 runs (first: killed by SIGSEGV); output: ..." -> the part before ';'.
        let short = f.split(';').next().unwrap_or(f);
        return short.replacen("FAILED", "failed", 1);
    }
    let v = a["median"][key].as_f64().unwrap_or(f64::NAN);
    let ratio = a["ratio_to_system"][key].as_f64();
    match (a["allocator"].as_str(), ratio) {
        (Some("system"), _) | (_, None) => fmt(v),
        (_, Some(q)) => format!("{} ({q:.2}×)", fmt(v)),
    }
}

fn secs(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.1} s")
    } else {
        format!("{v:.2} s")
    }
}

/// Writes `programs-wall.md`, `programs-rss.md`, `programs-notes.md` and
/// `programs-wall.svg` into `out` from the JSON files under
/// `results/programs/`; returns how many programs had measurements.
pub fn render(results: &Path, out: &Path) -> Result<usize> {
    let dir = results.join("programs");
    let mut docs = Vec::new();
    for p in &PROGRAMS {
        let file = dir.join(format!("{}.json", p.name));
        let doc = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        docs.push((p, doc));
    }
    if docs.iter().all(|(_, d)| d.is_none()) && out.join("programs-wall.md").exists() {
        // Nothing measured on this machine (a fresh clone, `--no-bench`): keep
        // the committed tables, which the committed stamp describes, rather
        // than replacing them with "not measured".
        return Ok(0);
    }
    let allocs: Vec<Alloc> = Alloc::ALL
        .into_iter()
        .filter(|a| {
            docs.iter().any(|(_, d)| {
                d.as_ref().is_some_and(|d| {
                    d["allocators"]
                        .as_array()
                        .is_some_and(|v| v.iter().any(|x| x["allocator"] == a.name()))
                })
            })
        })
        .collect();
    let write = |name: &str, text: String| {
        std::fs::write(out.join(name), text)
            .map_err(|e| failed(format!("cannot write {name}: {e}")))
    };
    let mut measured = 0;
    let mut notes = String::new();
    let mut tables = [String::new(), String::new()];
    let keys = [
        ("wall_s", &secs as &dyn Fn(f64) -> String),
        ("max_rss_kib", &compare::fmt_kib),
    ];
    for (t, (key, fmt)) in tables.iter_mut().zip(keys) {
        let _ = write!(t, "| program |");
        for a in &allocs {
            let _ = write!(
                t,
                " {} |",
                if *a == Alloc::System {
                    "glibc"
                } else {
                    a.name()
                }
            );
        }
        let _ = write!(t, "\n|---|");
        for _ in &allocs {
            let _ = write!(t, "---:|");
        }
        let _ = writeln!(t);
        for (p, doc) in &docs {
            let Some(doc) = doc.as_ref().filter(|d| d["allocators"].is_array()) else {
                continue;
            };
            let _ = write!(t, "| {} |", p.name);
            for a in &allocs {
                let found = doc["allocators"]
                    .as_array()
                    .and_then(|v| v.iter().find(|x| x["allocator"] == a.name()));
                let c = found.map_or("not measured".to_string(), |x| cell(x, key, fmt));
                let _ = write!(t, " {c} |");
            }
            let _ = writeln!(t);
        }
    }
    let mut chart_series: Vec<(String, Vec<Option<f64>>)> = allocs
        .iter()
        .map(|a| {
            let name = if *a == Alloc::System {
                "glibc"
            } else {
                a.name()
            };
            (name.to_string(), Vec::new())
        })
        .collect();
    let mut categories = Vec::new();
    for (p, doc) in &docs {
        match doc {
            None => {
                let _ = writeln!(
                    notes,
                    "- **{}**: not measured yet (`cargo run --release -- book` measures it).",
                    p.name
                );
            }
            Some(d) if d["skipped"].is_string() => {
                let _ = writeln!(
                    notes,
                    "- **{}**: skipped, {}.",
                    p.name,
                    d["skipped"].as_str().unwrap_or("")
                );
            }
            Some(d) => {
                measured += 1;
                categories.push(p.name.to_string());
                for (a, (_, vals)) in allocs.iter().zip(chart_series.iter_mut()) {
                    let x = d["allocators"]
                        .as_array()
                        .and_then(|v| v.iter().find(|x| x["allocator"] == a.name()));
                    vals.push(x.and_then(|x| x["ratio_to_system"]["wall_s"].as_f64()));
                }
                let runs = d["runs_per_allocator"].as_u64().unwrap_or(0);
                let _ = writeln!(
                    notes,
                    "- **{}**: {}; median of {runs} runs per allocator, interleaved.",
                    p.name, p.workload
                );
            }
        }
    }
    // Which library each allocator was, from the measurements themselves.
    let mut versions: Vec<String> = Vec::new();
    for (_, d) in &docs {
        if let Some(v) = d.as_ref().and_then(|d| d["allocators"].as_array()) {
            for x in v {
                let s = format!(
                    "{}: {}",
                    x["allocator"].as_str().unwrap_or("?"),
                    x["version"].as_str().unwrap_or("?")
                );
                if !versions.contains(&s) {
                    versions.push(s);
                }
            }
        }
    }
    if !versions.is_empty() {
        let _ = writeln!(notes, "\nAllocators measured: {}.", versions.join("; "));
    }
    let empty = "*(no measurements yet: `cargo run --release -- book` runs the programs)*\n";
    let [wall, rss] = tables;
    write(
        "programs-wall.md",
        if measured > 0 { wall } else { empty.into() },
    )?;
    write(
        "programs-rss.md",
        if measured > 0 { rss } else { empty.into() },
    )?;
    if measured > 0 {
        notes.insert_str(
            0,
            "![Wall time of real programs as a ratio to glibc](generated/programs-wall.svg)\n\n\
             <p class=\"chart-numbers\">The chart's numbers: \
             <a href=\"#time-and-memory-of-real-programs\">the wall-time table above</a>.</p>\n\n",
        );
    }
    write("programs-notes.md", notes)?;
    if measured > 0 {
        write(
            "programs-wall.svg",
            svg::bar_chart(
                "Real programs: wall time as a ratio to glibc",
                "ratio to glibc (lower is faster)",
                &categories,
                &chart_series,
            ),
        )?;
    }
    Ok(measured)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::run;

    #[test]
    fn renders_saved_comparisons_and_skips() {
        let tmp = std::env::temp_dir().join(format!("cookbook-programs-{}", std::process::id()));
        let res = tmp.join("results");
        let out = tmp.join("out");
        std::fs::create_dir_all(res.join("programs")).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        // Nothing measured: the tables say so.
        assert_eq!(render(&res, &out).unwrap(), 0);
        assert!(std::fs::read_to_string(out.join("programs-wall.md"))
            .unwrap()
            .contains("no measurements yet"));
        // A real comparison of a tiny command, saved as `measure` saves it.
        let system = run::find(Alloc::System, false).unwrap();
        let plan = Plan {
            runs: 1,
            warmup: 0,
            timeout: None,
            log_dir: tmp.join("logs"),
        };
        let c = compare::measure(&["true".into()], &[system], &plan).unwrap();
        let mut doc = compare::json(&c);
        doc["program"] = "sqlite".into();
        std::fs::write(res.join("programs/sqlite.json"), doc.to_string()).unwrap();
        std::fs::write(
            res.join("programs/git.json"),
            r#"{"program":"git","skipped":"git is not installed (apt-get install git)"}"#,
        )
        .unwrap();
        assert_eq!(render(&res, &out).unwrap(), 1);
        let wall = std::fs::read_to_string(out.join("programs-wall.md")).unwrap();
        assert!(wall.starts_with("| program | glibc |"), "{wall}");
        assert!(wall.contains("| sqlite | "), "{wall}");
        let notes = std::fs::read_to_string(out.join("programs-notes.md")).unwrap();
        assert!(notes.contains("**git**: skipped"), "{notes}");
        assert!(notes.contains("**python**: not measured yet"), "{notes}");
        assert!(out.join("programs-wall.svg").exists());
        let _ = std::fs::remove_dir_all(tmp);
    }

    #[test]
    fn every_program_has_a_workload() {
        let script = include_str!("../../tests/programs/workload.sh");
        for p in &PROGRAMS {
            assert!(
                script.contains(&format!("  {}) {}_workload ;;", p.name, p.name)),
                "{}",
                p.name
            );
        }
    }

    /// What the main job installs on a fresh machine: every package pinned,
    /// the same pins as `tests/programs/run.sh`, and nothing on this one if
    /// it has the whole set.
    #[test]
    fn missing_packages_are_pinned_as_in_the_programs_script() {
        let script = include_str!("../../tests/programs/run.sh");
        for p in &PROGRAMS {
            let list = p.install.strip_prefix("apt-get install ").expect(p.name);
            for pkg in list.split_whitespace() {
                assert!(pkg.contains('='), "{pkg}: not pinned");
                assert!(script.contains(pkg), "{pkg}: not the pin of run.sh");
            }
        }
        for a in [Alloc::Mimalloc, Alloc::Jemalloc, Alloc::Tcmalloc] {
            let (pkg, pinned) = a.debian().expect("a peer has a package");
            assert!(script.contains(&format!("{pkg}={pinned}")), "{pkg}");
        }
        for pkg in missing_packages() {
            assert!(pkg.contains('='), "{pkg}: not pinned");
        }
    }
}
