//! The workloads of the locks bench, shared by its criterion bench
//! (`benches/locks.rs`) and its callgrind twin (`benches/locks_callgrind.rs`):
//! one free-list pool of buffers behind a `std::sync::Mutex` or a
//! `parking_lot::Mutex`, with the `object-pool` crate (a `parking_lot::Mutex`
//! around a `Vec`) and a fresh `Vec` beside them.
//!
//! The fact a reader gets wrong: the pooling chapter's two shared pools
//! differ in more than their API; `MutexPool` locks a `std::sync::Mutex` and
//! `object-pool` 0.6 a `parking_lot::Mutex`. This bench keeps everything else
//! equal and changes only the lock.
#![allow(dead_code)] // each bench binary uses a different part of this module

use std::hint::black_box;

/// A lock around the pool's free list.
pub trait Lock: Sync {
    fn new(v: Vec<Vec<u8>>) -> Self;
    fn with<R>(&self, f: impl FnOnce(&mut Vec<Vec<u8>>) -> R) -> R;
}

impl Lock for std::sync::Mutex<Vec<Vec<u8>>> {
    fn new(v: Vec<Vec<u8>>) -> Self {
        std::sync::Mutex::new(v)
    }
    fn with<R>(&self, f: impl FnOnce(&mut Vec<Vec<u8>>) -> R) -> R {
        // A push or a pop cannot leave the Vec half-updated: ignore poisoning.
        f(&mut self.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Lock for parking_lot::Mutex<Vec<Vec<u8>>> {
    fn new(v: Vec<Vec<u8>>) -> Self {
        parking_lot::Mutex::new(v)
    }
    fn with<R>(&self, f: impl FnOnce(&mut Vec<Vec<u8>>) -> R) -> R {
        f(&mut self.lock())
    }
}

/// Buffer size and uses per thread, as in the pooling bench's 64 B
/// two-thread group.
pub const SIZE: usize = 64;
pub const USES: usize = 10_000;
/// Idle buffers a pool keeps at most.
pub const MAX_IDLE: usize = 64;

// ANCHOR: workloads
/// A free-list pool behind the lock `L`: pull pops an idle buffer or makes
/// one, and the buffer goes back cleared (both under the lock, once each).
pub struct Pool<L: Lock> {
    free: L,
}

impl<L: Lock> Pool<L> {
    pub fn new() -> Self {
        Pool {
            free: L::new((0..MAX_IDLE).map(|_| Vec::with_capacity(SIZE)).collect()),
        }
    }

    /// One use: pull, fill, read a byte, return.
    pub fn use_once(&self) -> u8 {
        let mut buf = self
            .free
            .with(|f| f.pop())
            .unwrap_or_else(|| Vec::with_capacity(SIZE));
        buf.resize(SIZE, 1);
        let b = black_box(&buf)[SIZE - 1];
        buf.clear();
        self.free.with(|f| {
            if f.len() < MAX_IDLE {
                f.push(buf);
            }
        });
        b
    }
}

impl<L: Lock> Default for Pool<L> {
    fn default() -> Self {
        Self::new()
    }
}

/// One use of a fresh buffer (the baseline).
pub fn fresh_once() -> u8 {
    let mut buf: Vec<u8> = Vec::with_capacity(SIZE);
    buf.resize(SIZE, 1);
    black_box(&buf)[SIZE - 1]
}

/// One use through the `object-pool` crate.
pub fn object_pool_once(pool: &object_pool::Pool<Vec<u8>>) -> u8 {
    let mut buf = pool.pull(|| Vec::with_capacity(SIZE));
    buf.clear();
    buf.resize(SIZE, 1);
    black_box(&*buf)[SIZE - 1]
}

/// `USES` uses on each of two threads at once (started inside the call).
pub fn two_threads(one_use: impl Fn() -> u8 + Sync) -> usize {
    std::thread::scope(|s| {
        let a = s.spawn(|| (0..USES).map(|_| one_use() as usize).sum::<usize>());
        let b = s.spawn(|| (0..USES).map(|_| one_use() as usize).sum::<usize>());
        a.join().unwrap_or(0) + b.join().unwrap_or(0)
    })
}
// ANCHOR_END: workloads
