//! # Pooling: hand an object back instead of freeing it
//!
//! Role: copyable object pools (a single-thread free list, a `Mutex<Vec<T>>`
//! pool, a per-thread pool, a resetting wrapper for the `object-pool` crate)
//! and a bounded, size-classed pool of `Vec<u8>` buffers.
//!
//! # Use it in your crate
//! Copy this file to `src/pooling.rs`, declare `pub mod pooling;`, and add to
//! `Cargo.toml` (only [`ResetPool`], [`pull_reset`] and [`pull_owned_reset`]
//! use it; delete them and the dependency goes too):
//!
//! ```toml
//! [dependencies]
//! object-pool = "0.6"
//! ```
//!
//! The doc examples name this module `alloc_recipes::pooling`: in your crate
//! replace `alloc_recipes` with your crate's name.
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
//! } // each buffer goes back, cleared, keeping its capacity
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
//!   sees the last user's data. Every pool here resets on the way back in.
//!   The `object-pool` crate does **not** reset; wrap it in [`ResetPool`].
//! - Resetting is not scrubbing: `Vec::clear` drops the elements and leaves
//!   the bytes in memory. Pooled buffers that held secrets need zeroing
//!   (e.g. the `zeroize` crate) in their [`Reset`].
//! - An unbounded pool grows to the peak number of objects in use and never
//!   shrinks. Every pool here takes a bound (`max_idle`, or retained bytes for
//!   [`BufferPool`]); the `object-pool` crate has none (its "capacity" is only
//!   the initial fill).
//! - A reset `Vec` keeps its capacity: a pool of buffers that once grew to
//!   1 MiB retains 1 MiB each. [`BufferPool`] bounds the bytes it retains,
//!   the per-thread pool the capacity of each buffer.
//! - A guard dropped while its thread panics does not reset or return its
//!   object (a reset that panicked then would abort the process): it drops it.

// ANCHOR: imports
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard, PoisonError};
// ANCHOR_END: imports

// ANCHOR: reset
/// What a pool does to an object it takes back, so that no data from the last
/// user reaches the next: clear the contents, keep the allocation.
///
/// `reset` must not panic: pools call it from a guard's `Drop`. (They skip it
/// while the thread is already panicking, where a second panic would abort.)
/// Clearing does not overwrite memory; a type that holds secrets should
/// zero its contents here.
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
/// let first = {
///     let mut buf = pool.pull(|| Vec::with_capacity(1024));
///     buf.extend_from_slice(b"request 1");
///     buf.as_ptr()
/// }; // back in the pool, cleared
/// let buf = pool.pull(|| unreachable!("the first buffer is reused"));
/// assert!(buf.is_empty());
/// assert_eq!(buf.as_ptr(), first);
/// ```
pub struct LocalPool<T> {
    free: RefCell<Vec<T>>,
    max_idle: usize,
    reset: fn(&mut T),
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
            reset: T::reset,
        }
    }
}

impl<T> LocalPool<T> {
    /// Takes an idle object, or makes one with `make` when none is idle.
    /// `make` may use the pool itself (no borrow is held while it runs).
    ///
    /// ```
    /// use alloc_recipes::pooling::LocalPool;
    /// let pool: LocalPool<String> = LocalPool::new(1);
    /// let mut s = pool.pull(String::new);
    /// s.push_str("hello");
    /// assert_eq!(&*s, "hello");
    /// ```
    #[must_use = "dropping the guard returns the object at once"]
    pub fn pull(&self, make: impl FnOnce() -> T) -> LocalPooled<'_, T> {
        let idle = self.free.borrow_mut().pop(); // the borrow ends here, before `make`
        LocalPooled {
            pool: self,
            object: Some(idle.unwrap_or_else(make)),
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
        if std::thread::panicking() {
            return; // dropped: no reset that could panic a second time
        }
        (self.reset)(&mut object); // before borrowing: a reset that touches the pool cannot panic us
        let mut free = self.free.borrow_mut();
        if free.len() < self.max_idle {
            free.push(object);
        }
    }
}

impl<T> fmt::Debug for LocalPool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalPool")
            .field("idle", &self.free.try_borrow().map(|v| v.len()).ok())
            .field("max_idle", &self.max_idle)
            .finish()
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
/// assert_eq!(format!("{v:?}"), "LocalPooled([7])");
/// ```
#[must_use = "dropping the guard returns the object at once"]
pub struct LocalPooled<'a, T> {
    pool: &'a LocalPool<T>,
    object: Option<T>, // Some until drop or detach
}

