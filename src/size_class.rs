//! Size classes: the menu of object sizes the allocator serves.
//!
//! Part of the allocator described in [`crate::allocator`] (read its header first).
//!
//! Every small request (up to [`MAX_SMALL_SIZE`], 32 KiB) is rounded up to one of
//! a fixed set of sizes, its *size class*, and all objects of one class live in
//! spans (runs of 8 KiB pages) cut into equal slots. This module **generates**
//! that set with the Go runtime's own algorithm (`runtime/mksizeclasses.go`),
//! rather than copying Go's table: with Go's parameters it reproduces the
//! published 67-class table exactly (the tests assert every row), and with other
//! parameters it answers "what if the pages were 4 KiB?".
//!
//! The fact a reader gets wrong: the classes are *not* powers of two, and the
//! table is not chosen for request rounding alone. Each class is picked so that
//! rounding a request up wastes at most about 12.5 % **and** cutting a span into
//! objects leaves a tail of at most 1/8 of the span; where two candidate sizes
//! give the same span and the same object count they are merged, and each
//! class is then grown to the largest 128-aligned size that keeps its object
//! count. That is why 1664 is not a class but 1792 is.
//!
//! Lookup is O(1) with Go's two tables: one indexed in 8-byte steps up to
//! 1 KiB, one in 128-byte steps above. The allocator's fast paths read one
//! flat table in 8-byte steps up to 32 KiB instead, built from Go's at
//! compile time (`GO_CLASS_BY_8`): one load, where the two tables need a
//! compare and a select first. Dividing an offset inside a span by the
//! object size (to find an object's index) is a multiply and a shift with a
//! precomputed "magic" ([`SizeClassTable::div_magic`]), proved exact for every
//! offset in a span by the tests.
//!
//! ```
//! use alloc_cookbook::size_class::GO;
//!
//! // 33 bytes land in the 48-byte class: 15 bytes wasted.
//! let class = GO.class_of(33);
//! assert_eq!(GO.size(class), 48);
//! assert_eq!(GO.len(), 68); // class 0 (large objects) + Go's 67 classes
//! ```

/// Bytes in one page of the page heap: 8 KiB, as in Go (`_PageShift = 13`).
pub const PAGE_SHIFT: usize = 13;
/// Bytes in one page of the page heap.
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// The largest small object; anything larger is a large object with its own pages.
pub const MAX_SMALL_SIZE: usize = 32 << 10;
/// Sizes up to this use the fine lookup table (8-byte steps).
pub const SMALL_SIZE_MAX: usize = 1024;
/// Step of the fine lookup table.
pub const SMALL_SIZE_DIV: usize = 8;
/// Step of the coarse lookup table (sizes above [`SMALL_SIZE_MAX`]).
pub const LARGE_SIZE_DIV: usize = 128;
/// Number of entries of Go's table, class 0 (large objects) included.
pub const NUM_SIZE_CLASSES: usize = 68;
/// The smallest alignment every object gets.
pub const MIN_ALIGN: usize = 8;

