//! Step 5: struct of arrays for the aggregation (the cache-friendly recipe).
//! Instead of one `PathStats { requests, bytes, latencies: Vec<u32> }` per
//! path, each statistic is a column indexed by symbol, and the latencies
//! are two columns with one entry per request (path symbol, latency). The
//! latencies of the few paths the report shows are gathered at the end, in
//! one pass, into buffers of exactly the right size.
//!
//! The fact a reader gets wrong: the thousands of small per-path latency
//! `Vec`s are where steps 1 to 4 still allocate (each one grows by doubling,
//! a dozen times for a busy path); two columns grow a few dozen times in
//! all. The price is memory: two `u32` per request instead of one, so this
//! step trades a little peak memory for almost no allocation calls.

// ANCHOR: imports
use super::step3_interned::Interner;
use super::step4_compact::Record;
use super::{
    parse_line, top_by, trim_newline, ClientSummary, PathSummary, Report, BATCH_LINES, TOP_N,
};
use std::io::BufRead;
// ANCHOR_END: imports

// ANCHOR: soa
/// The aggregates as columns.
struct Columns {
    path_names: Interner,
    client_names: Interner,
    /// Indexed by path symbol.
    path_requests: Vec<u64>,
    path_bytes: Vec<u64>,
    /// Indexed by client symbol.
    client_requests: Vec<u64>,
    client_bytes: Vec<u64>,
    /// Indexed by status.
    statuses: Vec<u64>,
    /// One entry per request: which path, how long.
    latency_path: Vec<u32>,
    latency_us: Vec<u32>,
}

impl Columns {
    fn symbols(&mut self, path: &str, client: &str) -> (u32, u32) {
        let p = self.path_names.intern(path);
        if p as usize == self.path_requests.len() {
            self.path_requests.push(0);
            self.path_bytes.push(0);
        }
        let c = self.client_names.intern(client);
        if c as usize == self.client_requests.len() {
            self.client_requests.push(0);
            self.client_bytes.push(0);
        }
        (p, c)
    }

    fn add_batch(&mut self, batch: &[Record], report: &mut Report) {
        self.latency_path.extend(batch.iter().map(|r| r.path));
        self.latency_us.extend(batch.iter().map(|r| r.latency_us));
        for r in batch {
            self.path_requests[r.path as usize] += 1;
            self.path_bytes[r.path as usize] += r.bytes;
            self.client_requests[r.client as usize] += 1;
            self.client_bytes[r.client as usize] += r.bytes;
            let s = r.status as usize;
            if s >= self.statuses.len() {
                self.statuses.resize(s + 1, 0);
            }
            self.statuses[s] += 1;
            report.by_hour[r.hour as usize] += 1;
            report.total_bytes += r.bytes;
        }
    }
}
// ANCHOR_END: soa

/// Step 4's parsing and records, aggregated into columns.
///
/// ```
/// use alloc_recipes::real_world::{loggen, step5_soa};
/// let r = step5_soa::analyze(&loggen::generate(1, 500)[..]).unwrap();
/// assert_eq!(r.lines, 500);
/// ```
pub fn analyze(mut input: impl BufRead) -> std::io::Result<Report> {
    let mut report = Report::default();
    let mut cols = Columns {
        path_names: Interner::with_capacity(8 * 1024),
        client_names: Interner::with_capacity(16 * 1024),
        path_requests: Vec::with_capacity(8 * 1024),
        path_bytes: Vec::with_capacity(8 * 1024),
        client_requests: Vec::with_capacity(16 * 1024),
        client_bytes: Vec::with_capacity(16 * 1024),
        statuses: vec![0; 600],
        latency_path: Vec::new(),
        latency_us: Vec::new(),
    };
    let mut line = String::with_capacity(512);
    let mut batch: Vec<Record> = Vec::with_capacity(BATCH_LINES);
    loop {
        line.clear();
        let done = input.read_line(&mut line)? == 0;
        if !done {
            report.lines += 1;
            match parse_line(trim_newline(&line)) {
                Some(f) => {
                    let (path, client) = cols.symbols(f.path, f.client);
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
            cols.add_batch(&batch, &mut report);
            batch.clear();
        }
        if done {
            break;
        }
    }
    Ok(finish(cols, report))
}

// ANCHOR: soa_finish
// `finish` marks the top paths with their place as a `u8`, `u8::MAX` meaning
// "not a top path": that needs fewer than 255 of them.
const _: () = assert!(TOP_N < u8::MAX as usize);

/// Turns the columns into the report; gathers the top paths' latencies.
fn finish(c: Columns, mut report: Report) -> Report {
    report.by_status = c
        .statuses
        .iter()
        .enumerate()
        .filter(|(_, &n)| n > 0)
        .map(|(s, &n)| (s as u16, n))
        .collect();
    report.distinct_paths = c.path_requests.len();
    report.distinct_clients = c.client_requests.len();
    let path_names = c.path_names.names();
    let mut top: Vec<((&str, usize), u64)> = c
        .path_requests
        .iter()
        .enumerate()
        .map(|(id, &n)| ((path_names[id], id), n))
        .collect();
    top_by(&mut top);
    // Gather the top paths' latencies in one pass over the columns.
    let mut slot = vec![u8::MAX; c.path_requests.len()];
    let mut latencies: Vec<Vec<u32>> = Vec::with_capacity(TOP_N);
    for (i, &((_, id), requests)) in top.iter().enumerate() {
        slot[id] = i as u8;
        latencies.push(Vec::with_capacity(requests as usize));
    }
    for (&p, &us) in c.latency_path.iter().zip(&c.latency_us) {
        let s = slot[p as usize];
        if s != u8::MAX {
            latencies[s as usize].push(us);
        }
    }
    for (((name, id), requests), lat) in top.into_iter().zip(&mut latencies) {
        report
            .top_paths
            .push(PathSummary::new(name, requests, c.path_bytes[id], lat));
    }
    let client_names = c.client_names.names();
    let mut top: Vec<((&str, usize), u64)> = c
        .client_bytes
        .iter()
        .enumerate()
        .map(|(id, &b)| ((client_names[id], id), b))
        .collect();
    top_by(&mut top);
    for ((name, id), bytes) in top {
        report.top_clients.push(ClientSummary {
            client: name.to_string(),
            requests: c.client_requests[id],
            bytes,
        });
    }
    report
}
// ANCHOR_END: soa_finish
