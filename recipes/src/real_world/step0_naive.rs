//! Step 0: the analyzer as a competent newcomer writes it. Correct, clear,
//! and the baseline every later step is measured against.
//!
//! The fact a reader gets wrong: nothing here looks wasteful line by line,
//! yet each log line costs about a dozen allocations (the line, seven field
//! strings, the box, two cloned map keys, plus growth), and collecting every
//! record before aggregating holds the whole parsed file in memory, several
//! times the size of the file itself.

// ANCHOR: imports
use super::{parse_line, top_by, ClientSummary, PathSummary, Report};
use std::collections::HashMap;
use std::io::BufRead;
// ANCHOR_END: imports

// ANCHOR: naive
/// One parsed line, every text field its own `String`.
///
/// ```
/// use alloc_recipes::real_world::step0_naive::LogRecord;
/// // Seven strings: seven allocations per record, plus the record's box.
/// if cfg!(target_pointer_width = "64") {
///     assert_eq!(size_of::<LogRecord>(), 7 * size_of::<String>() + 16);
/// }
/// ```
#[derive(Debug, Clone)]
pub struct LogRecord {
    /// Client address.
    pub client: String,
    /// Authenticated user.
    pub user: String,
    /// Timestamp as written.
    pub time: String,
    /// Hour of day.
    pub hour: u8,
    /// Request method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Protocol.
    pub protocol: String,
    /// Response status.
    pub status: u16,
    /// Bytes sent.
    pub bytes: u64,
    /// Latency in microseconds.
    pub latency_us: u32,
    /// User agent.
    pub agent: String,
}

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

/// Reads the whole log into records, then aggregates them.
///
/// ```
/// use alloc_recipes::real_world::{loggen, step0_naive};
/// let r = step0_naive::analyze(&loggen::generate(1, 500)[..]).unwrap();
/// assert_eq!(r.lines, 500);
/// ```
pub fn analyze(input: impl BufRead) -> std::io::Result<Report> {
    let mut records: Vec<Box<LogRecord>> = Vec::new();
    let mut report = Report::default();
    for line in input.lines() {
        let line = line?;
        report.lines += 1;
        match parse_line(&line) {
            Some(f) => records.push(Box::new(LogRecord {
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
            })),
            None => report.malformed += 1,
        }
    }

    let mut paths: HashMap<String, PathStats> = HashMap::new();
    let mut clients: HashMap<String, ClientStats> = HashMap::new();
    let mut statuses: HashMap<u16, u64> = HashMap::new();
    for r in &records {
        let p = paths.entry(r.path.clone()).or_default();
        p.requests += 1;
        p.bytes += r.bytes;
        p.latencies.push(r.latency_us);
        let c = clients.entry(r.client.clone()).or_default();
        c.requests += 1;
        c.bytes += r.bytes;
        *statuses.entry(r.status).or_default() += 1;
        report.by_hour[r.hour as usize] += 1;
        report.total_bytes += r.bytes;
    }

    report.by_status = statuses.into_iter().collect();
    report.by_status.sort();
    report.distinct_paths = paths.len();
    report.distinct_clients = clients.len();
    let mut top: Vec<(&String, u64)> = paths.iter().map(|(k, v)| (k, v.requests)).collect();
    top_by(&mut top);
    for (path, _) in top {
        let s = &paths[path];
        let mut latencies = s.latencies.clone();
        report
            .top_paths
            .push(PathSummary::new(path, s.requests, s.bytes, &mut latencies));
    }
    let mut top: Vec<(&String, u64)> = clients.iter().map(|(k, v)| (k, v.bytes)).collect();
    top_by(&mut top);
    for (client, _) in top {
        let c = &clients[client];
        report.top_clients.push(ClientSummary {
            client: client.clone(),
            requests: c.requests,
            bytes: c.bytes,
        });
    }
    Ok(report)
}
// ANCHOR_END: naive