impl<T> LocalPooled<'_, T> {
    /// Keeps the object for good: it will not go back to the pool. An
    /// associated function (`LocalPooled::detach(guard)`), so that it never
    /// hides a `detach` method of `T` behind `Deref`.
    ///
    /// ```
    /// use alloc_recipes::pooling::{LocalPool, LocalPooled};
    /// let pool: LocalPool<String> = LocalPool::new(2);
    /// let s: String = LocalPooled::detach(pool.pull(|| "kept".to_string()));
    /// assert_eq!(s, "kept");
    /// assert_eq!(pool.idle(), 0);
    /// ```
    pub fn detach(mut this: Self) -> T {
        this.object
            .take()
            .expect("a pooled object is present until drop")
    }
}

impl<T> Deref for LocalPooled<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.object
            .as_ref()
            .expect("a pooled object is present until drop")
    }
}

impl<T> DerefMut for LocalPooled<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.object
            .as_mut()
            .expect("a pooled object is present until drop")
    }
}

impl<T: fmt::Debug> fmt::Debug for LocalPooled<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LocalPooled").field(&**self).finish()
    }
}

impl<T> Drop for LocalPooled<'_, T> {
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
pub struct MutexPool<T> {
    free: Mutex<Vec<T>>,
    max_idle: usize,
    reset: fn(&mut T),
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
            reset: T::reset,
        }
    }
}

impl<T> MutexPool<T> {
    /// Takes an idle object, or makes one with `make` (outside the lock).
    ///
    /// ```
    /// use alloc_recipes::pooling::MutexPool;
    /// let pool: MutexPool<Vec<u64>> = MutexPool::new(4);
    /// let mut v = pool.pull(Vec::new);
    /// v.push(1);
    /// ```
    #[must_use = "dropping the guard returns the object at once"]
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
        if std::thread::panicking() {
            return; // dropped: no reset that could panic a second time
        }
        (self.reset)(&mut object); // outside the lock
        let mut free = self.lock();
        if free.len() < self.max_idle {
            free.push(object);
            return;
        }
        drop(free);
        drop(object); // freed outside the lock
    }
}

impl<T> fmt::Debug for MutexPool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MutexPool")
            .field("idle", &self.free.try_lock().ok().map(|v| v.len()))
            .field("max_idle", &self.max_idle)
            .finish()
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
#[must_use = "dropping the guard returns the object at once"]
pub struct MutexPooled<'a, T> {
    pool: &'a MutexPool<T>,
    object: Option<T>, // Some until drop or detach
}

impl<T> MutexPooled<'_, T> {
    /// Keeps the object for good: it will not go back to the pool.
    ///
    /// ```
    /// use alloc_recipes::pooling::{MutexPool, MutexPooled};
    /// let pool: MutexPool<String> = MutexPool::new(1);
    /// let s = MutexPooled::detach(pool.pull(|| "mine".into()));
    /// assert_eq!((s.as_str(), pool.idle()), ("mine", 0));
    /// ```
    pub fn detach(mut this: Self) -> T {
        this.object
            .take()
            .expect("a pooled object is present until drop")
    }
}

impl<T> Deref for MutexPooled<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.object
            .as_ref()
            .expect("a pooled object is present until drop")
    }
}

impl<T> DerefMut for MutexPooled<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.object
            .as_mut()
            .expect("a pooled object is present until drop")
    }
}

impl<T: fmt::Debug> fmt::Debug for MutexPooled<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MutexPooled").field(&**self).finish()
    }
}

impl<T> Drop for MutexPooled<'_, T> {
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

/// The largest capacity a buffer may have and still go back to a thread's
/// pool; a buffer that grew past it (or was swapped for a bigger one) is
/// freed, so one outlier does not stay pinned in every thread.
pub const THREAD_POOL_MAX_CAPACITY: usize = 1 << 20;

thread_local! {
    // One LocalPool per thread: no lock, no sharing. Its buffers are freed
    // when the thread exits.
    static THREAD_BUFFERS: LocalPool<Vec<u8>> = const { LocalPool::new(THREAD_POOL_MAX_IDLE) };
}

/// Runs `f` with an empty byte buffer of capacity at least `min_capacity`
/// from this thread's pool, and returns the buffer to that pool afterwards
/// (unless its capacity is then above [`THREAD_POOL_MAX_CAPACITY`]).
///
/// A per-thread pool takes no lock, so threads never wait on each other; the
/// price is that a buffer freed on one thread is not available to another,
/// and each thread keeps up to [`THREAD_POOL_MAX_IDLE`] buffers. Called while
/// the thread's pool is gone (from another thread-local's destructor at
/// thread exit), it runs `f` on a fresh buffer instead of panicking.
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
    let mut f = Some(f);
    let pooled = THREAD_BUFFERS.try_with(|pool| {
        let f = f.take().expect("called once");
        let mut buf = pool.pull(|| Vec::with_capacity(min_capacity));
        buf.reserve(min_capacity); // the buffer is empty: this grows it only if too small
        let result = f(&mut buf);
        if buf.capacity() > THREAD_POOL_MAX_CAPACITY {
            drop(LocalPooled::detach(buf)); // too big to keep
        }
        result
    });
    match (pooled, f) {
        (Ok(result), _) => result,
        // The pool was already destroyed: `f` was never called.
        (Err(_), Some(f)) => f(&mut Vec::with_capacity(min_capacity)),
        (Err(_), None) => unreachable!("try_with fails only before running its closure"),
    }
}

