//! # Pooling: hand an object back instead of freeing it
//!
//! Role: copyable object pools (a single-thread free list, a `Mutex<Vec<T>>`
//! pool, a per-thread pool, helpers for the `object-pool` crate) and a bounded,
//! size-classed pool of `Vec<u8>` buffers. Needs only std and `object-pool`.
//!
//! The fact a reader gets wrong: a pool is not free. Taking an object from a
//! pool and giving it back costs a few branches (single thread) or a lock
//! (shared pool), which is about what a good allocator charges for a small
//! block, so pooling small objects wins little under a good allocator, and a
//! shared pool under contention can lose. Nor does pooling pay for every
//! "large" buffer: glibc keeps freed blocks up to its mmap threshold (which
//! rises to 32 MiB at most) and reuses them, so a 1 MiB buffer is cheap to
//! allocate again. It pays for buffers the allocator returns to the OS and
//! must fault in again, and for objects costly to build for other reasons.
//! The book's pooling chapter shows the measurements per allocator.
//!
//! ```
//! use alloc_recipes::pooling::{with_thread_buffer, LocalPool};
//!
//! // One thread: a free list with a bound; the guard resets and returns the buffer.
//! let pool: LocalPool<Vec<u8>> = LocalPool::new(8);
//! for request in ["a", "bb", "ccc"] {
//!     let mut buf = pool.pull(|| Vec::with_capacity(4096));
//!     buf.extend_from_slice(request.as_bytes());
//! } // each buffer goes back, cleared, keeping its 4 KiB
//! assert_eq!(pool.idle(), 1);
//!
//! // Any thread: a per-thread pool, no lock.
//! let n = with_thread_buffer(4096, |buf| {
//!     buf.extend_from_slice(b"response");
//!     buf.len()
//! });
//! assert_eq!(n, 8);
//! ```
//!
//! # When to use
//! - Buffers above the allocator's mmap threshold (tens of MiB under glibc)
//!   allocated at a high rate: a fresh one means fresh pages, faulted in.
//! - Small buffers under an allocator with a slow small-object path, with a
//!   pool that takes no lock ([`LocalPool`], [`with_thread_buffer`]).
//! - Objects that are costly to build for reasons other than memory
//!   (a pre-sized hash map, a compiled regex cache).
//!
//! # When not to
//! - Small objects under a modern allocator (mimalloc, jemalloc, a thread-caching
//!   allocator): its free list *is* a pool, already per thread and lock-free.
//! - Anything whose lifetime is simply "one batch": an arena (see
//!   [`crate::batch`]) frees it all at once for less.
//! - When a stale object would be a security bug and the type cannot be
//!   reset cheaply and completely.
//!
//! # Traps
//! - A pool must reset what comes back ([`Reset`]): otherwise the next user
//!   sees the last user's data. The `object-pool` crate does **not** reset;
//!   use [`pull_reset`] with it.
//! - An unbounded pool grows to the peak number of objects in use and never
//!   shrinks. Every pool here takes a bound (`max_idle`, or retained bytes for
//!   [`BufferPool`]); the `object-pool` crate has none (its "capacity" is only
//!   the initial fill).
//! - A reset `Vec` keeps its capacity: a pool of buffers that once grew to
//!   1 MiB retains 1 MiB each. [`BufferPool`] bounds the bytes it retains.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard, PoisonError};

// ANCHOR: reset
/// What a pool does to an object it takes back, so that no data from the last
/// user reaches the next: clear the contents, keep the allocation.
///
/// ```
/// use alloc_recipes::pooling::Reset;
///
/// let mut v = vec![1, 2, 3];
/// v.reset();
/// assert!(v.is_empty());
/// assert!(v.capacity() >= 3); // the allocation stays: that is the point
/// ```
pub trait Reset {
    /// Makes the object look new, keeping its allocated capacity.
    fn reset(&mut self);
}

impl<T> Reset for Vec<T> {
    fn reset(&mut self) {
        self.clear();
    }
}

impl Reset for String {
    fn reset(&mut self) {
        self.clear();
    }
}

impl<K, V, S> Reset for HashMap<K, V, S> {
    fn reset(&mut self) {
        self.clear();
    }
}
// ANCHOR_END: reset

