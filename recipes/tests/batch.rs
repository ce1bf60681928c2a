//! Tests of `alloc_recipes::batch`: every pattern gives the same output as
//! the naive code it replaces, and makes the number of allocations it
//! promises (counted exactly, on this thread only).
//!
//! The fact a reader gets wrong: `Vec` growth counts as reallocations
//! (`reallocs`, included in `allocs`), so "pre-sizing saves allocations" is
//! asserted here as "no reallocation at all", not as a smaller guess.

use alloc_cookbook::counting::{count, CountingAlloc};
use alloc_recipes::batch::*;
use bumpalo::Bump;
use std::alloc::System;

#[global_allocator]
static ALLOC: CountingAlloc<System> = CountingAlloc::new(System);

const N: usize = 1000;

// ---- pre-sizing ----

#[test]
fn presized_vec_allocates_once_where_push_reallocates() {
    let (naive, grow) = count(|| squares_by_push(N));
    let (presized, once) = count(|| squares_presized(N));
    let (collected, collect_counts) = count(|| squares_collected(N));
    assert_eq!(naive, presized);
    assert_eq!(naive, collected);
    // Doubling from 4 elements to 1024: 4, 8, ..., 1024 is 1 alloc + 8 reallocs.
    assert_eq!((grow.allocs, grow.reallocs), (9, 8));
    assert_eq!((once.allocs, once.reallocs), (1, 0));
    assert_eq!((collect_counts.allocs, collect_counts.reallocs), (1, 0));
}

#[test]
fn reserve_reallocates_at_most_once() {
    let mut v = vec![7u64; 3];
    let (_, c) = count(|| append_squares(&mut v, N));
    assert_eq!((c.allocs, c.reallocs), (1, 1));
    assert_eq!(v.len(), N + 3);
    assert_eq!(&v[3..], &squares_by_push(N)[..]);
}

fn words(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("w{i}")).collect()
}

#[test]
fn presized_join_allocates_once() {
    let owned = words(N);
    let w: Vec<&str> = owned.iter().map(String::as_str).collect();
    let (naive, grow) = count(|| join_by_push(&w, ' '));
    let (presized, once) = count(|| join_presized(&w, ' '));
    assert_eq!(naive, presized);
    assert!(grow.reallocs > 5, "{grow:?}");
    assert_eq!((once.allocs, once.reallocs), (1, 0));
    assert_eq!(presized.capacity(), presized.len());
}

#[test]
fn presized_map_allocates_once() {
    let owned = words(N);
    let w: Vec<&str> = owned.iter().map(String::as_str).collect();
    let (naive, grow) = count(|| index_by_insert(&w));
    let (presized, once) = count(|| index_presized(&w));
    assert_eq!(naive, presized);
    // hashbrown's table grows 3, 7, 14, 28, ... entries: a new table each time.
    assert!(grow.allocs >= 8, "{grow:?}");
    assert_eq!(once.allocs, 1);
}

// ---- reuse across iterations ----

fn lines(n: usize) -> String {
    (0..n)
        .map(|i| format!("line {:05} {}\n", i, if i % 3 == 0 { "hit" } else { "---" }))
        .collect()
}

#[test]
fn read_line_reuses_one_string() {
    let text = lines(N); // every line has the same length
    let (fresh, c_fresh) = count(|| count_matching_lines_fresh(text.as_bytes(), "hit").unwrap());
    let (reused, c_reused) = count(|| count_matching_lines_reused(text.as_bytes(), "hit").unwrap());
    assert_eq!(fresh, reused);
    assert_eq!(fresh, N.div_ceil(3));
    assert_eq!(c_fresh.allocs, N as u64, "one String per line");
    assert_eq!(c_reused.allocs, 1, "one String, sized by the first line");
}

#[test]
fn reading_reports_invalid_utf8() {
    let bad: &[u8] = b"ok\n\xff\xfe\n";
    assert!(count_matching_lines_fresh(bad, "ok").is_err());
    assert!(count_matching_lines_reused(bad, "ok").is_err());
}

fn records(n: usize) -> Vec<Record> {
    parse_records_naive(&sample_records_input(n)).unwrap()
}

