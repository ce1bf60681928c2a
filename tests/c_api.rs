//! The C ABI from C: `tests/c/c_api.c`, compiled with the system C compiler
//! and run with `LD_PRELOAD` of the preloadable library, checks every
//! function's glibc semantics (errno, alignments to 1 MiB, usable sizes,
//! huge requests, realloc's special cases), allocation from a constructor
//! before `main`, from pthread key destructors in every round at thread
//! exit, from a child of a raw `clone`, and threads freeing each other's
//! objects. Skipped (with a message) where there is no C compiler.

mod support;

use std::process::Command;
use support::preload::{compile_c, preload_so};

#[test]
fn c_program_on_the_preloaded_library_sees_glibc_semantics() {
    let Some(exe) = compile_c("c_api") else {
        return;
    };
    let so = preload_so();
    let out = Command::new(&exe)
        .env("LD_PRELOAD", &so)
        .output()
        .expect("run the C test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} under LD_PRELOAD={}: {:?}\n{stdout}{stderr}",
        exe.display(),
        so.display(),
        out.status
    );
    assert!(stdout.contains(" 0 failed"), "{stdout}{stderr}");
}
