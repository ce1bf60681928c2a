//! The operating system underneath the page heap: reserve, release, unmap,
//! and the OS page size those calls work in.
//!
//! Part of the allocator described in [`crate::allocator`] (read its header first).
//!
//! Every byte the allocator hands out comes from `mmap` calls made here, in
//! large reservations ("arenas", Go's `sysReserve`/`sysMap`). The fact a reader
//! gets wrong: reserving is not using. A reservation made with
//! `MAP_NORESERVE` costs address space only; a page becomes resident (costs
//! RAM) the first time it is written, and `madvise(MADV_DONTNEED)` (Go's
//! `sysUnused` with `GODEBUG=madvdontneed=1`, the Linux default) makes it
//! non-resident again while keeping the mapping, so the next touch gets a
//! fresh zero page. That is why "reserved" and "resident" are two different
//! lines in [`crate::allocator::Stats`]. And `madvise` can fail: on pages
//! locked with `mlock`/`mlockall` it returns `EINVAL` and drops nothing, so
//! [`release`] reports whether it worked and the page heap believes it.
//!
//! **OS page size.** The allocator's pages are 8 KiB; the kernel's may be
//! 4 KiB (x86-64), 16 KiB or 64 KiB (some aarch64 and ppc64le kernels).
//! `madvise` works in whole OS pages, so on a 16 KiB kernel releasing one
//! 8 KiB run would also drop its neighbour's live half of the OS page.
//! [`release_granule`] decides, from `sysconf(_SC_PAGESIZE)` read once, what
//! the heap does: it *adapts* to any power-of-two OS page size up to an arena
//! (the page heap releases only the whole OS pages inside a free run,
//! rounding inwards, and keeps the edges resident), and *refuses* anything
//! else (`sysconf` failing, a size that is not a power of two or larger than
//! an arena): then [`reserve`] returns null, so heap creation fails and every
//! allocation returns null, never corrupts. Adapting rather than refusing,
//! because refusing would make the allocator unusable (every allocation
//! null, a Rust program aborting) on common aarch64 distributions, and the
//! rounding costs nothing on 4 KiB kernels, where every run is whole OS pages.
//!
//! Nothing here allocates or panics: failures come back as a null pointer or `false`.

