//! Turns bench results into the book's generated tables and charts.
//!
//! Inputs, all under `target/cookbook/` (see `benches/common/mod.rs` for who writes them):
//! - `criterion/**/new/{benchmark,estimates}.json`: criterion's medians (ns);
//!   the group id is `"<group> [<allocator>]"`.
//! - `allocs/<bench>.jsonl`: allocations and bytes per operation for each case.
//! - `metrics/<bench>.jsonl`: extra measured columns (peak RSS, ...).
//! - `gungraun/<allocator>/**/summary.json`: callgrind counts.
//!
//! Output: `book/src/generated/<bench>.md` and its SVG charts. Nothing here
//! knows what a number should be; a missing measurement shows as "–".

use super::svg;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The allocators, in the order tables show them.
pub const ALLOCATORS: [&str; 4] = ["system", "goalloc", "mimalloc", "jemalloc"];

/// One case of one group, as the table rows know it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CaseKey {
    pub group: String,
    pub variant: String,
    pub param: String,
}

/// Everything measured, indexed for rendering.
#[derive(Debug, Default)]
pub struct Results {
    /// bench -> groups in first-seen order.
    pub groups: BTreeMap<String, Vec<String>>,
    /// (bench, group) -> rows (variant, param) in first-seen order.
    pub rows: BTreeMap<(String, String), Vec<(String, String)>>,
    /// (case, allocator) -> (allocs/op, bytes/op).
    pub allocs: BTreeMap<(CaseKey, String), (f64, f64)>,
    /// (case, allocator, metric) -> value; metric names per (bench, group) in order.
    pub metrics: BTreeMap<(CaseKey, String, String), f64>,
    pub metric_names: BTreeMap<(String, String), Vec<String>>,
    /// (case, allocator) -> median ns.
    pub times: BTreeMap<(CaseKey, String), f64>,
    /// bench file stem -> callgrind rows.
    pub callgrind: BTreeMap<String, Vec<CallgrindRow>>,
    /// (case, allocator) -> criterion's 95 % confidence interval of the median (ns).
    pub intervals: BTreeMap<(CaseKey, String), (f64, f64)>,
}

impl Results {
    /// The median time of a case under whichever global allocator measured
    /// it (the allocator bench runs once, under the system allocator, and
    /// compares allocators as variants).
    fn time_any(&self, group: &str, variant: &str, param: &str) -> Option<f64> {
        self.any_allocator(group, variant, param, |key, a| self.times.get(&(key, a)))
    }

    /// Like [`Results::time_any`], for an extra metric (peak RSS, ...).
    fn metric_any(&self, group: &str, variant: &str, param: &str, metric: &str) -> Option<f64> {
        self.any_allocator(group, variant, param, |key, a| {
            self.metrics.get(&(key, a, metric.to_string()))
        })
    }

    fn any_allocator<'a>(
        &'a self,
        group: &str,
        variant: &str,
        param: &str,
        get: impl Fn(CaseKey, String) -> Option<&'a f64>,
    ) -> Option<f64> {
        let key = CaseKey {
            group: group.into(),
            variant: variant.into(),
            param: param.into(),
        };
        ALLOCATORS
            .iter()
            .find_map(|g| get(key.clone(), g.to_string()))
            .copied()
    }
}

