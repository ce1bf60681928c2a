//! The tiny allocator: requests under 16 bytes share 16-byte blocks, as in
//! Go, except requests of exactly 8 bytes, which take Go's 8-byte class.
//!
//! Part of the allocator described in [`crate::allocator`] (read its header first).
//!
//! A thread cache keeps one current 16-byte block and an offset into it. A
//! request of 1 to 15 bytes other than 8 (alignment at most 8) is placed at the next
//! offset aligned to its layout's alignment; if it does not fit, the block is
//! retired and a new one started. Go does the same for pointer-free objects
//! and never frees a block explicitly: the garbage collector frees it when
//! none of its pieces is reachable.
//!
//! The fact a reader gets wrong: with explicit `dealloc` a block must know
//! how many of its pieces are alive, and that count must not cost an atomic
//! read-modify-write on every tiny allocation. So tiny blocks live in spans
//! of their own (a pseudo size class after Go's 67, see `span.rs`) whose
//! first 512 bytes hold one signed byte per block. While a block is current,
//! the owning thread counts its pieces in the cache (`pieces`), and frees
//! (from any thread) subtract 1 from the shared byte, driving it below zero.
//! When the block is retired the owner adds its count in one atomic add; the
//! thread that brings the byte to exactly zero (the owner at retirement, or
//! the last free after it) frees the whole block. The worst case keeps a
//! 16-byte block alive for one live byte (Go's 2x bound does not hold for
//! long-lived pieces either). Freeing a tiny piece is an atomic subtract;
//! allocating one is plain arithmetic.
//!
//! Go sends every pointer-free request under 16 bytes here, 8 bytes
//! included, and keeps its 8-byte class 1 for 8-byte objects that hold
//! pointers, which tiny blocks must not mix. Rust has no such distinction,
//! and an 8-byte request fills a class-1 slot exactly: two of them in a
//! tiny block use the same 16 bytes as two slots, and a freed slot is
//! reusable at once where a block waits for its other piece. So exactly 8
//! bytes go to class 1 (`route` in `mod.rs`), on the class lists' fast path:
//! 50 instructions per alloc+free pair on the tiny path, 43.5 on class 1
//! (a size known only at run time; callgrind, 2026-12-02). Packing helps
//! only the sizes that leave room in their slot: 1 to 7 and 9 to 15 bytes.
//!
//! Unlike Go we always replace the current block when a request does not
//! fit (Go keeps whichever block has more room left): simpler, and with
//! explicit frees the old block's remainder is lost only until it is freed.

use super::span::{FreeObject, TINY_BLOCK, TINY_CLASS, TINY_HEADER};
use super::thread_cache::{self, bump, ThreadCache};
use super::Heap;
use crate::size_class::PAGE_SIZE;
use core::sync::atomic::{AtomicI8, Ordering};

/// A thread cache's current tiny block.
pub(crate) struct TinyState {
    /// Address of the current block (0: none).
    pub block: usize,
    /// Bytes of the block used so far.
    pub offset: usize,
    /// Pieces carved from it not yet published to its counter.
    pub pieces: i8,
}

/// The shared live-piece counter of the block holding `addr`.
#[inline]
fn counter(addr: usize) -> &'static AtomicI8 {
    let page = addr & !(PAGE_SIZE - 1);
    let idx = ((addr & (PAGE_SIZE - 1)) - TINY_HEADER) / TINY_BLOCK;
    // SAFETY: addr lies in a tiny span (one page whose header holds one
    // counter byte per block); spans are never unmapped.
    unsafe { &*((page + idx) as *const AtomicI8) }
}

/// Starts a new block for a request of `size` bytes that did not fit the
/// current one; returns the request's address or null.
#[cold]
#[inline(never)]
pub(crate) fn refill(cache: &mut ThreadCache, size: usize) -> *mut u8 {
    retire(cache);
    let list = &mut cache.lists[TINY_CLASS];
    // Blocks freed since the list last ran dry are found by thread_cache::refill.
    let block = if !list.head.is_null() {
        let b = list.head;
        // SAFETY: objects on a cache list are free slots linked through their first word.
        list.head = unsafe { (*b).next };
        b.cast::<u8>()
    } else {
        thread_cache::refill(cache, TINY_CLASS)
    };
    if block.is_null() {
        return block;
    }
    // Blocks count in the packed words with zero bytes (the pieces' bytes
    // are counted in `requested`).
    bump(&cache.counters.mallocs[TINY_CLASS], thread_cache::packed(0));
    #[cfg(debug_assertions)]
    // SAFETY: a cache's heap outlives it.
    super::debug_mark(unsafe { &*cache.heap }, block as usize, true);
    counter(block as usize).store(0, Ordering::Relaxed);
    cache.tiny = TinyState {
        block: block as usize,
        offset: size,
        pieces: 1,
    };
    block
}

