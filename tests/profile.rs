//! `cookbook profile` end to end: the recording shim preloaded into real
//! programs (the fixture examples/profile_fixture.rs, the real_world example,
//! programs that fork, use threads, die by a signal), and the CLI's errors.
//!
//! The fact a reader gets wrong: these tests build the shim and the fixture
//! themselves (`cargo build --example ... --features profile-shim`), because
//! `cargo test` never enables that feature (it must stay off for the rest of
//! the workspace) and `cargo test --test profile` builds no examples.

use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const COOKBOOK: &str = env!("CARGO_BIN_EXE_cookbook");

/// The target profile folder (`target/debug`) this test's cookbook lives in.
fn target_dir() -> PathBuf {
    Path::new(COOKBOOK)
        .parent()
        .expect("cookbook has a folder")
        .to_path_buf()
}

/// Builds the shim, the fixture and the real_world example once.
fn built() -> &'static (PathBuf, PathBuf, PathBuf) {
    static BUILT: OnceLock<(PathBuf, PathBuf, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        for args in [
            &[
                "build",
                "--example",
                "profile_shim",
                "--example",
                "profile_fixture",
                "--features",
                "profile-shim",
            ][..],
            &["build", "-p", "alloc-recipes", "--example", "real_world"][..],
        ] {
            let st = Command::new(&cargo)
                .args(args)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("cargo runs");
            assert!(st.success(), "cargo {args:?} failed");
        }
        let d = target_dir().join("examples");
        (
            d.join("libprofile_shim.so"),
            d.join("profile_fixture"),
            d.join("real_world"),
        )
    })
}

fn cookbook(args: &[&str]) -> Output {
    Command::new(COOKBOOK)
        .args(args)
        .output()
        .expect("cookbook runs")
}

