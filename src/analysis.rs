//! Overhead analysis: what a request of a given size really costs.
//!
//! Part of the allocator described in [`crate::allocator`]; built on the table in
//! [`crate::size_class`].
//!
//! A request costs more than its size in two ways. *Internal waste*: it is
//! rounded up to its class (33 bytes become 48). *Span tail*: a span of whole
//! pages rarely divides evenly into objects, and the leftover is shared by
//! every object of the span. The fact a reader gets wrong: the waste is a
//! sawtooth, not a curve. One byte past a class boundary costs the most (33 B
//! wastes 31 %), one byte less costs nothing, so the advice is about
//! boundaries: ask for a class's upper bound, or fill it (see [`advise`] and
//! [`elements_to_fill`]).
//!
//! This module also models other allocators' rounding for comparison
//! ([`Scheme`]): jemalloc's four classes per doubling, mimalloc's bins and
//! glibc's 16-byte chunks with an 8-byte header. The models are checked
//! against the real allocators by the `cookbook usable` command, which
//! measures rather than models.
//!
//! ```
//! use alloc_cookbook::analysis::{explain, advise};
//! let e = explain(33);
//! assert_eq!((e.class, e.rounded, e.waste), (5, 48, 15));
//! let a = advise(33);
//! assert_eq!(a.smaller_fit, Some(32)); // 32 B would waste nothing
//! ```

use crate::size_class::{SizeClassTable, GO, PAGE_SIZE};

/// What one request size costs under a size-class table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Explanation {
    /// The request in bytes.
    pub size: usize,
    /// Its class; 0 for a large object (whole pages).
    pub class: u8,
    /// Bytes handed out: the class size, or whole pages for a large object.
    pub rounded: usize,
    /// `rounded - size`.
    pub waste: usize,
    /// `waste` as a percentage of `rounded`.
    pub waste_pct: f64,
    /// Objects per span (1 for a large object).
    pub objects_per_span: usize,
    /// Bytes per span (pages × page size).
    pub span_bytes: usize,
    /// This object's share of the span's unused tail, in bytes.
    pub tail_share: f64,
    /// `size / (rounded + tail_share)`: the part of the consumed memory the
    /// program asked for.
    pub efficiency: f64,
}

/// Explains a request under Go's table ([`GO`]).
///
/// ```
/// use alloc_cookbook::analysis::explain;
/// let e = explain(1025);
/// assert_eq!(e.rounded, 1152);
/// let big = explain(40_000); // large object: whole 8 KiB pages
/// assert_eq!((big.class, big.rounded), (0, 40_960));
/// ```
pub fn explain(size: usize) -> Explanation {
    explain_in(&GO, size)
}

/// Explains a request under any generated table.
pub fn explain_in(table: &SizeClassTable, size: usize) -> Explanation {
    let class = table.class_of(size);
    let (rounded, objects, span_bytes) = if class == 0 {
        let page = table.page_size();
        let bytes = size.div_ceil(page).max(1) * page;
        (bytes, 1, bytes)
    } else {
        let row = table.class(class);
        (row.size, row.objects, row.span_bytes)
    };
    let tail = span_bytes - rounded * objects;
    let tail_share = tail as f64 / objects as f64;
    let waste = rounded - size;
    Explanation {
        size,
        class,
        rounded,
        waste,
        waste_pct: 100.0 * waste as f64 / rounded as f64,
        objects_per_span: objects,
        span_bytes,
        tail_share,
        efficiency: size as f64 / (rounded as f64 + tail_share),
    }
}

/// Advice for one request size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advice {
    /// The request.
    pub size: usize,
    /// The largest size that still lands in the same class: growing up to it is free.
    pub same_class_max: usize,
    /// The largest size in the class below (a cheaper class), if any: shrinking
    /// to it saves `rounded - smaller_fit` bytes per object.
    pub smaller_fit: Option<usize>,
    /// Bytes saved per object by shrinking to `smaller_fit`.
    pub saving: usize,
}

