//! # Batch allocation: fewer, larger allocations
//!
//! Role: four ways to replace many small allocations with few, each next to
//! the naive code it replaces, on the same input and with the same output:
//! pre-sizing (`with_capacity`, `reserve`, exact-size `collect`), reuse across
//! iterations (a scratch buffer, `read_line`, `clone_from`), an arena per batch
//! (`bumpalo`, `typed-arena`), and one allocation for many (`Vec<T>` instead
//! of `Vec<Box<T>>`, `Box<[T]>`, a string table).
//!
//! # Use it in your crate
//! Copy this file to `src/batch.rs`, declare `pub mod batch;`, and add to
//! `Cargo.toml`:
//!
//! ```toml
//! [dependencies]
//! bumpalo = { version = "3.16", features = ["collections"] }
//! typed-arena = "2.0"
//! ```
//!
//! The doc examples name this module `alloc_recipes::batch`: in your crate
//! replace `alloc_recipes` with your crate's name.
//!
//! The fact a reader gets wrong: `Vec::push` growth is not the big cost. It
//! reallocates only about log2(n) times; what costs is one allocation *per
//! item* (a `String` per field, a `Box` per node), and each of those is also a
//! free later. Pre-sizing removes the log2(n) reallocations; reuse, arenas and
//! packing remove the per-item allocations, which is where the time goes.
//!
//! # When to use
//! - Work that comes in batches (a request, a frame, a file, a parse) whose
//!   objects all die together: an arena, or buffers reused per batch.
//! - Many small strings or nodes read far more often than changed: pack them.
//! - Any loop that allocates the same scratch buffer on every iteration.
//!
//! # When not to
//! - Objects with independent lifetimes: an arena keeps every one of them
//!   until the whole batch is dropped or reset.
//! - When the size is unknown and usually small: `with_capacity(worst_case)`
//!   wastes memory; let `Vec` grow.
//! - A reused buffer that once held a huge batch keeps that capacity: shrink
//!   it (`shrink_to`) after outliers.
//!
//! ```
//! use alloc_recipes::batch::parse_records_in;
//!
//! // An arena per batch: every record and string of a batch in one Bump,
//! // freed all at once by `reset`, which keeps the memory for the next batch.
//! let mut bump = bumpalo::Bump::new();
//! for batch in ["1,Ada,London\n2,Alan,Wilmslow\n", "3,Grace,Arlington\n"] {
//!     let records = parse_records_in(&bump, batch).unwrap();
//!     assert!(records.iter().all(|r| !r.name.is_empty()));
//!     drop(records);
//!     bump.reset();
//! }
//!
//! // Pre-sizing: one allocation instead of a growth series.
//! let squares: Vec<u64> = (0..1_000u64).map(|i| i * i).collect(); // exact-size iterator
//! assert!(squares.capacity() >= 1_000);
//! ```
//!
//! # Traps
//! - `bumpalo::Bump` never runs `Drop`. A std `Vec` or `String` put in a bump
//!   arena (`bump.alloc(vec![..])`) leaks its heap buffer when the arena is
//!   reset or dropped. Use bumpalo's own collections or `&str` from `alloc_str`.
//! - `typed_arena::Arena` does run `Drop`, but only when the whole arena is
//!   dropped; it cannot free single objects or be reset.
//! - `Bump::reset` keeps only the last (largest) chunk: the first batches still
//!   allocate until that chunk covers a whole batch.

// ANCHOR: imports
use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead, Write};
// ANCHOR_END: imports

// ---------------------------------------------------------------------------
// Pre-sizing
// ---------------------------------------------------------------------------

// ANCHOR: presize
/// Naive: grows by `push`, reallocating about log2(n) times.
///
/// ```
/// use alloc_recipes::batch::squares_by_push;
/// assert_eq!(squares_by_push(4), [0, 1, 4, 9]);
/// ```
pub fn squares_by_push(n: usize) -> Vec<u64> {
    let mut v = Vec::new();
    for i in 0..n as u64 {
        v.push(i * i);
    }
    v
}

/// Pre-sized: one allocation of exactly `n` elements, then `push`.
///
/// ```
/// use alloc_recipes::batch::squares_presized;
/// let v = squares_presized(1000);
/// assert!(v.capacity() >= 1000); // std promises "at least"; the allocation is one
/// ```
pub fn squares_presized(n: usize) -> Vec<u64> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n as u64 {
        v.push(i * i);
    }
    v
}

/// `collect` from an exact-size iterator: the same single allocation,
/// because `Range::map` reports its length to `collect`.
///
/// ```
/// use alloc_recipes::batch::squares_collected;
/// assert_eq!(squares_collected(3), [0, 1, 4]);
/// ```
pub fn squares_collected(n: usize) -> Vec<u64> {
    (0..n as u64).map(|i| i * i).collect()
}