#[test]
fn scratch_line_buffer_replaces_a_string_per_record() {
    let recs = records(N);
    let mut out_fresh = Vec::with_capacity(64 * N);
    let mut out_reused = Vec::with_capacity(64 * N);
    let (_, c_fresh) = count(|| write_lines_fresh(&recs, &mut out_fresh).unwrap());
    let (_, c_reused) = count(|| write_lines_reused(&recs, &mut out_reused).unwrap());
    assert_eq!(out_fresh, out_reused);
    assert!(c_fresh.allocs >= N as u64, "{c_fresh:?}");
    // writeln! formats straight into the (pre-sized) output: no allocation.
    assert_eq!(c_reused.allocs, 0, "{c_reused:?}");
}

#[test]
fn clone_from_reuses_the_destination_strings() {
    let src = words(N);
    let mut dst_fresh = words(N);
    let mut dst_reused = words(N);
    let (_, c_fresh) = count(|| copy_strings_fresh(&mut dst_fresh, &src));
    let (_, c_reused) = count(|| copy_strings_reused(&mut dst_reused, &src));
    assert_eq!(dst_fresh, src);
    assert_eq!(dst_reused, src);
    assert_eq!(c_fresh.allocs, N as u64 + 1, "every string plus the Vec");
    assert_eq!(c_reused.allocs, 0);
    // Shorter and longer sources still give the same result.
    copy_strings_reused(&mut dst_reused, &src[..10]);
    assert_eq!(dst_reused, &src[..10]);
    copy_strings_reused(&mut dst_reused, &src);
    assert_eq!(dst_reused, src);
}

// ---- records: naive, pre-sized, reused, arena, packed ----

type Flat = Vec<(u64, String, String)>;

fn flat<'a>(it: impl Iterator<Item = (u64, &'a str, &'a str)>) -> Flat {
    it.map(|(id, n, c)| (id, n.to_string(), c.to_string()))
        .collect()
}

#[test]
fn every_record_variant_gives_the_naive_output() {
    let input = sample_records_input(N);
    let naive = parse_records_naive(&input).unwrap();
    let expected = flat(
        naive
            .iter()
            .map(|r| (r.id, r.name.as_str(), r.city.as_str())),
    );
    assert_eq!(expected.len(), N);
    assert_eq!(expected[1], (1, "user-1".to_string(), "lima".to_string()));

    assert_eq!(parse_records_presized(&input).unwrap(), naive);
    let mut buf = RecordBuffer::new();
    buf.fill(
        "9,longer-name-from-before,somewhere\n"
            .repeat(N + 5)
            .as_str(),
    )
    .unwrap();
    assert_eq!(buf.fill(&input).unwrap(), &naive[..]);
    let bump = Bump::new();
    let arena = parse_records_in(&bump, &input).unwrap();
    assert_eq!(flat(arena.iter().map(|r| (r.id, r.name, r.city))), expected);
    assert_eq!(flat(parse_records_packed(&input).unwrap().iter()), expected);
}

#[test]
fn naive_records_take_two_strings_each_plus_growth() {
    let input = sample_records_input(N);
    let (_, c) = count(|| parse_records_naive(&input).unwrap());
    // 1,000 records: the Vec grows 4 → 1024 (1 alloc + 8 reallocs).
    assert_eq!(c.allocs, 2 * N as u64 + 9);
    let (_, c) = count(|| parse_records_presized(&input).unwrap());
    assert_eq!((c.allocs, c.reallocs), (2 * N as u64 + 1, 0));
}

#[test]
fn reused_record_buffer_allocates_nothing_for_a_batch_no_bigger() {
    let input = sample_records_input(N);
    let mut buf = RecordBuffer::new();
    buf.fill(&input).unwrap();
    let (_, c) = count(|| {
        buf.fill(&input).unwrap();
        buf.fill(&sample_records_input(N / 2)[..]).unwrap().len()
    });
    // Only the smaller input string itself is allocated (and grown by writeln!).
    let (_, input_only) = count(|| sample_records_input(N / 2));
    assert_eq!(c.allocs, input_only.allocs);
    assert_eq!(buf.records().len(), N / 2);
}

