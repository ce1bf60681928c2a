//! Step 3: interning (the tiny-objects recipe's interning pattern). Each
//! distinct path and client string is stored once, in an [`Interner`], and
//! becomes a dense `u32` symbol; the statistics move from
//! `HashMap<String, _>` into `Vec`s indexed by symbol, and the status counts
//! into a `Vec` indexed by the status itself.
//!
//! The fact a reader gets wrong: interning does not remove a hash lookup (the
//! interner does the one the map did); what it buys is one copy of each key,
//! statistics in dense arrays, and records that can hold a 4-byte symbol
//! instead of text, which the next two steps build on.

// ANCHOR: imports
use super::{
    parse_line, top_by, trim_newline, ClientSummary, Fields, PathSummary, Report, BATCH_LINES,
};
use bumpalo::Bump;
use std::collections::HashMap;
use std::io::BufRead;
// ANCHOR_END: imports

// ANCHOR: interner
/// Distinct strings, each stored once, numbered in order of first sight.
///
/// ```
/// use alloc_recipes::real_world::step3_interned::Interner;
/// let mut i = Interner::with_capacity(4);
/// let a = i.intern("/index.html");
/// assert_eq!(i.intern("/index.html"), a);
/// assert_eq!(i.intern("/login"), 1);
/// assert_eq!(i.names(), ["/index.html", "/login"]);
/// ```
#[derive(Debug, Default)]
pub struct Interner {
    ids: HashMap<Box<str>, u32>,
}

impl Interner {
    /// An interner with room for `n` strings before it grows.
    pub fn with_capacity(n: usize) -> Self {
        Interner {
            ids: HashMap::with_capacity(n),
        }
    }

    /// The symbol of `s`, allocating only the first time `s` is seen.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = u32::try_from(self.ids.len()).expect("fewer than 2^32 distinct strings");
        self.ids.insert(s.into(), id);
        id
    }

    /// How many distinct strings it holds.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Every string, indexed by its symbol.
    pub fn names(&self) -> Vec<&str> {
        let mut names = vec![""; self.ids.len()];
        for (name, &id) in &self.ids {
            names[id as usize] = name;
        }
        names
    }
}
// ANCHOR_END: interner

// ANCHOR: interned
#[derive(Default, Clone)]
struct PathStats {
    requests: u64,
    bytes: u64,
    latencies: Vec<u32>,
}

/// The aggregates keyed by symbol (shared with step 4).
pub(super) struct Totals {
    path_names: Interner,
    client_names: Interner,
    paths: Vec<PathStats>,
    /// Per client: (requests, bytes).
    clients: Vec<(u64, u64)>,
    statuses: Vec<u64>,
}

impl Totals {
    pub(super) fn presized() -> Self {
        Totals {
            path_names: Interner::with_capacity(8 * 1024),
            client_names: Interner::with_capacity(16 * 1024),
            paths: Vec::with_capacity(8 * 1024),
            clients: Vec::with_capacity(16 * 1024),
            statuses: vec![0; 600],
        }
    }

    /// The symbols of a path and a client, making room for new ones.
    pub(super) fn symbols(&mut self, path: &str, client: &str) -> (u32, u32) {
        let p = self.path_names.intern(path);
        if p as usize == self.paths.len() {
            self.paths.push(PathStats::default());
        }
        let c = self.client_names.intern(client);
        if c as usize == self.clients.len() {
            self.clients.push((0, 0));
        }
        (p, c)
    }

    /// Counts one request by symbols.
    pub(super) fn add(&mut self, path: u32, client: u32, status: u16, bytes: u64, latency_us: u32) {
        let p = &mut self.paths[path as usize];
        p.requests += 1;
        p.bytes += bytes;
        p.latencies.push(latency_us);
        let c = &mut self.clients[client as usize];
        c.0 += 1;
        c.1 += bytes;
        let s = status as usize;
        if s >= self.statuses.len() {
            self.statuses.resize(s + 1, 0);
        }
        self.statuses[s] += 1;
    }
}

/// Step 2's arena per batch, with interned keys in the aggregation (a batch
/// ends after [`BATCH_LINES`] lines read, parsed or not).
///
/// ```
/// use alloc_recipes::real_world::{loggen, step3_interned};
/// let r = step3_interned::analyze(&loggen::generate(1, 500)[..]).unwrap();
/// assert_eq!(r.lines, 500);
/// ```
pub fn analyze(mut input: impl BufRead) -> std::io::Result<Report> {
    let mut report = Report::default();
    let mut totals = Totals::presized();
    let mut line = String::with_capacity(512);
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
                let (path, client) = totals.symbols(r.path, r.client);
                totals.add(path, client, r.status, r.bytes, r.latency_us);
                report.by_hour[r.hour as usize] += 1;
                report.total_bytes += r.bytes;
            }
        }
        arena.reset();
    }
    Ok(finish(totals, report))
}

/// Turns the aggregates into the report (shared with step 4).
pub(super) fn finish(mut t: Totals, mut report: Report) -> Report {
    report.by_status = t
        .statuses
        .iter()
        .enumerate()
        .filter(|(_, &n)| n > 0)
        .map(|(s, &n)| (s as u16, n))
        .collect();
    report.distinct_paths = t.paths.len();
    report.distinct_clients = t.clients.len();
    let path_names = t.path_names.names();
    let mut by_requests: Vec<((&str, usize), u64)> = Vec::with_capacity(t.paths.len());
    for (id, p) in t.paths.iter().enumerate() {
        by_requests.push(((path_names[id], id), p.requests));
    }
    top_by(&mut by_requests);
    for ((name, id), _) in by_requests {
        let p = &mut t.paths[id];
        report.top_paths.push(PathSummary::new(
            name,
            p.requests,
            p.bytes,
            &mut p.latencies,
        ));
    }
    let client_names = t.client_names.names();
    let mut by_bytes: Vec<((&str, usize), u64)> = t
        .clients
        .iter()
        .enumerate()
        .map(|(id, c)| ((client_names[id], id), c.1))
        .collect();
    top_by(&mut by_bytes);
    for ((name, id), _) in by_bytes {
        let (requests, bytes) = t.clients[id];
        report.top_clients.push(ClientSummary {
            client: name.to_string(),
            requests,
            bytes,
        });
    }
    report
}
// ANCHOR_END: interned
