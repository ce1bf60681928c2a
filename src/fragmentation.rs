//! External fragmentation over time: a deterministic churn experiment on a
//! private [`GoAlloc`], sampled as it runs.
//!
//! Rounding a request up to its size class (internal fragmentation) is only
//! the first overhead. Memory is also held by free slots inside spans that
//! still hold a live object, by objects parked in thread caches, by free
//! pages the page heap keeps, and by the arenas reserved from the OS. This
//! module runs one churn workload of random sizes (most small, some medium,
//! a few large) through four phases and records, every few steps, how many
//! bytes each layer holds. The book's fragmentation chapter draws it.
//!
//! The phases: **grow** (three allocations for every free), **churn** (as
//! many frees as allocations), **shrink** (nine frees for every
//! allocation: the program lets go of most of its memory), **regrow**
//! (growing again, reusing pages). The instance's scavenger threshold is set
//! to [`SCAVENGE_THRESHOLD`], so during the shrink phase the page heap gives
//! free pages back to the OS as soon as it holds more idle memory than that:
//! `bytes_resident` falls while `bytes_in_spans` lags behind `bytes_handed_out`.
//!
//! The fact a reader gets wrong: freeing most objects does not free most
//! spans. A span goes back to the page heap only when *every* slot in it is
//! free, so after the shrink phase `bytes_in_spans` stays well above
//! `bytes_handed_out`: a few survivors pin whole spans (external
//! fragmentation), and only the pages of completely empty spans can be
//! given back to the OS.
//!
//! The run is deterministic: the same seed and step count give the same
//! byte counts (addresses differ, counts do not), because one thread drives
//! the private instance and the allocator's decisions do not depend on
//! addresses. Peak memory is roughly `steps` x 1 KiB. The private instance's
//! address-space reservation is not returned afterwards (a `GoAlloc` heap is
//! never unmapped), but its pages are: the run ends with
//! [`GoAlloc::free_os_memory`].
//!
//! ```
//! use alloc_cookbook::fragmentation::churn_timeline;
//! let samples = churn_timeline(7, 4_000);
//! let last = samples.last().unwrap();
//! assert_eq!(last.bytes_requested, 0);
//! for s in &samples {
//!     assert!(s.bytes_requested <= s.bytes_handed_out);
//!     assert!(s.bytes_handed_out <= s.bytes_in_spans);
//!     assert!(s.bytes_in_spans <= s.bytes_resident);
//! }
//! ```

use crate::allocator::GoAlloc;
use std::alloc::{GlobalAlloc, Layout};

/// Idle resident bytes the experiment's instance keeps before its scavenger
/// gives pages back (a `GoAlloc` has no such cap by default: see
/// [`GoAlloc::set_scavenge_threshold`]).
pub const SCAVENGE_THRESHOLD: usize = 1 << 20;

/// A phase of the churn workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Three allocations per free.
    Grow,
    /// One allocation per free.
    Churn,
    /// Nine frees per allocation.
    Shrink,
    /// Three allocations per free again, on the pages left behind.
    Regrow,
    /// After freeing everything and `free_os_memory` (the last sample).
    Released,
}

impl Phase {
    /// Lower-case name for tables and chart legends.
    ///
    /// ```
    /// assert_eq!(alloc_cookbook::fragmentation::Phase::Shrink.name(), "shrink");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Phase::Grow => "grow",
            Phase::Churn => "churn",
            Phase::Shrink => "shrink",
            Phase::Regrow => "regrow",
            Phase::Released => "released",
        }
    }
}

/// One sample of the timeline. All byte counts are for the experiment's own
/// `GoAlloc` instance; each is at least the one listed before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChurnSample {
    /// Operations (allocations + frees) done so far.
    pub step: usize,
    /// Phase the sample was taken in.
    pub phase: Phase,
    /// Objects alive.
    pub live_objects: u64,
    /// Bytes the live objects were requested with: what the program asked for.
    pub bytes_requested: u64,
    /// The same objects rounded up to their size class (whole pages for large
    /// objects): requested plus internal fragmentation.
    pub bytes_handed_out: u64,
    /// Bytes of every span holding at least one object, including free
    /// slots and thread-cached objects: handed out plus external fragmentation.
    pub bytes_in_spans: u64,
    /// Bytes reserved from the OS minus bytes released or never touched:
    /// in spans plus free pages the page heap keeps resident.
    pub bytes_resident: u64,
    /// Bytes reserved from the OS (address space, mostly not resident).
    pub bytes_reserved: u64,
}

impl ChurnSample {
    /// Header of [`ChurnSample::tsv_row`].
    pub const TSV_HEADER: &'static str = "step\tphase\tlive_objects\tbytes_requested\tbytes_handed_out\tbytes_in_spans\tbytes_resident\tbytes_reserved";

    /// The sample as one tab-separated line (no newline).
    ///
    /// ```
    /// use alloc_cookbook::fragmentation::churn_timeline;
    /// let s = churn_timeline(1, 1_000);
    /// assert!(s[0].tsv_row().starts_with("0\tgrow\t"));
    /// ```
    pub fn tsv_row(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            self.step,
            self.phase.name(),
            self.live_objects,
            self.bytes_requested,
            self.bytes_handed_out,
            self.bytes_in_spans,
            self.bytes_resident,
            self.bytes_reserved
        )
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Request sizes: 60 % 16..=256 B, 30 % up to 4 KiB, 9 % up to 32 KiB, 1 % large up to 256 KiB.
    fn size(&mut self) -> usize {
        let (lo, hi) = match self.below(100) {
            0..=59 => (16, 256),
            60..=89 => (257, 4096),
            90..=98 => (4097, 32768),
            _ => (32769, 262_144),
        };
        lo + self.below((hi - lo + 1) as u64) as usize
    }
}

