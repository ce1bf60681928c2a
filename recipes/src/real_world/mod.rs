//! # A real-world program, optimized one recipe at a time
//!
//! Two programs, each written first the way a competent newcomer writes it,
//! then improved one cookbook recipe at a time. Every step is its own file
//! and function, and every step returns exactly the same result (the tests
//! check it), so the differences the benches measure are the recipes' doing.
//!
//! The fact a reader gets wrong: the big wins come from the *first* steps,
//! which remove allocations per line (and, in the naive program, the whole
//! file held in memory); the later steps, which remove the last allocations,
//! buy much less time than their allocation counts suggest, because by then
//! parsing and hashing dominate. The book's real-world chapter shows the
//! measured progression.
//!
//! ## The access-log analyzer
//! Reads a log ([`loggen`] makes a deterministic one), parses every line
//! into fields, aggregates requests, bytes and latency percentiles per path,
//! requests per status and hour, bytes per client, and reports the top
//! entries as a [`Report`]. The steps:
//!
//! | step | file | recipe |
//! |---|---|---|
//! | 0 | [`step0_naive`] | none: a `String` per line and per field, `Vec<Box<_>>` of every record, `HashMap<String, _>` with a cloned key per line |
//! | 1 | [`step1_presized`] | pre-sizing and buffer reuse: one line buffer, one batch buffer, pre-sized maps, keys cloned only when new |
//! | 2 | [`step2_arena`] | an arena per batch: fields borrow the line, copied once into a `bumpalo::Bump` reset per batch |
//! | 3 | [`step3_interned`] | interning: paths and clients become `u32` symbols, statistics live in `Vec`s indexed by symbol |
//! | 4 | [`step4_compact`] | size-aligned record layout: a 24-byte `Copy` record, no text kept, so no arena is needed |
//! | 5 | [`step5_soa`] | struct of arrays for the aggregation: latency columns instead of one growing `Vec` per path |
//!
//! All steps share one parser ([`parse_line`]), so the comparison is about
//! allocation and data layout, not about parsing tricks.
//!
//! ## The request handler
//! [`handler`]: a function called a million times that parses an HTTP
//! request's line and headers, routes it and builds a response: naive
//! (`HashMap<String, String>` headers, `format!` everywhere), then an arena
//! per request, then pooled response buffers.
//!
//! # Use it in your crate
//! Copy this folder to `src/real_world/` (or the parts the book shows: this
//! file's shared parser and report as the parent module, each step as a child
//! module that imports from `super`), declare `pub mod real_world;`, and add
//! to `Cargo.toml` (steps 2 and 3 and the handler use it):
//!
//! ```toml
//! [dependencies]
//! bumpalo = { version = "3.16", features = ["collections"] }
//! ```
//!
//! The doc examples name this module `alloc_recipes::real_world`: in your
//! crate replace `alloc_recipes` with your crate's name.
//!
//! ```
//! use alloc_recipes::real_world::{loggen, step0_naive, step5_soa};
//! let log = loggen::generate(7, 2_000);
//! let naive = step0_naive::analyze(&log[..]).unwrap();
//! let soa = step5_soa::analyze(&log[..]).unwrap();
//! assert_eq!(naive, soa);
//! assert_eq!(naive.lines, 2_000);
//! ```

// ANCHOR: imports
use std::fmt;
// ANCHOR_END: imports

pub mod handler;
pub mod loggen;
pub mod step0_naive;
pub mod step1_presized;
pub mod step2_arena;
pub mod step3_interned;
pub mod step4_compact;
pub mod step5_soa;

// ANCHOR: shared
/// How many entries the report lists in each top table.
///
/// ```
/// use alloc_recipes::real_world::{loggen, step5_soa, TOP_N};
/// let r = step5_soa::analyze(&loggen::generate(3, 1_000)[..]).unwrap();
/// assert_eq!(r.top_paths.len(), TOP_N);
/// ```
pub const TOP_N: usize = 10;

/// How many lines the batched steps read (parsed or not) before they
/// aggregate: 4,096 records of step 4's 24 bytes fill 96 KiB, a whole
/// number of pages.
///
/// ```
/// use alloc_recipes::real_world::{step4_compact::Record, BATCH_LINES};
/// assert_eq!(BATCH_LINES * size_of::<Record>() % 4096, 0);
/// ```
pub const BATCH_LINES: usize = 4096;

// ANCHOR_END: shared

/// An analyzer step: reads the log, returns the report.
///
/// ```
/// use alloc_recipes::real_world::{AnalyzeFn, STEPS};
/// let naive: AnalyzeFn = STEPS[0].1;
/// assert_eq!(naive(b"").unwrap().lines, 0);
/// ```
pub type AnalyzeFn = fn(&[u8]) -> std::io::Result<Report>;