// ANCHOR: local_pool
/// A single-thread pool: a free list of reset objects in a `RefCell<Vec<T>>`,
/// keeping at most `max_idle` of them.
///
/// [`LocalPool::pull`] takes an object (or makes one when the list is empty);
/// the guard it returns resets the object and puts it back when dropped.
///
/// ```
/// use alloc_recipes::pooling::LocalPool;
///
/// let pool: LocalPool<Vec<u8>> = LocalPool::new(4);
/// {
///     let mut buf = pool.pull(|| Vec::with_capacity(1024));
///     buf.extend_from_slice(b"request 1");
/// } // back in the pool, cleared
/// let buf = pool.pull(|| unreachable!("the first buffer is reused"));
/// assert!(buf.is_empty());
/// assert_eq!(buf.capacity(), 1024);
/// ```
#[derive(Debug)]
pub struct LocalPool<T: Reset> {
    free: RefCell<Vec<T>>,
    max_idle: usize,
}

impl<T: Reset> LocalPool<T> {
    /// An empty pool that keeps at most `max_idle` objects between uses;
    /// objects returned beyond that are dropped.
    ///
    /// ```
    /// use alloc_recipes::pooling::LocalPool;
    /// let pool: LocalPool<String> = LocalPool::new(16);
    /// assert_eq!(pool.idle(), 0);
    /// ```
    pub const fn new(max_idle: usize) -> Self {
        LocalPool {
            free: RefCell::new(Vec::new()),
            max_idle,
        }
    }

    /// Takes an idle object, or makes one with `make` when none is idle.
    ///
    /// ```
    /// use alloc_recipes::pooling::LocalPool;
    /// let pool: LocalPool<String> = LocalPool::new(1);
    /// let mut s = pool.pull(String::new);
    /// s.push_str("hello");
    /// assert_eq!(&*s, "hello");
    /// ```
    pub fn pull(&self, make: impl FnOnce() -> T) -> LocalPooled<'_, T> {
        let object = self.free.borrow_mut().pop().unwrap_or_else(make);
        LocalPooled {
            pool: self,
            object: Some(object),
        }
    }

    /// How many objects wait in the pool.
    ///
    /// ```
    /// use alloc_recipes::pooling::LocalPool;
    /// let pool: LocalPool<Vec<u8>> = LocalPool::new(1);
    /// drop(pool.pull(Vec::new));
    /// drop(pool.pull(Vec::new));
    /// assert_eq!(pool.idle(), 1);
    /// ```
    pub fn idle(&self) -> usize {
        self.free.borrow().len()
    }

    fn give_back(&self, mut object: T) {
        object.reset(); // before borrowing: a reset that touches the pool cannot panic us
        let mut free = self.free.borrow_mut();
        if free.len() < self.max_idle {
            free.push(object);
        }
    }
}

/// An object on loan from a [`LocalPool`]; dropping it resets the object and
/// returns it to the pool.
///
/// ```
/// use alloc_recipes::pooling::LocalPool;
/// let pool: LocalPool<Vec<u32>> = LocalPool::new(2);
/// let mut v = pool.pull(Vec::new);
/// v.push(7); // DerefMut to the Vec
/// assert_eq!(v.len(), 1);
/// ```
#[derive(Debug)]
pub struct LocalPooled<'a, T: Reset> {
    pool: &'a LocalPool<T>,
    object: Option<T>, // Some until drop or detach
}

impl<T: Reset> LocalPooled<'_, T> {
    /// Keeps the object for good: it will not go back to the pool.
    ///
    /// ```
    /// use alloc_recipes::pooling::LocalPool;
    /// let pool: LocalPool<String> = LocalPool::new(2);
    /// let s: String = pool.pull(|| "kept".to_string()).detach();
    /// assert_eq!(s, "kept");
    /// assert_eq!(pool.idle(), 0);
    /// ```
    pub fn detach(mut self) -> T {
        self.object
            .take()
            .expect("a pooled object is present until drop")
    }
}

impl<T: Reset> Deref for LocalPooled<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.object
            .as_ref()
            .expect("a pooled object is present until drop")
    }
}

impl<T: Reset> DerefMut for LocalPooled<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.object
            .as_mut()
            .expect("a pooled object is present until drop")
    }
}

