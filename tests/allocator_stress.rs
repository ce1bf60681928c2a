//! Randomized, seeded, multi-threaded stress test of `GoAlloc` (a private
//! instance called directly, not the global allocator).
//!
//! Several threads allocate objects of every size class, tiny sizes, large
//! sizes and odd alignments (up to 16 KiB, above a page), write a pattern,
//! realloc some, hand some to other threads which check and free them. Every
//! object's content is checked before it is freed, and a shared interval map
//! proves no two live objects overlap. Afterwards the statistics must add up:
//! no live bytes, every span back with the page heap.

use alloc_cookbook::size_class::GO;
use alloc_cookbook::GoAlloc;
use std::alloc::{GlobalAlloc, Layout};
use std::collections::BTreeMap;
use std::sync::Mutex;

static HEAP: GoAlloc = GoAlloc::new();

/// Live ranges `start -> end` of every object handed out by `HEAP`.
static LIVE: Mutex<BTreeMap<usize, usize>> = Mutex::new(BTreeMap::new());

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy)]
struct Obj {
    ptr: usize,
    layout: Layout,
    tag: u8,
}

fn claim(ptr: usize, size: usize) {
    let mut live = LIVE.lock().unwrap();
    if let Some((&s, &e)) = live.range(..=ptr).next_back() {
        assert!(
            e <= ptr,
            "object {ptr:#x}+{size} overlaps live {s:#x}..{e:#x}"
        );
    }
    if let Some((&s, _)) = live.range(ptr..).next() {
        assert!(
            ptr + size <= s,
            "object {ptr:#x}+{size} overlaps live object at {s:#x}"
        );
    }
    live.insert(ptr, ptr + size);
}

fn unclaim(ptr: usize) {
    assert!(LIVE.lock().unwrap().remove(&ptr).is_some());
}

/// Bytes written and checked: all of a small object, the ends and the middle of a big one.
fn spots(size: usize) -> impl Iterator<Item = usize> {
    let full = size.min(2048);
    let tail = size.saturating_sub(256).max(full);
    (0..full).chain(tail..size).chain(std::iter::once(size / 2))
}

fn fill(o: &Obj) {
    for i in spots(o.layout.size()) {
        // SAFETY: i < size, the object is live and ours.
        unsafe { *(o.ptr as *mut u8).add(i) = o.tag ^ (i as u8) };
    }
}

fn check(o: &Obj, upto: usize) {
    for i in spots(o.layout.size()).filter(|&i| i < upto) {
        // SAFETY: i < size of a live object.
        let b = unsafe { *(o.ptr as *const u8).add(i) };
        assert_eq!(
            b,
            o.tag ^ (i as u8),
            "object {:#x} byte {i} corrupted",
            o.ptr
        );
    }
}

fn alloc(rng: &mut Rng, size: usize, align: usize) -> Obj {
    let layout = Layout::from_size_align(size, align).unwrap();
    // SAFETY: non-zero layout.
    let ptr = unsafe { HEAP.alloc(layout) } as usize;
    assert_ne!(ptr, 0, "allocation of {size} B failed");
    assert_eq!(ptr % align, 0, "{size} B not aligned to {align}");
    claim(ptr, size);
    let o = Obj {
        ptr,
        layout,
        tag: rng.next() as u8,
    };
    fill(&o);
    o
}

fn free(o: Obj) {
    check(&o, usize::MAX);
    unclaim(o.ptr);
    // SAFETY: allocated by HEAP with this layout, freed once.
    unsafe { HEAP.dealloc(o.ptr as *mut u8, o.layout) };
}

fn realloc(rng: &mut Rng, o: Obj, new_size: usize) -> Obj {
    check(&o, usize::MAX);
    unclaim(o.ptr);
    // SAFETY: live object of HEAP, non-zero new size.
    let p = unsafe { HEAP.realloc(o.ptr as *mut u8, o.layout, new_size) } as usize;
    assert_ne!(p, 0);
    let n = Obj {
        ptr: p,
        layout: Layout::from_size_align(new_size, o.layout.align()).unwrap(),
        tag: o.tag,
    };
    check(&n, o.layout.size().min(new_size).min(2048));
    claim(p, new_size);
    let n = Obj {
        tag: rng.next() as u8,
        ..n
    };
    fill(&n);
    n
}