/// `reserve` before appending to a vector that already exists: at most one
/// reallocation instead of one per doubling.
///
/// ```
/// use alloc_recipes::batch::append_squares;
/// let mut v = vec![100];
/// append_squares(&mut v, 3);
/// assert_eq!(v, [100, 0, 1, 4]);
/// ```
pub fn append_squares(dst: &mut Vec<u64>, n: usize) {
    dst.reserve(n);
    dst.extend((0..n as u64).map(|i| i * i));
}

/// Naive: joins words into a `String` that grows as it goes.
///
/// ```
/// use alloc_recipes::batch::join_by_push;
/// assert_eq!(join_by_push(&["a", "bc"], ','), "a,bc");
/// ```
pub fn join_by_push(words: &[&str], sep: char) -> String {
    let mut out = String::new();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            out.push(sep);
        }
        out.push_str(w);
    }
    out
}

/// Pre-sized: adds up the length first, then allocates once.
///
/// ```
/// use alloc_recipes::batch::join_presized;
/// let s = join_presized(&["a", "bc"], ',');
/// assert_eq!(s, "a,bc");
/// assert!(s.capacity() >= 4);
/// ```
pub fn join_presized(words: &[&str], sep: char) -> String {
    let seps = words.len().saturating_sub(1) * sep.len_utf8();
    let mut out = String::with_capacity(words.iter().map(|w| w.len()).sum::<usize>() + seps);
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            out.push(sep);
        }
        out.push_str(w);
    }
    out
}

/// Naive: a word → position index built by `insert` into a map that rehashes
/// into a bigger table each time it fills.
///
/// ```
/// use alloc_recipes::batch::index_by_insert;
/// let m = index_by_insert(&["x", "y"]);
/// assert_eq!(m["y"], 1);
/// ```
pub fn index_by_insert<'a>(words: &[&'a str]) -> HashMap<&'a str, usize> {
    let mut m = HashMap::new();
    for (i, w) in words.iter().enumerate() {
        m.insert(*w, i);
    }
    m
}

/// Pre-sized: `HashMap::with_capacity` allocates the final table once.
///
/// ```
/// use alloc_recipes::batch::index_presized;
/// let m = index_presized(&["x", "y"]);
/// assert!(m.capacity() >= 2);
/// ```
pub fn index_presized<'a>(words: &[&'a str]) -> HashMap<&'a str, usize> {
    let mut m = HashMap::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        m.insert(*w, i);
    }
    m
}
// ANCHOR_END: presize

// ---------------------------------------------------------------------------
// Reuse across iterations
// ---------------------------------------------------------------------------

// ANCHOR: reuse
/// One parsed line of `id,name,city` input, owning its strings (two
/// allocations per record).
///
/// ```
/// use alloc_recipes::batch::Record;
/// let r = Record { id: 7, name: "ann".into(), city: "oslo".into() };
/// assert_eq!(r.name, "ann");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// The numeric id (first field).
    pub id: u64,
    /// The name (second field).
    pub name: String,
    /// The city (third field).
    pub city: String,
}

/// Naive: counts lines containing `needle` with `lines()`, which allocates a
/// new `String` for every line.
///
/// ```
/// use alloc_recipes::batch::count_matching_lines_fresh;
/// let n = count_matching_lines_fresh("ab\ncd\nab\n".as_bytes(), "ab").unwrap();
/// assert_eq!(n, 2);
/// ```
pub fn count_matching_lines_fresh(reader: impl BufRead, needle: &str) -> io::Result<usize> {
    let mut n = 0;
    for line in reader.lines() {
        if line?.contains(needle) {
            n += 1;
        }
    }
    Ok(n)
}

/// Reused: `read_line` into one `String`, cleared per line; it allocates only
/// when a line is longer than any before it. The line ending is cut off
/// before the search, as `lines()` does, so both functions agree on every
/// needle.
///
/// ```
/// use alloc_recipes::batch::count_matching_lines_reused;
/// let n = count_matching_lines_reused("ab\ncd\nab\n".as_bytes(), "ab").unwrap();
/// assert_eq!(n, 2);
/// assert_eq!(count_matching_lines_reused("ab\r\n".as_bytes(), "b\r").unwrap(), 0);
/// ```
pub fn count_matching_lines_reused(mut reader: impl BufRead, needle: &str) -> io::Result<usize> {
    let mut line = String::new();
    let mut n = 0;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(n);
        }
        let text = line.strip_suffix('\n').unwrap_or(&line);
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.contains(needle) {
            n += 1;
        }
    }
}

