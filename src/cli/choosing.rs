//! `generated/choosing.md`: the numbers behind the "Choosing a global
//! allocator" chapter. For every row of the allocator bench, and for the
//! baseline (the naive code) of every recipe group, which allocator had the
//! lowest median time in this run, that time, and how much slower the
//! slowest of the four was.
//!
//! The fact a reader gets wrong: "fastest" here is per row of one run; where
//! the fastest and the second are within each other's confidence intervals
//! the row says "level", and a row is one workload, not a verdict.

use super::render::{fmt_ns, md_text, CaseKey, Results, ALLOCATORS};
use std::fmt::Write as _;
use std::path::Path;

/// One allocator's median time (ns) on a row, and its confidence interval.
type Timed = (&'static str, f64, Option<(f64, f64)>);

/// One workload row: each allocator's median and interval, if measured.
struct Row {
    label: String,
    times: Vec<Timed>,
}

fn key(group: &str, variant: &str, param: &str) -> CaseKey {
    CaseKey {
        group: group.into(),
        variant: variant.into(),
        param: param.into(),
    }
}

fn rows(r: &Results) -> Vec<Row> {
    let mut out = Vec::new();
    for (bench, groups) in &r.groups {
        for group in groups {
            let Some(cases) = r.rows.get(&(bench.clone(), group.clone())) else {
                continue;
            };
            let by_allocator = cases.iter().all(|(v, _)| ALLOCATORS.contains(&v.as_str()));
            if by_allocator {
                // The allocator bench: variants are allocators, one process.
                let mut params: Vec<&String> = Vec::new();
                for (_, p) in cases {
                    if !params.contains(&p) {
                        params.push(p);
                    }
                }
                for p in params {
                    let times = ALLOCATORS
                        .iter()
                        .filter_map(|a| {
                            let k = key(group, a, p);
                            let t = ALLOCATORS
                                .iter()
                                .find_map(|g| r.times.get(&(k.clone(), g.to_string())))?;
                            let ci = ALLOCATORS
                                .iter()
                                .find_map(|g| r.intervals.get(&(k.clone(), g.to_string())))
                                .copied();
                            Some((*a, *t, ci))
                        })
                        .collect();
                    out.push(Row {
                        label: format!("{bench}: {group} / {p}"),
                        times,
                    });
                }
            } else {
                // A recipe group: its baseline rows (the first row per input).
                let mut seen: Vec<&String> = Vec::new();
                for (v, p) in cases {
                    if seen.contains(&p) {
                        continue;
                    }
                    seen.push(p);
                    let k = key(group, v, p);
                    let times = ALLOCATORS
                        .iter()
                        .filter_map(|a| {
                            let t = r.times.get(&(k.clone(), a.to_string()))?;
                            Some((
                                *a,
                                *t,
                                r.intervals.get(&(k.clone(), a.to_string())).copied(),
                            ))
                        })
                        .collect();
                    out.push(Row {
                        label: format!("{bench}: {group} / {v} ({p})"),
                        times,
                    });
                }
            }
        }
    }
    out.retain(|row| row.times.len() >= 2);
    out
}

/// Writes `choosing.md`; with no timed rows, keeps a committed page or
/// writes a note.
pub fn render(r: &Results, out_dir: &Path) -> Result<(), String> {
    let path = out_dir.join("choosing.md");
    let rows = rows(r);
    if rows.is_empty() {
        if path.exists() {
            return Ok(());
        }
        return std::fs::write(
            &path,
            "*No results yet: run `cargo run --release -- book`.*\n",
        )
        .map_err(|e| format!("cannot write {}: {e}", path.display()));
    }
    let mut md = String::from(
        "| workload (bench: group / case) | fastest | its median | runner-up | slowest, × the fastest |\n|---|---|---:|---|---:|\n",
    );
    for row in &rows {
        let mut t = row.times.clone();
        t.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (best, best_ns, best_ci) = t[0];
        let (second, _, second_ci) = t[1];
        let level = matches!((best_ci, second_ci), (Some(a), Some(b)) if a.0 <= b.1 && b.0 <= a.1);
        let runner_up = if level {
            format!("{second} (level)")
        } else {
            second.to_string()
        };
        let slowest = t[t.len() - 1].1 / best_ns;
        let _ = writeln!(
            md,
            "| {} | {best} | {} | {runner_up} | {slowest:.2}× |",
            md_text(&row.label),
            fmt_ns(best_ns)
        );
    }
    md.push_str("\n\"level\": the runner-up's 95 % confidence interval overlaps the fastest's. Rows of the recipe benches are their baseline (the naive code), each allocator in its own process.\n");
    std::fs::write(&path, md).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_fastest_and_says_level_when_intervals_overlap() {
        let mut r = Results::default();
        r.groups.insert("demo".into(), vec!["g".into()]);
        r.rows.insert(
            ("demo".into(), "g".into()),
            vec![
                ("naive".into(), "1 KiB".into()),
                ("pool".into(), "1 KiB".into()),
            ],
        );
        for (a, t, lo, hi) in [
            ("system", 100.0, 95.0, 105.0),
            ("mimalloc", 50.0, 48.0, 52.0),
            ("jemalloc", 51.0, 49.0, 53.0),
        ] {
            r.times.insert((key("g", "naive", "1 KiB"), a.into()), t);
            r.intervals
                .insert((key("g", "naive", "1 KiB"), a.into()), (lo, hi));
        }
        let dir = std::env::temp_dir().join(format!("cookbook-choosing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        render(&r, &dir).unwrap();
        let md = std::fs::read_to_string(dir.join("choosing.md")).unwrap();
        assert!(
            md.contains(
                "| demo: g / naive (1 KiB) | mimalloc | 50.0 ns | jemalloc (level) | 2.00× |"
            ),
            "{md}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
