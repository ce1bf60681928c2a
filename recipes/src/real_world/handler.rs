//! The high-frequency scenario: an HTTP request handler called a million
//! times. Each call parses the request line, query and headers, routes, and
//! builds a response; the server keeps a window of responses in flight (as a
//! pipelined connection does) and writes the oldest when the window is full.
//!
//! Three versions, same bytes out (the tests check it):
//! - [`serve_naive`]: a `String` copy of the request, `HashMap<String, String>`
//!   for query and headers, `format!` for every piece of the response.
//! - [`serve_arena`]: an arena per request (the batch recipe): every
//!   temporary lives in a `bumpalo::Bump` reset per call; only the response,
//!   which outlives the call, gets one exact-size heap buffer.
//! - [`serve_pooled`]: the arena plus pooled response buffers (the pooling
//!   recipe): written responses return their buffers to a free list, so a
//!   warm server makes no allocation per request at all.
//!
//! The fact a reader gets wrong: the response cannot simply be one reused
//! buffer, because it outlives the call (it waits in the write window); that
//! is exactly the case a pool is for.
//!
//! Every version treats the request as hostile, as a real handler must: text
//! from the request goes into the JSON body escaped ([`write_json_str`]),
//! a user id must be digits, and a header value with a control byte (a lone
//! `\r` or `\n` would let a client add response headers through the echoed
//! `X-Request-Id`) makes the request a 400.
//!
//! # Use it in your crate
//! Needs what [`super`]'s header says (`bumpalo` with `collections`); the
//! request generator [`requests`] uses [`super::loggen`].

// ANCHOR: imports
use bumpalo::Bump;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::Write;
// ANCHOR_END: imports

use super::loggen::SplitMix64;

// ANCHOR: handler_naive
/// How many responses wait to be written at once.
///
/// ```
/// assert_eq!(alloc_recipes::real_world::handler::WINDOW, 16);
/// ```
pub const WINDOW: usize = 16;

/// What a run of the server produced: the same for every version.
///
/// ```
/// use alloc_recipes::real_world::handler::{requests, serve_pooled};
/// let s = serve_pooled(&requests(2, 16), 100);
/// assert_eq!(s.responses, 100);
/// assert!(s.bytes > 100 * 100);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServeSummary {
    /// Responses written.
    pub responses: u64,
    /// Their total size.
    pub bytes: u64,
    /// A checksum of every response's bytes, in order.
    pub checksum: u64,
}

impl ServeSummary {
    /// "Writes" one response: counts it into the summary.
    fn write(&mut self, response: &[u8]) {
        self.responses += 1;
        self.bytes += response.len() as u64;
        let mut h = self.checksum ^ response.len() as u64;
        let chunks = response.chunks_exact(8);
        let tail = chunks.remainder();
        for c in chunks {
            let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            h = (h ^ w).rotate_left(23).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
        for &b in tail {
            h = (h ^ b as u64).rotate_left(7).wrapping_mul(0x100_0000_01B3);
        }
        self.checksum = h;
    }
}

/// Writes `s` as a JSON string, quotes included: `"` and `\\` are escaped,
/// and so is every control character, so request text cannot end the string
/// and add keys of its own.
///
/// ```
/// use alloc_recipes::real_world::handler::write_json_str;
/// let mut out = String::new();
/// write_json_str(&mut out, "a\"],\"admin\":true\n").unwrap();
/// assert_eq!(out, r#""a\"],\"admin\":true\n""#);
/// ```
pub fn write_json_str(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    let mut clean_from = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f | 0x7f => "",
            _ => continue,
        };
        out.write_str(&s[clean_from..i])?; // `b` is ASCII: `i` is a char boundary
        if escaped.is_empty() {
            write!(out, "\\u{b:04x}")?;
        } else {
            out.write_str(escaped)?;
        }
        clean_from = i + 1;
    }
    out.write_str(&s[clean_from..])?;
    out.write_char('"')
}