/// Naive: formats each record with `format!` (one `String` per line) and
/// writes it.
///
/// ```
/// use alloc_recipes::batch::{write_lines_fresh, Record};
/// let r = [Record { id: 1, name: "ann".into(), city: "oslo".into() }];
/// let mut out = Vec::new();
/// write_lines_fresh(&r, &mut out).unwrap();
/// assert_eq!(out, b"1,ann,oslo\n");
/// ```
pub fn write_lines_fresh(records: &[Record], out: &mut impl Write) -> io::Result<()> {
    for r in records {
        let line = format!("{},{},{}\n", r.id, r.name, r.city);
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// std's way: `writeln!` formats straight into the writer, so there is no
/// line `String` at all. Over a file or a socket, hand it a
/// `std::io::BufWriter` (one buffer reused for every line, and few system
/// calls); a `Vec<u8>` is its own buffer.
///
/// ```
/// use alloc_recipes::batch::{write_lines_reused, Record};
/// use std::io::{BufWriter, Write};
/// let r = [Record { id: 1, name: "ann".into(), city: "oslo".into() }];
/// let mut out = BufWriter::new(Vec::new()); // a File in real code
/// write_lines_reused(&r, &mut out).unwrap();
/// assert_eq!(out.into_inner().unwrap(), b"1,ann,oslo\n");
/// ```
pub fn write_lines_reused(records: &[Record], out: &mut impl Write) -> io::Result<()> {
    for r in records {
        writeln!(out, "{},{},{}", r.id, r.name, r.city)?;
    }
    Ok(())
}

/// Naive: replaces `dst` with a fresh copy of `src` (every string allocated anew).
///
/// ```
/// use alloc_recipes::batch::copy_strings_fresh;
/// let mut dst = vec!["old".to_string()];
/// copy_strings_fresh(&mut dst, &["new".to_string()]);
/// assert_eq!(dst, ["new"]);
/// ```
pub fn copy_strings_fresh(dst: &mut Vec<String>, src: &[String]) {
    *dst = src.to_vec();
}

/// Reused, std's way: `ToOwned::clone_into` (`Vec::clone_from` for two
/// vectors) copies into the strings `dst` already owns with `clone_from`,
/// keeping their allocations when they are big enough, then truncates or
/// extends.
///
/// ```
/// use alloc_recipes::batch::copy_strings_reused;
/// let mut dst = vec!["old".to_string()];
/// copy_strings_reused(&mut dst, &["new".to_string()]);
/// assert_eq!(dst, ["new"]);
/// ```
pub fn copy_strings_reused(dst: &mut Vec<String>, src: &[String]) {
    src.clone_into(dst);
}
// ANCHOR_END: reuse

// ---------------------------------------------------------------------------
// Records with small strings: naive, pre-sized, reused, arena, packed
// ---------------------------------------------------------------------------

// ANCHOR: records
/// A line that is not `id,name,city` with a numeric id.
///
/// ```
/// use alloc_recipes::batch::{parse_records_naive, ParseErrorKind};
/// let err = parse_records_naive("1,ann,oslo\nx,bob,rome\n").unwrap_err();
/// assert_eq!((err.line, err.kind), (2, ParseErrorKind::IdNotANumber));
/// assert_eq!(err.to_string(), "line 2: the id is not a number");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based number of the offending line.
    pub line: usize,
    /// What is wrong with it.
    pub kind: ParseErrorKind,
}

/// What is wrong with a line, for code to match on ([`ParseError`]'s
/// `Display` says it in words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// Fewer than three comma-separated fields.
    MissingField,
    /// The first field is not an unsigned integer.
    IdNotANumber,
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseErrorKind::MissingField => "expected 3 comma-separated fields: id,name,city",
            ParseErrorKind::IdNotANumber => "the id is not a number",
        })
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.kind)
    }
}

impl std::error::Error for ParseError {}

/// Splits one line into its three fields; `line_no` is for the error.
fn split_record(line: &str, line_no: usize) -> Result<(u64, &str, &str), ParseError> {
    let err = |kind| ParseError {
        line: line_no,
        kind,
    };
    let mut fields = line.splitn(3, ',');
    let (Some(id), Some(name), Some(city)) = (fields.next(), fields.next(), fields.next()) else {
        return Err(err(ParseErrorKind::MissingField));
    };
    let id = id.parse().map_err(|_| err(ParseErrorKind::IdNotANumber))?;
    Ok((id, name, city))
}

