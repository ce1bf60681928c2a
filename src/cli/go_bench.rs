//! Go's own allocator, measured: runs `benches/go/alloc_test.go` with
//! `go test -bench` when `go` is installed, and turns its output into
//! `book/src/generated/go.md`.
//!
//! The fact a reader gets wrong: without `go` this step is skipped, not
//! failed; the book then keeps the Go table it has (or says that none was
//! measured), and the command says so. The table is Go's figures only: a Go
//! allocation (zeroed, collected later) and a Rust alloc+free pair are
//! different operations, which the architecture chapter explains.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// Where the raw `go test` output is kept, under the results folder.
pub const RAW: &str = "go/bench.txt";

/// Runs the Go bench (GOMAXPROCS=1) and saves its output with the Go
/// version as the first line. Returns a line saying what happened.
pub fn run(root: &Path, results: &Path, full: bool) -> String {
    let version = match Command::new("go").arg("version").output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => {
            return "go is not installed (Debian: apt-get install golang-go): the Go table was not measured".into()
        }
    };
    let benchtime = if full { "1s" } else { "0.2s" };
    let out = Command::new("go")
        .current_dir(root.join("benches/go"))
        .args([
            "test",
            "-run",
            "^$",
            "-bench",
            ".",
            "-benchmem",
            "-benchtime",
            benchtime,
        ])
        .env("GOMAXPROCS", "1")
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let text = format!("{version}\n{}", String::from_utf8_lossy(&o.stdout));
            let path = results.join(RAW);
            let saved = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|_| std::fs::write(&path, text));
            match saved {
                Ok(()) => format!("{version}: done ({})", path.display()),
                Err(e) => format!("cannot write {}: {e}", path.display()),
            }
        }
        Ok(o) => format!(
            "go test -bench failed in benches/go: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("cannot run go: {e}"),
    }
}

/// One benchmark line of `go test -bench -benchmem` output.
#[derive(Debug, PartialEq)]
pub struct GoRow {
    pub name: String,
    pub ns_per_op: f64,
    pub bytes_per_op: f64,
    pub allocs_per_op: f64,
}

/// Parses `BenchmarkX/8B   123   23.50 ns/op   8 B/op   1 allocs/op` lines.
pub fn parse(text: &str) -> Vec<GoRow> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let name = f.first()?.strip_prefix("Benchmark")?;
            let value = |unit: &str| {
                f.windows(2)
                    .find(|w| w[1] == unit)
                    .and_then(|w| w[0].parse::<f64>().ok())
            };
            // Drop the `-N` GOMAXPROCS suffix Go adds when it is not 1.
            let name = match name.rsplit_once('-') {
                Some((n, p)) if p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => name,
            };
            Some(GoRow {
                name: name.to_string(),
                ns_per_op: value("ns/op")?,
                bytes_per_op: value("B/op")?,
                allocs_per_op: value("allocs/op")?,
            })
        })
        .collect()
}

/// Writes `go.md` from the saved output; without one, keeps a committed
/// page or writes a note that Go was not measured.
pub fn render(results: &Path, out_dir: &Path) -> Result<(), String> {
    let path = out_dir.join("go.md");
    let Ok(text) = std::fs::read_to_string(results.join(RAW)) else {
        if path.exists() {
            return Ok(());
        }
        return std::fs::write(
            &path,
            "*Go's allocator was not measured for this book: `go` was not installed when \
             `cargo run --release -- book` ran (the bench is `benches/go/alloc_test.go`).*\n",
        )
        .map_err(|e| format!("cannot write {}: {e}", path.display()));
    };
    let version = text.lines().next().unwrap_or("");
    let rows = parse(&text);
    let mut md = format!(
        "#### Go's allocator: one heap allocation per operation (`go test -bench -benchmem`, GOMAXPROCS=1)\n\n\
         *{}; `benches/go/alloc_test.go`.*\n\n",
        super::render::md_text(version)
    );
    md.push_str("| case | ns/op | B/op | allocs/op |\n|---|---:|---:|---:|\n");
    for r in &rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            super::render::md_text(&r.name),
            super::render::fmt_ns(r.ns_per_op),
            super::render::fmt_count(r.bytes_per_op),
            super::render::fmt_count(r.allocs_per_op)
        );
    }
    md.push('\n');
    std::fs::write(&path, md).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_bench_lines() {
        let text = "go version go1.19.8 linux/amd64\ngoos: linux\n\
BenchmarkByteSlice/8B         \t 9302091\t        23.50 ns/op\t       8 B/op\t       1 allocs/op\n\
BenchmarkByteSlice/1MiB-2     \t    1532\t    140737 ns/op\t 1048576 B/op\t       1 allocs/op\nPASS\n";
        assert_eq!(
            parse(text),
            vec![
                GoRow {
                    name: "ByteSlice/8B".into(),
                    ns_per_op: 23.5,
                    bytes_per_op: 8.0,
                    allocs_per_op: 1.0
                },
                GoRow {
                    name: "ByteSlice/1MiB".into(),
                    ns_per_op: 140737.0,
                    bytes_per_op: 1048576.0,
                    allocs_per_op: 1.0
                },
            ]
        );
    }
}
