//! `cookbook profile -- CMD [ARGS...]`: run any dynamically linked program
//! with the recording shim preloaded (examples/profile_shim.rs), then report
//! what it allocated in the book's terms: the size histogram, what each
//! allocator's classes waste on exactly those requests, lifetimes, realloc
//! chains, threads, call sites, and findings that each name the chapter that
//! treats them.
//!
//! The fact a reader gets wrong: the shim changes nothing about *where* the
//! program's memory comes from (every call goes on to the allocator it would
//! have used), so the counts are the program's own; only its speed changes
//! (the overhead is measured in the book chapter "Your own program").
//! Call sites are sampled by bytes as Go samples its heap profile
//! (`--call-sites BYTES`, default 512 KiB, Go's `MemProfileRate`); `--call-sites all`
//! records a stack for every allocation.

#[path = "profile_format.rs"]
pub mod format;

#[path = "profile_book.rs"]
pub mod book;

use super::{svg, usable, CliError, Result};
use alloc_cookbook::analysis::{self, Scheme};
use alloc_cookbook::size_class::GO;
use format::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Where cargo puts the shim, relative to the target profile folder.
pub const SHIM_FILE: &str = "examples/libprofile_shim.so";
/// How to build the shim.
pub const SHIM_BUILD: &str = "cargo build --release --example profile_shim --features profile-shim";

/// `cookbook profile`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Print the data as JSON (the program's own standard output goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Also write the size histogram as an SVG chart to FILE.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Also write a self-contained HTML report to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Call stacks: `off`, `all` (every allocation) or BYTES (one stack per BYTES allocated
    /// on average, Go's sampling).
    #[arg(long, value_name = "off|all|BYTES", default_value = "512KiB", value_parser = call_sites_arg)]
    pub call_sites: u64,
    /// Record only sizes, calls and call sites: no per-object tracking (no peak, lifetimes,
    /// realloc chains or cross-thread frees), for the lowest overhead.
    #[arg(long)]
    pub histogram_only: bool,
    /// Keep the profile files (one per process) in DIR instead of a temporary folder.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The recording shim library (default: built next to this executable).
    #[arg(long, value_name = "FILE")]
    pub shim: Option<PathBuf>,
    /// Report a profile kept earlier (a .cbprof file) instead of running a program.
    #[arg(long, value_name = "FILE", conflicts_with = "command")]
    pub read: Option<PathBuf>,
    /// The program and its arguments (after `--`).
    #[arg(
        required_unless_present = "read",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<std::ffi::OsString>,
}

fn usage<T>(msg: impl Into<String>) -> Result<T> {
    Err(CliError::Usage(msg.into()))
}

fn failed<T>(msg: impl Into<String>) -> Result<T> {
    Err(CliError::Failed(msg.into()))
}

/// Parses `--call-sites off|all|BYTES` into a sample rate (0 off, 1 every allocation).
pub fn parse_call_sites(v: &str) -> Result<u64> {
    match v {
        "off" | "none" | "0" => Ok(0),
        "all" | "every" => Ok(1),
        _ => Ok(super::parse_bytes("--call-sites", v)? as u64),
    }
}

fn call_sites_arg(s: &str) -> std::result::Result<u64, String> {
    parse_call_sites(s).map_err(super::arg_err)
}

/// Runs `cookbook profile`.
pub fn run(args: Args) -> Result<()> {
    if let Some(file) = &args.read {
        let p = Process::read(file)?;
        let pid = p.pid();
        let report = Report::build(vec![p], pid, "(read from a kept profile)".into(), 0.0)?;
        return emit(&report, &args);
    }
    profile_command(&args)
}

/// Finds `cmd` as the shell would (a path, or a name on `PATH`).
pub fn resolve_command(cmd: &str) -> Result<PathBuf> {
    if cmd.is_empty() {
        return usage("profile: the command is an empty string");
    }
    if cmd.contains('/') {
        let p = PathBuf::from(cmd);
        return if p.is_file() {
            Ok(p)
        } else {
            usage(format!("command {cmd:?} does not exist"))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(cmd);
        if p.is_file() {
            return Ok(p);
        }
    }
    usage(format!("command {cmd:?} not found on PATH"))
}

/// Why a program cannot take a preloaded library, if it cannot.
pub fn preload_problem(path: &Path) -> Option<String> {
    let data = std::fs::read(path).ok()?;
    if data.starts_with(b"#!") {
        return None; // a script: its interpreter gets the shim
    }
    if !data.starts_with(b"\x7fELF") {
        return Some(format!(
            "{} is neither an ELF program nor a script",
            path.display()
        ));
    }
    if data.len() < 64 || data[4] != 2 || data[5] != 1 {
        return Some(format!(
            "{} is not a 64-bit little-endian ELF program",
            path.display()
        ));
    }
    let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(data[32..40].try_into().ok()?) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    let has_interp = (0..phnum).any(|i| {
        let o = phoff + i * phentsize;
        data.get(o..o + 4)
            .is_some_and(|t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]) == 3)
    });
    if has_interp {
        None
    } else {
        Some(format!(
            "{} is statically linked: the dynamic loader never runs for it, so a \
             preloaded library (LD_PRELOAD) cannot be loaded into it and its allocations \
             cannot be recorded",
            path.display()
        ))
    }
}

/// The shim library: `--shim`, `$COOKBOOK_PROFILE_SHIM`, or next to this executable.
pub fn find_shim(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            usage(format!("--shim {:?} does not exist", p.display()))
        };
    }
    if let Some(p) = std::env::var_os("COOKBOOK_PROFILE_SHIM") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| CliError::Failed(e.to_string()))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let mut tried = vec![];
    for base in [
        dir.to_path_buf(),
        dir.join("../release"),
        dir.join("../debug"),
    ] {
        let p = base.join(SHIM_FILE);
        if p.is_file() {
            return Ok(p);
        }
        tried.push(p.display().to_string());
    }
    // From the source tree: build it once, as `cookbook run` builds GoAlloc's library.
    let src = Path::new(env!("CARGO_MANIFEST_DIR"));
    if src.join("examples/profile_shim.rs").is_file() {
        eprintln!("cookbook profile: building the recording shim once: {SHIM_BUILD}");
        let built = Command::new("cargo")
            .current_dir(src)
            .args(SHIM_BUILD.split_whitespace().skip(1))
            .status()
            .is_ok_and(|s| s.success());
        let p = src.join("target/release").join(SHIM_FILE);
        if built && p.is_file() {
            return Ok(p);
        }
    }
    failed(format!(
        "the recording shim is not built (looked for {}): build it with `{SHIM_BUILD}`, \
         or pass --shim PATH",
        tried.join(", ")
    ))
}