fn random_layout(rng: &mut Rng) -> (usize, usize) {
    let size = match rng.below(100) {
        0..=29 => 1 + rng.below(15) as usize, // tiny
        30..=79 => GO.size(1 + rng.below(67) as u8) - rng.below(8) as usize, // every class, near its top
        80..=94 => 1 + rng.below(32 * 1024) as usize,                        // any small size
        _ => 32 * 1024 + 1 + rng.below(200_000) as usize,                    // large
    };
    let align = match rng.below(20) {
        0 => 16,
        1 => 64,
        2 => 4096,
        3 => 16384, // above a page
        4 => 2,
        _ => 8,
    };
    (size.max(1), align)
}

const THREADS: usize = 4;

fn run(seed: u64, steps: usize) {
    let mailboxes: Vec<Mutex<Vec<Obj>>> = (0..THREADS).map(|_| Mutex::new(Vec::new())).collect();
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for t in 0..THREADS {
            let mailboxes = &mailboxes;
            handles.push(s.spawn(move || {
                let mut rng = Rng(seed ^ (t as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let mut mine: Vec<Obj> = Vec::new();
                // Every class once, at its exact size and one byte over the previous class.
                for c in 1..GO.len() as u8 {
                    mine.push(alloc(&mut rng, GO.size(c), 8));
                    if c > 1 {
                        mine.push(alloc(&mut rng, GO.size(c - 1) + 1, 8));
                    }
                }
                for _ in 0..steps {
                    match rng.below(10) {
                        0..=4 => {
                            let (size, align) = random_layout(&mut rng);
                            mine.push(alloc(&mut rng, size, align));
                        }
                        5 | 6 if !mine.is_empty() => {
                            let i = rng.below(mine.len() as u64) as usize;
                            free(mine.swap_remove(i));
                        }
                        7 if !mine.is_empty() => {
                            let i = rng.below(mine.len() as u64) as usize;
                            let (size, _) = random_layout(&mut rng);
                            mine[i] = realloc(&mut rng, mine[i], size);
                        }
                        8 if !mine.is_empty() => {
                            let i = rng.below(mine.len() as u64) as usize;
                            let to = rng.below(THREADS as u64) as usize;
                            mailboxes[to].lock().unwrap().push(mine.swap_remove(i));
                        }
                        _ => {
                            let got = std::mem::take(&mut *mailboxes[t].lock().unwrap());
                            for o in got {
                                free(o);
                            }
                        }
                    }
                }
                for o in mine {
                    free(o);
                }
            }));
        }
        // An explicit join waits for the whole thread exit, including the
        // pthread key destructor that flushes its caches (the scope's
        // implicit wait only waits for the closure).
        for h in handles {
            h.join().unwrap();
        }
    });
    for m in &mailboxes {
        for o in std::mem::take(&mut *m.lock().unwrap()) {
            free(o);
        }
    }
}

#[test]
fn seeded_multithreaded_stress_leaves_nothing_behind() {
    let steps = if cfg!(debug_assertions) {
        3_000
    } else {
        30_000
    };
    run(0xC0FF_EE00_D15E_A5E5, steps);
    run(42, steps / 2);
    HEAP.flush_thread_cache();
    assert!(LIVE.lock().unwrap().is_empty());
    let s = HEAP.stats();
    assert_eq!(s.mallocs, s.frees, "{s}");
    assert_eq!(s.live_objects, 0, "{s}");
    assert_eq!(s.bytes_requested, 0, "{s}");
    assert_eq!(s.bytes_handed_out, 0, "{s}");
    assert_eq!(s.small_spans, 0, "every span back with the page heap:\n{s}");
    assert_eq!(s.heap_in_use, 0, "{s}");
    // Class 1 (8 B) is never used: every request under 16 B goes to the tiny allocator.
    assert!(
        s.by_size[2..68].iter().all(|c| c.mallocs > 0),
        "every class used:\n{s}"
    );
    assert!(s.tiny_allocs > 0 && s.large_allocs > 0 && s.central_refills > 0);
    assert_eq!(s.heap_idle, s.heap_reserved);
    // Give the idle pages back: nothing resident remains.
    HEAP.scavenge(0);
    assert_eq!(HEAP.stats().heap_resident, 0);
}