/// Every analyzer step, in order, with the name the benches and the book use.
///
/// ```
/// use alloc_recipes::real_world::STEPS;
/// assert_eq!(STEPS[0].0, "naive");
/// assert_eq!(STEPS.len(), 6);
/// ```
pub const STEPS: [(&str, AnalyzeFn); 6] = [
    ("naive", |b| step0_naive::analyze(b)),
    ("presized + reused buffers", |b| step1_presized::analyze(b)),
    ("arena per batch", |b| step2_arena::analyze(b)),
    ("interned keys", |b| step3_interned::analyze(b)),
    ("compact record", |b| step4_compact::analyze(b)),
    ("struct of arrays", |b| step5_soa::analyze(b)),
];

// ANCHOR: parser
/// The fields of one log line, borrowed from it: what [`parse_line`] returns.
///
/// ```
/// use alloc_recipes::real_world::parse_line;
/// let line = r#"10.0.0.9 - bob [29/Nov/2026:23:59:59 +0000] "POST /login HTTP/1.1" 302 0 911 "Go-http-client/1.1""#;
/// let f = parse_line(line).unwrap();
/// assert_eq!((f.client, f.user, f.method, f.bytes, f.agent), ("10.0.0.9", "bob", "POST", 0, "Go-http-client/1.1"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields<'a> {
    /// The client address, e.g. `10.1.4.20`.
    pub client: &'a str,
    /// The authenticated user, `-` when none.
    pub user: &'a str,
    /// The timestamp as written, e.g. `29/Nov/2026:06:21:57 +0000`.
    pub time: &'a str,
    /// The hour of day (0..24), from the timestamp.
    pub hour: u8,
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The request path with its query string.
    pub path: &'a str,
    /// `HTTP/1.1`, ...
    pub protocol: &'a str,
    /// The response status.
    pub status: u16,
    /// Response bytes.
    pub bytes: u64,
    /// Time to respond, in microseconds.
    pub latency_us: u32,
    /// The user agent.
    pub agent: &'a str,
}

/// Parses one line (without its newline) of the generated log's format;
/// `None` for a malformed line (e.g. one cut short).
///
/// ```
/// use alloc_recipes::real_world::parse_line;
/// let f = parse_line(r#"10.0.0.1 - - [29/Nov/2026:06:21:57 +0000] "GET /health HTTP/1.1" 200 12 340 "curl/8.5.0""#).unwrap();
/// assert_eq!((f.path, f.status, f.hour, f.latency_us), ("/health", 200, 6, 340));
/// assert!(parse_line(r#"10.0.0.1 - - [29/Nov/2026:06:21:57 +0000] "GET /hea"#).is_none());
/// ```
pub fn parse_line(line: &str) -> Option<Fields<'_>> {
    let (client, rest) = line.split_once(" - ")?;
    let (user, rest) = rest.split_once(" [")?;
    let (time, rest) = rest.split_once("] \"")?;
    let hour = time.get(12..14)?.parse::<u8>().ok().filter(|h| *h < 24)?;
    let (method, rest) = rest.split_once(' ')?;
    let (path, rest) = rest.split_once(' ')?;
    let (protocol, rest) = rest.split_once("\" ")?;
    let (status, rest) = rest.split_once(' ')?;
    let (bytes, rest) = rest.split_once(' ')?;
    let (latency, rest) = rest.split_once(" \"")?;
    let agent = rest.strip_suffix('"')?;
    if client.is_empty() || path.is_empty() || agent.contains('"') {
        return None;
    }
    Some(Fields {
        client,
        user,
        time,
        hour,
        method,
        path,
        protocol,
        status: status.parse().ok()?,
        bytes: bytes.parse().ok()?,
        latency_us: latency.parse().ok()?,
        agent,
    })
}

