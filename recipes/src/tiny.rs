//! # Tiny objects: stop paying a whole allocation for a few bytes
//!
//! Role: three ways to store many small strings without one heap allocation
//! each: inline storage ([`InlineStr`]), interning into `u32` symbols
//! ([`Interner`]), and packing into one buffer ([`PackedStrs`]), with the
//! word count each one speeds up.
//!
//! # Use it in your crate
//! Copy this file to `src/tiny.rs`, declare `pub mod tiny;`, and add to
//! `Cargo.toml` (`union` is what makes [`InlineStr`] as small as a `String`):
//!
//! ```toml
//! [dependencies]
//! smallvec = { version = "1.13", features = ["union"] }
//! ```
//!
//! The doc examples name this module `alloc_recipes::tiny`: in your crate
//! replace `alloc_recipes` with your crate's name. Sizes are for 64-bit
//! targets; the examples say where a 32-bit one differs.
//!
//! The fact a reader gets wrong: a 5-byte `String` does not cost 5 bytes. It
//! costs a 24-byte header plus an allocation that every allocator rounds up
//! (Go: 8 bytes; glibc: a 32-byte chunk), plus the time of `malloc` and
//! `free`, which for tiny sizes is the whole cost. Go's runtime knows this and
//! packs tiny pointer-free objects (under 16 bytes) together into one 16-byte
//! block (its "tiny allocator"); Rust's allocators do not, so the program must.
//!
//! ## The pattern
//! - Inline: [`InlineStr`] keeps up to 16 bytes inside its own 24 bytes
//!   (`SmallVec<[u8; 16]>`), so a `HashMap<InlineStr, u32>` of short keys
//!   allocates nothing per key.
//! - Interned: [`Interner`] stores each distinct string once and hands out a
//!   4-byte [`Symbol`]; counting, comparing and hashing become integer work.
//! - Packed: [`PackedStrs`] appends every string to one `String` and keeps
//!   end offsets: two allocations for a million strings (plus growth).
//!
//! ## When to use which
//! Inline when most values are short and you need owned, independent values.
//! Interned when the same strings repeat (keys, identifiers, tags). Packed
//! when strings are written once and read by index (a column, a token list).
//!
//! ## When not to
//! Long strings make [`InlineStr`] a `Vec` with an extra branch on every access.
//! An interner never forgets: interning unbounded user input is a memory leak
//! with extra steps. Packed strings cannot be removed or edited in place.
//!
//! ```
//! use alloc_recipes::tiny::{InlineStr, Interner};
//! let key = InlineStr::from("apple");
//! assert!(key.is_inline());
//! let mut names = Interner::default();
//! let a = names.intern("apple");
//! assert_eq!(names.intern("apple"), a);
//! assert_eq!(names.resolve(a), "apple");
//! ```

// ANCHOR: imports
use smallvec::SmallVec;
use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
// ANCHOR_END: imports

// ANCHOR: inline
/// A string of up to 16 bytes stored inline (no allocation), longer ones on
/// the heap. 24 bytes on 64-bit targets, like `String` (20 on 32-bit ones,
/// where `String` is 12).
///
/// ```
/// use alloc_recipes::tiny::InlineStr;
/// use std::mem::size_of;
/// assert_eq!(size_of::<InlineStr>(), size_of::<usize>() + 16);
/// if cfg!(target_pointer_width = "64") {
///     assert_eq!(size_of::<InlineStr>(), size_of::<String>());
/// }
/// let short = InlineStr::from("sixteen bytes ok");
/// assert!(short.is_inline());
/// let long = InlineStr::from("seventeen bytes!!");
/// assert!(!long.is_inline());
/// assert_eq!(long.as_str(), "seventeen bytes!!");
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct InlineStr {
    // Invariant: always valid UTF-8. Only `From<&str>` (a whole `&str`),
    // `Default` (empty) and `Clone` (a copy of a valid one) write it; any new
    // method that writes `bytes` must keep the invariant.
    bytes: SmallVec<[u8; 16]>,
}

