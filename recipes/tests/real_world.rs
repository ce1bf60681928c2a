//! Tests of the real-world case study: every analyzer step and every handler
//! version gives the same result on the same generated input, and each step
//! makes the allocations per line or per request it promises.
//!
//! The fact a reader gets wrong: allocation counts are deterministic for a
//! given input (std's maps and vectors grow by element count, not by hash
//! seed), so they can be asserted; times cannot, and live in the benches.

use alloc_cookbook::counting::{count, CountingAlloc};
use alloc_recipes::real_world::handler::{self, HANDLER_STEPS};
use alloc_recipes::real_world::loggen::{generate, LogReader};
use alloc_recipes::real_world::{self as rw, STEPS};
use std::alloc::System;

#[global_allocator]
static A: CountingAlloc<System> = CountingAlloc::new(System);

const LINES: u64 = 3_000;

#[test]
fn every_step_gives_the_same_report() {
    for seed in [1, 2026] {
        let log = generate(seed, LINES);
        let expected = (STEPS[0].1)(&log).unwrap();
        assert_eq!(expected.lines, LINES);
        assert!(
            expected.malformed > 0,
            "the generator cuts some lines short"
        );
        assert_eq!(expected.top_paths.len(), rw::TOP_N);
        assert_eq!(expected.top_clients.len(), rw::TOP_N);
        let parsed = LINES - expected.malformed;
        assert_eq!(expected.by_status.iter().map(|s| s.1).sum::<u64>(), parsed);
        assert_eq!(expected.by_hour.iter().sum::<u64>(), parsed);
        for (name, step) in &STEPS[1..] {
            assert_eq!(
                step(&log).unwrap(),
                expected,
                "step {name:?} differs from naive (seed {seed})"
            );
        }
    }
}

#[test]
fn report_is_sorted_and_percentiles_are_ordered() {
    let r = (STEPS[0].1)(&generate(5, LINES)).unwrap();
    for w in r.top_paths.windows(2) {
        assert!(
            w[0].requests > w[1].requests
                || (w[0].requests == w[1].requests && w[0].path < w[1].path)
        );
    }
    for p in &r.top_paths {
        assert!(p.p50_us <= p.p90_us && p.p90_us <= p.p99_us);
    }
    for w in r.top_clients.windows(2) {
        assert!(w[0].bytes >= w[1].bytes);
    }
}

#[test]
fn streamed_log_equals_generated_log() {
    let streamed =
        rw::step5_soa::analyze(std::io::BufReader::new(LogReader::new(9, LINES))).unwrap();
    assert_eq!(
        streamed,
        rw::step0_naive::analyze(&generate(9, LINES)[..]).unwrap()
    );
}

#[test]
fn empty_and_malformed_input() {
    for (name, step) in &STEPS {
        let r = step(b"").unwrap();
        assert_eq!(r, rw::Report::default(), "{name}");
        let r = step(b"garbage\nmore garbage\r\n").unwrap();
        assert_eq!((r.lines, r.malformed), (2, 2), "{name}");
    }
    let bad_utf8: &[u8] = b"\xff\xfe\n";
    for (name, step) in &STEPS {
        assert!(
            step(bad_utf8).is_err(),
            "{name} must report invalid UTF-8 as an error"
        );
    }
}

