//! `cookbook run --alloc NAME -- CMD [ARGS...]`: run any dynamically linked
//! program with an allocator preloaded (`LD_PRELOAD`), passing its exit code
//! through (a death by signal N as 128+N, as a shell reports it).
//!
//! The allocator libraries, and where each comes from:
//!
//! | `--alloc` | library | from |
//! |---|---|---|
//! | `system` | none (glibc's malloc) | the C library |
//! | `goalloc` | `libgoalloc_preload.so` | this repository: `cargo build --release --features preload --example goalloc_preload` |
//! | `mimalloc` | `libmimalloc.so.2` | Debian `libmimalloc2.0` [`MIMALLOC_DEB`] |
//! | `jemalloc` | `libjemalloc.so.2` | Debian `libjemalloc2` [`JEMALLOC_DEB`] |
//! | `tcmalloc` | `libtcmalloc_minimal.so.4` | Debian `libtcmalloc-minimal4` [`TCMALLOC_DEB`] |
//!
//! GoAlloc's library is looked for next to this binary's target folder, then
//! in `CARGO_TARGET_DIR` and the source tree's `target/`; when none exists and
//! the source tree is there, it is built (saying so). An existing library is
//! used as it is: after changing the allocator, rebuild it with
//! [`GOALLOC_BUILD`] (tests/programs/run.sh does).
//!
//! The fact a reader would get wrong: preloading works only for dynamically
//! linked programs, and it replaces `malloc` for the program *and every
//! library it loads*; a statically linked program (or one that calls its own
//! allocator, like a Rust program with a `#[global_allocator]`) silently keeps
//! its own. `cookbook compare` measures the same libraries.

use super::{CliError, Result};
use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian package and pinned version of the preloadable mimalloc (Debian 12).
pub const MIMALLOC_DEB: (&str, &str) = ("libmimalloc2.0", "2.0.9+ds-2");
/// Debian package and pinned version of the preloadable jemalloc (Debian 12).
pub const JEMALLOC_DEB: (&str, &str) = ("libjemalloc2", "5.3.0-1");
/// Debian package and pinned version of the preloadable tcmalloc (gperftools, Debian 12).
pub const TCMALLOC_DEB: (&str, &str) = ("libtcmalloc-minimal4", "2.10-1");

/// The command that builds GoAlloc's preloadable library.
pub const GOALLOC_BUILD: &str =
    "cargo build --release --features preload --example goalloc_preload";
/// The file that command makes, under the target directory.
pub const GOALLOC_LIB: &str = "release/examples/libgoalloc_preload.so";
/// Environment variable naming GoAlloc's library explicitly (overrides the search).
pub const GOALLOC_ENV: &str = "COOKBOOK_GOALLOC_LIB";

/// An allocator a program can be run under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Alloc {
    /// glibc's malloc: nothing preloaded.
    System,
    /// This repository's GoAlloc, as a preloadable C allocator.
    Goalloc,
    /// Microsoft's mimalloc (Debian's build).
    Mimalloc,
    /// jemalloc (Debian's build).
    Jemalloc,
    /// gperftools' tcmalloc, minimal build (Debian's).
    Tcmalloc,
}

impl Alloc {
    /// Every allocator, in the order tables show them.
    pub const ALL: [Alloc; 5] = [
        Alloc::System,
        Alloc::Goalloc,
        Alloc::Mimalloc,
        Alloc::Jemalloc,
        Alloc::Tcmalloc,
    ];

    /// The name used on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Alloc::System => "system",
            Alloc::Goalloc => "goalloc",
            Alloc::Mimalloc => "mimalloc",
            Alloc::Jemalloc => "jemalloc",
            Alloc::Tcmalloc => "tcmalloc",
        }
    }

    /// The Debian package and pinned version, for the peers.
    pub fn debian(self) -> Option<(&'static str, &'static str)> {
        match self {
            Alloc::Mimalloc => Some(MIMALLOC_DEB),
            Alloc::Jemalloc => Some(JEMALLOC_DEB),
            Alloc::Tcmalloc => Some(TCMALLOC_DEB),
            Alloc::System | Alloc::Goalloc => None,
        }
    }

    fn soname(self) -> Option<&'static str> {
        match self {
            Alloc::Mimalloc => Some("libmimalloc.so.2"),
            Alloc::Jemalloc => Some("libjemalloc.so.2"),
            Alloc::Tcmalloc => Some("libtcmalloc_minimal.so.4"),
            Alloc::System | Alloc::Goalloc => None,
        }
    }
}

/// Where a library was found, and what it is.
#[derive(Debug, Clone)]
pub struct Library {
    /// The allocator.
    pub alloc: Alloc,
    /// The file to preload; `None` for the system allocator.
    pub path: Option<PathBuf>,
    /// What it is: the Debian package and installed version, or GoAlloc's build.
    pub version: String,
}