fn profile_command(o: &Args) -> Result<()> {
    let shim = find_shim(o.shim.as_deref())?;
    let shim = shim.canonicalize().unwrap_or(shim);
    let words: Vec<String> = o
        .command
        .iter()
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    let program = resolve_command(&words[0])?;
    if let Some(why) = preload_problem(&program) {
        return usage(why);
    }
    let (dir, temporary) = match &o.dir {
        Some(d) => (d.clone(), false),
        None => {
            let d = std::env::temp_dir().join(format!(
                "cookbook-profile-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ));
            (d, true)
        }
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::Failed(format!("cannot create {}: {e}", dir.display())))?;
    let preload = match std::env::var("LD_PRELOAD") {
        Ok(old) if !old.is_empty() => format!("{}:{old}", shim.display()),
        _ => shim.display().to_string(),
    };
    let mut cmd = Command::new(&o.command[0]);
    cmd.args(&o.command[1..])
        .env("LD_PRELOAD", preload)
        .env("COOKBOOK_PROFILE_DIR", &dir)
        .env("COOKBOOK_PROFILE_SAMPLE", o.call_sites.to_string())
        .env(
            "COOKBOOK_PROFILE_OBJECTS",
            if o.histogram_only { "0" } else { "1" },
        );
    if o.json {
        // Keep standard output for the JSON: the program's own output goes to stderr.
        if let Ok(fd) = std::os::fd::AsFd::as_fd(&std::io::stderr()).try_clone_to_owned() {
            cmd.stdout(Stdio::from(fd));
        }
    }
    eprintln!(
        "cookbook profile: running {:?} with the recording shim (call sites: {}); profiles in {}",
        words.join(" "),
        sample_words(o.call_sites),
        dir.display()
    );
    // Ctrl-C and Ctrl-\ are the program's business: it dies of them, and the
    // report then says so and shows what it had allocated.
    super::run::restore_default_signals(&mut cmd);
    let saved = super::run::ignore_interactive_signals();
    let start = Instant::now();
    let spawned = cmd.spawn();
    let waited = spawned.map(|mut child| (child.id() as u64, child.wait()));
    super::run::restore_signals(saved);
    let (pid, status) = match waited {
        Ok((pid, Ok(st))) => (pid, st),
        Ok((_, Err(e))) => return failed(format!("waiting for {:?}: {e}", words[0])),
        Err(e) => return usage(format!("cannot start {:?}: {e}", words[0])),
    };
    let wall = start.elapsed().as_secs_f64();
    let exit = exit_words(&status);
    let result = read_dir(&dir).and_then(|procs| {
        let report = Report::build(procs, pid, exit.clone(), wall)?;
        emit(&report, o)
    });
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn sample_words(rate: u64) -> String {
    match rate {
        0 => "off".into(),
        1 => "every allocation".into(),
        n => format!(
            "sampled, one stack per {} allocated on average",
            bytes_words(n)
        ),
    }
}

fn exit_words(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(s)) => format!("killed by signal {s} ({})", signal_name(s)),
        _ => "ended".into(),
    }
}

fn signal_name(s: i32) -> &'static str {
    match s {
        1 => "SIGHUP",
        2 => "SIGINT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => "signal",
    }
}

/// Human bytes: 512 B, 4.0 KiB, 1.5 MiB.
pub fn bytes_words(b: u64) -> String {
    let f = b as f64;
    if b < 1024 {
        format!("{b} B")
    } else if b < 1 << 20 {
        format!("{:.1} KiB", f / 1024.0)
    } else if b < 1 << 30 {
        format!("{:.1} MiB", f / (1 << 20) as f64)
    } else {
        format!("{:.2} GiB", f / (1u64 << 30) as f64)
    }
}

// ---------------------------------------------------------------------------
// Reading profile files.

/// One process's profile, read from its file.
pub struct Process {
    /// The file it was read from.
    pub path: PathBuf,
    /// The `.N` of `<pid>.N.cbprof`: how many times this pid exec'd before.
    pub exec_seq: u64,
    data: Vec<u64>,
}

impl Process {
    /// Reads and checks one profile file.
    pub fn read(path: &Path) -> Result<Process> {
        let bytes = std::fs::read(path)
            .map_err(|e| CliError::Failed(format!("cannot read {}: {e}", path.display())))?;
        if bytes.len() < FILE_BYTES {
            return failed(format!(
                "{} is {} bytes, not a profile of this version ({FILE_BYTES} bytes)",
                path.display(),
                bytes.len()
            ));
        }
        let data: Vec<u64> = bytes[..FILE_BYTES]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let stem = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let exec_seq = stem
            .trim_end_matches(".cbprof")
            .split('.')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let p = Process {
            path: path.to_path_buf(),
            exec_seq,
            data,
        };
        if p.f().header.magic.load(R) != MAGIC {
            return failed(format!(
                "{} is not a profile: the program died before its profile was set up",
                path.display()
            ));
        }
        if p.f().header.version.load(R) != VERSION {
            return failed(format!(
                "{} is a profile of another format version",
                path.display()
            ));
        }
        Ok(p)
    }

    /// The file's contents in the shim's layout.
    pub fn f(&self) -> &ProfileFile {
        // SAFETY: `data` holds FILE_BYTES bytes, 8-aligned; ProfileFile is repr(C)
        // made only of AtomicU64 (same layout as u64), so every bit pattern is valid.
        unsafe { &*(self.data.as_ptr() as *const ProfileFile) }
    }

    fn h(&self) -> &Header {
        &self.f().header
    }

    pub fn pid(&self) -> u64 {
        self.h().pid.load(R)
    }

    pub fn complete(&self) -> bool {
        self.h().state.load(R) == STATE_COMPLETE
    }

    fn text(words: &[core::sync::atomic::AtomicU64]) -> Vec<u8> {
        let mut v: Vec<u8> = words.iter().flat_map(|w| w.load(R).to_le_bytes()).collect();
        while v.last() == Some(&0) {
            v.pop();
        }
        v
    }

    /// The command line the process was started with.
    pub fn cmdline(&self) -> String {
        Self::text(&self.h().cmdline)
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn exe(&self) -> String {
        String::from_utf8_lossy(&Self::text(&self.h().exe)).into_owned()
    }

    /// Calls and bytes per kind of [`KINDS`], summed over the threads.
    pub fn calls(&self) -> Vec<(u64, u64)> {
        let f = self.f();
        (0..KINDS.len())
            .map(|k| {
                f.threads.iter().fold((0, 0), |(c, b), t| {
                    (c + t.calls[k].load(R), b + t.kind_bytes[k].load(R))
                })
            })
            .collect()
    }

    /// Allocation events made in this process (not counting a parent's before a fork).
    pub fn allocations(&self) -> u64 {
        let calls = self.calls();
        [
            K_MALLOC,
            K_CALLOC,
            K_REALLOC,
            K_POSIX_MEMALIGN,
            K_ALIGNED_ALLOC,
            K_MEMALIGN,
            K_VALLOC,
            K_PVALLOC,
            K_REALLOCARRAY,
        ]
        .iter()
        .map(|&k| calls[k].0)
        .sum()
    }

    /// `(size, count)` for every request size; large sizes outside the exact
    /// table are given as their log bucket's mean (`approximate` counts them).
    pub fn histogram(&self) -> (Vec<(usize, u64)>, u64) {
        let f = self.f();
        let mut out: Vec<(usize, u64)> = f
            .exact
            .iter()
            .enumerate()
            .map(|(s, c)| (s, c.load(R)))
            .filter(|&(_, c)| c > 0)
            .collect();
        let mut in_bucket = [(0u64, 0u64); LARGE_BUCKETS];
        for e in &f.large_exact {
            let (s, c) = (e[0].load(R), e[1].load(R));
            if s > 0 && c > 0 {
                out.push((s as usize, c));
                let b = large_bucket(s);
                in_bucket[b].0 += c;
                in_bucket[b].1 += c * s;
            }
        }
        let mut approximate = 0;
        for ((count, sum), seen) in f.large_count.iter().zip(&f.large_sum).zip(in_bucket) {
            let c = count.load(R).saturating_sub(seen.0);
            let s = sum.load(R).saturating_sub(seen.1);
            if let Some(mean) = s.checked_div(c) {
                out.push((mean as usize, c));
                approximate += c;
            }
        }
        out.sort();
        (out, approximate)
    }

    /// `/proc/self/maps` as last snapshotted.
    pub fn maps(&self) -> String {
        let v = self.h().maps_len.load(R);
        let (half, len) = ((v >> 32) as usize, (v & 0xffff_ffff) as usize);
        let bytes: Vec<u8> = self
            .f()
            .maps
            .iter()
            .flat_map(|w| w.load(R).to_le_bytes())
            .skip(half * MAPS_BYTES / 2)
            .take(len.min(MAPS_BYTES / 2))
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

const R: core::sync::atomic::Ordering = core::sync::atomic::Ordering::Relaxed;

/// Every profile in `dir`, in pid order.
pub fn read_dir(dir: &Path) -> Result<Vec<Process>> {
    let mut out = vec![];
    let entries = std::fs::read_dir(dir)
        .map_err(|e| CliError::Failed(format!("cannot read {}: {e}", dir.display())))?;
    let mut problems = vec![];
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "cbprof") {
            match Process::read(&p) {
                Ok(pr) => out.push(pr),
                Err(CliError::Failed(m)) => problems.push(m),
                Err(e) => return Err(e),
            }
        }
    }
    for m in problems {
        eprintln!("cookbook profile: {m}");
    }
    out.sort_by_key(|p| (p.pid(), p.exec_seq));
    Ok(out)
}

// ---------------------------------------------------------------------------
// Symbolization.

struct Mapping {
    start: u64,
    end: u64,
    offset: u64,
    path: String,
}

fn parse_maps(text: &str) -> Vec<Mapping> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let range = f.next()?;
            let _perms = f.next()?;
            let offset = u64::from_str_radix(f.next()?, 16).ok()?;
            let _dev = f.next()?;
            let _inode = f.next()?;
            let path = f.collect::<Vec<_>>().join(" ");
            let (a, b) = range.split_once('-')?;
            Some(Mapping {
                start: u64::from_str_radix(a, 16).ok()?,
                end: u64::from_str_radix(b, 16).ok()?,
                offset,
                path,
            })
        })
        .collect()
}

