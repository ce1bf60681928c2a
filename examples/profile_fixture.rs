//! A program with a known allocation pattern, for `cookbook profile`'s tests
//! (tests/profile.rs). It runs on the system allocator (no global allocator
//! of its own), so the recording shim sees every request.
//!
//! ```text
//! profile_fixture pattern   1,000 × 33 B; a Vec<u64> pushed to 1,000,000; 10 × 1 MiB freed
//!                           by another thread; 5,000 strings of 4 B
//! profile_fixture threads   8 threads, thread t makes 10,000 requests of 1000 + t bytes
//! profile_fixture fork      4 children (forked while a thread allocates), child k makes
//!                           1,000 requests of 2000 + k bytes and exits
//! profile_fixture signal    1,000 × 777 B kept, then SIGKILL to itself
//! profile_fixture _exit     1,000 × 777 B kept, then _exit(3)
//! ```

use std::hint::black_box;

#[inline(never)]
fn requests_33() -> usize {
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(1000);
    for _ in 0..1000 {
        kept.push(black_box(Vec::with_capacity(33)));
    }
    kept.len()
}

#[inline(never)]
fn grow_by_push() -> usize {
    let mut v: Vec<u64> = Vec::new();
    for i in 0..1_000_000u64 {
        v.push(black_box(i));
    }
    v.len()
}

#[inline(never)]
fn cross_thread_buffers() -> Vec<Vec<u8>> {
    (0..10).map(|i| vec![i as u8; 1 << 20]).collect()
}

#[inline(never)]
fn tiny_strings() -> usize {
    let mut kept: Vec<String> = Vec::with_capacity(5000);
    for _ in 0..5000 {
        kept.push(black_box(String::from("tiny")));
    }
    kept.len()
}

#[inline(never)]
fn requests_of(size: usize, n: usize) -> Vec<Vec<u8>> {
    let mut kept = Vec::with_capacity(n);
    for _ in 0..n {
        kept.push(black_box(Vec::<u8>::with_capacity(size)));
    }
    kept
}

fn pattern() {
    black_box(requests_33());
    black_box(grow_by_push());
    let buffers = cross_thread_buffers();
    std::thread::spawn(move || drop(black_box(buffers)))
        .join()
        .expect("the freeing thread");
    black_box(tiny_strings());
}

fn threads() {
    let handles: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                for _ in 0..10 {
                    black_box(requests_of(1000 + t, 1000));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a worker");
    }
}

fn fork() {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                black_box(requests_of(3000, 100));
            }
        })
    };
    let mut children = vec![];
    for k in 0..4 {
        // SAFETY: the child only allocates, frees and exits; the shim's fork
        // handlers keep its tables consistent with the thread left behind.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            black_box(requests_of(2000 + k, 1000));
            std::process::exit(0);
        }
        assert!(pid > 0, "fork failed");
        children.push(pid);
    }
    for pid in children {
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child {pid}: status {status}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    busy.join().expect("the busy thread");
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    match mode.as_str() {
        "pattern" => pattern(),
        "threads" => threads(),
        "fork" => fork(),
        "signal" | "_exit" => {
            let kept = requests_of(777, 1000);
            black_box(&kept);
            // SAFETY: ending this process on purpose, without its exit handlers.
            unsafe {
                if mode == "signal" {
                    libc::kill(libc::getpid(), libc::SIGKILL);
                }
                libc::_exit(3);
            }
        }
        other => {
            eprintln!("usage: profile_fixture pattern|threads|fork|signal|_exit (got {other:?})");
            std::process::exit(2);
        }
    }
}
