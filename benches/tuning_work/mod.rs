//! The workloads of the tuning bench, shared by its criterion bench
//! (`benches/tuning.rs`) and its callgrind twin (`benches/tuning_callgrind.rs`),
//! and the knobs it turns.
//!
//! A knob is chosen per process: by the allocator's own environment variable
//! (`_RJEM_MALLOC_CONF` for tikv-jemallocator's prefixed jemalloc, `MIMALLOC_*`
//! for mimalloc), read when the allocator starts, or by `COOKBOOK_TUNE` for the
//! knobs this process sets through an API before it measures (glibc's
//! `mallopt`, `GoAlloc`'s scavenger threshold). The name of the setting, as the
//! tables show it, is exactly what was set, so a row says how to reproduce it.
//!
//! The fact a reader gets wrong: every knob here trades resident memory for
//! time. Keeping a freed block mapped makes the next allocation of it cheap
//! and keeps its pages in RAM; giving it back costs a page fault per page the
//! next time. The bench reports both: the time per use and the resident
//! memory after the use has freed everything.
#![allow(dead_code)] // each bench binary uses a different part of this module

use alloc_recipes::size_aligned::{boxed_tokens, inline_tokens, TokenBoxed, TokenInline};
use std::hint::black_box;

/// The large buffer: 64 MiB, above glibc's largest dynamic mmap threshold.
pub const BUFFER_BYTES: usize = 64 << 20;

/// Tokens per vector: as in the size-aligned bench (64 B inline tokens make a
/// 64,000,000-byte vector, boxed-variant tokens a 16,000,000-byte one).
pub const TOKENS: u32 = 1_000_000;

// ANCHOR: workloads
/// One use of a fresh 64 MiB buffer: allocate, fill, read back, free.
pub fn fresh_buffer() -> u8 {
    let mut v: Vec<u8> = Vec::with_capacity(BUFFER_BYTES);
    v.resize(BUFFER_BYTES, 1);
    let last = v[BUFFER_BYTES - 1];
    black_box(&v);
    last
}

/// The size-aligned bench's token case with the large variant inline: one
/// 64 MB vector per call.
pub fn tokens_inline() -> usize {
    let v = inline_tokens(TOKENS);
    v.iter()
        .filter(|t| matches!(t, TokenInline::Word(_)))
        .count()
}

/// The same tokens with the large variant boxed: a 16 MB vector plus one
/// small box per hundred tokens.
pub fn tokens_boxed() -> usize {
    let v = boxed_tokens(TOKENS);
    v.iter()
        .filter(|t| matches!(t, TokenBoxed::Word(_)))
        .count()
}
// ANCHOR_END: workloads

/// The environment variables through which an allocator reads its options
/// at start; a set one names the setting.
pub const ALLOCATOR_ENV: [&str; 5] = [
    "_RJEM_MALLOC_CONF",
    "MIMALLOC_PURGE_DELAY",
    "MIMALLOC_ARENA_EAGER_COMMIT",
    "MIMALLOC_ALLOW_LARGE_OS_PAGES",
    "MIMALLOC_RESERVE_OS_MEMORY",
];

/// The knobs `COOKBOOK_TUNE` can ask for, set through an API in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tune {
    /// glibc: `mallopt(M_MMAP_MAX, 0)` (never `mmap` a block, so large
    /// blocks come from the heap) and `mallopt(M_TRIM_THRESHOLD, 1 GiB)`
    /// (do not give the top of the heap back). The mmap threshold itself
    /// cannot be raised above 32 MiB on 64-bit glibc.
    GlibcNoMmap,
    /// `GoAlloc`: a scavenger threshold of 0, so every freed page goes back to
    /// the OS at once (by default idle pages are kept up to the retention goal:
    /// 110% of the recent peak in use, with no cap).
    GoScavengeZero,
}

impl Tune {
    const ALL: [(&'static str, Tune); 2] = [
        ("glibc-no-mmap", Tune::GlibcNoMmap),
        ("goalloc-scavenge-0", Tune::GoScavengeZero),
    ];

    /// How the tables name it.
    pub fn label(self) -> &'static str {
        match self {
            Tune::GlibcNoMmap => "mallopt(M_MMAP_MAX, 0), mallopt(M_TRIM_THRESHOLD, 1 GiB)",
            Tune::GoScavengeZero => "set_scavenge_threshold(0)",
        }
    }
}

/// `COOKBOOK_TUNE`, checked: exits with code 2 naming the bad value.
pub fn tune_from_env() -> Option<Tune> {
    let v = std::env::var("COOKBOOK_TUNE")
        .ok()
        .filter(|v| !v.is_empty())?;
    match Tune::ALL.iter().find(|(n, _)| *n == v) {
        Some((_, t)) => Some(*t),
        None => {
            eprintln!(
                "error: COOKBOOK_TUNE={v:?} is not one of {}",
                Tune::ALL.map(|(n, _)| n).join(", ")
            );
            std::process::exit(2);
        }
    }
}

/// Applies the `COOKBOOK_TUNE` knob (if any) and returns the setting's name:
/// "default", or what was set. Exits with code 2 when the knob does not
/// belong to the allocator under the bench, or the allocator refused it.
pub fn apply_setting(which: crate::common::Which, goalloc: &alloc_cookbook::GoAlloc) -> String {
    use crate::common::Which;
    let mut parts: Vec<String> = ALLOCATOR_ENV
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| format!("{k}={v}")))
        .collect();
    if let Some(t) = tune_from_env() {
        let ok = match (t, which) {
            // SAFETY: mallopt only changes glibc's malloc parameters.
            (Tune::GlibcNoMmap, Which::System) => unsafe {
                libc::mallopt(libc::M_MMAP_MAX, 0) == 1
                    && libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30) == 1
            },
            (Tune::GoScavengeZero, Which::GoAlloc) => goalloc.set_scavenge_threshold(0),
            _ => {
                eprintln!(
                    "error: COOKBOOK_TUNE={:?} does not apply to COOKBOOK_ALLOC={}",
                    t.label(),
                    which.name()
                );
                std::process::exit(2);
            }
        };
        if !ok {
            eprintln!("error: the allocator refused {}", t.label());
            std::process::exit(2);
        }
        parts.push(t.label().to_string());
    }
    if parts.is_empty() {
        "default".into()
    } else {
        parts.join(", ")
    }
}
