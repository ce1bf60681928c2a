//! The operating system underneath the page heap: reserve, release, unmap.
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
//! lines in [`crate::allocator::Stats`].
//!
//! Nothing here allocates or panics: failures come back as a null pointer.

use crate::size_class::PAGE_SIZE;

/// Highest address the page map covers (48-bit user space, as Go's `heapAddrBits`).
pub(crate) const ADDRESS_LIMIT: usize = 1 << 48;

/// Maps `bytes` (a multiple of [`PAGE_SIZE`]) of fresh, zeroed, lazily
/// touched memory aligned to [`PAGE_SIZE`]; null if the OS refuses or the
/// address is outside the 48 bits the page map covers.
pub(crate) fn reserve(bytes: usize) -> *mut u8 {
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
    aligned as *mut u8
}

/// Gives the physical pages of `[ptr, ptr + bytes)` back to the OS; the range
/// stays mapped and reads as zeros afterwards.
///
/// # Safety
/// The range must be mapped by [`reserve`] and hold nothing anyone still reads.
pub(crate) unsafe fn release(ptr: *mut u8, bytes: usize) {
    // SAFETY: the caller guarantees the range is ours and unused; a failing
    // madvise leaves the pages resident, which only costs memory.
    unsafe {
        libc::madvise(ptr.cast(), bytes, libc::MADV_DONTNEED);
    }
}

/// Unmaps a range made by [`reserve`].
///
/// # Safety
/// The range must be mapped by [`reserve`] and never be used again.
pub(crate) unsafe fn unmap(ptr: *mut u8, bytes: usize) {
    // SAFETY: the caller guarantees the range is ours and dead.
    unsafe {
        libc::munmap(ptr.cast(), bytes);
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
        // SAFETY: p is a fresh 4-page mapping owned by this test.
        unsafe {
            assert_eq!(*p.add(3 * PAGE_SIZE), 0);
            p.write_bytes(0xAB, 4 * PAGE_SIZE);
            release(p, 4 * PAGE_SIZE);
            assert_eq!(*p.add(100), 0);
            unmap(p, 4 * PAGE_SIZE);
        }
    }

    #[test]
    fn absurd_reservation_returns_null() {
        assert!(reserve(usize::MAX - PAGE_SIZE + 1).is_null());
        assert!(reserve(1 << 50).is_null());
    }
}
