//! # Size-aligned layouts: ask for what the allocator gives anyway
//!
//! Role: a capacity helper that rounds a `Vec`'s capacity up to the allocator's
//! size class, a grow/shrink policy built on it, and the layout rules that keep
//! a type inside a small class.
//!
//! # Use it in your crate
//! Copy this file to `src/size_aligned.rs` and declare `pub mod size_aligned;`.
//! It needs std only; nothing to add to `Cargo.toml`:
//!
//! ```toml
//! [dependencies]
//! # nothing: std only
//! ```
//!
//! The doc examples name this module `alloc_recipes::size_aligned`: in your
//! crate replace `alloc_recipes` with your crate's name. Sizes are for 64-bit
//! targets; the examples say where a 32-bit one differs, and `repr(C)`
//! layouts with a `u64` also differ between 32-bit targets (`u64` is 4-byte
//! aligned on 32-bit x86, 8-byte aligned on 32-bit Arm).
//!
//! The fact a reader gets wrong: a request is not what you pay for. Every
//! allocator rounds a request up to a size class (Go: 33 bytes cost 48; glibc:
//! 25 bytes cost a 48-byte chunk). The slack is yours already: `Vec::with_capacity(33)`
//! pays for 48 bytes and then reallocates on the 34th push.
//!
//! ## The problem
//! - `Vec::with_capacity(n)` asks for exactly `n * size_of::<T>()` bytes. The
//!   allocator hands back a block of its next class size and the tail is
//!   wasted, yet the vector reallocates as soon as it passes `n`.
//! - A struct one byte over a class boundary costs the whole next class, for
//!   every object: a 33-byte type boxed a million times costs 48 MB under Go's
//!   classes, not 33 MB.
//!
//! ## The pattern
//! - [`class_capacity`] turns "at least `n` elements" into "as many elements
//!   as the block the allocator will give me holds", for any allocator: the
//!   rounding is a parameter (`usable`: "how many bytes does a request of `n`
//!   bytes really get"). [`go_usable_size`] is Go's table (a copy of
//!   `runtime/sizeclasses.go`, so this file stands alone);
//!   [`glibc_usable_size`] is glibc's chunk arithmetic. For mimalloc or
//!   jemalloc, measure (`mi_usable_size`, `tikv_jemallocator::usable_size`)
//!   once and look it up.
//! - [`reserve_to_class`] grows like Go's `append` (double, then round up to
//!   the class) and [`shrink_to_class`] only shrinks when the smaller
//!   capacity lands in a smaller class (a shrink inside one class frees
//!   nothing and still costs a reallocation).
//! - Layout: let Rust order fields ([`CompactRecord`], 16 bytes) instead of
//!   `repr(C)` in declaration order ([`PaddedRecord`], 32 bytes); pin the size
//!   with a compile-time assertion; box a rare large enum variant
//!   ([`TokenBoxed`] vs [`TokenInline`]); use `Box<str>`/`Box<[T]>` for values
//!   that never grow (16 bytes, no spare capacity, vs 24 for `String`/`Vec`);
//!   use niches (`Option<NonZeroU32>`, `Option<Box<T>>` cost nothing extra);
//!   use `u32` indices instead of pointers ([`ListNode`]).
//!
//! ## When to use it
//! Buffers that are created often and grow a little after creation (a request
//! line plus a suffix, a message header), types stored by the million, types
//! that are boxed one by one.
//!
//! ## When not to
//! A `Vec` that will grow by doubling for a long time anyway gains at most one
//! reallocation. A capacity rounded for the wrong allocator only wastes memory
//! (it is never unsound: the extra capacity is requested, not assumed). Do not
//! use `repr(C)` field order tricks on types that cross an FFI boundary: there
//! the order is the contract.
//!
//! ```
//! use alloc_recipes::size_aligned::{class_capacity, go_usable_size};
//! // 33 bytes are rounded up to Go's 48-byte class: ask for all 48.
//! assert_eq!(class_capacity::<u8>(33, go_usable_size), 48);
//! ```

