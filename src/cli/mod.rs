//! The `cookbook` subcommands, parsed with clap (derive).
//!
//! Every subcommand is one variant of [`Command`]; its options are fields
//! with their own value parsers, so a bad value is rejected by clap with a
//! message naming it (exit code 2). Checks that need more than one value
//! return [`CliError::Usage`], which `main` also turns into exit code 2.
//!
//! A new subcommand: a file `src/cli/NAME.rs` exposing a clap
//! `#[derive(clap::Args)] pub struct Args` and `pub fn run(args: Args) -> Result<()>`,
//! a `pub mod NAME;` line below, one variant in [`Command`] and one arm in
//! [`dispatch`].

pub mod allocator_report;
pub mod book;
pub mod compare;
pub mod profile;
pub mod programs;
pub mod render;
pub mod run;
pub mod svg;
pub mod usable;
// The size explorer's data for the book (written by `book`).
pub mod explorer;

use alloc_cookbook::analysis::{self, Scheme};
use alloc_cookbook::size_class::{SizeClassTable, GO, MAX_SMALL_SIZE, PAGE_SIZE};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Read;

/// How a command failed.
#[derive(Debug)]
pub enum CliError {
    /// The command line did not parse (clap's own message; exit code 2,
    /// or 0 for `--help`).
    Parse(clap::Error),
    /// Bad input found after parsing: exit code 2.
    Usage(String),
    /// The work itself failed (a bench, a file write): exit code 1.
    Failed(String),
    /// Exit with this code and no message (`cookbook run` passing its
    /// program's exit code through).
    Exit(u8),
}

pub type Result<T> = std::result::Result<T, CliError>;

fn usage<T>(msg: impl Into<String>) -> Result<T> {
    Err(CliError::Usage(msg.into()))
}

/// The `cookbook` command line.
#[derive(Debug, Parser)]
#[command(
    name = "cookbook",
    about = "The allocator cookbook's command-line tool",
    after_help = "Bad input prints a message naming the bad value and exits with code 2."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The size-class table, generated with Go's algorithm.
    Classes {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ClassesFormat::Table)]
        format: ClassesFormat,
        /// Page size the table is generated for (4096, 8KiB, ...).
        #[arg(long, value_name = "N", value_parser = page_size_arg)]
        page_size: Option<usize>,
        /// Largest small size (larger requests get whole pages).
        #[arg(long, value_name = "N", value_parser = max_small_arg)]
        max_small: Option<usize>,
    },
    /// What a request of SIZE bytes costs, and cheaper sizes.
    Explain {
        /// Request sizes (4096, 4KiB, 1MiB, ...).
        #[arg(required = true, value_name = "SIZE", value_parser = request_size_arg)]
        sizes: Vec<usize>,
    },
    /// Waste report for a workload (lines: `size` or `size count`).
    Histogram {
        /// The workload file, or - for standard input.
        #[arg(value_name = "FILE|-")]
        file: String,
    },
    /// Measured usable size per request: glibc, mimalloc, jemalloc, and Go's classes (go).
    Usable {
        /// Largest request size measured.
        #[arg(long, value_name = "N", default_value = "4096", value_parser = usable_max_arg)]
        max: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = UsableFormat::Table)]
        format: UsableFormat,
    },
    /// Run a small workload on GoAlloc and print its statistics.
    Stats,
    /// Run the benches, generate the book's tables and charts, render the book.
    Book {
        /// Criterion's full-length measurements and the callgrind benches under every allocator.
        #[arg(long)]
        full: bool,
        /// Only regenerate from the results already on disk, and render.
        #[arg(long)]
        no_bench: bool,
        /// Run only these benches (comma-separated; `programs`: the real-program table).
        #[arg(long, value_name = "BENCH,...", value_delimiter = ',', value_parser = bench_name_arg)]
        only: Option<Vec<String>>,
        /// Only check that the numbers in the book's prose are in generated files.
        #[arg(long)]
        check_numbers: bool,
    },
    /// Run a program with an allocator preloaded (LD_PRELOAD); its exit code passes through.
    Run(run::Args),
    /// Run a program under each allocator, several times, interleaved; compare time and memory.
    Compare(compare::Args),
    /// Profile a program's allocations (see src/cli/profile.rs).
    Profile(profile::Args),
}

/// `classes --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClassesFormat {
    Table,
    Tsv,
    Json,
}

/// `usable --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UsableFormat {
    Table,
    Tsv,
}