#[test]
fn allocation_counts_fall_step_by_step() {
    let log = generate(1, LINES);
    let report = (STEPS[0].1)(&log).unwrap();
    let parsed = LINES - report.malformed;
    // Every step allocates each distinct key once and sets up a few buffers;
    // what differs is what it allocates per line.
    let keys = (report.distinct_paths + report.distinct_clients) as u64;
    let paths = report.distinct_paths as u64;
    let allocs: Vec<u64> = STEPS
        .iter()
        .map(|(_, s)| count(|| s(&log).unwrap()).1.allocs)
        .collect();
    // Naive: per line the line itself; per parsed line seven field strings,
    // the box, and the two keys cloned for `entry`.
    assert!(allocs[0] >= LINES + 10 * parsed, "naive: {allocs:?}");
    // Step 1 keeps exactly the seven field strings per parsed line over step 2
    // (give or take the few set-up buffers that differ between them).
    assert!(
        allocs[1].abs_diff(allocs[2] + 7 * parsed) < 50,
        "presized: {allocs:?}"
    );
    // Steps 2 to 4: nothing per line; keys, and one growing latency list per path.
    for (i, &a) in allocs.iter().enumerate().take(5).skip(2) {
        assert!(
            a >= keys + paths && a < keys + 2 * paths + 200,
            "step {i}: {allocs:?}"
        );
    }
    // Step 5: the per-path lists are gone too; keys and a few columns remain.
    assert!(
        allocs[5] >= keys && allocs[5] < keys + 100,
        "soa: {allocs:?}"
    );
}

#[test]
fn every_handler_version_writes_the_same_bytes() {
    let reqs = handler::requests(11, 500);
    let expected = (HANDLER_STEPS[0].1)(&reqs, 2_000);
    assert_eq!(expected.responses, 2_000);
    for (name, serve) in &HANDLER_STEPS[1..] {
        assert_eq!(serve(&reqs, 2_000), expected, "{name}");
    }
    for raw in &reqs {
        let mut arena = bumpalo::Bump::new();
        assert_eq!(
            handler::handle_arena(raw, &mut arena),
            handler::handle_naive(raw)
        );
    }
}