/// The lines of `input` with their 1-based numbers (a trailing newline ends
/// the last line; it does not start an empty one).
fn numbered_lines(input: &str) -> impl Iterator<Item = (usize, &str)> {
    input.lines().enumerate().map(|(i, l)| (i + 1, l))
}

/// `n` lines of deterministic `id,name,city` input with short names
/// (6 to 10 bytes) and cities (4 to 11 bytes): the bench input.
///
/// ```
/// use alloc_recipes::batch::sample_records_input;
/// let input = sample_records_input(2);
/// assert_eq!(input.lines().count(), 2);
/// assert!(input.starts_with("0,"));
/// ```
pub fn sample_records_input(n: usize) -> String {
    const CITIES: [&str; 6] = ["oslo", "lima", "berlin", "nairobi", "kyoto", "valparaíso"];
    let mut s = String::with_capacity(n * 24);
    for i in 0..n {
        use std::fmt::Write as _;
        let _ = writeln!(s, "{i},user-{},{}", i % 100_000, CITIES[i % CITIES.len()]);
    }
    s
}

/// Naive: `Vec::new()` grown by `push`, and two `String`s per record.
///
/// ```
/// use alloc_recipes::batch::parse_records_naive;
/// let r = parse_records_naive("1,ann,oslo\n").unwrap();
/// assert_eq!((r[0].id, r[0].name.as_str(), r[0].city.as_str()), (1, "ann", "oslo"));
/// ```
pub fn parse_records_naive(input: &str) -> Result<Vec<Record>, ParseError> {
    let mut records = Vec::new();
    for (line_no, line) in numbered_lines(input) {
        let (id, name, city) = split_record(line, line_no)?;
        records.push(Record {
            id,
            name: name.to_string(),
            city: city.to_string(),
        });
    }
    Ok(records)
}

/// Pre-sized: counts the lines first and allocates the `Vec` once; still two
/// `String`s per record.
///
/// ```
/// use alloc_recipes::batch::parse_records_presized;
/// let r = parse_records_presized("1,ann,oslo\n2,bob,rome\n").unwrap();
/// assert!(r.capacity() >= 2);
/// ```
pub fn parse_records_presized(input: &str) -> Result<Vec<Record>, ParseError> {
    let mut records = Vec::with_capacity(input.lines().count());
    for (line_no, line) in numbered_lines(input) {
        let (id, name, city) = split_record(line, line_no)?;
        records.push(Record {
            id,
            name: name.to_string(),
            city: city.to_string(),
        });
    }
    Ok(records)
}

/// Reused across batches: keeps the records (and their strings) of the last
/// batch and overwrites them in place, so a batch no bigger than an earlier
/// one allocates nothing.
///
/// ```
/// use alloc_recipes::batch::RecordBuffer;
/// let mut buf = RecordBuffer::new();
/// assert_eq!(buf.fill("1,ann,oslo\n").unwrap()[0].name, "ann");
/// assert_eq!(buf.fill("2,bo,rome\n").unwrap()[0].name, "bo"); // same Strings, new text
/// ```
#[derive(Debug, Default)]
pub struct RecordBuffer {
    records: Vec<Record>,
    len: usize, // records[..len] are this batch; the rest are kept for reuse
}

impl RecordBuffer {
    /// An empty buffer.
    ///
    /// ```
    /// use alloc_recipes::batch::RecordBuffer;
    /// assert!(RecordBuffer::new().records().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `input` into the buffer, replacing the last batch, and returns
    /// the records. On error the buffer holds the records before the bad line.
    ///
    /// ```
    /// use alloc_recipes::batch::RecordBuffer;
    /// let mut buf = RecordBuffer::new();
    /// assert!(buf.fill("1,ann\n").is_err());
    /// ```
    pub fn fill(&mut self, input: &str) -> Result<&[Record], ParseError> {
        self.len = 0;
        for (line_no, line) in numbered_lines(input) {
            let (id, name, city) = split_record(line, line_no)?;
            if self.len == self.records.len() {
                self.records.push(Record::default());
            }
            let r = &mut self.records[self.len];
            r.id = id;
            r.name.clear();
            r.name.push_str(name);
            r.city.clear();
            r.city.push_str(city);
            self.len += 1;
        }
        Ok(self.records())
    }

    /// The records of the last batch.
    ///
    /// ```
    /// use alloc_recipes::batch::RecordBuffer;
    /// let mut buf = RecordBuffer::new();
    /// buf.fill("1,ann,oslo\n").unwrap();
    /// assert_eq!(buf.records().len(), 1);
    /// ```
    pub fn records(&self) -> &[Record] {
        &self.records[..self.len]
    }
}