/// The `cookbook run` options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The allocator to preload.
    #[arg(long, value_enum)]
    pub alloc: Alloc,
    /// The program and its arguments (after `--`).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<OsString>,
}

/// Runs `cookbook run`.
pub fn run(args: Args) -> Result<()> {
    let lib = find(args.alloc, true)?;
    let (prog, rest) = args
        .command
        .split_first()
        .expect("clap requires at least one CMD word");
    let mut cmd = command(&lib, prog, rest);
    restore_default_signals(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| spawn_error(prog, e))?;
    // While the program runs, Ctrl-C and Ctrl-\ are its business: the
    // terminal sends them to it too, and its death is reported as 128+N.
    let old = ignore_interactive_signals();
    let status = child.wait();
    restore_signals(old);
    let status = status.map_err(|e| CliError::Failed(format!("waiting for the program: {e}")))?;
    Err(CliError::Exit(exit_code(status)))
}

/// The shell's exit code for a finished child: its code, or 128+N for signal N.
pub fn exit_code(status: std::process::ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(c), _) => (c & 0xff) as u8,
        (None, Some(s)) => (128 + s).clamp(0, 255) as u8,
        (None, None) => 1,
    }
}

/// A `Command` for `prog rest...` with `lib` preloaded.
pub fn command(lib: &Library, prog: &OsString, rest: &[OsString]) -> Command {
    let mut cmd = Command::new(prog);
    cmd.args(rest);
    if let Some(path) = &lib.path {
        let mut preload = path.as_os_str().to_os_string();
        if let Some(old) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
            preload.push(":");
            preload.push(old);
        }
        cmd.env("LD_PRELOAD", preload);
    }
    cmd
}

/// A usage error for a program that could not be started.
pub fn spawn_error(prog: &OsString, e: std::io::Error) -> CliError {
    let p = Path::new(prog).display();
    if e.kind() == std::io::ErrorKind::NotFound {
        CliError::Usage(format!("cannot run {p:?}: no such program"))
    } else {
        CliError::Usage(format!("cannot run {p:?}: {e}"))
    }
}

/// Resets SIGINT and SIGQUIT to their defaults in the child, whatever the
/// parent had (an ignored disposition survives `exec`).
pub fn restore_default_signals(cmd: &mut Command) {
    // SAFETY: the closure runs between fork and exec and calls only
    // `signal`, which is async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGQUIT, libc::SIG_DFL);
            Ok(())
        });
    }
}

type SavedSignals = (libc::sighandler_t, libc::sighandler_t);

/// Ignores SIGINT and SIGQUIT in this process; returns the old handlers.
pub fn ignore_interactive_signals() -> SavedSignals {
    // SAFETY: changing signal dispositions; the previous values are kept
    // and restored by `restore_signals`.
    unsafe {
        (
            libc::signal(libc::SIGINT, libc::SIG_IGN),
            libc::signal(libc::SIGQUIT, libc::SIG_IGN),
        )
    }
}

/// Puts back what `ignore_interactive_signals` replaced.
pub fn restore_signals((int, quit): SavedSignals) {
    // SAFETY: restoring the dispositions `ignore_interactive_signals` returned.
    unsafe {
        libc::signal(libc::SIGINT, int);
        libc::signal(libc::SIGQUIT, quit);
    }
}

/// Folders the dynamic loader searches for Debian's multiarch libraries.
fn library_dirs() -> Vec<PathBuf> {
    let arch = std::env::consts::ARCH;
    [
        format!("/usr/lib/{arch}-linux-gnu"),
        format!("/lib/{arch}-linux-gnu"),
        "/usr/lib".to_string(),
        "/usr/local/lib".to_string(),
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect()
}

fn dpkg_version(package: &str) -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", package])
        .output()
        .ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !v.is_empty()).then_some(v)
}

/// The source tree this binary was built from, if it is still there.
fn source_tree() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    root.join("examples/goalloc_preload.rs")
        .exists()
        .then_some(root)
}

/// Where GoAlloc's library can be: next to this binary's target dir, then
/// the source tree's target dir (or `CARGO_TARGET_DIR`).
fn goalloc_candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        // target/<profile>/cookbook -> target/
        if let Some(target) = exe.parent().and_then(Path::parent) {
            v.push(target.join(GOALLOC_LIB));
        }
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        v.push(PathBuf::from(dir).join(GOALLOC_LIB));
    }
    if let Some(root) = source_tree() {
        v.push(root.join("target").join(GOALLOC_LIB));
    }
    v
}

