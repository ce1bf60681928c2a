//! `cookbook run` and `cookbook compare` from the outside: the real binary,
//! real child programs, each allocator actually mapped into the child.
//! Peers that are not installed are skipped with a message (CI installs them
//! through tests/programs/run.sh).

mod support;

use std::process::{Command, Output};

fn cookbook(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cookbook"))
        .args(args)
        .env("COOKBOOK_GOALLOC_LIB", support::preload::preload_so())
        .output()
        .expect("cookbook runs")
}

/// The library file each allocator maps into the child, `None` for glibc.
fn mapped_name(alloc: &str) -> Option<&'static str> {
    match alloc {
        "goalloc" => Some("libgoalloc_preload.so"),
        "mimalloc" => Some("libmimalloc.so"),
        "jemalloc" => Some("libjemalloc.so"),
        "tcmalloc" => Some("libtcmalloc_minimal.so"),
        _ => None,
    }
}

#[test]
fn run_preloads_each_allocator_and_passes_the_exit_code() {
    for alloc in ["system", "goalloc", "mimalloc", "jemalloc", "tcmalloc"] {
        // The child prints its own memory map, then exits with 7.
        let out = cookbook(&[
            "run",
            "--alloc",
            alloc,
            "--",
            "sh",
            "-c",
            "cat /proc/$$/maps; exit 7",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() == Some(2) && stderr.contains("apt-get install") {
            eprintln!("skipping {alloc}: {}", stderr.lines().next().unwrap_or(""));
            continue;
        }
        assert_eq!(out.status.code(), Some(7), "{alloc}: {stderr}");
        let maps = String::from_utf8_lossy(&out.stdout);
        match mapped_name(alloc) {
            Some(lib) => assert!(maps.contains(lib), "{alloc}: {lib} not mapped"),
            None => assert!(!maps.contains("goalloc"), "system run preloaded something"),
        }
    }
}

#[test]
fn run_reports_a_signal_as_128_plus_n() {
    let out = cookbook(&[
        "run",
        "--alloc",
        "goalloc",
        "--",
        "sh",
        "-c",
        "kill -ABRT $$",
    ]);
    assert_eq!(out.status.code(), Some(128 + 6));
}

#[test]
fn run_bad_input_exits_2_naming_the_value() {
    for (args, needle) in [
        (
            &["run", "--alloc", "dlmalloc", "--", "true"][..],
            "dlmalloc",
        ),
        (
            &["run", "--alloc", "goalloc", "--", "/no/such/cmd"][..],
            "/no/such/cmd",
        ),
        (&["run", "--alloc", "goalloc"][..], "CMD"),
        (&["compare", "--runs", "0", "--", "true"][..], "0"),
        (
            &["compare", "--alloc", "system,system", "--", "true"][..],
            "twice",
        ),
    ] {
        let out = cookbook(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn goalloc_library_missing_names_the_build_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_cookbook"))
        .args(["run", "--alloc", "goalloc", "--", "true"])
        .env("COOKBOOK_GOALLOC_LIB", "/no/such/libgoalloc_preload.so")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/libgoalloc_preload.so"));
}

#[test]
fn compare_reports_medians_and_keeps_the_programs_output_out() {
    let out = cookbook(&[
        "compare",
        "--runs",
        "3",
        "--alloc",
        "system,goalloc",
        "--json",
        "--",
        "sh",
        "-c",
        "echo from-the-$((1 + 1)); echo to-std$((2 + 2)) >&2",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // (The command line is in the report; what the program printed is not.)
    assert!(!stdout.contains("from-the-2") && !stderr.contains("to-std4"));
    assert!(stderr.contains("[7/7]"), "progress: {stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let allocs = doc["allocators"].as_array().unwrap();
    assert_eq!(allocs.len(), 2);
    for a in allocs {
        assert_eq!(a["ok"], true, "{a}");
        assert_eq!(a["runs"].as_array().unwrap().len(), 3);
        assert!(a["median"]["max_rss_kib"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(allocs[0]["ratio_to_system"]["wall_s"], 1.0);

    // A program that fails under every allocator: reported, exit 1, no medians.
    let out = cookbook(&[
        "compare", "--runs", "1", "--alloc", "goalloc", "--", "false",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("goalloc   FAILED in 1 of 1 runs (first: exit 1)"),
        "{stdout}"
    );
}