/// How many buffers wait in the calling thread's pool (0 once it is gone).
///
/// ```
/// use alloc_recipes::pooling::thread_buffers_idle;
/// std::thread::spawn(|| assert_eq!(thread_buffers_idle(), 0)).join().unwrap();
/// ```
pub fn thread_buffers_idle() -> usize {
    THREAD_BUFFERS.try_with(LocalPool::idle).unwrap_or(0)
}
// ANCHOR_END: thread_pool

// ANCHOR: object_pool_crate
/// The `object-pool` crate's pool, made to reset what comes back: the guard
/// of [`ResetPool::pull`] resets the object as it returns, so no user's data
/// waits in the pool, and there is no way to pull without the reset.
///
/// `object_pool::Pool` itself hands out whatever the last user left. It is a
/// `parking_lot` mutex around a `Vec` (like [`MutexPool`], two lock
/// operations per use), and it never drops what comes back: it grows to the
/// peak number in use and stays there (its capacity is only the initial fill).
///
/// ```
/// use alloc_recipes::pooling::ResetPool;
///
/// let pool: ResetPool<Vec<u8>> = ResetPool::new(2, || Vec::with_capacity(1024));
/// pool.pull(Vec::new).extend_from_slice(b"secret");
/// assert!(pool.pull(Vec::new).is_empty()); // cleared on the way back
/// assert_eq!(pool.idle(), 2);
/// ```
pub struct ResetPool<T> {
    pool: object_pool::Pool<T>,
    reset: fn(&mut T),
}

impl<T: Reset> ResetPool<T> {
    /// A pool filled with `initial` objects made by `make`.
    ///
    /// ```
    /// use alloc_recipes::pooling::ResetPool;
    /// assert_eq!(ResetPool::new(3, String::new).idle(), 3);
    /// ```
    pub fn new(initial: usize, make: impl Fn() -> T) -> Self {
        ResetPool {
            pool: object_pool::Pool::new(initial, make),
            reset: T::reset,
        }
    }
}

impl<T> ResetPool<T> {
    /// Takes an idle object, or makes one with `make`.
    ///
    /// ```
    /// use alloc_recipes::pooling::ResetPool;
    /// let pool = ResetPool::new(0, String::new);
    /// let mut s = pool.pull(String::new);
    /// s.push('x');
    /// assert_eq!(format!("{s:?}"), "ResetPooled(\"x\")");
    /// ```
    #[must_use = "dropping the guard returns the object at once"]
    pub fn pull(&self, make: impl Fn() -> T) -> ResetPooled<'_, T> {
        ResetPooled {
            inner: Some(self.pool.pull(make)),
            reset: self.reset,
        }
    }

    /// How many objects wait in the pool.
    ///
    /// ```
    /// use alloc_recipes::pooling::ResetPool;
    /// assert_eq!(ResetPool::new(1, Vec::<u8>::new).idle(), 1);
    /// ```
    pub fn idle(&self) -> usize {
        self.pool.len()
    }
}

impl<T> fmt::Debug for ResetPool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResetPool")
            .field("idle", &self.idle())
            .finish()
    }
}

/// An object on loan from a [`ResetPool`]; dropping it resets the object and
/// returns it.
#[must_use = "dropping the guard returns the object at once"]
pub struct ResetPooled<'a, T> {
    inner: Option<object_pool::Reusable<'a, T>>, // Some until drop
    reset: fn(&mut T),
}

impl<T> Deref for ResetPooled<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.inner.as_ref().expect("present until drop")
    }
}

impl<T> DerefMut for ResetPooled<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.inner.as_mut().expect("present until drop")
    }
}

impl<T: fmt::Debug> fmt::Debug for ResetPooled<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResetPooled").field(&**self).finish()
    }
}

impl<T> Drop for ResetPooled<'_, T> {
    fn drop(&mut self) {
        if let Some(reusable) = self.inner.take() {
            let (pool, mut object) = reusable.detach();
            if std::thread::panicking() {
                return; // dropped: no reset that could panic a second time
            }
            (self.reset)(&mut object);
            pool.attach(object);
        }
    }
}

