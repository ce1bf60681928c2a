//! The book's number check: no measured-looking number typed into prose.
//!
//! The book's rule is that every figure comes from a bench through
//! `book/src/generated/`. This check keeps it: it reads every chapter under
//! `book/src/` (not `generated/` itself), takes each number written with a
//! unit in prose (times such as `10.8 ns`, ratios such as `2.6x` or `1.92×`,
//! percentages, byte sizes, instruction counts), and looks it up in the
//! generated files. A number found nowhere there is reported with its file,
//! line and the text around it.
//!
//! What it does not look at: fenced code blocks, inline code, link targets,
//! `{{#include}}` lines, blockquotes (lines starting with `>`, the marked
//! quotation of a figure from elsewhere, which must say whose it is), and
//! anything between `<!-- quote -->` and `<!-- /quote -->`. Numbers spelt in
//! words are not checked. Design constants that no bench measures (a page is
//! 8 KiB, the fragmentation workload draws 60 % of its sizes below 256 B) are
//! listed with their reason in `book/numbers-allowed.txt`.
//!
//! The fact a reader gets wrong: the check is deliberately loose on sizes
//! and counts (a size or count is accepted when the bare number appears in a
//! generated table, whose column head carries the unit) and strict on times,
//! ratios and percentages, which must appear with the same unit.

use std::path::{Path, PathBuf};

/// What a unit measures; numbers are only compared within one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Nanoseconds (`ns`, `µs`, `ms`, `s` are scaled to it).
    Time,
    /// `×` or `x` after a number.
    Ratio,
    /// `%` or `percent`.
    Percent,
    /// Bytes (`B`, `KiB`, `MiB`, `GiB`, `KB`, `MB`, `GB` are scaled to it).
    Bytes,
    /// A count with a noun (`instructions`, `allocations`, ...).
    Count,
    /// A number with no unit (only found in generated files).
    Bare,
}

/// One number with its unit, as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub kind: Kind,
    /// The number as written (`2,750,034`), without its unit.
    pub number: String,
    /// The value in the kind's base unit (ns, bytes, ...).
    pub value: f64,
    /// The number as a plain value, before scaling by the unit.
    pub plain: f64,
    /// The text as written, number and unit (`10.8 ns`).
    pub text: String,
}

/// A number in prose that no generated file holds.
#[derive(Debug, Clone)]
pub struct Finding {
    pub file: PathBuf,
    pub line: usize,
    pub text: String,
    pub context: String,
}

fn unit(word: &str) -> Option<(Kind, f64)> {
    Some(match word {
        "ns" => (Kind::Time, 1.0),
        "µs" | "us" | "μs" => (Kind::Time, 1e3),
        "ms" => (Kind::Time, 1e6),
        "s" | "seconds" | "second" => (Kind::Time, 1e9),
        "×" | "x" => (Kind::Ratio, 1.0),
        "%" | "percent" => (Kind::Percent, 1.0),
        "B" | "bytes" | "byte" => (Kind::Bytes, 1.0),
        "KiB" | "KB" | "kB" => (Kind::Bytes, 1024.0),
        "MiB" | "MB" => (Kind::Bytes, 1024.0 * 1024.0),
        "GiB" | "GB" => (Kind::Bytes, 1024.0 * 1024.0 * 1024.0),
        "instructions" | "instruction" | "allocations" | "allocation" | "misses" | "cycles" => {
            (Kind::Count, 1.0)
        }
        _ => return None,
    })
}