use crate::size_class::PAGE_SIZE;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Highest address the page map covers (48-bit user space, as Go's `heapAddrBits`).
pub(crate) const ADDRESS_LIMIT: usize = 1 << 48;

/// Largest OS page size the heap adapts to: one arena (64 MiB; the page
/// heap checks at compile time that its `ARENA_BYTES` is this size, so this
/// file, below the page heap, needs nothing from it).
pub(crate) const MAX_OS_PAGE: usize = 64 << 20;

/// The release granule for an OS page size as `sysconf(_SC_PAGESIZE)`
/// returns it: `Some(bytes)`, the unit `madvise` must be given whole, if the
/// heap can work on such a kernel; `None` if it must refuse (the call failed,
/// or the size is not a power of two, or is above an arena).
///
/// A granule at most [`PAGE_SIZE`] means every page run is whole OS pages;
/// a larger one means the page heap rounds each released range inwards.
pub(crate) fn release_granule(os_page: libc::c_long) -> Option<usize> {
    let ps = usize::try_from(os_page).ok()?;
    (ps.is_power_of_two() && ps <= MAX_OS_PAGE).then_some(ps)
}

/// The part of `[base, base + bytes)` made of whole granules: rounded
/// inwards, so `madvise` of it touches no byte outside the range. `None`
/// if no whole granule fits (`granule` is a power of two).
pub(crate) fn inner_range(base: usize, bytes: usize, granule: usize) -> Option<(usize, usize)> {
    let lo = base.checked_add(granule - 1)? & !(granule - 1);
    let hi = (base + bytes) & !(granule - 1);
    (lo < hi).then_some((lo, hi))
}

/// The granule of this process's kernel, read once: 0 not read yet, 1 refused.
static GRANULE: AtomicUsize = AtomicUsize::new(0);

/// The OS page size the heap releases in, or `None` if the heap refuses
/// this kernel's page size (see the file header). Reads `sysconf` once; it
/// neither allocates nor fails on Linux.
pub(crate) fn granule() -> Option<usize> {
    let mut g = GRANULE.load(Ordering::Relaxed);
    if g == 0 {
        // SAFETY: sysconf has no preconditions; glibc answers _SC_PAGESIZE
        // from the auxiliary vector, without allocating.
        let ps = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        g = release_granule(ps).unwrap_or(1);
        GRANULE.store(g, Ordering::Relaxed);
    }
    (g != 1).then_some(g)
}

/// Restores the calling thread's `errno` when dropped: the free paths that
/// may reach a system call keep one, since C's `free` must not change errno.
pub(crate) struct SavedErrno(i32);

impl SavedErrno {
    pub(crate) fn new() -> Self {
        // SAFETY: glibc's errno location is the calling thread's, always valid.
        SavedErrno(unsafe { *libc::__errno_location() })
    }
}

impl Drop for SavedErrno {
    fn drop(&mut self) {
        // SAFETY: as in `new`.
        unsafe { *libc::__errno_location() = self.0 };
    }
}

/// Tests: pretend the kernel reported `os_page` (run in a child process only:
/// the setting is process-wide).
#[cfg(test)]
pub(crate) fn pretend_os_page(os_page: libc::c_long) {
    GRANULE.store(release_granule(os_page).unwrap_or(1), Ordering::Relaxed);
}

/// Maps `bytes` (a multiple of [`PAGE_SIZE`]) of fresh, zeroed, lazily
/// touched memory aligned to [`PAGE_SIZE`]; null if the OS refuses, if the
/// heap refuses this kernel's page size, or if the address is outside the
/// 48 bits the page map covers.
pub(crate) fn reserve(bytes: usize) -> *mut u8 {
    if granule().is_none() {
        return core::ptr::null_mut();
    }
    #[cfg(test)]
    if hooks::fail_reserve(bytes) {
        return core::ptr::null_mut();
    }
    #[cfg(test)]
    hooks::syscall(hooks::Syscall::Mmap);
    // Padded by one of our pages to align the start. With OS pages of 8 KiB
    // or more the start is aligned already and the tail munmap either fails
    // (not OS-page aligned) or drops only the kernel's round-up: harmless.
    let Some(padded) = bytes.checked_add(PAGE_SIZE) else {
        return core::ptr::null_mut();
    };
    // SAFETY: an anonymous private mapping at an address of the kernel's
    // choosing has no preconditions; failure is reported as MAP_FAILED.
    let raw = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            padded,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return core::ptr::null_mut();
    }
    let start = raw as usize;
    let aligned = (start + PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
    let head = aligned - start;
    let tail = padded - head - bytes;
    // SAFETY: both ranges lie inside the mapping just made and are not used.
    unsafe {
        if head > 0 {
            libc::munmap(raw, head);
        }
        if tail > 0 {
            libc::munmap((aligned + bytes) as *mut libc::c_void, tail);
        }
    }
    if aligned + bytes > ADDRESS_LIMIT {
        // SAFETY: the range is the mapping we own and nobody has seen it.
        unsafe { unmap(aligned as *mut u8, bytes) };
        return core::ptr::null_mut();
    }
    #[cfg(test)]
    hooks::mapped(bytes as isize);
    aligned as *mut u8
}

/// Gives the physical pages of `[ptr, ptr + bytes)` back to the OS; the range
/// stays mapped and reads as zeros afterwards. Returns false (and the pages
/// may still hold their old bytes) if the kernel refused, e.g. for locked pages.
///
/// # Safety
/// The range must be mapped by [`reserve`], hold nothing anyone still reads,
/// and be whole OS pages (start and length multiples of [`granule`]).
#[must_use]
pub(crate) unsafe fn release(ptr: *mut u8, bytes: usize) -> bool {
    #[cfg(test)]
    hooks::syscall(hooks::Syscall::Madvise);
    // SAFETY: the caller guarantees the range is ours, unused and whole OS pages.
    let r = unsafe { libc::madvise(ptr.cast(), bytes, libc::MADV_DONTNEED) };
    #[cfg(test)]
    hooks::released(ptr as usize, bytes, r == 0);
    r == 0
}

/// Unmaps a range made by [`reserve`].
///
/// # Safety
/// The range must be mapped by [`reserve`] and never be used again.
pub(crate) unsafe fn unmap(ptr: *mut u8, bytes: usize) {
    #[cfg(test)]
    hooks::mapped(-(bytes as isize));
    // SAFETY: the caller guarantees the range is ours and dead.
    unsafe {
        libc::munmap(ptr.cast(), bytes);
    }
}

/// Tests: per-thread instruments on the system calls above (a hook run
/// before each mmap and madvise, bytes mapped minus unmapped, the last
/// ranges released). Per thread, because the unit tests run in parallel.
#[cfg(test)]
pub(crate) mod hooks {
    use core::cell::Cell;

    /// Which call a hook is about to see.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Syscall {
        Mmap,
        Madvise,
    }

    thread_local! {
        /// Called before each mmap and madvise made by this thread.
        pub static ON_SYSCALL: Cell<Option<fn(Syscall)>> = const { Cell::new(None) };
        /// Bytes this thread mapped with `reserve` minus those it unmapped.
        pub static NET_MAPPED: Cell<isize> = const { Cell::new(0) };
        /// Fail `reserve` calls of exactly this many bytes (0: none).
        pub static FAIL_RESERVE_OF: Cell<usize> = const { Cell::new(0) };
        /// The last ranges this thread passed to madvise: (start, bytes, ok).
        pub static RELEASED: Cell<[(usize, usize, bool); 8]> = const { Cell::new([(0, 0, false); 8]) };
        pub static RELEASE_CALLS: Cell<usize> = const { Cell::new(0) };
    }

    pub(super) fn syscall(kind: Syscall) {
        if let Some(f) = ON_SYSCALL.with(Cell::get) {
            f(kind);
        }
    }

    pub(super) fn mapped(bytes: isize) {
        NET_MAPPED.with(|n| n.set(n.get() + bytes));
    }

    pub(super) fn released(start: usize, bytes: usize, ok: bool) {
        let i = RELEASE_CALLS.with(|n| {
            n.set(n.get() + 1);
            n.get() - 1
        });
        RELEASED.with(|r| {
            let mut a = r.get();
            a[i % 8] = (start, bytes, ok);
            r.set(a);
        });
    }

    /// Whether the next `reserve` of `bytes` must fail.
    pub(super) fn fail_reserve(bytes: usize) -> bool {
        FAIL_RESERVE_OF.with(Cell::get) == bytes
    }

    /// The ranges released since `RELEASE_CALLS` was `from` (at most the last 8).
    pub fn released_since(from: usize) -> Vec<(usize, usize, bool)> {
        let n = RELEASE_CALLS.with(Cell::get);
        let a = RELEASED.with(Cell::get);
        (from.max(n.saturating_sub(8))..n)
            .map(|i| a[i % 8])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_is_page_aligned_zeroed_and_released_reads_zero() {
        let p = reserve(4 * PAGE_SIZE);
        assert!(!p.is_null());
        assert_eq!(p as usize % PAGE_SIZE, 0);
        // The whole OS pages inside (all of it on 4 KiB kernels).
        let (lo, hi) = inner_range(p as usize, 4 * PAGE_SIZE, granule().unwrap())
            .unwrap_or((p as usize, p as usize));
        // SAFETY: p is a fresh 4-page mapping owned by this test; [lo, hi) is inside it.
        unsafe {
            assert_eq!(*p.add(3 * PAGE_SIZE), 0);
            p.write_bytes(0xAB, 4 * PAGE_SIZE);
            if hi > lo {
                assert!(release(lo as *mut u8, hi - lo));
                assert_eq!(*(lo as *const u8).add(100), 0);
            }
            unmap(p, 4 * PAGE_SIZE);
        }
    }

    #[test]
    fn absurd_reservation_returns_null() {
        assert!(reserve(usize::MAX - PAGE_SIZE + 1).is_null());
        assert!(reserve(1 << 50).is_null());
    }

    #[test]
    fn page_size_decides_adapt_or_refuse() {
        // 4 KiB (x86-64) and 8 KiB: every run is whole OS pages.
        assert_eq!(release_granule(4096), Some(4096));
        assert_eq!(release_granule(8192), Some(8192));
        // 16 KiB and 64 KiB (aarch64, ppc64le): adapt, rounding inwards.
        assert_eq!(release_granule(16384), Some(16384));
        assert_eq!(release_granule(65536), Some(65536));
        // Refused: sysconf failed, nonsense, or larger than an arena.
        for bad in [-1, 0, 12288, 3 << 20, 128 << 20] {
            assert_eq!(release_granule(bad), None, "{bad}");
        }
        // This machine's kernel is one the heap works on.
        assert!(granule().is_some());
    }

    #[test]
    fn released_ranges_round_inwards_to_whole_os_pages() {
        let k = PAGE_SIZE;
        for g in [4096, 16384, 65536] {
            for (base, bytes) in [
                (0, k),
                (k, k),
                (k, 3 * k),
                (3 * k, 13 * k),
                (64 * k, 64 * k),
            ] {
                let base = base + (1 << 30);
                match inner_range(base, bytes, g) {
                    Some((lo, hi)) => {
                        assert!(base <= lo && hi <= base + bytes && lo < hi);
                        assert!(lo % g == 0 && hi % g == 0, "g {g} {base:#x}+{bytes:#x}");
                        // Inwards and no further: the next whole granule out would overflow the run.
                        assert!(lo - base < g && base + bytes - hi < g);
                    }
                    None => assert!(bytes < 2 * g, "g {g}: {bytes:#x} holds a whole page"),
                }
            }
            // 4 KiB pages: a run is always released whole.
            if g <= k {
                assert_eq!(inner_range(5 * k, 3 * k, g), Some((5 * k, 8 * k)));
            }
        }
        // 16 KiB: an 8 KiB run never holds a whole OS page; 64 KiB needs 8 aligned pages.
        assert_eq!(inner_range(1 << 30, k, 16384), None);
        let b = 1 << 30;
        assert_eq!(
            inner_range(b + k, 16 * k, 65536),
            Some((b + 8 * k, b + 16 * k))
        );
        assert_eq!(inner_range(b + k, 9 * k, 65536), None);
    }

    /// Runs `name`, an `#[ignore]`d test of this binary, in a child process
    /// (for settings that are process-wide) and fails if it fails.
    pub(crate) fn run_child(name: &str) {
        let exe = std::env::current_exe().expect("test binary path");
        let out = std::process::Command::new(exe)
            .args([
                "--ignored",
                "--exact",
                name,
                "--nocapture",
                "--test-threads=1",
            ])
            .env("GOALLOC_CHILD", name)
            .output()
            .expect("start the child test process");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "child {name} failed:\n{text}");
        assert!(
            text.contains("CHILD-OK"),
            "child {name} did not run:\n{text}"
        );
    }

    /// True in the child process `run_child(name)` started.
    pub(crate) fn in_child(name: &str) -> bool {
        std::env::var("GOALLOC_CHILD").as_deref() == Ok(name)
    }

    #[test]
    fn a_refused_page_size_makes_every_allocation_null() {
        run_child("allocator::os::tests::child_refused_page_size");
    }

    #[test]
    #[ignore = "run in a child process by a_refused_page_size_makes_every_allocation_null"]
    fn child_refused_page_size() {
        if !in_child("allocator::os::tests::child_refused_page_size") {
            return;
        }
        use std::alloc::{GlobalAlloc, Layout};
        for bad in [12288, -1] {
            pretend_os_page(bad);
            assert_eq!(granule(), None);
            assert!(reserve(PAGE_SIZE).is_null());
            let a = crate::GoAlloc::new();
            for (size, align) in [(8, 8), (100, 8), (40_000, 8), (1 << 20, 1 << 16)] {
                let l = Layout::from_size_align(size, align).unwrap();
                // SAFETY: non-zero layouts; nothing is returned to free.
                unsafe {
                    assert!(a.alloc(l).is_null());
                    assert!(a.alloc_zeroed(l).is_null());
                }
            }
            assert!(!a.set_scavenge_threshold(0), "no heap was created");
            assert_eq!(a.stats().heap_reserved, 0);
            assert_eq!(a.scavenge(0), 0);
        }
        println!("CHILD-OK");
    }

    #[test]
    fn sixty_four_kib_pages_run_the_whole_allocator() {
        run_child("allocator::os::tests::child_sixty_four_kib_pages");
    }

    #[test]
    #[ignore = "run in a child process by sixty_four_kib_pages_run_the_whole_allocator"]
    fn child_sixty_four_kib_pages() {
        if !in_child("allocator::os::tests::child_sixty_four_kib_pages") {
            return;
        }
        use std::alloc::{GlobalAlloc, Layout};
        pretend_os_page(65536);
        assert_eq!(granule(), Some(65536));
        let a = crate::GoAlloc::new();
        // Scavenge on every free: runs are released while their neighbours live.
        assert!(a.set_scavenge_threshold(0));
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let sizes = [24, 1000, 9000, 32768, 40_000, 100_000, 300_000, 1 << 20];
        let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
        let mut worst = 0usize;
        for i in 0..3000u32 {
            if live.len() < 64 && next() % 3 != 0 {
                let size = sizes[next() as usize % sizes.len()] + (next() % 5000) as usize;
                let l = Layout::from_size_align(size, 8).unwrap();
                let zero = next() % 2 == 0;
                // SAFETY: non-zero layout; freed below with the same layout.
                let p = unsafe {
                    if zero {
                        a.alloc_zeroed(l)
                    } else {
                        a.alloc(l)
                    }
                };
                assert!(!p.is_null());
                // SAFETY: p holds `size` bytes.
                let bytes = unsafe { core::slice::from_raw_parts_mut(p, size) };
                if zero {
                    assert!(
                        bytes.iter().all(|&b| b == 0),
                        "alloc_zeroed of {size} not zero"
                    );
                }
                let tag = i as u8 | 1;
                bytes.fill(tag);
                live.push((p, l, tag));
            } else if !live.is_empty() {
                let (p, l, tag) = live.swap_remove(next() as usize % live.len());
                // SAFETY: p is live with layout l; freed once.
                unsafe {
                    let bytes = core::slice::from_raw_parts(p, l.size());
                    assert!(
                        bytes.iter().all(|&b| b == tag),
                        "live object of {} changed",
                        l.size()
                    );
                    a.dealloc(p, l);
                }
            }
            for &(start, bytes, _) in &hooks::released_since(0) {
                worst |= (start % 65536) | (bytes % 65536);
            }
        }
        assert_eq!(worst, 0, "a release was not whole 64 KiB pages");
        for (p, l, _) in live {
            // SAFETY: live with layout l; freed once.
            unsafe { a.dealloc(p, l) };
        }
        a.flush_thread_cache();
        assert!(a.scavenge(0) > 0 || a.stats().bytes_scavenged > 0);
        let s = a.stats();
        assert_eq!((s.live_objects, s.heap_in_use), (0, 0));
        // Only edges shorter than a 64 KiB page stay resident.
        assert!(s.heap_resident < s.heap_reserved / 2, "{s}");
        println!("CHILD-OK");
    }
}