/// Advice under Go's table: the nearest cheaper size and the free headroom.
///
/// ```
/// use alloc_cookbook::analysis::advise;
/// let a = advise(1025);
/// assert_eq!((a.same_class_max, a.smaller_fit, a.saving), (1152, Some(1024), 128));
/// ```
pub fn advise(size: usize) -> Advice {
    let e = explain(size);
    let smaller_fit = match e.class {
        0 => Some(GO.max_small()).filter(|&s| s < size),
        1 => None,
        c => Some(GO.size(c - 1)),
    };
    Advice {
        size,
        same_class_max: e.rounded,
        smaller_fit,
        saving: smaller_fit.map_or(0, |s| e.rounded - s),
    }
}

/// The best request sizes: each class's upper bound (nothing wasted to rounding).
///
/// ```
/// let best = alloc_cookbook::analysis::best_sizes();
/// assert_eq!(&best[..4], &[8, 16, 24, 32]);
/// ```
pub fn best_sizes() -> Vec<usize> {
    GO.classes().map(|c| c.size).collect()
}

/// For a `Vec<T>` with elements of `elem_size` bytes that must hold at least
/// `min_len` elements: the capacity whose bytes fill the size class exactly
/// (what Go's `append` does with `roundupsize`), and the bytes it occupies.
/// Returns `None` for zero-sized elements or an overflowing request.
///
/// ```
/// use alloc_cookbook::analysis::elements_to_fill;
/// // 5 × 24-byte elements = 120 B, which lands in the 128-byte class: 5 fit.
/// // 6 would need 144 B. But 10 × 24 = 240 B fills the 240-byte class.
/// assert_eq!(elements_to_fill(24, 5), Some((5, 128)));
/// assert_eq!(elements_to_fill(24, 10), Some((10, 240)));
/// assert_eq!(elements_to_fill(12, 3), Some((4, 48)));
/// ```
pub fn elements_to_fill(elem_size: usize, min_len: usize) -> Option<(usize, usize)> {
    if elem_size == 0 {
        return None;
    }
    let bytes = elem_size.checked_mul(min_len.max(1))?;
    let rounded = explain(bytes).rounded;
    Some((rounded / elem_size, rounded))
}

/// Waste of one class in a workload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassWaste {
    /// Class (0 = large objects).
    pub class: u8,
    /// Class size (0 for large objects).
    pub class_size: usize,
    /// Requests that landed in this class.
    pub count: u64,
    /// Bytes requested.
    pub requested: u64,
    /// Bytes handed out (rounded).
    pub consumed: u64,
}

impl ClassWaste {
    /// `consumed - requested`.
    pub fn waste(&self) -> u64 {
        self.consumed - self.requested
    }
}

/// The waste report for a workload (a histogram of request sizes).
#[derive(Debug, Clone, PartialEq)]
pub struct WasteReport {
    /// Total requests.
    pub count: u64,
    /// Total bytes requested.
    pub requested: u64,
    /// Total bytes handed out (rounded to classes or pages).
    pub consumed: u64,
    /// Per class, most wasteful first.
    pub by_class: Vec<ClassWaste>,
}

impl WasteReport {
    /// Wasted bytes in percent of the bytes handed out.
    pub fn waste_pct(&self) -> f64 {
        if self.consumed == 0 {
            0.0
        } else {
            100.0 * (self.consumed - self.requested) as f64 / self.consumed as f64
        }
    }
}

/// Builds the waste report for `(size, count)` pairs under Go's table.
///
/// ```
/// use alloc_cookbook::analysis::waste_report;
/// let r = waste_report(&[(33, 100), (32, 100)]);
/// assert_eq!((r.requested, r.consumed), (6500, 8000));
/// assert_eq!(r.by_class[0].class_size, 48); // the 33-byte requests cost most
/// ```
pub fn waste_report(histogram: &[(usize, u64)]) -> WasteReport {
    let mut by: Vec<ClassWaste> = Vec::new();
    for &(size, count) in histogram {
        let e = explain(size);
        let requested = size as u64 * count;
        let consumed = e.rounded as u64 * count;
        match by
            .iter_mut()
            .find(|c| c.class == e.class && (e.class != 0 || c.class_size == 0))
        {
            Some(c) => {
                c.count += count;
                c.requested += requested;
                c.consumed += consumed;
            }
            None => by.push(ClassWaste {
                class: e.class,
                class_size: if e.class == 0 { 0 } else { e.rounded },
                count,
                requested,
                consumed,
            }),
        }
    }
    by.sort_by(|a, b| b.waste().cmp(&a.waste()).then(a.class.cmp(&b.class)));
    WasteReport {
        count: by.iter().map(|c| c.count).sum(),
        requested: by.iter().map(|c| c.requested).sum(),
        consumed: by.iter().map(|c| c.consumed).sum(),
        by_class: by,
    }
}