/// One source-level frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub function: String,
    pub location: Option<String>,
    pub object: String,
}

struct Object {
    loader: Option<addr2line::Loader>,
    /// (file offset, size, vaddr) of each loadable segment.
    segments: Vec<(u64, u64, u64)>,
    dynsyms: Vec<(u64, u64, String)>,
}

fn load_object(path: &str) -> Option<Object> {
    use object::{Object as _, ObjectSegment as _, ObjectSymbol as _};
    let data = std::fs::read(path).ok()?;
    let file = object::File::parse(&*data).ok()?;
    let segments = file
        .segments()
        .filter_map(|s| {
            let (off, size) = s.file_range();
            (size > 0).then_some((off, size, s.address()))
        })
        .collect();
    let mut dynsyms: Vec<(u64, u64, String)> = file
        .dynamic_symbols()
        .chain(file.symbols())
        .filter(|s| s.is_definition() && s.address() > 0)
        .filter_map(|s| {
            let n = s.name().ok()?;
            Some((
                s.address(),
                s.size(),
                addr2line::demangle_auto(n.into(), None).into_owned(),
            ))
        })
        .collect();
    dynsyms.sort();
    Some(Object {
        loader: addr2line::Loader::new(path).ok(),
        segments,
        dynsyms,
    })
}

struct Symbolizer {
    maps: Vec<Mapping>,
    objects: HashMap<String, Option<Object>>,
}

impl Symbolizer {
    fn new(maps: &str) -> Symbolizer {
        Symbolizer {
            maps: parse_maps(maps),
            objects: HashMap::new(),
        }
    }

    /// The source frames (innermost first) for one return address.
    fn frames(&mut self, addr: u64) -> Vec<Frame> {
        // A return address points after the call: look up the call itself.
        let probe = addr.saturating_sub(1);
        let Some(m) = self.maps.iter().find(|m| m.start <= probe && probe < m.end) else {
            return vec![Frame {
                function: format!("{addr:#x}"),
                location: None,
                object: "?".into(),
            }];
        };
        let path = m.path.clone();
        let file_off = probe - m.start + m.offset;
        let obj = self
            .objects
            .entry(path.clone())
            .or_insert_with(|| load_object(&path));
        let unknown = |object: &str| Frame {
            function: format!("{}+{file_off:#x}", short_object(object)),
            location: None,
            object: object.to_string(),
        };
        let Some(obj) = obj else {
            return vec![unknown(&path)];
        };
        let Some(vaddr) = obj
            .segments
            .iter()
            .find(|(o, s, _)| *o <= file_off && file_off < o + s)
            .map(|(o, _, v)| file_off - o + v)
        else {
            return vec![unknown(&path)];
        };
        let mut out = vec![];
        if let Some(l) = &obj.loader {
            if let Ok(mut it) = l.find_frames(vaddr) {
                while let Ok(Some(f)) = it.next() {
                    let function = f
                        .function
                        .as_ref()
                        .and_then(|n| n.demangle().ok().map(|s| s.into_owned()));
                    let location = f
                        .location
                        .as_ref()
                        .and_then(|loc| Some(format!("{}:{}", short_path(loc.file?), loc.line?)));
                    if let Some(function) = function {
                        out.push(Frame {
                            function,
                            location,
                            object: path.clone(),
                        });
                    }
                }
            }
            if out.is_empty() {
                if let Some(s) = l.find_symbol(vaddr) {
                    out.push(Frame {
                        function: addr2line::demangle_auto(s.into(), None).into_owned(),
                        location: None,
                        object: path.clone(),
                    });
                }
            }
        }
        if out.is_empty() {
            let i = obj.dynsyms.partition_point(|(a, _, _)| *a <= vaddr);
            if let Some((a, size, name)) = i.checked_sub(1).map(|i| &obj.dynsyms[i]) {
                // Only a symbol whose extent holds the address: a stripped
                // program's internal functions are not in its symbol tables.
                if vaddr < a + size {
                    out.push(Frame {
                        function: name.clone(),
                        location: None,
                        object: path.clone(),
                    });
                }
            }
        }
        if out.is_empty() {
            out.push(unknown(&path));
        }
        out
    }
}