/// A record whose strings live in a `bumpalo::Bump` arena.
///
/// It holds `&str`, not `String`: the arena never runs `Drop`, so a
/// `String` stored in it would leak its heap buffer.
///
/// ```
/// use alloc_recipes::batch::ArenaRecord;
/// let bump = bumpalo::Bump::new();
/// let r = ArenaRecord { id: 1, name: bump.alloc_str("ann"), city: bump.alloc_str("oslo") };
/// assert_eq!(r.city, "oslo");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArenaRecord<'bump> {
    /// The numeric id.
    pub id: u64,
    /// The name, copied into the arena.
    pub name: &'bump str,
    /// The city, copied into the arena.
    pub city: &'bump str,
}

/// Arena: parses into bumpalo's `Vec` with the strings copied into the same
/// arena. Reset the arena between batches (`bump.reset()`) and, once its
/// chunk covers a batch, a batch allocates nothing from the global allocator.
///
/// ```
/// use alloc_recipes::batch::parse_records_in;
/// use bumpalo::Bump;
///
/// let mut bump = Bump::new();
/// for batch in ["1,ann,oslo\n", "2,bob,rome\n"] {
///     let records = parse_records_in(&bump, batch).unwrap();
///     assert_eq!(records.len(), 1);
///     drop(records);
///     bump.reset(); // frees the whole batch at once, keeps the largest chunk
/// }
/// ```
pub fn parse_records_in<'bump>(
    bump: &'bump bumpalo::Bump,
    input: &str,
) -> Result<bumpalo::collections::Vec<'bump, ArenaRecord<'bump>>, ParseError> {
    let mut records = bumpalo::collections::Vec::with_capacity_in(input.lines().count(), bump);
    for (line_no, line) in numbered_lines(input) {
        let (id, name, city) = split_record(line, line_no)?;
        records.push(ArenaRecord {
            id,
            name: bump.alloc_str(name),
            city: bump.alloc_str(city),
        });
    }
    Ok(records)
}

/// Where one string lives in a [`StringTable`]: a byte range of its text.
///
/// ```
/// use alloc_recipes::batch::StringTable;
/// let mut t = StringTable::with_capacity(8);
/// let span = t.push("hi");
/// assert_eq!((span.start, span.end), (0, 2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: u32,
    /// Byte offset one past the last byte.
    pub end: u32,
}

/// Many small strings packed into one `String`, addressed by [`Span`]s:
/// one allocation for all of them (when pre-sized) instead of one each.
///
/// ```
/// use alloc_recipes::batch::StringTable;
/// let mut t = StringTable::with_capacity(16);
/// let a = t.push("alpha");
/// let b = t.push("beta");
/// assert_eq!((t.get(a), t.get(b)), ("alpha", "beta"));
/// ```
#[derive(Debug, Default, Clone)]
pub struct StringTable {
    text: String,
}

impl StringTable {
    /// An empty table with room for `bytes` bytes of text.
    ///
    /// ```
    /// use alloc_recipes::batch::StringTable;
    /// assert_eq!(StringTable::with_capacity(100).len_bytes(), 0);
    /// ```
    pub fn with_capacity(bytes: usize) -> Self {
        StringTable {
            text: String::with_capacity(bytes),
        }
    }

    /// Appends `s` and returns where it is.
    ///
    /// # Panics
    /// If the table would pass 4 GiB (spans are `u32` to stay small).
    ///
    /// ```
    /// use alloc_recipes::batch::StringTable;
    /// let mut t = StringTable::default();
    /// let s = t.push("x");
    /// assert_eq!(t.get(s), "x");
    /// ```
    pub fn push(&mut self, s: &str) -> Span {
        let start = self.text.len();
        let end = start + s.len();
        assert!(
            end <= u32::MAX as usize,
            "StringTable is limited to 4 GiB of text"
        );
        self.text.push_str(s);
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The string at `span`.
    ///
    /// # Panics
    /// If `span` did not come from this table.
    ///
    /// ```
    /// use alloc_recipes::batch::StringTable;
    /// let mut t = StringTable::default();
    /// let s = t.push("hello");
    /// assert_eq!(t.get(s), "hello");
    /// ```
    pub fn get(&self, span: Span) -> &str {
        &self.text[span.start as usize..span.end as usize]
    }

    /// Bytes of text stored.
    ///
    /// ```
    /// use alloc_recipes::batch::StringTable;
    /// let mut t = StringTable::default();
    /// t.push("abc");
    /// assert_eq!(t.len_bytes(), 3);
    /// ```
    pub fn len_bytes(&self) -> usize {
        self.text.len()
    }
}

/// One record of [`PackedRecords`]: the id and where its strings are.
///
/// ```
/// use alloc_recipes::batch::parse_records_packed;
/// let p = parse_records_packed("5,ann,oslo\n").unwrap();
/// assert_eq!(p.records()[0].id, 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackedRecord {
    /// The numeric id.
    pub id: u64,
    /// The name's place in the string table.
    pub name: Span,
    /// The city's place in the string table.
    pub city: Span,
}

