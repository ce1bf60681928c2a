//! The `cookbook` subcommands. Parsing is by hand (no argument crate) to keep
//! the tool's build small; every error names the bad value.

pub mod allocator_report;
pub mod book;
pub mod profile;
pub mod profile_format;
pub mod render;
pub mod svg;
pub mod usable;

use alloc_cookbook::analysis::{self, Scheme};
use alloc_cookbook::size_class::{SizeClassTable, GO, MAX_SMALL_SIZE, PAGE_SIZE};
use std::io::Read;

/// How a command failed.
#[derive(Debug)]
pub enum CliError {
    /// Bad input: exit code 2.
    Usage(String),
    /// The work itself failed (a bench, a file write): exit code 1.
    Failed(String),
    /// `help` was asked for.
    Help,
}

pub type Result<T> = std::result::Result<T, CliError>;

fn usage<T>(msg: impl Into<String>) -> Result<T> {
    Err(CliError::Usage(msg.into()))
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

/// Options of the form `--name value`, plus positional arguments.
struct Args<'a> {
    rest: Vec<&'a str>,
    opts: Vec<(&'a str, &'a str)>,
}

fn split_args<'a>(args: &'a [String], with_value: &[&str]) -> Result<Args<'a>> {
    let mut out = Args {
        rest: vec![],
        opts: vec![],
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let a = a.as_str();
        if let Some((k, v)) = a.split_once('=').filter(|(k, _)| with_value.contains(k)) {
            out.opts.push((k, v));
        } else if with_value.contains(&a) {
            match it.next() {
                Some(v) => out.opts.push((a, v)),
                None => return usage(format!("option {a} needs a value")),
            }
        } else if a.starts_with("--") {
            return usage(format!("unknown option {a:?}"));
        } else {
            out.rest.push(a);
        }
    }
    Ok(out)
}

impl Args<'_> {
    fn opt(&self, name: &str) -> Option<&str> {
        self.opts
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
    }
    fn no_positional(&self, cmd: &str) -> Result<()> {
        match self.rest.first() {
            Some(a) => usage(format!("{cmd} takes no argument {a:?}")),
            None => Ok(()),
        }
    }
}

/// Dispatches `args` (without the program name).
pub fn run(args: &[String]) -> Result<()> {
    let Some((cmd, rest)) = args.split_first() else {
        return Err(CliError::Help);
    };
    match cmd.as_str() {
        "classes" => classes(rest),
        "explain" => explain(rest),
        "histogram" => histogram(rest),
        "usable" => usable_cmd(rest),
        "stats" => stats(rest),
        "book" => book::run(rest),
        "profile" => profile::run(rest),
        "help" | "--help" | "-h" => Err(CliError::Help),
        other => usage(format!("unknown command {other:?}")),
    }
}

fn format_opt<'a>(a: &'a Args<'a>, allowed: &[&str], default: &'a str) -> Result<&'a str> {
    let f = a.opt("--format").unwrap_or(default);
    if allowed.contains(&f) {
        Ok(f)
    } else {
        usage(format!("format {f:?} is not one of {}", allowed.join(", ")))
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

fn classes(args: &[String]) -> Result<()> {
    let a = split_args(args, &["--format", "--page-size", "--max-small"])?;
    a.no_positional("classes")?;
    let format = format_opt(&a, &["table", "tsv", "json"], "table")?;
    let page = match a.opt("--page-size") {
        Some(v) => parse_bytes("page size", v)?,
        None => PAGE_SIZE,
    };
    let max = match a.opt("--max-small") {
        Some(v) => parse_bytes("largest small size", v)?,
        None => MAX_SMALL_SIZE,
    };
    let t = SizeClassTable::generate(page, max).map_err(|e| CliError::Usage(e.to_string()))?;
    match format {
        "tsv" => print!("{}", classes_tsv(&t)),
        "json" => {
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
        _ => {
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

fn explain(args: &[String]) -> Result<()> {
    let a = split_args(args, &[])?;
    if a.rest.is_empty() {
        return usage("explain needs at least one SIZE");
    }
    let mut sizes = Vec::new();
    for s in &a.rest {
        let n = parse_bytes("size", s)?;
        if n == 0 {
            return usage(format!(
                "size {s:?} is zero: a zero-byte request never reaches the allocator"
            ));
        }
        if n > isize::MAX as usize {
            return usage(format!(
                "size {s:?} is over the largest request a Layout allows"
            ));
        }
        sizes.push(n);
    }
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

fn histogram(args: &[String]) -> Result<()> {
    let a = split_args(args, &[])?;
    let [file] = a.rest[..] else {
        return usage("histogram needs exactly one FILE (or - for standard input)");
    };
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

fn usable_cmd(args: &[String]) -> Result<()> {
    let a = split_args(args, &["--max", "--format"])?;
    a.no_positional("usable")?;
    let format = format_opt(&a, &["table", "tsv"], "table")?;
    let max = match a.opt("--max") {
        Some(v) => parse_bytes("--max", v)?,
        None => 4096,
    };
    if max == 0 || max > usable::MAX_MEASURED {
        return usage(format!(
            "--max {max} is out of range 1..={} (the measurement allocates every size)",
            usable::MAX_MEASURED
        ));
    }
    let rows = usable::measure(1..=max);
    match format {
        "tsv" => print!("{}", usable::tsv(&rows)),
        _ => print!("{}", usable::table(&rows)),
    }
    Ok(())
}

fn stats(args: &[String]) -> Result<()> {
    let a = split_args(args, &[])?;
    a.no_positional("stats")?;
    print!("{}", allocator_report::stats_demo());
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
            (s(&["classes", "--format", "xml"]), "\"xml\""),
            (s(&["classes", "--page-size", "3000"]), "3000"),
            (s(&["explain", "0"]), "\"0\""),
            (s(&["explain", "abc"]), "\"abc\""),
            (s(&["histogram", "/no/such/file"]), "/no/such/file"),
            (s(&["usable", "--max", "99999999999"]), "99999999999"),
            (s(&["nonsense"]), "\"nonsense\""),
            (s(&["classes", "--bogus"]), "--bogus"),
        ] {
            match run(&args) {
                Err(CliError::Usage(m)) => assert!(m.contains(needle), "{args:?}: {m}"),
                other => panic!("{args:?}: expected a usage error, got {other:?}"),
            }
        }
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