/// Parses a byte count: `4096`, `4k`, `4KiB`, `1M`, `1MiB` (binary units).
pub fn parse_bytes(what: &str, s: &str) -> Result<usize> {
    let lower = s.trim().to_ascii_lowercase();
    let (digits, mult) = if let Some(d) = lower.strip_suffix("kib").or(lower.strip_suffix('k')) {
        (d, 1usize << 10)
    } else if let Some(d) = lower.strip_suffix("mib").or(lower.strip_suffix('m')) {
        (d, 1 << 20)
    } else if let Some(d) = lower.strip_suffix("gib").or(lower.strip_suffix('g')) {
        (d, 1 << 30)
    } else {
        (lower.strip_suffix('b').unwrap_or(&lower), 1)
    };
    match digits
        .trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
    {
        Some(n) => Ok(n),
        None => usage(format!(
            "{what} {s:?} is not a byte count (e.g. 4096, 4KiB, 1MiB)"
        )),
    }
}

/// A [`CliError`]'s message as text: a clap value parser's error, or a
/// failure reported as a warning (`book`'s preloadable-library step).
fn arg_err(e: CliError) -> String {
    match e {
        CliError::Usage(m) | CliError::Failed(m) => m,
        CliError::Parse(e) => e.to_string(),
        CliError::Exit(code) => format!("exit code {code}"),
    }
}

fn page_size_arg(s: &str) -> std::result::Result<usize, String> {
    parse_bytes("page size", s).map_err(arg_err)
}

fn max_small_arg(s: &str) -> std::result::Result<usize, String> {
    parse_bytes("largest small size", s).map_err(arg_err)
}

fn request_size_arg(s: &str) -> std::result::Result<usize, String> {
    let n = parse_bytes("size", s).map_err(arg_err)?;
    if n == 0 {
        return Err(format!(
            "size {s:?} is zero: a zero-byte request never reaches the allocator"
        ));
    }
    if n > isize::MAX as usize {
        return Err(format!(
            "size {s:?} is over the largest request a Layout allows"
        ));
    }
    Ok(n)
}

fn usable_max_arg(s: &str) -> std::result::Result<usize, String> {
    let max = parse_bytes("--max", s).map_err(arg_err)?;
    if max == 0 || max > usable::MAX_MEASURED {
        return Err(format!(
            "--max {max} is out of range 1..={} (the measurement allocates every size)",
            usable::MAX_MEASURED
        ));
    }
    Ok(max)
}

fn bench_name_arg(s: &str) -> std::result::Result<String, String> {
    let n = s.trim();
    if book::BENCHES.contains(&n) || n == "programs" {
        Ok(n.to_string())
    } else {
        Err(format!(
            "{n:?} is not a bench (one of {}, or programs: the real-program table)",
            book::BENCHES.join(", ")
        ))
    }
}

/// Parses `args` (without the program name) and runs the command.
pub fn run(args: &[String]) -> Result<()> {
    let argv = std::iter::once("cookbook".to_string()).chain(args.iter().cloned());
    let cli = Cli::try_parse_from(argv).map_err(CliError::Parse)?;
    dispatch(cli)
}

/// Runs a parsed command line; no subcommand prints the help.
pub fn dispatch(cli: Cli) -> Result<()> {
    let Some(cmd) = cli.command else {
        use clap::CommandFactory;
        Cli::command()
            .print_help()
            .map_err(|e| CliError::Failed(e.to_string()))?;
        return Ok(());
    };
    match cmd {
        Command::Classes {
            format,
            page_size,
            max_small,
        } => classes(
            format,
            page_size.unwrap_or(PAGE_SIZE),
            max_small.unwrap_or(MAX_SMALL_SIZE),
        ),
        Command::Explain { sizes } => explain(sizes),
        Command::Histogram { file } => histogram(&file),
        Command::Usable { max, format } => usable_cmd(max, format),
        Command::Stats => {
            print!("{}", allocator_report::stats_demo());
            Ok(())
        }
        Command::Book {
            full,
            no_bench,
            only,
            check_numbers,
        } => {
            // book.rs keeps its own argument list (it stamps the command
            // line into the book); hand it the parsed options back.
            let mut a = Vec::new();
            if full {
                a.push("--full".to_string());
            }
            if no_bench {
                a.push("--no-bench".to_string());
            }
            if let Some(only) = only {
                a.push("--only".to_string());
                a.push(only.join(","));
            }
            if check_numbers {
                a.push("--check-numbers".to_string());
            }
            book::run(&a)
        }
        Command::Run(args) => run::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Profile(args) => profile::run(args),
    }
}

/// The TSV header of `classes --format tsv` (fixed: other tools read it).
pub const CLASSES_TSV_HEADER: &str =
    "class\tbytes_per_obj\tbytes_per_span\tobjects\ttail_waste_bytes\tmax_waste_pct\tmin_align";

