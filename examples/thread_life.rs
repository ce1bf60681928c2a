//! Where a short-lived thread's time goes, per allocator: from `spawn` to
//! the thread's first line, the thread's own work (one mixed batch of 500
//! allocations and frees, the allocator bench's "one thread's life"), and
//! from its last line until `join` returns. On Linux it also counts how
//! often the CPUs entered their halt idle state per thread (cpuidle
//! `state1`, the `haltpoll` driver's halt on a KVM guest).
//!
//! ```text
//! cargo run --release --example thread_life [THREADS] [--spin MICROS]
//! ```
//!
//! `--spin` adds that much busy waiting at the end of each thread's work,
//! for every allocator: on the project's 2-vCPU VM a thread that finishes
//! sooner left the waiting vCPU idle in a way that made it halt, and the
//! wake-ups then cost more than the work (see the allocator architecture
//! chapter's targets section).

use alloc_cookbook::GoAlloc;
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

static GOALLOC: GoAlloc = GoAlloc::new();
static MIMALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
static JEMALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The allocator bench's mixed batch: 500 objects of 16 B to 1 KiB, then their frees.
const MIXED: [usize; 8] = [24, 40, 72, 136, 264, 520, 1032, 16];

fn mixed_batch<A: GlobalAlloc>(a: &A) {
    let mut ptrs = [0usize; 500];
    for (i, slot) in ptrs.iter_mut().enumerate() {
        let l = Layout::from_size_align(MIXED[i % 8], 8).expect("a valid layout");
        // SAFETY: a non-zero layout; the object is checked, written in
        // bounds and freed below with the same layout.
        unsafe {
            let p = a.alloc(l);
            assert!(!p.is_null(), "out of memory");
            p.write(1);
            *slot = p as usize;
        }
    }
    for (i, &p) in black_box(&ptrs).iter().enumerate() {
        let l = Layout::from_size_align(MIXED[i % 8], 8).expect("a valid layout");
        // SAFETY: allocated above with this layout, freed once.
        unsafe { a.dealloc(p as *mut u8, l) };
    }
}

/// Monotonic nanoseconds, comparable between threads.
fn now_ns(origin: Instant) -> u64 {
    origin.elapsed().as_nanos() as u64
}

/// Times the CPUs entered cpuidle state 1 (halt), summed; None off Linux or without cpuidle.
fn halts() -> Option<u64> {
    let mut total = 0;
    for cpu in 0.. {
        let path = format!("/sys/devices/system/cpu/cpu{cpu}/cpuidle/state1/usage");
        match std::fs::read_to_string(&path) {
            Ok(s) => total += s.trim().parse::<u64>().ok()?,
            Err(_) if cpu > 0 => return Some(total),
            Err(_) => return None,
        }
    }
    Some(total)
}

struct Split {
    start: f64,
    work: f64,
    exit: f64,
    life: f64,
    halts: Option<f64>,
}

fn measure<A: GlobalAlloc + Sync>(a: &'static A, threads: u64, spin_us: u64) -> Split {
    let origin = Instant::now();
    let (start, work, exit) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    mixed_batch(a); // the main thread's first use, outside the timing
    let h0 = halts();
    let t0 = Instant::now();
    for _ in 0..threads {
        let spawned = now_ns(origin);
        let (start, work) = (&start, &work);
        let ended = std::thread::scope(|s| {
            s.spawn(move || {
                let first = now_ns(origin);
                start.fetch_add(first - spawned, Relaxed);
                mixed_batch(a);
                let spin = Instant::now();
                while (spin.elapsed().as_micros() as u64) < spin_us {
                    std::hint::spin_loop();
                }
                let last = now_ns(origin);
                work.fetch_add(last - first, Relaxed);
                last
            })
            .join()
            .expect("the thread does not panic")
        });
        exit.fetch_add(now_ns(origin) - ended, Relaxed);
    }
    let life = t0.elapsed().as_nanos() as f64 / threads as f64;
    let per = |c: &AtomicU64| c.load(Relaxed) as f64 / threads as f64;
    Split {
        start: per(&start),
        work: per(&work),
        exit: per(&exit),
        life,
        halts: h0
            .zip(halts())
            .map(|(a, b)| (b - a) as f64 / threads as f64),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut threads, mut spin_us) = (10_000u64, 0u64);
    while let Some(a) = args.next() {
        let bad = |what: &str, v: &str| -> ! {
            eprintln!("error: {what} must be a whole number, got {v:?}");
            std::process::exit(2)
        };
        if a == "--spin" {
            let v = args.next().unwrap_or_default();
            spin_us = v.parse().unwrap_or_else(|_| bad("--spin", &v));
        } else {
            threads = a.parse().unwrap_or_else(|_| bad("THREADS", &a));
            if threads == 0 {
                bad("THREADS (at least 1)", &a);
            }
        }
    }
    println!(
        "{threads} short-lived threads per allocator, {spin_us} us of busy waiting added to each"
    );
    println!(
        "{:<9} {:>11} {:>11} {:>11} {:>11} {:>12}",
        "allocator", "life", "spawn->run", "own work", "exit->join", "halts/thread"
    );
    type Run = fn(u64, u64) -> Split;
    let rows: [(&str, Run); 4] = [
        ("glibc", |t, s| measure(&System, t, s)),
        ("goalloc", |t, s| measure(&GOALLOC, t, s)),
        ("mimalloc", |t, s| measure(&MIMALLOC, t, s)),
        ("jemalloc", |t, s| measure(&JEMALLOC, t, s)),
    ];
    for (i, (name, run)) in rows.iter().enumerate() {
        eprintln!("[{}/{}] {name} ...", i + 1, rows.len());
        let r = run(threads, spin_us);
        let us = |ns: f64| format!("{:.1} us", ns / 1000.0);
        let halts = r.halts.map_or("n/a".into(), |h| format!("{h:.2}"));
        println!(
            "{name:<9} {:>11} {:>11} {:>11} {:>11} {halts:>12}",
            us(r.life),
            us(r.start),
            us(r.work),
            us(r.exit)
        );
    }
}