/// A malformed histogram line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong, naming the bad value.
    pub message: String,
}

impl std::fmt::Display for HistogramError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for HistogramError {}

/// Parses a histogram: one request per line as `size` or `size count`
/// (whitespace separated); blank lines and `#` comments are skipped.
///
/// ```
/// use alloc_cookbook::analysis::parse_histogram;
/// assert_eq!(parse_histogram("24 10\n# comment\n100\n").unwrap(), vec![(24, 10), (100, 1)]);
/// let err = parse_histogram("24\nabc\n").unwrap_err();
/// assert_eq!(err.line, 2);
/// assert!(err.to_string().contains("\"abc\""));
/// ```
pub fn parse_histogram(text: &str) -> Result<Vec<(usize, u64)>, HistogramError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let err = |message: String| HistogramError {
            line: i + 1,
            message,
        };
        let mut fields = line.split_whitespace();
        let size_s = fields.next().unwrap_or("");
        let size: usize = size_s
            .parse()
            .map_err(|_| err(format!("size {size_s:?} is not a whole number")))?;
        if size == 0 {
            return Err(err("size 0 is not a request".to_string()));
        }
        let count: u64 = match fields.next() {
            None => 1,
            Some(c) => c
                .parse()
                .map_err(|_| err(format!("count {c:?} is not a whole number")))?,
        };
        if let Some(extra) = fields.next() {
            return Err(err(format!(
                "unexpected {extra:?}: expected `size` or `size count`"
            )));
        }
        out.push((size, count));
    }
    Ok(out)
}

/// Another allocator's rounding scheme, modelled (see the module header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Go's size classes (this crate's allocator).
    Go,
    /// jemalloc 5: 8, then 16-byte steps to 128, then four classes per
    /// doubling up to 32 KiB, then whole 4 KiB pages.
    Jemalloc,
    /// mimalloc: 8 B, then 16-byte steps up to 64 B, then four bins per
    /// doubling up to 512 KiB, then 64 KiB steps.
    Mimalloc,
    /// glibc malloc: 16-byte chunks with an 8-byte header, 32-byte minimum
    /// chunk; mmap'ed above 128 KiB.
    Glibc,
}

impl Scheme {
    /// All schemes, Go first.
    pub const ALL: [Scheme; 4] = [
        Scheme::Go,
        Scheme::Jemalloc,
        Scheme::Mimalloc,
        Scheme::Glibc,
    ];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Go => "go",
            Scheme::Jemalloc => "jemalloc",
            Scheme::Mimalloc => "mimalloc",
            Scheme::Glibc => "glibc",
        }
    }

    /// Usable bytes the model predicts for a request of `size` (> 0) bytes.
    ///
    /// ```
    /// use alloc_cookbook::analysis::Scheme;
    /// assert_eq!(Scheme::Go.usable(33), 48);
    /// assert_eq!(Scheme::Jemalloc.usable(129), 160);
    /// assert_eq!(Scheme::Mimalloc.usable(65), 80);
    /// assert_eq!(Scheme::Mimalloc.usable(33), 48);
    /// assert_eq!(Scheme::Glibc.usable(1), 24);
    /// assert_eq!(Scheme::Glibc.usable(25), 40);
    /// ```
    pub fn usable(self, size: usize) -> usize {
        let size = size.max(1);
        match self {
            Scheme::Go => explain(size).rounded,
            Scheme::Jemalloc => {
                if size <= 8 {
                    8
                } else if size <= 128 {
                    size.next_multiple_of(16)
                } else if size <= 32 << 10 {
                    let lg = usize::BITS - 1 - (size - 1).leading_zeros();
                    size.next_multiple_of(1 << (lg - 2))
                } else {
                    // Large extents report whole 4 KiB pages (measured).
                    size.next_multiple_of(4096)
                }
            }
            Scheme::Mimalloc => {
                let words = size.div_ceil(8);
                if words <= 1 {
                    8
                } else if words <= 8 {
                    // Blocks above one word are 16-byte aligned: even word counts.
                    words.next_multiple_of(2) * 8
                } else if size <= 512 << 10 {
                    let w = words - 1;
                    let b = usize::BITS - 1 - w.leading_zeros();
                    (((w >> (b - 2)) + 1) << (b - 2)) * 8
                } else {
                    // Above 512 KiB: 64 KiB steps (measured).
                    size.next_multiple_of(64 << 10)
                }
            }
            Scheme::Glibc => {
                if size >= 128 << 10 {
                    (size + 16).next_multiple_of(4096) - 16
                } else {
                    (size + 8 + 15).max(32) / 16 * 16 - 8
                }
            }
        }
    }
}