/// `line` without its trailing `\n` or `\r\n`, as `BufRead::lines` returns it.
///
/// ```
/// use alloc_recipes::real_world::trim_newline;
/// assert_eq!(trim_newline("a b\r\n"), "a b");
/// assert_eq!(trim_newline("a b"), "a b");
/// ```
pub fn trim_newline(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

// ANCHOR_END: parser

// ANCHOR: report
/// The nearest-rank percentile `p` (0..=100; larger is taken as 100) of
/// `sorted` (ascending); 0 for an empty slice.
///
/// ```
/// use alloc_recipes::real_world::percentile;
/// let v = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
/// assert_eq!(percentile(&v, 50), 50);
/// assert_eq!(percentile(&v, 99), 100);
/// assert_eq!(percentile(&[], 50), 0);
/// ```
pub fn percentile(sorted: &[u32], p: u32) -> u32 {
    let n = sorted.len();
    if n == 0 {
        return 0;
    }
    let rank = (p.min(100) as usize * n).div_ceil(100).max(1);
    sorted[rank.min(n) - 1]
}

/// One path in the report's top table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathSummary {
    /// The path, with its query string.
    pub path: String,
    /// Requests to it.
    pub requests: u64,
    /// Bytes sent for it.
    pub bytes: u64,
    /// Median latency, microseconds.
    pub p50_us: u32,
    /// 90th percentile latency, microseconds.
    pub p90_us: u32,
    /// 99th percentile latency, microseconds.
    pub p99_us: u32,
}

impl PathSummary {
    /// The summary of one path from its latencies (sorted here, in place).
    ///
    /// ```
    /// use alloc_recipes::real_world::PathSummary;
    /// let s = PathSummary::new("/", 3, 30, &mut [300, 100, 200]);
    /// assert_eq!((s.p50_us, s.p99_us), (200, 300));
    /// ```
    pub fn new(path: &str, requests: u64, bytes: u64, latencies: &mut [u32]) -> Self {
        latencies.sort_unstable();
        PathSummary {
            path: path.to_string(),
            requests,
            bytes,
            p50_us: percentile(latencies, 50),
            p90_us: percentile(latencies, 90),
            p99_us: percentile(latencies, 99),
        }
    }
}

/// One client in the report's top table.
///
/// ```
/// use alloc_recipes::real_world::{loggen, step4_compact};
/// let r = step4_compact::analyze(&loggen::generate(3, 1_000)[..]).unwrap();
/// let top = &r.top_clients[0];
/// assert!(r.top_clients.iter().all(|c| c.bytes <= top.bytes));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSummary {
    /// The client address.
    pub client: String,
    /// Requests it made.
    pub requests: u64,
    /// Bytes it received.
    pub bytes: u64,
}

/// What the analyzer prints: the same for every step.
///
/// ```
/// use alloc_recipes::real_world::{loggen, step2_arena};
/// let r = step2_arena::analyze(&loggen::generate(3, 1_000)[..]).unwrap();
/// assert_eq!(r.by_hour.iter().sum::<u64>(), r.lines - r.malformed);
/// assert!(r.to_string().starts_with("1000 lines"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// Lines read, malformed ones included.
    pub lines: u64,
    /// Lines that did not parse.
    pub malformed: u64,
    /// Bytes sent over all requests.
    pub total_bytes: u64,
    /// Requests per status, by status.
    pub by_status: Vec<(u16, u64)>,
    /// Requests per hour of day.
    pub by_hour: [u64; 24],
    /// Distinct paths seen.
    pub distinct_paths: usize,
    /// Distinct clients seen.
    pub distinct_clients: usize,
    /// The [`TOP_N`] paths with the most requests (ties: by path).
    pub top_paths: Vec<PathSummary>,
    /// The [`TOP_N`] clients that received the most bytes (ties: by address).
    pub top_clients: Vec<ClientSummary>,
}

/// Sorts `(key, requests)` pairs for the top-paths table and keeps the first [`TOP_N`].
///
/// ```
/// use alloc_recipes::real_world::top_by;
/// let mut v = vec![("b", 5), ("a", 5), ("c", 9)];
/// top_by(&mut v);
/// assert_eq!(v, [("c", 9), ("a", 5), ("b", 5)]);
/// ```
pub fn top_by<K: Ord, T>(entries: &mut Vec<(K, T)>)
where
    T: Ord + Copy,
{
    entries.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    entries.truncate(TOP_N);
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} lines, {} malformed, {} bytes sent, {} distinct paths, {} distinct clients",
            self.lines,
            self.malformed,
            self.total_bytes,
            self.distinct_paths,
            self.distinct_clients
        )?;
        write!(f, "status:")?;
        for (s, n) in &self.by_status {
            write!(f, " {s}={n}")?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "top paths:        requests        bytes   p50 us   p90 us   p99 us"
        )?;
        for p in &self.top_paths {
            writeln!(
                f,
                "  {:<20} {:>9} {:>12} {:>8} {:>8} {:>8}",
                p.path, p.requests, p.bytes, p.p50_us, p.p90_us, p.p99_us
            )?;
        }
        writeln!(f, "top clients:     requests        bytes")?;
        for c in &self.top_clients {
            writeln!(f, "  {:<16} {:>9} {:>12}", c.client, c.requests, c.bytes)?;
        }
        Ok(())
    }
}
// ANCHOR_END: report
