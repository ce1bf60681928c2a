//! Step 1: pre-sizing and buffer reuse (the batch recipe's first two
//! patterns). One line buffer read into with `read_line`, one batch buffer
//! of [`BATCH_LINES`] records cleared and refilled, maps created at their
//! expected size, and map keys cloned only when a key is new.
//!
//! The fact a reader gets wrong: reusing the *batch* is what cuts peak
//! memory (the naive step keeps every record of the file); reusing the line
//! buffer saves one allocation per line, but the seven field strings per
//! record are still allocated, because clearing a `Vec<LogRecord>` drops them.

// ANCHOR: imports
use super::step0_naive::LogRecord;
use super::{parse_line, top_by, trim_newline, ClientSummary, PathSummary, Report, BATCH_LINES};
use std::collections::HashMap;
use std::io::BufRead;
// ANCHOR_END: imports

// ANCHOR: presized
#[derive(Default)]
struct PathStats {
    requests: u64,
    bytes: u64,
    latencies: Vec<u32>,
}

#[derive(Default)]
struct ClientStats {
    requests: u64,
    bytes: u64,
}

impl PathStats {
    fn add(&mut self, bytes: u64, latency_us: u32) {
        self.requests += 1;
        self.bytes += bytes;
        self.latencies.push(latency_us);
    }
}

impl ClientStats {
    fn add(&mut self, bytes: u64) {
        self.requests += 1;
        self.bytes += bytes;
    }
}

/// The aggregates, keyed by owned strings (shared with step 2).
pub(super) struct Totals {
    paths: HashMap<String, PathStats>,
    clients: HashMap<String, ClientStats>,
    statuses: HashMap<u16, u64>,
}

/// Streams the log in batches through reused buffers.
///
/// ```
/// use alloc_recipes::real_world::{loggen, step1_presized};
/// let r = step1_presized::analyze(&loggen::generate(1, 500)[..]).unwrap();
/// assert_eq!(r.lines, 500);
/// ```
pub fn analyze(mut input: impl BufRead) -> std::io::Result<Report> {
    let mut report = Report::default();
    let mut totals = Totals::presized();
    let mut line = String::with_capacity(512);
    let mut batch: Vec<LogRecord> = Vec::with_capacity(BATCH_LINES);
    loop {
        line.clear();
        let done = input.read_line(&mut line)? == 0;
        if !done {
            report.lines += 1;
            match parse_line(trim_newline(&line)) {
                Some(f) => batch.push(LogRecord {
                    client: f.client.to_string(),
                    user: f.user.to_string(),
                    time: f.time.to_string(),
                    hour: f.hour,
                    method: f.method.to_string(),
                    path: f.path.to_string(),
                    protocol: f.protocol.to_string(),
                    status: f.status,
                    bytes: f.bytes,
                    latency_us: f.latency_us,
                    agent: f.agent.to_string(),
                }),
                None => report.malformed += 1,
            }
        }
        if batch.len() == BATCH_LINES || (done && !batch.is_empty()) {
            aggregate(&batch, &mut totals, &mut report);
            batch.clear(); // keeps the capacity for the next batch
        }
        if done {
            break;
        }
    }
    Ok(finish(totals, report))
}

fn aggregate(batch: &[LogRecord], totals: &mut Totals, report: &mut Report) {
    for r in batch {
        totals.add(&r.path, &r.client, r.status, r.bytes, r.latency_us);
        report.by_hour[r.hour as usize] += 1;
        report.total_bytes += r.bytes;
    }
}

impl Totals {
    /// Maps sized for the key counts a day of this service's log has.
    pub(super) fn presized() -> Self {
        Totals {
            paths: HashMap::with_capacity(8 * 1024),
            clients: HashMap::with_capacity(16 * 1024),
            statuses: HashMap::with_capacity(16),
        }
    }

    /// Counts one request. Looks up by `&str` first: a key is cloned only when new.
    pub(super) fn add(
        &mut self,
        path: &str,
        client: &str,
        status: u16,
        bytes: u64,
        latency_us: u32,
    ) {
        match self.paths.get_mut(path) {
            Some(p) => p.add(bytes, latency_us),
            None => self
                .paths
                .entry(path.to_string())
                .or_default()
                .add(bytes, latency_us),
        }
        match self.clients.get_mut(client) {
            Some(c) => c.add(bytes),
            None => self
                .clients
                .entry(client.to_string())
                .or_default()
                .add(bytes),
        }
        *self.statuses.entry(status).or_default() += 1;
    }
}

/// Turns the aggregates into the report (shared with step 2).
pub(super) fn finish(mut t: Totals, mut report: Report) -> Report {
    report.by_status = t.statuses.into_iter().collect();
    report.by_status.sort();
    report.distinct_paths = t.paths.len();
    report.distinct_clients = t.clients.len();
    let mut top: Vec<(&str, u64)> = t
        .paths
        .iter()
        .map(|(k, v)| (k.as_str(), v.requests))
        .collect();
    top_by(&mut top);
    let top: Vec<String> = top.into_iter().map(|(k, _)| k.to_string()).collect();
    for path in top {
        let s = t.paths.get_mut(&path).expect("a key just listed");
        report.top_paths.push(PathSummary::new(
            &path,
            s.requests,
            s.bytes,
            &mut s.latencies,
        ));
    }
    let mut top: Vec<(&str, u64)> = t
        .clients
        .iter()
        .map(|(k, v)| (k.as_str(), v.bytes))
        .collect();
    top_by(&mut top);
    for (client, _) in top {
        let c = &t.clients[client];
        report.top_clients.push(ClientSummary {
            client: client.to_string(),
            requests: c.requests,
            bytes: c.bytes,
        });
    }
    report
}
// ANCHOR_END: presized