/// True when a header value may be used, and echoed: no control bytes but
/// tab. Requests are split on `\r\n` only, so a lone `\r` or `\n` inside a
/// value would otherwise reach the response as a header break.
fn is_clean_header_value(value: &str) -> bool {
    !value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

/// True for a user id the routes accept: one or more ASCII digits (it is
/// written into the body as a JSON number).
fn is_user_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
}
struct Request {
    method: String,
    path: String,
    query: HashMap<String, String>,
    headers: HashMap<String, String>,
}

struct Response {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn parse_naive(raw: &[u8]) -> Option<Request> {
    let text = String::from_utf8(raw.to_vec()).ok()?;
    let mut lines = text.split("\r\n");
    let parts: Vec<&str> = lines.next()?.split(' ').collect();
    if parts.len() != 3 || !parts[2].starts_with("HTTP/") {
        return None;
    }
    let (path, query_text) = parts[1].split_once('?').unwrap_or((parts[1], ""));
    let mut query = HashMap::new();
    for pair in query_text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        query.insert(k.to_string(), v.to_string());
    }
    let mut headers = HashMap::new();
    for line in lines.take_while(|l| !l.is_empty()) {
        let (name, value) = line.split_once(": ")?;
        if !is_clean_header_value(value) {
            return None;
        }
        headers.insert(name.to_lowercase(), value.to_string());
    }
    Some(Request {
        method: parts[0].to_string(),
        path: path.to_string(),
        query,
        headers,
    })
}

fn route_naive(req: Option<Request>) -> Response {
    let Some(req) = req else {
        return Response {
            status: 400,
            reason: "Bad Request".to_string(),
            headers: vec![("Content-Type".to_string(), "application/json".to_string())],
            body: "{\"error\":\"bad request\"}".to_string(),
        };
    };
    let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
    if let Some(id) = req.headers.get("x-request-id") {
        headers.push(("X-Request-Id".to_string(), id.clone()));
    }
    let session = req
        .headers
        .get("cookie")
        .and_then(|c| c.split("; ").find_map(|kv| kv.strip_prefix("session=")))
        .unwrap_or("none")
        .to_string();
    if req.method == "GET" && req.path == "/health" {
        return Response {
            status: 200,
            reason: "OK".to_string(),
            headers,
            body: "{\"ok\":true}".to_string(),
        };
    }
    if let Some(id) = req
        .path
        .strip_prefix("/api/users/")
        .filter(|id| is_user_id(id))
    {
        let fields: Vec<String> = match req.query.get("fields") {
            Some(f) => f.split(',').map(json_string).collect(),
            None => vec!["\"name\"".to_string()],
        };
        let body = format!(
            "{{\"id\":{id},\"name\":\"user-{id}\",\"fields\":[{}],\"session\":{}}}",
            fields.join(","),
            json_string(&session)
        );
        return Response {
            status: 200,
            reason: "OK".to_string(),
            headers,
            body,
        };
    }
    let body = format!(
        "{{\"error\":\"not found\",\"path\":{}}}",
        json_string(&req.path)
    );
    Response {
        status: 404,
        reason: "Not Found".to_string(),
        headers,
        body,
    }
}

/// [`write_json_str`] into a new `String`.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_json_str(&mut out, s).expect("writing to a String cannot fail");
    out
}

/// The naive handler: one request in, one freshly built response out.
///
/// ```
/// use alloc_recipes::real_world::handler::handle_naive;
/// let r = handle_naive(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
/// assert!(r.starts_with(b"HTTP/1.1 200 OK\r\n"));
/// ```
pub fn handle_naive(raw: &[u8]) -> Vec<u8> {
    let resp = route_naive(parse_naive(raw));
    let mut out = format!("HTTP/1.1 {} {}\r\n", resp.status, resp.reason);
    for (k, v) in &resp.headers {
        out += &format!("{k}: {v}\r\n");
    }
    out += &format!(
        "Content-Length: {}\r\nServer: cookbook\r\n\r\n",
        resp.body.len()
    );
    out += &resp.body;
    out.into_bytes()
}

