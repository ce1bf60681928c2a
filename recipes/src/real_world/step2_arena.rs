//! Step 2: an arena per batch (the batch recipe's arena pattern). Each line
//! is copied once into a `bumpalo::Bump`; the record borrows its fields from
//! that copy instead of owning seven strings; the batch's records live in a
//! bumpalo `Vec` in the same arena; and the arena is reset per batch, which
//! frees everything at once and keeps its memory for the next batch.
//!
//! The fact a reader gets wrong: the arena never runs `Drop`, which is safe
//! here only because nothing in it owns heap memory (`&str` and numbers). A
//! std `String` stored in the bump would leak.

// ANCHOR: imports
use super::step1_presized::{finish, Totals};
use super::{parse_line, trim_newline, Fields, Report, BATCH_LINES};
use bumpalo::Bump;
use std::io::BufRead;
// ANCHOR_END: imports

// ANCHOR: arena
/// Parses each batch into an arena reset per batch; aggregates as step 1.
/// A batch ends after [`BATCH_LINES`] lines *read*, parsed or not, so input
/// where no line parses cannot pile up in the arena.
///
/// ```
/// use alloc_recipes::real_world::{loggen, step2_arena};
/// let r = step2_arena::analyze(&loggen::generate(1, 500)[..]).unwrap();
/// assert_eq!(r.lines, 500);
/// ```
pub fn analyze(mut input: impl BufRead) -> std::io::Result<Report> {
    let mut report = Report::default();
    let mut totals = Totals::presized();
    let mut line = String::with_capacity(512);
    // Room for one batch: the lines' text plus the records.
    let mut arena = Bump::with_capacity(BATCH_LINES * (192 + size_of::<Fields>()));
    let mut done = false;
    while !done {
        {
            let mut batch = bumpalo::collections::Vec::with_capacity_in(BATCH_LINES, &arena);
            for _ in 0..BATCH_LINES {
                line.clear();
                if input.read_line(&mut line)? == 0 {
                    done = true;
                    break;
                }
                report.lines += 1;
                let text: &str = arena.alloc_str(trim_newline(&line));
                match parse_line(text) {
                    Some(fields) => batch.push(fields),
                    None => report.malformed += 1,
                }
            }
            for r in &batch {
                totals.add(r.path, r.client, r.status, r.bytes, r.latency_us);
                report.by_hour[r.hour as usize] += 1;
                report.total_bytes += r.bytes;
            }
        } // the batch and every line it borrows end here...
        arena.reset(); // ...so the arena can be emptied in one step.
    }
    Ok(finish(totals, report))
}
// ANCHOR_END: arena