/// One callgrind measurement.
#[derive(Debug, Clone)]
pub struct CallgrindRow {
    pub allocator: String,
    pub group: String,
    pub function: String,
    pub id: String,
    pub instructions: f64,
    pub l1_data_misses: Option<f64>,
    pub ll_data_misses: Option<f64>,
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .map(|t| {
            t.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn files_named(dir: &Path, name: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            files_named(&p, name, out);
        } else if p.file_name().is_some_and(|n| n == name) {
            out.push(p);
        }
    }
}

/// Splits `"pooling 64 B [mimalloc]"` into `("pooling 64 B", "mimalloc")`.
pub fn split_group_id(id: &str) -> Option<(&str, &str)> {
    let (group, rest) = id.rsplit_once(" [")?;
    let alloc = rest.strip_suffix(']')?;
    ALLOCATORS.contains(&alloc).then_some((group, alloc))
}

/// Loads every result under `results` (normally `target/cookbook`).
pub fn load(results: &Path) -> Result<Results, String> {
    let mut r = Results::default();
    let mut benches: Vec<PathBuf> = std::fs::read_dir(results.join("allocs"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    benches.sort();
    for file in benches {
        for rec in read_jsonl(&file) {
            let (Some(bench), Some(group), Some(variant), Some(param), Some(alloc)) = (
                str_field(&rec, "bench"),
                str_field(&rec, "group"),
                str_field(&rec, "variant"),
                str_field(&rec, "param"),
                str_field(&rec, "allocator"),
            ) else {
                continue;
            };
            push_unique(r.groups.entry(bench.into()).or_default(), group.to_string());
            push_unique(
                r.rows.entry((bench.into(), group.into())).or_default(),
                (variant.to_string(), param.to_string()),
            );
            let key = CaseKey {
                group: group.into(),
                variant: variant.into(),
                param: param.into(),
            };
            let a = rec
                .get("allocs_per_op")
                .and_then(Value::as_f64)
                .unwrap_or(f64::NAN);
            let b = rec
                .get("bytes_per_op")
                .and_then(Value::as_f64)
                .unwrap_or(f64::NAN);
            r.allocs.insert((key, alloc.into()), (a, b));
        }
    }
    let mut metric_files: Vec<PathBuf> = std::fs::read_dir(results.join("metrics"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    metric_files.sort();
    for file in metric_files {
        for rec in read_jsonl(&file) {
            let (
                Some(bench),
                Some(group),
                Some(variant),
                Some(param),
                Some(alloc),
                Some(metric),
                Some(value),
            ) = (
                str_field(&rec, "bench"),
                str_field(&rec, "group"),
                str_field(&rec, "variant"),
                str_field(&rec, "param"),
                str_field(&rec, "allocator"),
                str_field(&rec, "metric"),
                rec.get("value").and_then(Value::as_f64),
            )
            else {
                continue;
            };
            push_unique(r.groups.entry(bench.into()).or_default(), group.to_string());
            push_unique(
                r.rows.entry((bench.into(), group.into())).or_default(),
                (variant.to_string(), param.to_string()),
            );
            push_unique(
                r.metric_names
                    .entry((bench.into(), group.into()))
                    .or_default(),
                metric.to_string(),
            );
            let key = CaseKey {
                group: group.into(),
                variant: variant.into(),
                param: param.into(),
            };
            r.metrics.insert((key, alloc.into(), metric.into()), value);
        }
    }

    let mut found = Vec::new();
    files_named(&results.join("criterion"), "benchmark.json", &mut found);
    for bj in found
        .into_iter()
        .filter(|p| p.parent().is_some_and(|d| d.ends_with("new")))
    {
        let meta: Value = read_json(&bj)?;
        let est: Value = read_json(&bj.with_file_name("estimates.json"))?;
        let (Some(group_id), Some(function)) = (
            str_field(&meta, "group_id"),
            str_field(&meta, "function_id"),
        ) else {
            return Err(format!(
                "{}: no group_id/function_id (criterion's format changed?)",
                bj.display()
            ));
        };
        let Some(median) = est
            .pointer("/median/point_estimate")
            .and_then(Value::as_f64)
        else {
            return Err(format!(
                "{}: no median.point_estimate (criterion's format changed?)",
                bj.with_file_name("estimates.json").display()
            ));
        };
        let Some((group, alloc)) = split_group_id(group_id) else {
            continue;
        };
        let param = str_field(&meta, "value_str").unwrap_or("").to_string();
        let key = CaseKey {
            group: group.into(),
            variant: function.into(),
            param,
        };
        let bound = |b: &str| {
            est.pointer(&format!("/median/confidence_interval/{b}"))
                .and_then(Value::as_f64)
        };
        if let (Some(lo), Some(hi)) = (bound("lower_bound"), bound("upper_bound")) {
            r.intervals.insert((key.clone(), alloc.into()), (lo, hi));
        }
        r.times.insert((key, alloc.into()), median);
    }

    for alloc in ALLOCATORS {
        let mut found = Vec::new();
        files_named(
            &results.join("gungraun").join(alloc),
            "summary.json",
            &mut found,
        );
        for sj in found {
            let s: Value = read_json(&sj)?;
            let bench = str_field(&s, "benchmark_file")
                .and_then(|f| Path::new(f).file_stem())
                .and_then(|f| f.to_str())
                .unwrap_or("")
                .trim_end_matches("_callgrind")
                .to_string();
            let profile = s.get("profiles").and_then(Value::as_array).and_then(|ps| {
                ps.iter()
                    .find(|p| str_field(p, "tool") == Some("Callgrind"))
            });
            let Some(mut metrics) = profile.and_then(|p| p.pointer("/data/total/metrics")) else {
                return Err(format!(
                    "{}: no Callgrind totals (gungraun's format changed?)",
                    sj.display()
                ));
            };
            if let Some(inner) = metrics.get("Callgrind") {
                metrics = inner;
            }
            let m = |k: &str| {
                metrics
                    .get(k)
                    .and_then(|v| v.pointer("/values/new"))
                    .and_then(Value::as_f64)
            };
            let Some(ir) = m("Ir") else {
                return Err(format!("{}: no Ir count", sj.display()));
            };
            let sum = |ks: &[&str]| ks.iter().map(|k| m(k)).sum::<Option<f64>>();
            r.callgrind.entry(bench).or_default().push(CallgrindRow {
                allocator: alloc.into(),
                group: str_field(&s, "group").unwrap_or("").into(),
                function: str_field(&s, "function_name").unwrap_or("").into(),
                id: str_field(&s, "id").unwrap_or("").into(),
                instructions: ir,
                l1_data_misses: sum(&["D1mr", "D1mw"]),
                ll_data_misses: sum(&["DLmr", "DLmw"]),
            });
        }
    }
    Ok(r)
}

fn read_json(p: &Path) -> Result<Value, String> {
    let text =
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", p.display()))
}

/// `1234.5` ns as "1.23 µs".
pub fn fmt_ns(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// A count with thousands separators: 1234567 -> "1,234,567".
pub fn fmt_count(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let neg = v < 0.0;
    let s = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if neg {
        format!("-{out}")
    } else {
        out
    }
}

/// The allocs/op and B/op cells for one case: one value when every
/// allocator's run counted the same, else each value (in `ALLOCATORS` order).
fn count_cells(counts: &[(f64, f64)]) -> (String, String) {
    let cell = |vals: Vec<f64>| {
        let same = vals
            .windows(2)
            .all(|w| (w[0] - w[1]).abs() <= 0.005 * w[0].abs().max(1.0));
        match vals.first() {
            None => "–".to_string(),
            Some(v) if same => fmt_per_op(*v),
            _ => vals
                .iter()
                .map(|v| fmt_per_op(*v))
                .collect::<Vec<_>>()
                .join(" / "),
        }
    };
    (
        cell(counts.iter().map(|c| c.0).collect()),
        cell(counts.iter().map(|c| c.1).collect()),
    )
}

fn fmt_per_op(v: f64) -> String {
    if !v.is_finite() {
        "–".into()
    } else if v == v.trunc() {
        fmt_count(v)
    } else {
        format!("{v:.1}")
    }
}

/// Text for a Markdown table cell or heading: `<`, `>` and `|` would be
/// read as HTML or as a column break (`Vec<u64>`, `a|b`).
pub fn md_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// A Markdown table head: the fixed leading columns (`"case"`, ...), then one
/// right-aligned column per name.
fn table_head(md: &mut String, lead: &[&str], names: &[&str]) {
    let _ = writeln!(
        md,
        "|{}{}",
        lead.iter().map(|c| format!(" {c} |")).collect::<String>(),
        names.iter().map(|n| format!(" {n} |")).collect::<String>()
    );
    let _ = writeln!(
        md,
        "|{}{}",
        "---|".repeat(lead.len()),
        "---:|".repeat(names.len())
    );
}

/// A table cell for a median time and its ratio to a baseline; the ratio
/// (if any) also goes to the chart.
fn time_cell(t: Option<&f64>, base: Option<&f64>) -> (String, Option<f64>) {
    match (t, base) {
        (Some(t), Some(b)) if *b > 0.0 => (format!("{} ({:.2}×)", fmt_ns(*t), t / b), Some(t / b)),
        (Some(t), _) => (fmt_ns(*t), None),
        _ => ("–".into(), None),
    }
}

/// The file stem of a group's chart, also the id of its table's anchor.
fn chart_stem(bench: &str, group: &str) -> String {
    format!("{}-{}", bench.replace('_', "-"), slug(group))
}

/// Gives each group's heading the anchor its chart's caption links to (the
/// chart's text alternative: its numbers are in the table under the heading).
fn anchor_group_headings(md: &str, bench: &str, groups: &[String]) -> String {
    let mut md = md.to_string();
    for group in groups {
        let heading = format!("#### {}\n", md_text(group));
        let anchored = format!(
            "#### {} <span id=\"numbers-{}\"></span>\n",
            md_text(group),
            chart_stem(bench, group)
        );
        md = md.replacen(&heading, &anchored, 1);
    }
    md
}

/// Writes a group's ratio chart and the Markdown line that shows it.
fn write_chart(
    md: &mut String,
    out_dir: &Path,
    bench: &str,
    group: &str,
    against: &str,
    categories: &[String],
    series: &[(String, Vec<Option<f64>>)],
) -> Result<(), String> {
    let stem = chart_stem(bench, group);
    let file = format!("{stem}.svg");
    let svg = svg::bar_chart(
        &format!("{group}: time relative to {against} (lower is better)"),
        &format!("× {against}'s median time"),
        categories,
        series,
    );
    std::fs::write(out_dir.join(&file), svg).map_err(|e| format!("cannot write {file}: {e}"))?;
    let _ = writeln!(
        md,
        "![{}: median time relative to {against}, per allocator](generated/{file})\n\n\
         <p class=\"chart-numbers\">The chart's numbers: <a href=\"#numbers-{stem}\">the table above</a>.</p>\n",
        md_text(group)
    );
    Ok(())
}

/// Renders `generated/<bench>.md` (+ charts) into `out_dir`. Returns the
/// number of measured values shown, so the caller can tell an empty page.
pub fn render_bench(r: &Results, bench: &str, out_dir: &Path) -> Result<usize, String> {
    let mut md = String::new();
    let mut shown = 0;
    let groups = r.groups.get(bench).cloned().unwrap_or_default();
    for group in &groups {
        let rows = r
            .rows
            .get(&(bench.to_string(), group.clone()))
            .cloned()
            .unwrap_or_default();
        if rows.iter().all(|(v, _)| ALLOCATORS.contains(&v.as_str())) {
            shown += render_allocator_group(r, bench, group, &rows, out_dir, &mut md)?;
            continue;
        }
        let key = |(v, p): &(String, String)| CaseKey {
            group: group.clone(),
            variant: v.clone(),
            param: p.clone(),
        };
        let allocs_with_times: Vec<&str> = ALLOCATORS
            .iter()
            .copied()
            .filter(|a| {
                rows.iter()
                    .any(|row| r.times.contains_key(&(key(row), a.to_string())))
            })
            .collect();
        let _ = writeln!(md, "#### {}\n", md_text(group));
        let has_counts = rows.iter().any(|row| {
            ALLOCATORS
                .iter()
                .any(|a| r.allocs.contains_key(&(key(row), a.to_string())))
        });
        let mut table = String::new();
        let mut varying_counts = false;
        let mut any_level = false;
        let _ = write!(table, "| case | size / input | allocs/op | B/op |");
        for a in &allocs_with_times {
            let _ = write!(table, " {a} |");
        }
        let _ = write!(table, "\n|---|---|---:|---:|");
        for _ in &allocs_with_times {
            table.push_str("---:|");
        }
        table.push('\n');
        // Baseline for a row: the first row of the group with the same param.
        // Baseline for a row: the first row of the group with the same param
        // (the param is an input size). When no two rows share a param, the
        // param describes the variant itself ("32 B record", "16 B record"),
        // and every row compares with the group's first row.
        let params_are_inputs = rows
            .iter()
            .enumerate()
            .any(|(i, a)| rows[..i].iter().any(|b| b.1 == a.1));
        let baseline = |row: &(String, String)| {
            if params_are_inputs {
                rows.iter()
                    .find(|b| b.1 == row.1)
                    .cloned()
                    .unwrap_or_else(|| row.clone())
            } else {
                rows[0].clone()
            }
        };
        let mut chart_series: Vec<(String, Vec<Option<f64>>)> = allocs_with_times
            .iter()
            .map(|a| (a.to_string(), Vec::new()))
            .collect();
        let mut categories = Vec::new();
        for row in &rows {
            let k = key(row);
            let counts: Vec<(f64, f64)> = ALLOCATORS
                .iter()
                .filter_map(|a| r.allocs.get(&(k.clone(), a.to_string())))
                .copied()
                .collect();
            let (allocs_cell, bytes_cell) = count_cells(&counts);
            varying_counts |= allocs_cell.contains(" / ") || bytes_cell.contains(" / ");
            let _ = write!(
                table,
                "| {} | {} | {allocs_cell} | {bytes_cell} |",
                md_text(&row.0),
                md_text(&row.1),
            );
            categories.push(if rows.iter().all(|o| o.1 == row.1) {
                row.0.clone()
            } else {
                format!("{} [{}]", row.0, row.1)
            });
            for (i, a) in allocs_with_times.iter().enumerate() {
                let t = r.times.get(&(k.clone(), a.to_string()));
                let b = r.times.get(&(key(&baseline(row)), a.to_string()));
                let (mut cell, ratio) = time_cell(t, b);
                if baseline(row) != *row
                    && overlap(
                        r.intervals.get(&(k.clone(), a.to_string())),
                        r.intervals.get(&(key(&baseline(row)), a.to_string())),
                    )
                {
                    cell.push_str(" ≈");
                    any_level = true;
                }
                shown += usize::from(t.is_some());
                chart_series[i].1.push(ratio);
                let _ = write!(table, " {cell} |");
            }
            table.push('\n');
        }
        table.push('\n');
        if varying_counts {
            let present: Vec<&str> = ALLOCATORS
                .iter()
                .copied()
                .filter(|a| {
                    rows.iter()
                        .any(|row| r.allocs.contains_key(&(key(row), a.to_string())))
                })
                .collect();
            let _ = writeln!(
                table,
                "Where the counts differ by allocator, a cell lists them in the order {}.\n",
                present.join(" / ")
            );
        }
        if any_level {
            table.push_str(LEVEL_NOTE);
        }
        // A group that only records metrics (no timed case) shows just those.
        if has_counts || !allocs_with_times.is_empty() {
            md.push_str(&table);
            md.push_str(&intervals_table(r, &rows, &key, &allocs_with_times));
        }
        // Extra metrics (peak RSS, ...): one small table, allocators as columns.
        let names = r
            .metric_names
            .get(&(bench.to_string(), group.clone()))
            .cloned()
            .unwrap_or_default();
        for metric in &names {
            let present: Vec<&str> = ALLOCATORS
                .iter()
                .copied()
                .filter(|a| {
                    rows.iter().any(|row| {
                        r.metrics
                            .contains_key(&(key(row), a.to_string(), metric.clone()))
                    })
                })
                .collect();
            let _ = writeln!(md, "*{}*\n", md_text(metric));
            table_head(&mut md, &["case", "size / input"], &present);
            for row in &rows {
                let cells: String = present
                    .iter()
                    .map(
                        |a| match r.metrics.get(&(key(row), a.to_string(), metric.clone())) {
                            Some(v) => {
                                shown += 1;
                                if v.abs() >= 100.0 || v.fract() == 0.0 {
                                    format!(" {} |", fmt_count(*v))
                                } else {
                                    format!(" {v:.2} |")
                                }
                            }
                            None => " – |".into(),
                        },
                    )
                    .collect();
                let _ = writeln!(md, "| {} | {} |{cells}", md_text(&row.0), md_text(&row.1));
            }
            md.push('\n');
        }
        if allocs_with_times.is_empty() {
            if has_counts {
                md.push_str("*No timing results yet: run `cargo run --release -- book`.*\n\n");
            }
        } else {
            write_chart(
                &mut md,
                out_dir,
                bench,
                group,
                "the baseline",
                &categories,
                &chart_series,
            )?;
        }
    }
    if let Some(rows) = r.callgrind.get(bench) {
        shown += rows.len();
        md.push_str(&render_callgrind(rows));
        if let Some(note) = callgrind_scale_note(bench) {
            md.push_str(&note);
        }
    }
    if bench == "allocator" && shown > 0 {
        md.push_str(&render_allocator_targets(r));
    }
    if groups.is_empty() && !r.callgrind.contains_key(bench) {
        md.push_str("*No results for this bench yet: run `cargo run --release -- book`.*\n");
    }
    let path = out_dir.join(format!("{bench}.md"));
    if shown == 0 && path.exists() {
        // Nothing measured on this machine: keep the committed page (and its
        // stamp) rather than replacing real results with an empty table.
        return Ok(0);
    }
    let md = anchor_group_headings(&md, bench, &groups);
    std::fs::write(&path, fix_image_paths(&md, bench))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(shown)
}

/// Under a table with a "≈" cell.
const LEVEL_NOTE: &str = "≈: the 95 % confidence interval of this case's median overlaps its baseline's: read the two as level.\n\n";

/// Whether two confidence intervals overlap (false when either is missing).
fn overlap(a: Option<&(f64, f64)>, b: Option<&(f64, f64)>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a.0 <= b.1 && b.0 <= a.1)
}

/// A collapsed table of each case's confidence interval (criterion's
/// bootstrap interval of the median), so a reader can see how far apart two
/// close cells really are.
fn intervals_table(
    r: &Results,
    rows: &[(String, String)],
    key: &dyn Fn(&(String, String)) -> CaseKey,
    allocs: &[&str],
) -> String {
    let found = rows.iter().any(|row| {
        allocs
            .iter()
            .any(|a| r.intervals.contains_key(&(key(row), a.to_string())))
    });
    if !found {
        return String::new();
    }
    let mut md =
        String::from("<details><summary>95 % confidence intervals of the medians</summary>\n\n");
    table_head(&mut md, &["case", "size / input"], allocs);
    for row in rows {
        let cells: String = allocs
            .iter()
            .map(|a| match r.intervals.get(&(key(row), a.to_string())) {
                Some((lo, hi)) => format!(" {} – {} |", fmt_ns(*lo), fmt_ns(*hi)),
                None => " – |".into(),
            })
            .collect();
        let _ = writeln!(md, "| {} | {} |{cells}", md_text(&row.0), md_text(&row.1));
    }
    md.push_str("\n</details>\n\n");
    md
}

/// The scale of a callgrind bench, when it differs from its criterion twin's:
/// the `//! Scale:` line of `benches/<bench>_callgrind.rs`, as the bench
/// itself states it.
fn callgrind_scale_note(bench: &str) -> Option<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches")
        .join(format!("{bench}_callgrind.rs"));
    let text = std::fs::read_to_string(src).ok()?;
    let line = text
        .lines()
        .take_while(|l| l.starts_with("//!") || l.starts_with("//") || l.trim().is_empty())
        .find_map(|l| l.strip_prefix("//! Scale:"))?;
    Some(format!(
        "*Scale of the callgrind counts:* {} Divide by that scale's item count, not the criterion table's.\n\n",
        md_text(line.trim())
    ))
}

/// Chapters live at different depths (`real-world.md` at the top,
/// `recipes/pooling.md` one down); mdBook resolves an included file's links
/// relative to the *including* chapter, so image links are written for the
/// chapter that includes this bench's page.
fn fix_image_paths(md: &str, bench: &str) -> String {
    let prefix = if chapter_depth(bench) == 0 {
        "generated/"
    } else {
        "../generated/"
    };
    md.replace("](generated/", &format!("]({prefix}"))
}

/// How many folders below book/src the chapter including a bench's page sits.
pub fn chapter_depth(bench: &str) -> usize {
    match bench {
        "real_world" => 0,
        _ => 1,
    }
}

/// A group whose variants are allocators (the allocator bench calls each one
/// directly in one process): params down, allocators across, each time with
/// its ratio to the system allocator's.
fn render_allocator_group(
    r: &Results,
    bench: &str,
    group: &str,
    rows: &[(String, String)],
    out_dir: &Path,
    md: &mut String,
) -> Result<usize, String> {
    let mut shown = 0;
    let mut params: Vec<String> = Vec::new();
    let mut allocs: Vec<&str> = Vec::new();
    for (v, p) in rows {
        push_unique(&mut params, p.clone());
        push_unique(
            &mut allocs,
            ALLOCATORS
                .iter()
                .copied()
                .find(|a| a == v)
                .unwrap_or("system"),
        );
    }
    allocs.sort_by_key(|a| ALLOCATORS.iter().position(|x| x == a));
    let time = |variant: &str, param: &str| r.time_any(group, variant, param);
    let _ = writeln!(md, "#### {}\n", md_text(group));
    // A group that only records metrics (peak RSS, ...): one table per
    // metric, cases down, allocators across.
    let metric_names = r
        .metric_names
        .get(&(bench.to_string(), group.to_string()))
        .cloned()
        .unwrap_or_default();
    if !metric_names.is_empty()
        && params
            .iter()
            .all(|p| allocs.iter().all(|a| time(a, p).is_none()))
    {
        for metric in &metric_names {
            let _ = writeln!(md, "*{}*\n", md_text(metric));
            table_head(md, &["case"], &allocs);
            for p in &params {
                let _ = write!(md, "| {} |", md_text(p));
                for a in &allocs {
                    match r.metric_any(group, a, p, metric) {
                        Some(v) => {
                            shown += 1;
                            let _ = write!(md, " {v:.1} |");
                        }
                        None => md.push_str(" – |"),
                    }
                }
                md.push('\n');
            }
            md.push('\n');
        }
        return Ok(shown);
    }
    table_head(md, &["case"], &allocs);
    let mut series: Vec<(String, Vec<Option<f64>>)> =
        allocs.iter().map(|a| (a.to_string(), vec![])).collect();
    for p in &params {
        let base = time("system", p);
        let _ = write!(md, "| {} |", md_text(p));
        for (i, a) in allocs.iter().enumerate() {
            let t = time(a, p);
            let (cell, ratio) = time_cell(t.as_ref(), base.as_ref());
            shown += usize::from(t.is_some());
            series[i].1.push(ratio);
            let _ = write!(md, " {cell} |");
        }
        md.push('\n');
    }
    md.push('\n');
    // A chart of ratios to glibc needs glibc's times (a group of one
    // allocator's cases has none).
    if series.iter().any(|(_, v)| v.iter().any(Option::is_some)) {
        write_chart(md, out_dir, bench, group, "glibc", &params, &series)?;
    }
    Ok(shown)
}

/// The names the allocator bench (`benches/allocator.rs`) gives its groups
/// and cases; the targets table looks its measurements up by them.
mod allocator_cases {
    pub const PAIR: &str = "alloc+free pair";
    pub const BATCH: &str = "batch: N allocations, then N frees";
    pub const PATHS: &str = "Go's paths, one at a time";
    pub const FRESH: &str = "fresh OS memory (4 MiB, every page touched)";
    pub const PRODUCER: &str = "producer/consumer: one thread allocates, another frees";
    pub const LARSON: &str = "larson-like server churn, 2 threads";
    pub const MIXED: &str = "mixed-size batch, one thread";
    pub const SCALING: &str = "long-lived threads: independent mixed-size batches";
    pub const SHARED_LINE: &str = "long-lived threads: 64 B pairs (shared cache line check)";
    pub const ONE_THREAD: &str = "1 thread";
    pub const TWO_THREADS: &str = "2 threads (twice the work)";
    pub const THREAD_LIFE: &str = "short-lived threads: start, 500 allocations, exit";
    pub const LIFE: &str = "one thread's life";
    pub const LIFE_ONE_CPU: &str = "one thread's life, all threads on one CPU";
    pub const MEMORY: &str = "peak resident bytes: the fragmentation chapter's churn workload";
    pub const PEAK_RSS: &str = "peak resident (MiB)";
    /// Batch sizes and object sizes of the batch target, with their callgrind ids' parts.
    pub const BATCH_N: [(&str, &str); 2] = [("1,000", "1000"), ("100,000", "100000")];
    pub const BATCH_SIZES: [(&str, &str); 3] =
        [("16 B", "16b"), ("64 B", "64b"), ("1 KiB", "1kib")];
}

/// One row of the targets table: `value` against `limit`, where
/// `at_most` says which side is good. Returns the verdict cell.
fn target_verdict(value: Option<f64>, limit: f64, at_most: bool) -> String {
    match value {
        None => "not measured".into(),
        Some(v) if (at_most && v <= limit) || (!at_most && v >= limit) => "met".into(),
        Some(v) if at_most => format!("missed by {:.0} %", (v / limit - 1.0) * 100.0),
        Some(v) => format!("missed by {:.0} %", (1.0 - v / limit) * 100.0),
    }
}

/// The worst of several (case, ratio) pairs for an "at most" target, as
/// (measured cell, worst ratio); the detail line lists every case.
fn worst_of(cases: &[(String, f64)], unit: &str) -> (String, Option<f64>, String) {
    let worst = cases
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, v)| (c.clone(), *v));
    let met = cases.iter().filter(|c| c.1 <= 1.0).count();
    let measured = match &worst {
        Some((c, v)) => format!(
            "worst {v:.2}× mimalloc's {unit} ({}); at most mimalloc's in {met} of {} cases",
            md_text(c),
            cases.len()
        ),
        None => "–".into(),
    };
    let detail = cases
        .iter()
        .map(|(c, v)| format!("{} {v:.2}×", md_text(c)))
        .collect::<Vec<_>>()
        .join(", ");
    (measured, worst.map(|w| w.1), detail)
}

/// Issue 12's targets, checked against this run's results: one row per
/// target with the measured ratio and the verdict. The limits are the
/// targets; every measured value comes from the results, and a target
/// whose cases were not measured says so.
fn render_allocator_targets(r: &Results) -> String {
    use allocator_cases::*;
    let t = |group: &str, variant: &str, param: &str| r.time_any(group, variant, param);
    let ratio = |group: &str, param: &str, other: &str| {
        t(group, "goalloc", param)
            .zip(t(group, other, param))
            .map(|(g, o)| g / o)
    };
    let cg = r.callgrind.get("allocator").cloned().unwrap_or_default();
    let per_op = |function: &str, id: &str| {
        cg.iter()
            .find(|row| row.id == id && row.function == function)
            .map(|row| row.instructions / ops_suffix(id).1 as f64)
    };
    let params_of = |group: &str| -> Vec<String> {
        let mut ps = Vec::new();
        for (v, p) in r
            .rows
            .get(&("allocator".to_string(), group.to_string()))
            .into_iter()
            .flatten()
        {
            if v == "goalloc" {
                push_unique(&mut ps, p.clone());
            }
        }
        ps
    };
    let mut md = String::from(
        "#### Issue 12's targets, checked against this run\n\n| target | measured | verdict |\n|---|---|---|\n",
    );
    let mut details: Vec<String> = Vec::new();
    let row = |md: &mut String, target: &str, measured: String, verdict: String| {
        let _ = writeln!(md, "| {target} | {measured} | {verdict} |");
    };

    // 1. Pairs, 8 B to 32 KiB: time at most mimalloc's.
    let pairs: Vec<(String, f64)> = params_of(PAIR)
        .into_iter()
        .filter(|p| size_order(&p.replace(' ', "").to_lowercase()).1 <= 32 << 10)
        .filter_map(|p| ratio(PAIR, &p, "mimalloc").map(|x| (p, x)))
        .collect();
    let (measured, worst, detail) = worst_of(&pairs, "time");
    row(
        &mut md,
        "alloc+free pair, 8 B to 32 KiB: median time at most mimalloc's",
        measured,
        target_verdict(worst, 1.0, true),
    );
    if !pairs.is_empty() {
        details.push(format!(
            "alloc+free pair, GoAlloc's time / mimalloc's: {detail}"
        ));
    }

    // 2. Batches: instructions (callgrind) and time, at most mimalloc's.
    let mut batch_ir = Vec::new();
    let mut batch_time = Vec::new();
    for (n, n_id) in BATCH_N {
        for (size, size_id) in BATCH_SIZES {
            let case = format!("{n} x {size}");
            let id = format!("batch_{size_id}_x{n_id}");
            if let (Some(g), Some(m)) = (per_op("goalloc", &id), per_op("mimalloc", &id)) {
                batch_ir.push((case.clone(), g / m));
            }
            if let Some(x) = ratio(BATCH, &case, "mimalloc") {
                batch_time.push((case, x));
            }
        }
    }
    let (measured, worst, detail) = worst_of(&batch_ir, "instructions");
    row(
        &mut md,
        "batch of N allocations, then N frees (N = 1,000 and 100,000; 16 B, 64 B, 1 KiB): instructions per alloc+free at most mimalloc's (callgrind)",
        measured,
        target_verdict(worst, 1.0, true),
    );
    if !batch_ir.is_empty() {
        details.push(format!(
            "batches, GoAlloc's instructions per alloc+free / mimalloc's: {detail}"
        ));
    }
    let (measured, worst, detail) = worst_of(&batch_time, "time");
    row(
        &mut md,
        "the same batches: median time at most mimalloc's",
        measured,
        target_verdict(worst, 1.0, true),
    );
    if !batch_time.is_empty() {
        details.push(format!("batches, GoAlloc's time / mimalloc's: {detail}"));
    }

    // 3. Throughput workloads: ≥ 1.0× mimalloc's and ≥ 1.5× glibc's.
    for (label, group) in [
        ("larson-like churn", LARSON),
        ("producer/consumer", PRODUCER),
        ("mixed-size batch", MIXED),
    ] {
        let param = params_of(group).into_iter().next().unwrap_or_default();
        // Throughput relative to another allocator: its time over GoAlloc's.
        let vs = |other: &str| ratio(group, &param, other).map(|x| 1.0 / x);
        let (m, s) = (vs("mimalloc"), vs("system"));
        let measured = match (m, s) {
            (Some(m), Some(s)) => format!("{m:.2}× mimalloc's, {s:.2}× glibc's throughput"),
            _ => "–".into(),
        };
        let verdict = match (m, s) {
            (Some(m), Some(s)) if m >= 1.0 && s >= 1.5 => "met".to_string(),
            (Some(m), Some(s)) => [
                (m < 1.0).then(|| format!("vs mimalloc {}", target_verdict(Some(m), 1.0, false))),
                (s < 1.5).then(|| format!("vs glibc {}", target_verdict(Some(s), 1.5, false))),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; "),
            _ => "not measured".into(),
        };
        row(
            &mut md,
            &format!("{label}: throughput at least 1.0× mimalloc's and 1.5× glibc's"),
            measured,
            verdict,
        );
    }

    // 4. Short-lived threads: threads per second at least mimalloc's, with
    // the threads free to run on any CPU and with all of them on one (the
    // bench's `on_one_cpu` says why the two differ on a VM).
    let per_s = |a: &str, case: &str| t(THREAD_LIFE, a, case).map(|ns| 1e9 / ns);
    let life = |case: &str| {
        let (g, m) = (per_s("goalloc", case), per_s("mimalloc", case));
        let cell = match (g, m) {
            (Some(g), Some(m)) => format!(
                "goalloc {} threads/s, mimalloc {} ({:.2}×)",
                fmt_count(g),
                fmt_count(m),
                g / m
            ),
            _ => "–".into(),
        };
        (
            cell,
            target_verdict(g.zip(m).map(|(g, m)| g / m), 1.0, false),
        )
    };
    let ((any_cell, any_verdict), (one_cell, one_verdict)) = (life(LIFE), life(LIFE_ONE_CPU));
    row(
        &mut md,
        "short-lived threads (start, 500 allocations, exit): threads per second at least mimalloc's",
        format!("on any CPU: {any_cell}; all threads on one CPU: {one_cell}"),
        format!("on any CPU {any_verdict}; on one CPU {one_verdict}"),
    );

    // 5. Scaling on long-lived threads: 2-thread/1-thread throughput ratio.
    let scaling = |group: &str, a: &str| {
        t(group, a, ONE_THREAD)
            .zip(t(group, a, TWO_THREADS))
            .map(|(one, two)| 2.0 * one / two)
    };
    let (g, m) = (scaling(SCALING, "goalloc"), scaling(SCALING, "mimalloc"));
    row(
        &mut md,
        "two long-lived threads of independent churn: two-thread/one-thread throughput ratio at least mimalloc's",
        match (g, m) {
            (Some(g), Some(m)) => format!("goalloc {g:.2}×, mimalloc {m:.2}×"),
            _ => "–".into(),
        },
        target_verdict(g.zip(m).map(|(g, m)| g / m), 1.0, false),
    );
    let (g, m) = (
        scaling(SHARED_LINE, "goalloc"),
        scaling(SHARED_LINE, "mimalloc"),
    );
    row(
        &mut md,
        "no shared cache line written on the fast path: two long-lived threads of 64 B pairs scale at least as well as mimalloc's (whose fast path writes only thread-owned lines); a line written by both threads would cost a transfer between cores on every pair",
        match (g, m) {
            (Some(g), Some(m)) => format!("goalloc {g:.2}×, mimalloc {m:.2}× one thread's throughput"),
            _ => "–".into(),
        },
        target_verdict(g.zip(m).map(|(g, m)| g / m), 1.0, false),
    );

    // 6. Memory: peak resident bytes on the churn workload.
    let mem_param = params_of(MEMORY).into_iter().next().unwrap_or_default();
    let rss = |a: &str| r.metric_any(MEMORY, a, &mem_param, PEAK_RSS);
    let (g, m) = (rss("goalloc"), rss("mimalloc"));
    row(
        &mut md,
        "peak resident bytes on the fragmentation chapter's churn workload at most mimalloc's (the same live bytes: the workload is deterministic)",
        match (g, m) {
            (Some(g), Some(m)) => format!("goalloc {g:.1} MiB, mimalloc {m:.1} MiB ({:.2}×)", g / m),
            _ => "–".into(),
        },
        target_verdict(g.zip(m).map(|(g, m)| g / m), 1.0, true),
    );

    // 7. free through the C ABI vs dealloc with a layout (instructions per
    // free; the setup allocated the objects, the measured call only frees).
    let (c, p, d) = (
        per_op("goalloc", "c_abi_free_64b_x100"),
        per_op("goalloc", "free_pointer_only_64b_x100"),
        per_op("goalloc", "free_with_layout_64b_x100"),
    );
    row(
        &mut md,
        "free through the C ABI (pointer only) within 10 % of dealloc with a layout, in instructions per free (64 B, callgrind)",
        match (c, d) {
            (Some(c), Some(d)) => format!(
                "C ABI free {c:.1}, dealloc with a layout {d:.1} ({:.2}×){}",
                c / d,
                p.map_or(String::new(), |p| format!("; GoAlloc::free {p:.1}"))
            ),
            _ => "–".into(),
        },
        target_verdict(c.zip(d).map(|(c, d)| c / d), 1.10, true),
    );

    // 8. Rows GoAlloc won when the issue was filed: still the fastest.
    let won: Vec<(String, f64)> = [
        (PAIR, "32 KiB"),
        (PAIR, "64 KiB"),
        (PAIR, "1 MiB"),
        (PATHS, "central refill (1024 x 1 KiB, then free)"),
        (PATHS, "page heap (64 KiB pair)"),
    ]
    .into_iter()
    .filter_map(|(group, param)| {
        let g = t(group, "goalloc", param)?;
        let best = ["system", "mimalloc", "jemalloc"]
            .iter()
            .filter_map(|a| t(group, a, param))
            .min_by(f64::total_cmp)?;
        Some((param.to_string(), g / best))
    })
    .collect();
    let worst = won.iter().map(|w| w.1).max_by(f64::total_cmp);
    row(
        &mut md,
        "nothing slower where GoAlloc led when the issue was filed (32 KiB, 64 KiB and 1 MiB pairs, central refill, page heap): still the fastest of the four",
        if won.is_empty() {
            "–".into()
        } else {
            format!(
                "GoAlloc's time / the fastest other's: {}",
                won.iter()
                    .map(|(c, v)| format!("{} {v:.2}×", md_text(c)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        target_verdict(worst, 1.0, true),
    );

    // 9. Fresh OS memory: different events per allocator, so no target.
    let (g, m) = (t(PATHS, "goalloc", FRESH), t(PATHS, "mimalloc", FRESH));
    row(
        &mut md,
        "fresh OS memory (4 MiB, every page touched)",
        match (g, m) {
            (Some(g), Some(m)) => format!("goalloc {}, mimalloc {}", fmt_ns(g), fmt_ns(m)),
            _ => "–".into(),
        },
        "no target: GoAlloc runs this row with its scavenger threshold at 0, so each free returns the pages and each allocation faults them in again; the other allocators keep the freed megabytes and reuse them, so the row compares different events".into(),
    );
    md.push('\n');
    if !details.is_empty() {
        md.push_str("Per case, in this run:\n\n");
        for d in details {
            let _ = writeln!(md, "- {d}");
        }
        md.push('\n');
    }
    md
}

/// Sort key for ids such as `pair_1kib_x100`: the text before the first
/// number, then that number as bytes (`b`, `kib`, `mib` units), so cases
/// read from small to large instead of alphabetically.
fn size_order(id: &str) -> (String, u64) {
    let (base, _) = ops_suffix(id);
    let Some(start) = base.find(|c: char| c.is_ascii_digit()) else {
        return (base.to_string(), 0);
    };
    let digits: String = base[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let rest = base[start + digits.len()..].trim_start_matches('_');
    let unit = if rest.starts_with("kib") {
        1 << 10
    } else if rest.starts_with("mib") {
        1 << 20
    } else {
        1
    };
    (
        base[..start].to_string(),
        digits.parse::<u64>().unwrap_or(0).saturating_mul(unit),
    )
}

/// Splits a bench id's `_xN` suffix: `pair_16b_x100` -> (`pair_16b`, 100),
/// the number of operations one measurement ran.
pub fn ops_suffix(id: &str) -> (&str, u64) {
    match id.rsplit_once("_x") {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            (base, n.parse().unwrap_or(1).max(1))
        }
        _ => (id, 1),
    }
}

/// The allocator bench names its callgrind functions after allocators:
/// a pivot (cases down, allocators across, instructions per operation) reads best.
fn render_callgrind_by_allocator(rows: &[CallgrindRow]) -> String {
    let mut md = String::from("#### Instructions per operation (callgrind)\n\n");
    let mut ids: Vec<String> = Vec::new();
    for r in rows {
        push_unique(&mut ids, r.id.clone());
    }
    ids.sort_by_key(|id| size_order(id));
    let functions: Vec<&str> = ALLOCATORS
        .iter()
        .copied()
        .filter(|a| rows.iter().any(|r| r.function == *a))
        .collect();
    table_head(&mut md, &["case", "operations measured"], &functions);
    for id in &ids {
        let (case, ops) = ops_suffix(id);
        let cells: String = functions
            .iter()
            .map(|f| {
                rows.iter()
                    .find(|r| &r.id == id && r.function == *f)
                    .map_or(" – |".to_string(), |r| {
                        format!(" {:.1} |", r.instructions / ops as f64)
                    })
            })
            .collect();
        let _ = writeln!(md, "| {} | {ops} |{cells}", md_text(case));
    }
    md.push_str("\nInstructions per operation: the count callgrind reports for the case, divided by the operations it ran (the \"operations measured\" column).\n\n");
    md
}

fn render_callgrind(rows: &[CallgrindRow]) -> String {
    if rows
        .iter()
        .all(|r| ALLOCATORS.contains(&r.function.as_str()))
    {
        return render_callgrind_by_allocator(rows);
    }
    let mut md = String::from("#### Instructions and cache misses (callgrind)\n\n");
    let allocs: Vec<&str> = ALLOCATORS
        .iter()
        .copied()
        .filter(|a| rows.iter().any(|r| r.allocator == *a))
        .collect();
    let has_misses = rows.iter().any(|r| r.l1_data_misses.is_some());
    let mut keys: Vec<(String, String, String)> = Vec::new();
    for r in rows {
        push_unique(
            &mut keys,
            (r.group.clone(), r.id.clone(), r.function.clone()),
        );
    }
    keys.sort_by(|a, b| {
        (&a.0, size_order(&a.1), &a.1, &a.2).cmp(&(&b.0, size_order(&b.1), &b.1, &b.2))
    });
    // A column that says the same thing on every row says nothing.
    let one_group = keys.iter().all(|k| k.0 == keys[0].0);
    let _ = write!(
        md,
        "|{} input | case |",
        if one_group { "" } else { " group |" }
    );
    for a in &allocs {
        let _ = write!(md, " instructions ({a}) |");
    }
    if has_misses {
        let _ = write!(
            md,
            " L1 data misses ({0}) | LL data misses ({0}) |",
            allocs[0]
        );
    }
    let _ = write!(
        md,
        "\n|{}---|---|{}",
        if one_group { "" } else { "---|" },
        "---:|".repeat(allocs.len())
    );
    if has_misses {
        md.push_str("---:|---:|");
    }
    md.push('\n');
    for (group, id, function) in &keys {
        let find = |a: &str| {
            rows.iter().find(|r| {
                r.allocator == a && &r.group == group && &r.id == id && &r.function == function
            })
        };
        if !one_group {
            let _ = write!(md, "| {} ", md_text(group));
        }
        let _ = write!(md, "| {} | {} |", md_text(id), md_text(function));
        for a in &allocs {
            let _ = write!(
                md,
                " {} |",
                find(a).map_or("–".into(), |r| fmt_count(r.instructions))
            );
        }
        if has_misses {
            let first = find(allocs[0]);
            let f = |v: Option<f64>| v.map_or("–".into(), fmt_count);
            let _ = write!(
                md,
                " {} | {} |",
                f(first.and_then(|r| r.l1_data_misses)),
                f(first.and_then(|r| r.ll_data_misses))
            );
        }
        md.push('\n');
    }
    md.push('\n');
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes criterion 0.8's files for case `variant` of group `g` (param
    /// "1 KiB", allocator system) under `dir`; `median` is the JSON object
    /// of the median's estimate.
    fn write_criterion_case(dir: &std::path::Path, variant: &str, median: &str) {
        let d = dir.join(format!("criterion/g/{variant}/1 KiB/new"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("benchmark.json"),
            format!("{{\"group_id\":\"g [system]\",\"function_id\":\"{variant}\",\"value_str\":\"1 KiB\"}}"),
        )
        .unwrap();
        std::fs::write(d.join("estimates.json"), format!("{{\"median\":{median}}}")).unwrap();
    }

    #[test]
    fn group_ids_split() {
        assert_eq!(
            split_group_id("pool 1 KiB [mimalloc]"),
            Some(("pool 1 KiB", "mimalloc"))
        );
        assert_eq!(split_group_id("no allocator"), None);
        assert_eq!(split_group_id("x [other]"), None);
    }

    #[test]
    fn ids_sort_by_size() {
        let mut ids = vec![
            "pair_1kib_x100",
            "batch_64b_x100",
            "pair_16b_x100",
            "pair_8b_x100",
            "pair_1025b_x100",
        ];
        ids.sort_by_key(|id| size_order(id));
        assert_eq!(
            ids,
            [
                "batch_64b_x100",
                "pair_8b_x100",
                "pair_16b_x100",
                "pair_1kib_x100",
                "pair_1025b_x100"
            ]
        );
    }

    #[test]
    fn ops_suffixes() {
        assert_eq!(ops_suffix("pair_16b_x100"), ("pair_16b", 100));
        assert_eq!(ops_suffix("naive"), ("naive", 1));
        assert_eq!(ops_suffix("max_x"), ("max_x", 1));
    }

    #[test]
    fn number_formats() {
        assert_eq!(fmt_count(1234567.0), "1,234,567");
        assert_eq!(fmt_count(12.0), "12");
        assert_eq!(fmt_ns(1234.5), "1.23 µs");
        assert_eq!(fmt_ns(12.0), "12.0 ns");
        assert_eq!(slug("Pool 1 KiB, two threads"), "pool-1-kib-two-threads");
    }

    #[test]
    fn target_verdicts_say_by_how_much() {
        assert_eq!(target_verdict(Some(0.9), 1.0, true), "met");
        assert_eq!(target_verdict(Some(1.25), 1.0, true), "missed by 25 %");
        assert_eq!(target_verdict(Some(1.2), 1.5, false), "missed by 20 %");
        assert_eq!(target_verdict(Some(2.0), 1.5, false), "met");
        assert_eq!(target_verdict(None, 1.0, true), "not measured");
        let (measured, worst, detail) =
            worst_of(&[("8 B".into(), 0.8), ("16 B".into(), 1.3)], "time");
        assert_eq!(worst, Some(1.3));
        assert!(
            measured.contains("worst 1.30× mimalloc's time (16 B)"),
            "{measured}"
        );
        assert!(measured.contains("1 of 2 cases"), "{measured}");
        assert_eq!(detail, "8 B 0.80×, 16 B 1.30×");
    }

    #[test]
    fn the_allocator_bench_uses_the_names_the_targets_table_looks_up() {
        use allocator_cases::*;
        let bench = include_str!("../../benches/allocator.rs");
        for name in [
            PAIR,
            BATCH,
            PATHS,
            FRESH,
            PRODUCER,
            LARSON,
            MIXED,
            SCALING,
            SHARED_LINE,
            ONE_THREAD,
            TWO_THREADS,
            THREAD_LIFE,
            LIFE,
            LIFE_ONE_CPU,
            MEMORY,
            PEAK_RSS,
        ] {
            assert!(
                bench.contains(&format!("{name:?}")),
                "{name:?} not in benches/allocator.rs"
            );
        }
    }

    #[test]
    fn targets_table_reads_the_allocator_bench() {
        use allocator_cases::*;
        let mut r = Results::default();
        let mut time = |group: &str, variant: &str, param: &str, ns: f64| {
            r.rows
                .entry(("allocator".into(), group.into()))
                .or_default()
                .push((variant.into(), param.into()));
            let key = CaseKey {
                group: group.into(),
                variant: variant.into(),
                param: param.into(),
            };
            r.times.insert((key, "system".into()), ns);
        };
        time(PAIR, "goalloc", "16 B", 6.0);
        time(PAIR, "mimalloc", "16 B", 4.0);
        time(PAIR, "goalloc", "64 KiB", 10.0);
        time(PAIR, "mimalloc", "64 KiB", 1.0);
        time(THREAD_LIFE, "goalloc", LIFE, 50_000.0);
        time(THREAD_LIFE, "mimalloc", LIFE, 40_000.0);
        time(THREAD_LIFE, "goalloc", LIFE_ONE_CPU, 20_000.0);
        time(THREAD_LIFE, "mimalloc", LIFE_ONE_CPU, 25_000.0);
        let md = render_allocator_targets(&r);
        // 16 B is a target case (1.5×); 64 KiB is not (above 32 KiB).
        assert!(md.contains("worst 1.50× mimalloc's time (16 B); at most mimalloc's in 0 of 1 cases | missed by 50 %"), "{md}");
        assert!(
            md.contains("on any CPU: goalloc 20,000 threads/s, mimalloc 25,000 (0.80×); all threads on one CPU: goalloc 50,000 threads/s, mimalloc 40,000 (1.25×) | on any CPU missed by 20 %; on one CPU met"),
            "{md}"
        );
        assert!(md.contains("| – | not measured |"), "{md}");
    }

    #[test]
    fn renders_from_result_files() {
        let dir = std::env::temp_dir().join(format!("cookbook-render-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("allocs")).unwrap();
        std::fs::write(
            dir.join("allocs/demo.jsonl"),
            "{\"bench\":\"demo\",\"group\":\"g\",\"variant\":\"naive\",\"param\":\"1 KiB\",\"allocator\":\"system\",\"allocs_per_op\":2,\"bytes_per_op\":2048}\n\
             {\"bench\":\"demo\",\"group\":\"g\",\"variant\":\"pool\",\"param\":\"1 KiB\",\"allocator\":\"system\",\"allocs_per_op\":0,\"bytes_per_op\":0}\n",
        )
        .unwrap();
        for (variant, ns) in [("naive", 200.0), ("pool", 50.0)] {
            write_criterion_case(&dir, variant, &format!("{{\"point_estimate\":{ns}}}"));
        }
        let r = load(&dir).unwrap();
        let out = dir.join("out");
        std::fs::create_dir_all(&out).unwrap();
        assert_eq!(render_bench(&r, "demo", &out).unwrap(), 2);
        let md = std::fs::read_to_string(out.join("demo.md")).unwrap();
        assert!(
            md.contains("| naive | 1 KiB | 2 | 2,048 | 200.0 ns (1.00×) |"),
            "{md}"
        );
        assert!(
            md.contains("| pool | 1 KiB | 0 | 0 | 50.0 ns (0.25×) |"),
            "{md}"
        );
        assert!(md.contains("](../generated/demo-g.svg)"), "{md}");
        // The chart links to its table's anchor.
        assert!(md.contains("<span id=\"numbers-demo-g\">"), "{md}");
        assert!(md.contains("href=\"#numbers-demo-g\""), "{md}");
        assert!(out.join("demo-g.svg").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn marks_cases_whose_intervals_overlap_the_baselines_as_level() {
        let dir = std::env::temp_dir().join(format!("cookbook-ci-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("allocs")).unwrap();
        let mut allocs = String::new();
        // (variant, median, low, high): "close" overlaps the baseline, "fast" does not.
        let cases = [
            ("naive", 100.0, 90.0, 110.0),
            ("close", 95.0, 85.0, 105.0),
            ("fast", 50.0, 45.0, 55.0),
        ];
        for (variant, ns, lo, hi) in cases {
            allocs.push_str(&format!("{{\"bench\":\"demo\",\"group\":\"g\",\"variant\":\"{variant}\",\"param\":\"1 KiB\",\"allocator\":\"system\",\"allocs_per_op\":1,\"bytes_per_op\":1}}\n"));
            write_criterion_case(
                &dir,
                variant,
                &format!("{{\"point_estimate\":{ns},\"confidence_interval\":{{\"confidence_level\":0.95,\"lower_bound\":{lo},\"upper_bound\":{hi}}}}}"),
            );
        }
        std::fs::write(dir.join("allocs/demo.jsonl"), allocs).unwrap();
        let r = load(&dir).unwrap();
        let out = dir.join("out");
        std::fs::create_dir_all(&out).unwrap();
        render_bench(&r, "demo", &out).unwrap();
        let md = std::fs::read_to_string(out.join("demo.md")).unwrap();
        assert!(md.contains("| 95.0 ns (0.95×) ≈ |"), "{md}");
        assert!(md.contains("| 50.0 ns (0.50×) |"), "{md}");
        assert!(md.contains("| 100.0 ns (1.00×) |"), "{md}");
        assert!(md.contains(LEVEL_NOTE), "{md}");
        assert!(md.contains("| fast | 1 KiB | 45.0 ns – 55.0 ns |"), "{md}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn callgrind_scale_comes_from_the_bench_file() {
        let note = callgrind_scale_note("tiny").expect("tiny_callgrind.rs states its scale");
        assert!(note.contains("a tenth"), "{note}");
        assert_eq!(callgrind_scale_note("no_such_bench"), None);
    }
}
