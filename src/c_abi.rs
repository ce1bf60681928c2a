//! The C allocation API on one process-wide [`GoAlloc`]: `malloc`, `free`
//! and the rest of glibc's family, so that any dynamically linked program
//! can run on GoAlloc with `LD_PRELOAD`.
//!
//! Part of the allocator described in [`crate::allocator`] (read its header first).
//!
//! ```sh
//! cargo build --release --features preload --example goalloc_preload
//! LD_PRELOAD=target/release/examples/libgoalloc_preload.so sqlite3 :memory: 'select 1'
//! ```
//!
//! The functions here are ordinary Rust functions of the library (callable
//! from Rust, tested by `cargo test`); the `preload` feature (off by
//! default) adds `#[no_mangle]` to them, and the example `goalloc_preload`
//! (a `cdylib`) exports them. A Rust program that depends on this crate
//! therefore never gets `malloc` symbols unless it asks for them.
//!
//! # What the C ABI adds to the design
//!
//! - **Free without a size.** `free(p)` has no layout, so the object's class
//!   comes from the page map (a range check, a root entry, then the page's
//!   class byte): a compare and two dependent loads more than `dealloc`, then
//!   the same push on the thread's list ([`GoAlloc::free`]); no landing
//!   pad, the rare cases reached by tail calls. Large objects (class byte 0) are found through
//!   the span pointer of the same map (the span is the run). Tiny pieces are not used here: their size is recorded nowhere,
//!   so `malloc(1..=8)` gets a slot of Go's 8-byte class and `malloc(9..=16)`
//!   one of 16 bytes ([`GoAlloc::allocate`]).
//! - **Alignment as glibc gives it.** Every object of 9 bytes or more is
//!   16-aligned (`alignof(max_align_t)`), so the 24-byte class is not used;
//!   smaller objects are 8-aligned (no 16-aligned type fits in them).
//!   `posix_memalign` and friends take any power of two: up to 8 KiB from a
//!   class whose size is a multiple of it, above that from a page run whose
//!   first page is aligned (tested up to 1 MiB).
//! - **`malloc_usable_size`** is the class size, or the whole page run of a
//!   large object: what `free` would give back.
//! - **`fork()`**: the allocator's locks are taken before and reset in the
//!   child (`allocator/fork.rs`), so a child forked while another thread
//!   held a lock can allocate.
//! - **Thread-local storage** is reached without `__tls_get_addr` in the
//!   preloaded library (`allocator/thread_cache.rs` explains why), and no
//!   function here allocates through `std`, prints, calls `dlsym` or panics:
//!   the first `malloc` may come from the dynamic loader, from a constructor
//!   before `main`, or from a pthread key destructor at thread exit.
//!
//! # glibc's semantics, and where they are a choice
//!
//! - `malloc(0)` returns a unique pointer (an 8-byte slot) that `free` accepts.
//! - A request that cannot be served returns null with `errno = ENOMEM`,
//!   never aborts: sizes above `isize::MAX` (so `SIZE_MAX` and `SIZE_MAX/2`),
//!   `calloc`/`reallocarray` whose product overflows, address space refused.
//! - `realloc(NULL, n)` is `malloc(n)`; `realloc(p, 0)` with `p` non-null
//!   frees `p` and returns null, as glibc does (C23 leaves it undefined);
//!   a failed `realloc` leaves `p` alive. `realloc` keeps the object in place
//!   while the new size has the same class (or the same page count).
//! - `posix_memalign` returns `EINVAL` for an alignment that is not a power of
//!   two multiple of `sizeof(void *)` and `ENOMEM` on failure, leaving `errno`
//!   and `*memptr` untouched. `aligned_alloc` needs a power of two (else null,
//!   `EINVAL`, as glibc 2.38 does); `memalign` rounds other alignments up to the
//!   next power of two, as glibc does; `valloc` and `pvalloc` align to the page
//!   size (`pvalloc` rounds the size up to whole pages).
//! - `free` never changes `errno` (POSIX.1-2024; glibc since 2.33).
//! - `free(NULL)`, `free_sized(NULL, n)` do nothing. `free_sized` and
//!   `free_aligned_sized` (C23) ignore the size: the page map knows better.
//!
//! Not supported: a pointer from another allocator passed to `free` (glibc's
//! `free` of a GoAlloc pointer, or the reverse, is a crash waiting to
//! happen; release builds ignore a pointer GoAlloc never mapped, debug builds
//! abort with a message). glibc's introspection (`mallinfo`, `malloc_stats`,
//! `malloc_trim`, `mallopt`) is not replaced: those calls reach glibc's own
//! allocator, which then reports an empty heap. A thread made by a raw
//! `clone(CLONE_VM)` without glibc's thread set-up shares its creator's
//! thread-local storage, and with it the creator's cache: it must not
//! allocate while its creator does (glibc's own malloc has the same rule).
//!
//! ```
//! use alloc_cookbook::c_abi;
//! // SAFETY: the C API's own contract: pointers come from it and are freed once.
//! unsafe {
//!     let p = c_abi::malloc(100);
//!     assert!(!p.is_null() && p as usize % 16 == 0);
//!     assert_eq!(c_abi::malloc_usable_size(p), 112);
//!     let p = c_abi::realloc(p, 1000);
//!     c_abi::free(p);
//!     assert!(c_abi::malloc(usize::MAX).is_null());
//! }
//! ```