/// Most classes a generated table may hold (class 0 included); class indices are `u8`.
pub const MAX_CLASSES: usize = 256;
/// Largest supported "largest small size" for what-if tables.
pub const MAX_MAX_SMALL: usize = 256 << 10;
const CLASS8_LEN: usize = SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1;
const CLASS128_LEN: usize = (MAX_MAX_SMALL - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1;

/// Go's table, generated at compile time from Go's parameters
/// (8 KiB pages, 32 KiB largest small size).
///
/// ```
/// use alloc_cookbook::size_class::GO;
/// assert_eq!(GO.size(1), 8);
/// assert_eq!(GO.size(67), 32768);
/// assert_eq!(GO.class_of(1025), 33); // 1152-byte class
/// ```
pub static GO: SizeClassTable = GO_CONST;

/// [`GO`] as a constant, from which the fast paths' flat tables
/// ([`GO_CLASS_BY_8`], [`POINTER_CLASS_BY_8`]) are built at compile time.
pub(crate) const GO_CONST: SizeClassTable =
    match SizeClassTable::generate(PAGE_SIZE, MAX_SMALL_SIZE) {
        Ok(t) => t,
        Err(_) => panic!("Go's parameters must generate a table"),
    };

/// Go's class for every small size in 8-byte steps, for the allocator's
/// fast paths: `GO_CLASS_BY_8[(size + 7) / 8]` is `GO.class_of(size)` for
/// every `size` up to [`MAX_SMALL_SIZE`] (every class size is a multiple of 8,
/// so a size and its round-up to 8 share a class; the tests check each size).
///
/// The fact a reader gets wrong: Go's two tables ([`SizeClassTable::class_of`])
/// save memory (129 + 249 bytes) at the cost of a compare and a select before
/// the load. This one table is 4 KiB, of which a program touches only the
/// lines of the sizes it asks for, and the lookup is an add, a shift and one
/// load. On an alloc+free pair whose size is known only at run time that is
/// 12 instructions fewer per pair (87 to 75 at 16 to 64 B, callgrind), which
/// took GoAlloc below mimalloc's 83 to 86.
pub(crate) const GO_CLASS_BY_8: [u8; MAX_SMALL_SIZE / 8 + 1] = flat_classes(false);

/// [`GO_CLASS_BY_8`] for the pointer-only API (`GoAlloc::allocate`, the C
/// ABI's `malloc`): the 24-byte class is replaced by the 32-byte one, so that
/// every object above 8 bytes is 16-aligned, as C's `max_align_t` asks.
pub(crate) const POINTER_CLASS_BY_8: [u8; MAX_SMALL_SIZE / 8 + 1] = flat_classes(true);

/// Go's class 3 (24 bytes), the one class above 8 bytes whose size is not a
/// multiple of 16.
pub(crate) const CLASS_24: u8 = 3;

const fn flat_classes(sixteen_aligned: bool) -> [u8; MAX_SMALL_SIZE / 8 + 1] {
    let mut t = [0u8; MAX_SMALL_SIZE / 8 + 1];
    let mut i = 0;
    while i < t.len() {
        let c = GO_CONST.class_of(i * 8);
        t[i] = if sixteen_aligned && c == CLASS_24 {
            c + 1
        } else {
            c
        };
        i += 1;
    }
    t
}

/// Go's class for `size` bytes, `size` at most [`MAX_SMALL_SIZE`] (one load
/// from [`GO_CLASS_BY_8`]; a constant size folds at compile time).
#[inline(always)]
pub(crate) fn fast_class_of(size: usize) -> usize {
    debug_assert!(size <= MAX_SMALL_SIZE);
    // SAFETY: size <= MAX_SMALL_SIZE, so (size + 7) / 8 <= MAX_SMALL_SIZE / 8,
    // the table's last index.
    unsafe { *GO_CLASS_BY_8.get_unchecked((size + 7) >> 3) as usize }
}

/// [`fast_class_of`] for the pointer-only API, from [`POINTER_CLASS_BY_8`].
#[inline(always)]
pub(crate) fn fast_pointer_class_of(size: usize) -> usize {
    debug_assert!(size <= MAX_SMALL_SIZE);
    // SAFETY: as in fast_class_of.
    unsafe { *POINTER_CLASS_BY_8.get_unchecked((size + 7) >> 3) as usize }
}

/// Why a what-if table could not be generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableError {
    /// The page size is not a power of two between 1 KiB and 1 MiB.
    BadPageSize(usize),
    /// The largest small size is not a multiple of 256 between 2 KiB and 256 KiB.
    BadMaxSmall(usize),
    /// The parameters give more classes than a `u8` can index.
    TooManyClasses,
}

impl core::fmt::Display for TableError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TableError::BadPageSize(n) => write!(
                f,
                "page size {n} is not a power of two between 1024 and 1048576"
            ),
            TableError::BadMaxSmall(n) => write!(
                f,
                "largest small size {n} is not a multiple of 256 between 2048 and {MAX_MAX_SMALL}"
            ),
            TableError::TooManyClasses => {
                write!(f, "these parameters give more than {MAX_CLASSES} classes")
            }
        }
    }
}