impl<T: Reset> Drop for LocalPooled<'_, T> {
    fn drop(&mut self) {
        if let Some(object) = self.object.take() {
            self.pool.give_back(object);
        }
    }
}
// ANCHOR_END: local_pool

// ANCHOR: mutex_pool
/// A thread-safe pool: a `Mutex<Vec<T>>` free list, at most `max_idle` kept.
///
/// Every pull and every return takes the lock. Uncontended that is two
/// atomic operations; with several threads pulling at once they queue on it,
/// and the cache line holding the lock moves between cores at every call.
/// Share it by reference (`std::thread::scope`) or in an `Arc`.
///
/// ```
/// use alloc_recipes::pooling::MutexPool;
///
/// let pool: MutexPool<Vec<u8>> = MutexPool::new(8);
/// std::thread::scope(|s| {
///     for _ in 0..2 {
///         s.spawn(|| {
///             let mut buf = pool.pull(|| Vec::with_capacity(4096));
///             buf.extend_from_slice(b"work");
///         });
///     }
/// });
/// assert!(pool.idle() >= 1 && pool.idle() <= 2);
/// ```
#[derive(Debug)]
pub struct MutexPool<T: Reset> {
    free: Mutex<Vec<T>>,
    max_idle: usize,
}

impl<T: Reset> MutexPool<T> {
    /// An empty pool that keeps at most `max_idle` objects between uses.
    ///
    /// ```
    /// use alloc_recipes::pooling::MutexPool;
    /// let pool: MutexPool<String> = MutexPool::new(4);
    /// assert_eq!(pool.idle(), 0);
    /// ```
    pub const fn new(max_idle: usize) -> Self {
        MutexPool {
            free: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    /// Takes an idle object, or makes one with `make` (outside the lock).
    ///
    /// ```
    /// use alloc_recipes::pooling::MutexPool;
    /// let pool: MutexPool<Vec<u64>> = MutexPool::new(4);
    /// let mut v = pool.pull(Vec::new);
    /// v.push(1);
    /// ```
    pub fn pull(&self, make: impl FnOnce() -> T) -> MutexPooled<'_, T> {
        let idle = self.lock().pop();
        MutexPooled {
            pool: self,
            object: Some(idle.unwrap_or_else(make)),
        }
    }

    /// How many objects wait in the pool.
    ///
    /// ```
    /// use alloc_recipes::pooling::MutexPool;
    /// let pool: MutexPool<Vec<u8>> = MutexPool::new(4);
    /// let a = pool.pull(Vec::new);
    /// let b = pool.pull(Vec::new);
    /// drop((a, b));
    /// assert_eq!(pool.idle(), 2);
    /// ```
    pub fn idle(&self) -> usize {
        self.lock().len()
    }

    // A panic while the lock was held cannot leave the Vec half-updated
    // (push and pop are single steps), so a poisoned lock is still usable.
    fn lock(&self) -> MutexGuard<'_, Vec<T>> {
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn give_back(&self, mut object: T) {
        object.reset(); // outside the lock
        let mut free = self.lock();
        if free.len() < self.max_idle {
            free.push(object);
            return;
        }
        drop(free);
        drop(object); // freed outside the lock
    }
}

/// An object on loan from a [`MutexPool`]; dropping it resets the object and
/// returns it.
///
/// ```
/// use alloc_recipes::pooling::MutexPool;
/// let pool: MutexPool<String> = MutexPool::new(1);
/// let mut s = pool.pull(String::new);
/// s.push('x');
/// drop(s);
/// assert!(pool.pull(String::new).is_empty());
/// ```
#[derive(Debug)]
pub struct MutexPooled<'a, T: Reset> {
    pool: &'a MutexPool<T>,
    object: Option<T>, // Some until drop or detach
}

impl<T: Reset> MutexPooled<'_, T> {
    /// Keeps the object for good: it will not go back to the pool.
    ///
    /// ```
    /// use alloc_recipes::pooling::MutexPool;
    /// let pool: MutexPool<String> = MutexPool::new(1);
    /// let s = pool.pull(|| "mine".into()).detach();
    /// assert_eq!((s.as_str(), pool.idle()), ("mine", 0));
    /// ```
    pub fn detach(mut self) -> T {
        self.object
            .take()
            .expect("a pooled object is present until drop")
    }
}