/// Finds the library of `alloc`. For GoAlloc, when the library is missing
/// and `build` is set and this binary's source tree is there, builds it with
/// cargo (saying so on standard error). A missing library is a usage error
/// (exit 2) naming how to get it.
pub fn find(alloc: Alloc, build: bool) -> Result<Library> {
    match alloc {
        Alloc::System => Ok(Library {
            alloc,
            path: None,
            version: glibc_version(),
        }),
        Alloc::Goalloc => find_goalloc(build),
        _ => {
            let (pkg, pinned) = alloc.debian().expect("a peer has a package");
            let soname = alloc.soname().expect("a peer has a soname");
            let found = library_dirs()
                .into_iter()
                .map(|d| d.join(soname))
                .find(|p| p.exists());
            let Some(path) = found else {
                return Err(CliError::Usage(format!(
                    "{}: {soname} is not installed; get it with: apt-get install {pkg}={pinned}",
                    alloc.name()
                )));
            };
            let version = match dpkg_version(pkg) {
                Some(v) if v == pinned => format!("Debian {pkg} {v}"),
                Some(v) => {
                    eprintln!(
                        "cookbook: note: {pkg} {v} is installed; the book's numbers use {pinned} (apt-get install {pkg}={pinned})"
                    );
                    format!("Debian {pkg} {v}")
                }
                None => format!("{} (not from a Debian package)", path.display()),
            };
            Ok(Library {
                alloc,
                path: Some(path),
                version,
            })
        }
    }
}

fn find_goalloc(build: bool) -> Result<Library> {
    let lib = |path: PathBuf| Library {
        alloc: Alloc::Goalloc,
        path: Some(path),
        version: format!("GoAlloc {}", env!("CARGO_PKG_VERSION")),
    };
    if let Some(p) = std::env::var_os(GOALLOC_ENV) {
        let p = PathBuf::from(p);
        return if p.exists() {
            Ok(lib(p))
        } else {
            Err(CliError::Usage(format!(
                "{GOALLOC_ENV}={} names no file",
                p.display()
            )))
        };
    }
    let candidates = goalloc_candidates();
    if let Some(p) = candidates.iter().find(|p| p.exists()) {
        return Ok(lib(p.clone()));
    }
    match source_tree() {
        Some(root) if build => {
            eprintln!("cookbook: GoAlloc's preload library is not built yet; building it ({GOALLOC_BUILD}) ...");
            let status = Command::new("cargo")
                .current_dir(&root)
                .args([
                    "build",
                    "--release",
                    "--quiet",
                    "--features",
                    "preload",
                    "--example",
                    "goalloc_preload",
                ])
                .status()
                .map_err(|e| CliError::Failed(format!("cannot run cargo: {e}")))?;
            if !status.success() {
                return Err(CliError::Failed(format!(
                    "building GoAlloc's preload library failed ({GOALLOC_BUILD} in {})",
                    root.display()
                )));
            }
            goalloc_candidates()
                .into_iter()
                .find(|p| p.exists())
                .map(lib)
                .ok_or_else(|| {
                    CliError::Failed(format!(
                        "{GOALLOC_BUILD} succeeded but made no {GOALLOC_LIB} under the target directory"
                    ))
                })
        }
        _ => Err(CliError::Usage(format!(
            "goalloc: libgoalloc_preload.so not found (looked at {}); build it in the cookbook's source tree with: {GOALLOC_BUILD}, or name it with {GOALLOC_ENV}=PATH",
            candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn glibc_version() -> String {
    // SAFETY: gnu_get_libc_version returns a pointer to a static NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(gnu_get_libc_version()) };
    format!("glibc {}", v.to_string_lossy())
}

extern "C" {
    fn gnu_get_libc_version() -> *const libc::c_char;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_pass_through() {
        let st = |code: i32| std::process::ExitStatus::from_raw(code);
        assert_eq!(exit_code(st(0)), 0);
        assert_eq!(exit_code(st(3 << 8)), 3);
        assert_eq!(exit_code(st(libc::SIGKILL)), 128 + 9);
    }

    #[test]
    fn system_needs_no_library() {
        let lib = find(Alloc::System, false).unwrap();
        assert!(lib.path.is_none());
        assert!(lib.version.starts_with("glibc "), "{}", lib.version);
    }

    #[test]
    fn a_missing_peer_names_the_apt_command() {
        for a in [Alloc::Mimalloc, Alloc::Jemalloc, Alloc::Tcmalloc] {
            match find(a, false) {
                Ok(lib) => assert!(lib.path.unwrap().exists()),
                Err(CliError::Usage(m)) => {
                    let (pkg, v) = a.debian().unwrap();
                    assert!(m.contains(&format!("apt-get install {pkg}={v}")), "{m}");
                }
                Err(e) => panic!("{e:?}"),
            }
        }
    }
}