use crate::allocator::GoAlloc;
use core::ffi::c_void;
use core::ptr;

/// The process-wide instance behind the C API. Referred to only by
/// functions that are never inlined into another crate (hence
/// `#[inline(never)]` on [`instance`]), so the compiler keeps it local to
/// this crate and `free` reads its key straight from the data section
/// instead of through the global offset table.
static GOALLOC: GoAlloc = GoAlloc::new();

/// The instance behind the C API, for its statistics.
///
/// ```
/// // SAFETY: freed once.
/// unsafe { alloc_cookbook::c_abi::free(alloc_cookbook::c_abi::malloc(8)) };
/// assert!(alloc_cookbook::c_abi::instance().stats().mallocs >= 1);
/// ```
#[inline(never)]
pub fn instance() -> &'static GoAlloc {
    &GOALLOC
}

#[inline]
fn set_errno(e: i32) {
    // SAFETY: glibc's errno location is the calling thread's, always valid.
    unsafe { *libc::__errno_location() = e };
}

/// Null with `errno = ENOMEM` when `p` is null.
#[inline(always)]
fn or_enomem(p: *mut u8) -> *mut c_void {
    if p.is_null() {
        set_errno(libc::ENOMEM);
    }
    p.cast()
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions and does not allocate.
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => 4096,
    }
}

/// C `malloc`: `size` bytes, 16-aligned from 9 bytes up; null and `ENOMEM` on failure.
///
/// # Safety
/// Always safe to call; `unsafe` because it is the C ABI.
#[cfg_attr(feature = "preload", no_mangle)]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    or_enomem(GOALLOC.allocate(size, 1))
}

/// C `free`: null does nothing.
///
/// # Safety
/// `p` is null or a live pointer from this API, freed once.
#[cfg_attr(feature = "preload", no_mangle)]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: the caller's contract.
    unsafe { GOALLOC.free(p.cast()) }
}

/// C `calloc`: `n * size` zeroed bytes; null and `ENOMEM` if the product overflows.
///
/// # Safety
/// Always safe to call.
#[cfg_attr(feature = "preload", no_mangle)]
pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        Some(total) => or_enomem(GOALLOC.allocate_zeroed(total, 1)),
        None => or_enomem(ptr::null_mut()),
    }
}

/// C `realloc`, with glibc's special cases: null `p` allocates, size 0
/// frees `p` and returns null; on failure `p` stays live.
///
/// # Safety
/// `p` is null or a live pointer from this API.
#[cfg_attr(feature = "preload", no_mangle)]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        return or_enomem(GOALLOC.allocate(size, 1));
    }
    if size == 0 {
        // SAFETY: the caller's contract.
        unsafe { GOALLOC.free(p.cast()) };
        return ptr::null_mut();
    }
    // SAFETY: the caller's contract.
    or_enomem(unsafe { GOALLOC.reallocate(p.cast(), size) })
}