/// Every number in `text`, with its unit if one follows (a space or none
/// between). In a range (`2-17 %`, `0.81 to 0.98×`) the unit applies to both ends.
pub fn figures(text: &str) -> Vec<Figure> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut pending: Vec<(String, f64)> = Vec::new(); // range starts waiting for a unit
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let starts_number = c.is_ascii_digit()
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'));
        if !starts_number {
            if !c.is_whitespace() {
                pending.clear();
            }
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_digit()
                || ((chars[i] == ',' || chars[i] == '.')
                    && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())))
        {
            i += 1;
        }
        let number: String = chars[start..i].iter().collect();
        // A number glued to letters or `_` (`x86_64`, `v2`, `0x1f`) is a name.
        if chars
            .get(i)
            .is_some_and(|c| c.is_ascii_alphabetic() && *c != 'x' && *c != 'B')
            && !chars
                .get(i..i + 2)
                .is_some_and(|s| s == ['n', 's'] || s == ['m', 's'] || s == ['u', 's'])
        {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            pending.clear();
            continue;
        }
        let Ok(plain) = number.replace(',', "").parse::<f64>() else {
            continue;
        };
        // The unit: after at most one space (or a no-break/thin space).
        let mut j = i;
        if chars
            .get(j)
            .is_some_and(|c| *c == ' ' || *c == '\u{a0}' || *c == '\u{202f}')
        {
            j += 1;
        }
        let word_end = {
            let mut k = j;
            if chars.get(k).is_some_and(|c| *c == '×' || *c == '%') {
                k += 1;
            } else {
                while k < chars.len() && (chars[k].is_alphabetic() || chars[k] == 'µ') {
                    k += 1;
                }
            }
            k
        };
        let word: String = chars[j..word_end].iter().collect();
        // `x` counts as a ratio only when glued to the number (`2.6x`), not
        // in "16 x 1 KiB".
        let u = unit(&word).filter(|(k, _)| !(word == "x" && j != i) || *k != Kind::Ratio);
        let followed_by_letter = chars.get(word_end).is_some_and(|c| c.is_alphanumeric());
        match u {
            Some((kind, scale)) if !(word.len() <= 2 && followed_by_letter) => {
                for (n, p) in pending.drain(..) {
                    out.push(Figure {
                        kind,
                        text: format!("{n} {word}"),
                        number: n,
                        value: p * scale,
                        plain: p,
                    });
                }
                out.push(Figure {
                    kind,
                    text: chars[start..word_end].iter().collect(),
                    number,
                    value: plain * scale,
                    plain,
                });
                i = word_end;
            }
            _ => {
                out.push(Figure {
                    kind: Kind::Bare,
                    text: number.clone(),
                    number: number.clone(),
                    value: plain,
                    plain,
                });
                // A range: `2-17 %`, `2 to 17 %`, `0.81–0.98`.
                let rest: String = chars[i..chars.len().min(i + 4)].iter().collect();
                if rest.starts_with('-') || rest.starts_with('–') || rest.starts_with(" to ") {
                    pending.push((number, plain));
                    i += if rest.starts_with(" to ") { 4 } else { 1 };
                } else {
                    pending.clear();
                }
            }
        }
    }
    out
}

/// The prose of a chapter, line by line, with what the check skips blanked
/// out (code, includes, quotations, link targets, HTML comments).
pub fn prose_lines(md: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fence: Option<String> = None;
    let mut quote = false;
    for (n, line) in md.lines().enumerate() {
        let t = line.trim_start();
        if let Some(f) = &fence {
            if t.starts_with(f.as_str()) {
                fence = None;
            }
            continue;
        }
        if t.starts_with("```") || t.starts_with("~~~") {
            fence = Some(t[..3].to_string());
            continue;
        }
        if t.starts_with("<!-- quote -->") {
            quote = true;
            continue;
        }
        if t.starts_with("<!-- /quote -->") {
            quote = false;
            continue;
        }
        if quote || t.starts_with('>') || t.starts_with("{{#") {
            continue;
        }
        out.push((n + 1, strip_code_and_links(line)));
    }
    out
}