fn short_object(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// The last two components of a source path (`src/main.rs`).
fn short_path(p: &str) -> String {
    let parts: Vec<&str> = p.rsplit('/').take(2).collect();
    parts.into_iter().rev().collect::<Vec<_>>().join("/")
}

/// Frames that are the allocation machinery rather than the program's own
/// code: the site of an allocation is the first frame that is not one of these.
fn is_plumbing(f: &Frame) -> bool {
    let obj = short_object(&f.object);
    if obj.contains("profile_shim")
        || obj.starts_with("libc.so")
        || obj.starts_with("ld-linux")
        || obj.starts_with("libgcc_s")
    {
        return true;
    }
    let n = f.function.trim_start_matches('<');
    // `<T as alloc::…>::f`, `<u8 as core::…>::f`: a library trait's code for a
    // generic or primitive type is plumbing too (a path type like
    // `<my::Type as Clone>` is the program's own).
    let n = match n.split_once(" as ") {
        Some((ty, tr)) if !ty.contains("::") => tr.trim_start_matches('<'),
        _ => n,
    };
    const PREFIXES: [&str; 16] = [
        "[",
        "__rustc::",
        "alloc::",
        "core::",
        "std::",
        "hashbrown::",
        "__rust_",
        "__rdl_",
        "__rg_",
        "alloc_cookbook::counting",
        "operator new",
        "_Znwm",
        "_Znam",
        "malloc",
        "calloc",
        "realloc",
    ];
    PREFIXES.iter().any(|p| n.starts_with(p))
}

// ---------------------------------------------------------------------------
// The report.

/// An allocation site: the first frame of the program's own code.
#[derive(Debug, Clone)]
pub struct Site {
    pub function: String,
    pub location: Option<String>,
    /// The whole stack, innermost first (after the shim's own frames).
    pub stack: Vec<Frame>,
    pub sampled: u64,
    pub est_count: f64,
    pub est_bytes: f64,
    pub freed: u64,
    pub short_lived: u64,
    pub cross_thread_freed: u64,
    pub min_size: u64,
    pub max_size: u64,
    pub reallocs: u64,
}

impl Site {
    /// `function (file:line)`, or the function alone.
    pub fn name(&self) -> String {
        match &self.location {
            Some(l) => format!("{} ({l})", self.function),
            None => self.function.clone(),
        }
    }
}

/// A realloc chain, with where its object was first allocated.
#[derive(Debug, Clone)]
pub struct ChainReport {
    pub reallocs: u64,
    pub moves: u64,
    pub first_size: u64,
    pub final_size: u64,
    pub copied_bytes: u64,
    pub live_at_exit: bool,
    pub site: Option<String>,
}

/// One thread's counts.
#[derive(Debug, Clone)]
pub struct ThreadReport {
    pub tid: u64,
    pub allocs: u64,
    pub bytes: u64,
    pub frees: u64,
    pub freed_foreign: u64,
    pub freed_by_others: u64,
}

/// Waste of the program's exact requests under one allocator.
#[derive(Debug, Clone)]
pub struct WasteRow {
    pub allocator: &'static str,
    /// "measured" (the real allocator asked) or "model" (Go's table).
    pub how: &'static str,
    pub requested: u64,
    pub handed_out: u64,
}

/// A finding: a measured pattern and the chapter that treats it.
#[derive(Debug, Clone)]
pub struct Finding {
    pub title: String,
    pub chapter: &'static str,
    pub chapter_path: &'static str,
    pub detail: String,
}

/// Everything `cookbook profile` reports about one process.
pub struct Report {
    pub command: String,
    pub exe: String,
    pub pid: u64,
    pub exit: String,
    pub wall_s: f64,
    pub complete: bool,
    pub incomplete_why: Option<String>,
    pub sample_rate: u64,
    /// False for a histogram-only run (`--histogram-only`).
    pub objects_tracked: bool,
    pub calls: Vec<(&'static str, u64, u64)>,
    pub allocations: u64,
    pub frees: u64,
    pub peak_bytes: u64,
    pub peak_objects: u64,
    pub peak_at_index: u64,
    pub peak_at_s: f64,
    pub live_at_end: (u64, u64),
    pub inherited: (u64, u64),
    pub histogram: Vec<(usize, u64)>,
    pub approximate_large: u64,
    pub align_hist: Vec<(u64, u64)>,
    pub waste: Vec<WasteRow>,
    /// Sizes whose rounding under Go's classes wastes the most: (size, count, class size).
    pub costly_sizes: Vec<(usize, u64, usize)>,
    /// Freed objects by lifetime bucket (bit length of "allocations made meanwhile").
    pub lifetimes: Vec<u64>,
    /// Per Go class row: (class size or 0 for large, freed, short-lived).
    pub class_lifetimes: Vec<(usize, u64, u64)>,
    pub realloc: (u64, u64, u64),
    pub chain_hist: Vec<u64>,
    pub chains: Vec<ChainReport>,
    pub threads: Vec<ThreadReport>,
    pub cross_thread: (u64, u64),
    pub large: (u64, u64, u64, u64),
    pub sites: Vec<Site>,
    pub stacks_dropped: u64,
    pub unknown_frees: u64,
    pub failed: u64,
    pub others: Vec<(u64, String, u64, bool, String)>,
    pub findings: Vec<Finding>,
}

impl Report {
    /// Builds the report for the process `pid` (its last exec'd image) from all profiles read.
    pub fn build(procs: Vec<Process>, pid: u64, exit: String, wall_s: f64) -> Result<Report> {
        let Some(main_i) = procs.iter().rposition(|p| p.pid() == pid) else {
            return failed(format!(
                "the program left no profile (pid {pid}): the shim was not loaded into it \
                 (a setuid or statically linked program, or one that clears LD_PRELOAD), \
                 or it died before its first allocation{}",
                if procs.is_empty() {
                    String::new()
                } else {
                    format!("; {} other process(es) did leave profiles", procs.len())
                }
            ));
        };
        let others = procs
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != main_i)
            .map(|(_, p)| {
                (
                    p.pid(),
                    p.cmdline(),
                    p.allocations(),
                    p.complete(),
                    if p.pid() == pid {
                        "an earlier image of the same process (it exec'd)".to_string()
                    } else if p.h().fork_parent.load(R) != 0 {
                        format!("forked from {}", p.h().fork_parent.load(R))
                    } else {
                        format!("started by {}", p.h().ppid.load(R))
                    },
                )
            })
            .collect();
        let p = &procs[main_i];
        Ok(Self::from_process(p, exit, wall_s, others))
    }

    fn from_process(
        p: &Process,
        exit: String,
        wall_s: f64,
        others: Vec<(u64, String, u64, bool, String)>,
    ) -> Report {
        let f = p.f();
        let h = &f.header;
        let ld = |a: &core::sync::atomic::AtomicU64| a.load(R);
        let complete = p.complete();
        let incomplete_why = (!complete).then(|| {
            format!(
                "the program {exit} without running its exit handlers (as after `_exit` or a \
                 signal): every counter below is as it was when the program ended, but the \
                 end-of-run summaries are missing (objects still live at exit are not \
                 counted in the realloc chains, and libraries loaded since the last \
                 /proc/self/maps snapshot are not symbolized)"
            )
        });
        let (histogram, approximate_large) = p.histogram();
        let calls: Vec<(&'static str, u64, u64)> = KINDS
            .iter()
            .enumerate()
            .zip(p.calls())
            .map(|((_, name), (c, b))| (*name, c, b))
            .collect();
        let waste = waste_rows(&histogram);
        let mut costly: Vec<(usize, u64, usize)> = histogram
            .iter()
            .map(|&(s, c)| (s, c, Scheme::Go.usable(s.max(1))))
            .filter(|&(s, _, u)| u > s)
            .collect();
        costly.sort_by_key(|&(s, c, u)| std::cmp::Reverse((u - s) as u64 * c));
        costly.truncate(10);
        let mut lifetimes = vec![0u64; LIFE_BUCKETS];
        let mut class_lifetimes = vec![];
        for (row, buckets) in f.life.iter().enumerate() {
            let mut freed = 0;
            let mut short = 0;
            for (b, c) in buckets.iter().enumerate() {
                let c = ld(c);
                lifetimes[b] += c;
                freed += c;
                // Bucket b holds lifetimes below 2^b.
                if b < 64 && (1u64 << b) <= SHORT_LIVED {
                    short += c;
                }
            }
            if freed > 0 {
                class_lifetimes.push((if row == 0 { 0 } else { GO.size(row as u8) }, freed, short));
            }
        }
        while lifetimes.last() == Some(&0) {
            lifetimes.pop();
        }
        let mut sym = Symbolizer::new(&p.maps());
        let used = (ld(&h.stacks_used) as usize).min(STACKS);
        let mut stack_site: HashMap<u64, String> = HashMap::new();
        let mut by_site: BTreeMap<String, Site> = BTreeMap::new();
        for (id, s) in f.stacks.iter().enumerate().take(used).skip(1) {
            let n = (ld(&s.nframes) as usize).min(FRAMES);
            let mut stack: Vec<Frame> = vec![];
            for a in s.frames[..n].iter().map(ld).filter(|&a| a != 0) {
                stack.extend(sym.frames(a));
            }
            // Drop the shim's own frames at the top.
            let first_real = stack
                .iter()
                .position(|fr| !short_object(&fr.object).contains("profile_shim"))
                .unwrap_or(0);
            let stack = stack.split_off(first_real);
            let site_frame = stack
                .iter()
                .find(|fr| !is_plumbing(fr))
                .or(stack.first())
                .cloned()
                .unwrap_or(Frame {
                    function: "(no frames)".into(),
                    location: None,
                    object: String::new(),
                });
            let site = Site {
                function: site_frame.function.clone(),
                location: site_frame.location.clone(),
                stack: stack.clone(),
                sampled: ld(&s.count),
                est_count: ld(&s.est_count_x1024) as f64 / 1024.0,
                est_bytes: ld(&s.est_bytes) as f64,
                freed: ld(&s.freed),
                short_lived: ld(&s.short_lived),
                cross_thread_freed: ld(&s.cross_thread_freed),
                min_size: ld(&s.min_size),
                max_size: ld(&s.max_size),
                reallocs: ld(&s.reallocs),
            };
            let key = site.name();
            stack_site.insert(id as u64, key.clone());
            by_site
                .entry(key)
                .and_modify(|t| {
                    t.sampled += site.sampled;
                    t.est_count += site.est_count;
                    t.est_bytes += site.est_bytes;
                    t.freed += site.freed;
                    t.short_lived += site.short_lived;
                    t.cross_thread_freed += site.cross_thread_freed;
                    t.min_size = t.min_size.min(site.min_size);
                    t.max_size = t.max_size.max(site.max_size);
                    t.reallocs += site.reallocs;
                })
                .or_insert(site);
        }
        let mut sites: Vec<Site> = by_site.into_values().collect();
        sites.sort_by(|a, b| b.est_count.total_cmp(&a.est_count));
        let mut chains: Vec<ChainReport> = f
            .chains
            .iter()
            .filter(|c| ld(&c.reallocs) > 0)
            .map(|c| ChainReport {
                reallocs: ld(&c.reallocs),
                moves: ld(&c.moves),
                first_size: ld(&c.first_size),
                final_size: ld(&c.final_size),
                copied_bytes: ld(&c.copied_bytes),
                live_at_exit: ld(&c.live_at_exit) != 0,
                site: stack_site.get(&ld(&c.stack)).cloned(),
            })
            .collect();
        chains.sort_by_key(|c| std::cmp::Reverse((c.reallocs, c.copied_bytes)));
        let threads = f
            .threads
            .iter()
            .take((ld(&h.threads_used) as usize).min(THREADS))
            .filter(|t| ld(&t.allocs) + ld(&t.frees) > 0)
            .map(|t| ThreadReport {
                tid: ld(&t.tid),
                allocs: ld(&t.allocs),
                bytes: ld(&t.bytes),
                frees: ld(&t.frees),
                freed_foreign: ld(&t.freed_foreign),
                freed_by_others: ld(&t.freed_by_others),
            })
            .collect();
        let mut chain_hist: Vec<u64> = h.chain_hist.iter().map(ld).collect();
        while chain_hist.last() == Some(&0) {
            chain_hist.pop();
        }
        let align_hist = h
            .align_hist
            .iter()
            .enumerate()
            .map(|(i, c)| (1u64 << i, ld(c)))
            .filter(|&(_, c)| c > 0)
            .collect();
        let start = ld(&h.start_ns);
        let mut r = Report {
            command: p.cmdline(),
            exe: p.exe(),
            pid: p.pid(),
            exit,
            wall_s,
            complete,
            incomplete_why,
            sample_rate: ld(&h.sample_rate),
            allocations: p.allocations(),
            frees: p.calls()[K_FREE].0,
            objects_tracked: ld(&h.objects_tracked) != 0,
            calls,
            peak_bytes: ld(&h.peak_bytes),
            peak_objects: ld(&h.peak_objects),
            peak_at_index: ld(&h.peak_index),
            peak_at_s: ld(&h.peak_ns).saturating_sub(start) as f64 / 1e9,
            live_at_end: (ld(&h.live_objects), ld(&h.live_bytes)),
            inherited: (ld(&h.inherited_objects), ld(&h.inherited_bytes)),
            histogram,
            approximate_large,
            align_hist,
            waste,
            costly_sizes: costly,
            lifetimes,
            class_lifetimes,
            realloc: (
                ld(&h.realloc_in_place),
                ld(&h.realloc_moved),
                ld(&h.realloc_copied_bytes),
            ),
            chain_hist,
            chains,
            threads,
            cross_thread: (ld(&h.cross_thread_frees), ld(&h.cross_thread_bytes)),
            large: (
                ld(&h.large_allocs),
                ld(&h.large_frees),
                ld(&h.large_bytes),
                ld(&h.large_peak_bytes),
            ),
            sites,
            stacks_dropped: ld(&h.stacks_dropped),
            unknown_frees: ld(&h.unknown_frees),
            failed: ld(&h.failed),
            others,
            findings: vec![],
        };
        r.findings = findings(&r);
        r
    }

    /// Requests counted in the histogram.
    pub fn requests(&self) -> u64 {
        self.histogram.iter().map(|&(_, c)| c).sum()
    }

    /// The histogram's entries for tiny requests (1 to 16 bytes): `(size, count)`.
    pub fn tiny_sizes(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.histogram
            .iter()
            .copied()
            .filter(|&(s, _)| s > 0 && s <= 16)
    }
}

/// The program's exact requests under Go's classes (model = the table
/// GoAlloc follows) and glibc, mimalloc and jemalloc (measured: each distinct
/// size allocated once from the real allocator, as `cookbook usable` does).
pub fn waste_rows(hist: &[(usize, u64)]) -> Vec<WasteRow> {
    let requested: u64 = hist.iter().map(|&(s, c)| s as u64 * c).sum();
    let go = analysis::waste_report(
        &hist
            .iter()
            .filter(|&&(s, _)| s > 0)
            .copied()
            .collect::<Vec<_>>(),
    );
    let mut rows = vec![WasteRow {
        allocator: "go",
        how: "model",
        requested,
        handed_out: go.consumed,
    }];
    let measured = usable::measure(
        hist.iter()
            .map(|&(s, _)| s)
            .filter(|&s| s > 0 && s <= usable::MAX_MEASURED),
    );
    let by_size: HashMap<usize, &usable::UsableRow> =
        measured.iter().map(|r| (r.size, r)).collect();
    for (name, scheme, pick) in [
        (
            "glibc",
            Scheme::Glibc,
            (|r: &usable::UsableRow| r.glibc) as fn(&usable::UsableRow) -> usize,
        ),
        ("mimalloc", Scheme::Mimalloc, |r| r.mimalloc),
        ("jemalloc", Scheme::Jemalloc, |r| r.jemalloc),
    ] {
        let handed_out = hist
            .iter()
            .map(|&(s, c)| {
                let u = match by_size.get(&s) {
                    Some(r) => pick(r),
                    None => scheme.usable(s.max(1)),
                };
                u as u64 * c
            })
            .sum();
        rows.push(WasteRow {
            allocator: name,
            how: "measured",
            requested,
            handed_out,
        });
    }
    rows
}

fn pct(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        100.0 * a / b
    }
}

/// The findings: each a pattern the book treats, with the numbers that show it.
pub fn findings(r: &Report) -> Vec<Finding> {
    let mut out = vec![];
    let requests = r.requests().max(1);
    let consumed_go = r.waste.first().map_or(0, |w| w.handed_out).max(1);
    // Sizes just above a class boundary.
    let mut above: Vec<(usize, u64, usize, u64)> = r
        .histogram
        .iter()
        .filter(|&&(s, c)| s > 8 && s <= GO.max_small() && c >= 100)
        .filter_map(|&(s, c)| {
            let e = analysis::explain(s);
            let below = GO.size(e.class.saturating_sub(1));
            // Just above: the class below is within an eighth of the request.
            (e.class > 1 && s - below <= (s / 8).max(1) && e.waste_pct >= 10.0).then_some((
                s,
                c,
                e.rounded,
                (e.rounded - s) as u64 * c,
            ))
        })
        .collect();
    above.sort_by_key(|a| std::cmp::Reverse(a.3));
    let above_waste: u64 = above.iter().map(|a| a.3).sum();
    if !above.is_empty() && above_waste * 100 >= consumed_go {
        let list: Vec<String> = above
            .iter()
            .take(4)
            .map(|&(s, c, u, w)| {
                format!(
                    "{c} requests of {s} B land in the {u} B class ({} B each, {} in all; {} B would fit the class below)",
                    u - s,
                    bytes_words(w),
                    GO.size(GO.class_of(s) - 1)
                )
            })
            .collect();
        out.push(Finding {
            title: "requests just above a size-class boundary".into(),
            chapter: "Size-aligned layouts",
            chapter_path: "recipes/size-aligned.md",
            detail: format!(
                "{}; together {} wasted under Go's classes, {:.1}% of the bytes handed out",
                list.join("; "),
                bytes_words(above_waste),
                pct(above_waste as f64, consumed_go as f64)
            ),
        });
    }
    // Tiny requests.
    let tiny: u64 = r.tiny_sizes().map(|(_, c)| c).sum();
    let tiny_bytes: u64 = r.tiny_sizes().map(|(s, c)| s as u64 * c).sum();
    if tiny >= 1000 && tiny * 10 >= requests {
        let glibc: u64 = r
            .tiny_sizes()
            .map(|(s, c)| (Scheme::Glibc.usable(s) as u64 + 8) * c)
            .sum();
        out.push(Finding {
            title: "many tiny requests".into(),
            chapter: "Tiny objects",
            chapter_path: "recipes/tiny-objects.md",
            detail: format!(
                "{tiny} requests of 16 B or less ({:.1}% of all requests) ask for {} in all; \
                 glibc gives each a chunk of at least 32 B, {} for these alone",
                pct(tiny as f64, requests as f64),
                bytes_words(tiny_bytes),
                bytes_words(glibc)
            ),
        });
    }
    // Short-lived same-size objects.
    let mut pools: Vec<&(usize, u64, u64)> = r
        .class_lifetimes
        .iter()
        .filter(|(_, freed, short)| *short >= 1000 && short * 2 >= *freed)
        .collect();
    pools.sort_by_key(|c| std::cmp::Reverse(c.2));
    if let Some(&&(size, freed, short)) = pools.first() {
        let site = r
            .sites
            .iter()
            .filter(|s| {
                let class = |b: u64| analysis::explain(b.max(1) as usize).rounded;
                s.short_lived > 0
                    && size > 0
                    && class(s.min_size) == size
                    && class(s.max_size) == size
            })
            .max_by_key(|s| s.short_lived)
            .map(|s| format!("; the most from {}", s.name()))
            .unwrap_or_default();
        let class = if size == 0 {
            "large objects".to_string()
        } else {
            format!("the {size} B class")
        };
        out.push(Finding {
            title: "many short-lived objects of one size".into(),
            chapter: "Pooling",
            chapter_path: "recipes/pooling.md",
            detail: format!(
                "{short} of the {freed} objects freed from {class} ({:.0}%) were freed before \
                 {SHORT_LIVED} more allocations were made{site}{}",
                pct(short as f64, freed as f64),
                if pools.len() > 2 {
                    format!(" ({} more classes look the same)", pools.len() - 1)
                } else if pools.len() == 2 {
                    " (one more class looks the same)".to_string()
                } else {
                    String::new()
                }
            ),
        });
    }
    // Realloc chains.
    let long: u64 = r.chain_hist.iter().skip(4).sum();
    if let Some(c) = r.chains.first().filter(|c| c.reallocs >= 4) {
        out.push(Finding {
            title: "objects grown by repeated reallocs".into(),
            chapter: "Batch allocation (pre-size)",
            chapter_path: "recipes/batch.md",
            detail: format!(
                "{long} objects were reallocated 4 times or more; the longest went from {} to {} \
                 in {} reallocs, {} of them moves that copied {}{}; over the whole run \
                 reallocs copied {}",
                bytes_words(c.first_size),
                bytes_words(c.final_size),
                c.reallocs,
                c.moves,
                bytes_words(c.copied_bytes),
                c.site
                    .as_ref()
                    .map(|s| format!(" (allocated in {s})"))
                    .unwrap_or_default(),
                bytes_words(r.realloc.2)
            ),
        });
    }
    // Cross-thread frees.
    if r.cross_thread.0 > 0 {
        let frees = r.frees.max(1);
        let site = r
            .sites
            .iter()
            .filter(|s| s.cross_thread_freed > 0)
            .max_by_key(|s| s.cross_thread_freed)
            .map(|s| format!("; the most from {}", s.name()))
            .unwrap_or_default();
        out.push(Finding {
            title: "objects freed by another thread".into(),
            chapter: "Pooling (thread-safe pools) and Architecture (per-thread caches)",
            chapter_path: "recipes/pooling.md",
            detail: format!(
                "{} frees ({:.1}% of all frees, {}) released an object another thread had \
                 allocated: each goes back through a central list instead of the freeing \
                 thread's cache{site}",
                r.cross_thread.0,
                pct(r.cross_thread.0 as f64, frees as f64),
                bytes_words(r.cross_thread.1)
            ),
        });
    }
    // Large requests that churn.
    let (large_allocs, _, large_bytes, large_peak) = r.large;
    if large_allocs >= 16 && large_bytes >= 4 * large_peak.max(1) {
        out.push(Finding {
            title: "large requests that churn".into(),
            chapter: "Pooling (buffers)",
            chapter_path: "recipes/pooling.md",
            detail: format!(
                "{large_allocs} requests above 32 KiB asked for {} in all while at most {} of \
                 them were live at once ({:.0}x turnover): each is whole pages from the page \
                 heap or the OS, so a pool of buffers would keep them",
                bytes_words(large_bytes),
                bytes_words(large_peak),
                large_bytes as f64 / large_peak.max(1) as f64
            ),
        });
    }
    out
}

// ---------------------------------------------------------------------------
// Output.

fn emit(r: &Report, o: &Args) -> Result<()> {
    if let Some(p) = &o.svg {
        std::fs::write(p, histogram_svg(r))
            .map_err(|e| CliError::Failed(format!("cannot write {}: {e}", p.display())))?;
        eprintln!(
            "cookbook profile: size histogram written to {}",
            p.display()
        );
    }
    if let Some(p) = &o.html {
        std::fs::write(p, html(r))
            .map_err(|e| CliError::Failed(format!("cannot write {}: {e}", p.display())))?;
        eprintln!("cookbook profile: report written to {}", p.display());
    }
    if o.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(r)).expect("JSON of plain values")
        );
    } else {
        print!("{}", text(r));
    }
    Ok(())
}

