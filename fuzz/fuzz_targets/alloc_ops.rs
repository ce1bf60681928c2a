//! Fuzzes GoAlloc with sequences of allocate / free / realloc / aligned
//! allocate / hand an object to another thread, checked against a model of
//! the live objects and their contents.
//!
//! Two front doors are driven in the same sequence: `GlobalAlloc` on an
//! instance of its own (with `Layout`s), and the C ABI (`alloc_cookbook::c_abi`:
//! `malloc`, `calloc`, `realloc`, `posix_memalign`, `aligned_alloc`,
//! `memalign`, `free`, `free_sized`, `malloc_usable_size`) on the process-wide
//! instance. The C ABI functions here are plain Rust functions (the crate is
//! built without `preload`), so the fuzzer's own allocator stays libFuzzer's.
//!
//! Checked after every step: a returned pointer is aligned as asked, lies in
//! no other live object, holds what was last written to it (every byte of
//! small objects, a sample of big ones), `calloc` memory is zero, realloc
//! keeps the common prefix, `malloc_usable_size` covers the request, and an
//! impossible request returns null (with `ENOMEM` or `EINVAL` through the C
//! ABI). A second thread frees objects the first allocated and allocates
//! objects the first frees, at the same time as the first goes on.
//!
//! Run: `cargo +nightly fuzz run alloc_ops -a` (`-a`: debug assertions, so
//! the allocator's own double-free and corruption checks are on too).
#![no_main]

use alloc_cookbook::c_abi;
use alloc_cookbook::GoAlloc;
use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::alloc::{GlobalAlloc, Layout};
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Mutex, OnceLock};

/// The `GlobalAlloc` front door's own instance.
static RUST: GoAlloc = GoAlloc::new();

/// Which function made an object (and so which must free it).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Owner {
    /// `GlobalAlloc` on `RUST`, with this layout.
    Rust { align: usize },
    /// The C ABI (`c_abi::free` frees it).
    C,
}

#[derive(Clone, Copy, Debug)]
struct Obj {
    addr: usize,
    /// Bytes the model owns and checks: the request, or for a C object all
    /// of `malloc_usable_size` (a C program may use it all).
    size: usize,
    /// The size asked for (what realloc must keep, what free_sized is told).
    req: usize,
    owner: Owner,
    /// Seed of the byte pattern last written.
    seed: u8,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Api {
    Rust,
    RustZeroed,
    Malloc,
    Calloc,
    PosixMemalign,
    AlignedAlloc,
    Memalign,
    Valloc,
    Pvalloc,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Alloc {
        api: Api,
        size: Size,
        align_log2: u8,
    },
    Free {
        pick: u16,
        sized: bool,
    },
    Realloc {
        pick: u16,
        size: Size,
        array: bool,
    },
    /// The other thread checks and frees it.
    HandOff {
        pick: u16,
    },
    /// The other thread allocates one and hands it here.
    Receive {
        c: bool,
        size: Size,
    },
    /// Write a new pattern into an object.
    Rewrite {
        pick: u16,
        seed: u8,
    },
    /// A request no allocator can serve.
    Impossible {
        which: u8,
    },
}

/// A request size: mostly small, sometimes at class edges, sometimes large.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Size {
    Tiny(u8),
    Small(u16),
    Edge(u8),
    Large(u32),
}

impl Size {
    fn bytes(self) -> usize {
        match self {
            Size::Tiny(n) => (n % 17) as usize,
            Size::Small(n) => (n % 4097) as usize,
            Size::Edge(i) => {
                // Class sizes of Go's table and their neighbours.
                const E: [usize; 12] = [
                    8, 16, 24, 32, 48, 1024, 8192, 27264, 28672, 32768, 32769, 262144,
                ];
                let e = E[(i as usize / 3) % E.len()];
                e + (i as usize % 3) - 1
            }
            Size::Large(n) => 32768 + (n as usize % (1 << 20)),
        }
    }
}

/// The byte at offset `i` of an object with pattern `seed`.
#[inline]
fn pattern(seed: u8, i: usize) -> u8 {
    seed ^ (i as u8).wrapping_mul(31) ^ ((i >> 8) as u8)
}

/// Offsets checked: all of a small object, the ends and a stride of a big one.
fn offsets(size: usize) -> impl Iterator<Item = usize> {
    let all = size <= 4096;
    (0..size).filter(move |&i| all || i < 256 || i + 256 >= size || i % 509 == 0)
}

fn fill(addr: usize, size: usize, seed: u8) {
    // SAFETY: the model owns [addr, addr+size) of a live object.
    let s = unsafe { std::slice::from_raw_parts_mut(addr as *mut u8, size) };
    for (i, b) in s.iter_mut().enumerate() {
        *b = pattern(seed, i);
    }
}

