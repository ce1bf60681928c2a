//! Allocation-count tests for `size_aligned`: rounding to the class really
//! saves the reallocation, the Go table copied into the recipe is Go's, and
//! glibc's arithmetic matches `malloc_usable_size`.
//! The fact a reader gets wrong: `into_boxed_str` on a `String` with spare
//! capacity is not free; it reallocates (asserted below).

use alloc_cookbook::counting::{count, CountingAlloc};
use alloc_cookbook::size_class::GO;
use alloc_recipes::size_aligned::*;
use std::alloc::System;

#[global_allocator]
static A: CountingAlloc<System> = CountingAlloc::new(System);

#[test]
fn recipe_go_table_is_the_cookbook_table() {
    for n in 1..=GO.max_small() {
        assert_eq!(go_usable_size(n), GO.size(GO.class_of(n)), "request {n}");
    }
    assert_eq!(go_usable_size(GO.max_small() + 1), GO.max_small() + 8192);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn glibc_arithmetic_matches_malloc_usable_size() {
    extern "C" {
        fn malloc(n: usize) -> *mut u8;
        fn free(p: *mut u8);
        fn malloc_usable_size(p: *mut u8) -> usize;
    }
    for n in 1..=4096 {
        // SAFETY: plain malloc/free of a fresh block; the pointer is checked
        // for null and freed once.
        let got = unsafe {
            let p = malloc(n);
            assert!(!p.is_null());
            let u = malloc_usable_size(p);
            free(p);
            u
        };
        assert_eq!(glibc_usable_size(n), got, "request {n}");
    }
}

#[test]
fn class_capacity_saves_the_reallocation() {
    // Naive: 33 bytes asked, then filled to 48: one allocation and one realloc.
    let (_, naive) = count(|| {
        let mut v: Vec<u8> = Vec::with_capacity(33);
        v.extend_from_slice(&[1; 48]);
        v
    });
    assert_eq!((naive.allocs, naive.reallocs), (2, 1));
    // Rounded: the 48 bytes Go gives for 33 are capacity: one allocation.
    let (v, rounded) = count(|| {
        let mut v: Vec<u8> = with_class_capacity(33, go_usable_size);
        v.extend_from_slice(&[1; 48]);
        v
    });
    assert_eq!((rounded.allocs, rounded.reallocs), (1, 0));
    assert_eq!(rounded.bytes, 48);
    assert_eq!(v.len(), 48);
}

#[test]
fn reserve_to_class_never_grows_more_often_than_push() {
    for n in [1usize, 5, 17, 100, 1000, 5000] {
        let (_, by_push) = count(|| {
            let mut v: Vec<[u8; 40]> = Vec::new();
            for _ in 0..n {
                v.push([0; 40]);
            }
            v
        });
        let (v, by_class) = count(|| {
            let mut v: Vec<[u8; 40]> = Vec::new();
            for _ in 0..n {
                reserve_to_class(&mut v, 1, go_usable_size);
                v.push([0; 40]);
            }
            v
        });
        assert_eq!(v.len(), n);
        assert!(
            by_class.allocs <= by_push.allocs,
            "n={n}: {by_class:?} vs {by_push:?}"
        );
    }
    // Exactly: 1000 elements of 40 bytes. push: caps 4, 8, ..., 1024 (9 allocations).
    // reserve_to_class: caps 4 (160 -> 160), 8 (320), 16 (640 -> 704 = 17), 34 (1360 -> 1408 = 35),
    // 70, 140 (5600 -> 6144 = 153), 306, 612, 1224: 9 allocations too, each using its class.
    let (_, c) = count(|| {
        let mut v: Vec<[u8; 40]> = Vec::new();
        let mut caps = Vec::with_capacity(16);
        for _ in 0..1000 {
            let before = v.capacity();
            reserve_to_class(&mut v, 1, go_usable_size);
            if v.capacity() != before {
                caps.push(v.capacity());
            }
            v.push([0; 40]);
        }
        (v, caps)
    });
    assert_eq!(c.allocs, 9 + 1, "9 growths of v, 1 for the caps record");
}

#[test]
fn shrink_to_class_skips_a_shrink_that_frees_nothing() {
    let mut v: Vec<u8> = Vec::with_capacity(48);
    v.extend_from_slice(&[0; 41]);
    let (_, same_class) = count(|| shrink_to_class(&mut v, go_usable_size));
    assert_eq!(same_class.allocs, 0);
    assert_eq!(v.capacity(), 48);

    let mut w: Vec<u8> = Vec::with_capacity(4096);
    w.extend_from_slice(&[0; 41]);
    let (_, smaller) = count(|| shrink_to_class(&mut w, go_usable_size));
    assert_eq!((smaller.allocs, smaller.reallocs), (1, 1));
    assert_eq!(w.capacity(), 48);
}

#[test]
fn boxing_a_string_with_spare_capacity_reallocates() {
    let mut s = String::with_capacity(32);
    s.push_str("abc");
    let (b, c) = count(|| s.into_boxed_str());
    assert_eq!(c.reallocs, 1);
    assert_eq!(&*b, "abc");
    let exact = String::from("abc");
    let (_, c) = count(|| exact.into_boxed_str());
    assert_eq!(c.allocs, 0);
}

#[test]
fn boxing_the_rare_variant_costs_one_allocation_per_rare_value() {
    let (tokens, c) = count(|| {
        let mut v = Vec::with_capacity(1000);
        for i in 0..1000u32 {
            v.push(if i % 100 == 0 {
                TokenBoxed::Literal(Box::new([7; 56]))
            } else {
                TokenBoxed::Word(i)
            });
        }
        v
    });
    assert_eq!(c.allocs, 1 + 10);
    assert_eq!(c.bytes as usize, 1000 * 16 + 10 * 56);
    let (_, inline) = count(|| vec![TokenInline::Word(0); 1000]);
    assert_eq!(inline.bytes as usize, 1000 * 64);
    assert_eq!(tokens.len(), 1000);
}

#[test]
fn compact_and_padded_records_hold_the_same_data() {
    let p = PaddedRecord {
        flag: 1,
        id: u64::MAX,
        kind: 2,
        count: 3,
        port: 4,
    };
    let c = CompactRecord::from(p);
    assert_eq!(
        (c.flag, c.id, c.kind, c.count, c.port),
        (1, u64::MAX, 2, 3, 4)
    );
    // Twice the size where u64 is 8-byte aligned (24 vs 16 on 32-bit x86).
    if std::mem::align_of::<u64>() == 8 {
        assert_eq!(std::mem::size_of_val(&p), 2 * std::mem::size_of_val(&c));
    }
}