/// Log-bucketed histogram: (label, requests, bytes).
pub fn log_buckets(hist: &[(usize, u64)]) -> Vec<(String, u64, u64)> {
    let mut b: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for &(s, c) in hist {
        let k = if s <= 8 {
            3
        } else {
            usize::BITS - (s - 1).leading_zeros()
        };
        let e = b.entry(k).or_default();
        e.0 += c;
        e.1 += s as u64 * c;
    }
    b.into_iter()
        .map(|(k, (c, by))| {
            let hi = 1u64 << k;
            let label = if k == 3 {
                "≤8 B".to_string()
            } else {
                format!("≤{}", short_size(hi))
            };
            (label, c, by)
        })
        .collect()
}

fn short_size(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{}G", b >> 30)
    } else if b >= 1 << 20 {
        format!("{}M", b >> 20)
    } else if b >= 1 << 10 {
        format!("{}K", b >> 10)
    } else {
        format!("{b}")
    }
}

/// The size histogram as an SVG bar chart.
pub fn histogram_svg(r: &Report) -> String {
    let buckets = log_buckets(&r.histogram);
    let cats: Vec<String> = buckets.iter().map(|b| b.0.clone()).collect();
    svg::bar_chart(
        &format!("Request sizes: {}", trim_cmd(&r.command)),
        "requests",
        &cats,
        &[(
            "requests".to_string(),
            buckets.iter().map(|b| Some(b.1 as f64)).collect(),
        )],
    )
}