/// Publishes the current block's pieces and drops it; frees it if they are all dead.
pub(crate) fn retire(cache: &mut ThreadCache) {
    let t = &mut cache.tiny;
    if t.block == 0 {
        return;
    }
    let block = t.block;
    let pieces = t.pieces;
    *t = TinyState {
        block: 0,
        offset: 0,
        pieces: 0,
    };
    if counter(block).fetch_add(pieces, Ordering::AcqRel) + pieces == 0 {
        free_block_cached(cache, block);
    }
}

fn free_block_cached(cache: &mut ThreadCache, block: usize) {
    #[cfg(debug_assertions)]
    // SAFETY: a cache's heap outlives it.
    super::debug_mark(unsafe { &*cache.heap }, block, false);
    let frees = &cache.counters.frees[TINY_CLASS];
    let counted = frees.load(Ordering::Relaxed) + thread_cache::packed(0);
    frees.store(counted, Ordering::Relaxed);
    let list = &mut cache.lists[TINY_CLASS];
    let o = block as *mut FreeObject;
    // SAFETY: every piece of the block is dead, so the block is a free slot we may link.
    unsafe { (*o).next = list.head };
    list.head = o;
    if counted >= list.check_at {
        thread_cache::check_free(cache, TINY_CLASS);
    }
}

/// Frees a piece of the calling thread's *current* block: no atomic
/// read-modify-write, just the owner's count; once no piece is alive the
/// block is reused from its start.
#[inline(always)]
pub(crate) fn free_own(cache: &mut ThreadCache, size: usize) {
    bump(&cache.counters.tiny_frees, 1);
    bump(&cache.counters.requested_freed, size as u64);
    let t = &mut cache.tiny;
    // Live pieces = `pieces` + the shared counter (which frees by other
    // threads only lower). Freeing the last one makes both zero: the block
    // is empty, start over. That case stores constants rather than
    // `pieces - 1`, so in a loop of alloc+free pairs the next allocation
    // does not wait on this free's read-modify-write of `pieces` (a chain
    // of two through memory per pair): the branch is predicted, and the
    // stores depend on no load.
    if t.pieces == 1 {
        t.pieces = super::page_heap::opaque(0) as i8;
        t.offset = 0;
    } else {
        t.pieces -= 1;
    }
}

/// Frees a tiny piece; `cache` is the calling thread's cache or null (direct path).
pub(crate) fn free(heap: &Heap, cache: *mut ThreadCache, p: *mut u8) {
    let addr = p as usize;
    if counter(addr).fetch_sub(1, Ordering::AcqRel) - 1 != 0 {
        return;
    }
    let block = addr & !(TINY_BLOCK - 1);
    if cache.is_null() {
        #[cfg(debug_assertions)]
        super::debug_mark(heap, block, false);
        heap.direct.mallocs_frees(TINY_CLASS, false);
        thread_cache::release_direct(heap, TINY_CLASS, block as *mut FreeObject);
    } else {
        // SAFETY: a non-null cache is the calling thread's own.
        free_block_cached(unsafe { &mut *cache }, block);
    }
}

/// Debug builds: marks the piece starting at `addr` live (`on`) or dead in
/// its span's piece bits; false if it already was (a piece handed out twice,
/// or freed twice, or an interior pointer).
///
/// # Safety
/// `s` is the span metadata of the tiny span holding `addr`.
#[cfg(debug_assertions)]
pub(crate) unsafe fn debug_mark_piece(s: *const super::span::Span, addr: usize, on: bool) -> bool {
    let idx = ((addr & (PAGE_SIZE - 1)) - TINY_HEADER) / TINY_BLOCK;
    let bit = 1u16 << (addr & (TINY_BLOCK - 1));
    // SAFETY: span metadata is never unmapped; the piece bits are atomics
    // reached through the raw pointer (no `&Span`, see `span::owner`).
    let w = unsafe { &(*core::ptr::addr_of!((*s).pieces))[idx] };
    let prev = if on {
        w.fetch_or(bit, Ordering::AcqRel)
    } else {
        w.fetch_and(!bit, Ordering::AcqRel)
    };
    (prev & bit != 0) != on
}

/// Debug builds: [`debug_mark_piece`] for a piece just handed out; aborts if it was live.
#[cfg(debug_assertions)]
pub(crate) fn debug_alloc_piece(heap: &Heap, addr: usize) {
    // SAFETY: addr was just carved from a tiny block of this heap.
    if !unsafe { debug_mark_piece(heap.map.get(addr), addr, true) } {
        super::abort::fatal(format_args!(
            "internal error: tiny piece {addr:#x} handed out while live"
        ));
    }
}

/// Direct path (no cache): a whole block for one piece, already published.
pub(crate) fn alloc_direct(heap: &Heap) -> *mut u8 {
    let block = thread_cache::alloc_direct(heap, TINY_CLASS);
    if !block.is_null() {
        heap.direct.mallocs_frees(TINY_CLASS, true);
        #[cfg(debug_assertions)]
        super::debug_mark(heap, block as usize, true);
        counter(block as usize).store(1, Ordering::Release);
    }
    block
}