/// Records packed into two allocations: a `Vec<PackedRecord>` and one
/// [`StringTable`] holding every name and city.
///
/// ```
/// use alloc_recipes::batch::parse_records_packed;
/// let p = parse_records_packed("1,ann,oslo\n2,bob,rome\n").unwrap();
/// let names: Vec<&str> = p.iter().map(|(_, name, _)| name).collect();
/// assert_eq!(names, ["ann", "bob"]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct PackedRecords {
    records: Vec<PackedRecord>,
    strings: StringTable,
}

impl PackedRecords {
    /// The records, with spans into [`PackedRecords::strings`].
    ///
    /// ```
    /// use alloc_recipes::batch::parse_records_packed;
    /// assert_eq!(parse_records_packed("1,a,b\n").unwrap().records().len(), 1);
    /// ```
    pub fn records(&self) -> &[PackedRecord] {
        &self.records
    }

    /// The table holding every record's strings.
    ///
    /// ```
    /// use alloc_recipes::batch::parse_records_packed;
    /// let p = parse_records_packed("1,ann,oslo\n").unwrap();
    /// assert_eq!(p.strings().get(p.records()[0].city), "oslo");
    /// ```
    pub fn strings(&self) -> &StringTable {
        &self.strings
    }

    /// Each record as `(id, name, city)`.
    ///
    /// ```
    /// use alloc_recipes::batch::parse_records_packed;
    /// let p = parse_records_packed("1,ann,oslo\n").unwrap();
    /// assert_eq!(p.iter().next(), Some((1, "ann", "oslo")));
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (u64, &str, &str)> + '_ {
        self.records
            .iter()
            .map(|r| (r.id, self.strings.get(r.name), self.strings.get(r.city)))
    }
}

/// Packed: two allocations per batch, both pre-sized (the input's length
/// bounds the text; its line count is the number of records).
///
/// ```
/// use alloc_recipes::batch::parse_records_packed;
/// let p = parse_records_packed("1,ann,oslo\n").unwrap();
/// assert_eq!(p.strings().len_bytes(), 7);
/// ```
pub fn parse_records_packed(input: &str) -> Result<PackedRecords, ParseError> {
    let mut packed = PackedRecords {
        records: Vec::with_capacity(input.lines().count()),
        strings: StringTable::with_capacity(input.len()),
    };
    for (line_no, line) in numbered_lines(input) {
        let (id, name, city) = split_record(line, line_no)?;
        let name = packed.strings.push(name);
        let city = packed.strings.push(city);
        packed.records.push(PackedRecord { id, name, city });
    }
    Ok(packed)
}
// ANCHOR_END: records

// ---------------------------------------------------------------------------
// A tree of many nodes: Box per node, typed-arena, bumpalo, Vec with indices
// ---------------------------------------------------------------------------

// The trees below are balanced binary search trees over the values 0..n,
// built bottom-up (children before their parent), so that every variant
// builds the same shape with immutable links.

// ANCHOR: tree_box
/// Naive: one `Box` allocation per node.
///
/// ```
/// use alloc_recipes::batch::{build_box_tree, sum_box_tree};
/// let tree = build_box_tree(10);
/// assert_eq!(sum_box_tree(tree.as_deref()), 45);
/// ```
#[derive(Debug)]
pub struct BoxNode {
    /// The node's value.
    pub value: u64,
    /// Smaller values.
    pub left: Option<Box<BoxNode>>,
    /// Larger values.
    pub right: Option<Box<BoxNode>>,
}

/// Builds a balanced tree of `n` boxed nodes holding 0..n.
///
/// ```
/// use alloc_recipes::batch::build_box_tree;
/// assert_eq!(build_box_tree(3).unwrap().value, 1);
/// ```
pub fn build_box_tree(n: usize) -> Option<Box<BoxNode>> {
    fn build(lo: u64, hi: u64) -> Option<Box<BoxNode>> {
        if lo >= hi {
            return None;
        }
        let mid = lo + (hi - lo) / 2;
        let (left, right) = (build(lo, mid), build(mid + 1, hi));
        Some(Box::new(BoxNode {
            value: mid,
            left,
            right,
        }))
    }
    build(0, n as u64)
}