/// Strings up to this many bytes are stored without an allocation.
pub const INLINE_CAPACITY: usize = 16;

impl InlineStr {
    /// The string.
    ///
    /// ```
    /// use alloc_recipes::tiny::InlineStr;
    /// assert_eq!(InlineStr::from("hi").as_str(), "hi");
    /// ```
    pub fn as_str(&self) -> &str {
        debug_assert!(std::str::from_utf8(&self.bytes).is_ok());
        // SAFETY: nothing writes `bytes` but `From<&str>` (which copies a whole
        // `&str`), `Default` (empty) and the derived `Clone` (a copy of a value
        // that already holds), so it is valid UTF-8. Sound only while that
        // stays true: see the field's invariant.
        unsafe { std::str::from_utf8_unchecked(&self.bytes) }
    }

    /// True when the string lives inside the value (no heap allocation).
    ///
    /// ```
    /// use alloc_recipes::tiny::InlineStr;
    /// assert!(InlineStr::from("").is_inline());
    /// ```
    pub fn is_inline(&self) -> bool {
        !self.bytes.spilled()
    }
}

impl From<&str> for InlineStr {
    /// Copies `s`: inline when it is at most [`INLINE_CAPACITY`] bytes.
    ///
    /// ```
    /// use alloc_recipes::tiny::InlineStr;
    /// assert_eq!(InlineStr::from("x").len(), 1);
    /// ```
    fn from(s: &str) -> Self {
        InlineStr {
            bytes: SmallVec::from_slice(s.as_bytes()),
        }
    }
}

impl std::ops::Deref for InlineStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