fn sample(a: &GoAlloc, step: usize, phase: Phase) -> ChurnSample {
    let s = a.stats();
    ChurnSample {
        step,
        phase,
        live_objects: s.live_objects,
        bytes_requested: s.bytes_requested,
        bytes_handed_out: s.bytes_handed_out,
        bytes_in_spans: s.heap_in_use,
        bytes_resident: s.heap_resident,
        bytes_reserved: s.heap_reserved,
    }
}

/// Runs the churn workload for `steps` operations (at least 100) with the
/// given seed and returns about 200 samples, the last one after everything
/// was freed and the memory released.
///
/// ```
/// use alloc_cookbook::fragmentation::{churn_timeline, Phase};
/// let a = churn_timeline(3, 2_000);
/// let b = churn_timeline(3, 2_000);
/// assert_eq!(a, b); // deterministic
/// assert_eq!(a.last().unwrap().phase, Phase::Released);
/// ```
pub fn churn_timeline(seed: u64, steps: usize) -> Vec<ChurnSample> {
    let steps = steps.max(100);
    let a = GoAlloc::new();
    a.set_scavenge_threshold(SCAVENGE_THRESHOLD);
    let every = (steps / 200).max(1);
    let mut out = Vec::with_capacity(steps / every + 2);
    churn_workload(&a, seed, steps, |step, phase| {
        if step % every == 0 {
            out.push(sample(&a, step, phase));
        }
    });
    a.free_os_memory();
    out.push(sample(&a, steps, Phase::Released));
    out
}

/// The book's run of the workload: [`churn_timeline`]`(BOOK_SEED, BOOK_STEPS)`
/// draws the fragmentation chapter, and the allocator bench measures peak
/// resident bytes of the same run under each allocator.
pub const BOOK_SEED: u64 = 1;
/// See [`BOOK_SEED`].
pub const BOOK_STEPS: usize = 100_000;

/// The churn workload itself, on any allocator: `steps` operations (at
/// least 100) in the four phases, every allocation's bytes written, and
/// everything freed at the end. `before_step(step, phase)` runs before each
/// operation (the timeline samples there). Returns the peak of the live
/// objects' requested bytes, which is the same for every allocator: the
/// sequence of requests depends only on the seed.
///
/// ```
/// use alloc_cookbook::fragmentation::churn_workload;
/// let a = churn_workload(&std::alloc::System, 5, 1_000, |_, _| {});
/// let b = churn_workload(&alloc_cookbook::GoAlloc::new(), 5, 1_000, |_, _| {});
/// assert_eq!(a, b);
/// assert!(a > 0);
/// ```
pub fn churn_workload<A: GlobalAlloc>(
    a: &A,
    seed: u64,
    steps: usize,
    mut before_step: impl FnMut(usize, Phase),
) -> u64 {
    let steps = steps.max(100);
    let mut rng = Rng(seed);
    let mut live: Vec<(*mut u8, Layout)> = Vec::new();
    let (mut live_bytes, mut peak) = (0u64, 0u64);
    for step in 0..steps {
        let phase = match step * 100 / steps {
            0..=34 => Phase::Grow,
            35..=59 => Phase::Churn,
            60..=84 => Phase::Shrink,
            _ => Phase::Regrow,
        };
        before_step(step, phase);
        let allocs_per_100 = match phase {
            Phase::Grow | Phase::Regrow => 75,
            Phase::Churn => 50,
            _ => 10,
        };
        if live.is_empty() || rng.below(100) < allocs_per_100 {
            let l = Layout::from_size_align(rng.size(), 8).expect("sizes are small");
            // SAFETY: non-zero layout; freed below with the same layout.
            let p = unsafe { a.alloc(l) };
            if p.is_null() {
                break;
            }
            // SAFETY: p holds l.size() bytes; touch them as a program would.
            unsafe { p.write_bytes(step as u8, l.size()) };
            live.push((p, l));
            live_bytes += l.size() as u64;
            peak = peak.max(live_bytes);
        } else {
            let i = rng.below(live.len() as u64) as usize;
            let (p, l) = live.swap_remove(i);
            live_bytes -= l.size() as u64;
            // SAFETY: allocated by `a` with layout l, freed once.
            unsafe { a.dealloc(p, l) };
        }
    }
    for (p, l) in live.drain(..) {
        // SAFETY: allocated by `a` with layout l, freed once.
        unsafe { a.dealloc(p, l) };
    }
    peak
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_nest_and_the_scavenger_gives_memory_back() {
        let t = churn_timeline(11, 20_000);
        assert!(t.len() >= 200);
        let peak = t.iter().map(|s| s.bytes_resident).max().unwrap();
        let shrunk = t.iter().rev().find(|s| s.phase == Phase::Shrink).unwrap();
        assert!(
            shrunk.bytes_resident < peak,
            "the scavenger must give pages back"
        );
        assert!(
            shrunk.bytes_in_spans > shrunk.bytes_handed_out,
            "survivors pin spans after the shrink phase"
        );
        for s in &t {
            assert!(s.bytes_requested <= s.bytes_handed_out);
            assert!(s.bytes_handed_out <= s.bytes_in_spans);
            assert!(s.bytes_in_spans <= s.bytes_resident);
            assert!(s.bytes_resident <= s.bytes_reserved);
        }
        let last = t.last().unwrap();
        assert_eq!(
            (last.live_objects, last.bytes_in_spans, last.bytes_resident),
            (0, 0, 0)
        );
    }
}