/// Sum of the values, walking the tree depth first.
///
/// ```
/// use alloc_recipes::batch::{build_box_tree, sum_box_tree};
/// assert_eq!(sum_box_tree(build_box_tree(4).as_deref()), 6);
/// ```
pub fn sum_box_tree(node: Option<&BoxNode>) -> u64 {
    node.map_or(0, |n| {
        n.value + sum_box_tree(n.left.as_deref()) + sum_box_tree(n.right.as_deref())
    })
}
// ANCHOR_END: tree_box

// ANCHOR: tree_arena
/// A node linked by references to nodes in the same arena: used by both the
/// `typed_arena::Arena` tree and the `bumpalo::Bump` tree.
///
/// ```
/// use alloc_recipes::batch::RefNode;
/// let leaf = RefNode { value: 1, left: None, right: None };
/// let root = RefNode { value: 2, left: Some(&leaf), right: None };
/// assert_eq!(root.left.unwrap().value, 1);
/// ```
#[derive(Debug)]
pub struct RefNode<'a> {
    /// The node's value.
    pub value: u64,
    /// Smaller values.
    pub left: Option<&'a RefNode<'a>>,
    /// Larger values.
    pub right: Option<&'a RefNode<'a>>,
}

/// Builds the tree in a `typed_arena::Arena`: nodes are allocated in chunks
/// that grow, so `n` nodes take about log2(n) allocations, all freed (with
/// `Drop` run) when the arena is dropped.
///
/// ```
/// use alloc_recipes::batch::{build_typed_arena_tree, sum_ref_tree};
/// let arena = typed_arena::Arena::new();
/// let root = build_typed_arena_tree(&arena, 10);
/// assert_eq!(sum_ref_tree(root), 45);
/// ```
pub fn build_typed_arena_tree<'a>(
    arena: &'a typed_arena::Arena<RefNode<'a>>,
    n: usize,
) -> Option<&'a RefNode<'a>> {
    fn build<'a>(
        arena: &'a typed_arena::Arena<RefNode<'a>>,
        lo: u64,
        hi: u64,
    ) -> Option<&'a RefNode<'a>> {
        if lo >= hi {
            return None;
        }
        let mid = lo + (hi - lo) / 2;
        let (left, right) = (build(arena, lo, mid), build(arena, mid + 1, hi));
        Some(arena.alloc(RefNode {
            value: mid,
            left,
            right,
        }))
    }
    build(arena, 0, n as u64)
}

/// Builds the tree in a `bumpalo::Bump`: the same few chunk allocations, and
/// the arena can be reset and reused for the next tree. (`RefNode` owns no
/// heap memory, so bumpalo skipping `Drop` loses nothing here.)
///
/// ```
/// use alloc_recipes::batch::{build_bump_tree, sum_ref_tree};
/// let bump = bumpalo::Bump::new();
/// let root = build_bump_tree(&bump, 10);
/// assert_eq!(sum_ref_tree(root), 45);
/// ```
pub fn build_bump_tree(bump: &bumpalo::Bump, n: usize) -> Option<&RefNode<'_>> {
    fn build(bump: &bumpalo::Bump, lo: u64, hi: u64) -> Option<&RefNode<'_>> {
        if lo >= hi {
            return None;
        }
        let mid = lo + (hi - lo) / 2;
        let (left, right) = (build(bump, lo, mid), build(bump, mid + 1, hi));
        Some(bump.alloc(RefNode {
            value: mid,
            left,
            right,
        }))
    }
    build(bump, 0, n as u64)
}

/// Sum of the values of an arena tree, depth first.
///
/// ```
/// use alloc_recipes::batch::{build_bump_tree, sum_ref_tree};
/// let bump = bumpalo::Bump::new();
/// assert_eq!(sum_ref_tree(build_bump_tree(&bump, 4)), 6);
/// ```
pub fn sum_ref_tree(node: Option<&RefNode<'_>>) -> u64 {
    node.map_or(0, |n| {
        n.value + sum_ref_tree(n.left) + sum_ref_tree(n.right)
    })
}
// ANCHOR_END: tree_arena

// ANCHOR: tree_index
/// "No child" in an [`IndexNode`].
pub const NO_NODE: u32 = u32::MAX;

/// A node of an [`IndexTree`]: children are positions in the tree's `Vec`.
///
/// ```
/// use alloc_recipes::batch::{IndexNode, NO_NODE};
/// let leaf = IndexNode { value: 3, left: NO_NODE, right: NO_NODE };
/// assert_eq!(leaf.left, NO_NODE);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexNode {
    /// The node's value.
    pub value: u64,
    /// Index of the left child, or [`NO_NODE`].
    pub left: u32,
    /// Index of the right child, or [`NO_NODE`].
    pub right: u32,
}

