//! `cookbook`: the allocator cookbook's command-line tool.
//!
//! ```text
//! cookbook classes [--format table|tsv|json] [--page-size N] [--max-small N]
//! cookbook explain SIZE...
//! cookbook histogram FILE|-
//! cookbook usable [--max N] [--format table|tsv]
//! cookbook stats
//! cookbook book [--full] [--no-bench] [--only BENCH,...]
//! cookbook run --alloc system|goalloc|mimalloc|jemalloc|tcmalloc -- CMD [ARGS...]
//! cookbook compare [--runs N] [--alloc a,b,c] [--json] [--svg FILE] -- CMD [ARGS...]
//! cookbook help [COMMAND]
//! ```
//!
//! The command line is defined in `cli/mod.rs` (clap). Bad input prints a
//! message naming the bad value and exits with code 2; a failed run exits 1.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`cookbook classes | head`) like other
    // command-line tools, instead of panicking on the failed write.
    // SAFETY: setting a signal's disposition to the default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        // clap prints its own message (or the help) and picks the code: 2 for bad input, 0 for help.
        Err(cli::CliError::Parse(e)) => {
            let _ = e.print();
            ExitCode::from(e.exit_code().clamp(0, 255) as u8)
        }
        Err(cli::CliError::Usage(msg)) => {
            eprintln!("error: {msg}");
            eprintln!("run `cookbook help` for usage");
            ExitCode::from(2)
        }
        Err(cli::CliError::Exit(code)) => ExitCode::from(code),
        Err(cli::CliError::Failed(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}