// ANCHOR: imports
use std::mem::size_of;
use std::num::NonZeroU32;
// ANCHOR_END: imports

// ANCHOR: go_classes
/// Go's size classes (Go 1.20-1.23 `runtime/sizeclasses.go`, class 0 left
/// out): every small request is rounded up to the first of these that fits.
pub const GO_CLASS_SIZES: [u16; 67] = [
    8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320, 352,
    384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792, 2048,
    2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728,
    10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672,
    32768,
];

/// Go's page size: large objects (over 32 KiB) are rounded up to whole pages.
pub const GO_PAGE_SIZE: usize = 8192;

/// The bytes a request of `request` bytes really gets under Go's allocator
/// (its `roundupsize`): the size class for up to 32 KiB, whole 8 KiB pages
/// above. A zero-byte request gets nothing.
///
/// ```
/// use alloc_recipes::size_aligned::go_usable_size;
/// assert_eq!(go_usable_size(1), 8);
/// assert_eq!(go_usable_size(33), 48);
/// assert_eq!(go_usable_size(1025), 1152);
/// assert_eq!(go_usable_size(40_000), 40_960); // 5 pages
/// ```
pub fn go_usable_size(request: usize) -> usize {
    if request == 0 {
        return 0;
    }
    let largest = GO_CLASS_SIZES[GO_CLASS_SIZES.len() - 1] as usize;
    if request > largest {
        return request.div_ceil(GO_PAGE_SIZE).saturating_mul(GO_PAGE_SIZE);
    }
    // The first class that fits (binary search over 67 sorted sizes).
    let i = GO_CLASS_SIZES.partition_point(|&class| (class as usize) < request);
    GO_CLASS_SIZES[i] as usize
}

/// The bytes a request really gets from glibc's `malloc`, below its mmap
/// threshold (128 KiB by default): a chunk is the request plus a one-word
/// header (`size_of::<usize>()`), rounded up to glibc's `MALLOC_ALIGNMENT`
/// (two words; 16 bytes on 32-bit x86), and at least four words; its
/// `malloc_usable_size` is the chunk minus the header. Above the threshold
/// this returns `request` unchanged (mmapped chunks round to pages and the
/// threshold moves at run time; do not guess).
///
/// ```
/// use alloc_recipes::size_aligned::glibc_usable_size;
/// if cfg!(target_pointer_width = "64") {
///     assert_eq!(glibc_usable_size(1), 24);
///     assert_eq!(glibc_usable_size(24), 24);
///     assert_eq!(glibc_usable_size(25), 40);
/// }
/// ```
pub fn glibc_usable_size(request: usize) -> usize {
    const HEADER: usize = size_of::<usize>();
    const ALIGN: usize = if cfg!(target_arch = "x86") {
        16
    } else {
        2 * size_of::<usize>()
    };
    const MIN_CHUNK: usize = 4 * size_of::<usize>();
    const MMAP_THRESHOLD: usize = 128 * 1024;
    if request == 0 || request >= MMAP_THRESHOLD {
        return request;
    }
    let chunk = ((request + HEADER + ALIGN - 1) & !(ALIGN - 1)).max(MIN_CHUNK);
    chunk - HEADER
}
// ANCHOR_END: go_classes