#[test]
fn handler_responses_route_correctly() {
    let r = handler::handle_naive(b"GET /api/users/7?fields=name,email HTTP/1.1\r\nX-Request-Id: 42\r\nCookie: a=b; session=cafe\r\n\r\n");
    let text = String::from_utf8(r).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("X-Request-Id: 42\r\n"));
    assert!(
        text.ends_with(r#"{"id":7,"name":"user-7","fields":["name","email"],"session":"cafe"}"#)
    );
    let r = handler::handle_naive(b"GET /nope HTTP/1.1\r\n\r\n");
    assert!(r.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
    let r = handler::handle_naive(b"GET /nope\r\n\r\n");
    assert!(r.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
    let r = handler::handle_naive(b"\xff\r\n\r\n");
    assert!(r.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
}

/// Allocations for `extra` more calls, once warm: the per-request cost, exactly.
fn extra_allocs(serve: handler::ServeFn, reqs: &[Vec<u8>], calls: usize, extra: usize) -> u64 {
    let (_, a) = count(|| serve(reqs, calls));
    let (_, b) = count(|| serve(reqs, calls + extra));
    b.allocs - a.allocs
}

#[test]
fn handler_allocations_per_request() {
    let reqs = handler::requests(11, 200);
    // Naive: a dozen or more per request (copy, maps, keys, values, format!s).
    assert!(extra_allocs(HANDLER_STEPS[0].1, &reqs, 1_000, 1_000) >= 10 * 1_000);
    // Arena per request: exactly one, the response buffer.
    assert_eq!(extra_allocs(HANDLER_STEPS[1].1, &reqs, 1_000, 1_000), 1_000);
    // Arena + pool: none.
    assert_eq!(extra_allocs(HANDLER_STEPS[2].1, &reqs, 1_000, 1_000), 0);
}

#[test]
fn buffer_pool_bounds_what_it_keeps() {
    let mut pool = handler::ResponsePool::new(2);
    let bufs: Vec<Vec<u8>> = (0..4).map(|_| pool.take()).collect();
    for b in bufs {
        pool.give(b);
    }
    let (_, c) = count(|| {
        let a = pool.take();
        let b = pool.take();
        (a, b)
    });
    assert_eq!(c.allocs, 0, "two buffers were kept");
    let (_, c) = count(|| pool.take());
    assert_eq!(c.allocs, 1, "only two were kept");
}

#[test]
fn response_pool_with_no_limit_does_not_reserve_it() {
    let mut pool = handler::ResponsePool::new(usize::MAX); // before: capacity overflow panic
    let b = pool.take();
    pool.give(b);
    assert!(pool.take().is_empty());
}

// Trap 7: the percentile of no values. Before the fix `rank.min(0) - 1`
// underflowed (a panic in debug builds).
#[test]
fn percentile_of_nothing_is_zero() {
    assert_eq!(rw::percentile(&[], 50), 0);
    assert_eq!(rw::percentile(&[7], 200), 7);
}

// Trap 5: a batch ends after BATCH_LINES lines read, not parsed. Before the
// fix, input where no line parses went into one arena batch whole, so the
// arena grew with the input: four times the input, four times the bytes.
#[test]
fn arena_steps_do_not_hold_unparsable_input() {
    let line = format!("{}\n", "x".repeat(199));
    let small = line.repeat(10_000); // 2 MB, not one line parses
    let large = line.repeat(40_000); // 8 MB
    for (name, analyze) in &STEPS[2..4] {
        let (_, c_small) = count(|| analyze(small.as_bytes()).unwrap());
        let (report, c_large) = count(|| analyze(large.as_bytes()).unwrap());
        assert_eq!((report.lines, report.malformed), (40_000, 40_000));
        assert!(
            c_large.bytes < c_small.bytes + small.len() as u64 / 4,
            "{name}: {} bytes allocated for 2 MB of input, {} for 8 MB",
            c_small.bytes,
            c_large.bytes
        );
    }
}

// Trap 6: request text reaches the JSON body escaped. Before the fix
// `?fields=a"],"admin":true` ended the string and added a key of its own.
#[test]
fn handler_escapes_request_text_in_json() {
    let raw =
        b"GET /api/users/7?fields=a\"],\"admin\":true HTTP/1.1\r\nCookie: session=x\"y\r\n\r\n";
    for r in [
        handler::handle_naive(raw),
        handler::handle_arena(raw, &mut bumpalo::Bump::new()),
    ] {
        let text = String::from_utf8(r).unwrap();
        let body = text.split("\r\n\r\n").nth(1).unwrap();
        assert_eq!(
            body,
            r#"{"id":7,"name":"user-7","fields":["a\"]",,"\"admin\":true"],"session":"x\"y"}"#
                .replace(",,", ",")
        );
    }
    let raw = b"GET /nope\"}\\ HTTP/1.1\r\n\r\n";
    let text = String::from_utf8(handler::handle_naive(raw)).unwrap();
    assert!(
        text.ends_with(r#"{"error":"not found","path":"/nope\"}\\"}"#),
        "{text}"
    );
    // An id that is not a number is not written into the body as one.
    let raw = b"GET /api/users/1,\"admin\":true HTTP/1.1\r\n\r\n";
    assert!(handler::handle_naive(raw).starts_with(b"HTTP/1.1 404 Not Found\r\n"));
}

// Trap 6: a header value with a control byte is rejected, so nothing the
// client sends can add a header to the response through the echoed
// X-Request-Id. Before the fix a lone "\n" was echoed as a header break.
#[test]
fn handler_rejects_control_bytes_in_header_values() {
    for raw in [
        &b"GET /health HTTP/1.1\r\nX-Request-Id: 1\nSet-Cookie: admin=1\r\n\r\n"[..],
        &b"GET /health HTTP/1.1\r\nX-Request-Id: 1\rSet-Cookie: admin=1\r\n\r\n"[..],
        &b"GET /health HTTP/1.1\r\nCookie: session=\x00\r\n\r\n"[..],
    ] {
        let naive = handler::handle_naive(raw);
        assert!(naive.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
        assert!(!String::from_utf8_lossy(&naive).contains("Set-Cookie"));
        assert_eq!(handler::handle_arena(raw, &mut bumpalo::Bump::new()), naive);
    }
    // A tab is allowed.
    let ok = handler::handle_naive(b"GET /health HTTP/1.1\r\nX-Request-Id: a\tb\r\n\r\n");
    assert!(ok.starts_with(b"HTTP/1.1 200 OK\r\n"));
}