fn strip_code_and_links(line: &str) -> String {
    let mut s = String::with_capacity(line.len());
    let mut rest = line;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('`') {
            match r.find('`') {
                Some(end) => {
                    s.push_str(" code ");
                    rest = &r[end + 1..];
                }
                None => rest = "",
            }
        } else if let Some(r) = rest.strip_prefix("](") {
            s.push(']');
            rest = r.find(')').map_or("", |end| &r[end + 1..]);
        } else if let Some(r) = rest.strip_prefix("<!--") {
            rest = r.find("-->").map_or("", |end| &r[end + 3..]);
        } else if rest.starts_with("http://") || rest.starts_with("https://") {
            rest = rest
                .find(|c: char| c.is_whitespace() || c == ')')
                .map_or("", |end| &rest[end..]);
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            s.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    s
}

/// The numbers the generated files hold, and the allowed design constants.
#[derive(Debug, Default)]
pub struct Known {
    figures: Vec<Figure>,
    allowed: Vec<String>,
}

impl Known {
    /// Reads every `.md` under `generated` and the allowed list (one
    /// `number unit | reason` per line, `#` for comments).
    pub fn load(generated: &Path, allowed_list: &Path) -> Known {
        let mut k = Known::default();
        let mut files: Vec<PathBuf> = std::fs::read_dir(generated)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        for f in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "md"))
        {
            if let Ok(text) = std::fs::read_to_string(f) {
                k.add_generated(&text);
            }
        }
        if let Ok(text) = std::fs::read_to_string(allowed_list) {
            for line in text.lines() {
                let entry = line.split('|').next().unwrap_or("").trim();
                if !entry.is_empty() && !entry.starts_with('#') {
                    k.allowed.push(entry.to_string());
                }
            }
        }
        k
    }

    /// Adds the numbers of one generated file.
    pub fn add_generated(&mut self, text: &str) {
        self.figures.extend(figures(text));
    }

    /// Adds one allowed constant, as written (`8 KiB`).
    #[cfg(test)]
    pub fn allow(&mut self, entry: &str) {
        self.allowed.push(entry.to_string());
    }

    /// Whether a figure from prose is backed by a generated file or allowed.
    pub fn holds(&self, f: &Figure) -> bool {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
        if self
            .allowed
            .iter()
            .flat_map(|a| figures(a))
            .any(|a| a.kind == f.kind && close(a.value, f.value))
        {
            return true;
        }
        self.figures.iter().any(|g| match f.kind {
            // Sizes and counts: table cells carry the unit in the column head.
            Kind::Bytes | Kind::Count => {
                (g.kind == f.kind && close(g.value, f.value))
                    || (g.kind == Kind::Bare && close(g.plain, f.plain))
            }
            _ => g.kind == f.kind && close(g.value, f.value),
        })
    }
}

/// Checks every chapter under `src` (skipping `src/generated`).
pub fn check_book(src: &Path, known: &Known) -> Vec<Finding> {
    let mut chapters = Vec::new();
    collect_md(src, &src.join("generated"), &mut chapters);
    chapters.sort();
    let mut out = Vec::new();
    for ch in chapters {
        let Ok(text) = std::fs::read_to_string(&ch) else {
            continue;
        };
        out.extend(
            check_text(&text, known)
                .into_iter()
                .map(|(line, f, context)| Finding {
                    file: ch.strip_prefix(src).unwrap_or(&ch).to_path_buf(),
                    line,
                    text: f.text,
                    context,
                }),
        );
    }
    out
}

/// The unbacked figures of one chapter: (line, figure, the text around it).
pub fn check_text(md: &str, known: &Known) -> Vec<(usize, Figure, String)> {
    let mut out: Vec<(usize, Figure, String)> = Vec::new();
    for (n, line) in prose_lines(md) {
        for f in figures(&line) {
            if f.kind == Kind::Bare
                || known.holds(&f)
                || out.iter().any(|(l, g, _)| *l == n && g.text == f.text)
            {
                continue;
            }
            let at = line.find(&f.number).unwrap_or(0);
            let lo = line[..at]
                .char_indices()
                .rev()
                .nth(30)
                .map_or(0, |(i, _)| i);
            let hi = line[at..]
                .char_indices()
                .nth(40)
                .map_or(line.len(), |(i, _)| at + i);
            out.push((n, f, line[lo..hi].trim().to_string()));
        }
    }
    out
}