// ANCHOR: class_capacity
/// The capacity to ask for when you need room for at least `min_capacity`
/// elements of `T`: as many elements as fit in the block the allocator gives
/// for `min_capacity * size_of::<T>()` bytes. `usable(n)` says how many
/// bytes a request of `n` bytes really gets ([`go_usable_size`],
/// [`glibc_usable_size`], or a measured table).
///
/// Zero-sized types and `min_capacity == 0` are returned unchanged.
///
/// # Panics
/// If `min_capacity * size_of::<T>()` overflows, or `usable` returns less
/// than it was asked for (a wrong rounding function).
///
/// ```
/// use alloc_recipes::size_aligned::{class_capacity, go_usable_size};
/// // 5 u64s are 40 bytes; Go's class is 48: room for 6.
/// assert_eq!(class_capacity::<u64>(5, go_usable_size), 6);
/// // 3-byte elements: 48 / 3 = 16 fit in the class of 11 * 3 = 33 bytes.
/// assert_eq!(class_capacity::<[u8; 3]>(11, go_usable_size), 16);
/// ```
pub fn class_capacity<T>(min_capacity: usize, usable: impl Fn(usize) -> usize) -> usize {
    let elem = size_of::<T>();
    if elem == 0 || min_capacity == 0 {
        return min_capacity;
    }
    let bytes = min_capacity.checked_mul(elem).unwrap_or_else(|| {
        panic!("class_capacity: {min_capacity} elements of {elem} bytes overflow usize")
    });
    let got = usable(bytes);
    assert!(
        got >= bytes,
        "class_capacity: the usable-size function says a request of {bytes} bytes gets only {got}"
    );
    got / elem
}

/// `Vec::with_capacity`, rounded up with [`class_capacity`].
///
/// ```
/// use alloc_recipes::size_aligned::{go_usable_size, with_class_capacity};
/// let buf: Vec<u8> = with_class_capacity(33, go_usable_size);
/// assert!(buf.capacity() >= 48); // asked for 48; std promises at least that
/// ```
pub fn with_class_capacity<T>(min_capacity: usize, usable: impl Fn(usize) -> usize) -> Vec<T> {
    Vec::with_capacity(class_capacity::<T>(min_capacity, usable))
}
// ANCHOR_END: class_capacity

// ANCHOR: policy
/// Makes room for `additional` more elements the way Go's `append` grows a
/// slice: at least double the old capacity, then round up to the class, so
/// the bytes that the allocator hands out anyway become capacity.
/// Does nothing when the room is already there.
///
/// ```
/// use alloc_recipes::size_aligned::{go_usable_size, reserve_to_class};
/// // The capacities asked for; `reserve_exact` promises at least these.
/// let mut v: Vec<[u8; 40]> = Vec::new();
/// reserve_to_class(&mut v, 5, go_usable_size);
/// assert!(v.capacity() >= 5); // 200 bytes asked, 208 given: still 5
/// v.extend([[0; 40]; 5]);
/// reserve_to_class(&mut v, 1, go_usable_size);
/// assert!(v.capacity() >= 10); // doubled: 400 bytes asked, 416 given
/// ```
pub fn reserve_to_class<T>(v: &mut Vec<T>, additional: usize, usable: impl Fn(usize) -> usize) {
    let needed = v
        .len()
        .checked_add(additional)
        .expect("reserve_to_class: capacity overflow");
    if needed <= v.capacity() {
        return;
    }
    let doubled = v.capacity().saturating_mul(2);
    // Vec's own smallest non-zero capacity, so this never grows more often than `push`.
    let elem = size_of::<T>();
    let min_non_zero = if elem == 1 {
        8
    } else if elem <= 1024 {
        4
    } else {
        1
    };
    let target = class_capacity::<T>(needed.max(doubled).max(min_non_zero), usable);
    v.reserve_exact(target - v.len());
}

/// Gives back memory only when it helps: shrinks `v` to the smallest class
/// that holds its length, and does nothing when that class is the one it is
/// already in (a reallocation that frees no byte).
///
/// ```
/// use alloc_recipes::size_aligned::{go_usable_size, shrink_to_class};
/// let mut v: Vec<u8> = Vec::with_capacity(48);
/// v.extend_from_slice(&[7; 40]);
/// let before = v.as_ptr();
/// shrink_to_class(&mut v, go_usable_size);
/// assert_eq!(v.as_ptr(), before); // 40 bytes live in the 48 class: not moved
///
/// let mut w: Vec<u8> = Vec::with_capacity(1000);
/// w.extend_from_slice(&[7; 40]);
/// shrink_to_class(&mut w, go_usable_size);
/// assert!(w.capacity() >= 48); // asked to shrink to the 48 class, not to 40
/// ```
pub fn shrink_to_class<T>(v: &mut Vec<T>, usable: impl Fn(usize) -> usize) {
    let elem = size_of::<T>();
    if elem == 0 {
        return;
    }
    let now = usable(v.capacity() * elem);
    let after = usable(v.len() * elem);
    if after < now {
        v.shrink_to(class_capacity::<T>(v.len(), &usable));
    }
}
// ANCHOR_END: policy