#[test]
fn arena_records_allocate_nothing_once_the_chunk_covers_a_batch() {
    let input = sample_records_input(N);
    let mut bump = Bump::new();
    for _ in 0..2 {
        parse_records_in(&bump, &input).unwrap();
        bump.reset();
    }
    let (_, c) = count(|| {
        for _ in 0..5 {
            let records = parse_records_in(&bump, &input).unwrap();
            assert_eq!(records.len(), N);
            drop(records);
            bump.reset();
        }
    });
    assert_eq!(c.allocs, 0);
    assert_eq!(c.deallocs, 0);
}

#[test]
fn packed_records_take_two_allocations() {
    let input = sample_records_input(N);
    let (packed, c) = count(|| parse_records_packed(&input).unwrap());
    assert_eq!((c.allocs, c.reallocs), (2, 0));
    assert_eq!(packed.records().len(), N);
}

#[test]
fn bad_input_gives_the_line_and_the_reason_in_every_variant() {
    let input = "1,ann,oslo\n2,bob\n";
    let expected = ParseError {
        line: 2,
        kind: ParseErrorKind::MissingField,
    };
    assert_eq!(parse_records_naive(input).unwrap_err(), expected);
    assert_eq!(parse_records_presized(input).unwrap_err(), expected);
    assert_eq!(RecordBuffer::new().fill(input).unwrap_err(), expected);
    assert_eq!(parse_records_in(&Bump::new(), input).unwrap_err(), expected);
    assert_eq!(parse_records_packed(input).unwrap_err(), expected);
    let not_a_number = parse_records_packed("-1,ann,oslo\n").unwrap_err();
    assert_eq!(not_a_number.to_string(), "line 1: the id is not a number");
    // Commas after the second one belong to the city.
    let r = parse_records_naive("3,ann,oslo, norway\n").unwrap();
    assert_eq!(r[0].city, "oslo, norway");
}

#[test]
fn string_table_round_trips_every_string() {
    let owned = words(N);
    let mut t = StringTable::with_capacity(owned.iter().map(String::len).sum());
    let (spans, c) = count(|| owned.iter().map(|w| t.push(w)).collect::<Vec<_>>());
    assert_eq!(
        c.allocs, 1,
        "only the Vec of spans: the table was pre-sized"
    );
    for (w, s) in owned.iter().zip(spans) {
        assert_eq!(t.get(s), w);
    }
    let empty = t.push("");
    assert_eq!(t.get(empty), "");
}

// ---- the arena traps ----

#[test]
fn bumpalo_never_runs_drop_so_a_std_vec_in_it_leaks() {
    let (_, c) = count(|| {
        let bump = Bump::new();
        let v: &mut Vec<u8> = bump.alloc(vec![1, 2, 3]);
        assert_eq!(v.len(), 3);
    }); // the Bump is dropped here; the Vec's heap buffer is not
    assert_eq!(c.allocs - c.deallocs, 1, "the Vec's buffer leaked: {c:?}");

    let (_, c) = count(|| {
        let bump = Bump::new();
        let mut v = bumpalo::collections::Vec::new_in(&bump);
        v.extend_from_slice(&[1u8, 2, 3]);
        assert_eq!(v.len(), 3);
    });
    assert_eq!(
        c.allocs, c.deallocs,
        "bumpalo's own Vec lives in the arena: {c:?}"
    );
}

#[test]
fn typed_arena_runs_drop_when_the_arena_goes() {
    let (_, c) = count(|| {
        let arena = typed_arena::Arena::new();
        for i in 0..100 {
            arena.alloc(format!("string {i}"));
        }
    });
    assert_eq!(c.allocs, c.deallocs, "{c:?}");
}

// ---- trees ----

fn in_order_box(n: Option<&BoxNode>, out: &mut Vec<u64>) {
    if let Some(n) = n {
        in_order_box(n.left.as_deref(), out);
        out.push(n.value);
        in_order_box(n.right.as_deref(), out);
    }
}

fn in_order_ref(n: Option<&RefNode<'_>>, out: &mut Vec<u64>) {
    if let Some(n) = n {
        in_order_ref(n.left, out);
        out.push(n.value);
        in_order_ref(n.right, out);
    }
}

