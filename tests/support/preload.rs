//! The preloadable library for tests that run programs on it (`LD_PRELOAD`).
//!
//! Use from a test file with `mod support;` (this folder's `mod.rs` declares
//! the module). [`preload_so`] builds the library with a nested
//! `cargo build --release --features preload --example goalloc_preload`
//! (a no-op when it is up to date; the first build in a clean target folder
//! takes about a minute) and returns the path of the `.so`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Path of `libgoalloc_preload.so` (release build, feature `preload`), built
/// or brought up to date on the first call of the test process. Panics with
/// cargo's output if the build fails.
pub fn preload_so() -> PathBuf {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target"));
        let target = if target.is_absolute() {
            target
        } else {
            repo_root().join(target)
        };
        let cargo = std::env::var_os("CARGO")
            .or_else(|| option_env!("CARGO").map(Into::into))
            .unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(repo_root())
            .args(["build", "--release", "--features", "preload"])
            .args(["--example", "goalloc_preload"])
            .arg("--target-dir")
            .arg(&target)
            .output()
            .expect("run cargo to build the preloadable library");
        assert!(
            out.status.success(),
            "building libgoalloc_preload.so failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let so = target.join("release/examples/libgoalloc_preload.so");
        assert!(so.exists(), "cargo built no {}", so.display());
        so
    })
    .clone()
}

/// Compiles `tests/c/<name>.c` with the system C compiler (`cc`, `-O1 -pthread`)
/// into the tests' scratch folder and returns the executable's path; `None`
/// (after printing why) when there is no C compiler.
pub fn compile_c(name: &str) -> Option<PathBuf> {
    let src = repo_root().join("tests/c").join(format!("{name}.c"));
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let exe = dir.join(name);
    let out = match Command::new("cc")
        .args(["-O1", "-g", "-Wall", "-pthread", "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            eprintln!("SKIPPED: no C compiler `cc` ({e}); install gcc to run {name}.c");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "cc {}: {}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(exe)
}
