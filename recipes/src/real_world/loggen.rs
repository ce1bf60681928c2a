//! A seeded, deterministic access-log generator: the case study's input,
//! made in the project so that nobody downloads anything and every run sees
//! the same bytes.
//!
//! The fact a reader gets wrong: a realistic log is *skewed*. A few paths and
//! clients take most of the traffic, while a long tail of ids makes thousands
//! of distinct keys. That skew is what makes the analyzer's maps, key strings
//! and per-path latency lists grow the way they do in production, so a
//! uniform generator would flatter or punish the wrong steps.
//!
//! The format is the combined log format with one extra field, the latency in
//! microseconds:
//!
//! ```text
//! 10.1.4.20 - alice [29/Nov/2026:06:21:57 +0000] "GET /api/users/42 HTTP/1.1" 200 5123 2310 "curl/8.5.0"
//! ```
//!
//! About one line in a thousand is cut short, as real logs are when a
//! process dies mid-write; the analyzer counts those as malformed.

use std::io::{BufRead, Read};

/// A small, fast, seeded pseudo-random generator (SplitMix64): the same seed
/// gives the same sequence on every platform.
///
/// ```
/// use alloc_recipes::real_world::loggen::SplitMix64;
/// let mut a = SplitMix64::new(7);
/// let mut b = SplitMix64::new(7);
/// assert_eq!(a.next_u64(), b.next_u64());
/// assert!(a.below(10) < 10);
/// ```
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator started from `seed`.
    pub const fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`); the tiny modulo bias does not matter here.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A number in `0..n` skewed towards small values: small ids are far
    /// more frequent than large ones, roughly like a Zipf law.
    pub fn skewed(&mut self, n: u64) -> u64 {
        let hi = self.below(n) + 1;
        self.below(hi)
    }
}

const METHODS: [(&str, u64); 4] = [("GET", 80), ("POST", 12), ("PUT", 5), ("DELETE", 3)];
const USERS: [&str; 6] = ["-", "-", "-", "alice", "bob", "svc-batch"];
const AGENTS: [&str; 6] = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "curl/8.5.0",
    "Go-http-client/1.1",
    "Prometheus/2.53.0",
];
const STATIC_FILES: [&str; 5] = [
    "/static/app.js",
    "/static/style.css",
    "/static/logo.svg",
    "/favicon.ico",
    "/index.html",
];
const WORDS: [&str; 8] = [
    "rust",
    "allocator",
    "arena",
    "pool",
    "go",
    "span",
    "cache",
    "page",
];
const MONTH_DAY: &str = "29/Nov/2026";

/// Writes one random request path to `out`.
fn write_path(rng: &mut SplitMix64, out: &mut Vec<u8>) {
    use std::io::Write;
    // Writing into a Vec<u8> cannot fail.
    let _ = match rng.below(100) {
        0..=24 => out.write_all(STATIC_FILES[rng.skewed(5) as usize].as_bytes()),
        25..=54 => write!(out, "/api/users/{}", rng.skewed(3000)),
        55..=69 => write!(out, "/api/orders/{}", rng.skewed(5000)),
        70..=79 => write!(out, "/search?q={}", WORDS[rng.skewed(8) as usize]),
        80..=89 => write!(out, "/images/{}.png", rng.skewed(800)),
        90..=94 => out.write_all(b"/login"),
        _ => out.write_all(b"/health"),
    };
}

fn pick_weighted(rng: &mut SplitMix64, table: &[(&'static str, u64)]) -> &'static str {
    let total: u64 = table.iter().map(|(_, w)| w).sum();
    let mut r = rng.below(total);
    for (name, w) in table {
        if r < *w {
            return name;
        }
        r -= w;
    }
    table[0].0
}

/// Generates the log one line at a time, deterministically from a seed.
///
/// ```
/// use alloc_recipes::real_world::loggen::LogGen;
/// let mut g = LogGen::new(1, 10);
/// let mut line = Vec::new();
/// assert!(g.next_line(&mut line));
/// assert!(line.ends_with(b"\n"));
/// ```
#[derive(Debug, Clone)]
pub struct LogGen {
    rng: SplitMix64,
    line: u64,
    lines: u64,
}