impl<T: Reset> Deref for MutexPooled<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.object
            .as_ref()
            .expect("a pooled object is present until drop")
    }
}

impl<T: Reset> DerefMut for MutexPooled<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.object
            .as_mut()
            .expect("a pooled object is present until drop")
    }
}

impl<T: Reset> Drop for MutexPooled<'_, T> {
    fn drop(&mut self) {
        if let Some(object) = self.object.take() {
            self.pool.give_back(object);
        }
    }
}
// ANCHOR_END: mutex_pool

// ANCHOR: thread_pool
/// How many buffers each thread's pool keeps between uses.
pub const THREAD_POOL_MAX_IDLE: usize = 8;

thread_local! {
    // One LocalPool per thread: no lock, no sharing. Its buffers are freed
    // when the thread exits.
    static THREAD_BUFFERS: LocalPool<Vec<u8>> = const { LocalPool::new(THREAD_POOL_MAX_IDLE) };
}

/// Runs `f` with an empty byte buffer of capacity at least `min_capacity`
/// from this thread's pool, and returns the buffer to that pool afterwards.
///
/// A per-thread pool takes no lock, so threads never wait on each other; the
/// price is that a buffer freed on one thread is not available to another,
/// and each thread keeps up to [`THREAD_POOL_MAX_IDLE`] buffers.
///
/// ```
/// use alloc_recipes::pooling::{thread_buffers_idle, with_thread_buffer};
///
/// let len = with_thread_buffer(64 * 1024, |buf| {
///     assert!(buf.is_empty() && buf.capacity() >= 64 * 1024);
///     buf.extend_from_slice(b"payload");
///     buf.len()
/// });
/// assert_eq!(len, 7);
/// assert_eq!(thread_buffers_idle(), 1);
/// ```
pub fn with_thread_buffer<R>(min_capacity: usize, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    THREAD_BUFFERS.with(|pool| {
        let mut buf = pool.pull(|| Vec::with_capacity(min_capacity));
        buf.reserve(min_capacity); // the buffer is empty: this grows it only if too small
        f(&mut buf)
    })
}

/// How many buffers wait in the calling thread's pool.
///
/// ```
/// use alloc_recipes::pooling::thread_buffers_idle;
/// std::thread::spawn(|| assert_eq!(thread_buffers_idle(), 0)).join().unwrap();
/// ```
pub fn thread_buffers_idle() -> usize {
    THREAD_BUFFERS.with(LocalPool::idle)
}
// ANCHOR_END: thread_pool

// ANCHOR: object_pool_crate
/// Pulls from an [`object_pool::Pool`] and resets the object first, because
/// the crate itself does not: it hands back whatever the last user left.
///
/// `make` builds an object when the pool is empty. The crate's pool never
/// drops what comes back: it grows to the peak number in use and stays there.
/// Its pool is a `parking_lot` mutex around a `Vec`: like [`MutexPool`], two
/// lock operations per use, and threads queue on it under contention.
///
/// ```
/// use alloc_recipes::pooling::pull_reset;
/// use object_pool::Pool;
///
/// let pool: Pool<Vec<u8>> = Pool::new(2, || Vec::with_capacity(1024));
/// pool.pull(Vec::new).extend_from_slice(b"secret");
/// let buf = pull_reset(&pool, Vec::new);
/// assert!(buf.is_empty()); // a plain pool.pull() would have shown "secret"
/// ```
pub fn pull_reset<'a, T: Reset>(
    pool: &'a object_pool::Pool<T>,
    make: impl Fn() -> T,
) -> object_pool::Reusable<'a, T> {
    let mut object = pool.pull(make);
    object.reset();
    object
}

/// [`pull_reset`] for a pool in an `Arc`: the guard owns a reference to the
/// pool, so it can move to another thread or outlive the borrow.
///
/// ```
/// use alloc_recipes::pooling::pull_owned_reset;
/// use object_pool::Pool;
/// use std::sync::Arc;
///
/// let pool = Arc::new(Pool::new(1, String::new));
/// let mut s = pull_owned_reset(&pool, String::new);
/// std::thread::spawn(move || s.push_str("moved")).join().unwrap();
/// assert_eq!(pool.len(), 1);
/// ```
pub fn pull_owned_reset<T: Reset>(
    pool: &std::sync::Arc<object_pool::Pool<T>>,
    make: impl Fn() -> T,
) -> object_pool::ReusableOwned<T> {
    let mut object = pool.pull_owned(make);
    object.reset();
    object
}
// ANCHOR_END: object_pool_crate