impl std::error::Error for TableError {}

/// One row of a size-class table, with the columns Go prints in `sizeclasses.go`.
///
/// ```
/// use alloc_cookbook::size_class::GO;
/// let c = GO.class(5);
/// assert_eq!((c.size, c.span_bytes, c.objects, c.tail_waste), (48, 8192, 170, 32));
/// assert_eq!(format!("{:.2}", c.max_waste_pct), "31.52");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SizeClass {
    /// Index in the table; 0 stands for large objects.
    pub class: u8,
    /// Bytes per object.
    pub size: usize,
    /// Bytes per span (`pages * page size`).
    pub span_bytes: usize,
    /// Pages per span.
    pub pages: usize,
    /// Objects per span.
    pub objects: usize,
    /// Bytes left over at the end of each span.
    pub tail_waste: usize,
    /// Worst-case waste in percent: every object a request of the previous
    /// class's size + 1, plus the tail.
    pub max_waste_pct: f64,
    /// The alignment every object of this class gets (spans are page aligned).
    pub min_align: usize,
}

/// A generated size-class table with its O(1) lookup tables.
#[derive(Debug, Clone)]
pub struct SizeClassTable {
    page_size: usize,
    max_small: usize,
    len: usize,
    sizes: [u32; MAX_CLASSES],
    pages: [u16; MAX_CLASSES],
    magic: [u32; MAX_CLASSES],
    class8: [u8; CLASS8_LEN],
    class128: [u8; CLASS128_LEN],
}

impl SizeClassTable {
    /// Generates a table with Go's algorithm for the given page size and largest
    /// small size. `generate(8192, 32768)` is Go's table ([`GO`]).
    ///
    /// ```
    /// use alloc_cookbook::size_class::SizeClassTable;
    /// let t = SizeClassTable::generate(4096, 32768).unwrap();
    /// assert!(t.len() > 1);
    /// assert!(SizeClassTable::generate(5000, 32768).is_err());
    /// ```
    pub const fn generate(page_size: usize, max_small: usize) -> Result<Self, TableError> {
        if !page_size.is_power_of_two() || page_size < 1024 || page_size > (1 << 20) {
            return Err(TableError::BadPageSize(page_size));
        }
        if max_small % 256 != 0 || max_small < 2048 || max_small > MAX_MAX_SMALL {
            return Err(TableError::BadMaxSmall(max_small));
        }
        let mut t = SizeClassTable {
            page_size,
            max_small,
            len: 1, // class 0: large objects
            sizes: [0; MAX_CLASSES],
            pages: [0; MAX_CLASSES],
            magic: [0; MAX_CLASSES],
            class8: [0; CLASS8_LEN],
            class128: [0; CLASS128_LEN],
        };

        // ANCHOR: generate
        // 1. Candidate sizes, stepping by an alignment that grows at powers of two.
        let mut align = MIN_ALIGN;
        let mut size = align;
        while size <= max_small {
            if size.is_power_of_two() {
                if size >= 2048 {
                    align = 256;
                } else if size >= 128 {
                    align = size / 8;
                } else if size >= 32 {
                    align = 16; // Go: heap bitmaps assume 16-byte alignment from 32 bytes.
                }
            }
            // 2. The fewest pages whose leftover tail is at most 1/8 of the span.
            let mut span = page_size;
            while span % size > span / 8 {
                span += page_size;
            }
            let npages = span / page_size;
            // 3. Merge with the previous class when both give the same span and count.
            let last = t.len - 1;
            if t.len > 1
                && npages == t.pages[last] as usize
                && span / size == span / t.sizes[last] as usize
            {
                t.sizes[last] = size as u32;
            } else {
                if t.len == MAX_CLASSES || npages > u16::MAX as usize {
                    return Err(TableError::TooManyClasses);
                }
                t.sizes[t.len] = size as u32;
                t.pages[t.len] = npages as u16;
                t.len += 1;
            }
            size += align;
        }

        // 4. Grow each class to the largest 128-aligned size with the same object count.
        let mut c = 1;
        while c < t.len {
            let span = t.pages[c] as usize * page_size;
            let grown = (span / (span / t.sizes[c] as usize)) & !(LARGE_SIZE_DIV - 1);
            if grown > t.sizes[c] as usize {
                t.sizes[c] = grown as u32;
            }
            c += 1;
        }
        // Growing can make a class reach the next one's size with other
        // parameters (4 KiB pages: 1408 grows to 1536, which is already a class).
        // Go's parameters never do; we keep the first of such twins.
        let mut read = 1;
        let mut write = 1;
        while read < t.len {
            if write == 1 || t.sizes[read] > t.sizes[write - 1] {
                t.sizes[write] = t.sizes[read];
                t.pages[write] = t.pages[read];
                write += 1;
            }
            read += 1;
        }
        t.len = write;
        let mut c = 1;
        while c < t.len {
            t.magic[c] = (u32::MAX / t.sizes[c]).wrapping_add(1);
            c += 1;
        }
        // ANCHOR_END: generate

        // 5. Lookup tables: each bucket maps to the smallest class that holds it.
        let mut i = 0;
        let mut c = 1;
        while i < CLASS8_LEN {
            let bound = if i == 0 { 1 } else { i * SMALL_SIZE_DIV };
            while (t.sizes[c] as usize) < bound {
                c += 1;
            }
            t.class8[i] = c as u8;
            i += 1;
        }
        let mut i = 0;
        let mut c = 1;
        while i <= (max_small - SMALL_SIZE_MAX) / LARGE_SIZE_DIV {
            let bound = SMALL_SIZE_MAX + i * LARGE_SIZE_DIV;
            while (t.sizes[c] as usize) < bound {
                c += 1;
            }
            t.class128[i] = c as u8;
            i += 1;
        }
        Ok(t)
    }