/// The size-class table as TSV, exactly as `cookbook classes --format tsv` prints it.
pub fn classes_tsv(t: &SizeClassTable) -> String {
    let mut s = format!("{CLASSES_TSV_HEADER}\n");
    for c in t.classes() {
        s += &format!(
            "{}\t{}\t{}\t{}\t{}\t{:.2}\t{}\n",
            c.class, c.size, c.span_bytes, c.objects, c.tail_waste, c.max_waste_pct, c.min_align
        );
    }
    s
}

/// The size-class table as a Markdown table (for the book).
pub fn classes_markdown(t: &SizeClassTable) -> String {
    let mut s = String::from(
        "| class | bytes/obj | bytes/span | pages | objects | tail waste | max waste | min align |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for c in t.classes() {
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {:.2}% | {} |\n",
            c.class,
            c.size,
            c.span_bytes,
            c.pages,
            c.objects,
            c.tail_waste,
            c.max_waste_pct,
            c.min_align
        );
    }
    s
}

fn classes(format: ClassesFormat, page: usize, max: usize) -> Result<()> {
    let t = SizeClassTable::generate(page, max).map_err(|e| CliError::Usage(e.to_string()))?;
    match format {
        ClassesFormat::Tsv => print!("{}", classes_tsv(&t)),
        ClassesFormat::Json => {
            let rows: Vec<serde_json::Value> = t
                .classes()
                .map(|c| {
                    serde_json::json!({
                        "class": c.class, "bytes_per_obj": c.size, "bytes_per_span": c.span_bytes,
                        "pages": c.pages, "objects": c.objects, "tail_waste_bytes": c.tail_waste,
                        "max_waste_pct": (c.max_waste_pct * 100.0).round() / 100.0,
                        "min_align": c.min_align,
                    })
                })
                .collect();
            let doc = serde_json::json!({"page_size": page, "max_small": max, "classes": rows});
            println!(
                "{}",
                serde_json::to_string_pretty(&doc).expect("JSON of plain values")
            );
        }
        ClassesFormat::Table => {
            println!(
                "{} classes for {page}-byte pages, small objects up to {max} bytes\n",
                t.len() - 1
            );
            println!(
                "{:>5} {:>9} {:>10} {:>5} {:>7} {:>10} {:>9} {:>9}",
                "class",
                "bytes/obj",
                "bytes/span",
                "pages",
                "objects",
                "tail waste",
                "max waste",
                "min align"
            );
            for c in t.classes() {
                println!(
                    "{:>5} {:>9} {:>10} {:>5} {:>7} {:>10} {:>8.2}% {:>9}",
                    c.class,
                    c.size,
                    c.span_bytes,
                    c.pages,
                    c.objects,
                    c.tail_waste,
                    c.max_waste_pct,
                    c.min_align
                );
            }
        }
    }
    Ok(())
}

fn explain(sizes: Vec<usize>) -> Result<()> {
    for (i, size) in sizes.into_iter().enumerate() {
        if i > 0 {
            println!();
        }
        let e = analysis::explain(size);
        let adv = analysis::advise(size);
        if e.class == 0 {
            println!(
                "{size} B: large object (over {} B): {} whole pages = {} B, {} B wasted ({:.2}%)",
                GO.max_small(),
                e.rounded / GO.page_size(),
                e.rounded,
                e.waste,
                e.waste_pct
            );
        } else {
            println!(
                "{size} B: class {} ({} B), {} B wasted ({:.2}%)",
                e.class, e.rounded, e.waste, e.waste_pct
            );
            println!(
                "  span: {} B holds {} objects; this object's share of the span tail: {:.1} B",
                e.span_bytes, e.objects_per_span, e.tail_share
            );
        }
        println!(
            "  efficiency: {:.1}% of the memory consumed is what was asked for",
            100.0 * e.efficiency
        );
        if e.waste > 0 {
            println!(
                "  free headroom: up to {} B costs the same",
                adv.same_class_max
            );
        }
        if let Some(smaller) = adv.smaller_fit {
            println!(
                "  cheaper: {smaller} B lands one class lower and saves {} B per object",
                adv.saving
            );
        }
        let others: Vec<String> = Scheme::ALL[1..]
            .iter()
            .map(|s| format!("{} {} B", s.name(), s.usable(size)))
            .collect();
        println!(
            "  other allocators (modelled usable size): {}",
            others.join(", ")
        );
    }
    Ok(())
}