fn trim_cmd(c: &str) -> String {
    if c.chars().count() > 60 {
        format!("{}…", c.chars().take(59).collect::<String>())
    } else {
        c.to_string()
    }
}

/// The terminal report.
pub fn text(r: &Report) -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(
        w,
        "\n== cookbook profile: {} (pid {}, {})",
        r.command, r.pid, r.exe
    );
    let _ = writeln!(
        w,
        "{} after {:.2} s; call sites: {}",
        r.exit,
        r.wall_s,
        sample_words(r.sample_rate)
    );
    match &r.incomplete_why {
        Some(why) => {
            let _ = writeln!(w, "INCOMPLETE PROFILE: {why}");
        }
        None => {
            let _ = writeln!(w, "profile complete (the program's exit handlers ran)");
        }
    }
    if r.inherited.0 > 0 {
        let _ = writeln!(
            w,
            "forked with {} live objects ({}) inherited from its parent",
            r.inherited.0,
            bytes_words(r.inherited.1)
        );
    }
    let _ = writeln!(w, "\ncalls");
    for (name, calls, bytes) in &r.calls {
        if *calls > 0 {
            let _ = writeln!(w, "  {name:<20} {calls:>12} {:>12}", bytes_words(*bytes));
        }
    }
    let _ = writeln!(
        w,
        "  allocations {} · frees {} · failed {} · frees of blocks from before recording {}",
        r.allocations, r.frees, r.failed, r.unknown_frees
    );
    if !r.objects_tracked {
        let _ = writeln!(
            w,
            "histogram-only run: objects were not tracked (no peak, lifetimes, realloc chains or cross-thread frees)"
        );
    }
    let _ = writeln!(
        w,
        "peak live: {} in {} objects, at allocation #{} ({:.3} s after start); live at end: {} objects, {}",
        bytes_words(r.peak_bytes),
        r.peak_objects,
        r.peak_at_index,
        r.peak_at_s,
        r.live_at_end.0,
        bytes_words(r.live_at_end.1)
    );
    let _ = writeln!(w, "\nrequest sizes (exact to 32 KiB, log buckets above)");
    let buckets = log_buckets(&r.histogram);
    let max = buckets.iter().map(|b| b.1).max().unwrap_or(1).max(1);
    for (label, c, by) in &buckets {
        let bar = "█".repeat(((c * 40).div_ceil(max)) as usize);
        let _ = writeln!(w, "  {label:>8} {c:>11} {:>11}  {bar}", bytes_words(*by));
    }
    if r.approximate_large > 0 {
        let _ = writeln!(
            w,
            "  ({} large requests of sizes beyond the exact table are taken at their bucket's mean)",
            r.approximate_large
        );
    }
    if !r.align_hist.is_empty() {
        let a: Vec<String> = r
            .align_hist
            .iter()
            .map(|(al, c)| format!("{c} at {al} B"))
            .collect();
        let _ = writeln!(w, "  aligned requests: {}", a.join(", "));
    }
    let _ = writeln!(
        w,
        "\nwhat these exact requests cost under each allocator's classes"
    );
    let _ = writeln!(
        w,
        "  {:<10} {:>12} {:>12} {:>12} {:>7}",
        "allocator", "requested", "handed out", "wasted", "waste"
    );
    for row in &r.waste {
        let _ = writeln!(
            w,
            "  {:<10} {:>12} {:>12} {:>12} {:>6.1}%  ({})",
            row.allocator,
            bytes_words(row.requested),
            bytes_words(row.handed_out),
            bytes_words(row.handed_out - row.requested),
            pct(
                (row.handed_out - row.requested) as f64,
                row.handed_out as f64
            ),
            row.how
        );
    }
    if !r.costly_sizes.is_empty() {
        let _ = writeln!(w, "  sizes that waste the most under Go's classes:");
        for &(size, count, class) in r.costly_sizes.iter().take(6) {
            let _ = writeln!(
                w,
                "    {count:>10} × {size} B → {class} B: {} wasted",
                bytes_words((class - size) as u64 * count)
            );
        }
    }
    let _ = writeln!(
        w,
        "\nlifetimes (allocations made between an object's allocation and its free)"
    );
    let total: u64 = r.lifetimes.iter().sum();
    for (b, c) in r.lifetimes.iter().enumerate() {
        if *c > 0 {
            let range = if b == 0 {
                "0".to_string()
            } else {
                format!("<{}", 1u64 << b)
            };
            let _ = writeln!(
                w,
                "  {range:>12} {c:>11} {:>5.1}%",
                pct(*c as f64, total as f64)
            );
        }
    }
    let _ = writeln!(
        w,
        "\nreallocs: {} in place, {} moved, {} copied; chains by length: {}",
        r.realloc.0,
        r.realloc.1,
        bytes_words(r.realloc.2),
        r.chain_hist
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(_, c)| **c > 0)
            .map(|(n, c)| format!("{n}:{c}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for c in r.chains.iter().take(5) {
        let _ = writeln!(
            w,
            "  {} reallocs ({} moves) grew {} → {}, copied {}{}{}",
            c.reallocs,
            c.moves,
            bytes_words(c.first_size),
            bytes_words(c.final_size),
            bytes_words(c.copied_bytes),
            if c.live_at_exit { ", live at exit" } else { "" },
            c.site
                .as_ref()
                .map(|s| format!(", allocated in {s}"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(
        w,
        "\nthreads: {} · cross-thread frees {} ({})",
        r.threads.len(),
        r.cross_thread.0,
        bytes_words(r.cross_thread.1)
    );
    for t in r.threads.iter().take(8) {
        let _ = writeln!(
            w,
            "  tid {:>8}: {:>10} allocs {:>10} frees {:>10} · freed others' {} · its freed by others {}",
            t.tid,
            t.allocs,
            bytes_words(t.bytes),
            t.frees,
            t.freed_foreign,
            t.freed_by_others
        );
    }
    if r.sample_rate > 0 {
        let _ = writeln!(
            w,
            "\ncall sites ({}; counts {})",
            sample_words(r.sample_rate),
            if r.sample_rate == 1 {
                "exact"
            } else {
                "estimated from the samples as Go does"
            }
        );
        for s in r.sites.iter().take(10) {
            let _ = writeln!(
                w,
                "  {:>10.0} allocs {:>11}  {}",
                s.est_count,
                bytes_words(s.est_bytes as u64),
                s.name()
            );
        }
        let mut by_bytes: Vec<&Site> = r.sites.iter().collect();
        by_bytes.sort_by(|a, b| b.est_bytes.total_cmp(&a.est_bytes));
        let _ = writeln!(w, "  by bytes:");
        for s in by_bytes.iter().take(5) {
            let _ = writeln!(
                w,
                "  {:>11} {:>10.0} allocs  {}",
                bytes_words(s.est_bytes as u64),
                s.est_count,
                s.name()
            );
        }
        if r.stacks_dropped > 0 {
            let _ = writeln!(
                w,
                "  ({} samples had no room in the stack table)",
                r.stacks_dropped
            );
        }
    }
    if !r.others.is_empty() {
        let _ = writeln!(w, "\nother processes profiled");
        for (pid, cmd, allocs, complete, how) in r.others.iter().take(20) {
            let _ = writeln!(
                w,
                "  pid {pid}: {allocs} allocations, {}, {how}: {}",
                if *complete { "complete" } else { "incomplete" },
                trim_cmd(cmd)
            );
        }
    }
    let _ = writeln!(w, "\nfindings");
    if r.findings.is_empty() {
        let _ = writeln!(
            w,
            "  none: no pattern the book treats stands out in these numbers"
        );
    }
    for f in &r.findings {
        let _ = writeln!(
            w,
            "  * {} — see \"{}\" ({})",
            f.title, f.chapter, f.chapter_path
        );
        let _ = writeln!(w, "    {}", f.detail);
    }
    s
}

/// The report as JSON.
pub fn to_json(r: &Report) -> Value {
    let mut a = json!({
        "command": r.command,
        "exe": r.exe,
        "pid": r.pid,
        "exit": r.exit,
        "wall_s": r.wall_s,
        "complete": r.complete,
        "incomplete_why": r.incomplete_why,
        "sample_rate": r.sample_rate,
        "objects_tracked": r.objects_tracked,
        "calls": r.calls.iter().map(|(k, c, b)| (k.to_string(), json!({"calls": c, "bytes": b}))).collect::<serde_json::Map<_, _>>(),
        "allocations": r.allocations,
        "frees": r.frees,
        "failed": r.failed,
        "unknown_frees": r.unknown_frees,
        "peak": {"bytes": r.peak_bytes, "objects": r.peak_objects, "at_allocation": r.peak_at_index, "at_s": r.peak_at_s},
        "live_at_end": {"objects": r.live_at_end.0, "bytes": r.live_at_end.1},
        "inherited": {"objects": r.inherited.0, "bytes": r.inherited.1},
        "histogram": r.histogram.iter().map(|&(s, c)| json!([s, c])).collect::<Vec<_>>(),
        "approximate_large": r.approximate_large,
        "alignments": r.align_hist.iter().map(|&(a, c)| json!([a, c])).collect::<Vec<_>>(),
        "waste": r.waste.iter().map(|w| json!({"allocator": w.allocator, "how": w.how, "requested": w.requested, "handed_out": w.handed_out})).collect::<Vec<_>>(),
        "costly_sizes": r.costly_sizes.iter().map(|&(s, c, u)| json!({"size": s, "count": c, "class_size": u})).collect::<Vec<_>>(),
    });
    let b = json!({
        "lifetime_buckets": r.lifetimes,
        "class_lifetimes": r.class_lifetimes.iter().map(|&(s, f, sh)| json!({"class_size": s, "freed": f, "short_lived": sh})).collect::<Vec<_>>(),
        "realloc": {"in_place": r.realloc.0, "moved": r.realloc.1, "copied_bytes": r.realloc.2},
        "chain_lengths": r.chain_hist,
        "chains": r.chains.iter().map(|c| json!({"reallocs": c.reallocs, "moves": c.moves, "first_size": c.first_size, "final_size": c.final_size, "copied_bytes": c.copied_bytes, "live_at_exit": c.live_at_exit, "site": c.site})).collect::<Vec<_>>(),
        "threads": r.threads.iter().map(|t| json!({"tid": t.tid, "allocs": t.allocs, "bytes": t.bytes, "frees": t.frees, "freed_foreign": t.freed_foreign, "freed_by_others": t.freed_by_others})).collect::<Vec<_>>(),
        "cross_thread_frees": {"count": r.cross_thread.0, "bytes": r.cross_thread.1},
        "large": {"allocs": r.large.0, "frees": r.large.1, "bytes": r.large.2, "peak_live_bytes": r.large.3},
        "sites": r.sites.iter().map(|s| json!({
            "function": s.function, "location": s.location, "sampled": s.sampled,
            "count": s.est_count, "bytes": s.est_bytes, "freed": s.freed,
            "short_lived": s.short_lived, "cross_thread_freed": s.cross_thread_freed,
            "min_size": s.min_size, "max_size": s.max_size, "reallocs": s.reallocs,
            "stack": s.stack.iter().map(|f| json!({"function": f.function, "location": f.location, "object": f.object})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "stacks_dropped": r.stacks_dropped,
        "other_processes": r.others.iter().map(|(pid, cmd, a, c, how)| json!({"pid": pid, "command": cmd, "allocations": a, "complete": c, "how": how})).collect::<Vec<_>>(),
        "findings": r.findings.iter().map(|f| json!({"title": f.title, "chapter": f.chapter, "chapter_path": f.chapter_path, "detail": f.detail})).collect::<Vec<_>>(),
    });
    if let (Value::Object(a), Value::Object(b)) = (&mut a, b) {
        a.extend(b);
    }
    a
}

/// A self-contained HTML page: the terminal report plus the histogram chart.
pub fn html(r: &Report) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    format!(
        "<!doctype html><meta charset=\"utf-8\"><title>cookbook profile: {}</title>\n<body style=\"font-family:sans-serif;max-width:60em;margin:auto\">\n<h1>cookbook profile</h1>\n{}\n<pre>{}</pre>\n</body>\n",
        esc(&r.command),
        histogram_svg(r),
        esc(&text(r))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_buckets_invert() {
        for b in large_bucket(EXACT_MAX as u64 + 1)..LARGE_BUCKETS - 1 {
            let lo = large_bucket_floor(b);
            assert_eq!(large_bucket(lo), b, "floor of {b}");
            assert_eq!(large_bucket(large_bucket_floor(b + 1) - 1), b, "top of {b}");
        }
    }

    #[test]
    fn lifetime_buckets_are_bit_lengths() {
        assert_eq!(life_bucket(0), 0);
        assert_eq!(life_bucket(1), 1);
        assert_eq!(life_bucket(SHORT_LIVED - 1), 10);
        assert_eq!(life_bucket(SHORT_LIVED), 11);
    }

    fn frame(function: &str, object: &str) -> Frame {
        Frame {
            function: function.into(),
            location: None,
            object: object.into(),
        }
    }

    #[test]
    fn plumbing_is_library_code_not_the_program() {
        for f in [
            "__rustc::__rust_alloc",
            "alloc::raw_vec::finish_grow",
            "<alloc::string::String as core::convert::From<&str>>::from",
            "<T as alloc::slice::<impl [T]>::to_vec_in::ConvertVec>::to_vec",
            "<u8 as <[_]>::to_vec_in::ConvertVec>::to_vec::<alloc::alloc::Global>",
            "hashbrown::raw::RawTable<T,A>::reserve_rehash",
        ] {
            assert!(is_plumbing(&frame(f, "/bin/prog")), "{f}");
        }
        for f in [
            "my_crate::parse",
            "<my_crate::Record as core::clone::Clone>::clone",
            "PyList_Append",
        ] {
            assert!(!is_plumbing(&frame(f, "/bin/prog")), "{f}");
        }
        assert!(is_plumbing(&frame(
            "strdup",
            "/usr/lib/x86_64-linux-gnu/libc.so.6"
        )));
    }

    #[test]
    fn call_site_rates() {
        assert_eq!(parse_call_sites("off").unwrap(), 0);
        assert_eq!(parse_call_sites("all").unwrap(), 1);
        assert_eq!(parse_call_sites("512KiB").unwrap(), 512 << 10);
        assert!(matches!(parse_call_sites("lots"), Err(CliError::Usage(m)) if m.contains("lots")));
    }

    #[test]
    fn static_programs_cannot_be_preloaded() {
        assert_eq!(preload_problem(Path::new("/bin/sh")), None);
        let me = std::env::current_exe().unwrap();
        assert_eq!(preload_problem(&me), None);
        let text =
            std::env::temp_dir().join(format!("cookbook-profile-{}.txt", std::process::id()));
        std::fs::write(&text, "not a program").unwrap();
        assert!(preload_problem(&text).unwrap().contains("neither an ELF"));
        let _ = std::fs::remove_file(&text);
        if Path::new("/sbin/ldconfig").is_file() {
            assert!(preload_problem(Path::new("/sbin/ldconfig"))
                .unwrap()
                .contains("statically linked"));
        }
    }

    #[test]
    fn maps_lines_parse() {
        let m = parse_maps(
            "55d0c0a00000-55d0c0a21000 r-xp 00002000 fd:01 123 /usr/bin/prog\n\
             7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \n",
        );
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].start, m[0].offset), (0x55d0c0a00000, 0x2000));
        assert_eq!(m[0].path, "/usr/bin/prog");
        assert_eq!(m[1].path, "");
    }

    #[test]
    fn log_bucket_labels() {
        let b = log_buckets(&[(1, 2), (8, 1), (9, 4), (33, 1), (40_000, 1)]);
        let labels: Vec<&str> = b.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(labels, ["≤8 B", "≤16", "≤64", "≤64K"]);
        assert_eq!(b[0].1, 3);
    }
}
