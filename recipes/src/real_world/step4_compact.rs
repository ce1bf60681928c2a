//! Step 4: a size-aligned record layout (the size-aligned recipe's "keep a
//! type inside a class"). The record keeps only what the aggregation reads,
//! as symbols and numbers, ordered largest field first: 24 bytes, `Copy`, a
//! size a compile-time assertion holds in place. Since it borrows no text,
//! the line is parsed straight out of the reused line buffer and the arena
//! of steps 2 and 3 is no longer needed.
//!
//! The fact a reader gets wrong: the same fields in declaration order with
//! `#[repr(C)]` (`u16` status first, then `u64` bytes, ...) take 32 bytes,
//! a third more memory traffic for the same information; and a batch buffer
//! of 4096 such records is one allocation made once, so the allocation
//! count barely moves here: this step is about bytes touched, not calls.

// ANCHOR: imports
use super::step3_interned::{finish, Totals};
use super::{parse_line, trim_newline, Report, BATCH_LINES};
use std::io::BufRead;
// ANCHOR_END: imports

// ANCHOR: compact
/// One parsed line, as the aggregation needs it: 24 bytes, no heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Bytes sent.
    pub bytes: u64,
    /// Path symbol.
    pub path: u32,
    /// Client symbol.
    pub client: u32,
    /// Latency in microseconds.
    pub latency_us: u32,
    /// Response status.
    pub status: u16,
    /// Hour of day.
    pub hour: u8,
}

// If a field is added, this fails to compile instead of the record quietly
// moving to the next size class (32 bytes).
const _: () = assert!(size_of::<Record>() == 24);

/// The same fields as `repr(C)` in a careless order, for comparison.
///
/// ```
/// use alloc_recipes::real_world::step4_compact::{CarelessRecord, Record};
/// assert_eq!(size_of::<Record>(), 24);
/// if align_of::<u64>() == 8 {
///     assert_eq!(size_of::<CarelessRecord>(), 32); // 28 where u64 is 4-aligned (32-bit x86)
/// }
/// ```
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CarelessRecord {
    /// Response status.
    pub status: u16,
    /// Bytes sent.
    pub bytes: u64,
    /// Hour of day.
    pub hour: u8,
    /// Path symbol.
    pub path: u32,
    /// Client symbol.
    pub client: u32,
    /// Latency in microseconds.
    pub latency_us: u32,
}

/// Interns while parsing, batches 24-byte records in one reused `Vec`.
///
/// ```
/// use alloc_recipes::real_world::{loggen, step4_compact};
/// let r = step4_compact::analyze(&loggen::generate(1, 500)[..]).unwrap();
/// assert_eq!(r.lines, 500);
/// ```
pub fn analyze(mut input: impl BufRead) -> std::io::Result<Report> {
    let mut report = Report::default();
    let mut totals = Totals::presized();
    let mut line = String::with_capacity(512);
    let mut batch: Vec<Record> = Vec::with_capacity(BATCH_LINES);
    loop {
        line.clear();
        let done = input.read_line(&mut line)? == 0;
        if !done {
            report.lines += 1;
            match parse_line(trim_newline(&line)) {
                Some(f) => {
                    let (path, client) = totals.symbols(f.path, f.client);
                    batch.push(Record {
                        bytes: f.bytes,
                        path,
                        client,
                        latency_us: f.latency_us,
                        status: f.status,
                        hour: f.hour,
                    });
                }
                None => report.malformed += 1,
            }
        }
        if batch.len() == BATCH_LINES || (done && !batch.is_empty()) {
            for r in &batch {
                totals.add(r.path, r.client, r.status, r.bytes, r.latency_us);
                report.by_hour[r.hour as usize] += 1;
                report.total_bytes += r.bytes;
            }
            batch.clear();
        }
        if done {
            break;
        }
    }
    Ok(finish(totals, report))
}
// ANCHOR_END: compact