fn histogram(file: &str) -> Result<()> {
    let mut text = String::new();
    let read = if file == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(file).map(|t| text = t)
    };
    if let Err(e) = read {
        return usage(format!("cannot read {file:?}: {e}"));
    }
    let hist =
        analysis::parse_histogram(&text).map_err(|e| CliError::Usage(format!("{file}: {e}")))?;
    if hist.is_empty() {
        return usage(format!("{file:?} holds no request sizes"));
    }
    let r = analysis::waste_report(&hist);
    println!(
        "{} requests: {} B requested, {} B handed out, {} B wasted ({:.2}%)\n",
        r.count,
        r.requested,
        r.consumed,
        r.consumed - r.requested,
        r.waste_pct()
    );
    println!(
        "{:>5} {:>9} {:>10} {:>12} {:>12} {:>12} {:>7}",
        "class", "size", "requests", "requested", "handed out", "wasted", "share"
    );
    let total_waste = (r.consumed - r.requested).max(1);
    for c in &r.by_class {
        let size = if c.class == 0 {
            "large".to_string()
        } else {
            c.class_size.to_string()
        };
        println!(
            "{:>5} {:>9} {:>10} {:>12} {:>12} {:>12} {:>6.1}%",
            c.class,
            size,
            c.count,
            c.requested,
            c.consumed,
            c.waste(),
            100.0 * c.waste() as f64 / total_waste as f64
        );
    }
    Ok(())
}

fn usable_cmd(max: usize, format: UsableFormat) -> Result<()> {
    let rows = usable::measure(1..=max);
    match format {
        UsableFormat::Tsv => print!("{}", usable::tsv(&rows)),
        UsableFormat::Table => print!("{}", usable::table(&rows)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn byte_counts() {
        assert_eq!(parse_bytes("x", "4096").unwrap(), 4096);
        assert_eq!(parse_bytes("x", "4KiB").unwrap(), 4096);
        assert_eq!(parse_bytes("x", "1m").unwrap(), 1 << 20);
        let Err(CliError::Usage(m)) = parse_bytes("size", "12q") else {
            panic!()
        };
        assert!(m.contains("\"12q\""), "{m}");
    }

    #[test]
    fn bad_input_is_a_usage_error_naming_the_value() {
        for (args, needle) in [
            (s(&["classes", "--format", "xml"]), "xml"),
            (s(&["classes", "--page-size", "3000"]), "3000"),
            (s(&["classes", "--page-size", "12q"]), "\"12q\""),
            (s(&["explain", "0"]), "\"0\""),
            (s(&["explain", "abc"]), "\"abc\""),
            (s(&["explain"]), "SIZE"),
            (s(&["histogram", "/no/such/file"]), "/no/such/file"),
            (s(&["usable", "--max", "99999999999"]), "99999999999"),
            (s(&["usable", "--format", "json"]), "json"),
            (s(&["book", "--only", "nosuch"]), "\"nosuch\""),
            (s(&["nonsense"]), "nonsense"),
            (s(&["classes", "--bogus"]), "--bogus"),
            (s(&["stats", "extra"]), "extra"),
            (s(&["run", "--alloc", "foo", "--", "true"]), "foo"),
            (s(&["run", "--alloc", "system"]), "CMD"),
            (
                s(&["run", "--alloc", "system", "--", "/no/such/program"]),
                "/no/such/program",
            ),
        ] {
            match run(&args) {
                Err(CliError::Usage(m)) => assert!(m.contains(needle), "{args:?}: {m}"),
                Err(CliError::Parse(e)) => {
                    assert_eq!(e.exit_code(), 2, "{args:?}: {e}");
                    let m = e.to_string();
                    assert!(m.contains(needle), "{args:?}: {m}");
                }
                other => panic!("{args:?}: expected a usage error, got {other:?}"),
            }
        }
    }

    #[test]
    fn help_is_not_an_error_exit() {
        for args in [s(&["--help"]), s(&["help"]), s(&["classes", "--help"])] {
            match run(&args) {
                Err(CliError::Parse(e)) => assert_eq!(e.exit_code(), 0, "{args:?}"),
                other => panic!("{args:?}: expected help, got {other:?}"),
            }
        }
    }

    #[test]
    fn run_passes_the_exit_code_through() {
        let r = run(&s(&[
            "run", "--alloc", "system", "--", "sh", "-c", "exit 7",
        ]));
        assert!(matches!(r, Err(CliError::Exit(7))), "{r:?}");
        let r = run(&s(&["run", "--alloc=system", "sh", "-c", "kill -TERM $$"]));
        assert!(matches!(r, Err(CliError::Exit(143))), "{r:?}");
    }

    #[test]
    fn command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn tsv_header_and_rows() {
        let t = classes_tsv(&GO);
        let mut lines = t.lines();
        assert_eq!(lines.next().unwrap(), CLASSES_TSV_HEADER);
        assert_eq!(lines.next().unwrap(), "1\t8\t8192\t1024\t0\t87.50\t8");
        assert_eq!(t.lines().count(), 68);
        assert_eq!(
            t.lines().last().unwrap(),
            "67\t32768\t32768\t1\t0\t12.50\t8192"
        );
    }
}
