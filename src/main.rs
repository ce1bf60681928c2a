//! `cookbook`: the allocator cookbook's command-line tool.
//!
//! ```text
//! cookbook classes [--format table|tsv|json] [--page-size N] [--max-small N]
//! cookbook explain SIZE...
//! cookbook histogram FILE|-
//! cookbook usable [--max N] [--format table|tsv]
//! cookbook stats
//! cookbook book [--full] [--no-bench] [--only BENCH,...]
//! ```
//!
//! Bad input prints one line naming the bad value and exits with code 2.

mod cli;

use std::process::ExitCode;

const USAGE: &str = "usage: cookbook <command> [options]

commands:
  classes [--format table|tsv|json] [--page-size N] [--max-small N]
                      the size-class table, generated with Go's algorithm
  explain SIZE...     what a request of SIZE bytes costs, and cheaper sizes
  histogram FILE|-    waste report for a workload (lines: `size` or `size count`)
  usable [--max N] [--format table|tsv]
                      measured usable size per request: glibc, mimalloc, jemalloc, and Go's classes (go)
  stats               run a small workload on GoAlloc and print its statistics
  book [--full] [--no-bench] [--only BENCH,...]
                      run the benches, generate the book's tables and charts, render the book
  profile [--json] [--svg FILE] [--html FILE] [--call-sites off|all|BYTES] -- CMD [ARGS...]
                      run CMD with the recording shim; report its allocations in the book's terms
  help                this text";

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
        Err(cli::CliError::Usage(msg)) => {
            eprintln!("error: {msg}");
            eprintln!("run `cookbook help` for usage");
            ExitCode::from(2)
        }
        Err(cli::CliError::Failed(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
        Err(cli::CliError::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
    }
}
