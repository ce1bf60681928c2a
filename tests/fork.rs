//! `fork()` while other threads allocate: every child must be able to
//! allocate (the allocator's fork handlers take its locks before the fork
//! and reset them in the child, `src/allocator/fork.rs`).
//!
//! - `c_program_forking_under_preload`: `tests/c/fork_stress.c` under
//!   `LD_PRELOAD` of the preloadable library, 200 forks while three threads
//!   churn small, large and aligned objects; each child allocates, checks and
//!   frees, and a child stuck on a lock dies of its own 10 s alarm.
//! - `rust_program_forking_with_goalloc_as_global_allocator`: the same in
//!   this binary, whose global allocator is GoAlloc.
//!
//! Without the handlers both fail within the first few dozen forks (children
//! killed by SIGALRM).

mod support;

use alloc_cookbook::GoAlloc;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use support::preload::{compile_c, preload_so};

#[global_allocator]
static GLOBAL: GoAlloc = GoAlloc::new();

#[test]
fn c_program_forking_under_preload() {
    let Some(exe) = compile_c("fork_stress") else {
        return;
    };
    let out = Command::new(&exe)
        .arg("200")
        .env("LD_PRELOAD", preload_so())
        .output()
        .expect("run fork_stress");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}\n{text}", out.status);
    assert!(text.contains("0 bad children"), "{text}");
}

/// What a child does: allocate, check and free through GoAlloc, then
/// `_exit` (no std teardown, no stdout lock).
fn child() -> ! {
    // SAFETY: alarm has no preconditions; _exit ends the child at once.
    unsafe { libc::alarm(10) };
    let mut ok = true;
    for round in 0..200usize {
        let n = if round % 10 == 0 {
            100_000
        } else {
            8 + round * 13
        };
        let v = vec![round as u8; n];
        ok &= v.iter().step_by(61).all(|&b| b == round as u8);
        let s: Box<[u64]> = (0..round as u64).collect();
        ok &= s.iter().sum::<u64>() == (round as u64 * round.saturating_sub(1) as u64) / 2;
    }
    // SAFETY: ends the child process without running anything else.
    unsafe { libc::_exit(if ok { 0 } else { 3 }) }
}

#[test]
fn rust_program_forking_with_goalloc_as_global_allocator() {
    static STOP: AtomicBool = AtomicBool::new(false);
    let churners: Vec<_> = (0..3u64)
        .map(|t| {
            std::thread::spawn(move || {
                let mut seed = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                let mut keep: Vec<Vec<u8>> = (0..64).map(|_| Vec::new()).collect();
                while !STOP.load(Ordering::Relaxed) {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let i = (seed >> 8) as usize % 64;
                    let n = if seed % 8 == 0 {
                        33_000 + (seed >> 20) as usize % 300_000
                    } else {
                        16 + (seed >> 20) as usize % 2000
                    };
                    keep[i] = vec![i as u8; n];
                }
            })
        })
        .collect();
    let mut bad = Vec::new();
    for i in 0..100 {
        // SAFETY: the child only allocates through GoAlloc and `_exit`s.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            child();
        }
        assert!(pid > 0, "fork failed");
        let mut status = 0;
        // SAFETY: waiting for our own child.
        let got = unsafe { libc::waitpid(pid, &mut status, 0) };
        if got != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            bad.push((i, status));
            if bad.len() > 3 {
                break;
            }
        }
    }
    STOP.store(true, Ordering::Relaxed);
    for t in churners {
        t.join().unwrap();
    }
    assert!(
        bad.is_empty(),
        "children that failed (index, wait status): {bad:?}"
    );
}