// ANCHOR: buffer_pool
/// Capacity of the smallest size class of [`BufferPool`].
pub const MIN_CLASS_BYTES: usize = 64;
/// Capacity of the largest size class; larger requests are served fresh and not kept.
pub const MAX_CLASS_BYTES: usize = 16 << 20;
const CLASS_COUNT: usize =
    (MAX_CLASS_BYTES.trailing_zeros() - MIN_CLASS_BYTES.trailing_zeros()) as usize + 1;

/// A bounded pool of `Vec<u8>` buffers with one free list per power-of-two
/// size class (64 B, 128 B, ..., 16 MiB), like an allocator's per-class lists.
///
/// [`BufferPool::get`] rounds the request up to its class, so the buffer it
/// hands out has capacity at least the request; a returned buffer joins the
/// largest class its capacity covers (buffers above [`MAX_CLASS_BYTES`] are
/// freed). The pool keeps at most `max_retained_bytes` of
/// capacity: beyond that, returned buffers are freed, so a burst does not pin
/// its peak memory forever. One mutex guards all classes.
///
/// ```
/// use alloc_recipes::pooling::BufferPool;
///
/// let pool = BufferPool::new(1 << 20); // keep at most 1 MiB
/// {
///     let mut buf = pool.get(3000); // a 4 KiB-class buffer
///     assert!(buf.capacity() >= 3000);
///     buf.extend_from_slice(&[7; 3000]);
/// }
/// assert_eq!(pool.retained_bytes(), 4096);
/// let buf = pool.get(4000); // same class: reused, and empty
/// assert!(buf.is_empty());
/// assert_eq!(pool.retained_bytes(), 0);
/// ```
#[derive(Debug)]
pub struct BufferPool {
    state: Mutex<BufferPoolState>,
    max_retained_bytes: usize,
}

#[derive(Debug)]
struct BufferPoolState {
    classes: [Vec<Vec<u8>>; CLASS_COUNT],
    retained_bytes: usize,
}

/// The class whose buffers all have capacity `>= request`, if it is poolable.
fn class_for_request(request: usize) -> Option<usize> {
    if request > MAX_CLASS_BYTES {
        return None;
    }
    let rounded = request.max(MIN_CLASS_BYTES).next_power_of_two();
    Some((rounded.trailing_zeros() - MIN_CLASS_BYTES.trailing_zeros()) as usize)
}

/// The largest class whose size `capacity` covers; `None` for buffers
/// smaller than the smallest class or larger than the largest (not kept).
fn class_for_capacity(capacity: usize) -> Option<usize> {
    if !(MIN_CLASS_BYTES..=MAX_CLASS_BYTES).contains(&capacity) {
        return None;
    }
    Some((capacity.ilog2() - MIN_CLASS_BYTES.trailing_zeros()) as usize)
}

fn class_bytes(class: usize) -> usize {
    MIN_CLASS_BYTES << class
}

impl BufferPool {
    /// An empty pool that retains at most `max_retained_bytes` of buffer capacity.
    ///
    /// ```
    /// use alloc_recipes::pooling::BufferPool;
    /// let pool = BufferPool::new(64 << 20);
    /// assert_eq!(pool.idle_buffers(), 0);
    /// ```
    pub fn new(max_retained_bytes: usize) -> Self {
        BufferPool {
            state: Mutex::new(BufferPoolState {
                classes: std::array::from_fn(|_| Vec::new()),
                retained_bytes: 0,
            }),
            max_retained_bytes,
        }
    }