    /// Number of entries, class 0 included (68 for Go's table).
    #[inline]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Always false: every table has class 0 and at least one small class.
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// Page size the table was generated for.
    pub const fn page_size(&self) -> usize {
        self.page_size
    }

    /// Largest small size; larger requests are large objects (class 0).
    pub const fn max_small(&self) -> usize {
        self.max_small
    }

    /// The class for a request of `size` bytes; 0 means "large object".
    /// A zero-byte request maps to the smallest class.
    ///
    /// ```
    /// use alloc_cookbook::size_class::GO;
    /// assert_eq!(GO.size(GO.class_of(8)), 8);
    /// assert_eq!(GO.size(GO.class_of(9)), 16);
    /// assert_eq!(GO.class_of(32 * 1024 + 1), 0);
    /// ```
    // ANCHOR: class_of
    #[inline(always)]
    pub const fn class_of(&self, size: usize) -> u8 {
        if size <= SMALL_SIZE_MAX - SMALL_SIZE_DIV {
            self.class8[size.div_ceil(SMALL_SIZE_DIV)]
        } else if size <= self.max_small {
            // Sizes 1017..=1024 land in bucket 0 (the 1024-byte class), as in Go.
            self.class128[(size + LARGE_SIZE_DIV - 1 - SMALL_SIZE_MAX) / LARGE_SIZE_DIV]
        } else {
            0
        }
    }
    // ANCHOR_END: class_of

    /// Bytes per object of `class` (0 for class 0).
    #[inline(always)]
    pub const fn size(&self, class: u8) -> usize {
        self.sizes[class as usize] as usize
    }

    /// Pages per span of `class`.
    #[inline(always)]
    pub const fn pages(&self, class: u8) -> usize {
        self.pages[class as usize] as usize
    }