// Hash as a `str` does, so that `HashMap<InlineStr, _>::get(&str)` finds keys
// (the contract of `Borrow<str>`).
impl Hash for InlineStr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Borrow<str> for InlineStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for InlineStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for InlineStr {
    /// ```
    /// use alloc_recipes::tiny::InlineStr;
    /// assert!(InlineStr::from("ok") == *"ok");
    /// assert_eq!(InlineStr::from("ok"), "ok");
    /// ```
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for InlineStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for InlineStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for InlineStr {
    /// ```
    /// use alloc_recipes::tiny::InlineStr;
    /// assert_eq!(InlineStr::from("tea").to_string(), "tea");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}
// ANCHOR_END: inline

// ANCHOR: interner
/// A 4-byte stand-in for an interned string; compare and hash it as an integer.
///
/// ```
/// use alloc_recipes::tiny::Interner;
/// let mut names = Interner::default();
/// assert_eq!(names.intern("a").index(), 0);
/// assert_eq!(names.intern("b").index(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol(u32);

impl Symbol {
    /// The symbol's number: 0, 1, 2... in order of first interning, so it can
    /// index a `Vec` of per-symbol data.
    ///
    /// ```
    /// use alloc_recipes::tiny::Interner;
    /// let mut names = Interner::default();
    /// let s = names.intern("x");
    /// let mut counts = vec![0; names.len()];
    /// counts[s.index()] += 1;
    /// assert_eq!(counts, [1]);
    /// ```
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Stores each distinct string once (one allocation per distinct string)
/// and maps it to a [`Symbol`]. Looking up a known string allocates nothing.
///
/// ```
/// use alloc_recipes::tiny::Interner;
/// let mut names = Interner::default();
/// let a = names.intern("apple");
/// let b = names.intern("banana");
/// assert_ne!(a, b);
/// assert_eq!(names.get("banana"), Some(b));
/// assert_eq!(names.get("cherry"), None);
/// assert_eq!(names.len(), 2);
/// ```
#[derive(Debug, Default, Clone)]
pub struct Interner {
    ids: HashMap<Arc<str>, Symbol>,
    names: Vec<Arc<str>>,
}

impl Interner {
    /// The symbol of `s`, interning it if new.
    ///
    /// # Panics
    /// After `u32::MAX` distinct strings.
    ///
    /// ```
    /// use alloc_recipes::tiny::Interner;
    /// let mut names = Interner::default();
    /// assert_eq!(names.intern("a"), names.intern("a"));
    /// ```
    pub fn intern(&mut self, s: &str) -> Symbol {
        if let Some(&sym) = self.ids.get(s) {
            return sym;
        }
        let sym =
            Symbol(u32::try_from(self.names.len()).expect("Interner: more than u32::MAX strings"));
        let shared: Arc<str> = Arc::from(s);
        self.names.push(Arc::clone(&shared));
        self.ids.insert(shared, sym);
        sym
    }

    /// The symbol of `s` if it was interned.
    ///
    /// ```
    /// use alloc_recipes::tiny::Interner;
    /// assert_eq!(Interner::default().get("a"), None);
    /// ```
    pub fn get(&self, s: &str) -> Option<Symbol> {
        self.ids.get(s).copied()
    }

    /// The string of `sym`.
    ///
    /// # Panics
    /// If `sym` came from another interner and is out of range here.
    ///
    /// ```
    /// use alloc_recipes::tiny::Interner;
    /// let mut names = Interner::default();
    /// let s = names.intern("pear");
    /// assert_eq!(names.resolve(s), "pear");
    /// ```
    pub fn resolve(&self, sym: Symbol) -> &str {
        &self.names[sym.index()]
    }

    /// Number of distinct strings.
    ///
    /// ```
    /// use alloc_recipes::tiny::Interner;
    /// assert_eq!(Interner::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when nothing was interned.
    ///
    /// ```
    /// use alloc_recipes::tiny::Interner;
    /// assert!(Interner::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}
// ANCHOR_END: interner

// ANCHOR: packed
/// Many strings in one `String`, found by their end offsets: two growing
/// allocations however many strings are stored.
///
/// ```
/// use alloc_recipes::tiny::PackedStrs;
/// let mut p = PackedStrs::with_capacity(2, 8);
/// let i = p.push("tea");
/// p.push("milk");
/// assert_eq!(p.get(i), "tea");
/// assert_eq!(p.iter().collect::<Vec<_>>(), ["tea", "milk"]);
/// ```
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PackedStrs {
    text: String,
    ends: Vec<u32>,
}

impl PackedStrs {
    /// Room for `strings` strings of `bytes` bytes in total.
    ///
    /// ```
    /// use alloc_recipes::tiny::PackedStrs;
    /// assert!(PackedStrs::with_capacity(10, 100).is_empty());
    /// ```
    pub fn with_capacity(strings: usize, bytes: usize) -> Self {
        PackedStrs {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(strings),
        }
    }

    /// Appends `s` and returns its index.
    ///
    /// # Panics
    /// When the total text passes `u32::MAX` bytes.
    ///
    /// ```
    /// use alloc_recipes::tiny::PackedStrs;
    /// let mut p = PackedStrs::default();
    /// assert_eq!(p.push("a"), 0);
    /// assert_eq!(p.push("b"), 1);
    /// ```
    pub fn push(&mut self, s: &str) -> usize {
        // Checked before the text changes, so a panic leaves the table as it was.
        let end = self
            .text
            .len()
            .checked_add(s.len())
            .and_then(|end| u32::try_from(end).ok())
            .expect("PackedStrs: more than u32::MAX bytes of text");
        self.text.push_str(s);
        self.ends.push(end);
        self.ends.len() - 1
    }

    /// The string at `index`.
    ///
    /// # Panics
    /// If `index >= self.len()`.
    ///
    /// ```
    /// use alloc_recipes::tiny::PackedStrs;
    /// let mut p = PackedStrs::default();
    /// p.push("");
    /// p.push("x");
    /// assert_eq!((p.get(0), p.get(1)), ("", "x"));
    /// ```
    pub fn get(&self, index: usize) -> &str {
        let start = if index == 0 {
            0
        } else {
            self.ends[index - 1] as usize
        };
        &self.text[start..self.ends[index] as usize]
    }

    /// Number of strings.
    ///
    /// ```
    /// use alloc_recipes::tiny::PackedStrs;
    /// assert_eq!(PackedStrs::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when no string was pushed.
    ///
    /// ```
    /// use alloc_recipes::tiny::PackedStrs;
    /// assert!(PackedStrs::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The strings in order.
    ///
    /// ```
    /// use alloc_recipes::tiny::PackedStrs;
    /// let mut p = PackedStrs::default();
    /// p.push("a");
    /// assert_eq!(p.iter().count(), 1);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        let mut start = 0usize;
        self.ends.iter().map(move |&end| {
            let s = &self.text[start..end as usize];
            start = end as usize;
            s
        })
    }
}
// ANCHOR_END: packed

// ANCHOR: word_count
/// The naive word count: `entry(word.to_string())` allocates a `String` for
/// every word, even the ones already counted (the entry API needs an owned key).
///
/// ```
/// use alloc_recipes::tiny::count_words_string_keys;
/// let counts = count_words_string_keys(["a", "b", "a"]);
/// assert_eq!(counts["a"], 2);
/// ```
pub fn count_words_string_keys<'a>(
    words: impl IntoIterator<Item = &'a str>,
) -> HashMap<String, u32> {
    let mut counts = HashMap::new();
    for w in words {
        *counts.entry(w.to_string()).or_insert(0) += 1;
    }
    counts
}

/// The careful `String` version: look up with `&str` first, allocate only
/// for a new word.
///
/// ```
/// use alloc_recipes::tiny::count_words_lookup_first;
/// let counts = count_words_lookup_first(["a", "b", "a"]);
/// assert_eq!(counts["b"], 1);
/// ```
pub fn count_words_lookup_first<'a>(
    words: impl IntoIterator<Item = &'a str>,
) -> HashMap<String, u32> {
    let mut counts: HashMap<String, u32> = HashMap::new();
    for w in words {
        match counts.get_mut(w) {
            Some(c) => *c += 1,
            None => {
                counts.insert(w.to_string(), 1);
            }
        }
    }
    counts
}

/// Inline keys, looked up with `&str` first: a short word never allocates,
/// a long one (over 16 bytes) only when it is new.
///
/// ```
/// use alloc_recipes::tiny::count_words_inline;
/// let counts = count_words_inline(["a", "b", "a"]);
/// assert_eq!(counts["a"], 2);
/// ```
pub fn count_words_inline<'a>(words: impl IntoIterator<Item = &'a str>) -> HashMap<InlineStr, u32> {
    let mut counts: HashMap<InlineStr, u32> = HashMap::new();
    for w in words {
        match counts.get_mut(w) {
            Some(c) => *c += 1,
            None => {
                counts.insert(InlineStr::from(w), 1);
            }
        }
    }
    counts
}

/// Interned keys: each distinct word is stored once; the counts are a `Vec`
/// indexed by [`Symbol`].
///
/// ```
/// use alloc_recipes::tiny::{count_words_interned, Interner};
/// let mut names = Interner::default();
/// let counts = count_words_interned(["a", "b", "a"], &mut names);
/// assert_eq!(counts[names.get("a").unwrap().index()], 2);
/// ```
pub fn count_words_interned<'a>(
    words: impl IntoIterator<Item = &'a str>,
    names: &mut Interner,
) -> Vec<u32> {
    let mut counts = vec![0; names.len()];
    for w in words {
        let sym = names.intern(w);
        if sym.index() == counts.len() {
            counts.push(0);
        }
        counts[sym.index()] += 1;
    }
    counts
}
// ANCHOR_END: word_count