// ANCHOR: layout
/// The counter-example: `repr(C)` keeps declaration order, so padding after
/// each small field pushes the type from 16 to 32 bytes (a class twice as
/// large under every allocator) on targets where `u64` is 8-byte aligned.
///
/// ```
/// use alloc_recipes::size_aligned::PaddedRecord;
/// if std::mem::align_of::<u64>() == 8 {
///     assert_eq!(std::mem::size_of::<PaddedRecord>(), 32);
/// }
/// ```
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaddedRecord {
    /// 1 byte, then 7 bytes of padding before `id`.
    pub flag: u8,
    /// An 8-byte field.
    pub id: u64,
    /// 1 byte, then 3 bytes of padding before `count`.
    pub kind: u8,
    /// A 4-byte field.
    pub count: u32,
    /// 2 bytes, then 6 bytes of tail padding.
    pub port: u16,
}

/// The same fields with Rust's default layout: the compiler orders them by
/// alignment, so they pack into 16 bytes.
///
/// ```
/// use alloc_recipes::size_aligned::CompactRecord;
/// assert_eq!(std::mem::size_of::<CompactRecord>(), 16);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactRecord {
    /// As in [`PaddedRecord`].
    pub flag: u8,
    /// As in [`PaddedRecord`].
    pub id: u64,
    /// As in [`PaddedRecord`].
    pub kind: u8,
    /// As in [`PaddedRecord`].
    pub count: u32,
    /// As in [`PaddedRecord`].
    pub port: u16,
}

// The compile-time size assertion: adding a field that pushes the type into
// the next class (24 bytes and up) fails the build here, not in production.
const _: () = assert!(
    size_of::<CompactRecord>() <= 16,
    "CompactRecord left the 16-byte class"
);

impl From<PaddedRecord> for CompactRecord {
    /// Field by field.
    ///
    /// ```
    /// use alloc_recipes::size_aligned::{CompactRecord, PaddedRecord};
    /// let p = PaddedRecord { flag: 1, id: 2, kind: 3, count: 4, port: 5 };
    /// assert_eq!(CompactRecord::from(p).count, 4);
    /// ```
    fn from(p: PaddedRecord) -> Self {
        CompactRecord {
            flag: p.flag,
            id: p.id,
            kind: p.kind,
            count: p.count,
            port: p.port,
        }
    }
}
// ANCHOR_END: layout

// ANCHOR: enums
/// A token whose rare `Literal` variant is stored inline: every token pays
/// for the largest variant (64 bytes where `f64` is 8-byte aligned), even
/// the common 4-byte `Word`.
///
/// ```
/// use alloc_recipes::size_aligned::TokenInline;
/// assert!(std::mem::size_of::<TokenInline>() > 56);
/// if std::mem::align_of::<f64>() == 8 {
///     assert_eq!(std::mem::size_of::<TokenInline>(), 64);
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum TokenInline {
    /// A symbol number (the common case).
    Word(u32),
    /// A number.
    Number(f64),
    /// A rare long literal, stored inline.
    Literal([u8; 56]),
}

/// The same token with the rare variant boxed: 16 bytes on 64-bit targets,
/// and only literals pay for an allocation.
///
/// ```
/// use alloc_recipes::size_aligned::TokenBoxed;
/// if cfg!(target_pointer_width = "64") {
///     assert_eq!(std::mem::size_of::<TokenBoxed>(), 16);
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum TokenBoxed {
    /// A symbol number (the common case).
    Word(u32),
    /// A number.
    Number(f64),
    /// A rare long literal, behind a pointer.
    Literal(Box<[u8; 56]>),
}
// ANCHOR_END: enums