    /// The multiplier for dividing an offset by the class size:
    /// `offset / size == (offset * magic) >> 32` for every offset inside a span.
    ///
    /// ```
    /// use alloc_cookbook::size_class::GO;
    /// let c = GO.class_of(48);
    /// let magic = GO.div_magic(c) as u64;
    /// assert_eq!(((1000 * magic) >> 32) as usize, 1000 / 48);
    /// ```
    #[inline(always)]
    pub const fn div_magic(&self, class: u8) -> u32 {
        self.magic[class as usize]
    }

    // ANCHOR: object_index
    /// `offset / size(class)` by multiply and shift (Go's `divideByElemSize`).
    #[inline(always)]
    pub const fn object_index(&self, class: u8, offset: usize) -> usize {
        ((offset as u64 * self.magic[class as usize] as u64) >> 32) as usize
    }
    // ANCHOR_END: object_index

    /// The full row for `class`, with Go's comment columns.
    pub fn class(&self, class: u8) -> SizeClass {
        let c = class as usize;
        assert!(c < self.len, "class {class} out of range 0..{}", self.len);
        let size = self.sizes[c] as usize;
        let pages = self.pages[c] as usize;
        let span_bytes = pages * self.page_size;
        if c == 0 {
            return SizeClass {
                class,
                size: 0,
                span_bytes: 0,
                pages: 0,
                objects: 0,
                tail_waste: 0,
                max_waste_pct: 0.0,
                min_align: self.page_size,
            };
        }
        let objects = span_bytes / size;
        let tail_waste = span_bytes - size * objects;
        let prev = self.sizes[c - 1] as usize;
        let max_waste = (size - prev - 1) * objects + tail_waste;
        let align_shift =
            (size.trailing_zeros() as usize).min(self.page_size.trailing_zeros() as usize);
        SizeClass {
            class,
            size,
            span_bytes,
            pages,
            objects,
            tail_waste,
            max_waste_pct: 100.0 * max_waste as f64 / span_bytes as f64,
            min_align: 1 << align_shift,
        }
    }

