//! Allocation-count tests for `tiny`: short inline keys never allocate, an
//! interner allocates once per distinct string, packed strings twice in all.
//! The fact a reader gets wrong: the naive `entry(word.to_string())` word
//! count allocates for every word, not for every distinct word (asserted).

use alloc_cookbook::counting::{count, CountingAlloc};
use alloc_recipes::tiny::*;
use std::alloc::System;
use std::collections::HashMap;

#[global_allocator]
static A: CountingAlloc<System> = CountingAlloc::new(System);

fn text() -> Vec<&'static str> {
    let vocabulary = [
        "the", "cat", "sat", "on", "mat", "and", "a", "dog", "ran", "far", "away",
    ];
    (0..500)
        .map(|i| vocabulary[(i * 7 + i / 3) % vocabulary.len()])
        .collect()
}

#[test]
fn inline_str_allocates_only_past_16_bytes() {
    let (s, c) = count(|| InlineStr::from("exactly16bytes!!"));
    assert_eq!(c.allocs, 0);
    assert!(s.is_inline());
    let (s, c) = count(|| InlineStr::from("seventeen bytes!!"));
    assert_eq!(c.allocs, 1);
    assert!(!s.is_inline());
}

#[test]
fn inline_keys_are_found_by_str() {
    let mut m: HashMap<InlineStr, u32> = HashMap::new();
    m.insert(InlineStr::from("key"), 1);
    m.insert(InlineStr::from("a rather long key, on the heap"), 2);
    assert_eq!(m.get("key"), Some(&1));
    assert_eq!(m.get("a rather long key, on the heap"), Some(&2));
}

#[test]
fn every_word_count_agrees() {
    let words = text();
    let naive = count_words_string_keys(words.iter().copied());
    let careful = count_words_lookup_first(words.iter().copied());
    let inline = count_words_inline(words.iter().copied());
    let mut names = Interner::default();
    let interned = count_words_interned(words.iter().copied(), &mut names);
    assert_eq!(naive, careful);
    assert_eq!(naive.len(), inline.len());
    assert_eq!(naive.len(), names.len());
    for (word, &n) in &naive {
        assert_eq!(inline[word.as_str()], n);
        assert_eq!(interned[names.get(word).unwrap().index()], n);
    }
}

#[test]
fn naive_count_allocates_per_word_careful_per_distinct_word_inline_never() {
    let words = text();
    let distinct = count_words_string_keys(words.iter().copied()).len() as u64;
    // The map's own growth is the same for String and InlineStr keys (same
    // entry size), so the differences are the key allocations alone.
    let (_, naive) = count(|| count_words_string_keys(words.iter().copied()));
    let (_, careful) = count(|| count_words_lookup_first(words.iter().copied()));
    let (_, inline) = count(|| count_words_inline(words.iter().copied()));
    assert_eq!(naive.allocs - inline.allocs, words.len() as u64);
    assert_eq!(careful.allocs - inline.allocs, distinct);
    assert!(inline.allocs <= 6, "only the table's growth: {inline:?}");
}

#[test]
fn a_known_string_interns_without_allocating() {
    let words = text();
    let mut names = Interner::default();
    let first = count_words_interned(words.iter().copied(), &mut names);
    let (second, c) = count(|| count_words_interned(words.iter().copied(), &mut names));
    assert_eq!(first, second);
    assert_eq!(c.allocs, 1, "only the counts vector");
    let (_, c) = count(|| names.intern("brand new"));
    // One new live block (the Arc<str>); a table or vector growth, if any,
    // replaces a block (alloc + dealloc, or realloc) and adds none.
    assert_eq!(c.allocs - c.reallocs - c.deallocs, 1, "{c:?}");
}

#[test]
fn packed_strings_are_two_allocations() {
    let words = text();
    let bytes: usize = words.iter().map(|w| w.len()).sum();
    let (packed, c) = count(|| {
        let mut p = PackedStrs::with_capacity(words.len(), bytes);
        for w in &words {
            p.push(w);
        }
        p
    });
    assert_eq!(c.allocs, 2);
    assert!(packed.iter().eq(words.iter().copied()));
    assert_eq!(packed.get(3), words[3]);
}

#[test]
fn inline_keys_allocate_once_per_distinct_long_word() {
    let long = [
        "a word longer than sixteen bytes",
        "another long word, also spilled",
    ];
    let words: Vec<&str> = (0..300)
        .map(|i| if i % 3 == 0 { long[i % 2] } else { "short" })
        .collect();
    let (counts, c) = count(|| count_words_inline(words.iter().copied()));
    // The table for 3 keys is allocated once (hashbrown's smallest table holds 3).
    assert_eq!(c.allocs, 1 + 2, "{c:?}");
    assert_eq!(counts["short"], 200);
}

#[test]
fn inline_str_reads_like_a_str() {
    let s = InlineStr::from("tea");
    assert_eq!(s, "tea");
    assert!(s == *"tea");
    assert_eq!(format!("{s} {s:?}"), "tea \"tea\"");
    fn takes_as_ref(x: impl AsRef<str>) -> usize {
        x.as_ref().len()
    }
    assert_eq!(takes_as_ref(&s), 3);
    assert_eq!(takes_as_ref(s.clone()), 3);
}

// PackedStrs::push checks the u32 limit before it changes the text (as
// StringTable does); 4 GiB of text is too much for a test, so this pins the
// ordinary path: every pushed string comes back, ends are cumulative.
#[test]
fn packed_strs_push_keeps_text_and_ends_in_step() {
    let mut p = PackedStrs::default();
    for w in ["", "a", "bc", ""] {
        p.push(w);
    }
    assert_eq!(p.iter().collect::<Vec<_>>(), ["", "a", "bc", ""]);
}