fn collect_md(dir: &Path, skip: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p == skip {
            continue;
        }
        if p.is_dir() {
            collect_md(&p, skip, out);
        } else if p.extension().is_some_and(|x| x == "md") {
            out.push(p);
        }
    }
}

/// The report printed when the check fails.
pub fn report(findings: &[Finding]) -> String {
    let mut s = format!(
        "{} number(s) in the book's prose are in no generated file (book/src/generated/):\n",
        findings.len()
    );
    for f in findings {
        s.push_str(&format!(
            "  book/src/{}:{}: \"{}\" in \"…{}…\"\n",
            f.file.display(),
            f.line,
            f.text,
            f.context
        ));
    }
    s.push_str(
        "Point at the generated table instead, have the generator write the sentence, \
         put a figure quoted from elsewhere in a blockquote (`> ...`, saying whose it is), \
         or, for a design constant no bench measures, add it with its reason to book/numbers-allowed.txt.\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<(Kind, String)> {
        figures(s)
            .into_iter()
            .filter(|f| f.kind != Kind::Bare)
            .map(|f| (f.kind, f.text))
            .collect()
    }

    #[test]
    fn finds_numbers_with_units() {
        assert_eq!(
            texts("at 32 KiB it is 10.8 vs 5.8 ns and 2,750,034 instructions, 1.92× or 2.6x"),
            vec![
                (Kind::Bytes, "32 KiB".to_string()),
                (Kind::Time, "5.8 ns".to_string()),
                (Kind::Count, "2,750,034 instructions".to_string()),
                (Kind::Ratio, "1.92×".to_string()),
                (Kind::Ratio, "2.6x".to_string()),
            ]
        );
        // Ranges carry the unit to both ends.
        assert_eq!(
            texts("gained 2-17 % and 0.81 to 0.98×"),
            vec![
                (Kind::Percent, "2 %".to_string()),
                (Kind::Percent, "17 %".to_string()),
                (Kind::Ratio, "0.81 ×".to_string()),
                (Kind::Ratio, "0.98×".to_string()),
            ]
        );
        // Names and spaced "x" are not figures.
        assert!(texts("x86_64, v2, 256 x 1 KiB, 0x1f")
            .iter()
            .all(|(_, t)| t == "1 KiB"));
    }

    #[test]
    fn skips_code_quotes_and_includes() {
        let md = "a `10 ns` b\n```\n5 ns\n```\n> Go's 5-10 ns (quoted)\n{{#include x.md}}\n<!-- quote -->\n7 ns\n<!-- /quote -->\n[x](a-3ms.md) 9 ns\n";
        let known = Known::default();
        let found: Vec<String> = check_text(md, &known)
            .into_iter()
            .map(|(l, f, _)| format!("{l}:{}", f.text))
            .collect();
        assert_eq!(found, vec!["10:9 ns"]);
    }

    #[test]
    fn looks_numbers_up_in_generated_text() {
        let mut k = Known::default();
        k.add_generated(
            "| 32 KiB | 31.8 ns (1.00×) | 10.8 ns (0.34×) |\n| x | 2,750,034 |\n| 12.50% |",
        );
        k.allow("8 KiB");
        let prose = "10.8 ns at 32 KiB, 0.34×, 2,750,034 instructions, 12.5 %, 8 KiB pages; but 11 ns, 0.5×, 13 %";
        let bad: Vec<String> = check_text(prose, &k)
            .into_iter()
            .map(|(_, f, _)| f.text)
            .collect();
        assert_eq!(bad, vec!["11 ns", "0.5×", "13 %"]);
        // A time is compared as a time: 10.8 ns is not 10.8 µs.
        assert_eq!(check_text("10.8 µs", &k).len(), 1);
    }
}