    /// All rows, class 1 to the last (class 0 left out).
    pub fn classes(&self) -> impl Iterator<Item = SizeClass> + '_ {
        (1..self.len).map(|c| self.class(c as u8))
    }

    /// Checks the division magic against real division for every offset of every
    /// class's span (Go's `computeDivMagic` proves the same by brute force).
    pub fn verify_div_magic(&self) -> Result<(), String> {
        for c in 1..self.len as u8 {
            let span = self.pages(c) * self.page_size;
            let size = self.size(c);
            for off in 0..=span {
                if self.object_index(c, off) != off / size {
                    return Err(format!(
                        "class {c} ({size} B): magic division is wrong at offset {off}"
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's published table (Go 1.20-1.23 `runtime/sizeclasses.go`), as expected
    /// data: class, bytes/obj, bytes/span, objects, tail waste, max waste %, min align.
    const GO_PUBLISHED: [(u8, usize, usize, usize, usize, &str, usize); 67] = [
        (1, 8, 8192, 1024, 0, "87.50", 8),
        (2, 16, 8192, 512, 0, "43.75", 16),
        (3, 24, 8192, 341, 8, "29.24", 8),
        (4, 32, 8192, 256, 0, "21.88", 32),
        (5, 48, 8192, 170, 32, "31.52", 16),
        (6, 64, 8192, 128, 0, "23.44", 64),
        (7, 80, 8192, 102, 32, "19.07", 16),
        (8, 96, 8192, 85, 32, "15.95", 32),
        (9, 112, 8192, 73, 16, "13.56", 16),
        (10, 128, 8192, 64, 0, "11.72", 128),
        (11, 144, 8192, 56, 128, "11.82", 16),
        (12, 160, 8192, 51, 32, "9.73", 32),
        (13, 176, 8192, 46, 96, "9.59", 16),
        (14, 192, 8192, 42, 128, "9.25", 64),
        (15, 208, 8192, 39, 80, "8.12", 16),
        (16, 224, 8192, 36, 128, "8.15", 32),
        (17, 240, 8192, 34, 32, "6.62", 16),
        (18, 256, 8192, 32, 0, "5.86", 256),
        (19, 288, 8192, 28, 128, "12.16", 32),
        (20, 320, 8192, 25, 192, "11.80", 64),
        (21, 352, 8192, 23, 96, "9.88", 32),
        (22, 384, 8192, 21, 128, "9.51", 128),
        (23, 416, 8192, 19, 288, "10.71", 32),
        (24, 448, 8192, 18, 128, "8.37", 64),
        (25, 480, 8192, 17, 32, "6.82", 32),
        (26, 512, 8192, 16, 0, "6.05", 512),
        (27, 576, 8192, 14, 128, "12.33", 64),
        (28, 640, 8192, 12, 512, "15.48", 128),
        (29, 704, 8192, 11, 448, "13.93", 64),
        (30, 768, 8192, 10, 512, "13.94", 256),
        (31, 896, 8192, 9, 128, "15.52", 128),
        (32, 1024, 8192, 8, 0, "12.40", 1024),
        (33, 1152, 8192, 7, 128, "12.41", 128),
        (34, 1280, 8192, 6, 512, "15.55", 256),
        (35, 1408, 16384, 11, 896, "14.00", 128),
        (36, 1536, 8192, 5, 512, "14.00", 512),
        (37, 1792, 16384, 9, 256, "15.57", 256),
        (38, 2048, 8192, 4, 0, "12.45", 2048),
        (39, 2304, 16384, 7, 256, "12.46", 256),
        (40, 2688, 8192, 3, 128, "15.59", 128),
        (41, 3072, 24576, 8, 0, "12.47", 1024),
        (42, 3200, 16384, 5, 384, "6.22", 128),
        (43, 3456, 24576, 7, 384, "8.83", 128),
        (44, 4096, 8192, 2, 0, "15.60", 4096),
        (45, 4864, 24576, 5, 256, "16.65", 256),
        (46, 5376, 16384, 3, 256, "10.92", 256),
        (47, 6144, 24576, 4, 0, "12.48", 2048),
        (48, 6528, 32768, 5, 128, "6.23", 128),
        (49, 6784, 40960, 6, 256, "4.36", 128),
        (50, 6912, 49152, 7, 768, "3.37", 256),
        (51, 8192, 8192, 1, 0, "15.61", 8192),
        (52, 9472, 57344, 6, 512, "14.28", 256),
        (53, 9728, 49152, 5, 512, "3.64", 512),
        (54, 10240, 40960, 4, 0, "4.99", 2048),
        (55, 10880, 32768, 3, 128, "6.24", 128),
        (56, 12288, 24576, 2, 0, "11.45", 4096),
        (57, 13568, 40960, 3, 256, "9.99", 256),
        (58, 14336, 57344, 4, 0, "5.35", 2048),
        (59, 16384, 16384, 1, 0, "12.49", 8192),
        (60, 18432, 73728, 4, 0, "11.11", 2048),
        (61, 19072, 57344, 3, 128, "3.57", 128),
        (62, 20480, 40960, 2, 0, "6.87", 4096),
        (63, 21760, 65536, 3, 256, "6.25", 256),
        (64, 24576, 24576, 1, 0, "11.45", 8192),
        (65, 27264, 81920, 3, 128, "10.00", 128),
        (66, 28672, 57344, 2, 0, "4.91", 4096),
        (67, 32768, 32768, 1, 0, "12.50", 8192),
    ];

    /// Go's `size_to_class8` and `size_to_class128`, as published.
    const GO_CLASS8: [u8; 129] = [
        0, 1, 2, 3, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15,
        15, 16, 16, 17, 17, 18, 18, 19, 19, 19, 19, 20, 20, 20, 20, 21, 21, 21, 21, 22, 22, 22, 22,
        23, 23, 23, 23, 24, 24, 24, 24, 25, 25, 25, 25, 26, 26, 26, 26, 27, 27, 27, 27, 27, 27, 27,
        27, 28, 28, 28, 28, 28, 28, 28, 28, 29, 29, 29, 29, 29, 29, 29, 29, 30, 30, 30, 30, 30, 30,
        30, 30, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 32, 32, 32, 32, 32,
        32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
    ];

    #[test]
    fn flat_tables_match_gos_two_tables() {
        for size in 0..=MAX_SMALL_SIZE {
            let c = GO.class_of(size);
            assert_eq!(fast_class_of(size), c as usize, "size {size}");
            let p = fast_pointer_class_of(size);
            assert!(GO.size(p as u8) >= size.max(1), "size {size}");
            assert!(size <= 8 || GO.size(p as u8) % 16 == 0, "size {size}");
            assert_eq!(p, c as usize + (c == CLASS_24) as usize, "size {size}");
        }
    }

    #[test]
    fn reproduces_gos_published_table() {
        assert_eq!(GO.len(), NUM_SIZE_CLASSES);
        let rows: Vec<SizeClass> = GO.classes().collect();
        assert_eq!(rows.len(), GO_PUBLISHED.len());
        for (row, want) in rows.iter().zip(GO_PUBLISHED.iter()) {
            let got = (
                row.class,
                row.size,
                row.span_bytes,
                row.objects,
                row.tail_waste,
                format!("{:.2}", row.max_waste_pct),
                row.min_align,
            );
            let want = (
                want.0,
                want.1,
                want.2,
                want.3,
                want.4,
                want.5.to_string(),
                want.6,
            );
            assert_eq!(got, want, "class {}", row.class);
        }
    }

    #[test]
    fn lookup_tables_match_gos() {
        // Go leaves size 0 on the dummy class 0; we send it to class 1.
        assert_eq!(GO.class8[0], 1);
        assert_eq!(&GO.class8[1..], &GO_CLASS8[1..]);
        // Spot-check the coarse table against Go's: 1025 -> 33, 32768 -> 67.
        assert_eq!(GO.class128[0], 32);
        assert_eq!(GO.class128[1], 33);
        assert_eq!(GO.class128[(32768 - 1024) / 128], 67);
    }

    #[test]
    fn every_size_maps_to_the_smallest_class_that_holds_it() {
        for size in 1..=MAX_SMALL_SIZE {
            let c = GO.class_of(size);
            assert!(c >= 1, "size {size} got class 0");
            assert!(
                GO.size(c) >= size,
                "size {size} in class {c} of {}",
                GO.size(c)
            );
            assert!(
                GO.size(c - 1) < size,
                "size {size} fits class {} already",
                c - 1
            );
        }
        assert_eq!(GO.class_of(0), 1);
        assert_eq!(GO.class_of(MAX_SMALL_SIZE + 1), 0);
        assert_eq!(GO.class_of(usize::MAX), 0);
    }

    #[test]
    fn div_magic_is_exact_for_every_offset() {
        GO.verify_div_magic().unwrap();
    }

    #[test]
    fn what_if_tables_are_consistent() {
        for (page, max) in [
            (4096, 32768),
            (16384, 32768),
            (8192, 65536),
            (65536, 262144),
        ] {
            let t = SizeClassTable::generate(page, max).unwrap();
            assert_eq!(t.size(t.len() as u8 - 1), max, "page {page} max {max}");
            for size in 1..=max {
                let c = t.class_of(size);
                assert!(t.size(c) >= size && t.size(c - 1) < size);
            }
            for row in t.classes() {
                assert!(row.objects >= 1);
                assert_eq!(row.size % 8, 0);
            }
        }
    }

    #[test]
    fn bad_parameters_are_rejected() {
        assert_eq!(
            SizeClassTable::generate(3000, 32768).unwrap_err(),
            TableError::BadPageSize(3000)
        );
        assert_eq!(
            SizeClassTable::generate(8192, 1000).unwrap_err(),
            TableError::BadMaxSmall(1000)
        );
        assert!(SizeClassTable::generate(8192, 1 << 20).is_err());
    }
}