fn check(o: &Obj, upto: usize, what: &str) {
    let p = o.addr as *const u8;
    for i in offsets(upto.min(o.size)) {
        // SAFETY: i < size of a live object the model owns.
        let got = unsafe { *p.add(i) };
        assert_eq!(
            got,
            pattern(o.seed, i),
            "{what}: byte {i} of a {}-byte object at {:#x} ({:?}) changed",
            o.size,
            o.addr,
            o.owner
        );
    }
}

fn check_zero(addr: usize, size: usize, what: &str) {
    for i in offsets(size) {
        // SAFETY: a fresh object of `size` bytes.
        let got = unsafe { *(addr as *const u8).add(i) };
        assert_eq!(got, 0, "{what}: byte {i} of {size} not zero at {addr:#x}");
    }
}

fn release(o: &Obj, sized: bool) {
    match o.owner {
        Owner::Rust { align } => {
            let l = Layout::from_size_align(o.size.max(1), align).unwrap();
            // SAFETY: allocated by RUST with this layout, freed once.
            unsafe { RUST.dealloc(o.addr as *mut u8, l) }
        }
        Owner::C => {
            // SAFETY: from the C ABI, freed once.
            unsafe {
                if sized {
                    c_abi::free_sized(o.addr as *mut c_void, o.req)
                } else {
                    c_abi::free(o.addr as *mut c_void)
                }
            }
        }
    }
}

fn errno() -> i32 {
    // SAFETY: the calling thread's errno.
    unsafe { *libc::__errno_location() }
}

fn set_errno(v: i32) {
    // SAFETY: the calling thread's errno.
    unsafe { *libc::__errno_location() = v }
}

enum Msg {
    /// Check and free.
    Free(Obj),
    /// Allocate `size` (C ABI if `c`), fill, send back.
    Alloc { c: bool, size: usize, seed: u8 },
    /// Answer when everything before is done.
    Sync,
}

struct Peer {
    tx: Sender<Msg>,
    rx: Receiver<Option<Obj>>,
}

fn peer() -> &'static Mutex<Peer> {
    static PEER: OnceLock<Mutex<Peer>> = OnceLock::new();
    PEER.get_or_init(|| {
        let (tx, jobs) = channel::<Msg>();
        let (done, rx) = channel::<Option<Obj>>();
        std::thread::spawn(move || {
            for m in jobs {
                match m {
                    Msg::Free(o) => {
                        check(&o, o.size, "handed to another thread");
                        release(&o, false);
                    }
                    Msg::Alloc { c, size, seed } => {
                        let o = if c {
                            // SAFETY: C ABI malloc.
                            let p = unsafe { c_abi::malloc(size) } as usize;
                            (p != 0).then(|| Obj {
                                addr: p,
                                size: usable(p, size),
                                req: size,
                                owner: Owner::C,
                                seed,
                            })
                        } else {
                            let l = Layout::from_size_align(size.max(1), 8).unwrap();
                            // SAFETY: non-zero size layout.
                            let p = unsafe { RUST.alloc(l) } as usize;
                            (p != 0).then(|| Obj {
                                addr: p,
                                size: size.max(1),
                                req: size.max(1),
                                owner: Owner::Rust { align: 8 },
                                seed,
                            })
                        };
                        if let Some(o) = &o {
                            fill(o.addr, o.size, o.seed);
                        }
                        done.send(o).unwrap();
                    }
                    Msg::Sync => done.send(None).unwrap(),
                }
            }
        });
        Mutex::new(Peer { tx, rx })
    })
}

/// Live objects by address, for the overlap check.
struct Model {
    live: BTreeMap<usize, Obj>,
    bytes: usize,
}

impl Model {
    fn insert(&mut self, o: Obj, what: &str) {
        assert!(o.addr != 0);
        let end = o.addr + o.size.max(1);
        if let Some((_, prev)) = self.live.range(..end).next_back() {
            assert!(
                prev.addr + prev.size.max(1) <= o.addr,
                "{what}: new object {:#x}+{} overlaps live {:#x}+{}",
                o.addr,
                o.size,
                prev.addr,
                prev.size
            );
        }
        self.bytes += o.size;
        self.live.insert(o.addr, o);
    }

    fn take(&mut self, pick: u16) -> Option<Obj> {
        if self.live.is_empty() {
            return None;
        }
        let k = *self.live.keys().nth(pick as usize % self.live.len())?;
        let o = self.live.remove(&k)?;
        self.bytes -= o.size;
        Some(o)
    }