impl LogGen {
    /// A generator of `lines` lines from `seed`. The timestamps spread the
    /// lines evenly over one day, whatever their number.
    pub fn new(seed: u64, lines: u64) -> Self {
        LogGen {
            rng: SplitMix64::new(seed),
            line: 0,
            lines,
        }
    }

    /// Appends the next line (with its `\n`) to `out`; `false` when done.
    pub fn next_line(&mut self, out: &mut Vec<u8>) -> bool {
        use std::io::Write;
        if self.line == self.lines {
            return false;
        }
        let start = out.len();
        let rng = &mut self.rng;
        let seconds = self.line * 86_400 / self.lines.max(1);
        let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
        // Clients: a few busy ones, a long tail of 20,000 addresses.
        let client = rng.skewed(20_000);
        let method = pick_weighted(rng, &METHODS);
        let user = USERS[rng.below(USERS.len() as u64) as usize];
        let status = match rng.below(1000) {
            0..=839 => 200,
            840..=899 => 304,
            900..=949 => 404,
            950..=969 => 301,
            970..=989 => 500,
            _ => 503,
        };
        let bytes = if status == 304 {
            0
        } else {
            200 + rng.skewed(60_000)
        };
        // Latency: mostly fast, a heavy tail.
        let latency_us = 150 + rng.skewed(2_000) + rng.skewed(20) * rng.below(5_000);
        let agent = AGENTS[rng.skewed(AGENTS.len() as u64) as usize];
        let _ = write!(
            out,
            "10.{}.{}.{} - {user} [{MONTH_DAY}:{h:02}:{m:02}:{s:02} +0000] \"{method} ",
            client >> 12,
            (client >> 6) & 63,
            client & 63,
        );
        write_path(rng, out);
        let _ = writeln!(out, " HTTP/1.1\" {status} {bytes} {latency_us} \"{agent}\"");
        // One line in a thousand is cut short (a writer died mid-line).
        if rng.below(1000) == 0 {
            let len = out.len() - start;
            let cut = start + 1 + rng.below(len as u64 - 2) as usize;
            out.truncate(cut);
            out.push(b'\n');
        }
        self.line += 1;
        true
    }
}

/// The whole log of `lines` lines from `seed`, in memory.
///
/// ```
/// use alloc_recipes::real_world::loggen::generate;
/// let log = generate(42, 100);
/// assert_eq!(log.iter().filter(|&&b| b == b'\n').count(), 100);
/// assert_eq!(log, generate(42, 100)); // deterministic
/// ```
pub fn generate(seed: u64, lines: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines as usize * 160);
    let mut g = LogGen::new(seed, lines);
    while g.next_line(&mut out) {}
    out
}

/// The log as a stream (`Read` + `BufRead`), generated as it is read, so
/// that even a 5-million-line run holds only one chunk of it in memory:
/// what the peak-memory measurements use.
///
/// ```
/// use alloc_recipes::real_world::loggen::{generate, LogReader};
/// use std::io::Read;
/// let mut s = Vec::new();
/// LogReader::new(3, 500).read_to_end(&mut s).unwrap();
/// assert_eq!(s, generate(3, 500));
/// ```
#[derive(Debug)]
pub struct LogReader {
    gen: LogGen,
    chunk: Vec<u8>,
    pos: usize,
}

impl LogReader {
    /// A stream of the same bytes as [`generate`]`(seed, lines)`.
    pub fn new(seed: u64, lines: u64) -> Self {
        LogReader {
            gen: LogGen::new(seed, lines),
            chunk: Vec::with_capacity(64 * 1024 + 512),
            pos: 0,
        }
    }
}

impl Read for LogReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for LogReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.pos == self.chunk.len() {
            self.chunk.clear();
            self.pos = 0;
            while self.chunk.len() < 64 * 1024 && self.gen.next_line(&mut self.chunk) {}
        }
        Ok(&self.chunk[self.pos..])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.chunk.len());
    }
}