/// Serves `calls` requests (cycling through `requests`) with [`handle_naive`].
///
/// ```
/// use alloc_recipes::real_world::handler::{requests, serve_naive};
/// assert_eq!(serve_naive(&requests(1, 8), 20).responses, 20);
/// ```
pub fn serve_naive(requests: &[Vec<u8>], calls: usize) -> ServeSummary {
    let mut summary = ServeSummary::default();
    let mut in_flight: VecDeque<Vec<u8>> = VecDeque::with_capacity(WINDOW);
    for raw in requests.iter().cycle().take(calls) {
        if in_flight.len() == WINDOW {
            let done = in_flight.pop_front().expect("window is full");
            summary.write(&done);
        }
        in_flight.push_back(handle_naive(raw));
    }
    for done in in_flight {
        summary.write(&done);
    }
    summary
}
// ANCHOR_END: handler_naive

// ANCHOR: handler_arena
fn header<'a>(headers: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .rev()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| *v)
}

/// Parses and routes in `arena`, then writes the response into `out`
/// (appending; `out` is cleared first).
fn handle_in<'a>(raw: &'a [u8], arena: &'a Bump, out: &mut Vec<u8>) {
    use bumpalo::collections::{String as BString, Vec as BVec};
    use std::fmt::Write as _;
    out.clear();
    let parsed = (|| {
        let text = std::str::from_utf8(raw).ok()?; // borrowed, not copied
        let mut lines = text.split("\r\n");
        let mut parts = lines.next()?.split(' ');
        let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !version.starts_with("HTTP/") {
            return None;
        }
        let (path, query_text) = target.split_once('?').unwrap_or((target, ""));
        let mut query = BVec::with_capacity_in(4, arena);
        for pair in query_text.split('&').filter(|p| !p.is_empty()) {
            query.push(pair.split_once('=').unwrap_or((pair, "")));
        }
        let mut headers = BVec::with_capacity_in(8, arena);
        for line in lines.take_while(|l| !l.is_empty()) {
            let (name, value) = line.split_once(": ")?;
            if !is_clean_header_value(value) {
                return None;
            }
            let mut lower = BString::with_capacity_in(name.len(), arena);
            lower.extend(name.chars().map(|c| c.to_ascii_lowercase()));
            headers.push((lower.into_bump_str(), value));
        }
        Some((method, path, query, headers))
    })();
    let (status, reason, request_id, body): (u16, &str, Option<&str>, &str) = match parsed {
        None => (400, "Bad Request", None, "{\"error\":\"bad request\"}"),
        Some((method, path, query, headers)) => {
            let request_id = header(&headers, "x-request-id");
            let session = header(&headers, "cookie")
                .and_then(|c| c.split("; ").find_map(|kv| kv.strip_prefix("session=")))
                .unwrap_or("none");
            if method == "GET" && path == "/health" {
                (200, "OK", request_id, "{\"ok\":true}")
            } else if let Some(id) = path.strip_prefix("/api/users/").filter(|id| is_user_id(id)) {
                // Writing to a bumpalo String cannot fail: the results are ignored.
                let mut body = BString::with_capacity_in(128, arena);
                let _ = write!(body, "{{\"id\":{id},\"name\":\"user-{id}\",\"fields\":[");
                match query.iter().rev().find(|(k, _)| *k == "fields") {
                    Some((_, f)) => {
                        for (i, s) in f.split(',').enumerate() {
                            if i > 0 {
                                body.push(',');
                            }
                            let _ = write_json_str(&mut body, s);
                        }
                    }
                    None => body.push_str("\"name\""),
                }
                body.push_str("],\"session\":");
                let _ = write_json_str(&mut body, session);
                body.push('}');
                (200, "OK", request_id, body.into_bump_str())
            } else {
                let mut body = BString::with_capacity_in(64, arena);
                body.push_str("{\"error\":\"not found\",\"path\":");
                let _ = write_json_str(&mut body, path);
                body.push('}');
                (404, "Not Found", request_id, body.into_bump_str())
            }
        }
    };
    // One exact-size reservation, then plain appends.
    let id_len = request_id.map_or(0, |id| "X-Request-Id: \r\n".len() + id.len());
    out.reserve(96 + reason.len() + id_len + body.len());
    let _ = write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
    );
    if let Some(id) = request_id {
        let _ = write!(out, "X-Request-Id: {id}\r\n");
    }
    let _ = write!(
        out,
        "Content-Length: {}\r\nServer: cookbook\r\n\r\n",
        body.len()
    );
    out.extend_from_slice(body.as_bytes());
}