    fn get(&self, pick: u16) -> Option<Obj> {
        if self.live.is_empty() {
            return None;
        }
        self.live
            .values()
            .nth(pick as usize % self.live.len())
            .copied()
    }
}

const MAX_LIVE_BYTES: usize = 48 << 20;

fn alloc(api: Api, size: usize, align_log2: u8, seed: u8, m: &mut Model) {
    let align = 1usize << (align_log2 % 21); // up to 1 MiB
    let (p, owner, zeroed) = match api {
        Api::Rust | Api::RustZeroed => {
            let l = Layout::from_size_align(size.max(1), align).unwrap();
            // SAFETY: a non-zero-size layout.
            let p = unsafe {
                if matches!(api, Api::RustZeroed) {
                    RUST.alloc_zeroed(l)
                } else {
                    RUST.alloc(l)
                }
            };
            (
                p as usize,
                Owner::Rust { align },
                matches!(api, Api::RustZeroed),
            )
        }
        // SAFETY (all C calls below): the C ABI's contract; results checked.
        Api::Malloc => (unsafe { c_abi::malloc(size) } as usize, Owner::C, false),
        Api::Calloc => {
            let n = (size % 7) + 1;
            let p = unsafe { c_abi::calloc(n, size / n) } as usize;
            let req = (size / n) * n;
            if p != 0 {
                check_zero(p, req, "calloc");
                let size = usable(p, req);
                fill(p, size, seed);
                m.insert(
                    Obj {
                        addr: p,
                        size,
                        req,
                        owner: Owner::C,
                        seed,
                    },
                    "calloc",
                );
            }
            return;
        }
        Api::PosixMemalign => {
            let a = align.max(8);
            let mut out: *mut c_void = std::ptr::null_mut();
            let r = unsafe { c_abi::posix_memalign(&mut out, a, size) };
            assert!(
                r == 0 || r == libc::ENOMEM,
                "posix_memalign({a}, {size}) = {r}"
            );
            (if r == 0 { out as usize } else { 0 }, Owner::C, false)
        }
        Api::AlignedAlloc => (
            unsafe { c_abi::aligned_alloc(align, size) } as usize,
            Owner::C,
            false,
        ),
        Api::Memalign => (
            unsafe { c_abi::memalign(align, size) } as usize,
            Owner::C,
            false,
        ),
        Api::Valloc => (unsafe { c_abi::valloc(size) } as usize, Owner::C, false),
        Api::Pvalloc => (unsafe { c_abi::pvalloc(size) } as usize, Owner::C, false),
    };
    assert!(
        p != 0,
        "{api:?} of {size} bytes aligned {align} returned null"
    );
    let want_align = match api {
        Api::Malloc => {
            if size > 8 {
                16
            } else {
                8
            }
        }
        Api::PosixMemalign => align.max(8),
        Api::Valloc | Api::Pvalloc => 4096,
        _ => align,
    };
    assert_eq!(p % want_align, 0, "{api:?}({size}, align {align}) = {p:#x}");
    let (size, req) = match owner {
        Owner::Rust { .. } => (size.max(1), size.max(1)),
        Owner::C => {
            let req = if matches!(api, Api::Pvalloc) {
                size.max(1).next_multiple_of(4096)
            } else {
                size
            };
            (usable(p, req), size)
        }
    };
    if zeroed {
        check_zero(p, size, "alloc_zeroed");
    }
    fill(p, size, seed);
    m.insert(
        Obj {
            addr: p,
            size,
            req,
            owner,
            seed,
        },
        "alloc",
    );
}

/// `malloc_usable_size(p)`, checked to cover `req`.
fn usable(p: usize, req: usize) -> usize {
    // SAFETY: p is a live C ABI object.
    let u = unsafe { c_abi::malloc_usable_size(p as *mut c_void) };
    assert!(u >= req, "malloc_usable_size {u} < request {req} at {p:#x}");
    u
}