/// Whole pages a large request occupies under Go's 8 KiB pages.
///
/// ```
/// assert_eq!(alloc_cookbook::analysis::large_pages(32 * 1024 + 1), 5);
/// ```
pub fn large_pages(size: usize) -> usize {
    size.div_ceil(PAGE_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explain_matches_the_table_for_every_small_size() {
        for size in 1..=GO.max_small() {
            let e = explain(size);
            assert_eq!(e.rounded, GO.size(GO.class_of(size)));
            assert_eq!(e.waste, e.rounded - size);
            assert!(e.efficiency > 0.0 && e.efficiency <= 1.0, "size {size}");
        }
    }

    #[test]
    fn tail_share_spreads_the_span_tail() {
        // 48-byte class: 170 objects in 8192 bytes, 32 bytes of tail.
        let e = explain(48);
        assert_eq!(e.objects_per_span, 170);
        assert!((e.tail_share - 32.0 / 170.0).abs() < 1e-12);
        assert_eq!(e.waste, 0);
    }

    #[test]
    fn advice_at_boundaries() {
        assert_eq!(advise(8).smaller_fit, None);
        assert_eq!(advise(33).saving, 16);
        let big = advise(40_000);
        assert_eq!(big.smaller_fit, Some(32_768));
    }

    #[test]
    fn waste_report_adds_up() {
        let r = waste_report(&[(1, 3), (33, 2), (40_000, 1), (50_000, 1)]);
        assert_eq!(r.count, 7);
        assert_eq!(r.requested, 3 + 66 + 90_000);
        assert_eq!(r.consumed, 3 * 8 + 2 * 48 + 40_960 + 57_344);
        let large = r.by_class.iter().find(|c| c.class == 0).unwrap();
        assert_eq!(large.count, 2);
        let wastes: Vec<u64> = r.by_class.iter().map(|c| c.waste()).collect();
        assert!(wastes.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn histogram_errors_name_line_and_value() {
        let e = parse_histogram("8 1\n0 5\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse_histogram("8 x\n").unwrap_err();
        assert!(e.message.contains("\"x\""));
        let e = parse_histogram("8 1 2\n").unwrap_err();
        assert!(e.message.contains("\"2\""));
    }

    #[test]
    fn models_are_monotonic_and_cover_the_request() {
        for scheme in Scheme::ALL {
            let mut prev = 0;
            for size in 1..=(256 << 10) {
                let u = scheme.usable(size);
                assert!(u >= size, "{} {size} -> {u}", scheme.name());
                assert!(u >= prev, "{} not monotonic at {size}", scheme.name());
                prev = u;
            }
        }
    }

    #[test]
    fn jemalloc_model_matches_its_published_classes() {
        let classes: Vec<usize> = (1..=1024)
            .map(|s| Scheme::Jemalloc.usable(s))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(
            classes,
            [
                8, 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640,
                768, 896, 1024
            ]
        );
    }
}
