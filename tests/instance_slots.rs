//! Each live `GoAlloc` instance has its own thread-local slot (up to eight).
//!
//! Instances used to take slot numbers round-robin by creation order, so the
//! ninth instance ever created shared the first one's slot even when
//! instances 2 to 8 were long gone, and the two then evicted each other's
//! thread cache (a flush of every class) on every switch: here, 1,000
//! refills from the central list each instead of a handful (a cache's
//! slow start, `thread_cache.rs`). Now a new instance
//! takes the least used slot and a dropped one gives its slot back.
//!
//! Its own test binary, so that no other test creates instances meanwhile.

use alloc_cookbook::GoAlloc;
use std::alloc::{GlobalAlloc, Layout};

static FIRST: GoAlloc = GoAlloc::new();

#[test]
fn the_ninth_instance_does_not_evict_the_first_ones_cache() {
    let l = Layout::from_size_align(64, 8).unwrap();
    // SAFETY: each object is freed once with its layout, by its own instance.
    unsafe {
        FIRST.dealloc(FIRST.alloc(l), l);
        for _ in 0..7 {
            let a = GoAlloc::new();
            a.dealloc(a.alloc(l), l);
        }
        let ninth = GoAlloc::new();
        for _ in 0..1000 {
            let p = FIRST.alloc(l);
            let q = ninth.alloc(l);
            FIRST.dealloc(p, l);
            ninth.dealloc(q, l);
        }
        let (f, n) = (FIRST.stats(), ninth.stats());
        assert!(
            f.central_refills <= 8 && n.central_refills <= 8,
            "refills from the central list: first {}, ninth {} (evicting each other?)",
            f.central_refills,
            n.central_refills
        );
    }
}