fn realloc(mut o: Obj, new: usize, array: bool, m: &mut Model) {
    match o.owner {
        Owner::Rust { align } => {
            let new = new.max(1);
            let l = Layout::from_size_align(o.size, align).unwrap();
            // SAFETY: allocated by RUST with `l`; new size is non-zero.
            let p = unsafe { RUST.realloc(o.addr as *mut u8, l, new) } as usize;
            assert!(p != 0, "realloc of {} to {new} returned null", o.size);
            assert_eq!(p % align, 0, "realloc lost alignment {align}");
            let moved = Obj { addr: p, ..o };
            check(&moved, new, "GlobalAlloc::realloc");
            o = Obj {
                addr: p,
                size: new,
                req: new,
                ..o
            };
        }
        Owner::C => {
            // SAFETY: a live C ABI object.
            let p = unsafe {
                if array && new > 0 {
                    let n = new % 5 + 1;
                    c_abi::reallocarray(o.addr as *mut c_void, n, new / n) as usize
                } else {
                    c_abi::realloc(o.addr as *mut c_void, new) as usize
                }
            };
            let new = if array && new > 0 {
                new / (new % 5 + 1) * (new % 5 + 1)
            } else {
                new
            };
            if new == 0 {
                // glibc's rule, which the C ABI follows: realloc(p, 0) frees p.
                assert_eq!(p, 0, "realloc(p, 0) returned a pointer");
                return;
            }
            assert!(p != 0, "realloc of {} to {new} returned null", o.size);
            assert_eq!(p % if new > 8 { 16 } else { 8 }, 0, "realloc alignment");
            // Kept: what was asked for before, up to the new size.
            let moved = Obj { addr: p, ..o };
            check(&moved, new.min(o.req), "realloc");
            o = Obj {
                addr: p,
                size: usable(p, new),
                req: new,
                ..o
            };
        }
    }
    fill(o.addr, o.size, o.seed);
    m.insert(o, "realloc");
}

fn impossible(which: u8) {
    set_errno(0);
    // SAFETY: (all) the C ABI's contract; each call must fail cleanly.
    unsafe {
        match which % 6 {
            0 => assert!(c_abi::malloc(usize::MAX).is_null()),
            1 => assert!(c_abi::malloc(usize::MAX / 2).is_null()),
            2 => assert!(c_abi::calloc(usize::MAX / 3, 4).is_null()),
            3 => {
                let mut out = std::ptr::null_mut();
                assert_eq!(c_abi::posix_memalign(&mut out, 24, 8), libc::EINVAL);
                assert!(out.is_null());
                return;
            }
            4 => assert!(c_abi::reallocarray(std::ptr::null_mut(), usize::MAX, 2).is_null()),
            _ => {
                let l = Layout::from_size_align(isize::MAX as usize - 4095, 4096).unwrap();
                assert!(RUST.alloc(l).is_null());
                return;
            }
        }
    }
    assert_eq!(errno(), libc::ENOMEM, "impossible request {which}: errno");
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut m = Model {
        live: BTreeMap::new(),
        bytes: 0,
    };
    let peer = peer().lock().unwrap();
    let mut seed = 1u8;
    for _ in 0..512 {
        let Ok(op) = Op::arbitrary(&mut u) else { break };
        seed = seed.wrapping_add(1);
        match op {
            Op::Alloc {
                api,
                size,
                align_log2,
            } => {
                let size = size.bytes();
                if m.bytes + size <= MAX_LIVE_BYTES {
                    alloc(api, size, align_log2, seed, &mut m);
                }
            }
            Op::Free { pick, sized } => {
                if let Some(o) = m.take(pick) {
                    check(&o, o.size, "before free");
                    release(&o, sized);
                }
            }
            Op::Realloc { pick, size, array } => {
                let new = size.bytes();
                if m.bytes + new <= MAX_LIVE_BYTES {
                    if let Some(o) = m.take(pick) {
                        check(&o, o.size, "before realloc");
                        realloc(o, new, array, &mut m);
                    }
                }
            }
            Op::HandOff { pick } => {
                if let Some(o) = m.take(pick) {
                    peer.tx.send(Msg::Free(o)).unwrap();
                }
            }
            Op::Receive { c, size } => {
                let size = size.bytes();
                if m.bytes + size <= MAX_LIVE_BYTES {
                    peer.tx.send(Msg::Alloc { c, size, seed }).unwrap();
                    if let Some(o) = peer.rx.recv().unwrap() {
                        check(&o, o.size, "allocated by another thread");
                        m.insert(o, "allocated by another thread");
                    }
                }
            }
            Op::Rewrite { pick, seed: s } => {
                if let Some(mut o) = m.get(pick) {
                    check(&o, o.size, "before rewrite");
                    o.seed = s;
                    fill(o.addr, o.size, s);
                    m.live.insert(o.addr, o);
                }
            }
            Op::Impossible { which } => impossible(which),
        }
    }
    // Every object still alive: checked, then freed (half by the other thread).
    let rest: Vec<Obj> = m.live.values().copied().collect();
    for (i, o) in rest.iter().enumerate() {
        check(o, o.size, "at the end");
        if i % 2 == 0 {
            release(o, false);
        } else {
            peer.tx.send(Msg::Free(*o)).unwrap();
        }
    }
    peer.tx.send(Msg::Sync).unwrap();
    assert!(peer.rx.recv().unwrap().is_none());
});