/// Profiles `cmd` with every call site recorded; returns the JSON report and the output.
fn profile(extra: &[&str], cmd: &[&str]) -> (Value, Output) {
    let (shim, _, _) = built();
    let mut args = vec!["profile", "--json", "--shim", shim.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(cmd);
    let out = cookbook(&args);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: not JSON ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (v, out)
}

fn histogram(v: &Value) -> HashMap<u64, u64> {
    v["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_u64().unwrap(), p[1].as_u64().unwrap()))
        .collect()
}

fn site<'a>(v: &'a Value, function: &str) -> &'a Value {
    v["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["function"].as_str() == Some(function))
        .unwrap_or_else(|| panic!("no call site {function}; sites: {:#}", v["sites"]))
}

fn allocations(v: &Value) -> u64 {
    v["allocations"].as_u64().unwrap()
}

#[test]
fn fixture_pattern_is_reported_exactly() {
    let (_, fixture, _) = built();
    let (v, out) = profile(
        &["--call-sites", "all"],
        &[fixture.to_str().unwrap(), "pattern"],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(v["complete"], true);
    let h = histogram(&v);
    assert_eq!(h[&33], 1000, "1,000 requests of 33 B");
    assert_eq!(
        h[&(1 << 20)],
        10 + 1,
        "10 buffers of 1 MiB and the Vec's last growth"
    );
    let s = site(&v, "profile_fixture::requests_33");
    assert_eq!(s["count"], 1000.0);
    assert_eq!(
        (s["min_size"].as_u64(), s["max_size"].as_u64()),
        (Some(33), Some(33))
    );
    let s = site(&v, "profile_fixture::tiny_strings");
    assert_eq!(s["count"], 5000.0);
    assert_eq!(
        (s["min_size"].as_u64(), s["max_size"].as_u64()),
        (Some(4), Some(4))
    );
    // The Vec<u64> pushed to 1,000,000: capacity 4 (32 B), doubled 18 times to 2^20.
    let chain = &v["chains"][0];
    assert_eq!(chain["reallocs"], 18);
    assert_eq!(chain["first_size"], 32);
    assert_eq!(chain["final_size"], 8 << 20);
    assert!(chain["site"]
        .as_str()
        .unwrap()
        .starts_with("profile_fixture::grow_by_push"));
    let s = site(&v, "profile_fixture::grow_by_push");
    assert_eq!(s["count"], 19.0, "one malloc and 18 reallocs");
    // Ten buffers freed by the other thread.
    let s = site(&v, "profile_fixture::cross_thread_buffers::{{closure}}");
    assert_eq!(s["count"], 10.0);
    assert_eq!(s["cross_thread_freed"], 10);
    assert!(v["cross_thread_frees"]["count"].as_u64().unwrap() >= 10);
    let titles: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["chapter_path"].as_str().unwrap())
        .collect();
    for chapter in [
        "recipes/tiny-objects.md",
        "recipes/batch.md",
        "recipes/pooling.md",
    ] {
        assert!(
            titles.contains(&chapter),
            "{chapter} missing from {titles:?}"
        );
    }
}

#[test]
fn threads_lose_no_events() {
    let (_, fixture, _) = built();
    let (v, out) = profile(&[], &[fixture.to_str().unwrap(), "threads"]);
    assert!(out.status.success(), "{out:?}");
    let h = histogram(&v);
    for t in 0..8 {
        assert_eq!(
            h[&(1000 + t)],
            10_000,
            "thread {t}'s requests of {} B",
            1000 + t
        );
    }
    let busy = v["threads"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["allocs"].as_u64().unwrap() >= 10_000)
        .count();
    assert_eq!(busy, 8, "{:#}", v["threads"]);
    assert!(v["live_at_end"]["objects"].as_u64().unwrap() < 100);
}

#[test]
fn forked_children_get_their_own_profiles() {
    let (_, fixture, _) = built();
    let dir =
        std::env::temp_dir().join(format!("cookbook-profile-test-fork-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (v, out) = profile(
        &["--dir", dir.to_str().unwrap()],
        &[fixture.to_str().unwrap(), "fork"],
    );
    assert!(out.status.success(), "{out:?}");
    let others = v["other_processes"].as_array().unwrap();
    assert_eq!(others.len(), 4, "{others:#?}");
    let mut sizes = vec![];
    for o in others {
        assert_eq!(o["complete"], true, "{o}");
        let file = dir.join(format!("{}.cbprof", o["pid"]));
        let out = cookbook(&["profile", "--json", "--read", file.to_str().unwrap()]);
        assert!(out.status.success(), "{out:?}");
        let c: Value = serde_json::from_slice(&out.stdout).unwrap();
        let h = histogram(&c);
        let k = (0..4)
            .find(|k| h.get(&(2000 + k)) == Some(&1000))
            .unwrap_or_else(|| panic!("child {} has no 1,000 requests of 2000+k B", o["pid"]));
        sizes.push(k);
    }
    sizes.sort();
    assert_eq!(sizes, [0, 1, 2, 3]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_killed_program_leaves_a_readable_profile() {
    let (_, fixture, _) = built();
    for (mode, exit) in [
        ("signal", "killed by signal 9"),
        ("_exit", "exited with status 3"),
    ] {
        let (v, out) = profile(&[], &[fixture.to_str().unwrap(), mode]);
        assert!(out.status.success(), "{mode}: {out:?}");
        assert_eq!(v["complete"], false, "{mode}");
        assert!(
            v["exit"].as_str().unwrap().starts_with(exit),
            "{mode}: {}",
            v["exit"]
        );
        assert!(v["incomplete_why"]
            .as_str()
            .unwrap()
            .contains("exit handlers"));
        assert_eq!(histogram(&v)[&777], 1000, "{mode}");
        assert!(v["live_at_end"]["objects"].as_u64().unwrap() >= 1000);
    }
}

/// The real_world example counts its own allocations per step with the
/// project's counting allocator; the shim must see the same number. Both
/// runs share the fixed start-up and reporting work, so the difference
/// between a run on N lines and one on 2N lines is exactly the per-line work.
#[test]
fn agrees_with_the_counting_allocator_on_real_world() {
    let (_, _, real_world) = built();
    let dir = std::env::temp_dir().join(format!("cookbook-profile-test-rw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for step in ["0", "5"] {
        let mut seen = vec![];
        for lines in [2000u64, 4000] {
            let log = dir.join(format!("log-{lines}"));
            std::fs::write(&log, alloc_recipes::real_world::loggen::generate(7, lines)).unwrap();
            let (v, out) = profile(
                &["--call-sites", "off"],
                &[
                    real_world.to_str().unwrap(),
                    "--step",
                    step,
                    "--lines",
                    &lines.to_string(),
                    "--log",
                    log.to_str().unwrap(),
                ],
            );
            assert!(out.status.success(), "{out:?}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            let result = stderr
                .lines()
                .find(|l| l.starts_with("RESULT "))
                .unwrap_or_else(|| panic!("no RESULT line in {stderr}"));
            let counted: u64 = result.split_whitespace().nth(2).unwrap().parse().unwrap();
            let recorded = allocations(&v);
            assert!(recorded >= counted, "step {step}: {recorded} < {counted}");
            seen.push((counted, recorded));
        }
        let counted = seen[1].0 - seen[0].0;
        let recorded = seen[1].1 - seen[0].1;
        assert_eq!(
            recorded, counted,
            "step {step}: allocations for 2,000 more lines: shim {recorded}, counting allocator {counted}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_is_refused_with_a_clear_message() {
    let (shim, _, _) = built();
    let shim = shim.to_str().unwrap();
    let out = cookbook(&["profile", "--shim", shim]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CMD"));
    let out = cookbook(&["profile", "--shim", shim, "--", "no-such-command-xyz"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"no-such-command-xyz\" not found"));
    let out = cookbook(&["profile", "--shim", shim, "--", "/no/such/program"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/program"));
    // A statically linked program: ldconfig is one on Debian.
    if let Some(stat) = ["/sbin/ldconfig", "/usr/sbin/ldconfig"]
        .iter()
        .find(|p| Path::new(p).is_file())
    {
        let out = cookbook(&["profile", "--shim", shim, "--", stat]);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("statically linked"),
            "{out:?}"
        );
    } else {
        eprintln!("no statically linked ldconfig here: that case is not checked");
    }
    let out = cookbook(&["profile", "--call-sites", "lots", "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lots"));
}

#[test]
fn an_exec_starts_a_new_profile_for_the_same_pid() {
    let (_, fixture, _) = built();
    let script = format!("exec {} threads", fixture.display());
    let (v, out) = profile(&[], &["/bin/sh", "-c", &script]);
    assert!(out.status.success(), "{out:?}");
    // The report is the last image (the fixture), the shell is listed before it.
    assert_eq!(histogram(&v)[&1000], 10_000, "the fixture's own requests");
    let earlier = v["other_processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["how"].as_str().unwrap().contains("earlier image"))
        .count();
    assert_eq!(earlier, 1, "{:#}", v["other_processes"]);
}