fn in_order_index(t: &IndexTree, i: u32, out: &mut Vec<u64>) {
    if i != NO_NODE {
        let n = t.nodes()[i as usize];
        in_order_index(t, n.left, out);
        out.push(n.value);
        in_order_index(t, n.right, out);
    }
}

#[test]
fn every_tree_holds_the_same_values_in_order() {
    let expected: Vec<u64> = (0..N as u64).collect();
    let sum = expected.iter().sum::<u64>();

    let boxed = build_box_tree(N);
    let mut v = Vec::new();
    in_order_box(boxed.as_deref(), &mut v);
    assert_eq!(v, expected);
    assert_eq!(sum_box_tree(boxed.as_deref()), sum);

    let arena = typed_arena::Arena::new();
    let root = build_typed_arena_tree(&arena, N);
    v.clear();
    in_order_ref(root, &mut v);
    assert_eq!(v, expected);
    assert_eq!(sum_ref_tree(root), sum);

    let bump = Bump::new();
    let root = build_bump_tree(&bump, N);
    v.clear();
    in_order_ref(root, &mut v);
    assert_eq!(v, expected);
    assert_eq!(sum_ref_tree(root), sum);

    let t = IndexTree::build(N);
    v.clear();
    in_order_index(&t, t.root(), &mut v);
    assert_eq!(v, expected);
    assert_eq!(t.sum(), sum);

    assert!(build_box_tree(0).is_none());
    assert_eq!(IndexTree::build(0).root(), NO_NODE);
}

#[test]
fn tree_allocation_counts() {
    let (_, boxed) = count(|| sum_box_tree(build_box_tree(N).as_deref()));
    assert_eq!(boxed.allocs, N as u64, "one Box per node");
    assert_eq!(boxed.deallocs, N as u64, "and one free per node");

    let (_, index) = count(|| IndexTree::build(N).sum());
    assert_eq!((index.allocs, index.reallocs), (1, 0));

    let (_, typed) = count(|| {
        let arena = typed_arena::Arena::new();
        sum_ref_tree(build_typed_arena_tree(&arena, N))
    });
    // Chunks that double: about log2(N) allocations for N nodes.
    assert!(typed.allocs <= 12, "{typed:?}");
    assert_eq!(typed.allocs, typed.deallocs);

    let mut bump = Bump::new();
    for _ in 0..2 {
        build_bump_tree(&bump, N);
        bump.reset();
    }
    let (_, reset) = count(|| {
        let s = sum_ref_tree(build_bump_tree(&bump, N));
        bump.reset();
        s
    });
    assert_eq!(
        reset.allocs, 0,
        "a reset Bump rebuilds the tree in its kept chunk"
    );
}

// ---- one allocation for many ----

#[test]
fn inline_points_take_one_allocation_boxed_take_one_each() {
    let (boxed, c_boxed) = count(|| points_boxed(N));
    let (inline, c_inline) = count(|| points_inline(N));
    let (slice, c_slice) = count(|| points_boxed_slice(N));
    let unboxed: Vec<Point> = boxed.iter().map(|b| **b).collect();
    assert_eq!(unboxed, inline);
    assert_eq!(&slice[..], &inline[..]);
    assert_eq!(c_boxed.allocs, N as u64 + 1);
    assert_eq!((c_inline.allocs, c_inline.reallocs), (1, 0));
    assert_eq!((c_slice.allocs, c_slice.reallocs), (1, 0));
}

// Trap 7: `read_line` keeps the line ending; `lines()` does not. Before the
// fix the reused version searched the text with its "\n" and counted 2
// where the fresh one counted 0.
#[test]
fn reused_and_fresh_line_counts_agree_on_needles_with_line_ends() {
    let text = "ab\ncd\r\nab";
    for needle in ["b\n", "d\r", "\n", "ab", "c"] {
        assert_eq!(
            count_matching_lines_fresh(text.as_bytes(), needle).unwrap(),
            count_matching_lines_reused(text.as_bytes(), needle).unwrap(),
            "needle {needle:?}"
        );
    }
}