/// The arena-per-request handler: temporaries in `arena` (reset here), the
/// response in one fresh exact-size `Vec`.
///
/// ```
/// use alloc_recipes::real_world::handler::{handle_arena, handle_naive};
/// let raw = b"GET /api/users/7?fields=name,email HTTP/1.1\r\nCookie: session=ab\r\n\r\n";
/// let mut arena = bumpalo::Bump::new();
/// assert_eq!(handle_arena(raw, &mut arena), handle_naive(raw));
/// ```
pub fn handle_arena(raw: &[u8], arena: &mut Bump) -> Vec<u8> {
    arena.reset();
    let mut out = Vec::new();
    handle_in(raw, arena, &mut out);
    out
}

/// Serves `calls` requests with [`handle_arena`] and one arena reused for all.
///
/// ```
/// use alloc_recipes::real_world::handler::{requests, serve_arena, serve_naive};
/// let r = requests(1, 8);
/// assert_eq!(serve_arena(&r, 20), serve_naive(&r, 20));
/// ```
pub fn serve_arena(requests: &[Vec<u8>], calls: usize) -> ServeSummary {
    let mut summary = ServeSummary::default();
    let mut arena = Bump::with_capacity(4096);
    let mut in_flight: VecDeque<Vec<u8>> = VecDeque::with_capacity(WINDOW);
    for raw in requests.iter().cycle().take(calls) {
        if in_flight.len() == WINDOW {
            let done = in_flight.pop_front().expect("window is full");
            summary.write(&done);
        }
        in_flight.push_back(handle_arena(raw, &mut arena));
    }
    for done in in_flight {
        summary.write(&done);
    }
    summary
}
// ANCHOR_END: handler_arena

// ANCHOR: handler_pooled
/// A single-thread pool of response buffers: a free list with a bound on
/// how many it keeps, and buffers cleared on the way back. (The pooling
/// recipe's `LocalPool` does the same with a guard; this one is handed
/// buffers explicitly, because a response leaves the handler.)
#[derive(Debug)]
pub struct ResponsePool {
    free: Vec<Vec<u8>>,
    max_kept: usize,
}

impl ResponsePool {
    /// A pool that keeps at most `max_kept` idle buffers.
    ///
    /// ```
    /// use alloc_recipes::real_world::handler::ResponsePool;
    /// let mut pool = ResponsePool::new(1);
    /// let mut b = pool.take();
    /// b.extend_from_slice(b"secret");
    /// pool.give(b);
    /// assert!(pool.take().is_empty()); // reused, and cleared
    /// ```
    pub fn new(max_kept: usize) -> Self {
        ResponsePool {
            free: Vec::with_capacity(max_kept.min(64)), // usize::MAX means "no limit", not a size
            max_kept,
        }
    }

    /// An empty buffer, reused when one is idle.
    pub fn take(&mut self) -> Vec<u8> {
        self.free.pop().unwrap_or_else(|| Vec::with_capacity(512))
    }

    /// Returns a buffer; dropped if the pool already keeps enough.
    pub fn give(&mut self, mut buf: Vec<u8>) {
        if self.free.len() < self.max_kept {
            buf.clear();
            self.free.push(buf);
        }
    }
}