/// `n` tokens as a tokenizer might produce them, with the rare variant
/// inline: every hundredth token a `Literal`, the rest `Word`s. The
/// workload of the book's size-aligned and tuning benches.
///
/// ```
/// use alloc_recipes::size_aligned::{inline_tokens, TokenInline};
/// let v = inline_tokens(1_000);
/// assert_eq!(v.len(), 1_000);
/// assert_eq!(v.iter().filter(|t| matches!(t, TokenInline::Literal(_))).count(), 10);
/// ```
pub fn inline_tokens(n: u32) -> Vec<TokenInline> {
    (0..n)
        .map(|i| {
            if i % 100 == 0 {
                TokenInline::Literal([i as u8; 56])
            } else {
                TokenInline::Word(i)
            }
        })
        .collect()
}

/// The same `n` tokens as [`inline_tokens`], with the rare variant boxed:
/// one small allocation per hundred tokens.
///
/// ```
/// use alloc_recipes::size_aligned::{boxed_tokens, TokenBoxed};
/// let v = boxed_tokens(1_000);
/// assert_eq!(v.iter().filter(|t| matches!(t, TokenBoxed::Word(_))).count(), 990);
/// ```
pub fn boxed_tokens(n: u32) -> Vec<TokenBoxed> {
    (0..n)
        .map(|i| {
            if i % 100 == 0 {
                TokenBoxed::Literal(Box::new([i as u8; 56]))
            } else {
                TokenBoxed::Word(i)
            }
        })
        .collect()
}

// ANCHOR: niches
/// A node of a singly linked list kept in a `Vec`: the link is a `u32`
/// index (4 bytes, not an 8-byte pointer) and `Option<NonZeroU32>` uses 0 as
/// "none" (a niche), so the whole node is 8 bytes. With `Option<u32>` it
/// would be 12, with `Option<Box<ListNode>>` 16 (on 64-bit targets).
///
/// ```
/// use alloc_recipes::size_aligned::ListNode;
/// use std::mem::size_of;
/// use std::num::NonZeroU32;
/// assert_eq!(size_of::<ListNode>(), 8);
/// assert_eq!(size_of::<Option<u32>>(), 8); // no niche: a tag word
/// assert_eq!(size_of::<Option<NonZeroU32>>(), 4);
/// assert_eq!(size_of::<Option<Box<u64>>>(), size_of::<usize>()); // null is the niche
/// assert_eq!(size_of::<Box<str>>(), 2 * size_of::<usize>()); // String: 3 words
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListNode {
    /// The payload.
    pub value: u32,
    /// Index + 1 of the next node in the owning `Vec` (0 is the niche for "none").
    pub next: Option<NonZeroU32>,
}

const _: () = assert!(size_of::<ListNode>() == 8, "ListNode grew past 8 bytes");
// ANCHOR_END: niches

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_rounding_is_monotonic_and_covers_the_request() {
        let mut last = 0;
        for n in 1..=40_000 {
            let u = go_usable_size(n);
            assert!(u >= n && u >= last, "{n} -> {u}");
            last = u;
        }
    }

    #[test]
    fn class_capacity_fills_the_class() {
        assert_eq!(class_capacity::<u32>(0, go_usable_size), 0);
        assert_eq!(class_capacity::<()>(7, go_usable_size), 7);
        assert_eq!(class_capacity::<[u8; 24]>(3, go_usable_size), 3); // 72 -> 80: still 3
        if cfg!(target_pointer_width = "64") {
            assert_eq!(class_capacity::<u8>(25, glibc_usable_size), 40);
        }
    }

    #[test]
    #[should_panic(expected = "gets only")]
    fn a_wrong_usable_function_is_reported() {
        class_capacity::<u8>(10, |n| n - 1);
    }

    #[test]
    fn shrink_to_zero_frees() {
        let mut v: Vec<u8> = Vec::with_capacity(100);
        shrink_to_class(&mut v, go_usable_size);
        assert_eq!(v.capacity(), 0);
    }
}
