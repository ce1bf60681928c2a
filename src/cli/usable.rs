//! Measured usable sizes: what GoAlloc, glibc, mimalloc and jemalloc really hand out.
//!
//! The models in `alloc_cookbook::analysis::Scheme` are predictions; this module
//! allocates every request size from each real allocator and asks it how many
//! bytes the block really has (`malloc_usable_size`, `mi_usable_size`,
//! jemalloc's `sallocx`). The `go` column is Go's class table (the model);
//! the `goalloc` column is measured the same way as the others, through
//! GoAlloc's C ABI (`alloc_cookbook::c_abi::malloc` and its
//! `malloc_usable_size`, on the C ABI's own instance): what a C program under
//! the preloaded GoAlloc gets. It differs from the model where the C ABI's
//! guarantees do (16-byte alignment from 9 bytes up, Go's 8-byte class for
//! requests of 1 to 8 bytes).

use alloc_cookbook::analysis::Scheme;
use std::alloc::{GlobalAlloc, Layout};

/// The largest `--max` the `usable` command accepts.
pub const MAX_MEASURED: usize = 4 << 20;

/// Usable bytes per allocator for one request size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsableRow {
    pub size: usize,
    pub go: usize,
    pub goalloc: usize,
    pub glibc: usize,
    pub mimalloc: usize,
    pub jemalloc: usize,
}

fn goalloc(size: usize) -> usize {
    use alloc_cookbook::c_abi;
    // SAFETY: C-ABI malloc with a non-zero size; the block is measured by the
    // same instance's malloc_usable_size, then freed once by its free.
    unsafe {
        let p = c_abi::malloc(size);
        if p.is_null() {
            return 0;
        }
        let n = c_abi::malloc_usable_size(p);
        c_abi::free(p);
        n
    }
}

fn glibc(size: usize) -> usize {
    // SAFETY: malloc with a non-zero size; the block is measured then freed by free().
    unsafe {
        let p = libc::malloc(size);
        if p.is_null() {
            return 0;
        }
        let n = libc::malloc_usable_size(p);
        libc::free(p);
        n
    }
}

fn mimalloc(size: usize) -> usize {
    let a = mimalloc::MiMalloc;
    let Ok(layout) = Layout::from_size_align(size, 1) else {
        return 0;
    };
    // SAFETY: non-zero size layout; the pointer is measured then freed with the same layout.
    unsafe {
        let p = a.alloc(layout);
        if p.is_null() {
            return 0;
        }
        let n = a.usable_size(p);
        a.dealloc(p, layout);
        n
    }
}

fn jemalloc(size: usize) -> usize {
    let a = tikv_jemallocator::Jemalloc;
    let Ok(layout) = Layout::from_size_align(size, 1) else {
        return 0;
    };
    // SAFETY: non-zero size layout; the pointer came from jemalloc and is freed with the same layout.
    unsafe {
        let p = a.alloc(layout);
        if p.is_null() {
            return 0;
        }
        let n = tikv_jemallocator::usable_size(p);
        a.dealloc(p, layout);
        n
    }
}

/// Measures every size in `sizes` (sizes of 0 are skipped).
pub fn measure(sizes: impl IntoIterator<Item = usize>) -> Vec<UsableRow> {
    sizes
        .into_iter()
        .filter(|&s| s > 0)
        .map(|size| UsableRow {
            size,
            go: Scheme::Go.usable(size),
            goalloc: goalloc(size),
            glibc: glibc(size),
            mimalloc: mimalloc(size),
            jemalloc: jemalloc(size),
        })
        .collect()
}

/// Every row as TSV.
pub fn tsv(rows: &[UsableRow]) -> String {
    let mut s = String::from("size\tgo\tgoalloc\tglibc\tmimalloc\tjemalloc\n");
    for r in rows {
        s += &format!(
            "{}\t{}\t{}\t{}\t{}\t{}\n",
            r.size, r.go, r.goalloc, r.glibc, r.mimalloc, r.jemalloc
        );
    }
    s
}

/// Only the rows where some allocator's usable size changes (the class
/// boundaries), as an aligned text table.
pub fn table(rows: &[UsableRow]) -> String {
    let mut s = format!(
        "{:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
        "request", "go", "goalloc", "glibc", "mimalloc", "jemalloc"
    );
    let key = |r: &UsableRow| (r.go, r.goalloc, r.glibc, r.mimalloc, r.jemalloc);
    let mut prev: Option<&UsableRow> = None;
    for r in rows {
        if prev.is_none_or(|p| key(p) != key(r)) {
            s += &format!(
                "{:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
                r.size, r.go, r.goalloc, r.glibc, r.mimalloc, r.jemalloc
            );
        }
        prev = Some(r);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measured_sizes_cover_the_request() {
        for r in measure([1, 7, 8, 33, 100, 1000, 4097, 40_000, 300_000]) {
            for (name, u) in [
                ("glibc", r.glibc),
                ("mimalloc", r.mimalloc),
                ("jemalloc", r.jemalloc),
            ] {
                assert!(u >= r.size, "{name}: {} -> {u}", r.size);
            }
        }
    }

    /// The jemalloc and mimalloc models must match the measured sizes exactly.
    fn assert_models_match(r: &UsableRow) {
        assert_eq!(
            Scheme::Jemalloc.usable(r.size),
            r.jemalloc,
            "jemalloc at {}",
            r.size
        );
        assert_eq!(
            Scheme::Mimalloc.usable(r.size),
            r.mimalloc,
            "mimalloc at {}",
            r.size
        );
    }

    #[test]
    fn jemalloc_and_mimalloc_models_agree_on_large_sizes() {
        for r in measure((1024..=(1 << 20)).step_by(4093)) {
            assert_models_match(&r);
        }
    }

    #[test]
    fn models_agree_with_the_real_allocators_on_small_sizes() {
        // On small sizes every model must match what the allocator reports
        // (glibc within its chunk-reuse slack, below).
        for r in measure(1..=1024) {
            // glibc hands out a whole free chunk when splitting it would leave
            // less than its 32-byte minimum chunk, so a reused chunk can be up to
            // 31 bytes larger than a freshly carved one (seen with other tests
            // running on other threads). The model is the fresh-chunk size.
            let g = Scheme::Glibc.usable(r.size);
            assert!(
                g <= r.glibc && r.glibc < g + 32,
                "glibc at {}: model {g}, measured {}",
                r.size,
                r.glibc
            );
            assert_models_match(&r);
        }
    }
}