/// A tree stored as one `Vec` of nodes linked by `u32` indices: one
/// allocation for the whole tree, and half the link size of a pointer.
///
/// ```
/// use alloc_recipes::batch::IndexTree;
/// let t = IndexTree::build(10);
/// assert_eq!((t.nodes().len(), t.sum()), (10, 45));
/// ```
#[derive(Debug, Clone)]
pub struct IndexTree {
    nodes: Vec<IndexNode>,
    root: u32,
}

impl IndexTree {
    /// Builds a balanced tree of `n` nodes holding 0..n, in one allocation.
    ///
    /// # Panics
    /// If `n` does not fit the `u32` indices (`n >= u32::MAX`).
    ///
    /// ```
    /// use alloc_recipes::batch::IndexTree;
    /// assert_eq!(IndexTree::build(0).sum(), 0);
    /// ```
    pub fn build(n: usize) -> IndexTree {
        assert!(
            n < NO_NODE as usize,
            "IndexTree holds fewer than u32::MAX nodes"
        );
        fn build(nodes: &mut Vec<IndexNode>, lo: u64, hi: u64) -> u32 {
            if lo >= hi {
                return NO_NODE;
            }
            let mid = lo + (hi - lo) / 2;
            let (left, right) = (build(nodes, lo, mid), build(nodes, mid + 1, hi));
            nodes.push(IndexNode {
                value: mid,
                left,
                right,
            });
            (nodes.len() - 1) as u32
        }
        let mut nodes = Vec::with_capacity(n);
        let root = build(&mut nodes, 0, n as u64);
        IndexTree { nodes, root }
    }

    /// All nodes, in the order they were built (children before parents).
    ///
    /// ```
    /// use alloc_recipes::batch::IndexTree;
    /// assert_eq!(IndexTree::build(1).nodes()[0].value, 0);
    /// ```
    pub fn nodes(&self) -> &[IndexNode] {
        &self.nodes
    }

    /// Index of the root, or [`NO_NODE`] for an empty tree.
    ///
    /// ```
    /// use alloc_recipes::batch::{IndexTree, NO_NODE};
    /// assert_eq!(IndexTree::build(0).root(), NO_NODE);
    /// ```
    pub fn root(&self) -> u32 {
        self.root
    }

    /// Sum of the values, walking from the root depth first.
    ///
    /// ```
    /// use alloc_recipes::batch::IndexTree;
    /// assert_eq!(IndexTree::build(4).sum(), 6);
    /// ```
    pub fn sum(&self) -> u64 {
        self.sum_from(self.root)
    }

    fn sum_from(&self, i: u32) -> u64 {
        if i == NO_NODE {
            return 0;
        }
        let n = &self.nodes[i as usize];
        n.value + self.sum_from(n.left) + self.sum_from(n.right)
    }
}
// ANCHOR_END: tree_index

// ---------------------------------------------------------------------------
// One allocation for many
// ---------------------------------------------------------------------------

// ANCHOR: one_for_many
/// A small value type for the `Vec<Box<T>>` vs `Vec<T>` comparison.
///
/// ```
/// use alloc_recipes::batch::Point;
/// assert_eq!(Point { x: 1.0, y: 2.0 }.y, 2.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Horizontal coordinate.
    pub x: f64,
    /// Vertical coordinate.
    pub y: f64,
}

fn point(i: usize) -> Point {
    Point {
        x: i as f64,
        y: (i * 2) as f64,
    }
}

/// Naive: a `Vec` of boxed points, `n + 1` allocations.
///
/// ```
/// use alloc_recipes::batch::points_boxed;
/// assert_eq!(points_boxed(3)[2].y, 4.0);
/// ```
pub fn points_boxed(n: usize) -> Vec<Box<Point>> {
    (0..n).map(|i| Box::new(point(i))).collect()
}

/// The points stored inline: one allocation, and they sit next to each other
/// in memory.
///
/// ```
/// use alloc_recipes::batch::points_inline;
/// assert_eq!(points_inline(3)[2].y, 4.0);
/// ```
pub fn points_inline(n: usize) -> Vec<Point> {
    (0..n).map(point).collect()
}

/// A `Box<[Point]>` for a collection that never grows: one allocation, and
/// one word smaller than a `Vec` (no capacity). Collecting an exact-size
/// iterator into it does not reallocate to shrink.
///
/// ```
/// use alloc_recipes::batch::points_boxed_slice;
/// let p = points_boxed_slice(3);
/// assert_eq!(p.len(), 3);
/// ```
pub fn points_boxed_slice(n: usize) -> Box<[Point]> {
    (0..n).map(point).collect()
}
// ANCHOR_END: one_for_many