/// Serves `calls` requests with the arena and pooled response buffers.
///
/// ```
/// use alloc_recipes::real_world::handler::{requests, serve_naive, serve_pooled};
/// let r = requests(1, 8);
/// assert_eq!(serve_pooled(&r, 20), serve_naive(&r, 20));
/// ```
pub fn serve_pooled(requests: &[Vec<u8>], calls: usize) -> ServeSummary {
    let mut summary = ServeSummary::default();
    let mut arena = Bump::with_capacity(4096);
    let mut pool = ResponsePool::new(WINDOW + 1);
    let mut in_flight: VecDeque<Vec<u8>> = VecDeque::with_capacity(WINDOW);
    for raw in requests.iter().cycle().take(calls) {
        if in_flight.len() == WINDOW {
            let done = in_flight.pop_front().expect("window is full");
            summary.write(&done);
            pool.give(done);
        }
        arena.reset();
        let mut out = pool.take();
        handle_in(raw, &arena, &mut out);
        in_flight.push_back(out);
    }
    for done in in_flight {
        summary.write(&done);
    }
    summary
}
// ANCHOR_END: handler_pooled

/// A handler version: serves `calls` requests cycling through the given ones.
///
/// ```
/// use alloc_recipes::real_world::handler::{requests, ServeFn, HANDLER_STEPS};
/// let arena: ServeFn = HANDLER_STEPS[1].1;
/// assert_eq!(arena(&requests(1, 4), 10).responses, 10);
/// ```
pub type ServeFn = fn(&[Vec<u8>], usize) -> ServeSummary;

/// Every handler version, in order, with the name the benches use.
///
/// ```
/// use alloc_recipes::real_world::handler::HANDLER_STEPS;
/// assert_eq!(HANDLER_STEPS[0].0, "naive");
/// ```
pub const HANDLER_STEPS: [(&str, ServeFn); 3] = [
    ("naive", serve_naive),
    ("arena per request", serve_arena),
    ("arena + pooled responses", serve_pooled),
];

/// `n` deterministic raw requests: user lookups with and without a field
/// list, health checks, unknown paths, and about one in fifty malformed.
///
/// ```
/// use alloc_recipes::real_world::handler::requests;
/// let r = requests(1, 10);
/// assert_eq!(r.len(), 10);
/// assert!(r[0].ends_with(b"\r\n\r\n"));
/// ```
pub fn requests(seed: u64, n: usize) -> Vec<Vec<u8>> {
    const FIELDS: [&str; 5] = ["name", "email", "plan", "created", "last_login"];
    const AGENTS: [&str; 3] = [
        "curl/8.5.0",
        "Go-http-client/1.1",
        "Mozilla/5.0 (X11; Linux x86_64)",
    ];
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            let mut r = Vec::with_capacity(320);
            let target = match rng.below(10) {
                0..=5 => {
                    let id = rng.skewed(100_000);
                    let nf = rng.below(4) as usize;
                    let start = rng.below(5) as usize;
                    let fields: Vec<&str> = (0..nf).map(|i| FIELDS[(start + i) % 5]).collect();
                    if fields.is_empty() {
                        format!("/api/users/{id}")
                    } else {
                        format!("/api/users/{id}?fields={}&pretty=0", fields.join(","))
                    }
                }
                6..=7 => "/health".to_string(),
                _ => format!("/api/unknown/{}", rng.below(1000)),
            };
            let version = if rng.below(50) == 0 { "" } else { " HTTP/1.1" };
            let _ = write!(
                r,
                "GET {target}{version}\r\nHost: api.example.com\r\nUser-Agent: {}\r\nAccept: application/json\r\nAccept-Encoding: gzip, br\r\nX-Request-Id: {:016x}\r\nCookie: session={:08x}; theme=dark\r\n\r\n",
                AGENTS[rng.below(3) as usize],
                rng.next_u64(),
                rng.next_u64() as u32,
            );
            r
        })
        .collect()
}