    /// An empty buffer with capacity at least `min_capacity`: an idle one of
    /// its class if there is one, else a new one of the class's full size.
    /// Requests above [`MAX_CLASS_BYTES`] get an exact-size buffer that the
    /// pool will not keep.
    ///
    /// ```
    /// use alloc_recipes::pooling::BufferPool;
    /// let pool = BufferPool::new(1 << 20);
    /// assert_eq!(pool.get(100).capacity(), 128);
    /// assert_eq!(pool.get(0).capacity(), 64);
    /// ```
    pub fn get(&self, min_capacity: usize) -> PooledBuffer<'_> {
        let Some(class) = class_for_request(min_capacity) else {
            return PooledBuffer {
                pool: self,
                buf: Vec::with_capacity(min_capacity),
            };
        };
        let idle = {
            let mut state = self.lock();
            let idle = state.classes[class].pop();
            if let Some(buf) = &idle {
                state.retained_bytes -= buf.capacity();
            }
            idle
        };
        let buf = idle.unwrap_or_else(|| Vec::with_capacity(class_bytes(class)));
        PooledBuffer { pool: self, buf }
    }

    /// Capacity, in bytes, of the buffers waiting in the pool.
    ///
    /// ```
    /// use alloc_recipes::pooling::BufferPool;
    /// let pool = BufferPool::new(1 << 20);
    /// drop(pool.get(1000));
    /// assert_eq!(pool.retained_bytes(), 1024);
    /// ```
    pub fn retained_bytes(&self) -> usize {
        self.lock().retained_bytes
    }

    /// How many buffers wait in the pool, all classes together.
    ///
    /// ```
    /// use alloc_recipes::pooling::BufferPool;
    /// let pool = BufferPool::new(1 << 20);
    /// drop((pool.get(10), pool.get(10_000)));
    /// assert_eq!(pool.idle_buffers(), 2);
    /// ```
    pub fn idle_buffers(&self) -> usize {
        self.lock().classes.iter().map(Vec::len).sum()
    }

    /// Frees every idle buffer (after a burst, or when memory is short).
    ///
    /// ```
    /// use alloc_recipes::pooling::BufferPool;
    /// let pool = BufferPool::new(1 << 20);
    /// drop(pool.get(4096));
    /// pool.clear();
    /// assert_eq!(pool.retained_bytes(), 0);
    /// ```
    pub fn clear(&self) {
        let classes = {
            let mut state = self.lock();
            state.retained_bytes = 0;
            std::mem::replace(&mut state.classes, std::array::from_fn(|_| Vec::new()))
        };
        drop(classes); // freed outside the lock
    }

    fn lock(&self) -> MutexGuard<'_, BufferPoolState> {
        // Every update below leaves the state consistent before it can panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn give_back(&self, mut buf: Vec<u8>) {
        let Some(class) = class_for_capacity(buf.capacity()) else {
            return; // too small or too large to keep
        };
        buf.clear();
        let mut state = self.lock();
        if state.retained_bytes + buf.capacity() <= self.max_retained_bytes {
            state.retained_bytes += buf.capacity();
            state.classes[class].push(buf);
            return;
        }
        drop(state);
        drop(buf); // over the limit: freed, outside the lock
    }
}

/// A buffer on loan from a [`BufferPool`]; dropping it clears it and returns
/// it to the pool (or frees it if the pool is at its byte limit).
///
/// ```
/// use alloc_recipes::pooling::BufferPool;
/// let pool = BufferPool::new(1 << 20);
/// let mut buf = pool.get(16);
/// buf.push(1); // DerefMut to Vec<u8>
/// assert_eq!(&buf[..], &[1]);
/// ```
#[derive(Debug)]
pub struct PooledBuffer<'a> {
    pool: &'a BufferPool,
    buf: Vec<u8>,
}

impl PooledBuffer<'_> {
    /// Keeps the buffer for good: it will not go back to the pool.
    ///
    /// ```
    /// use alloc_recipes::pooling::BufferPool;
    /// let pool = BufferPool::new(1 << 20);
    /// let v: Vec<u8> = pool.get(10).detach();
    /// assert_eq!((v.capacity(), pool.idle_buffers()), (64, 0));
    /// ```
    pub fn detach(mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

impl Deref for PooledBuffer<'_> {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.buf
    }
}

impl DerefMut for PooledBuffer<'_> {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
}

impl Drop for PooledBuffer<'_> {
    fn drop(&mut self) {
        // After detach the buffer is an empty Vec of capacity 0: nothing to keep.
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}
// ANCHOR_END: buffer_pool