/// `reallocarray`: `realloc(p, n * size)`, null and `ENOMEM` (with `p`
/// untouched) if the product overflows.
///
/// # Safety
/// As for [`realloc`].
#[cfg_attr(feature = "preload", no_mangle)]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        // SAFETY: the caller's contract.
        Some(total) => unsafe { realloc(p, total) },
        None => or_enomem(ptr::null_mut()),
    }
}

/// POSIX `posix_memalign`: 0, `EINVAL` (alignment not a power of two
/// multiple of `sizeof(void *)`) or `ENOMEM`; `errno` is never touched.
///
/// # Safety
/// `memptr` is valid for a write of one pointer.
#[cfg_attr(feature = "preload", no_mangle)]
pub unsafe extern "C" fn posix_memalign(
    memptr: *mut *mut c_void,
    align: usize,
    size: usize,
) -> libc::c_int {
    if !align.is_power_of_two() || align % core::mem::size_of::<*mut c_void>() != 0 {
        return libc::EINVAL;
    }
    // posix_memalign reports through its return value only: a failing
    // mmap's errno must not leak out.
    // SAFETY: glibc's errno location is the calling thread's, always valid.
    let saved = unsafe { *libc::__errno_location() };
    let p = GOALLOC.allocate(size, align);
    if p.is_null() {
        set_errno(saved);
        return libc::ENOMEM;
    }
    // SAFETY: the caller's contract.
    unsafe { *memptr = p.cast() };
    0
}

/// C11 `aligned_alloc`: the alignment must be a power of two (else null
/// with `EINVAL`, as in glibc 2.38); any size.
///
/// # Safety
/// Always safe to call.
#[cfg_attr(feature = "preload", no_mangle)]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    }
    or_enomem(GOALLOC.allocate(size, align))
}

/// Obsolete `memalign`: as glibc, an alignment that is not a power of two is
/// rounded up to one; one above `SIZE_MAX / 2 + 1` is `EINVAL`.
///
/// # Safety
/// Always safe to call.
#[cfg_attr(feature = "preload", no_mangle)]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    let Some(align) = align.max(1).checked_next_power_of_two() else {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    };
    or_enomem(GOALLOC.allocate(size, align))
}

/// Obsolete `valloc`: aligned to the page size.
///
/// # Safety
/// Always safe to call.
#[cfg_attr(feature = "preload", no_mangle)]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    or_enomem(GOALLOC.allocate(size, page_size()))
}

/// Obsolete `pvalloc`: aligned to the page size, the size rounded up to
/// whole pages (null and `ENOMEM` if that overflows).
///
/// # Safety
/// Always safe to call.
#[cfg_attr(feature = "preload", no_mangle)]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    let page = page_size();
    match size.checked_next_multiple_of(page) {
        Some(rounded) => or_enomem(GOALLOC.allocate(rounded, page)),
        None => or_enomem(ptr::null_mut()),
    }
}

/// glibc's `malloc_usable_size`: the bytes the object really has (its class
/// size, or its page run); 0 for null.
///
/// # Safety
/// `p` is null or a live pointer from this API.
#[cfg_attr(feature = "preload", no_mangle)]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    // SAFETY: the caller's contract.
    unsafe { GOALLOC.usable_size(p.cast()) }
}

/// C23 `free_sized`: `free` (the size is not needed).
///
/// # Safety
/// As for [`free`].
#[cfg_attr(feature = "preload", no_mangle)]
pub unsafe extern "C" fn free_sized(p: *mut c_void, _size: usize) {
    // SAFETY: the caller's contract.
    unsafe { GOALLOC.free(p.cast()) }
}

/// C23 `free_aligned_sized`: `free` (neither size nor alignment is needed).
///
/// # Safety
/// As for [`free`].
#[cfg_attr(feature = "preload", no_mangle)]
pub unsafe extern "C" fn free_aligned_sized(p: *mut c_void, _align: usize, _size: usize) {
    // SAFETY: the caller's contract.
    unsafe { GOALLOC.free(p.cast()) }
}