/// For an `object_pool::Pool` you do not own: pulls and resets the object
/// before handing it out. Prefer [`ResetPool`]: here the last user's data
/// waits in the pool until the next pull, and a plain `pool.pull` elsewhere
/// still sees it.
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
#[must_use = "dropping the guard returns the object at once"]
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
#[must_use = "dropping the guard returns the object at once"]
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
/// freed). The pool keeps at most `max_retained_bytes` of capacity: a
/// returned buffer that does not fit evicts idle buffers of *other* classes,
/// largest class first, so buffers of a size nobody asks for any more cannot
/// fill the budget and stop the pool from pooling; a buffer larger than the
/// whole budget is freed. One mutex guards all classes.
///
/// ```
/// use alloc_recipes::pooling::BufferPool;
///
/// let pool = BufferPool::new(1 << 20); // keep at most 1 MiB
/// let kept = {
///     let mut buf = pool.get(3000); // a 4 KiB-class buffer
///     assert!(buf.capacity() >= 3000);
///     buf.extend_from_slice(&[7; 3000]);
///     buf.capacity()
/// };
/// assert_eq!(pool.retained_bytes(), kept);
/// let buf = pool.get(4000); // same class: reused, and empty
/// assert!(buf.is_empty());
/// assert_eq!(pool.retained_bytes(), 0);
/// ```
pub struct BufferPool {
    state: Mutex<BufferPoolState>,
    max_retained_bytes: usize,
}

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
    /// An empty pool that retains at most `max_retained_bytes` of buffer
    /// capacity (`usize::MAX`: no limit).
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
    /// Requests above [`MAX_CLASS_BYTES`] get a buffer the pool will not keep.
    ///
    /// ```
    /// use alloc_recipes::pooling::BufferPool;
    /// let pool = BufferPool::new(1 << 20);
    /// assert!(pool.get(100).capacity() >= 128); // the 128-byte class
    /// assert!(pool.get(0).capacity() >= 64);
    /// ```
    #[must_use = "dropping the buffer returns it at once"]
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
    /// let cap = pool.get(1000).capacity(); // the guard drops here: back in the pool
    /// assert_eq!(pool.retained_bytes(), cap);
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
        if buf.capacity() > self.max_retained_bytes {
            return; // larger than the whole budget
        }
        buf.clear();
        loop {
            let mut state = self.lock();
            if state.retained_bytes.saturating_add(buf.capacity()) <= self.max_retained_bytes {
                state.retained_bytes += buf.capacity();
                state.classes[class].push(buf);
                return;
            }
            // Over budget: evict one idle buffer of another class, largest first.
            let victim = (0..CLASS_COUNT)
                .rev()
                .filter(|&c| c != class)
                .find_map(|c| state.classes[c].pop());
            let Some(victim) = victim else {
                return; // only this class is idle: `buf` is freed (after the unlock)
            };
            state.retained_bytes -= victim.capacity();
            drop(state);
            drop(victim); // freed outside the lock
        }
    }
}

impl fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let retained = self.state.try_lock().ok().map(|s| s.retained_bytes);
        f.debug_struct("BufferPool")
            .field("retained_bytes", &retained)
            .field("max_retained_bytes", &self.max_retained_bytes)
            .finish()
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
/// assert_eq!(format!("{buf:?}"), "PooledBuffer([1])");
/// ```
#[must_use = "dropping the buffer returns it at once"]
pub struct PooledBuffer<'a> {
    pool: &'a BufferPool,
    buf: Vec<u8>,
}

impl PooledBuffer<'_> {
    /// Keeps the buffer for good: it will not go back to the pool.
    ///
    /// ```
    /// use alloc_recipes::pooling::{BufferPool, PooledBuffer};
    /// let pool = BufferPool::new(1 << 20);
    /// let v: Vec<u8> = PooledBuffer::detach(pool.get(10));
    /// assert!(v.capacity() >= 10);
    /// assert_eq!(pool.idle_buffers(), 0);
    /// ```
    pub fn detach(mut this: Self) -> Vec<u8> {
        std::mem::take(&mut this.buf)
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

impl fmt::Debug for PooledBuffer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PooledBuffer").field(&self.buf).finish()
    }
}

impl Drop for PooledBuffer<'_> {
    fn drop(&mut self) {
        // After detach the buffer is an empty Vec of capacity 0: nothing to keep.
        // While panicking it is freed, like the other guards' objects.
        if !std::thread::panicking() {
            self.pool.give_back(std::mem::take(&mut self.buf));
        }
    }
}
// ANCHOR_END: buffer_pool
