//! `GoAlloc` as this binary's `#[global_allocator]`, running real work:
//! collections, strings, HashMap/BTreeMap churn, threads and a serde_json
//! round trip.

use alloc_cookbook::GoAlloc;
use std::collections::{BTreeMap, HashMap};

#[global_allocator]
static GLOBAL: GoAlloc = GoAlloc::new();

fn scale(n: usize) -> usize {
    if cfg!(debug_assertions) {
        n / 4
    } else {
        n
    }
}

#[test]
fn collections_and_strings() {
    let mut v: Vec<String> = (0..scale(20_000)).map(|i| format!("item-{i}")).collect();
    v.sort();
    v.dedup();
    assert_eq!(v.len(), scale(20_000));
    let joined = v.iter().take(3).cloned().collect::<Vec<_>>().join(",");
    assert_eq!(joined, "item-0,item-1,item-10");
    let mut big: Vec<u64> = Vec::new();
    for i in 0..scale(1_000_000) as u64 {
        big.push(i); // realloc through every class, then large
    }
    assert_eq!(
        big.iter().sum::<u64>(),
        (0..scale(1_000_000) as u64).sum::<u64>()
    );
    let boxed: Vec<Box<[u8; 3]>> = (0..1000).map(|i| Box::new([i as u8; 3])).collect(); // tiny
    assert!(boxed.iter().enumerate().all(|(i, b)| b[2] == i as u8));
}

#[test]
fn map_churn() {
    let mut h: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut b: BTreeMap<String, u64> = BTreeMap::new();
    let mut x = 1u64;
    for i in 0..scale(100_000) as u64 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let k = x % 5000;
        if x & 4 == 0 {
            h.remove(&k);
            b.remove(&k.to_string());
        } else {
            h.insert(k, vec![i as u8; (x % 300) as usize]);
            b.insert(k.to_string(), i);
        }
    }
    for (k, v) in &h {
        assert!(b.contains_key(&k.to_string()));
        assert!(v.iter().all(|&e| e == v.first().copied().unwrap_or(0)));
    }
}

#[test]
fn threads_share_and_free_across() {
    let (tx, rx) = std::sync::mpsc::channel::<Vec<String>>();
    let producers: Vec<_> = (0..4)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..scale(2_000) {
                    tx.send(vec![format!("{t}-{i}"); 4]).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let consumer = std::thread::spawn(move || rx.iter().map(|v| v.len()).sum::<usize>());
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(consumer.join().unwrap(), 4 * 4 * scale(2_000));
}

#[test]
fn serde_json_round_trip() {
    let doc: serde_json::Value = serde_json::json!({
        "name": "allocator cookbook",
        "classes": (1..68).collect::<Vec<u32>>(),
        "nested": { "tiny": [1, 2, 3], "text": "x".repeat(10_000) },
    });
    for _ in 0..scale(200) {
        let s = serde_json::to_string(&doc).unwrap();
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, doc);
    }
}

#[test]
fn stats_of_the_global_allocator_are_printable() {
    let v = vec![0u8; 100];
    let s = GLOBAL.stats();
    assert!(s.mallocs > 0 && s.live_objects > 0);
    assert!(s.heap_reserved >= s.heap_in_use);
    let text = s.to_string();
    assert!(text.contains("cache hits"), "{text}");
    drop(v);
}
